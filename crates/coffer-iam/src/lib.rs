//! AWS IAM, per account: roles (trust policy, description, session duration, tags), users and
//! groups, customer managed policies with up to five versions, attachments of managed policies
//! and inline policies (one implementation for the three kinds of entity, in `entity.rs`),
//! permissions boundaries of users and roles, OpenID Connect providers. State lives in memory and is written to the store before any change is
//! acknowledged (ADR 0004); tables and keys are in [`record`].
//!
//! IAM is global: ARNs carry no Region and every Region's endpoint serves the same state.
//!
//! Who may call: the account's root user, and role sessions (`RequestContext::role`) whose
//! identity and session policies allow `iam:<Action>` on the entity's ARN (ADR 0009); anything
//! else is refused with `AccessDenied`.
//!
//! STS sessions ([`sts`]) and the accounts' access keys ([`identity`]) live here too: they are
//! IAM's principals.
#![forbid(unsafe_code)]

mod attachments;
mod aws_managed;
mod boundary;
mod context_keys;
mod document;
mod entity;
mod error;
mod export;
mod groups;
mod inline;
mod oidc;
mod policies;
mod record;
mod roles;
mod saml;
pub mod saml_assertion;
#[cfg(test)]
mod session_tests;
mod simulate;
#[cfg(test)]
mod tests;
mod users;

pub mod identity;
pub mod sts;
pub mod web_identity;

pub use attachments::PolicyEntity;
pub use entity::EntityKind;
pub use error::IamError;
pub use export::{ExportedPolicy, ExportedRole};
pub use groups::Group;
pub use oidc::{OidcProvider, OidcProviderInfo};
pub use saml::{SamlProvider, SamlProviderEntry, SamlProviderInfo};
pub use users::{User, UserInfo};

use base64::Engine;
use coffer_core::{Clock, RequestContext};
use coffer_model::iam::{
    self as wire, AttachedPolicy, CreatePolicyRequest, CreateRoleRequest, IamArn,
    ListEntitiesForPolicyRequest, ListPoliciesRequest, Page, Paging, Policy, PolicyVersion, Role,
    RolePolicy, Tag,
};
use coffer_model::{Timestamp, Validator};
use coffer_store::{Store, StoreError, Transaction};
use document::Kind;
use parking_lot::RwLock;
use record::{
    entity_key, PolicyRecord, RoleRecord, TagRec, VersionRec, POLICY_TABLE, RECORD_VERSION,
    ROLE_POLICY_TABLE, ROLE_TABLE,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Roles in one account (AWS's default quota).
const MAX_ROLES: usize = 1000;
/// Customer managed policies in one account (AWS's default quota).
const MAX_POLICIES: usize = 1500;
/// Managed policies attached to one role (AWS's default quota).
const MAX_ATTACHED_PER_ROLE: usize = 10;
/// Versions of one managed policy.
const MAX_VERSIONS: usize = 5;

const DUPLICATE_TAGS: &str =
    "Duplicate tag keys found. Please note that Tag keys are case insensitive.";
const TOO_MANY_TAGS: &str = "The number of tags has reached the maximum limit.";

/// What STS and the authorizer need to know of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// `RoleName`.
    pub name: String,
    /// `Path`, `/` or `/a/b/`.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
    pub arn: String,
    /// `AROA…`.
    pub role_id: String,
    /// The trust policy (`AssumeRolePolicyDocument`), JSON as given (not URL-encoded).
    pub trust_policy: String,
    /// `MaxSessionDuration`, seconds.
    pub max_session_duration: i64,
}

#[derive(Default)]
struct State {
    /// By [`entity_key`].
    roles: HashMap<String, RoleRecord>,
    /// By [`entity_key`].
    policies: HashMap<String, PolicyRecord>,
    /// [`EntityKind::key`] of a user, role or group → lower-case policy name → inline policy.
    inline: HashMap<String, BTreeMap<String, entity::InlinePolicy>>,
    /// Policy ARN → [`EntityKind::key`]s of the users, roles and groups it is attached to
    /// (derived from their records).
    attachments: HashMap<String, BTreeSet<String>>,
    /// OpenID Connect providers, by `ACCOUNT/URL`.
    oidc: HashMap<String, oidc::OidcRecord>,
    /// SAML providers, by `ACCOUNT/NAME`.
    saml: HashMap<String, saml::SamlRecord>,
    /// IAM users, by [`entity_key`].
    users: HashMap<String, users::UserRecord>,
    /// IAM groups, by [`entity_key`].
    groups: HashMap<String, groups::GroupRecord>,
}

impl State {
    /// Users, roles and groups of `account` the policy is attached to (AWS managed policies are attached in
    /// many accounts; a customer managed policy only in its own).
    fn attachment_count(&self, arn: &str, account: &str) -> usize {
        let prefix = format!("{account}/");
        self.attachments.get(arn).map_or(0, |set| {
            set.iter().filter(|k| k.starts_with(&prefix)).count()
        })
    }

    /// A policy attached to a role, by its ARN: a customer managed policy, or one of the AWS
    /// managed catalog (in the ARN's partition).
    fn attached_policy(&self, arn: &str) -> Option<Cow<'_, PolicyRecord>> {
        let a = IamArn::parse(arn)?;
        if a.account == aws_managed::ACCOUNT {
            return aws_managed::find(&a.path, &a.name).map(|m| Cow::Owned(m.record(&a.partition)));
        }
        self.policies
            .get(&entity_key(&a.account, &a.name))
            .map(Cow::Borrowed)
    }

    fn role(&self, account: &str, name: &str) -> Result<&RoleRecord, IamError> {
        self.roles
            .get(&entity_key(account, name))
            .ok_or_else(|| no_such_role(name))
    }
}

