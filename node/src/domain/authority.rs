//! The cluster's certificate authority record. There is no factory CA: until
//! one is generated or imported the record is absent. Every replacement bumps
//! the epoch, which invalidates every client provisioned under an older one in
//! O(1) (invariant 4): no per-client write.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::sealed_cert::SealedCert;

/// The installed CA.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaRecord {
    /// 1 for the first CA, +1 for every replacement.
    pub epoch: u64,
    /// The CA certificate; its chain holds the certificates above an
    /// imported intermediate CA.
    pub cert: SealedCert,
    pub installed_at_ms: u64,
}

impl fmt::Debug for CaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaRecord")
            .field("epoch", &self.epoch)
            .field("cert", &self.cert)
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
