//! The Raft transport: one lazily connected tonic channel per peer, shared by
//! every RPC to it; snapshots are streamed from their file in chunks while the
//! call is in flight. Connections are mutual TLS: the peer's certificate must
//! chain to the cluster CA, name the address dialled and the node id expected.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use mrouter_proto::connect::{ClientTlsSource, Connector};
use mrouter_proto::raft::v1::raft_client::RaftClient;
use mrouter_proto::raft::v1::{Payload, SnapshotChunk};
use openraft::alias::{SnapshotOf, VoteOf};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tonic::transport::{Channel, Endpoint};

use super::state_machine::SnapshotData;
use super::types::TypeConfig;

/// Largest gRPC message between nodes (append batches, snapshot chunks).
pub const MAX_MESSAGE: usize = 64 << 20;
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// Channels to peers, by node id. Cloning shares the pool.
#[derive(Clone)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<u64, (String, Channel)>>>,
    /// `None`: plaintext (`--insecure`).
    tls: Option<Arc<dyn ClientTlsSource>>,
}

impl Peers {
    /// Peers dialled with `tls` (read again at every connect), or in
    /// plaintext.
    pub fn new(tls: Option<Arc<dyn ClientTlsSource>>) -> Self {
        Self {
            channels: Arc::default(),
            tls,
        }
    }

    /// How a connection to node `id` is made: TLS with a check that the
    /// certificate names `id`.
    fn connector(&self, id: u64) -> Connector {
        match &self.tls {
            None => Connector::plaintext(),
            Some(tls) => Connector::tls(tls.clone()).with_peer_check(Arc::new(move |chain| {
                let named = chain.first().and_then(|leaf| crate::pki::node_id_of(leaf));
                match named {
                    Some(named) if named == id => Ok(()),
                    Some(named) => Err(format!(
                        "its certificate is node {named}'s, not node {id}'s"
                    )),
                    None => Err(format!(
                        "its certificate names no node (expected node {id})"
                    )),
                }
            })),
        }
    }

    /// The channel to `id` at `addr`, created on first use (connects lazily).
    pub fn client(
        &self,
        id: u64,
        addr: &str,
    ) -> Result<RaftClient<Channel>, tonic::transport::Error> {
        let mut channels = self
            .channels
            .lock()
            .expect("peer pool lock must not be poisoned");
        let channel = match channels.get(&id) {
            Some((known, channel)) if known == addr => channel.clone(),
            _ => {
                let connector = self.connector(id);
                let channel = Endpoint::from_shared(format!("{}://{addr}", connector.scheme()))?
                    .connect_timeout(Duration::from_millis(500))
                    .http2_keep_alive_interval(Duration::from_secs(1))
                    .keep_alive_timeout(Duration::from_secs(2))
                    .connect_with_connector_lazy(connector);
                channels.insert(id, (addr.to_string(), channel.clone()));
                channel
            }
        };
        Ok(RaftClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE))
    }
}

pub struct NetworkFactory {
    pub peers: Peers,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            client: self
                .peers
                .client(target, &node.addr)
                .map_err(|e| e.to_string()),
        }
    }
}

pub struct PeerClient {
    target: u64,
    client: Result<RaftClient<Channel>, String>,
}

/// A Raft message as it crosses the wire between nodes.
pub fn encode<T: Serialize>(value: &T) -> Payload {
    Payload {
        data: super::codec::to_vec(value).expect("raft messages must serialize"),
    }
}

/// A Raft message from the wire; `Err` names why it does not decode.
pub fn decode<T: DeserializeOwned>(payload: &Payload) -> Result<T, String> {
    super::codec::from_slice(&payload.data).map_err(|e| format!("undecodable payload: {e}"))
}

fn unreachable<E: std::fmt::Display>(e: E) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::new(&AnyError::error(e)))
}

fn network<E: std::fmt::Display>(e: E) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::new(&AnyError::error(e)))
}

fn status_error(status: tonic::Status) -> RPCError<TypeConfig> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            unreachable(status.message())
        }
        _ => network(status),
    }
}

impl PeerClient {
    async fn call<Req, Resp, F, Fut>(
        &mut self,
        req: &Req,
        option: &RPCOption,
        f: F,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, Payload) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Payload>, tonic::Status>>,
    {
        let client = self.client.clone().map_err(unreachable)?;
        let reply = tokio::time::timeout(option.hard_ttl(), f(client, encode(req)))
            .await
            .map_err(|_| {
                unreachable(format!(
                    "no answer from node {} in {:?}",
                    self.target,
                    option.hard_ttl()
                ))
            })?
            .map_err(status_error)?;
        let result: Result<Resp, String> = decode(reply.get_ref()).map_err(network)?;
        result.map_err(network)
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&rpc, &option, |mut c, p| async move {
            c.append_entries(p).await
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&rpc, &option, |mut c, p| async move { c.vote(p).await })
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&rpc, &option, |mut c, p| async move { c.pre_vote(p).await })
            .await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&req, &option, |mut c, p| async move {
            c.transfer_leader(p).await
        })
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let to_streaming = |e: RPCError<TypeConfig>| match e {
            RPCError::Unreachable(u) => StreamingError::Unreachable(u),
            RPCError::Network(n) => StreamingError::Network(n),
            other => StreamingError::Network(NetworkError::new(&AnyError::error(other))),
        };
        let mut client = self
            .client
            .clone()
            .map_err(unreachable)
            .map_err(to_streaming)?;
        let file = tokio::fs::File::open(&snapshot.snapshot.path)
            .await
            .map_err(|e| to_streaming(network(format!("cannot open snapshot file: {e}"))))?;
        // The receiver holds the stream to the size declared here.
        let size = file
            .metadata()
            .await
            .map_err(|e| to_streaming(network(format!("cannot read snapshot file size: {e}"))))?
            .len();
        let header = serde_json::to_vec(&(vote, snapshot.meta.clone(), size))
            .expect("snapshot header must serialize");
        let first = futures::stream::once(async move {
            SnapshotChunk {
                header,
                data: Vec::new(),
            }
        });
        let body = futures::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buf = vec![0u8; SNAPSHOT_CHUNK];
            match file.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((
                        SnapshotChunk {
                            header: Vec::new(),
                            data: buf,
                        },
                        Some(file),
                    ))
                }
            }
        });
        let call = client.install_snapshot(first.chain(body));
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            reply = tokio::time::timeout(Duration::from_secs(600), call) => reply,
        };
        let reply = reply
            .map_err(|_| {
                to_streaming(unreachable("snapshot transfer took longer than 10 minutes"))
            })?
            .map_err(|s| to_streaming(status_error(s)))?;
        let result: Result<SnapshotResponse<TypeConfig>, String> =
            decode(reply.get_ref()).map_err(|e| to_streaming(network(e)))?;
        result.map_err(|e| to_streaming(network(e)))
    }
}
