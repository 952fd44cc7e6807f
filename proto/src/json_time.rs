//! Times in mrctl's json/yaml output: RFC 3339 UTC strings, whatever unit
//! the wire field uses; zero (not set) is `null`.

use serde::Serializer;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Unix seconds.
pub fn seconds<S: Serializer>(value: &i64, s: S) -> Result<S::Ok, S::Error> {
    rfc3339(
        OffsetDateTime::from_unix_timestamp(*value).ok(),
        *value == 0,
        s,
    )
}

/// Unix milliseconds.
pub fn millis<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
    let nanos = i128::from(*value) * 1_000_000;
    rfc3339(
        OffsetDateTime::from_unix_timestamp_nanos(nanos).ok(),
        *value == 0,
        s,
    )
}

fn rfc3339<S: Serializer>(t: Option<OffsetDateTime>, unset: bool, s: S) -> Result<S::Ok, S::Error> {
    match t.filter(|_| !unset).and_then(|t| t.format(&Rfc3339).ok()) {
        Some(text) => s.serialize_str(&text),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339_and_zero_is_null() {
        let info = crate::v1::ClientInfo {
            not_before: 1_700_000_000,
            provisioned_at_ms: 1_700_000_000_250,
            ..Default::default()
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["not_before"], "2023-11-14T22:13:20Z");
        assert_eq!(v["provisioned_at"], "2023-11-14T22:13:20.25Z");
        assert!(v["revoked_at"].is_null());
        assert!(v.get("provisioned_at_ms").is_none());
    }
}
