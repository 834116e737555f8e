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
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", ":memory:"],
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

const PASS: &str = "correct horse battery staple";

fn export_state(server: &Server, passphrase: &str) -> Vec<u8> {
    let r = server.raw(
        "POST",
        "/_coffer/state/export",
        &[("x-coffer-state-passphrase", passphrase)],
        b"",
    );
    assert_eq!(r.status, 200, "export: {}", r.body_str());
    r.body
}

fn import_state(server: &Server, passphrase: &str, file: &[u8]) -> RawResponse {
    server.raw(
        "POST",
        "/_coffer/state/import",
        &[("x-coffer-state-passphrase", passphrase)],
        file,
    )
}

/// What one server made, to check on another.
struct Made {
    key_id: String,
    ciphertext: Vec<u8>,
    secret_arn: String,
}

async fn make_state(server: &Server) -> Made {
    let kms = server.kms(PRIMARY);
    let key = kms
        .create_key()
        .description("exported")
        .send()
        .await
        .expect("CreateKey");
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    kms.create_alias()
        .alias_name("alias/ci-exported")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("CreateAlias");
    let ct = kms
        .encrypt()
        .key_id("alias/ci-exported")
        .plaintext(Blob::new(b"recorded fixture".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    let sm = server.secrets(PRIMARY);
    let secret = sm
        .create_secret()
        .name("ci/exported")
        .kms_key_id(&key_id)
        .secret_string("s3cr3t-value")
        .send()
        .await
        .expect("CreateSecret");
    Made {
        key_id,
        ciphertext: ct.ciphertext_blob().unwrap().as_ref().to_vec(),
        secret_arn: secret.arn().unwrap().to_string(),
    }
}

async fn check_state(server: &Server, made: &Made) {
    let kms = server.kms(PRIMARY);
    let pt = kms
        .decrypt()
        .ciphertext_blob(Blob::new(made.ciphertext.clone()))
        .send()
        .await
        .expect("Decrypt of the first server's ciphertext");
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"recorded fixture");
    assert_eq!(
        pt.key_id().unwrap().rsplit('/').next(),
        Some(made.key_id.as_str())
    );
    let d = kms
        .describe_key()
        .key_id("alias/ci-exported")
        .send()
        .await
        .expect("DescribeKey by alias");
    assert_eq!(d.key_metadata().unwrap().description(), Some("exported"));
    let v = server
        .secrets(PRIMARY)
        .get_secret_value()
        .secret_id("ci/exported")
        .send()
        .await
        .expect("GetSecretValue");
    assert_eq!(v.secret_string(), Some("s3cr3t-value"));
    assert_eq!(v.arn(), Some(made.secret_arn.as_str()));
}

/// Export from one `--dev` server, import into another (in memory, another root key): the
/// keys decrypt the first one's ciphertexts and the secrets read back; what the second server
/// held before is gone.
#[tokio::test]
async fn state_moves_between_running_servers() {
    let a = Server::dev();
    let made = make_state(&a).await;
    let file = export_state(&a, PASS);
    assert!(file.starts_with(b"COFRSTAT"));
    assert!(!contains_bytes(&file, b"s3cr3t-value"));
    assert!(
        !contains_bytes(&file, b"ci/exported"),
        "names are encrypted too"
    );

    let b = Server::start(Options {
        dev: true,
        memory: true,
        ..Options::default()
    });
    let before = b.kms(PRIMARY).create_key().send().await.expect("CreateKey");
    let before = before.key_metadata().unwrap().key_id().to_string();
    let r = import_state(&b, PASS, &file);
    assert_eq!(r.status, 200, "import: {}", r.body_str());
    assert_eq!(r.json()["counts"]["kms_keys"], 1);
    check_state(&b, &made).await;
    let gone = b.kms(PRIMARY).describe_key().key_id(&before).send().await;
    expect_err(gone, "NotFoundException");
    assert!(!b.log().contains(PASS), "the passphrase was logged");
}

/// The three bad inputs (and a missing passphrase): each a precise error, the state unchanged.
#[tokio::test]
async fn bad_state_files_change_nothing() {
    let a = Server::dev();
    make_state(&a).await;
    let file = export_state(&a, PASS);

    let b = Server::start(Options {
        dev: true,
        memory: true,
        ..Options::default()
    });
    let kept = b.kms(PRIMARY).create_key().send().await.expect("CreateKey");
    let kept = kept.key_metadata().unwrap().key_id().to_string();

    let wrong = import_state(&b, "not the passphrase", &file);
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.error_code(), "IncorrectPassphraseException");
    assert!(wrong.error_message().contains("passphrase does not open"));

    let truncated = import_state(&b, PASS, &file[..file.len() - 100]);
    assert_eq!(truncated.status, 400);
    assert_eq!(truncated.error_code(), "InvalidStateFileException");
    assert!(
        truncated.error_message().contains("truncated"),
        "{}",
        truncated.error_message()
    );

    let mut flipped = file.clone();
    let at = flipped.len() - 40;
    flipped[at] ^= 1;
    let altered = import_state(&b, PASS, &flipped);
    assert_eq!(altered.error_code(), "InvalidStateFileException");
    assert!(
        altered.error_message().contains("altered"),
        "{}",
        altered.error_message()
    );

    let garbage = import_state(&b, PASS, b"{\"not\": \"a state file\"}");
    assert_eq!(garbage.error_code(), "InvalidStateFileException");
    assert!(garbage.error_message().contains("not a Coffer state file"));

    let mut newer = file.clone();
    newer[8..10].copy_from_slice(&2u16.to_be_bytes());
    let newer = import_state(&b, PASS, &newer);
    assert_eq!(newer.status, 400);
    assert_eq!(newer.error_code(), "UnsupportedStateVersionException");
    assert!(
        newer
            .error_message()
            .contains("version 2, newer than this build reads (1)"),
        "{}",
        newer.error_message()
    );

    let none = b.raw("POST", "/_coffer/state/import", &[], &file);
    assert_eq!(none.error_code(), "MissingPassphraseException");

    // Nothing changed: the key made before is there, the exported one is not.
    b.kms(PRIMARY)
        .describe_key()
        .key_id(&kept)
        .send()
        .await
        .expect("the key made before is still there");
    let keys = b.kms(PRIMARY).list_keys().send().await.expect("ListKeys");
    assert_eq!(keys.keys().len(), 1);
    let alias = b
        .kms(PRIMARY)
        .describe_key()
        .key_id("alias/ci-exported")
        .send()
        .await;
    expect_err(alias, "NotFoundException");
}

