//! Reaching the cluster: the first endpoint that answers is used; a call that
//! fails because its node went away (dead, paused, or removed from the
//! cluster) is retried on the next one (writes carry a request id, so a retry
//! is applied at most once).
//!
//! A paused node accepts TCP connections (the kernel answers) but never
//! speaks HTTP/2, so connecting is bounded by [`CONNECT_TIMEOUT`] and a
//! connection whose peer stops answering HTTP/2 pings is dropped after
//! [`LIVENESS`]: about a Raft election, not the whole `--timeout`.
//!
//! Every connection is TLS, the node verified against `--cacert`, unless
//! `--plaintext` says the nodes run with `--insecure`.

use std::collections::HashMap;
use std::error::Error as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

use anyhow::{anyhow, bail, Context as _, Result};
use mrouter_proto::connect::{ConnectError, Connector, HandshakeFailure};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// How long a TCP connect plus the HTTP/2 handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Idle time after which an HTTP/2 ping is sent, and how long its answer may
/// take: a node that answers no ping for this long is treated as gone.
const PING_INTERVAL: Duration = Duration::from_millis(500);
const LIVENESS: Duration = Duration::from_millis(1000);

/// Metadata key a node sets on every refusal after it was removed from the
/// cluster (see `mrouter_node::api::removed`).
const REMOVED_KEY: &str = "mrouter-node-removed";
/// Metadata key a node sets when a write's commit is unknown (the leader
/// changed): the same request, under the same request id, is sent again.
const RETRY_SAME_KEY: &str = "mrouter-retry-same-request";
/// How often such a write is sent again before its error is shown.
const SAME_REQUEST_RETRIES: u32 = 3;

/// How mrctl speaks to the nodes.
#[derive(Clone)]
pub enum Transport {
    /// TLS, each node's certificate verified against the CA in `cacert`.
    Tls {
        cacert: PathBuf,
        config: Arc<rustls::ClientConfig>,
    },
    /// Plaintext gRPC, for nodes run with `--insecure`.
    Plaintext,
}

impl Transport {
    /// From `--cacert FILE` / `--plaintext`: exactly one of them.
    pub fn from_flags(cacert: Option<&Path>, plaintext: bool) -> Result<Self> {
        match (cacert, plaintext) {
            (Some(_), true) => bail!(
                "--cacert and --plaintext (or MRCTL_CACERT and MRCTL_PLAINTEXT) contradict each \
                 other: give one"
            ),
            (None, true) => Ok(Transport::Plaintext),
            (None, false) => bail!(
                "the cluster's API is TLS: pass --cacert FILE (or set MRCTL_CACERT) with the \
                 cluster CA certificate; `mrd dev` prints where it is (mrouter-dev/tls/ca.pem). \
                 For nodes run with --insecure, pass --plaintext"
            ),
            (Some(path), false) => {
                let roots = mrouter_proto::connect::read_roots(path)
                    .with_context(|| "--cacert (MRCTL_CACERT)".to_string())?;
                let config = mrouter_proto::connect::client_config(roots, None)
                    .context("--cacert: cannot build a TLS configuration")?;
                Ok(Transport::Tls {
                    cacert: path.to_path_buf(),
                    config: Arc::new(config),
                })
            }
        }
    }

    fn connector(&self) -> Connector {
        match self {
            Transport::Tls { config, .. } => Connector::tls(Arc::new(Arc::clone(config))),
            Transport::Plaintext => Connector::plaintext(),
        }
    }

    /// A failed connect, with what to do about it.
    fn explain(&self, e: &tonic::transport::Error) -> String {
        let mut source = std::error::Error::source(e);
        let mut innermost = e.to_string();
        while let Some(s) = source {
            if let Some(connect) = s.downcast_ref::<ConnectError>() {
                return self.explain_connect(connect);
            }
            innermost = s.to_string();
            source = s.source();
        }
        format!("{innermost}{}", self.hangup_hint())
    }

