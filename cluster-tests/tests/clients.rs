//! Provisioned mobile clients through `mrctl` on a 3-node cluster: CSR and
//! server-made keys (PEM, PKCS#12, bundle) checked with the `openssl` CLI,
//! states across a CA replacement, bulk re-provisioning, the CRL, paging and
//! bad input.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use cluster_tests::checks::{
    mrctl_fails as must_fail, mrctl_json as json, mrctl_ok as ok, openssl, path_str as s,
    write_file as write,
};
use cluster_tests::{mrctl, Cluster, ClusterOptions};
use serde_json::Value;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .expect("the file must exist")
        .permissions()
        .mode()
        & 0o777
}

/// An ECDSA P-256 key and CSR made by openssl, as a device would.
fn device_csr(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&key),
        "-out",
        s(&csr),
        "-subj",
        &format!("/CN={name}"),
    ])?;
    Ok((key, csr))
}

/// Provisions `id` for `user` with a key made by the cluster, written to
/// `dir/ID.key`; returns the client info.
fn must_provision(ep: &str, dir: &Path, id: &str, user: &str) -> Value {
    let key = dir.join(format!("{id}.key"));
    json(
        ep,
        &[
            "client",
            "provision",
            "--id",
            id,
            "--user",
            user,
            "--key-out",
            s(&key),
        ],
    )["client"]
        .clone()
}

