//! What users, roles and groups share: one implementation of their tags, attached managed
//! policies and inline policies, over [`EntityKind`] (table names, ARN resource type, ID prefix,
//! member names, quotas and AWS's error texts) and [`Entity`] (the record of each kind).
//!
//! Inline policies of every kind are kept in `State::inline` under [`EntityKind::key`] and
//! stored in the kind's table (`iam_role_policy`, `iam_user_policy`, `iam_group_policy`, key
//! `ACCOUNT/entity/policy` in lower case) with the entity's name under the kind's field
//! (`role_name`, `user_name`, `group_name`), as roles' and users' always were.

use super::*;
use coffer_model::ops::IamAction;

/// Which kind of IAM principal entity a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// An IAM user.
    User,
    /// An IAM role.
    Role,
    /// An IAM group.
    Group,
}

impl EntityKind {
    /// The ARN's resource type and the word AWS's messages use: `user`, `role`, `group`.
    pub fn word(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Role => "role",
            EntityKind::Group => "group",
        }
    }

    /// `User`, `Role`, `Group` (messages, `EntityFilter`).
    pub fn title(self) -> &'static str {
        match self {
            EntityKind::User => "User",
            EntityKind::Role => "Role",
            EntityKind::Group => "Group",
        }
    }

    /// The request member naming the entity: `UserName`, `RoleName`, `GroupName`.
    pub(crate) fn member(self) -> &'static str {
        match self {
            EntityKind::User => "UserName",
            EntityKind::Role => "RoleName",
            EntityKind::Group => "GroupName",
        }
    }

    fn max_name(self) -> usize {
        match self {
            EntityKind::User | EntityKind::Role => 64,
            EntityKind::Group => 128,
        }
    }

    /// The prefix of the entity's unique ID.
    pub(crate) fn id_prefix(self) -> &'static str {
        match self {
            EntityKind::User => "AIDA",
            EntityKind::Role => "AROA",
            EntityKind::Group => "AGPA",
        }
    }

    /// The table of inline policies.
    pub(crate) fn inline_table(self) -> &'static str {
        match self {
            EntityKind::User => users::USER_POLICY_TABLE,
            EntityKind::Role => ROLE_POLICY_TABLE,
            EntityKind::Group => groups::GROUP_POLICY_TABLE,
        }
    }

    /// The field of an inline policy record that names its entity.
    fn inline_field(self) -> &'static str {
        match self {
            EntityKind::User => "user_name",
            EntityKind::Role => "role_name",
            EntityKind::Group => "group_name",
        }
    }

    /// The most characters (white space not counted) the entity's inline policies hold together.
    fn inline_size(self) -> usize {
        match self {
            EntityKind::User => document::USER_INLINE_POLICIES_SIZE,
            EntityKind::Role => document::INLINE_POLICIES_SIZE,
            EntityKind::Group => document::GROUP_INLINE_POLICIES_SIZE,
        }
    }

    /// AWS's quota name for managed policies attached to one entity.
    fn attached_quota(self) -> &'static str {
        match self {
            EntityKind::User => "PoliciesPerUser",
            EntityKind::Role => "PoliciesPerRole",
            EntityKind::Group => "PoliciesPerGroup",
        }
    }

    /// The entity's key in `State::attachments` and `State::inline`: roles `ACCOUNT/name`, users
    /// `ACCOUNT/user/name`, groups `ACCOUNT/group/name` (names in lower case; a name has no `/`).
    pub(crate) fn key(self, account: &str, name: &str) -> String {
        match self {
            EntityKind::Role => entity_key(account, name),
            k => format!("{account}/{}/{}", k.word(), name.to_ascii_lowercase()),
        }
    }

    /// `NoSuchEntity`: `The user with name NAME cannot be found.`
    pub(crate) fn not_found(self, name: &str) -> IamError {
        IamError::NoSuchEntity(format!(
            "The {} with name {name} cannot be found.",
            self.word()
        ))
    }

    /// `EntityAlreadyExists`: `User with name NAME already exists.`
    pub(crate) fn exists(self, name: &str) -> IamError {
        IamError::EntityAlreadyExists(format!("{} with name {name} already exists.", self.title()))
    }

    fn inline_not_found(self, name: &str) -> IamError {
        IamError::NoSuchEntity(format!(
            "The {} policy with name {name} cannot be found.",
            self.word()
        ))
    }

    /// Checks the member naming the entity (required).
    pub(crate) fn check_name(self, v: &mut Validator, name: Option<&str>) {
        v.required(self.member(), &name);
        wire::check_name(v, self.member(), name, self.max_name());
    }
}

