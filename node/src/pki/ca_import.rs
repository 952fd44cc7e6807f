//! The checks an imported CA (certificate and key) passes before the
//! cluster signs with it.

use std::fmt;

use crate::domain::CertSummary;

use super::bundle::Bundle;
use super::chain;
use super::error::PkiError;
use super::inspect::inspect;
use super::issue::{random_serial, sign_server_cert};
use super::private_key::PrivateKey;
use super::server_import::{parse_all, single_key};
use super::validity::check_window;

/// A CA ready to store. `Debug` hides the key.
#[derive(Clone)]
pub struct CaImport {
    /// The CA certificate (DER).
    pub cert: Vec<u8>,
    /// The CA's private key.
    pub key: PrivateKey,
    /// The CA's own issuers from the bundle (for an intermediate CA), upward.
    pub chain: Vec<Vec<u8>>,
    /// The CA certificate's summary.
    pub summary: CertSummary,
    /// Things a person should know but that do not block the import.
    pub warnings: Vec<String>,
    /// Information about the chain, e.g. the root clients must trust.
    pub notes: Vec<String>,
}

impl fmt::Debug for CaImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaImport")
            .field("subject", &self.summary.subject)
            .field("fingerprint_sha256", &self.summary.fingerprint_sha256)
            .field("key", &self.key)
            .field("chain_len", &self.chain.len())
            .field("warnings", &self.warnings)
            .field("notes", &self.notes)
            .finish()
    }
}

/// Checks `bundle` as a CA import at time `now` (Unix seconds): exactly one
/// key, its certificate a currently valid CA allowed to sign certificates.
pub fn check_ca_import(bundle: Bundle, now: i64) -> Result<CaImport, PkiError> {
    let certs = parse_all(&bundle.certs)?;
    let key = single_key(bundle.keys)?.ok_or(PkiError::NoKey)?;
    let spki = key.spki_der();
    let index = (0..certs.len())
        .filter(|&i| certs[i].spki == spki)
        .max_by_key(|&i| (certs[i].is_ca, certs[i].not_after))
        .ok_or_else(|| PkiError::KeyMatchesNoCertificate {
            key_type: key.key_type(),
            spki_sha256: key.spki_sha256(),
        })?;
    let ca = &certs[index];
    if !ca.is_ca {
        return Err(PkiError::NotCa {
            subject: ca.subject.clone(),
        });
    }
    if ca.key_cert_sign == Some(false) {
        return Err(PkiError::NoKeyCertSign {
            subject: ca.subject.clone(),
        });
    }
    check_window(&ca.subject, ca.not_before, ca.not_after, now)?;
    check_can_issue(&ca.der, &key, now)?;
    let pool: Vec<_> = certs
        .iter()
        .enumerate()
        .filter(|(i, c)| *i != index && c.der != ca.der)
        .map(|(_, c)| c.clone())
        .collect();
    let built = chain::build(ca, &pool, None, now)?;
    Ok(CaImport {
        summary: inspect(&ca.der)?,
        cert: ca.der.clone(),
        key,
        chain: built.links.iter().map(|&i| pool[i].der.clone()).collect(),
        warnings: built.warnings,
        notes: built.notes,
    })
}

/// Issues a throwaway certificate so that a CA whose name or key we cannot
/// sign with is refused now rather than at the first issuance.
fn check_can_issue(ca_der: &[u8], key: &PrivateKey, now: i64) -> Result<(), PkiError> {
    let subject = crate::domain::Subject {
        country: "US".into(),
        common_name: "mrouter import check".into(),
        ..Default::default()
    };
    let sans = [crate::domain::San::Dns("import-check.invalid".into())];
    sign_server_cert(
        ca_der,
        key,
        &subject,
        &sans,
        key,
        now,
        now + 60,
        &random_serial(),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests;
