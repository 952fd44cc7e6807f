//! The local Raft member as the API sees it: writes, linearizable reads and
//! membership changes run on the leader, forwarded there from any node; stale
//! reads and status are served locally.
//!
//! One `impl Replica` per concern: `writes` (proposals, and running requests
//! on the leader), `reads`, `membership`, `snapshots` and `status`.

mod membership;
mod reads;
mod snapshots;
mod status;
mod writes;

use std::path::Path;

use super::forward::VirtualListeners;
use super::network::Peers;
use super::removal::Removal;
use super::state_machine::{StateMachine, StateReader};
use super::types::Raft;

pub use membership::validate_addr;
pub use snapshots::RestoreProgress;

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Confirmed by the leader with a quorum, and applied here.
    Linearizable,
    /// Whatever this node has applied.
    Stale,
}

pub struct Replica {
    id: u64,
    addr: String,
    raft: Raft,
    reader: StateReader,
    sm: StateMachine,
    peers: Peers,
    seal_key_id: String,
    removal: Removal,
    virtual_listeners: std::sync::Mutex<Option<VirtualListeners>>,
}

impl Replica {
    pub fn new(
        id: u64,
        addr: String,
        raft: Raft,
        sm: StateMachine,
        peers: Peers,
        seal_key_id: String,
        removal: Removal,
    ) -> Self {
        Self {
            id,
            addr,
            reader: sm.reader(),
            raft,
            sm,
            peers,
            seal_key_id,
            removal,
            virtual_listeners: std::sync::Mutex::new(None),
        }
    }

    /// Records what this node's virtual listeners do, for status.
    pub fn set_virtual_listeners(&self, state: Option<VirtualListeners>) {
        *self
            .virtual_listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = state;
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where temporary snapshot files (uploads, exports) are written.
    pub fn scratch_dir(&self) -> &Path {
        self.sm.snapshot_dir()
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The key that authenticates snapshot files (from the seal key).
    pub fn snapshot_key(&self) -> &crate::pki::SnapshotKey {
        self.sm.snapshot_key()
    }
}
