//! TLS for the router's listeners: the certificate resolver that serves a
//! slot's active certificate from the replicated state and picks up a new one
//! at the next handshake (the source's "restart" becomes a live reload), the
//! client verifier that checks provisioned clients against replicated state
//! at every handshake, and the listeners (local, remote, and the virtual
//! ones on the leader).

mod client_verifier;
mod listener;
mod router;
mod slot_resolver;
#[cfg(test)]
mod test_handshake;

pub use client_verifier::{ClientSource, ClientVerifier};
pub use listener::{serve, ListenerContext, ListenerTls};
pub use router::{start, ListenError};
pub use slot_resolver::{SlotResolver, SlotSource};
