//! Coffer's persistent storage: a small transactional record store behind the [`Store`] trait,
//! an embedded SQLite backend, a PostgreSQL backend for several nodes, an in-memory backend for
//! tests, and the conformance suite every backend must pass.
//!
//! Records are opaque bytes addressed by `(table, key)`; the services above decide their
//! (versioned) encoding. This crate knows nothing of AWS semantics.
//!
//! Every record carries a store-maintained [version](Record::version); a [`Transaction`] may
//! carry [conditions](Condition) checked atomically at commit (compare-and-set); every commit that
//! changes something gets the next [sequence number](CommitInfo::seq) and appends its effects to
//! an ordered change log ([`Store::changes_since`]) that followers replay. See ADR 0004.
#![forbid(unsafe_code)]

pub mod conformance;
pub mod epoch;
mod fault;
mod group;
mod memory;
mod net;
mod postgres;
pub mod rewrite;
mod sqlite;
mod watch;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub use epoch::{Domain, EpochStore, EPOCH_TABLE};
pub use fault::FaultStore;
pub use memory::MemoryStore;
pub use postgres::{PostgresOptions, PostgresStore, SslMode};
pub use sqlite::{inspect_sqlite, SqliteOptions, SqliteStore};
pub use watch::Subscription;

/// How many commits the change log keeps by default before the oldest are compacted away.
pub const DEFAULT_LOG_RETENTION: u64 = 100_000;

/// How many bytes of keys and values the change log keeps by default (SQLite and memory): a
/// log of 100,000 commits of 13 KiB records would otherwise hold 1.3 GB (found by the soak).
pub const DEFAULT_LOG_RETENTION_BYTES: u64 = 32 << 20;

/// Why a storage call failed. The text is for logs, never for clients.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, database error, lock poisoning).
    #[error("storage backend failure: {0}")]
    Backend(String),
    /// The stored data is not what this version of Coffer can read.
    #[error("storage schema problem: {0}")]
    Schema(String),
    /// A [`Condition`] of the transaction did not hold: nothing of the transaction was applied.
    /// The caller re-reads `(table, key)` and retries (or reports the conflict).
    #[error("condition failed on record ({table:?}, {key:?})")]
    Conflict {
        /// Table of the record whose condition failed.
        table: String,
        /// Key of the record whose condition failed.
        key: String,
    },
    /// [`Store::changes_since`] was asked for changes that were compacted away: the reader must
    /// reload (scan every table) and resume from a sequence at or after `compacted`.
    #[error("change log compacted through {compacted}; changes after {after} are gone")]
    LogTruncated {
        /// The sequence the reader asked to resume after.
        after: u64,
        /// Every commit with a sequence up to this one may be missing from the log.
        compacted: u64,
    },
    /// The backend could not be reached or did not answer in time (connect or statement
    /// timeout). For a commit the outcome may be unknown: the transaction may have been applied.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The backend does not implement this call (test doubles written against the first four
    /// calls of [`Store`]; PostgreSQL's [`Store::backup`], which is `pg_dump`'s job).
    #[error("storage call not supported by this backend: {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// A condition of the transaction did not hold ([`StoreError::Conflict`]).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// One write of a [`Transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Insert or replace the record at `(table, key)`.
    Put {
        /// Table name.
        table: String,
        /// Record key within the table.
        key: String,
        /// Record bytes.
        value: Vec<u8>,
    },
    /// Remove the record at `(table, key)` if present.
    Delete {
        /// Table name.
        table: String,
        /// Record key within the table.
        key: String,
    },
}

/// A condition checked atomically when a [`Transaction`] commits, against the state before any
/// of its writes. If one fails the whole transaction is refused with [`StoreError::Conflict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The record exists and its version is exactly `version` (compare-and-set).
    Version {
        /// Table name.
        table: String,
        /// Record key within the table.
        key: String,
        /// The version read earlier ([`Record::version`]).
        version: u64,
    },
    /// The record does not exist (create-if-absent).
    Absent {
        /// Table name.
        table: String,
        /// Record key within the table.
        key: String,
    },
}

impl Condition {
    /// The record the condition is about.
    pub fn target(&self) -> (&str, &str) {
        match self {
            Condition::Version { table, key, .. } | Condition::Absent { table, key } => {
                (table, key)
            }
        }
    }

    /// Whether the condition holds for a record currently at `current` (`None`: absent).
    pub fn holds(&self, current: Option<u64>) -> bool {
        match self {
            Condition::Version { version, .. } => current == Some(*version),
            Condition::Absent { .. } => current.is_none(),
        }
    }

    pub(crate) fn conflict(&self) -> StoreError {
        let (table, key) = self.target();
        StoreError::Conflict {
            table: table.to_string(),
            key: key.to_string(),
        }
    }
}

