//! Unit tests of cross-account replication and named resource policies (ADR 0008).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::{id, text, token, FakeKms, TestClock, TestStore, EU_C, T0};
use super::*;
use coffer_core::RequestContext;
use coffer_model::secretsmanager::*;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

const PRIMARY_ACCOUNT: &str = "111111111111";
const REPLICA_ACCOUNT: &str = "222222222222";

fn in_account(account: &str) -> RequestContext {
    RequestContext {
        account_id: account.into(),
        region: EU_C.into(),
        principal_arn: format!("arn:aws:iam::{account}:root"),
        role: None,
        secure_transport: false,
    }
}

struct Env {
    store: Arc<TestStore>,
    kms: Arc<FakeKms>,
    clock: Arc<TestClock>,
    sm: SecretsManager,
    primary: RequestContext,
    replica: RequestContext,
}

impl Env {
    fn new() -> Self {
        let store = Arc::new(TestStore::memory());
        let kms = Arc::new(FakeKms::default());
        // The fake KMS knows keys per region; "replica-key" stands for the replica account's key.
        kms.add_key(&[EU_C], "primary-key");
        kms.add_key(&[EU_C], "replica-key");
        let clock = Arc::new(TestClock(AtomicI64::new(T0)));
        let sm = SecretsManager::load(store.clone(), kms.clone(), clock.clone()).unwrap();
        Self {
            store,
            kms,
            clock,
            sm,
            primary: in_account(PRIMARY_ACCOUNT),
            replica: in_account(REPLICA_ACCOUNT),
        }
    }

    fn reload(&self) -> SecretsManager {
        SecretsManager::load(self.store.clone(), self.kms.clone(), self.clock.clone()).unwrap()
    }

    /// A primary with value "v1" and an empty replica naming it; returns (primary ARN, replica ARN).
    fn pair(&self) -> (String, String) {
        let primary = self
            .sm
            .create_secret(
                &self.primary,
                CreateSecretRequest {
                    name: id("xa/db"),
                    client_request_token: Some(token(1)),
                    kms_key_id: id("primary-key"),
                    secret_string: text("v1"),
                    ..Default::default()
                },
            )
            .unwrap()
            .arn
            .unwrap();
        let replica = self
            .sm
            .create_secret(
                &self.replica,
                CreateSecretRequest {
                    name: id("xa/db-replica"),
                    client_request_token: Some(token(9)),
                    kms_key_id: id("replica-key"),
                    cross_account_primary_arn: Some(primary.clone()),
                    ..Default::default()
                },
            )
            .unwrap()
            .arn
            .unwrap();
        (primary, replica)
    }

    fn associate(&self, primary: &str, replica: &str) -> Result<String, SmError> {
        self.sm
            .associate_cross_account_replica(
                &self.primary,
                AssociateCrossAccountReplicaRequest {
                    secret_id: id(primary),
                    cross_account_replica_arn: id(replica),
                    ..Default::default()
                },
            )
            .map(|r| r.replication_status.unwrap())
    }

    fn value(&self, sm: &SecretsManager, replica: &str, stage: &str) -> Result<String, SmError> {
        sm.get_secret_value(
            &self.replica,
            GetSecretValueRequest {
                secret_id: id(replica),
                version_stage: id(stage),
                ..Default::default()
            },
        )
        .map(|r| r.secret_string.unwrap().as_str().to_string())
    }

    fn put_primary(&self, primary: &str, n: u32, value: &str) {
        self.sm
            .put_secret_value(
                &self.primary,
                PutSecretValueRequest {
                    secret_id: id(primary),
                    client_request_token: Some(token(n)),
                    secret_string: text(value),
                    ..Default::default()
                },
            )
            .unwrap();
    }

    fn describe(&self, ctx: &RequestContext, arn: &str) -> DescribeSecretResponse {
        self.sm
            .describe_secret(ctx, SecretIdRequest { secret_id: id(arn) })
            .unwrap()
    }
}

