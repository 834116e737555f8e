//! CreateSecret, DescribeSecret, UpdateSecret, DeleteSecret (with its recovery window) and
//! RestoreSecret.

use super::*;

impl SecretsManager {
    /// CreateSecret.
    pub fn create_secret(
        &self,
        ctx: &RequestContext,
        req: CreateSecretRequest,
    ) -> Result<CreateSecretResponse, SmError> {
        let mut v = Validator::new();
        v.required("Name", &req.name);
        v.length("Name", req.name.as_deref(), 1, 512);
        check_token(&mut v, &req.client_request_token);
        v.length("Description", req.description.as_deref(), 0, 2048);
        v.length("KmsKeyId", req.kms_key_id.as_deref(), 0, 2048);
        check_value(&mut v, &req.secret_string, &req.secret_binary);
        if let Some(tags) = &req.tags {
            check_tags(&mut v, tags);
        }
        check_replica_regions(&mut v, &req.add_replica_regions);
        v.length("Type", req.secret_type.as_deref(), 0, 256);
        v.length(
            "CrossAccountPrimaryARN",
            req.cross_account_primary_arn.as_deref(),
            20,
            2048,
        );
        finish(v)?;
        let name = req.name.clone().unwrap_or_default();
        if !valid_name(&name) {
            return Err(SmError::validation(INVALID_NAME));
        }
        let cross_primary = blank_to_none(&req.cross_account_primary_arn);
        if let Some(primary) = &cross_primary {
            Self::check_cross_account_create(ctx, &req, primary)?;
        }
        check_system_tags(req.tags.iter().flatten().filter_map(|t| t.key.as_deref()))?;
        if req.secret_string.is_some() && req.secret_binary.is_some() {
            return Err(SmError::InvalidParameter(BOTH_VALUES.to_string()));
        }
        let value = Plain::from_request(&req.secret_string, &req.secret_binary);
        if value.is_some() && req.client_request_token.is_none() {
            return Err(SmError::InvalidRequest(TOKEN_REQUIRED.to_string()));
        }
        let replicas = req.add_replica_regions.clone().unwrap_or_default();
        let mut seen = HashSet::new();
        for r in &replicas {
            let region = r.region.clone().unwrap_or_default();
            if region == ctx.region || !seen.insert(region) {
                return Err(SmError::InvalidParameter(
                    INVALID_REPLICA_REGION.to_string(),
                ));
            }
        }

        let mut st = self.state.write();
        let key = SecretKey::new(&ctx.account_id, &ctx.region, &name);
        if let Some(existing) = st.secrets.get(&key) {
            if existing.is_deleted() {
                return Err(SmError::InvalidRequest(SCHEDULED_FOR_DELETION.to_string()));
            }
            // A retry with the same token and the same value is answered as the original was.
            if let (Some(token), Some(value)) = (&req.client_request_token, &value) {
                if !existing.is_replica() && existing.rec.version(token).is_some() {
                    let stored = self.open(ctx, existing, token)?;
                    if stored.same_as(value) {
                        return Ok(CreateSecretResponse {
                            arn: Some(existing.rec.arn.clone()),
                            name: Some(existing.rec.name.clone()),
                            version_id: Some(token.clone()),
                            replication_status: self.replication_status(&st, &existing.rec),
                        });
                    }
                }
            }
            return Err(SmError::ResourceExists(format!(
                "The operation failed because the secret {name} already exists."
            )));
        }

        let kms_key_id = blank_to_none(&req.kms_key_id);
        if let Some(k) = &kms_key_id {
            self.keys.key_arn(ctx, k).map_err(encryption_failure)?;
        }
        let mut arn = secret_arn(&ctx.region, &ctx.account_id, &name, &random_suffix()?);
        while st.by_arn.contains_key(&arn) {
            arn = secret_arn(&ctx.region, &ctx.account_id, &name, &random_suffix()?);
        }
        let now = self.clock.now().millis;
        let mut rec = SecretRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            name: name.clone(),
            arn,
            description: req.description.clone(),
            kms_key_id,
            secret_type: req.secret_type.clone(),
            tags: Vec::new(),
            tagged: req.tags.is_some(),
            created: now,
            last_changed: now,
            last_accessed: None,
            deleted_date: None,
            deletion_date: None,
            policy: None,
            primary_region: None,
            replicas: Vec::new(),
            versions: Vec::new(),
            rotation: None,
            cross_account_primary: None,
            cross_account_replicas: Vec::new(),
            managed_policies: BTreeMap::new(),
        };
        merge_tags(&mut rec.tags, req.tags.as_deref().unwrap_or_default());
        check_tag_count(&rec.tags)?;
        if let Some(primary) = &cross_primary {
            Self::make_cross_account_replica(&mut rec, primary);
        }
        let mut p = Pending::default();
        let mut blobs = HashMap::new();
        let mut plains = Vec::new();
        let mut version_id = None;
        if let (Some(value), Some(token)) = (value, &req.client_request_token) {
            let sealed = self
                .seal(ctx, rec.kms_key_id.as_deref(), &rec.arn, token, &value)
                .map_err(encryption_failure)?;
            let k = rec.kms_key_id.clone();
            add_version(&mut rec, token, &[AWSCURRENT.to_string()], now, k);
            p.put_blob(&rec, token, &sealed)?;
            blobs.insert(token.clone(), Arc::new(sealed));
            plains.push((token.clone(), value));
            version_id = Some(token.clone());
        }
        let force = req.force_overwrite_replica_secret.unwrap_or(false);
        for r in &replicas {
            let region = r.region.clone().unwrap_or_default();
            let status = self.create_replica(
                &st,
                ctx,
                &rec,
                &plains,
                &region,
                blank_to_none(&r.kms_key_id),
                force,
                &mut p,
            )?;
            rec.replicas.push(status);
        }
        let replication_status = self.replication_status(&st, &rec);
        let resp = CreateSecretResponse {
            arn: Some(rec.arn.clone()),
            name: Some(name),
            version_id,
            replication_status,
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    pub(super) fn describe(&self, st: &State, s: &Secret) -> DescribeSecretResponse {
        let rec = &s.rec;
        let rot = rotate::rotation_view(rec);
        let (cross_account_primary, cross_account_replicas) = Self::cross_account_view(rec);
        DescribeSecretResponse {
            arn: Some(rec.arn.clone()),
            name: Some(rec.name.clone()),
            secret_type: rec.secret_type.clone(),
            description: blank_to_none(&rec.description),
            kms_key_id: rec.kms_key_id.clone(),
            rotation_enabled: rot.enabled,
            rotation_lambda_arn: rot.lambda_arn,
            rotation_rules: rot.rules,
            last_rotated_date: rot.last_rotated,
            next_rotation_date: rot.next_rotation,
            last_changed_date: Some(ts(rec.last_changed)),
            last_accessed_date: s.last_accessed().map(ts),
            deleted_date: rec.deleted_date.map(ts),
            tags: to_tags(rec),
            version_ids_to_stages: stages_map(rec),
            owning_service: None,
            created_date: Some(ts(rec.created)),
            primary_region: primary_region(rec),
            replication_status: self.replication_status(st, rec),
            cross_account_primary,
            cross_account_replicas,
        }
    }

    /// DescribeSecret.
    pub fn describe_secret(
        &self,
        ctx: &RequestContext,
        req: DescribeSecretRequest,
    ) -> Result<DescribeSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let st = self.state.read();
        let s = self.lookup_shared(&st, ctx, SecretsManagerOp::DescribeSecret, &id)?;
        Ok(self.describe(&st, s))
    }

