//! The replicated state machine's rules: commands, queries, records, validation
//! and a deterministic `apply()`. Pure Rust: no async, no I/O; the storage layer
//! hands `apply` a read-only [`StateView`] and persists the [`Change`]s it returns.

mod authority;
mod base64_bytes;
mod certificate;
mod client;
mod clients;
mod command;
mod digest;
mod error;
mod installs;
mod key;
mod layered;
mod names;
mod settings;
mod slot;
mod state;

pub use authority::{CaRecord, CaView, NewCa};
pub use certificate::{is_unsafe_char, CertSummary, KeySpec, Origin, San, Subject};
pub use client::{
    validate_client_name, validate_device, ClientFilter, ClientPage, ClientRecord, ClientState,
    KeyOrigin, Revocation,
};
pub use clients::MAX_PAGE;
pub use command::{
    Command, NodeEndpoints, Proposal, Query, QueryReply, Reply, RequestDigest, RequestId,
    RequestKey,
};
pub use digest::StateDigest;
pub use error::DomainError;
pub use installs::virtual_names;
pub use key::{Key, DOMAIN_PREFIX, FORMAT_VERSION};
pub use layered::Layered;
pub use names::{validate_dns_name, validate_ip};
pub use settings::{Mode, Settings, SettingsPatch};
pub use slot::{CertState, SlotCert, SlotCsr, SlotId, SlotKind, SlotRecord};
pub use state::{
    apply, holds_operator_records, query, Applied, Change, CorruptRecord, Outcome, Records,
    StateView,
};

#[cfg(test)]
mod certificate_tests;
#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod tests;
