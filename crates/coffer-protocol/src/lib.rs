//! Generic AWS protocol codecs, driven by the shapes of the operation registry
//! ([`coffer_model::ops`]): nothing here knows one operation from another, so an operation added
//! to the model (and served) needs no codec code of its own.
//!
//! * [`query`] — **AWS Query requests** (STS, IAM): form parameters such as
//!   `Tags.member.1.Key=k`, `PolicyArns.member.1.arn=…` or `Attributes.entry.1.key=…` become a
//!   [`serde_json::Value`] shaped like the operation's input structure (members named as in the
//!   model, timestamps as epoch seconds, blobs as base64 text), from which the same serde structs
//!   the JSON services use deserialize. Wrong types answer the Query protocol's
//!   `ValidationError`, in AWS's wording.
//! * [`xml`] — **AWS Query responses**: a `Value` of an operation's output structure becomes
//!   `<OpResponse xmlns=…><OpResult>…</OpResult><ResponseMetadata><RequestId>…`, lists wrapped
//!   in `member` elements, timestamps in ISO 8601, text escaped; and the protocol's
//!   `<ErrorResponse>`.
//! * [`validate`] — **JSON 1.1 responses checked against the model**: unknown members, missing
//!   required members, wrong types, enum values the model does not have, timestamps that are not
//!   epoch seconds. A test can run every operation's answer through it.
//! * [`sample`] — a full example value of any shape, for tests.
//!
//! The wire rules are botocore's (`botocore/serialize.py` `QuerySerializer`,
//! `botocore/parsers.py` `QueryParser`), and the tests check both codecs against botocore itself
//! (`tests/botocore.rs`). The codecs are written to be complete and exact, not fast: the Query
//! services are control-plane calls.
//!
//! Secrets: decoded and encoded values may hold them (STS credentials, IAM passwords); they are
//! never put into an error message (members whose shape is `sensitive` are shown as
//! `*** Sensitive Data Redacted ***`). Callers that hold secrets in the returned strings should
//! wrap them in `zeroize::Zeroizing`.
#![forbid(unsafe_code)]

pub mod query;
pub mod sample;
mod timestamp;
pub mod validate;
pub mod xml;

pub use query::{decode, decode_strict, QueryError};
pub use validate::{validate, Problem};
pub use xml::{encode_error, encode_response, EncodeError};

/// What an error message shows instead of a sensitive value (AWS's wording).
pub const REDACTED: &str = "*** Sensitive Data Redacted ***";
