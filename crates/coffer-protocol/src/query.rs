//! AWS Query request decoding: form parameters → a JSON value shaped by the input structure.
//!
//! # The wire form
//!
//! A Query request is a flat list of `name=value` parameters (the URL query and the
//! `application/x-www-form-urlencoded` body together; `Action` and `Version` among them). Names
//! are paths through the input shape, built as botocore's `QuerySerializer` builds them:
//!
//! | shape | parameters |
//! |---|---|
//! | scalar member `RoleName` | `RoleName=r` |
//! | nested structure | `Parent.Child=v` |
//! | list (default) | `Tags.member.1.Key=k&Tags.member.1.Value=v`, `TagKeys.member.2=x` |
//! | list, item `locationName` | `PolicyArns.member.1.arn=…` is the default `member`; a list whose member has a `locationName` uses it instead of `member` |
//! | flattened list | `Name.1=…` (or `<item locationName>.1`) |
//! | empty list | `Tags=` (the name alone, empty) |
//! | map (default) | `Attributes.entry.1.key=k&Attributes.entry.1.value=v` (`key`/`value`, or their `locationName`s) |
//! | flattened map | `Attributes.1.key=k&Attributes.1.value=v` |
//!
//! A member's `locationName` replaces its name in the path. Items and entries are numbered from
//! 1 and read in index order; a missing index is not an error. Parameters that name no member
//! (`Action`, `Version`, anything unknown) are ignored, as AWS ignores them; when a name appears
//! twice, the first value counts.
//!
//! # The JSON form
//!
//! The result is what the JSON protocol would send for the same input, so one serde struct per
//! input serves both protocols: members keyed by their model names (`RoleName`, `Tags`),
//! strings as strings, integers and floats as numbers, booleans (`true`/`false`, any case) as
//! booleans, timestamps (ISO 8601, RFC 822 or epoch seconds on the wire) as epoch seconds,
//! blobs as their base64 text (checked to be base64), lists as arrays, maps and structures as
//! objects. A structure none of whose members is given is absent.
//!
//! # Errors
//!
//! Values that do not fit their shape answer the Query protocol's `ValidationError` (HTTP 400)
//! with AWS's message, every problem at once, e.g. `1 validation error detected: Value 'seven'
//! at 'maxItems' failed to satisfy constraint: Member must be an integer`; paths name members in
//! lower camel case and list items as AWS does (`tags.1.member.key`). [`decode_strict`] also
//! reports missing required members (`Value null at 'roleName' failed to satisfy constraint:
//! Member must not be null`, IAM's and STS's answer for a missing required parameter); [`decode`]
//! leaves that to the service's own validation, so that its messages keep their order.
//! Sensitive values are never echoed.

use crate::timestamp;
use crate::REDACTED;
use base64::Engine as _;
use coffer_model::ops::shape::{List, Map, Structure};
use coffer_model::ops::{Member, Operation, Shape, ShapeKind};
use serde_json::{Map as Object, Number, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A request the Query protocol refuses: its error code (`ValidationError`) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The AWS error code.
    pub code: &'static str,
    /// AWS's message.
    pub message: String,
}

impl QueryError {
    /// The HTTP status of the answer (400: the caller's fault).
    pub fn status(&self) -> u16 {
        400
    }

