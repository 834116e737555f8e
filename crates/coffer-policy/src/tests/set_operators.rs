//! `ForAnyValue:` and `ForAllValues:`.

use super::{holds, policy, role_req};
use crate::Context;

fn attrs(values: &[&str]) -> Context {
    Context::new().with_many("dynamodb:Attributes", values.iter().copied())
}

const ALLOWED: &str = r#"["PostDateTime","Message","Tags"]"#;

fn all(op: &str, values: &[&str]) -> bool {
    holds(
        &format!(r#"{{"ForAllValues:{op}":{{"dynamodb:Attributes":{ALLOWED}}}}}"#),
        &attrs(values),
    )
}

fn any(op: &str, values: &[&str]) -> bool {
    holds(
        &format!(r#"{{"ForAnyValue:{op}":{{"dynamodb:Attributes":{ALLOWED}}}}}"#),
        &attrs(values),
    )
}

#[test]
fn for_all_values() {
    assert!(all("StringEquals", &["PostDateTime"]));
    assert!(all("StringEquals", &["PostDateTime", "Message", "Tags"]));
    // The reference's example: UserName matches no policy value.
    assert!(!all("StringEquals", &["PostDateTime", "UserName"]));
    assert!(!all("StringEquals", &["postdatetime"]));
    assert!(all("StringEqualsIgnoreCase", &["postdatetime", "TAGS"]));
}

#[test]
fn for_all_values_on_a_missing_or_empty_key_is_true() {
    // "It also returns true if there are no context keys in the request."
    assert!(all("StringEquals", &[]));
    assert!(holds(
        r#"{"ForAllValues:StringEquals":{"dynamodb:Attributes":"x"}}"#,
        &Context::new()
    ));
}

#[test]
fn for_any_value() {
    assert!(any("StringEquals", &["UserName", "PostDateTime"]));
    assert!(!any("StringEquals", &["UserName", "ID"]));
    assert!(any("StringEquals", &["Tags"]));
}

#[test]
fn for_any_value_on_a_missing_or_empty_key_is_false() {
    assert!(!any("StringEquals", &[]));
    assert!(!any("StringNotEquals", &[]));
}

#[test]
fn with_wildcards() {
    let c = r#"{"ForAllValues:StringLike":{"aws:TagKeys":["Created*","Owner"]}}"#;
    let keys = |k: &[&str]| Context::new().with_many("aws:TagKeys", k.iter().copied());
    assert!(holds(c, &keys(&["CreatedBy", "CreatedAt", "Owner"])));
    assert!(!holds(c, &keys(&["CreatedBy", "Team"])));
    let c = r#"{"ForAnyValue:StringLike":{"aws:TagKeys":"Created*"}}"#;
    assert!(holds(c, &keys(&["Team", "CreatedBy"])));
    assert!(!holds(c, &keys(&["Team"])));
}

#[test]
fn negated_operators_apply_to_each_request_value() {
    // ForAnyValue:StringNotEquals: some request value matches none of the policy values.
    assert!(any("StringNotEquals", &["PostDateTime", "UserName"]));
    assert!(!any("StringNotEquals", &["PostDateTime", "Tags"]));
    // ForAllValues:StringNotEquals: no request value matches any policy value.
    assert!(all("StringNotEquals", &["UserName", "ID"]));
    assert!(!all("StringNotEquals", &["UserName", "Tags"]));
    assert!(all("StringNotEquals", &[]));
}

#[test]
fn single_request_value() {
    assert!(any("StringEquals", &["Message"]));
    assert!(all("StringEquals", &["Message"]));
    let ctx = Context::new().with("dynamodb:Attributes", "ID");
    assert!(!holds(
        &format!(r#"{{"ForAllValues:StringEquals":{{"dynamodb:Attributes":{ALLOWED}}}}}"#),
        &ctx
    ));
}

#[test]
fn other_families() {
    let ctx = Context::new().with_many("aws:k", ["1", "5"]);
    assert!(holds(
        r#"{"ForAllValues:NumericLessThan":{"aws:k":"10"}}"#,
        &ctx
    ));
    assert!(!holds(
        r#"{"ForAllValues:NumericLessThan":{"aws:k":"3"}}"#,
        &ctx
    ));
    assert!(holds(
        r#"{"ForAnyValue:NumericLessThan":{"aws:k":"3"}}"#,
        &ctx
    ));
    let arns = Context::new().with_many(
        "aws:PrincipalServiceNamesList",
        [
            "arn:aws:iam::123456789012:role/a",
            "arn:aws:iam::123456789012:role/b",
        ],
    );
    assert!(holds(
        r#"{"ForAllValues:ArnLike":{"aws:PrincipalServiceNamesList":"arn:aws:iam::*:role/*"}}"#,
        &arns
    ));
}

#[test]
fn deny_with_for_any_value() {
    // The reference's example: deny PutItem when any requested attribute is forbidden.
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"dynamodb:PutItem","Resource":"*","Condition":{"ForAnyValue:StringLike":{"dynamodb:requestedAttributes":["ID","PostDateTime"]}}}]}"#,
    );
    let deny = |v: &[&str]| {
        let ctx = Context::new().with_many("dynamodb:requestedAttributes", v.iter().copied());
        p.evaluate_identity(&role_req(
            "dynamodb:PutItem",
            "arn:aws:dynamodb:::table/T",
            &ctx,
        ))
        .explicit_deny
    };
    assert!(deny(&["UserName", "Message", "PostDateTime"]));
    assert!(!deny(&["UserName"]));
    assert!(!deny(&[]));
}
