//! Persisted records (JSON, `"v": 1`): one `sm_secret` record per secret (metadata, labels,
//! replicas) and one `sm_version` record per version holding only ciphertext.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

/// Table of secret records, keyed `account/region/name`.
pub(crate) const SECRET_TABLE: &str = "sm_secret";
/// Table of version ciphertexts, keyed `account/region/name:versionId`.
pub(crate) const VERSION_TABLE: &str = "sm_version";
/// The record format written by this code.
pub(crate) const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TagRec {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReplicaRec {
    pub region: String,
    /// As the client gave it; `None` = the replica region's default key.
    pub kms_key_id: Option<String>,
    pub status: String,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionMeta {
    pub id: String,
    pub stages: Vec<String>,
    pub created: i64,
    pub last_accessed: Option<i64>,
    /// The KmsKeyId (as given) the version is encrypted under; `None` = default key.
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SecretRecord {
    pub v: u32,
    pub account: String,
    pub region: String,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    /// As the client gave it; `None` = the region's default key.
    pub kms_key_id: Option<String>,
    pub secret_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagRec>,
    /// Whether tags were ever set (CreateSecret with Tags, TagResource, UntagResource): AWS then
    /// answers `"Tags": []` once every tag is gone, and omits the member otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tagged: bool,
    pub created: i64,
    pub last_changed: i64,
    pub last_accessed: Option<i64>,
    /// When deletion was requested.
    pub deleted_date: Option<i64>,
    /// When the secret is due to be purged.
    pub deletion_date: Option<i64>,
    pub policy: Option<String>,
    /// Set on replicas: the primary's region.
    pub primary_region: Option<String>,
    /// Set on primaries: their replicas.
    #[serde(default)]
    pub replicas: Vec<ReplicaRec>,
    /// Oldest first. A version without ciphertext is an empty one: the AWSPENDING version a
    /// rotation creates before its rotation function puts a value.
    #[serde(default)]
    pub versions: Vec<VersionMeta>,
    /// Rotation configuration and schedule; `None` until RotateSecret is first called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationRec>,
    /// Set on a cross-account replica until StopReplicationToReplica: where its value comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_account_primary: Option<CrossPrimaryRec>,
    /// Set on a cross-account primary: its replica (AWS allows one) until disassociated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cross_account_replicas: Vec<CrossReplicaRec>,
    /// System-managed resource policies by name (e.g. `cross-account-replication`); the caller's
    /// own (`default`) policy is `policy`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub managed_policies: BTreeMap<String, String>,
}

/// A cross-account replica's link to its primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CrossPrimaryRec {
    pub arn: String,
    /// `Pending`, `InSync`, `Failed` or `Detached`.
    pub status: String,
    pub message: Option<String>,
}

/// A cross-account primary's link to one replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CrossReplicaRec {
    pub arn: String,
    pub role_arn: Option<String>,
    /// `SameOrg` or `NoRestriction`.
    pub restriction: String,
    /// `InSync`, `Failed` or `Detached`.
    pub status: String,
    pub message: Option<String>,
}

/// A secret's rotation settings (`RotationRules` as given) and schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RotationRec {
    /// RotationEnabled.
    pub enabled: bool,
    /// RotationLambdaARN: names the rotator.
    pub lambda_arn: Option<String>,
    pub automatically_after_days: Option<i64>,
    pub duration: Option<String>,
    pub schedule_expression: Option<String>,
    /// LastRotatedDate: the last successful rotation (or manual update that counts as one).
    pub last_rotated: Option<i64>,
    /// When the next rotation window opens (rotation is due from then).
    pub window_start: Option<i64>,
    /// NextRotationDate: the end of that window.
    pub next_rotation: Option<i64>,
    /// Failed attempts of the rotation in progress.
    #[serde(default)]
    pub failures: u32,
    /// When the failed rotation in progress is retried.
    #[serde(default)]
    pub retry_at: Option<i64>,
}

impl SecretRecord {
    pub fn store_key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.name)
    }

    pub fn blob_key(&self, version_id: &str) -> String {
        format!("{}:{}", self.store_key(), version_id)
    }

    pub fn version(&self, id: &str) -> Option<&VersionMeta> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub fn version_with_stage(&self, stage: &str) -> Option<&VersionMeta> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }
}

