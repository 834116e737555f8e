//! Operator commands and the configuration file, through the binary: `coffer version`,
//! `coffer operator init`, `coffer status`, `coffer health`, `coffer config check|example`, and
//! bad configuration refused with one line and no data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pki::TestCa;
use common::*;
use std::path::Path;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_coffer(dir.path(), &["version"], &[]);
    assert!(out.status.success());
    assert!(
        stdout(&out).starts_with("coffer 0.1.0 (commit "),
        "{}",
        stdout(&out)
    );
    let out = run_coffer(dir.path(), &["--help"], &[]);
    for cmd in ["serve", "config", "version", "status", "operator"] {
        assert!(stdout(&out).contains(cmd), "{cmd} missing from --help");
    }
    for sub in [
        &["operator", "init", "--help"][..],
        &["status", "--help"],
        &["config", "check", "--help"],
        &["serve", "--help"],
    ] {
        let out = run_coffer(dir.path(), sub, &[]);
        assert!(out.status.success(), "{sub:?}");
        assert!(stdout(&out).contains("Usage:"), "{sub:?}");
    }
}

fn parse_printed_credentials(text: &str) -> (String, String) {
    let mut ak = None;
    let mut sk = None;
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("aws_access_key_id = ") {
            ak = Some(v.to_string());
        }
        if let Some(v) = l.strip_prefix("aws_secret_access_key = ") {
            sk = Some(v.to_string());
        }
    }
    (ak.unwrap(), sk.unwrap())
}

