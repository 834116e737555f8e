//! Multi-Region keys: ReplicateKey and UpdatePrimaryRegion (ADR 0003).

use crate::common::*;
use crate::ops::{self};
use crate::records::*;
use crate::state::{Family, World};
use crate::{key_arn, Kms, KmsError};
use coffer_core::RequestContext;
use coffer_model::kms::*;
use coffer_model::{ValidationError, Validator};
use coffer_store::Transaction;

/// What a new replica gets of its own: its region, description, policy and tags.
#[derive(Debug, Clone)]
pub(crate) struct ReplicaPlan {
    pub region: String,
    pub description: String,
    pub policy: String,
    pub tags: Vec<(String, String)>,
}

impl Kms {
    /// `ReplicateKey`: a replica of a multi-Region primary key in another Region.
    pub fn replicate_key(
        &self,
        ctx: &RequestContext,
        req: ReplicateKeyRequest,
    ) -> Result<ReplicateKeyResponse, KmsError> {
        let mut w = self.world.write();
        let (_, fam, plan) = self.replica_plan(&w, ctx, req)?;
        let replica = self.replica_record(&fam.rec, plan);
        let mut tx = Transaction::new();
        tx.put(
            KEY_TABLE,
            &replica.store_key(),
            serde_json::to_vec(&replica)?,
        );
        self.commit(&tx)?;
        w.put_key(replica.clone());
        let fam = w
            .family(&ctx.account_id, &replica.key_id)
            .ok_or_else(|| KmsError::Internal("family vanished".into()))?;
        Ok(self.replicate_response(&w, ctx.partition(), &replica, fam))
    }

    /// `ReplicateKey`'s answer for a replica just made.
    pub(crate) fn replicate_response(
        &self,
        w: &World,
        partition: &str,
        replica: &KeyRecord,
        fam: &Family,
    ) -> ReplicateKeyResponse {
        let mut md = self.metadata(w, partition, replica, fam);
        // The replica is usable as soon as this call returns; AWS reports it as still being made.
        md.key_state = "Creating".into();
        md.enabled = false;
        ReplicateKeyResponse {
            replica_key_metadata: md,
            replica_policy: replica.policy.clone(),
            replica_tags: wire_tags(&replica.tags),
        }
    }

    /// The new replica's regional record, from its family and what the request asked for.
    pub(crate) fn replica_record(&self, fam: &FamilyRecord, plan: ReplicaPlan) -> KeyRecord {
        KeyRecord {
            v: RECORD_VERSION,
            account: fam.account.clone(),
            region: plan.region,
            key_id: fam.key_id.clone(),
            description: plan.description,
            policy: plan.policy,
            // A replica of a key with imported material waits for the same material.
            state: if fam.origin == "EXTERNAL" {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            created: self.clock.now(),
            deletion_date: None,
            pending_window_days: None,
            tags: plan.tags,
            imported: None,
            imported_other: Vec::new(),
            tracking_start: Some(self.clock.now()),
        }
    }

    /// Validates a `ReplicateKey` request and checks it against its primary key (local or
    /// remote replica alike): the primary, its family and what the replica gets.
    pub(crate) fn replica_plan(
        &self,
        w: &World,
        ctx: &RequestContext,
        req: ReplicateKeyRequest,
    ) -> Result<(KeyRecord, Family, ReplicaPlan), KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("ReplicaRegion", &req.replica_region);
        v.length("ReplicaRegion", req.replica_region.as_deref(), 1, 32);
        v.pattern(
            "ReplicaRegion",
            req.replica_region.as_deref(),
            coffer_core::context::is_region_name,
            "^([a-z]+-){2,3}\\d+$",
        );
        validate_policy(&mut v, &req.policy);
        v.length("Description", req.description.as_deref(), 0, 8192);
        validate_tags(&mut v, &req.tags);
        v.finish()?;
        let replica_region = req.replica_region.clone().unwrap_or_default();
        let (key, fam) = self.resolve(
            w,
            ctx,
            ops::KmsAction::ReplicateKey.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        if !fam.rec.multi_region {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is not a multi-Region key."
            )));
        }
        if key.region != fam.rec.primary_region {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is not a multi-region primary key."
            )));
        }
        if coffer_core::context::partition_of(&replica_region) != ctx.partition()
            || replica_region == ctx.region
        {
            return Err(ValidationError {
                message: format!(
                    "The replica region {replica_region} is not valid for the primary key {arn}."
                ),
            }
            .into());
        }
        if w.key(&ctx.account_id, &replica_region, &key.key_id)
            .is_some()
            || fam.rec.remote_replicas.contains(&replica_region)
        {
            return Err(KmsError::AlreadyExists(format!(
                "{} already exists",
                key_arn(ctx.partition(), &replica_region, &key.account, &key.key_id)
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
        let plan = ReplicaPlan {
            region: replica_region,
            description: req.description.unwrap_or_default(),
            policy,
            tags,
        };
        Ok((key.clone(), fam.clone(), plan))
    }

    /// `UpdatePrimaryRegion`.
    pub fn update_primary_region(
        &self,
        ctx: &RequestContext,
        req: UpdatePrimaryRegionRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("PrimaryRegion", &req.primary_region);
        v.length("PrimaryRegion", req.primary_region.as_deref(), 1, 32);
        v.pattern(
            "PrimaryRegion",
            req.primary_region.as_deref(),
            coffer_core::context::is_region_name,
            "^([a-z]+-){2,3}\\d+$",
        );
        v.finish()?;
        let target = req.primary_region.unwrap_or_default();
        let mut w = self.world.write();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::UpdatePrimaryRegion.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        if !fam.rec.multi_region || key.region != fam.rec.primary_region {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is not a multi-Region primary key."
            )));
        }
        let target_arn = key_arn(ctx.partition(), &target, &key.account, &key.key_id);
        let Some(replica) = w.key(&ctx.account_id, &target, &key.key_id) else {
            return Err(KmsError::NotFound(format!(
                "Key '{target_arn}' does not exist"
            )));
        };
        // The replica that becomes the primary must be Enabled too, as the primary must: a
        // primary pending deletion would leave its replicas without one.
        let op = ops::KmsAction::UpdatePrimaryRegion.info();
        let state = self.effective_state(replica);
        if !ops::rule(op).accepts(state) {
            return Err(super::state_error(op, state, &target_arn));
        }
        let mut fam = fam.clone();
        fam.rec.primary_region = target;
        let mut tx = Transaction::new();
        tx.put(
            FAMILY_TABLE,
            &fam.rec.store_key(),
            serde_json::to_vec(&fam.rec)?,
        );
        self.commit(&tx)?;
        w.put_family(fam);
        Ok(Empty {})
    }
}
