//! The public gRPC services (`mrouter.v1`): decode the request into domain
//! terms, call the [`Replica`](crate::raft::Replica), encode the reply.

mod cluster;
mod settings;
mod status;

pub use cluster::ClusterApi;
pub use settings::SettingsApi;
pub use status::to_status;

/// A reply of the wrong kind for the request: a bug, reported as INTERNAL.
fn unexpected(reply: impl std::fmt::Debug) -> tonic::Status {
    tonic::Status::internal(format!("unexpected reply {reply:?}"))
}
