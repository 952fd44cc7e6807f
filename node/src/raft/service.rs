//! The node-to-node gRPC service: Raft messages in, forwarded operations and
//! status out. Snapshots arrive as a stream written to a file, checked whole,
//! and only then handed to Raft.
//!
//! Only nodes may call it: [`nodes_only`] refuses a connection without a
//! node certificate of the cluster CA before any message is read, and each
//! Raft message must come from the node it speaks for (a vote's candidate,
//! an append's or a snapshot's leader), which must be a member when this
//! node knows any.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use mrouter_proto::raft::v1::raft_server::Raft as RaftRpc;
use mrouter_proto::raft::v1::{Payload, SnapshotChunk};
use openraft::alias::{SnapshotMetaOf, SnapshotOf, VoteOf};
use tonic::{Request, Response, Status, Streaming};

use super::error::ReplicaError;
use super::forward::ForwardRequest;
use super::network::{decode, encode};
use super::replica::Replica;
use super::snapshot_file::{Accept, SnapshotReader};
use super::state_machine::SnapshotData;
use super::types::TypeConfig;
use crate::tls::{PeerAuth, PeerInfo};

pub struct RaftService {
    replica: Arc<Replica>,
    incoming_dir: PathBuf,
    max_snapshot_bytes: u64,
}

impl RaftService {
    pub fn new(replica: Arc<Replica>, incoming_dir: PathBuf, max_snapshot_bytes: u64) -> Self {
        Self {
            replica,
            incoming_dir,
            max_snapshot_bytes,
        }
    }
}

/// A snapshot file being received: deleted on drop unless kept.
struct PartFile(PathBuf);

