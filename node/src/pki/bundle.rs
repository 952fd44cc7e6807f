//! Reading an uploaded bundle in whatever form people have: PEM text with
//! any mix of certificates and keys, a DER certificate, a DER private key
//! (PKCS#8 plain or encrypted, PKCS#1, SEC1), or a PKCS#12 file.

use std::fmt;

use pkcs8::pkcs5;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};

use super::cert_facts::parse_certificate;
use super::error::PkiError;
use super::pem_block::{looks_like_pem, split, PemBlock};
use super::pkcs12::{self, looks_like_pkcs12};
use super::private_key::{is_pkcs1, is_sec1, PrivateKey};

/// Largest upload accepted: a real bundle is a few kilobytes.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;

const ENCRYPTED_KEY: &str = "the encrypted private key";

/// The certificates and keys of an upload. `Debug` shows counts and key
/// fingerprints only.
#[derive(Clone, Default)]
pub struct Bundle {
    /// DER certificates in input order; each parses as X.509.
    pub certs: Vec<Vec<u8>>,
    /// Private keys in input order (encrypted ones already opened).
    pub keys: Vec<PrivateKey>,
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("certs", &self.certs.len())
            .field("keys", &self.keys)
            .finish()
    }
}

/// Detects the format of `bytes` and reads every certificate and key;
/// `password` opens encrypted PKCS#8 keys and PKCS#12 files.
pub fn read_bundle(bytes: &[u8], password: Option<&str>) -> Result<Bundle, PkiError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(PkiError::TooLarge {
            size: bytes.len(),
            limit: MAX_BUNDLE_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PkiError::Empty);
    }
    let bundle = if looks_like_pem(bytes) {
        from_pem(&String::from_utf8_lossy(bytes), password)?
    } else {
        from_der(bytes, password)?
    };
    if bundle.certs.is_empty() && bundle.keys.is_empty() {
        return Err(PkiError::Empty);
    }
    Ok(bundle)
}

fn from_pem(text: &str, password: Option<&str>) -> Result<Bundle, PkiError> {
    let mut bundle = Bundle::default();
    for block in split(text)? {
        let PemBlock {
            index,
            label,
            legacy_encrypted,
            contents,
        } = &block;
        if *legacy_encrypted {
            return Err(PkiError::LegacyEncryptedKey {
                block: *index,
                label: label.clone(),
            });
        }
        match label.as_str() {
            "CERTIFICATE" => {
                let what = format!("PEM block #{index} (CERTIFICATE)");
                parse_certificate(contents, &what)?;
                bundle.certs.push(contents.to_vec());
            }
            "PRIVATE KEY" => bundle.keys.push(PrivateKey::from_pkcs8_der(contents)?),
            "RSA PRIVATE KEY" => bundle.keys.push(PrivateKey::from_pkcs1_der(contents)?),
            "EC PRIVATE KEY" => bundle.keys.push(PrivateKey::from_sec1_der(contents)?),
            "ENCRYPTED PRIVATE KEY" => bundle.keys.push(decrypt_pkcs8(contents, password)?),
            "EC PARAMETERS" => {}
            _ => {
                return Err(PkiError::UnsupportedPemLabel {
                    block: *index,
                    label: label.clone(),
                })
            }
        }
    }
    Ok(bundle)
}

fn from_der(bytes: &[u8], password: Option<&str>) -> Result<Bundle, PkiError> {
    if bytes.first() != Some(&0x30) {
        return Err(PkiError::Unrecognized);
    }
    if parse_certificate(bytes, "the DER certificate").is_ok() {
        return Ok(Bundle {
            certs: vec![bytes.to_vec()],
            keys: Vec::new(),
        });
    }
    if PrivateKeyInfoRef::try_from(bytes).is_ok() {
        return Ok(Bundle {
            certs: Vec::new(),
            keys: vec![PrivateKey::from_pkcs8_der(bytes)?],
        });
    }
    if EncryptedPrivateKeyInfoRef::try_from(bytes).is_ok() {
        return Ok(Bundle {
            certs: Vec::new(),
            keys: vec![decrypt_pkcs8(bytes, password)?],
        });
    }
    if is_pkcs1(bytes) {
        return Ok(Bundle {
            certs: Vec::new(),
            keys: vec![PrivateKey::from_pkcs1_der(bytes)?],
        });
    }
    if is_sec1(bytes) {
        return Ok(Bundle {
            certs: Vec::new(),
            keys: vec![PrivateKey::from_sec1_der(bytes)?],
        });
    }
    if looks_like_pkcs12(bytes) {
        let (certs, keys) = pkcs12::read(bytes, password)?;
        for (i, der) in certs.iter().enumerate() {
            parse_certificate(der, &format!("certificate #{} in the PKCS#12 file", i + 1))?;
        }
        return Ok(Bundle { certs, keys });
    }
    Err(PkiError::Unrecognized)
}

/// Most PBKDF2 iterations an uploaded key may ask for (OpenSSL writes 2048,
/// current tools up to ~600 000).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most memory an uploaded key's scrypt parameters may ask for.
const MAX_SCRYPT_BYTES: u64 = 256 << 20;

/// The key derivation parameters come from the uploaded file: refuse ones
/// that would take minutes of CPU or gigabytes of memory before decrypting.
fn check_kdf_cost(scheme: &pkcs5::EncryptionScheme) -> Result<(), PkiError> {
    let Some(params) = scheme.pbes2() else {
        return Ok(());
    };
    let too_costly = |detail: String| PkiError::UnsupportedEncryption {
        what: ENCRYPTED_KEY,
        algorithm: format!("key derivation asking for {detail}, beyond this service's limit"),
    };
    match &params.kdf {
        pkcs5::pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => Err(
            too_costly(format!("{} PBKDF2 iterations", p.iteration_count)),
        ),
        pkcs5::pbes2::Kdf::Scrypt(p) => {
            let bytes = 128u64
                .saturating_mul(p.cost_parameter)
                .saturating_mul(u64::from(p.block_size))
                .saturating_mul(u64::from(p.parallelization.max(1)));
            if bytes > MAX_SCRYPT_BYTES {
                Err(too_costly(format!("{} MiB of scrypt memory", bytes >> 20)))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Opens a PKCS#8 EncryptedPrivateKeyInfo (PBES2).
fn decrypt_pkcs8(der: &[u8], password: Option<&str>) -> Result<PrivateKey, PkiError> {
    let info = EncryptedPrivateKeyInfoRef::try_from(der).map_err(|e| PkiError::InvalidKey {
        what: ENCRYPTED_KEY.into(),
        reason: format!("it does not parse ({e})"),
    })?;
    let Some(password) = password else {
        return Err(PkiError::PasswordRequired {
            what: "the private key",
        });
    };
    check_kdf_cost(&info.encryption_algorithm)?;
    match info.decrypt(password) {
        Ok(plain) => PrivateKey::from_pkcs8_der(plain.as_bytes()),
        Err(pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::UnsupportedAlgorithm { oid }
            | pkcs5::Error::AlgorithmParametersInvalid { oid },
        )) => Err(PkiError::UnsupportedEncryption {
            what: ENCRYPTED_KEY,
            algorithm: format!("algorithm {oid}"),
        }),
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::NoPbes1CryptSupport)) => {
            Err(PkiError::UnsupportedEncryption {
                what: ENCRYPTED_KEY,
                algorithm: "legacy PKCS#5 v1 (PBES1)".into(),
            })
        }
        Err(_) => Err(PkiError::WrongPassword {
            what: ENCRYPTED_KEY,
        }),
    }
}

#[cfg(test)]
mod tests;
