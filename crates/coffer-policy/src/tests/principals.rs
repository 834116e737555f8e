//! `Principal` and `NotPrincipal` in resource-based policies.

use super::{policy, role_req, root_req, ACCOUNT, KEY, OTHER_ACCOUNT, ROLE, ROOT, SESSION};
use crate::{Context, Outcome, Policy, Request};

fn resource_policy(effect: &str, principal: &str) -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Principal":{principal},"Action":"kms:*","Resource":"*"}}}}"#
    ))
}

fn for_role(principal: &str) -> Outcome {
    let ctx = Context::new();
    resource_policy("Allow", principal).evaluate_resource(&role_req("kms:Decrypt", KEY, &ctx))
}

fn for_root(principal: &str) -> Outcome {
    let ctx = Context::new();
    resource_policy("Allow", principal).evaluate_resource(&root_req("kms:Decrypt", KEY, &ctx))
}

const DIRECT: Outcome = Outcome {
    explicit_deny: false,
    allow: true,
    allow_via_account: false,
};
const VIA_ACCOUNT: Outcome = Outcome {
    explicit_deny: false,
    allow: false,
    allow_via_account: true,
};
const NOTHING: Outcome = Outcome {
    explicit_deny: false,
    allow: false,
    allow_via_account: false,
};