/// An inline policy in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InlinePolicy {
    /// As given.
    pub policy_name: String,
    pub document: String,
}

/// An inline policy record as read from any kind's table (the entity's name under the kind's
/// field).
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct InlineRecord {
    pub v: u32,
    pub account: String,
    #[serde(alias = "role_name", alias = "user_name", alias = "group_name")]
    pub entity: String,
    pub policy_name: String,
    pub document: String,
}

fn inline_store_key(account: &str, entity: &str, policy: &str) -> String {
    format!(
        "{account}/{}/{}",
        entity.to_ascii_lowercase(),
        policy.to_ascii_lowercase()
    )
}

/// A record of a user, a role or a group.
pub(crate) trait Entity: Clone + Serialize {
    /// Its kind.
    const KIND: EntityKind;
    /// The state's records of this kind, by [`entity_key`].
    fn all(st: &State) -> &HashMap<String, Self>;
    /// The same, to change.
    fn all_mut(st: &mut State) -> &mut HashMap<String, Self>;
    fn name(&self) -> &str;
    fn account(&self) -> &str;
    fn arn(&self) -> &str;
    fn tags_mut(&mut self) -> &mut Vec<TagRec>;
    fn tags(&self) -> &[TagRec];
    fn attached(&self) -> &[String];
    fn attached_mut(&mut self) -> &mut Vec<String>;
    /// The table it is stored in.
    fn table() -> &'static str;
}

/// Implements [`Entity`] for a record with `account`, `name`, `arn`, `tags` and
/// `attached_policies` fields.
macro_rules! entity {
    ($rec:ty, $kind:expr, $field:ident, $table:expr) => {
        impl Entity for $rec {
            const KIND: EntityKind = $kind;
            fn all(st: &State) -> &HashMap<String, Self> {
                &st.$field
            }
            fn all_mut(st: &mut State) -> &mut HashMap<String, Self> {
                &mut st.$field
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn account(&self) -> &str {
                &self.account
            }
            fn arn(&self) -> &str {
                &self.arn
            }
            fn tags_mut(&mut self) -> &mut Vec<TagRec> {
                &mut self.tags
            }
            fn tags(&self) -> &[TagRec] {
                &self.tags
            }
            fn attached(&self) -> &[String] {
                &self.attached_policies
            }
            fn attached_mut(&mut self) -> &mut Vec<String> {
                &mut self.attached_policies
            }
            fn table() -> &'static str {
                $table
            }
        }
    };
}

entity!(RoleRecord, EntityKind::Role, roles, ROLE_TABLE);
entity!(
    users::UserRecord,
    EntityKind::User,
    users,
    users::USER_TABLE
);
entity!(
    groups::GroupRecord,
    EntityKind::Group,
    groups,
    groups::GROUP_TABLE
);

impl State {
    /// The entity of kind `E` named `name` in `account`, or the kind's `NoSuchEntity`.
    pub(crate) fn entity<E: Entity>(&self, account: &str, name: &str) -> Result<&E, IamError> {
        E::all(self)
            .get(&entity_key(account, name))
            .ok_or_else(|| E::KIND.not_found(name))
    }

    /// The documents of the entity's attached managed policies (default versions, in the order
    /// they were attached) and then its inline policies (by name).
    pub(crate) fn entity_documents(
        &self,
        kind: EntityKind,
        account: &str,
        name: &str,
        attached: &[String],
    ) -> Vec<String> {
        let mut docs: Vec<String> = attached
            .iter()
            .filter_map(|arn| {
                self.attached_policy(arn)
                    .as_deref()
                    .and_then(PolicyRecord::default_document)
                    .map(str::to_string)
            })
            .collect();
        if let Some(inline) = self.inline.get(&kind.key(account, name)) {
            docs.extend(inline.values().map(|p| p.document.clone()));
        }
        docs
    }

    /// Records that `arn` is attached to the entity `key` (an [`EntityKind::key`]).
    pub(crate) fn index_attachment(&mut self, arn: &str, key: String) {
        self.attachments
            .entry(arn.to_string())
            .or_default()
            .insert(key);
    }

    /// Forgets that `arn` is attached to the entity `key`.
    pub(crate) fn unindex_attachment(&mut self, arn: &str, key: &str) {
        if let Some(set) = self.attachments.get_mut(arn) {
            set.remove(key);
            if set.is_empty() {
                self.attachments.remove(arn);
            }
        }
    }
}

