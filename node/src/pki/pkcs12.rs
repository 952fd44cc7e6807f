//! PKCS#12 (.p12/.pfx) both ways: reading an uploaded file's keys and
//! certificates, and writing a key with its chain for download (PBES2
//! AES-256-CBC, HMAC-SHA-256 MAC: what OpenSSL 3 writes by default).

use aws_lc_rs::digest::{digest, SHA256};
use p12_keystore::error::Error as P12Error;
use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12Archive, PrivateKeyChain};
use pkcs8::der::asn1::{AnyRef, UintRef};
use pkcs8::der::{Decode, SliceReader, Tag, Tagged};
use pkcs8::ObjectIdentifier;

use super::cert_facts::parse_certificate;
use super::error::PkiError;
use super::name::common_name;
use super::private_key::PrivateKey;

const WHAT: &str = "the PKCS#12 file";
const OID_PKCS7_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_PKCS7_SIGNED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");

/// Whether `bytes` have the outer shape of a PKCS#12 PFX:
/// `SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data | signedData, … } … }`.
pub(crate) fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    let shape = || -> Option<bool> {
        let outer = AnyRef::from_der(bytes).ok()?;
        if outer.tag() != Tag::Sequence {
            return None;
        }
        let mut reader = SliceReader::new(outer.value()).ok()?;
        let version = UintRef::decode(&mut reader).ok()?;
        let content = AnyRef::decode(&mut reader).ok()?;
        let mut inner = SliceReader::new(content.value()).ok()?;
        let content_type = ObjectIdentifier::decode(&mut inner).ok()?;
        Some(
            version.as_bytes() == [3]
                && (content_type == OID_PKCS7_DATA || content_type == OID_PKCS7_SIGNED_DATA),
        )
    };
    shape().unwrap_or(false)
}

/// The certificates (DER, file order) and keys of a PKCS#12 file. Without
/// a password an empty one is tried, then [`PkiError::PasswordRequired`].
pub(crate) fn read(
    bytes: &[u8],
    password: Option<&str>,
) -> Result<(Vec<Vec<u8>>, Vec<PrivateKey>), PkiError> {
    let archive = match Pkcs12Archive::from_pkcs12(bytes, password.unwrap_or("")) {
        Ok(archive) => archive,
        Err(e) if is_wrong_password(&e) => {
            return Err(match password {
                None => PkiError::PasswordRequired { what: WHAT },
                Some(_) => PkiError::WrongPassword { what: WHAT },
            })
        }
        Err(P12Error::UnsupportedEncryptionScheme) => {
            return Err(PkiError::UnsupportedEncryption {
                what: WHAT,
                algorithm: "an unsupported encryption or MAC scheme".into(),
            })
        }
        Err(e) => {
            return Err(PkiError::InvalidPkcs12 {
                reason: e.to_string(),
            })
        }
    };
    let certs = archive
        .certs
        .iter()
        .map(|bag| bag.cert.as_der().to_vec())
        .collect();
    let keys = archive
        .keys
        .iter()
        .map(|bag| PrivateKey::from_pkcs8_der(bag.key.as_der()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((certs, keys))
}

fn is_wrong_password(e: &P12Error) -> bool {
    matches!(
        e,
        P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_)
    )
}

/// A PKCS#12 file holding `key`, its certificate and the chain (issuer
/// first), encrypted with `password`. `openssl pkcs12` reads it.
pub fn pkcs12(
    key: &PrivateKey,
    cert_der: &[u8],
    chain: &[Vec<u8>],
    password: &str,
) -> Result<Vec<u8>, PkiError> {
    let leaf = parse_certificate(cert_der, "the certificate")?;
    if leaf.public_key().raw != key.spki_der().as_slice() {
        return Err(PkiError::KeyMatchesNoCertificate {
            key_type: key.key_type(),
            spki_sha256: key.spki_sha256(),
        });
    }
    let alias = common_name(leaf.subject()).unwrap_or_else(|| "certificate".into());
    let write_error = |e: P12Error| PkiError::Pkcs12Write {
        reason: e.to_string(),
    };
    let mut certs = Vec::with_capacity(chain.len() + 1);
    for (i, der) in std::iter::once(cert_der)
        .chain(chain.iter().map(Vec::as_slice))
        .enumerate()
    {
        parse_certificate(der, &format!("chain certificate #{i}"))?;
        certs.push(p12_keystore::Certificate::from_der(der).map_err(write_error)?);
    }
    let p12_key = p12_keystore::PrivateKey::from_der(key.pkcs8_der()).map_err(write_error)?;
    let local_key_id = digest(&SHA256, cert_der).as_ref()[..20].to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        &alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, p12_key, certs)),
    );
    store.writer(password).write().map_err(write_error)
}

#[cfg(test)]
mod tests;