impl PartFile {
    fn keep(self) -> PathBuf {
        let path = self.0.clone();
        std::mem::forget(self);
        path
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A node-to-node request refused before openraft saw it (mapped to its
/// gRPC code in `api/status.rs`).
#[derive(Debug, thiserror::Error)]
pub enum PeerRpcError {
    /// The sender's stream failed.
    #[error(transparent)]
    Stream(#[from] Status),
    #[error("{reason}")]
    BadPayload { reason: String },
    #[error("empty snapshot stream")]
    EmptySnapshotStream,
    #[error("snapshot header: {reason}")]
    BadSnapshotHeader { reason: String },
    #[error(
        "a snapshot of {size} bytes is over this node's limit of {limit} bytes (max_snapshot_mib)"
    )]
    SnapshotTooLarge { size: u64, limit: u64 },
    #[error("received snapshot refused: not an mrouter snapshot file")]
    NotASnapshot,
    #[error("received snapshot refused: more than the {size} bytes its header declares")]
    SnapshotLonger { size: u64 },
    #[error("received snapshot refused: {received} bytes of the {size} its header declares")]
    SnapshotShorter { received: u64, size: u64 },
    #[error("received snapshot refused: {reason}")]
    SnapshotCorrupt { reason: String },
    #[error("{operation} failed: {source}")]
    Io {
        operation: &'static str,
        source: std::io::Error,
    },
    #[error("snapshot check task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the node-to-node service takes only nodes of this cluster: connect with a node certificate of its cluster CA (mrd tls node-cert)")]
    NotANode,
    #[error("a connection with the certificate of node {cert} cannot speak for node {claimed}")]
    SpeaksForAnother { cert: u64, claimed: u64 },
    #[error("node {id} is not a member of this cluster")]
    NotAMember { id: u64 },
}

/// The interceptor of the node-to-node service: the caller must be a node
/// of this cluster (any caller, on an `--insecure` node).
pub fn nodes_only(request: Request<()>) -> Result<Request<()>, Status> {
    match speaker(&request) {
        Ok(_) => Ok(request),
        Err(e) => {
            let remote = request
                .extensions()
                .get::<PeerInfo>()
                .and_then(|p| p.remote);
            tracing::warn!(
                ?remote,
                "refused a node-to-node call without a node certificate"
            );
            Err(e.into())
        }
    }
}

/// The node a request comes from: `None` on an `--insecure` node, where
/// nobody is authenticated.
fn speaker<T>(request: &Request<T>) -> Result<Option<u64>, PeerRpcError> {
    match request.extensions().get::<PeerInfo>().map(|p| p.auth) {
        Some(PeerAuth::Insecure) => Ok(None),
        Some(PeerAuth::Node(id)) => Ok(Some(id)),
        Some(PeerAuth::NoNodeCert) | None => Err(PeerRpcError::NotANode),
    }
}

fn bad_payload(reason: String) -> PeerRpcError {
    PeerRpcError::BadPayload { reason }
}

fn io(operation: &'static str) -> impl FnOnce(std::io::Error) -> PeerRpcError {
    move |source| PeerRpcError::Io { operation, source }
}

impl RaftService {
    /// The request's sender may speak for node `claimed`: it is that node
    /// (by certificate) and, with `member`, one this node knows.
    fn check_sender<T>(
        &self,
        request: &Request<T>,
        claimed: u64,
        member: bool,
    ) -> Result<(), PeerRpcError> {
        if let Some(cert) = speaker(request)? {
            if cert != claimed {
                return Err(PeerRpcError::SpeaksForAnother { cert, claimed });
            }
        }
        if member && !self.replica.knows_node(claimed) {
            return Err(PeerRpcError::NotAMember { id: claimed });
        }
        Ok(())
    }
}

/// The node a vote is for (a candidate's, or a leader's).
fn voter(vote: &VoteOf<TypeConfig>) -> u64 {
    use openraft::vote::RaftLeaderId;
    *vote.leader_id().node_id()
}

/// Writes a snapshot stream to `path`, holding it to the `size` its header
/// declared and to a snapshot file's magic bytes as they arrive, then checks
/// the whole file. The caller deletes the file on error.
async fn receive(
    mut chunks: impl futures::Stream<Item = Result<Vec<u8>, Status>> + Unpin,
    size: u64,
    path: &std::path::Path,
    key: &crate::pki::SnapshotKey,
) -> Result<(), PeerRpcError> {
    let mut file = std::fs::File::create(path).map_err(io("creating the snapshot file"))?;
    let mut received = 0u64;
    while let Some(data) = chunks.next().await {
        let data = data?;
        if !SnapshotReader::may_start(received, &data) {
            return Err(PeerRpcError::NotASnapshot);
        }
        received += data.len() as u64;
        if received > size {
            return Err(PeerRpcError::SnapshotLonger { size });
        }
        file.write_all(&data)
            .map_err(io("writing the snapshot file"))?;
    }
    if received != size {
        return Err(PeerRpcError::SnapshotShorter { received, size });
    }
    file.sync_all().map_err(io("syncing the snapshot file"))?;
    let (check, key) = (path.to_path_buf(), key.clone());
    tokio::task::spawn_blocking(move || {
        SnapshotReader::verify(&check, &key, Accept::Authenticated)
    })
    .await?
    .map_err(|e| PeerRpcError::SnapshotCorrupt {
        reason: e.to_string(),
    })?;
    Ok(())
}

#[tonic::async_trait]
impl RaftRpc for RaftService {
    async fn append_entries(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let req: openraft::raft::AppendEntriesRequest<TypeConfig> =
            decode(request.get_ref()).map_err(bad_payload)?;
        // A new learner knows no members yet; the leader's certificate is
        // what proves it.
        self.check_sender(&request, voter(&req.vote), false)?;
        let result = self
            .replica
            .raft()
            .append_entries(req)
            .await
            .map_err(|e| e.to_string());
        Ok(Response::new(encode(&result)))
    }

    async fn vote(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let req: openraft::raft::VoteRequest<TypeConfig> =
            decode(request.get_ref()).map_err(bad_payload)?;
        self.check_sender(&request, voter(&req.vote), true)?;
        let result = self
            .replica
            .raft()
            .vote(req)
            .await
            .map_err(|e| e.to_string());
        Ok(Response::new(encode(&result)))
    }

    async fn pre_vote(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let req: openraft::raft::VoteRequest<TypeConfig> =
            decode(request.get_ref()).map_err(bad_payload)?;
        self.check_sender(&request, voter(&req.vote), true)?;
        let result = self
            .replica
            .raft()
            .pre_vote(req)
            .await
            .map_err(|e| e.to_string());
        Ok(Response::new(encode(&result)))
    }

    async fn removed(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let log_index: u64 = decode(request.get_ref()).map_err(bad_payload)?;
        // Only the leader that removed us says so, and it is a member.
        match speaker(&request)? {
            Some(id) if !self.replica.knows_node(id) => {
                return Err(PeerRpcError::NotAMember { id }.into())
            }
            _ => {}
        }
        let result = self
            .replica
            .mark_removed(log_index)
            .map_err(|e| e.to_string());
        Ok(Response::new(encode(&result)))
    }

    async fn transfer_leader(
        &self,
        request: Request<Payload>,
    ) -> Result<Response<Payload>, Status> {
        let req: openraft::raft::TransferLeaderRequest<TypeConfig> =
            decode(request.get_ref()).map_err(bad_payload)?;
        self.check_sender(&request, voter(req.from_leader()), true)?;
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
        let sender = speaker(&request)?;
        let mut stream = request.into_inner();
        let first = stream
            .next()
            .await
            .ok_or(PeerRpcError::EmptySnapshotStream)?
            .map_err(PeerRpcError::from)?;
        let (vote, meta, size): (VoteOf<TypeConfig>, SnapshotMetaOf<TypeConfig>, u64) =
            serde_json::from_slice(&first.header).map_err(|e| PeerRpcError::BadSnapshotHeader {
                reason: e.to_string(),
            })?;
        if let Some(cert) = sender.filter(|cert| *cert != voter(&vote)) {
            return Err(PeerRpcError::SpeaksForAnother {
                cert,
                claimed: voter(&vote),
            }
            .into());
        }
        if size > self.max_snapshot_bytes {
            return Err(PeerRpcError::SnapshotTooLarge {
                size,
                limit: self.max_snapshot_bytes,
            }
            .into());
        }
        // Removed at once if the stream fails, is refused, or is dropped.
        let part = PartFile(self.incoming_dir.join(format!(
            "incoming-{}.part",
            hex::encode(crate::pki::random_array::<8>())
        )));
        receive(
            stream.map(|c| c.map(|c| c.data)),
            size,
            &part.0,
            self.replica.snapshot_key(),
        )
        .await?;
        let snapshot = SnapshotOf::<TypeConfig, SnapshotData> {
            meta,
            snapshot: SnapshotData { path: part.keep() },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> crate::pki::SnapshotKey {
        let hex = crate::pki::SealKey::generate_hex().expect("random");
        crate::pki::SealKey::from_hex(&hex)
            .expect("a fresh key")
            .snapshot_key()
    }

    fn chunks(parts: Vec<Vec<u8>>) -> impl futures::Stream<Item = Result<Vec<u8>, Status>> + Unpin {
        futures::stream::iter(parts.into_iter().map(Ok))
    }

    #[tokio::test]
    async fn a_junk_snapshot_stream_is_refused_at_its_first_chunk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("in.part");
        // 200 MB declared and (lazily) offered: refused before the second chunk.
        let mut offered = 0;
        let junk = futures::stream::iter(std::iter::from_fn(|| {
            offered += 1;
            (offered <= 200).then(|| Ok(vec![0xAB; 1 << 20]))
        }));
        let err = receive(junk, 200 << 20, &path, &key()).await.unwrap_err();
        assert!(
            err.to_string().contains("not an mrouter snapshot"),
            "{err:?}"
        );
        assert!(offered <= 1, "read {offered} chunks");
        assert!(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0);
    }

    #[tokio::test]
    async fn a_snapshot_stream_is_held_to_its_declared_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("in.part");
        let start = b"MRSNAP\0\x02".to_vec();
        let err = receive(chunks(vec![start.clone(), vec![0; 100]]), 50, &path, &key())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("more than the 50 bytes"),
            "{err:?}"
        );
        let err = receive(chunks(vec![start]), 50, &path, &key())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("8 bytes of the 50"), "{err:?}");
        // The magic split over chunks is fine; a wrong byte in it is not.
        assert!(SnapshotReader::may_start(0, b"MRS"));
        assert!(SnapshotReader::may_start(3, b"NAP\0\x02rest"));
        // A file of the first kind (no MAC) is never taken from a peer.
        assert!(!SnapshotReader::may_start(0, b"MRSNAP\0\x01"));
        assert!(!SnapshotReader::may_start(3, b"NOP"));
        assert!(SnapshotReader::may_start(8, b"anything"));
    }
}
