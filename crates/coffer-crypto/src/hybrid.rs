//! Hybrid (X25519 + ML-KEM-768) sealing of key material for one federation peer (ADR 0021).
//!
//! The recipient makes a one-time [`RecipientKey`] and hands out its public half
//! ([`RecipientKey::public_bytes`]). The sender [`seal`]s to it with an ephemeral X25519 key and
//! an ML-KEM-768 encapsulation; both shared secrets, bound by HKDF-SHA256 to a transcript of
//! every public value and the caller's `context` (key ID, account, regions), give the
//! AES-256-GCM key that seals the plaintext. Recovering it needs *both* the X25519 and the
//! ML-KEM private key: it stays secret as long as either problem is hard.
//!
//! Layouts (all version 1):
//!
//! ```text
//! public key: 0x01 | key id (16) | X25519 public (32) | ML-KEM-768 encapsulation key (1184)
//! sealed:     0x01 | key id (16) | sender X25519 public (32) | ML-KEM-768 ciphertext (1088)
//!             | nonce (12) | AES-256-GCM ciphertext | tag (16)
//! ```

use crate::{aead, CryptoError};
use aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};
use aws_lc_rs::{digest, hkdf};
use zeroize::Zeroizing;

/// The format version of public keys and sealed messages.
pub const VERSION: u8 = 1;
/// Bytes of a recipient key ID.
pub const KEY_ID_LEN: usize = 16;
const X25519_LEN: usize = 32;
const EK_LEN: usize = 1184;
const KEM_CT_LEN: usize = 1088;
/// Bytes of an encoded public key.
pub const PUBLIC_LEN: usize = 1 + KEY_ID_LEN + X25519_LEN + EK_LEN;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + X25519_LEN + KEM_CT_LEN;

/// The label every transcript starts with.
const LABEL: &[u8] = b"coffer/federation/hybrid-seal/v1";

/// A one-time recipient key pair: X25519 and ML-KEM-768 private keys and a random ID.
pub struct RecipientKey {
    id: [u8; KEY_ID_LEN],
    x25519: agreement::PrivateKey,
    kem: DecapsulationKey,
    public: Vec<u8>,
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKey")
            .field("id", &hex::encode(self.id))
            .finish_non_exhaustive()
    }
}

fn lib<T>(_: T) -> CryptoError {
    CryptoError::Library
}

impl RecipientKey {
    /// A fresh key pair.
    pub fn generate() -> Result<Self, CryptoError> {
        let id: [u8; KEY_ID_LEN] = crate::random::array()?;
        let x25519 = agreement::PrivateKey::generate(&X25519).map_err(lib)?;
        let kem = DecapsulationKey::generate(&ML_KEM_768).map_err(lib)?;
        let x_pub = x25519.compute_public_key().map_err(lib)?;
        let ek = kem.encapsulation_key().map_err(lib)?;
        let ek_bytes = ek.key_bytes().map_err(lib)?;
        let mut public = Vec::with_capacity(PUBLIC_LEN);
        public.push(VERSION);
        public.extend_from_slice(&id);
        public.extend_from_slice(x_pub.as_ref());
        public.extend_from_slice(ek_bytes.as_ref());
        if public.len() != PUBLIC_LEN {
            return Err(CryptoError::Library);
        }
        Ok(Self {
            id,
            x25519,
            kem,
            public,
        })
    }

