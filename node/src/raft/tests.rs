use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;

use super::snapshot_file::{
    Accept, SnapshotFileError, SnapshotHeader, SnapshotReader, SnapshotWriter,
};
use super::*;
use crate::domain::{Key, StateDigest, StateView};
use crate::pki::SealKey;
use crate::pki::SnapshotKey;

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
    write_file_of_format(dir, crate::domain::FORMAT_VERSION, records)
}

/// A snapshot file as a node of stored `format` writes it.
fn write_file_of_format(
    dir: &TempDir,
    format: u32,
    records: &[(&[u8], &[u8])],
) -> std::path::PathBuf {
    let mut digest = StateDigest::default();
    for (k, v) in records {
        if Key::is_domain(k) {
            digest.update(k, None, Some(v));
        }
    }
    let path = dir.path().join("s.snap");
    let header = SnapshotHeader {
        format,
        ..header(digest)
    };
    let mut w = SnapshotWriter::create(&path, &header, &snap_key()).unwrap();
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
    let (h, n) = SnapshotReader::verify(&path, &snap_key(), Accept::Authenticated).unwrap();
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
        SnapshotReader::verify(&path, &snap_key(), Accept::Authenticated),
        Err(SnapshotFileError::Mac)
    ));

    std::fs::write(&path, &good[..good.len() - 10]).unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path, &snap_key(), Accept::Authenticated),
        Err(SnapshotFileError::Truncated)
    ));

    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path, &snap_key(), Accept::Authenticated),
        Err(SnapshotFileError::Truncated)
    ));

    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path, &snap_key(), Accept::Authenticated),
        Err(SnapshotFileError::BadMagic)
    ));
}

fn snap_key() -> SnapshotKey {
    seal().snapshot_key()
}

/// `file` as an earlier mrd wrote it: the first magic, and a SHA-256 of
/// everything before it where the MAC is.
fn unkeyed(file: &[u8]) -> Vec<u8> {
    let mut out = file[..file.len() - 32].to_vec();
    out[7] = 1;
    let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    out
}

/// Issue 16: a checksum anyone can recompute let an edited snapshot file
/// through; the MAC is keyed from the seal key.
#[test]
fn an_edited_snapshot_file_is_refused_even_with_its_checksum_recomputed() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, &[(b"d/a", b"1"), (b"d/b", b"2")]);
    let good = std::fs::read(&path).unwrap();
    // A record's value changed, and the header's digest with it (the digest
    // is public: anyone can recompute it), then a SHA-256 trailer as before.
    let at = good.windows(3).position(|w| w == b"d/b").unwrap() + 3 + 4;
    let mut edited = good.clone();
    edited[at] = b'9';
    let mut resummed = edited[..edited.len() - 32].to_vec();
    let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &resummed);
    resummed.extend_from_slice(sum.as_ref());
    std::fs::write(&path, &resummed).unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path, &snap_key(), Accept::AlsoUnkeyed),
        Err(SnapshotFileError::Mac)
    ));

    // Made under another seal key: said so, before any record is read.
    std::fs::write(&path, &good).unwrap();
    let other = SealKey::from_hex(&"43".repeat(32)).unwrap().snapshot_key();
    let err = SnapshotReader::verify(&path, &other, Accept::Authenticated).unwrap_err();
    assert!(
        matches!(&err, SnapshotFileError::SealKey { file, ours } if file == seal().id() && ours == other.seal_key_id()),
        "{err}"
    );
}

#[test]
fn a_backup_of_the_first_kind_is_read_only_by_a_restore() {
    let dir = TempDir::new().unwrap();
    let path = write_file(&dir, &[(b"d/a", b"1"), (b"d/b", b"2")]);
    let old = unkeyed(&std::fs::read(&path).unwrap());
    std::fs::write(&path, &old).unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path, &snap_key(), Accept::Authenticated),
        Err(SnapshotFileError::Unkeyed)
    ));
    let (_, n) = SnapshotReader::verify(&path, &snap_key(), Accept::AlsoUnkeyed).unwrap();
    assert_eq!(n, 2);
    let (records, _) = SnapshotReader::records_to_restore(&path, &snap_key()).unwrap();
    assert_eq!(records.len(), 2);
    // Its checksum still guards it against damage.
    let mut damaged = old.clone();
    let at = damaged.len() - 40;
    damaged[at] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path, &snap_key(), Accept::AlsoUnkeyed),
        Err(SnapshotFileError::Checksum)
    ));
}

#[test]
fn a_snapshot_whose_records_do_not_match_its_digest_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("s.snap");
    let mut w = SnapshotWriter::create(&path, &header(StateDigest([1; 32])), &snap_key()).unwrap();
    w.record(b"d/a", b"1").unwrap();
    w.finish().unwrap();
    assert!(matches!(
        SnapshotReader::verify(&path, &snap_key(), Accept::Authenticated),
        Err(SnapshotFileError::Digest { .. })
    ));
}