fn policy_names(sm: &SecretsManager, ctx: &RequestContext, arn: &str) -> Vec<String> {
    sm.list_resource_policies(
        ctx,
        ListResourcePoliciesRequest {
            secret_id: id(arn),
            ..Default::default()
        },
    )
    .unwrap()
    .resource_policies
    .into_iter()
    .map(|p| p.policy_name.unwrap())
    .collect()
}

#[test]
fn replica_waits_then_follows_the_primary_value() {
    let env = Env::new();
    let (primary, replica) = env.pair();
    let d = env.describe(&env.replica, &replica);
    let link = d.cross_account_primary.unwrap();
    assert_eq!(link.primary_secret_arn.as_deref(), Some(primary.as_str()));
    assert_eq!(link.replication_status.as_deref(), Some("Pending"));
    assert!(matches!(
        env.value(&env.sm, &replica, AWSCURRENT),
        Err(SmError::ResourceNotFound(_))
    ));
    assert_eq!(
        policy_names(&env.sm, &env.replica, &replica),
        vec!["cross-account-replication"]
    );

    assert_eq!(env.associate(&primary, &replica).unwrap(), "InSync");
    assert_eq!(env.value(&env.sm, &replica, AWSCURRENT).unwrap(), "v1");
    let d = env.describe(&env.primary, &primary);
    let entry = &d.cross_account_replicas.unwrap()[0];
    assert_eq!(entry.replica_secret_arn.as_deref(), Some(replica.as_str()));
    assert_eq!(entry.replication_status.as_deref(), Some("InSync"));
    // Associating again repairs, and answers the same.
    assert_eq!(env.associate(&primary, &replica).unwrap(), "InSync");

    env.put_primary(&primary, 2, "v2");
    assert_eq!(env.value(&env.sm, &replica, AWSCURRENT).unwrap(), "v2");
    assert_eq!(env.value(&env.sm, &replica, AWSPREVIOUS).unwrap(), "v1");
    let stages = env
        .describe(&env.replica, &replica)
        .version_ids_to_stages
        .unwrap();
    assert_eq!(stages[&token(2)], vec![AWSCURRENT.to_string()]);

    // A roll-back on the primary moves the replica's label; nothing is copied twice.
    env.sm
        .update_secret_version_stage(
            &env.primary,
            UpdateSecretVersionStageRequest {
                secret_id: id(&primary),
                version_stage: id(AWSCURRENT),
                move_to_version_id: Some(token(1)),
                remove_from_version_id: Some(token(2)),
            },
        )
        .unwrap();
    assert_eq!(env.value(&env.sm, &replica, AWSCURRENT).unwrap(), "v1");

    // Everything survives a restart; the primary's description does not replicate.
    let sm2 = env.reload();
    assert_eq!(env.value(&sm2, &replica, AWSCURRENT).unwrap(), "v1");
    assert!(env.describe(&env.replica, &replica).description.is_none());
}

