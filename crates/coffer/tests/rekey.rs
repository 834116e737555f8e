//! Root-key rotation (ADR 0015), through the binary: `coffer operator rekey` against a running
//! server (it keeps serving) and offline; a crash loop over a store of thousands of keys and
//! secrets, the process aborted at every stage of a rekey, after which a restart or a second
//! rekey finishes it and nothing is unreadable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use common::*;
use std::path::Path;

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The generations in a plaintext root-key file: 1 for the original format, else the keyring's.
fn generations(data: &Path) -> Vec<u32> {
    let b = std::fs::read(data.join("root-key")).unwrap();
    assert_eq!(&b[..7], b"COFRK\0\0");
    if b[7] == 1 {
        return vec![1];
    }
    assert_eq!(b[7], 2);
    let ring = &b[8..];
    assert_eq!(&ring[..4], b"CRK2");
    let n = ring[8] as usize;
    (0..n)
        .map(|i| {
            let at = 9 + i * 36;
            u32::from_be_bytes(ring[at..at + 4].try_into().unwrap())
        })
        .collect()
}

async fn encrypt(s: &Server, key_id: &str, text: &str) -> Vec<u8> {
    s.kms(PRIMARY)
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(text.as_bytes().to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec()
}

async fn decrypt(s: &Server, ct: &[u8]) -> String {
    let out = s
        .kms(PRIMARY)
        .decrypt()
        .ciphertext_blob(Blob::new(ct.to_vec()))
        .send()
        .await
        .unwrap();
    String::from_utf8(out.plaintext().unwrap().as_ref().to_vec()).unwrap()
}

#[tokio::test]
async fn rekey_a_running_server_then_offline() {
    let mut s = Server::secure();
    let kms = s.kms(PRIMARY);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let hmac = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let hmac_id = hmac.key_metadata().unwrap().key_id().to_string();
    let mac = kms
        .generate_mac()
        .key_id(&hmac_id)
        .message(Blob::new(b"m".to_vec()))
        .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac()
        .unwrap()
        .as_ref()
        .to_vec();
    let ct = encrypt(&s, &key_id, "before rekey").await;
    s.secrets(PRIMARY)
        .create_secret()
        .name("rekeyed")
        .secret_string("still-here")
        .send()
        .await
        .unwrap();
    assert_eq!(generations(&s.data_dir), vec![1]);
    let creds = s.root_credentials_path();
    let dir = s.dir().to_path_buf();
    let data = s.data_dir.clone();

    // Offline rekey of a directory a server runs on is refused.
    let o = run_coffer(
        &dir,
        &["operator", "rekey", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        out(&o).contains("in use by another Coffer process"),
        "{}",
        out(&o)
    );

    // Online: the server keeps its keys, ciphertexts and credentials.
    let o = run_coffer(
        &dir,
        &[
            "operator",
            "rekey",
            "--endpoint",
            &s.endpoint,
            "--credentials-file",
            creds.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("generation 2"), "{}", out(&o));
    assert_eq!(generations(&data), vec![2]);
    assert_eq!(decrypt(&s, &ct).await, "before rekey");
    let ct2 = encrypt(&s, &key_id, "after rekey").await;
    // Unauthenticated or non-root callers cannot rekey.
    let o = run_coffer(
        &dir,
        &["operator", "rekey", "--endpoint", &s.endpoint],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
        ],
    );
    assert!(!o.status.success());

    // After a restart everything stored opens under generation 2 alone.
    s.terminate();
    s.start_again();
    assert_eq!(decrypt(&s, &ct).await, "before rekey");
    assert_eq!(decrypt(&s, &ct2).await, "after rekey");
    let ok = s
        .kms(PRIMARY)
        .verify_mac()
        .key_id(&hmac_id)
        .message(Blob::new(b"m".to_vec()))
        .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
        .mac(Blob::new(mac.clone()))
        .send()
        .await
        .unwrap();
    assert!(ok.mac_valid());

    // Offline, with the server stopped.
    s.terminate();
    let o = run_coffer(
        &dir,
        &["operator", "rekey", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("generation 3"), "{}", out(&o));
    assert_eq!(generations(&data), vec![3]);
    s.start_again();
    assert_eq!(decrypt(&s, &ct).await, "before rekey");
    let v = s
        .secrets(PRIMARY)
        .get_secret_value()
        .secret_id("rekeyed")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("still-here"));
}

/// Thousands of keys and secrets; a rekey aborted (as by `kill -9`) right after the new
/// generation is persisted, after 1, 3 and 7 batches, and just before retiring the old one;
/// each time the next start or the next rekey finishes it, and every key and secret opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rekey_crash_loop_loses_nothing() {
    const KEYS: usize = 5000;
    const SECRETS: usize = 5000;
    let mut s = Server::secure();
    let kms = s.kms(PRIMARY);
    let sm = s.secrets(PRIMARY);
    let mut tasks = tokio::task::JoinSet::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(KEYS);
    let per = 50;
    for t in 0..KEYS / per {
        let kms = kms.clone();
        let tx = tx.clone();
        tasks.spawn(async move {
            for _ in 0..per {
                let k = kms.create_key().send().await.unwrap();
                tx.send(k.key_metadata().unwrap().key_id().to_string())
                    .await
                    .unwrap();
            }
            t
        });
    }
    drop(tx);
    let mut key_ids = Vec::new();
    while let Some(id) = rx.recv().await {
        key_ids.push(id);
    }
    while tasks.join_next().await.is_some() {}
    assert_eq!(key_ids.len(), KEYS);
    for (t, key) in key_ids.iter().enumerate().take(SECRETS / per) {
        let sm = sm.clone();
        let key = key.clone();
        tasks.spawn(async move {
            for i in 0..per {
                sm.create_secret()
                    .name(format!("crash/{t}/{i}"))
                    .kms_key_id(&key)
                    .secret_string(format!("value-{t}-{i}"))
                    .send()
                    .await
                    .unwrap();
            }
            t
        });
    }
    while tasks.join_next().await.is_some() {}
    // One ciphertext per tenth key, checked after every crash.
    let mut cts = Vec::new();
    for (i, id) in key_ids.iter().enumerate().step_by(10) {
        cts.push((encrypt(&s, id, &format!("p{i}")).await, format!("p{i}")));
    }
    s.terminate();
    let dir = s.dir().to_path_buf();
    let data = s.data_dir.clone();
    let rekey = |failpoint: Option<&str>| {
        let env: Vec<(&str, &str)> = failpoint
            .map(|f| vec![("COFFER_FAILPOINT_REKEY_ABORT_AFTER", f)])
            .unwrap_or_default();
        run_coffer(
            &dir,
            &["operator", "rekey", "--data-dir", data.to_str().unwrap()],
            &env,
        )
    };

    let mut expected_gen = 1;
    for (round, point) in ["0", "1", "3", "7", "retire"].iter().enumerate() {
        let o = rekey(Some(point));
        assert!(
            !o.status.success(),
            "failpoint {point} did not fire: {}",
            out(&o)
        );
        expected_gen += 1;
        let gens = generations(&data);
        assert_eq!(
            gens,
            vec![expected_gen - 1, expected_gen],
            "after the crash at {point}"
        );
        // Alternate: the next start finishes it, or the next rekey does (and rotates again).
        if round % 2 == 0 {
            s.start_again();
            assert!(
                s.log().contains("root-key rotation finished"),
                "{}",
                s.log()
            );
        } else {
            let o = rekey(None);
            assert!(o.status.success(), "{}", out(&o));
            // The begun rotation is finished first; it does not start another one.
            assert_eq!(generations(&data), vec![expected_gen]);
            s.start_again();
        }
        assert_eq!(generations(&data), vec![expected_gen]);
        for (ct, want) in cts.iter().step_by(25) {
            assert_eq!(&decrypt(&s, ct).await, want);
        }
        s.terminate();
    }
    // Everything, once, at the end.
    s.start_again();
    for (ct, want) in &cts {
        assert_eq!(&decrypt(&s, ct).await, want);
    }
    let sm = s.secrets(PRIMARY);
    for t in (0..SECRETS / per).step_by(5) {
        let v = sm
            .get_secret_value()
            .secret_id(format!("crash/{t}/7"))
            .send()
            .await
            .unwrap();
        assert_eq!(v.secret_string(), Some(format!("value-{t}-7").as_str()));
    }
}
