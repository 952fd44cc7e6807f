//! The state machine in RocksDB: applies entries through `domain::apply`,
//! writing each batch's record changes, `last_applied`, membership and state
//! digest in one `WriteBatch`; builds, serves and installs snapshot files.

use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use rocksdb::{IteratorMode, WriteBatch, DB};

use super::snapshot_file::{
    Accept, SnapshotFileError, SnapshotHeader, SnapshotReader, SnapshotWriter,
};
use super::store::{cf, StoreError, CF_SM_DATA, CF_SM_META};
use super::types::TypeConfig;
use crate::clock::now_ms;
use crate::domain::{self, CorruptRecord, Layered, Reply, StateDigest, StateView, FORMAT_VERSION};
use crate::pki::SnapshotKey;

/// A snapshot as a file on disk, so a large state is never held in memory.
#[derive(Debug, Clone)]
pub struct SnapshotData {
    pub path: PathBuf,
}

/// The applied position and the digest of the state at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppliedInfo {
    pub index: u64,
    pub digest: StateDigest,
}

#[derive(Clone)]
pub struct StateMachine {
    db: Arc<DB>,
    snapshot_dir: PathBuf,
    node_id: u64,
    /// Authenticates the snapshot files this node writes and reads.
    snapshot_key: SnapshotKey,
    applied: Arc<Mutex<AppliedInfo>>,
    /// Set while a snapshot's records are being written: the state is partial.
    installing: Arc<AtomicBool>,
}

/// Read access to the applied state for queries (no Raft involved).
#[derive(Clone)]
pub struct StateReader {
    db: Arc<DB>,
    applied: Arc<Mutex<AppliedInfo>>,
    installing: Arc<AtomicBool>,
}

impl From<CorruptRecord> for io::Error {
    fn from(e: CorruptRecord) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

impl StateMachine {
    pub(crate) fn new(
        db: Arc<DB>,
        snapshot_dir: PathBuf,
        node_id: u64,
        snapshot_key: SnapshotKey,
    ) -> Result<Self, StoreError> {
        let meta = cf(&db, CF_SM_META);
        let digest = match db.get_cf(meta, b"digest")? {
            Some(raw) => {
                StateDigest(raw.as_slice().try_into().map_err(|_| StoreError::Corrupt {
                    dir: snapshot_dir.clone(),
                    what: "state digest",
                })?)
            }
            None => StateDigest::default(),
        };
        let index = match db.get_cf(meta, b"last_applied")? {
            Some(raw) => serde_json::from_slice::<LogIdOf<TypeConfig>>(&raw)
                .map_err(|_| StoreError::Corrupt {
                    dir: snapshot_dir.clone(),
                    what: "last applied",
                })?
                .index(),
            None => 0,
        };
        let applied = Arc::new(Mutex::new(AppliedInfo { index, digest }));
        let sm = Self {
            db,
            snapshot_dir,
            node_id,
            snapshot_key,
            applied,
            installing: Arc::default(),
        };
        sm.resume_install()?;
        Ok(sm)
    }

    pub fn reader(&self) -> StateReader {
        StateReader {
            db: self.db.clone(),
            applied: self.applied.clone(),
            installing: self.installing.clone(),
        }
    }

    pub fn snapshot_dir(&self) -> &Path {
        &self.snapshot_dir
    }

    /// The key that authenticates this node's snapshot files.
    pub fn snapshot_key(&self) -> &SnapshotKey {
        &self.snapshot_key
    }

    /// Writes a consistent snapshot of the applied state to `path`.
    pub fn export(&self, path: &Path) -> Result<SnapshotHeader, SnapshotFileError> {
        write_snapshot(&self.db, path, self.node_id, &self.snapshot_key)
    }

    fn read_meta(
        &self,
    ) -> io::Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>)> {
        let meta = cf(&self.db, CF_SM_META);
        let last_applied = decode_opt(
            self.db
                .get_cf(meta, b"last_applied")
                .map_err(io::Error::other)?,
        )?;
        let membership = decode_opt(
            self.db
                .get_cf(meta, b"last_membership")
                .map_err(io::Error::other)?,
        )?;
        Ok((last_applied, membership.unwrap_or_default()))
    }

