//! openraft's type configuration for mrouter.

use std::fmt;

use crate::domain::{Outcome, Proposal};

openraft::declare_raft_types!(
    /// Raft entries carry domain [`Proposal`]s; applying one yields an [`Outcome`].
    pub TypeConfig:
        D = Proposal,
        R = Outcome,
);

pub type Raft = openraft::Raft<TypeConfig, super::StateMachine>;

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: a proposal may carry sealed key material.
        write!(f, "{} ({})", self.command.name(), self.request_id)
    }
}
