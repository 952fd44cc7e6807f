//! The `mrctl` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "mrctl",
    version,
    about = "Operate an mrouter cluster over gRPC"
)]
pub struct Cli {
    /// Comma-separated host:port of cluster nodes; the first that answers is used.
    #[arg(
        long,
        env = "MRCTL_ENDPOINTS",
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
    )]
    pub endpoints: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Seconds to wait for an answer.
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Cluster membership and status.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Save and restore snapshots of the whole state.
    #[command(subcommand)]
    Snapshot(SnapshotCmd),
    /// Express setup: cluster domain, remote access FQDN, virtual address, mode.
    #[command(subcommand)]
    Settings(SettingsCmd),
}

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Initialize a new cluster (default: the answering node alone).
    Init {
        /// A voter as ID=HOST:PORT; repeat for each.
        #[arg(long = "member", value_name = "ID=HOST:PORT")]
        members: Vec<String>,
    },
    /// Leader, term and every member's replication state.
    Status,
    /// Add a node as a learner: it receives the log but does not vote.
    AddLearner {
        #[arg(long)]
        id: u64,
        /// Address the node serves on (host:port).
        #[arg(long)]
        addr: String,
        /// Return at once instead of waiting for the learner to catch up.
        #[arg(long)]
        no_wait: bool,
    },
    /// Make learners voters.
    Promote {
        #[arg(required = true)]
        ids: Vec<u64>,
    },
    /// Remove a node from the cluster.
    Remove {
        id: u64,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Move leadership to another voter.
    TransferLeader { to: u64 },
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCmd {
    /// Stream a consistent snapshot of the whole state to FILE (secrets stay sealed).
    Save { file: PathBuf },
    /// Restore a saved snapshot into a fresh, initialized cluster.
    Restore { file: PathBuf },
    /// Build a Raft snapshot on the leader now (optionally purging the log it covers).
    Trigger {
        #[arg(long)]
        purge_log: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SettingsCmd {
    /// Show the settings.
    Get {
        /// Read from the answering node without confirming with the leader.
        #[arg(long)]
        stale: bool,
    },
    /// Change some settings; an empty value clears a field.
    Set {
        #[arg(long)]
        cluster_domain: Option<String>,
        #[arg(long)]
        remote_access_fqdn: Option<String>,
        #[arg(long)]
        virtual_address: Option<String>,
        /// standalone or clustered.
        #[arg(long)]
        mode: Option<String>,
    },
}
