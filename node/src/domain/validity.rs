//! The validity window of a new certificate: the default and the cap for each
//! kind, the back-dating, and the cap at the issuing CA's own end. Pure: the
//! caller passes the time.

use super::error::DomainError;

/// How long a kind of certificate lasts unless told, and at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidityPolicy {
    pub default_days: u32,
    pub max_days: u32,
}

/// A generated certificate authority: ten years, at most a hundred.
pub const CA_VALIDITY: ValidityPolicy = ValidityPolicy {
    default_days: 3650,
    max_days: 36500,
};

/// A router certificate: 825 days (the CA/Browser Forum's old cap, which
/// clients still enforce), at most ten years for private deployments.
pub const ROUTER_VALIDITY: ValidityPolicy = ValidityPolicy {
    default_days: 825,
    max_days: 3650,
};

/// A client certificate: a year, at most ten.
pub const CLIENT_VALIDITY: ValidityPolicy = ValidityPolicy {
    default_days: 365,
    max_days: 3650,
};

/// How far back a new certificate starts, so that a peer whose clock is a
/// little slow accepts it at once.
pub const BACKDATE_S: i64 = 3600;

const DAY_S: i64 = 86_400;

/// When a certificate is valid, in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

impl ValidityPolicy {
    /// The window of a certificate issued at `now` for `days` (0: the
    /// default); more than the cap is refused.
    pub fn window(self, days: u32, now: i64) -> Result<Validity, DomainError> {
        let days = if days == 0 { self.default_days } else { days };
        if days > self.max_days {
            return Err(DomainError::InvalidValidity {
                days,
                max: self.max_days,
            });
        }
        Ok(Validity {
            not_before: now - BACKDATE_S,
            not_after: now + i64::from(days) * DAY_S,
        })
    }
}

impl Validity {
    /// Checks that a CA ending at `ca_not_after` may still sign at `now`, and
    /// ends the window with the CA's when it would outlive it (a certificate
    /// outliving its issuer fails verification), with a warning saying so.
    pub fn within_ca(
        self,
        ca_not_after: i64,
        now: i64,
    ) -> Result<(Validity, Option<String>), DomainError> {
        if now >= ca_not_after {
            return Err(DomainError::CaExpired {
                not_after: rfc3339(ca_not_after),
            });
        }
        if self.not_after <= ca_not_after {
            return Ok((self, None));
        }
        let warning = format!(
            "the certificate would outlive its CA: it ends with the CA at {}",
            rfc3339(ca_not_after)
        );
        Ok((
            Validity {
                not_after: ca_not_after,
                ..self
            },
            Some(warning),
        ))
    }
}

/// Unix seconds as an RFC 3339 time, or the bare number when out of range.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn zero_days_takes_the_default_and_starts_an_hour_back() {
        let w = ROUTER_VALIDITY.window(0, NOW).unwrap();
        assert_eq!(w.not_before, NOW - 3600);
        assert_eq!(w.not_after, NOW + 825 * 86_400);
        let w = CLIENT_VALIDITY.window(0, NOW).unwrap();
        assert_eq!(w.not_after, NOW + 365 * 86_400);
        let w = CA_VALIDITY.window(0, NOW).unwrap();
        assert_eq!(w.not_after, NOW + 3650 * 86_400);
    }

    #[test]
    fn the_cap_is_allowed_and_one_day_more_is_refused() {
        let w = ROUTER_VALIDITY.window(3650, NOW).unwrap();
        assert_eq!(w.not_after, NOW + 3650 * 86_400);
        assert_eq!(
            ROUTER_VALIDITY.window(3651, NOW),
            Err(DomainError::InvalidValidity {
                days: 3651,
                max: 3650
            })
        );
        assert!(CA_VALIDITY.window(36_500, NOW).is_ok());
        assert!(CA_VALIDITY.window(36_501, NOW).is_err());
    }

    #[test]
    fn a_window_inside_the_ca_is_kept_without_a_warning() {
        let w = CLIENT_VALIDITY.window(30, NOW).unwrap();
        assert_eq!(w.within_ca(NOW + 31 * 86_400, NOW), Ok((w, None)));
        // Ending exactly with the CA is inside.
        assert_eq!(w.within_ca(w.not_after, NOW), Ok((w, None)));
    }

    #[test]
    fn a_window_outliving_the_ca_ends_with_it_and_says_so() {
        let w = CLIENT_VALIDITY.window(365, NOW).unwrap();
        let ca_end = NOW + 10 * 86_400;
        let (capped, warning) = w.within_ca(ca_end, NOW).unwrap();
        assert_eq!(capped.not_before, w.not_before);
        assert_eq!(capped.not_after, ca_end);
        assert_eq!(
            warning.as_deref(),
            Some(
                "the certificate would outlive its CA: it ends with the CA at 2027-01-25T08:00:00Z"
            )
        );
    }

    #[test]
    fn an_expired_ca_signs_nothing() {
        let w = CLIENT_VALIDITY.window(1, NOW).unwrap();
        for ca_end in [NOW, NOW - 1] {
            assert!(matches!(
                w.within_ca(ca_end, NOW),
                Err(DomainError::CaExpired { .. })
            ));
        }
        assert_eq!(
            w.within_ca(NOW, NOW).unwrap_err().to_string(),
            "the certificate authority expired at 2027-01-15T08:00:00Z: generate or import a new one (mrctl ca generate | mrctl ca import)"
        );
    }

    #[test]
    fn times_out_of_range_print_as_numbers() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
