//! The KMS ciphertext blob, format version 1 (see `docs/adr/0001-ciphertext-format.md`):
//!
//! ```text
//! version (1 byte = 0x01) | key-id length L (1 byte) | key ID (L bytes, ASCII)
//! | key-material ID (32 bytes) | AES-256-GCM sealed body (nonce 12 | ciphertext | tag 16)
//! ```
//!
//! The header names the key ID and the key-material version, never the region, so a blob from one
//! region opens under any related multi-region key. The whole header and the canonical encryption
//! context are the AEAD's additional data: neither can be altered without detection.

use crate::{aead::SymmetricKey, CryptoError};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The format version this code writes.
pub const VERSION_1: u8 = 1;
/// Bytes of a key-material identifier.
pub const MATERIAL_ID_LEN: usize = 32;

/// An encryption context: string pairs, compared and authenticated in canonical (sorted) order.
pub type EncryptionContext = BTreeMap<String, String>;

/// The authenticated header of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The blob format version.
    pub version: u8,
    /// The KMS key ID (UUID or `mrk-…`), no region.
    pub key_id: String,
    /// Which version of the key's material sealed the body.
    pub material_id: [u8; MATERIAL_ID_LEN],
}

/// A parsed, not yet authenticated blob.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    /// The header.
    pub header: Header,
    header_bytes: &'a [u8],
    body: &'a [u8],
}

/// The canonical encoding of an encryption context: each pair in key order as
/// `len(k) u32be | k | len(v) u32be | v`.
pub fn canonical_context(ctx: &EncryptionContext) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in ctx {
        for s in [k, v] {
            out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

fn aad(header_bytes: &[u8], ctx: &EncryptionContext) -> Vec<u8> {
    let mut a = header_bytes.to_vec();
    a.extend_from_slice(&canonical_context(ctx));
    a
}

/// Seals `plaintext` into a version-1 blob.
pub fn seal(
    key: &SymmetricKey,
    key_id: &str,
    material_id: &[u8; MATERIAL_ID_LEN],
    ctx: &EncryptionContext,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let id_len =
        u8::try_from(key_id.len()).map_err(|_| CryptoError::Malformed("key id too long"))?;
    if !key_id.is_ascii() || key_id.is_empty() {
        return Err(CryptoError::Malformed("key id"));
    }
    let mut blob = Vec::with_capacity(2 + key_id.len() + MATERIAL_ID_LEN + plaintext.len() + 28);
    blob.push(VERSION_1);
    blob.push(id_len);
    blob.extend_from_slice(key_id.as_bytes());
    blob.extend_from_slice(material_id);
    let sealed = key.seal(&aad(&blob, ctx), plaintext)?;
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// Reads a blob's header without authenticating anything.
pub fn parse(blob: &[u8]) -> Result<Parsed<'_>, CryptoError> {
    let (&version, rest) = blob.split_first().ok_or(CryptoError::Malformed("empty"))?;
    if version != VERSION_1 {
        return Err(CryptoError::Malformed("unknown version"));
    }
    let (&id_len, rest) = rest
        .split_first()
        .ok_or(CryptoError::Malformed("truncated"))?;
    let id_len = usize::from(id_len);
    if id_len == 0 || rest.len() < id_len + MATERIAL_ID_LEN + crate::aead::OVERHEAD {
        return Err(CryptoError::Malformed("truncated"));
    }
    let key_id = std::str::from_utf8(&rest[..id_len])
        .map_err(|_| CryptoError::Malformed("key id"))?
        .to_string();
    let mut material_id = [0u8; MATERIAL_ID_LEN];
    material_id.copy_from_slice(&rest[id_len..id_len + MATERIAL_ID_LEN]);
    let header_len = 2 + id_len + MATERIAL_ID_LEN;
    Ok(Parsed {
        header: Header {
            version,
            key_id,
            material_id,
        },
        header_bytes: &blob[..header_len],
        body: &blob[header_len..],
    })
}

impl Parsed<'_> {
    /// Authenticates and decrypts with the key the header names.
    pub fn open(
        &self,
        key: &SymmetricKey,
        ctx: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        key.open(&aad(self.header_bytes, ctx), self.body)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = SymmetricKey::generate().unwrap();
        let mid = [7u8; 32];
        let mut ctx = EncryptionContext::new();
        ctx.insert("a".into(), "1".into());
        let blob = seal(
            &k,
            "mrk-0123456789abcdef0123456789abcdef",
            &mid,
            &ctx,
            b"data",
        )
        .unwrap();
        let p = parse(&blob).unwrap();
        assert_eq!(p.header.key_id, "mrk-0123456789abcdef0123456789abcdef");
        assert_eq!(p.header.material_id, mid);
        assert_eq!(&p.open(&k, &ctx).unwrap()[..], b"data");
        assert!(p.open(&k, &EncryptionContext::new()).is_err());
    }

    #[test]
    fn header_is_authenticated() {
        let k = SymmetricKey::generate().unwrap();
        let ctx = EncryptionContext::new();
        let mut blob = seal(
            &k,
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            &[1; 32],
            &ctx,
            b"x",
        )
        .unwrap();
        blob[40] ^= 1; // inside the material id
        let p = parse(&blob).unwrap();
        assert!(p.open(&k, &ctx).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..200 {
            let v: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let _ = parse(&v);
            let mut w = v.clone();
            if !w.is_empty() {
                w[0] = 1;
            }
            let _ = parse(&w);
        }
    }

    #[test]
    fn context_order_is_canonical() {
        let mut a = EncryptionContext::new();
        a.insert("b".into(), "2".into());
        a.insert("a".into(), "1".into());
        assert_eq!(
            canonical_context(&a),
            b"\0\0\0\x01a\0\0\0\x011\0\0\0\x01b\0\0\0\x012".to_vec()
        );
    }
}
