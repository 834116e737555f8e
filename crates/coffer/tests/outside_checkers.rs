//! KMS output checked by an implementation independent of Coffer's: the `openssl` CLI verifies
//! signatures against the public key GetPublicKey returns, encrypts with RSA-OAEP offline for
//! Coffer to decrypt, and recomputes an HMAC over key material imported into Coffer. Skipped with
//! a message when `openssl` is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, EncryptionAlgorithmSpec, ExpirationModelType, KeySpec, KeyUsageType,
    MacAlgorithmSpec, OriginType, SigningAlgorithmSpec, WrappingKeySpec,
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

/// Runs openssl; returns (success, stdout).
fn openssl(args: &[&str]) -> (bool, Vec<u8>) {
    let out = Command::new("openssl").args(args).output().unwrap();
    (out.status.success(), out.stdout)
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

async fn create(kms: &Client, spec: KeySpec, usage: KeyUsageType) -> String {
    kms.create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string()
}

async fn public_key(kms: &Client, id: &str) -> Vec<u8> {
    kms.get_public_key()
        .key_id(id)
        .send()
        .await
        .unwrap()
        .public_key()
        .unwrap()
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn openssl_verifies_coffer_signatures() {
    if !openssl_available() {
        return;
    }
    let srv = Server::dev();
    let kms = srv.kms("eu-central-1");
    let dir = tempfile::tempdir().unwrap();
    let message = b"the message Coffer signs".to_vec();
    std::fs::write(path(dir.path(), "msg"), &message).unwrap();
    let cases = [
        (
            KeySpec::EccNistP256,
            SigningAlgorithmSpec::EcdsaSha256,
            vec!["-sha256"],
        ),
        (
            KeySpec::EccNistP384,
            SigningAlgorithmSpec::EcdsaSha384,
            vec!["-sha384"],
        ),
        (
            KeySpec::EccSecgP256K1,
            SigningAlgorithmSpec::EcdsaSha256,
            vec!["-sha256"],
        ),
        (
            KeySpec::Rsa2048,
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
            vec!["-sha256"],
        ),
        (
            KeySpec::Rsa3072,
            SigningAlgorithmSpec::RsassaPssSha384,
            vec![
                "-sha384",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:48",
            ],
        ),
    ];
    for (spec, alg, opts) in cases {
        let id = create(&kms, spec.clone(), KeyUsageType::SignVerify).await;
        std::fs::write(path(dir.path(), "pub.der"), public_key(&kms, &id).await).unwrap();
        let signature = kms
            .sign()
            .key_id(&id)
            .message(Blob::new(message.clone()))
            .signing_algorithm(alg.clone())
            .send()
            .await
            .unwrap()
            .signature()
            .unwrap()
            .as_ref()
            .to_vec();
        std::fs::write(path(dir.path(), "sig"), &signature).unwrap();
        let mut args = vec!["dgst"];
        args.extend(opts.iter().copied());
        let (pubkey, sig, msg) = (
            path(dir.path(), "pub.der"),
            path(dir.path(), "sig"),
            path(dir.path(), "msg"),
        );
        args.extend([
            "-keyform",
            "DER",
            "-verify",
            &pubkey,
            "-signature",
            &sig,
            &msg,
        ]);
        let (ok, out) = openssl(&args);
        assert!(
            ok,
            "openssl rejected Coffer's {spec:?} {alg:?} signature: {}",
            String::from_utf8_lossy(&out)
        );
        // And Coffer rejects what openssl would: a signature over other bytes.
        let bad = kms
            .verify()
            .key_id(&id)
            .message(Blob::new(b"another message".to_vec()))
            .signature(Blob::new(signature))
            .signing_algorithm(alg)
            .send()
            .await;
        let err = bad.unwrap_err().into_service_error();
        assert!(err.is_kms_invalid_signature_exception(), "{err:?}");
    }
    // Ed25519: openssl verifies the raw message.
    let id = create(&kms, KeySpec::EccNistEdwards25519, KeyUsageType::SignVerify).await;
    std::fs::write(path(dir.path(), "ed.der"), public_key(&kms, &id).await).unwrap();
    let signature = kms
        .sign()
        .key_id(&id)
        .message(Blob::new(message.clone()))
        .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
        .send()
        .await
        .unwrap()
        .signature()
        .unwrap()
        .as_ref()
        .to_vec();
    std::fs::write(path(dir.path(), "ed.sig"), &signature).unwrap();
    let (ok, _) = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        &path(dir.path(), "ed.der"),
        "-rawin",
        "-in",
        &path(dir.path(), "msg"),
        "-sigfile",
        &path(dir.path(), "ed.sig"),
    ]);
    assert!(ok, "openssl rejected Coffer's Ed25519 signature");
}

