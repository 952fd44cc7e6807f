//! The four router certificate slots: `local` and `remote` (one per node) and
//! `local-virtual`, `remote-virtual` (one per cluster). Each holds an active
//! certificate, an optional pending one, at most one CSR with its key, and the
//! time a certificate was last generated for it. Private keys are stored
//! sealed (invariant 2); the domain never opens them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::certificate::San;
use super::error::DomainError;
use super::sealed_cert::SealedCert;

/// Which of the four router certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SlotKind {
    Local,
    Remote,
    LocalVirtual,
    RemoteVirtual,
}

impl SlotKind {
    pub const ALL: [SlotKind; 4] = [
        SlotKind::Local,
        SlotKind::Remote,
        SlotKind::LocalVirtual,
        SlotKind::RemoteVirtual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::Local => "local",
            SlotKind::Remote => "remote",
            SlotKind::LocalVirtual => "local-virtual",
            SlotKind::RemoteVirtual => "remote-virtual",
        }
    }

    /// Virtual slots are one per cluster, served on the virtual address.
    pub fn is_virtual(self) -> bool {
        matches!(self, SlotKind::LocalVirtual | SlotKind::RemoteVirtual)
    }

    /// Remote slots face Secure Remote Access (the remote access FQDN).
    pub fn is_remote(self) -> bool {
        matches!(self, SlotKind::Remote | SlotKind::RemoteVirtual)
    }
}

impl fmt::Display for SlotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SlotKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SlotKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| DomainError::UnknownSlot { value: s.into() })
    }
}

/// A slot: its kind and, for `local`/`remote`, the node it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlotId {
    pub kind: SlotKind,
    /// `Some` exactly for the per-node kinds.
    pub node: Option<u64>,
}

impl SlotId {
    /// The slot of `kind`; `node` is kept for per-node kinds and dropped for
    /// virtual ones.
    pub fn new(kind: SlotKind, node: u64) -> Self {
        SlotId {
            kind,
            node: (!kind.is_virtual()).then_some(node),
        }
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(n) => write!(f, "{} of node {n}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// A certificate installed in a slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotCert {
    pub cert: SealedCert,
    /// The CA epoch that signed it, when our CA did.
    pub ca_epoch: Option<u64>,
    pub installed_at_ms: u64,
}

/// The slot's certificate signing request and its sealed key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotCsr {
    #[serde(with = "super::base64_bytes")]
    pub csr_der: Vec<u8>,
    #[serde(with = "super::base64_bytes")]
    pub sealed_key: Vec<u8>,
    pub subject: String,
    pub sans: Vec<San>,
    pub key_type: String,
    /// Ties the CSR's key to the certificate a CA sends back.
    pub spki_sha256: String,
    pub created_at_ms: u64,
}

impl fmt::Debug for SlotCsr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotCsr")
            .field("subject", &self.subject)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// Everything a slot holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub active: Option<SlotCert>,
    pub pending: Option<SlotCert>,
    pub csr: Option<SlotCsr>,
    pub last_generated_ms: Option<u64>,
}

/// Which certificate of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertState {
    Active,
    Pending,
}

impl fmt::Display for CertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertState::Active => "active",
            CertState::Pending => "pending",
        })
    }
}

impl SlotRecord {
    /// The certificate in `state`, if any.
    pub fn cert(&self, state: CertState) -> Option<&SlotCert> {
        match state {
            CertState::Active => self.active.as_ref(),
            CertState::Pending => self.pending.as_ref(),
        }
    }
}