/// The IAM service.
pub struct Iam {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
}

fn no_such_role(name: &str) -> IamError {
    IamError::NoSuchEntity(format!("The role with name {name} cannot be found."))
}

fn policy_not_found(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("Policy {arn} was not found."))
}

fn version_not_found(arn: &str, version: &str) -> IamError {
    IamError::NoSuchEntity(format!(
        "Policy {arn} version {version} does not exist or is not attachable."
    ))
}

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T, IamError> {
    serde_json::from_slice(bytes).map_err(|e| IamError::Internal(format!("{table}/{key}: {e}")))
}

fn check_version(table: &str, key: &str, v: u32) -> Result<(), IamError> {
    if v == 0 || v > RECORD_VERSION {
        return Err(IamError::Internal(format!(
            "{table}/{key}: record version {v} is not one this Coffer reads"
        )));
    }
    Ok(())
}

fn put<T: Serialize>(
    tx: &mut Transaction,
    table: &str,
    key: &str,
    rec: &T,
) -> Result<(), IamError> {
    let bytes = serde_json::to_vec(rec).map_err(|e| IamError::Internal(e.to_string()))?;
    tx.put(table, key, bytes);
    Ok(())
}

/// A unique ID as IAM makes them: the prefix and 17 upper-case letters and digits.
fn unique_id(prefix: &str) -> Result<String, IamError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::from(prefix);
    while out.len() < prefix.len() + 17 {
        let bytes =
            coffer_crypto::random::bytes(32).map_err(|e| IamError::Internal(e.to_string()))?;
        for b in bytes.iter() {
            // 252 = 7 × 36: rejecting the rest keeps every character equally likely.
            if *b < 252 && out.len() < prefix.len() + 17 {
                out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

fn check_duplicate_tags(tags: &[Tag]) -> Result<(), IamError> {
    let mut seen = BTreeSet::new();
    for t in tags {
        if !seen.insert(t.key.to_lowercase()) {
            return Err(IamError::InvalidInput(DUPLICATE_TAGS.into()));
        }
    }
    Ok(())
}

/// Adds or replaces tags (keys compare without regard to case), within the limit of 50.
fn merge_tags(existing: &[TagRec], new: &[Tag]) -> Result<Vec<TagRec>, IamError> {
    let mut out = existing.to_vec();
    for t in new {
        match out
            .iter_mut()
            .find(|e| e.key.to_lowercase() == t.key.to_lowercase())
        {
            Some(e) => *e = TagRec::from(t),
            None => out.push(TagRec::from(t)),
        }
    }
    if out.len() > wire::MAX_TAGS {
        return Err(IamError::LimitExceeded(TOO_MANY_TAGS.into()));
    }
    Ok(out)
}

/// A `Tag…` request's tags: `check_id` validates the member naming the resource, then `Tags`
/// is required, follows AWS's tag rules and holds no key twice.
fn tags_to_add(
    check_id: impl FnOnce(&mut Validator),
    tags: Option<&[Tag]>,
) -> Result<&[Tag], IamError> {
    let mut v = Validator::new();
    check_id(&mut v);
    v.required("Tags", &tags);
    wire::check_tags(&mut v, "Tags", tags);
    v.finish()?;
    let tags = tags.unwrap_or_default();
    check_duplicate_tags(tags)?;
    Ok(tags)
}

/// An `Untag…` request's keys: `check_id` validates the member naming the resource, then
/// `TagKeys` is required and follows AWS's tag-key rules.
fn tag_keys_to_remove(
    check_id: impl FnOnce(&mut Validator),
    keys: Option<&[String]>,
) -> Result<&[String], IamError> {
    let mut v = Validator::new();
    check_id(&mut v);
    v.required("TagKeys", &keys);
    if let Some(k) = keys {
        wire::check_tag_keys(&mut v, "TagKeys", k);
    }
    v.finish()?;
    Ok(keys.unwrap_or_default())
}

fn remove_tags(existing: &[TagRec], keys: &[String]) -> Vec<TagRec> {
    let keys: BTreeSet<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    existing
        .iter()
        .filter(|t| !keys.contains(&t.key.to_lowercase()))
        .cloned()
        .collect()
}

fn encode_marker(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

/// One page of `items` (sorted by their keys) from `paging`'s marker: the key of the first
/// item not yet returned.
fn page<T>(items: Vec<(String, T)>, paging: &Paging) -> Result<Page<T>, IamError> {
    let start = match &paging.marker {
        None => 0,
        Some(m) => {
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| IamError::InvalidInput("Invalid Marker.".into()))?;
            items.partition_point(|(k, _)| *k < key)
        }
    };
    let max = paging.max_items();
    let mut rest = items.into_iter().skip(start);
    let items: Vec<T> = rest.by_ref().take(max).map(|(_, t)| t).collect();
    let marker = rest.next().map(|(k, _)| encode_marker(&k));
    Ok(Page { items, marker })
}

/// Keys that keep a list in its given order.
fn ordered<T>(items: impl IntoIterator<Item = T>) -> Vec<(String, T)> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("{i:08}"), t))
        .collect()
}

