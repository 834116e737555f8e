//! Grammar errors and their IAM messages; what parses.

use super::policy;
use crate::{Policy, PolicyError, PolicyKind};

fn err(json: &str) -> PolicyError {
    match Policy::parse(json) {
        Ok(_) => panic!("parsed: {json}"),
        Err(e) => e,
    }
}

fn stmt(statement: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#)
}

fn syntax(e: &PolicyError) -> bool {
    matches!(e, PolicyError::Syntax { .. }) && e.to_string() == "Syntax errors in policy."
}

#[test]
fn not_json_is_a_syntax_error() {
    assert!(syntax(&err("{")));
    assert!(syntax(&err("")));
}

#[test]
fn top_level_must_be_an_object_with_known_elements() {
    assert!(syntax(&err("[]")));
    assert!(syntax(&err(r#""policy""#)));
    assert!(syntax(&err(
        r#"{"Version":"2012-10-17","Foo":1,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#
    )));
}

#[test]
fn version_must_be_known() {
    assert!(syntax(&err(
        r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#
    )));
    assert!(syntax(&err(
        r#"{"Version":2012,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#
    )));
}

#[test]
fn statement_is_required_and_not_empty() {
    assert!(syntax(&err(r#"{"Version":"2012-10-17"}"#)));
    assert!(syntax(&err(r#"{"Version":"2012-10-17","Statement":[]}"#)));
    assert!(syntax(&err(r#"{"Version":"2012-10-17","Statement":"x"}"#)));
    assert!(syntax(&err(
        r#"{"Version":"2012-10-17","Statement":["x"]}"#
    )));
}

#[test]
fn id_must_be_a_string() {
    assert!(syntax(&err(
        r#"{"Id":5,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#
    )));
}

#[test]
fn effect_is_required_and_exact() {
    assert!(syntax(&err(&stmt(r#"{"Action":"*","Resource":"*"}"#))));
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Permit","Action":"*","Resource":"*"}"#
    ))));
    assert!(syntax(&err(&stmt(
        r#"{"Effect":true,"Action":"*","Resource":"*"}"#
    ))));
    let e = err(&stmt(r#"{"Effect":"allow","Action":"*","Resource":"*"}"#));
    assert!(matches!(e, PolicyError::LegacyParsing { .. }));
    assert_eq!(e.to_string(), "The policy failed legacy parsing");
}

#[test]
fn unknown_statement_elements_are_refused() {
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Actions":"*","Resource":"*"}"#
    ))));
}

#[test]
fn exclusive_elements() {
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Action":"*","NotAction":"s3:*","Resource":"*"}"#
    ))));
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"arn:aws:s3:::b"}"#
    ))));
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"123456789012"},"Action":"*","Resource":"*"}"#
    ))));
}

#[test]
fn actions_are_required() {
    let e = err(&stmt(r#"{"Effect":"Allow","Resource":"*"}"#));
    assert_eq!(e, PolicyError::MissingAction);
    assert_eq!(e.to_string(), "Policy statement must contain actions.");
    assert_eq!(
        err(&stmt(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#)),
        PolicyError::MissingAction
    );
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Action":[5],"Resource":"*"}"#
    ))));
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Action":{"a":"b"},"Resource":"*"}"#
    ))));
}

#[test]
fn actions_need_one_vendor() {
    let e = err(&stmt(
        r#"{"Effect":"Allow","Action":"Decrypt","Resource":"*"}"#,
    ));
    assert!(matches!(e, PolicyError::MissingVendor { .. }));
    assert_eq!(
        e.to_string(),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
    let e = err(&stmt(
        r#"{"Effect":"Allow","Action":"kms:Decrypt:x","Resource":"*"}"#,
    ));
    assert_eq!(
        e.to_string(),
        "Actions/Condition can contain only one colon."
    );
    let e = err(&stmt(
        r#"{"Effect":"Allow","Action":"km$:Decrypt","Resource":"*"}"#,
    ));
    assert_eq!(e.to_string(), "Vendor km$ is not valid");
}

#[test]
fn resources_must_be_arns_or_star() {
    let e = err(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"my-key"}"#,
    ));
    assert_eq!(
        e.to_string(),
        r#"Resource my-key must be in ARN format or "*"."#
    );
    let e = err(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":[]}"#));
    assert_eq!(e, PolicyError::MissingResource);
    assert_eq!(e.to_string(), "Policy statement must contain resources.");
}

