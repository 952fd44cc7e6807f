//! `--scale N`: the cluster holding N provisioned clients. A fresh 3-node
//! cluster is filled through the real provisioning RPC (client CSRs, every
//! node taking requests), then measured: each node's RSS and data dir, a
//! snapshot's size and build time, a killed node's restart to ready, a wiped
//! node replaced by an empty one that catches up from the snapshot (transfer
//! and install), `client list --state invalidated` after a CA replacement,
//! and leader-kill failover time beside the same measurement taken on the
//! empty cluster.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use cluster_tests::bench::{self, channels};
use cluster_tests::stats::summarize;
use cluster_tests::{Cluster, ClusterOptions};
use mrouter_proto::v1::clients_client::ClientsClient;
use mrouter_proto::v1::cluster_client::ClusterClient;
use mrouter_proto::v1::{
    AddLearnerRequest, ChangeMembershipRequest, ClientCountsRequest, ListClientsRequest, Member,
    ProvisionRequest, RemoveNodeRequest, TriggerSnapshotRequest,
};
use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::Csr;

/// Request timeout for the slow administrative calls (a snapshot of the
/// whole state, a CA replacement).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(600);

pub struct Scale {
    pub clients: u64,
    pub concurrency: usize,
    pub failover_trials: usize,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
}

/// RESULT keys (all `scale_…`) and the details for `--json`.
pub type Figures = (BTreeMap<String, String>, serde_json::Value);

