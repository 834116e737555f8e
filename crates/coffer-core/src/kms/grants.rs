//! KMS grants: stored with AWS's full semantics (operations, grantee and retiring principals,
//! encryption-context constraints, name idempotency, tokens). Enforcement plugs into
//! [`Kms::resolve`] with the authorization work.

use super::api::{dry_run, page, require_key_id, validate_grant_tokens, validate_list};
use super::ops;
use super::records::{GrantRecord, GRANT_TABLE, RECORD_VERSION};
use super::{key_arn, Kms, KmsError};
use crate::RequestContext;
use base64::Engine;
use coffer_model::kms::*;
use coffer_model::{ValidationError, Validator};
use coffer_store::Transaction;

/// AWS's quota of grants per KMS key.
const MAX_GRANTS_PER_KEY: usize = 50_000;
const TOKEN_PREFIX: &str = "cgt1";

fn principal_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || "_+=,.@:/-".contains(c))
}

fn name_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c))
}

fn validate_principal(v: &mut Validator, member: &str, p: Option<&str>) {
    v.length(member, p, 1, 256);
    v.pattern(member, p, principal_ok, "^[\\w+=,.@:/-]+$");
}

/// A grant token names the key and grant it stands for, plus a nonce: every CreateGrant returns a
/// fresh token, even for an existing grant.
fn make_token(key_id: &str, grant_id: &str) -> Result<String, KmsError> {
    let nonce: [u8; 16] = coffer_crypto::random::array()?;
    let payload = format!("{key_id}|{grant_id}|{}", hex::encode(nonce));
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    ))
}

fn parse_token(token: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.strip_prefix(TOKEN_PREFIX)?)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split('|');
    let key_id = parts.next()?.to_string();
    let grant_id = parts.next()?.to_string();
    parts.next()?;
    Some((key_id, grant_id))
}

fn entry(partition: &str, g: &GrantRecord) -> GrantListEntry {
    GrantListEntry {
        key_id: key_arn(partition, &g.region, &g.account, &g.key_id),
        grant_id: g.grant_id.clone(),
        name: g.name.clone(),
        creation_date: g.created,
        grantee_principal: g.grantee.clone(),
        retiring_principal: g.retiring.clone(),
        issuing_account: format!("arn:{partition}:iam::{}:root", g.account),
        operations: g.operations.clone(),
        constraints: g.constraints.clone(),
    }
}

impl Kms {
    /// `CreateGrant`.
    pub fn create_grant(
        &self,
        ctx: &RequestContext,
        req: CreateGrantRequest,
    ) -> Result<CreateGrantResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("GranteePrincipal", &req.grantee_principal);
        validate_principal(&mut v, "GranteePrincipal", req.grantee_principal.as_deref());
        validate_principal(
            &mut v,
            "RetiringPrincipal",
            req.retiring_principal.as_deref(),
        );
        v.required("Operations", &req.operations);
        for (i, op) in req.operations.iter().flatten().enumerate() {
            v.one_of(
                &format!("Operations.{}.member", i + 1),
                Some(op),
                GRANT_OPERATIONS,
            );
        }
        v.length("Name", req.name.as_deref(), 1, 256);
        v.pattern("Name", req.name.as_deref(), name_ok, "^[a-zA-Z0-9:/_-]+$");
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        let mut operations = req.operations.clone().unwrap_or_default();
        if operations.is_empty() {
            return Err(ValidationError {
                message: "Operations must contain at least one operation.".into(),
            }
            .into());
        }
        operations.dedup();
        let constraints = req
            .constraints
            .clone()
            .filter(|c| *c != GrantConstraints::default());
        if let Some(c) = &constraints {
            if c.encryption_context_equals.is_some() && c.encryption_context_subset.is_some() {
                return Err(ValidationError {
                    message: "A grant constraint can contain EncryptionContextEquals or EncryptionContextSubset, not both."
                        .into(),
                }
                .into());
            }
        }
        let mut w = self.world.write();
        let (key, _) = self.resolve(
            &w,
            ctx,
            &ops::CREATE_GRANT,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        dry_run(req.dry_run)?;
        let key_id = key.key_id.clone();
        let existing: Vec<&GrantRecord> = w
            .region(&ctx.account_id, &ctx.region)
            .map(|r| r.grants.values().filter(|g| g.key_id == key_id).collect())
            .unwrap_or_default();
        if let Some(name) = &req.name {
            let same = existing.iter().find(|g| {
                g.name.as_ref() == Some(name)
                    && g.grantee == req.grantee_principal.clone().unwrap_or_default()
                    && g.retiring == req.retiring_principal
                    && g.operations == operations
                    && g.constraints == constraints
            });
            if let Some(g) = same {
                return Ok(CreateGrantResponse {
                    grant_token: make_token(&key_id, &g.grant_id)?,
                    grant_id: g.grant_id.clone(),
                });
            }
        }
        if existing.len() >= MAX_GRANTS_PER_KEY {
            return Err(KmsError::LimitExceeded(format!(
                "The request would exceed the limit of {MAX_GRANTS_PER_KEY} grants for the KMS key."
            )));
        }
        let grant_id = hex::encode(coffer_crypto::random::array::<32>()?);
        let rec = GrantRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            key_id: key_id.clone(),
            grant_id: grant_id.clone(),
            name: req.name,
            grantee: req.grantee_principal.unwrap_or_default(),
            retiring: req.retiring_principal,
            operations,
            constraints,
            created: self.clock.now(),
        };
        let mut tx = Transaction::new();
        tx.put(GRANT_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        w.put_grant(rec);
        Ok(CreateGrantResponse {
            grant_token: make_token(&key_id, &grant_id)?,
            grant_id,
        })
    }

