//! The replicated state machine's rules: commands, queries, records, validation
//! and a deterministic `apply()`. Pure Rust: no async, no I/O; the storage layer
//! hands `apply` a read-only [`StateView`] and persists the [`Change`]s it returns.

mod command;
mod digest;
mod error;
mod key;
mod names;
mod settings;
mod state;

pub use command::{Command, Proposal, Query, QueryReply, Reply, RequestId};
pub use digest::StateDigest;
pub use error::DomainError;
pub use key::{Key, DOMAIN_PREFIX, FORMAT_VERSION};
pub use names::{validate_dns_name, validate_ip};
pub use settings::{Mode, Settings, SettingsPatch};
pub use state::{apply, query, Applied, Change, CorruptRecord, Outcome, StateView};

#[cfg(test)]
mod tests;
