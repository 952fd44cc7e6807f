//! A node's configuration: a TOML file, each key also a flag and an `MRD_…`
//! environment variable (flags and environment win over the file). Checked
//! once into a [`NodeConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::pki::{SealError, SealKey};

/// `mrd run` options; every one may also come from the config file.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RunArgs {
    /// TOML file with any of the keys below (flags and environment override it).
    #[arg(long, env = "MRD_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster, never reused).
    #[arg(long, env = "MRD_NODE_ID")]
    pub node_id: Option<u64>,
    /// Where the node keeps its RocksDB and snapshots.
    #[arg(long, env = "MRD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// gRPC listen address (public API and node-to-node), e.g. 0.0.0.0:7001.
    #[arg(long, env = "MRD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address other nodes and clients reach this node at (default: listen).
    #[arg(long, env = "MRD_ADVERTISE")]
    pub advertise: Option<String>,
    /// File holding the cluster seal key (64 hex characters). Or set MRD_SEAL_KEY.
    #[arg(long, env = "MRD_SEAL_KEY_FILE")]
    pub seal_key_file: Option<PathBuf>,
    /// Raft heartbeat interval in milliseconds.
    #[arg(long, env = "MRD_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    /// Minimum election timeout in milliseconds (the maximum, and the leader lease, is 1.5x this).
    #[arg(long, env = "MRD_ELECTION_TIMEOUT_MS")]
    pub election_timeout_ms: Option<u64>,
    /// Address of this node's local (LAN) client listener, mutual TLS with the `local` certificate.
    #[arg(long, env = "MRD_LOCAL_LISTEN")]
    pub local_listen: Option<SocketAddr>,
    /// Address of this node's remote (Secure Remote Access) client listener, with the `remote` certificate.
    #[arg(long, env = "MRD_REMOTE_LISTEN")]
    pub remote_listen: Option<SocketAddr>,
    /// Port of the virtual local listener, opened on the cluster's virtual address while this node leads.
    #[arg(long, env = "MRD_VIRTUAL_LOCAL_PORT")]
    pub virtual_local_port: Option<u16>,
    /// Port of the virtual remote listener, opened on the virtual address while this node leads.
    #[arg(long, env = "MRD_VIRTUAL_REMOTE_PORT")]
    pub virtual_remote_port: Option<u16>,
    /// Largest Raft snapshot this node accepts from a leader, in MiB (default 16384).
    #[arg(long, env = "MRD_MAX_SNAPSHOT_MIB")]
    pub max_snapshot_mib: Option<u64>,
    /// This node's certificate (PEM, signed by the cluster CA; `mrd tls node-cert`).
    #[arg(long, env = "MRD_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key of tls_cert_file (PEM, mode 0600).
    #[arg(long, env = "MRD_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// The cluster CA certificate (PEM; `mrd tls init-ca`): peers must chain to it.
    #[arg(long, env = "MRD_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Serve plaintext gRPC with no peer authentication (tests and demos only; logs a warning).
    #[arg(long, env = "MRD_INSECURE")]
    pub insecure: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: Option<u64>,
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    advertise: Option<String>,
    seal_key_file: Option<PathBuf>,
    heartbeat_ms: Option<u64>,
    election_timeout_ms: Option<u64>,
    local_listen: Option<SocketAddr>,
    remote_listen: Option<SocketAddr>,
    virtual_local_port: Option<u16>,
    virtual_remote_port: Option<u16>,
    max_snapshot_mib: Option<u64>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    tls_ca_file: Option<PathBuf>,
    insecure: Option<bool>,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key} is required: set it in the config file, as --{flag}, or as {env}")]
    Missing {
        key: &'static str,
        flag: &'static str,
        env: &'static str,
    },
    #[error("node_id must be a positive integer")]
    ZeroNodeId,
    #[error("listen address {0} is unspecified (0.0.0.0 or ::): set advertise to the address peers should use")]
    NoAdvertise(SocketAddr),
    #[error("advertise {addr:?} is not valid: {reason}")]
    BadAdvertise { addr: String, reason: String },
    #[error("seal key: {0}")]
    Seal(#[from] SealError),
    #[error("no seal key: set seal_key_file (or --seal-key-file / MRD_SEAL_KEY_FILE), or MRD_SEAL_KEY; generate one with `mrd seal-key FILE`")]
    NoSealKey,
    #[error("max_snapshot_mib must be at least 1")]
    ZeroMaxSnapshot,
    #[error("heartbeat_ms ({heartbeat}) must be at least 10 and below election_timeout_ms ({election}) / 2")]
    Timing { heartbeat: u64, election: u64 },
    #[error("TLS is required: set {missing} (as keys, --tls-…-file flags or MRD_TLS_…_FILE); make them with `mrd tls init-ca` and `mrd tls node-cert`, or pass --insecure for a plaintext test node")]
    NoTls { missing: String },
    #[error("insecure is set together with {given}: choose TLS or --insecure")]
    InsecureWithTls { given: String },
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
}

