//! A private key the service can sign with: RSA of at least 2048 bits or
//! ECDSA P-256/P-384, held as PKCS#8 DER that is wiped when dropped.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING,
};
use pkcs8::der::asn1::{AnyRef, OctetStringRef, UintRef};
use pkcs8::der::{Decode, Reader, SliceReader, Tag, Tagged};
use pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use rcgen::{KeyPair, RsaKeySize, SignatureAlgorithm};
use rustls::pki_types::PrivatePkcs8KeyDer;
use zeroize::Zeroizing;

use crate::domain::KeySpec;

use super::error::PkiError;
use super::spki::{rsa_bits, sha256_hex};

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
const OID_DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");

/// Largest RSA modulus the crypto library signs with.
const MAX_RSA_BITS: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    Rsa { bits: usize },
    EcdsaP256,
    EcdsaP384,
}

/// A private key (PKCS#8 DER, zeroized on drop). `Debug` shows only the key
/// type and the public key's SHA-256.
#[derive(Clone)]
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    algorithm: Algorithm,
    spki: Vec<u8>,
}

impl PrivateKey {
    /// Generates a new key. Blocking: RSA 4096 can take a second or more.
    pub fn generate(spec: KeySpec) -> Result<Self, PkiError> {
        let generated = match spec {
            KeySpec::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)
            }
            KeySpec::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072)
            }
            KeySpec::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096)
            }
            KeySpec::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeySpec::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        };
        let pair = Zeroizing::new(generated.map_err(|_| PkiError::KeyGeneration { spec })?);
        Self::from_pkcs8_der(pair.serialized_der()).map_err(|_| PkiError::KeyGeneration { spec })
    }

    /// Loads an unencrypted PKCS#8 key (`PRIVATE KEY`). RSA below 2048 bits
    /// is [`PkiError::WeakKey`]; anything but RSA or ECDSA P-256/P-384 is
    /// [`PkiError::UnsupportedKey`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let info = PrivateKeyInfoRef::try_from(der)
            .map_err(|e| invalid("the PKCS#8 data", format!("it does not parse ({e})")))?;
        let oid = info.algorithm.oid;
        if oid == OID_RSA {
            let bits = rsa_private_key_bits(info.private_key.as_bytes()).ok_or_else(|| {
                invalid(
                    "the PKCS#8 RSA key",
                    "its RSAPrivateKey does not parse".into(),
                )
            })?;
            check_rsa_bits(bits)?;
            let pair = RsaKeyPair::from_pkcs8(der)
                .map_err(|e| invalid("the PKCS#8 RSA key", format!("it was rejected ({e})")))?;
            let spki = pair.public_key().as_der().map_err(|_| {
                invalid(
                    "the PKCS#8 RSA key",
                    "its public key cannot be encoded".into(),
                )
            })?;
            return Ok(Self {
                pkcs8: Zeroizing::new(der.to_vec()),
                algorithm: Algorithm::Rsa { bits },
                spki: spki.as_ref().to_vec(),
            });
        }
        if oid == OID_EC {
            let curve = info.algorithm.parameters_oid().ok();
            let (algorithm, signing) = ec_algorithm(curve)?;
            let pair = EcdsaKeyPair::from_pkcs8(signing, der)
                .map_err(|e| invalid("the PKCS#8 EC key", format!("it was rejected ({e})")))?;
            let spki = pair.public_key().as_der().map_err(|_| {
                invalid(
                    "the PKCS#8 EC key",
                    "its public key cannot be encoded".into(),
                )
            })?;
            return Ok(Self {
                pkcs8: Zeroizing::new(der.to_vec()),
                algorithm,
                spki: spki.as_ref().to_vec(),
            });
        }
        Err(PkiError::UnsupportedKey {
            algorithm: algorithm_name(oid),
        })
    }

    /// Loads a PKCS#1 RSA key (`RSA PRIVATE KEY`) and converts it to PKCS#8.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, PkiError> {
        let bits = rsa_private_key_bits(der)
            .ok_or_else(|| invalid("the PKCS#1 data", "it is not an RSAPrivateKey".into()))?;
        check_rsa_bits(bits)?;
        let pair = RsaKeyPair::from_der(der)
            .map_err(|e| invalid("the PKCS#1 RSA key", format!("it was rejected ({e})")))?;
        let pkcs8 = pair.as_der().map_err(|_| {
            invalid(
                "the PKCS#1 RSA key",
                "it cannot be converted to PKCS#8".into(),
            )
        })?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Loads a SEC1 EC key (`EC PRIVATE KEY`) and converts it to PKCS#8.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, PkiError> {
        let candidates: Vec<&'static EcdsaSigningAlgorithm> = match sec1_curve(der) {
            Some(curve) => vec![ec_algorithm(Some(curve))?.1],
            None => vec![
                &ECDSA_P256_SHA256_ASN1_SIGNING,
                &ECDSA_P384_SHA384_ASN1_SIGNING,
            ],
        };
        let pair = candidates
            .into_iter()
            .find_map(|alg| EcdsaKeyPair::from_private_key_der(alg, der).ok())
            .ok_or_else(|| {
                invalid(
                    "the SEC1 EC data",
                    "it is not a P-256 or P-384 ECPrivateKey".into(),
                )
            })?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| invalid("the SEC1 EC key", "it cannot be converted to PKCS#8".into()))?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// The key as PKCS#8 DER. Secret: seal it before storing or sending.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key as PEM (`-----BEGIN PRIVATE KEY-----`), wiped when dropped.
    pub fn to_pem(&self) -> Zeroizing<String> {
        let block = pem::Pem::new("PRIVATE KEY", self.pkcs8.to_vec());
        let text = Zeroizing::new(pem::encode_config(
            &block,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ));
        drop(Zeroizing::new(block.into_contents()));
        text
    }

    /// The key type, e.g. `rsa2048`, `ecdsa-p256`.
    pub fn key_type(&self) -> String {
        match self.algorithm {
            Algorithm::Rsa { bits } => format!("rsa{bits}"),
            Algorithm::EcdsaP256 => "ecdsa-p256".into(),
            Algorithm::EcdsaP384 => "ecdsa-p384".into(),
        }
    }

    /// Whether this is an RSA key (server certificates then also allow
    /// keyEncipherment).
    pub fn is_rsa(&self) -> bool {
        matches!(self.algorithm, Algorithm::Rsa { .. })
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    pub fn spki_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    /// Lower-case hex SHA-256 of [`PrivateKey::spki_der`]; equal for the key,
    /// its CSRs and its certificates.
    pub fn spki_sha256(&self) -> String {
        sha256_hex(&self.spki)
    }

    /// An rcgen key pair for signing: SHA-256 with RSA and P-256, SHA-384
    /// with P-384.
    pub(crate) fn key_pair(&self) -> Result<Zeroizing<KeyPair>, PkiError> {
        let alg: &'static SignatureAlgorithm = match self.algorithm {
            Algorithm::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
            Algorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Algorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        };
        let der = PrivatePkcs8KeyDer::from(self.pkcs8.as_slice());
        KeyPair::from_pkcs8_der_and_sign_algo(&der, alg)
            .map(Zeroizing::new)
            .map_err(|e| PkiError::Signing {
                action: "load the signing key",
                reason: e.to_string(),
            })
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type())
            .field("spki_sha256", &self.spki_sha256())
            .finish()
    }
}

