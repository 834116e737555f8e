//! The Secrets Manager service: secrets, versions and labels, replication, deletion windows.

use super::error::SmError;
use super::record::{
    BlobRecord, ReplicaRec, SealedValue, Secret, SecretRecord, TagRec, VersionMeta, RECORD_VERSION,
    SECRET_TABLE, VERSION_TABLE,
};
use base64::Engine;
use coffer_core::context::partition_of;
use coffer_core::keys::{KeyFailure, KeyProvider};
use coffer_core::{Clock, RequestContext};
use coffer_crypto::{aead, random};
use coffer_model::secretsmanager::*;
use coffer_model::{Blob, Timestamp, Validator};
use coffer_store::{Store, Transaction};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use zeroize::Zeroizing;

use super::rotation::RotatorRegistry;

mod authorize;
mod cross_account;
mod policy;
mod rotate;

const NOT_FOUND: &str = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION: &str =
    "You can't perform this operation on the secret because it was marked for deletion.";
const ALREADY_MARKED_DELETED: &str =
    "You tried to perform the operation on a secret that's currently marked deleted.";
const SCHEDULED_FOR_DELETION: &str =
    "You can't create this secret because a secret with this name is already scheduled for deletion.";
const ON_REPLICA: &str =
    "Operation not permitted on a replica secret. Call must be made in primary secret's region.";
const TOKEN_REQUIRED: &str =
    "You must provide a ClientRequestToken value. We recommend a UUID-type value.";
const BOTH_VALUES: &str =
    "You can't specify both a binary secret value and a string secret value in the same secret.";
const NO_VALUE: &str = "You must provide either SecretString or SecretBinary.";
const VERSION_EXISTS: &str =
    "You can't modify an existing version, you can only create a new version.";
const INVALID_NAME: &str = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!";
const INVALID_REPLICA_REGION: &str = "Invalid replica region.";
const KMS_ACCESS_DENIED: &str = "Access to KMS is not allowed";
const INVALID_NEXT_TOKEN: &str = "The NextToken value is invalid.";
const MALFORMED_POLICY: &str = "This resource policy contains a syntax error.";
const DEFAULT_KEY_ALIAS: &str = "alias/aws/secretsmanager";
const DEFAULT_KEY_LABEL: &str = "DefaultEncryptionKey";
const IN_SYNC: &str = "InSync";
const FAILED: &str = "Failed";
const REPLICATION_SUCCEEDED: &str = "Replication succeeded";
/// Versions without labels kept per secret; older ones are dropped.
const MAX_DEPRECATED_VERSIONS: usize = 100;
const REGION_PATTERN: &str = "^([a-z]+-)+\\d+$";
/// Tags per secret, not counting `aws:` ones.
const MAX_TAGS: usize = 50;
const TOO_MANY_TAGS: &str =
    "The request would exceed the limit of 50 tags per secret (tags with the aws: prefix don't count).";
const PUBLIC_POLICY: &str = "This resource policy grants public access to the secret: a statement allows a wildcard principal without a condition that limits it to known accounts, organizations or networks. Remove the wildcard principal or add such a condition.";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SecretKey {
    account: String,
    region: String,
    name: String,
}

impl SecretKey {
    fn new(account: &str, region: &str, name: &str) -> Self {
        Self {
            account: account.to_string(),
            region: region.to_string(),
            name: name.to_string(),
        }
    }

    fn of(rec: &SecretRecord) -> Self {
        Self::new(&rec.account, &rec.region, &rec.name)
    }
}

#[derive(Default)]
struct State {
    secrets: HashMap<SecretKey, Secret>,
    by_arn: HashMap<String, SecretKey>,
}

/// A write in preparation: the store transaction and the memory changes it stands for.
#[derive(Default)]
struct Pending {
    tx: Transaction,
    upserts: Vec<Secret>,
    removals: Vec<SecretKey>,
}

impl Pending {
    fn put_secret(&mut self, rec: &SecretRecord) -> Result<(), SmError> {
        let bytes = serde_json::to_vec(rec).map_err(|e| SmError::Internal(e.to_string()))?;
        self.tx.put(SECRET_TABLE, &rec.store_key(), bytes);
        Ok(())
    }

    fn put_blob(&mut self, rec: &SecretRecord, vid: &str, b: &SealedValue) -> Result<(), SmError> {
        let bytes = serde_json::to_vec(&BlobRecord::encode(&rec.arn, vid, b))
            .map_err(|e| SmError::Internal(e.to_string()))?;
        self.tx.put(VERSION_TABLE, &rec.blob_key(vid), bytes);
        Ok(())
    }

    fn delete_blob(&mut self, rec: &SecretRecord, vid: &str) {
        self.tx.delete(VERSION_TABLE, &rec.blob_key(vid));
    }

    /// Deletes a secret and all its ciphertexts.
    fn remove(&mut self, s: &Secret) {
        for vid in s.blobs.keys() {
            self.delete_blob(&s.rec, vid);
        }
        self.tx.delete(SECRET_TABLE, &s.rec.store_key());
        self.removals.push(SecretKey::of(&s.rec));
    }

    /// Writes a secret record and keeps it for the memory update.
    fn upsert(
        &mut self,
        rec: SecretRecord,
        blobs: HashMap<String, Arc<SealedValue>>,
    ) -> Result<(), SmError> {
        self.put_secret(&rec)?;
        self.upserts.push(Secret::new(rec, blobs));
        Ok(())
    }
}

/// A plaintext secret value, zeroized on drop.
struct Plain {
    bytes: Zeroizing<Vec<u8>>,
    binary: bool,
}

impl Plain {
    fn from_request(s: &Option<SecretText>, b: &Option<Blob>) -> Option<Self> {
        if let Some(s) = s {
            return Some(Self {
                bytes: Zeroizing::new(s.as_str().as_bytes().to_vec()),
                binary: false,
            });
        }
        b.as_ref().map(|b| Self {
            bytes: Zeroizing::new(b.as_slice().to_vec()),
            binary: true,
        })
    }

    fn same_as(&self, other: &Plain) -> bool {
        self.binary == other.binary
            && self.bytes.len() == other.bytes.len()
            && self
                .bytes
                .iter()
                .zip(other.bytes.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// AWS Secrets Manager over a [`Store`], with values envelope-encrypted under KMS keys.
pub struct SecretsManager {
    store: Arc<dyn Store>,
    keys: Arc<dyn KeyProvider>,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    /// The rotators rotation can invoke, by RotationLambdaARN.
    rotators: RwLock<RotatorRegistry>,
    /// Secrets (by ARN) whose rotation steps are running now.
    running: parking_lot::Mutex<HashSet<String>>,
    /// Evaluates role sessions' requests; root callers never need it.
    authorizer: std::sync::OnceLock<Arc<coffer_core::authz::Authorizer>>,
}

impl std::fmt::Debug for SecretsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManager").finish_non_exhaustive()
    }
}

fn enc_ctx(arn: &str, vid: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("SecretARN".to_string(), arn.to_string());
    m.insert("SecretVersionId".to_string(), vid.to_string());
    m
}

fn aad(arn: &str, vid: &str, binary: bool) -> Vec<u8> {
    format!("coffer-sm-v1\0{arn}\0{vid}\0{}", u8::from(binary)).into_bytes()
}

fn encryption_failure(f: KeyFailure) -> SmError {
    match f {
        KeyFailure::AccessDenied(_) => SmError::AccessDenied(KMS_ACCESS_DENIED.to_string()),
        KeyFailure::Internal(m) => SmError::Internal(m),
        KeyFailure::NotFound(m) | KeyFailure::Disabled(m) | KeyFailure::InvalidState(m) => {
            SmError::EncryptionFailure(m)
        }
    }
}

fn decryption_failure(f: KeyFailure) -> SmError {
    match f {
        KeyFailure::AccessDenied(_) => SmError::AccessDenied(KMS_ACCESS_DENIED.to_string()),
        KeyFailure::Internal(m) => SmError::Internal(m),
        KeyFailure::NotFound(m) | KeyFailure::Disabled(m) | KeyFailure::InvalidState(m) => {
            SmError::DecryptionFailure(m)
        }
    }
}

fn replication_failed(f: &KeyFailure) -> String {
    let m = match f {
        KeyFailure::AccessDenied(_) => KMS_ACCESS_DENIED,
        KeyFailure::Internal(_) => "An internal error occurred.",
        other => other.message(),
    };
    format!("Replication failed: {m}")
}

fn ts(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

fn valid_region(s: &str) -> bool {
    // ^([a-z]+-)+\d+$
    let Some((head, digits)) = s.rsplit_once('-') else {
        return false;
    };
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && !head.is_empty()
        && head
            .split('-')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

fn blank_to_none(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

/// Checks a SecretId member: present, 1–2048, and a valid name unless it is an ARN.
fn check_secret_id(v: &mut Validator, id: &Option<String>) {
    v.required("SecretId", id);
    v.length("SecretId", id.as_deref(), 1, 2048);
}

fn finish(v: Validator) -> Result<(), SmError> {
    v.finish().map_err(SmError::Validation)
}

fn secret_id_chars(id: &str) -> Result<(), SmError> {
    if id.starts_with("arn:") || valid_name(id) {
        Ok(())
    } else {
        Err(SmError::validation(INVALID_NAME))
    }
}

fn check_tags(v: &mut Validator, tags: &[Tag]) {
    for (i, t) in tags.iter().enumerate() {
        let n = i + 1;
        let key = format!("tags.{n}.member.key");
        v.required(&key, &t.key);
        v.length(&key, t.key.as_deref(), 1, 128);
        let value = format!("tags.{n}.member.value");
        v.length(&value, t.value.as_deref(), 0, 256);
    }
}

fn check_replica_regions(v: &mut Validator, regions: &Option<Vec<ReplicaRegionType>>) {
    if let Some(list) = regions {
        v.count("AddReplicaRegions", Some(list.len()), 1, usize::MAX);
        for (i, r) in list.iter().enumerate() {
            let n = i + 1;
            let region = format!("addReplicaRegions.{n}.member.region");
            v.length(&region, r.region.as_deref(), 1, 128);
            v.pattern(&region, r.region.as_deref(), valid_region, REGION_PATTERN);
            let key = format!("addReplicaRegions.{n}.member.kmsKeyId");
            v.length(&key, r.kms_key_id.as_deref(), 0, 2048);
        }
    }
}

fn check_value(v: &mut Validator, s: &Option<SecretText>, b: &Option<Blob>) {
    v.length("SecretString", s.as_ref().map(|s| s.as_str()), 1, 65536);
    v.blob_length("SecretBinary", b.as_ref().map(|b| b.as_slice()), 1, 65536);
}

fn check_token(v: &mut Validator, t: &Option<String>) {
    v.length("ClientRequestToken", t.as_deref(), 32, 64);
}

fn check_filters(v: &mut Validator, filters: &Option<Vec<Filter>>) {
    if let Some(fs) = filters {
        v.count("Filters", Some(fs.len()), 0, 10);
        for (i, f) in fs.iter().enumerate() {
            let n = i + 1;
            v.one_of(
                &format!("filters.{n}.member.key"),
                f.key.as_deref(),
                FILTER_KEYS,
            );
            if let Some(vals) = &f.values {
                v.count(
                    &format!("filters.{n}.member.values"),
                    Some(vals.len()),
                    1,
                    10,
                );
                for val in vals {
                    v.length(&format!("filters.{n}.member.values"), Some(val), 1, 512);
                }
            }
        }
    }
}

fn to_tags(tags: &[TagRec]) -> Option<Vec<Tag>> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|t| Tag {
                key: Some(t.key.clone()),
                value: Some(t.value.clone()),
            })
            .collect()
    })
}

