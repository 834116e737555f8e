//! The conformance suite every [`Store`] backend must pass.
//!
//! Call [`run_all`] from a backend's tests with a function that opens a fresh, empty store; or
//! call the individual checks (each takes an empty store and panics with a message on failure).
//! A durable backend also runs [`run_reopen`] with a function that reopens one database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::{Change, CommitInfo, LogBounds, Record, Store, StoreError, Transaction};

/// One conformance check: takes a fresh, empty store and panics if the backend misbehaves.
pub type Check = fn(&dyn Store);

/// Every check, by name, in the order [`run_all`] runs them.
pub const CHECKS: &[(&str, Check)] = &[
    ("get_absent", get_absent),
    ("put_then_get", put_then_get),
    ("overwrite", overwrite),
    ("delete", delete),
    ("delete_absent", delete_absent),
    ("scan_order", scan_order),
    ("table_isolation", table_isolation),
    ("multi_table_transaction", multi_table_transaction),
    ("writes_apply_in_order", writes_apply_in_order),
    ("empty_transaction", empty_transaction),
    ("clear_empties_all_tables", clear_empties_all_tables),
    ("binary_values", binary_values),
    ("large_value", large_value),
    ("unusual_keys", unusual_keys),
    ("many_records", many_records),
    ("concurrent_commits", concurrent_commits),
    ("versions_increase", versions_increase),
    ("condition_version", condition_version),
    ("condition_absent", condition_absent),
    (
        "conditions_see_state_before_writes",
        conditions_see_state_before_writes,
    ),
    (
        "conflict_aborts_whole_transaction",
        conflict_aborts_whole_transaction,
    ),
    (
        "no_op_commit_uses_no_sequence",
        no_op_commit_uses_no_sequence,
    ),
    (
        "concurrent_cas_no_lost_update",
        concurrent_cas_no_lost_update,
    ),
    ("create_if_absent_race", create_if_absent_race),
    ("change_log_order", change_log_order),
    (
        "change_log_limit_whole_commits",
        change_log_limit_whole_commits,
    ),
    ("change_log_concurrent", change_log_concurrent),
    ("subscribe_wakes", subscribe_wakes),
    ("clear_resets_log", clear_resets_log),
    ("compact_log", compact_log),
    ("table_counts", table_counts),
];

/// Runs every check in [`CHECKS`], each against a fresh store from `open`.
///
/// Panics on the first failure; the check's name is printed to stderr before it runs.
pub fn run_all(open: &dyn Fn() -> Box<dyn Store>) {
    for (name, check) in CHECKS {
        eprintln!("conformance: {name}");
        let store = open();
        check(store.as_ref());
    }
}

fn commit(store: &dyn Store, tx: &Transaction, what: &str) {
    if let Err(e) = store.commit(tx) {
        panic!("{what}: commit failed: {e}");
    }
}

fn put(store: &dyn Store, table: &str, key: &str, value: &[u8]) {
    let mut tx = Transaction::new();
    tx.put(table, key, value.to_vec());
    commit(store, &tx, &format!("put ({table:?}, {key:?})"));
}

fn get(store: &dyn Store, table: &str, key: &str) -> Option<Vec<u8>> {
    match store.get(table, key) {
        Ok(value) => value,
        Err(e) => panic!("get ({table:?}, {key:?}) failed: {e}"),
    }
}

fn scan(store: &dyn Store, table: &str) -> Vec<(String, Vec<u8>)> {
    match store.scan(table) {
        Ok(rows) => rows,
        Err(e) => panic!("scan {table:?} failed: {e}"),
    }
}

fn rows(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect()
}

/// `get` of a key never written returns `None`, in a known and an unknown table; `scan` of an
/// unknown table is empty.
pub fn get_absent(store: &dyn Store) {
    assert_eq!(get(store, "t", "missing"), None, "get on an empty store");
    put(store, "t", "present", b"v");
    assert_eq!(get(store, "t", "missing"), None, "get of an absent key");
    assert_eq!(get(store, "other", "present"), None, "get in another table");
    assert!(
        scan(store, "nothing").is_empty(),
        "scan of an unknown table"
    );
}

/// A put is visible to `get` and `scan`.
pub fn put_then_get(store: &dyn Store) {
    put(store, "t", "k", b"value");
    assert_eq!(
        get(store, "t", "k").as_deref(),
        Some(&b"value"[..]),
        "get after put"
    );
    assert_eq!(scan(store, "t"), rows(&[("k", b"value")]), "scan after put");
}

/// A second put replaces the value.
pub fn overwrite(store: &dyn Store) {
    put(store, "t", "k", b"first");
    put(store, "t", "k", b"second, longer");
    assert_eq!(
        get(store, "t", "k").as_deref(),
        Some(&b"second, longer"[..]),
        "get after overwrite"
    );
    put(store, "t", "k", b"3");
    assert_eq!(
        get(store, "t", "k").as_deref(),
        Some(&b"3"[..]),
        "overwrite with shorter"
    );
    assert_eq!(
        scan(store, "t").len(),
        1,
        "overwrite must not duplicate the record"
    );
}

/// A delete removes the record and only that record.
pub fn delete(store: &dyn Store) {
    put(store, "t", "a", b"1");
    put(store, "t", "b", b"2");
    let mut tx = Transaction::new();
    tx.delete("t", "a");
    commit(store, &tx, "delete");
    assert_eq!(get(store, "t", "a"), None, "get after delete");
    assert_eq!(scan(store, "t"), rows(&[("b", b"2")]), "scan after delete");
    put(store, "t", "a", b"again");
    assert_eq!(
        get(store, "t", "a").as_deref(),
        Some(&b"again"[..]),
        "put after delete"
    );
}

