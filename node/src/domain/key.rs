//! The key space of the replicated state. Domain records live under `d/` and
//! make up the state digest; bookkeeping (request ids, restore progress) lives
//! under `x/` and does not.

use super::command::RequestId;
use super::slot::SlotId;

/// Version of the stored record encoding; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Prefix of the keys that hold domain records.
pub const DOMAIN_PREFIX: &[u8] = b"d/";

/// A typed key of the replicated state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Settings,
    /// The certificate authority.
    Ca,
    /// One router certificate slot.
    Slot(SlotId),
    /// How many clients are provisioned under a CA epoch.
    ClientCount(u64),
    Request(RequestId),
    Restore,
}

impl Key {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Key::Settings => b"d/settings".to_vec(),
            Key::Ca => b"d/ca".to_vec(),
            Key::Slot(slot) => match slot.node {
                Some(node) => format!("d/slot/{}/{node}", slot.kind).into_bytes(),
                None => format!("d/slot/{}", slot.kind).into_bytes(),
            },
            Key::ClientCount(epoch) => format!("d/clients/count/{epoch}").into_bytes(),
            Key::Request(id) => [b"x/req/".as_slice(), &id.0].concat(),
            Key::Restore => b"x/restore".to_vec(),
        }
    }

    /// Whether a raw key belongs to the domain records (and the digest).
    pub fn is_domain(raw: &[u8]) -> bool {
        raw.starts_with(DOMAIN_PREFIX)
    }
}
