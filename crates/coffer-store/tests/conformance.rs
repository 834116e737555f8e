//! Runs the conformance suite against the memory and SQLite backends (PostgreSQL: see
//! tests/postgres.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use coffer_store::{conformance, MemoryStore, SqliteOptions, SqliteStore, Store};

#[test]
fn memory_store_conforms() {
    conformance::run_all(&|| Box::new(MemoryStore::new()) as Box<dyn Store>);
}

#[test]
fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let counter = AtomicUsize::new(0);
    conformance::run_all(&|| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let path = dir.path().join(format!("check-{n}.db"));
        Box::new(SqliteStore::open(&path).unwrap()) as Box<dyn Store>
    });
}

/// The same suite with group commit off (every commit its own SQLite transaction).
#[test]
fn sqlite_store_without_group_commit_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let counter = AtomicUsize::new(0);
    conformance::run_all(&|| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let path = dir.path().join(format!("check-{n}.db"));
        let options = SqliteOptions {
            max_batch: 1,
            ..SqliteOptions::default()
        };
        Box::new(SqliteStore::open_with(&path, options).unwrap()) as Box<dyn Store>
    });
}

#[test]
fn sqlite_store_conforms_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.db");
    conformance::run_reopen(&|| Box::new(SqliteStore::open(&path).unwrap()) as Box<dyn Store>);
}
