//! A JSON 1.1 value checked against its shape: what a response must be for the AWS SDKs to read
//! it as the model says.
//!
//! [`validate`] walks the value and the shape together and lists every [`Problem`]:
//!
//! * a member the structure does not have (AWS clients drop it; it is a Coffer bug);
//! * a required member missing;
//! * a value of the wrong JSON type (a string where the model has an integer, a float for an
//!   integer, an integer outside 32 bits for `integer`), or `null` (Coffer leaves absent members
//!   out rather than sending `null`);
//! * an enum value the model does not list;
//! * a timestamp that is not epoch seconds (a JSON number; or ISO 8601 / RFC 822 text where the
//!   member's `timestampFormat` says so);
//! * a blob that is not base64 text;
//! * a union with more or fewer than one member set.
//!
//! Lengths, ranges and patterns are not checked: they constrain what callers send, and AWS's own
//! answers do not always keep to them.

use crate::timestamp;
use base64::Engine as _;
use coffer_model::ops::shape::StringShape;
use coffer_model::ops::{Member, Shape, ShapeKind, TimestampFormat};
use serde_json::Value;
use std::fmt;

/// One way a value does not fit its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: members by model name, list items by index (`KeyMetadata.EncryptionAlgorithms[0]`);
    /// empty for the whole value.
    pub path: String,
    /// What.
    pub kind: ProblemKind,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// A member the structure does not have.
    UnknownMember,
    /// A required member that is missing.
    MissingRequired,
    /// A value of another JSON type than the shape's.
    WrongType {
        /// The shape's kind (`integer`, `structure`, …).
        expected: &'static str,
        /// What the value is (`a string`, `null`, …).
        found: &'static str,
    },
    /// An enum value the model does not list.
    NotInEnum {
        /// The value.
        value: String,
        /// The enum shape.
        shape: &'static str,
    },
    /// A timestamp not in the format the protocol and member give.
    BadTimestamp {
        /// The format wanted.
        format: TimestampFormat,
    },
    /// A blob that is not base64.
    BadBase64,
    /// A union with this many members set (one is right).
    UnionMembers(usize),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.path.is_empty() {
            "(the value)"
        } else {
            self.path.as_str()
        };
        match &self.kind {
            ProblemKind::UnknownMember => write!(f, "{at}: not a member of the model's structure"),
            ProblemKind::MissingRequired => write!(f, "{at}: required by the model, missing"),
            ProblemKind::WrongType { expected, found } => {
                write!(f, "{at}: {found} where the model has {expected}")
            }
            ProblemKind::NotInEnum { value, shape } => {
                write!(f, "{at}: `{value}` is not a value of the enum {shape}")
            }
            ProblemKind::BadTimestamp { format } => {
                write!(f, "{at}: not a timestamp in the {format:?} format")
            }
            ProblemKind::BadBase64 => write!(f, "{at}: a blob that is not base64"),
            ProblemKind::UnionMembers(n) => {
                write!(f, "{at}: a union with {n} members set, not one")
            }
        }
    }
}

/// Every problem of `value` as a JSON 1.1 value of `shape` (an empty list: it fits).
pub fn validate(shape: &'static Shape, value: &Value) -> Vec<Problem> {
    let mut v = Validator {
        problems: Vec::new(),
    };
    v.value(shape, None, value, "");
    v.problems
}

struct Validator {
    problems: Vec<Problem>,
}

