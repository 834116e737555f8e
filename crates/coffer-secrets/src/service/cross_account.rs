//! Cross-account replication (ADR 0008): a replica created in another account with
//! `CrossAccountPrimaryARN`, linked by AssociateCrossAccountReplica in the primary's account, and
//! kept in step with the primary's `AWSCURRENT` value in the same store transaction as every change
//! to the primary. The link ends from either side: DisassociateCrossAccountReplica (primary) or
//! StopReplicationToReplica (replica).

use super::*;
use crate::record::{CrossPrimaryRec, CrossReplicaRec};

/// The managed resource policy a cross-account replica carries while it is linked.
pub(super) const MANAGED_POLICY: &str = "cross-account-replication";
/// The caller's own resource policy.
pub(super) const DEFAULT_POLICY: &str = "default";
pub(super) const PENDING: &str = "Pending";
const DETACHED: &str = "Detached";
const RESTRICTIONS: &[&str] = &["SameOrg", "NoRestriction"];
const SAME_ORG: &str = "SameOrg";
pub(super) const ON_CROSS_ACCOUNT_REPLICA: &str = "Operation not permitted on a cross-account replica secret: its value is replicated from its primary secret. Call StopReplicationToReplica to make it a standalone secret first.";
const INVALID_ARN: &str = "The ARN isn't a valid secret ARN.";
const SAME_REGION: &str =
    "The primary and replica secrets must be in the same Region and partition.";
const OTHER_ACCOUNT: &str =
    "The primary and replica secrets must be in different Amazon Web Services accounts.";
const CMK_REQUIRED: &str = "You must specify a customer managed KMS key in KmsKeyId for a cross-account replica secret. The Amazon Web Services managed key aws/secretsmanager doesn't support cross-account access.";
const ONE_REPLICA: &str = "A primary secret can have at most one cross-account replica. Call DisassociateCrossAccountReplica for the current replica first.";
const REPLICA_NOT_FOUND: &str = "Secrets Manager can't find the specified replica secret.";
const NOT_ASSOCIATED: &str =
    "Secrets Manager can't find the specified cross-account replica of this secret.";

/// The region, partition and account of a secret ARN
/// (`arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX`).
struct ArnParts<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
}

fn arn_parts(arn: &str) -> Option<ArnParts<'_>> {
    let p: Vec<&str> = arn.splitn(7, ':').collect();
    let ok = p.len() == 7
        && p[0] == "arn"
        && p[2] == "secretsmanager"
        && p[4].len() == 12
        && p[4].bytes().all(|b| b.is_ascii_digit())
        && p[5] == "secret"
        && !p[6].is_empty();
    ok.then(|| ArnParts {
        partition: p[1],
        region: p[3],
        account: p[4],
    })
}

/// The other secret of a cross-account pair must be a secret ARN in the caller's region and
/// partition, in another account.
fn check_counterpart(ctx: &RequestContext, arn: &str) -> Result<(), SmError> {
    let parts = arn_parts(arn).ok_or_else(|| SmError::InvalidParameter(INVALID_ARN.into()))?;
    if parts.region != ctx.region || parts.partition != ctx.partition() {
        return Err(SmError::InvalidParameter(SAME_REGION.into()));
    }
    if parts.account == ctx.account_id {
        return Err(SmError::InvalidParameter(OTHER_ACCOUNT.into()));
    }
    Ok(())
}

/// `CrossAccountReplicaARN` (required, SecretARNType).
fn check_replica_arn(v: &mut Validator, arn: &Option<String>) {
    v.required("CrossAccountReplicaARN", arn);
    v.length("CrossAccountReplicaARN", arn.as_deref(), 20, 2048);
}

/// The managed policy that lets the primary's account accept replication into this secret.
fn managed_policy(primary_arn: &str) -> String {
    let account = arn_parts(primary_arn)
        .map(|p| p.account)
        .unwrap_or_default();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CrossAccountReplication",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{}:iam::{account}:root", partition_of_arn(primary_arn))},
            "Action": "secretsmanager:AcceptCrossAccountReplication",
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": primary_arn}}
        }]
    })
    .to_string()
}

fn partition_of_arn(arn: &str) -> &str {
    arn_parts(arn).map(|p| p.partition).unwrap_or("aws")
}

