//! What KMS persists, one record type per table, each carrying a record version (`v`).
//!
//! * `kms_family` `{account}/{key_id}`: the properties a multi-Region family shares (material
//!   versions wrapped under the root key, spec, usage, rotation, which region is primary). Every key
//!   is a family; a single-Region key is a family of one.
//! * `kms_key` `{account}/{region}/{key_id}`: what each Region's key holds on its own
//!   (description, policy, state, tags, dates).
//! * `kms_alias` `{account}/{region}/{alias_name}`.
//! * `kms_grant` `{account}/{region}/{grant_id}`: grants belong to one Region's key.
//! * `kms_import` `{account}/{region}/{token_id}`: an outstanding `GetParametersForImport` answer
//!   (the wrapping private key, wrapped under the root key), deleted when it expires.
//! * `kms_last_use` `{account}/{region}/{key_id}`: the last successful cryptographic use of a key,
//!   written lazily by [`super::Kms::run_due`].
//!
//! Version 2 added the optional `imported`, `tracking_start` (regional key) and
//! `imported_material_id` (family) members; version 1 records load with them absent.
//! Version 3 added the grant's optional `grantee_service` and `retiring_service` members and
//! `constraints.SourceArn`, and made `grantee` optional (absent when the grantee is a service
//! principal); version 1 and 2 grants load unchanged.
//! Version 4 added on-demand rotation of imported material: the family's optional
//! `rotated_imports` and `pending_material` and the regional key's `imported_other`; earlier records load with them absent.
//! Version 5 added the family's optional `remote_replicas` (replica regions held by federation
//! peers, ADR 0021); earlier records load with it empty.

use coffer_model::Timestamp;
use serde::{Deserialize, Serialize};

/// The record version this code writes.
pub const RECORD_VERSION: u32 = 5;

/// Table of families.
pub const FAMILY_TABLE: &str = "kms_family";
/// Table of regional keys.
pub const KEY_TABLE: &str = "kms_key";
/// Table of aliases.
pub const ALIAS_TABLE: &str = "kms_alias";
/// Table of grants.
pub const GRANT_TABLE: &str = "kms_grant";
/// Table of outstanding import parameters.
pub const IMPORT_TABLE: &str = "kms_import";
/// Table of last uses.
pub const LAST_USE_TABLE: &str = "kms_last_use";

/// The state of one regional key (AWS `KeyState`): the registry's type, so stored records and
/// the key rules of [`crate::ops`] share it.
pub use coffer_model::ops::KeyState;

/// One version of a family's key material, wrapped under the root key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaterialRecord {
    /// 64 hex digits.
    pub id: String,
    /// Root-key-wrapped bytes, base64.
    pub wrapped: String,
    /// When it was made.
    pub created: Timestamp,
    /// `AUTOMATIC` or `ON_DEMAND` for material made by a rotation; `None` for the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<String>,
}

/// Shared properties of a key family.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct FamilyRecord {
    pub v: u32,
    pub account: String,
    pub key_id: String,
    pub key_spec: String,
    pub key_usage: String,
    pub origin: String,
    /// `CUSTOMER` or `AWS`.
    pub key_manager: String,
    pub multi_region: bool,
    pub primary_region: String,
    pub rotation_enabled: bool,
    pub rotation_period_days: Option<i64>,
    pub next_rotation: Option<Timestamp>,
    /// Oldest first; the last one encrypts. For `EXTERNAL` keys: the imported material while at
    /// least one Region's key holds it, else empty.
    pub materials: Vec<MaterialRecord>,
    /// `EXTERNAL` keys: the ID of the material first imported into the family. Every later
    /// import, in any Region, must be the same material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_material_id: Option<String>,
    /// `EXTERNAL` single-Region symmetric keys: the materials that became current by an
    /// on-demand rotation, oldest first. The last one (else `imported_material_id`) is current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotated_imports: Vec<RotatedImport>,
    /// `EXTERNAL` single-Region symmetric keys: material imported with `NEW_KEY_MATERIAL` that
    /// waits for `RotateKeyOnDemand` (`PENDING_ROTATION`), wrapped under the root key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_material: Option<MaterialRecord>,
    /// Multi-Region keys: the replica regions of the family that federation peers hold
    /// (ADR 0021), listed in `MultiRegionConfiguration.ReplicaKeys` beside the local ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_replicas: Vec<String>,
}

