//! Seals: how Coffer's root key is kept at rest in a data directory (ADR 0013).
//!
//! - `file`: `<data-dir>/root-key`, the key in plaintext (mode 0600). For `--dev` and first tries.
//! - `passphrase`: `<data-dir>/root-key.sealed`, the key wrapped (AES-256-GCM) under a key
//!   derived from a passphrase with Argon2id; the parameters and salt are stored beside it.
//! - `pkcs11`: the key wrapped inside an HSM by a non-extractable AES-256 key (CKM_AES_GCM through
//!   PKCS#11), so the data directory alone opens nothing.
//! - `kms`: the key encrypted by a key of an AWS-compatible KMS (AWS KMS or another Coffer):
//!   auto-unseal.
//!
//! Every sealed file is one JSON document with a `format` version, the seal's kind and its
//! non-secret parameters, which are also the additional authenticated data of the wrapping: a
//! file edited by hand does not open. Secrets (the passphrase, the PIN, the KMS secret key) are
//! never in the file.
#![forbid(unsafe_code)]

mod kms;
mod passphrase;
mod pkcs11;

use coffer_crypto::root::write_private_atomic;
use coffer_crypto::{CryptoError, RootKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub use passphrase::{derive_key, Argon2Params, OWASP_MINIMUMS};

/// The `file` seal's file in a data directory.
pub const PLAIN_FILE: &str = "root-key";
/// Every other seal's file in a data directory.
pub const SEALED_FILE: &str = "root-key.sealed";
/// The sealed-file format this build writes (and the newest it reads).
pub const FORMAT: u32 = 1;

/// A seal provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealKind {
    /// The root key in a plaintext file.
    File,
    /// Wrapped under an Argon2id-derived key.
    Passphrase,
    /// Wrapped inside a PKCS#11 token.
    Pkcs11,
    /// Encrypted by an external KMS key.
    Kms,
}

impl SealKind {
    /// The name in the configuration (`[seal] kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            SealKind::File => "file",
            SealKind::Passphrase => "passphrase",
            SealKind::Pkcs11 => "pkcs11",
            SealKind::Kms => "kms",
        }
    }

    /// Parses a configuration name.
    pub fn parse(s: &str) -> Option<SealKind> {
        [
            SealKind::File,
            SealKind::Passphrase,
            SealKind::Pkcs11,
            SealKind::Kms,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for SealKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The PKCS#11 seal's settings.
#[derive(Debug, Clone, Default)]
pub struct Pkcs11Settings {
    /// The module (shared library) path, e.g. /usr/lib/softhsm/libsofthsm2.so.
    pub module: Option<PathBuf>,
    /// The token, by label.
    pub token_label: Option<String>,
    /// The token, by slot ID (when no label is given).
    pub slot: Option<u64>,
    /// The user PIN.
    pub pin: Option<Zeroizing<String>>,
    /// The label of the AES key that wraps the root key.
    pub key_label: String,
}

/// The KMS seal's settings.
#[derive(Debug, Clone, Default)]
pub struct KmsSettings {
    /// The KMS endpoint URL (unset: AWS's endpoint for the region).
    pub endpoint: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// The KMS key (ID, ARN or alias) that encrypts the root key.
    pub key_id: Option<String>,
    /// The access key ID to sign with.
    pub access_key_id: Option<String>,
    /// Its secret access key.
    pub secret_access_key: Option<Zeroizing<String>>,
    /// A session token, for temporary credentials.
    pub session_token: Option<Zeroizing<String>>,
}

/// Everything a seal needs, secrets included (resolved by the caller from the environment, files
/// or a prompt).
#[derive(Debug, Clone)]
pub struct SealConfig {
    /// The provider.
    pub kind: SealKind,
    /// The passphrase (`passphrase`).
    pub passphrase: Option<Zeroizing<String>>,
    /// Argon2id parameters for a new passphrase seal.
    pub argon2: Argon2Params,
    /// `pkcs11`.
    pub pkcs11: Pkcs11Settings,
    /// `kms`.
    pub kms: KmsSettings,
}

impl SealConfig {
    /// The `file` seal.
    pub fn file() -> Self {
        Self {
            kind: SealKind::File,
            passphrase: None,
            argon2: Argon2Params::default(),
            pkcs11: Pkcs11Settings {
                key_label: "coffer-root-key".into(),
                ..Pkcs11Settings::default()
            },
            kms: KmsSettings::default(),
        }
    }

    /// The same settings with another provider.
    pub fn with_kind(&self, kind: SealKind) -> Self {
        Self {
            kind,
            ..self.clone()
        }
    }
}

/// Why a root key could not be unsealed, sealed or moved. Every message is one line naming
/// the cause; none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A setting the provider needs is missing or wrong.
    #[error("[seal] {0}")]
    Config(String),
    /// The passphrase does not open the sealed key.
    #[error("wrong passphrase: it does not open {0} (nothing was changed)")]
    WrongPassphrase(String),
    /// The sealed file cannot be read as a sealed key.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The sealed file was written by a newer Coffer.
    #[error(
        "{path} has sealed-file format {format}; this Coffer reads format {FORMAT}: upgrade Coffer"
    )]
    NewerFormat {
        /// The file.
        path: String,
        /// Its format.
        format: u32,
    },
    /// The configuration names a provider other than the one the data directory is sealed with.
    #[error("the data directory {dir} is sealed with `{on_disk}` but [seal] kind = \"{configured}\": set kind = \"{on_disk}\", or move it with `coffer operator seal-migrate --to {configured}`")]
    WrongProvider {
        /// The data directory.
        dir: String,
        /// What it holds.
        on_disk: SealKind,
        /// What the configuration says.
        configured: SealKind,
    },
    /// The HSM refused or is unreachable.
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    /// The KMS refused or is unreachable.
    #[error("KMS seal: {0}")]
    Kms(String),
    /// The sealed key is not there.
    #[error("no root key in {0}")]
    Missing(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A cryptographic failure.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// The plaintext key file is unreadable.
    #[error("{0}")]
    RootKey(#[from] coffer_crypto::root::RootKeyError),
}

/// What a data directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnDisk {
    /// `root-key` exists.
    pub plain: bool,
    /// `root-key.sealed` exists, sealed with this provider.
    pub sealed: Option<SealKind>,
}

