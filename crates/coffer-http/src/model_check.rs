//! Answers checked against the service models (`check_responses = true`, for Coffer's own test
//! suite): every JSON 1.1 response against its operation's output shape, every error code
//! against the errors the model lists for the operation or AWS's common errors. A mismatch is
//! logged as an error line naming the operation and the problem (never a value); the answer is
//! sent unchanged. The integration tests' harness fails a test whose server logged one.

use crate::error::ApiError;
use coffer_model::ops::Operation;

/// The line the harness looks for.
pub const MISMATCH: &str = "answer does not match the service model";

/// Errors any operation of a JSON or Query service may answer (AWS's "common errors"), and the
/// ones the front itself sends before an operation runs.
const COMMON_ERRORS: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidAction",
    "InvalidClientTokenId",
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidQueryParameter",
    "InvalidSignatureException",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    "NotAuthorized",
    "OptInRequired",
    "RequestEntityTooLargeException",
    "RequestExpired",
    "RequestTimeout",
    "SerializationException",
    "ServiceUnavailable",
    "SignatureDoesNotMatch",
    "ThrottlingException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "ValidationError",
    "ValidationException",
];

/// Errors AWS sends for an operation although its model does not list them.
const UNLISTED_ERRORS: &[(&str, &str)] = &[
    // CreateAlias of a reserved `alias/aws/` name.
    ("CreateAlias", "NotAuthorizedException"),
];

/// Whether a problem is a known gap of the model rather than of the answer: KMS still sends
/// the deprecated `CustomerMasterKeySpec` for key specs added after its enum was frozen
/// (`ECC_NIST_EDWARDS25519`, `ML_DSA_*`), and the Terraform provider reads it from there.
fn model_gap(problem: &coffer_protocol::validate::Problem) -> bool {
    use coffer_protocol::validate::ProblemKind;
    match &problem.kind {
        ProblemKind::NotInEnum { value, shape } => {
            *shape == "CustomerMasterKeySpec"
                && coffer_model::ops::kms::shape("KeySpec").is_some_and(|s| match &s.kind {
                    coffer_model::ops::ShapeKind::String(e) => {
                        e.enum_values.contains(&value.as_str())
                    }
                    _ => false,
                })
        }
        _ => false,
    }
}

/// Checks one JSON 1.1 answer and logs each mismatch.
pub fn json(op: &Operation, result: &Result<bytes::Bytes, ApiError>) {
    for problem in mismatches(op, result) {
        tracing::error!(operation = op.name, %problem, "{MISMATCH}");
    }
}

/// Every way one JSON 1.1 answer (`Ok`: the response body) departs from the operation's model.
pub fn mismatches(op: &Operation, result: &Result<bytes::Bytes, ApiError>) -> Vec<String> {
    match result {
        Ok(body) => {
            let Some(shape) = op.output else {
                return Vec::new();
            };
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(value) => coffer_protocol::validate::validate(shape, &value)
                    .into_iter()
                    .filter(|p| !model_gap(p))
                    .map(|p| p.to_string())
                    .collect(),
                Err(_) => vec!["the body is not JSON".into()],
            }
        }
        Err(e) => error_code(op, e.code).into_iter().collect(),
    }
}

/// Whether the model lets the operation answer this error code.
fn error_code(op: &Operation, code: &str) -> Option<String> {
    let listed = op.errors.contains(&code)
        || COMMON_ERRORS.contains(&code)
        || UNLISTED_ERRORS.contains(&(op.name, code));
    (!listed).then(|| format!("{code}: an error code the model does not list for the operation"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_model::ops::KmsOp;

    fn encrypt() -> &'static Operation {
        KmsOp::Encrypt.info()
    }

    #[test]
    fn a_member_the_model_lacks_is_a_mismatch() {
        let body = br#"{"KeyId":"k","CiphertextBlob":"AAAA","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","Extra":1}"#;
        let m = mismatches(encrypt(), &Ok(bytes::Bytes::from_static(body)));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("Extra"), "{m:?}");
        let ok =
            br#"{"KeyId":"k","CiphertextBlob":"AAAA","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#;
        assert!(mismatches(encrypt(), &Ok(bytes::Bytes::from_static(ok))).is_empty());
    }

    #[test]
    fn error_codes_come_from_the_model_or_the_common_list() {
        let err = |code| Err(ApiError::bad_request(code, "m"));
        assert!(mismatches(encrypt(), &err("DisabledException")).is_empty());
        assert!(mismatches(encrypt(), &err("ValidationException")).is_empty());
        assert_eq!(mismatches(encrypt(), &err("NoSuchThingException")).len(), 1);
        let alias = KmsOp::CreateAlias.info();
        assert!(mismatches(alias, &err("NotAuthorizedException")).is_empty());
    }

    #[test]
    fn newer_key_specs_in_the_deprecated_member_are_a_model_gap() {
        let body = br#"{"KeyId":"k","PublicKey":"AAAA","CustomerMasterKeySpec":"ML_DSA_44","KeySpec":"ML_DSA_44","KeyUsage":"SIGN_VERIFY"}"#;
        let op = KmsOp::GetPublicKey.info();
        assert!(mismatches(op, &Ok(bytes::Bytes::from_static(body))).is_empty());
        let bad = br#"{"KeyId":"k","PublicKey":"AAAA","CustomerMasterKeySpec":"NOPE","KeySpec":"ML_DSA_44","KeyUsage":"SIGN_VERIFY"}"#;
        assert_eq!(mismatches(op, &Ok(bytes::Bytes::from_static(bad))).len(), 1);
    }
}