    /// `ListGrants`.
    pub fn list_grants(
        &self,
        ctx: &RequestContext,
        req: ListGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.length("GrantId", req.grant_id.as_deref(), 1, 128);
        validate_principal(&mut v, "GranteePrincipal", req.grantee_principal.as_deref());
        v.finish()?;
        let w = self.world.read();
        let (key, _) = self.resolve(
            &w,
            ctx,
            &ops::LIST_GRANTS,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let items: Vec<(String, GrantListEntry)> = w
            .region(&ctx.account_id, &ctx.region)
            .map(|r| {
                r.grants
                    .values()
                    .filter(|g| g.key_id == key.key_id)
                    .filter(|g| req.grant_id.as_ref().is_none_or(|id| &g.grant_id == id))
                    .filter(|g| {
                        req.grantee_principal
                            .as_ref()
                            .is_none_or(|p| &g.grantee == p)
                    })
                    .map(|g| (g.grant_id.clone(), entry(ctx.partition(), g)))
                    .collect()
            })
            .unwrap_or_default();
        let (grants, next) = page(items, req.limit, 50, 100, req.marker.as_deref())?;
        Ok(ListGrantsResponse {
            grants,
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    /// `ListRetirableGrants`.
    pub fn list_retirable_grants(
        &self,
        ctx: &RequestContext,
        req: ListGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        let mut v = Validator::new();
        v.required("RetiringPrincipal", &req.retiring_principal);
        validate_principal(
            &mut v,
            "RetiringPrincipal",
            req.retiring_principal.as_deref(),
        );
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        let items: Vec<(String, GrantListEntry)> = w
            .region(&ctx.account_id, &ctx.region)
            .map(|r| {
                r.grants
                    .values()
                    .filter(|g| g.retiring.is_some() && g.retiring == req.retiring_principal)
                    .map(|g| (g.grant_id.clone(), entry(ctx.partition(), g)))
                    .collect()
            })
            .unwrap_or_default();
        let (grants, next) = page(items, req.limit, 50, 100, req.marker.as_deref())?;
        Ok(ListGrantsResponse {
            grants,
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    fn remove_grant(
        &self,
        ctx: &RequestContext,
        key_id: &str,
        grant_id: &str,
    ) -> Result<(), KmsError> {
        let mut w = self.world.write();
        let found = w
            .region(&ctx.account_id, &ctx.region)
            .and_then(|r| r.grants.get(grant_id))
            .filter(|g| g.key_id == key_id)
            .cloned();
        let Some(g) = found else {
            return Err(KmsError::NotFound(format!("Grant ID {grant_id} not found")));
        };
        let mut tx = Transaction::new();
        tx.delete(GRANT_TABLE, &g.store_key());
        self.commit(&tx)?;
        w.region_mut(&ctx.account_id, &ctx.region)
            .grants
            .remove(grant_id);
        Ok(())
    }

    /// `RetireGrant`: by grant token, or by key and grant ID.
    pub fn retire_grant(
        &self,
        ctx: &RequestContext,
        req: RetireGrantRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        v.length("GrantToken", req.grant_token.as_deref(), 1, 8192);
        v.length("KeyId", req.key_id.as_deref(), 1, 2048);
        v.length("GrantId", req.grant_id.as_deref(), 1, 128);
        v.finish()?;
        let (key_ref, grant_id) = match (&req.grant_token, &req.key_id, &req.grant_id) {
            (Some(t), _, _) => parse_token(t).ok_or_else(|| {
                KmsError::InvalidGrantToken("The provided grant token is not valid.".into())
            })?,
            (None, Some(k), Some(g)) => (k.clone(), g.clone()),
            _ => {
                return Err(ValidationError {
                    message: "Specify either a GrantToken or both KeyId and GrantId.".into(),
                }
                .into())
            }
        };
        let key_id = {
            let w = self.world.read();
            self.resolve(&w, ctx, &ops::RETIRE_GRANT, &key_ref)?
                .0
                .key_id
                .clone()
        };
        dry_run(req.dry_run)?;
        self.remove_grant(ctx, &key_id, &grant_id)?;
        Ok(Empty {})
    }

    /// `RevokeGrant`.
    pub fn revoke_grant(
        &self,
        ctx: &RequestContext,
        req: RetireGrantRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("GrantId", &req.grant_id);
        v.length("GrantId", req.grant_id.as_deref(), 1, 128);
        v.finish()?;
        let key_id = {
            let w = self.world.read();
            self.resolve(
                &w,
                ctx,
                &ops::REVOKE_GRANT,
                req.key_id.as_deref().unwrap_or_default(),
            )?
            .0
            .key_id
            .clone()
        };
        dry_run(req.dry_run)?;
        self.remove_grant(ctx, &key_id, req.grant_id.as_deref().unwrap_or_default())?;
        Ok(Empty {})
    }
}
