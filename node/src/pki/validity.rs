//! Validity windows: the check every imported certificate passes, and the
//! RFC 3339 text used to report its dates.

use time::OffsetDateTime;

use super::error::PkiError;

/// `ts` (Unix seconds) as RFC 3339 UTC, e.g. `2030-01-31T12:00:00Z`.
pub(crate) fn rfc3339(ts: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{ts} seconds after the Unix epoch"),
    }
}

/// Fails with `NotYetValid` or `Expired` unless `now` is in the window.
pub(crate) fn check_window(
    subject: &str,
    not_before: i64,
    not_after: i64,
    now: i64,
) -> Result<(), PkiError> {
    if now < not_before {
        return Err(PkiError::NotYetValid {
            subject: subject.into(),
            not_before: rfc3339(not_before),
        });
    }
    if now > not_after {
        return Err(PkiError::Expired {
            subject: subject.into(),
            not_after: rfc3339(not_after),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_900_000_000), "2030-03-17T17:46:40Z");
    }

    #[test]
    fn window_edges_are_inclusive() {
        assert!(check_window("CN=x", 10, 20, 10).is_ok());
        assert!(check_window("CN=x", 10, 20, 20).is_ok());
        assert!(matches!(
            check_window("CN=x", 10, 20, 9),
            Err(PkiError::NotYetValid { .. })
        ));
        assert!(matches!(
            check_window("CN=x", 10, 20, 21),
            Err(PkiError::Expired { .. })
        ));
    }
}