fn invalid(what: &str, reason: String) -> PkiError {
    PkiError::InvalidKey {
        what: what.into(),
        reason,
    }
}

fn check_rsa_bits(bits: usize) -> Result<(), PkiError> {
    if bits < 2048 {
        return Err(PkiError::WeakKey { bits });
    }
    if bits > MAX_RSA_BITS {
        return Err(PkiError::UnsupportedKey {
            algorithm: format!("RSA {bits} bits (more than {MAX_RSA_BITS})"),
        });
    }
    Ok(())
}

fn ec_algorithm(
    curve: Option<ObjectIdentifier>,
) -> Result<(Algorithm, &'static EcdsaSigningAlgorithm), PkiError> {
    match curve {
        Some(c) if c == OID_P256 => Ok((Algorithm::EcdsaP256, &ECDSA_P256_SHA256_ASN1_SIGNING)),
        Some(c) if c == OID_P384 => Ok((Algorithm::EcdsaP384, &ECDSA_P384_SHA384_ASN1_SIGNING)),
        Some(c) if c == OID_P521 => Err(PkiError::UnsupportedKey {
            algorithm: "ECDSA P-521".into(),
        }),
        Some(c) => Err(PkiError::UnsupportedKey {
            algorithm: format!("ECDSA on curve {c}"),
        }),
        None => Err(PkiError::UnsupportedKey {
            algorithm: "ECDSA without a named curve".into(),
        }),
    }
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid {
        o if o == OID_RSA_PSS => "RSASSA-PSS".into(),
        o if o == OID_ED25519 => "Ed25519".into(),
        o if o == OID_ED448 => "Ed448".into(),
        o if o == OID_DSA => "DSA".into(),
        o => format!("OID {o}"),
    }
}

/// The modulus size of a PKCS#1 RSAPrivateKey, read without loading the key
/// (the crypto library refuses small keys without saying how small).
fn rsa_private_key_bits(rsa_private_key: &[u8]) -> Option<usize> {
    let outer = AnyRef::from_der(rsa_private_key).ok()?;
    if outer.tag() != Tag::Sequence {
        return None;
    }
    let mut reader = SliceReader::new(outer.value()).ok()?;
    let _version = UintRef::decode(&mut reader).ok()?;
    let modulus = UintRef::decode(&mut reader).ok()?;
    Some(rsa_bits(modulus.as_bytes()))
}

/// Whether `der` has the shape of a PKCS#1 RSAPrivateKey.
pub(crate) fn is_pkcs1(der: &[u8]) -> bool {
    rsa_private_key_bits(der).is_some()
}

/// Whether `der` has the shape of a SEC1 ECPrivateKey
/// (`SEQUENCE { INTEGER 1, OCTET STRING, … }`).
pub(crate) fn is_sec1(der: &[u8]) -> bool {
    let shape = || -> Option<bool> {
        let outer = AnyRef::from_der(der).ok()?;
        if outer.tag() != Tag::Sequence {
            return None;
        }
        let mut reader = SliceReader::new(outer.value()).ok()?;
        let version = UintRef::decode(&mut reader).ok()?;
        <&OctetStringRef>::decode(&mut reader).ok()?;
        Some(version.as_bytes() == [1])
    };
    shape().unwrap_or(false)
}

/// The named curve in a SEC1 ECPrivateKey's `[0] parameters`, if present.
fn sec1_curve(der: &[u8]) -> Option<ObjectIdentifier> {
    let outer = AnyRef::from_der(der).ok()?;
    let mut reader = SliceReader::new(outer.value()).ok()?;
    let _version = UintRef::decode(&mut reader).ok()?;
    let _private = <&OctetStringRef>::decode(&mut reader).ok()?;
    while !reader.is_finished() {
        let field = AnyRef::decode(&mut reader).ok()?;
        if let Ok(oid) = ObjectIdentifier::from_der(field.value()) {
            return Some(oid);
        }
    }
    None
}

#[cfg(test)]
mod tests;
