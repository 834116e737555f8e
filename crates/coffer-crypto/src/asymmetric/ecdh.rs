//! DeriveSharedSecret: ECDH between a NIST-curve KMS key and a peer's public key.

use super::keys::Private;
use super::{
    key_agreement_algorithms, AsymmetricError, KeyAgreementAlgorithm, KeyPair, KeySpec, PublicKey,
    Unsupported,
};
use aws_lc_rs::agreement::{self, ParsedPublicKeyFormat, UnparsedPublicKey};
use zeroize::Zeroizing;

/// Derives the raw ECDH shared secret (the x-coordinate, as AWS returns it) between `key` and
/// the peer's public key, a DER SubjectPublicKeyInfo on the same curve.
pub fn derive_shared_secret(
    key: &KeyPair,
    algorithm: KeyAgreementAlgorithm,
    peer_public_key_der: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AsymmetricError> {
    let spec = key.spec();
    if spec == KeySpec::Sm2 {
        return Err(Unsupported::Sm2.into());
    }
    if !key_agreement_algorithms(spec).contains(&algorithm) {
        return Err(AsymmetricError::WrongKeySpec {
            spec,
            operation: "derive a shared secret",
        });
    }
    let Private::Ec {
        agree: Some(private),
        ..
    } = &key.private
    else {
        return Err(AsymmetricError::Library);
    };
    // Strict SPKI of the same curve (AWS does not accept a bare point).
    PublicKey::from_der(spec, peer_public_key_der)?;
    let peer = UnparsedPublicKey::new(private.algorithm(), peer_public_key_der);
    let parsed = agreement::ParsedPublicKey::try_from(&peer)
        .map_err(|_| AsymmetricError::InvalidPublicKey(spec))?;
    if parsed.format() != ParsedPublicKeyFormat::X509 {
        return Err(AsymmetricError::InvalidPublicKey(spec));
    }
    agreement::agree(
        private,
        parsed,
        AsymmetricError::InvalidPublicKey(spec),
        |secret| Ok(Zeroizing::new(secret.to_vec())),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree() {
        for (spec, len) in [
            (KeySpec::EccNistP256, 32),
            (KeySpec::EccNistP384, 48),
            (KeySpec::EccNistP521, 66),
        ] {
            let a = KeyPair::generate(spec).unwrap();
            let b = KeyPair::generate(spec).unwrap();
            let ab =
                derive_shared_secret(&a, KeyAgreementAlgorithm::Ecdh, b.public_key_der()).unwrap();
            let ba =
                derive_shared_secret(&b, KeyAgreementAlgorithm::Ecdh, a.public_key_der()).unwrap();
            assert_eq!(ab, ba);
            assert_eq!(ab.len(), len, "{spec}");
        }
    }

    #[test]
    fn wrong_curve_and_garbage_are_refused() {
        let a = KeyPair::generate(KeySpec::EccNistP256).unwrap();
        let b = KeyPair::generate(KeySpec::EccNistP384).unwrap();
        let k1 = KeyPair::generate(KeySpec::EccSecgP256k1).unwrap();
        for peer in [
            b.public_key_der(),
            k1.public_key_der(),
            &[][..],
            &[0x30, 0x00][..],
        ] {
            assert_eq!(
                derive_shared_secret(&a, KeyAgreementAlgorithm::Ecdh, peer).unwrap_err(),
                AsymmetricError::InvalidPublicKey(KeySpec::EccNistP256)
            );
        }
        // A bare uncompressed point is not an SPKI.
        let spki = a.public_key_der();
        let point = &spki[spki.len() - 65..];
        assert!(derive_shared_secret(&a, KeyAgreementAlgorithm::Ecdh, point).is_err());
        // secp256k1, Ed25519, RSA keys cannot agree.
        for kp in [k1, KeyPair::generate(KeySpec::EccNistEdwards25519).unwrap()] {
            assert!(matches!(
                derive_shared_secret(&kp, KeyAgreementAlgorithm::Ecdh, spki),
                Err(AsymmetricError::WrongKeySpec { .. })
            ));
        }
    }
}
