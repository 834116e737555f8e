//! AWS Secrets Manager (`secretsmanager`, 2017-10-17) request and response members, named as in
//! the official model.
//!
//! Requests have every member optional so that a missing required member becomes AWS's
//! `ValidationException` (checked by the service) rather than a deserialization error. Responses
//! omit absent members, as AWS does. Secret values are zeroized on drop and never `Debug`-printed.

use crate::{Blob, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The staging label of the current version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The staging label of the previous current version.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// The staging label of a version being rotated in.
pub const AWSPENDING: &str = "AWSPENDING";

/// Every ListSecrets / BatchGetSecretValue filter key in the model.
pub const FILTER_KEYS: &[&str] = &[
    "description",
    "name",
    "tag-key",
    "tag-value",
    "primary-region",
    "owning-service",
    "all",
];
/// Every ListSecrets sort order.
pub const SORT_ORDERS: &[&str] = &["asc", "desc"];
/// Every ListSecrets sort key.
pub const SORT_BYS: &[&str] = &[
    "created-date",
    "last-accessed-date",
    "last-changed-date",
    "name",
];

/// A secret string value (`SecretString`): zeroized on drop, redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretText(pub Zeroizing<String>);

impl SecretText {
    /// Wraps a string.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl Serialize for SecretText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::new(String::deserialize(d)?))
    }
}

/// A tag (`Tag`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Tag key, 1–128 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Tag value, 0–256 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A region to replicate to (`ReplicaRegionType`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicaRegionType {
    /// The replica's region.
    pub region: Option<String>,
    /// The KMS key for the replica, as the client names it; absent = the region's default key.
    pub kms_key_id: Option<String>,
}

/// The state of one replica (`ReplicationStatusType`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationStatusType {
    /// The replica's region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The replica's KMS key as given (or `alias/aws/secretsmanager`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// `InSync`, `Failed` or `InProgress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Why, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The day the replica was last read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<Timestamp>,
}

/// A ListSecrets / BatchGetSecretValue filter (`Filter`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    /// One of [`FILTER_KEYS`].
    pub key: Option<String>,
    /// 1–10 values, each optionally prefixed with `!` to negate.
    pub values: Option<Vec<String>>,
}

/// CreateSecret input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecretRequest {
    /// Secret name.
    pub name: Option<String>,
    /// Idempotency token; becomes the VersionId.
    pub client_request_token: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// KMS key (ID, ARN, alias name or alias ARN).
    pub kms_key_id: Option<String>,
    /// Binary value (base64 on the wire).
    pub secret_binary: Option<Blob>,
    /// String value.
    pub secret_string: Option<SecretText>,
    /// Tags.
    pub tags: Option<Vec<Tag>>,
    /// Regions to replicate to.
    pub add_replica_regions: Option<Vec<ReplicaRegionType>>,
    /// Overwrite a same-named secret in a replica region.
    pub force_overwrite_replica_secret: Option<bool>,
    /// The secret type (`Type`).
    #[serde(rename = "Type")]
    pub secret_type: Option<String>,
    /// Makes the new secret a cross-account replica of this primary (another account's secret).
    #[serde(rename = "CrossAccountPrimaryARN")]
    pub cross_account_primary_arn: Option<String>,
}

/// CreateSecret output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecretResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The initial version, when a value was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The replicas' states.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<Vec<ReplicationStatusType>>,
}

/// A request naming only a secret (DescribeSecret, RestoreSecret, StopReplicationToReplica,
/// CancelRotateSecret).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretIdRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
}

/// DescribeSecret input.
pub type DescribeSecretRequest = SecretIdRequest;
/// CancelRotateSecret input.
pub type CancelRotateSecretRequest = SecretIdRequest;
/// GetResourcePolicy and DeleteResourcePolicy input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamedPolicyRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// The policy's name; `default` when absent.
    pub policy_name: Option<String>,
}

