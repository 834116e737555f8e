//! An in-memory backend for tests of the layers above.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::net::{net_writes, whole_commits};
use crate::watch::{Subscription, Watch};
use crate::{
    BackupInfo, Change, CommitInfo, LogBounds, Record, Store, StoreError, Transaction,
    DEFAULT_LOG_RETENTION, DEFAULT_LOG_RETENTION_BYTES,
};

#[derive(Debug, Default)]
struct State {
    tables: BTreeMap<String, BTreeMap<String, Record>>,
    log: VecDeque<Change>,
    bounds: LogBounds,
    /// Bytes of keys and values the log holds.
    log_bytes: u64,
}

/// What one change-log entry costs (as the SQLite store counts it).
fn entry_bytes(c: &Change) -> u64 {
    (c.table.len() + c.key.len() + c.record.as_ref().map_or(0, |r| r.value.len())) as u64
}

impl State {
    fn version(&self, table: &str, key: &str) -> Option<u64> {
        self.tables
            .get(table)
            .and_then(|records| records.get(key))
            .map(|r| r.version)
    }

    fn compact(&mut self, through: u64) {
        let through = through.min(self.bounds.head);
        while self.log.front().is_some_and(|c| c.seq <= through) {
            if let Some(c) = self.log.pop_front() {
                self.log_bytes = self.log_bytes.saturating_sub(entry_bytes(&c));
            }
        }
        self.bounds.compacted = self.bounds.compacted.max(through);
    }
}

/// A [`Store`] held in memory, lost when dropped. For tests only: nothing is durable.
///
/// It implements versions, conditions, the change log (keeping the last
/// [`DEFAULT_LOG_RETENTION`] commits, or as many as [`MemoryStore::with_log_retention`] says)
/// and subscriptions exactly as the durable backends do.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    retention: u64,
    retention_bytes: u64,
    watch: Arc<Watch>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_log_retention(DEFAULT_LOG_RETENTION)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same store with its change log bounded to `bytes` of keys and values as well.
    pub fn with_log_retention_bytes(mut self, bytes: u64) -> Self {
        self.retention_bytes = bytes;
        self
    }

    /// An empty store whose change log keeps the last `retention` commits (at least 1).
    pub fn with_log_retention(retention: u64) -> Self {
        MemoryStore {
            state: Mutex::new(State::default()),
            retention: retention.max(1),
            retention_bytes: DEFAULT_LOG_RETENTION_BYTES,
            watch: Watch::new(0),
        }
    }
}

impl Store for MemoryStore {
    fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .scan_versioned(table)?
            .into_iter()
            .map(|(key, record)| (key, record.value))
            .collect())
    }

    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_versioned(table, key)?.map(|r| r.value))
    }

    fn commit(&self, tx: &Transaction) -> Result<(), StoreError> {
        self.commit_info(tx).map(drop)
    }

    fn clear(&self) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        state.tables.clear();
        state.log.clear();
        state.log_bytes = 0;
        state.bounds.head += 1;
        state.bounds.compacted = state.bounds.head;
        let head = state.bounds.head;
        drop(state);
        self.watch.advance(head);
        Ok(())
    }

    fn get_versioned(&self, table: &str, key: &str) -> Result<Option<Record>, StoreError> {
        let state = self.state.lock();
        Ok(state
            .tables
            .get(table)
            .and_then(|records| records.get(key))
            .cloned())
    }

    fn table_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let state = self.state.lock();
        Ok(state
            .tables
            .iter()
            .filter(|(_, records)| !records.is_empty())
            .map(|(t, records)| (t.clone(), records.len() as u64))
            .collect())
    }

    fn scan_versioned(&self, table: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let state = self.state.lock();
        Ok(state
            .tables
            .get(table)
            .map(|records| {
                records
                    .iter()
                    .map(|(key, record)| (key.clone(), record.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn commit_info(&self, tx: &Transaction) -> Result<CommitInfo, StoreError> {
        let mut state = self.state.lock();
        for condition in &tx.conditions {
            let (table, key) = condition.target();
            if !condition.holds(state.version(table, key)) {
                return Err(condition.conflict());
            }
        }
        let seq = state.bounds.head + 1;
        let mut changes = Vec::new();
        // Nothing below can fail, so applying in place under the lock is atomic.
        for write in net_writes(tx) {
            match write.value {
                Some(value) => {
                    let record = Record {
                        value: value.to_vec(),
                        version: seq,
                    };
                    state
                        .tables
                        .entry(write.table.to_string())
                        .or_default()
                        .insert(write.key.to_string(), record.clone());
                    changes.push(Change {
                        seq,
                        table: write.table.to_string(),
                        key: write.key.to_string(),
                        record: Some(record),
                    });
                }
                None => {
                    let Some(records) = state.tables.get_mut(write.table) else {
                        continue;
                    };
                    if records.remove(write.key).is_none() {
                        continue;
                    }
                    if records.is_empty() {
                        state.tables.remove(write.table);
                    }
                    changes.push(Change {
                        seq,
                        table: write.table.to_string(),
                        key: write.key.to_string(),
                        record: None,
                    });
                }
            }
        }
        if changes.is_empty() {
            return Ok(CommitInfo {
                seq: state.bounds.head,
            });
        }
        state.bounds.head = seq;
        state.log_bytes += changes.iter().map(entry_bytes).sum::<u64>();
        state.log.extend(changes);
        if seq > self.retention {
            state.compact(seq - self.retention);
        }
        // Over the byte budget: whole commits go, oldest first, down to three quarters of it.
        if state.log_bytes > self.retention_bytes {
            let keep = self.retention_bytes / 4 * 3;
            while state.log_bytes > keep {
                let Some(oldest) = state.log.front().map(|c| c.seq) else {
                    break;
                };
                state.compact(oldest);
            }
        }
        drop(state);
        self.watch.advance(seq);
        Ok(CommitInfo { seq })
    }

    fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let state = self.state.lock();
        if after < state.bounds.compacted {
            return Err(StoreError::LogTruncated {
                after,
                compacted: state.bounds.compacted,
            });
        }
        let start = state.log.partition_point(|c| c.seq <= after);
        let mut taken: Vec<Change> = Vec::new();
        for change in state.log.range(start..) {
            if taken.len() >= limit && taken.last().is_some_and(|l| l.seq != change.seq) {
                break;
            }
            taken.push(change.clone());
        }
        Ok(whole_commits(taken, limit))
    }

    fn log_bounds(&self) -> Result<LogBounds, StoreError> {
        Ok(self.state.lock().bounds)
    }

    fn compact_log(&self, through: u64) -> Result<(), StoreError> {
        self.state.lock().compact(through);
        Ok(())
    }

    fn subscribe(&self) -> Result<Subscription, StoreError> {
        Ok(Subscription::new(self.watch.clone()))
    }

    /// The records as of now, written as a SQLite database (the change log is not copied: the
    /// copy's log is empty, compacted through the current head).
    fn backup(&self, dest: &Path) -> Result<BackupInfo, StoreError> {
        let (records, head) = {
            let state = self.state.lock();
            let records: Vec<(String, String, Record)> = state
                .tables
                .iter()
                .flat_map(|(table, records)| {
                    records
                        .iter()
                        .map(move |(key, r)| (table.clone(), key.clone(), r.clone()))
                })
                .collect();
            (records, state.bounds.head)
        };
        let refs: Vec<(&str, &str, &Record)> = records
            .iter()
            .map(|(t, k, r)| (t.as_str(), k.as_str(), r))
            .collect();
        crate::sqlite::write_copy(dest, &refs, head)
    }
}