fn tags_of(tags: &[TagRec]) -> Vec<Tag> {
    tags.iter().map(Tag::from).collect()
}

fn role_view(r: &RoleRecord) -> Role {
    Role {
        path: r.path.clone(),
        role_name: r.name.clone(),
        role_id: r.role_id.clone(),
        arn: r.arn.clone(),
        create_date: Timestamp::from_millis(r.create_date),
        assume_role_policy_document: r.trust_policy.clone(),
        description: r.description.clone(),
        max_session_duration: r.max_session_duration,
        tags: tags_of(&r.tags),
        permissions_boundary: r.permissions_boundary.clone(),
    }
}

fn role_info(r: &RoleRecord) -> RoleInfo {
    RoleInfo {
        name: r.name.clone(),
        path: r.path.clone(),
        arn: r.arn.clone(),
        role_id: r.role_id.clone(),
        trust_policy: r.trust_policy.clone(),
        max_session_duration: r.max_session_duration,
    }
}

fn policy_view(st: &State, p: &PolicyRecord, account: &str) -> Policy {
    // AWS: the creation date while there is one version, else that of the newest version (AWS
    // managed policies: that of their one known version, the default).
    let update_date = if p.versions.len() > 1 || p.account == aws_managed::ACCOUNT {
        p.versions
            .iter()
            .map(|v| v.create_date)
            .max()
            .unwrap_or(p.create_date)
    } else {
        p.create_date
    };
    Policy {
        policy_name: p.name.clone(),
        policy_id: p.policy_id.clone(),
        arn: p.arn.clone(),
        path: p.path.clone(),
        default_version_id: p.default_version.clone(),
        attachment_count: st.attachment_count(&p.arn, account),
        permissions_boundary_usage_count: st.boundary_usage_count(&p.arn, account),
        is_attachable: true,
        description: p.description.clone(),
        create_date: Timestamp::from_millis(p.create_date),
        update_date: Timestamp::from_millis(update_date),
        tags: tags_of(&p.tags),
    }
}

