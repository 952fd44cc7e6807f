//! Every bad input through `mrctl`: a clear message, a non-zero exit, and
//! the state unchanged (same digest before and after).

use anyhow::Result;
use cluster_tests::{mrctl, Cluster, ClusterOptions};

fn must_fail(endpoints: &str, args: &[&str], expect: &[&str]) {
    let (ok, out, err) = mrctl(endpoints, args);
    assert!(!ok, "mrctl {args:?} succeeded: {out}");
    for e in expect {
        assert!(err.contains(e), "mrctl {args:?}: expected {e:?} in {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cluster_and_settings_input_is_refused_and_changes_nothing() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    let leader = c.must_have_leader().await?;
    let w = c.must_write(leader, "mr.example.com").await?;
    let before = c.must_converge(w.log_index).await?;
    let ep = c.endpoints();

    must_fail(
        &ep,
        &["cluster", "init"],
        &["FAILED_PRECONDITION", "already initialized"],
    );
    must_fail(
        &ep,
        &["cluster", "remove", "42", "--yes"],
        &["NOT_FOUND", "node 42"],
    );
    must_fail(
        &ep,
        &["cluster", "promote", "42"],
        &["NOT_FOUND", "node 42"],
    );
    must_fail(&ep, &["cluster", "transfer-leader", "42"], &["NOT_FOUND"]);
    must_fail(
        &ep,
        &[
            "cluster",
            "add-learner",
            "--id",
            "9",
            "--addr",
            "not an address",
        ],
        &["INVALID_ARGUMENT", "host:port"],
    );
    must_fail(
        &ep,
        &[
            "cluster",
            "add-learner",
            "--id",
            "9",
            "--addr",
            "10.0.0.1:99999",
        ],
        &["INVALID_ARGUMENT", "port"],
    );
    must_fail(
        &ep,
        &[
            "cluster",
            "add-learner",
            "--id",
            "1",
            "--addr",
            "127.0.0.1:1",
        ],
        &["ALREADY_EXISTS"],
    );
    must_fail(
        &ep,
        &["cluster", "init", "--member", "x=1.2.3.4:5"],
        &["id must be"],
    );
    must_fail(&ep, &["cluster", "remove", "2"], &["--yes"]);
    must_fail(
        &ep,
        &["settings", "set", "--remote-access-fqdn", "exa mple.com"],
        &["INVALID_ARGUMENT", "not a valid DNS name"],
    );
    must_fail(
        &ep,
        &["settings", "set", "--cluster-domain", "a..b"],
        &["INVALID_ARGUMENT"],
    );
    must_fail(
        &ep,
        &["settings", "set", "--virtual-address", "300.1.1.1"],
        &["INVALID_ARGUMENT", "IP address"],
    );
    must_fail(
        &ep,
        &["settings", "set", "--mode", "cluster"],
        &["--mode", "standalone or clustered"],
    );
    must_fail(
        &ep,
        &["settings", "set", "--mode", "clustered"],
        &["FAILED_PRECONDITION", "virtual address"],
    );
    must_fail(&ep, &["settings", "set"], &["nothing to set"]);
    must_fail(
        "127.0.0.1:1",
        &["cluster", "status"],
        &["no endpoint answered"],
    );

    let after = c.must_converge(w.log_index).await?;
    assert_eq!(before, after, "a refused command changed the state");
    let s = c.status(leader).await?;
    assert_eq!(s.members.len(), 3);
    assert_eq!(
        c.settings_on(leader).await?.remote_access_fqdn,
        "mr.example.com"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_voter_cannot_be_removed() -> Result<()> {
    let c = Cluster::start(ClusterOptions {
        nodes: 1,
        ..Default::default()
    })
    .await?;
    must_fail(
        &c.endpoints(),
        &["cluster", "remove", "1", "--yes"],
        &["FAILED_PRECONDITION", "last voter"],
    );
    assert_eq!(c.status(1).await?.members.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_settings_render_as_json_yaml_and_table() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    let ep = c.endpoints();
    let (ok, out, err) = mrctl(&ep, &["-o", "json", "cluster", "status"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(v["members"].as_array().unwrap().len(), 3);
    assert!(v["leader_id"].as_u64().is_some());
    let (ok, out, _) = mrctl(&ep, &["-o", "yaml", "settings", "get"]);
    assert!(ok && out.contains("mode: standalone"), "{out}");
    let (ok, out, _) = mrctl(&ep, &["cluster", "status"]);
    assert!(
        ok && out.contains("LAST LOG") && out.contains("leader"),
        "{out}"
    );
    let (ok, out, err) = mrctl(
        &ep,
        &[
            "settings",
            "set",
            "--cluster-domain",
            "example.com",
            "--remote-access-fqdn",
            "mr.example.org",
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("warning: remote access FQDN mr.example.org is not inside the cluster domain example.com"), "{err}");
    assert!(out.contains("mr.example.org"));

    // Every member healthy: exit 0, and --cluster asks each one directly.
    let (ok, out, err) = mrctl(&ep, &["cluster", "status", "--cluster"]);
    assert!(ok && out.matches(" ok ").count() == 3, "{out}{err}");

    // A member down: the table says so in its HEALTH column (not in DIGEST)
    // and the exit code is not 0, as with `etcdctl endpoint health`.
    let mut c = c;
    c.node(3).stop()?;
    let (ok, out, err) = mrctl(&ep, &["cluster", "status"]);
    assert!(!ok, "status must fail with a member down: {out}");
    assert!(
        out.contains("HEALTH") && out.contains("unreachable"),
        "{out}"
    );
    assert!(
        err.contains("1 of 3 members unhealthy: node 3 unreachable"),
        "{err}"
    );
    let (ok, out, err) = mrctl(&ep, &["-o", "json", "cluster", "status", "--cluster"]);
    assert!(!ok, "{out}");
    let views: serde_json::Value = serde_json::from_str(&out)?;
    let views = views.as_array().cloned().unwrap_or_default();
    assert_eq!(views.len(), 3, "{out}");
    for v in &views {
        let health = v["health"].as_str().unwrap_or_default();
        if v["id"] == 3 {
            assert!(health.starts_with("unreachable"), "{v}");
        } else {
            assert_eq!(health, "", "{v}");
            assert!(v["leader_id"].as_u64().is_some(), "{v}");
        }
    }
    let e: serde_json::Value = serde_json::from_str(err.trim())?;
    assert_eq!(e["error"]["code"], "LOCAL", "{e}");
    Ok(())
}