/// Deleting an absent key (or in an unknown table) succeeds and changes nothing.
pub fn delete_absent(store: &dyn Store) {
    put(store, "t", "keep", b"v");
    let mut tx = Transaction::new();
    tx.delete("t", "missing").delete("unknown-table", "keep");
    commit(store, &tx, "delete of absent keys");
    assert_eq!(
        scan(store, "t"),
        rows(&[("keep", b"v")]),
        "scan after no-op delete"
    );
}

/// `scan` returns records ordered by key in byte order (UTF-8), whatever the insertion order.
pub fn scan_order(store: &dyn Store) {
    // Byte order: "B" < "a", "k10" < "k9", and U+FF61 (EF BD A1) < U+10000 (F0 90 80 80), which
    // a UTF-16 or locale-aware collation would get wrong.
    let keys = [
        "k9",
        "a",
        "\u{10000}",
        "k10",
        "B",
        "\u{FF61}",
        "é",
        "a/b",
        "a.b",
        "k1",
        "Z",
    ];
    let mut tx = Transaction::new();
    for (i, key) in keys.iter().enumerate() {
        tx.put("t", key, vec![i as u8]);
    }
    commit(store, &tx, "scan_order setup");
    let mut expected: Vec<(String, Vec<u8>)> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| (key.to_string(), vec![i as u8]))
        .collect();
    expected.sort();
    let got = scan(store, "t");
    let got_keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    let expected_keys: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got_keys, expected_keys, "scan must be ordered by key bytes");
    assert_eq!(got, expected, "scan values");
}

/// Tables are separate namespaces: the same key in two tables, tables whose names are prefixes of
/// each other, and `/` in table names and keys never collide.
pub fn table_isolation(store: &dyn Store) {
    let mut tx = Transaction::new();
    tx.put("t", "k", b"in t".to_vec())
        .put("u", "k", b"in u".to_vec())
        .put("t2", "k", b"in t2".to_vec())
        .put("a", "b/c", b"a + b/c".to_vec())
        .put("a/b", "c", b"a/b + c".to_vec());
    commit(store, &tx, "table_isolation setup");

    assert_eq!(
        get(store, "t", "k").as_deref(),
        Some(&b"in t"[..]),
        "get in t"
    );
    assert_eq!(
        get(store, "u", "k").as_deref(),
        Some(&b"in u"[..]),
        "get in u"
    );
    assert_eq!(scan(store, "t"), rows(&[("k", b"in t")]), "scan t (not t2)");
    assert_eq!(scan(store, "t2"), rows(&[("k", b"in t2")]), "scan t2");
    assert_eq!(scan(store, "a"), rows(&[("b/c", b"a + b/c")]), "scan a");
    assert_eq!(scan(store, "a/b"), rows(&[("c", b"a/b + c")]), "scan a/b");
    assert_eq!(
        get(store, "a", "b/c").as_deref(),
        Some(&b"a + b/c"[..]),
        "get a, b/c"
    );
    assert_eq!(
        get(store, "a/b", "c").as_deref(),
        Some(&b"a/b + c"[..]),
        "get a/b, c"
    );
    assert_eq!(get(store, "a", "b"), None, "no phantom (a, b)");
    assert_eq!(get(store, "a/b/c", "k"), None, "no phantom table a/b/c");

    let mut tx = Transaction::new();
    tx.delete("t", "k").delete("a", "b/c");
    commit(store, &tx, "table_isolation delete");
    assert_eq!(get(store, "t", "k"), None, "deleted from t");
    assert_eq!(
        get(store, "u", "k").as_deref(),
        Some(&b"in u"[..]),
        "u untouched by delete in t"
    );
    assert_eq!(
        get(store, "t2", "k").as_deref(),
        Some(&b"in t2"[..]),
        "t2 untouched"
    );
    assert_eq!(
        get(store, "a/b", "c").as_deref(),
        Some(&b"a/b + c"[..]),
        "a/b untouched"
    );
}

/// One transaction with puts and deletes across several tables is applied as a whole.
pub fn multi_table_transaction(store: &dyn Store) {
    put(store, "keys", "old", b"old key");
    put(store, "aliases", "alias/old", b"old");

    let mut tx = Transaction::new();
    tx.put("keys", "k1", b"key 1".to_vec())
        .put("aliases", "alias/one", b"k1".to_vec())
        .put("secrets", "s1", b"secret 1".to_vec())
        .delete("keys", "old")
        .delete("aliases", "alias/old")
        .put("secrets", "s2", b"secret 2".to_vec());
    commit(store, &tx, "multi-table transaction");

    assert_eq!(scan(store, "keys"), rows(&[("k1", b"key 1")]), "keys table");
    assert_eq!(
        scan(store, "aliases"),
        rows(&[("alias/one", b"k1")]),
        "aliases table"
    );
    assert_eq!(
        scan(store, "secrets"),
        rows(&[("s1", b"secret 1"), ("s2", b"secret 2")]),
        "secrets table"
    );
}

/// Writes of one transaction apply in order: put then delete of a key ends deleted, delete then
/// put ends present, two puts end with the second value.
pub fn writes_apply_in_order(store: &dyn Store) {
    put(store, "t", "existing", b"before");
    let mut tx = Transaction::new();
    tx.put("t", "put-delete", b"gone".to_vec())
        .delete("t", "put-delete")
        .delete("t", "existing")
        .put("t", "existing", b"after".to_vec())
        .put("t", "twice", b"one".to_vec())
        .put("t", "twice", b"two".to_vec())
        .put("t", "existing-put-delete", b"x".to_vec());
    tx.delete("t", "existing-put-delete");
    commit(store, &tx, "ordered writes");
    assert_eq!(
        get(store, "t", "put-delete"),
        None,
        "put then delete ends deleted"
    );
    assert_eq!(
        get(store, "t", "existing").as_deref(),
        Some(&b"after"[..]),
        "delete then put ends present"
    );
    assert_eq!(
        get(store, "t", "twice").as_deref(),
        Some(&b"two"[..]),
        "last put wins"
    );
    assert_eq!(
        scan(store, "t"),
        rows(&[("existing", b"after"), ("twice", b"two")]),
        "scan after ordered writes"
    );
}

