//! Every error a client can see, mapped from each layer's typed error in one exhaustive match per
//! layer. Internal errors are logged here and leave only a generic message.

use crate::sigv4::AuthError;
use coffer_kms::KmsError;
use coffer_secrets::SmError;
use http::StatusCode;

/// An AWS error ready to render: `__type` code, HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// AWS error code (`__type` in JSON, `Code` in XML).
    pub code: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// Message; empty to omit.
    pub message: String,
}

impl ApiError {
    /// A 400 with this code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A 500 whose detail goes to the log only.
    pub(crate) fn internal(code: &'static str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self {
            code,
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "We encountered an internal error. Please try again.".into(),
        }
    }

    /// An operation that does not exist for the service.
    pub fn unknown_operation(target: &str) -> Self {
        let _ = target;
        Self::bad_request("UnknownOperationException", "")
    }

    /// A body that is not the JSON the operation takes.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::bad_request("SerializationException", message)
    }
}

impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> Self {
        use KmsError::*;
        let (code, status, message) = match e {
            NotFound(m) => ("NotFoundException", 400, m),
            AlreadyExists(m) => ("AlreadyExistsException", 400, m),
            Disabled(m) => ("DisabledException", 400, m),
            InvalidState(m) => ("KMSInvalidStateException", 400, m),
            InvalidCiphertext(m) => ("InvalidCiphertextException", 400, m),
            IncorrectKey(m) => ("IncorrectKeyException", 400, m),
            InvalidKeyUsage(m) => ("InvalidKeyUsageException", 400, m),
            InvalidMarker(m) => ("InvalidMarkerException", 400, m),
            InvalidArn(m) => ("InvalidArnException", 400, m),
            InvalidAliasName(m) => ("InvalidAliasNameException", 400, m),
            MalformedPolicyDocument(m) => ("MalformedPolicyDocumentException", 400, m),
            LimitExceeded(m) => ("LimitExceededException", 400, m),
            UnsupportedOperation(m) => ("UnsupportedOperationException", 400, m),
            Tag(m) => ("TagException", 400, m),
            DryRun(m) => ("DryRunOperationException", 400, m),
            NotAuthorized(m) => ("NotAuthorizedException", 400, m),
            AccessDenied(m) => ("AccessDeniedException", 400, m),
            InvalidGrantToken(m) => ("InvalidGrantTokenException", 400, m),
            InvalidSignature(m) => ("KMSInvalidSignatureException", 400, m),
            InvalidMac(m) => ("KMSInvalidMacException", 400, m),
            InvalidGrantId(m) => ("InvalidGrantIdException", 400, m),
            IncorrectKeyMaterial(m) => ("IncorrectKeyMaterialException", 400, m),
            ExpiredImportToken(m) => ("ExpiredImportTokenException", 400, m),
            InvalidImportToken(m) => ("InvalidImportTokenException", 400, m),
            CustomKeyStoreNotFound(m) => ("CustomKeyStoreNotFoundException", 400, m),
            CloudHsmClusterNotFound(m) => ("CloudHsmClusterNotFoundException", 400, m),
            XksProxyUriUnreachable(m) => ("XksProxyUriUnreachableException", 400, m),
            Validation(v) => ("ValidationException", 400, v.message),
            e @ (Internal(_) | Store(_)) => return Self::internal("KMSInternalException", &e),
        };
        Self {
            code,
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            message,
        }
    }
}

impl From<SmError> for ApiError {
    fn from(e: SmError) -> Self {
        use SmError::*;
        let (code, message) = match e {
            ResourceNotFound(m) => ("ResourceNotFoundException", m),
            ResourceExists(m) => ("ResourceExistsException", m),
            InvalidRequest(m) => ("InvalidRequestException", m),
            InvalidParameter(m) => ("InvalidParameterException", m),
            Validation(v) => ("ValidationException", v.message),
            EncryptionFailure(m) => ("EncryptionFailure", m),
            DecryptionFailure(m) => ("DecryptionFailure", m),
            LimitExceeded(m) => ("LimitExceededException", m),
            MalformedPolicyDocument(m) => ("MalformedPolicyDocumentException", m),
            PreconditionNotMet(m) => ("PreconditionNotMetException", m),
            PublicPolicy(m) => ("PublicPolicyException", m),
            InvalidNextToken(m) => ("InvalidNextTokenException", m),
            AccessDenied(m) => ("AccessDeniedException", m),
            e @ (Internal(_) | Store(_)) => return Self::internal("InternalServiceError", &e),
        };
        Self::bad_request(code, message)
    }
}

/// Which wire protocol an authentication error is rendered for: the codes differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.1 (KMS, Secrets Manager).
    Json,
    /// AWS Query (STS, IAM).
    Query,
}

/// The AWS error for a failed authentication.
pub fn auth_error(e: &AuthError, protocol: Protocol) -> ApiError {
    let json = protocol == Protocol::Json;
    let (code, status) = match e {
        AuthError::Missing => {
            if json {
                ("MissingAuthenticationTokenException", 400)
            } else {
                ("MissingAuthenticationToken", 403)
            }
        }
        AuthError::Malformed(_) | AuthError::IncompleteSignature(_) => {
            if json {
                ("IncompleteSignatureException", 400)
            } else {
                ("IncompleteSignature", 400)
            }
        }
        AuthError::InvalidSignature(_)
        | AuthError::SignatureMismatch { .. }
        | AuthError::Expired { .. } => {
            if json {
                ("InvalidSignatureException", 400)
            } else {
                ("SignatureDoesNotMatch", 403)
            }
        }
        AuthError::UnrecognizedClient => {
            if json {
                ("UnrecognizedClientException", 400)
            } else {
                ("InvalidClientTokenId", 403)
            }
        }
        AuthError::ExpiredToken => {
            if json {
                ("ExpiredTokenException", 400)
            } else {
                ("ExpiredToken", 400)
            }
        }
    };
    let message = match (e, protocol) {
        (AuthError::Missing, Protocol::Query) => {
            "Request is missing Authentication Token".to_string()
        }
        _ => e.message(),
    };
    ApiError {
        code,
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        message,
    }
}
