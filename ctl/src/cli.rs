//! The `mrctl` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mrouter_proto::names::Named;
use mrouter_proto::v1::{ClientState, ClusterMode, KeyType};

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
    /// The cluster CA certificate (PEM) that nodes' certificates must chain
    /// to: `mrd dev` prints where it is; `mrd tls init-ca` makes one.
    #[arg(long, env = "MRCTL_CACERT", global = true, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Speak plaintext gRPC: only to nodes run with `--insecure`.
    #[arg(
        long,
        env = "MRCTL_PLAINTEXT",
        global = true,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub plaintext: bool,
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
    /// The cluster's certificate authority.
    #[command(subcommand)]
    Ca(CaCmd),
    /// Router certificates: local, remote, local-virtual, remote-virtual.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Provisioned mobile clients: client certificates, revocation, the CRL.
    #[command(subcommand)]
    Client(ClientCmd),
}

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Initialize a new cluster (default: the answering node alone).
    Init {
        /// A voter as ID=HOST:PORT; repeat for each.
        #[arg(long = "member", value_name = "ID=HOST:PORT")]
        members: Vec<String>,
    },
    /// Leader, term and every member's replication state and health; exits
    /// non-zero when a member is unhealthy (down, unreachable, leaderless).
    Status {
        /// Ask every member directly and show what each says of itself
        /// (like `etcdctl endpoint status --cluster`).
        #[arg(long)]
        cluster: bool,
    },
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
    /// Stream a consistent snapshot of the whole state to FILE (secrets stay
    /// sealed; the file is created readable by you alone).
    Save {
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
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
        #[arg(long, value_parser = named::<ClusterMode>)]
        mode: Option<i32>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CaCmd {
    /// Generate a new CA; replacing one invalidates every provisioned client.
    Generate {
        #[command(flatten)]
        subject: SubjectArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Validity in days (default 3650).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        days: Option<u32>,
        /// Report what replacing the CA would invalidate; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replace an existing CA without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Import a CA certificate and its private key.
    Import {
        /// A PEM bundle (certificate and key) or a PKCS#12 file.
        #[arg(required_unless_present = "cert", conflicts_with = "cert")]
        file: Option<PathBuf>,
        /// The CA certificate (PEM), with its key given by --key.
        #[arg(long, value_name = "FILE", requires = "key")]
        cert: Option<PathBuf>,
        /// The CA private key (PEM), with its certificate given by --cert.
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        /// File holding the password of an encrypted key or PKCS#12 file.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Check the files and report what replacing the CA would invalidate; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replace an existing CA without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Show the CA and what replacing it would invalidate.
    Show {
        /// Read from the answering node without confirming with the leader.
        #[arg(long)]
        stale: bool,
    },
    /// Print the CA certificate (and chain) as PEM.
    Export {
        /// Include the CA private key.
        #[arg(long)]
        include_key: bool,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum CertCmd {
    /// Generate a key and a certificate signed by the cluster CA.
    Generate {
        #[command(flatten)]
        slot: SlotArgs,
        #[command(flatten)]
        subject: SubjectArgs,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        sans: SanArgs,
        /// Validity in days (default 825).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        days: Option<u32>,
        /// Make the new certificate active at once instead of pending.
        #[arg(long)]
        activate: bool,
    },
    /// Generate a key and a CSR to have signed by another CA; the slot keeps the key.
    Csr {
        #[command(flatten)]
        slot: SlotArgs,
        #[command(flatten)]
        subject: SubjectArgs,
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        sans: SanArgs,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Import a certificate: PEM bundles, DER certificates or keys, PKCS#12.
    Import {
        #[command(flatten)]
        slot: SlotArgs,
        /// The certificate, key and chain files, in any order.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// File holding the password of an encrypted key or PKCS#12 file.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Make the imported certificate active at once instead of pending.
        #[arg(long)]
        activate: bool,
    },
    /// Make a slot's pending certificate active on every node.
    Activate {
        #[command(flatten)]
        slot: SlotArgs,
    },
    /// Show one slot: active and pending certificates, CSR, default names.
    Show {
        #[command(flatten)]
        slot: SlotArgs,
        /// Read from the answering node without confirming with the leader.
        #[arg(long)]
        stale: bool,
    },
    /// One line per slot of the cluster.
    List {
        /// Read from the answering node without confirming with the leader.
        #[arg(long)]
        stale: bool,
    },
    /// Print a slot's certificate (and chain) as PEM.
    Export {
        #[command(flatten)]
        slot: SlotArgs,
        /// Export the pending certificate instead of the active one.
        #[arg(long)]
        pending: bool,
        /// Include the private key.
        #[arg(long)]
        include_key: bool,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCmd {
    /// Sign a client certificate for the client's CSR, or for a key the
    /// cluster makes and hands out once (written to a file, never printed).
    /// The certificate is printed unless --bundle holds it.
    Provision {
        /// The client id: letters, digits and . _ @ + -
        #[arg(long, value_name = "ID")]
        id: String,
        /// The user the client belongs to.
        #[arg(long, value_name = "USER")]
        user: String,
        /// A description of the device.
        #[arg(long, value_name = "TEXT")]
        device: Option<String>,
        /// Validity in days (default 365).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        days: Option<u32>,
        /// Issue a new certificate for an id that exists.
        #[arg(long)]
        replace: bool,
        /// The client's CSR (PEM or DER); its private key stays on the device.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with_all = ["key_type", "p12", "key_out"]
        )]
        csr: Option<PathBuf>,
        /// Type of the key the cluster makes: ecdsa-p256 (default), ecdsa-p384, rsa2048, …
        #[arg(long = "key", value_name = "TYPE", value_parser = named::<KeyType>)]
        key_type: Option<i32>,
        /// Write the key the cluster makes, with the certificates, as PKCS#12 to FILE (mode 0600).
        #[arg(
            long,
            value_name = "FILE",
            requires = "password_file",
            conflicts_with = "key_out"
        )]
        p12: Option<PathBuf>,
        /// File holding the PKCS#12 password.
        #[arg(long, value_name = "FILE", requires = "p12")]
        password_file: Option<PathBuf>,
        /// Write the PEM private key the cluster makes to FILE (mode 0600).
        #[arg(long, value_name = "FILE")]
        key_out: Option<PathBuf>,
        /// Create DIR (or fill an empty one) with everything the client needs:
        /// client.pem, ca.pem, client.key or client.p12, endpoints.json.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
    },
    /// One page of clients (or all of them), optionally by state and user.
    List {
        /// provisioned, invalidated, revoked or expired.
        #[arg(long, value_name = "STATE", value_parser = named::<ClientState>)]
        state: Option<i32>,
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Clients per page (default 100, at most 1000).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: Option<u32>,
        /// Follow the pages to the end.
        #[arg(long)]
        all: bool,
        /// Continue a listing: the token printed after the previous page
        /// (`next_page_token` in JSON), with the same filters.
        #[arg(long, value_name = "TOKEN")]
        page_token: Option<String>,
        /// Read from the answering node without confirming with the leader.
        #[arg(long)]
        stale: bool,
    },
    /// One client: state, certificate, key, revocation.
    Show {
        /// The client id.
        id: String,
        /// Read from the answering node without confirming with the leader.
        #[arg(long)]
        stale: bool,
        /// Print only the client's current certificate, as PEM.
        #[arg(long)]
        cert: bool,
    },
    /// Revoke a client: its certificate goes on the CRL; only provisioning it
    /// again with --replace brings it back.
    Revoke {
        /// The client id.
        id: String,
        /// Why (kept with the client).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Sign a client's existing public key again under the current CA, or
    /// every invalidated client's with --all-invalidated.
    Reprovision {
        /// The client id.
        #[arg(required_unless_present = "all_invalidated")]
        id: Option<String>,
        /// Re-provision every client the CA replacement invalidated; run it
        /// again to continue after an interruption.
        #[arg(long, conflicts_with_all = ["id", "out"])]
        all_invalidated: bool,
        /// Re-provisionings in flight at once (default 16).
        #[arg(
            long,
            value_name = "N",
            requires = "all_invalidated",
            value_parser = clap::value_parser!(u16).range(1..=256)
        )]
        concurrency: Option<u16>,
        /// Validity in days (default 365).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        days: Option<u32>,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Print the certificate revocation list of the current CA as PEM.
    Crl {
        /// Write DER instead of PEM (to --out).
        #[arg(long, requires = "out")]
        der: bool,
        #[command(flatten)]
        out: OutArgs,
    },
}

/// The distinguished name of a new certificate or CSR.
#[derive(Args, Debug, Clone)]
pub struct SubjectArgs {
    /// Two-letter ISO 3166 country code.
    #[arg(long, default_value = "US")]
    pub country: String,
    /// State or province.
    #[arg(long)]
    pub state: Option<String>,
    /// City or locality.
    #[arg(long)]
    pub locality: Option<String>,
    /// Organization.
    #[arg(long = "org", visible_alias = "organization", value_name = "O")]
    pub organization: Option<String>,
    /// Organizational unit.
    #[arg(long = "ou", visible_alias = "organizational-unit", value_name = "OU")]
    pub organizational_unit: Option<String>,
    /// Common name (a CA defaults to the cluster domain).
    #[arg(long = "cn", visible_alias = "common-name", value_name = "CN")]
    pub common_name: Option<String>,
}

/// The type of a new private key; the node checks it and says why it refuses one.
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// rsa2048, rsa3072, rsa4096, ecdsa-p256 or ecdsa-p384 (default rsa2048).
    #[arg(long = "key", value_name = "TYPE", value_parser = named::<KeyType>)]
    pub key_type: Option<i32>,
}

/// An API enum value by the name mrctl and the node use for it.
fn named<E: Named + Into<i32>>(text: &str) -> Result<i32, String> {
    match E::from_name(text.trim()) {
        Some(v) if !text.trim().is_empty() => Ok(v.into()),
        _ => Err(format!("use {}", E::names())),
    }
}

/// The subject alternative names of a new certificate or CSR.
#[derive(Args, Debug, Clone)]
pub struct SanArgs {
    /// An extra name: dns:NAME or ip:ADDR (repeatable).
    #[arg(long = "san", value_name = "dns:NAME|ip:ADDR", value_parser = parse_san)]
    pub add: Vec<String>,
    /// Leave out one of the slot's default names (repeatable).
    #[arg(
        long = "drop-san",
        value_name = "NAME",
        conflicts_with = "no_default_sans"
    )]
    pub drop: Vec<String>,
    /// Leave out all of the slot's default names.
    #[arg(long)]
    pub no_default_sans: bool,
}

/// Which router certificate slot.
#[derive(Args, Debug, Clone)]
pub struct SlotArgs {
    /// Which certificate: local and remote belong to one node, the virtual ones to the cluster.
    #[arg(long, value_enum)]
    pub slot: Slot,
    /// For local and remote: the node whose slot (default: the node answering).
    #[arg(long, value_name = "ID")]
    pub node: Option<u64>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Slot {
    Local,
    Remote,
    LocalVirtual,
    RemoteVirtual,
}

impl Slot {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Local => "local",
            Slot::Remote => "remote",
            Slot::LocalVirtual => "local-virtual",
            Slot::RemoteVirtual => "remote-virtual",
        }
    }

    /// Local and remote slots belong to one node; the virtual ones to the cluster.
    pub fn per_node(self) -> bool {
        matches!(self, Slot::Local | Slot::Remote)
    }
}

/// Where PEM output goes: standard output unless `--out`.
#[derive(Args, Debug, Clone)]
pub struct OutArgs {
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite FILE if it exists; without --out, print a private key to
    /// standard output (refused otherwise: it would land in a terminal's
    /// scrollback or a file of the shell's default mode).
    #[arg(long)]
    pub force: bool,
}

/// `dns:NAME`, `ip:ADDR`, or a bare name or address; other `kind:` prefixes
/// are refused here rather than sent.
fn parse_san(text: &str) -> Result<String, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if let Some(name) = lower.strip_prefix("dns:") {
        if name.is_empty() {
            return Err("dns: needs a name, e.g. dns:router.example.com".into());
        }
    } else if let Some(addr) = lower.strip_prefix("ip:") {
        addr.parse::<std::net::IpAddr>()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
    } else if text.is_empty() {
        return Err("a name is required: dns:NAME or ip:ADDR".into());
    } else if text.contains(':') && text.parse::<std::net::IpAddr>().is_err() {
        return Err(format!(
            "{text:?}: a name must be dns:NAME or ip:ADDR (e.g. dns:router.example.com, ip:10.0.0.1)"
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests;
