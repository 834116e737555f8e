//! Issue #17, for CI users: `--data-dir :memory:`, state export/import, the seed file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use common::*;

/// `--dev --data-dir :memory:` serves real keys and secrets without touching the disk, and says
/// that nothing survives.
#[tokio::test]
async fn memory_data_dir_serves_without_disk() {
    let server = Server::start(Options {
        dev: true,
        memory: true,
        ..Options::default()
    });
    let kms = server.kms(PRIMARY);
    let key = kms.create_key().send().await.expect("CreateKey");
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let ct = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"in memory".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    let pt = kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"in memory");
    let sm = server.secrets(PRIMARY);
    sm.create_secret()
        .name("ci/memory")
        .secret_string("v")
        .send()
        .await
        .expect("CreateSecret");
    let status = server.get("/_coffer/health/ready");
    assert_eq!(status.status, 200);

    assert!(
        !server.data_dir.exists(),
        "the data directory was created: {:?}",
        files_under(server.dir())
    );
    let on_disk: Vec<_> = files_under(server.dir())
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".stderr.log"))
        .collect();
    assert!(on_disk.is_empty(), "files written: {on_disk:?}");
    assert!(
        !server.dir().join(":memory:").exists(),
        "a directory named :memory: was created"
    );
    let log = server.log();
    assert!(log.contains("nothing survives"), "no warning in:\n{log}");
}

/// `:memory:` without `--dev` is refused with a message saying why, before anything is made.
#[test]
fn memory_data_dir_needs_dev() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_coffer(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            ":memory:",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":memory:") && err.contains("--dev"),
        "unclear error: {err}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "something was created"
    );
}
