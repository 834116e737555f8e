//! Unit tests of the Secrets Manager service over an in-memory store and a fake KMS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use coffer_core::{Clock, RequestContext};
use coffer_model::secretsmanager::*;
use coffer_model::{Blob, Timestamp};
use coffer_store::{FaultStore, Store};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use zeroize::Zeroizing;

// ----- fakes ------------------------------------------------------------------------------

/// The service's store in these tests: memory behind a [`FaultStore`], so a test can make
/// commits fail.
pub(super) type TestStore = FaultStore;

/// Every byte the service's tables hold, to search for plaintext.
pub(super) trait AllBytes {
    fn all_bytes(&self) -> Vec<u8>;
}

impl AllBytes for FaultStore {
    fn all_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for table in [crate::record::SECRET_TABLE, crate::record::VERSION_TABLE] {
            for (k, v) in self.scan(table).unwrap() {
                out.extend_from_slice(table.as_bytes());
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(&v);
            }
        }
        out
    }
}

struct FakeKey {
    material: Vec<u8>,
    enabled: bool,
}

/// Keys per (region, key ID); aliases per (region, alias name). Multi-region keys are the same
/// ID with the same material in several regions.
#[derive(Default)]
pub(super) struct FakeKms {
    keys: Mutex<HashMap<(String, String), FakeKey>>,
    aliases: Mutex<HashMap<(String, String), String>>,
}

pub(super) const ACCOUNT: &str = "123456789012";
pub(super) const EU_C: &str = "eu-central-1";
pub(super) const EU_W: &str = "eu-west-1";

fn key_arn(region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
}

impl FakeKms {
    pub(super) fn add_key(&self, regions: &[&str], id: &str) {
        let material = coffer_crypto::random::bytes(32).unwrap().to_vec();
        for r in regions {
            self.keys.lock().insert(
                (r.to_string(), id.to_string()),
                FakeKey {
                    material: material.clone(),
                    enabled: true,
                },
            );
        }
    }
    pub(super) fn set_enabled(&self, region: &str, id: &str, enabled: bool) {
        if let Some(k) = self
            .keys
            .lock()
            .get_mut(&(region.to_string(), id.to_string()))
        {
            k.enabled = enabled;
        }
    }
    fn alias(&self, region: &str, alias: &str, id: &str) {
        self.aliases
            .lock()
            .insert((region.to_string(), alias.to_string()), id.to_string());
    }
    fn resolve(&self, region: &str, r: &str) -> Result<String, KeyFailure> {
        let id = if let Some(rest) = r.strip_prefix(&format!("arn:aws:kms:{region}:{ACCOUNT}:")) {
            if let Some(id) = rest.strip_prefix("key/") {
                id.to_string()
            } else {
                self.aliases
                    .lock()
                    .get(&(region.to_string(), rest.to_string()))
                    .cloned()
                    .ok_or_else(|| KeyFailure::NotFound(format!("Alias {r} is not found.")))?
            }
        } else if r.starts_with("alias/") {
            self.aliases
                .lock()
                .get(&(region.to_string(), r.to_string()))
                .cloned()
                .ok_or_else(|| {
                    KeyFailure::NotFound(format!(
                        "Alias arn:aws:kms:{region}:{ACCOUNT}:{r} is not found."
                    ))
                })?
        } else {
            r.to_string()
        };
        if !self
            .keys
            .lock()
            .contains_key(&(region.to_string(), id.clone()))
        {
            return Err(KeyFailure::NotFound(format!(
                "Key '{}' does not exist",
                key_arn(region, &id)
            )));
        }
        Ok(id)
    }
    fn usable(&self, region: &str, id: &str) -> Result<Vec<u8>, KeyFailure> {
        let keys = self.keys.lock();
        let k = keys
            .get(&(region.to_string(), id.to_string()))
            .ok_or_else(|| {
                KeyFailure::NotFound(format!("Key '{}' does not exist", key_arn(region, id)))
            })?;
        if !k.enabled {
            return Err(KeyFailure::Disabled(format!(
                "{} is disabled.",
                key_arn(region, id)
            )));
        }
        Ok(k.material.clone())
    }
}

fn ctx_bytes(enc: &BTreeMap<String, String>) -> Vec<u8> {
    serde_json::to_vec(enc).unwrap()
}

impl KeyProvider for FakeKms {
    fn key_arn(&self, ctx: &RequestContext, key_ref: &str) -> Result<String, KeyFailure> {
        Ok(key_arn(&ctx.region, &self.resolve(&ctx.region, key_ref)?))
    }
    fn default_key_arn(&self, ctx: &RequestContext) -> Result<String, KeyFailure> {
        let alias = "alias/aws/secretsmanager";
        if self.resolve(&ctx.region, alias).is_err() {
            let id = format!("default-{}", ctx.region);
            self.add_key(&[&ctx.region], &id);
            self.alias(&ctx.region, alias, &id);
        }
        self.key_arn(ctx, alias)
    }
    fn generate_data_key(
        &self,
        ctx: &RequestContext,
        key_ref: &str,
        enc_ctx: &BTreeMap<String, String>,
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), KeyFailure> {
        let id = self.resolve(&ctx.region, key_ref)?;
        let kek = self.usable(&ctx.region, &id)?;
        let dk = coffer_crypto::random::bytes(32).unwrap();
        let sealed = coffer_crypto::aead::seal(&kek, &ctx_bytes(enc_ctx), &dk).unwrap();
        let mut blob = vec![u8::try_from(id.len()).unwrap()];
        blob.extend_from_slice(id.as_bytes());
        blob.extend_from_slice(&sealed);
        Ok((dk, blob))
    }
    fn decrypt(
        &self,
        ctx: &RequestContext,
        blob: &[u8],
        enc_ctx: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        let n = usize::from(blob[0]);
        let id = std::str::from_utf8(&blob[1..=n]).unwrap();
        let kek = self.usable(&ctx.region, id)?;
        coffer_crypto::aead::open(&kek, &ctx_bytes(enc_ctx), &blob[n + 1..])
            .map_err(|_| KeyFailure::InvalidState("InvalidCiphertextException".into()))
    }
}

