//! From operation name to service method, for each JSON 1.1 service. Request bodies are decoded
//! into the operation's wire type here; a body that does not fit is a `SerializationException`.

use crate::error::ApiError;
use crate::Coffer;
use coffer_core::RequestContext;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Every KMS operation in the official model (those Coffer does not serve yet answer
/// `UnsupportedOperationException`).
pub const KMS_OPERATIONS: &[&str] = &[
    "CancelKeyDeletion",
    "Decapsulate",
    "Encapsulate",
    "ConnectCustomKeyStore",
    "CreateAlias",
    "CreateCustomKeyStore",
    "CreateGrant",
    "CreateKey",
    "Decrypt",
    "DeleteAlias",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "DisconnectCustomKeyStore",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyLastUsage",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncrypt",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// Every Secrets Manager operation in the official model.
pub const SECRETS_MANAGER_OPERATIONS: &[&str] = &[
    "AssociateCrossAccountReplica",
    "BatchGetSecretValue",
    "CancelRotateSecret",
    "CreateSecret",
    "DeleteResourcePolicy",
    "DeleteSecret",
    "DescribeSecret",
    "DisassociateCrossAccountReplica",
    "GetRandomPassword",
    "GetResourcePolicy",
    "GetSecretValue",
    "ListResourcePolicies",
    "ListSecretVersionIds",
    "ListSecrets",
    "PutResourcePolicy",
    "PutSecretValue",
    "RemoveRegionsFromReplication",
    "ReplicateSecretToRegions",
    "RestoreSecret",
    "RotateSecret",
    "StopReplicationToReplica",
    "TagResource",
    "UntagResource",
    "UpdateSecret",
    "UpdateSecretVersionStage",
    "ValidateResourcePolicy",
];

/// Whether a KMS request names no key: no `KeyId` (Decrypt and ReEncrypt find theirs in the
/// ciphertext; RetireGrant may name its grant by token, which names the key).
fn names_no_key(op: &str, body: &[u8]) -> bool {
    if matches!(op, "Decrypt" | "ReEncrypt" | "RetireGrant") {
        return false;
    }
    let fields: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    fields.get("KeyId").and_then(|v| v.as_str()).is_none()
}

/// Operations served inline on the async runtime: they only read memory. Everything else may
/// write to the store and runs on the blocking pool.
pub fn is_hot(op: &str) -> bool {
    matches!(
        op,
        "Encrypt"
            | "Decrypt"
            | "GenerateDataKey"
            | "GenerateDataKeyWithoutPlaintext"
            | "GenerateRandom"
            | "ReEncrypt"
            | "DescribeKey"
            | "GetSecretValue"
            | "GenerateMac"
            | "VerifyMac"
    )
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::serialization("The request body is not valid JSON."))?;
    if !value.is_object() {
        return Err(ApiError::serialization(
            "Start of structure or map found where not expected.",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        // serde's message names the member and expected type, never the value.
        ApiError::serialization(format!(
            "The request body could not be read: {}",
            strip_value(&e.to_string())
        ))
    })
}

/// Keeps serde's description of what was expected but drops any echoed input.
fn strip_value(msg: &str) -> String {
    match msg.find("invalid type") {
        Some(_) => msg
            .split(',')
            .nth(1)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "invalid type".into()),
        None => "a member has the wrong type or form".into(),
    }
}

fn encode<T: Serialize>(v: T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&v).map_err(|e| {
        tracing::error!(error = %e, "response encoding");
        ApiError {
            code: "InternalFailure",
            status: http::StatusCode::INTERNAL_SERVER_ERROR,
            message: "We encountered an internal error. Please try again.".into(),
        }
    })
}

