//! `Arn...` operators.

use super::holds;
use crate::Context;

fn source(arn: &str) -> Context {
    Context::new().with("aws:SourceArn", arn)
}

fn check(op: &str, pattern: &str, value: &str) -> bool {
    holds(
        &format!(r#"{{"{op}":{{"aws:SourceArn":"{pattern}"}}}}"#),
        &source(value),
    )
}

#[test]
fn arn_equals_and_like_behave_identically() {
    for op in ["ArnEquals", "ArnLike"] {
        assert!(check(
            op,
            "arn:aws:sns:eu-central-1:123456789012:topic",
            "arn:aws:sns:eu-central-1:123456789012:topic"
        ));
        assert!(check(
            op,
            "arn:aws:sns:*:123456789012:top?c",
            "arn:aws:sns:eu-central-1:123456789012:topic"
        ));
        assert!(!check(
            op,
            "arn:aws:sns:*:123456789012:topic",
            "arn:aws:sns:eu-central-1:210987654321:topic"
        ));
        assert!(!check(
            op,
            "arn:aws:sns:eu-central-1:123456789012:topic",
            "arn:aws:sns:eu-central-1:123456789012:Topic"
        ));
    }
}

#[test]
fn components_are_matched_separately() {
    // The reference's example: StringLike matches, ArnLike does not.
    let pattern = "arn:aws:someservice:*:111122223333:finance/*";
    let value =
        "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt";
    assert!(!check("ArnLike", pattern, value));
    assert!(check("StringLike", pattern, value));
    assert!(check(
        "ArnLike",
        pattern,
        "arn:aws:someservice:us-east-2:111122223333:finance/document.txt"
    ));
}

#[test]
fn the_resource_part_keeps_its_colons() {
    assert!(check(
        "ArnLike",
        "arn:aws:secretsmanager:*:123456789012:secret:db-*",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"
    ));
    assert!(check(
        "ArnLike",
        "arn:aws:iam::123456789012:role/*",
        "arn:aws:iam::123456789012:role/path/app"
    ));
}

#[test]
fn short_patterns_match_the_whole_value() {
    assert!(check(
        "ArnLike",
        "*",
        "arn:aws:sns:eu-central-1:123456789012:topic"
    ));
    assert!(check(
        "ArnLike",
        "arn:aws:sns:*",
        "arn:aws:sns:eu-central-1:123456789012:topic"
    ));
    assert!(!check(
        "ArnLike",
        "arn:aws:sqs:*",
        "arn:aws:sns:eu-central-1:123456789012:topic"
    ));
}

#[test]
fn values_that_are_not_arns_never_match() {
    assert!(!check("ArnLike", "arn:aws:sns:*:*:*", "not-an-arn"));
    assert!(!check("ArnLike", "arn:aws:sns:*:*:*", "arn:aws:sns:region"));
    assert!(check("ArnNotLike", "arn:aws:sns:*:*:*", "not-an-arn"));
}

#[test]
fn negated_arn_operators() {
    for op in ["ArnNotEquals", "ArnNotLike"] {
        assert!(check(
            op,
            "arn:aws:iam::444455556666:user/bob",
            "arn:aws:iam::444455556666:user/alice"
        ));
        assert!(!check(
            op,
            "arn:aws:iam::444455556666:user/*",
            "arn:aws:iam::444455556666:user/alice"
        ));
        assert!(holds(
            &format!(r#"{{"{op}":{{"aws:SourceArn":"arn:aws:iam::444455556666:user/bob"}}}}"#),
            &Context::new()
        ));
    }
}
