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

use coffer_policy::{Policy, PolicyError, PolicyKind};
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

/// ValidateResourcePolicy's `CheckName` for grammar findings.
pub(crate) const CHECK_SYNTAX: &str = "SYNTAX";
/// ValidateResourcePolicy's `CheckName` for a policy that grants public access.
pub(crate) const CHECK_PUBLIC: &str = "PUBLIC_ACCESS";

const STATEMENT_KEYS: &[&str] = &[
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

/// ValidateResourcePolicy's findings for a policy that is a JSON object: the IAM policy grammar
/// as it applies to a resource policy (every statement names its principals), then the public
/// access check of [`is_public`]. Each finding is (`CheckName`, `ErrorMessage`).
///
/// The grammar findings list every fault this function recognises in the document's shape,
/// statement by statement (the evaluator's parser stops at the first); a statement without
/// such a finding is then checked by `coffer-policy`, the parser the evaluator uses, so that a
/// policy that passes is one that is evaluated as written (condition operators, condition
/// keys, dates, principals and the rest of what that parser refuses).
pub(crate) fn findings(policy: &str) -> Vec<(&'static str, String)> {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return vec![(CHECK_SYNTAX, "The policy is not valid JSON.".to_string())];
    };
    let mut syntax: Vec<String> = Vec::new();
    if let Some(v) = doc.get("Version") {
        if !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17")) {
            syntax.push("Version must be \"2012-10-17\" or \"2008-10-17\".".to_string());
        }
    }
    if let Value::Object(top) = &doc {
        for k in top
            .keys()
            .filter(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement"))
        {
            syntax.push(format!("The policy has an unknown element {k}."));
        }
    }
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => {
            syntax.push(
                "The policy must have a Statement: an object or a list of objects.".to_string(),
            );
            Vec::new()
        }
    };
    let mut sids = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        let n = i + 1;
        let before = syntax.len();
        let Value::Object(m) = st else {
            syntax.push(format!("Statement {n} is not an object."));
            continue;
        };
        for k in m.keys().filter(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
            syntax.push(format!("Statement {n} has an unknown element {k}."));
        }
        if let Some(sid) = m.get("Sid") {
            match sid.as_str() {
                Some(s) if sids.contains(&s) => {
                    syntax.push(format!("Statement {n} repeats the Sid {s}."))
                }
                Some(s) => sids.push(s),
                None => syntax.push(format!("Statement {n}: Sid must be a string.")),
            }
        }
        if !matches!(
            m.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        ) {
            syntax.push(format!(
                "Statement {n}: Effect must be \"Allow\" or \"Deny\"."
            ));
        }
        for (a, b, what) in [
            (
                "Principal",
                "NotPrincipal",
                "a resource policy statement names its principals",
            ),
            ("Action", "NotAction", "it lists actions"),
            ("Resource", "NotResource", "it lists resources"),
        ] {
            match (m.contains_key(a), m.contains_key(b)) {
                (true, true) => syntax.push(format!("Statement {n} has both {a} and {b}.")),
                (false, false) => syntax.push(format!("Statement {n} needs {a} or {b}: {what}.")),
                _ => {}
            }
        }
        for key in ["Action", "NotAction"] {
            if let Some(v) = m.get(key) {
                if !string_list(v) {
                    syntax.push(format!(
                        "Statement {n}: {key} must be a string or a list of strings."
                    ));
                }
                for a in strings(v).filter(|a| *a != "*" && !valid_action(a)) {
                    syntax.push(format!(
                        "Statement {n}: {a} is not an action (service:ActionName)."
                    ));
                }
            }
        }
        for key in ["Resource", "NotResource"] {
            if let Some(v) = m.get(key) {
                if !string_list(v) {
                    syntax.push(format!(
                        "Statement {n}: {key} must be a string or a list of strings."
                    ));
                }
                for r in strings(v).filter(|r| *r != "*" && !r.starts_with("arn:")) {
                    syntax.push(format!("Statement {n}: {r} is not a resource ARN."));
                }
            }
        }
        for key in ["Principal", "NotPrincipal"] {
            match m.get(key) {
                None | Some(Value::Object(_)) => {}
                Some(Value::String(s)) if s == "*" => {}
                Some(_) => syntax.push(format!(
                    "Statement {n}: {key} must be \"*\" or an object such as {{\"AWS\": ...}}."
                )),
            }
        }
        if let Some(c) = m.get("Condition") {
            let ok = c
                .as_object()
                .is_some_and(|ops| ops.values().all(Value::is_object));
            if !ok {
                syntax.push(format!(
                    "Statement {n}: Condition must map operators to objects of condition keys."
                ));
            }
        }
        if syntax.len() == before {
            let one = serde_json::json!({ "Statement": st }).to_string();
            if let Err(e) = Policy::parse(&one).and_then(|p| p.validate(PolicyKind::Resource)) {
                syntax.push(format!(
                    "Statement {n}: {}.",
                    describe(&e).trim_end_matches('.')
                ));
            }
        }
    }
    let mut out: Vec<(&'static str, String)> =
        syntax.into_iter().map(|m| (CHECK_SYNTAX, m)).collect();
    if is_public(policy) {
        out.push((
            CHECK_PUBLIC,
            "The policy grants public access: a statement allows a wildcard principal without a condition that limits it to known accounts, organizations or networks.".to_string(),
        ));
    }
    out
}

