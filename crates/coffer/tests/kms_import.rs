//! Importing key material through the AWS SDK for Rust, with the material wrapped client-side by
//! the `openssl` CLI (an implementation independent of Coffer's): RSAES-OAEP and RSA + AES key
//! wrap with padding (RFC 5649). Skipped with a message when `openssl` is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportType, IncludeKeyMaterial, KeyMaterialState, KeyState,
    OriginType, RotationType, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use common::*;

fn openssl_available() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: the openssl CLI is not available");
    }
    ok
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wraps `material` under the DER public key with `alg`, the way AWS's documentation does it
/// with OpenSSL.
fn wrap(dir: &Path, public_der: &[u8], alg: &AlgorithmSpec, material: &[u8]) -> Vec<u8> {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(p("pub.der"), public_der).unwrap();
    let sha = match alg {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaAesKeyWrapSha1 => "sha1",
        _ => "sha256",
    };
    let rsa = |input: &str, output: &str| {
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            &p("pub.der"),
            "-in",
            &p(input),
            "-out",
            &p(output),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &format!("rsa_oaep_md:{sha}"),
            "-pkeyopt",
            &format!("rsa_mgf1_md:{sha}"),
        ])
    };
    std::fs::write(p("material.bin"), material).unwrap();
    match alg {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaesOaepSha256 => {
            rsa("material.bin", "wrapped.bin");
            std::fs::read(p("wrapped.bin")).unwrap()
        }
        _ => {
            let aes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5c);
            std::fs::write(p("aes.bin"), aes).unwrap();
            rsa("aes.bin", "aes.enc");
            let hex: String = aes.iter().map(|b| format!("{b:02x}")).collect();
            openssl(&[
                "enc",
                "-id-aes256-wrap-pad",
                "-K",
                &hex,
                "-iv",
                "A65959A6",
                "-in",
                &p("material.bin"),
                "-out",
                &p("material.enc"),
            ]);
            let mut out = std::fs::read(p("aes.enc")).unwrap();
            out.extend(std::fs::read(p("material.enc")).unwrap());
            out
        }
    }
}

async fn params(kms: &Client, key: &str, alg: AlgorithmSpec) -> (Vec<u8>, Vec<u8>) {
    let p = kms
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(alg)
        .wrapping_key_spec(WrappingKeySpec::Rsa3072)
        .send()
        .await
        .expect("GetParametersForImport");
    let valid_to = p.parameters_valid_to().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((valid_to - now - 86_400).abs() < 120, "valid for 24 hours");
    (
        p.import_token().unwrap().as_ref().to_vec(),
        p.public_key().unwrap().as_ref().to_vec(),
    )
}

async fn state(kms: &Client, key: &str) -> KeyState {
    kms.describe_key()
        .key_id(key)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_state()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn import_with_openssl_wrapped_material() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::dev();
    let kms = server.kms(PRIMARY);
    let material: [u8; 32] = std::array::from_fn(|i| i as u8 ^ 0xa7);

    for alg in [
        AlgorithmSpec::RsaesOaepSha1,
        AlgorithmSpec::RsaesOaepSha256,
        AlgorithmSpec::RsaAesKeyWrapSha1,
        AlgorithmSpec::RsaAesKeyWrapSha256,
    ] {
        let md = kms
            .create_key()
            .origin(OriginType::External)
            .send()
            .await
            .expect("CreateKey EXTERNAL");
        let md = md.key_metadata().unwrap();
        assert_eq!(md.origin(), Some(&OriginType::External));
        assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
        let key = md.key_id().to_string();
        let err = kms
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("KMSInvalidStateException"));

        let (token, public) = params(&kms, &key, alg.clone()).await;
        let wrapped = wrap(dir.path(), &public, &alg, &material);
        let out = kms
            .import_key_material()
            .key_id(&key)
            .import_token(Blob::new(token.clone()))
            .encrypted_key_material(Blob::new(wrapped))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ImportKeyMaterial {alg:?}: {e:?}"));
        assert_eq!(out.key_material_id().map(str::len), Some(64));
        let md = kms.describe_key().key_id(&key).send().await.unwrap();
        let md = md.key_metadata().unwrap();
        assert_eq!(md.key_state(), Some(&KeyState::Enabled));
        assert_eq!(
            md.expiration_model(),
            Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
        );
        let ct = kms
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"imported".to_vec()))
            .send()
            .await
            .unwrap();
        let pt = kms
            .decrypt()
            .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
            .send()
            .await
            .unwrap();
        assert_eq!(pt.plaintext().unwrap().as_ref(), b"imported");

        // Different material: IncorrectKeyMaterialException.
        let other = wrap(dir.path(), &public, &alg, &[0x11u8; 32]);
        let err = kms
            .import_key_material()
            .key_id(&key)
            .import_token(Blob::new(token))
            .encrypted_key_material(Blob::new(other))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("IncorrectKeyMaterialException"));
    }

    // A restart between GetParametersForImport and ImportKeyMaterial; material that expires.
    let key = kms
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let (token, public) = params(&kms, &key, AlgorithmSpec::RsaAesKeyWrapSha256).await;
    server.kill9();
    server.start_again();
    let kms = server.kms(PRIMARY);
    let wrapped = wrap(
        dir.path(),
        &public,
        &AlgorithmSpec::RsaAesKeyWrapSha256,
        &material,
    );
    let err = kms
        .import_key_material()
        .key_id(&key)
        .import_token(Blob::new(b"forged token".to_vec()))
        .encrypted_key_material(Blob::new(wrapped.clone()))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidImportTokenException"));
    let valid_to = DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 30 * 86_400,
    );
    kms.import_key_material()
        .key_id(&key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .valid_to(valid_to)
        .send()
        .await
        .expect("ImportKeyMaterial after a restart");
    let md = kms.describe_key().key_id(&key).send().await.unwrap();
    assert_eq!(md.key_metadata().unwrap().valid_to(), Some(&valid_to));
    assert_eq!(state(&kms, &key).await, KeyState::Enabled);

    // DeleteImportedKeyMaterial.
    kms.delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    assert_eq!(state(&kms, &key).await, KeyState::PendingImport);

    // Usage tracking and custom key stores.
    let last = kms.get_key_last_usage().key_id(&key).send().await.unwrap();
    assert!(last.key_creation_date().is_some());
    assert!(last.tracking_start_date().is_some());
    let stores = kms.describe_custom_key_stores().send().await.unwrap();
    assert!(stores.custom_key_stores().is_empty());
    let err = kms
        .connect_custom_key_store()
        .custom_key_store_id("cks-1234567890abcdef0")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("CustomKeyStoreNotFoundException"));
}

