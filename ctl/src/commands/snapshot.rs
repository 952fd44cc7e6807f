//! `mrctl snapshot save|restore|trigger`, with progress for the transfers.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use mrouter_proto::v1::cluster_client::ClusterClient;
use mrouter_proto::v1::{SnapshotChunk, SnapshotSaveRequest, TriggerSnapshotRequest};
use serde::Serialize;

use crate::cli::{Format, SnapshotCmd};
use crate::endpoints::{status_error, Endpoints};
use crate::output::emit;

const CHUNK: usize = 1 << 20;

#[derive(Serialize)]
struct Saved {
    file: String,
    bytes: u64,
}

pub async fn run(endpoints: &Endpoints, format: Format, cmd: SnapshotCmd) -> Result<()> {
    match cmd {
        SnapshotCmd::Save { file, force } => {
            if !force && file.symlink_metadata().is_ok() {
                bail!(
                    "{} already exists; pass --force to replace it",
                    file.display()
                );
            }
            let bytes = save(endpoints, &file).await?;
            emit(
                format,
                &Saved {
                    file: file.display().to_string(),
                    bytes,
                },
                |s| println!("saved a snapshot of {} bytes to {}", s.bytes, s.file),
            )
        }
        SnapshotCmd::Restore { file } => {
            let total = std::fs::metadata(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            if total == 0 {
                bail!("{} is empty: not a snapshot file", file.display());
            }
            let bar = bytes_bar(total, "uploading");
            let reply = endpoints
                .call(|ch| {
                    let (file, bar) = (file.clone(), bar.clone());
                    async move {
                        bar.set_position(0);
                        let stream = file_chunks(&file, total, bar)?;
                        ClusterClient::new(ch).snapshot_restore(stream).await
                    }
                })
                .await?
                .into_inner();
            bar.finish_and_clear();
            emit(format, &reply, |r| {
                println!(
                    "restored {} records; state digest {} (log index {})",
                    r.records, r.state_digest, r.last_log_index
                )
            })
        }
        SnapshotCmd::Trigger { purge_log } => {
            let reply = endpoints
                .call(|ch| async move {
                    ClusterClient::new(ch)
                        .trigger_snapshot(TriggerSnapshotRequest { purge_log })
                        .await
                })
                .await?
                .into_inner();
            emit(format, &reply, |r| {
                println!(
                    "node {} built a snapshot at log index {}",
                    r.node_id, r.snapshot_index
                )
            })
        }
    }
}

async fn save(endpoints: &Endpoints, file: &Path) -> Result<u64> {
    let mut stream = endpoints
        .call(|ch| async move {
            ClusterClient::new(ch)
                .snapshot_save(SnapshotSaveRequest {})
                .await
        })
        .await?
        .into_inner();
    let tmp = file.with_extension("partial");
    // Owner-only: a snapshot holds every record (keys sealed, but names,
    // certificates and settings in the clear).
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut bar: Option<ProgressBar> = None;
    let mut written = 0u64;
    let result = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(status_error)?;
            if chunk.total_bytes > 0 && bar.is_none() {
                bar = Some(bytes_bar(chunk.total_bytes, "saving"));
            }
            out.write_all(&chunk.data)?;
            written += chunk.data.len() as u64;
            if let Some(b) = &bar {
                b.set_position(written);
            }
        }
        out.sync_all()?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if written == 0 {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!("the node sent an empty snapshot"));
    }
    std::fs::rename(&tmp, file).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(written)
}

/// The file as a stream of chunks, read as the upload goes.
fn file_chunks(
    path: &Path,
    total: u64,
    bar: ProgressBar,
) -> Result<impl futures::Stream<Item = SnapshotChunk> + Send + 'static, tonic::Status> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| tonic::Status::internal(format!("{}: {e}", path.display())))?;
    Ok(futures::stream::unfold(Some(file), move |file| {
        let bar = bar.clone();
        async move {
            let mut file = file?;
            let mut buf = vec![0u8; CHUNK];
            // A read error ends the upload early; the server then refuses the
            // truncated file by its checksum.
            let n = file.read(&mut buf).ok().filter(|n| *n > 0)?;
            buf.truncate(n);
            bar.inc(n as u64);
            Some((
                SnapshotChunk {
                    data: buf,
                    total_bytes: total,
                },
                Some(file),
            ))
        }
    }))
}

fn bytes_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
            .expect("progress template must parse")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
