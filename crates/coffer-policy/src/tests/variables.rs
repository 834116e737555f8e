//! Policy variables.

use super::{holds, policy, role_req};
use crate::pattern::Template;
use crate::Context;

fn resource_policy(version: Option<&str>, resource: &str) -> crate::Policy {
    let version = version
        .map(|v| format!(r#""Version":"{v}","#))
        .unwrap_or_default();
    policy(&format!(
        r#"{{{version}"Statement":{{"Effect":"Allow","Action":"s3:*","Resource":"{resource}"}}}}"#
    ))
}

fn allowed(p: &crate::Policy, resource: &str, ctx: &Context) -> bool {
    p.evaluate_identity(&role_req("s3:GetObject", resource, ctx))
        .allow
}

#[test]
fn resource_variables() {
    let p = resource_policy(Some("2012-10-17"), "arn:aws:s3:::bucket/${aws:username}/*");
    let bob = Context::new().with("aws:username", "bob");
    assert!(allowed(&p, "arn:aws:s3:::bucket/bob/notes.txt", &bob));
    assert!(!allowed(&p, "arn:aws:s3:::bucket/alice/notes.txt", &bob));
    // No value: matches nothing.
    assert!(!allowed(
        &p,
        "arn:aws:s3:::bucket/bob/notes.txt",
        &Context::new()
    ));
    assert!(!allowed(
        &p,
        "arn:aws:s3:::bucket/${aws:username}/notes.txt",
        &Context::new()
    ));
}

#[test]
fn variables_need_version_2012_10_17() {
    // "If you don't include the Version element ..., variables like ${aws:username} are
    // treated as literal strings in the policy."
    let bob = Context::new().with("aws:username", "bob");
    for version in [None, Some("2008-10-17")] {
        let p = resource_policy(version, "arn:aws:s3:::bucket/${aws:username}/*");
        assert!(!allowed(&p, "arn:aws:s3:::bucket/bob/x", &bob));
        assert!(allowed(&p, "arn:aws:s3:::bucket/${aws:username}/x", &bob));
    }
}

#[test]
fn substituted_values_are_literal() {
    let p = resource_policy(Some("2012-10-17"), "arn:aws:s3:::bucket/${aws:username}");
    let star = Context::new().with("aws:username", "*");
    assert!(!allowed(&p, "arn:aws:s3:::bucket/bob", &star));
    assert!(allowed(&p, "arn:aws:s3:::bucket/*", &star));
}

#[test]
fn special_characters() {
    let p = resource_policy(Some("2012-10-17"), "arn:aws:s3:::bucket/${*}${?}${$}x");
    let ctx = Context::new();
    assert!(allowed(&p, "arn:aws:s3:::bucket/*?$x", &ctx));
    assert!(!allowed(&p, "arn:aws:s3:::bucket/ab$x", &ctx));
}

#[test]
fn default_values() {
    let p = resource_policy(
        Some("2012-10-17"),
        "arn:aws:s3:::bucket/${aws:userid, 'anonymous'}/*",
    );
    assert!(allowed(
        &p,
        "arn:aws:s3:::bucket/anonymous/x",
        &Context::new()
    ));
    let user = Context::new().with("aws:userid", "AIDAEXAMPLE");
    assert!(allowed(&p, "arn:aws:s3:::bucket/AIDAEXAMPLE/x", &user));
    assert!(!allowed(&p, "arn:aws:s3:::bucket/anonymous/x", &user));
}

#[test]
fn template_parsing() {
    let ctx = Context::new()
        .with("aws:username", "bob")
        .with("aws:PrincipalTag/team", "blue");
    let s = |text: &str| Template::parse(text, true).string(&ctx);
    assert_eq!(s("${aws:username}").as_deref(), Some("bob"));
    assert_eq!(s("${ AWS:UserName }").as_deref(), Some("bob"));
    assert_eq!(
        s("${aws:username}-${aws:principaltag/TEAM}").as_deref(),
        Some("bob-blue")
    );
    assert_eq!(s("${aws:missing, 'it''s'}").as_deref(), Some("it's"));
    assert_eq!(s("${aws:missing,'a}b'}").as_deref(), Some("a}b"));
    assert_eq!(s("${aws:missing, ''}").as_deref(), Some(""));
    assert_eq!(s("${aws:missing}"), None);
    // Not variables: kept as written.
    assert_eq!(s("${aws:username").as_deref(), Some("${aws:username"));
    assert_eq!(s("${}").as_deref(), Some("${}"));
    assert_eq!(
        s("${aws:missing, unquoted}").as_deref(),
        Some("${aws:missing, unquoted}")
    );
    assert_eq!(s("$aws:username").as_deref(), Some("$aws:username"));
    assert_eq!(
        s("a${$}{aws:username}").as_deref(),
        Some("a${aws:username}")
    );
    assert_eq!(
        Template::parse("${aws:username}", false)
            .string(&ctx)
            .as_deref(),
        Some("${aws:username}")
    );
}

#[test]
fn multivalued_keys_are_not_variables() {
    let ctx = Context::new().with_many("aws:TagKeys", ["a", "b"]);
    assert_eq!(Template::parse("${aws:TagKeys}", true).string(&ctx), None);
    assert_eq!(
        Template::parse("${aws:TagKeys, 'none'}", true)
            .string(&ctx)
            .as_deref(),
        Some("none")
    );
}

#[test]
fn condition_variables() {
    let c = r#"{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}"#;
    let ctx = |prefix: &str| {
        Context::new()
            .with("aws:username", "bob")
            .with("s3:prefix", prefix)
    };
    assert!(holds(c, &ctx("home/bob/photos")));
    assert!(holds(c, &ctx("home/")));
    assert!(!holds(c, &ctx("home/alice/photos")));

    let c = r#"{"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}}"#;
    let owner = |o: &str| {
        Context::new()
            .with("aws:username", "bob")
            .with("aws:ResourceTag/owner", o)
    };
    assert!(holds(c, &owner("bob")));
    assert!(!holds(c, &owner("alice")));
}

#[test]
fn conditions_with_an_unresolved_variable() {
    // "There is no equal or like value": the positive operator fails, the negated one holds.
    let ctx = Context::new().with("aws:ResourceTag/owner", "bob");
    assert!(!holds(
        r#"{"StringEquals":{"aws:ResourceTag/owner":"${aws:PrincipalTag/owner}"}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"StringNotEquals":{"aws:ResourceTag/owner":"${aws:PrincipalTag/owner}"}}"#,
        &ctx
    ));
    // Other values of the key still count.
    assert!(holds(
        r#"{"StringEquals":{"aws:ResourceTag/owner":["${aws:PrincipalTag/owner}","bob"]}}"#,
        &ctx
    ));
}

#[test]
fn arn_and_bool_conditions_take_variables() {
    let ctx = Context::new()
        .with("aws:SourceAccount", "123456789012")
        .with(
            "aws:SourceArn",
            "arn:aws:sns:eu-central-1:123456789012:topic",
        )
        .with("aws:flag", "true")
        .with("aws:expected", "TRUE");
    assert!(holds(
        r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:${aws:SourceAccount}:*"}}"#,
        &ctx
    ));
    assert!(holds(r#"{"Bool":{"aws:flag":"${aws:expected}"}}"#, &ctx));
}

#[test]
fn variables_in_string_like_keep_wildcards_of_the_text() {
    let c = r#"{"StringLike":{"aws:k":"${aws:username}-*"}}"#;
    let ctx = |v: &str| Context::new().with("aws:username", "b?b").with("aws:k", v);
    assert!(holds(c, &ctx("b?b-anything")));
    assert!(!holds(c, &ctx("bob-anything")));
}

#[test]
fn not_resource_with_a_variable() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::bucket/${aws:username}/*"}}"#,
    );
    let bob = Context::new().with("aws:username", "bob");
    let deny = |resource: &str, ctx: &Context| {
        p.evaluate_identity(&role_req("s3:GetObject", resource, ctx))
            .explicit_deny
    };
    assert!(!deny("arn:aws:s3:::bucket/bob/x", &bob));
    assert!(deny("arn:aws:s3:::bucket/alice/x", &bob));
    // Without a value the pattern excludes nothing.
    assert!(deny("arn:aws:s3:::bucket/bob/x", &Context::new()));
}
