//! `Date...` operators and the date formats.

use super::holds;
use crate::condition::parse_date;
use crate::Context;

fn now(value: &str) -> Context {
    Context::new().with("aws:CurrentTime", value)
}

fn check(op: &str, policy_value: &str, request: &str) -> bool {
    holds(
        &format!(r#"{{"{op}":{{"aws:CurrentTime":"{policy_value}"}}}}"#),
        &now(request),
    )
}

const NANOS: i128 = 1_000_000_000;

#[test]
fn iso_8601_profiles() {
    let midnight = 1_704_067_200 * NANOS; // 2024-01-01T00:00:00Z
    assert_eq!(parse_date("2024"), Some(2024 * NANOS)); // digits alone: epoch seconds
    assert_eq!(parse_date("2024-01"), Some(midnight));
    assert_eq!(parse_date("2024-01-01"), Some(midnight));
    assert_eq!(parse_date("2024-01-01T00:00Z"), Some(midnight));
    assert_eq!(parse_date("2024-01-01T00:00:00Z"), Some(midnight));
    assert_eq!(parse_date("2024-01-01t00:00:00z"), Some(midnight));
    assert_eq!(parse_date("2024-01-01T00:00:00"), Some(midnight));
    assert_eq!(parse_date("2024-01-01T02:00:00+02:00"), Some(midnight));
    assert_eq!(parse_date("2024-01-01T02:00:00+0200"), Some(midnight));
    assert_eq!(parse_date("2024-01-01T02:00:00+02"), Some(midnight));
    assert_eq!(parse_date("2023-12-31T19:00:00-05:00"), Some(midnight));
    assert_eq!(
        parse_date("2024-01-01T00:00:00.5Z"),
        Some(midnight + NANOS / 2)
    );
    assert_eq!(
        parse_date("2024-01-01T00:00:00.123456789Z"),
        Some(midnight + 123_456_789)
    );
    assert_eq!(
        parse_date("2024-02-29"),
        Some(midnight + 59 * 86_400 * NANOS)
    );
}

#[test]
fn epoch_seconds() {
    assert_eq!(parse_date("1704067200"), Some(1_704_067_200 * NANOS));
    assert_eq!(parse_date("0"), Some(0));
    assert_eq!(parse_date("1.25"), Some(NANOS + NANOS / 4));
}

#[test]
fn invalid_dates() {
    for text in [
        "",
        "2024-1-01",
        "24-01-01",
        "2024-01-32",
        "2023-02-29",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:60Z",
        "2024-01-01T10Z",
        "2024-01-01T10:00:00.Z",
        "2024-01-01T10:00:00+25:00",
        "2024-01-01T10:00:00Zjunk",
        "2024-01-01-01",
        "1e9",
        "12 34",
        "now",
    ] {
        assert_eq!(parse_date(text), None, "{text}");
    }
}

#[test]
fn comparisons() {
    let t = "2024-06-01T12:00:00Z";
    assert!(check("DateEquals", t, "2024-06-01T12:00:00Z"));
    assert!(check("DateEquals", t, "2024-06-01T14:00:00+02:00"));
    assert!(!check("DateEquals", t, "2024-06-01T12:00:01Z"));
    assert!(check("DateNotEquals", t, "2024-06-01T12:00:01Z"));
    assert!(!check("DateNotEquals", t, "2024-06-01T12:00:00Z"));
    assert!(check("DateLessThan", t, "2024-06-01T11:59:59Z"));
    assert!(!check("DateLessThan", t, t));
    assert!(check("DateLessThanEquals", t, t));
    assert!(!check("DateLessThanEquals", t, "2024-06-01T12:00:00.001Z"));
    assert!(check("DateGreaterThan", t, "2024-06-01T12:00:00.001Z"));
    assert!(!check("DateGreaterThan", t, t));
    assert!(check("DateGreaterThanEquals", t, t));
    assert!(!check("DateGreaterThanEquals", t, "2024-05-31"));
}

#[test]
fn epoch_and_iso_compare_with_each_other() {
    // aws:EpochTime carries epoch seconds; a policy may write either form.
    let c = r#"{"DateGreaterThan":{"aws:EpochTime":"2024-01-01T00:00:00Z"}}"#;
    assert!(holds(
        c,
        &Context::new().with("aws:EpochTime", "1704067201")
    ));
    assert!(!holds(
        c,
        &Context::new().with("aws:EpochTime", "1704067200")
    ));
    assert!(check("DateEquals", "1704067200", "2024-01-01T00:00:00Z"));
    assert!(holds(
        r#"{"DateLessThan":{"aws:CurrentTime":1704067200}}"#,
        &now("2023-12-31T23:59:59Z")
    ));
}

#[test]
fn unparseable_request_dates_never_match() {
    assert!(!check("DateLessThan", "2024-01-01", "soon"));
    assert!(!check("DateGreaterThan", "2024-01-01", "soon"));
    assert!(check("DateNotEquals", "2024-01-01", "soon"));
}

#[test]
fn missing_key() {
    assert!(!holds(
        r#"{"DateGreaterThan":{"aws:TokenIssueTime":"2020-01-01T00:00:01Z"}}"#,
        &Context::new()
    ));
    assert!(holds(
        r#"{"DateNotEquals":{"aws:TokenIssueTime":"2020-01-01T00:00:01Z"}}"#,
        &Context::new()
    ));
}

#[test]
fn a_time_window() {
    let c = r#"{"DateGreaterThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2024-12-31T23:59:59Z"}}"#;
    assert!(holds(c, &now("2024-07-01T00:00:00Z")));
    assert!(!holds(c, &now("2025-01-01T00:00:00Z")));
    assert!(!holds(c, &now("2023-07-01T00:00:00Z")));
}