/// The ids a listing returns (every page).
fn ids_in(ep: &str, filter: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["client", "list", "--all"];
    args.extend(filter);
    let v = json(ep, &args);
    v["clients"]
        .as_array()
        .unwrap_or_else(|| panic!("no clients array: {v}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The public key of a certificate, key or CSR, as PEM.
fn public_key(kind: &str, path: &Path) -> Result<String> {
    match kind {
        "cert" => openssl(&["x509", "-pubkey", "-noout", "-in", s(path)]),
        "csr" => openssl(&["req", "-pubkey", "-noout", "-in", s(path)]),
        _ => openssl(&["pkey", "-pubout", "-in", s(path)]),
    }
}

fn must_verify_client_cert(ca: &Path, cert: &Path) -> Result<()> {
    let verified = openssl(&["verify", "-purpose", "sslclient", "-CAfile", s(ca), s(cert)])?;
    ensure!(verified.contains(": OK"), "{verified}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_provisioned_from_csrs_and_server_keys() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let (_, csr) = device_csr(d, "phone")?;

    must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "phone",
            "--user",
            "alice",
            "--csr",
            s(&csr),
        ],
        &["FAILED_PRECONDITION", "mrctl ca generate"],
    );
    ok(
        &ep,
        &["ca", "generate", "--cn", "Test CA", "--key", "ecdsa-p256"],
    );

    // From the device's CSR: the certificate holds the device's key.
    let v = json(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "phone",
            "--user",
            "alice",
            "--device",
            "Pixel 9",
            "--csr",
            s(&csr),
        ],
    );
    ensure!(v["client"]["key_origin"] == "csr", "{v}");
    ensure!(v["client"]["state"] == "provisioned", "{v}");
    ensure!(v["client"]["device"] == "Pixel 9", "{v}");
    ensure!(v["client"]["ca_epoch"].as_u64() == Some(1), "{v}");
    let text = v.to_string();
    ensure!(!text.contains("PRIVATE KEY"), "no key for a CSR: {v}");
    let cert = write(d, "phone.pem", v["cert_pem"].as_str().context("cert_pem")?);
    let ca = write(d, "ca.pem", v["ca_pem"].as_str().context("ca_pem")?);
    must_verify_client_cert(&ca, &cert)?;
    ensure!(
        public_key("cert", &cert)? == public_key("csr", &csr)?,
        "the certificate must carry the CSR's public key"
    );
    let serial = v["client"]["serial"]
        .as_str()
        .context("serial")?
        .to_string();
    let printed = openssl(&["x509", "-noout", "-serial", "-in", s(&cert)])?;
    ensure!(printed.contains(&serial), "{printed} vs {serial}");

    must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "phone",
            "--user",
            "alice",
            "--csr",
            s(&csr),
        ],
        &["ALREADY_EXISTS", "--replace"],
    );
    let replaced = json(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "phone",
            "--user",
            "alice",
            "--csr",
            s(&csr),
            "--replace",
        ],
    );
    ensure!(replaced["client"]["serial"] != serial, "{replaced}");

    // A key made by the cluster, as PKCS#12 (owner-only file) that openssl reads.
    let pw = write(d, "pw", "correct horse\n");
    let p12 = d.join("tablet.p12");
    let v = json(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "tablet",
            "--user",
            "alice",
            "--p12",
            s(&p12),
            "--password-file",
            s(&pw),
        ],
    );
    ensure!(v["client"]["key_origin"] == "server", "{v}");
    ensure!(!v.to_string().contains("correct horse"), "{v}");
    ensure!(mode(&p12) == 0o600, "{:o}", mode(&p12));
    let certs = openssl(&[
        "pkcs12",
        "-in",
        s(&p12),
        "-passin",
        "pass:correct horse",
        "-nokeys",
    ])?;
    ensure!(certs.contains("BEGIN CERTIFICATE"), "{certs}");
    let key = openssl(&[
        "pkcs12",
        "-in",
        s(&p12),
        "-passin",
        "pass:correct horse",
        "-nocerts",
        "-nodes",
    ])?;
    ensure!(key.contains("PRIVATE KEY"), "{key}");

    // Without a CSR the key must go to a file: refused before any request.
    must_fail(
        &ep,
        &["client", "provision", "--id", "nofile", "--user", "bob"],
        &["--key-out FILE"],
    );
    must_fail(&ep, &["client", "show", "nofile"], &["NOT_FOUND"]);

    // A bundle: everything the client needs, the key readable by its owner only.
    ok(
        &ep,
        &[
            "settings",
            "set",
            "--cluster-domain",
            "mr.example.com",
            "--remote-access-fqdn",
            "vpn.example.com",
        ],
    );
    let bundle = d.join("laptop");
    let (out, _) = ok(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "laptop",
            "--user",
            "bob",
            "--key",
            "ecdsa-p384",
            "--bundle",
            s(&bundle),
        ],
    );
    ensure!(
        !out.contains("PRIVATE KEY"),
        "the key is never printed: {out}"
    );
    ensure!(out.contains("client.key"), "{out}");
    let key = bundle.join("client.key");
    ensure!(mode(&key) == 0o600, "{:o}", mode(&key));
    let cert = bundle.join("client.pem");
    must_verify_client_cert(&bundle.join("ca.pem"), &cert)?;
    ensure!(public_key("cert", &cert)? == public_key("key", &key)?);
    let endpoints: Value = serde_json::from_slice(&std::fs::read(bundle.join("endpoints.json"))?)?;
    ensure!(endpoints["client_id"] == "laptop", "{endpoints}");
    ensure!(
        endpoints["remote_access_fqdn"] == "vpn.example.com",
        "{endpoints}"
    );
    ensure!(
        endpoints["cluster_domain"] == "mr.example.com",
        "{endpoints}"
    );
    let shown = json(&ep, &["client", "show", "laptop"]);
    ensure!(shown["key_type"] == "ecdsa-p384", "{shown}");
    // A full bundle directory is not reused.
    must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "laptop2",
            "--user",
            "bob",
            "--bundle",
            s(&bundle),
        ],
        &["is not empty"],
    );

    Ok(())
}

