//! The IAM policy simulator: `SimulatePrincipalPolicy` and `SimulateCustomPolicy`, evaluated by
//! `coffer-policy`, the evaluator that authorizes requests ([`coffer_policy::simulate`]).
//!
//! One `EvaluationResult` per action, as AWS now answers: its decision is the most restrictive
//! of the resources' (`ResourceSpecificResults`, one per `ResourceArns` entry), its matched
//! statements and missing context keys the union of theirs, its `EvalResourceName` the ARN
//! template of the action's resource type ([`resource_template`]). Without `ResourceArns` the
//! one resource is `*`.

use super::*;
use crate::entity::EntityKind;
use coffer_model::iam::simulate::{
    ContextEntry, EvalDecision, EvaluationResult, MatchedStatement, PolicyIdentifier, Position,
    ResourceSpecificResult, SimulateRequest, IDENTITY_POLICY_SOURCE, RESOURCE_POLICY_SOURCE,
};
use coffer_model::ops::IamAction;
use coffer_policy::{Decision, PolicyKind, Simulated, Simulation, Source};

/// `SourcePolicyType` of a document given in the request.
const GIVEN_POLICY_TYPE: &str = "IAM Policy";

/// A policy of a simulation and how the answer names it.
pub(crate) struct Input {
    pub(crate) policy: coffer_policy::Policy,
    /// `SourcePolicyId`.
    id: String,
    /// `SourcePolicyType`.
    kind: Option<&'static str>,
    /// A managed policy's ARN, for `PolicyExclusionList`.
    arn: Option<String>,
}

/// One `PolicyExclusionList` entry, checked.
pub(crate) enum Exclusion {
    /// `PolicyType`: `inline`, `aws-managed`, `user-managed` (the others name policies a
    /// Coffer role cannot have: boundaries, SCPs, RCPs).
    Type(String),
    /// `PolicyArn`, `*` standing for any text.
    Arn(String),
    /// `InlinePolicyIdentifier`: the policy's name and its entity's kind and name.
    Inline {
        policy: String,
        kind: String,
        entity: String,
    },
}

/// `*` in `pattern` matches any text, everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A policy ARN of an exclusion: `arn:PARTITION:iam::ACCOUNT:policy/...`, a `*` only in the
/// path and name.
fn exclusion_arn(arn: &str) -> Result<String, IamError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = match parts.as_slice() {
        [arn_, partition, "iam", "", account, resource] => {
            *arn_ == "arn"
                && !partition.is_empty()
                && !partition.contains('*')
                && (*account == aws_managed::ACCOUNT
                    || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
                && resource
                    .strip_prefix("policy/")
                    .is_some_and(|r| !r.is_empty())
        }
        _ => false,
    };
    if ok {
        Ok(arn.to_owned())
    } else {
        Err(IamError::InvalidInput(format!(
            "Invalid policy ARN in PolicyExclusionList: {arn}"
        )))
    }
}

fn exclusions(list: Option<&[PolicyIdentifier]>) -> Result<Vec<Exclusion>, IamError> {
    list.unwrap_or_default()
        .iter()
        .map(|e| match (&e.policy_type, &e.policy_arn, &e.inline) {
            (Some(t), None, None) => Ok(Exclusion::Type(t.clone())),
            (None, Some(arn), None) => Ok(Exclusion::Arn(exclusion_arn(arn)?)),
            (None, None, Some(i)) => Ok(Exclusion::Inline {
                policy: i.policy_name.clone().unwrap_or_default(),
                kind: i.attachment_type.clone().unwrap_or_default(),
                entity: i.attachment_name.clone().unwrap_or_default(),
            }),
            _ => Err(IamError::InvalidInput(
                "A PolicyIdentifier gives exactly one of PolicyType, PolicyArn and InlinePolicyIdentifier."
                    .into(),
            )),
        })
        .collect()
}

impl Exclusion {
    /// Whether it takes the policy `input` of the role or user `principal` out.
    fn removes(&self, input: &Input, principal: &str) -> bool {
        match self {
            Exclusion::Type(t) => match t.as_str() {
                "inline" => matches!(input.kind, Some("role" | "user" | "group")),
                "aws-managed" | "user-managed" => input.kind == Some(t.as_str()),
                _ => false,
            },
            Exclusion::Arn(pattern) => input.arn.as_deref().is_some_and(|a| glob(pattern, a)),
            Exclusion::Inline {
                policy,
                kind,
                entity,
            } => {
                matches!(input.kind, Some("role" | "user" | "group"))
                    && input.kind == Some(kind.as_str())
                    && entity.eq_ignore_ascii_case(principal)
                    && policy.eq_ignore_ascii_case(&input.id)
            }
        }
    }
}

fn decision(d: Decision) -> EvalDecision {
    match d {
        Decision::Allow => EvalDecision::Allowed,
        Decision::ExplicitDeny => EvalDecision::ExplicitDeny,
        Decision::ImplicitDeny => EvalDecision::ImplicitDeny,
    }
}

/// Parses a given document of `kind`; IAM answers `InvalidInput` for one it cannot read.
fn parse(doc: &str, member: &str, kind: PolicyKind) -> Result<coffer_policy::Policy, IamError> {
    let p = coffer_policy::Policy::parse(doc)
        .and_then(|p| p.validate(kind).map(|()| p))
        .map_err(|e| IamError::InvalidInput(format!("{member}: {e}")))?;
    Ok(p)
}

