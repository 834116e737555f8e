//! The root key: 32 random bytes in a file outside the database (`<data-dir>/root-key`, mode 0600),
//! under which every piece of key material is wrapped before it is stored. See
//! `docs/adr/0002-key-hierarchy.md`.

use crate::{aead::SymmetricKey, CryptoError};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// File format marker and version of a plaintext root-key file holding one key (generation 1).
const MAGIC: &[u8; 8] = b"COFRK\x00\x00\x01";
/// The same for a file holding a keyring (after a rekey).
const MAGIC_V2: &[u8; 8] = b"COFRK\x00\x00\x02";
/// The serialized keyring's marker (inside a v2 file or a seal).
const RING: &[u8; 4] = b"CRK2";

/// Fingerprint labels whose keys stay the same across a rekey: they name things that must keep
/// their identity (imported material IDs, import tokens, the audit trail's checkpoints). They
/// are derived once, from the root key in use at the first rekey, and carried in the keyring;
/// they cannot unwrap anything.
pub const STABLE_LABELS: &[&str] = &[
    "kms/import-token",
    "kms/imported-material",
    "audit/checkpoint",
];

/// The keys that wrap all key material at rest: the current generation (every new wrap) and,
/// during a rekey, older ones still needed to unwrap records not yet re-wrapped (ADR 0015).
/// Clones share one keyring, so a rekey is seen by every service at once.
#[derive(Clone)]
pub struct RootKey {
    ring: std::sync::Arc<std::sync::RwLock<Keyring>>,
}

