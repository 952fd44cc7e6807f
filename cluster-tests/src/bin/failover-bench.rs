//! Failover under load: a 3-node loopback cluster under a steady write load;
//! kill -9 the leader; time from the kill to the first acknowledged write on
//! the new leader. Then every acknowledged write is looked up. etcd is run the
//! same way in the same run.

use mrouter_proto::connect::Connector;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use cluster_tests::bench::{self, channels};
use cluster_tests::etcd::{self, EtcdCluster};
use cluster_tests::load::Load;
use cluster_tests::stats::{summarize, Summary};
use cluster_tests::{Cluster, ClusterOptions};

#[derive(Parser)]
#[command(about = "kill -9 the leader under load; time to the first acknowledged write")]
struct Args {
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// Concurrent writers of the steady load.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    #[arg(long, default_value_t = 30)]
    heartbeat_ms: u64,
    #[arg(long, default_value_t = 100)]
    election_timeout_ms: u64,
    /// Skip the etcd reference run.
    #[arg(long)]
    skip_etcd: bool,
    #[arg(long)]
    json: Option<PathBuf>,
}

struct Outcome {
    recovery_ms: Vec<f64>,
    acked: usize,
    present: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let ours = run_mrd(&args).await?;
    let theirs = if args.skip_etcd || !etcd::available() {
        eprintln!("etcd: skipped (not installed or --skip-etcd)");
        None
    } else {
        Some(run_etcd(&args).await?)
    };
    let s = summarize(&ours.recovery_ms);
    print_row("mrouter", &s, &ours);
    let mut result = BTreeMap::new();
    result.insert("median_ms", format!("{:.0}", s.median));
    result.insert("p90_ms", format!("{:.0}", s.p90));
    result.insert("max_ms", format!("{:.0}", s.max));
    result.insert("acked", ours.acked.to_string());
    result.insert("present", ours.present.to_string());
    let mut details = serde_json::json!({ "mrouter": s, "trials": args.trials });
    if let Some(t) = &theirs {
        let e = summarize(&t.recovery_ms);
        print_row("etcd", &e, t);
        println!(
            "ratio (mrouter median / etcd median): {:.2}",
            s.median / e.median
        );
        result.insert("etcd_median_ms", format!("{:.0}", e.median));
        result.insert("etcd_max_ms", format!("{:.0}", e.max));
        result.insert("etcd_acked", t.acked.to_string());
        result.insert("etcd_present", t.present.to_string());
        details["etcd"] = serde_json::to_value(&e)?;
    }
    bench::finish(&result, args.json.as_deref(), details)
}

fn print_row(name: &str, s: &Summary, o: &Outcome) {
    println!(
        "{name:8} kill→first ack: min {:.0} ms, median {:.0} ms, p90 {:.0} ms, max {:.0} ms; writes acked {}, present {}, lost {}",
        s.min, s.median, s.p90, s.max, o.acked, o.present, o.acked.saturating_sub(o.present)
    );
}

async fn wait_first_ack(load: &Load, killed_at: Instant) -> Result<f64> {
    let deadline = killed_at + Duration::from_secs(15);
    loop {
        if let Some(t) = load.first_ack_after(killed_at) {
            return Ok((t - killed_at).as_secs_f64() * 1000.0);
        }
        if Instant::now() > deadline {
            bail!("no write acknowledged within 15 s of the kill");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn run_mrd(args: &Args) -> Result<Outcome> {
    let opts = ClusterOptions {
        nodes: 3,
        heartbeat_ms: args.heartbeat_ms,
        election_timeout_ms: args.election_timeout_ms,
        ..Default::default()
    };
    let mut c = Cluster::start(opts).await?;
    let ids: Vec<u64> = c.running();
    let chans = channels(
        &ids.iter()
            .map(|id| c.addr(*id).to_string())
            .collect::<Vec<_>>(),
        c.connector(),
    );
    let run = bench::run_id();
    let limit = Duration::from_secs(60 + 10 * args.trials as u64);
    let write_chans = chans.clone();
    let load = Load::start(args.writers, chans.len(), limit, move |node, seq| {
        bench::mrd_write(write_chans[node].clone(), run, seq)
    });
    let mut recovery = Vec::new();
    for trial in 1..=args.trials {
        let leader = c.must_have_leader().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed_at = Instant::now();
        c.kill(leader);
        let ms = wait_first_ack(&load, killed_at).await?;
        recovery.push(ms);
        eprintln!(
            "mrouter trial {trial}/{}: killed leader {leader}; first ack after {ms:.0} ms",
            args.trials
        );
        c.must_restart_caught_up(leader, Duration::from_secs(30))
            .await?;
    }
    let acked = load.finish().await;
    let leader = c.must_have_leader().await?;
    let leader_chan = chans[ids
        .iter()
        .position(|id| *id == leader)
        .expect("leader is a member")]
    .clone();
    eprintln!("checking {} acknowledged writes…", acked.len());
    let seqs: Vec<u64> = acked.iter().map(|a| a.seq).collect();
    let present =
        bench::count_present(&seqs, |s| bench::mrd_present(leader_chan.clone(), run, s)).await?;
    Ok(Outcome {
        recovery_ms: recovery,
        acked: acked.len(),
        present,
    })
}

async fn run_etcd(args: &Args) -> Result<Outcome> {
    // etcd requires election >= 5 x heartbeat; give it the same election
    // timeout as mrd with the heartbeat that allows.
    let heartbeat = (args.election_timeout_ms / 5).max(10);
    let mut e = EtcdCluster::start(3, heartbeat, args.election_timeout_ms).await?;
    let chans = channels(&e.endpoints(), &Connector::plaintext());
    let limit = Duration::from_secs(60 + 10 * args.trials as u64);
    let write_chans = chans.clone();
    let load = Load::start(args.writers, chans.len(), limit, move |node, seq| {
        bench::etcd_write(write_chans[node].clone(), seq)
    });
    let mut recovery = Vec::new();
    for trial in 1..=args.trials {
        let leader = wait_etcd_leader(&e).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed_at = Instant::now();
        e.kill(leader);
        let ms = wait_first_ack(&load, killed_at).await?;
        recovery.push(ms);
        eprintln!(
            "etcd    trial {trial}/{}: killed leader e{}; first ack after {ms:.0} ms",
            args.trials,
            leader + 1
        );
        e.start_member(leader)?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let acked = load.finish().await;
    let leader = wait_etcd_leader(&e).await?;
    let leader_chan = chans[leader].clone();
    eprintln!("checking {} acknowledged etcd writes…", acked.len());
    let seqs: Vec<u64> = acked.iter().map(|a| a.seq).collect();
    let present =
        bench::count_present(&seqs, |s| bench::etcd_present(leader_chan.clone(), s)).await?;
    Ok(Outcome {
        recovery_ms: recovery,
        acked: acked.len(),
        present,
    })
}

async fn wait_etcd_leader(e: &EtcdCluster) -> Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match e.leader().await {
            Ok(l) => return Ok(l),
            Err(err) if Instant::now() > deadline => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