pub async fn run(s: &Scale, csrs: &Arc<Vec<Csr>>) -> Result<Figures> {
    ensure!(
        s.failover_trials > 0,
        "--scale-failover-trials must be at least 1"
    );
    let (vl, vr) = (crate::free_port()?, crate::free_port()?);
    let mut c = Cluster::start(ClusterOptions {
        nodes: 3,
        heartbeat_ms: s.heartbeat_ms,
        election_timeout_ms: s.election_timeout_ms,
        listeners: true,
        virtual_ports: Some((vl, vr)),
        ..Default::default()
    })
    .await?;
    let addrs: Vec<String> = c
        .running()
        .iter()
        .map(|id| c.addr(*id).to_string())
        .collect();
    let chans = channels(&addrs, c.connector());
    let epoch = bench::must_generate_ca(chans[0].clone(), "ecdsa-p256", None).await?;
    crate::must_settle(&c).await?;

    let empty_failover = leader_failover(&mut c, s.failover_trials, "empty").await?;

    let fill_per_s = fill(&chans, csrs, s.clients, s.concurrency).await?;
    let leader = c.must_have_leader().await?;
    let counts = ClientsClient::new(c.channel_with_timeout(leader, ADMIN_TIMEOUT).await?)
        .counts(ClientCountsRequest { stale: false })
        .await?
        .into_inner();
    let held: u64 = counts.by_epoch.iter().map(|e| e.clients).sum();
    ensure!(
        held >= s.clients,
        "the cluster counts {held} clients after provisioning {}",
        s.clients
    );
    crate::must_settle(&c).await?;

    let rss = node_rss_mib(&c);
    let data_mib: Vec<f64> = c
        .running()
        .iter()
        .map(|id| dir_bytes(&c.node_data_dir(*id)) as f64 / (1 << 20) as f64)
        .collect();
    eprintln!("scale: RSS per node {rss:.0?} MiB; data dir per node {data_mib:.0?} MiB");

    let leader = c.must_have_leader().await?;
    // A snapshot the node's own policy started must not be timed as ours.
    wait_snapshots_quiet(&c, leader, Duration::from_secs(10)).await?;
    let started = Instant::now();
    let snap = ClusterClient::new(c.channel_with_timeout(leader, ADMIN_TIMEOUT).await?)
        .trigger_snapshot(TriggerSnapshotRequest { purge_log: true })
        .await?
        .into_inner();
    let snapshot_ms = started.elapsed().as_secs_f64() * 1000.0;
    let snapshot_bytes = newest_snapshot_bytes(&c.node_data_dir(leader))?;
    eprintln!(
        "scale: snapshot at index {} built in {snapshot_ms:.0} ms, {:.0} MiB",
        snap.snapshot_index,
        snapshot_bytes as f64 / (1 << 20) as f64
    );

    let follower = *c
        .running()
        .iter()
        .find(|id| **id != leader)
        .context("a follower")?;
    let restart_ms = restart_to_ready(&mut c, follower).await?;
    eprintln!("scale: node {follower} killed and restarted: ready after {restart_ms:.0} ms");
    let (new_id, rejoin_ms) = replace_node(&mut c, follower).await?;
    let rejoined_rss = node_rss_mib(&c);
    eprintln!(
        "scale: node {follower} wiped and replaced by node {new_id}: snapshot sent and installed, ready after {rejoin_ms:.0} ms"
    );

    let full_failover = leader_failover(&mut c, s.failover_trials, "full").await?;

    // Replace the CA: every client becomes invalidated, with no per-client write.
    let leader = c.must_have_leader().await?;
    let started = Instant::now();
    bench::must_generate_ca(
        c.channel_with_timeout(leader, ADMIN_TIMEOUT).await?,
        "ecdsa-p256",
        Some(epoch),
    )
    .await?;
    let ca_replace_ms = started.elapsed().as_secs_f64() * 1000.0;
    let list_rpc = list_latency(&c, leader, "invalidated", 20).await?;
    let list_provisioned_rpc = list_latency(&c, leader, "provisioned", 20).await?;
    let list_cli = mrctl_list_latency(&c, 5)?;

    let e = summarize(&empty_failover);
    let f = summarize(&full_failover);
    let l = summarize(&list_rpc);
    let lp = summarize(&list_provisioned_rpc);
    let lc = summarize(&list_cli);
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    println!();
    println!("at {} provisioned clients (3 nodes):", s.clients);
    println!(
        "  provisioned at {fill_per_s:.0}/s (concurrency {})",
        s.concurrency
    );
    println!("  RSS per node {rss:.0?} MiB (after a wiped node's rejoin {rejoined_rss:.0?}); data dir per node {data_mib:.0?} MiB");
    println!(
        "  snapshot: {:.0} MiB, built in {snapshot_ms:.0} ms; wiped node rejoined (transfer + install) in {rejoin_ms:.0} ms",
        snapshot_bytes as f64 / (1 << 20) as f64
    );
    println!("  kill -9 + restart of a node to ready: {restart_ms:.0} ms");
    println!(
        "  CA replaced (all {} clients invalidated) in {ca_replace_ms:.0} ms",
        s.clients
    );
    println!(
        "  client list --state invalidated (first page of 100): RPC p50 {:.2} ms, p99 {:.2} ms; mrctl p50 {:.1} ms; --state provisioned RPC p50 {:.2} ms",
        l.median, l.p99, lc.median, lp.median
    );
    println!(
        "  leader kill -9 to first acknowledged write: empty cluster p50 {:.0} ms (max {:.0}), at {} clients p50 {:.0} ms (max {:.0}); ratio {:.2}",
        e.median,
        e.max,
        s.clients,
        f.median,
        f.max,
        f.median / e.median.max(1.0)
    );

    let mut keys = BTreeMap::new();
    let mut put = |k: &str, v: String| keys.insert(format!("scale_{k}"), v);
    put("clients", s.clients.to_string());
    put("fill_per_s", format!("{fill_per_s:.0}"));
    put("rss_mib_max", format!("{:.0}", max(&rss)));
    put(
        "rss_after_rejoin_mib_max",
        format!("{:.0}", max(&rejoined_rss)),
    );
    put("data_dir_mib_max", format!("{:.0}", max(&data_mib)));
    put(
        "snapshot_mib",
        format!("{:.0}", snapshot_bytes as f64 / (1 << 20) as f64),
    );
    put("snapshot_build_ms", format!("{snapshot_ms:.0}"));
    put("rejoin_ms", format!("{rejoin_ms:.0}"));
    put("restart_ready_ms", format!("{restart_ms:.0}"));
    put("ca_replace_ms", format!("{ca_replace_ms:.0}"));
    put("list_invalidated_p50_ms", format!("{:.2}", l.median));
    put("list_invalidated_p99_ms", format!("{:.2}", l.p99));
    put("list_invalidated_mrctl_p50_ms", format!("{:.1}", lc.median));
    put("list_provisioned_p50_ms", format!("{:.2}", lp.median));
    put("failover_empty_p50_ms", format!("{:.0}", e.median));
    put("failover_p50_ms", format!("{:.0}", f.median));
    put("failover_max_ms", format!("{:.0}", f.max));
    put(
        "failover_ratio",
        format!("{:.2}", f.median / e.median.max(1.0)),
    );
    let details = serde_json::json!({
        "clients": s.clients,
        "rss_mib": rss,
        "rss_after_rejoin_mib": rejoined_rss,
        "data_dir_mib": data_mib,
        "snapshot_bytes": snapshot_bytes,
        "failover_empty_ms": empty_failover,
        "failover_full_ms": full_failover,
        "list_invalidated_ms": list_rpc,
        "list_provisioned_ms": list_provisioned_rpc,
        "list_invalidated_mrctl_ms": list_cli,
    });
    Ok((keys, details))
}

