//! RSAES-OAEP Encrypt (public key) and Decrypt (private key) for RSAES_OAEP_SHA_1 and
//! RSAES_OAEP_SHA_256; the MGF1 hash is the OAEP hash and the label is empty, as in AWS KMS.

use super::keys::Private;
use super::{AsymmetricError, EncryptionAlgorithm, KeyPair, KeySpec, PublicKey, Unsupported};
use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256,
};
use zeroize::Zeroizing;

/// The OAEP algorithm and its hash length, after checking that `spec` can use `algorithm`.
fn oaep(
    spec: KeySpec,
    algorithm: EncryptionAlgorithm,
) -> Result<(&'static OaepAlgorithm, usize), AsymmetricError> {
    if spec == KeySpec::Sm2 {
        return Err(Unsupported::Sm2.into());
    }
    if spec.rsa_bits().is_none() {
        return Err(AsymmetricError::WrongKeySpec {
            spec,
            operation: "encrypt or decrypt with RSAES-OAEP",
        });
    }
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok((&OAEP_SHA1_MGF1SHA1, 20)),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok((&OAEP_SHA256_MGF1SHA256, 32)),
        _ => Err(AsymmetricError::AlgorithmNotValid {
            spec,
            algorithm: algorithm.as_str(),
        }),
    }
}

/// The largest plaintext AWS KMS encrypts with an RSA key of `spec` under `algorithm`:
/// `k - 2·hLen - 2` bytes (RSA_2048: 214 with SHA-1, 190 with SHA-256; RSA_3072: 342 / 318;
/// RSA_4096: 470 / 446).
pub fn max_plaintext_len(
    spec: KeySpec,
    algorithm: EncryptionAlgorithm,
) -> Result<usize, AsymmetricError> {
    let (_, hash_len) = oaep(spec, algorithm)?;
    let k = spec.rsa_bits().ok_or(AsymmetricError::Library)? / 8;
    Ok(k - 2 * hash_len - 2)
}

/// Encrypts `plaintext` under an RSA public key. The ciphertext is as long as the modulus.
pub fn encrypt(
    public: &PublicKey,
    algorithm: EncryptionAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, AsymmetricError> {
    let spec = public.spec();
    let (alg, _) = oaep(spec, algorithm)?;
    let max = max_plaintext_len(spec, algorithm)?;
    if plaintext.len() > max {
        return Err(AsymmetricError::PlaintextTooLong {
            spec,
            algorithm,
            max,
            actual: plaintext.len(),
        });
    }
    let key = PublicEncryptingKey::from_der(public.der())
        .map_err(|_| AsymmetricError::InvalidPublicKey(spec))?;
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| AsymmetricError::Library)?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let n = key
        .encrypt(alg, plaintext, &mut out, None)
        .map_err(|_| AsymmetricError::Library)?
        .len();
    out.truncate(n);
    Ok(out)
}

