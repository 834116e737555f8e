//! Work that falls due: scheduled rotations, deletions at the end of their waiting period,
//! expiring imported material.

use crate::common::*;
use crate::records::*;
use crate::state::Family;
use crate::{Kms, KmsError};
use coffer_model::Timestamp;
use coffer_store::Transaction;

impl Kms {
    /// Deletes every key whose waiting period has ended (and its aliases), starts the waiting period
    /// of primaries whose last replica went, and rotates material that is due. Returns how many keys
    /// were deleted.
    pub fn run_due(&self) -> Result<usize, KmsError> {
        let now = self.clock.now();
        let mut w = self.world.write();
        let mut deleted = 0;
        let mut events = Vec::new();
        // Keys past their deletion date.
        let due: Vec<KeyRecord> = w
            .regions
            .values()
            .flat_map(|rs| rs.values())
            .flat_map(|r| r.keys.values())
            .filter(|k| {
                k.state == KeyState::PendingDeletion && k.deletion_date.is_some_and(|d| d <= now)
            })
            .cloned()
            .collect();
        for key in due {
            let mut tx = Transaction::new();
            tx.delete(KEY_TABLE, &key.store_key());
            let aliases: Vec<AliasRecord> = w
                .region(&key.account, &key.region)
                .map(|r| {
                    r.aliases
                        .values()
                        .filter(|a| a.target_key_id == key.key_id)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            for a in &aliases {
                tx.delete(ALIAS_TABLE, &a.store_key());
            }
            let grants: Vec<String> = w
                .region(&key.account, &key.region)
                .map(|r| {
                    r.grants
                        .values()
                        .filter(|g| g.key_id == key.key_id)
                        .map(|g| g.grant_id.clone())
                        .collect()
                })
                .unwrap_or_default();
            for g in &grants {
                tx.delete(GRANT_TABLE, &format!("{}/{}/{g}", key.account, key.region));
            }
            tx.delete(LAST_USE_TABLE, &key.store_key());
            let tokens: Vec<String> = w
                .imports
                .iter()
                .filter(|(_, t)| {
                    t.account == key.account && t.region == key.region && t.key_id == key.key_id
                })
                .map(|(k, _)| k.clone())
                .collect();
            for t in &tokens {
                tx.delete(IMPORT_TABLE, t);
            }
            let remaining: Vec<KeyRecord> = w
                .related_keys(&key.account, &key.key_id)
                .into_iter()
                .filter(|k| k.region != key.region)
                .cloned()
                .collect();
            let mut primary_update = None;
            let mut pruned = None;
            if remaining.is_empty() {
                tx.delete(FAMILY_TABLE, &format!("{}/{}", key.account, key.key_id));
            } else {
                pruned = Self::prune_imported(&w, &key, true);
                if let Some(f) = &pruned {
                    tx.put(
                        FAMILY_TABLE,
                        &f.rec.store_key(),
                        serde_json::to_vec(&f.rec)?,
                    );
                }
            }
            if remaining.len() == 1 && remaining[0].state == KeyState::PendingReplicaDeletion {
                let mut p = remaining[0].clone();
                p.state = KeyState::PendingDeletion;
                p.deletion_date = Some(now.plus_days(p.pending_window_days.unwrap_or(30)));
                tx.put(KEY_TABLE, &p.store_key(), serde_json::to_vec(&p)?);
                primary_update = Some(p);
            }
            self.commit(&tx)?;
            let region = w.region_mut(&key.account, &key.region);
            region.keys.remove(&key.key_id);
            for a in aliases {
                region.aliases.remove(&a.name);
            }
            for g in grants {
                region.grants.remove(&g);
            }
            if remaining.is_empty() {
                if let Some(f) = w.families.get_mut(&key.account) {
                    f.remove(&key.key_id);
                }
            }
            if let Some(p) = primary_update {
                w.put_key(p);
            }
            if let Some(f) = pruned {
                w.put_family(f);
            }
            for t in tokens {
                w.imports.remove(&t);
            }
            self.forget_use(&key);
            events.push(Self::key_event(
                "DeleteKey",
                &key.account,
                &key.region,
                &key.key_id,
                Vec::new(),
            ));
            deleted += 1;
        }
        // Imported material past its ValidTo; expired import parameters.
        self.expire_imports(&mut w, now)?;
        // Automatic rotation that is due.
        let rotate: Vec<Family> = w
            .families
            .values()
            .flat_map(|f| f.values())
            .filter(|f| {
                f.rec.rotation_enabled
                    && f.rec.origin != "EXTERNAL"
                    && f.rec.next_rotation.is_some_and(|d| d <= now)
                    // A replica whose primary a federation peer holds gets its material from
                    // the primary (ADR 0021), never rotates on its own.
                    && w.key(&f.rec.account, &f.rec.primary_region, &f.rec.key_id)
                        .is_some()
            })
            .cloned()
            .collect();
        for fam in rotate {
            let mut rec = fam.rec.clone();
            let material = self.add_material(
                &mut rec,
                Self::generate_material(coffer_crypto::asymmetric::KeySpec::SymmetricDefault)?,
                Some("AUTOMATIC"),
            )?;
            rec.next_rotation =
                Some(now.plus_days(rec.rotation_period_days.unwrap_or(DEFAULT_ROTATION_DAYS)));
            let mut tx = Transaction::new();
            tx.put(FAMILY_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
            self.commit(&tx)?;
            let materials = Self::with_material(&fam, material);
            events.push(Self::key_event(
                "RotateKey",
                &rec.account,
                &rec.primary_region,
                &rec.key_id,
                vec![("rotationType", "AUTOMATIC".to_string())],
            ));
            w.put_family(Family { rec, materials });
            metrics::counter!("coffer_rotation_runs_total", "kind" => "key").increment(1);
        }
        drop(w);
        self.report(events);
        self.flush_usage()?;
        Ok(deleted)
    }

    /// How many regional keys there are in each key state (AWS's state names), every account
    /// and Region together: what metrics and `coffer status` report.
    pub fn key_counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let w = self.world.read();
        let mut out = std::collections::BTreeMap::new();
        for k in w
            .regions
            .values()
            .flat_map(|rs| rs.values())
            .flat_map(|r| r.keys.values())
        {
            *out.entry(k.state.as_str()).or_insert(0) += 1;
        }
        out
    }

    /// The earliest instant at which [`Kms::run_due`] has work, if any.
    pub fn next_due(&self) -> Option<Timestamp> {
        let w = self.world.read();
        let deletions = w
            .regions
            .values()
            .flat_map(|rs| rs.values())
            .flat_map(|r| r.keys.values())
            .filter_map(|k| {
                (k.state == KeyState::PendingDeletion)
                    .then_some(k.deletion_date)
                    .flatten()
            });
        let rotations = w
            .families
            .values()
            .flat_map(|f| f.values())
            .filter_map(|f| {
                f.rec
                    .rotation_enabled
                    .then_some(f.rec.next_rotation)
                    .flatten()
            });
        deletions
            .chain(rotations)
            .chain(Self::next_import_due(&w))
            .min()
    }
}
