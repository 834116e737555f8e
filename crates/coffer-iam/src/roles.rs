//! Roles: Create/Get/List/Update/DeleteRole, UpdateRoleDescription, UpdateAssumeRolePolicy, role
//! tags (through [`crate::entity`], shared with users) and ListInstanceProfilesForRole.

use super::*;
use crate::entity::EntityKind;
use coffer_model::ops::IamAction;

impl Iam {
    /// `CreateRole`.
    pub fn create_role(
        &self,
        ctx: &RequestContext,
        req: CreateRoleRequest,
    ) -> Result<Role, IamError> {
        let mut v = Validator::new();
        v.length("Path", req.path.as_deref(), 1, 512);
        v.pattern(
            "Path",
            req.path.as_deref(),
            wire::is_path,
            wire::PATH_PATTERN,
        );
        check_role_name(&mut v, req.role_name.as_deref());
        v.required("AssumeRolePolicyDocument", &req.assume_role_policy_document);
        wire::check_document(
            &mut v,
            "AssumeRolePolicyDocument",
            req.assume_role_policy_document.as_deref(),
        );
        check_role_description(&mut v, req.description.as_deref());
        v.range(
            "MaxSessionDuration",
            req.max_session_duration,
            wire::MIN_SESSION_DURATION,
            wire::MAX_SESSION_DURATION,
        );
        wire::check_arn(
            &mut v,
            "PermissionsBoundary",
            req.permissions_boundary.as_deref(),
        );
        wire::check_tags(&mut v, "Tags", req.tags.as_deref());
        v.finish()?;
        let name = req.role_name.unwrap_or_default();
        let path = req.path.unwrap_or_else(|| "/".into());
        let arn = wire::arn(ctx.partition(), &ctx.account_id, "role", &path, &name);
        self.authorize(ctx, IamAction::CreateRole, &arn)?;
        let tags = req.tags.unwrap_or_default();
        check_duplicate_tags(&tags)?;
        let trust = req.assume_role_policy_document.unwrap_or_default();
        document::check(&trust, Kind::Trust)?;

        let mut st = self.state.write();
        let boundary = req
            .permissions_boundary
            .as_deref()
            .map(|b| Self::boundary_policy(&st, ctx, b))
            .transpose()?;
        let key = entity_key(&ctx.account_id, &name);
        if st.roles.contains_key(&key) {
            return Err(EntityKind::Role.exists(&name));
        }
        if st
            .roles
            .values()
            .filter(|r| r.account == ctx.account_id)
            .count()
            >= MAX_ROLES
        {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for RolesPerAccount: {MAX_ROLES}"
            )));
        }
        let rec = RoleRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            name,
            path,
            role_id: unique_id(EntityKind::Role.id_prefix())?,
            arn,
            create_date: self.now(),
            trust_policy: trust,
            description: req.description,
            max_session_duration: req
                .max_session_duration
                .unwrap_or(wire::MIN_SESSION_DURATION),
            tags: tags.iter().map(TagRec::from).collect(),
            attached_policies: Vec::new(),
            permissions_boundary: boundary,
        };
        let view = role_view(&rec);
        self.save_role(&mut st, rec)?;
        Ok(view)
    }

    /// `GetRole`.
    pub fn get_role(&self, ctx: &RequestContext, name: Option<&str>) -> Result<Role, IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        v.finish()?;
        let name = given(name);
        self.authorize(ctx, IamAction::GetRole, &self.role_arn_for(ctx, name))?;
        let st = self.state.read();
        st.role(&ctx.account_id, name).map(role_view)
    }

    /// `ListRoles`, by name.
    pub fn list_roles(
        &self,
        ctx: &RequestContext,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Role>, IamError> {
        let mut v = Validator::new();
        v.length("PathPrefix", path_prefix, 1, 512);
        v.pattern(
            "PathPrefix",
            path_prefix,
            wire::is_path_prefix,
            wire::PATH_PREFIX_PATTERN,
        );
        paging.check(&mut v);
        v.finish()?;
        self.authorize(ctx, IamAction::ListRoles, &Self::wildcard_arn(ctx, "role"))?;
        let prefix = path_prefix.unwrap_or("/");
        let st = self.state.read();
        let mut items: Vec<(String, Role)> = st
            .roles
            .iter()
            .filter(|(_, r)| r.account == ctx.account_id && r.path.starts_with(prefix))
            .map(|(k, r)| (k.clone(), role_view(r)))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        page(items, paging)
    }

    /// `DeleteRole`: refused while managed policies are attached or inline policies exist.
    pub fn delete_role(&self, ctx: &RequestContext, name: Option<&str>) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        v.finish()?;
        let name = given(name);
        self.authorize(ctx, IamAction::DeleteRole, &self.role_arn_for(ctx, name))?;
        let mut st = self.state.write();
        let key = entity_key(&ctx.account_id, name);
        let role = st.role(&ctx.account_id, name)?;
        Self::policies_conflict(
            &st,
            EntityKind::Role,
            &role.account,
            &role.name,
            &role.attached_policies,
        )?;
        let mut tx = Transaction::new();
        tx.delete(ROLE_TABLE, &key);
        self.commit(&tx)?;
        st.roles.remove(&key);
        st.inline.remove(&key);
        Ok(())
    }

    /// Applies `change` to a role and stores it.
    pub(super) fn update_role_with(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: &str,
        change: impl FnOnce(&mut RoleRecord) -> Result<(), IamError>,
    ) -> Result<Role, IamError> {
        self.update_entity::<RoleRecord>(ctx, action, name, |_, r| change(r))
            .map(|r| role_view(&r))
    }

    /// `UpdateRole`: the description and the maximum session duration.
    pub fn update_role(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        description: Option<String>,
        max_session_duration: Option<i64>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        check_role_description(&mut v, description.as_deref());
        v.range(
            "MaxSessionDuration",
            max_session_duration,
            wire::MIN_SESSION_DURATION,
            wire::MAX_SESSION_DURATION,
        );
        v.finish()?;
        self.update_role_with(ctx, IamAction::UpdateRole, given(name), |r| {
            if let Some(d) = description {
                r.description = Some(d);
            }
            if let Some(m) = max_session_duration {
                r.max_session_duration = m;
            }
            Ok(())
        })
        .map(|_| ())
    }

    /// `UpdateRoleDescription`.
    pub fn update_role_description(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        description: Option<String>,
    ) -> Result<Role, IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        v.required("Description", &description);
        check_role_description(&mut v, description.as_deref());
        v.finish()?;
        self.update_role_with(ctx, IamAction::UpdateRoleDescription, given(name), |r| {
            r.description = description;
            Ok(())
        })
    }

    /// `UpdateAssumeRolePolicy`.
    pub fn update_assume_role_policy(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        document: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        v.required("PolicyDocument", &document);
        wire::check_document(&mut v, "PolicyDocument", document);
        v.finish()?;
        let doc = given(document);
        self.update_role_with(ctx, IamAction::UpdateAssumeRolePolicy, given(name), |r| {
            document::check(doc, Kind::Trust)?;
            r.trust_policy = doc.to_string();
            Ok(())
        })
        .map(|_| ())
    }

    /// `TagRole`.
    pub fn tag_role(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<(), IamError> {
        self.tag_entity::<RoleRecord>(ctx, IamAction::TagRole, name, tags)
    }

    /// `UntagRole` (keys that are not there are ignored).
    pub fn untag_role(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        keys: Option<&[String]>,
    ) -> Result<(), IamError> {
        self.untag_entity::<RoleRecord>(ctx, IamAction::UntagRole, name, keys)
    }

    /// `ListRoleTags`, in the order the tags were added.
    pub fn list_role_tags(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Tag>, IamError> {
        self.list_entity_tags::<RoleRecord>(ctx, IamAction::ListRoleTags, name, paging)
    }

    /// `ListInstanceProfilesForRole`: Coffer has no EC2, so no role is in an instance profile;
    /// this only checks the request and that the role exists.
    pub fn list_instance_profiles_for_role(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(
            ctx,
            IamAction::ListInstanceProfilesForRole,
            &self.role_arn_for(ctx, name),
        )?;
        self.state.read().role(&ctx.account_id, name).map(|_| ())
    }
}
