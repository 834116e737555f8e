//! Input validation with the messages AWS's JSON services send, e.g.
//! `1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null`.
//!
//! Member names are given as in the wire shape (`KeyId`); messages use AWS's lower-camel form (`keyId`).

use std::fmt;

/// A failed validation: the full AWS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The complete message, ready to send.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

impl ValidationError {
    /// A single-constraint message with AWS's wording.
    pub fn single(member: &str, value: Option<&str>, constraint: &str) -> Self {
        let mut v = Validator::new();
        v.fail(member, value, constraint);
        Self {
            message: v.message(),
        }
    }
}

/// Collects constraint failures in the order they are checked.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<String>,
}

fn camel(member: &str) -> String {
    let mut c = member.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Validator {
    /// An empty validator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failure of `member` (wire name) with an optional rendered value.
    pub fn fail(&mut self, member: &str, value: Option<&str>, constraint: &str) {
        let value = match value {
            Some(v) => format!("'{v}'"),
            None => "null".to_string(),
        };
        self.errors.push(format!(
            "Value {value} at '{}' failed to satisfy constraint: {constraint}",
            camel(member)
        ));
    }

    /// Fails when a required member is missing.
    pub fn required<T>(&mut self, member: &str, v: &Option<T>) {
        if v.is_none() {
            self.fail(member, None, "Member must not be null");
        }
    }

    /// Checks a string's length in characters (when present).
    pub fn length(&mut self, member: &str, v: Option<&str>, min: usize, max: usize) {
        if let Some(s) = v {
            let n = s.chars().count();
            if n < min {
                self.fail(
                    member,
                    Some(s),
                    &format!("Member must have length greater than or equal to {min}"),
                );
            } else if n > max {
                self.fail(
                    member,
                    Some(s),
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    /// Checks a blob's length in bytes (when present); the value is not echoed.
    pub fn blob_length(&mut self, member: &str, v: Option<&[u8]>, min: usize, max: usize) {
        if let Some(b) = v {
            if b.len() < min {
                self.fail(
                    member,
                    Some("java.nio.HeapByteBuffer"),
                    &format!("Member must have length greater than or equal to {min}"),
                );
            } else if b.len() > max {
                self.fail(
                    member,
                    Some("java.nio.HeapByteBuffer"),
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    /// Checks a string against a pattern, given as a predicate plus the pattern text for the message.
    pub fn pattern(
        &mut self,
        member: &str,
        v: Option<&str>,
        ok: impl Fn(&str) -> bool,
        pattern: &str,
    ) {
        if let Some(s) = v {
            if !ok(s) {
                self.fail(
                    member,
                    Some(s),
                    &format!("Member must satisfy regular expression pattern: {pattern}"),
                );
            }
        }
    }

    /// Checks an integer range (when present).
    pub fn range(&mut self, member: &str, v: Option<i64>, min: i64, max: i64) {
        if let Some(n) = v {
            let s = n.to_string();
            if n < min {
                self.fail(
                    member,
                    Some(&s),
                    &format!("Member must have value greater than or equal to {min}"),
                );
            } else if n > max {
                self.fail(
                    member,
                    Some(&s),
                    &format!("Member must have value less than or equal to {max}"),
                );
            }
        }
    }

    /// Checks an enum value against its allowed set.
    pub fn one_of(&mut self, member: &str, v: Option<&str>, allowed: &[&str]) {
        if let Some(s) = v {
            if !allowed.contains(&s) {
                self.fail(
                    member,
                    Some(s),
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    /// Checks a list's size (when present).
    pub fn count(&mut self, member: &str, len: Option<usize>, min: usize, max: usize) {
        if let Some(n) = len {
            if n < min {
                self.fail(
                    member,
                    Some(&format!("[{n} items]")),
                    &format!("Member must have length greater than or equal to {min}"),
                );
            } else if n > max {
                self.fail(
                    member,
                    Some(&format!("[{n} items]")),
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    fn message(&self) -> String {
        let n = self.errors.len();
        let noun = if n == 1 { "error" } else { "errors" };
        format!("{n} validation {noun} detected: {}", self.errors.join("; "))
    }

    /// `Ok` when nothing failed, else the combined AWS message.
    pub fn finish(self) -> Result<(), ValidationError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                message: self.message(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_wording() {
        let mut v = Validator::new();
        v.required::<String>("KeyId", &None);
        assert_eq!(
            v.finish().unwrap_err().message,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        );
        let mut v = Validator::new();
        v.length("Description", Some("abc"), 0, 2);
        v.range("PendingWindowInDays", Some(3), 7, 30);
        assert_eq!(
            v.finish().unwrap_err().message,
            "2 validation errors detected: Value 'abc' at 'description' failed to satisfy constraint: Member must have length less than or equal to 2; Value '3' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7"
        );
    }
}
