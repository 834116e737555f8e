//! Aliases: CreateAlias, UpdateAlias, DeleteAlias and ListAliases.

use crate::common::*;
use crate::ops::{self};
use crate::provider::AWS_MANAGED_ALIASES;
use crate::records::*;
use crate::state::World;
use crate::{alias_arn, key_arn, Kms, KmsError};
use coffer_core::RequestContext;
use coffer_model::kms::*;
use coffer_model::{ValidationError, Validator};
use coffer_store::Transaction;

impl Kms {
    pub(crate) fn validate_alias_request(
        req: &AliasRequest,
        needs_target: bool,
    ) -> Result<(String, String), KmsError> {
        let mut v = Validator::new();
        v.required("AliasName", &req.alias_name);
        v.length("AliasName", req.alias_name.as_deref(), 1, 256);
        v.pattern(
            "AliasName",
            req.alias_name.as_deref(),
            alias_name_ok,
            "^[a-zA-Z0-9:/_-]+$",
        );
        if needs_target {
            require_key_id(&mut v, "TargetKeyId", &req.target_key_id);
        }
        v.finish()?;
        let name = req.alias_name.clone().unwrap_or_default();
        if !name.starts_with("alias/") || name.len() == "alias/".len() {
            return Err(ValidationError {
                message: "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".into(),
            }
            .into());
        }
        let target = req.target_key_id.clone().unwrap_or_default();
        if needs_target && (target.starts_with("alias/") || target.contains(":alias/")) {
            return Err(ValidationError {
                message: "Aliases must refer to keys. Not aliases".into(),
            }
            .into());
        }
        Ok((name, target))
    }

    /// CreateAlias, UpdateAlias and DeleteAlias of an `alias/aws/` name: NotAuthorizedException
    /// with no message, as AWS answers.
    fn refuse_reserved(name: &str) -> Result<(), KmsError> {
        if name.starts_with("alias/aws/") {
            return Err(KmsError::NotAuthorized(String::new()));
        }
        Ok(())
    }

