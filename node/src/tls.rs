//! TLS for the router's listeners: the certificate resolver that serves a
//! slot's active certificate from the replicated state and picks up a new one
//! at the next handshake (the source's "restart" becomes a live reload). The
//! listeners themselves come with client provisioning.

mod slot_resolver;

pub use slot_resolver::{SlotResolver, SlotSource};
