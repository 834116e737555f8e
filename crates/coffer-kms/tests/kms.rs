//! KMS service behaviour with a fake clock: nothing here sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_core::{Clock, RequestContext};
use coffer_crypto::RootKey;
use coffer_kms::{Kms, KmsError};
use coffer_model::kms::*;
use coffer_model::{Blob, Timestamp};
use coffer_store::{MemoryStore, Store};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

struct FakeClock(AtomicI64);
impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}
impl FakeClock {
    fn advance_days(&self, d: i64) {
        self.0.fetch_add(d * 86_400_000, Ordering::SeqCst);
    }
}

fn setup() -> (Arc<dyn Store>, RootKey, Arc<FakeClock>, Kms) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let root = RootKey::from_bytes(&[9u8; 32]).unwrap();
    let clock = Arc::new(FakeClock(AtomicI64::new(1_800_000_000_000)));
    let kms = Kms::load(store.clone(), root.clone(), clock.clone()).unwrap();
    (store, root, clock, kms)
}

fn ctx(region: &str) -> RequestContext {
    RequestContext {
        account_id: "111122223333".into(),
        region: region.into(),
        principal_arn: "arn:aws:iam::111122223333:root".into(),
        role: None,
        secure_transport: false,
    }
}

fn mrk(kms: &Kms) -> String {
    kms.create_key(
        &ctx("eu-central-1"),
        CreateKeyRequest {
            multi_region: Some(true),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .key_id
}

fn encrypt(kms: &Kms, region: &str, key: &str, data: &[u8]) -> Vec<u8> {
    kms.encrypt(
        &ctx(region),
        EncryptRequest {
            key_id: Some(key.into()),
            plaintext: Some(Blob::new(data.to_vec())),
            ..Default::default()
        },
    )
    .unwrap()
    .ciphertext_blob
    .as_slice()
    .to_vec()
}

fn decrypt(kms: &Kms, region: &str, blob: &[u8]) -> Result<Vec<u8>, KmsError> {
    kms.decrypt(
        &ctx(region),
        DecryptRequest {
            ciphertext_blob: Some(Blob::new(blob.to_vec())),
            ..Default::default()
        },
    )
    .map(|r| r.plaintext.as_slice().to_vec())
}

fn describe(kms: &Kms, region: &str, key: &str) -> Result<KeyMetadata, KmsError> {
    kms.describe_key(
        &ctx(region),
        KeyIdRequest {
            key_id: Some(key.into()),
            ..Default::default()
        },
    )
    .map(|r| r.key_metadata)
}

fn key_req(key: &str) -> KeyIdRequest {
    KeyIdRequest {
        key_id: Some(key.into()),
        ..Default::default()
    }
}

#[test]
fn multi_region_family_shares_material_and_reports_configuration() {
    let (_, _, _, kms) = setup();
    let id = mrk(&kms);
    assert!(id.starts_with("mrk-") && id.len() == 36);
    let resp = kms
        .replicate_key(
            &ctx("eu-central-1"),
            ReplicateKeyRequest {
                key_id: Some(id.clone()),
                replica_region: Some("eu-west-1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(resp.replica_key_metadata.key_state, "Creating");
    let replica = describe(&kms, "eu-west-1", &id).unwrap();
    assert_eq!(replica.key_state, "Enabled");
    let mrc = replica.multi_region_configuration.unwrap();
    assert_eq!(mrc.multi_region_key_type, "REPLICA");
    assert_eq!(
        mrc.primary_key.arn,
        describe(&kms, "eu-central-1", &id).unwrap().arn
    );
    let primary = describe(&kms, "eu-central-1", &id)
        .unwrap()
        .multi_region_configuration
        .unwrap();
    assert_eq!(primary.replica_keys.len(), 1);
    let blob = encrypt(&kms, "eu-central-1", &id, b"hello");
    assert_eq!(decrypt(&kms, "eu-west-1", &blob).unwrap(), b"hello");
    // The replica works even when the primary is disabled.
    kms.disable_key(&ctx("eu-central-1"), key_req(&id)).unwrap();
    assert_eq!(decrypt(&kms, "eu-west-1", &blob).unwrap(), b"hello");
    assert!(matches!(
        decrypt(&kms, "eu-central-1", &blob),
        Err(KmsError::Disabled(_))
    ));
}

#[test]
fn deletion_happens_when_due_and_primary_waits_for_replicas() {
    let (_, _, clock, kms) = setup();
    let id = mrk(&kms);
    kms.replicate_key(
        &ctx("eu-central-1"),
        ReplicateKeyRequest {
            key_id: Some(id.clone()),
            replica_region: Some("eu-west-1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    kms.create_alias(
        &ctx("eu-west-1"),
        AliasRequest {
            alias_name: Some("alias/x".into()),
            target_key_id: Some(id.clone()),
        },
    )
    .unwrap();
    let r = kms
        .schedule_key_deletion(
            &ctx("eu-west-1"),
            ScheduleKeyDeletionRequest {
                key_id: Some(id.clone()),
                pending_window_in_days: Some(7),
            },
        )
        .unwrap();
    assert_eq!(r.key_state, "PendingDeletion");
    let p = kms
        .schedule_key_deletion(
            &ctx("eu-central-1"),
            ScheduleKeyDeletionRequest {
                key_id: Some(id.clone()),
                pending_window_in_days: None,
            },
        )
        .unwrap();
    assert_eq!(p.key_state, "PendingReplicaDeletion");
    assert!(p.deletion_date.is_none());
    let again = kms.schedule_key_deletion(
        &ctx("eu-central-1"),
        ScheduleKeyDeletionRequest {
            key_id: Some(id.clone()),
            pending_window_in_days: None,
        },
    );
    assert!(
        matches!(again, Err(KmsError::InvalidState(m)) if m.contains("pending replica deletion"))
    );

    clock.advance_days(6);
    assert_eq!(kms.run_due().unwrap(), 0);
    clock.advance_days(2);
    assert_eq!(kms.run_due().unwrap(), 1);
    assert!(matches!(
        describe(&kms, "eu-west-1", &id),
        Err(KmsError::NotFound(_))
    ));
    let aliases = kms
        .list_aliases(&ctx("eu-west-1"), ListRequest::default())
        .unwrap();
    assert!(
        aliases.aliases.iter().all(|a| a.target_key_id.is_none()),
        "aliases of a deleted key go with it (only the predefined AWS aliases are left)"
    );
    let primary = describe(&kms, "eu-central-1", &id).unwrap();
    assert_eq!(primary.key_state, "PendingDeletion");
    assert!(primary.deletion_date.is_some());
    clock.advance_days(31);
    assert_eq!(kms.run_due().unwrap(), 1);
    assert!(matches!(
        describe(&kms, "eu-central-1", &id),
        Err(KmsError::NotFound(_))
    ));
}

#[test]
fn pending_deletion_refuses_use_and_cancel_disables() {
    let (_, _, _, kms) = setup();
    let id = mrk(&kms);
    let blob = encrypt(&kms, "eu-central-1", &id, b"x");
    kms.schedule_key_deletion(
        &ctx("eu-central-1"),
        ScheduleKeyDeletionRequest {
            key_id: Some(id.clone()),
            pending_window_in_days: None,
        },
    )
    .unwrap();
    assert!(
        matches!(decrypt(&kms, "eu-central-1", &blob), Err(KmsError::InvalidState(m)) if m.ends_with("is pending deletion."))
    );
    let again = kms.schedule_key_deletion(
        &ctx("eu-central-1"),
        ScheduleKeyDeletionRequest {
            key_id: Some(id.clone()),
            pending_window_in_days: None,
        },
    );
    assert!(matches!(again, Err(KmsError::InvalidState(m)) if m.contains("is pending deletion")));
    kms.cancel_key_deletion(&ctx("eu-central-1"), key_req(&id))
        .unwrap();
    assert_eq!(
        describe(&kms, "eu-central-1", &id).unwrap().key_state,
        "Disabled"
    );
    kms.enable_key(&ctx("eu-central-1"), key_req(&id)).unwrap();
    assert_eq!(decrypt(&kms, "eu-central-1", &blob).unwrap(), b"x");
}

#[test]
fn rotation_keeps_old_ciphertexts_and_survives_reload() {
    let (store, root, clock, kms) = setup();
    let id = mrk(&kms);
    kms.replicate_key(
        &ctx("eu-central-1"),
        ReplicateKeyRequest {
            key_id: Some(id.clone()),
            replica_region: Some("eu-west-1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let old = encrypt(&kms, "eu-central-1", &id, b"before");
    kms.enable_key_rotation(
        &ctx("eu-central-1"),
        EnableKeyRotationRequest {
            key_id: Some(id.clone()),
            rotation_period_in_days: Some(90),
        },
    )
    .unwrap();
    let status = kms
        .get_key_rotation_status(&ctx("eu-west-1"), key_req(&id))
        .unwrap();
    assert!(
        status.key_rotation_enabled,
        "replicas report the family's rotation"
    );
    assert_eq!(status.rotation_period_in_days, Some(90));
    assert!(matches!(
        kms.enable_key_rotation(
            &ctx("eu-west-1"),
            EnableKeyRotationRequest {
                key_id: Some(id.clone()),
                rotation_period_in_days: None
            }
        ),
        Err(KmsError::UnsupportedOperation(_))
    ));
    let before = describe(&kms, "eu-central-1", &id)
        .unwrap()
        .current_key_material_id;
    clock.advance_days(91);
    kms.run_due().unwrap();
    kms.rotate_key_on_demand(&ctx("eu-central-1"), key_req(&id))
        .unwrap();
    let after = describe(&kms, "eu-west-1", &id)
        .unwrap()
        .current_key_material_id;
    assert_ne!(before, after, "the family rotated in every Region");
    let rotations = kms
        .list_key_rotations(
            &ctx("eu-central-1"),
            ListKeyRotationsRequest {
                key_id: Some(id.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let types: Vec<_> = rotations
        .rotations
        .iter()
        .map(|r| r.rotation_type.clone().unwrap())
        .collect();
    assert_eq!(types, vec!["AUTOMATIC", "ON_DEMAND"]);
    let new = encrypt(&kms, "eu-west-1", &id, b"after");

    let reloaded = Kms::load(store, root, clock).unwrap();
    assert_eq!(decrypt(&reloaded, "eu-west-1", &old).unwrap(), b"before");
    assert_eq!(decrypt(&reloaded, "eu-central-1", &new).unwrap(), b"after");
}

#[test]
fn encryption_context_and_wrong_key_are_refused() {
    let (_, _, _, kms) = setup();
    let a = mrk(&kms);
    let b = mrk(&kms);
    let mut ec = EncryptionContext::new();
    ec.insert("purpose".into(), "test".into());
    let blob = kms
        .encrypt(
            &ctx("eu-central-1"),
            EncryptRequest {
                key_id: Some(a.clone()),
                plaintext: Some(Blob::new(b"data".to_vec())),
                encryption_context: Some(ec.clone()),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob;
    assert!(matches!(
        decrypt(&kms, "eu-central-1", blob.as_slice()),
        Err(KmsError::InvalidCiphertext(_))
    ));
    let wrong = kms.decrypt(
        &ctx("eu-central-1"),
        DecryptRequest {
            ciphertext_blob: Some(blob.clone()),
            encryption_context: Some(ec.clone()),
            key_id: Some(b),
            ..Default::default()
        },
    );
    assert!(matches!(wrong, Err(KmsError::IncorrectKey(_))));
    let ok = kms
        .decrypt(
            &ctx("eu-central-1"),
            DecryptRequest {
                ciphertext_blob: Some(blob),
                encryption_context: Some(ec),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(ok.plaintext.as_slice(), b"data");
    assert!(matches!(
        decrypt(&kms, "eu-central-1", b"garbage"),
        Err(KmsError::InvalidCiphertext(_))
    ));
}

#[test]
fn store_holds_no_key_material_in_clear() {
    let (store, _, _, kms) = setup();
    let id = mrk(&kms);
    let data_key = kms
        .generate_data_key(
            &ctx("eu-central-1"),
            GenerateDataKeyRequest {
                key_id: Some(id),
                key_spec: Some("AES_256".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let plain = data_key.plaintext.unwrap();
    for table in ["kms_family", "kms_key", "kms_alias"] {
        for (_, bytes) in store.scan(table).unwrap() {
            assert!(!bytes
                .windows(plain.as_slice().len())
                .any(|w| w == plain.as_slice()));
        }
    }
}

#[test]
fn grants_have_names_tokens_and_retirement() {
    let (store, root, clock, kms) = setup();
    let id = mrk(&kms);
    let c = ctx("eu-central-1");
    let req = || CreateGrantRequest {
        key_id: Some(id.clone()),
        grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
        retiring_principal: Some("arn:aws:iam::111122223333:role/ops".into()),
        operations: Some(vec!["Decrypt".into(), "Encrypt".into()]),
        name: Some("app-grant".into()),
        ..Default::default()
    };
    let a = kms.create_grant(&c, req()).unwrap();
    let b = kms.create_grant(&c, req()).unwrap();
    assert_eq!(
        a.grant_id, b.grant_id,
        "same name and properties: same grant"
    );
    assert_ne!(
        a.grant_token, b.grant_token,
        "every CreateGrant returns a fresh token"
    );
    let other = kms
        .create_grant(
            &c,
            CreateGrantRequest {
                operations: Some(vec!["DescribeKey".into()]),
                ..req()
            },
        )
        .unwrap();
    assert_ne!(other.grant_id, a.grant_id);
    let listed = kms
        .list_grants(
            &c,
            ListGrantsRequest {
                key_id: Some(id.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(listed.grants.len(), 2);
    let retirable = kms
        .list_retirable_grants(
            &c,
            ListGrantsRequest {
                retiring_principal: Some("arn:aws:iam::111122223333:role/ops".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(retirable.grants.len(), 2);
    // Another Region's replica has grants of its own.
    kms.replicate_key(
        &c,
        ReplicateKeyRequest {
            key_id: Some(id.clone()),
            replica_region: Some("eu-west-1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let west = kms
        .list_grants(
            &ctx("eu-west-1"),
            ListGrantsRequest {
                key_id: Some(id.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(west.grants.is_empty());

    kms.retire_grant(
        &c,
        RetireGrantRequest {
            grant_token: Some(a.grant_token.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        kms.retire_grant(
            &c,
            RetireGrantRequest {
                grant_token: Some("nonsense".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::InvalidGrantToken(_))
    ));
    let reloaded = Kms::load(store, root, clock).unwrap();
    let left = reloaded
        .list_grants(
            &c,
            ListGrantsRequest {
                key_id: Some(id.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(left.grants.len(), 1);
    assert_eq!(left.grants[0].operations, vec!["DescribeKey"]);
    reloaded
        .revoke_grant(
            &c,
            RetireGrantRequest {
                key_id: Some(id.clone()),
                grant_id: Some(other.grant_id),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(reloaded
        .list_grants(
            &c,
            ListGrantsRequest {
                key_id: Some(id),
                ..Default::default()
            }
        )
        .unwrap()
        .grants
        .is_empty());
}

fn create(kms: &Kms, spec: &str, usage: &str) -> String {
    kms.create_key(
        &ctx("eu-central-1"),
        CreateKeyRequest {
            key_spec: Some(spec.into()),
            key_usage: Some(usage.into()),
            ..Default::default()
        },
    )
    .unwrap()
    .key_metadata
    .key_id
}

#[test]
fn asymmetric_keys_sign_verify_and_encrypt() {
    let (store, root, clock, kms) = setup();
    let c = ctx("eu-central-1");
    for (spec, alg) in [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
    ] {
        let id = create(&kms, spec, "SIGN_VERIFY");
        let md = describe(&kms, "eu-central-1", &id).unwrap();
        assert_eq!(md.key_spec, spec);
        assert!(md.signing_algorithms.unwrap().contains(&alg.to_string()));
        assert!(md.encryption_algorithms.is_none());
        let req = |sig: Option<Vec<u8>>| SignRequest {
            key_id: Some(id.clone()),
            message: Some(Blob::new(b"message".to_vec())),
            signing_algorithm: Some(alg.into()),
            signature: sig.map(Blob::new),
            ..Default::default()
        };
        let sig = kms
            .sign(&c, req(None))
            .unwrap()
            .signature
            .as_slice()
            .to_vec();
        assert!(
            kms.verify(&c, req(Some(sig.clone())))
                .unwrap()
                .signature_valid
        );
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            kms.verify(&c, req(Some(bad))),
            Err(KmsError::InvalidSignature(_))
        ));
        let public = kms.get_public_key(&c, key_req(&id)).unwrap();
        assert_eq!(public.key_usage, "SIGN_VERIFY");
        // A signing key cannot encrypt.
        let enc = kms.encrypt(
            &c,
            EncryptRequest {
                key_id: Some(id.clone()),
                plaintext: Some(Blob::new(b"x".to_vec())),
                ..Default::default()
            },
        );
        assert!(matches!(enc, Err(KmsError::InvalidKeyUsage(_))), "{enc:?}");
    }
    let rsa = create(&kms, "RSA_2048", "ENCRYPT_DECRYPT");
    let ct = kms
        .encrypt(
            &c,
            EncryptRequest {
                key_id: Some(rsa.clone()),
                plaintext: Some(Blob::new(b"secret".to_vec())),
                encryption_algorithm: Some("RSAES_OAEP_SHA_256".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        ct.ciphertext_blob.as_slice().len(),
        256,
        "raw OAEP output, modulus length"
    );
    // The key survives a reload (PKCS#8 wrapped under the root key).
    let kms = Kms::load(store, root, clock).unwrap();
    let pt = kms
        .decrypt(
            &c,
            DecryptRequest {
                key_id: Some(rsa.clone()),
                ciphertext_blob: Some(ct.ciphertext_blob),
                encryption_algorithm: Some("RSAES_OAEP_SHA_256".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(pt.plaintext.as_slice(), b"secret");
    let rot = kms.enable_key_rotation(
        &c,
        EnableKeyRotationRequest {
            key_id: Some(rsa),
            rotation_period_in_days: None,
        },
    );
    assert!(matches!(rot, Err(KmsError::UnsupportedOperation(_))));
    assert!(matches!(
        kms.create_key(
            &c,
            CreateKeyRequest {
                key_spec: Some("ECC_NIST_P256".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::Validation(_))
    ));
    assert!(matches!(
        kms.create_key(
            &c,
            CreateKeyRequest {
                key_spec: Some("SM2".into()),
                key_usage: Some("SIGN_VERIFY".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::UnsupportedOperation(_))
    ));
}

#[test]
fn hmac_keys_and_data_key_pairs() {
    let (_, _, _, kms) = setup();
    let c = ctx("eu-central-1");
    let id = create(&kms, "HMAC_256", "GENERATE_VERIFY_MAC");
    let req = |mac: Option<Vec<u8>>| MacRequest {
        key_id: Some(id.clone()),
        message: Some(Blob::new(b"msg".to_vec())),
        mac_algorithm: Some("HMAC_SHA_256".into()),
        mac: mac.map(Blob::new),
        ..Default::default()
    };
    let mac = kms
        .generate_mac(&c, req(None))
        .unwrap()
        .mac
        .as_slice()
        .to_vec();
    assert_eq!(mac.len(), 32);
    assert!(kms.verify_mac(&c, req(Some(mac))).unwrap().mac_valid);
    assert!(matches!(
        kms.verify_mac(&c, req(Some(vec![0; 32]))),
        Err(KmsError::InvalidMac(_))
    ));
    let sym = mrk(&kms);
    let pair = kms
        .generate_data_key_pair(
            &c,
            GenerateDataKeyPairRequest {
                key_id: Some(sym.clone()),
                key_pair_spec: Some("ECC_NIST_P256".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let private = pair.private_key_plaintext.unwrap();
    let opened = decrypt(
        &kms,
        "eu-central-1",
        pair.private_key_ciphertext_blob.as_slice(),
    )
    .unwrap();
    assert_eq!(opened, private.as_slice());
    let without = kms.generate_data_key_pair_without_plaintext(
        &c,
        GenerateDataKeyPairRequest {
            key_id: Some(id),
            key_pair_spec: Some("RSA_2048".into()),
            ..Default::default()
        },
    );
    assert!(
        matches!(without, Err(KmsError::InvalidKeyUsage(_))),
        "an HMAC key cannot wrap a data key pair"
    );
}

#[test]
fn ml_kem_encapsulate_and_decapsulate() {
    let (_, _, _, kms) = setup();
    let c = ctx("eu-central-1");
    let id = create(&kms, "ML_KEM_768", "ENCAPSULATE_DECAPSULATE");
    let md = describe(&kms, "eu-central-1", &id).unwrap();
    assert_eq!(
        md.encapsulation_algorithms,
        Some(vec!["ML_KEM".to_string()])
    );
    let enc = kms
        .encapsulate(
            &c,
            EncapsulateRequest {
                key_id: Some(id.clone()),
                encapsulation_algorithm: Some("ML_KEM".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let ct = enc.shared_secret_ciphertext_blob.clone().unwrap();
    assert_eq!(ct.as_slice().len(), 1088);
    let dec = kms
        .decapsulate(
            &c,
            EncapsulateRequest {
                key_id: Some(id.clone()),
                encapsulation_algorithm: Some("ML_KEM".into()),
                shared_secret_ciphertext_blob: Some(ct),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(dec.shared_secret.as_slice(), enc.shared_secret.as_slice());
    assert_eq!(dec.shared_secret.as_slice().len(), 32);
    let short = kms.decapsulate(
        &c,
        EncapsulateRequest {
            key_id: Some(id),
            encapsulation_algorithm: Some("ML_KEM".into()),
            shared_secret_ciphertext_blob: Some(Blob::new(vec![1; 10])),
            ..Default::default()
        },
    );
    assert!(
        matches!(short, Err(KmsError::InvalidCiphertext(_))),
        "{short:?}"
    );
}

fn validation_message(r: Result<impl std::fmt::Debug, KmsError>) -> String {
    match r {
        Err(KmsError::Validation(e)) => e.message,
        other => panic!("expected a ValidationException, got {other:?}"),
    }
}

const SOURCE_ARN: &str = "arn:aws:rds:eu-central-1:111122223333:db:orders";

fn service_grant(key: &str) -> CreateGrantRequest {
    CreateGrantRequest {
        key_id: Some(key.into()),
        grantee_service_principal: Some("rds.amazonaws.com".into()),
        retiring_service_principal: Some("eu-central-1.rds.amazonaws.com".into()),
        operations: Some(vec!["Decrypt".into(), "GenerateDataKey".into()]),
        constraints: Some(GrantConstraints {
            source_arn: Some(SOURCE_ARN.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn grants_of(kms: &Kms, req: ListGrantsRequest) -> Vec<GrantListEntry> {
    kms.list_grants(&ctx("eu-central-1"), req).unwrap().grants
}

#[test]
fn grants_for_service_principals_carry_source_arn_and_list_by_service() {
    let (store, root, clock, kms) = setup();
    let id = mrk(&kms);
    let c = ctx("eu-central-1");
    let service = kms
        .create_grant(
            &c,
            CreateGrantRequest {
                name: Some("rds-orders".into()),
                ..service_grant(&id)
            },
        )
        .unwrap();
    // Name idempotency covers the service principals and the SourceArn constraint.
    let again = kms
        .create_grant(
            &c,
            CreateGrantRequest {
                name: Some("rds-orders".into()),
                ..service_grant(&id)
            },
        )
        .unwrap();
    assert_eq!(again.grant_id, service.grant_id);
    let other_arn = kms
        .create_grant(
            &c,
            CreateGrantRequest {
                name: Some("rds-orders".into()),
                constraints: Some(GrantConstraints {
                    source_arn: Some("arn:aws:rds:eu-central-1:111122223333:db:billing".into()),
                    ..Default::default()
                }),
                ..service_grant(&id)
            },
        )
        .unwrap();
    assert_ne!(other_arn.grant_id, service.grant_id);
    // An IAM grantee with a retiring service principal and a SourceArn constraint.
    let iam = kms
        .create_grant(
            &c,
            CreateGrantRequest {
                key_id: Some(id.clone()),
                grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
                retiring_service_principal: Some("rds.amazonaws.com".into()),
                operations: Some(vec!["Encrypt".into()]),
                constraints: Some(GrantConstraints {
                    encryption_context_subset: Some(
                        [("tenant".to_string(), "a".to_string())].into(),
                    ),
                    source_arn: Some(SOURCE_ARN.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap();

    let all = grants_of(
        &kms,
        ListGrantsRequest {
            key_id: Some(id.clone()),
            ..Default::default()
        },
    );
    assert_eq!(all.len(), 3);
    let g = all.iter().find(|g| g.grant_id == service.grant_id).unwrap();
    assert_eq!(g.grantee_principal, None);
    assert_eq!(
        g.grantee_service_principal.as_deref(),
        Some("rds.amazonaws.com")
    );
    assert_eq!(g.retiring_principal, None);
    assert_eq!(
        g.retiring_service_principal.as_deref(),
        Some("eu-central-1.rds.amazonaws.com")
    );
    assert_eq!(g.name.as_deref(), Some("rds-orders"));
    // On the wire: no GranteePrincipal, the service members, SourceArn inside Constraints.
    let wire = serde_json::to_value(g).unwrap();
    assert!(wire.get("GranteePrincipal").is_none(), "{wire}");
    assert!(wire.get("RetiringPrincipal").is_none(), "{wire}");
    assert_eq!(wire["GranteeServicePrincipal"], "rds.amazonaws.com");
    assert_eq!(
        wire["RetiringServicePrincipal"],
        "eu-central-1.rds.amazonaws.com"
    );
    assert_eq!(
        wire["Constraints"],
        serde_json::json!({ "SourceArn": SOURCE_ARN })
    );
    let i = all.iter().find(|g| g.grant_id == iam.grant_id).unwrap();
    let wire = serde_json::to_value(i).unwrap();
    assert_eq!(
        wire["GranteePrincipal"],
        "arn:aws:iam::111122223333:role/app"
    );
    assert!(wire.get("GranteeServicePrincipal").is_none(), "{wire}");
    assert_eq!(wire["RetiringServicePrincipal"], "rds.amazonaws.com");
    assert_eq!(
        wire["Constraints"],
        serde_json::json!({ "EncryptionContextSubset": { "tenant": "a" }, "SourceArn": SOURCE_ARN })
    );

    // ListGrants filters by grantee service principal, and a principal filter never matches it.
    let by_service = grants_of(
        &kms,
        ListGrantsRequest {
            key_id: Some(id.clone()),
            grantee_service_principal: Some("rds.amazonaws.com".into()),
            ..Default::default()
        },
    );
    let mut ids: Vec<_> = by_service.iter().map(|g| g.grant_id.clone()).collect();
    ids.sort();
    let mut want = vec![service.grant_id.clone(), other_arn.grant_id.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert!(grants_of(
        &kms,
        ListGrantsRequest {
            key_id: Some(id.clone()),
            grantee_service_principal: Some("s3.amazonaws.com".into()),
            ..Default::default()
        },
    )
    .is_empty());
    let by_principal = grants_of(
        &kms,
        ListGrantsRequest {
            key_id: Some(id.clone()),
            grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
            ..Default::default()
        },
    );
    assert_eq!(by_principal.len(), 1);
    assert_eq!(by_principal[0].grant_id, iam.grant_id);
    assert!(grants_of(
        &kms,
        ListGrantsRequest {
            key_id: Some(id.clone()),
            grantee_principal: Some("rds.amazonaws.com".into()),
            ..Default::default()
        },
    )
    .is_empty());

    // ListRetirableGrants by retiring service principal, never matched by RetiringPrincipal.
    let retirable = |principal: Option<&str>, service: Option<&str>| {
        let mut ids: Vec<String> = kms
            .list_retirable_grants(
                &c,
                ListGrantsRequest {
                    retiring_principal: principal.map(str::to_string),
                    retiring_service_principal: service.map(str::to_string),
                    ..Default::default()
                },
            )
            .unwrap()
            .grants
            .into_iter()
            .map(|g| g.grant_id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        retirable(None, Some("rds.amazonaws.com")),
        vec![iam.grant_id.clone()]
    );
    assert_eq!(
        retirable(None, Some("eu-central-1.rds.amazonaws.com")),
        want
    );
    assert!(retirable(Some("rds.amazonaws.com"), None).is_empty());

    // Everything survives a reload from the store.
    let reloaded = Kms::load(store, root, clock).unwrap();
    let before = serde_json::to_value(&all).unwrap();
    let after = serde_json::to_value(
        reloaded
            .list_grants(
                &c,
                ListGrantsRequest {
                    key_id: Some(id.clone()),
                    ..Default::default()
                },
            )
            .unwrap()
            .grants,
    )
    .unwrap();
    assert_eq!(before, after);
    // Service grants retire and revoke like any other.
    reloaded
        .retire_grant(
            &c,
            RetireGrantRequest {
                grant_token: Some(service.grant_token),
                ..Default::default()
            },
        )
        .unwrap();
    reloaded
        .revoke_grant(
            &c,
            RetireGrantRequest {
                key_id: Some(id.clone()),
                grant_id: Some(other_arn.grant_id),
                ..Default::default()
            },
        )
        .unwrap();
    let left = reloaded
        .list_grants(
            &c,
            ListGrantsRequest {
                key_id: Some(id),
                ..Default::default()
            },
        )
        .unwrap()
        .grants;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].grant_id, iam.grant_id);
}

/// The grant operations each kind of key supports besides `CreateGrant`, `RetireGrant` and
/// `DescribeKey` (AWS's key type reference; grants, "Grant operations").
const GRANTABLE: &[(&str, &str, &[&str])] = &[
    (
        "SYMMETRIC_DEFAULT",
        "ENCRYPT_DECRYPT",
        &[
            "Encrypt",
            "Decrypt",
            "ReEncryptFrom",
            "ReEncryptTo",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
        ],
    ),
    (
        "HMAC_256",
        "GENERATE_VERIFY_MAC",
        &["GenerateMac", "VerifyMac"],
    ),
    (
        "RSA_2048",
        "ENCRYPT_DECRYPT",
        &[
            "Encrypt",
            "Decrypt",
            "ReEncryptFrom",
            "ReEncryptTo",
            "GetPublicKey",
        ],
    ),
    (
        "RSA_2048",
        "SIGN_VERIFY",
        &["Sign", "Verify", "GetPublicKey"],
    ),
    (
        "ECC_NIST_P256",
        "SIGN_VERIFY",
        &["Sign", "Verify", "GetPublicKey"],
    ),
    (
        "ECC_NIST_P256",
        "KEY_AGREEMENT",
        &["DeriveSharedSecret", "GetPublicKey"],
    ),
    (
        "ML_KEM_768",
        "ENCAPSULATE_DECAPSULATE",
        &["Encapsulate", "Decapsulate", "GetPublicKey"],
    ),
];

const OPERATION_NOT_SUPPORTED: &str =
    "The grant operations that you allow must be supported by the KMS key in the grant.";

#[test]
fn grant_operations_must_be_supported_by_the_key() {
    let (_, _, _, kms) = setup();
    let c = ctx("eu-central-1");
    let grant = |key: &str, ops: &[&str]| CreateGrantRequest {
        key_id: Some(key.into()),
        grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
        operations: Some(ops.iter().map(|o| o.to_string()).collect()),
        ..Default::default()
    };
    let count = |key: &str| {
        grants_of(
            &kms,
            ListGrantsRequest {
                key_id: Some(key.into()),
                ..Default::default()
            },
        )
        .len()
    };
    for (spec, usage, supported) in GRANTABLE {
        let id = create(&kms, spec, usage);
        let mut created = 0;
        for op in grant_operations() {
            let r = kms.create_grant(&c, grant(&id, &[op]));
            if supported.contains(op) || ["CreateGrant", "RetireGrant", "DescribeKey"].contains(op)
            {
                assert!(r.is_ok(), "{spec}/{usage} grant for {op}: {r:?}");
                created += 1;
            } else {
                assert_eq!(
                    validation_message(r),
                    OPERATION_NOT_SUPPORTED,
                    "{spec}/{usage} grant for {op}"
                );
            }
        }
        // All of a key's operations in one grant; one unsupported operation fails it all.
        let mut all: Vec<&str> = supported.to_vec();
        all.extend(["CreateGrant", "RetireGrant", "DescribeKey"]);
        kms.create_grant(&c, grant(&id, &all)).unwrap();
        created += 1;
        let foreign = if *usage == "SIGN_VERIFY" {
            "Decrypt"
        } else {
            "Sign"
        };
        all.push(foreign);
        assert_eq!(
            validation_message(kms.create_grant(&c, grant(&id, &all))),
            OPERATION_NOT_SUPPORTED
        );
        assert_eq!(
            count(&id),
            created,
            "{spec}/{usage}: failures store nothing"
        );
    }

    // The check comes before DryRun, which then answers for a grant that would succeed.
    let sign = create(&kms, "ECC_NIST_P256", "SIGN_VERIFY");
    let dry = |ops: &[&str]| CreateGrantRequest {
        dry_run: Some(true),
        ..grant(&sign, ops)
    };
    assert_eq!(
        validation_message(kms.create_grant(&c, dry(&["GenerateDataKey"]))),
        OPERATION_NOT_SUPPORTED
    );
    assert!(matches!(
        kms.create_grant(&c, dry(&["Sign"])),
        Err(KmsError::DryRun(_))
    ));
    // A key pending deletion still fails on its state first, as before.
    let pending = create(&kms, "ECC_NIST_P256", "SIGN_VERIFY");
    kms.schedule_key_deletion(
        &c,
        ScheduleKeyDeletionRequest {
            key_id: Some(pending.clone()),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    assert!(matches!(
        kms.create_grant(&c, grant(&pending, &["Encrypt"])),
        Err(KmsError::InvalidState(_))
    ));
}

#[test]
fn encryption_context_constraints_need_a_symmetric_encryption_key() {
    let (_, _, _, kms) = setup();
    let c = ctx("eu-central-1");
    let constrained = |key: &str, ops: &[&str], constraints: GrantConstraints| CreateGrantRequest {
        key_id: Some(key.into()),
        grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
        operations: Some(ops.iter().map(|o| o.to_string()).collect()),
        constraints: Some(constraints),
        ..Default::default()
    };
    let equals = || GrantConstraints {
        encryption_context_equals: Some([("tenant".to_string(), "a".to_string())].into()),
        ..Default::default()
    };
    let subset = || GrantConstraints {
        encryption_context_subset: Some([("tenant".to_string(), "a".to_string())].into()),
        ..Default::default()
    };
    let source_arn = || GrantConstraints {
        source_arn: Some(SOURCE_ARN.into()),
        ..Default::default()
    };
    let symmetric = mrk(&kms);
    for cons in [equals(), subset()] {
        kms.create_grant(
            &c,
            constrained(&symmetric, &["Decrypt", "DescribeKey"], cons),
        )
        .unwrap();
    }
    let message = "You cannot use an encryption context grant constraint for cryptographic operations with asymmetric KMS keys or HMAC KMS keys.";
    for (spec, usage, ops) in [
        ("HMAC_256", "GENERATE_VERIFY_MAC", &["GenerateMac"][..]),
        ("RSA_2048", "ENCRYPT_DECRYPT", &["Decrypt"][..]),
        ("ECC_NIST_P256", "SIGN_VERIFY", &["Sign", "DescribeKey"][..]),
        (
            "ECC_NIST_P256",
            "KEY_AGREEMENT",
            &["DeriveSharedSecret"][..],
        ),
    ] {
        let id = create(&kms, spec, usage);
        for cons in [equals(), subset()] {
            assert_eq!(
                validation_message(kms.create_grant(&c, constrained(&id, ops, cons))),
                message,
                "{spec}/{usage}"
            );
        }
        // A SourceArn constraint is not an encryption context.
        kms.create_grant(&c, constrained(&id, ops, source_arn()))
            .unwrap();
        // Unsupported operations are reported first.
        assert_eq!(
            validation_message(
                kms.create_grant(&c, constrained(&id, &["GenerateDataKey"], equals()))
            ),
            OPERATION_NOT_SUPPORTED
        );
    }
}

#[test]
fn grant_principal_rules_and_limits() {
    let (_, _, _, kms) = setup();
    let id = mrk(&kms);
    let c = ctx("eu-central-1");
    let iam = || CreateGrantRequest {
        key_id: Some(id.clone()),
        grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
        operations: Some(vec!["Decrypt".into()]),
        ..Default::default()
    };
    let grantee_exclusive =
        "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.";
    assert_eq!(
        validation_message(kms.create_grant(
            &c,
            CreateGrantRequest {
                grantee_principal: None,
                ..iam()
            }
        )),
        grantee_exclusive
    );
    assert_eq!(
        validation_message(kms.create_grant(
            &c,
            CreateGrantRequest {
                grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
                ..service_grant(&id)
            }
        )),
        grantee_exclusive
    );
    assert_eq!(
        validation_message(kms.create_grant(
            &c,
            CreateGrantRequest {
                retiring_principal: Some("arn:aws:iam::111122223333:role/ops".into()),
                retiring_service_principal: Some("rds.amazonaws.com".into()),
                ..iam()
            }
        )),
        "You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both."
    );
    assert_eq!(
        validation_message(kms.create_grant(
            &c,
            CreateGrantRequest {
                constraints: None,
                ..service_grant(&id)
            }
        )),
        "When you specify a GranteeServicePrincipal, you must also specify a SourceArn grant constraint."
    );
    // Only the encryption-context constraints: still no SourceArn.
    assert_eq!(
        validation_message(kms.create_grant(
            &c,
            CreateGrantRequest {
                constraints: Some(GrantConstraints {
                    encryption_context_equals: Some([("a".to_string(), "b".to_string())].into()),
                    ..Default::default()
                }),
                ..service_grant(&id)
            }
        )),
        "When you specify a GranteeServicePrincipal, you must also specify a SourceArn grant constraint."
    );
    assert_eq!(
        validation_message(kms.create_grant(
            &c,
            CreateGrantRequest {
                retiring_service_principal: None,
                ..service_grant(&id)
            }
        )),
        "When you specify a GranteeServicePrincipal, you must also specify either a RetiringPrincipal or a RetiringServicePrincipal."
    );
    // A retiring IAM principal satisfies the rule too.
    kms.create_grant(
        &c,
        CreateGrantRequest {
            retiring_service_principal: None,
            retiring_principal: Some("arn:aws:iam::111122223333:role/ops".into()),
            ..service_grant(&id)
        },
    )
    .unwrap();

    // The shapes' limits, in AWS's wording.
    let sp = r"^([A-Za-z0-9\-]+)\.([A-Za-z0-9\-]+)(\.[A-Za-z0-9\-]+)+$";
    for bad in [
        "amazonaws.com",
        "rds..amazonaws.com",
        "rds.amazon_aws.com",
        ".rds.amazonaws.com",
    ] {
        assert_eq!(
            validation_message(kms.create_grant(
                &c,
                CreateGrantRequest {
                    grantee_service_principal: Some(bad.into()),
                    ..service_grant(&id)
                }
            )),
            format!("1 validation error detected: Value '{bad}' at 'granteeServicePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: {sp}")
        );
    }
    let long = format!("{}.amazonaws.com", "a".repeat(115));
    assert_eq!(long.len(), 129);
    assert_eq!(
        validation_message(kms.create_grant(
            &c,
            CreateGrantRequest {
                retiring_service_principal: Some(long.clone()),
                ..service_grant(&id)
            }
        )),
        format!("1 validation error detected: Value '{long}' at 'retiringServicePrincipal' failed to satisfy constraint: Member must have length less than or equal to 128")
    );
    let arn_pattern = r"^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$";
    let with_arn = |arn: &str| CreateGrantRequest {
        constraints: Some(GrantConstraints {
            source_arn: Some(arn.into()),
            ..Default::default()
        }),
        ..service_grant(&id)
    };
    assert_eq!(
        validation_message(kms.create_grant(&c, with_arn("arn:aws:s3:::bucket"))),
        format!("2 validation errors detected: Value 'arn:aws:s3:::bucket' at 'constraints.sourceArn' failed to satisfy constraint: Member must have length greater than or equal to 20; Value 'arn:aws:s3:::bucket' at 'constraints.sourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: {arn_pattern}")
    );
    for bad in [
        "arn:aws:rds:eu-central-1:11112222333:db:orders",
        "arn:aws:RDS:eu-central-1:111122223333:db:orders",
        "arn:aws:rds:eu-central-1:111122223333:",
        "arn:azure:rds:eu-central-1:111122223333:db",
        "arn:aws:rds:eu-central-1:111122223333:db\norders",
    ] {
        assert_eq!(
            validation_message(kms.create_grant(&c, with_arn(bad))),
            format!("1 validation error detected: Value '{bad}' at 'constraints.sourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: {arn_pattern}"),
        );
    }
    let prefix = "arn:aws:s3:eu-central-1:111122223333:";
    let long_arn = format!("{prefix}{}", "b".repeat(513 - prefix.len()));
    assert_eq!(
        validation_message(kms.create_grant(&c, with_arn(&long_arn))),
        format!("1 validation error detected: Value '{long_arn}' at 'constraints.sourceArn' failed to satisfy constraint: Member must have length less than or equal to 512")
    );
    kms.create_grant(&c, with_arn(&long_arn[..512])).unwrap();
    for good in [
        "arn:aws-us-gov:rds:us-gov-west-1:111122223333:db:orders",
        "arn:aws:s3::111122223333:bucket/key:with:colons",
        "arn:aws:iam::111122223333:role/x",
    ] {
        kms.create_grant(&c, with_arn(good)).unwrap();
    }
    // Several failures are reported together, in the model's member order.
    assert_eq!(
        validation_message(kms.create_grant(
            &c,
            CreateGrantRequest {
                grantee_service_principal: Some("rds".into()),
                retiring_service_principal: Some("".into()),
                ..iam()
            }
        )),
        format!("3 validation errors detected: Value 'rds' at 'granteeServicePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: {sp}; Value '' at 'retiringServicePrincipal' failed to satisfy constraint: Member must have length greater than or equal to 1; Value '' at 'retiringServicePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: {sp}")
    );
    // The model's GrantOperation now includes the ML-KEM operations (for an ML-KEM key).
    let kem = create(&kms, "ML_KEM_768", "ENCAPSULATE_DECAPSULATE");
    kms.create_grant(
        &c,
        CreateGrantRequest {
            key_id: Some(kem),
            operations: Some(vec!["Encapsulate".into(), "Decapsulate".into()]),
            ..iam()
        },
    )
    .unwrap();

    // ListGrants: one grantee filter or the other.
    assert_eq!(
        validation_message(kms.list_grants(
            &c,
            ListGrantsRequest {
                key_id: Some(id.clone()),
                grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
                grantee_service_principal: Some("rds.amazonaws.com".into()),
                ..Default::default()
            }
        )),
        "You can specify either GranteePrincipal or GranteeServicePrincipal, but not both."
    );
    assert_eq!(
        validation_message(kms.list_grants(
            &c,
            ListGrantsRequest {
                key_id: Some(id.clone()),
                grantee_service_principal: Some("rds_amazonaws_com".into()),
                ..Default::default()
            }
        )),
        format!("1 validation error detected: Value 'rds_amazonaws_com' at 'granteeServicePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: {sp}")
    );
    // ListRetirableGrants: exactly one of the retiring filters.
    let retiring_exclusive =
        "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both.";
    assert_eq!(
        validation_message(kms.list_retirable_grants(&c, ListGrantsRequest::default())),
        retiring_exclusive
    );
    assert_eq!(
        validation_message(kms.list_retirable_grants(
            &c,
            ListGrantsRequest {
                retiring_principal: Some("arn:aws:iam::111122223333:role/ops".into()),
                retiring_service_principal: Some("rds.amazonaws.com".into()),
                ..Default::default()
            }
        )),
        retiring_exclusive
    );
    assert_eq!(
        validation_message(kms.list_retirable_grants(
            &c,
            ListGrantsRequest {
                retiring_service_principal: Some("x".repeat(129)),
                ..Default::default()
            }
        )),
        format!("2 validation errors detected: Value '{0}' at 'retiringServicePrincipal' failed to satisfy constraint: Member must have length less than or equal to 128; Value '{0}' at 'retiringServicePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: {sp}", "x".repeat(129))
    );
}

#[test]
fn grant_records_written_before_service_principals_still_load() {
    let (store, root, clock, kms) = setup();
    let id = mrk(&kms);
    // A grant exactly as version 2 wrote it: `grantee` a string, no service members, no SourceArn.
    let old = serde_json::json!({
        "v": 2,
        "account": "111122223333",
        "region": "eu-central-1",
        "key_id": id,
        "grant_id": "ab".repeat(32),
        "name": "legacy",
        "grantee": "arn:aws:iam::111122223333:role/app",
        "retiring": null,
        "operations": ["Decrypt"],
        "constraints": { "EncryptionContextEquals": { "k": "v" } },
        "created": 1_800_000_000_000_i64,
    });
    let mut tx = coffer_store::Transaction::new();
    tx.put(
        "kms_grant",
        &format!("111122223333/eu-central-1/{}", "ab".repeat(32)),
        serde_json::to_vec(&old).unwrap(),
    );
    store.commit(&tx).unwrap();
    let kms = {
        drop(kms);
        Kms::load(store, root, clock).unwrap()
    };
    let grants = kms
        .list_grants(
            &ctx("eu-central-1"),
            ListGrantsRequest {
                key_id: Some(id.clone()),
                ..Default::default()
            },
        )
        .unwrap()
        .grants;
    assert_eq!(grants.len(), 1);
    let g = &grants[0];
    assert_eq!(
        g.grantee_principal.as_deref(),
        Some("arn:aws:iam::111122223333:role/app")
    );
    assert_eq!(g.grantee_service_principal, None);
    assert_eq!(g.retiring_service_principal, None);
    assert_eq!(
        serde_json::to_value(&g.constraints).unwrap(),
        serde_json::json!({ "EncryptionContextEquals": { "k": "v" } })
    );
    // Name idempotency still finds it.
    let again = kms
        .create_grant(
            &ctx("eu-central-1"),
            CreateGrantRequest {
                key_id: Some(id),
                grantee_principal: Some("arn:aws:iam::111122223333:role/app".into()),
                operations: Some(vec!["Decrypt".into()]),
                constraints: Some(GrantConstraints {
                    encryption_context_equals: Some([("k".to_string(), "v".to_string())].into()),
                    ..Default::default()
                }),
                name: Some("legacy".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(again.grant_id, "ab".repeat(32));
}

fn key_ids(
    kms: &Kms,
    c: &RequestContext,
    req: ListKeysRequest,
) -> Result<(Vec<String>, Option<String>), KmsError> {
    let out = kms.list_keys(c, req)?;
    assert_eq!(out.truncated, out.next_marker.is_some());
    Ok((
        out.keys.into_iter().map(|k| k.key_id).collect(),
        out.next_marker,
    ))
}

#[test]
fn list_keys_resource_owners() {
    let (_, _, _, kms) = setup();
    let c = ctx("eu-central-1");
    let mut mine: Vec<String> = (0..3).map(|_| mrk(&kms)).collect();
    mine.sort();
    // Another account's key is never listed, whatever the owners asked for: Coffer has no RAM,
    // so nothing is shared with the caller.
    let other = RequestContext {
        account_id: "444455556666".into(),
        principal_arn: "arn:aws:iam::444455556666:root".into(),
        ..c.clone()
    };
    let theirs = kms
        .create_key(&other, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let owners = |o: &[&str]| ListKeysRequest {
        resource_owners: Some(o.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(key_ids(&kms, &c, ListKeysRequest::default()).unwrap().0),
        mine
    );
    for o in [
        &["SELF"][..],
        &["SELF", "OTHER_ACCOUNTS_VIA_RAM"],
        &["OTHER_ACCOUNTS_VIA_RAM", "SELF"],
        &["SELF", "SELF"],
    ] {
        let (ids, next) = key_ids(&kms, &c, owners(o)).unwrap();
        assert_eq!(sorted(ids), mine, "{o:?}");
        assert_eq!(next, None);
    }
    for o in [
        &["OTHER_ACCOUNTS_VIA_RAM"][..],
        &["OTHER_ACCOUNTS_VIA_RAM"; 2],
    ] {
        assert_eq!(
            key_ids(&kms, &c, owners(o)).unwrap(),
            (vec![], None),
            "{o:?}"
        );
    }
    assert_eq!(
        key_ids(&kms, &other, owners(&["SELF", "OTHER_ACCOUNTS_VIA_RAM"]))
            .unwrap()
            .0,
        vec![theirs]
    );

    // Both owners page through the caller's keys, then end: no shared keys follow.
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let (ids, next) = key_ids(
            &kms,
            &c,
            ListKeysRequest {
                limit: Some(2),
                marker: marker.clone(),
                ..owners(&["SELF", "OTHER_ACCOUNTS_VIA_RAM"])
            },
        )
        .unwrap();
        assert!(ids.len() <= 2);
        seen.extend(ids);
        match next {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen, mine);
    // A marker from the caller's keys is no good for shared keys alone.
    let (_, first_marker) = key_ids(
        &kms,
        &c,
        ListKeysRequest {
            limit: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let first_marker = first_marker.unwrap();
    assert!(matches!(
        kms.list_keys(
            &c,
            ListKeysRequest {
                marker: Some(first_marker.clone()),
                ..owners(&["OTHER_ACCOUNTS_VIA_RAM"])
            }
        ),
        Err(KmsError::InvalidMarker(_))
    ));
    // ... but it is with SELF.
    assert_eq!(
        key_ids(
            &kms,
            &c,
            ListKeysRequest {
                marker: Some(first_marker),
                ..owners(&["SELF"])
            }
        )
        .unwrap()
        .0,
        mine[1..].to_vec()
    );

    // The shape's limits.
    assert_eq!(
        validation_message(kms.list_keys(&c, owners(&[]))),
        "1 validation error detected: Value '[0 items]' at 'resourceOwners' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    assert_eq!(
        validation_message(kms.list_keys(&c, owners(&["SELF", "SELF", "OTHER_ACCOUNTS_VIA_RAM"]))),
        "1 validation error detected: Value '[3 items]' at 'resourceOwners' failed to satisfy constraint: Member must have length less than or equal to 2"
    );
    assert_eq!(
        validation_message(kms.list_keys(&c, owners(&["SELF", "self"]))),
        "1 validation error detected: Value 'self' at 'resourceOwners.2.member' failed to satisfy constraint: Member must satisfy enum value set: [SELF, OTHER_ACCOUNTS_VIA_RAM]"
    );
    assert_eq!(
        validation_message(kms.list_keys(
            &c,
            ListKeysRequest {
                limit: Some(0),
                ..owners(&["ALL"])
            }
        )),
        "2 validation errors detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1; Value 'ALL' at 'resourceOwners.1.member' failed to satisfy constraint: Member must satisfy enum value set: [SELF, OTHER_ACCOUNTS_VIA_RAM]"
    );

    // The wire names.
    let req: ListKeysRequest =
        serde_json::from_str(r#"{"Limit":5,"ResourceOwners":["OTHER_ACCOUNTS_VIA_RAM"]}"#).unwrap();
    assert_eq!(
        req.resource_owners,
        Some(vec!["OTHER_ACCOUNTS_VIA_RAM".to_string()])
    );
    let req: CreateGrantRequest = serde_json::from_str(
        r#"{"KeyId":"k","GranteeServicePrincipal":"a.b.c","RetiringServicePrincipal":"d.e.f","Operations":["Decrypt"],"Constraints":{"SourceArn":"arn:aws:s3:::x"}}"#,
    )
    .unwrap();
    assert_eq!(req.grantee_service_principal.as_deref(), Some("a.b.c"));
    assert_eq!(req.retiring_service_principal.as_deref(), Some("d.e.f"));
    assert_eq!(
        req.constraints.unwrap().source_arn.as_deref(),
        Some("arn:aws:s3:::x")
    );
    let req: ListGrantsRequest = serde_json::from_str(
        r#"{"KeyId":"k","GranteeServicePrincipal":"a.b.c","RetiringServicePrincipal":"d.e.f"}"#,
    )
    .unwrap();
    assert_eq!(req.grantee_service_principal.as_deref(), Some("a.b.c"));
    assert_eq!(req.retiring_service_principal.as_deref(), Some("d.e.f"));
}

/// Collects service events.
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<coffer_core::events::ServiceEvent>>);
impl coffer_core::events::ServiceEvents for Events {
    fn emit(&self, e: coffer_core::events::ServiceEvent) {
        self.0.lock().unwrap().push(e);
    }
}

#[test]
fn scheduler_actions_are_reported_as_service_events() {
    let (_, _, clock, kms) = setup();
    let events = Arc::new(Events::default());
    kms.set_events(events.clone());
    let id = mrk(&kms);
    kms.enable_key_rotation(
        &ctx("eu-central-1"),
        EnableKeyRotationRequest {
            key_id: Some(id.clone()),
            rotation_period_in_days: Some(90),
        },
    )
    .unwrap();
    clock.advance_days(91);
    kms.run_due().unwrap();
    kms.schedule_key_deletion(
        &ctx("eu-central-1"),
        ScheduleKeyDeletionRequest {
            key_id: Some(id.clone()),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    clock.advance_days(8);
    kms.run_due().unwrap();
    let seen = events.0.lock().unwrap().clone();
    let names: Vec<&str> = seen.iter().map(|e| e.name).collect();
    assert_eq!(names, ["RotateKey", "DeleteKey"]);
    let arn = format!("arn:aws:kms:eu-central-1:111122223333:key/{id}");
    for e in &seen {
        assert_eq!(e.source, coffer_core::events::EventSource::Kms);
        assert_eq!(e.region, "eu-central-1");
        assert_eq!(e.account, "111122223333");
        assert_eq!(e.resources[0].arn, arn);
        assert_eq!(e.resources[0].resource_type, "AWS::KMS::Key");
        assert!(e.details.contains(&("keyId", id.clone())));
    }
    assert!(seen[0]
        .details
        .contains(&("rotationType", "AUTOMATIC".to_string())));
}