    fn prune_snapshots(&self, keep: &Path) {
        let Ok(dir) = std::fs::read_dir(&self.snapshot_dir) else {
            return;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let is_snapshot = path.extension().is_some_and(|e| e == "snap");
            if is_snapshot && path != keep {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

fn decode_opt<T: serde::de::DeserializeOwned>(raw: Option<Vec<u8>>) -> io::Result<Option<T>> {
    raw.map(|raw| {
        serde_json::from_slice(&raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    })
    .transpose()
}

type ScanPage = Vec<(Vec<u8>, Vec<u8>)>;

fn scan_db(db: &DB, prefix: &[u8], from: &[u8], limit: usize) -> io::Result<ScanPage> {
    let iter = db.iterator_cf(
        cf(db, CF_SM_DATA),
        IteratorMode::From(from, rocksdb::Direction::Forward),
    );
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(io::Error::other)?;
        if !k.starts_with(prefix) || out.len() >= limit {
            break;
        }
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

/// What a read gets while the state is being replaced by a snapshot (as an
/// error of kind `WouldBlock`).
const INSTALLING_SNAPSHOT: &str =
    "this node is installing a snapshot from the leader; ask another node or retry shortly";

impl StateReader {
    /// Refuses a read while a snapshot install is under way (it would see
    /// part of the new state).
    fn whole(&self) -> io::Result<()> {
        if self.installing.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                INSTALLING_SNAPSHOT,
            ));
        }
        Ok(())
    }
}

impl StateView for StateReader {
    type Error = io::Error;

    fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.whole()?;
        self.db
            .get_cf(cf(&self.db, CF_SM_DATA), key)
            .map_err(io::Error::other)
    }

    fn digest(&self) -> StateDigest {
        self.applied_info().digest
    }

    fn scan(&self, prefix: &[u8], start: &[u8], limit: usize) -> io::Result<ScanPage> {
        self.whole()?;
        scan_db(&self.db, prefix, start.max(prefix), limit)
    }
}

impl StateReader {
    pub fn applied_info(&self) -> AppliedInfo {
        *self
            .applied
            .lock()
            .expect("applied-info lock must not be poisoned")
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> io::Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>)> {
        self.read_meta()
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let stored = self.reader();
        let mut state = Layered::tracking_digest(&stored);
        let mut last_applied = None;
        let mut last_membership = None;
        let mut responses = Vec::new();

        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let outcome = match &entry.payload {
                EntryPayload::Blank => Ok(Reply::Noop),
                EntryPayload::Normal(proposal) => {
                    let applied = domain::apply(&state, proposal, log_id.index())?;
                    state.extend(applied.changes)?;
                    applied.outcome
                }
                EntryPayload::Membership(membership) => {
                    last_membership = Some(StoredMembershipOf::<TypeConfig>::new(
                        Some(log_id),
                        membership.clone(),
                    ));
                    Ok(Reply::Noop)
                }
            };
            last_applied = Some(log_id);
            if let Some(responder) = responder {
                responses.push((responder, outcome));
            }
        }

        let Some(last_applied) = last_applied else {
            return Ok(());
        };
        let data = cf(&self.db, CF_SM_DATA);
        let meta = cf(&self.db, CF_SM_META);
        let digest = state.digest();
        let mut batch = WriteBatch::default();
        for change in state.into_changes() {
            match change.value {
                Some(v) => batch.put_cf(data, change.key, v),
                None => batch.delete_cf(data, change.key),
            }
        }
        batch.put_cf(
            meta,
            b"last_applied",
            serde_json::to_vec(&last_applied).map_err(io::Error::other)?,
        );
        if let Some(m) = &last_membership {
            batch.put_cf(
                meta,
                b"last_membership",
                serde_json::to_vec(m).map_err(io::Error::other)?,
            );
        }
        batch.put_cf(meta, b"digest", digest.0);
        // Not synced: the log is durable, and a lost tail is re-applied from it
        // after a crash. Snapshots flush the WAL before the log can be purged.
        self.db.write(batch).map_err(io::Error::other)?;
        *self
            .applied
            .lock()
            .expect("applied-info lock must not be poisoned") = AppliedInfo {
            index: last_applied.index(),
            digest,
        };

        for (responder, outcome) in responses {
            responder.send(outcome);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotData,
    ) -> io::Result<()> {
        let this = self.clone();
        let meta = meta.clone();
        let path = snapshot.path;
        let info = tokio::task::spawn_blocking(move || this.install_file(&meta, &path))
            .await
            .map_err(io::Error::other)??;
        *self
            .applied
            .lock()
            .expect("applied-info lock must not be poisoned") = info;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> io::Result<Option<SnapshotOf<TypeConfig, SnapshotData>>> {
        let Some(path) = latest_snapshot(&self.snapshot_dir)? else {
            return Ok(None);
        };
        let header =
            SnapshotReader::read_header(&path, &self.snapshot_key).map_err(io::Error::other)?;
        Ok(Some(SnapshotOf::<TypeConfig, SnapshotData> {
            meta: header.meta,
            snapshot: SnapshotData { path },
        }))
    }
}

/// Records written per batch while a snapshot is installed: a large state is
/// never held in memory as one batch.
const INSTALL_BATCH_BYTES: usize = 32 << 20;

/// Set (synced) before a snapshot's records are written and removed with the
/// last batch: a node that stops half-way finds it at start and installs the
/// same file again rather than serving half a state.
const INSTALLING: &[u8] = b"installing";

impl StateMachine {
    fn install_file(
        &self,
        meta: &SnapshotMetaOf<TypeConfig>,
        path: &Path,
    ) -> io::Result<AppliedInfo> {
        let (header, _) = SnapshotReader::verify(path, &self.snapshot_key, Accept::Authenticated)
            .map_err(io::Error::other)?;
        // Records are installed as they are: only a backup restored through
        // `Replica::restore` is upgraded from an older format.
        if header.format != FORMAT_VERSION {
            return Err(io::Error::other(format!(
                "the leader sent a snapshot of format {} but this node stores format {FORMAT_VERSION}: every node of a cluster must run the same mrd version",
                header.format
            )));
        }
        let index = meta.last_log_id.as_ref().map(|id| id.index()).unwrap_or(0);
        let keep = self.snapshot_dir.join(snapshot_name(index));
        if path != keep {
            std::fs::rename(path, &keep)?;
        }
        let info = self.write_installed(&keep)?;
        self.prune_snapshots(&keep);
        Ok(info)
    }

    /// Replaces the state with the records of the (verified) snapshot file
    /// `path`, in bounded batches behind the [`INSTALLING`] marker.
    fn write_installed(&self, path: &Path) -> io::Result<AppliedInfo> {
        let mut reader = SnapshotReader::open(path, &self.snapshot_key, Accept::Authenticated)
            .map_err(io::Error::other)?;
        let header = reader.header.clone();
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("a snapshot path without a file name"))?;
        self.installing.store(true, Ordering::Release);
        let info = self.write_records(&mut reader, &header, name)?;
        // Only a finished install makes the state whole again; after a
        // failure it stays partial (and refused to readers) until redone.
        self.installing.store(false, Ordering::Release);
        Ok(info)
    }

    fn write_records(
        &self,
        reader: &mut SnapshotReader,
        header: &SnapshotHeader,
        name: &std::ffi::OsStr,
    ) -> io::Result<AppliedInfo> {
        let data = cf(&self.db, CF_SM_DATA);
        let sm_meta = cf(&self.db, CF_SM_META);
        let mut synced = rocksdb::WriteOptions::default();
        synced.set_sync(true);
        let mut begin = WriteBatch::default();
        begin.put_cf(sm_meta, INSTALLING, name.as_encoded_bytes());
        for key in [b"last_applied".as_slice(), b"last_membership", b"digest"] {
            begin.delete_cf(sm_meta, key);
        }
        begin.delete_range_cf(data, b"".as_slice(), [0xffu8; 8].as_slice());
        self.db
            .write_opt(begin, &synced)
            .map_err(io::Error::other)?;

        // The records skip the WAL: they are flushed to table files before the
        // marker goes, and a crash before that redoes the install.
        let mut unlogged = rocksdb::WriteOptions::default();
        unlogged.disable_wal(true);
        let mut batch = WriteBatch::default();
        reader
            .for_each_record(|k, v| {
                batch.put_cf(data, k, v);
                if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
                    let full = std::mem::take(&mut batch);
                    self.db
                        .write_opt(full, &unlogged)
                        .map_err(io::Error::other)?;
                }
                Ok(())
            })
            .map_err(io::Error::other)?;
        self.db
            .write_opt(batch, &unlogged)
            .map_err(io::Error::other)?;
        self.db.flush_cf(data).map_err(io::Error::other)?;

        let mut end = WriteBatch::default();
        // Stored as apply stores it: a log id, absent before the first entry.
        if let Some(last) = &header.meta.last_log_id {
            end.put_cf(
                sm_meta,
                b"last_applied",
                serde_json::to_vec(last).map_err(io::Error::other)?,
            );
        }
        end.put_cf(
            sm_meta,
            b"last_membership",
            serde_json::to_vec(&header.meta.last_membership).map_err(io::Error::other)?,
        );
        end.put_cf(sm_meta, b"digest", header.digest.0);
        end.delete_cf(sm_meta, INSTALLING);
        self.db.write_opt(end, &synced).map_err(io::Error::other)?;
        Ok(AppliedInfo {
            index: header
                .meta
                .last_log_id
                .as_ref()
                .map(|id| id.index())
                .unwrap_or(0),
            digest: header.digest,
        })
    }

    /// Finishes a snapshot install a stop interrupted (see [`INSTALLING`]).
    fn resume_install(&self) -> Result<(), StoreError> {
        let meta = cf(&self.db, CF_SM_META);
        let Some(raw) = self.db.get_cf(meta, INSTALLING)? else {
            return Ok(());
        };
        // The file's name in the snapshot dir (older markers held a full path,
        // which join keeps as it is).
        let path = self.snapshot_dir.join(&*std::ffi::OsString::from_vec(raw));
        tracing::warn!(snapshot = %path.display(), "a snapshot install was interrupted; installing it again");
        let corrupt = || StoreError::InterruptedInstall {
            dir: self.snapshot_dir.clone(),
            file: path.clone(),
        };
        SnapshotReader::verify(&path, &self.snapshot_key, Accept::Authenticated)
            .map_err(|_| corrupt())?;
        let info = self.write_installed(&path).map_err(|_| corrupt())?;
        *self
            .applied
            .lock()
            .expect("applied-info lock must not be poisoned") = info;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<TypeConfig, SnapshotData>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let tmp = this.snapshot_dir.join(format!("build-{}.tmp", now_ms()));
            let header = write_snapshot(&this.db, &tmp, this.node_id, &this.snapshot_key)
                .map_err(io::Error::other)?;
            let index = header
                .meta
                .last_log_id
                .as_ref()
                .map(|id| id.index())
                .unwrap_or(0);
            let path = this.snapshot_dir.join(snapshot_name(index));
            std::fs::rename(&tmp, &path)?;
            this.prune_snapshots(&path);
            Ok(SnapshotOf::<TypeConfig, SnapshotData> {
                meta: header.meta,
                snapshot: SnapshotData { path },
            })
        })
        .await
        .map_err(io::Error::other)?
    }
}

