//! AES-256-GCM with random 96-bit nonces: the one symmetric primitive under every Coffer blob.
//!
//! Sealed layout: `nonce (12) || ciphertext || tag (16)`.

use crate::{random, CryptoError};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

/// Bytes of a symmetric key.
pub const KEY_LEN: usize = 32;
/// Bytes of the authentication tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed message adds to its plaintext.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// A 256-bit AES-GCM key. The raw bytes are zeroized on drop and never printed.
pub struct SymmetricKey {
    raw: Zeroizing<[u8; KEY_LEN]>,
    key: LessSafeKey,
}

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymmetricKey(<redacted>)")
    }
}

impl Clone for SymmetricKey {
    fn clone(&self) -> Self {
        // The raw bytes are a valid key by construction.
        Self::from_slice(&self.raw[..]).unwrap_or_else(|_| unreachable!("valid key length"))
    }
}

impl SymmetricKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        let raw = random::bytes(KEY_LEN)?;
        Self::from_slice(&raw)
    }

    /// A key from its 32 raw bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::Malformed("key length"));
        }
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        raw.copy_from_slice(bytes);
        let unbound = UnboundKey::new(&AES_256_GCM, &raw[..]).map_err(|_| CryptoError::Library)?;
        Ok(Self {
            raw,
            key: LessSafeKey::new(unbound),
        })
    }

    /// The raw key bytes, for wrapping under another key. Handle with care.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.raw[..]
    }

    /// Encrypts and authenticates `plaintext` together with `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes = random::array::<NONCE_LEN>()?;
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| CryptoError::Library)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Authenticates and decrypts a message made by [`SymmetricKey::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < OVERHEAD {
            return Err(CryptoError::Open);
        }
        let (nonce_bytes, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes).map_err(|_| CryptoError::Open)?;
        let mut buf = Zeroizing::new(rest.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| CryptoError::Open)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

/// Seals `plaintext` under raw key bytes (e.g. a data key); see [`SymmetricKey::seal`].
pub fn seal(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    SymmetricKey::from_slice(key)?.seal(aad, plaintext)
}

/// Opens a message sealed by [`seal`].
pub fn open(key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    SymmetricKey::from_slice(key)?.open(aad, sealed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = SymmetricKey::generate().unwrap();
        let sealed = k.seal(b"aad", b"hello").unwrap();
        assert_eq!(sealed.len(), 5 + OVERHEAD);
        assert_eq!(&k.open(b"aad", &sealed).unwrap()[..], b"hello");
        assert_eq!(k.open(b"other", &sealed), Err(CryptoError::Open));
        let mut bad = sealed.clone();
        bad[13] ^= 1;
        assert_eq!(k.open(b"aad", &bad), Err(CryptoError::Open));
        assert_eq!(k.open(b"aad", &sealed[..10]), Err(CryptoError::Open));
        let other = SymmetricKey::generate().unwrap();
        assert_eq!(other.open(b"aad", &sealed), Err(CryptoError::Open));
        assert_eq!(format!("{k:?}"), "SymmetricKey(<redacted>)");
    }
}
