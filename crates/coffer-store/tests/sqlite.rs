//! Tests specific to the SQLite backend: persistence, file modes, schema versioning, atomicity of
//! failed commits and crash survival.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use coffer_store::{LogBounds, Record, SqliteOptions, SqliteStore, Store, StoreError, Transaction};

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("coffer.db")
}

fn put(store: &dyn Store, table: &str, key: &str, value: &[u8]) {
    let mut tx = Transaction::new();
    tx.put(table, key, value.to_vec());
    store.commit(&tx).unwrap();
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let store = SqliteStore::open(&path).unwrap();
        let mut tx = Transaction::new();
        tx.put("keys", "k1", vec![1, 2, 3])
            .put("secrets", "s/1", vec![0; 4096])
            .put("keys", "gone", vec![9]);
        store.commit(&tx).unwrap();
        let mut tx = Transaction::new();
        tx.delete("keys", "gone");
        store.commit(&tx).unwrap();
    }
    {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.scan("keys").unwrap(),
            vec![("k1".to_string(), vec![1, 2, 3])]
        );
        assert_eq!(store.get("secrets", "s/1").unwrap(), Some(vec![0; 4096]));
        put(&store, "keys", "k2", b"second session");
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.scan("keys").unwrap().len(), 2);
    assert_eq!(store.path(), path.as_path());
}

#[test]
fn schema_is_versioned_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).unwrap();
    put(&store, "t", "k", b"v");
    let conn = raw(&path);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert!(version >= 1, "user_version is {version}");
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM records WHERE tbl = 't'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(count, 1);
}

#[cfg(unix)]
#[test]
fn files_are_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).unwrap();
    put(&store, "t", "k", b"v");
    assert_eq!(mode(&path), 0o600, "database file");
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        assert!(
            side.exists(),
            "{suffix} file should exist while the store is open"
        );
        assert_eq!(mode(&side), 0o600, "{suffix} file");
    }
    drop(store);

    // A pre-existing, too permissive file is tightened on open.
    let loose = dir.path().join("loose.db");
    std::fs::write(&loose, b"").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open(&loose).unwrap();
    put(&store, "t", "k", b"v");
    assert_eq!(mode(&loose), 0o600, "pre-existing database file");
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let store = SqliteStore::open(&path).unwrap();
        put(&store, "t", "k", b"v");
    }
    raw(&path)
        .pragma_update(None, "user_version", 1_000_000)
        .unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Schema(msg)) => assert!(msg.contains("newer"), "message: {msg}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
    // Refusing did not touch the data.
    let conn = raw(&path);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1_000_000);
}

#[test]
fn foreign_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    raw(&path)
        .execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
        .unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Schema(_)) => {}
        other => panic!("expected a schema error, got {other:?}"),
    }
    let tables: i64 = raw(&path)
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1, "the foreign database must not be modified");

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42; 8192]).unwrap();
    assert!(
        SqliteStore::open(&garbage).is_err(),
        "a non-SQLite file must be refused"
    );
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x42; 8192]);
}

/// The transaction's second write fails (a trigger installed behind the store's back aborts it):
/// the first write must not be visible, earlier data must be intact, and the store must still
/// work afterwards.
#[test]
fn failed_commit_leaves_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).unwrap();
    put(&store, "t", "existing", b"before");
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON records WHEN NEW.key = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END;",
        )
        .unwrap();

    let mut tx = Transaction::new();
    tx.put("t", "first", b"1".to_vec())
        .put("t", "boom", b"2".to_vec())
        .put("t", "third", b"3".to_vec());
    tx.delete("t", "existing");
    match store.commit(&tx) {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("boom refused"), "message: {msg}"),
        other => panic!("expected a backend error, got {other:?}"),
    }
    assert_eq!(store.get("t", "first").unwrap(), None);
    assert_eq!(store.get("t", "third").unwrap(), None);
    assert_eq!(
        store.scan("t").unwrap(),
        vec![("existing".to_string(), b"before".to_vec())]
    );

    // Also invisible to another connection, and after reopening.
    let count: i64 = raw(&path)
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 1);

    // The connection is not stuck inside the failed transaction.
    put(&store, "t", "after", b"ok");
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.scan("t").unwrap(),
        vec![
            ("after".to_string(), b"ok".to_vec()),
            ("existing".to_string(), b"before".to_vec()),
        ]
    );
}

