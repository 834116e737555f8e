//! The `Condition` element: operators, set operators, `...IfExists`, and value comparison.

use std::cmp::Ordering;
use std::net::IpAddr;

use serde_json::Value;

use crate::context::{normalize, Context};
use crate::error::PolicyError;
use crate::pattern::{glob_str, Template, Tok};

/// How a condition compares request values with policy values (the positive form; negated
/// operators evaluate the same comparison and invert it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    /// `StringEquals` / `StringNotEquals`: exact, case-sensitive.
    Str,
    /// `StringEqualsIgnoreCase` / `StringNotEqualsIgnoreCase`.
    StrIgnoreCase,
    /// `StringLike` / `StringNotLike`: `*` and `?` wildcards, case-sensitive.
    StrLike,
    /// `Numeric...`.
    Numeric(Ordering, bool),
    /// `Date...`.
    Date(Ordering, bool),
    /// `Bool`.
    Bool,
    /// `BinaryEquals`.
    Binary,
    /// `IpAddress` / `NotIpAddress`.
    Ip,
    /// `ArnEquals`, `ArnLike` / `ArnNotEquals`, `ArnNotLike`: the six colon-separated parts
    /// compared one by one, each with wildcards.
    Arn,
    /// `Null`: whether the key is absent.
    Null,
}

impl Cmp {
    /// Whether the operator's values may hold policy variables: "You can use a policy variable
    /// with the String, ARN and Boolean condition operators" (not Numeric, Date, Binary, IP
    /// address or Null).
    fn takes_variables(self) -> bool {
        matches!(
            self,
            Cmp::Str | Cmp::StrIgnoreCase | Cmp::StrLike | Cmp::Arn | Cmp::Bool
        )
    }
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Any,
    All,
}

/// A parsed condition operator.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Operator {
    set: Option<SetOp>,
    cmp: Cmp,
    negated: bool,
    if_exists: bool,
}

/// The base operators (without set prefix or `IfExists`), their comparison and negation.
const OPERATORS: &[(&str, Cmp, bool)] = &[
    ("StringEquals", Cmp::Str, false),
    ("StringNotEquals", Cmp::Str, true),
    ("StringEqualsIgnoreCase", Cmp::StrIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Cmp::StrIgnoreCase, true),
    ("StringLike", Cmp::StrLike, false),
    ("StringNotLike", Cmp::StrLike, true),
    ("NumericEquals", Cmp::Numeric(Ordering::Equal, true), false),
    (
        "NumericNotEquals",
        Cmp::Numeric(Ordering::Equal, true),
        true,
    ),
    (
        "NumericLessThan",
        Cmp::Numeric(Ordering::Less, false),
        false,
    ),
    (
        "NumericLessThanEquals",
        Cmp::Numeric(Ordering::Less, true),
        false,
    ),
    (
        "NumericGreaterThan",
        Cmp::Numeric(Ordering::Greater, false),
        false,
    ),
    (
        "NumericGreaterThanEquals",
        Cmp::Numeric(Ordering::Greater, true),
        false,
    ),
    ("DateEquals", Cmp::Date(Ordering::Equal, true), false),
    ("DateNotEquals", Cmp::Date(Ordering::Equal, true), true),
    ("DateLessThan", Cmp::Date(Ordering::Less, false), false),
    ("DateLessThanEquals", Cmp::Date(Ordering::Less, true), false),
    (
        "DateGreaterThan",
        Cmp::Date(Ordering::Greater, false),
        false,
    ),
    (
        "DateGreaterThanEquals",
        Cmp::Date(Ordering::Greater, true),
        false,
    ),
    ("Bool", Cmp::Bool, false),
    ("BinaryEquals", Cmp::Binary, false),
    ("IpAddress", Cmp::Ip, false),
    ("NotIpAddress", Cmp::Ip, true),
    ("ArnEquals", Cmp::Arn, false),
    ("ArnLike", Cmp::Arn, false),
    ("ArnNotEquals", Cmp::Arn, true),
    ("ArnNotLike", Cmp::Arn, true),
    ("Null", Cmp::Null, false),
];

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn strip_suffix_ci<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let split = text.len().checked_sub(suffix.len())?;
    let tail = text.get(split..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..split])
}

