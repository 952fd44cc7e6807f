//! A cluster of `mrd` processes under test, and helpers named for intent.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use mrouter_proto::connect::Connector;
use mrouter_proto::v1::cluster_client::ClusterClient;
use mrouter_proto::v1::settings_client::SettingsClient;
use mrouter_proto::v1::{
    ClusterSettings, ClusterStatus, GetSettingsRequest, InitRequest, LookupWriteRequest, Member,
    SetSettingsRequest, StatusRequest,
};
use tempfile::TempDir;
use tonic::transport::{Channel, Endpoint};

use crate::node::NodeProc;
use crate::partition::Partitions;

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub nodes: u64,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    /// Start each node's local and remote client listeners (on free ports).
    pub listeners: bool,
    /// Ports of the virtual local and remote listeners (opened by the leader).
    pub virtual_ports: Option<(u16, u16)>,
    /// Run each node under a group of its own so that [`Cluster::cut`] and
    /// [`Cluster::isolate`] work (needs root and `nft`).
    pub partitions: bool,
    /// Run the nodes with `--insecure` (plaintext, no peer checks) instead
    /// of TLS with a certificate each from the tests' cluster CA.
    pub insecure: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        // Roomier than production timing: tests share two cores.
        Self {
            nodes: 3,
            heartbeat_ms: 50,
            election_timeout_ms: 300,
            listeners: false,
            virtual_ports: None,
            partitions: false,
            insecure: false,
        }
    }
}

/// A write acknowledged by the cluster.
#[derive(Clone, Debug)]
pub struct Written {
    pub request_id: Vec<u8>,
    pub log_index: u64,
    pub value: String,
}

pub struct Cluster {
    pub nodes: BTreeMap<u64, NodeProc>,
    pub seal_key_file: PathBuf,
    opts: ClusterOptions,
    partitions: Partitions,
    connector: Connector,
    // Last: removed after every node process is gone.
    root: TempDir,
}

/// Polls `f` until it returns `Some`, or fails after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "timed out after {timeout:?} waiting for {what}; last error: {last_err:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn random_id() -> Vec<u8> {
    let mut id = [0u8; 16];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    id[..16].copy_from_slice(&now.to_be_bytes());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for (i, b) in n.to_be_bytes().iter().enumerate() {
        id[i] ^= b;
    }
    id.to_vec()
}

impl Cluster {
    /// Starts `opts.nodes` nodes, initializes them as one cluster and waits for a leader.
    pub async fn start(opts: ClusterOptions) -> Result<Self> {
        let mut c = Self::new_uninitialized(opts)?;
        for id in 1..=c.opts.nodes {
            c.start_node(id)?;
        }
        c.init(&(1..=c.opts.nodes).collect::<Vec<_>>()).await?;
        c.must_have_leader().await?;
        Ok(c)
    }

