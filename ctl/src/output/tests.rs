use super::*;

#[test]
fn times_are_rfc3339_utc() {
    assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(utc(1_748_779_200), "2025-06-01T12:00:00Z");
    assert_eq!(utc_ms(1_748_779_200_999), "2025-06-01T12:00:00Z");
    assert_eq!(utc_date(1_748_779_200), "2025-06-01");
}

#[test]
fn out_of_range_time_says_so() {
    assert!(utc(i64::MAX).contains("invalid"));
}
