//! `...IfExists` and `Null`.

use super::{holds, policy, role_req, KEY};
use crate::Context;

#[test]
fn if_exists_on_a_missing_key_is_true() {
    for c in [
        r#"{"StringEqualsIfExists":{"ec2:InstanceType":"t2.micro"}}"#,
        r#"{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*"]}}"#,
        r#"{"StringNotEqualsIfExists":{"ec2:InstanceType":"t2.micro"}}"#,
        r#"{"NumericLessThanIfExists":{"s3:max-keys":"10"}}"#,
        r#"{"DateGreaterThanIfExists":{"aws:TokenIssueTime":"2024-01-01"}}"#,
        r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}"#,
        r#"{"IpAddressIfExists":{"aws:SourceIp":"203.0.113.0/24"}}"#,
        r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}"#,
        r#"{"BinaryEqualsIfExists":{"aws:k":"AAEC"}}"#,
        r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}"#,
        r#"{"ForAllValues:StringEqualsIfExists":{"aws:TagKeys":"a"}}"#,
    ] {
        assert!(holds(c, &Context::new()), "{c}");
    }
}

#[test]
fn if_exists_on_a_present_key_is_the_plain_operator() {
    let c = r#"{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}"#;
    let t = |v: &str| Context::new().with("ec2:InstanceType", v);
    assert!(holds(c, &t("t2.micro")));
    assert!(!holds(c, &t("c5.large")));
    let c = r#"{"StringNotEqualsIfExists":{"aws:RequestTag/DataClass":["public","internal"]}}"#;
    let d = |v: &str| Context::new().with("aws:RequestTag/DataClass", v);
    assert!(holds(c, &d("private")));
    assert!(!holds(c, &d("public")));
    let c = r#"{"NumericLessThanIfExists":{"s3:max-keys":"10"}}"#;
    assert!(holds(c, &Context::new().with("s3:max-keys", "5")));
    assert!(!holds(c, &Context::new().with("s3:max-keys", "50")));
}

#[test]
fn negated_if_exists_in_a_deny_still_denies_a_missing_key() {
    // "If you are using an "Effect": "Deny" element with a negated condition operator like
    // StringNotEqualsIfExists, the request is still denied even if the tag is missing."
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEqualsIfExists":{"aws:RequestTag/DataClass":"public"}}}}"#,
    );
    let ctx = Context::new();
    assert!(
        p.evaluate_identity(&role_req("kms:TagResource", KEY, &ctx))
            .explicit_deny
    );
}

#[test]
fn null_true_means_absent() {
    let c = r#"{"Null":{"aws:TokenIssueTime":"true"}}"#;
    assert!(holds(c, &Context::new()));
    assert!(!holds(
        c,
        &Context::new().with("aws:TokenIssueTime", "2024-01-01T00:00:00Z")
    ));
    // An empty multivalued key is absent.
    assert!(holds(
        r#"{"Null":{"aws:TagKeys":"true"}}"#,
        &Context::new().with_many("aws:TagKeys", Vec::<String>::new())
    ));
}

#[test]
fn null_false_means_present() {
    let c = r#"{"Null":{"aws:TokenIssueTime":false}}"#;
    assert!(!holds(c, &Context::new()));
    assert!(holds(c, &Context::new().with("aws:TokenIssueTime", "x")));
    // Present even when empty-string valued.
    assert!(holds(c, &Context::new().with("aws:TokenIssueTime", "")));
}

#[test]
fn null_values() {
    assert!(holds(r#"{"Null":{"aws:k":"TRUE"}}"#, &Context::new()));
    assert!(!holds(r#"{"Null":{"aws:k":"yes"}}"#, &Context::new()));
    assert!(holds(
        r#"{"Null":{"aws:k":["true","false"]}}"#,
        &Context::new()
    ));
    assert!(holds(
        r#"{"Null":{"aws:k":["true","false"]}}"#,
        &Context::new().with("aws:k", "v")
    ));
    // Several keys must all pass.
    let c = r#"{"Null":{"aws:a":"false","aws:b":"true"}}"#;
    assert!(holds(c, &Context::new().with("aws:a", "1")));
    assert!(!holds(
        c,
        &Context::new().with("aws:a", "1").with("aws:b", "1")
    ));
}

#[test]
fn null_with_ec2_example() {
    // The reference's example: EC2 only with long-term credentials.
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Action":"ec2:*","Effect":"Allow","Resource":"*","Condition":{"Null":{"aws:TokenIssueTime":"true"}}}}"#,
    );
    let temporary = Context::new().with("aws:TokenIssueTime", "2024-01-01T00:00:00Z");
    let long_term = Context::new();
    assert!(
        !p.evaluate_identity(&role_req("ec2:RunInstances", "*", &temporary))
            .allow
    );
    assert!(
        p.evaluate_identity(&role_req("ec2:RunInstances", "*", &long_term))
            .allow
    );
}
