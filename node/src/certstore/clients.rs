//! Provisioning mobile clients: sign a client certificate for the client's
//! own key (from its CSR) or for a key made here and handed out once; revoke;
//! re-provision under the current CA; list; and the CRL.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::{blocking, key_spec, validity, CertStore, CertStoreError};
use crate::clock::{now_ms, now_s};
use crate::domain::{
    is_unsafe_char, validate_client_name, validate_device, CaRecord, ClientFilter, ClientPage,
    ClientRecord, Command, DomainError, KeyOrigin, KeySpec, NodeEndpoints, Query, QueryReply,
    Reply, RequestKey,
};
use crate::pki::{self, PrivateKey};
use crate::raft::Consistency;

const CLIENT_DEFAULT_DAYS: u32 = 365;
const CLIENT_MAX_DAYS: u32 = 3650;
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
        let key = self.open_key(&ca.sealed_key, &ca.summary.spki_sha256)?;
        let signer = Arc::new(pki::CaSigner::new(&ca.cert_der, &key)?);
        *self.signer.lock().unwrap_or_else(|e| e.into_inner()) = Some((ca.epoch, signer.clone()));
        Ok((ca, signer))
    }

    /// Provisions a client.
    pub async fn provision(
        &self,
        input: ProvisionInput,
        request_id: Option<RequestKey>,
    ) -> Result<Provisioned, CertStoreError> {
        validate_client_name("id", &input.id)?;
        validate_client_name("user", &input.user)?;
        if let Some(d) = &input.device {
            validate_device(d)?;
        }
        let window = validity(input.validity_days, CLIENT_DEFAULT_DAYS, CLIENT_MAX_DAYS)?;
        // The client's public key: from its CSR (signature and key checked),
        // or a key made here.
        let (spki_der, key_type, key) = match &input.csr {
            Some(csr) => {
                let der = csr_der(csr)?;
                let summary = pki::inspect_csr(&der)?;
                pki::check_client_key(&summary.key_type)?;
                (summary.spki_der, summary.key_type, None)
            }
            None => {
                let spec = if input.key_type.trim().is_empty() {
                    KeySpec::EcdsaP256
                } else {
                    key_spec(&input.key_type)?
                };
                let key = blocking(move || Ok(PrivateKey::generate(spec)?)).await?;
                (key.spki_der(), key.key_type(), Some(key))
            }
        };
        let key_origin = if key.is_some() {
            KeyOrigin::Server
        } else {
            KeyOrigin::Csr
        };
        let mut fresh = false;
        loop {
            let (ca, signer) = self.signing_ca(fresh).await?;
            let record = self
                .sign_client(
                    &ca, signer, &input, &spki_der, &key_type, key_origin, window,
                )
                .await?;
            let command = Command::ProvisionClient {
                client: Box::new(record),
                replace: input.replace,
                reprovision: false,
            };
            match self.write(command, request_id).await {
                Err(CertStoreError::Replica(crate::raft::ReplicaError::Domain(
                    DomainError::CaChanged { .. },
                ))) if !fresh => {
                    // This node had not applied the latest CA yet: confirm and retry.
                    fresh = true;
                }
                Err(e) => return Err(e),
                Ok((Reply::Client(client), log_index)) => {
                    return Ok(Provisioned {
                        client: *client,
                        ca_cert: ca.cert_der,
                        key,
                        log_index,
                    })
                }
                Ok((_, log_index)) => {
                    // Applied before under this request id. Either this very
                    // proposal committed and was proposed again after a leader
                    // change (the stored client holds this attempt's key, never
                    // delivered), or the client retried: then the stored key
                    // is the first attempt's, delivered then and not kept.
                    let client = self
                        .client(&input.id, Consistency::Linearizable)
                        .await?
                        .ok_or(DomainError::UnknownClient {
                            id: input.id.clone(),
                        })?;
                    if key.is_some() && client.spki_der != spki_der {
                        return Err(CertStoreError::AlreadyDelivered { id: input.id });
                    }
                    return Ok(Provisioned {
                        client,
                        ca_cert: ca.cert_der,
                        key,
                        log_index,
                    });
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn sign_client(
        &self,
        ca: &CaRecord,
        signer: Arc<pki::CaSigner>,
        input: &ProvisionInput,
        spki_der: &[u8],
        key_type: &str,
        key_origin: KeyOrigin,
        (not_before, not_after): (i64, i64),
    ) -> Result<ClientRecord, CertStoreError> {
        let not_after = super::within_ca(ca, not_after, &mut Vec::new())?;
        let (id, user, spki) = (input.id.clone(), input.user.clone(), spki_der.to_vec());
        let cert = blocking(move || {
            Ok(pki::sign_client_cert_with(
                &signer,
                &id,
                &user,
                &spki,
                not_before,
                not_after,
                &pki::random_serial(),
            )?)
        })
        .await?;
        let summary = pki::inspect(&cert)?;
        Ok(ClientRecord {
            id: input.id.clone(),
            user: input.user.clone(),
            device: input.device.clone(),
            serial: summary.serial,
            cert_der: cert,
            spki_der: spki_der.to_vec(),
            key_type: key_type.to_string(),
            key_origin,
            ca_epoch: ca.epoch,
            not_before,
            not_after,
            provisioned_at_ms: now_ms(),
            revoked: None,
        })
    }

    /// Signs the client's existing public key again under the current CA.
    pub async fn reprovision(
        &self,
        id: &str,
        validity_days: u32,
        request_id: Option<RequestKey>,
    ) -> Result<(ClientRecord, u64), CertStoreError> {
        let window = validity(validity_days, CLIENT_DEFAULT_DAYS, CLIENT_MAX_DAYS)?;
        let old = self
            .client(id, Consistency::Linearizable)
            .await?
            .ok_or(DomainError::UnknownClient { id: id.into() })?;
        let input = ProvisionInput {
            id: old.id.clone(),
            user: old.user.clone(),
            device: old.device.clone(),
            csr: None,
            key_type: String::new(),
            validity_days,
            replace: true,
        };
        let mut fresh = false;
        loop {
            let (ca, signer) = self.signing_ca(fresh).await?;
            let record = self
                .sign_client(
                    &ca,
                    signer,
                    &input,
                    &old.spki_der,
                    &old.key_type,
                    old.key_origin,
                    window,
                )
                .await?;
            let command = Command::ProvisionClient {
                client: Box::new(record),
                replace: true,
                reprovision: true,
            };
            match self.write(command, request_id).await {
                Err(CertStoreError::Replica(crate::raft::ReplicaError::Domain(
                    DomainError::CaChanged { .. },
                ))) if !fresh => fresh = true,
                Err(e) => return Err(e),
                Ok((Reply::Client(c), log_index)) => return Ok((*c, log_index)),
                Ok((_, log_index)) => {
                    let c = self
                        .client(id, Consistency::Linearizable)
                        .await?
                        .ok_or(DomainError::UnknownClient { id: id.into() })?;
                    return Ok((c, log_index));
                }
            }
        }
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
            (_, log_index) => {
                let c = self
                    .client(id, Consistency::Linearizable)
                    .await?
                    .ok_or(DomainError::UnknownClient { id: id.into() })?;
                Ok((c, log_index))
            }
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
        match self
            .replica
            .read(Query::Client(id.to_string()), consistency)
            .await?
        {
            QueryReply::Client { client, ca_epoch } => Ok((client.map(|c| *c), ca_epoch)),
            other => Err(super::unexpected(other)),
        }
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
        let query = Query::ListClients {
            filter,
            after,
            limit,
            now: now_s(),
        };
        match self.replica.read(query, consistency).await? {
            QueryReply::Clients(page) => Ok(page),
            other => Err(super::unexpected(other)),
        }
    }

    /// Every node's listener addresses as the nodes reported them.
    pub async fn node_endpoints(&self) -> Result<Vec<NodeEndpoints>, CertStoreError> {
        match self
            .replica
            .read(Query::NodeEndpoints, Consistency::Stale)
            .await?
        {
            QueryReply::NodeEndpoints(all) => Ok(all),
            other => Err(super::unexpected(other)),
        }
    }

    /// Live clients per epoch and the current epoch.
    pub async fn client_counts(
        &self,
        consistency: Consistency,
    ) -> Result<(u64, Vec<(u64, u64)>), CertStoreError> {
        match self.replica.read(Query::ClientCounts, consistency).await? {
            QueryReply::ClientCounts {
                current_epoch,
                by_epoch,
            } => Ok((current_epoch, by_epoch)),
            other => Err(super::unexpected(other)),
        }
    }

    /// The CRL (DER) of the current CA, re-signed when a revocation or the CA
    /// changed, and hourly so that it never goes stale.
    pub async fn crl(&self) -> Result<(Arc<Vec<u8>>, usize), CertStoreError> {
        let (ca_epoch, revoked) = match self
            .replica
            .read(Query::RevokedClients, Consistency::Stale)
            .await?
        {
            QueryReply::RevokedClients { ca_epoch, clients } => (ca_epoch, clients),
            other => return Err(super::unexpected(other)),
        };
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
