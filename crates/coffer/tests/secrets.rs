//! Secrets Manager behaviour as AWS documents it, through the AWS SDK for Rust.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, ReplicaRegionType, Tag};
use aws_sdk_secretsmanager::Client;
use common::*;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A ClientRequestToken (32–64 characters).
fn token(tag: &str) -> String {
    let t = unique(tag);
    format!("{t:-<40}")
}

async fn create(sm: &Client, name: &str, value: &str) -> String {
    sm.create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateSecret {name}: {e:?}"))
        .arn()
        .expect("ARN")
        .to_string()
}

async fn value_of(sm: &Client, id: &str) -> String {
    sm.get_secret_value()
        .secret_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetSecretValue {id}: {e:?}"))
        .secret_string()
        .expect("SecretString")
        .to_string()
}

#[tokio::test]
async fn create_describe_and_get_by_name_or_arn() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let account = server.account_id().await;
    let name = unique("app/db");
    let tok = token("create");
    let out = sm
        .create_secret()
        .name(&name)
        .description("db password")
        .secret_string("s3cr3t")
        .client_request_token(&tok)
        .tags(Tag::builder().key("env").value("test").build())
        .send()
        .await
        .expect("CreateSecret");
    let arn = out.arn().unwrap().to_string();
    let prefix = format!("arn:aws:secretsmanager:{PRIMARY}:{account}:secret:{name}-");
    assert!(arn.starts_with(&prefix), "{arn} should start with {prefix}");
    assert_eq!(
        arn.len(),
        prefix.len() + 6,
        "six characters after the name: {arn}"
    );
    assert_eq!(out.name(), Some(name.as_str()));
    assert_eq!(
        out.version_id(),
        Some(tok.as_str()),
        "VersionId is the ClientRequestToken"
    );

    for id in [&name, &arn] {
        let v = sm
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetSecretValue {id}: {e:?}"));
        assert_eq!(v.secret_string(), Some("s3cr3t"));
        assert_eq!(v.arn(), Some(arn.as_str()));
        assert_eq!(v.name(), Some(name.as_str()));
        assert_eq!(v.version_id(), Some(tok.as_str()));
        assert_eq!(v.version_stages(), ["AWSCURRENT".to_string()]);
        assert!(v.created_date().is_some());
    }

    let d = sm
        .describe_secret()
        .secret_id(&arn)
        .send()
        .await
        .expect("DescribeSecret");
    assert_eq!(d.arn(), Some(arn.as_str()));
    assert_eq!(d.name(), Some(name.as_str()));
    assert_eq!(d.description(), Some("db password"));
    assert_eq!(
        d.kms_key_id(),
        None,
        "omitted for the aws/secretsmanager key"
    );
    assert!(d.deleted_date().is_none());
    let created = d.created_date().expect("CreatedDate").secs();
    assert!((created - now_secs()).abs() < 300);
    assert_eq!(
        d.tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect::<Vec<_>>(),
        [("env", "test")]
    );
    let stages = d.version_ids_to_stages().expect("VersionIdsToStages");
    assert_eq!(stages.get(&tok), Some(&vec!["AWSCURRENT".to_string()]));

    // Duplicate name.
    expect_err(
        sm.create_secret()
            .name(&name)
            .secret_string("other")
            .send()
            .await,
        "ResourceExistsException",
    );
    // Unknown secret.
    expect_err(
        sm.get_secret_value().secret_id(unique("nope")).send().await,
        "ResourceNotFoundException",
    );
    expect_err(
        sm.describe_secret().secret_id(unique("nope")).send().await,
        "ResourceNotFoundException",
    );
    // Secrets are regional.
    expect_err(
        server
            .secrets("us-east-1")
            .describe_secret()
            .secret_id(&name)
            .send()
            .await,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn staging_labels_current_and_previous() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let name = unique("staged");
    let (t1, t2, t3) = (token("v1"), token("v2"), token("v3"));
    sm.create_secret()
        .name(&name)
        .secret_string("one")
        .client_request_token(&t1)
        .send()
        .await
        .unwrap();
    let p2 = sm
        .put_secret_value()
        .secret_id(&name)
        .secret_string("two")
        .client_request_token(&t2)
        .send()
        .await
        .expect("PutSecretValue v2");
    assert_eq!(p2.version_id(), Some(t2.as_str()));
    assert_eq!(p2.version_stages(), ["AWSCURRENT".to_string()]);
    assert_eq!(value_of(&sm, &name).await, "two");
    let prev = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .expect("GetSecretValue AWSPREVIOUS");
    assert_eq!(prev.secret_string(), Some("one"));
    assert_eq!(prev.version_id(), Some(t1.as_str()));
    assert_eq!(prev.version_stages(), ["AWSPREVIOUS".to_string()]);
    let by_id = sm
        .get_secret_value()
        .secret_id(&name)
        .version_id(&t1)
        .send()
        .await
        .expect("GetSecretValue by VersionId");
    assert_eq!(by_id.secret_string(), Some("one"));

    sm.put_secret_value()
        .secret_id(&name)
        .secret_string("three")
        .client_request_token(&t3)
        .send()
        .await
        .unwrap();
    assert_eq!(value_of(&sm, &name).await, "three");
    let prev = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("two"));

    // v1 has no label any more: it is deprecated, listed only with IncludeDeprecated.
    let list = sm
        .list_secret_version_ids()
        .secret_id(&name)
        .send()
        .await
        .expect("ListSecretVersionIds");
    let got: BTreeMap<String, Vec<String>> = list
        .versions()
        .iter()
        .map(|v| {
            (
                v.version_id().unwrap_or_default().to_string(),
                v.version_stages().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        got,
        BTreeMap::from([
            (t2.clone(), vec!["AWSPREVIOUS".to_string()]),
            (t3.clone(), vec!["AWSCURRENT".to_string()]),
        ])
    );
    let all = sm
        .list_secret_version_ids()
        .secret_id(&name)
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert!(
        all.versions()
            .iter()
            .any(|v| v.version_id() == Some(t1.as_str()) && v.version_stages().is_empty()),
        "deprecated version listed with IncludeDeprecated: {:?}",
        all.versions()
    );
    let d = sm.describe_secret().secret_id(&name).send().await.unwrap();
    let map = d.version_ids_to_stages().unwrap();
    assert_eq!(map.len(), 2, "only labelled versions: {map:?}");

    // Moving AWSCURRENT back by hand moves AWSPREVIOUS too.
    sm.update_secret_version_stage()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&t2)
        .remove_from_version_id(&t3)
        .send()
        .await
        .expect("UpdateSecretVersionStage");
    assert_eq!(value_of(&sm, &name).await, "two");
    let prev = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.version_id(), Some(t3.as_str()));

    expect_err(
        sm.get_secret_value()
            .secret_id(&name)
            .version_id(token("missing"))
            .send()
            .await,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn client_request_token_is_idempotent() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let name = unique("idem");
    create(&sm, &name, "first").await;
    let tok = token("idem");
    let a = sm
        .put_secret_value()
        .secret_id(&name)
        .secret_string("second")
        .client_request_token(&tok)
        .send()
        .await
        .unwrap();
    let b = sm
        .put_secret_value()
        .secret_id(&name)
        .secret_string("second")
        .client_request_token(&tok)
        .send()
        .await
        .expect("repeating a PutSecretValue with the same token and value succeeds");
    assert_eq!(a.version_id(), Some(tok.as_str()));
    assert_eq!(b.version_id(), Some(tok.as_str()));
    // The retry created nothing: AWSPREVIOUS is still the first value.
    let prev = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("first"));
    let all = sm
        .list_secret_version_ids()
        .secret_id(&name)
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(all.versions().len(), 2, "{:?}", all.versions());
    // Same token, different value: versions are immutable.
    expect_err(
        sm.put_secret_value()
            .secret_id(&name)
            .secret_string("different")
            .client_request_token(&tok)
            .send()
            .await,
        "ResourceExistsException",
    );
    assert_eq!(value_of(&sm, &name).await, "second");
}

