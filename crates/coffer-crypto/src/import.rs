//! Importing key material (AWS KMS `GetParametersForImport` / `ImportKeyMaterial`): the RSA
//! wrapping algorithms AWS accepts, and AES Key Wrap with Padding (RFC 5649).
//!
//! * `RSAES_OAEP_SHA_1` / `RSAES_OAEP_SHA_256`: the material is encrypted directly with RSA-OAEP
//!   under the wrapping public key (MGF1 with the same hash, empty label).
//! * `RSA_AES_KEY_WRAP_SHA_1` / `RSA_AES_KEY_WRAP_SHA_256`: a fresh 256-bit AES key is encrypted
//!   with RSA-OAEP (SHA-1 or SHA-256), the material is wrapped under it with AES-KWP, and the two
//!   are concatenated: `RSA-OAEP(aes_key) || AES-KWP(aes_key, material)`.

use crate::asymmetric::{self, AsymmetricError, EncryptionAlgorithm, KeyPair, KeySpec, PublicKey};
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use zeroize::Zeroizing;

/// A wrapping algorithm of `GetParametersForImport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingAlgorithm {
    /// `RSAES_OAEP_SHA_1`.
    RsaesOaepSha1,
    /// `RSAES_OAEP_SHA_256`.
    RsaesOaepSha256,
    /// `RSA_AES_KEY_WRAP_SHA_1`.
    RsaAesKeyWrapSha1,
    /// `RSA_AES_KEY_WRAP_SHA_256`.
    RsaAesKeyWrapSha256,
}

impl WrappingAlgorithm {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            Self::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            Self::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    /// The RSA-OAEP algorithm that encrypts the material (or the AES key).
    fn oaep(self) -> EncryptionAlgorithm {
        match self {
            Self::RsaesOaepSha1 | Self::RsaAesKeyWrapSha1 => EncryptionAlgorithm::RsaesOaepSha1,
            Self::RsaesOaepSha256 | Self::RsaAesKeyWrapSha256 => {
                EncryptionAlgorithm::RsaesOaepSha256
            }
        }
    }

    /// Whether the material itself is wrapped with AES-KWP.
    fn uses_aes(self) -> bool {
        matches!(self, Self::RsaAesKeyWrapSha1 | Self::RsaAesKeyWrapSha256)
    }
}

impl std::str::FromStr for WrappingAlgorithm {
    type Err = asymmetric::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "RSAES_OAEP_SHA_1" => Self::RsaesOaepSha1,
            "RSAES_OAEP_SHA_256" => Self::RsaesOaepSha256,
            "RSA_AES_KEY_WRAP_SHA_1" => Self::RsaAesKeyWrapSha1,
            "RSA_AES_KEY_WRAP_SHA_256" => Self::RsaAesKeyWrapSha256,
            _ => return Err(asymmetric::UnknownName),
        })
    }
}

/// The RSA key spec of a `WrappingKeySpec` name (`RSA_2048`, `RSA_3072`, `RSA_4096`).
pub fn wrapping_key_spec(name: &str) -> Option<KeySpec> {
    match name {
        "RSA_2048" => Some(KeySpec::Rsa2048),
        "RSA_3072" => Some(KeySpec::Rsa3072),
        "RSA_4096" => Some(KeySpec::Rsa4096),
        _ => None,
    }
}

/// AES Key Wrap with Padding (RFC 5649) under a 256-bit key.
pub fn aes_kwp_wrap(kek: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AsymmetricError> {
    let kek = AesKek::new(&AES_256, kek).map_err(|_| AsymmetricError::Library)?;
    let mut out = vec![0u8; plaintext.len().div_ceil(8) * 8 + 8];
    let n = kek
        .wrap_with_padding(plaintext, &mut out)
        .map_err(|_| AsymmetricError::Library)?
        .len();
    out.truncate(n);
    Ok(out)
}

/// Unwraps what [`aes_kwp_wrap`] made; any failure is [`AsymmetricError::InvalidCiphertext`].
pub fn aes_kwp_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, AsymmetricError> {
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(AsymmetricError::InvalidCiphertext);
    }
    let kek = AesKek::new(&AES_256, kek).map_err(|_| AsymmetricError::InvalidCiphertext)?;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = kek
        .unwrap_with_padding(wrapped, &mut out)
        .map_err(|_| AsymmetricError::InvalidCiphertext)?
        .len();
    out.truncate(n);
    Ok(out)
}

