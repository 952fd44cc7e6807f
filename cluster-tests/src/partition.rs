//! Network partitions between the nodes of a loopback cluster.
//!
//! Every node of a [`crate::Cluster`] runs under a group id of its own, and
//! an nftables table of the cluster's own (hooked on `output`) drops the
//! packets a node's sockets send to a port of a node it is cut from. Nodes
//! and clients share one gRPC port, but the test process (and `mrctl`) runs
//! under another group, so a node cut off from its peers still answers the
//! client: a minority node is seen as a Jepsen client would see it.
//!
//! Cuts compose like raft-rs's message filters: [`Partitions::cut`] removes
//! one link in both directions, [`Partitions::isolate`] all links of a node,
//! [`Partitions::heal`] every cut at once. Dropped (not refused) packets are
//! what a real partition looks like: connections stall until their peer's
//! keepalive gives up. The table goes when the cluster is dropped.
//!
//! Needs root (or CAP_NET_ADMIN and CAP_SETGID) and the `nft` tool.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};

/// One cluster's partition state: its table, its node groups, its cuts.
pub struct Partitions {
    table: String,
    gid_base: u32,
    /// Cut links, each as (lower id, higher id).
    cuts: BTreeSet<(u64, u64)>,
    created: bool,
}

/// Group ids of clusters started by this process, apart by `GID_STRIDE`.
static CLUSTERS: AtomicU32 = AtomicU32::new(0);
const GID_STRIDE: u32 = 64;

impl Partitions {
    pub fn new() -> Self {
        let n = CLUSTERS.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        // Apart from other test processes too (pid), within the 32-bit range
        // and far above any group a system uses.
        let gid_base = 1_000_000 + ((pid % 10_000) * 100 + n % 100) * GID_STRIDE;
        Self {
            table: format!("mrouter_test_{pid}_{n}"),
            gid_base,
            cuts: BTreeSet::new(),
            created: false,
        }
    }

    /// The group node `id` runs under.
    pub fn gid(&self, id: u64) -> u32 {
        assert!(id < u64::from(GID_STRIDE), "node ids up to {GID_STRIDE}");
        self.gid_base + id as u32
    }

    /// Cuts the link between `a` and `b` (both directions); `port_of` gives
    /// each node's gRPC port. Idempotent.
    pub fn cut(&mut self, a: u64, b: u64, port_of: impl Fn(u64) -> u16) -> Result<()> {
        if a == b {
            bail!("a node cannot be cut from itself ({a})");
        }
        let link = (a.min(b), a.max(b));
        if self.cuts.contains(&link) {
            return Ok(());
        }
        self.ensure_table()?;
        for (from, to) in [(a, b), (b, a)] {
            nft(&[
                "add",
                "rule",
                "inet",
                &self.table,
                "out",
                "meta",
                "skgid",
                &self.gid(from).to_string(),
                "tcp",
                "dport",
                &port_of(to).to_string(),
                "drop",
            ])?;
        }
        self.cuts.insert(link);
        Ok(())
    }

    /// Removes every cut.
    pub fn heal(&mut self) -> Result<()> {
        if self.created {
            nft(&["flush", "chain", "inet", &self.table, "out"])?;
        }
        self.cuts.clear();
        Ok(())
    }

    fn ensure_table(&mut self) -> Result<()> {
        if self.created {
            return Ok(());
        }
        nft(&["add", "table", "inet", &self.table])?;
        nft(&[
            "add",
            "chain",
            "inet",
            &self.table,
            "out",
            "{ type filter hook output priority 0 ; policy accept ; }",
        ])?;
        self.created = true;
        Ok(())
    }
}

impl Default for Partitions {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Partitions {
    fn drop(&mut self) {
        if self.created {
            if let Err(e) = nft(&["delete", "table", "inet", &self.table]) {
                eprintln!("removing nftables table {}: {e:#}", self.table);
            }
        }
    }
}

fn nft(args: &[&str]) -> Result<()> {
    let out = Command::new("nft")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("partitions need the nft tool (Debian's nftables package) and root")?;
    if !out.status.success() {
        bail!(
            "nft {} failed: {} (partitions need root or CAP_NET_ADMIN)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
