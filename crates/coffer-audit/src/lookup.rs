//! CloudTrail `LookupEvents` over the trail: the request, its validation, the in-memory index and
//! the answer in CloudTrail's `Events` shape.
//!
//! The index holds, per record, the fields LookupEvents filters on and where the record's line is
//! (segment, offset, length); `CloudTrailEvent` is read back from the segment when answering. It is
//! rebuilt from the segments when the trail is opened and grows as records are written. At roughly
//! 150 bytes of memory per record it suits trails of a few million records (a few hundred MB);
//! beyond that it wants a persistent index. With no file sink, the newest `memory_events` records
//! are kept in memory instead.

use crate::record::{Event, Service};
use parking_lot::RwLock;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

/// A LookupEvents failure: CloudTrail's error code (`__type`) and message (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct LookupError {
    /// e.g. `InvalidLookupAttributesException`.
    pub code: &'static str,
    /// The message (AWS publishes no wording for these; Coffer's follow the model's descriptions).
    pub message: String,
}

impl LookupError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    fn attrs(m: impl Into<String>) -> Self {
        Self::new("InvalidLookupAttributesException", m)
    }
}

/// The lookup attributes CloudTrail supports for management events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKey {
    /// `EventId`
    EventId,
    /// `EventName`
    EventName,
    /// `ReadOnly` (`true` / `false`)
    ReadOnly,
    /// `Username`
    Username,
    /// `ResourceType` (e.g. `AWS::KMS::Key`)
    ResourceType,
    /// `ResourceName` (the resource's ARN)
    ResourceName,
    /// `EventSource` (e.g. `kms.amazonaws.com`)
    EventSource,
    /// `AccessKeyId`
    AccessKeyId,
}

impl AttributeKey {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "EventId" => Self::EventId,
            "EventName" => Self::EventName,
            "ReadOnly" => Self::ReadOnly,
            "Username" => Self::Username,
            "ResourceType" => Self::ResourceType,
            "ResourceName" => Self::ResourceName,
            "EventSource" => Self::EventSource,
            "AccessKeyId" => Self::AccessKeyId,
            _ => return None,
        })
    }
}

/// A validated LookupEvents request.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupEventsRequest {
    /// The one lookup attribute, if given.
    pub attribute: Option<(AttributeKey, String)>,
    /// Only events at or after this time.
    pub start_time: Option<OffsetDateTime>,
    /// Only events at or before this time.
    pub end_time: Option<OffsetDateTime>,
    /// `insight` asks for Insights events (Coffer has none).
    pub insights: bool,
    /// 1..=50, default 50.
    pub max_results: usize,
    /// The token of the previous page.
    pub next_token: Option<String>,
}

fn timestamp(v: &Value, member: &str) -> Result<Option<OffsetDateTime>, LookupError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            let secs = n.as_f64().unwrap_or(f64::NAN);
            if !secs.is_finite() {
                return Err(LookupError::new(
                    "SerializationException",
                    format!("{member} is not a timestamp"),
                ));
            }
            OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128)
                .map(Some)
                .map_err(|_| {
                    LookupError::new(
                        "InvalidTimeRangeException",
                        format!("{member} is outside the range of possible values."),
                    )
                })
        }
        Value::String(s) => crate::record::parse_time(s)
            .or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .and_then(|f| OffsetDateTime::from_unix_timestamp(f as i64).ok())
            })
            .map(Some)
            .ok_or_else(|| {
                LookupError::new(
                    "SerializationException",
                    format!("{member} is not a timestamp"),
                )
            }),
        _ => Err(LookupError::new(
            "SerializationException",
            format!("{member} is not a timestamp"),
        )),
    }
}

/// `AttributeValue`'s length as CloudTrail counts it: `_`, space, `,` and newline count twice.
fn attribute_length(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if matches!(c, '_' | ' ' | ',' | '\n') {
                2
            } else {
                1
            }
        })
        .sum()
}