/// GetResourcePolicy input.
pub type GetResourcePolicyRequest = NamedPolicyRequest;
/// RestoreSecret input.
pub type RestoreSecretRequest = SecretIdRequest;
/// DeleteResourcePolicy input.
pub type DeleteResourcePolicyRequest = NamedPolicyRequest;
/// StopReplicationToReplica input.
pub type StopReplicationToReplicaRequest = SecretIdRequest;

/// DescribeSecret output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecretResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The secret type.
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// KMS key as given at creation; absent for the default key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Whether rotation is on (only present once rotation was configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_enabled: Option<bool>,
    /// The rotation function's ARN (kept after rotation is turned off).
    #[serde(rename = "RotationLambdaARN", skip_serializing_if = "Option::is_none")]
    pub rotation_lambda_arn: Option<String>,
    /// The rotation schedule (kept after rotation is turned off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_rules: Option<RotationRulesType>,
    /// The last successful rotation; absent while rotation is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotated_date: Option<Timestamp>,
    /// The latest time the next rotation happens; absent while rotation is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<Timestamp>,
    /// Last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_changed_date: Option<Timestamp>,
    /// Last read, truncated to the day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<Timestamp>,
    /// When deletion was requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<Timestamp>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Labelled versions and their labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_ids_to_stages: Option<BTreeMap<String, Vec<String>>>,
    /// The service that owns the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owning_service: Option<String>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date: Option<Timestamp>,
    /// The primary's region, for replicated secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    /// The replicas' states (on the primary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<Vec<ReplicationStatusType>>,
    /// On a cross-account replica: its primary and the replication state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_account_primary: Option<CrossAccountPrimaryType>,
    /// On a cross-account primary: its replicas and their replication states.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_account_replicas: Option<Vec<CrossAccountReplicaEntry>>,
}

/// A cross-account replica's view of its primary (`CrossAccountPrimaryType`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CrossAccountPrimaryType {
    /// The primary secret's ARN.
    #[serde(rename = "PrimarySecretARN", skip_serializing_if = "Option::is_none")]
    pub primary_secret_arn: Option<String>,
    /// `Pending`, `InProgress`, `InSync`, `Failed` or `Detached`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<String>,
    /// More about the status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

/// A cross-account primary's view of one replica (`CrossAccountReplicaEntry`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CrossAccountReplicaEntry {
    /// The replica secret's ARN.
    #[serde(rename = "ReplicaSecretARN", skip_serializing_if = "Option::is_none")]
    pub replica_secret_arn: Option<String>,
    /// The role given at association.
    #[serde(rename = "ReplicationRoleARN", skip_serializing_if = "Option::is_none")]
    pub replication_role_arn: Option<String>,
    /// `InProgress`, `InSync`, `Failed` or `Detached`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<String>,
    /// More about the status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

/// AssociateCrossAccountReplica input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateCrossAccountReplicaRequest {
    /// Name, ARN or partial ARN of the primary.
    pub secret_id: Option<String>,
    /// The replica's ARN (another account, same region).
    #[serde(rename = "CrossAccountReplicaARN")]
    pub cross_account_replica_arn: Option<String>,
    /// `SameOrg` (default) or `NoRestriction`.
    pub replica_restriction: Option<String>,
    /// A role in the primary account that replication runs as.
    #[serde(rename = "ReplicationRoleARN")]
    pub replication_role_arn: Option<String>,
}

/// AssociateCrossAccountReplica output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssociateCrossAccountReplicaResponse {
    /// The primary's ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The replica's ARN.
    #[serde(
        rename = "CrossAccountReplicaARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub cross_account_replica_arn: Option<String>,
    /// The replication state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<String>,
}

/// DisassociateCrossAccountReplica input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisassociateCrossAccountReplicaRequest {
    /// Name, ARN or partial ARN of the primary.
    pub secret_id: Option<String>,
    /// The replica's ARN.
    #[serde(rename = "CrossAccountReplicaARN")]
    pub cross_account_replica_arn: Option<String>,
}

/// DisassociateCrossAccountReplica output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisassociateCrossAccountReplicaResponse {
    /// The primary's ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The replica's ARN.
    #[serde(
        rename = "CrossAccountReplicaARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub cross_account_replica_arn: Option<String>,
}