impl Operator {
    fn parse(name: &str) -> Result<Operator, PolicyError> {
        let unknown = || PolicyError::UnknownConditionOperator {
            operator: name.to_owned(),
        };
        let (set, rest) = if let Some(rest) = strip_prefix_ci(name, "ForAnyValue:") {
            (Some(SetOp::Any), rest)
        } else if let Some(rest) = strip_prefix_ci(name, "ForAllValues:") {
            (Some(SetOp::All), rest)
        } else {
            (None, name)
        };
        let lookup = |base: &str| {
            OPERATORS
                .iter()
                .find(|(n, _, _)| n.eq_ignore_ascii_case(base))
                .map(|(_, cmp, negated)| (*cmp, *negated))
        };
        // An operator whose own name ends in "IfExists" does not exist, so the suffix is
        // always the modifier; "You can add IfExists to the end of any condition operator
        // name except the Null condition".
        let (cmp, negated, if_exists) = match strip_suffix_ci(rest, "IfExists") {
            Some(base) => {
                let (cmp, negated) = lookup(base).ok_or_else(unknown)?;
                if cmp == Cmp::Null {
                    return Err(unknown());
                }
                (cmp, negated, true)
            }
            None => {
                let (cmp, negated) = lookup(rest).ok_or_else(unknown)?;
                (cmp, negated, false)
            }
        };
        Ok(Operator {
            set,
            cmp,
            negated,
            if_exists,
        })
    }
}

/// One `operator: { key: values }` pair of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    op: Operator,
    /// The condition key in normal (lowercase) form.
    key: String,
    /// The condition key as the policy writes it (the simulator reports it so).
    name: String,
    values: Vec<Template>,
}

/// Parses a statement's `Condition` element: every operator, every key, all must hold.
pub(crate) fn parse_block(block: &Value, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = block else {
        return Err(PolicyError::syntax("Condition must be an object"));
    };
    let mut out = Vec::new();
    for (name, keys) in operators {
        let op = Operator::parse(name)?;
        let Value::Object(keys) = keys else {
            return Err(PolicyError::syntax(format!(
                "condition operator {name} must map keys to values"
            )));
        };
        for (key, values) in keys {
            if !key.contains(':') {
                return Err(PolicyError::MissingVendor { value: key.clone() });
            }
            let raw = condition_values(name, values)?;
            let mut templates = Vec::with_capacity(raw.len());
            for value in raw {
                if let Cmp::Date(..) = op.cmp {
                    if parse_date(&value).is_none() {
                        return Err(PolicyError::LegacyParsing {
                            detail: format!("{name}: {value} is not a date"),
                        });
                    }
                }
                templates.push(if op.cmp.takes_variables() {
                    Template::parse(&value, variables)
                } else {
                    Template::literal(&value)
                });
            }
            out.push(Condition {
                op: op.clone(),
                key: normalize(key),
                name: key.clone(),
                values: templates,
            });
        }
    }
    Ok(out)
}

/// A condition's values: a string, number or boolean, or a list of them.
fn condition_values(operator: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(PolicyError::syntax(format!(
            "condition values of {operator} must be strings, numbers or booleans"
        ))),
    };
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

/// A policy value made ready for comparison.
enum Prepared {
    Str(String),
    Pattern(Vec<Tok>),
    Arn(Vec<Tok>),
    Number(f64),
    Date(i128),
    Bool(bool),
    Bytes(Vec<u8>),
    Net(IpNet),
}

impl Condition {
    /// The condition key as written in the policy.
    pub(crate) fn key_name(&self) -> &str {
        &self.name
    }

    /// The context keys of the policy variables in its values, as written.
    pub(crate) fn value_variables(&self) -> impl Iterator<Item = &str> {
        self.values.iter().flat_map(Template::variables)
    }

