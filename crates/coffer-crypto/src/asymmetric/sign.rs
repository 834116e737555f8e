//! Sign and Verify for every AWS KMS signing algorithm.
//!
//! Signatures are in the form AWS returns: RSA signatures of the modulus length, ECDSA as DER
//! `ECDSA-Sig-Value`, Ed25519 as 64 raw bytes, ML-DSA as the FIPS 204 encoding. RSASSA-PSS uses
//! MGF1 with the message hash and a salt as long as the hash, as AWS does.

use super::keys::Private;
use super::{
    signing_algorithms, AsymmetricError, KeyPair, KeySpec, MessageType, PublicKey,
    SigningAlgorithm, Unsupported,
};
use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, RsaEncoding, UnparsedPublicKey, VerificationAlgorithm};

/// The largest message AWS KMS Sign and Verify accept (enforced by the service layer, not here).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Checks the algorithm against the key spec and the message against the algorithm, the way AWS
/// validates a Sign or Verify request. Returns the imported digest for `DIGEST` messages.
fn check(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    message: &[u8],
    message_type: MessageType,
) -> Result<Option<Digest>, AsymmetricError> {
    if spec == KeySpec::Sm2 {
        return Err(Unsupported::Sm2.into());
    }
    let allowed = signing_algorithms(spec);
    if allowed.is_empty() {
        return Err(AsymmetricError::WrongKeySpec {
            spec,
            operation: "sign or verify",
        });
    }
    if !allowed.contains(&algorithm) {
        return Err(AsymmetricError::AlgorithmNotValid {
            spec,
            algorithm: algorithm.as_str(),
        });
    }
    if !algorithm.message_types().contains(&message_type) {
        return Err(AsymmetricError::MessageTypeNotValid {
            algorithm,
            message_type,
        });
    }
    let expected = match message_type {
        MessageType::Raw => return Ok(None),
        MessageType::Digest => algorithm.digest_len(),
        MessageType::ExternalMu => Some(64),
    };
    if let Some(expected) = expected {
        if message.len() != expected {
            return Err(AsymmetricError::DigestLength {
                algorithm,
                expected,
                actual: message.len(),
            });
        }
    }
    match (algorithm, message_type) {
        (SigningAlgorithm::Ed25519PhSha512, _) => Err(Unsupported::Ed25519Prehash.into()),
        (_, MessageType::ExternalMu) => Err(Unsupported::MlDsaExternalMu.into()),
        _ => {
            let hash = hash_of(algorithm).ok_or(AsymmetricError::Library)?;
            Digest::import_less_safe(message, hash)
                .map(Some)
                .map_err(|_| AsymmetricError::Library)
        }
    }
}

/// The hash a digest-taking algorithm uses.
fn hash_of(algorithm: SigningAlgorithm) -> Option<&'static digest::Algorithm> {
    match algorithm.digest_len()? {
        32 => Some(&digest::SHA256),
        48 => Some(&digest::SHA384),
        64 => Some(&digest::SHA512),
        _ => None,
    }
}

fn rsa_encoding(algorithm: SigningAlgorithm) -> Option<&'static dyn RsaEncoding> {
    Some(match algorithm {
        SigningAlgorithm::RsassaPssSha256 => &signature::RSA_PSS_SHA256,
        SigningAlgorithm::RsassaPssSha384 => &signature::RSA_PSS_SHA384,
        SigningAlgorithm::RsassaPssSha512 => &signature::RSA_PSS_SHA512,
        SigningAlgorithm::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_SHA256,
        SigningAlgorithm::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_SHA384,
        SigningAlgorithm::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_SHA512,
        _ => return None,
    })
}