#[test]
fn two_stores_on_one_file_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    put(&a, "t", "from-a", b"a");
    put(&b, "t", "from-b", b"b");
    assert_eq!(a.get("t", "from-b").unwrap(), Some(b"b".to_vec()));
    assert_eq!(b.get("t", "from-a").unwrap(), Some(b"a".to_vec()));
    b.clear().unwrap();
    assert!(a.scan("t").unwrap().is_empty());
}

const CRASH_ENV: &str = "COFFER_STORE_CRASH_CHILD_DB";
const COMMITTED: &str = "COFFER-STORE-COMMITTED";

/// Child half of `committed_data_survives_kill_9`; does nothing when run normally.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path)).unwrap();
    for i in 0..50u32 {
        let mut tx = Transaction::new();
        tx.put("t", &format!("k{i:02}"), i.to_be_bytes().to_vec())
            .put("u", &format!("k{i:02}"), vec![0xAB; 10_000]);
        store.commit(&tx).unwrap();
    }
    println!("{COMMITTED}");
    // Wait to be killed, never closing the connection. Give up after a minute so that a broken
    // parent cannot leave this process behind forever.
    std::thread::sleep(std::time::Duration::from_secs(60));
    std::process::exit(3);
}

/// A child process commits, reports, and is killed with SIGKILL while the store is still open;
/// everything it committed must be there on reopen.
#[test]
fn committed_data_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed = false;
    for line in BufReader::new(stdout).lines() {
        // libtest may print "test crash_child ... " on the same line.
        if line.unwrap().contains(COMMITTED) {
            committed = true;
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on unix
    let _ = child.wait().unwrap();
    assert!(committed, "the child never reported its commits");

    let store = SqliteStore::open(&path).unwrap();
    let rows = store.scan("t").unwrap();
    assert_eq!(rows.len(), 50);
    for (i, (key, value)) in rows.iter().enumerate() {
        assert_eq!(key, &format!("k{i:02}"));
        assert_eq!(value, &(i as u32).to_be_bytes().to_vec());
    }
    assert_eq!(store.scan("u").unwrap().len(), 50);
}

/// A database written by the first schema (no versions, no change log) is migrated: its records
/// get version 1, the log starts compacted at 1, and the next commit is sequence 2.
#[test]
fn version_1_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let conn = raw(&path);
        conn.execute_batch(
            "PRAGMA application_id = 1129268818;
             CREATE TABLE records (tbl TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                                   PRIMARY KEY (tbl, key)) WITHOUT ROWID;
             INSERT INTO records VALUES ('keys', 'k1', x'0102');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get_versioned("keys", "k1").unwrap(),
        Some(Record {
            value: vec![1, 2],
            version: 1
        })
    );
    assert_eq!(
        store.log_bounds().unwrap(),
        LogBounds {
            compacted: 1,
            head: 1
        }
    );
    assert!(matches!(
        store.changes_since(0, 10),
        Err(StoreError::LogTruncated {
            after: 0,
            compacted: 1
        })
    ));
    let mut tx = Transaction::new();
    tx.require_version("keys", "k1", 1)
        .put("keys", "k1", vec![3]);
    assert_eq!(store.commit_info(&tx).unwrap().seq, 2);
    let version: i64 = raw(&path)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
}

