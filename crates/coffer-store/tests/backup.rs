//! `Store::backup`: a consistent SQLite copy that opens as a store, from SQLite and memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_store::{inspect_sqlite, MemoryStore, SqliteStore, Store, StoreError, Transaction};

fn fill(store: &dyn Store) -> u64 {
    let mut seq = 0;
    for i in 0..10 {
        let mut tx = Transaction::new();
        tx.put("kms_key", &format!("k{i}"), vec![i as u8; 8]);
        if i % 2 == 0 {
            tx.put("sm_secret", &format!("s{i}"), vec![0xAA, i as u8]);
        }
        seq = store.commit_info(&tx).unwrap().seq;
    }
    let mut tx = Transaction::new();
    tx.delete("kms_key", "k9");
    store.commit_info(&tx).unwrap().seq.max(seq)
}

fn check_copy(dest: &std::path::Path, original: &dyn Store, head: u64) {
    let info = inspect_sqlite(dest).unwrap();
    assert_eq!(info.seq, head);
    assert_eq!(info.tables.get("kms_key"), Some(&9));
    assert_eq!(info.tables.get("sm_secret"), Some(&5));
    assert!(info.schema_version >= 2);
    let copy = SqliteStore::open(dest).unwrap();
    assert_eq!(copy.log_bounds().unwrap().head, head);
    for table in ["kms_key", "sm_secret"] {
        assert_eq!(
            copy.scan_versioned(table).unwrap(),
            original.scan_versioned(table).unwrap(),
            "{table} copied with versions"
        );
    }
    // The copy goes on from where the original was.
    let mut tx = Transaction::new();
    tx.put("kms_key", "after", vec![1]);
    assert_eq!(copy.commit_info(&tx).unwrap().seq, head + 1);
}

#[test]
fn sqlite_backup_is_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("coffer.db")).unwrap();
    let head = fill(&store);
    let dest = dir.path().join("copy.db");
    let info = store.backup(&dest).unwrap();
    assert_eq!(info.seq, head);
    check_copy(&dest, &store, head);
    assert!(
        store.backup(&dest).is_err(),
        "an existing copy is not overwritten"
    );
}

#[test]
fn sqlite_snapshot_file_reads_without_creating() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let e = SqliteStore::snapshot_file(&missing, &dir.path().join("x.db")).unwrap_err();
    assert!(e.to_string().contains("no database file"), "{e}");
    assert!(!missing.exists(), "nothing created");
    assert!(!dir.path().join("x.db").exists(), "no copy started");
    let foreign = dir.path().join("foreign.db");
    std::fs::write(&foreign, b"not sqlite at all, just some bytes").unwrap();
    assert!(SqliteStore::snapshot_file(&foreign, &dir.path().join("y.db")).is_err());
}

#[test]
fn memory_backup_is_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::new();
    let head = fill(&store);
    let dest = dir.path().join("copy.db");
    store.backup(&dest).unwrap();
    check_copy(&dest, &store, head);
}

/// A test double that implements only the required calls answers `Unsupported`.
#[test]
fn default_backup_is_unsupported() {
    struct Bare;
    impl Store for Bare {
        fn scan(&self, _: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
            Ok(Vec::new())
        }
        fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
        fn commit(&self, _: &Transaction) -> Result<(), StoreError> {
            Ok(())
        }
        fn clear(&self) -> Result<(), StoreError> {
            Ok(())
        }
        fn get_versioned(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<coffer_store::Record>, StoreError> {
            Ok(None)
        }
        fn scan_versioned(
            &self,
            _: &str,
        ) -> Result<Vec<(String, coffer_store::Record)>, StoreError> {
            Ok(Vec::new())
        }
        fn commit_info(&self, _: &Transaction) -> Result<coffer_store::CommitInfo, StoreError> {
            Ok(coffer_store::CommitInfo { seq: 0 })
        }
        fn changes_since(&self, _: u64, _: usize) -> Result<Vec<coffer_store::Change>, StoreError> {
            Ok(Vec::new())
        }
        fn log_bounds(&self) -> Result<coffer_store::LogBounds, StoreError> {
            Ok(Default::default())
        }
        fn compact_log(&self, _: u64) -> Result<(), StoreError> {
            Ok(())
        }
        fn subscribe(&self) -> Result<coffer_store::Subscription, StoreError> {
            Err(StoreError::Unsupported("subscribe"))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Bare.backup(&dir.path().join("x.db")),
        Err(StoreError::Unsupported(_))
    ));
}
