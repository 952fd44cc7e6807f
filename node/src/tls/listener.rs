//! One router listener: TLS 1.3 (1.2 floor) with mutual TLS, serving a small
//! HTTPS API to provisioned clients. `GET /v1/session` says who the client is
//! and which node and slot served it; `GET /healthz`; `GET /crl.pem`.
//!
//! The listener owns its connections: dropping the `serve` future (closing
//! a virtual listener when leadership moves) closes them too. Certificates
//! are swapped by the resolver at the next handshake, so established
//! connections are untouched by an activation.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::client_verifier::ClientVerifier;
use super::slot_resolver::SlotResolver;
use crate::certstore::CertStore;
use crate::domain::SlotId;
use crate::pki;

/// A handshake that has not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every listener of a node shares.
pub struct ListenerContext {
    pub node_id: u64,
    pub certs: Arc<CertStore>,
}

/// The rustls configuration of a listener for one slot, rebuilt when the CA
/// epoch moves so the certificate request names the current CA.
pub struct ListenerTls {
    provider: Arc<CryptoProvider>,
    resolver: Arc<SlotResolver>,
    verifier: Arc<ClientVerifier>,
    built: Mutex<Option<(u64, Arc<ServerConfig>)>>,
}

impl ListenerTls {
    pub fn new(
        provider: Arc<CryptoProvider>,
        resolver: Arc<SlotResolver>,
        verifier: Arc<ClientVerifier>,
    ) -> Result<Self, rustls::Error> {
        let tls = Self {
            provider,
            resolver,
            verifier,
            built: Mutex::new(None),
        };
        tls.config()?; // refuses a bad configuration at bind, not per connection
        Ok(tls)
    }

    /// The configuration for a connection accepted now.
    pub fn config(&self) -> Result<Arc<ServerConfig>, rustls::Error> {
        let (epoch, verifier) = self.verifier.naming_current_ca();
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, config)) = built.as_ref().filter(|(e, _)| *e == epoch) {
            return Ok(config.clone());
        }
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        *built = Some((epoch, config.clone()));
        Ok(config)
    }
}

/// Accepts connections on `listener` until the future is dropped.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ListenerTls>,
    slot: SlotId,
    ctx: Arc<ListenerContext>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let acceptor = match tls.config() {
                    Ok(config) => TlsAcceptor::from(config),
                    Err(e) => {
                        tracing::error!(%slot, error = %e, "cannot configure TLS for a connection");
                        continue;
                    }
                };
                let ctx = ctx.clone();
                connections.spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                        return;
                    };
                    let (_, session) = tls.get_ref();
                    let client = session
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| pki::client_identity(c).ok())
                        .map(|(id, _)| id);
                    let tls_version = session
                        .protocol_version()
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string();
                    let session = Arc::new(Session { client, tls_version, slot, ctx });
                    let service = hyper::service::service_fn(move |req| {
                        let session = session.clone();
                        async move { session.respond(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One authenticated connection.
struct Session {
    client: Option<String>,
    tls_version: String,
    slot: SlotId,
    ctx: Arc<ListenerContext>,
}

impl Session {
    async fn respond(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        if req.method() != Method::GET {
            return Ok(reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "GET only\n",
            ));
        }
        Ok(match req.uri().path() {
            "/v1/session" => match &self.client {
                Some(id) => {
                    let body = serde_json::json!({
                        "client_id": id,
                        "node_id": self.ctx.node_id,
                        "slot": self.slot.kind.as_str(),
                        "tls_version": self.tls_version,
                    });
                    reply(StatusCode::OK, "application/json", format!("{body}\n"))
                }
                None => reply(
                    StatusCode::UNAUTHORIZED,
                    "text/plain",
                    "no client certificate\n",
                ),
            },
            "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n"),
            "/crl.pem" => match self.ctx.certs.crl().await {
                Ok((der, _)) => reply(
                    StatusCode::OK,
                    "application/pkix-crl",
                    pki::to_pem("X509 CRL", &der),
                ),
                Err(e) => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!("{e}\n"),
                ),
            },
            _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        })
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let value = |v: &'static str| hyper::header::HeaderValue::from_static(v);
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_str(content_type).unwrap_or_else(|_| value("text/plain")),
    );
    headers.insert(
        hyper::header::STRICT_TRANSPORT_SECURITY,
        value("max-age=31536000"),
    );
    headers.insert(hyper::header::X_FRAME_OPTIONS, value("DENY"));
    headers.insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        value("frame-ancestors 'none'"),
    );
    response
}
