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

impl SmError {
    /// Whether this is a store conflict: the write was decided from state another node had
    /// changed (`coffer_store::epoch`); the caller catches up and runs the operation again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_conflict())
    }
}

impl SmError {
    /// Whether the resource was not found: on a store shared with other nodes, the caller
    /// catches up once and looks again (it may have been made through another node just now).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::ResourceNotFound(_))
    }
}