    /// The key's ID (what a sealed message names).
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        self.id
    }

    /// The encoded public key, for the sender.
    pub fn public_bytes(&self) -> &[u8] {
        &self.public
    }

    /// Opens a message [`seal`]ed to this key with the same `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < HEADER_LEN + aead::OVERHEAD {
            return Err(CryptoError::Malformed("sealed message too short"));
        }
        if sealed[0] != VERSION {
            return Err(CryptoError::Malformed("unknown sealed message version"));
        }
        if sealed[1..=KEY_ID_LEN] != self.id {
            return Err(CryptoError::Open);
        }
        let x_off = 1 + KEY_ID_LEN;
        let sender_pub = &sealed[x_off..x_off + X25519_LEN];
        let kem_ct = &sealed[x_off + X25519_LEN..HEADER_LEN];
        let ss_x: Zeroizing<Vec<u8>> = agreement::agree(
            &self.x25519,
            UnparsedPublicKey::new(&X25519, sender_pub),
            CryptoError::Open,
            |s| Ok(Zeroizing::new(s.to_vec())),
        )?;
        let ss_k = self
            .kem
            .decapsulate(Ciphertext::from(kem_ct))
            .map_err(|_| CryptoError::Open)?;
        let transcript = transcript(&self.public, &sealed[..HEADER_LEN], context);
        let key = derive(&ss_x, ss_k.as_ref(), &transcript)?;
        aead::open(&key[..], &transcript, &sealed[HEADER_LEN..])
    }
}

/// `SHA-256(label | len(public) public | len(header) header | len(context) context)`, lengths
/// u32 big-endian: the transcript both the HKDF info and the AEAD's additional data take.
fn transcript(public: &[u8], header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(LABEL);
    for part in [public, header, context] {
        ctx.update(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        ctx.update(part);
    }
    ctx.finish().as_ref().to_vec()
}

/// HKDF-SHA256: IKM = X25519 secret | ML-KEM secret, salt = the label, info = the transcript.
fn derive(
    ss_x: &[u8],
    ss_k: &[u8],
    transcript: &[u8],
) -> Result<Zeroizing<[u8; aead::KEY_LEN]>, CryptoError> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(ss_x.len() + ss_k.len()));
    ikm.extend_from_slice(ss_x);
    ikm.extend_from_slice(ss_k);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, LABEL).extract(&ikm);
    let info = [transcript];
    let okm = prk.expand(&info, hkdf::HKDF_SHA256).map_err(lib)?;
    let mut key = Zeroizing::new([0u8; aead::KEY_LEN]);
    okm.fill(&mut key[..]).map_err(lib)?;
    Ok(key)
}

/// The recipient key ID a public key or sealed message names.
pub fn key_id_of(encoded: &[u8]) -> Option<[u8; KEY_ID_LEN]> {
    if encoded.len() < 1 + KEY_ID_LEN || encoded[0] != VERSION {
        return None;
    }
    encoded[1..=KEY_ID_LEN].try_into().ok()
}

