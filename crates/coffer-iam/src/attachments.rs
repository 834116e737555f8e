//! Managed policies attached to roles: Attach/DetachRolePolicy, ListAttachedRolePolicies and
//! ListEntitiesForPolicy.

use super::*;
use coffer_model::ops::IamAction;

impl Iam {
    /// `ListEntitiesForPolicy`: the roles it is attached to (Coffer has no users or groups, and
    /// no permissions boundaries).
    pub fn list_entities_for_policy(
        &self,
        ctx: &RequestContext,
        req: &ListEntitiesForPolicyRequest,
    ) -> Result<Page<PolicyRole>, IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, req.policy_arn.as_deref());
        v.one_of(
            "EntityFilter",
            req.entity_filter.as_deref(),
            wire::ENTITY_TYPES,
        );
        v.length("PathPrefix", req.path_prefix.as_deref(), 1, 512);
        v.pattern(
            "PathPrefix",
            req.path_prefix.as_deref(),
            wire::is_path,
            wire::PATH_PATTERN,
        );
        v.one_of(
            "PolicyUsageFilter",
            req.policy_usage_filter.as_deref(),
            wire::POLICY_USAGES,
        );
        req.paging.check(&mut v);
        v.finish()?;
        let arn = req.policy_arn.as_deref().unwrap_or_default();
        self.authorize(ctx, IamAction::ListEntitiesForPolicy, arn)?;
        let st = self.state.read();
        let p = Self::find_policy(&st, ctx, arn, policy_not_found)?;
        let account_prefix = format!("{}/", ctx.account_id);
        let wants_roles = matches!(req.entity_filter.as_deref(), None | Some("Role"))
            && req.policy_usage_filter.as_deref() != Some("PermissionsBoundary");
        let prefix = req.path_prefix.as_deref().unwrap_or("/");
        let items: Vec<(String, PolicyRole)> = if wants_roles {
            st.attachments
                .get(&p.arn)
                .into_iter()
                .flatten()
                .filter(|k| k.starts_with(&account_prefix))
                .filter_map(|k| st.roles.get(k).map(|r| (k, r)))
                .filter(|(_, r)| r.path.starts_with(prefix))
                .map(|(k, r)| {
                    (
                        k.clone(),
                        PolicyRole {
                            role_name: r.name.clone(),
                            role_id: r.role_id.clone(),
                        },
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        page(items, &req.paging)
    }

    /// `AttachRolePolicy` (attaching an attached policy again changes nothing).
    pub fn attach_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_arn(&mut v, arn);
        v.finish()?;
        let (role, arn) = (given(role), given(arn));
        self.authorize(
            ctx,
            IamAction::AttachRolePolicy,
            &self.role_arn_for(ctx, role),
        )?;
        let mut st = self.state.write();
        let mut r = st.role(&ctx.account_id, role)?.clone();
        let policy_arn = Self::find_policy(&st, ctx, arn, |arn| {
            IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
        })?
        .arn
        .clone();
        if r.attached_policies.contains(&policy_arn) {
            return Ok(());
        }
        if r.attached_policies.len() >= MAX_ATTACHED_PER_ROLE {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED_PER_ROLE}"
            )));
        }
        r.attached_policies.push(policy_arn.clone());
        let key = entity_key(&r.account, &r.name);
        self.save_role(&mut st, r)?;
        st.attachments.entry(policy_arn).or_default().insert(key);
        Ok(())
    }

    /// `DetachRolePolicy`.
    pub fn detach_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_arn(&mut v, arn);
        v.finish()?;
        let (role, arn) = (given(role), given(arn));
        self.authorize(
            ctx,
            IamAction::DetachRolePolicy,
            &self.role_arn_for(ctx, role),
        )?;
        let mut st = self.state.write();
        let mut r = st.role(&ctx.account_id, role)?.clone();
        if IamArn::parse(arn).is_none_or(|a| a.kind != "policy") {
            return Err(IamError::InvalidInput(format!("ARN {arn} is not valid.")));
        }
        let canonical = Self::find_policy(&st, ctx, arn, policy_not_found)
            .map(|p| p.arn.clone())
            .unwrap_or_else(|_| arn.to_string());
        let Some(i) = r.attached_policies.iter().position(|a| *a == canonical) else {
            return Err(policy_not_found(arn));
        };
        r.attached_policies.remove(i);
        let key = entity_key(&r.account, &r.name);
        self.save_role(&mut st, r)?;
        if let Some(set) = st.attachments.get_mut(&canonical) {
            set.remove(&key);
            if set.is_empty() {
                st.attachments.remove(&canonical);
            }
        }
        Ok(())
    }

    /// `ListAttachedRolePolicies`, in the order they were attached.
    pub fn list_attached_role_policies(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<AttachedPolicy>, IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_path(&mut v, "PathPrefix", path_prefix);
        paging.check(&mut v);
        v.finish()?;
        let role = given(role);
        self.authorize(
            ctx,
            IamAction::ListAttachedRolePolicies,
            &self.role_arn_for(ctx, role),
        )?;
        let prefix = path_prefix.unwrap_or("/");
        let st = self.state.read();
        let r = st.role(&ctx.account_id, role)?;
        let attached = r.attached_policies.iter().filter_map(|arn| {
            let p = st.attached_policy(arn)?;
            p.path.starts_with(prefix).then(|| AttachedPolicy {
                policy_name: p.name.clone(),
                policy_arn: p.arn.clone(),
            })
        });
        page(ordered(attached), paging)
    }
}