    /// What a hang-up may mean: a TLS node closes on a plaintext client
    /// once it has read the client's first bytes, which is after connecting.
    fn hangup_hint(&self) -> &'static str {
        match self {
            Transport::Plaintext => {
                "; if the node uses TLS, pass --cacert FILE instead of --plaintext"
            }
            Transport::Tls { .. } => "",
        }
    }

    fn explain_connect(&self, e: &ConnectError) -> String {
        let ConnectError::Handshake {
            failure, reason, ..
        } = e
        else {
            return match e {
                ConnectError::Tcp { source, .. } => source.to_string(),
                other => other.to_string(),
            };
        };
        let cacert = match self {
            Transport::Tls { cacert, .. } => cacert.display().to_string(),
            Transport::Plaintext => String::new(),
        };
        match failure {
            HandshakeFailure::UntrustedServer => format!(
                "{reason}: the node's certificate is not signed by the CA in --cacert {cacert}; \
                 give this cluster's CA certificate"
            ),
            HandshakeFailure::NameMismatch => format!(
                "{reason}: the node's certificate does not name this address; use an address \
                 it was issued for (`mrd tls node-cert --san`)"
            ),
            HandshakeFailure::NotTls => format!(
                "{reason}: the node does not speak TLS; if it runs with --insecure, pass \
                 --plaintext"
            ),
            HandshakeFailure::ClientRefused | HandshakeFailure::Other => reason.clone(),
        }
    }
}

pub struct Endpoints {
    addrs: Vec<String>,
    timeout: Duration,
    transport: Transport,
    /// One connection per endpoint for the whole command, shared with the
    /// [`Endpoints::only`] views of it; a cell per address so concurrent
    /// calls wait for one connect instead of each opening their own.
    channels: Arc<Mutex<HashMap<String, Arc<OnceCell<Channel>>>>>,
    /// The endpoint that answered last: tried first by the next call.
    preferred: Mutex<usize>,
}

impl Endpoints {
    pub fn new(addrs: Vec<String>, timeout: Duration, transport: Transport) -> Result<Self> {
        let addrs: Vec<String> = addrs
            .into_iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        if addrs.is_empty() {
            bail!("no endpoints given: pass --endpoints host:port,… or set MRCTL_ENDPOINTS");
        }
        for addr in &addrs {
            check_addr(addr)?;
        }
        if timeout.is_zero() {
            bail!("--timeout must be at least 1 second");
        }
        Ok(Self {
            addrs,
            timeout,
            transport,
            channels: Arc::default(),
            preferred: Mutex::new(0),
        })
    }

    /// Endpoints of just `addr`, with the same timeout and the same
    /// connections: to ask one node.
    pub fn only(&self, addr: &str) -> Result<Endpoints> {
        let mut one = Endpoints::new(vec![addr.to_string()], self.timeout, self.transport.clone())?;
        one.channels = Arc::clone(&self.channels);
        Ok(one)
    }

