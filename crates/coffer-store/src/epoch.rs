//! Compare-and-set per service for several nodes on one store (ADR 0004, "Several nodes").
//!
//! Each service decides its writes from its copy of the state in memory. With several nodes on
//! one database that copy can be stale: another node may have changed the same records since.
//! [`EpochStore`] makes every such write conditional. The tables are grouped into *domains* (one
//! per service); each domain has one record in [`EPOCH_TABLE`] that every commit touching the
//! domain rewrites, on the condition that its version is still the one this node's memory
//! reflects. A commit decided from a stale copy therefore fails with
//! [`StoreError::Conflict`] on that record; the node catches up from the change log and runs the
//! operation again. Commits that succeed advance the domain's epoch to their sequence.
//!
//! The invariant the follower keeps: every commit of a domain with a sequence up to
//! [`EpochStore::epoch`] is reflected in this node's memory. A node's own commits are reflected
//! because a service updates memory after its commit under the lock it decided under; other
//! nodes' commits are reflected once the follower reloaded the domain, having called
//! [`EpochStore::mark`] under that same lock before reading the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{
    BackupInfo, Change, CommitInfo, LogBounds, Record, Store, StoreError, Subscription,
    Transaction, Write,
};

/// The table of the domains' epoch records (one per domain, keyed by its name).
pub const EPOCH_TABLE: &str = "coffer_epoch";

/// A group of tables decided together (one service's tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Domain {
    /// Its name: the key of its epoch record.
    pub name: &'static str,
    /// Table-name prefixes that belong to it; the first domain with a matching prefix wins.
    pub prefixes: &'static [&'static str],
}

/// A [`Store`] that guards every commit touching a [`Domain`] with that domain's epoch (see the
/// module documentation). Reads, the change log and everything else pass through.
pub struct EpochStore {
    inner: Arc<dyn Store>,
    domains: Vec<Domain>,
    /// Per domain: the epoch record's version this node's memory reflects (0: absent).
    epochs: Vec<AtomicU64>,
}

impl std::fmt::Debug for EpochStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochStore")
            .field("domains", &self.domains)
            .finish_non_exhaustive()
    }
}

impl EpochStore {
    /// Wraps `inner`. Every epoch starts at 0 (absent): call [`EpochStore::mark`] for each
    /// domain before loading its state.
    pub fn new(inner: Arc<dyn Store>, domains: &[Domain]) -> Self {
        Self {
            inner,
            domains: domains.to_vec(),
            epochs: domains.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The domains, in the order given.
    pub fn domains(&self) -> &[Domain] {
        &self.domains
    }

    /// The index of the domain `table` belongs to.
    pub fn domain_of(&self, table: &str) -> Option<usize> {
        self.domains
            .iter()
            .position(|d| d.prefixes.iter().any(|p| table.starts_with(p)))
    }

    /// The epoch this node's memory reflects for domain `d`.
    pub fn epoch(&self, d: usize) -> u64 {
        self.epochs.get(d).map_or(0, |e| e.load(Ordering::Acquire))
    }

    /// Reads domain `d`'s epoch record and makes its version this node's epoch. Call it under
    /// the lock the domain's writers decide under, before reading the domain's tables: the
    /// state read afterwards reflects at least that version.
    pub fn mark(&self, d: usize) -> Result<(), StoreError> {
        let (Some(domain), Some(epoch)) = (self.domains.get(d), self.epochs.get(d)) else {
            return Ok(());
        };
        let version = self
            .inner
            .get_versioned(EPOCH_TABLE, domain.name)?
            .map_or(0, |r| r.version);
        epoch.store(version, Ordering::Release);
        Ok(())
    }

    /// Records that memory now reflects domain `d`'s commits up to `seq` (a follower applied
    /// them one by one; call it under the lock the domain's writers decide under).
    pub fn advance(&self, d: usize, seq: u64) {
        if let Some(e) = self.epochs.get(d) {
            e.fetch_max(seq, Ordering::AcqRel);
        }
    }

    /// Whether `change` is already reflected in memory (a commit at or below its domain's
    /// epoch); changes outside every domain are never.
    pub fn reflects(&self, change: &Change) -> bool {
        match self.domain_of(&change.table) {
            Some(d) => change.seq <= self.epoch(d),
            None => change.table == EPOCH_TABLE,
        }
    }

    /// The domains `tx` writes to.
    fn touched(&self, tx: &Transaction) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for w in &tx.writes {
            let table = match w {
                Write::Put { table, .. } | Write::Delete { table, .. } => table,
            };
            if let Some(d) = self.domain_of(table) {
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out
    }
}

impl Store for EpochStore {
    fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.scan(table)
    }

    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key)
    }

