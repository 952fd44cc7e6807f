//! The router's listeners with real clients (`curl`, `openssl s_client`):
//! mutual TLS against replicated state at every handshake, TLS 1.3 first and
//! 1.2 as the floor, and the virtual listeners following the leader.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use cluster_tests::checks::{mrctl_ok, path_str as s};
use cluster_tests::fixtures::TestCa;
use cluster_tests::{eventually, Cluster, ClusterOptions};

/// `mrctl` must succeed; returns stdout.
fn ok(ep: &str, args: &[&str]) -> String {
    mrctl_ok(ep, args).0
}

/// A client's certificate and key files.
struct ClientFiles {
    cert: PathBuf,
    key: PathBuf,
}

fn provision(ep: &str, dir: &Path, id: &str) -> ClientFiles {
    let bundle = dir.join(id);
    ok(
        ep,
        &[
            "client",
            "provision",
            "--id",
            id,
            "--user",
            "tester",
            "--bundle",
            s(&bundle),
        ],
    );
    ClientFiles {
        cert: bundle.join("client.pem"),
        key: bundle.join("client.key"),
    }
}

/// `curl` over mutual TLS; returns the body on success, `None` when the
/// connection was refused (curl failed).
fn curl(addr: SocketAddr, path: &str, ca: &Path, client: Option<&ClientFiles>) -> Option<String> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "--max-time", "5", "--cacert", s(ca)]);
    if let Some(c) = client {
        cmd.args(["--cert", s(&c.cert), "--key", s(&c.key)]);
    }
    cmd.arg(format!("https://{addr}{path}"));
    let out = cmd.output().expect("curl must run");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `openssl s_client` with `version` (e.g. `-tls1_3`); returns its output
