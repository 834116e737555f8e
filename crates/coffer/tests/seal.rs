//! Seals (ADR 0013), through the binary: the root key under a passphrase, inside SoftHSM2 through
//! PKCS#11, and under another Coffer's KMS key; `coffer operator seal-migrate` through all four
//! providers with the same data readable at every step; every refusal (wrong passphrase, wrong
//! PIN, missing module or key, wrong provider in the config) one line, non-zero, nothing changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use common::*;
use std::path::{Path, PathBuf};

const PASS: &str = "correct horse battery staple";
/// The cheapest OWASP-approved Argon2id costs: the tests unseal many times.
const ARGON: &str = "argon2_memory_kib = 19456\nargon2_iterations = 2\n";
const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `coffer serve` that is expected to refuse to start: its one-line error.
fn refused_start(dir: &Path, data: &Path, config: &str, env: &[(&str, &str)]) -> String {
    let cfg = dir.join("refused.toml");
    std::fs::write(&cfg, config).unwrap();
    let out = run_coffer(
        dir,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        env,
    );
    assert!(!out.status.success(), "serve started: {}", stderr(&out));
    let e = stderr(&out);
    let last = e.lines().rfind(|l| l.starts_with("coffer: error:"));
    last.unwrap_or_else(|| panic!("no error line in {e}"))
        .to_string()
}

/// Every file of the data directory with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Creates a key and encrypts under it; returns (key id, ciphertext).
async fn encrypt_something(s: &Server) -> (String, Vec<u8>) {
    let kms = s.kms(PRIMARY);
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let ct = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"sealed plaintext".to_vec()))
        .send()
        .await
        .unwrap();
    (id, ct.ciphertext_blob().unwrap().as_ref().to_vec())
}