/// A private key file others could read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(
        "{what} {path} is readable by group or others (mode {mode:04o}): run `chmod 600 {path}`"
    )]
    Shared {
        what: &'static str,
        path: PathBuf,
        mode: u32,
    },
}

/// Refuses a key file that group or others may read. A file that cannot
/// be stat'ed passes: reading it fails next, with its own message.
pub fn check_owner_only(what: &'static str, path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Err(KeyFileError::Shared {
            what,
            path: path.to_path_buf(),
            mode: meta.permissions().mode() & 0o7777,
        }),
        _ => Ok(()),
    }
}

/// How the node's gRPC port is secured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TLS for the API; mutual TLS between nodes.
    Tls(TlsFiles),
    /// Plaintext, anyone may call anything (`--insecure`).
    Insecure,
}

/// The files a node's TLS is read from (again on SIGHUP or a change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// A checked node configuration.
#[derive(Debug)]
pub struct NodeConfig {
    pub node_id: u64,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `None`: advertise the address actually bound (useful with port 0).
    pub advertise: Option<String>,
    pub seal_key: SealKey,
    pub heartbeat: Duration,
    pub election_timeout: Duration,
    pub listeners: ListenerConfig,
    /// Largest snapshot stream accepted from a leader.
    pub max_snapshot_bytes: u64,
    pub transport: Transport,
}

/// Where the router's client listeners run (none by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerConfig {
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub virtual_local_port: Option<u16>,
    pub virtual_remote_port: Option<u16>,
}

impl RunArgs {
    /// Merges flags/environment over the file and checks the result.
    /// `env` reads environment variables (tests pass a map).
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<NodeConfig, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let node_id = self.node_id.or(file.node_id).ok_or(ConfigError::Missing {
            key: "node_id",
            flag: "node-id",
            env: "MRD_NODE_ID",
        })?;
        if node_id == 0 {
            return Err(ConfigError::ZeroNodeId);
        }
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .ok_or(ConfigError::Missing {
                key: "data_dir",
                flag: "data-dir",
                env: "MRD_DATA_DIR",
            })?;
        let listen = self.listen.or(file.listen).ok_or(ConfigError::Missing {
            key: "listen",
            flag: "listen",
            env: "MRD_LISTEN",
        })?;
        let advertise = self.advertise.or(file.advertise);
        match &advertise {
            Some(addr) => {
                crate::raft::validate_addr(addr).map_err(|e| ConfigError::BadAdvertise {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?
            }
            None if listen.ip().is_unspecified() => return Err(ConfigError::NoAdvertise(listen)),
            None => {}
        }
        let seal_key = match (
            self.seal_key_file.or(file.seal_key_file),
            env("MRD_SEAL_KEY"),
        ) {
            (Some(path), _) => {
                check_owner_only("seal key file", &path)?;
                SealKey::load_file(&path)?
            }
            (None, Some(hex)) => SealKey::from_hex(&hex)?,
            (None, None) => return Err(ConfigError::NoSealKey),
        };
        let heartbeat = self.heartbeat_ms.or(file.heartbeat_ms).unwrap_or(30);
        let election = self
            .election_timeout_ms
            .or(file.election_timeout_ms)
            .unwrap_or(100);
        if heartbeat < 10 || heartbeat * 2 > election {
            return Err(ConfigError::Timing {
                heartbeat,
                election,
            });
        }
        let max_snapshot_mib = self
            .max_snapshot_mib
            .or(file.max_snapshot_mib)
            .unwrap_or(16 << 10);
        if max_snapshot_mib == 0 {
            return Err(ConfigError::ZeroMaxSnapshot);
        }
        let transport = transport(
            self.insecure || file.insecure.unwrap_or(false),
            self.tls_cert_file.or(file.tls_cert_file),
            self.tls_key_file.or(file.tls_key_file),
            self.tls_ca_file.or(file.tls_ca_file),
        )?;
        Ok(NodeConfig {
            transport,
            max_snapshot_bytes: max_snapshot_mib.saturating_mul(1 << 20),
            node_id,
            data_dir,
            listen,
            advertise,
            seal_key,
            heartbeat: Duration::from_millis(heartbeat),
            election_timeout: Duration::from_millis(election),
            listeners: ListenerConfig {
                local: self.local_listen.or(file.local_listen),
                remote: self.remote_listen.or(file.remote_listen),
                virtual_local_port: self.virtual_local_port.or(file.virtual_local_port),
                virtual_remote_port: self.virtual_remote_port.or(file.virtual_remote_port),
            },
        })
    }
}

fn transport(
    insecure: bool,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
) -> Result<Transport, ConfigError> {
    let named = |want: bool| {
        [
            ("tls_cert_file", cert.is_some()),
            ("tls_key_file", key.is_some()),
            ("tls_ca_file", ca.is_some()),
        ]
        .iter()
        .filter(|(_, given)| *given == want)
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
    };
    if insecure {
        let given = named(true);
        if !given.is_empty() {
            return Err(ConfigError::InsecureWithTls { given });
        }
        return Ok(Transport::Insecure);
    }
    let missing = named(false);
    match (cert, key, ca) {
        (Some(cert), Some(key), Some(ca)) => {
            check_owner_only("TLS key file", &key)?;
            Ok(Transport::Tls(TlsFiles { cert, key, ca }))
        }
        _ => Err(ConfigError::NoTls { missing }),
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: e.message().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn key_env(name: &str) -> Option<String> {
        (name == "MRD_SEAL_KEY").then(|| "ab".repeat(32))
    }

    fn args() -> RunArgs {
        RunArgs {
            node_id: Some(1),
            data_dir: Some("/tmp/x".into()),
            listen: Some("127.0.0.1:7001".parse().unwrap()),
            insecure: true,
            ..Default::default()
        }
    }

    #[test]
    fn flags_and_env_make_a_config() {
        let cfg = args().resolve(key_env).unwrap();
        assert_eq!(cfg.node_id, 1);
        assert_eq!(cfg.heartbeat, Duration::from_millis(30));
    }

    #[test]
    fn file_values_are_overridden_by_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "node_id = 7\ndata_dir = \"/d\"\nlisten = \"127.0.0.1:9\"\nheartbeat_ms = 40\ninsecure = true\n",
        )
        .unwrap();
        let cfg = RunArgs {
            config: Some(path),
            node_id: Some(8),
            ..Default::default()
        }
        .resolve(key_env)
        .unwrap();
        assert_eq!(cfg.node_id, 8);
        assert_eq!(cfg.data_dir, PathBuf::from("/d"));
        assert_eq!(cfg.heartbeat, Duration::from_millis(40));
    }