/// Moves `AWSCURRENT` to a version the record already holds (its old holder gets `AWSPREVIOUS`).
fn move_current(rec: &mut SecretRecord, vid: &str) {
    if rec
        .version(vid)
        .is_some_and(|v| v.stages.iter().any(|s| s == AWSCURRENT))
    {
        return;
    }
    retire_current(rec);
    if let Some(v) = rec.versions.iter_mut().find(|v| v.id == vid) {
        v.stages.push(AWSCURRENT.to_string());
    }
}

/// A replica and its ciphertexts being changed.
struct ReplicaDraft {
    rec: SecretRecord,
    blobs: HashMap<String, Arc<SealedValue>>,
}

impl SecretsManager {
    /// CreateSecret's checks for a cross-account replica: the members AWS refuses, the primary's
    /// ARN, and a customer managed key.
    pub(super) fn check_cross_account_create(
        ctx: &RequestContext,
        req: &CreateSecretRequest,
        primary_arn: &str,
    ) -> Result<(), SmError> {
        let refused = [
            ("SecretString", req.secret_string.is_some()),
            ("SecretBinary", req.secret_binary.is_some()),
            ("Description", req.description.is_some()),
            ("AddReplicaRegions", req.add_replica_regions.is_some()),
            ("Type", req.secret_type.is_some()),
        ];
        if let Some((member, _)) = refused.iter().find(|(_, present)| *present) {
            return Err(SmError::InvalidParameter(format!(
                "You can't specify {member} when you create a cross-account replica secret. Its value is replicated from the primary secret."
            )));
        }
        check_counterpart(ctx, primary_arn)?;
        match blank_to_none(&req.kms_key_id) {
            Some(k) if !k.contains("alias/aws/") => Ok(()),
            _ => Err(SmError::InvalidParameter(CMK_REQUIRED.into())),
        }
    }

    /// Marks a new record as a cross-account replica of `primary_arn`, waiting for association.
    pub(super) fn make_cross_account_replica(rec: &mut SecretRecord, primary_arn: &str) {
        rec.cross_account_primary = Some(CrossPrimaryRec {
            arn: primary_arn.to_string(),
            status: PENDING.to_string(),
            message: None,
        });
        rec.managed_policies
            .insert(MANAGED_POLICY.to_string(), managed_policy(primary_arn));
    }

    /// DescribeSecret's `CrossAccountPrimary` and `CrossAccountReplicas`.
    pub(super) fn cross_account_view(
        rec: &SecretRecord,
    ) -> (
        Option<CrossAccountPrimaryType>,
        Option<Vec<CrossAccountReplicaEntry>>,
    ) {
        let primary = rec
            .cross_account_primary
            .as_ref()
            .map(|c| CrossAccountPrimaryType {
                primary_secret_arn: Some(c.arn.clone()),
                replication_status: Some(c.status.clone()),
                status_message: c.message.clone(),
            });
        let replicas = (!rec.cross_account_replicas.is_empty()).then(|| {
            rec.cross_account_replicas
                .iter()
                .map(|r| CrossAccountReplicaEntry {
                    replica_secret_arn: Some(r.arn.clone()),
                    replication_role_arn: r.role_arn.clone(),
                    replication_status: Some(r.status.clone()),
                    status_message: r.message.clone(),
                })
                .collect()
        });
        (primary, replicas)
    }

    /// Refuses a value change on a cross-account replica.
    pub(super) fn check_not_cross_account_replica(rec: &SecretRecord) -> Result<(), SmError> {
        match rec.cross_account_primary {
            Some(_) => Err(SmError::InvalidRequest(ON_CROSS_ACCOUNT_REPLICA.into())),
            None => Ok(()),
        }
    }

    /// Refuses DeleteSecret while this side of a cross-account link has not ended it.
    pub(super) fn check_cross_account_delete(rec: &SecretRecord) -> Result<(), SmError> {
        if let Some(r) = rec.cross_account_replicas.first() {
            return Err(SmError::InvalidRequest(format!(
                "You can't delete secret {} while it has the cross-account replica {}. Call DisassociateCrossAccountReplica first.",
                rec.arn, r.arn
            )));
        }
        if let Some(c) = &rec.cross_account_primary {
            return Err(SmError::InvalidRequest(format!(
                "You can't delete secret {} while it is a cross-account replica of {}. Call StopReplicationToReplica first.",
                rec.arn, c.arn
            )));
        }
        Ok(())
    }

