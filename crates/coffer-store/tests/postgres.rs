//! The PostgreSQL backend against a real server: the conformance suite, two nodes on one
//! database, migrations, TLS modes and timeouts.
//!
//! Needs `COFFER_TEST_POSTGRES_URL` (a superuser; `.ci/postgres` starts a throwaway server and
//! writes it to an env file) and, for the TLS tests, `COFFER_TEST_POSTGRES_CA`. Skips with
//! "skipping: ..." without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_store::{
    conformance, PostgresOptions, PostgresStore, SslMode, Store, StoreError, Transaction,
};

fn url() -> Option<String> {
    match std::env::var("COFFER_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipping: COFFER_TEST_POSTGRES_URL is not set (run .ci/postgres)");
            None
        }
    }
}

fn admin(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

/// A schema name no other test (or test run) uses.
fn fresh_schema(tag: &str) -> String {
    let n = SCHEMAS.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t_{tag}_{}_{nanos}_{n}", std::process::id())
}

fn options(url: &str, schema: &str) -> PostgresOptions {
    let mut options = PostgresOptions::new(url);
    options.schema = schema.to_string();
    options.ssl_mode = Some(SslMode::Disable);
    options
}

/// Drops the schemas a test created when it ends.
struct Cleanup {
    url: String,
    schemas: Mutex<Vec<String>>,
}

impl Cleanup {
    fn new(url: &str) -> Self {
        Cleanup {
            url: url.to_string(),
            schemas: Mutex::new(Vec::new()),
        }
    }
    fn schema(&self, tag: &str) -> String {
        let schema = fresh_schema(tag);
        self.schemas.lock().unwrap().push(schema.clone());
        schema
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            for schema in self.schemas.lock().unwrap().iter() {
                let _ =
                    client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
            }
        }
    }
}

#[test]
fn postgres_store_conforms() {
    let Some(url) = url() else { return };
    let cleanup = Cleanup::new(&url);
    conformance::run_all(&|| {
        Box::new(PostgresStore::open(options(&url, &cleanup.schema("conf"))).unwrap())
            as Box<dyn Store>
    });
}

#[test]
fn postgres_store_without_group_commit_conforms() {
    let Some(url) = url() else { return };
    let cleanup = Cleanup::new(&url);
    conformance::run_all(&|| {
        let mut options = options(&url, &cleanup.schema("single"));
        options.max_batch = 1;
        Box::new(PostgresStore::open(options).unwrap()) as Box<dyn Store>
    });
}

#[test]
fn postgres_store_conforms_across_reopening() {
    let Some(url) = url() else { return };
    let cleanup = Cleanup::new(&url);
    let schema = cleanup.schema("reopen");
    conformance::run_reopen(&|| {
        Box::new(PostgresStore::open(options(&url, &schema)).unwrap()) as Box<dyn Store>
    });
}

