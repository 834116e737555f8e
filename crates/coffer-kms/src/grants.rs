//! KMS grants: stored with AWS's full semantics (operations, grantee and retiring principals or
//! service principals, encryption-context and `SourceArn` constraints, name idempotency, tokens).
//! Enforcement plugs into [`Kms::resolve`] with the authorization work.

use super::ops;
use super::records::{GrantRecord, GRANT_TABLE, RECORD_VERSION};
use super::{key_arn, Kms, KmsError};
use crate::common::{dry_run, page, require_key_id, validate_grant_tokens, validate_list};
use base64::Engine;
use coffer_core::RequestContext;
use coffer_model::kms::*;
use coffer_model::{ValidationError, Validator};
use coffer_store::Transaction;

/// AWS's quota of grants per KMS key.
const MAX_GRANTS_PER_KEY: usize = 50_000;
const TOKEN_PREFIX: &str = "cgt1";

const SERVICE_PRINCIPAL_PATTERN: &str = r"^([A-Za-z0-9\-]+)\.([A-Za-z0-9\-]+)(\.[A-Za-z0-9\-]+)+$";
const SOURCE_ARN_PATTERN: &str = r"^arn:aws[a-z0-9-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$";

// Rules the model documents but its shapes cannot express (ValidationException). AWS publishes no
// runtime text for them, so each message is the model documentation's own sentence.
const CREATE_GRANTEE_EXCLUSIVE: &str =
    "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.";
const CREATE_RETIRING_EXCLUSIVE: &str =
    "You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both.";
const SERVICE_GRANTEE_NEEDS_SOURCE_ARN: &str =
    "When you specify a GranteeServicePrincipal, you must also specify a SourceArn grant constraint.";
const SERVICE_GRANTEE_NEEDS_RETIRING: &str = "When you specify a GranteeServicePrincipal, you must also specify either a RetiringPrincipal or a RetiringServicePrincipal.";
const LIST_GRANTEE_EXCLUSIVE: &str =
    "You can specify either GranteePrincipal or GranteeServicePrincipal, but not both.";
const LIST_RETIRING_EXCLUSIVE: &str =
    "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both.";
// What the key supports (ValidationException). No runtime text is published either: the first is
// the Developer Guide's sentence (Grants in AWS KMS, "Grant operations"), the second the model's
// documentation of `Constraints`.
const OPERATION_NOT_SUPPORTED: &str =
    "The grant operations that you allow must be supported by the KMS key in the grant.";
const CONTEXT_CONSTRAINT_NOT_SUPPORTED: &str = "You cannot use an encryption context grant constraint for cryptographic operations with asymmetric KMS keys or HMAC KMS keys.";

fn principal_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || "_+=,.@:/-".contains(c))
}

fn name_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || ":/_-".contains(c))
}

