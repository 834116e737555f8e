//! IAM groups: Create/Get/List/Update/DeleteGroup, AddUserToGroup, RemoveUserFromGroup,
//! ListGroupsForUser, managed policies attached to groups and inline group policies (the last
//! two through [`crate::entity`], shared with users and roles).
//!
//! Tables: `iam_group`, key `ACCOUNT/name` (lower case); `iam_group_policy`, key
//! `ACCOUNT/group/policy`. Membership is kept in the user's record (`groups`, the groups' names
//! in the order the user was added), so a user's rename rewrites only its own record; a group's
//! rename rewrites its members'.

use super::*;
use crate::entity::{delete_inline, put_inline, EntityKind};
use crate::users::UserRecord;
use coffer_model::ops::IamAction;

pub(crate) const GROUP_TABLE: &str = "iam_group";
pub(crate) const GROUP_POLICY_TABLE: &str = "iam_group_policy";
/// Groups in one account (AWS's default quota).
const MAX_GROUPS: usize = 300;
/// Groups one user may be in (AWS's quota).
pub(crate) const MAX_GROUPS_PER_USER: usize = 10;

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct GroupRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub path: String,
    /// `AGPA…`.
    pub group_id: String,
    pub arn: String,
    /// Milliseconds since the epoch.
    pub create_date: i64,
    /// Groups have no tags in AWS; kept for the shared entity code, always empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagRec>,
    /// ARNs of the attached managed policies, in the order they were attached.
    #[serde(default)]
    pub attached_policies: Vec<String>,
}

/// The `Group` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `Path`.
    pub path: String,
    /// `GroupName`.
    pub group_name: String,
    /// `GroupId` (`AGPA…`).
    pub group_id: String,
    /// `Arn`.
    pub arn: String,
    /// `CreateDate`.
    pub create_date: Timestamp,
}

fn group_view(g: &GroupRecord) -> Group {
    Group {
        path: g.path.clone(),
        group_name: g.name.clone(),
        group_id: g.group_id.clone(),
        arn: g.arn.clone(),
        create_date: Timestamp::from_millis(g.create_date),
    }
}

fn check_path(v: &mut Validator, member: &str, path: Option<&str>) {
    v.length(member, path, 1, 512);
    v.pattern(member, path, wire::is_path, wire::PATH_PATTERN);
}

fn check_path_prefix(v: &mut Validator, prefix: Option<&str>) {
    v.length("PathPrefix", prefix, 1, 512);
    v.pattern(
        "PathPrefix",
        prefix,
        wire::is_path_prefix,
        wire::PATH_PREFIX_PATTERN,
    );
}