/// Seals `plaintext` to the recipient whose encoded public key is `public`, bound to `context`
/// (the recipient must present the same context to open it).
pub fn seal(public: &[u8], context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if public.len() != PUBLIC_LEN {
        return Err(CryptoError::Malformed(
            "recipient public key has the wrong length",
        ));
    }
    if public[0] != VERSION {
        return Err(CryptoError::Malformed(
            "unknown recipient public key version",
        ));
    }
    let x_off = 1 + KEY_ID_LEN;
    let peer_x = &public[x_off..x_off + X25519_LEN];
    let ek = EncapsulationKey::new(&ML_KEM_768, &public[x_off + X25519_LEN..])
        .map_err(|_| CryptoError::Malformed("invalid ML-KEM-768 encapsulation key"))?;
    let eph = agreement::PrivateKey::generate(&X25519).map_err(lib)?;
    let eph_pub = eph.compute_public_key().map_err(lib)?;
    let ss_x: Zeroizing<Vec<u8>> = agreement::agree(
        &eph,
        UnparsedPublicKey::new(&X25519, peer_x),
        CryptoError::Malformed("invalid X25519 public key"),
        |s| Ok(Zeroizing::new(s.to_vec())),
    )?;
    let (kem_ct, ss_k) = ek.encapsulate().map_err(lib)?;
    let mut out = Vec::with_capacity(HEADER_LEN + aead::OVERHEAD + plaintext.len());
    out.push(VERSION);
    out.extend_from_slice(&public[1..=KEY_ID_LEN]);
    out.extend_from_slice(eph_pub.as_ref());
    out.extend_from_slice(kem_ct.as_ref());
    if out.len() != HEADER_LEN {
        return Err(CryptoError::Library);
    }
    let transcript = transcript(public, &out, context);
    let key = derive(&ss_x, ss_k.as_ref(), &transcript)?;
    out.extend_from_slice(&aead::seal(&key[..], &transcript, plaintext)?);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CTX: &[u8] = b"111111111111/mrk-0123/eu-central-1/eu-west-1";

    #[test]
    fn round_trip() {
        let r = RecipientKey::generate().unwrap();
        assert_eq!(r.public_bytes().len(), PUBLIC_LEN);
        assert_eq!(key_id_of(r.public_bytes()), Some(r.id()));
        let sealed = seal(r.public_bytes(), CTX, b"material").unwrap();
        assert_eq!(key_id_of(&sealed), Some(r.id()));
        assert_eq!(&r.open(CTX, &sealed).unwrap()[..], b"material");
        // Every seal is fresh: ephemeral X25519 key, KEM ciphertext and nonce differ.
        assert_ne!(sealed, seal(r.public_bytes(), CTX, b"material").unwrap());
    }

    #[test]
    fn wrong_recipient_fails() {
        let r = RecipientKey::generate().unwrap();
        let other = RecipientKey::generate().unwrap();
        let sealed = seal(r.public_bytes(), CTX, b"material").unwrap();
        assert_eq!(other.open(CTX, &sealed), Err(CryptoError::Open));
        // Even when the ID is made to match, the other private keys cannot open it.
        let mut relabelled = sealed.clone();
        relabelled[1..=KEY_ID_LEN].copy_from_slice(&other.id());
        assert_eq!(other.open(CTX, &relabelled), Err(CryptoError::Open));
    }

    #[test]
    fn tampering_fails() {
        let r = RecipientKey::generate().unwrap();
        let sealed = seal(r.public_bytes(), CTX, b"material").unwrap();
        // A flipped bit anywhere after the version and ID (X25519 key, KEM ciphertext, nonce,
        // AEAD ciphertext, tag) fails.
        for i in [
            1 + KEY_ID_LEN,
            1 + KEY_ID_LEN + X25519_LEN + 5,
            HEADER_LEN,
            sealed.len() - 1,
        ] {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(r.open(CTX, &t).is_err(), "byte {i}");
        }
        let mut v = sealed.clone();
        v[0] = 2;
        assert!(matches!(r.open(CTX, &v), Err(CryptoError::Malformed(_))));
        assert!(r.open(CTX, &sealed[..HEADER_LEN]).is_err());
    }

    #[test]
    fn transcript_binds_context_and_recipient_public_key() {
        let r = RecipientKey::generate().unwrap();
        let sealed = seal(r.public_bytes(), CTX, b"material").unwrap();
        assert_eq!(
            r.open(b"111111111111/mrk-0123/eu-central-1/us-east-1", &sealed),
            Err(CryptoError::Open)
        );
        // A sender given a substituted public key (same ID and X25519 key, another ML-KEM
        // key) produces a message the real recipient rejects.
        let other = RecipientKey::generate().unwrap();
        let mut forged = r.public_bytes().to_vec();
        forged[1 + KEY_ID_LEN + X25519_LEN..]
            .copy_from_slice(&other.public_bytes()[1 + KEY_ID_LEN + X25519_LEN..]);
        let sealed = seal(&forged, CTX, b"material").unwrap();
        assert!(r.open(CTX, &sealed).is_err());
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        let r = RecipientKey::generate().unwrap();
        assert!(seal(&r.public_bytes()[..100], CTX, b"m").is_err());
        let mut v = r.public_bytes().to_vec();
        v[0] = 9;
        assert!(seal(&v, CTX, b"m").is_err());
    }
}
