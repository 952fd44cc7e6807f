use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;

use super::snapshot_file::{SnapshotFileError, SnapshotHeader, SnapshotReader, SnapshotWriter};
use super::*;
use crate::domain::{Key, StateDigest};
use crate::pki::SealKey;

fn seal() -> SealKey {
    SealKey::from_hex(&"42".repeat(32)).unwrap()
}

struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for RocksBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = TempDir::new().expect("temp dir");
        let (log, sm) = open(dir.path(), 1, &seal()).expect("open store");
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocksdb_store_passes_openraft_conformance_suite() {
    Suite::test_all(RocksBuilder).await.unwrap();
}

#[test]
fn a_data_dir_refuses_another_node_id() {
    let dir = TempDir::new().unwrap();
    drop(open(dir.path(), 1, &seal()).unwrap());
    let err = open(dir.path(), 2, &seal()).err().expect("must refuse");
    assert!(
        matches!(
            err,
            StoreError::NodeIdMismatch {
                stored: 1,
                configured: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_data_dir_refuses_another_seal_key() {
    let dir = TempDir::new().unwrap();
    drop(open(dir.path(), 1, &seal()).unwrap());
    let other = SealKey::from_hex(&"43".repeat(32)).unwrap();
    let err = open(dir.path(), 1, &other).err().expect("must refuse");
    let text = err.to_string();
    assert!(matches!(err, StoreError::SealKeyMismatch { .. }));
    assert!(
        text.contains(seal().id()) && text.contains(other.id()),
        "{text}"
    );
}

fn header(digest: StateDigest) -> SnapshotHeader {
    SnapshotHeader {
        format: crate::domain::FORMAT_VERSION,
        meta: Default::default(),
        digest,
        seal_key_id: seal().id().into(),
        node_id: 1,
        created_at_ms: 0,
    }
}

fn write_file(dir: &TempDir, records: &[(&[u8], &[u8])]) -> std::path::PathBuf {
    let mut digest = StateDigest::default();
    for (k, v) in records {
        if Key::is_domain(k) {
            digest.update(k, None, Some(v));
        }
    }
    let path = dir.path().join("s.snap");
    let mut w = SnapshotWriter::create(&path, &header(digest)).unwrap();
    for (k, v) in records {
        w.record(k, v).unwrap();
    }
    w.finish().unwrap();
    path
}

#[test]
fn snapshot_file_round_trips() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, &[(b"d/a", b"1"), (b"d/b", b"2"), (b"x/req/1", b"3")]);
    let (h, n) = SnapshotReader::verify(&path).unwrap();
    assert_eq!(n, 3);
    assert_eq!(h.node_id, 1);
}

#[test]
fn corrupt_snapshot_files_are_refused() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, &[(b"d/a", b"1"), (b"d/b", b"2")]);
    let good = std::fs::read(&path).unwrap();

    let mut flipped = good.clone();
    let at = flipped.len() - 40;
    flipped[at] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path),
        Err(SnapshotFileError::Checksum)
    ));

    std::fs::write(&path, &good[..good.len() - 10]).unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path),
        Err(SnapshotFileError::Truncated)
    ));

    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path),
        Err(SnapshotFileError::Truncated)
    ));

    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path),
        Err(SnapshotFileError::BadMagic)
    ));
}

#[test]
fn a_snapshot_whose_records_do_not_match_its_digest_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("s.snap");
    let mut w = SnapshotWriter::create(&path, &header(StateDigest([1; 32]))).unwrap();
    w.record(b"d/a", b"1").unwrap();
    w.finish().unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path),
        Err(SnapshotFileError::Digest { .. })
    ));
}
