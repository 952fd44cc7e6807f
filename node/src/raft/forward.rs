//! What one node asks of another besides Raft itself: operations that must run
//! on the leader (forwarded there), and a node's view of itself for status.

use serde::{Deserialize, Serialize};

use crate::domain::{Proposal, Query, QueryReply, Reply};

/// An operation that runs on the leader.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ForwardRequest {
    Write(Proposal),
    Read(Query),
    AddLearner { id: u64, addr: String, wait: bool },
    Promote { ids: Vec<u64> },
    Remove { id: u64 },
    TransferLeader { to: u64 },
    TriggerSnapshot { purge_log: bool },
}

impl ForwardRequest {
    pub fn name(&self) -> &'static str {
        match self {
            ForwardRequest::Write(p) => p.command.name(),
            ForwardRequest::Read(_) => "read",
            ForwardRequest::AddLearner { .. } => "add-learner",
            ForwardRequest::Promote { .. } => "promote",
            ForwardRequest::Remove { .. } => "remove",
            ForwardRequest::TransferLeader { .. } => "transfer-leader",
            ForwardRequest::TriggerSnapshot { .. } => "trigger-snapshot",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: u64,
    pub addr: String,
    pub voter: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ForwardResponse {
    Written {
        reply: Reply,
        log_index: u64,
    },
    /// The reply, and the leader's read index it is linearizable at.
    Read {
        reply: QueryReply,
        read_index: u64,
    },
    Membership {
        members: Vec<MemberInfo>,
        log_index: u64,
    },
    Leader {
        id: u64,
    },
    Snapshot {
        node_id: u64,
        index: u64,
    },
}

/// One node's view of itself.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node_id: u64,
    pub addr: String,
    pub initialized: bool,
    /// Leader, Follower, Candidate or Learner.
    pub state: String,
    pub term: u64,
    pub leader_id: Option<u64>,
    pub last_log_index: u64,
    /// The highest log index this node knows to be committed.
    pub commit_index: u64,
    pub applied_index: u64,
    pub digest: String,
    pub snapshot_index: u64,
    pub members: Vec<MemberInfo>,
    pub seal_key_id: String,
    /// What this node's virtual listeners do; `None` when it has no
    /// virtual ports.
    pub virtual_listeners: Option<VirtualListeners>,
}

/// The state of a leader's virtual listeners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VirtualListeners {
    /// Not leading, or no virtual address is set.
    Closed,
    Serving {
        address: String,
    },
    /// Binding failed (the address is not on this host, say); retried with
    /// backoff.
    CannotBind {
        address: String,
        error: String,
    },
}

impl VirtualListeners {
    /// The address it serves or tries to.
    pub fn address(&self) -> Option<&str> {
        match self {
            VirtualListeners::Closed => None,
            VirtualListeners::Serving { address }
            | VirtualListeners::CannotBind { address, .. } => Some(address),
        }
    }
}
