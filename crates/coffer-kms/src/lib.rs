//! AWS Key Management Service: keys (as multi-Region families), aliases, policies, tags and the
//! symmetric cryptographic operations.
//!
//! Every operation resolves its key through [`Kms::resolve`], which applies the operation's
//! declared key states ([`ops`]); writes go to the store before memory is updated, under one lock.
#![forbid(unsafe_code)]

pub mod error;
pub mod ops;
pub mod records;
pub mod state;

mod aliases;
mod asymmetric;
mod common;
mod crypto;
mod custom_key_stores;
mod follow;
mod grants;
mod import;
mod key_policy;
mod keys;
mod multi_region;
pub mod provider;
mod rekey;
pub mod remote_replica;
mod rotation;
mod schedule;
pub mod seed;
mod tags;
mod usage;

pub use error::KmsError;
pub use records::KeyState;
pub use rekey::transfer_family;

use base64::Engine;
use coffer_core::{Clock, RequestContext};
use coffer_crypto::asymmetric::{HmacKey, KeyPair, KeySpec};
use coffer_crypto::{RootKey, SymmetricKey};
use coffer_store::{Store, Transaction};
use ops::KeyOp;
use parking_lot::{Mutex, RwLock};
use records::*;
use state::{Family, Material, MaterialKey, World};
use std::sync::Arc;

/// The KMS service.
pub struct Kms {
    world: RwLock<World>,
    store: Arc<dyn Store>,
    root: RootKey,
    clock: Arc<dyn Clock>,
    /// Last use of each regional key, flushed to the store by [`Kms::run_due`].
    usage: Mutex<usage::Usage>,
    /// Evaluates role sessions' requests; root callers never need it.
    authorizer: std::sync::OnceLock<Arc<coffer_core::authz::Authorizer>>,
    /// Where scheduler actions are reported (the audit trail's service events).
    events: coffer_core::events::EventSink,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kms")
    }
}

/// The ARN of a key.
pub fn key_arn(partition: &str, region: &str, account: &str, key_id: &str) -> String {
    format!("arn:{partition}:kms:{region}:{account}:key/{key_id}")
}

/// The ARN of an alias (`name` includes `alias/`).
pub fn alias_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:kms:{region}:{account}:{name}")
}

fn material_aad(account: &str, key_id: &str, material_id: &str) -> Vec<u8> {
    format!("coffer/kms/material/v1/{account}/{key_id}/{material_id}").into_bytes()
}

/// What a key reference names once parsed.
enum KeyRef<'a> {
    Id(&'a str),
    Alias(String),
}