    #[test]
    fn missing_and_bad_values_are_named() {
        let err = RunArgs::default().resolve(key_env).unwrap_err().to_string();
        assert!(
            err.contains("node_id") && err.contains("MRD_NODE_ID"),
            "{err}"
        );
        assert!(matches!(
            args().resolve(no_env),
            Err(ConfigError::NoSealKey)
        ));
        let unspecified = RunArgs {
            listen: Some("0.0.0.0:7001".parse().unwrap()),
            ..args()
        };
        assert!(matches!(
            unspecified.resolve(key_env),
            Err(ConfigError::NoAdvertise(_))
        ));
        let bad = RunArgs {
            advertise: Some("exa mple:1".into()),
            ..args()
        };
        assert!(matches!(
            bad.resolve(key_env),
            Err(ConfigError::BadAdvertise { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "node_idd = 1\n").unwrap();
        let err = RunArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve(key_env)
        .unwrap_err()
        .to_string();
        assert!(err.contains("node_idd"), "{err}");
    }

    #[test]
    fn tls_files_are_required_unless_insecure() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("node.key");
        std::fs::write(&key, "k").unwrap();
        set_mode(&key, 0o600);
        let tls = RunArgs {
            insecure: false,
            tls_cert_file: Some(dir.path().join("node.pem")),
            tls_key_file: Some(key.clone()),
            ..args()
        };
        let err = tls.clone().resolve(key_env).unwrap_err().to_string();
        assert!(
            err.contains("tls_ca_file")
                && !err.contains("tls_key_file")
                && err.contains("--insecure"),
            "{err}"
        );
        let full = RunArgs {
            tls_ca_file: Some(dir.path().join("ca.pem")),
            ..tls.clone()
        };
        assert!(matches!(
            full.clone().resolve(key_env).unwrap().transport,
            Transport::Tls(TlsFiles { .. })
        ));
        let both = RunArgs {
            insecure: true,
            ..full.clone()
        };
        let err = both.resolve(key_env).unwrap_err().to_string();
        assert!(err.contains("choose TLS or --insecure"), "{err}");
        assert_eq!(
            args().resolve(key_env).unwrap().transport,
            Transport::Insecure
        );

        // A key others can read is refused, naming the file and the fix.
        set_mode(&key, 0o644);
        let err = full.resolve(key_env).unwrap_err().to_string();
        assert!(
            err.contains(&format!("chmod 600 {}", key.display())) && err.contains("0644"),
            "{err}"
        );
    }

    #[test]
    fn a_seal_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seal.key");
        std::fs::write(&path, "ab".repeat(32)).unwrap();
        set_mode(&path, 0o640);
        let with_file = RunArgs {
            seal_key_file: Some(path.clone()),
            ..args()
        };
        let err = with_file.clone().resolve(no_env).unwrap_err().to_string();
        assert!(
            err.contains("seal key file") && err.contains("chmod 600"),
            "{err}"
        );
        set_mode(&path, 0o600);
        with_file.resolve(no_env).unwrap();
    }

    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
