//! Imported key material, last-use tracking, quotas and custom key stores, with a fake clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_core::{Clock, RequestContext};
use coffer_crypto::asymmetric::{KeyPair, KeySpec, PublicKey};
use coffer_crypto::import::{wrap_key_material, WrappingAlgorithm};
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
    fn advance_hours(&self, h: i64) {
        self.0.fetch_add(h * 3_600_000, Ordering::SeqCst);
    }
}

struct Env {
    store: Arc<dyn Store>,
    root: RootKey,
    clock: Arc<FakeClock>,
    kms: Kms,
}

impl Env {
    fn new() -> Self {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let clock = Arc::new(FakeClock(AtomicI64::new(1_800_000_000_000)));
        let kms = Kms::load(store.clone(), root.clone(), clock.clone()).unwrap();
        Self {
            store,
            root,
            clock,
            kms,
        }
    }

    /// A new service over the same store and root key: a restart.
    fn restart(&mut self) {
        self.kms = Kms::load(self.store.clone(), self.root.clone(), self.clock.clone()).unwrap();
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

const PRIMARY: &str = "eu-central-1";
const REPLICA: &str = "eu-west-1";

fn ctx(region: &str) -> RequestContext {
    RequestContext {
        account_id: "111122223333".into(),
        region: region.into(),
        principal_arn: "arn:aws:iam::111122223333:root".into(),
        role: None,
        secure_transport: false,
    }
}

fn key_req(key: &str) -> KeyIdRequest {
    KeyIdRequest {
        key_id: Some(key.into()),
        ..Default::default()
    }
}

fn create_external(kms: &Kms, spec: &str, usage: Option<&str>, multi_region: bool) -> String {
    let md = kms
        .create_key(
            &ctx(PRIMARY),
            CreateKeyRequest {
                origin: Some("EXTERNAL".into()),
                key_spec: Some(spec.into()),
                key_usage: usage.map(str::to_string),
                multi_region: Some(multi_region),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata;
    assert_eq!(md.origin, "EXTERNAL");
    assert_eq!(md.key_state, "PendingImport");
    assert!(!md.enabled);
    assert!(md.current_key_material_id.is_none());
    assert!(md.expiration_model.is_none());
    md.key_id
}

fn params(
    kms: &Kms,
    region: &str,
    key: &str,
    alg: &str,
    spec: &str,
) -> Result<(Vec<u8>, PublicKey), KmsError> {
    let p = kms.get_parameters_for_import(
        &ctx(region),
        GetParametersForImportRequest {
            key_id: Some(key.into()),
            wrapping_algorithm: Some(alg.into()),
            wrapping_key_spec: Some(spec.into()),
        },
    )?;
    let rsa = match spec {
        "RSA_2048" => KeySpec::Rsa2048,
        "RSA_3072" => KeySpec::Rsa3072,
        _ => KeySpec::Rsa4096,
    };
    Ok((
        p.import_token.as_slice().to_vec(),
        PublicKey::from_der(rsa, p.public_key.as_slice()).unwrap(),
    ))
}

fn import_req(
    key: &str,
    token: &[u8],
    encrypted: Vec<u8>,
    valid_to: Option<Timestamp>,
) -> ImportKeyMaterialRequest {
    ImportKeyMaterialRequest {
        key_id: Some(key.into()),
        import_token: Some(Blob::new(token.to_vec())),
        encrypted_key_material: Some(Blob::new(encrypted)),
        valid_to,
        expiration_model: Some(
            if valid_to.is_some() {
                "KEY_MATERIAL_EXPIRES"
            } else {
                "KEY_MATERIAL_DOES_NOT_EXPIRE"
            }
            .into(),
        ),
        ..Default::default()
    }
}

/// GetParametersForImport, client-side wrapping, ImportKeyMaterial.
fn import(
    kms: &Kms,
    region: &str,
    key: &str,
    alg: &str,
    material: &[u8],
    valid_to: Option<Timestamp>,
) -> Result<KeyMaterialResponse, KmsError> {
    let (token, public) = params(kms, region, key, alg, "RSA_2048")?;
    let wrapped = wrap_key_material(&public, alg.parse().unwrap(), material).unwrap();
    kms.import_key_material(&ctx(region), import_req(key, &token, wrapped, valid_to))
}

fn describe(kms: &Kms, region: &str, key: &str) -> KeyMetadata {
    kms.describe_key(&ctx(region), key_req(key))
        .unwrap()
        .key_metadata
}

fn encrypt(kms: &Kms, region: &str, key: &str, data: &[u8]) -> Result<Vec<u8>, KmsError> {
    kms.encrypt(
        &ctx(region),
        EncryptRequest {
            key_id: Some(key.into()),
            plaintext: Some(Blob::new(data.to_vec())),
            ..Default::default()
        },
    )
    .map(|r| r.ciphertext_blob.as_slice().to_vec())
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

const ALGORITHMS: [&str; 4] = [
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
];

#[test]
fn symmetric_import_with_every_wrapping_algorithm() {
    let env = Env::new();
    let kms = &env.kms;
    for alg in ALGORITHMS {
        let key = create_external(kms, "SYMMETRIC_DEFAULT", None, false);
        assert!(matches!(
            encrypt(kms, PRIMARY, &key, b"x"),
            Err(KmsError::InvalidState(m)) if m.contains("pending import")
        ));
        let material = coffer_crypto::random::array::<32>().unwrap();
        let resp = import(kms, PRIMARY, &key, alg, &material, None).unwrap();
        let id = resp.key_material_id.unwrap();
        assert_eq!(id.len(), 64);
        assert!(resp.key_id.ends_with(&key));
        let md = describe(kms, PRIMARY, &key);
        assert_eq!(md.key_state, "Enabled");
        assert_eq!(
            md.expiration_model.as_deref(),
            Some("KEY_MATERIAL_DOES_NOT_EXPIRE")
        );
        assert_eq!(md.valid_to, None);
        assert_eq!(md.current_key_material_id.as_deref(), Some(id.as_str()));
        let blob = encrypt(kms, PRIMARY, &key, b"imported").unwrap();
        assert_eq!(decrypt(kms, PRIMARY, &blob).unwrap(), b"imported");
    }
    // The larger wrapping key specs work too.
    for spec in ["RSA_3072", "RSA_4096"] {
        let key = create_external(kms, "SYMMETRIC_DEFAULT", None, false);
        let (token, public) = params(kms, PRIMARY, &key, "RSA_AES_KEY_WRAP_SHA_256", spec).unwrap();
        let wrapped =
            wrap_key_material(&public, WrappingAlgorithm::RsaAesKeyWrapSha256, &[3u8; 32]).unwrap();
        kms.import_key_material(&ctx(PRIMARY), import_req(&key, &token, wrapped, None))
            .unwrap();
        assert_eq!(describe(kms, PRIMARY, &key).key_state, "Enabled");
    }
}

#[test]
fn parameters_are_refused_where_aws_refuses_them() {
    let env = Env::new();
    let kms = &env.kms;
    let normal = kms
        .create_key(&ctx(PRIMARY), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    assert!(matches!(
        params(kms, PRIMARY, &normal, "RSAES_OAEP_SHA_256", "RSA_2048"),
        Err(KmsError::UnsupportedOperation(_))
    ));
    let key = create_external(kms, "SYMMETRIC_DEFAULT", None, false);
    for (alg, spec) in [
        ("RSAES_PKCS1_V1_5", "RSA_2048"),
        ("SM2PKE", "RSA_2048"),
        ("RSAES_OAEP_SHA_256", "SM2"),
    ] {
        assert!(matches!(
            params(kms, PRIMARY, &key, alg, spec),
            Err(KmsError::UnsupportedOperation(_))
        ));
    }
    assert!(matches!(
        params(kms, PRIMARY, &key, "RSA_OAEP", "RSA_2048"),
        Err(KmsError::Validation(_))
    ));
    // Material is imported, not rotated, and the key cannot be enabled before it has any.
    assert!(matches!(
        kms.enable_key(&ctx(PRIMARY), key_req(&key)),
        Err(KmsError::InvalidState(_))
    ));
    import(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", &[1u8; 32], None).unwrap();
    assert!(matches!(
        kms.enable_key_rotation(
            &ctx(PRIMARY),
            EnableKeyRotationRequest {
                key_id: Some(key.clone()),
                ..Default::default()
            }
        ),
        Err(KmsError::UnsupportedOperation(_))
    ));
    // KEY_MATERIAL_EXPIRES without ValidTo: AWS's message.
    let (token, public) = params(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", "RSA_2048").unwrap();
    let wrapped =
        wrap_key_material(&public, "RSAES_OAEP_SHA_256".parse().unwrap(), &[1u8; 32]).unwrap();
    let mut req = import_req(&key, &token, wrapped, None);
    req.expiration_model = Some("KEY_MATERIAL_EXPIRES".into());
    assert!(matches!(
        kms.import_key_material(&ctx(PRIMARY), req),
        Err(KmsError::Validation(e)) if e.message == "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"
    ));
    // Nothing imported is pending rotation: AWS's KMSInvalidStateException.
    assert!(matches!(
        kms.rotate_key_on_demand(&ctx(PRIMARY), key_req(&key)),
        Err(KmsError::InvalidState(m)) if m.starts_with("No available key material pending rotation for the key: arn:")
    ));
    // Imported material is not AWS_KMS material: DeleteImportedKeyMaterial refuses the latter.
    assert!(matches!(
        kms.delete_imported_key_material(
            &ctx(PRIMARY),
            DeleteImportedKeyMaterialRequest {
                key_id: Some(normal),
                key_material_id: None
            }
        ),
        Err(KmsError::UnsupportedOperation(_))
    ));
}

#[test]
fn import_tokens_expire_and_bind_key_and_wrapping_key() {
    let env = Env::new();
    let kms = &env.kms;
    let key = create_external(kms, "SYMMETRIC_DEFAULT", None, false);
    let other = create_external(kms, "SYMMETRIC_DEFAULT", None, false);
    let material = [9u8; 32];
    let p = kms
        .get_parameters_for_import(
            &ctx(PRIMARY),
            GetParametersForImportRequest {
                key_id: Some(key.clone()),
                wrapping_algorithm: Some("RSAES_OAEP_SHA_256".into()),
                wrapping_key_spec: Some("RSA_2048".into()),
            },
        )
        .unwrap();
    assert_eq!(
        p.parameters_valid_to.millis - env.now().millis,
        24 * 3_600_000
    );
    let token = p.import_token.as_slice().to_vec();
    let public = PublicKey::from_der(KeySpec::Rsa2048, p.public_key.as_slice()).unwrap();
    let wrapped =
        wrap_key_material(&public, WrappingAlgorithm::RsaesOaepSha256, &material).unwrap();

    // Another key's token, a garbled token, a token of another Region.
    assert!(matches!(
        kms.import_key_material(
            &ctx(PRIMARY),
            import_req(&other, &token, wrapped.clone(), None)
        ),
        Err(KmsError::InvalidImportToken(_))
    ));
    let mut garbled = token.clone();
    garbled[10] ^= 1;
    assert!(matches!(
        kms.import_key_material(
            &ctx(PRIMARY),
            import_req(&key, &garbled, wrapped.clone(), None)
        ),
        Err(KmsError::InvalidImportToken(_))
    ));
    assert!(matches!(
        kms.import_key_material(
            &ctx(PRIMARY),
            import_req(&key, b"not a token", wrapped.clone(), None)
        ),
        Err(KmsError::InvalidImportToken(_))
    ));
    // Material wrapped for another wrapping key, or with another algorithm.
    let (_, other_public) = params(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", "RSA_2048").unwrap();
    let foreign =
        wrap_key_material(&other_public, WrappingAlgorithm::RsaesOaepSha256, &material).unwrap();
    assert!(matches!(
        kms.import_key_material(&ctx(PRIMARY), import_req(&key, &token, foreign, None)),
        Err(KmsError::InvalidCiphertext(_))
    ));
    let sha1 = wrap_key_material(&public, WrappingAlgorithm::RsaesOaepSha1, &material).unwrap();
    assert!(matches!(
        kms.import_key_material(&ctx(PRIMARY), import_req(&key, &token, sha1, None)),
        Err(KmsError::InvalidCiphertext(_))
    ));

    // 24 hours later the token has expired, whether or not the scheduler has run.
    env.clock.advance_hours(24);
    assert!(matches!(
        kms.import_key_material(
            &ctx(PRIMARY),
            import_req(&key, &token, wrapped.clone(), None)
        ),
        Err(KmsError::ExpiredImportToken(_))
    ));
    assert_eq!(env.store.scan("kms_import").unwrap().len(), 2);
    kms.run_due().unwrap();
    assert_eq!(env.store.scan("kms_import").unwrap().len(), 0);
    assert!(matches!(
        kms.import_key_material(&ctx(PRIMARY), import_req(&key, &token, wrapped, None)),
        Err(KmsError::ExpiredImportToken(_))
    ));
    assert_eq!(describe(kms, PRIMARY, &key).key_state, "PendingImport");
}

#[test]
fn a_restart_between_parameters_and_import_keeps_the_wrapping_key() {
    let mut env = Env::new();
    let key = create_external(&env.kms, "SYMMETRIC_DEFAULT", None, false);
    let (token, public) = params(
        &env.kms,
        PRIMARY,
        &key,
        "RSA_AES_KEY_WRAP_SHA_256",
        "RSA_2048",
    )
    .unwrap();
    // The wrapping private key is stored wrapped, never in the clear.
    let stored = env.store.scan("kms_import").unwrap();
    assert_eq!(stored.len(), 1);
    let text = String::from_utf8(stored[0].1.clone()).unwrap();
    assert!(!text.contains("MII"));
    env.restart();
    let material = [0x33u8; 32];
    let wrapped =
        wrap_key_material(&public, WrappingAlgorithm::RsaAesKeyWrapSha256, &material).unwrap();
    env.kms
        .import_key_material(&ctx(PRIMARY), import_req(&key, &token, wrapped, None))
        .unwrap();
    let blob = encrypt(&env.kms, PRIMARY, &key, b"after restart").unwrap();
    // Imported material survives a restart too.
    env.restart();
    assert_eq!(describe(&env.kms, PRIMARY, &key).key_state, "Enabled");
    assert_eq!(decrypt(&env.kms, PRIMARY, &blob).unwrap(), b"after restart");
}

#[test]
fn material_expires_at_valid_to_and_can_be_reimported() {
    let mut env = Env::new();
    let key = create_external(&env.kms, "SYMMETRIC_DEFAULT", None, false);
    let material = [0x44u8; 32];
    let now = env.now();
    // ValidTo rules.
    let (token, public) = params(&env.kms, PRIMARY, &key, "RSAES_OAEP_SHA_1", "RSA_2048").unwrap();
    let wrapped = wrap_key_material(&public, WrappingAlgorithm::RsaesOaepSha1, &material).unwrap();
    for (model, valid_to) in [
        (Some("KEY_MATERIAL_EXPIRES"), None),
        (None, None),
        (Some("KEY_MATERIAL_EXPIRES"), Some(now.plus_millis(-1))),
        (Some("KEY_MATERIAL_EXPIRES"), Some(now.plus_days(366))),
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(now.plus_days(1))),
    ] {
        let mut req = import_req(&key, &token, wrapped.clone(), valid_to);
        req.expiration_model = model.map(str::to_string);
        assert!(
            matches!(
                env.kms.import_key_material(&ctx(PRIMARY), req),
                Err(KmsError::Validation(_))
            ),
            "{model:?} {valid_to:?}"
        );
    }
    let valid_to = now.plus_days(2);
    env.kms
        .import_key_material(
            &ctx(PRIMARY),
            import_req(&key, &token, wrapped, Some(valid_to)),
        )
        .unwrap();
    let md = describe(&env.kms, PRIMARY, &key);
    assert_eq!(md.key_state, "Enabled");
    assert_eq!(md.valid_to, Some(valid_to));
    assert_eq!(md.expiration_model.as_deref(), Some("KEY_MATERIAL_EXPIRES"));
    assert_eq!(env.kms.next_due(), Some(valid_to.min(now.plus_days(1))));
    let blob = encrypt(&env.kms, PRIMARY, &key, b"before expiry").unwrap();

    // Past ValidTo the key is unusable at once, before the scheduler notices.
    env.clock.advance_hours(49);
    let md = describe(&env.kms, PRIMARY, &key);
    assert_eq!(md.key_state, "PendingImport");
    assert!(md.current_key_material_id.is_none());
    assert!(matches!(
        decrypt(&env.kms, PRIMARY, &blob),
        Err(KmsError::InvalidState(_))
    ));
    // The scheduler deletes the material: nothing of it is left in the store.
    env.kms.run_due().unwrap();
    let fam = &env.store.scan("kms_family").unwrap()[0].1;
    let fam: serde_json::Value = serde_json::from_slice(fam).unwrap();
    assert_eq!(fam["materials"].as_array().unwrap().len(), 0);
    env.restart();
    assert_eq!(describe(&env.kms, PRIMARY, &key).key_state, "PendingImport");
    assert!(matches!(
        decrypt(&env.kms, PRIMARY, &blob),
        Err(KmsError::InvalidState(_))
    ));
    // Different material is refused; the same material brings the key (and old ciphertexts) back.
    assert!(matches!(
        import(
            &env.kms,
            PRIMARY,
            &key,
            "RSAES_OAEP_SHA_256",
            &[0x45u8; 32],
            None
        ),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    import(
        &env.kms,
        PRIMARY,
        &key,
        "RSAES_OAEP_SHA_256",
        &material,
        None,
    )
    .unwrap();
    assert_eq!(decrypt(&env.kms, PRIMARY, &blob).unwrap(), b"before expiry");
    assert_eq!(describe(&env.kms, PRIMARY, &key).valid_to, None);
}

#[test]
fn reimport_delete_and_import_types() {
    let env = Env::new();
    let kms = &env.kms;
    let key = create_external(kms, "SYMMETRIC_DEFAULT", None, false);
    let material = [0x55u8; 32];
    // EXISTING_KEY_MATERIAL into a key that never had any.
    let (token, public) = params(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", "RSA_2048").unwrap();
    let wrapped =
        wrap_key_material(&public, WrappingAlgorithm::RsaesOaepSha256, &material).unwrap();
    let mut req = import_req(&key, &token, wrapped.clone(), None);
    req.import_type = Some("EXISTING_KEY_MATERIAL".into());
    assert!(matches!(
        kms.import_key_material(&ctx(PRIMARY), req),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    // Material of the wrong size.
    assert!(matches!(
        import(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", &[1u8; 16], None),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    let mut req = import_req(&key, &token, wrapped.clone(), None);
    req.key_material_description = Some("first material".into());
    let id = kms
        .import_key_material(&ctx(PRIMARY), req)
        .unwrap()
        .key_material_id
        .unwrap();
    let blob = encrypt(kms, PRIMARY, &key, b"data").unwrap();
    // The same material again (the token is reusable until it expires) is fine; NEW is not.
    kms.import_key_material(
        &ctx(PRIMARY),
        import_req(&key, &token, wrapped.clone(), None),
    )
    .unwrap();
    let mut req = import_req(&key, &token, wrapped.clone(), None);
    req.import_type = Some("NEW_KEY_MATERIAL".into());
    assert!(matches!(
        kms.import_key_material(&ctx(PRIMARY), req),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    let mut req = import_req(&key, &token, wrapped.clone(), None);
    req.key_material_id = Some("0".repeat(64));
    assert!(matches!(
        kms.import_key_material(&ctx(PRIMARY), req),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    // Different material into a key that has material.
    assert!(matches!(
        import(
            kms,
            PRIMARY,
            &key,
            "RSA_AES_KEY_WRAP_SHA_1",
            &[0x56u8; 32],
            None
        ),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    let rotations = kms
        .list_key_rotations(
            &ctx(PRIMARY),
            ListKeyRotationsRequest {
                key_id: Some(key.clone()),
                include_key_material: Some("ALL_KEY_MATERIAL".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .rotations;
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].key_material_id, id);
    assert_eq!(rotations[0].import_state.as_deref(), Some("IMPORTED"));
    assert_eq!(
        rotations[0].key_material_description.as_deref(),
        Some("first material")
    );

    // Delete: PendingImport, unusable; reimport restores it.
    let deleted = kms
        .delete_imported_key_material(
            &ctx(PRIMARY),
            DeleteImportedKeyMaterialRequest {
                key_id: Some(key.clone()),
                key_material_id: None,
            },
        )
        .unwrap();
    assert_eq!(deleted.key_material_id.as_deref(), Some(id.as_str()));
    assert_eq!(describe(kms, PRIMARY, &key).key_state, "PendingImport");
    assert!(matches!(
        decrypt(kms, PRIMARY, &blob),
        Err(KmsError::InvalidState(_))
    ));
    let mut req = import_req(&key, &token, wrapped.clone(), None);
    req.key_material_id = Some(id.clone());
    kms.import_key_material(&ctx(PRIMARY), req).unwrap();
    assert_eq!(decrypt(kms, PRIMARY, &blob).unwrap(), b"data");

    // Deleting material of a key pending deletion leaves it pending deletion; cancelling the
    // deletion of a key without material returns it to PendingImport.
    kms.schedule_key_deletion(
        &ctx(PRIMARY),
        ScheduleKeyDeletionRequest {
            key_id: Some(key.clone()),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    kms.delete_imported_key_material(
        &ctx(PRIMARY),
        DeleteImportedKeyMaterialRequest {
            key_id: Some(key.clone()),
            key_material_id: None,
        },
    )
    .unwrap();
    assert_eq!(describe(kms, PRIMARY, &key).key_state, "PendingDeletion");
    kms.cancel_key_deletion(&ctx(PRIMARY), key_req(&key))
        .unwrap();
    assert_eq!(describe(kms, PRIMARY, &key).key_state, "PendingImport");
    // A key pending import can be scheduled for deletion, and is deleted with its parameters.
    kms.schedule_key_deletion(
        &ctx(PRIMARY),
        ScheduleKeyDeletionRequest {
            key_id: Some(key.clone()),
            pending_window_in_days: Some(7),
        },
    )
    .unwrap();
    env.clock.advance_hours(7 * 24);
    kms.run_due().unwrap();
    assert!(matches!(
        kms.describe_key(&ctx(PRIMARY), key_req(&key)),
        Err(KmsError::NotFound(_))
    ));
}

#[test]
fn hmac_and_asymmetric_material() {
    let env = Env::new();
    let kms = &env.kms;
    // HMAC: AWS's accepted lengths only.
    let key = create_external(kms, "HMAC_256", Some("GENERATE_VERIFY_MAC"), false);
    assert!(matches!(
        import(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", &[1u8; 16], None),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    let secret = [0x61u8; 32];
    import(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", &secret, None).unwrap();
    let mac = kms
        .generate_mac(
            &ctx(PRIMARY),
            MacRequest {
                key_id: Some(key.clone()),
                message: Some(Blob::new(b"msg".to_vec())),
                mac_algorithm: Some("HMAC_SHA_256".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .mac;
    assert_eq!(
        mac.as_slice(),
        &coffer_crypto::digest::hmac_sha256(&secret, b"msg")[..]
    );

    // ECC signing key: PKCS#8 through RSAES-OAEP; the public key is the imported pair's.
    let key = create_external(kms, "ECC_NIST_P256", Some("SIGN_VERIFY"), false);
    let pair = KeyPair::generate(KeySpec::EccNistP256).unwrap();
    assert!(matches!(
        import(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", &[5u8; 32], None),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    // Material of another spec is refused.
    let p384 = KeyPair::generate(KeySpec::EccNistP384).unwrap();
    assert!(matches!(
        import(
            kms,
            PRIMARY,
            &key,
            "RSAES_OAEP_SHA_256",
            &p384.to_pkcs8(),
            None
        ),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    import(
        kms,
        PRIMARY,
        &key,
        "RSAES_OAEP_SHA_256",
        &pair.to_pkcs8(),
        None,
    )
    .unwrap();
    let public = kms
        .get_public_key(&ctx(PRIMARY), key_req(&key))
        .unwrap()
        .public_key;
    assert_eq!(public.as_slice(), pair.public_key_der());
    let sig = kms
        .sign(
            &ctx(PRIMARY),
            SignRequest {
                key_id: Some(key.clone()),
                message: Some(Blob::new(b"signed".to_vec())),
                signing_algorithm: Some("ECDSA_SHA_256".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .signature;
    assert!(coffer_crypto::asymmetric::verify(
        pair.public_key(),
        "ECDSA_SHA_256".parse().unwrap(),
        b"signed",
        "RAW".parse().unwrap(),
        sig.as_slice()
    )
    .unwrap());

    // RSA encryption key: too long for RSAES-OAEP, so RSA_AES_KEY_WRAP.
    let key = create_external(kms, "RSA_2048", Some("ENCRYPT_DECRYPT"), false);
    let pair = KeyPair::generate(KeySpec::Rsa2048).unwrap();
    import(
        kms,
        PRIMARY,
        &key,
        "RSA_AES_KEY_WRAP_SHA_256",
        &pair.to_pkcs8(),
        None,
    )
    .unwrap();
    let ct = coffer_crypto::asymmetric::encrypt(
        pair.public_key(),
        coffer_crypto::asymmetric::EncryptionAlgorithm::RsaesOaepSha256,
        b"for the imported key",
    )
    .unwrap();
    let plain = kms
        .decrypt(
            &ctx(PRIMARY),
            DecryptRequest {
                key_id: Some(key.clone()),
                ciphertext_blob: Some(Blob::new(ct)),
                encryption_algorithm: Some("RSAES_OAEP_SHA_256".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .plaintext;
    assert_eq!(plain.as_slice(), b"for the imported key");
}

#[test]
fn multi_region_replicas_need_the_same_material() {
    let mut env = Env::new();
    let key = create_external(&env.kms, "SYMMETRIC_DEFAULT", None, true);
    assert!(key.starts_with("mrk-"));
    let material = [0x77u8; 32];
    let primary_id = import(
        &env.kms,
        PRIMARY,
        &key,
        "RSAES_OAEP_SHA_256",
        &material,
        None,
    )
    .unwrap()
    .key_material_id
    .unwrap();
    let resp = env
        .kms
        .replicate_key(
            &ctx(PRIMARY),
            ReplicateKeyRequest {
                key_id: Some(key.clone()),
                replica_region: Some(REPLICA.into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(resp.replica_key_metadata.origin, "EXTERNAL");
    let md = describe(&env.kms, REPLICA, &key);
    assert_eq!(md.key_state, "PendingImport");
    let blob = encrypt(&env.kms, PRIMARY, &key, b"across regions").unwrap();
    assert!(matches!(
        decrypt(&env.kms, REPLICA, &blob),
        Err(KmsError::InvalidState(_))
    ));
    // Other bytes than the family's are refused in the replica.
    assert!(matches!(
        import(
            &env.kms,
            REPLICA,
            &key,
            "RSAES_OAEP_SHA_256",
            &[0x78u8; 32],
            None
        ),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    // A primary's import parameters do not serve the replica.
    let (token, public) = params(&env.kms, PRIMARY, &key, "RSAES_OAEP_SHA_1", "RSA_2048").unwrap();
    let wrapped = wrap_key_material(&public, WrappingAlgorithm::RsaesOaepSha1, &material).unwrap();
    assert!(matches!(
        env.kms
            .import_key_material(&ctx(REPLICA), import_req(&key, &token, wrapped, None)),
        Err(KmsError::InvalidImportToken(_))
    ));
    let valid_to = env.now().plus_days(10);
    let replica_id = import(
        &env.kms,
        REPLICA,
        &key,
        "RSA_AES_KEY_WRAP_SHA_256",
        &material,
        Some(valid_to),
    )
    .unwrap()
    .key_material_id
    .unwrap();
    assert_eq!(primary_id, replica_id);
    assert_eq!(
        decrypt(&env.kms, REPLICA, &blob).unwrap(),
        b"across regions"
    );
    let md = describe(&env.kms, REPLICA, &key);
    assert_eq!(md.valid_to, Some(valid_to));
    assert_eq!(
        describe(&env.kms, PRIMARY, &key)
            .expiration_model
            .as_deref(),
        Some("KEY_MATERIAL_DOES_NOT_EXPIRE")
    );
    // Deleting the primary's material leaves the replica working, across a restart.
    env.kms
        .delete_imported_key_material(
            &ctx(PRIMARY),
            DeleteImportedKeyMaterialRequest {
                key_id: Some(key.clone()),
                key_material_id: Some(primary_id.clone()),
            },
        )
        .unwrap();
    env.restart();
    assert_eq!(describe(&env.kms, PRIMARY, &key).key_state, "PendingImport");
    assert_eq!(
        decrypt(&env.kms, REPLICA, &blob).unwrap(),
        b"across regions"
    );
    // The replica's material expires; with no Region holding it the family forgets the bytes but
    // still knows their ID.
    env.clock.advance_hours(10 * 24);
    env.kms.run_due().unwrap();
    assert_eq!(describe(&env.kms, REPLICA, &key).key_state, "PendingImport");
    let fam: serde_json::Value =
        serde_json::from_slice(&env.store.scan("kms_family").unwrap()[0].1).unwrap();
    assert!(fam["materials"].as_array().unwrap().is_empty());
    assert_eq!(fam["imported_material_id"], primary_id.as_str());
    assert!(matches!(
        import(
            &env.kms,
            PRIMARY,
            &key,
            "RSAES_OAEP_SHA_256",
            &[0x79u8; 32],
            None
        ),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    import(
        &env.kms,
        PRIMARY,
        &key,
        "RSAES_OAEP_SHA_256",
        &material,
        None,
    )
    .unwrap();
    assert_eq!(
        decrypt(&env.kms, PRIMARY, &blob).unwrap(),
        b"across regions"
    );
}

#[test]
fn key_last_usage_is_tracked_and_flushed() {
    let mut env = Env::new();
    let key = env
        .kms
        .create_key(&ctx(PRIMARY), CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let usage = env
        .kms
        .get_key_last_usage(&ctx(PRIMARY), key_req(&key.key_id))
        .unwrap();
    assert!(usage.key_last_usage.is_none());
    assert_eq!(usage.tracking_start_date, key.creation_date);
    assert_eq!(usage.key_creation_date, key.creation_date);
    env.clock.advance_hours(1);
    let blob = encrypt(&env.kms, PRIMARY, &key.key_id, b"x").unwrap();
    let at = env.now();
    // A failed operation does not count.
    env.clock.advance_hours(1);
    assert!(env
        .kms
        .decrypt(
            &ctx(PRIMARY),
            DecryptRequest {
                ciphertext_blob: Some(Blob::new(blob.clone())),
                encryption_context: Some([("a".to_string(), "b".to_string())].into()),
                ..Default::default()
            },
        )
        .is_err());
    let last = env
        .kms
        .get_key_last_usage(&ctx(PRIMARY), key_req(&key.key_id))
        .unwrap()
        .key_last_usage
        .unwrap();
    assert_eq!(last.operation.as_deref(), Some("Encrypt"));
    assert_eq!(last.timestamp, Some(at));
    assert!(last.kms_request_id.is_some());
    // Persisted by the scheduler's run, then survives a restart.
    env.kms.run_due().unwrap();
    env.restart();
    let last = env
        .kms
        .get_key_last_usage(&ctx(PRIMARY), key_req(&key.key_id))
        .unwrap()
        .key_last_usage
        .unwrap();
    assert_eq!(last.operation.as_deref(), Some("Encrypt"));
    decrypt(&env.kms, PRIMARY, &blob).unwrap();
    let last = env
        .kms
        .get_key_last_usage(&ctx(PRIMARY), key_req(&key.key_id))
        .unwrap()
        .key_last_usage
        .unwrap();
    assert_eq!(last.operation.as_deref(), Some("Decrypt"));
}

#[test]
fn alias_quota_per_key() {
    let env = Env::new();
    let kms = &env.kms;
    let key = kms
        .create_key(&ctx(PRIMARY), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let other = kms
        .create_key(&ctx(PRIMARY), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let alias = |name: String, target: &str| AliasRequest {
        alias_name: Some(name),
        target_key_id: Some(target.into()),
    };
    for i in 0..50 {
        kms.create_alias(&ctx(PRIMARY), alias(format!("alias/a{i}"), &key))
            .unwrap();
    }
    assert!(matches!(
        kms.create_alias(&ctx(PRIMARY), alias("alias/a50".into(), &key)),
        Err(KmsError::LimitExceeded(_))
    ));
    kms.create_alias(&ctx(PRIMARY), alias("alias/b".into(), &other))
        .unwrap();
    assert!(matches!(
        kms.update_alias(&ctx(PRIMARY), alias("alias/b".into(), &key)),
        Err(KmsError::LimitExceeded(_))
    ));
    // The quota is per Region's key.
    assert!(kms
        .create_alias(&ctx(REPLICA), alias("alias/a50".into(), &key))
        .is_err_and(|e| matches!(e, KmsError::NotFound(_))));
}

#[test]
fn custom_key_stores_do_not_exist() {
    let env = Env::new();
    let kms = &env.kms;
    let listed = kms
        .describe_custom_key_stores(&ctx(PRIMARY), DescribeCustomKeyStoresRequest::default())
        .unwrap();
    assert!(listed.custom_key_stores.is_empty());
    assert!(!listed.truncated);
    assert!(matches!(
        kms.describe_custom_key_stores(
            &ctx(PRIMARY),
            DescribeCustomKeyStoresRequest {
                custom_key_store_id: Some("cks-1234567890abcdef0".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::CustomKeyStoreNotFound(_))
    ));
    let id = CustomKeyStoreIdRequest {
        custom_key_store_id: Some("cks-1234567890abcdef0".into()),
    };
    assert!(matches!(
        kms.connect_custom_key_store(&ctx(PRIMARY), id.clone()),
        Err(KmsError::CustomKeyStoreNotFound(_))
    ));
    assert!(matches!(
        kms.disconnect_custom_key_store(&ctx(PRIMARY), id.clone()),
        Err(KmsError::CustomKeyStoreNotFound(_))
    ));
    assert!(matches!(
        kms.delete_custom_key_store(&ctx(PRIMARY), id),
        Err(KmsError::CustomKeyStoreNotFound(_))
    ));
    assert!(matches!(
        kms.update_custom_key_store(
            &ctx(PRIMARY),
            UpdateCustomKeyStoreRequest {
                custom_key_store_id: Some("cks-1234567890abcdef0".into()),
                new_custom_key_store_name: Some("n".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::CustomKeyStoreNotFound(_))
    ));
    assert!(matches!(
        kms.connect_custom_key_store(&ctx(PRIMARY), CustomKeyStoreIdRequest::default()),
        Err(KmsError::Validation(_))
    ));
    assert!(matches!(
        kms.create_custom_key_store(
            &ctx(PRIMARY),
            CreateCustomKeyStoreRequest {
                custom_key_store_name: Some("hsm".into()),
                cloud_hsm_cluster_id: Some("cluster-2a23b4cdefg".into()),
                trust_anchor_certificate: Some("cert".into()),
                key_store_password: Some("kmsPswd1".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::CloudHsmClusterNotFound(_))
    ));
    assert!(matches!(
        kms.create_custom_key_store(
            &ctx(PRIMARY),
            CreateCustomKeyStoreRequest {
                custom_key_store_name: Some("xks".into()),
                custom_key_store_type: Some("EXTERNAL_KEY_STORE".into()),
                xks_proxy_uri_endpoint: Some("https://xks.example.com".into()),
                xks_proxy_uri_path: Some("/kms/xks/v1".into()),
                xks_proxy_connectivity: Some("PUBLIC_ENDPOINT".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::XksProxyUriUnreachable(_))
    ));
    assert!(matches!(
        kms.create_key(
            &ctx(PRIMARY),
            CreateKeyRequest {
                origin: Some("AWS_CLOUDHSM".into()),
                custom_key_store_id: Some("cks-1234567890abcdef0".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::CustomKeyStoreNotFound(_))
    ));
    assert!(matches!(
        kms.generate_random(
            &ctx(PRIMARY),
            GenerateRandomRequest {
                number_of_bytes: Some(8),
                custom_key_store_id: Some("cks-1234567890abcdef0".into()),
                ..Default::default()
            }
        ),
        Err(KmsError::CustomKeyStoreNotFound(_))
    ));
}

/// `ImportKeyMaterial` with `ImportType`, the way the new-material rotation uses it.
fn import_typed(
    kms: &Kms,
    key: &str,
    material: &[u8],
    import_type: Option<&str>,
    material_id: Option<&str>,
) -> Result<KeyMaterialResponse, KmsError> {
    let (token, public) = params(kms, PRIMARY, key, "RSAES_OAEP_SHA_256", "RSA_2048")?;
    let wrapped = wrap_key_material(&public, WrappingAlgorithm::RsaesOaepSha256, material).unwrap();
    let mut req = import_req(key, &token, wrapped, None);
    req.import_type = import_type.map(str::to_string);
    req.key_material_id = material_id.map(str::to_string);
    kms.import_key_material(&ctx(PRIMARY), req)
}

/// (material ID, KeyMaterialState, ImportState, RotationType) of every listed material.
fn materials(kms: &Kms, key: &str, all: bool) -> Vec<(String, String, String, Option<String>)> {
    kms.list_key_rotations(
        &ctx(PRIMARY),
        ListKeyRotationsRequest {
            key_id: Some(key.into()),
            include_key_material: Some(
                if all {
                    "ALL_KEY_MATERIAL"
                } else {
                    "ROTATIONS_ONLY"
                }
                .into(),
            ),
            ..Default::default()
        },
    )
    .unwrap()
    .rotations
    .into_iter()
    .map(|r| {
        assert_eq!(r.rotation_date.is_some(), r.rotation_type.is_some());
        (
            r.key_material_id,
            r.key_material_state,
            r.import_state.unwrap_or_default(),
            r.rotation_type,
        )
    })
    .collect()
}

fn entry(
    id: &str,
    state: &str,
    import: &str,
    rotation: Option<&str>,
) -> (String, String, String, Option<String>) {
    (
        id.into(),
        state.into(),
        import.into(),
        rotation.map(str::to_string),
    )
}

fn delete_material(
    kms: &Kms,
    key: &str,
    id: Option<&str>,
) -> Result<KeyMaterialResponse, KmsError> {
    kms.delete_imported_key_material(
        &ctx(PRIMARY),
        DeleteImportedKeyMaterialRequest {
            key_id: Some(key.into()),
            key_material_id: id.map(str::to_string),
        },
    )
}

/// On-demand rotation of imported material (AWS since 2025): NEW_KEY_MATERIAL waits in
/// PENDING_ROTATION, RotateKeyOnDemand makes it current, older material keeps decrypting, and
/// non-current material can be deleted and reimported on its own.
#[test]
fn imported_material_rotates_on_demand() {
    let mut env = Env::new();
    let key = create_external(&env.kms, "SYMMETRIC_DEFAULT", None, false);
    let (a, b, c) = ([0xa1u8; 32], [0xb2u8; 32], [0xc3u8; 32]);
    let id_a = import_typed(&env.kms, &key, &a, None, None)
        .unwrap()
        .key_material_id
        .unwrap();
    let blob_a = encrypt(&env.kms, PRIMARY, &key, b"under a").unwrap();

    // New material waits for the rotation; the key keeps encrypting under the first.
    let id_b = import_typed(&env.kms, &key, &b, Some("NEW_KEY_MATERIAL"), None)
        .unwrap()
        .key_material_id
        .unwrap();
    assert_ne!(id_a, id_b);
    let kms = &env.kms;
    assert_eq!(
        describe(kms, PRIMARY, &key)
            .current_key_material_id
            .as_deref(),
        Some(id_a.as_str())
    );
    assert_eq!(
        materials(kms, &key, true),
        [
            entry(&id_a, "CURRENT", "IMPORTED", None),
            entry(&id_b, "PENDING_ROTATION", "IMPORTED", None)
        ]
    );
    assert!(materials(kms, &key, false).is_empty());
    // One material pending at a time; material already associated is not new; without an
    // ImportType an import into a key with material is a reimport, so other bytes are refused.
    assert!(matches!(
        import_typed(kms, &key, &c, Some("NEW_KEY_MATERIAL"), None),
        Err(KmsError::InvalidState(m)) if m.contains("pending rotation")
    ));
    assert!(matches!(
        import_typed(kms, &key, &a, Some("NEW_KEY_MATERIAL"), None),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    assert!(matches!(
        import_typed(kms, &key, &c, None, None),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    // Reimporting the pending material is a reimport of it, not a rotation.
    assert_eq!(
        import_typed(kms, &key, &b, None, Some(&id_b))
            .unwrap()
            .key_material_id
            .as_deref(),
        Some(id_b.as_str())
    );

    kms.rotate_key_on_demand(&ctx(PRIMARY), key_req(&key))
        .unwrap();
    assert_eq!(
        describe(kms, PRIMARY, &key)
            .current_key_material_id
            .as_deref(),
        Some(id_b.as_str())
    );
    let blob_b = encrypt(kms, PRIMARY, &key, b"under b").unwrap();
    assert_eq!(decrypt(kms, PRIMARY, &blob_a).unwrap(), b"under a");
    assert_eq!(decrypt(kms, PRIMARY, &blob_b).unwrap(), b"under b");
    assert_eq!(
        materials(kms, &key, true),
        [
            entry(&id_a, "NON_CURRENT", "IMPORTED", None),
            entry(&id_b, "CURRENT", "IMPORTED", Some("ON_DEMAND"))
        ]
    );
    assert_eq!(
        materials(kms, &key, false),
        [entry(&id_b, "CURRENT", "IMPORTED", Some("ON_DEMAND"))]
    );
    assert!(matches!(
        kms.rotate_key_on_demand(&ctx(PRIMARY), key_req(&key)),
        Err(KmsError::InvalidState(m)) if m.starts_with("No available key material pending rotation for the key: arn:")
    ));

    // Deleting non-current material leaves the key usable; only its ciphertexts wait for it.
    assert_eq!(
        delete_material(kms, &key, Some(&id_a))
            .unwrap()
            .key_material_id
            .as_deref(),
        Some(id_a.as_str())
    );
    assert_eq!(describe(kms, PRIMARY, &key).key_state, "Enabled");
    assert!(
        matches!(decrypt(kms, PRIMARY, &blob_a), Err(KmsError::InvalidState(m)) if m.contains("pending import"))
    );
    assert_eq!(decrypt(kms, PRIMARY, &blob_b).unwrap(), b"under b");
    assert_eq!(
        materials(kms, &key, true)[0],
        entry(&id_a, "NON_CURRENT", "PENDING_IMPORT", None)
    );
    import_typed(kms, &key, &a, Some("EXISTING_KEY_MATERIAL"), Some(&id_a)).unwrap();
    assert_eq!(decrypt(kms, PRIMARY, &blob_a).unwrap(), b"under a");
    // Reimporting non-current material does not make it current.
    assert_eq!(
        describe(kms, PRIMARY, &key)
            .current_key_material_id
            .as_deref(),
        Some(id_b.as_str())
    );
    let blob = encrypt(kms, PRIMARY, &key, b"still b").unwrap();

    // Everything survives a restart.
    env.restart();
    let kms = &env.kms;
    assert_eq!(
        describe(kms, PRIMARY, &key)
            .current_key_material_id
            .as_deref(),
        Some(id_b.as_str())
    );
    for (blob, plain) in [
        (&blob_a, &b"under a"[..]),
        (&blob_b, b"under b"),
        (&blob, b"still b"),
    ] {
        assert_eq!(decrypt(kms, PRIMARY, blob).unwrap(), plain);
    }

    // Material pending rotation is not associated with the key: once deleted it is unknown.
    let id_c = import_typed(kms, &key, &c, Some("NEW_KEY_MATERIAL"), None)
        .unwrap()
        .key_material_id
        .unwrap();
    delete_material(kms, &key, Some(&id_c)).unwrap();
    assert_eq!(materials(kms, &key, true).len(), 2);
    assert!(matches!(
        import_typed(kms, &key, &c, None, Some(&id_c)),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    assert!(matches!(
        delete_material(kms, &key, Some(&id_c)),
        Err(KmsError::NotFound(_))
    ));

    // Deleting the current material (no KeyMaterialId) makes the key wait for it.
    assert_eq!(
        delete_material(kms, &key, None)
            .unwrap()
            .key_material_id
            .as_deref(),
        Some(id_b.as_str())
    );
    assert_eq!(describe(kms, PRIMARY, &key).key_state, "PendingImport");
    import_typed(kms, &key, &b, None, None).unwrap();
    assert_eq!(describe(kms, PRIMARY, &key).key_state, "Enabled");
    assert_eq!(decrypt(kms, PRIMARY, &blob_b).unwrap(), b"under b");
    assert_eq!(decrypt(kms, PRIMARY, &blob_a).unwrap(), b"under a");
    let blob = encrypt(kms, PRIMARY, &key, b"b again").unwrap();
    env.restart();
    assert_eq!(decrypt(&env.kms, PRIMARY, &blob).unwrap(), b"b again");
    assert_eq!(
        describe(&env.kms, PRIMARY, &key)
            .current_key_material_id
            .as_deref(),
        Some(id_b.as_str())
    );
}

/// Only single-Region symmetric encryption keys take new material; non-current material expires
/// on its own `ValidTo` without touching the key.
#[test]
fn new_key_material_limits_and_expiry() {
    let env = Env::new();
    let kms = &env.kms;
    let mrk = create_external(kms, "SYMMETRIC_DEFAULT", None, true);
    import_typed(kms, &mrk, &[1u8; 32], None, None).unwrap();
    assert!(matches!(
        import_typed(kms, &mrk, &[2u8; 32], Some("NEW_KEY_MATERIAL"), None),
        Err(KmsError::UnsupportedOperation(_))
    ));

    let key = create_external(kms, "SYMMETRIC_DEFAULT", None, false);
    let (token, public) = params(kms, PRIMARY, &key, "RSAES_OAEP_SHA_256", "RSA_2048").unwrap();
    let wrapped =
        wrap_key_material(&public, WrappingAlgorithm::RsaesOaepSha256, &[3u8; 32]).unwrap();
    let first = kms
        .import_key_material(
            &ctx(PRIMARY),
            import_req(&key, &token, wrapped, Some(env.now().plus_days(2))),
        )
        .unwrap()
        .key_material_id
        .unwrap();
    let blob = encrypt(kms, PRIMARY, &key, b"first").unwrap();
    let second = import_typed(kms, &key, &[4u8; 32], Some("NEW_KEY_MATERIAL"), None)
        .unwrap()
        .key_material_id
        .unwrap();
    kms.rotate_key_on_demand(&ctx(PRIMARY), key_req(&key))
        .unwrap();
    env.clock.advance_hours(3 * 24);
    // Expired at once, before the scheduler deletes it.
    assert!(matches!(
        decrypt(kms, PRIMARY, &blob),
        Err(KmsError::InvalidState(_))
    ));
    kms.run_due().unwrap();
    // The first material expired: the key stays enabled under the second.
    assert_eq!(describe(kms, PRIMARY, &key).key_state, "Enabled");
    assert_eq!(
        describe(kms, PRIMARY, &key)
            .current_key_material_id
            .as_deref(),
        Some(second.as_str())
    );
    assert_eq!(
        materials(kms, &key, true)[0],
        entry(&first, "NON_CURRENT", "PENDING_IMPORT", None)
    );
    assert!(matches!(
        decrypt(kms, PRIMARY, &blob),
        Err(KmsError::InvalidState(_))
    ));
    assert_eq!(
        decrypt(
            kms,
            PRIMARY,
            &encrypt(kms, PRIMARY, &key, b"second").unwrap()
        )
        .unwrap(),
        b"second"
    );

    // AWS's quota of on-demand rotations (25) holds for imported material too.
    for i in 0..24u8 {
        import_typed(kms, &key, &[10 + i; 32], Some("NEW_KEY_MATERIAL"), None).unwrap();
        kms.rotate_key_on_demand(&ctx(PRIMARY), key_req(&key))
            .unwrap();
    }
    import_typed(kms, &key, &[99u8; 32], Some("NEW_KEY_MATERIAL"), None).unwrap();
    assert!(matches!(
        kms.rotate_key_on_demand(&ctx(PRIMARY), key_req(&key)),
        Err(KmsError::LimitExceeded(_))
    ));
    assert_eq!(materials(kms, &key, false).len(), 25);
}
