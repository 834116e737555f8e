//! Key rotation: Enable/DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand and
//! ListKeyRotations.

use crate::common::*;
use crate::ops::{self};
use crate::records::*;
use crate::state::Family;
use crate::{key_arn, Kms, KmsError};
use coffer_core::RequestContext;
use coffer_model::kms::*;
use coffer_model::Validator;
use coffer_store::Transaction;
use std::sync::Arc;

impl Kms {
    pub(crate) fn rotation_allowed(
        ctx: &RequestContext,
        key: &KeyRecord,
        fam: &FamilyRecord,
    ) -> Result<(), KmsError> {
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        if fam.key_manager == "AWS" {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is an AWS managed key; its rotation is managed by AWS."
            )));
        }
        if fam.origin == "EXTERNAL" {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} has imported key material (origin EXTERNAL): KMS does not rotate it automatically. Import new key material and rotate it on demand with RotateKeyOnDemand."
            )));
        }
        if fam.multi_region && key.region != fam.primary_region {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is a multi-Region replica key. Manage automatic rotation on its primary key in {}.",
                fam.primary_region
            )));
        }
        Ok(())
    }

    /// `EnableKeyRotation`.
    pub fn enable_key_rotation(
        &self,
        ctx: &RequestContext,
        req: EnableKeyRotationRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.range(
            "RotationPeriodInDays",
            req.rotation_period_in_days,
            90,
            2560,
        );
        v.finish()?;
        let now = self.clock.now();
        self.update_family(
            ctx,
            ops::KmsAction::EnableKeyRotation.info(),
            req.key_id.as_deref().unwrap_or_default(),
            |key, fam| {
                Self::rotation_allowed(ctx, key, fam)?;
                let days = req
                    .rotation_period_in_days
                    .or(fam.rotation_period_days)
                    .unwrap_or(DEFAULT_ROTATION_DAYS);
                fam.rotation_enabled = true;
                fam.rotation_period_days = Some(days);
                fam.next_rotation = Some(now.plus_days(days));
                Ok(())
            },
        )?;
        Ok(Empty {})
    }

    /// `DisableKeyRotation`.
    pub fn disable_key_rotation(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<Empty, KmsError> {
        let id = Self::key_id_only(&req)?;
        self.update_family(
            ctx,
            ops::KmsAction::DisableKeyRotation.info(),
            &id,
            |key, fam| {
                Self::rotation_allowed(ctx, key, fam)?;
                fam.rotation_enabled = false;
                fam.next_rotation = None;
                Ok(())
            },
        )?;
        Ok(Empty {})
    }

    /// `GetKeyRotationStatus`.
    pub fn get_key_rotation_status(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        let id = Self::key_id_only(&req)?;
        let w = self.world.read();
        let (key, fam) = self.resolve(&w, ctx, ops::KmsAction::GetKeyRotationStatus.info(), &id)?;
        let enabled = fam.rec.rotation_enabled;
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: enabled,
            key_id: key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
            rotation_period_in_days: if enabled {
                fam.rec.rotation_period_days
            } else {
                None
            },
            next_rotation_date: if enabled { fam.rec.next_rotation } else { None },
        })
    }

    /// `RotateKeyOnDemand`: new material for the whole family now; earlier ciphertexts still decrypt.
    pub fn rotate_key_on_demand(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<KeyIdResponse, KmsError> {
        let id = Self::key_id_only(&req)?;
        let mut w = self.world.write();
        let (key, fam) = self
            .resolve(&w, ctx, ops::KmsAction::RotateKeyOnDemand.info(), &id)
            .map_err(|e| match e {
                // Only symmetric encryption keys rotate; AWS refuses the others with no message.
                KmsError::UnsupportedOperation(m) if m.contains(" key spec is ") => {
                    KmsError::UnsupportedOperation(String::new())
                }
                e => e,
            })?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        // An EXTERNAL key rotates on demand to the material imported for it with
        // NEW_KEY_MATERIAL (single-Region symmetric keys only; none is pending otherwise).
        if fam.rec.origin == "EXTERNAL" && fam.rec.key_manager != "AWS" {
            let key = key.clone();
            let fam = fam.clone();
            return self.rotate_to_imported(&mut w, key, fam, arn);
        }
        Self::rotation_allowed(ctx, key, &fam.rec)?;
        let done = fam
            .rec
            .materials
            .iter()
            .filter(|m| m.rotation_type.as_deref() == Some("ON_DEMAND"))
            .count();
        if done >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::LimitExceeded(format!(
                "{arn} has reached the maximum of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations."
            )));
        }
        let mut rec = fam.rec.clone();
        let material = self.add_material(
            &mut rec,
            Self::generate_material(coffer_crypto::asymmetric::KeySpec::SymmetricDefault)?,
            Some("ON_DEMAND"),
        )?;
        let mut tx = Transaction::new();
        tx.put(FAMILY_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        let materials = Self::with_material(fam, material);
        w.put_family(Family { rec, materials });
        Ok(KeyIdResponse { key_id: arn })
    }

    /// `RotateKeyOnDemand` of an `EXTERNAL` key: its material pending rotation becomes current.
    fn rotate_to_imported(
        &self,
        w: &mut crate::state::World,
        mut key: KeyRecord,
        mut fam: Family,
        arn: String,
    ) -> Result<KeyIdResponse, KmsError> {
        let Some(mut pending) = fam.rec.pending_material.take() else {
            return Err(KmsError::InvalidState(format!(
                "No available key material pending rotation for the key: {arn}."
            )));
        };
        if fam.rec.rotated_imports.len() >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::LimitExceeded(format!(
                "{arn} has reached the maximum of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations."
            )));
        }
        let Some(at) = key
            .imported_other
            .iter()
            .position(|m| m.material_id == pending.id)
        else {
            return Err(KmsError::Internal(
                "material pending rotation without import record".into(),
            ));
        };
        let now = self.clock.now();
        let material = self.unwrap_material(&fam.rec, &pending)?;
        let incoming = key.imported_other.remove(at);
        if let Some(previous) = key.imported.replace(incoming) {
            key.imported_other.push(previous);
        }
        key.v = RECORD_VERSION;
        pending.rotation_type = Some("ON_DEMAND".into());
        fam.rec.rotated_imports.push(RotatedImport {
            material_id: pending.id.clone(),
            rotation_date: now,
        });
        fam.rec.materials.push(pending);
        fam.rec.v = RECORD_VERSION;
        fam.materials.push(Arc::new(material));
        let mut tx = Transaction::new();
        tx.put(
            FAMILY_TABLE,
            &fam.rec.store_key(),
            serde_json::to_vec(&fam.rec)?,
        );
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        self.commit(&tx)?;
        w.put_family(fam);
        w.put_key(key);
        Ok(KeyIdResponse { key_id: arn })
    }

    pub(crate) fn with_material(
        fam: &Family,
        material: super::state::Material,
    ) -> Vec<Arc<super::state::Material>> {
        let mut materials = fam.materials.clone();
        materials.push(Arc::new(material));
        materials
    }

    /// `ListKeyRotations`.
    pub fn list_key_rotations(
        &self,
        ctx: &RequestContext,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.one_of(
            "IncludeKeyMaterial",
            req.include_key_material.as_deref(),
            &["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"],
        );
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::ListKeyRotations.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        let all = req.include_key_material.as_deref() == Some("ALL_KEY_MATERIAL");
        let last = fam.rec.materials.len().saturating_sub(1);
        let external = fam.rec.origin == "EXTERNAL";
        let imported = key
            .imported
            .as_ref()
            .filter(|_| self.effective_state(key) != KeyState::PendingImport);
        let items: Vec<(String, RotationsListEntry)> = if external {
            // Every material associated with the key, oldest first, then the one pending
            // rotation; each with this Region's import of it.
            let current = fam.rec.current_imported_id();
            let pending = fam.rec.pending_material.as_ref().map(|m| m.id.as_str());
            let rotated = |id: &str| {
                fam.rec
                    .rotated_imports
                    .iter()
                    .find(|r| r.material_id == id)
                    .map(|r| r.rotation_date)
            };
            fam.rec
                .associated_imported_ids()
                .chain(pending)
                .map(|id| (id, rotated(id)))
                .filter(|(_, date)| all || date.is_some())
                .enumerate()
                .map(|(i, (id, date))| {
                    let held = if Some(id) == current {
                        imported.filter(|m| m.material_id == id)
                    } else {
                        key.imported_other.iter().find(|m| m.material_id == id)
                    };
                    let state = if Some(id) == current {
                        "CURRENT"
                    } else if Some(id) == pending {
                        "PENDING_ROTATION"
                    } else {
                        "NON_CURRENT"
                    };
                    (
                        format!("{i:08}"),
                        RotationsListEntry {
                            key_id: arn.clone(),
                            key_material_id: id.to_string(),
                            key_material_description: key
                                .imported
                                .iter()
                                .chain(key.imported_other.iter())
                                .find(|m| m.material_id == id)
                                .and_then(|m| m.description.clone()),
                            import_state: Some(
                                if held.is_some() {
                                    "IMPORTED"
                                } else {
                                    "PENDING_IMPORT"
                                }
                                .into(),
                            ),
                            key_material_state: state.into(),
                            expiration_model: held.map(|m| m.expiration_model.clone()),
                            valid_to: held.and_then(|m| m.valid_to),
                            rotation_date: date,
                            rotation_type: date.map(|_| "ON_DEMAND".to_string()),
                        },
                    )
                })
                .collect()
        } else {
            fam.rec
                .materials
                .iter()
                .enumerate()
                .filter(|(_, m)| all || m.rotation_type.is_some())
                .map(|(i, m)| {
                    (
                        format!("{i:08}"),
                        RotationsListEntry {
                            key_id: arn.clone(),
                            key_material_id: m.id.clone(),
                            key_material_description: None,
                            import_state: None,
                            key_material_state: if i == last { "CURRENT" } else { "NON_CURRENT" }
                                .into(),
                            expiration_model: None,
                            valid_to: None,
                            rotation_date: m.rotation_type.is_some().then_some(m.created),
                            rotation_type: m.rotation_type.clone(),
                        },
                    )
                })
                .collect()
        };
        let (rotations, next) = page(items, req.limit, 100, 1000, req.marker.as_deref())?;
        Ok(ListKeyRotationsResponse {
            rotations,
            truncated: next.is_some(),
            next_marker: next,
        })
    }
}
