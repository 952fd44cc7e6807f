//! TLS for the router's listeners: the certificate resolver that serves a
//! slot's active certificate from the replicated state and picks up a new one
//! at the next handshake (the source's "restart" becomes a live reload), the
//! client verifier that checks provisioned clients against replicated state
//! at every handshake, and the listeners (local, remote, and the virtual
//! ones on the leader). And the node's own TLS on its gRPC port: the node
//! certificate from the cluster CA, reloaded when its files change, and the
//! connections labelled with the node they come from.

mod client_verifier;
mod grpc_incoming;
mod listener;
mod node_tls;
mod router;
mod slot_resolver;
#[cfg(test)]
mod test_handshake;

pub use client_verifier::{ClientSource, ClientVerifier};
pub use grpc_incoming::{incoming, GrpcConn, PeerAuth, PeerInfo};
pub use listener::{serve, ListenerContext, ListenerTls};
pub use node_tls::{NodeTls, NodeTlsError};
pub use router::{start, ListenError};
pub use slot_resolver::{SlotResolver, SlotSource};
