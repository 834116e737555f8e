//! `String...` operators, and how keys, values and operators combine.

use super::holds;
use crate::Context;

fn user(name: &str) -> Context {
    Context::new().with("aws:username", name)
}

#[test]
fn string_equals_is_exact_and_case_sensitive() {
    let c = r#"{"StringEquals":{"aws:username":"johndoe"}}"#;
    assert!(holds(c, &user("johndoe")));
    assert!(!holds(c, &user("JohnDoe")));
    assert!(!holds(c, &user("johndoe2")));
    assert!(!holds(c, &Context::new()));
}

#[test]
fn string_equals_has_no_wildcards() {
    let c = r#"{"StringEquals":{"aws:username":"john*"}}"#;
    assert!(!holds(c, &user("johndoe")));
    assert!(holds(c, &user("john*")));
}

#[test]
fn several_values_are_or() {
    let c = r#"{"StringEquals":{"aws:username":["alice","bob"]}}"#;
    assert!(holds(c, &user("alice")));
    assert!(holds(c, &user("bob")));
    assert!(!holds(c, &user("carol")));
}

#[test]
fn string_not_equals() {
    let c = r#"{"StringNotEquals":{"aws:username":"johndoe"}}"#;
    assert!(holds(c, &user("alice")));
    assert!(!holds(c, &user("johndoe")));
    assert!(holds(c, &user("JohnDoe")));
    // A missing key satisfies a negated operator.
    assert!(holds(c, &Context::new()));
}

#[test]
fn negated_operators_with_several_values_are_nor() {
    // "If multiple values are listed in a policy with negated matching condition operators such
    // as StringNotEquals, the effective permissions work like a logical AND."
    let c = r#"{"StringNotEquals":{"aws:PrincipalTag/role":["audit","security"]}}"#;
    let role = |r: &str| Context::new().with("aws:PrincipalTag/role", r);
    assert!(!holds(c, &role("audit")));
    assert!(!holds(c, &role("security")));
    assert!(holds(c, &role("dev")));
}

#[test]
fn ignore_case_operators() {
    let c = r#"{"StringEqualsIgnoreCase":{"aws:username":"johndoe"}}"#;
    assert!(holds(c, &user("johndoe")));
    assert!(holds(c, &user("JohnDoe")));
    assert!(holds(c, &user("JOHNDOE")));
    assert!(!holds(c, &user("jane")));
    let c = r#"{"StringNotEqualsIgnoreCase":{"aws:username":["JohnDoe","Jane"]}}"#;
    assert!(!holds(c, &user("johndoe")));
    assert!(!holds(c, &user("JANE")));
    assert!(holds(c, &user("bob")));
    assert!(holds(c, &Context::new()));
}

#[test]
fn string_like() {
    let c = r#"{"StringLike":{"s3:prefix":["home/*","public/?.txt"]}}"#;
    let prefix = |p: &str| Context::new().with("s3:prefix", p);
    assert!(holds(c, &prefix("home/")));
    assert!(holds(c, &prefix("home/bob/photos")));
    assert!(holds(c, &prefix("public/a.txt")));
    assert!(!holds(c, &prefix("public/ab.txt")));
    assert!(!holds(c, &prefix("Home/bob")));
    assert!(!holds(c, &prefix("other")));
    let c = r#"{"StringLike":{"s3:prefix":""}}"#;
    assert!(holds(c, &prefix("")));
    assert!(!holds(c, &prefix("x")));
}

#[test]
fn string_not_like() {
    let c = r#"{"StringNotLike":{"aws:username":["admin-*","root"]}}"#;
    assert!(holds(c, &user("bob")));
    assert!(!holds(c, &user("admin-bob")));
    assert!(!holds(c, &user("root")));
    assert!(holds(c, &user("Admin-bob")));
    assert!(holds(c, &Context::new()));
}

#[test]
fn condition_keys_ignore_case() {
    let c = r#"{"StringEquals":{"AWS:UserName":"bob"}}"#;
    assert!(holds(c, &Context::new().with("aws:username", "bob")));
    assert!(holds(c, &Context::new().with("AWS:USERNAME", "bob")));
    let c = r#"{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}"#;
    assert!(holds(
        c,
        &Context::new().with("kms:encryptioncontext:department", "IT")
    ));
    assert!(!holds(
        c,
        &Context::new().with("kms:EncryptionContext:Department", "it")
    ));
}

#[test]
fn keys_of_one_operator_are_and() {
    let c = r#"{"StringEquals":{"kms:CallerAccount":"123456789012","kms:ViaService":"secretsmanager.eu-central-1.amazonaws.com"}}"#;
    let both = Context::new()
        .with("kms:CallerAccount", "123456789012")
        .with(
            "kms:ViaService",
            "secretsmanager.eu-central-1.amazonaws.com",
        );
    assert!(holds(c, &both));
    assert!(!holds(
        c,
        &Context::new().with("kms:CallerAccount", "123456789012")
    ));
    assert!(!holds(
        c,
        &both
            .clone()
            .with("kms:ViaService", "secretsmanager.eu-west-1.amazonaws.com")
    ));
}

#[test]
fn operators_of_one_block_are_and() {
    let c = r#"{"StringEquals":{"aws:username":"bob"},"StringLike":{"s3:prefix":"home/*"}}"#;
    let ctx = Context::new().with("aws:username", "bob");
    assert!(!holds(c, &ctx));
    assert!(holds(c, &ctx.clone().with("s3:prefix", "home/x")));
    assert!(!holds(
        c,
        &Context::new()
            .with("aws:username", "alice")
            .with("s3:prefix", "home/x")
    ));
}

#[test]
fn non_string_policy_values_compare_as_text() {
    assert!(holds(
        r#"{"StringEquals":{"aws:k":5}}"#,
        &Context::new().with("aws:k", "5")
    ));
    assert!(holds(
        r#"{"StringEquals":{"aws:k":[true,"x"]}}"#,
        &Context::new().with("aws:k", "true")
    ));
}

#[test]
fn multivalued_key_without_set_operator() {
    // A plain operator on a key with several request values holds when any value matches; a
    // negated one when none does.
    let ctx = Context::new().with_many("aws:TagKeys", ["a", "b"]);
    assert!(holds(r#"{"StringEquals":{"aws:TagKeys":"b"}}"#, &ctx));
    assert!(!holds(r#"{"StringEquals":{"aws:TagKeys":"c"}}"#, &ctx));
    assert!(!holds(r#"{"StringNotEquals":{"aws:TagKeys":"b"}}"#, &ctx));
    assert!(holds(r#"{"StringNotEquals":{"aws:TagKeys":"c"}}"#, &ctx));
}

#[test]
fn empty_condition_block_holds() {
    assert!(holds("{}", &Context::new()));
    assert!(holds(r#"{"StringEquals":{}}"#, &Context::new()));
}

#[test]
fn empty_value_list() {
    assert!(!holds(
        r#"{"StringEquals":{"aws:k":[]}}"#,
        &Context::new().with("aws:k", "a")
    ));
    assert!(holds(
        r#"{"StringNotEquals":{"aws:k":[]}}"#,
        &Context::new().with("aws:k", "a")
    ));
}
