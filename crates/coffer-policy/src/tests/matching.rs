//! `Action`/`NotAction` and `Resource`/`NotResource` matching, and the wildcard matcher.

use super::{allows, policy, role_req, KEY, SECRET};
use crate::pattern::{glob_str, wildcard_tokens};
use crate::Context;

fn g(pattern: &str, text: &str) -> bool {
    glob_str(&wildcard_tokens(pattern), text)
}

#[test]
fn wildcards() {
    assert!(g("*", ""));
    assert!(g("*", "anything at all"));
    assert!(g("", ""));
    assert!(!g("", "a"));
    assert!(g("abc", "abc"));
    assert!(!g("abc", "abcd"));
    assert!(!g("abcd", "abc"));
    assert!(g("a*c", "ac"));
    assert!(g("a*c", "abbbc"));
    assert!(!g("a*c", "abbb"));
    assert!(g("a?c", "abc"));
    assert!(!g("a?c", "ac"));
    assert!(!g("a?c", "abbc"));
    assert!(g("*a*b*", "xxaxxbxx"));
    assert!(g("a*b*c", "axbxbxc"));
    assert!(g("a*b*c", "abc"));
    assert!(!g("a*b*c", "axbxbx"));
    assert!(g("**", "x"));
    assert!(g("?*", "x"));
    assert!(!g("?*", ""));
    assert!(g("ü?", "üß"));
}

