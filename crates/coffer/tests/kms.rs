//! KMS behaviour as AWS documents it, through the AWS SDK for Rust.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeySpec, EncryptionAlgorithmSpec, GrantConstraints, GrantOperation, KeyManagerType,
    KeySpec, KeyState, KeyUsageType, MultiRegionKeyType, OriginType, Tag,
};
use aws_sdk_kms::Client;
use common::*;

async fn create_key(kms: &Client) -> (String, String) {
    let out = kms.create_key().send().await.expect("CreateKey");
    let md = out.key_metadata().expect("KeyMetadata");
    (md.key_id().to_string(), md.arn().expect("Arn").to_string())
}

async fn create_mrk_with_replica(kms: &Client, kms_r: &Client) -> String {
    let out = kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .expect("CreateKey MultiRegion");
    let id = out.key_metadata().unwrap().key_id().to_string();
    kms.replicate_key()
        .key_id(&id)
        .replica_region(REPLICA)
        .send()
        .await
        .expect("ReplicateKey");
    wait_enabled(kms_r, &id).await;
    id
}

async fn wait_enabled(kms: &Client, key_id: &str) {
    eventually("key Enabled", Duration::from_secs(15), || async {
        match kms.describe_key().key_id(key_id).send().await {
            Ok(out) => match out.key_metadata().and_then(|m| m.key_state()) {
                Some(KeyState::Enabled) => Some(()),
                Some(KeyState::Creating) => None,
                other => panic!("unexpected key state {other:?}"),
            },
            Err(e) if e.code() == Some("NotFoundException") => None,
            Err(e) => panic!("DescribeKey: {e:?}"),
        }
    })
    .await
}

async fn key_state(kms: &Client, key_id: &str) -> KeyState {
    kms.describe_key()
        .key_id(key_id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .and_then(|m| m.key_state())
        .cloned()
        .expect("KeyState")
}

async fn encrypt(kms: &Client, key_id: &str, pt: &[u8]) -> Blob {
    kms.encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(pt))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .cloned()
        .expect("CiphertextBlob")
}

