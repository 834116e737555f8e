//! Checks of the policy documents IAM stores, with the `MalformedPolicyDocument` and
//! `LimitExceeded` messages AWS sends.
//!
//! This is IAM's own grammar check, made when a document is stored: it decides which documents
//! are accepted, not what they allow. Evaluating the documents (ADR 0009) is `coffer-policy`'s
//! work, done when a request is authorized.
//!
//! Sizes are counted as AWS counts them: in characters, white space not included.

use super::IamError;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Which kind of document is checked: the grammar and the limits differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A version of a customer managed policy (`CreatePolicy`, `CreatePolicyVersion`).
    Managed,
    /// An inline policy of a role (`PutRolePolicy`).
    Inline,
    /// A role's trust policy (`CreateRole`, `UpdateAssumeRolePolicy`).
    Trust,
}

/// The largest managed policy document.
pub(crate) const MANAGED_POLICY_SIZE: usize = 6144;
/// The largest trust policy.
pub(crate) const TRUST_POLICY_SIZE: usize = 2048;
/// The largest total of a role's inline policies.
pub(crate) const INLINE_POLICIES_SIZE: usize = 10240;

const SYNTAX: &str = "Syntax errors in policy.";
const LEGACY: &str = "The policy failed legacy parsing";

const TOP_LEVEL: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_MEMBERS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];
const PRINCIPAL_TYPES: &[&str] = &["AWS", "Service", "Federated", "CanonicalUser"];

fn malformed(message: impl Into<String>) -> IamError {
    IamError::MalformedPolicyDocument(message.into())
}

/// A document's size as IAM counts it against its quotas: characters other than white space.
pub(crate) fn size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

/// Checks the document's size against the quota of its kind (inline policies are limited by
/// their total per role, which the caller checks).
pub(crate) fn check_size(doc: &str, kind: Kind) -> Result<(), IamError> {
    let n = size(doc);
    match kind {
        Kind::Managed if n > MANAGED_POLICY_SIZE => Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}"
        ))),
        Kind::Trust if n > TRUST_POLICY_SIZE => Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}"
        ))),
        _ => Ok(()),
    }
}

fn is_string_or_strings(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    }
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_condition_value(v: &Value) -> bool {
    match v {
        Value::String(_) | Value::Bool(_) | Value::Number(_) => true,
        Value::Array(items) => items
            .iter()
            .all(|i| matches!(i, Value::String(_) | Value::Bool(_) | Value::Number(_))),
        _ => false,
    }
}

fn principal_syntax_ok(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "*",
        Value::Object(m) => {
            !m.is_empty()
                && m.iter()
                    .all(|(k, v)| PRINCIPAL_TYPES.contains(&k.as_str()) && is_string_or_strings(v))
        }
        _ => false,
    }
}

/// A JSON object.
type Object = Map<String, Value>;

/// The grammar every IAM policy document follows: the document and its statements; `Err` is
/// AWS's "Syntax errors in policy.".
fn statements(doc: &str) -> Result<(Object, Vec<Object>), IamError> {
    let value: Value = serde_json::from_str(doc).map_err(|_| malformed(SYNTAX))?;
    let Value::Object(top) = value else {
        return Err(malformed(SYNTAX));
    };
    if top.keys().any(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(malformed(SYNTAX));
    }
    match top.get("Version") {
        None => {}
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
        Some(_) => return Err(malformed(SYNTAX)),
    }
    if top.get("Id").is_some_and(|id| !id.is_string()) {
        return Err(malformed(SYNTAX));
    }
    let list = match top.get("Statement") {
        Some(Value::Object(s)) => vec![Value::Object(s.clone())],
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        _ => return Err(malformed(SYNTAX)),
    };
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        let Value::Object(s) = s else {
            return Err(malformed(SYNTAX));
        };
        let ok = s.keys().all(|k| STATEMENT_MEMBERS.contains(&k.as_str()))
            && !(s.contains_key("Action") && s.contains_key("NotAction"))
            && !(s.contains_key("Resource") && s.contains_key("NotResource"))
            && !(s.contains_key("Principal") && s.contains_key("NotPrincipal"))
            && s.get("Effect")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny"))
            && ["Action", "NotAction", "Resource", "NotResource"]
                .iter()
                .all(|k| s.get(*k).is_none_or(is_string_or_strings))
            && s.get("Sid").is_none_or(Value::is_string)
            && ["Principal", "NotPrincipal"]
                .iter()
                .all(|k| s.get(*k).is_none_or(principal_syntax_ok))
            && s.get("Condition").is_none_or(|c| match c {
                Value::Object(ops) => ops.values().all(|o| match o {
                    Value::Object(keys) => keys.values().all(is_condition_value),
                    _ => false,
                }),
                _ => false,
            });
        if !ok {
            return Err(malformed(SYNTAX));
        }
        out.push(s);
    }
    Ok((top, out))
}

