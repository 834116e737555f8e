//! PutResourcePolicy's `BlockPublicPolicy` check: a small, conservative stand-in for the
//! automated reasoning (Zelkova) AWS runs to decide whether a policy grants broad access.
//!
//! A policy is **public** if some statement with `"Effect": "Allow"`
//! * names every principal: `"Principal": "*"`, or `"*"` as (one of) the values of any
//!   principal type (`{"AWS": "*"}`, `{"AWS": ["*", ...]}`), or uses `NotPrincipal`
//!   (allowing everyone but the principals listed); and
//! * has no **limiting condition**: a condition whose key (case-insensitive) is one of
//!   [`LIMITING_KEYS`] (who is calling: account, organization, ARN, user; where from: source
//!   account/ARN/organization, VPC, endpoint, IP range), whose operator is a positive test
//!   (`StringEquals`, `StringLike`, `ArnEquals`, `ArnLike`, `IpAddress`, with or without
//!   `ForAnyValue:`/`ForAllValues:`; not a negated operator, not `...IfExists`, not `Null`,
//!   which a request can satisfy by leaving the key out), and whose values are not all `*`.
//!
//! Anything else (named accounts, roles, services; `Deny` statements) is not public. Like AWS,
//! the check is about who may call, not what they may do: `Action` and `Resource` are not
//! considered.

use serde_json::Value;

/// Condition keys that tie a request to known callers or networks.
pub(crate) const LIMITING_KEYS: &[&str] = &[
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalservicename",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:userid",
    "aws:username",
];

const POSITIVE_OPERATORS: &[&str] = &[
    "stringequals",
    "stringequalsignorecase",
    "stringlike",
    "arnequals",
    "arnlike",
    "ipaddress",
];

/// Whether the policy (already known to be a JSON object) grants public access; see the
/// module documentation for the rule.
pub(crate) fn is_public(policy: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return false;
    };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    statements.into_iter().any(statement_is_public)
}

fn statement_is_public(st: &Value) -> bool {
    if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
        return false;
    }
    let everyone =
        st.get("NotPrincipal").is_some() || st.get("Principal").is_some_and(principal_is_wildcard);
    everyone && !st.get("Condition").is_some_and(condition_limits)
}

fn principal_is_wildcard(p: &Value) -> bool {
    match p {
        Value::String(s) => s == "*",
        Value::Object(m) => m.values().any(|v| strings(v).any(|s| s == "*")),
        _ => false,
    }
}

/// The strings of a string or an array of strings.
fn strings(v: &Value) -> impl Iterator<Item = &str> {
    let list: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
}

fn condition_limits(cond: &Value) -> bool {
    let Value::Object(ops) = cond else {
        return false;
    };
    ops.iter().any(|(op, tests)| {
        let op = op.to_ascii_lowercase();
        let op = op
            .strip_prefix("foranyvalue:")
            .or_else(|| op.strip_prefix("forallvalues:"))
            .unwrap_or(&op);
        if !POSITIVE_OPERATORS.contains(&op) {
            return false;
        }
        let Value::Object(tests) = tests else {
            return false;
        };
        tests.iter().any(|(key, values)| {
            LIMITING_KEYS.contains(&key.to_ascii_lowercase().as_str())
                && strings(values).any(|v| !v.is_empty() && v.chars().any(|c| c != '*'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::is_public;

    fn policy(statement: &str) -> String {
        format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#)
    }

    #[test]
    fn public_and_not() {
        let public = [
            r#"{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}"#,
            r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"secretsmanager:*","Resource":"*"}"#,
            r#"{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]},"Action":"*","Resource":"*"}"#,
            r#"{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"*","Resource":"*"}"#,
            // Conditions that do not limit who calls.
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#,
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}"#,
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:PrincipalAccount":"111122223333"}}}"#,
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalArn":"*"}}}"#,
        ];
        for st in public {
            assert!(is_public(&policy(st)), "{st}");
        }
        let not_public = [
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"*","Resource":"*"}"#,
            r#"{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}"#,
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}}"#,
            r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:SourceVpce":["vpce-1"]}}}"#,
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"IpAddress":{"AWS:SourceIp":"10.0.0.0/8"}}}"#,
        ];
        for st in not_public {
            assert!(!is_public(&policy(st)), "{st}");
        }
        assert!(is_public(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#
        ));
        assert!(!is_public(r#"{"Version":"2012-10-17"}"#));
    }
}