fn secs(t: &aws_sdk_kms::primitives::DateTime) -> i64 {
    t.secs()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn create_key_defaults_and_describe_by_every_identifier() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let account = server.account_id().await;
    let out = kms
        .create_key()
        .description("plain key")
        .send()
        .await
        .expect("CreateKey");
    let md = out.key_metadata().expect("KeyMetadata");
    let id = md.key_id().to_string();
    assert!(is_uuid(&id), "single-Region key id is a UUID: {id:?}");
    let arn = format!("arn:aws:kms:{PRIMARY}:{account}:key/{id}");
    assert_eq!(md.arn(), Some(arn.as_str()));
    assert_eq!(md.aws_account_id(), Some(account.as_str()));
    assert_eq!(md.description(), Some("plain key"));
    assert!(md.enabled());
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(md.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(md.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(md.origin(), Some(&OriginType::AwsKms));
    assert_eq!(md.key_manager(), Some(&KeyManagerType::Customer));
    assert_eq!(md.multi_region(), Some(false));
    assert_eq!(
        md.encryption_algorithms(),
        [EncryptionAlgorithmSpec::SymmetricDefault]
    );
    let created = secs(md.creation_date().expect("CreationDate"));
    assert!(
        (created - now_secs()).abs() < 300,
        "CreationDate {created} is now"
    );

    let alias = format!("alias/{}", unique("describe"));
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&id)
        .send()
        .await
        .expect("CreateAlias");
    let alias_arn = format!("arn:aws:kms:{PRIMARY}:{account}:{alias}");
    for ident in [&id, &arn, &alias, &alias_arn] {
        let d = kms
            .describe_key()
            .key_id(ident)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeKey {ident}: {e:?}"));
        let m = d.key_metadata().unwrap();
        assert_eq!(m.key_id(), id, "DescribeKey {ident}");
        assert_eq!(m.arn(), Some(arn.as_str()), "DescribeKey {ident}");
    }
    // Encrypt accepts the same four forms.
    for ident in [&id, &arn, &alias, &alias_arn] {
        let out = kms
            .encrypt()
            .key_id(ident)
            .plaintext(Blob::new("x"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Encrypt {ident}: {e:?}"));
        assert_eq!(
            out.key_id(),
            Some(arn.as_str()),
            "Encrypt reports the key ARN"
        );
        assert_eq!(
            out.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::SymmetricDefault)
        );
    }
}

#[tokio::test]
async fn unknown_keys_and_aliases_are_not_found() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let account = server.account_id().await;
    expect_err(
        kms.describe_key()
            .key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
    expect_err(
        kms.describe_key()
            .key_id(format!(
                "arn:aws:kms:{PRIMARY}:{account}:key/11111111-2222-3333-4444-555555555555"
            ))
            .send()
            .await,
        "NotFoundException",
    );
    expect_err(
        kms.describe_key()
            .key_id("alias/does-not-exist")
            .send()
            .await,
        "NotFoundException",
    );
    expect_err(
        kms.encrypt()
            .key_id("alias/does-not-exist")
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "NotFoundException",
    );
    expect_err(
        kms.delete_alias()
            .alias_name("alias/does-not-exist")
            .send()
            .await,
        "NotFoundException",
    );
    expect_err(
        kms.schedule_key_deletion()
            .key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
    // A single-Region key exists in its own region only.
    let (id, _) = create_key(&kms).await;
    expect_err(
        server
            .kms("us-east-1")
            .describe_key()
            .key_id(&id)
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn disabled_key_refuses_cryptographic_operations() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let (id, _) = create_key(&kms).await;
    let ct = encrypt(&kms, &id, b"before").await;
    kms.disable_key()
        .key_id(&id)
        .send()
        .await
        .expect("DisableKey");
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    let md = d.key_metadata().unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Disabled));
    assert!(!md.enabled());
    expect_err(
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "DisabledException",
    );
    expect_err(
        kms.decrypt().ciphertext_blob(ct.clone()).send().await,
        "DisabledException",
    );
    expect_err(
        kms.generate_data_key()
            .key_id(&id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "DisabledException",
    );
    kms.enable_key()
        .key_id(&id)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
    let out = kms
        .decrypt()
        .ciphertext_blob(ct)
        .send()
        .await
        .expect("Decrypt after EnableKey");
    assert_eq!(out.plaintext().map(|b| b.as_ref()), Some(&b"before"[..]));
}

#[tokio::test]
async fn schedule_and_cancel_key_deletion() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let (id, arn) = create_key(&kms).await;

    for bad in [6, 31] {
        expect_err(
            kms.schedule_key_deletion()
                .key_id(&id)
                .pending_window_in_days(bad)
                .send()
                .await,
            "ValidationException",
        );
    }
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);

    // Default window: 30 days.
    let out = kms
        .schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(
        out.key_id(),
        Some(arn.as_str()),
        "response KeyId is the key ARN"
    );
    assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(out.pending_window_in_days(), Some(30));
    let when = secs(out.deletion_date().expect("DeletionDate"));
    let days = (when - now_secs()) as f64 / 86400.0;
    assert!(
        (29.0..=31.0).contains(&days),
        "DeletionDate is 30 days out, got {days:.2} days"
    );
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    let md = d.key_metadata().unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::PendingDeletion));
    assert!(!md.enabled());
    assert!(md.deletion_date().is_some());

    // Again: KMSInvalidStateException "... is pending deletion." (Terraform relies on it).
    let e = expect_err(
        kms.schedule_key_deletion().key_id(&id).send().await,
        "KMSInvalidStateException",
    );
    let msg = e.message().unwrap_or_default().to_string();
    assert!(
        msg.contains("is pending deletion"),
        "message should contain 'is pending deletion': {msg:?}"
    );
    expect_err(
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );

    let out = kms
        .cancel_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert_eq!(out.key_id(), Some(arn.as_str()));
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    let md = d.key_metadata().unwrap();
    assert_eq!(
        md.key_state(),
        Some(&KeyState::Disabled),
        "cancelled keys are Disabled"
    );
    assert!(md.deletion_date().is_none());
    // Cancelling again fails: the key is not pending deletion.
    expect_client_err(kms.cancel_key_deletion().key_id(&id).send().await);

    // An explicit 7-day window.
    let out = kms
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion 7 days");
    assert_eq!(out.pending_window_in_days(), Some(7));
    let when = secs(out.deletion_date().expect("DeletionDate"));
    let days = (when - now_secs()) as f64 / 86400.0;
    assert!((6.0..=8.0).contains(&days), "7 days out, got {days:.2}");
}

