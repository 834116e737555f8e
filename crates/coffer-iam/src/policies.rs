//! Customer managed policies and their versions: Create/Get/List/DeletePolicy,
//! Create/Get/List/Delete/SetDefaultPolicyVersion and policy tags.

use super::*;
use coffer_model::ops::IamAction;

impl Iam {
    /// `CreatePolicy`: version `v1`, the default.
    pub fn create_policy(
        &self,
        ctx: &RequestContext,
        req: CreatePolicyRequest,
    ) -> Result<Policy, IamError> {
        let mut v = Validator::new();
        check_policy_name(&mut v, req.policy_name.as_deref());
        check_policy_path(&mut v, "Path", req.path.as_deref());
        v.required("PolicyDocument", &req.policy_document);
        wire::check_document(&mut v, "PolicyDocument", req.policy_document.as_deref());
        v.length("Description", req.description.as_deref(), 0, 1000);
        wire::check_tags(&mut v, "Tags", req.tags.as_deref());
        v.finish()?;
        let name = req.policy_name.unwrap_or_default();
        let path = req.path.unwrap_or_else(|| "/".into());
        let arn = wire::arn(ctx.partition(), &ctx.account_id, "policy", &path, &name);
        self.authorize(ctx, IamAction::CreatePolicy, &arn)?;
        let tags = req.tags.unwrap_or_default();
        check_duplicate_tags(&tags)?;
        let doc = req.policy_document.unwrap_or_default();
        document::check(&doc, Kind::Managed)?;

        let mut st = self.state.write();
        let key = entity_key(&ctx.account_id, &name);
        if st.policies.contains_key(&key) {
            return Err(IamError::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        if st
            .policies
            .values()
            .filter(|p| p.account == ctx.account_id)
            .count()
            >= MAX_POLICIES
        {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for PoliciesPerAccount: {MAX_POLICIES}"
            )));
        }
        let now = self.now();
        let rec = PolicyRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            name,
            path,
            policy_id: unique_id("ANPA")?,
            arn,
            description: req.description,
            create_date: now,
            default_version: "v1".into(),
            next_version: 2,
            versions: vec![VersionRec {
                id: "v1".into(),
                document: doc,
                create_date: now,
            }],
            tags: tags.iter().map(TagRec::from).collect(),
        };
        let view = policy_view(&st, &rec, &ctx.account_id);
        self.save_policy(&mut st, rec)?;
        Ok(view)
    }

    /// `GetPolicy`.
    pub fn get_policy(&self, ctx: &RequestContext, arn: Option<&str>) -> Result<Policy, IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::GetPolicy, arn)?;
        let st = self.state.read();
        let p = Self::find_policy(&st, ctx, arn, policy_not_found)?;
        Ok(policy_view(&st, &p, &ctx.account_id))
    }

    /// `DeletePolicy`: refused while attached or while versions other than the default exist.
    pub fn delete_policy(&self, ctx: &RequestContext, arn: Option<&str>) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::DeletePolicy, arn)?;
        let mut st = self.state.write();
        let p = Self::find_policy(&st, ctx, arn, policy_not_found)?;
        Self::refuse_aws_managed(ctx, IamAction::DeletePolicy, &p)?;
        // A policy some user or role has as its boundary is refused too: deleting it would
        // leave the boundary allowing nothing, which Coffer will not do silently.
        if st.attachment_count(&p.arn, &ctx.account_id) > 0
            || st.boundary_usage_count(&p.arn, &ctx.account_id) > 0
        {
            return Err(IamError::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        if p.versions.len() > 1 {
            return Err(IamError::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy."
                    .into(),
            ));
        }
        let key = entity_key(&p.account, &p.name);
        let mut tx = Transaction::new();
        tx.delete(POLICY_TABLE, &key);
        self.commit(&tx)?;
        st.policies.remove(&key);
        Ok(())
    }

    /// `ListPolicies`, by name: the account's customer managed policies (`Scope=Local`), the AWS
    /// managed catalog (`Scope=AWS`), or both (`All`, the default).
    pub fn list_policies(
        &self,
        ctx: &RequestContext,
        req: &ListPoliciesRequest,
    ) -> Result<Page<Policy>, IamError> {
        let mut v = Validator::new();
        v.one_of("Scope", req.scope.as_deref(), wire::SCOPES);
        check_policy_path(&mut v, "PathPrefix", req.path_prefix.as_deref());
        v.one_of(
            "PolicyUsageFilter",
            req.policy_usage_filter.as_deref(),
            wire::POLICY_USAGES,
        );
        req.paging.check(&mut v);
        v.finish()?;
        self.authorize(
            ctx,
            IamAction::ListPolicies,
            &Self::wildcard_arn(ctx, "policy"),
        )?;
        let st = self.state.read();
        // `PermissionsBoundary`: only policies some user or role has as its boundary (and with
        // `OnlyAttached`, used so); `PermissionsPolicy`: every policy, all being attachable.
        let boundaries = req.policy_usage_filter.as_deref() == Some("PermissionsBoundary");
        let scope = req.scope.as_deref().unwrap_or("All");
        let prefix = req.path_prefix.as_deref().unwrap_or("/");
        let wanted = |p: &PolicyRecord| {
            let used = if boundaries {
                st.boundary_usage_count(&p.arn, &ctx.account_id) > 0
            } else {
                !req.only_attached || st.attachment_count(&p.arn, &ctx.account_id) > 0
            };
            p.path.starts_with(prefix) && used
        };
        // Keys: the name in lower case, then the ARN (a customer policy may share an AWS
        // managed policy's name).
        let key = |p: &PolicyRecord| format!("{}/{}", p.name.to_ascii_lowercase(), p.arn);
        let mut items: Vec<(String, Policy)> = Vec::new();
        if scope != "AWS" {
            items.extend(
                st.policies
                    .values()
                    .filter(|p| p.account == ctx.account_id && wanted(p))
                    .map(|p| (key(p), policy_view(&st, p, &ctx.account_id))),
            );
        }
        if scope != "Local" {
            items.extend(
                aws_managed::CATALOG
                    .iter()
                    .map(|m| m.record(ctx.partition()))
                    .filter(|p| wanted(p))
                    .map(|p| (key(&p), policy_view(&st, &p, &ctx.account_id))),
            );
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        page(items, &req.paging)
    }

    /// `CreatePolicyVersion`: at most five versions; `SetAsDefault` makes it the default.
    pub fn create_policy_version(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        document: Option<&str>,
        set_as_default: bool,
    ) -> Result<PolicyVersion, IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        v.required("PolicyDocument", &document);
        wire::check_document(&mut v, "PolicyDocument", document);
        v.finish()?;
        let (arn, doc) = (given(arn), given(document));
        self.authorize(ctx, IamAction::CreatePolicyVersion, arn)?;
        document::check(doc, Kind::Managed)?;
        let mut st = self.state.write();
        let mut p = Self::find_policy(&st, ctx, arn, policy_not_found)?.into_owned();
        Self::refuse_aws_managed(ctx, IamAction::CreatePolicyVersion, &p)?;
        if p.versions.len() >= MAX_VERSIONS {
            return Err(IamError::LimitExceeded(
                "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version."
                    .into(),
            ));
        }
        let id = format!("v{}", p.next_version);
        p.next_version += 1;
        p.versions.push(VersionRec {
            id: id.clone(),
            document: doc.to_string(),
            create_date: self.now(),
        });
        if set_as_default {
            p.default_version = id;
        }
        let view = p
            .versions
            .last()
            .map(|v| version_view(&p, v, false))
            .ok_or_else(|| IamError::Internal("version just added is missing".into()))?;
        self.save_policy(&mut st, p)?;
        Ok(view)
    }

    /// `GetPolicyVersion`, with its document.
    pub fn get_policy_version(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<PolicyVersion, IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        check_version_id(&mut v, version_id);
        v.finish()?;
        let (arn, id) = (given(arn), given(version_id));
        self.authorize(ctx, IamAction::GetPolicyVersion, arn)?;
        let st = self.state.read();
        let p = Self::find_policy(&st, ctx, arn, policy_not_found)?;
        p.versions
            .iter()
            .find(|v| v.id == id)
            .map(|v| version_view(&p, v, true))
            .ok_or_else(|| version_not_found(arn, id))
    }

    /// `ListPolicyVersions`, newest first, without documents.
    pub fn list_policy_versions(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<PolicyVersion>, IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        paging.check(&mut v);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::ListPolicyVersions, arn)?;
        let st = self.state.read();
        let p = Self::find_policy(&st, ctx, arn, policy_not_found)?;
        page(
            ordered(p.versions.iter().rev().map(|v| version_view(&p, v, false))),
            paging,
        )
    }

    /// `DeletePolicyVersion`: never the default version.
    pub fn delete_policy_version(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        check_version_id(&mut v, version_id);
        v.finish()?;
        let (arn, id) = (given(arn), given(version_id));
        self.authorize(ctx, IamAction::DeletePolicyVersion, arn)?;
        let mut st = self.state.write();
        let mut p = Self::find_policy(&st, ctx, arn, policy_not_found)?.into_owned();
        Self::refuse_aws_managed(ctx, IamAction::DeletePolicyVersion, &p)?;
        let Some(i) = p.versions.iter().position(|v| v.id == id) else {
            return Err(version_not_found(arn, id));
        };
        if p.default_version == id {
            return Err(IamError::DeleteConflict(
                "Cannot delete the default version of a policy.".into(),
            ));
        }
        p.versions.remove(i);
        self.save_policy(&mut st, p)
    }

    /// `SetDefaultPolicyVersion`.
    pub fn set_default_policy_version(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        check_version_id(&mut v, version_id);
        v.finish()?;
        let (arn, id) = (given(arn), given(version_id));
        self.authorize(ctx, IamAction::SetDefaultPolicyVersion, arn)?;
        let mut st = self.state.write();
        let mut p = Self::find_policy(&st, ctx, arn, policy_not_found)?.into_owned();
        Self::refuse_aws_managed(ctx, IamAction::SetDefaultPolicyVersion, &p)?;
        if !p.versions.iter().any(|v| v.id == id) {
            return Err(version_not_found(arn, id));
        }
        if p.default_version == id {
            return Ok(());
        }
        p.default_version = id.to_string();
        self.save_policy(&mut st, p)
    }

    pub(super) fn update_policy_with(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        arn: &str,
        change: impl FnOnce(&mut PolicyRecord) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        self.authorize(ctx, action, arn)?;
        let mut st = self.state.write();
        let mut p = Self::find_policy(&st, ctx, arn, policy_not_found)?.into_owned();
        Self::refuse_aws_managed(ctx, action, &p)?;
        change(&mut p)?;
        self.save_policy(&mut st, p)
    }

    /// `TagPolicy`.
    pub fn tag_policy(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<(), IamError> {
        let tags = tags_to_add(|v| check_policy_arn(v, arn), tags)?;
        self.update_policy_with(ctx, IamAction::TagPolicy, given(arn), |p| {
            p.tags = merge_tags(&p.tags, tags)?;
            Ok(())
        })
    }

    /// `UntagPolicy`.
    pub fn untag_policy(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        keys: Option<&[String]>,
    ) -> Result<(), IamError> {
        let keys = tag_keys_to_remove(|v| check_policy_arn(v, arn), keys)?;
        self.update_policy_with(ctx, IamAction::UntagPolicy, given(arn), |p| {
            p.tags = remove_tags(&p.tags, keys);
            Ok(())
        })
    }

    /// `ListPolicyTags`.
    pub fn list_policy_tags(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Tag>, IamError> {
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        paging.check(&mut v);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::ListPolicyTags, arn)?;
        let st = self.state.read();
        let p = Self::find_policy(&st, ctx, arn, policy_not_found)?;
        page(ordered(tags_of(&p.tags)), paging)
    }
}