#[test]
fn unknown_condition_operators_are_refused() {
    for op in [
        "StringEqualz",
        "NullIfExists",
        "IfExists",
        "ForSomeValues:StringEquals",
        "StringEqualsIfExistsIfExists",
        "ForAnyValue:ForAllValues:StringEquals",
    ] {
        let e = err(&stmt(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"{op}":{{"aws:username":"a"}}}}}}"#
        )));
        assert_eq!(
            e,
            PolicyError::UnknownConditionOperator {
                operator: op.to_owned()
            }
        );
        assert_eq!(e.to_string(), "Syntax errors in policy.");
    }
    // Even with nothing under it.
    assert!(matches!(
        err(&stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Foo":{}}}"#
        )),
        PolicyError::UnknownConditionOperator { .. }
    ));
}

#[test]
fn every_documented_operator_parses() {
    let bases = [
        ("StringEquals", "a"),
        ("StringNotEquals", "a"),
        ("StringEqualsIgnoreCase", "a"),
        ("StringNotEqualsIgnoreCase", "a"),
        ("StringLike", "a*"),
        ("StringNotLike", "a*"),
        ("NumericEquals", "1"),
        ("NumericNotEquals", "1"),
        ("NumericLessThan", "1"),
        ("NumericLessThanEquals", "1"),
        ("NumericGreaterThan", "1"),
        ("NumericGreaterThanEquals", "1"),
        ("DateEquals", "2024-01-01T00:00:00Z"),
        ("DateNotEquals", "2024-01-01T00:00:00Z"),
        ("DateLessThan", "2024-01-01T00:00:00Z"),
        ("DateLessThanEquals", "1704067200"),
        ("DateGreaterThan", "2024-01-01"),
        ("DateGreaterThanEquals", "2024-01-01T00:00Z"),
        ("Bool", "true"),
        ("BinaryEquals", "QmluYXJ5"),
        ("IpAddress", "203.0.113.0/24"),
        ("NotIpAddress", "2001:db8::/32"),
        ("ArnEquals", "arn:aws:iam::123456789012:role/a"),
        ("ArnLike", "arn:aws:iam::*:role/*"),
        ("ArnNotEquals", "arn:aws:iam::123456789012:role/a"),
        ("ArnNotLike", "arn:aws:iam::*:role/*"),
    ];
    for (base, value) in bases {
        for op in [
            base.to_owned(),
            format!("{base}IfExists"),
            format!("ForAnyValue:{base}"),
            format!("ForAllValues:{base}IfExists"),
        ] {
            let json = stmt(&format!(
                r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"{op}":{{"aws:k":"{value}"}}}}}}"#
            ));
            assert!(Policy::parse(&json).is_ok(), "{op}");
        }
    }
    policy(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"aws:k":"true"}}}"#,
    ));
}

#[test]
fn operator_names_ignore_case() {
    policy(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"stringequalsifexists":{"aws:k":"a"},"forallvalues:stringlike":{"aws:j":"a"}}}"#,
    ));
}

#[test]
fn condition_shape_errors() {
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":"x"}"#
    ))));
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":"x"}}"#
    ))));
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:k":{"a":1}}}}"#
    ))));
    assert!(syntax(&err(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:k":null}}}"#
    ))));
    let e = err(&stmt(
        r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"username":"a"}}}"#,
    ));
    assert!(matches!(e, PolicyError::MissingVendor { .. }));
}

#[test]
fn malformed_dates_fail_legacy_parsing() {
    for value in [
        "2024-13-01",
        "2023-02-29",
        "yesterday",
        "2024-01-01T25:00:00Z",
        "2024-01-01T10:00:00+2",
        "12abc",
    ] {
        let e = err(&stmt(&format!(
            r#"{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:CurrentTime":"{value}"}}}}}}"#
        )));
        assert!(matches!(e, PolicyError::LegacyParsing { .. }), "{value}");
        assert_eq!(e.to_string(), "The policy failed legacy parsing");
    }
}

