//! The root key: 32 random bytes in a file outside the database (`<data-dir>/root-key`, mode 0600),
//! under which every piece of key material is wrapped before it is stored. See
//! `docs/adr/0002-key-hierarchy.md`.

use crate::{aead::SymmetricKey, CryptoError};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// File format marker and version, so the root-key file can evolve (passphrase, PKCS#11 later).
const MAGIC: &[u8; 8] = b"COFRK\x00\x00\x01";

/// The key that wraps all key material at rest.
#[derive(Debug, Clone)]
pub struct RootKey {
    key: SymmetricKey,
}

/// Why the root key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    /// Reading or writing the file failed.
    #[error("root key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a root key this version understands.
    #[error("root key file {0} is not a Coffer root key (wrong size or version)")]
    Format(String),
    /// Random generation failed.
    #[error("could not generate a root key")]
    Crypto(#[from] CryptoError),
}

impl RootKey {
    /// Loads the root key from `path`, creating it (mode 0600) if the file does not exist.
    /// Returns the key and whether it was created now.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), RootKeyError> {
        let io = |source| RootKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                if bytes.len() != MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
                    return Err(RootKeyError::Format(path.display().to_string()));
                }
                Ok((
                    Self {
                        key: SymmetricKey::from_slice(&bytes[MAGIC.len()..])?,
                    },
                    false,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.write_file(path)?;
                Ok((key, true))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A root key from raw bytes (an unsealed key, tests).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            key: SymmetricKey::from_slice(bytes)?,
        })
    }

    /// A fresh random root key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self {
            key: SymmetricKey::generate()?,
        })
    }

    /// Loads the plaintext root-key file at `path` (the `file` seal); never creates it.
    pub fn load(path: &Path) -> Result<Self, RootKeyError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| RootKeyError::Io {
            path: path.display().to_string(),
            source,
        })?);
        if bytes.len() != MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(RootKeyError::Format(path.display().to_string()));
        }
        Ok(Self {
            key: SymmetricKey::from_slice(&bytes[MAGIC.len()..])?,
        })
    }

    /// Writes this key as a plaintext root-key file (mode 0600), atomically: a temporary file,
    /// fsync, rename, fsync of the directory. An existing file at `path` is replaced.
    pub fn write_file(&self, path: &Path) -> Result<(), RootKeyError> {
        let mut content = Zeroizing::new(Vec::with_capacity(MAGIC.len() + 32));
        content.extend_from_slice(MAGIC);
        content.extend_from_slice(self.key.expose_bytes());
        write_private_atomic(path, &content).map_err(|source| RootKeyError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// The raw 32 bytes, for a seal provider to wrap. Handle with care; never log them.
    pub fn expose_bytes(&self) -> &[u8] {
        self.key.expose_bytes()
    }

    /// Whether two root keys are the same key (constant time).
    pub fn same_as(&self, other: &RootKey) -> bool {
        use subtle::ConstantTimeEq;
        self.key
            .expose_bytes()
            .ct_eq(other.key.expose_bytes())
            .into()
    }

    /// Wraps `secret` for storage; `aad` binds it to the record it belongs to.
    pub fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = vec![1u8];
        out.extend_from_slice(&self.key.seal(aad, secret)?);
        Ok(out)
    }

    /// A keyed fingerprint of `data` (HMAC-SHA-256 under a key derived from the root key for
    /// `label`): stable for as long as the root key is, and useless to anyone without it.
    pub fn fingerprint(&self, label: &str, data: &[u8]) -> [u8; 32] {
        let derived = crate::digest::hmac_sha256(
            self.key.expose_bytes(),
            format!("coffer/root/fingerprint/v1/{label}").as_bytes(),
        );
        crate::digest::hmac_sha256(&derived, data)
    }

    /// Unwraps what [`RootKey::wrap`] made with the same `aad`.
    pub fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match wrapped.split_first() {
            Some((1, rest)) => self.key.open(aad, rest),
            _ => Err(CryptoError::Malformed("unknown wrapping version")),
        }
    }
}

/// Writes `content` to `path` with mode 0600 through a temporary file, fsync and rename, then
/// fsyncs the directory: after a crash the file is either the old one or the new one, whole.
pub fn write_private_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn create_then_load() {
        let dir = std::env::temp_dir().join(format!("coffer-root-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("root-key");
        let _ = std::fs::remove_file(&path);
        let (a, created) = RootKey::load_or_create(&path).unwrap();
        assert!(created);
        let (b, created) = RootKey::load_or_create(&path).unwrap();
        assert!(!created);
        let w = a.wrap(b"ctx", b"secret").unwrap();
        assert_eq!(&b.unwrap(b"ctx", &w).unwrap()[..], b"secret");
        assert!(b.unwrap(b"other", &w).is_err());
        assert_eq!(a.fingerprint("l", b"x"), b.fingerprint("l", b"x"));
        assert_ne!(a.fingerprint("l", b"x"), a.fingerprint("m", b"x"));
        assert_ne!(a.fingerprint("l", b"x"), a.fingerprint("l", b"y"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            RootKey::load_or_create(&path),
            Err(RootKeyError::Format(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