pub(super) struct TestClock(pub(super) AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

struct Env {
    store: Arc<TestStore>,
    kms: Arc<FakeKms>,
    clock: Arc<TestClock>,
    sm: SecretsManager,
}

pub(super) const T0: i64 = 1_700_000_000_123;

impl Env {
    fn new() -> Self {
        let store = Arc::new(FaultStore::memory());
        let kms = Arc::new(FakeKms::default());
        kms.add_key(&[EU_C, EU_W], "mrk-1");
        kms.add_key(&[EU_C], "k-central");
        kms.alias(EU_C, "alias/mine", "k-central");
        let clock = Arc::new(TestClock(AtomicI64::new(T0)));
        let sm = SecretsManager::load(store.clone(), kms.clone(), clock.clone()).unwrap();
        Self {
            store,
            kms,
            clock,
            sm,
        }
    }
    fn reload(&self) -> SecretsManager {
        SecretsManager::load(self.store.clone(), self.kms.clone(), self.clock.clone()).unwrap()
    }
    fn advance_days(&self, d: i64) {
        self.clock.0.fetch_add(d * 86_400_000, Ordering::SeqCst);
    }
}

pub(super) fn ctx(region: &str) -> RequestContext {
    RequestContext {
        account_id: ACCOUNT.into(),
        region: region.into(),
        principal_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
        role: None,
        secure_transport: false,
    }
}

pub(super) fn token(n: u32) -> String {
    format!("terraform-2024010112000000000000{n:04}")
}

pub(super) fn text(s: &str) -> Option<SecretText> {
    Some(SecretText::new(s.to_string()))
}

pub(super) fn id(s: &str) -> Option<String> {
    Some(s.to_string())
}

fn create(
    sm: &SecretsManager,
    region: &str,
    name: &str,
    value: Option<&str>,
) -> CreateSecretResponse {
    sm.create_secret(
        &ctx(region),
        CreateSecretRequest {
            name: id(name),
            client_request_token: Some(token(1)),
            secret_string: value.and_then(text),
            ..Default::default()
        },
    )
    .unwrap()
}

fn put(
    sm: &SecretsManager,
    sid: &str,
    tok: &str,
    value: &str,
) -> Result<PutSecretValueResponse, SmError> {
    sm.put_secret_value(
        &ctx(EU_C),
        PutSecretValueRequest {
            secret_id: id(sid),
            client_request_token: id(tok),
            secret_string: text(value),
            ..Default::default()
        },
    )
}

fn get(sm: &SecretsManager, region: &str, sid: &str) -> Result<GetSecretValueResponse, SmError> {
    sm.get_secret_value(
        &ctx(region),
        GetSecretValueRequest {
            secret_id: id(sid),
            ..Default::default()
        },
    )
}

fn describe(
    sm: &SecretsManager,
    region: &str,
    sid: &str,
) -> Result<DescribeSecretResponse, SmError> {
    sm.describe_secret(&ctx(region), SecretIdRequest { secret_id: id(sid) })
}

fn list(sm: &SecretsManager, region: &str) -> Vec<SecretListEntry> {
    sm.list_secrets(&ctx(region), ListSecretsRequest::default())
        .unwrap()
        .secret_list
        .unwrap()
}

fn value_of(r: &GetSecretValueResponse) -> String {
    r.secret_string.as_ref().unwrap().as_str().to_string()
}

fn msg(e: SmError) -> String {
    e.to_string()
}

fn create_seed(env: &Env, name: &str) -> CreateSecretResponse {
    env.sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id(name),
                client_request_token: Some("terraform-20240101120000000000000001".into()),
                description: id(""),
                kms_key_id: id("mrk-1"),
                add_replica_regions: Some(vec![ReplicaRegionType {
                    region: id(EU_W),
                    kms_key_id: id("mrk-1"),
                }]),
                ..Default::default()
            },
        )
        .unwrap()
}

// ----- the seed scenario ------------------------------------------------------------------