#[test]
fn invalid_principals() {
    let e = err(&stmt(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/*"},"Action":"*","Resource":"*"}"#,
    ));
    assert_eq!(
        e.to_string(),
        r#"Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:role/*""#
    );
    for principal in [
        r#"{"AWS":"bob"}"#,
        r#"{"AWS":"12345"}"#,
        r#"{"AWS":""}"#,
        r#"{"Service":"*.amazonaws.com"}"#,
        r#"{"Foo":"x"}"#,
        r#""arn:aws:iam::123456789012:root""#,
    ] {
        let e = err(&stmt(&format!(
            r#"{{"Effect":"Allow","Principal":{principal},"Action":"*","Resource":"*"}}"#
        )));
        assert!(
            matches!(e, PolicyError::InvalidPrincipal { .. }),
            "{principal}"
        );
    }
    for principal in [r#"{"AWS":[]}"#, r#"{"AWS":5}"#, r#"{}"#, "5"] {
        let e = err(&stmt(&format!(
            r#"{{"Effect":"Allow","Principal":{principal},"Action":"*","Resource":"*"}}"#
        )));
        assert!(syntax(&e), "{principal}");
    }
}

#[test]
fn valid_principals() {
    for principal in [
        r#""*""#,
        r#"{"AWS":"*"}"#,
        r#"{"AWS":"123456789012"}"#,
        r#"{"AWS":["arn:aws:iam::123456789012:root","arn:aws:iam::123456789012:role/path/app"]}"#,
        r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/app/s1"}"#,
        r#"{"AWS":"AROAEXAMPLEID12345678"}"#,
        r#"{"Service":["kms.amazonaws.com","secretsmanager.amazonaws.com"]}"#,
        r#"{"Federated":"accounts.google.com"}"#,
        r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
    ] {
        policy(&stmt(&format!(
            r#"{{"Effect":"Allow","Principal":{principal},"Action":"*","Resource":"*"}}"#
        )));
    }
}

#[test]
fn sid_must_be_a_string() {
    assert!(syntax(&err(&stmt(
        r#"{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}"#
    ))));
}

#[test]
fn accepted_shapes() {
    // One statement object, no Version, numbers and booleans as condition values.
    let p = policy(
        r#"{"Id":"key-default-1","Statement":{"Sid":"a","Effect":"Deny","NotAction":["kms:Describe*"],"NotResource":"arn:aws:kms:*:*:alias/*","Condition":{"NumericLessThan":{"aws:k":5},"Bool":{"aws:SecureTransport":false}}}}"#,
    );
    assert_eq!(p.version(), None);
    assert_eq!(p.id(), Some("key-default-1"));
    assert_eq!(p.statement_count(), 1);
    assert_eq!(p.sids().collect::<Vec<_>>(), vec![Some("a")]);
    let p = policy(
        r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    );
    assert_eq!(p.version(), Some("2008-10-17"));
    assert_eq!(p.sids().collect::<Vec<_>>(), vec![None, None]);
    let json =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
    let p: Policy = json.parse().expect("FromStr");
    assert_eq!(p.source(), json);
    let copy = p.clone();
    assert_eq!(copy.source(), p.source());
}

#[test]
fn identity_policies_have_no_principal_and_need_resources() {
    let p = policy(&stmt(
        r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#,
    ));
    let e = p.validate(PolicyKind::Identity).unwrap_err();
    assert_eq!(e, PolicyError::PrincipalNotAllowed);
    assert_eq!(
        e.to_string(),
        "Policy document should not specify a principal."
    );
    let p = policy(&stmt(r#"{"Effect":"Allow","Action":"*"}"#));
    assert_eq!(
        p.validate(PolicyKind::Identity),
        Err(PolicyError::MissingResource)
    );
    let p = policy(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#));
    assert_eq!(p.validate(PolicyKind::Identity), Ok(()));
}

#[test]
fn sids_must_be_unique_in_iam_policies() {
    let p = policy(&stmt(
        r#"{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Deny","Action":"*","Resource":"*"}"#,
    ));
    let e = p.validate(PolicyKind::Identity).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Statement IDs (SID) in a single policy must be unique."
    );
    // Empty Sids do not count.
    let p = policy(&stmt(
        r#"{"Sid":"","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"","Effect":"Deny","Action":"*","Resource":"*"}"#,
    ));
    assert_eq!(p.validate(PolicyKind::Identity), Ok(()));
    // Key policies are not IAM's to judge.
    let p = policy(&stmt(
        r#"{"Sid":"a","Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}"#,
    ));
    assert_eq!(p.validate(PolicyKind::Resource), Ok(()));
}

#[test]
fn resource_and_trust_policies_need_principals() {
    let p = policy(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#));
    let e = p.validate(PolicyKind::Resource).unwrap_err();
    assert_eq!(e.to_string(), "Missing required field Principal");
    let p = policy(&stmt(r#"{"Effect":"Allow","Action":"sts:AssumeRole"}"#));
    assert_eq!(
        p.validate(PolicyKind::Trust),
        Err(PolicyError::MissingPrincipal)
    );
    let p = policy(&stmt(
        r#"{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole","Resource":"*"}"#,
    ));
    let e = p.validate(PolicyKind::Trust).unwrap_err();
    assert_eq!(e.to_string(), "Has prohibited field Resource");
    let p = policy(&stmt(
        r#"{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}"#,
    ));
    assert_eq!(p.validate(PolicyKind::Trust), Ok(()));
}

#[test]
fn principals_outside_the_grammar_are_syntax_errors() {
    // `<principal_block> = ("Principal" | "NotPrincipal") : ("*" | <principal_map>)`, and a
    // map's keys are AWS, Federated, Service and CanonicalUser only.
    for principal in [r#"{"Foo":"x"}"#, r#""arn:aws:iam::123456789012:root""#] {
        let e = err(&stmt(&format!(
            r#"{{"Effect":"Allow","Principal":{principal},"Action":"*","Resource":"*"}}"#
        )));
        assert_eq!(e.to_string(), "Syntax errors in policy.", "{principal}");
    }
    let e = err(&stmt(
        r#"{"Effect":"Allow","Principal":{"Foo":"x"},"Action":"*","Resource":"*"}"#,
    ));
    assert_eq!(
        e,
        PolicyError::InvalidPrincipal {
            kind: "Foo".to_owned(),
            value: "x".to_owned()
        }
    );
}

#[test]
fn actions_need_a_vendor_name() {
    let e = err(&stmt(
        r#"{"Effect":"Allow","Action":":Decrypt","Resource":"*"}"#,
    ));
    assert_eq!(e.to_string(), "Vendor  is not valid");
    let e = err(&stmt(
        r#"{"Effect":"Allow","Action":"k*s:Decrypt","Resource":"*"}"#,
    ));
    assert_eq!(e.to_string(), "Vendor k*s is not valid");
    policy(&stmt(
        r#"{"Effect":"Allow","Action":["*:Describe*","kms:*"],"Resource":"*"}"#,
    ));
}

#[test]
fn trust_policies_refuse_not_principal_and_not_resource() {
    let p = policy(&stmt(
        r#"{"Effect":"Deny","NotPrincipal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}"#,
    ));
    assert_eq!(
        p.validate(PolicyKind::Trust).unwrap_err().to_string(),
        "Has prohibited field NotPrincipal"
    );
    // NotPrincipal stays valid in a resource-based policy.
    assert_eq!(p.validate(PolicyKind::Resource), Ok(()));
    let p = policy(&stmt(
        r#"{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","NotResource":"arn:aws:iam::*:role/x"}"#,
    ));
    assert_eq!(
        p.validate(PolicyKind::Trust).unwrap_err().to_string(),
        "Has prohibited field NotResource"
    );
    // A permissions policy given as a trust policy: its Resource is reported, not the missing
    // Principal.
    let p = policy(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#));
    assert_eq!(
        p.validate(PolicyKind::Trust).unwrap_err().to_string(),
        "Has prohibited field Resource"
    );
}

/// A repeated key: `Syntax`, with the key and its position in the detail.
fn repeated(json: &str, key: &str) {
    let e = err(json);
    assert!(syntax(&e), "{e:?} for {json}");
    let PolicyError::Syntax { detail } = &e else {
        unreachable!()
    };
    assert!(
        detail.starts_with(&format!(
            "the key \"{key}\" appears twice in one object at line 1"
        )),
        "{detail}"
    );
}

#[test]
fn repeated_top_level_keys_are_refused() {
    repeated(
        r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        "Version",
    );
    // The troubleshooting guide's "more than one Statement element".
    repeated(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::my-bucket/*"}}"#,
        "Statement",
    );
}

#[test]
fn repeated_statement_keys_are_refused() {
    // Read with the last key winning, this would allow.
    repeated(
        &stmt(r#"{"Effect":"Deny","Effect":"Allow","Action":"ec2:*","Resource":"*"}"#),
        "Effect",
    );
    repeated(
        &stmt(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::my-bucket","Resource":"arn:aws:s3:::my-bucket/*"}"#,
        ),
        "Resource",
    );
    // In the second statement of a list too.
    repeated(
        &stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"a","Sid":"b","Effect":"Allow","Action":"*","Resource":"*"}"#,
        ),
        "Sid",
    );
}

#[test]
fn repeated_condition_keys_are_refused() {
    // A condition key twice under one operator: AND would become "the last value only".
    repeated(
        &stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"a","aws:username":"b"}}}"#,
        ),
        "aws:username",
    );
    // An operator twice in one Condition block.
    repeated(
        &stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"a"},"StringEquals":{"aws:userid":"b"}}}"#,
        ),
        "StringEquals",
    );
    // Condition twice in one statement.
    repeated(
        &stmt(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}},"Condition":{}}"#,
        ),
        "Condition",
    );
}

#[test]
fn repeated_principal_keys_are_refused() {
    repeated(
        &stmt(
            r#"{"Effect":"Allow","Principal":{"AWS":"123456789012","AWS":"210987654321"},"Action":"*","Resource":"*"}"#,
        ),
        "AWS",
    );
    repeated(
        &stmt(
            r#"{"Effect":"Deny","NotPrincipal":{"Service":"kms.amazonaws.com","AWS":"*","Service":"s3.amazonaws.com"},"Action":"*","Resource":"*"}"#,
        ),
        "Service",
    );
    repeated(
        &stmt(
            r#"{"Effect":"Allow","Principal":"*","Principal":{"AWS":"123456789012"},"Action":"*","Resource":"*"}"#,
        ),
        "Principal",
    );
}

#[test]
fn repeated_keys_are_refused_in_any_object() {
    // Even where the object has no meaning to the grammar (and is refused for other reasons):
    // the repetition is found first.
    repeated(
        &stmt(r#"{"Effect":"Allow","Action":{"a":{"b":1,"b":2}},"Resource":"*"}"#),
        "b",
    );
}

#[test]
fn the_same_key_in_different_objects_is_fine() {
    let p = policy(&stmt(
        r#"{"Sid":"one","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":"a"},"StringLike":{"aws:username":"a*"}}},{"Sid":"two","Effect":"Deny","Principal":{"AWS":"210987654321"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":"b"}}}"#,
    ));
    assert_eq!(p.validate(PolicyKind::Resource), Ok(()));
}

#[test]
fn documents_read_as_serde_json_reads_them() {
    for json in [
        r#"{"a":[1,-2,3.5,1.5e300,18446744073709551615,-9223372036854775808,true,false,null],"b":{"c":"\u00e9\n","d":{}},"e":[],"f":""}"#,
        r#"  [ {"x" : 0.1} , "s" ]  "#,
        "12",
        r#""text""#,
    ] {
        let strict = crate::json::parse_unique(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        let loose: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(strict, loose, "{json}");
    }
    // Malformed JSON is still "not JSON", trailing characters included.
    for json in ["{", "", r#"{"a":1}x"#, r#"{"a":1,"b""#, "1e400"] {
        let e = crate::json::parse_unique(json).unwrap_err();
        assert!(!e.is_data(), "{e}: {json}");
        let e = err(json);
        let PolicyError::Syntax { detail } = &e else {
            panic!("{e:?}")
        };
        assert!(detail.starts_with("not JSON: "), "{detail}");
    }
}
