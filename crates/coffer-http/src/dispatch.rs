//! From operation to service method, for each JSON 1.1 service. The operation is already known
//! from the registry (`coffer_model::ops`, generated from the botocore models); each match below
//! is exhaustive over the model's operations, so a new operation in the model fails to compile
//! until it is routed or answered as unsupported. Request bodies are decoded once, straight from
//! bytes into the operation's wire type; a body that does not fit is a `SerializationException`.
//! Responses are serialised once, into a per-thread buffer that keeps its capacity.

use crate::error::ApiError;
use crate::Coffer;
use bytes::{BufMut, Bytes, BytesMut};
use coffer_core::RequestContext;
use coffer_model::ops::{KmsOp, Locator, Operation, ResourceKind, SecretsManagerOp};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use std::cell::RefCell;

/// Decodes a JSON 1.1 request body into its wire type, in one pass.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let body: &[u8] = match first {
        None => b"{}",
        Some(b'{') => body,
        Some(_) => {
            return Err(if serde_json::from_slice::<IgnoredAny>(body).is_ok() {
                ApiError::serialization("Start of structure or map found where not expected.")
            } else {
                not_json()
            })
        }
    };
    serde_json::from_slice(body).map_err(|e| {
        // A type error may come before a syntax error further on: the body must be JSON first.
        if !e.is_data() || serde_json::from_slice::<IgnoredAny>(body).is_err() {
            return not_json();
        }
        // serde's message names the member and expected type, never the value.
        ApiError::serialization(format!(
            "The request body could not be read: {}",
            strip_value(&e.to_string())
        ))
    })
}

fn not_json() -> ApiError {
    ApiError::serialization("The request body is not valid JSON.")
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

thread_local! {
    /// Response bytes are written here; each response takes its part, the capacity stays.
    static OUT: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(16 * 1024));
}

/// Serialises a response once into the thread's buffer.
pub fn encode<T: Serialize>(v: T) -> Result<Bytes, ApiError> {
    OUT.with(|out| {
        let mut buf = out.borrow_mut();
        if buf.capacity() < 1024 {
            buf.reserve(16 * 1024);
        }
        let mut w = (&mut *buf).writer();
        match serde_json::to_writer(&mut w, &v) {
            Ok(()) => Ok(buf.split().freeze()),
            Err(e) => {
                buf.clear();
                Err(ApiError::internal("InternalFailure", &e))
            }
        }
    })
}

/// Whether a role session's request must be authorized on `*` before it runs: its first check
/// is on no resource, on an alias (Coffer checks aliases' actions on `*`), or on a key the
/// request may leave unnamed and does. A named key is authorized where it is found
/// (`Kms::resolve`); a ciphertext or grant token names its key itself.
fn account_level(info: &Operation, body: &[u8]) -> bool {
    let Some(check) = info.checks.first() else {
        return false;
    };
    match (check.resource.kind, check.resource.locators.first()) {
        (ResourceKind::Any | ResourceKind::Alias, _) => true,
        (ResourceKind::Key, Some(Locator::Member(m))) if check.resource.optional => {
            let fields: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            fields.get(*m).and_then(|v| v.as_str()).is_none()
        }
        _ => false,
    }
}