impl OnDisk {
    /// No root key at all.
    pub fn is_empty(&self) -> bool {
        !self.plain && self.sealed.is_none()
    }
}

/// The on-disk sealed file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedFile {
    format: u32,
    kind: SealKind,
    /// The provider's non-secret parameters (also the wrapping's AAD).
    params: serde_json::Value,
    /// The wrapped root key, hex.
    wrapped: String,
}

impl SealedFile {
    /// The AAD of the wrapping: the format, the kind and the parameters as stored.
    fn aad(&self) -> Vec<u8> {
        format!(
            "coffer/seal/v{}/{}/{}",
            self.format,
            self.kind.as_str(),
            self.params
        )
        .into_bytes()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SealError + '_ {
    move |source| SealError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What `dir` holds (reads the sealed file's header, opens nothing).
pub fn on_disk(dir: &Path) -> Result<OnDisk, SealError> {
    let sealed_path = dir.join(SEALED_FILE);
    let sealed = if sealed_path.exists() {
        Some(read_sealed(&sealed_path)?.kind)
    } else {
        None
    };
    Ok(OnDisk {
        plain: dir.join(PLAIN_FILE).exists(),
        sealed,
    })
}

fn read_sealed(path: &Path) -> Result<SealedFile, SealError> {
    let text = std::fs::read(path).map_err(io_err(path))?;
    let corrupt = |reason: String| SealError::Corrupt {
        path: path.display().to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| corrupt(format!("not JSON ({e})")))?;
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(f) if f > u64::from(FORMAT) => {
            return Err(SealError::NewerFormat {
                path: path.display().to_string(),
                format: u32::try_from(f).unwrap_or(u32::MAX),
            })
        }
        Some(_) => {}
        None => return Err(corrupt("no format version".into())),
    }
    let file: SealedFile = serde_json::from_value(value).map_err(|e| corrupt(format!("{e}")))?;
    if hex::decode(&file.wrapped).is_err() {
        return Err(corrupt("the wrapped key is not hex".into()));
    }
    Ok(file)
}

/// Unseals the root key of `dir` with the configured provider; never creates or changes
/// anything.
pub fn open(dir: &Path, config: &SealConfig) -> Result<RootKey, SealError> {
    let disk = on_disk(dir)?;
    let wrong = |on_disk| SealError::WrongProvider {
        dir: dir.display().to_string(),
        on_disk,
        configured: config.kind,
    };
    match (config.kind, disk.plain, disk.sealed) {
        (_, false, None) => Err(SealError::Missing(dir.display().to_string())),
        (SealKind::File, true, _) => Ok(RootKey::load(&dir.join(PLAIN_FILE))?),
        (SealKind::File, false, Some(k)) => Err(wrong(k)),
        (kind, _, Some(k)) if k != kind => Err(wrong(k)),
        (_, true, None) => Err(wrong(SealKind::File)),
        (_, _, Some(_)) => {
            let path = dir.join(SEALED_FILE);
            unseal(&path, &read_sealed(&path)?, config)
        }
    }
}

/// Opens the root-key file at `path`, whichever seal made it (a plaintext `root-key` or a
/// `root-key.sealed`, e.g. one given to `coffer restore --root-key`), with the secrets of
/// `config`.
pub fn open_file(path: &Path, config: &SealConfig) -> Result<RootKey, SealError> {
    let head = std::fs::read(path).map_err(io_err(path))?;
    if head.first() == Some(&b'{') {
        let file = read_sealed(path)?;
        unseal(path, &file, &config.with_kind(file.kind))
    } else {
        Ok(RootKey::load(path)?)
    }
}

/// Whether a plaintext `root-key` remains beside the sealed one the configuration uses (an
/// interrupted `seal-migrate`, or a copy left by hand): whoever reads it has every secret.
pub fn plaintext_leftover(dir: &Path, config: &SealConfig) -> bool {
    config.kind != SealKind::File && dir.join(PLAIN_FILE).exists()
}

fn unseal(path: &Path, file: &SealedFile, config: &SealConfig) -> Result<RootKey, SealError> {
    let wrapped = hex::decode(&file.wrapped).map_err(|_| SealError::Corrupt {
        path: path.display().to_string(),
        reason: "the wrapped key is not hex".into(),
    })?;
    let aad = file.aad();
    let shown = path.display().to_string();
    let raw = match file.kind {
        SealKind::File => {
            return Err(SealError::Corrupt {
                path: shown,
                reason: "kind `file` is not a sealed kind".into(),
            })
        }
        SealKind::Passphrase => passphrase::unwrap(config, &file.params, &aad, &wrapped, &shown)?,
        SealKind::Pkcs11 => pkcs11::unwrap(config, &file.params, &aad, &wrapped)?,
        SealKind::Kms => kms::unwrap(config, &file.params, &wrapped)?,
    };
    RootKey::from_bytes(&raw).map_err(|_| SealError::Corrupt {
        path: shown,
        reason: "the unsealed key is not a root key or keyring".into(),
    })
}

fn seal(key: &RootKey, config: &SealConfig) -> Result<SealedFile, SealError> {
    let mut file = SealedFile {
        format: FORMAT,
        kind: config.kind,
        params: serde_json::Value::Null,
        wrapped: String::new(),
    };
    let wrapped = match config.kind {
        SealKind::File => return Err(SealError::Config("`file` is not a sealed kind".into())),
        SealKind::Passphrase => {
            file.params = passphrase::params(config)?;
            passphrase::wrap(config, &file.params, &file.aad(), &key.to_bytes())?
        }
        SealKind::Pkcs11 => {
            file.params = pkcs11::params(config)?;
            pkcs11::wrap(config, &file.aad(), &key.to_bytes())?
        }
        SealKind::Kms => {
            file.params = kms::params(config)?;
            kms::wrap(config, &key.to_bytes())?
        }
    };
    file.wrapped = hex::encode(wrapped);
    Ok(file)
}

/// Seals `key` into `dir` with the configured provider, replacing that provider's file
/// atomically. The sealed file is unsealed again and compared with `key` before it replaces
/// anything, so a seal that cannot be opened is never written.
pub fn write(dir: &Path, key: &RootKey, config: &SealConfig) -> Result<(), SealError> {
    if config.kind == SealKind::File {
        key.write_file(&dir.join(PLAIN_FILE))?;
        return Ok(());
    }
    let path = dir.join(SEALED_FILE);
    let file = seal(key, config)?;
    let back = unseal(&path, &file, config)?;
    if !back.same_as(key) {
        return Err(SealError::Config(format!(
            "the {} seal did not give the key back; nothing was written",
            config.kind
        )));
    }
    let mut text = serde_json::to_vec_pretty(&file).map_err(|e| SealError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    text.push(b'\n');
    write_private_atomic(&path, &text).map_err(io_err(&path))
}

/// Creates a new root key in `dir`, sealed with the configured provider. Refuses a directory
/// that already holds one.
pub fn create(dir: &Path, config: &SealConfig) -> Result<RootKey, SealError> {
    if !on_disk(dir)?.is_empty() {
        return Err(SealError::Config(format!(
            "{} already holds a root key",
            dir.display()
        )));
    }
    let key = RootKey::generate()?;
    write(dir, &key, config)?;
    Ok(key)
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The provider the directory was sealed with.
    pub from: SealKind,
    /// The provider it is sealed with now.
    pub to: SealKind,
}

/// Moves `dir` from the configured provider to `to` without changing the root key (so no
/// record is touched). Order, for crash safety: the old seal opens the key; the new seal is
/// written (temporary file, fsync, rename) and checked; only then is the old seal's file
/// removed. A crash before the rename leaves the old seal as it was; between the rename and the
/// removal both work (for a sealed-to-sealed move the rename itself is the switch).
pub fn migrate(dir: &Path, config: &SealConfig, to: SealKind) -> Result<Migrated, SealError> {
    let from = config.kind;
    if from == to && to != SealKind::Passphrase {
        return Err(SealError::Config(format!(
            "{} is already sealed with `{to}`",
            dir.display()
        )));
    }
    let key = open(dir, config)?;
    write(dir, &key, &config.with_kind(to))?;
    let old = match (from, to) {
        (SealKind::File, _) => Some(dir.join(PLAIN_FILE)),
        (_, SealKind::File) => Some(dir.join(SEALED_FILE)),
        _ => None,
    };
    if let Some(old) = old {
        std::fs::remove_file(&old).map_err(io_err(&old))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(Migrated { from, to })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pass(p: &str) -> SealConfig {
        let mut c = SealConfig::file().with_kind(SealKind::Passphrase);
        c.passphrase = Some(Zeroizing::new(p.into()));
        c.argon2 = Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        };
        c
    }

    #[test]
    fn passphrase_round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let key = create(dir.path(), &pass("correct horse")).unwrap();
        assert!(!dir.path().join(PLAIN_FILE).exists());
        assert!(open(dir.path(), &pass("correct horse"))
            .unwrap()
            .same_as(&key));
        let before = std::fs::read(dir.path().join(SEALED_FILE)).unwrap();
        assert!(matches!(
            open(dir.path(), &pass("wrong")),
            Err(SealError::WrongPassphrase(_))
        ));
        assert!(matches!(
            open(dir.path(), &SealConfig::file()),
            Err(SealError::WrongProvider { .. })
        ));
        // Parameters edited by hand: the AAD no longer matches.
        let text = String::from_utf8(before.clone()).unwrap();
        let edited = text.replacen("\"iterations\": 2", "\"iterations\": 3", 1);
        assert_ne!(edited, text);
        std::fs::write(dir.path().join(SEALED_FILE), edited).unwrap();
        assert!(open(dir.path(), &pass("correct horse")).is_err());
        std::fs::write(dir.path().join(SEALED_FILE), b"{\"format\": 9}").unwrap();
        assert!(matches!(
            open(dir.path(), &pass("correct horse")),
            Err(SealError::NewerFormat { .. })
        ));
        std::fs::write(dir.path().join(SEALED_FILE), b"garbage").unwrap();
        assert!(matches!(
            open(dir.path(), &pass("correct horse")),
            Err(SealError::Corrupt { .. })
        ));
    }

    #[test]
    fn migrate_file_to_passphrase_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = create(dir.path(), &SealConfig::file()).unwrap();
        let m = migrate(dir.path(), &pass("p1"), SealKind::Passphrase);
        // The configuration says passphrase, the directory holds a file seal.
        assert!(matches!(m, Err(SealError::WrongProvider { .. })));
        let mut cfg = pass("p1");
        cfg.kind = SealKind::File;
        migrate(dir.path(), &cfg, SealKind::Passphrase).unwrap();
        assert!(!dir.path().join(PLAIN_FILE).exists());
        assert!(open(dir.path(), &pass("p1")).unwrap().same_as(&key));
        migrate(dir.path(), &pass("p1"), SealKind::File).unwrap();
        assert!(!dir.path().join(SEALED_FILE).exists());
        assert!(open(dir.path(), &SealConfig::file()).unwrap().same_as(&key));
    }

    #[test]
    fn weak_argon2_parameters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = pass("x");
        c.argon2.memory_kib = 1024;
        assert!(matches!(create(dir.path(), &c), Err(SealError::Config(_))));
        assert!(on_disk(dir.path()).unwrap().is_empty());
    }
}
