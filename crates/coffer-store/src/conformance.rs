//! The conformance suite every [`Store`] backend must pass.
//!
//! Call [`run_all`] from a backend's tests with a function that opens a fresh, empty store; or
//! call the individual checks (each takes an empty store and panics with a message on failure).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{Store, Transaction};

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
