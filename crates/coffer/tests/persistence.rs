//! Durability: what was acknowledged survives `kill -9`; nothing secret is at rest in the clear.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, MultiRegionKeyType, Tag};
use aws_sdk_secretsmanager::types::ReplicaRegionType;
use common::*;

async fn wait_replica_enabled(kms: &aws_sdk_kms::Client, id: &str) {
    eventually("replica Enabled", Duration::from_secs(15), || async {
        match kms.describe_key().key_id(id).send().await {
            Ok(o) => (o.key_metadata().and_then(|m| m.key_state()) == Some(&KeyState::Enabled))
                .then_some(()),
            Err(_) => None,
        }
    })
    .await
}

#[tokio::test]
async fn everything_survives_kill_9() {
    let mut server = Server::secure();
    let account = server.account_id().await;
    let creds_before = std::fs::read(server.root_credentials_path()).unwrap();

    let kms = server.kms(PRIMARY);
    let kms_r = server.kms(REPLICA);
    let sm = server.secrets(PRIMARY);

    // A multi-Region key with rotation, a replica, aliases, tags.
    let k = kms
        .create_key()
        .description("durable")
        .multi_region(true)
        .tags(Tag::builder().tag_key("k").tag_value("v").build().unwrap())
        .send()
        .await
        .unwrap();
    let id = k.key_metadata().unwrap().key_id().to_string();
    kms.enable_key_rotation().key_id(&id).send().await.unwrap();
    kms.create_alias()
        .alias_name("alias/durable")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    kms.replicate_key()
        .key_id(&id)
        .replica_region(REPLICA)
        .send()
        .await
        .unwrap();
    wait_replica_enabled(&kms_r, &id).await;
    kms_r
        .create_alias()
        .alias_name("alias/durable-replica")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let ct = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new("encrypted before the crash"))
        .encryption_context("a", "b")
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .cloned()
        .unwrap();
    // A disabled key and a key pending deletion.
    let disabled = kms.create_key().send().await.unwrap();
    let disabled = disabled.key_metadata().unwrap().key_id().to_string();
    kms.disable_key().key_id(&disabled).send().await.unwrap();
    let doomed = kms.create_key().send().await.unwrap();
    let doomed = doomed.key_metadata().unwrap().key_id().to_string();
    kms.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();

    // A replicated secret with two versions, and one pending deletion.
    let secret = sm
        .create_secret()
        .name("durable/secret")
        .kms_key_id(&id)
        .secret_string("v1")
        .add_replica_regions(
            ReplicaRegionType::builder()
                .region(REPLICA)
                .kms_key_id(&id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = secret.arn().unwrap().to_string();
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name("durable/deleted")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    sm.delete_secret()
        .secret_id("durable/deleted")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();

    server.crash_restart();

    assert_eq!(
        std::fs::read(server.root_credentials_path()).unwrap(),
        creds_before,
        "root-credentials unchanged by a restart"
    );
    assert_eq!(
        server.account_id().await,
        account,
        "the account id is stable"
    );
    let kms = server.kms(PRIMARY);
    let kms_r = server.kms(REPLICA);
    let sm = server.secrets(PRIMARY);
    let sm_r = server.secrets(REPLICA);

    let d = kms
        .describe_key()
        .key_id("alias/durable")
        .send()
        .await
        .unwrap();
    let md = d.key_metadata().unwrap();
    assert_eq!(md.key_id(), id);
    assert_eq!(md.description(), Some("durable"));
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    let dr = kms_r
        .describe_key()
        .key_id("alias/durable-replica")
        .send()
        .await
        .unwrap();
    let mdr = dr.key_metadata().unwrap();
    assert_eq!(mdr.key_id(), id);
    assert_eq!(
        mdr.multi_region_configuration()
            .and_then(|c| c.multi_region_key_type()),
        Some(&MultiRegionKeyType::Replica)
    );
    assert!(kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .key_rotation_enabled());
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1);
    for c in [&kms, &kms_r] {
        let p = c
            .decrypt()
            .ciphertext_blob(ct.clone())
            .encryption_context("a", "b")
            .send()
            .await
            .expect("Decrypt after restart");
        assert_eq!(
            p.plaintext().unwrap().as_ref(),
            b"encrypted before the crash"
        );
    }
    let st = kms.describe_key().key_id(&disabled).send().await.unwrap();
    assert_eq!(
        st.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
    let st = kms.describe_key().key_id(&doomed).send().await.unwrap();
    assert_eq!(
        st.key_metadata().unwrap().key_state(),
        Some(&KeyState::PendingDeletion)
    );
    assert!(st.key_metadata().unwrap().deletion_date().is_some());

    let v = sm.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(v.secret_string(), Some("v2"));
    let prev = sm
        .get_secret_value()
        .secret_id(&arn)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("v1"));
    let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert_eq!(d.kms_key_id(), Some(id.as_str()));
    assert_eq!(d.replication_status().len(), 1);
    let replica_arn = arn.replacen(&format!(":{PRIMARY}:"), &format!(":{REPLICA}:"), 1);
    let rv = sm_r
        .get_secret_value()
        .secret_id(&replica_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(rv.secret_string(), Some("v2"));
    let del = sm
        .describe_secret()
        .secret_id("durable/deleted")
        .send()
        .await
        .unwrap();
    assert!(del.deleted_date().is_some(), "still pending deletion");

    // And the restarted server takes new writes.
    let k2 = kms.create_key().send().await.unwrap();
    let k2 = k2.key_metadata().unwrap().key_id().to_string();
    kms.encrypt()
        .key_id(&k2)
        .plaintext(Blob::new("new"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_under_concurrency() {
    let mut server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let sm = sm.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("burst/{i}");
            sm.create_secret()
                .name(&name)
                .secret_string("0")
                .send()
                .await
                .unwrap();
            for v in 1..=5 {
                sm.put_secret_value()
                    .secret_id(&name)
                    .secret_string(v.to_string())
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Every write above was acknowledged; crash at once.
    server.crash_restart();
    let sm = server.secrets(PRIMARY);
    for i in 0..16 {
        let v = sm
            .get_secret_value()
            .secret_id(format!("burst/{i}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("burst/{i} lost: {e:?}"));
        assert_eq!(v.secret_string(), Some("5"), "burst/{i}");
    }
}

#[tokio::test]
async fn no_plaintext_at_rest() {
    let mut server = Server::secure();
    let kms = server.kms(PRIMARY);
    let sm = server.secrets(PRIMARY);
    let marker = format!("plaintext-marker-{}", unique("x"));
    let kms_marker = format!("kms-plaintext-{}", unique("y"));

    let k = kms.create_key().send().await.unwrap();
    let id = k.key_metadata().unwrap().key_id().to_string();
    kms.encrypt()
        .key_id(&id)
        .plaintext(Blob::new(kms_marker.as_bytes()))
        .send()
        .await
        .unwrap();
    let dk = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    let data_key = dk.plaintext().unwrap().as_ref().to_vec();
    // One secret under the default key, one under a customer key, one binary.
    sm.create_secret()
        .name("rest/default")
        .secret_string(&marker)
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name("rest/cmk")
        .kms_key_id(&id)
        .secret_string(format!("{marker}-cmk"))
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name("rest/binary")
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            format!("{marker}-bin").into_bytes(),
        ))
        .send()
        .await
        .unwrap();

    let needles: Vec<(String, Vec<u8>)> = vec![
        ("secret value".into(), marker.clone().into_bytes()),
        (
            "secret value (base64)".into(),
            b64encode(marker.as_bytes()).into_bytes(),
        ),
        (
            "binary secret (base64)".into(),
            b64encode(format!("{marker}-bin").as_bytes()).into_bytes(),
        ),
        ("KMS plaintext".into(), kms_marker.clone().into_bytes()),
        (
            "KMS plaintext (base64)".into(),
            b64encode(kms_marker.as_bytes()).into_bytes(),
        ),
        ("data key".into(), data_key.clone()),
    ];
    let check = |when: &str, server: &Server| {
        let files = files_under(&server.data_dir);
        assert!(!files.is_empty(), "data dir is empty {when}");
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            for (what, needle) in &needles {
                assert!(
                    !contains_bytes(&bytes, needle),
                    "{what} found in the clear in {} ({when})",
                    f.display()
                );
            }
        }
        let logs = server.all_logs();
        for (what, needle) in &needles {
            assert!(
                !contains_bytes(&logs, needle),
                "{what} found in the server's log ({when})"
            );
        }
    };
    check("while running", &server);
    server.kill9();
    check("after kill -9", &server);
    server.start_again();
    check("after restart", &server);
    // Still readable, of course.
    let sm = server.secrets(PRIMARY);
    let v = sm
        .get_secret_value()
        .secret_id("rest/cmk")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some(format!("{marker}-cmk").as_str()));
}

#[test]
fn credential_and_key_files_are_private() {
    let server = Server::secure();
    let files = files_under(&server.data_dir);
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(&server.data_dir)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    let creds = server.root_credentials_path();
    assert!(
        creds.is_file(),
        "root-credentials missing; data dir has {names:?}"
    );
    let root_keys: Vec<_> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("root-key"))
        })
        .collect();
    assert!(
        !root_keys.is_empty(),
        "no root-key file in the data dir: {names:?}"
    );
    for f in std::iter::once(&creds).chain(root_keys) {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", f.display());
    }
}

