//! `mrouter.v1.Settings`: the express-setup settings.

use std::sync::Arc;
use std::time::Duration;

use mrouter_proto::v1 as pb;
use mrouter_proto::v1::settings_server::Settings as SettingsRpc;
use tonic::{Request, Response, Status};

use super::names::{name_of, value_of};
use super::ApiError;
use crate::domain::{
    Command, ReadSettings, Reply, RequestDigest, RequestId, RequestKey, Settings, SettingsPatch,
};
use crate::raft::{Consistency, Replica, ReplicaError, VirtualListeners};

pub struct SettingsApi {
    replica: Arc<Replica>,
}

impl SettingsApi {
    pub fn new(replica: Arc<Replica>) -> Self {
        Self { replica }
    }

    async fn current(&self, consistency: Consistency) -> Result<Settings, ReplicaError> {
        self.replica.ask(ReadSettings, consistency).await
    }

    /// A warning when the leader cannot open its virtual listeners on the
    /// virtual address just set (it keeps retrying with backoff).
    async fn virtual_listener_warning(&self, settings: &Settings) -> Option<String> {
        let address = settings.virtual_address?.to_string();
        match self
            .replica
            .leader_virtual_listeners(&address, VIRTUAL_BIND_WAIT)
            .await?
        {
            (leader, VirtualListeners::CannotBind { error, .. }) => Some(format!(
                "the leader (node {leader}) cannot open the virtual listeners on {address}: \
                 {error}; it retries with backoff. Is {address} assigned to that host \
                 (keepalived, or `ip addr add`)?"
            )),
            _ => None,
        }
    }
}

/// How long `set` waits for the leader to try the new virtual address.
const VIRTUAL_BIND_WAIT: Duration = Duration::from_secs(1);

/// A write's idempotency key: the request id the client sent (if any) and
/// a digest of the whole request, so a retry that asks something else is
/// refused. Callers clear secrets (passwords) from `request` first.
pub(crate) fn request_key<M: prost::Message>(
    rpc: &str,
    raw_id: &[u8],
    request: &M,
) -> Result<Option<RequestKey>, ReplicaError> {
    Ok(request_id(raw_id)?.map(|id| RequestKey {
        id,
        digest: RequestDigest(crate::pki::request_digest(rpc, &request.encode_to_vec())),
    }))
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
        mode: value_of::<pb::ClusterMode>(&s.mode.to_string()),
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
        let settings = self.current(consistency).await?;
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
        let id = request_key("settings.set", &req.request_id, &req)?;
        let patch = SettingsPatch::try_from(req)?;
        let proposal = Replica::proposal(Command::SetSettings(patch), id);
        let (reply, log_index) = self.replica.write(proposal).await?;
        let (settings, warnings) = match reply {
            Reply::Settings {
                settings,
                mut warnings,
            } => {
                warnings.extend(self.virtual_listener_warning(&settings).await);
                (settings, warnings)
            }
            // A retry of an applied request: report the settings as they are.
            _ => (self.current(Consistency::Linearizable).await?, vec![]),
        };
        Ok(Response::new(pb::SettingsReply {
            settings: Some(to_pb(settings)),
            log_index,
            warnings,
        }))
    }
}

/// The settings a request changes; its request id is taken apart by the
/// caller (the request key).
impl TryFrom<pb::SetSettingsRequest> for SettingsPatch {
    type Error = ApiError;

    fn try_from(req: pb::SetSettingsRequest) -> Result<Self, ApiError> {
        let pb::SetSettingsRequest {
            cluster_domain,
            remote_access_fqdn,
            virtual_address,
            mode,
            request_id: _,
        } = req;
        Ok(SettingsPatch {
            cluster_domain,
            remote_access_fqdn,
            virtual_address,
            mode: mode
                .map(|m| name_of::<pb::ClusterMode>("mode", m))
                .transpose()?,
        })
    }
}