fn merge_tags(into: &mut Vec<TagRec>, tags: &[Tag]) {
    for t in tags {
        let key = t.key.clone().unwrap_or_default();
        let value = t.value.clone().unwrap_or_default();
        match into.iter_mut().find(|x| x.key == key) {
            Some(x) => x.value = value,
            None => into.push(TagRec { key, value }),
        }
    }
}

/// Whether a tag key is in the `aws:` namespace AWS reserves for itself.
fn is_system_tag(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

/// Refuses tag keys in the reserved `aws:` namespace (they can't be added, edited or deleted).
fn check_system_tags<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<(), SmError> {
    match keys.into_iter().find(|k| is_system_tag(k)) {
        Some(k) => Err(SmError::InvalidParameter(format!(
            "You can't modify system tags. Tag key: '{k}'."
        ))),
        None => Ok(()),
    }
}

/// Refuses more than 50 tags on a secret (`aws:` tags don't count).
fn check_tag_count(tags: &[TagRec]) -> Result<(), SmError> {
    if tags.iter().filter(|t| !is_system_tag(&t.key)).count() > MAX_TAGS {
        return Err(SmError::InvalidParameter(TOO_MANY_TAGS.to_string()));
    }
    Ok(())
}

fn stages_map(rec: &SecretRecord) -> Option<BTreeMap<String, Vec<String>>> {
    let m: BTreeMap<String, Vec<String>> = rec
        .versions
        .iter()
        .filter(|v| !v.stages.is_empty())
        .map(|v| (v.id.clone(), v.stages.clone()))
        .collect();
    (!m.is_empty()).then_some(m)
}

fn dedup(stages: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in stages {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Adds a version with `stages`, moving those labels off other versions (AWSCURRENT's old
/// holder gets AWSPREVIOUS). Returns the IDs of deprecated versions dropped over the limit.
fn add_version(
    rec: &mut SecretRecord,
    vid: &str,
    stages: &[String],
    now: i64,
    kms_key_id: Option<String>,
) -> Vec<String> {
    let stages = dedup(stages);
    if stages.iter().any(|s| s == AWSCURRENT) {
        retire_current(rec);
    }
    for stage in stages.iter().filter(|s| *s != AWSCURRENT) {
        for v in &mut rec.versions {
            v.stages.retain(|s| s != stage);
        }
    }
    rec.versions.push(VersionMeta {
        id: vid.to_string(),
        stages,
        created: now,
        last_accessed: None,
        kms_key_id,
    });
    prune_deprecated(rec)
}

/// Takes `AWSCURRENT` off its holder, which gets `AWSPREVIOUS` (taken off every other version).
fn retire_current(rec: &mut SecretRecord) {
    for v in &mut rec.versions {
        v.stages.retain(|s| s != AWSPREVIOUS);
    }
    if let Some(old) = rec
        .versions
        .iter_mut()
        .find(|v| v.stages.iter().any(|s| s == AWSCURRENT))
    {
        old.stages.retain(|s| s != AWSCURRENT);
        old.stages.push(AWSPREVIOUS.to_string());
    }
}

fn prune_deprecated(rec: &mut SecretRecord) -> Vec<String> {
    let deprecated: Vec<String> = rec
        .versions
        .iter()
        .filter(|v| v.stages.is_empty())
        .map(|v| v.id.clone())
        .collect();
    if deprecated.len() <= MAX_DEPRECATED_VERSIONS {
        return Vec::new();
    }
    let drop: Vec<String> = deprecated[..deprecated.len() - MAX_DEPRECATED_VERSIONS].to_vec();
    rec.versions.retain(|v| !drop.contains(&v.id));
    drop
}

fn random_suffix() -> Result<String, SmError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(6);
    while out.len() < 6 {
        let bytes = random::array::<16>().map_err(|e| SmError::Internal(e.to_string()))?;
        for b in bytes {
            // 248 = 4 * 62: reject the tail so every character is equally likely.
            if b < 248 && out.len() < 6 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

fn secret_arn(region: &str, account: &str, name: &str, suffix: &str) -> String {
    format!(
        "arn:{}:secretsmanager:{region}:{account}:secret:{name}-{suffix}",
        partition_of(region)
    )
}

/// The ARN of `primary`'s replica in `region` (same name and suffix).
fn replica_arn(primary: &SecretRecord, region: &str) -> String {
    let suffix = primary
        .arn
        .rsplit_once('-')
        .map(|(_, s)| s)
        .unwrap_or_default();
    secret_arn(region, &primary.account, &primary.name, suffix)
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_token(token: &Option<String>) -> Result<usize, SmError> {
    let Some(t) = token else { return Ok(0) };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| SmError::InvalidNextToken(INVALID_NEXT_TOKEN.to_string()))
}

impl SecretsManager {
    /// Reads every Secrets Manager record from the store into memory.
    pub fn load(
        store: Arc<dyn Store>,
        keys: Arc<dyn KeyProvider>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SmError> {
        let mut blobs: HashMap<String, HashMap<String, Arc<SealedValue>>> = HashMap::new();
        for (key, bytes) in store.scan(VERSION_TABLE)? {
            let rec: BlobRecord = serde_json::from_slice(&bytes).map_err(|e| {
                coffer_store::StoreError::Schema(format!("{VERSION_TABLE}/{key}: {e}"))
            })?;
            if rec.v != RECORD_VERSION {
                return Err(coffer_store::StoreError::Schema(format!(
                    "{VERSION_TABLE}/{key}: record version {}",
                    rec.v
                ))
                .into());
            }
            let sealed = rec.decode().ok_or_else(|| {
                coffer_store::StoreError::Schema(format!("{VERSION_TABLE}/{key}: bad base64"))
            })?;
            blobs
                .entry(rec.secret_arn)
                .or_default()
                .insert(rec.version_id, Arc::new(sealed));
        }
        let mut state = State::default();
        for (key, bytes) in store.scan(SECRET_TABLE)? {
            let rec: SecretRecord = serde_json::from_slice(&bytes).map_err(|e| {
                coffer_store::StoreError::Schema(format!("{SECRET_TABLE}/{key}: {e}"))
            })?;
            if rec.v != RECORD_VERSION {
                return Err(coffer_store::StoreError::Schema(format!(
                    "{SECRET_TABLE}/{key}: record version {}",
                    rec.v
                ))
                .into());
            }
            let b = blobs.remove(&rec.arn).unwrap_or_default();
            let k = SecretKey::of(&rec);
            state.by_arn.insert(rec.arn.clone(), k.clone());
            state.secrets.insert(k, Secret::new(rec, b));
        }
        Ok(Self {
            store,
            keys,
            clock,
            state: RwLock::new(state),
            rotators: RwLock::new(RotatorRegistry::new()),
            running: parking_lot::Mutex::new(HashSet::new()),
            authorizer: std::sync::OnceLock::new(),
        })
    }

    /// Empties memory (the dev reset; the caller clears the store).
    pub fn reset(&self) {
        let mut st = self.state.write();
        st.secrets.clear();
        st.by_arn.clear();
    }

    /// Writes the records of secrets whose LastAccessedDate (or a version's) moved on since
    /// they were last written; returns how many. Reads never write: a read only moves an
    /// in-memory date (kept to the day, so each secret is flushed at most once a day), and this
    /// flush (from [`Self::purge_due`], i.e. the scheduler) persists it. Runs under the read
    /// lock, so reads go on meanwhile and no write can interleave.
    pub fn flush_access_dates(&self) -> Result<usize, SmError> {
        let st = self.state.read();
        let mut p = Pending::default();
        let mut flushed = Vec::new();
        for s in st.secrets.values() {
            if s.take_dates_dirty() {
                p.put_secret(&s.snapshot())?;
                flushed.push(s);
            }
        }
        if flushed.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.store.commit(&p.tx) {
            for s in &flushed {
                s.mark_dates_dirty();
            }
            return Err(e.into());
        }
        Ok(flushed.len())
    }

    /// The scheduler's Secrets Manager housekeeping: flushes changed read dates
    /// ([`Self::flush_access_dates`]), then deletes the secrets whose recovery window has
    /// ended; returns how many were deleted.
    pub fn purge_due(&self) -> Result<usize, SmError> {
        if let Err(e) = self.flush_access_dates() {
            tracing::error!(error = %e, "writing LastAccessedDate updates failed; retried at the next run");
        }
        let now = self.clock.now().millis;
        let mut st = self.state.write();
        let mut p = Pending::default();
        for s in st.secrets.values() {
            if s.rec.deletion_date.is_some_and(|d| d <= now) {
                p.remove(s);
            }
        }
        let n = p.removals.len();
        self.commit(&mut st, p)?;
        Ok(n)
    }

    fn commit(&self, st: &mut State, p: Pending) -> Result<(), SmError> {
        if !p.tx.is_empty() {
            self.store.commit(&p.tx)?;
        }
        for k in p.removals {
            if let Some(old) = st.secrets.remove(&k) {
                st.by_arn.remove(&old.rec.arn);
            }
        }
        for s in p.upserts {
            let k = SecretKey::of(&s.rec);
            st.by_arn.insert(s.rec.arn.clone(), k.clone());
            if let Some(old) = st.secrets.insert(k, s) {
                if let Some(new) = st.secrets.get(&SecretKey::of(&old.rec)) {
                    if new.rec.arn != old.rec.arn {
                        st.by_arn.remove(&old.rec.arn);
                    }
                }
            }
        }
        Ok(())
    }

    // ----- lookup -------------------------------------------------------------------------

    fn find_key(st: &State, ctx: &RequestContext, id: &str) -> Option<SecretKey> {
        if id.starts_with("arn:") {
            if let Some(k) = st.by_arn.get(id) {
                return (k.account == ctx.account_id && k.region == ctx.region).then(|| k.clone());
            }
            // A partial ARN: the full ARN without the "-XXXXXX" suffix.
            let parts: Vec<&str> = id.splitn(7, ':').collect();
            if parts.len() != 7
                || parts[2] != "secretsmanager"
                || parts[3] != ctx.region
                || parts[4] != ctx.account_id
                || parts[5] != "secret"
            {
                return None;
            }
            let k = SecretKey::new(&ctx.account_id, &ctx.region, parts[6]);
            let s = st.secrets.get(&k)?;
            return (s.rec.arn.len() == id.len() + 7 && s.rec.arn.starts_with(id)).then_some(k);
        }
        let k = SecretKey::new(&ctx.account_id, &ctx.region, id);
        st.secrets.contains_key(&k).then_some(k)
    }

    fn lookup<'a>(st: &'a State, ctx: &RequestContext, id: &str) -> Result<&'a Secret, SmError> {
        Self::find_key(st, ctx, id)
            .and_then(|k| st.secrets.get(&k))
            .ok_or_else(|| SmError::ResourceNotFound(NOT_FOUND.to_string()))
    }

    /// A secret the caller may change: exists, is not a replica, is not deleted.
    fn writable<'a>(st: &'a State, ctx: &RequestContext, id: &str) -> Result<&'a Secret, SmError> {
        let s = Self::lookup(st, ctx, id)?;
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        if s.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.to_string()));
        }
        Ok(s)
    }

    // ----- crypto -------------------------------------------------------------------------

    fn resolve_key(
        &self,
        ctx: &RequestContext,
        kms_key_id: Option<&str>,
    ) -> Result<String, KeyFailure> {
        match kms_key_id.filter(|k| !k.is_empty()) {
            Some(k) => self.keys.key_arn(ctx, k),
            None => self.keys.default_key_arn(ctx),
        }
    }

    fn seal(
        &self,
        ctx: &RequestContext,
        kms_key_id: Option<&str>,
        arn: &str,
        vid: &str,
        value: &Plain,
    ) -> Result<SealedValue, KeyFailure> {
        let key_arn = self.resolve_key(ctx, kms_key_id)?;
        let (data_key, kms_blob) =
            self.keys
                .generate_data_key(ctx, &key_arn, &enc_ctx(arn, vid))?;
        let sealed = aead::seal(&data_key, &aad(arn, vid, value.binary), &value.bytes)
            .map_err(|e| KeyFailure::Internal(format!("sealing a secret value: {e}")))?;
        Ok(SealedValue {
            kms_blob,
            sealed,
            binary: value.binary,
        })
    }

    fn open(&self, ctx: &RequestContext, s: &Secret, vid: &str) -> Result<Plain, SmError> {
        let b = s.blobs.get(vid).ok_or_else(|| {
            SmError::Internal(format!("no ciphertext for a version of {}", s.rec.arn))
        })?;
        self.open_sealed(ctx, &s.rec, vid, b)
    }

    /// Opens one version's ciphertext, asking KMS in the secret's region.
    fn open_sealed(
        &self,
        ctx: &RequestContext,
        rec: &SecretRecord,
        vid: &str,
        b: &SealedValue,
    ) -> Result<Plain, SmError> {
        let rctx = ctx.in_region(&rec.region);
        let data_key = self
            .keys
            .decrypt(&rctx, &b.kms_blob, &enc_ctx(&rec.arn, vid))
            .map_err(decryption_failure)?;
        let bytes =
            aead::open(&data_key, &aad(&rec.arn, vid, b.binary), &b.sealed).map_err(|_| {
                SmError::Internal(format!("a version of {} failed authentication", rec.arn))
            })?;
        Ok(Plain {
            bytes,
            binary: b.binary,
        })
    }

    // ----- replication --------------------------------------------------------------------

    fn replication_status(
        &self,
        st: &State,
        rec: &SecretRecord,
    ) -> Option<Vec<ReplicationStatusType>> {
        if rec.replicas.is_empty() {
            return None;
        }
        Some(
            rec.replicas
                .iter()
                .map(|r| {
                    let last = st
                        .secrets
                        .get(&SecretKey::new(&rec.account, &r.region, &rec.name))
                        .filter(|s| s.rec.arn == replica_arn(rec, &r.region))
                        .and_then(Secret::last_accessed)
                        .map(ts);
                    ReplicationStatusType {
                        region: Some(r.region.clone()),
                        kms_key_id: Some(
                            r.kms_key_id
                                .clone()
                                .unwrap_or_else(|| DEFAULT_KEY_ALIAS.to_string()),
                        ),
                        status: Some(r.status.clone()),
                        status_message: r.message.clone(),
                        last_accessed_date: last,
                    }
                })
                .collect(),
        )
    }

    /// Creates the replica of `prec` in `region` from the given plaintext versions.
    #[allow(clippy::too_many_arguments)]
    fn create_replica(
        &self,
        st: &State,
        ctx: &RequestContext,
        prec: &SecretRecord,
        plains: &[(String, Plain)],
        region: &str,
        kms_key_id: Option<String>,
        force: bool,
        p: &mut Pending,
    ) -> Result<ReplicaRec, SmError> {
        let failed = |message: String| ReplicaRec {
            region: region.to_string(),
            kms_key_id: kms_key_id.clone(),
            status: FAILED.to_string(),
            message: Some(message),
        };
        let key = SecretKey::new(&prec.account, region, &prec.name);
        let existing = st.secrets.get(&key);
        if let Some(e) = existing {
            if !force || !e.rec.replicas.is_empty() {
                return Ok(failed(format!(
                    "Replication failed: Secret name {} already exists in region {region}.",
                    prec.name
                )));
            }
        }
        let rctx = ctx.in_region(region);
        let arn = replica_arn(prec, region);
        let mut blobs = HashMap::new();
        if let Err(f) = self.resolve_key(&rctx, kms_key_id.as_deref()) {
            return Ok(failed(replication_failed(&f)));
        }
        for (vid, plain) in plains {
            match self.seal(&rctx, kms_key_id.as_deref(), &arn, vid, plain) {
                Ok(b) => {
                    blobs.insert(vid.clone(), Arc::new(b));
                }
                Err(f) => return Ok(failed(replication_failed(&f))),
            }
        }
        if let Some(e) = existing {
            p.remove(e);
        }
        let mut rrec = SecretRecord {
            v: RECORD_VERSION,
            account: prec.account.clone(),
            region: region.to_string(),
            name: prec.name.clone(),
            arn,
            description: None,
            kms_key_id: kms_key_id.clone(),
            secret_type: None,
            tags: Vec::new(),
            created: self.clock.now().millis,
            last_changed: prec.last_changed,
            last_accessed: None,
            deleted_date: None,
            deletion_date: None,
            policy: None,
            primary_region: Some(prec.region.clone()),
            replicas: Vec::new(),
            versions: Vec::new(),
            rotation: None,
            cross_account_primary: None,
            cross_account_replicas: Vec::new(),
            managed_policies: BTreeMap::new(),
        };
        mirror(prec, &mut rrec, &blobs, None);
        for (vid, b) in &blobs {
            p.put_blob(&rrec, vid, b)?;
        }
        p.upsert(rrec, blobs)?;
        Ok(ReplicaRec {
            region: region.to_string(),
            kms_key_id,
            status: IN_SYNC.to_string(),
            message: Some(REPLICATION_SUCCEEDED.to_string()),
        })
    }

    /// Brings the replicas of the (already changed) primary `prec` in line with it; a new
    /// version's plaintext is encrypted under each replica's key.
    fn sync_replicas(
        &self,
        st: &State,
        ctx: &RequestContext,
        prec: &mut SecretRecord,
        new_value: Option<(&str, &Plain)>,
        p: &mut Pending,
    ) -> Result<(), SmError> {
        let mut reps = std::mem::take(&mut prec.replicas);
        for rep in &mut reps {
            let key = SecretKey::new(&prec.account, &rep.region, &prec.name);
            let Some(replica) = st.secrets.get(&key) else {
                continue;
            };
            if replica.rec.arn != replica_arn(prec, &rep.region)
                || replica.rec.primary_region.as_deref() != Some(prec.region.as_str())
            {
                continue;
            }
            let old = replica.snapshot();
            let mut rrec = old.clone();
            let mut blobs = replica.blobs.clone();
            if let Some((vid, plain)) = new_value {
                let rctx = ctx.in_region(&rep.region);
                match self.seal(&rctx, rrec.kms_key_id.as_deref(), &rrec.arn, vid, plain) {
                    Ok(b) => {
                        p.put_blob(&rrec, vid, &b)?;
                        blobs.insert(vid.to_string(), Arc::new(b));
                        rep.status = IN_SYNC.to_string();
                        rep.message = Some(REPLICATION_SUCCEEDED.to_string());
                    }
                    Err(f) => {
                        rep.status = FAILED.to_string();
                        rep.message = Some(replication_failed(&f));
                    }
                }
            }
            mirror(prec, &mut rrec, &blobs, Some(&old));
            let live: HashSet<&str> = rrec.versions.iter().map(|v| v.id.as_str()).collect();
            let dead: Vec<String> = blobs
                .keys()
                .filter(|k| !live.contains(k.as_str()))
                .cloned()
                .collect();
            for vid in dead {
                p.delete_blob(&rrec, &vid);
                blobs.remove(&vid);
            }
            p.upsert(rrec, blobs)?;
        }
        prec.replicas = reps;
        self.sync_cross_account(st, ctx, prec, new_value, p)
    }

    // ----- operations ---------------------------------------------------------------------

    /// CreateSecret.
    pub fn create_secret(
        &self,
        ctx: &RequestContext,
        req: CreateSecretRequest,
    ) -> Result<CreateSecretResponse, SmError> {
        let mut v = Validator::new();
        v.required("Name", &req.name);
        v.length("Name", req.name.as_deref(), 1, 512);
        check_token(&mut v, &req.client_request_token);
        v.length("Description", req.description.as_deref(), 0, 2048);
        v.length("KmsKeyId", req.kms_key_id.as_deref(), 0, 2048);
        check_value(&mut v, &req.secret_string, &req.secret_binary);
        if let Some(tags) = &req.tags {
            check_tags(&mut v, tags);
        }
        check_replica_regions(&mut v, &req.add_replica_regions);
        v.length("Type", req.secret_type.as_deref(), 0, 256);
        v.length(
            "CrossAccountPrimaryARN",
            req.cross_account_primary_arn.as_deref(),
            20,
            2048,
        );
        finish(v)?;
        let name = req.name.clone().unwrap_or_default();
        if !valid_name(&name) {
            return Err(SmError::validation(INVALID_NAME));
        }
        let cross_primary = blank_to_none(&req.cross_account_primary_arn);
        if let Some(primary) = &cross_primary {
            Self::check_cross_account_create(ctx, &req, primary)?;
        }
        check_system_tags(req.tags.iter().flatten().filter_map(|t| t.key.as_deref()))?;
        if req.secret_string.is_some() && req.secret_binary.is_some() {
            return Err(SmError::InvalidParameter(BOTH_VALUES.to_string()));
        }
        let value = Plain::from_request(&req.secret_string, &req.secret_binary);
        if value.is_some() && req.client_request_token.is_none() {
            return Err(SmError::InvalidRequest(TOKEN_REQUIRED.to_string()));
        }
        let replicas = req.add_replica_regions.clone().unwrap_or_default();
        let mut seen = HashSet::new();
        for r in &replicas {
            let region = r.region.clone().unwrap_or_default();
            if region == ctx.region || !seen.insert(region) {
                return Err(SmError::InvalidParameter(
                    INVALID_REPLICA_REGION.to_string(),
                ));
            }
        }

        let mut st = self.state.write();
        let key = SecretKey::new(&ctx.account_id, &ctx.region, &name);
        if let Some(existing) = st.secrets.get(&key) {
            if existing.is_deleted() {
                return Err(SmError::InvalidRequest(SCHEDULED_FOR_DELETION.to_string()));
            }
            // A retry with the same token and the same value is answered as the original was.
            if let (Some(token), Some(value)) = (&req.client_request_token, &value) {
                if !existing.is_replica() && existing.rec.version(token).is_some() {
                    let stored = self.open(ctx, existing, token)?;
                    if stored.same_as(value) {
                        return Ok(CreateSecretResponse {
                            arn: Some(existing.rec.arn.clone()),
                            name: Some(existing.rec.name.clone()),
                            version_id: Some(token.clone()),
                            replication_status: self.replication_status(&st, &existing.rec),
                        });
                    }
                }
            }
            return Err(SmError::ResourceExists(format!(
                "The operation failed because the secret {name} already exists."
            )));
        }

        let kms_key_id = blank_to_none(&req.kms_key_id);
        if let Some(k) = &kms_key_id {
            self.keys.key_arn(ctx, k).map_err(encryption_failure)?;
        }
        let mut arn = secret_arn(&ctx.region, &ctx.account_id, &name, &random_suffix()?);
        while st.by_arn.contains_key(&arn) {
            arn = secret_arn(&ctx.region, &ctx.account_id, &name, &random_suffix()?);
        }
        let now = self.clock.now().millis;
        let mut rec = SecretRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            name: name.clone(),
            arn,
            description: req.description.clone(),
            kms_key_id,
            secret_type: req.secret_type.clone(),
            tags: Vec::new(),
            created: now,
            last_changed: now,
            last_accessed: None,
            deleted_date: None,
            deletion_date: None,
            policy: None,
            primary_region: None,
            replicas: Vec::new(),
            versions: Vec::new(),
            rotation: None,
            cross_account_primary: None,
            cross_account_replicas: Vec::new(),
            managed_policies: BTreeMap::new(),
        };
        merge_tags(&mut rec.tags, req.tags.as_deref().unwrap_or_default());
        check_tag_count(&rec.tags)?;
        if let Some(primary) = &cross_primary {
            Self::make_cross_account_replica(&mut rec, primary);
        }
        let mut p = Pending::default();
        let mut blobs = HashMap::new();
        let mut plains = Vec::new();
        let mut version_id = None;
        if let (Some(value), Some(token)) = (value, &req.client_request_token) {
            let sealed = self
                .seal(ctx, rec.kms_key_id.as_deref(), &rec.arn, token, &value)
                .map_err(encryption_failure)?;
            let k = rec.kms_key_id.clone();
            add_version(&mut rec, token, &[AWSCURRENT.to_string()], now, k);
            p.put_blob(&rec, token, &sealed)?;
            blobs.insert(token.clone(), Arc::new(sealed));
            plains.push((token.clone(), value));
            version_id = Some(token.clone());
        }
        let force = req.force_overwrite_replica_secret.unwrap_or(false);
        for r in &replicas {
            let region = r.region.clone().unwrap_or_default();
            let status = self.create_replica(
                &st,
                ctx,
                &rec,
                &plains,
                &region,
                blank_to_none(&r.kms_key_id),
                force,
                &mut p,
            )?;
            rec.replicas.push(status);
        }
        let replication_status = self.replication_status(&st, &rec);
        let resp = CreateSecretResponse {
            arn: Some(rec.arn.clone()),
            name: Some(name),
            version_id,
            replication_status,
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    fn describe(&self, st: &State, s: &Secret) -> DescribeSecretResponse {
        let rec = &s.rec;
        let rot = rotate::rotation_view(rec);
        let (cross_account_primary, cross_account_replicas) = Self::cross_account_view(rec);
        DescribeSecretResponse {
            arn: Some(rec.arn.clone()),
            name: Some(rec.name.clone()),
            secret_type: rec.secret_type.clone(),
            description: blank_to_none(&rec.description),
            kms_key_id: rec.kms_key_id.clone(),
            rotation_enabled: rot.enabled,
            rotation_lambda_arn: rot.lambda_arn,
            rotation_rules: rot.rules,
            last_rotated_date: rot.last_rotated,
            next_rotation_date: rot.next_rotation,
            last_changed_date: Some(ts(rec.last_changed)),
            last_accessed_date: s.last_accessed().map(ts),
            deleted_date: rec.deleted_date.map(ts),
            tags: to_tags(&rec.tags),
            version_ids_to_stages: stages_map(rec),
            owning_service: None,
            created_date: Some(ts(rec.created)),
            primary_region: primary_region(rec),
            replication_status: self.replication_status(st, rec),
            cross_account_primary,
            cross_account_replicas,
        }
    }

    /// DescribeSecret.
    pub fn describe_secret(
        &self,
        ctx: &RequestContext,
        req: DescribeSecretRequest,
    ) -> Result<DescribeSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let st = self.state.read();
        let s = Self::lookup(&st, ctx, &id)?;
        Ok(self.describe(&st, s))
    }

    /// GetSecretValue.
    pub fn get_secret_value(
        &self,
        ctx: &RequestContext,
        req: GetSecretValueRequest,
    ) -> Result<GetSecretValueResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.length("VersionId", req.version_id.as_deref(), 32, 64);
            v.length("VersionStage", req.version_stage.as_deref(), 1, 256);
        })?;
        let st = self.state.read();
        let s = Self::lookup(&st, ctx, &id)?;
        let (vid, stages, created, plain) = self.read_value(
            ctx,
            s,
            req.version_id.as_deref(),
            req.version_stage.as_deref(),
        )?;
        let (secret_string, secret_binary) = split_value(plain)?;
        Ok(GetSecretValueResponse {
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
            version_id: Some(vid),
            secret_binary,
            secret_string,
            version_stages: Some(stages),
            created_date: Some(ts(created)),
        })
    }

    /// Reads a version's value (by ID, label or AWSCURRENT) and records the access.
    fn read_value(
        &self,
        ctx: &RequestContext,
        s: &Secret,
        version_id: Option<&str>,
        version_stage: Option<&str>,
    ) -> Result<(String, Vec<String>, i64, Plain), SmError> {
        if s.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.to_string()));
        }
        let version = match (version_id, version_stage) {
            (Some(id), stage) => {
                let v = s.rec.version(id).ok_or_else(|| {
                    SmError::ResourceNotFound(format!(
                        "Secrets Manager can't find the specified secret value for VersionId: {id}"
                    ))
                })?;
                if let Some(stage) = stage {
                    if !v.stages.iter().any(|x| x == stage) {
                        return Err(SmError::InvalidRequest(
                            "You provided a VersionStage that is not associated to the provided VersionId."
                                .to_string(),
                        ));
                    }
                }
                v
            }
            (None, stage) => {
                let stage = stage.unwrap_or(AWSCURRENT);
                s.rec.version_with_stage(stage).ok_or_else(|| {
                    SmError::ResourceNotFound(format!(
                        "Secrets Manager can't find the specified secret value for staging label: {stage}"
                    ))
                })?
            }
        };
        if !s.blobs.contains_key(&version.id) {
            // An empty version (a rotation's AWSPENDING before its value is put).
            return Err(SmError::ResourceNotFound(match version_id {
                Some(id) => format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {id}"
                ),
                None => format!(
                    "Secrets Manager can't find the specified secret value for staging label: {}",
                    version_stage.unwrap_or(AWSCURRENT)
                ),
            }));
        }
        let plain = self.open(ctx, s, &version.id)?;
        s.touch(&version.id, self.clock.now().truncate_to_day().millis);
        Ok((
            version.id.clone(),
            version.stages.clone(),
            version.created,
            plain,
        ))
    }

    /// PutSecretValue.
    pub fn put_secret_value(
        &self,
        ctx: &RequestContext,
        req: PutSecretValueRequest,
    ) -> Result<PutSecretValueResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            check_token(v, &req.client_request_token);
            check_value(v, &req.secret_string, &req.secret_binary);
            if let Some(stages) = &req.version_stages {
                v.count("VersionStages", Some(stages.len()), 1, 20);
                for s in stages {
                    v.length("VersionStages", Some(s), 1, 256);
                }
            }
            v.length(
                "RotationToken",
                req.rotation_token.as_ref().map(|t| t.as_str()),
                36,
                256,
            );
        })?;
        if req.secret_string.is_some() && req.secret_binary.is_some() {
            return Err(SmError::InvalidParameter(BOTH_VALUES.to_string()));
        }
        let Some(value) = Plain::from_request(&req.secret_string, &req.secret_binary) else {
            return Err(SmError::InvalidRequest(NO_VALUE.to_string()));
        };
        let Some(token) = req.client_request_token.clone() else {
            return Err(SmError::InvalidRequest(TOKEN_REQUIRED.to_string()));
        };
        let stages = req
            .version_stages
            .clone()
            .unwrap_or_else(|| vec![AWSCURRENT.to_string()]);

        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, &id)?;
        Self::check_not_cross_account_replica(&s.rec)?;
        // An empty version (a rotation's AWSPENDING) gets its value now.
        let filling = s
            .rec
            .version(&token)
            .filter(|_| !s.blobs.contains_key(&token))
            .map(|v| v.created);
        if let Some(existing) = s.rec.version(&token).filter(|_| filling.is_none()) {
            let stored = self.open(ctx, s, &token)?;
            if stored.same_as(&value) {
                return Ok(PutSecretValueResponse {
                    arn: Some(s.rec.arn.clone()),
                    name: Some(s.rec.name.clone()),
                    version_id: Some(token),
                    version_stages: Some(existing.stages.clone()),
                });
            }
            return Err(SmError::ResourceExists(VERSION_EXISTS.to_string()));
        }
        let mut rec = s.snapshot();
        let mut blobs = s.blobs.clone();
        let now = self.clock.now().millis;
        let sealed = self
            .seal(ctx, rec.kms_key_id.as_deref(), &rec.arn, &token, &value)
            .map_err(encryption_failure)?;
        let mut p = Pending::default();
        let k = rec.kms_key_id.clone();
        if filling.is_some() {
            rec.versions.retain(|v| v.id != token);
        }
        let dropped = add_version(&mut rec, &token, &stages, now, k);
        if let (Some(created), Some(v)) = (filling, rec.versions.iter_mut().find(|v| v.id == token))
        {
            v.created = created;
        }
        if stages.iter().any(|s| s == AWSCURRENT) {
            rotate::note_manual_update(&mut rec, now);
        }
        rec.last_changed = now;
        for vid in &dropped {
            p.delete_blob(&rec, vid);
            blobs.remove(vid);
        }
        p.put_blob(&rec, &token, &sealed)?;
        blobs.insert(token.clone(), Arc::new(sealed));
        self.sync_replicas(&st, ctx, &mut rec, Some((&token, &value)), &mut p)?;
        let resp = PutSecretValueResponse {
            arn: Some(rec.arn.clone()),
            name: Some(rec.name.clone()),
            version_id: Some(token.clone()),
            version_stages: rec.version(&token).map(|v| v.stages.clone()),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// UpdateSecret.
    pub fn update_secret(
        &self,
        ctx: &RequestContext,
        req: UpdateSecretRequest,
    ) -> Result<UpdateSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            check_token(v, &req.client_request_token);
            v.length("Description", req.description.as_deref(), 0, 2048);
            v.length("KmsKeyId", req.kms_key_id.as_deref(), 0, 2048);
            check_value(v, &req.secret_string, &req.secret_binary);
            v.length("Type", req.secret_type.as_deref(), 0, 256);
        })?;
        if req.secret_string.is_some() && req.secret_binary.is_some() {
            return Err(SmError::InvalidParameter(BOTH_VALUES.to_string()));
        }
        let value = Plain::from_request(&req.secret_string, &req.secret_binary);
        if value.is_some() && req.client_request_token.is_none() {
            return Err(SmError::InvalidRequest(TOKEN_REQUIRED.to_string()));
        }

        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, &id)?;
        if value.is_some() {
            Self::check_not_cross_account_replica(&s.rec)?;
        }
        let mut rec = s.snapshot();
        let mut blobs = s.blobs.clone();
        let mut p = Pending::default();
        let now = self.clock.now().millis;
        if let Some(d) = &req.description {
            rec.description = Some(d.clone());
        }
        if let Some(t) = &req.secret_type {
            rec.secret_type = Some(t.clone());
        }
        let mut version_id = None;
        if let Some(k) = &req.kms_key_id {
            let new_key = blank_to_none(&Some(k.clone()));
            if new_key != rec.kms_key_id {
                self.resolve_key(ctx, new_key.as_deref())
                    .map_err(encryption_failure)?;
                // Re-encrypt the labelled versions under the new key.
                if value.is_none() {
                    let labelled: Vec<String> = rec
                        .versions
                        .iter()
                        .filter(|v| !v.stages.is_empty() && s.blobs.contains_key(&v.id))
                        .map(|v| v.id.clone())
                        .collect();
                    for vid in labelled {
                        let plain = self.open(ctx, s, &vid)?;
                        let sealed = self
                            .seal(ctx, new_key.as_deref(), &rec.arn, &vid, &plain)
                            .map_err(encryption_failure)?;
                        p.put_blob(&rec, &vid, &sealed)?;
                        blobs.insert(vid.clone(), Arc::new(sealed));
                        if let Some(m) = rec.versions.iter_mut().find(|m| m.id == vid) {
                            m.kms_key_id = new_key.clone();
                        }
                    }
                }
                rec.kms_key_id = new_key;
            }
        }
        if let (Some(value), Some(token)) = (&value, &req.client_request_token) {
            if rec.version(token).is_some() && !blobs.contains_key(token) {
                // An empty version (a rotation's AWSPENDING): replaced by the new one.
                rec.versions.retain(|v| &v.id != token);
            }
            if rec.version(token).is_some() {
                let stored = self.open(ctx, s, token)?;
                if !stored.same_as(value) {
                    return Err(SmError::ResourceExists(VERSION_EXISTS.to_string()));
                }
            } else {
                let sealed = self
                    .seal(ctx, rec.kms_key_id.as_deref(), &rec.arn, token, value)
                    .map_err(encryption_failure)?;
                let k = rec.kms_key_id.clone();
                let dropped = add_version(&mut rec, token, &[AWSCURRENT.to_string()], now, k);
                for vid in &dropped {
                    p.delete_blob(&rec, vid);
                    blobs.remove(vid);
                }
                p.put_blob(&rec, token, &sealed)?;
                blobs.insert(token.clone(), Arc::new(sealed));
                rotate::note_manual_update(&mut rec, now);
                version_id = Some(token.clone());
            }
        }
        rec.last_changed = now;
        let new_value = match (&value, &version_id) {
            (Some(v), Some(id)) => Some((id.as_str(), v)),
            _ => None,
        };
        self.sync_replicas(&st, ctx, &mut rec, new_value, &mut p)?;
        let resp = UpdateSecretResponse {
            arn: Some(rec.arn.clone()),
            name: Some(rec.name.clone()),
            version_id: version_id.clone(),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// GetResourcePolicy: the caller's policy (`default`) or a managed one by name.
    pub fn get_resource_policy(
        &self,
        ctx: &RequestContext,
        req: GetResourcePolicyRequest,
    ) -> Result<GetResourcePolicyResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| check_policy_name(v, &req.policy_name))?;
        let name = req
            .policy_name
            .clone()
            .unwrap_or_else(|| cross_account::DEFAULT_POLICY.to_string());
        let st = self.state.read();
        let s = Self::lookup(&st, ctx, &id)?;
        if s.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.to_string()));
        }
        let policy = if name == cross_account::DEFAULT_POLICY {
            s.rec.policy.clone()
        } else {
            let managed = s.rec.managed_policies.get(&name).cloned();
            Some(managed.ok_or_else(|| {
                SmError::ResourceNotFound(format!(
                    "Secrets Manager can't find a resource policy named {name} on the secret."
                ))
            })?)
        };
        Ok(GetResourcePolicyResponse {
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
            // Named only when there is a policy: a secret without one answers with ARN and Name.
            policy_name: policy.is_some().then_some(name),
            resource_policy: policy,
        })
    }

    /// PutResourcePolicy (the policy is stored, not evaluated; with BlockPublicPolicy a policy
    /// granting public access is refused, see [`policy::is_public`]).
    pub fn put_resource_policy(
        &self,
        ctx: &RequestContext,
        req: PutResourcePolicyRequest,
    ) -> Result<PutResourcePolicyResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("ResourcePolicy", &req.resource_policy);
            v.length("ResourcePolicy", req.resource_policy.as_deref(), 1, 20480);
            check_policy_name(v, &req.policy_name);
        })?;
        only_default_policy(&req.policy_name)?;
        let policy = req.resource_policy.clone().unwrap_or_default();
        check_policy_syntax(&policy)?;
        // The evaluator must be able to read what is stored (ADR 0009).
        coffer_policy::Policy::parse(&policy)
            .and_then(|p| p.validate(coffer_policy::PolicyKind::Resource))
            .map_err(|e| SmError::MalformedPolicyDocument(e.to_string()))?;
        let block_public = req.block_public_policy.unwrap_or(false);
        let r = self.change(ctx, &id, |rec| {
            if block_public && policy::is_public(&policy) {
                return Err(SmError::PublicPolicy(PUBLIC_POLICY.to_string()));
            }
            rec.policy = Some(policy.clone());
            Ok(())
        })?;
        Ok(named_policy_response(r))
    }

    /// DeleteResourcePolicy (only the caller's own, `default`, policy).
    pub fn delete_resource_policy(
        &self,
        ctx: &RequestContext,
        req: DeleteResourcePolicyRequest,
    ) -> Result<DeleteResourcePolicyResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| check_policy_name(v, &req.policy_name))?;
        only_default_policy(&req.policy_name)?;
        let r = self.change(ctx, &id, |rec| {
            rec.policy = None;
            Ok(())
        })?;
        Ok(named_policy_response(r))
    }

    /// ListResourcePolicies: `default` first (when set), then the managed ones alphabetically.
    pub fn list_resource_policies(
        &self,
        ctx: &RequestContext,
        req: ListResourcePoliciesRequest,
    ) -> Result<ListResourcePoliciesResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.range("MaxResults", req.max_results, 1, 100);
            v.length("NextToken", req.next_token.as_deref(), 1, 4096);
        })?;
        let offset = decode_token(&req.next_token)?;
        let page = usize::try_from(req.max_results.unwrap_or(100)).unwrap_or(100);
        let st = self.state.read();
        let s = Self::lookup(&st, ctx, &id)?;
        let names: Vec<&str> = s
            .rec
            .policy
            .iter()
            .map(|_| cross_account::DEFAULT_POLICY)
            .chain(s.rec.managed_policies.keys().map(String::as_str))
            .collect();
        let end = names.len().min(offset.saturating_add(page));
        Ok(ListResourcePoliciesResponse {
            resource_policies: names
                .get(offset..end)
                .unwrap_or_default()
                .iter()
                .map(|n| ResourcePolicySummary {
                    policy_name: Some(n.to_string()),
                })
                .collect(),
            next_token: (end < names.len()).then(|| encode_token(end)),
        })
    }

    /// ValidateResourcePolicy: a policy that is not a JSON object is malformed; otherwise the
    /// IAM grammar and public-access findings of [`policy::findings`].
    pub fn validate_resource_policy(
        &self,
        ctx: &RequestContext,
        req: ValidateResourcePolicyRequest,
    ) -> Result<ValidateResourcePolicyResponse, SmError> {
        let mut v = Validator::new();
        v.length("SecretId", req.secret_id.as_deref(), 1, 2048);
        v.required("ResourcePolicy", &req.resource_policy);
        v.length("ResourcePolicy", req.resource_policy.as_deref(), 1, 20480);
        finish(v)?;
        if let Some(id) = &req.secret_id {
            secret_id_chars(id)?;
            let st = self.state.read();
            Self::lookup(&st, ctx, id)?;
        }
        let doc = req.resource_policy.as_deref().unwrap_or_default();
        check_policy_syntax(doc)?;
        let findings = policy::findings(doc);
        Ok(ValidateResourcePolicyResponse {
            policy_validation_passed: Some(findings.is_empty()),
            validation_errors: Some(
                findings
                    .into_iter()
                    .map(|(check, message)| ValidationErrorsEntry {
                        check_name: Some(check.to_string()),
                        error_message: Some(message),
                    })
                    .collect(),
            ),
        })
    }

    /// Applies a metadata change to a writable primary (and its replicas), stamping LastChangedDate.
    fn change(
        &self,
        ctx: &RequestContext,
        id: &str,
        f: impl FnOnce(&mut SecretRecord) -> Result<(), SmError>,
    ) -> Result<ArnNameResponse, SmError> {
        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, id)?;
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        f(&mut rec)?;
        rec.last_changed = self.clock.now().millis;
        let mut p = Pending::default();
        self.sync_replicas(&st, ctx, &mut rec, None, &mut p)?;
        let resp = ArnNameResponse {
            arn: Some(rec.arn.clone()),
            name: Some(rec.name.clone()),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// TagResource.
    pub fn tag_resource(
        &self,
        ctx: &RequestContext,
        req: TagResourceRequest,
    ) -> Result<(), SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("Tags", &req.tags);
            if let Some(tags) = &req.tags {
                check_tags(v, tags);
            }
        })?;
        let tags = req.tags.clone().unwrap_or_default();
        check_system_tags(tags.iter().filter_map(|t| t.key.as_deref()))?;
        self.change_any(ctx, &id, |rec| {
            merge_tags(&mut rec.tags, &tags);
            check_tag_count(&rec.tags)
        })
    }

    /// UntagResource.
    pub fn untag_resource(
        &self,
        ctx: &RequestContext,
        req: UntagResourceRequest,
    ) -> Result<(), SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("TagKeys", &req.tag_keys);
            for k in req.tag_keys.iter().flatten() {
                v.length("TagKeys", Some(k), 1, 128);
            }
        })?;
        let keys = req.tag_keys.clone().unwrap_or_default();
        check_system_tags(keys.iter().map(String::as_str))?;
        self.change_any(ctx, &id, |rec| {
            rec.tags.retain(|t| !keys.contains(&t.key));
            Ok(())
        })
    }

    /// Like [`Self::change`] but also allowed on secrets scheduled for deletion (tagging).
    fn change_any(
        &self,
        ctx: &RequestContext,
        id: &str,
        f: impl FnOnce(&mut SecretRecord) -> Result<(), SmError>,
    ) -> Result<(), SmError> {
        let mut st = self.state.write();
        let s = Self::lookup(&st, ctx, id)?;
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        f(&mut rec)?;
        rec.last_changed = self.clock.now().millis;
        let mut p = Pending::default();
        self.sync_replicas(&st, ctx, &mut rec, None, &mut p)?;
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)
    }

    /// DeleteSecret.
    pub fn delete_secret(
        &self,
        ctx: &RequestContext,
        req: DeleteSecretRequest,
    ) -> Result<DeleteSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let force = req.force_delete_without_recovery.unwrap_or(false);
        if force && req.recovery_window_in_days.is_some_and(|d| d != 0) {
            return Err(SmError::InvalidParameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
                    .to_string(),
            ));
        }
        let window = req.recovery_window_in_days.unwrap_or(30);
        if !force && !(7..=30).contains(&window) {
            return Err(SmError::InvalidParameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
                    .to_string(),
            ));
        }
        let mut st = self.state.write();
        let s = match Self::lookup(&st, ctx, &id) {
            Ok(s) => s,
            // "If you forcibly delete an already deleted or nonexistent secret, the operation
            // does not return ResourceNotFoundException": it answers as if it had deleted it.
            Err(SmError::ResourceNotFound(_)) if force => {
                let (arn, name) = match id.strip_prefix("arn:") {
                    Some(_) => (
                        id.clone(),
                        id.splitn(7, ':').nth(6).unwrap_or_default().to_string(),
                    ),
                    None => (
                        secret_arn(&ctx.region, &ctx.account_id, &id, &random_suffix()?),
                        id.clone(),
                    ),
                };
                return Ok(DeleteSecretResponse {
                    arn: Some(arn),
                    name: Some(name),
                    deletion_date: Some(self.clock.now()),
                });
            }
            Err(e) => return Err(e),
        };
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        if !s.rec.replicas.is_empty() {
            let regions: Vec<&str> = s.rec.replicas.iter().map(|r| r.region.as_str()).collect();
            return Err(SmError::InvalidParameter(format!(
                "You can't delete secret {} that still has replica regions [{}].",
                s.rec.arn,
                regions.join(", ")
            )));
        }
        Self::check_cross_account_delete(&s.rec)?;
        if s.is_deleted() && !force {
            return Err(SmError::InvalidRequest(ALREADY_MARKED_DELETED.to_string()));
        }
        let now = self.clock.now();
        let mut p = Pending::default();
        let resp_of = |deletion: Timestamp| DeleteSecretResponse {
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
            deletion_date: Some(deletion),
        };
        if force {
            let resp = resp_of(now);
            p.remove(s);
            self.commit(&mut st, p)?;
            return Ok(resp);
        }
        let deletion = now.plus_days(window);
        let resp = resp_of(deletion);
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        rec.deleted_date = Some(now.millis);
        rec.deletion_date = Some(deletion.millis);
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// RestoreSecret.
    pub fn restore_secret(
        &self,
        ctx: &RequestContext,
        req: RestoreSecretRequest,
    ) -> Result<RestoreSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let mut st = self.state.write();
        let s = Self::lookup(&st, ctx, &id)?;
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        let resp = ArnNameResponse {
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
        };
        if !s.is_deleted() {
            return Ok(resp);
        }
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        rec.deleted_date = None;
        rec.deletion_date = None;
        let mut p = Pending::default();
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// ReplicateSecretToRegions.
    pub fn replicate_secret_to_regions(
        &self,
        ctx: &RequestContext,
        req: ReplicateSecretToRegionsRequest,
    ) -> Result<ReplicateSecretToRegionsResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("AddReplicaRegions", &req.add_replica_regions);
            check_replica_regions(v, &req.add_replica_regions);
        })?;
        let add = req.add_replica_regions.clone().unwrap_or_default();
        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, &id)?;
        Self::check_not_cross_account_replica(&s.rec)?;
        let mut seen: HashSet<String> = s.rec.replicas.iter().map(|r| r.region.clone()).collect();
        for r in &add {
            let region = r.region.clone().unwrap_or_default();
            if region == ctx.region || !seen.insert(region) {
                return Err(SmError::InvalidParameter(
                    INVALID_REPLICA_REGION.to_string(),
                ));
            }
        }
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        let mut plains = Vec::new();
        let mut read_failure = None;
        for v in rec.versions.iter().filter(|v| s.blobs.contains_key(&v.id)) {
            match self.open(ctx, s, &v.id) {
                Ok(plain) => plains.push((v.id.clone(), plain)),
                Err(SmError::DecryptionFailure(m)) => {
                    read_failure = Some(format!("Replication failed: {m}"));
                    break;
                }
                Err(SmError::AccessDenied(m)) => {
                    read_failure = Some(format!("Replication failed: {m}"));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let force = req.force_overwrite_replica_secret.unwrap_or(false);
        let mut p = Pending::default();
        for r in &add {
            let region = r.region.clone().unwrap_or_default();
            let kms = blank_to_none(&r.kms_key_id);
            let status = match &read_failure {
                Some(m) => ReplicaRec {
                    region,
                    kms_key_id: kms,
                    status: FAILED.to_string(),
                    message: Some(m.clone()),
                },
                None => {
                    self.create_replica(&st, ctx, &rec, &plains, &region, kms, force, &mut p)?
                }
            };
            rec.replicas.push(status);
        }
        let resp = ReplicationResponse {
            arn: Some(rec.arn.clone()),
            replication_status: self.replication_status(&st, &rec),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// RemoveRegionsFromReplication: deletes the replicas in those regions.
    pub fn remove_regions_from_replication(
        &self,
        ctx: &RequestContext,
        req: RemoveRegionsFromReplicationRequest,
    ) -> Result<RemoveRegionsFromReplicationResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("RemoveReplicaRegions", &req.remove_replica_regions);
            if let Some(rs) = &req.remove_replica_regions {
                v.count("RemoveReplicaRegions", Some(rs.len()), 1, usize::MAX);
                for r in rs {
                    v.length("RemoveReplicaRegions", Some(r), 1, 128);
                    v.pattern(
                        "RemoveReplicaRegions",
                        Some(r),
                        valid_region,
                        REGION_PATTERN,
                    );
                }
            }
        })?;
        let remove = req.remove_replica_regions.clone().unwrap_or_default();
        let mut st = self.state.write();
        let s = Self::lookup(&st, ctx, &id)?;
        if s.is_replica() {
            return Err(SmError::InvalidParameter(ON_REPLICA.to_string()));
        }
        // Every region named must hold a replica of this secret; nothing is removed otherwise.
        if remove
            .iter()
            .any(|region| !s.rec.replicas.iter().any(|r| &r.region == region))
        {
            return Err(SmError::InvalidParameter(
                INVALID_REPLICA_REGION.to_string(),
            ));
        }
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        let mut p = Pending::default();
        for region in &remove {
            let key = SecretKey::new(&rec.account, region, &rec.name);
            if let Some(replica) = st.secrets.get(&key) {
                if replica.rec.arn == replica_arn(&rec, region)
                    && replica.rec.primary_region.as_deref() == Some(rec.region.as_str())
                {
                    p.remove(replica);
                }
            }
            rec.replicas.retain(|r| &r.region != region);
        }
        let resp = ReplicationResponse {
            arn: Some(rec.arn.clone()),
            replication_status: Some(self.replication_status(&st, &rec).unwrap_or_default()),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// StopReplicationToReplica: the replica (addressed in its own region) becomes a standalone secret.
    pub fn stop_replication_to_replica(
        &self,
        ctx: &RequestContext,
        req: StopReplicationToReplicaRequest,
    ) -> Result<StopReplicationToReplicaResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let mut st = self.state.write();
        let s = Self::lookup(&st, ctx, &id)?;
        if s.is_cross_account_replica() {
            let key = SecretKey::of(&s.rec);
            return self.stop_cross_account_replication(&mut st, &key);
        }
        let Some(primary_region) = s.rec.primary_region.clone() else {
            return Err(SmError::InvalidRequest(
                "StopReplicationToReplica can only be called on a replica secret.".to_string(),
            ));
        };
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        rec.primary_region = None;
        rec.last_changed = self.clock.now().millis;
        let mut p = Pending::default();
        let pkey = SecretKey::new(&rec.account, &primary_region, &rec.name);
        if let Some(primary) = st.secrets.get(&pkey) {
            if replica_arn(&primary.rec, &rec.region) == rec.arn {
                let mut prec = primary.snapshot();
                prec.replicas.retain(|r| r.region != rec.region);
                p.upsert(prec, primary.blobs.clone())?;
            }
        }
        let resp = StopReplicationToReplicaResponse {
            arn: Some(rec.arn.clone()),
        };
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// UpdateSecretVersionStage.
    pub fn update_secret_version_stage(
        &self,
        ctx: &RequestContext,
        req: UpdateSecretVersionStageRequest,
    ) -> Result<UpdateSecretVersionStageResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("VersionStage", &req.version_stage);
            v.length("VersionStage", req.version_stage.as_deref(), 1, 256);
            v.length(
                "RemoveFromVersionId",
                req.remove_from_version_id.as_deref(),
                32,
                64,
            );
            v.length("MoveToVersionId", req.move_to_version_id.as_deref(), 32, 64);
        })?;
        let stage = req.version_stage.clone().unwrap_or_default();
        let remove_from = req.remove_from_version_id.clone();
        let move_to = req.move_to_version_id.clone();
        self.change(ctx, &id, |rec| {
            Self::check_not_cross_account_replica(rec)?;
            for vid in remove_from.iter().chain(move_to.iter()) {
                if rec.version(vid).is_none() {
                    return Err(SmError::InvalidParameter(format!(
                        "Not a valid version: {vid}"
                    )));
                }
            }
            let holder = rec.version_with_stage(&stage).map(|v| v.id.clone());
            if let Some(from) = &remove_from {
                if holder.as_deref() != Some(from.as_str()) {
                    return Err(SmError::InvalidParameter(format!(
                        "The staging label {stage} is currently not attached to version {from}, so you can't remove it from that version."
                    )));
                }
            } else if let (Some(h), Some(to)) = (&holder, &move_to) {
                if h != to {
                    return Err(SmError::InvalidParameter(format!(
                        "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
                    )));
                }
            }
            if let Some(from) = &remove_from {
                if let Some(v) = rec.versions.iter_mut().find(|v| &v.id == from) {
                    v.stages.retain(|s| s != &stage);
                }
            }
            if let Some(to) = &move_to {
                if let Some(v) = rec.versions.iter_mut().find(|v| &v.id == to) {
                    if !v.stages.contains(&stage) {
                        v.stages.push(stage.clone());
                    }
                }
            }
            if stage == AWSCURRENT {
                if let (Some(from), Some(to)) = (&remove_from, &move_to) {
                    if from != to {
                        for v in &mut rec.versions {
                            v.stages.retain(|s| s != AWSPREVIOUS);
                            if &v.id == from {
                                v.stages.push(AWSPREVIOUS.to_string());
                            }
                        }
                    }
                }
            }
            prune_deprecated(rec);
            Ok(())
        })
    }

    /// ListSecretVersionIds.
    pub fn list_secret_version_ids(
        &self,
        ctx: &RequestContext,
        req: ListSecretVersionIdsRequest,
    ) -> Result<ListSecretVersionIdsResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.range("MaxResults", req.max_results, 1, 100);
            v.length("NextToken", req.next_token.as_deref(), 1, 4096);
        })?;
        let offset = decode_token(&req.next_token)?;
        let st = self.state.read();
        let s = Self::lookup(&st, ctx, &id)?;
        if s.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.to_string()));
        }
        let include_deprecated = req.include_deprecated.unwrap_or(false);
        let all: Vec<&VersionMeta> = s
            .rec
            .versions
            .iter()
            .filter(|v| include_deprecated || !v.stages.is_empty())
            .collect();
        let max = usize::try_from(req.max_results.unwrap_or(100)).unwrap_or(100);
        let page: Vec<SecretVersionsListEntry> = all
            .iter()
            .skip(offset)
            .take(max)
            .map(|v| SecretVersionsListEntry {
                version_id: Some(v.id.clone()),
                version_stages: (!v.stages.is_empty()).then(|| v.stages.clone()),
                last_accessed_date: s.version_last_accessed(&v.id).map(ts),
                created_date: Some(ts(v.created)),
                kms_key_ids: Some(vec![v
                    .kms_key_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_KEY_LABEL.to_string())]),
            })
            .collect();
        let end = offset.saturating_add(max);
        Ok(ListSecretVersionIdsResponse {
            versions: Some(page),
            next_token: (end < all.len()).then(|| encode_token(end)),
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
        })
    }

    /// ListSecrets (the caller's region: primaries, replicas and standalone secrets).
    pub fn list_secrets(
        &self,
        ctx: &RequestContext,
        req: ListSecretsRequest,
    ) -> Result<ListSecretsResponse, SmError> {
        let mut v = Validator::new();
        v.range("MaxResults", req.max_results, 1, 100);
        v.length("NextToken", req.next_token.as_deref(), 1, 4096);
        check_filters(&mut v, &req.filters);
        v.one_of("SortOrder", req.sort_order.as_deref(), SORT_ORDERS);
        v.one_of("SortBy", req.sort_by.as_deref(), SORT_BYS);
        finish(v)?;
        let offset = decode_token(&req.next_token)?;
        let include_deleted = req.include_planned_deletion.unwrap_or(false);
        let filters = req.filters.clone().unwrap_or_default();
        let st = self.state.read();
        let mut found: Vec<&Secret> = st
            .secrets
            .iter()
            .filter(|(k, _)| k.account == ctx.account_id && k.region == ctx.region)
            .map(|(_, s)| s)
            .filter(|s| include_deleted || !s.is_deleted())
            .filter(|s| matches_filters(s, &filters))
            .collect();
        sort_secrets(
            &mut found,
            req.sort_by.as_deref(),
            req.sort_order.as_deref(),
        );
        let max = usize::try_from(req.max_results.unwrap_or(100)).unwrap_or(100);
        let page = found
            .iter()
            .skip(offset)
            .take(max)
            .map(|s| list_entry(s))
            .collect();
        let end = offset.saturating_add(max);
        Ok(ListSecretsResponse {
            secret_list: Some(page),
            next_token: (end < found.len()).then(|| encode_token(end)),
        })
    }

    /// BatchGetSecretValue.
    pub fn batch_get_secret_value(
        &self,
        ctx: &RequestContext,
        req: BatchGetSecretValueRequest,
    ) -> Result<BatchGetSecretValueResponse, SmError> {
        let mut v = Validator::new();
        if let Some(ids) = &req.secret_id_list {
            v.count("SecretIdList", Some(ids.len()), 1, 20);
            for id in ids {
                v.length("SecretIdList", Some(id), 1, 2048);
            }
        }
        check_filters(&mut v, &req.filters);
        v.range("MaxResults", req.max_results, 1, 20);
        v.length("NextToken", req.next_token.as_deref(), 1, 4096);
        finish(v)?;
        if req.secret_id_list.is_some() == req.filters.is_some() {
            return Err(SmError::InvalidParameter(
                "Either 'SecretIdList' or 'Filters' must be provided, but not both.".to_string(),
            ));
        }
        if req.max_results.is_some() && req.filters.is_none() {
            return Err(SmError::InvalidParameter(
                "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided."
                    .to_string(),
            ));
        }
        let st = self.state.read();
        let mut values = Vec::new();
        let mut errors = Vec::new();
        let mut next_token = None;
        let read =
            |s: &Secret,
             id: &str,
             values: &mut Vec<SecretValueEntry>,
             errors: &mut Vec<ApiErrorType>| {
                match self.read_value(ctx, s, None, None).and_then(
                    |(vid, stages, created, plain)| Ok((vid, stages, created, split_value(plain)?)),
                ) {
                    Ok((vid, stages, created, (secret_string, secret_binary))) => {
                        values.push(SecretValueEntry {
                            arn: Some(s.rec.arn.clone()),
                            name: Some(s.rec.name.clone()),
                            version_id: Some(vid),
                            secret_binary,
                            secret_string,
                            version_stages: Some(stages),
                            created_date: Some(ts(created)),
                        })
                    }
                    Err(e) => errors.push(api_error(id, &e)),
                }
            };
        if let Some(ids) = &req.secret_id_list {
            for id in ids {
                let found = secret_id_chars(id)
                    .and_then(|_| Self::lookup(&st, ctx, id))
                    .and_then(|s| {
                        self.check_secret(ctx, "secretsmanager:GetSecretValue", s)
                            .map(|()| s)
                    });
                match found {
                    Ok(s) => read(s, id, &mut values, &mut errors),
                    Err(e) => errors.push(api_error(id, &e)),
                }
            }
        } else {
            let offset = decode_token(&req.next_token)?;
            let filters = req.filters.clone().unwrap_or_default();
            let mut found: Vec<&Secret> = st
                .secrets
                .iter()
                .filter(|(k, _)| k.account == ctx.account_id && k.region == ctx.region)
                .map(|(_, s)| s)
                .filter(|s| !s.is_deleted() && matches_filters(s, &filters))
                .collect();
            sort_secrets(&mut found, None, None);
            let max = usize::try_from(req.max_results.unwrap_or(20)).unwrap_or(20);
            for s in found.iter().skip(offset).take(max) {
                let arn = s.rec.arn.clone();
                match self.check_secret(ctx, "secretsmanager:GetSecretValue", s) {
                    Ok(()) => read(s, &arn, &mut values, &mut errors),
                    Err(e) => errors.push(api_error(&arn, &e)),
                }
            }
            let end = offset.saturating_add(max);
            next_token = (end < found.len()).then(|| encode_token(end));
        }
        Ok(BatchGetSecretValueResponse {
            secret_values: Some(values),
            next_token,
            errors: Some(errors),
        })
    }

    /// GetRandomPassword.
    pub fn get_random_password(
        &self,
        req: GetRandomPasswordRequest,
    ) -> Result<GetRandomPasswordResponse, SmError> {
        let mut v = Validator::new();
        v.range("PasswordLength", req.password_length, 1, 4096);
        v.length(
            "ExcludeCharacters",
            req.exclude_characters.as_deref(),
            0,
            4096,
        );
        finish(v)?;
        let length = usize::try_from(req.password_length.unwrap_or(32)).unwrap_or(32);
        let exclude: Vec<char> = req
            .exclude_characters
            .clone()
            .unwrap_or_default()
            .chars()
            .collect();
        let keep =
            |set: &str| -> Vec<char> { set.chars().filter(|c| !exclude.contains(c)).collect() };
        let mut types: Vec<Vec<char>> = Vec::new();
        if !req.exclude_lowercase.unwrap_or(false) {
            types.push(keep("abcdefghijklmnopqrstuvwxyz"));
        }
        if !req.exclude_uppercase.unwrap_or(false) {
            types.push(keep("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
        }
        if !req.exclude_numbers.unwrap_or(false) {
            types.push(keep("0123456789"));
        }
        if !req.exclude_punctuation.unwrap_or(false) {
            types.push(keep("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"));
        }
        if req.include_space.unwrap_or(false) {
            types.push(keep(" "));
        }
        types.retain(|t| !t.is_empty());
        let require_each = req.require_each_included_type.unwrap_or(true);
        if types.is_empty() || (require_each && length < types.len()) {
            return Err(SmError::InvalidParameter(
                "Password length is too short based on the required types.".to_string(),
            ));
        }
        let all: Vec<char> = types.iter().flatten().copied().collect();
        loop {
            let mut pw = Zeroizing::new(String::with_capacity(length));
            for _ in 0..length {
                pw.push(all[random_index(all.len())?]);
            }
            if !require_each || types.iter().all(|t| pw.chars().any(|c| t.contains(&c))) {
                return Ok(GetRandomPasswordResponse {
                    random_password: Some(SecretText(pw)),
                });
            }
        }
    }
}

/// Copies the primary's metadata and labels onto a replica record, keeping the versions whose
/// ciphertext the replica holds and the replica's own read times.
fn mirror(
    prec: &SecretRecord,
    rrec: &mut SecretRecord,
    blobs: &HashMap<String, Arc<SealedValue>>,
    old: Option<&SecretRecord>,
) {
    rrec.description = prec.description.clone();
    rrec.secret_type = prec.secret_type.clone();
    rrec.tags = prec.tags.clone();
    rrec.last_changed = prec.last_changed;
    rrec.deleted_date = prec.deleted_date;
    rrec.deletion_date = prec.deletion_date;
    rrec.rotation = prec.rotation.clone();
    rrec.versions = prec
        .versions
        .iter()
        .filter(|v| blobs.contains_key(&v.id))
        .map(|v| VersionMeta {
            id: v.id.clone(),
            stages: v.stages.clone(),
            created: v.created,
            last_accessed: old
                .and_then(|o| o.version(&v.id))
                .and_then(|o| o.last_accessed),
            kms_key_id: old
                .and_then(|o| o.version(&v.id))
                .map(|o| o.kms_key_id.clone())
                .unwrap_or_else(|| rrec.kms_key_id.clone()),
        })
        .collect();
}

fn primary_region(rec: &SecretRecord) -> Option<String> {
    match &rec.primary_region {
        Some(r) => Some(r.clone()),
        None => (!rec.replicas.is_empty()).then(|| rec.region.clone()),
    }
}

fn list_entry(s: &Secret) -> SecretListEntry {
    let rec = &s.rec;
    let rot = rotate::rotation_view(rec);
    SecretListEntry {
        arn: Some(rec.arn.clone()),
        name: Some(rec.name.clone()),
        secret_type: rec.secret_type.clone(),
        description: blank_to_none(&rec.description),
        kms_key_id: rec.kms_key_id.clone(),
        rotation_enabled: rot.enabled,
        rotation_lambda_arn: rot.lambda_arn,
        rotation_rules: rot.rules,
        last_rotated_date: rot.last_rotated,
        next_rotation_date: rot.next_rotation,
        last_changed_date: Some(ts(rec.last_changed)),
        last_accessed_date: s.last_accessed().map(ts),
        deleted_date: rec.deleted_date.map(ts),
        tags: to_tags(&rec.tags),
        secret_versions_to_stages: stages_map(rec),
        owning_service: None,
        created_date: Some(ts(rec.created)),
        primary_region: primary_region(rec),
    }
}

fn sort_secrets(found: &mut [&Secret], by: Option<&str>, order: Option<&str>) {
    let by = by.unwrap_or("created-date");
    found.sort_by(|a, b| {
        let ord = match by {
            "name" => a.rec.name.cmp(&b.rec.name),
            "last-changed-date" => a.rec.last_changed.cmp(&b.rec.last_changed),
            "last-accessed-date" => a.last_accessed().cmp(&b.last_accessed()),
            _ => a.rec.created.cmp(&b.rec.created),
        };
        ord.then_with(|| a.rec.name.cmp(&b.rec.name))
    });
    if order != Some("asc") {
        found.reverse();
    }
}

fn matches_filters(s: &Secret, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let key = f.key.as_deref().unwrap_or_default();
        let values = f.values.as_deref().unwrap_or_default();
        let (neg, pos): (Vec<&String>, Vec<&String>) =
            values.iter().partition(|v| v.starts_with('!'));
        let ok_pos = pos.is_empty() || pos.iter().any(|v| filter_match(s, key, v));
        let ok_neg = !neg.iter().any(|v| filter_match(s, key, &v[1..]));
        ok_pos && ok_neg
    })
}

