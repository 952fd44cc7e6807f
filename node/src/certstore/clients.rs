//! Provisioning mobile clients: sign a client certificate for the client's
//! own key (from its CSR) or for a key made here and handed out once; revoke;
//! re-provision under the current CA; list; and the CRL.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::{blocking, CertStore, CertStoreError};
use crate::clock::{now_ms, now_s};
use crate::domain::{
    is_unsafe_char, validate_client_name, validate_device, CaRecord, ClientAt, ClientCounts,
    ClientFilter, ClientPage, ClientRecord, Command, CountClients, DomainError, KeyOrigin, KeySpec,
    ListClients, ListRevoked, NodeEndpoints, ReadClient, ReadNodeEndpoints, Reply, RequestKey,
    RevokedClients, Validity, CLIENT_VALIDITY,
};
use crate::pki::{self, PrivateKey};
use crate::raft::{Consistency, ReplicaError};

/// How long a published CRL stays valid; it is re-signed well before.
const CRL_VALIDITY_S: i64 = 7 * 86_400;
const CRL_REFRESH_S: i64 = 3600;

/// What a provisioning request asks for.
pub struct ProvisionInput {
    pub id: String,
    pub user: String,
    pub device: Option<String>,
    /// The client's CSR (PEM or DER); `None`: make the key here.
    pub csr: Option<Vec<u8>>,
    pub key_type: String,
    pub validity_days: u32,
    pub replace: bool,
}

/// A provisioned client, with the key when it was made here (delivered once).
#[derive(Debug)]
pub struct Provisioned {
    pub client: ClientRecord,
    pub ca_cert: Vec<u8>,
    pub key: Option<PrivateKey>,
    pub log_index: u64,
}

/// A client certificate to sign and propose: whom it names, its public key,
/// and how the proposal treats an existing client.
struct ClientCertJob {
    id: String,
    user: String,
    device: Option<String>,
    spki_der: Vec<u8>,
    key_type: String,
    key_origin: KeyOrigin,
    window: Validity,
    replace: bool,
    reprovision: bool,
}

/// A proposed client certificate; `client` is `None` when the request id
/// was applied before (the stored client is then read back).
struct Proposed {
    client: Option<ClientRecord>,
    log_index: u64,
    ca_cert: Vec<u8>,
}

/// The CRL as last signed.
#[derive(Clone)]
pub(super) struct CachedCrl {
    epoch: u64,
    revoked: usize,
    number: u64,
    signed_at: i64,
    der: Arc<Vec<u8>>,
}