/// Puts an inline policy record of `kind` into `tx`.
pub(crate) fn put_inline(
    tx: &mut Transaction,
    kind: EntityKind,
    account: &str,
    entity: &str,
    p: &InlinePolicy,
) -> Result<(), IamError> {
    let mut rec = serde_json::Map::new();
    rec.insert("v".into(), RECORD_VERSION.into());
    rec.insert("account".into(), account.into());
    rec.insert(kind.inline_field().into(), entity.into());
    rec.insert("policy_name".into(), p.policy_name.as_str().into());
    rec.insert("document".into(), p.document.as_str().into());
    put(
        tx,
        kind.inline_table(),
        &inline_store_key(account, entity, &p.policy_name),
        &rec,
    )
}

/// Deletes an inline policy record of `kind` in `tx`.
pub(crate) fn delete_inline(
    tx: &mut Transaction,
    kind: EntityKind,
    account: &str,
    entity: &str,
    policy: &str,
) {
    tx.delete(
        kind.inline_table(),
        &inline_store_key(account, entity, policy),
    );
}

/// Loads the inline policies of `kind` into `st` (part of [`Iam::load`]).
pub(crate) fn load_inline(
    store: &dyn Store,
    kind: EntityKind,
    st: &mut State,
) -> Result<(), IamError> {
    let table = kind.inline_table();
    for (key, bytes) in store.scan(table)? {
        let rec: InlineRecord = decode(table, &key, &bytes)?;
        check_version(table, &key, rec.v)?;
        st.inline
            .entry(kind.key(&rec.account, &rec.entity))
            .or_default()
            .insert(
                rec.policy_name.to_ascii_lowercase(),
                InlinePolicy {
                    policy_name: rec.policy_name,
                    document: rec.document,
                },
            );
    }
    Ok(())
}

impl Iam {
    /// The ARN the entity `name` of the caller's account has, or would have at the path `/`.
    pub(crate) fn entity_arn_for<E: Entity>(&self, ctx: &RequestContext, name: &str) -> String {
        E::all(&self.state.read())
            .get(&entity_key(&ctx.account_id, name))
            .map(|e| e.arn().to_string())
            .unwrap_or_else(|| {
                wire::arn(ctx.partition(), &ctx.account_id, E::KIND.word(), "/", name)
            })
    }

    /// The ARN an entity (`kind` `user` or `group`, now at `source`) would have with a new name
    /// and/or path; `None` when neither is given.
    pub(crate) fn renamed_arn(
        ctx: &RequestContext,
        kind: &str,
        source: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Option<String> {
        if new_name.is_none() && new_path.is_none() {
            return None;
        }
        let a = IamArn::parse(source)?;
        Some(wire::arn(
            ctx.partition(),
            &ctx.account_id,
            kind,
            new_path.unwrap_or(&a.path),
            new_name.unwrap_or(&a.name),
        ))
    }

    /// Writes an entity record and, once stored, puts it in memory.
    pub(crate) fn save_entity<E: Entity>(&self, st: &mut State, rec: E) -> Result<(), IamError> {
        let key = entity_key(rec.account(), rec.name());
        let mut tx = Transaction::new();
        put(&mut tx, E::table(), &key, &rec)?;
        self.commit(&tx)?;
        E::all_mut(st).insert(key, rec);
        Ok(())
    }

    /// Authorizes `action` on the entity, applies `change` to a copy of its record and stores
    /// it; the stored record is returned. Once stored, the attachment index follows the
    /// record's attached policies (a failed write changes nothing in memory).
    pub(crate) fn update_entity<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: &str,
        change: impl FnOnce(&State, &mut E) -> Result<(), IamError>,
    ) -> Result<E, IamError> {
        self.authorize(ctx, action, &self.entity_arn_for::<E>(ctx, name))?;
        let mut st = self.state.write();
        let old = st.entity::<E>(&ctx.account_id, name)?.clone();
        let mut rec = old.clone();
        change(&st, &mut rec)?;
        self.save_entity(&mut st, rec.clone())?;
        let key = E::KIND.key(rec.account(), rec.name());
        for arn in old
            .attached()
            .iter()
            .filter(|a| !rec.attached().contains(a))
        {
            st.unindex_attachment(arn, &key);
        }
        for arn in rec
            .attached()
            .iter()
            .filter(|a| !old.attached().contains(a))
        {
            st.index_attachment(arn, key.clone());
        }
        Ok(rec)
    }

