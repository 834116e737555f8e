//! Coffer's cryptography, all through aws-lc-rs: key material that zeroizes itself, the versioned
//! ciphertext blob, and the root key that wraps everything stored at rest.
//!
//! This crate knows nothing of requests or storage.
#![forbid(unsafe_code)]

pub mod aead;
pub mod asymmetric;
pub mod ciphertext;
pub mod digest;
pub mod hybrid;
pub mod import;
pub mod jws;
pub mod random;
pub mod root;

pub use aead::SymmetricKey;
pub use root::RootKey;

/// A cryptographic failure. Deliberately carries no detail that could help an attacker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed or the input is not a blob this code can open.
    #[error("the ciphertext could not be authenticated")]
    Open,
    /// The input does not have the expected structure.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// The underlying library refused an operation (e.g. the random source failed).
    #[error("cryptographic library failure")]
    Library,
}
