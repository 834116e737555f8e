//! The policy-document parser, its validation for each kind, and evaluation against a fixed
//! request with condition keys.
#![no_main]

use coffer_policy::{Context, Policy, PolicyKind, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(p) = Policy::parse(text) else { return };
    for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust] {
        let _ = p.validate(kind);
    }
    let ctx = Context::new()
        .with("aws:SourceIp", "10.1.2.3")
        .with("aws:CurrentTime", "2026-12-07T00:00:00Z")
        .with("aws:MultiFactorAuthPresent", "true")
        .with("kms:EncryptionContext:purpose", "fuzz")
        .with_many("kms:EncryptionContextKeys", ["purpose", "app"])
        .with("aws:PrincipalTag/team", "blue");
    let req = Request {
        principal_arn: "arn:aws:sts::123456789012:assumed-role/app/s1",
        principal_account: "123456789012",
        role_arn: Some("arn:aws:iam::123456789012:role/app"),
        action: "kms:Decrypt",
        resource: "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        context: &ctx,
    };
    let _ = p.evaluate_identity(&req);
    let _ = p.evaluate_resource(&req);
    let _ = coffer_policy::decide_kms(&p, std::slice::from_ref(&p), Some(&p), false, &req);
});