#[tokio::test]
async fn delete_with_recovery_window_then_restore() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let name = unique("recover");
    let arn = create(&sm, &name, "keep me").await;

    // Out-of-range windows and both options at once are refused.
    for bad in [6, 31] {
        expect_client_err(
            sm.delete_secret()
                .secret_id(&name)
                .recovery_window_in_days(bad)
                .send()
                .await,
        );
    }
    expect_client_err(
        sm.delete_secret()
            .secret_id(&name)
            .recovery_window_in_days(7)
            .force_delete_without_recovery(true)
            .send()
            .await,
    );
    assert_eq!(value_of(&sm, &name).await, "keep me");

    let del = sm
        .delete_secret()
        .secret_id(&name)
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("DeleteSecret");
    assert_eq!(del.arn(), Some(arn.as_str()));
    assert_eq!(del.name(), Some(name.as_str()));
    let days = (del.deletion_date().expect("DeletionDate").secs() - now_secs()) as f64 / 86400.0;
    assert!((6.0..=8.0).contains(&days), "7 days out, got {days:.2}");

    let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert!(
        d.deleted_date().is_some(),
        "DescribeSecret shows DeletedDate"
    );
    let e = expect_err(
        sm.get_secret_value().secret_id(&arn).send().await,
        "InvalidRequestException",
    );
    assert!(
        e.message()
            .unwrap_or_default()
            .contains("marked for deletion"),
        "{:?}",
        e.message()
    );
    expect_err(
        sm.put_secret_value()
            .secret_id(&arn)
            .secret_string("x")
            .send()
            .await,
        "InvalidRequestException",
    );
    // The name stays reserved.
    let e = expect_err(
        sm.create_secret()
            .name(&name)
            .secret_string("new")
            .send()
            .await,
        "InvalidRequestException",
    );
    assert!(
        e.message()
            .unwrap_or_default()
            .contains("scheduled for deletion"),
        "Terraform retries on this text: {:?}",
        e.message()
    );
    // Hidden from ListSecrets unless asked for.
    let filter = Filter::builder()
        .key(FilterNameStringType::Name)
        .values(&name)
        .build();
    let l = sm
        .list_secrets()
        .filters(filter.clone())
        .send()
        .await
        .unwrap();
    assert!(
        !l.secret_list()
            .iter()
            .any(|s| s.name() == Some(name.as_str())),
        "a secret pending deletion is not listed by default"
    );
    let l = sm
        .list_secrets()
        .filters(filter)
        .include_planned_deletion(true)
        .send()
        .await
        .unwrap();
    assert!(l
        .secret_list()
        .iter()
        .any(|s| s.name() == Some(name.as_str()) && s.deleted_date().is_some()));

    let r = sm
        .restore_secret()
        .secret_id(&name)
        .send()
        .await
        .expect("RestoreSecret");
    assert_eq!(r.arn(), Some(arn.as_str()));
    let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert!(d.deleted_date().is_none());
    assert_eq!(value_of(&sm, &name).await, "keep me");

    // The default window is 30 days.
    let del = sm.delete_secret().secret_id(&arn).send().await.unwrap();
    let days = (del.deletion_date().expect("DeletionDate").secs() - now_secs()) as f64 / 86400.0;
    assert!((29.0..=31.0).contains(&days), "30 days out, got {days:.2}");
}

