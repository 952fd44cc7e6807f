//! The certificate store through `mrctl` on a 3-node cluster: the CA, the four
//! router certificates, CSRs, import and activation, replication to every
//! node, interoperability with the `openssl` CLI, and no private key at rest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use cluster_tests::checks::{
    mrctl_fails as must_fail, mrctl_json as json, mrctl_ok as ok, openssl, path_str as s,
    write_file as write,
};
use cluster_tests::fixtures::TestCa;
use cluster_tests::{eventually, Cluster, ClusterOptions};
use serde_json::Value;

/// The slot as node `id` has applied it (stale read: no leader involved).
fn slot_on(c: &Cluster, id: u64, slot: &str, node: &str) -> Value {
    json(
        &c.addr(id).to_string(),
        &["cert", "show", "--slot", slot, "--node", node, "--stale"],
    )
}

async fn must_see_everywhere(
    c: &Cluster,
    slot: &str,
    node: &str,
    state: &str,
    fingerprint: &str,
) -> Result<()> {
    for id in c.running() {
        eventually(
            Duration::from_secs(10),
            "the slot to replicate",
            || async move {
                let v = slot_on(c, id, slot, node);
                Ok((v[state]["fingerprint_sha256"].as_str() == Some(fingerprint)).then_some(()))
            },
        )
        .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_certificates_are_generated_activated_and_replicated() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;

    // No factory CA: signing fails with the fix named; CSRs still work.
    must_fail(
        &ep,
        &["cert", "generate", "--slot", "local", "--cn", "n1.example.com"],
        &[
            "FAILED_PRECONDITION",
            "no certificate authority — generate or import one (mrctl ca generate | mrctl ca import)",
        ],
    );
    let csr = dir.path().join("remote2.csr");
    ok(
        &ep,
        &[
            "cert",
            "csr",
            "--slot",
            "remote",
            "--node",
            "2",
            "--cn",
            "remote.example.com",
            "--key",
            "ecdsa-p256",
            "--san",
            "dns:*.example.com",
            "--out",
            s(&csr),
        ],
    );
    openssl(&["req", "-verify", "-noout", "-in", s(&csr)])?;
    let text = openssl(&["req", "-noout", "-text", "-in", s(&csr)])?;
    ensure!(
        text.contains("DNS:*.example.com"),
        "CSR lacks the SAN: {text}"
    );
    let v = slot_on(&c, 3, "remote", "2");
    ensure!(v["csr"]["subject"]
        .as_str()
        .is_some_and(|x| x.contains("remote.example.com")));

    ok(
        &ep,
        &[
            "ca",
            "generate",
            "--cn",
            "Example Mobility CA",
            "--org",
            "Example",
            "--key",
            "ecdsa-p256",
        ],
    );
    let (_, err) = ok(
        &ep,
        &[
            "cert",
            "generate",
            "--slot",
            "local",
            "--node",
            "1",
            "--cn",
            "n1.example.com",
            "--key",
            "ecdsa-p256",
            "--state",
            "California",
            "--san",
            "dns:*.example.com",
        ],
    );
    ensure!(
        err.contains("pending"),
        "generate should say the certificate is pending: {err}"
    );
    let v = slot_on(&c, 1, "local", "1");
    let fp = v["pending"]["fingerprint_sha256"]
        .as_str()
        .context("a pending certificate")?
        .to_string();
    ensure!(
        v["active"].is_null(),
        "nothing active before activation: {v}"
    );
    ensure!(
        v["last_generated"]
            .as_str()
            .is_some_and(|t| t.ends_with("Z")),
        "{v}"
    );

    ok(&ep, &["cert", "activate", "--slot", "local", "--node", "1"]);
    must_see_everywhere(&c, "local", "1", "active", &fp).await?;

    // Exported chains verify with openssl against the exported CA.
    let ca = dir.path().join("ca.pem");
    let chain = dir.path().join("chain.pem");
    ok(&ep, &["ca", "export", "--out", s(&ca)]);
    ok(
        &ep,
        &[
            "cert",
            "export",
            "--slot",
            "local",
            "--node",
            "1",
            "--out",
            s(&chain),
        ],
    );
    let exported = std::fs::read_to_string(&chain)?;
    ensure!(
        !exported.contains("PRIVATE KEY"),
        "export without --include-key has no key"
    );
    let verified = openssl(&[
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        s(&ca),
        s(&chain),
    ])?;
    ensure!(verified.contains(": OK"), "{verified}");
    let text = openssl(&["x509", "-noout", "-text", "-in", s(&chain)])?;
    for want in [
        "TLS Web Server Authentication",
        "DNS:n1.example.com",
        "DNS:*.example.com",
        "IP Address:127.0.0.1",
        "Authority Key Identifier",
        "Subject Key Identifier",
    ] {
        ensure!(text.contains(want), "certificate lacks {want}: {text}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_the_ca_reports_its_impact_and_needs_confirmation() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    ok(
        &ep,
        &["ca", "generate", "--cn", "First CA", "--key", "ecdsa-p256"],
    );
    ok(
        &ep,
        &[
            "cert",
            "generate",
            "--slot",
            "remote",
            "--node",
            "2",
            "--cn",
            "r2.example.com",
            "--key",
            "ecdsa-p256",
            "--activate",
        ],
    );
    let report = json(&ep, &["ca", "generate", "--cn", "Second CA", "--dry-run"]);
    ensure!(report["dry_run"] == true, "{report}");
    let signed = report["impact"]["router_certificates_signed"].to_string();
    ensure!(signed.contains("remote of node 2"), "{report}");
    ensure!(
        report["impact"]["clients_invalidated"].as_u64() == Some(0),
        "{report}"
    );
    ensure!(json(&ep, &["ca", "show"])["ca"]["subject"]
        .as_str()
        .is_some_and(|s| s.contains("First CA")));

    // Without a terminal to ask on and without --yes: refused, nothing changed.
    let err = must_fail(&ep, &["ca", "generate", "--cn", "Second CA"], &["--yes"]);
    ensure!(
        err.contains("ALL PROVISIONED CLIENTS WILL STOP WORKING"),
        "{err}"
    );
    ensure!(json(&ep, &["ca", "show"])["epoch"].as_u64() == Some(1));

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
    let shown = json(&ep, &["ca", "show"]);
    ensure!(shown["epoch"].as_u64() == Some(2), "{shown}");
    ensure!(shown["ca"]["subject"]
        .as_str()
        .is_some_and(|s| s.contains("Second CA")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_certificate_must_name_the_virtual_address() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    ok(
        &ep,
        &[
            "settings",
            "set",
            "--cluster-domain",
            "mr.example.com",
            "--virtual-address",
            "10.9.8.7",
            "--mode",
            "clustered",
        ],
    );
    ok(&ep, &["ca", "generate", "--key", "ecdsa-p256"]);
    ok(
        &ep,
        &[
            "cert",
            "generate",
            "--slot",
            "local-virtual",
            "--cn",
            "other.example.org",
            "--no-default-sans",
            "--key",
            "ecdsa-p256",
        ],
    );
    must_fail(
        &ep,
        &["cert", "activate", "--slot", "local-virtual"],
        &["FAILED_PRECONDITION", "10.9.8.7, mr.example.com"],
    );
    let v = json(&ep, &["cert", "show", "--slot", "local-virtual"]);
    ensure!(
        v["active"].is_null(),
        "refused activation changes nothing: {v}"
    );
    let defaults = v["default_sans"].to_string();
    ensure!(defaults.contains("ip:10.9.8.7") && defaults.contains("dns:mr.example.com"));

    ok(
        &ep,
        &[
            "cert",
            "generate",
            "--slot",
            "local-virtual",
            "--cn",
            "mr.example.com",
            "--key",
            "ecdsa-p256",
            "--activate",
        ],
    );
    let v = json(&ep, &["cert", "show", "--slot", "local-virtual"]);
    let fp = v["active"]["fingerprint_sha256"]
        .as_str()
        .context("active")?;
    // One per cluster: every node holds the same one.
    must_see_everywhere(&c, "local-virtual", "0", "active", fp).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_from_another_ca_import_with_their_chain() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    let root = TestCa::root("Public Root");
    let inter = root.intermediate("Public Issuing CA");
    let leaf = inter.leaf(&["n2.example.com", "127.0.0.1"], -1, 90);
    // Any order: chain, key, leaf.
    let bundle = write(
        dir.path(),
        "bundle.pem",
        format!(
            "{}{}{}{}",
            root.cert_pem, leaf.key_pem, inter.cert_pem, leaf.cert_pem
        ),
    );
    ok(
        &ep,
        &[
            "cert",
            "import",
            "--slot",
            "local",
            "--node",
            "2",
            s(&bundle),
            "--activate",
        ],
    );
    let v = json(&ep, &["cert", "show", "--slot", "local", "--node", "2"]);
    ensure!(v["active"]["origin"] == "imported", "{v}");
    ensure!(v["active"]["issuer"]
        .as_str()
        .is_some_and(|i| i.contains("Public Issuing CA")));
    let chain = dir.path().join("chain.pem");
    let root_file = write(dir.path(), "root.pem", &root.cert_pem);
    ok(
        &ep,
        &[
            "cert",
            "export",
            "--slot",
            "local",
            "--node",
            "2",
            "--out",
            s(&chain),
        ],
    );
    let verified = openssl(&[
        "verify",
        "-CAfile",
        s(&root_file),
        "-untrusted",
        s(&chain),
        s(&chain),
    ])?;
    ensure!(verified.contains(": OK"), "{verified}");

    // A certificate for the CSR the slot keeps: the bundle has no key.
    let csr = dir.path().join("remote1.csr");
    ok(
        &ep,
        &[
            "cert",
            "csr",
            "--slot",
            "remote",
            "--node",
            "1",
            "--cn",
            "r1.example.com",
            "--key",
            "rsa2048",
            "--out",
            s(&csr),
        ],
    );
    let signed = dir.path().join("signed.pem");
    let inter_cert = write(dir.path(), "inter.pem", &inter.cert_pem);
    let inter_key = write(dir.path(), "inter.key", &inter.key_pem);
    let ext = write(
        dir.path(),
        "ext.cnf",
        "subjectAltName=DNS:r1.example.com\nextendedKeyUsage=serverAuth\n",
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&inter_cert),
        "-CAkey",
        s(&inter_key),
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        s(&ext),
        "-out",
        s(&signed),
    ])?;
    let (_, err) = ok(
        &ep,
        &[
            "cert",
            "import",
            "--slot",
            "remote",
            "--node",
            "1",
            s(&signed),
        ],
    );
    // The intermediate and root were not sent: accepted, with the gap named.
    ensure!(
        err.contains("incomplete chain") || err.contains("not in the bundle"),
        "{err}"
    );
    let v = json(&ep, &["cert", "show", "--slot", "remote", "--node", "1"]);
    ensure!(v["pending"]["key_type"] == "rsa2048", "{v}");
    Ok(())
}

/// Every byte under `dir`, file by file.
fn files_under(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
}

/// The encodings a stored key could take: raw DER, its JSON byte-array form
/// (how records encode bytes), hex and base64-ish PEM body lines.
/// The forms 24 bytes at `offset` of `der` take wherever a record could hold
/// them: raw, a JSON array of numbers, hex, and a slice of the base64 of the
/// whole value (how records store byte fields; `offset` is a multiple of 3,
/// so the slice lines up).
fn encodings(der: &[u8], offset: usize) -> Vec<Vec<u8>> {
    use base64::Engine;
    let window = &der[offset..offset + 24];
    let json_window = window
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let at = offset / 3 * 4;
    vec![
        window.to_vec(),
        json_window.into_bytes(),
        hex::encode(window).into_bytes(),
        b64.as_bytes()[at..at + 32].to_vec(),
    ]
}

/// The forms of a few 24-byte windows of `key` that hold private bytes only:
/// a PKCS#8 key also carries its public key, which certificates and CSRs
/// rightly store in the clear, so windows found in `public` are skipped.
fn private_needles(key: &[u8], public: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let offsets: Vec<usize> = (0..key.len().saturating_sub(24))
        .step_by(12)
        .filter(|o| !public.iter().any(|p| contains(p, &key[*o..*o + 24])))
        .collect();
    let step = (offsets.len() / 4).max(1);
    offsets
        .into_iter()
        .step_by(step)
        .flat_map(|o| encodings(key, o))
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn pem_der(text: &str, label: &str) -> Vec<u8> {
    pem::parse_many(text)
        .expect("exported PEM must parse")
        .into_iter()
        .find(|p| p.tag() == label)
        .unwrap_or_else(|| panic!("no {label} block"))
        .into_contents()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_private_key_rests_unsealed_in_data_dirs_or_snapshots() -> Result<()> {
    let mut c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let ep = c.endpoints();
    let dir = tempfile::tempdir()?;
    ok(
        &ep,
        &["ca", "generate", "--cn", "Sealed CA", "--key", "rsa2048"],
    );
    ok(
        &ep,
        &[
            "cert",
            "generate",
            "--slot",
            "local",
            "--node",
            "1",
            "--cn",
            "n1.example.com",
            "--key",
            "ecdsa-p256",
            "--activate",
        ],
    );
    // A CSR's key: sign the CSR with the cluster CA by hand (openssl), import
    // the result, and export it with its key to learn the key's bytes.
    let csr = dir.path().join("remote2.csr");
    ok(
        &ep,
        &[
            "cert",
            "csr",
            "--slot",
            "remote",
            "--node",
            "2",
            "--cn",
            "r2.example.com",
            "--key",
            "ecdsa-p384",
            "--out",
            s(&csr),
        ],
    );
    // A key goes to a terminal or pipe only with --force; to --out it is 0600.
    must_fail(
        &ep,
        &["ca", "export", "--include-key"],
        &["--out FILE", "--force"],
    );
    let key_file = dir.path().join("ca-key-out.pem");
    ok(
        &ep,
        &["ca", "export", "--include-key", "--out", s(&key_file)],
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "an exported key file is {mode:o}");
    }
    let ca_pem = ok(&ep, &["ca", "export", "--include-key", "--force"]).0;
    let ca_file = dir.path().join("ca-with-key.pem");
    std::fs::write(&ca_file, &ca_pem)?;
    let signed = dir.path().join("remote2.pem");
    let ext = dir.path().join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:r2.example.com\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&ca_file),
        "-CAkey",
        s(&ca_file),
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        s(&ext),
        "-out",
        s(&signed),
    ])?;
    ok(
        &ep,
        &[
            "cert",
            "import",
            "--slot",
            "remote",
            "--node",
            "2",
            s(&signed),
        ],
    );
    std::fs::remove_file(&ca_file)?;
    let csr_pem = ok(
        &ep,
        &[
            "cert",
            "export",
            "--slot",
            "remote",
            "--node",
            "2",
            "--pending",
            "--include-key",
            "--force",
        ],
    )
    .0;
    let leaf_pem = ok(
        &ep,
        &[
            "cert",
            "export",
            "--slot",
            "local",
            "--node",
            "1",
            "--include-key",
            "--force",
        ],
    )
    .0;
    ensure!(leaf_pem.contains("PRIVATE KEY") && ca_pem.contains("PRIVATE KEY"));
    let keys = [
        pem_der(&leaf_pem, "PRIVATE KEY"),
        pem_der(&ca_pem, "PRIVATE KEY"),
        pem_der(&csr_pem, "PRIVATE KEY"),
    ];
    let cert = pem_der(&leaf_pem, "CERTIFICATE");

    ok(&ep, &["snapshot", "trigger"]);
    let backup = dir.path().join("backup.snap");
    ok(&ep, &["snapshot", "save", s(&backup)]);
    let ids = c.running();
    for id in ids {
        c.node(id).stop()?;
    }
    let mut files = Vec::new();
    files_under(c.root(), &mut files);
    // The nodes' TLS keys are PEM files of their own (0600, as the seal key
    // file is): the search is for the keys in the replicated state.
    let tls_dir = c.root().join("tls");
    files.retain(|(path, _)| !path.starts_with(&tls_dir));
    files.push((backup.clone(), std::fs::read(&backup)?));
    ensure!(
        files.len() > 10,
        "expected data files, found {}",
        files.len()
    );

    // Positive control: the (public) certificate is found in its stored form
    // in the uncompressed files — every node's write-ahead log and the
    // backup — so the same search would find an unsealed key there.
    let cert_forms = encodings(&cert, cert.len() / 6 * 3);
    let public: Vec<Vec<u8>> = [&leaf_pem, &ca_pem, &csr_pem]
        .iter()
        .flat_map(|p| pem::parse_many(p.as_str()).unwrap_or_default())
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .chain([std::fs::read(&csr)?])
        .collect();
    let needles: Vec<Vec<u8>> = keys
        .iter()
        .flat_map(|k| private_needles(k, &public))
        .collect();
    ensure!(needles.len() >= 36, "each key must yield private windows");
    let found_in = |pred: &dyn Fn(&Path) -> bool| {
        files
            .iter()
            .filter(|(p, _)| pred(p))
            .any(|(_, b)| cert_forms.iter().any(|f| contains(b, f)))
    };
    ensure!(
        found_in(&|p| p == backup.as_path()),
        "the search must find the certificate in the backup"
    );
    for id in 1..=3 {
        let node_dir = c.root().join(format!("node-{id}"));
        ensure!(
            found_in(&|p| p.starts_with(&node_dir) && p.extension().is_some_and(|e| e == "log")),
            "the search must find the certificate in node {id}'s write-ahead log"
        );
    }
    for (path, bytes) in &files {
        ensure!(
            !contains(bytes, b"PRIVATE KEY"),
            "{} contains PRIVATE KEY",
            path.display()
        );
        for needle in &needles {
            ensure!(
                !contains(bytes, needle),
                "{} contains private key material",
                path.display()
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_rpc_is_idempotent_and_needs_its_confirmation() -> Result<()> {
    use mrouter_proto::v1::certificate_authority_client::CertificateAuthorityClient;
    use mrouter_proto::v1::{GenerateCaRequest, SubjectFields};
    let c = Cluster::start(ClusterOptions::default()).await?;
    let leader = c.must_have_leader().await?;
    let follower = c
        .running()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap_or(leader);
    let request = |id: Vec<u8>| GenerateCaRequest {
        request_id: id,
        subject: Some(SubjectFields {
            common_name: "Retry CA".into(),
            ..Default::default()
        }),
        key_type: mrouter_proto::v1::KeyType::EcdsaP256.into(),
        ..Default::default()
    };
    let id = cluster_tests::random_id();
    let first = CertificateAuthorityClient::new(c.channel(leader).await?)
        .generate(request(id.clone()))
        .await?
        .into_inner();
    ensure!(first.epoch == 1, "{first:?}");
    // The same request again, through another node (as mrctl does when the
    // first node goes away): reported as done, not judged as a replacement.
    let again = CertificateAuthorityClient::new(c.channel(follower).await?)
        .generate(request(id))
        .await?
        .into_inner();
    ensure!(
        again.epoch == 1,
        "a retry must not install a second CA: {again:?}"
    );
    ensure!(
        again.ca.as_ref().map(|c| &c.fingerprint_sha256)
            == first.ca.as_ref().map(|c| &c.fingerprint_sha256)
    );

    // A new request without the confirmation flag is refused.
    let err = CertificateAuthorityClient::new(c.channel(follower).await?)
        .generate(request(cluster_tests::random_id()))
        .await
        .unwrap_err();
    ensure!(err.code() == tonic::Code::FailedPrecondition, "{err:?}");
    ensure!(err.message().contains("confirm"), "{err:?}");
    // Confirmed, but for a CA that is no longer the current one: refused.
    let mut stale = request(cluster_tests::random_id());
    stale.confirm_invalidate_clients = true;
    stale.expected_epoch = Some(7);
    let err = CertificateAuthorityClient::new(c.channel(leader).await?)
        .generate(stale)
        .await
        .unwrap_err();
    ensure!(err.code() == tonic::Code::FailedPrecondition, "{err:?}");
    ensure!(err.message().contains("changed"), "{err:?}");
    Ok(())
}
