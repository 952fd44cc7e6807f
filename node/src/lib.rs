//! mrouter node: a Raft-replicated mobility router certificate service.
//!
//! Data flows one way: [`api`] (gRPC) → [`raft`] (replication, storage) →
//! [`domain`] (pure state machine rules); [`pki`] holds the cryptography.

#![forbid(unsafe_code)]

pub mod api;
pub mod certstore;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dev;
pub mod domain;
pub mod pki;
pub mod raft;
pub mod server;
pub mod tls;
pub mod tls_tool;