fn given_inputs(docs: Option<&[String]>, member: &str) -> Result<Vec<Input>, IamError> {
    docs.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Ok(Input {
                policy: parse(d, member, PolicyKind::Identity)?,
                id: format!("{member}.{}", i + 1),
                // Not in the model's enum, but what IAM answers for given documents.
                kind: Some(GIVEN_POLICY_TYPE),
                arn: None,
            })
        })
        .collect()
}

/// The account an ARN names (`arn:aws:s3:::bucket` names none).
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The account of `ResourceOwner`, which IAM takes as the account's root ARN
/// (`arn:aws:iam::123456789012:root`) and refuses otherwise, an account ID alone included.
fn resource_owner(owner: &str) -> Result<&str, IamError> {
    let mut parts = owner.split(':');
    let ok = parts.next() == Some("arn")
        && parts.next().is_some_and(|p| !p.is_empty())
        && parts.next() == Some("iam")
        && parts.next() == Some("");
    let account = parts
        .next()
        .filter(|a| ok && a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
    match (account, parts.next(), parts.next()) {
        (Some(account), Some("root"), None) => Ok(account),
        _ => Err(IamError::InvalidInput(format!(
            "'{owner}' is not a valid as a Resource Owner."
        ))),
    }
}

/// The condition keys of `ContextEntries`; a key given twice keeps its last values.
fn context(entries: Option<&[ContextEntry]>) -> coffer_policy::Context {
    let mut ctx = coffer_policy::Context::new();
    for e in entries.unwrap_or_default() {
        if let Some(k) = &e.key_name {
            ctx.set_many(k, e.values.iter().cloned());
        }
    }
    ctx
}

/// `EvalResourceName` of a result over given resources: the ARN template of the resource type
/// the action is checked on, as the service authorization reference writes it, for the actions
/// Coffer's registry describes (KMS, Secrets Manager, IAM); `*` for the others and for actions
/// on no resource.
fn resource_template(action: &str) -> &'static str {
    use coffer_model::ops::{self, ResourceKind};
    let tables: [&[coffer_model::ops::Operation]; 3] = [
        &ops::kms::OPERATIONS,
        &ops::secretsmanager::OPERATIONS,
        &ops::iam::OPERATIONS,
    ];
    let kind = tables
        .iter()
        .flat_map(|t| t.iter())
        .flat_map(|op| op.checks.iter())
        .find(|c| c.action.iam.eq_ignore_ascii_case(action))
        .map(|c| c.resource.kind);
    match kind {
        Some(ResourceKind::Key) => "arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}",
        Some(ResourceKind::Alias) => "arn:${Partition}:kms:${Region}:${Account}:alias/${Alias}",
        Some(ResourceKind::Secret) => {
            "arn:${Partition}:secretsmanager:${Region}:${Account}:secret:${SecretId}"
        }
        Some(ResourceKind::Role) => "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}",
        Some(ResourceKind::User) => "arn:${Partition}:iam::${Account}:user/${UserNameWithPath}",
        Some(ResourceKind::Group) => "arn:${Partition}:iam::${Account}:group/${GroupNameWithPath}",
        Some(ResourceKind::OidcProvider) => {
            "arn:${Partition}:iam::${Account}:oidc-provider/${OidcProviderName}"
        }
        Some(ResourceKind::SamlProvider) => {
            "arn:${Partition}:iam::${Account}:saml-provider/${SamlProviderName}"
        }
        Some(ResourceKind::Policy) => {
            "arn:${Partition}:iam::${Account}:policy/${PolicyNameWithPath}"
        }
        Some(ResourceKind::Any | ResourceKind::Unknown) | None => "*",
    }
}

/// `*` or `service:action`, as AWS requires of `ActionNames` (no wildcards).
fn check_action_name(action: &str) -> Result<(), IamError> {
    let ok = match action.split_once(':') {
        Some((service, name)) => {
            !service.is_empty()
                && !name.is_empty()
                && !name.contains(':')
                && !action.contains(['*', '?'])
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(IamError::InvalidInput(format!(
            "Invalid action name: {action}. An action name has a service prefix and an action, without wildcards (iam:CreateRole)."
        )))
    }
}

/// Everything of a simulation but the identity policies of its principal.
struct Run<'a> {
    identity: Vec<Input>,
    boundary: Option<Input>,
    organizations: Vec<Vec<coffer_policy::Policy>>,
    resource: Option<Input>,
    caller: Option<String>,
    caller_account: String,
    resource_owner: Option<String>,
    req: &'a SimulateRequest,
}

