//! Runs the conformance suite against every backend of this crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use coffer_store::{conformance, MemoryStore, SqliteStore, Store};

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
