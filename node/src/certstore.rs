//! The certificate store's operations: everything between a decoded request and
//! a Raft proposal. Keys are generated, certificates signed and bundles checked
//! here, on the node that took the request and off the async runtime threads,
//! *before* proposing (invariant 1); private keys are sealed before they enter
//! a proposal (invariant 2).

mod ca;
mod clients;
mod slots;

use std::sync::Arc;

use crate::clock::now_s;
use crate::domain::{
    CaView, Command, DomainError, Proposal, Query, QueryReply, Reply, RequestKey, Settings, SlotId,
    SlotRecord,
};
use crate::pki::{self, PkiError, PrivateKey, SealKey};
use crate::raft::{Batcher, Consistency, Replica, ReplicaError};

pub use ca::{CaOutcome, CaSource, GenerateCa, ImpactReport, InstallCa};
pub use clients::{key_pem, ProvisionInput, Provisioned};
pub use slots::{CertOptions, CsrOutcome, SlotOutcome, SlotView};

/// Why a certificate store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CertStoreError {
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("node {node} is not a member of the cluster: the local and remote slots belong to members (see mrctl cluster status)")]
    NotMember { node: u64 },
    #[error("the {slot} slot has no {state} certificate")]
    NoCertificate { slot: String, state: String },
    #[error("validity must be between 1 and {max} days, got {days}")]
    InvalidValidity { days: u32, max: u32 },
    #[error("no subject alternative names are left: add one in sans.add or keep a default")]
    NoSans,
    #[error("key generation or signing task failed: {0}")]
    Task(String),
    #[error("the certificate authority expired at {not_after}: generate or import a new one (mrctl ca generate | mrctl ca import)")]
    CaExpired { not_after: String },
    #[error("this request to provision {id} was applied before, and its private key was delivered then (keys made here are never stored): provision it again with replace set for a new key, or send a CSR (keep the device's key) so a retry can be answered again")]
    AlreadyDelivered { id: String },
}

impl From<DomainError> for CertStoreError {
    fn from(e: DomainError) -> Self {
        CertStoreError::Replica(ReplicaError::Domain(e))
    }
}

/// The certificate store as the API layer uses it.
pub struct CertStore {
    replica: Arc<Replica>,
    seal: Arc<SealKey>,
    crl: std::sync::Mutex<Option<clients::CachedCrl>>,
    /// The CA signer of the last epoch used (unsealed key, parsed once).
    signer: std::sync::Mutex<Option<(u64, Arc<pki::CaSigner>)>>,
    /// Group commit for the per-client writes.
    batcher: Batcher,
}

impl CertStore {
    pub fn new(replica: Arc<Replica>, seal: Arc<SealKey>) -> Self {
        Self {
            batcher: Batcher::start(replica.clone()),
            replica,
            seal,
            crl: std::sync::Mutex::new(None),
            signer: std::sync::Mutex::new(None),
        }
    }

    pub fn node_id(&self) -> u64 {
        self.replica.id()
    }

    fn seal_key(&self, key: &PrivateKey) -> Result<Vec<u8>, CertStoreError> {
        Ok(pki::seal_private_key(&self.seal, key)?)
    }

    fn open_key(&self, sealed: &[u8], spki_sha256: &str) -> Result<PrivateKey, CertStoreError> {
        Ok(pki::open_private_key(&self.seal, sealed, spki_sha256)?)
    }

    /// The settings as this node has applied them.
    pub async fn settings_view(&self) -> Result<Settings, CertStoreError> {
        self.settings(Consistency::Stale).await
    }

    async fn settings(&self, consistency: Consistency) -> Result<Settings, CertStoreError> {
        match self.replica.read(Query::Settings, consistency).await? {
            QueryReply::Settings(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    async fn ca_view(&self, consistency: Consistency) -> Result<CaView, CertStoreError> {
        match self.replica.read(Query::Ca, consistency).await? {
            QueryReply::Ca(view) => Ok(*view),
            other => Err(unexpected(other)),
        }
    }

    async fn slots(
        &self,
        slots: Vec<SlotId>,
        consistency: Consistency,
    ) -> Result<Vec<(SlotId, SlotRecord)>, CertStoreError> {
        match self.replica.read(Query::Slots(slots), consistency).await? {
            QueryReply::Slots(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    /// The log index at which `request_id` was applied, if it was: a
    /// retried request must not generate keys or be judged again.
    async fn applied_before(
        &self,
        request: Option<RequestKey>,
    ) -> Result<Option<u64>, CertStoreError> {
        let Some(key) = request else {
            return Ok(None);
        };
        match self
            .replica
            .read(Query::LookupWrite(key.id), Consistency::Linearizable)
            .await?
        {
            QueryReply::LookupWrite {
                digest: Some(first),
                log_index: Some(_),
            } if first != key.digest => Err(DomainError::RequestIdReused {
                id: key.id.to_string(),
            }
            .into()),
            QueryReply::LookupWrite { log_index, .. } => Ok(log_index),
            other => Err(unexpected(other)),
        }
    }

    async fn write(
        &self,
        command: Command,
        request_id: Option<RequestKey>,
    ) -> Result<(Reply, u64), CertStoreError> {
        let batchable = command.batchable();
        let proposal: Proposal = Replica::proposal(command, request_id);
        if batchable {
            Ok(self.batcher.write(proposal).await?)
        } else {
            Ok(self.replica.write(proposal).await?)
        }
    }
}

/// Runs CPU-heavy crypto (RSA key generation takes up to seconds) on the
/// blocking pool, never on the runtime's worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CertStoreError> + Send + 'static,
) -> Result<T, CertStoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CertStoreError::Task(e.to_string()))?
}

fn unexpected(reply: impl std::fmt::Debug) -> CertStoreError {
    CertStoreError::Replica(ReplicaError::unexpected("a certificate store read", &reply))
}

/// Parses a key type, default rsa2048.
fn key_spec(value: &str) -> Result<crate::domain::KeySpec, CertStoreError> {
    if value.trim().is_empty() {
        return Ok(crate::domain::KeySpec::Rsa2048);
    }
    Ok(value.parse()?)
}

fn validity(days: u32, default: u32, max: u32) -> Result<(i64, i64), CertStoreError> {
    let days = if days == 0 { default } else { days };
    if days > max {
        return Err(CertStoreError::InvalidValidity { days, max });
    }
    // Back-date by an hour so a peer with a slightly slow clock accepts it.
    let now = now_s();
    Ok((now - 3600, now + i64::from(days) * 86_400))
}

/// Checks the CA may sign now and caps a new certificate's end at the CA's
/// own (a certificate outliving its issuer fails verification), saying so.
fn within_ca(
    ca: &crate::domain::CaRecord,
    not_after: i64,
    warnings: &mut Vec<String>,
) -> Result<i64, CertStoreError> {
    let ca_end = ca.summary.not_after;
    let rfc3339 = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| t.to_string())
    };
    if now_s() >= ca_end {
        return Err(CertStoreError::CaExpired {
            not_after: rfc3339(ca_end),
        });
    }
    if not_after > ca_end {
        warnings.push(format!(
            "the certificate would outlive its CA: it ends with the CA at {}",
            rfc3339(ca_end)
        ));
        return Ok(ca_end);
    }
    Ok(not_after)
}