async fn decrypts(s: &Server, ct: &[u8]) {
    let out = s
        .kms(PRIMARY)
        .decrypt()
        .ciphertext_blob(Blob::new(ct.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"sealed plaintext");
}

#[tokio::test]
async fn passphrase_seal_opens_only_with_the_passphrase() {
    let config = format!("[seal]\nkind = \"passphrase\"\n{ARGON}");
    let mut s = Server::start(Options {
        dev: true,
        config: Some(config.clone()),
        env: vec![("COFFER_SEAL_PASSPHRASE".into(), PASS.into())],
        ..Options::default()
    });
    let data = s.data_dir.clone();
    assert!(data.join("root-key.sealed").is_file());
    assert!(!data.join("root-key").exists(), "no plaintext root key");
    let sealed = std::fs::read_to_string(data.join("root-key.sealed")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&sealed).unwrap();
    assert_eq!(v["format"], 1);
    assert_eq!(v["kind"], "passphrase");
    assert_eq!(v["params"]["kdf"], "argon2id");
    assert_eq!(v["params"]["memory_kib"], 19456);
    let (_, ct) = encrypt_something(&s).await;
    s.terminate();

    let before = snapshot(&data);
    let dir = s.dir().to_path_buf();
    let e = refused_start(&dir, &data, &config, &[("COFFER_SEAL_PASSPHRASE", "wrong")]);
    assert!(e.contains("wrong passphrase"), "{e}");
    let e = refused_start(&dir, &data, &config, &[]);
    assert!(e.contains("needs the passphrase"), "{e}");
    let e = refused_start(&dir, &data, "", &[]);
    assert!(
        e.contains("sealed with `passphrase`") && e.contains("kind = \"file\""),
        "{e}"
    );
    let e = refused_start(
        &dir,
        &data,
        &format!("{config}passphrase = \"in the file\"\n"),
        &[],
    );
    assert!(
        e.contains("must not be written in the configuration file"),
        "{e}"
    );
    // A sealed file edited by hand does not open.
    let edited = sealed.replacen("\"iterations\": 2", "\"iterations\": 3", 1);
    std::fs::write(data.join("root-key.sealed"), &edited).unwrap();
    let e = refused_start(&dir, &data, &config, &[("COFFER_SEAL_PASSPHRASE", PASS)]);
    assert!(e.contains("wrong passphrase"), "{e}");
    std::fs::write(data.join("root-key.sealed"), "{\"format\": 7}").unwrap();
    let e = refused_start(&dir, &data, &config, &[("COFFER_SEAL_PASSPHRASE", PASS)]);
    assert!(e.contains("format 7") && e.contains("upgrade"), "{e}");
    std::fs::write(data.join("root-key.sealed"), &sealed).unwrap();
    assert_eq!(
        snapshot(&data),
        before,
        "refusals changed the data directory"
    );

    // The passphrase from a file (one trailing newline ignored).
    let pf = dir.join("passphrase.txt");
    std::fs::write(&pf, format!("{PASS}\n")).unwrap();
    s.options_mut().env.clear();
    s.options_mut().config = Some(format!("{config}passphrase_file = \"{}\"\n", pf.display()));
    s.start_again();
    decrypts(&s, &ct).await;
}

/// A SoftHSM2 token of its own: `SOFTHSM2_CONF` for the processes that use it.
struct Hsm {
    conf: PathBuf,
}

impl Hsm {
    fn new(dir: &Path) -> Option<Hsm> {
        if !Path::new(SOFTHSM).is_file() {
            eprintln!("skipping: SoftHSM2 is not installed ({SOFTHSM}; Debian package softhsm2)");
            return None;
        }
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let out = std::process::Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                "coffer",
                "--so-pin",
                "12345678",
                "--pin",
                "4321",
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Hsm { conf }),
            Ok(o) => panic!("softhsm2-util --init-token: {}", stderr(&o)),
            Err(e) => {
                eprintln!("skipping: softhsm2-util cannot run ({e})");
                None
            }
        }
    }

    fn config(&self, extra: &str) -> String {
        format!(
            "[seal]\nkind = \"pkcs11\"\nmodule = \"{SOFTHSM}\"\ntoken_label = \"coffer\"\n{extra}"
        )
    }

    fn env(&self, pin: &str) -> Vec<(String, String)> {
        vec![
            ("SOFTHSM2_CONF".into(), self.conf.display().to_string()),
            ("COFFER_SEAL_PIN".into(), pin.into()),
        ]
    }
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn pkcs11_seal_in_softhsm() {
    let hsm_dir = tempfile::tempdir().unwrap();
    let Some(hsm) = Hsm::new(hsm_dir.path()) else {
        return;
    };
    let config = hsm.config("");
    let mut s = Server::start(Options {
        dev: true,
        config: Some(config.clone()),
        env: hsm.env("4321"),
        ..Options::default()
    });
    let data = s.data_dir.clone();
    assert!(!data.join("root-key").exists());
    let sealed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("root-key.sealed")).unwrap()).unwrap();
    assert_eq!(sealed["kind"], "pkcs11");
    assert_eq!(sealed["params"]["key_label"], "coffer-root-key");
    assert_eq!(sealed["params"]["mechanism"], "CKM_AES_GCM");
    let (_, ct) = encrypt_something(&s).await;
    s.terminate();

    let before = snapshot(&data);
    let dir = s.dir().to_path_buf();
    let e = refused_start(&dir, &data, &config, &pairs(&hsm.env("9999")));
    assert!(e.contains("wrong PIN for token \"coffer\""), "{e}");
    let other = "[seal]\nkind = \"pkcs11\"\nmodule = \"/nonexistent/libpkcs11.so\"\ntoken_label = \"coffer\"\n";
    let e = refused_start(&dir, &data, other, &pairs(&hsm.env("4321")));
    assert!(
        e.contains("no PKCS#11 module at /nonexistent/libpkcs11.so"),
        "{e}"
    );
    let e = refused_start(
        &dir,
        &data,
        &config.replace("token_label = \"coffer\"", "token_label = \"nope\""),
        &pairs(&hsm.env("4321")),
    );
    assert!(e.contains("no token labelled \"nope\""), "{e}");
    // The sealed file names another key label: that key is not in the token.
    let text = String::from_utf8(
        before
            .iter()
            .find(|(n, _)| n == "root-key.sealed")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    std::fs::write(
        data.join("root-key.sealed"),
        text.replace("\"coffer-root-key\"", "\"missing-key\""),
    )
    .unwrap();
    let e = refused_start(&dir, &data, &config, &pairs(&hsm.env("4321")));
    assert!(e.contains("no AES key labelled \"missing-key\""), "{e}");
    std::fs::write(data.join("root-key.sealed"), &text).unwrap();
    assert_eq!(
        snapshot(&data),
        before,
        "refusals changed the data directory"
    );

    s.start_again();
    decrypts(&s, &ct).await;
}

