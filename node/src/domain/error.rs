//! Why a command was refused. Every variant names what to fix; the storage
//! layer returns it as the entry's outcome and nothing in the state changes.

use serde::{Deserialize, Serialize};

/// A deterministic refusal of a command or query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum DomainError {
    /// A setting that must be a DNS name is not one.
    #[error("{field} {} is not a valid DNS name: {reason}", echo(.value))]
    InvalidDnsName {
        field: String,
        value: String,
        reason: String,
    },
    /// A setting that must be an IP address is not one.
    #[error("{field} {} is not a valid IP address: {reason}", echo(.value))]
    InvalidIp {
        field: String,
        value: String,
        reason: String,
    },
    /// The mode is neither `standalone` nor `clustered`.
    #[error("mode {} is not valid: use standalone or clustered", echo(.value))]
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
    /// A batch held a command that may not be batched (a proposer's bug).
    #[error("{command} cannot be applied as part of a batch")]
    NotBatchable { command: String },
    /// A restored record's key is outside the domain key space.
    #[error("the snapshot holds a record outside the domain key space: the file is not an mrouter snapshot")]
    ForeignRecord,
    /// After the last chunk the state did not match the snapshot.
    #[error("restored state digest {actual} does not match the snapshot's {expected}")]
    RestoreDigestMismatch { expected: String, actual: String },
    /// RSA below 2048 bits.
    #[error("RSA keys of {bits} bits are refused: below 2048 bits RSA can be factored with today's means (NIST has disallowed it since 2013); use rsa2048, rsa3072, rsa4096, ecdsa-p256 or ecdsa-p384")]
    WeakKey { bits: u32 },
    /// A key type we do not generate.
    #[error("key type {} is not supported: use rsa2048, rsa3072, rsa4096, ecdsa-p256 or ecdsa-p384", echo(.value))]
    UnknownKeyType { value: String },
    /// Country is not two letters.
    #[error("country {} is not an ISO 3166 two-letter code (like US, DE, GB)", echo(.value))]
    InvalidCountry { value: String },
    /// The common name is empty.
    #[error(
        "the common name is empty: give the FQDN, host name or IP address the certificate is for"
    )]
    EmptyCommonName,
    /// A subject field is too long or holds control characters.
    #[error("subject field {field} is not valid: {reason}")]
    InvalidSubjectField { field: String, reason: String },
    /// A subject alternative name is neither a valid DNS name nor an IP.
    #[error("subject alternative name {} is not valid: {reason}", echo(.value))]
    InvalidSan { value: String, reason: String },
    /// A slot name that is none of the four.
    #[error("slot {} is not a router certificate slot: use local, remote, local-virtual or remote-virtual", echo(.value))]
    UnknownSlot { value: String },
    /// No CA is installed yet.
    #[error(
        "no certificate authority — generate or import one (mrctl ca generate | mrctl ca import)"
    )]
    NoCa,
    /// A page token that is not a position in the listing asked for.
    #[error("page_token does not belong to this listing: pass next_page_token exactly as it came, with the same state and user filter")]
    InvalidPageToken,
    /// A request id sent again with a different request.
    #[error("request id {id} was used for a different request: a retry must repeat the request exactly; use a new request id for a new request")]
    RequestIdReused { id: String },
    /// A digested command inside another (never proposed by this code).
    #[error("a request digest wraps another request digest")]
    NestedDigest,
    /// The CA changed between preparing a request and applying it.
    #[error("the certificate authority changed while this request was prepared (epoch {expected} expected, {current} now): run the command again")]
    CaChanged { expected: u64, current: u64 },
    /// Replacing the CA without the explicit confirmation.
    #[error("replacing the certificate authority invalidates {clients} provisioned clients (they stop working until re-provisioned): confirm it with confirm_invalidate_clients")]
    ConfirmationRequired { clients: u64 },
    /// Activation without a pending certificate.
    #[error("the {slot} slot has no pending certificate: generate or import one first")]
    NoPendingCertificate { slot: String },
    /// A virtual slot cannot be activated before the virtual address is set.
    #[error("the {slot} slot serves the virtual address, but none is configured: set the virtual_address setting")]
    NoVirtualAddress { slot: String },
    /// A virtual slot certificate that does not cover the cluster's names.
    #[error("the certificate for {slot} does not cover {}: it must name the virtual address and the cluster domain", missing.join(", "))]
    VirtualNamesMissing { slot: String, missing: Vec<String> },
    /// The slot's CSR was replaced while its certificate was being imported.
    #[error("the CSR of the {slot} slot was replaced while this certificate was imported: its key no longer matches the slot's CSR")]
    CsrChanged { slot: String },
    /// A client state name that is none of the four.
    #[error(
        "client state {} is not known: use provisioned, invalidated, revoked or expired",
        echo(.value)
    )]
    UnknownClientState { value: String },
    /// A client id, user or device that is not valid.
    #[error("{field} {} is not valid: {reason}", echo(.value))]
    InvalidClientField {
        field: String,
        value: String,
        reason: String,
    },
    /// Provisioning an id that exists, without `--replace`.
    #[error("client {id} is already provisioned: set replace to issue it a new certificate, or reprovision it")]
    ClientExists { id: String },
    /// A client id that is not provisioned.
    #[error("client {} is not provisioned (see the client list)", echo(.id))]
    UnknownClient { id: String },
    /// Re-provisioning a revoked client.
    #[error("client {id} is revoked: provision it again with replace set if it should come back")]
    ClientIsRevoked { id: String },
    /// Revoking a client twice.
    #[error("client {id} was already revoked")]
    ClientAlreadyRevoked { id: String },
    /// A validity longer than the kind of certificate may have.
    #[error("validity must be between 1 and {max} days, got {days}")]
    InvalidValidity { days: u32, max: u32 },
    /// The CA's own validity has ended: it signs nothing more.
    #[error("the certificate authority expired at {not_after}: generate or import a new one (mrctl ca generate | mrctl ca import)")]
    CaExpired { not_after: String },
}

/// How much of a refused value an error repeats.
const ECHO_CHARS: usize = 48;

/// `value` quoted for an error message, cut to its first few dozen
/// characters: a refused 10 000-character name is not echoed whole.
pub fn echo(value: &str) -> String {
    let count = value.chars().count();
    if count <= ECHO_CHARS {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(ECHO_CHARS).collect();
    format!("{head:?}… ({count} characters)")
}
