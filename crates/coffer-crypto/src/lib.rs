//! Coffer's cryptography, all through aws-lc-rs: key material that zeroizes itself, the versioned
//! ciphertext blob, and the root key that wraps everything stored at rest.
//!
//! This crate knows nothing of requests or storage.
#![forbid(unsafe_code)]

pub mod digest;
