//! `mrd tls`: the cluster CA and node certificates, in the style of
//! `consul tls ca create` / `consul tls cert create -server`. Private keys
//! are written mode 0600, certificates 0644; nothing is overwritten unless
//! asked (`--force` replaces a node certificate atomically, for rotation:
//! a running node picks the new files up by itself).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::domain::San;
use crate::pki::{self, PrivateKey};

#[derive(Subcommand, Debug, Clone)]
pub enum TlsCmd {
    /// Create a cluster CA: DIR/ca.pem (give it to every node and to mrctl)
    /// and DIR/ca.key (keep it off the nodes if you can).
    InitCa {
        /// Directory to write ca.pem and ca.key to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Create a certificate for one node, signed by the cluster CA:
    /// OUT/node-N.pem and OUT/node-N.key.
    NodeCert {
        /// Directory holding the cluster CA (ca.pem and ca.key).
        #[arg(long)]
        ca: PathBuf,
        /// The node's id (the certificate carries urn:mrouter:node:<id>).
        #[arg(long)]
        node_id: u64,
        /// An address the node is reached at: host name or IP, a port is
        /// ignored (repeat for each, e.g. --san 10.0.0.1 --san node-1.example).
        #[arg(long = "san", required = true)]
        sans: Vec<String>,
        /// Directory to write to (default: the CA directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Replace existing files of this node (rotation).
        #[arg(long)]
        force: bool,
    },
}

/// Why an `mrd tls` command failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsToolError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already exists: refusing to overwrite it{hint}")]
    Exists { path: PathBuf, hint: &'static str },
    #[error("--days must be between 1 and 36500")]
    Days,
    #[error("--node-id must be a positive integer")]
    NodeId,
    #[error("--san {value:?}: {reason}")]
    San { value: String, reason: String },
    #[error("{path}: {reason}")]
    BadCa { path: PathBuf, reason: String },
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsToolError + '_ {
    move |source| TlsToolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs one `mrd tls` command, printing what it wrote.
pub fn run(cmd: TlsCmd) -> Result<(), TlsToolError> {
    match cmd {
        TlsCmd::InitCa { out, days } => {
            let (cert, key) = init_ca(&out, days, now())?;
            println!("wrote the cluster CA certificate to {}", cert.display());
            println!(
                "wrote its private key to {} (mode 0600; needed only to make node certificates)",
                key.display()
            );
            Ok(())
        }
        TlsCmd::NodeCert {
            ca,
            node_id,
            sans,
            out,
            days,
            force,
        } => {
            let out = out.unwrap_or_else(|| ca.clone());
            let (cert, key, sans) = node_cert(&ca, &out, node_id, &sans, days, force, now())?;
            println!(
                "wrote the certificate of node {node_id} ({}) to {}",
                sans.join(", "),
                cert.display()
            );
            println!("wrote its private key to {} (mode 0600)", key.display());
            Ok(())
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn validity(days: u32, now: i64) -> Result<(i64, i64), TlsToolError> {
    if !(1..=36_500).contains(&days) {
        return Err(TlsToolError::Days);
    }
    // A minute back: clocks of a cluster are never quite in step.
    Ok((now - 60, now + i64::from(days) * 86_400))
}

/// Writes `dir/ca.pem` and `dir/ca.key`; returns their paths.
pub fn init_ca(dir: &Path, days: u32, now: i64) -> Result<(PathBuf, PathBuf), TlsToolError> {
    let (not_before, not_after) = validity(days, now)?;
    let cert = dir.join("ca.pem");
    let key = dir.join("ca.key");
    for path in [&cert, &key] {
        if path.exists() {
            return Err(TlsToolError::Exists {
                path: path.clone(),
                hint: "; a new CA means new certificates for every node",
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let ca = pki::new_cluster_ca(not_before, not_after)?;
    write_file(&key, ca.key.to_pem().as_bytes(), 0o600, false)?;
    write_file(
        &cert,
        pki::to_pem("CERTIFICATE", &ca.cert_der).as_bytes(),
        0o644,
        false,
    )?;
    Ok((cert, key))
}

/// Writes `out/node-N.pem` and `out/node-N.key` signed by the CA in
/// `ca_dir`; returns their paths and the SANs as written.
pub fn node_cert(
    ca_dir: &Path,
    out: &Path,
    node_id: u64,
    sans: &[String],
    days: u32,
    force: bool,
    now: i64,
) -> Result<(PathBuf, PathBuf, Vec<String>), TlsToolError> {
    if node_id == 0 {
        return Err(TlsToolError::NodeId);
    }
    let (not_before, not_after) = validity(days, now)?;
    let sans = sans
        .iter()
        .map(|value| parse_san(value))
        .collect::<Result<Vec<San>, _>>()?;
    let cert_path = out.join(format!("node-{node_id}.pem"));
    let key_path = out.join(format!("node-{node_id}.key"));
    if !force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(TlsToolError::Exists {
                    path: path.clone(),
                    hint: "; pass --force to replace it (a running node picks up the new one)",
                });
            }
        }
    }
    let (ca_cert, ca_key) = read_ca(ca_dir)?;
    let issued = pki::new_node_cert(&ca_cert, &ca_key, node_id, &sans, not_before, not_after)?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    // The key first: a node that reloads between the two renames sees a
    // mismatched pair, refuses it, and takes the pair at its next look.
    write_file(&key_path, issued.key.to_pem().as_bytes(), 0o600, force)?;
    write_file(
        &cert_path,
        pki::to_pem("CERTIFICATE", &issued.cert_der).as_bytes(),
        0o644,
        force,
    )?;
    let shown = sans.iter().map(ToString::to_string).collect();
    Ok((cert_path, key_path, shown))
}

/// `host`, `host:port`, `[v6]:port`, `ip:ADDR` or `dns:NAME`.
fn parse_san(value: &str) -> Result<San, TlsToolError> {
    let raw = value.trim();
    let host = if let Ok(addr) = raw.parse::<std::net::SocketAddr>() {
        addr.ip().to_string()
    } else if let Some((host, port)) = raw.rsplit_once(':') {
        let plain_host = !host.contains(':') && !host.contains('[');
        if plain_host
            && !host.is_empty()
            && port.parse::<u16>().is_ok()
            && !raw.starts_with("ip:")
            && !raw.starts_with("dns:")
        {
            host.to_string()
        } else {
            raw.to_string()
        }
    } else {
        raw.to_string()
    };
    San::parse(&host).map_err(|e| TlsToolError::San {
        value: value.to_string(),
        reason: e.to_string(),
    })
}

fn read_ca(dir: &Path) -> Result<(Vec<u8>, PrivateKey), TlsToolError> {
    let cert_path = dir.join("ca.pem");
    let key_path = dir.join("ca.key");
    let bad = |path: &Path, reason: String| TlsToolError::BadCa {
        path: path.to_path_buf(),
        reason,
    };
    let cert_pem = std::fs::read(&cert_path).map_err(io(&cert_path))?;
    let cert = pem::parse(&cert_pem)
        .ok()
        .filter(|p| p.tag() == "CERTIFICATE")
        .ok_or_else(|| bad(&cert_path, "not a PEM certificate".into()))?;
    let key_pem = zeroize::Zeroizing::new(std::fs::read(&key_path).map_err(io(&key_path))?);
    let key = pem::parse(&*key_pem)
        .ok()
        .filter(|p| p.tag() == "PRIVATE KEY")
        .ok_or_else(|| bad(&key_path, "not a PEM PKCS#8 private key".into()))?;
    let key =
        PrivateKey::from_pkcs8_der(key.contents()).map_err(|e| bad(&key_path, e.to_string()))?;
    Ok((cert.contents().to_vec(), key))
}

/// Writes `bytes` to `path` with `mode`: through a temporary file renamed
/// over it, so a reader sees the old file or the new one, never a part.
fn write_file(path: &Path, bytes: &[u8], mode: u32, replace: bool) -> Result<(), TlsToolError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        hex::encode(pki::random_array::<4>())
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        // The umask may have narrowed the mode given at create.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        if replace {
            std::fs::rename(&tmp, path)
        } else {
            // Fails if the file appeared meanwhile.
            std::fs::hard_link(&tmp, path)?;
            std::fs::remove_file(&tmp)
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_take_hosts_with_or_without_ports() {
        let san = |v: &str| parse_san(v).map(|s| s.to_string());
        assert_eq!(san("127.0.0.1:7001").unwrap(), san("127.0.0.1").unwrap());
        assert_eq!(san("[::1]:7001").unwrap(), san("::1").unwrap());
        assert_eq!(
            san("node-1.example:7001").unwrap(),
            san("node-1.example").unwrap()
        );
        assert_eq!(
            san("dns:node-1.example").unwrap(),
            san("node-1.example").unwrap()
        );
        assert!(san("exa mple").is_err());
    }

    #[test]
    fn a_ca_and_node_certificates_are_written_owner_only_and_never_overwritten_unasked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let (ca_pem, ca_key) = init_ca(&ca_dir, 30, now()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ca_key), 0o600);
        assert_eq!(mode(&ca_pem), 0o644);
        let err = init_ca(&ca_dir, 30, now()).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");

        let sans = vec!["127.0.0.1:7001".to_string()];
        let (cert, key, shown) = node_cert(&ca_dir, &ca_dir, 2, &sans, 30, false, now()).unwrap();
        assert_eq!(shown, vec!["ip:127.0.0.1".to_string()]);
        assert_eq!(mode(&key), 0o600);
        let der = pem::parse(std::fs::read(&cert).unwrap()).unwrap();
        assert_eq!(pki::node_id_of(der.contents()), Some(2));
        let ca = pem::parse(std::fs::read(&ca_pem).unwrap()).unwrap();
        pki::verify_signed_by(der.contents(), ca.contents()).unwrap();

        let err = node_cert(&ca_dir, &ca_dir, 2, &sans, 30, false, now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--force"), "{err}");
        node_cert(&ca_dir, &ca_dir, 2, &sans, 30, true, now()).unwrap();
        let replaced = pem::parse(std::fs::read(&cert).unwrap()).unwrap();
        assert_ne!(replaced.contents(), der.contents());

        assert!(matches!(
            node_cert(&ca_dir, &ca_dir, 0, &sans, 30, false, now()),
            Err(TlsToolError::NodeId)
        ));
        assert!(matches!(
            node_cert(&ca_dir, &ca_dir, 3, &sans, 0, false, now()),
            Err(TlsToolError::Days)
        ));
        let missing = node_cert(
            &dir.path().join("none"),
            &ca_dir,
            3,
            &sans,
            30,
            false,
            now(),
        );
        assert!(missing.unwrap_err().to_string().contains("ca.pem"));
    }
}