impl Kms {
    /// Loads every KMS record from the store, unwrapping key material with the root key.
    pub fn load(
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KmsError> {
        let kms = Self {
            world: RwLock::new(World::default()),
            store,
            root,
            clock,
            usage: Mutex::new(usage::Usage::default()),
            authorizer: std::sync::OnceLock::new(),
            events: coffer_core::events::EventSink::default(),
        };
        let mut world = World::default();
        for (_, bytes) in kms.store.scan(FAMILY_TABLE)? {
            let rec: FamilyRecord = serde_json::from_slice(&bytes)?;
            world.put_family(kms.unwrap_family(rec)?);
        }
        // Keys written before last-use tracking existed start being tracked now.
        let mut migrate = Transaction::new();
        for (_, bytes) in kms.store.scan(KEY_TABLE)? {
            let mut rec: KeyRecord = serde_json::from_slice(&bytes)?;
            if rec.tracking_start.is_none() {
                rec.tracking_start = Some(kms.clock.now());
                rec.v = RECORD_VERSION;
                migrate.put(KEY_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
            }
            world.put_key(rec);
        }
        if !migrate.is_empty() {
            kms.commit(&migrate)?;
        }
        for (key, bytes) in kms.store.scan(IMPORT_TABLE)? {
            let rec: ImportTokenRecord = serde_json::from_slice(&bytes)?;
            world.imports.insert(key, rec);
        }
        {
            let mut usage = kms.usage.lock();
            for (key, bytes) in kms.store.scan(LAST_USE_TABLE)? {
                let rec: LastUseRecord = serde_json::from_slice(&bytes)?;
                usage.last.insert(key, rec);
            }
        }
        for (_, bytes) in kms.store.scan(ALIAS_TABLE)? {
            let rec: AliasRecord = serde_json::from_slice(&bytes)?;
            world.put_alias(rec);
        }
        for (_, bytes) in kms.store.scan(GRANT_TABLE)? {
            let rec: GrantRecord = serde_json::from_slice(&bytes)?;
            world.put_grant(rec);
        }
        *kms.world.write() = world;
        Ok(kms)
    }

    /// Forgets all in-memory state (the `--dev` reset; the caller clears the store).
    pub fn reset(&self) {
        *self.world.write() = World::default();
        *self.usage.lock() = usage::Usage::default();
    }

    fn unwrap_family(&self, rec: FamilyRecord) -> Result<Family, KmsError> {
        let materials = rec
            .materials
            .iter()
            .map(|m| self.unwrap_material(&rec, m).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Family { rec, materials })
    }

    /// One of a family's materials, unwrapped with the root key.
    fn unwrap_material(
        &self,
        rec: &FamilyRecord,
        m: &MaterialRecord,
    ) -> Result<Material, KmsError> {
        let spec = Self::spec_of(rec)?;
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(&m.wrapped)
            .map_err(|e| KmsError::Internal(format!("material encoding: {e}")))?;
        let raw = self
            .root
            .unwrap(&material_aad(&rec.account, &rec.key_id, &m.id), &wrapped)?;
        let mut id = [0u8; 32];
        hex::decode_to_slice(&m.id, &mut id)
            .map_err(|e| KmsError::Internal(format!("material id: {e}")))?;
        let key = Self::load_material(spec, &raw)?;
        Ok(Material { id, key })
    }

    /// The family's key spec.
    fn spec_of(rec: &FamilyRecord) -> Result<KeySpec, KmsError> {
        Self::spec_of_name(&rec.key_spec)
    }

    /// A key spec by name, as records hold it.
    fn spec_of_name(name: &str) -> Result<KeySpec, KmsError> {
        name.parse::<KeySpec>()
            .map_err(|_| KmsError::Internal(format!("unknown key spec {name} in record")))
    }

    fn load_material(spec: KeySpec, raw: &[u8]) -> Result<MaterialKey, KmsError> {
        let bad = |e: coffer_crypto::asymmetric::AsymmetricError| {
            KmsError::Internal(format!("key material: {e}"))
        };
        Ok(match spec {
            KeySpec::SymmetricDefault => MaterialKey::Symmetric(SymmetricKey::from_slice(raw)?),
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                MaterialKey::Hmac(HmacKey::from_bytes(spec, raw).map_err(bad)?)
            }
            _ => MaterialKey::Pair(KeyPair::from_pkcs8(spec, raw).map_err(bad)?),
        })
    }

    /// Fresh material of `spec` (slow for RSA: call it outside any lock).
    pub(crate) fn generate_material(spec: KeySpec) -> Result<MaterialKey, KmsError> {
        let bad = |e: coffer_crypto::asymmetric::AsymmetricError| {
            KmsError::Internal(format!("key generation: {e}"))
        };
        Ok(match spec {
            KeySpec::SymmetricDefault => MaterialKey::Symmetric(SymmetricKey::generate()?),
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                MaterialKey::Hmac(HmacKey::generate(spec).map_err(bad)?)
            }
            _ => MaterialKey::Pair(KeyPair::generate(spec).map_err(bad)?),
        })
    }

