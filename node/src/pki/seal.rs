//! The cluster seal key: AES-256-GCM over every private key at rest or moving
//! between nodes (Raft entries, RocksDB, snapshots, backups). Each node loads
//! it at start from a file or the environment, never from the log.

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{digest, SHA256};
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
        Ok(Self {
            key: LessSafeKey::new(unbound),
            id: hex::encode(&fingerprint.as_ref()[..8]),
        })
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
