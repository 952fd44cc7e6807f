//! The node-to-node gRPC service: Raft messages in, forwarded operations and
//! status out. Snapshots arrive as a stream written to a file, checked whole,
//! and only then handed to Raft.

use std::io::Write;
use std::sync::Arc;

use futures::StreamExt;
use mrouter_proto::raft::v1::raft_server::Raft as RaftRpc;
use mrouter_proto::raft::v1::{Payload, SnapshotChunk};
use openraft::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use tonic::{Request, Response, Status, Streaming};

use super::forward::ForwardRequest;
use super::network::{decode, encode};
use super::replica::{Replica, ReplicaError};
use super::snapshot_file::SnapshotReader;
use super::state_machine::SnapshotData;
use super::types::TypeConfig;

pub struct RaftService {
    replica: Arc<Replica>,
    incoming_dir: std::path::PathBuf,
}

impl RaftService {
    pub fn new(replica: Arc<Replica>, incoming_dir: std::path::PathBuf) -> Self {
        Self {
            replica,
            incoming_dir,
        }
    }
}

fn bad_payload(e: String) -> Status {
    Status::invalid_argument(e)
}

#[tonic::async_trait]
impl RaftRpc for RaftService {
    async fn append_entries(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let req = decode(request.get_ref()).map_err(bad_payload)?;
        let result = self
            .replica
            .raft()
            .append_entries(req)
            .await
            .map_err(|e| e.to_string());
        Ok(Response::new(encode(&result)))
    }

    async fn vote(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let req = decode(request.get_ref()).map_err(bad_payload)?;
        let result = self
            .replica
            .raft()
            .vote(req)
            .await
            .map_err(|e| e.to_string());
        Ok(Response::new(encode(&result)))
    }

    async fn transfer_leader(
        &self,
        request: Request<Payload>,
    ) -> Result<Response<Payload>, Status> {
        let req = decode(request.get_ref()).map_err(bad_payload)?;
        let result = self
            .replica
            .raft()
            .handle_transfer_leader(req)
            .await
            .map_err(|e| e.to_string());
        Ok(Response::new(encode(&result)))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<Payload>, Status> {
        let mut stream = request.into_inner();
        let first = stream
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))??;
        let (vote, meta): (VoteOf<TypeConfig>, SnapshotMetaOf<TypeConfig>) =
            serde_json::from_slice(&first.header)
                .map_err(|e| Status::invalid_argument(format!("snapshot header: {e}")))?;
        let path = self.incoming_dir.join(format!(
            "incoming-{}.part",
            hex::encode(crate::pki::random_array::<8>())
        ));
        let mut file = std::fs::File::create(&path).map_err(|e| Status::internal(e.to_string()))?;
        let received = async {
            while let Some(chunk) = stream.next().await {
                file.write_all(&chunk?.data)
                    .map_err(|e| Status::internal(e.to_string()))?;
            }
            file.sync_all()
                .map_err(|e| Status::internal(e.to_string()))?;
            let check = path.clone();
            tokio::task::spawn_blocking(move || SnapshotReader::verify(&check))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(|e| Status::data_loss(format!("received snapshot refused: {e}")))?;
            Ok::<(), Status>(())
        }
        .await;
        if let Err(status) = received {
            let _ = std::fs::remove_file(&path);
            return Err(status);
        }
        let snapshot = SnapshotOf::<TypeConfig, SnapshotData> {
            meta,
            snapshot: SnapshotData { path },
        };
        let result = self
            .replica
            .raft()
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| e.to_string());
        Ok(Response::new(encode(&result)))
    }

    async fn forward(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let req: ForwardRequest = decode(request.get_ref()).map_err(bad_payload)?;
        tracing::debug!(op = req.name(), "forwarded to this leader");
        let result: Result<_, ReplicaError> = self.replica.execute_local(&req).await;
        Ok(Response::new(encode(&result)))
    }

    async fn node_status(&self, _request: Request<Payload>) -> Result<Response<Payload>, Status> {
        Ok(Response::new(encode(&self.replica.node_status())))
    }
}