fn filter_match(s: &Secret, key: &str, value: &str) -> bool {
    let rec = &s.rec;
    let pr = primary_region(rec);
    match key {
        "name" => rec.name.starts_with(value),
        "description" => rec
            .description
            .as_deref()
            .is_some_and(|d| d.to_lowercase().starts_with(&value.to_lowercase())),
        "tag-key" => rec.tags.iter().any(|t| t.key.starts_with(value)),
        "tag-value" => rec.tags.iter().any(|t| t.value.starts_with(value)),
        "primary-region" => pr.as_deref().is_some_and(|r| r.starts_with(value)),
        "all" => {
            let mut attrs: Vec<String> = vec![rec.name.to_lowercase()];
            attrs.extend(rec.description.iter().map(|d| d.to_lowercase()));
            attrs.extend(rec.tags.iter().map(|t| t.key.to_lowercase()));
            attrs.extend(rec.tags.iter().map(|t| t.value.to_lowercase()));
            attrs.extend(pr.iter().map(|r| r.to_lowercase()));
            value.split_whitespace().any(|w| {
                let w = w.to_lowercase();
                attrs.iter().any(|a| a.starts_with(&w))
            })
        }
        _ => false,
    }
}

/// `PolicyName` (ResourcePolicyNameType): 1–64 of `[0-9A-Za-z-_]`.
fn check_policy_name(v: &mut Validator, name: &Option<String>) {
    v.length("PolicyName", name.as_deref(), 1, 64);
    v.pattern(
        "PolicyName",
        name.as_deref(),
        |n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        },
        "[0-9A-Za-z\\-\\_]+",
    );
}