    /// UpdateSecret.
    pub fn update_secret(
        &self,
        ctx: &RequestContext,
        req: UpdateSecretRequest,
    ) -> Result<UpdateSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            check_token(v, &req.client_request_token);
            v.length("Description", req.description.as_deref(), 0, 2048);
            v.length("KmsKeyId", req.kms_key_id.as_deref(), 0, 2048);
            check_value(v, &req.secret_string, &req.secret_binary);
            v.length("Type", req.secret_type.as_deref(), 0, 256);
        })?;
        if req.secret_string.is_some() && req.secret_binary.is_some() {
            return Err(SmError::InvalidParameter(BOTH_VALUES.to_string()));
        }
        let value = Plain::from_request(&req.secret_string, &req.secret_binary);
        if value.is_some() && req.client_request_token.is_none() {
            return Err(SmError::InvalidRequest(TOKEN_REQUIRED.to_string()));
        }

        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, &id)?;
        if value.is_some() {
            Self::check_not_cross_account_replica(&s.rec)?;
        }
        let mut rec = s.snapshot();
        let mut blobs = s.blobs.clone();
        let mut p = Pending::default();
        let now = self.clock.now().millis;
        if let Some(d) = &req.description {
            rec.description = Some(d.clone());
        }
        if let Some(t) = &req.secret_type {
            rec.secret_type = Some(t.clone());
        }
        let mut version_id = None;
        if let Some(k) = &req.kms_key_id {
            let new_key = blank_to_none(&Some(k.clone()));
            if new_key != rec.kms_key_id {
                self.resolve_key(ctx, new_key.as_deref())
                    .map_err(encryption_failure)?;
                // Re-encrypt the labelled versions under the new key.
                if value.is_none() {
                    let labelled: Vec<String> = rec
                        .versions
                        .iter()
                        .filter(|v| !v.stages.is_empty() && s.blobs.contains_key(&v.id))
                        .map(|v| v.id.clone())
                        .collect();
                    for vid in labelled {
                        let plain = self.open(ctx, s, &vid)?;
                        let sealed = self
                            .seal(ctx, new_key.as_deref(), &rec.arn, &vid, &plain)
                            .map_err(encryption_failure)?;
                        p.put_blob(&rec, &vid, &sealed)?;
                        blobs.insert(vid.clone(), Arc::new(sealed));
                        if let Some(m) = rec.versions.iter_mut().find(|m| m.id == vid) {
                            m.kms_key_id = new_key.clone();
                        }
                    }
                }
                rec.kms_key_id = new_key;
            }
        }
        if let (Some(value), Some(token)) = (&value, &req.client_request_token) {
            if rec.version(token).is_some() && !blobs.contains_key(token) {
                // An empty version (a rotation's AWSPENDING): replaced by the new one.
                rec.versions.retain(|v| &v.id != token);
            }
            if rec.version(token).is_some() {
                let stored = self.open(ctx, s, token)?;
                if !stored.same_as(value) {
                    return Err(SmError::ResourceExists(VERSION_EXISTS.to_string()));
                }
            } else {
                let sealed = self
                    .seal(ctx, rec.kms_key_id.as_deref(), &rec.arn, token, value)
                    .map_err(encryption_failure)?;
                let k = rec.kms_key_id.clone();
                let dropped = add_version(&mut rec, token, &[AWSCURRENT.to_string()], now, k);
                for vid in &dropped {
                    p.delete_blob(&rec, vid);
                    blobs.remove(vid);
                }
                p.put_blob(&rec, token, &sealed)?;
                blobs.insert(token.clone(), Arc::new(sealed));
                rotate::note_manual_update(&mut rec, now);
                version_id = Some(token.clone());
            }
        }
        rec.last_changed = now;
        let new_value = match (&value, &version_id) {
            (Some(v), Some(id)) => Some((id.as_str(), v)),
            _ => None,
        };
        self.sync_replicas(&st, ctx, &mut rec, new_value, &mut p)?;
        let resp = UpdateSecretResponse {
            arn: Some(rec.arn.clone()),
            name: Some(rec.name.clone()),
            version_id: version_id.clone(),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// DeleteSecret.
    pub fn delete_secret(
        &self,
        ctx: &RequestContext,
        req: DeleteSecretRequest,
    ) -> Result<DeleteSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let force = req.force_delete_without_recovery.unwrap_or(false);
        if force && req.recovery_window_in_days.is_some_and(|d| d != 0) {
            return Err(SmError::InvalidParameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
                    .to_string(),
            ));
        }
        let window = req.recovery_window_in_days.unwrap_or(30);
        if !force && !(7..=30).contains(&window) {
            return Err(SmError::InvalidParameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
                    .to_string(),
            ));
        }
        let mut st = self.state.write();
        let s = match Self::lookup(&st, ctx, &id) {
            Ok(s) => s,
            // "If you forcibly delete an already deleted or nonexistent secret, the operation
            // does not return ResourceNotFoundException": it answers as if it had deleted it.
            Err(SmError::ResourceNotFound(_)) if force => {
                let (arn, name) = match id.strip_prefix("arn:") {
                    Some(_) => (
                        id.clone(),
                        id.splitn(7, ':').nth(6).unwrap_or_default().to_string(),
                    ),
                    None => (
                        secret_arn(&ctx.region, &ctx.account_id, &id, &random_suffix()?),
                        id.clone(),
                    ),
                };
                return Ok(DeleteSecretResponse {
                    arn: Some(arn),
                    name: Some(name),
                    deletion_date: Some(self.clock.now()),
                });
            }
            Err(e) => return Err(e),
        };
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        if !s.rec.replicas.is_empty() {
            let regions: Vec<&str> = s.rec.replicas.iter().map(|r| r.region.as_str()).collect();
            return Err(SmError::InvalidParameter(format!(
                "You can't delete secret {} that still has replica regions [{}].",
                s.rec.arn,
                regions.join(", ")
            )));
        }
        Self::check_cross_account_delete(&s.rec)?;
        if s.is_deleted() && !force {
            return Err(SmError::InvalidRequest(ALREADY_MARKED_DELETED.to_string()));
        }
        let now = self.clock.now();
        let mut p = Pending::default();
        let resp_of = |deletion: Timestamp| DeleteSecretResponse {
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
            deletion_date: Some(deletion),
        };
        if force {
            let resp = resp_of(now);
            p.remove(s);
            self.commit(&mut st, p)?;
            return Ok(resp);
        }
        let deletion = now.plus_days(window);
        let resp = resp_of(deletion);
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        rec.deleted_date = Some(now.millis);
        rec.deletion_date = Some(deletion.millis);
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// RestoreSecret.
    pub fn restore_secret(
        &self,
        ctx: &RequestContext,
        req: RestoreSecretRequest,
    ) -> Result<RestoreSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let mut st = self.state.write();
        let s = Self::lookup(&st, ctx, &id)?;
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        let resp = ArnNameResponse {
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
        };
        if !s.is_deleted() {
            return Ok(resp);
        }
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        rec.deleted_date = None;
        rec.deletion_date = None;
        let mut p = Pending::default();
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }
}
