//! The router's listeners on one node: its own `local` and `remote`
//! listeners, and — while it leads with a quorum — the virtual ones on the
//! cluster's virtual address. A leader that has not heard from a quorum
//! within its lease closes the virtual listeners (and their connections), so
//! two nodes never both serve the virtual address for longer than that.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;
use openraft::Instant as _;
use rustls::crypto::CryptoProvider;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::client_verifier::ClientVerifier;
use super::listener::{serve, ListenerContext, ListenerTls};
use super::slot_resolver::SlotResolver;
use crate::certstore::CertStore;
use crate::config::ListenerConfig;
use crate::domain::{Command, NodeEndpoints, ReadNodeEndpoints, ReadSettings, SlotId, SlotKind};
use crate::pki::SealKey;
use crate::raft::{Replica, VirtualListeners};

/// How often leadership and the virtual address are checked.
const VIRTUAL_CHECK: Duration = Duration::from_millis(20);
/// The first and the longest wait before binding a virtual address again.
const BIND_RETRY_FIRST: Duration = Duration::from_millis(100);
const BIND_RETRY_MAX: Duration = Duration::from_secs(5);

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr} for the {slot} listener: {source}")]
    Bind {
        addr: SocketAddr,
        slot: SlotKind,
        source: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// Builds listener configurations for this node's slots.
#[derive(Clone)]
struct Factory {
    replica: Arc<Replica>,
    seal: Arc<SealKey>,
    provider: Arc<CryptoProvider>,
    verifier: Arc<ClientVerifier>,
    ctx: Arc<ListenerContext>,
}

impl Factory {
    async fn bind(
        &self,
        kind: SlotKind,
        addr: SocketAddr,
    ) -> Result<(JoinHandle<()>, SocketAddr), ListenError> {
        let slot = SlotId::new(kind, self.replica.id());
        let resolver = Arc::new(SlotResolver::new(
            self.replica.clone(),
            self.seal.clone(),
            slot,
        ));
        let tls = Arc::new(ListenerTls::new(
            self.provider.clone(),
            resolver,
            self.verifier.clone(),
        )?);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ListenError::Bind {
                addr,
                slot: kind,
                source,
            })?;
        let bound = listener.local_addr().unwrap_or(addr);
        // Tests and `mrd dev` read the bound address (the port may be 0).
        println!("mrd {kind} listener on {bound}");
        let task = tokio::spawn(serve(listener, tls, slot, self.ctx.clone()));
        Ok((task, bound))
    }
}

/// Starts this node's `local` and `remote` listeners now and the virtual
/// ones whenever it leads; runs until the runtime stops.
pub async fn start(
    cfg: ListenerConfig,
    replica: Arc<Replica>,
    seal: Arc<SealKey>,
    certs: Arc<CertStore>,
    lease: Duration,
) -> Result<(), ListenError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let factory = Factory {
        verifier: Arc::new(ClientVerifier::new(replica.clone(), provider.clone())),
        ctx: Arc::new(ListenerContext {
            node_id: replica.id(),
            certs,
        }),
        replica,
        seal,
        provider,
    };
    let mut endpoints = NodeEndpoints {
        node: factory.replica.id(),
        virtual_local_port: cfg.virtual_local_port.unwrap_or(0),
        virtual_remote_port: cfg.virtual_remote_port.unwrap_or(0),
        ..Default::default()
    };
    for (kind, addr) in [(SlotKind::Local, cfg.local), (SlotKind::Remote, cfg.remote)] {
        if let Some(addr) = addr {
            // Detached: the node's own listeners live as long as the process.
            let (_task, bound) = factory.bind(kind, addr).await?;
            match kind {
                SlotKind::Local => endpoints.local = bound.to_string(),
                _ => endpoints.remote = bound.to_string(),
            }
        }
    }
    // A node without listeners has nothing to tell clients (and writes nothing).
    if endpoints
        != (NodeEndpoints {
            node: endpoints.node,
            ..Default::default()
        })
    {
        tokio::spawn(report_endpoints(factory.replica.clone(), endpoints));
    }
    let ports: Vec<(SlotKind, u16)> = [
        (SlotKind::LocalVirtual, cfg.virtual_local_port),
        (SlotKind::RemoteVirtual, cfg.virtual_remote_port),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.map(|p| (k, p)))
    .collect();
    if !ports.is_empty() {
        factory
            .replica
            .set_virtual_listeners(Some(VirtualListeners::Closed));
        tokio::spawn(virtual_listeners(factory, ports, lease));
    }
    Ok(())
}

