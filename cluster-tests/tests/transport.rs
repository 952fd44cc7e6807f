//! TLS on every connection (issue 16, item 1), through real processes: the
//! API speaks TLS 1.3 (1.2 floor) under the cluster CA and nothing else;
//! `mrctl` refuses a node it cannot verify and says which flag to give; a
//! Raft RPC needs a cluster certificate naming the node it speaks for; a
//! node of another cluster CA cannot join; a node certificate is rotated
//! without a restart or a new term; a shared key file is refused at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use cluster_tests::tls::{self, NodeFiles};
use cluster_tests::{eventually, mrctl, Cluster, ClusterOptions, NodeProc};
use mrouter_node::raft::TypeConfig;
use mrouter_proto::connect::{client_config, read_certs, read_roots, Connector};
use mrouter_proto::raft::v1::raft_client::RaftClient;
use mrouter_proto::raft::v1::Payload;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

/// `mrd tls …` as a user runs it; fails the test when it fails.
fn mrd_tls(args: &[&str]) -> Result<()> {
    let out = Command::new(cluster_tests::binary("mrd"))
        .arg("tls")
        .args(args)
        .output()?;
    ensure!(
        out.status.success(),
        "mrd tls {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A cluster CA of another cluster, and node `id`'s files under it.
fn other_ca(dir: &Path, id: u64) -> Result<NodeFiles> {
    let ca = dir.join("other-ca");
    let ca_s = ca.display().to_string();
    mrd_tls(&["init-ca", "--out", &ca_s])?;
    mrd_tls(&[
        "node-cert",
        "--ca",
        &ca_s,
        "--node-id",
        &id.to_string(),
        "--san",
        "127.0.0.1",
    ])?;
    Ok(NodeFiles {
        cert: ca.join(format!("node-{id}.pem")),
        key: ca.join(format!("node-{id}.key")),
        ca: ca.join("ca.pem"),
    })
}

/// `openssl s_client` against `addr`, trusting `ca`; its standard output.
fn s_client(addr: SocketAddr, ca: &Path, extra: &[&str]) -> Result<String> {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-CAfile"])
        .arg(ca)
        .args(["-verify_return_error", "-alpn", "h2", "-showcerts"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .context("openssl must run")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// mrctl without the harness's `MRCTL_CACERT`: (ok, stdout, stderr).
fn bare_mrctl(env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cluster_tests::binary("mrctl"))
        .env_remove("MRCTL_CACERT")
        .env_remove("MRCTL_PLAINTEXT")
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("mrctl must start");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Raft client to `addr` over TLS (server verified against `ca`),
/// presenting `identity` when given.
async fn raft_client(
    addr: SocketAddr,
    ca: &Path,
    identity: Option<&NodeFiles>,
) -> Result<RaftClient<Channel>> {
    let identity = match identity {
        Some(files) => Some((
            read_certs(&files.cert)?,
            PrivateKeyDer::from_pem_file(&files.key).context("the node key")?,
        )),
        None => None,
    };
    let config = client_config(read_roots(ca)?, identity)?;
    let connector = Connector::tls(Arc::new(Arc::new(config)));
    let channel = Endpoint::from_shared(format!("https://{addr}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect_with_connector(connector)
        .await?;
    Ok(RaftClient::new(channel))
}

/// A vote request from `candidate` at `term`, as a node would send it.
fn vote(term: u64, candidate: u64) -> Payload {
    let vote = openraft::impls::Vote::new(term, candidate);
    mrouter_node::raft::encode(&openraft::raft::VoteRequest::<TypeConfig>::new(vote, None))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_speaks_tls_1_3_under_the_cluster_ca_and_nothing_unverified() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    let addr = c.addr(1);
    let ca = tls::ca_file();

    let tls13 = s_client(addr, &ca, &[])?;
    ensure!(
        tls13.contains("TLSv1.3") && tls13.contains("Verify return code: 0 (ok)"),
        "TLS 1.3, verified: {tls13}"
    );
    ensure!(tls13.contains("ALPN protocol: h2"), "{tls13}");
    let tls12 = s_client(addr, &ca, &["-tls1_2"])?;
    ensure!(tls12.contains("TLSv1.2"), "TLS 1.2 is the floor: {tls12}");

    // A plaintext gRPC client gets no answer.
    let plain = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(3))
        .connect_lazy();
    let refused = mrouter_proto::v1::cluster_client::ClusterClient::new(plain)
        .status(mrouter_proto::v1::StatusRequest {})
        .await;
    ensure!(
        refused.is_err(),
        "a plaintext call was answered: {refused:?}"
    );

    let ep = addr.to_string();
    let status = ["--endpoints", ep.as_str(), "cluster", "status"];
    let (ok, _, err) = bare_mrctl(&[], &status);
    ensure!(!ok && err.contains("--cacert FILE"), "no CA given: {err}");
    let (ok, _, err) = bare_mrctl(&[("MRCTL_PLAINTEXT", "1")], &status);
    ensure!(
        !ok && err.contains("pass --cacert FILE instead of --plaintext"),
        "plaintext to a TLS port: {err}"
    );
    let other = other_ca(c.root(), 1)?;
    let other_ca_file = other.ca.display().to_string();
    let (ok, _, err) = bare_mrctl(&[("MRCTL_CACERT", &other_ca_file)], &status);
    ensure!(
        !ok && err.contains("not signed by the CA in --cacert"),
        "another cluster's CA: {err}"
    );
    let (ok, out, err) = bare_mrctl(
        &[],
        &[&["--cacert", &ca.display().to_string()], &status[..]].concat(),
    );
    ensure!(ok, "--cacert with the cluster CA: {out} {err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raft_rpc_needs_a_cluster_certificate_for_the_node_it_speaks_for() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    let leader = c.must_have_leader().await?;
    let term = c.status(leader).await?.term;
    let ca = tls::ca_file();
    let certs = c.root().join("forged");

    for id in c.running() {
        let addr = c.addr(id);
        // No certificate: refused before the message is read (an empty
        // payload would otherwise be a decode error).
        let mut anonymous = raft_client(addr, &ca, None).await?;
        let refused = anonymous
            .vote(Payload { data: vec![] })
            .await
            .expect_err("a vote without a certificate");
        ensure!(refused.code() == Code::Unauthenticated, "{refused:?}");
        let refused = anonymous
            .forward(Payload { data: vec![] })
            .await
            .expect_err("a forward without a certificate");
        ensure!(refused.code() == Code::Unauthenticated, "{refused:?}");

        // Node 2's certificate speaking for node 99 at term 1000.
        let node2 = tls::node_files(tls::ca_dir(), &certs, 2, false)?;
        let mut impostor = raft_client(addr, &ca, Some(&node2)).await?;
        let refused = impostor
            .vote(vote(term + 1000, 99))
            .await
            .expect_err("a vote for another node");
        ensure!(
            refused.code() == Code::PermissionDenied && refused.message().contains("node 2"),
            "{refused:?}"
        );

        // A cluster certificate for a node that is no member.
        let node99 = tls::node_files(tls::ca_dir(), &certs, 99, false)?;
        let mut stranger = raft_client(addr, &ca, Some(&node99)).await?;
        let refused = stranger
            .vote(vote(term + 1000, 99))
            .await
            .expect_err("a vote from a non-member");
        ensure!(refused.code() == Code::PermissionDenied, "{refused:?}");

        // Node 2's id, under another cluster's CA: no handshake.
        let foreign = other_ca(&certs.join(format!("via-{id}")), 2)?;
        let refused = match raft_client(addr, &ca, Some(&foreign)).await {
            Err(e) => format!("{e:#}"),
            Ok(mut client) => match client.vote(vote(term + 1000, 2)).await {
                Err(status) => status.to_string(),
                Ok(reply) => bail!("node {id} answered a foreign node: {reply:?}"),
            },
        };
        ensure!(!refused.is_empty());
    }
    // Nobody voted: the same leader in the same term.
    for id in c.running() {
        let status = c.status(id).await?;
        ensure!(
            status.term == term && status.leader_id == Some(leader),
            "node {id}: term {} leader {:?}, was {term} / {leader}",
            status.term,
            status.leader_id
        );
    }
    c.must_write(leader, "still.example.com").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_clusters_ca_cannot_join() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    let leader = c.must_have_leader().await?;
    let foreign = other_ca(c.root(), 4)?;
    let mut node4 = NodeProc::new(4, c.root());
    let mut args = foreign.args();
    args.extend(["--heartbeat-ms".into(), "50".into()]);
    args.extend(["--election-timeout-ms".into(), "300".into()]);
    let addr4 = node4.start(&c.seal_key_file, &args)?;
    let ep = c.endpoints();
    let (ok, out, err) = mrctl(
        &ep,
        &[
            "cluster",
            "add-learner",
            "--id",
            "4",
            "--addr",
            &addr4.to_string(),
            "--no-wait",
        ],
    );
    ensure!(ok, "add-learner --no-wait: {out} {err}");
    let w = c.must_write(leader, "after.example.com").await?;
    c.must_converge(w.log_index).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Node 4 never received a log entry: it is still uninitialized.
    let status = mrouter_proto::v1::cluster_client::ClusterClient::new(
        Endpoint::from_shared(format!("https://{addr4}"))?
            .connect_with_connector(Connector::tls(Arc::new(Arc::new(client_config(
                read_roots(&foreign.ca)?,
                None,
            )?))))
            .await?,
    )
    .status(mrouter_proto::v1::StatusRequest {})
    .await?
    .into_inner();
    ensure!(
        !status.initialized,
        "node 4 joined across cluster CAs: {status:?}"
    );
    // And the cluster says so: node 4 is an unhealthy member.
    let (ok, out, err) = mrctl(&ep, &["cluster", "status"]);
    ensure!(
        !ok && err.contains("node 4"),
        "cluster status names node 4 unhealthy: {out} {err}"
    );
    let (ok, out, err) = mrctl(&ep, &["cluster", "remove", "4", "--yes"]);
    ensure!(ok, "remove 4: {out} {err}");
    node4.kill9();
    Ok(())
}

/// The SHA-256 fingerprint of the certificate `addr` serves.
fn served_fingerprint(addr: SocketAddr) -> Result<String> {
    let shown = s_client(addr, &tls::ca_file(), &[])?;
    let start = shown
        .find("-----BEGIN CERTIFICATE-----")
        .context("a served certificate")?;
    let end = shown[start..]
        .find("-----END CERTIFICATE-----")
        .context("a whole certificate")?
        + start
        + "-----END CERTIFICATE-----".len();
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    use std::io::Write;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(&shown.as_bytes()[start..end])?;
    let out = child.wait_with_output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_node_certificate_is_served_without_a_restart_or_a_new_term() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    let leader = c.must_have_leader().await?;
    let term = c.status(leader).await?.term;
    let before = served_fingerprint(c.addr(1))?;
    let out: PathBuf = c.tls_files(1)?.cert.parent().context("tls dir")?.into();
    mrd_tls(&[
        "node-cert",
        "--ca",
        &tls::ca_dir().display().to_string(),
        "--out",
        &out.display().to_string(),
        "--node-id",
        "1",
        "--san",
        "127.0.0.1",
        "--force",
    ])?;
    let after = eventually(
        Duration::from_secs(10),
        "node 1 serving its new certificate",
        || async {
            let now = served_fingerprint(c.addr(1))?;
            Ok((now != before).then_some(now))
        },
    )
    .await?;
    ensure!(after.contains("Fingerprint"), "{after}");
    let w = c.must_write(1, "rotated.example.com").await?;
    c.must_converge(w.log_index).await?;
    for id in c.running() {
        let status = c.status(id).await?;
        ensure!(
            status.term == term && status.leader_id == Some(leader),
            "node {id}: term {} leader {:?} after the rotation, was {term} / {leader}",
            status.term,
            status.leader_id
        );
    }
    let log = std::fs::read_to_string(&c.nodes[&1].log)?;
    ensure!(log.contains("reloaded"), "node 1 logs the reload");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_a_shared_tls_key_and_warns_when_insecure() -> Result<()> {
    let c = Cluster::new_uninitialized(ClusterOptions::default())?;
    let files = c.tls_files(1)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o644))?;
    }
    let mut node = NodeProc::new(1, c.root());
    let refused = node
        .start(&c.seal_key_file, &files.args())
        .expect_err("a 0644 key");
    let text = format!("{refused:#}");
    ensure!(
        text.contains(&format!("chmod 600 {}", files.key.display())),
        "{text}"
    );

    let mut insecure = NodeProc::new(2, c.root());
    insecure.start(&c.seal_key_file, &["--insecure".into()])?;
    let log = std::fs::read_to_string(&insecure.log)?;
    ensure!(
        log.contains("--insecure") && log.contains("WARN"),
        "a warning at start: {log}"
    );
    insecure.kill9();
    Ok(())
}
