//! Snapshots: building one on the leader (and purging the log), exporting
//! this node's state to a file, and restoring a saved file through Raft.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openraft::async_runtime::WatchReceiver;

use super::writes::random_request_id;
use super::{Consistency, Replica};
use crate::domain::{Command, Query, Reply, RequestId, StateDigest};
use crate::raft::error::ReplicaError;
use crate::raft::forward::ForwardResponse;
use crate::raft::snapshot_file::{Accept, SnapshotReader};

/// How long `TriggerSnapshot` waits for a snapshot covering its target.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(300);

/// Progress of a restore, for the caller to show.
#[derive(Clone, Copy, Debug)]
pub struct RestoreProgress {
    pub written: u64,
    pub total: u64,
}

const RESTORE_CHUNK_BYTES: usize = 1 << 20;

impl Replica {
    /// `TriggerSnapshot`, run on the leader (by `execute_local`).
    pub(super) async fn trigger_snapshot(
        &self,
        purge_log: bool,
    ) -> Result<ForwardResponse, ReplicaError> {
        self.ensure_leader()?;
        let target = self
            .raft
            .metrics()
            .borrow_watched()
            .last_applied
            .as_ref()
            .map(|id| id.index())
            .unwrap_or(0);
        // A trigger is ignored while a snapshot is being built (the
        // policy may have started one): trigger again until one
        // covers the target.
        let started = Instant::now();
        let metrics = loop {
            self.raft
                .trigger()
                .snapshot()
                .await
                .map_err(|e| ReplicaError::fatal("snapshot trigger", e))?;
            let built = self
                .raft
                .wait(Some(Duration::from_secs(5)))
                .metrics(
                    |m| m.snapshot.as_ref().is_some_and(|id| id.index() >= target),
                    "snapshot built",
                )
                .await;
            match built {
                Ok(m) => break m,
                Err(_) if started.elapsed() < SNAPSHOT_WAIT => continue,
                Err(e) => return Err(ReplicaError::wait("snapshot", e)),
            }
        };
        let index = metrics.snapshot.as_ref().map(|id| id.index()).unwrap_or(0);
        if purge_log {
            self.raft
                .trigger()
                .purge_log(index)
                .await
                .map_err(|e| ReplicaError::fatal("log purge", e))?;
        }
        Ok(ForwardResponse::Snapshot {
            node_id: self.id,
            index,
        })
    }

    /// Writes a consistent snapshot of this node's applied state to a new file.
    /// With `Linearizable`, first waits until this node has applied everything
    /// the leader had committed.
    pub async fn export_snapshot(&self, consistency: Consistency) -> Result<PathBuf, ReplicaError> {
        if consistency == Consistency::Linearizable {
            // The leader confirms its commit index; this node then applies up to it.
            let (_, read_index) = self.linearizable_read(Query::Settings).await?;
            self.raft
                .wait(Some(Duration::from_secs(30)))
                .applied_index_at_least(Some(read_index), "caught up to the leader's read index")
                .await
                .map_err(|e| ReplicaError::wait("catch-up to the read index", e))?;
        }
        let sm = self.sm.clone();
        let path = self
            .sm
            .snapshot_dir()
            .join(format!("export-{}.tmp", hex::encode(random_request_id().0)));
        let out = path.clone();
        tokio::task::spawn_blocking(move || sm.export(&out))
            .await
            .map_err(|e| ReplicaError::storage("snapshot export", e))??;
        Ok(path)
    }

    /// Restores a saved snapshot file into this (empty) cluster through Raft,
    /// in chunks, then checks the resulting digest.
    pub async fn restore(
        &self,
        path: &Path,
        mut progress: impl FnMut(RestoreProgress),
    ) -> Result<(u64, StateDigest, u64), ReplicaError> {
        // A backup of an earlier mrd has a checksum, not a MAC: a restore
        // (and only a restore) still reads it.
        let (file, key) = (path.to_path_buf(), self.sm.snapshot_key().clone());
        tokio::task::spawn_blocking(move || {
            SnapshotReader::verify(&file, &key, Accept::AlsoUnkeyed)
        })
        .await
        .map_err(|e| ReplicaError::storage("snapshot verification", e))??;
        let (file, key) = (path.to_path_buf(), self.sm.snapshot_key().clone());
        let (records, digest) =
            tokio::task::spawn_blocking(move || SnapshotReader::records_to_restore(&file, &key))
                .await
                .map_err(|e| ReplicaError::storage("snapshot read", e))??;
        let total = records.len() as u64;
        // Request ids unique to this invocation: a retried step is applied once,
        // while a later restore is judged afresh (an interrupted one resumes
        // through the restore marker, not through these ids).
        let base: [u8; 8] = crate::pki::random_array();
        let step_id = |n: u64| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&base);
            id[8..].copy_from_slice(&n.to_be_bytes());
            RequestId(id)
        };
        self.write(Self::proposal_with_id(
            Command::RestoreBegin {
                records: total,
                digest,
            },
            step_id(0),
        ))
        .await?;
        let mut written = 0u64;
        let mut chunk = Vec::new();
        let mut chunk_bytes = 0;
        let mut step = 1;
        for (k, v) in records {
            chunk_bytes += k.len() + v.len();
            chunk.push((k, v));
            if chunk_bytes >= RESTORE_CHUNK_BYTES {
                written += chunk.len() as u64;
                let records = std::mem::take(&mut chunk);
                self.write(Self::proposal_with_id(
                    Command::RestoreChunk { records },
                    step_id(step),
                ))
                .await?;
                step += 1;
                chunk_bytes = 0;
                progress(RestoreProgress { written, total });
            }
        }
        if !chunk.is_empty() {
            written += chunk.len() as u64;
            self.write(Self::proposal_with_id(
                Command::RestoreChunk { records: chunk },
                step_id(step),
            ))
            .await?;
            progress(RestoreProgress { written, total });
        }
        let (reply, log_index) = self
            .write(Self::proposal_with_id(
                Command::RestoreFinish {
                    records: total,
                    digest,
                },
                step_id(u64::MAX),
            ))
            .await?;
        match reply {
            Reply::Restored { digest, .. } => Ok((total, digest, log_index)),
            // Finished by an earlier attempt of this same call.
            _ => Ok((total, self.reader.applied_info().digest, log_index)),
        }
    }
}