/// Keeps the virtual listeners open exactly while this node leads with a
/// fresh quorum acknowledgement, on the virtual address the settings name.
/// An address that cannot be bound (not on this host yet, say) is retried
/// with backoff and logged once per change, not at every attempt.
async fn virtual_listeners(factory: Factory, ports: Vec<(SlotKind, u16)>, lease: Duration) {
    let mut serving: Option<(IpAddr, Vec<JoinHandle<()>>)> = None;
    let mut failing: Option<BindFailure> = None;
    let mut metrics = factory.replica.raft().metrics();
    loop {
        let wanted = if leads_with_quorum(&factory.replica, lease) {
            virtual_address(&factory.replica)
        } else {
            None
        };
        if serving.as_ref().map(|(ip, _)| *ip) != wanted {
            if let Some((ip, tasks)) = serving.take() {
                for t in tasks {
                    t.abort();
                }
                tracing::info!(%ip, "closed the virtual listeners");
            }
            if failing.as_ref().map(|f| f.ip) != wanted {
                if let Some(f) = failing.take() {
                    tracing::info!(ip = %f.ip, "stopped trying to open the virtual listeners");
                }
            }
            let due = failing
                .as_ref()
                .is_none_or(|f| Instant::now() >= f.retry_at);
            if let (Some(ip), true) = (wanted, due) {
                match open_virtual(&factory, &ports, ip).await {
                    Ok(tasks) => {
                        tracing::info!(%ip, "opened the virtual listeners");
                        failing = None;
                        serving = Some((ip, tasks));
                        factory
                            .replica
                            .set_virtual_listeners(Some(VirtualListeners::Serving {
                                address: ip.to_string(),
                            }));
                    }
                    Err(e) => {
                        let error = e.to_string();
                        let failure = BindFailure::next(failing.take(), ip, &error);
                        factory
                            .replica
                            .set_virtual_listeners(Some(VirtualListeners::CannotBind {
                                address: ip.to_string(),
                                error,
                            }));
                        failing = Some(failure);
                    }
                }
            }
        }
        if wanted.is_none() {
            factory
                .replica
                .set_virtual_listeners(Some(VirtualListeners::Closed));
        }
        // Wake on a leadership change, or poll so the lease is noticed.
        let _ = tokio::time::timeout(VIRTUAL_CHECK, metrics.changed()).await;
    }
}

/// The virtual address could not be bound: when to try again.
struct BindFailure {
    ip: IpAddr,
    error: String,
    delay: Duration,
    retry_at: Instant,
}

impl BindFailure {
    /// The failure after `previous`, logged only when the address or the
    /// error changed; the delay doubles up to `BIND_RETRY_MAX`.
    fn next(previous: Option<BindFailure>, ip: IpAddr, error: &str) -> BindFailure {
        let delay = match previous {
            Some(p) if p.ip == ip && p.error == error => {
                tracing::debug!(%ip, error, "virtual listeners still cannot open");
                (p.delay * 2).min(BIND_RETRY_MAX)
            }
            _ => {
                tracing::warn!(
                    %ip,
                    error,
                    "cannot open the virtual listeners; retrying with backoff up to every {}s \
                     (is the virtual address assigned to this host?)",
                    BIND_RETRY_MAX.as_secs()
                );
                BIND_RETRY_FIRST
            }
        };
        BindFailure {
            ip,
            error: error.to_string(),
            delay,
            retry_at: Instant::now() + delay,
        }
    }
}

/// Binds every virtual port on `ip`, or none.
async fn open_virtual(
    factory: &Factory,
    ports: &[(SlotKind, u16)],
    ip: IpAddr,
) -> Result<Vec<JoinHandle<()>>, ListenError> {
    let mut tasks = Vec::new();
    for (kind, port) in ports {
        match factory.bind(*kind, SocketAddr::new(ip, *port)).await {
            Ok((t, _)) => tasks.push(t),
            Err(e) => {
                for t in tasks {
                    t.abort();
                }
                return Err(e);
            }
        }
    }
    Ok(tasks)
}

/// Records this node's listener addresses in the replicated state (clients
/// receive them when provisioned), once the cluster can take the write.
async fn report_endpoints(replica: Arc<Replica>, endpoints: NodeEndpoints) {
    loop {
        let recorded = replica
            .ask_local(ReadNodeEndpoints)
            .ok()
            .and_then(|all| all.into_iter().find(|e| e.node == endpoints.node));
        if recorded.as_ref() == Some(&endpoints) {
            return;
        }
        let member = replica.membership().iter().any(|m| m.id == endpoints.node);
        if member {
            let proposal = Replica::proposal(Command::SetNodeEndpoints(endpoints.clone()), None);
            if replica.write(proposal).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn leads_with_quorum(replica: &Replica, lease: Duration) -> bool {
    let m = replica.raft().metrics().borrow_watched().clone();
    let alone = m.membership_config.membership().voter_ids().count() == 1;
    m.current_leader == Some(replica.id())
        && m.state.is_leader()
        && (alone || m.last_quorum_acked.is_some_and(|at| at.elapsed() < lease))
}

fn virtual_address(replica: &Replica) -> Option<IpAddr> {
    replica.ask_local(ReadSettings).ok()?.virtual_address
}
