//! Pieces the benchmark binaries share: clients for mrd and etcd writes
//! addressed by sequence number, presence checks, and the RESULT line.

use std::collections::BTreeMap;
use std::time::Duration;

use mrouter_proto::v1::cluster_client::ClusterClient;
use mrouter_proto::v1::settings_client::SettingsClient;
use mrouter_proto::v1::{LookupWriteRequest, SetSettingsRequest};
use tonic::transport::{Channel, Endpoint};

use crate::etcd::{pb, KvClient};

/// A lazily connected channel to each address (reconnects after a restart).
pub fn channels(addrs: &[String]) -> Vec<Channel> {
    addrs
        .iter()
        .map(|a| {
            Endpoint::from_shared(format!("http://{a}"))
                .expect("bench addresses are valid")
                .connect_timeout(Duration::from_millis(300))
                .timeout(Duration::from_secs(3))
                .tcp_nodelay(true)
                .connect_lazy()
        })
        .collect()
}

/// The request id of write number `seq` in run `run`.
pub fn request_id(run: u64, seq: u64) -> Vec<u8> {
    [run.to_be_bytes(), seq.to_be_bytes()].concat()
}

/// One mrd write (a settings change) with an idempotency key derived from `seq`.
pub async fn mrd_write(channel: Channel, run: u64, seq: u64) -> bool {
    SettingsClient::new(channel)
        .set(SetSettingsRequest {
            remote_access_fqdn: Some(format!("w{seq}.bench.example")),
            request_id: request_id(run, seq),
            ..Default::default()
        })
        .await
        .is_ok()
}

pub async fn mrd_present(channel: Channel, run: u64, seq: u64) -> anyhow::Result<bool> {
    let reply = ClusterClient::new(channel)
        .lookup_write(LookupWriteRequest {
            request_id: request_id(run, seq),
        })
        .await?;
    Ok(reply.into_inner().applied)
}

pub async fn etcd_write(channel: Channel, seq: u64) -> bool {
    KvClient::new(channel)
        .put(pb::PutRequest {
            key: format!("bench/{seq:012}").into_bytes(),
            value: vec![b'x'; 32],
        })
        .await
        .is_ok()
}

pub async fn etcd_present(channel: Channel, seq: u64) -> anyhow::Result<bool> {
    let reply = KvClient::new(channel)
        .range(pb::RangeRequest {
            key: format!("bench/{seq:012}").into_bytes(),
            ..Default::default()
        })
        .await?;
    Ok(!reply.into_inner().kvs.is_empty())
}

/// Counts how many of `seqs` `present` finds, 32 checks at a time.
pub async fn count_present<F, Fut>(seqs: &[u64], present: F) -> anyhow::Result<usize>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    use futures::StreamExt;
    let results: Vec<anyhow::Result<bool>> =
        futures::stream::iter(seqs.iter().map(|s| present(*s)))
            .buffer_unordered(32)
            .collect()
            .await;
    let mut found = 0;
    for r in results {
        if r? {
            found += 1;
        }
    }
    Ok(found)
}

/// Prints the closing `RESULT k=v …` line and writes `--json` when asked.
pub fn finish(
    result: &BTreeMap<&str, String>,
    json: Option<&std::path::Path>,
    extra: serde_json::Value,
) -> anyhow::Result<()> {
    if let Some(path) = json {
        let mut doc = serde_json::Map::new();
        for (k, v) in result {
            let value = v
                .parse::<f64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| v.clone().into());
            doc.insert((*k).to_string(), value);
        }
        doc.insert("details".into(), extra);
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    let line: Vec<String> = result.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
    Ok(())
}

pub fn run_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}