/// What the evaluator's parser found wrong, in words more precise than IAM's message (which is
/// often only "Syntax errors in policy.").
fn describe(e: &PolicyError) -> String {
    match e {
        PolicyError::Syntax { detail } | PolicyError::LegacyParsing { detail } => detail.clone(),
        PolicyError::UnknownConditionOperator { operator } => {
            format!("{operator} is not a condition operator")
        }
        PolicyError::InvalidPrincipal { kind, value }
            if e.to_string() == "Syntax errors in policy." =>
        {
            format!("{kind} is not a principal type (value {value})")
        }
        PolicyError::MissingVendor { value } => {
            format!("{value} is not prefaced by a service, as in secretsmanager:GetSecretValue")
        }
        other => other.to_string(),
    }
}

fn string_list(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(a) => !a.is_empty() && a.iter().all(Value::is_string),
        _ => false,
    }
}

/// `service:ActionName`, where the name may use `*` and `?`.
fn valid_action(a: &str) -> bool {
    a.split_once(':').is_some_and(|(svc, name)| {
        !svc.is_empty()
            && svc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
    })
}

#[cfg(test)]
mod tests {
    use super::{findings, is_public, CHECK_PUBLIC, CHECK_SYNTAX};

    #[test]
    fn grammar_findings() {
        let good = r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":["secretsmanager:GetSecretValue","secretsmanager:Describe*"],"Resource":"*"}]}"#;
        assert!(findings(good).is_empty());
        let checks = |p: &str| findings(p).into_iter().map(|f| f.0).collect::<Vec<_>>();
        assert_eq!(checks(r#"{"Version":"2012-10-17"}"#), vec![CHECK_SYNTAX]);
        let bad = r#"{"Version":"2020-01-01","Extra":1,"Statement":[{"Sid":"a","Effect":"Maybe","Action":"GetSecretValue","Resource":"x","Bogus":1},{"Sid":"a","Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":"no"}]}"#;
        let f = findings(bad);
        // Version, Extra, Bogus, Effect, no Principal, bad action, bad resource, repeated Sid, Condition
        // are syntax findings; the wildcard principal is a public-access one.
        assert_eq!(f.iter().filter(|x| x.0 == CHECK_SYNTAX).count(), 9, "{f:?}");
        assert_eq!(f.iter().filter(|x| x.0 == CHECK_PUBLIC).count(), 1);
    }

    #[test]
    fn what_the_evaluator_refuses_is_a_finding() {
        // Faults of the kind the shape checks above do not see: without a finding, a policy the
        // evaluator cannot parse would pass, be stored, and grant nothing.
        for (statement, want) in [
            (
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEqualz":{"aws:PrincipalAccount":"111122223333"}}}"#,
                "Statement 1: StringEqualz is not a condition operator.",
            ),
            (
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/*"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}"#,
                r#"Statement 1: Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:role/*"."#,
            ),
            (
                r#"{"Effect":"Allow","Principal":{"Nobody":"x"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}"#,
                "Statement 1: Nobody is not a principal type (value x).",
            ),
            (
                r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}"#,
                "Statement 1: DateLessThan: tomorrow is not a date.",
            ),
        ] {
            let f = findings(&policy(statement));
            assert_eq!(f, vec![(CHECK_SYNTAX, want.to_string())], "{statement}");
        }
        // A statement with shape findings is not checked again; the others are.
        let two = r#"{"Statement":[{"Effect":"Maybe","Principal":{"AWS":"111122223333"},"Action":"a:b","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"a:b","Resource":"*"}]}"#;
        let f = findings(two);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[1].1.starts_with("Statement 2: Invalid principal"),
            "{f:?}"
        );
    }

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
