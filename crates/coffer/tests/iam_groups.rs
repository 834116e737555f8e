//! IAM groups, permissions boundaries and UpdateUser (issue 13) against the real binary with the
//! AWS SDK: a group's lifecycle and AWS's DeleteConflicts and quotas; a user allowed KMS and
//! Secrets Manager only through its group's policies (and denied once removed from it); a
//! permissions boundary that refuses what the identity policy allows, with AWS's message, and
//! allows what both allow (for a user and for a role's session); a renamed user whose access key keeps working under its new ARN; all
//! of it surviving a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_iam::types::{EntityType, PolicyUsageType};
use aws_sdk_kms::primitives::Blob;
use common::*;
use serde_json::json;

fn allow(actions: &[&str], resource: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions,
        "Resource": resource}]})
    .to_string()
}

/// DeleteGroup of `devs` answers DeleteConflict with `message`.
async fn delete_conflict(iam: &aws_sdk_iam::Client, message: &str) {
    let e = expect_err(
        iam.delete_group().group_name("devs").send().await,
        "DeleteConflict",
    );
    assert_eq!(e.message(), Some(message));
}

#[tokio::test]
async fn a_group_is_made_listed_renamed_and_deleted_with_aws_conflicts_and_quotas() {
    let server = Server::secure();
    let account = server.account_id().await;
    let iam = server.iam();

    let g = iam
        .create_group()
        .group_name("Devs")
        .path("/eng/")
        .send()
        .await
        .unwrap()
        .group()
        .unwrap()
        .clone();
    assert_eq!(g.arn(), format!("arn:aws:iam::{account}:group/eng/Devs"));
    assert!(g.group_id().starts_with("AGPA"));
    let e = expect_err(
        iam.create_group().group_name("devs").send().await,
        "EntityAlreadyExists",
    );
    assert_eq!(e.message(), Some("Group with name devs already exists."));
    let e = expect_err(
        iam.get_group().group_name("nobody").send().await,
        "NoSuchEntity",
    );
    assert_eq!(
        e.message(),
        Some("The group with name nobody cannot be found.")
    );

    iam.create_user().user_name("alice").send().await.unwrap();
    iam.create_user().user_name("bob").send().await.unwrap();
    for u in ["alice", "bob"] {
        iam.add_user_to_group()
            .group_name("devs")
            .user_name(u)
            .send()
            .await
            .unwrap();
    }
    let page = iam
        .get_group()
        .group_name("devs")
        .max_items(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.group().unwrap().group_name(), "Devs");
    assert_eq!(page.users().len(), 1);
    assert_eq!(page.users()[0].user_name(), "alice");
    assert!(page.is_truncated());
    let rest = iam
        .get_group()
        .group_name("devs")
        .marker(page.marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.users()[0].user_name(), "bob");
    assert!(!rest.is_truncated());
    let mine = iam
        .list_groups_for_user()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.groups().len(), 1);
    assert_eq!(mine.groups()[0].arn(), g.arn());
    let listed = iam.list_groups().path_prefix("/eng/").send().await.unwrap();
    assert_eq!(listed.groups().len(), 1);

    // Policies: managed (seen by ListEntitiesForPolicy and AttachmentCount) and inline.
    let p = iam
        .create_policy()
        .policy_name("read")
        .policy_document(allow(&["secretsmanager:GetSecretValue"], "*"))
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    iam.attach_group_policy()
        .group_name("devs")
        .policy_arn(&p)
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name("devs")
        .policy_name("decrypt")
        .policy_document(allow(&["kms:Decrypt"], "*"))
        .send()
        .await
        .unwrap();
    let got = iam
        .get_group_policy()
        .group_name("devs")
        .policy_name("decrypt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.group_name(), "Devs");
    assert!(got.policy_document().contains("kms%3ADecrypt"));
    let names = iam
        .list_group_policies()
        .group_name("devs")
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["decrypt"]);
    let attached = iam
        .list_attached_group_policies()
        .group_name("devs")
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_arn(),
        Some(p.as_str())
    );
    let policy = iam.get_policy().policy_arn(&p).send().await.unwrap();
    assert_eq!(policy.policy().unwrap().attachment_count(), Some(1));
    let ents = iam
        .list_entities_for_policy()
        .policy_arn(&p)
        .entity_filter(EntityType::Group)
        .send()
        .await
        .unwrap();
    assert_eq!(ents.policy_groups().len(), 1);
    assert_eq!(ents.policy_groups()[0].group_name(), Some("Devs"));
    assert!(ents.policy_users().is_empty() && ents.policy_roles().is_empty());
    let e = expect_err(
        iam.delete_policy().policy_arn(&p).send().await,
        "DeleteConflict",
    );
    assert_eq!(
        e.message(),
        Some("Cannot delete a policy attached to entities.")
    );

    // DeleteGroup refuses while it has users, attached and inline policies, in that order.
    delete_conflict(
        &iam,
        "Cannot delete entity, must remove users from group first.",
    )
    .await;
    let e = expect_err(
        iam.delete_user().user_name("bob").send().await,
        "DeleteConflict",
    );
    assert_eq!(
        e.message(),
        Some("Cannot delete entity, must remove users from group first.")
    );
    for u in ["alice", "bob"] {
        iam.remove_user_from_group()
            .group_name("devs")
            .user_name(u)
            .send()
            .await
            .unwrap();
    }
    delete_conflict(
        &iam,
        "Cannot delete entity, must detach all policies first.",
    )
    .await;
    iam.detach_group_policy()
        .group_name("devs")
        .policy_arn(&p)
        .send()
        .await
        .unwrap();
    delete_conflict(&iam, "Cannot delete entity, must delete policies first.").await;
    iam.delete_group_policy()
        .group_name("devs")
        .policy_name("decrypt")
        .send()
        .await
        .unwrap();

    // UpdateGroup: a new name and path; the old name is gone.
    iam.update_group()
        .group_name("devs")
        .new_group_name("builders")
        .new_path("/b/")
        .send()
        .await
        .unwrap();
    expect_err(
        iam.get_group().group_name("devs").send().await,
        "NoSuchEntity",
    );
    let b = iam.get_group().group_name("builders").send().await.unwrap();
    assert_eq!(
        b.group().unwrap().arn(),
        format!("arn:aws:iam::{account}:group/b/builders")
    );
    iam.delete_group()
        .group_name("builders")
        .send()
        .await
        .unwrap();

    // Quotas: ten groups per user.
    for i in 0..11 {
        iam.create_group()
            .group_name(format!("q{i}"))
            .send()
            .await
            .unwrap();
    }
    for i in 0..10 {
        iam.add_user_to_group()
            .group_name(format!("q{i}"))
            .user_name("alice")
            .send()
            .await
            .unwrap();
    }
    let e = expect_err(
        iam.add_user_to_group()
            .group_name("q10")
            .user_name("alice")
            .send()
            .await,
        "LimitExceeded",
    );
    assert_eq!(
        e.message(),
        Some("Cannot exceed quota for GroupsPerUser: 10")
    );
}