#[tokio::test]
async fn aliases_list_paginate_update_delete() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let account = server.account_id().await;
    let (a, _) = create_key(&kms).await;
    let (b, _) = create_key(&kms).await;
    let base = unique("page");
    let names: Vec<String> = (0..5).map(|i| format!("alias/{base}-{i}")).collect();
    for n in &names {
        kms.create_alias()
            .alias_name(n)
            .target_key_id(&a)
            .send()
            .await
            .expect("CreateAlias");
    }
    expect_err(
        kms.create_alias()
            .alias_name(&names[0])
            .target_key_id(&b)
            .send()
            .await,
        "AlreadyExistsException",
    );

    // Page through everything, two at a time.
    let mut seen: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 100, "ListAliases pagination does not end");
        let out = kms
            .list_aliases()
            .limit(2)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListAliases");
        assert!(out.aliases().len() <= 2, "page larger than Limit");
        for al in out.aliases() {
            let name = al.alias_name().expect("AliasName").to_string();
            if names.contains(&name) {
                assert_eq!(al.target_key_id(), Some(a.as_str()));
                assert_eq!(
                    al.alias_arn(),
                    Some(format!("arn:aws:kms:{PRIMARY}:{account}:{name}").as_str())
                );
            }
            seen.push(name);
        }
        if out.truncated() {
            marker = Some(
                out.next_marker()
                    .expect("NextMarker when Truncated")
                    .to_string(),
            );
        } else {
            assert!(out.next_marker().is_none(), "NextMarker without Truncated");
            break;
        }
    }
    for n in &names {
        assert_eq!(
            seen.iter().filter(|s| *s == n).count(),
            1,
            "{n} listed exactly once across pages: {seen:?}"
        );
    }
    assert!(pages >= 3, "5 aliases at Limit 2 take at least 3 pages");

    // Filter by key.
    let by_key = kms.list_aliases().key_id(&a).send().await.unwrap();
    let mut listed: Vec<String> = by_key
        .aliases()
        .iter()
        .filter_map(|x| x.alias_name().map(str::to_string))
        .collect();
    listed.sort();
    assert_eq!(listed, names);
    let by_b = kms.list_aliases().key_id(&b).send().await.unwrap();
    assert!(by_b.aliases().is_empty(), "{:?}", by_b.aliases());

    // UpdateAlias points it at another key.
    kms.update_alias()
        .alias_name(&names[0])
        .target_key_id(&b)
        .send()
        .await
        .expect("UpdateAlias");
    let d = kms.describe_key().key_id(&names[0]).send().await.unwrap();
    assert_eq!(d.key_metadata().unwrap().key_id(), b);

    // DeleteAlias takes effect at once and the name can be reused.
    kms.delete_alias()
        .alias_name(&names[1])
        .send()
        .await
        .expect("DeleteAlias");
    expect_err(
        kms.describe_key().key_id(&names[1]).send().await,
        "NotFoundException",
    );
    kms.create_alias()
        .alias_name(&names[1])
        .target_key_id(&b)
        .send()
        .await
        .expect("CreateAlias with a deleted alias's name");

    // Aliases are regional.
    expect_err(
        server
            .kms(REPLICA)
            .describe_key()
            .key_id(&names[2])
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn tags_roundtrip() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let out = kms
        .create_key()
        .tags(
            Tag::builder()
                .tag_key("env")
                .tag_value("test")
                .build()
                .unwrap(),
        )
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("a")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateKey with tags");
    let id = out.key_metadata().unwrap().key_id().to_string();
    let tags = |out: &aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput| {
        out.tags()
            .iter()
            .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    let l = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    assert_eq!(
        tags(&l),
        BTreeMap::from([
            ("env".to_string(), "test".to_string()),
            ("team".to_string(), "a".to_string())
        ])
    );
    kms.tag_resource()
        .key_id(&id)
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("b")
                .build()
                .unwrap(),
        )
        .tags(
            Tag::builder()
                .tag_key("cost")
                .tag_value("1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("TagResource");
    kms.untag_resource()
        .key_id(&id)
        .tag_keys("env")
        .send()
        .await
        .expect("UntagResource");
    let l = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    assert_eq!(
        tags(&l),
        BTreeMap::from([
            ("cost".to_string(), "1".to_string()),
            ("team".to_string(), "b".to_string())
        ])
    );
    assert!(!l.truncated());
}

#[tokio::test]
async fn key_policy_default_and_put() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let account = server.account_id().await;
    let (id, _) = create_key(&kms).await;
    let pol = kms
        .get_key_policy()
        .key_id(&id)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy");
    let text = pol.policy().expect("Policy");
    let v: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("default key policy is not JSON ({e}): {text}"));
    assert_eq!(v["Version"], "2012-10-17", "{v}");
    assert!(
        v["Statement"].as_array().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert!(
        text.contains(&format!("arn:aws:iam::{account}:root")),
        "the default policy gives the account root access: {text}"
    );
    let names = kms.list_key_policies().key_id(&id).send().await.unwrap();
    assert_eq!(names.policy_names(), ["default".to_string()]);

    let new_policy = serde_json::json!({
        "Version": "2012-10-17",
        "Id": "test-policy",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    kms.put_key_policy()
        .key_id(&id)
        .policy_name("default")
        .policy(new_policy.to_string())
        .send()
        .await
        .expect("PutKeyPolicy");
    let pol = kms
        .get_key_policy()
        .key_id(&id)
        .policy_name("default")
        .send()
        .await
        .unwrap();
    let got: serde_json::Value = serde_json::from_str(pol.policy().unwrap()).unwrap();
    assert_eq!(got, new_policy);
}

#[tokio::test]
async fn data_keys_reencrypt_and_random() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let (a, a_arn) = create_key(&kms).await;
    let (b, b_arn) = create_key(&kms).await;

    let dk = kms
        .generate_data_key()
        .key_id(&a)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("k", "v")
        .send()
        .await
        .expect("GenerateDataKey");
    assert_eq!(dk.key_id(), Some(a_arn.as_str()));
    let pt = dk.plaintext().expect("Plaintext").as_ref().to_vec();
    assert_eq!(pt.len(), 32);
    let dec = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .encryption_context("k", "v")
        .send()
        .await
        .expect("Decrypt data key");
    assert_eq!(dec.plaintext().unwrap().as_ref(), pt.as_slice());

    let dk128 = kms
        .generate_data_key()
        .key_id(&a)
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await
        .unwrap();
    assert_eq!(dk128.plaintext().unwrap().as_ref().len(), 16);
    let dk64 = kms
        .generate_data_key()
        .key_id(&a)
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    assert_eq!(dk64.plaintext().unwrap().as_ref().len(), 64);

    let wp = kms
        .generate_data_key_without_plaintext()
        .key_id(&a)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    assert_eq!(wp.key_id(), Some(a_arn.as_str()));
    let dec = kms
        .decrypt()
        .ciphertext_blob(wp.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref().len(), 32);

    // ReEncrypt from a to b, changing the encryption context.
    let ct = kms
        .encrypt()
        .key_id(&a)
        .plaintext(Blob::new("move me"))
        .encryption_context("stage", "one")
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .cloned()
        .unwrap();
    let re = kms
        .re_encrypt()
        .ciphertext_blob(ct.clone())
        .source_encryption_context("stage", "one")
        .destination_key_id(&b)
        .destination_encryption_context("stage", "two")
        .send()
        .await
        .expect("ReEncrypt");
    assert_eq!(re.source_key_id(), Some(a_arn.as_str()));
    assert_eq!(re.key_id(), Some(b_arn.as_str()));
    let ct_b = re.ciphertext_blob().unwrap().clone();
    let dec = kms
        .decrypt()
        .ciphertext_blob(ct_b.clone())
        .encryption_context("stage", "two")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"move me");
    assert_eq!(dec.key_id(), Some(b_arn.as_str()));
    // Naming the wrong key: IncorrectKeyException.
    expect_err(
        kms.decrypt()
            .key_id(&a)
            .ciphertext_blob(ct_b)
            .encryption_context("stage", "two")
            .send()
            .await,
        "IncorrectKeyException",
    );
    // The wrong source context: InvalidCiphertextException.
    expect_err(
        kms.re_encrypt()
            .ciphertext_blob(ct)
            .source_encryption_context("stage", "nope")
            .destination_key_id(&b)
            .send()
            .await,
        "InvalidCiphertextException",
    );

    let r1 = kms
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateRandom");
    let r2 = kms
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    let r1 = r1.plaintext().unwrap().as_ref().to_vec();
    assert_eq!(r1.len(), 32);
    assert_ne!(r1, r2.plaintext().unwrap().as_ref());
    let r1024 = kms
        .generate_random()
        .number_of_bytes(1024)
        .send()
        .await
        .unwrap();
    assert_eq!(r1024.plaintext().unwrap().as_ref().len(), 1024);
    for bad in [0, 1025] {
        expect_err(
            kms.generate_random().number_of_bytes(bad).send().await,
            "ValidationException",
        );
    }
}

#[tokio::test]
async fn encrypt_limits_and_bad_ciphertext() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let (id, _) = create_key(&kms).await;
    let big = vec![7u8; 4096];
    let ct = encrypt(&kms, &id, &big).await;
    let dec = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), big.as_slice());
    expect_err(
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new(vec![7u8; 4097]))
            .send()
            .await,
        "ValidationException",
    );
    expect_err(
        kms.decrypt()
            .ciphertext_blob(Blob::new(vec![1u8; 200]))
            .send()
            .await,
        "InvalidCiphertextException",
    );
    // A tampered ciphertext does not decrypt.
    let mut bytes = ct.as_ref().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    expect_err(
        kms.decrypt().ciphertext_blob(Blob::new(bytes)).send().await,
        "InvalidCiphertextException",
    );
    // Two encryptions of the same plaintext differ.
    let ct2 = encrypt(&kms, &id, &big).await;
    assert_ne!(ct.as_ref(), ct2.as_ref());
}