impl LookupEventsRequest {
    /// Parses and validates a LookupEvents request body (AWS JSON 1.1).
    pub fn from_json(body: &Value) -> Result<Self, LookupError> {
        let empty = serde_json::Map::new();
        let obj = match body {
            Value::Object(o) => o,
            Value::Null => &empty,
            _ => {
                return Err(LookupError::new(
                    "SerializationException",
                    "Start of structure or map found where not expected.",
                ))
            }
        };
        let attribute = match obj.get("LookupAttributes") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) => {
                if list.len() > 1 {
                    return Err(LookupError::attrs(
                        "You can specify only one lookup attribute.",
                    ));
                }
                match list.first() {
                    None => None,
                    Some(item) => {
                        let key = item.get("AttributeKey").and_then(Value::as_str);
                        let value = item.get("AttributeValue").and_then(Value::as_str);
                        let (Some(key), Some(value)) = (key, value) else {
                            return Err(LookupError::attrs(
                                "A lookup attribute needs both AttributeKey and AttributeValue.",
                            ));
                        };
                        let Some(k) = AttributeKey::parse(key) else {
                            return Err(LookupError::attrs(format!(
                                "The lookup attribute key {key} is not valid. Valid keys: EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId."
                            )));
                        };
                        let len = attribute_length(value);
                        if len == 0 || len > 2000 {
                            return Err(LookupError::attrs(
                                "The AttributeValue must be 1 to 2000 characters long.",
                            ));
                        }
                        Some((k, value.to_owned()))
                    }
                }
            }
            Some(_) => {
                return Err(LookupError::new(
                    "SerializationException",
                    "LookupAttributes must be a list.",
                ))
            }
        };
        let start_time = timestamp(obj.get("StartTime").unwrap_or(&Value::Null), "StartTime")?;
        let end_time = timestamp(obj.get("EndTime").unwrap_or(&Value::Null), "EndTime")?;
        if let (Some(s), Some(e)) = (start_time, end_time) {
            if s > e {
                return Err(LookupError::new(
                    "InvalidTimeRangeException",
                    "The start time must not be after the end time.",
                ));
            }
        }
        let insights = match obj.get("EventCategory") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) if s == "insight" => true,
            Some(_) => {
                return Err(LookupError::new(
                    "InvalidEventCategoryException",
                    "The event category is not valid. The only valid value is insight.",
                ))
            }
        };
        let max_results = match obj.get("MaxResults") {
            None | Some(Value::Null) => 50,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(m) if (1..=50).contains(&m) => m as usize,
                _ => {
                    return Err(LookupError::new(
                        "InvalidMaxResultsException",
                        "MaxResults must be between 1 and 50.",
                    ))
                }
            },
            Some(_) => {
                return Err(LookupError::new(
                    "SerializationException",
                    "MaxResults must be a number.",
                ))
            }
        };
        let next_token = match obj.get("NextToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(LookupError::new(
                    "SerializationException",
                    "NextToken must be a string.",
                ))
            }
        };
        Ok(Self {
            attribute,
            start_time,
            end_time,
            insights,
            max_results,
            next_token,
        })
    }
}

/// `Resources` element of a looked-up event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceRef {
    /// e.g. `AWS::KMS::Key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// The resource's ARN.
    pub resource_name: String,
}

/// One element of `Events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrailEvent {
    /// The event's `eventID`.
    pub event_id: String,
    /// The operation.
    pub event_name: String,
    /// `"true"` or `"false"`.
    pub read_only: String,
    /// The access key ID that signed the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Epoch seconds (AWS JSON 1.1 timestamp).
    pub event_time: i64,
    /// `kms.amazonaws.com`, …
    pub event_source: String,
    /// A user name, role session name or `root`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The resources of the event.
    pub resources: Vec<ResourceRef>,
    /// The record as CloudTrail writes it (JSON text, without Coffer's chain member).
    pub cloud_trail_event: String,
}

/// The LookupEvents answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupEventsResponse {
    /// Newest first.
    pub events: Vec<TrailEvent>,
    /// Present when more events match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// What the index keeps of one record, taken from the event (or its line on disk).
#[derive(Debug, Clone)]
pub(crate) struct IndexMeta {
    pub time: i64,
    pub account: String,
    pub region: String,
    pub name: String,
    pub source: String,
    pub read_only: bool,
    pub access_key: Option<String>,
    pub username: Option<String>,
    pub event_id: String,
    pub resources: Vec<(Option<String>, String)>,
}

