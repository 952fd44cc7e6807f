//! A certificate as the cluster keeps it: the DER, the chain above it, its
//! private key sealed under the cluster seal key (invariant 2), and the facts
//! read off it once. The CA and every router certificate slot hold one.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::certificate::{CertSummary, Origin};

/// A certificate with its chain and sealed private key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCert {
    #[serde(with = "super::base64_bytes")]
    pub der: Vec<u8>,
    /// The certificates above it, issuer first; without the certificate
    /// itself (empty for a self-signed CA).
    #[serde(with = "super::base64_bytes::list")]
    pub chain_der: Vec<Vec<u8>>,
    /// The private key (PKCS#8) sealed under the cluster seal key and bound
    /// to the certificate's public key.
    #[serde(with = "super::base64_bytes")]
    pub sealed_key: Vec<u8>,
    pub summary: CertSummary,
    pub origin: Origin,
}

impl SealedCert {
    /// The certificate, then its chain.
    pub fn chain_with_leaf(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.der.as_slice()).chain(self.chain_der.iter().map(Vec::as_slice))
    }
}

/// Names the certificate; never the key, sealed or not (invariant 6).
impl fmt::Debug for SealedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedCert")
            .field("subject", &self.summary.subject)
            .field("serial", &self.summary.serial)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}