/// Outside `--dev` the state endpoints do not exist.
#[tokio::test]
async fn state_endpoints_are_dev_only() {
    let s = Server::secure();
    let r = s.raw(
        "POST",
        "/_coffer/state/export",
        &[("x-coffer-state-passphrase", PASS)],
        b"",
    );
    assert_eq!(r.status, 404);
}

/// `coffer state export` of a stopped server's data directory, `coffer state import` into a
/// new one (the passphrase from the environment, then from a file), served again.
#[tokio::test]
async fn state_files_offline() {
    let mut a = Server::secure();
    let made = make_state(&a).await;
    a.terminate();
    let out = a.dir().join("ci.state");
    let data = a.data_dir.to_str().unwrap().to_string();
    let r = run_coffer(
        a.dir(),
        &[
            "state",
            "export",
            "--data-dir",
            &data,
            "--out",
            out.to_str().unwrap(),
        ],
        &[("COFFER_STATE_PASSPHRASE", PASS)],
    );
    assert!(
        r.status.success(),
        "export: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(!String::from_utf8_lossy(&r.stdout).contains(PASS));

    let pass_file = a.dir().join("pass.txt");
    std::fs::write(&pass_file, format!("{PASS}\n")).unwrap();
    let file = out.to_str().unwrap().to_string();
    let pass = pass_file.to_str().unwrap().to_string();
    let b = Server::start(Options {
        setup: vec![vec![
            "state".into(),
            "import".into(),
            file,
            "--data-dir".into(),
            "{data}".into(),
            "--passphrase-file".into(),
            pass,
        ]],
        ..Options::default()
    });
    check_state(&b, &made).await;

    // Without a passphrase: refused, saying where it is looked for.
    let r = run_coffer(
        a.dir(),
        &[
            "state",
            "import",
            out.to_str().unwrap(),
            "--data-dir",
            &data,
        ],
        &[],
    );
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("COFFER_STATE_PASSPHRASE"));
}
