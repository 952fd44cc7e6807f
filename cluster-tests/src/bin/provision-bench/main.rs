//! Client provisioning throughput on a 3-node loopback cluster: clients
//! provisioned from pre-generated ECDSA P-256 CSRs at concurrency 1, 16 and
//! 64 (closed loop, requests spread over every node), under an ECDSA P-256
//! CA and then an RSA 2048 one — each certificate signed on the node taking
//! the request and replicated to a majority before the reply. Beside it, in
//! the same run, `cfssl serve` signing the same CSRs over HTTP/1.1 keep-alive.
//! Then the virtual endpoint's recovery: kill -9 the leader and time the
//! first successful mutual-TLS `GET /v1/session` on the virtual address.
//! Every hop is TLS (mutual between nodes); the same provisioning load then
//! runs on a cluster started with `--insecure`, for the cost of TLS.
//! With `--scale N`, the figures of a cluster holding N clients (see `scale`).

mod scale;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use cluster_tests::bench::{self, channels, ClientFiles};
use cluster_tests::fixtures::TestCa;
use cluster_tests::load::Load;
use cluster_tests::stats::summarize;
use cluster_tests::{eventually, Cluster, ClusterOptions};
use mrouter_proto::v1::clients_client::ClientsClient;
use mrouter_proto::v1::settings_client::SettingsClient;
use mrouter_proto::v1::{ProvisionRequest, SetSettingsRequest};
use rcgen::{CertificateParams, DnType, KeyPair};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tonic::transport::Channel;