fn version_view(p: &PolicyRecord, v: &VersionRec, with_document: bool) -> PolicyVersion {
    PolicyVersion {
        document: with_document.then(|| v.document.clone()),
        version_id: v.id.clone(),
        is_default_version: v.id == p.default_version,
        create_date: Timestamp::from_millis(v.create_date),
    }
}

fn check_role_name(v: &mut Validator, name: Option<&str>) {
    v.required("RoleName", &name);
    wire::check_name(v, "RoleName", name, 64);
}

fn check_policy_name(v: &mut Validator, name: Option<&str>) {
    v.required("PolicyName", &name);
    wire::check_name(v, "PolicyName", name, 128);
}

fn check_policy_arn(v: &mut Validator, arn: Option<&str>) {
    v.required("PolicyArn", &arn);
    wire::check_arn(v, "PolicyArn", arn);
}

fn check_version_id(v: &mut Validator, id: Option<&str>) {
    v.required("VersionId", &id);
    v.pattern(
        "VersionId",
        id,
        wire::is_version_id,
        wire::VERSION_ID_PATTERN,
    );
}

fn check_policy_path(v: &mut Validator, member: &str, path: Option<&str>) {
    v.length(member, path, 1, 512);
    v.pattern(
        member,
        path,
        wire::is_policy_path,
        wire::POLICY_PATH_PATTERN,
    );
}

fn check_role_description(v: &mut Validator, d: Option<&str>) {
    v.length("Description", d, 0, 1000);
    v.pattern(
        "Description",
        d,
        wire::is_role_description,
        wire::ROLE_DESCRIPTION_PATTERN,
    );
}

/// Unwraps a member the validator has already required.
fn given(v: Option<&str>) -> &str {
    v.unwrap_or_default()
}

