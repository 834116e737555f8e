//! Wire types for the AWS APIs Coffer speaks: request and response members with AWS's names,
//! validation with AWS's messages, and timestamps in AWS's JSON 1.1 encoding.
//!
//! This crate knows nothing of HTTP, storage or cryptography.
#![forbid(unsafe_code)]

pub mod blob;
pub mod iam;
pub mod kms;
pub mod ops;
pub mod secretsmanager;
pub mod sts;
pub mod time;
pub mod validate;

pub use blob::Blob;
pub use time::Timestamp;
pub use validate::{ValidationError, Validator};
