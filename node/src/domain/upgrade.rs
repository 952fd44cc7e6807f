//! Upgrades records written under an older stored format, so that a backup
//! taken by an earlier version restores into this one. Pure: the caller
//! passes each record and the format its file declares.

use serde_json::{Map, Value};

use super::key::{FORMAT_VERSION, KEY_CA, SLOT_PREFIX};
use super::state::CorruptRecord;

/// The fields that format 4 moved into one `cert` object (a `SealedCert`),
/// with their new names.
const SEALED_FIELDS: [(&str, &str); 5] = [
    ("cert_der", "der"),
    ("chain_der", "chain_der"),
    ("sealed_key", "sealed_key"),
    ("summary", "summary"),
    ("origin", "origin"),
];

/// The record `value` of `key` as this version stores it, when a file of
/// `format` stored it otherwise; `None` when it is unchanged.
///
/// Format 4 keeps a certificate, its chain, its sealed key, summary and
/// origin as one `cert` object in the CA record and in each slot's active
/// and pending certificate. Formats 2 and 3 stored them as flat fields.
pub fn upgrade_record(
    key: &[u8],
    value: &[u8],
    format: u32,
) -> Result<Option<Vec<u8>>, CorruptRecord> {
    if format >= FORMAT_VERSION {
        return Ok(None);
    }
    let is_ca = key == KEY_CA.as_bytes();
    if !is_ca && !key.starts_with(SLOT_PREFIX.as_bytes()) {
        return Ok(None);
    }
    let corrupt = |reason: String| CorruptRecord {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    let mut record: Value =
        serde_json::from_slice(value).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    let Value::Object(fields) = &mut record else {
        return Err(corrupt("not a JSON object".into()));
    };
    if is_ca {
        nest_sealed(fields).map_err(corrupt)?;
    } else {
        for state in ["active", "pending"] {
            match fields.get_mut(state) {
                Some(Value::Object(cert)) => nest_sealed(cert).map_err(corrupt)?,
                Some(Value::Null) | None => {}
                Some(_) => return Err(corrupt(format!("{state} is not an object"))),
            }
        }
    }
    Ok(Some(
        serde_json::to_vec(&record).expect("a JSON value always serializes"),
    ))
}

/// Moves the flat certificate fields of `fields` into a `cert` object.
fn nest_sealed(fields: &mut Map<String, Value>) -> Result<(), String> {
    let mut cert = Map::new();
    for (old, new) in SEALED_FIELDS {
        let value = fields
            .remove(old)
            .ok_or_else(|| format!("the certificate has no {old}"))?;
        cert.insert(new.into(), value);
    }
    fields.insert("cert".into(), Value::Object(cert));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{CaRecord, SlotRecord};
    use super::*;

    fn summary() -> Value {
        json!({
            "subject": "CN=mr.example.com, C=US",
            "common_name": "mr.example.com",
            "issuer": "CN=mr.example.com, C=US",
            "serial": "01",
            "not_before": 1,
            "not_after": 2,
            "sans": [],
            "key_type": "ecdsa-p256",
            "fingerprint_sha256": "AA",
            "spki_sha256": "bb",
            "is_ca": true
        })
    }

    /// A format-3 certificate: flat fields.
    fn flat_cert() -> Map<String, Value> {
        let Value::Object(m) = json!({
            "cert_der": "AQID",
            "chain_der": ["BAU="],
            "sealed_key": "BgcI",
            "summary": summary(),
            "origin": "Generated"
        }) else {
            unreachable!()
        };
        m
    }

    #[test]
    fn a_format_3_ca_record_reads_as_this_version_stores_it() {
        let mut old = flat_cert();
        old.insert("epoch".into(), json!(2));
        old.insert("installed_at_ms".into(), json!(5));
        let raw = serde_json::to_vec(&old).unwrap();
        let new = upgrade_record(b"d/ca", &raw, 3).unwrap().expect("changed");
        let ca: CaRecord = serde_json::from_slice(&new).unwrap();
        assert_eq!(ca.epoch, 2);
        assert_eq!(ca.installed_at_ms, 5);
        assert_eq!(ca.cert.der, [1, 2, 3]);
        assert_eq!(ca.cert.chain_der, [vec![4, 5]]);
        assert_eq!(ca.cert.sealed_key, [6, 7, 8]);
        assert_eq!(ca.cert.summary.serial, "01");
    }

    #[test]
    fn a_format_2_slot_record_upgrades_both_certificates_and_keeps_the_csr() {
        let mut active = flat_cert();
        active.insert("ca_epoch".into(), json!(1));
        active.insert("installed_at_ms".into(), json!(9));
        let old = json!({
            "active": active,
            "pending": null,
            "csr": null,
            "last_generated_ms": 9
        });
        let raw = serde_json::to_vec(&old).unwrap();
        let new = upgrade_record(b"d/slot/local/1", &raw, 2)
            .unwrap()
            .expect("changed");
        let slot: SlotRecord = serde_json::from_slice(&new).unwrap();
        let active = slot.active.expect("active");
        assert_eq!(active.ca_epoch, Some(1));
        assert_eq!(active.cert.der, [1, 2, 3]);
        assert!(slot.pending.is_none());
        assert_eq!(slot.last_generated_ms, Some(9));
    }

    #[test]
    fn records_of_this_format_and_other_records_are_left_alone() {
        for (key, format) in [
            (b"d/ca".as_slice(), FORMAT_VERSION),
            (b"d/settings", 3),
            (b"d/client/tablet-7", 3),
        ] {
            assert!(upgrade_record(key, b"{}", format).unwrap().is_none());
        }
    }

    #[test]
    fn a_damaged_old_record_is_reported_with_its_key() {
        let e = upgrade_record(b"d/ca", b"{\"epoch\": 1}", 3).unwrap_err();
        assert_eq!(e.key, "d/ca");
        assert_eq!(e.reason, "the certificate has no cert_der");
        let e = upgrade_record(b"d/slot/remote/2", b"[1]", 3).unwrap_err();
        assert_eq!(e.reason, "not a JSON object");
    }
}