    /// `CreateAlias`.
    pub fn create_alias(&self, ctx: &RequestContext, req: AliasRequest) -> Result<Empty, KmsError> {
        let (name, target) = Self::validate_alias_request(&req, true)?;
        Self::refuse_reserved(&name)?;
        if name.contains(':') {
            return Err(ValidationError {
                message: format!("{name} contains invalid characters for an alias"),
            }
            .into());
        }
        let mut w = self.world.write();
        let (key, _) = self.resolve(&w, ctx, ops::KmsAction::CreateAlias.info(), &target)?;
        let arn = alias_arn(ctx.partition(), &ctx.region, &ctx.account_id, &name);
        if w.region(&ctx.account_id, &ctx.region)
            .is_some_and(|r| r.aliases.contains_key(&name))
        {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {arn} already exists"
            )));
        }
        Self::check_alias_quota(&w, ctx, &key.key_id)?;
        let now = self.clock.now();
        let rec = AliasRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            name,
            target_key_id: key.key_id.clone(),
            created: now,
            updated: now,
        };
        let mut tx = Transaction::new();
        tx.put(ALIAS_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        w.put_alias(rec);
        Ok(Empty {})
    }

    pub(crate) fn existing_alias(
        w: &World,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<AliasRecord, KmsError> {
        w.region(&ctx.account_id, &ctx.region)
            .and_then(|r| r.aliases.get(name))
            .cloned()
            .ok_or_else(|| {
                KmsError::NotFound(format!(
                    "Alias {} is not found.",
                    alias_arn(ctx.partition(), &ctx.region, &ctx.account_id, name)
                ))
            })
    }

    /// AWS's quota of aliases per key.
    pub(crate) fn check_alias_quota(
        w: &World,
        ctx: &RequestContext,
        key_id: &str,
    ) -> Result<(), KmsError> {
        let n = w.region(&ctx.account_id, &ctx.region).map_or(0, |r| {
            r.aliases
                .values()
                .filter(|a| a.target_key_id == key_id)
                .count()
        });
        if n >= MAX_ALIASES_PER_KEY {
            return Err(KmsError::LimitExceeded(format!(
                "The KMS key {} already has {MAX_ALIASES_PER_KEY} aliases, the maximum allowed.",
                key_arn(ctx.partition(), &ctx.region, &ctx.account_id, key_id)
            )));
        }
        Ok(())
    }

    /// `UpdateAlias`.
    pub fn update_alias(&self, ctx: &RequestContext, req: AliasRequest) -> Result<Empty, KmsError> {
        let (name, target) = Self::validate_alias_request(&req, true)?;
        Self::refuse_reserved(&name)?;
        let mut w = self.world.write();
        let mut rec = Self::existing_alias(&w, ctx, &name)?;
        let (key, _) = self.resolve(&w, ctx, ops::KmsAction::UpdateAlias.info(), &target)?;
        if rec.target_key_id != key.key_id {
            Self::check_alias_quota(&w, ctx, &key.key_id)?;
        }
        rec.target_key_id = key.key_id.clone();
        rec.updated = self.clock.now();
        let mut tx = Transaction::new();
        tx.put(ALIAS_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        w.put_alias(rec);
        Ok(Empty {})
    }

    /// `DeleteAlias`.
    pub fn delete_alias(&self, ctx: &RequestContext, req: AliasRequest) -> Result<Empty, KmsError> {
        let (name, _) = Self::validate_alias_request(&req, false)?;
        Self::refuse_reserved(&name)?;
        let mut w = self.world.write();
        let rec = Self::existing_alias(&w, ctx, &name)?;
        let mut tx = Transaction::new();
        tx.delete(ALIAS_TABLE, &rec.store_key());
        self.commit(&tx)?;
        w.region_mut(&ctx.account_id, &ctx.region)
            .aliases
            .remove(&name);
        Ok(Empty {})
    }

    /// `ListAliases`.
    pub fn list_aliases(
        &self,
        ctx: &RequestContext,
        req: ListRequest,
    ) -> Result<ListAliasesResponse, KmsError> {
        let mut v = Validator::new();
        v.length("KeyId", req.key_id.as_deref(), KEY_ID.0, KEY_ID.1);
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        let filter = match &req.key_id {
            Some(k) => Some(
                self.resolve(&w, ctx, ops::KmsAction::ListAliases.info(), k)?
                    .0
                    .key_id
                    .clone(),
            ),
            None => None,
        };
        let mut items: Vec<(String, AliasListEntry)> = w
            .region(&ctx.account_id, &ctx.region)
            .map(|r| {
                r.aliases
                    .values()
                    .filter(|a| filter.as_ref().is_none_or(|f| &a.target_key_id == f))
                    .map(|a| {
                        (
                            a.name.clone(),
                            AliasListEntry {
                                alias_name: a.name.clone(),
                                alias_arn: alias_arn(
                                    ctx.partition(),
                                    &a.region,
                                    &a.account,
                                    &a.name,
                                ),
                                target_key_id: Some(a.target_key_id.clone()),
                                creation_date: Some(a.created),
                                last_updated_date: Some(a.updated),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if filter.is_none() {
            // The predefined AWS aliases whose AWS managed key does not exist yet: name and ARN
            // only, as AWS lists them.
            for (name, _) in AWS_MANAGED_ALIASES {
                if !items.iter().any(|(n, _)| n == name) {
                    items.push((
                        (*name).to_string(),
                        AliasListEntry {
                            alias_name: (*name).to_string(),
                            alias_arn: alias_arn(
                                ctx.partition(),
                                &ctx.region,
                                &ctx.account_id,
                                name,
                            ),
                            target_key_id: None,
                            creation_date: None,
                            last_updated_date: None,
                        },
                    ));
                }
            }
            items.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let (aliases, next) = page(items, req.limit, 50, 100, req.marker.as_deref())?;
        Ok(ListAliasesResponse {
            aliases,
            truncated: next.is_some(),
            next_marker: next,
        })
    }
}
