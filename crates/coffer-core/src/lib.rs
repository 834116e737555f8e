//! The small core every Coffer service shares: who is calling and where ([`RequestContext`]),
//! the [`Clock`], the authorization of role sessions ([`authz`], ADR 0009) and the narrow
//! interfaces services use to reach each other (Secrets Manager asks KMS for data keys through
//! [`keys::KeyProvider`]; it never reaches into KMS's state).
//!
//! This crate knows nothing of HTTP, storage or any one service's state.
#![forbid(unsafe_code)]

pub mod authz;
pub mod clock;
pub mod context;
pub mod events;
pub mod keys;

pub use clock::{Clock, SystemClock};
pub use context::{PrincipalKind, RequestContext, RoleSession};
