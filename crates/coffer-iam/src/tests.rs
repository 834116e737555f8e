//! Unit tests of the IAM service over an in-memory store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use coffer_core::{RequestContext, RoleSession};
use coffer_store::FaultStore;

const ACCOUNT: &str = "111122223333";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
const DECRYPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;
const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_123)
    }
}

fn ctx() -> RequestContext {
    ctx_of(ACCOUNT)
}

fn ctx_of(account: &str) -> RequestContext {
    RequestContext {
        account_id: account.into(),
        region: "us-east-1".into(),
        principal_arn: format!("arn:aws:iam::{account}:root"),
        role: None,
        secure_transport: false,
    }
}

fn setup() -> (Arc<FaultStore>, Iam) {
    let store = Arc::new(FaultStore::memory());
    let iam = Iam::load(store.clone(), Arc::new(Fixed)).unwrap();
    (store, iam)
}

fn create_role(iam: &Iam, name: &str, path: Option<&str>) -> Role {
    iam.create_role(
        &ctx(),
        CreateRoleRequest {
            role_name: Some(name.into()),
            path: path.map(Into::into),
            assume_role_policy_document: Some(TRUST.into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn create_policy(iam: &Iam, name: &str, doc: &str) -> Policy {
    iam.create_policy(
        &ctx(),
        CreatePolicyRequest {
            policy_name: Some(name.into()),
            policy_document: Some(doc.into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn code(e: IamError) -> String {
    match e {
        IamError::NoSuchEntity(m) => format!("NoSuchEntity: {m}"),
        IamError::EntityAlreadyExists(m) => format!("EntityAlreadyExists: {m}"),
        IamError::DeleteConflict(m) => format!("DeleteConflict: {m}"),
        IamError::LimitExceeded(m) => format!("LimitExceeded: {m}"),
        IamError::MalformedPolicyDocument(m) => format!("MalformedPolicyDocument: {m}"),
        IamError::InvalidInput(m) => format!("InvalidInput: {m}"),
        IamError::Validation(v) => format!("ValidationError: {}", v.message),
        IamError::AccessDenied(m) => format!("AccessDenied: {m}"),
        e => format!("other: {e}"),
    }
}

#[test]
fn roles_are_made_read_and_found_by_name_and_arn() {
    let (_, iam) = setup();
    let r = create_role(&iam, "App", Some("/team/"));
    assert_eq!(r.arn, "arn:aws:iam::111122223333:role/team/App");
    assert!(r.role_id.starts_with("AROA") && r.role_id.len() == 21);
    assert!(r.role_id[4..]
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(r.max_session_duration, 3600);
    assert_eq!(r.create_date.millis, 1_700_000_000_000, "whole seconds");

    let got = iam.get_role(&ctx(), Some("app")).unwrap();
    assert_eq!(got.role_name, "App", "names compare without case");
    let info = iam.role(ACCOUNT, "APP").unwrap();
    assert_eq!(info.trust_policy, TRUST);
    assert_eq!(info.path, "/team/");
    assert_eq!(
        iam.role_by_arn("arn:aws:iam::111122223333:role/team/App")
            .unwrap()
            .role_id,
        r.role_id
    );
    assert!(iam
        .role_by_arn("arn:aws:iam::111122223333:role/App")
        .is_none());
    assert!(iam.role("999999999999", "App").is_none(), "per account");
    assert!(iam.get_role(&ctx_of("999999999999"), Some("App")).is_err());

    let dup = iam
        .create_role(
            &ctx(),
            CreateRoleRequest {
                role_name: Some("APP".into()),
                assume_role_policy_document: Some(TRUST.into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        code(dup),
        "EntityAlreadyExists: Role with name APP already exists."
    );
    assert_eq!(
        code(iam.get_role(&ctx(), Some("nobody")).unwrap_err()),
        "NoSuchEntity: The role with name nobody cannot be found."
    );
}

#[test]
fn requests_are_validated_with_aws_wording() {
    let (_, iam) = setup();
    let e = iam
        .create_role(
            &ctx(),
            CreateRoleRequest {
                role_name: Some("bad name".into()),
                assume_role_policy_document: None,
                max_session_duration: Some(100),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        code(e),
        "ValidationError: 3 validation errors detected: Value 'bad name' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+; Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null; Value '100' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"
    );
    let e = iam
        .create_role(
            &ctx(),
            CreateRoleRequest {
                role_name: Some("r".into()),
                assume_role_policy_document: Some(DECRYPT.into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        code(e),
        "MalformedPolicyDocument: Has prohibited field Resource"
    );
    let e = iam
        .create_role(
            &ctx(),
            CreateRoleRequest {
                role_name: Some("r".into()),
                assume_role_policy_document: Some(TRUST.into()),
                permissions_boundary: Some("arn:aws:iam::111122223333:policy/boundary".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        code(e),
        "NoSuchEntity: Scope ARN: arn:aws:iam::111122223333:policy/boundary does not exist or is not attachable."
    );
    let e = iam
        .create_role(
            &ctx(),
            CreateRoleRequest {
                role_name: Some("r".into()),
                assume_role_policy_document: Some(TRUST.into()),
                tags: Some(vec![
                    Tag {
                        key: "Team".into(),
                        value: "a".into(),
                    },
                    Tag {
                        key: "team".into(),
                        value: "b".into(),
                    },
                ]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        code(e),
        "InvalidInput: Duplicate tag keys found. Please note that Tag keys are case insensitive."
    );
    assert!(iam.role(ACCOUNT, "r").is_none());
}

#[test]
fn role_updates_and_tags() {
    let (_, iam) = setup();
    create_role(&iam, "app", None);
    iam.update_role(&ctx(), Some("app"), Some("the app".into()), Some(7200))
        .unwrap();
    let e = iam
        .update_role(&ctx(), Some("app"), None, Some(43201))
        .unwrap_err();
    assert!(code(e).contains("Member must have value less than or equal to 43200"));
    let r = iam.get_role(&ctx(), Some("app")).unwrap();
    assert_eq!(r.description.as_deref(), Some("the app"));
    assert_eq!(r.max_session_duration, 7200);
    assert_eq!(iam.role(ACCOUNT, "app").unwrap().max_session_duration, 7200);

    let tags = [
        Tag {
            key: "a".into(),
            value: "1".into(),
        },
        Tag {
            key: "b".into(),
            value: "2".into(),
        },
    ];
    iam.tag_role(&ctx(), Some("app"), Some(&tags)).unwrap();
    iam.tag_role(
        &ctx(),
        Some("app"),
        Some(&[Tag {
            key: "A".into(),
            value: "3".into(),
        }]),
    )
    .unwrap();
    let page1 = iam
        .list_role_tags(
            &ctx(),
            Some("app"),
            &Paging {
                marker: None,
                max_items: Some(1),
            },
        )
        .unwrap();
    assert_eq!(page1.items.len(), 1);
    assert_eq!(page1.items[0].key, "A");
    assert_eq!(page1.items[0].value, "3");
    let page2 = iam
        .list_role_tags(
            &ctx(),
            Some("app"),
            &Paging {
                marker: page1.marker,
                max_items: Some(1),
            },
        )
        .unwrap();
    assert_eq!(page2.items[0].key, "b");
    assert!(page2.marker.is_none());
    iam.untag_role(&ctx(), Some("app"), Some(&["a".into(), "zzz".into()]))
        .unwrap();
    let r = iam.get_role(&ctx(), Some("app")).unwrap();
    assert_eq!(r.tags.len(), 1);

    let many: Vec<Tag> = (0..50)
        .map(|i| Tag {
            key: format!("k{i}"),
            value: String::new(),
        })
        .collect();
    let e = iam.tag_role(&ctx(), Some("app"), Some(&many)).unwrap_err();
    assert_eq!(
        code(e),
        "LimitExceeded: The number of tags has reached the maximum limit."
    );

    iam.update_assume_role_policy(
        &ctx(),
        Some("app"),
        Some(TRUST.replace("root", "role/x").as_str()),
    )
    .unwrap();
    assert!(iam
        .role(ACCOUNT, "app")
        .unwrap()
        .trust_policy
        .contains("role/x"));
    let e = iam
        .update_assume_role_policy(&ctx(), Some("app"), Some("{"))
        .unwrap_err();
    assert_eq!(code(e), "MalformedPolicyDocument: Syntax errors in policy.");
}

#[test]
fn list_roles_pages_and_filters_by_path() {
    let (_, iam) = setup();
    for (name, path) in [("c", "/"), ("a", "/x/"), ("b", "/x/y/"), ("d", "/z/")] {
        create_role(&iam, name, Some(path));
    }
    iam.create_role(
        &ctx_of("999999999999"),
        CreateRoleRequest {
            role_name: Some("other".into()),
            assume_role_policy_document: Some(TRUST.into()),
            ..Default::default()
        },
    )
    .unwrap();
    let mut names = Vec::new();
    let mut paging = Paging {
        marker: None,
        max_items: Some(3),
    };
    loop {
        let p = iam.list_roles(&ctx(), None, &paging).unwrap();
        names.extend(p.items.into_iter().map(|r| r.role_name));
        match p.marker {
            Some(m) => paging.marker = Some(m),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "c", "d"]);
    let x: Vec<String> = iam
        .list_roles(&ctx(), Some("/x/"), &Paging::default())
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.role_name)
        .collect();
    assert_eq!(x, ["a", "b"]);
    let e = iam
        .list_roles(
            &ctx(),
            None,
            &Paging {
                marker: None,
                max_items: Some(0),
            },
        )
        .unwrap_err();
    assert!(code(e).contains("Member must have value greater than or equal to 1"));
}

#[test]
fn managed_policies_versions_and_attachments() {
    let (_, iam) = setup();
    create_role(&iam, "app", None);
    let p = create_policy(&iam, "decrypt", DECRYPT);
    assert_eq!(p.arn, "arn:aws:iam::111122223333:policy/decrypt");
    assert!(p.policy_id.starts_with("ANPA") && p.policy_id.len() == 21);
    assert_eq!(p.default_version_id, "v1");
    assert_eq!(p.attachment_count, 0);
    assert!(p.is_attachable);
    let dup = iam
        .create_policy(
            &ctx(),
            CreatePolicyRequest {
                policy_name: Some("DECRYPT".into()),
                path: Some("/other/".into()),
                policy_document: Some(DECRYPT.into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        code(dup),
        "EntityAlreadyExists: A policy called DECRYPT already exists. Duplicate names are not allowed."
    );

    // Versions: at most five, the default cannot go.
    for i in 2..=5 {
        let v = iam
            .create_policy_version(&ctx(), Some(&p.arn), Some(READ), i == 3)
            .unwrap();
        assert_eq!(v.version_id, format!("v{i}"));
        assert_eq!(v.is_default_version, i == 3);
        assert!(v.document.is_none());
    }
    let e = iam
        .create_policy_version(&ctx(), Some(&p.arn), Some(READ), false)
        .unwrap_err();
    assert!(code(e).starts_with("LimitExceeded: A managed policy can have up to 5 versions."));
    let got = iam.get_policy(&ctx(), Some(&p.arn)).unwrap();
    assert_eq!(got.default_version_id, "v3");
    let listed: Vec<(String, bool)> = iam
        .list_policy_versions(&ctx(), Some(&p.arn), &Paging::default())
        .unwrap()
        .items
        .into_iter()
        .map(|v| (v.version_id, v.is_default_version))
        .collect();
    assert_eq!(listed[0], ("v5".to_string(), false), "newest first");
    assert_eq!(listed.len(), 5);
    let e = iam
        .delete_policy_version(&ctx(), Some(&p.arn), Some("v3"))
        .unwrap_err();
    assert_eq!(
        code(e),
        "DeleteConflict: Cannot delete the default version of a policy."
    );
    iam.delete_policy_version(&ctx(), Some(&p.arn), Some("v5"))
        .unwrap();
    let e = iam
        .get_policy_version(&ctx(), Some(&p.arn), Some("v5"))
        .unwrap_err();
    assert_eq!(
        code(e),
        format!(
            "NoSuchEntity: Policy {} version v5 does not exist or is not attachable.",
            p.arn
        )
    );
    let v6 = iam
        .create_policy_version(&ctx(), Some(&p.arn), Some(DECRYPT), false)
        .unwrap();
    assert_eq!(v6.version_id, "v6", "numbers are never reused");
    iam.set_default_policy_version(&ctx(), Some(&p.arn), Some("v6"))
        .unwrap();
    assert_eq!(
        iam.get_policy_version(&ctx(), Some(&p.arn), Some("v6"))
            .unwrap()
            .document
            .as_deref(),
        Some(DECRYPT)
    );

    // Attach: documents apply to the role; counts and listings follow.
    iam.attach_role_policy(&ctx(), Some("app"), Some(&p.arn))
        .unwrap();
    iam.attach_role_policy(&ctx(), Some("app"), Some(&p.arn))
        .unwrap();
    iam.put_role_policy(&ctx(), Some("app"), Some("inline"), Some(READ))
        .unwrap();
    assert_eq!(iam.role_policy_documents(ACCOUNT, "app"), [DECRYPT, READ]);
    assert_eq!(
        iam.get_policy(&ctx(), Some(&p.arn))
            .unwrap()
            .attachment_count,
        1
    );
    let attached = iam
        .list_attached_role_policies(&ctx(), Some("app"), None, &Paging::default())
        .unwrap();
    assert_eq!(attached.items[0].policy_name, "decrypt");
    let entities = iam
        .list_entities_for_policy(
            &ctx(),
            &ListEntitiesForPolicyRequest {
                policy_arn: Some(p.arn.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(entities.items[0].name, "app");
    let users = iam
        .list_entities_for_policy(
            &ctx(),
            &ListEntitiesForPolicyRequest {
                policy_arn: Some(p.arn.clone()),
                entity_filter: Some("User".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(users.items.is_empty());
    let only = iam
        .list_policies(
            &ctx(),
            &ListPoliciesRequest {
                only_attached: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(only.items.len(), 1);

    // Conflicts while attached.
    assert_eq!(
        code(iam.delete_role(&ctx(), Some("app")).unwrap_err()),
        "DeleteConflict: Cannot delete entity, must detach all policies first."
    );
    assert_eq!(
        code(iam.delete_policy(&ctx(), Some(&p.arn)).unwrap_err()),
        "DeleteConflict: Cannot delete a policy attached to entities."
    );
    iam.detach_role_policy(&ctx(), Some("app"), Some(&p.arn))
        .unwrap();
    assert_eq!(
        code(
            iam.detach_role_policy(&ctx(), Some("app"), Some(&p.arn))
                .unwrap_err()
        ),
        format!("NoSuchEntity: Policy {} was not found.", p.arn)
    );
    assert_eq!(
        code(iam.delete_role(&ctx(), Some("app")).unwrap_err()),
        "DeleteConflict: Cannot delete entity, must delete policies first."
    );
    assert!(code(iam.delete_policy(&ctx(), Some(&p.arn)).unwrap_err())
        .starts_with("DeleteConflict: This policy has more than one version."));
    for v in ["v1", "v2", "v3", "v4"] {
        iam.delete_policy_version(&ctx(), Some(&p.arn), Some(v))
            .unwrap();
    }
    iam.delete_policy(&ctx(), Some(&p.arn)).unwrap();
    iam.delete_role_policy(&ctx(), Some("app"), Some("INLINE"))
        .unwrap();
    iam.delete_role(&ctx(), Some("app")).unwrap();
    assert!(iam.role(ACCOUNT, "app").is_none());
}

#[test]
fn attach_errors() {
    let (_, iam) = setup();
    create_role(&iam, "app", None);
    let missing = "arn:aws:iam::111122223333:policy/missing";
    assert_eq!(
        code(
            iam.attach_role_policy(&ctx(), Some("app"), Some(missing))
                .unwrap_err()
        ),
        format!("NoSuchEntity: Policy {missing} does not exist or is not attachable.")
    );
    assert_eq!(
        code(
            iam.attach_role_policy(&ctx(), Some("nobody"), Some(missing))
                .unwrap_err()
        ),
        "NoSuchEntity: The role with name nobody cannot be found."
    );
    let bad = "arn:aws:iam::111122223333:role/not-a-policy";
    assert_eq!(
        code(iam.get_policy(&ctx(), Some(bad)).unwrap_err()),
        format!("InvalidInput: ARN {bad} is not valid.")
    );
    for i in 0..10 {
        let p = create_policy(&iam, &format!("p{i}"), DECRYPT);
        iam.attach_role_policy(&ctx(), Some("app"), Some(&p.arn))
            .unwrap();
    }
    let p = create_policy(&iam, "p10", DECRYPT);
    assert_eq!(
        code(
            iam.attach_role_policy(&ctx(), Some("app"), Some(&p.arn))
                .unwrap_err()
        ),
        "LimitExceeded: Cannot exceed quota for PoliciesPerRole: 10"
    );
}

#[test]
fn inline_policies_and_their_total_size() {
    let (_, iam) = setup();
    create_role(&iam, "app", None);
    iam.put_role_policy(&ctx(), Some("app"), Some("b"), Some(READ))
        .unwrap();
    iam.put_role_policy(&ctx(), Some("app"), Some("a"), Some(DECRYPT))
        .unwrap();
    iam.put_role_policy(&ctx(), Some("app"), Some("A"), Some(READ))
        .unwrap();
    let names = iam
        .list_role_policies(&ctx(), Some("app"), &Paging::default())
        .unwrap()
        .items;
    assert_eq!(names, ["A", "b"]);
    let got = iam.get_role_policy(&ctx(), Some("APP"), Some("a")).unwrap();
    assert_eq!(got.role_name, "app");
    assert_eq!(got.policy_document, READ);
    assert_eq!(
        code(
            iam.get_role_policy(&ctx(), Some("app"), Some("zzz"))
                .unwrap_err()
        ),
        "NoSuchEntity: The role policy with name zzz cannot be found."
    );
    let e = iam
        .put_role_policy(
            &ctx(),
            Some("app"),
            Some("p"),
            Some(
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"a:b","Resource":"*"}}"#,
            ),
        )
        .unwrap_err();
    assert_eq!(
        code(e),
        "MalformedPolicyDocument: Policy document should not specify a principal."
    );
    let big = |n: usize| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}}}"#,
            "x".repeat(n)
        )
    };
    iam.put_role_policy(&ctx(), Some("app"), Some("big1"), Some(&big(5000)))
        .unwrap();
    let e = iam
        .put_role_policy(&ctx(), Some("app"), Some("big2"), Some(&big(5000)))
        .unwrap_err();
    assert_eq!(
        code(e),
        "LimitExceeded: Maximum policy size of 10240 bytes exceeded for role app"
    );
    // Replacing a policy counts its new size only.
    iam.put_role_policy(&ctx(), Some("app"), Some("big1"), Some(&big(5200)))
        .unwrap();
}

#[test]
fn list_policies_scope_path_and_paging() {
    let (_, iam) = setup();
    for name in ["b", "a", "c"] {
        iam.create_policy(
            &ctx(),
            CreatePolicyRequest {
                policy_name: Some(name.into()),
                path: Some(if name == "c" { "/team/" } else { "/" }.into()),
                policy_document: Some(DECRYPT.into()),
                description: Some("d".into()),
                ..Default::default()
            },
        )
        .unwrap();
    }
    let local = |paging: Paging| ListPoliciesRequest {
        scope: Some("Local".into()),
        paging,
        ..Default::default()
    };
    let all = iam
        .list_policies(&ctx(), &local(Paging::default()))
        .unwrap();
    let names: Vec<&str> = all.items.iter().map(|p| p.policy_name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let aws = iam
        .list_policies(
            &ctx(),
            &ListPoliciesRequest {
                scope: Some("AWS".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let names: Vec<&str> = aws.items.iter().map(|p| p.policy_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "AdministratorAccess",
            "AWSKeyManagementServicePowerUser",
            "IAMFullAccess",
            "IAMReadOnlyAccess",
            "PowerUserAccess",
            "SecretsManagerReadWrite"
        ]
    );
    let both = iam
        .list_policies(&ctx(), &ListPoliciesRequest::default())
        .unwrap();
    assert_eq!(both.items.len(), 9, "All: the account's and AWS's");
    let team = iam
        .list_policies(
            &ctx(),
            &ListPoliciesRequest {
                path_prefix: Some("/team/".into()),
                scope: Some("Local".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(team.items.len(), 1);
    let first = iam
        .list_policies(
            &ctx(),
            &local(Paging {
                marker: None,
                max_items: Some(2),
            }),
        )
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = iam
        .list_policies(
            &ctx(),
            &local(Paging {
                marker: first.marker,
                max_items: Some(2),
            }),
        )
        .unwrap();
    assert_eq!(rest.items[0].policy_name, "c");
    assert!(rest.marker.is_none());
    let e = iam
        .list_policies(
            &ctx(),
            &ListPoliciesRequest {
                scope: Some("Mine".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(code(e).contains("Member must satisfy enum value set: [All, AWS, Local]"));
}

#[test]
fn state_survives_a_reload_and_failed_writes_change_nothing() {
    let (store, iam) = setup();
    create_role(&iam, "app", Some("/svc/"));
    let p = create_policy(&iam, "decrypt", DECRYPT);
    iam.attach_role_policy(&ctx(), Some("app"), Some(&p.arn))
        .unwrap();
    iam.put_role_policy(&ctx(), Some("app"), Some("read"), Some(READ))
        .unwrap();
    iam.create_policy_version(&ctx(), Some(&p.arn), Some(READ), true)
        .unwrap();

    let again = Iam::load(store.clone(), Arc::new(Fixed)).unwrap();
    assert_eq!(again.role(ACCOUNT, "app"), iam.role(ACCOUNT, "app"));
    assert_eq!(again.role_policy_documents(ACCOUNT, "app"), [READ, READ]);
    assert_eq!(
        again.get_policy(&ctx(), Some(&p.arn)).unwrap(),
        iam.get_policy(&ctx(), Some(&p.arn)).unwrap()
    );

    store.fail_commits(true);
    assert!(matches!(
        iam.detach_role_policy(&ctx(), Some("app"), Some(&p.arn)),
        Err(IamError::Store(_))
    ));
    assert!(iam
        .create_role(
            &ctx(),
            CreateRoleRequest {
                role_name: Some("new".into()),
                assume_role_policy_document: Some(TRUST.into()),
                ..Default::default()
            }
        )
        .is_err());
    store.fail_commits(false);
    assert_eq!(
        iam.get_policy(&ctx(), Some(&p.arn))
            .unwrap()
            .attachment_count,
        1
    );
    assert!(iam.role(ACCOUNT, "new").is_none());

    iam.reset();
    assert!(iam.role(ACCOUNT, "app").is_none());
}

#[test]
fn role_sessions_without_iam_permissions_are_refused() {
    let (_, iam) = setup();
    create_role(&iam, "app", None);
    let mut c = ctx();
    c.principal_arn = "arn:aws:sts::111122223333:assumed-role/app/s".into();
    c.role = Some(Arc::new(RoleSession::assumed_role(
        "app",
        "arn:aws:iam::111122223333:role/app",
        "s",
    )));
    assert_eq!(
        code(iam.get_role(&c, Some("app")).unwrap_err()),
        "AccessDenied: User: arn:aws:sts::111122223333:assumed-role/app/s is not authorized to perform: iam:GetRole on resource: arn:aws:iam::111122223333:role/app because no identity-based policy allows the iam:GetRole action"
    );
    let e = iam
        .list_policies(&c, &ListPoliciesRequest::default())
        .unwrap_err();
    assert!(code(e).contains("iam:ListPolicies on resource: arn:aws:iam::111122223333:policy/"));
}

const SM_RW: &str = "arn:aws:iam::aws:policy/SecretsManagerReadWrite";

#[test]
fn aws_managed_policies_are_read_attached_and_apply() {
    let (store, iam) = setup();
    create_role(&iam, "App", None);
    let p = iam.get_policy(&ctx(), Some(SM_RW)).unwrap();
    assert_eq!(p.policy_name, "SecretsManagerReadWrite");
    assert_eq!(p.arn, SM_RW);
    assert_eq!(p.path, "/");
    assert_eq!(p.default_version_id, "v6");
    assert!(p.is_attachable);
    assert_eq!(p.attachment_count, 0);
    assert!(p.policy_id.starts_with("ANPA") && p.policy_id.len() == 21);
    assert!(p.update_date.millis > p.create_date.millis);

    let v = iam
        .get_policy_version(&ctx(), Some(SM_RW), Some("v6"))
        .unwrap();
    assert!(v.is_default_version);
    assert!(v.document.unwrap().contains("\"secretsmanager:*\""));
    let versions = iam
        .list_policy_versions(&ctx(), Some(SM_RW), &Paging::default())
        .unwrap();
    assert_eq!(versions.items.len(), 1);
    assert!(code(
        iam.get_policy_version(&ctx(), Some(SM_RW), Some("v1"))
            .unwrap_err()
    )
    .starts_with("NoSuchEntity"));

    iam.attach_role_policy(&ctx(), Some("App"), Some(SM_RW))
        .unwrap();
    assert_eq!(
        iam.get_policy(&ctx(), Some(SM_RW))
            .unwrap()
            .attachment_count,
        1
    );
    let other = ctx_of("999999999999");
    assert_eq!(
        iam.get_policy(&other, Some(SM_RW))
            .unwrap()
            .attachment_count,
        0,
        "counted per account"
    );
    let docs = iam.role_policy_documents(ACCOUNT, "App");
    assert_eq!(docs.len(), 1);
    assert!(docs[0].contains("\"secretsmanager:*\""));
    let attached = iam
        .list_attached_role_policies(&ctx(), Some("App"), None, &Paging::default())
        .unwrap();
    assert_eq!(attached.items[0].policy_name, "SecretsManagerReadWrite");
    assert_eq!(attached.items[0].policy_arn, SM_RW);
    let entities = iam
        .list_entities_for_policy(
            &ctx(),
            &ListEntitiesForPolicyRequest {
                policy_arn: Some(SM_RW.into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(entities.items[0].name, "App");
    let only_attached = iam
        .list_policies(
            &ctx(),
            &ListPoliciesRequest {
                scope: Some("AWS".into()),
                only_attached: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(only_attached.items.len(), 1);

    // Survives a reload (the attachment is stored with the role).
    let reloaded = Iam::load(store, Arc::new(Fixed)).unwrap();
    assert_eq!(reloaded.role_policy_documents(ACCOUNT, "App").len(), 1);

    iam.detach_role_policy(&ctx(), Some("App"), Some(SM_RW))
        .unwrap();
    assert!(iam.role_policy_documents(ACCOUNT, "App").is_empty());

    // Unknown AWS managed policies, and other partitions' ARNs, are not found.
    for arn in [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws-cn:iam::aws:policy/SecretsManagerReadWrite",
    ] {
        assert!(code(iam.get_policy(&ctx(), Some(arn)).unwrap_err()).starts_with("NoSuchEntity"));
    }
    let cn = RequestContext {
        region: "cn-north-1".into(),
        ..ctx()
    };
    assert_eq!(
        iam.get_policy(
            &cn,
            Some("arn:aws-cn:iam::aws:policy/SecretsManagerReadWrite")
        )
        .unwrap()
        .arn,
        "arn:aws-cn:iam::aws:policy/SecretsManagerReadWrite"
    );
}

#[test]
fn aws_managed_policies_cannot_be_changed() {
    let (_, iam) = setup();
    let denied = |e: IamError| {
        let c = code(e);
        assert!(
            c.starts_with("AccessDenied: User: arn:aws:iam::111122223333:root is not authorized to perform: iam:")
                && c.ends_with(&format!("on resource: policy {SM_RW}")),
            "{c}"
        );
    };
    denied(iam.delete_policy(&ctx(), Some(SM_RW)).unwrap_err());
    denied(
        iam.create_policy_version(&ctx(), Some(SM_RW), Some(DECRYPT), true)
            .unwrap_err(),
    );
    denied(
        iam.delete_policy_version(&ctx(), Some(SM_RW), Some("v6"))
            .unwrap_err(),
    );
    denied(
        iam.set_default_policy_version(&ctx(), Some(SM_RW), Some("v6"))
            .unwrap_err(),
    );
    let tags = [Tag {
        key: "k".into(),
        value: "v".into(),
    }];
    denied(
        iam.tag_policy(&ctx(), Some(SM_RW), Some(&tags))
            .unwrap_err(),
    );
    denied(
        iam.untag_policy(&ctx(), Some(SM_RW), Some(&["k".to_string()]))
            .unwrap_err(),
    );
    let p = iam.get_policy(&ctx(), Some(SM_RW)).unwrap();
    assert_eq!(p.default_version_id, "v6");
    assert!(p.tags.is_empty());
}

#[test]
fn aws_managed_catalog_documents_are_valid_policies() {
    for m in aws_managed::CATALOG {
        document::validate(m.document, Kind::Managed).unwrap();
        coffer_policy::Policy::parse(m.document).unwrap();
    }
}

fn paging() -> Paging {
    Paging::default()
}

fn user_ctx(name: &str) -> RequestContext {
    let mut c = ctx();
    c.principal_arn = format!("arn:aws:iam::{ACCOUNT}:user/{name}");
    c.role = Some(Arc::new(RoleSession::user(name, &c.principal_arn)));
    c
}

#[test]
fn groups_lifecycle_members_policies_and_conflicts() {
    let (store, iam) = setup();
    let c = ctx();
    let g = iam.create_group(&c, Some("Devs"), Some("/eng/")).unwrap();
    assert!(g.group_id.starts_with("AGPA") && g.group_id.len() == 21);
    assert_eq!(g.arn, format!("arn:aws:iam::{ACCOUNT}:group/eng/Devs"));
    assert_eq!(
        code(iam.create_group(&c, Some("devs"), None).unwrap_err()),
        "EntityAlreadyExists: Group with name devs already exists."
    );
    assert_eq!(
        code(iam.get_group(&c, Some("nope"), &paging()).unwrap_err()),
        "NoSuchEntity: The group with name nope cannot be found."
    );
    iam.create_group(&c, Some("ops"), None).unwrap();
    let listed = iam.list_groups(&c, Some("/eng/"), &paging()).unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(iam.list_groups(&c, None, &paging()).unwrap().items.len(), 2);

    iam.create_user(&c, Some("alice"), None, None, None)
        .unwrap();
    iam.add_user_to_group(&c, Some("devs"), Some("alice"))
        .unwrap();
    iam.add_user_to_group(&c, Some("Devs"), Some("ALICE"))
        .unwrap();
    let (_, users) = iam.get_group(&c, Some("devs"), &paging()).unwrap();
    assert_eq!(users.items.len(), 1);
    assert_eq!(users.items[0].user_name, "alice");
    let mine = iam
        .list_groups_for_user(&c, Some("alice"), &paging())
        .unwrap();
    assert_eq!(mine.items[0].group_name, "Devs");

    // The group's policies are the user's.
    let p = create_policy(&iam, "decrypt", DECRYPT);
    iam.attach_group_policy(&c, Some("devs"), Some(&p.arn))
        .unwrap();
    iam.put_group_policy(&c, Some("devs"), Some("read"), Some(READ))
        .unwrap();
    assert_eq!(iam.user_policy_documents(ACCOUNT, "alice"), [DECRYPT, READ]);
    assert_eq!(
        iam.get_policy(&c, Some(&p.arn)).unwrap().attachment_count,
        1
    );
    let ents = iam
        .list_entities_for_policy(
            &c,
            &ListEntitiesForPolicyRequest {
                policy_arn: Some(p.arn.clone()),
                entity_filter: Some("Group".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(ents.items.len(), 1);
    assert_eq!(ents.items[0].kind, EntityKind::Group);
    assert_eq!(ents.items[0].name, "Devs");
    assert_eq!(
        code(iam.delete_policy(&c, Some(&p.arn)).unwrap_err()),
        "DeleteConflict: Cannot delete a policy attached to entities."
    );
    assert_eq!(
        iam.get_group_policy(&c, Some("devs"), Some("READ"))
            .unwrap(),
        ("Devs".into(), "read".into(), READ.into())
    );

    // Deletion conflicts, in AWS's order and words.
    assert_eq!(
        code(iam.delete_group(&c, Some("devs")).unwrap_err()),
        "DeleteConflict: Cannot delete entity, must remove users from group first."
    );
    assert_eq!(
        code(iam.delete_user(&c, Some("alice"), &|_| false).unwrap_err()),
        "DeleteConflict: Cannot delete entity, must remove users from group first."
    );
    iam.remove_user_from_group(&c, Some("devs"), Some("alice"))
        .unwrap();
    assert!(iam.user_policy_documents(ACCOUNT, "alice").is_empty());
    assert!(code(
        iam.remove_user_from_group(&c, Some("devs"), Some("alice"))
            .unwrap_err()
    )
    .starts_with("NoSuchEntity: "));
    assert_eq!(
        code(iam.delete_group(&c, Some("devs")).unwrap_err()),
        "DeleteConflict: Cannot delete entity, must detach all policies first."
    );
    iam.detach_group_policy(&c, Some("devs"), Some(&p.arn))
        .unwrap();
    assert_eq!(
        code(iam.delete_group(&c, Some("devs")).unwrap_err()),
        "DeleteConflict: Cannot delete entity, must delete policies first."
    );

    // A rename carries the members, the inline policies and survives a reload.
    iam.add_user_to_group(&c, Some("devs"), Some("alice"))
        .unwrap();
    iam.update_group(&c, Some("devs"), Some("builders"), Some("/b/"))
        .unwrap();
    assert_eq!(
        code(
            iam.update_group(&c, Some("builders"), Some("OPS"), None)
                .unwrap_err()
        ),
        "EntityAlreadyExists: Group with name OPS already exists."
    );
    let again = Iam::load(store.clone(), Arc::new(Fixed)).unwrap();
    let (g, users) = again.get_group(&c, Some("builders"), &paging()).unwrap();
    assert_eq!(g.arn, format!("arn:aws:iam::{ACCOUNT}:group/b/builders"));
    assert_eq!(users.items.len(), 1);
    assert_eq!(again.user_policy_documents(ACCOUNT, "alice"), [READ]);
    again
        .delete_group_policy(&c, Some("builders"), Some("read"))
        .unwrap();
    again
        .remove_user_from_group(&c, Some("builders"), Some("alice"))
        .unwrap();
    again.delete_group(&c, Some("builders")).unwrap();
    assert!(again.get_group(&c, Some("builders"), &paging()).is_err());
}

#[test]
fn group_quotas() {
    let (_, iam) = setup();
    let c = ctx();
    iam.create_user(&c, Some("u"), None, None, None).unwrap();
    for i in 0..10 {
        iam.create_group(&c, Some(&format!("g{i}")), None).unwrap();
        iam.add_user_to_group(&c, Some(&format!("g{i}")), Some("u"))
            .unwrap();
    }
    iam.create_group(&c, Some("g10"), None).unwrap();
    assert_eq!(
        code(
            iam.add_user_to_group(&c, Some("g10"), Some("u"))
                .unwrap_err()
        ),
        "LimitExceeded: Cannot exceed quota for GroupsPerUser: 10"
    );
    for i in 11..300 {
        iam.create_group(&c, Some(&format!("g{i}")), None).unwrap();
    }
    assert_eq!(
        code(iam.create_group(&c, Some("more"), None).unwrap_err()),
        "LimitExceeded: Cannot exceed quota for GroupsPerAccount: 300"
    );
    // Another account has its own quota.
    iam.create_group(&ctx_of("444455556666"), Some("more"), None)
        .unwrap();
    for i in 0..10 {
        let p = create_policy(&iam, &format!("p{i}"), READ);
        iam.attach_group_policy(&c, Some("g0"), Some(&p.arn))
            .unwrap();
    }
    let p = create_policy(&iam, "p10", READ);
    assert_eq!(
        code(
            iam.attach_group_policy(&c, Some("g0"), Some(&p.arn))
                .unwrap_err()
        ),
        "LimitExceeded: Cannot exceed quota for PoliciesPerGroup: 10"
    );
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/{}"}}]}}"#,
        "a".repeat(5100)
    );
    assert_eq!(
        code(
            iam.put_group_policy(&c, Some("g0"), Some("big"), Some(&big))
                .unwrap_err()
        ),
        "LimitExceeded: Maximum policy size of 5120 bytes exceeded for group g0"
    );
}

#[test]
fn permissions_boundaries_are_kept_shown_counted_and_enforced() {
    let (store, iam) = setup();
    let c = ctx();
    let boundary = create_policy(&iam, "only-decrypt", DECRYPT);
    let both = create_policy(
        &iam,
        "both",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Decrypt","iam:GetUser"],"Resource":"*"}]}"#,
    );
    let u = iam
        .create_user(&c, Some("bob"), None, Some(&boundary.arn), None)
        .unwrap();
    assert_eq!(
        u.permissions_boundary.as_deref(),
        Some(boundary.arn.as_str())
    );
    iam.attach_user_policy(&c, Some("bob"), Some(&both.arn))
        .unwrap();
    assert_eq!(
        iam.get_policy(&c, Some(&boundary.arn))
            .unwrap()
            .permissions_boundary_usage_count,
        1
    );
    let ents = iam
        .list_entities_for_policy(
            &c,
            &ListEntitiesForPolicyRequest {
                policy_arn: Some(boundary.arn.clone()),
                policy_usage_filter: Some("PermissionsBoundary".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(ents.items.len(), 1);
    assert_eq!(ents.items[0].kind, EntityKind::User);
    // iam:GetUser is allowed by the identity policy and not by the boundary.
    assert_eq!(
        code(iam.get_user(&user_ctx("bob"), None).unwrap_err()),
        format!("AccessDenied: User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: iam:GetUser on resource: arn:aws:iam::{ACCOUNT}:user/bob because no permissions boundary allows the iam:GetUser action")
    );
    iam.put_user_permissions_boundary(&c, Some("bob"), Some(&both.arn))
        .unwrap();
    assert_eq!(
        iam.get_user(&user_ctx("bob"), None)
            .unwrap()
            .permissions_boundary
            .as_deref(),
        Some(both.arn.as_str())
    );
    assert_eq!(
        code(iam.delete_policy(&c, Some(&both.arn)).unwrap_err()),
        "DeleteConflict: Cannot delete a policy attached to entities."
    );
    iam.delete_user_permissions_boundary(&c, Some("bob"))
        .unwrap();
    assert_eq!(
        iam.get_user(&c, Some("bob")).unwrap().permissions_boundary,
        None
    );
    assert!(code(
        iam.put_user_permissions_boundary(
            &c,
            Some("bob"),
            Some("arn:aws:iam::111122223333:policy/none")
        )
        .unwrap_err()
    )
    .starts_with("NoSuchEntity: Scope ARN: "));

    // Roles too, and the boundary survives a reload.
    iam.create_role(
        &c,
        CreateRoleRequest {
            role_name: Some("app".into()),
            assume_role_policy_document: Some(TRUST.into()),
            permissions_boundary: Some(boundary.arn.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let again = Iam::load(store.clone(), Arc::new(Fixed)).unwrap();
    assert_eq!(
        again
            .get_role(&c, Some("app"))
            .unwrap()
            .permissions_boundary,
        Some(boundary.arn.clone())
    );
    assert_eq!(
        again
            .boundary_document(EntityKind::Role, ACCOUNT, "app")
            .as_deref(),
        Some(DECRYPT)
    );
    again
        .delete_role_permissions_boundary(&c, Some("app"))
        .unwrap();
    assert_eq!(
        again.boundary_document(EntityKind::Role, ACCOUNT, "app"),
        None
    );
    again
        .put_role_permissions_boundary(&c, Some("app"), Some(&both.arn))
        .unwrap();
    assert_eq!(
        again
            .get_role(&c, Some("app"))
            .unwrap()
            .permissions_boundary,
        Some(both.arn)
    );
}

#[test]
fn a_renamed_user_keeps_its_policies_groups_and_attachments() {
    let (store, iam) = setup();
    let c = ctx();
    iam.create_user(&c, Some("old"), None, None, None).unwrap();
    iam.create_user(&c, Some("taken"), None, None, None)
        .unwrap();
    iam.create_group(&c, Some("g"), None).unwrap();
    iam.add_user_to_group(&c, Some("g"), Some("old")).unwrap();
    let p = create_policy(&iam, "decrypt", DECRYPT);
    iam.attach_user_policy(&c, Some("old"), Some(&p.arn))
        .unwrap();
    iam.put_user_policy(&c, Some("old"), Some("read"), Some(READ))
        .unwrap();
    let none = |_: &mut Transaction, _: &UserInfo, _: &UserInfo| Ok(());
    assert_eq!(
        code(
            iam.update_user(&c, Some("old"), Some("TAKEN"), None, &none, &|_, _| {})
                .unwrap_err()
        ),
        "EntityAlreadyExists: User with name TAKEN already exists."
    );
    assert_eq!(
        code(
            iam.update_user(&c, Some("gone"), Some("x"), None, &none, &|_, _| {})
                .unwrap_err()
        ),
        "NoSuchEntity: The user with name gone cannot be found."
    );
    let (before, after) = iam
        .update_user(&c, Some("old"), Some("new"), Some("/p/"), &none, &|_, _| {})
        .unwrap();
    assert_eq!(before.arn, format!("arn:aws:iam::{ACCOUNT}:user/old"));
    assert_eq!(after.arn, format!("arn:aws:iam::{ACCOUNT}:user/p/new"));
    assert_eq!(before.user_id, after.user_id);
    assert!(iam.user(ACCOUNT, "old").is_none());
    let again = Iam::load(store.clone(), Arc::new(Fixed)).unwrap();
    for i in [&iam, &again] {
        assert_eq!(i.user_policy_documents(ACCOUNT, "new"), [DECRYPT, READ]);
        assert_eq!(
            i.list_groups_for_user(&c, Some("new"), &paging())
                .unwrap()
                .items
                .len(),
            1
        );
        let ents = i
            .list_entities_for_policy(
                &c,
                &ListEntitiesForPolicyRequest {
                    policy_arn: Some(p.arn.clone()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(ents.items[0].name, "new");
        assert_eq!(i.get_policy(&c, Some(&p.arn)).unwrap().attachment_count, 1);
    }
    // A failed write changes nothing.
    store.fail_commits(true);
    assert!(iam
        .update_user(&c, Some("new"), Some("newer"), None, &none, &|_, _| {})
        .is_err());
    assert!(iam
        .attach_user_policy(&c, Some("new"), Some(SM_RW))
        .is_err());
    store.fail_commits(false);
    assert!(iam.user(ACCOUNT, "new").is_some());
    assert_eq!(
        iam.list_attached_user_policies(&c, Some("new"), None, &paging())
            .unwrap()
            .items
            .len(),
        1
    );
}

#[test]
fn a_rename_needs_the_permission_on_the_target_too() {
    let (_, iam) = setup();
    let c = ctx();
    iam.create_user(&c, Some("admin"), None, None, None)
        .unwrap();
    iam.create_user(&c, Some("old"), None, None, None).unwrap();
    iam.put_user_policy(
        &c,
        Some("admin"),
        Some("rename-old"),
        Some(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iam:UpdateUser","Resource":"arn:aws:iam::{ACCOUNT}:user/old"}}]}}"#
        )),
    )
    .unwrap();
    let none = |_: &mut Transaction, _: &UserInfo, _: &UserInfo| Ok(());
    let admin = user_ctx("admin");
    assert_eq!(
        code(
            iam.update_user(&admin, Some("old"), Some("new"), None, &none, &|_, _| {})
                .unwrap_err()
        ),
        format!("AccessDenied: User: arn:aws:iam::{ACCOUNT}:user/admin is not authorized to perform: iam:UpdateUser on resource: arn:aws:iam::{ACCOUNT}:user/new because no identity-based policy allows the iam:UpdateUser action")
    );
    iam.put_user_policy(
        &c,
        Some("admin"),
        Some("rename-old"),
        Some(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iam:UpdateUser","Resource":"arn:aws:iam::{ACCOUNT}:user/*"}}]}}"#
        )),
    )
    .unwrap();
    iam.update_user(&admin, Some("old"), Some("new"), None, &none, &|_, _| {})
        .unwrap();
    assert!(iam.user(ACCOUNT, "new").is_some());
}
