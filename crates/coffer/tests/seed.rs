//! The seed scenario (shared/seed/blog-post.txt) driven with the AWS SDK for Rust.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, MultiRegionKeyType};
use aws_sdk_secretsmanager::types::ReplicaRegionType;
use common::*;

/// The blog post, step by step, with the checks the post makes by hand.
#[tokio::test]
async fn seed_flow_with_sdk() {
    let server = Server::dev();
    run_seed_flow(&server).await;
}

/// The same flow against a production-mode server with its root credentials.
#[tokio::test]
async fn seed_flow_with_root_credentials() {
    let server = Server::secure();
    run_seed_flow(&server).await;
}

async fn run_seed_flow(server: &Server) {
    let kms = server.kms(PRIMARY);
    let kms_r = server.kms(REPLICA);
    let sm = server.secrets(PRIMARY);
    let sm_r = server.secrets(REPLICA);
    let account = server.account_id().await;
    assert!(is_account_id(&account), "account id {account:?}");

    // --- aws_kms_key.mrk
    let created = kms
        .create_key()
        .description("Multi-region key for Secrets Manager")
        .multi_region(true)
        .send()
        .await
        .expect("CreateKey MultiRegion");
    let md = created.key_metadata().expect("KeyMetadata");
    let key_id = md.key_id().to_string();
    assert!(is_mrk_id(&key_id), "multi-Region key id {key_id:?}");
    let key_arn = md.arn().expect("Arn").to_string();
    assert_eq!(
        key_arn,
        format!("arn:aws:kms:{PRIMARY}:{account}:key/{key_id}")
    );
    assert_eq!(md.multi_region(), Some(true));
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        md.multi_region_configuration()
            .and_then(|c| c.multi_region_key_type()),
        Some(&MultiRegionKeyType::Primary)
    );

    kms.enable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKeyRotation");
    // Terraform waits for 5 consecutive `true` readings.
    for _ in 0..5 {
        let st = kms
            .get_key_rotation_status()
            .key_id(&key_id)
            .send()
            .await
            .expect("GetKeyRotationStatus");
        assert!(
            st.key_rotation_enabled(),
            "rotation must be enabled at once"
        );
    }

    // --- aws_kms_alias.mrk_alias
    let alias_p = format!("alias/{PRIMARY}-secrets-manager");
    kms.create_alias()
        .alias_name(&alias_p)
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias (primary)");

    // --- aws_kms_replica_key.euw1_mrk (sent to the primary's region)
    let replica_desc = "Multi-region replica key for Secrets Manager in eu-west-1";
    let rep = kms
        .replicate_key()
        .key_id(&key_id)
        .replica_region(REPLICA)
        .description(replica_desc)
        .send()
        .await
        .expect("ReplicateKey");
    let rmd = rep.replica_key_metadata().expect("ReplicaKeyMetadata");
    assert_eq!(rmd.key_id(), key_id, "a replica keeps the key id");
    assert_eq!(rmd.key_state(), Some(&KeyState::Creating));
    let replica_arn = format!("arn:aws:kms:{REPLICA}:{account}:key/{key_id}");
    assert_eq!(rmd.arn(), Some(replica_arn.as_str()));
    assert!(
        rep.replica_policy().is_some(),
        "ReplicateKey returns the replica's key policy"
    );

    // The replica becomes Enabled in eu-west-1 (AWS: Creating → Enabled).
    let desc_r = eventually(
        "replica key Enabled in eu-west-1",
        Duration::from_secs(15),
        || async {
            match kms_r.describe_key().key_id(&key_id).send().await {
                Ok(out) => {
                    let md = out.key_metadata().cloned().expect("KeyMetadata");
                    match md.key_state() {
                        Some(KeyState::Enabled) => Some(md),
                        Some(KeyState::Creating) => None,
                        other => panic!("unexpected replica state {other:?}"),
                    }
                }
                Err(e) if e.code() == Some("NotFoundException") => None,
                Err(e) => panic!("DescribeKey in replica region: {e:?}"),
            }
        },
    )
    .await;
    assert_eq!(desc_r.key_id(), key_id);
    assert_eq!(desc_r.arn(), Some(replica_arn.as_str()));
    assert_eq!(desc_r.description(), Some(replica_desc));
    assert_eq!(desc_r.multi_region(), Some(true));
    let mrc = desc_r
        .multi_region_configuration()
        .expect("MultiRegionConfiguration on replica");
    assert_eq!(
        mrc.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(
        mrc.primary_key().and_then(|p| p.arn()),
        Some(key_arn.as_str()),
        "PrimaryKey.Arn must equal the primary's Arn (else Terraform replaces the replica)"
    );
    assert_eq!(mrc.primary_key().and_then(|p| p.region()), Some(PRIMARY));
    // Rotation is a shared property: GetKeyRotationStatus works on the replica.
    let st_r = kms_r
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .expect("GetKeyRotationStatus on replica");
    assert!(st_r.key_rotation_enabled());
    // The primary lists its replica.
    let desc_p = kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DescribeKey primary");
    let replicas = desc_p
        .key_metadata()
        .and_then(|m| m.multi_region_configuration())
        .map(|c| c.replica_keys().to_vec())
        .unwrap_or_default();
    assert!(
        replicas
            .iter()
            .any(|r| r.region() == Some(REPLICA) && r.arn() == Some(replica_arn.as_str())),
        "primary's ReplicaKeys lists eu-west-1: {replicas:?}"
    );

    // --- aws_kms_alias.euw1_mrk_alias
    let alias_r = format!("alias/{REPLICA}-secrets-manager");
    kms_r
        .create_alias()
        .alias_name(&alias_r)
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias (replica)");
    let via_alias = kms_r
        .describe_key()
        .key_id(&alias_r)
        .send()
        .await
        .expect("DescribeKey by replica alias");
    assert_eq!(
        via_alias.key_metadata().map(|m| m.key_id()),
        Some(key_id.as_str())
    );

    // --- aws_secretsmanager_secret.example
    let name = "name-of-secret-string";
    let created = sm
        .create_secret()
        .name(name)
        .description("")
        .kms_key_id(&key_id)
        .add_replica_regions(
            ReplicaRegionType::builder()
                .region(REPLICA)
                .kms_key_id(&key_id)
                .build(),
        )
        .send()
        .await
        .expect("CreateSecret with AddReplicaRegions");
    let secret_arn = created.arn().expect("ARN").to_string();
    let arn_prefix = format!("arn:aws:secretsmanager:{PRIMARY}:{account}:secret:{name}-");
    let suffix = secret_arn
        .strip_prefix(&arn_prefix)
        .unwrap_or_else(|| panic!("secret ARN {secret_arn:?} should start with {arn_prefix:?}"));
    assert_eq!(
        suffix.len(),
        6,
        "six random characters after the name: {secret_arn}"
    );
    assert_eq!(created.name(), Some(name));
    let rs = created.replication_status();
    assert_eq!(rs.len(), 1, "{rs:?}");
    assert_eq!(rs[0].region(), Some(REPLICA));
    assert_eq!(rs[0].kms_key_id(), Some(key_id.as_str()));

    // --- aws_secretsmanager_secret_version.example
    let put = sm
        .put_secret_value()
        .secret_id(&secret_arn)
        .secret_string("actual-secret-string")
        .send()
        .await
        .expect("PutSecretValue");
    assert_eq!(put.arn(), Some(secret_arn.as_str()));
    assert_eq!(put.version_stages(), ["AWSCURRENT".to_string()]);

    // The blog's check: list-secrets in both regions shows the same Name and KmsKeyId.
    for (client, region) in [(&sm, PRIMARY), (&sm_r, REPLICA)] {
        let entry = eventually(
            &format!("secret listed in {region}"),
            Duration::from_secs(15),
            || async {
                let out = client.list_secrets().send().await.expect("ListSecrets");
                out.secret_list()
                    .iter()
                    .find(|s| s.name() == Some(name))
                    .cloned()
            },
        )
        .await;
        assert_eq!(entry.name(), Some(name), "{region}");
        assert_eq!(entry.kms_key_id(), Some(key_id.as_str()), "{region}");
    }

    // The replica secret's ARN is the primary's with the region swapped.
    let replica_secret_arn = secret_arn.replacen(
        &format!(":secretsmanager:{PRIMARY}:"),
        &format!(":secretsmanager:{REPLICA}:"),
        1,
    );
    let value = eventually(
        "replica secret value in eu-west-1",
        Duration::from_secs(15),
        || async {
            match sm_r
                .get_secret_value()
                .secret_id(&replica_secret_arn)
                .send()
                .await
            {
                Ok(v) => Some(v),
                Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                Err(e) => panic!("GetSecretValue in replica region: {e:?}"),
            }
        },
    )
    .await;
    assert_eq!(value.secret_string(), Some("actual-secret-string"));
    assert_eq!(value.arn(), Some(replica_secret_arn.as_str()));
    assert_eq!(value.name(), Some(name));
    let desc_rs = sm_r
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .expect("DescribeSecret in replica region");
    assert_eq!(desc_rs.primary_region(), Some(PRIMARY));
    assert_eq!(desc_rs.kms_key_id(), Some(key_id.as_str()));
    let desc_ps = sm
        .describe_secret()
        .secret_id(&secret_arn)
        .send()
        .await
        .expect("DescribeSecret in primary region");
    assert_eq!(desc_ps.kms_key_id(), Some(key_id.as_str()));
    assert_eq!(desc_ps.primary_region(), Some(PRIMARY));
    let status = desc_ps.replication_status();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].kms_key_id(), Some(key_id.as_str()));
    assert_ne!(
        status[0].status().map(|s| s.as_str()),
        Some("Failed"),
        "replication status {status:?}"
    );
    let pol = sm
        .get_resource_policy()
        .secret_id(&secret_arn)
        .send()
        .await
        .expect("GetResourcePolicy on a secret without a policy");
    assert_eq!(pol.arn(), Some(secret_arn.as_str()));
    assert_eq!(pol.resource_policy(), None);

    // Same key material in both regions: encrypt in one, decrypt in the other.
    for (enc, dec, enc_region) in [(&kms, &kms_r, PRIMARY), (&kms_r, &kms, REPLICA)] {
        let plaintext = format!("hello from {enc_region}");
        let ct = enc
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(plaintext.as_bytes()))
            .encryption_context("purpose", "seed")
            .send()
            .await
            .expect("Encrypt");
        let blob = ct.ciphertext_blob().expect("CiphertextBlob").clone();
        // Decrypt without KeyId: the ciphertext names its key.
        let out = dec
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("purpose", "seed")
            .send()
            .await
            .expect("Decrypt in the other region without KeyId");
        assert_eq!(
            out.plaintext().map(|b| b.as_ref()),
            Some(plaintext.as_bytes())
        );
        let dec_region = if enc_region == PRIMARY {
            REPLICA
        } else {
            PRIMARY
        };
        assert_eq!(
            out.key_id(),
            Some(format!("arn:aws:kms:{dec_region}:{account}:key/{key_id}").as_str()),
            "Decrypt reports the ARN of the key in the region that decrypted"
        );
        // Decrypt naming the key by alias in the other region.
        let other_alias = if dec_region == PRIMARY {
            &alias_p
        } else {
            &alias_r
        };
        let out = dec
            .decrypt()
            .key_id(other_alias)
            .ciphertext_blob(blob.clone())
            .encryption_context("purpose", "seed")
            .send()
            .await
            .expect("Decrypt with the alias of the related key");
        assert_eq!(
            out.plaintext().map(|b| b.as_ref()),
            Some(plaintext.as_bytes())
        );
        // The encryption context must match exactly.
        expect_err(
            dec.decrypt()
                .ciphertext_blob(blob.clone())
                .encryption_context("purpose", "other")
                .send()
                .await,
            "InvalidCiphertextException",
        );
        expect_err(
            dec.decrypt().ciphertext_blob(blob.clone()).send().await,
            "InvalidCiphertextException",
        );
    }
}