/// The node verified the CSR's signature before checking the key size, and
/// its verifier refuses RSA keys under 2048 bits, so a weak key was reported
/// as a damaged CSR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_csr_key_is_refused_naming_the_minimum() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    ok(
        &ep,
        &["ca", "generate", "--cn", "Test CA", "--key", "ecdsa-p256"],
    );
    // Control: an RSA CSR of the minimum size verifies and is signed.
    let rsa_key = d.join("rsa.key");
    let rsa_csr = d.join("rsa.csr");
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        s(&rsa_key),
        "-out",
        s(&rsa_csr),
        "-subj",
        "/CN=rsa",
    ])?;
    let v = json(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "rsa",
            "--user",
            "bob",
            "--csr",
            s(&rsa_csr),
        ],
    );
    ensure!(v["client"]["key_type"] == "rsa2048", "{v}");
    let weak_key = d.join("weak.key");
    let weak_csr = d.join("weak.csr");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:1024",
        "-out",
        s(&weak_key),
    ])?;
    openssl(&[
        "req",
        "-new",
        "-key",
        s(&weak_key),
        "-out",
        s(&weak_csr),
        "-subj",
        "/CN=weak",
    ])?;
    must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "weak",
            "--user",
            "bob",
            "--csr",
            s(&weak_csr),
        ],
        &["INVALID_ARGUMENT", "2048"],
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_replacement_invalidates_clients_until_they_are_reprovisioned() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    ok(
        &ep,
        &["ca", "generate", "--cn", "First CA", "--key", "ecdsa-p256"],
    );
    for id in ["c1", "c2", "c3"] {
        must_provision(&ep, d, id, "alice");
    }
    let revoked = json(
        &ep,
        &["client", "revoke", "c3", "--reason", "lost", "--yes"],
    );
    ensure!(revoked["client"]["state"] == "revoked", "{revoked}");
    ensure!(revoked["client"]["revoked_reason"] == "lost", "{revoked}");
    // Without a terminal to ask on and without --yes: refused.
    must_fail(&ep, &["client", "revoke", "c1"], &["--yes"]);
    must_fail(
        &ep,
        &["client", "revoke", "c3", "--yes"],
        &["FAILED_PRECONDITION", "already revoked"],
    );

    let report = json(
        &ep,
        &[
            "ca",
            "generate",
            "--cn",
            "Second CA",
            "--key",
            "ecdsa-p256",
            "--dry-run",
        ],
    );
    ensure!(
        report["impact"]["clients_invalidated"].as_u64() == Some(2),
        "{report}"
    );
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
    ensure!(ids_in(&ep, &["--state", "invalidated"]) == set(&["c1", "c2"]));
    ensure!(ids_in(&ep, &["--state", "revoked"]) == set(&["c3"]));
    ensure!(ids_in(&ep, &["--state", "provisioned"]).is_empty());
    ensure!(json(&ep, &["client", "show", "c1"])["state"] == "invalidated");
    must_fail(
        &ep,
        &["client", "reprovision", "c3"],
        &["FAILED_PRECONDITION", "revoked"],
    );

    // A page on which every re-provisioning fails stops the run, non-zero;
    // the clients stay invalidated for the next run.
    let (done, out, err) = mrctl(
        &ep,
        &[
            "client",
            "reprovision",
            "--all-invalidated",
            "--days",
            "4000",
            "-o",
            "json",
        ],
    );
    ensure!(!done && err.contains("stopping"), "{out} {err}");
    let summary: Value = serde_json::from_str(&out)?;
    ensure!(summary["failed"].as_u64() == Some(2), "{summary}");
    ensure!(summary["reprovisioned"].as_u64() == Some(0), "{summary}");
    ensure!(ids_in(&ep, &["--state", "invalidated"]) == set(&["c1", "c2"]));

    let summary = json(&ep, &["client", "reprovision", "--all-invalidated"]);
    ensure!(summary["reprovisioned"].as_u64() == Some(2), "{summary}");
    ensure!(summary["failed"].as_u64() == Some(0), "{summary}");
    ensure!(ids_in(&ep, &["--state", "provisioned"]) == set(&["c1", "c2"]));
    ensure!(ids_in(&ep, &["--state", "invalidated"]).is_empty());
    let (out, _) = ok(&ep, &["client", "reprovision", "--all-invalidated"]);
    ensure!(out.contains("nothing to re-provision"), "{out}");

    // Re-provisioning signs the device's existing key under the new CA.
    let ca = d.join("ca.pem");
    ok(&ep, &["ca", "export", "--out", s(&ca)]);
    let cert = d.join("c2.pem");
    let v = json(
        &ep,
        &[
            "client",
            "reprovision",
            "c2",
            "--days",
            "30",
            "--out",
            s(&cert),
        ],
    );
    ensure!(v["client"]["ca_epoch"].as_u64() == Some(2), "{v}");
    ensure!(v["client"]["days_left"].as_i64() <= Some(30), "{v}");
    must_verify_client_cert(&ca, &cert)?;
    ensure!(public_key("cert", &cert)? == public_key("key", &d.join("c2.key"))?);

    // The CRL is signed by the current CA and lists revocations under it.
    let c1 = json(&ep, &["client", "revoke", "c1", "--yes"]);
    let serial = c1["client"]["serial"]
        .as_str()
        .context("serial")?
        .to_string();
    let old_serial = revoked["client"]["serial"].as_str().context("serial")?;
    let crl = d.join("crl.pem");
    ok(&ep, &["client", "crl", "--out", s(&crl)]);
    let text = openssl(&["crl", "-in", s(&crl), "-noout", "-text", "-CAfile", s(&ca)])?;
    ensure!(text.contains("verify OK"), "{text}");
    ensure!(text.contains(&serial), "the CRL must list {serial}: {text}");
    ensure!(!text.contains(old_serial), "{text}");
    let (pem, _) = ok(&ep, &["client", "crl"]);
    ensure!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
    let der = d.join("crl.der");
    ok(&ep, &["client", "crl", "--der", "--out", s(&der)]);
    let text = openssl(&["crl", "-inform", "DER", "-in", s(&der), "-noout", "-text"])?;
    ensure!(text.contains(&serial), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_listings_page_and_filter_by_user() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    ok(
        &ep,
        &["ca", "generate", "--cn", "Test CA", "--key", "ecdsa-p256"],
    );
    let mut all = BTreeSet::new();
    for i in 0..25 {
        let id = format!("dev{i:02}");
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        must_provision(&ep, dir.path(), &id, user);
        all.insert(id);
    }

    let (out, err) = ok(&ep, &["client", "list", "--limit", "10", "-o", "json"]);
    let first: Value = serde_json::from_str(&out)?;
    ensure!(
        first["clients"].as_array().map(Vec::len) == Some(10),
        "{first}"
    );
    let token = err
        .split("--page-token ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .with_context(|| format!("a next page token on stderr: {err}"))?
        .to_string();
    let second = json(
        &ep,
        &["client", "list", "--limit", "10", "--page-token", &token],
    );
    let ids = |v: &Value| -> BTreeSet<String> {
        v["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    ensure!(ids(&second).len() == 10, "{second}");
    ensure!(ids(&first).is_disjoint(&ids(&second)), "pages overlap");
    // The token is one opaque string, the same in JSON and on the flag.
    ensure!(
        first["next_page_token"] == token.as_str(),
        "{first} vs {token}"
    );

    // A made-up token, or one from another listing, is refused rather than
    // answered with an empty last page; so is a limit above the maximum.
    must_fail(
        &ep,
        &["client", "list", "--page-token", "garbage!"],
        &["INVALID_ARGUMENT", "page_token"],
    );
    must_fail(
        &ep,
        &[
            "client",
            "list",
            "--state",
            "revoked",
            "--page-token",
            &token,
        ],
        &[
            "INVALID_ARGUMENT",
            "page_token does not belong to this listing",
        ],
    );
    {
        use mrouter_proto::v1::clients_client::ClientsClient;
        let mut raw = ClientsClient::new(c.channel(1).await?);
        let err = raw
            .list(mrouter_proto::v1::ListClientsRequest {
                limit: 5000,
                ..Default::default()
            })
            .await
            .expect_err("a limit above the maximum");
        ensure!(err.code() == tonic::Code::InvalidArgument, "{err:?}");
        ensure!(err.message().contains("at most 1000"), "{err:?}");
    }

    ensure!(ids_in(&ep, &["--limit", "10"]) == all);
    ensure!(ids_in(&ep, &["--user", "alice", "--limit", "4"]).len() == 13);
    let (table, _) = ok(&ep, &["client", "list", "--user", "bob", "--limit", "3"]);
    ensure!(table.contains("dev01") && table.contains("bob"), "{table}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_input_is_refused_with_its_code() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    ok(
        &ep,
        &["ca", "generate", "--cn", "Test CA", "--key", "ecdsa-p256"],
    );
    let key = dir.path().join("k.pem");
    must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "a/b",
            "--user",
            "u",
            "--key-out",
            s(&key),
        ],
        &["INVALID_ARGUMENT", "id"],
    );
    ensure!(!key.exists(), "a refused provisioning writes no key file");
    must_fail(
        &ep,
        &["client", "list", "--state", "bogus"],
        &["--state", "provisioned, invalidated, revoked or expired"],
    );
    // A number the API does not define is refused by the node, naming the field.
    {
        use mrouter_proto::v1::clients_client::ClientsClient;
        let err = ClientsClient::new(c.channel(1).await?)
            .list(mrouter_proto::v1::ListClientsRequest {
                state: 42,
                ..Default::default()
            })
            .await
            .expect_err("state 42");
        ensure!(err.code() == tonic::Code::InvalidArgument, "{err:?}");
        ensure!(
            err.message().contains(
                "state 42 is not a known value: use provisioned, invalidated, revoked or expired"
            ),
            "{err:?}"
        );
    }
    must_fail(&ep, &["client", "show", "nobody"], &["NOT_FOUND"]);
    // With -o json the error is JSON too, on stderr, with the same exit code.
    let (ok_, out, err) = mrctl(&ep, &["client", "show", "nobody", "-o", "json"]);
    ensure!(!ok_ && out.is_empty(), "{out}");
    let v: Value =
        serde_json::from_str(err.trim()).with_context(|| format!("JSON error: {err}"))?;
    ensure!(v["error"]["code"] == "NOT_FOUND", "{v}");
    ensure!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nobody") && !m.starts_with("NOT_FOUND")),
        "{v}"
    );
    let (_, _, err) = mrctl(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "a",
            "--user",
            "u",
            "--csr",
            "/nonexistent",
            "-o",
            "json",
        ],
    );
    let v: Value =
        serde_json::from_str(err.trim()).with_context(|| format!("JSON error: {err}"))?;
    ensure!(v["error"]["code"] == "LOCAL", "{v}");
    must_fail(
        &ep,
        &["client", "revoke", "nobody", "--yes"],
        &["NOT_FOUND"],
    );
    must_fail(&ep, &["client", "reprovision", "nobody"], &["NOT_FOUND"]);
    must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "x",
            "--user",
            "u",
            "--key-out",
            s(&key),
            "--days",
            "4000",
        ],
        &["INVALID_ARGUMENT"],
    );
    // An existing key file is refused before the request: nothing provisioned.
    let existing = write(dir.path(), "taken.pem", "keep me");
    must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "y",
            "--user",
            "u",
            "--key-out",
            s(&existing),
        ],
        &["already exists"],
    );
    ensure!(std::fs::read_to_string(&existing)? == "keep me");
    must_fail(&ep, &["client", "show", "y"], &["NOT_FOUND"]);

    // A 5 MB file given as a CSR is refused by name, before it is sent; the
    // node refuses one that is sent anyway with the same clarity.
    let huge = write(dir.path(), "huge.csr", vec![b'A'; 5 << 20]);
    let err = must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "z",
            "--user",
            "u",
            "--csr",
            s(&huge),
        ],
        &["huge.csr", "a CSR is at most 64 KiB"],
    );
    ensure!(!err.contains("decoded message length"), "{err}");
    {
        use mrouter_proto::v1::clients_client::ClientsClient;
        let mut raw = ClientsClient::new(c.channel(1).await?);
        let err = raw
            .provision(mrouter_proto::v1::ProvisionRequest {
                id: "z".into(),
                user: "u".into(),
                csr: vec![b'A'; 5 << 20],
                ..Default::default()
            })
            .await
            .expect_err("a 5 MB CSR");
        ensure!(err.code() == tonic::Code::InvalidArgument, "{err:?}");
        ensure!(err.message().contains("a CSR is at most 64 KiB"), "{err:?}");
    }

    // Bidirectional-text controls would reorder the `client list` table.
    must_fail(
        &ep,
        &[
            "client",
            "provision",
            "--id",
            "w",
            "--user",
            "u",
            "--device",
            "evil\u{202e}gpj.exe",
            "--key-out",
            s(&key),
        ],
        &["INVALID_ARGUMENT", "device"],
    );
    ensure!(!key.exists());
    // A refused long value is echoed cut, not whole.
    let long_id = "x".repeat(10_000);
    let err = must_fail(&ep, &["client", "show", &long_id], &["INVALID_ARGUMENT"]);
    ensure!(err.len() < 1_000, "the refusal echoes {} bytes", err.len());
    Ok(())
}

