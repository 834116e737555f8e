//! A fault-injecting wrapper around any [`Store`]: tests make commits fail (every one, or the
//! Nth from now) to check that a service answers its internal error, that memory never runs ahead
//! of the store, and that nothing half-applied remains; or make every commit slow (a disk or a
//! database that takes its time to sync). Reads and the change log are forwarded.
//!
//! A failed fsync is a refused commit here: SQLite and PostgreSQL report it as the commit's error
//! (`SQLITE_IOERR_FSYNC`, or PostgreSQL's PANIC and a lost connection) and nothing of it is
//! visible afterwards.

use crate::{Change, CommitInfo, LogBounds, Record, Store, StoreError, Subscription, Transaction};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A [`Store`] that forwards to `inner` until told to fail.
pub struct FaultStore {
    inner: Arc<dyn Store>,
    fail_commits: AtomicBool,
    /// Commits left before the next one fails; 0 = none scheduled.
    fail_in: AtomicU64,
    failures: AtomicU64,
    attempts: AtomicU64,
    /// Milliseconds every commit waits before it is forwarded; 0 = none.
    delay_ms: AtomicU64,
}

impl std::fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultStore")
            .field("fail_commits", &self.fail_commits.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl FaultStore {
    /// Wraps `inner`; no fault is armed.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            fail_commits: AtomicBool::new(false),
            fail_in: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            delay_ms: AtomicU64::new(0),
        }
    }

    /// Over a fresh [`crate::MemoryStore`].
    pub fn memory() -> Self {
        Self::new(Arc::new(crate::MemoryStore::new()))
    }

    /// Makes every commit fail (as a full disk or a lost database would) until set back.
    pub fn fail_commits(&self, on: bool) {
        self.fail_commits.store(on, Ordering::SeqCst);
    }

    /// Makes the `n`th commit from now fail (1 = the next one), once.
    pub fn fail_nth_commit(&self, n: u64) {
        self.fail_in.store(n, Ordering::SeqCst);
    }

    /// Makes every commit wait `delay` before it is forwarded (zero turns it off): a slow sync.
    pub fn slow_commits(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How many commits were refused.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }

    /// How many commits were attempted (refused ones included).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    fn check(&self) -> Result<(), StoreError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        let scheduled = self
            .fail_in
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|before| before == 1);
        if scheduled || self.fail_commits.load(Ordering::SeqCst) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend("injected fault: commit refused".into()));
        }
        Ok(())
    }
}

impl Store for FaultStore {
    fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.scan(table)
    }
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key)
    }
    fn commit(&self, tx: &Transaction) -> Result<(), StoreError> {
        self.check()?;
        self.inner.commit(tx)
    }
    fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear()
    }
    fn get_versioned(&self, table: &str, key: &str) -> Result<Option<Record>, StoreError> {
        self.inner.get_versioned(table, key)
    }
    fn scan_versioned(&self, table: &str) -> Result<Vec<(String, Record)>, StoreError> {
        self.inner.scan_versioned(table)
    }
    fn commit_info(&self, tx: &Transaction) -> Result<CommitInfo, StoreError> {
        self.check()?;
        self.inner.commit_info(tx)
    }
    fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        self.inner.changes_since(after, limit)
    }
    fn log_bounds(&self) -> Result<LogBounds, StoreError> {
        self.inner.log_bounds()
    }
    fn compact_log(&self, through: u64) -> Result<(), StoreError> {
        self.inner.compact_log(through)
    }
    fn subscribe(&self) -> Result<Subscription, StoreError> {
        self.inner.subscribe()
    }
    fn backup(&self, dest: &std::path::Path) -> Result<crate::BackupInfo, StoreError> {
        self.inner.backup(dest)
    }
    fn table_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.inner.table_counts()
    }
}