#[tokio::test]
async fn force_delete_frees_the_name() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let name = unique("force");
    let arn = create(&sm, &name, "gone soon").await;
    let del = sm
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("DeleteSecret ForceDeleteWithoutRecovery");
    assert_eq!(del.arn(), Some(arn.as_str()));
    // AWS deletes asynchronously but promptly; wait (bounded) for the name to be free.
    let new_arn = eventually("the name to be free", Duration::from_secs(10), || async {
        match sm
            .create_secret()
            .name(&name)
            .secret_string("again")
            .send()
            .await
        {
            Ok(out) => Some(out.arn().unwrap().to_string()),
            Err(e) if e.code() == Some("InvalidRequestException") => None,
            Err(e) => panic!("CreateSecret after force delete: {e:?}"),
        }
    })
    .await;
    assert_ne!(new_arn, arn, "a new secret gets a new ARN");
    assert_eq!(value_of(&sm, &name).await, "again");
    expect_err(
        sm.describe_secret().secret_id(&arn).send().await,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn customer_key_states_gate_secret_values() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let kms = server.kms(PRIMARY);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let alias = format!("alias/{}", unique("sm"));
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();

    let name = unique("cmk");
    sm.create_secret()
        .name(&name)
        .kms_key_id(&alias)
        .secret_string("under a CMK")
        .send()
        .await
        .expect("CreateSecret with KmsKeyId alias");
    let d = sm.describe_secret().secret_id(&name).send().await.unwrap();
    assert_eq!(
        d.kms_key_id(),
        Some(alias.as_str()),
        "KmsKeyId echoes what was sent"
    );
    assert_eq!(value_of(&sm, &name).await, "under a CMK");

    kms.disable_key().key_id(&key_id).send().await.unwrap();
    let e = expect_client_err(sm.get_secret_value().secret_id(&name).send().await);
    eprintln!(
        "GetSecretValue with a disabled key: {:?}: {:?}",
        e.code(),
        e.message()
    );
    assert_eq!(
        e.code(),
        Some("DecryptionFailure"),
        "Secrets Manager can't decrypt the protected secret text using the provided KMS key"
    );
    expect_err(
        sm.put_secret_value()
            .secret_id(&name)
            .secret_string("new")
            .send()
            .await,
        "EncryptionFailure",
    );
    kms.enable_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(value_of(&sm, &name).await, "under a CMK");

    // Pending deletion blocks it too.
    kms.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    expect_client_err(sm.get_secret_value().secret_id(&name).send().await);
}