/// Runs one KMS operation.
pub fn kms(c: &Coffer, ctx: &RequestContext, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let k = &c.kms;
    // A role session's use of a key is authorized where the key is found (`Kms::resolve`); an
    // operation that names no key is authorized here, on `*`.
    if ctx.role.is_some() && KMS_OPERATIONS.contains(&op) && names_no_key(op, body) {
        k.authorize_account(ctx, op)?;
    }
    macro_rules! call {
        ($m:ident) => {
            encode(k.$m(ctx, decode(body)?)?)
        };
    }
    match op {
        "CreateKey" => call!(create_key),
        "DescribeKey" => call!(describe_key),
        "ListKeys" => call!(list_keys),
        "EnableKey" => call!(enable_key),
        "DisableKey" => call!(disable_key),
        "EnableKeyRotation" => call!(enable_key_rotation),
        "DisableKeyRotation" => call!(disable_key_rotation),
        "GetKeyRotationStatus" => call!(get_key_rotation_status),
        "ScheduleKeyDeletion" => call!(schedule_key_deletion),
        "CancelKeyDeletion" => call!(cancel_key_deletion),
        "CreateAlias" => call!(create_alias),
        "UpdateAlias" => call!(update_alias),
        "DeleteAlias" => call!(delete_alias),
        "ListAliases" => call!(list_aliases),
        "TagResource" => call!(tag_resource),
        "UntagResource" => call!(untag_resource),
        "ListResourceTags" => call!(list_resource_tags),
        "GetKeyPolicy" => call!(get_key_policy),
        "PutKeyPolicy" => call!(put_key_policy),
        "ListKeyPolicies" => call!(list_key_policies),
        "UpdateKeyDescription" => call!(update_key_description),
        "Encrypt" => call!(encrypt),
        "Decrypt" => call!(decrypt),
        "ReEncrypt" => call!(re_encrypt),
        "GenerateDataKey" => call!(generate_data_key),
        "GenerateDataKeyWithoutPlaintext" => call!(generate_data_key_without_plaintext),
        "GenerateRandom" => call!(generate_random),
        "ReplicateKey" => call!(replicate_key),
        "UpdatePrimaryRegion" => call!(update_primary_region),
        "RotateKeyOnDemand" => call!(rotate_key_on_demand),
        "ListKeyRotations" => call!(list_key_rotations),
        "CreateGrant" => call!(create_grant),
        "Sign" => call!(sign),
        "Verify" => call!(verify),
        "GetPublicKey" => call!(get_public_key),
        "GenerateMac" => call!(generate_mac),
        "VerifyMac" => call!(verify_mac),
        "DeriveSharedSecret" => call!(derive_shared_secret),
        "Encapsulate" => call!(encapsulate),
        "Decapsulate" => call!(decapsulate),
        "GenerateDataKeyPair" => call!(generate_data_key_pair),
        "GenerateDataKeyPairWithoutPlaintext" => call!(generate_data_key_pair_without_plaintext),
        "ListGrants" => call!(list_grants),
        "ListRetirableGrants" => call!(list_retirable_grants),
        "RetireGrant" => call!(retire_grant),
        "RevokeGrant" => call!(revoke_grant),
        "GetParametersForImport" => call!(get_parameters_for_import),
        "ImportKeyMaterial" => call!(import_key_material),
        "DeleteImportedKeyMaterial" => call!(delete_imported_key_material),
        "GetKeyLastUsage" => call!(get_key_last_usage),
        "CreateCustomKeyStore" => call!(create_custom_key_store),
        "ConnectCustomKeyStore" => call!(connect_custom_key_store),
        "DeleteCustomKeyStore" => call!(delete_custom_key_store),
        "DescribeCustomKeyStores" => call!(describe_custom_key_stores),
        "DisconnectCustomKeyStore" => call!(disconnect_custom_key_store),
        "UpdateCustomKeyStore" => call!(update_custom_key_store),
        other if KMS_OPERATIONS.contains(&other) => Err(ApiError::bad_request(
            "UnsupportedOperationException",
            format!("Coffer does not support the KMS operation {other} yet."),
        )),
        other => Err(ApiError::unknown_operation(other)),
    }
}

/// Runs one Secrets Manager operation.
pub fn secrets_manager(
    c: &Coffer,
    ctx: &RequestContext,
    op: &str,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let s = &c.secrets;
    if ctx.role.is_some() && SECRETS_MANAGER_OPERATIONS.contains(&op) {
        s.authorize_request(ctx, op, body)?;
    }
    macro_rules! call {
        ($m:ident) => {
            encode(s.$m(ctx, decode(body)?)?)
        };
    }
    match op {
        "CreateSecret" => call!(create_secret),
        "DescribeSecret" => call!(describe_secret),
        "GetSecretValue" => call!(get_secret_value),
        "PutSecretValue" => call!(put_secret_value),
        "UpdateSecret" => call!(update_secret),
        "DeleteSecret" => call!(delete_secret),
        "RestoreSecret" => call!(restore_secret),
        "ListSecrets" => call!(list_secrets),
        "ListSecretVersionIds" => call!(list_secret_version_ids),
        "GetResourcePolicy" => call!(get_resource_policy),
        "PutResourcePolicy" => call!(put_resource_policy),
        "DeleteResourcePolicy" => call!(delete_resource_policy),
        "ValidateResourcePolicy" => call!(validate_resource_policy),
        "ListResourcePolicies" => call!(list_resource_policies),
        "AssociateCrossAccountReplica" => call!(associate_cross_account_replica),
        "DisassociateCrossAccountReplica" => call!(disassociate_cross_account_replica),
        "TagResource" => call!(tag_resource),
        "UntagResource" => call!(untag_resource),
        "ReplicateSecretToRegions" => call!(replicate_secret_to_regions),
        "RemoveRegionsFromReplication" => call!(remove_regions_from_replication),
        "StopReplicationToReplica" => call!(stop_replication_to_replica),
        "UpdateSecretVersionStage" => call!(update_secret_version_stage),
        "BatchGetSecretValue" => call!(batch_get_secret_value),
        "RotateSecret" => call!(rotate_secret),
        "CancelRotateSecret" => call!(cancel_rotate_secret),
        "GetRandomPassword" => encode(s.get_random_password(decode(body)?)?),
        other if SECRETS_MANAGER_OPERATIONS.contains(&other) => Err(ApiError::bad_request(
            "InvalidRequestException",
            format!("Coffer does not support the Secrets Manager operation {other} yet."),
        )),
        other => Err(ApiError::unknown_operation(other)),
    }
}
