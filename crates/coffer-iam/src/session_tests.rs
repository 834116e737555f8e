//! Unit tests of what STS sessions bring to authorization (ADR 0018): principal tags (the
//! role's or user's, the session's over them), `aws:SourceIdentity`, federated users (the
//! user's policies intersected with the session policy; everything for the root user's), and
//! the trust evaluation's extra actions and keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use coffer_core::authz::{Ask, Authorizer};
use coffer_core::{PrincipalKind, RequestContext, RoleSession};
use coffer_policy::Context;

const ACCOUNT: &str = "111122223333";

fn root() -> RequestContext {
    RequestContext {
        account_id: ACCOUNT.into(),
        region: "us-east-1".into(),
        principal_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
        role: None,
        secure_transport: false,
    }
}

fn as_caller(role: RoleSession, arn: &str) -> RequestContext {
    RequestContext {
        principal_arn: arn.into(),
        role: Some(Arc::new(role)),
        ..root()
    }
}

fn setup() -> (Arc<Iam>, Authorizer) {
    let iam = Arc::new(
        Iam::load(
            Arc::new(coffer_store::MemoryStore::new()),
            Arc::new(coffer_core::SystemClock),
        )
        .unwrap(),
    );
    let authz = Authorizer::new(iam.clone(), Arc::new(coffer_core::SystemClock));
    (iam, authz)
}

fn tag(k: &str, v: &str) -> Tag {
    Tag {
        key: k.into(),
        value: v.into(),
    }
}

const BY_TEAM: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue","aws:SourceIdentity":"alice"}}}]}"#;

fn ask(action: &str) -> Ask<'_> {
    Ask {
        action,
        resource: "*",
        context: Context::new(),
    }
}

#[test]
fn principal_tags_are_the_roles_with_the_sessions_over_them() {
    let (iam, authz) = setup();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let role = iam
        .create_role(
            &root(),
            CreateRoleRequest {
                role_name: Some("app".into()),
                assume_role_policy_document: Some(trust),
                tags: Some(vec![tag("Team", "red")]),
                ..Default::default()
            },
        )
        .unwrap();
    iam.put_role_policy(&root(), Some("app"), Some("p"), Some(BY_TEAM))
        .unwrap();
    let session_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/s");
    let mut s = RoleSession::assumed_role("app", &role.arn, "s");
    s.source_identity = Some("alice".into());
    // The role's own tag says red.
    assert!(authz
        .check(
            &as_caller(s.clone(), &session_arn),
            ask("kms:Encrypt"),
            None
        )
        .is_err());
    // A session tag of the same key (in another case) overrides it.
    s.session_tags = vec![("team".into(), "blue".into())];
    authz
        .check(
            &as_caller(s.clone(), &session_arn),
            ask("kms:Encrypt"),
            None,
        )
        .unwrap();
    // Without the source identity the condition fails.
    s.source_identity = None;
    assert!(authz
        .check(&as_caller(s, &session_arn), ask("kms:Encrypt"), None)
        .is_err());
}

#[test]
fn a_federated_user_holds_the_intersection() {
    let (iam, authz) = setup();
    iam.create_user(&root(), Some("bob"), None, None, None)
        .unwrap();
    let both = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}"#;
    iam.put_user_policy(&root(), Some("bob"), Some("p"), Some(both))
        .unwrap();
    let fed_arn = crate::sts::federated_user_arn(ACCOUNT, "proxy");
    let session = |user: &str, policy: &str| {
        let mut r = RoleSession::user(user, &fed_arn);
        r.kind = PrincipalKind::FederatedUser;
        r.session_name = "proxy".into();
        r.session_policy = Some(policy.into());
        as_caller(r, &fed_arn)
    };
    let encrypt_and_list = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","secretsmanager:ListSecrets"],"Resource":"*"}]}"#;
    let c = session("bob", encrypt_and_list);
    authz.check(&c, ask("kms:Encrypt"), None).unwrap();
    // The user allows it, the session policy does not.
    assert!(authz.check(&c, ask("kms:Decrypt"), None).is_err());
    // The session policy allows it, the user does not.
    let e = authz
        .check(&c, ask("secretsmanager:ListSecrets"), None)
        .unwrap_err();
    assert!(e.message.starts_with(&format!(
        "User: {fed_arn} is not authorized to perform: secretsmanager:ListSecrets"
    )));
    // Federated by the root user: the session policy alone decides.
    let c = session("", encrypt_and_list);
    authz
        .check(&c, ask("secretsmanager:ListSecrets"), None)
        .unwrap();
    assert!(authz.check(&c, ask("kms:Decrypt"), None).is_err());
    // A resource policy naming the federated user matches it, not the IAM user.
    let named = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{fed_arn}"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    let c = session("bob", encrypt_and_list);
    authz
        .check_kms(&c, ask("kms:Encrypt"), &named, false)
        .unwrap();
    let user_named = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/bob"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    assert!(authz
        .check_kms(&c, ask("kms:Encrypt"), &user_named, false)
        .is_err());
}

#[test]
fn the_trust_evaluation_sees_the_requests_keys() {
    let (_, authz) = setup();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"x-1"}}}}}},
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:TagSession","Condition":{{"ForAllValues:StringEquals":{{"aws:TagKeys":["team"]}}}}}}]}}"#
    );
    let role = format!("arn:aws:iam::{ACCOUNT}:role/r");
    let with = |k: &str, v: &str| Context::new().with(k, v);
    authz
        .check_trust_action(
            &root(),
            "sts:AssumeRole",
            &role,
            &trust,
            with("sts:ExternalId", "x-1"),
        )
        .unwrap();
    assert!(authz
        .check_trust_action(
            &root(),
            "sts:AssumeRole",
            &role,
            &trust,
            with("sts:ExternalId", "x-2")
        )
        .is_err());
    authz
        .check_trust_action(
            &root(),
            "sts:TagSession",
            &role,
            &trust,
            Context::new().with_many("aws:TagKeys", ["team"]),
        )
        .unwrap();
    let e = authz
        .check_trust_action(
            &root(),
            "sts:TagSession",
            &role,
            &trust,
            Context::new().with_many("aws:TagKeys", ["team", "cost"]),
        )
        .unwrap_err();
    assert!(e.message.contains("sts:TagSession"));
    assert!(authz
        .check_trust_action(
            &root(),
            "sts:SetSourceIdentity",
            &role,
            &trust,
            Context::new()
        )
        .is_err());
}
