//! A reference etcd cluster (Debian's `etcd-server`) on loopback, run the way
//! the benchmarks run mrd: three real processes, killable and restartable.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tempfile::TempDir;
use tonic::transport::{Channel, Endpoint};

pub mod pb {
    tonic::include_proto!("etcdserverpb");
}

pub use pb::kv_client::KvClient;

struct Member {
    name: String,
    client: String,
    peer: String,
    child: Option<Child>,
}

pub struct EtcdCluster {
    members: Vec<Member>,
    initial_cluster: String,
    heartbeat_ms: u64,
    election_ms: u64,
    dir: TempDir,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether an `etcd` binary is installed.
pub fn available() -> bool {
    Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl EtcdCluster {
    pub async fn start(n: usize, heartbeat_ms: u64, election_ms: u64) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("etcd-bench-").tempdir()?;
        let mut members = Vec::new();
        for i in 1..=n {
            members.push(Member {
                name: format!("e{i}"),
                client: format!("127.0.0.1:{}", free_port()?),
                peer: format!("127.0.0.1:{}", free_port()?),
                child: None,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Self {
            members,
            initial_cluster,
            heartbeat_ms,
            election_ms,
            dir,
        };
        for i in 0..n {
            c.start_member(i)?;
        }
        c.wait_ready().await?;
        Ok(c)
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].name)
    }

    pub fn start_member(&mut self, i: usize) -> Result<()> {
        let data_dir = self.data_dir(i);
        let log = std::fs::File::create(
            self.dir
                .path()
                .join(format!("{}.log", self.members[i].name)),
        )?;
        let m = &self.members[i];
        let child = Command::new("etcd")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen-client-urls", &format!("http://{}", m.client)])
            .args(["--advertise-client-urls", &format!("http://{}", m.client)])
            .args(["--listen-peer-urls", &format!("http://{}", m.peer)])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://{}", m.peer),
            ])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--heartbeat-interval", &self.heartbeat_ms.to_string()])
            .args(["--election-timeout", &self.election_ms.to_string()])
            .args([
                "--logger",
                "zap",
                "--log-outputs",
                "stderr",
                "--log-level",
                "error",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.members[i].child = Some(child);
        Ok(())
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client.clone()).collect()
    }

    pub async fn channel(&self, i: usize) -> Result<Channel> {
        Ok(
            Endpoint::from_shared(format!("http://{}", self.members[i].client))?
                .connect_timeout(Duration::from_millis(500))
                .timeout(Duration::from_secs(5))
                .connect()
                .await?,
        )
    }

    /// Index of the current leader, from `etcdctl endpoint status`.
    pub async fn leader(&self) -> Result<usize> {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &self.endpoints().join(","),
                "endpoint",
                "status",
                "-w",
                "json",
            ])
            .output()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let statuses = v
            .as_array()
            .ok_or_else(|| anyhow!("etcdctl endpoint status: not a list"))?;
        for s in statuses {
            let member = &s["Status"]["header"]["member_id"];
            if !member.is_null() && *member == s["Status"]["leader"] {
                let ep = s["Endpoint"].as_str().unwrap_or_default();
                if let Some(i) = self.members.iter().position(|m| ep.ends_with(&m.client)) {
                    return Ok(i);
                }
            }
        }
        bail!("etcd has no leader")
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(ch) = self.channel(0).await {
                let put = KvClient::new(ch)
                    .put(pb::PutRequest {
                        key: b"ready".to_vec(),
                        value: b"1".to_vec(),
                    })
                    .await;
                if put.is_ok() {
                    return Ok(());
                }
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "etcd did not become ready (logs in {})",
                    self.dir.path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