/// Provisions clients `s0 … s{n-1}` (1 000 users) from the CSRs in turn,
/// `workers` at a time, every node taking requests; a failed request is
/// retried with its request id, so nothing is provisioned twice. Returns
/// provisions per second.
async fn fill(chans: &[Channel], csrs: &Arc<Vec<Csr>>, n: u64, workers: usize) -> Result<f64> {
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let run = bench::run_id();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (next, done, chans, csrs) = (next.clone(), done.clone(), chans.to_vec(), csrs.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let request = ProvisionRequest {
                    request_id: bench::request_id(run, i),
                    id: format!("s{i}"),
                    user: format!("user{}", i % 1000),
                    csr: csrs[i as usize % csrs.len()].der.clone(),
                    ..Default::default()
                };
                let mut attempt = 0usize;
                loop {
                    let channel = chans[(i as usize + attempt) % chans.len()].clone();
                    match ClientsClient::new(channel).provision(request.clone()).await {
                        Ok(_) => break,
                        Err(e) if attempt >= 20 => bail!("provisioning s{i} failed: {e}"),
                        Err(_) => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut last_report = Instant::now();
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(r) => r.context("a provisioning worker panicked")??,
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let d = done.load(Ordering::Relaxed);
            let rate = d as f64 / started.elapsed().as_secs_f64();
            eprintln!(
                "scale: provisioned {d}/{n} ({rate:.0}/s, about {:.0} s to go)",
                (n - d.min(n)) as f64 / rate.max(1.0)
            );
        }
    }
    let per_s = n as f64 / started.elapsed().as_secs_f64();
    eprintln!("scale: provisioned {n} clients at {per_s:.0}/s");
    Ok(per_s)
}

/// Kill -9 the leader `trials` times; each time the milliseconds until a
/// write is acknowledged by the survivors. The killed node is restarted and
/// caught up before the next trial.
async fn leader_failover(c: &mut Cluster, trials: usize, label: &str) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for trial in 0..trials {
        let leader = c.must_have_leader().await?;
        let survivors: Vec<u64> = c.running().into_iter().filter(|id| *id != leader).collect();
        let killed = Instant::now();
        c.kill(leader);
        let mut attempt = 0usize;
        loop {
            let via = survivors[attempt % survivors.len()];
            attempt += 1;
            let value = format!("f{trial}-{attempt}.mr.bench");
            let write = tokio::time::timeout(Duration::from_millis(500), c.write(via, &value));
            if matches!(write.await, Ok(Ok(_))) {
                break;
            }
            if killed.elapsed() > Duration::from_secs(20) {
                bail!("no write was acknowledged within 20 s of killing leader {leader}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ms = killed.elapsed().as_secs_f64() * 1000.0;
        eprintln!("scale: failover ({label}) trial {}: leader {leader} killed; write acknowledged after {ms:.0} ms", trial + 1);
        out.push(ms);
        c.must_restart_caught_up(leader, Duration::from_secs(120))
            .await?;
    }
    Ok(out)
}

/// Kills node `id` and starts it again; the milliseconds until it has
/// applied everything the leader had at the kill.
async fn restart_to_ready(c: &mut Cluster, id: u64) -> Result<f64> {
    let leader = c.must_have_leader().await?;
    let target = c.status(leader).await?.last_log_index;
    c.kill(id);
    let started = Instant::now();
    c.start_node(id)?;
    wait_applied(c, id, target, Duration::from_secs(900)).await?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Replaces node `id` by an empty one, as an operator does after losing a
/// disk: wipe it, remove it, start a node under a new id and add it; the
/// milliseconds from its start until it has applied what the leader had
/// (the snapshot sent and installed, then the log tail). Returns the new id.
async fn replace_node(c: &mut Cluster, id: u64) -> Result<(u64, f64)> {
    let leader = c.must_have_leader().await?;
    let target = c.status(leader).await?.last_log_index;
    let mut admin = ClusterClient::new(c.channel_with_timeout(leader, ADMIN_TIMEOUT).await?);
    c.node(id).wipe()?;
    admin.remove_node(RemoveNodeRequest { id }).await?;
    let new_id = id + 10;
    let started = Instant::now();
    let addr = c.start_node(new_id)?;
    admin
        .add_learner(AddLearnerRequest {
            member: Some(Member {
                id: new_id,
                addr: addr.to_string(),
            }),
            wait: false,
        })
        .await?;
    wait_applied(c, new_id, target, Duration::from_secs(900)).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    admin
        .change_membership(ChangeMembershipRequest {
            promote: vec![new_id],
        })
        .await?;
    Ok((new_id, ms))
}

/// Waits until node `id`'s snapshot index has not moved for `quiet`.
async fn wait_snapshots_quiet(c: &Cluster, id: u64, quiet: Duration) -> Result<()> {
    let mut last = c.status(id).await?.snapshot_index;
    let mut since = Instant::now();
    let started = Instant::now();
    while since.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = c.status(id).await?.snapshot_index;
        if now != last {
            (last, since) = (now, Instant::now());
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("node {id} kept building snapshots for 10 minutes");
        }
    }
    Ok(())
}

async fn wait_applied(c: &Cluster, id: u64, index: u64, limit: Duration) -> Result<()> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        if let Ok(s) = c.status(id).await {
            if s.applied_index >= index {
                return Ok(());
            }
        }
        if started.elapsed() > limit {
            bail!("node {id} did not apply index {index} within {limit:?}");
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "scale: waiting for node {id} to apply index {index} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Milliseconds per linearizable first page (100 clients) of `state`.
async fn list_latency(c: &Cluster, id: u64, state: &str, n: usize) -> Result<Vec<f64>> {
    let channel = c.channel_with_timeout(id, ADMIN_TIMEOUT).await?;
    let mut out = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let page = ClientsClient::new(channel.clone())
            .list(ListClientsRequest {
                state: {
                    use mrouter_proto::names::Named;
                    mrouter_proto::v1::ClientState::from_name(state).map_or(0, Into::into)
                },
                limit: 100,
                ..Default::default()
            })
            .await?
            .into_inner();
        out.push(started.elapsed().as_secs_f64() * 1000.0);
        if state == "invalidated" {
            ensure!(
                page.clients.len() == 100,
                "a full page of invalidated clients"
            );
        }
    }
    Ok(out)
}

/// Wall time of `mrctl client list --state invalidated`, process start to exit.
fn mrctl_list_latency(c: &Cluster, n: usize) -> Result<Vec<f64>> {
    let endpoints = c.endpoints();
    let mut out = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let run = std::process::Command::new(cluster_tests::binary("mrctl"))
            .env("MRCTL_CACERT", cluster_tests::tls::ca_file())
            .args([
                "--endpoints",
                &endpoints,
                "client",
                "list",
                "--state",
                "invalidated",
            ])
            .output()?;
        out.push(started.elapsed().as_secs_f64() * 1000.0);
        ensure!(
            run.status.success(),
            "mrctl client list failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    Ok(out)
}

/// Resident set size of each running node, MiB.
fn node_rss_mib(c: &Cluster) -> Vec<f64> {
    bench::node_pids(c)
        .iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        })
        .collect()
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn newest_snapshot_bytes(data_dir: &Path) -> Result<u64> {
    let mut newest: Option<(std::path::PathBuf, u64)> = None;
    for entry in std::fs::read_dir(data_dir.join("snapshots"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "snap")
            && newest.as_ref().is_none_or(|(p, _)| path > *p)
        {
            let len = std::fs::metadata(&path)?.len();
            newest = Some((path, len));
        }
    }
    newest
        .map(|(_, len)| len)
        .context("the leader has no snapshot file")
}
