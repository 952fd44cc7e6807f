//! The snapshot file: one format for Raft snapshot transfer and for backups.
//!
//! ```text
//! "MRSNAP\0\x02" | u32 header length | header (JSON) |
//! { u32 key length | key | u32 value length | value }* |
//! u32 0xFFFF_FFFF | u64 record count | HMAC-SHA256 of all bytes before it
//! ```
//! The MAC is keyed from the seal key ([`SnapshotKey`]): a file someone
//! edited, or made without the seal key, is refused. Sealed values are
//! copied as they are stored, so secrets stay sealed. A reader checks the
//! MAC, the record count and the state digest before anything is applied.
//!
//! Files of the first kind (`"MRSNAP\0\x01"`, a plain SHA-256 where the MAC
//! is) are backups of earlier versions: only a restore reads them
//! ([`Accept::AlsoUnkeyed`]), never a snapshot sent between nodes.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};

use super::types::TypeConfig;
use crate::domain::{Key, StateDigest};
use crate::pki::SnapshotKey;

const MAGIC: &[u8; 8] = b"MRSNAP\0\x02";
/// The first kind of file: a SHA-256 checksum instead of the MAC.
const MAGIC_UNKEYED: &[u8; 8] = b"MRSNAP\0\x01";
const END: u32 = u32::MAX;
const MAX_HEADER: u32 = 1 << 20;
const MAX_FIELD: u32 = 64 << 20;

/// Describes a snapshot file; written before the records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotHeader {
    pub format: u32,
    pub meta: openraft::alias::SnapshotMetaOf<TypeConfig>,
    /// Digest of the domain records in the file.
    pub digest: StateDigest,
    /// Id of the seal key the sealed values need.
    pub seal_key_id: String,
    pub node_id: u64,
    pub created_at_ms: u64,
}

/// Raw records (key, value).
pub type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// Why a snapshot file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    #[error("snapshot I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("not an mrouter snapshot file (bad magic bytes)")]
    BadMagic,
    #[error("the snapshot file is truncated")]
    Truncated,
    #[error("the snapshot header does not decode: {0}")]
    Header(String),
    #[error("snapshot format {found} is not supported (this mrd reads {supported})")]
    Format { found: u32, supported: u32 },
    #[error("the snapshot file is corrupt: checksum mismatch")]
    Checksum,
    #[error("the snapshot file was altered or not made under this cluster's seal key: its MAC does not verify")]
    Mac,
    #[error(
        "the snapshot file was made under seal key {file}, but this cluster's seal key is {ours}"
    )]
    SealKey { file: String, ours: String },
    #[error("the snapshot file has a checksum but no MAC (a backup of an earlier mrd): only `snapshot restore` reads it")]
    Unkeyed,
    #[error("the snapshot file is corrupt: it holds {found} records but says {expected}")]
    Count { expected: u64, found: u64 },
    #[error(
        "the snapshot file is corrupt: its records digest to {computed}, its header says {header}"
    )]
    Digest { header: String, computed: String },
    #[error("the snapshot file is corrupt: a record is larger than 64 MiB")]
    Oversized,
    /// A record of an older format that cannot be upgraded.
    #[error("the snapshot file is corrupt: {0}")]
    Record(#[from] crate::domain::CorruptRecord),
}

/// Which files a reader takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Only files with a MAC under this cluster's seal key.
    Authenticated,
    /// Also backups of the first kind, checked by their checksum (a
    /// restore; the digest and seal key id are still checked).
    AlsoUnkeyed,
}

/// What proves a file whole: the MAC, or a first-kind file's checksum.
enum Integrity {
    /// Boxed: an HMAC context is over a kilobyte.
    Mac(Box<hmac::Context>),
    Checksum(Context),
}

impl Integrity {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Integrity::Mac(c) => c.update(bytes),
            Integrity::Checksum(c) => c.update(bytes),
        }
    }

    fn matches(&self, stored: &[u8]) -> bool {
        match self {
            Integrity::Mac(c) => SnapshotKey::verify((**c).clone(), stored),
            Integrity::Checksum(c) => c.clone().finish().as_ref() == stored,
        }
    }

    fn error(&self) -> SnapshotFileError {
        match self {
            Integrity::Mac(_) => SnapshotFileError::Mac,
            Integrity::Checksum(_) => SnapshotFileError::Checksum,
        }
    }
}

/// Writes a snapshot file record by record.
pub struct SnapshotWriter {
    out: BufWriter<File>,
    mac: hmac::Context,
    records: u64,
}

