//! Encapsulate (public key) and Decapsulate (private key) for the ML-KEM key specs.

use super::keys::{ml_kem, Private};
use super::{AsymmetricError, KeyPair, PublicKey};
use aws_lc_rs::kem;
use zeroize::Zeroizing;

/// The result of [`encapsulate`].
pub struct Encapsulated {
    /// The ciphertext to pass to Decapsulate (768 / 1088 / 1568 bytes).
    pub ciphertext: Vec<u8>,
    /// The 32-byte shared secret.
    pub shared_secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Encapsulated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encapsulated")
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// The ciphertext length of an ML-KEM spec (FIPS 203, table 3).
fn ciphertext_len(spec: super::KeySpec) -> Option<usize> {
    match spec {
        super::KeySpec::MlKem512 => Some(768),
        super::KeySpec::MlKem768 => Some(1088),
        super::KeySpec::MlKem1024 => Some(1568),
        _ => None,
    }
}

fn wrong(spec: super::KeySpec) -> AsymmetricError {
    AsymmetricError::WrongKeySpec {
        spec,
        operation: "encapsulate or decapsulate",
    }
}

/// Encapsulates a fresh shared secret to an ML-KEM public key.
pub fn encapsulate(public: &PublicKey) -> Result<Encapsulated, AsymmetricError> {
    let spec = public.spec();
    let (alg, _, _) = ml_kem(spec).ok_or_else(|| wrong(spec))?;
    let raw = public
        .raw_key()
        .ok_or(AsymmetricError::InvalidPublicKey(spec))?;
    let ek = kem::EncapsulationKey::new(alg, raw)
        .map_err(|_| AsymmetricError::InvalidPublicKey(spec))?;
    let (ct, ss) = ek.encapsulate().map_err(|_| AsymmetricError::Library)?;
    Ok(Encapsulated {
        ciphertext: ct.as_ref().to_vec(),
        shared_secret: Zeroizing::new(ss.as_ref().to_vec()),
    })
}

/// Decapsulates `ciphertext` with the private key. A ciphertext of the right length always
/// yields a secret (ML-KEM's implicit rejection); a wrong length is an error.
pub fn decapsulate(
    key: &KeyPair,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AsymmetricError> {
    let spec = key.spec();
    let Private::MlKem(dk) = &key.private else {
        return Err(wrong(spec));
    };
    if Some(ciphertext.len()) != ciphertext_len(spec) {
        return Err(AsymmetricError::InvalidCiphertext);
    }
    let ss = dk
        .decapsulate(kem::Ciphertext::from(ciphertext))
        .map_err(|_| AsymmetricError::InvalidCiphertext)?;
    Ok(Zeroizing::new(ss.as_ref().to_vec()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::asymmetric::KeySpec;

    #[test]
    fn round_trip_every_size() {
        for (spec, ct_len) in [
            (KeySpec::MlKem512, 768),
            (KeySpec::MlKem768, 1088),
            (KeySpec::MlKem1024, 1568),
        ] {
            let kp = KeyPair::generate(spec).unwrap();
            // Through the stored form, as the service will use it.
            let kp = KeyPair::from_pkcs8(spec, kp.private_key_der()).unwrap();
            let e = encapsulate(kp.public_key()).unwrap();
            assert_eq!(e.ciphertext.len(), ct_len);
            assert_eq!(e.shared_secret.len(), 32);
            assert_eq!(decapsulate(&kp, &e.ciphertext).unwrap(), e.shared_secret);
            let mut bad = e.ciphertext.clone();
            bad[5] ^= 1;
            let other = decapsulate(&kp, &bad).unwrap();
            assert_ne!(other, e.shared_secret);
            for len in [0, 1, ct_len - 1, ct_len + 1] {
                assert_eq!(
                    decapsulate(&kp, &vec![0u8; len]).unwrap_err(),
                    AsymmetricError::InvalidCiphertext
                );
            }
            assert!(format!("{e:?}").starts_with("Encapsulated"));
        }
    }

    #[test]
    fn other_specs_are_refused() {
        let kp = KeyPair::generate(KeySpec::EccNistP256).unwrap();
        assert!(matches!(
            encapsulate(kp.public_key()),
            Err(AsymmetricError::WrongKeySpec { .. })
        ));
        assert!(matches!(
            decapsulate(&kp, &[0; 768]),
            Err(AsymmetricError::WrongKeySpec { .. })
        ));
    }
}
