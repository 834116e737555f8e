//! Rewriting records in place, in bounded batches, under optimistic concurrency: what a root-key
//! rekey (ADR 0015) does to the records whose bytes hold wrapped secrets.

use crate::{Store, StoreError, Transaction};

/// What one [`rewrite_batch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// Records rewritten and committed.
    pub rewritten: usize,
    /// Whether a concurrent writer changed or deleted one of the records first (nothing of the
    /// batch was applied; run it again).
    pub conflict: bool,
}

impl Rewritten {
    /// Whether another batch may find more to do.
    pub fn more(&self) -> bool {
        self.rewritten > 0 || self.conflict
    }
}

/// Rewrites up to `limit` records of `table` for which `f` returns new bytes, in one
/// transaction that requires each record to be at the version read: a record changed or
/// deleted meanwhile is never overwritten or brought back (the batch reports a conflict).
pub fn rewrite_batch<E>(
    store: &dyn Store,
    table: &str,
    limit: usize,
    mut f: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, E>,
) -> Result<Rewritten, E>
where
    E: From<StoreError>,
{
    let mut tx = Transaction::new();
    let mut n = 0;
    for (key, rec) in store.scan_versioned(table)? {
        if n >= limit {
            break;
        }
        if let Some(new) = f(&rec.value)? {
            tx.require_version(table, &key, rec.version);
            tx.put(table, &key, new);
            n += 1;
        }
    }
    if n == 0 {
        return Ok(Rewritten::default());
    }
    match store.commit(&tx) {
        Ok(()) => Ok(Rewritten {
            rewritten: n,
            conflict: false,
        }),
        Err(StoreError::Conflict { .. }) => Ok(Rewritten {
            rewritten: 0,
            conflict: true,
        }),
        Err(e) => Err(e.into()),
    }
}

/// How many records of `table` `pending` says still need rewriting (read from the store).
pub fn count_pending<E>(
    store: &dyn Store,
    table: &str,
    mut pending: impl FnMut(&[u8]) -> Result<bool, E>,
) -> Result<usize, E>
where
    E: From<StoreError>,
{
    let mut n = 0;
    for (_, bytes) in store.scan(table)? {
        if pending(&bytes)? {
            n += 1;
        }
    }
    Ok(n)
}