/// Many provisions at once through every node: each node gathers the ones
/// that arrive together into one Raft entry. Every client lands once; of
/// two requests for one id, exactly one wins; a request sent twice at once
/// is applied once; the nodes agree on the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_provisions_through_every_node_each_land_once() -> Result<()> {
    use mrouter_proto::v1::clients_client::ClientsClient;
    use mrouter_proto::v1::{ClientCountsRequest, ProvisionRequest};

    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    ok(
        &c.endpoints(),
        &["ca", "generate", "--cn", "Test CA", "--key", "ecdsa-p256"],
    );
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)?
        .der()
        .to_vec();
    let mut channels = Vec::new();
    for id in c.running() {
        channels.push(c.channel(id).await?);
    }
    let request = |i: usize, id: String, rid: u8| ProvisionRequest {
        request_id: vec![
            rid,
            (i >> 8) as u8,
            i as u8,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
            7,
        ],
        id,
        user: format!("u{}", i % 4),
        csr: csr.clone(),
        ..Default::default()
    };
    const N: usize = 120;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..N {
        let ch = channels[i % channels.len()].clone();
        let r = request(i, format!("c{i}"), 1);
        calls.spawn(async move { (i, ClientsClient::new(ch).provision(r).await) });
    }
    // Two requests (different request ids) for one new id, on two nodes.
    for (n, rid) in [(0usize, 2u8), (1, 3)] {
        let ch = channels[n].clone();
        let r = request(1000 + n, "contested".into(), rid);
        calls.spawn(async move { (1000 + n, ClientsClient::new(ch).provision(r).await) });
    }
    // One request sent twice at once (same request id), on two nodes.
    for n in [1usize, 2] {
        let ch = channels[n].clone();
        let r = request(2000, "twice".into(), 4);
        calls.spawn(async move { (2000 + n, ClientsClient::new(ch).provision(r).await) });
    }
    let (mut contested, mut twice_serials) = (Vec::new(), BTreeSet::new());
    while let Some(joined) = calls.join_next().await {
        let (i, reply) = joined?;
        match i {
            1000.. if i < 2000 => contested.push(reply.map(|_| ()).map_err(|s| s.code())),
            2000.. => {
                let reply = reply
                    .with_context(|| "the twice-sent request")?
                    .into_inner();
                twice_serials.insert(reply.client.context("client info")?.serial);
            }
            _ => {
                let reply = reply.with_context(|| format!("provisioning c{i}"))?;
                ensure!(reply
                    .get_ref()
                    .client
                    .as_ref()
                    .is_some_and(|c| c.id == format!("c{i}")));
            }
        }
    }
    contested.sort_by_key(|r| r.is_err());
    ensure!(
        contested == vec![Ok(()), Err(tonic::Code::AlreadyExists)],
        "one of two requests for one id must win: {contested:?}"
    );
    ensure!(
        twice_serials.len() == 1,
        "a request sent twice is applied once: {twice_serials:?}"
    );
    let counts = ClientsClient::new(channels[0].clone())
        .counts(ClientCountsRequest { stale: false })
        .await?
        .into_inner();
    let total: u64 = counts.by_epoch.iter().map(|e| e.clients).sum();
    ensure!(total == N as u64 + 2, "{counts:?}");
    let leader = c.must_have_leader().await?;
    c.must_converge(c.status(leader).await?.last_log_index)
        .await?;
    let listed = ids_in(&c.endpoints(), &["--user", "u2"]);
    ensure!(listed.len() == N / 4, "{listed:?}");
    Ok(())
}