impl FamilyRecord {
    /// `EXTERNAL` keys: the ID of the material that encrypts (or would, once reimported).
    pub fn current_imported_id(&self) -> Option<&str> {
        self.rotated_imports
            .last()
            .map(|r| &r.material_id)
            .or(self.imported_material_id.as_ref())
            .map(String::as_str)
    }

    /// `EXTERNAL` keys: every material permanently associated with the key, oldest first.
    pub fn associated_imported_ids(&self) -> impl Iterator<Item = &str> {
        self.imported_material_id
            .iter()
            .map(String::as_str)
            .chain(self.rotated_imports.iter().map(|r| r.material_id.as_str()))
    }

    /// Every wrapped material the record holds: its materials and the one pending rotation.
    pub fn wrapped_mut(&mut self) -> impl Iterator<Item = &mut MaterialRecord> {
        self.materials
            .iter_mut()
            .chain(self.pending_material.iter_mut())
    }
}

/// Imported material made current by `RotateKeyOnDemand`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RotatedImport {
    /// 64 hex digits.
    pub material_id: String,
    pub rotation_date: Timestamp,
}

/// One Region's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct KeyRecord {
    pub v: u32,
    pub account: String,
    pub region: String,
    pub key_id: String,
    pub description: String,
    pub policy: String,
    pub state: KeyState,
    pub created: Timestamp,
    pub deletion_date: Option<Timestamp>,
    pub pending_window_days: Option<i64>,
    /// In insertion order, unique keys.
    pub tags: Vec<(String, String)>,
    /// `EXTERNAL` keys: the current material as imported into this Region's key, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportedMaterial>,
    /// `EXTERNAL` keys: the other materials imported into this Region's key and not deleted
    /// (non-current ones, and the one pending rotation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imported_other: Vec<ImportedMaterial>,
    /// Since when last use is tracked (`GetKeyLastUsage`'s `TrackingStartDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_start: Option<Timestamp>,
}

/// Material imported into one Region's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ImportedMaterial {
    /// 64 hex digits, as in the family's material record.
    pub material_id: String,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub expiration_model: String,
    pub valid_to: Option<Timestamp>,
    pub description: Option<String>,
    pub imported_at: Timestamp,
}

/// An outstanding `GetParametersForImport` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ImportTokenRecord {
    pub v: u32,
    pub account: String,
    pub region: String,
    pub key_id: String,
    /// 32 hex digits; the token carries it.
    pub token_id: String,
    pub wrapping_algorithm: String,
    pub wrapping_key_spec: String,
    /// The wrapping private key (PKCS#8) wrapped under the root key, base64.
    pub wrapped_private_key: String,
    pub created: Timestamp,
    pub valid_to: Timestamp,
}

impl ImportTokenRecord {
    /// Store key.
    pub fn store_key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.token_id)
    }
}

/// The last successful cryptographic use of one Region's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LastUseRecord {
    pub v: u32,
    pub account: String,
    pub region: String,
    pub key_id: String,
    pub operation: String,
    pub timestamp: Timestamp,
    pub request_id: String,
}

impl LastUseRecord {
    /// Store key.
    pub fn store_key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.key_id)
    }
}

/// An alias.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct AliasRecord {
    pub v: u32,
    pub account: String,
    pub region: String,
    pub name: String,
    pub target_key_id: String,
    pub created: Timestamp,
    pub updated: Timestamp,
}

impl FamilyRecord {
    /// Store key.
    pub fn store_key(&self) -> String {
        format!("{}/{}", self.account, self.key_id)
    }
}

impl KeyRecord {
    /// Store key.
    pub fn store_key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.key_id)
    }
}

impl AliasRecord {
    /// Store key.
    pub fn store_key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.name)
    }
}

/// A grant on one Region's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct GrantRecord {
    pub v: u32,
    pub account: String,
    pub region: String,
    pub key_id: String,
    pub grant_id: String,
    pub name: Option<String>,
    /// `GranteePrincipal`; exactly one of it and `grantee_service` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grantee: Option<String>,
    /// `RetiringPrincipal`; at most one of it and `retiring_service` is present.
    pub retiring: Option<String>,
    pub operations: Vec<String>,
    pub constraints: Option<coffer_model::kms::GrantConstraints>,
    pub created: Timestamp,
    /// `GranteeServicePrincipal` (such a grant always has a `SourceArn` constraint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grantee_service: Option<String>,
    /// `RetiringServicePrincipal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_service: Option<String>,
}

impl GrantRecord {
    /// Store key.
    pub fn store_key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.grant_id)
    }
}
