//! IAM users: Create/Get/List/Update/DeleteUser, user tags, managed policies attached to users,
//! inline user policies (those three through [`crate::entity`], shared with roles and groups)
//! and permissions boundaries. Their access keys live with the other access keys in
//! [`crate::identity`] (secrets wrapped under the root key); the HTTP layer joins the two.
//!
//! Tables: `iam_user`, key `ACCOUNT/name` (lower case); `iam_user_policy`, key
//! `ACCOUNT/user/policy` (lower case). A user's managed policies and groups are listed in its
//! record; in memory its policies join the roles' in `State::attachments` under
//! [`EntityKind::key`], so that a policy's `AttachmentCount` and DeletePolicy's conflict see both.

use super::*;
use crate::entity::{delete_inline, put_inline, EntityKind};
use coffer_model::ops::IamAction;

pub(crate) const USER_TABLE: &str = "iam_user";
pub(crate) const USER_POLICY_TABLE: &str = "iam_user_policy";
/// Users in one account (AWS's default quota).
const MAX_USERS: usize = 5000;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct UserRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub path: String,
    /// `AIDA…`.
    pub user_id: String,
    pub arn: String,
    /// Milliseconds since the epoch.
    pub create_date: i64,
    #[serde(default)]
    pub tags: Vec<TagRec>,
    /// ARNs of the attached managed policies, in the order they were attached.
    #[serde(default)]
    pub attached_policies: Vec<String>,
    /// Names of the groups the user is in, in the order it was added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The ARN of the managed policy that is the user's permissions boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
}

/// The `User` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `Path`.
    pub path: String,
    /// `UserName`.
    pub user_name: String,
    /// `UserId` (`AIDA…`).
    pub user_id: String,
    /// `Arn`.
    pub arn: String,
    /// `CreateDate`.
    pub create_date: Timestamp,
    /// `Tags`.
    pub tags: Vec<Tag>,
    /// `PermissionsBoundary.PermissionsBoundaryArn` (type `Policy`).
    pub permissions_boundary: Option<String>,
}

/// What the HTTP layer needs to issue and check a user's access keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// `UserName`, as created.
    pub name: String,
    /// `Arn`.
    pub arn: String,
    /// `UserId`.
    pub user_id: String,
}

fn check_user_name(v: &mut Validator, name: Option<&str>) {
    EntityKind::User.check_name(v, name);
}

pub(crate) fn user_view(u: &UserRecord) -> User {
    User {
        path: u.path.clone(),
        user_name: u.name.clone(),
        user_id: u.user_id.clone(),
        arn: u.arn.clone(),
        create_date: Timestamp::from_millis(u.create_date),
        tags: tags_of(&u.tags),
        permissions_boundary: u.permissions_boundary.clone(),
    }
}

impl State {
    fn user(&self, account: &str, name: &str) -> Result<&UserRecord, IamError> {
        self.entity::<UserRecord>(account, name)
    }
}

impl Iam {
    /// Loads users and their inline policies into `st` (part of [`Iam::load`]).
    pub(crate) fn load_users(store: &dyn Store, st: &mut State) -> Result<(), IamError> {
        for (key, bytes) in store.scan(USER_TABLE)? {
            let rec: UserRecord = decode(USER_TABLE, &key, &bytes)?;
            check_version(USER_TABLE, &key, rec.v)?;
            let uk = EntityKind::User.key(&rec.account, &rec.name);
            for arn in &rec.attached_policies {
                st.index_attachment(arn, uk.clone());
            }
            st.users.insert(entity_key(&rec.account, &rec.name), rec);
        }
        entity::load_inline(store, EntityKind::User, st)
    }

    /// A user of `account` by name.
    pub fn user(&self, account: &str, name: &str) -> Option<UserInfo> {
        self.state
            .read()
            .users
            .get(&entity_key(account, name))
            .map(|u| UserInfo {
                name: u.name.clone(),
                arn: u.arn.clone(),
                user_id: u.user_id.clone(),
            })
    }