/// Only the caller's own policy (`default`) can be put or deleted.
fn only_default_policy(name: &Option<String>) -> Result<(), SmError> {
    match name.as_deref() {
        None | Some(cross_account::DEFAULT_POLICY) => Ok(()),
        Some(other) => Err(SmError::InvalidParameter(format!(
            "You can only put or delete the resource policy named default, not {other}. Secrets Manager manages any other policy on the secret."
        ))),
    }
}

fn named_policy_response(r: ArnNameResponse) -> NamedPolicyResponse {
    NamedPolicyResponse {
        arn: r.arn,
        name: r.name,
        policy_name: Some(cross_account::DEFAULT_POLICY.to_string()),
    }
}

fn check_policy_syntax(policy: &str) -> Result<(), SmError> {
    match serde_json::from_str::<serde_json::Value>(policy) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(SmError::MalformedPolicyDocument(
            MALFORMED_POLICY.to_string(),
        )),
    }
}

/// Validates a request's SecretId (and whatever else `more` checks) and returns it.
fn checked_id(id: &Option<String>, more: impl FnOnce(&mut Validator)) -> Result<String, SmError> {
    let mut v = Validator::new();
    check_secret_id(&mut v, id);
    more(&mut v);
    finish(v)?;
    let id = id.clone().unwrap_or_default();
    secret_id_chars(&id)?;
    Ok(id)
}