/// A request id is an idempotency key for one request: sent again with
/// another CSR, user or client id it is refused, not answered with the
/// first request's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_request_id_with_a_different_request_is_refused() -> Result<()> {
    use mrouter_proto::v1::certificate_authority_client::CertificateAuthorityClient;
    use mrouter_proto::v1::clients_client::ClientsClient;
    use mrouter_proto::v1::settings_client::SettingsClient;
    use mrouter_proto::v1::{GenerateCaRequest, ProvisionRequest, SetSettingsRequest};

    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    ok(
        &c.endpoints(),
        &["ca", "generate", "--cn", "Test CA", "--key", "ecdsa-p256"],
    );
    let csr = |_: u8| -> Result<Vec<u8>> {
        let key = rcgen::KeyPair::generate()?;
        Ok(rcgen::CertificateParams::default()
            .serialize_request(&key)?
            .der()
            .to_vec())
    };
    let first = ProvisionRequest {
        request_id: vec![42; 16],
        id: "reuse".into(),
        user: "alice".into(),
        csr: csr(1)?,
        ..Default::default()
    };
    let mut clients = ClientsClient::new(c.channel(1).await?);
    let applied = clients.provision(first.clone()).await?.into_inner();
    // The same request again is the same answer (a retry).
    let again = clients.provision(first.clone()).await?.into_inner();
    assert_eq!(again.cert_pem, applied.cert_pem);
    for (what, changed) in [
        (
            "another CSR",
            ProvisionRequest {
                csr: csr(2)?,
                ..first.clone()
            },
        ),
        (
            "another user",
            ProvisionRequest {
                user: "mallory".into(),
                ..first.clone()
            },
        ),
        (
            "another client id",
            ProvisionRequest {
                id: "other".into(),
                ..first.clone()
            },
        ),
    ] {
        // Through another node too: the check is replicated state.
        let mut via = ClientsClient::new(c.channel(2).await?);
        let err = via.provision(changed).await.expect_err(what);
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{what}: {err:?}");
        assert!(
            err.message().contains("was used for a different request"),
            "{what}: {}",
            err.message()
        );
    }
    // Nothing changed: the client is as first provisioned, and its
    // certificate can be fetched again (`client show --cert`).
    let shown = json(&c.endpoints(), &["client", "show", "reuse"]);
    assert_eq!(shown["user"], "alice", "{shown}");
    assert_eq!(shown["cert_pem"], applied.cert_pem.as_str(), "{shown}");
    let (pem, _) = ok(&c.endpoints(), &["client", "show", "reuse", "--cert"]);
    assert_eq!(pem, applied.cert_pem);
    let (_, _, err) = cluster_tests::mrctl(&c.endpoints(), &["client", "show", "other"]);
    assert!(
        err.contains("NOT_FOUND") || err.contains("not found"),
        "{err}"
    );

    // Settings too (checked where the write applies) ...
    let mut settings = SettingsClient::new(c.channel(1).await?);
    let set = SetSettingsRequest {
        request_id: vec![43; 16],
        cluster_domain: Some("one.example".into()),
        ..Default::default()
    };
    settings.set(set.clone()).await?;
    settings.set(set.clone()).await?;
    let err = settings
        .set(SetSettingsRequest {
            cluster_domain: Some("two.example".into()),
            ..set
        })
        .await
        .expect_err("another domain under the same id");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");

    // ... and a CA install (checked before any key is generated).
    let mut ca = CertificateAuthorityClient::new(c.channel(3).await?);
    let install = GenerateCaRequest {
        request_id: vec![44; 16],
        key_type: mrouter_proto::v1::KeyType::EcdsaP256.into(),
        confirm_invalidate_clients: true,
        ..Default::default()
    };
    let epoch = ca.generate(install.clone()).await?.into_inner().epoch;
    assert_eq!(
        ca.generate(install.clone()).await?.into_inner().epoch,
        epoch
    );
    let err = ca
        .generate(GenerateCaRequest {
            key_type: mrouter_proto::v1::KeyType::EcdsaP384.into(),
            ..install
        })
        .await
        .expect_err("another key type under the same id");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    Ok(())
}