/// Committing an empty transaction succeeds and changes nothing.
pub fn empty_transaction(store: &dyn Store) {
    let tx = Transaction::new();
    assert!(tx.is_empty());
    commit(store, &tx, "empty transaction on empty store");
    put(store, "t", "k", b"v");
    commit(store, &tx, "empty transaction");
    assert_eq!(
        scan(store, "t"),
        rows(&[("k", b"v")]),
        "data after empty transaction"
    );
}

/// `clear` removes every record of every table, and the store stays usable.
pub fn clear_empties_all_tables(store: &dyn Store) {
    let mut tx = Transaction::new();
    tx.put("a", "1", b"x".to_vec())
        .put("a", "2", b"y".to_vec())
        .put("b", "1", b"z".to_vec())
        .put("c/d", "e/f", b"w".to_vec());
    commit(store, &tx, "clear setup");
    if let Err(e) = store.clear() {
        panic!("clear failed: {e}");
    }
    for table in ["a", "b", "c/d"] {
        assert!(
            scan(store, table).is_empty(),
            "table {table:?} not empty after clear"
        );
    }
    assert_eq!(get(store, "a", "1"), None, "get after clear");
    assert_eq!(get(store, "c/d", "e/f"), None, "get after clear");
    if let Err(e) = store.clear() {
        panic!("clear of an empty store failed: {e}");
    }
    put(store, "a", "1", b"again");
    assert_eq!(
        scan(store, "a"),
        rows(&[("1", b"again")]),
        "store usable after clear"
    );
}

/// Values are opaque bytes: every byte value, NULs, invalid UTF-8 and the empty value round-trip.
pub fn binary_values(store: &dyn Store) {
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let reversed: Vec<u8> = (0..=255u8).rev().collect();
    let mut tx = Transaction::new();
    tx.put("t", "all", all_bytes.clone())
        .put("t", "reversed", reversed.clone())
        .put("t", "empty", Vec::new())
        .put("t", "nul", vec![0])
        .put("t", "not-utf8", vec![0xff, 0xfe, 0xc0, 0x80]);
    commit(store, &tx, "binary values");
    assert_eq!(
        get(store, "t", "all"),
        Some(all_bytes.clone()),
        "every byte value"
    );
    assert_eq!(
        get(store, "t", "reversed"),
        Some(reversed.clone()),
        "reversed bytes"
    );
    assert_eq!(
        get(store, "t", "empty"),
        Some(Vec::new()),
        "empty value is present, not absent"
    );
    assert_eq!(get(store, "t", "nul"), Some(vec![0]), "single NUL byte");
    assert_eq!(
        get(store, "t", "not-utf8"),
        Some(vec![0xff, 0xfe, 0xc0, 0x80]),
        "invalid UTF-8 bytes"
    );
    let scanned = scan(store, "t");
    let expected = vec![
        ("all".to_string(), all_bytes),
        ("empty".to_string(), Vec::new()),
        ("not-utf8".to_string(), vec![0xff, 0xfe, 0xc0, 0x80]),
        ("nul".to_string(), vec![0]),
        ("reversed".to_string(), reversed),
    ];
    assert_eq!(scanned, expected, "scan of binary values");
}

/// A 1 MiB value round-trips intact.
pub fn large_value(store: &dyn Store) {
    let value: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    put(store, "t", "big", &value);
    let got = get(store, "t", "big").expect("1 MiB value missing");
    assert_eq!(got.len(), value.len(), "1 MiB value length");
    assert!(got == value, "1 MiB value content differs");
    let scanned = scan(store, "t");
    assert_eq!(scanned.len(), 1, "scan of the 1 MiB value");
    assert!(scanned[0].1 == value, "1 MiB value content differs in scan");
}

/// Keys and table names with unicode, `/`, whitespace, quotes and SQL/glob wildcards round-trip
/// and match only themselves.
pub fn unusual_keys(store: &dyn Store) {
    let keys = [
        "alias/my-key",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "/leading/and/trailing/",
        "//",
        "ключ/秘密/🔑",
        "e\u{301}", // decomposed é: must not be normalised into the composed form
        "é",
        "with space",
        "tab\there",
        "new\nline",
        "quote'\"`",
        "percent%_under*star?[x]",
        "back\\slash",
    ];
    let tables = ["t", "表/🗄️", "t'; DROP TABLE records; --"];
    let mut tx = Transaction::new();
    for table in tables {
        for (i, key) in keys.iter().enumerate() {
            tx.put(table, key, format!("{table}|{i}").into_bytes());
        }
    }
    commit(store, &tx, "unusual keys");
    for table in tables {
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                get(store, table, key),
                Some(format!("{table}|{i}").into_bytes()),
                "get ({table:?}, {key:?})"
            );
        }
        let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        expected.sort();
        let got: Vec<String> = scan(store, table).into_iter().map(|(k, _)| k).collect();
        assert_eq!(got, expected, "scan of table {table:?}");
    }
    assert_eq!(get(store, "t", "percent"), None, "wildcards must not match");
    assert_eq!(
        get(store, "t", "percent%_under*star?[x"),
        None,
        "prefix must not match"
    );
    assert_eq!(
        get(store, "t", "alias/my-key/"),
        None,
        "trailing slash is a different key"
    );
    assert_eq!(
        get(store, "t", "alias//my-key"),
        None,
        "double slash is a different key"
    );

    let mut tx = Transaction::new();
    tx.delete("t", "e\u{301}");
    commit(store, &tx, "delete decomposed é");
    assert_eq!(get(store, "t", "e\u{301}"), None, "decomposed é deleted");
    assert!(
        get(store, "t", "é").is_some(),
        "composed é is a different key"
    );
}

