//! AWS Secrets Manager: secrets and their versions (envelope-encrypted under KMS keys),
//! staging labels, replication to other regions, deletion with a recovery window, and rotation
//! through configured [`Rotator`]s standing in for Lambda functions.
#![forbid(unsafe_code)]

#[cfg(test)]
mod cross_account_tests;
pub mod error;
mod record;
pub mod rotation;
#[cfg(test)]
mod rotation_tests;
mod schedule;
mod service;
#[cfg(test)]
mod tests;

pub use coffer_core::keys::{KeyFailure, KeyProvider};
pub use error::SmError;
pub use rotation::{
    HttpRotator, PostgresRotator, RandomPasswordRotator, RotationEvent, RotationFailure,
    RotationStep, Rotator, RotatorConfig, RotatorRegistry, RotatorsConfig, RotatorsConfigError,
    SecretsApi,
};
pub use service::SecretsManager;
