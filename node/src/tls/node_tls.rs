//! The node's own TLS: its certificate and key, and the cluster CA its
//! peers must chain to, read from the files the configuration names. The
//! server side serves the API (a client certificate is optional there) and
//! the node-to-node service (which then requires one, see
//! `raft::service`); the client side dials peers with the node certificate.
//!
//! The files are read again on SIGHUP and when they change (checked every
//! [`POLL`]): new connections use the new certificate while established ones,
//! Raft's among them, go on. A bad new set is logged and the old one kept.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use mrouter_proto::connect::{read_certs, read_roots, ClientTlsSource, TlsFileError};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};

use crate::config::{check_owner_only, KeyFileError, TlsFiles};
use crate::pki;

/// How often the files are checked for a change.
const POLL: Duration = Duration::from_secs(2);
/// A node certificate this close to its end is warned about at every load.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NodeTlsError {
    #[error(transparent)]
    File(#[from] TlsFileError),
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error("tls_key_file {path}: no PEM private key in it ({reason})")]
    Key { path: String, reason: String },
    #[error("tls_cert_file {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("tls_cert_file {path} is for {named}, but this is node {node_id}: make one with `mrd tls node-cert --node-id {node_id}`")]
    OtherNode {
        path: String,
        named: String,
        node_id: u64,
    },
    #[error("tls_cert_file {cert} is not signed by the cluster CA in tls_ca_file {ca}")]
    NotFromCa { cert: String, ca: String },
    #[error("tls_cert_file {path} expired at {at}")]
    Expired { path: String, at: String },
    #[error("TLS configuration from {cert} and {key}: {source}")]
    Config {
        cert: String,
        key: String,
        source: rustls::Error,
    },
}

/// One consistent reading of the files.
struct Loaded {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// The node's TLS configuration, replaced whole when its files change.
pub struct NodeTls {
    node_id: u64,
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<Loaded>>,
    /// The files' state at the last load attempt, good or bad.
    seen: Mutex<Stamp>,
}

/// What identifies a version of the three files: their SHA-256 (a
/// timestamp can miss a rewrite within the same clock tick).
type Stamp = [Option<[u8; 32]>; 3];

impl NodeTls {
    /// Reads and checks the files; any problem refuses the start.
    pub fn load(node_id: u64, files: TlsFiles) -> Result<Arc<Self>, NodeTlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let seen = stamp(&files);
        let loaded = read(node_id, &files, &provider)?;
        Ok(Arc::new(Self {
            node_id,
            files,
            provider,
            current: RwLock::new(Arc::new(loaded)),
            seen: Mutex::new(seen),
        }))
    }

    /// The configuration for a connection accepted now.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .server
            .clone()
    }

    /// Reads the files again when they changed since the last attempt (or
    /// always, with `force`). `Ok(true)`: a new configuration is in use.
    pub fn reload(&self, force: bool) -> Result<bool, NodeTlsError> {
        let now = stamp(&self.files);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *seen == now {
                return Ok(false);
            }
            *seen = now;
        }
        let loaded = read(self.node_id, &self.files, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(true)
    }

    /// Reloads on SIGHUP and on a change of the files, until the runtime ends.
    pub fn watch(self: &Arc<Self>) {
        use tokio::signal::unix::{signal, SignalKind};
        let tls = Arc::clone(self);
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: TLS files are reloaded on change only");
                None
            }
        };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let force = tokio::select! {
                    _ = tick.tick() => false,
                    Some(()) = async { match hangup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    } } => true,
                };
                match tls.reload(force) {
                    Ok(true) => tracing::info!(
                        cert = %tls.files.cert.display(),
                        "TLS files reloaded: new connections use them"
                    ),
                    Ok(false) => {}
                    Err(e) => tracing::error!(
                        error = %e,
                        "TLS files not reloaded; the previous certificate stays in use"
                    ),
                }
            }
        });
    }
}

impl ClientTlsSource for NodeTls {
    fn client_config(&self) -> Arc<ClientConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .client
            .clone()
    }
}

fn stamp(files: &TlsFiles) -> Stamp {
    use aws_lc_rs::digest::{digest, SHA256};
    [&files.cert, &files.key, &files.ca].map(|path| {
        let bytes = zeroize::Zeroizing::new(std::fs::read(path).ok()?);
        digest(&SHA256, &bytes).as_ref().try_into().ok()
    })
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn read(
    node_id: u64,
    files: &TlsFiles,
    provider: &Arc<CryptoProvider>,
) -> Result<Loaded, NodeTlsError> {
    check_owner_only("TLS key file", &files.key)?;
    let chain = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let ca = read_certs(&files.ca)?;
    check_node_cert(node_id, files, &chain[0], &ca)?;
    let config_error = |source| NodeTlsError::Config {
        cert: shown(&files.cert),
        key: shown(&files.key),
        source,
    };

    let roots = Arc::new(read_roots(&files.ca)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| config_error(rustls::Error::General(e.to_string())))?;
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(config_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(config_error)?;
    server.alpn_protocols = vec![b"h2".to_vec()];

    let client = mrouter_proto::connect::client_config((*roots).clone(), Some((chain, key)))
        .map_err(config_error)?;
    Ok(Loaded {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, NodeTlsError> {
    // The key's bytes never reach an error message: only the parser's reason.
    PrivateKeyDer::from_pem_file(path).map_err(|e| NodeTlsError::Key {
        path: shown(path),
        reason: match e {
            rustls::pki_types::pem::Error::Io(e) => e.to_string(),
            rustls::pki_types::pem::Error::NoItemsFound => "none found".into(),
            _ => "not valid PEM".into(),
        },
    })
}

/// The certificate names this node and was signed by the cluster CA, and
/// has not expired.
fn check_node_cert(
    node_id: u64,
    files: &TlsFiles,
    leaf: &CertificateDer<'_>,
    ca: &[CertificateDer<'_>],
) -> Result<(), NodeTlsError> {
    let facts = pki::node_cert(leaf).map_err(|e| NodeTlsError::Cert {
        path: shown(&files.cert),
        reason: e.to_string(),
    })?;
    if facts.node_id != Some(node_id) {
        return Err(NodeTlsError::OtherNode {
            path: shown(&files.cert),
            named: match facts.node_id {
                Some(id) => format!("node {id}"),
                None => format!(
                    "no node ({}; no {}N URI)",
                    facts.subject,
                    pki::NODE_URI_PREFIX
                ),
            },
            node_id,
        });
    }
    if !ca.iter().any(|ca| pki::verify_signed_by(leaf, ca).is_ok()) {
        return Err(NodeTlsError::NotFromCa {
            cert: shown(&files.cert),
            ca: shown(&files.ca),
        });
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let at = time::OffsetDateTime::from_unix_timestamp(facts.not_after)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| facts.not_after.to_string());
    if facts.not_after <= now {
        return Err(NodeTlsError::Expired {
            path: shown(&files.cert),
            at,
        });
    }
    if facts.not_after - now < EXPIRY_WARNING.as_secs() as i64 {
        tracing::warn!(
            cert = %files.cert.display(),
            expires = %at,
            "the node certificate expires soon: make a new one with `mrd tls node-cert --force`; it is picked up without a restart"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