#[tokio::test]
async fn list_keys_paginates() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(create_key(&kms).await);
    }
    let mut seen = Vec::new();
    let mut marker = None;
    for _ in 0..100 {
        let out = kms
            .list_keys()
            .limit(1)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListKeys");
        assert!(out.keys().len() <= 1);
        for k in out.keys() {
            seen.push((
                k.key_id().unwrap_or_default().to_string(),
                k.key_arn().unwrap_or_default().to_string(),
            ));
        }
        if !out.truncated() {
            break;
        }
        marker = out.next_marker().map(str::to_string);
        assert!(marker.is_some(), "Truncated without NextMarker");
    }
    for (id, arn) in &mine {
        assert!(
            seen.iter().any(|(i, a)| i == id && a == arn),
            "{id} missing from ListKeys: {seen:?}"
        );
    }
}

#[tokio::test]
async fn rotation_status() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let (id, _) = create_key(&kms).await;
    let st = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!st.key_rotation_enabled());
    kms.enable_key_rotation().key_id(&id).send().await.unwrap();
    let st = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(st.key_rotation_enabled());
    assert_eq!(
        st.rotation_period_in_days(),
        Some(365),
        "the default rotation period is 365 days"
    );
    kms.disable_key_rotation().key_id(&id).send().await.unwrap();
    let st = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!st.key_rotation_enabled());
}

