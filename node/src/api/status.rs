//! The one place errors become gRPC status codes: every layer's error enum
//! is mapped here, by exhaustive matches, so handlers end in `?`.

use tonic::{Code, Status};

use crate::certstore::CertStoreError;
use crate::domain::DomainError;
use crate::raft::{PeerRpcError, ReplicaError};

/// A request refused by the API layer itself, before any other layer saw it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error(transparent)]
    CertStore(#[from] CertStoreError),
    /// A required field is empty; `expected` says what it takes.
    #[error("{field} is required ({expected})")]
    MissingField {
        field: &'static str,
        expected: &'static str,
    },
    #[error("{field} {value} is not a known value: use {names}")]
    UnknownEnumValue {
        field: String,
        value: i32,
        names: String,
    },
    #[error("node id {id} is listed twice")]
    DuplicateMember { id: u64 },
    #[error("name at least one node to promote")]
    NothingToPromote,
    #[error("page_token is not one this cluster returned: pass next_page_token exactly as it came, or none for the first page")]
    UnknownPageToken,
    #[error("limit {limit} is more than a page holds (at most {max}): ask for fewer and follow next_page_token")]
    PageTooLarge { limit: u32, max: u32 },
    #[error("a PKCS#12 password applies only to a key made here: with a CSR the key stays on the device")]
    PasswordWithCsr,
    #[error("no files to import: give the certificate (and key, chain) files")]
    NoFiles,
    /// This node's own files (a snapshot being streamed) failed.
    #[error("{operation} failed: {source}")]
    Io {
        operation: &'static str,
        source: std::io::Error,
    },
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Replica(ReplicaError::Domain(e))
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Replica(e) => e.into(),
            ApiError::CertStore(e) => e.into(),
            ApiError::MissingField { .. }
            | ApiError::UnknownEnumValue { .. }
            | ApiError::DuplicateMember { .. }
            | ApiError::NothingToPromote
            | ApiError::UnknownPageToken
            | ApiError::PageTooLarge { .. }
            | ApiError::PasswordWithCsr
            | ApiError::NoFiles => Status::invalid_argument(e.to_string()),
            ApiError::Io { .. } => Status::internal(e.to_string()),
        }
    }
}

impl From<ReplicaError> for Status {
    fn from(e: ReplicaError) -> Self {
        to_status(e)
    }
}

/// Maps an error to the status code a client can act on; the message is the
/// error's own text, which never carries secrets.
fn to_status(e: ReplicaError) -> Status {
    let code = match &e {
        ReplicaError::Domain(d) => match d {
            DomainError::InvalidDnsName { .. }
            | DomainError::InvalidIp { .. }
            | DomainError::InvalidMode { .. }
            | DomainError::ForeignRecord
            | DomainError::WeakKey { .. }
            | DomainError::UnknownKeyType { .. }
            | DomainError::InvalidCountry { .. }
            | DomainError::EmptyCommonName
            | DomainError::InvalidSubjectField { .. }
            | DomainError::InvalidSan { .. }
            | DomainError::UnknownSlot { .. }
            | DomainError::UnknownClientState { .. }
            | DomainError::InvalidClientField { .. }
            | DomainError::RequestIdReused { .. }
            | DomainError::InvalidPageToken
            | DomainError::InvalidValidity { .. } => Code::InvalidArgument,
            // Refusals of a proposal this code never makes: a bug.
            DomainError::NotBatchable { .. } | DomainError::NestedDigest => Code::Internal,
            DomainError::ClientExists { .. } => Code::AlreadyExists,
            DomainError::UnknownClient { .. } => Code::NotFound,
            DomainError::ClientIsRevoked { .. } | DomainError::ClientAlreadyRevoked { .. } => {
                Code::FailedPrecondition
            }
            DomainError::ClusteredWithoutVirtualAddress
            | DomainError::NotEmpty
            | DomainError::NoRestoreInProgress
            | DomainError::OtherRestoreInProgress { .. }
            | DomainError::RestoreDigestMismatch { .. }
            | DomainError::NoCa
            | DomainError::CaChanged { .. }
            | DomainError::ConfirmationRequired { .. }
            | DomainError::NoPendingCertificate { .. }
            | DomainError::NoVirtualAddress { .. }
            | DomainError::VirtualNamesMissing { .. }
            | DomainError::CsrChanged { .. }
            | DomainError::CaExpired { .. } => Code::FailedPrecondition,
        },
        ReplicaError::InvalidAddress { .. }
        | ReplicaError::InvalidRequestId { .. }
        | ReplicaError::BadSnapshot { .. } => Code::InvalidArgument,
        ReplicaError::NotInitialized
        | ReplicaError::AlreadyInitialized { .. }
        | ReplicaError::LastVoter { .. }
        | ReplicaError::SealKeyMismatch { .. }
        | ReplicaError::Removed { .. } => Code::FailedPrecondition,
        ReplicaError::UnknownNode { .. } => Code::NotFound,
        ReplicaError::AlreadyMember { .. } => Code::AlreadyExists,
        ReplicaError::NotLeader { .. }
        | ReplicaError::NoLeader { .. }
        | ReplicaError::Unreachable { .. }
        | ReplicaError::TransferTimeout { .. }
        | ReplicaError::InstallingSnapshot { .. }
        | ReplicaError::CommitUnknown
        | ReplicaError::ShuttingDown => Code::Unavailable,
        ReplicaError::UnexpectedReply { .. }
        | ReplicaError::Raft { .. }
        | ReplicaError::Storage { .. } => Code::Internal,
    };
    let mut status = Status::new(code, e.to_string());
    if matches!(e, ReplicaError::Removed { .. }) {
        // Lets a client move on to another node without parsing the text.
        status.metadata_mut().insert(
            REMOVED_KEY,
            tonic::metadata::MetadataValue::from_static("1"),
        );
    }
    if matches!(e, ReplicaError::CommitUnknown) {
        status.metadata_mut().insert(
            RETRY_SAME_KEY,
            tonic::metadata::MetadataValue::from_static("1"),
        );
    }
    status
}