impl SnapshotWriter {
    /// Starts a file whose MAC is keyed by `key` (the header must name its
    /// seal key).
    pub fn create(
        path: &Path,
        header: &SnapshotHeader,
        key: &SnapshotKey,
    ) -> Result<Self, SnapshotFileError> {
        let mut w = Self {
            out: BufWriter::new(File::create(path)?),
            mac: key.context(),
            records: 0,
        };
        let header =
            serde_json::to_vec(header).map_err(|e| SnapshotFileError::Header(e.to_string()))?;
        w.write(MAGIC)?;
        w.write(&(header.len() as u32).to_be_bytes())?;
        w.write(&header)?;
        Ok(w)
    }

    pub fn record(&mut self, key: &[u8], value: &[u8]) -> Result<(), SnapshotFileError> {
        self.write(&(key.len() as u32).to_be_bytes())?;
        self.write(key)?;
        self.write(&(value.len() as u32).to_be_bytes())?;
        self.write(value)?;
        self.records += 1;
        Ok(())
    }

    /// Writes the trailer and syncs the file to disk.
    pub fn finish(mut self) -> Result<u64, SnapshotFileError> {
        self.write(&END.to_be_bytes())?;
        self.write(&self.records.to_be_bytes())?;
        let tag = self.mac.clone().sign();
        self.out.write_all(tag.as_ref())?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.records)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.mac.update(bytes);
        self.out.write_all(bytes)
    }
}

/// Reads a snapshot file: [`SnapshotReader::verify`] checks it whole, then
/// [`SnapshotReader::records`] streams the records.
pub struct SnapshotReader {
    input: BufReader<File>,
    integrity: Integrity,
    pub header: SnapshotHeader,
}