fn verification_algorithm(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
) -> Option<&'static dyn VerificationAlgorithm> {
    use SigningAlgorithm as A;
    Some(match (spec, algorithm) {
        (_, A::RsassaPssSha256) => &signature::RSA_PSS_2048_8192_SHA256,
        (_, A::RsassaPssSha384) => &signature::RSA_PSS_2048_8192_SHA384,
        (_, A::RsassaPssSha512) => &signature::RSA_PSS_2048_8192_SHA512,
        (_, A::RsassaPkcs1V15Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (_, A::RsassaPkcs1V15Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (_, A::RsassaPkcs1V15Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (KeySpec::EccNistP256, A::EcdsaSha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (KeySpec::EccSecgP256k1, A::EcdsaSha256) => &signature::ECDSA_P256K1_SHA256_ASN1,
        (KeySpec::EccNistP384, A::EcdsaSha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (KeySpec::EccNistP521, A::EcdsaSha512) => &signature::ECDSA_P521_SHA512_ASN1,
        (_, A::Ed25519Sha512) => &signature::ED25519,
        (KeySpec::MlDsa44, A::MlDsaShake256) => &signature::ML_DSA_44,
        (KeySpec::MlDsa65, A::MlDsaShake256) => &signature::ML_DSA_65,
        (KeySpec::MlDsa87, A::MlDsaShake256) => &signature::ML_DSA_87,
        _ => return None,
    })
}

/// Signs `message` (a message, or a digest when `message_type` is `DIGEST`) with `key`.
///
/// Errors: the algorithm does not fit the key spec, the message type does not fit the algorithm,
/// a digest of the wrong length, or [`Unsupported`] (ED25519_PH_SHA_512, EXTERNAL_MU, SM2).
pub fn sign(
    key: &KeyPair,
    algorithm: SigningAlgorithm,
    message: &[u8],
    message_type: MessageType,
) -> Result<Vec<u8>, AsymmetricError> {
    let digest = check(key.spec(), algorithm, message, message_type)?;
    let lib = |_| AsymmetricError::Library;
    match &key.private {
        Private::Rsa { sign, .. } => {
            let encoding = rsa_encoding(algorithm).ok_or(AsymmetricError::Library)?;
            let mut sig = vec![0u8; sign.public_modulus_len()];
            match digest {
                Some(d) => sign.sign_digest(encoding, &d, &mut sig).map_err(lib)?,
                None => sign
                    .sign(encoding, &SystemRandom::new(), message, &mut sig)
                    .map_err(lib)?,
            }
            Ok(sig)
        }
        Private::Ec { sign, .. } => {
            let sig = match digest {
                Some(d) => sign.sign_digest(&d).map_err(lib)?,
                None => sign.sign(&SystemRandom::new(), message).map_err(lib)?,
            };
            Ok(sig.as_ref().to_vec())
        }
        Private::Ed25519(kp) => Ok(kp.try_sign(message).map_err(lib)?.as_ref().to_vec()),
        Private::MlDsa(kp) => {
            let mut sig = vec![0u8; kp.algorithm().signature_len()];
            let n = kp.sign(message, &mut sig).map_err(lib)?;
            sig.truncate(n);
            Ok(sig)
        }
        Private::MlKem(_) => Err(AsymmetricError::WrongKeySpec {
            spec: key.spec(),
            operation: "sign or verify",
        }),
    }
}

/// Verifies `signature` over `message` (or a digest, per `message_type`) with `public`.
///
/// Returns `Ok(false)` for any signature that does not verify, including malformed ones; errors
/// are reserved for requests AWS would reject (see [`sign`]).
pub fn verify(
    public: &PublicKey,
    algorithm: SigningAlgorithm,
    message: &[u8],
    message_type: MessageType,
    signature: &[u8],
) -> Result<bool, AsymmetricError> {
    let spec = public.spec();
    let digest = check(spec, algorithm, message, message_type)?;
    let alg = verification_algorithm(spec, algorithm).ok_or(AsymmetricError::Library)?;
    let key = UnparsedPublicKey::new(alg, public.der());
    let ok = match digest {
        Some(d) => key.verify_digest(&d, signature).is_ok(),
        None => key.verify(message, signature).is_ok(),
    };
    Ok(ok)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::OnceLock;

    /// One key per spec, generated once (RSA-4096 generation is slow).
    fn key(spec: KeySpec) -> &'static KeyPair {
        static KEYS: OnceLock<HashMap<KeySpec, KeyPair>> = OnceLock::new();
        KEYS.get_or_init(|| {
            KeySpec::ALL
                .iter()
                .filter(|s| !signing_algorithms(**s).is_empty() && s.is_supported())
                .map(|s| (*s, KeyPair::generate(*s).unwrap()))
                .collect()
        })
        .get(&spec)
        .unwrap()
    }

    fn implemented(alg: SigningAlgorithm) -> bool {
        !matches!(
            alg,
            SigningAlgorithm::Ed25519PhSha512 | SigningAlgorithm::Sm2Dsa
        )
    }

    #[test]
    fn every_spec_and_algorithm_round_trips() {
        let msg = b"the quick brown fox";
        for &spec in KeySpec::ALL {
            if !spec.is_supported() {
                continue;
            }
            for &alg in signing_algorithms(spec) {
                if !implemented(alg) {
                    continue;
                }
                let kp = key(spec);
                let pk = kp.public_key();
                let sig = sign(kp, alg, msg, MessageType::Raw).unwrap();
                assert!(
                    verify(pk, alg, msg, MessageType::Raw, &sig).unwrap(),
                    "{spec} {alg}"
                );
                assert!(!verify(pk, alg, b"other", MessageType::Raw, &sig).unwrap());
                let mut bad = sig.clone();
                let last = bad.len() - 1;
                bad[last / 2] ^= 0x40;
                assert!(!verify(pk, alg, msg, MessageType::Raw, &bad).unwrap());
                assert!(!verify(pk, alg, msg, MessageType::Raw, &[]).unwrap());
                assert!(!verify(pk, alg, msg, MessageType::Raw, &sig[..last]).unwrap());

                if let Some(hash) = hash_of(alg) {
                    // A DIGEST signature equals a RAW signature of the same message.
                    let d = digest::digest(hash, msg);
                    let dsig = sign(kp, alg, d.as_ref(), MessageType::Digest).unwrap();
                    assert!(verify(pk, alg, msg, MessageType::Raw, &dsig).unwrap());
                    assert!(verify(pk, alg, d.as_ref(), MessageType::Digest, &sig).unwrap());
                    assert!(verify(pk, alg, d.as_ref(), MessageType::Digest, &dsig).unwrap());
                    // The digest is not re-hashed.
                    assert!(!verify(pk, alg, d.as_ref(), MessageType::Raw, &dsig).unwrap());
                }
            }
        }
    }

    #[test]
    fn rsa_pkcs1_and_ed25519_are_deterministic() {
        let kp = key(KeySpec::Rsa2048);
        let a = sign(
            kp,
            SigningAlgorithm::RsassaPkcs1V15Sha256,
            b"m",
            MessageType::Raw,
        )
        .unwrap();
        let b = sign(
            kp,
            SigningAlgorithm::RsassaPkcs1V15Sha256,
            b"m",
            MessageType::Raw,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 256);
        let kp = key(KeySpec::EccNistEdwards25519);
        let a = sign(kp, SigningAlgorithm::Ed25519Sha512, b"m", MessageType::Raw).unwrap();
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn ecdsa_signatures_are_der() {
        for (spec, alg) in [
            (KeySpec::EccNistP256, SigningAlgorithm::EcdsaSha256),
            (KeySpec::EccNistP521, SigningAlgorithm::EcdsaSha512),
        ] {
            let sig = sign(key(spec), alg, b"m", MessageType::Raw).unwrap();
            assert_eq!(sig[0], 0x30, "{spec}");
        }
    }

    #[test]
    fn algorithm_must_fit_the_spec() {
        let e = sign(
            key(KeySpec::EccNistP256),
            SigningAlgorithm::EcdsaSha384,
            b"m",
            MessageType::Raw,
        )
        .unwrap_err();
        assert_eq!(
            e,
            AsymmetricError::AlgorithmNotValid {
                spec: KeySpec::EccNistP256,
                algorithm: "ECDSA_SHA_384"
            }
        );
        assert!(sign(
            key(KeySpec::Rsa2048),
            SigningAlgorithm::EcdsaSha256,
            b"m",
            MessageType::Raw
        )
        .is_err());
        assert!(verify(
            key(KeySpec::MlDsa44).public_key(),
            SigningAlgorithm::Ed25519Sha512,
            b"m",
            MessageType::Raw,
            &[0; 64]
        )
        .is_err());
        assert!(matches!(
            sign(
                key(KeySpec::Rsa2048),
                SigningAlgorithm::Sm2Dsa,
                b"m",
                MessageType::Raw
            ),
            Err(AsymmetricError::AlgorithmNotValid { .. })
        ));
        let kem = KeyPair::generate(KeySpec::MlKem512).unwrap();
        assert!(matches!(
            sign(
                &kem,
                SigningAlgorithm::MlDsaShake256,
                b"m",
                MessageType::Raw
            ),
            Err(AsymmetricError::WrongKeySpec { .. })
        ));
    }

    #[test]
    fn digest_length_is_enforced() {
        for (spec, alg, len) in [
            (KeySpec::Rsa2048, SigningAlgorithm::RsassaPssSha384, 48),
            (KeySpec::EccNistP256, SigningAlgorithm::EcdsaSha256, 32),
            (KeySpec::EccNistP521, SigningAlgorithm::EcdsaSha512, 64),
        ] {
            for bad in [0, 1, len - 1, len + 1, 20] {
                let e = sign(key(spec), alg, &vec![1u8; bad], MessageType::Digest).unwrap_err();
                assert_eq!(
                    e,
                    AsymmetricError::DigestLength {
                        algorithm: alg,
                        expected: len,
                        actual: bad
                    }
                );
                assert!(verify(
                    key(spec).public_key(),
                    alg,
                    &vec![1u8; bad],
                    MessageType::Digest,
                    &[0; 8]
                )
                .is_err());
            }
        }
    }

    #[test]
    fn message_types_follow_aws() {
        let ed = key(KeySpec::EccNistEdwards25519);
        assert!(matches!(
            sign(
                ed,
                SigningAlgorithm::Ed25519Sha512,
                &[0; 64],
                MessageType::Digest
            ),
            Err(AsymmetricError::MessageTypeNotValid { .. })
        ));
        assert!(matches!(
            sign(
                ed,
                SigningAlgorithm::Ed25519PhSha512,
                b"m",
                MessageType::Raw
            ),
            Err(AsymmetricError::MessageTypeNotValid { .. })
        ));
        assert_eq!(
            sign(
                ed,
                SigningAlgorithm::Ed25519PhSha512,
                &[0; 63],
                MessageType::Digest
            )
            .unwrap_err(),
            AsymmetricError::DigestLength {
                algorithm: SigningAlgorithm::Ed25519PhSha512,
                expected: 64,
                actual: 63
            }
        );
        assert_eq!(
            sign(
                ed,
                SigningAlgorithm::Ed25519PhSha512,
                &[0; 64],
                MessageType::Digest
            )
            .unwrap_err(),
            AsymmetricError::Unsupported(Unsupported::Ed25519Prehash)
        );
        let dsa = key(KeySpec::MlDsa65);
        assert!(matches!(
            sign(
                dsa,
                SigningAlgorithm::MlDsaShake256,
                &[0; 32],
                MessageType::Digest
            ),
            Err(AsymmetricError::MessageTypeNotValid { .. })
        ));
        assert_eq!(
            sign(
                dsa,
                SigningAlgorithm::MlDsaShake256,
                &[0; 64],
                MessageType::ExternalMu
            )
            .unwrap_err(),
            AsymmetricError::Unsupported(Unsupported::MlDsaExternalMu)
        );
        assert!(matches!(
            sign(
                dsa,
                SigningAlgorithm::MlDsaShake256,
                &[0; 63],
                MessageType::ExternalMu
            ),
            Err(AsymmetricError::DigestLength { expected: 64, .. })
        ));
        assert!(matches!(
            sign(
                key(KeySpec::Rsa2048),
                SigningAlgorithm::RsassaPssSha256,
                &[0; 64],
                MessageType::ExternalMu
            ),
            Err(AsymmetricError::MessageTypeNotValid { .. })
        ));
    }

    #[test]
    fn garbage_signatures_never_panic() {
        let mut seed = 7u32;
        for &spec in KeySpec::ALL {
            if !spec.is_supported() {
                continue;
            }
            for &alg in signing_algorithms(spec) {
                if !implemented(alg) {
                    continue;
                }
                let pk = key(spec).public_key();
                for len in [
                    0usize, 1, 8, 63, 64, 65, 71, 72, 256, 512, 2420, 3309, 4627, 5000,
                ] {
                    let sig: Vec<u8> = (0..len)
                        .map(|_| {
                            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                            (seed >> 16) as u8
                        })
                        .collect();
                    assert!(!verify(pk, alg, b"m", MessageType::Raw, &sig).unwrap());
                    let mut der = sig.clone();
                    if der.len() > 2 {
                        der[0] = 0x30;
                        der[1] = (len - 2).min(255) as u8;
                    }
                    assert!(!verify(pk, alg, b"m", MessageType::Raw, &der).unwrap());
                }
            }
        }
    }
}
