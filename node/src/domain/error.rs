//! Why a command was refused. Every variant names what to fix; the storage
//! layer returns it as the entry's outcome and nothing in the state changes.

use serde::{Deserialize, Serialize};

/// A deterministic refusal of a command or query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum DomainError {
    /// A setting that must be a DNS name is not one.
    #[error("{field} {value:?} is not a valid DNS name: {reason}")]
    InvalidDnsName {
        field: String,
        value: String,
        reason: String,
    },
    /// A setting that must be an IP address is not one.
    #[error("{field} {value:?} is not a valid IP address: {reason}")]
    InvalidIp {
        field: String,
        value: String,
        reason: String,
    },
    /// The mode is neither `standalone` nor `clustered`.
    #[error("mode {value:?} is not valid: use standalone or clustered")]
    InvalidMode { value: String },
    /// Clustered mode is set without a virtual address.
    #[error("clustered mode needs a virtual address: set it in the same call (virtual_address)")]
    ClusteredWithoutVirtualAddress,
    /// A restore was started on a cluster that already holds data.
    #[error("restore needs a fresh cluster, but this one already holds data: restore into a newly initialized cluster")]
    NotEmpty,
    /// A restore chunk or finish arrived without a restore in progress.
    #[error("no restore is in progress: start it again with snapshot restore")]
    NoRestoreInProgress,
    /// A different restore is in progress.
    #[error("another restore (digest {in_progress}) is in progress: finish it before starting a new one")]
    OtherRestoreInProgress { in_progress: String },
    /// A restored record's key is outside the domain key space.
    #[error("the snapshot holds a record outside the domain key space: the file is not an mrouter snapshot")]
    ForeignRecord,
    /// After the last chunk the state did not match the snapshot.
    #[error("restored state digest {actual} does not match the snapshot's {expected}")]
    RestoreDigestMismatch { expected: String, actual: String },
}
