//! Byte fields of stored records and Raft entries: base64 text in JSON (the
//! stored records), where a `Vec<u8>` would otherwise be an array of numbers,
//! three to four times larger and slow to parse; raw bytes in binary formats
//! (Raft entries and messages).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&STANDARD.encode(bytes))
    } else {
        s.serialize_bytes(bytes)
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    if d.is_human_readable() {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    } else {
        d.deserialize_byte_buf(RawBytes)
    }
}

/// Accepts a byte string however the binary format hands it over.
struct RawBytes;

impl<'de> Visitor<'de> for RawBytes {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(b) = seq.next_element()? {
            out.push(b);
        }
        Ok(out)
    }
}

/// A byte string inside a list, encoded as [`serialize`] does.
#[derive(serde::Serialize, serde::Deserialize)]
struct Item(#[serde(with = "self")] Vec<u8>);

/// The same for a list of byte strings (certificate chains).
pub mod list {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(items: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(items.len()))?;
        for item in items {
            seq.serialize_element(&BorrowedItem(item))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<Item>::deserialize(d)?
            .into_iter()
            .map(|i| i.0)
            .collect())
    }

    struct BorrowedItem<'a>(&'a [u8]);

    impl serde::Serialize for BorrowedItem<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, s)
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Record {
        #[serde(with = "super")]
        der: Vec<u8>,
        #[serde(with = "super::list")]
        chain: Vec<Vec<u8>>,
    }

    #[test]
    fn bytes_round_trip_as_base64_text() {
        let r = Record {
            der: vec![0, 1, 2, 255],
            chain: vec![vec![9; 5], vec![]],
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"der":"AAEC/w==","chain":["CQkJCQk=",""]}"#);
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), r);
    }

    #[test]
    fn bytes_are_raw_in_binary_formats() {
        let r = Record {
            der: vec![0, 1, 2, 255],
            chain: vec![vec![9; 5], vec![]],
        };
        let raw = postcard::to_stdvec(&r).unwrap();
        // Length-prefixed bytes, no text: 1 + 4, then 1 + (1 + 5) + (1 + 0).
        assert_eq!(raw.len(), 5 + 8);
        assert_eq!(postcard::from_bytes::<Record>(&raw).unwrap(), r);
    }
}