impl Run<'_> {
    fn statements(&self, sim: &Simulated) -> Vec<MatchedStatement> {
        let mut out: Vec<MatchedStatement> = Vec::new();
        for (source, m) in &sim.matched {
            let input = match source {
                Source::Identity(i) => self.identity.get(*i),
                Source::Boundary => self.boundary.as_ref(),
                Source::Resource => self.resource.as_ref(),
            };
            let Some(input) = input else { continue };
            let span = input.policy.statement_positions().get(m.index).copied();
            let pos = |p: coffer_policy::Position| Position {
                line: p.line,
                column: p.column,
            };
            let st = MatchedStatement {
                source_policy_id: input.id.clone(),
                source_policy_type: input.kind.map(str::to_owned),
                start: span.map(|(s, _)| pos(s)),
                end: span.map(|(_, e)| pos(e)),
            };
            if !out.contains(&st) {
                out.push(st);
            }
        }
        out
    }

    /// Simulates one action on one resource.
    fn one(&self, action: &str, resource: &str, ctx: &coffer_policy::Context) -> (Simulated, bool) {
        let identity: Vec<coffer_policy::Policy> =
            self.identity.iter().map(|i| i.policy.clone()).collect();
        let owner = self
            .resource_owner
            .as_deref()
            .or_else(|| arn_account(resource))
            .unwrap_or(&self.caller_account);
        let cross_account = self.resource.is_some() && owner != self.caller_account;
        let sim = Simulation {
            identity: &identity,
            boundary: self.boundary.as_ref().map(|b| &b.policy),
            organizations: &self.organizations,
            resource: self.resource.as_ref().map(|r| &r.policy),
            cross_account,
        };
        let caller = self.caller.as_deref().unwrap_or_default();
        let role_arn = IamArn::parse(caller)
            .filter(|a| a.kind == "role")
            .map(|_| caller);
        let req = coffer_policy::Request {
            principal_arn: caller,
            principal_account: &self.caller_account,
            role_arn,
            action,
            resource,
            context: ctx,
        };
        (coffer_policy::simulate(&sim, &req), cross_account)
    }

    fn details(sim: &Simulated, cross_account: bool) -> Vec<(String, EvalDecision)> {
        if !cross_account {
            return Vec::new();
        }
        let mut out = vec![(
            IDENTITY_POLICY_SOURCE.to_owned(),
            decision(sim.identity_decision),
        )];
        if let Some(r) = sim.resource_decision {
            out.push((RESOURCE_POLICY_SOURCE.to_owned(), decision(r)));
        }
        out
    }

    fn results(&self) -> Vec<EvaluationResult> {
        let ctx = context(self.req.context_entries.as_deref());
        let mut out = Vec::new();
        for action in self.req.action_names.as_deref().unwrap_or_default() {
            let Some(resources) = self.req.resource_arns.as_deref().filter(|r| !r.is_empty())
            else {
                let (sim, cross) = self.one(action, "*", &ctx);
                out.push(EvaluationResult {
                    eval_action_name: action.clone(),
                    eval_resource_name: "*".to_owned(),
                    eval_decision: decision(sim.decision),
                    matched_statements: self.statements(&sim),
                    missing_context_values: sim.missing.clone(),
                    allowed_by_organizations: sim.allowed_by_organizations,
                    allowed_by_permissions_boundary: sim.allowed_by_boundary,
                    eval_decision_details: cross.then(|| Self::details(&sim, true)),
                    resource_specific_results: None,
                });
                continue;
            };
            let mut per: Vec<ResourceSpecificResult> = Vec::new();
            let mut organizations: Option<bool> = None;
            let mut boundary: Option<bool> = None;
            let mut details: Vec<(String, EvalDecision)> = Vec::new();
            for resource in resources {
                let (sim, cross) = self.one(action, resource, &ctx);
                organizations = match (organizations, sim.allowed_by_organizations) {
                    (Some(a), Some(b)) => Some(a && b),
                    (a, b) => a.or(b),
                };
                boundary = match (boundary, sim.allowed_by_boundary) {
                    (Some(a), Some(b)) => Some(a && b),
                    (a, b) => a.or(b),
                };
                let these = Self::details(&sim, cross);
                for (k, d) in &these {
                    match details.iter_mut().find(|(dk, _)| dk == k) {
                        Some((_, worst)) => *worst = (*worst).max(*d),
                        None => details.push((k.clone(), *d)),
                    }
                }
                per.push(ResourceSpecificResult {
                    eval_resource_name: resource.clone(),
                    eval_resource_decision: decision(sim.decision),
                    matched_statements: self.statements(&sim),
                    missing_context_values: sim.missing.clone(),
                    eval_decision_details: Some(these),
                    allowed_by_permissions_boundary: sim.allowed_by_boundary,
                });
            }
            let worst = per
                .iter()
                .map(|r| r.eval_resource_decision)
                .max()
                .unwrap_or(EvalDecision::ImplicitDeny);
            let mut matched: Vec<MatchedStatement> = Vec::new();
            let mut missing: Vec<String> = Vec::new();
            for r in &per {
                if r.eval_resource_decision == worst {
                    for m in &r.matched_statements {
                        if !matched.contains(m) {
                            matched.push(m.clone());
                        }
                    }
                }
                for k in &r.missing_context_values {
                    if !missing.iter().any(|m| m.eq_ignore_ascii_case(k)) {
                        missing.push(k.clone());
                    }
                }
            }
            out.push(EvaluationResult {
                eval_action_name: action.clone(),
                eval_resource_name: resource_template(action).to_owned(),
                eval_decision: worst,
                matched_statements: matched,
                missing_context_values: missing,
                allowed_by_organizations: organizations,
                allowed_by_permissions_boundary: boundary,
                eval_decision_details: Some(details),
                resource_specific_results: Some(per),
            });
        }
        out
    }
}

