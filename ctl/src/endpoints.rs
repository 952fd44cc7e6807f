//! Reaching the cluster: the first endpoint that answers is used; a call that
//! fails because its node went away is retried on the next one (writes carry a
//! request id, so a retry is applied at most once).

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Result};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

pub struct Endpoints {
    addrs: Vec<String>,
    timeout: Duration,
}

impl Endpoints {
    pub fn new(addrs: Vec<String>, timeout: Duration) -> Result<Self> {
        let addrs: Vec<String> = addrs
            .into_iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        if addrs.is_empty() {
            return Err(anyhow!(
                "no endpoints given: pass --endpoints host:port,… or set MRCTL_ENDPOINTS"
            ));
        }
        Ok(Self { addrs, timeout })
    }

    fn endpoint(&self, addr: &str) -> Result<Endpoint> {
        let uri = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        Ok(Endpoint::from_shared(uri)
            .map_err(|e| anyhow!("endpoint {addr:?} is not a valid address: {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(self.timeout))
    }

    /// Runs `call` against the first endpoint that answers.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut failures = Vec::new();
        for addr in &self.addrs {
            let channel = match self.endpoint(addr)?.connect().await {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{addr} ({})", source_text(&e)));
                    continue;
                }
            };
            match call(channel).await {
                Ok(v) => return Ok(v),
                Err(status) if node_went_away(&status) => {
                    failures.push(format!("{addr} ({})", status.message()))
                }
                Err(status) => return Err(status_error(status)),
            }
        }
        Err(anyhow!("no endpoint answered: {}", failures.join(", ")))
    }
}

fn node_went_away(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.source().is_some()
        || status.code() == Code::Unknown && status.message().contains("transport")
}

fn source_text(e: &tonic::transport::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

/// "INVALID_ARGUMENT: …": the code a script can match, then the reason.
pub fn status_error(status: Status) -> anyhow::Error {
    let code = match status.code() {
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
    };
    anyhow!("{code}: {}", status.message())
}
