//! Replication to other Regions: each replica's value sealed under its own Region's key.
//! ReplicateSecretToRegions, RemoveRegionsFromReplication, StopReplicationToReplica, and the
//! re-sealing that keeps replicas in sync with every change to the primary.

use super::*;

impl SecretsManager {
    pub(super) fn replication_status(
        &self,
        st: &State,
        rec: &SecretRecord,
    ) -> Option<Vec<ReplicationStatusType>> {
        if rec.replicas.is_empty() {
            return None;
        }
        Some(
            rec.replicas
                .iter()
                .map(|r| {
                    let last = st
                        .secrets
                        .get(&SecretKey::new(&rec.account, &r.region, &rec.name))
                        .filter(|s| s.rec.arn == replica_arn(rec, &r.region))
                        .and_then(Secret::last_accessed)
                        .map(ts);
                    ReplicationStatusType {
                        region: Some(r.region.clone()),
                        kms_key_id: Some(
                            r.kms_key_id
                                .clone()
                                .unwrap_or_else(|| DEFAULT_KEY_ALIAS.to_string()),
                        ),
                        status: Some(r.status.clone()),
                        status_message: r.message.clone(),
                        last_accessed_date: last,
                    }
                })
                .collect(),
        )
    }

    /// Creates the replica of `prec` in `region` from the given plaintext versions.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_replica(
        &self,
        st: &State,
        ctx: &RequestContext,
        prec: &SecretRecord,
        plains: &[(String, Plain)],
        region: &str,
        kms_key_id: Option<String>,
        force: bool,
        p: &mut Pending,
    ) -> Result<ReplicaRec, SmError> {
        let failed = |message: String| ReplicaRec {
            region: region.to_string(),
            kms_key_id: kms_key_id.clone(),
            status: FAILED.to_string(),
            message: Some(message),
        };
        let key = SecretKey::new(&prec.account, region, &prec.name);
        let existing = st.secrets.get(&key);
        if let Some(e) = existing {
            if !force || !e.rec.replicas.is_empty() {
                return Ok(failed(format!(
                    "Replication failed: Secret name {} already exists in region {region}.",
                    prec.name
                )));
            }
        }
        let rctx = ctx.in_region(region);
        let arn = replica_arn(prec, region);
        let mut blobs = HashMap::new();
        if let Err(f) = self.resolve_key(&rctx, kms_key_id.as_deref()) {
            return Ok(failed(replication_failed(&f)));
        }
        for (vid, plain) in plains {
            match self.seal(&rctx, kms_key_id.as_deref(), &arn, vid, plain) {
                Ok(b) => {
                    blobs.insert(vid.clone(), Arc::new(b));
                }
                Err(f) => return Ok(failed(replication_failed(&f))),
            }
        }
        if let Some(e) = existing {
            p.remove(e);
        }
        let mut rrec = SecretRecord {
            v: RECORD_VERSION,
            account: prec.account.clone(),
            region: region.to_string(),
            name: prec.name.clone(),
            arn,
            description: None,
            kms_key_id: kms_key_id.clone(),
            secret_type: None,
            tags: Vec::new(),
            tagged: false,
            created: self.clock.now().millis,
            last_changed: prec.last_changed,
            last_accessed: None,
            deleted_date: None,
            deletion_date: None,
            policy: None,
            primary_region: Some(prec.region.clone()),
            replicas: Vec::new(),
            versions: Vec::new(),
            rotation: None,
            cross_account_primary: None,
            cross_account_replicas: Vec::new(),
            managed_policies: BTreeMap::new(),
        };
        mirror(prec, &mut rrec, &blobs, None);
        for (vid, b) in &blobs {
            p.put_blob(&rrec, vid, b)?;
        }
        p.upsert(rrec, blobs)?;
        Ok(ReplicaRec {
            region: region.to_string(),
            kms_key_id,
            status: IN_SYNC.to_string(),
            message: Some(REPLICATION_SUCCEEDED.to_string()),
        })
    }

    /// Brings the replicas of the (already changed) primary `prec` in line with it; a new
    /// version's plaintext is encrypted under each replica's key.
    pub(super) fn sync_replicas(
        &self,
        st: &State,
        ctx: &RequestContext,
        prec: &mut SecretRecord,
        new_value: Option<(&str, &Plain)>,
        p: &mut Pending,
    ) -> Result<(), SmError> {
        let mut reps = std::mem::take(&mut prec.replicas);
        for rep in &mut reps {
            let key = SecretKey::new(&prec.account, &rep.region, &prec.name);
            let Some(replica) = st.secrets.get(&key) else {
                continue;
            };
            if replica.rec.arn != replica_arn(prec, &rep.region)
                || replica.rec.primary_region.as_deref() != Some(prec.region.as_str())
            {
                continue;
            }
            let old = replica.snapshot();
            let mut rrec = old.clone();
            let mut blobs = replica.blobs.clone();
            if let Some((vid, plain)) = new_value {
                let rctx = ctx.in_region(&rep.region);
                match self.seal(&rctx, rrec.kms_key_id.as_deref(), &rrec.arn, vid, plain) {
                    Ok(b) => {
                        p.put_blob(&rrec, vid, &b)?;
                        blobs.insert(vid.to_string(), Arc::new(b));
                        rep.status = IN_SYNC.to_string();
                        rep.message = Some(REPLICATION_SUCCEEDED.to_string());
                    }
                    Err(f) => {
                        rep.status = FAILED.to_string();
                        rep.message = Some(replication_failed(&f));
                    }
                }
            }
            mirror(prec, &mut rrec, &blobs, Some(&old));
            let live: HashSet<&str> = rrec.versions.iter().map(|v| v.id.as_str()).collect();
            let dead: Vec<String> = blobs
                .keys()
                .filter(|k| !live.contains(k.as_str()))
                .cloned()
                .collect();
            for vid in dead {
                p.delete_blob(&rrec, &vid);
                blobs.remove(&vid);
            }
            p.upsert(rrec, blobs)?;
        }
        prec.replicas = reps;
        self.sync_cross_account(st, ctx, prec, new_value, p)
    }

    /// ReplicateSecretToRegions.
    pub fn replicate_secret_to_regions(
        &self,
        ctx: &RequestContext,
        req: ReplicateSecretToRegionsRequest,
    ) -> Result<ReplicateSecretToRegionsResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("AddReplicaRegions", &req.add_replica_regions);
            check_replica_regions(v, &req.add_replica_regions);
        })?;
        let add = req.add_replica_regions.clone().unwrap_or_default();
        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, &id)?;
        Self::check_not_cross_account_replica(&s.rec)?;
        let mut seen: HashSet<String> = s.rec.replicas.iter().map(|r| r.region.clone()).collect();
        for r in &add {
            let region = r.region.clone().unwrap_or_default();
            if region == ctx.region || !seen.insert(region) {
                return Err(SmError::InvalidParameter(
                    INVALID_REPLICA_REGION.to_string(),
                ));
            }
        }
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        let mut plains = Vec::new();
        let mut read_failure = None;
        for v in rec.versions.iter().filter(|v| s.blobs.contains_key(&v.id)) {
            match self.open(ctx, s, &v.id) {
                Ok(plain) => plains.push((v.id.clone(), plain)),
                Err(SmError::DecryptionFailure(m)) => {
                    read_failure = Some(format!("Replication failed: {m}"));
                    break;
                }
                Err(SmError::AccessDenied(m)) => {
                    read_failure = Some(format!("Replication failed: {m}"));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let force = req.force_overwrite_replica_secret.unwrap_or(false);
        let mut p = Pending::default();
        for r in &add {
            let region = r.region.clone().unwrap_or_default();
            let kms = blank_to_none(&r.kms_key_id);
            let status = match &read_failure {
                Some(m) => ReplicaRec {
                    region,
                    kms_key_id: kms,
                    status: FAILED.to_string(),
                    message: Some(m.clone()),
                },
                None => {
                    self.create_replica(&st, ctx, &rec, &plains, &region, kms, force, &mut p)?
                }
            };
            rec.replicas.push(status);
        }
        let resp = ReplicationResponse {
            arn: Some(rec.arn.clone()),
            replication_status: self.replication_status(&st, &rec),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// RemoveRegionsFromReplication: deletes the replicas in those regions.
    pub fn remove_regions_from_replication(
        &self,
        ctx: &RequestContext,
        req: RemoveRegionsFromReplicationRequest,
    ) -> Result<RemoveRegionsFromReplicationResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("RemoveReplicaRegions", &req.remove_replica_regions);
            if let Some(rs) = &req.remove_replica_regions {
                v.count("RemoveReplicaRegions", Some(rs.len()), 1, usize::MAX);
                for r in rs {
                    v.length("RemoveReplicaRegions", Some(r), 1, 128);
                    v.pattern(
                        "RemoveReplicaRegions",
                        Some(r),
                        valid_region,
                        REGION_PATTERN,
                    );
                }
            }
        })?;
        let remove = req.remove_replica_regions.clone().unwrap_or_default();
        let mut st = self.state.write();
        let s = Self::lookup(&st, ctx, &id)?;
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        // Every region named must hold a replica of this secret; nothing is removed otherwise.
        if remove
            .iter()
            .any(|region| !s.rec.replicas.iter().any(|r| &r.region == region))
        {
            return Err(SmError::InvalidParameter(
                INVALID_REPLICA_REGION.to_string(),
            ));
        }
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        let mut p = Pending::default();
        for region in &remove {
            let key = SecretKey::new(&rec.account, region, &rec.name);
            if let Some(replica) = st.secrets.get(&key) {
                if replica.rec.arn == replica_arn(&rec, region)
                    && replica.rec.primary_region.as_deref() == Some(rec.region.as_str())
                {
                    p.remove(replica);
                }
            }
            rec.replicas.retain(|r| &r.region != region);
        }
        let resp = ReplicationResponse {
            arn: Some(rec.arn.clone()),
            replication_status: Some(self.replication_status(&st, &rec).unwrap_or_default()),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// StopReplicationToReplica: the replica (addressed in its own region) becomes a standalone secret.
    pub fn stop_replication_to_replica(
        &self,
        ctx: &RequestContext,
        req: StopReplicationToReplicaRequest,
    ) -> Result<StopReplicationToReplicaResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let mut st = self.state.write();
        let s = Self::lookup(&st, ctx, &id)?;
        if s.is_cross_account_replica() {
            let key = SecretKey::of(&s.rec);
            return self.stop_cross_account_replication(&mut st, &key);
        }
        let Some(primary_region) = s.rec.primary_region.clone() else {
            return Err(SmError::InvalidRequest(
                "StopReplicationToReplica can only be called on a replica secret.".to_string(),
            ));
        };
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        rec.primary_region = None;
        rec.last_changed = self.clock.now().millis;
        let mut p = Pending::default();
        let pkey = SecretKey::new(&rec.account, &primary_region, &rec.name);
        if let Some(primary) = st.secrets.get(&pkey) {
            if replica_arn(&primary.rec, &rec.region) == rec.arn {
                let mut prec = primary.snapshot();
                prec.replicas.retain(|r| r.region != rec.region);
                p.upsert(prec, primary.blobs.clone())?;
            }
        }
        let resp = StopReplicationToReplicaResponse {
            arn: Some(rec.arn.clone()),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }
}

/// Copies the primary's metadata and labels onto a replica record, keeping the versions whose
/// ciphertext the replica holds and the replica's own read times.
pub(super) fn mirror(
    prec: &SecretRecord,
    rrec: &mut SecretRecord,
    blobs: &HashMap<String, Arc<SealedValue>>,
    old: Option<&SecretRecord>,
) {
    rrec.description = prec.description.clone();
    rrec.secret_type = prec.secret_type.clone();
    rrec.tags = prec.tags.clone();
    rrec.tagged = prec.tagged;
    rrec.last_changed = prec.last_changed;
    rrec.deleted_date = prec.deleted_date;
    rrec.deletion_date = prec.deletion_date;
    rrec.rotation = prec.rotation.clone();
    rrec.versions = prec
        .versions
        .iter()
        .filter(|v| blobs.contains_key(&v.id))
        .map(|v| VersionMeta {
            id: v.id.clone(),
            stages: v.stages.clone(),
            created: v.created,
            last_accessed: old
                .and_then(|o| o.version(&v.id))
                .and_then(|o| o.last_accessed),
            kms_key_id: old
                .and_then(|o| o.version(&v.id))
                .map(|o| o.kms_key_id.clone())
                .unwrap_or_else(|| rrec.kms_key_id.clone()),
        })
        .collect();
}

pub(super) fn primary_region(rec: &SecretRecord) -> Option<String> {
    match &rec.primary_region {
        Some(r) => Some(r.clone()),
        None => (!rec.replicas.is_empty()).then(|| rec.region.clone()),
    }
}

/// The ARN of `primary`'s replica in `region` (same name and suffix).
pub(super) fn replica_arn(primary: &SecretRecord, region: &str) -> String {
    let suffix = primary
        .arn
        .rsplit_once('-')
        .map(|(_, s)| s)
        .unwrap_or_default();
    secret_arn(region, &primary.account, &primary.name, suffix)
}