/// Two stores on one schema act as two nodes: a commit on one wakes the other's subscription
/// (LISTEN/NOTIFY) and is in its change log; compare-and-set and create-if-absent hold across
/// them.
#[test]
fn two_nodes_share_versions_log_and_notifications() {
    let Some(url) = url() else { return };
    let cleanup = Cleanup::new(&url);
    let schema = cleanup.schema("nodes");
    let a = PostgresStore::open(options(&url, &schema)).unwrap();
    let b = PostgresStore::open(options(&url, &schema)).unwrap();
    let sub_b = b.subscribe().unwrap();
    let start = sub_b.latest();

    let mut tx = Transaction::new();
    tx.put("t", "k", b"from a".to_vec());
    let seq = a.commit_info(&tx).unwrap().seq;
    let deadline = Instant::now() + Duration::from_secs(30);
    while sub_b.wait(start, Duration::from_secs(5)) < seq {
        assert!(
            Instant::now() < deadline,
            "node b was never notified of node a's commit"
        );
    }
    let seen = b.changes_since(start, 100).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].seq, seq);
    assert_eq!(b.get("t", "k").unwrap(), Some(b"from a".to_vec()));

    // Increments from both nodes at once: none lost.
    let mut tx = Transaction::new();
    tx.put("t", "counter", 0u64.to_be_bytes().to_vec());
    a.commit(&tx).unwrap();
    const PER_THREAD: u64 = 15;
    let nodes: [&dyn Store; 2] = [&a, &b];
    std::thread::scope(|scope| {
        for t in 0..6 {
            let node = nodes[t % 2];
            scope.spawn(move || {
                for _ in 0..PER_THREAD {
                    loop {
                        let r = node.get_versioned("t", "counter").unwrap().unwrap();
                        let n = u64::from_be_bytes(r.value.as_slice().try_into().unwrap());
                        let mut tx = Transaction::new();
                        tx.require_version("t", "counter", r.version).put(
                            "t",
                            "counter",
                            (n + 1).to_be_bytes().to_vec(),
                        );
                        match node.commit(&tx) {
                            Ok(()) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(
        a.get("t", "counter").unwrap(),
        Some((6 * PER_THREAD).to_be_bytes().to_vec())
    );

    // One name created from both nodes at once: exactly one wins.
    let wins = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (node, wins) = (nodes[t % 2], &wins);
            scope.spawn(move || {
                let mut tx = Transaction::new();
                tx.require_absent("aliases", "alias/x")
                    .put("aliases", "alias/x", vec![t as u8]);
                match node.commit(&tx) {
                    Ok(()) => {
                        wins.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(StoreError::Conflict { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            });
        }
    });
    assert_eq!(wins.load(Ordering::SeqCst), 1);

    // Both nodes read the same gap-free log.
    let log_a = a.changes_since(start, usize::MAX).unwrap();
    let log_b = b.changes_since(start, usize::MAX).unwrap();
    assert_eq!(log_a, log_b);
    let mut expected = start;
    for c in &log_a {
        if c.seq != expected {
            assert_eq!(c.seq, expected + 1, "gap in the log");
            expected = c.seq;
        }
    }
    assert_eq!(expected, a.log_bounds().unwrap().head);
}

#[test]
fn schema_is_versioned_and_migrations_take_a_lock() {
    let Some(url) = url() else { return };
    let cleanup = Cleanup::new(&url);
    let schema = cleanup.schema("migrate");
    // Several nodes starting at once on a new schema: all open it.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (url, schema) = (&url, &schema);
            scope.spawn(move || {
                PostgresStore::open(options(url, schema)).unwrap();
            });
        }
    });
    let mut client = admin(&url);
    let version: i32 = client
        .query_one(
            &format!("SELECT version FROM \"{schema}\".coffer_schema"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, 1);

    client
        .batch_execute(&format!(
            "UPDATE \"{schema}\".coffer_schema SET version = 99"
        ))
        .unwrap();
    match PostgresStore::open(options(&url, &schema)) {
        Err(StoreError::Schema(m)) => assert!(m.contains("newer"), "{m}"),
        other => panic!("expected a schema error, got {other:?}"),
    }

    let foreign = cleanup.schema("foreign");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{foreign}\"; CREATE TABLE \"{foreign}\".accounts (id int)"
        ))
        .unwrap();
    assert!(matches!(
        PostgresStore::open(options(&url, &foreign)),
        Err(StoreError::Schema(_))
    ));

    let mut bad = options(&url, "x");
    bad.schema = "Robert'); DROP TABLE students;--".to_string();
    assert!(
        PostgresStore::open(bad).is_err(),
        "schema names are validated"
    );
}

/// A server that accepts connections and never answers: opening fails with `Unavailable`
/// after the connect timeout instead of hanging.
#[test]
fn a_silent_server_fails_within_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            keep.lock().unwrap().push(stream);
        }
    });
    let mut options = PostgresOptions::new(&format!("postgres://u:p@127.0.0.1:{port}/db"));
    options.ssl_mode = Some(SslMode::Disable);
    options.connect_timeout = Duration::from_millis(300);
    options.statement_timeout = Duration::from_millis(300);
    let began = Instant::now();
    match PostgresStore::open(options) {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Not a measurement: a generous bound that only a hang would exceed.
    assert!(began.elapsed() < Duration::from_secs(20), "open hung");
}

/// Forwards TCP connections to `target` until frozen; frozen, it keeps every socket open and
/// moves no byte (a database that stopped answering without closing anything).
struct FreezingProxy {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl FreezingProxy {
    fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        from.set_read_timeout(Some(Duration::from_millis(20)))
                            .unwrap();
                        let mut buf = [0u8; 16384];
                        loop {
                            if flag.load(Ordering::SeqCst) {
                                std::thread::park_timeout(Duration::from_millis(20));
                                continue;
                            }
                            match from.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => break,
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        FreezingProxy { port, frozen }
    }
}

/// The database stops answering mid-life: commits and reads fail with `Unavailable` after the
/// statement timeout rather than hang; once it answers again the store works again by itself.
#[test]
fn a_frozen_database_fails_calls_within_the_statement_timeout() {
    let Some(url) = url() else { return };
    let cleanup = Cleanup::new(&url);
    let parsed: postgres::Config = url.parse().unwrap();
    let host = match &parsed.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        #[allow(unreachable_patterns)]
        _ => {
            eprintln!("skipping: the test URL is not TCP");
            return;
        }
    };
    let proxy = FreezingProxy::start(format!("{host}:{}", parsed.get_ports()[0]));
    let user = parsed.get_user().unwrap();
    let password = String::from_utf8(parsed.get_password().unwrap().to_vec()).unwrap();
    let proxied = format!(
        "postgres://{user}@127.0.0.1:{}/{}",
        proxy.port,
        parsed.get_dbname().unwrap_or("postgres")
    );
    let mut options = options(&proxied, &cleanup.schema("frozen"));
    options.password = Some(password.into());
    options.connect_timeout = Duration::from_millis(500);
    options.statement_timeout = Duration::from_millis(500);
    let store = PostgresStore::open(options).unwrap();
    let mut tx = Transaction::new();
    tx.put("t", "k", b"v".to_vec());
    store.commit(&tx).unwrap();

    proxy.frozen.store(true, Ordering::SeqCst);
    let began = Instant::now();
    match store.commit(&tx) {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(
        store.get("t", "k"),
        Err(StoreError::Unavailable(_))
    ));
    assert!(store.ping().is_err());
    assert!(began.elapsed() < Duration::from_secs(30), "calls hung");

    proxy.frozen.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store.commit(&tx) {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
    }
    assert_eq!(store.get("t", "k").unwrap(), Some(b"v".to_vec()));
}

/// A lock held on the log table by someone else: the commit fails with `Unavailable` at the
/// lock timeout; reads go on; once released, commits work.
#[test]
fn a_blocked_commit_fails_within_the_statement_timeout() {
    let Some(url) = url() else { return };
    let cleanup = Cleanup::new(&url);
    let schema = cleanup.schema("locked");
    let mut options = options(&url, &schema);
    options.statement_timeout = Duration::from_millis(500);
    let store = PostgresStore::open(options).unwrap();
    let mut tx = Transaction::new();
    tx.put("t", "k", b"v".to_vec());
    store.commit(&tx).unwrap();

    let mut client = admin(&url);
    let mut blocker = client.transaction().unwrap();
    blocker
        .batch_execute(&format!("LOCK TABLE \"{schema}\".log IN EXCLUSIVE MODE"))
        .unwrap();
    match store.commit(&tx) {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(
        store.get("t", "k").unwrap(),
        Some(b"v".to_vec()),
        "reads go on"
    );
    blocker.rollback().unwrap();
    store.commit(&tx).unwrap();
}

// ----- TLS -------------------------------------------------------------------------------

/// A login role that `.ci/postgres`'s pg_hba.conf admits over TLS only, and the URL pieces.
fn tls_setup() -> Option<(String, String, u16, std::path::PathBuf)> {
    let url = url()?;
    let Some(ca) = std::env::var_os("COFFER_TEST_POSTGRES_CA") else {
        eprintln!("skipping: COFFER_TEST_POSTGRES_CA is not set (.ci/postgres without openssl)");
        return None;
    };
    let mut client = admin(&url);
    client
        .batch_execute(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'coffer_store_tls') THEN
                     CREATE ROLE coffer_store_tls LOGIN PASSWORD 'tls-only-pass' IN ROLE coffer_tls_only;
                 END IF;
             END $$;
             GRANT CREATE ON DATABASE postgres TO coffer_store_tls;",
        )
        .unwrap();
    let parsed: postgres::Config = url.parse().unwrap();
    let db = parsed.get_dbname().unwrap_or("postgres").to_string();
    Some((url, db, parsed.get_ports()[0], ca.into()))
}

fn tls_open(
    host: &str,
    port: u16,
    db: &str,
    mode: Option<SslMode>,
    ca: Option<&std::path::Path>,
    schema: &str,
) -> Result<PostgresStore, StoreError> {
    let mut options =
        PostgresOptions::new(&format!("postgres://coffer_store_tls@{host}:{port}/{db}"));
    options.password = Some("tls-only-pass".to_string().into());
    options.schema = schema.to_string();
    options.ssl_mode = mode;
    options.ca_file = ca.map(|p| p.to_path_buf());
    options.connect_timeout = Duration::from_secs(5);
    PostgresStore::open(options)
}

#[test]
fn tls_modes_follow_libpq() {
    let Some((url, db, port, ca)) = tls_setup() else {
        return;
    };
    let cleanup = Cleanup::new(&url);
    let schema = cleanup.schema("tls");
    let ca = ca.as_path();
    let ok = |host: &str, mode, ca: Option<&std::path::Path>| {
        let store = tls_open(host, port, &db, mode, ca, &schema)
            .unwrap_or_else(|e| panic!("{host} {mode:?} ca={}: {e}", ca.is_some()));
        let mut tx = Transaction::new();
        tx.put("t", "k", b"over tls".to_vec());
        store.commit(&tx).unwrap();
    };
    let refused = |host: &str, mode, ca: Option<&std::path::Path>| {
        assert!(
            tls_open(host, port, &db, mode, ca, &schema).is_err(),
            "{host} {mode:?} ca={} must be refused",
            ca.is_some()
        );
    };
    // The role may only log in over TLS, so every success below went over TLS.
    ok("127.0.0.1", Some(SslMode::VerifyFull), Some(ca));
    ok("127.0.0.1", Some(SslMode::VerifyCa), Some(ca));
    ok("127.0.0.1", Some(SslMode::Require), None);
    ok("127.0.0.1", None, None); // prefer
    refused("127.0.0.1", Some(SslMode::Disable), None);
    // Not issued by a trusted CA (only the webpki roots without a CA file).
    refused("127.0.0.1", Some(SslMode::VerifyFull), None);
    refused("127.0.0.1", Some(SslMode::VerifyCa), None);
    // 127.0.0.2 is not named by the certificate: verify-full refuses, verify-ca accepts.
    refused("127.0.0.2", Some(SslMode::VerifyFull), Some(ca));
    ok("127.0.0.2", Some(SslMode::VerifyCa), Some(ca));
    // require with a CA file checks the chain, as libpq does with a root certificate.
    let other_ca =
        std::env::temp_dir().join(format!("coffer-store-other-ca-{}.pem", std::process::id()));
    std::fs::write(&other_ca, include_str!("data/unrelated-ca.pem")).unwrap();
    refused("127.0.0.1", Some(SslMode::Require), Some(&other_ca));
    let _ = std::fs::remove_file(&other_ca);

    // The same settings in the URL.
    let store = PostgresStore::open({
        let mut options = PostgresOptions::new(&format!(
            "postgres://coffer_store_tls:tls-only-pass@127.0.0.1:{port}/{db}?sslmode=verify-full&sslrootcert={}",
            ca.display()
        ));
        options.schema = schema.clone();
        options
    })
    .unwrap();
    assert_eq!(store.get("t", "k").unwrap(), Some(b"over tls".to_vec()));
}
