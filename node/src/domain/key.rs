//! The key space of the replicated state. Domain records live under `d/` and
//! make up the state digest; bookkeeping (request ids, restore progress) lives
//! under `x/` and does not.

use super::command::RequestId;
use super::slot::SlotId;

/// Version of the stored encoding (records, log entries, snapshot files);
/// bumped on incompatible changes. 2: byte fields as base64; 3: Raft log
/// entries in postcard; 4: a certificate with its chain, sealed key, summary
/// and origin as one `cert` object in the CA and slot records (older backups
/// are upgraded as they are restored, see `upgrade`).
pub const FORMAT_VERSION: u32 = 4;

/// Prefix of the keys that hold domain records.
pub const DOMAIN_PREFIX: &[u8] = b"d/";

/// Key prefixes of the client records and their indexes. Ids and user names
/// never contain `/` (see `validate_client_name`), so the last segment of an
/// index key is always the client id.
pub const KEY_CA: &str = "d/ca";
pub const SLOT_PREFIX: &str = "d/slot/";
pub const COUNT_PREFIX: &str = "d/clients/count/";
pub const NODE_ENDPOINTS_PREFIX: &str = "d/node-endpoints/";
pub const CLIENT_PREFIX: &str = "d/client/";
pub const EPOCH_INDEX: &str = "d/cidx/epoch/";
pub const USER_INDEX: &str = "d/cidx/user/";
pub const EXPIRY_INDEX: &str = "d/cidx/expiry/";
pub const REVOKED_INDEX: &str = "d/cidx/revoked/";

/// A typed key of the replicated state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Settings,
    /// The certificate authority.
    Ca,
    /// One router certificate slot.
    Slot(SlotId),
    /// Where a node's client listeners are (reported by the node itself).
    NodeEndpoints(u64),
    /// How many live clients are provisioned under a CA epoch.
    ClientCount(u64),
    /// A provisioned client.
    Client(String),
    /// Index: client `id` was provisioned under CA `epoch`.
    ClientByEpoch(u64, String),
    /// Index: client `id` belongs to `user`.
    ClientByUser(String, String),
    /// Index: client `id` expires at `not_after` (Unix seconds).
    ClientByExpiry(i64, String),
    /// Index: client `id` is revoked.
    ClientRevoked(String),
    Request(RequestId),
    Restore,
}

impl Key {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Key::Settings => b"d/settings".to_vec(),
            Key::Ca => KEY_CA.as_bytes().to_vec(),
            Key::Slot(slot) => match slot.node {
                Some(node) => format!("{SLOT_PREFIX}{}/{node}", slot.kind).into_bytes(),
                None => format!("{SLOT_PREFIX}{}", slot.kind).into_bytes(),
            },
            Key::ClientCount(epoch) => format!("{COUNT_PREFIX}{epoch:016x}").into_bytes(),
            Key::NodeEndpoints(node) => format!("{NODE_ENDPOINTS_PREFIX}{node:016x}").into_bytes(),
            Key::Client(id) => format!("{CLIENT_PREFIX}{id}").into_bytes(),
            Key::ClientByEpoch(epoch, id) => format!("{EPOCH_INDEX}{epoch:016x}/{id}").into_bytes(),
            Key::ClientByUser(user, id) => format!("{USER_INDEX}{user}/{id}").into_bytes(),
            Key::ClientByExpiry(at, id) => {
                format!("{EXPIRY_INDEX}{:016x}/{id}", (*at).max(0)).into_bytes()
            }
            Key::ClientRevoked(id) => format!("{REVOKED_INDEX}{id}").into_bytes(),
            Key::Request(id) => [b"x/req/".as_slice(), &id.0].concat(),
            Key::Restore => b"x/restore".to_vec(),
        }
    }

    /// Whether a raw key belongs to the domain records (and the digest).
    pub fn is_domain(raw: &[u8]) -> bool {
        raw.starts_with(DOMAIN_PREFIX)
    }

    /// Whether a raw key is one a node writes about itself (where its client
    /// listeners are), not something an operator made: it does not make a
    /// cluster "hold data", and a restore keeps the cluster's own.
    pub fn is_node_reported(raw: &[u8]) -> bool {
        raw.starts_with(NODE_ENDPOINTS_PREFIX.as_bytes())
    }
}