    /// Copies the primary's `AWSCURRENT` version into the replica draft (sealed under the
    /// replica's key, in the replica's account), or moves the replica's `AWSCURRENT` to it when
    /// the replica holds it already. `Err` carries KMS's reason.
    fn copy_current(
        &self,
        ctx: &RequestContext,
        prec: &SecretRecord,
        pblobs: &HashMap<String, Arc<SealedValue>>,
        new_value: Option<(&str, &Plain)>,
        draft: &mut ReplicaDraft,
        p: &mut Pending,
    ) -> Result<(), String> {
        let Some(cur) = prec.version_with_stage(AWSCURRENT) else {
            return Ok(());
        };
        let vid = cur.id.as_str();
        if draft.rec.version(vid).is_some() && draft.blobs.contains_key(vid) {
            move_current(&mut draft.rec, vid);
            return Ok(());
        }
        let rctx = RequestContext {
            account_id: draft.rec.account.clone(),
            region: draft.rec.region.clone(),
            principal_arn: ctx.principal_arn.clone(),
            role: ctx.role.clone(),
            secure_transport: ctx.secure_transport,
        };
        let sealed = match new_value.filter(|(id, _)| *id == vid) {
            Some((_, plain)) => self.seal(
                &rctx,
                draft.rec.kms_key_id.as_deref(),
                &draft.rec.arn,
                vid,
                plain,
            ),
            None => {
                let blob = pblobs.get(vid).ok_or_else(|| {
                    "The primary secret's current version has no value.".to_string()
                })?;
                let plain = self
                    .open_sealed(ctx, prec, vid, blob)
                    .map_err(|e| e.client_message())?;
                self.seal(
                    &rctx,
                    draft.rec.kms_key_id.as_deref(),
                    &draft.rec.arn,
                    vid,
                    &plain,
                )
            }
        }
        .map_err(|f| replication_failed(&f))?;
        if let Some(old) = draft.rec.versions.iter().position(|v| v.id == vid) {
            draft.rec.versions.remove(old);
        }
        let k = draft.rec.kms_key_id.clone();
        let dropped = add_version(
            &mut draft.rec,
            vid,
            &[AWSCURRENT.to_string()],
            self.clock.now().millis,
            k,
        );
        for d in &dropped {
            p.delete_blob(&draft.rec, d);
            draft.blobs.remove(d);
        }
        p.put_blob(&draft.rec, vid, &sealed)
            .map_err(|e| e.client_message())?;
        draft.blobs.insert(vid.to_string(), Arc::new(sealed));
        draft.rec.last_changed = self.clock.now().millis;
        Ok(())
    }

    /// Brings the cross-account replicas of the (already changed) primary `prec` in line with its
    /// `AWSCURRENT` value; a replica KMS refuses is reported `Failed` on both sides.
    pub(super) fn sync_cross_account(
        &self,
        st: &State,
        ctx: &RequestContext,
        prec: &mut SecretRecord,
        new_value: Option<(&str, &Plain)>,
        p: &mut Pending,
    ) -> Result<(), SmError> {
        if prec.cross_account_replicas.is_empty() {
            return Ok(());
        }
        let pblobs = st
            .secrets
            .get(&SecretKey::of(prec))
            .map(|s| s.blobs.clone())
            .unwrap_or_default();
        let mut entries = std::mem::take(&mut prec.cross_account_replicas);
        for entry in entries.iter_mut().filter(|e| e.status != DETACHED) {
            let replica = st.by_arn.get(&entry.arn).and_then(|k| st.secrets.get(k));
            let Some(replica) = replica.filter(|r| {
                r.rec
                    .cross_account_primary
                    .as_ref()
                    .is_some_and(|c| c.arn == prec.arn && c.status != DETACHED)
            }) else {
                entry.status = DETACHED.to_string();
                entry.message = None;
                continue;
            };
            let before = replica.snapshot();
            let mut draft = ReplicaDraft {
                rec: before.clone(),
                blobs: replica.blobs.clone(),
            };
            let (status, message) =
                match self.copy_current(ctx, prec, &pblobs, new_value, &mut draft, p) {
                    Ok(()) => (IN_SYNC, Some(REPLICATION_SUCCEEDED.to_string())),
                    Err(reason) => (FAILED, Some(reason)),
                };
            entry.status = status.to_string();
            entry.message = message.clone();
            draft.rec.cross_account_primary = Some(CrossPrimaryRec {
                arn: prec.arn.clone(),
                status: status.to_string(),
                message,
            });
            if draft.rec != before {
                p.upsert(draft.rec, draft.blobs)?;
            }
        }
        prec.cross_account_replicas = entries;
        Ok(())
    }