/// A thousand records written in one transaction all come back, in order.
pub fn many_records(store: &dyn Store) {
    let mut tx = Transaction::new();
    for i in (0..1000u32).rev() {
        tx.put("t", &format!("key-{i:04}"), i.to_be_bytes().to_vec());
    }
    commit(store, &tx, "1000 records");
    let got = scan(store, "t");
    assert_eq!(got.len(), 1000, "scan count");
    for (i, (key, value)) in got.iter().enumerate() {
        assert_eq!(key, &format!("key-{i:04}"), "scan position {i}");
        assert_eq!(value, &(i as u32).to_be_bytes().to_vec(), "value at {i}");
    }
}

/// Commits and reads from several threads at once neither fail nor lose writes.
pub fn concurrent_commits(store: &dyn Store) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 20;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    let key = format!("{t}-{i:03}");
                    let mut tx = Transaction::new();
                    tx.put("t", &key, key.clone().into_bytes()).put(
                        "counts",
                        &t.to_string(),
                        (i as u32 + 1).to_be_bytes().to_vec(),
                    );
                    commit(store, &tx, &format!("thread {t} write {i}"));
                    assert_eq!(
                        get(store, "t", &key),
                        Some(key.clone().into_bytes()),
                        "thread {t} reads its own write {i}"
                    );
                    let _ = scan(store, "t");
                }
            });
        }
    });
    assert_eq!(
        scan(store, "t").len(),
        THREADS * PER_THREAD,
        "every concurrent write is present"
    );
    for t in 0..THREADS {
        assert_eq!(
            get(store, "counts", &t.to_string()),
            Some((PER_THREAD as u32).to_be_bytes().to_vec()),
            "last count of thread {t}"
        );
    }
}

// ----- versions, conditions, change log --------------------------------------------------

fn commit_info(store: &dyn Store, tx: &Transaction, what: &str) -> CommitInfo {
    match store.commit_info(tx) {
        Ok(info) => info,
        Err(e) => panic!("{what}: commit failed: {e}"),
    }
}

fn put_info(store: &dyn Store, table: &str, key: &str, value: &[u8]) -> CommitInfo {
    let mut tx = Transaction::new();
    tx.put(table, key, value.to_vec());
    commit_info(store, &tx, &format!("put ({table:?}, {key:?})"))
}

fn get_v(store: &dyn Store, table: &str, key: &str) -> Option<Record> {
    match store.get_versioned(table, key) {
        Ok(record) => record,
        Err(e) => panic!("get_versioned ({table:?}, {key:?}) failed: {e}"),
    }
}

fn bounds(store: &dyn Store) -> LogBounds {
    match store.log_bounds() {
        Ok(bounds) => bounds,
        Err(e) => panic!("log_bounds failed: {e}"),
    }
}

fn changes(store: &dyn Store, after: u64, limit: usize) -> Vec<Change> {
    match store.changes_since(after, limit) {
        Ok(changes) => changes,
        Err(e) => panic!("changes_since({after}, {limit}) failed: {e}"),
    }
}

fn expect_conflict(result: Result<CommitInfo, StoreError>, table: &str, key: &str, what: &str) {
    match result {
        Err(StoreError::Conflict { table: t, key: k }) => {
            assert_eq!(
                (t.as_str(), k.as_str()),
                (table, key),
                "{what}: conflict names the record"
            )
        }
        other => panic!("{what}: expected a conflict on ({table:?}, {key:?}), got {other:?}"),
    }
}

fn change(seq: u64, table: &str, key: &str, value: Option<&[u8]>) -> Change {
    Change {
        seq,
        table: table.to_string(),
        key: key.to_string(),
        record: value.map(|v| Record {
            value: v.to_vec(),
            version: seq,
        }),
    }
}

/// Every put gives the record the commit's sequence as its version: versions grow with every
/// put, are the same for every record of one commit, and are not reused after a delete.
pub fn versions_increase(store: &dyn Store) {
    let first = put_info(store, "t", "k", b"a");
    let r1 = get_v(store, "t", "k").expect("record after put");
    assert!(r1.version >= 1, "versions start at 1");
    assert_eq!(r1.version, first.seq, "version is the commit's sequence");
    assert_eq!(r1.value, b"a".to_vec());

    let second = put_info(store, "t", "k", b"a");
    let r2 = get_v(store, "t", "k").unwrap();
    assert!(second.seq > first.seq, "sequences increase");
    assert_eq!(
        r2.version, second.seq,
        "a put of the same bytes still advances the version"
    );

    let mut tx = Transaction::new();
    tx.put("t", "k", b"b".to_vec())
        .put("u", "other", b"o".to_vec());
    let third = commit_info(store, &tx, "two records");
    assert_eq!(get_v(store, "t", "k").unwrap().version, third.seq);
    assert_eq!(get_v(store, "u", "other").unwrap().version, third.seq);
    match store.scan_versioned("t") {
        Ok(rows) => assert_eq!(
            rows,
            vec![(
                "k".to_string(),
                Record {
                    value: b"b".to_vec(),
                    version: third.seq
                }
            )],
            "scan_versioned"
        ),
        Err(e) => panic!("scan_versioned failed: {e}"),
    }

    let mut tx = Transaction::new();
    tx.delete("t", "k");
    let deleted = commit_info(store, &tx, "delete");
    assert!(deleted.seq > third.seq, "a delete is a commit");
    assert_eq!(get_v(store, "t", "k"), None, "a deleted record is gone");
    let again = put_info(store, "t", "k", b"c");
    let r3 = get_v(store, "t", "k").unwrap();
    assert!(
        r3.version > third.seq && r3.version == again.seq,
        "a re-created record never gets an old version back"
    );
}

