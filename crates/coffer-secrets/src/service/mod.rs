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
use coffer_model::ops::SecretsManagerOp;
use coffer_model::secretsmanager::*;
use coffer_model::{Blob, Timestamp, Validator};
use coffer_store::{Store, StoreError, Transaction};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use zeroize::Zeroizing;

use super::rotation::RotatorRegistry;

mod authorize;
mod cross_account;
mod follow;
mod lifecycle;
mod list;
mod public_policy;
mod replication;
mod resource_policy;
mod rotate;
mod tags;
mod values;
mod versions;

use list::{check_filter_members, check_filters, matches_filters, sort_secrets};
use replication::primary_region;

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
    /// Where scheduler actions are reported (the audit trail's service events).
    events: coffer_core::events::EventSink,
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

/// KMS's write conflicted with another node's: the request runs again once caught up.
fn kms_conflict() -> SmError {
    SmError::Store(StoreError::Conflict {
        table: coffer_store::EPOCH_TABLE.to_string(),
        key: "kms".to_string(),
    })
}

fn encryption_failure(f: KeyFailure) -> SmError {
    match f {
        KeyFailure::AccessDenied(_) => SmError::AccessDenied(KMS_ACCESS_DENIED.to_string()),
        KeyFailure::Internal(m) => SmError::Internal(m),
        KeyFailure::Conflict => kms_conflict(),
        KeyFailure::NotFound(m) | KeyFailure::Disabled(m) | KeyFailure::InvalidState(m) => {
            SmError::EncryptionFailure(m)
        }
    }
}

fn decryption_failure(f: KeyFailure) -> SmError {
    match f {
        KeyFailure::AccessDenied(_) => SmError::AccessDenied(KMS_ACCESS_DENIED.to_string()),
        KeyFailure::Internal(m) => SmError::Internal(m),
        KeyFailure::Conflict => kms_conflict(),
        KeyFailure::NotFound(m) | KeyFailure::Disabled(m) | KeyFailure::InvalidState(m) => {
            SmError::DecryptionFailure(m)
        }
    }
}

fn replication_failed(f: &KeyFailure) -> String {
    let m = match f {
        KeyFailure::AccessDenied(_) => KMS_ACCESS_DENIED,
        KeyFailure::Internal(_) | KeyFailure::Conflict => "An internal error occurred.",
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

/// The Tags member of DescribeSecret / ListSecrets: absent until tags were first set, then the
/// list (empty once every tag is removed).
fn to_tags(rec: &SecretRecord) -> Option<Vec<Tag>> {
    (rec.tagged || !rec.tags.is_empty()).then(|| {
        rec.tags
            .iter()
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
            events: coffer_core::events::EventSink::default(),
        })
    }

    /// Reads every secret from the store again (after a state import replaced it).
    pub fn reload(&self) -> Result<(), SmError> {
        self.reload_with(&|| Ok(()))
    }

    /// [`Self::reload`] for a follower of other nodes' commits: the write lock is held from
    /// before `mark` (which records what the store holds, see `coffer_store::epoch`) until the
    /// state read after it replaces the old, so no write of this node decides in between.
    pub fn reload_with(&self, mark: &dyn Fn() -> Result<(), StoreError>) -> Result<(), SmError> {
        let mut st = self.state.write();
        mark()?;
        let fresh =
            SecretsManager::load(self.store.clone(), self.keys.clone(), self.clock.clone())?;
        *st = std::mem::take(&mut *fresh.state.write());
        Ok(())
    }

    /// `(account, region, name)` of every secret, sorted (for `coffer seed export`).
    pub fn secret_names(&self) -> Vec<(String, String, String)> {
        let st = self.state.read();
        let mut out: Vec<_> = st
            .secrets
            .keys()
            .map(|k| (k.account.clone(), k.region.clone(), k.name.clone()))
            .collect();
        out.sort();
        out
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

    /// How many secrets there are by state (`Active`, `PendingDeletion`), every account and
    /// Region together, replicas included: what metrics and `coffer status` report.
    pub fn secret_counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let st = self.state.read();
        let mut out = std::collections::BTreeMap::new();
        for s in st.secrets.values() {
            let state = if s.is_deleted() {
                "PendingDeletion"
            } else {
                "Active"
            };
            *out.entry(state).or_insert(0) += 1;
        }
        out
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
        let mut gone = Vec::new();
        for s in st.secrets.values() {
            if s.rec.deletion_date.is_some_and(|d| d <= now) {
                p.remove(s);
                gone.push(s.rec.arn.clone());
            }
        }
        let n = p.removals.len();
        self.commit(&mut st, p)?;
        drop(st);
        for arn in gone {
            self.secret_event("DeleteSecret", &arn, Vec::new());
        }
        Ok(n)
    }

    /// Sets the receiver of service events (deletions when due, rotation steps).
    pub fn set_events(&self, receiver: Arc<dyn coffer_core::events::ServiceEvents>) {
        self.events.set(receiver);
    }

    /// Reports a scheduler action on the secret `arn`.
    pub(crate) fn secret_event(
        &self,
        name: &'static str,
        arn: &str,
        details: Vec<(&'static str, String)>,
    ) {
        // arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME
        let mut parts = arn.splitn(6, ':');
        let (region, account) = match (parts.nth(3), parts.next()) {
            (Some(r), Some(a)) => (r.to_string(), a.to_string()),
            _ => return,
        };
        self.events.emit(coffer_core::events::ServiceEvent {
            source: coffer_core::events::EventSource::SecretsManager,
            name,
            region,
            account,
            resources: vec![coffer_core::events::EventResource {
                arn: arn.to_string(),
                resource_type: "AWS::SecretsManager::Secret",
            }],
            details,
        });
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

    // ----- operations ---------------------------------------------------------------------

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
