//! Issuing: random serials, the self-signed cluster CA, server certificates
//! signed by a CA, and PKCS#10 CSRs. Signatures use SHA-256 with RSA and
//! P-256 keys and SHA-384 with P-384 keys.

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose,
    SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::domain::{San, Subject};

use super::cert_facts::parse_certificate;
use super::error::PkiError;
use super::name::{distinguished_name, one_line, rcgen_copy_problem};
use super::private_key::PrivateKey;
use super::random_array;

/// Longest serial RFC 5280 allows, in bytes.
const MAX_SERIAL_LEN: usize = 20;

/// 16 random bytes with the top bit cleared and never all zero: a positive
/// INTEGER with 127 bits of entropy.
pub fn random_serial() -> Vec<u8> {
    loop {
        let mut bytes = random_array::<16>();
        bytes[0] &= 0x7f;
        if bytes.iter().any(|b| *b != 0) {
            return bytes.to_vec();
        }
    }
}

/// A self-signed CA certificate (DER): basicConstraints CA:TRUE and keyUsage
/// keyCertSign + cRLSign (both critical), and a subject key identifier.
pub fn self_signed_ca(
    subject: &Subject,
    key: &PrivateKey,
    not_before: i64,
    not_after: i64,
    serial: &[u8],
) -> Result<Vec<u8>, PkiError> {
    let mut params = base_params(subject, not_before, not_after)?;
    params.serial_number = Some(checked_serial(serial)?);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pair = key.key_pair()?;
    let cert = params.self_signed(&*pair).map_err(|e| PkiError::Signing {
        action: "sign the CA certificate",
        reason: e.to_string(),
    })?;
    Ok(cert.der().to_vec())
}

/// A TLS server certificate (DER) for `subject_key`, signed by the CA:
/// extendedKeyUsage serverAuth, keyUsage digitalSignature (+
/// keyEncipherment for RSA), the SANs, basicConstraints CA:FALSE, SKI, and
/// an AKI equal to the CA's SKI. The issuer name is copied from the CA.
#[allow(clippy::too_many_arguments)]
pub fn sign_server_cert(
    ca_cert_der: &[u8],
    ca_key: &PrivateKey,
    subject: &Subject,
    sans: &[San],
    subject_key: &PrivateKey,
    not_before: i64,
    not_after: i64,
    serial: &[u8],
) -> Result<Vec<u8>, PkiError> {
    if sans.is_empty() {
        return Err(PkiError::NoSans);
    }
    let mut params = base_params(subject, not_before, not_after)?;
    params.serial_number = Some(checked_serial(serial)?);
    params.subject_alt_names = san_types(sans)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if subject_key.is_rsa() {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;

    sign_with_ca(
        ca_cert_der,
        ca_key,
        &params,
        &subject_key.spki_der(),
        "sign the server certificate",
    )
}

/// Signs `params` for the public key `spki_der` with the CA, after checking
/// the CA key matches its certificate and its name can be copied exactly.
pub(super) fn sign_with_ca(
    ca_cert_der: &[u8],
    ca_key: &PrivateKey,
    params: &CertificateParams,
    spki_der: &[u8],
    action: &'static str,
) -> Result<Vec<u8>, PkiError> {
    CaSigner::new(ca_cert_der, ca_key)?.sign(params, spki_der, action)
}

/// A CA ready to sign: its certificate checked against its key and its name
/// checked to be reproducible, and the signing key loaded — once, so that a
/// node issuing many certificates under one CA pays for it once.
pub struct CaSigner {
    cert_der: Vec<u8>,
    subject_raw: Vec<u8>,
    subject: String,
    pair: Zeroizing<rcgen::KeyPair>,
}

impl std::fmt::Debug for CaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaSigner")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl CaSigner {
    pub fn new(ca_cert_der: &[u8], ca_key: &PrivateKey) -> Result<Self, PkiError> {
        let ca = parse_certificate(ca_cert_der, "the CA certificate")?;
        let subject = one_line(ca.subject());
        if ca.public_key().raw != ca_key.spki_der().as_slice() {
            return Err(PkiError::CaKeyMismatch { subject });
        }
        if let Some(reason) = rcgen_copy_problem(ca.subject()) {
            return Err(PkiError::UnsupportedCaName { subject, reason });
        }
        Ok(Self {
            cert_der: ca_cert_der.to_vec(),
            subject_raw: ca.subject().as_raw().to_vec(),
            subject,
            pair: ca_key.key_pair()?,
        })
    }

    /// The CA as rcgen's issuer (certificates and CRLs).
    pub(super) fn issuer(&self) -> Result<Issuer<'static, &rcgen::KeyPair>, PkiError> {
        Issuer::from_ca_cert_der(&CertificateDer::from(self.cert_der.as_slice()), &*self.pair)
            .map_err(|e| PkiError::UnsupportedCaName {
                subject: self.subject.clone(),
                reason: e.to_string(),
            })
    }

    /// Signs `params` for the public key `spki_der`.
    pub(super) fn sign(
        &self,
        params: &CertificateParams,
        spki_der: &[u8],
        action: &'static str,
    ) -> Result<Vec<u8>, PkiError> {
        let issuer = self.issuer()?;
        let public =
            rcgen::SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| PkiError::Signing {
                action: "read the subject public key",
                reason: e.to_string(),
            })?;
        let cert = params
            .signed_by(&public, &issuer)
            .map_err(|e| PkiError::Signing {
                action,
                reason: e.to_string(),
            })?;
        let der = cert.der().to_vec();
        // Clients match issuer to CA subject byte for byte; rcgen re-encodes
        // the name, so make sure nothing was lost.
        let issued = parse_certificate(&der, "the issued certificate")?;
        if issued.issuer().as_raw() != self.subject_raw.as_slice() {
            return Err(PkiError::UnsupportedCaName {
                subject: self.subject.clone(),
                reason: "its encoding cannot be reproduced exactly".into(),
            });
        }
        Ok(der)
    }
}

