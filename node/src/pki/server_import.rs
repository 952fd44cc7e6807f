//! The checks an imported server certificate passes before it is stored:
//! find the leaf by its key, check its validity and purpose, and order and
//! verify its chain.

use std::fmt;

use crate::domain::CertSummary;

use super::bundle::Bundle;
use super::cert_facts::CertFacts;
use super::chain;
use super::error::PkiError;
use super::inspect::inspect;
use super::private_key::PrivateKey;
use super::validity::check_window;

/// A server certificate ready to store. `Debug` hides the key.
#[derive(Clone)]
pub struct ServerImport {
    /// The leaf certificate (DER).
    pub leaf: Vec<u8>,
    /// The leaf's key: from the bundle, or the slot's CSR key.
    pub key: PrivateKey,
    /// Issuer first, upward, excluding the leaf; bundle certificates only.
    pub chain: Vec<Vec<u8>>,
    /// The leaf's summary.
    pub summary: CertSummary,
    /// Things a person should know but that do not block the import.
    pub warnings: Vec<String>,
    /// Information about the chain, e.g. the root clients must trust.
    pub notes: Vec<String>,
    /// The leaf or its chain was signed by the cluster CA.
    pub signed_by_cluster_ca: bool,
}

impl fmt::Debug for ServerImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerImport")
            .field("subject", &self.summary.subject)
            .field("fingerprint_sha256", &self.summary.fingerprint_sha256)
            .field("key", &self.key)
            .field("chain_len", &self.chain.len())
            .field("warnings", &self.warnings)
            .field("notes", &self.notes)
            .field("signed_by_cluster_ca", &self.signed_by_cluster_ca)
            .finish()
    }
}

/// Checks `bundle` as a server certificate import at time `now` (Unix
/// seconds). With no key in the bundle, the leaf must match `csr_key`.
pub fn check_server_import(
    bundle: Bundle,
    csr_key: Option<&PrivateKey>,
    cluster_ca_der: Option<&[u8]>,
    now: i64,
) -> Result<ServerImport, PkiError> {
    let certs = parse_all(&bundle.certs)?;
    let (key, from_bundle) = match single_key(bundle.keys)? {
        Some(key) => (key, true),
        None => (csr_key.cloned().ok_or(PkiError::NoMatchingKey)?, false),
    };
    let spki = key.spki_der();
    let matching: Vec<usize> = (0..certs.len())
        .filter(|&i| certs[i].spki == spki)
        .collect();
    if matching.is_empty() {
        return Err(if from_bundle {
            PkiError::KeyMatchesNoCertificate {
                key_type: key.key_type(),
                spki_sha256: key.spki_sha256(),
            }
        } else {
            PkiError::NoMatchingKey
        });
    }
    let leaf_index = pick_leaf(&certs, &matching)?;
    let leaf = &certs[leaf_index];
    check_window(&leaf.subject, leaf.not_before, leaf.not_after, now)?;
    if leaf.server_auth == Some(false) {
        return Err(PkiError::NotServerAuth {
            subject: leaf.subject.clone(),
        });
    }
    let anchor = cluster_ca_der
        .map(|der| CertFacts::parse(der, "the cluster CA certificate"))
        .transpose()?;
    let pool: Vec<CertFacts> = certs
        .iter()
        .enumerate()
        .filter(|(i, c)| *i != leaf_index && c.der != leaf.der)
        .map(|(_, c)| c.clone())
        .collect();
    let built = chain::build(leaf, &pool, anchor.as_ref(), now)?;
    let leaf_der = leaf.der.clone();
    Ok(ServerImport {
        summary: inspect(&leaf_der)?,
        leaf: leaf_der,
        key,
        chain: built.links.iter().map(|&i| pool[i].der.clone()).collect(),
        warnings: built.warnings,
        notes: built.notes,
        signed_by_cluster_ca: built.reaches_cluster_ca,
    })
}

/// Parses every bundle certificate, dropping exact duplicates.
pub(crate) fn parse_all(certs: &[Vec<u8>]) -> Result<Vec<CertFacts>, PkiError> {
    let mut out: Vec<CertFacts> = Vec::with_capacity(certs.len());
    for (i, der) in certs.iter().enumerate() {
        if out.iter().any(|c| c.der == *der) {
            continue;
        }
        out.push(CertFacts::parse(
            der,
            &format!("certificate #{} in the bundle", i + 1),
        )?);
    }
    Ok(out)
}

/// The bundle's one key (duplicates of the same key are fine), if any.
pub(crate) fn single_key(keys: Vec<PrivateKey>) -> Result<Option<PrivateKey>, PkiError> {
    let mut distinct: Vec<PrivateKey> = Vec::new();
    for key in keys {
        if !distinct.iter().any(|k| k.spki_der() == key.spki_der()) {
            distinct.push(key);
        }
    }
    if distinct.len() > 1 {
        return Err(PkiError::TooManyKeys {
            count: distinct.len(),
        });
    }
    Ok(distinct.pop())
}

/// Among certificates with the key, the non-CA one that expires last.
fn pick_leaf(certs: &[CertFacts], matching: &[usize]) -> Result<usize, PkiError> {
    matching
        .iter()
        .copied()
        .filter(|&i| !certs[i].is_ca)
        .max_by_key(|&i| certs[i].not_after)
        .ok_or_else(|| PkiError::CaAsLeaf {
            subject: certs[matching[0]].subject.clone(),
        })
}

#[cfg(test)]
mod tests;