impl IndexMeta {
    pub(crate) fn from_event(e: &Event) -> Self {
        Self {
            time: e.event_time.unix_timestamp(),
            account: e.recipient_account_id.clone(),
            region: e.aws_region.clone(),
            name: e.event_name.clone(),
            source: e.event_source.clone(),
            read_only: e.read_only,
            access_key: e.user_identity.access_key_id.clone(),
            username: e.user_identity.lookup_username(),
            event_id: e.event_id.clone(),
            resources: e
                .resources
                .iter()
                .map(|r| (r.resource_type.clone(), r.arn.clone()))
                .collect(),
        }
    }

    pub(crate) fn from_line(line: &str) -> Option<Self> {
        let e: Event = serde_json::from_str(line).ok()?;
        Some(Self::from_event(&e))
    }
}

/// Where a record's line is.
#[derive(Debug, Clone)]
pub(crate) enum Loc {
    /// In segment `file` (an index into the file table) at `offset`, the event body `len` bytes.
    File { file: u32, offset: u64, len: u32 },
    /// Kept in memory (no file sink): the event JSON.
    Memory(Box<str>),
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    time: i64,
    account: u32,
    region: u32,
    name: u32,
    source: u32,
    read_only: bool,
    access_key: u32,
    username: u32,
    event_id: Box<str>,
    resources: Box<[(u32, u32)]>,
    loc: Loc,
}

