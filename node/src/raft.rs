//! Replication: openraft's type configuration, the RocksDB log and state
//! machine, the snapshot file format, the tonic transport between nodes, and
//! the [`Replica`] that routes writes and linearizable reads to the leader.

mod batcher;
mod codec;
mod error;
mod forward;
mod log_store;
mod network;
mod removal;
mod replica;
mod service;
mod snapshot_file;
pub mod snapshot_policy;
mod state_machine;
mod store;
mod types;

pub use batcher::Batcher;
pub use error::{Cause, ReplicaError};
pub use forward::{ForwardRequest, ForwardResponse, MemberInfo, NodeStatus, VirtualListeners};
pub use log_store::LogStore;
pub use network::{decode, encode, NetworkFactory, Peers, MAX_MESSAGE};
pub use removal::Removal;
pub use replica::validate_addr;
pub use replica::{Consistency, Replica, RestoreProgress};
pub use service::{nodes_only, PeerRpcError, RaftService};
pub use snapshot_file::{SnapshotFileError, SnapshotHeader, SnapshotReader};
pub use state_machine::StateMachine;
pub use store::{open, StoreError};
pub use types::{Raft, TypeConfig};

#[cfg(test)]
mod tests;