/// ListResourcePolicies input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourcePoliciesRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// Page size, 1–100 (default 100).
    pub max_results: Option<i64>,
    /// Where the previous page ended.
    pub next_token: Option<String>,
}

/// One entry of ListResourcePolicies (`ResourcePolicySummary`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourcePolicySummary {
    /// The policy's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
}

/// ListResourcePolicies output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourcePoliciesResponse {
    /// The policies' names: `default` first, then the others alphabetically.
    pub resource_policies: Vec<ResourcePolicySummary>,
    /// Where the next page starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// GetSecretValue input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretValueRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// Version to read.
    pub version_id: Option<String>,
    /// Label to read (default AWSCURRENT).
    pub version_stage: Option<String>,
}

/// GetSecretValue output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretValueResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Binary value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_binary: Option<Blob>,
    /// String value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_string: Option<SecretText>,
    /// The version's labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_stages: Option<Vec<String>>,
    /// The version's creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date: Option<Timestamp>,
}

/// PutSecretValue input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValueRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// Idempotency token; becomes the VersionId.
    pub client_request_token: Option<String>,
    /// Binary value.
    pub secret_binary: Option<Blob>,
    /// String value.
    pub secret_string: Option<SecretText>,
    /// Labels for the new version (default AWSCURRENT).
    pub version_stages: Option<Vec<String>>,
    /// Rotation token (accepted, unused).
    pub rotation_token: Option<SecretText>,
}

/// PutSecretValue output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValueResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Its labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_stages: Option<Vec<String>>,
}

/// GetResourcePolicy output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResourcePolicyResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The policy, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_policy: Option<String>,
    /// The policy's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
}

/// PutResourcePolicy and DeleteResourcePolicy output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamedPolicyResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The policy's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
}

/// A response carrying only ARN and Name (RestoreSecret, UpdateSecretVersionStage).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArnNameResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// RestoreSecret output.
pub type RestoreSecretResponse = ArnNameResponse;
/// PutResourcePolicy output.
pub type PutResourcePolicyResponse = NamedPolicyResponse;
/// DeleteResourcePolicy output.
pub type DeleteResourcePolicyResponse = NamedPolicyResponse;
/// UpdateSecretVersionStage output.
pub type UpdateSecretVersionStageResponse = ArnNameResponse;

/// DeleteSecret input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecretRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// 7–30 days, default 30.
    pub recovery_window_in_days: Option<i64>,
    /// Delete at once.
    pub force_delete_without_recovery: Option<bool>,
}

/// DeleteSecret output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecretResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the secret will be (or was) deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
}

/// RemoveRegionsFromReplication input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveRegionsFromReplicationRequest {
    /// Name, ARN or partial ARN of the primary.
    pub secret_id: Option<String>,
    /// Regions whose replicas to delete.
    pub remove_replica_regions: Option<Vec<String>>,
}

/// ReplicateSecretToRegions input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateSecretToRegionsRequest {
    /// Name, ARN or partial ARN of the primary.
    pub secret_id: Option<String>,
    /// Regions to add.
    pub add_replica_regions: Option<Vec<ReplicaRegionType>>,
    /// Overwrite a same-named secret in a replica region.
    pub force_overwrite_replica_secret: Option<bool>,
}

/// RemoveRegionsFromReplication / ReplicateSecretToRegions output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationResponse {
    /// The primary's ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The replicas' states.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<Vec<ReplicationStatusType>>,
}

/// RemoveRegionsFromReplication output.
pub type RemoveRegionsFromReplicationResponse = ReplicationResponse;
/// ReplicateSecretToRegions output.
pub type ReplicateSecretToRegionsResponse = ReplicationResponse;

/// StopReplicationToReplica output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StopReplicationToReplicaResponse {
    /// The (now standalone) secret's ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// ListSecrets input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsRequest {
    /// Include secrets scheduled for deletion.
    pub include_planned_deletion: Option<bool>,
    /// 1–100.
    pub max_results: Option<i64>,
    /// From a previous page.
    pub next_token: Option<String>,
    /// Filters (ANDed).
    pub filters: Option<Vec<Filter>>,
    /// `asc` or `desc`.
    pub sort_order: Option<String>,
    /// Sort key.
    pub sort_by: Option<String>,
}

