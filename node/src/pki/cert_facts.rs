//! The facts about a certificate that import checks and chain building
//! need, read once from its DER so they can be compared without lifetimes.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::error::PkiError;
use super::name::one_line;

/// One parsed certificate of a bundle.
#[derive(Clone)]
pub(crate) struct CertFacts {
    pub der: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
    pub spki: Vec<u8>,
    pub is_ca: bool,
    /// `None` without a keyUsage extension.
    pub key_cert_sign: Option<bool>,
    /// `None` without an extendedKeyUsage extension; else serverAuth or any.
    pub server_auth: Option<bool>,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertFacts {
    /// Parses `der`; `what` names it in errors (e.g. "certificate #2 in the bundle").
    pub fn parse(der: &[u8], what: &str) -> Result<Self, PkiError> {
        let cert = parse_certificate(der, what)?;
        let bad = |reason: String| PkiError::InvalidCertificate {
            what: what.into(),
            reason,
        };
        let basic = cert
            .basic_constraints()
            .map_err(|e| bad(format!("basicConstraints: {e}")))?;
        let key_usage = cert
            .key_usage()
            .map_err(|e| bad(format!("keyUsage: {e}")))?;
        let eku = cert
            .extended_key_usage()
            .map_err(|e| bad(format!("extendedKeyUsage: {e}")))?;
        Ok(Self {
            der: der.to_vec(),
            subject: one_line(cert.subject()),
            issuer: one_line(cert.issuer()),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            spki: cert.public_key().raw.to_vec(),
            is_ca: basic.is_some_and(|b| b.value.ca),
            key_cert_sign: key_usage.map(|k| k.value.key_cert_sign()),
            server_auth: eku.map(|e| e.value.any || e.value.server_auth),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Subject and issuer are the same name (a root, or a self-signed leaf).
    pub fn is_self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// Whether `self` is named as the issuer of `child`.
    pub fn named_issuer_of(&self, child: &CertFacts) -> bool {
        self.subject_raw == child.issuer_raw || self.subject.eq_ignore_ascii_case(&child.issuer)
    }
}

/// Parses a whole DER certificate (no trailing bytes).
pub(crate) fn parse_certificate<'a>(
    der: &'a [u8],
    what: &str,
) -> Result<X509Certificate<'a>, PkiError> {
    let bad = |reason: String| PkiError::InvalidCertificate {
        what: what.into(),
        reason,
    };
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} unexpected bytes follow the certificate",
            rest.len()
        )));
    }
    Ok(cert)
}
