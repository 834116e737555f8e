//! Server-side verification of AWS Signature Version 4 (`AWS4-HMAC-SHA256`).
//!
//! Why this is hand-written: the maintained `aws-sigv4` crate only *signs*
//! requests, and no well-kept server-side verification crate fits (the few
//! that exist are lightly maintained and bring their own crypto stack, while
//! every primitive here must go through `coffer_crypto`, i.e. aws-lc-rs).
//! The algorithm itself is small: about 600 lines below (tests apart), checked
//! against AWS's published test vectors (the `aws-sig-v4-test-suite`, 2015 and 2011
//! editions, and the IAM examples of the SigV4 documentation).
//!
//! What is covered:
//! * the `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
//!   Signature=…` header form with `X-Amz-Date` (or `Date`), which the AWS
//!   CLI, every SDK and Terraform send;
//! * presigned query parameters (`X-Amz-Algorithm`, `X-Amz-Credential`,
//!   `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`).
//!
//! Canonicalization follows the non-S3 rules, as KMS, Secrets Manager and STS
//! need them: the path as received is normalized (empty, `.` and `..`
//! segments removed) and each segment is URI-encoded again (so `%20` on the
//! wire becomes `%2520`); the payload hash is always computed from the body
//! (an `x-amz-content-sha256` header is just another header, never trusted).
//!
//! Error texts are those AWS's JSON services return; each [`AuthError`]
//! variant names the AWS error code it stands for.

use std::fmt;

use coffer_crypto::digest::{constant_time_eq, hmac_sha256, sha256_hex};
use http::{HeaderMap, HeaderName};
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Allowed clock skew between the request time and the server clock.
pub const MAX_SKEW: Duration = Duration::minutes(15);

/// Longest validity a presigned request may ask for (`X-Amz-Expires`), one week.
pub const MAX_PRESIGNED_EXPIRES: u32 = 604_800;

/// RFC 3986 unreserved characters stay as they are; everything else is `%XX`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const TERMINATOR: &str = "aws4_request";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const FOUND_BOTH: &str =
    "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.";
const HOST_NOT_SIGNED: &str =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";

/// The parts of an incoming request that SigV4 covers.
///
/// `headers` must contain `host`. Over HTTP/2 the authority arrives in the
/// URI, not in the header map: the caller should then insert a `host` header
/// from the URI authority before calling [`parse`] / [`verify`].
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Raw path, as received (still percent-encoded).
    pub path: &'a str,
    /// Raw query string, as received, without the leading `?`.
    pub query: &'a str,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The complete request body.
    pub body: &'a [u8],
}

/// What the `Credential` element claims: `AKID/yyyymmdd/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Access key id, to look up the secret key with.
    pub access_key_id: String,
    /// Scope date, `yyyymmdd`.
    pub date: String,
    /// Scope region, e.g. `us-east-1`.
    pub region: String,
    /// Scope service, e.g. `kms`.
    pub service: String,
}

/// A syntactically valid SigV4 authorization, not yet checked against a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuth {
    /// The credential scope.
    pub credential: Credential,
    /// Signed header names, lower-cased, in the order given.
    pub signed_headers: Vec<String>,
    /// The signature, as sent (hex).
    pub signature: String,
    /// Request time, from `X-Amz-Date` (header or query) or else the `Date` header.
    pub amz_date: OffsetDateTime,
    /// `X-Amz-Security-Token` (header, or query when presigned), for temporary credentials.
    pub security_token: Option<String>,
    /// True when the authorization came from presigned query parameters.
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned request, in seconds.
    pub expires: Option<u32>,
}

/// Why a request failed authentication. [`AuthError::message`] gives AWS's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header (or one not starting with `AWS4-`) and no
    /// presigned query. AWS code: `MissingAuthenticationTokenException`
    /// (query protocol, e.g. STS: `MissingAuthenticationToken`, whose text is
    /// "Request is missing Authentication Token").
    Missing,
    /// The authorization parameters are incomplete or not `key=value` pairs
    /// ("Authorization header requires 'Credential' parameter. …",
    /// "AWS query-string parameters must include …").
    /// AWS code: `IncompleteSignatureException` (query protocol: `IncompleteSignature`).
    Malformed(String),
    /// A parameter is present but unusable: date format, algorithm,
    /// credential shape, `X-Amz-Expires`.
    /// AWS code: `IncompleteSignatureException` (query protocol: `IncompleteSignature`).
    IncompleteSignature(String),
    /// Well-formed but rejected before any signature check: `host` not signed,
    /// credential scope mismatch, header and query authorization both present.
    /// AWS code: `InvalidSignatureException` (query protocol: `SignatureDoesNotMatch`).
    InvalidSignature(String),
    /// The signature does not match. The fields hold what this server signed,
    /// for debug logging only (AWS's JSON services echo them; the message here
    /// does not). AWS code: `InvalidSignatureException` (query protocol:
    /// `SignatureDoesNotMatch`).
    SignatureMismatch {
        /// The canonical request computed here.
        canonical_request: String,
        /// The string to sign computed here.
        string_to_sign: String,
    },
    /// Request time outside the allowed skew, or presigned request past its
    /// `X-Amz-Expires`. AWS code: `InvalidSignatureException` (query
    /// protocol: `SignatureDoesNotMatch`).
    Expired {
        /// AWS's text, e.g. "Signature expired: 20240101T000000Z is now earlier
        /// than 20240101T001000Z (20240101T002500Z - 15 min.)".
        message: String,
    },
    /// Not produced here: for callers whose key lookup fails, or whose session token does not
    /// belong to their temporary access key.
    /// AWS code: `UnrecognizedClientException` (query protocol: `InvalidClientTokenId`).
    UnrecognizedClient,
    /// Not produced here: temporary credentials past their expiration.
    /// AWS code: `ExpiredTokenException` (query protocol: `ExpiredToken`).
    ExpiredToken,
}