    /// Whether the condition holds for `ctx`.
    pub(crate) fn holds(&self, ctx: &Context) -> bool {
        let request = ctx.get_normalized(&self.key);
        if self.op.cmp == Cmp::Null {
            // "true" (the key doesn't exist — it is null) or "false" (the key exists).
            let present = request.is_some();
            return self.values.iter().any(|v| {
                let v = v.as_plain().unwrap_or_default();
                if v.eq_ignore_ascii_case("true") {
                    !present
                } else if v.eq_ignore_ascii_case("false") {
                    present
                } else {
                    false
                }
            });
        }
        let Some(request) = request else {
            // "If the key that you specify in a policy condition is not present in the request
            // context, the values do not match and the condition is false. If the policy
            // condition requires that the key is not matched, such as StringNotLike or
            // ArnNotLike, and the right key is not present, the condition is true." IfExists:
            // "If the key is not present, evaluate the condition element as true."
            // ForAllValues with no values is true; ForAnyValue with no values is false.
            if self.op.if_exists {
                return true;
            }
            return match self.op.set {
                None => self.op.negated,
                Some(SetOp::Any) => false,
                Some(SetOp::All) => true,
            };
        };
        // A policy value whose variable has no value matches nothing.
        let prepared: Vec<Prepared> = self
            .values
            .iter()
            .filter_map(|v| self.prepare(v, ctx))
            .collect();
        let matches = |value: &String| prepared.iter().any(|p| self.compare(p, value));
        // Several policy values for one key are OR-ed; a negated operator holds when none
        // matches ("the effective permissions work like a logical AND").
        match self.op.set {
            None => request.iter().any(matches) != self.op.negated,
            Some(SetOp::Any) => request.iter().any(|v| matches(v) != self.op.negated),
            Some(SetOp::All) => request.iter().all(|v| matches(v) != self.op.negated),
        }
    }

    fn prepare(&self, value: &Template, ctx: &Context) -> Option<Prepared> {
        Some(match self.op.cmp {
            Cmp::Str => Prepared::Str(value.string(ctx)?),
            Cmp::StrIgnoreCase => Prepared::Str(value.string(ctx)?.to_lowercase()),
            Cmp::StrLike => Prepared::Pattern(value.tokens(ctx)?),
            Cmp::Arn => Prepared::Arn(value.tokens(ctx)?),
            Cmp::Bool => Prepared::Bool(parse_bool(&value.string(ctx)?)?),
            Cmp::Numeric(..) => Prepared::Number(parse_number(value.as_plain()?)?),
            Cmp::Date(..) => Prepared::Date(parse_date(value.as_plain()?)?),
            Cmp::Binary => Prepared::Bytes(base64_decode(value.as_plain()?)?),
            Cmp::Ip => Prepared::Net(IpNet::parse(value.as_plain()?)?),
            Cmp::Null => return None,
        })
    }

    /// Whether one request value matches one policy value (the positive comparison).
    fn compare(&self, policy: &Prepared, value: &str) -> bool {
        match (self.op.cmp, policy) {
            (Cmp::Str, Prepared::Str(p)) => p == value,
            (Cmp::StrIgnoreCase, Prepared::Str(p)) => *p == value.to_lowercase(),
            (Cmp::StrLike, Prepared::Pattern(p)) => glob_str(p, value),
            (Cmp::Arn, Prepared::Arn(p)) => arn_like(p, value),
            (Cmp::Bool, Prepared::Bool(p)) => parse_bool(value) == Some(*p),
            (Cmp::Numeric(ord, or_equal), Prepared::Number(p)) => parse_number(value)
                .and_then(|v| v.partial_cmp(p))
                .is_some_and(|c| c == ord || (or_equal && c == Ordering::Equal)),
            (Cmp::Date(ord, or_equal), Prepared::Date(p)) => parse_date(value)
                .map(|v| v.cmp(p))
                .is_some_and(|c| c == ord || (or_equal && c == Ordering::Equal)),
            (Cmp::Binary, Prepared::Bytes(p)) => base64_decode(value).is_some_and(|v| v == *p),
            (Cmp::Ip, Prepared::Net(net)) => parse_ip(value).is_some_and(|ip| net.contains(ip)),
            _ => false,
        }
    }
}

/// `ArnLike`: "Each of the six colon-delimited components of the ARN is checked separately and
/// each can include multi-character match wildcards (*) or single-character match wildcards
/// (?)". The sixth component is the rest of the ARN, colons included. A pattern of fewer than
/// six components (`*`, `arn:aws:*`) is matched against the whole value.
fn arn_like(pattern: &[Tok], value: &str) -> bool {
    let parts: Vec<&[Tok]> = pattern.splitn(6, |t| *t == Tok::Lit(':')).collect();
    if parts.len() < 6 {
        return glob_str(pattern, value);
    }
    let values: Vec<&str> = value.splitn(6, ':').collect();
    values.len() == 6 && parts.iter().zip(values).all(|(p, v)| glob_str(p, v))
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An integer or decimal: optional sign, digits, optional fraction. No exponents, no `inf`.
fn parse_number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    text.parse().ok()
}