fn found(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number with a fraction",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl Validator {
    fn problem(&mut self, path: &str, kind: ProblemKind) {
        self.problems.push(Problem {
            path: path.to_string(),
            kind,
        });
    }

    fn wrong(&mut self, path: &str, shape: &Shape, v: &Value) {
        self.problem(
            path,
            ProblemKind::WrongType {
                expected: shape.kind.name(),
                found: found(v),
            },
        );
    }

    /// `value` as `shape`; `member` is the member it is the value of, if any (for its
    /// timestamp format).
    fn value(&mut self, shape: &'static Shape, member: Option<&Member>, v: &Value, path: &str) {
        if v.is_null() {
            return self.wrong(path, shape, v);
        }
        match &shape.kind {
            ShapeKind::Structure(s) => {
                let Some(obj) = v.as_object() else {
                    return self.wrong(path, shape, v);
                };
                for k in obj.keys() {
                    if s.member(k).is_none() {
                        self.problem(&join(path, k), ProblemKind::UnknownMember);
                    }
                }
                for m in s.members {
                    match obj.get(m.name) {
                        Some(x) => self.value(m.target, Some(m), x, &join(path, m.name)),
                        None if m.required => {
                            self.problem(&join(path, m.name), ProblemKind::MissingRequired)
                        }
                        None => {}
                    }
                }
                if s.union {
                    let set = s
                        .members
                        .iter()
                        .filter(|m| obj.contains_key(m.name))
                        .count();
                    if set != 1 {
                        self.problem(path, ProblemKind::UnionMembers(set));
                    }
                }
            }
            ShapeKind::List(l) => {
                let Some(items) = v.as_array() else {
                    return self.wrong(path, shape, v);
                };
                for (i, x) in items.iter().enumerate() {
                    self.value(l.member.target, Some(&l.member), x, &format!("{path}[{i}]"));
                }
            }
            ShapeKind::Map(m) => {
                let Some(entries) = v.as_object() else {
                    return self.wrong(path, shape, v);
                };
                for (k, x) in entries {
                    let p = format!("{path}.{k}");
                    self.value(m.key.target, Some(&m.key), &Value::String(k.clone()), &p);
                    self.value(m.value.target, Some(&m.value), x, &p);
                }
            }
            ShapeKind::String(StringShape { enum_values, .. }) => match v.as_str() {
                None => self.wrong(path, shape, v),
                Some(s) if !enum_values.is_empty() && !enum_values.contains(&s) => self.problem(
                    path,
                    ProblemKind::NotInEnum {
                        value: s.to_string(),
                        shape: shape.name,
                    },
                ),
                Some(_) => {}
            },
            ShapeKind::Integer(_) => {
                if v.as_i64().is_none_or(|n| i32::try_from(n).is_err()) {
                    self.wrong(path, shape, v);
                }
            }
            ShapeKind::Long(_) => {
                if v.as_i64().is_none() {
                    self.wrong(path, shape, v);
                }
            }
            ShapeKind::Float(_) | ShapeKind::Double(_) => {
                if !v.is_number() {
                    self.wrong(path, shape, v);
                }
            }
            ShapeKind::Boolean => {
                if !v.is_boolean() {
                    self.wrong(path, shape, v);
                }
            }
            ShapeKind::Blob(_) => match v.as_str() {
                None => self.wrong(path, shape, v),
                Some(s) => {
                    if base64::engine::general_purpose::STANDARD
                        .decode(s.as_bytes())
                        .is_err()
                    {
                        self.problem(path, ProblemKind::BadBase64);
                    }
                }
            },
            ShapeKind::Timestamp(f) => {
                let format = member
                    .and_then(|m| m.timestamp_format)
                    .or(*f)
                    .unwrap_or(TimestampFormat::EpochSeconds);
                let ok = match (format, v) {
                    (TimestampFormat::EpochSeconds, Value::Number(_)) => {
                        timestamp::millis_of(v).is_some()
                    }
                    (TimestampFormat::Iso8601 | TimestampFormat::Rfc822, Value::String(s)) => {
                        timestamp::parse(s).is_some()
                            && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    }
                    _ => false,
                };
                if !ok {
                    self.problem(path, ProblemKind::BadTimestamp { format });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_model::ops::{KmsOp, SecretsManagerOp};
    use serde_json::json;

    #[test]
    fn a_good_answer_has_no_problems() {
        let shape = KmsOp::DescribeKey.info().output.unwrap();
        let v = json!({"KeyMetadata": {
            "KeyId": "k", "Arn": "arn", "CreationDate": 1_700_000_000.25, "Enabled": true,
            "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": false,
        }});
        assert_eq!(validate(shape, &v), []);
    }

    #[test]
    fn every_kind_of_problem() {
        let shape = KmsOp::DescribeKey.info().output.unwrap();
        let v = json!({"KeyMetadata": {
            "Arn": 5, "CreationDate": "2023-11-14T22:13:20Z", "Enabled": null,
            "KeyState": "Melting", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT", 3],
            "Extra": 1,
        }, "Top": true});
        let got: Vec<String> = validate(shape, &v)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "Top: not a member of the model's structure",
                "KeyMetadata.Extra: not a member of the model's structure",
                "KeyMetadata.KeyId: required by the model, missing",
                "KeyMetadata.Arn: an integer where the model has string",
                "KeyMetadata.CreationDate: not a timestamp in the EpochSeconds format",
                "KeyMetadata.Enabled: null where the model has boolean",
                "KeyMetadata.KeyState: `Melting` is not a value of the enum KeyState",
                "KeyMetadata.EncryptionAlgorithms[1]: an integer where the model has string",
            ]
        );
        let shape = SecretsManagerOp::GetRandomPassword.info().input.unwrap();
        let got = validate(
            shape,
            &json!({"PasswordLength": 1.5, "ExcludeNumbers": "no"}),
        );
        assert_eq!(got.len(), 2, "{got:?}");
        let shape = KmsOp::Encrypt.info().output.unwrap();
        let got = validate(shape, &json!({"CiphertextBlob": "not base64!"}));
        assert_eq!(got[0].kind, ProblemKind::BadBase64);
    }
}
