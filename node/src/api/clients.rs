//! `mrouter.v1.Clients`: provisioning, revocation, listings and the CRL.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mrouter_proto::v1 as pb;
use mrouter_proto::v1::clients_server::Clients as ClientsRpc;
use tonic::{Request, Response, Status};

use super::names::{name_of, value_of};
use super::settings::request_key;
use super::{consistency, ApiError};
use crate::certstore::{key_pem, CertStore, ProvisionInput};
use crate::domain::{
    ClientCounts, ClientFilter, ClientRecord, ClientState, DomainError, KeyOrigin, NodeEndpoints,
    MAX_PAGE,
};
use crate::pki;

pub struct ClientsApi {
    store: Arc<CertStore>,
}

impl ClientsApi {
    pub fn new(store: Arc<CertStore>) -> Self {
        Self { store }
    }
}

pub(super) fn client_info(c: &ClientRecord, current_epoch: u64) -> pb::ClientInfo {
    let now = crate::clock::now_s();
    let fingerprint = pki::inspect(&c.cert_der)
        .map(|s| s.fingerprint_sha256)
        .unwrap_or_default();
    pb::ClientInfo {
        id: c.id.clone(),
        user: c.user.clone(),
        device: c.device.clone().unwrap_or_default(),
        state: value_of::<pb::ClientState>(&c.state(current_epoch, now).to_string()),
        serial: c.serial.clone(),
        not_before: c.not_before,
        not_after: c.not_after,
        days_left: (c.not_after - now).div_euclid(86_400),
        ca_epoch: c.ca_epoch,
        key_type: c.key_type.clone(),
        key_origin: match c.key_origin {
            KeyOrigin::Csr => pb::KeyOrigin::Csr,
            KeyOrigin::Server => pb::KeyOrigin::Server,
        }
        .into(),
        provisioned_at_ms: c.provisioned_at_ms,
        revoked_at_ms: c.revoked.as_ref().map_or(0, |r| r.at_ms),
        revoked_reason: c
            .revoked
            .as_ref()
            .map(|r| r.reason.clone())
            .unwrap_or_default(),
        fingerprint_sha256: fingerprint,
        // Show fills it in; a list page stays small.
        cert_pem: String::new(),
    }
}

/// Where the client connects: every node's listeners, and the virtual ones.
fn endpoints(settings: crate::domain::Settings, nodes: Vec<NodeEndpoints>) -> pb::RouterEndpoints {
    let vip = settings.virtual_address;
    let port = |f: fn(&NodeEndpoints) -> u16| nodes.iter().map(f).find(|p| *p != 0);
    let at = |p: Option<u16>| match (vip, p) {
        (Some(ip), Some(p)) => std::net::SocketAddr::new(ip, p).to_string(),
        _ => String::new(),
    };
    pb::RouterEndpoints {
        virtual_address: vip.map(|a| a.to_string()).unwrap_or_default(),
        remote_access_fqdn: settings.remote_access_fqdn.unwrap_or_default(),
        cluster_domain: settings.cluster_domain.unwrap_or_default(),
        virtual_local: at(port(|n| n.virtual_local_port)),
        virtual_remote: at(port(|n| n.virtual_remote_port)),
        nodes: nodes
            .iter()
            .map(|n| pb::NodeListeners {
                node_id: n.node,
                local: n.local.clone(),
                remote: n.remote.clone(),
            })
            .collect(),
    }
}

fn invalid(e: DomainError) -> ApiError {
    e.into()
}

/// The position a `page_token` stands for (the last key of the previous
/// page); the domain checks that it belongs to the listing asked for.
fn page_token(token: &str) -> Result<Option<Vec<u8>>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .filter(|key| !key.is_empty())
        .map(Some)
        .ok_or(ApiError::UnknownPageToken)
}

#[tonic::async_trait]
impl ClientsRpc for ClientsApi {
    async fn provision(
        &self,
        request: Request<pb::ProvisionRequest>,
    ) -> Result<Response<pb::ProvisionReply>, Status> {
        let mut req = request.into_inner();
        // The digest of the request key never covers the password.
        let p12_password = std::mem::take(&mut req.p12_password);
        let id = request_key("clients.provision", &req.request_id, &req)?;
        let input = ProvisionInput::try_from(req)?;
        if input.csr.is_some() && !p12_password.is_empty() {
            return Err(ApiError::PasswordWithCsr.into());
        }
        let p = self.store.provision(input, id).await?;
        let settings = self.store.settings_view().await?;
        let nodes = self.store.node_endpoints().await?;
        let (mut key_pem_out, mut p12) = (String::new(), Vec::new());
        if let Some(key) = &p.key {
            if p12_password.is_empty() {
                key_pem_out = key_pem(key).to_string();
            } else {
                p12 = pki::pkcs12(
                    key,
                    &p.client.cert_der,
                    std::slice::from_ref(&p.ca_cert),
                    &p12_password,
                )
                .map_err(crate::certstore::CertStoreError::from)?;
            }
        }
        Ok(Response::new(pb::ProvisionReply {
            client: Some(client_info(&p.client, p.client.ca_epoch)),
            cert_pem: pki::to_pem("CERTIFICATE", &p.client.cert_der),
            ca_pem: pki::to_pem("CERTIFICATE", &p.ca_cert),
            key_pem: key_pem_out,
            p12,
            endpoints: Some(endpoints(settings, nodes)),
            log_index: p.log_index,
            warnings: vec![],
        }))
    }

