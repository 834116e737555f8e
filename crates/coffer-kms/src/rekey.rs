//! A root-key rekey's part in KMS (ADR 0015): key material and import wrapping keys re-wrapped
//! under the root key's current generation, in batches, under the world's write lock so that no
//! other writer can put an older copy of a record back.

use super::import::wrapping_key_aad;
use super::records::{FamilyRecord, ImportTokenRecord, FAMILY_TABLE, IMPORT_TABLE};
use super::{material_aad, Kms};
use crate::error::KmsError;
use base64::Engine;
use coffer_crypto::RootKey;
use coffer_store::Transaction;

fn b64(s: &str) -> Result<Vec<u8>, KmsError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| KmsError::Internal(format!("wrapped material encoding: {e}")))
}

impl Kms {
    /// `rec` with every material re-wrapped under the current generation, or `None` when all of
    /// it already is.
    fn rewrapped_family(&self, rec: &FamilyRecord) -> Result<Option<FamilyRecord>, KmsError> {
        let mut out = rec.clone();
        let mut changed = false;
        for m in out.wrapped_mut() {
            let wrapped = b64(&m.wrapped)?;
            if let Some(new) = self
                .root
                .rewrap(&material_aad(&rec.account, &rec.key_id, &m.id), &wrapped)?
            {
                m.wrapped = base64::engine::general_purpose::STANDARD.encode(new);
                changed = true;
            }
        }
        Ok(changed.then_some(out))
    }

    fn rewrapped_import(
        &self,
        rec: &ImportTokenRecord,
    ) -> Result<Option<ImportTokenRecord>, KmsError> {
        let wrapped = b64(&rec.wrapped_private_key)?;
        let aad = wrapping_key_aad(&rec.account, &rec.region, &rec.key_id, &rec.token_id);
        Ok(self.root.rewrap(&aad, &wrapped)?.map(|new| {
            let mut out = rec.clone();
            out.wrapped_private_key = base64::engine::general_purpose::STANDARD.encode(new);
            out
        }))
    }

    /// Re-wraps up to `limit` records (families, then outstanding import tokens) under the root
    /// key's current generation; returns how many were rewritten (0: nothing is left). Memory
    /// changes only after the store committed.
    pub fn rewrap_batch(&self, limit: usize) -> Result<usize, KmsError> {
        let mut w = self.world.write();
        let mut tx = Transaction::new();
        let mut families = Vec::new();
        'outer: for (account, keys) in &w.families {
            for (key_id, fam) in keys {
                if families.len() >= limit {
                    break 'outer;
                }
                if let Some(rec) = self.rewrapped_family(&fam.rec)? {
                    tx.put(FAMILY_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
                    families.push((account.clone(), key_id.clone(), rec));
                }
            }
        }
        let mut imports = Vec::new();
        for (key, rec) in &w.imports {
            if families.len() + imports.len() >= limit {
                break;
            }
            if let Some(rec) = self.rewrapped_import(rec)? {
                tx.put(IMPORT_TABLE, key, serde_json::to_vec(&rec)?);
                imports.push((key.clone(), rec));
            }
        }
        let n = families.len() + imports.len();
        if n == 0 {
            return Ok(0);
        }
        self.commit(&tx)?;
        for (account, key_id, rec) in families {
            if let Some(f) = w
                .families
                .get_mut(&account)
                .and_then(|m| m.get_mut(&key_id))
            {
                f.rec = rec;
            }
        }
        for (key, rec) in imports {
            w.imports.insert(key, rec);
        }
        Ok(n)
    }

    /// Stored records (read from the store, not memory) still holding anything wrapped under
    /// an older root-key generation.
    pub fn pending_rewrap(&self) -> Result<usize, KmsError> {
        let store = self.store.as_ref();
        let families = coffer_store::rewrite::count_pending(store, FAMILY_TABLE, |b| {
            let mut rec: FamilyRecord = serde_json::from_slice(b)?;
            for m in rec.wrapped_mut() {
                if self.root.needs_rewrap(&b64(&m.wrapped)?) {
                    return Ok::<bool, KmsError>(true);
                }
            }
            Ok(false)
        })?;
        let imports = coffer_store::rewrite::count_pending(store, IMPORT_TABLE, |b| {
            let rec: ImportTokenRecord = serde_json::from_slice(b)?;
            Ok::<bool, KmsError>(self.root.needs_rewrap(&b64(&rec.wrapped_private_key)?))
        })?;
        Ok(families + imports)
    }

    /// Reads every KMS record from the store again, replacing what memory holds (after the
    /// store was replaced underneath, by a state import).
    pub fn reload(&self) -> Result<(), KmsError> {
        self.reload_locked(&|| Ok(()), true)
    }

    /// [`Kms::reload`] for a follower of other nodes' commits: the write lock is held from
    /// before `mark` (which records what the store holds, see `coffer_store::epoch`) until the
    /// state read after it replaces the old, so no write of this node decides in between.
    /// The last-use times this node holds in memory are kept.
    pub fn reload_with(
        &self,
        mark: &dyn Fn() -> Result<(), coffer_store::StoreError>,
    ) -> Result<(), KmsError> {
        self.reload_locked(mark, false)
    }

    fn reload_locked(
        &self,
        mark: &dyn Fn() -> Result<(), coffer_store::StoreError>,
        with_usage: bool,
    ) -> Result<(), KmsError> {
        let mut world = self.world.write();
        mark()?;
        let fresh = Kms::load(self.store.clone(), self.root.clone(), self.clock.clone())?;
        *world = std::mem::take(&mut *fresh.world.write());
        if with_usage {
            *self.usage.lock() = std::mem::take(&mut *fresh.usage.lock());
        }
        Ok(())
    }
}

/// A `kms_family` record (as stored, every material wrapped under `from`) with its material
/// re-wrapped under `to`: a state file's record moving to another deployment's root key.
pub fn transfer_family(bytes: &[u8], from: &RootKey, to: &RootKey) -> Result<Vec<u8>, KmsError> {
    let mut rec: FamilyRecord = serde_json::from_slice(bytes)?;
    let (account, key_id) = (rec.account.clone(), rec.key_id.clone());
    for m in rec.wrapped_mut() {
        let aad = material_aad(&account, &key_id, &m.id);
        let raw = from.unwrap(&aad, &b64(&m.wrapped)?)?;
        m.wrapped = base64::engine::general_purpose::STANDARD.encode(to.wrap(&aad, &raw)?);
    }
    Ok(serde_json::to_vec(&rec)?)
}