impl Iam {
    /// `SimulateCustomPolicy`: the given identity policies (and boundary, service control
    /// policies, resource policy) on each action and resource.
    pub fn simulate_custom_policy(
        &self,
        ctx: &RequestContext,
        req: &SimulateRequest,
    ) -> Result<Page<EvaluationResult>, IamError> {
        let mut v = Validator::new();
        req.check(&mut v, false);
        v.finish()?;
        self.authorize(ctx, IamAction::SimulateCustomPolicy, "*")?;
        let identity = given_inputs(req.policy_input_list.as_deref(), "PolicyInputList")?;
        self.run_bounded(ctx, req, identity, req.caller_arn.clone(), None)
    }

    /// `SimulatePrincipalPolicy`: the policies of the role or user `PolicySourceArn` names (attached
    /// managed policies, then inline ones) but those `PolicyExclusionList` takes out, and any
    /// given, on each action and resource.
    pub fn simulate_principal_policy(
        &self,
        ctx: &RequestContext,
        req: &SimulateRequest,
    ) -> Result<Page<EvaluationResult>, IamError> {
        let mut v = Validator::new();
        req.check(&mut v, true);
        v.finish()?;
        let source = req.policy_source_arn.as_deref().unwrap_or_default();
        self.authorize(ctx, IamAction::SimulatePrincipalPolicy, source)?;
        let excluded = exclusions(req.policy_exclusion_list.as_deref())?;
        let (mut identity, stored) = self.principal_policies(ctx, source, &excluded)?;
        identity.extend(given_inputs(
            req.policy_input_list.as_deref(),
            "PolicyInputList",
        )?);
        let caller = req.caller_arn.clone().or_else(|| Some(source.to_owned()));
        self.run_bounded(ctx, req, identity, caller, stored)
    }

    /// The identity policies of the user, role or group `arn` names: attached managed
    /// policies, then inline ones, and for a user then those of each of its groups; and the
    /// entity's permissions boundary, if it has one.
    pub(crate) fn principal_policies(
        &self,
        ctx: &RequestContext,
        arn: &str,
        excluded: &[Exclusion],
    ) -> Result<(Vec<Input>, Option<Input>), IamError> {
        let a = IamArn::parse(arn)
            .ok_or_else(|| IamError::InvalidInput(format!("Invalid Entity Arn: {arn}")))?;
        let kind = match a.kind.as_str() {
            "role" => EntityKind::Role,
            "user" => EntityKind::User,
            "group" => EntityKind::Group,
            _ => return Err(IamError::InvalidInput(format!("Invalid Entity Arn: {arn}"))),
        };
        let not_found = || kind.not_found(&a.name);
        if a.account != ctx.account_id || a.partition != ctx.partition() {
            return Err(not_found());
        }
        let st = self.state.read();
        let key = entity_key(&a.account, &a.name);
        // The entity's own, then (a user's) its groups': (kind, name, attached policy ARNs).
        let mut entities: Vec<(EntityKind, &str, &[String])> = Vec::new();
        let boundary = match kind {
            EntityKind::Role => {
                let r = st
                    .roles
                    .get(&key)
                    .filter(|r| r.path == a.path)
                    .ok_or_else(not_found)?;
                entities.push((kind, &r.name, &r.attached_policies));
                r.permissions_boundary.clone()
            }
            EntityKind::User => {
                let u = st
                    .users
                    .get(&key)
                    .filter(|u| u.path == a.path)
                    .ok_or_else(not_found)?;
                entities.push((kind, &u.name, &u.attached_policies));
                for g in u
                    .groups
                    .iter()
                    .filter_map(|g| st.groups.get(&entity_key(&u.account, g)))
                {
                    entities.push((EntityKind::Group, &g.name, &g.attached_policies));
                }
                u.permissions_boundary.clone()
            }
            EntityKind::Group => {
                let g = st
                    .groups
                    .get(&key)
                    .filter(|g| g.path == a.path)
                    .ok_or_else(not_found)?;
                entities.push((kind, &g.name, &g.attached_policies));
                None
            }
        };
        let managed = |policy_arn: &String| -> Option<Input> {
            let p = st.attached_policy(policy_arn)?;
            // A stored document always parsed when it was stored.
            let policy = p
                .default_document()
                .and_then(|d| coffer_policy::Policy::parse(d).ok())?;
            Some(Input {
                policy,
                id: p.name.clone(),
                kind: Some(if p.account == aws_managed::ACCOUNT {
                    "aws-managed"
                } else {
                    "user-managed"
                }),
                arn: Some(policy_arn.clone()),
            })
        };
        let mut out = Vec::new();
        for (kind, name, attached) in entities {
            let mut these: Vec<Input> = attached.iter().filter_map(managed).collect();
            let inline = st
                .inline
                .get(&kind.key(&a.account, name))
                .into_iter()
                .flat_map(|m| m.values());
            for p in inline {
                if let Ok(policy) = coffer_policy::Policy::parse(&p.document) {
                    these.push(Input {
                        policy,
                        id: p.policy_name.clone(),
                        // An inline policy's type is its entity's kind.
                        kind: Some(kind.word()),
                        arn: None,
                    });
                }
            }
            out.extend(
                these
                    .into_iter()
                    .filter(|i| !excluded.iter().any(|e| e.removes(i, name))),
            );
        }
        let boundary = boundary.as_deref().map(|b| {
            let policy = st.attached_policy(b);
            Input {
                policy: policy
                    .as_deref()
                    .and_then(PolicyRecord::default_document)
                    .and_then(|d| coffer_policy::Policy::parse(d).ok())
                    .unwrap_or_else(coffer_policy::Policy::empty),
                id: policy
                    .as_deref()
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                kind: Some(if b.contains(":iam::aws:policy/") {
                    "aws-managed"
                } else {
                    "user-managed"
                }),
                arn: Some(b.to_string()),
            }
        });
        Ok((out, boundary))
    }