    /// `TagUser`, `TagRole`.
    pub(crate) fn tag_entity<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<(), IamError> {
        let tags = tags_to_add(|v| E::KIND.check_name(v, name), tags)?;
        self.update_entity::<E>(ctx, action, given(name), |_, e| {
            *e.tags_mut() = merge_tags(e.tags(), tags)?;
            Ok(())
        })
        .map(|_| ())
    }

    /// `UntagUser`, `UntagRole` (keys that are not there are ignored).
    pub(crate) fn untag_entity<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: Option<&str>,
        keys: Option<&[String]>,
    ) -> Result<(), IamError> {
        let keys = tag_keys_to_remove(|v| E::KIND.check_name(v, name), keys)?;
        self.update_entity::<E>(ctx, action, given(name), |_, e| {
            *e.tags_mut() = remove_tags(e.tags(), keys);
            Ok(())
        })
        .map(|_| ())
    }

    /// `ListUserTags`, `ListRoleTags`, in the order the tags were added.
    pub(crate) fn list_entity_tags<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Tag>, IamError> {
        let mut v = Validator::new();
        E::KIND.check_name(&mut v, name);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(ctx, action, &self.entity_arn_for::<E>(ctx, name))?;
        let st = self.state.read();
        page(
            ordered(tags_of(st.entity::<E>(&ctx.account_id, name)?.tags())),
            paging,
        )
    }

    /// `Attach{User,Role,Group}Policy` (attaching an attached policy again changes nothing).
    pub(crate) fn attach_entity_policy<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        E::KIND.check_name(&mut v, name);
        check_policy_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        self.update_entity::<E>(ctx, action, given(name), |st, e| {
            let policy_arn = Self::find_policy(st, ctx, arn, |arn| {
                IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
            })?
            .arn
            .clone();
            if e.attached().contains(&policy_arn) {
                return Ok(());
            }
            if e.attached().len() >= MAX_ATTACHED_PER_ROLE {
                return Err(IamError::LimitExceeded(format!(
                    "Cannot exceed quota for {}: {MAX_ATTACHED_PER_ROLE}",
                    E::KIND.attached_quota()
                )));
            }
            e.attached_mut().push(policy_arn);
            Ok(())
        })
        .map(|_| ())
    }

    /// `Detach{User,Role,Group}Policy`.
    pub(crate) fn detach_entity_policy<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        E::KIND.check_name(&mut v, name);
        check_policy_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        if IamArn::parse(arn).is_none_or(|a| a.kind != "policy") {
            return Err(IamError::InvalidInput(format!("ARN {arn} is not valid.")));
        }
        self.update_entity::<E>(ctx, action, given(name), |st, e| {
            let canonical = Self::find_policy(st, ctx, arn, policy_not_found)
                .map(|p| p.arn.clone())
                .unwrap_or_else(|_| arn.to_string());
            let Some(i) = e.attached().iter().position(|a| *a == canonical) else {
                return Err(policy_not_found(arn));
            };
            e.attached_mut().remove(i);
            Ok(())
        })
        .map(|_| ())
    }

    /// `ListAttached{User,Role,Group}Policies`, in the order they were attached.
    pub(crate) fn list_attached_entity_policies<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: Option<&str>,
        path_prefix: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<AttachedPolicy>, IamError> {
        let mut v = Validator::new();
        E::KIND.check_name(&mut v, name);
        check_policy_path(&mut v, "PathPrefix", path_prefix);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(ctx, action, &self.entity_arn_for::<E>(ctx, name))?;
        let prefix = path_prefix.unwrap_or("/");
        let st = self.state.read();
        let e = st.entity::<E>(&ctx.account_id, name)?;
        let attached = e.attached().iter().filter_map(|arn| {
            let p = st.attached_policy(arn)?;
            p.path.starts_with(prefix).then(|| AttachedPolicy {
                policy_name: p.name.clone(),
                policy_arn: p.arn.clone(),
            })
        });
        page(ordered(attached), paging)
    }

    /// `Put{User,Role,Group}Policy`: adds or replaces an inline policy (a name differing only
    /// in case replaces that policy), within the kind's size for all its inline policies.
    pub(crate) fn put_entity_policy<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        entity: Option<&str>,
        name: Option<&str>,
        document: Option<&str>,
    ) -> Result<(), IamError> {
        let kind = E::KIND;
        let mut v = Validator::new();
        kind.check_name(&mut v, entity);
        check_policy_name(&mut v, name);
        v.required("PolicyDocument", &document);
        wire::check_document(&mut v, "PolicyDocument", document);
        v.finish()?;
        let (entity, name, doc) = (given(entity), given(name), given(document));
        self.authorize(ctx, action, &self.entity_arn_for::<E>(ctx, entity))?;
        document::validate(doc, Kind::Inline)?;
        let mut st = self.state.write();
        let e = st.entity::<E>(&ctx.account_id, entity)?;
        let (account, entity_name) = (e.account().to_string(), e.name().to_string());
        let key = kind.key(&account, &entity_name);
        let lower = name.to_ascii_lowercase();
        let others: usize = st
            .inline
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|(k, _)| **k != lower)
            .map(|(_, p)| document::size(&p.document))
            .sum();
        if others + document::size(doc) > kind.inline_size() {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {} bytes exceeded for {} {entity_name}",
                kind.inline_size(),
                kind.word()
            )));
        }
        let p = InlinePolicy {
            policy_name: name.to_string(),
            document: doc.to_string(),
        };
        let mut tx = Transaction::new();
        put_inline(&mut tx, kind, &account, &entity_name, &p)?;
        self.commit(&tx)?;
        st.inline.entry(key).or_default().insert(lower, p);
        Ok(())
    }

    /// `Get{User,Role,Group}Policy`: `(entity name, PolicyName, PolicyDocument)`.
    pub(crate) fn get_entity_policy<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        entity: Option<&str>,
        name: Option<&str>,
    ) -> Result<(String, String, String), IamError> {
        let mut v = Validator::new();
        E::KIND.check_name(&mut v, entity);
        check_policy_name(&mut v, name);
        v.finish()?;
        let (entity, name) = (given(entity), given(name));
        self.authorize(ctx, action, &self.entity_arn_for::<E>(ctx, entity))?;
        let st = self.state.read();
        let e = st.entity::<E>(&ctx.account_id, entity)?;
        st.inline
            .get(&E::KIND.key(e.account(), e.name()))
            .and_then(|m| m.get(&name.to_ascii_lowercase()))
            .map(|p| {
                (
                    e.name().to_string(),
                    p.policy_name.clone(),
                    p.document.clone(),
                )
            })
            .ok_or_else(|| E::KIND.inline_not_found(name))
    }

    /// `Delete{User,Role,Group}Policy`.
    pub(crate) fn delete_entity_policy<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        entity: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        let kind = E::KIND;
        let mut v = Validator::new();
        kind.check_name(&mut v, entity);
        check_policy_name(&mut v, name);
        v.finish()?;
        let (entity, name) = (given(entity), given(name));
        self.authorize(ctx, action, &self.entity_arn_for::<E>(ctx, entity))?;
        let mut st = self.state.write();
        let e = st.entity::<E>(&ctx.account_id, entity)?;
        let (account, entity_name) = (e.account().to_string(), e.name().to_string());
        let key = kind.key(&account, &entity_name);
        let lower = name.to_ascii_lowercase();
        let Some(old) = st.inline.get(&key).and_then(|m| m.get(&lower)) else {
            return Err(kind.inline_not_found(name));
        };
        let mut tx = Transaction::new();
        delete_inline(&mut tx, kind, &account, &entity_name, &old.policy_name);
        self.commit(&tx)?;
        if let Some(m) = st.inline.get_mut(&key) {
            m.remove(&lower);
            if m.is_empty() {
                st.inline.remove(&key);
            }
        }
        Ok(())
    }

    /// `List{User,Role,Group}Policies`: the names of the entity's inline policies, by name.
    pub(crate) fn list_entity_policies<E: Entity>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        entity: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<String>, IamError> {
        let mut v = Validator::new();
        E::KIND.check_name(&mut v, entity);
        paging.check(&mut v);
        v.finish()?;
        let entity = given(entity);
        self.authorize(ctx, action, &self.entity_arn_for::<E>(ctx, entity))?;
        let st = self.state.read();
        let e = st.entity::<E>(&ctx.account_id, entity)?;
        let items = st
            .inline
            .get(&E::KIND.key(e.account(), e.name()))
            .into_iter()
            .flatten()
            .map(|(k, p)| (k.clone(), p.policy_name.clone()))
            .collect();
        page(items, paging)
    }

    /// The DeleteConflict a user, role or group is refused deletion with while managed policies
    /// are attached to it or inline policies embedded in it.
    pub(crate) fn policies_conflict(
        st: &State,
        kind: EntityKind,
        account: &str,
        name: &str,
        attached: &[String],
    ) -> Result<(), IamError> {
        if !attached.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        if st
            .inline
            .get(&kind.key(account, name))
            .is_some_and(|p| !p.is_empty())
        {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        Ok(())
    }
}
