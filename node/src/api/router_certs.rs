//! `mrouter.v1.RouterCertificates`: the four router certificate slots.

use std::sync::Arc;

use mrouter_proto::v1 as pb;
use mrouter_proto::v1::router_certificates_server::RouterCertificates as CertsRpc;
use tonic::{Request, Response, Status};

use super::ca::password;
use super::cert_views::{slot_view, subject};
use super::names::name_of;
use super::settings::request_key;
use super::{consistency, ApiError};
use crate::certstore::{CertOptions, CertStore, SlotOutcome};
use crate::domain::{CertRequest, CertState, SanChoice, SlotId};

pub struct RouterCertsApi {
    store: Arc<CertStore>,
}

impl RouterCertsApi {
    pub fn new(store: Arc<CertStore>) -> Self {
        Self { store }
    }

    fn slot(&self, slot: Option<pb::SlotRef>) -> Result<SlotId, ApiError> {
        let s = slot.unwrap_or_default();
        if s.slot.is_empty() {
            return Err(ApiError::MissingField {
                field: "slot",
                expected: "local, remote, local-virtual or remote-virtual",
            });
        }
        Ok(self.store.resolve_slot(&s.slot, s.node_id)?)
    }
}

fn options(
    fields: Option<pb::SubjectFields>,
    key_type: String,
    sans: Option<pb::SanChoice>,
    validity_days: u32,
    activate: bool,
) -> CertOptions {
    let pb::SanChoice {
        add,
        drop,
        no_defaults,
    } = sans.unwrap_or_default();
    CertOptions {
        request: CertRequest {
            subject: subject(fields),
            sans: SanChoice {
                add,
                drop,
                no_defaults,
            },
        },
        key_type,
        validity_days,
        activate,
    }
}

fn cert_reply(o: SlotOutcome) -> pb::CertReply {
    pb::CertReply {
        slot: Some(slot_view(&o.view)),
        warnings: o.warnings,
        notes: o.notes,
        log_index: o.log_index,
    }
}

#[tonic::async_trait]
impl CertsRpc for RouterCertsApi {
    async fn generate(
        &self,
        request: Request<pb::GenerateCertRequest>,
    ) -> Result<Response<pb::CertReply>, Status> {
        let req = request.into_inner();
        let id = request_key("certs.generate", &req.request_id, &req)?;
        let pb::GenerateCertRequest {
            request_id: _,
            slot,
            subject,
            key_type,
            sans,
            validity_days,
            activate,
        } = req;
        let slot = self.slot(slot)?;
        let key_type = name_of::<pb::KeyType>("key_type", key_type)?;
        let opts = options(subject, key_type, sans, validity_days, activate);
        let outcome = self.store.generate_cert(slot, opts, id).await?;
        Ok(Response::new(cert_reply(outcome)))
    }

    async fn create_csr(
        &self,
        request: Request<pb::CreateCsrRequest>,
    ) -> Result<Response<pb::CsrReply>, Status> {
        let req = request.into_inner();
        let id = request_key("certs.create_csr", &req.request_id, &req)?;
        let pb::CreateCsrRequest {
            request_id: _,
            slot,
            subject,
            key_type,
            sans,
        } = req;
        let slot = self.slot(slot)?;
        let key_type = name_of::<pb::KeyType>("key_type", key_type)?;
        let opts = options(subject, key_type, sans, 0, false);
        let o = self.store.create_csr(slot, opts, id).await?;
        Ok(Response::new(pb::CsrReply {
            csr_pem: o.csr_pem,
            slot: Some(slot_view(&o.view)),
            warnings: o.warnings,
            log_index: o.log_index,
        }))
    }

    async fn import(
        &self,
        request: Request<pb::ImportCertRequest>,
    ) -> Result<Response<pb::CertReply>, Status> {
        let mut req = request.into_inner();
        // The digest of the request key never covers the password.
        let secret = std::mem::take(&mut req.password);
        let id = request_key("certs.import", &req.request_id, &req)?;
        let pb::ImportCertRequest {
            request_id: _,
            slot,
            files,
            password: _,
            activate,
        } = req;
        let slot = self.slot(slot)?;
        if files.is_empty() {
            return Err(ApiError::NoFiles.into());
        }
        let outcome = self
            .store
            .import_cert(slot, files, password(secret), activate, id)
            .await?;
        Ok(Response::new(cert_reply(outcome)))
    }

    async fn activate(
        &self,
        request: Request<pb::ActivateRequest>,
    ) -> Result<Response<pb::CertReply>, Status> {
        let req = request.into_inner();
        let id = request_key("certs.activate", &req.request_id, &req)?;
        let pb::ActivateRequest {
            request_id: _,
            slot,
        } = req;
        let slot = self.slot(slot)?;
        let outcome = self.store.activate(slot, id).await?;
        Ok(Response::new(cert_reply(outcome)))
    }

    async fn show(
        &self,
        request: Request<pb::ShowCertRequest>,
    ) -> Result<Response<pb::SlotView>, Status> {
        let pb::ShowCertRequest { slot, stale } = request.into_inner();
        let slot = self.slot(slot)?;
        let view = self.store.show_slot(slot, consistency(stale)).await?;
        Ok(Response::new(slot_view(&view)))
    }

    async fn list(
        &self,
        request: Request<pb::ListCertsRequest>,
    ) -> Result<Response<pb::ListCertsReply>, Status> {
        let views = self
            .store
            .list_slots(consistency(request.get_ref().stale))
            .await?;
        Ok(Response::new(pb::ListCertsReply {
            slots: views.iter().map(slot_view).collect(),
        }))
    }

    async fn export(
        &self,
        request: Request<pb::ExportCertRequest>,
    ) -> Result<Response<pb::ExportReply>, Status> {
        let pb::ExportCertRequest {
            slot,
            pending,
            include_key,
        } = request.into_inner();
        let slot = self.slot(slot)?;
        let state = if pending {
            CertState::Pending
        } else {
            CertState::Active
        };
        let pem = self.store.export_cert(slot, state, include_key).await?;
        Ok(Response::new(pb::ExportReply {
            pem: pem.to_string(),
            includes_key: include_key,
        }))
    }
}
