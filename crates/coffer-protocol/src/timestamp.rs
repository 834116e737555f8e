//! Timestamps between their JSON form (seconds since the epoch, a number, as
//! `coffer_model::Timestamp` serializes) and the text forms of the protocols: ISO 8601
//! (`2024-05-06T07:08:09Z`, with `.123` when there are milliseconds), RFC 822
//! (`Mon, 06 May 2024 07:08:09 GMT`) and epoch seconds as text.

use coffer_model::ops::TimestampFormat;
use serde_json::{Number, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// Milliseconds since the epoch of a JSON timestamp value (a finite number).
pub fn millis_of(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return i.checked_mul(1000);
    }
    let f = n.as_f64()?;
    let ms = (f * 1000.0).round();
    (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64)
}

/// The JSON value of an instant: whole seconds as an integer, else seconds with a fraction (as
/// `coffer_model::Timestamp` serializes).
pub fn value_of(millis: i64) -> Value {
    if millis % 1000 == 0 {
        Value::Number(Number::from(millis / 1000))
    } else {
        Number::from_f64(millis as f64 / 1000.0)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn datetime(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
}

/// `millis` written in `format`.
pub fn format(millis: i64, format: TimestampFormat) -> Option<String> {
    let t = datetime(millis)?;
    match format {
        TimestampFormat::Iso8601 => {
            let whole = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            let mut s = t.format(&whole).ok()?;
            if millis.rem_euclid(1000) != 0 {
                s.push_str(&format!(".{:03}", millis.rem_euclid(1000)));
            }
            s.push('Z');
            Some(s)
        }
        TimestampFormat::Rfc822 => t
            .format(format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .ok(),
        TimestampFormat::EpochSeconds => match value_of(millis) {
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        },
    }
}

/// Milliseconds since the epoch of `text`: ISO 8601 (RFC 3339, any offset, any fraction),
/// RFC 822 with `GMT`, or epoch seconds. Sub-millisecond digits are dropped.
pub fn parse(text: &str) -> Option<i64> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let rfc822 = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    if let Ok(t) = time::PrimitiveDateTime::parse(text, rfc822) {
        return i64::try_from(t.assume_utc().unix_timestamp_nanos() / 1_000_000).ok();
    }
    let is_number = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    if is_number {
        let secs: f64 = text.parse().ok()?;
        let ms = (secs * 1000.0).round();
        return (ms.is_finite() && ms.abs() < 9.0e15).then_some(ms as i64);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_8601_to_the_second_or_millisecond() {
        assert_eq!(
            format(1_700_000_000_000, TimestampFormat::Iso8601).unwrap(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            format(1_700_000_000_050, TimestampFormat::Iso8601).unwrap(),
            "2023-11-14T22:13:20.050Z"
        );
        assert_eq!(parse("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse("2023-11-14T22:13:20.050123Z"),
            Some(1_700_000_000_050)
        );
        assert_eq!(parse("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000));
        assert_eq!(parse("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn rfc_822() {
        let s = format(1_700_000_000_000, TimestampFormat::Rfc822).unwrap();
        assert_eq!(s, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(parse(&s), Some(1_700_000_000_000));
    }

    #[test]
    fn json_values() {
        assert_eq!(
            value_of(1_700_000_000_000),
            serde_json::json!(1_700_000_000)
        );
        assert_eq!(
            value_of(1_700_000_000_250),
            serde_json::json!(1_700_000_000.25)
        );
        assert_eq!(
            millis_of(&serde_json::json!(1_700_000_000.25)),
            Some(1_700_000_000_250)
        );
        assert_eq!(millis_of(&serde_json::json!("x")), None);
    }
}
