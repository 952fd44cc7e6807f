//! The one place errors become gRPC status codes.

use tonic::{Code, Status};

use crate::certstore::CertStoreError;
use crate::domain::DomainError;
use crate::raft::ReplicaError;

/// Maps an error to the status code a client can act on; the message is the
/// error's own text, which never carries secrets.
pub fn to_status(e: ReplicaError) -> Status {
    let code = match &e {
        ReplicaError::Domain(d) => match d {
            DomainError::InvalidDnsName { .. }
            | DomainError::InvalidIp { .. }
            | DomainError::InvalidMode { .. }
            | DomainError::ForeignRecord
            | DomainError::NotBatchable { .. }
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
            | DomainError::NestedDigest => Code::InvalidArgument,
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
            | DomainError::CsrChanged { .. } => Code::FailedPrecondition,
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
        | ReplicaError::CommitUnknown => Code::Unavailable,
        ReplicaError::Raft { .. } | ReplicaError::Storage { .. } => Code::Internal,
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
        Err(e) => Err(to_status(e)),
    }
}

/// Maps a certificate store error: bad files and choices are the caller's to
/// fix (INVALID_ARGUMENT); the rest follows [`to_status`].
pub fn cert_status(e: CertStoreError) -> Status {
    match e {
        CertStoreError::Replica(e) => to_status(e),
        CertStoreError::Pki(p) if p.is_invalid_input() => Status::invalid_argument(p.to_string()),
        CertStoreError::Pki(p) => Status::internal(p.to_string()),
        CertStoreError::NotMember { .. } => Status::failed_precondition(e.to_string()),
        CertStoreError::NoCertificate { .. }
        | CertStoreError::AlreadyDelivered { .. }
        | CertStoreError::CaExpired { .. } => Status::failed_precondition(e.to_string()),
        CertStoreError::InvalidValidity { .. } | CertStoreError::NoSans => {
            Status::invalid_argument(e.to_string())
        }
        CertStoreError::Task(_) => Status::internal(e.to_string()),
    }
}