    fn validation(problems: &[String]) -> Self {
        let n = problems.len();
        let noun = if n == 1 { "error" } else { "errors" };
        QueryError {
            code: "ValidationError",
            message: format!("{n} validation {noun} detected: {}", problems.join("; ")),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for QueryError {}

/// Decodes `params` as the input structure `input`; missing required members are not reported
/// (see the module documentation).
pub fn decode(input: &'static Shape, params: &[(String, String)]) -> Result<Value, QueryError> {
    Decoder::new(params, false).run(input)
}

/// Decodes `params` as the input structure `input` and reports missing required members too.
pub fn decode_strict(
    input: &'static Shape,
    params: &[(String, String)],
) -> Result<Value, QueryError> {
    Decoder::new(params, true).run(input)
}

/// Decodes `params` as `op`'s input ([`decode`]); an operation without input gives `{}`.
pub fn decode_input(op: &Operation, params: &[(String, String)]) -> Result<Value, QueryError> {
    match op.input {
        Some(shape) => decode(shape, params),
        None => Ok(Value::Object(Object::new())),
    }
}

/// A member path in AWS's message form (`tags.1.member.key`).
#[derive(Clone, Default)]
struct Path(String);

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Path {
    fn push(&self, segment: &str) -> Path {
        if self.0.is_empty() {
            Path(segment.to_string())
        } else {
            Path(format!("{}.{segment}", self.0))
        }
    }

    fn member(&self, name: &str) -> Path {
        self.push(&lower_first(name))
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// `a.b.c` with its last component replaced by `name`.
fn replace_last(key: &str, name: &str) -> String {
    match key.rsplit_once('.') {
        Some((head, _)) => format!("{head}.{name}"),
        None => name.to_string(),
    }
}

struct Decoder<'a> {
    params: BTreeMap<&'a str, &'a str>,
    required: bool,
    problems: Vec<String>,
}

impl<'a> Decoder<'a> {
    fn new(params: &'a [(String, String)], required: bool) -> Self {
        let mut map = BTreeMap::new();
        for (k, v) in params {
            map.entry(k.as_str()).or_insert(v.as_str());
        }
        Decoder {
            params: map,
            required,
            problems: Vec::new(),
        }
    }

    fn run(mut self, input: &'static Shape) -> Result<Value, QueryError> {
        let value = match &input.kind {
            ShapeKind::Structure(s) => Value::Object(self.structure(s, "", &Path::default())),
            other => {
                return Err(QueryError {
                    code: "InternalFailure",
                    message: format!("input shape {} is a {}", input.name, other.name()),
                })
            }
        };
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(QueryError::validation(&self.problems))
        }
    }

    /// Whether some parameter's name starts with `key.`.
    fn has_children(&self, key: &str) -> bool {
        let prefix = format!("{key}.");
        self.params
            .range(prefix.as_str()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// The item numbers N of parameters named `prefix.N` or `prefix.N.…`, in order.
    fn indices(&self, prefix: &str) -> BTreeSet<u32> {
        let start = format!("{prefix}.");
        self.params
            .range(start.as_str()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .filter_map(|(k, _)| {
                let seg = k[start.len()..].split('.').next()?;
                if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                seg.parse::<u32>().ok().filter(|n| *n >= 1)
            })
            .collect()
    }

    fn fail(&mut self, path: &Path, value: Option<&str>, constraint: &str) {
        let value = match value {
            Some(v) => format!("'{v}'"),
            None => "null".into(),
        };
        self.problems.push(format!(
            "Value {value} at '{}' failed to satisfy constraint: {constraint}",
            path.0
        ));
    }

    fn structure(&mut self, s: &Structure, key: &str, path: &Path) -> Object<String, Value> {
        let mut out = Object::new();
        for m in s.members {
            let k = join(key, m.wire_name());
            let p = path.member(m.name);
            match self.member(m, &k, &p) {
                Some(v) => {
                    out.insert(m.name.to_string(), v);
                }
                None if self.required && m.required => {
                    self.fail(&p, None, "Member must not be null");
                }
                None => {}
            }
        }
        out
    }

    /// The value of member `m` at parameter name `key`, if the request gives it.
    fn member(&mut self, m: &Member, key: &str, path: &Path) -> Option<Value> {
        match &m.target.kind {
            ShapeKind::Structure(s) => self
                .has_children(key)
                .then(|| Value::Object(self.structure(s, key, path))),
            ShapeKind::List(l) => self.list(l, m.flattened || l.flattened, key, path),
            ShapeKind::Map(mp) => self.map(mp, m.flattened || mp.flattened, key, path),
            _ => {
                let raw = *self.params.get(key)?;
                Some(self.scalar(m, raw, path))
            }
        }
    }

    fn list(&mut self, l: &List, flattened: bool, key: &str, path: &Path) -> Option<Value> {
        let items = if flattened {
            match l.member.location_name {
                Some(name) => replace_last(key, name),
                None => key.to_string(),
            }
        } else {
            join(key, l.member.location_name.unwrap_or("member"))
        };
        let indices = self.indices(&items);
        if indices.is_empty() {
            // An empty list is the name alone.
            return (self.params.get(key) == Some(&"")).then(|| Value::Array(Vec::new()));
        }
        let mut out = Vec::new();
        for n in indices {
            let k = format!("{items}.{n}");
            let p = path.push(&format!("{n}.member"));
            match self.member(&l.member, &k, &p) {
                Some(v) => out.push(v),
                // `Tags.member.1.Unknown=…`: an item none of whose members is known.
                None if matches!(l.member.target.kind, ShapeKind::Structure(_)) => {
                    out.push(Value::Object(Object::new()));
                }
                None => {}
            }
        }
        Some(Value::Array(out))
    }

    fn map(&mut self, mp: &Map, flattened: bool, key: &str, path: &Path) -> Option<Value> {
        let entries = if flattened {
            key.to_string()
        } else {
            join(key, "entry")
        };
        let key_name = mp.key.location_name.unwrap_or("key");
        let value_name = mp.value.location_name.unwrap_or("value");
        let indices = self.indices(&entries);
        if indices.is_empty() {
            return (self.params.get(key) == Some(&"")).then(|| Value::Object(Object::new()));
        }
        let mut out = Object::new();
        for n in indices {
            let p = path.push(&format!("entry.{n}"));
            let k = self
                .params
                .get(format!("{entries}.{n}.{key_name}").as_str())
                .copied();
            let v = self.member(
                &mp.value,
                &format!("{entries}.{n}.{value_name}"),
                &p.push("value"),
            );
            match (k, v) {
                (Some(k), Some(v)) => {
                    out.insert(k.to_string(), v);
                }
                (None, _) => self.fail(&p.push("key"), None, "Member must not be null"),
                (Some(_), None) => self.fail(&p.push("value"), None, "Member must not be null"),
            }
        }
        Some(Value::Object(out))
    }

    fn scalar(&mut self, m: &Member, raw: &str, path: &Path) -> Value {
        let shown = if m.target.sensitive { REDACTED } else { raw };
        let bad = |this: &mut Self, what: &str| {
            this.fail(path, Some(shown), &format!("Member must be {what}"));
            Value::Null
        };
        match &m.target.kind {
            ShapeKind::String(_) => Value::String(raw.to_string()),
            ShapeKind::Integer(_) => match raw.parse::<i32>() {
                Ok(n) => Value::Number(n.into()),
                Err(_) => bad(self, "an integer"),
            },
            ShapeKind::Long(_) => match raw.parse::<i64>() {
                Ok(n) => Value::Number(n.into()),
                Err(_) => bad(self, "an integer"),
            },
            ShapeKind::Float(_) | ShapeKind::Double(_) => {
                match raw.parse::<f64>().ok().and_then(Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => bad(self, "a number"),
                }
            }
            ShapeKind::Boolean => {
                if raw.eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if raw.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else {
                    bad(self, "a boolean")
                }
            }
            ShapeKind::Blob(_) => {
                if base64::engine::general_purpose::STANDARD
                    .decode(raw.as_bytes())
                    .is_ok()
                {
                    Value::String(raw.to_string())
                } else {
                    bad(self, "base64-encoded")
                }
            }
            ShapeKind::Timestamp(_) => match timestamp::parse(raw) {
                Some(ms) => timestamp::value_of(ms),
                None => bad(self, "a timestamp (ISO 8601)"),
            },
            ShapeKind::Structure(_) | ShapeKind::List(_) | ShapeKind::Map(_) => {
                bad(self, "a structure, list or map, not a single value")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_model::ops::{IamOp, Service, StsOp};
    use serde_json::json;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn input(op: IamOp) -> &'static Shape {
        op.info().input.unwrap()
    }

    #[test]
    fn scalars_lists_of_structures_and_empty_lists() {
        let p = params(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", "r"),
            ("AssumeRolePolicyDocument", "{}"),
            ("MaxSessionDuration", "3600"),
            ("Tags.member.2.Key", "b"),
            ("Tags.member.1.Value", "1"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.2.Value", "2"),
            ("Unknown", "ignored"),
        ]);
        let v = decode(input(IamOp::CreateRole), &p).unwrap();
        assert_eq!(
            v,
            json!({
                "RoleName": "r",
                "AssumeRolePolicyDocument": "{}",
                "MaxSessionDuration": 3600,
                "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
            })
        );
        let v = decode(input(IamOp::UntagRole), &params(&[("TagKeys", "")])).unwrap();
        assert_eq!(v, json!({"TagKeys": []}));
        let v = decode(
            input(IamOp::UntagRole),
            &params(&[("TagKeys.member.10", "j"), ("TagKeys.member.2", "b")]),
        )
        .unwrap();
        assert_eq!(v, json!({"TagKeys": ["b", "j"]}));
    }

    #[test]
    fn lists_of_policy_arns_and_booleans() {
        let shape = StsOp::AssumeRole.info().input.unwrap();
        let p = params(&[
            ("RoleArn", "arn:aws:iam::123456789012:role/r"),
            ("RoleSessionName", "s"),
            ("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/A"),
            ("PolicyArns.member.2.arn", "arn:aws:iam::aws:policy/B"),
            ("DurationSeconds", "900"),
        ]);
        let v = decode(shape, &p).unwrap();
        assert_eq!(
            v["PolicyArns"],
            json!([{"arn": "arn:aws:iam::aws:policy/A"}, {"arn": "arn:aws:iam::aws:policy/B"}])
        );
        let v = decode(
            input(IamOp::CreatePolicyVersion),
            &params(&[("SetAsDefault", "TRUE")]),
        )
        .unwrap();
        assert_eq!(v, json!({"SetAsDefault": true}));
    }

    #[test]
    fn wrong_types_are_validation_errors() {
        let e = decode(
            input(IamOp::ListRoles),
            &params(&[("MaxItems", "seven"), ("Marker", "m")]),
        )
        .unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'seven' at 'maxItems' failed to satisfy constraint: Member must be an integer"
        );
        let e = decode(
            input(IamOp::CreatePolicyVersion),
            &params(&[("SetAsDefault", "yes"), ("PolicyArn", "a")]),
        )
        .unwrap_err();
        assert!(e.message.contains("Value 'yes' at 'setAsDefault'"), "{e}");
        let e = decode(
            input(IamOp::ListRoles),
            &params(&[("MaxItems", "99999999999")]),
        )
        .unwrap_err();
        assert!(e.message.contains("Member must be an integer"));
    }

    #[test]
    fn strict_decoding_reports_missing_members_in_aws_words() {
        let e = decode_strict(input(IamOp::GetRole), &[]).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"
        );
        assert!(decode(input(IamOp::GetRole), &[]).is_ok());
        let e = decode_strict(
            input(IamOp::TagRole),
            &params(&[("RoleName", "r"), ("Tags.member.1.Value", "v")]),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'tags.1.member.key' failed to satisfy constraint: Member must not be null"
        );
        let e = decode_strict(input(IamOp::CreateRole), &[]).unwrap_err();
        assert!(
            e.message.starts_with("2 validation errors detected: "),
            "{e}"
        );
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        // A sensitive non-string: find one in the models, if any, else check the wording path.
        let p = Path::default().member("Password");
        let mut d = Decoder::new(&[], false);
        d.fail(&p, Some(REDACTED), "Member must be an integer");
        assert!(d.problems[0].contains(REDACTED));
        let sensitive = Service::Iam
            .operations()
            .iter()
            .filter_map(|o| o.input)
            .filter_map(|s| s.structure())
            .flat_map(|s| s.members.iter())
            .find(|m| m.target.sensitive);
        assert!(sensitive.is_some(), "IAM has sensitive input members");
    }

    #[test]
    fn timestamps_become_epoch_seconds() {
        // No IAM or STS input has a timestamp; CloudTrail's LookupEvents has (JSON, but the
        // decoder is the same).
        let shape = coffer_model::ops::CloudTrailOp::LookupEvents
            .info()
            .input
            .unwrap();
        let v = decode(
            shape,
            &params(&[
                ("StartTime", "2023-11-14T22:13:20.250Z"),
                ("EndTime", "1700000000"),
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"StartTime": 1_700_000_000.25, "EndTime": 1_700_000_000})
        );
        let e = decode(shape, &params(&[("StartTime", "soon")])).unwrap_err();
        assert!(e.message.contains("Member must be a timestamp"), "{e}");
    }

    #[test]
    fn maps() {
        // No IAM or STS input has a map; find one anywhere to exercise the form.
        let (member, owner) = Service::ALL
            .iter()
            .flat_map(|s| s.operations())
            .filter_map(|o| o.input)
            .filter_map(|s| s.structure().map(|st| (st, s)))
            .flat_map(|(st, s)| st.members.iter().map(move |m| (m, s)))
            .find(|(m, _)| matches!(m.target.kind, ShapeKind::Map(_)))
            .expect("some input has a map member");
        let key = member.wire_name();
        let p = params(&[
            (&format!("{key}.entry.2.key"), "b"),
            (&format!("{key}.entry.2.value"), "2"),
            (&format!("{key}.entry.1.key"), "a"),
            (&format!("{key}.entry.1.value"), "1"),
        ]);
        let ShapeKind::Map(m) = &member.target.kind else {
            unreachable!()
        };
        if matches!(m.value.target.kind, ShapeKind::String(_)) {
            let v = decode(owner, &p).unwrap();
            assert_eq!(v[member.name], json!({"a": "1", "b": "2"}));
        }
        let p = params(&[(&format!("{key}.entry.1.value"), "1")]);
        let e = decode(owner, &p).unwrap_err();
        assert!(e.message.contains("entry.1.key"), "{e}");
    }
}
