//! Opening a node's RocksDB: the column families, and the checks that stop a
//! node from starting on data that is not its own (another node id, another
//! seal key, a newer format).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};

use super::log_store::LogStore;
use super::state_machine::StateMachine;
use crate::domain::FORMAT_VERSION;
use crate::pki::SealKey;

pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_LOGS: &str = "logs";
pub(crate) const CF_SM_META: &str = "sm_meta";
pub(crate) const CF_SM_DATA: &str = "sm_data";

const SEAL_CHECK: &[u8] = b"mrouter seal check";

/// Why a node's store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database in {dir}: {source}")]
    Open {
        dir: PathBuf,
        source: rocksdb::Error,
    },
    #[error("cannot create {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("data dir {dir} belongs to node {stored}, not node {configured}: give each node its own data dir, and a wiped node a new id")]
    NodeIdMismatch {
        dir: PathBuf,
        stored: u64,
        configured: u64,
    },
    #[error("data dir {dir} was written with seal key {stored_key_id}, but this node was started with seal key {configured_key_id}: start it with the cluster's seal key")]
    SealKeyMismatch {
        dir: PathBuf,
        stored_key_id: String,
        configured_key_id: String,
    },
    #[error("data dir {dir} holds format version {found}; this mrd supports {supported}: upgrade through a backup (mrctl snapshot save with the mrd that wrote it, mrctl snapshot restore into a fresh cluster; see the README)")]
    Format {
        dir: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("a snapshot install in {dir} was interrupted and its file {file} is missing or damaged: wipe this node's data dir and let it rejoin")]
    InterruptedInstall { dir: PathBuf, file: PathBuf },
    #[error("data dir {dir} holds a damaged {what} record")]
    Corrupt { dir: PathBuf, what: &'static str },
}

/// Opens (or creates) the store under `data_dir` for `node_id`.
pub fn open(
    data_dir: &Path,
    node_id: u64,
    seal: &SealKey,
) -> Result<(LogStore, StateMachine), StoreError> {
    let db_dir = data_dir.join("db");
    let snapshot_dir = data_dir.join("snapshots");
    for dir in [data_dir, &snapshot_dir] {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    // Owner-only, also for a data dir made before this rule (files made
    // from now on are 0600 through the process umask, see `cli::main`).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)).map_err(
            |source| StoreError::CreateDir {
                dir: data_dir.to_path_buf(),
                source,
            },
        )?;
    }
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.set_max_background_jobs(2);
    let cfs = [CF_META, CF_LOGS, CF_SM_META, CF_SM_DATA].map(|name| {
        let cf_opts = if name == CF_SM_DATA {
            state_options()
        } else {
            Options::default()
        };
        ColumnFamilyDescriptor::new(name, cf_opts)
    });
    let db = DB::open_cf_descriptors(&opts, &db_dir, cfs).map_err(|source| StoreError::Open {
        dir: db_dir.clone(),
        source,
    })?;
    let db = Arc::new(db);
    check_identity(&db, data_dir, node_id, seal)?;
    let log = LogStore::new(db.clone());
    let sm = StateMachine::new(db, snapshot_dir, node_id, seal.snapshot_key())?;
    Ok((log, sm))
}

/// The state's column family: every write checks its request id and reads
/// the records it replaces, mostly keys that do not exist yet, so a bloom
/// filter answers those without touching the table files. Index and filter
/// blocks stay with their open table files (about 2 bytes per record): kept
/// in the block cache instead, data blocks evict them and every lookup reads
/// and checksums a filter again (measured: a quarter of the CPU at 350 000
/// clients).
fn state_options() -> Options {
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(STATE_BLOCK_CACHE));
    let mut opts = Options::default();
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.set_block_based_table_factory(&table);
    opts
}

/// Block cache of the state's column family.
const STATE_BLOCK_CACHE: usize = 64 << 20;

fn check_identity(db: &DB, dir: &Path, node_id: u64, seal: &SealKey) -> Result<(), StoreError> {
    let meta = cf(db, CF_META);
    let corrupt = |what| StoreError::Corrupt {
        dir: dir.to_path_buf(),
        what,
    };
    match db.get_cf(meta, b"node_id")? {
        Some(raw) => {
            let stored =
                u64::from_be_bytes(raw.as_slice().try_into().map_err(|_| corrupt("node id"))?);
            if stored != node_id {
                return Err(StoreError::NodeIdMismatch {
                    dir: dir.to_path_buf(),
                    stored,
                    configured: node_id,
                });
            }
        }
        None => db.put_cf(meta, b"node_id", node_id.to_be_bytes())?,
    }
    match db.get_cf(meta, b"format")? {
        Some(raw) => {
            let found =
                u32::from_be_bytes(raw.as_slice().try_into().map_err(|_| corrupt("format"))?);
            if found != FORMAT_VERSION {
                return Err(StoreError::Format {
                    dir: dir.to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
        }
        None => db.put_cf(meta, b"format", FORMAT_VERSION.to_be_bytes())?,
    }
    match db.get_cf(meta, b"seal_check")? {
        Some(sealed) => {
            if seal.open(&sealed, b"seal-check").is_err() {
                let stored_key_id = db
                    .get_cf(meta, b"seal_key_id")?
                    .map(|raw| String::from_utf8_lossy(&raw).into_owned())
                    .unwrap_or_else(|| "unknown".into());
                return Err(StoreError::SealKeyMismatch {
                    dir: dir.to_path_buf(),
                    stored_key_id,
                    configured_key_id: seal.id().to_string(),
                });
            }
        }
        None => {
            let sealed = seal
                .seal(SEAL_CHECK, b"seal-check")
                .map_err(|_| corrupt("seal check"))?;
            db.put_cf(meta, b"seal_check", sealed)?;
            db.put_cf(meta, b"seal_key_id", seal.id().as_bytes())?;
        }
    }
    db.flush_wal(true)?;
    Ok(())
}

pub(crate) fn cf<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name)
        .expect("column families must exist: open() creates them all")
}
