//! Versions and their staging labels: UpdateSecretVersionStage and ListSecretVersionIds.

use super::*;

impl SecretsManager {
    /// UpdateSecretVersionStage.
    pub fn update_secret_version_stage(
        &self,
        ctx: &RequestContext,
        req: UpdateSecretVersionStageRequest,
    ) -> Result<UpdateSecretVersionStageResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("VersionStage", &req.version_stage);
            v.length("VersionStage", req.version_stage.as_deref(), 1, 256);
            v.length(
                "RemoveFromVersionId",
                req.remove_from_version_id.as_deref(),
                32,
                64,
            );
            v.length("MoveToVersionId", req.move_to_version_id.as_deref(), 32, 64);
        })?;
        let stage = req.version_stage.clone().unwrap_or_default();
        let remove_from = req.remove_from_version_id.clone();
        let move_to = req.move_to_version_id.clone();
        self.change(ctx, &id, |rec| {
            Self::check_not_cross_account_replica(rec)?;
            for vid in remove_from.iter().chain(move_to.iter()) {
                if rec.version(vid).is_none() {
                    return Err(SmError::InvalidParameter(format!(
                        "Not a valid version: {vid}"
                    )));
                }
            }
            let holder = rec.version_with_stage(&stage).map(|v| v.id.clone());
            if let Some(from) = &remove_from {
                if holder.as_deref() != Some(from.as_str()) {
                    return Err(SmError::InvalidParameter(format!(
                        "The staging label {stage} is currently not attached to version {from}, so you can't remove it from that version."
                    )));
                }
            } else if let (Some(h), Some(to)) = (&holder, &move_to) {
                if h != to {
                    return Err(SmError::InvalidParameter(format!(
                        "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
                    )));
                }
            }
            if let Some(from) = &remove_from {
                if let Some(v) = rec.versions.iter_mut().find(|v| &v.id == from) {
                    v.stages.retain(|s| s != &stage);
                }
            }
            if let Some(to) = &move_to {
                if let Some(v) = rec.versions.iter_mut().find(|v| &v.id == to) {
                    if !v.stages.contains(&stage) {
                        v.stages.push(stage.clone());
                    }
                }
            }
            if stage == AWSCURRENT {
                if let (Some(from), Some(to)) = (&remove_from, &move_to) {
                    if from != to {
                        for v in &mut rec.versions {
                            v.stages.retain(|s| s != AWSPREVIOUS);
                            if &v.id == from {
                                v.stages.push(AWSPREVIOUS.to_string());
                            }
                        }
                    }
                }
            }
            prune_deprecated(rec);
            Ok(())
        })
    }

    /// ListSecretVersionIds.
    pub fn list_secret_version_ids(
        &self,
        ctx: &RequestContext,
        req: ListSecretVersionIdsRequest,
    ) -> Result<ListSecretVersionIdsResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.range("MaxResults", req.max_results, 1, 100);
            v.length("NextToken", req.next_token.as_deref(), 1, 4096);
        })?;
        let offset = decode_token(&req.next_token)?;
        let st = self.state.read();
        let s = self.lookup_shared(&st, ctx, SecretsManagerOp::ListSecretVersionIds, &id)?;
        if s.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.to_string()));
        }
        let include_deprecated = req.include_deprecated.unwrap_or(false);
        let all: Vec<&VersionMeta> = s
            .rec
            .versions
            .iter()
            .filter(|v| include_deprecated || !v.stages.is_empty())
            .collect();
        let max = usize::try_from(req.max_results.unwrap_or(100)).unwrap_or(100);
        let page: Vec<SecretVersionsListEntry> = all
            .iter()
            .skip(offset)
            .take(max)
            .map(|v| SecretVersionsListEntry {
                version_id: Some(v.id.clone()),
                version_stages: (!v.stages.is_empty()).then(|| v.stages.clone()),
                last_accessed_date: s.version_last_accessed(&v.id).map(ts),
                created_date: Some(ts(v.created)),
                kms_key_ids: Some(vec![v
                    .kms_key_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_KEY_LABEL.to_string())]),
            })
            .collect();
        let end = offset.saturating_add(max);
        Ok(ListSecretVersionIdsResponse {
            versions: Some(page),
            next_token: (end < all.len()).then(|| encode_token(end)),
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
        })
    }
}