impl CertStore {
    /// The CA for signing: this node's applied copy (the proposal carries its
    /// epoch, and apply refuses a stale one), or a confirmed read when asked.
    /// The unsealed, checked signer is kept per epoch.
    async fn signing_ca(
        &self,
        fresh: bool,
    ) -> Result<(CaRecord, Arc<pki::CaSigner>), CertStoreError> {
        let consistency = if fresh {
            Consistency::Linearizable
        } else {
            Consistency::Stale
        };
        let ca = self
            .ca_view(consistency)
            .await?
            .ca
            .ok_or(DomainError::NoCa)?;
        if let Some((epoch, signer)) = self
            .signer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if *epoch == ca.epoch {
                return Ok((ca, signer.clone()));
            }
        }
        let key = self.open_sealed(&ca.cert)?;
        let signer = Arc::new(pki::CaSigner::new(&ca.cert.der, &key)?);
        *self.signer.lock().unwrap_or_else(|e| e.into_inner()) = Some((ca.epoch, signer.clone()));
        Ok((ca, signer))
    }

    /// Provisions a client.
    pub async fn provision(
        &self,
        input: ProvisionInput,
        request_id: Option<RequestKey>,
    ) -> Result<Provisioned, CertStoreError> {
        let ProvisionInput {
            id,
            user,
            device,
            csr,
            key_type,
            validity_days,
            replace,
        } = input;
        validate_client_name("id", &id)?;
        validate_client_name("user", &user)?;
        if let Some(d) = &device {
            validate_device(d)?;
        }
        let window = CLIENT_VALIDITY.window(validity_days, now_s())?;
        // The client's public key: from its CSR (signature and key checked),
        // or a key made here.
        let (spki_der, key_type, key) = match &csr {
            Some(csr) => {
                let der = csr_der(csr)?;
                let summary = pki::inspect_csr(&der)?;
                pki::check_client_key(&summary.key_type)?;
                (summary.spki_der, summary.key_type, None)
            }
            None => {
                let spec = KeySpec::parse_or(&key_type, KeySpec::EcdsaP256)?;
                let key = blocking(move || Ok(PrivateKey::generate(spec)?)).await?;
                (key.spki_der(), key.key_type(), Some(key))
            }
        };
        let job = ClientCertJob {
            key_origin: if key.is_some() {
                KeyOrigin::Server
            } else {
                KeyOrigin::Csr
            },
            id,
            user,
            device,
            spki_der,
            key_type,
            window,
            replace,
            reprovision: false,
        };
        let proposed = self.sign_and_propose(&job, request_id).await?;
        let client = match proposed.client {
            Some(client) => client,
            None => {
                // Applied before under this request id. Either this very
                // proposal committed and was proposed again after a leader
                // change (the stored client holds this attempt's key, never
                // delivered), or the client retried: then the stored key
                // is the first attempt's, delivered then and not kept.
                let client = self.existing_client(&job.id).await?;
                if key.is_some() && client.spki_der != job.spki_der {
                    return Err(CertStoreError::AlreadyDelivered { id: job.id });
                }
                client
            }
        };
        Ok(Provisioned {
            client,
            ca_cert: proposed.ca_cert,
            key,
            log_index: proposed.log_index,
        })
    }

    /// Signs the client's existing public key again under the current CA.
    pub async fn reprovision(
        &self,
        id: &str,
        validity_days: u32,
        request_id: Option<RequestKey>,
    ) -> Result<(ClientRecord, u64), CertStoreError> {
        let window = CLIENT_VALIDITY.window(validity_days, now_s())?;
        let old = self.existing_client(id).await?;
        let job = ClientCertJob {
            id: old.id,
            user: old.user,
            device: old.device,
            spki_der: old.spki_der,
            key_type: old.key_type,
            key_origin: old.key_origin,
            window,
            replace: true,
            reprovision: true,
        };
        let proposed = self.sign_and_propose(&job, request_id).await?;
        let client = match proposed.client {
            Some(client) => client,
            None => self.existing_client(id).await?,
        };
        Ok((client, proposed.log_index))
    }

    /// Signs a client certificate under this node's copy of the CA and
    /// proposes it; when the CA changed meanwhile (this node had not applied
    /// the latest one yet), confirms the CA and does it once more.
    async fn sign_and_propose(
        &self,
        job: &ClientCertJob,
        request_id: Option<RequestKey>,
    ) -> Result<Proposed, CertStoreError> {
        let mut fresh = false;
        loop {
            let (ca, signer) = self.signing_ca(fresh).await?;
            let record = self.sign_client(&ca, signer, job).await?;
            let command = Command::ProvisionClient {
                client: Box::new(record),
                replace: job.replace,
                reprovision: job.reprovision,
            };
            let (client, log_index) = match self.write(command, request_id).await {
                Err(CertStoreError::Replica(ReplicaError::Domain(DomainError::CaChanged {
                    ..
                }))) if !fresh => {
                    fresh = true;
                    continue;
                }
                Err(e) => return Err(e),
                Ok((Reply::Client(client), log_index)) => (Some(*client), log_index),
                Ok((_, log_index)) => (None, log_index),
            };
            return Ok(Proposed {
                client,
                log_index,
                ca_cert: ca.cert.der,
            });
        }
    }

    async fn sign_client(
        &self,
        ca: &CaRecord,
        signer: Arc<pki::CaSigner>,
        job: &ClientCertJob,
    ) -> Result<ClientRecord, CertStoreError> {
        // The CA's end caps the window. Its warning is not passed on (as
        // before this code moved): the replies' `warnings` could carry it.
        let (window, _) = job.window.within_ca(ca.cert.summary.not_after, now_s())?;
        let (id, user, spki) = (job.id.clone(), job.user.clone(), job.spki_der.clone());
        let cert = blocking(move || {
            Ok(pki::sign_client_cert_with(
                &signer,
                &id,
                &user,
                &spki,
                window.not_before,
                window.not_after,
                &pki::random_serial(),
            )?)
        })
        .await?;
        let summary = pki::inspect(&cert)?;
        Ok(ClientRecord {
            id: job.id.clone(),
            user: job.user.clone(),
            device: job.device.clone(),
            serial: summary.serial,
            cert_der: cert,
            spki_der: job.spki_der.clone(),
            key_type: job.key_type.clone(),
            key_origin: job.key_origin,
            ca_epoch: ca.epoch,
            not_before: window.not_before,
            not_after: window.not_after,
            provisioned_at_ms: now_ms(),
            revoked: None,
        })
    }

    /// A client that must exist (read after a write that was applied before).
    async fn existing_client(&self, id: &str) -> Result<ClientRecord, CertStoreError> {
        self.client(id, Consistency::Linearizable)
            .await?
            .ok_or_else(|| DomainError::UnknownClient { id: id.into() }.into())
    }

    pub async fn revoke(
        &self,
        id: &str,
        reason: &str,
        request_id: Option<RequestKey>,
    ) -> Result<(ClientRecord, u64), CertStoreError> {
        validate_client_name("id", id)?;
        if reason.chars().any(is_unsafe_char) {
            return Err(DomainError::InvalidClientField {
                field: "reason".into(),
                value: reason.to_string(),
                reason: "it contains a control or bidirectional-text character".into(),
            }
            .into());
        }
        let reason = if reason.trim().is_empty() {
            "unspecified"
        } else {
            reason.trim()
        };
        let command = Command::RevokeClient {
            id: id.to_string(),
            reason: reason.chars().take(256).collect(),
        };
        match self.write(command, request_id).await? {
            (Reply::Client(c), log_index) => Ok((*c, log_index)),
            (_, log_index) => Ok((self.existing_client(id).await?, log_index)),
        }
    }

    pub async fn client(
        &self,
        id: &str,
        consistency: Consistency,
    ) -> Result<Option<ClientRecord>, CertStoreError> {
        Ok(self.client_view(id, consistency).await?.0)
    }

    /// A client and the CA epoch, from one read at `consistency`: its state
    /// is derived from the epoch of the same state it was read from.
    pub async fn client_view(
        &self,
        id: &str,
        consistency: Consistency,
    ) -> Result<(Option<ClientRecord>, u64), CertStoreError> {
        validate_client_name("id", id)?;
        let ClientAt { client, ca_epoch } = self
            .replica
            .ask(ReadClient(id.to_string()), consistency)
            .await?;
        Ok((client, ca_epoch))
    }

    pub async fn list_clients(
        &self,
        filter: ClientFilter,
        after: Option<Vec<u8>>,
        limit: u32,
        consistency: Consistency,
    ) -> Result<ClientPage, CertStoreError> {
        if let Some(u) = &filter.user {
            validate_client_name("user", u)?;
        }
        let list = ListClients {
            filter,
            after,
            limit,
            now: now_s(),
        };
        Ok(self.replica.ask(list, consistency).await?)
    }

    /// Every node's listener addresses as the nodes reported them.
    pub async fn node_endpoints(&self) -> Result<Vec<NodeEndpoints>, CertStoreError> {
        Ok(self
            .replica
            .ask(ReadNodeEndpoints, Consistency::Stale)
            .await?)
    }

    /// Live clients per epoch and the current epoch.
    pub async fn client_counts(
        &self,
        consistency: Consistency,
    ) -> Result<ClientCounts, CertStoreError> {
        Ok(self.replica.ask(CountClients, consistency).await?)
    }

    /// The CRL (DER) of the current CA, re-signed when a revocation or the CA
    /// changed, and hourly so that it never goes stale.
    pub async fn crl(&self) -> Result<(Arc<Vec<u8>>, usize), CertStoreError> {
        let RevokedClients {
            ca_epoch,
            clients: revoked,
        } = self.replica.ask(ListRevoked, Consistency::Stale).await?;
        let number = revoked
            .iter()
            .filter_map(|c| c.revoked.as_ref().map(|r| r.log_index))
            .max()
            .unwrap_or(0);
        let now = now_s();
        {
            let cached = self.crl.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = cached.as_ref() {
                if c.epoch == ca_epoch
                    && c.revoked == revoked.len()
                    && c.number == number
                    && now - c.signed_at < CRL_REFRESH_S
                {
                    return Ok((c.der.clone(), c.revoked));
                }
            }
        }
        let (ca, signer) = self.signing_ca(false).await?;
        let list: Vec<pki::RevokedSerial> = revoked
            .iter()
            .filter(|c| c.ca_epoch == ca.epoch)
            .filter_map(|c| {
                c.revoked.as_ref().map(|r| pki::RevokedSerial {
                    serial_hex: c.serial.clone(),
                    revoked_at: (r.at_ms / 1000) as i64,
                })
            })
            .collect();
        let count = list.len();
        let der = blocking(move || {
            Ok(pki::sign_crl(
                &signer,
                &list,
                number.max(1),
                now - 60,
                now + CRL_VALIDITY_S,
            )?)
        })
        .await?;
        let der = Arc::new(der);
        *self.crl.lock().unwrap_or_else(|e| e.into_inner()) = Some(CachedCrl {
            epoch: ca.epoch,
            revoked: revoked.len(),
            number,
            signed_at: now,
            der: der.clone(),
        });
        Ok((der, count))
    }
}

