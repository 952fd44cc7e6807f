//! The README's tour, run as written: every `sh` block between "A five-minute
//! tour" and "Running a node", top to bottom, in one bash script on a fresh
//! `mrd dev` cluster. The commands come from README.md itself, so the README
//! and the product cannot drift apart. Only the ports change: the tour's
//! 127.0.0.1:7001… become the free block this cluster runs on.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use cluster_tests::DevCluster;

const TOUR_START: &str = "## A five-minute tour";
const TOUR_END: &str = "## Running a node";
/// The tour's first API port; every `IP:7xxx` in it is an offset from here.
const TOUR_BASE: u16 = 7001;

/// The `sh` blocks of the tour, in order.
fn tour_blocks(readme: &str) -> Result<Vec<String>> {
    let start = readme.find(TOUR_START).context("the README has a tour")?;
    let end = readme[start..]
        .find(TOUR_END)
        .map(|e| start + e)
        .context("the tour ends at Running a node")?;
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme[start..end].lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap_or_default().join("\n")),
            (Some(lines), l) => lines.push(l),
            (None, _) => {}
        }
    }
    ensure!(current.is_none(), "an sh block of the tour is not closed");
    Ok(blocks)
}

/// `text` with each `A.B.C.D:7xxx` moved to the same offset from `base`.
fn move_ports(text: &str, base: u16) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let is_port = bytes[i] == b':'
            && i > 0
            && bytes[i - 1].is_ascii_digit()
            && bytes.get(i + 1) == Some(&b'7')
            && bytes
                .get(i + 1..i + 5)
                .is_some_and(|p| p.iter().all(u8::is_ascii_digit))
            && !bytes.get(i + 5).is_some_and(u8::is_ascii_digit);
        if is_port {
            let port: u16 = text[i + 1..i + 5].parse().unwrap_or(TOUR_BASE);
            out.push(':');
            out.push_str(&(base + (port - TOUR_BASE)).to_string());
            i += 5;
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[test]
fn ports_move_by_their_offset() {
    assert_eq!(
        move_ports(
            "a 127.0.0.1:7001,127.0.0.1:7003 b https://127.0.0.100:7443/x :70012",
            20000
        ),
        "a 127.0.0.1:20000,127.0.0.1:20002 b https://127.0.0.100:20442/x :70012"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_runs_as_written_on_a_fresh_mrd_dev_cluster() -> Result<()> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))?;
    let blocks = tour_blocks(&readme)?;
    ensure!(blocks.len() >= 5, "the tour has {} sh blocks", blocks.len());
    // As on a fresh machine: mrd dev makes the cluster CA the tour trusts.
    let dev = DevCluster::start_own_ca()?;
    let base: u16 = dev.addrs[0]
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("the dev cluster's first port")?;
    // The tour runs from the directory holding ./mrouter-dev.
    let cwd = dev.dir.parent().context("the dev dir has a parent")?;
    let mut script = String::from(
        "set -euo pipefail\n\
         trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n\
         set -x\n",
    );
    for block in &blocks {
        script.push_str(&move_ports(block, base));
        script.push('\n');
    }
    // `${CARGO_TARGET_DIR}/debug` in the tour must be where this build's
    // binaries are.
    let bin_dir = cluster_tests::binary("mrctl")
        .parent()
        .context("mrctl has a directory")?
        .to_path_buf();
    let _ = cluster_tests::binary("mrd");
    let target = bin_dir.parent().context("the target dir")?;
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", target)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env_remove("MRCTL_ENDPOINTS")
        .env_remove("MRCTL_CACERT")
        .env_remove("MRCTL_PLAINTEXT")
        .stdin(std::process::Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "the tour failed ({}); its last commands:\n{}\nstdout:\n{stdout}",
            out.status,
            stderr
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // What the tour says it shows.
    ensure!(
        stdout.contains(r#""client_id":"alice""#) && stdout.contains(r#""slot":"local-virtual""#),
        "the virtual listener answered alice: {stdout}"
    );
    ensure!(cwd.join("signed.pem").exists() && cwd.join("crl.pem").exists());
    ensure!(
        std::fs::read_to_string(cwd.join("alice-phone.pem"))?.contains("BEGIN CERTIFICATE"),
        "client show --cert wrote the certificate"
    );
    Ok(())
}