impl AuthError {
    /// AWS's message text for this error.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "Missing Authentication Token".to_owned(),
            AuthError::Malformed(m)
            | AuthError::IncompleteSignature(m)
            | AuthError::InvalidSignature(m) => m.clone(),
            AuthError::SignatureMismatch { .. } => SIGNATURE_MISMATCH.to_owned(),
            AuthError::Expired { message } => message.clone(),
            AuthError::UnrecognizedClient => {
                "The security token included in the request is invalid.".to_owned()
            }
            AuthError::ExpiredToken => {
                "The security token included in the request is expired".to_owned()
            }
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for AuthError {}

/// Extracts the SigV4 authorization (header or presigned query) of a request.
///
/// Checks its form only: algorithm, credential shape and scope terminator,
/// date format, scope date against the request date, `host` signed. Never
/// panics, whatever the input.
pub fn parse(parts: &RequestParts<'_>) -> Result<ParsedAuth, AuthError> {
    let query = decode_query(parts.query);
    let presigned = query
        .iter()
        .any(|(k, _)| k.as_slice() == b"X-Amz-Algorithm");
    match (parts.headers.get(http::header::AUTHORIZATION), presigned) {
        (Some(_), true) => Err(AuthError::InvalidSignature(FOUND_BOTH.to_owned())),
        (Some(value), false) => parse_header_auth(value.as_bytes(), parts.headers),
        (None, true) => parse_query_auth(&query),
        (None, false) => Err(AuthError::Missing),
    }
}

/// Checks the signature with the caller's secret key and the clock.
///
/// Order: request time (15 min skew, or `X-Amz-Expires` when presigned), then
/// the signature, compared in constant time. `parts` must be the request
/// `parsed` came from.
pub fn verify(
    parsed: &ParsedAuth,
    parts: &RequestParts<'_>,
    secret_access_key: &[u8],
    now: OffsetDateTime,
) -> Result<(), AuthError> {
    check_time(parsed, now)?;
    let canonical = canonical_request(parsed, parts);
    let sts = string_to_sign(parsed, &canonical);
    let key = cached_signing_key(secret_access_key, &parsed.credential);
    let expected = hmac_sha256(&key[..], sts.as_bytes());
    let matches = coffer_crypto::digest::hex_decode_32(parsed.signature.as_bytes())
        .is_some_and(|provided| constant_time_eq(&expected, &provided));
    if matches {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch {
            canonical_request: String::from_utf8_lossy(&canonical).into_owned(),
            string_to_sign: sts,
        })
    }
}

/// Checks the credential scope against this endpoint: `service` must match
/// exactly, and `region` too when given (`None` accepts any region).
pub fn check_scope(
    parsed: &ParsedAuth,
    service: &str,
    region: Option<&str>,
) -> Result<(), AuthError> {
    let mut problems = Vec::new();
    if let Some(region) = region {
        if parsed.credential.region != region {
            problems.push(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                parsed.credential.region
            ));
        }
    }
    if parsed.credential.service != service {
        problems.push(format!(
            "Credential should be scoped to correct service: '{service}'."
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature(problems.join(" ")))
    }
}

// ---------------------------------------------------------------- parsing

fn parse_header_auth(raw: &[u8], headers: &HeaderMap) -> Result<ParsedAuth, AuthError> {
    let text = String::from_utf8_lossy(raw);
    let value = text.trim_start();
    if !value.starts_with("AWS4-") {
        return Err(AuthError::Missing);
    }
    // AWS splits on commas and whitespace alike: "Credential= AKID/…" yields
    // the pair "Credential=" and the bare token "AKID/…".
    let mut tokens = value
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty());
    let algorithm = tokens.next().unwrap_or_default();
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for token in tokens {
        let Some((key, val)) = token.split_once('=') else {
            return Err(AuthError::Malformed(format!(
                "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
            )));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        slot.get_or_insert(val);
    }
    let date = header_text(headers, "x-amz-date").or_else(|| header_text(headers, "date"));

    let mut missing = String::new();
    for (name, got) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if got.is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(date)) =
        (credential, signed_headers, signature, date)
    else {
        return Err(AuthError::Malformed(format!(
            "{missing}Authorization={value}"
        )));
    };
    if !missing.is_empty() {
        return Err(AuthError::Malformed(format!(
            "{missing}Authorization={value}"
        )));
    }

    let amz_date = if header_text(headers, "x-amz-date").is_some() {
        parse_basic_date(&date)
    } else {
        parse_http_date(&date)
    }
    .ok_or_else(|| bad_date(&date))?;
    finish(
        algorithm,
        credential,
        signed_headers,
        signature,
        amz_date,
        header_text(headers, "x-amz-security-token"),
        None,
    )
}

fn parse_query_auth(query: &[(Vec<u8>, Vec<u8>)]) -> Result<ParsedAuth, AuthError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.as_slice() == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let [algorithm, credential, signature, signed_headers, date] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ]
    .map(|name| (name, param(name)));
    let mut missing = String::new();
    for (name, got) in [&algorithm, &credential, &signature, &signed_headers, &date] {
        if got.as_deref().is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(date)) = (
        algorithm.1,
        credential.1,
        signature.1,
        signed_headers.1,
        date.1,
    ) else {
        return Err(AuthError::Malformed(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    };
    if !missing.is_empty() {
        return Err(AuthError::Malformed(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    }

    let amz_date = parse_basic_date(&date).ok_or_else(|| bad_date(&date))?;
    let expires = match param("X-Amz-Expires") {
        None => None,
        Some(text) => Some(parse_expires(&text)?),
    };
    finish(
        &algorithm,
        &credential,
        &signed_headers,
        &signature,
        amz_date,
        param("X-Amz-Security-Token"),
        Some(expires),
    )
}

/// Checks shared by both forms, in AWS's order: host signed, algorithm,
/// credential shape, credential scope. `presigned` is `Some(expires)` for
/// the query form.
fn finish(
    algorithm: &str,
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: OffsetDateTime,
    security_token: Option<String>,
    presigned: Option<Option<u32>>,
) -> Result<ParsedAuth, AuthError> {
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    if !signed_headers
        .iter()
        .any(|h| h == "host" || h == ":authority")
    {
        return Err(AuthError::InvalidSignature(HOST_NOT_SIGNED.to_owned()));
    }
    if algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). "
        )));
    }
    let mut elements: Vec<&str> = credential.split('/').collect();
    while elements.last().is_some_and(|e| e.is_empty()) {
        elements.pop();
    }
    let [access_key_id, date, region, service, terminator] = elements[..] else {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    let request_time = basic_format(amz_date);
    let request_day = request_time.get(..8).unwrap_or_default();
    let mut problems = Vec::new();
    if terminator != TERMINATOR {
        problems.push(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'."
        ));
    }
    if date != request_day {
        problems.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{request_day}', from '{request_time}'."
        ));
    }
    if !problems.is_empty() {
        return Err(AuthError::InvalidSignature(problems.join(" ")));
    }
    Ok(ParsedAuth {
        credential: Credential {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        },
        signed_headers,
        signature: signature.to_owned(),
        amz_date,
        security_token,
        presigned: presigned.is_some(),
        expires: presigned.flatten(),
    })
}