/// A PKCS#10 CSR (DER) for `subject` signed by `key`, with the SANs in an
/// extensionRequest attribute.
pub fn make_csr(subject: &Subject, sans: &[San], key: &PrivateKey) -> Result<Vec<u8>, PkiError> {
    if sans.is_empty() {
        return Err(PkiError::NoSans);
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(subject)?;
    params.subject_alt_names = san_types(sans)?;
    let pair = key.key_pair()?;
    let csr = params
        .serialize_request(&*pair)
        .map_err(|e| PkiError::Signing {
            action: "sign the certificate signing request",
            reason: e.to_string(),
        })?;
    Ok(csr.der().to_vec())
}

/// PEM text (`-----BEGIN {label}-----`, LF line endings) for `der`.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

pub(super) fn base_params(
    subject: &Subject,
    not_before: i64,
    not_after: i64,
) -> Result<CertificateParams, PkiError> {
    let invalid = || PkiError::InvalidValidity {
        not_before,
        not_after,
    };
    if not_before >= not_after {
        return Err(invalid());
    }
    let start = OffsetDateTime::from_unix_timestamp(not_before).map_err(|_| invalid())?;
    let end = OffsetDateTime::from_unix_timestamp(not_after).map_err(|_| invalid())?;
    if start.year() < 1950 || end.year() > 9999 {
        return Err(invalid());
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(subject)?;
    params.not_before = start;
    params.not_after = end;
    Ok(params)
}

pub(super) fn checked_serial(serial: &[u8]) -> Result<SerialNumber, PkiError> {
    let ok = !serial.is_empty()
        && serial.len() <= MAX_SERIAL_LEN
        && serial[0] & 0x80 == 0
        && serial.iter().any(|b| *b != 0);
    if !ok {
        return Err(PkiError::InvalidSerial { len: serial.len() });
    }
    Ok(SerialNumber::from_slice(serial))
}

pub(super) fn san_types(sans: &[San]) -> Result<Vec<SanType>, PkiError> {
    sans.iter()
        .map(|san| match san {
            San::Dns(name) => Ia5String::try_from(name.as_str())
                .map(SanType::DnsName)
                .map_err(|_| PkiError::Signing {
                    action: "encode the subject alternative names",
                    reason: format!("DNS name {name:?} is not ASCII"),
                }),
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect()
}

#[cfg(test)]
mod tests;