impl SnapshotReader {
    /// Opens a file and reads its header; the MAC (or checksum) is checked
    /// when the records have been read ([`SnapshotReader::for_each_record`]).
    pub fn open(path: &Path, key: &SnapshotKey, accept: Accept) -> Result<Self, SnapshotFileError> {
        let mut input = BufReader::with_capacity(1 << 16, File::open(path)?);
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).map_err(truncated)?;
        let mut integrity = match (&magic, accept) {
            (MAGIC, _) => Integrity::Mac(Box::new(key.context())),
            (MAGIC_UNKEYED, Accept::AlsoUnkeyed) => Integrity::Checksum(Context::new(&SHA256)),
            (MAGIC_UNKEYED, Accept::Authenticated) => return Err(SnapshotFileError::Unkeyed),
            _ => return Err(SnapshotFileError::BadMagic),
        };
        integrity.update(&magic);
        let mut r = Self {
            input,
            integrity,
            header: placeholder_header(),
        };
        let len = u32::from_be_bytes(r.read_exact::<4>()?);
        if len > MAX_HEADER {
            return Err(SnapshotFileError::Header(format!(
                "header length {len} is implausible"
            )));
        }
        let raw = r.read_vec(len as usize)?;
        let header: SnapshotHeader =
            serde_json::from_slice(&raw).map_err(|e| SnapshotFileError::Header(e.to_string()))?;
        // Said before the MAC is checked, which then fails: the likelier
        // cause by far, and what to do about it.
        if header.seal_key_id != key.seal_key_id() {
            return Err(SnapshotFileError::SealKey {
                file: header.seal_key_id,
                ours: key.seal_key_id().to_string(),
            });
        }
        // Files (backups) of formats 2 and 3 are read too: a restore upgrades
        // their records (`domain::upgrade_record`).
        if !(2..=crate::domain::FORMAT_VERSION).contains(&header.format) {
            return Err(SnapshotFileError::Format {
                found: header.format,
                supported: crate::domain::FORMAT_VERSION,
            });
        }
        r.header = header;
        Ok(r)
    }

    /// The records of the backup at `path` to restore, as this version stores
    /// them, and the digest they make. The backup's listener records name the
    /// nodes it was saved from: they are left out (and out of the digest), and
    /// this cluster's nodes keep their own. Records of an older format are
    /// upgraded, and the digest follows them.
    pub fn records_to_restore(
        path: &Path,
        key: &SnapshotKey,
    ) -> Result<(Records, StateDigest), SnapshotFileError> {
        let mut reader = Self::open(path, key, Accept::AlsoUnkeyed)?;
        let format = reader.header.format;
        let mut digest = reader.header.digest;
        let mut out = Vec::new();
        reader.for_each_record(|k, v| {
            if crate::domain::Key::is_node_reported(k) {
                digest.update(k, Some(v), None);
            } else if crate::domain::Key::is_domain(k) {
                match crate::domain::upgrade_record(k, v, format)? {
                    Some(upgraded) => {
                        digest.update(k, Some(v), Some(&upgraded));
                        out.push((k.to_vec(), upgraded));
                    }
                    None => out.push((k.to_vec(), v.to_vec())),
                }
            }
            Ok(())
        })?;
        Ok((out, digest))
    }

    /// Whether `data`, arriving at byte `offset` of a file, can be part of a
    /// snapshot file's start (its magic bytes): lets a receiver refuse junk
    /// at once instead of after writing all of it.
    pub fn may_start(offset: u64, data: &[u8]) -> bool {
        let offset = offset as usize;
        if offset >= MAGIC.len() {
            return true;
        }
        let n = data.len().min(MAGIC.len() - offset);
        data[..n] == MAGIC[offset..offset + n]
    }

    /// Reads only the header (of a file this node wrote or verified).
    pub fn read_header(
        path: &Path,
        key: &SnapshotKey,
    ) -> Result<SnapshotHeader, SnapshotFileError> {
        Ok(Self::open(path, key, Accept::Authenticated)?.header)
    }

    /// Checks the MAC (or checksum), count and digest; returns the header
    /// and record count.
    pub fn verify(
        path: &Path,
        key: &SnapshotKey,
        accept: Accept,
    ) -> Result<(SnapshotHeader, u64), SnapshotFileError> {
        let mut reader = Self::open(path, key, accept)?;
        let mut digest = StateDigest::default();
        let mut count = 0;
        reader.for_each_record(|key, value| {
            count += 1;
            if Key::is_domain(key) {
                digest.update(key, None, Some(value));
            }
            Ok(())
        })?;
        if digest != reader.header.digest {
            return Err(SnapshotFileError::Digest {
                header: reader.header.digest.to_hex(),
                computed: digest.to_hex(),
            });
        }
        Ok((reader.header, count))
    }

    /// Calls `f` for each record, then checks the trailer.
    pub fn for_each_record(
        &mut self,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), SnapshotFileError>,
    ) -> Result<u64, SnapshotFileError> {
        let mut count = 0u64;
        loop {
            let len = u32::from_be_bytes(self.read_exact::<4>()?);
            if len == END {
                break;
            }
            let key = self.read_field(len)?;
            let vlen = u32::from_be_bytes(self.read_exact::<4>()?);
            let value = self.read_field(vlen)?;
            f(&key, &value)?;
            count += 1;
        }
        let expected = u64::from_be_bytes(self.read_exact::<8>()?);
        let mut stored = [0u8; 32];
        self.input.read_exact(&mut stored).map_err(truncated)?;
        if !self.integrity.matches(&stored) {
            return Err(self.integrity.error());
        }
        if expected != count {
            return Err(SnapshotFileError::Count {
                expected,
                found: count,
            });
        }
        let mut rest = [0u8; 1];
        if self.input.read(&mut rest)? != 0 {
            return Err(self.integrity.error());
        }
        Ok(count)
    }

    fn read_field(&mut self, len: u32) -> Result<Vec<u8>, SnapshotFileError> {
        if len > MAX_FIELD {
            return Err(SnapshotFileError::Oversized);
        }
        self.read_vec(len as usize)
    }

    fn read_exact<const N: usize>(&mut self) -> Result<[u8; N], SnapshotFileError> {
        let mut buf = [0u8; N];
        self.input.read_exact(&mut buf).map_err(truncated)?;
        self.integrity.update(&buf);
        Ok(buf)
    }

    fn read_vec(&mut self, len: usize) -> Result<Vec<u8>, SnapshotFileError> {
        let mut buf = vec![0u8; len];
        self.input.read_exact(&mut buf).map_err(truncated)?;
        self.integrity.update(&buf);
        Ok(buf)
    }
}

fn truncated(e: io::Error) -> SnapshotFileError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        SnapshotFileError::Truncated
    } else {
        SnapshotFileError::Io(e)
    }
}

fn placeholder_header() -> SnapshotHeader {
    SnapshotHeader {
        format: 0,
        meta: Default::default(),
        digest: StateDigest::default(),
        seal_key_id: String::new(),
        node_id: 0,
        created_at_ms: 0,
    }
}
