//! Authorization of callers that hold an assumed role's credentials (ADR 0009).
//!
//! Root callers (`RequestContext::role` is `None`) are allowed everything in their account and
//! reach this module only for another account's resource ([`Authorizer::check_cross_account`],
//! ADR 0017). For a role session, the role's identity policies (attached managed
//! policies' default versions and inline policies), the session policy and the resource's own
//! policy (a key policy, a secret's resource policy) are evaluated by `coffer-policy`; the
//! caller's permissions boundary, when its user or role has one, limits the result
//! ([`coffer_policy::apply_boundary`]).

use crate::context::{PrincipalKind, RoleSession};

use crate::{Clock, RequestContext};
use coffer_policy::{Bounded, Context, Decision, Policy, Request};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// Where the authorizer finds a role's identity policies (implemented by IAM).
pub trait PolicySource: Send + Sync + 'static {
    /// The documents of every policy attached to or embedded in the role `role_name` of
    /// `account`: attached managed policies' default versions and inline policies.
    fn role_policy_documents(&self, account: &str, role_name: &str) -> Vec<String>;

    /// The documents of every policy attached to or embedded in the IAM user `user_name` of
    /// `account`, and in the groups it belongs to.
    fn user_policy_documents(&self, account: &str, user_name: &str) -> Vec<String>;

    /// The permissions boundary of a non-root caller (its user's or its role's), when it has one:
    /// its document (one that allows nothing when the policy is gone).
    fn boundary_document(&self, _account: &str, _caller: &RoleSession) -> Option<String> {
        None
    }

    /// The documents that apply to a non-root caller: its role's or its user's.
    fn caller_policy_documents(&self, account: &str, caller: &RoleSession) -> Vec<String> {
        match caller.kind {
            PrincipalKind::AssumedRole => self.role_policy_documents(account, &caller.role_name),
            PrincipalKind::User => self.user_policy_documents(account, &caller.role_name),
            // A federated user holds its IAM user's permissions (the session policy limits them).
            PrincipalKind::FederatedUser if caller.role_name.is_empty() => Vec::new(),
            PrincipalKind::FederatedUser => self.user_policy_documents(account, &caller.role_name),
        }
    }

    /// The tags of the role or user behind a non-root caller (`aws:PrincipalTag/KEY`; session
    /// tags override them). None by default.
    fn principal_tags(&self, _account: &str, _caller: &RoleSession) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A federated user's identity policy when the account's root user federated it: root may do
/// everything, so the session policy alone decides.
const ROOT_IDENTITY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// Parsed documents kept for reuse; the cache is emptied when it grows past this.
const CACHE_LIMIT: usize = 4096;

/// Why a request was refused: AWS's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// `User: ARN is not authorized to perform: ACTION on resource: ARN because …`.
    pub message: String,
}

/// Evaluates role sessions' requests.
pub struct Authorizer {
    iam: Arc<dyn PolicySource>,
    clock: Arc<dyn Clock>,
    parsed: Mutex<HashMap<String, Option<Policy>>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authorizer")
    }
}

/// What is being asked, for one check.
pub struct Ask<'a> {
    /// `kms:Decrypt`, `secretsmanager:GetSecretValue`, …
    pub action: &'a str,
    /// The resource's ARN (or `*`).
    pub resource: &'a str,
    /// Condition keys of the request (the authorizer adds the principal's own).
    pub context: Context,
}