    fn endpoint(&self, addr: &str) -> Result<Endpoint> {
        let scheme = match self.transport {
            Transport::Tls { .. } => "https",
            Transport::Plaintext => "http",
        };
        Ok(Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| anyhow!("endpoint {addr:?} is not a valid address: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(PING_INTERVAL)
            .keep_alive_timeout(LIVENESS)
            .keep_alive_while_idle(true)
            .timeout(self.timeout))
    }

    async fn channel(&self, addr: &str) -> Result<Channel, String> {
        let cell = Arc::clone(self.lock_channels().entry(addr.to_string()).or_default());
        let connect = || async {
            let endpoint = self.endpoint(addr).map_err(|e| e.to_string())?;
            // connect_timeout bounds the TCP connect only; a paused node
            // accepts that and then stays silent.
            let connect = endpoint.connect_with_connector(self.transport.connector());
            match tokio::time::timeout(CONNECT_TIMEOUT + LIVENESS, connect).await {
                Ok(Ok(ch)) => Ok(ch),
                Ok(Err(e)) => Err(self.transport.explain(&e)),
                Err(_) => Err(format!("no answer within {:?}", CONNECT_TIMEOUT + LIVENESS)),
            }
        };
        // A failed connect leaves the cell empty: the next call tries again.
        cell.get_or_try_init(connect).await.cloned()
    }

    /// Forgets the connection to `addr` (its node went away): the next call
    /// connects afresh.
    fn drop_channel(&self, addr: &str) {
        self.lock_channels().remove(addr);
    }

    fn lock_channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<Channel>>>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `call` against the first endpoint that answers, starting with the
    /// one that answered last.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut retries = 0;
        loop {
            match self.call_once(&mut call).await {
                Err(Failure::CommitUnknown(_)) if retries < SAME_REQUEST_RETRIES => {
                    retries += 1;
                    eprintln!(
                        "mrctl: the leader changed before the write was known to commit; sending it again with the same request id ({retries}/{SAME_REQUEST_RETRIES})"
                    );
                    tokio::time::sleep(Duration::from_millis(300 * u64::from(retries))).await;
                }
                Err(Failure::CommitUnknown(status)) => return Err(status_error(status)),
                Err(Failure::Other(e)) => return Err(e),
                Ok(v) => return Ok(v),
            }
        }
    }

    /// One pass over the endpoints.
    async fn call_once<T, F, Fut>(&self, call: &mut F) -> Result<T, Failure>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let first = *self.preferred.lock().unwrap_or_else(|e| e.into_inner());
        let order = (0..self.addrs.len()).map(|i| (first + i) % self.addrs.len());
        let mut failures = Vec::new();
        let mut removed = None;
        for i in order {
            let addr = &self.addrs[i];
            let channel = match self.channel(addr).await {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{addr} ({e})"));
                    continue;
                }
            };
            match call(channel).await {
                Ok(v) => {
                    *self.preferred.lock().unwrap_or_else(|e| e.into_inner()) = i;
                    return Ok(v);
                }
                Err(status) if was_removed(&status) => {
                    failures.push(format!("{addr} ({})", status.message()));
                    removed = Some(status);
                }
                Err(status) if node_went_away(&status) => {
                    self.drop_channel(addr);
                    failures.push(format!(
                        "{addr} ({}{})",
                        status.message(),
                        self.transport.hangup_hint()
                    ))
                }
                Err(status) if status.metadata().get(RETRY_SAME_KEY).is_some() => {
                    return Err(Failure::CommitUnknown(status));
                }
                Err(status) => return Err(Failure::Other(status_error(status))),
            }
        }
        Err(Failure::Other(match removed {
            // Every endpoint given is a removed node: say exactly that.
            Some(status) if failures.len() == 1 => status_error(status),
            _ => anyhow!("no endpoint answered: {}", failures.join(", ")),
        }))
    }
}

/// Why one pass over the endpoints failed.
enum Failure {
    /// A write whose commit is unknown: safe to send again as it was.
    CommitUnknown(Status),
    Other(anyhow::Error),
}

/// `host:port` with a port from 1 to 65535; no scheme (TLS or not is
/// `--cacert` or `--plaintext`, so `http://` would silently not be what it says).
fn check_addr(addr: &str) -> Result<()> {
    if let Some((scheme, _)) = addr.split_once("://") {
        bail!(
            "endpoint {addr:?}: a scheme ({scheme}://) is not supported; give host:port (TLS \
             is set by --cacert, plaintext by --plaintext)"
        );
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        bail!("endpoint {addr:?} is not host:port (like 127.0.0.1:7001)");
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("endpoint {addr:?} has no host: give host:port (like 127.0.0.1:7001)");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => bail!("endpoint {addr:?}: the port must be a number from 1 to 65535"),
    }
}

