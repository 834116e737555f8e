//! AWS IAM, per account: roles (trust policy, description, session duration, tags), customer
//! managed policies with up to five versions, attachments of managed policies to roles, and
//! inline role policies. State lives in memory and is written to the store before any change is
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

mod aws_managed;
mod document;
mod error;
mod record;
#[cfg(test)]
mod tests;

pub mod identity;
pub mod sts;

pub use error::IamError;

use base64::Engine;
use coffer_core::{Clock, RequestContext};
use coffer_model::iam::{
    self as wire, AttachedPolicy, CreatePolicyRequest, CreateRoleRequest, IamArn,
    ListEntitiesForPolicyRequest, ListPoliciesRequest, Page, Paging, Policy, PolicyRole,
    PolicyVersion, Role, RolePolicy, Tag,
};
use coffer_model::{Timestamp, Validator};
use coffer_store::{Store, Transaction};
use document::Kind;
use parking_lot::RwLock;
use record::{
    entity_key, role_policy_key, PolicyRecord, RolePolicyRecord, RoleRecord, TagRec, VersionRec,
    POLICY_TABLE, RECORD_VERSION, ROLE_POLICY_TABLE, ROLE_TABLE,
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
    /// Role [`entity_key`] → lower-case policy name → inline policy.
    inline: HashMap<String, BTreeMap<String, RolePolicyRecord>>,
    /// Policy ARN → [`entity_key`]s of the roles it is attached to (derived from the roles).
    attachments: HashMap<String, BTreeSet<String>>,
}