/// Regression (issue 15, item 1): a linearizable `client show` answered by a
/// lagging node paired the leader's record with the node's own, older CA
/// epoch, and showed a client invalidated by a CA replacement as
/// provisioned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_show_on_a_lagging_node_sees_the_ca_replacement() -> Result<()> {
    let mut c = Cluster::start(ClusterOptions::default()).await?;
    let leader = c.must_have_leader().await?;
    let dir = tempfile::tempdir()?;
    ok(
        &c.endpoints(),
        &["ca", "generate", "--cn", "First CA", "--key", "ecdsa-p256"],
    );
    must_provision(&c.endpoints(), dir.path(), "lagging", "u");
    let follower = c
        .running()
        .into_iter()
        .find(|id| *id != leader)
        .context("a follower")?;
    // Connected before the pause, so the first question after the resume
    // is asked within a millisecond, before the follower can catch up.
    let mut at_follower =
        mrouter_proto::v1::clients_client::ClientsClient::new(c.channel(follower).await?);
    c.pause(follower);
    // Entries for the follower to catch up on after its resume, so that it
    // is still applying them when it is asked (a wider window than one
    // entry gives; a partition would make it certain).
    let mut settings =
        mrouter_proto::v1::settings_client::SettingsClient::new(c.channel(leader).await?);
    for i in 0..300 {
        settings
            .set(mrouter_proto::v1::SetSettingsRequest {
                cluster_domain: Some(format!("d{i}.example")),
                ..Default::default()
            })
            .await?;
    }
    let at_leader = c.addr(leader).to_string();
    ok(
        &at_leader,
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
    c.resume(follower);
    // At once, through the follower alone, and again while it catches up:
    // every linearizable answer already knows the replacement.
    for attempt in 0..20 {
        let shown = at_follower
            .show(mrouter_proto::v1::ShowClientRequest {
                id: "lagging".into(),
                stale: false,
            })
            .await?
            .into_inner();
        ensure!(
            shown.state == mrouter_proto::v1::ClientState::Invalidated as i32,
            "answer {attempt} after the resume: state {:?}",
            shown.state
        );
    }
    let shown = json(
        &c.addr(follower).to_string(),
        &["client", "show", "lagging"],
    );
    ensure!(shown["state"] == "invalidated", "{shown}");
    Ok(())
}