#[tokio::test]
async fn group_policies_boundaries_and_a_rename_decide_what_a_user_may_do() {
    let mut server = Server::secure();
    let account = server.account_id().await;
    let iam = server.iam();
    let secret_arn = server
        .secrets(PRIMARY)
        .create_secret()
        .name("app/token")
        .secret_string("s3cret")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let key_id = server
        .kms(PRIMARY)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();

    iam.create_user()
        .user_name("app")
        .path("/svc/")
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("app")
        .send()
        .await
        .unwrap()
        .access_key()
        .unwrap()
        .clone();
    let (ak, sk) = (key.access_key_id(), key.secret_access_key());
    let user_arn = format!("arn:aws:iam::{account}:user/svc/app");

    // Nothing allows the user anything yet.
    let e = server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));

    // Through a group: an inline policy for the secret, a managed one for the key.
    iam.create_group()
        .group_name("readers")
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name("readers")
        .policy_name("get")
        .policy_document(allow(&["secretsmanager:GetSecretValue"], &secret_arn))
        .send()
        .await
        .unwrap();
    let kms_policy = iam
        .create_policy()
        .policy_name("use-key")
        .policy_document(allow(&["kms:Encrypt", "kms:Decrypt"], "*"))
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    iam.attach_group_policy()
        .group_name("readers")
        .policy_arn(&kms_policy)
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("readers")
        .user_name("app")
        .send()
        .await
        .unwrap();
    let value = server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("s3cret"));
    let blob = server
        .kms_as(PRIMARY, ak, sk)
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"hi".to_vec()))
        .send()
        .await
        .unwrap();
    assert!(blob.ciphertext_blob().is_some());

    // A permissions boundary that allows only KMS: the secret is refused, with AWS's words;
    // the key, which both allow, is not.
    let boundary = iam
        .create_policy()
        .policy_name("kms-only")
        .policy_document(allow(&["kms:*"], "*"))
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    iam.put_user_permissions_boundary()
        .user_name("app")
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap();
    let e = server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert_eq!(
        e.message(),
        Some(
            format!(
                "User: {user_arn} is not authorized to perform: secretsmanager:GetSecretValue on resource: {secret_arn} because no permissions boundary allows the secretsmanager:GetSecretValue action"
            )
            .as_str()
        )
    );
    server
        .kms_as(PRIMARY, ak, sk)
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"hi".to_vec()))
        .send()
        .await
        .unwrap();
    let got = iam.get_user().user_name("app").send().await.unwrap();
    let pb = got.user().unwrap().permissions_boundary().unwrap();
    assert_eq!(pb.permissions_boundary_arn(), Some(boundary.as_str()));
    assert_eq!(
        pb.permissions_boundary_type().map(|t| t.as_str()),
        Some("Policy")
    );
    let listed = iam.list_users().send().await.unwrap();
    assert!(listed.users()[0].permissions_boundary().is_none());
    let used = iam.get_policy().policy_arn(&boundary).send().await.unwrap();
    assert_eq!(
        used.policy().unwrap().permissions_boundary_usage_count(),
        Some(1)
    );
    let ents = iam
        .list_entities_for_policy()
        .policy_arn(&boundary)
        .policy_usage_filter(PolicyUsageType::PermissionsBoundary)
        .send()
        .await
        .unwrap();
    assert_eq!(ents.policy_users()[0].user_name(), Some("app"));
    // The simulator sees the group's policy and the user's boundary.
    let sim = iam
        .simulate_principal_policy()
        .policy_source_arn(&user_arn)
        .action_names("secretsmanager:GetSecretValue")
        .action_names("kms:Encrypt")
        .send()
        .await
        .unwrap();
    let results = sim.evaluation_results();
    assert_eq!(results[0].eval_decision().as_str(), "implicitDeny");
    assert_eq!(
        results[0]
            .permissions_boundary_decision_detail()
            .map(|d| d.allowed_by_permissions_boundary()),
        Some(false)
    );
    assert_eq!(results[1].eval_decision().as_str(), "allowed");
    assert_eq!(
        results[1].matched_statements()[0]
            .source_policy_type()
            .map(|t| t.as_str()),
        Some("user-managed")
    );
    iam.delete_user_permissions_boundary()
        .user_name("app")
        .send()
        .await
        .unwrap();
    server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();

    // A role's boundary: CreateRole takes one and GetRole shows it.
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "sts:AssumeRole"}]});
    iam.create_role()
        .role_name("bounded")
        .assume_role_policy_document(trust.to_string())
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap();
    let r = iam.get_role().role_name("bounded").send().await.unwrap();
    assert_eq!(
        r.role()
            .unwrap()
            .permissions_boundary()
            .unwrap()
            .permissions_boundary_arn(),
        Some(boundary.as_str())
    );
    // A session of the role is held to the boundary as well.
    iam.put_role_policy()
        .role_name("bounded")
        .policy_name("get")
        .policy_document(allow(
            &["secretsmanager:GetSecretValue", "kms:Encrypt"],
            "*",
        ))
        .send()
        .await
        .unwrap();
    let session = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(r.role().unwrap().arn())
        .role_session_name("s1")
        .send()
        .await
        .unwrap();
    let c = session.credentials().unwrap();
    let creds = aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "session",
    );
    let e = server
        .secrets_with(PRIMARY, creds.clone())
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert!(
        e.message().unwrap().ends_with(
            "because no permissions boundary allows the secretsmanager:GetSecretValue action"
        ),
        "{e:?}"
    );
    server
        .kms_with(PRIMARY, creds)
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"hi".to_vec()))
        .send()
        .await
        .unwrap();

    let e = expect_err(
        iam.create_user()
            .user_name("x")
            .permissions_boundary(format!("arn:aws:iam::{account}:policy/missing"))
            .send()
            .await,
        "NoSuchEntity",
    );
    assert!(e.message().unwrap().starts_with("Scope ARN: "));

    // UpdateUser: the key keeps working, under the new ARN, with the same policies.
    expect_err(
        iam.update_user()
            .user_name("nobody")
            .new_user_name("y")
            .send()
            .await,
        "NoSuchEntity",
    );
    iam.create_user().user_name("other").send().await.unwrap();
    let e = expect_err(
        iam.update_user()
            .user_name("app")
            .new_user_name("Other")
            .send()
            .await,
        "EntityAlreadyExists",
    );
    assert_eq!(e.message(), Some("User with name Other already exists."));
    iam.update_user()
        .user_name("app")
        .new_user_name("app2")
        .new_path("/teams/")
        .send()
        .await
        .unwrap();
    let new_arn = format!("arn:aws:iam::{account}:user/teams/app2");
    let who = server
        .sts_as(PRIMARY, ak, sk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(new_arn.as_str()));
    server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();
    let keys = iam
        .list_access_keys()
        .user_name("app2")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1);
    expect_err(iam.get_user().user_name("app").send().await, "NoSuchEntity");

    // Everything survives a restart.
    server.crash_restart();
    let iam = server.iam();
    let groups = iam
        .list_groups_for_user()
        .user_name("app2")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups()[0].group_name(), "readers");
    let who = server
        .sts_as(PRIMARY, ak, sk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(new_arn.as_str()));
    server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();

    // Out of the group, the user may do nothing again.
    iam.remove_user_from_group()
        .group_name("readers")
        .user_name("app2")
        .send()
        .await
        .unwrap();
    let e = server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert!(e.message().unwrap().contains(&format!(
        "User: {new_arn} is not authorized to perform: secretsmanager:GetSecretValue"
    )));
    let e = server
        .kms_as(PRIMARY, ak, sk)
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"hi".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
}
