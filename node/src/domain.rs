//! The replicated state machine's rules: commands, queries, records, validation
//! and a deterministic `apply()`. Pure Rust: no async, no I/O; the storage layer
//! hands `apply` a read-only [`StateView`] and persists the [`Change`]s it returns.

mod authority;
mod base64_bytes;
mod cert_request;
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
mod read;
mod sealed_cert;
mod settings;
mod slot;
mod state;
mod upgrade;
mod validity;

pub use authority::{CaRecord, CaView};
pub use cert_request::{
    cn_warning, default_sans, host_san, import_warnings, pending_note, CertRequest, PreparedCert,
    SanChoice,
};
pub use certificate::{
    is_unsafe_char, CertSummary, KeySpec, Origin, San, Subject, DEFAULT_COUNTRY,
};
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
pub use read::{
    ClientAt, ClientCounts, CountClients, ListClients, ListRevoked, LookupWrite, Read, ReadCa,
    ReadClient, ReadNodeEndpoints, ReadSettings, ReadSlots, RevokedClients, WriteLookup,
};
pub use sealed_cert::SealedCert;
pub use settings::{Mode, Settings, SettingsPatch};
pub use slot::{CertState, SlotCert, SlotCsr, SlotId, SlotKind, SlotRecord};
pub use state::{
    apply, holds_operator_records, query, Applied, Change, CorruptRecord, Outcome, Records,
    StateView,
};
pub use upgrade::upgrade_record;
pub use validity::{
    rfc3339, Validity, ValidityPolicy, CA_VALIDITY, CLIENT_VALIDITY, ROUTER_VALIDITY,
};

#[cfg(test)]
mod cert_request_tests;
#[cfg(test)]
mod certificate_tests;
#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod tests;