    /// The documents of every policy that applies to the user: attached managed policies'
    /// default versions, then inline policies, then those of its groups (each group's attached,
    /// then inline). Empty when the user does not exist.
    pub fn user_policy_documents(&self, account: &str, user_name: &str) -> Vec<String> {
        let st = self.state.read();
        let Some(user) = st.users.get(&entity_key(account, user_name)) else {
            return Vec::new();
        };
        let mut docs = st.entity_documents(
            EntityKind::User,
            account,
            &user.name,
            &user.attached_policies,
        );
        docs.extend(Self::groups_documents(&st, user));
        docs
    }

    /// The ARN the user `name` of the caller's account has or would have.
    pub fn user_arn_for(&self, ctx: &RequestContext, name: &str) -> String {
        self.entity_arn_for::<UserRecord>(ctx, name)
    }

    /// Authorizes `action` on the user `name` (for the HTTP layer's access-key operations).
    pub fn authorize_user_action(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: &str,
    ) -> Result<(), IamError> {
        self.authorize(ctx, action, &self.user_arn_for(ctx, name))
    }

    /// `CreateUser`.
    pub fn create_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        path: Option<&str>,
        permissions_boundary: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<User, IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        v.length("Path", path, 1, 512);
        v.pattern("Path", path, wire::is_path, wire::PATH_PATTERN);
        wire::check_arn(&mut v, "PermissionsBoundary", permissions_boundary);
        wire::check_tags(&mut v, "Tags", tags);
        v.finish()?;
        let name = given(name).to_string();
        let path = path.unwrap_or("/").to_string();
        let arn = wire::arn(ctx.partition(), &ctx.account_id, "user", &path, &name);
        self.authorize(ctx, IamAction::CreateUser, &arn)?;
        let tags = tags.unwrap_or_default();
        check_duplicate_tags(tags)?;
        let mut st = self.state.write();
        let boundary = permissions_boundary
            .map(|b| Self::boundary_policy(&st, ctx, b))
            .transpose()?;
        if st.users.contains_key(&entity_key(&ctx.account_id, &name)) {
            return Err(EntityKind::User.exists(&name));
        }
        if st
            .users
            .values()
            .filter(|u| u.account == ctx.account_id)
            .count()
            >= MAX_USERS
        {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for UsersPerAccount: {MAX_USERS}"
            )));
        }
        let rec = UserRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            name,
            path,
            user_id: unique_id(EntityKind::User.id_prefix())?,
            arn,
            create_date: self.now(),
            tags: tags.iter().map(TagRec::from).collect(),
            attached_policies: Vec::new(),
            groups: Vec::new(),
            permissions_boundary: boundary,
        };
        let view = user_view(&rec);
        self.save_entity(&mut st, rec)?;
        Ok(view)
    }

    /// `GetUser`: the named user, or without a name the calling user (a root caller: the
    /// account's root user, as AWS answers).
    pub fn get_user(&self, ctx: &RequestContext, name: Option<&str>) -> Result<User, IamError> {
        let mut v = Validator::new();
        wire::check_name(&mut v, "UserName", name, 128);
        v.finish()?;
        let name = match (name, &ctx.role) {
            (Some(n), _) => n.to_string(),
            (None, Some(r)) if r.is_user() => r.role_name.clone(),
            (None, Some(_)) => {
                return Err(IamError::Validation(coffer_model::ValidationError::single(
                    "UserName",
                    None,
                    "Must specify userName when calling with non-User credentials",
                )))
            }
            (None, None) => {
                self.authorize(ctx, IamAction::GetUser, &ctx.principal_arn)?;
                return Ok(User {
                    path: "/".into(),
                    user_name: String::new(),
                    user_id: ctx.account_id.clone(),
                    arn: ctx.principal_arn.clone(),
                    create_date: Timestamp::from_millis(0),
                    tags: Vec::new(),
                    permissions_boundary: None,
                });
            }
        };
        self.authorize(ctx, IamAction::GetUser, &self.user_arn_for(ctx, &name))?;
        let st = self.state.read();
        st.user(&ctx.account_id, &name).map(user_view)
    }

    /// `ListUsers`, by name.
    pub fn list_users(
        &self,
        ctx: &RequestContext,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<User>, IamError> {
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
        self.authorize(ctx, IamAction::ListUsers, &Self::wildcard_arn(ctx, "user"))?;
        let prefix = path_prefix.unwrap_or("/");
        let st = self.state.read();
        let mut items: Vec<(String, User)> = st
            .users
            .iter()
            .filter(|(_, u)| u.account == ctx.account_id && u.path.starts_with(prefix))
            .map(|(k, u)| (k.clone(), user_view(u)))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        page(items, paging)
    }

    /// `DeleteUser`: refused while policies are attached or embedded, or (checked by the
    /// caller, which knows the access keys: `has_access_keys`) access keys exist.
    pub fn delete_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        has_access_keys: &dyn Fn(&str) -> bool,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        v.finish()?;
        let name = given(name);
        self.authorize(ctx, IamAction::DeleteUser, &self.user_arn_for(ctx, name))?;
        let mut st = self.state.write();
        let key = entity_key(&ctx.account_id, name);
        let user = st.user(&ctx.account_id, name)?;
        if has_access_keys(&user.name) {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete access keys first.".into(),
            ));
        }
        if !user.groups.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must remove users from group first.".into(),
            ));
        }
        Self::policies_conflict(
            &st,
            EntityKind::User,
            &user.account,
            &user.name,
            &user.attached_policies,
        )?;
        let mut tx = Transaction::new();
        tx.delete(USER_TABLE, &key);
        self.commit(&tx)?;
        st.users.remove(&key);
        Ok(())
    }

    /// `UpdateUser`: a new name and/or path. The user's inline policies, attachments and group
    /// memberships follow it; `also` adds to the same transaction what lives elsewhere (its
    /// access keys), given the user before and after, and `stored` updates that in memory once
    /// the transaction is stored (still under IAM's lock, so nothing sees one renamed and not
    /// the other). Returns the user before and after.
    pub fn update_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        new_name: Option<&str>,
        new_path: Option<&str>,
        also: &dyn Fn(&mut Transaction, &UserInfo, &UserInfo) -> Result<(), IamError>,
        stored: &dyn Fn(&UserInfo, &UserInfo),
    ) -> Result<(UserInfo, UserInfo), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        wire::check_name(&mut v, "NewUserName", new_name, 64);
        v.length("NewPath", new_path, 1, 512);
        v.pattern("NewPath", new_path, wire::is_path, wire::PATH_PATTERN);
        v.finish()?;
        let name = given(name);
        let source = self.user_arn_for(ctx, name);
        self.authorize(ctx, IamAction::UpdateUser, &source)?;
        // AWS: a rename needs the permission on the target as well.
        if let Some(target) = Self::renamed_arn(ctx, "user", &source, new_name, new_path) {
            self.authorize(ctx, IamAction::UpdateUser, &target)?;
        }
        let mut st = self.state.write();
        let old = st.user(&ctx.account_id, name)?.clone();
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
        if old_key != new_key && st.users.contains_key(&new_key) {
            return Err(EntityKind::User.exists(&rec.name));
        }
        rec.arn = wire::arn(ctx.partition(), &rec.account, "user", &rec.path, &rec.name);
        let info = |u: &UserRecord| UserInfo {
            name: u.name.clone(),
            arn: u.arn.clone(),
            user_id: u.user_id.clone(),
        };
        let (before, after) = (info(&old), info(&rec));
        let (old_ik, new_ik) = (
            EntityKind::User.key(&old.account, &old.name),
            EntityKind::User.key(&rec.account, &rec.name),
        );
        let mut tx = Transaction::new();
        tx.delete(USER_TABLE, &old_key);
        put(&mut tx, USER_TABLE, &new_key, &rec)?;
        let inline = st.inline.get(&old_ik).cloned().unwrap_or_default();
        for p in inline.values() {
            delete_inline(
                &mut tx,
                EntityKind::User,
                &old.account,
                &old.name,
                &p.policy_name,
            );
            put_inline(&mut tx, EntityKind::User, &rec.account, &rec.name, p)?;
        }
        also(&mut tx, &before, &after)?;
        self.commit(&tx)?;
        stored(&before, &after);
        for arn in &old.attached_policies {
            st.unindex_attachment(arn, &old_ik);
            st.index_attachment(arn, new_ik.clone());
        }
        if let Some(m) = st.inline.remove(&old_ik) {
            st.inline.insert(new_ik, m);
        }
        st.users.remove(&old_key);
        st.users.insert(new_key, rec);
        Ok((before, after))
    }

    /// `TagUser`.
    pub fn tag_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<(), IamError> {
        self.tag_entity::<UserRecord>(ctx, IamAction::TagUser, name, tags)
    }

    /// `UntagUser`.
    pub fn untag_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        keys: Option<&[String]>,
    ) -> Result<(), IamError> {
        self.untag_entity::<UserRecord>(ctx, IamAction::UntagUser, name, keys)
    }

    /// `ListUserTags`.
    pub fn list_user_tags(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Tag>, IamError> {
        self.list_entity_tags::<UserRecord>(ctx, IamAction::ListUserTags, name, paging)
    }

    /// `AttachUserPolicy` (attaching an attached policy again changes nothing).
    pub fn attach_user_policy(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.attach_entity_policy::<UserRecord>(ctx, IamAction::AttachUserPolicy, name, arn)
    }

    /// `DetachUserPolicy`.
    pub fn detach_user_policy(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.detach_entity_policy::<UserRecord>(ctx, IamAction::DetachUserPolicy, name, arn)
    }

    /// `ListAttachedUserPolicies`, in the order they were attached.
    pub fn list_attached_user_policies(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<AttachedPolicy>, IamError> {
        self.list_attached_entity_policies::<UserRecord>(
            ctx,
            IamAction::ListAttachedUserPolicies,
            name,
            path_prefix,
            paging,
        )
    }

    /// `PutUserPolicy`: adds or replaces an inline policy; a user's inline policies together
    /// hold at most 2,048 characters (white space not counted).
    pub fn put_user_policy(
        &self,
        ctx: &RequestContext,
        user: Option<&str>,
        name: Option<&str>,
        document: Option<&str>,
    ) -> Result<(), IamError> {
        self.put_entity_policy::<UserRecord>(ctx, IamAction::PutUserPolicy, user, name, document)
    }

    /// `GetUserPolicy`: `(UserName, PolicyName, PolicyDocument)`.
    pub fn get_user_policy(
        &self,
        ctx: &RequestContext,
        user: Option<&str>,
        name: Option<&str>,
    ) -> Result<(String, String, String), IamError> {
        self.get_entity_policy::<UserRecord>(ctx, IamAction::GetUserPolicy, user, name)
    }

    /// `DeleteUserPolicy`.
    pub fn delete_user_policy(
        &self,
        ctx: &RequestContext,
        user: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        self.delete_entity_policy::<UserRecord>(ctx, IamAction::DeleteUserPolicy, user, name)
    }

    /// `ListUserPolicies`: the names of the user's inline policies, by name.
    pub fn list_user_policies(
        &self,
        ctx: &RequestContext,
        user: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<String>, IamError> {
        self.list_entity_policies::<UserRecord>(ctx, IamAction::ListUserPolicies, user, paging)
    }
}