/// `require_version` commits when the record is at that version and conflicts otherwise
/// (stale version, absent record), leaving the record untouched.
pub fn condition_version(store: &dyn Store) {
    put(store, "t", "k", b"one");
    let v1 = get_v(store, "t", "k").unwrap().version;
    let mut tx = Transaction::new();
    tx.require_version("t", "k", v1)
        .put("t", "k", b"two".to_vec());
    let info = commit_info(store, &tx, "compare-and-set at the current version");
    let r = get_v(store, "t", "k").unwrap();
    assert_eq!((r.value.as_slice(), r.version), (&b"two"[..], info.seq));

    // The same transaction again: v1 is now stale.
    expect_conflict(store.commit_info(&tx), "t", "k", "stale version");
    assert_eq!(
        get_v(store, "t", "k").unwrap(),
        r,
        "a conflict changes nothing"
    );
    expect_conflict(
        store.commit(&tx).map(|()| CommitInfo { seq: 0 }),
        "t",
        "k",
        "commit",
    );

    let mut tx = Transaction::new();
    tx.require_version("t", "absent", 1)
        .put("t", "absent", b"x".to_vec());
    expect_conflict(
        store.commit_info(&tx),
        "t",
        "absent",
        "version of an absent record",
    );
    assert_eq!(get_v(store, "t", "absent"), None);

    let mut tx = Transaction::new();
    tx.require("t", "k", Some(r.version)).delete("t", "k");
    commit_info(store, &tx, "delete at the current version");
    assert_eq!(get_v(store, "t", "k"), None);
}

/// `require_absent` commits only when the record does not exist.
pub fn condition_absent(store: &dyn Store) {
    let mut create = Transaction::new();
    create
        .require_absent("t", "k")
        .put("t", "k", b"first".to_vec());
    commit_info(store, &create, "create if absent");
    assert_eq!(get(store, "t", "k").as_deref(), Some(&b"first"[..]));

    let mut again = Transaction::new();
    again
        .require("t", "k", None)
        .put("t", "k", b"second".to_vec());
    expect_conflict(
        store.commit_info(&again),
        "t",
        "k",
        "create of an existing record",
    );
    assert_eq!(get(store, "t", "k").as_deref(), Some(&b"first"[..]));

    let mut tx = Transaction::new();
    tx.delete("t", "k");
    commit(store, &tx, "delete");
    commit_info(store, &again, "create after delete");
    assert_eq!(get(store, "t", "k").as_deref(), Some(&b"second"[..]));

    // Only the named record counts: same key elsewhere, another key here.
    let mut tx = Transaction::new();
    tx.require_absent("u", "k")
        .require_absent("t", "k2")
        .put("u", "k", b"u".to_vec());
    commit_info(store, &tx, "absent in another table");
}

/// Conditions are checked against the state before the transaction's writes; a transaction of
/// conditions alone commits nothing and reports the current sequence.
pub fn conditions_see_state_before_writes(store: &dyn Store) {
    let mut tx = Transaction::new();
    tx.put("t", "k", b"v".to_vec()).require_absent("t", "k");
    commit_info(
        store,
        &tx,
        "condition listed after a put of the same record",
    );
    let r = get_v(store, "t", "k").unwrap();

    let head = bounds(store).head;
    let mut check = Transaction::new();
    check
        .require_version("t", "k", r.version)
        .require_absent("t", "other");
    assert!(
        check.is_empty(),
        "conditions alone are an empty transaction"
    );
    let info = commit_info(store, &check, "conditions only, holding");
    assert_eq!(info.seq, head, "conditions alone use no sequence");
    let mut failing = Transaction::new();
    failing.require_absent("t", "k");
    expect_conflict(
        store.commit_info(&failing),
        "t",
        "k",
        "conditions only, failing",
    );
    assert_eq!(bounds(store).head, head);
}

/// One failed condition among several aborts every write of the transaction, across tables;
/// no sequence is used and nothing reaches the change log.
pub fn conflict_aborts_whole_transaction(store: &dyn Store) {
    put(store, "a", "1", b"a1");
    put(store, "b", "1", b"b1");
    let va = get_v(store, "a", "1").unwrap().version;
    let before = bounds(store);

    let mut tx = Transaction::new();
    tx.require_version("a", "1", va)
        .require_absent("b", "1")
        .put("a", "1", b"changed".to_vec())
        .put("c", "new", b"new".to_vec())
        .delete("b", "1");
    expect_conflict(store.commit_info(&tx), "b", "1", "second condition fails");
    assert_eq!(
        get(store, "a", "1").as_deref(),
        Some(&b"a1"[..]),
        "a untouched"
    );
    assert_eq!(
        get(store, "b", "1").as_deref(),
        Some(&b"b1"[..]),
        "b untouched"
    );
    assert!(scan(store, "c").is_empty(), "c untouched");
    assert_eq!(bounds(store), before, "no sequence used");
    assert!(
        changes(store, before.head, 100).is_empty(),
        "nothing logged"
    );

    let mut tx = Transaction::new();
    tx.require_version("a", "1", va)
        .require_version("b", "1", get_v(store, "b", "1").unwrap().version)
        .put("a", "1", b"changed".to_vec())
        .put("c", "new", b"new".to_vec())
        .delete("b", "1");
    let info = commit_info(store, &tx, "all conditions hold");
    assert_eq!(info.seq, before.head + 1, "the next sequence");
    assert_eq!(get(store, "a", "1").as_deref(), Some(&b"changed"[..]));
    assert_eq!(get(store, "b", "1"), None);
    assert_eq!(get(store, "c", "new").as_deref(), Some(&b"new"[..]));
}