    /// AssociateCrossAccountReplica.
    pub fn associate_cross_account_replica(
        &self,
        ctx: &RequestContext,
        req: AssociateCrossAccountReplicaRequest,
    ) -> Result<AssociateCrossAccountReplicaResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            check_replica_arn(v, &req.cross_account_replica_arn);
            v.one_of(
                "ReplicaRestriction",
                req.replica_restriction.as_deref(),
                RESTRICTIONS,
            );
            v.length(
                "ReplicationRoleARN",
                req.replication_role_arn.as_deref(),
                20,
                2048,
            );
        })?;
        let replica_arn = req.cross_account_replica_arn.clone().unwrap_or_default();
        check_counterpart(ctx, &replica_arn)?;
        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, &id)?;
        Self::check_not_cross_account_replica(&s.rec)?;
        let replica = st
            .by_arn
            .get(&replica_arn)
            .and_then(|k| st.secrets.get(k))
            .ok_or_else(|| SmError::ResourceNotFound(REPLICA_NOT_FOUND.into()))?;
        if replica.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.into()));
        }
        if replica.rec.cross_account_primary.as_ref().map(|c| &c.arn) != Some(&s.rec.arn) {
            return Err(SmError::InvalidRequest(format!(
                "The secret {replica_arn} isn't a cross-account replica of {}: create it with CrossAccountPrimaryARN set to the primary secret's ARN.",
                s.rec.arn
            )));
        }
        if s.rec
            .cross_account_replicas
            .iter()
            .any(|r| r.arn != replica_arn)
        {
            return Err(SmError::LimitExceeded(ONE_REPLICA.into()));
        }
        let mut prec = s.snapshot();
        let pblobs = s.blobs.clone();
        let mut draft = ReplicaDraft {
            rec: replica.snapshot(),
            blobs: replica.blobs.clone(),
        };
        let mut p = Pending::default();
        // KMS must accept both keys now; otherwise nothing changes.
        self.copy_current(ctx, &prec, &pblobs, None, &mut draft, &mut p)
            .map_err(|reason| {
                SmError::InvalidRequest(format!(
                    "Secrets Manager can't replicate to the replica secret: {reason}"
                ))
            })?;
        let previous = prec
            .cross_account_replicas
            .iter()
            .find(|r| r.arn == replica_arn)
            .cloned();
        let restriction = req
            .replica_restriction
            .clone()
            .or_else(|| previous.as_ref().map(|r| r.restriction.clone()))
            .unwrap_or_else(|| SAME_ORG.to_string());
        let role_arn = blank_to_none(&req.replication_role_arn)
            .or_else(|| previous.as_ref().and_then(|r| r.role_arn.clone()));
        prec.cross_account_replicas = vec![CrossReplicaRec {
            arn: replica_arn.clone(),
            role_arn,
            restriction,
            status: IN_SYNC.to_string(),
            message: Some(REPLICATION_SUCCEEDED.to_string()),
        }];
        draft.rec.cross_account_primary = Some(CrossPrimaryRec {
            arn: prec.arn.clone(),
            status: IN_SYNC.to_string(),
            message: Some(REPLICATION_SUCCEEDED.to_string()),
        });
        let resp = AssociateCrossAccountReplicaResponse {
            arn: Some(prec.arn.clone()),
            cross_account_replica_arn: Some(replica_arn),
            replication_status: Some(IN_SYNC.to_string()),
        };
        p.upsert(draft.rec, draft.blobs)?;
        p.upsert(prec, pblobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// DisassociateCrossAccountReplica: the primary forgets the replica, which keeps its value
    /// and shows `Detached` until its owner calls StopReplicationToReplica.
    pub fn disassociate_cross_account_replica(
        &self,
        ctx: &RequestContext,
        req: DisassociateCrossAccountReplicaRequest,
    ) -> Result<DisassociateCrossAccountReplicaResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            check_replica_arn(v, &req.cross_account_replica_arn);
        })?;
        let replica_arn = req.cross_account_replica_arn.clone().unwrap_or_default();
        let mut st = self.state.write();
        let s = Self::lookup(&st, ctx, &id)?;
        if !s
            .rec
            .cross_account_replicas
            .iter()
            .any(|r| r.arn == replica_arn)
        {
            return Err(SmError::ResourceNotFound(NOT_ASSOCIATED.into()));
        }
        let mut prec = s.snapshot();
        let pblobs = s.blobs.clone();
        prec.cross_account_replicas.retain(|r| r.arn != replica_arn);
        prec.last_changed = self.clock.now().millis;
        let mut p = Pending::default();
        if let Some(replica) = st.by_arn.get(&replica_arn).and_then(|k| st.secrets.get(k)) {
            if replica.rec.cross_account_primary.as_ref().map(|c| &c.arn) == Some(&prec.arn) {
                let mut rrec = replica.snapshot();
                rrec.cross_account_primary = Some(CrossPrimaryRec {
                    arn: prec.arn.clone(),
                    status: DETACHED.to_string(),
                    message: Some(
                        "The primary secret's owner stopped replication to this secret."
                            .to_string(),
                    ),
                });
                p.upsert(rrec, replica.blobs.clone())?;
            }
        }
        let resp = DisassociateCrossAccountReplicaResponse {
            arn: Some(prec.arn.clone()),
            cross_account_replica_arn: Some(replica_arn),
        };
        p.upsert(prec, pblobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// StopReplicationToReplica on a cross-account replica: it becomes a standalone secret
    /// (keeping its versions), loses the managed policy, and its primary's entry shows `Detached`.
    pub(super) fn stop_cross_account_replication(
        &self,
        st: &mut State,
        key: &SecretKey,
    ) -> Result<StopReplicationToReplicaResponse, SmError> {
        let s = st
            .secrets
            .get(key)
            .ok_or_else(|| SmError::ResourceNotFound(NOT_FOUND.into()))?;
        let mut rec = s.snapshot();
        let primary_arn = rec
            .cross_account_primary
            .take()
            .map(|c| c.arn)
            .unwrap_or_default();
        rec.managed_policies.remove(MANAGED_POLICY);
        rec.last_changed = self.clock.now().millis;
        let mut p = Pending::default();
        if let Some(primary) = st.by_arn.get(&primary_arn).and_then(|k| st.secrets.get(k)) {
            if primary
                .rec
                .cross_account_replicas
                .iter()
                .any(|r| r.arn == rec.arn)
            {
                let mut prec = primary.snapshot();
                for r in prec
                    .cross_account_replicas
                    .iter_mut()
                    .filter(|r| r.arn == rec.arn)
                {
                    r.status = DETACHED.to_string();
                    r.message = Some("The replica secret's owner stopped replication.".to_string());
                }
                p.upsert(prec, primary.blobs.clone())?;
            }
        }
        let resp = StopReplicationToReplicaResponse {
            arn: Some(rec.arn.clone()),
        };
        let blobs = s.blobs.clone();
        p.upsert(rec, blobs)?;
        self.commit(st, p)?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        let a =
            arn_parts("arn:aws:secretsmanager:eu-west-1:111111111111:secret:x/y-AbCdEf").unwrap();
        assert_eq!(
            (a.partition, a.region, a.account),
            ("aws", "eu-west-1", "111111111111")
        );
        assert!(arn_parts("arn:aws:secretsmanager:eu-west-1:1111:secret:x").is_none());
        assert!(arn_parts("arn:aws:kms:eu-west-1:111111111111:key/x").is_none());
        assert!(arn_parts("not-an-arn").is_none());
    }

    #[test]
    fn managed_policy_names_the_primary_account() {
        let p = managed_policy("arn:aws:secretsmanager:eu-west-1:111111111111:secret:x-AbCdEf");
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            v["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::111111111111:root"
        );
    }
}
