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

const SEED_KEY: &str = "4c7e3b9a-0d51-4f2e-9a63-1b8f0c2d5e71";
const BYOK: &str = "9b2f6d10-7a3c-4e58-b1d4-2c6e8f0a3b95";
const MRK: &str = "mrk-1f0e2d3c4b5a69788796a5b4c3d2e1f0";

/// The repository's example seed file.
fn example_seed() -> String {
    std::fs::read_to_string(repo_root().join("examples/seed.yaml")).expect("examples/seed.yaml")
}

fn seeded(seed: &str, memory: bool) -> Server {
    Server::start(Options {
        dev: true,
        memory,
        files: vec![("seed.yaml".into(), seed.to_string())],
        extra_args: vec!["--seed".into(), "seed.yaml".into()],
        env: vec![("APP_API_TOKEN".into(), "token-from-env".into())],
        ..Options::default()
    })
}

/// The `seed file applied` line of the latest start: (created, updated, unchanged).
fn applied(server: &Server) -> (u64, u64, u64) {
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("seed file applied"))
        .unwrap_or_else(|| panic!("no `seed file applied` in:\n{log}"));
    let n = |k: &str| -> u64 {
        let at = line
            .find(&format!("{k}="))
            .unwrap_or_else(|| panic!("{k} in {line}"))
            + k.len()
            + 1;
        line[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    };
    (n("created"), n("updated"), n("unchanged"))
}