#[test]
fn actions_match_exactly_and_ignore_case() {
    assert!(allows(r#""kms:Decrypt""#, r#""*""#, "kms:Decrypt", KEY));
    assert!(allows(r#""KMS:decrypt""#, r#""*""#, "kms:Decrypt", KEY));
    assert!(allows(r#""kms:Decrypt""#, r#""*""#, "KMS:DECRYPT", KEY));
    assert!(!allows(r#""kms:Decrypt""#, r#""*""#, "kms:Encrypt", KEY));
    assert!(!allows(r#""kms:Decrypt""#, r#""*""#, "kms:DecryptX", KEY));
}

#[test]
fn action_wildcards() {
    assert!(allows(r#""*""#, r#""*""#, "kms:Decrypt", KEY));
    assert!(allows(r#""kms:*""#, r#""*""#, "kms:Decrypt", KEY));
    assert!(!allows(
        r#""kms:*""#,
        r#""*""#,
        "secretsmanager:GetSecretValue",
        SECRET
    ));
    assert!(allows(
        r#""kms:Describe*""#,
        r#""*""#,
        "kms:DescribeKey",
        KEY
    ));
    assert!(!allows(r#""kms:Describe*""#, r#""*""#, "kms:Decrypt", KEY));
    assert!(allows(r#""kms:?ecrypt""#, r#""*""#, "kms:Decrypt", KEY));
    assert!(!allows(r#""kms:?ecrypt""#, r#""*""#, "kms:Encrypt", KEY));
    assert!(allows(r#""kms:?ncrypt""#, r#""*""#, "kms:Encrypt", KEY));
    assert!(allows(
        r#""kms:ReEncrypt*""#,
        r#""*""#,
        "kms:ReEncryptFrom",
        KEY
    ));
    assert!(allows(
        r#""*:Get*""#,
        r#""*""#,
        "secretsmanager:GetSecretValue",
        SECRET
    ));
}

#[test]
fn action_lists_are_or() {
    let list = r#"["kms:Encrypt","kms:Decrypt"]"#;
    assert!(allows(list, r#""*""#, "kms:Decrypt", KEY));
    assert!(allows(list, r#""*""#, "kms:Encrypt", KEY));
    assert!(!allows(list, r#""*""#, "kms:Sign", KEY));
}

#[test]
fn not_action_matches_everything_else() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":["kms:ScheduleKeyDeletion","iam:*"],"Resource":"*"}}"#,
    );
    let ctx = Context::new();
    let out = |action| p.evaluate_identity(&role_req(action, KEY, &ctx)).allow;
    assert!(out("kms:Decrypt"));
    assert!(out("secretsmanager:GetSecretValue"));
    assert!(!out("kms:ScheduleKeyDeletion"));
    assert!(!out("KMS:schedulekeydeletion"));
    assert!(!out("iam:CreateRole"));
}

#[test]
fn not_action_with_deny() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"kms:Describe*","Resource":"*"}}"#,
    );
    let ctx = Context::new();
    assert!(
        p.evaluate_identity(&role_req("kms:Decrypt", KEY, &ctx))
            .explicit_deny
    );
    assert!(
        !p.evaluate_identity(&role_req("kms:DescribeKey", KEY, &ctx))
            .explicit_deny
    );
}

#[test]
fn resources_match_exactly_and_respect_case() {
    let key = format!(r#""{KEY}""#);
    assert!(allows(r#""kms:*""#, &key, "kms:Decrypt", KEY));
    assert!(!allows(
        r#""kms:*""#,
        &key,
        "kms:Decrypt",
        &KEY.to_uppercase()
    ));
    assert!(!allows(
        r#""kms:*""#,
        r#""arn:aws:kms:eu-central-1:123456789012:key/ABCD""#,
        "kms:Decrypt",
        "arn:aws:kms:eu-central-1:123456789012:key/abcd"
    ));
}

#[test]
fn resource_wildcards() {
    assert!(allows(r#""kms:*""#, r#""*""#, "kms:Decrypt", KEY));
    assert!(allows(
        r#""kms:*""#,
        r#""arn:aws:kms:*:123456789012:key/*""#,
        "kms:Decrypt",
        KEY
    ));
    assert!(!allows(
        r#""kms:*""#,
        r#""arn:aws:kms:*:210987654321:key/*""#,
        "kms:Decrypt",
        KEY
    ));
    assert!(allows(
        r#""kms:*""#,
        r#""arn:aws:kms:eu-*-1:123456789012:key/*""#,
        "kms:Decrypt",
        KEY
    ));
    assert!(allows(
        r#""secretsmanager:*""#,
        r#""arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-??????""#,
        "secretsmanager:GetSecretValue",
        SECRET
    ));
    assert!(!allows(
        r#""secretsmanager:*""#,
        r#""arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-?????""#,
        "secretsmanager:GetSecretValue",
        SECRET
    ));
}

#[test]
fn resource_star_crosses_colons_and_slashes() {
    // "If the * wildcard is the last character of a resource ARN segment, it can expand to
    // match beyond the colon boundaries."
    assert!(allows(
        r#""kms:*""#,
        r#""arn:aws:kms:*""#,
        "kms:Decrypt",
        KEY
    ));
    assert!(allows(
        r#""s3:*""#,
        r#""arn:aws:s3:::bucket/*""#,
        "s3:GetObject",
        "arn:aws:s3:::bucket/a/b/c.txt"
    ));
    assert!(allows(
        r#""secretsmanager:*""#,
        r#""arn:aws:secretsmanager:*:123456789012:secret:*""#,
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:path/with:colon-AbCdEf"
    ));
    assert!(!allows(
        r#""kms:*""#,
        r#""arn:aws:secretsmanager:*""#,
        "kms:Decrypt",
        KEY
    ));
}

#[test]
fn resource_lists_and_not_resource() {
    let list = format!(r#"["arn:aws:kms:*:*:alias/*","{KEY}"]"#);
    assert!(allows(r#""kms:*""#, &list, "kms:Decrypt", KEY));
    assert!(allows(
        r#""kms:*""#,
        &list,
        "kms:Decrypt",
        "arn:aws:kms:eu-central-1:123456789012:alias/app"
    ));
    assert!(!allows(
        r#""kms:*""#,
        &list,
        "kms:Decrypt",
        "arn:aws:kms:eu-central-1:123456789012:key/other"
    ));

    let p = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"kms:*","NotResource":"{KEY}"}}}}"#
    ));
    let ctx = Context::new();
    assert!(
        !p.evaluate_identity(&role_req("kms:Decrypt", KEY, &ctx))
            .allow
    );
    assert!(
        p.evaluate_identity(&role_req(
            "kms:Decrypt",
            "arn:aws:kms:eu-central-1:123456789012:key/other",
            &ctx
        ))
        .allow
    );
}

#[test]
fn statements_are_independent() {
    let p = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":"kms:Encrypt","Resource":"{KEY}"}},
            {{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/other"}}]}}"#
    ));
    let ctx = Context::new();
    // Action from one statement and resource from the other do not combine.
    assert!(
        !p.evaluate_identity(&role_req("kms:Decrypt", KEY, &ctx))
            .allow
    );
    assert!(
        p.evaluate_identity(&role_req("kms:Encrypt", KEY, &ctx))
            .allow
    );
}
