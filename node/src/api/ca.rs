//! `mrouter.v1.CertificateAuthority`: generate, import, show, export the CA.

use std::sync::Arc;

use mrouter_proto::v1 as pb;
use mrouter_proto::v1::certificate_authority_server::CertificateAuthority as CaRpc;
use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

use super::cert_views::{ca_info, impact, subject};
use super::consistency;
use super::names::name_of;
use super::settings::request_key;
use crate::certstore::{CaOutcome, CaSource, CertStore, GenerateCa, InstallCa};
use crate::domain::RequestKey;

pub struct CaApi {
    store: Arc<CertStore>,
}

impl CaApi {
    pub fn new(store: Arc<CertStore>) -> Self {
        Self { store }
    }
}

impl CaApi {
    async fn install(
        &self,
        source: CaSource,
        how: InstallCa,
    ) -> Result<Response<pb::CaReply>, Status> {
        let outcome = self.store.install_ca(source, how).await?;
        Ok(Response::new(reply(outcome)))
    }
}

/// The install fields both CA requests carry.
fn install_options(
    request_id: Option<RequestKey>,
    dry_run: bool,
    confirm_invalidate_clients: bool,
    expected_epoch: Option<u64>,
) -> Result<InstallCa, Status> {
    Ok(InstallCa {
        dry_run,
        confirm_invalidate_clients,
        expected_epoch,
        request_id,
    })
}

fn reply(o: CaOutcome) -> pb::CaReply {
    pb::CaReply {
        epoch: o.ca.as_ref().map_or(0, |c| c.epoch),
        ca: o.ca.as_ref().map(ca_info),
        warnings: o.warnings,
        notes: o.notes,
        log_index: o.log_index,
        impact: Some(impact(&o.impact)),
        dry_run: o.dry_run,
    }
}

pub(super) fn password(p: String) -> Option<Zeroizing<String>> {
    let p = Zeroizing::new(p);
    (!p.is_empty()).then_some(p)
}

#[tonic::async_trait]
impl CaRpc for CaApi {
    async fn generate(
        &self,
        request: Request<pb::GenerateCaRequest>,
    ) -> Result<Response<pb::CaReply>, Status> {
        let req = request.into_inner();
        let key = request_key("ca.generate", &req.request_id, &req)?;
        let pb::GenerateCaRequest {
            request_id: _,
            subject: fields,
            key_type,
            validity_days,
            dry_run,
            confirm_invalidate_clients,
            expected_epoch,
        } = req;
        let how = install_options(key, dry_run, confirm_invalidate_clients, expected_epoch)?;
        let source = CaSource::Generate(GenerateCa {
            subject: subject(fields),
            key_type: name_of::<pb::KeyType>("key_type", key_type)?,
            validity_days,
        });
        self.install(source, how).await
    }

    async fn import(
        &self,
        request: Request<pb::ImportCaRequest>,
    ) -> Result<Response<pb::CaReply>, Status> {
        let mut req = request.into_inner();
        // The digest of the request key never covers the password.
        let secret = std::mem::take(&mut req.password);
        let key = request_key("ca.import", &req.request_id, &req)?;
        let pb::ImportCaRequest {
            request_id: _,
            bundle,
            password: _,
            dry_run,
            confirm_invalidate_clients,
            expected_epoch,
        } = req;
        let how = install_options(key, dry_run, confirm_invalidate_clients, expected_epoch)?;
        let source = CaSource::Import {
            bundle,
            password: password(secret),
        };
        self.install(source, how).await
    }

    async fn show(
        &self,
        request: Request<pb::ShowCaRequest>,
    ) -> Result<Response<pb::CaReply>, Status> {
        let outcome = self
            .store
            .show_ca(consistency(request.get_ref().stale))
            .await?;
        Ok(Response::new(reply(outcome)))
    }

    async fn export(
        &self,
        request: Request<pb::ExportCaRequest>,
    ) -> Result<Response<pb::ExportReply>, Status> {
        let include_key = request.get_ref().include_key;
        let pem = self.store.export_ca(include_key).await?;
        Ok(Response::new(pb::ExportReply {
            pem: pem.to_string(),
            includes_key: include_key,
        }))
    }
}
