//! IAM users: Create/Get/List/DeleteUser, user tags, managed policies attached to users and
//! inline user policies. Their access keys live with the other access keys in
//! [`crate::identity`] (secrets wrapped under the root key); the HTTP layer joins the two.
//!
//! Tables: `iam_user`, key `ACCOUNT/name` (lower case); `iam_user_policy`, key
//! `ACCOUNT/user/policy` (lower case). A user's managed policies are listed in its record; in
//! memory they join the roles' in `State::attachments` under [`user_key`], so that a policy's
//! `AttachmentCount` and DeletePolicy's conflict see both.

use super::*;
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
}

/// An inline policy of a user, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct UserPolicyRecord {
    pub v: u32,
    pub account: String,
    pub user_name: String,
    pub policy_name: String,
    pub document: String,
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

/// The key of a user among `State::attachments`' entities (roles use [`entity_key`]).
pub(crate) fn user_key(account: &str, name: &str) -> String {
    format!("{account}/user/{}", name.to_ascii_lowercase())
}

fn user_policy_key(account: &str, user: &str, policy: &str) -> String {
    format!(
        "{account}/{}/{}",
        user.to_ascii_lowercase(),
        policy.to_ascii_lowercase()
    )
}

pub(crate) fn no_such_user(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

fn check_user_name(v: &mut Validator, name: Option<&str>) {
    v.required("UserName", &name);
    wire::check_name(v, "UserName", name, 64);
}

fn user_view(u: &UserRecord) -> User {
    User {
        path: u.path.clone(),
        user_name: u.name.clone(),
        user_id: u.user_id.clone(),
        arn: u.arn.clone(),
        create_date: Timestamp::from_millis(u.create_date),
        tags: tags_of(&u.tags),
    }
}

impl State {
    fn user(&self, account: &str, name: &str) -> Result<&UserRecord, IamError> {
        self.users
            .get(&entity_key(account, name))
            .ok_or_else(|| no_such_user(name))
    }
}

impl Iam {
    /// Loads users and their inline policies into `st` (part of [`Iam::load`]).
    pub(crate) fn load_users(store: &dyn Store, st: &mut State) -> Result<(), IamError> {
        for (key, bytes) in store.scan(USER_TABLE)? {
            let rec: UserRecord = decode(USER_TABLE, &key, &bytes)?;
            check_version(USER_TABLE, &key, rec.v)?;
            let uk = user_key(&rec.account, &rec.name);
            for arn in &rec.attached_policies {
                st.attachments
                    .entry(arn.clone())
                    .or_default()
                    .insert(uk.clone());
            }
            st.users.insert(entity_key(&rec.account, &rec.name), rec);
        }
        for (key, bytes) in store.scan(USER_POLICY_TABLE)? {
            let rec: UserPolicyRecord = decode(USER_POLICY_TABLE, &key, &bytes)?;
            check_version(USER_POLICY_TABLE, &key, rec.v)?;
            st.user_inline
                .entry(entity_key(&rec.account, &rec.user_name))
                .or_default()
                .insert(rec.policy_name.to_ascii_lowercase(), rec);
        }
        Ok(())
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
    /// default versions, then inline policies. Empty when the user does not exist.
    pub fn user_policy_documents(&self, account: &str, user_name: &str) -> Vec<String> {
        let st = self.state.read();
        let key = entity_key(account, user_name);
        let Some(user) = st.users.get(&key) else {
            return Vec::new();
        };
        let mut docs: Vec<String> = user
            .attached_policies
            .iter()
            .filter_map(|arn| {
                st.attached_policy(arn)
                    .as_deref()
                    .and_then(PolicyRecord::default_document)
                    .map(str::to_string)
            })
            .collect();
        if let Some(inline) = st.user_inline.get(&key) {
            docs.extend(inline.values().map(|p| p.document.clone()));
        }
        docs
    }

    /// The ARN the user `name` of the caller's account has or would have.
    pub fn user_arn_for(&self, ctx: &RequestContext, name: &str) -> String {
        self.state
            .read()
            .users
            .get(&entity_key(&ctx.account_id, name))
            .map(|u| u.arn.clone())
            .unwrap_or_else(|| wire::arn(ctx.partition(), &ctx.account_id, "user", "/", name))
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

    fn save_user(&self, st: &mut State, rec: UserRecord) -> Result<(), IamError> {
        let key = entity_key(&rec.account, &rec.name);
        let mut tx = Transaction::new();
        put(&mut tx, USER_TABLE, &key, &rec)?;
        self.commit(&tx)?;
        st.users.insert(key, rec);
        Ok(())
    }

    fn update_user_with(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: &str,
        change: impl FnOnce(&mut State, &mut UserRecord) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        self.authorize(ctx, action, &self.user_arn_for(ctx, name))?;
        let mut st = self.state.write();
        let mut rec = st.user(&ctx.account_id, name)?.clone();
        change(&mut st, &mut rec)?;
        self.save_user(&mut st, rec)
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
        if permissions_boundary.is_some() {
            // Accepting a boundary without enforcing it would grant more than the caller asked.
            return Err(IamError::InvalidInput(
                "Coffer does not support permissions boundaries: create the user without PermissionsBoundary."
                    .into(),
            ));
        }
        let tags = tags.unwrap_or_default();
        check_duplicate_tags(tags)?;
        let mut st = self.state.write();
        if st.users.contains_key(&entity_key(&ctx.account_id, &name)) {
            return Err(IamError::EntityAlreadyExists(format!(
                "User with name {name} already exists."
            )));
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
            user_id: unique_id("AIDA")?,
            arn,
            create_date: self.now(),
            tags: tags.iter().map(TagRec::from).collect(),
            attached_policies: Vec::new(),
        };
        let view = user_view(&rec);
        self.save_user(&mut st, rec)?;
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
        if !user.attached_policies.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        if st.user_inline.get(&key).is_some_and(|p| !p.is_empty()) {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        let mut tx = Transaction::new();
        tx.delete(USER_TABLE, &key);
        self.commit(&tx)?;
        st.users.remove(&key);
        Ok(())
    }

    /// `TagUser`.
    pub fn tag_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        v.required("Tags", &tags);
        wire::check_tags(&mut v, "Tags", tags);
        v.finish()?;
        let tags = tags.unwrap_or_default();
        check_duplicate_tags(tags)?;
        self.update_user_with(ctx, IamAction::TagUser, given(name), |_, u| {
            u.tags = merge_tags(&u.tags, tags)?;
            Ok(())
        })
    }

    /// `UntagUser`.
    pub fn untag_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        keys: Option<&[String]>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        v.required("TagKeys", &keys);
        if let Some(k) = keys {
            wire::check_tag_keys(&mut v, "TagKeys", k);
        }
        v.finish()?;
        let keys = keys.unwrap_or_default();
        self.update_user_with(ctx, IamAction::UntagUser, given(name), |_, u| {
            u.tags = remove_tags(&u.tags, keys);
            Ok(())
        })
    }

    /// `ListUserTags`.
    pub fn list_user_tags(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Tag>, IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(ctx, IamAction::ListUserTags, &self.user_arn_for(ctx, name))?;
        let st = self.state.read();
        page(
            ordered(tags_of(&st.user(&ctx.account_id, name)?.tags)),
            paging,
        )
    }

    /// `AttachUserPolicy` (attaching an attached policy again changes nothing).
    pub fn attach_user_policy(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        check_policy_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        self.update_user_with(ctx, IamAction::AttachUserPolicy, given(name), |st, u| {
            let policy_arn = Self::find_policy(st, ctx, arn, |arn| {
                IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
            })?
            .arn
            .clone();
            if u.attached_policies.contains(&policy_arn) {
                return Ok(());
            }
            if u.attached_policies.len() >= MAX_ATTACHED_PER_ROLE {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED_PER_ROLE}"
                )));
            }
            u.attached_policies.push(policy_arn.clone());
            st.attachments
                .entry(policy_arn)
                .or_default()
                .insert(user_key(&u.account, &u.name));
            Ok(())
        })
    }

    /// `DetachUserPolicy`.
    pub fn detach_user_policy(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        check_policy_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        if IamArn::parse(arn).is_none_or(|a| a.kind != "policy") {
            return Err(IamError::InvalidInput(format!("ARN {arn} is not valid.")));
        }
        self.update_user_with(ctx, IamAction::DetachUserPolicy, given(name), |st, u| {
            let canonical = Self::find_policy(st, ctx, arn, policy_not_found)
                .map(|p| p.arn.clone())
                .unwrap_or_else(|_| arn.to_string());
            let Some(i) = u.attached_policies.iter().position(|a| *a == canonical) else {
                return Err(policy_not_found(arn));
            };
            u.attached_policies.remove(i);
            if let Some(set) = st.attachments.get_mut(&canonical) {
                set.remove(&user_key(&u.account, &u.name));
                if set.is_empty() {
                    st.attachments.remove(&canonical);
                }
            }
            Ok(())
        })
    }

    /// `ListAttachedUserPolicies`, in the order they were attached.
    pub fn list_attached_user_policies(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<AttachedPolicy>, IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        check_policy_path(&mut v, "PathPrefix", path_prefix);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(
            ctx,
            IamAction::ListAttachedUserPolicies,
            &self.user_arn_for(ctx, name),
        )?;
        let prefix = path_prefix.unwrap_or("/");
        let st = self.state.read();
        let u = st.user(&ctx.account_id, name)?;
        let attached = u.attached_policies.iter().filter_map(|arn| {
            let p = st.attached_policy(arn)?;
            p.path.starts_with(prefix).then(|| AttachedPolicy {
                policy_name: p.name.clone(),
                policy_arn: p.arn.clone(),
            })
        });
        page(ordered(attached), paging)
    }

    /// `ListGroupsForUser`: the user must exist; it belongs to no group (Coffer serves none).
    pub fn list_groups_for_user(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, name);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(
            ctx,
            IamAction::ListGroupsForUser,
            &self.user_arn_for(ctx, name),
        )?;
        self.state.read().user(&ctx.account_id, name).map(|_| ())
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
        let mut v = Validator::new();
        check_user_name(&mut v, user);
        check_policy_name(&mut v, name);
        v.required("PolicyDocument", &document);
        wire::check_document(&mut v, "PolicyDocument", document);
        v.finish()?;
        let (user, name, doc) = (given(user), given(name), given(document));
        self.authorize(ctx, IamAction::PutUserPolicy, &self.user_arn_for(ctx, user))?;
        document::validate(doc, Kind::Inline)?;
        let mut st = self.state.write();
        let u = st.user(&ctx.account_id, user)?;
        let (account, user_name) = (u.account.clone(), u.name.clone());
        let key = entity_key(&account, &user_name);
        let lower = name.to_ascii_lowercase();
        let others: usize = st
            .user_inline
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|(k, _)| **k != lower)
            .map(|(_, p)| document::size(&p.document))
            .sum();
        if others + document::size(doc) > document::USER_INLINE_POLICIES_SIZE {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {} bytes exceeded for user {user_name}",
                document::USER_INLINE_POLICIES_SIZE
            )));
        }
        let rec = UserPolicyRecord {
            v: RECORD_VERSION,
            account,
            user_name,
            policy_name: name.to_string(),
            document: doc.to_string(),
        };
        let mut tx = Transaction::new();
        put(
            &mut tx,
            USER_POLICY_TABLE,
            &user_policy_key(&rec.account, &rec.user_name, &rec.policy_name),
            &rec,
        )?;
        self.commit(&tx)?;
        st.user_inline.entry(key).or_default().insert(lower, rec);
        Ok(())
    }

    /// `GetUserPolicy`: `(UserName, PolicyName, PolicyDocument)`.
    pub fn get_user_policy(
        &self,
        ctx: &RequestContext,
        user: Option<&str>,
        name: Option<&str>,
    ) -> Result<(String, String, String), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, user);
        check_policy_name(&mut v, name);
        v.finish()?;
        let (user, name) = (given(user), given(name));
        self.authorize(ctx, IamAction::GetUserPolicy, &self.user_arn_for(ctx, user))?;
        let st = self.state.read();
        let u = st.user(&ctx.account_id, user)?;
        st.user_inline
            .get(&entity_key(&u.account, &u.name))
            .and_then(|m| m.get(&name.to_ascii_lowercase()))
            .map(|p| (u.name.clone(), p.policy_name.clone(), p.document.clone()))
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!("The user policy with name {name} cannot be found."))
            })
    }

    /// `DeleteUserPolicy`.
    pub fn delete_user_policy(
        &self,
        ctx: &RequestContext,
        user: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, user);
        check_policy_name(&mut v, name);
        v.finish()?;
        let (user, name) = (given(user), given(name));
        self.authorize(
            ctx,
            IamAction::DeleteUserPolicy,
            &self.user_arn_for(ctx, user),
        )?;
        let mut st = self.state.write();
        let u = st.user(&ctx.account_id, user)?;
        let key = entity_key(&u.account, &u.name);
        let lower = name.to_ascii_lowercase();
        let Some(old) = st.user_inline.get(&key).and_then(|m| m.get(&lower)) else {
            return Err(IamError::NoSuchEntity(format!(
                "The user policy with name {name} cannot be found."
            )));
        };
        let mut tx = Transaction::new();
        tx.delete(
            USER_POLICY_TABLE,
            &user_policy_key(&old.account, &old.user_name, &old.policy_name),
        );
        self.commit(&tx)?;
        if let Some(m) = st.user_inline.get_mut(&key) {
            m.remove(&lower);
            if m.is_empty() {
                st.user_inline.remove(&key);
            }
        }
        Ok(())
    }

    /// `ListUserPolicies`: the names of the user's inline policies, by name.
    pub fn list_user_policies(
        &self,
        ctx: &RequestContext,
        user: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<String>, IamError> {
        let mut v = Validator::new();
        check_user_name(&mut v, user);
        paging.check(&mut v);
        v.finish()?;
        let user = given(user);
        self.authorize(
            ctx,
            IamAction::ListUserPolicies,
            &self.user_arn_for(ctx, user),
        )?;
        let st = self.state.read();
        let u = st.user(&ctx.account_id, user)?;
        let items = st
            .user_inline
            .get(&entity_key(&u.account, &u.name))
            .into_iter()
            .flatten()
            .map(|(k, p)| (k.clone(), p.policy_name.clone()))
            .collect();
        page(items, paging)
    }
}
