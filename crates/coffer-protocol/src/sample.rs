//! A full example value of any shape, in the JSON form the codecs use: every member set (one for
//! a union), two items in each list and map, the first value of each enum, strings with
//! characters that need escaping, timestamps with milliseconds. For tests: round trips through
//! the codecs and through botocore, and a value to check a validator against.
//!
//! Values are deterministic (a function of the shape and the path). Recursive shapes stop after
//! a few levels: deeper optional members are left out, deeper lists are empty.

use coffer_model::ops::shape::{List, Map, StringShape};
use coffer_model::ops::{Shape, ShapeKind};
use serde_json::{json, Map as Object, Value};

/// How deep structures nest before optional members are left out.
const MAX_DEPTH: usize = 5;

/// An example value of `shape`.
pub fn value(shape: &'static Shape) -> Value {
    Sampler { counter: 0 }.value(shape, 0)
}

struct Sampler {
    counter: u64,
}

impl Sampler {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn value(&mut self, shape: &'static Shape, depth: usize) -> Value {
        let n = self.next();
        match &shape.kind {
            ShapeKind::Structure(s) => {
                let mut out = Object::new();
                for m in s.members {
                    if depth >= MAX_DEPTH && !m.required {
                        continue;
                    }
                    out.insert(m.name.to_string(), self.value(m.target, depth + 1));
                    if s.union {
                        break;
                    }
                }
                Value::Object(out)
            }
            ShapeKind::List(List { member, length, .. }) => {
                let want = if depth >= MAX_DEPTH { 0 } else { 2 };
                let count = want
                    .max(length.min.unwrap_or(0))
                    .min(length.max.unwrap_or(u64::MAX));
                Value::Array(
                    (0..count)
                        .map(|_| self.value(member.target, depth + 1))
                        .collect(),
                )
            }
            ShapeKind::Map(Map { key, value, .. }) => {
                let mut out = Object::new();
                if depth < MAX_DEPTH {
                    for i in 0..2 {
                        let k = match self.value(key.target, depth + 1) {
                            Value::String(s) => format!("{s}{i}"),
                            other => format!("{other}{i}"),
                        };
                        let k = match &key.target.kind {
                            ShapeKind::String(StringShape { enum_values, .. })
                                if !enum_values.is_empty() =>
                            {
                                enum_values[i % enum_values.len()].to_string()
                            }
                            _ => k,
                        };
                        out.insert(k, self.value(value.target, depth + 1));
                    }
                }
                Value::Object(out)
            }
            ShapeKind::String(StringShape {
                enum_values,
                length,
                ..
            }) => {
                if let Some(first) = enum_values.first() {
                    return json!(first);
                }
                let mut s = format!("{} {n} <&>\"' é", shape.name);
                let max = length.max.unwrap_or(u64::MAX);
                let min = length.min.unwrap_or(0);
                let len = s.chars().count() as u64;
                if len > max {
                    s = s.chars().take(max as usize).collect();
                } else if len < min {
                    s.extend(std::iter::repeat_n('x', (min - len) as usize));
                }
                Value::String(s)
            }
            ShapeKind::Integer(r) | ShapeKind::Long(r) => {
                let base = if matches!(shape.kind, ShapeKind::Long(_)) {
                    1_i64 << 40
                } else {
                    1000
                };
                let v = (base + n as i64)
                    .max(r.min.unwrap_or(i64::MIN))
                    .min(r.max.unwrap_or(i64::MAX));
                json!(v)
            }
            ShapeKind::Float(_) | ShapeKind::Double(_) => json!(1.5),
            ShapeKind::Boolean => json!(n & 1 == 0),
            ShapeKind::Blob(_) => json!("YmxvYiBieXRlcwD/"),
            ShapeKind::Timestamp(_) => {
                if n & 1 == 0 {
                    json!(1_700_000_000)
                } else {
                    json!(1_700_000_000.25)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate;
    use coffer_model::ops::{Op, Service};

    /// Every sample fits its shape, by the validator (for JSON services; Query samples are
    /// the same JSON form).
    #[test]
    fn every_sample_of_every_operation_validates() {
        for &op in Op::ALL {
            let info = op.info();
            for shape in info.input.iter().chain(&info.output) {
                let v = value(shape);
                let problems = validate(shape, &v);
                assert!(problems.is_empty(), "{}: {problems:?}", shape.name);
            }
        }
        assert!(Service::ALL.len() >= 5);
    }
}
