//! Byte fields of stored records and Raft entries as base64 text. Records are
//! JSON, where a `Vec<u8>` would otherwise be an array of numbers: three to
//! four times larger and slow to parse on every node for every entry.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    STANDARD
        .decode(text.as_bytes())
        .map_err(serde::de::Error::custom)
}

/// The same for a list of byte strings (certificate chains).
pub mod list {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(items: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(items.len()))?;
        for item in items {
            seq.serialize_element(&STANDARD.encode(item))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|t| {
                STANDARD
                    .decode(t.as_bytes())
                    .map_err(serde::de::Error::custom)
            })
            .collect()
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
}
