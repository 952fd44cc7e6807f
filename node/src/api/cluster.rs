//! `mrouter.v1.Cluster`: membership, status, snapshots.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use mrouter_proto::v1 as pb;
use mrouter_proto::v1::cluster_server::Cluster as ClusterRpc;
use tokio::io::AsyncReadExt;
use tonic::{Request, Response, Status, Streaming};

use super::settings::request_id;
use super::ApiError;
use crate::domain::{LookupWrite, WriteLookup};
use crate::raft::{Consistency, ForwardRequest, MemberInfo, NodeStatus, Replica, ReplicaError};

const CHUNK: usize = 1 << 20;

pub struct ClusterApi {
    replica: Arc<Replica>,
}

impl ClusterApi {
    pub fn new(replica: Arc<Replica>) -> Self {
        Self { replica }
    }

    async fn membership(
        &self,
        req: ForwardRequest,
    ) -> Result<Response<pb::MembershipReply>, Status> {
        let (members, log_index) = self.replica.change_membership(req).await?;
        Ok(Response::new(membership_reply(members, log_index)))
    }
}

fn membership_reply(members: Vec<MemberInfo>, log_index: u64) -> pb::MembershipReply {
    pb::MembershipReply {
        voters: members.iter().filter(|m| m.voter).map(|m| m.id).collect(),
        members: members
            .into_iter()
            .map(|m| pb::Member {
                id: m.id,
                addr: m.addr,
            })
            .collect(),
        log_index,
    }
}

/// Removes a temporary file when the request using it ends, however it ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::SnapshotChunk, Status>> + Send>>;