impl Authorizer {
    /// An authorizer reading roles and their policies from `iam`; `clock` answers
    /// `aws:CurrentTime` and `aws:EpochTime`.
    pub fn new(iam: Arc<dyn PolicySource>, clock: Arc<dyn Clock>) -> Self {
        Self {
            iam,
            clock,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// A parsed document; `None` for one that does not parse (stored documents were validated
    /// when written, so this only guards against a record written by a newer version).
    fn parse(&self, doc: &str) -> Option<Policy> {
        let mut cache = self.parsed.lock();
        if let Some(p) = cache.get(doc) {
            return p.clone();
        }
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        let p = Policy::parse(doc).ok();
        if p.is_none() {
            tracing::warn!("a stored policy document does not parse; it grants nothing");
        }
        cache.insert(doc.to_string(), p.clone());
        p
    }

    fn identity(&self, ctx: &RequestContext, role: &RoleSession) -> Vec<Policy> {
        if role.kind == PrincipalKind::FederatedUser && role.role_name.is_empty() {
            return self.parse(ROOT_IDENTITY).into_iter().collect();
        }
        self.iam
            .caller_policy_documents(&ctx.account_id, role)
            .iter()
            .filter_map(|d| self.parse(d))
            .collect()
    }

    /// The caller's permissions boundary, parsed (one that does not parse allows nothing).
    fn boundary(&self, ctx: &RequestContext, role: &RoleSession) -> Option<Policy> {
        self.iam
            .boundary_document(&ctx.account_id, role)
            .map(|d| self.parse(&d).unwrap_or_else(allow_nothing))
    }

    fn session(&self, role: &RoleSession) -> Option<Policy> {
        // A session policy that does not parse allows nothing (AWS refuses it at AssumeRole).
        role.session_policy
            .as_deref()
            .map(|d| self.parse(d).unwrap_or_else(allow_nothing))
    }

    /// Adds the global condition keys Coffer knows for a role session's request.
    /// `aws:SecureTransport` is `true` exactly for requests that reached Coffer's own TLS
    /// listener (TLS terminated in front of Coffer leaves it `false`, the safe side).
    /// `aws:username` belongs to IAM users; an assumed-role session has none.
    fn with_principal(&self, ctx: &RequestContext, role: &RoleSession, mut c: Context) -> Context {
        let now = self.clock.now().millis;
        c.set("aws:PrincipalArn", &role.role_arn);
        c.set("aws:PrincipalAccount", &ctx.account_id);
        match role.kind {
            PrincipalKind::AssumedRole => c.set("aws:PrincipalType", "AssumedRole"),
            PrincipalKind::User => c
                .set("aws:PrincipalType", "User")
                .set("aws:username", &role.role_name),
            PrincipalKind::FederatedUser => c.set("aws:PrincipalType", "FederatedUser"),
        };
        // The role's or user's tags, then the session's over them (keys are case-insensitive).
        for (k, v) in self
            .iam
            .principal_tags(&ctx.account_id, role)
            .iter()
            .chain(role.session_tags.iter())
        {
            c.set(&format!("aws:PrincipalTag/{k}"), v.as_str());
        }
        if let Some(si) = &role.source_identity {
            c.set("aws:SourceIdentity", si.as_str());
        }
        c.set("aws:RequestedRegion", &ctx.region);
        c.set("aws:EpochTime", (now / 1000).to_string());
        c.set("aws:CurrentTime", iso8601(now));
        c.set(
            "aws:SecureTransport",
            if ctx.secure_transport {
                "true"
            } else {
                "false"
            },
        );
        c
    }

    /// Checks a request to a service whose resources may carry a resource policy (Secrets
    /// Manager). `Ok` for root callers.
    pub fn check(
        &self,
        ctx: &RequestContext,
        ask: Ask<'_>,
        resource_policy: Option<&str>,
    ) -> Result<(), Denied> {
        let Some(role) = &ctx.role else {
            return Ok(());
        };
        let identity = self.identity(ctx, role);
        let session = self.session(role);
        let resource = resource_policy.and_then(|d| self.parse(d));
        let context = self.with_principal(ctx, role, ask.context);
        let req = Request {
            principal_arn: &ctx.principal_arn,
            principal_account: &ctx.account_id,
            role_arn: Some(&role.role_arn),
            action: ask.action,
            resource: ask.resource,
            context: &context,
        };
        let decided = coffer_policy::decide(&identity, resource.as_ref(), session.as_ref(), &req);
        // A resource policy naming an IAM user directly is not limited by its boundary.
        let unbounded = || {
            role.is_user()
                && resource
                    .as_ref()
                    .is_some_and(|r| r.evaluate_resource(&req).allow)
        };
        let boundary = self.boundary(ctx, role);
        match coffer_policy::apply_boundary(decided, boundary.as_ref(), unbounded, &req) {
            Bounded {
                decision: Decision::Allow,
                ..
            } => Ok(()),
            Bounded {
                decision,
                by_boundary,
            } => {
                let why = if by_boundary {
                    Why::Boundary
                } else if resource.is_some() {
                    Why::Either
                } else {
                    Why::Identity
                };
                Err(denied(ctx, ask.action, ask.resource, decision, why))
            }
        }
    }

    /// Checks that the caller may assume a role: the role's trust policy must allow
    /// `sts:AssumeRole` for the caller (its account's root user, its role, or its session). When
    /// the trust policy names the caller's account rather than the caller, a role session also
    /// needs its own policies to allow `sts:AssumeRole` on the role, as in AWS.
    pub fn check_trust(
        &self,
        ctx: &RequestContext,
        role_arn: &str,
        trust_policy: &str,
    ) -> Result<(), Denied> {
        self.check_trust_action(
            ctx,
            "sts:AssumeRole",
            role_arn,
            trust_policy,
            Context::new(),
        )
    }

    /// [`Self::check_trust`] for `action` (`sts:AssumeRole`, `sts:TagSession`,
    /// `sts:SetSourceIdentity`), with the request's own condition keys in `request`
    /// (`aws:RequestTag/KEY`, `aws:TagKeys`, `sts:ExternalId`, `sts:SourceIdentity`, …).
    pub fn check_trust_action(
        &self,
        ctx: &RequestContext,
        action: &str,
        role_arn: &str,
        trust_policy: &str,
        request: Context,
    ) -> Result<(), Denied> {
        let refuse = || denied(ctx, action, role_arn, Decision::ImplicitDeny, Why::Resource);
        let trust = self.parse(trust_policy).ok_or_else(refuse)?;
        let context = match &ctx.role {
            Some(role) => self.with_principal(ctx, role, request),
            None => {
                let mut c = request;
                c.set("aws:PrincipalArn", &ctx.principal_arn);
                c.set("aws:PrincipalAccount", &ctx.account_id);
                c.set("aws:PrincipalType", "Account");
                c
            }
        };
        let req = Request {
            principal_arn: &ctx.principal_arn,
            principal_account: &ctx.account_id,
            role_arn: ctx.role.as_ref().map(|r| r.role_arn.as_str()),
            action,
            resource: role_arn,
            context: &context,
        };
        let outcome = trust.evaluate_resource(&req);
        if outcome.explicit_deny {
            return Err(refuse());
        }
        match &ctx.role {
            None if outcome.allow || outcome.allow_via_account => Ok(()),
            Some(_) if outcome.allow => Ok(()),
            Some(role) if outcome.allow_via_account => {
                let identity = self.identity(ctx, role);
                let session = self.session(role);
                let decided = coffer_policy::decide(&identity, None, session.as_ref(), &req);
                let boundary = self.boundary(ctx, role);
                match coffer_policy::apply_boundary(decided, boundary.as_ref(), || false, &req) {
                    Bounded {
                        decision: Decision::Allow,
                        ..
                    } => Ok(()),
                    _ => Err(refuse()),
                }
            }
            _ => Err(refuse()),
        }
    }

    /// Checks that a federated caller may assume a role: the role's trust policy must allow
    /// `action` (`sts:AssumeRoleWithWebIdentity`) for the identity provider `provider_arn` by a
    /// `Federated` principal, under `context` (the token's `URL:sub`, `URL:aud`, …), and deny
    /// nothing. No identity policy takes part: the caller has none.
    pub fn check_federated_trust(
        &self,
        action: &str,
        provider_arn: &str,
        role_arn: &str,
        trust_policy: &str,
        context: &Context,
    ) -> bool {
        let Some(trust) = self.parse(trust_policy) else {
            return false;
        };
        let account = role_arn.split(':').nth(4).unwrap_or_default();
        let req = Request {
            principal_arn: provider_arn,
            principal_account: account,
            role_arn: None,
            action,
            resource: role_arn,
            context,
        };
        let outcome = trust.evaluate_resource(&req);
        outcome.allow && !outcome.explicit_deny
    }

    /// Checks a KMS request: the key policy is authoritative; a grant to the role allowing the
    /// operation also allows. `Ok` for root callers.
    pub fn check_kms(
        &self,
        ctx: &RequestContext,
        ask: Ask<'_>,
        key_policy: &str,
        grant_allows: bool,
    ) -> Result<(), Denied> {
        let Some(role) = &ctx.role else {
            return Ok(());
        };
        let identity = self.identity(ctx, role);
        let session = self.session(role);
        let key_policy = self.parse(key_policy).unwrap_or_else(allow_nothing);
        let context = self.with_principal(ctx, role, ask.context);
        let req = Request {
            principal_arn: &ctx.principal_arn,
            principal_account: &ctx.account_id,
            role_arn: Some(&role.role_arn),
            action: ask.action,
            resource: ask.resource,
            context: &context,
        };
        let decided =
            coffer_policy::decide_kms(&key_policy, &identity, session.as_ref(), grant_allows, &req);
        // A key policy or grant naming an IAM user directly is not limited by its boundary.
        let unbounded =
            || role.is_user() && (grant_allows || key_policy.evaluate_resource(&req).allow);
        let boundary = self.boundary(ctx, role);
        match coffer_policy::apply_boundary(decided, boundary.as_ref(), unbounded, &req) {
            Bounded {
                decision: Decision::Allow,
                ..
            } => Ok(()),
            Bounded {
                decision: d,
                by_boundary: true,
            } => Err(denied(ctx, ask.action, ask.resource, d, Why::Boundary)),
            Bounded { decision: d, .. } => {
                // A key policy that delegates to IAM (as the default one does) leaves the answer to
                // the identity policies; otherwise it is the key policy that does not allow.
                let delegated = key_policy.evaluate_resource(&req).allow_via_account;
                Err(denied(
                    ctx,
                    ask.action,
                    ask.resource,
                    d,
                    Why::kms(delegated),
                ))
            }
        }
    }
}

impl Authorizer {
    /// Checks a request from a caller of another account than the resource's (a KMS key, a
    /// secret; ADR 0017): the resource's policy (a key policy, a secret's resource policy; none
    /// allows nothing) must allow the caller (by its account, its role or its session), or a KMS
    /// grant must, and the caller's own account must allow too: its root user implicitly, a role
    /// session by its identity policies and session policy. Unlike the other checks, this holds
    /// for root callers as well. Condition keys: those of `ask` and the principal's (its account
    /// as `aws:PrincipalAccount`), `aws:ResourceAccount` the resource's account.
    pub fn check_cross_account(
        &self,
        ctx: &RequestContext,
        ask: Ask<'_>,
        resource_account: &str,
        resource_policy: Option<&str>,
        grant_allows: bool,
    ) -> Result<(), Denied> {
        let key_policy = resource_policy
            .and_then(|d| self.parse(d))
            .unwrap_or_else(allow_nothing);
        let mut context = match &ctx.role {
            Some(role) => self.with_principal(ctx, role, ask.context),
            None => {
                let mut c = ask.context;
                let now = self.clock.now().millis;
                c.set("aws:PrincipalArn", &ctx.principal_arn);
                c.set("aws:PrincipalAccount", &ctx.account_id);
                c.set("aws:PrincipalType", "Account");
                c.set("aws:RequestedRegion", &ctx.region);
                c.set("aws:EpochTime", (now / 1000).to_string());
                c.set("aws:CurrentTime", iso8601(now));
                c.set(
                    "aws:SecureTransport",
                    if ctx.secure_transport {
                        "true"
                    } else {
                        "false"
                    },
                );
                c
            }
        };
        context.set("aws:ResourceAccount", resource_account);
        let (identity, session, boundary) = match &ctx.role {
            Some(role) => (
                Some(self.identity(ctx, role)),
                self.session(role),
                self.boundary(ctx, role),
            ),
            None => (None, None, None),
        };
        let req = Request {
            principal_arn: &ctx.principal_arn,
            principal_account: &ctx.account_id,
            role_arn: ctx.role.as_ref().map(|r| r.role_arn.as_str()),
            action: ask.action,
            resource: ask.resource,
            context: &context,
        };
        let decided = coffer_policy::decide_cross_account(
            &key_policy,
            identity.as_deref(),
            session.as_ref(),
            grant_allows,
            &req,
        );
        // Across accounts the caller's own account must allow: its boundary always limits.
        match coffer_policy::apply_boundary(decided, boundary.as_ref(), || false, &req) {
            Bounded {
                decision: Decision::Allow,
                ..
            } => Ok(()),
            Bounded {
                decision: d,
                by_boundary: true,
            } => Err(denied(ctx, ask.action, ask.resource, d, Why::Boundary)),
            Bounded { decision: d, .. } => {
                let key = key_policy.evaluate_resource(&req);
                // The key's account allowed (or denied nothing): the caller's own policies did not.
                let why = match d {
                    Decision::ExplicitDeny if key.explicit_deny => Why::Resource,
                    Decision::ExplicitDeny => Why::Identity,
                    _ if key.allow || key.allow_via_account => Why::Identity,
                    _ => Why::Resource,
                };
                Err(denied(ctx, ask.action, ask.resource, d, why))
            }
        }
    }
}

/// `2024-01-01T00:00:00Z` for epoch milliseconds.
fn iso8601(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A policy without statements: it allows nothing.
fn allow_nothing() -> Policy {
    Policy::empty()
}

/// AWS's AccessDenied wording.
/// Which policies had their say, for the wording of a refusal.
#[derive(Clone, Copy)]
enum Why {
    /// Only identity policies could have allowed.
    Identity,
    /// The resource's policy could have allowed, by itself.
    Resource,
    /// Either could have.
    Either,
    /// The caller's permissions boundary refused.
    Boundary,
}

impl Why {
    fn kms(delegated: bool) -> Self {
        if delegated {
            Why::Identity
        } else {
            Why::Resource
        }
    }
}

fn denied(ctx: &RequestContext, action: &str, resource: &str, d: Decision, why: Why) -> Denied {
    let why = match (d, why) {
        (Decision::ExplicitDeny, Why::Resource) => {
            "with an explicit deny in a resource-based policy".to_string()
        }
        (Decision::ExplicitDeny, Why::Boundary) => {
            "with an explicit deny in a permissions boundary".to_string()
        }
        (_, Why::Boundary) => {
            format!("because no permissions boundary allows the {action} action")
        }
        (Decision::ExplicitDeny, _) => {
            "with an explicit deny in an identity-based policy".to_string()
        }
        (_, Why::Identity) => {
            format!("because no identity-based policy allows the {action} action")
        }
        (_, Why::Resource) => {
            format!("because no resource-based policy allows the {action} action")
        }
        (_, Why::Either) => format!(
            "because no identity-based policy or resource-based policy allows the {action} action"
        ),
    };
    Denied {
        message: format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
            ctx.principal_arn
        ),
    }
}