impl State {
    /// The users of `account` in the group `name`, by user key.
    fn members(&self, account: &str, name: &str) -> Vec<(&String, &UserRecord)> {
        let mut out: Vec<(&String, &UserRecord)> = self
            .users
            .iter()
            .filter(|(_, u)| {
                u.account == account && u.groups.iter().any(|g| g.eq_ignore_ascii_case(name))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }
}

impl Iam {
    /// Loads groups and their inline policies into `st` (part of [`Iam::load`]).
    pub(crate) fn load_groups(store: &dyn Store, st: &mut State) -> Result<(), IamError> {
        for (key, bytes) in store.scan(GROUP_TABLE)? {
            let rec: GroupRecord = decode(GROUP_TABLE, &key, &bytes)?;
            check_version(GROUP_TABLE, &key, rec.v)?;
            let gk = EntityKind::Group.key(&rec.account, &rec.name);
            for arn in &rec.attached_policies {
                st.index_attachment(arn, gk.clone());
            }
            st.groups.insert(entity_key(&rec.account, &rec.name), rec);
        }
        entity::load_inline(store, EntityKind::Group, st)
    }

    /// The documents of the policies of every group the user is in (attached, then inline).
    pub(crate) fn groups_documents(st: &State, user: &UserRecord) -> Vec<String> {
        user.groups
            .iter()
            .filter_map(|g| st.groups.get(&entity_key(&user.account, g)))
            .flat_map(|g| {
                st.entity_documents(EntityKind::Group, &g.account, &g.name, &g.attached_policies)
            })
            .collect()
    }

    /// `CreateGroup`.
    pub fn create_group(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        path: Option<&str>,
    ) -> Result<Group, IamError> {
        let mut v = Validator::new();
        EntityKind::Group.check_name(&mut v, name);
        check_path(&mut v, "Path", path);
        v.finish()?;
        let name = given(name).to_string();
        let path = path.unwrap_or("/").to_string();
        let arn = wire::arn(ctx.partition(), &ctx.account_id, "group", &path, &name);
        self.authorize(ctx, IamAction::CreateGroup, &arn)?;
        let mut st = self.state.write();
        if st.groups.contains_key(&entity_key(&ctx.account_id, &name)) {
            return Err(EntityKind::Group.exists(&name));
        }
        if st
            .groups
            .values()
            .filter(|g| g.account == ctx.account_id)
            .count()
            >= MAX_GROUPS
        {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for GroupsPerAccount: {MAX_GROUPS}"
            )));
        }
        let rec = GroupRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            name,
            path,
            group_id: unique_id(EntityKind::Group.id_prefix())?,
            arn,
            create_date: self.now(),
            tags: Vec::new(),
            attached_policies: Vec::new(),
        };
        let view = group_view(&rec);
        self.save_entity(&mut st, rec)?;
        Ok(view)
    }

    /// `GetGroup`: the group and a page of its users (by name).
    pub fn get_group(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<(Group, Page<User>), IamError> {
        let mut v = Validator::new();
        EntityKind::Group.check_name(&mut v, name);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(
            ctx,
            IamAction::GetGroup,
            &self.entity_arn_for::<GroupRecord>(ctx, name),
        )?;
        let st = self.state.read();
        let g = st.entity::<GroupRecord>(&ctx.account_id, name)?;
        let users = st
            .members(&g.account, &g.name)
            .into_iter()
            .map(|(k, u)| (k.clone(), users::user_view(u)))
            .collect();
        Ok((group_view(g), page(users, paging)?))
    }

    /// `ListGroups`, by name.
    pub fn list_groups(
        &self,
        ctx: &RequestContext,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Group>, IamError> {
        let mut v = Validator::new();
        check_path_prefix(&mut v, path_prefix);
        paging.check(&mut v);
        v.finish()?;
        self.authorize(
            ctx,
            IamAction::ListGroups,
            &Self::wildcard_arn(ctx, "group"),
        )?;
        let prefix = path_prefix.unwrap_or("/");
        let st = self.state.read();
        let mut items: Vec<(String, Group)> = st
            .groups
            .iter()
            .filter(|(_, g)| g.account == ctx.account_id && g.path.starts_with(prefix))
            .map(|(k, g)| (k.clone(), group_view(g)))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        page(items, paging)
    }

    /// `ListGroupsForUser`: the groups the user is in, by name.
    pub fn list_groups_for_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Group>, IamError> {
        let mut v = Validator::new();
        EntityKind::User.check_name(&mut v, name);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(
            ctx,
            IamAction::ListGroupsForUser,
            &self.entity_arn_for::<UserRecord>(ctx, name),
        )?;
        let st = self.state.read();
        let u = st.entity::<UserRecord>(&ctx.account_id, name)?;
        let mut items: Vec<(String, Group)> = u
            .groups
            .iter()
            .filter_map(|g| {
                let key = entity_key(&u.account, g);
                st.groups.get(&key).map(|g| (key, group_view(g)))
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        page(items, paging)
    }

    /// `UpdateGroup`: a new name and/or path. The group's policies and members follow it.
    pub fn update_group(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        EntityKind::Group.check_name(&mut v, name);
        wire::check_name(&mut v, "NewGroupName", new_name, 128);
        check_path(&mut v, "NewPath", new_path);
        v.finish()?;
        let name = given(name);
        let source = self.entity_arn_for::<GroupRecord>(ctx, name);
        self.authorize(ctx, IamAction::UpdateGroup, &source)?;
        // AWS: a rename needs the permission on the target as well.
        if let Some(target) = Self::renamed_arn(ctx, "group", &source, new_name, new_path) {
            self.authorize(ctx, IamAction::UpdateGroup, &target)?;
        }
        let mut st = self.state.write();
        let old = st.entity::<GroupRecord>(&ctx.account_id, name)?.clone();
        let mut rec = old.clone();
        if let Some(n) = new_name {
            rec.name = n.to_string();
        }
        if let Some(p) = new_path {
            rec.path = p.to_string();
        }
        let (old_key, new_key) = (
            entity_key(&old.account, &old.name),
            entity_key(&rec.account, &rec.name),
        );
        if old_key != new_key && st.groups.contains_key(&new_key) {
            return Err(EntityKind::Group.exists(&rec.name));
        }
        rec.arn = wire::arn(ctx.partition(), &rec.account, "group", &rec.path, &rec.name);
        let (old_ik, new_ik) = (
            EntityKind::Group.key(&old.account, &old.name),
            EntityKind::Group.key(&rec.account, &rec.name),
        );
        let mut tx = Transaction::new();
        tx.delete(GROUP_TABLE, &old_key);
        put(&mut tx, GROUP_TABLE, &new_key, &rec)?;
        let inline = st.inline.get(&old_ik).cloned().unwrap_or_default();
        for p in inline.values() {
            delete_inline(
                &mut tx,
                EntityKind::Group,
                &old.account,
                &old.name,
                &p.policy_name,
            );
            put_inline(&mut tx, EntityKind::Group, &rec.account, &rec.name, p)?;
        }
        let mut members: Vec<UserRecord> = st
            .members(&old.account, &old.name)
            .into_iter()
            .map(|(_, u)| u.clone())
            .collect();
        for u in &mut members {
            for g in &mut u.groups {
                if g.eq_ignore_ascii_case(&old.name) {
                    *g = rec.name.clone();
                }
            }
            put(
                &mut tx,
                users::USER_TABLE,
                &entity_key(&u.account, &u.name),
                &*u,
            )?;
        }
        self.commit(&tx)?;
        for arn in &old.attached_policies {
            st.unindex_attachment(arn, &old_ik);
            st.index_attachment(arn, new_ik.clone());
        }
        if let Some(m) = st.inline.remove(&old_ik) {
            st.inline.insert(new_ik, m);
        }
        for u in members {
            st.users.insert(entity_key(&u.account, &u.name), u);
        }
        st.groups.remove(&old_key);
        st.groups.insert(new_key, rec);
        Ok(())
    }

    /// `DeleteGroup`: refused while it has users, attached or inline policies.
    pub fn delete_group(&self, ctx: &RequestContext, name: Option<&str>) -> Result<(), IamError> {
        let mut v = Validator::new();
        EntityKind::Group.check_name(&mut v, name);
        v.finish()?;
        let name = given(name);
        self.authorize(
            ctx,
            IamAction::DeleteGroup,
            &self.entity_arn_for::<GroupRecord>(ctx, name),
        )?;
        let mut st = self.state.write();
        let g = st.entity::<GroupRecord>(&ctx.account_id, name)?;
        if !st.members(&g.account, &g.name).is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must remove users from group first.".into(),
            ));
        }
        Self::policies_conflict(
            &st,
            EntityKind::Group,
            &g.account,
            &g.name,
            &g.attached_policies,
        )?;
        let key = entity_key(&g.account, &g.name);
        let mut tx = Transaction::new();
        tx.delete(GROUP_TABLE, &key);
        self.commit(&tx)?;
        st.groups.remove(&key);
        Ok(())
    }

    /// `AddUserToGroup` (adding a member again changes nothing).
    pub fn add_user_to_group(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        user: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        EntityKind::Group.check_name(&mut v, group);
        EntityKind::User.check_name(&mut v, user);
        v.finish()?;
        let (group, user) = (given(group), given(user));
        self.authorize(
            ctx,
            IamAction::AddUserToGroup,
            &self.entity_arn_for::<GroupRecord>(ctx, group),
        )?;
        let mut st = self.state.write();
        let g = st
            .entity::<GroupRecord>(&ctx.account_id, group)?
            .name
            .clone();
        let mut u = st.entity::<UserRecord>(&ctx.account_id, user)?.clone();
        if u.groups.iter().any(|n| n.eq_ignore_ascii_case(&g)) {
            return Ok(());
        }
        if u.groups.len() >= MAX_GROUPS_PER_USER {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
            )));
        }
        u.groups.push(g);
        self.save_entity(&mut st, u)
    }

    /// `RemoveUserFromGroup`.
    pub fn remove_user_from_group(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        user: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        EntityKind::Group.check_name(&mut v, group);
        EntityKind::User.check_name(&mut v, user);
        v.finish()?;
        let (group, user) = (given(group), given(user));
        self.authorize(
            ctx,
            IamAction::RemoveUserFromGroup,
            &self.entity_arn_for::<GroupRecord>(ctx, group),
        )?;
        let mut st = self.state.write();
        let g = st
            .entity::<GroupRecord>(&ctx.account_id, group)?
            .name
            .clone();
        let mut u = st.entity::<UserRecord>(&ctx.account_id, user)?.clone();
        let Some(i) = u.groups.iter().position(|n| n.eq_ignore_ascii_case(&g)) else {
            return Err(IamError::NoSuchEntity(format!(
                "The user with name {user} cannot be found in group {g}."
            )));
        };
        u.groups.remove(i);
        self.save_entity(&mut st, u)
    }

    /// `AttachGroupPolicy`.
    pub fn attach_group_policy(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.attach_entity_policy::<GroupRecord>(ctx, IamAction::AttachGroupPolicy, group, arn)
    }

    /// `DetachGroupPolicy`.
    pub fn detach_group_policy(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.detach_entity_policy::<GroupRecord>(ctx, IamAction::DetachGroupPolicy, group, arn)
    }

    /// `ListAttachedGroupPolicies`, in the order they were attached.
    pub fn list_attached_group_policies(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<AttachedPolicy>, IamError> {
        self.list_attached_entity_policies::<GroupRecord>(
            ctx,
            IamAction::ListAttachedGroupPolicies,
            group,
            path_prefix,
            paging,
        )
    }

    /// `PutGroupPolicy`: a group's inline policies together hold at most 5,120 characters.
    pub fn put_group_policy(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        name: Option<&str>,
        document: Option<&str>,
    ) -> Result<(), IamError> {
        self.put_entity_policy::<GroupRecord>(ctx, IamAction::PutGroupPolicy, group, name, document)
    }

    /// `GetGroupPolicy`: `(GroupName, PolicyName, PolicyDocument)`.
    pub fn get_group_policy(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        name: Option<&str>,
    ) -> Result<(String, String, String), IamError> {
        self.get_entity_policy::<GroupRecord>(ctx, IamAction::GetGroupPolicy, group, name)
    }

    /// `DeleteGroupPolicy`.
    pub fn delete_group_policy(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        self.delete_entity_policy::<GroupRecord>(ctx, IamAction::DeleteGroupPolicy, group, name)
    }

    /// `ListGroupPolicies`: the names of the group's inline policies, by name.
    pub fn list_group_policies(
        &self,
        ctx: &RequestContext,
        group: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<String>, IamError> {
        self.list_entity_policies::<GroupRecord>(ctx, IamAction::ListGroupPolicies, group, paging)
    }
}
