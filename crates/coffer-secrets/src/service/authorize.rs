//! Authorization of Secrets Manager requests from role sessions (ADR 0009): each operation's
//! action and resource come from the operation registry (`coffer_model::ops`): the action on the
//! secret the request names (its ARN, with its resource policy and tags as condition keys), or on
//! `*` for operations that name none. Checked in one place, [`SecretsManager::authorize_request`],
//! which the dispatcher calls before the operation; BatchGetSecretValue's second check
//! (`secretsmanager:GetSecretValue` on each secret it reads) is made as it reads them. Another
//! account's secret, named by its full ARN, is found and authorized (both accounts' policies,
//! root callers included) only by [`SecretsManager::lookup_shared`], for the operations the
//! registry marks `cross_account` (ADR 0017).

use super::*;
use coffer_core::authz::{Ask, Authorizer};
use coffer_model::ops::{Locator, ResourceKind, SecretsManagerAction, SecretsManagerOp};
use coffer_policy::Context;

/// The IAM action for reading a secret's value (BatchGetSecretValue checks it per secret).
pub(super) fn get_secret_value_action() -> &'static str {
    SecretsManagerAction::GetSecretValue.info().iam
}

impl SecretsManager {
    /// Uses `authz` for role sessions (set once, when the services are opened together).
    pub fn set_authorizer(&self, authz: Arc<Authorizer>) {
        let _ = self.authorizer.set(authz);
    }

    fn authorizer(&self) -> Result<&Authorizer, SmError> {
        self.authorizer
            .get()
            .map(|a| a.as_ref())
            .ok_or_else(|| SmError::Internal("no authorizer for a role session".into()))
    }

    /// Condition keys describing a secret.
    fn secret_context(rec: &SecretRecord) -> Context {
        let mut c = Context::new();
        c.set("secretsmanager:SecretId", &rec.arn);
        c.set("secretsmanager:Name", &rec.name);
        if let Some(k) = &rec.kms_key_id {
            c.set("secretsmanager:KmsKeyId", k);
        }
        if let Some(d) = &rec.description {
            c.set("secretsmanager:Description", d);
        }
        for t in &rec.tags {
            c.set(&format!("secretsmanager:ResourceTag/{}", t.key), &t.value);
            c.set(&format!("aws:ResourceTag/{}", t.key), &t.value);
        }
        c
    }

    /// Checks `action` on one secret for a role session.
    pub(super) fn check_secret(
        &self,
        ctx: &RequestContext,
        action: &str,
        s: &Secret,
    ) -> Result<(), SmError> {
        if ctx.role.is_none() {
            return Ok(());
        }
        self.authorizer()?
            .check(
                ctx,
                Ask {
                    action,
                    resource: &s.rec.arn,
                    context: Self::secret_context(&s.rec),
                },
                s.rec.policy.as_deref(),
            )
            .map_err(|d| SmError::AccessDenied(d.message))
    }