    async fn reprovision(
        &self,
        request: Request<pb::ReprovisionRequest>,
    ) -> Result<Response<pb::ClientReply>, Status> {
        let req = request.into_inner();
        let key = request_key("clients.reprovision", &req.request_id, &req)?;
        let pb::ReprovisionRequest {
            request_id: _,
            id,
            validity_days,
        } = req;
        let (client, log_index) = self.store.reprovision(&id, validity_days, key).await?;
        Ok(Response::new(pb::ClientReply {
            cert_pem: pki::to_pem("CERTIFICATE", &client.cert_der),
            client: Some(client_info(&client, client.ca_epoch)),
            log_index,
            warnings: vec![],
        }))
    }

    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::ClientReply>, Status> {
        let req = request.into_inner();
        let key = request_key("clients.revoke", &req.request_id, &req)?;
        let pb::RevokeRequest {
            request_id: _,
            id,
            reason,
        } = req;
        let (client, log_index) = self.store.revoke(&id, &reason, key).await?;
        // A revoked client reads as revoked under any epoch.
        Ok(Response::new(pb::ClientReply {
            cert_pem: String::new(),
            client: Some(client_info(&client, client.ca_epoch)),
            log_index,
            warnings: vec![],
        }))
    }

    async fn show(
        &self,
        request: Request<pb::ShowClientRequest>,
    ) -> Result<Response<pb::ClientInfo>, Status> {
        let pb::ShowClientRequest { id, stale } = request.into_inner();
        // The record and the epoch its state derives from come from one
        // read: a lagging node cannot pair a linearizable record with its
        // own older epoch.
        let (client, epoch) = self.store.client_view(&id, consistency(stale)).await?;
        let client = client.ok_or_else(|| invalid(DomainError::UnknownClient { id }))?;
        Ok(Response::new(pb::ClientInfo {
            cert_pem: pki::to_pem("CERTIFICATE", &client.cert_der),
            ..client_info(&client, epoch)
        }))
    }

    async fn list(
        &self,
        request: Request<pb::ListClientsRequest>,
    ) -> Result<Response<pb::ListClientsReply>, Status> {
        let pb::ListClientsRequest {
            state,
            user,
            limit,
            page_token: token,
            stale,
        } = request.into_inner();
        let state = match name_of::<pb::ClientState>("state", state)?.as_str() {
            "" => None,
            name => Some(name.parse::<ClientState>().map_err(invalid)?),
        };
        let filter = ClientFilter {
            state,
            user: (!user.is_empty()).then_some(user),
        };
        if limit > MAX_PAGE {
            return Err(ApiError::PageTooLarge {
                limit,
                max: MAX_PAGE,
            }
            .into());
        }
        let limit = if limit == 0 { 100 } else { limit };
        let after = page_token(&token)?;
        let page = self
            .store
            .list_clients(filter, after, limit, consistency(stale))
            .await?;
        Ok(Response::new(pb::ListClientsReply {
            clients: page
                .clients
                .iter()
                .map(|c| client_info(c, page.current_epoch))
                .collect(),
            next_page_token: page
                .next
                .map(|key| URL_SAFE_NO_PAD.encode(key))
                .unwrap_or_default(),
            current_epoch: page.current_epoch,
        }))
    }

    async fn counts(
        &self,
        request: Request<pb::ClientCountsRequest>,
    ) -> Result<Response<pb::ClientCountsReply>, Status> {
        let ClientCounts {
            current_epoch: current,
            by_epoch,
        } = self
            .store
            .client_counts(consistency(request.get_ref().stale))
            .await?;
        Ok(Response::new(pb::ClientCountsReply {
            current_epoch: current,
            invalidated: by_epoch
                .iter()
                .filter(|(e, _)| *e < current)
                .map(|(_, n)| n)
                .sum(),
            by_epoch: by_epoch
                .into_iter()
                .map(|(epoch, clients)| pb::EpochCount { epoch, clients })
                .collect(),
        }))
    }

    async fn crl(
        &self,
        _request: Request<pb::CrlRequest>,
    ) -> Result<Response<pb::CrlReply>, Status> {
        let (der, revoked) = self.store.crl().await?;
        Ok(Response::new(pb::CrlReply {
            pem: pki::to_pem("X509 CRL", &der),
            der: der.to_vec(),
            revoked: revoked as u64,
        }))
    }
}

/// What to provision; the request id (the request key) and the PKCS#12
/// password are taken apart by the caller.
impl TryFrom<pb::ProvisionRequest> for ProvisionInput {
    type Error = ApiError;

    fn try_from(req: pb::ProvisionRequest) -> Result<Self, ApiError> {
        let pb::ProvisionRequest {
            request_id: _,
            id,
            user,
            device,
            csr,
            key_type,
            validity_days,
            replace,
            p12_password: _,
        } = req;
        Ok(ProvisionInput {
            id,
            user,
            device: (!device.is_empty()).then_some(device),
            csr: (!csr.is_empty()).then_some(csr),
            key_type: name_of::<pb::KeyType>("key_type", key_type)?,
            validity_days,
            replace,
        })
    }
}