#[test]
fn seed_flow_create_replicate_put_read_list_destroy() {
    let env = Env::new();
    let sm = &env.sm;
    let name = "name-of-secret-string";
    let created = create_seed(&env, name);
    let arn = created.arn.clone().unwrap();
    let prefix = format!("arn:aws:secretsmanager:{EU_C}:{ACCOUNT}:secret:{name}-");
    assert!(arn.starts_with(&prefix), "{arn}");
    let suffix = &arn[prefix.len()..];
    assert_eq!(suffix.len(), 6);
    assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(created.name.as_deref(), Some(name));
    assert_eq!(created.version_id, None);
    let rs = created.replication_status.unwrap();
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].region.as_deref(), Some(EU_W));
    assert_eq!(rs[0].kms_key_id.as_deref(), Some("mrk-1"));
    assert_eq!(rs[0].status.as_deref(), Some("InSync"));

    // Terraform's reads after create.
    let d = describe(sm, EU_C, &arn).unwrap();
    assert_eq!(d.arn.as_deref(), Some(arn.as_str()));
    assert_eq!(d.kms_key_id.as_deref(), Some("mrk-1"));
    assert_eq!(d.deleted_date, None);
    assert_eq!(d.primary_region.as_deref(), Some(EU_C));
    assert_eq!(
        d.replication_status.as_ref().unwrap()[0]
            .kms_key_id
            .as_deref(),
        Some("mrk-1")
    );
    assert_eq!(d.version_ids_to_stages, None);
    assert_eq!(d.created_date, Some(Timestamp::from_millis(T0)));
    let p = sm
        .get_resource_policy(
            &ctx(EU_C),
            NamedPolicyRequest {
                secret_id: id(&arn),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(p.resource_policy, None);
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        serde_json::json!({"ARN": arn, "Name": name})
    );

    // aws_secretsmanager_secret_version.
    let vt = "terraform-20240101120000000000000002";
    let put_resp = put(sm, &arn, vt, "actual-secret-string").unwrap();
    assert_eq!(put_resp.version_id.as_deref(), Some(vt));
    assert_eq!(
        put_resp.version_stages,
        Some(vec!["AWSCURRENT".to_string()])
    );
    let g = sm
        .get_secret_value(
            &ctx(EU_C),
            GetSecretValueRequest {
                secret_id: id(&arn),
                version_id: id(vt),
                version_stage: None,
            },
        )
        .unwrap();
    assert_eq!(value_of(&g), "actual-secret-string");
    assert_eq!(g.version_stages, Some(vec!["AWSCURRENT".to_string()]));
    assert_eq!(g.version_id.as_deref(), Some(vt));

    // The blog's checks: both regions list it with the same Name and KmsKeyId.
    for region in [EU_C, EU_W] {
        let l = list(sm, region);
        assert_eq!(l.len(), 1, "{region}");
        assert_eq!(l[0].name.as_deref(), Some(name));
        assert_eq!(l[0].kms_key_id.as_deref(), Some("mrk-1"));
        assert_eq!(l[0].primary_region.as_deref(), Some(EU_C));
        assert_eq!(l[0].owning_service, None);
    }
    let replica_arn = arn.replace(EU_C, EU_W);
    let rg = get(sm, EU_W, &replica_arn).unwrap();
    assert_eq!(value_of(&rg), "actual-secret-string");
    assert_eq!(rg.arn.as_deref(), Some(replica_arn.as_str()));
    assert_eq!(rg.version_id.as_deref(), Some(vt));
    let rd = describe(sm, EU_W, name).unwrap();
    assert_eq!(rd.primary_region.as_deref(), Some(EU_C));
    assert_eq!(rd.replication_status, None);
    assert_eq!(rd.kms_key_id.as_deref(), Some("mrk-1"));
    assert!(rd.last_accessed_date.is_some());
    // The replica's read shows in the primary's ReplicationStatus.
    let d = describe(sm, EU_C, &arn).unwrap();
    assert_eq!(
        d.replication_status.unwrap()[0].last_accessed_date,
        Some(Timestamp::from_millis(T0).truncate_to_day())
    );
    // The replica is read-only.
    let e = sm
        .put_secret_value(
            &ctx(EU_W),
            PutSecretValueRequest {
                secret_id: id(&replica_arn),
                client_request_token: Some(token(9)),
                secret_string: text("x"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidParameter(_)), "{e:?}");
    assert_eq!(
        msg(e),
        "Operation not permitted on a replica secret. Call must be made in primary secret's region."
    );

    // Destroy: delete with replicas refused, then remove regions, then delete.
    let e = sm
        .delete_secret(
            &ctx(EU_C),
            DeleteSecretRequest {
                secret_id: id(&arn),
                recovery_window_in_days: Some(30),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        msg(e),
        format!("You can't delete secret {arn} that still has replica regions [eu-west-1].")
    );
    let r = sm
        .remove_regions_from_replication(
            &ctx(EU_C),
            RemoveRegionsFromReplicationRequest {
                secret_id: id(&arn),
                remove_replica_regions: Some(vec![EU_W.into()]),
            },
        )
        .unwrap();
    assert_eq!(r.replication_status, Some(vec![]));
    assert!(list(sm, EU_W).is_empty());
    assert!(matches!(
        get(sm, EU_W, &replica_arn),
        Err(SmError::ResourceNotFound(_))
    ));
    let del = sm
        .delete_secret(
            &ctx(EU_C),
            DeleteSecretRequest {
                secret_id: id(&arn),
                recovery_window_in_days: Some(30),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        del.deletion_date,
        Some(Timestamp::from_millis(T0).plus_days(30))
    );
    let d = describe(sm, EU_C, &arn).unwrap();
    assert_eq!(d.deleted_date, Some(Timestamp::from_millis(T0)));
    assert_eq!(d.primary_region, None);
    let e = get(sm, EU_C, &arn).unwrap_err();
    assert_eq!(
        msg(e),
        "You can't perform this operation on the secret because it was marked for deletion."
    );
    assert!(list(sm, EU_C).is_empty());

    // Apply again: the name is reserved in the primary region, free in the replica region.
    let e = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id(name),
                client_request_token: Some(token(3)),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidRequest(_)));
    assert_eq!(
        msg(e),
        "You can't create this secret because a secret with this name is already scheduled for deletion."
    );
    create(sm, EU_W, name, Some("v"));
    // Force delete frees the name.
    sm.delete_secret(
        &ctx(EU_C),
        DeleteSecretRequest {
            secret_id: id(name),
            force_delete_without_recovery: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    let again = create_seed(&env, name);
    assert_ne!(again.arn, Some(arn.clone()));
    // The new replica could not take the name in eu-west-1.
    let rs = again.replication_status.unwrap();
    assert_eq!(rs[0].status.as_deref(), Some("Failed"));
    assert_eq!(
        rs[0].status_message.as_deref(),
        Some("Replication failed: Secret name name-of-secret-string already exists in region eu-west-1.")
    );
}

#[test]
fn replica_created_later_gets_all_versions_and_follows_changes() {
    let env = Env::new();
    let sm = &env.sm;
    let c = create(sm, EU_C, "app/db", Some("one"));
    let arn = c.arn.unwrap();
    put(sm, &arn, &token(2), "two").unwrap();
    let r = sm
        .replicate_secret_to_regions(
            &ctx(EU_C),
            ReplicateSecretToRegionsRequest {
                secret_id: id("app/db"),
                add_replica_regions: Some(vec![ReplicaRegionType {
                    region: id(EU_W),
                    kms_key_id: None,
                }]),
                force_overwrite_replica_secret: None,
            },
        )
        .unwrap();
    let st = &r.replication_status.unwrap()[0];
    assert_eq!(st.status.as_deref(), Some("InSync"));
    assert_eq!(st.kms_key_id.as_deref(), Some("alias/aws/secretsmanager"));
    assert_eq!(value_of(&get(sm, EU_W, "app/db").unwrap()), "two");
    let prev = sm
        .get_secret_value(
            &ctx(EU_W),
            GetSecretValueRequest {
                secret_id: id("app/db"),
                version_stage: id("AWSPREVIOUS"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(value_of(&prev), "one");
    // Changes to the primary reach the replica.
    put(sm, &arn, &token(3), "three").unwrap();
    sm.update_secret(
        &ctx(EU_C),
        UpdateSecretRequest {
            secret_id: id(&arn),
            description: id("the db"),
            ..Default::default()
        },
    )
    .unwrap();
    sm.tag_resource(
        &ctx(EU_C),
        TagResourceRequest {
            secret_id: id(&arn),
            tags: Some(vec![Tag {
                key: id("env"),
                value: id("prod"),
            }]),
        },
    )
    .unwrap();
    assert_eq!(value_of(&get(sm, EU_W, "app/db").unwrap()), "three");
    let d = describe(sm, EU_W, "app/db").unwrap();
    assert_eq!(d.description.as_deref(), Some("the db"));
    assert_eq!(d.tags.unwrap()[0].value.as_deref(), Some("prod"));
    assert_eq!(d.kms_key_id, None);
    assert_eq!(d.version_ids_to_stages.unwrap().len(), 2);
    // Replicas can't be tagged, updated or deleted directly.
    let e = sm
        .delete_secret(
            &ctx(EU_W),
            DeleteSecretRequest {
                secret_id: id("app/db"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidParameter(_)));
    // Replicating to the same region again, or to the primary's, is refused.
    for region in [EU_W, EU_C] {
        let e = sm
            .replicate_secret_to_regions(
                &ctx(EU_C),
                ReplicateSecretToRegionsRequest {
                    secret_id: id("app/db"),
                    add_replica_regions: Some(vec![ReplicaRegionType {
                        region: id(region),
                        kms_key_id: None,
                    }]),
                    force_overwrite_replica_secret: None,
                },
            )
            .unwrap_err();
        assert_eq!(msg(e), "Invalid replica region.");
    }
    // StopReplicationToReplica promotes the replica.
    sm.stop_replication_to_replica(
        &ctx(EU_W),
        SecretIdRequest {
            secret_id: id("app/db"),
        },
    )
    .unwrap();
    assert_eq!(describe(sm, EU_W, "app/db").unwrap().primary_region, None);
    assert_eq!(
        describe(sm, EU_C, "app/db").unwrap().replication_status,
        None
    );
    put_in(sm, EU_W, "app/db", &token(7), "local").unwrap();
    assert_eq!(value_of(&get(sm, EU_C, "app/db").unwrap()), "three");
}

fn put_in(
    sm: &SecretsManager,
    region: &str,
    sid: &str,
    tok: &str,
    value: &str,
) -> Result<PutSecretValueResponse, SmError> {
    sm.put_secret_value(
        &ctx(region),
        PutSecretValueRequest {
            secret_id: id(sid),
            client_request_token: id(tok),
            secret_string: text(value),
            ..Default::default()
        },
    )
}

#[test]
fn force_overwrite_replica_secret() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_W, "dup", Some("old"));
    let r = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("dup"),
                client_request_token: Some(token(1)),
                secret_string: text("new"),
                add_replica_regions: Some(vec![ReplicaRegionType {
                    region: id(EU_W),
                    kms_key_id: id("mrk-1"),
                }]),
                force_overwrite_replica_secret: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        r.replication_status.unwrap()[0].status.as_deref(),
        Some("InSync")
    );
    let g = get(sm, EU_W, "dup").unwrap();
    assert_eq!(value_of(&g), "new");
    assert_eq!(g.arn.unwrap(), r.arn.unwrap().replace(EU_C, EU_W));
    assert_eq!(list(sm, EU_W).len(), 1);
}

// ----- idempotency ------------------------------------------------------------------------

#[test]
fn idempotent_tokens() {
    let env = Env::new();
    let sm = &env.sm;
    let req = || CreateSecretRequest {
        name: id("idem"),
        client_request_token: Some(token(1)),
        secret_string: text("v1"),
        ..Default::default()
    };
    let a = sm.create_secret(&ctx(EU_C), req()).unwrap();
    let b = sm.create_secret(&ctx(EU_C), req()).unwrap();
    assert_eq!(a.arn, b.arn);
    assert_eq!(b.version_id.as_deref(), Some(token(1).as_str()));
    // Same token, other value; or other token: the secret exists.
    let mut other = req();
    other.secret_string = text("v2");
    let e = sm.create_secret(&ctx(EU_C), other).unwrap_err();
    assert!(matches!(e, SmError::ResourceExists(_)));
    assert_eq!(
        msg(e),
        "The operation failed because the secret idem already exists."
    );
    let mut other = req();
    other.client_request_token = Some(token(2));
    assert!(matches!(
        sm.create_secret(&ctx(EU_C), other),
        Err(SmError::ResourceExists(_))
    ));

    let p1 = put(sm, "idem", &token(5), "v5").unwrap();
    let p2 = put(sm, "idem", &token(5), "v5").unwrap();
    assert_eq!(p1.version_id, p2.version_id);
    assert_eq!(p2.version_stages, Some(vec!["AWSCURRENT".into()]));
    let e = put(sm, "idem", &token(5), "different").unwrap_err();
    assert!(matches!(e, SmError::ResourceExists(_)));
    assert_eq!(
        msg(e),
        "You can't modify an existing version, you can only create a new version."
    );
    // The retry did not add a version.
    let v = sm
        .list_secret_version_ids(
            &ctx(EU_C),
            ListSecretVersionIdsRequest {
                secret_id: id("idem"),
                include_deprecated: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(v.versions.unwrap().len(), 2);
}

#[test]
fn token_rules() {
    let env = Env::new();
    let sm = &env.sm;
    let e = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("t"),
                client_request_token: id("short"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        msg(e),
        "1 validation error detected: Value 'short' at 'clientRequestToken' failed to satisfy constraint: Member must have length greater than or equal to 32"
    );
    let e = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("t"),
                secret_string: text("v"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        msg(e),
        "You must provide a ClientRequestToken value. We recommend a UUID-type value."
    );
    // 64 characters is fine and becomes the VersionId.
    let long = "x".repeat(64);
    let r = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("t"),
                client_request_token: Some(long.clone()),
                secret_string: text("v"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(r.version_id, Some(long));
}

// ----- labels -----------------------------------------------------------------------------

fn stages(sm: &SecretsManager, sid: &str) -> BTreeMap<String, Vec<String>> {
    describe(sm, EU_C, sid)
        .unwrap()
        .version_ids_to_stages
        .unwrap_or_default()
}

#[test]
fn awscurrent_and_awsprevious_move() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_C, "s", Some("v1"));
    put(sm, "s", &token(2), "v2").unwrap();
    let m = stages(sm, "s");
    assert_eq!(m[&token(1)], vec!["AWSPREVIOUS"]);
    assert_eq!(m[&token(2)], vec!["AWSCURRENT"]);
    put(sm, "s", &token(3), "v3").unwrap();
    let m = stages(sm, "s");
    assert_eq!(m.len(), 2, "v1 is deprecated: {m:?}");
    assert_eq!(m[&token(2)], vec!["AWSPREVIOUS"]);
    assert_eq!(m[&token(3)], vec!["AWSCURRENT"]);
    assert_eq!(value_of(&get(sm, EU_C, "s").unwrap()), "v3");
    // A deprecated version can still be read by ID.
    let old = sm
        .get_secret_value(
            &ctx(EU_C),
            GetSecretValueRequest {
                secret_id: id("s"),
                version_id: Some(token(1)),
                version_stage: None,
            },
        )
        .unwrap();
    assert_eq!(value_of(&old), "v1");
    assert_eq!(old.version_stages, Some(vec![]));

    // A pending version leaves AWSCURRENT where it is.
    let r = sm
        .put_secret_value(
            &ctx(EU_C),
            PutSecretValueRequest {
                secret_id: id("s"),
                client_request_token: Some(token(4)),
                secret_string: text("v4"),
                version_stages: Some(vec!["AWSPENDING".into(), "CUSTOM".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        r.version_stages,
        Some(vec!["AWSPENDING".to_string(), "CUSTOM".to_string()])
    );
    assert_eq!(value_of(&get(sm, EU_C, "s").unwrap()), "v3");
    let pending = sm
        .get_secret_value(
            &ctx(EU_C),
            GetSecretValueRequest {
                secret_id: id("s"),
                version_stage: id("AWSPENDING"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(value_of(&pending), "v4");

    // UpdateSecretVersionStage: moving AWSCURRENT needs RemoveFromVersionId.
    let e = sm
        .update_secret_version_stage(
            &ctx(EU_C),
            UpdateSecretVersionStageRequest {
                secret_id: id("s"),
                version_stage: id("AWSCURRENT"),
                move_to_version_id: Some(token(4)),
                remove_from_version_id: None,
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidParameter(_)));
    sm.update_secret_version_stage(
        &ctx(EU_C),
        UpdateSecretVersionStageRequest {
            secret_id: id("s"),
            version_stage: id("AWSCURRENT"),
            move_to_version_id: Some(token(4)),
            remove_from_version_id: Some(token(3)),
        },
    )
    .unwrap();
    let m = stages(sm, "s");
    assert_eq!(m[&token(4)], vec!["AWSPENDING", "CUSTOM", "AWSCURRENT"]);
    assert_eq!(m[&token(3)], vec!["AWSPREVIOUS"]);
    assert!(!m.contains_key(&token(2)));
    assert_eq!(value_of(&get(sm, EU_C, "s").unwrap()), "v4");

    // Errors reading versions.
    let e = sm
        .get_secret_value(
            &ctx(EU_C),
            GetSecretValueRequest {
                secret_id: id("s"),
                version_id: Some(token(99)),
                version_stage: None,
            },
        )
        .unwrap_err();
    assert_eq!(
        msg(e),
        format!(
            "Secrets Manager can't find the specified secret value for VersionId: {}",
            token(99)
        )
    );
    let e = sm
        .get_secret_value(
            &ctx(EU_C),
            GetSecretValueRequest {
                secret_id: id("s"),
                version_stage: id("NOPE"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        msg(e),
        "Secrets Manager can't find the specified secret value for staging label: NOPE"
    );
    let e = sm
        .get_secret_value(
            &ctx(EU_C),
            GetSecretValueRequest {
                secret_id: id("s"),
                version_id: Some(token(3)),
                version_stage: id("AWSCURRENT"),
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidRequest(_)));
    // A secret without versions.
    create(sm, EU_C, "empty", None);
    let e = get(sm, EU_C, "empty").unwrap_err();
    assert!(matches!(e, SmError::ResourceNotFound(_)));
    assert_eq!(
        msg(e),
        "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"
    );
}

#[test]
fn update_secret_value_description_and_key() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_C, "u", Some("v1"));
    let r = sm
        .update_secret(
            &ctx(EU_C),
            UpdateSecretRequest {
                secret_id: id("u"),
                description: id("d"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(r.version_id, None);
    let r = sm
        .update_secret(
            &ctx(EU_C),
            UpdateSecretRequest {
                secret_id: id("u"),
                client_request_token: Some(token(2)),
                secret_binary: Some(Blob::new(vec![0, 1, 2, 255])),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(r.version_id, Some(token(2)));
    let g = get(sm, EU_C, "u").unwrap();
    assert_eq!(g.secret_string, None);
    assert_eq!(g.secret_binary.unwrap().as_slice(), &[0, 1, 2, 255]);
    // Changing the key re-encrypts the labelled versions under it.
    sm.update_secret(
        &ctx(EU_C),
        UpdateSecretRequest {
            secret_id: id("u"),
            kms_key_id: id("alias/mine"),
            ..Default::default()
        },
    )
    .unwrap();
    let d = describe(sm, EU_C, "u").unwrap();
    assert_eq!(d.kms_key_id.as_deref(), Some("alias/mine"));
    assert_eq!(d.description.as_deref(), Some("d"));
    env.kms.set_enabled(EU_C, "default-eu-central-1", false);
    assert!(get(sm, EU_C, "u").is_ok());
    let prev = sm
        .get_secret_value(
            &ctx(EU_C),
            GetSecretValueRequest {
                secret_id: id("u"),
                version_stage: id("AWSPREVIOUS"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(value_of(&prev), "v1");
}

// ----- deletion ---------------------------------------------------------------------------

#[test]
fn delete_restore_force_and_purge() {
    let env = Env::new();
    let sm = &env.sm;
    let arn = create(sm, EU_C, "d", Some("v")).arn.unwrap();
    let del = |req: DeleteSecretRequest| sm.delete_secret(&ctx(EU_C), req);
    let e = del(DeleteSecretRequest {
        secret_id: id("d"),
        recovery_window_in_days: Some(7),
        force_delete_without_recovery: Some(true),
    })
    .unwrap_err();
    assert_eq!(
        msg(e),
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
    );
    for w in [6, 31] {
        let e = del(DeleteSecretRequest {
            secret_id: id("d"),
            recovery_window_in_days: Some(w),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, SmError::InvalidParameter(_)));
        assert_eq!(
            msg(e),
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
        );
    }
    // Default window: 30 days.
    let r = del(DeleteSecretRequest {
        secret_id: id("d"),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        r.deletion_date,
        Some(Timestamp::from_millis(T0).plus_days(30))
    );
    let e = del(DeleteSecretRequest {
        secret_id: id("d"),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        msg(e),
        "You tried to perform the operation on a secret that's currently marked deleted."
    );
    for e in [
        put(sm, "d", &token(2), "x").unwrap_err(),
        sm.update_secret(
            &ctx(EU_C),
            UpdateSecretRequest {
                secret_id: id("d"),
                description: id("x"),
                ..Default::default()
            },
        )
        .unwrap_err(),
        sm.get_resource_policy(
            &ctx(EU_C),
            NamedPolicyRequest {
                secret_id: id("d"),
                ..Default::default()
            },
        )
        .unwrap_err(),
    ] {
        assert!(matches!(e, SmError::InvalidRequest(_)), "{e:?}");
        assert!(msg(e).contains("because it was marked for deletion"));
    }
    // Listed only with IncludePlannedDeletion.
    let l = sm
        .list_secrets(
            &ctx(EU_C),
            ListSecretsRequest {
                include_planned_deletion: Some(true),
                ..Default::default()
            },
        )
        .unwrap()
        .secret_list
        .unwrap();
    assert_eq!(l[0].deleted_date, Some(Timestamp::from_millis(T0)));
    // Restore.
    let r = sm
        .restore_secret(
            &ctx(EU_C),
            SecretIdRequest {
                secret_id: id(&arn),
            },
        )
        .unwrap();
    assert_eq!(r.arn.as_deref(), Some(arn.as_str()));
    assert_eq!(describe(sm, EU_C, "d").unwrap().deleted_date, None);
    assert_eq!(value_of(&get(sm, EU_C, "d").unwrap()), "v");

    // Purge after the window.
    del(DeleteSecretRequest {
        secret_id: id("d"),
        recovery_window_in_days: Some(7),
        ..Default::default()
    })
    .unwrap();
    env.advance_days(6);
    assert_eq!(sm.purge_due().unwrap(), 0);
    env.advance_days(1);
    assert_eq!(sm.purge_due().unwrap(), 1);
    assert!(matches!(
        describe(sm, EU_C, "d"),
        Err(SmError::ResourceNotFound(_))
    ));
    assert!(env.store.all_bytes().is_empty(), "store emptied");
    // The name is free.
    assert_ne!(create(sm, EU_C, "d", Some("v")).arn.unwrap(), arn);

    // Force delete of a scheduled secret works at once, and frees the name.
    del(DeleteSecretRequest {
        secret_id: id("d"),
        ..Default::default()
    })
    .unwrap();
    let r = del(DeleteSecretRequest {
        secret_id: id("d"),
        force_delete_without_recovery: Some(true),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(r.deletion_date, Some(env.clock.now()));
    assert!(matches!(
        describe(sm, EU_C, "d"),
        Err(SmError::ResourceNotFound(_))
    ));
    create(sm, EU_C, "d", Some("v"));
}

// ----- KMS failures -----------------------------------------------------------------------

#[test]
fn disabled_or_missing_key() {
    let env = Env::new();
    let sm = &env.sm;
    let arn = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("k"),
                client_request_token: Some(token(1)),
                secret_string: text("v"),
                kms_key_id: Some(key_arn(EU_C, "k-central")),
                ..Default::default()
            },
        )
        .unwrap()
        .arn
        .unwrap();
    assert_eq!(
        describe(sm, EU_C, "k").unwrap().kms_key_id,
        Some(key_arn(EU_C, "k-central"))
    );
    env.kms.set_enabled(EU_C, "k-central", false);
    let e = get(sm, EU_C, &arn).unwrap_err();
    assert!(matches!(e, SmError::DecryptionFailure(_)), "{e:?}");
    assert_eq!(
        msg(e),
        format!("{} is disabled.", key_arn(EU_C, "k-central"))
    );
    let e = put(sm, &arn, &token(2), "w").unwrap_err();
    assert!(matches!(e, SmError::EncryptionFailure(_)), "{e:?}");
    // Nothing was written.
    assert_eq!(stages(sm, "k").len(), 1);
    env.kms.set_enabled(EU_C, "k-central", true);
    assert_eq!(value_of(&get(sm, EU_C, &arn).unwrap()), "v");

    let e = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("k2"),
                client_request_token: Some(token(1)),
                secret_string: text("v"),
                kms_key_id: id("alias/none"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::EncryptionFailure(_)), "{e:?}");
    assert!(list(sm, EU_C)
        .iter()
        .all(|s| s.name.as_deref() != Some("k2")));

    // A replica whose key can't be used fails, the primary is created.
    env.kms.set_enabled(EU_W, "mrk-1", false);
    let r = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("k3"),
                client_request_token: Some(token(1)),
                secret_string: text("v"),
                kms_key_id: id("mrk-1"),
                add_replica_regions: Some(vec![ReplicaRegionType {
                    region: id(EU_W),
                    kms_key_id: id("mrk-1"),
                }]),
                ..Default::default()
            },
        )
        .unwrap();
    let st = &r.replication_status.unwrap()[0];
    assert_eq!(st.status.as_deref(), Some("Failed"));
    assert_eq!(
        st.status_message.as_deref(),
        Some(
            format!(
                "Replication failed: {} is disabled.",
                key_arn(EU_W, "mrk-1")
            )
            .as_str()
        )
    );
    assert!(list(sm, EU_W).is_empty());
    // A failed replica still blocks DeleteSecret until removed.
    assert!(sm
        .delete_secret(
            &ctx(EU_C),
            DeleteSecretRequest {
                secret_id: id("k3"),
                force_delete_without_recovery: Some(true),
                ..Default::default()
            },
        )
        .is_err());
}

// ----- durability -------------------------------------------------------------------------

#[test]
fn restart_sees_everything_and_store_holds_no_plaintext() {
    let env = Env::new();
    let sm = &env.sm;
    let seed = create_seed(&env, "persisted");
    let arn = seed.arn.unwrap();
    put(sm, &arn, &token(2), "actual-secret-string").unwrap();
    sm.create_secret(
        &ctx(EU_C),
        CreateSecretRequest {
            name: id("bin"),
            client_request_token: Some(token(1)),
            secret_binary: Some(Blob::new(b"binary-plaintext-value".to_vec())),
            tags: Some(vec![Tag {
                key: id("a"),
                value: id("b"),
            }]),
            ..Default::default()
        },
    )
    .unwrap();
    sm.put_resource_policy(
        &ctx(EU_C),
        PutResourcePolicyRequest {
            policy_name: None,
            secret_id: id("bin"),
            resource_policy: id(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#),
            block_public_policy: None,
        },
    )
    .unwrap();
    get(sm, EU_C, "bin").unwrap();
    // A later write persists the read time.
    sm.tag_resource(
        &ctx(EU_C),
        TagResourceRequest {
            secret_id: id("bin"),
            tags: Some(vec![Tag {
                key: id("c"),
                value: id("d"),
            }]),
        },
    )
    .unwrap();

    let bytes = env.store.all_bytes();
    let hay = String::from_utf8_lossy(&bytes).to_string();
    for needle in ["actual-secret-string", "binary-plaintext-value"] {
        assert!(!hay.contains(needle), "{needle} stored in plaintext");
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, needle);
        assert!(!hay.contains(&b64[..16]), "{needle} stored base64-encoded");
    }
    assert!(hay.contains("\"v\":1"));

    let sm2 = env.reload();
    assert_eq!(
        value_of(&get(&sm2, EU_C, &arn).unwrap()),
        "actual-secret-string"
    );
    assert_eq!(
        value_of(&get(&sm2, EU_W, &arn.replace(EU_C, EU_W)).unwrap()),
        "actual-secret-string"
    );
    let d = describe(&sm2, EU_C, "bin").unwrap();
    assert_eq!(d.tags.unwrap().len(), 2);
    assert!(d.last_accessed_date.is_some());
    assert_eq!(
        get(&sm2, EU_C, "bin")
            .unwrap()
            .secret_binary
            .unwrap()
            .as_slice(),
        b"binary-plaintext-value"
    );
    assert!(sm2
        .get_resource_policy(
            &ctx(EU_C),
            NamedPolicyRequest {
                secret_id: id("bin"),
                ..Default::default()
            }
        )
        .unwrap()
        .resource_policy
        .is_some());
    assert_eq!(
        describe(&sm2, EU_C, &arn)
            .unwrap()
            .replication_status
            .unwrap()[0]
            .status
            .as_deref(),
        Some("InSync")
    );
    // Reset empties memory only.
    sm2.reset();
    assert!(list(&sm2, EU_C).is_empty());
    assert_eq!(list(&env.reload(), EU_C).len(), 2);
}

#[test]
fn failed_commit_changes_nothing() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_C, "f", Some("v1"));
    env.store.fail_commits(true);
    assert!(matches!(
        put(sm, "f", &token(2), "v2"),
        Err(SmError::Store(_))
    ));
    assert!(sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("g"),
                ..Default::default()
            }
        )
        .is_err());
    env.store.fail_commits(false);
    assert_eq!(value_of(&get(sm, EU_C, "f").unwrap()), "v1");
    assert_eq!(stages(sm, "f").len(), 1);
    assert_eq!(list(sm, EU_C).len(), 1);
    // The same token can be used now.
    put(sm, "f", &token(2), "v2").unwrap();
}

// ----- lookup and validation --------------------------------------------------------------

#[test]
fn secret_ids_name_arn_partial_arn() {
    let env = Env::new();
    let sm = &env.sm;
    let arn = create(sm, EU_C, "path/to/x-1", Some("v")).arn.unwrap();
    let partial = &arn[..arn.len() - 7];
    for sid in ["path/to/x-1", arn.as_str(), partial] {
        assert_eq!(value_of(&get(sm, EU_C, sid).unwrap()), "v", "{sid}");
    }
    let e = get(sm, EU_C, "path/to/x").unwrap_err();
    assert!(matches!(e, SmError::ResourceNotFound(_)));
    assert_eq!(msg(e), "Secrets Manager can't find the specified secret.");
    // Another region does not see it, even by ARN.
    assert!(matches!(
        get(sm, EU_W, &arn),
        Err(SmError::ResourceNotFound(_))
    ));
    let e = get(sm, EU_C, "bad name!").unwrap_err();
    assert!(matches!(e, SmError::Validation(_)));
    assert_eq!(
        msg(e),
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
    );
    let e = sm
        .get_secret_value(&ctx(EU_C), GetSecretValueRequest::default())
        .unwrap_err();
    assert_eq!(
        msg(e),
        "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null"
    );
    let e = sm
        .create_secret(&ctx(EU_C), CreateSecretRequest::default())
        .unwrap_err();
    assert_eq!(
        msg(e),
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    );
    let e = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("both"),
                client_request_token: Some(token(1)),
                secret_string: text("a"),
                secret_binary: Some(Blob::new(vec![1])),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidParameter(_)));
    let e = sm
        .put_secret_value(
            &ctx(EU_C),
            PutSecretValueRequest {
                secret_id: id("path/to/x-1"),
                client_request_token: Some(token(3)),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        msg(e),
        "You must provide either SecretString or SecretBinary."
    );
    let e = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("r"),
                add_replica_regions: Some(vec![ReplicaRegionType {
                    region: id("Mars"),
                    kms_key_id: None,
                }]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::Validation(_)));
    assert!(msg(e).contains("Member must satisfy regular expression pattern: ^([a-z]+-)+\\d+$"));
}

#[test]
fn default_key_is_omitted_and_listed_as_default() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_C, "dk", Some("v"));
    let d = describe(sm, EU_C, "dk").unwrap();
    assert_eq!(d.kms_key_id, None);
    let json = serde_json::to_value(&d).unwrap();
    assert!(json.get("KmsKeyId").is_none());
    assert!(json.get("RotationEnabled").is_none());
    assert!(json.get("Tags").is_none());
    assert!(json.get("Description").is_none());
    let v = sm
        .list_secret_version_ids(
            &ctx(EU_C),
            ListSecretVersionIdsRequest {
                secret_id: id("dk"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        v.versions.unwrap()[0].kms_key_ids,
        Some(vec!["DefaultEncryptionKey".to_string()])
    );
}

#[test]
fn list_pagination_filters_and_tags() {
    let env = Env::new();
    let sm = &env.sm;
    for i in 0..5 {
        env.clock.0.fetch_add(1000, Ordering::SeqCst);
        sm.create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id(&format!("team-{i}")),
                description: id(if i % 2 == 0 { "Even one" } else { "odd" }),
                tags: Some(vec![Tag {
                    key: id("idx"),
                    value: id(&i.to_string()),
                }]),
                ..Default::default()
            },
        )
        .unwrap();
    }
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let r = sm
            .list_secrets(
                &ctx(EU_C),
                ListSecretsRequest {
                    max_results: Some(2),
                    next_token: token.clone(),
                    sort_order: id("asc"),
                    ..Default::default()
                },
            )
            .unwrap();
        names.extend(r.secret_list.unwrap().into_iter().map(|e| e.name.unwrap()));
        token = r.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["team-0", "team-1", "team-2", "team-3", "team-4"]);
    let f = |key: &str, values: &[&str]| {
        sm.list_secrets(
            &ctx(EU_C),
            ListSecretsRequest {
                filters: Some(vec![Filter {
                    key: id(key),
                    values: Some(values.iter().map(|v| v.to_string()).collect()),
                }]),
                ..Default::default()
            },
        )
        .unwrap()
        .secret_list
        .unwrap()
        .len()
    };
    assert_eq!(f("name", &["team-"]), 5);
    assert_eq!(f("name", &["team-1", "team-2"]), 2);
    assert_eq!(f("description", &["even"]), 3);
    assert_eq!(f("description", &["!even"]), 2);
    assert_eq!(f("tag-value", &["3"]), 1);
    assert_eq!(f("tag-key", &["idx"]), 5);
    assert_eq!(f("all", &["ODD"]), 2);
    assert_eq!(f("owning-service", &["x"]), 0);
    let e = sm
        .list_secrets(
            &ctx(EU_C),
            ListSecretsRequest {
                next_token: id("garbage"),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidNextToken(_)));
    let e = sm
        .list_secrets(
            &ctx(EU_C),
            ListSecretsRequest {
                max_results: Some(101),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::Validation(_)));
    // Untag.
    sm.untag_resource(
        &ctx(EU_C),
        UntagResourceRequest {
            secret_id: id("team-1"),
            tag_keys: Some(vec!["idx".into()]),
        },
    )
    .unwrap();
    // Tagged once, untagged: AWS answers an empty list, not an absent member.
    assert_eq!(describe(sm, EU_C, "team-1").unwrap().tags, Some(vec![]));
}

#[test]
fn policies() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_C, "p", None);
    let e = sm
        .put_resource_policy(
            &ctx(EU_C),
            PutResourcePolicyRequest {
                policy_name: None,
                secret_id: id("p"),
                resource_policy: id("{not json"),
                block_public_policy: None,
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::MalformedPolicyDocument(_)));
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    sm.put_resource_policy(
        &ctx(EU_C),
        PutResourcePolicyRequest {
            policy_name: None,
            secret_id: id("p"),
            resource_policy: id(doc),
            block_public_policy: Some(true),
        },
    )
    .unwrap();
    let g = sm
        .get_resource_policy(
            &ctx(EU_C),
            NamedPolicyRequest {
                secret_id: id("p"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(g.resource_policy.as_deref(), Some(doc));
    let v = sm
        .validate_resource_policy(
            &ctx(EU_C),
            ValidateResourcePolicyRequest {
                secret_id: None,
                resource_policy: id(doc),
            },
        )
        .unwrap();
    assert_eq!(v.policy_validation_passed, Some(true));
    sm.delete_resource_policy(
        &ctx(EU_C),
        NamedPolicyRequest {
            secret_id: id("p"),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        sm.get_resource_policy(
            &ctx(EU_C),
            NamedPolicyRequest {
                secret_id: id("p"),
                ..Default::default()
            }
        )
        .unwrap()
        .resource_policy,
        None
    );
}

#[test]
fn batch_get_and_random_password() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_C, "b1", Some("one"));
    create(sm, EU_C, "b2", Some("two"));
    let r = sm
        .batch_get_secret_value(
            &ctx(EU_C),
            BatchGetSecretValueRequest {
                secret_id_list: Some(vec!["b1".into(), "b2".into(), "nope".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    let vals = r.secret_values.unwrap();
    assert_eq!(vals.len(), 2);
    assert_eq!(vals[1].secret_string.as_ref().unwrap().as_str(), "two");
    let errs = r.errors.unwrap();
    assert_eq!(
        errs[0].error_code.as_deref(),
        Some("ResourceNotFoundException")
    );
    assert_eq!(errs[0].secret_id.as_deref(), Some("nope"));

    let p = sm
        .get_random_password(GetRandomPasswordRequest::default())
        .unwrap()
        .random_password
        .unwrap();
    assert_eq!(p.as_str().chars().count(), 32);
    let p = sm
        .get_random_password(GetRandomPasswordRequest {
            password_length: Some(20),
            exclude_punctuation: Some(true),
            exclude_uppercase: Some(true),
            exclude_characters: id("abc"),
            ..Default::default()
        })
        .unwrap()
        .random_password
        .unwrap();
    let p = p.as_str();
    assert_eq!(p.len(), 20);
    assert!(p
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert!(!p.contains(['a', 'b', 'c']));
    assert!(p.chars().any(|c| c.is_ascii_digit()));
    let e = sm
        .get_random_password(GetRandomPasswordRequest {
            password_length: Some(2),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidParameter(_)));
    assert!(sm
        .get_random_password(GetRandomPasswordRequest {
            password_length: Some(0),
            ..Default::default()
        })
        .is_err());
}

// ----- gaps of the first pass: forced deletion, tag limits, public policies, replicas, dates --

#[test]
fn forced_deletion_of_a_missing_secret_succeeds() {
    let env = Env::new();
    let sm = &env.sm;
    let force = |sid: &str| {
        sm.delete_secret(
            &ctx(EU_C),
            DeleteSecretRequest {
                secret_id: id(sid),
                force_delete_without_recovery: Some(true),
                ..Default::default()
            },
        )
    };
    let r = force("never-existed").unwrap();
    assert_eq!(r.name.as_deref(), Some("never-existed"));
    let arn = r.arn.unwrap();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:secretsmanager:{EU_C}:{ACCOUNT}:secret:never-existed-"
        )),
        "{arn}"
    );
    assert_eq!(r.deletion_date.unwrap().millis, T0);
    let full = format!("arn:aws:secretsmanager:{EU_C}:{ACCOUNT}:secret:gone-AbCdEf");
    assert_eq!(force(&full).unwrap().arn.as_deref(), Some(full.as_str()));
    // Deleting twice by force is fine too; without force a missing secret is not found.
    create(sm, EU_C, "twice", Some("v"));
    force("twice").unwrap();
    force("twice").unwrap();
    assert!(matches!(
        sm.delete_secret(
            &ctx(EU_C),
            DeleteSecretRequest {
                secret_id: id("twice"),
                ..Default::default()
            },
        ),
        Err(SmError::ResourceNotFound(_))
    ));
}

fn tags(keys: impl IntoIterator<Item = String>) -> Vec<Tag> {
    keys.into_iter()
        .map(|k| Tag {
            key: Some(k),
            value: Some("v".into()),
        })
        .collect()
}

#[test]
fn tag_limits_and_system_tags() {
    let env = Env::new();
    let sm = &env.sm;
    let too_many = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("many"),
                tags: Some(tags((0..51).map(|i| format!("k{i}")))),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&too_many, SmError::InvalidParameter(m) if m.contains("50 tags")),
        "{too_many:?}"
    );
    let system = sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("sys"),
                tags: Some(tags(["AWS:cloudformation:stack-name".to_string()])),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        msg(system),
        "You can't modify system tags. Tag key: 'AWS:cloudformation:stack-name'."
    );

    sm.create_secret(
        &ctx(EU_C),
        CreateSecretRequest {
            name: id("t"),
            tags: Some(tags((0..50).map(|i| format!("k{i}")))),
            ..Default::default()
        },
    )
    .unwrap();
    let tag = |keys: Vec<String>| {
        sm.tag_resource(
            &ctx(EU_C),
            TagResourceRequest {
                secret_id: id("t"),
                tags: Some(tags(keys)),
            },
        )
    };
    // Re-tagging existing keys does not add tags; a 51st is refused and nothing changes.
    tag(vec!["k0".into(), "k49".into()]).unwrap();
    assert!(matches!(
        tag(vec!["k50".into()]),
        Err(SmError::InvalidParameter(_))
    ));
    assert_eq!(describe(sm, EU_C, "t").unwrap().tags.unwrap().len(), 50);
    assert!(matches!(
        tag(vec!["aws:secretsmanager:x".into()]),
        Err(SmError::InvalidParameter(_))
    ));
    let untag = |keys: Vec<String>| {
        sm.untag_resource(
            &ctx(EU_C),
            UntagResourceRequest {
                secret_id: id("t"),
                tag_keys: Some(keys),
            },
        )
    };
    assert!(matches!(
        untag(vec!["aws:rds:primaryDBInstanceArn".into()]),
        Err(SmError::InvalidParameter(_))
    ));
    untag(vec!["k0".into()]).unwrap();
    tag(vec!["k50".into()]).unwrap();
    assert_eq!(describe(sm, EU_C, "t").unwrap().tags.unwrap().len(), 50);
}

#[test]
fn block_public_policy() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_C, "p", Some("v"));
    let put = |policy: &str, block: Option<bool>| {
        sm.put_resource_policy(
            &ctx(EU_C),
            PutResourcePolicyRequest {
                policy_name: None,
                secret_id: id("p"),
                resource_policy: Some(policy.to_string()),
                block_public_policy: block,
            },
        )
    };
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let org_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-12345"}}}]}"#;
    assert!(matches!(
        put(public, Some(true)),
        Err(SmError::PublicPolicy(_))
    ));
    let stored = |sm: &SecretsManager| {
        sm.get_resource_policy(
            &ctx(EU_C),
            NamedPolicyRequest {
                secret_id: id("p"),
                ..Default::default()
            },
        )
        .unwrap()
        .resource_policy
    };
    assert_eq!(stored(sm), None, "a refused policy is not stored");
    put(org_only, Some(true)).unwrap();
    assert_eq!(stored(sm).as_deref(), Some(org_only));
    // Without BlockPublicPolicy (AWS's default) a public policy is accepted.
    put(public, None).unwrap();
    put(public, Some(false)).unwrap();
    assert_eq!(stored(sm).as_deref(), Some(public));
    // A missing secret is reported as such before the policy is judged.
    assert!(matches!(
        sm.put_resource_policy(
            &ctx(EU_C),
            PutResourcePolicyRequest {
                policy_name: None,
                secret_id: id("nope"),
                resource_policy: Some(public.to_string()),
                block_public_policy: Some(true),
            },
        ),
        Err(SmError::ResourceNotFound(_))
    ));
}

#[test]
fn removing_a_region_that_is_not_a_replica() {
    let env = Env::new();
    let sm = &env.sm;
    sm.create_secret(
        &ctx(EU_C),
        CreateSecretRequest {
            name: id("r"),
            client_request_token: Some(token(1)),
            secret_string: text("v"),
            kms_key_id: id("mrk-1"),
            add_replica_regions: Some(vec![ReplicaRegionType {
                region: id(EU_W),
                kms_key_id: id("mrk-1"),
            }]),
            ..Default::default()
        },
    )
    .unwrap();
    let remove = |regions: &[&str]| {
        sm.remove_regions_from_replication(
            &ctx(EU_C),
            RemoveRegionsFromReplicationRequest {
                secret_id: id("r"),
                remove_replica_regions: Some(regions.iter().map(|r| r.to_string()).collect()),
            },
        )
    };
    let e = remove(&["us-east-1"]).unwrap_err();
    assert!(
        matches!(&e, SmError::InvalidParameter(m) if m == "Invalid replica region."),
        "{e:?}"
    );
    // One bad region refuses the whole request: the real replica stays.
    assert!(remove(&[EU_W, "us-east-1"]).is_err());
    assert_eq!(list(sm, EU_W).len(), 1);
    remove(&[EU_W]).unwrap();
    assert!(list(sm, EU_W).is_empty());
    assert!(matches!(remove(&[EU_W]), Err(SmError::InvalidParameter(_))));
}

#[test]
fn last_accessed_dates_are_flushed_without_a_write() {
    let env = Env::new();
    let sm = &env.sm;
    create(sm, EU_C, "read-me", Some("v"));
    assert_eq!(sm.flush_access_dates().unwrap(), 0);
    get(sm, EU_C, "read-me").unwrap();
    let day0 = Timestamp::from_millis(T0).truncate_to_day().millis;
    // Reads alone write nothing; a reload before the flush does not know the date.
    assert_eq!(
        describe(&env.reload(), EU_C, "read-me")
            .unwrap()
            .last_accessed_date,
        None
    );
    assert_eq!(sm.flush_access_dates().unwrap(), 1);
    let d = describe(&env.reload(), EU_C, "read-me").unwrap();
    assert_eq!(d.last_accessed_date.unwrap().millis, day0);
    // More reads the same day change nothing to write.
    get(sm, EU_C, "read-me").unwrap();
    get(sm, EU_C, "read-me").unwrap();
    assert_eq!(sm.flush_access_dates().unwrap(), 0);
    // The next day's first read moves the date: one more write, by the scheduler's run.
    env.advance_days(1);
    get(sm, EU_C, "read-me").unwrap();
    assert_eq!(sm.purge_due().unwrap(), 0);
    assert_eq!(sm.flush_access_dates().unwrap(), 0);
    let reloaded = env.reload();
    assert_eq!(
        describe(&reloaded, EU_C, "read-me")
            .unwrap()
            .last_accessed_date
            .unwrap()
            .millis,
        day0 + 86_400_000
    );
    let versions = reloaded
        .list_secret_version_ids(
            &ctx(EU_C),
            ListSecretVersionIdsRequest {
                secret_id: id("read-me"),
                ..Default::default()
            },
        )
        .unwrap()
        .versions
        .unwrap();
    assert_eq!(
        versions[0].last_accessed_date.unwrap().millis,
        day0 + 86_400_000
    );
    // A failed flush keeps the dates for the next one.
    env.advance_days(1);
    get(sm, EU_C, "read-me").unwrap();
    env.store.fail_commits(true);
    assert!(sm.flush_access_dates().is_err());
    env.store.fail_commits(false);
    assert_eq!(sm.flush_access_dates().unwrap(), 1);
}

/// Property test (#16 part 2): staging labels under any sequence of PutSecretValue and
/// UpdateSecretVersionStage, against a small reference model. After every step the labels
/// DescribeSecret reports, the value GetSecretValue returns for AWSCURRENT, and the labels a
/// reload from the store sees all equal the model's.
mod staging_model {
    use super::*;
    use proptest::prelude::*;

    const LABELS: [&str; 4] = ["AWSCURRENT", "AWSPREVIOUS", "CUSTOM", "MINE"];

    #[derive(Debug, Clone)]
    enum Step {
        /// A new version (new token).
        Put,
        /// Move `label` to version #`to` (modulo the versions made), naming the right
        /// RemoveFromVersionId when `right` and a wrong one otherwise.
        Move {
            label: usize,
            to: usize,
            right: bool,
        },
        /// Remove a custom `label` from the version holding it.
        Remove { label: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            2 => Just(Step::Put),
            4 => (0..4usize, 0..64usize, prop::bool::weighted(0.8))
                .prop_map(|(label, to, right)| Step::Move { label, to, right }),
            1 => (2..4usize).prop_map(|label| Step::Remove { label }),
        ]
    }

    /// The model: versions in creation order, and which version each label is on.
    struct Model {
        versions: Vec<String>,
        on: BTreeMap<&'static str, usize>,
    }

    impl Model {
        fn stages(&self) -> BTreeMap<String, Vec<String>> {
            let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (label, v) in &self.on {
                m.entry(self.versions[*v].clone())
                    .or_default()
                    .push(label.to_string());
            }
            m
        }
    }

    fn sorted(m: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
        m.into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k, v)
            })
            .collect()
    }

    fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
        let env = Env::new();
        let sm = &env.sm;
        create(sm, EU_C, "p", Some("value-1"));
        let mut model = Model {
            versions: vec![token(1)],
            on: BTreeMap::from([("AWSCURRENT", 0)]),
        };
        for (i, s) in steps.into_iter().enumerate() {
            match s {
                Step::Put => {
                    let n = model.versions.len() as u32 + 1;
                    put(sm, "p", &token(n), &format!("value-{n}")).unwrap();
                    let old = model.on["AWSCURRENT"];
                    model.versions.push(token(n));
                    model.on.insert("AWSCURRENT", model.versions.len() - 1);
                    model.on.insert("AWSPREVIOUS", old);
                }
                Step::Move { label, to, right } => {
                    let label = LABELS[label];
                    let to = to % model.versions.len();
                    let holder = model.on.get(label).copied();
                    if holder == Some(to) {
                        continue;
                    }
                    let remove_from = match (holder, right) {
                        (Some(h), true) => Some(model.versions[h].clone()),
                        (Some(_), false) | (None, false) => Some(model.versions[to].clone()),
                        (None, true) => None,
                    };
                    let r = sm.update_secret_version_stage(
                        &ctx(EU_C),
                        UpdateSecretVersionStageRequest {
                            secret_id: id("p"),
                            version_stage: id(label),
                            move_to_version_id: Some(model.versions[to].clone()),
                            remove_from_version_id: remove_from.clone(),
                        },
                    );
                    let ok = match holder {
                        Some(h) => remove_from.as_deref() == Some(model.versions[h].as_str()),
                        None => remove_from.is_none(),
                    };
                    if ok {
                        prop_assert!(r.is_ok(), "step {i}: move {label}: {r:?}");
                        if label == "AWSCURRENT" {
                            if let Some(h) = holder {
                                model.on.insert("AWSPREVIOUS", h);
                            }
                        }
                        model.on.insert(label, to);
                    } else {
                        prop_assert!(
                            matches!(r, Err(SmError::InvalidParameter(_))),
                            "step {i}: move {label} with a wrong RemoveFromVersionId: {r:?}"
                        );
                    }
                }
                Step::Remove { label } => {
                    let label = LABELS[label];
                    let Some(h) = model.on.get(label).copied() else {
                        continue;
                    };
                    let r = sm.update_secret_version_stage(
                        &ctx(EU_C),
                        UpdateSecretVersionStageRequest {
                            secret_id: id("p"),
                            version_stage: id(label),
                            move_to_version_id: None,
                            remove_from_version_id: Some(model.versions[h].clone()),
                        },
                    );
                    prop_assert!(r.is_ok(), "step {i}: remove {label}: {r:?}");
                    model.on.remove(label);
                }
            }
            prop_assert_eq!(
                sorted(stages(sm, "p")),
                sorted(model.stages()),
                "step {}",
                i
            );
            let current = model.on["AWSCURRENT"] + 1;
            prop_assert_eq!(
                value_of(&get(sm, EU_C, "p").unwrap()),
                format!("value-{current}")
            );
        }
        prop_assert_eq!(sorted(stages(&env.reload(), "p")), sorted(model.stages()));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn staging_labels_follow_the_model(steps in prop::collection::vec(step(), 1..40)) {
            run(steps)?;
        }
    }
}
