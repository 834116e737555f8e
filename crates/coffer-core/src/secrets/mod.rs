//! AWS Secrets Manager.
