//! The cluster TLS that test clusters run with, made with the same code as
//! `mrd tls init-ca` and `mrd tls node-cert`: one cluster CA per build
//! directory, shared by every test process (so the `mrctl` helpers and the
//! channels find it without being told), and a certificate per node per
//! cluster, for 127.0.0.1.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Context, Result};
use mrouter_node::tls_tool;
use mrouter_proto::connect::Connector;

static CA_DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
static API: OnceLock<Connector> = OnceLock::new();

/// The directory holding the tests' cluster CA (`ca.pem`, `ca.key`): made
/// once, beside the binaries under test, and reused by later runs.
pub fn ca_dir() -> &'static Path {
    match CA_DIR.get_or_init(make_ca_dir) {
        Ok(dir) => dir,
        Err(e) => panic!("the tests' cluster CA: {e}"),
    }
}

/// The cluster CA certificate, as `mrctl --cacert` and `tls_ca_file` take it.
pub fn ca_file() -> PathBuf {
    ca_dir().join("ca.pem")
}

fn make_ca_dir() -> Result<PathBuf, String> {
    let bin_dir = crate::binary("mrd")
        .parent()
        .map(Path::to_path_buf)
        .ok_or("mrd has no directory")?;
    let dir = bin_dir.join("mrouter-test-ca");
    if dir.join("ca.pem").exists() {
        return Ok(dir);
    }
    // Made aside and renamed into place: test processes that start at once
    // all end up with the same CA.
    let tmp = bin_dir.join(format!("mrouter-test-ca.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    tls_tool::init_ca(&tmp, 3650, now()).map_err(|e| e.to_string())?;
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if dir.join("ca.pem").exists() {
        Ok(dir)
    } else {
        Err(format!("{} was not created", dir.display()))
    }
}

/// TLS to a node's API, verified against the tests' cluster CA.
pub fn api_connector() -> Connector {
    API.get_or_init(|| {
        let roots = mrouter_proto::connect::read_roots(&ca_file())
            .unwrap_or_else(|e| panic!("the tests' cluster CA: {e}"));
        let config = mrouter_proto::connect::client_config(roots, None)
            .unwrap_or_else(|e| panic!("a TLS client configuration: {e}"));
        Connector::tls(Arc::new(Arc::new(config)))
    })
    .clone()
}

/// A node's certificate and key.
#[derive(Clone, Debug)]
pub struct NodeFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl NodeFiles {
    /// The `mrd run` flags that use them.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--tls-cert-file".into(),
            self.cert.display().to_string(),
            "--tls-key-file".into(),
            self.key.display().to_string(),
            "--tls-ca-file".into(),
            self.ca.display().to_string(),
        ]
    }
}

/// Node `id`'s files under `dir`, signed by the CA in `ca_dir`; made when
/// missing (`replace` makes new ones over old ones, as a rotation does).
pub fn node_files(ca_dir: &Path, dir: &Path, id: u64, replace: bool) -> Result<NodeFiles> {
    let files = NodeFiles {
        cert: dir.join(format!("node-{id}.pem")),
        key: dir.join(format!("node-{id}.key")),
        ca: ca_dir.join("ca.pem"),
    };
    if replace || !files.cert.exists() {
        let sans = ["127.0.0.1".to_string(), "localhost".to_string()];
        tls_tool::node_cert(ca_dir, dir, id, &sans, 30, replace, now())
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("the certificate of node {id}"))?;
    }
    Ok(files)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
