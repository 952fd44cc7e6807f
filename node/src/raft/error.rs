//! Why a replica operation failed: one enum for the layer. It crosses the
//! forward RPC, so it serializes; the errors of the layers below (openraft,
//! the disk) are kept as sources where they happened, and only their text
//! travels to another node.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use openraft::errors::{Fatal, RaftError};
use serde::{Deserialize, Serialize};

use super::snapshot_file::SnapshotFileError;
use super::types::TypeConfig;
use crate::domain::DomainError;

/// Why an operation failed. Crosses the forward RPC, so it serializes.
#[derive(Clone, Debug, thiserror::Error, Serialize, Deserialize)]
pub enum ReplicaError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("node {node_id} is not the leader")]
    NotLeader {
        node_id: u64,
        leader: Option<(u64, String)>,
    },
    #[error("no leader was elected within {waited_ms} ms: is a majority of the voters running and reachable?")]
    NoLeader { waited_ms: u64 },
    #[error("the cluster is not initialized: run mrctl cluster init")]
    NotInitialized,
    #[error("the cluster is already initialized (members: {members:?}); nothing was changed")]
    AlreadyInitialized { members: Vec<u64> },
    #[error("node {id} is not a member of the cluster")]
    UnknownNode { id: u64 },
    #[error("node {id} is the last voter; removing it would leave no cluster")]
    LastVoter { id: u64 },
    #[error("node {id} is already a member of the cluster")]
    AlreadyMember { id: u64 },
    #[error("address {addr:?} is not valid: {reason}")]
    InvalidAddress { addr: String, reason: String },
    #[error("request id must be empty or 16 bytes, got {len}")]
    InvalidRequestId { len: usize },
    #[error("leader {node_id} at {addr} could not be reached: {reason}")]
    Unreachable {
        node_id: u64,
        addr: String,
        reason: String,
    },
    #[error("leadership did not move to node {to} within {waited_ms} ms")]
    TransferTimeout { to: u64, waited_ms: u64 },
    #[error("the snapshot was sealed with seal key {snapshot_key_id}, but this cluster uses {cluster_key_id}: start the cluster with the seal key of the one that saved it")]
    SealKeyMismatch {
        snapshot_key_id: String,
        cluster_key_id: String,
    },
    #[error("snapshot file refused: {reason}")]
    BadSnapshot { reason: String },
    #[error("node {node_id} is installing a snapshot from the leader: ask another node or retry shortly")]
    InstallingSnapshot { node_id: u64 },
    #[error("node {node_id} was removed from the cluster at log index {log_index}: ask another node (to add it back, wipe its data dir and add it as a new learner)")]
    Removed { node_id: u64, log_index: u64 },
    /// The leader changed before the write's commit was known; it may or
    /// may not have been applied.
    #[error("the leader changed before this write was known to commit (it may or may not have been applied): retry with the same request_id, which applies it at most once")]
    CommitUnknown,
    /// openraft stopped: the node is shutting down (or its Raft core quit).
    #[error("node is shutting down: ask another node")]
    ShuttingDown,
    /// A reply of another kind than the request asks for: a bug.
    #[error("unexpected reply to {operation}: {reply} (this is a bug)")]
    UnexpectedReply { operation: String, reply: String },
    /// openraft refused or failed an operation for a reason not mapped above.
    #[error("raft {operation} failed: {source}")]
    Raft { operation: String, source: Cause },
    /// Reading or writing this node's own files failed.
    #[error("storage {operation} failed: {source}")]
    Storage { operation: String, source: Cause },
}

impl ReplicaError {
    /// An openraft API error; a stopped Raft core is [`ReplicaError::ShuttingDown`].
    pub(crate) fn raft<E>(operation: &str, e: RaftError<TypeConfig, E>) -> Self
    where
        E: Error + Send + Sync + 'static,
    {
        match e {
            RaftError::Fatal(f) => Self::fatal(operation, f),
            RaftError::APIError(e) => Self::Raft {
                operation: operation.into(),
                source: Cause::new(e),
            },
        }
    }