struct Keyring {
    current: u32,
    keys: std::collections::BTreeMap<u32, SymmetricKey>,
    stable: std::collections::BTreeMap<String, Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RootKey(generations {:?})", self.generations())
    }
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
    fn single(key: SymmetricKey) -> Self {
        let mut keys = std::collections::BTreeMap::new();
        keys.insert(1, key);
        Self::from_ring(Keyring {
            current: 1,
            keys,
            stable: std::collections::BTreeMap::new(),
        })
    }

    fn from_ring(ring: Keyring) -> Self {
        Self {
            ring: std::sync::Arc::new(std::sync::RwLock::new(ring)),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keyring> {
        self.ring.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads the root key from `path`, creating it (mode 0600) if the file does not exist.
    /// Returns the key and whether it was created now.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), RootKeyError> {
        match std::fs::metadata(path) {
            Ok(_) => Ok((Self::load(path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.write_file(path)?;
                Ok((key, true))
            }
            Err(source) => Err(RootKeyError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// A root key from what [`RootKey::to_bytes`] gave: 32 raw bytes (one key, generation 1) or
    /// a serialized keyring.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() == 32 {
            return Ok(Self::single(SymmetricKey::from_slice(bytes)?));
        }
        let bad = CryptoError::Malformed("root keyring");
        let rest = bytes.strip_prefix(&RING[..]).ok_or(bad.clone())?;
        let mut r = Reader(rest);
        let current = r.u32().ok_or(bad.clone())?;
        let mut keys = std::collections::BTreeMap::new();
        for _ in 0..r.u8().ok_or(bad.clone())? {
            let generation = r.u32().ok_or(bad.clone())?;
            keys.insert(
                generation,
                SymmetricKey::from_slice(r.take(32).ok_or(bad.clone())?)?,
            );
        }
        let mut stable = std::collections::BTreeMap::new();
        for _ in 0..r.u8().ok_or(bad.clone())? {
            let len = usize::from(r.u8().ok_or(bad.clone())?);
            let label = std::str::from_utf8(r.take(len).ok_or(bad.clone())?)
                .map_err(|_| bad.clone())?
                .to_string();
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(r.take(32).ok_or(bad.clone())?);
            stable.insert(label, k);
        }
        if !r.0.is_empty() || !keys.contains_key(&current) {
            return Err(bad);
        }
        Ok(Self::from_ring(Keyring {
            current,
            keys,
            stable,
        }))
    }

    /// The keyring's bytes, for a seal to wrap: the 32 raw bytes while there is one key of
    /// generation 1 (the format before rekey existed), else a serialized keyring. Never log them.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let ring = self.read();
        let mut out = Zeroizing::new(Vec::new());
        if ring.current == 1 && ring.keys.len() == 1 && ring.stable.is_empty() {
            if let Some(k) = ring.keys.get(&1) {
                out.extend_from_slice(k.expose_bytes());
                return out;
            }
        }
        out.extend_from_slice(RING);
        out.extend_from_slice(&ring.current.to_be_bytes());
        out.push(u8::try_from(ring.keys.len()).unwrap_or(u8::MAX));
        for (generation, k) in ring.keys.iter().take(255) {
            out.extend_from_slice(&generation.to_be_bytes());
            out.extend_from_slice(k.expose_bytes());
        }
        out.push(u8::try_from(ring.stable.len()).unwrap_or(u8::MAX));
        for (label, k) in ring.stable.iter().take(255) {
            let l = &label.as_bytes()[..label.len().min(255)];
            out.push(u8::try_from(l.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(l);
            out.extend_from_slice(&k[..]);
        }
        out
    }

    /// A fresh random root key (generation 1).
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::single(SymmetricKey::generate()?))
    }

    /// Loads the plaintext root-key file at `path` (the `file` seal); never creates it.
    pub fn load(path: &Path) -> Result<Self, RootKeyError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| RootKeyError::Io {
            path: path.display().to_string(),
            source,
        })?);
        let format = || RootKeyError::Format(path.display().to_string());
        if bytes.len() == MAGIC.len() + 32 && &bytes[..MAGIC.len()] == MAGIC {
            return Ok(Self::single(SymmetricKey::from_slice(
                &bytes[MAGIC.len()..],
            )?));
        }
        match bytes.strip_prefix(&MAGIC_V2[..]) {
            Some(ring) => Self::from_bytes(ring).map_err(|_| format()),
            None => Err(format()),
        }
    }

    /// Writes this key as a plaintext root-key file (mode 0600), atomically: a temporary file,
    /// fsync, rename, fsync of the directory. An existing file at `path` is replaced.
    pub fn write_file(&self, path: &Path) -> Result<(), RootKeyError> {
        let ring = self.to_bytes();
        let mut content = Zeroizing::new(Vec::with_capacity(MAGIC.len() + ring.len()));
        content.extend_from_slice(if ring.len() == 32 { MAGIC } else { MAGIC_V2 });
        content.extend_from_slice(&ring);
        write_private_atomic(path, &content).map_err(|source| RootKeyError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Whether two root keys are the same keyring (constant time).
    pub fn same_as(&self, other: &RootKey) -> bool {
        use subtle::ConstantTimeEq;
        let (a, b) = (self.to_bytes(), other.to_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(&b))
    }

    /// The generation every new wrap uses.
    pub fn generation(&self) -> u32 {
        self.read().current
    }

    /// Every generation in the keyring, oldest first (more than one: a rekey is under way).
    pub fn generations(&self) -> Vec<u32> {
        self.read().keys.keys().copied().collect()
    }

    /// Starts a rekey: a new random key becomes the current generation; the older ones stay to
    /// unwrap what is not yet re-wrapped, and the stable fingerprint keys are fixed first.
    /// Returns the new generation. The caller persists the keyring before wrapping anything.
    pub fn begin_rekey(&self) -> Result<u32, CryptoError> {
        let fresh = SymmetricKey::generate()?;
        let mut ring = self.write();
        let current = ring.current;
        let base = ring.keys.get(&current).ok_or(CryptoError::Library)?.clone();
        for label in STABLE_LABELS {
            if !ring.stable.contains_key(*label) {
                let k = derive(&base, label);
                ring.stable.insert((*label).to_string(), Zeroizing::new(k));
            }
        }
        let next = ring.keys.keys().max().copied().unwrap_or(current) + 1;
        ring.keys.insert(next, fresh);
        ring.current = next;
        Ok(next)
    }

    /// Ends a rekey: drops every generation but the current one. Only once nothing stored is
    /// wrapped under them. Returns the generations dropped.
    pub fn retire_old(&self) -> Vec<u32> {
        let mut ring = self.write();
        let current = ring.current;
        let old: Vec<u32> = ring
            .keys
            .keys()
            .copied()
            .filter(|g| *g != current)
            .collect();
        ring.keys.retain(|g, _| *g == current);
        old
    }

    /// Wraps `secret` for storage under the current generation; `aad` binds it to the record
    /// it belongs to. Layout: `1 || sealed` for generation 1 (the original format), else
    /// `2 || generation (u32, big-endian) || sealed`.
    pub fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let ring = self.read();
        let key = ring.keys.get(&ring.current).ok_or(CryptoError::Library)?;
        let mut out = if ring.current == 1 {
            vec![1u8]
        } else {
            let mut v = vec![2u8];
            v.extend_from_slice(&ring.current.to_be_bytes());
            v
        };
        out.extend_from_slice(&key.seal(aad, secret)?);
        Ok(out)
    }

    /// The generation `wrapped` was made under, if it is a wrapped blob at all.
    pub fn generation_of(wrapped: &[u8]) -> Option<u32> {
        match wrapped.split_first() {
            Some((1, _)) => Some(1),
            Some((2, rest)) if rest.len() >= 4 => {
                Some(u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]))
            }
            _ => None,
        }
    }

    /// Whether `wrapped` is under a generation other than the current one.
    pub fn needs_rewrap(&self, wrapped: &[u8]) -> bool {
        Self::generation_of(wrapped) != Some(self.generation())
    }

    /// `wrapped` under the current generation, or `None` when it already is.
    pub fn rewrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        if !self.needs_rewrap(wrapped) {
            return Ok(None);
        }
        let secret = self.unwrap(aad, wrapped)?;
        self.wrap(aad, &secret).map(Some)
    }

    /// A keyed fingerprint of `data` (HMAC-SHA-256 under a key derived from the root key for
    /// `label`): stable for as long as the root key is — and, for [`STABLE_LABELS`], across
    /// rekeys — and useless to anyone without it.
    pub fn fingerprint(&self, label: &str, data: &[u8]) -> [u8; 32] {
        let ring = self.read();
        let derived = match (ring.stable.get(label), ring.keys.get(&ring.current)) {
            (Some(k), _) => Zeroizing::new(**k),
            (None, Some(k)) => Zeroizing::new(derive(k, label)),
            (None, None) => Zeroizing::new([0u8; 32]),
        };
        crate::digest::hmac_sha256(&derived[..], data)
    }

    /// Unwraps what [`RootKey::wrap`] made with the same `aad`, under whichever generation in
    /// the keyring made it.
    pub fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let ring = self.read();
        let (generation, body) = match wrapped.split_first() {
            Some((1, rest)) => (1, rest),
            Some((2, rest)) if rest.len() >= 4 => (
                u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
                &rest[4..],
            ),
            _ => return Err(CryptoError::Malformed("unknown wrapping version")),
        };
        match ring.keys.get(&generation) {
            Some(k) => k.open(aad, body),
            None => Err(CryptoError::Malformed("wrapped under a retired root key")),
        }
    }
}