#[derive(Parser)]
#[command(about = "client provisioning throughput beside cfssl; virtual endpoint recovery")]
struct Args {
    /// Seconds per concurrency level.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Client CSRs generated up front (reused in turn; every client id is new).
    #[arg(long, default_value_t = 3000)]
    csrs: usize,
    /// CA key types to provision under, in order.
    #[arg(long, value_delimiter = ',', default_value = "ecdsa-p256,rsa2048")]
    cas: Vec<String>,
    /// Leader kills for the virtual endpoint recovery.
    #[arg(long, default_value_t = 10)]
    trials: usize,
    /// mrd's own defaults.
    #[arg(long, default_value_t = 30)]
    heartbeat_ms: u64,
    #[arg(long, default_value_t = 100)]
    election_timeout_ms: u64,
    #[arg(long)]
    skip_cfssl: bool,
    /// Skip the same load on an `--insecure` (plaintext) cluster.
    #[arg(long)]
    skip_insecure: bool,
    /// Also fill a fresh cluster with this many clients and report its
    /// figures at that size (RSS, snapshot, restart, listing, failover).
    #[arg(long, default_value_t = 0)]
    scale: u64,
    /// Only the `--scale` study.
    #[arg(long, requires = "scale")]
    only_scale: bool,
    /// Leader kills per failover figure of the `--scale` study.
    #[arg(long, default_value_t = 5)]
    scale_failover_trials: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The CA key types measured, with their RESULT prefix.
const CAS: [(&str, &str); 2] = [("ecdsa-p256", "ecdsa"), ("rsa2048", "rsa")];

#[derive(serde::Serialize)]
struct Level {
    system: String,
    concurrency: usize,
    ops: usize,
    failed: u64,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time per operation of the server processes (every mrd node, or cfssl).
    server_cpu_ms_per_op: f64,
    /// CPU time per operation of this load generator.
    client_cpu_ms_per_op: f64,
    /// Cores busy (servers + load generator) of the machine's two.
    cores_busy: f64,
    /// Cores busy with anything else (must be near 0 for a fair figure).
    other_cores: f64,
}

/// Runs `op(run, seq)` closed-loop at concurrency `c` for `secs` after half a
/// second of warm-up; `run` is new for each load, so ids never repeat.
/// `servers`: the processes doing the work, for their CPU time.
async fn measure<F, Fut>(system: &str, c: usize, secs: u64, servers: &[u32], op: F) -> Level
where
    F: Fn(u64, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let start = |limit: Duration| {
        let (op, run) = (op.clone(), bench::run_id());
        Load::start(c, 1, limit, move |_, seq| op(run, seq))
    };
    let cpu = || {
        let server: f64 = servers
            .iter()
            .filter_map(|p| bench::cpu_seconds(*p, false))
            .sum();
        let client = bench::cpu_seconds(std::process::id(), false).unwrap_or(0.0);
        let machine = bench::machine_busy_seconds().unwrap_or(0.0);
        (server, client, machine)
    };
    start(Duration::from_millis(500)).finish().await;
    let (server0, client0, machine0) = cpu();
    let started = Instant::now();
    let load = start(Duration::from_secs(secs));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let failed = load.failed_count();
    let acked = load.finish().await;
    let elapsed = started.elapsed().as_secs_f64();
    let (server1, client1, machine1) = cpu();
    let per_op = |s: f64| s * 1000.0 / acked.len().max(1) as f64;
    let lat: Vec<f64> = acked
        .iter()
        .map(|a| a.latency().as_secs_f64() * 1000.0)
        .collect();
    let s = summarize(&lat);
    let level = Level {
        system: system.to_string(),
        concurrency: c,
        ops: acked.len(),
        failed,
        per_s: acked.len() as f64 / elapsed,
        p50_ms: s.median,
        p99_ms: s.p99,
        server_cpu_ms_per_op: per_op(server1 - server0),
        client_cpu_ms_per_op: per_op(client1 - client0),
        cores_busy: (server1 - server0 + client1 - client0) / elapsed,
        other_cores: ((machine1 - machine0) - (server1 - server0 + client1 - client0)).max(0.0)
            / elapsed,
    };
    println!(
        "{system:12} c={c:<3} {:>8.0} provisions/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} ok, {} failed; CPU/op server {:.3} ms, client {:.3} ms; {:.2} cores busy, {:.2} by other work)",
        level.per_s,
        level.p50_ms,
        level.p99_ms,
        level.ops,
        level.failed,
        level.server_cpu_ms_per_op,
        level.client_cpu_ms_per_op,
        level.cores_busy,
        level.other_cores
    );
    level
}

/// A device's CSR, as DER (for mrd) and as cfssl's JSON request body.
struct Csr {
    der: Vec<u8>,
    cfssl_body: String,
}

fn client_csrs(n: usize) -> Result<Vec<Csr>> {
    (0..n)
        .map(|i| {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            params
                .distinguished_name
                .push(DnType::CommonName, format!("device-{i}"));
            let csr = params.serialize_request(&key)?;
            Ok(Csr {
                der: csr.der().to_vec(),
                cfssl_body: serde_json::json!({ "certificate_request": csr.pem()? }).to_string(),
            })
        })
        .collect()
}

async fn provision(channel: Channel, run: u64, seq: u64, csr: Vec<u8>) -> bool {
    ClientsClient::new(channel)
        .provision(ProvisionRequest {
            request_id: bench::request_id(run, seq),
            id: format!("b{run:x}-{seq}"),
            user: "bench".into(),
            csr,
            ..Default::default()
        })
        .await
        .is_ok()
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `cfssl serve` with an ECDSA P-256 CA made by rcgen; killed on drop.
struct Cfssl {
    child: Child,
    addr: SocketAddr,
}

impl Cfssl {
    fn available() -> bool {
        Command::new("cfssl")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    async fn start(dir: &Path) -> Result<Self> {
        let ca = TestCa::root("Bench cfssl CA");
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem)?;
        std::fs::write(dir.join("ca-key.pem"), &ca.key_pem)?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("cfssl.log"))?;
        // Warnings only: per-request info lines would be I/O mrd does not do.
        let child = Command::new("cfssl")
            .args(["serve", "-address", "127.0.0.1", "-port", &port.to_string()])
            .arg("-ca")
            .arg(dir.join("ca.pem"))
            .arg("-ca-key")
            .arg(dir.join("ca-key.pem"))
            .args(["-loglevel", "2"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cfssl must start")?;
        let server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        eventually(Duration::from_secs(10), "cfssl to listen", || async {
            Ok(TcpStream::connect(server.addr).await.ok().map(|_| ()))
        })
        .await?;
        Ok(server)
    }
}

impl Drop for Cfssl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One keep-alive HTTP/1.1 connection: just enough client for cfssl's JSON
/// API (responses must carry a Content-Length).
struct HttpConn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl HttpConn {
    async fn connect(addr: SocketAddr) -> Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(tcp),
            host: addr.to_string(),
        })
    }

    /// POSTs `body` as JSON; returns the status, the response body and
    /// whether the server keeps the connection open.
    async fn post_json(&mut self, path: &str, body: &str) -> Result<(u16, Vec<u8>, bool)> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let (mut length, mut keep) = (None, true);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                bail!("connection closed in the headers");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("connection") {
                    keep = !value.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = vec![0; length.context("response without Content-Length")?];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body, keep))
    }
}

