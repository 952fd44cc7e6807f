//! Replicated write throughput and latency at concurrency 1, 16 and 64 on a
//! 3-node loopback cluster, beside etcd puts measured the same way in the
//! same run. Writes go to the leader; each is acknowledged only once a
//! majority has it on disk.

use mrouter_proto::connect::Connector;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use cluster_tests::bench::{self, channels};
use cluster_tests::etcd::{self, EtcdCluster};
use cluster_tests::load::Load;
use cluster_tests::stats::summarize;
use cluster_tests::{Cluster, ClusterOptions};

#[derive(Parser)]
#[command(about = "replicated writes at concurrency 1, 16, 64 beside etcd")]
struct Args {
    /// Seconds per concurrency level.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    #[arg(long)]
    skip_etcd: bool,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Level {
    system: &'static str,
    concurrency: usize,
    ops: usize,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn measure<F, Fut>(system: &'static str, c: usize, secs: u64, write: F) -> Level
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    // Half a second of warm-up, not counted.
    Load::start(c, 1, Duration::from_millis(500), write.clone())
        .finish()
        .await;
    let started = Instant::now();
    let load = Load::start(c, 1, Duration::from_secs(secs), write);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let acked = load.finish().await;
    let elapsed = started.elapsed().as_secs_f64();
    let lat: Vec<f64> = acked
        .iter()
        .map(|a| a.latency().as_secs_f64() * 1000.0)
        .collect();
    let s = summarize(&lat);
    let level = Level {
        system,
        concurrency: c,
        ops: acked.len(),
        per_s: acked.len() as f64 / elapsed,
        p50_ms: s.median,
        p99_ms: s.p99,
    };
    println!(
        "{system:8} c={c:<3} {:>8.0} writes/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} writes)",
        level.per_s, level.p50_ms, level.p99_ms, level.ops
    );
    level
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mut levels = Vec::new();
    let mut result = BTreeMap::new();
    {
        let c = Cluster::start(ClusterOptions {
            nodes: 3,
            heartbeat_ms: 30,
            election_timeout_ms: 100,
            ..Default::default()
        })
        .await?;
        let leader = c.must_have_leader().await?;
        let chan = channels(&[c.addr(leader).to_string()], c.connector()).remove(0);
        let run = bench::run_id();
        for &n in &args.concurrency {
            let ch = chan.clone();
            let level = measure("mrouter", n, args.seconds, move |_, seq| {
                bench::mrd_write(ch.clone(), run, seq)
            })
            .await;
            result.insert(key("c", n), format!("{:.0}", level.per_s));
            levels.push(level);
        }
    }
    if !args.skip_etcd && etcd::available() {
        let e = EtcdCluster::start(3, 20, 100).await?;
        let leader = e.leader().await?;
        let chan = channels(&e.endpoints(), &Connector::plaintext()).remove(leader);
        for &n in &args.concurrency {
            let ch = chan.clone();
            let level = measure("etcd", n, args.seconds, move |_, seq| {
                bench::etcd_write(ch.clone(), seq)
            })
            .await;
            result.insert(key("etcd_c", n), format!("{:.0}", level.per_s));
            levels.push(level);
        }
        for &n in &args.concurrency {
            let ours = levels
                .iter()
                .find(|l| l.system == "mrouter" && l.concurrency == n);
            let theirs = levels
                .iter()
                .find(|l| l.system == "etcd" && l.concurrency == n);
            if let (Some(o), Some(t)) = (ours, theirs) {
                println!(
                    "c={n:<3} mrouter/etcd throughput ratio {:.2}",
                    o.per_s / t.per_s
                );
            }
        }
    } else {
        eprintln!("etcd: skipped (not installed or --skip-etcd)");
    }
    bench::finish(
        &result,
        args.json.as_deref(),
        serde_json::to_value(&levels)?,
    )
}

fn key(prefix: &str, n: usize) -> &'static str {
    Box::leak(format!("{prefix}{n}_per_s").into_boxed_str())
}
