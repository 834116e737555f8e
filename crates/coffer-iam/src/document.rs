//! Checks of the policy documents IAM stores, with the `MalformedPolicyDocument` and
//! `LimitExceeded` messages AWS sends.
//!
//! The policy grammar is `coffer-policy`'s: a document is parsed and checked for its kind by
//! [`Policy::parse`] and [`Policy::validate`], the very parser the evaluator uses (ADR 0009), so
//! IAM stores exactly the documents that are evaluated as written. What is left here is IAM's
//! own: the quotas, the `Version` a managed policy needs, and the characters a `Sid` may have.
//!
//! Sizes are counted as AWS counts them: in characters, white space not included.

use super::IamError;
use coffer_policy::{Policy, PolicyError, PolicyKind};
use serde_json::Value;

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

impl Kind {
    /// The policy type whose grammar documents of this kind follow.
    fn policy_kind(self) -> PolicyKind {
        match self {
            Kind::Managed | Kind::Inline => PolicyKind::Identity,
            Kind::Trust => PolicyKind::Trust,
        }
    }
}

/// The largest managed policy document.
pub(crate) const MANAGED_POLICY_SIZE: usize = 6144;
/// The largest trust policy.
pub(crate) const TRUST_POLICY_SIZE: usize = 2048;
/// The largest total of a role's inline policies.
pub(crate) const INLINE_POLICIES_SIZE: usize = 10240;
/// Characters all inline policies of one user may hold together (white space not counted).
pub(crate) const USER_INLINE_POLICIES_SIZE: usize = 2048;
/// Characters all inline policies of one group may hold together (white space not counted).
pub(crate) const GROUP_INLINE_POLICIES_SIZE: usize = 5120;

/// IAM's answer to a document that does not follow the grammar.
const SYNTAX: &str = "Syntax errors in policy.";
/// The only `Version` a managed policy may have.
const MANAGED_VERSION: &str = "2012-10-17";

fn malformed(message: impl Into<String>) -> IamError {
    IamError::MalformedPolicyDocument(message.into())
}

fn refused(e: PolicyError) -> IamError {
    malformed(e.to_string())
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

/// The `Version` of a document whose top level parsed (whatever its statements hold).
fn version(doc: &str, parsed: &Result<Policy, PolicyError>) -> Option<String> {
    match parsed {
        Ok(policy) => policy.version().map(str::to_owned),
        Err(_) => serde_json::from_str::<Value>(doc)
            .ok()?
            .get("Version")?
            .as_str()
            .map(str::to_owned),
    }
}

/// "For IAM policies, basic alphanumeric characters (A-Z,a-z,0-9) are the only allowed
/// characters in the `Sid` value" (IAM JSON policy grammar, notes on `sid_string`); other
/// services' policies, key policies among them, allow more, so the engine does not check it.
fn check_sids(policy: &Policy) -> Result<(), IamError> {
    if policy
        .sids()
        .flatten()
        .all(|sid| sid.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        Ok(())
    } else {
        Err(malformed(
            "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
        ))
    }
}

/// A managed or trust policy document as IAM accepts it: its grammar, then its size quota.
/// (Inline policies are sized together per role, so they use [`validate`] alone.)
pub(crate) fn check(doc: &str, kind: Kind) -> Result<(), IamError> {
    validate(doc, kind)?;
    check_size(doc, kind)
}

/// Checks a document of `kind` (not its size: see [`check_size`]). IAM reports a document that
/// does not follow the grammar first, then a managed policy's `Version`, then any other fault.
pub(crate) fn validate(doc: &str, kind: Kind) -> Result<(), IamError> {
    let parsed = Policy::parse(doc);
    let syntax_error = matches!(&parsed, Err(e) if e.to_string() == SYNTAX);
    if kind == Kind::Managed
        && !syntax_error
        && version(doc, &parsed).as_deref() != Some(MANAGED_VERSION)
    {
        return Err(malformed(
            "Policy document must be version 2012-10-17 or greater.",
        ));
    }
    let policy = parsed.map_err(refused)?;
    policy.validate(kind.policy_kind()).map_err(refused)?;
    check_sids(&policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = "The policy failed legacy parsing";

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
    fn iam_accepts_what_the_evaluator_parses() {
        // Documents the earlier, separate check accepted but the evaluator refused (so they
        // would have granted nothing), and the reverse; IAM now answers as the grammar says.
        for (doc, kind, want) in [
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEqualz":{"aws:username":"x"}}}}"#,
                Kind::Inline,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"StringEquals":{"username":"x"}}}}"#,
                Kind::Inline,
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}}"#,
                Kind::Inline,
                LEGACY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"k*s:Decrypt","Resource":"*"}}"#,
                Kind::Inline,
                "Vendor k*s is not valid",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":":Decrypt","Resource":"*"}}"#,
                Kind::Inline,
                "Vendor  is not valid",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"arn:aws:iam::123456789012:role/*"}}}"#,
                Kind::Trust,
                "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:role/*\"",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":[]}}}"#,
                Kind::Trust,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"arn:aws:iam::123456789012:root"}}"#,
                Kind::Trust,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Deny","Action":"sts:AssumeRole","NotPrincipal":{"AWS":"123456789012"}}}"#,
                Kind::Trust,
                "Has prohibited field NotPrincipal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"*","NotResource":"arn:aws:iam::*:role/x"}}"#,
                Kind::Trust,
                "Has prohibited field NotResource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"AROAEXAMPLEID12345678"}}}"#,
                Kind::Trust,
                "ok",
            ),
        ] {
            assert_eq!(msg(doc, kind), want, "{doc}");
            // Whatever IAM says, the evaluator agrees on whether the document is usable.
            let engine = Policy::parse(doc).and_then(|p| p.validate(kind.policy_kind()));
            assert_eq!(engine.is_ok(), want == "ok", "{doc}");
        }
    }

    #[test]
    fn iam_rules_beyond_the_grammar() {
        // A managed policy's Version is reported after syntax errors, before anything else.
        assert_eq!(
            msg(
                r#"{"Statement":{"Effect":"Allow","Action":"kms","Resource":"*"}}"#,
                Kind::Managed
            ),
            "Policy document must be version 2012-10-17 or greater."
        );
        assert_eq!(
            msg(
                r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"}}"#,
                Kind::Managed
            ),
            "Policy document must be version 2012-10-17 or greater."
        );
        assert_eq!(
            msg(
                r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Extra":1}}"#,
                Kind::Managed
            ),
            SYNTAX
        );
        assert_eq!(
            msg(
                r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"}}"#,
                Kind::Inline
            ),
            "ok"
        );
        // IAM's Sids are alphanumeric; a key policy's may have spaces, which the engine allows.
        let spaced = r#"{"Version":"2012-10-17","Statement":{"Sid":"Allow decrypt","Effect":"Allow","Action":"a:b","Resource":"*"}}"#;
        for kind in [Kind::Managed, Kind::Inline] {
            assert_eq!(
                msg(spaced, kind),
                "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
            );
        }
        assert!(Policy::parse(spaced).is_ok());
        assert_eq!(
            msg(
                r#"{"Statement":{"Sid":"","Effect":"Allow","Action":"sts:AssumeRole","Principal":"*"}}"#,
                Kind::Trust
            ),
            "ok"
        );
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
