//! Backup and restore: `snapshot save` then restore into a fresh cluster
//! reproduces the state digest; bad files and foreign seal keys are refused.

use std::time::Duration;

use anyhow::Result;
use cluster_tests::{mrctl, Cluster, ClusterOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_snapshot_restores_into_a_fresh_cluster_with_the_same_digest() -> Result<()> {
    let src = Cluster::start(ClusterOptions::default()).await?;
    let leader = src.must_have_leader().await?;
    let (ok, _, err) = mrctl(
        &src.endpoints(),
        &[
            "settings",
            "set",
            "--cluster-domain",
            "example.com",
            "--virtual-address",
            "192.0.2.10",
            "--mode",
            "clustered",
        ],
    );
    assert!(ok, "{err}");
    let w = src.must_write(leader, "mr.example.com").await?;
    let digest = src.must_converge(w.log_index).await?;
    let file = src.root().join("backup.snap");
    let (ok, out, err) = mrctl(
        &src.endpoints(),
        &["snapshot", "save", file.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    let bytes = std::fs::read(&file)?;
    assert!(!bytes.windows(11).any(|w| w == b"PRIVATE KEY"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a saved snapshot is owner-only, not {mode:o}");
    }
    // An existing file is not replaced without --force.
    let (ok, _, err) = mrctl(
        &src.endpoints(),
        &["snapshot", "save", file.to_str().unwrap()],
    );
    assert!(
        !ok && err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file)?, bytes);
    let (ok, _, err) = mrctl(
        &src.endpoints(),
        &["snapshot", "save", "--force", file.to_str().unwrap()],
    );
    assert!(ok, "{err}");

    // A fresh cluster with the same seal key.
    let mut dst = Cluster::new_uninitialized(ClusterOptions::default())?;
    std::fs::copy(&src.seal_key_file, &dst.seal_key_file)?;
    for id in 1..=3 {
        dst.start_node(id)?;
    }
    dst.init(&[1, 2, 3]).await?;
    dst.must_have_leader().await?;
    let (ok, out, err) = mrctl(
        &dst.endpoints(),
        &["-o", "json", "snapshot", "restore", file.to_str().unwrap()],
    );
    assert!(ok, "{out}{err}");
    let reply: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(reply["state_digest"], digest);
    let restored = dst
        .must_converge(reply["last_log_index"].as_u64().unwrap())
        .await?;
    assert_eq!(restored, digest);
    let s = dst.settings_on(2).await?;
    assert_eq!(
        (s.cluster_domain.as_str(), s.mode),
        (
            "example.com",
            mrouter_proto::v1::ClusterMode::Clustered as i32
        )
    );

    // Restoring again into the now non-empty cluster is refused, changing nothing.
    let (ok, _, err) = mrctl(
        &dst.endpoints(),
        &["snapshot", "restore", file.to_str().unwrap()],
    );
    assert!(
        !ok && err.contains("FAILED_PRECONDITION"),
        "ok={ok} out={out} err={err}"
    );
    assert_eq!(dst.status(1).await?.state_digest, digest);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_foreign_snapshots_are_refused_and_change_nothing() -> Result<()> {
    let src = Cluster::start(ClusterOptions::default()).await?;
    let leader = src.must_have_leader().await?;
    src.must_write(leader, "mr.example.com").await?;
    let file = src.root().join("backup.snap");
    let (ok, _, err) = mrctl(
        &src.endpoints(),
        &["snapshot", "save", file.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let good = std::fs::read(&file)?;

    let dst = Cluster::start(ClusterOptions {
        nodes: 1,
        ..Default::default()
    })
    .await?;
    let before = dst.status(1).await?.state_digest;
    // Another seal key: the sealed values could never be opened there.
    let (ok, _, err) = mrctl(
        &dst.endpoints(),
        &["snapshot", "restore", file.to_str().unwrap()],
    );
    assert!(!ok && err.contains("seal key"), "{err}");

    let bad = src.root().join("bad.snap");
    let mut flipped = good.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x55;
    for (name, bytes) in [
        ("flipped", flipped),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("random", vec![0x5a; 4096]),
    ] {
        std::fs::write(&bad, &bytes)?;
        let (ok, _, err) = mrctl(
            &dst.endpoints(),
            &["snapshot", "restore", bad.to_str().unwrap()],
        );
        assert!(!ok, "{name} snapshot accepted");
        assert!(
            err.contains("INVALID_ARGUMENT") || err.contains("seal key"),
            "{name}: {err}"
        );
    }
    std::fs::write(&bad, b"")?;
    let (ok, _, err) = mrctl(
        &dst.endpoints(),
        &["snapshot", "restore", bad.to_str().unwrap()],
    );
    assert!(!ok && err.contains("empty"), "{err}");
    assert_eq!(dst.status(1).await?.state_digest, before);
    Ok(())
}

/// Regression (issue 14, item 1): nodes started as `mrd dev` starts them
/// record their client listeners at start, and that alone made the cluster
/// "already hold data", so no restore into a fresh dev cluster could work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_restore_works_into_a_fresh_mrd_dev_cluster() -> Result<()> {
    use cluster_tests::checks::{mrctl_json, mrctl_ok};
    use cluster_tests::DevCluster;

    let src = DevCluster::start()?;
    let ep = src.endpoints();
    mrctl_ok(&ep, &["settings", "set", "--cluster-domain", "example.com"]);
    mrctl_ok(&ep, &["ca", "generate", "--cn", "Dev CA", "--yes"]);
    let key = src.dir.join("alice.key");
    mrctl_ok(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "alice",
            "--user",
            "alice",
            "--key-out",
            key.to_str().unwrap(),
        ],
    );
    let file = src.dir.join("backup.snap");
    mrctl_ok(&ep, &["snapshot", "save", file.to_str().unwrap()]);

    let seal = src.dir.join("seal.key");
    let dst =
        DevCluster::start_with(|dir| Ok(std::fs::copy(&seal, dir.join("seal.key")).map(drop)?))?;
    let dst_ep = dst.endpoints();
    let reply = mrctl_json(&dst_ep, &["snapshot", "restore", file.to_str().unwrap()]);
    let digest = reply["state_digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Every member reaches the reported digest, and the restored records are there.
    cluster_tests::eventually(Duration::from_secs(20), "members converge", || async {
        // Exits non-zero while a member is unhealthy; its JSON is still there.
        let (_, out, _) = cluster_tests::mrctl(&dst_ep, &["cluster", "status", "-o", "json"]);
        let status: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let members = status["members"].as_array().cloned().unwrap_or_default();
        Ok(
            (members.len() == 3 && members.iter().all(|m| m["state_digest"] == digest))
                .then_some(()),
        )
    })
    .await?;
    let shown = mrctl_json(&dst_ep, &["client", "show", "alice"]);
    assert_eq!(shown["state"], "provisioned", "{shown}");
    let settings = mrctl_json(&dst_ep, &["settings", "get"]);
    assert_eq!(
        settings["settings"]["cluster_domain"], "example.com",
        "{settings}"
    );

    // The restored cluster has its own nodes' listeners, not the backup's
    // (each node records its own shortly after it starts).
    let bob_key = dst.dir.join("bob.key");
    let listeners = cluster_tests::eventually(
        Duration::from_secs(20),
        "every node's listeners in a provisioning reply",
        || async {
            let bob = mrctl_json(
                &dst_ep,
                &[
                    "client",
                    "provision",
                    "--id",
                    "bob",
                    "--user",
                    "bob",
                    "--replace",
                    "--key-out",
                    bob_key.to_str().unwrap(),
                ],
            );
            let _ = std::fs::remove_file(&bob_key);
            let listeners = bob["endpoints"]["nodes"].to_string();
            let all = dst
                .local_listeners()
                .iter()
                .all(|l| listeners.contains(l.as_str()));
            Ok(all.then_some(listeners))
        },
    )
    .await?;
    for theirs in src.local_listeners() {
        assert!(
            !listeners.contains(theirs.as_str()),
            "{theirs} from the backup: {listeners}"
        );
    }
    Ok(())
}