/// One ListSecrets entry (`SecretListEntry`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretListEntry {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The secret type.
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// KMS key as given; absent for the default key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Whether rotation is on (only present once rotation was configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_enabled: Option<bool>,
    /// The rotation function's ARN (kept after rotation is turned off).
    #[serde(rename = "RotationLambdaARN", skip_serializing_if = "Option::is_none")]
    pub rotation_lambda_arn: Option<String>,
    /// The rotation schedule (kept after rotation is turned off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_rules: Option<RotationRulesType>,
    /// The last successful rotation; absent while rotation is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotated_date: Option<Timestamp>,
    /// The latest time the next rotation happens; absent while rotation is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<Timestamp>,
    /// Last change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_changed_date: Option<Timestamp>,
    /// Last read, truncated to the day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<Timestamp>,
    /// When deletion was requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<Timestamp>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Labelled versions and their labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_versions_to_stages: Option<BTreeMap<String, Vec<String>>>,
    /// The service that owns the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owning_service: Option<String>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date: Option<Timestamp>,
    /// The primary's region, for replicated secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
}

/// ListSecrets output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsResponse {
    /// This page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_list: Option<Vec<SecretListEntry>>,
    /// The next page, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListSecretVersionIds input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// 1–100.
    pub max_results: Option<i64>,
    /// From a previous page.
    pub next_token: Option<String>,
    /// Include versions without labels.
    pub include_deprecated: Option<bool>,
}

/// One version (`SecretVersionsListEntry`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretVersionsListEntry {
    /// Version ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Its labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_stages: Option<Vec<String>>,
    /// Last read, truncated to the day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accessed_date: Option<Timestamp>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date: Option<Timestamp>,
    /// The KMS keys that encrypt it (`DefaultEncryptionKey` for the default key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_ids: Option<Vec<String>>,
}

/// ListSecretVersionIds output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsResponse {
    /// This page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<SecretVersionsListEntry>>,
    /// The next page, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// UpdateSecret input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// Idempotency token; becomes the VersionId of a new version.
    pub client_request_token: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New KMS key.
    pub kms_key_id: Option<String>,
    /// New binary value.
    pub secret_binary: Option<Blob>,
    /// New string value.
    pub secret_string: Option<SecretText>,
    /// The secret type.
    #[serde(rename = "Type")]
    pub secret_type: Option<String>,
}

/// UpdateSecret output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The new version, when a value was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// TagResource input (no output members).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// Tags to add or overwrite.
    pub tags: Option<Vec<Tag>>,
}

/// UntagResource input (no output members).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// Keys to remove.
    pub tag_keys: Option<Vec<String>>,
}

/// UpdateSecretVersionStage input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretVersionStageRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// The label to move.
    pub version_stage: Option<String>,
    /// The version that has it now.
    pub remove_from_version_id: Option<String>,
    /// The version to give it to.
    pub move_to_version_id: Option<String>,
}

/// GetRandomPassword input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRandomPasswordRequest {
    /// 1–4096, default 32.
    pub password_length: Option<i64>,
    /// Characters not to use.
    pub exclude_characters: Option<String>,
    /// No digits.
    pub exclude_numbers: Option<bool>,
    /// No punctuation.
    pub exclude_punctuation: Option<bool>,
    /// No upper case.
    pub exclude_uppercase: Option<bool>,
    /// No lower case.
    pub exclude_lowercase: Option<bool>,
    /// Allow the space character.
    pub include_space: Option<bool>,
    /// At least one of every included type (default true).
    pub require_each_included_type: Option<bool>,
}

/// GetRandomPassword output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRandomPasswordResponse {
    /// The password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_password: Option<SecretText>,
}