    /// Runs the simulation; `stored` is the principal's own permissions boundary, which a
    /// boundary given in the request replaces.
    fn run_bounded(
        &self,
        ctx: &RequestContext,
        req: &SimulateRequest,
        identity: Vec<Input>,
        caller: Option<String>,
        stored: Option<Input>,
    ) -> Result<Page<EvaluationResult>, IamError> {
        for a in req.action_names.as_deref().unwrap_or_default() {
            check_action_name(a)?;
        }
        let boundaries = req
            .permissions_boundary_policy_input_list
            .as_deref()
            .unwrap_or_default();
        if boundaries.len() > 1 {
            return Err(IamError::InvalidInput(
                "Only one permissions boundary policy may be given.".into(),
            ));
        }
        let boundary = given_inputs(Some(boundaries), "PermissionsBoundaryPolicyInputList")?
            .into_iter()
            .next()
            .or(stored);
        let organizations = req
            .organization_policy_input_list
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|level| {
                level
                    .iter()
                    .map(|d| parse(d, "ServiceControlPolicyInputList", PolicyKind::Identity))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let resource = match req.resource_policy.as_deref() {
            None => None,
            Some(d) => {
                if caller.is_none() {
                    return Err(IamError::InvalidInput(
                        "CallerArn must be given with a ResourcePolicy: its Principal needs a caller to match."
                            .into(),
                    ));
                }
                Some(Input {
                    policy: parse(d, "ResourcePolicy", PolicyKind::Resource)?,
                    id: "ResourcePolicy".to_owned(),
                    kind: Some("resource"),
                    arn: None,
                })
            }
        };
        let caller_account = caller
            .as_deref()
            .and_then(arn_account)
            .unwrap_or(&ctx.account_id)
            .to_owned();
        let resource_owner = req
            .resource_owner
            .as_deref()
            .map(|o| resource_owner(o).map(str::to_owned))
            .transpose()?;
        let run = Run {
            identity,
            boundary,
            organizations,
            resource,
            caller,
            caller_account,
            resource_owner,
            req,
        };
        page(ordered(run.results()), &req.paging)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use coffer_core::RoleSession;
    use coffer_store::FaultStore;

    const ACCOUNT: &str = "111122223333";
    const OTHER: &str = "444455556666";
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
    const ALLOW_GET: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;
    const SM_RW: &str = "arn:aws:iam::aws:policy/SecretsManagerReadWrite";

    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(1_700_000_000_000)
        }
    }

    fn ctx() -> RequestContext {
        RequestContext {
            account_id: ACCOUNT.into(),
            region: "us-east-1".into(),
            principal_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            role: None,
            secure_transport: false,
        }
    }

    fn setup() -> Iam {
        Iam::load(Arc::new(FaultStore::memory()), Arc::new(Fixed)).unwrap()
    }