/// Recovers key material that a client wrapped under `wrapping`'s public key with `algorithm`.
/// Every failure (wrong key, wrong algorithm, wrong length, tampering) is
/// [`AsymmetricError::InvalidCiphertext`].
pub fn unwrap_key_material(
    wrapping: &KeyPair,
    algorithm: WrappingAlgorithm,
    encrypted: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AsymmetricError> {
    let bits = wrapping
        .spec()
        .rsa_bits()
        .ok_or(AsymmetricError::WrongKeySpec {
            spec: wrapping.spec(),
            operation: "wrap imported key material",
        })?;
    let k = bits / 8;
    let invalid = |_| AsymmetricError::InvalidCiphertext;
    if !algorithm.uses_aes() {
        return asymmetric::decrypt(wrapping, algorithm.oaep(), encrypted).map_err(invalid);
    }
    if encrypted.len() <= k {
        return Err(AsymmetricError::InvalidCiphertext);
    }
    let (rsa_part, kwp_part) = encrypted.split_at(k);
    let aes_key = asymmetric::decrypt(wrapping, algorithm.oaep(), rsa_part).map_err(invalid)?;
    if aes_key.len() != 32 {
        return Err(AsymmetricError::InvalidCiphertext);
    }
    aes_kwp_unwrap(&aes_key, kwp_part)
}

/// Wraps key material the way a client does before `ImportKeyMaterial` (tests and tools).
pub fn wrap_key_material(
    public: &PublicKey,
    algorithm: WrappingAlgorithm,
    material: &[u8],
) -> Result<Vec<u8>, AsymmetricError> {
    if !algorithm.uses_aes() {
        return asymmetric::encrypt(public, algorithm.oaep(), material);
    }
    let aes_key = crate::random::bytes(32).map_err(|_| AsymmetricError::Library)?;
    let mut out = asymmetric::encrypt(public, algorithm.oaep(), &aes_key)?;
    out.extend_from_slice(&aes_kwp_wrap(&aes_key, material)?);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Lengths, determinism and tamper detection (the RFC 5649 vectors use a 192-bit KEK, which
    /// aws-lc-rs does not expose; the `openssl` CLI checks interoperability in the SDK test).
    #[test]
    fn kwp_round_trips() {
        let k = [7u8; 32];
        for len in [1usize, 7, 8, 20, 32, 121, 1300] {
            let pt = vec![0x5a; len];
            let w = aes_kwp_wrap(&k, &pt).unwrap();
            assert_eq!(w.len(), len.div_ceil(8) * 8 + 8);
            assert_eq!(w, aes_kwp_wrap(&k, &pt).unwrap());
            assert_eq!(&aes_kwp_unwrap(&k, &w).unwrap()[..], &pt[..]);
            let mut bad = w.clone();
            bad[0] ^= 1;
            assert!(aes_kwp_unwrap(&k, &bad).is_err());
            assert!(aes_kwp_unwrap(&[8u8; 32], &w).is_err());
        }
        assert!(aes_kwp_unwrap(&k, &[0u8; 8]).is_err());
        assert!(aes_kwp_unwrap(&k, &[0u8; 17]).is_err());
    }

    #[test]
    fn every_algorithm_round_trips() {
        let pair = KeyPair::generate(KeySpec::Rsa2048).unwrap();
        let material = [0x42u8; 32];
        let rsa_pkcs8 = KeyPair::generate(KeySpec::Rsa2048).unwrap().to_pkcs8();
        for alg in [
            WrappingAlgorithm::RsaesOaepSha1,
            WrappingAlgorithm::RsaesOaepSha256,
            WrappingAlgorithm::RsaAesKeyWrapSha1,
            WrappingAlgorithm::RsaAesKeyWrapSha256,
        ] {
            assert_eq!(alg.as_str().parse::<WrappingAlgorithm>().unwrap(), alg);
            let wrapped = wrap_key_material(pair.public_key(), alg, &material).unwrap();
            assert_eq!(
                &unwrap_key_material(&pair, alg, &wrapped).unwrap()[..],
                &material[..]
            );
            let mut bad = wrapped.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(
                unwrap_key_material(&pair, alg, &bad).unwrap_err(),
                AsymmetricError::InvalidCiphertext
            );
            let other = KeyPair::generate(KeySpec::Rsa2048).unwrap();
            assert!(unwrap_key_material(&other, alg, &wrapped).is_err());
            if alg.uses_aes() {
                // An RSA private key is too long for OAEP but fits the AES key wrap.
                let w = wrap_key_material(pair.public_key(), alg, &rsa_pkcs8).unwrap();
                assert_eq!(
                    &unwrap_key_material(&pair, alg, &w).unwrap()[..],
                    &rsa_pkcs8[..]
                );
            } else {
                assert!(wrap_key_material(pair.public_key(), alg, &rsa_pkcs8).is_err());
            }
        }
        // SHA-1 and SHA-256 variants are not interchangeable.
        let w = wrap_key_material(
            pair.public_key(),
            WrappingAlgorithm::RsaesOaepSha1,
            &material,
        )
        .unwrap();
        assert!(unwrap_key_material(&pair, WrappingAlgorithm::RsaesOaepSha256, &w).is_err());
        assert!("RSAES_PKCS1_V1_5".parse::<WrappingAlgorithm>().is_err());
        assert_eq!(wrapping_key_spec("RSA_4096"), Some(KeySpec::Rsa4096));
        assert_eq!(wrapping_key_spec("SM2"), None);
    }
}