impl Iam {
    /// Authorizes an IAM action by a role session: `iam:<action>` on the entity's ARN, by the
    /// role's identity policies and its session policy (IAM entities have no resource policies).
    /// Root callers pass. Called before the state lock is taken: it reads the role's policies.
    fn authorize(
        &self,
        ctx: &RequestContext,
        action: coffer_model::ops::IamAction,
        resource: &str,
    ) -> Result<(), IamError> {
        let Some(role) = &ctx.role else {
            return Ok(());
        };
        let identity: Vec<coffer_policy::Policy> =
            coffer_core::authz::PolicySource::caller_policy_documents(self, &ctx.account_id, role)
                .iter()
                .filter_map(|d| coffer_policy::Policy::parse(d).ok())
                .collect();
        let session = role.session_policy.as_deref().map(|d| {
            coffer_policy::Policy::parse(d).unwrap_or_else(|_| coffer_policy::Policy::empty())
        });
        let mut context = coffer_policy::Context::new();
        context.set("aws:PrincipalArn", &role.role_arn);
        context.set("aws:PrincipalAccount", &ctx.account_id);
        let action = action.info().iam;
        let req = coffer_policy::Request {
            principal_arn: &ctx.principal_arn,
            principal_account: &ctx.account_id,
            role_arn: Some(&role.role_arn),
            action,
            resource,
            context: &context,
        };
        let decided = coffer_policy::decide(&identity, None, session.as_ref(), &req);
        let boundary =
            coffer_core::authz::PolicySource::boundary_document(self, &ctx.account_id, role).map(
                |d| {
                    coffer_policy::Policy::parse(&d)
                        .unwrap_or_else(|_| coffer_policy::Policy::empty())
                },
            );
        let bounded = coffer_policy::apply_boundary(decided, boundary.as_ref(), || false, &req);
        let why = match (bounded.decision, bounded.by_boundary) {
            (coffer_policy::Decision::Allow, _) => return Ok(()),
            (coffer_policy::Decision::ExplicitDeny, true) => {
                "with an explicit deny in a permissions boundary".to_string()
            }
            (coffer_policy::Decision::ExplicitDeny, false) => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            (coffer_policy::Decision::ImplicitDeny, true) => {
                format!("because no permissions boundary allows the {action} action")
            }
            (coffer_policy::Decision::ImplicitDeny, false) => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        Err(IamError::AccessDenied(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
            ctx.principal_arn
        )))
    }