#[test]
fn everyone() {
    assert_eq!(for_role(r#""*""#), DIRECT);
    assert_eq!(for_role(r#"{"AWS":"*"}"#), DIRECT);
    assert_eq!(for_root(r#""*""#), DIRECT);
    assert_eq!(
        for_role(r#"{"AWS":["arn:aws:iam::210987654321:root","*"]}"#),
        DIRECT
    );
}

#[test]
fn the_role_or_the_session_directly() {
    assert_eq!(for_role(&format!(r#"{{"AWS":"{ROLE}"}}"#)), DIRECT);
    assert_eq!(for_role(&format!(r#"{{"AWS":"{SESSION}"}}"#)), DIRECT);
    assert_eq!(
        for_role(r#"{"AWS":"arn:aws:iam::123456789012:role/other"}"#),
        NOTHING
    );
    assert_eq!(
        for_role(r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/app/other-session"}"#),
        NOTHING
    );
    assert_eq!(for_root(&format!(r#"{{"AWS":"{ROLE}"}}"#)), NOTHING);
}

#[test]
fn the_account_delegates() {
    assert_eq!(for_role(&format!(r#"{{"AWS":"{ACCOUNT}"}}"#)), VIA_ACCOUNT);
    assert_eq!(for_role(&format!(r#"{{"AWS":"{ROOT}"}}"#)), VIA_ACCOUNT);
    assert_eq!(
        for_role(&format!(r#"{{"AWS":"{OTHER_ACCOUNT}"}}"#)),
        NOTHING
    );
    assert_eq!(
        for_role(r#"{"AWS":"arn:aws:iam::210987654321:root"}"#),
        NOTHING
    );
}

#[test]
fn the_root_user_is_its_account() {
    assert_eq!(for_root(&format!(r#"{{"AWS":"{ROOT}"}}"#)), DIRECT);
    assert_eq!(for_root(&format!(r#"{{"AWS":"{ACCOUNT}"}}"#)), DIRECT);
    assert_eq!(
        for_root(&format!(r#"{{"AWS":"{OTHER_ACCOUNT}"}}"#)),
        NOTHING
    );
}

#[test]
fn the_best_match_of_a_list_counts() {
    assert_eq!(
        for_role(&format!(r#"{{"AWS":["{ROOT}","{ROLE}"]}}"#)),
        DIRECT
    );
    assert_eq!(
        for_role(&format!(
            r#"{{"AWS":["arn:aws:iam::123456789012:role/x","{ROOT}"]}}"#
        )),
        VIA_ACCOUNT
    );
}

#[test]
fn services_federation_and_canonical_users_never_match_a_role() {
    for principal in [
        r#"{"Service":"kms.amazonaws.com"}"#,
        r#"{"Federated":"accounts.google.com"}"#,
        r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
        r#"{"Service":"*"}"#,
    ] {
        assert_eq!(for_role(principal), NOTHING, "{principal}");
        assert_eq!(for_root(principal), NOTHING, "{principal}");
    }
    let mixed = format!(r#"{{"Service":"kms.amazonaws.com","AWS":"{ROLE}"}}"#);
    assert_eq!(for_role(&mixed), DIRECT);
}

#[test]
fn deny_by_principal() {
    let ctx = Context::new();
    let req = role_req("kms:Decrypt", KEY, &ctx);
    for principal in [
        format!(r#"{{"AWS":"{ROLE}"}}"#),
        format!(r#"{{"AWS":"{SESSION}"}}"#),
        format!(r#"{{"AWS":"{ACCOUNT}"}}"#),
        format!(r#"{{"AWS":"{ROOT}"}}"#),
        r#""*""#.to_owned(),
    ] {
        let out = resource_policy("Deny", &principal).evaluate_resource(&req);
        assert!(out.explicit_deny, "{principal}");
        assert!(!out.allow && !out.allow_via_account);
    }
    let out = resource_policy("Deny", r#"{"AWS":"arn:aws:iam::123456789012:role/x"}"#)
        .evaluate_resource(&req);
    assert!(!out.explicit_deny);
}

#[test]
fn statements_without_principal_never_apply_to_resource_evaluation() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#,
    );
    let ctx = Context::new();
    assert_eq!(
        p.evaluate_resource(&role_req("kms:Decrypt", KEY, &ctx)),
        NOTHING
    );
}

#[test]
fn identity_evaluation_skips_statements_with_principal() {
    let p = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Deny","Principal":{{"AWS":"{ROLE}"}},"Action":"*","Resource":"*"}},
            {{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}]}}"#
    ));
    let ctx = Context::new();
    assert_eq!(
        p.evaluate_identity(&role_req("kms:Decrypt", KEY, &ctx)),
        DIRECT
    );
}

#[test]
fn principal_and_action_and_condition_must_all_match() {
    let p = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"secretsmanager.eu-central-1.amazonaws.com"}}}}}}}}"#
    ));
    let via = Context::new().with(
        "kms:ViaService",
        "secretsmanager.eu-central-1.amazonaws.com",
    );
    let direct = Context::new();
    assert_eq!(
        p.evaluate_resource(&role_req("kms:Encrypt", KEY, &via)),
        DIRECT
    );
    assert_eq!(
        p.evaluate_resource(&role_req("kms:Encrypt", KEY, &direct)),
        NOTHING
    );
    assert_eq!(
        p.evaluate_resource(&role_req("kms:Decrypt", KEY, &via)),
        NOTHING
    );
}

fn not_principal(effect: &str, listed: &[&str], req: &Request<'_>) -> Outcome {
    let list = listed
        .iter()
        .map(|v| format!(r#""{v}""#))
        .collect::<Vec<_>>()
        .join(",");
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","NotPrincipal":{{"AWS":[{list}]}},"Action":"kms:*","Resource":"*"}}}}"#
    ))
    .evaluate_resource(req)
}

#[test]
fn not_principal_with_deny_spares_only_a_fully_listed_caller() {
    let ctx = Context::new();
    let role = role_req("kms:Decrypt", KEY, &ctx);
    // Session, role and account: spared.
    assert!(!not_principal("Deny", &[SESSION, ROLE, ROOT], &role).explicit_deny);
    assert!(!not_principal("Deny", &[SESSION, ROLE, ACCOUNT], &role).explicit_deny);
    // Any of them missing: denied ("the policy might deny access to the entire account").
    assert!(not_principal("Deny", &[SESSION], &role).explicit_deny);
    assert!(not_principal("Deny", &[SESSION, ROLE], &role).explicit_deny);
    assert!(not_principal("Deny", &[ROLE, ROOT], &role).explicit_deny);
    assert!(not_principal("Deny", &[SESSION, ROOT], &role).explicit_deny);
    assert!(not_principal("Deny", &["arn:aws:iam::210987654321:root"], &role).explicit_deny);
    assert!(!not_principal("Deny", &["*"], &role).explicit_deny);

    let root = root_req("kms:Decrypt", KEY, &ctx);
    assert!(!not_principal("Deny", &[ROOT], &root).explicit_deny);
    assert!(!not_principal("Deny", &[ACCOUNT], &root).explicit_deny);
    assert!(not_principal("Deny", &[ROLE], &root).explicit_deny);
}

#[test]
fn not_principal_with_allow_grants_only_to_unlisted_callers() {
    let ctx = Context::new();
    let role = role_req("kms:Decrypt", KEY, &ctx);
    assert_eq!(
        not_principal("Allow", &["arn:aws:iam::210987654321:root"], &role),
        DIRECT
    );
    assert_eq!(not_principal("Allow", &[SESSION], &role), NOTHING);
    assert_eq!(not_principal("Allow", &[ROLE], &role), NOTHING);
    assert_eq!(not_principal("Allow", &[ROOT], &role), NOTHING);
    assert_eq!(not_principal("Allow", &["*"], &role), NOTHING);
}
