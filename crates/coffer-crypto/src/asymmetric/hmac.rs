//! HMAC KMS keys: GenerateMac and VerifyMac (RFC 2104, via aws-lc-rs).

use super::{mac_algorithms, AsymmetricError, KeySpec, MacAlgorithm};
use aws_lc_rs::hmac;
use zeroize::Zeroizing;

/// An HMAC KMS key's material. Zeroized on drop; `Debug` never prints it.
pub struct HmacKey {
    spec: KeySpec,
    raw: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HmacKey({}, <redacted>)", self.spec)
    }
}

/// The aws-lc-rs algorithm and the generated key length (the hash length) of an HMAC spec.
fn params(spec: KeySpec) -> Option<(hmac::Algorithm, usize)> {
    match spec {
        KeySpec::Hmac224 => Some((hmac::HMAC_SHA224, 28)),
        KeySpec::Hmac256 => Some((hmac::HMAC_SHA256, 32)),
        KeySpec::Hmac384 => Some((hmac::HMAC_SHA384, 48)),
        KeySpec::Hmac512 => Some((hmac::HMAC_SHA512, 64)),
        _ => None,
    }
}

fn not_hmac(spec: KeySpec) -> AsymmetricError {
    AsymmetricError::WrongKeySpec {
        spec,
        operation: "generate or verify a MAC",
    }
}

impl HmacKey {
    /// The length of key material KMS generates for `spec`: the hash length (HMAC_224: 28 bytes,
    /// HMAC_256: 32, HMAC_384: 48, HMAC_512: 64).
    pub fn generated_len(spec: KeySpec) -> Option<usize> {
        params(spec).map(|(_, len)| len)
    }

    /// The key lengths accepted for `spec` when loading material: from the hash length up to
    /// the hash's block size (HMAC_224/256: up to 64 bytes; HMAC_384/512: up to 128).
    pub fn accepted_len(spec: KeySpec) -> Option<std::ops::RangeInclusive<usize>> {
        params(spec).map(|(alg, len)| len..=alg.digest_algorithm().block_len())
    }

    /// Generates fresh key material for `spec`.
    pub fn generate(spec: KeySpec) -> Result<Self, AsymmetricError> {
        let len = Self::generated_len(spec).ok_or_else(|| not_hmac(spec))?;
        let raw = crate::random::bytes(len).map_err(|_| AsymmetricError::Library)?;
        Ok(Self { spec, raw })
    }

    /// Loads key material for `spec` (see [`HmacKey::accepted_len`]).
    pub fn from_bytes(spec: KeySpec, bytes: &[u8]) -> Result<Self, AsymmetricError> {
        let range = Self::accepted_len(spec).ok_or_else(|| not_hmac(spec))?;
        if !range.contains(&bytes.len()) {
            return Err(AsymmetricError::InvalidKeyMaterial(spec));
        }
        Ok(Self {
            spec,
            raw: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// The key spec.
    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The raw key material, for wrapping under the root key. Handle with care.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn key(&self, algorithm: MacAlgorithm) -> Result<hmac::Key, AsymmetricError> {
        if !mac_algorithms(self.spec).contains(&algorithm) {
            return Err(AsymmetricError::AlgorithmNotValid {
                spec: self.spec,
                algorithm: algorithm.as_str(),
            });
        }
        let (alg, _) = params(self.spec).ok_or_else(|| not_hmac(self.spec))?;
        Ok(hmac::Key::new(alg, &self.raw))
    }

    /// GenerateMac: the HMAC tag of `message`.
    pub fn generate_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, AsymmetricError> {
        let key = self.key(algorithm)?;
        Ok(hmac::sign(&key, message).as_ref().to_vec())
    }

    /// VerifyMac: whether `mac` is the tag of `message`, compared in constant time. A tag of the
    /// wrong length is simply `false`.
    pub fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, AsymmetricError> {
        let key = self.key(algorithm)?;
        Ok(hmac::verify(&key, message, mac).is_ok())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_case_2() {
        // Key "Jefe", data "what do ya want for nothing?"; loaded bypassing the length rule.
        let key = HmacKey {
            spec: KeySpec::Hmac256,
            raw: Zeroizing::new(b"Jefe".to_vec()),
        };
        let tag = key
            .generate_mac(MacAlgorithm::HmacSha256, b"what do ya want for nothing?")
            .unwrap();
        assert_eq!(
            hex::encode(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn every_spec_round_trips() {
        for (spec, alg, len) in [
            (KeySpec::Hmac224, MacAlgorithm::HmacSha224, 28),
            (KeySpec::Hmac256, MacAlgorithm::HmacSha256, 32),
            (KeySpec::Hmac384, MacAlgorithm::HmacSha384, 48),
            (KeySpec::Hmac512, MacAlgorithm::HmacSha512, 64),
        ] {
            let k = HmacKey::generate(spec).unwrap();
            assert_eq!(k.expose_bytes().len(), len);
            assert_eq!(format!("{k:?}"), format!("HmacKey({spec}, <redacted>)"));
            let tag = k.generate_mac(alg, b"msg").unwrap();
            assert_eq!(tag.len(), alg.tag_len());
            assert!(k.verify_mac(alg, b"msg", &tag).unwrap());
            assert!(!k.verify_mac(alg, b"msh", &tag).unwrap());
            assert!(!k.verify_mac(alg, b"msg", &tag[1..]).unwrap());
            assert!(!k.verify_mac(alg, b"msg", &[]).unwrap());
            let mut bad = tag.clone();
            bad[0] ^= 1;
            assert!(!k.verify_mac(alg, b"msg", &bad).unwrap());
            let again = HmacKey::from_bytes(spec, k.expose_bytes()).unwrap();
            assert_eq!(again.generate_mac(alg, b"msg").unwrap(), tag);
        }
    }

    #[test]
    fn lengths_and_algorithms_are_checked() {
        assert!(HmacKey::from_bytes(KeySpec::Hmac256, &[0; 31]).is_err());
        assert!(HmacKey::from_bytes(KeySpec::Hmac256, &[0; 64]).is_ok());
        assert!(HmacKey::from_bytes(KeySpec::Hmac256, &[0; 65]).is_err());
        assert!(HmacKey::from_bytes(KeySpec::Hmac512, &[0; 128]).is_ok());
        assert!(HmacKey::from_bytes(KeySpec::Hmac224, &[0; 27]).is_err());
        assert!(matches!(
            HmacKey::generate(KeySpec::Rsa2048),
            Err(AsymmetricError::WrongKeySpec { .. })
        ));
        let k = HmacKey::generate(KeySpec::Hmac256).unwrap();
        assert_eq!(
            k.generate_mac(MacAlgorithm::HmacSha512, b"m").unwrap_err(),
            AsymmetricError::AlgorithmNotValid {
                spec: KeySpec::Hmac256,
                algorithm: "HMAC_SHA_512"
            }
        );
    }
}