/// Material a seed file imported (its ID is not this root key's fingerprint) is recognised when
/// the same bytes are imported again through the API; other bytes are refused.
#[tokio::test]
async fn reimport_of_seeded_material() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = "9b2f6d10-7a3c-4e58-b1d4-2c6e8f0a3b95";
    let material: [u8; 32] = std::array::from_fn(|i| i as u8);
    let seed = format!(
        "version: 1\naccounts:\n  \"000000000000\":\n    regions:\n      {PRIMARY}:\n        keys:\n          - id: {key}\n            material: {{ base64: \"{}\" }}\n",
        b64encode(&material)
    );
    let server = Server::start(Options {
        dev: true,
        files: vec![("seed.yaml".into(), seed)],
        extra_args: vec!["--seed".into(), "seed.yaml".into()],
        ..Options::default()
    });
    let kms = server.kms(PRIMARY);
    let before = kms.describe_key().key_id(key).send().await.unwrap();
    let seeded_id = before
        .key_metadata()
        .unwrap()
        .current_key_material_id()
        .unwrap()
        .to_string();
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let (token, public) = params(&kms, key, alg.clone()).await;
    let out = kms
        .import_key_material()
        .key_id(key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(dir.path(), &public, &alg, &material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("the seeded material again");
    assert_eq!(out.key_material_id(), Some(seeded_id.as_str()));
    let other: [u8; 32] = [7; 32];
    let (token, public) = params(&kms, key, alg.clone()).await;
    let err = kms
        .import_key_material()
        .key_id(key)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(dir.path(), &public, &alg, &other)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await;
    expect_err(err, "IncorrectKeyMaterialException");
}

/// On-demand rotation of imported material through the SDK, as AWS's blog post walks it:
/// import, import NEW_KEY_MATERIAL, RotateKeyOnDemand, and both ciphertexts decrypt across a
/// `kill -9`.
#[tokio::test]
async fn on_demand_rotation_of_imported_material() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(Options::default());
    let kms = server.kms(PRIMARY);
    let key = kms
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let alg = AlgorithmSpec::RsaAesKeyWrapSha256;
    let import = async |material: &[u8], kind: Option<ImportType>| {
        let (token, public) = params(&kms, &key, alg.clone()).await;
        kms.import_key_material()
            .key_id(&key)
            .import_token(Blob::new(token))
            .encrypted_key_material(Blob::new(wrap(dir.path(), &public, &alg, material)))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .set_import_type(kind)
            .send()
            .await
            .expect("ImportKeyMaterial")
            .key_material_id()
            .unwrap()
            .to_string()
    };
    let first = import(&[0x11; 32], None).await;
    let second = import(&[0x22; 32], Some(ImportType::NewKeyMaterial)).await;
    let current = async |kms: &Client| {
        kms.describe_key()
            .key_id(&key)
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .current_key_material_id()
            .map(str::to_string)
    };
    assert_eq!(current(&kms).await.as_deref(), Some(first.as_str()));
    let encrypt = async |kms: &Client, data: &[u8]| {
        let out = kms
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(data.to_vec()))
            .send()
            .await
            .unwrap();
        out.ciphertext_blob().unwrap().as_ref().to_vec()
    };
    let before = encrypt(&kms, b"before").await;
    let listed = kms
        .list_key_rotations()
        .key_id(&key)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap();
    let states: Vec<_> = listed
        .rotations()
        .iter()
        .map(|r| r.key_material_state().cloned())
        .collect();
    assert_eq!(
        states,
        [
            Some(KeyMaterialState::Current),
            Some(KeyMaterialState::PendingRotation)
        ]
    );

    kms.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(current(&kms).await.as_deref(), Some(second.as_str()));
    let after = encrypt(&kms, b"after").await;
    let err = kms.rotate_key_on_demand().key_id(&key).send().await;
    expect_err(err, "KMSInvalidStateException");
    let rotations = kms.list_key_rotations().key_id(&key).send().await.unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    let r = &rotations.rotations()[0];
    assert_eq!(r.key_material_id(), Some(second.as_str()));
    assert_eq!(r.rotation_type(), Some(&RotationType::OnDemand));
    assert!(r.rotation_date().is_some());

    server.kill9();
    server.start_again();
    let kms = server.kms(PRIMARY);
    assert_eq!(current(&kms).await.as_deref(), Some(second.as_str()));
    for (blob, plain) in [(before, &b"before"[..]), (after, b"after")] {
        let out = kms
            .decrypt()
            .ciphertext_blob(Blob::new(blob))
            .send()
            .await
            .unwrap();
        assert_eq!(out.plaintext().unwrap().as_ref(), plain);
    }
}