/// Idle keep-alive connections; a closed-loop worker takes one per request
/// and puts it back, so there are as many connections as workers.
type Pool = Arc<Mutex<Vec<HttpConn>>>;

async fn cfssl_sign(pool: Pool, addr: SocketAddr, body: &str) -> bool {
    let idle = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut conn = match idle {
        Some(c) => c,
        None => match HttpConn::connect(addr).await {
            Ok(c) => c,
            Err(_) => return false,
        },
    };
    let sent = tokio::time::timeout(
        Duration::from_secs(3),
        conn.post_json("/api/v1/cfssl/sign", body),
    )
    .await;
    match sent {
        Ok(Ok((200, reply, keep))) => {
            let ok = String::from_utf8_lossy(&reply).contains("\"success\":true");
            if keep {
                pool.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
            }
            ok
        }
        _ => false,
    }
}

async fn run_cfssl(args: &Args, csrs: &Arc<Vec<Csr>>) -> Result<Vec<Level>> {
    let dir = tempfile::tempdir()?;
    let server = Cfssl::start(dir.path()).await?;
    let pool: Pool = Arc::default();
    ensure!(
        cfssl_sign(pool.clone(), server.addr, &csrs[0].cfssl_body).await,
        "cfssl did not sign a CSR; log:\n{}",
        std::fs::read_to_string(dir.path().join("cfssl.log")).unwrap_or_default()
    );
    let mut levels = Vec::new();
    for &c in &args.concurrency {
        pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let (pool, csrs, addr) = (pool.clone(), csrs.clone(), server.addr);
        levels.push(
            measure(
                "cfssl",
                c,
                args.seconds,
                &[server.child.id()],
                move |_, seq| {
                    let (pool, csrs) = (pool.clone(), csrs.clone());
                    async move {
                        let body = &csrs[seq as usize % csrs.len()].cfssl_body;
                        cfssl_sign(pool, addr, body).await
                    }
                },
            )
            .await,
        );
    }
    drop(server);
    Ok(levels)
}

/// Waits until every node has applied what the leader has.
async fn must_settle(c: &Cluster) -> Result<()> {
    let leader = c.must_have_leader().await?;
    let last = c.status(leader).await?.last_log_index;
    c.must_converge(last).await?;
    Ok(())
}

/// `system`: the prefix of the level names (`mrd` or `mrd-insecure`);
/// `cas`: the CA key types to provision under.
async fn run_mrd(
    c: &Cluster,
    args: &Args,
    csrs: &Arc<Vec<Csr>>,
    system: &str,
    cas: &[String],
) -> Result<Vec<Level>> {
    let ids = c.running();
    let chans = channels(
        &ids.iter()
            .map(|id| c.addr(*id).to_string())
            .collect::<Vec<_>>(),
        c.connector(),
    );
    let pids = bench::node_pids(c);
    ensure!(
        pids.len() == ids.len(),
        "found mrd pids {pids:?} for nodes {ids:?}"
    );
    let mut levels = Vec::new();
    let mut epoch = None;
    for (key_type, tag) in CAS.iter().filter(|(k, _)| cas.iter().any(|a| a == k)) {
        epoch = Some(bench::must_generate_ca(chans[0].clone(), key_type, epoch).await?);
        must_settle(c).await?;
        for &n in &args.concurrency {
            let (chans, csrs) = (chans.clone(), csrs.clone());
            levels.push(
                measure(
                    &format!("{system}-{tag}"),
                    n,
                    args.seconds,
                    &pids,
                    move |run, seq| {
                        // Every node takes requests in turn, whatever the concurrency.
                        let channel = chans[seq as usize % chans.len()].clone();
                        let csr = csrs[seq as usize % csrs.len()].der.clone();
                        provision(channel, run, seq, csr)
                    },
                )
                .await,
            );
        }
    }
    Ok(levels)
}

