//! The `postgresql` rotator against a real PostgreSQL server: the real binary started with
//! `--rotators` naming a `postgresql` rotator rotates a login role's password (AWS's single-user
//! strategy); afterwards the old password no longer logs in and the new one (GetSecretValue
//! AWSCURRENT) does.
//!
//! The TLS tests rotate secrets with `"ssl": true`: with the rotator's `ca_file` naming the
//! server's CA the rotation succeeds over TLS (the role may only log in over TLS); without the
//! CA, with a wrong CA, or with a host the certificate does not name, the step fails, nothing
//! falls back to plain text, and AWSPENDING stays where AWS leaves it.
//!
//! Needs `COFFER_TEST_POSTGRES_URL=postgres://SUPERUSER:PASSWORD@127.0.0.1:PORT/postgres`
//! (`.ci/postgres` starts such a server and writes the variable to a file to source); skips
//! without it. The TLS tests also need `COFFER_TEST_POSTGRES_CA` (the server's CA certificate;
//! `.ci/postgres` makes it when `openssl` is there, with the `coffer_tls_only` group role and
//! the 127.0.0.2 listener they use) and skip without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::Client;

const REGION: &str = "eu-central-1";
const FUNCTION: &str =
    "arn:aws:lambda:eu-central-1:000000000000:function:SecretsManagerRDSPostgreSQLRotationSingleUser";

/// A login role created for the test, dropped at the end.
struct Role {
    admin_url: String,
    name: String,
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(&self.name)));
        }
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(value: &str) -> String {
    // standard_conforming_strings is on (the default since PostgreSQL 9.1).
    format!("'{}'", value.replace('\'', "''"))
}

fn pg_config(host: &str, port: u16, user: &str, password: &str) -> postgres::Config {
    let mut c = postgres::Config::new();
    c.host(host)
        .port(port)
        .user(user)
        .password(password)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(5));
    c
}

/// Logs in as `user` without TLS; the current_user on success.
fn login(host: &str, port: u16, user: &str, password: &str) -> Result<String, postgres::Error> {
    let mut c = pg_config(host, port, user, password)
        .ssl_mode(postgres::config::SslMode::Disable)
        .connect(postgres::NoTls)?;
    let row = c.query_one("SELECT current_user::text", &[])?;
    Ok(row.get(0))
}

/// Logs in as `user` over TLS, trusting `ca`, the way the rotator connects; the current_user
/// and whether the server saw TLS, on success.
fn login_tls(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    ca: &Path,
) -> Result<(String, bool), postgres::Error> {
    let tls = coffer_secrets::rotation::postgres_tls(Some(ca)).unwrap();
    let mut c = pg_config(host, port, user, password)
        .ssl_mode(postgres::config::SslMode::Require)
        .connect(tls)?;
    let row = c.query_one(
        "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )?;
    Ok((row.get(0), row.get(1)))
}

/// The server of `COFFER_TEST_POSTGRES_URL`: the URL, its TCP host and port.
fn server_from_env() -> Option<(String, String, u16)> {
    let Ok(admin_url) = std::env::var("COFFER_TEST_POSTGRES_URL") else {
        println!("skipping: COFFER_TEST_POSTGRES_URL not set (run .ci/postgres)");
        return None;
    };
    let config: postgres::Config = admin_url.parse().expect("COFFER_TEST_POSTGRES_URL");
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        other => panic!("COFFER_TEST_POSTGRES_URL needs a TCP host, got {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    Some((admin_url, host, port))
}

/// `COFFER_TEST_POSTGRES_CA`, the CA certificate of the server's TLS certificate.
fn ca_from_env() -> Option<PathBuf> {
    match std::env::var_os("COFFER_TEST_POSTGRES_CA") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            println!("skipping: COFFER_TEST_POSTGRES_CA not set (run .ci/postgres with openssl)");
            None
        }
    }
}

async fn rotate(sm: &Client, arn: &str, function: &str) -> String {
    sm.rotate_secret()
        .secret_id(arn)
        .rotation_lambda_arn(function)
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap()
}