    /// openraft's fatal error: stopped is a shutdown, the rest a failure.
    pub(crate) fn fatal(operation: &str, e: Fatal<TypeConfig>) -> Self {
        match e {
            Fatal::Stopped => Self::ShuttingDown,
            other => Self::Raft {
                operation: operation.into(),
                source: Cause::new(other),
            },
        }
    }

    /// Waiting on openraft's metrics failed (timeout or shutdown).
    pub(crate) fn wait(operation: &str, e: openraft::metrics::WaitError) -> Self {
        match e {
            openraft::metrics::WaitError::ShuttingDown => Self::ShuttingDown,
            other => Self::Raft {
                operation: operation.into(),
                source: Cause::new(other),
            },
        }
    }

    pub(crate) fn storage<E>(operation: &str, e: E) -> Self
    where
        E: Error + Send + Sync + 'static,
    {
        Self::Storage {
            operation: operation.into(),
            source: Cause::new(e),
        }
    }

    pub(crate) fn unexpected(operation: &str, reply: &impl fmt::Debug) -> Self {
        Self::UnexpectedReply {
            operation: operation.into(),
            reply: format!("{reply:?}"),
        }
    }
}

impl From<SnapshotFileError> for ReplicaError {
    fn from(e: SnapshotFileError) -> Self {
        match e {
            SnapshotFileError::Io(e) => ReplicaError::storage("of a snapshot file", e),
            SnapshotFileError::SealKey { file, ours } => ReplicaError::SealKeyMismatch {
                snapshot_key_id: file,
                cluster_key_id: ours,
            },
            other => ReplicaError::BadSnapshot {
                reason: other.to_string(),
            },
        }
    }
}

/// An error of a layer below, as a source: its text, and on the node where
/// it happened the error itself (so its own sources stay reachable).
#[derive(Clone, Serialize, Deserialize)]
pub struct Cause {
    text: String,
    #[serde(skip)]
    error: Option<Arc<dyn Error + Send + Sync>>,
}

impl Cause {
    pub fn new(e: impl Error + Send + Sync + 'static) -> Self {
        Self {
            text: e.to_string(),
            error: Some(Arc::new(e)),
        }
    }

    /// The original error, on the node where it happened.
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.error.as_deref()
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => fmt::Debug::fmt(e, f),
            None => write!(f, "{:?} (from another node)", self.text),
        }
    }
}

impl Error for Cause {
    /// The original error's own source: `Cause` itself stands for the error.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error.as_ref().and_then(|e| e.source())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_keeps_its_source_here_and_its_text_across_the_forward_rpc() {
        let io = std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "data dir is read-only",
        );
        let local = ReplicaError::storage("writing the removal marker", io);
        assert_eq!(
            local.to_string(),
            "storage writing the removal marker failed: data dir is read-only"
        );
        let ReplicaError::Storage { source, .. } = &local else {
            panic!("{local:?}")
        };
        let original = source.error().expect("the original error, on this node");
        let io = original
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);

        let remote: ReplicaError =
            super::super::codec::from_slice(&super::super::codec::to_vec(&local).unwrap()).unwrap();
        assert_eq!(remote.to_string(), local.to_string());
        let ReplicaError::Storage { source, .. } = &remote else {
            panic!("{remote:?}")
        };
        assert!(source.error().is_none(), "only the text travels");
    }

    #[test]
    fn a_stopped_raft_core_is_a_shutdown() {
        assert!(matches!(
            ReplicaError::fatal("log purge", Fatal::Stopped),
            ReplicaError::ShuttingDown
        ));
        assert!(matches!(
            ReplicaError::fatal("log purge", Fatal::Panicked),
            ReplicaError::Raft { .. }
        ));
        assert!(matches!(
            ReplicaError::wait("snapshot", openraft::metrics::WaitError::ShuttingDown),
            ReplicaError::ShuttingDown
        ));
    }
}
