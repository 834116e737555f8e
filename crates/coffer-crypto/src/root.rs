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
                let key = SymmetricKey::generate()?;
                let mut content = Zeroizing::new(Vec::with_capacity(MAGIC.len() + 32));
                content.extend_from_slice(MAGIC);
                content.extend_from_slice(key.expose_bytes());
                let tmp = path.with_extension("tmp");
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(&tmp).map_err(io)?;
                f.write_all(&content).map_err(io)?;
                f.sync_all().map_err(io)?;
                std::fs::rename(&tmp, path).map_err(io)?;
                if let Some(dir) = path.parent() {
                    if let Ok(d) = std::fs::File::open(dir) {
                        let _ = d.sync_all();
                    }
                }
                Ok((Self { key }, true))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A root key from raw bytes (tests, future unsealing).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            key: SymmetricKey::from_slice(bytes)?,
        })
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
