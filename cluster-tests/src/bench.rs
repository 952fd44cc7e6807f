//! Pieces the benchmark binaries share: clients for mrd and etcd writes
//! addressed by sequence number, presence checks, the router PKI the TLS
//! benchmarks need (CA, router certificates, a client's files), CPU time
//! from `/proc` (where the cycles went, and whether anything else ran), and
//! the RESULT line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mrouter_proto::connect::Connector;
use mrouter_proto::v1::certificate_authority_client::CertificateAuthorityClient;
use mrouter_proto::v1::clients_client::ClientsClient;
use mrouter_proto::v1::cluster_client::ClusterClient;
use mrouter_proto::v1::router_certificates_client::RouterCertificatesClient;
use mrouter_proto::v1::settings_client::SettingsClient;
use mrouter_proto::v1::{
    GenerateCaRequest, GenerateCertRequest, LookupWriteRequest, ProvisionRequest,
    SetSettingsRequest, SlotRef, SubjectFields,
};
use tonic::transport::{Channel, Endpoint};

use crate::etcd::{pb, KvClient};

/// A lazily connected channel to each address (reconnects after a
/// restart), through `connector` (`Cluster::connector` for mrd, plaintext
/// for etcd).
pub fn channels(addrs: &[String], connector: &Connector) -> Vec<Channel> {
    addrs
        .iter()
        .map(|a| {
            Endpoint::from_shared(format!("{}://{a}", connector.scheme()))
                .expect("bench addresses are valid")
                .connect_timeout(Duration::from_millis(300))
                .timeout(Duration::from_secs(3))
                .tcp_nodelay(true)
                .connect_with_connector_lazy(connector.clone())
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

/// Generates the cluster CA (`key_type` as `mrctl ca generate --key`).
/// `replacing`: the epoch of the CA this one replaces, agreeing to
/// invalidate its clients. Returns the new epoch.
pub async fn must_generate_ca(
    channel: Channel,
    key_type: &str,
    replacing: Option<u64>,
) -> anyhow::Result<u64> {
    let reply = CertificateAuthorityClient::new(channel)
        .generate(GenerateCaRequest {
            request_id: request_id(run_id(), 0),
            subject: Some(SubjectFields {
                organization: "Bench".into(),
                common_name: format!("Bench CA {key_type}"),
                ..Default::default()
            }),
            key_type: key_type_value(key_type)?,
            confirm_invalidate_clients: replacing.is_some(),
            expected_epoch: replacing,
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(reply.epoch)
}

/// Generates an ECDSA P-256 router certificate signed by the cluster CA for
/// each `(slot, node)` (node 0 for the virtual slots) and activates it.
pub async fn must_activate_router_certs(
    channel: Channel,
    slots: &[(&str, u64)],
) -> anyhow::Result<u64> {
    let mut client = RouterCertificatesClient::new(channel);
    let mut log_index = 0;
    for (slot, node_id) in slots {
        let reply = client
            .generate(GenerateCertRequest {
                request_id: request_id(run_id(), *node_id),
                slot: Some(SlotRef {
                    slot: (*slot).into(),
                    node_id: *node_id,
                }),
                subject: Some(SubjectFields {
                    common_name: "router.bench.example".into(),
                    ..Default::default()
                }),
                key_type: mrouter_proto::v1::KeyType::EcdsaP256.into(),
                activate: true,
                ..Default::default()
            })
            .await
            .with_context(|| format!("router certificate for {slot} of node {node_id}"))?
            .into_inner();
        log_index = log_index.max(reply.log_index);
    }
    Ok(log_index)
}

/// A provisioned client's files, as `curl` and `openssl` take them.
pub struct ClientFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Provisions client `id` with a key made by the cluster and writes the CA,
/// its certificate and its key under `dir`. Returns them with the log index.
pub async fn must_provision_client(
    channel: Channel,
    dir: &Path,
    id: &str,
) -> anyhow::Result<(ClientFiles, u64)> {
    let reply = ClientsClient::new(channel)
        .provision(ProvisionRequest {
            request_id: request_id(run_id(), 0),
            id: id.into(),
            user: "bench".into(),
            ..Default::default()
        })
        .await
        .with_context(|| format!("provisioning client {id}"))?
        .into_inner();
    let files = ClientFiles {
        ca: dir.join(format!("{id}-ca.pem")),
        cert: dir.join(format!("{id}.pem")),
        key: dir.join(format!("{id}.key")),
    };
    std::fs::write(&files.ca, &reply.ca_pem)?;
    std::fs::write(&files.cert, &reply.cert_pem)?;
    std::fs::write(&files.key, &reply.key_pem)?;
    Ok((files, reply.log_index))
}

/// One mutual-TLS `GET /v1/session` on `addr` with a fresh `curl` (a new
/// connection and a full handshake); the body, or `None` when it failed.
pub async fn curl_session(addr: std::net::SocketAddr, client: &ClientFiles) -> Option<String> {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--fail", "--connect-timeout", "1", "--max-time", "2"])
        .arg("--cacert")
        .arg(&client.ca)
        .arg("--cert")
        .arg(&client.cert)
        .arg("--key")
        .arg(&client.key)
        .arg(format!("https://{addr}/v1/session"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// CPU time (user + system, seconds) process `pid` has used, from
/// `/proc/PID/stat`; `children` adds that of its children it has waited for
/// (the CLI load generators a benchmark ran).
pub fn cpu_seconds(pid: u32, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is field 3.
    let fields: Vec<u64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let (own, waited) = (fields[0] + fields[1], fields[2] + fields[3]);
    let ticks = if children { own + waited } else { own };
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks as f64 / 100.0)
}

/// CPU time (seconds, all cores) the whole machine has spent busy, from
/// `/proc/stat`: against the benchmark's own processes, it shows whether
/// anything else competed for the cores during a measurement.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(busy as f64 / 100.0)
}

/// Process ids of the running mrd nodes of `cluster`, found by their data
/// directories on the command line.
pub fn node_pids(cluster: &crate::Cluster) -> Vec<u32> {
    let dirs: Vec<String> = cluster
        .running()
        .iter()
        .map(|id| cluster.nodes[id].data_dir.to_string_lossy().into_owned())
        .collect();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let args: Vec<String> = c
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.iter().any(|a| dirs.contains(a))
            })
        })
        .collect()
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

/// The API value of a key type named as mrctl names it (`ecdsa-p256`).
pub fn key_type_value(name: &str) -> anyhow::Result<i32> {
    use mrouter_proto::names::Named;
    mrouter_proto::v1::KeyType::from_name(name)
        .map(Into::into)
        .ok_or_else(|| anyhow::anyhow!("unknown key type {name:?}"))
}
