//! Other nodes' commits applied to memory record by record (several nodes on one store,
//! ADR 0004): what a reload would read, without reading every secret again.

use super::{SecretKey, SecretsManager};
use crate::error::SmError;
use crate::record::{
    BlobRecord, Secret, SecretRecord, RECORD_VERSION, SECRET_TABLE, VERSION_TABLE,
};
use coffer_store::{Change, StoreError};
use std::sync::Arc;

fn schema(table: &str, key: &str, what: &str) -> SmError {
    SmError::Store(StoreError::Schema(format!("{table}/{key}: {what}")))
}

/// `account/region/name` (account and Region never hold `/`; a name may).
fn secret_key(table: &str, key: &str) -> Result<SecretKey, SmError> {
    let mut parts = key.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(r), Some(n)) => Ok(SecretKey::new(a, r, n)),
        _ => Err(schema(table, key, "not account/region/name")),
    }
}

impl SecretsManager {
    /// Applies `changes` (in log order) to memory under the write lock: those `pending` says
    /// memory lacks (asked under the lock); `applied` is told the sequence of the last one
    /// applied. An error leaves memory partly updated: the caller then reloads.
    pub fn apply_changes(
        &self,
        changes: &[Change],
        pending: &dyn Fn(&Change) -> bool,
        applied: &dyn Fn(u64),
    ) -> Result<(), SmError> {
        let mut st = self.state.write();
        let mut last = None;
        for c in changes {
            if !(c.table == SECRET_TABLE || c.table == VERSION_TABLE) || !pending(c) {
                continue;
            }
            let (table, key) = (c.table.as_str(), c.key.as_str());
            match (table, &c.record) {
                (SECRET_TABLE, Some(r)) => {
                    let rec: SecretRecord = serde_json::from_slice(&r.value)
                        .map_err(|e| schema(table, key, &e.to_string()))?;
                    if rec.v != RECORD_VERSION {
                        return Err(schema(table, key, "record version"));
                    }
                    let k = SecretKey::of(&rec);
                    let blobs = match st.secrets.remove(&k) {
                        Some(old) => {
                            if old.rec.arn != rec.arn {
                                st.by_arn.remove(&old.rec.arn);
                            }
                            old.blobs
                        }
                        None => Default::default(),
                    };
                    st.by_arn.insert(rec.arn.clone(), k.clone());
                    st.secrets.insert(k, Secret::new(rec, blobs));
                }
                (SECRET_TABLE, None) => {
                    if let Some(old) = st.secrets.remove(&secret_key(table, key)?) {
                        st.by_arn.remove(&old.rec.arn);
                    }
                }
                (_, Some(r)) => {
                    let rec: BlobRecord = serde_json::from_slice(&r.value)
                        .map_err(|e| schema(table, key, &e.to_string()))?;
                    if rec.v != RECORD_VERSION {
                        return Err(schema(table, key, "record version"));
                    }
                    let sealed = rec
                        .decode()
                        .ok_or_else(|| schema(table, key, "bad base64"))?;
                    let k = st
                        .by_arn
                        .get(&rec.secret_arn)
                        .cloned()
                        .ok_or_else(|| schema(table, key, "a version of no secret"))?;
                    if let Some(s) = st.secrets.get_mut(&k) {
                        s.blobs.insert(rec.version_id, Arc::new(sealed));
                    }
                }
                (_, None) => {
                    let (secret, version) = key
                        .split_once(':')
                        .ok_or_else(|| schema(table, key, "not secret:version"))?;
                    if let Some(s) = st.secrets.get_mut(&secret_key(table, secret)?) {
                        s.blobs.remove(version);
                    }
                }
            }
            last = Some(c.seq);
        }
        if let Some(seq) = last {
            applied(seq);
        }
        Ok(())
    }
}