/// A transaction that changes nothing (deletes of absent records, a put then a delete of a new
/// record) uses no sequence and logs nothing; an empty transaction reports the head.
pub fn no_op_commit_uses_no_sequence(store: &dyn Store) {
    let info = put_info(store, "t", "k", b"v");
    let mut tx = Transaction::new();
    tx.delete("t", "absent").delete("nothing", "k");
    assert_eq!(
        commit_info(store, &tx, "deletes of absent records").seq,
        info.seq
    );
    let mut tx = Transaction::new();
    tx.put("t", "brief", b"x".to_vec()).delete("t", "brief");
    assert_eq!(commit_info(store, &tx, "put then delete").seq, info.seq);
    assert_eq!(
        commit_info(store, &Transaction::new(), "empty").seq,
        info.seq
    );
    assert_eq!(bounds(store).head, info.seq);
    assert!(changes(store, info.seq, 10).is_empty());
    assert_eq!(
        put_info(store, "t", "k2", b"v").seq,
        info.seq + 1,
        "no gap after no-ops"
    );
}

/// Many threads increment one counter by read, compare-and-set, retry: exactly one winner per
/// version read, every increment lands once (no lost update), and the winners form one chain.
pub fn concurrent_cas_no_lost_update(store: &dyn Store) {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 25;
    put(store, "t", "counter", &0u64.to_be_bytes());
    let barrier = Barrier::new(THREADS);
    let wins: Vec<(u64, u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let mut wins = Vec::new();
                    for _ in 0..PER_THREAD {
                        loop {
                            let r = get_v(store, "t", "counter").expect("counter");
                            let n = u64::from_be_bytes(r.value.as_slice().try_into().unwrap());
                            let mut tx = Transaction::new();
                            tx.require_version("t", "counter", r.version).put(
                                "t",
                                "counter",
                                (n + 1).to_be_bytes().to_vec(),
                            );
                            match store.commit_info(&tx) {
                                Ok(info) => {
                                    wins.push((r.version, info.seq, n + 1));
                                    break;
                                }
                                Err(StoreError::Conflict { .. }) => continue,
                                Err(e) => panic!("compare-and-set failed: {e}"),
                            }
                        }
                    }
                    wins
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let total = (THREADS * PER_THREAD) as u64;
    let r = get_v(store, "t", "counter").unwrap();
    assert_eq!(
        r.value,
        total.to_be_bytes().to_vec(),
        "every increment landed"
    );
    let read_versions: BTreeSet<u64> = wins.iter().map(|w| w.0).collect();
    assert_eq!(
        read_versions.len(),
        wins.len(),
        "exactly one winner per version read"
    );
    let values: BTreeSet<u64> = wins.iter().map(|w| w.2).collect();
    assert_eq!(values, (1..=total).collect(), "each value written once");
    let mut chain = wins.clone();
    chain.sort();
    for pair in chain.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "each winner read the previous winner's version"
        );
    }
    assert_eq!(
        chain.last().unwrap().1,
        r.version,
        "the last winner's version is current"
    );
}