/// The change log keeps about `log_retention` commits on its own.
#[test]
fn log_is_compacted_to_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        log_retention: 16,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&db_path(&dir), options).unwrap();
    for i in 0..100u32 {
        put(&store, "t", &format!("k{}", i % 7), &i.to_be_bytes());
    }
    let bounds = store.log_bounds().unwrap();
    assert_eq!(bounds.head, 100);
    assert!(
        bounds.compacted >= 100 - 16 - 2 && bounds.compacted <= 100 - 16,
        "compacted through {}",
        bounds.compacted
    );
    assert!(matches!(
        store.changes_since(0, 10),
        Err(StoreError::LogTruncated { .. })
    ));
    let kept = store.changes_since(bounds.compacted, 1000).unwrap();
    assert_eq!(kept.len() as u64, bounds.head - bounds.compacted);
    let rows: i64 = raw(&db_path(&dir))
        .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as usize, kept.len(), "compacted entries are deleted");
}

/// The change log is also bounded by bytes (the soak found a 1.3 GB log of 100,000 commits of
/// 13 KiB secret records): large records compact it long before the commit count does, whole
/// commits at a time, in SQLite and in memory, and the bound holds across a reopen.
#[test]
fn log_is_bounded_by_bytes() {
    const BUDGET: u64 = 256 * 1024;
    let value = vec![7u8; 10_000];
    let check = |store: &dyn Store, what: &str| {
        let bounds = store.log_bounds().unwrap();
        let kept = store.changes_since(bounds.compacted, 100_000).unwrap();
        let bytes: usize = kept
            .iter()
            .map(|c| c.table.len() + c.key.len() + c.record.as_ref().map_or(0, |r| r.value.len()))
            .sum();
        assert!(
            bytes as u64 <= BUDGET,
            "{what}: the log holds {bytes} bytes"
        );
        assert!(
            bytes as u64 >= BUDGET / 2,
            "{what}: the log keeps its budget's worth ({bytes})"
        );
        assert!(bounds.compacted > 0, "{what}: nothing was compacted");
        // Whole commits: every kept entry is newer than the compaction point, none older left.
        assert!(kept.iter().all(|c| c.seq > bounds.compacted), "{what}");
        assert_eq!(kept.len() as u64, bounds.head - bounds.compacted, "{what}");
        bounds
    };

    let memory = coffer_store::MemoryStore::new().with_log_retention_bytes(BUDGET);
    for i in 0..200u32 {
        put(&memory, "t", &format!("k{}", i % 9), &value);
    }
    check(&memory, "memory");

    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        log_retention_bytes: BUDGET,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&db_path(&dir), options.clone()).unwrap();
    for i in 0..200u32 {
        put(&store, "t", &format!("k{}", i % 9), &value);
    }
    let before = check(&store, "sqlite");
    drop(store);
    // A reopened store counts what its log holds and keeps to the budget.
    let store = SqliteStore::open_with(&db_path(&dir), options).unwrap();
    for i in 0..100u32 {
        put(&store, "t", &format!("k{}", i % 9), &value);
    }
    let after = check(&store, "sqlite, reopened");
    assert!(after.compacted > before.compacted);
    assert_eq!(store.get("t", "k0").unwrap().as_deref(), Some(&value[..]));
}

/// In a group commit, a transaction whose write fails (a trigger refuses it) fails alone: the
/// transactions batched with it commit.
#[test]
fn a_failing_transaction_fails_alone_in_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).unwrap();
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON records WHEN NEW.key LIKE 'boom%' \
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END;",
        )
        .unwrap();
    const THREADS: usize = 8;
    const PER_THREAD: usize = 30;
    let barrier = std::sync::Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (store, barrier) = (&store, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    let bad = (t + i) % 3 == 0;
                    let key = format!("{}{t}-{i}", if bad { "boom" } else { "ok" });
                    let mut tx = Transaction::new();
                    tx.put("t", &format!("side-{t}-{i}"), vec![1])
                        .put("t", &key, vec![2]);
                    match (bad, store.commit_info(&tx)) {
                        (false, Ok(_)) => {}
                        (true, Err(StoreError::Backend(m))) => assert!(m.contains("boom refused")),
                        (bad, other) => panic!("bad={bad}: {other:?}"),
                    }
                }
            });
        }
    });
    let rows = store.scan("t").unwrap();
    let good = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| (t, i)))
        .filter(|(t, i)| (t + i) % 3 != 0)
        .count();
    assert_eq!(
        rows.len(),
        2 * good,
        "every good transaction, whole; no part of a bad one"
    );
    let log = store.changes_since(0, usize::MAX).unwrap();
    assert_eq!(log.len(), 2 * good);
    assert_eq!(
        store.log_bounds().unwrap().head as usize,
        good,
        "no sequence for failures"
    );
}

