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
                "{arn} has imported key material (origin EXTERNAL): KMS does not rotate it automatically, and Coffer does not support on-demand rotation of imported key material."
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
        // An EXTERNAL key rotates on demand to imported material pending rotation; Coffer keeps
        // none (a second NEW_KEY_MATERIAL import is refused), so AWS's answer for that state.
        if fam.rec.origin == "EXTERNAL" && fam.rec.key_manager != "AWS" {
            return Err(KmsError::InvalidState(format!(
                "No available key material pending rotation for the key: {arn}."
            )));
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
            // One imported material per family: listed with this Region's import state.
            fam.rec
                .imported_material_id
                .iter()
                .filter(|_| all)
                .map(|id| {
                    let here = imported.filter(|m| &m.material_id == id);
                    (
                        "00000000".to_string(),
                        RotationsListEntry {
                            key_id: arn.clone(),
                            key_material_id: id.clone(),
                            key_material_description: key
                                .imported
                                .as_ref()
                                .and_then(|m| m.description.clone()),
                            import_state: Some(
                                if here.is_some() {
                                    "IMPORTED"
                                } else {
                                    "PENDING_IMPORT"
                                }
                                .into(),
                            ),
                            key_material_state: "CURRENT".into(),
                            expiration_model: here.map(|m| m.expiration_model.clone()),
                            valid_to: here.and_then(|m| m.valid_to),
                            rotation_date: None,
                            rotation_type: None,
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
