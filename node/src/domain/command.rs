//! What a client asks of the state machine: proposals (writes carried in Raft
//! entries) and queries (reads), with their replies.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::authority::CaView;
use super::client::{ClientFilter, ClientPage, ClientRecord};
use super::error::DomainError;
use super::sealed_cert::SealedCert;
use super::settings::{Settings, SettingsPatch};
use super::slot::{SlotCert, SlotCsr, SlotId, SlotRecord};
use super::StateDigest;

/// Idempotency key of a write: a retry with the same id is applied once.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId(pub [u8; 16]);

impl RequestId {
    /// Parses the 16 raw bytes a client sent; `None` when the length is wrong.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(Self)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({self})")
    }
}

/// A digest of what a request asked (every field but its request id): a
/// retry under the same request id must ask the same, or is refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestDigest(pub [u8; 32]);

impl fmt::Debug for RequestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestDigest({})", hex::encode(&self.0[..8]))
    }
}

/// A client's idempotency key, with the digest of the request it came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestKey {
    pub id: RequestId,
    pub digest: RequestDigest,
}

/// The payload of one Raft entry. Everything non-deterministic (ids, time,
/// later keys and signatures) is decided by the proposer and carried here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub request_id: RequestId,
    /// Wall-clock time at the proposer, milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub command: Command,
}

/// Where one node's client listeners are, as `host:port` (empty: none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEndpoints {
    pub node: u64,
    pub local: String,
    pub remote: String,
    pub virtual_local_port: u16,
    pub virtual_remote_port: u16,
}

/// A change to the replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Change the express-setup settings (only the fields present).
    SetSettings(SettingsPatch),
    /// Install a generated or imported CA, replacing the one at
    /// `replaces_epoch` (0: none). Replacing needs the explicit confirmation.
    InstallCa {
        ca: Box<SealedCert>,
        replaces_epoch: u64,
        confirm_invalidate_clients: bool,
    },
    /// Store a new certificate in a slot as pending (or active).
    PutSlotCert {
        slot: SlotId,
        cert: Box<SlotCert>,
        activate: bool,
        /// Generated here (sets the slot's last generated time).
        generated: bool,
        /// The slot CSR whose key the certificate uses (spki hash), if any.
        from_csr: Option<String>,
    },
    /// Replace the slot's CSR and key.
    PutSlotCsr { slot: SlotId, csr: Box<SlotCsr> },
    /// Make the slot's pending certificate active.
    ActivateSlot { slot: SlotId },
    /// Store a client signed by the proposer. `replace` allows an existing
    /// id; `reprovision` requires one (and refuses a revoked client).
    ProvisionClient {
        client: Box<ClientRecord>,
        replace: bool,
        reprovision: bool,
    },
    /// Revoke a client: its certificate is refused from now on and listed in the CRL.
    RevokeClient { id: String, reason: String },
    /// A node reports where its client listeners are (clients get the list).
    SetNodeEndpoints(NodeEndpoints),
    /// Start restoring a saved snapshot into an empty cluster.
    RestoreBegin { records: u64, digest: StateDigest },
    /// Write one batch of restored domain records.
    RestoreChunk { records: Vec<(Vec<u8>, Vec<u8>)> },
    /// Finish a restore: the state must now match the snapshot's digest.
    RestoreFinish { records: u64, digest: StateDigest },
    /// Client writes that one node gathered while its previous entries were
    /// in flight (group commit): applied in order, each with its own request
    /// id and outcome, exactly as if each were an entry of its own. Only
    /// [`Command::batchable`] commands.
    Batch(Vec<Proposal>),
    /// `command`, sent with a client's request id and the digest of the
    /// request: the digest is recorded with the id, and a later proposal
    /// with the same id but another digest is refused.
    Digested {
        digest: RequestDigest,
        command: Box<Command>,
    },
}

impl Command {
    /// Wraps `command` with the digest of its request, when there is one.
    pub fn digested(command: Command, digest: Option<RequestDigest>) -> Command {
        match digest {
            Some(digest) => Command::Digested {
                digest,
                command: Box::new(command),
            },
            None => command,
        }
    }

    /// The command itself and the request digest it carries.
    pub fn undigested(&self) -> (&Command, Option<RequestDigest>) {
        match self {
            Command::Digested { digest, command } => (command.as_ref(), Some(*digest)),
            other => (other, None),
        }
    }

    /// Short name for logs and traces (never the contents).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Digested { command, .. } => command.name(),
            Command::SetSettings(_) => "set-settings",
            Command::InstallCa { .. } => "install-ca",
            Command::PutSlotCert { .. } => "put-slot-cert",
            Command::PutSlotCsr { .. } => "put-slot-csr",
            Command::ActivateSlot { .. } => "activate-slot",
            Command::ProvisionClient { .. } => "provision-client",
            Command::RevokeClient { .. } => "revoke-client",
            Command::SetNodeEndpoints(_) => "set-node-endpoints",
            Command::RestoreBegin { .. } => "restore-begin",
            Command::RestoreChunk { .. } => "restore-chunk",
            Command::RestoreFinish { .. } => "restore-finish",
            Command::Batch(_) => "batch",
        }
    }

    /// Whether the command may travel in a [`Command::Batch`]: the per-client
    /// writes that come at high rates.
    pub fn batchable(&self) -> bool {
        matches!(
            self.undigested().0,
            Command::ProvisionClient { .. } | Command::RevokeClient { .. }
        )
    }
}

/// The successful result of applying a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A blank or membership entry: nothing for a client.
    Noop,
    Settings {
        settings: Settings,
        warnings: Vec<String>,
    },
    /// The CA now installed and the epoch it got.
    CaInstalled {
        epoch: u64,
    },
    /// The slot after the change.
    Slot(Box<SlotRecord>),
    /// The client after the change.
    Client(Box<ClientRecord>),
    /// A node's endpoints were recorded.
    NodeEndpointsSet,
    RestoreStarted,
    RestoreChunkWritten {
        records: u64,
    },
    Restored {
        records: u64,
        digest: StateDigest,
    },
    /// The request id was applied before, at this log index; nothing changed now.
    AlreadyApplied {
        log_index: u64,
    },
    /// The outcome of each proposal of a [`Command::Batch`], in order.
    Batch(Vec<Result<Reply, DomainError>>),
}

/// A read of the replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    Settings,
    Ca,
    Slots(Vec<SlotId>),
    Client(String),
    ListClients {
        filter: ClientFilter,
        after: Option<Vec<u8>>,
        limit: u32,
        /// Unix seconds at the reader: decides who has expired.
        now: i64,
    },
    ClientCounts,
    RevokedClients,
    NodeEndpoints,
    LookupWrite(RequestId),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryReply {
    Settings(Settings),
    Ca(Box<CaView>),
    Slots(Vec<(SlotId, SlotRecord)>),
    /// A client, with the CA epoch of the same state (to derive its state).
    Client {
        client: Option<Box<ClientRecord>>,
        ca_epoch: u64,
    },
    Clients(ClientPage),
    ClientCounts {
        current_epoch: u64,
        by_epoch: Vec<(u64, u64)>,
    },
    RevokedClients {
        ca_epoch: u64,
        clients: Vec<ClientRecord>,
    },
    NodeEndpoints(Vec<NodeEndpoints>),
    LookupWrite {
        log_index: Option<u64>,
        /// The digest of the request first applied under the id, when it
        /// came with one.
        digest: Option<RequestDigest>,
    },
}