/// Reads are served while a commit waits for the database's write lock (here held by another
/// connection): they do not queue behind the writer.
#[test]
fn reads_do_not_wait_for_a_commit_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).unwrap();
    put(&store, "t", "k", b"v");
    let blocker = raw(&path);
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut tx = Transaction::new();
            tx.put("t", "k2", b"w".to_vec());
            let result = store.commit(&tx);
            done.store(true, Ordering::SeqCst);
            result
        });
        for _ in 0..50 {
            assert_eq!(store.get("t", "k").unwrap(), Some(b"v".to_vec()));
            assert_eq!(store.scan("t").unwrap().len(), 1);
            assert_eq!(store.log_bounds().unwrap().head, 1);
        }
        assert!(
            !done.load(Ordering::SeqCst),
            "the commit cannot finish while the lock is held"
        );
        blocker.execute_batch("COMMIT").unwrap();
        writer.join().unwrap().unwrap();
    });
    assert_eq!(store.get("t", "k2").unwrap(), Some(b"w".to_vec()));
}

/// Snapshots taken while writers commit are consistent: every record in a snapshot is at the
/// snapshot's sequence (each commit rewrites all of them), and the copy opens as a store.
#[test]
fn snapshot_is_consistent_under_concurrent_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(&dir)).unwrap();
    let tables = ["a", "b", "c"];
    let stop = AtomicBool::new(false);
    let last = AtomicU64::new(0);
    let snapshots: Vec<(PathBuf, u64)> = std::thread::scope(|scope| {
        for w in 0..4u8 {
            let (store, stop, last) = (&store, &stop, &last);
            scope.spawn(move || {
                for n in 0..5_000u32 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let mut tx = Transaction::new();
                    for table in tables {
                        for k in 0..4 {
                            tx.put(
                                table,
                                &format!("k{k}"),
                                [&[w][..], &n.to_be_bytes()].concat(),
                            );
                        }
                    }
                    let seq = store.commit_info(&tx).unwrap().seq;
                    last.fetch_max(seq, Ordering::SeqCst);
                }
            });
        }
        let mut snapshots = Vec::new();
        for i in 0..3 {
            // Wait until writers have made progress since the previous snapshot.
            let floor = last.load(Ordering::SeqCst) + 5;
            while last.load(Ordering::SeqCst) < floor {
                std::thread::yield_now();
            }
            let dest = dir.path().join(format!("snapshot-{i}.db"));
            let seq = store.snapshot_to(&dest).unwrap();
            snapshots.push((dest, seq));
        }
        stop.store(true, Ordering::SeqCst);
        snapshots
    });
    let mut previous = 0;
    for (dest, seq) in snapshots {
        assert!(seq > previous, "snapshots progress");
        previous = seq;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "snapshot file mode");
        }
        let copy = SqliteStore::open(&dest).unwrap();
        assert_eq!(copy.log_bounds().unwrap().head, seq);
        let mut values = std::collections::BTreeSet::new();
        for table in tables {
            let rows = copy.scan_versioned(table).unwrap();
            assert_eq!(rows.len(), 4, "table {table} complete");
            for (_, record) in rows {
                assert_eq!(
                    record.version, seq,
                    "every record at the snapshot's sequence"
                );
                values.insert(record.value);
            }
        }
        assert_eq!(values.len(), 1, "every record from the same commit");
        let bounds = copy.log_bounds().unwrap();
        assert!(copy.changes_since(bounds.compacted, usize::MAX).is_ok());
    }
    let existing = dir.path().join("snapshot-0.db");
    assert!(
        store.snapshot_to(&existing).is_err(),
        "a non-empty target is refused"
    );
}