/// Opens the node's RocksDB directly, as a crash would leave it.
fn raw_db(dir: &TempDir) -> rocksdb::DB {
    let opts = rocksdb::Options::default();
    rocksdb::DB::open_cf(
        &opts,
        dir.path().join("db"),
        [
            store::CF_META,
            store::CF_LOGS,
            store::CF_SM_META,
            store::CF_SM_DATA,
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn a_large_snapshot_installs_in_batches_and_an_interrupted_install_is_redone_at_start() {
    use openraft::storage::RaftStateMachine;
    let files = TempDir::new().unwrap();
    // 40 records of 1 MiB: more than one install batch.
    let big = vec![7u8; 1 << 20];
    let keys: Vec<Vec<u8>> = (0..40)
        .map(|i| format!("d/big/{i:03}").into_bytes())
        .collect();
    let mut records: Vec<(&[u8], &[u8])> = keys
        .iter()
        .map(|k| (k.as_slice(), big.as_slice()))
        .collect();
    records.push((b"d/small", b"1"));
    let path = write_file(&files, &records);

    let dir = TempDir::new().unwrap();
    let (_, mut sm) = open(dir.path(), 1, &seal()).unwrap();
    let meta = SnapshotReader::read_header(&path, &snap_key())
        .unwrap()
        .meta;
    sm.install_snapshot(&meta, state_machine::SnapshotData { path })
        .await
        .unwrap();
    let reader = sm.reader();
    assert_eq!(
        reader.get(b"d/big/039").unwrap().as_deref(),
        Some(big.as_slice())
    );
    assert_eq!(
        reader.get(b"d/small").unwrap().as_deref(),
        Some(b"1".as_slice())
    );
    let digest = reader.applied_info().digest;
    let kept = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "snap"))
        .expect("the installed snapshot file is kept");
    drop((sm, reader));

    // A stop half-way: the marker is set and records are missing.
    let db = raw_db(&dir);
    let (meta_cf, data_cf) = (
        db.cf_handle(store::CF_SM_META).unwrap(),
        db.cf_handle(store::CF_SM_DATA).unwrap(),
    );
    db.put_cf(meta_cf, b"installing", kept.as_os_str().as_encoded_bytes())
        .unwrap();
    db.delete_cf(data_cf, b"d/small").unwrap();
    db.delete_cf(meta_cf, b"last_applied").unwrap();
    drop(db);

    let (_, sm) = open(dir.path(), 1, &seal()).unwrap();
    let reader = sm.reader();
    assert_eq!(
        reader.get(b"d/small").unwrap().as_deref(),
        Some(b"1".as_slice())
    );
    assert_eq!(reader.applied_info().digest, digest);
    drop((sm, reader));
    let db = raw_db(&dir);
    let meta_cf = db.cf_handle(store::CF_SM_META).unwrap();
    assert_eq!(db.get_cf(meta_cf, b"installing").unwrap(), None);

    // An interrupted install whose file is gone: a clear refusal to start.
    db.put_cf(meta_cf, b"installing", b"/nonexistent/snap-1.snap")
        .unwrap();
    drop(db);
    let err = open(dir.path(), 1, &seal()).err().expect("must refuse");
    assert!(
        matches!(err, StoreError::InterruptedInstall { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("wipe this node's data dir"),
        "{err}"
    );
}

/// A CA record as formats 2 and 3 stored it: the certificate fields flat.
const FORMAT_3_CA: &[u8] = br#"{"epoch":1,"cert_der":"AQID","chain_der":[],"sealed_key":"BgcI","summary":{"subject":"CN=mr.example.com, C=US","common_name":"mr.example.com","issuer":"CN=mr.example.com, C=US","serial":"01","not_before":1,"not_after":2,"sans":[],"key_type":"ecdsa-p256","fingerprint_sha256":"AA","spki_sha256":"bb","is_ca":true},"origin":"Generated","installed_at_ms":5}"#;

#[test]
fn a_format_3_backup_restores_as_format_4_records_with_their_digest() {
    let dir = TempDir::new().unwrap();
    let path = write_file_of_format(
        &dir,
        3,
        &[
            (b"d/ca", FORMAT_3_CA),
            (b"d/node-endpoints/0000000000000002", b"{}"),
            (b"d/settings", b"{\"revision\":1}"),
        ],
    );

    let (records, digest) = SnapshotReader::records_to_restore(&path, &snap_key()).unwrap();
    let keys: Vec<&[u8]> = records.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(
        keys,
        [b"d/ca".as_slice(), b"d/settings"],
        "listener records stay out"
    );
    let ca: crate::domain::CaRecord = serde_json::from_slice(&records[0].1).unwrap();
    assert_eq!(
        (ca.epoch, ca.cert.der.as_slice()),
        (1, [1u8, 2, 3].as_slice())
    );
    assert_eq!(
        records[1].1, b"{\"revision\":1}",
        "other records as they were"
    );
    let mut expected = StateDigest::default();
    for (k, v) in &records {
        expected.update(k, None, Some(v));
    }
    assert_eq!(
        digest, expected,
        "the digest is that of the records restored"
    );
}

#[test]
fn a_format_3_backup_with_a_damaged_certificate_record_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = write_file_of_format(&dir, 3, &[(b"d/ca", b"{\"epoch\":1}")]);
    let e = SnapshotReader::records_to_restore(&path, &snap_key()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the snapshot file is corrupt: stored record d/ca does not decode: the certificate has no cert_der"
    );
}
