//! Coffer's persistent storage: a small transactional record store behind the [`Store`] trait,
//! an embedded SQLite backend, and the conformance suite every backend must pass.
//!
//! Records are opaque bytes addressed by `(table, key)`; the services above decide their
//! (versioned) encoding. This crate knows nothing of AWS semantics.
#![forbid(unsafe_code)]

pub mod conformance;
mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// Why a storage call failed. The text is for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, database error, lock poisoning).
    #[error("storage backend failure: {0}")]
    Backend(String),
    /// The stored data is not what this version of Coffer can read.
    #[error("storage schema problem: {0}")]
    Schema(String),
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

/// A set of writes applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The writes, applied in order.
    pub writes: Vec<Write>,
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

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// A durable, transactional record store.
///
/// `commit` returns only once the transaction is durable (it survives `kill -9` and power loss as
/// far as the backend's fsync allows); after an error nothing of the transaction is visible.
pub trait Store: Send + Sync + 'static {
    /// Every record of `table`, ordered by key (byte order).
    fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// One record.
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Applies every write of `tx` atomically and durably.
    fn commit(&self, tx: &Transaction) -> Result<(), StoreError>;
    /// Removes every record of every table (used by `--dev` resets).
    fn clear(&self) -> Result<(), StoreError>;
}
