//! Mutual-TLS handshakes per second on one node's remote listener of a
//! 3-node loopback cluster: N closed-loop clients, each connection a full
//! TLS 1.3 handshake with a client certificate (checked against replicated
//! state), one `GET /v1/session`, and close.
//!
//! cluster-tests has no TLS client of its own, so the load comes from the
//! OpenSSL CLI: `openssl s_time -new` processes for throughput, then — since
//! s_time reports no per-connection times — `curl` processes for the
//! latency, each fetching a batch of URLs with `Connection: close` and no
//! session cache (every fetch a new connection and a full handshake, which
//! curl's `num_connects` confirms) and timing every one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use cluster_tests::bench::{self, ClientFiles};
use cluster_tests::stats::summarize;
use cluster_tests::{eventually, Cluster, ClusterOptions};
use tokio::process::Command;

#[derive(Parser)]
#[command(about = "mutual-TLS handshakes per second on one node's remote listener")]
struct Args {
    /// Seconds of each pass (s_time, then curl).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent closed-loop clients.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// The node whose remote listener is measured.
    #[arg(long, default_value_t = 1)]
    node: u64,
    /// URLs per curl process.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What one `openssl s_time` process reports.
#[derive(Debug, Default, serde::Serialize)]
struct STime {
    connections: u64,
    bytes_per_connection: u64,
}

/// Reads `N connections in T real seconds, B bytes read per connection`.
fn parse_s_time(stdout: &str) -> Option<STime> {
    let line = stdout.lines().find(|l| l.contains("real seconds"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let bytes_at = words.iter().position(|w| *w == "bytes")?;
    Some(STime {
        connections: words.first()?.parse().ok()?,
        bytes_per_connection: words.get(bytes_at.checked_sub(1)?)?.parse().ok()?,
    })
}

async fn s_time(addr: SocketAddr, client: &ClientFiles, secs: u64) -> Result<STime> {
    let out = Command::new("openssl")
        .args(["s_time", "-connect", &addr.to_string(), "-new", "-tls1_3"])
        .args(["-time", &secs.to_string(), "-www", "/v1/session"])
        .arg("-CAfile")
        .arg(&client.ca)
        .arg("-cert")
        .arg(&client.cert)
        .arg("-key")
        .arg(&client.key)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .context("openssl s_time must run")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_s_time(&stdout).with_context(|| {
        format!(
            "unexpected s_time output: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The length of the whole 200 reply (status line, headers, body) to an
/// HTTP/1.0 `GET /v1/session`, which is what s_time sends.
async fn http10_reply_len(addr: SocketAddr, client: &ClientFiles) -> Result<u64> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--http1.0",
            "--no-alpn",
            "-i",
            "--max-time",
            "5",
        ])
        .arg("--cacert")
        .arg(&client.ca)
        .arg("--cert")
        .arg(&client.cert)
        .arg("--key")
        .arg(&client.key)
        .arg(format!("https://{addr}/v1/session"))
        .output()
        .await?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.stdout.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(out.stdout.len() as u64)
}

/// One curl worker's results.
#[derive(Default)]
struct Timed {
    ok_ms: Vec<f64>,
    failed: u64,
    /// Fetches that reused a connection (must stay 0).
    reused: u64,
}

const MARK: &str = "TIMING";

/// Fetches `/v1/session` in batches of fresh connections until `deadline`.
async fn curl_worker(
    addr: SocketAddr,
    client: &ClientFiles,
    batch: usize,
    deadline: Instant,
) -> Result<Timed> {
    let url = format!("https://{addr}/v1/session");
    let mut t = Timed::default();
    while Instant::now() < deadline {
        let out = Command::new("curl")
            .args(["-sS", "--tlsv1.3", "--no-sessionid", "--max-time", "5"])
            .args(["-H", "Connection: close"])
            .arg("--cacert")
            .arg(&client.ca)
            .arg("--cert")
            .arg(&client.cert)
            .arg("--key")
            .arg(&client.key)
            .args([
                "-w",
                &format!("\n{MARK} %{{http_code}} %{{num_connects}} %{{time_total}}\n"),
            ])
            .args(std::iter::repeat_n(&url, batch))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .context("curl must run")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut seen = 0;
        for line in stdout.lines().filter_map(|l| l.strip_prefix(MARK)) {
            seen += 1;
            let f: Vec<&str> = line.split_whitespace().collect();
            match (
                f.first(),
                f.get(1),
                f.get(2).and_then(|s| s.parse::<f64>().ok()),
            ) {
                (Some(&"200"), Some(&"1"), Some(secs)) => t.ok_ms.push(secs * 1000.0),
                (Some(&"200"), Some(_), Some(_)) => t.reused += 1,
                _ => t.failed += 1,
            }
        }
        t.failed += (batch - seen.min(batch)) as u64;
    }
    Ok(t)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let c = Cluster::start(ClusterOptions {
        nodes: 3,
        heartbeat_ms: 30,
        election_timeout_ms: 100,
        listeners: true,
        ..Default::default()
    })
    .await?;
    let leader = c.must_have_leader().await?;
    let channel = c.channel(leader).await?;
    bench::must_generate_ca(channel.clone(), "ecdsa-p256", None).await?;
    bench::must_activate_router_certs(channel.clone(), &[("remote", args.node)]).await?;
    let dir = tempfile::tempdir()?;
    let (client, _) = bench::must_provision_client(channel, dir.path(), "bench").await?;
    let addr = c.nodes[&args.node]
        .listener("remote")
        .context("the node's remote listener")?;
    let first = eventually(
        Duration::from_secs(10),
        "the remote listener to serve the client",
        || async { Ok(bench::curl_session(addr, &client).await) },
    )
    .await?;
    ensure!(
        first.contains("\"client_id\":\"bench\"") && first.contains("TLSv1_3"),
        "{first}"
    );
    eprintln!(
        "node {} remote listener {addr} (leader: node {leader}); {} workers, {} s per pass",
        args.node, args.workers, args.seconds
    );

    // CPU of the mrd nodes (the two others only heartbeat) and of the load
    // generators (this process and the CLI clients it has reaped).
    let pids = bench::node_pids(&c);
    ensure!(pids.len() == 3, "found mrd pids {pids:?}");
    let cpu = || {
        let server: f64 = pids
            .iter()
            .filter_map(|p| bench::cpu_seconds(*p, false))
            .sum();
        let client = bench::cpu_seconds(std::process::id(), true).unwrap_or(0.0);
        let machine = bench::machine_busy_seconds().unwrap_or(0.0);
        (server, client, machine)
    };
    // CPU per handshake of mrd and of the clients, and the cores anything
    // else kept busy (must be near 0 for a fair figure).
    let per_handshake =
        |(s0, c0, m0): (f64, f64, f64), (s1, c1, m1): (f64, f64, f64), n: usize, elapsed: f64| {
            let n = n.max(1) as f64;
            let other = ((m1 - m0) - (s1 - s0) - (c1 - c0)).max(0.0) / elapsed;
            ((s1 - s0) * 1e6 / n, (c1 - c0) * 1e6 / n, other)
        };

    // Pass 1: openssl s_time.
    let cpu0 = cpu();
    let started = Instant::now();
    let runs =
        futures::future::join_all((0..args.workers).map(|_| s_time(addr, &client, args.seconds)));
    let runs = tokio::time::timeout(Duration::from_secs(args.seconds + 30), runs)
        .await
        .context("s_time did not stop")?
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let s_time_elapsed = started.elapsed().as_secs_f64();
    let s_time_conns: u64 = runs.iter().map(|r| r.connections).sum();
    let (s_time_server_us, s_time_client_us, s_time_other) =
        per_handshake(cpu0, cpu(), s_time_conns as usize, s_time_elapsed);
    let s_time_per_s = s_time_conns as f64 / s_time_elapsed;
    // s_time counts completed connections whatever the reply: each must
    // have read exactly a 200 reply to its HTTP/1.0 GET.
    let expected = http10_reply_len(addr, &client).await?;
    if runs.iter().any(|r| r.bytes_per_connection != expected) {
        bail!("s_time read other than the {expected}-byte 200 reply: {runs:?}");
    }
    let min_bytes = expected;
    println!(
        "s_time  {:>3} workers {:>8.0} handshakes/s   ({s_time_conns} connections in {s_time_elapsed:.1} s, a {min_bytes}-byte 200 reply each; CPU/handshake mrd {s_time_server_us:.0} us, clients {s_time_client_us:.0} us; {s_time_other:.2} cores busy with other work)",
        args.workers, s_time_per_s
    );

    // Pass 2: curl, every handshake timed.
    let cpu0 = cpu();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let runs = futures::future::join_all(
        (0..args.workers).map(|_| curl_worker(addr, &client, args.batch, deadline)),
    );
    let runs = tokio::time::timeout(Duration::from_secs(args.seconds + 60), runs)
        .await
        .context("curl did not stop")?
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let curl_elapsed = started.elapsed().as_secs_f64();
    let ms: Vec<f64> = runs.iter().flat_map(|r| r.ok_ms.iter().copied()).collect();
    let failed: u64 = runs.iter().map(|r| r.failed).sum();
    let reused: u64 = runs.iter().map(|r| r.reused).sum();
    let curl_per_s = ms.len() as f64 / curl_elapsed;
    let (curl_server_us, curl_client_us, curl_other) =
        per_handshake(cpu0, cpu(), ms.len(), curl_elapsed);
    let s = summarize(&ms);
    println!(
        "curl    {:>3} workers {:>8.0} handshakes/s   p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms   ({} ok, {failed} failed, {reused} reused a connection, in {curl_elapsed:.1} s; CPU/handshake mrd {curl_server_us:.0} us, clients {curl_client_us:.0} us; {curl_other:.2} cores busy with other work)",
        args.workers, curl_per_s, s.median, s.p90, s.p99, s.max, ms.len()
    );

    let mut result = BTreeMap::new();
    result.insert("handshakes_per_s", format!("{s_time_per_s:.0}"));
    result.insert("p50_ms", format!("{:.2}", s.median));
    result.insert("p99_ms", format!("{:.2}", s.p99));
    result.insert("curl_handshakes_per_s", format!("{curl_per_s:.0}"));
    result.insert(
        "s_time_mean_ms",
        format!("{:.2}", args.workers as f64 * 1000.0 / s_time_per_s),
    );
    result.insert("mrd_cpu_us_per_handshake", format!("{s_time_server_us:.0}"));
    result.insert("failed", failed.to_string());
    result.insert(
        "other_cores_max",
        format!("{:.2}", s_time_other.max(curl_other)),
    );
    result.insert("reused", reused.to_string());
    result.insert("workers", args.workers.to_string());
    result.insert("seconds", args.seconds.to_string());
    bench::finish(
        &result,
        args.json.as_deref(),
        serde_json::json!({
            "s_time": { "connections": s_time_conns, "elapsed_s": s_time_elapsed,
                        "mrd_cpu_us_per_handshake": s_time_server_us,
                        "client_cpu_us_per_handshake": s_time_client_us },
            "curl": { "ok": ms.len(), "failed": failed, "reused": reused,
                      "elapsed_s": curl_elapsed, "latency_ms": s,
                      "mrd_cpu_us_per_handshake": curl_server_us,
                      "client_cpu_us_per_handshake": curl_client_us },
            "node": args.node,
            "leader": leader,
        }),
    )
}
