//! The gRPC port's connections: accepted, TLS-handshaken off the accept
//! loop (bounded in time and number, so a slow or silent client holds up no
//! one), and labelled with who is on the other end: a node of this cluster
//! (by its certificate's node id), anyone else, or anyone at all on an
//! `--insecure` node. Handlers read the label from the request's extensions.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::Connected;

use super::node_tls::NodeTls;

/// A handshake not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait to start theirs.
const HANDSHAKES: usize = 256;

/// Who is on the other end of a gRPC connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAuth {
    /// This node runs `--insecure`: nobody is authenticated.
    Insecure,
    /// A TLS client with a certificate of the cluster CA naming this node id.
    Node(u64),
    /// A TLS client without a node certificate (`mrctl`, say).
    NoNodeCert,
}

/// Set on every request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct PeerInfo {
    pub remote: Option<SocketAddr>,
    pub auth: PeerAuth,
}

/// One accepted connection.
pub enum GrpcConn {
    Plain(TcpStream, PeerInfo),
    Tls(Box<TlsStream<TcpStream>>, PeerInfo),
}

impl Connected for GrpcConn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        match self {
            GrpcConn::Plain(_, info) | GrpcConn::Tls(_, info) => *info,
        }
    }
}

/// The connections `listener` accepts, with TLS when `tls` is given.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<NodeTls>>,
) -> impl Stream<Item = Result<GrpcConn, io::Error>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<GrpcConn>(64);
    tokio::spawn(accept_loop(listener, tls, tx));
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|conn| (Ok(conn), rx))
    })
}

async fn accept_loop(listener: TcpListener, tls: Option<Arc<NodeTls>>, tx: mpsc::Sender<GrpcConn>) {
    let permits = Arc::new(Semaphore::new(HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // The server stopped: stop accepting, which closes the port.
            _ = tx.closed() => return,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "accepting a gRPC connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small request/response messages: without TCP_NODELAY, Nagle plus
        // delayed ACKs add tens of milliseconds at moderate concurrency.
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &tls else {
            let info = PeerInfo {
                remote: Some(remote),
                auth: PeerAuth::Insecure,
            };
            if tx.send(GrpcConn::Plain(tcp, info)).await.is_err() {
                return;
            }
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let acceptor = TlsAcceptor::from(tls.server_config());
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let auth = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|leaf| crate::pki::node_id_of(leaf))
                        .map_or(PeerAuth::NoNodeCert, PeerAuth::Node);
                    let info = PeerInfo {
                        remote: Some(remote),
                        auth,
                    };
                    let _ = tx.send(GrpcConn::Tls(Box::new(stream), info)).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "gRPC TLS handshake failed (a plaintext or untrusted client?)");
                }
                Err(_) => {
                    tracing::debug!(%remote, "gRPC TLS handshake timed out");
                }
            }
        });
    }
}

impl AsyncRead for GrpcConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            GrpcConn::Plain(s, _) => Pin::new(s).poll_read(cx, buf),
            GrpcConn::Tls(s, _) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for GrpcConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            GrpcConn::Plain(s, _) => Pin::new(s).poll_write(cx, buf),
            GrpcConn::Tls(s, _) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            GrpcConn::Plain(s, _) => Pin::new(s).poll_write_vectored(cx, bufs),
            GrpcConn::Tls(s, _) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            GrpcConn::Plain(s, _) => s.is_write_vectored(),
            GrpcConn::Tls(s, _) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            GrpcConn::Plain(s, _) => Pin::new(s).poll_flush(cx),
            GrpcConn::Tls(s, _) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            GrpcConn::Plain(s, _) => Pin::new(s).poll_shutdown(cx),
            GrpcConn::Tls(s, _) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
