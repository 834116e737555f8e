//! Secret values: GetSecretValue, BatchGetSecretValue, PutSecretValue and GetRandomPassword.

use super::*;

impl SecretsManager {
    /// GetSecretValue.
    pub fn get_secret_value(
        &self,
        ctx: &RequestContext,
        req: GetSecretValueRequest,
    ) -> Result<GetSecretValueResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.length("VersionId", req.version_id.as_deref(), 32, 64);
            v.length("VersionStage", req.version_stage.as_deref(), 1, 256);
        })?;
        let st = self.state.read();
        let s = self.lookup_shared(&st, ctx, SecretsManagerOp::GetSecretValue, &id)?;
        let (vid, stages, created, plain) = self.read_value(
            ctx,
            s,
            req.version_id.as_deref(),
            req.version_stage.as_deref(),
        )?;
        let (secret_string, secret_binary) = split_value(plain)?;
        Ok(GetSecretValueResponse {
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
            version_id: Some(vid),
            secret_binary,
            secret_string,
            version_stages: Some(stages),
            created_date: Some(ts(created)),
        })
    }

    /// Reads a version's value (by ID, label or AWSCURRENT) and records the access.
    pub(super) fn read_value(
        &self,
        ctx: &RequestContext,
        s: &Secret,
        version_id: Option<&str>,
        version_stage: Option<&str>,
    ) -> Result<(String, Vec<String>, i64, Plain), SmError> {
        if s.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.to_string()));
        }
        let version = match (version_id, version_stage) {
            (Some(id), stage) => {
                let v = s.rec.version(id).ok_or_else(|| {
                    SmError::ResourceNotFound(format!(
                        "Secrets Manager can't find the specified secret value for VersionId: {id}"
                    ))
                })?;
                if let Some(stage) = stage {
                    if !v.stages.iter().any(|x| x == stage) {
                        return Err(SmError::InvalidRequest(
                            "You provided a VersionStage that is not associated to the provided VersionId."
                                .to_string(),
                        ));
                    }
                }
                v
            }
            (None, stage) => {
                let stage = stage.unwrap_or(AWSCURRENT);
                s.rec.version_with_stage(stage).ok_or_else(|| {
                    SmError::ResourceNotFound(format!(
                        "Secrets Manager can't find the specified secret value for staging label: {stage}"
                    ))
                })?
            }
        };
        if !s.blobs.contains_key(&version.id) {
            // An empty version (a rotation's AWSPENDING before its value is put).
            return Err(SmError::ResourceNotFound(match version_id {
                Some(id) => format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {id}"
                ),
                None => format!(
                    "Secrets Manager can't find the specified secret value for staging label: {}",
                    version_stage.unwrap_or(AWSCURRENT)
                ),
            }));
        }
        let plain = self.open(ctx, s, &version.id)?;
        s.touch(&version.id, self.clock.now().truncate_to_day().millis);
        Ok((
            version.id.clone(),
            version.stages.clone(),
            version.created,
            plain,
        ))
    }

    /// PutSecretValue.
    pub fn put_secret_value(
        &self,
        ctx: &RequestContext,
        req: PutSecretValueRequest,
    ) -> Result<PutSecretValueResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            check_token(v, &req.client_request_token);
            check_value(v, &req.secret_string, &req.secret_binary);
            if let Some(stages) = &req.version_stages {
                v.count("VersionStages", Some(stages.len()), 1, 20);
                for s in stages {
                    v.length("VersionStages", Some(s), 1, 256);
                }
            }
            v.length(
                "RotationToken",
                req.rotation_token.as_ref().map(|t| t.as_str()),
                36,
                256,
            );
        })?;
        if req.secret_string.is_some() && req.secret_binary.is_some() {
            return Err(SmError::InvalidParameter(BOTH_VALUES.to_string()));
        }
        let Some(value) = Plain::from_request(&req.secret_string, &req.secret_binary) else {
            return Err(SmError::InvalidRequest(NO_VALUE.to_string()));
        };
        let Some(token) = req.client_request_token.clone() else {
            return Err(SmError::InvalidRequest(TOKEN_REQUIRED.to_string()));
        };
        let stages = req
            .version_stages
            .clone()
            .unwrap_or_else(|| vec![AWSCURRENT.to_string()]);

        let mut st = self.state.write();
        let s = self.writable_shared(&st, ctx, SecretsManagerOp::PutSecretValue, &id)?;
        Self::check_not_cross_account_replica(&s.rec)?;
        // Another account's secret is sealed under its own key, which must be a customer managed
        // key named by its ARN: the default key (aws/secretsmanager) serves its account only.
        if s.rec.account != ctx.account_id && s.rec.kms_key_id.is_none() {
            return Err(SmError::AccessDenied(KMS_ACCESS_DENIED.to_string()));
        }
        // An empty version (a rotation's AWSPENDING) gets its value now.
        let filling = s
            .rec
            .version(&token)
            .filter(|_| !s.blobs.contains_key(&token))
            .map(|v| v.created);
        if let Some(existing) = s.rec.version(&token).filter(|_| filling.is_none()) {
            let stored = self.open(ctx, s, &token)?;
            if stored.same_as(&value) {
                return Ok(PutSecretValueResponse {
                    arn: Some(s.rec.arn.clone()),
                    name: Some(s.rec.name.clone()),
                    version_id: Some(token),
                    version_stages: Some(existing.stages.clone()),
                });
            }
            return Err(SmError::ResourceExists(VERSION_EXISTS.to_string()));
        }
        let mut rec = s.snapshot();
        let mut blobs = s.blobs.clone();
        let now = self.clock.now().millis;
        let sealed = self
            .seal(ctx, rec.kms_key_id.as_deref(), &rec.arn, &token, &value)
            .map_err(encryption_failure)?;
        let mut p = Pending::default();
        let k = rec.kms_key_id.clone();
        if filling.is_some() {
            rec.versions.retain(|v| v.id != token);
        }
        let dropped = add_version(&mut rec, &token, &stages, now, k);
        if let (Some(created), Some(v)) = (filling, rec.versions.iter_mut().find(|v| v.id == token))
        {
            v.created = created;
        }
        if stages.iter().any(|s| s == AWSCURRENT) {
            rotate::note_manual_update(&mut rec, now);
        }
        rec.last_changed = now;
        for vid in &dropped {
            p.delete_blob(&rec, vid);
            blobs.remove(vid);
        }
        p.put_blob(&rec, &token, &sealed)?;
        blobs.insert(token.clone(), Arc::new(sealed));
        self.sync_replicas(&st, ctx, &mut rec, Some((&token, &value)), &mut p)?;
        let resp = PutSecretValueResponse {
            arn: Some(rec.arn.clone()),
            name: Some(rec.name.clone()),
            version_id: Some(token.clone()),
            version_stages: rec.version(&token).map(|v| v.stages.clone()),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// BatchGetSecretValue.
    pub fn batch_get_secret_value(
        &self,
        ctx: &RequestContext,
        req: BatchGetSecretValueRequest,
    ) -> Result<BatchGetSecretValueResponse, SmError> {
        let mut v = Validator::new();
        if let Some(ids) = &req.secret_id_list {
            v.count("SecretIdList", Some(ids.len()), 1, 20);
            for id in ids {
                v.length("SecretIdList", Some(id), 1, 2048);
            }
        }
        check_filters(&mut v, &req.filters);
        v.range("MaxResults", req.max_results, 1, 20);
        v.length("NextToken", req.next_token.as_deref(), 1, 4096);
        finish(v)?;
        if req.secret_id_list.is_some() == req.filters.is_some() {
            return Err(SmError::InvalidParameter(
                "Either 'SecretIdList' or 'Filters' must be provided, but not both.".to_string(),
            ));
        }
        check_filter_members(&req.filters)?;
        if req.max_results.is_some() && req.filters.is_none() {
            return Err(SmError::InvalidParameter(
                "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided."
                    .to_string(),
            ));
        }
        let st = self.state.read();
        let mut values = Vec::new();
        let mut errors = Vec::new();
        let mut next_token = None;
        let read =
            |s: &Secret,
             id: &str,
             values: &mut Vec<SecretValueEntry>,
             errors: &mut Vec<ApiErrorType>| {
                match self.read_value(ctx, s, None, None).and_then(
                    |(vid, stages, created, plain)| Ok((vid, stages, created, split_value(plain)?)),
                ) {
                    Ok((vid, stages, created, (secret_string, secret_binary))) => {
                        values.push(SecretValueEntry {
                            arn: Some(s.rec.arn.clone()),
                            name: Some(s.rec.name.clone()),
                            version_id: Some(vid),
                            secret_binary,
                            secret_string,
                            version_stages: Some(stages),
                            created_date: Some(ts(created)),
                        })
                    }
                    Err(e) => errors.push(api_error(id, &e)),
                }
            };
        if let Some(ids) = &req.secret_id_list {
            for id in ids {
                let found = secret_id_chars(id)
                    .and_then(|_| Self::lookup(&st, ctx, id))
                    .and_then(|s| {
                        self.check_secret(ctx, authorize::get_secret_value_action(), s)
                            .map(|()| s)
                    });
                match found {
                    Ok(s) => read(s, id, &mut values, &mut errors),
                    Err(e) => errors.push(api_error(id, &e)),
                }
            }
        } else {
            let offset = decode_token(&req.next_token)?;
            let filters = req.filters.clone().unwrap_or_default();
            let mut found: Vec<&Secret> = st
                .secrets
                .iter()
                .filter(|(k, _)| k.account == ctx.account_id && k.region == ctx.region)
                .map(|(_, s)| s)
                .filter(|s| !s.is_deleted() && matches_filters(s, &filters))
                .collect();
            sort_secrets(&mut found, None, None);
            let max = usize::try_from(req.max_results.unwrap_or(20)).unwrap_or(20);
            for s in found.iter().skip(offset).take(max) {
                let arn = s.rec.arn.clone();
                match self.check_secret(ctx, authorize::get_secret_value_action(), s) {
                    Ok(()) => read(s, &arn, &mut values, &mut errors),
                    Err(e) => errors.push(api_error(&arn, &e)),
                }
            }
            let end = offset.saturating_add(max);
            next_token = (end < found.len()).then(|| encode_token(end));
        }
        Ok(BatchGetSecretValueResponse {
            secret_values: Some(values),
            next_token,
            errors: Some(errors),
        })
    }

    /// GetRandomPassword.
    pub fn get_random_password(
        &self,
        req: GetRandomPasswordRequest,
    ) -> Result<GetRandomPasswordResponse, SmError> {
        let mut v = Validator::new();
        v.range("PasswordLength", req.password_length, 1, 4096);
        v.length(
            "ExcludeCharacters",
            req.exclude_characters.as_deref(),
            0,
            4096,
        );
        finish(v)?;
        let length = usize::try_from(req.password_length.unwrap_or(32)).unwrap_or(32);
        let exclude: Vec<char> = req
            .exclude_characters
            .clone()
            .unwrap_or_default()
            .chars()
            .collect();
        let keep =
            |set: &str| -> Vec<char> { set.chars().filter(|c| !exclude.contains(c)).collect() };
        let mut types: Vec<Vec<char>> = Vec::new();
        if !req.exclude_lowercase.unwrap_or(false) {
            types.push(keep("abcdefghijklmnopqrstuvwxyz"));
        }
        if !req.exclude_uppercase.unwrap_or(false) {
            types.push(keep("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
        }
        if !req.exclude_numbers.unwrap_or(false) {
            types.push(keep("0123456789"));
        }
        if !req.exclude_punctuation.unwrap_or(false) {
            types.push(keep("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"));
        }
        if req.include_space.unwrap_or(false) {
            types.push(keep(" "));
        }
        types.retain(|t| !t.is_empty());
        let require_each = req.require_each_included_type.unwrap_or(true);
        if types.is_empty() || (require_each && length < types.len()) {
            return Err(SmError::InvalidParameter(
                "Password length is too short based on the required types.".to_string(),
            ));
        }
        let all: Vec<char> = types.iter().flatten().copied().collect();
        loop {
            let mut pw = Zeroizing::new(String::with_capacity(length));
            for _ in 0..length {
                pw.push(all[random_index(all.len())?]);
            }
            if !require_each || types.iter().all(|t| pw.chars().any(|c| t.contains(&c))) {
                return Ok(GetRandomPasswordResponse {
                    random_password: Some(SecretText(pw)),
                });
            }
        }
    }
}

pub(super) fn split_value(plain: Plain) -> Result<(Option<SecretText>, Option<Blob>), SmError> {
    if plain.binary {
        return Ok((None, Some(Blob(plain.bytes))));
    }
    let mut bytes = plain.bytes;
    let s = String::from_utf8(std::mem::take(&mut *bytes))
        .map_err(|_| SmError::Internal("a stored secret string is not UTF-8".to_string()))?;
    Ok((Some(SecretText::new(s)), None))
}

pub(super) fn random_index(n: usize) -> Result<usize, SmError> {
    let n32 = u32::try_from(n).map_err(|_| SmError::Internal("character set too large".into()))?;
    let limit = u32::MAX - (u32::MAX % n32);
    loop {
        let b = random::array::<4>().map_err(|e| SmError::Internal(e.to_string()))?;
        let x = u32::from_le_bytes(b);
        if x < limit {
            return usize::try_from(x % n32).map_err(|_| SmError::Internal("index".into()));
        }
    }
}

pub(super) fn api_error(id: &str, e: &SmError) -> ApiErrorType {
    let code = match e {
        SmError::ResourceNotFound(_) => "ResourceNotFoundException",
        SmError::ResourceExists(_) => "ResourceExistsException",
        SmError::InvalidRequest(_) => "InvalidRequestException",
        SmError::InvalidParameter(_) => "InvalidParameterException",
        SmError::Validation(_) => "ValidationException",
        SmError::EncryptionFailure(_) => "EncryptionFailure",
        SmError::DecryptionFailure(_) => "DecryptionFailure",
        SmError::LimitExceeded(_) => "LimitExceededException",
        SmError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
        SmError::PreconditionNotMet(_) => "PreconditionNotMetException",
        SmError::PublicPolicy(_) => "PublicPolicyException",
        SmError::InvalidNextToken(_) => "InvalidNextTokenException",
        SmError::AccessDenied(_) => "AccessDeniedException",
        SmError::Internal(_) | SmError::Store(_) => "InternalServiceError",
    };
    ApiErrorType {
        secret_id: Some(id.to_string()),
        error_code: Some(code.to_string()),
        message: Some(e.client_message()),
    }
}
