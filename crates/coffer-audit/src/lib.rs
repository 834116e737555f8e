//! Coffer's tamper-evident audit trail (ADR 0010): one AWS CloudTrail event per request, redacted
//! as CloudTrail redacts, appended as JSON lines to size-rotated segments and/or standard output,
//! SHA-256-chained line to line with HMAC-SHA256 checkpoints under a key derived from the root key;
//! [`verify`] checks a trail; [`Index`] answers CloudTrail `LookupEvents`.
//!
//! Dispatch builds an [`Event`] with [`Event::api_call`] (or [`Event::service_event`] for scheduler
//! actions), then `audit.submit(&event).await` before answering (fail-closed) — see [`AuditLog`].
#![forbid(unsafe_code)]

pub mod chain;
pub mod cli;
pub mod lookup;
pub mod record;
pub mod redact;
pub mod verify;
mod writer;

pub use chain::{AuditKey, Segments};
pub use lookup::{Index, LookupError, LookupEventsRequest, LookupEventsResponse, TrailEvent};
pub use record::{
    ApiCall, ConsoleSignIn, Event, EventType, IdentityType, Resource, RoleSessionIdentity, Service,
    SessionAttributes, SessionContext, SessionIssuer, TlsDetails, UserIdentity, EVENT_VERSION,
};
pub use verify::{verify, verify_with, Problem, ProblemKind, Report, Status, VerifyOptions};
pub use writer::{AuditConfig, AuditError, AuditLog, AuditStats, FsyncPolicy, Submission};
