//! Multi-node behaviour against real `mrd` processes on loopback.

use anyhow::Result;
use cluster_tests::{Cluster, ClusterOptions};
use mrouter_proto::v1::cluster_client::ClusterClient;
use mrouter_proto::v1::{
    AddLearnerRequest, ChangeMembershipRequest, Member, RemoveNodeRequest, TriggerSnapshotRequest,
};

async fn three() -> Result<Cluster> {
    Cluster::start(ClusterOptions::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_is_elected() -> Result<()> {
    let c = three().await?;
    let leader = c.must_have_leader().await?;
    let status = c.status(leader).await?;
    assert_eq!(status.members.len(), 3);
    assert_eq!(
        status.members.iter().filter(|m| m.role == "leader").count(),
        1
    );
    assert!(status.members.iter().all(|m| m.reachable && m.voter));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_write_is_readable_from_every_node() -> Result<()> {
    let c = three().await?;
    let leader = c.must_have_leader().await?;
    let follower = c.running().into_iter().find(|id| *id != leader).unwrap();
    // Written through a follower: it is forwarded to the leader.
    let w = c.must_write(follower, "mr.example.com").await?;
    for id in c.running() {
        assert!(
            c.is_applied(id, &w).await?,
            "node {id} does not see the write linearizably"
        );
    }
    c.must_converge(w.log_index).await?;
    for id in c.running() {
        assert_eq!(
            c.settings_on(id).await?.remote_access_fqdn,
            "mr.example.com",
            "node {id}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write() -> Result<()> {
    let mut c = three().await?;
    let leader = c.must_have_leader().await?;
    let mut acked = Vec::new();
    for i in 0..20 {
        acked.push(c.must_write(leader, &format!("w{i}.example.com")).await?);
    }
    c.kill(leader);
    let new_leader = c.must_have_leader().await?;
    assert_ne!(new_leader, leader);
    acked.push(c.must_write(new_leader, "after.example.com").await?);
    for w in &acked {
        assert!(
            c.is_applied(new_leader, w).await?,
            "acknowledged write {} lost",
            w.value
        );
    }
    // The killed node restarts and catches up to the same state.
    c.start_node(leader)?;
    let digest = c.must_converge(acked.last().unwrap().log_index).await?;
    assert_eq!(c.status(leader).await?.state_digest, digest);
    assert_eq!(
        c.settings_on(leader).await?.remote_access_fqdn,
        "after.example.com"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_rejoins_as_follower() -> Result<()> {
    let mut c = three().await?;
    let leader = c.must_have_leader().await?;
    c.pause(leader);
    let others: Vec<u64> = c.running().into_iter().filter(|id| *id != leader).collect();
    let w = c.must_write(others[0], "during-pause.example.com").await?;
    c.resume(leader);
    c.must_converge(w.log_index).await?;
    let now = c.must_have_leader().await?;
    let s = c.status(leader).await?;
    assert_eq!(s.leader_id, Some(now));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_node_rejoins_through_a_snapshot() -> Result<()> {
    let mut c = three().await?;
    let leader = c.must_have_leader().await?;
    for i in 0..30 {
        c.must_write(leader, &format!("s{i}.example.com")).await?;
    }
    let mut admin = ClusterClient::new(c.channel(leader).await?);
    let snap = admin
        .trigger_snapshot(TriggerSnapshotRequest { purge_log: true })
        .await?
        .into_inner();
    assert!(snap.snapshot_index > 30);

    // A wiped node comes back under a new id (an id is never reused with an empty log).
    let victim = c.running().into_iter().find(|id| *id != leader).unwrap();
    c.node(victim).wipe()?;
    admin.remove_node(RemoveNodeRequest { id: victim }).await?;
    let addr = c.start_node(4)?;
    admin
        .add_learner(AddLearnerRequest {
            member: Some(Member {
                id: 4,
                addr: addr.to_string(),
            }),
            wait: true,
        })
        .await?;
    let reply = admin
        .change_membership(ChangeMembershipRequest { promote: vec![4] })
        .await?
        .into_inner();
    assert!(reply.voters.contains(&4));
    let w = c.must_write(leader, "after-rejoin.example.com").await?;
    c.must_converge(w.log_index).await?;
    let s4 = c.status(4).await?;
    let me = s4.members.iter().find(|m| m.id == 4).unwrap();
    assert!(me.voter);
    assert!(
        s4.snapshot_index >= snap.snapshot_index,
        "node 4 did not install a snapshot: {s4:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_promote_and_remove_keep_every_node_on_the_same_state() -> Result<()> {
    let mut c = three().await?;
    let leader = c.must_have_leader().await?;
    c.must_write(leader, "before.example.com").await?;
    let addr = c.start_node(4)?;
    let mut admin = ClusterClient::new(c.channel(leader).await?);
    admin
        .add_learner(AddLearnerRequest {
            member: Some(Member {
                id: 4,
                addr: addr.to_string(),
            }),
            wait: true,
        })
        .await?;
    admin
        .change_membership(ChangeMembershipRequest { promote: vec![4] })
        .await?;
    let victim = c
        .running()
        .into_iter()
        .find(|id| *id != leader && *id != 4)
        .unwrap();
    admin.remove_node(RemoveNodeRequest { id: victim }).await?;
    c.node(victim).stop()?;
    let w = c.must_write(4, "after.example.com").await?;
    c.must_converge(w.log_index).await?;
    let s = c.status(leader).await?;
    let ids: Vec<u64> = s.members.iter().map(|m| m.id).collect();
    assert!(ids.contains(&4) && !ids.contains(&victim), "{ids:?}");
    assert!(s.members.iter().all(|m| m.voter && m.reachable));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_shuts_down_cleanly_and_resumes() -> Result<()> {
    let mut c = three().await?;
    let leader = c.must_have_leader().await?;
    let w1 = c.must_write(leader, "one.example.com").await?;
    c.must_converge(w1.log_index).await?;
    let follower = c.running().into_iter().find(|id| *id != leader).unwrap();
    c.node(follower).stop()?;
    let w2 = c.must_write(leader, "two.example.com").await?;
    c.start_node(follower)?;
    c.must_converge(w2.log_index).await?;
    assert_eq!(
        c.settings_on(follower).await?.remote_access_fqdn,
        "two.example.com"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_with_another_seal_key_refuses_to_start() -> Result<()> {
    let mut c = three().await?;
    let victim = 3;
    c.node(victim).stop()?;
    let other_key = c.root().join("other.key");
    std::fs::write(&other_key, "ab".repeat(32))?;
    let real = std::mem::replace(&mut c.seal_key_file, other_key);
    let err = c
        .start_node(victim)
        .expect_err("must refuse another seal key")
        .to_string();
    assert!(err.contains("seal key"), "{err}");
    c.seal_key_file = real;
    c.start_node(victim)?;
    Ok(())
}

/// Regression (issue 14, item 3): a follower paused for longer than an
/// election raised its term on waking, and its answer to the leader's next
/// heartbeat made a healthy leader step down. With pre-vote it asks first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_follower_does_not_unseat_a_healthy_leader() -> Result<()> {
    // Roomy timing: the other tests of this file run beside it on two cores,
    // and a heartbeat late for that reason would be a real election.
    let opts = ClusterOptions {
        heartbeat_ms: 100,
        election_timeout_ms: 1000,
        ..ClusterOptions::default()
    };
    let pause = std::time::Duration::from_millis(opts.election_timeout_ms * 5);
    let mut c = Cluster::start(opts).await?;
    let leader = c.must_have_leader().await?;
    let before = c.status(leader).await?;
    let follower = c.running().into_iter().find(|id| *id != leader).unwrap();
    c.pause(follower);
    tokio::time::sleep(pause).await;
    c.resume(follower);
    // The resumed node catches up with a write made after it woke...
    let w = c.must_write(leader, "after-the-pause.example.com").await?;
    c.must_catch_up(follower, w.log_index).await?;
    // ...and for several more election timeouts nothing moves.
    tokio::time::sleep(pause).await;
    for id in c.running() {
        let s = c.status(id).await?;
        let logs = |c: &mut Cluster| {
            c.running()
                .into_iter()
                .map(|n| format!("node {n}:\n{}", c.node(n).log_tail()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            s.leader_id,
            Some(leader),
            "node {id} sees another leader; paused {follower}\n{}",
            logs(&mut c)
        );
        assert_eq!(
            s.term,
            before.term,
            "node {id} is in another term; paused {follower}\n{}",
            logs(&mut c)
        );
    }
    Ok(())
}

/// Regression (issue 14, item 2): a paused node first in the endpoint list
/// made every mrctl call wait its whole --timeout and fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mrctl_skips_a_paused_first_endpoint_quickly() -> Result<()> {
    let mut c = three().await?;
    let leader = c.must_have_leader().await?;
    let follower = c.running().into_iter().find(|id| *id != leader).unwrap();
    let others: Vec<String> = c
        .running()
        .into_iter()
        .filter(|id| *id != follower)
        .map(|id| c.addr(id).to_string())
        .collect();
    let endpoints = format!("{},{}", c.addr(follower), others.join(","));
    c.pause(follower);
    for args in [
        &["settings", "get"][..],
        &[
            "settings",
            "set",
            "--remote-access-fqdn",
            "paused.example.com",
        ][..],
    ] {
        let started = std::time::Instant::now();
        let (ok, out, err) = cluster_tests::mrctl(&endpoints, args);
        let took = started.elapsed();
        assert!(ok, "mrctl {args:?}: {out}{err}");
        assert!(
            took < std::time::Duration::from_secs(5),
            "mrctl {args:?} took {took:?}"
        );
    }
    c.resume(follower);
    Ok(())
}

/// Regression (issue 14, item 4): a node removed with `cluster remove` went
/// on answering as a member from a frozen state, and mrctl hung on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_node_says_so_and_mrctl_skips_it() -> Result<()> {
    let mut c = three().await?;
    let leader = c.must_have_leader().await?;
    let victim = c.running().into_iter().find(|id| *id != leader).unwrap();
    let (ok, out, err) = cluster_tests::mrctl(
        &c.addr(leader).to_string(),
        &["cluster", "remove", &victim.to_string(), "--yes"],
    );
    assert!(ok, "{out}{err}");
    let alone = c.addr(victim).to_string();
    let refused = cluster_tests::eventually(
        std::time::Duration::from_secs(10),
        "the removed node to refuse calls",
        || async {
            let (ok, _, err) = cluster_tests::mrctl(&alone, &["settings", "get"]);
            Ok((!ok && err.contains("was removed from the cluster at log index")).then_some(err))
        },
    )
    .await?;
    assert!(refused.contains("FAILED_PRECONDITION"), "{refused}");
    // Listed first, it is skipped at once.
    let endpoints = format!("{alone},{}", c.addr(leader));
    let started = std::time::Instant::now();
    let (ok, out, err) = cluster_tests::mrctl(
        &endpoints,
        &[
            "settings",
            "set",
            "--remote-access-fqdn",
            "after.example.com",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let log = std::fs::read_to_string(&c.node(victim).log)?;
    assert!(log.contains("removed from the cluster"), "{log}");
    // It still knows after a restart.
    c.node(victim).stop()?;
    c.start_node(victim)?;
    cluster_tests::eventually(
        std::time::Duration::from_secs(20),
        "the restarted removed node to refuse calls",
        || async {
            let (ok, _, err) = cluster_tests::mrctl(&alone, &["cluster", "status"]);
            Ok((!ok && err.contains("was removed")).then_some(()))
        },
    )
    .await?;
    Ok(())
}
