//! The `passphrase` seal: the root key wrapped with AES-256-GCM (aws-lc-rs) under a key derived
//! from the passphrase with Argon2id (RFC 9106). aws-lc-rs has no Argon2, so the derivation is
//! RustCrypto's `argon2` crate (ADR 0013); the wrapping itself is aws-lc-rs.

use crate::{SealConfig, SealError};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Params {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// 64 MiB, 3 passes, 1 lane: above every OWASP minimum, about a quarter of a second.
    fn default() -> Self {
        Self {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 1,
        }
    }
}

/// OWASP's Password Storage Cheat Sheet Argon2id configurations, `(memory KiB, iterations)`,
/// equally strong: a setting must reach one of them.
pub const OWASP_MINIMUMS: &[(u32, u32)] = &[
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

impl Argon2Params {
    /// Refuses settings below OWASP's minimums.
    pub fn check(&self) -> Result<(), SealError> {
        let strong = OWASP_MINIMUMS
            .iter()
            .any(|&(m, t)| self.memory_kib >= m && self.iterations >= t);
        if !strong || self.parallelism == 0 {
            return Err(SealError::Config(format!(
                "argon2_memory_kib = {}, argon2_iterations = {}, argon2_parallelism = {} are below \
                 OWASP's minimums for Argon2id (e.g. 19456 KiB and 2 iterations, or 47104 KiB \
                 and 1, with parallelism at least 1)",
                self.memory_kib, self.iterations, self.parallelism
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    kdf: String,
    version: u32,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
}

fn passphrase(config: &SealConfig) -> Result<&str, SealError> {
    match config.passphrase.as_deref() {
        Some(p) if !p.is_empty() => Ok(p.as_str()),
        _ => Err(SealError::Config(
            "kind = \"passphrase\" needs the passphrase: set COFFER_SEAL_PASSPHRASE or \
             passphrase_file, or run on a terminal to be asked"
                .into(),
        )),
    }
}

/// The stored parameters of a new seal: the configured costs and a fresh 16-byte salt.
pub(crate) fn params(config: &SealConfig) -> Result<serde_json::Value, SealError> {
    config.argon2.check()?;
    passphrase(config)?;
    let salt = coffer_crypto::random::bytes(16)?;
    let p = config.argon2;
    serde_json::to_value(Stored {
        kdf: "argon2id".into(),
        version: 0x13,
        memory_kib: p.memory_kib,
        iterations: p.iterations,
        parallelism: p.parallelism,
        salt: hex::encode(&salt[..]),
    })
    .map_err(|e| SealError::Config(e.to_string()))
}

fn derive(
    config: &SealConfig,
    params: &serde_json::Value,
) -> Result<Zeroizing<[u8; 32]>, SealError> {
    let stored: Stored = serde_json::from_value(params.clone())
        .map_err(|e| SealError::Config(format!("passphrase parameters: {e}")))?;
    if stored.kdf != "argon2id" || stored.version != 0x13 {
        return Err(SealError::Config(format!(
            "unknown key derivation {} v{}",
            stored.kdf, stored.version
        )));
    }
    let salt = hex::decode(&stored.salt)
        .map_err(|_| SealError::Config("passphrase salt is not hex".into()))?;
    let argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(
            stored.memory_kib,
            stored.iterations,
            stored.parallelism,
            Some(32),
        )
        .map_err(|e| SealError::Config(format!("Argon2id parameters: {e}")))?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase(config)?.as_bytes(), &salt, &mut out[..])
        .map_err(|e| SealError::Config(format!("Argon2id: {e}")))?;
    Ok(out)
}

/// A 32-byte key derived from `passphrase` and `salt` with Argon2id (version 0x13) at
/// `params` (not checked against OWASP's minimums here: a reader takes the file's costs).
pub fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    params: &Argon2Params,
) -> Result<Zeroizing<[u8; 32]>, SealError> {
    let argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(32),
        )
        .map_err(|e| SealError::Config(format!("Argon2id parameters: {e}")))?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, &mut out[..])
        .map_err(|e| SealError::Config(format!("Argon2id: {e}")))?;
    Ok(out)
}

pub(crate) fn wrap(
    config: &SealConfig,
    params: &serde_json::Value,
    aad: &[u8],
    secret: &[u8],
) -> Result<Vec<u8>, SealError> {
    let kek = derive(config, params)?;
    Ok(coffer_crypto::aead::seal(&kek[..], aad, secret)?)
}

pub(crate) fn unwrap(
    config: &SealConfig,
    params: &serde_json::Value,
    aad: &[u8],
    wrapped: &[u8],
    path: &str,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let kek = derive(config, params)?;
    coffer_crypto::aead::open(&kek[..], aad, wrapped)
        .map_err(|_| SealError::WrongPassphrase(path.to_string()))
}
