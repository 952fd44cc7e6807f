//! Generated protobuf and gRPC code for mrouter: the public API
//! (`mrouter.v1`) and the node-to-node Raft transport (`mrouter.raft.v1`).
//! These types stay at the edge; nodes convert them to domain types.
//! [`connect`] is the TLS connection to a node that `mrd`, `mrctl` and the
//! tests share.

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("mrouter.v1");
}

pub mod connect;
mod json_time;
pub mod names;
mod redacted;

pub mod raft {
    #[allow(clippy::all, clippy::pedantic)]
    pub mod v1 {
        tonic::include_proto!("mrouter.raft.v1");
    }
}