/// A version's ciphertext: the KMS-encrypted data key and the value sealed under it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SealedValue {
    pub kms_blob: Vec<u8>,
    pub sealed: Vec<u8>,
    pub binary: bool,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct BlobRecord {
    pub v: u32,
    pub secret_arn: String,
    pub version_id: String,
    pub kms_blob: String,
    pub sealed: String,
    pub binary: bool,
}

impl BlobRecord {
    pub fn encode(arn: &str, version_id: &str, b: &SealedValue) -> Self {
        let e = base64::engine::general_purpose::STANDARD;
        Self {
            v: RECORD_VERSION,
            secret_arn: arn.to_string(),
            version_id: version_id.to_string(),
            kms_blob: e.encode(&b.kms_blob),
            sealed: e.encode(&b.sealed),
            binary: b.binary,
        }
    }

    pub fn decode(&self) -> Option<SealedValue> {
        let e = base64::engine::general_purpose::STANDARD;
        Some(SealedValue {
            kms_blob: e.decode(&self.kms_blob).ok()?,
            sealed: e.decode(&self.sealed).ok()?,
            binary: self.binary,
        })
    }
}

/// A secret in memory: its record, its versions' ciphertexts, and read times updated without
/// the write lock (persisted with the next write of the secret, or by the periodic flush of
/// read dates that changed).
pub(crate) struct Secret {
    pub rec: SecretRecord,
    pub blobs: HashMap<String, Arc<SealedValue>>,
    accessed: AtomicI64,
    version_accessed: HashMap<String, AtomicI64>,
    /// A read date moved on since the record was last written.
    dates_dirty: AtomicBool,
}

impl Secret {
    pub fn new(rec: SecretRecord, blobs: HashMap<String, Arc<SealedValue>>) -> Self {
        let accessed = AtomicI64::new(rec.last_accessed.unwrap_or(0));
        let version_accessed = rec
            .versions
            .iter()
            .map(|v| (v.id.clone(), AtomicI64::new(v.last_accessed.unwrap_or(0))))
            .collect();
        Self {
            rec,
            blobs,
            accessed,
            version_accessed,
            dates_dirty: AtomicBool::new(false),
        }
    }

    /// The record with the latest read times folded in.
    pub fn snapshot(&self) -> SecretRecord {
        let mut rec = self.rec.clone();
        rec.last_accessed = self.last_accessed();
        for v in &mut rec.versions {
            v.last_accessed = self.version_last_accessed(&v.id);
        }
        rec
    }

    pub fn last_accessed(&self) -> Option<i64> {
        nonzero(self.accessed.load(Ordering::Relaxed))
    }

    pub fn version_last_accessed(&self, id: &str) -> Option<i64> {
        self.version_accessed
            .get(id)
            .and_then(|a| nonzero(a.load(Ordering::Relaxed)))
    }

    /// Records a read of `version_id` on day `day` (midnight UTC, in millis). Dates are kept
    /// to the day, so a secret's dates change (and need writing) at most once a day.
    pub fn touch(&self, version_id: &str, day: i64) {
        let mut moved = self.accessed.fetch_max(day, Ordering::SeqCst) < day;
        if let Some(a) = self.version_accessed.get(version_id) {
            moved |= a.fetch_max(day, Ordering::SeqCst) < day;
        }
        if moved {
            self.dates_dirty.store(true, Ordering::SeqCst);
        }
    }

    /// Whether read dates changed since the last write, clearing the mark. Take the mark
    /// before taking the [`Secret::snapshot`] to write.
    pub fn take_dates_dirty(&self) -> bool {
        self.dates_dirty.swap(false, Ordering::SeqCst)
    }

    /// Marks the read dates as still to be written (a flush failed).
    pub fn mark_dates_dirty(&self) {
        self.dates_dirty.store(true, Ordering::SeqCst);
    }

    pub fn is_deleted(&self) -> bool {
        self.rec.deleted_date.is_some()
    }

    pub fn is_replica(&self) -> bool {
        self.rec.primary_region.is_some()
    }

    /// A cross-account replica whose link its owner has not ended (even when `Detached`).
    pub fn is_cross_account_replica(&self) -> bool {
        self.rec.cross_account_primary.is_some()
    }
}

fn nonzero(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}