    /// New key material, appended to a family record; returns the unwrapped material.
    fn add_material(
        &self,
        rec: &mut FamilyRecord,
        key: MaterialKey,
        rotation_type: Option<&str>,
    ) -> Result<Material, KmsError> {
        let id: [u8; 32] = coffer_crypto::random::array()?;
        self.add_material_with_id(rec, key, rotation_type, id)
    }

    /// [`Kms::add_material`] with a given material ID (imported material's is derived from it).
    fn add_material_with_id(
        &self,
        rec: &mut FamilyRecord,
        key: MaterialKey,
        rotation_type: Option<&str>,
        id: [u8; 32],
    ) -> Result<Material, KmsError> {
        let id_hex = hex::encode(id);
        let raw: &[u8] = key.raw_bytes();
        let wrapped = self
            .root
            .wrap(&material_aad(&rec.account, &rec.key_id, &id_hex), raw)?;
        rec.materials.push(MaterialRecord {
            id: id_hex,
            wrapped: base64::engine::general_purpose::STANDARD.encode(wrapped),
            created: self.clock.now(),
            rotation_type: rotation_type.map(str::to_string),
        });
        Ok(Material { id, key })
    }

    fn commit(&self, tx: &Transaction) -> Result<(), KmsError> {
        self.store.commit(tx)?;
        Ok(())
    }

