//! `mrd dev` under test: the main job of the README, started exactly as
//! `scripts/dev.sh` starts it (client listeners and all), on a free block of
//! loopback ports in a temporary directory, stopped with SIGTERM on drop.
//!
//! `mrd dev` makes a cluster CA under `DIR/tls` unless one is there; these
//! clusters get the tests' CA put there first (so the `mrctl` helpers trust
//! them), except [`DevCluster::start_own_ca`], which lets `mrd dev` make
//! its own as on a fresh machine.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

pub struct DevCluster {
    child: Child,
    /// `host:port` of every node's API, in node order.
    pub addrs: Vec<String>,
    /// The `--dir` given to `mrd dev`.
    pub dir: PathBuf,
    // Last: removed after the processes are gone.
    _root: TempDir,
}

/// Ports `mrd dev --base-port B` uses for `n` nodes: the API at B.., the local
/// listeners at B+100.., the remote ones at B+200.., the virtual ones at
/// B+442/443; and those of one more node, which the README tour adds.
fn ports_used(base: u16, nodes: u16) -> Vec<u16> {
    let mut ports = Vec::new();
    for i in 0..=nodes {
        ports.extend([base + i, base + 100 + i, base + 200 + i]);
    }
    ports.extend([base + 442, base + 443]);
    ports
}

/// A base port whose whole block is free now.
fn free_base(nodes: u16) -> Result<u16> {
    let seed = std::process::id() as u16 ^ (crate::random_id()[15] as u16) << 4;
    for attempt in 0..200u16 {
        let base = 20_000 + (seed.wrapping_add(attempt.wrapping_mul(541)) % 40_000);
        let all_free = ports_used(base, nodes)
            .iter()
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
        if all_free {
            return Ok(base);
        }
    }
    bail!("no free block of ports for mrd dev")
}

impl DevCluster {
    /// Runs `mrd dev --nodes 3` in a new directory and waits until it says
    /// the cluster is up.
    pub fn start() -> Result<Self> {
        Self::start_with(|_| Ok(()))
    }

    /// As [`DevCluster::start`], after `prepare` has filled the directory
    /// (which holds only `tls/` with the tests' CA), e.g. with another
    /// cluster's `seal.key`.
    pub fn start_with(prepare: impl FnOnce(&Path) -> Result<()>) -> Result<Self> {
        Self::launch(|dir| {
            let tls = dir.join("tls");
            std::fs::create_dir_all(&tls)?;
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tls, std::fs::Permissions::from_mode(0o700))?;
            }
            for file in ["ca.pem", "ca.key"] {
                std::fs::copy(crate::tls::ca_dir().join(file), tls.join(file))?;
            }
            prepare(dir)
        })
    }

    /// Runs `mrd dev` in an empty directory, as on a fresh machine: it makes
    /// its own cluster CA (`DIR/tls/ca.pem`).
    pub fn start_own_ca() -> Result<Self> {
        Self::launch(|_| Ok(()))
    }

    fn launch(prepare: impl FnOnce(&Path) -> Result<()>) -> Result<Self> {
        let root = tempfile::Builder::new().prefix("mrouter-dev-").tempdir()?;
        let dir = root.path().join("mrouter-dev");
        std::fs::create_dir_all(&dir)?;
        prepare(&dir)?;
        let base = free_base(3)?;
        let mut child = Command::new(crate::binary("mrd"))
            .args(["dev", "--dir"])
            .arg(&dir)
            .args(["--base-port", &base.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("mrd dev must start")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let cluster = |child| Self {
            child,
            addrs: (0..3).map(|i| format!("127.0.0.1:{}", base + i)).collect(),
            dir: dir.clone(),
            _root: root,
        };
        loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.starts_with("mrouter dev cluster is up") => {
                    // Keep draining stdout so mrd dev never blocks on it.
                    std::thread::spawn(move || while rx.recv().is_ok() {});
                    return Ok(cluster(child));
                }
                Ok(line) => seen.push(line),
                Err(_) => {
                    drop(cluster(child)); // stops whatever did start
                    return Err(anyhow!("mrd dev did not come up:\n{}", seen.join("\n")));
                }
            }
        }
    }

    /// The `--endpoints` value for mrctl.
    pub fn endpoints(&self) -> String {
        self.addrs.join(",")
    }

    /// `host:port` of every node's local client listener, in node order.
    pub fn local_listeners(&self) -> Vec<String> {
        self.addrs
            .iter()
            .map(|a| {
                let port: u16 = a
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                format!("127.0.0.1:{}", port + 100)
            })
            .collect()
    }

    /// The cluster CA certificate `mrd dev` uses (`MRCTL_CACERT`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("tls").join("ca.pem")
    }

    /// The log file `mrd dev` gives node `id` (1-based).
    pub fn node_log(&self, id: u64) -> PathBuf {
        self.dir.join(format!("node-{id}")).join("mrd.log")
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        // mrd dev stops its nodes on SIGTERM.
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