    fn role(iam: &Iam, name: &str, path: Option<&str>) -> Role {
        iam.create_role(
            &ctx(),
            CreateRoleRequest {
                role_name: Some(name.into()),
                path: path.map(Into::into),
                assume_role_policy_document: Some(TRUST.into()),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn req(actions: &[&str]) -> SimulateRequest {
        SimulateRequest {
            action_names: Some(actions.iter().map(|a| a.to_string()).collect()),
            ..SimulateRequest::default()
        }
    }

    fn message(e: IamError) -> String {
        match e {
            IamError::NoSuchEntity(m) => format!("NoSuchEntity: {m}"),
            IamError::InvalidInput(m) => format!("InvalidInput: {m}"),
            IamError::AccessDenied(m) => format!("AccessDenied: {m}"),
            IamError::Validation(v) => format!("ValidationError: {}", v.message),
            e => format!("other: {e}"),
        }
    }

    #[test]
    fn a_roles_managed_and_inline_policies_are_named() {
        let iam = setup();
        let r = role(&iam, "app", Some("/team/"));
        iam.attach_role_policy(&ctx(), Some("app"), Some(SM_RW))
            .unwrap();
        iam.put_role_policy(
            &ctx(),
            Some("app"),
            Some("deny-delete"),
            Some(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"secretsmanager:DeleteSecret","Resource":"*"}}"#),
        )
        .unwrap();
        let mut q = req(&[
            "secretsmanager:GetSecretValue",
            "secretsmanager:DeleteSecret",
        ]);
        q.policy_source_arn = Some(r.arn.clone());
        let page = iam.simulate_principal_policy(&ctx(), &q).unwrap();
        assert!(page.marker.is_none());
        let [get, del] = &page.items[..] else {
            panic!("{:?}", page.items)
        };
        assert_eq!(get.eval_decision, EvalDecision::Allowed);
        assert_eq!(
            get.matched_statements[0].source_policy_id,
            "SecretsManagerReadWrite"
        );
        assert_eq!(
            get.matched_statements[0].source_policy_type.as_deref(),
            Some("aws-managed")
        );
        assert!(get.matched_statements[0].start.is_some());
        assert!(get.eval_decision_details.is_none());
        assert_eq!(del.eval_decision, EvalDecision::ExplicitDeny);
        assert_eq!(del.matched_statements.len(), 1);
        assert_eq!(del.matched_statements[0].source_policy_id, "deny-delete");
        assert_eq!(
            del.matched_statements[0].source_policy_type.as_deref(),
            Some("role")
        );

        // The ARN must carry the role's path; other accounts' roles are not found.
        for arn in [
            format!("arn:aws:iam::{ACCOUNT}:role/app"),
            format!("arn:aws:iam::{OTHER}:role/team/app"),
        ] {
            q.policy_source_arn = Some(arn);
            assert_eq!(
                message(iam.simulate_principal_policy(&ctx(), &q).unwrap_err()),
                "NoSuchEntity: The role with name app cannot be found."
            );
        }
        q.policy_source_arn = Some(format!("arn:aws:iam::{ACCOUNT}:group/devs"));
        assert_eq!(
            message(iam.simulate_principal_policy(&ctx(), &q).unwrap_err()),
            "NoSuchEntity: The group with name devs cannot be found."
        );
        q.policy_source_arn = Some("arn:aws:sts::111122223333:assumed-role/app/s".into());
        assert!(
            message(iam.simulate_principal_policy(&ctx(), &q).unwrap_err())
                .starts_with("InvalidInput: ")
        );
    }

    #[test]
    fn a_users_policies_are_simulated() {
        let iam = setup();
        let u = iam
            .create_user(&ctx(), Some("alice"), Some("/people/"), None, None)
            .unwrap();
        iam.attach_user_policy(&ctx(), Some("alice"), Some(SM_RW))
            .unwrap();
        iam.put_user_policy(
            &ctx(),
            Some("alice"),
            Some("no-delete"),
            Some(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"secretsmanager:DeleteSecret","Resource":"*"}}"#),
        )
        .unwrap();
        let mut q = req(&[
            "secretsmanager:GetSecretValue",
            "secretsmanager:DeleteSecret",
        ]);
        q.policy_source_arn = Some(u.arn.clone());
        let page = iam.simulate_principal_policy(&ctx(), &q).unwrap();
        assert_eq!(page.items[0].eval_decision, EvalDecision::Allowed);
        assert_eq!(page.items[1].eval_decision, EvalDecision::ExplicitDeny);
        let m = &page.items[1].matched_statements[0];
        assert_eq!(m.source_policy_id, "no-delete");
        assert_eq!(m.source_policy_type.as_deref(), Some("user"));
        // Without its inline policies (by identifier), DeleteSecret is allowed.
        q.policy_exclusion_list = Some(vec![PolicyIdentifier {
            inline: Some(coffer_model::iam::simulate::InlinePolicyIdentifier {
                policy_name: Some("No-Delete".into()),
                attachment_type: Some("user".into()),
                attachment_name: Some("alice".into()),
            }),
            ..PolicyIdentifier::default()
        }]);
        let page = iam.simulate_principal_policy(&ctx(), &q).unwrap();
        assert_eq!(page.items[1].eval_decision, EvalDecision::Allowed);
        // The path is part of the ARN.
        q.policy_source_arn = Some(format!("arn:aws:iam::{ACCOUNT}:user/alice"));
        assert_eq!(
            message(iam.simulate_principal_policy(&ctx(), &q).unwrap_err()),
            "NoSuchEntity: The user with name alice cannot be found."
        );
    }

    #[test]
    fn a_users_groups_and_boundary_are_simulated() {
        let iam = setup();
        let c = ctx();
        let u = iam
            .create_user(&c, Some("carol"), None, None, None)
            .unwrap();
        iam.create_group(&c, Some("readers"), None).unwrap();
        iam.add_user_to_group(&c, Some("readers"), Some("carol"))
            .unwrap();
        iam.put_group_policy(&c, Some("readers"), Some("get"), Some(ALLOW_GET))
            .unwrap();
        let mut q = req(&["secretsmanager:GetSecretValue"]);
        q.policy_source_arn = Some(u.arn.clone());
        let page = iam.simulate_principal_policy(&c, &q).unwrap();
        assert_eq!(page.items[0].eval_decision, EvalDecision::Allowed);
        let m = &page.items[0].matched_statements[0];
        assert_eq!(m.source_policy_id, "get");
        assert_eq!(m.source_policy_type.as_deref(), Some("group"));
        assert_eq!(page.items[0].allowed_by_permissions_boundary, None);

        // The user's own boundary applies: it allows only kms:Decrypt.
        let b = iam
            .create_policy(
                &c,
                coffer_model::iam::CreatePolicyRequest {
                    policy_name: Some("decrypt-only".into()),
                    policy_document: Some(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#.into()),
                    ..Default::default()
                },
            )
            .unwrap();
        iam.put_user_permissions_boundary(&c, Some("carol"), Some(&b.arn))
            .unwrap();
        let page = iam.simulate_principal_policy(&c, &q).unwrap();
        assert_eq!(page.items[0].eval_decision, EvalDecision::ImplicitDeny);
        assert_eq!(page.items[0].allowed_by_permissions_boundary, Some(false));
        // A boundary given in the request replaces the user's.
        q.permissions_boundary_policy_input_list = Some(vec![ALLOW_GET.into()]);
        let page = iam.simulate_principal_policy(&c, &q).unwrap();
        assert_eq!(page.items[0].eval_decision, EvalDecision::Allowed);
        assert_eq!(page.items[0].allowed_by_permissions_boundary, Some(true));
        // The group itself can be simulated; out of the group, the user has nothing.
        q.permissions_boundary_policy_input_list = None;
        q.policy_source_arn = Some(format!("arn:aws:iam::{ACCOUNT}:group/readers"));
        let page = iam.simulate_principal_policy(&c, &q).unwrap();
        assert_eq!(page.items[0].eval_decision, EvalDecision::Allowed);
        iam.remove_user_from_group(&c, Some("readers"), Some("carol"))
            .unwrap();
        q.policy_source_arn = Some(u.arn);
        let page = iam.simulate_principal_policy(&c, &q).unwrap();
        assert_eq!(page.items[0].eval_decision, EvalDecision::ImplicitDeny);
    }

    #[test]
    fn exclusions_take_a_roles_policies_out() {
        let iam = setup();
        let r = role(&iam, "app", None);
        iam.attach_role_policy(&ctx(), Some("app"), Some(SM_RW))
            .unwrap();
        iam.put_role_policy(&ctx(), Some("app"), Some("Get"), Some(ALLOW_GET))
            .unwrap();
        let run = |list: Vec<PolicyIdentifier>| {
            let mut q = req(&["secretsmanager:GetSecretValue"]);
            q.policy_source_arn = Some(r.arn.clone());
            q.policy_exclusion_list = Some(list);
            iam.simulate_principal_policy(&ctx(), &q).map(|p| {
                let r = &p.items[0];
                (
                    r.eval_decision,
                    r.matched_statements
                        .iter()
                        .map(|m| m.source_policy_id.clone())
                        .collect::<Vec<_>>(),
                )
            })
        };
        let by_type = |t: &str| PolicyIdentifier {
            policy_type: Some(t.into()),
            ..PolicyIdentifier::default()
        };
        let by_arn = |a: &str| PolicyIdentifier {
            policy_arn: Some(a.into()),
            ..PolicyIdentifier::default()
        };
        let inline = |kind: &str, entity: &str, name: &str| PolicyIdentifier {
            inline: Some(coffer_model::iam::simulate::InlinePolicyIdentifier {
                policy_name: Some(name.into()),
                attachment_type: Some(kind.into()),
                attachment_name: Some(entity.into()),
            }),
            ..PolicyIdentifier::default()
        };
        let (d, ids) = run(vec![]).unwrap();
        assert_eq!(d, EvalDecision::Allowed);
        assert_eq!(ids, ["SecretsManagerReadWrite", "Get"]);
        assert_eq!(
            run(vec![by_type("inline")]).unwrap().1,
            ["SecretsManagerReadWrite"]
        );
        assert_eq!(run(vec![by_type("aws-managed")]).unwrap().1, ["Get"]);
        assert_eq!(run(vec![by_arn(SM_RW)]).unwrap().1, ["Get"]);
        assert_eq!(
            run(vec![by_arn("arn:aws:iam::aws:policy/Secrets*")])
                .unwrap()
                .1,
            ["Get"]
        );
        assert_eq!(
            run(vec![inline("role", "APP", "get")]).unwrap().1,
            ["SecretsManagerReadWrite"]
        );
        // Identifiers that match nothing are ignored.
        assert_eq!(
            run(vec![inline("user", "app", "Get"), by_type("scp")])
                .unwrap()
                .1
                .len(),
            2
        );
        assert_eq!(
            run(vec![by_type("inline"), by_type("aws-managed")]).unwrap(),
            (EvalDecision::ImplicitDeny, vec![])
        );
        // Malformed identifiers are refused.
        for bad in [
            by_arn("arn:aws:iam::*:policy/SecretsManagerReadWrite"),
            by_arn("arn:aws:iam::aws:role/SecretsManagerReadWrite"),
            PolicyIdentifier::default(),
        ] {
            assert!(message(run(vec![bad]).unwrap_err()).starts_with("InvalidInput: "));
        }
        assert!(message(run(vec![by_type("managed")]).unwrap_err())
            .contains("'policyExclusionList.1.member.policyType'"));
    }

    #[test]
    fn resources_decide_one_by_one_and_across_accounts() {
        let iam = setup();
        let caller = format!("arn:aws:iam::{ACCOUNT}:role/app");
        let mine = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:s-AbCdEf");
        let theirs = format!("arn:aws:secretsmanager:eu-west-1:{OTHER}:secret:s-AbCdEf");
        let resource_policy = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}}}"#
        );
        let mut q = req(&["secretsmanager:GetSecretValue"]);
        q.policy_input_list = Some(vec![ALLOW_GET.into()]);
        q.resource_policy = Some(resource_policy);
        q.caller_arn = Some(caller);
        q.resource_arns = Some(vec![mine.clone(), theirs.clone()]);
        let page = iam.simulate_custom_policy(&ctx(), &q).unwrap();
        let r = &page.items[0];
        assert_eq!(r.eval_decision, EvalDecision::Allowed);
        assert_eq!(
            r.eval_resource_name,
            "arn:${Partition}:secretsmanager:${Region}:${Account}:secret:${SecretId}"
        );
        let per = r.resource_specific_results.as_ref().unwrap();
        assert_eq!(per[0].eval_resource_name, mine);
        // Same account: the details are present and empty.
        assert_eq!(per[0].eval_decision_details, Some(Vec::new()));
        assert_eq!(per[1].eval_resource_name, theirs);
        assert_eq!(per[1].eval_resource_decision, EvalDecision::Allowed);
        assert_eq!(
            per[1].eval_decision_details,
            Some(vec![
                (IDENTITY_POLICY_SOURCE.to_owned(), EvalDecision::Allowed),
                (RESOURCE_POLICY_SOURCE.to_owned(), EvalDecision::Allowed)
            ])
        );

        // Across accounts the caller's own policies must allow too.
        q.policy_input_list = Some(vec![
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#.into(),
        ]);
        let page = iam.simulate_custom_policy(&ctx(), &q).unwrap();
        let per = page.items[0].resource_specific_results.as_ref().unwrap();
        assert_eq!(per[0].eval_resource_decision, EvalDecision::ImplicitDeny);
        assert_eq!(per[1].eval_resource_decision, EvalDecision::ImplicitDeny);
        assert_eq!(
            per[1].eval_decision_details.as_deref().unwrap()[0],
            (
                IDENTITY_POLICY_SOURCE.to_owned(),
                EvalDecision::ImplicitDeny
            )
        );

        // ResourceOwner names the owner of resources whose ARN has none.
        q.resource_arns = Some(vec!["arn:aws:s3:::bucket".into()]);
        q.resource_owner = Some(OTHER.into());
        q.action_names = Some(vec!["s3:GetObject".into()]);
        assert_eq!(
            message(iam.simulate_custom_policy(&ctx(), &q).unwrap_err()),
            format!("InvalidInput: '{OTHER}' is not a valid as a Resource Owner.")
        );
        q.resource_owner = Some(format!("arn:aws:iam::{OTHER}:root"));
        let page = iam.simulate_custom_policy(&ctx(), &q).unwrap();
        assert_eq!(page.items[0].eval_resource_name, "*");
        let per = page.items[0].resource_specific_results.as_ref().unwrap();
        assert_eq!(per[0].eval_decision_details.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn inputs_are_checked() {
        let iam = setup();
        let mut q = req(&["kms:Decrypt"]);
        q.policy_input_list = Some(vec![ALLOW_GET.into()]);
        q.resource_policy = Some(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#
                .into(),
        );
        assert!(message(iam.simulate_custom_policy(&ctx(), &q).unwrap_err())
            .starts_with("InvalidInput: CallerArn"));

        let mut q = req(&["kms:Decrypt"]);
        q.policy_input_list = Some(vec![ALLOW_GET.into()]);
        q.permissions_boundary_policy_input_list = Some(vec![ALLOW_GET.into(), ALLOW_GET.into()]);
        assert!(message(iam.simulate_custom_policy(&ctx(), &q).unwrap_err())
            .starts_with("InvalidInput: "));

        // An identity policy may not name a principal.
        let mut q = req(&["kms:Decrypt"]);
        q.policy_input_list = Some(vec![
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#.into(),
        ]);
        assert!(message(iam.simulate_custom_policy(&ctx(), &q).unwrap_err())
            .starts_with("InvalidInput: PolicyInputList: "));

        let mut q = req(&["km"]);
        q.policy_input_list = Some(vec![ALLOW_GET.into()]);
        q.context_entries = Some(vec![ContextEntry {
            key_name: Some("k".into()),
            values: vec![],
            key_type: Some("strings".into()),
        }]);
        let m = message(iam.simulate_custom_policy(&ctx(), &q).unwrap_err());
        assert!(
            m.starts_with("ValidationError: 3 validation errors detected"),
            "{m}"
        );
        assert!(m.contains("'actionNames'"), "{m}");
        assert!(
            m.contains("'contextEntries.1.member.contextKeyName'"),
            "{m}"
        );
    }

    #[test]
    fn role_sessions_need_the_simulator_actions() {
        let iam = setup();
        let r = role(&iam, "app", None);
        let mut c = ctx();
        c.principal_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/s");
        c.role = Some(Arc::new(RoleSession::assumed_role("app", &r.arn, "s")));
        let mut q = req(&["kms:Decrypt"]);
        q.policy_source_arn = Some(r.arn.clone());
        assert_eq!(
            message(iam.simulate_principal_policy(&c, &q).unwrap_err()),
            format!("AccessDenied: User: arn:aws:sts::{ACCOUNT}:assumed-role/app/s is not authorized to perform: iam:SimulatePrincipalPolicy on resource: {} because no identity-based policy allows the iam:SimulatePrincipalPolicy action", r.arn)
        );
        iam.put_role_policy(
            &ctx(),
            Some("app"),
            Some("sim"),
            Some(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:Simulate*","Resource":"*"}}"#),
        )
        .unwrap();
        let page = iam.simulate_principal_policy(&c, &q).unwrap();
        assert_eq!(page.items[0].eval_decision, EvalDecision::ImplicitDeny);
        q.policy_input_list = Some(vec![ALLOW_GET.into()]);
        q.policy_source_arn = None;
        iam.simulate_custom_policy(&c, &q).unwrap();
    }
}
