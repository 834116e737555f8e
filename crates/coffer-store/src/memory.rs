//! An in-memory backend for tests of the layers above.

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::{Store, StoreError, Transaction, Write};

/// A [`Store`] held in a `BTreeMap`, lost when dropped. For tests only: nothing is durable.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let tables = self.tables.lock();
        Ok(tables
            .get(table)
            .map(|records| {
                records
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tables = self.tables.lock();
        Ok(tables
            .get(table)
            .and_then(|records| records.get(key))
            .cloned())
    }

    fn commit(&self, tx: &Transaction) -> Result<(), StoreError> {
        // Nothing below can fail, so applying in place under the lock is atomic.
        let mut tables = self.tables.lock();
        for write in &tx.writes {
            match write {
                Write::Put { table, key, value } => {
                    tables
                        .entry(table.clone())
                        .or_default()
                        .insert(key.clone(), value.clone());
                }
                Write::Delete { table, key } => {
                    if let Some(records) = tables.get_mut(table) {
                        records.remove(key);
                        if records.is_empty() {
                            tables.remove(table);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.tables.lock().clear();
        Ok(())
    }
}