fn check_action(action: &str) -> Result<(), IamError> {
    if action == "*" {
        return Ok(());
    }
    let parts: Vec<&str> = action.split(':').collect();
    match parts.len() {
        1 => Err(malformed(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        )),
        2 => {
            let vendor = parts[0];
            if vendor.is_empty()
                || !vendor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '*')
            {
                Err(malformed(format!("Vendor {vendor} is not valid")))
            } else {
                Ok(())
            }
        }
        _ => Err(malformed("Actions/Condition can contain only one colon.")),
    }
}

fn check_resource(resource: &str) -> Result<(), IamError> {
    if resource == "*" || resource.starts_with("arn:") {
        Ok(())
    } else {
        Err(malformed(format!(
            "Resource {resource} must be in ARN format or \"*\"."
        )))
    }
}

fn check_trust_principal(p: &Value) -> Result<(), IamError> {
    let Value::Object(m) = p else {
        return Ok(()); // "*"
    };
    for (kind, v) in m {
        if kind != "AWS" {
            continue;
        }
        for id in strings(v) {
            let account = id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
            if !(id == "*" || account || id.starts_with("arn:")) {
                return Err(malformed(format!(
                    "Invalid principal in policy: \"AWS\":\"{id}\""
                )));
            }
        }
    }
    Ok(())
}