#[tokio::test]
async fn update_tag_list_and_filter() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let base = unique("list");
    let mut names = Vec::new();
    for i in 0..3 {
        let n = format!("{base}/{i}");
        create(&sm, &n, &format!("v{i}")).await;
        names.push(n);
    }
    // UpdateSecret: description only, then a new value.
    sm.update_secret()
        .secret_id(&names[0])
        .description("updated")
        .send()
        .await
        .expect("UpdateSecret description");
    let d = sm
        .describe_secret()
        .secret_id(&names[0])
        .send()
        .await
        .unwrap();
    assert_eq!(d.description(), Some("updated"));
    let up = sm
        .update_secret()
        .secret_id(&names[0])
        .secret_string("v0-new")
        .send()
        .await
        .expect("UpdateSecret value");
    assert!(up.version_id().is_some(), "a new value makes a new version");
    assert_eq!(value_of(&sm, &names[0]).await, "v0-new");

    sm.tag_resource()
        .secret_id(&names[1])
        .tags(Tag::builder().key("team").value("a").build())
        .tags(Tag::builder().key("tier").value("1").build())
        .send()
        .await
        .expect("TagResource");
    sm.untag_resource()
        .secret_id(&names[1])
        .tag_keys("tier")
        .send()
        .await
        .expect("UntagResource");
    let d = sm
        .describe_secret()
        .secret_id(&names[1])
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = d
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(tags, [("team", "a")]);

    // Name filter (prefix match) and pagination.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..20 {
        let out = sm
            .list_secrets()
            .max_results(1)
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(&base)
                    .build(),
            )
            .set_next_token(next.clone())
            .send()
            .await
            .expect("ListSecrets");
        assert!(out.secret_list().len() <= 1);
        seen.extend(
            out.secret_list()
                .iter()
                .filter_map(|s| s.name().map(str::to_string)),
        );
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, names);
    let tagged = sm
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::TagKey)
                .values("team")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let tagged: Vec<_> = tagged
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(tagged, [names[1].as_str()]);
}

