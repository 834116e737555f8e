//! The interface Secrets Manager needs from KMS.

use crate::RequestContext;

/// What Secrets Manager needs from KMS. Implemented by the KMS service.
pub trait KeyProvider: Send + Sync + 'static {
    /// Resolves a KmsKeyId as a client gave it (key ID, key ARN, alias name `alias/x`, alias ARN) in ctx.region; returns the key's ARN.
    fn key_arn(&self, ctx: &RequestContext, key_ref: &str) -> Result<String, KeyFailure>;
    /// The ARN of the region's `alias/aws/secretsmanager` key, created on first use.
    fn default_key_arn(&self, ctx: &RequestContext) -> Result<String, KeyFailure>;
    /// GenerateDataKey (AES_256) under `key_ref` with the encryption context: (plaintext data key, KMS ciphertext blob).
    fn generate_data_key(
        &self,
        ctx: &RequestContext,
        key_ref: &str,
        enc_ctx: &std::collections::BTreeMap<String, String>,
    ) -> Result<(zeroize::Zeroizing<Vec<u8>>, Vec<u8>), KeyFailure>;
    /// Decrypt of a KMS ciphertext blob in ctx.region.
    fn decrypt(
        &self,
        ctx: &RequestContext,
        blob: &[u8],
        enc_ctx: &std::collections::BTreeMap<String, String>,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyFailure>;
}

/// Why KMS refused. The message is AWS KMS's own text for the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFailure {
    /// The key or alias does not exist (`NotFoundException`).
    NotFound(String),
    /// The key is disabled (`DisabledException`).
    Disabled(String),
    /// The key's state forbids the operation, e.g. pending deletion (`KMSInvalidStateException`).
    InvalidState(String),
    /// The caller may not use the key (`AccessDeniedException`).
    AccessDenied(String),
    /// KMS failed internally; the text is for logs only.
    Internal(String),
    /// KMS's write was decided from state another node had changed (a store conflict): the
    /// request is run again once caught up (see `coffer_store::epoch`).
    Conflict,
}

impl KeyFailure {
    /// KMS's message.
    pub fn message(&self) -> &str {
        match self {
            Self::NotFound(m)
            | Self::Disabled(m)
            | Self::InvalidState(m)
            | Self::AccessDenied(m)
            | Self::Internal(m) => m,
            Self::Conflict => "",
        }
    }
}
