//! AWS Key Management Service.