/// Runs one KMS operation.
pub fn kms(c: &Coffer, ctx: &RequestContext, op: KmsOp, body: &[u8]) -> Result<Bytes, ApiError> {
    let k = &c.kms;
    let info = op.info();
    if ctx.role.is_some() && account_level(info, body) {
        if let Some(action) = info.action() {
            k.authorize_account(ctx, action.iam)?;
        }
    }
    macro_rules! call {
        ($m:ident) => {{
            let (mut tries, mut looked) = (0, false);
            loop {
                match k.$m(ctx, decode(body)?) {
                    Err(e) if e.is_conflict() && c.retry_after_conflict(&mut tries) => continue,
                    Err(e) if e.is_not_found() && c.retry_after_miss(&mut looked) => continue,
                    r => break encode(r?),
                }
            }
        }};
    }
    use KmsOp as O;
    match op {
        O::CreateKey => call!(create_key),
        O::DescribeKey => call!(describe_key),
        O::ListKeys => call!(list_keys),
        O::EnableKey => call!(enable_key),
        O::DisableKey => call!(disable_key),
        O::EnableKeyRotation => call!(enable_key_rotation),
        O::DisableKeyRotation => call!(disable_key_rotation),
        O::GetKeyRotationStatus => call!(get_key_rotation_status),
        O::ScheduleKeyDeletion => call!(schedule_key_deletion),
        O::CancelKeyDeletion => call!(cancel_key_deletion),
        O::CreateAlias => call!(create_alias),
        O::UpdateAlias => call!(update_alias),
        O::DeleteAlias => call!(delete_alias),
        O::ListAliases => call!(list_aliases),
        O::TagResource => call!(tag_resource),
        O::UntagResource => call!(untag_resource),
        O::ListResourceTags => call!(list_resource_tags),
        O::GetKeyPolicy => call!(get_key_policy),
        O::PutKeyPolicy => call!(put_key_policy),
        O::ListKeyPolicies => call!(list_key_policies),
        O::UpdateKeyDescription => call!(update_key_description),
        O::Encrypt => call!(encrypt),
        O::Decrypt => call!(decrypt),
        O::ReEncrypt => call!(re_encrypt),
        O::GenerateDataKey => call!(generate_data_key),
        O::GenerateDataKeyWithoutPlaintext => call!(generate_data_key_without_plaintext),
        O::GenerateRandom => call!(generate_random),
        O::ReplicateKey => call!(replicate_key),
        O::UpdatePrimaryRegion => call!(update_primary_region),
        O::RotateKeyOnDemand => call!(rotate_key_on_demand),
        O::ListKeyRotations => call!(list_key_rotations),
        O::CreateGrant => call!(create_grant),
        O::Sign => call!(sign),
        O::Verify => call!(verify),
        O::GetPublicKey => call!(get_public_key),
        O::GenerateMac => call!(generate_mac),
        O::VerifyMac => call!(verify_mac),
        O::DeriveSharedSecret => call!(derive_shared_secret),
        O::Encapsulate => call!(encapsulate),
        O::Decapsulate => call!(decapsulate),
        O::GenerateDataKeyPair => call!(generate_data_key_pair),
        O::GenerateDataKeyPairWithoutPlaintext => call!(generate_data_key_pair_without_plaintext),
        O::ListGrants => call!(list_grants),
        O::ListRetirableGrants => call!(list_retirable_grants),
        O::RetireGrant => call!(retire_grant),
        O::RevokeGrant => call!(revoke_grant),
        O::GetParametersForImport => call!(get_parameters_for_import),
        O::ImportKeyMaterial => call!(import_key_material),
        O::DeleteImportedKeyMaterial => call!(delete_imported_key_material),
        O::GetKeyLastUsage => call!(get_key_last_usage),
        O::CreateCustomKeyStore => call!(create_custom_key_store),
        O::ConnectCustomKeyStore => call!(connect_custom_key_store),
        O::DeleteCustomKeyStore => call!(delete_custom_key_store),
        O::DescribeCustomKeyStores => call!(describe_custom_key_stores),
        O::DisconnectCustomKeyStore => call!(disconnect_custom_key_store),
        O::UpdateCustomKeyStore => call!(update_custom_key_store),
    }
}