fn listing(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_init_then_serve_then_status() {
    let server = Server::start(Options {
        operator_init: true,
        ..Options::default()
    });
    let printed = server.init_stdout.clone();
    let (ak, sk) = parse_printed_credentials(&printed);
    assert!(ak.starts_with("AKIA"), "{printed}");
    assert!(printed.contains("root-key"), "{printed}");
    // Printed once, kept in no file: serve did not write root-credentials either.
    assert!(!server.root_credentials_path().exists());
    for f in common::files_under(&server.data_dir) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !contains_bytes(&bytes, sk.as_bytes()),
            "secret in {}",
            f.display()
        );
    }
    // The printed credentials work.
    let kms = server.kms_as(PRIMARY, &ak, &sk);
    kms.create_key().send().await.unwrap();

    // A second init refuses and changes nothing.
    let before = listing(&server.data_dir);
    let data = server.data_dir.to_str().unwrap().to_string();
    let out = run_coffer(
        server.dir(),
        &["operator", "init", "--data-dir", &data],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already initialised"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).trim().lines().count(), 1);
    assert!(stdout(&out).is_empty());
    assert_eq!(listing(&server.data_dir), before);

    // coffer status, signed with the printed credentials.
    let creds = server.dir().join("creds");
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {ak}\naws_secret_access_key = {sk}\n"),
    )
    .unwrap();
    let c = creds.to_str().unwrap();
    let out = run_coffer(
        server.dir(),
        &[
            "status",
            "--endpoint",
            &server.endpoint,
            "--credentials-file",
            c,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "version:    0.1.0",
        "production, plain HTTP",
        "sqlite (reachable)",
        "kms keys:   1 (Enabled 1)",
        "scheduler:",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    let out = run_coffer(
        server.dir(),
        &[
            "status",
            "--endpoint",
            &server.endpoint,
            "--credentials-file",
            c,
            "--json",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "0.1.0");
    assert_eq!(v["counts"]["kms_keys"]["Enabled"], 1);
    assert!(v["uptime_seconds"].as_u64().is_some());
    assert_eq!(v["store"]["reachable"], true);

    // Wrong credentials: refused, one line, non-zero.
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {ak}\naws_secret_access_key = wrong\n"),
    )
    .unwrap();
    let out = run_coffer(
        server.dir(),
        &[
            "status",
            "--endpoint",
            &server.endpoint,
            "--credentials-file",
            c,
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("InvalidSignatureException"),
        "{}",
        stderr(&out)
    );
    // Unsigned: refused.
    let r = server.get("/_coffer/admin/status");
    assert_eq!(r.status, 400, "{}", r.body_str());
    assert_eq!(r.error_code(), "MissingAuthenticationTokenException");

    let out = run_coffer(
        server.dir(),
        &["health", "--endpoint", &server.endpoint],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn status_over_tls_with_a_ca_bundle() {
    let ca = TestCa::new("ca");
    let pem = ca.server();
    let server = Server::start(Options {
        config: Some("[tls]\ncert_file = \"s.crt\"\nkey_file = \"s.key\"\n".into()),
        files: vec![
            ("s.crt".into(), pem.cert),
            ("s.key".into(), pem.key),
            ("ca.crt".into(), ca.cert_pem.clone()),
        ],
        ca_pem: Some(ca.cert_pem.clone()),
        ..Options::default()
    });
    let creds = server.root_credentials_path();
    let out = run_coffer(
        server.dir(),
        &[
            "status",
            "--endpoint",
            &server.endpoint,
            "--credentials-file",
            creds.to_str().unwrap(),
            "--ca-bundle",
            "ca.crt",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("production, TLS"), "{}", stdout(&out));
    // Not trusting the CA: refused by the client.
    let out = run_coffer(
        server.dir(),
        &[
            "status",
            "--endpoint",
            &server.endpoint,
            "--credentials-file",
            creds.to_str().unwrap(),
        ],
        &[("SSL_CERT_FILE", "/nonexistent")],
    );
    assert!(!out.status.success());
}

/// `coffer serve --config coffer.toml` with `toml` fails with one line containing `needle`,
/// leaving no data directory.
fn serve_refuses(toml: &str, env: &[(&str, &str)], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("coffer.toml"), toml).unwrap();
    let out = run_coffer(dir.path(), &["serve", "--config", "coffer.toml"], env);
    assert!(!out.status.success(), "started with {toml:?} {env:?}");
    let e = stderr(&out);
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert!(e.contains(needle), "{needle:?} not in {e}");
    assert!(!dir.path().join("coffer-data").exists());
    assert!(!dir.path().join("data").exists());
}

#[test]
fn bad_configuration_is_refused_with_one_line() {
    serve_refuses(
        "data_dir = \"data\"\n\n[limits]\nmax_conections = 3\n",
        &[],
        "coffer.toml:4: key `limits.max_conections`: unknown field `max_conections`",
    );
    serve_refuses(
        "data_dir = \"data\"\n[metrics]\nenabled = \"sometimes\"\n",
        &[],
        "coffer.toml:3: key `metrics.enabled`: invalid value",
    );
    serve_refuses(
        "data_dir = \"data\"\nshutdown_grace = true\n",
        &[],
        "coffer.toml:2: key `shutdown_grace`: invalid type",
    );
    serve_refuses(
        "data_dir = \"data\"\n[store]\nkind = \"mysql\"\n",
        &[],
        "coffer.toml:3: key `store.kind`",
    );
    serve_refuses(
        "data_dir = \"data\"\n[store]\nkind = \"postgres\"\n",
        &[],
        "[store] kind = \"postgres\" needs url",
    );
    serve_refuses("data_dir = [\n", &[], "coffer.toml:");
    serve_refuses(
        "data_dir = \"data\"\nworker_threads = 5000\n",
        &[],
        "coffer.toml:2: key `worker_threads`: invalid value",
    );
    serve_refuses(
        "data_dir = \"data\"\n",
        &[("COFFER_SCHEDULER_INTERVALL", "5s")],
        "environment variable COFFER_SCHEDULER_INTERVALL",
    );
    serve_refuses(
        "data_dir = \"data\"\nlisten = \"0.0.0.0:0\"\n",
        &[],
        "refusing to serve plain HTTP on 0.0.0.0:0",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run_coffer(dir.path(), &["serve", "--config", "missing.toml"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read config file missing.toml"));
    assert!(!dir.path().join("coffer-data").exists());
    // A port in use: refused before the data dir is touched.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    serve_refuses(
        &format!("data_dir = \"data\"\nlisten = \"{addr}\"\n"),
        &[],
        "binding",
    );
}

#[test]
fn config_example_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_coffer(dir.path(), &["config", "example"], &[]);
    assert!(out.status.success());
    let example = stdout(&out);
    for key in [
        "[tls]",
        "cert_file",
        "client_ca_file",
        "[metrics]",
        "[limits]",
        "shutdown_grace",
        "[store]",
    ] {
        assert!(example.contains(key), "{key} missing");
    }
    std::fs::write(dir.path().join("c.toml"), &example).unwrap();
    let out = run_coffer(dir.path(), &["config", "check", "--config", "c.toml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("c.toml: OK"));
    let out = run_coffer(
        dir.path(),
        &["config", "check", "--config", "c.toml"],
        &[("COFFER_LOG_FORMAT", "xml")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("COFFER_LOG_FORMAT"));
    assert!(
        !dir.path().join("coffer-data").exists(),
        "check touched the data dir"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_overrides_the_file() {
    let server = Server::start(Options {
        config: Some("dev = true\ndev_account = \"222222222222\"\n[log]\nformat = \"json\"\nlevel = \"info\"\n".into()),
        env: vec![("COFFER_DEV_ACCOUNT".into(), "111111111111".into())],
        ..Options::default()
    });
    assert!(server.data_dir.exists());
    let out = server
        .sts_as(PRIMARY, "test", "test")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(out.account(), Some("111111111111"));
    // log.format = "json": every log line is a JSON object.
    let log = server.log();
    let first = log.lines().next().unwrap();
    let v: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(v.get("level").is_some());
}

/// `worker_threads = 1` runs the server on the current-thread scheduler: every kind of work
/// (hot KMS calls inline, Secrets Manager calls on the blocking pool, replication) still works.
#[tokio::test]
async fn one_worker_thread_serves_everything() {
    let server = Server::start(Options {
        dev: true,
        env: vec![("COFFER_WORKER_THREADS".into(), "1".into())],
        ..Options::default()
    });
    let kms = server.kms(PRIMARY);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let ct = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"one thread".to_vec()))
        .send()
        .await
        .unwrap();
    let pt = kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"one thread");
    let sm = server.secrets(PRIMARY);
    sm.create_secret()
        .name("one-thread")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let v = sm
        .get_secret_value()
        .secret_id("one-thread")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("v"));
}