#[tokio::test]
async fn multi_region_replicas_are_independent_keys() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let kms_r = server.kms(REPLICA);
    let id = create_mrk_with_replica(&kms, &kms_r).await;

    // Replicating again to the same region: AlreadyExistsException.
    expect_err(
        kms.replicate_key()
            .key_id(&id)
            .replica_region(REPLICA)
            .send()
            .await,
        "AlreadyExistsException",
    );
    // Only multi-Region keys replicate.
    let (single, _) = create_key(&kms).await;
    expect_err(
        kms.replicate_key()
            .key_id(&single)
            .replica_region(REPLICA)
            .send()
            .await,
        "UnsupportedOperationException",
    );

    // "You can use a replica key even if its primary key ... are disabled."
    kms.disable_key().key_id(&id).send().await.unwrap();
    let ct = encrypt(&kms_r, &id, b"replica works").await;
    let dec = kms_r
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"replica works");
    expect_err(
        kms.decrypt().ciphertext_blob(ct.clone()).send().await,
        "DisabledException",
    );
    kms.enable_key().key_id(&id).send().await.unwrap();

    // Disabling the replica leaves the primary usable.
    kms_r.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
    let dec = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"replica works");
    expect_err(
        kms_r
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "DisabledException",
    );
    kms_r.enable_key().key_id(&id).send().await.unwrap();

    // Descriptions are per region.
    kms_r
        .update_key_description()
        .key_id(&id)
        .description("replica only")
        .send()
        .await
        .unwrap();
    let dp = kms.describe_key().key_id(&id).send().await.unwrap();
    let dr = kms_r.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        dr.key_metadata().unwrap().description(),
        Some("replica only")
    );
    assert_ne!(
        dp.key_metadata().unwrap().description(),
        Some("replica only")
    );

    // Rotation is shared: enabled on the primary, reported by the replica.
    kms.enable_key_rotation().key_id(&id).send().await.unwrap();
    let st = kms_r
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(st.key_rotation_enabled());

    // GetKeyPolicy works on the replica and returns JSON.
    let pol = kms_r
        .get_key_policy()
        .key_id(&id)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy on replica");
    let _: serde_json::Value = serde_json::from_str(pol.policy().unwrap()).unwrap();

    // Data keys generated in one region decrypt in the other.
    let dk = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let dec = kms_r
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .expect("Decrypt data key in the replica region");
    assert_eq!(dec.plaintext(), dk.plaintext());
}

#[tokio::test]
async fn primary_with_replicas_goes_pending_replica_deletion() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let kms_r = server.kms(REPLICA);
    let id = create_mrk_with_replica(&kms, &kms_r).await;

    // Terraform's destroy order: the replica first…
    let out = kms_r
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(30)
        .send()
        .await
        .expect("ScheduleKeyDeletion replica");
    assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(key_state(&kms_r, &id).await, KeyState::PendingDeletion);

    // …then the primary, whose replica is not yet deleted.
    let out = kms
        .schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("ScheduleKeyDeletion primary");
    assert_eq!(out.key_state(), Some(&KeyState::PendingReplicaDeletion));
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    let md = d.key_metadata().unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert_eq!(
        md.multi_region_configuration()
            .and_then(|c| c.multi_region_key_type()),
        Some(&MultiRegionKeyType::Primary)
    );
    // It can be neither used nor replicated.
    expect_err(
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    expect_err(
        kms.replicate_key()
            .key_id(&id)
            .replica_region("us-east-1")
            .send()
            .await,
        "KMSInvalidStateException",
    );
    // Cancelling leaves both Disabled.
    kms.cancel_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("CancelKeyDeletion primary");
    assert_eq!(key_state(&kms, &id).await, KeyState::Disabled);
    kms_r
        .cancel_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("CancelKeyDeletion replica");
    assert_eq!(key_state(&kms_r, &id).await, KeyState::Disabled);
}