/// Threads racing to create one record with `require_absent`: exactly one wins each race.
pub fn create_if_absent_race(store: &dyn Store) {
    const THREADS: usize = 12;
    const ROUNDS: usize = 6;
    for round in 0..ROUNDS {
        let key = format!("name-{round}");
        let barrier = Barrier::new(THREADS);
        let outcomes: Vec<(usize, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (barrier, key) = (&barrier, &key);
                    scope.spawn(move || {
                        let mut tx = Transaction::new();
                        tx.require_absent("names", key)
                            .put("names", key, t.to_string().into_bytes())
                            .put("owners", &format!("{key}/{t}"), b"x".to_vec());
                        barrier.wait();
                        match store.commit_info(&tx) {
                            Ok(_) => (t, true),
                            Err(StoreError::Conflict { table, key: k }) => {
                                assert_eq!((table.as_str(), k.as_str()), ("names", key.as_str()));
                                (t, false)
                            }
                            Err(e) => panic!("create failed: {e}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = outcomes.iter().filter(|o| o.1).map(|o| o.0).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one creation wins");
        assert_eq!(
            get(store, "names", &key),
            Some(winners[0].to_string().into_bytes()),
            "round {round}: the winner's record"
        );
    }
    assert_eq!(scan(store, "owners").len(), ROUNDS, "losers wrote nothing");
}

/// The change log holds every commit's net effect in commit order, sorted by table and key
/// within a commit, with the new bytes (empty values included) and deletions.
pub fn change_log_order(store: &dyn Store) {
    let start = bounds(store).head;
    assert_eq!(
        bounds(store).compacted,
        start,
        "a fresh store's log is complete"
    );
    assert!(
        changes(store, start, 100).is_empty(),
        "nothing after the head"
    );

    let mut tx = Transaction::new();
    tx.put("b", "1", b"y".to_vec())
        .put("a", "1", b"x".to_vec())
        .put("a", "0", b"w".to_vec());
    let c1 = commit_info(store, &tx, "c1");
    let mut tx = Transaction::new();
    tx.put("a", "1", b"first".to_vec())
        .delete("b", "1")
        .put("a", "1", b"x2".to_vec())
        .delete("b", "never");
    let c2 = commit_info(store, &tx, "c2");
    let mut tx = Transaction::new();
    tx.put("a", "empty", Vec::new())
        .put("c", "bin", vec![0, 0xff]);
    let c3 = commit_info(store, &tx, "c3");
    assert_eq!((c1.seq, c2.seq, c3.seq), (start + 1, start + 2, start + 3));

    let expected = vec![
        change(c1.seq, "a", "0", Some(b"w")),
        change(c1.seq, "a", "1", Some(b"x")),
        change(c1.seq, "b", "1", Some(b"y")),
        change(c2.seq, "a", "1", Some(b"x2")),
        change(c2.seq, "b", "1", None),
        change(c3.seq, "a", "empty", Some(b"")),
        change(c3.seq, "c", "bin", Some(&[0, 0xff])),
    ];
    assert_eq!(changes(store, start, 100), expected, "the whole log");
    assert_eq!(
        changes(store, c1.seq, 100),
        expected[3..].to_vec(),
        "after c1"
    );
    assert_eq!(changes(store, c3.seq, 100), Vec::new(), "after the head");
    assert_eq!(bounds(store).head, c3.seq);
}

/// `limit` counts entries but never splits a commit.
pub fn change_log_limit_whole_commits(store: &dyn Store) {
    let start = bounds(store).head;
    let mut seqs = Vec::new();
    for i in 0..4u8 {
        let mut tx = Transaction::new();
        for k in 0..3u8 {
            tx.put("t", &format!("{i}-{k}"), vec![i, k]);
        }
        seqs.push(commit_info(store, &tx, "three records").seq);
    }
    let count = |after, limit| {
        let got = changes(store, after, limit);
        let commits: BTreeSet<u64> = got.iter().map(|c| c.seq).collect();
        (got.len(), commits.len())
    };
    assert_eq!(count(start, 0), (0, 0), "limit 0");
    assert_eq!(
        count(start, 1),
        (3, 1),
        "limit 1 returns the whole first commit"
    );
    assert_eq!(count(start, 3), (3, 1), "limit 3");
    assert_eq!(count(start, 4), (6, 2), "limit 4 rounds up to two commits");
    assert_eq!(count(start, 1000), (12, 4), "everything");
    assert_eq!(count(seqs[2], 1), (3, 1), "from the middle");
}

/// Commits from many threads get distinct, gap-free sequences; a reader following the log
/// while they run sees them in order with no gap; replaying the log gives the final state.
pub fn change_log_concurrent(store: &dyn Store) {
    const THREADS: usize = 6;
    const PER_THREAD: usize = 20;
    let start = bounds(store).head;
    let total = THREADS * PER_THREAD;
    let (seqs, followed) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            // Follow the log until every commit has been seen.
            let mut cursor = start;
            let mut seen = 0usize;
            let deadline = Instant::now() + Duration::from_secs(120);
            while seen < total {
                assert!(
                    Instant::now() < deadline,
                    "the follower never saw every commit"
                );
                let batch = changes(store, cursor, 7);
                let mut expected = cursor;
                for c in &batch {
                    if c.seq != expected {
                        assert_eq!(
                            c.seq,
                            expected + 1,
                            "the follower saw a gap after {expected}"
                        );
                        expected = c.seq;
                        seen += 1;
                    }
                }
                cursor = expected;
                if batch.is_empty() {
                    std::thread::yield_now();
                }
            }
            cursor
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let mut tx = Transaction::new();
                            tx.put("t", &format!("{t}-{i:03}"), vec![t as u8, i as u8])
                                .put("counts", &t.to_string(), vec![i as u8]);
                            commit_info(store, &tx, "concurrent commit").seq
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let seqs: Vec<u64> = writers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (seqs, reader.join().unwrap())
    });
    let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), total, "every commit has its own sequence");
    let all: BTreeSet<u64> = (start + 1..=start + total as u64).collect();
    assert_eq!(distinct, all, "sequences are gap-free");
    assert_eq!(
        followed,
        start + total as u64,
        "the follower reached the head"
    );

    let log = changes(store, start, usize::MAX);
    assert_eq!(log.len(), 2 * total, "two entries per commit");
    for pair in log.windows(2) {
        assert!(
            (pair[0].seq, &pair[0].table, &pair[0].key)
                < (pair[1].seq, &pair[1].table, &pair[1].key),
            "log order"
        );
    }
    let mut replay: BTreeMap<(String, String), Record> = BTreeMap::new();
    for c in log {
        match c.record {
            Some(record) => replay.insert((c.table, c.key), record),
            None => replay.remove(&(c.table, c.key)),
        };
    }
    let mut state: BTreeMap<(String, String), Record> = BTreeMap::new();
    for table in ["t", "counts"] {
        for (key, record) in store.scan_versioned(table).unwrap() {
            state.insert((table.to_string(), key), record);
        }
    }
    assert_eq!(replay, state, "replaying the log gives the stored state");
}

/// A subscription learns of commits: at once for this handle's own commits, and by waking a
/// waiter for a commit made by another thread.
pub fn subscribe_wakes(store: &dyn Store) {
    let sub = store.subscribe().expect("subscribe");
    let start = sub.latest();
    let info = put_info(store, "t", "k", b"v");
    assert!(
        sub.latest() >= info.seq,
        "the commit is known once commit returns"
    );
    assert_eq!(
        sub.wait(start, Duration::from_secs(10)),
        sub.latest(),
        "no wait when known"
    );

    let other = sub.clone();
    let after = info.seq;
    let woken = std::thread::scope(|scope| {
        let waiter = scope.spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let seen = other.wait(after, Duration::from_secs(5));
                if seen > after || Instant::now() > deadline {
                    return seen;
                }
            }
        });
        let second = put_info(store, "t", "k2", b"v");
        (waiter.join().unwrap(), second.seq)
    });
    assert!(
        woken.0 >= woken.1,
        "the waiter learned of the commit ({woken:?})"
    );
    let timeout = sub.wait(u64::MAX - 1, Duration::from_millis(1));
    assert!(
        timeout >= woken.1,
        "a timed-out wait reports the latest sequence"
    );
}

