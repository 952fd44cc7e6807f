//! One `mrd` process under test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub struct NodeProc {
    pub id: u64,
    /// Client listeners the process reported, by kind (`local`, `remote`, …).
    listeners: Arc<Mutex<BTreeMap<String, SocketAddr>>>,
    pub addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// The group the process runs under (see [`crate::partition`]).
    pub gid: Option<u32>,
}

impl NodeProc {
    pub fn new(id: u64, root: &Path) -> Self {
        Self {
            id,
            listeners: Arc::default(),
            addr: None,
            data_dir: root.join(format!("node-{id}")),
            log: root.join(format!("node-{id}.log")),
            child: None,
            paused: false,
            gid: None,
        }
    }

    /// Starts the process (on its previous address when it had one) and
    /// waits for it to report the address it bound.
    pub fn start(&mut self, seal_key_file: &Path, extra: &[String]) -> Result<SocketAddr> {
        if self.child.is_some() {
            bail!("node {} is already running", self.id);
        }
        let listen = self
            .addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "127.0.0.1:0".into());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut cmd = Command::new(crate::binary("mrd"));
        if let Some(gid) = self.gid {
            std::os::unix::process::CommandExt::gid(&mut cmd, gid);
        }
        let mut child = cmd
            .arg("run")
            .args(["--node-id", &self.id.to_string()])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen", &listen])
            .arg("--seal-key-file")
            .arg(seal_key_file)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("MRD_TEST_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let listeners = self.listeners.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("mrd listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                } else if let Some((kind, addr)) = line
                    .strip_prefix("mrd ")
                    .and_then(|l| l.split_once(" listener on "))
                {
                    if let Ok(addr) = addr.trim().parse() {
                        listeners
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(kind.to_string(), addr);
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse()?,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                bail!(
                    "node {} did not start ({status}); log {}:\n{}",
                    self.id,
                    self.log.display(),
                    self.log_tail()
                );
            }
        };
        self.addr = Some(addr);
        self.child = Some(child);
        self.paused = false;
        Ok(addr)
    }

    /// The address of the node's `kind` listener, as it last reported it.
    pub fn listener(&self, kind: &str) -> Option<SocketAddr> {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(kind)
            .copied()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if self.paused {
            self.signal_pid(child.id(), Signal::SIGCONT);
        }
        self.signal_pid(child.id(), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("node {} exited with {status} on SIGTERM", self.id);
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("node {} did not stop within 15 s of SIGTERM", self.id);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pause(&mut self) {
        if let Some(child) = &self.child {
            self.signal_pid(child.id(), Signal::SIGSTOP);
            self.paused = true;
        }
    }

    pub fn resume(&mut self) {
        if let Some(child) = &self.child {
            self.signal_pid(child.id(), Signal::SIGCONT);
            self.paused = false;
        }
    }

    /// Waits for the process to exit on its own; returns whether it failed.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Some(status);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn wipe(&mut self) -> Result<()> {
        self.kill9();
        if self.data_dir.exists() {
            std::fs::remove_dir_all(&self.data_dir)?;
        }
        Ok(())
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn signal_pid(&self, pid: u32, sig: Signal) {
        let _ = kill(Pid::from_raw(pid as i32), sig);
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if self.paused {
            self.resume();
        }
        self.kill9();
    }
}
