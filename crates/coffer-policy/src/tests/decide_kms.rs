//! `decide_kms`: the key policy is authoritative.

use super::{policy, role_req, root_req, ACCOUNT, KEY, ROLE};
use crate::{decide_kms, Context, Decision, Policy};

/// The default key policy: the account, which delegates to IAM.
fn default_key_policy() -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    ))
}

fn key_policy_for(principal: &str, effect: &str) -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Principal":{{"AWS":"{principal}"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    ))
}

fn identity(effect: &str, action: &str) -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Action":"{action}","Resource":"{KEY}"}}}}"#
    ))
}

fn run(key: &Policy, ids: &[Policy], session: Option<&Policy>, grant: bool) -> Decision {
    let ctx = Context::new();
    decide_kms(
        key,
        ids,
        session,
        grant,
        &role_req("kms:Decrypt", KEY, &ctx),
    )
}

#[test]
fn default_key_policy_delegates_to_iam() {
    let key = default_key_policy();
    assert_eq!(run(&key, &[], None, false), Decision::ImplicitDeny);
    assert_eq!(
        run(&key, &[identity("Allow", "kms:Decrypt")], None, false),
        Decision::Allow
    );
    assert_eq!(
        run(&key, &[identity("Allow", "kms:Encrypt")], None, false),
        Decision::ImplicitDeny
    );
}

#[test]
fn key_policy_naming_the_role_needs_no_identity_policy() {
    assert_eq!(
        run(&key_policy_for(ROLE, "Allow"), &[], None, false),
        Decision::Allow
    );
}

#[test]
fn identity_policies_alone_do_not_open_a_key() {
    let key = key_policy_for("arn:aws:iam::123456789012:role/admin", "Allow");
    assert_eq!(
        run(&key, &[identity("Allow", "kms:*")], None, false),
        Decision::ImplicitDeny
    );
}

#[test]
fn an_empty_key_policy_opens_nothing_but_grants() {
    let key = Policy::empty();
    assert_eq!(key.statement_count(), 0);
    assert_eq!(
        run(&key, &[identity("Allow", "kms:*")], None, false),
        Decision::ImplicitDeny
    );
    assert_eq!(run(&key, &[], None, true), Decision::Allow);
    assert_eq!(
        run(&key, &[identity("Deny", "kms:*")], None, true),
        Decision::ExplicitDeny
    );
}

#[test]
fn grants_allow() {
    let key = key_policy_for("arn:aws:iam::123456789012:role/admin", "Allow");
    assert_eq!(run(&key, &[], None, true), Decision::Allow);
    assert_eq!(run(&default_key_policy(), &[], None, true), Decision::Allow);
}

#[test]
fn explicit_deny_anywhere_wins() {
    let key = default_key_policy();
    let allow = identity("Allow", "kms:Decrypt");
    let deny = identity("Deny", "kms:Decrypt");
    assert_eq!(
        run(&key, &[allow.clone(), deny.clone()], None, true),
        Decision::ExplicitDeny
    );
    assert_eq!(
        run(
            &key_policy_for(ROLE, "Deny"),
            std::slice::from_ref(&allow),
            None,
            true
        ),
        Decision::ExplicitDeny
    );
    assert_eq!(
        run(&key_policy_for(ACCOUNT, "Deny"), &[], None, true),
        Decision::ExplicitDeny
    );
    assert_eq!(
        run(&key_policy_for(ROLE, "Allow"), &[], Some(&deny), false),
        Decision::ExplicitDeny
    );
}

#[test]
fn a_session_policy_intersects() {
    let key = default_key_policy();
    let allow = identity("Allow", "kms:Decrypt");
    let session_allows = identity("Allow", "kms:*");
    let session_silent = identity("Allow", "kms:Encrypt");
    assert_eq!(
        run(
            &key,
            std::slice::from_ref(&allow),
            Some(&session_allows),
            false
        ),
        Decision::Allow
    );
    assert_eq!(
        run(
            &key,
            std::slice::from_ref(&allow),
            Some(&session_silent),
            false
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(&key, &[], Some(&session_silent), true),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(
            &key_policy_for(ROLE, "Allow"),
            &[],
            Some(&session_silent),
            false
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(
            &key_policy_for(ROLE, "Allow"),
            &[],
            Some(&session_allows),
            false
        ),
        Decision::Allow
    );
}

#[test]
fn root_callers_are_the_account() {
    let ctx = Context::new();
    let req = root_req("kms:Decrypt", KEY, &ctx);
    assert_eq!(
        decide_kms(&default_key_policy(), &[], None, false, &req),
        Decision::Allow
    );
    assert_eq!(
        decide_kms(&key_policy_for(ROLE, "Allow"), &[], None, false, &req),
        Decision::ImplicitDeny
    );
}

/// The policy of the AWS managed key `aws/secretsmanager`, as Coffer writes it.
fn secretsmanager_managed_key() -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Id":"auto-secretsmanager-2","Statement":[{{"Sid":"Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"{ACCOUNT}","kms:ViaService":"secretsmanager.eu-central-1.amazonaws.com"}}}}}},{{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":["kms:Describe*","kms:Get*","kms:List*","kms:RevokeGrant"],"Resource":"*"}}]}}"#
    ))
}

#[test]
fn the_secrets_manager_managed_key() {
    let key = secretsmanager_managed_key();
    let via = Context::new().with("kms:CallerAccount", ACCOUNT).with(
        "kms:ViaService",
        "secretsmanager.eu-central-1.amazonaws.com",
    );
    let direct = Context::new().with("kms:CallerAccount", ACCOUNT);
    let decrypt = |ctx| decide_kms(&key, &[], None, false, &role_req("kms:Decrypt", KEY, ctx));
    assert_eq!(decrypt(&via), Decision::Allow);
    assert_eq!(decrypt(&direct), Decision::ImplicitDeny);
    let other_region = Context::new()
        .with("kms:CallerAccount", ACCOUNT)
        .with("kms:ViaService", "secretsmanager.eu-west-1.amazonaws.com");
    assert_eq!(decrypt(&other_region), Decision::ImplicitDeny);
    // Key metadata: through the account, so IAM must allow.
    let describe = |ids: &[Policy]| {
        decide_kms(
            &key,
            ids,
            None,
            false,
            &role_req("kms:GetKeyPolicy", KEY, &direct),
        )
    };
    assert_eq!(describe(&[]), Decision::ImplicitDeny);
    assert_eq!(
        describe(&[identity("Allow", "kms:GetKeyPolicy")]),
        Decision::Allow
    );
}
