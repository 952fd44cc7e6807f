//! `mrd dev`: a local cluster of real `mrd` processes on loopback, with real
//! RocksDB under one directory, initialized and ready for `mrctl`. Running it
//! again on the same directory resumes the same cluster.
//!
//! TLS is set up as a user would: a cluster CA under `DIR/tls` (`mrd tls
//! init-ca`), a certificate per node for 127.0.0.1 (`mrd tls node-cert`),
//! the three `tls_*` keys in each node's config, and `MRCTL_CACERT` printed.
//! A node certificate about to expire is issued again at the next start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mrouter_proto::connect::Connector;
use mrouter_proto::v1::cluster_client::ClusterClient;
use mrouter_proto::v1::{InitRequest, Member, StatusRequest};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

use crate::pki::SealKey;
use crate::tls_tool::{self, TlsToolError};

/// A node certificate with less than this left is issued again.
const RENEW_BEFORE_SECS: i64 = 30 * 86_400;

#[derive(clap::Args, Debug, Clone)]
pub struct DevArgs {
    /// How many nodes to run.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Directory holding every node's data, config and log.
    #[arg(long, default_value = "mrouter-dev")]
    pub dir: PathBuf,
    /// Port of node 1; node N listens on base-port + N - 1.
    #[arg(long, default_value_t = 7001)]
    pub base_port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("--nodes must be between 1 and 9, got {0}")]
    Nodes(u64),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("port {port} is in use (by another program or an earlier mrd dev): pass --base-port, or stop it")]
    PortInUse { port: u16 },
    #[error("{path} is not a valid node config: {reason}")]
    BadConfig { path: PathBuf, reason: String },
    #[error("node {id} exited before it was ready; see its log: {log}")]
    NodeDied { id: u64, log: PathBuf },
    #[error("node {id} did not answer within {secs} s; see its log: {log}")]
    NotReady { id: u64, secs: u64, log: PathBuf },
    #[error("cluster init failed: {0}")]
    Init(String),
    #[error("seal key: {0}")]
    Seal(#[from] crate::pki::SealError),
    #[error("TLS files: {0}")]
    Tls(#[from] TlsToolError),
    #[error("{path}: {reason}")]
    BadTls { path: PathBuf, reason: String },
}

struct DevNode {
    id: u64,
    addr: SocketAddr,
    log: PathBuf,
    child: Child,
    running: bool,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub async fn run(args: DevArgs) -> Result<(), DevError> {
    if !(1..=9).contains(&args.nodes) {
        return Err(DevError::Nodes(args.nodes));
    }
    std::fs::create_dir_all(&args.dir).map_err(io_err(&args.dir))?;
    let dir = args.dir.canonicalize().map_err(io_err(&args.dir))?;
    // It holds the seal key and every node's data: owner-only.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(&dir))?;
    }
    let seal_path = dir.join("seal.key");
    if !seal_path.exists() {
        write_private(&seal_path, SealKey::generate_hex()?.as_bytes())?;
    }
    let tls_dir = dir.join("tls");
    let ca_file = tls_dir.join("ca.pem");
    if !ca_file.exists() {
        tls_tool::init_ca(&tls_dir, 3650, unix_now())?;
        println!("created the cluster CA: {}", ca_file.display());
    }
    let exe = std::env::current_exe().map_err(io_err(Path::new("mrd")))?;
    let mut nodes = Vec::new();
    for id in 1..=args.nodes {
        let node_dir = dir.join(format!("node-{id}"));
        std::fs::create_dir_all(&node_dir).map_err(io_err(&node_dir))?;
        let (cert_file, key_file) = node_cert(&tls_dir, id)?;
        let config = node_dir.join("node.toml");
        if !config.exists() {
            let port = args.base_port + (id - 1) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                return Err(DevError::PortInUse { port });
            }
            // Client listeners next to the gRPC port: local at +100, remote at
            // +200; the virtual ones open on the leader once a virtual address
            // is set (mrctl settings set --virtual-address 127.0.0.100).
            let text = format!(
                "node_id = {id}\ndata_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\nseal_key_file = {:?}\n\
                 local_listen = \"127.0.0.1:{}\"\nremote_listen = \"127.0.0.1:{}\"\n\
                 virtual_local_port = {}\nvirtual_remote_port = {}\n",
                node_dir.join("data"),
                seal_path,
                port + 100,
                port + 200,
                args.base_port + 442,
                args.base_port + 443,
            );
            std::fs::write(&config, text).map_err(io_err(&config))?;
        }
        add_tls_keys(&config, &cert_file, &key_file, &ca_file)?;
        let addr = listen_of(&config)?;
        let log = node_dir.join("mrd.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io_err(&log))?;
        let err = out.try_clone().map_err(io_err(&log))?;
        let child = Command::new(&exe)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(io_err(&exe))?;
        println!("started node {id} on {addr} (log: {})", log.display());
        nodes.push(DevNode {
            id,
            addr,
            log,
            child,
            running: true,
        });
    }

    let connector = api_connector(&ca_file)?;
    let result = bring_up(&mut nodes, &connector).await;
    if let Err(e) = result {
        stop(&mut nodes).await;
        return Err(e);
    }
    print_summary(&dir, &nodes, &exe, &ca_file);

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let shutdown = crate::server::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                for node in nodes.iter_mut().filter(|n| n.running) {
                    if let Ok(Some(status)) = node.child.try_wait() {
                        node.running = false;
                        println!("node {} exited ({status}); the others go on. Log: {}", node.id, node.log.display());
                    }
                }
            }
        }
    }
    println!("\nstopping {} nodes…", nodes.len());
    stop(&mut nodes).await;
    println!("stopped. Run the same command again to resume this cluster.");
    Ok(())
}