fn snapshot_name(index: u64) -> String {
    format!("snap-{index:020}.snap")
}

/// The newest snapshot file in `dir`, if any.
pub(super) fn latest_snapshot(dir: &Path) -> io::Result<Option<PathBuf>> {
    let mut best: Option<PathBuf> = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "snap") && best.as_ref().is_none_or(|b| path > *b)
        {
            best = Some(path);
        }
    }
    Ok(best)
}

/// Writes every record of a point-in-time view of the state machine.
fn write_snapshot(
    db: &DB,
    path: &Path,
    node_id: u64,
    key: &SnapshotKey,
) -> Result<SnapshotHeader, SnapshotFileError> {
    // Everything the snapshot covers must be durable before the log it
    // replaces can be purged.
    db.flush_wal(true).map_err(io::Error::other)?;
    let snap = db.snapshot();
    let meta_cf = cf(db, CF_SM_META);
    let get = |key: &[u8]| snap.get_cf(meta_cf, key).map_err(io::Error::other);
    let last_log_id: Option<LogIdOf<TypeConfig>> = decode_opt(get(b"last_applied")?)?;
    let last_membership: StoredMembershipOf<TypeConfig> =
        decode_opt(get(b"last_membership")?)?.unwrap_or_default();
    let digest = match get(b"digest")? {
        Some(raw) => StateDigest(
            raw.as_slice()
                .try_into()
                .map_err(|_| SnapshotFileError::Header("stored digest".into()))?,
        ),
        None => StateDigest::default(),
    };
    let header = SnapshotHeader {
        format: FORMAT_VERSION,
        meta: SnapshotMetaOf::<TypeConfig> {
            last_log_id,
            last_membership,
        },
        digest,
        seal_key_id: key.seal_key_id().to_string(),
        node_id,
        created_at_ms: now_ms(),
    };
    let mut writer = SnapshotWriter::create(path, &header, key)?;
    for item in snap.iterator_cf(cf(db, CF_SM_DATA), IteratorMode::Start) {
        let (key, value) = item.map_err(io::Error::other)?;
        writer.record(&key, &value)?;
    }
    writer.finish()?;
    Ok(header)
}