/// Decrypts an RSAES-OAEP `ciphertext` with the private key. Every failure (wrong length, wrong
/// key, wrong algorithm, tampering) is the same [`AsymmetricError::InvalidCiphertext`].
pub fn decrypt(
    key: &KeyPair,
    algorithm: EncryptionAlgorithm,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AsymmetricError> {
    let (alg, _) = oaep(key.spec(), algorithm)?;
    let Private::Rsa { decrypt, .. } = &key.private else {
        return Err(AsymmetricError::Library);
    };
    if ciphertext.len() != decrypt.key_size_bytes() {
        return Err(AsymmetricError::InvalidCiphertext);
    }
    let mut out = Zeroizing::new(vec![0u8; decrypt.min_output_size()]);
    let n = decrypt
        .decrypt(alg, ciphertext, &mut out, None)
        .map_err(|_| AsymmetricError::InvalidCiphertext)?
        .len();
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_aws() {
        use EncryptionAlgorithm::*;
        let table = [
            (KeySpec::Rsa2048, RsaesOaepSha1, 214),
            (KeySpec::Rsa2048, RsaesOaepSha256, 190),
            (KeySpec::Rsa3072, RsaesOaepSha1, 342),
            (KeySpec::Rsa3072, RsaesOaepSha256, 318),
            (KeySpec::Rsa4096, RsaesOaepSha1, 470),
            (KeySpec::Rsa4096, RsaesOaepSha256, 446),
        ];
        for (spec, alg, max) in table {
            assert_eq!(max_plaintext_len(spec, alg).unwrap(), max);
        }
        assert!(max_plaintext_len(KeySpec::EccNistP256, RsaesOaepSha256).is_err());
        assert!(max_plaintext_len(KeySpec::Rsa2048, SymmetricDefault).is_err());
        assert_eq!(
            max_plaintext_len(KeySpec::Sm2, Sm2Pke).unwrap_err(),
            AsymmetricError::Unsupported(Unsupported::Sm2)
        );
        assert!(matches!(
            max_plaintext_len(KeySpec::Rsa2048, Sm2Pke),
            Err(AsymmetricError::AlgorithmNotValid { .. })
        ));
    }

    #[test]
    fn round_trip_limits_and_tampering() {
        let kp = KeyPair::generate(KeySpec::Rsa2048).unwrap();
        for alg in [
            EncryptionAlgorithm::RsaesOaepSha1,
            EncryptionAlgorithm::RsaesOaepSha256,
        ] {
            let max = max_plaintext_len(KeySpec::Rsa2048, alg).unwrap();
            for len in [0, 1, 32, max] {
                let pt = vec![0xa5u8; len];
                let ct = encrypt(kp.public_key(), alg, &pt).unwrap();
                assert_eq!(ct.len(), 256);
                assert_eq!(&decrypt(&kp, alg, &ct).unwrap()[..], &pt[..]);
            }
            assert_eq!(
                encrypt(kp.public_key(), alg, &vec![0u8; max + 1]).unwrap_err(),
                AsymmetricError::PlaintextTooLong {
                    spec: KeySpec::Rsa2048,
                    algorithm: alg,
                    max,
                    actual: max + 1
                }
            );
            let mut ct = encrypt(kp.public_key(), alg, b"secret").unwrap();
            ct[100] ^= 1;
            assert_eq!(
                decrypt(&kp, alg, &ct).unwrap_err(),
                AsymmetricError::InvalidCiphertext
            );
            for len in [0, 1, 255, 257, 512] {
                assert_eq!(
                    decrypt(&kp, alg, &vec![7u8; len]).unwrap_err(),
                    AsymmetricError::InvalidCiphertext
                );
            }
            assert_eq!(
                decrypt(&kp, alg, &[0xffu8; 256]).unwrap_err(),
                AsymmetricError::InvalidCiphertext
            );
        }
        // The hash is part of the algorithm: SHA-1 ciphertext does not open as SHA-256.
        let ct = encrypt(kp.public_key(), EncryptionAlgorithm::RsaesOaepSha1, b"x").unwrap();
        assert!(decrypt(&kp, EncryptionAlgorithm::RsaesOaepSha256, &ct).is_err());
        // Another key does not open it either.
        let other = KeyPair::generate(KeySpec::Rsa2048).unwrap();
        assert!(decrypt(&other, EncryptionAlgorithm::RsaesOaepSha1, &ct).is_err());
    }

    #[test]
    fn non_rsa_keys_are_refused() {
        let kp = KeyPair::generate(KeySpec::EccNistP256).unwrap();
        assert!(matches!(
            encrypt(kp.public_key(), EncryptionAlgorithm::RsaesOaepSha256, b"x"),
            Err(AsymmetricError::WrongKeySpec { .. })
        ));
        assert!(matches!(
            decrypt(&kp, EncryptionAlgorithm::RsaesOaepSha256, &[0; 256]),
            Err(AsymmetricError::WrongKeySpec { .. })
        ));
    }
}
