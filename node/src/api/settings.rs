//! `mrouter.v1.Settings`: the express-setup settings.

use std::sync::Arc;

use mrouter_proto::v1 as pb;
use mrouter_proto::v1::settings_server::Settings as SettingsRpc;
use tonic::{Request, Response, Status};

use super::to_status;
use crate::domain::{Command, Query, QueryReply, Reply, RequestId, Settings, SettingsPatch};
use crate::raft::{Consistency, Replica, ReplicaError};

pub struct SettingsApi {
    replica: Arc<Replica>,
}

impl SettingsApi {
    pub fn new(replica: Arc<Replica>) -> Self {
        Self { replica }
    }

    async fn current(&self, consistency: Consistency) -> Result<Settings, ReplicaError> {
        match self.replica.read(Query::Settings, consistency).await? {
            QueryReply::Settings(s) => Ok(s),
            other => Err(ReplicaError::Raft {
                message: format!("unexpected reply {other:?}"),
            }),
        }
    }
}

pub(crate) fn request_id(raw: &[u8]) -> Result<Option<RequestId>, ReplicaError> {
    if raw.is_empty() {
        return Ok(None);
    }
    RequestId::from_slice(raw)
        .map(Some)
        .ok_or(ReplicaError::InvalidRequestId { len: raw.len() })
}

fn to_pb(s: Settings) -> pb::ClusterSettings {
    pb::ClusterSettings {
        cluster_domain: s.cluster_domain.unwrap_or_default(),
        remote_access_fqdn: s.remote_access_fqdn.unwrap_or_default(),
        virtual_address: s
            .virtual_address
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        mode: s.mode.to_string(),
        revision: s.revision,
    }
}

#[tonic::async_trait]
impl SettingsRpc for SettingsApi {
    async fn get(
        &self,
        request: Request<pb::GetSettingsRequest>,
    ) -> Result<Response<pb::SettingsReply>, Status> {
        let consistency = if request.get_ref().stale {
            Consistency::Stale
        } else {
            Consistency::Linearizable
        };
        let settings = self.current(consistency).await.map_err(to_status)?;
        Ok(Response::new(pb::SettingsReply {
            settings: Some(to_pb(settings)),
            log_index: 0,
            warnings: vec![],
        }))
    }

    async fn set(
        &self,
        request: Request<pb::SetSettingsRequest>,
    ) -> Result<Response<pb::SettingsReply>, Status> {
        let req = request.into_inner();
        let id = request_id(&req.request_id).map_err(to_status)?;
        let patch = SettingsPatch {
            cluster_domain: req.cluster_domain,
            remote_access_fqdn: req.remote_access_fqdn,
            virtual_address: req.virtual_address,
            mode: req.mode,
        };
        let proposal = Replica::proposal(Command::SetSettings(patch), id);
        let (reply, log_index) = self.replica.write(proposal).await.map_err(to_status)?;
        let (settings, warnings) = match reply {
            Reply::Settings { settings, warnings } => (settings, warnings),
            // A retry of an applied request: report the settings as they are.
            _ => (
                self.current(Consistency::Linearizable)
                    .await
                    .map_err(to_status)?,
                vec![],
            ),
        };
        Ok(Response::new(pb::SettingsReply {
            settings: Some(to_pb(settings)),
            log_index,
            warnings,
        }))
    }
}