/// `clear` empties the log and marks it compacted past every earlier sequence, so followers
/// reload; versions keep growing after it.
pub fn clear_resets_log(store: &dyn Store) {
    let sub = store.subscribe().expect("subscribe");
    let before = put_info(store, "t", "k", b"v");
    store.clear().unwrap();
    let after = bounds(store);
    assert!(
        after.compacted > before.seq,
        "clear marks the log compacted past the old head"
    );
    assert!(after.head >= after.compacted);
    assert!(sub.latest() >= after.head, "clear wakes subscribers");
    match store.changes_since(before.seq, 10) {
        Err(StoreError::LogTruncated {
            after: a,
            compacted,
        }) => {
            assert_eq!(a, before.seq);
            assert_eq!(compacted, after.compacted);
        }
        other => panic!("a follower at the old head must reload, got {other:?}"),
    }
    assert!(changes(store, after.head, 10).is_empty());
    let next = put_info(store, "t", "k", b"w");
    assert!(next.seq > after.head, "sequences continue after clear");
    assert_eq!(get_v(store, "t", "k").unwrap().version, next.seq);
    assert_eq!(
        changes(store, after.head, 10),
        vec![change(next.seq, "t", "k", Some(b"w"))]
    );
}

/// `compact_log` drops old entries: reading from before the compaction point fails with
/// `LogTruncated`, reading from it works; compaction stops at the head.
pub fn compact_log(store: &dyn Store) {
    let seqs: Vec<u64> = (0..5u8)
        .map(|i| put_info(store, "t", &i.to_string(), &[i]).seq)
        .collect();
    store.compact_log(seqs[2]).unwrap();
    assert_eq!(bounds(store).compacted, seqs[2]);
    match store.changes_since(seqs[1], 10) {
        Err(StoreError::LogTruncated { compacted, .. }) => assert_eq!(compacted, seqs[2]),
        other => panic!("expected LogTruncated, got {other:?}"),
    }
    let rest: Vec<u64> = changes(store, seqs[2], 10).iter().map(|c| c.seq).collect();
    assert_eq!(
        rest,
        seqs[3..].to_vec(),
        "the entries after the compaction point remain"
    );
    store.compact_log(seqs[0]).unwrap();
    assert_eq!(
        bounds(store).compacted,
        seqs[2],
        "compaction never moves back"
    );
    store.compact_log(u64::MAX).unwrap();
    let b = bounds(store);
    assert_eq!(
        (b.compacted, b.head),
        (seqs[4], seqs[4]),
        "compaction stops at the head"
    );
    let next = put_info(store, "t", "next", b"n");
    assert_eq!(
        changes(store, b.head, 10),
        vec![change(next.seq, "t", "next", Some(b"n"))]
    );
    assert_eq!(scan(store, "t").len(), 6, "compaction keeps the records");
}

// ----- durability across reopening --------------------------------------------------------

/// Runs the checks that need a durable backend. `open` opens the same database every time; the
/// first call must find it empty.
pub fn run_reopen(open: &dyn Fn() -> Box<dyn Store>) {
    eprintln!("conformance: reopen_keeps_versions_and_log");
    reopen_keeps_versions_and_log(open);
}

/// Versions, the change log, its bounds and the sequence survive closing and reopening.
pub fn reopen_keeps_versions_and_log(open: &dyn Fn() -> Box<dyn Store>) {
    let (log, bounds_before, record) = {
        let store = open();
        let start = bounds(store.as_ref()).head;
        put(store.as_ref(), "t", "a", b"1");
        let mut tx = Transaction::new();
        tx.put("t", "b", b"2".to_vec()).delete("t", "a");
        commit(store.as_ref(), &tx, "second");
        put(store.as_ref(), "u", "c", b"3");
        (
            changes(store.as_ref(), start, 100),
            bounds(store.as_ref()),
            get_v(store.as_ref(), "t", "b").unwrap(),
        )
    };
    let store = open();
    let store = store.as_ref();
    assert_eq!(bounds(store), bounds_before, "log bounds after reopening");
    assert_eq!(
        changes(store, bounds_before.head - 3, 100),
        log,
        "changes_since after reopening"
    );
    assert_eq!(
        get_v(store, "t", "b").as_ref(),
        Some(&record),
        "version after reopening"
    );
    assert_eq!(
        store.subscribe().unwrap().latest(),
        bounds_before.head,
        "subscription starts at the head"
    );
    let next = put_info(store, "t", "b", b"4");
    assert_eq!(
        next.seq,
        bounds_before.head + 1,
        "sequences continue after reopening"
    );
    let mut tx = Transaction::new();
    tx.require_version("t", "b", record.version)
        .put("t", "b", b"5".to_vec());
    expect_conflict(
        store.commit_info(&tx),
        "t",
        "b",
        "a stale version after reopening",
    );
}

/// `table_counts` names every table that holds records, with how many, and no emptied table.
pub fn table_counts(store: &dyn Store) {
    let mut tx = Transaction::new();
    tx.put("t", "a", b"1".to_vec())
        .put("t", "b", b"2".to_vec())
        .put("u/v", "k", b"3".to_vec())
        .put("gone", "k", b"4".to_vec());
    commit(store, &tx, "table_counts setup");
    let mut tx = Transaction::new();
    tx.delete("gone", "k");
    commit(store, &tx, "table_counts delete");
    let counts = match store.table_counts() {
        Ok(c) => c,
        Err(e) => panic!("table_counts failed: {e}"),
    };
    let want: std::collections::BTreeMap<String, u64> =
        [("t".to_string(), 2), ("u/v".to_string(), 1)]
            .into_iter()
            .collect();
    assert_eq!(counts, want, "table_counts");
}
