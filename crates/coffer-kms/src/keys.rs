//! Keys: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, UpdateKeyDescription, and
//! Schedule/CancelKeyDeletion.

use crate::common::*;
use crate::ops::{self, KeyOp};
use crate::records::*;
use crate::state::{Family, World};
use crate::{key_arn, Kms, KmsError};
use coffer_core::RequestContext;
use coffer_crypto::asymmetric::KeySpec;
use coffer_model::kms::*;
use coffer_model::{ValidationError, Validator};
use coffer_store::Transaction;
use std::sync::Arc;

impl Kms {
    /// The whole `KeyMetadata` of a regional key.
    pub(crate) fn metadata(
        &self,
        w: &World,
        partition: &str,
        key: &KeyRecord,
        fam: &Family,
    ) -> KeyMetadata {
        let arn = key_arn(partition, &key.region, &key.account, &key.key_id);
        let mrc = fam.rec.multi_region.then(|| {
            let related = w.related_keys(&key.account, &key.key_id);
            let primary_region = fam.rec.primary_region.clone();
            MultiRegionConfiguration {
                multi_region_key_type: if key.region == primary_region {
                    "PRIMARY"
                } else {
                    "REPLICA"
                }
                .to_string(),
                primary_key: MultiRegionKey {
                    arn: key_arn(partition, &primary_region, &key.account, &key.key_id),
                    region: primary_region.clone(),
                },
                replica_keys: related
                    .iter()
                    .map(|k| k.region.as_str())
                    .chain(fam.rec.remote_replicas.iter().map(String::as_str))
                    .filter(|r| *r != primary_region)
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|r| MultiRegionKey {
                        arn: key_arn(partition, r, &key.account, &key.key_id),
                        region: r.to_string(),
                    })
                    .collect(),
            }
        });
        let algorithms = Algorithms::of(&fam.rec);
        let state = self.effective_state(key);
        let imported = key
            .imported
            .as_ref()
            .filter(|_| state != KeyState::PendingImport);
        let external = fam.rec.origin == "EXTERNAL";
        KeyMetadata {
            aws_account_id: key.account.clone(),
            key_id: key.key_id.clone(),
            arn,
            creation_date: key.created,
            enabled: state == KeyState::Enabled,
            description: key.description.clone(),
            key_usage: fam.rec.key_usage.clone(),
            key_state: state.as_str().to_string(),
            deletion_date: key.deletion_date,
            origin: fam.rec.origin.clone(),
            key_manager: fam.rec.key_manager.clone(),
            customer_master_key_spec: fam.rec.key_spec.clone(),
            key_spec: fam.rec.key_spec.clone(),
            encryption_algorithms: algorithms.encryption,
            signing_algorithms: algorithms.signing,
            mac_algorithms: algorithms.mac,
            key_agreement_algorithms: algorithms.key_agreement,
            encapsulation_algorithms: algorithms.encapsulation,
            multi_region: fam.rec.multi_region,
            multi_region_configuration: mrc,
            pending_deletion_window_in_days: (key.state == KeyState::PendingReplicaDeletion)
                .then_some(key.pending_window_days)
                .flatten(),
            // Only symmetric encryption keys have key material IDs.
            current_key_material_id: if fam.rec.key_spec != "SYMMETRIC_DEFAULT" {
                None
            } else if external {
                imported.map(|m| m.material_id.clone())
            } else {
                fam.rec.materials.last().map(|m| m.id.clone())
            },
            valid_to: imported.and_then(|m| m.valid_to),
            expiration_model: imported.map(|m| m.expiration_model.clone()),
        }
    }

    /// Creates a key family and its first regional key, committing both.
    pub(crate) fn create_key_internal(
        &self,
        w: &mut World,
        ctx: &RequestContext,
        new: NewKey,
    ) -> Result<KeyRecord, KmsError> {
        let NewKey {
            spec,
            usage,
            material,
            multi_region,
            key_manager,
            description,
            policy,
            tags,
            fixed,
        } = new;
        let origin = if material.is_some() && !fixed.external {
            "AWS_KMS"
        } else {
            "EXTERNAL"
        };
        let key_id = fixed.key_id.unwrap_or_else(|| new_key_id(multi_region));
        let mut fam = FamilyRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            key_id: key_id.clone(),
            key_spec: spec.as_str().into(),
            key_usage: usage.into(),
            origin: origin.into(),
            key_manager: key_manager.into(),
            multi_region,
            primary_region: ctx.region.clone(),
            rotation_enabled: key_manager == "AWS"
                && spec == coffer_crypto::asymmetric::KeySpec::SymmetricDefault,
            rotation_period_days: (key_manager == "AWS").then_some(DEFAULT_ROTATION_DAYS),
            next_rotation: (key_manager == "AWS")
                .then(|| self.clock.now().plus_days(DEFAULT_ROTATION_DAYS)),
            materials: Vec::new(),
            imported_material_id: None,
            rotated_imports: Vec::new(),
            pending_material: None,
            remote_replicas: Vec::new(),
        };
        let material = match (material, fixed.material_id) {
            (Some(m), Some(id)) => Some(self.add_material_with_id(&mut fam, m, None, id)?),
            (Some(m), None) => Some(self.add_material(&mut fam, m, None)?),
            (None, _) => None,
        };
        let now = self.clock.now();
        let imported = match (&material, fixed.external) {
            (Some(m), true) => {
                let id = hex::encode(m.id);
                fam.imported_material_id = Some(id.clone());
                Some(ImportedMaterial {
                    material_id: id,
                    expiration_model: "KEY_MATERIAL_DOES_NOT_EXPIRE".into(),
                    valid_to: None,
                    description: None,
                    imported_at: now,
                })
            }
            _ => None,
        };
        let key = KeyRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            key_id,
            description,
            policy,
            state: if material.is_some() {
                KeyState::Enabled
            } else {
                KeyState::PendingImport
            },
            created: now,
            deletion_date: None,
            pending_window_days: None,
            tags,
            imported,
            imported_other: Vec::new(),
            tracking_start: Some(now),
        };
        let mut tx = Transaction::new();
        tx.put(FAMILY_TABLE, &fam.store_key(), serde_json::to_vec(&fam)?);
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        self.commit(&tx)?;
        w.put_family(Family {
            rec: fam,
            materials: material.into_iter().map(Arc::new).collect(),
        });
        w.put_key(key.clone());
        Ok(key)
    }

    /// `CreateKey`.
    pub fn create_key(
        &self,
        ctx: &RequestContext,
        req: CreateKeyRequest,
    ) -> Result<KeyMetadataResponse, KmsError> {
        self.create_key_fixed(ctx, req, None, None)
    }

    /// `CreateKey` with a seed file's fixed key ID and material (checked against the spec);
    /// `fixed_material` is the raw material with whether it is `EXTERNAL`.
    pub(crate) fn create_key_fixed(
        &self,
        ctx: &RequestContext,
        req: CreateKeyRequest,
        fixed_id: Option<String>,
        fixed_material: Option<(&[u8], bool)>,
    ) -> Result<KeyMetadataResponse, KmsError> {
        let mut v = Validator::new();
        validate_policy(&mut v, &req.policy);
        v.length("Description", req.description.as_deref(), 0, 8192);
        v.one_of("KeyUsage", req.key_usage.as_deref(), KEY_USAGES);
        v.one_of(
            "CustomerMasterKeySpec",
            req.customer_master_key_spec.as_deref(),
            CUSTOMER_MASTER_KEY_SPECS,
        );
        v.one_of("KeySpec", req.key_spec.as_deref(), KEY_SPECS);
        v.one_of("Origin", req.origin.as_deref(), ORIGINS);
        v.length(
            "CustomKeyStoreId",
            req.custom_key_store_id.as_deref(),
            1,
            64,
        );
        v.length("XksKeyId", req.xks_key_id.as_deref(), 1, 128);
        validate_tags(&mut v, &req.tags);
        v.finish()?;
        if req.key_spec.is_some() && req.customer_master_key_spec.is_some() {
            return Err(ValidationError {
                message: "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.".into(),
            }
            .into());
        }
        let spec = req
            .key_spec
            .as_deref()
            .or(req.customer_master_key_spec.as_deref())
            .unwrap_or("SYMMETRIC_DEFAULT");
        let spec: KeySpec = spec
            .parse()
            .map_err(|_| KmsError::Internal(format!("validated key spec {spec} unknown")))?;
        if spec == KeySpec::Sm2 {
            return Err(KmsError::UnsupportedOperation(
                if ctx.region.starts_with("cn-") {
                    "Coffer does not support the SM2 key spec: it has no SM2 implementation.".into()
                } else {
                    format!("KeySpec SM2 is not supported in {}; it is available only in the China Regions.", ctx.region)
                },
            ));
        }
        // Without a KeyUsage AWS defaults to ENCRYPT_DECRYPT; a spec that cannot encrypt (HMAC,
        // ECC) is refused with this message rather than an incompatibility.
        if req.key_usage.is_none()
            && !spec
                .key_usages()
                .iter()
                .any(|u| u.as_str() == "ENCRYPT_DECRYPT")
        {
            return Err(ValidationError {
                message: "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into(),
            }
            .into());
        }
        let usage = req.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT");
        if !spec.key_usages().iter().any(|u| u.as_str() == usage) {
            return Err(ValidationError {
                message: format!("KeyUsage {usage} is not compatible with KeySpec {spec}"),
            }
            .into());
        }
        let usage: &'static str = KEY_USAGES
            .iter()
            .find(|u| **u == usage)
            .copied()
            .unwrap_or("ENCRYPT_DECRYPT");
        let origin = req.origin.as_deref().unwrap_or("AWS_KMS");
        Self::check_no_custom_key_store(req.custom_key_store_id.as_deref())?;
        if !matches!(origin, "AWS_KMS" | "EXTERNAL") || req.xks_key_id.is_some() {
            return Err(KmsError::UnsupportedOperation(format!(
                "Origin {origin} requires a custom key store; Coffer has no custom key stores."
            )));
        }
        let policy = match req.policy {
            Some(p) => {
                check_policy_document(&p)?;
                p
            }
            None => default_policy(ctx.partition(), &ctx.account_id),
        };
        let mut tags = Vec::new();
        merge_tags(&mut tags, req.tags.as_deref().unwrap_or_default())?;
        let mut fixed = crate::seed::Fixed {
            key_id: fixed_id,
            ..Default::default()
        };
        let material = match fixed_material {
            Some((raw, external)) => {
                let multi = req.multi_region.unwrap_or(false);
                let key_id = fixed
                    .key_id
                    .get_or_insert_with(|| new_key_id(multi))
                    .clone();
                fixed.material_id = Some(crate::seed::seeded_material_id(
                    &ctx.account_id,
                    &key_id,
                    raw,
                ));
                fixed.external = external;
                Some(Self::check_material(spec, raw)?)
            }
            None if origin == "EXTERNAL" => None,
            None => Some(Self::generate_material(spec)?),
        };
        let mut w = self.world.write();
        if let Some(id) = &fixed.key_id {
            if w.family(&ctx.account_id, id).is_some() {
                return Err(KmsError::AlreadyExists(format!(
                    "A KMS key with ID {id} already exists in account {}.",
                    ctx.account_id
                )));
            }
        }
        let new = NewKey {
            spec,
            usage,
            material,
            multi_region: req.multi_region.unwrap_or(false),
            key_manager: "CUSTOMER",
            description: req.description.unwrap_or_default(),
            policy,
            tags,
            fixed,
        };
        let key = self.create_key_internal(&mut w, ctx, new)?;
        let fam = w
            .family(&ctx.account_id, &key.key_id)
            .ok_or_else(|| KmsError::Internal("family vanished".into()))?;
        Ok(KeyMetadataResponse {
            key_metadata: self.metadata(&w, ctx.partition(), &key, fam),
        })
    }

    /// `DescribeKey`.
    pub fn describe_key(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<KeyMetadataResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        self.ensure_predefined_alias(ctx, req.key_id.as_deref().unwrap_or_default())?;
        let w = self.world.read();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::DescribeKey.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        Ok(KeyMetadataResponse {
            key_metadata: self.metadata(&w, ctx.partition(), key, fam),
        })
    }

    /// DescribeKey of a predefined AWS alias (`alias/aws/ebs`, by name or by its ARN in the
    /// caller's account and Region) whose AWS managed key does not exist yet makes the key, as AWS
    /// does, so the answer describes it.
    fn ensure_predefined_alias(&self, ctx: &RequestContext, key_ref: &str) -> Result<(), KmsError> {
        let own_prefix = format!(
            "arn:{}:kms:{}:{}:",
            ctx.partition(),
            ctx.region,
            ctx.account_id
        );
        let name = key_ref.strip_prefix(&own_prefix).unwrap_or(key_ref);
        if !crate::provider::AWS_MANAGED_ALIASES
            .iter()
            .any(|(a, _)| *a == name)
        {
            return Ok(());
        }
        if self
            .world
            .read()
            .region(&ctx.account_id, &ctx.region)
            .is_some_and(|r| r.aliases.contains_key(name))
        {
            return Ok(());
        }
        let mut w = self.world.write();
        self.aws_managed_key(&mut w, ctx, name).map(|_| ())
    }

    /// `ListKeys`.
    ///
    /// `ResourceOwners`: `SELF` lists the caller's keys in the Region, `OTHER_ACCOUNTS_VIA_RAM`
    /// the keys other accounts share with the caller through AWS RAM, after the caller's own when
    /// both are given; absent means `SELF`. Coffer has no RAM and no cross-account key use (every
    /// key is reached only from its own account), so no account shares a key and the shared part
    /// is always empty: `[OTHER_ACCOUNTS_VIA_RAM]` lists nothing, and with both values the listing
    /// ends with the caller's last key. A value given twice counts once. Markers name the
    /// caller's last listed key, so a request for shared keys alone, which never returns a
    /// marker, refuses one (AWS: a marker is only good for the `ResourceOwners` that returned it).
    pub fn list_keys(
        &self,
        ctx: &RequestContext,
        req: ListKeysRequest,
    ) -> Result<ListKeysResponse, KmsError> {
        let mut v = Validator::new();
        validate_list(&mut v, req.limit, req.marker.as_deref());
        let owners = req.resource_owners.as_deref();
        v.count("ResourceOwners", owners.map(<[String]>::len), 1, 2);
        for (i, owner) in owners.into_iter().flatten().enumerate() {
            v.one_of(
                &format!("ResourceOwners.{}.member", i + 1),
                Some(owner),
                RESOURCE_OWNERS,
            );
        }
        v.finish()?;
        let own = owners.is_none_or(|o| o.iter().any(|x| x == "SELF"));
        if !own {
            if req.marker.is_some() {
                return Err(KmsError::InvalidMarker("Invalid marker".into()));
            }
            return Ok(ListKeysResponse {
                keys: Vec::new(),
                truncated: false,
                next_marker: None,
            });
        }
        let w = self.world.read();
        let items: Vec<(String, KeyListEntry)> = w
            .region(&ctx.account_id, &ctx.region)
            .map(|r| {
                r.keys
                    .values()
                    .map(|k| {
                        (
                            k.key_id.clone(),
                            KeyListEntry {
                                key_id: k.key_id.clone(),
                                key_arn: key_arn(ctx.partition(), &k.region, &k.account, &k.key_id),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (keys, next) = page(items, req.limit, 100, 1000, req.marker.as_deref())?;
        Ok(ListKeysResponse {
            keys,
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    /// Applies `change` to the regional key that `key_ref` names for `op`, commits, returns it.
    pub(crate) fn update_key(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let mut w = self.world.write();
        let (key, _) = self.resolve(&w, ctx, op, key_ref)?;
        let mut key = key.clone();
        change(&mut key)?;
        let mut tx = Transaction::new();
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        self.commit(&tx)?;
        w.put_key(key.clone());
        Ok(key)
    }

    /// Applies `change` to the family of the key `key_ref` names for `op`, commits.
    pub(crate) fn update_family(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
        change: impl FnOnce(&KeyRecord, &mut FamilyRecord) -> Result<(), KmsError>,
    ) -> Result<(), KmsError> {
        let mut w = self.world.write();
        let (key, fam) = self.resolve(&w, ctx, op, key_ref)?;
        let mut fam = fam.clone();
        change(key, &mut fam.rec)?;
        let mut tx = Transaction::new();
        tx.put(
            FAMILY_TABLE,
            &fam.rec.store_key(),
            serde_json::to_vec(&fam.rec)?,
        );
        self.commit(&tx)?;
        w.put_family(fam);
        Ok(())
    }

    /// `EnableKey`.
    pub fn enable_key(&self, ctx: &RequestContext, req: KeyIdRequest) -> Result<Empty, KmsError> {
        let id = Self::key_id_only(&req)?;
        self.update_key(ctx, ops::KmsAction::EnableKey.info(), &id, |k| {
            k.state = KeyState::Enabled;
            Ok(())
        })?;
        Ok(Empty {})
    }

    /// `DisableKey`.
    pub fn disable_key(&self, ctx: &RequestContext, req: KeyIdRequest) -> Result<Empty, KmsError> {
        let id = Self::key_id_only(&req)?;
        self.update_key(ctx, ops::KmsAction::DisableKey.info(), &id, |k| {
            k.state = KeyState::Disabled;
            Ok(())
        })?;
        Ok(Empty {})
    }

    /// `ScheduleKeyDeletion`.
    pub fn schedule_key_deletion(
        &self,
        ctx: &RequestContext,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.range("PendingWindowInDays", req.pending_window_in_days, 7, 30);
        v.finish()?;
        let days = req.pending_window_in_days.unwrap_or(30);
        let now = self.clock.now();
        let mut w = self.world.write();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::ScheduleKeyDeletion.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        if fam.rec.key_manager == "AWS" {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is an AWS managed key and cannot be deleted."
            )));
        }
        let has_replicas = fam.rec.multi_region
            && key.region == fam.rec.primary_region
            && w.related_keys(&key.account, &key.key_id).len() > 1;
        let mut key = key.clone();
        key.pending_window_days = Some(days);
        if has_replicas {
            key.state = KeyState::PendingReplicaDeletion;
            key.deletion_date = None;
        } else {
            key.state = KeyState::PendingDeletion;
            key.deletion_date = Some(now.plus_days(days));
        }
        let mut tx = Transaction::new();
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        self.commit(&tx)?;
        let resp = ScheduleKeyDeletionResponse {
            key_id: arn,
            deletion_date: key.deletion_date,
            key_state: key.state.as_str().to_string(),
            pending_window_in_days: days,
        };
        w.put_key(key);
        Ok(resp)
    }

    /// `CancelKeyDeletion`: the key comes back disabled.
    pub fn cancel_key_deletion(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<KeyIdResponse, KmsError> {
        let id = Self::key_id_only(&req)?;
        let external = {
            let w = self.world.read();
            let (_, fam) = self.resolve(&w, ctx, ops::KmsAction::CancelKeyDeletion.info(), &id)?;
            fam.rec.origin == "EXTERNAL"
        };
        let now = self.clock.now();
        let key = self.update_key(ctx, ops::KmsAction::CancelKeyDeletion.info(), &id, |k| {
            // A key without (unexpired) imported material goes back to waiting for it.
            let holds = k
                .imported
                .as_ref()
                .is_some_and(|m| m.valid_to.is_none_or(|t| t > now));
            k.state = if external && !holds {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            k.deletion_date = None;
            k.pending_window_days = None;
            Ok(())
        })?;
        Ok(KeyIdResponse {
            key_id: key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
        })
    }

    /// `UpdateKeyDescription`.
    pub fn update_key_description(
        &self,
        ctx: &RequestContext,
        req: UpdateKeyDescriptionRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("Description", &req.description);
        v.length("Description", req.description.as_deref(), 0, 8192);
        v.finish()?;
        let description = req.description.unwrap_or_default();
        self.update_key(
            ctx,
            ops::KmsAction::UpdateKeyDescription.info(),
            req.key_id.as_deref().unwrap_or_default(),
            |k| {
                k.description = description;
                Ok(())
            },
        )?;
        Ok(Empty {})
    }
}

/// A fresh key ID: `mrk-` and 32 hex digits for a multi-Region key, a UUID otherwise.
fn new_key_id(multi_region: bool) -> String {
    if multi_region {
        format!("mrk-{}", uuid::Uuid::new_v4().simple())
    } else {
        uuid::Uuid::new_v4().to_string()
    }
}