/// A CSR given as PEM (`CERTIFICATE REQUEST`) or DER.
/// The most a client CSR may hold (a 16 384-bit RSA CSR is below 5 KiB).
const MAX_CSR_BYTES: usize = 64 << 10;

fn csr_der(bytes: &[u8]) -> Result<Vec<u8>, CertStoreError> {
    if bytes.is_empty() {
        return Err(pki::PkiError::Empty.into());
    }
    if bytes.len() > MAX_CSR_BYTES {
        return Err(pki::PkiError::InvalidCsr {
            reason: format!(
                "it is {} bytes, and a CSR is at most {} KiB: is it the right file?",
                bytes.len(),
                MAX_CSR_BYTES >> 10
            ),
        }
        .into());
    }
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let parsed = pem::parse(bytes).map_err(|e| pki::PkiError::InvalidCsr {
            reason: format!("the PEM does not parse: {e}"),
        })?;
        if !parsed.tag().contains("CERTIFICATE REQUEST") {
            return Err(pki::PkiError::InvalidCsr {
                reason: format!(
                    "the PEM block is {:?}, not CERTIFICATE REQUEST",
                    parsed.tag()
                ),
            }
            .into());
        }
        return Ok(parsed.into_contents());
    }
    Ok(bytes.to_vec())
}

/// The private key of a server-made client key as PEM (delivered once).
pub fn key_pem(key: &PrivateKey) -> Zeroizing<String> {
    key.to_pem()
}