#[tokio::test]
async fn binary_secrets_and_random_passwords() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let name = unique("bin");
    let bytes: Vec<u8> = (0u8..=255).collect();
    sm.create_secret()
        .name(&name)
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .expect("CreateSecret SecretBinary");
    let v = sm.get_secret_value().secret_id(&name).send().await.unwrap();
    assert_eq!(
        v.secret_binary().map(|b| b.as_ref()),
        Some(bytes.as_slice())
    );
    assert_eq!(v.secret_string(), None);

    // A secret without a value has no version yet.
    let empty = unique("empty");
    let out = sm.create_secret().name(&empty).send().await.unwrap();
    assert_eq!(out.version_id(), None);
    expect_err(
        sm.get_secret_value().secret_id(&empty).send().await,
        "ResourceNotFoundException",
    );

    // SecretString is limited to 65536 bytes.
    expect_client_err(
        sm.create_secret()
            .name(unique("huge"))
            .secret_string("x".repeat(65537))
            .send()
            .await,
    );

    let p = sm
        .get_random_password()
        .send()
        .await
        .expect("GetRandomPassword");
    assert_eq!(p.random_password().map(|s| s.chars().count()), Some(32));
    let p = sm
        .get_random_password()
        .password_length(20)
        .exclude_punctuation(true)
        .send()
        .await
        .unwrap();
    let pw = p.random_password().unwrap();
    assert_eq!(pw.len(), 20);
    assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()), "{pw}");
    let p = sm
        .get_random_password()
        .password_length(40)
        .exclude_numbers(true)
        .exclude_punctuation(true)
        .exclude_uppercase(true)
        .send()
        .await
        .unwrap();
    let pw = p.random_password().unwrap();
    assert!(pw.chars().all(|c| c.is_ascii_lowercase()), "{pw}");
}

#[tokio::test]
async fn replication_add_follow_and_remove() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let sm_r = server.secrets(REPLICA);
    let name = unique("replicated");
    let arn = create(&sm, &name, "v1").await;
    let rep = sm
        .replicate_secret_to_regions()
        .secret_id(&arn)
        .add_replica_regions(ReplicaRegionType::builder().region(REPLICA).build())
        .send()
        .await
        .expect("ReplicateSecretToRegions");
    assert_eq!(rep.arn(), Some(arn.as_str()));
    assert_eq!(
        rep.replication_status()
            .iter()
            .filter_map(|s| s.region())
            .collect::<Vec<_>>(),
        [REPLICA]
    );
    let replica_arn = arn.replacen(&format!(":{PRIMARY}:"), &format!(":{REPLICA}:"), 1);
    let v = eventually("replica has v1", Duration::from_secs(15), || async {
        match sm_r.get_secret_value().secret_id(&replica_arn).send().await {
            Ok(v) => Some(v.secret_string().map(str::to_string)),
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => panic!("{e:?}"),
        }
    })
    .await;
    assert_eq!(v.as_deref(), Some("v1"));
    let d = sm_r
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(d.primary_region(), Some(PRIMARY));

    // New versions on the primary reach the replica.
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    eventually("replica follows v2", Duration::from_secs(15), || async {
        (value_of(&sm_r, &replica_arn).await == "v2").then_some(())
    })
    .await;

    // A replica is read-only.
    expect_client_err(
        sm_r.put_secret_value()
            .secret_id(&replica_arn)
            .secret_string("written on replica")
            .send()
            .await,
    );
    assert_eq!(value_of(&sm, &arn).await, "v2");

    // Removing the region deletes the replica.
    let rm = sm
        .remove_regions_from_replication()
        .secret_id(&arn)
        .remove_replica_regions(REPLICA)
        .send()
        .await
        .expect("RemoveRegionsFromReplication");
    assert_eq!(rm.arn(), Some(arn.as_str()));
    eventually("replica removed", Duration::from_secs(15), || async {
        match sm_r.describe_secret().secret_id(&replica_arn).send().await {
            Err(e) if e.code() == Some("ResourceNotFoundException") => Some(()),
            Ok(_) => None,
            Err(e) => panic!("{e:?}"),
        }
    })
    .await;
    let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert!(
        d.replication_status().is_empty(),
        "{:?}",
        d.replication_status()
    );
    // And then the primary can be deleted outright.
    sm.delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn custom_staging_labels() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let name = unique("labels");
    create(&sm, &name, "live").await;
    let tok = token("staging");
    let out = sm
        .put_secret_value()
        .secret_id(&name)
        .secret_string("candidate")
        .client_request_token(&tok)
        .version_stages("STAGING")
        .send()
        .await
        .expect("PutSecretValue with VersionStages");
    assert_eq!(out.version_stages(), ["STAGING".to_string()]);
    assert_eq!(
        value_of(&sm, &name).await,
        "live",
        "AWSCURRENT did not move"
    );
    let staged = sm
        .get_secret_value()
        .secret_id(&name)
        .version_stage("STAGING")
        .send()
        .await
        .unwrap();
    assert_eq!(staged.secret_string(), Some("candidate"));
    assert_eq!(staged.version_id(), Some(tok.as_str()));
    let d = sm.describe_secret().secret_id(&name).send().await.unwrap();
    assert_eq!(
        d.version_ids_to_stages().unwrap().get(&tok),
        Some(&vec!["STAGING".to_string()])
    );
    expect_err(
        sm.get_secret_value()
            .secret_id(&name)
            .version_stage("NOPE")
            .send()
            .await,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn names_with_every_allowed_character() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let name = format!("{}/a_b+c=d.e@f-g", unique("chars"));
    let arn = create(&sm, &name, "odd name").await;
    assert!(arn.contains(&format!(":secret:{name}-")), "{arn}");
    assert_eq!(value_of(&sm, &name).await, "odd name");
    assert_eq!(value_of(&sm, &arn).await, "odd name");
}