#[test]
fn rules_on_both_sides() {
    let env = Env::new();
    let (primary, replica) = env.pair();
    env.associate(&primary, &replica).unwrap();
    let put_replica = env.sm.put_secret_value(
        &env.replica,
        PutSecretValueRequest {
            secret_id: id(&replica),
            client_request_token: Some(token(5)),
            secret_string: text("mine"),
            ..Default::default()
        },
    );
    assert!(matches!(put_replica, Err(SmError::InvalidRequest(_))));
    let delete = |ctx: &RequestContext, arn: &str| {
        env.sm.delete_secret(
            ctx,
            DeleteSecretRequest {
                secret_id: id(arn),
                force_delete_without_recovery: Some(true),
                ..Default::default()
            },
        )
    };
    assert!(matches!(
        delete(&env.primary, &primary),
        Err(SmError::InvalidRequest(_))
    ));
    assert!(matches!(
        delete(&env.replica, &replica),
        Err(SmError::InvalidRequest(_))
    ));

    let create = |ctx: &RequestContext, extra: CreateSecretRequest| {
        env.sm.create_secret(
            ctx,
            CreateSecretRequest {
                name: id("other"),
                cross_account_primary_arn: Some(primary.clone()),
                ..extra
            },
        )
    };
    let with_value = create(
        &env.replica,
        CreateSecretRequest {
            kms_key_id: id("replica-key"),
            client_request_token: Some(token(3)),
            secret_string: text("x"),
            ..Default::default()
        },
    );
    assert!(matches!(with_value, Err(SmError::InvalidParameter(_))));
    let no_key = create(&env.replica, CreateSecretRequest::default());
    assert!(matches!(no_key, Err(SmError::InvalidParameter(_))));
    let same_account = create(
        &env.primary,
        CreateSecretRequest {
            kms_key_id: id("primary-key"),
            ..Default::default()
        },
    );
    assert!(matches!(same_account, Err(SmError::InvalidParameter(_))));

    let missing = format!("{}x", replica.trim_end_matches(char::is_alphanumeric));
    assert!(matches!(
        env.associate(&primary, &missing),
        Err(SmError::ResourceNotFound(_))
    ));
    // A second replica of the same primary exceeds the limit of one.
    let second = create(
        &env.replica,
        CreateSecretRequest {
            kms_key_id: id("replica-key"),
            ..Default::default()
        },
    )
    .unwrap()
    .arn
    .unwrap();
    assert!(matches!(
        env.associate(&primary, &second),
        Err(SmError::LimitExceeded(_))
    ));
}

#[test]
fn failures_are_reported_then_recovered() {
    let env = Env::new();
    let (primary, replica) = env.pair();
    env.kms.set_enabled(EU_C, "replica-key", false);
    // Association checks KMS first and changes nothing when it refuses.
    assert!(matches!(
        env.associate(&primary, &replica),
        Err(SmError::InvalidRequest(_))
    ));
    let d = env.describe(&env.replica, &replica);
    assert_eq!(
        d.cross_account_primary
            .unwrap()
            .replication_status
            .as_deref(),
        Some("Pending")
    );
    env.kms.set_enabled(EU_C, "replica-key", true);
    env.associate(&primary, &replica).unwrap();

    env.kms.set_enabled(EU_C, "replica-key", false);
    env.put_primary(&primary, 2, "v2");
    let p = env
        .describe(&env.primary, &primary)
        .cross_account_replicas
        .unwrap();
    assert_eq!(p[0].replication_status.as_deref(), Some("Failed"));
    assert!(p[0].status_message.as_deref().unwrap().contains("disabled"));
    let r = env
        .describe(&env.replica, &replica)
        .cross_account_primary
        .unwrap();
    assert_eq!(r.replication_status.as_deref(), Some("Failed"));
    env.kms.set_enabled(EU_C, "replica-key", true);
    assert_eq!(env.value(&env.sm, &replica, AWSCURRENT).unwrap(), "v1");

    env.put_primary(&primary, 3, "v3");
    assert_eq!(env.value(&env.sm, &replica, AWSCURRENT).unwrap(), "v3");
    let p = env
        .describe(&env.primary, &primary)
        .cross_account_replicas
        .unwrap();
    assert_eq!(p[0].replication_status.as_deref(), Some("InSync"));
}

