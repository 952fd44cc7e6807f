//! The one place errors become gRPC status codes.

use tonic::{Code, Status};

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
            | DomainError::ForeignRecord => Code::InvalidArgument,
            DomainError::ClusteredWithoutVirtualAddress
            | DomainError::NotEmpty
            | DomainError::NoRestoreInProgress
            | DomainError::OtherRestoreInProgress { .. }
            | DomainError::RestoreDigestMismatch { .. } => Code::FailedPrecondition,
        },
        ReplicaError::InvalidAddress { .. }
        | ReplicaError::InvalidRequestId { .. }
        | ReplicaError::BadSnapshot { .. } => Code::InvalidArgument,
        ReplicaError::NotInitialized
        | ReplicaError::AlreadyInitialized { .. }
        | ReplicaError::LastVoter { .. }
        | ReplicaError::SealKeyMismatch { .. } => Code::FailedPrecondition,
        ReplicaError::UnknownNode { .. } => Code::NotFound,
        ReplicaError::AlreadyMember { .. } => Code::AlreadyExists,
        ReplicaError::NotLeader { .. }
        | ReplicaError::NoLeader { .. }
        | ReplicaError::Unreachable { .. }
        | ReplicaError::TransferTimeout { .. } => Code::Unavailable,
        ReplicaError::Raft { .. } | ReplicaError::Storage { .. } => Code::Internal,
    };
    Status::new(code, e.to_string())
}