fn split_value(plain: Plain) -> Result<(Option<SecretText>, Option<Blob>), SmError> {
    if plain.binary {
        return Ok((None, Some(Blob(plain.bytes))));
    }
    let mut bytes = plain.bytes;
    let s = String::from_utf8(std::mem::take(&mut *bytes))
        .map_err(|_| SmError::Internal("a stored secret string is not UTF-8".to_string()))?;
    Ok((Some(SecretText::new(s)), None))
}

fn random_index(n: usize) -> Result<usize, SmError> {
    let n32 = u32::try_from(n).map_err(|_| SmError::Internal("character set too large".into()))?;
    let limit = u32::MAX - (u32::MAX % n32);
    loop {
        let b = random::array::<4>().map_err(|e| SmError::Internal(e.to_string()))?;
        let x = u32::from_le_bytes(b);
        if x < limit {
            return usize::try_from(x % n32).map_err(|_| SmError::Internal("index".into()));
        }
    }
}

fn api_error(id: &str, e: &SmError) -> ApiErrorType {
    let code = match e {
        SmError::ResourceNotFound(_) => "ResourceNotFoundException",
        SmError::ResourceExists(_) => "ResourceExistsException",
        SmError::InvalidRequest(_) => "InvalidRequestException",
        SmError::InvalidParameter(_) => "InvalidParameterException",
        SmError::Validation(_) => "ValidationException",
        SmError::EncryptionFailure(_) => "EncryptionFailure",
        SmError::DecryptionFailure(_) => "DecryptionFailure",
        SmError::LimitExceeded(_) => "LimitExceededException",
        SmError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
        SmError::PreconditionNotMet(_) => "PreconditionNotMetException",
        SmError::PublicPolicy(_) => "PublicPolicyException",
        SmError::InvalidNextToken(_) => "InvalidNextTokenException",
        SmError::AccessDenied(_) => "AccessDeniedException",
        SmError::Internal(_) | SmError::Store(_) => "InternalServiceError",
    };
    ApiErrorType {
        secret_id: Some(id.to_string()),
        error_code: Some(code.to_string()),
        message: Some(e.client_message()),
    }
}