async fn stages(sm: &Client, arn: &str) -> HashMap<String, Vec<String>> {
    sm.describe_secret()
        .secret_id(arn)
        .send()
        .await
        .unwrap()
        .version_ids_to_stages
        .unwrap()
}

async fn create(sm: &Client, name: &str, value: &serde_json::Value) -> String {
    sm.create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// All of the server's logs, without the terminal colour codes (`ESC [ ... m`) between a field's
/// name and its value.
fn plain_log(server: &Server) -> String {
    let raw = String::from_utf8_lossy(&server.all_logs()).into_owned();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A rotators file entry; `ca_file` as a TOML literal string.
fn rotator_toml(arn: &str, ca_file: Option<&Path>) -> String {
    let mut t = format!("[[rotator]]\narn = \"{arn}\"\nkind = \"postgresql\"\n");
    if let Some(ca) = ca_file {
        let ca = ca.to_str().unwrap();
        assert!(!ca.contains('\''), "a CA path with a quote: {ca}");
        t.push_str(&format!("ca_file = '{ca}'\n"));
    }
    t
}

async fn current(sm: &Client, id: &str) -> (String, serde_json::Value) {
    let v = sm
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    (
        v.version_id.unwrap(),
        serde_json::from_str(v.secret_string.as_deref().unwrap()).unwrap(),
    )
}

#[test]
fn postgresql_rotator_rotates_a_real_password() {
    let Some((admin_url, host, port)) = server_from_env() else {
        return;
    };
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();

    // A role whose name needs quoting, with a password that needs escaping.
    let role = Role {
        admin_url: admin_url.clone(),
        name: format!("Coffer \"app\" {}", std::process::id()),
    };
    let initial = "init'pw\\1-Ünï";
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN PASSWORD {1}",
            ident(&role.name),
            literal(initial)
        ))
        .unwrap();
    assert_eq!(login(&host, port, &role.name, initial).unwrap(), role.name);

    let coffer = Server::with_rotators(&format!(
        "[[rotator]]\narn = \"{FUNCTION}\"\nkind = \"postgresql\"\nconnect_timeout_seconds = 5\n"
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sm = coffer.secrets(REGION);
    let value = serde_json::json!({
        "engine": "postgres",
        "host": host,
        "port": port,
        "username": role.name,
        "password": initial,
        "dbname": "postgres",
    });
    let arn = rt.block_on(async {
        sm.create_secret()
            .name("rds/app")
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap()
            .arn
            .unwrap()
    });
    let (old_version, _) = rt.block_on(current(&sm, &arn));

    // Rotate: createSecret, setSecret (ALTER USER), testSecret (SELECT NOW()), finishSecret.
    let new_version = rt.block_on(async {
        sm.rotate_secret()
            .secret_id(&arn)
            .rotation_lambda_arn(FUNCTION)
            .rotation_rules(
                RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .version_id
            .unwrap()
    });
    let (cur_version, rotated) = rt.block_on(current(&sm, &arn));
    assert_eq!(
        cur_version, new_version,
        "AWSCURRENT moved to the new version"
    );
    let new_password = rotated["password"].as_str().unwrap().to_string();
    assert_ne!(new_password, initial);
    assert_eq!(new_password.chars().count(), 32);
    assert!(
        !new_password.chars().any(|c| ":/@\"'\\".contains(c)),
        "AWS's template excludes :/@\"'\\ from passwords"
    );
    for key in ["engine", "host", "port", "username", "dbname"] {
        assert_eq!(rotated[key], value[key], "{key} kept");
    }
    let err = login(&host, port, &role.name, initial).unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::INVALID_PASSWORD),
        "old password: {err:?}"
    );
    assert_eq!(
        login(&host, port, &role.name, &new_password).unwrap(),
        role.name
    );
    rt.block_on(async {
        let prev = sm
            .get_secret_value()
            .secret_id(&arn)
            .version_stage("AWSPREVIOUS")
            .send()
            .await
            .unwrap();
        assert_eq!(prev.version_id.as_deref(), Some(old_version.as_str()));
        let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
        assert!(d.last_rotated_date.is_some());
        let stages = d.version_ids_to_stages.unwrap();
        assert_eq!(stages[&new_version], vec!["AWSCURRENT".to_string()]);
    });

    // A second rotation logs in with the (now) current password.
    let third = rt.block_on(async {
        sm.rotate_secret()
            .secret_id(&arn)
            .send()
            .await
            .unwrap()
            .version_id
            .unwrap()
    });
    let (v, again) = rt.block_on(current(&sm, &arn));
    assert_eq!(v, third);
    let third_password = again["password"].as_str().unwrap().to_string();
    assert!(login(&host, port, &role.name, &new_password).is_err());
    assert_eq!(
        login(&host, port, &role.name, &third_password).unwrap(),
        role.name
    );

    // If the password was changed behind Coffer's back, setSecret cannot log in: the step
    // fails, AWSPENDING stays on the new version and AWSCURRENT is unchanged.
    admin
        .batch_execute(&format!(
            "ALTER ROLE {} PASSWORD {}",
            ident(&role.name),
            literal("changed-elsewhere")
        ))
        .unwrap();
    let pending = rt.block_on(async {
        sm.rotate_secret()
            .secret_id(&arn)
            .send()
            .await
            .unwrap()
            .version_id
            .unwrap()
    });
    rt.block_on(async {
        let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
        let stages = d.version_ids_to_stages.unwrap();
        assert_eq!(stages[&pending], vec!["AWSPENDING".to_string()]);
        assert_eq!(stages[&third], vec!["AWSCURRENT".to_string()]);
    });
    assert!(login(&host, port, &role.name, "changed-elsewhere").is_ok());
    let log = plain_log(&coffer);
    assert!(
        log.contains("Unable to log into database with previous, current, or pending secret"),
        "the failed step is logged"
    );
    if std::env::var_os("COFFER_TEST_POSTGRES_CA").is_some() {
        // The secret has no `ssl` key: as AWS's template, TLS first (refused here: this rotator
        // does not trust the test CA), then plain text.
        assert!(
            log.contains("invalid peer certificate") && log.contains("tls=true"),
            "the TLS attempt is logged"
        );
    }

    // No password, old or new, reaches Coffer's log.
    for pw in [initial, new_password.as_str(), third_password.as_str()] {
        assert!(!log.contains(pw), "a password was logged");
    }
    assert!(
        !log.contains("SCRAM-SHA-256$"),
        "a password verifier was logged"
    );
    drop(admin);
}

/// A role that may only log in over TLS (`.ci/postgres`'s pg_hba.conf refuses members of
/// `coffer_tls_only` in plain text), with a password that needs escaping.
fn tls_only_role(
    admin: &mut postgres::Client,
    admin_url: &str,
    name: String,
    password: &str,
) -> Role {
    let role = Role {
        admin_url: admin_url.to_string(),
        name,
    };
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN PASSWORD {1} IN ROLE coffer_tls_only",
            ident(&role.name),
            literal(password)
        ))
        .unwrap();
    role
}