/// A set of writes applied all together or not at all, optionally guarded by conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The writes, applied in order.
    pub writes: Vec<Write>,
    /// Conditions checked before any write, all of which must hold.
    pub conditions: Vec<Condition>,
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, table: &str, key: &str, value: Vec<u8>) -> &mut Self {
        self.writes.push(Write::Put {
            table: table.to_string(),
            key: key.to_string(),
            value,
        });
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, table: &str, key: &str) -> &mut Self {
        self.writes.push(Write::Delete {
            table: table.to_string(),
            key: key.to_string(),
        });
        self
    }

    /// Requires `(table, key)` to exist at exactly `version` when the transaction commits.
    pub fn require_version(&mut self, table: &str, key: &str, version: u64) -> &mut Self {
        self.conditions.push(Condition::Version {
            table: table.to_string(),
            key: key.to_string(),
            version,
        });
        self
    }

    /// Requires `(table, key)` not to exist when the transaction commits.
    pub fn require_absent(&mut self, table: &str, key: &str) -> &mut Self {
        self.conditions.push(Condition::Absent {
            table: table.to_string(),
            key: key.to_string(),
        });
        self
    }

    /// Requires `(table, key)` to be as it was read: at `version` if `Some`, absent if `None`
    /// (what [`Store::get_versioned`] returned).
    pub fn require(&mut self, table: &str, key: &str, version: Option<u64>) -> &mut Self {
        match version {
            Some(version) => self.require_version(table, key, version),
            None => self.require_absent(table, key),
        }
    }

    /// True when there is nothing to write (conditions alone change nothing).
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// A record's bytes and its version.
///
/// The version is maintained by the store: it is the sequence number of the commit that last
/// wrote the record, so it grows with every put and is never reused, not even after the record
/// is deleted and created again (no ABA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record bytes.
    pub value: Vec<u8>,
    /// Version (≥ 1).
    pub version: u64,
}

/// What a successful commit reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit's sequence number: the version of every record it wrote, and its position in
    /// the change log. A transaction that changed nothing (no writes, or only deletes of absent
    /// records) consumes no sequence and reports the latest one it saw.
    pub seq: u64,
}

/// One entry of the change log: the state of one record after one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Sequence of the commit.
    pub seq: u64,
    /// Table name.
    pub table: String,
    /// Record key within the table.
    pub key: String,
    /// The record as the commit left it (its version is `seq`); `None` when it was deleted.
    pub record: Option<Record>,
}

/// The extent of the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogBounds {
    /// Commits with a sequence up to this one may be missing from the log:
    /// [`Store::changes_since`] is complete for any `after >= compacted`.
    pub compacted: u64,
    /// Sequence of the latest commit (0 before the first).
    pub head: u64,
}

/// What [`Store::backup`] wrote: a copy of the store as of one commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackupInfo {
    /// The sequence of the last commit in the copy ([`LogBounds::head`]).
    pub seq: u64,
    /// The schema version of the copy (SQLite `user_version`).
    pub schema_version: u32,
    /// How many records each table of the copy holds (tables without records are absent).
    pub tables: BTreeMap<String, u64>,
}

/// A durable, transactional, versioned record store with an ordered change log.
///
/// `commit` returns only once the transaction is durable (it survives `kill -9` and power loss as
/// far as the backend's fsync allows); after an error nothing of the transaction is visible
/// (except after [`StoreError::Unavailable`], where the outcome of a commit may be unknown).
///
/// The first four calls are required; the others are provided so that test doubles written
/// against those four keep compiling (they answer [`StoreError::Unsupported`]). Every backend of
/// this crate implements all of them.
pub trait Store: Send + Sync + 'static {
    /// Every record of `table`, ordered by key (byte order).
    fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// One record.
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Applies every write of `tx` atomically and durably, if its conditions hold
    /// ([`StoreError::Conflict`] otherwise). Same as [`Store::commit_info`] without the sequence.
    fn commit(&self, tx: &Transaction) -> Result<(), StoreError>;
    /// Removes every record of every table (used by `--dev` resets). The change log is emptied
    /// and marked compacted through a new sequence, so that every follower reloads; versions are
    /// not reused afterwards.
    fn clear(&self) -> Result<(), StoreError>;

    /// One record with its version.
    fn get_versioned(&self, table: &str, key: &str) -> Result<Option<Record>, StoreError>;
    /// Every record of `table` with its version, ordered by key (byte order).
    fn scan_versioned(&self, table: &str) -> Result<Vec<(String, Record)>, StoreError>;
    /// Applies `tx` as [`Store::commit`] does and reports its sequence number.
    fn commit_info(&self, tx: &Transaction) -> Result<CommitInfo, StoreError>;
    /// The change-log entries of the commits after `after`, in commit order (and by table, key
    /// within a commit). `limit` bounds the number of entries, rounded up to a whole commit so
    /// that a reader always stops at a commit boundary; 0 returns nothing.
    ///
    /// Fails with [`StoreError::LogTruncated`] if `after` is older than the log's compaction
    /// point ([`LogBounds::compacted`]).
    fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError>;
    /// The extent of the change log.
    fn log_bounds(&self) -> Result<LogBounds, StoreError>;
    /// Drops the change-log entries of the commits up to `through` (capped at the head). The
    /// backends also compact on their own, keeping a configured number of recent commits.
    fn compact_log(&self, through: u64) -> Result<(), StoreError>;
    /// A handle that wakes when new commits land (this process's commits for SQLite and memory;
    /// any node's for PostgreSQL, through LISTEN/NOTIFY).
    fn subscribe(&self) -> Result<Subscription, StoreError>;

    /// Writes a consistent copy of the whole store (every record and the change log, as of one
    /// commit, still encrypted as stored) to the new SQLite file `dest` (mode 0600; it must not
    /// exist or be empty) while commits go on, and syncs it. The copy opens with
    /// [`SqliteStore::open`]. Backends that cannot (PostgreSQL: use `pg_dump`) answer
    /// [`StoreError::Unsupported`].
    fn backup(&self, dest: &Path) -> Result<BackupInfo, StoreError> {
        let _ = dest;
        Err(StoreError::Unsupported("online backup"))
    }

    /// How many records each table holds (tables without records are absent): what a copy
    /// between backends (`coffer store migrate`) walks and checks.
    fn table_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        Err(StoreError::Unsupported("table counts"))
    }
}

/// How long a follower should wait on a [`Subscription`] before polling
/// [`Store::changes_since`] anyway (a missed notification then costs at most this much).
pub const FOLLOWER_POLL: Duration = Duration::from_secs(1);