#[tokio::test]
async fn coffer_decrypts_rsa_oaep_made_by_openssl() {
    if !openssl_available() {
        return;
    }
    let srv = Server::dev();
    let kms = srv.kms("eu-west-1");
    let dir = tempfile::tempdir().unwrap();
    let id = create(&kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    std::fs::write(path(dir.path(), "pub.der"), public_key(&kms, &id).await).unwrap();
    std::fs::write(path(dir.path(), "plain"), b"offline plaintext").unwrap();
    for (alg, md) in [
        (EncryptionAlgorithmSpec::RsaesOaepSha256, "sha256"),
        (EncryptionAlgorithmSpec::RsaesOaepSha1, "sha1"),
    ] {
        let (ok, _) = openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            &path(dir.path(), "pub.der"),
            "-in",
            &path(dir.path(), "plain"),
            "-out",
            &path(dir.path(), "ct"),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &format!("rsa_oaep_md:{md}"),
            "-pkeyopt",
            &format!("rsa_mgf1_md:{md}"),
        ]);
        assert!(ok);
        let ct = std::fs::read(path(dir.path(), "ct")).unwrap();
        assert_eq!(ct.len(), 256);
        let out = kms
            .decrypt()
            .key_id(&id)
            .ciphertext_blob(Blob::new(ct))
            .encryption_algorithm(alg.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(out.plaintext().unwrap().as_ref(), b"offline plaintext");
        assert_eq!(out.encryption_algorithm(), Some(&alg));
    }
}

#[tokio::test]
async fn openssl_recomputes_hmac_of_imported_material() {
    if !openssl_available() {
        return;
    }
    let srv = Server::dev();
    let kms = srv.kms("eu-central-1");
    let dir = tempfile::tempdir().unwrap();
    let id = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let params = kms
        .get_parameters_for_import()
        .key_id(&id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let material: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(7) ^ 0xa5).collect();
    std::fs::write(
        path(dir.path(), "wrap.der"),
        params.public_key().unwrap().as_ref(),
    )
    .unwrap();
    std::fs::write(path(dir.path(), "material"), &material).unwrap();
    let (ok, _) = openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        &path(dir.path(), "wrap.der"),
        "-in",
        &path(dir.path(), "material"),
        "-out",
        &path(dir.path(), "wrapped"),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ]);
    assert!(ok);
    kms.import_key_material()
        .key_id(&id)
        .import_token(params.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(
            std::fs::read(path(dir.path(), "wrapped")).unwrap(),
        ))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap();
    let message = b"message to authenticate".to_vec();
    std::fs::write(path(dir.path(), "msg"), &message).unwrap();
    let mac = kms
        .generate_mac()
        .key_id(&id)
        .message(Blob::new(message))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac()
        .unwrap()
        .as_ref()
        .to_vec();
    let hex: String = material.iter().map(|b| format!("{b:02x}")).collect();
    let (ok, out) = openssl(&[
        "dgst",
        "-sha256",
        "-mac",
        "HMAC",
        "-macopt",
        &format!("hexkey:{hex}"),
        "-binary",
        &path(dir.path(), "msg"),
    ]);
    assert!(ok);
    assert_eq!(
        out, mac,
        "openssl's HMAC of the imported material equals Coffer's GenerateMac"
    );
}
