//! Every bad certificate input of the certificate-store issue through `mrctl`:
//! a clear message, a non-zero exit, and the replicated state unchanged (the
//! same digest on every node before and after).

use std::path::PathBuf;

use anyhow::{ensure, Result};
use cluster_tests::checks::{openssl, path_str};
use cluster_tests::fixtures::TestCa;
use cluster_tests::{mrctl, Cluster, ClusterOptions};

struct Probe<'a> {
    c: &'a Cluster,
    ep: String,
    dir: PathBuf,
}

impl Probe<'_> {
    async fn digest(&self) -> Result<String> {
        let leader = self.c.must_have_leader().await?;
        let index = self.c.status(leader).await?.applied_index;
        self.c.must_converge(index).await
    }

    /// `args` must fail with every one of `expect` in the message, and
    /// change nothing.
    async fn refused(&self, args: &[&str], expect: &[&str]) -> Result<()> {
        let before = self.digest().await?;
        let (ok, out, err) = mrctl(&self.ep, args);
        ensure!(!ok, "mrctl {args:?} succeeded: {out}");
        for e in expect {
            ensure!(
                err.to_lowercase().contains(&e.to_lowercase()),
                "mrctl {args:?}: expected {e:?} in {err:?}"
            );
        }
        ensure!(
            !err.contains("panicked") && !err.contains("PRIVATE KEY"),
            "{err}"
        );
        ensure!(
            self.digest().await? == before,
            "mrctl {args:?} changed the state"
        );
        Ok(())
    }

    fn file(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, content).expect("writing a test file must work");
        p.to_str().expect("UTF-8 path").to_string()
    }
}