    /// Parses a key reference: the account an ARN names (the caller's for an ID or an alias name)
    /// and what it names.
    fn parse_ref<'a>(
        ctx: &'a RequestContext,
        key_ref: &'a str,
    ) -> Result<(&'a str, KeyRef<'a>), KmsError> {
        if let Some(rest) = key_ref.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let not_found = || KmsError::NotFound(format!("Invalid arn {key_ref}"));
            if parts.len() != 5 || parts[1] != "kms" {
                return Err(KmsError::NotFound(format!("Invalid keyId '{key_ref}'")));
            }
            if parts[2] != ctx.region {
                // AWS names the Region it could not serve, not the whole ARN.
                return Err(KmsError::NotFound(format!("Invalid arn {}", parts[2])));
            }
            if !is_account_id(parts[3]) {
                return Err(not_found());
            }
            if let Some(id) = parts[4].strip_prefix("key/") {
                Ok((parts[3], KeyRef::Id(id)))
            } else if parts[4].starts_with("alias/") {
                Ok((parts[3], KeyRef::Alias(parts[4].to_string())))
            } else {
                Err(not_found())
            }
        } else if key_ref.starts_with("alias/") {
            Ok((&ctx.account_id, KeyRef::Alias(key_ref.to_string())))
        } else if is_key_id(key_ref) {
            Ok((&ctx.account_id, KeyRef::Id(key_ref)))
        } else {
            // Neither a key ID, an alias nor an ARN.
            Err(KmsError::NotFound(format!("Invalid keyId '{key_ref}'")))
        }
    }

    /// Finds the key `key_ref` names for `op` in the caller's Region and checks the operation's
    /// declared key states: the one place where that check happens. A key ARN (or alias ARN) of
    /// another account names that account's key for an operation AWS allows across accounts
    /// (`cross_account` in the operation's rule, ADR 0017); for any other it names nothing.
    fn resolve<'w>(
        &self,
        w: &'w World,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
    ) -> Result<(&'w KeyRecord, &'w Family), KmsError> {
        let (owner, parsed) = Self::parse_ref(ctx, key_ref)?;
        if owner != ctx.account_id && !ops::rule(op).cross_account {
            return Err(KmsError::NotFound(format!("Invalid arn {key_ref}")));
        }
        let key_id: String = match parsed {
            KeyRef::Id(id) => id.to_string(),
            KeyRef::Alias(name) => {
                if !ops::rule(op).accepts_alias {
                    return Err(KmsError::NotFound(format!("Invalid keyId '{key_ref}'")));
                }
                let alias = w
                    .region(owner, &ctx.region)
                    .and_then(|r| r.aliases.get(&name));
                match alias {
                    Some(a) => a.target_key_id.clone(),
                    None => {
                        return Err(KmsError::NotFound(format!(
                            "Alias {} is not found.",
                            alias_arn(ctx.partition(), &ctx.region, owner, &name)
                        )))
                    }
                }
            }
        };
        self.resolve_id(w, ctx, op, owner, &key_id)
    }

    /// [`Kms::resolve`] for the key `key_id` of `owner`'s account: authorization (always, for a
    /// caller of another account), key state, usage and spec.
    fn resolve_id<'w>(
        &self,
        w: &'w World,
        ctx: &RequestContext,
        op: &KeyOp,
        owner: &str,
        key_id: &str,
    ) -> Result<(&'w KeyRecord, &'w Family), KmsError> {
        let arn = key_arn(ctx.partition(), &ctx.region, owner, key_id);
        let key = w
            .key(owner, &ctx.region, key_id)
            .ok_or_else(|| KmsError::NotFound(format!("Key '{arn}' does not exist")))?;
        let fam = w
            .family(owner, key_id)
            .ok_or_else(|| KmsError::Internal(format!("key {key_id} has no family")))?;
        if owner != ctx.account_id {
            self.authorize_cross_account(w, ctx, op, key, fam, &arn)?;
        } else if ctx.role.is_some() {
            self.authorize(w, ctx, op, key, fam, &arn)?;
        }
        let state = self.effective_state(key);
        if !ops::rule(op).accepts(state) {
            return Err(state_error(op, state, &arn));
        }
        if let Some(usage) = ops::usage(op) {
            if fam.rec.key_usage != usage {
                return Err(KmsError::InvalidKeyUsage(format!(
                    "{arn} key usage is {} which is not valid for {}.",
                    fam.rec.key_usage, op.name
                )));
            }
        }
        if ops::rule(op).symmetric_only && fam.rec.key_spec != "SYMMETRIC_DEFAULT" {
            let msg = format!(
                "{arn} key spec is {} which is not valid for {}.",
                fam.rec.key_spec, op.name
            );
            return Err(if ops::rule(op).usage.is_some() {
                KmsError::InvalidKeyUsage(msg)
            } else {
                KmsError::UnsupportedOperation(msg)
            });
        }
        Ok((key, fam))
    }

    /// The key a symmetric ciphertext names by its key ID alone: the caller's account's key of
    /// that ID, else (for an operation allowed across accounts) another account's key of that ID
    /// in the caller's Region, which the caller may then use only as that key's policy allows.
    fn resolve_blob_key<'w>(
        &self,
        w: &'w World,
        ctx: &RequestContext,
        op: &KeyOp,
        key_id: &str,
    ) -> Result<(&'w KeyRecord, &'w Family), KmsError> {
        if w.key(&ctx.account_id, &ctx.region, key_id).is_some() || !ops::rule(op).cross_account {
            return self.resolve_id(w, ctx, op, &ctx.account_id, key_id);
        }
        // Key IDs are random (UUIDs, `mrk-` and 128 bits): at most one account holds this one.
        let owner = w
            .regions
            .iter()
            .find(|(_, regions)| {
                regions
                    .get(&ctx.region)
                    .is_some_and(|r| r.keys.contains_key(key_id))
            })
            .map(|(account, _)| account.as_str());
        match owner {
            Some(owner) => self.resolve_id(w, ctx, op, owner, key_id),
            None => self.resolve_id(w, ctx, op, &ctx.account_id, key_id),
        }
    }

    /// Authorizes a request from another account than the key's (ADR 0017), root callers
    /// included: the key policy (or a grant to the caller) and the caller's own policies.
    fn authorize_cross_account(
        &self,
        w: &World,
        ctx: &RequestContext,
        op: &KeyOp,
        key: &KeyRecord,
        fam: &Family,
        arn: &str,
    ) -> Result<(), KmsError> {
        let authz = self
            .authorizer
            .get()
            .ok_or_else(|| KmsError::Internal("no authorizer for a cross-account caller".into()))?;
        let grant_allows = self.grant_allows(w, ctx, op, key);
        authz
            .check_cross_account(
                ctx,
                coffer_core::authz::Ask {
                    action: op.iam,
                    resource: arn,
                    context: Self::key_conditions(ctx, fam),
                },
                &key.account,
                Some(&key.policy),
                grant_allows,
            )
            .map_err(|d| KmsError::AccessDenied(d.message))
    }

    /// Whether a grant on `key` without constraints allows `op` for the caller (its session, its
    /// role or, for a root caller, its account's root).
    fn grant_allows(&self, w: &World, ctx: &RequestContext, op: &KeyOp, key: &KeyRecord) -> bool {
        let role_arn = ctx.role.as_ref().map(|r| r.role_arn.as_str());
        w.region(&key.account, &key.region).is_some_and(|r| {
            r.grants.values().any(|g| {
                g.key_id == key.key_id
                    && g.constraints.is_none()
                    && g.grantee
                        .as_deref()
                        .is_some_and(|p| Some(p) == role_arn || p == ctx.principal_arn)
                    && g.operations.iter().any(|o| o == op.name)
            })
        })
    }

    /// The KMS condition keys of a request on a key: `kms:CallerAccount` (the caller's account,
    /// not the key's), `kms:ViaService` when a service acts for the caller, and the key's
    /// `kms:KeySpec`, `kms:KeyUsage`, `kms:KeyOrigin` and `kms:MultiRegion`.
    fn key_conditions(ctx: &RequestContext, fam: &Family) -> coffer_policy::Context {
        let mut c = coffer_policy::Context::new();
        c.set("kms:CallerAccount", &ctx.account_id);
        c.set("kms:KeySpec", &fam.rec.key_spec);
        c.set("kms:KeyUsage", &fam.rec.key_usage);
        c.set("kms:KeyOrigin", &fam.rec.origin);
        c.set(
            "kms:MultiRegion",
            if fam.rec.multi_region {
                "true"
            } else {
                "false"
            },
        );
        if let Some(via) = ctx.role.as_ref().and_then(|r| r.via_service.as_ref()) {
            c.set("kms:ViaService", via);
        }
        c
    }

    /// Authorizes a role session's use of a key (ADR 0009): the key policy, the role's
    /// identity policies, the session policy and grants for the role. Conditions see
    /// `kms:CallerAccount`, `kms:ViaService` (when Secrets Manager acts for the caller),
    /// `kms:KeySpec`, `kms:KeyUsage`, `kms:KeyOrigin` and `kms:MultiRegion`; encryption context
    /// keys are not known at this point, so a grant with constraints does not count.
    fn authorize(
        &self,
        w: &World,
        ctx: &RequestContext,
        op: &KeyOp,
        key: &KeyRecord,
        fam: &Family,
        arn: &str,
    ) -> Result<(), KmsError> {
        if ctx.role.is_none() {
            return Ok(());
        }
        let authz = self
            .authorizer
            .get()
            .ok_or_else(|| KmsError::Internal("no authorizer for a role session".into()))?;
        let grant_allows = self.grant_allows(w, ctx, op, key);
        let c = Self::key_conditions(ctx, fam);
        authz
            .check_kms(
                ctx,
                coffer_core::authz::Ask {
                    action: op.iam,
                    resource: arn,
                    context: c,
                },
                &key.policy,
                grant_allows,
            )
            .map_err(|d| KmsError::AccessDenied(d.message))
    }

    /// Authorizes a role session's request that names no key (CreateKey, ListKeys, ListAliases,
    /// GenerateRandom, …): the IAM `action` (`kms:CreateKey`) on `*`.
    pub fn authorize_account(&self, ctx: &RequestContext, action: &str) -> Result<(), KmsError> {
        if ctx.role.is_none() {
            return Ok(());
        }
        let authz = self
            .authorizer
            .get()
            .ok_or_else(|| KmsError::Internal("no authorizer for a role session".into()))?;
        let mut c = coffer_policy::Context::new();
        c.set("kms:CallerAccount", &ctx.account_id);
        authz
            .check(
                ctx,
                coffer_core::authz::Ask {
                    action,
                    resource: "*",
                    context: c,
                },
                None,
            )
            .map_err(|d| KmsError::AccessDenied(d.message))
    }

    /// Uses `authz` for role sessions (set once, when the services are opened together).
    pub fn set_authorizer(&self, authz: Arc<coffer_core::authz::Authorizer>) {
        let _ = self.authorizer.set(authz);
    }

    /// Sets the receiver of service events (deletions when due, automatic rotations).
    pub fn set_events(&self, receiver: Arc<dyn coffer_core::events::ServiceEvents>) {
        self.events.set(receiver);
    }

    /// A scheduler action on a key, reported with [`Kms::report`] once no lock is held.
    fn key_event(
        name: &'static str,
        account: &str,
        region: &str,
        key_id: &str,
        extra: Vec<(&'static str, String)>,
    ) -> coffer_core::events::ServiceEvent {
        let mut details = extra;
        details.push(("keyId", key_id.to_string()));
        coffer_core::events::ServiceEvent {
            source: coffer_core::events::EventSource::Kms,
            name,
            region: region.to_string(),
            account: account.to_string(),
            resources: vec![coffer_core::events::EventResource {
                arn: key_arn(
                    coffer_core::context::partition_of(region),
                    region,
                    account,
                    key_id,
                ),
                resource_type: "AWS::KMS::Key",
            }],
            details,
        }
    }

    /// Reports service events (the audit trail may block until they are durable).
    fn report(&self, events: Vec<coffer_core::events::ServiceEvent>) {
        for e in events {
            self.events.emit(e);
        }
    }

    /// The key's state as of now: imported material past its `ValidTo` has expired even if
    /// [`Kms::run_due`] has not yet recorded it.
    fn effective_state(&self, key: &KeyRecord) -> KeyState {
        match (&key.state, &key.imported) {
            (KeyState::Enabled | KeyState::Disabled, Some(m))
                if m.valid_to.is_some_and(|t| t <= self.clock.now()) =>
            {
                KeyState::PendingImport
            }
            _ => key.state,
        }
    }
}