/// and whether the handshake completed.
fn s_client(addr: SocketAddr, version: &str, ca: &Path, client: &ClientFiles) -> (bool, String) {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            version,
            "-CAfile",
            s(ca),
        ])
        .args([
            "-cert",
            s(&client.cert),
            "-key",
            s(&client.key),
            "-verify_return_error",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl must run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done = text.contains("Verify return code: 0 (ok)") && !text.contains("alert");
    (done, text)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_clients_and_only_they_get_in_everywhere() -> Result<()> {
    let (vl, vr) = (free_port(), free_port());
    let mut c = Cluster::start(ClusterOptions {
        listeners: true,
        virtual_ports: Some((vl, vr)),
        ..Default::default()
    })
    .await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    // A loopback address of its own stands in for the virtual address.
    let vip = format!(
        "127.0.{}.{}",
        std::process::id() % 200 + 20,
        free_port() % 200 + 20
    );
    ok(
        &ep,
        &[
            "settings",
            "set",
            "--cluster-domain",
            "mr.test",
            "--virtual-address",
            &vip,
            "--mode",
            "clustered",
        ],
    );
    ok(
        &ep,
        &[
            "ca",
            "generate",
            "--cn",
            "Listener CA",
            "--key",
            "ecdsa-p256",
        ],
    );
    for id in ["1", "2", "3"] {
        for slot in ["local", "remote"] {
            ok(
                &ep,
                &[
                    "cert",
                    "generate",
                    "--slot",
                    slot,
                    "--node",
                    id,
                    "--cn",
                    "router.mr.test",
                    "--key",
                    "ecdsa-p256",
                    "--activate",
                ],
            );
        }
    }
    for slot in ["local-virtual", "remote-virtual"] {
        ok(
            &ep,
            &[
                "cert",
                "generate",
                "--slot",
                slot,
                "--cn",
                "mr.test",
                "--key",
                "ecdsa-p256",
                "--activate",
            ],
        );
    }
    let ca = dir.path().join("ca.pem");
    ok(&ep, &["ca", "export", "--out", s(&ca)]);
    let alice = provision(&ep, dir.path(), "alice");
    let bob = provision(&ep, dir.path(), "bob");

    let local1 = c
        .node(1)
        .listener("local")
        .context("node 1 local listener")?;
    let remote2 = c
        .node(2)
        .listener("remote")
        .context("node 2 remote listener")?;
    // The bundle tells the client where to connect: every node, and the VIP.
    let endpoints = std::fs::read_to_string(dir.path().join("alice").join("endpoints.json"))?;
    ensure!(endpoints.contains(&local1.to_string()), "{endpoints}");
    ensure!(endpoints.contains(&remote2.to_string()), "{endpoints}");
    ensure!(endpoints.contains(&format!("{vip}:{vl}")), "{endpoints}");
    // Provisioned: in, and the session names the client, node and slot.
    let body = eventually(
        Duration::from_secs(10),
        "node 1 to apply the setup",
        || async { Ok(curl(local1, "/v1/session", &ca, Some(&alice))) },
    )
    .await?;
    ensure!(body.contains("\"client_id\":\"alice\""), "{body}");
    ensure!(
        body.contains("\"node_id\":1") && body.contains("\"slot\":\"local\""),
        "{body}"
    );
    let body = eventually(
        Duration::from_secs(10),
        "node 2 to apply the setup",
        || async { Ok(curl(remote2, "/v1/session", &ca, Some(&bob))) },
    )
    .await?;
    ensure!(
        body.contains("\"slot\":\"remote\"") && body.contains("TLSv1_3"),
        "{body}"
    );
    ensure!(
        curl(local1, "/crl.pem", &ca, Some(&alice)).is_some_and(|b| b.contains("BEGIN X509 CRL"))
    );

    // No certificate, or one from another CA: refused at the handshake.
    ensure!(
        curl(local1, "/healthz", &ca, None).is_none(),
        "no client certificate must be refused"
    );
    let other = TestCa::root("Other CA").leaf(&["alice"], -1, 30);
    let stranger = ClientFiles {
        cert: dir.path().join("stranger.pem"),
        key: dir.path().join("stranger.key"),
    };
    std::fs::write(&stranger.cert, &other.cert_pem)?;
    std::fs::write(&stranger.key, &other.key_pem)?;
    ensure!(curl(local1, "/v1/session", &ca, Some(&stranger)).is_none());

    // TLS 1.3 is negotiated; TLS 1.1 is refused.
    let (done, text) = s_client(local1, "-tls1_3", &ca, &alice);
    ensure!(done && text.contains("TLSv1.3"), "{text}");
    // The certificate request names our CA, so clients that pick a
    // certificate by issuer pick ours.
    let names = text
        .split("Acceptable client certificate CA names")
        .nth(1)
        .unwrap_or_default();
    ensure!(
        names
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("CN") && l.contains("Listener CA")),
        "the certificate request must name the CA: {text}"
    );
    let (done, text) = s_client(local1, "-tls1_1", &ca, &alice);
    ensure!(!done, "TLS 1.1 must be refused: {text}");

    // A revocation is enforced by every node at the next handshake.
    ok(
        &ep,
        &["client", "revoke", "bob", "--yes", "--reason", "lost"],
    );
    eventually(Duration::from_secs(10), "bob to be refused", || async {
        Ok(curl(remote2, "/v1/session", &ca, Some(&bob))
            .is_none()
            .then_some(()))
    })
    .await?;
    ensure!(curl(remote2, "/v1/session", &ca, Some(&alice)).is_some());

    // The virtual listeners are on the leader; after it is killed, the new
    // leader serves the same certificate and the client still gets in.
    let vaddr: SocketAddr = format!("{vip}:{vl}").parse()?;
    let first = eventually(Duration::from_secs(10), "the virtual listener", || async {
        Ok(curl(vaddr, "/v1/session", &ca, Some(&alice)))
    })
    .await?;
    ensure!(first.contains("\"slot\":\"local-virtual\""), "{first}");
    let leader = c.must_have_leader().await?;
    ensure!(first.contains(&format!("\"node_id\":{leader}")), "{first}");
    c.kill(leader);
    let after = eventually(
        Duration::from_secs(10),
        "the virtual listener to move",
        || async {
            Ok(curl(vaddr, "/v1/session", &ca, Some(&alice))
                .filter(|b| !b.contains(&format!("\"node_id\":{leader}"))))
        },
    )
    .await?;
    ensure!(after.contains("\"slot\":\"local-virtual\""), "{after}");

    // A CA replacement invalidates alice until she is re-provisioned (same key).
    let ep = c.endpoints();
    ok(
        &ep,
        &[
            "ca",
            "generate",
            "--cn",
            "Second CA",
            "--key",
            "ecdsa-p256",
            "--yes",
        ],
    );
    let ca2 = dir.path().join("ca2.pem");
    ok(&ep, &["ca", "export", "--out", s(&ca2)]);
    let running: Vec<u64> = c.running();
    let node = running[0];
    let addr = c.node(node).listener("local").context("listener")?;
    ok(
        &ep,
        &[
            "cert",
            "generate",
            "--slot",
            "local",
            "--node",
            &node.to_string(),
            "--cn",
            "router.mr.test",
            "--key",
            "ecdsa-p256",
            "--activate",
        ],
    );
    eventually(Duration::from_secs(10), "alice to be refused", || async {
        Ok(curl(addr, "/v1/session", &ca2, Some(&alice))
            .is_none()
            .then_some(()))
    })
    .await?;
    let reissued = dir.path().join("alice2.pem");
    ok(
        &ep,
        &["client", "reprovision", "alice", "--out", s(&reissued)],
    );
    let alice2 = ClientFiles {
        cert: reissued,
        key: alice.key.clone(),
    };
    eventually(
        Duration::from_secs(10),
        "re-provisioned alice to get in",
        || async { Ok(curl(addr, "/v1/session", &ca2, Some(&alice2))) },
    )
    .await?;
    Ok(())
}

/// The serial of the certificate a new handshake with `addr` is served.
fn served_serial(addr: SocketAddr, ca: &Path, client: &ClientFiles) -> Result<String> {
    let (done, text) = s_client(addr, "-tls1_3", ca, client);
    ensure!(done, "{text}");
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .context("no certificate shown")?;
    let end = text
        .find("-----END CERTIFICATE-----")
        .context("no certificate end")?
        + 25;
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    use std::io::Write;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(&text.as_bytes()[begin..end])?;
    let out = child.wait_with_output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_swaps_the_certificate_without_dropping_connections() -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut c = Cluster::start(ClusterOptions {
        listeners: true,
        ..Default::default()
    })
    .await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    ok(
        &ep,
        &["ca", "generate", "--cn", "Swap CA", "--key", "ecdsa-p256"],
    );
    let generate = |ep: &str| {
        ok(
            ep,
            &[
                "cert",
                "generate",
                "--slot",
                "local",
                "--node",
                "1",
                "--cn",
                "n1.mr.test",
                "--key",
                "ecdsa-p256",
                "--activate",
                "-o",
                "json",
            ],
        )
    };
    generate(&ep);
    let ca = dir.path().join("ca.pem");
    ok(&ep, &["ca", "export", "--out", s(&ca)]);
    let alice = provision(&ep, dir.path(), "alice");
    let addr = c.node(1).listener("local").context("listener")?;
    eventually(
        Duration::from_secs(10),
        "node 1 to apply the setup",
        || async { Ok(curl(addr, "/healthz", &ca, Some(&alice))) },
    )
    .await?;
    let before = served_serial(addr, &ca, &alice)?;

    // One connection, kept open across the activation.
    let mut conn = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &addr.to_string(),
            "-CAfile",
            s(&ca),
        ])
        .args(["-cert", s(&alice.cert), "-key", s(&alice.key)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut input = conn.stdin.take().context("stdin")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let output = conn.stdout.take().context("stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut ask = |what: &str| -> Result<()> {
        input.write_all(b"GET /v1/session HTTP/1.1\r\nHost: router\r\n\r\n")?;
        input.flush()?;
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(10))
                .with_context(|| format!("no answer {what}"))?;
            if line.contains("\"client_id\":\"alice\"") {
                return Ok(());
            }
        }
    };
    ask("before the activation")?;
    let reply = generate(&ep);
    ask("on the same connection after the activation")?;
    drop(input);
    let _ = conn.kill();

    let after = served_serial(addr, &ca, &alice)?;
    ensure!(
        after != before,
        "a new handshake must get the new certificate"
    );
    ensure!(
        reply.contains(&after),
        "the new handshake serves the activated certificate ({after}): {reply}"
    );
    Ok(())
}