#[tokio::test]
async fn dev_accounts_are_isolated() {
    let server = Server::dev();
    let a = server.kms_as(PRIMARY, "111111111111", "secret-a");
    let b = server.kms_as(PRIMARY, "222222222222", "secret-b");
    let out = a.create_key().send().await.unwrap();
    let md = out.key_metadata().unwrap();
    assert_eq!(md.aws_account_id(), Some("111111111111"));
    assert!(md
        .arn()
        .unwrap()
        .starts_with(&format!("arn:aws:kms:{PRIMARY}:111111111111:key/")));
    let id = md.key_id().to_string();
    expect_err(
        b.describe_key().key_id(&id).send().await,
        "NotFoundException",
    );
    let sts = server.sts_as(PRIMARY, "222222222222", "secret-b");
    let who = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(who.account(), Some("222222222222"));
    // Other access keys land in the default account.
    let who = server
        .sts_as(PRIMARY, "AKIAIOSFODNN7EXAMPLE", "x")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("000000000000"));
}

#[tokio::test]
async fn encryption_context_is_exact_and_order_independent() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let (id, _) = create_key(&kms).await;
    // Raw JSON so the member order on the wire is under our control.
    let body = format!(
        r#"{{"KeyId":"{id}","Plaintext":"{}","EncryptionContext":{{"a":"1","b":"2","ключ":"値"}}}}"#,
        b64encode(b"context bound")
    );
    let r = server.signed_json(SignedJson::kms("Encrypt", body.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.body_str());
    let ct = r.json()["CiphertextBlob"].as_str().unwrap().to_string();
    let decrypt = |ctx: &str| {
        let body = format!(r#"{{"CiphertextBlob":"{ct}","EncryptionContext":{ctx}}}"#);
        server.signed_json(SignedJson::kms("Decrypt", body.as_bytes()))
    };
    let ok = decrypt(r#"{"ключ":"値","b":"2","a":"1"}"#);
    assert_eq!(
        ok.status,
        200,
        "reordered context must match: {}",
        ok.body_str()
    );
    assert_eq!(
        b64decode(ok.json()["Plaintext"].as_str().unwrap()).unwrap(),
        b"context bound"
    );
    for bad in [
        r#"{"a":"1","b":"2"}"#,
        r#"{"a":"1","b":"2","ключ":"値","c":"3"}"#,
        r#"{"a":"1","b":"3","ключ":"値"}"#,
        r#"{"A":"1","b":"2","ключ":"値"}"#,
        r#"{}"#,
    ] {
        let r = decrypt(bad);
        assert_eq!(r.status, 400, "context {bad}: {}", r.body_str());
        assert_eq!(
            r.error_code(),
            "InvalidCiphertextException",
            "context {bad}"
        );
    }
}

#[tokio::test]
async fn ciphertexts_do_not_cross_accounts_or_regions() {
    let server = Server::dev();
    let a = server.kms_as(PRIMARY, "111111111111", "x");
    let b = server.kms_as(PRIMARY, "222222222222", "x");
    let (id, _) = create_key(&a).await;
    let ct = encrypt(&a, &id, b"account a only").await;
    let e = expect_client_err(b.decrypt().ciphertext_blob(ct.clone()).send().await);
    eprintln!("cross-account Decrypt: {:?}", e.code());
    // A single-Region key's ciphertext does not decrypt in another region.
    let other_region = server.kms_as("us-west-2", "111111111111", "x");
    let e = expect_client_err(
        other_region
            .decrypt()
            .ciphertext_blob(ct.clone())
            .send()
            .await,
    );
    eprintln!("cross-region Decrypt: {:?}", e.code());
    // The owner still can.
    let ok = a.decrypt().ciphertext_blob(ct).send().await.unwrap();
    assert_eq!(ok.plaintext().unwrap().as_ref(), b"account a only");
}

#[tokio::test]
async fn invalid_parameters_are_client_errors() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let (id, _) = create_key(&kms).await;
    expect_client_err(
        kms.generate_data_key()
            .key_id(&id)
            .key_spec(DataKeySpec::Aes256)
            .number_of_bytes(32)
            .send()
            .await,
    );
    expect_client_err(kms.generate_data_key().key_id(&id).send().await);
    expect_client_err(
        kms.generate_data_key()
            .key_id(&id)
            .number_of_bytes(1025)
            .send()
            .await,
    );
    expect_client_err(
        kms.create_alias()
            .alias_name("alias/aws/reserved")
            .target_key_id(&id)
            .send()
            .await,
    );
    expect_client_err(
        kms.create_alias()
            .alias_name("no-prefix")
            .target_key_id(&id)
            .send()
            .await,
    );
    expect_err(
        kms.create_alias()
            .alias_name(format!("alias/{}", unique("dangling")))
            .target_key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
    expect_client_err(kms.create_key().description("d".repeat(8193)).send().await);
    expect_client_err(
        kms.enable_key_rotation()
            .key_id(&id)
            .rotation_period_in_days(89)
            .send()
            .await,
    );
    // An alias whose key is pending deletion cannot be used to encrypt.
    let alias = format!("alias/{}", unique("doomed"));
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    expect_err(
        kms.encrypt()
            .key_id(&alias)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
}

#[tokio::test]
async fn grants_for_service_principals() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let (id, _) = create_key(&kms).await;
    let account = server.account_id().await;
    let source_arn = format!("arn:aws:rds:{PRIMARY}:{account}:db:orders");
    let created = kms
        .create_grant()
        .key_id(&id)
        .grantee_service_principal("rds.amazonaws.com")
        .retiring_service_principal("rds.amazonaws.com")
        .operations(GrantOperation::Decrypt)
        .operations(GrantOperation::GenerateDataKey)
        .constraints(GrantConstraints::builder().source_arn(&source_arn).build())
        .name("rds-orders")
        .send()
        .await
        .unwrap();
    let grant_id = created.grant_id().unwrap().to_string();

    let listed = kms
        .list_grants()
        .key_id(&id)
        .grantee_service_principal("rds.amazonaws.com")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.grants().len(), 1);
    let g = &listed.grants()[0];
    assert_eq!(g.grant_id(), Some(grant_id.as_str()));
    assert_eq!(g.grantee_principal(), None);
    assert_eq!(g.grantee_service_principal(), Some("rds.amazonaws.com"));
    assert_eq!(g.retiring_service_principal(), Some("rds.amazonaws.com"));
    assert_eq!(
        g.constraints().and_then(|c| c.source_arn()),
        Some(source_arn.as_str())
    );
    assert_eq!(
        g.operations(),
        &[GrantOperation::Decrypt, GrantOperation::GenerateDataKey]
    );
    let none = kms
        .list_grants()
        .key_id(&id)
        .grantee_service_principal("s3.amazonaws.com")
        .send()
        .await
        .unwrap();
    assert!(none.grants().is_empty());

    let retirable = kms
        .list_retirable_grants()
        .retiring_service_principal("rds.amazonaws.com")
        .send()
        .await
        .unwrap();
    assert_eq!(retirable.grants().len(), 1);
    assert_eq!(retirable.grants()[0].grant_id(), Some(grant_id.as_str()));

    // The rules the model documents, as ValidationException.
    let e = expect_err(
        kms.create_grant()
            .key_id(&id)
            .grantee_service_principal("rds.amazonaws.com")
            .retiring_service_principal("rds.amazonaws.com")
            .operations(GrantOperation::Decrypt)
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(
        e.message(),
        Some("When you specify a GranteeServicePrincipal, you must also specify a SourceArn grant constraint.")
    );
    let e = expect_err(
        kms.create_grant()
            .key_id(&id)
            .operations(GrantOperation::Decrypt)
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(
        e.message(),
        Some("You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
    );
    let e = expect_err(
        kms.create_grant()
            .key_id(&id)
            .grantee_service_principal("rds")
            .retiring_service_principal("rds.amazonaws.com")
            .operations(GrantOperation::Decrypt)
            .constraints(GrantConstraints::builder().source_arn(&source_arn).build())
            .send()
            .await,
        "ValidationException",
    );
    assert!(
        e.message()
            .unwrap_or_default()
            .starts_with("1 validation error detected: Value 'rds' at 'granteeServicePrincipal'"),
        "{e:?}"
    );
    expect_err(
        kms.list_retirable_grants().send().await,
        "ValidationException",
    );
    expect_err(
        kms.list_grants()
            .key_id(&id)
            .grantee_principal(format!("arn:aws:iam::{account}:root"))
            .grantee_service_principal("rds.amazonaws.com")
            .send()
            .await,
        "ValidationException",
    );

    kms.retire_grant()
        .key_id(&id)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap();
    assert!(kms
        .list_grants()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .grants()
        .is_empty());
}

/// CreateGrant refuses operations the key does not support, and encryption-context constraints
/// on keys that take no encryption context (ValidationException).
#[tokio::test]
async fn grant_operations_must_suit_the_key() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let account = server.account_id().await;
    let grantee = format!("arn:aws:iam::{account}:role/app");
    let (symmetric, _) = create_key(&kms).await;
    let signing = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let not_supported =
        Some("The grant operations that you allow must be supported by the KMS key in the grant.");

    // What each key supports is granted.
    kms.create_grant()
        .key_id(&signing)
        .grantee_principal(&grantee)
        .operations(GrantOperation::Sign)
        .operations(GrantOperation::Verify)
        .operations(GrantOperation::GetPublicKey)
        .operations(GrantOperation::DescribeKey)
        .send()
        .await
        .unwrap();
    kms.create_grant()
        .key_id(&symmetric)
        .grantee_principal(&grantee)
        .operations(GrantOperation::GenerateDataKey)
        .operations(GrantOperation::ReEncryptFrom)
        .operations(GrantOperation::ReEncryptTo)
        .operations(GrantOperation::CreateGrant)
        .operations(GrantOperation::RetireGrant)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("tenant", "a")
                .build(),
        )
        .send()
        .await
        .unwrap();

    // A signing key generates no data keys; a symmetric key neither signs nor has a public key.
    for (key, op) in [
        (&signing, GrantOperation::GenerateDataKey),
        (&signing, GrantOperation::Encrypt),
        (&symmetric, GrantOperation::Sign),
        (&symmetric, GrantOperation::GetPublicKey),
        (&symmetric, GrantOperation::GenerateMac),
    ] {
        let e = expect_err(
            kms.create_grant()
                .key_id(key)
                .grantee_principal(&grantee)
                .operations(GrantOperation::DescribeKey)
                .operations(op.clone())
                .send()
                .await,
            "ValidationException",
        );
        assert_eq!(e.message(), not_supported, "{op:?}");
    }
    let e = expect_err(
        kms.create_grant()
            .key_id(&signing)
            .grantee_principal(&grantee)
            .operations(GrantOperation::Sign)
            .constraints(
                GrantConstraints::builder()
                    .encryption_context_equals("tenant", "a")
                    .build(),
            )
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(
        e.message(),
        Some("You cannot use an encryption context grant constraint for cryptographic operations with asymmetric KMS keys or HMAC KMS keys.")
    );
    let listed = kms.list_grants().key_id(&signing).send().await.unwrap();
    assert_eq!(listed.grants().len(), 1, "refused grants are not stored");
}

/// `ResourceOwners` is newer than the AWS SDK for Rust used here: sent as raw signed JSON.
#[tokio::test]
async fn list_keys_resource_owners() {
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let mut mine = Vec::new();
    for _ in 0..2 {
        mine.push(create_key(&kms).await.0);
    }
    mine.sort();
    let list = |body: &str| {
        let r = server.signed_json(SignedJson::kms("ListKeys", body.as_bytes()));
        (r.status, r.json())
    };
    let ids = |v: &serde_json::Value| {
        let mut ids: Vec<String> = v["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["KeyId"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    for body in [
        r#"{}"#,
        r#"{"ResourceOwners":["SELF"]}"#,
        r#"{"ResourceOwners":["OTHER_ACCOUNTS_VIA_RAM","SELF"]}"#,
    ] {
        let (status, v) = list(body);
        assert_eq!(status, 200, "{body}: {v}");
        assert_eq!(ids(&v), mine, "{body}");
        assert_eq!(v["Truncated"], false, "{body}");
    }
    let (status, v) = list(r#"{"ResourceOwners":["OTHER_ACCOUNTS_VIA_RAM"]}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, serde_json::json!({ "Keys": [], "Truncated": false }));

    let (status, v) = list(r#"{"ResourceOwners":["SELF","OTHER_ACCOUNTS_VIA_RAM"],"Limit":1}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Truncated"], true);
    let marker = v["NextMarker"].as_str().unwrap().to_string();
    let r = server.signed_json(SignedJson::kms(
        "ListKeys",
        format!(r#"{{"ResourceOwners":["OTHER_ACCOUNTS_VIA_RAM"],"Marker":"{marker}"}}"#)
            .as_bytes(),
    ));
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "InvalidMarkerException");

    let r = server.signed_json(SignedJson::kms(
        "ListKeys",
        br#"{"ResourceOwners":["ALL"]}"#,
    ));
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "ValidationException");
    assert_eq!(
        r.error_message(),
        "1 validation error detected: Value 'ALL' at 'resourceOwners.1.member' failed to satisfy constraint: Member must satisfy enum value set: [SELF, OTHER_ACCOUNTS_VIA_RAM]"
    );
    let r = server.signed_json(SignedJson::kms("ListKeys", br#"{"ResourceOwners":[]}"#));
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "ValidationException");
}