#[tokio::test]
async fn graceful_restart_keeps_identity() {
    let mut server = Server::secure();
    let account = server.account_id().await;
    let creds = server.root_credentials();
    let status = server.terminate();
    assert!(
        status.is_some(),
        "coffer did not exit within 20 s of SIGTERM"
    );
    server.start_again();
    assert_eq!(server.root_credentials(), creds);
    assert_eq!(server.account_id().await, account);
}

#[tokio::test]
async fn dev_reset_empties_all_state() {
    let mut server = Server::dev();
    for path in [
        "/_coffer/reset",
        "/moto-api/reset",
        "/_localstack/state/reset",
    ] {
        let accounts = [("test", "test"), ("111111111111", "x")];
        let mut keys = Vec::new();
        for (ak, sk) in accounts {
            for region in [PRIMARY, REPLICA] {
                let kms = server.kms_as(region, ak, sk);
                let k = kms.create_key().send().await.unwrap();
                let id = k.key_metadata().unwrap().key_id().to_string();
                kms.create_alias()
                    .alias_name("alias/reset-me")
                    .target_key_id(&id)
                    .send()
                    .await
                    .unwrap();
                server
                    .secrets_as(region, ak, sk)
                    .create_secret()
                    .name("reset-me")
                    .secret_string("x")
                    .send()
                    .await
                    .unwrap();
                keys.push((ak, sk, region, id));
            }
        }
        let r = server.raw("POST", path, &[], b"");
        assert!(
            (200..300).contains(&r.status),
            "POST {path}: {} {}",
            r.status,
            r.body_str()
        );
        for (ak, sk, region, id) in &keys {
            let kms = server.kms_as(region, ak, sk);
            expect_err(
                kms.describe_key().key_id(id).send().await,
                "NotFoundException",
            );
            expect_err(
                kms.describe_key().key_id("alias/reset-me").send().await,
                "NotFoundException",
            );
            let l = server
                .secrets_as(region, ak, sk)
                .list_secrets()
                .send()
                .await
                .unwrap();
            assert!(l.secret_list().is_empty(), "{path}: {:?}", l.secret_list());
            // The names are free again.
            let _ = server
                .secrets_as(region, ak, sk)
                .describe_secret()
                .secret_id("reset-me")
                .send()
                .await
                .expect_err("secret gone after reset");
        }
    }
    // A reset is durable: a restart does not bring the state back.
    let kms = server.kms(PRIMARY);
    let k = kms.create_key().send().await.unwrap();
    let id = k.key_metadata().unwrap().key_id().to_string();
    let r = server.raw("POST", "/_coffer/reset", &[], b"");
    assert!((200..300).contains(&r.status));
    server.crash_restart();
    expect_err(
        server.kms(PRIMARY).describe_key().key_id(&id).send().await,
        "NotFoundException",
    );
    // And the server works after all that.
    let kms = server.kms(PRIMARY);
    let k = kms.create_key().send().await.unwrap();
    kms.encrypt()
        .key_id(k.key_metadata().unwrap().key_id())
        .plaintext(Blob::new("after reset"))
        .send()
        .await
        .unwrap();
}