/// Runs one Secrets Manager operation.
pub fn secrets_manager(
    c: &Coffer,
    ctx: &RequestContext,
    op: SecretsManagerOp,
    body: &[u8],
) -> Result<Bytes, ApiError> {
    let s = &c.secrets;
    if ctx.role.is_some() {
        s.authorize_request(ctx, op, body)?;
    }
    macro_rules! call {
        ($m:ident) => {{
            let (mut tries, mut looked) = (0, false);
            loop {
                match s.$m(ctx, decode(body)?) {
                    Err(e) if e.is_conflict() && c.retry_after_conflict(&mut tries) => continue,
                    Err(e) if e.is_not_found() && c.retry_after_miss(&mut looked) => continue,
                    r => break encode(r?),
                }
            }
        }};
    }
    use SecretsManagerOp as O;
    match op {
        O::CreateSecret => call!(create_secret),
        O::DescribeSecret => call!(describe_secret),
        O::GetSecretValue => call!(get_secret_value),
        O::PutSecretValue => call!(put_secret_value),
        O::UpdateSecret => call!(update_secret),
        O::DeleteSecret => call!(delete_secret),
        O::RestoreSecret => call!(restore_secret),
        O::ListSecrets => call!(list_secrets),
        O::ListSecretVersionIds => call!(list_secret_version_ids),
        O::GetResourcePolicy => call!(get_resource_policy),
        O::PutResourcePolicy => call!(put_resource_policy),
        O::DeleteResourcePolicy => call!(delete_resource_policy),
        O::ValidateResourcePolicy => call!(validate_resource_policy),
        O::ListResourcePolicies => call!(list_resource_policies),
        O::AssociateCrossAccountReplica => call!(associate_cross_account_replica),
        O::DisassociateCrossAccountReplica => call!(disassociate_cross_account_replica),
        O::TagResource => call!(tag_resource),
        O::UntagResource => call!(untag_resource),
        O::ReplicateSecretToRegions => call!(replicate_secret_to_regions),
        O::RemoveRegionsFromReplication => call!(remove_regions_from_replication),
        O::StopReplicationToReplica => call!(stop_replication_to_replica),
        O::UpdateSecretVersionStage => call!(update_secret_version_stage),
        O::BatchGetSecretValue => call!(batch_get_secret_value),
        O::RotateSecret => call!(rotate_secret),
        O::CancelRotateSecret => call!(cancel_rotate_secret),
        O::GetRandomPassword => encode(s.get_random_password(decode(body)?)?),
    }
}

/// The answer to an operation of the model that Coffer does not serve: each service's own
/// "unsupported" error.
pub fn unsupported(info: &Operation) -> ApiError {
    use coffer_model::ops::Service;
    let code = match info.service {
        Service::Kms => "UnsupportedOperationException",
        Service::SecretsManager => "InvalidRequestException",
        Service::CloudTrail => "UnsupportedOperationException",
        Service::Sts | Service::Iam => "InvalidAction",
    };
    ApiError::bad_request(
        code,
        format!(
            "Coffer does not support the {} operation {} yet.",
            info.service.info().service_id,
            info.name
        ),
    )
}

/// CloudTrail LookupEvents over the audit trail (ADR 0010): the caller's account and Region
/// only; a role session needs `cloudtrail:LookupEvents` (on `*`: CloudTrail has no
/// resource-level permissions for it). Without a trail the request is still checked and finds
/// no events.
pub fn lookup_events(
    c: &Coffer,
    audit: Option<&coffer_audit::AuditLog>,
    ctx: &RequestContext,
    body: &[u8],
) -> Result<Bytes, ApiError> {
    let request: serde_json::Value = decode(body)?;
    if ctx.role.is_some() {
        c.authz
            .check(
                ctx,
                coffer_core::authz::Ask {
                    action: "cloudtrail:LookupEvents",
                    resource: "*",
                    context: coffer_policy::Context::new(),
                },
                None,
            )
            .map_err(|d| ApiError::bad_request("AccessDeniedException", d.message))?;
    }
    let lookup_error = |e: coffer_audit::LookupError| ApiError::bad_request(e.code, e.message);
    match audit {
        Some(log) => encode(
            log.lookup_events(&ctx.account_id, &ctx.region, &request)
                .map_err(lookup_error)?,
        ),
        None => {
            coffer_audit::LookupEventsRequest::from_json(&request).map_err(lookup_error)?;
            encode(coffer_audit::LookupEventsResponse {
                events: Vec::new(),
                next_token: None,
            })
        }
    }
}