#[test]
fn either_side_ends_the_link() {
    let env = Env::new();
    let (primary, replica) = env.pair();
    env.associate(&primary, &replica).unwrap();
    env.sm
        .disassociate_cross_account_replica(
            &env.primary,
            DisassociateCrossAccountReplicaRequest {
                secret_id: id(&primary),
                cross_account_replica_arn: id(&replica),
            },
        )
        .unwrap();
    assert!(env
        .describe(&env.primary, &primary)
        .cross_account_replicas
        .is_none());
    let r = env
        .describe(&env.replica, &replica)
        .cross_account_primary
        .unwrap();
    assert_eq!(r.replication_status.as_deref(), Some("Detached"));
    env.put_primary(&primary, 2, "v2");
    assert_eq!(env.value(&env.sm, &replica, AWSCURRENT).unwrap(), "v1");

    env.sm
        .stop_replication_to_replica(
            &env.replica,
            SecretIdRequest {
                secret_id: id(&replica),
            },
        )
        .unwrap();
    assert!(env
        .describe(&env.replica, &replica)
        .cross_account_primary
        .is_none());
    assert!(policy_names(&env.sm, &env.replica, &replica).is_empty());
    env.sm
        .put_secret_value(
            &env.replica,
            PutSecretValueRequest {
                secret_id: id(&replica),
                client_request_token: Some(token(7)),
                secret_string: text("standalone"),
                ..Default::default()
            },
        )
        .unwrap();

    // The other order: the replica's owner stops first; the primary shows Detached.
    let env = Env::new();
    let (primary, replica) = env.pair();
    env.associate(&primary, &replica).unwrap();
    env.sm
        .stop_replication_to_replica(
            &env.replica,
            SecretIdRequest {
                secret_id: id(&replica),
            },
        )
        .unwrap();
    let p = env
        .describe(&env.primary, &primary)
        .cross_account_replicas
        .unwrap();
    assert_eq!(p[0].replication_status.as_deref(), Some("Detached"));
    env.put_primary(&primary, 2, "v2");
    assert_eq!(env.value(&env.sm, &replica, AWSCURRENT).unwrap(), "v1");
}

#[test]
fn named_resource_policies() {
    let env = Env::new();
    let (primary, replica) = env.pair();
    let ctx = &env.primary;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let put = |name: Option<&str>| {
        env.sm.put_resource_policy(
            ctx,
            PutResourcePolicyRequest {
                secret_id: id(&primary),
                resource_policy: id(doc),
                policy_name: name.map(str::to_string),
                ..Default::default()
            },
        )
    };
    assert!(matches!(
        put(Some("other")),
        Err(SmError::InvalidParameter(_))
    ));
    assert!(matches!(
        put(Some("bad name!")),
        Err(SmError::Validation(_))
    ));
    let r = put(None).unwrap();
    assert_eq!(r.policy_name.as_deref(), Some("default"));
    assert_eq!(policy_names(&env.sm, ctx, &primary), vec!["default"]);
    let get = |ctx: &RequestContext, arn: &str, name: &str| {
        env.sm.get_resource_policy(
            ctx,
            NamedPolicyRequest {
                secret_id: id(arn),
                policy_name: id(name),
            },
        )
    };
    assert_eq!(
        get(ctx, &primary, "default")
            .unwrap()
            .resource_policy
            .as_deref(),
        Some(doc)
    );
    assert!(matches!(
        get(ctx, &primary, "nope"),
        Err(SmError::ResourceNotFound(_))
    ));
    let managed = get(&env.replica, &replica, "cross-account-replication")
        .unwrap()
        .resource_policy
        .unwrap();
    assert!(managed.contains(PRIMARY_ACCOUNT));
    assert!(matches!(
        env.sm.delete_resource_policy(
            ctx,
            NamedPolicyRequest {
                secret_id: id(&primary),
                policy_name: id("other"),
            },
        ),
        Err(SmError::InvalidParameter(_))
    ));
    // Pagination: one name per page.
    env.sm
        .put_resource_policy(
            &env.replica,
            PutResourcePolicyRequest {
                secret_id: id(&replica),
                resource_policy: id(doc),
                ..Default::default()
            },
        )
        .unwrap();
    let first = env
        .sm
        .list_resource_policies(
            &env.replica,
            ListResourcePoliciesRequest {
                secret_id: id(&replica),
                max_results: Some(1),
                next_token: None,
            },
        )
        .unwrap();
    assert_eq!(
        first.resource_policies[0].policy_name.as_deref(),
        Some("default")
    );
    let second = env
        .sm
        .list_resource_policies(
            &env.replica,
            ListResourcePoliciesRequest {
                secret_id: id(&replica),
                max_results: Some(1),
                next_token: first.next_token,
            },
        )
        .unwrap();
    assert_eq!(
        second.resource_policies[0].policy_name.as_deref(),
        Some("cross-account-replication")
    );
    assert!(second.next_token.is_none());
}