#[tonic::async_trait]
impl ClusterRpc for ClusterApi {
    async fn init(
        &self,
        request: Request<pb::InitRequest>,
    ) -> Result<Response<pb::InitReply>, Status> {
        let mut members = BTreeMap::new();
        for m in request.into_inner().members {
            if members.insert(m.id, m.addr).is_some() {
                return Err(ApiError::DuplicateMember { id: m.id }.into());
            }
        }
        let members = self.replica.init(members).await?;
        Ok(Response::new(pb::InitReply {
            members: members
                .into_iter()
                .map(|m| pb::Member {
                    id: m.id,
                    addr: m.addr,
                })
                .collect(),
        }))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::ClusterStatus>, Status> {
        let own = self.replica.node_status();
        let statuses = self.replica.member_statuses().await;
        // Lag is what a member has still to apply of what the leader
        // committed: a learner that received the log but applied none of it
        // is behind, not caught up.
        let leader = statuses
            .iter()
            .find_map(|(_, s)| s.as_ref().ok().filter(|s| s.state == "leader").cloned());
        let leader_commit = leader.as_ref().map_or(own.commit_index, |l| l.commit_index);
        let leader_id = leader.as_ref().map(|l| l.node_id);
        let members = statuses
            .into_iter()
            .map(|(m, s)| match s {
                Ok(s) => {
                    let health = member_health(&s, leader_id);
                    pb::MemberStatus {
                        id: m.id,
                        addr: m.addr,
                        voter: m.voter,
                        reachable: true,
                        last_log_index: s.last_log_index,
                        applied_index: s.applied_index,
                        lag: leader_commit.saturating_sub(s.applied_index),
                        state_digest: s.digest,
                        error: String::new(),
                        healthy: health.is_ok(),
                        health: health.err().unwrap_or_default(),
                        commit_index: s.commit_index,
                        term: s.term,
                        leader_id: s.leader_id,
                        role: s.state,
                    }
                }
                Err(e) => pb::MemberStatus {
                    id: m.id,
                    addr: m.addr,
                    role: "unknown".into(),
                    voter: m.voter,
                    reachable: false,
                    health: format!("unreachable: {e}"),
                    error: e,
                    ..Default::default()
                },
            })
            .collect();
        Ok(Response::new(pb::ClusterStatus {
            node_id: own.node_id,
            initialized: own.initialized,
            leader_id: own.leader_id,
            term: own.term,
            last_log_index: own.last_log_index,
            applied_index: own.applied_index,
            state_digest: own.digest,
            members,
            snapshot_index: own.snapshot_index,
            seal_key_id: own.seal_key_id,
        }))
    }

    async fn add_learner(
        &self,
        request: Request<pb::AddLearnerRequest>,
    ) -> Result<Response<pb::MembershipReply>, Status> {
        let pb::AddLearnerRequest { member, wait } = request.into_inner();
        let member = member.ok_or(ApiError::MissingField {
            field: "member",
            expected: "id and addr",
        })?;
        self.membership(ForwardRequest::AddLearner {
            id: member.id,
            addr: member.addr,
            wait,
        })
        .await
    }

    async fn change_membership(
        &self,
        request: Request<pb::ChangeMembershipRequest>,
    ) -> Result<Response<pb::MembershipReply>, Status> {
        let ids = request.into_inner().promote;
        if ids.is_empty() {
            return Err(ApiError::NothingToPromote.into());
        }
        self.membership(ForwardRequest::Promote { ids }).await
    }

    async fn remove_node(
        &self,
        request: Request<pb::RemoveNodeRequest>,
    ) -> Result<Response<pb::MembershipReply>, Status> {
        self.membership(ForwardRequest::Remove {
            id: request.into_inner().id,
        })
        .await
    }

    async fn transfer_leader(
        &self,
        request: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderReply>, Status> {
        let to = request.into_inner().to;
        let leader_id = self.replica.hand_over_leadership(to).await?;
        Ok(Response::new(pb::TransferLeaderReply { leader_id }))
    }

    async fn trigger_snapshot(
        &self,
        request: Request<pb::TriggerSnapshotRequest>,
    ) -> Result<Response<pb::TriggerSnapshotReply>, Status> {
        let purge_log = request.into_inner().purge_log;
        let (node_id, snapshot_index) = self.replica.snapshot_now(purge_log).await?;
        Ok(Response::new(pb::TriggerSnapshotReply {
            node_id,
            snapshot_index,
        }))
    }

    type SnapshotSaveStream = ChunkStream;

    async fn snapshot_save(
        &self,
        _request: Request<pb::SnapshotSaveRequest>,
    ) -> Result<Response<Self::SnapshotSaveStream>, Status> {
        let path = self
            .replica
            .export_snapshot(Consistency::Linearizable)
            .await?;
        let guard = TempFile(path);
        let file = tokio::fs::File::open(&guard.0)
            .await
            .map_err(io("opening the snapshot export"))?;
        let total = file
            .metadata()
            .await
            .map_err(io("reading the snapshot export's size"))?
            .len();
        let stream = futures::stream::unfold(Some((file, guard, true)), move |state| async move {
            let (mut file, guard, first) = state?;
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    let chunk = pb::SnapshotChunk {
                        data: buf,
                        total_bytes: if first { total } else { 0 },
                    };
                    Some((Ok(chunk), Some((file, guard, false))))
                }
                Err(e) => Some((Err(io("reading the snapshot export")(e).into()), None)),
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn snapshot_restore(
        &self,
        request: Request<Streaming<pb::SnapshotChunk>>,
    ) -> Result<Response<pb::SnapshotRestoreReply>, Status> {
        let mut stream = request.into_inner();
        let guard = TempFile(self.replica.scratch_dir().join(format!(
            "restore-{}.tmp",
            hex::encode(crate::pki::random_array::<8>())
        )));
        let mut file = std::fs::File::create(&guard.0).map_err(io("creating the restore file"))?;
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            size += chunk.data.len() as u64;
            file.write_all(&chunk.data)
                .map_err(io("writing the restore file"))?;
        }
        file.sync_all().map_err(io("syncing the restore file"))?;
        drop(file);
        if size == 0 {
            return Err(ReplicaError::BadSnapshot {
                reason: "the snapshot file is empty".into(),
            }
            .into());
        }
        let (records, digest, log_index) = self
            .replica
            .restore(&guard.0, |p| {
                tracing::info!(written = p.written, total = p.total, "restoring snapshot")
            })
            .await?;
        Ok(Response::new(pb::SnapshotRestoreReply {
            records,
            state_digest: digest.to_hex(),
            last_log_index: log_index,
        }))
    }

    async fn lookup_write(
        &self,
        request: Request<pb::LookupWriteRequest>,
    ) -> Result<Response<pb::LookupWriteReply>, Status> {
        let id = request_id(&request.get_ref().request_id)?.ok_or(ApiError::MissingField {
            field: "request_id",
            expected: "16 bytes",
        })?;
        let WriteLookup { log_index, .. } = self
            .replica
            .ask(LookupWrite(id), Consistency::Linearizable)
            .await?;
        Ok(Response::new(pb::LookupWriteReply {
            applied: log_index.is_some(),
            log_index: log_index.unwrap_or(0),
        }))
    }
}

/// Whether a reachable member can serve: it follows the leader the others
/// see and is not installing a snapshot. `Err` says why not.
fn member_health(s: &NodeStatus, leader: Option<u64>) -> Result<(), String> {
    match (s.leader_id, leader) {
        (None, _) => Err("sees no leader".into()),
        (Some(own), Some(l)) if own != l => Err(format!("follows node {own}, not the leader {l}")),
        _ if s.state == "candidate" => Err("campaigning for leadership".into()),
        _ => Ok(()),
    }
}

/// Maps an I/O error of this node's own files to [`ApiError::Io`].
fn io(operation: &'static str) -> impl FnOnce(std::io::Error) -> ApiError {
    move |source| ApiError::Io { operation, source }
}