#[tokio::test]
async fn update_secret_changes_the_kms_key() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let kms = server.kms(PRIMARY);
    let k1 = kms.create_key().send().await.unwrap();
    let k1 = k1.key_metadata().unwrap().key_id().to_string();
    let k2 = kms.create_key().send().await.unwrap();
    let k2 = k2.key_metadata().unwrap().key_id().to_string();
    let name = unique("rekey");
    sm.create_secret()
        .name(&name)
        .kms_key_id(&k1)
        .secret_string("under k1")
        .send()
        .await
        .unwrap();
    sm.update_secret()
        .secret_id(&name)
        .kms_key_id(&k2)
        .secret_string("under k2")
        .send()
        .await
        .expect("UpdateSecret KmsKeyId + SecretString");
    let d = sm.describe_secret().secret_id(&name).send().await.unwrap();
    assert_eq!(d.kms_key_id(), Some(k2.as_str()));
    assert_eq!(value_of(&sm, &name).await, "under k2");
    // The new version is under k2: disabling k1 does not affect reading it.
    kms.disable_key().key_id(&k1).send().await.unwrap();
    assert_eq!(value_of(&sm, &name).await, "under k2");
}

#[tokio::test]
async fn accounts_do_not_see_each_others_secrets() {
    let server = Server::dev();
    let a = server.secrets_as(PRIMARY, "111111111111", "x");
    let b = server.secrets_as(PRIMARY, "222222222222", "x");
    let name = unique("mine");
    let arn = create(&a, &name, "account a").await;
    assert!(arn.contains(":111111111111:secret:"), "{arn}");
    expect_err(
        b.get_secret_value().secret_id(&name).send().await,
        "ResourceNotFoundException",
    );
    expect_client_err(b.get_secret_value().secret_id(&arn).send().await);
    let l = b.list_secrets().send().await.unwrap();
    assert!(l.secret_list().is_empty());
    // The same name is free in the other account.
    create(&b, &name, "account b").await;
    assert_eq!(value_of(&a, &name).await, "account a");
    assert_eq!(value_of(&b, &name).await, "account b");
}

#[tokio::test]
async fn validate_resource_policy_reports_findings() {
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let good = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let ok = sm
        .validate_resource_policy()
        .resource_policy(good)
        .send()
        .await
        .unwrap();
    assert!(ok.policy_validation_passed());
    assert!(ok.validation_errors().is_empty());

    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let out = sm
        .validate_resource_policy()
        .resource_policy(public)
        .send()
        .await
        .unwrap();
    assert!(!out.policy_validation_passed());
    let checks: Vec<&str> = out
        .validation_errors()
        .iter()
        .filter_map(|e| e.check_name())
        .collect();
    assert_eq!(checks, vec!["PUBLIC_ACCESS"]);

    let wrong = r#"{"Statement":[{"Effect":"Permit","Principal":"*","Action":"GetSecretValue"}]}"#;
    let out = sm
        .validate_resource_policy()
        .resource_policy(wrong)
        .send()
        .await
        .unwrap();
    assert!(!out.policy_validation_passed());
    assert!(out
        .validation_errors()
        .iter()
        .any(|e| e.check_name() == Some("SYNTAX")
            && e.error_message().is_some_and(|m| m.contains("Effect"))));

    let err = sm
        .validate_resource_policy()
        .resource_policy("{not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MalformedPolicyDocumentException"));
}
