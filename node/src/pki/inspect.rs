//! Reading certificates and CSRs into the summaries the domain stores:
//! names, validity, SANs, key type and fingerprints.

use std::net::IpAddr;

use aws_lc_rs::digest::{digest, SHA256};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::domain::{CertSummary, San};

use super::cert_facts::parse_certificate;
use super::error::PkiError;
use super::name::{common_name, one_line};
use super::signature::{verify, SignatureFailure};
use super::spki::{key_type, sha256_hex};

/// What a CSR asks for, after its signature was verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrSummary {
    /// RFC 4514 one-line subject.
    pub subject: String,
    /// DNS and IP SANs from the extensionRequest attribute.
    pub sans: Vec<San>,
    /// e.g. `rsa2048`, `ecdsa-p256`.
    pub key_type: String,
    /// Lower-case hex SHA-256 of the SubjectPublicKeyInfo.
    pub spki_sha256: String,
    /// The SubjectPublicKeyInfo (DER) to certify.
    pub spki_der: Vec<u8>,
}

/// Summarizes a DER certificate.
pub fn inspect(cert_der: &[u8]) -> Result<CertSummary, PkiError> {
    let cert = parse_certificate(cert_der, "the certificate")?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => sans_of(&ext.value.general_names),
        Ok(None) => Vec::new(),
        Err(e) => {
            return Err(PkiError::InvalidCertificate {
                what: "the certificate".into(),
                reason: format!("subjectAltName: {e}"),
            })
        }
    };
    Ok(CertSummary {
        subject: one_line(cert.subject()),
        common_name: common_name(cert.subject()),
        issuer: one_line(cert.issuer()),
        serial: serial_hex(cert.raw_serial()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        sans,
        key_type: key_type(cert.public_key()),
        fingerprint_sha256: fingerprint(cert_der),
        spki_sha256: sha256_hex(cert.public_key().raw),
        is_ca: cert.is_ca(),
    })
}

/// Summarizes a DER PKCS#10 CSR after verifying its self-signature.
pub fn inspect_csr(csr_der: &[u8]) -> Result<CsrSummary, PkiError> {
    let (rest, csr) =
        X509CertificationRequest::from_der(csr_der).map_err(|e| PkiError::InvalidCsr {
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(PkiError::InvalidCsr {
            reason: format!("{} unexpected bytes follow the request", rest.len()),
        });
    }
    let info = &csr.certification_request_info;
    // A weak key is named as such, before its signature (which the crypto
    // library would refuse to check) makes it look like a damaged CSR.
    if let Some(bits) = key_type(&info.subject_pki)
        .strip_prefix("rsa")
        .and_then(|b| b.parse::<usize>().ok())
    {
        if bits < 2048 {
            return Err(PkiError::WeakKey { bits });
        }
    }
    match verify(
        &info.subject_pki,
        &csr.signature_algorithm,
        &csr.signature_value.data,
        info.raw,
    ) {
        Ok(()) => {}
        Err(SignatureFailure::Invalid) => return Err(PkiError::CsrSignature),
        Err(SignatureFailure::Unsupported(algorithm)) => {
            return Err(PkiError::UnsupportedSignatureAlgorithm {
                what: "the certificate signing request".into(),
                algorithm,
            })
        }
    }
    let mut sans = Vec::new();
    if let Some(extensions) = csr.requested_extensions() {
        for ext in extensions {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                sans.extend(sans_of(&san.general_names));
            }
        }
    }
    Ok(CsrSummary {
        subject: one_line(&info.subject),
        sans,
        key_type: key_type(&info.subject_pki),
        spki_sha256: sha256_hex(info.subject_pki.raw),
        spki_der: info.subject_pki.raw.to_vec(),
    })
}

/// DNS names (lower-cased) and IP addresses; other name types are skipped.
fn sans_of(names: &[GeneralName<'_>]) -> Vec<San> {
    names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(San::Dns(dns.to_ascii_lowercase())),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(IpAddr::from)
                    .map(San::Ip),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(IpAddr::from)
                    .map(San::Ip),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Upper-case hex without leading zero bytes, as `openssl x509 -serial`.
pub(super) fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode_upper(&raw[start..])
}

/// SHA-256 of the DER, upper-case hex pairs joined by colons.
fn fingerprint(der: &[u8]) -> String {
    digest(&SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests;