fn derive(key: &SymmetricKey, label: &str) -> [u8; 32] {
    crate::digest::hmac_sha256(
        key.expose_bytes(),
        format!("coffer/root/fingerprint/v1/{label}").as_bytes(),
    )
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
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

    #[test]
    fn rekey_keeps_old_generations_until_retired() {
        let a = RootKey::generate().unwrap();
        let w1 = a.wrap(b"ctx", b"secret").unwrap();
        assert_eq!(w1[0], 1);
        let fp = a.fingerprint("kms/imported-material", b"m");
        let backup_fp = a.fingerprint("backup", b"m");
        assert_eq!(a.to_bytes().len(), 32);
        let shared = a.clone();
        assert_eq!(a.begin_rekey().unwrap(), 2);
        assert_eq!(shared.generation(), 2, "clones share the keyring");
        let w2 = a.wrap(b"ctx", b"secret").unwrap();
        assert_eq!(RootKey::generation_of(&w2), Some(2));
        assert_eq!(&a.unwrap(b"ctx", &w1).unwrap()[..], b"secret");
        assert!(a.needs_rewrap(&w1) && !a.needs_rewrap(&w2));
        let r = a.rewrap(b"ctx", &w1).unwrap().unwrap();
        assert_eq!(RootKey::generation_of(&r), Some(2));
        assert!(a.rewrap(b"ctx", &r).unwrap().is_none());
        // Stable labels keep their fingerprints; others follow the current key.
        assert_eq!(a.fingerprint("kms/imported-material", b"m"), fp);
        assert_ne!(a.fingerprint("backup", b"m"), backup_fp);
        // The keyring round-trips through bytes and files.
        let b = RootKey::from_bytes(&a.to_bytes()).unwrap();
        assert!(b.same_as(&a));
        assert_eq!(b.generations(), vec![1, 2]);
        let dir = tempfile::tempdir().unwrap();
        a.write_file(&dir.path().join("k")).unwrap();
        assert!(RootKey::load(&dir.path().join("k")).unwrap().same_as(&a));
        assert_eq!(a.retire_old(), vec![1]);
        assert!(a.unwrap(b"ctx", &w1).is_err());
        assert_eq!(&a.unwrap(b"ctx", &r).unwrap()[..], b"secret");
        assert_eq!(a.fingerprint("kms/imported-material", b"m"), fp);
        assert!(RootKey::from_bytes(b"CRK2garbage").is_err());
    }
}