#[derive(Debug, Default)]
struct Interner {
    map: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn get_or_add(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s else { return 0 };
        if self.names.is_empty() {
            self.names.push("".into());
        }
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.into());
        self.map.insert(s.into(), i);
        i
    }
    fn find(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }
    fn name(&self, i: u32) -> Option<&str> {
        if i == 0 {
            None
        } else {
            self.names.get(i as usize).map(|b| &**b)
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    syms: Interner,
    files: Vec<Option<PathBuf>>,
    entries: VecDeque<Entry>,
}

/// The in-memory LookupEvents index of one trail.
#[derive(Debug)]
pub struct Index {
    inner: RwLock<Inner>,
    retention: Option<Duration>,
    memory_cap: usize,
}

impl Index {
    pub(crate) fn new(retention: Option<Duration>, memory_cap: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            retention,
            memory_cap,
        }
    }

    pub(crate) fn add_file(&self, path: PathBuf) -> u32 {
        let mut g = self.inner.write();
        g.files.push(Some(path));
        (g.files.len() - 1) as u32
    }

    /// Forgets a deleted segment and its records.
    pub(crate) fn remove_file(&self, file: u32) {
        let mut g = self.inner.write();
        if let Some(slot) = g.files.get_mut(file as usize) {
            *slot = None;
        }
        g.entries
            .retain(|e| !matches!(e.loc, Loc::File { file: f, .. } if f == file));
    }

    pub(crate) fn push(&self, seq: u64, meta: &IndexMeta, loc: Loc) {
        let mut g = self.inner.write();
        let Inner { syms, entries, .. } = &mut *g;
        let entry = Entry {
            seq,
            time: meta.time,
            account: syms.get_or_add(Some(&meta.account)),
            region: syms.get_or_add(Some(&meta.region)),
            name: syms.get_or_add(Some(&meta.name)),
            source: syms.get_or_add(Some(&meta.source)),
            read_only: meta.read_only,
            access_key: syms.get_or_add(meta.access_key.as_deref()),
            username: syms.get_or_add(meta.username.as_deref()),
            event_id: meta.event_id.as_str().into(),
            resources: meta
                .resources
                .iter()
                .map(|(t, n)| (syms.get_or_add(t.as_deref()), syms.get_or_add(Some(n))))
                .collect(),
            loc,
        };
        let memory = matches!(entry.loc, Loc::Memory(_));
        entries.push_back(entry);
        if memory {
            while entries.len() > self.memory_cap.max(1) {
                entries.pop_front();
            }
        }
    }

    /// The number of records indexed.
    pub fn len(&self) -> usize {
        self.inner.read().entries.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Answers LookupEvents for `account` in `region` (events whose `recipientAccountId` and
    /// `awsRegion` are these), newest first.
    pub fn lookup(
        &self,
        account: &str,
        region: &str,
        req: &LookupEventsRequest,
        now: OffsetDateTime,
    ) -> Result<LookupEventsResponse, LookupError> {
        let digest = params_digest(account, region, req);
        let cursor = match &req.next_token {
            Some(t) => Some(parse_token(t, &digest)?),
            None => None,
        };
        if req.insights {
            return Ok(LookupEventsResponse {
                events: Vec::new(),
                next_token: None,
            });
        }
        let g = self.inner.read();
        let syms = &g.syms;
        let (Some(acct), Some(reg)) = (syms.find(account), syms.find(region)) else {
            return Ok(LookupEventsResponse {
                events: Vec::new(),
                next_token: None,
            });
        };
        let cutoff = self
            .retention
            .map(|r| (now - r).unix_timestamp())
            .unwrap_or(i64::MIN);
        let start = req
            .start_time
            .map(|t| t.unix_timestamp())
            .unwrap_or(i64::MIN)
            .max(cutoff);
        let end = req.end_time.map(|t| t.unix_timestamp()).unwrap_or(i64::MAX);
        // The attribute as a symbol; an attribute value never seen matches nothing.
        enum Want<'a> {
            Any,
            Sym(AttributeKey, u32),
            ReadOnly(bool),
            EventId(&'a str),
            Nothing,
        }
        let want = match &req.attribute {
            None => Want::Any,
            Some((AttributeKey::EventId, v)) => Want::EventId(v),
            Some((AttributeKey::ReadOnly, v)) => match v.as_str() {
                "true" => Want::ReadOnly(true),
                "false" => Want::ReadOnly(false),
                _ => Want::Nothing,
            },
            Some((k, v)) => match syms.find(v) {
                Some(s) => Want::Sym(*k, s),
                None => Want::Nothing,
            },
        };
        if matches!(want, Want::Nothing) {
            return Ok(LookupEventsResponse {
                events: Vec::new(),
                next_token: None,
            });
        }
        let mut hits: Vec<&Entry> = Vec::with_capacity(req.max_results + 1);
        for e in g.entries.iter().rev() {
            if cursor.is_some_and(|c| e.seq > c) {
                continue;
            }
            if e.account != acct || e.region != reg || e.time < start || e.time > end {
                continue;
            }
            let ok = match &want {
                Want::Any => true,
                Want::EventId(id) => &*e.event_id == *id,
                Want::ReadOnly(r) => e.read_only == *r,
                Want::Sym(AttributeKey::EventName, s) => e.name == *s,
                Want::Sym(AttributeKey::EventSource, s) => e.source == *s,
                Want::Sym(AttributeKey::Username, s) => e.username == *s,
                Want::Sym(AttributeKey::AccessKeyId, s) => e.access_key == *s,
                Want::Sym(AttributeKey::ResourceType, s) => e.resources.iter().any(|(t, _)| t == s),
                Want::Sym(AttributeKey::ResourceName, s) => e.resources.iter().any(|(_, n)| n == s),
                Want::Sym(_, _) | Want::Nothing => false,
            };
            if ok {
                hits.push(e);
                if hits.len() > req.max_results {
                    break;
                }
            }
        }
        let next_token = if hits.len() > req.max_results {
            hits.pop().map(|e| make_token(e.seq, &digest))
        } else {
            None
        };
        let mut reader = FileReader::default();
        let mut events = Vec::with_capacity(hits.len());
        for e in hits {
            let text = match &e.loc {
                Loc::Memory(s) => s.to_string(),
                Loc::File { file, offset, len } => {
                    let path = g.files.get(*file as usize).and_then(|p| p.as_ref());
                    match path.and_then(|p| reader.read(*file, p, *offset, *len)) {
                        Some(s) => s,
                        None => continue, // the segment was removed meanwhile
                    }
                }
            };
            events.push(TrailEvent {
                event_id: e.event_id.to_string(),
                event_name: syms.name(e.name).unwrap_or_default().to_owned(),
                read_only: e.read_only.to_string(),
                access_key_id: syms.name(e.access_key).map(str::to_owned),
                event_time: e.time,
                event_source: syms.name(e.source).unwrap_or_default().to_owned(),
                username: syms.name(e.username).map(str::to_owned),
                resources: e
                    .resources
                    .iter()
                    .map(|(t, n)| ResourceRef {
                        resource_type: syms.name(*t).map(str::to_owned),
                        resource_name: syms.name(*n).unwrap_or_default().to_owned(),
                    })
                    .collect(),
                cloud_trail_event: text,
            });
        }
        Ok(LookupEventsResponse { events, next_token })
    }

    /// Drops records older than the retention period.
    pub(crate) fn expire(&self, now: OffsetDateTime) {
        if let Some(r) = self.retention {
            let cutoff = (now - r).unix_timestamp();
            let mut g = self.inner.write();
            while g.entries.front().is_some_and(|e| e.time < cutoff) {
                g.entries.pop_front();
            }
        }
    }
}

#[derive(Default)]
struct FileReader {
    open: HashMap<u32, std::fs::File>,
}

impl FileReader {
    fn read(&mut self, id: u32, path: &PathBuf, offset: u64, len: u32) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let f = match self.open.entry(id) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(std::fs::File::open(path).ok()?)
            }
        };
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, offset).ok()?;
        buf.push(b'}');
        String::from_utf8(buf).ok()
    }
}