impl State {
    /// Roles of `account` the policy is attached to (AWS managed policies are attached in
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
        permissions_boundary_usage_count: 0,
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
        action: &str,
        resource: &str,
    ) -> Result<(), IamError> {
        let Some(role) = &ctx.role else {
            return Ok(());
        };
        let identity: Vec<coffer_policy::Policy> = self
            .role_policy_documents(&ctx.account_id, &role.role_name)
            .iter()
            .filter_map(|d| coffer_policy::Policy::parse(d).ok())
            .collect();
        let session = role.session_policy.as_deref().map(|d| {
            coffer_policy::Policy::parse(d).unwrap_or_else(|_| coffer_policy::Policy::empty())
        });
        let mut context = coffer_policy::Context::new();
        context.set("aws:PrincipalArn", &role.role_arn);
        context.set("aws:PrincipalAccount", &ctx.account_id);
        let action = format!("iam:{action}");
        let req = coffer_policy::Request {
            principal_arn: &ctx.principal_arn,
            principal_account: &ctx.account_id,
            role_arn: Some(&role.role_arn),
            action: &action,
            resource,
            context: &context,
        };
        let why = match coffer_policy::decide(&identity, None, session.as_ref(), &req) {
            coffer_policy::Decision::Allow => return Ok(()),
            coffer_policy::Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            coffer_policy::Decision::ImplicitDeny => {
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
                st.attachments
                    .entry(arn.clone())
                    .or_default()
                    .insert(ek.clone());
            }
            st.roles.insert(ek, rec);
        }
        for (key, bytes) in store.scan(POLICY_TABLE)? {
            let rec: PolicyRecord = decode(POLICY_TABLE, &key, &bytes)?;
            check_version(POLICY_TABLE, &key, rec.v)?;
            st.policies.insert(entity_key(&rec.account, &rec.name), rec);
        }
        for (key, bytes) in store.scan(ROLE_POLICY_TABLE)? {
            let rec: RolePolicyRecord = decode(ROLE_POLICY_TABLE, &key, &bytes)?;
            check_version(ROLE_POLICY_TABLE, &key, rec.v)?;
            st.inline
                .entry(entity_key(&rec.account, &rec.role_name))
                .or_default()
                .insert(rec.policy_name.to_ascii_lowercase(), rec);
        }
        Ok(Self {
            store,
            clock,
            state: RwLock::new(st),
        })
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
        let key = entity_key(account, role_name);
        let Some(role) = st.roles.get(&key) else {
            return Vec::new();
        };
        let mut docs = Vec::new();
        for arn in &role.attached_policies {
            let policy = st.attached_policy(arn);
            if let Some(d) = policy.as_deref().and_then(PolicyRecord::default_document) {
                docs.push(d.to_string());
            }
        }
        if let Some(inline) = st.inline.get(&key) {
            docs.extend(inline.values().map(|p| p.document.clone()));
        }
        docs
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
        action: &str,
        p: &PolicyRecord,
    ) -> Result<(), IamError> {
        if p.account != aws_managed::ACCOUNT {
            return Ok(());
        }
        Err(IamError::AccessDenied(format!(
            "User: {} is not authorized to perform: iam:{action} on resource: policy {}",
            ctx.principal_arn, p.arn
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
        self.authorize(ctx, "CreateRole", &arn)?;
        if req.permissions_boundary.is_some() {
            // Accepting a boundary without enforcing it would grant more than the caller asked.
            return Err(IamError::InvalidInput(
                "Coffer does not support permissions boundaries: create the role without PermissionsBoundary."
                    .into(),
            ));
        }
        let tags = req.tags.unwrap_or_default();
        check_duplicate_tags(&tags)?;
        let trust = req.assume_role_policy_document.unwrap_or_default();
        document::check(&trust, Kind::Trust)?;

        let mut st = self.state.write();
        let key = entity_key(&ctx.account_id, &name);
        if st.roles.contains_key(&key) {
            return Err(IamError::EntityAlreadyExists(format!(
                "Role with name {name} already exists."
            )));
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
            role_id: unique_id("AROA")?,
            arn,
            create_date: self.now(),
            trust_policy: trust,
            description: req.description,
            max_session_duration: req
                .max_session_duration
                .unwrap_or(wire::MIN_SESSION_DURATION),
            tags: tags.iter().map(TagRec::from).collect(),
            attached_policies: Vec::new(),
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
        self.authorize(ctx, "GetRole", &self.role_arn_for(ctx, name))?;
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
        self.authorize(ctx, "ListRoles", &Self::wildcard_arn(ctx, "role"))?;
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
        self.authorize(ctx, "DeleteRole", &self.role_arn_for(ctx, name))?;
        let mut st = self.state.write();
        let key = entity_key(&ctx.account_id, name);
        let role = st.role(&ctx.account_id, name)?;
        if !role.attached_policies.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must detach all policies first.".into(),
            ));
        }
        if st.inline.get(&key).is_some_and(|p| !p.is_empty()) {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        let mut tx = Transaction::new();
        tx.delete(ROLE_TABLE, &key);
        self.commit(&tx)?;
        st.roles.remove(&key);
        st.inline.remove(&key);
        Ok(())
    }

    /// Applies `change` to a role and stores it.
    fn update_role_with(
        &self,
        ctx: &RequestContext,
        action: &str,
        name: &str,
        change: impl FnOnce(&mut RoleRecord) -> Result<(), IamError>,
    ) -> Result<Role, IamError> {
        self.authorize(ctx, action, &self.role_arn_for(ctx, name))?;
        let mut st = self.state.write();
        let mut rec = st.role(&ctx.account_id, name)?.clone();
        change(&mut rec)?;
        let view = role_view(&rec);
        self.save_role(&mut st, rec)?;
        Ok(view)
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
        self.update_role_with(ctx, "UpdateRole", given(name), |r| {
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
        self.update_role_with(ctx, "UpdateRoleDescription", given(name), |r| {
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
        self.update_role_with(ctx, "UpdateAssumeRolePolicy", given(name), |r| {
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
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        v.required("Tags", &tags);
        wire::check_tags(&mut v, "Tags", tags);
        v.finish()?;
        let tags = tags.unwrap_or_default();
        check_duplicate_tags(tags)?;
        self.update_role_with(ctx, "TagRole", given(name), |r| {
            r.tags = merge_tags(&r.tags, tags)?;
            Ok(())
        })
        .map(|_| ())
    }

    /// `UntagRole` (keys that are not there are ignored).
    pub fn untag_role(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        keys: Option<&[String]>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        v.required("TagKeys", &keys);
        if let Some(k) = keys {
            wire::check_tag_keys(&mut v, "TagKeys", k);
        }
        v.finish()?;
        let keys = keys.unwrap_or_default();
        self.update_role_with(ctx, "UntagRole", given(name), |r| {
            r.tags = remove_tags(&r.tags, keys);
            Ok(())
        })
        .map(|_| ())
    }

    /// `ListRoleTags`, in the order the tags were added.
    pub fn list_role_tags(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Tag>, IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, name);
        paging.check(&mut v);
        v.finish()?;
        let name = given(name);
        self.authorize(ctx, "ListRoleTags", &self.role_arn_for(ctx, name))?;
        let st = self.state.read();
        let role = st.role(&ctx.account_id, name)?;
        page(ordered(tags_of(&role.tags)), paging)
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
            "ListInstanceProfilesForRole",
            &self.role_arn_for(ctx, name),
        )?;
        self.state.read().role(&ctx.account_id, name).map(|_| ())
    }

    // -----------------------------------------------------------------------------------
    // Managed policies
    // -----------------------------------------------------------------------------------

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
        self.authorize(ctx, "CreatePolicy", &arn)?;
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
        self.authorize(ctx, "GetPolicy", arn)?;
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
        self.authorize(ctx, "DeletePolicy", arn)?;
        let mut st = self.state.write();
        let p = Self::find_policy(&st, ctx, arn, policy_not_found)?;
        Self::refuse_aws_managed(ctx, "DeletePolicy", &p)?;
        if st.attachment_count(&p.arn, &ctx.account_id) > 0 {
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
        self.authorize(ctx, "ListPolicies", &Self::wildcard_arn(ctx, "policy"))?;
        let st = self.state.read();
        let none = req.policy_usage_filter.as_deref() == Some("PermissionsBoundary");
        let scope = req.scope.as_deref().unwrap_or("All");
        let prefix = req.path_prefix.as_deref().unwrap_or("/");
        let wanted = |p: &PolicyRecord| {
            p.path.starts_with(prefix)
                && (!req.only_attached || st.attachment_count(&p.arn, &ctx.account_id) > 0)
        };
        // Keys: the name in lower case, then the ARN (a customer policy may share an AWS
        // managed policy's name).
        let key = |p: &PolicyRecord| format!("{}/{}", p.name.to_ascii_lowercase(), p.arn);
        let mut items: Vec<(String, Policy)> = Vec::new();
        if !none && scope != "AWS" {
            items.extend(
                st.policies
                    .values()
                    .filter(|p| p.account == ctx.account_id && wanted(p))
                    .map(|p| (key(p), policy_view(&st, p, &ctx.account_id))),
            );
        }
        if !none && scope != "Local" {
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
        self.authorize(ctx, "CreatePolicyVersion", arn)?;
        document::check(doc, Kind::Managed)?;
        let mut st = self.state.write();
        let mut p = Self::find_policy(&st, ctx, arn, policy_not_found)?.into_owned();
        Self::refuse_aws_managed(ctx, "CreatePolicyVersion", &p)?;
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
        self.authorize(ctx, "GetPolicyVersion", arn)?;
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
        self.authorize(ctx, "ListPolicyVersions", arn)?;
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
        self.authorize(ctx, "DeletePolicyVersion", arn)?;
        let mut st = self.state.write();
        let mut p = Self::find_policy(&st, ctx, arn, policy_not_found)?.into_owned();
        Self::refuse_aws_managed(ctx, "DeletePolicyVersion", &p)?;
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
        self.authorize(ctx, "SetDefaultPolicyVersion", arn)?;
        let mut st = self.state.write();
        let mut p = Self::find_policy(&st, ctx, arn, policy_not_found)?.into_owned();
        Self::refuse_aws_managed(ctx, "SetDefaultPolicyVersion", &p)?;
        if !p.versions.iter().any(|v| v.id == id) {
            return Err(version_not_found(arn, id));
        }
        if p.default_version == id {
            return Ok(());
        }
        p.default_version = id.to_string();
        self.save_policy(&mut st, p)
    }

    fn update_policy_with(
        &self,
        ctx: &RequestContext,
        action: &str,
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
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        v.required("Tags", &tags);
        wire::check_tags(&mut v, "Tags", tags);
        v.finish()?;
        let tags = tags.unwrap_or_default();
        check_duplicate_tags(tags)?;
        self.update_policy_with(ctx, "TagPolicy", given(arn), |p| {
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
        let mut v = Validator::new();
        check_policy_arn(&mut v, arn);
        v.required("TagKeys", &keys);
        if let Some(k) = keys {
            wire::check_tag_keys(&mut v, "TagKeys", k);
        }
        v.finish()?;
        let keys = keys.unwrap_or_default();
        self.update_policy_with(ctx, "UntagPolicy", given(arn), |p| {
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
        self.authorize(ctx, "ListPolicyTags", arn)?;
        let st = self.state.read();
        let p = Self::find_policy(&st, ctx, arn, policy_not_found)?;
        page(ordered(tags_of(&p.tags)), paging)
    }

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
        self.authorize(ctx, "ListEntitiesForPolicy", arn)?;
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

    // -----------------------------------------------------------------------------------
    // Attachments
    // -----------------------------------------------------------------------------------

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
        self.authorize(ctx, "AttachRolePolicy", &self.role_arn_for(ctx, role))?;
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
        self.authorize(ctx, "DetachRolePolicy", &self.role_arn_for(ctx, role))?;
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
            "ListAttachedRolePolicies",
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

    // -----------------------------------------------------------------------------------
    // Inline role policies
    // -----------------------------------------------------------------------------------

    /// `PutRolePolicy`: adds or replaces an inline policy; a role's inline policies together
    /// hold at most 10,240 characters (white space not counted).
    pub fn put_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        name: Option<&str>,
        document: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_name(&mut v, name);
        v.required("PolicyDocument", &document);
        wire::check_document(&mut v, "PolicyDocument", document);
        v.finish()?;
        let (role, name, doc) = (given(role), given(name), given(document));
        self.authorize(ctx, "PutRolePolicy", &self.role_arn_for(ctx, role))?;
        document::validate(doc, Kind::Inline)?;
        let mut st = self.state.write();
        let r = st.role(&ctx.account_id, role)?;
        let (account, role_name) = (r.account.clone(), r.name.clone());
        let role_key = entity_key(&account, &role_name);
        let lower = name.to_ascii_lowercase();
        let others: usize = st
            .inline
            .get(&role_key)
            .into_iter()
            .flatten()
            .filter(|(k, _)| **k != lower)
            .map(|(_, p)| document::size(&p.document))
            .sum();
        if others + document::size(doc) > document::INLINE_POLICIES_SIZE {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {} bytes exceeded for role {role_name}",
                document::INLINE_POLICIES_SIZE
            )));
        }
        let rec = RolePolicyRecord {
            v: RECORD_VERSION,
            account,
            role_name,
            policy_name: name.to_string(),
            document: doc.to_string(),
        };
        // The key is the same for a name differing only in case: that policy is replaced.
        let mut tx = Transaction::new();
        put(
            &mut tx,
            ROLE_POLICY_TABLE,
            &role_policy_key(&rec.account, &rec.role_name, &rec.policy_name),
            &rec,
        )?;
        self.commit(&tx)?;
        st.inline.entry(role_key).or_default().insert(lower, rec);
        Ok(())
    }

    /// `GetRolePolicy`.
    pub fn get_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        name: Option<&str>,
    ) -> Result<RolePolicy, IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_name(&mut v, name);
        v.finish()?;
        let (role, name) = (given(role), given(name));
        self.authorize(ctx, "GetRolePolicy", &self.role_arn_for(ctx, role))?;
        let st = self.state.read();
        let r = st.role(&ctx.account_id, role)?;
        st.inline
            .get(&entity_key(&r.account, &r.name))
            .and_then(|m| m.get(&name.to_ascii_lowercase()))
            .map(|p| RolePolicy {
                role_name: r.name.clone(),
                policy_name: p.policy_name.clone(),
                policy_document: p.document.clone(),
            })
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!("The role policy with name {name} cannot be found."))
            })
    }

    /// `DeleteRolePolicy`.
    pub fn delete_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_name(&mut v, name);
        v.finish()?;
        let (role, name) = (given(role), given(name));
        self.authorize(ctx, "DeleteRolePolicy", &self.role_arn_for(ctx, role))?;
        let mut st = self.state.write();
        let r = st.role(&ctx.account_id, role)?;
        let role_key = entity_key(&r.account, &r.name);
        let lower = name.to_ascii_lowercase();
        let Some(old) = st.inline.get(&role_key).and_then(|m| m.get(&lower)) else {
            return Err(IamError::NoSuchEntity(format!(
                "The role policy with name {name} cannot be found."
            )));
        };
        let mut tx = Transaction::new();
        tx.delete(
            ROLE_POLICY_TABLE,
            &role_policy_key(&old.account, &old.role_name, &old.policy_name),
        );
        self.commit(&tx)?;
        if let Some(m) = st.inline.get_mut(&role_key) {
            m.remove(&lower);
            if m.is_empty() {
                st.inline.remove(&role_key);
            }
        }
        Ok(())
    }

    /// `ListRolePolicies`: the names of the role's inline policies, by name.
    pub fn list_role_policies(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<String>, IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        paging.check(&mut v);
        v.finish()?;
        let role = given(role);
        self.authorize(ctx, "ListRolePolicies", &self.role_arn_for(ctx, role))?;
        let st = self.state.read();
        let r = st.role(&ctx.account_id, role)?;
        let items = st
            .inline
            .get(&entity_key(&r.account, &r.name))
            .into_iter()
            .flatten()
            .map(|(k, p)| (k.clone(), p.policy_name.clone()))
            .collect();
        page(items, paging)
    }
}

impl coffer_core::authz::PolicySource for Iam {
    fn role_policy_documents(&self, account: &str, role_name: &str) -> Vec<String> {
        Iam::role_policy_documents(self, account, role_name)
    }
}
