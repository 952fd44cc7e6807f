//! Starting a node: open the store, start Raft, serve the public API, the
//! node-to-node service and gRPC health on one port (TLS, unless
//! `--insecure`), stop cleanly on a signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use mrouter_proto::raft::v1::raft_server::RaftServer;
use mrouter_proto::v1::certificate_authority_server::CertificateAuthorityServer;
use mrouter_proto::v1::clients_server::ClientsServer;
use mrouter_proto::v1::cluster_server::ClusterServer;
use mrouter_proto::v1::router_certificates_server::RouterCertificatesServer;
use mrouter_proto::v1::settings_server::SettingsServer;
use openraft::Config;
use tokio::net::TcpListener;

use tonic::service::interceptor::InterceptedService;

use crate::api::{member_check, CaApi, ClientsApi, ClusterApi, RouterCertsApi, SettingsApi};
use crate::certstore::CertStore;
use crate::config::{NodeConfig, Transport};
use crate::raft::{self, NetworkFactory, Peers, RaftService, Replica};
use crate::tls::NodeTls;

/// Why a node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] raft::StoreError),
    #[error("raft configuration: {0}")]
    RaftConfig(String),
    #[error("{dir}: reading the removal marker: {source}")]
    Removal {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("raft failed to start: {0}")]
    Raft(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Listen(#[from] crate::tls::ListenError),
    #[error(transparent)]
    Tls(#[from] crate::tls::NodeTlsError),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Largest certificate upload the API decodes (files are checked against a
/// smaller limit with a clear message).
const UPLOAD_MAX: usize = 64 << 20;

/// openraft settings derived from the node configuration.
pub fn raft_config(cfg: &NodeConfig) -> Result<Config, ServeError> {
    let election = cfg.election_timeout.as_millis() as u64;
    Config {
        cluster_name: "mrouter".into(),
        heartbeat_interval: cfg.heartbeat.as_millis() as u64,
        election_timeout_min: election,
        // openraft's leader lease is election_timeout_max: peers refuse votes until it
        // runs out, so a narrow range lets the first candidate win instead of the
        // second.
        election_timeout_max: election * 3 / 2,
        // The lease alone does not keep a node back from a pause from deposing
        // a live leader: its vote request is refused, but it has raised its
        // term, and its answer to the leader's next heartbeat carries that
        // higher term, which makes the leader step down. With pre-vote it asks
        // first and raises its term only if a majority would vote for it.
        enable_pre_vote: Some(true),
        // Snapshot transfers of large states must not be stranded by a purge.
        max_in_snapshot_log_to_keep: 10_000,
        // Driven by raft::snapshot_policy (by log bytes against the state size).
        snapshot_policy: openraft::SnapshotPolicy::Never,
        max_payload_entries: 512,
        install_snapshot_timeout: 10_000,
        ..Default::default()
    }
    .validate()
    .map_err(|e| ServeError::RaftConfig(e.to_string()))
}

/// Runs a node until `shutdown` resolves. `on_bound` receives the address
/// actually bound (the port may have been 0).
pub async fn run(
    cfg: NodeConfig,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let advertise = cfg.advertise.clone().unwrap_or_else(|| bound.to_string());

    let tls = match &cfg.transport {
        Transport::Tls(files) => {
            let tls = NodeTls::load(cfg.node_id, files.clone())?;
            tls.watch();
            Some(tls)
        }
        Transport::Insecure => {
            tracing::warn!(
                "--insecure: the gRPC port is plaintext and unauthenticated; anyone who reaches \
                 it can read the CA key and send Raft messages. Use it for tests only."
            );
            None
        }
    };
    let (log, sm) = raft::open(&cfg.data_dir, cfg.node_id, &cfg.seal_key)?;
    let peers = Peers::new(
        tls.clone()
            .map(|t| t as Arc<dyn mrouter_proto::connect::ClientTlsSource>),
    );
    let raft_config = Arc::new(raft_config(&cfg)?);
    let network = NetworkFactory {
        peers: peers.clone(),
    };
    let log_bytes = log.appended_bytes();
    let raft = raft::Raft::new(cfg.node_id, raft_config, network, log, sm.clone())
        .await
        .map_err(|e| ServeError::Raft(e.to_string()))?;
    raft::snapshot_policy::spawn(raft.clone(), log_bytes, sm.snapshot_dir().to_path_buf());
    let removal = raft::Removal::load(&cfg.data_dir).map_err(|source| ServeError::Removal {
        dir: cfg.data_dir.clone(),
        source,
    })?;
    if let Some(log_index) = removal.removed_at() {
        tracing::error!(
            node_id = cfg.node_id,
            log_index,
            "this node was removed from the cluster: the API refuses every call; \
             to add it back, wipe its data dir and add it as a new learner"
        );
    }
    let replica = Arc::new(Replica::new(
        cfg.node_id,
        advertise.clone(),
        raft.clone(),
        sm,
        peers,
        cfg.seal_key.id().into(),
        removal,
    ));

    let seal = Arc::new(cfg.seal_key);
    let certs = Arc::new(CertStore::new(replica.clone(), seal.clone()));
    crate::tls::start(
        cfg.listeners,
        replica.clone(),
        seal.clone(),
        certs.clone(),
        cfg.election_timeout,
    )
    .await?;

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ClusterServer<ClusterApi>>().await;
    health.set_serving::<SettingsServer<SettingsApi>>().await;

    let max = raft::MAX_MESSAGE;
    // Every public service refuses calls once this node was removed.
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(member_only(
            ClusterServer::new(ClusterApi::new(replica.clone())).max_decoding_message_size(max),
            &replica,
        ))
        .add_service(member_only(
            SettingsServer::new(SettingsApi::new(replica.clone())),
            &replica,
        ))
        // Large enough that an oversized upload reaches our own, clearer check.
        .add_service(member_only(
            CertificateAuthorityServer::new(CaApi::new(certs.clone()))
                .max_decoding_message_size(UPLOAD_MAX),
            &replica,
        ))
        .add_service(member_only(
            RouterCertificatesServer::new(RouterCertsApi::new(certs.clone()))
                .max_decoding_message_size(UPLOAD_MAX),
            &replica,
        ))
        .add_service(member_only(
            ClientsServer::new(ClientsApi::new(certs)).max_decoding_message_size(UPLOAD_MAX),
            &replica,
        ))
        // Refused before any message is read unless the caller is a node.
        .add_service(InterceptedService::new(
            RaftServer::new(RaftService::new(
                replica.clone(),
                replica.scratch_dir().to_path_buf(),
                cfg.max_snapshot_bytes,
            ))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
            raft::nodes_only,
        ));
    let tls_on = tls.is_some();
    let incoming = crate::tls::incoming(listener, tls);
    tracing::info!(node_id = cfg.node_id, %bound, %advertise, tls = tls_on, seal_key_id = seal.id(), "mrd serving");
    on_bound(bound);
    router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    tracing::info!("shutting down raft");
    let _ = raft.shutdown().await;
    Ok(())
}

/// `svc`, refusing every call once this node was removed from the cluster.
fn member_only<S>(
    svc: S,
    replica: &Arc<Replica>,
) -> InterceptedService<
    S,
    impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone,
> {
    InterceptedService::new(svc, member_check(replica.clone()))
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler must work");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