fn params_digest(account: &str, region: &str, req: &LookupEventsRequest) -> String {
    let attr = req
        .attribute
        .as_ref()
        .map(|(k, v)| format!("{k:?}={v}"))
        .unwrap_or_default();
    let s = format!(
        "{account}\n{region}\n{attr}\n{:?}\n{:?}\n{}\n{}",
        req.start_time.map(|t| t.unix_timestamp()),
        req.end_time.map(|t| t.unix_timestamp()),
        req.insights,
        req.max_results
    );
    crate::chain::hex(&coffer_crypto::digest::sha256(s.as_bytes())[..8])
}

fn make_token(seq: u64, digest: &str) -> String {
    format!("1{seq:016x}{digest}")
}

fn parse_token(t: &str, digest: &str) -> Result<u64, LookupError> {
    let bad = || {
        LookupError::new(
            "InvalidNextTokenException",
            "The NextToken is not valid, or was used with different parameters.",
        )
    };
    if t.len() != 33 || !t.starts_with('1') || !t.is_ascii() {
        return Err(bad());
    }
    let seq = u64::from_str_radix(&t[1..17], 16).map_err(|_| bad())?;
    if &t[17..] != digest {
        return Err(bad());
    }
    Ok(seq)
}

/// The services LookupEvents reports (every event source Coffer writes).
pub fn event_sources() -> impl Iterator<Item = &'static str> {
    Service::ALL.into_iter().map(Service::event_source)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_errors() {
        let code = |v: Value| LookupEventsRequest::from_json(&v).unwrap_err().code;
        assert_eq!(
            code(
                json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "a"}, {"AttributeKey": "EventName", "AttributeValue": "b"}]})
            ),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(json!({"LookupAttributes": [{"AttributeKey": "Colour", "AttributeValue": "a"}]})),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(
                json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": ""}]})
            ),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(
                json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "_".repeat(1001)}]})
            ),
            "InvalidLookupAttributesException"
        );
        assert!(LookupEventsRequest::from_json(&json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "_".repeat(1000)}]})).is_ok());
        assert_eq!(
            code(json!({"LookupAttributes": [{"AttributeKey": "EventName"}]})),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(json!({"StartTime": 200, "EndTime": 100})),
            "InvalidTimeRangeException"
        );
        assert_eq!(code(json!({"MaxResults": 0})), "InvalidMaxResultsException");
        assert_eq!(
            code(json!({"MaxResults": 51})),
            "InvalidMaxResultsException"
        );
        assert_eq!(
            code(json!({"EventCategory": "data"})),
            "InvalidEventCategoryException"
        );
        let ok = LookupEventsRequest::from_json(&json!({})).unwrap();
        assert_eq!(ok.max_results, 50);
        let ok = LookupEventsRequest::from_json(&json!({"StartTime": 100.5, "EndTime": "2030-01-01T00:00:00Z", "EventCategory": "insight"})).unwrap();
        assert!(ok.insights && ok.start_time.is_some() && ok.end_time.is_some());
    }

    #[test]
    fn tokens_are_bound_to_their_parameters() {
        let t = make_token(42, "0123456789abcdef");
        assert_eq!(parse_token(&t, "0123456789abcdef").unwrap(), 42);
        assert!(parse_token(&t, "fedcba9876543210").is_err());
        assert!(parse_token("garbage", "0123456789abcdef").is_err());
    }
}