/// Kill -9 the leader `trials` times; each time, the milliseconds until a
/// fresh mutual-TLS connection to the virtual address gets a session from
/// another node.
async fn virtual_recovery(
    c: &mut Cluster,
    vaddr: SocketAddr,
    client: &ClientFiles,
    trials: usize,
) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for trial in 1..=trials {
        let leader = c.must_have_leader().await?;
        let on_leader = format!("\"node_id\":{leader}");
        eventually(
            Duration::from_secs(10),
            "the virtual endpoint on the leader",
            || async {
                Ok(bench::curl_session(vaddr, client)
                    .await
                    .filter(|b| b.contains(&on_leader)))
            },
        )
        .await?;
        let killed_at = Instant::now();
        c.kill(leader);
        let body = loop {
            if let Some(body) = bench::curl_session(vaddr, client).await {
                if !body.contains(&on_leader) {
                    break body;
                }
            }
            if killed_at.elapsed() > Duration::from_secs(15) {
                bail!("the virtual endpoint did not recover within 15 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let ms = killed_at.elapsed().as_secs_f64() * 1000.0;
        ensure!(body.contains("\"slot\":\"local-virtual\""), "{body}");
        eprintln!("recovery trial {trial}/{trials}: killed leader {leader}; served again after {ms:.0} ms");
        out.push(ms);
        c.must_restart_caught_up(leader, Duration::from_secs(30))
            .await?;
    }
    Ok(out)
}

/// Sets the virtual address, a certificate for the local virtual listener and
/// a client under the current CA; returns the virtual endpoint and the client.
async fn virtual_setup(c: &Cluster, vl: u16, dir: &Path) -> Result<(SocketAddr, ClientFiles)> {
    let leader = c.must_have_leader().await?;
    let channel = c.channel(leader).await?;
    // A loopback address of its own stands in for the virtual address.
    let vip = format!(
        "127.0.{}.{}",
        std::process::id() % 200 + 20,
        free_port()? % 200 + 20
    );
    SettingsClient::new(channel.clone())
        .set(SetSettingsRequest {
            cluster_domain: Some("mr.bench".into()),
            virtual_address: Some(vip.clone()),
            mode: Some(mrouter_proto::v1::ClusterMode::Clustered.into()),
            request_id: bench::request_id(bench::run_id(), 0),
            ..Default::default()
        })
        .await?;
    bench::must_activate_router_certs(channel.clone(), &[("local-virtual", 0)]).await?;
    let (client, _) = bench::must_provision_client(channel, dir, "probe").await?;
    must_settle(c).await?;
    Ok((format!("{vip}:{vl}").parse()?, client))
}

fn level_keys(result: &mut BTreeMap<String, String>, levels: &[Level], system: &str, tag: &str) {
    let top = levels
        .iter()
        .filter(|l| l.system == system)
        .map(|l| l.concurrency)
        .max();
    for l in levels.iter().filter(|l| l.system == system) {
        let c = l.concurrency;
        result.insert(format!("{tag}_c{c}_per_s"), format!("{:.0}", l.per_s));
        if Some(c) == top {
            result.insert(format!("{tag}_c{c}_p50_ms"), format!("{:.2}", l.p50_ms));
            result.insert(format!("{tag}_c{c}_p99_ms"), format!("{:.2}", l.p99_ms));
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let csrs = Arc::new(client_csrs(args.csrs)?);
    eprintln!(
        "{} ECDSA P-256 client CSRs generated in {:.0} ms (not timed)",
        csrs.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );

    let (mut result, mut details) = if args.only_scale {
        (BTreeMap::new(), serde_json::json!({}))
    } else {
        throughput(&args, &csrs).await?
    };
    if args.scale > 0 {
        let scale = scale::Scale {
            clients: args.scale,
            concurrency: args.concurrency.iter().max().copied().unwrap_or(64),
            failover_trials: args.scale_failover_trials,
            heartbeat_ms: args.heartbeat_ms,
            election_timeout_ms: args.election_timeout_ms,
        };
        let (keys, more) = scale::run(&scale, &csrs).await?;
        result.extend(keys);
        details["scale"] = more;
    }
    let keys: BTreeMap<&str, String> = result
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    bench::finish(&keys, args.json.as_deref(), details)
}

/// Provisioning rates beside cfssl, then the virtual endpoint's recovery:
/// the RESULT keys and the details.
async fn throughput(
    args: &Args,
    csrs: &Arc<Vec<Csr>>,
) -> Result<(BTreeMap<String, String>, serde_json::Value)> {
    // cfssl first, with no cluster running beside it.
    let cfssl = !args.skip_cfssl && Cfssl::available();
    let mut levels = if cfssl {
        run_cfssl(args, csrs).await?
    } else {
        eprintln!("cfssl: unavailable (not installed or --skip-cfssl); its keys are 0");
        Vec::new()
    };

    let (vl, vr) = (free_port()?, free_port()?);
    let mut c = Cluster::start(ClusterOptions {
        nodes: 3,
        heartbeat_ms: args.heartbeat_ms,
        election_timeout_ms: args.election_timeout_ms,
        listeners: true,
        virtual_ports: Some((vl, vr)),
        ..Default::default()
    })
    .await?;
    levels.extend(run_mrd(&c, args, csrs, "mrd", &args.cas).await?);

    let dir = tempfile::tempdir()?;
    let (vaddr, client) = virtual_setup(&c, vl, dir.path()).await?;
    let recovery = virtual_recovery(&mut c, vaddr, &client, args.trials).await?;
    let r = summarize(&recovery);
    drop(c);

    // The same load with no TLS anywhere, under the first CA type: what
    // TLS costs.
    let insecure_cas: Vec<String> = args.cas.iter().take(1).cloned().collect();
    if !args.skip_insecure {
        let plain = Cluster::start(ClusterOptions {
            nodes: 3,
            heartbeat_ms: args.heartbeat_ms,
            election_timeout_ms: args.election_timeout_ms,
            insecure: true,
            ..Default::default()
        })
        .await?;
        levels.extend(run_mrd(&plain, args, csrs, "mrd-insecure", &insecure_cas).await?);
    }

    println!();
    println!(
        "{:<12} {:>4} {:>12} {:>9} {:>9} {:>8} {:>7} {:>14} {:>14} {:>6} {:>6}",
        "system",
        "c",
        "provisions/s",
        "p50 ms",
        "p99 ms",
        "ok",
        "failed",
        "srv CPU ms/op",
        "cli CPU ms/op",
        "cores",
        "other"
    );
    for l in &levels {
        println!(
            "{:<12} {:>4} {:>12.0} {:>9.2} {:>9.2} {:>8} {:>7} {:>14.3} {:>14.3} {:>6.2} {:>6.2}",
            l.system,
            l.concurrency,
            l.per_s,
            l.p50_ms,
            l.p99_ms,
            l.ops,
            l.failed,
            l.server_cpu_ms_per_op,
            l.client_cpu_ms_per_op,
            l.cores_busy,
            l.other_cores
        );
    }
    println!(
        "virtual endpoint recovery after kill -9 of the leader ({} trials): min {:.0} ms, median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        r.n, r.min, r.median, r.p90, r.max
    );

    let mut result = BTreeMap::new();
    for (_, tag) in CAS {
        level_keys(&mut result, &levels, &format!("mrd-{tag}"), tag);
    }
    if !args.skip_insecure {
        let tag = CAS
            .iter()
            .find(|(k, _)| insecure_cas.first() == Some(&k.to_string()))
            .map_or("ecdsa", |(_, t)| *t);
        level_keys(
            &mut result,
            &levels,
            &format!("mrd-insecure-{tag}"),
            &format!("insecure_{tag}"),
        );
        // TLS (and, once they exist, tokens) over plaintext at each level.
        for &n in &args.concurrency {
            let rate = |system: String| {
                levels
                    .iter()
                    .find(|l| l.system == system && l.concurrency == n)
                    .map(|l| l.per_s)
            };
            if let (Some(tls), Some(plain)) = (
                rate(format!("mrd-{tag}")),
                rate(format!("mrd-insecure-{tag}")),
            ) {
                result.insert(
                    format!("tls_over_insecure_c{n}"),
                    format!("{:.3}", tls / plain.max(1e-9)),
                );
            }
        }
    }
    if cfssl {
        level_keys(&mut result, &levels, "cfssl", "cfssl");
    } else {
        let top = args.concurrency.iter().max().copied().unwrap_or(0);
        for n in &args.concurrency {
            result.insert(format!("cfssl_c{n}_per_s"), "0".into());
        }
        result.insert(format!("cfssl_c{top}_p50_ms"), "0".into());
        result.insert(format!("cfssl_c{top}_p99_ms"), "0".into());
    }
    result.insert(
        "cfssl".into(),
        if cfssl { "available" } else { "unavailable" }.into(),
    );
    result.insert(
        "failed".into(),
        levels.iter().map(|l| l.failed).sum::<u64>().to_string(),
    );
    let other = levels.iter().map(|l| l.other_cores).fold(0.0, f64::max);
    result.insert("other_cores_max".into(), format!("{other:.2}"));
    result.insert(
        "virtual_recovery_median_ms".into(),
        format!("{:.0}", r.median),
    );
    result.insert("virtual_recovery_max_ms".into(), format!("{:.0}", r.max));
    result.insert("seconds".into(), args.seconds.to_string());
    Ok((
        result,
        serde_json::json!({
            "levels": levels,
            "virtual_recovery_ms": recovery,
            "virtual_recovery": r,
            "csrs": args.csrs,
            "trials": args.trials,
        }),
    ))
}