fn node_went_away(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.source().is_some()
        // What came back was not HTTP/2 (a TLS node's alert to a plaintext
        // client): this connection is no use, another endpoint may be.
        || status.message().contains("h2 protocol error")
        || status.code() == Code::Unknown && status.message().contains("transport")
        || status.code() == Code::Cancelled && status.message().contains("keep-alive")
}

fn was_removed(status: &Status) -> bool {
    status.metadata().get(REMOVED_KEY).is_some()
}

/// "INVALID_ARGUMENT: …": the code a script can match, then the reason.
pub fn status_error(status: Status) -> anyhow::Error {
    anyhow::Error::new(CallError {
        code: code_name(status.code()),
        message: status.message().to_string(),
    })
}

/// A refusal by the cluster: its gRPC code and message. Shown with the
/// `mrctl` flags that the request fields it names correspond to.
#[derive(Debug)]
pub struct CallError {
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        let hints = flag_hints(&self.message);
        if !hints.is_empty() {
            write!(f, " (mrctl: {})", hints.join("; "))?;
        }
        Ok(())
    }
}

impl std::error::Error for CallError {}

/// The node names request fields ("set replace"); these are the `mrctl`
/// flags and commands that set them.
fn flag_hints(message: &str) -> Vec<&'static str> {
    const HINTS: &[(&str, &str)] = &[
        ("confirm_invalidate_clients", "pass --yes to confirm"),
        ("set replace", "--replace"),
        ("replace set", "--replace"),
        ("reprovision it", "mrctl client reprovision ID"),
        ("send a CSR", "--csr"),
        ("subject.common_name", "--cn"),
        (
            "cluster_domain setting",
            "mrctl settings set --cluster-domain",
        ),
        (
            "virtual_address setting",
            "mrctl settings set --virtual-address IP",
        ),
        ("sans.add", "--san"),
        ("the password field", "--password-file FILE"),
    ];
    let mut hints: Vec<&str> = HINTS
        .iter()
        .filter(|(field, _)| message.contains(field))
        .map(|(_, flag)| *flag)
        .collect();
    hints.dedup();
    hints
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::Unavailable => "UNAVAILABLE",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::Unauthenticated => "UNAUTHENTICATED",
        Code::DataLoss => "DATA_LOSS",
        _ => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_with_a_bad_port_or_a_scheme_are_refused_before_connecting() {
        let refused = |a: &str| {
            Endpoints::new(vec![a.into()], Duration::from_secs(1), Transport::Plaintext)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(refused("127.0.0.1:99999").contains("from 1 to 65535"));
        assert!(refused("127.0.0.1:0").contains("from 1 to 65535"));
        assert!(refused("127.0.0.1").contains("host:port"));
        assert!(refused("https://127.0.0.1:7001").contains("scheme"));
        assert!(refused(":7001").contains("no host"));
        assert!(Endpoints::new(
            vec!["[::1]:7001".into()],
            Duration::from_secs(1),
            Transport::Plaintext
        )
        .is_ok());
        assert!(Endpoints::new(
            vec!["node-1.example:7001".into()],
            Duration::from_secs(1),
            Transport::Plaintext
        )
        .is_ok());
        let zero = Endpoints::new(
            vec!["127.0.0.1:7001".into()],
            Duration::ZERO,
            Transport::Plaintext,
        );
        assert!(zero
            .err()
            .is_some_and(|e| e.to_string().contains("--timeout")));
    }

    #[test]
    fn the_transport_is_tls_with_a_ca_or_plaintext_by_choice_never_by_default() {
        let err = |cacert: Option<&Path>, plaintext| {
            Transport::from_flags(cacert, plaintext)
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default()
        };
        assert!(
            err(None, false).contains("--cacert FILE"),
            "{}",
            err(None, false)
        );
        assert!(err(Some(Path::new("ca.pem")), true).contains("contradict"));
        let missing = err(Some(Path::new("/nonexistent/ca.pem")), false);
        assert!(
            missing.contains("--cacert") && missing.contains("/nonexistent/ca.pem"),
            "{missing}"
        );
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        assert!(err(Some(&not_pem), false).contains("no PEM certificate"));
        assert!(matches!(
            Transport::from_flags(None, true),
            Ok(Transport::Plaintext)
        ));
    }

    #[test]
    fn a_refusal_names_the_mrctl_flags_for_the_fields_it_names() {
        let err = status_error(Status::already_exists(
            "client a is already provisioned: set replace to issue it a new certificate, or reprovision it",
        ));
        assert_eq!(
            err.to_string(),
            "ALREADY_EXISTS: client a is already provisioned: set replace to issue it a new certificate, or reprovision it (mrctl: --replace; mrctl client reprovision ID)"
        );
        let plain = status_error(Status::not_found("client \"x\" is not provisioned"));
        assert!(!plain.to_string().contains("mrctl:"), "{plain}");
        let call = plain.downcast_ref::<CallError>().unwrap();
        assert_eq!(call.code, "NOT_FOUND");
    }

    fn commit_unknown() -> Status {
        let mut status =
            Status::unavailable("the leader changed before this write was known to commit");
        status.metadata_mut().insert(
            RETRY_SAME_KEY,
            tonic::metadata::MetadataValue::from_static("1"),
        );
        status
    }

    /// Regression (issue 14): a write whose commit was unknown after a
    /// leader change surfaced as an error; it is sent again, as it was.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_whose_commit_is_unknown_is_sent_again_as_it_was() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let (_reporter, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve(addr),
        );
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let endpoints = Endpoints::new(
            vec![addr.to_string()],
            Duration::from_secs(5),
            Transport::Plaintext,
        )
        .unwrap();
        let sent = std::sync::atomic::AtomicU32::new(0);
        let answer = endpoints
            .call(|_channel| {
                let n = sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(commit_unknown())
                    } else {
                        Ok(n)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(answer, 2, "answered by the third sending");

        // Not forever: after the retries the error is shown.
        let sent = std::sync::atomic::AtomicU32::new(0);
        let err = endpoints
            .call(|_channel| {
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { Err::<(), _>(commit_unknown()) }
            })
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("UNAVAILABLE"), "{err}");
        assert_eq!(
            sent.load(std::sync::atomic::Ordering::SeqCst),
            SAME_REQUEST_RETRIES + 1
        );

        // Other errors are not retried.
        let sent = std::sync::atomic::AtomicU32::new(0);
        let _ = endpoints
            .call(|_channel| {
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { Err::<(), _>(Status::invalid_argument("bad")) }
            })
            .await;
        assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// Issue 15: one command opens one connection per endpoint, also when it
    /// asks a node directly (`only`) or several calls start at once.
    #[tokio::test(flavor = "current_thread")]
    async fn one_command_opens_one_connection_per_endpoint() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = Arc::clone(&accepted);
        let incoming = futures::stream::unfold(listener, move |listener| {
            let counter = Arc::clone(&counter);
            async move {
                let conn = listener.accept().await.map(|(stream, _)| stream);
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Some((conn, listener))
            }
        });
        let (_reporter, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(incoming),
        );
        let check = |ch: Channel| async move {
            tonic_health::pb::health_client::HealthClient::new(ch)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
        };
        let endpoints = Endpoints::new(
            vec![addr.clone()],
            Duration::from_secs(5),
            Transport::Plaintext,
        )
        .unwrap();
        let at_once = futures::future::join_all((0..4).map(|_| endpoints.call(check))).await;
        assert!(at_once.iter().all(|r| r.is_ok()), "{at_once:?}");
        endpoints.call(check).await.unwrap();
        let one = endpoints.only(&addr).unwrap();
        one.call(check).await.unwrap();
        one.call(check).await.unwrap();
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