/// AWS's error for an operation attempted in a key state it does not accept.
fn state_error(op: &KeyOp, state: KeyState, arn: &str) -> KmsError {
    match state {
        // CancelKeyDeletion (the one action that takes only PendingDeletion) answers a disabled
        // key as it answers an enabled one; its model lists no DisabledException.
        KeyState::Disabled if !ops::rule(op).accepts(KeyState::Enabled) => {
            KmsError::InvalidState(format!("{arn} is not pending deletion."))
        }
        KeyState::Disabled => KmsError::Disabled(format!("{arn} is disabled.")),
        KeyState::Enabled if !ops::rule(op).accepts(KeyState::Disabled) => {
            KmsError::InvalidState(format!("{arn} is not pending deletion."))
        }
        KeyState::Enabled => KmsError::InvalidState(format!("{arn} is enabled.")),
        KeyState::PendingDeletion => KmsError::InvalidState(format!("{arn} is pending deletion.")),
        KeyState::PendingReplicaDeletion => {
            KmsError::InvalidState(format!("{arn} is pending replica deletion."))
        }
        KeyState::PendingImport => KmsError::InvalidState(format!("{arn} is pending import.")),
    }
}

/// Whether `s` is a 12-digit account ID.
fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` has the shape of a key ID: a UUID (`1234abcd-12ab-34cd-56ef-1234567890ab`) or a
/// multi-Region one (`mrk-` and 32 hex digits).
fn is_key_id(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("mrk-") {
        return hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}
