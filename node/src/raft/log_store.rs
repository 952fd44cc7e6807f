//! The Raft log and vote in RocksDB. Appends are written to the memtable and
//! WAL inline (so they are readable at once) and made durable by a dedicated
//! syncer thread: it collects every append waiting for an fsync and issues one
//! `flush_wal(sync)` for all of them, so many concurrent writes share an fsync.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::mpsc;
use std::sync::Arc;

use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader};
use rocksdb::{Direction, IteratorMode, WriteBatch, DB};

use super::snapshot_policy::LogBytes;
use super::store::{cf, CF_LOGS, CF_META};
use super::types::TypeConfig;

/// Log storage; clones share the database and the syncer thread.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    syncer: mpsc::Sender<IOFlushed<TypeConfig>>,
    /// Bytes of entries appended since the node started (the snapshot policy).
    appended: LogBytes,
}

impl LogStore {
    pub(crate) fn new(db: Arc<DB>) -> Self {
        let (tx, rx) = mpsc::channel::<IOFlushed<TypeConfig>>();
        // Weak: the database closes (and releases its lock) once the stores
        // are dropped, without waiting for this thread.
        let sync_db = Arc::downgrade(&db);
        std::thread::Builder::new()
            .name("raft-log-sync".into())
            .spawn(move || {
                // Ends when every LogStore clone (every sender) is gone.
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let result = match sync_db.upgrade() {
                        Some(db) => db.flush_wal(true).map_err(|e| e.to_string()),
                        None => Err("the database is closed".to_string()),
                    };
                    for callback in waiting {
                        callback.io_completed(result.clone().map_err(io::Error::other));
                    }
                }
            })
            .expect("spawning the log sync thread must succeed at startup");
        Self {
            db,
            syncer: tx,
            appended: LogBytes::default(),
        }
    }

    /// The running count of bytes appended, for the snapshot policy.
    pub fn appended_bytes(&self) -> LogBytes {
        self.appended.clone()
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        match self
            .db
            .get_cf(cf(&self.db, CF_META), key)
            .map_err(io::Error::other)?
        {
            None => Ok(None),
            Some(raw) => serde_json::from_slice(&raw)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> io::Result<()> {
        let raw = serde_json::to_vec(value).map_err(io::Error::other)?;
        self.db
            .put_cf(cf(&self.db, CF_META), key, raw)
            .map_err(io::Error::other)
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode_entry(raw: &[u8]) -> io::Result<EntryOf<TypeConfig>> {
    super::codec::from_slice(raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<EntryOf<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => *x + 1,
            Bound::Unbounded => 0,
        };
        let mut entries = Vec::new();
        let iter = self.db.iterator_cf(
            cf(&self.db, CF_LOGS),
            IteratorMode::From(&index_key(start), Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(io::Error::other)?;
            let index = u64::from_be_bytes(key.as_ref().try_into().map_err(io::Error::other)?);
            if !range.contains(&index) {
                break;
            }
            entries.push(decode_entry(&value)?);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<TypeConfig>>> {
        self.get_meta("vote")
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogIdOf<TypeConfig>> = self.get_meta("last_purged")?;
        let last = match self
            .db
            .iterator_cf(cf(&self.db, CF_LOGS), IteratorMode::End)
            .next()
        {
            None => None,
            Some(item) => Some(decode_entry(&item.map_err(io::Error::other)?.1)?.log_id()),
        };
        Ok(LogState {
            last_log_id: last.or(last_purged_log_id),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> io::Result<()> {
        self.put_meta("vote", vote)?;
        // A vote must be on disk before it is acted on.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush_wal(true).map_err(io::Error::other))
            .await
            .map_err(io::Error::other)?
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> io::Result<()> {
        self.put_meta("committed", &committed)
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogIdOf<TypeConfig>>> {
        Ok(self
            .get_meta::<Option<LogIdOf<TypeConfig>>>("committed")?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = EntryOf<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let logs = cf(&self.db, CF_LOGS);
        let mut batch = WriteBatch::default();
        let mut bytes = 0;
        for entry in entries {
            let raw = super::codec::to_vec(&entry).map_err(io::Error::other)?;
            bytes += raw.len() as u64;
            batch.put_cf(logs, index_key(entry.index()), raw);
        }
        self.appended
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        // Written here so the entries are readable when append returns; durable
        // once the syncer has flushed the WAL and called back.
        self.db.write(batch).map_err(io::Error::other)?;
        self.syncer
            .send(callback)
            .map_err(|_| io::Error::other("log sync thread has stopped"))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<TypeConfig>>) -> io::Result<()> {
        let from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        self.db
            .delete_range_cf(cf(&self.db, CF_LOGS), index_key(from), index_key(u64::MAX))
            .map_err(io::Error::other)?;
        // Deleting a suffix must not come back after a crash if new entries
        // replace it: sync so later appends cannot interleave with stale ones.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush_wal(true).map_err(io::Error::other))
            .await
            .map_err(io::Error::other)?
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> io::Result<()> {
        // Record the purge point first: entries at or below it are ignored.
        self.put_meta("last_purged", &log_id)?;
        self.db
            .delete_range_cf(
                cf(&self.db, CF_LOGS),
                index_key(0),
                index_key(log_id.index() + 1),
            )
            .map_err(io::Error::other)
    }
}