    /// Loads every role, policy and inline policy.
    pub fn load(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Self, IamError> {
        let mut st = State::default();
        for (key, bytes) in store.scan(ROLE_TABLE)? {
            let rec: RoleRecord = decode(ROLE_TABLE, &key, &bytes)?;
            check_version(ROLE_TABLE, &key, rec.v)?;
            let ek = entity_key(&rec.account, &rec.name);
            for arn in &rec.attached_policies {
                st.index_attachment(arn, ek.clone());
            }
            st.roles.insert(ek, rec);
        }
        for (key, bytes) in store.scan(POLICY_TABLE)? {
            let rec: PolicyRecord = decode(POLICY_TABLE, &key, &bytes)?;
            check_version(POLICY_TABLE, &key, rec.v)?;
            st.policies.insert(entity_key(&rec.account, &rec.name), rec);
        }
        entity::load_inline(store.as_ref(), entity::EntityKind::Role, &mut st)?;
        for (key, bytes) in store.scan(oidc::OIDC_TABLE)? {
            let rec: oidc::OidcRecord = decode(oidc::OIDC_TABLE, &key, &bytes)?;
            check_version(oidc::OIDC_TABLE, &key, rec.v)?;
            st.oidc.insert(key, rec);
        }
        for (key, bytes) in store.scan(saml::SAML_TABLE)? {
            let rec: saml::SamlRecord = decode(saml::SAML_TABLE, &key, &bytes)?;
            check_version(saml::SAML_TABLE, &key, rec.v)?;
            st.saml.insert(key, rec);
        }
        Iam::load_users(store.as_ref(), &mut st)?;
        Iam::load_groups(store.as_ref(), &mut st)?;
        Ok(Self {
            store,
            clock,
            state: RwLock::new(st),
        })
    }

    /// Reads every role and policy from the store again (after a state import replaced it).
    pub fn reload(&self) -> Result<(), IamError> {
        self.reload_with(&|| Ok(()))
    }

    /// [`Self::reload`] for a follower of other nodes' commits: the write lock is held from
    /// before `mark` (which records what the store holds, see `coffer_store::epoch`) until the
    /// state read after it replaces the old, so no write of this node decides in between.
    pub fn reload_with(&self, mark: &dyn Fn() -> Result<(), StoreError>) -> Result<(), IamError> {
        let mut st = self.state.write();
        mark()?;
        let fresh = Iam::load(self.store.clone(), self.clock.clone())?;
        *st = std::mem::take(&mut *fresh.state.write());
        Ok(())
    }

    /// Forgets everything in memory (the `--dev` reset; the caller clears the store).
    pub fn reset(&self) {
        *self.state.write() = State::default();
    }

    /// Now, to the second (IAM's dates have no fractions).
    fn now(&self) -> i64 {
        let ms = self.clock.now().millis;
        ms - ms.rem_euclid(1000)
    }

    fn commit(&self, tx: &Transaction) -> Result<(), IamError> {
        if !tx.is_empty() {
            self.store.commit(tx)?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // What STS and the authorizer read
    // -----------------------------------------------------------------------------------

    /// A role of `account` by name (names compare without regard to case, as IAM's do).
    pub fn role(&self, account: &str, name: &str) -> Option<RoleInfo> {
        self.state
            .read()
            .roles
            .get(&entity_key(account, name))
            .map(role_info)
    }

    /// A role by its ARN (`arn:aws:iam::ACCOUNT:role/PATH/NAME`; the path must be the role's).
    pub fn role_by_arn(&self, arn: &str) -> Option<RoleInfo> {
        let a = IamArn::parse(arn).filter(|a| a.kind == "role")?;
        let st = self.state.read();
        let r = st.roles.get(&entity_key(&a.account, &a.name))?;
        let same_partition = r
            .arn
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').next())
            == Some(a.partition.as_str());
        (r.path == a.path && same_partition).then(|| role_info(r))
    }

    /// The JSON documents of every policy that applies to the role: the default version of each
    /// attached managed policy (in the order they were attached), then each inline policy (by
    /// name). Empty when the role does not exist.
    pub fn role_policy_documents(&self, account: &str, role_name: &str) -> Vec<String> {
        let st = self.state.read();
        let Some(role) = st.roles.get(&entity_key(account, role_name)) else {
            return Vec::new();
        };
        st.entity_documents(
            entity::EntityKind::Role,
            account,
            &role.name,
            &role.attached_policies,
        )
    }

    // -----------------------------------------------------------------------------------
    // Helpers
    // -----------------------------------------------------------------------------------

    fn role_arn_for(&self, ctx: &RequestContext, name: &str) -> String {
        self.state
            .read()
            .roles
            .get(&entity_key(&ctx.account_id, name))
            .map(|r| r.arn.clone())
            .unwrap_or_else(|| wire::arn(ctx.partition(), &ctx.account_id, "role", "/", name))
    }

    fn wildcard_arn(ctx: &RequestContext, kind: &str) -> String {
        format!("arn:{}:iam::{}:{kind}/", ctx.partition(), ctx.account_id)
    }

    /// The policy of the caller's account, or the AWS managed policy (in the caller's
    /// partition), named by `arn`; `InvalidInput` if `arn` is not a policy ARN, `not_found(arn)`
    /// if there is no such policy.
    fn find_policy<'a>(
        st: &'a State,
        ctx: &RequestContext,
        arn: &str,
        not_found: fn(&str) -> IamError,
    ) -> Result<Cow<'a, PolicyRecord>, IamError> {
        let a = IamArn::parse(arn)
            .filter(|a| a.kind == "policy")
            .ok_or_else(|| IamError::InvalidInput(format!("ARN {arn} is not valid.")))?;
        if a.account == aws_managed::ACCOUNT && a.partition == ctx.partition() {
            return aws_managed::find(&a.path, &a.name)
                .map(|m| Cow::Owned(m.record(ctx.partition())))
                .ok_or_else(|| not_found(arn));
        }
        if a.account != ctx.account_id {
            return Err(not_found(arn));
        }
        st.policies
            .get(&entity_key(&a.account, &a.name))
            .filter(|p| p.path == a.path)
            .map(Cow::Borrowed)
            .ok_or_else(|| not_found(arn))
    }

    /// AWS managed policies cannot be changed: AWS answers `AccessDenied`, as for a policy of
    /// another account.
    fn refuse_aws_managed(
        ctx: &RequestContext,
        action: coffer_model::ops::IamAction,
        p: &PolicyRecord,
    ) -> Result<(), IamError> {
        if p.account != aws_managed::ACCOUNT {
            return Ok(());
        }
        Err(IamError::AccessDenied(format!(
            "User: {} is not authorized to perform: {} on resource: policy {}",
            ctx.principal_arn,
            action.info().iam,
            p.arn
        )))
    }

    /// Writes a role record and, once stored, puts it in memory.
    fn save_role(&self, st: &mut State, rec: RoleRecord) -> Result<(), IamError> {
        let key = entity_key(&rec.account, &rec.name);
        let mut tx = Transaction::new();
        put(&mut tx, ROLE_TABLE, &key, &rec)?;
        self.commit(&tx)?;
        st.roles.insert(key, rec);
        Ok(())
    }

    fn save_policy(&self, st: &mut State, rec: PolicyRecord) -> Result<(), IamError> {
        let key = entity_key(&rec.account, &rec.name);
        let mut tx = Transaction::new();
        put(&mut tx, POLICY_TABLE, &key, &rec)?;
        self.commit(&tx)?;
        st.policies.insert(key, rec);
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Roles
    // -----------------------------------------------------------------------------------

    // -----------------------------------------------------------------------------------
    // Managed policies
    // -----------------------------------------------------------------------------------

    // -----------------------------------------------------------------------------------
    // Attachments
    // -----------------------------------------------------------------------------------

    // -----------------------------------------------------------------------------------
    // Inline role policies
    // -----------------------------------------------------------------------------------
}

impl coffer_core::authz::PolicySource for Iam {
    fn role_policy_documents(&self, account: &str, role_name: &str) -> Vec<String> {
        Iam::role_policy_documents(self, account, role_name)
    }

    fn user_policy_documents(&self, account: &str, user_name: &str) -> Vec<String> {
        Iam::user_policy_documents(self, account, user_name)
    }

    fn principal_tags(
        &self,
        account: &str,
        caller: &coffer_core::RoleSession,
    ) -> Vec<(String, String)> {
        Iam::principal_tags(self, account, caller)
    }

    fn boundary_document(
        &self,
        account: &str,
        caller: &coffer_core::RoleSession,
    ) -> Option<String> {
        // An assumed role's boundary is its role's; any other caller's (an IAM user, or a
        // session of one) its user's.
        let kind = match caller.kind {
            coffer_core::PrincipalKind::AssumedRole => entity::EntityKind::Role,
            _ => entity::EntityKind::User,
        };
        Iam::boundary_document(self, kind, account, &caller.role_name)
    }
}

impl Iam {
    /// The tags of the role (an assumed-role session) or IAM user (a user, its
    /// `GetSessionToken` session, a federated user) behind a caller: its `aws:PrincipalTag/KEY`
    /// keys before the session's own tags override them.
    pub fn principal_tags(
        &self,
        account: &str,
        caller: &coffer_core::RoleSession,
    ) -> Vec<(String, String)> {
        use coffer_core::PrincipalKind as K;
        let st = self.state.read();
        let key = entity_key(account, &caller.role_name);
        let tags = match caller.kind {
            K::AssumedRole => st.roles.get(&key).map(|r| &r.tags),
            K::User | K::FederatedUser => st.users.get(&key).map(|u| &u.tags),
        };
        tags.map(|t| t.iter().map(|t| (t.key.clone(), t.value.clone())).collect())
            .unwrap_or_default()
    }

    /// The default version's document of a managed policy (customer managed, or of the AWS
    /// managed catalog), by ARN: a session's `PolicyArns`. `None` for an unknown policy.
    pub fn managed_policy_document(&self, arn: &str) -> Option<String> {
        let st = self.state.read();
        let p = st.attached_policy(arn)?;
        p.default_document().map(str::to_string)
    }
}
