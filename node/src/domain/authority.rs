//! The cluster's certificate authority record. There is no factory CA: until
//! one is generated or imported the record is absent. Every replacement bumps
//! the epoch, which invalidates every client provisioned under an older one in
//! O(1) (invariant 4): no per-client write.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::certificate::{CertSummary, Origin};

/// The installed CA.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaRecord {
    /// 1 for the first CA, +1 for every replacement.
    pub epoch: u64,
    #[serde(with = "super::base64_bytes")]
    pub cert_der: Vec<u8>,
    /// Certificates above an imported intermediate CA, issuer first.
    #[serde(with = "super::base64_bytes::list")]
    pub chain_der: Vec<Vec<u8>>,
    /// The CA private key (PKCS#8) sealed under the cluster seal key.
    #[serde(with = "super::base64_bytes")]
    pub sealed_key: Vec<u8>,
    pub summary: CertSummary,
    pub origin: Origin,
    pub installed_at_ms: u64,
}

impl fmt::Debug for CaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaRecord")
            .field("epoch", &self.epoch)
            .field("subject", &self.summary.subject)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// A CA about to be installed; apply assigns the epoch.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCa {
    #[serde(with = "super::base64_bytes")]
    pub cert_der: Vec<u8>,
    #[serde(with = "super::base64_bytes::list")]
    pub chain_der: Vec<Vec<u8>>,
    #[serde(with = "super::base64_bytes")]
    pub sealed_key: Vec<u8>,
    pub summary: CertSummary,
    pub origin: Origin,
}

impl fmt::Debug for NewCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCa")
            .field("subject", &self.summary.subject)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The CA as a read returns it, with what replacing it would invalidate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaView {
    pub ca: Option<CaRecord>,
    /// Clients provisioned under the current epoch (they would be invalidated).
    pub clients_current: u64,
}