    /// A directory and seal key, no nodes yet.
    pub fn new_uninitialized(opts: ClusterOptions) -> Result<Self> {
        let root = tempfile::Builder::new().prefix("mrouter-test-").tempdir()?;
        let seal_key_file = root.path().join("seal.key");
        let status = std::process::Command::new(crate::binary("mrd"))
            .arg("seal-key")
            .arg(&seal_key_file)
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("mrd seal-key failed");
        }
        let connector = if opts.insecure {
            Connector::plaintext()
        } else {
            crate::tls::api_connector()
        };
        Ok(Self {
            root,
            seal_key_file,
            nodes: BTreeMap::new(),
            opts,
            partitions: Partitions::new(),
            connector,
        })
    }

    pub fn root(&self) -> &std::path::Path {
        self.root.path()
    }

    /// How clients reach the nodes' API (TLS unless the cluster is insecure).
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Node `id`'s TLS files (made at its first start), under the cluster's
    /// directory.
    pub fn tls_files(&self, id: u64) -> Result<crate::tls::NodeFiles> {
        crate::tls::node_files(
            crate::tls::ca_dir(),
            &self.root.path().join("tls"),
            id,
            false,
        )
    }

    fn timing_args(&self) -> Vec<String> {
        vec![
            "--heartbeat-ms".into(),
            self.opts.heartbeat_ms.to_string(),
            "--election-timeout-ms".into(),
            self.opts.election_timeout_ms.to_string(),
        ]
    }

    /// Starts (or restarts, on its old addresses and data) node `id`.
    pub fn start_node(&mut self, id: u64) -> Result<SocketAddr> {
        let mut args = self.timing_args();
        if self.opts.insecure {
            args.push("--insecure".into());
        } else {
            args.extend(self.tls_files(id)?.args());
        }
        let root = self.root.path().to_path_buf();
        let (listeners, virtual_ports) = (self.opts.listeners, self.opts.virtual_ports);
        let node = self
            .nodes
            .entry(id)
            .or_insert_with(|| NodeProc::new(id, &root));
        if self.opts.partitions {
            node.gid = Some(self.partitions.gid(id));
        }
        if listeners {
            for kind in ["local", "remote"] {
                let addr = node
                    .listener(kind)
                    .map_or_else(|| "127.0.0.1:0".to_string(), |a| a.to_string());
                args.extend([format!("--{kind}-listen"), addr]);
            }
        }
        if let Some((local, remote)) = virtual_ports {
            args.extend([
                "--virtual-local-port".into(),
                local.to_string(),
                "--virtual-remote-port".into(),
                remote.to_string(),
            ]);
        }
        node.start(&self.seal_key_file, &args)
    }

    pub async fn init(&self, ids: &[u64]) -> Result<()> {
        let members = ids
            .iter()
            .map(|id| Member {
                id: *id,
                addr: self.addr(*id).to_string(),
            })
            .collect();
        let mut client = ClusterClient::new(self.channel(ids[0]).await?);
        client.init(InitRequest { members }).await?;
        Ok(())
    }

    pub fn addr(&self, id: u64) -> SocketAddr {
        self.nodes[&id].addr.expect("node must have been started")
    }

    /// Node `id`'s data directory.
    pub fn node_data_dir(&self, id: u64) -> std::path::PathBuf {
        self.nodes[&id].data_dir.clone()
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.is_running())
            .map(|n| n.id)
            .collect()
    }

    /// Comma-separated addresses of the running nodes, for mrctl.
    pub fn endpoints(&self) -> String {
        self.running()
            .iter()
            .map(|id| self.addr(*id).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub async fn channel(&self, id: u64) -> Result<Channel> {
        self.channel_with_timeout(id, Duration::from_secs(10)).await
    }

    /// A channel whose requests may take up to `timeout` (slow
    /// administrative calls on a large state).
    pub async fn channel_with_timeout(&self, id: u64, timeout: Duration) -> Result<Channel> {
        let uri = format!("{}://{}", self.connector.scheme(), self.addr(id));
        Ok(Endpoint::from_shared(uri)?
            .connect_timeout(Duration::from_secs(1))
            .timeout(timeout)
            .connect_with_connector(self.connector.clone())
            .await?)
    }

    pub async fn status(&self, id: u64) -> Result<ClusterStatus> {
        Ok(ClusterClient::new(self.channel(id).await?)
            .status(StatusRequest {})
            .await?
            .into_inner())
    }

    /// Waits until the running nodes agree on a leader that says so itself.
    pub async fn must_have_leader(&self) -> Result<u64> {
        self.must_have_leader_among(&self.running()).await
    }

    /// Waits until nodes `ids` (a side of a partition, say) agree on a
    /// leader among them that says so itself.
    pub async fn must_have_leader_among(&self, ids: &[u64]) -> Result<u64> {
        eventually(Duration::from_secs(20), "a leader", || async {
            let mut leader = None;
            for &id in ids {
                let s = match self.status(id).await {
                    Ok(s) => s,
                    Err(_) => return Ok(None),
                };
                match (leader, s.leader_id) {
                    (_, None) => return Ok(None),
                    (None, Some(l)) => leader = Some(l),
                    (Some(a), Some(b)) if a != b => return Ok(None),
                    _ => {}
                }
            }
            let Some(l) = leader else { return Ok(None) };
            if !ids.contains(&l) || !self.running().contains(&l) {
                return Ok(None);
            }
            let own = self.status(l).await?;
            Ok(own
                .members
                .iter()
                .any(|m| m.id == l && m.role == "leader")
                .then_some(l))
        })
        .await
    }

    /// One write (a settings change) through node `via`.
    pub async fn write(&self, via: u64, value: &str) -> Result<Written> {
        let request_id = random_id();
        let reply = SettingsClient::new(self.channel(via).await?)
            .set(SetSettingsRequest {
                remote_access_fqdn: Some(value.to_string()),
                request_id: request_id.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok(Written {
            request_id,
            log_index: reply.log_index,
            value: value.to_string(),
        })
    }

    /// A write that must be acknowledged within 10 s (retrying the same request id).
    pub async fn must_write(&self, via: u64, value: &str) -> Result<Written> {
        let request_id = random_id();
        eventually(Duration::from_secs(10), "an acknowledged write", || {
            let request_id = request_id.clone();
            async move {
                let mut client = SettingsClient::new(self.channel(via).await?);
                let reply = client
                    .set(SetSettingsRequest {
                        remote_access_fqdn: Some(value.to_string()),
                        request_id: request_id.clone(),
                        ..Default::default()
                    })
                    .await;
                match reply {
                    Ok(r) => Ok(Some(Written {
                        request_id,
                        log_index: r.into_inner().log_index,
                        value: value.into(),
                    })),
                    Err(s) if s.code() == tonic::Code::Unavailable => Ok(None),
                    Err(s) => Err(anyhow!(s)),
                }
            }
        })
        .await
    }

    /// Whether `written` is in the state, asked (linearizably) through `via`.
    pub async fn is_applied(&self, via: u64, written: &Written) -> Result<bool> {
        let reply = ClusterClient::new(self.channel(via).await?)
            .lookup_write(LookupWriteRequest {
                request_id: written.request_id.clone(),
            })
            .await?
            .into_inner();
        Ok(reply.applied)
    }

    /// Settings as node `id` has applied them (no leader involved).
    pub async fn settings_on(&self, id: u64) -> Result<ClusterSettings> {
        let reply = SettingsClient::new(self.channel(id).await?)
            .get(GetSettingsRequest { stale: true })
            .await?
            .into_inner();
        reply.settings.context("reply without settings")
    }

    /// Waits until every running node has applied at least `index`; returns
    /// their digests, which must all be equal.
    pub async fn must_converge(&self, index: u64) -> Result<String> {
        eventually(
            Duration::from_secs(30),
            "every node to apply the same state",
            || async {
                let mut digests = BTreeMap::new();
                for id in self.running() {
                    let s = self.status(id).await?;
                    if s.applied_index < index {
                        return Ok(None);
                    }
                    digests.insert(id, (s.applied_index, s.state_digest));
                }
                let first = digests.values().next().cloned();
                Ok(first
                    .filter(|f| digests.values().all(|d| d == f))
                    .map(|(_, d)| d))
            },
        )
        .await
    }

    /// Waits until node `id` has applied at least `index` (under load the
    /// nodes are never all at the same index at once).
    pub async fn must_catch_up(&self, id: u64, index: u64) -> Result<()> {
        self.must_catch_up_within(id, index, Duration::from_secs(30))
            .await
    }

    pub async fn must_catch_up_within(&self, id: u64, index: u64, limit: Duration) -> Result<()> {
        eventually(limit, "the node to catch up", || async {
            Ok((self.status(id).await?.applied_index >= index).then_some(()))
        })
        .await
    }

    /// Starts node `id` again (after a kill) and waits, up to `limit`, until
    /// it has applied everything the leader has.
    pub async fn must_restart_caught_up(&mut self, id: u64, limit: Duration) -> Result<()> {
        self.start_node(id)?;
        let leader = self.must_have_leader().await?;
        let last = self.status(leader).await?.last_log_index;
        self.must_catch_up_within(id, last, limit).await
    }

    /// Cuts the network link between nodes `a` and `b`, both ways; clients
    /// still reach both (see [`crate::partition`]).
    pub fn cut(&mut self, a: u64, b: u64) -> Result<()> {
        self.must_be_partitionable()?;
        let ports: BTreeMap<u64, u16> = self.ports();
        self.partitions.cut(a, b, |id| ports[&id])
    }

    /// Cuts node `id` off from every other node.
    pub fn isolate(&mut self, id: u64) -> Result<()> {
        let others: Vec<u64> = self.nodes.keys().copied().filter(|&o| o != id).collect();
        for other in others {
            self.cut(id, other)?;
        }
        Ok(())
    }

    /// Removes every cut.
    pub fn heal(&mut self) -> Result<()> {
        self.partitions.heal()
    }

    fn must_be_partitionable(&self) -> Result<()> {
        if !self.opts.partitions {
            bail!("start the cluster with ClusterOptions {{ partitions: true, .. }} to cut links");
        }
        Ok(())
    }

    fn ports(&self) -> BTreeMap<u64, u16> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| n.addr.map(|a| (*id, a.port())))
            .collect()
    }

    pub fn kill(&mut self, id: u64) {
        self.nodes.get_mut(&id).expect("known node").kill9();
    }

    pub fn pause(&mut self, id: u64) {
        self.nodes.get_mut(&id).expect("known node").pause();
    }

    pub fn resume(&mut self, id: u64) {
        self.nodes.get_mut(&id).expect("known node").resume();
    }

    pub fn node(&mut self, id: u64) -> &mut NodeProc {
        self.nodes.get_mut(&id).expect("known node")
    }
}
