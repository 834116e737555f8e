//! The `postgresql` rotator against a real PostgreSQL server: the real binary started with
//! `--rotators` naming a `postgresql` rotator rotates a login role's password (AWS's single-user
//! strategy); afterwards the old password no longer logs in and the new one (GetSecretValue
//! AWSCURRENT) does.
//!
//! Needs `COFFER_TEST_POSTGRES_URL=postgres://SUPERUSER:PASSWORD@127.0.0.1:PORT/postgres`
//! (`.ci/postgres` starts such a server and writes the variable to a file to source); skips
//! without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;

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

/// Logs in as `user`; the current_user on success.
fn login(host: &str, port: u16, user: &str, password: &str) -> Result<String, postgres::Error> {
    let mut c = postgres::Config::new()
        .host(host)
        .port(port)
        .user(user)
        .password(password)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(5))
        .connect(postgres::NoTls)?;
    let row = c.query_one("SELECT current_user::text", &[])?;
    Ok(row.get(0))
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
    let Ok(admin_url) = std::env::var("COFFER_TEST_POSTGRES_URL") else {
        println!("skipping: COFFER_TEST_POSTGRES_URL not set (run .ci/postgres)");
        return;
    };
    let config: postgres::Config = admin_url.parse().expect("COFFER_TEST_POSTGRES_URL");
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        other => panic!("COFFER_TEST_POSTGRES_URL needs a TCP host, got {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
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
    let log = coffer.log();
    assert!(
        log.contains("Unable to log into database with previous, current, or pending secret"),
        "the failed step is logged"
    );

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
