//! KMS errors, one variant per AWS error code. The HTTP layer maps each variant to its `__type`
//! and status in one exhaustive match.

use coffer_model::ValidationError;

/// Why a KMS operation failed. Messages are AWS's texts; `Internal`, `Store` and `Crypto` details
/// are logged and never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// `NotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// `AlreadyExistsException`.
    #[error("{0}")]
    AlreadyExists(String),
    /// `DisabledException`.
    #[error("{0}")]
    Disabled(String),
    /// `KMSInvalidStateException`.
    #[error("{0}")]
    InvalidState(String),
    /// `InvalidCiphertextException`.
    #[error("{0}")]
    InvalidCiphertext(String),
    /// `IncorrectKeyException`.
    #[error("{0}")]
    IncorrectKey(String),
    /// `InvalidKeyUsageException`.
    #[error("{0}")]
    InvalidKeyUsage(String),
    /// `InvalidMarkerException`.
    #[error("{0}")]
    InvalidMarker(String),
    /// `InvalidArnException`.
    #[error("{0}")]
    InvalidArn(String),
    /// `InvalidAliasNameException`.
    #[error("{0}")]
    InvalidAliasName(String),
    /// `MalformedPolicyDocumentException`.
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// `LimitExceededException`.
    #[error("{0}")]
    LimitExceeded(String),
    /// `UnsupportedOperationException`.
    #[error("{0}")]
    UnsupportedOperation(String),
    /// `TagException`.
    #[error("{0}")]
    Tag(String),
    /// `DryRunOperationException`.
    #[error("{0}")]
    DryRun(String),
    /// `KMSInvalidSignatureException`.
    #[error("{0}")]
    InvalidSignature(String),
    /// `KMSInvalidMacException`.
    #[error("{0}")]
    InvalidMac(String),
    /// `InvalidGrantTokenException`.
    #[error("{0}")]
    InvalidGrantToken(String),
    /// `InvalidGrantIdException`.
    #[error("{0}")]
    InvalidGrantId(String),
    /// `NotAuthorizedException`.
    #[error("{0}")]
    NotAuthorized(String),
    /// `AccessDeniedException`: the caller's policies do not allow the request.
    #[error("{0}")]
    AccessDenied(String),
    /// `IncorrectKeyMaterialException`.
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    /// `ExpiredImportTokenException`.
    #[error("{0}")]
    ExpiredImportToken(String),
    /// `InvalidImportTokenException`.
    #[error("{0}")]
    InvalidImportToken(String),
    /// `CustomKeyStoreNotFoundException`.
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    /// `CloudHsmClusterNotFoundException`.
    #[error("{0}")]
    CloudHsmClusterNotFound(String),
    /// `XksProxyUriUnreachableException`.
    #[error("{0}")]
    XksProxyUriUnreachable(String),
    /// `ValidationException`.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// `KMSInternalException`: a bug or an impossible state; text logged only.
    #[error("internal error: {0}")]
    Internal(String),
    /// `KMSInternalException`: the store failed; text logged only.
    #[error("storage error: {0}")]
    Store(#[from] coffer_store::StoreError),
}

impl From<coffer_crypto::CryptoError> for KmsError {
    fn from(e: coffer_crypto::CryptoError) -> Self {
        KmsError::Internal(format!("crypto: {e}"))
    }
}

impl From<serde_json::Error> for KmsError {
    fn from(e: serde_json::Error) -> Self {
        KmsError::Internal(format!("record encoding: {e}"))
    }
}

impl KmsError {
    /// Whether this is a store conflict: the write was decided from state another node had
    /// changed (`coffer_store::epoch`); the caller catches up and runs the operation again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_conflict())
    }
}

impl KmsError {
    /// Whether the resource was not found: on a store shared with other nodes, the caller
    /// catches up once and looks again (it may have been made through another node just now).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }
}