#[test]
fn postgresql_rotator_rotates_over_verified_tls() {
    let Some((admin_url, host, port)) = server_from_env() else {
        return;
    };
    let Some(ca) = ca_from_env() else {
        return;
    };
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    let initial = "tls'pw\\1";
    let role = tls_only_role(
        &mut admin,
        &admin_url,
        format!("coffer tls app {}", std::process::id()),
        initial,
    );
    // The role logs in over TLS only: whatever logs in as it used TLS.
    let refused = login(&host, port, &role.name, initial).unwrap_err();
    assert_eq!(
        refused.code(),
        Some(&postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "plain text is refused: {refused:?}"
    );
    assert_eq!(
        login_tls(&host, port, &role.name, initial, &ca).unwrap(),
        (role.name.clone(), true)
    );

    let function = "arn:aws:lambda:eu-central-1:000000000000:function:rotate-pg-tls";
    let coffer = Server::with_rotators(&rotator_toml(function, Some(&ca)));
    let rt = runtime();
    let sm = coffer.secrets(REGION);
    let value = serde_json::json!({
        "engine": "postgres",
        "host": host,
        "port": port,
        "username": role.name,
        "password": initial,
        "dbname": "postgres",
        "ssl": true,
    });
    let arn = rt.block_on(create(&sm, "rds/tls-app", &value));
    let new_version = rt.block_on(rotate(&sm, &arn, function));
    let (cur_version, rotated) = rt.block_on(current(&sm, &arn));
    assert_eq!(
        cur_version, new_version,
        "AWSCURRENT moved to the new version"
    );
    assert_eq!(rotated["ssl"], true, "the ssl key is kept");
    let new_password = rotated["password"].as_str().unwrap().to_string();
    assert_ne!(new_password, initial);
    let err = login_tls(&host, port, &role.name, initial, &ca).unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::INVALID_PASSWORD),
        "old password: {err:?}"
    );
    assert_eq!(
        login_tls(&host, port, &role.name, &new_password, &ca).unwrap(),
        (role.name.clone(), true)
    );

    // Without an `ssl` key the template tries TLS first: with the CA trusted, it succeeds (a
    // plain-text fallback could not log in as this role).
    let mut no_ssl_key = rotated.clone();
    no_ssl_key.as_object_mut().unwrap().remove("ssl");
    rt.block_on(async {
        sm.put_secret_value()
            .secret_id(&arn)
            .secret_string(no_ssl_key.to_string())
            .send()
            .await
            .unwrap()
    });
    let third = rt.block_on(rotate(&sm, &arn, function));
    let (v, again) = rt.block_on(current(&sm, &arn));
    assert_eq!(v, third);
    assert!(again.get("ssl").is_none());
    let third_password = again["password"].as_str().unwrap().to_string();
    assert!(login_tls(&host, port, &role.name, &new_password, &ca).is_err());
    assert_eq!(
        login_tls(&host, port, &role.name, &third_password, &ca).unwrap(),
        (role.name.clone(), true)
    );

    let log = plain_log(&coffer);
    assert!(
        !log.contains("invalid peer certificate"),
        "the server's certificate was always accepted"
    );
    for pw in [initial, new_password.as_str(), third_password.as_str()] {
        assert!(!log.contains(pw), "a password was logged");
    }
    assert!(
        !log.contains("SCRAM-SHA-256$"),
        "a password verifier was logged"
    );
    drop(admin);
}

