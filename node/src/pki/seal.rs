//! The cluster seal key: AES-256-GCM over every private key at rest or moving
//! between nodes (Raft entries, RocksDB, snapshots, backups). Each node loads
//! it at start from a file or the environment, never from the log.

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::hkdf;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Why a seal key could not be loaded or a sealed value opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read seal key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("seal key must be 64 hex characters (32 bytes); found {found} characters")]
    Malformed { found: usize },
    #[error("sealed value is damaged or was sealed under another seal key")]
    Open,
    #[error("the system random generator failed")]
    Random,
}

/// The AES-256-GCM key that seals secrets. `Debug` shows only its id.
pub struct SealKey {
    key: LessSafeKey,
    id: String,
    snapshot: SnapshotKey,
}

/// The key that authenticates snapshot files and backups (HMAC-SHA256),
/// derived from the seal key (HKDF-SHA256): only a holder of the seal key
/// makes a file a node accepts, and an edit anywhere in one (a record, the
/// count, the digest in its header) is found, as it would not be with a
/// checksum anyone can recompute. `Debug` shows only the seal key's id.
#[derive(Clone)]
pub struct SnapshotKey {
    key: hmac::Key,
    seal_key_id: String,
}

impl SnapshotKey {
    /// The id of the seal key it comes from.
    pub fn seal_key_id(&self) -> &str {
        &self.seal_key_id
    }

    /// A MAC over bytes still to come.
    pub fn context(&self) -> hmac::Context {
        hmac::Context::with_key(&self.key)
    }

    /// Whether `tag` is the MAC `context` computed (in constant time).
    pub fn verify(context: hmac::Context, tag: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(context.sign().as_ref(), tag).is_ok()
    }
}

impl fmt::Debug for SnapshotKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotKey")
            .field("seal_key_id", &self.seal_key_id)
            .finish_non_exhaustive()
    }
}

const SEALED_VERSION: u8 = 1;

impl SealKey {
    /// Parses 64 hex characters (surrounding white space ignored).
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            hex::decode(text).map_err(|_| SealError::Malformed { found: text.len() })?,
        );
        if bytes.len() != 32 {
            return Err(SealError::Malformed { found: text.len() });
        }
        Self::from_bytes(&bytes)
    }

    /// Reads a key file written by [`SealKey::generate_hex`].
    pub fn load_file(path: &Path) -> Result<Self, SealError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| SealError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        Self::from_hex(&text)
    }

    /// A new random key, hex-encoded, for writing to a key file.
    pub fn generate_hex() -> Result<Zeroizing<String>, SealError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| SealError::Random)?;
        Ok(Zeroizing::new(hex::encode(bytes.as_ref())))
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::Malformed { found: 64 })?;
        let fingerprint = digest(
            &SHA256,
            &[b"mrouter seal key id\0".as_slice(), bytes].concat(),
        );
        let id = hex::encode(&fingerprint.as_ref()[..8]);
        let snapshot = hkdf::Salt::new(hkdf::HKDF_SHA256, b"mrouter")
            .extract(bytes)
            .expand(&[b"snapshot file mac v1"], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .map_err(|_| SealError::Malformed { found: 64 })?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            snapshot: SnapshotKey {
                key: snapshot,
                seal_key_id: id.clone(),
            },
            id,
        })
    }

    /// The key that authenticates snapshot files under this seal key.
    pub fn snapshot_key(&self) -> SnapshotKey {
        self.snapshot.clone()
    }

    /// A public fingerprint of the key: equal ids mean the same key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext`, binding it to `context` (which must be given again to open).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .map_err(|_| SealError::Open)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed by [`SealKey::seal`] with the same context.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEALED_VERSION {
            return Err(SealError::Open);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN])
            .map_err(|_| SealError::Open)?;
        let mut body = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| SealError::Open)?
            .len();
        body.truncate(len);
        Ok(body)
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_context() {
        let key = SealKey::from_hex(&SealKey::generate_hex().unwrap()).unwrap();
        let sealed = key.seal(b"secret", b"ctx").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open(&sealed, b"ctx").unwrap().as_slice(), b"secret");
        assert!(key.open(&sealed, b"other").is_err());
    }

    #[test]
    fn snapshot_macs_need_the_same_seal_key() {
        let a = SealKey::from_hex(&SealKey::generate_hex().unwrap()).unwrap();
        let b = SealKey::from_hex(&SealKey::generate_hex().unwrap()).unwrap();
        let mac = |key: &SealKey, bytes: &[u8]| {
            let mut context = key.snapshot_key().context();
            context.update(bytes);
            context.sign().as_ref().to_vec()
        };
        let tag = mac(&a, b"records");
        let check = |key: &SealKey, bytes: &[u8], tag: &[u8]| {
            let mut context = key.snapshot_key().context();
            context.update(bytes);
            SnapshotKey::verify(context, tag)
        };
        assert!(check(&a, b"records", &tag));
        assert!(!check(&a, b"Records", &tag));
        assert!(!check(&b, b"records", &tag));
        assert_eq!(a.snapshot_key().seal_key_id(), a.id());
        // Not the seal key itself, nor a digest of the bytes anyone can make.
        assert_ne!(tag, digest(&SHA256, b"records").as_ref());
    }

    #[test]
    fn another_key_cannot_open() {
        let a = SealKey::from_hex(&SealKey::generate_hex().unwrap()).unwrap();
        let b = SealKey::from_hex(&SealKey::generate_hex().unwrap()).unwrap();
        assert_ne!(a.id(), b.id());
        let sealed = a.seal(b"secret", b"").unwrap();
        assert!(matches!(b.open(&sealed, b""), Err(SealError::Open)));
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let err = SealKey::from_hex("abcd").unwrap_err().to_string();
        assert!(!err.contains("abcd"), "{err}");
        assert!(SealKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn debug_shows_only_the_id() {
        let key = SealKey::from_hex(&"11".repeat(32)).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&"11".repeat(8)), "{shown}");
        assert!(shown.contains(key.id()));
    }
}
