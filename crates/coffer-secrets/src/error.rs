//! Secrets Manager errors: one variant per AWS error code, carrying AWS's message.

use coffer_model::ValidationError;
use coffer_store::StoreError;

/// Why a Secrets Manager operation failed. Variants are named after AWS's error codes
/// (`ResourceNotFound` = `ResourceNotFoundException`, `EncryptionFailure` = `EncryptionFailure`, ...).
#[derive(Debug, thiserror::Error)]
pub enum SmError {
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    ResourceNotFound(String),
    /// `ResourceExistsException`.
    #[error("{0}")]
    ResourceExists(String),
    /// `InvalidRequestException`.
    #[error("{0}")]
    InvalidRequest(String),
    /// `InvalidParameterException`.
    #[error("{0}")]
    InvalidParameter(String),
    /// `ValidationException`.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// `EncryptionFailure`.
    #[error("{0}")]
    EncryptionFailure(String),
    /// `DecryptionFailure`.
    #[error("{0}")]
    DecryptionFailure(String),
    /// `LimitExceededException`.
    #[error("{0}")]
    LimitExceeded(String),
    /// `MalformedPolicyDocumentException`.
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// `PreconditionNotMetException`.
    #[error("{0}")]
    PreconditionNotMet(String),
    /// `PublicPolicyException`.
    #[error("{0}")]
    PublicPolicy(String),
    /// `InvalidNextTokenException`.
    #[error("{0}")]
    InvalidNextToken(String),
    /// `AccessDeniedException` (KMS refused the caller: "Access to KMS is not allowed").
    #[error("{0}")]
    AccessDenied(String),
    /// `InternalServiceError`. The text is for logs only, never for clients.
    #[error("internal error: {0}")]
    Internal(String),
    /// Storage failed (`InternalServiceError` to clients). The text is for logs only.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SmError {
    /// The message to send to the client (internal details are never sent).
    pub fn client_message(&self) -> String {
        match self {
            Self::Internal(_) | Self::Store(_) => "An internal error occurred.".to_string(),
            other => other.to_string(),
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::Validation(ValidationError {
            message: message.into(),
        })
    }
}
