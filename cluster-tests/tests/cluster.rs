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