/// The example seed file, applied at start: fixed IDs, test-seeded and imported material (the
/// same on two deployments with different root keys), a multi-Region replica, aliases, secrets
/// (inline JSON, from the environment, replicated), IAM role with its policy. A second start
/// changes nothing; a changed file updates what changed.
#[tokio::test]
async fn seed_file_applied_idempotently() {
    let mut a = seeded(&example_seed(), false);
    assert_eq!(applied(&a), (8, 0, 0), "{}", a.log());
    let kms = a.kms(PRIMARY);
    let d = kms
        .describe_key()
        .key_id("alias/app")
        .send()
        .await
        .expect("alias/app");
    let md = d.key_metadata().unwrap();
    assert_eq!(md.key_id(), SEED_KEY);
    assert_eq!(md.description(), Some("Application data key"));
    assert_eq!(md.origin().map(|o| o.as_str()), Some("AWS_KMS"));
    let rot = kms
        .get_key_rotation_status()
        .key_id(SEED_KEY)
        .send()
        .await
        .unwrap();
    assert!(rot.key_rotation_enabled());
    let byok = kms
        .describe_key()
        .key_id("alias/byok")
        .send()
        .await
        .unwrap();
    let byok = byok.key_metadata().unwrap();
    assert_eq!(byok.key_id(), BYOK);
    assert_eq!(byok.origin().map(|o| o.as_str()), Some("EXTERNAL"));
    assert_eq!(byok.key_state().map(|s| s.as_str()), Some("Enabled"));
    let current = kms
        .describe_key()
        .key_id("alias/app-current")
        .send()
        .await
        .unwrap();
    assert_eq!(current.key_metadata().unwrap().key_id(), SEED_KEY);
    let replica = a
        .kms(REPLICA)
        .describe_key()
        .key_id(MRK)
        .send()
        .await
        .expect("replica");
    assert_eq!(
        replica
            .key_metadata()
            .unwrap()
            .multi_region_configuration()
            .unwrap()
            .multi_region_key_type()
            .map(|t| t.as_str()),
        Some("REPLICA")
    );
    let mut cts = Vec::new();
    for key in [SEED_KEY, BYOK] {
        let ct = kms
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(b"fixture".to_vec()))
            .send()
            .await
            .expect("Encrypt");
        cts.push(ct.ciphertext_blob().unwrap().as_ref().to_vec());
    }
    let sm = a.secrets(PRIMARY);
    let db = sm
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .expect("app/db");
    let v: serde_json::Value = serde_json::from_str(db.secret_string().unwrap()).unwrap();
    assert_eq!(v["username"], "app");
    let tok = sm
        .get_secret_value()
        .secret_id("app/api-token")
        .send()
        .await
        .unwrap();
    assert_eq!(tok.secret_string(), Some("token-from-env"));
    let rep = a
        .secrets(REPLICA)
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await;
    assert!(rep.is_ok(), "replica of app/db: {rep:?}");
    let d = sm
        .describe_secret()
        .secret_id("app/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.rotation_enabled(), Some(true));
    assert_eq!(
        d.rotation_lambda_arn(),
        Some("arn:aws:lambda:eu-central-1:000000000000:function:rotate-db")
    );
    let rules = d.rotation_rules().expect("RotationRules");
    assert_eq!(rules.automatically_after_days(), Some(30));
    assert_eq!(rules.duration(), Some("3h"));
    assert!(d.next_rotation_date().is_some());
    assert_eq!(
        d.version_ids_to_stages().map(|m| m.len()),
        Some(1),
        "the seed rotated app/db instead of only configuring it"
    );
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::new()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&a.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                DEV_AK, DEV_SK, None, None, "t",
            ))
            .build(),
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name("app")
        .send()
        .await
        .expect("role app");
    assert_eq!(attached.attached_policies().len(), 1);
    assert_eq!(
        attached.attached_policies()[0].policy_name(),
        Some("app-secrets-read")
    );

    // Same file, second start: nothing changes.
    a.terminate();
    a.start_again();
    assert_eq!(applied(&a), (0, 0, 8), "{}", a.log());

    // Another deployment (in memory, another root key) from the same file: the recorded
    // ciphertexts decrypt.
    let b = seeded(&example_seed(), true);
    for ct in &cts {
        let pt = b
            .kms(PRIMARY)
            .decrypt()
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await
            .expect("Decrypt on the other deployment");
        assert_eq!(pt.plaintext().unwrap().as_ref(), b"fixture");
    }

    // A changed file: what changed is updated and logged.
    let changed = example_seed()
        .replace(
            "description: Application data key",
            "description: Application data key v2",
        )
        .replace("password: not-a-real-password", "password: rotated");
    a.terminate();
    a.options_mut().files = vec![("seed.yaml".into(), changed)];
    a.start_again();
    assert_eq!(applied(&a), (0, 2, 6), "{}", a.log());
    let log = a.log();
    assert!(
        log.contains("description") && log.contains("value"),
        "{log}"
    );
    assert!(!log.contains("rotated"), "a secret value was logged");
    let d = a
        .kms(PRIMARY)
        .describe_key()
        .key_id(SEED_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.key_metadata().unwrap().description(),
        Some("Application data key v2")
    );
    let db = a
        .secrets(PRIMARY)
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .unwrap();
    assert!(db.secret_string().unwrap().contains("rotated"));
}