    fn commit(&self, tx: &Transaction) -> Result<(), StoreError> {
        self.commit_info(tx).map(|_| ())
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear()?;
        for e in &self.epochs {
            e.store(0, Ordering::Release);
        }
        Ok(())
    }

    fn get_versioned(&self, table: &str, key: &str) -> Result<Option<Record>, StoreError> {
        self.inner.get_versioned(table, key)
    }

    fn scan_versioned(&self, table: &str) -> Result<Vec<(String, Record)>, StoreError> {
        self.inner.scan_versioned(table)
    }

    fn commit_info(&self, tx: &Transaction) -> Result<CommitInfo, StoreError> {
        let touched = self.touched(tx);
        if touched.is_empty() {
            return self.inner.commit_info(tx);
        }
        let mut guarded = tx.clone();
        for &d in &touched {
            let name = self.domains[d].name;
            let epoch = self.epoch(d);
            guarded.require(EPOCH_TABLE, name, (epoch > 0).then_some(epoch));
            guarded.put(EPOCH_TABLE, name, Vec::new());
        }
        let info = self.inner.commit_info(&guarded)?;
        for &d in &touched {
            self.epochs[d].fetch_max(info.seq, Ordering::AcqRel);
        }
        Ok(info)
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

    fn backup(&self, dest: &std::path::Path) -> Result<BackupInfo, StoreError> {
        self.inner.backup(dest)
    }

    fn table_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.inner.table_counts()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    const DOMAINS: &[Domain] = &[Domain {
        name: "kms",
        prefixes: &["kms_"],
    }];

    fn put(table: &str, key: &str) -> Transaction {
        let mut tx = Transaction::new();
        tx.put(table, key, b"v".to_vec());
        tx
    }

    #[test]
    fn a_node_that_missed_another_nodes_commit_conflicts_until_it_marks() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let a = EpochStore::new(shared.clone(), DOMAINS);
        let b = EpochStore::new(shared.clone(), DOMAINS);
        a.mark(0).unwrap();
        b.mark(0).unwrap();
        let first = a.commit_info(&put("kms_key", "1")).unwrap();
        assert_eq!(a.epoch(0), first.seq);
        // b decided without seeing a's commit.
        assert!(matches!(
            b.commit(&put("kms_key", "2")),
            Err(StoreError::Conflict { ref table, .. }) if table == EPOCH_TABLE
        ));
        // Tables outside every domain are not guarded.
        b.commit(&put("other", "x")).unwrap();
        b.mark(0).unwrap();
        b.commit(&put("kms_key", "2")).unwrap();
        assert!(a.commit(&put("kms_key", "3")).is_err());
    }

    #[test]
    fn reflects_says_which_changes_memory_already_has() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let a = EpochStore::new(shared.clone(), DOMAINS);
        a.mark(0).unwrap();
        a.commit(&put("kms_key", "1")).unwrap();
        let changes = shared.changes_since(0, 100).unwrap();
        assert!(changes.iter().all(|c| a.reflects(c)));
        let fresh = EpochStore::new(shared, DOMAINS);
        assert!(changes
            .iter()
            .filter(|c| c.table != EPOCH_TABLE)
            .all(|c| !fresh.reflects(c)));
    }
}
