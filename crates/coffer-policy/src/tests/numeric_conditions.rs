//! `Numeric...` operators.

use super::holds;
use crate::Context;

fn n(value: &str) -> Context {
    Context::new().with("s3:max-keys", value)
}

fn check(op: &str, policy_value: &str, request: &str) -> bool {
    holds(
        &format!(r#"{{"{op}":{{"s3:max-keys":"{policy_value}"}}}}"#),
        &n(request),
    )
}

#[test]
fn equals_compares_numbers_not_text() {
    assert!(check("NumericEquals", "10", "10"));
    assert!(check("NumericEquals", "10", "10.0"));
    assert!(check("NumericEquals", "10.50", "10.5"));
    assert!(check("NumericEquals", "-3", "-3"));
    assert!(!check("NumericEquals", "10", "11"));
    assert!(!check("NumericNotEquals", "10", "10.0"));
    assert!(check("NumericNotEquals", "10", "11"));
}

#[test]
fn orderings() {
    assert!(check("NumericLessThan", "10", "9"));
    assert!(!check("NumericLessThan", "10", "10"));
    assert!(check("NumericLessThanEquals", "10", "10"));
    assert!(!check("NumericLessThanEquals", "10", "10.01"));
    assert!(check("NumericGreaterThan", "10", "10.01"));
    assert!(!check("NumericGreaterThan", "10", "10"));
    assert!(check("NumericGreaterThanEquals", "10", "10"));
    assert!(!check("NumericGreaterThanEquals", "10", "9.99"));
    assert!(check("NumericLessThan", "0", "-1"));
    assert!(check("NumericGreaterThan", "1.5", "2"));
}

#[test]
fn json_numbers_in_the_policy() {
    assert!(holds(
        r#"{"NumericLessThanEquals":{"s3:max-keys":10}}"#,
        &n("10")
    ));
    assert!(holds(
        r#"{"NumericLessThanEquals":{"s3:max-keys":[1,10]}}"#,
        &n("5")
    ));
    assert!(!holds(
        r#"{"NumericLessThanEquals":{"s3:max-keys":[1,2]}}"#,
        &n("5")
    ));
}

#[test]
fn non_numbers_never_match() {
    assert!(!check("NumericEquals", "10", "ten"));
    assert!(!check("NumericLessThan", "10", ""));
    assert!(!check("NumericLessThan", "10", "1e0"));
    assert!(!check("NumericLessThan", "10", "inf"));
    assert!(!check("NumericLessThan", "10", "NaN"));
    assert!(!check("NumericEquals", "ten", "10"));
    // ...so the negated operator holds.
    assert!(check("NumericNotEquals", "10", "ten"));
}

#[test]
fn missing_key() {
    assert!(!holds(
        r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#,
        &Context::new()
    ));
    assert!(holds(
        r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#,
        &Context::new()
    ));
}

#[test]
fn variables_are_not_numbers() {
    // "You can not use a policy variable with the Numeric condition operator."
    let ctx = n("10").with("aws:k", "10");
    assert!(!holds(
        r#"{"NumericEquals":{"s3:max-keys":"${aws:k}"}}"#,
        &ctx
    ));
}
