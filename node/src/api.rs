//! The public gRPC services (`mrouter.v1`): decode the request into domain
//! terms, call the [`Replica`](crate::raft::Replica), encode the reply.

mod ca;
mod cert_views;
mod clients;
mod cluster;
mod names;
mod router_certs;
mod settings;
mod status;

pub use ca::CaApi;
pub use clients::ClientsApi;
pub use cluster::ClusterApi;
pub use router_certs::RouterCertsApi;
pub use settings::SettingsApi;
pub use status::{member_check, ApiError};

use crate::raft::Consistency;

/// The `stale` flag of a read request.
fn consistency(stale: bool) -> Consistency {
    if stale {
        Consistency::Stale
    } else {
        Consistency::Linearizable
    }
}