fn run(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn generate<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "cert",
        "generate",
        "--slot",
        "local",
        "--node",
        "1",
        "--cn",
        "n1.example.com",
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--key") {
        args.extend(["--key", "ecdsa-p256"]);
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificate_input_is_refused_and_changes_nothing() -> Result<()> {
    let c = Cluster::start(ClusterOptions::default()).await?;
    c.must_have_leader().await?;
    let dir = tempfile::tempdir()?;
    let b = Probe {
        c: &c,
        ep: c.endpoints(),
        dir: dir.path().to_path_buf(),
    };
    let (ok, _, err) = mrctl(
        &b.ep,
        &["ca", "generate", "--cn", "Test CA", "--key", "ecdsa-p256"],
    );
    ensure!(ok, "{err}");

    // Generation choices.
    b.refused(
        // Key types are an API enum: one it lacks is refused by mrctl.
        &generate(&["--key", "rsa1024"]),
        &["--key", "rsa1024", "use rsa2048"],
    )
    .await?;
    b.refused(
        &generate(&["--country", "USA"]),
        &["INVALID_ARGUMENT", "USA", "two-letter"],
    )
    .await?;
    b.refused(
        &generate(&["--san", "exa mple.com"]),
        &["INVALID_ARGUMENT", "exa mple.com"],
    )
    .await?;
    b.refused(
        &generate(&["--san", "300.1.1.1"]),
        &["INVALID_ARGUMENT", "300.1.1.1"],
    )
    .await?;
    b.refused(
        &generate(&["--san", "*.*.example.com"]),
        &["INVALID_ARGUMENT", "wildcard"],
    )
    .await?;
    b.refused(
        &[
            "cert",
            "generate",
            "--slot",
            "local",
            "--cn",
            "",
            "--key",
            "ecdsa-p256",
        ],
        &["INVALID_ARGUMENT", "common name is empty"],
    )
    .await?;

    // Import files.
    let import = |file: String| -> Vec<String> {
        ["cert", "import", "--slot", "local", "--node", "1"]
            .iter()
            .map(|s| s.to_string())
            .chain([file])
            .collect()
    };

    let empty = b.file("empty.pem", "");
    b.refused(&run(&import(empty)), &["empty"]).await?;

    let random: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let big = b.file("random.bin", random);
    // Refused by mrctl by name before it is sent (the node refuses one sent
    // anyway: pki's bundle tests).
    b.refused(&run(&import(big)), &["random.bin", "at most 1024 KiB"])
        .await?;

    let root = TestCa::root("Other Root");
    let good = root.leaf(&["n1.example.com"], -1, 30);
    let truncated = b.file("truncated.pem", &good.cert_pem[..good.cert_pem.len() / 2]);
    b.refused(&run(&import(truncated)), &["INVALID_ARGUMENT", "PEM"])
        .await?;

    let other = root.leaf(&["n1.example.com"], -1, 30);
    let mismatched = b.file(
        "mismatch.pem",
        format!("{}{}", good.cert_pem, other.key_pem),
    );
    b.refused(&run(&import(mismatched)), &["INVALID_ARGUMENT", "match"])
        .await?;

    let expired = root.leaf(&["n1.example.com"], -60, -30);
    let expired = b.file(
        "expired.pem",
        format!("{}{}", expired.cert_pem, expired.key_pem),
    );
    b.refused(&run(&import(expired)), &["INVALID_ARGUMENT", "expired"])
        .await?;

    let future = root.leaf(&["n1.example.com"], 30, 60);
    let future = b.file(
        "future.pem",
        format!("{}{}", future.cert_pem, future.key_pem),
    );
    b.refused(
        &run(&import(future)),
        &["INVALID_ARGUMENT", "not valid yet"],
    )
    .await?;

    // The leaf names intermediate "Issuing CA", but the bundle carries an
    // impostor with that name and another key.
    let inter = root.intermediate("Issuing CA");
    let impostor = root.intermediate("Issuing CA");
    let leaf = inter.leaf(&["n1.example.com"], -1, 30);
    let bad_chain = b.file(
        "bad-chain.pem",
        format!(
            "{}{}{}{}",
            leaf.cert_pem, leaf.key_pem, impostor.cert_pem, root.cert_pem
        ),
    );
    b.refused(
        &run(&import(bad_chain)),
        &["INVALID_ARGUMENT", "did not sign"],
    )
    .await?;

    let ca_as_leaf = b.file(
        "ca-leaf.pem",
        format!("{}{}", inter.cert_pem, inter.key_pem),
    );
    b.refused(
        &run(&import(ca_as_leaf)),
        &["INVALID_ARGUMENT", "is a CA (basicConstraints CA:TRUE)"],
    )
    .await?;

    let not_ca = b.file("not-ca.pem", format!("{}{}", good.cert_pem, good.key_pem));
    b.refused(
        &["ca", "import", &not_ca, "--yes"],
        &["INVALID_ARGUMENT", "not a CA"],
    )
    .await?;

    // An encrypted key without its password; a PKCS#12 with the wrong one.
    let key = b.file("plain.key", &good.key_pem);
    let enc = dir.path().join("enc.key");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        &key,
        "-out",
        path_str(&enc),
        "-passout",
        "pass:correct horse",
    ])?;
    let cert = b.file("good.pem", &good.cert_pem);
    let args = [
        "cert",
        "import",
        "--slot",
        "local",
        "--node",
        "1",
        &cert,
        path_str(&enc),
    ];
    b.refused(&args, &["INVALID_ARGUMENT", "password"]).await?;

    let p12 = dir.path().join("good.p12");
    openssl(&[
        "pkcs12",
        "-export",
        "-in",
        &cert,
        "-inkey",
        &key,
        "-out",
        path_str(&p12),
        "-passout",
        "pass:right",
    ])?;
    let wrong = b.file("wrong.pass", "wrong\n");
    let args = [
        "cert",
        "import",
        "--slot",
        "local",
        "--node",
        "1",
        path_str(&p12),
        "--password-file",
        &wrong,
    ];
    b.refused(&args, &["INVALID_ARGUMENT", "password"]).await?;

    // A certificate for the wrong slot's names: accepted as pending, with a warning.
    let elsewhere = root.leaf(&["elsewhere.example.org"], -1, 30);
    let elsewhere = b.file(
        "elsewhere.pem",
        format!("{}{}", elsewhere.cert_pem, elsewhere.key_pem),
    );
    let (ok, _, err) = mrctl(&b.ep, &run(&import(elsewhere)));
    ensure!(ok, "{err}");
    ensure!(
        err.contains("warning") && err.contains("127.0.0.1"),
        "{err}"
    );
    Ok(())
}
