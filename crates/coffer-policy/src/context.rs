//! The request context: condition keys and their values.

use std::collections::HashMap;

/// Condition keys and their values for one request; keys are matched case-insensitively.
///
/// A key holds one value (`aws:SourceIp`) or several (`aws:TagKeys`). A key set to no values at
/// all is absent, exactly as a key never set: AWS gives an empty multivalued key and a missing
/// key the same results (`ForAllValues:` true, `ForAnyValue:` false, `Null` true).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    /// An empty context: every key absent.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the single value `value`, replacing what it held.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(normalize(key), vec![value.into()]);
        self
    }

    /// Sets `key` to `values`, replacing what it held; no values at all removes the key.
    pub fn set_many<I, S>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        if values.is_empty() {
            self.values.remove(&normalize(key));
        } else {
            self.values.insert(normalize(key), values);
        }
        self
    }

    /// [`Context::set`] for building a context in one expression.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// [`Context::set_many`] for building a context in one expression.
    #[must_use]
    pub fn with_many<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_many(key, values);
        self
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.values.remove(&normalize(key));
        self
    }

    /// The values of `key`, `None` when it is absent (never an empty slice).
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&normalize(key)).map(Vec::as_slice)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(&normalize(key))
    }

    /// The value of a key already in normal form (lowercase), for policy evaluation.
    pub(crate) fn get_normalized(&self, key: &str) -> Option<&[String]> {
        self.values.get(key).map(Vec::as_slice)
    }
}

/// Condition key names are compared case-insensitively ("`aws:CurrentTime` is equivalent to
/// `AWS:currenttime`"); keys are kept lowercase.
pub(crate) fn normalize(key: &str) -> String {
    key.to_lowercase()
}
