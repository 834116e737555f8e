//! Helpers shared by the backends: the net effect of a transaction, and whole-commit limits.

use std::collections::BTreeMap;

use crate::{Change, Transaction, Write};

/// The state one record is left in by a transaction: its new value, or `None` if deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NetWrite<'a> {
    pub table: &'a str,
    pub key: &'a str,
    pub value: Option<&'a [u8]>,
}

/// The net effect of `tx`'s writes applied in order, one entry per record it touches, ordered by
/// `(table, key)`: later writes to a record replace earlier ones.
pub(crate) fn net_writes(tx: &Transaction) -> Vec<NetWrite<'_>> {
    let mut last: BTreeMap<(&str, &str), Option<&[u8]>> = BTreeMap::new();
    for write in &tx.writes {
        match write {
            Write::Put { table, key, value } => {
                last.insert((table, key), Some(value));
            }
            Write::Delete { table, key } => {
                last.insert((table, key), None);
            }
        }
    }
    last.into_iter()
        .map(|((table, key), value)| NetWrite { table, key, value })
        .collect()
}

/// Cuts `changes` (ordered by sequence) after `limit` entries, rounded up to a whole commit.
pub(crate) fn whole_commits(mut changes: Vec<Change>, limit: usize) -> Vec<Change> {
    if limit == 0 {
        changes.clear();
        return changes;
    }
    if changes.len() > limit {
        let last_seq = changes[limit - 1].seq;
        let end = changes[limit..]
            .iter()
            .position(|c| c.seq != last_seq)
            .map_or(changes.len(), |p| limit + p);
        changes.truncate(end);
    }
    changes
}

/// Converts a stored integer (SQLite and PostgreSQL have signed 64-bit integers) to a sequence.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, crate::StoreError> {
    u64::try_from(value)
        .map_err(|_| crate::StoreError::Schema(format!("negative {what} {value} in the store")))
}

/// Converts a sequence to the stored integer type.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, crate::StoreError> {
    i64::try_from(value)
        .map_err(|_| crate::StoreError::Backend(format!("{what} {value} out of range")))
}
