//! Coffer served from PostgreSQL (`[store] kind = "postgres"`), through the binary and the SDK:
//! what it acknowledged survives a restart and a `kill -9`; a node without the database's root
//! key is refused; `coffer store migrate` copies a SQLite data directory into PostgreSQL and back,
//! checked, and refuses a non-empty target.
//!
//! Needs `COFFER_TEST_POSTGRES_URL` (`.ci/postgres` starts a throwaway server); skips without.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use common::*;

fn store_config(url: &str, schema: &str) -> String {
    format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\n")
}

fn schema_name(prefix: &str) -> String {
    unique(prefix).to_ascii_lowercase().replace('-', "_")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn encrypt(s: &Server, key: &str) -> Vec<u8> {
    s.kms(PRIMARY)
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"in postgres".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec()
}

async fn decrypts(s: &Server, ct: &[u8]) {
    let out = s
        .kms(PRIMARY)
        .decrypt()
        .ciphertext_blob(Blob::new(ct.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"in postgres");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_on_postgres_keeps_what_it_acknowledged() {
    let Some(url) = pg_url() else { return };
    let schema = schema_name("srv");
    let mut s = Server::start(Options {
        config: Some(store_config(&url, &schema)),
        ..Options::default()
    });
    assert!(
        !s.data_dir.join("coffer.db").exists(),
        "no SQLite database beside a PostgreSQL store"
    );
    let kms = s.kms(PRIMARY);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let ct = encrypt(&s, &key_id).await;
    let sm = s.secrets(PRIMARY);
    sm.create_secret()
        .name("pg/one")
        .secret_string("v1")
        .send()
        .await
        .unwrap();

    // A second node without the root key the database was written under is refused, and
    // changes nothing (nodes of one deployment share the key files: tests/ha.rs).
    let cfg = s.dir().join("second.toml");
    std::fs::write(&cfg, store_config(&url, &schema)).unwrap();
    let second_data = s.dir().join("second-data");
    let o = run_coffer(
        s.dir(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            second_data.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("holds data written under another root key"),
        "{}",
        text(&o)
    );

    // Writes acknowledged before a kill -9 are there after it.
    let mut names = Vec::new();
    for i in 0..20 {
        let name = format!("pg/k9/{i}");
        sm.create_secret()
            .name(&name)
            .secret_string(format!("value {i}"))
            .send()
            .await
            .unwrap();
        names.push(name);
    }
    s.crash_restart();
    decrypts(&s, &ct).await;
    let sm = s.secrets(PRIMARY);
    for (i, name) in names.iter().enumerate() {
        let v = sm.get_secret_value().secret_id(name).send().await.unwrap();
        assert_eq!(v.secret_string(), Some(format!("value {i}").as_str()));
    }
    sm.put_secret_value()
        .secret_id("pg/one")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    s.terminate();
    s.start_again();
    let v = s
        .secrets(PRIMARY)
        .get_secret_value()
        .secret_id("pg/one")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("v2"));

    // A data directory without the root key the database was written under is refused.
    s.terminate();
    let o = run_coffer(
        s.dir(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            second_data.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("holds data written under another root key"),
        "{}",
        text(&o)
    );
    assert!(
        !second_data.join("root-key").exists(),
        "the new key is not left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_migrate_copies_sqlite_to_postgres_and_back() {
    let Some(url) = pg_url() else { return };
    let schema = schema_name("mig");
    let mut s = Server::secure();
    let key_id = s
        .kms(PRIMARY)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let ct = encrypt(&s, &key_id).await;
    s.secrets(PRIMARY)
        .create_secret()
        .name("migrated")
        .secret_string("across stores")
        .send()
        .await
        .unwrap();
    let data = s.data_dir.clone();
    let dir = s.dir().to_path_buf();
    let cfg = dir.join("pg.toml");
    std::fs::write(&cfg, store_config(&url, &schema)).unwrap();
    let migrate = |from: &str, to: &str| {
        run_coffer(
            &dir,
            &[
                "store",
                "migrate",
                "--from",
                from,
                "--to",
                to,
                "--config",
                cfg.to_str().unwrap(),
            ],
            &[],
        )
    };

    // Refused while the server serves the directory.
    let o = migrate(data.to_str().unwrap(), &url);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("in use by another Coffer process"),
        "{}",
        text(&o)
    );
    s.terminate();

    let o = migrate(data.to_str().unwrap(), &url);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("checked: counts and sha256"),
        "{}",
        text(&o)
    );
    // A second copy into the now non-empty schema is refused.
    let o = migrate(data.to_str().unwrap(), &url);
    assert!(!o.status.success());
    assert!(text(&o).contains("is not empty"), "{}", text(&o));

    // Serve the same data directory (its root key) from PostgreSQL.
    std::fs::rename(data.join("coffer.db"), dir.join("coffer.db.old")).unwrap();
    s.options_mut().config = Some(store_config(&url, &schema));
    s.start_again();
    decrypts(&s, &ct).await;
    let v = s
        .secrets(PRIMARY)
        .get_secret_value()
        .secret_id("migrated")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("across stores"));
    s.terminate();

    // And back into SQLite.
    let o = migrate(&url, data.to_str().unwrap());
    assert!(o.status.success(), "{}", text(&o));
    s.options_mut().config = None;
    s.start_again();
    decrypts(&s, &ct).await;
}