    /// The secret a full ARN of another account names in the caller's Region (ADR 0017).
    pub(super) fn foreign<'a>(st: &'a State, ctx: &RequestContext, id: &str) -> Option<&'a Secret> {
        let k = st.by_arn.get(id)?;
        if k.account == ctx.account_id || k.region != ctx.region {
            return None;
        }
        st.secrets.get(k)
    }

    /// Finds the secret `id` names for `op`: the caller's own (as [`SecretsManager::lookup`]),
    /// or, for an operation AWS allows across accounts (`cross_account` in the registry), another
    /// account's secret named by its full ARN once both accounts allow the operation's action:
    /// the secret's resource policy must allow the caller (by its account, role or session) and
    /// the caller's own policies must too (its root user implicitly). Checked here for every
    /// caller, root users included (ADR 0017).
    pub(super) fn lookup_shared<'a>(
        &self,
        st: &'a State,
        ctx: &RequestContext,
        op: SecretsManagerOp,
        id: &str,
    ) -> Result<&'a Secret, SmError> {
        let not_found = match Self::lookup(st, ctx, id) {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        let info = op.info();
        let (Some(s), Some(first)) = (
            Self::foreign(st, ctx, id).filter(|_| info.cross_account),
            info.checks.first(),
        ) else {
            return Err(not_found);
        };
        self.authorizer()?
            .check_cross_account(
                ctx,
                Ask {
                    action: first.action.iam,
                    resource: &s.rec.arn,
                    context: Self::secret_context(&s.rec),
                },
                &s.rec.account,
                s.rec.policy.as_deref(),
                false,
            )
            .map_err(|d| SmError::AccessDenied(d.message))?;
        Ok(s)
    }

    /// [`SecretsManager::writable`] through [`SecretsManager::lookup_shared`].
    pub(super) fn writable_shared<'a>(
        &self,
        st: &'a State,
        ctx: &RequestContext,
        op: SecretsManagerOp,
        id: &str,
    ) -> Result<&'a Secret, SmError> {
        let s = self.lookup_shared(st, ctx, op, id)?;
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        if s.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.to_string()));
        }
        Ok(s)
    }

    /// Authorizes a request before it runs: the registry's first check of `op` (its action on the
    /// secret the body names, CreateSecret's `Name` included, or on `*`). Root callers pass. A
    /// secret that does not exist is checked by the ARN it would have, so that a caller without
    /// permission learns nothing about which secrets exist.
    pub fn authorize_request(
        &self,
        ctx: &RequestContext,
        op: SecretsManagerOp,
        body: &[u8],
    ) -> Result<(), SmError> {
        if ctx.role.is_none() {
            return Ok(());
        }
        let Some(first) = op.info().checks.first() else {
            return Ok(());
        };
        let action = first.action.iam;
        let authz = self.authorizer()?;
        let check = |resource: &str, context: Context, policy: Option<&str>| {
            authz
                .check(
                    ctx,
                    Ask {
                        action,
                        resource,
                        context,
                    },
                    policy,
                )
                .map_err(|d| SmError::AccessDenied(d.message))
        };
        let member = match (first.resource.kind, first.resource.locators.first()) {
            (ResourceKind::Secret, Some(Locator::Member(m))) => *m,
            _ => return check("*", Context::new(), None),
        };
        let fields: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let field = |name: &str| {
            fields
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let Some(id) = field(member) else {
            return if first.resource.optional {
                check("*", Context::new(), None)
            } else {
                // The operation reports the missing member.
                Ok(())
            };
        };
        if op == SecretsManagerOp::CreateSecret {
            let arn = secret_arn(&ctx.region, &ctx.account_id, &id, "??????");
            let mut c = Context::new();
            c.set("secretsmanager:Name", &id);
            if let Some(k) = field("KmsKeyId") {
                c.set("secretsmanager:KmsKeyId", &k);
            }
            if let Some(d) = field("Description") {
                c.set("secretsmanager:Description", &d);
            }
            for tag in fields
                .get("Tags")
                .and_then(|t| t.as_array())
                .into_iter()
                .flatten()
            {
                if let (Some(k), Some(v)) = (
                    tag.get("Key").and_then(|k| k.as_str()),
                    tag.get("Value").and_then(|v| v.as_str()),
                ) {
                    c.set(&format!("aws:RequestTag/{k}"), v);
                }
            }
            return check(&arn, c, None);
        }
        let st = self.state.read();
        match Self::lookup(&st, ctx, &id) {
            Ok(s) => check(
                &s.rec.arn,
                Self::secret_context(&s.rec),
                s.rec.policy.as_deref(),
            ),
            // Another account's secret: the operation authorizes it, for every caller
            // ([`SecretsManager::lookup_shared`]), or does not find it.
            Err(_) if Self::foreign(&st, ctx, &id).is_some() => Ok(()),
            Err(_) => {
                let arn = if id.starts_with("arn:") {
                    id
                } else {
                    secret_arn(&ctx.region, &ctx.account_id, &id, "??????")
                };
                let mut c = Context::new();
                c.set("secretsmanager:SecretId", &arn);
                check(&arn, c, None)
            }
        }
    }
}