/// Checks a document of `kind` (not its size: see [`check_size`]).
pub(crate) fn validate(doc: &str, kind: Kind) -> Result<(), IamError> {
    let (top, statements) = statements(doc)?;
    if kind == Kind::Managed && top.get("Version").and_then(Value::as_str) != Some("2012-10-17") {
        return Err(malformed(
            "Policy document must be version 2012-10-17 or greater.",
        ));
    }
    for s in &statements {
        if !matches!(
            s.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        ) {
            return Err(malformed(LEGACY));
        }
    }
    let mut sids = HashSet::new();
    for s in &statements {
        if let Some(sid) = s.get("Sid").and_then(Value::as_str) {
            if !sid.is_empty() && !sids.insert(sid) {
                return Err(malformed(
                    "Statement IDs (SID) in a single policy must be unique.",
                ));
            }
        }
    }
    for s in &statements {
        match kind {
            Kind::Trust => {
                for field in ["Resource", "NotResource"] {
                    if s.contains_key(field) {
                        return Err(malformed(format!("Has prohibited field {field}")));
                    }
                }
                match s.get("Principal").or_else(|| s.get("NotPrincipal")) {
                    Some(p) => check_trust_principal(p)?,
                    None => return Err(malformed("Missing required field Principal")),
                }
            }
            Kind::Managed | Kind::Inline => {
                if s.contains_key("Principal") || s.contains_key("NotPrincipal") {
                    return Err(malformed("Policy document should not specify a principal."));
                }
            }
        }
        let actions = s.get("Action").or_else(|| s.get("NotAction"));
        if actions.is_none_or(|a| strings(a).is_empty()) {
            return Err(malformed("Policy statement must contain actions."));
        }
        if kind != Kind::Trust {
            let resources = s.get("Resource").or_else(|| s.get("NotResource"));
            if resources.is_none_or(|r| strings(r).is_empty()) {
                return Err(malformed("Policy statement must contain resources."));
            }
        }
    }
    for s in &statements {
        for key in ["Action", "NotAction"] {
            if let Some(a) = s.get(key) {
                for action in strings(a) {
                    check_action(action)?;
                }
            }
        }
        for key in ["Resource", "NotResource"] {
            if let Some(r) = s.get(key) {
                for resource in strings(r) {
                    check_resource(resource)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(doc: &str, kind: Kind) -> String {
        match validate(doc, kind) {
            Ok(()) => "ok".into(),
            Err(IamError::MalformedPolicyDocument(m)) => m,
            Err(e) => format!("other: {e:?}"),
        }
    }

    const IDENTITY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Action":["kms:Decrypt","secretsmanager:Get*"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":["x"]},"Bool":{"aws:SecureTransport":true}}}]}"#;
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root","123456789012"],"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;

    #[test]
    fn accepts_good_documents() {
        assert_eq!(msg(IDENTITY, Kind::Managed), "ok");
        assert_eq!(msg(IDENTITY, Kind::Inline), "ok");
        assert_eq!(msg(TRUST, Kind::Trust), "ok");
        assert_eq!(
            msg(
                r#"{"Statement":[{"Effect":"Deny","NotAction":"s3:*","NotResource":["arn:aws:s3:::b"]}]}"#,
                Kind::Inline
            ),
            "ok"
        );
        assert_eq!(
            msg(
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#,
                Kind::Trust
            ),
            "ok"
        );
    }

    #[test]
    fn refuses_with_aws_messages() {
        for (doc, kind, want) in [
            ("not json", Kind::Inline, SYNTAX),
            ("[]", Kind::Inline, SYNTAX),
            (r#"{"Statement":[]}"#, Kind::Inline, SYNTAX),
            (r#"{"Version":"2012-10-17"}"#, Kind::Inline, SYNTAX),
            (
                r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"}}"#,
                Kind::Inline,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Maybe","Action":"a:b","Resource":"*"}}"#,
                Kind::Inline,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Extra":1}}"#,
                Kind::Inline,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","NotAction":"c:d","Resource":"*"}}"#,
                Kind::Inline,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"}}"#,
                Kind::Managed,
                "Policy document must be version 2012-10-17 or greater.",
            ),
            (
                r#"{"Statement":{"Effect":"allow","Action":"a:b","Resource":"*"}}"#,
                Kind::Inline,
                LEGACY,
            ),
            (
                r#"{"Statement":[{"Sid":"x","Effect":"Allow","Action":"a:b","Resource":"*"},{"Sid":"x","Effect":"Allow","Action":"a:b","Resource":"*"}]}"#,
                Kind::Inline,
                "Statement IDs (SID) in a single policy must be unique.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}}"#,
                Kind::Inline,
                "Policy document should not specify a principal.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
                Kind::Inline,
                "Policy statement must contain actions.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b"}}"#,
                Kind::Inline,
                "Policy statement must contain resources.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"decrypt","Resource":"*"}}"#,
                Kind::Inline,
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b:c","Resource":"*"}}"#,
                Kind::Inline,
                "Actions/Condition can contain only one colon.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"k ms:b","Resource":"*"}}"#,
                Kind::Inline,
                "Vendor k ms is not valid",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"bucket"}}"#,
                Kind::Inline,
                "Resource bucket must be in ARN format or \"*\".",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Principal":"*"}}"#,
                Kind::Trust,
                "Has prohibited field Resource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
                Kind::Trust,
                "Missing required field Principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"bob"}}}"#,
                Kind::Trust,
                "Invalid principal in policy: \"AWS\":\"bob\"",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Nobody":"x"}}}"#,
                Kind::Trust,
                SYNTAX,
            ),
        ] {
            assert_eq!(msg(doc, kind), want, "{doc}");
        }
    }

    #[test]
    fn sizes_ignore_white_space() {
        assert_eq!(size("{ \"a\" :\n\t\"b c\" }"), 10);
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"a:b","Resource":"arn:aws:s3:::{}"}}}}"#,
            "x".repeat(MANAGED_POLICY_SIZE)
        );
        assert!(matches!(
            check_size(&big, Kind::Managed),
            Err(IamError::LimitExceeded(m)) if m == "Cannot exceed quota for PolicySize: 6144"
        ));
        let padded = format!("{}{}", " ".repeat(10_000), IDENTITY);
        assert!(check_size(&padded, Kind::Managed).is_ok());
        assert!(matches!(
            check_size(&big, Kind::Trust),
            Err(IamError::LimitExceeded(m)) if m == "Cannot exceed quota for ACLSizePerRole: 2048"
        ));
    }
}
