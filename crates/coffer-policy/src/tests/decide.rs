//! `decide`: identity, resource and session policies combined (Secrets Manager).

use super::{policy, role_req, root_req, ACCOUNT, ROLE, SECRET, SESSION};
use crate::{decide, Context, Decision, Policy};

const GET: &str = "secretsmanager:GetSecretValue";

fn identity(effect: &str, action: &str) -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Action":"{action}","Resource":"*"}}}}"#
    ))
}

fn resource(effect: &str, principal: &str) -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Principal":{{"AWS":"{principal}"}},"Action":"secretsmanager:*","Resource":"*"}}}}"#
    ))
}

fn run(identity: &[Policy], resource: Option<&Policy>, session: Option<&Policy>) -> Decision {
    let ctx = Context::new();
    decide(identity, resource, session, &role_req(GET, SECRET, &ctx))
}

#[test]
fn nothing_allows() {
    assert_eq!(run(&[], None, None), Decision::ImplicitDeny);
    assert_eq!(
        run(&[identity("Allow", "kms:Decrypt")], None, None),
        Decision::ImplicitDeny
    );
}

#[test]
fn an_identity_policy_allows() {
    assert_eq!(run(&[identity("Allow", GET)], None, None), Decision::Allow);
    assert_eq!(
        run(
            &[
                identity("Allow", "kms:Decrypt"),
                identity("Allow", "secretsmanager:Get*")
            ],
            None,
            None
        ),
        Decision::Allow
    );
}

#[test]
fn explicit_deny_anywhere_wins() {
    let allow = identity("Allow", GET);
    let deny = identity("Deny", GET);
    assert_eq!(
        run(&[allow.clone(), deny.clone()], None, None),
        Decision::ExplicitDeny
    );
    assert_eq!(
        run(
            std::slice::from_ref(&allow),
            Some(&resource("Deny", ROLE)),
            None
        ),
        Decision::ExplicitDeny
    );
    assert_eq!(
        run(
            std::slice::from_ref(&allow),
            Some(&resource("Deny", ACCOUNT)),
            None
        ),
        Decision::ExplicitDeny
    );
    assert_eq!(
        run(&[], Some(&resource("Allow", ROLE)), Some(&deny)),
        Decision::ExplicitDeny
    );
    // A deny wins even when nothing would allow.
    assert_eq!(run(&[deny], None, None), Decision::ExplicitDeny);
}

#[test]
fn a_resource_policy_naming_the_role_or_session_allows() {
    assert_eq!(
        run(&[], Some(&resource("Allow", ROLE)), None),
        Decision::Allow
    );
    assert_eq!(
        run(&[], Some(&resource("Allow", SESSION)), None),
        Decision::Allow
    );
    assert_eq!(
        run(&[], Some(&resource("Allow", "*")), None),
        Decision::Allow
    );
}

#[test]
fn a_resource_policy_naming_the_account_adds_nothing() {
    let account = resource("Allow", ACCOUNT);
    assert_eq!(run(&[], Some(&account), None), Decision::ImplicitDeny);
    assert_eq!(
        run(&[identity("Allow", GET)], Some(&account), None),
        Decision::Allow
    );
}

#[test]
fn a_session_policy_intersects() {
    let allow = identity("Allow", GET);
    let session_allows = identity("Allow", "secretsmanager:*");
    let session_silent = identity("Allow", "kms:*");
    assert_eq!(
        run(std::slice::from_ref(&allow), None, Some(&session_allows)),
        Decision::Allow
    );
    assert_eq!(
        run(std::slice::from_ref(&allow), None, Some(&session_silent)),
        Decision::ImplicitDeny
    );
    // The session policy grants nothing by itself.
    assert_eq!(
        run(&[], None, Some(&session_allows)),
        Decision::ImplicitDeny
    );
    // It limits what the resource policy grants too.
    let direct = resource("Allow", ROLE);
    assert_eq!(
        run(&[], Some(&direct), Some(&session_allows)),
        Decision::Allow
    );
    assert_eq!(
        run(&[], Some(&direct), Some(&session_silent)),
        Decision::ImplicitDeny
    );
}

#[test]
fn conditions_decide_whether_a_deny_applies() {
    let deny_plain_http = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}"#,
    );
    let ids = [identity("Allow", GET), deny_plain_http];
    let tls = Context::new().with("aws:SecureTransport", "true");
    let plain = Context::new().with("aws:SecureTransport", "false");
    assert_eq!(
        decide(&ids, None, None, &role_req(GET, SECRET, &tls)),
        Decision::Allow
    );
    assert_eq!(
        decide(&ids, None, None, &role_req(GET, SECRET, &plain)),
        Decision::ExplicitDeny
    );
}

#[test]
fn the_resource_must_match() {
    let scoped = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"{GET}","Resource":"arn:aws:secretsmanager:*:{ACCOUNT}:secret:other-*"}}}}"#
    ));
    assert_eq!(run(&[scoped], None, None), Decision::ImplicitDeny);
}

#[test]
fn root_callers() {
    let ctx = Context::new();
    let req = root_req(GET, SECRET, &ctx);
    assert_eq!(
        decide(&[], Some(&resource("Allow", ACCOUNT)), None, &req),
        Decision::Allow
    );
    assert_eq!(decide(&[], None, None, &req), Decision::ImplicitDeny);
}

#[test]
fn decision_is_allowed() {
    assert!(Decision::Allow.is_allowed());
    assert!(!Decision::ExplicitDeny.is_allowed());
    assert!(!Decision::ImplicitDeny.is_allowed());
}

#[test]
fn a_permissions_boundary_limits_what_the_other_policies_allow() {
    use crate::{apply_boundary, Bounded};
    let ctx = Context::new();
    let req = role_req(GET, SECRET, &ctx);
    let allowed = |b: Option<&Policy>, unbounded: bool| {
        apply_boundary(Decision::Allow, b, || unbounded, &req)
    };
    // No boundary: the decision stands.
    assert_eq!(
        allowed(None, false),
        Bounded {
            decision: Decision::Allow,
            by_boundary: false
        }
    );
    // Both allow.
    let b = identity("Allow", "secretsmanager:*");
    assert_eq!(allowed(Some(&b), false).decision, Decision::Allow);
    // The boundary does not allow: refused, by the boundary.
    let b = identity("Allow", "kms:Decrypt");
    assert_eq!(
        allowed(Some(&b), false),
        Bounded {
            decision: Decision::ImplicitDeny,
            by_boundary: true
        }
    );
    // ... unless a resource policy allowed by itself where no boundary limits it.
    assert_eq!(allowed(Some(&b), true).decision, Decision::Allow);
    // An explicit deny in the boundary denies, even what a resource policy allowed.
    let b = identity("Deny", GET);
    assert_eq!(
        allowed(Some(&b), true),
        Bounded {
            decision: Decision::ExplicitDeny,
            by_boundary: true
        }
    );
    // A boundary grants nothing by itself, and leaves other refusals as they were.
    let b = identity("Allow", GET);
    for d in [Decision::ImplicitDeny, Decision::ExplicitDeny] {
        assert_eq!(
            apply_boundary(d, Some(&b), || true, &req),
            Bounded {
                decision: d,
                by_boundary: false
            }
        );
    }
}