/// A self-signed CA certificate that signed nothing the test server uses.
const UNRELATED_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUa2UtnEPg7bzNKVKfhCOH8iY9BL0wCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTQ29mZmVyIHVuaXQtdGVzdCBDQTAgFw0yNjExMzAwMDI0NTla
GA8yMTI2MTEwNjAwMjQ1OVowHjEcMBoGA1UEAwwTQ29mZmVyIHVuaXQtdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABCM5NGLyWpZ1OLpw/Blg25Dm1S8e
pnlsEwBhCA5ePaK9suU6/U8+SA+n9Kr0TakF6rcVZuAplVz6f+BcL0TD2OujUzBR
MB0GA1UdDgQWBBTtlL3lpEUz6kEh7wuHcgRi2oAksjAfBgNVHSMEGDAWgBTtlL3l
pEUz6kEh7wuHcgRi2oAksjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIQCZ3L2L349RjQiAPoYz0CktFks+yGrEvFsgUxok4GH0MAIgKyltzkSgS+oH
zdmsDVwuUJq07JUlJPvxc/tUceGDTgc=
-----END CERTIFICATE-----
";

#[test]
fn postgresql_rotator_refuses_an_unverified_server() {
    let Some((admin_url, host, port)) = server_from_env() else {
        return;
    };
    let Some(ca) = ca_from_env() else {
        return;
    };
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    // An ordinary role, plain text allowed: `"ssl": true` must not fall back to it.
    let role = Role {
        admin_url: admin_url.clone(),
        name: format!("coffer_untrusted_{}", std::process::id()),
    };
    let initial = "untrusted-pw-1";
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN PASSWORD {1}",
            ident(&role.name),
            literal(initial)
        ))
        .unwrap();
    assert_eq!(login(&host, port, &role.name, initial).unwrap(), role.name);

    let dir = tempfile::tempdir().unwrap();
    let wrong_ca = dir.path().join("unrelated-ca.pem");
    std::fs::write(&wrong_ca, UNRELATED_CA).unwrap();
    let no_ca = "arn:aws:lambda:eu-central-1:000000000000:function:pg-no-ca";
    let wrong = "arn:aws:lambda:eu-central-1:000000000000:function:pg-wrong-ca";
    let right = "arn:aws:lambda:eu-central-1:000000000000:function:pg-right-ca";
    let coffer = Server::with_rotators(&format!(
        "{}{}{}",
        rotator_toml(no_ca, None),
        rotator_toml(wrong, Some(&wrong_ca)),
        rotator_toml(right, Some(&ca)),
    ));
    let rt = runtime();
    let sm = coffer.secrets(REGION);

    // (secret name, rotator, host): the CA is missing, is not the server's, or is right but
    // the host (127.0.0.2, where the server also listens) is not named by its certificate.
    let cases = [
        ("rds/no-ca", no_ca, host.as_str(), "UnknownIssuer"),
        ("rds/wrong-ca", wrong, host.as_str(), "UnknownIssuer"),
        ("rds/wrong-host", right, "127.0.0.2", "not valid for name"),
    ];
    for (name, function, secret_host, _) in cases {
        // The server does answer there in plain text: only TLS verification stands in the way.
        assert_eq!(
            login(secret_host, port, &role.name, initial).unwrap(),
            role.name
        );
        let value = serde_json::json!({
            "engine": "postgres",
            "host": secret_host,
            "port": port,
            "username": role.name,
            "password": initial,
            "ssl": "true",
        });
        let arn = rt.block_on(create(&sm, name, &value));
        let (old_version, _) = rt.block_on(current(&sm, &arn));
        let pending = rt.block_on(rotate(&sm, &arn, function));
        // setSecret failed: AWSPENDING stays on the new version (which createSecret filled),
        // AWSCURRENT is unchanged, and the database password too.
        let st = rt.block_on(stages(&sm, &arn));
        assert_eq!(st[&pending], vec!["AWSPENDING".to_string()], "{name}");
        assert_eq!(st[&old_version], vec!["AWSCURRENT".to_string()], "{name}");
        let pending_value = rt.block_on(async {
            sm.get_secret_value()
                .secret_id(&arn)
                .version_stage("AWSPENDING")
                .send()
                .await
                .unwrap()
        });
        assert_eq!(pending_value.version_id.as_deref(), Some(pending.as_str()));
        let (cur_version, cur) = rt.block_on(current(&sm, &arn));
        assert_eq!(cur_version, old_version, "{name}");
        assert_eq!(cur["password"], initial, "{name}");
        // A second RotateSecret answers that the rotation is incomplete, as AWS does.
        let again = rt.block_on(async { sm.rotate_secret().secret_id(&arn).send().await });
        let err = again.expect_err("a rotation is pending");
        let msg = format!("{:?}", err.into_service_error());
        assert!(
            msg.contains("A previous rotation isn't complete"),
            "{name}: {msg}"
        );
    }
    assert_eq!(login(&host, port, &role.name, initial).unwrap(), role.name);
    assert_eq!(
        login_tls(&host, port, &role.name, initial, &ca).unwrap(),
        (role.name.clone(), true)
    );

    let log = plain_log(&coffer);
    for (name, _, _, reason) in cases {
        assert!(
            log.contains(reason),
            "{name}: the certificate failure ({reason}) is logged"
        );
    }
    assert!(
        log.contains("Unable to log into database with previous, current, or pending secret"),
        "the failed step is logged"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("postgresql rotator") && l.contains("tls=false")),
        "no plain-text attempt for \"ssl\": \"true\""
    );
    assert!(!log.contains(initial), "a password was logged");
    drop(admin);
}