/// file → passphrase → pkcs11 → kms (a second Coffer) → file, the same ciphertext and secret
/// readable after each move; a move with the wrong passphrase changes nothing.
#[tokio::test]
async fn seal_migrate_through_every_provider() {
    let mut s = Server::start(Options {
        dev: true,
        ..Options::default()
    });
    let (_, ct) = encrypt_something(&s).await;
    let sm = s.secrets(PRIMARY);
    sm.create_secret()
        .name("sealed/db")
        .secret_string("s3cr3t-value")
        .send()
        .await
        .unwrap();
    s.terminate();
    let data = s.data_dir.clone();
    let dir = s.dir().to_path_buf();
    let hsm_dir = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(hsm_dir.path());

    // The unsealing KMS: another Coffer with a key of its own.
    let kms_server = Server::dev();
    let kms_key = kms_server
        .kms(PRIMARY)
        .create_key()
        .description("unseals the other Coffer")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let secret_file = dir.join("kms-secret");
    std::fs::write(&secret_file, format!("{DEV_SK}\n")).unwrap();

    let hsm_keys = match &hsm {
        Some(_) => {
            format!("module = \"{SOFTHSM}\"\ntoken_label = \"coffer\"\nkey_label = \"migrated\"\n")
        }
        None => String::new(),
    };
    let seal_keys = format!(
        "{ARGON}{hsm_keys}endpoint = \"{}\"\nregion = \"{PRIMARY}\"\nkey_id = \"{kms_key}\"\naccess_key_id = \"{DEV_AK}\"\nsecret_access_key_file = \"{}\"\n",
        kms_server.endpoint,
        secret_file.display()
    );
    let cfg_of = |kind: &str| format!("[seal]\nkind = \"{kind}\"\n{seal_keys}");
    let mut env: Vec<(String, String)> = vec![("COFFER_SEAL_PASSPHRASE".into(), PASS.into())];
    if let Some(h) = &hsm {
        env.extend(h.env("4321"));
    }
    let cfg_path = dir.join("migrate.toml");
    let migrate = |from: &str, to: &str, env: &[(String, String)]| {
        std::fs::write(&cfg_path, cfg_of(from)).unwrap();
        run_coffer(
            &dir,
            &[
                "operator",
                "seal-migrate",
                "--to",
                to,
                "--data-dir",
                data.to_str().unwrap(),
                "--config",
                cfg_path.to_str().unwrap(),
            ],
            &pairs(env),
        )
    };

    let mut path = vec!["file", "passphrase"];
    if hsm.is_some() {
        path.push("pkcs11");
    }
    path.extend(["kms", "file"]);
    for step in path.windows(2) {
        let (from, to) = (step[0], step[1]);
        if from == "passphrase" {
            // The wrong passphrase: refused, nothing changed.
            let before = snapshot(&data);
            let mut wrong = env.clone();
            wrong[0].1 = "wrong".into();
            let out = migrate(from, to, &wrong);
            assert!(!out.status.success());
            assert!(
                stderr(&out).contains("wrong passphrase"),
                "{}",
                stderr(&out)
            );
            assert_eq!(snapshot(&data), before);
        }
        let out = migrate(from, to, &env);
        assert!(out.status.success(), "{from} -> {to}: {}", stderr(&out));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains(&format!("kind = \"{to}\"")), "{said}");
        assert_eq!(
            data.join("root-key").exists(),
            to == "file",
            "after {from} -> {to}"
        );
        assert_eq!(
            data.join("root-key.sealed").exists(),
            to != "file",
            "after {from} -> {to}"
        );
        // The old configuration no longer opens it; the new one does, with the same data.
        let e = refused_start(&dir, &data, &cfg_of(from), &pairs(&env));
        assert!(e.contains(&format!("sealed with `{to}`")), "{e}");
        s.options_mut().config = Some(cfg_of(to));
        s.options_mut().env = env.clone();
        s.start_again();
        decrypts(&s, &ct).await;
        let v = s
            .secrets(PRIMARY)
            .get_secret_value()
            .secret_id("sealed/db")
            .send()
            .await
            .unwrap();
        assert_eq!(v.secret_string(), Some("s3cr3t-value"));
        s.terminate();
    }
    if hsm.is_none() {
        eprintln!("skipping the pkcs11 step: SoftHSM2 is not installed");
    }
}

/// A passphrase-sealed directory backed up with its sealed key restores with the passphrase.
#[tokio::test]
async fn sealed_key_backup_and_restore() {
    let config = format!("[seal]\nkind = \"passphrase\"\n{ARGON}");
    let mut s = Server::start(Options {
        dev: true,
        config: Some(config.clone()),
        env: vec![("COFFER_SEAL_PASSPHRASE".into(), PASS.into())],
        ..Options::default()
    });
    let (_, ct) = encrypt_something(&s).await;
    let dir = s.dir().to_path_buf();
    let data = s.data_dir.clone();
    let cfg = dir.join("sealed.toml");
    std::fs::write(&cfg, &config).unwrap();
    let file = dir.join("b.cbk");
    let pass = [("COFFER_SEAL_PASSPHRASE", PASS)];
    let out = run_coffer(
        &dir,
        &[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--include-root-key",
        ],
        &pass,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    s.terminate();
    let restored = dir.join("restored");
    let args = [
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ];
    let out = run_coffer(&dir, &args, &[("COFFER_SEAL_PASSPHRASE", "wrong")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("wrong passphrase"),
        "{}",
        stderr(&out)
    );
    assert!(!restored.exists(), "a refused restore left {restored:?}");
    let out = run_coffer(&dir, &args, &pass);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(restored.join("root-key.sealed").is_file());
    assert!(!restored.join("root-key").exists());
    // Serve the restored directory.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::rename(&restored, &data).unwrap();
    s.start_again();
    decrypts(&s, &ct).await;
}