fn parse_expires(text: &str) -> Result<u32, AuthError> {
    let invalid = |m: &str| Err(AuthError::IncompleteSignature(m.to_owned()));
    if text.starts_with('-') && text.len() > 1 && text[1..].bytes().all(|b| b.is_ascii_digit()) {
        return invalid("X-Amz-Expires must be non-negative");
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return invalid("X-Amz-Expires should be a number");
    }
    match text.parse::<u32>() {
        Ok(n) if n <= MAX_PRESIGNED_EXPIRES => Ok(n),
        _ => invalid("X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    }
}

fn bad_date(got: &str) -> AuthError {
    AuthError::IncompleteSignature(format!(
        "Date must be in ISO-8601 'basic format'. Got '{got}'. See http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

/// First value of a header, lossily decoded; an empty value counts as absent.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?;
    let text = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// `20150830T123600Z`.
fn parse_basic_date(text: &str) -> Option<OffsetDateTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let date = date_from(digits(&b[0..4])?, digits(&b[4..6])?, digits(&b[6..8])?)?;
    let time = Time::from_hms(
        digits_u8(&b[9..11])?,
        digits_u8(&b[11..13])?,
        digits_u8(&b[13..15])?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// IMF-fixdate (RFC 9110), the only `Date` form SDKs send: `Mon, 09 Sep 2011 23:36:00 GMT`.
fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let fields: Vec<&str> = text.split(' ').collect();
    let [weekday, day, month, year, clock, "GMT"] = fields[..] else {
        return None;
    };
    if weekday.len() != 4 || !weekday.ends_with(',') || day.len() != 2 || year.len() != 4 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let date = date_from(
        digits(year.as_bytes())?,
        u32::try_from(month).ok()?,
        digits(day.as_bytes())?,
    )?;
    let c = clock.as_bytes();
    if c.len() != 8 || c[2] != b':' || c[5] != b':' {
        return None;
    }
    let time = Time::from_hms(
        digits_u8(&c[0..2])?,
        digits_u8(&c[3..5])?,
        digits_u8(&c[6..8])?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn digits_u8(bytes: &[u8]) -> Option<u8> {
    u8::try_from(digits(bytes)?).ok()
}

fn date_from(year: u32, month: u32, day: u32) -> Option<Date> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()
}

/// `yyyymmddThhmmssZ` in UTC (written digit by digit: it is on every request's path).
fn basic_format(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    let mut out = String::with_capacity(16);
    push_basic_format(&mut out, t);
    out
}

fn push_basic_format(out: &mut String, t: OffsetDateTime) {
    fn digits(out: &mut String, n: u32, width: u32) {
        for i in (0..width).rev() {
            let d = (n / 10u32.pow(i)) % 10;
            out.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
        }
    }
    let year = u32::try_from(t.year()).unwrap_or(0);
    digits(out, year, 4);
    digits(out, u32::from(u8::from(t.month())), 2);
    digits(out, u32::from(t.day()), 2);
    out.push('T');
    digits(out, u32::from(t.hour()), 2);
    digits(out, u32::from(t.minute()), 2);
    digits(out, u32::from(t.second()), 2);
    out.push('Z');
}

// ------------------------------------------------------------------ clock

fn check_time(parsed: &ParsedAuth, now: OffsetDateTime) -> Result<(), AuthError> {
    let now = now
        .checked_sub(Duration::nanoseconds(i64::from(now.nanosecond())))
        .unwrap_or(now);
    // The texts are only needed for an error: formatted then, not on every request.
    let texts = || (basic_format(parsed.amz_date), basic_format(now));
    if let Some(latest) = now.checked_add(MAX_SKEW) {
        if parsed.amz_date > latest {
            let (request, now_text) = texts();
            return Err(AuthError::Expired {
                message: format!(
                    "Signature not yet current: {request} is still later than {} ({now_text} + 15 min.)",
                    basic_format(latest)
                ),
            });
        }
    }
    if let Some(expires) = parsed.expires {
        let until = parsed
            .amz_date
            .checked_add(Duration::seconds(i64::from(expires)));
        if until.is_some_and(|until| now > until) {
            return Err(AuthError::Expired {
                message: "Request has expired".to_owned(),
            });
        }
        return Ok(());
    }
    if let Some(earliest) = now.checked_sub(MAX_SKEW) {
        if parsed.amz_date < earliest {
            let (request, now_text) = texts();
            return Err(AuthError::Expired {
                message: format!(
                    "Signature expired: {request} is now earlier than {} ({now_text} - 15 min.)",
                    basic_format(earliest)
                ),
            });
        }
    }
    Ok(())
}

// ------------------------------------------------------- canonicalization

fn canonical_request(parsed: &ParsedAuth, parts: &RequestParts<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + parts.query.len());
    out.extend_from_slice(parts.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(parts.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(parts.query, parsed.presigned).as_bytes());
    out.push(b'\n');
    for name in &parsed.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        canonical_header_value(parts.headers, name, &mut out);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(parsed.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(sha256_hex(parts.body).as_bytes());
    out
}

fn string_to_sign(parsed: &ParsedAuth, canonical_request: &[u8]) -> String {
    let c = &parsed.credential;
    let mut out = String::with_capacity(
        ALGORITHM.len() + 16 + c.date.len() + c.region.len() + c.service.len() + 64 + 20,
    );
    out.push_str(ALGORITHM);
    out.push('\n');
    let t = parsed.amz_date;
    push_basic_format(&mut out, t.checked_to_offset(UtcOffset::UTC).unwrap_or(t));
    out.push('\n');
    for part in [c.date.as_str(), c.region.as_str(), c.service.as_str()] {
        out.push_str(part);
        out.push('/');
    }
    out.push_str(TERMINATOR);
    out.push('\n');
    out.push_str(&sha256_hex(canonical_request));
    out
}

/// The signing keys derived lately, by scope: a client signs every request of a day with the
/// same key, so the four HMACs of [`signing_key`] run once per (access key, day, Region,
/// service) instead of once per request. An entry holds the secret it was derived from and is
/// used only when the caller's secret equals it (compared in constant time), so a changed or
/// revoked secret never reuses an old key. Bounded: cleared when full.
struct SigningKeyCache {
    entries: std::collections::HashMap<SigningScope, CachedKey>,
}

#[derive(PartialEq, Eq, Hash)]
struct SigningScope {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
}

struct CachedKey {
    secret: zeroize::Zeroizing<Vec<u8>>,
    key: zeroize::Zeroizing<[u8; 32]>,
}

const SIGNING_KEY_CACHE_MAX: usize = 4096;

static SIGNING_KEYS: std::sync::LazyLock<std::sync::Mutex<SigningKeyCache>> =
    std::sync::LazyLock::new(|| {
        std::sync::Mutex::new(SigningKeyCache {
            entries: std::collections::HashMap::new(),
        })
    });

/// [`signing_key`] through [`SigningKeyCache`].
fn cached_signing_key(secret: &[u8], credential: &Credential) -> zeroize::Zeroizing<[u8; 32]> {
    let scope = SigningScope {
        access_key_id: credential.access_key_id.clone(),
        date: credential.date.clone(),
        region: credential.region.clone(),
        service: credential.service.clone(),
    };
    if let Some(hit) = SIGNING_KEYS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entries
        .get(&scope)
    {
        if constant_time_eq(&hit.secret, secret) {
            return hit.key.clone();
        }
    }
    let key = zeroize::Zeroizing::new(signing_key(secret, credential));
    let mut cache = SIGNING_KEYS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.entries.len() >= SIGNING_KEY_CACHE_MAX {
        cache.entries.clear();
    }
    cache.entries.insert(
        scope,
        CachedKey {
            secret: zeroize::Zeroizing::new(secret.to_vec()),
            key: key.clone(),
        },
    );
    key
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
fn signing_key(secret: &[u8], credential: &Credential) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac_sha256(&k_secret, credential.date.as_bytes());
    k_secret.fill(0); // best effort: do not leave the secret in a freed buffer
    let k_region = hmac_sha256(&k_date, credential.region.as_bytes());
    let k_service = hmac_sha256(&k_region, credential.service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// Non-S3 rule: normalize the path (drop empty and `.` segments, resolve
/// `..`), then URI-encode each segment of the path as received, again.
fn canonical_uri(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    let mut out = String::with_capacity(path.len() + 8);
    for segment in &kept {
        out.push('/');
        out.extend(percent_encode(segment.as_bytes(), UNRESERVED));
    }
    if kept.is_empty() || matches!(last, "" | "." | "..") {
        out.push('/');
    }
    out
}

/// Sorted `key=value` pairs, each side decoded then RFC 3986-encoded.
/// A presigned request's own `X-Amz-Signature` is left out.
fn canonical_query(raw: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = decode_query(raw)
        .into_iter()
        .filter(|(k, _)| !(presigned && k.as_slice() == b"X-Amz-Signature"))
        .map(|(k, v)| {
            (
                percent_encode(&k, UNRESERVED).to_string(),
                percent_encode(&v, UNRESERVED).to_string(),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Query pairs, decoded to bytes (`+` is a space, as SDK signers read it);
/// a key without `=` has an empty value; empty segments are skipped.
fn decode_query(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let decode = |s: &str| -> Vec<u8> {
        let spaced: Vec<u8> = s
            .bytes()
            .map(|b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_decode(&spaced).collect()
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// All values of a header, each trimmed with inner runs of spaces collapsed,
/// joined with commas.
fn canonical_header_value(headers: &HeaderMap, name: &str, out: &mut Vec<u8>) {
    let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
        return;
    };
    for (i, value) in headers.get_all(&name).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let bytes = value.as_bytes();
        let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
        let start = bytes
            .iter()
            .position(|b| !is_blank(b))
            .unwrap_or(bytes.len());
        let end = bytes
            .iter()
            .rposition(|b| !is_blank(b))
            .map_or(start, |p| p + 1);
        let mut previous_space = false;
        for &b in bytes.get(start..end).unwrap_or_default() {
            if b == b' ' {
                if !previous_space {
                    out.push(b' ');
                }
                previous_space = true;
            } else {
                out.push(b);
                previous_space = false;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn headers(list: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn at(basic: &str) -> OffsetDateTime {
        parse_basic_date(basic).unwrap()
    }

    struct Case {
        name: &'static str,
        method: &'static str,
        path: &'static str,
        query: &'static str,
        headers: &'static [(&'static str, &'static str)],
        body: &'static str,
        authz: &'static str,
        /// Expected canonical request, where the suite publishes it.
        creq: Option<&'static str>,
    }

    const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
    const DATE: (&str, &str) = ("X-Amz-Date", "20150830T123600Z");
    const SCOPE: &str =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

    /// aws-sig-v4-test-suite (2015 edition), as published by AWS.
    fn suite_2015() -> Vec<Case> {
        let plain = |name, method, path, query, sig: &'static str| Case {
            name,
            method,
            path,
            query,
            headers: &[HOST, DATE],
            body: "",
            authz: sig,
            creq: None,
        };
        vec![
            Case {
                creq: Some("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                ..plain("get-vanilla", "GET", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
            },
            plain("get-vanilla-empty-query-key", "GET", "/", "Param1=value1", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
            Case {
                creq: Some("GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                ..plain("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
            },
            plain("get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
            plain("get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
            plain("get-vanilla-query-unreserved", "GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
            Case {
                creq: Some("GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                ..plain("get-vanilla-utf8-query", "GET", "/", "\u{1234}=bar", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04")
            },
            plain("get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
            plain("get-utf8", "GET", "/\u{1234}", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
            Case {
                creq: Some("GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                ..plain("get-space", "GET", "/example space/", "", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741")
            },
            plain("get-relative", "GET", "/example/..", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            plain("get-relative-relative", "GET", "/example1/example2/../..", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            plain("get-slash", "GET", "//", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            plain("get-slash-dot-slash", "GET", "/./", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            plain("get-slash-pointless-dot", "GET", "/./example", "", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
            plain("get-slashes", "GET", "//example//", "", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
            plain("post-vanilla", "POST", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            plain("post-vanilla-query", "POST", "/", "Param1=value1", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
            Case {
                headers: &[HOST, ("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1"), DATE],
                authz: "SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
                creq: Some("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                ..plain("get-header-key-duplicate", "GET", "/", "", "")
            },
            Case {
                headers: &[HOST, ("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"), ("My-Header1", "value2"), DATE],
                authz: "SignedHeaders=host;my-header1;x-amz-date, Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
                ..plain("get-header-value-order", "GET", "/", "", "")
            },
            Case {
                headers: &[HOST, ("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"  "), DATE],
                authz: "SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
                creq: Some("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                ..plain("get-header-value-trim", "GET", "/", "", "")
            },
            Case {
                headers: &[HOST, ("My-Header1", "value1"), DATE],
                authz: "SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
                ..plain("post-header-key-sort", "POST", "/", "", "")
            },
            Case {
                headers: &[HOST, ("My-Header1", "VALUE1"), DATE],
                authz: "SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
                ..plain("post-header-value-case", "POST", "/", "", "")
            },
            Case {
                headers: &[("Content-Type", "application/x-www-form-urlencoded"), HOST, DATE, ("Content-Length", "13")],
                body: "Param1=value1",
                authz: "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
                ..plain("post-x-www-form-urlencoded", "POST", "/", "", "")
            },
            Case {
                // AWS's file says "charset=utf8" (no hyphen); some copies of the suite "fix" it.
                headers: &[("Content-Type", "application/x-www-form-urlencoded; charset=utf8"), HOST, DATE, ("Content-Length", "13")],
                body: "Param1=value1",
                authz: "SignedHeaders=content-type;host;x-amz-date, Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
                ..plain("post-x-www-form-urlencoded-parameters", "POST", "/", "", "")
            },
            Case {
                headers: &[HOST, DATE, ("X-Amz-Security-Token", "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==")],
                authz: "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
                ..plain("post-sts-header-before", "POST", "/", "", "")
            },
            Case {
                headers: &[HOST, DATE, ("X-Amz-Security-Token", "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==")],
                authz: "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
                ..plain("post-sts-header-after", "POST", "/", "", "")
            },
        ]
    }

    /// Builds the full header: short `authz` values are just the signature
    /// (with the default signed headers) or "SignedHeaders=…, Signature=…".
    fn full_authz(authz: &str) -> String {
        if authz.starts_with("SignedHeaders=") {
            format!("{SCOPE}, {authz}")
        } else {
            format!("{SCOPE}, SignedHeaders=host;x-amz-date, Signature={authz}")
        }
    }

    fn case_headers(case: &Case) -> HeaderMap {
        let mut list: Vec<(&str, &[u8])> = case
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_bytes()))
            .collect();
        let authz = full_authz(case.authz);
        list.push(("Authorization", authz.as_bytes()));
        headers(&list)
    }

    #[test]
    fn aws_sig_v4_test_suite_2015() {
        for case in suite_2015() {
            let map = case_headers(&case);
            let parts = RequestParts {
                method: case.method,
                path: case.path,
                query: case.query,
                headers: &map,
                body: case.body.as_bytes(),
            };
            let parsed = parse(&parts).unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
            if let Some(creq) = case.creq {
                assert_eq!(
                    String::from_utf8(canonical_request(&parsed, &parts)).unwrap(),
                    creq,
                    "{}",
                    case.name
                );
            }
            assert_eq!(parsed.credential.access_key_id, AKID);
            verify(&parsed, &parts, SECRET, at("20150830T123600Z"))
                .unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
            let wrong = verify(
                &parsed,
                &parts,
                b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz",
                at("20150830T123600Z"),
            );
            assert!(
                matches!(wrong, Err(AuthError::SignatureMismatch { .. })),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn suite_string_to_sign_matches() {
        let case = &suite_2015()[0];
        let map = case_headers(case);
        let parts = RequestParts {
            method: "GET",
            path: "/",
            query: "",
            headers: &map,
            body: b"",
        };
        let parsed = parse(&parts).unwrap();
        assert_eq!(
            string_to_sign(&parsed, &canonical_request(&parsed, &parts)),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
    }

    #[test]
    fn security_token_is_reported() {
        let case = suite_2015()
            .into_iter()
            .find(|c| c.name == "post-sts-header-after")
            .unwrap();
        let map = case_headers(&case);
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &map,
            body: b"",
        };
        let parsed = parse(&parts).unwrap();
        assert!(parsed.security_token.unwrap().starts_with("AQoDYXdzEPT"));
    }

    /// "Create a canonical request" / "Calculate the signature" pages of the
    /// SigV4 docs: IAM ListUsers, 2015-08-30.
    #[test]
    fn iam_list_users_docs_example() {
        let map = headers(&[
            ("Host", b"iam.amazonaws.com"),
            ("Content-Type", b"application/x-www-form-urlencoded; charset=utf-8"),
            ("X-Amz-Date", b"20150830T123600Z"),
            ("Authorization", b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"),
        ]);
        let parts = RequestParts {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &map,
            body: b"",
        };
        let parsed = parse(&parts).unwrap();
        let creq = canonical_request(&parsed, &parts);
        assert_eq!(
            String::from_utf8(creq.clone()).unwrap(),
            "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(&creq),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            hex::encode(signing_key(SECRET, &parsed.credential)),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        verify(&parsed, &parts, SECRET, at("20150830T124000Z")).unwrap();
        check_scope(&parsed, "iam", Some("us-east-1")).unwrap();
    }

    /// The 2011 edition of the same docs: POST with a form body.
    #[test]
    fn iam_list_users_post_2011_docs_example() {
        let map = headers(&[
            ("Content-Type", b"application/x-www-form-urlencoded; charset=utf-8"),
            ("Host", b"iam.amazonaws.com"),
            ("X-Amz-Date", b"20110909T233600Z"),
            ("Authorization", b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ced6826de92d2bdeed8f846f0bf508e8559e98e4b0199114b84c54174deb456c"),
        ]);
        let body = b"Action=ListUsers&Version=2010-05-08";
        let parts = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &map,
            body,
        };
        let parsed = parse(&parts).unwrap();
        assert_eq!(
            sha256_hex(&canonical_request(&parsed, &parts)),
            "3511de7e95d28ecd39e9513b642aee07e54f4941150d8df8bf94b328ef7e55e2"
        );
        verify(&parsed, &parts, SECRET, at("20110909T233600Z")).unwrap();

        // Tampered body: same headers, other bytes.
        let tampered = RequestParts {
            body: b"Action=ListUsers&Version=2010-05-09",
            ..parts
        };
        assert!(matches!(
            verify(&parsed, &tampered, SECRET, at("20110909T233600Z")),
            Err(AuthError::SignatureMismatch { .. })
        ));
    }

    /// aws4_testsuite (2011 edition): `Date` header instead of `X-Amz-Date`.
    #[test]
    fn aws4_testsuite_2011_date_header() {
        for (method, path, sig) in [
            (
                "GET",
                "/",
                "b27ccfbfa7df52a200ff74193ca6e32d4b48b8856fab7ebf1c595d0670a7e470",
            ),
            (
                "POST",
                "/",
                "22902d79e148b64e7571c3565769328423fe276eae4b26f83afceda9e767f726",
            ),
            (
                "GET",
                "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "830cc36d03f0f84e6ee4953fbe701c1c8b71a0372c63af9255aa364dd183281e",
            ),
            (
                "GET",
                "/foo/bar/../..",
                "b27ccfbfa7df52a200ff74193ca6e32d4b48b8856fab7ebf1c595d0670a7e470",
            ),
        ] {
            let authz = format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, SignedHeaders=date;host, Signature={sig}");
            let map = headers(&[
                ("Date", b"Mon, 09 Sep 2011 23:36:00 GMT"),
                ("Host", b"host.foo.com"),
                ("Authorization", authz.as_bytes()),
            ]);
            let parts = RequestParts {
                method,
                path,
                query: "",
                headers: &map,
                body: b"",
            };
            let parsed = parse(&parts).unwrap();
            assert_eq!(parsed.amz_date, at("20110909T233600Z"));
            verify(&parsed, &parts, SECRET, at("20110909T233600Z")).unwrap();
        }
    }

    fn vanilla() -> HeaderMap {
        case_headers(&suite_2015()[0])
    }

    fn vanilla_parts(map: &HeaderMap) -> RequestParts<'_> {
        RequestParts {
            method: "GET",
            path: "/",
            query: "",
            headers: map,
            body: b"",
        }
    }

    #[test]
    fn tampering_is_detected() {
        let map = vanilla();
        let parts = vanilla_parts(&map);
        let parsed = parse(&parts).unwrap();
        let now = at("20150830T123600Z");
        for other in [
            RequestParts {
                method: "POST",
                ..parts
            },
            RequestParts {
                path: "/other",
                ..parts
            },
            RequestParts {
                query: "a=b",
                ..parts
            },
            RequestParts {
                body: b"x",
                ..parts
            },
        ] {
            assert!(matches!(
                verify(&parsed, &other, SECRET, now),
                Err(AuthError::SignatureMismatch { .. })
            ));
        }
        let mut changed = map.clone();
        changed.insert("host", HeaderValue::from_static("evil.example.com"));
        let other = RequestParts {
            headers: &changed,
            ..parts
        };
        assert!(matches!(
            verify(&parsed, &other, SECRET, now),
            Err(AuthError::SignatureMismatch { .. })
        ));

        let mut bad = parsed.clone();
        bad.signature = "zz".repeat(32);
        assert!(matches!(
            verify(&bad, &parts, SECRET, now),
            Err(AuthError::SignatureMismatch { .. })
        ));
        bad.signature = String::new();
        assert!(matches!(
            verify(&bad, &parts, SECRET, now),
            Err(AuthError::SignatureMismatch { .. })
        ));
        let err = verify(&bad, &parts, SECRET, now).unwrap_err();
        assert_eq!(err.message(), SIGNATURE_MISMATCH);
    }

    #[test]
    fn clock_skew() {
        let map = vanilla();
        let parts = vanilla_parts(&map);
        let parsed = parse(&parts).unwrap();
        // Exactly 15 minutes either way is still fine.
        verify(&parsed, &parts, SECRET, at("20150830T125100Z")).unwrap();
        verify(&parsed, &parts, SECRET, at("20150830T122100Z")).unwrap();

        let late = verify(&parsed, &parts, SECRET, at("20150830T125200Z")).unwrap_err();
        assert_eq!(
            late,
            AuthError::Expired {
                message: "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)".into()
            }
        );
        let early = verify(
            &parsed,
            &parts,
            SECRET,
            at("20150830T120000Z") + Duration::nanoseconds(5),
        )
        .unwrap_err();
        assert_eq!(
            early.message(),
            "Signature not yet current: 20150830T123600Z is still later than 20150830T121500Z (20150830T120000Z + 15 min.)"
        );
        // The brief's example text.
        let mut p = parsed.clone();
        p.amz_date = at("20240101T000000Z");
        assert_eq!(
            verify(&p, &parts, SECRET, at("20240101T002500Z")).unwrap_err().message(),
            "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z (20240101T002500Z - 15 min.)"
        );
    }

    fn parse_with(list: &[(&str, &[u8])], query: &str) -> Result<ParsedAuth, AuthError> {
        let map = headers(list);
        parse(&RequestParts {
            method: "GET",
            path: "/",
            query,
            headers: &map,
            body: b"",
        })
    }

    const H: (&str, &[u8]) = ("Host", b"example.amazonaws.com");
    const D: (&str, &[u8]) = ("X-Amz-Date", b"20150830T123600Z");

    #[test]
    fn missing_authentication() {
        assert_eq!(parse_with(&[H, D], ""), Err(AuthError::Missing));
        assert_eq!(
            parse_with(&[H, D], "Action=ListKeys&X-Amz-Date=1"),
            Err(AuthError::Missing)
        );
        assert_eq!(
            parse_with(&[H, ("Authorization", b"Bearer abc")], ""),
            Err(AuthError::Missing)
        );
        assert_eq!(
            parse_with(&[H, ("Authorization", b"")], ""),
            Err(AuthError::Missing)
        );
        assert_eq!(AuthError::Missing.message(), "Missing Authentication Token");
    }

    #[test]
    fn incomplete_header() {
        let err = parse_with(&[H, ("Authorization", b"AWS4-HMAC-SHA256")], "").unwrap_err();
        assert_eq!(
            err,
            AuthError::Malformed("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256".into())
        );
        let err = parse_with(&[H, D, ("Authorization", b"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=, Signature=abc")], "").unwrap_err();
        assert_eq!(
            err.message(),
            "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=, Signature=abc"
        );
        // A space after "Credential=" (a pasted key with a blank), as AWS reports it.
        let header = "AWS4-HMAC-SHA256 Credential= myaccesskey/20181128/eu-central-1/cloud9/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        let err = parse_with(&[H, D, ("Authorization", header.as_bytes())], "").unwrap_err();
        assert_eq!(
            err,
            AuthError::Malformed(format!("'myaccesskey/20181128/eu-central-1/cloud9/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."))
        );
        let err =
            parse_with(&[H, D, ("Authorization", b"AWS4-HMAC-SHA256 garbage")], "").unwrap_err();
        assert!(matches!(err, AuthError::Malformed(_)));
    }

    fn auth(cred: &str, signed: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    #[test]
    fn invalid_values() {
        let good_cred = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
        let a = auth(good_cred, "host;x-amz-date");
        let err = parse_with(
            &[
                H,
                ("X-Amz-Date", b"2015-08-30T12:36:00Z"),
                ("Authorization", a.as_bytes()),
            ],
            "",
        )
        .unwrap_err();
        assert_eq!(err, AuthError::IncompleteSignature("Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See http://en.wikipedia.org/wiki/ISO_8601".into()));
        let err = parse_with(
            &[H, ("Date", b"yesterday"), ("Authorization", a.as_bytes())],
            "",
        )
        .unwrap_err();
        assert!(matches!(err, AuthError::IncompleteSignature(_)));

        let a = auth(good_cred, "x-amz-date");
        let err = parse_with(&[H, D, ("Authorization", a.as_bytes())], "").unwrap_err();
        assert_eq!(err, AuthError::InvalidSignature(HOST_NOT_SIGNED.into()));

        let a = auth(good_cred, "host;x-amz-date").replace("SHA256", "SHA25");
        let err = parse_with(&[H, D, ("Authorization", a.as_bytes())], "").unwrap_err();
        assert_eq!(
            err.message(),
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for now). "
        );

        let a = auth("a/b/c/d", "host");
        let err = parse_with(&[H, D, ("Authorization", a.as_bytes())], "").unwrap_err();
        assert_eq!(err, AuthError::IncompleteSignature("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b/c/d'".into()));
        // Trailing slashes are ignored, as AWS does.
        let a = auth(
            "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request//",
            "host;x-amz-date",
        );
        assert!(parse_with(&[H, D, ("Authorization", a.as_bytes())], "").is_ok());

        let a = auth("a/b/c/d/e", "host");
        let err = parse_with(&[H, D, ("Authorization", a.as_bytes())], "").unwrap_err();
        assert_eq!(err.message(), "Credential should be scoped with a valid terminator: 'aws4_request', not 'e'. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: 'b' != '20150830', from '20150830T123600Z'.");

        let a = auth(good_cred, "host;x-amz-date");
        let parsed = parse_with(&[H, D, ("Authorization", a.as_bytes())], "").unwrap();
        assert_eq!(
            check_scope(&parsed, "kms", Some("eu-west-1")).unwrap_err().message(),
            "Credential should be scoped to a valid region, not 'us-east-1'. Credential should be scoped to correct service: 'kms'."
        );
        assert!(check_scope(&parsed, "service", None).is_ok());

        let err = parse_with(
            &[H, D, ("Authorization", a.as_bytes())],
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        )
        .unwrap_err();
        assert_eq!(err, AuthError::InvalidSignature(FOUND_BOTH.into()));
    }

    /// Signs a hand-written canonical request (written out per the AWS spec,
    /// independently of the canonicalization code above).
    fn sign(creq: &str, amz: &str, scope: &str) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}",
            sha256_hex(creq.as_bytes())
        );
        let c: Vec<&str> = scope.split('/').collect();
        let cred = Credential {
            access_key_id: AKID.into(),
            date: c[0].into(),
            region: c[1].into(),
            service: c[2].into(),
        };
        hex::encode(hmac_sha256(&signing_key(SECRET, &cred), sts.as_bytes()))
    }

    const PRESIGN_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host";

    fn presigned_query() -> String {
        let creq =
            format!("GET\n/\n{PRESIGN_QUERY}\nhost:example.amazonaws.com\n\nhost\n{EMPTY_SHA256}");
        let sig = sign(
            &creq,
            "20150830T123600Z",
            "20150830/us-east-1/service/aws4_request",
        );
        // Signature placed mid-query, parameters out of order.
        format!(
            "X-Amz-Signature={sig}&{}",
            PRESIGN_QUERY.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256&", "")
                + "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        )
    }

    #[test]
    fn presigned_query_parameters() {
        let map = headers(&[H]);
        let query = presigned_query();
        let parts = RequestParts {
            method: "GET",
            path: "/",
            query: &query,
            headers: &map,
            body: b"",
        };
        let parsed = parse(&parts).unwrap();
        assert!(parsed.presigned);
        assert_eq!(parsed.expires, Some(3600));
        assert_eq!(parsed.signed_headers, vec!["host".to_owned()]);
        verify(&parsed, &parts, SECRET, at("20150830T123600Z")).unwrap();
        verify(&parsed, &parts, SECRET, at("20150830T133600Z")).unwrap();
        assert_eq!(
            verify(&parsed, &parts, SECRET, at("20150830T133601Z"))
                .unwrap_err()
                .message(),
            "Request has expired"
        );
        assert!(matches!(
            verify(&parsed, &parts, SECRET, at("20150830T120000Z")),
            Err(AuthError::Expired { .. })
        ));
        assert!(matches!(
            verify(&parsed, &parts, b"other", at("20150830T123600Z")),
            Err(AuthError::SignatureMismatch { .. })
        ));
        let extra = format!("{query}&Action=GetCallerIdentity");
        let tampered = RequestParts {
            query: &extra,
            ..parts
        };
        assert!(matches!(
            verify(&parsed, &tampered, SECRET, at("20150830T123600Z")),
            Err(AuthError::SignatureMismatch { .. })
        ));

        assert_eq!(
            parse_with(&[H], "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z").unwrap_err(),
            AuthError::Malformed("AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.".into())
        );
        let week = format!(
            "{}&X-Amz-Expires=604801",
            query.replace("X-Amz-Expires=3600&", "")
        );
        assert!(matches!(
            parse_with(&[H], &week),
            Err(AuthError::IncompleteSignature(_))
        ));
        let neg = format!(
            "{}&X-Amz-Expires=-1",
            query.replace("X-Amz-Expires=3600&", "")
        );
        assert_eq!(
            parse_with(&[H], &neg).unwrap_err().message(),
            "X-Amz-Expires must be non-negative"
        );
    }

    /// For non-S3 services the payload hash is always the body's, whatever
    /// `x-amz-content-sha256` says.
    #[test]
    fn content_sha256_header_is_not_trusted() {
        let body = b"{\"KeyId\":\"alias/x\"}";
        let creq_with = |payload: &str| {
            format!("POST\n/\n\nhost:example.amazonaws.com\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20150830T123600Z\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}")
        };
        for (payload, ok) in [
            (sha256_hex(body), true),
            ("UNSIGNED-PAYLOAD".to_owned(), false),
        ] {
            let sig = sign(
                &creq_with(&payload),
                "20150830T123600Z",
                "20150830/us-east-1/service/aws4_request",
            );
            let a = format!(
                "{SCOPE}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"
            );
            let map = headers(&[
                H,
                D,
                ("X-Amz-Content-Sha256", b"UNSIGNED-PAYLOAD"),
                ("Authorization", a.as_bytes()),
            ]);
            let parts = RequestParts {
                method: "POST",
                path: "/",
                query: "",
                headers: &map,
                body,
            };
            let parsed = parse(&parts).unwrap();
            assert_eq!(
                verify(&parsed, &parts, SECRET, at("20150830T123600Z")).is_ok(),
                ok
            );
        }
    }

    #[test]
    fn canonical_uri_rules() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/a/b/../c/./d", "/a/c/d"),
            ("/a/b/..", "/a/"),
            ("/../../a", "/a"),
            ("/a%20b", "/a%2520b"),
            ("/a+b=c", "/a%2Bb%3Dc"),
            ("relative", "/relative"),
            ("/\u{1234}/", "/%E1%88%B4/"),
        ] {
            assert_eq!(canonical_uri(raw), want, "{raw}");
        }
    }

    #[test]
    fn canonical_query_rules() {
        for (raw, want) in [
            ("", ""),
            ("b=2&a=1", "a=1&b=2"),
            ("a", "a="),
            ("a=&a", "a=&a="),
            ("&&a=1&", "a=1"),
            ("k=a+b", "k=a%20b"),
            ("k=a%2Bb", "k=a%2Bb"),
            ("k=%7e%2f", "k=~%2F"),
            ("k=%zz%", "k=%25zz%25"),
            ("a=1=2", "a=1%3D2"),
            ("B=1&a=1", "B=1&a=1"),
        ] {
            assert_eq!(canonical_query(raw, false), want, "{raw}");
        }
        assert_eq!(canonical_query("X-Amz-Signature=abc&a=1", true), "a=1");
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&a=1", false),
            "X-Amz-Signature=abc&a=1"
        );
    }

    #[test]
    fn date_parsing() {
        assert_eq!(
            parse_basic_date("20150830T123600Z"),
            Some(at("20150830T123600Z"))
        );
        for bad in [
            "",
            "20150830T123600",
            "20151330T123600Z",
            "20150830T246000Z",
            "2015083OT123600Z",
            "+2015083T123600Z",
            "20150830T12360\u{e9}",
        ] {
            assert_eq!(parse_basic_date(bad), None, "{bad}");
        }
        assert_eq!(
            parse_http_date("Mon, 09 Sep 2011 23:36:00 GMT"),
            Some(at("20110909T233600Z"))
        );
        for bad in [
            "",
            "Mon, 09 Sep 2011 23:36:00 UTC",
            "Mon, 9 Sep 2011 23:36:00 GMT",
            "Mon, 09 Foo 2011 23:36:00 GMT",
            "Mon, 31 Feb 2011 23:36:00 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
        assert_eq!(basic_format(at("20150830T123600Z")), "20150830T123600Z");
    }

    /// Garbage never panics: non-UTF-8 values, empty strings, huge headers,
    /// pseudo-random bytes in every field.
    #[test]
    fn garbage_never_panics() {
        let huge = format!(
            "AWS4-HMAC-SHA256 {}",
            "Credential=a/b/c/d/e,".repeat(20_000)
        );
        let huge_signed = format!(
            "{SCOPE}, SignedHeaders={}host, Signature=00",
            "x;".repeat(50_000)
        );
        let fixed: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"AWS4-".to_vec(),
            b"AWS4-HMAC-SHA256 \xff\xfe=\x80, Credential=\xc3(/\xff/x/y/aws4_request".to_vec(),
            b"AWS4-HMAC-SHA256 Credential=\xe9/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=\xff".to_vec(),
            b"AWS4-HMAC-SHA256 ,,,,  ,= = =,".to_vec(),
            b"AWS4-HMAC-SHA256 Credential=////////, SignedHeaders=;;;;, Signature====".to_vec(),
            huge.into_bytes(),
            huge_signed.into_bytes(),
        ];
        let dates: [&[u8]; 4] = [b"20150830T123600Z", b"\xff\xfe", b"", b"99991231T235959Z"];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut random = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Printable-ish bytes plus some obs-text, never control bytes.
                    let b = (seed % 190) as u8 + 32;
                    if b == 127 {
                        b'%'
                    } else {
                        b
                    }
                })
                .collect()
        };
        let mut values = fixed;
        for len in [1, 5, 40, 300] {
            for _ in 0..25 {
                let mut v = b"AWS4-HMAC-SHA256 ".to_vec();
                v.extend(random(len));
                values.push(v);
                values.push(random(len));
            }
        }
        let paths: Vec<String> = (0..20)
            .map(|i| String::from_utf8_lossy(&random(i * 3)).into_owned())
            .collect();
        for (i, value) in values.iter().enumerate() {
            let date = dates[i % dates.len()];
            let mut list: Vec<(&str, &[u8])> = vec![
                ("Authorization", value),
                ("Host", b"\xff h"),
                ("My-Header", b"\xfe"),
            ];
            if !date.is_empty() {
                list.push(("X-Amz-Date", date));
            }
            let map = headers(&list);
            let path = &paths[i % paths.len()];
            let query = &paths[(i + 7) % paths.len()];
            let parts = RequestParts {
                method: "GET",
                path,
                query,
                headers: &map,
                body: value,
            };
            if let Ok(parsed) = parse(&parts) {
                let _ = verify(&parsed, &parts, b"", OffsetDateTime::UNIX_EPOCH);
                let _ = verify(&parsed, &parts, SECRET, at("99991231T235959Z"));
            }
            let presigned = format!("X-Amz-Algorithm={}&{query}", String::from_utf8_lossy(value));
            let parts = RequestParts {
                query: &presigned,
                ..parts
            };
            let _ = parse(&parts).map(|p| verify(&p, &parts, SECRET, at("20150830T123600Z")));
        }
        // Extreme clocks and expiries.
        let map = vanilla();
        let parts = vanilla_parts(&map);
        let mut parsed = parse(&parts).unwrap();
        for now in [
            OffsetDateTime::UNIX_EPOCH,
            at("99991231T235959Z"),
            at("00000101T000000Z"),
        ] {
            let _ = verify(&parsed, &parts, SECRET, now);
            parsed.expires = Some(MAX_PRESIGNED_EXPIRES);
            parsed.amz_date = at("99991231T235959Z");
            let _ = verify(&parsed, &parts, SECRET, now);
        }
    }
}
