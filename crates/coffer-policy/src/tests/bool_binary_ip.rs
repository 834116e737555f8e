//! `Bool`, `BinaryEquals`, `IpAddress` and `NotIpAddress`.

use super::{holds, policy, role_req, KEY};
use crate::Context;

fn secure(value: &str) -> Context {
    Context::new().with("aws:SecureTransport", value)
}

#[test]
fn bool_matching() {
    let t = r#"{"Bool":{"aws:SecureTransport":"true"}}"#;
    assert!(holds(t, &secure("true")));
    assert!(holds(t, &secure("TRUE")));
    assert!(!holds(t, &secure("false")));
    assert!(!holds(t, &secure("yes")));
    assert!(!holds(t, &Context::new()));
    let f = r#"{"Bool":{"aws:SecureTransport":false}}"#;
    assert!(holds(f, &secure("false")));
    assert!(!holds(f, &secure("true")));
    assert!(!holds(
        r#"{"Bool":{"aws:SecureTransport":"maybe"}}"#,
        &secure("true")
    ));
}

#[test]
fn deny_without_tls() {
    // The reference's BooleanExample.
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"BooleanExample","Action":"kms:*","Effect":"Deny","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    );
    let plain = secure("false");
    let tls = secure("true");
    assert!(
        p.evaluate_identity(&role_req("kms:Decrypt", KEY, &plain))
            .explicit_deny
    );
    assert!(
        !p.evaluate_identity(&role_req("kms:Decrypt", KEY, &tls))
            .explicit_deny
    );
}

#[test]
fn binary_equals_compares_bytes() {
    let c = r#"{"BinaryEquals":{"aws:k":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#;
    let k = |v: &str| Context::new().with("aws:k", v);
    assert!(holds(c, &k("QmluYXJ5VmFsdWVJbkJhc2U2NA==")));
    // Padding is not part of the bytes.
    assert!(holds(c, &k("QmluYXJ5VmFsdWVJbkJhc2U2NA")));
    assert!(!holds(c, &k("QmluYXJ5VmFsdWVJbkJhc2U2NQ==")));
    assert!(!holds(c, &k("not base64!")));
    assert!(!holds(c, &Context::new()));
    assert!(holds(
        r#"{"BinaryEquals":{"aws:k":["AAEC","/w=="]}}"#,
        &k("/w==")
    ));
}

fn ip(value: &str) -> Context {
    Context::new().with("aws:SourceIp", value)
}

#[test]
fn ipv4_ranges() {
    let c = r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#;
    assert!(holds(c, &ip("203.0.113.0")));
    assert!(holds(c, &ip("203.0.113.255")));
    assert!(!holds(c, &ip("203.0.114.1")));
    assert!(!holds(c, &ip("2001:db8::1")));
    assert!(!holds(c, &ip("not an ip")));
    assert!(!holds(c, &Context::new()));
    // Host bits in the policy's address do not matter.
    assert!(holds(
        r#"{"IpAddress":{"aws:SourceIp":"203.0.113.77/24"}}"#,
        &ip("203.0.113.1")
    ));
    assert!(holds(
        r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
        &ip("8.8.8.8")
    ));
    assert!(holds(
        r#"{"IpAddress":{"aws:SourceIp":"10.1.2.3/31"}}"#,
        &ip("10.1.2.2")
    ));
    assert!(!holds(
        r#"{"IpAddress":{"aws:SourceIp":"10.1.2.3/31"}}"#,
        &ip("10.1.2.4")
    ));
}

#[test]
fn single_address_is_a_host_route() {
    let c = r#"{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}"#;
    assert!(holds(c, &ip("203.0.113.7")));
    assert!(!holds(c, &ip("203.0.113.8")));
    let c = r#"{"IpAddress":{"aws:SourceIp":"2001:db8::7"}}"#;
    assert!(holds(c, &ip("2001:DB8::7")));
    assert!(!holds(c, &ip("2001:db8::8")));
}

#[test]
fn ipv6_ranges_and_mixed_lists() {
    let c = r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}"#;
    assert!(holds(c, &ip("2001:db8:1234:5678:abcd::1")));
    assert!(!holds(c, &ip("2001:db8:1234:5679::1")));
    assert!(holds(c, &ip("203.0.113.9")));
    // An IPv4-mapped IPv6 address is its IPv4 address.
    assert!(holds(c, &ip("::ffff:203.0.113.9")));
}

#[test]
fn not_ip_address() {
    let c = r#"{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24","198.51.100.0/24"]}}"#;
    assert!(holds(c, &ip("192.0.2.1")));
    assert!(!holds(c, &ip("203.0.113.1")));
    assert!(!holds(c, &ip("198.51.100.1")));
    assert!(holds(c, &Context::new()));
}

#[test]
fn malformed_ranges_match_nothing() {
    for range in [
        "203.0.113.0/33",
        "203.0.113.0/",
        "203.0.113.0/x",
        "bogus",
        "::/129",
    ] {
        let c = format!(r#"{{"IpAddress":{{"aws:SourceIp":"{range}"}}}}"#);
        assert!(!holds(&c, &ip("203.0.113.1")), "{range}");
    }
}
