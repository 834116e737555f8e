//! Coffer's services: KMS (keys, multi-region families, aliases, policies), Secrets Manager
//! (secrets, versions, replication) and identity. State lives in memory, indexed for the request
//! hot paths, and is written through to a [`coffer_store::Store`] before any change is acknowledged.
//!
//! This crate knows nothing of HTTP.
#![forbid(unsafe_code)]

pub mod authz;
pub mod clock;
pub mod context;
pub mod iam;
pub mod identity;
pub mod kms;
pub mod secrets;
pub mod service;
pub mod sts;

pub use clock::{Clock, SystemClock};
pub use context::{RequestContext, RoleSession};
pub use service::{Coffer, CoreError};
