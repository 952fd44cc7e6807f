//! Generated protobuf and gRPC code for mrouter: the public API
//! (`mrouter.v1`) and the node-to-node Raft transport (`mrouter.raft.v1`).
//! These types stay at the edge; nodes convert them to domain types.

#![allow(clippy::all, clippy::pedantic)]

pub mod v1 {
    tonic::include_proto!("mrouter.v1");
}

mod json_time;
pub mod names;
mod redacted;

pub mod raft {
    pub mod v1 {
        tonic::include_proto!("mrouter.raft.v1");
    }
}