async fn bring_up(nodes: &mut [DevNode], connector: &Connector) -> Result<(), DevError> {
    let deadline = Duration::from_secs(60);
    for node in nodes.iter_mut() {
        let started = Instant::now();
        loop {
            if let Ok(Some(_)) = node.child.try_wait() {
                return Err(DevError::NodeDied {
                    id: node.id,
                    log: node.log.clone(),
                });
            }
            if status_of(node.addr, connector).await.is_ok() {
                println!("node {} ready", node.id);
                break;
            }
            if started.elapsed() > deadline {
                return Err(DevError::NotReady {
                    id: node.id,
                    secs: deadline.as_secs(),
                    log: node.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let first = nodes[0].addr;
    let status = status_of(first, connector)
        .await
        .map_err(|e| DevError::Init(e.to_string()))?;
    if !status.initialized {
        let members = nodes
            .iter()
            .map(|n| Member {
                id: n.id,
                addr: n.addr.to_string(),
            })
            .collect();
        let mut client = ClusterClient::new(
            channel(first, connector)
                .await
                .map_err(|e| DevError::Init(e.to_string()))?,
        );
        client
            .init(InitRequest { members })
            .await
            .map_err(|e| DevError::Init(e.message().to_string()))?;
        println!("initialized a new cluster of {} nodes", nodes.len());
    } else {
        println!("resumed the existing cluster");
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(s) = status_of(first, connector).await {
            if let Some(leader) = s.leader_id {
                println!("node {leader} is the leader (term {})", s.term);
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DevError::Init(
        "no leader elected within 30 s (see the node logs)".into(),
    ))
}

async fn status_of(
    addr: SocketAddr,
    connector: &Connector,
) -> Result<mrouter_proto::v1::ClusterStatus, Box<dyn std::error::Error>> {
    let mut client = ClusterClient::new(channel(addr, connector).await?);
    Ok(client.status(StatusRequest {}).await?.into_inner())
}

async fn channel(
    addr: SocketAddr,
    connector: &Connector,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("{}://{addr}", connector.scheme()))?
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector(connector.clone())
        .await
}

/// TLS to the nodes' API, verified against the cluster CA, as mrctl does.
fn api_connector(ca_file: &Path) -> Result<Connector, DevError> {
    let bad = |reason: String| DevError::BadTls {
        path: ca_file.to_path_buf(),
        reason,
    };
    let roots = mrouter_proto::connect::read_roots(ca_file).map_err(|e| bad(e.to_string()))?;
    let config =
        mrouter_proto::connect::client_config(roots, None).map_err(|e| bad(e.to_string()))?;
    Ok(Connector::tls(Arc::new(Arc::new(config))))
}

/// The node's certificate and key under `tls_dir`: made when missing, and
/// made again when less than [`RENEW_BEFORE_SECS`] is left (a running node
/// would pick new files up by itself; this runs before the nodes start).
fn node_cert(tls_dir: &Path, id: u64) -> Result<(PathBuf, PathBuf), DevError> {
    let cert = tls_dir.join(format!("node-{id}.pem"));
    let key = tls_dir.join(format!("node-{id}.key"));
    let now = unix_now();
    let renew = if cert.exists() && key.exists() {
        let expires = mrouter_proto::connect::read_certs(&cert)
            .ok()
            .and_then(|certs| crate::pki::node_cert(certs[0].as_ref()).ok())
            .map(|c| c.not_after);
        match expires {
            Some(not_after) if not_after - now > RENEW_BEFORE_SECS => return Ok((cert, key)),
            _ => true,
        }
    } else {
        false
    };
    let sans = ["127.0.0.1".to_string(), "localhost".to_string()];
    tls_tool::node_cert(tls_dir, tls_dir, id, &sans, 365, renew, now)?;
    if renew {
        println!("issued node {id} a new certificate (the old one was expiring)");
    }
    Ok((cert, key))
}

/// Adds the `tls_*` keys to a node config that has none (one made by an
/// `mrd dev` from before TLS, or just now).
fn add_tls_keys(config: &Path, cert: &Path, key: &Path, ca: &Path) -> Result<(), DevError> {
    let text = std::fs::read_to_string(config).map_err(io_err(config))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| DevError::BadConfig {
        path: config.into(),
        reason: e.to_string(),
    })?;
    if table.contains_key("tls_cert_file") || table.contains_key("insecure") {
        return Ok(());
    }
    let mut text = text;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "tls_cert_file = {cert:?}\ntls_key_file = {key:?}\ntls_ca_file = {ca:?}\n"
    ));
    std::fs::write(config, text).map_err(io_err(config))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn stop(nodes: &mut [DevNode]) {
    for node in nodes.iter() {
        if let Some(pid) = node.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    for node in nodes.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(10), node.child.wait())
            .await
            .is_err()
        {
            let _ = node.child.kill().await;
        }
    }
}

fn listen_of(config: &Path) -> Result<SocketAddr, DevError> {
    let text = std::fs::read_to_string(config).map_err(io_err(config))?;
    let value: toml::Table = toml::from_str(&text).map_err(|e| DevError::BadConfig {
        path: config.into(),
        reason: e.to_string(),
    })?;
    value
        .get("listen")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| DevError::BadConfig {
            path: config.into(),
            reason: "no valid listen address".into(),
        })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DevError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))
}

fn print_summary(dir: &Path, nodes: &[DevNode], exe: &Path, ca_file: &Path) {
    let endpoints: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    let mrctl = exe.with_file_name("mrctl");
    println!(
        "\nmrouter dev cluster is up: {} nodes, data in {}",
        nodes.len(),
        dir.display()
    );
    for n in nodes {
        let pid = n
            .child
            .id()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "  node {}  {}  pid {pid}  log {}",
            n.id,
            n.addr,
            n.log.display()
        );
    }
    println!("\nIn another terminal:");
    println!("  export MRCTL_ENDPOINTS={}", endpoints.join(","));
    println!("  export MRCTL_CACERT={}", ca_file.display());
    println!("  alias mrctl={}", mrctl.display());
    println!("  mrctl cluster status");
    println!(
        "  mrctl settings set --cluster-domain example.com --remote-access-fqdn mr.example.com"
    );
    println!("  mrctl settings get -o json");
    println!("  mrctl snapshot save backup.snap");
    println!("  kill -9 <pid of the leader>; mrctl cluster status   # a new leader takes over");
    println!("\nCtrl-C stops the cluster.");
}