fn serve_seed_fails(seed: &str, name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), seed).unwrap();
    let out = run_coffer(
        dir.path(),
        &[
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            ":memory:",
            "--seed",
            name,
        ],
        &[],
    );
    assert!(
        !out.status.success(),
        "started: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Conflicts stop start-up with a message naming the entry and its line.
#[test]
fn seed_conflicts_stop_start_up() {
    let missing = "version: 1\naccounts:\n  \"000000000000\":\n    regions:\n      eu-central-1:\n        aliases:\n          alias/nowhere: 11111111-2222-3333-4444-555555555555\n";
    let err = serve_seed_fails(missing, "seed.yaml");
    assert!(
        err.contains("alias alias/nowhere") && err.contains("line 7") && err.contains("not a key"),
        "{err}"
    );

    let twice = format!(
        "version: 1\naccounts:\n  \"000000000000\":\n    regions:\n      eu-central-1:\n        keys:\n          - id: {SEED_KEY}\n      eu-west-1:\n        keys:\n          - id: {SEED_KEY}\n"
    );
    let err = serve_seed_fails(&twice, "seed.yaml");
    assert!(
        err.contains(SEED_KEY) && err.contains("declared twice") && err.contains("line "),
        "{err}"
    );

    let bad_yaml = "version: 1\naccounts:\n  \"000000000000\":\n    regions: [oops\n";
    let err = serve_seed_fails(bad_yaml, "seed.yaml");
    assert!(err.contains("line "), "{err}");

    let unknown = "{\"version\": 1, \"acounts\": {}}";
    let err = serve_seed_fails(unknown, "seed.json");
    assert!(err.contains("acounts") && err.contains("line 1"), "{err}");
}

/// A key whose fixed ID is taken by a key of another kind, on a later start, is a conflict;
/// nothing of the file is half-applied past it.
#[tokio::test]
async fn seed_fixed_id_used_by_another_key() {
    let first = format!(
        "version: 1\naccounts:\n  \"000000000000\":\n    regions:\n      eu-central-1:\n        keys:\n          - id: {SEED_KEY}\n"
    );
    let mut s = seeded(&first, false);
    s.terminate();
    let hmac =
        format!("{first}            spec: HMAC_256\n            usage: GENERATE_VERIFY_MAC\n");
    std::fs::write(s.dir().join("seed.yaml"), &hmac).unwrap();
    let data = s.data_dir.to_str().unwrap().to_string();
    let out = run_coffer(
        s.dir(),
        &[
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data,
            "--seed",
            "seed.yaml",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(SEED_KEY) && err.contains("KeySpec") && err.contains("line 7"),
        "{err}"
    );
}

/// `coffer seed check` validates without starting: the example passes, a bad file is named.
#[test]
fn seed_check_validates_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seed.yaml"), example_seed()).unwrap();
    let out = run_coffer(
        dir.path(),
        &["seed", "check", "seed.yaml"],
        &[("APP_API_TOKEN", "x")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
    let bad = example_seed().replace(
        "rotation: { enabled: true, period_days: 365 }",
        "rotation: { enabled: true, period_days: 10 }",
    );
    std::fs::write(dir.path().join("bad.yaml"), bad).unwrap();
    let out = run_coffer(
        dir.path(),
        &["seed", "check", "bad.yaml"],
        &[("APP_API_TOKEN", "x")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(SEED_KEY) && err.contains("rotationPeriodInDays"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 2,
        "check wrote files"
    );
}

/// docs/ci.md's AWS CLI recipe: `AWS_ENDPOINT_URL` and dummy credentials, no wrapper, against a
/// seeded in-memory server; the seeded key and secret are there before the first command.
#[test]
fn aws_cli_with_aws_endpoint_url_on_a_seeded_server() {
    let have = std::process::Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        println!("skipping: aws CLI not installed (python3 -m pip install awscli)");
        return;
    }
    let server = seeded(&example_seed(), true);
    let home = tempfile::tempdir().unwrap();
    let aws = |args: &[&str]| -> serde_json::Value {
        let mut cmd = std::process::Command::new("aws");
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", home.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
            .env("AWS_ENDPOINT_URL", &server.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", PRIMARY)
            .env("AWS_PAGER", "")
            .args(args)
            .args(["--output", "json"])
            .output()
            .expect("aws");
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON from aws")
    };
    let d = aws(&["kms", "describe-key", "--key-id", "alias/app"]);
    assert_eq!(d["KeyMetadata"]["KeyId"], SEED_KEY);
    let v = aws(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "app/api-token",
    ]);
    assert_eq!(v["SecretString"], "token-from-env");
}

/// docs/ci.md's Terraform recipe (its `endpoints` block as printed there) reads the seeded key
/// and secret of an in-memory server.
#[test]
fn terraform_endpoints_block_reads_the_seeded_state() {
    let have = std::process::Command::new("terraform")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have || !std::path::Path::new("/opt/tf-plugins").is_dir() {
        println!("skipping: terraform or /opt/tf-plugins missing");
        return;
    }
    let server = seeded(&example_seed(), true);
    let dir = tempfile::tempdir().unwrap();
    let rc = dir.path().join("terraformrc");
    std::fs::copy(repo_root().join("tests/terraform/seed/terraformrc"), &rc).unwrap();
    let doc = std::fs::read_to_string(repo_root().join("docs/ci.md")).unwrap();
    let start = doc
        .find("provider \"aws\" {")
        .expect("the provider block in docs/ci.md");
    let block = &doc[start..start + doc[start..].find("\n}\n").unwrap() + 2];
    let main = format!(
        "{}\n\ndata \"aws_kms_alias\" \"app\" {{\n  name = \"alias/app\"\n}}\n\
         data \"aws_secretsmanager_secret_version\" \"token\" {{\n  secret_id = \"app/api-token\"\n}}\n\
         output \"key_id\" {{\n  value = data.aws_kms_alias.app.target_key_id\n}}\n\
         output \"token\" {{\n  value     = data.aws_secretsmanager_secret_version.token.secret_string\n  sensitive = true\n}}\n",
        block.replace("http://127.0.0.1:4566", &server.endpoint)
    );
    std::fs::write(dir.path().join("main.tf"), main).unwrap();
    let tf = |args: &[&str]| -> String {
        let mut cmd = std::process::Command::new("terraform");
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("TF_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args(args)
            .current_dir(dir.path())
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .output()
            .expect("terraform");
        assert!(
            out.status.success(),
            "terraform {args:?}: {}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    tf(&["init", "-input=false", "-no-color"]);
    tf(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let out: serde_json::Value =
        serde_json::from_str(&tf(&["output", "-json", "-no-color"])).unwrap();
    assert_eq!(out["key_id"]["value"], SEED_KEY);
    assert_eq!(out["token"]["value"], "token-from-env");
}

/// docs/seed.schema.json is a valid draft 2020-12 schema that accepts examples/seed.yaml and
/// refuses a misspelt key (checked with Python's `jsonschema` where it is installed).
#[test]
fn seed_schema_accepts_the_example() {
    let root = repo_root();
    let root = root.to_str().unwrap();
    let script = "import json,sys,yaml,jsonschema\n\
        s=json.load(open(sys.argv[1]+'/docs/seed.schema.json'))\n\
        d=yaml.safe_load(open(sys.argv[1]+'/examples/seed.yaml'))\n\
        V=jsonschema.Draft202012Validator\n\
        V.check_schema(s)\n\
        V(s).validate(d)\n\
        d['acounts']={}\n\
        assert not V(s).is_valid(d)\n\
        print('schema ok')\n";
    let have = std::process::Command::new("python3")
        .args(["-c", "import yaml, jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        println!("skipping: python3 with yaml and jsonschema not installed");
        return;
    }
    let out = std::process::Command::new("python3")
        .args(["-c", script, root])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `[seed] file` in the configuration file; a secret's value from a file beside the seed file,
/// a key by alias only (no fixed ID) found again on the next start.
#[tokio::test]
async fn seed_file_from_the_configuration() {
    let seed = "version: 1\naccounts:\n  \"000000000000\":\n    regions:\n      eu-central-1:\n        keys:\n          - aliases: [alias/by-alias]\n            description: no fixed id\n        secrets:\n          - name: from/file\n            kms_key: alias/by-alias\n            value: { file: value.txt }\n";
    let mut s = Server::start(Options {
        dev: true,
        config: Some("[seed]\nfile = \"seed-conf.yaml\"\n".into()),
        files: vec![
            ("seed-conf.yaml".into(), seed.into()),
            ("value.txt".into(), "from a file".into()),
        ],
        ..Options::default()
    });
    assert_eq!(applied(&s), (2, 0, 0), "{}", s.log());
    let v = s
        .secrets(PRIMARY)
        .get_secret_value()
        .secret_id("from/file")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("from a file"));
    let first = s
        .kms(PRIMARY)
        .describe_key()
        .key_id("alias/by-alias")
        .send()
        .await
        .unwrap();
    s.terminate();
    s.start_again();
    assert_eq!(applied(&s), (0, 0, 2), "{}", s.log());
    let again = s
        .kms(PRIMARY)
        .describe_key()
        .key_id("alias/by-alias")
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.key_metadata().unwrap().key_id(),
        again.key_metadata().unwrap().key_id()
    );
    let keys = s.kms(PRIMARY).list_keys().send().await.unwrap();
    assert_eq!(keys.keys().len(), 1, "a second key was made");
}

/// `coffer seed export` captures a hand-made setup as a seed file that a fresh server applies:
/// the same key IDs, aliases and secrets (values only when asked).
#[tokio::test]
async fn seed_export_captures_a_hand_made_setup() {
    const ROTATOR: &str = "arn:aws:lambda:eu-central-1:000000000000:function:by-hand";
    let a = Server::start(Options {
        dev: true,
        rotators: Some(format!(
            "[[rotator]]\nkind = \"random-password\"\narn = \"{ROTATOR}\"\n"
        )),
        ..Options::default()
    });
    let kms = a.kms(PRIMARY);
    let key = kms
        .create_key()
        .description("made by hand")
        .send()
        .await
        .unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    kms.create_alias()
        .alias_name("alias/by-hand")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    a.secrets(PRIMARY)
        .create_secret()
        .name("hand/made")
        .kms_key_id("alias/by-hand")
        .secret_string("hand-value")
        .send()
        .await
        .unwrap();
    a.secrets(PRIMARY)
        .rotate_secret()
        .secret_id("hand/made")
        .rotation_lambda_arn(ROTATOR)
        .rotate_immediately(false)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .schedule_expression("rate(10 days)")
                .build(),
        )
        .send()
        .await
        .expect("RotateSecret");
    let iam = a.iam();
    let policy = iam
        .create_policy()
        .policy_name("by-hand-read")
        .path("/app/")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#,
        )
        .send()
        .await
        .expect("CreatePolicy");
    iam.create_role()
        .role_name("by-hand")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#,
        )
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("platform")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateRole");
    for arn in [
        policy.policy().unwrap().arn().unwrap(),
        "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
    ] {
        iam.attach_role_policy()
            .role_name("by-hand")
            .policy_arn(arn)
            .send()
            .await
            .expect("AttachRolePolicy");
    }
    let export = |values: bool| -> String {
        let mut args = vec!["seed", "export", "--endpoint", a.endpoint.as_str()];
        if values {
            args.push("--with-values");
        }
        let creds = [
            ("AWS_ACCESS_KEY_ID", DEV_AK),
            ("AWS_SECRET_ACCESS_KEY", DEV_SK),
        ];
        let out = run_coffer(a.dir(), &args, &creds);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let plain = export(false);
    assert!(
        plain.contains(&key_id) && plain.contains("alias/by-hand"),
        "{plain}"
    );
    assert!(
        !plain.contains("hand-value"),
        "a value without --with-values:\n{plain}"
    );
    let full = export(true);
    assert!(full.contains("hand-value"));

    let b = seeded(&full, true);
    let d = b
        .kms(PRIMARY)
        .describe_key()
        .key_id("alias/by-hand")
        .send()
        .await
        .unwrap();
    assert_eq!(d.key_metadata().unwrap().key_id(), key_id);
    assert_eq!(
        d.key_metadata().unwrap().description(),
        Some("made by hand")
    );
    let v = b
        .secrets(PRIMARY)
        .get_secret_value()
        .secret_id("hand/made")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("hand-value"));
    let d = b
        .secrets(PRIMARY)
        .describe_secret()
        .secret_id("hand/made")
        .send()
        .await
        .unwrap();
    assert_eq!(d.rotation_enabled(), Some(true));
    assert_eq!(d.rotation_lambda_arn(), Some(ROTATOR));
    assert_eq!(
        d.rotation_rules().and_then(|r| r.schedule_expression()),
        Some("rate(10 days)")
    );
    let attached = b
        .iam()
        .list_attached_role_policies()
        .role_name("by-hand")
        .send()
        .await
        .expect("the exported role");
    let mut names: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "arn:aws:iam::000000000000:policy/app/by-hand-read",
            "arn:aws:iam::aws:policy/SecretsManagerReadWrite"
        ]
    );
    let role = b
        .iam()
        .get_role()
        .role_name("by-hand")
        .send()
        .await
        .unwrap();
    assert_eq!(role.role().unwrap().tags().len(), 1);
}