/// A date as nanoseconds since the Unix epoch: "one of the W3C implementations of the ISO 8601
/// date formats or in epoch (UNIX) time". Text with a `T` or a `-` is ISO 8601 (`2024`,
/// `2024-05`, `2024-05-17`, `2024-05-17T10:00Z`, `2024-05-17T10:00:00Z`,
/// `2024-05-17T10:00:00.123+02:00`; no zone is UTC); digits alone are epoch seconds,
/// optionally with a fraction.
pub(crate) fn parse_date(text: &str) -> Option<i128> {
    if text.contains(['T', 't', '-']) {
        parse_iso8601(text)
    } else {
        parse_epoch(text)
    }
}

fn parse_epoch(text: &str) -> Option<i128> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || secs.len() > 18 {
        return None;
    }
    Some(secs.parse::<i128>().ok()? * 1_000_000_000 + fraction_nanos(frac)?)
}

/// Nanoseconds from the digits after a decimal point (up to nine are significant).
fn fraction_nanos(frac: &str) -> Option<i128> {
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    digits.parse().ok()
}

fn fixed_digits(text: &str, len: usize) -> Option<u32> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn parse_iso8601(text: &str) -> Option<i128> {
    let (date, time) = match text.find(['T', 't']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut fields = date.split('-');
    let year = i32::try_from(fixed_digits(fields.next()?, 4)?).ok()?;
    let month = fields
        .next()
        .map(|m| fixed_digits(m, 2))
        .unwrap_or(Some(1))?;
    let day = fields
        .next()
        .map(|d| fixed_digits(d, 2))
        .unwrap_or(Some(1))?;
    if fields.next().is_some() {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;

    let (clock, offset) = match time {
        None => (time::Time::MIDNIGHT, time::UtcOffset::UTC),
        Some(time) => {
            let (clock, zone) = match time.find(['Z', 'z', '+', '-']) {
                Some(i) => (&time[..i], &time[i..]),
                None => (time, ""),
            };
            (parse_clock(clock)?, parse_zone(zone)?)
        }
    };
    let stamp = time::PrimitiveDateTime::new(date, clock).assume_offset(offset);
    Some(stamp.unix_timestamp_nanos())
}

/// `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fraction`.
fn parse_clock(text: &str) -> Option<time::Time> {
    let mut fields = text.split(':');
    let hour = fixed_digits(fields.next()?, 2)?;
    let minute = fixed_digits(fields.next()?, 2)?;
    let (second, nanos) = match fields.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            if sec.contains('.') && frac.is_empty() {
                return None;
            }
            (fixed_digits(whole, 2)?, fraction_nanos(frac)?)
        }
    };
    if fields.next().is_some() {
        return None;
    }
    time::Time::from_hms_nano(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        u32::try_from(nanos).ok()?,
    )
    .ok()
}

/// `Z`, `+hh:mm`, `-hh:mm`, `+hhmm`, `+hh`, or nothing (UTC).
fn parse_zone(text: &str) -> Option<time::UtcOffset> {
    if text.is_empty() || text.eq_ignore_ascii_case("z") {
        return Some(time::UtcOffset::UTC);
    }
    let sign: i8 = if text.starts_with('-') { -1 } else { 1 };
    let digits = &text[1..];
    let (hours, minutes) = match digits.len() {
        2 => (digits, "00"),
        4 => (&digits[..2], &digits[2..]),
        5 if digits.as_bytes()[2] == b':' => (&digits[..2], &digits[3..]),
        _ => return None,
    };
    let hours = i8::try_from(fixed_digits(hours, 2)?).ok()?;
    let minutes = i8::try_from(fixed_digits(minutes, 2)?).ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    time::UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

/// An address range: "the standard CIDR format (for example, 203.0.113.0/24 or
/// 2001:DB8:1234:5678::/64). If you specify an IP address without the associated routing
/// prefix, IAM uses the default prefix value of /32" (/128 for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    fn parse(text: &str) -> Option<IpNet> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().ok()?, Some(prefix)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
        };
        Some(IpNet { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A request's address; an IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) is its IPv4
/// address.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let ip: IpAddr = text.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    })
}

/// Standard base64, padding optional.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = ((acc << 6) | u32::from(v)) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // A lone trailing sextet cannot encode a byte.
    (bits < 6).then_some(out)
}
