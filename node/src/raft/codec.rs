//! The binary encoding of Raft entries, Raft messages and forwarded requests
//! (postcard): every write crosses it several times on every node, where
//! JSON cost several times the CPU and a third more bytes. Stored domain
//! records stay JSON (see `domain::base64_bytes`).

use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

pub(crate) fn from_slice<T: DeserializeOwned>(raw: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(raw)
}
