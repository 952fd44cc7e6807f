//! The certificate store's operations: everything between a decoded request and
//! a Raft proposal. Keys are generated, certificates signed and bundles checked
//! here, on the node that took the request and off the async runtime threads,
//! *before* proposing (invariant 1); private keys are sealed before they enter
//! a proposal (invariant 2).

mod ca;
mod clients;
mod slots;

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::domain::{
    CaView, Command, DomainError, LookupWrite, Proposal, ReadCa, ReadSettings, ReadSlots, Reply,
    RequestKey, SealedCert, Settings, SlotId, SlotRecord, WriteLookup,
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
    #[error("key generation or signing task failed: {0}")]
    Task(String),
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

    /// The private key of a stored certificate, checked against its public key.
    fn open_sealed(&self, cert: &SealedCert) -> Result<PrivateKey, CertStoreError> {
        self.open_key(&cert.sealed_key, &cert.summary.spki_sha256)
    }

    /// A stored certificate and its chain as PEM, with the key only when asked.
    fn export_pem(
        &self,
        cert: &SealedCert,
        include_key: bool,
    ) -> Result<Zeroizing<String>, CertStoreError> {
        let mut pem = Zeroizing::new(String::new());
        for der in cert.chain_with_leaf() {
            pem.push_str(&pki::to_pem("CERTIFICATE", der));
        }
        if include_key {
            pem.push_str(&self.open_sealed(cert)?.to_pem());
        }
        Ok(pem)
    }

    /// The settings as this node has applied them.
    pub async fn settings_view(&self) -> Result<Settings, CertStoreError> {
        self.settings(Consistency::Stale).await
    }

    async fn settings(&self, consistency: Consistency) -> Result<Settings, CertStoreError> {
        Ok(self.replica.ask(ReadSettings, consistency).await?)
    }

    async fn ca_view(&self, consistency: Consistency) -> Result<CaView, CertStoreError> {
        Ok(self.replica.ask(ReadCa, consistency).await?)
    }

    async fn slots(
        &self,
        slots: Vec<SlotId>,
        consistency: Consistency,
    ) -> Result<Vec<(SlotId, SlotRecord)>, CertStoreError> {
        Ok(self.replica.ask(ReadSlots(slots), consistency).await?)
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
        let WriteLookup { log_index, digest } = self
            .replica
            .ask(LookupWrite(key.id), Consistency::Linearizable)
            .await?;
        match (log_index, digest) {
            (Some(_), Some(first)) if first != key.digest => Err(DomainError::RequestIdReused {
                id: key.id.to_string(),
            }
            .into()),
            (log_index, _) => Ok(log_index),
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