/// Metadata key set on every refusal of a node removed from the cluster.
pub const REMOVED_KEY: &str = "mrouter-node-removed";
/// Metadata key set when the same request (same request id) should be sent
/// again: its commit is unknown, and the id makes a retry safe.
pub const RETRY_SAME_KEY: &str = "mrouter-retry-same-request";

/// Refuses every call once this node was removed from the cluster.
pub fn member_check(
    replica: std::sync::Arc<crate::raft::Replica>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, Status> + Clone {
    move |request| match replica.check_member() {
        Ok(()) => Ok(request),
        Err(e) => Err(e.into()),
    }
}

/// A certificate store error: bad files and choices are the caller's to fix
/// (INVALID_ARGUMENT); replica errors map as above.
impl From<CertStoreError> for Status {
    fn from(e: CertStoreError) -> Self {
        let code = match &e {
            CertStoreError::Replica(r) => return to_status(r.clone()),
            CertStoreError::Pki(p) if p.is_invalid_input() => Code::InvalidArgument,
            CertStoreError::Pki(_) | CertStoreError::Task(_) => Code::Internal,
            CertStoreError::NotMember { .. }
            | CertStoreError::NoCertificate { .. }
            | CertStoreError::AlreadyDelivered { .. } => Code::FailedPrecondition,
        };
        Status::new(code, e.to_string())
    }
}

/// A node-to-node request refused before openraft saw it.
impl From<PeerRpcError> for Status {
    fn from(e: PeerRpcError) -> Self {
        let code = match &e {
            // The sender's stream failed: its own status, unchanged.
            PeerRpcError::Stream(status) => return status.clone(),
            PeerRpcError::BadPayload { .. }
            | PeerRpcError::EmptySnapshotStream
            | PeerRpcError::BadSnapshotHeader { .. }
            | PeerRpcError::NotASnapshot
            | PeerRpcError::SnapshotLonger { .. }
            | PeerRpcError::SnapshotShorter { .. } => Code::InvalidArgument,
            PeerRpcError::SnapshotTooLarge { .. } => Code::ResourceExhausted,
            PeerRpcError::SnapshotCorrupt { .. } => Code::DataLoss,
            PeerRpcError::Io { .. } | PeerRpcError::Task(_) => Code::Internal,
            PeerRpcError::NotANode => Code::Unauthenticated,
            PeerRpcError::SpeaksForAnother { .. } | PeerRpcError::NotAMember { .. } => {
                Code::PermissionDenied
            }
        };
        Status::new(code, e.to_string())
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
