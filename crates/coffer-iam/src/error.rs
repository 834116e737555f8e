//! IAM errors: one variant per AWS error code, carrying AWS's message.

use coffer_model::ValidationError;
use coffer_store::StoreError;

/// Why an IAM operation failed. Variants are named after AWS's error codes
/// (`NoSuchEntity` = `NoSuchEntity`, HTTP 404; `DeleteConflict`, 409; …).
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// `NoSuchEntity` (404).
    #[error("{0}")]
    NoSuchEntity(String),
    /// `EntityAlreadyExists` (409).
    #[error("{0}")]
    EntityAlreadyExists(String),
    /// `DeleteConflict` (409).
    #[error("{0}")]
    DeleteConflict(String),
    /// `LimitExceeded` (409).
    #[error("{0}")]
    LimitExceeded(String),
    /// `MalformedPolicyDocument` (400).
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// `InvalidInput` (400).
    #[error("{0}")]
    InvalidInput(String),
    /// `ValidationError` (400): a member breaks the model's constraints.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// `AccessDenied` (403).
    #[error("{0}")]
    AccessDenied(String),
    /// `ServiceFailure` (500). The text is for logs only, never for clients.
    #[error("internal error: {0}")]
    Internal(String),
    /// Storage failed (`ServiceFailure` to clients). The text is for logs only.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IamError {
    /// Whether this is a store conflict: the write was decided from state another node had
    /// changed (`coffer_store::epoch`); the caller catches up and runs the operation again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_conflict())
    }
}
