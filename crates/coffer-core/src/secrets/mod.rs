//! AWS Secrets Manager: secrets and their versions (envelope-encrypted under KMS keys),
//! staging labels, replication to other regions, and deletion with a recovery window.

pub mod error;
pub mod keys;
mod record;
mod service;
#[cfg(test)]
mod tests;

pub use error::SmError;
pub use keys::{KeyFailure, KeyProvider};
pub use service::SecretsManager;