/// A crash in the middle of writing a commit leaves the WAL with a torn tail: part of the last
/// commit's frames, or frames whose checksum no longer holds. At restart SQLite must recover
/// every earlier commit whole and nothing of the torn one; the store then takes writes again.
/// The "crash" is a copy of the database and its WAL taken while the store is open (what the
/// disk holds after `kill -9`: every acknowledged commit was fsynced), then torn at several
/// points inside the last commit.
#[test]
fn torn_wal_tail_is_recovered_to_the_last_whole_commit() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    std::fs::create_dir(&live).unwrap();
    let path = live.join("coffer.db");
    let wal = live.join("coffer.db-wal");
    let store = SqliteStore::open(&path).unwrap();
    // Each commit writes two tables: recovery must keep or drop both rows together.
    let commit = |i: usize| {
        let mut tx = Transaction::new();
        tx.put("t_one", &format!("k{i}"), vec![i as u8; 3000]);
        tx.put("t_two", &format!("k{i}"), vec![!(i as u8); 3000]);
        store.commit(&tx).unwrap();
    };
    for i in 0..10 {
        commit(i);
    }
    let before_last = std::fs::metadata(&wal).unwrap().len();
    commit(10);
    let after_last = std::fs::metadata(&wal).unwrap().len();
    assert!(
        after_last > before_last,
        "the last commit appends to the WAL ({before_last} -> {after_last})"
    );
    let db_bytes = std::fs::read(&path).unwrap();
    let wal_bytes = std::fs::read(&wal).unwrap();
    assert_eq!(wal_bytes.len() as u64, after_last);
    drop(store);

    let check = |name: &str, wal: &[u8], last_whole: bool| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("coffer.db"), &db_bytes).unwrap();
        std::fs::write(d.join("coffer.db-wal"), wal).unwrap();
        let store = SqliteStore::open(&d.join("coffer.db"))
            .unwrap_or_else(|e| panic!("{name}: reopen after a torn WAL: {e}"));
        for i in 0..10 {
            let k = format!("k{i}");
            assert_eq!(
                store.get("t_one", &k).unwrap(),
                Some(vec![i as u8; 3000]),
                "{name} {k}"
            );
            assert_eq!(
                store.get("t_two", &k).unwrap(),
                Some(vec![!(i as u8); 3000]),
                "{name} {k}"
            );
        }
        let one = store.get("t_one", "k10").unwrap();
        let two = store.get("t_two", "k10").unwrap();
        assert_eq!(
            one.is_some(),
            two.is_some(),
            "{name}: the last commit is whole or absent"
        );
        assert_eq!(
            one.is_some(),
            last_whole,
            "{name}: the last commit's presence"
        );
        // Writes resume, and survive another reopen.
        put(&store, "t_one", "after", b"ok");
        drop(store);
        let store = SqliteStore::open(&d.join("coffer.db")).unwrap();
        assert_eq!(
            store.get("t_one", "after").unwrap().as_deref(),
            Some(&b"ok"[..]),
            "{name}"
        );
        assert_eq!(
            store.get("t_one", "k9").unwrap(),
            Some(vec![9u8; 3000]),
            "{name}"
        );
    };

    let b = before_last as usize;
    let a = after_last as usize;
    check("whole", &wal_bytes, true);
    for (name, cut) in [
        ("one-byte", b + 1),
        ("frame-header", b + 24),
        ("middle", b + (a - b) / 2),
        ("last-byte-missing", a - 1),
    ] {
        check(name, &wal_bytes[..cut], false);
    }
    // Bytes of the last commit overwritten (a sector written half): its checksums fail.
    let mut flipped = wal_bytes.clone();
    for byte in &mut flipped[b + 100..b + 600] {
        *byte ^= 0x5a;
    }
    check("garbage-in-frame", &flipped, false);
    // Garbage appended after the last whole commit (a next commit started, never finished).
    let mut appended = wal_bytes.clone();
    appended.extend(std::iter::repeat_n(0xa5u8, 5000));
    check("garbage-appended", &appended, true);
}
