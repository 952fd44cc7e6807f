//! Network partitions (nodes cut from each other, clients still reaching
//! them): a leader cut off from the majority gives up the virtual listeners
//! before the new leader opens them, a minority node refuses linearizable
//! reads and answers stale ones from its own state, and after healing every
//! node has the same state.
//!
//! Needs root and `nft` (see `cluster_tests::partition`).

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use cluster_tests::{eventually, Cluster, ClusterOptions};
use mrouter_proto::v1::settings_client::SettingsClient;
use mrouter_proto::v1::GetSettingsRequest;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The timestamps of node `id`'s log lines containing `what`, in order
/// (RFC 3339 in UTC, so they compare as strings).
fn logged(c: &Cluster, id: u64, what: &str) -> Vec<String> {
    std::fs::read_to_string(&c.nodes[&id].log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_majority_closes_its_virtual_listeners_before_a_new_leader_opens_them(
) -> Result<()> {
    let (vl, vr) = (free_port(), free_port());
    let mut c = Cluster::start(ClusterOptions {
        virtual_ports: Some((vl, vr)),
        partitions: true,
        ..Default::default()
    })
    .await?;
    // A loopback address of its own stands in for the virtual address.
    let vip = format!(
        "127.0.{}.{}",
        std::process::id() % 200 + 20,
        free_port() % 200 + 20
    );
    let (ok, _, err) = cluster_tests::mrctl(
        &c.endpoints(),
        &["settings", "set", "--virtual-address", &vip],
    );
    ensure!(ok, "{err}");
    let old = c.must_have_leader().await?;
    eventually(
        Duration::from_secs(10),
        "the leader to open the virtual listeners",
        || async {
            Ok((!logged(&c, old, "opened the virtual listeners").is_empty()).then_some(()))
        },
    )
    .await?;
    let vaddr = format!("{vip}:{vl}");
    ensure!(
        std::net::TcpStream::connect(&vaddr).is_ok(),
        "nothing serves {vaddr}"
    );

    let cut_at = Instant::now();
    c.isolate(old)?;
    let majority: Vec<u64> = c.running().into_iter().filter(|&id| id != old).collect();
    let closed = eventually(
        Duration::from_secs(10),
        "the cut-off leader to close them",
        || async {
            Ok(logged(&c, old, "closed the virtual listeners")
                .first()
                .cloned())
        },
    )
    .await?;
    let closed_after = cut_at.elapsed();
    let new = c.must_have_leader_among(&majority).await?;
    ensure!(new != old);
    let opened = eventually(
        Duration::from_secs(15),
        "the new leader to open them",
        || async {
            Ok(logged(&c, new, "opened the virtual listeners")
                .first()
                .cloned())
        },
    )
    .await?;
    eprintln!("closed {closed_after:?} after the cut; closed at {closed}, opened at {opened}");
    ensure!(
        closed < opened,
        "the new leader opened the virtual listeners ({opened}) before the old one closed them ({closed})"
    );
    // The lease is 1.5 election timeouts (300 ms here); 5 s is slack for a
    // loaded machine, not a performance claim.
    ensure!(
        closed_after < Duration::from_secs(5),
        "closed only after {closed_after:?}"
    );
    ensure!(
        std::net::TcpStream::connect(&vaddr).is_ok(),
        "nothing serves {vaddr}"
    );
    // The old leader, still cut off, keeps them closed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure!(logged(&c, old, "opened the virtual listeners").len() == 1);

    c.heal()?;
    let w = c.must_write(new, "after-heal.example.com").await?;
    c.must_converge(w.log_index).await?;
    ensure!(logged(&c, old, "opened the virtual listeners").len() == 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_node_refuses_linearizable_reads_answers_stale_ones_and_converges_after_heal(
) -> Result<()> {
    let mut c = Cluster::start(ClusterOptions {
        partitions: true,
        ..Default::default()
    })
    .await?;
    let leader = c.must_have_leader().await?;
    let before = c.must_write(leader, "before-cut.example.com").await?;
    c.must_converge(before.log_index).await?;
    let minority = c
        .running()
        .into_iter()
        .find(|&id| id != leader)
        .context("a follower")?;
    c.isolate(minority)?;
    let majority: Vec<u64> = c
        .running()
        .into_iter()
        .filter(|&id| id != minority)
        .collect();
    let leader = c.must_have_leader_among(&majority).await?;
    let during = c.must_write(leader, "during-cut.example.com").await?;

    // Linearizable: refused as UNAVAILABLE (the leader cannot be reached).
    let linearizable = SettingsClient::new(
        c.channel_with_timeout(minority, Duration::from_secs(30))
            .await?,
    )
    .get(GetSettingsRequest { stale: false })
    .await;
    match linearizable {
        Err(status) => ensure!(
            status.code() == tonic::Code::Unavailable,
            "a linearizable read on the minority node: {status:?}"
        ),
        Ok(reply) => anyhow::bail!("a linearizable read on the minority node answered: {reply:?}"),
    }
    // Stale: its own state, without the majority's write.
    let stale = c.settings_on(minority).await?;
    ensure!(
        stale.remote_access_fqdn == "before-cut.example.com",
        "{stale:?}"
    );
    ensure!(c.settings_on(leader).await?.remote_access_fqdn == "during-cut.example.com");

    c.heal()?;
    let digest = c.must_converge(during.log_index).await?;
    ensure!(c.settings_on(minority).await?.remote_access_fqdn == "during-cut.example.com");
    eprintln!("converged on {digest}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_between_two_followers_changes_nothing_for_clients() -> Result<()> {
    let mut c = Cluster::start(ClusterOptions {
        partitions: true,
        ..Default::default()
    })
    .await?;
    let leader = c.must_have_leader().await?;
    let followers: Vec<u64> = c.running().into_iter().filter(|&id| id != leader).collect();
    c.cut(followers[0], followers[1])?;
    ensure!(c.must_have_leader().await? == leader, "the leader changed");
    // Every node still takes writes (the followers forward to the leader).
    let mut last = 0;
    for id in c.running() {
        last = c
            .must_write(id, &format!("via{id}.example.com"))
            .await?
            .log_index;
    }
    c.must_converge(last).await?;
    c.heal()?;
    Ok(())
}
