//! KMS service behaviour with a fake clock: nothing here sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_core::kms::{Kms, KmsError};
use coffer_core::{Clock, RequestContext};
use coffer_crypto::RootKey;
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
        aliases.aliases.is_empty(),
        "aliases of a deleted key go with it"
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
