//! Connections to a node, shared by `mrd` (node to node), `mrctl` and the
//! tests: TCP with `TCP_NODELAY`, then TLS (rustls, ALPN `h2`) unless the
//! caller asked for plaintext, then an optional check of the peer's
//! certificate (a node's id) before the connection carries a request.
//!
//! The TLS configuration is read at every connect, so a rotated certificate
//! is used by the next connection while live ones go on.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::codegen::http::Uri;

/// Where a connector gets the TLS configuration for its next connection.
pub trait ClientTlsSource: Send + Sync {
    fn client_config(&self) -> Arc<ClientConfig>;
}

impl ClientTlsSource for Arc<ClientConfig> {
    fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(self)
    }
}

/// A further check of the peer's certificate chain (already verified against
/// the CA and the host name): `Err(reason)` refuses the connection.
pub type PeerCheck = Arc<dyn Fn(&[CertificateDer<'_>]) -> Result<(), String> + Send + Sync>;

/// Why a connection to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{uri} names no host and port")]
    NoAddress { uri: String },
    #[error("cannot connect to {addr}: {source}")]
    Tcp { addr: String, source: io::Error },
    #[error("TLS handshake with {addr} failed: {reason}")]
    Handshake {
        addr: String,
        failure: HandshakeFailure,
        reason: String,
    },
    #[error("{addr} is not the node expected: {reason}")]
    WrongPeer { addr: String, reason: String },
}

/// What a failed handshake means for the person at the keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The server's certificate does not chain to the CA we trust.
    UntrustedServer,
    /// Its certificate does not name the address we dialled.
    NameMismatch,
    /// The server refused our certificate, or asked for one we lack.
    ClientRefused,
    /// What came back was not TLS (a plaintext server).
    NotTls,
    Other,
}

impl ConnectError {
    pub fn handshake_failure(&self) -> Option<HandshakeFailure> {
        match self {
            ConnectError::Handshake { failure, .. } => Some(*failure),
            _ => None,
        }
    }
}

/// A connection, TLS or not.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A tower service from a URI (`https://host:port`) to a connection, for
/// `tonic::transport::Endpoint::connect_with_connector`.
#[derive(Clone)]
pub struct Connector {
    tls: Option<Arc<dyn ClientTlsSource>>,
    check: Option<PeerCheck>,
}

impl Connector {
    /// TLS with the configuration `tls` gives at each connect.
    pub fn tls(tls: Arc<dyn ClientTlsSource>) -> Self {
        Self {
            tls: Some(tls),
            check: None,
        }
    }

    /// Plaintext (only for nodes run with `--insecure`).
    pub fn plaintext() -> Self {
        Self {
            tls: None,
            check: None,
        }
    }

    /// Also runs `check` on the server's certificate chain.
    pub fn with_peer_check(mut self, check: PeerCheck) -> Self {
        self.check = Some(check);
        self
    }

    /// The URI scheme that goes with this connector.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    async fn connect(self, uri: Uri) -> Result<TokioIo<Box<dyn Io>>, ConnectError> {
        let (Some(host), Some(port)) = (uri.host(), uri.port_u16()) else {
            return Err(ConnectError::NoAddress {
                uri: uri.to_string(),
            });
        };
        // An IPv6 host comes bracketed.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addr = format!("{host}:{port}");
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|source| ConnectError::Tcp {
                addr: addr.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = self.tls else {
            return Ok(TokioIo::new(Box::new(tcp)));
        };
        let name = ServerName::try_from(host).map_err(|e| ConnectError::Handshake {
            addr: addr.clone(),
            failure: HandshakeFailure::Other,
            reason: e.to_string(),
        })?;
        let stream = TlsConnector::from(tls.client_config())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                let (failure, reason) = classify(&e);
                ConnectError::Handshake {
                    addr: addr.clone(),
                    failure,
                    reason,
                }
            })?;
        if let Some(check) = &self.check {
            let chain = stream.get_ref().1.peer_certificates().unwrap_or_default();
            check(chain).map_err(|reason| ConnectError::WrongPeer {
                addr: addr.clone(),
                reason,
            })?;
        }
        Ok(TokioIo::new(Box::new(stream)))
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

fn classify(e: &io::Error) -> (HandshakeFailure, String) {
    use rustls::{AlertDescription, CertificateError, Error};
    let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<Error>()) else {
        return match e.kind() {
            // The peer hung up on our ClientHello: not a TLS server, or one
            // that refuses us before saying why.
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => (
                HandshakeFailure::NotTls,
                format!("the connection closed during the handshake ({e})"),
            ),
            _ => (HandshakeFailure::Other, e.to_string()),
        };
    };
    let failure = match tls {
        Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => HandshakeFailure::UntrustedServer,
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => HandshakeFailure::NameMismatch,
        Error::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied,
        ) => HandshakeFailure::ClientRefused,
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => HandshakeFailure::NotTls,
        _ => HandshakeFailure::Other,
    };
    (failure, tls.to_string())
}

/// Why a TLS configuration could not be built from files.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: std::path::PathBuf },
    #[error("{path}: {reason}")]
    BadCertificate {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The CA certificates in a PEM file, as trust roots.
pub fn read_roots(path: &std::path::Path) -> Result<RootCertStore, TlsFileError> {
    let certs = read_certs(path)?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| TlsFileError::BadCertificate {
            path: path.into(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// Every certificate in a PEM file (at least one).
pub fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|source| TlsFileError::Read {
        path: path.into(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsFileError::BadCertificate {
            path: path.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsFileError::NoCertificate { path: path.into() });
    }
    Ok(certs)
}

/// A client configuration: TLS 1.3 first, 1.2 floor, ALPN `h2`, servers
/// verified against `roots`, and our own certificate when `identity` is given.
pub fn client_config(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
