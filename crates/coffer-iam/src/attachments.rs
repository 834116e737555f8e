//! Managed policies attached to roles: Attach/DetachRolePolicy, ListAttachedRolePolicies
//! (through [`crate::entity`], shared with users and groups) and ListEntitiesForPolicy.

use super::*;
use crate::entity::EntityKind;
use coffer_model::ops::IamAction;

/// A user, role or group ListEntitiesForPolicy names (`PolicyUser`, `PolicyRole`,
/// `PolicyGroup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntity {
    /// Which list it belongs in.
    pub kind: EntityKind,
    /// `UserName`, `RoleName`, `GroupName`.
    pub name: String,
    /// `UserId`, `RoleId`, `GroupId`.
    pub id: String,
}

impl Iam {
    /// `ListEntitiesForPolicy`: the users, groups and roles the policy is attached to
    /// (`PolicyUsageFilter=PermissionsPolicy`), whose permissions boundary it is
    /// (`PermissionsBoundary`), or either (no filter); by kind, then name.
    pub fn list_entities_for_policy(
        &self,
        ctx: &RequestContext,
        req: &ListEntitiesForPolicyRequest,
    ) -> Result<Page<PolicyEntity>, IamError> {
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
        let account = ctx.account_id.as_str();
        let usage = req.policy_usage_filter.as_deref();
        let (attached, bounded) = (
            usage != Some("PermissionsBoundary"),
            usage != Some("PermissionsPolicy"),
        );
        let wants = |kind: EntityKind| {
            req.entity_filter
                .as_deref()
                .is_none_or(|f| f == kind.title())
        };
        let prefix = req.path_prefix.as_deref().unwrap_or("/");
        // Keys: the kind, then the name in lower case.
        let mut items: BTreeMap<String, PolicyEntity> = BTreeMap::new();
        let mut add = |kind: EntityKind, path: &str, name: &str, id: &str| {
            if wants(kind) && path.starts_with(prefix) {
                items.insert(
                    format!("{}/{}", kind.word(), name.to_ascii_lowercase()),
                    PolicyEntity {
                        kind,
                        name: name.to_string(),
                        id: id.to_string(),
                    },
                );
            }
        };
        for u in st.users.values().filter(|u| u.account == account) {
            let here = (attached && u.attached_policies.contains(&p.arn))
                || (bounded && u.permissions_boundary.as_deref() == Some(p.arn.as_str()));
            if here {
                add(EntityKind::User, &u.path, &u.name, &u.user_id);
            }
        }
        for r in st.roles.values().filter(|r| r.account == account) {
            let here = (attached && r.attached_policies.contains(&p.arn))
                || (bounded && r.permissions_boundary.as_deref() == Some(p.arn.as_str()));
            if here {
                add(EntityKind::Role, &r.path, &r.name, &r.role_id);
            }
        }
        if attached {
            for g in st.groups.values().filter(|g| g.account == account) {
                if g.attached_policies.contains(&p.arn) {
                    add(EntityKind::Group, &g.path, &g.name, &g.group_id);
                }
            }
        }
        page(items.into_iter().collect(), &req.paging)
    }

    /// `AttachRolePolicy` (attaching an attached policy again changes nothing).
    pub fn attach_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.attach_entity_policy::<RoleRecord>(ctx, IamAction::AttachRolePolicy, role, arn)
    }

    /// `DetachRolePolicy`.
    pub fn detach_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.detach_entity_policy::<RoleRecord>(ctx, IamAction::DetachRolePolicy, role, arn)
    }

    /// `ListAttachedRolePolicies`, in the order they were attached.
    pub fn list_attached_role_policies(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<AttachedPolicy>, IamError> {
        self.list_attached_entity_policies::<RoleRecord>(
            ctx,
            IamAction::ListAttachedRolePolicies,
            role,
            path_prefix,
            paging,
        )
    }
}