/// PutResourcePolicy input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutResourcePolicyRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// The policy JSON.
    pub resource_policy: Option<String>,
    /// Refuse policies granting public access (a wildcard principal without a limiting condition).
    pub block_public_policy: Option<bool>,
    /// The policy's name; only `default` may be put.
    pub policy_name: Option<String>,
}

/// ValidateResourcePolicy input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidateResourcePolicyRequest {
    /// Name, ARN or partial ARN (optional).
    pub secret_id: Option<String>,
    /// The policy JSON.
    pub resource_policy: Option<String>,
}

/// One policy validation finding (`ValidationErrorsEntry`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidationErrorsEntry {
    /// The check that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_name: Option<String>,
    /// What failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// ValidateResourcePolicy output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidateResourcePolicyResponse {
    /// Whether the policy passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_validation_passed: Option<bool>,
    /// Findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_errors: Option<Vec<ValidationErrorsEntry>>,
}

/// A rotation schedule (`RotationRulesType`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRulesType {
    /// Days between rotations, 1–1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<i64>,
    /// The rotation window, `[0-9]+h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `rate(N days)`, `rate(N hours)` or `cron(...)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
}

/// RotateSecret input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateSecretRequest {
    /// Name, ARN or partial ARN.
    pub secret_id: Option<String>,
    /// Idempotency token; becomes the VersionId of the new version.
    pub client_request_token: Option<String>,
    /// The rotation function.
    #[serde(rename = "RotationLambdaARN")]
    pub rotation_lambda_arn: Option<String>,
    /// The schedule.
    pub rotation_rules: Option<RotationRulesType>,
    /// Rotate now (default true) or only test the configuration.
    pub rotate_immediately: Option<bool>,
}

/// RotateSecret / CancelRotateSecret output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateSecretResponse {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The version the rotation creates (or created).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// CancelRotateSecret output.
pub type CancelRotateSecretResponse = RotateSecretResponse;

/// BatchGetSecretValue input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueRequest {
    /// 1–20 secret IDs (or use Filters).
    pub secret_id_list: Option<Vec<String>>,
    /// Filters (or use SecretIdList).
    pub filters: Option<Vec<Filter>>,
    /// 1–20, only with Filters.
    pub max_results: Option<i64>,
    /// From a previous page.
    pub next_token: Option<String>,
}

/// One secret value of a batch (`SecretValueEntry`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretValueEntry {
    /// Secret ARN.
    #[serde(rename = "ARN", skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Secret name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Binary value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_binary: Option<Blob>,
    /// String value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_string: Option<SecretText>,
    /// The version's labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_stages: Option<Vec<String>>,
    /// The version's creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_date: Option<Timestamp>,
}

/// One per-secret failure of a batch (`APIErrorType`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiErrorType {
    /// The SecretId as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_id: Option<String>,
    /// The AWS error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// BatchGetSecretValue output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueResponse {
    /// The values read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_values: Option<Vec<SecretValueEntry>>,
    /// The next page, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Per-secret failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ApiErrorType>>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_and_omission() {
        let req: CreateSecretRequest = serde_json::from_str(
            r#"{"Name":"n","Description":"","KmsKeyId":"mrk-1","SecretBinary":"AAE=","Type":"t",
                "AddReplicaRegions":[{"Region":"eu-west-1","KmsKeyId":"mrk-1"}]}"#,
        )
        .unwrap();
        assert_eq!(req.description.as_deref(), Some(""));
        assert_eq!(req.secret_binary.unwrap().as_slice(), &[0u8, 1]);
        assert_eq!(req.secret_type.as_deref(), Some("t"));
        assert_eq!(
            req.add_replica_regions.unwrap()[0].region.as_deref(),
            Some("eu-west-1")
        );
        let resp = CreateSecretResponse {
            arn: Some("a".into()),
            name: Some("n".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"ARN":"a","Name":"n"}"#
        );
        let v = GetSecretValueResponse {
            secret_string: Some(SecretText::new("s3cr3t".into())),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"SecretString":"s3cr3t"}"#
        );
        assert!(!format!("{v:?}").contains("s3cr3t"));
    }
}
