//! Latency of `cert generate` and `cert csr` (rsa2048, ecdsa-p256) on a
//! 3-node loopback cluster — key generated and certificate signed on the node
//! taking the request, then replicated to a majority — beside the same work
//! done with the openssl CLI (`genpkey` + `req` + `x509 -req`) in the same
//! run. Trials alternate between the two so both see the same machine noise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use cluster_tests::bench;
use cluster_tests::stats::{summarize, Summary};
use cluster_tests::{Cluster, ClusterOptions};
use mrouter_proto::v1::certificate_authority_client::CertificateAuthorityClient;
use mrouter_proto::v1::router_certificates_client::RouterCertificatesClient;
use mrouter_proto::v1::{
    CreateCsrRequest, GenerateCaRequest, GenerateCertRequest, SlotRef, SubjectFields,
};
use tonic::transport::Channel;

#[derive(Parser)]
#[command(about = "cert generate / cert csr latency beside openssl")]
struct Args {
    /// Trials per key type and operation (each side).
    #[arg(long, default_value_t = 30)]
    trials: usize,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Generate,
    Csr,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Generate => "generate",
            Op::Csr => "csr",
        }
    }
}

fn subject(cn: &str) -> Option<SubjectFields> {
    Some(SubjectFields {
        country: "US".into(),
        state: "California".into(),
        organization: "Bench".into(),
        common_name: cn.into(),
        ..Default::default()
    })
}

async fn ours(channel: Channel, op: Op, key: &str, seq: usize) -> Result<f64> {
    let mut client = RouterCertificatesClient::new(channel);
    let slot = Some(SlotRef {
        slot: "local".into(),
        node_id: 0,
    });
    let request_id = bench::request_id(bench::run_id(), seq as u64);
    let started = Instant::now();
    match op {
        Op::Generate => {
            client
                .generate(GenerateCertRequest {
                    request_id,
                    slot,
                    subject: subject("n1.bench.example"),
                    key_type: bench::key_type_value(key)?,
                    ..Default::default()
                })
                .await?;
        }
        Op::Csr => {
            client
                .create_csr(CreateCsrRequest {
                    request_id,
                    slot,
                    subject: subject("n1.bench.example"),
                    key_type: bench::key_type_value(key)?,
                    ..Default::default()
                })
                .await?;
        }
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().context("openssl must run")?;
    ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn genpkey(key: &str, out: &Path) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.arg("genpkey");
    match key {
        "rsa2048" => cmd.args(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
        _ => cmd.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    };
    cmd.arg("-out").arg(out);
    cmd
}

/// The same work with the openssl CLI: a key, a CSR, and (for generate) a
/// certificate signed by the CA with the same extensions we write.
fn openssl(dir: &Path, op: Op, key: &str) -> Result<f64> {
    let (k, csr, crt) = (dir.join("k.pem"), dir.join("r.csr"), dir.join("c.pem"));
    let started = Instant::now();
    run(&mut genpkey(key, &k))?;
    run(Command::new("openssl")
        .args(["req", "-new", "-key"])
        .arg(&k)
        .args([
            "-subj",
            "/C=US/ST=California/O=Bench/CN=n1.bench.example",
            "-addext",
            "subjectAltName=DNS:n1.bench.example,IP:127.0.0.1",
            "-out",
        ])
        .arg(&csr))?;
    if op == Op::Generate {
        run(Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(dir.join("ca.pem"))
            .arg("-CAkey")
            .arg(dir.join("ca.key"))
            .args([
                "-set_serial",
                "0x5eed5eed5eed5eed5eed",
                "-days",
                "825",
                "-extfile",
            ])
            .arg(dir.join("ext.cnf"))
            .arg("-out")
            .arg(&crt))?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn openssl_ca(dir: &Path) -> Result<()> {
    run(&mut genpkey("rsa2048", &dir.join("ca.key")))?;
    run(Command::new("openssl")
        .args(["req", "-x509", "-new", "-key"])
        .arg(dir.join("ca.key"))
        .args([
            "-subj",
            "/C=US/O=Bench/CN=Bench CA",
            "-days",
            "3650",
            "-out",
        ])
        .arg(dir.join("ca.pem")))?;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:n1.bench.example,IP:127.0.0.1\n\
         extendedKeyUsage=serverAuth\n\
         keyUsage=digitalSignature,keyEncipherment\n\
         basicConstraints=CA:FALSE\n\
         subjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=keyid\n",
    )?;
    Ok(())
}

#[derive(serde::Serialize)]
struct Row {
    key: &'static str,
    op: &'static str,
    mrouter: Summary,
    openssl: Summary,
    ratio: f64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let cluster = Cluster::start(ClusterOptions::default()).await?;
    let leader = cluster.must_have_leader().await?;
    // Requests go to a follower: the key is made there and the entry forwarded
    // to the leader, the usual path for a client that picked any node.
    let via = cluster
        .running()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap_or(leader);
    let channel = bench::channels(&[cluster.addr(via).to_string()], cluster.connector()).remove(0);
    CertificateAuthorityClient::new(channel.clone())
        .generate(GenerateCaRequest {
            request_id: bench::request_id(bench::run_id(), 0),
            subject: subject("Bench CA"),
            key_type: mrouter_proto::v1::KeyType::Rsa2048.into(),
            ..Default::default()
        })
        .await?;
    let dir = tempfile::tempdir()?;
    openssl_ca(dir.path())?;

    let mut rows = Vec::new();
    let mut result: BTreeMap<String, String> = BTreeMap::new();
    let mut seq = 1;
    for key in ["rsa2048", "ecdsa-p256"] {
        for op in [Op::Generate, Op::Csr] {
            eprintln!("{key} {}: {} trials each…", op.name(), args.trials);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            // One warm-up each, not counted.
            ours(channel.clone(), op, key, seq).await?;
            openssl(dir.path(), op, key)?;
            for _ in 0..args.trials {
                seq += 1;
                a.push(ours(channel.clone(), op, key, seq).await?);
                b.push(openssl(dir.path(), op, key)?);
            }
            let (m, o) = (summarize(&a), summarize(&b));
            let ratio = m.median / o.median;
            let tag = format!("{}_{}", key.replace("ecdsa-p256", "ecdsa"), op.name())
                .replace("rsa2048", "rsa");
            result.insert(format!("{tag}_median_ms"), format!("{:.1}", m.median));
            result.insert(
                format!("openssl_{tag}_median_ms"),
                format!("{:.1}", o.median),
            );
            result.insert(format!("{tag}_ratio"), format!("{ratio:.2}"));
            rows.push(Row {
                key: if key == "rsa2048" {
                    "rsa2048"
                } else {
                    "ecdsa-p256"
                },
                op: op.name(),
                mrouter: m,
                openssl: o,
                ratio,
            });
        }
    }
    println!(
        "{:<11} {:<9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "key", "op", "ours p50", "ours p90", "ossl p50", "ossl p90", "ratio"
    );
    for r in &rows {
        println!(
            "{:<11} {:<9} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>7.2}",
            r.key, r.op, r.mrouter.median, r.mrouter.p90, r.openssl.median, r.openssl.p90, r.ratio
        );
    }
    let headline = result
        .get("rsa_generate_ratio")
        .cloned()
        .unwrap_or_default();
    result.insert("ratio_vs_openssl".into(), headline);
    result.insert("trials".into(), args.trials.to_string());
    let keys: BTreeMap<&str, String> = result
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    bench::finish(&keys, args.json.as_deref(), serde_json::to_value(&rows)?)
}