/// `ServicePrincipalType`: three or more dot-separated labels of letters, digits and hyphens
/// (`kms.amazonaws.com`, `us-east-1.supportauthz.amazonaws.com`).
fn service_principal_ok(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 3
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// `GrantConstraintSourceArnType`: `arn:aws<partition suffix>:<service>:<region>:<12 digits>:<rest>`.
fn source_arn_ok(s: &str) -> bool {
    let lower = |p: &str| {
        p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let Some(rest) = s.strip_prefix("arn:aws") else {
        return false;
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    lower(partition)
        && !service.is_empty()
        && lower(service)
        && lower(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !resource.is_empty()
        // Java's `.` matches anything but a line terminator.
        && !resource.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
}

fn validate_principal(v: &mut Validator, member: &str, p: Option<&str>) {
    v.length(member, p, 1, 256);
    v.pattern(member, p, principal_ok, "^[\\w+=,.@:/-]+$");
}

fn validate_service_principal(v: &mut Validator, member: &str, p: Option<&str>) {
    v.length(member, p, 1, 128);
    v.pattern(member, p, service_principal_ok, SERVICE_PRINCIPAL_PATTERN);
}

fn invalid(message: &str) -> KmsError {
    ValidationError {
        message: message.into(),
    }
    .into()
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
        // A grant made for a service principal is listed with `GranteeServicePrincipal` alone:
        // CreateGrant takes one of the two, and the model makes both optional here.
        grantee_principal: g.grantee.clone(),
        retiring_principal: g.retiring.clone(),
        issuing_account: format!("arn:{partition}:iam::{}:root", g.account),
        operations: g.operations.clone(),
        constraints: g.constraints.clone(),
        grantee_service_principal: g.grantee_service.clone(),
        retiring_service_principal: g.retiring_service.clone(),
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
                grant_operations(),
            );
        }
        let source_arn = req
            .constraints
            .as_ref()
            .and_then(|c| c.source_arn.as_deref());
        v.length("Constraints.sourceArn", source_arn, 20, 512);
        v.pattern(
            "Constraints.sourceArn",
            source_arn,
            source_arn_ok,
            SOURCE_ARN_PATTERN,
        );
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.length("Name", req.name.as_deref(), 1, 256);
        v.pattern("Name", req.name.as_deref(), name_ok, "^[a-zA-Z0-9:/_-]+$");
        validate_service_principal(
            &mut v,
            "GranteeServicePrincipal",
            req.grantee_service_principal.as_deref(),
        );
        validate_service_principal(
            &mut v,
            "RetiringServicePrincipal",
            req.retiring_service_principal.as_deref(),
        );
        v.finish()?;
        if req.grantee_principal.is_some() == req.grantee_service_principal.is_some() {
            return Err(invalid(CREATE_GRANTEE_EXCLUSIVE));
        }
        if req.retiring_principal.is_some() && req.retiring_service_principal.is_some() {
            return Err(invalid(CREATE_RETIRING_EXCLUSIVE));
        }
        if req.grantee_service_principal.is_some() {
            if source_arn.is_none() {
                return Err(invalid(SERVICE_GRANTEE_NEEDS_SOURCE_ARN));
            }
            if req.retiring_principal.is_none() && req.retiring_service_principal.is_none() {
                return Err(invalid(SERVICE_GRANTEE_NEEDS_RETIRING));
            }
        }
        let mut operations = req.operations.clone().unwrap_or_default();
        if operations.is_empty() {
            return Err(invalid("Operations must contain at least one operation."));
        }
        operations.dedup();
        let constraints = req
            .constraints
            .clone()
            .filter(|c| *c != GrantConstraints::default());
        if let Some(c) = &constraints {
            if c.encryption_context_equals.is_some() && c.encryption_context_subset.is_some() {
                return Err(invalid(
                    "A grant constraint can contain EncryptionContextEquals or EncryptionContextSubset, not both.",
                ));
            }
        }
        let mut w = self.world.write();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::CreateGrant.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        // Every grant operation names a key operation; each must be one the key supports.
        let (spec, usage) = (fam.rec.key_spec.as_str(), fam.rec.key_usage.as_str());
        if !operations
            .iter()
            .all(|op| ops::by_name(op).is_some_and(|k| ops::rule(k).supported_by(spec, usage)))
        {
            return Err(invalid(OPERATION_NOT_SUPPORTED));
        }
        // Only symmetric encryption keys take an encryption context.
        if spec != "SYMMETRIC_DEFAULT"
            && constraints.as_ref().is_some_and(|c| {
                c.encryption_context_equals.is_some() || c.encryption_context_subset.is_some()
            })
        {
            return Err(invalid(CONTEXT_CONSTRAINT_NOT_SUPPORTED));
        }
        dry_run(req.dry_run)?;
        let key_id = key.key_id.clone();
        // A grant lives with its key, in the key's account (the caller's, or another's: ADR 0017).
        let owner = key.account.clone();
        let existing: Vec<&GrantRecord> = w
            .region(&owner, &ctx.region)
            .map(|r| r.grants.values().filter(|g| g.key_id == key_id).collect())
            .unwrap_or_default();
        if let Some(name) = &req.name {
            let same = existing.iter().find(|g| {
                g.name.as_ref() == Some(name)
                    && g.grantee == req.grantee_principal
                    && g.grantee_service == req.grantee_service_principal
                    && g.retiring == req.retiring_principal
                    && g.retiring_service == req.retiring_service_principal
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
            account: owner,
            region: ctx.region.clone(),
            key_id: key_id.clone(),
            grant_id: grant_id.clone(),
            name: req.name,
            grantee: req.grantee_principal,
            retiring: req.retiring_principal,
            operations,
            constraints,
            created: self.clock.now(),
            grantee_service: req.grantee_service_principal,
            retiring_service: req.retiring_service_principal,
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
        validate_service_principal(
            &mut v,
            "GranteeServicePrincipal",
            req.grantee_service_principal.as_deref(),
        );
        v.finish()?;
        if req.grantee_principal.is_some() && req.grantee_service_principal.is_some() {
            return Err(invalid(LIST_GRANTEE_EXCLUSIVE));
        }
        // AWS reserves the GranteeServicePrincipal filter to callers that are service principals;
        // Coffer does not authorize yet and applies it for any caller.
        let w = self.world.read();
        let (key, _) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::ListGrants.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let items: Vec<(String, GrantListEntry)> = w
            .region(&key.account, &ctx.region)
            .map(|r| {
                r.grants
                    .values()
                    .filter(|g| g.key_id == key.key_id)
                    .filter(|g| req.grant_id.as_ref().is_none_or(|id| &g.grant_id == id))
                    .filter(|g| {
                        req.grantee_principal
                            .as_ref()
                            .is_none_or(|p| g.grantee.as_ref() == Some(p))
                    })
                    .filter(|g| {
                        req.grantee_service_principal
                            .as_ref()
                            .is_none_or(|p| g.grantee_service.as_ref() == Some(p))
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
        validate_list(&mut v, req.limit, req.marker.as_deref());
        validate_principal(
            &mut v,
            "RetiringPrincipal",
            req.retiring_principal.as_deref(),
        );
        validate_service_principal(
            &mut v,
            "RetiringServicePrincipal",
            req.retiring_service_principal.as_deref(),
        );
        v.finish()?;
        if req.retiring_principal.is_some() == req.retiring_service_principal.is_some() {
            return Err(invalid(LIST_RETIRING_EXCLUSIVE));
        }
        // As with ListGrants' GranteeServicePrincipal, AWS lets only service principals use the
        // RetiringServicePrincipal filter; Coffer applies it for any caller.
        let w = self.world.read();
        let items: Vec<(String, GrantListEntry)> = w
            .region(&ctx.account_id, &ctx.region)
            .map(|r| {
                r.grants
                    .values()
                    .filter(
                        |g| match (&req.retiring_principal, &req.retiring_service_principal) {
                            (Some(p), _) => g.retiring.as_ref() == Some(p),
                            (None, Some(s)) => g.retiring_service.as_ref() == Some(s),
                            (None, None) => false,
                        },
                    )
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

    /// Removes a grant of the key `key_id` of `owner`'s account.
    fn remove_grant(
        &self,
        ctx: &RequestContext,
        owner: &str,
        key_id: &str,
        grant_id: &str,
    ) -> Result<(), KmsError> {
        let mut w = self.world.write();
        let found = w
            .region(owner, &ctx.region)
            .and_then(|r| r.grants.get(grant_id))
            .filter(|g| g.key_id == key_id)
            .cloned();
        let Some(g) = found else {
            return Err(KmsError::NotFound(format!("Grant ID {grant_id} not found")));
        };
        let mut tx = Transaction::new();
        tx.delete(GRANT_TABLE, &g.store_key());
        self.commit(&tx)?;
        w.region_mut(owner, &ctx.region).grants.remove(grant_id);
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
        let (owner, key_id) = {
            let w = self.world.read();
            let (key, _) = self.resolve(&w, ctx, ops::KmsAction::RetireGrant.info(), &key_ref)?;
            (key.account.clone(), key.key_id.clone())
        };
        dry_run(req.dry_run)?;
        self.remove_grant(ctx, &owner, &key_id, &grant_id)?;
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
        let (owner, key_id) = {
            let w = self.world.read();
            let (key, _) = self.resolve(
                &w,
                ctx,
                ops::KmsAction::RevokeGrant.info(),
                req.key_id.as_deref().unwrap_or_default(),
            )?;
            (key.account.clone(), key.key_id.clone())
        };
        dry_run(req.dry_run)?;
        self.remove_grant(
            ctx,
            &owner,
            &key_id,
            req.grant_id.as_deref().unwrap_or_default(),
        )?;
        Ok(Empty {})
    }
}