/// Lines of every node's log that mention the virtual listeners.
fn virtual_log_lines(dev: &cluster_tests::DevCluster) -> usize {
    (1..=3)
        .map(|id| {
            std::fs::read_to_string(dev.node_log(id))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("virtual listeners"))
                .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_address_not_on_this_host_warns_once_and_does_not_flood_the_log() -> Result<()> {
    let dev = cluster_tests::DevCluster::start()?;
    let ep = dev.endpoints();
    let before = virtual_log_lines(&dev);
    // 192.0.2.1 (TEST-NET-1) is on no interface of this host.
    let (_, err) = mrctl_ok(&ep, &["settings", "set", "--virtual-address", "192.0.2.1"]);
    assert!(
        err.contains("cannot open the virtual listeners on 192.0.2.1")
            && err.contains("retries with backoff"),
        "settings set must warn that the leader cannot bind: {err}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lines = virtual_log_lines(&dev) - before;
    // Old code: a warning every 20 ms (about 150 here).
    assert!(
        lines <= 2,
        "{lines} log lines about the virtual listeners in 3 s"
    );

    // A bindable address opens at once and the reply carries no warning.
    let (_, err) = mrctl_ok(
        &ep,
        &["settings", "set", "--virtual-address", "127.0.0.100"],
    );
    assert!(!err.contains("cannot open"), "{err}");
    eventually(
        Duration::from_secs(10),
        "the virtual listeners open",
        || async {
            let opened = (1..=3).any(|id| {
                std::fs::read_to_string(dev.node_log(id))
                    .unwrap_or_default()
                    .contains("opened the virtual listeners")
            });
            Ok(opened.then_some(()))
        },
    )
    .await?;
    Ok(())
}

/// Every file and directory `mrd dev` and its nodes create is owner-only:
/// data dirs 0700, logs, database files and snapshots 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mrd_dev_files_are_readable_by_their_owner_alone() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // mrd dev's own cluster CA and node certificates, as on a fresh machine.
    let dev = cluster_tests::DevCluster::start_own_ca()?;
    let ca = dev.ca_file().display().to_string();
    let (done, out, err) =
        cluster_tests::mrctl_with_ca(&dev.endpoints(), &ca, &["snapshot", "trigger"]);
    ensure!(done, "snapshot trigger: {out} {err}");
    let mut seen = 0;
    let mut stack = vec![dev.dir.clone()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            ensure!(mode & 0o077 == 0, "{} is {mode:o}", path.display());
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        } else if meta.is_file() {
            // Certificates are public (0644, as `mrd tls` writes them);
            // everything else is the owner's alone.
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let public =
                text.starts_with("-----BEGIN CERTIFICATE-----") && !text.contains("PRIVATE KEY");
            if !public {
                ensure!(mode & 0o077 == 0, "{} is {mode:o}", path.display());
            }
            seen += 1;
        }
    }
    ensure!(seen > 10, "only {seen} files under {}", dev.dir.display());
    Ok(())
}
