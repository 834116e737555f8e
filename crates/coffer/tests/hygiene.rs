//! Secrets hygiene (#16 part 6): a production server logging at `trace`, with the audit trail
//! on, serves traffic that carries every kind of sensitive value Coffer handles — secret values
//! (text and binary), KMS plaintexts, data keys, the root secret access key, an assumed role's
//! secret key and session token — in successful calls, in calls that fail validation, and in
//! malformed bodies. None of those values (raw or base64) may appear in any log line, in the
//! audit trail, in any error answer, or in the metrics text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::SystemTime;

use aws_sdk_kms::primitives::Blob;
use common::*;

/// Every file under `dir`, recursively.
fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_in(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn no_sensitive_value_in_logs_errors_trail_or_metrics() {
    let server = Server::start(Options {
        rust_log: Some("trace".into()),
        config: Some("[audit]\nfile = \"audit/trail.jsonl\"\n".into()),
        ..Options::default()
    });
    let account = server.account_id().await;
    let (_, root_secret) = server.creds();
    let kms = server.kms(PRIMARY);
    let sm = server.secrets(PRIMARY);
    let tag = uuid_like();
    let secret_text = format!("hygiene-secret-{tag}");
    let secret_bin = format!("hygiene-binary-{tag}").into_bytes();
    let plaintext = format!("hygiene-plaintext-{tag}");
    let rejected = format!("hygiene-rejected-{tag}");
    let malformed = format!("hygiene-malformed-{tag}");
    let mut answers: Vec<Vec<u8>> = Vec::new();

    // KMS: a key, Encrypt / Decrypt / GenerateDataKey / ReEncrypt.
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let ct = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(plaintext.clone()))
        .encryption_context("purpose", "hygiene")
        .send()
        .await
        .unwrap();
    let blob = ct.ciphertext_blob().unwrap().clone();
    let back = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "hygiene")
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), plaintext.as_bytes());
    // A wrong context: a failed decrypt names no plaintext.
    let err = kms
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("purpose", "other")
        .send()
        .await
        .unwrap_err();
    answers.push(format!("{err:?}").into_bytes());
    let dk = kms
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    let data_key = dk.plaintext().unwrap().as_ref().to_vec();
    let dkp = kms
        .generate_data_key_pair()
        .key_id(&key_id)
        .key_pair_spec(aws_sdk_kms::types::DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap();
    let private_key = dkp.private_key_plaintext().unwrap().as_ref().to_vec();

    // Secrets Manager: text and binary secrets, a new version, reads.
    sm.create_secret()
        .name(format!("hygiene/{tag}"))
        .secret_string(&secret_text)
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name(format!("hygiene-bin/{tag}"))
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            secret_bin.clone(),
        ))
        .send()
        .await
        .unwrap();
    sm.put_secret_value()
        .secret_id(format!("hygiene/{tag}"))
        .secret_string(format!("{secret_text}-v2"))
        .send()
        .await
        .unwrap();
    let v = sm
        .get_secret_value()
        .secret_id(format!("hygiene/{tag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        v.secret_string(),
        Some(format!("{secret_text}-v2").as_str())
    );
    // Rejected by validation: a too-short token beside a secret value.
    let err = sm
        .put_secret_value()
        .secret_id(format!("hygiene/{tag}"))
        .secret_string(&rejected)
        .client_request_token("short")
        .send()
        .await
        .unwrap_err();
    answers.push(format!("{err:?}").into_bytes());
    // Rejected: a secret that does not exist.
    let err = sm
        .put_secret_value()
        .secret_id("no-such-secret")
        .secret_string(&rejected)
        .send()
        .await
        .unwrap_err();
    answers.push(format!("{err:?}").into_bytes());

    // Malformed bodies carrying a value: wrong types, broken JSON.
    for body in [
        format!(r#"{{"SecretId":"hygiene/{tag}","SecretString":["{malformed}"]}}"#),
        format!(
            r#"{{"SecretId":"hygiene/{tag}","SecretString":"{malformed}","ClientRequestToken":7}}"#
        ),
        format!(r#"{{"SecretId":"hygiene/{tag}","SecretString":"{malformed}""#),
    ] {
        let r = server.signed_json(SignedJson::secrets("PutSecretValue", body.as_bytes()));
        assert_eq!(r.status, 400, "{}", r.body_str());
        answers.push(r.body.clone());
    }
    let body = format!(r#"{{"KeyId":"{key_id}","Plaintext":{{"x":"{malformed}"}}}}"#);
    let r = server.signed_json(SignedJson::kms("Encrypt", body.as_bytes()));
    assert_eq!(r.status, 400, "{}", r.body_str());
    answers.push(r.body.clone());

    // STS: a role, a session, and a call with the session's credentials.
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let role_arn = server
        .iam()
        .create_role()
        .role_name("hygiene")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let out = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("hygiene")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let session_secret = c.secret_access_key().to_string();
    let session_token = c.session_token().to_string();
    let denied = server
        .kms_as(PRIMARY, c.access_key_id(), &session_secret)
        .list_keys()
        .send()
        .await;
    answers.push(format!("{denied:?}").into_bytes());

    let metrics = server.get("/metrics");
    if metrics.status == 200 {
        answers.push(metrics.body.clone());
    }

    let mut needles: Vec<(&str, Vec<u8>)> = vec![
        ("root secret access key", root_secret.clone().into_bytes()),
        ("secret value", secret_text.clone().into_bytes()),
        (
            "secret value (base64)",
            b64encode(secret_text.as_bytes()).into_bytes(),
        ),
        ("binary secret", secret_bin.clone()),
        (
            "binary secret (base64)",
            b64encode(&secret_bin).into_bytes(),
        ),
        ("rejected secret value", rejected.clone().into_bytes()),
        ("malformed body's value", malformed.clone().into_bytes()),
        ("KMS plaintext", plaintext.clone().into_bytes()),
        (
            "KMS plaintext (base64)",
            b64encode(plaintext.as_bytes()).into_bytes(),
        ),
        ("data key", data_key.clone()),
        ("data key (base64)", b64encode(&data_key).into_bytes()),
        (
            "data key pair private key (base64)",
            b64encode(&private_key).into_bytes(),
        ),
        ("session secret access key", session_secret.into_bytes()),
        ("session token", session_token.into_bytes()),
    ];
    // The session credentials are the SDK's to know; the answers below are only ours.
    let answer_needles = needles.len() - 2;

    let mut server = server;
    server.terminate();
    let logs = server.all_logs();
    assert!(
        contains_bytes(&logs, b"op=secretsmanager:PutSecretValue status=400"),
        "per-request debug lines missing: the test would prove nothing"
    );
    let trail: Vec<u8> = files_in(&server.dir().join("audit"))
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(!trail.is_empty(), "no audit trail written");
    for (what, needle) in &needles {
        assert!(
            !contains_bytes(&logs, needle),
            "{what} found in the server's trace log"
        );
        assert!(
            !contains_bytes(&trail, needle),
            "{what} found in the audit trail"
        );
    }
    needles.truncate(answer_needles);
    for (i, a) in answers.iter().enumerate() {
        for (what, needle) in &needles {
            assert!(
                !contains_bytes(a, needle),
                "{what} echoed in error answer #{i}: {}",
                String::from_utf8_lossy(a)
            );
        }
    }
}

/// A fresh marker, so no earlier run's text can match.
fn uuid_like() -> String {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", t, std::process::id())
}
