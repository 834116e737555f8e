//! Other nodes' commits applied to memory record by record (several nodes on one store,
//! ADR 0004): what a reload would read, without reading and unwrapping every key again. Only
//! a changed family's material is unwrapped.

use crate::error::KmsError;
use crate::records::{
    AliasRecord, FamilyRecord, GrantRecord, ImportTokenRecord, KeyRecord, ALIAS_TABLE,
    FAMILY_TABLE, GRANT_TABLE, IMPORT_TABLE, KEY_TABLE, LAST_USE_TABLE,
};
use crate::Kms;
use coffer_store::{Change, StoreError};

fn schema(table: &str, key: &str, what: &str) -> KmsError {
    KmsError::Store(StoreError::Schema(format!("{table}/{key}: {what}")))
}

/// `account/region/rest` (account and Region never hold `/`; an alias name does).
fn regional(table: &str, key: &str) -> Result<(String, String, String), KmsError> {
    let mut parts = key.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(r), Some(n)) => Ok((a.into(), r.into(), n.into())),
        _ => Err(schema(table, key, "not account/region/id")),
    }
}

impl Kms {
    /// Applies `changes` (in log order) to memory under the write lock: those `pending` says
    /// memory lacks (asked under the lock); `applied` is told the sequence of the last one
    /// applied. Last-use times are this node's own (as [`Kms::reload_with`] keeps them). An
    /// error leaves memory partly updated: the caller then reloads.
    pub fn apply_changes(
        &self,
        changes: &[Change],
        pending: &dyn Fn(&Change) -> bool,
        applied: &dyn Fn(u64),
    ) -> Result<(), KmsError> {
        let mut world = self.world.write();
        let mut last = None;
        for c in changes {
            let (table, key) = (c.table.as_str(), c.key.as_str());
            if !table.starts_with("kms_") || !pending(c) {
                continue;
            }
            let value = c.record.as_ref().map(|r| r.value.as_slice());
            match (table, value) {
                // Last-use times are each node's own; the change still counts as applied (the
                // domain's epoch must reach it, or this node's next write would be refused).
                (LAST_USE_TABLE, _) => {}
                (FAMILY_TABLE, Some(v)) => {
                    let rec: FamilyRecord = serde_json::from_slice(v)?;
                    world.put_family(self.unwrap_family(rec)?);
                }
                (FAMILY_TABLE, None) => {
                    let (account, key_id) = key
                        .split_once('/')
                        .ok_or_else(|| schema(table, key, "not account/key"))?;
                    if let Some(families) = world.families.get_mut(account) {
                        families.remove(key_id);
                    }
                }
                (KEY_TABLE, Some(v)) => world.put_key(serde_json::from_slice::<KeyRecord>(v)?),
                (ALIAS_TABLE, Some(v)) => {
                    world.put_alias(serde_json::from_slice::<AliasRecord>(v)?);
                }
                (GRANT_TABLE, Some(v)) => {
                    world.put_grant(serde_json::from_slice::<GrantRecord>(v)?);
                }
                (KEY_TABLE | ALIAS_TABLE | GRANT_TABLE, None) => {
                    let (account, region, id) = regional(table, key)?;
                    let r = world.region_mut(&account, &region);
                    match table {
                        KEY_TABLE => r.keys.remove(&id).map(drop),
                        ALIAS_TABLE => r.aliases.remove(&id).map(drop),
                        _ => r.grants.remove(&id).map(drop),
                    };
                }
                (IMPORT_TABLE, Some(v)) => {
                    let rec: ImportTokenRecord = serde_json::from_slice(v)?;
                    world.imports.insert(key.to_string(), rec);
                }
                (IMPORT_TABLE, None) => {
                    world.imports.remove(key);
                }
                // A table this version does not know (written by a newer one): reload.
                _ => return Err(schema(table, key, "a table this version does not apply")),
            }
            last = Some(c.seq);
        }
        if let Some(seq) = last {
            applied(seq);
        }
        Ok(())
    }
}
