//! Key pairs: generation, PKCS#8 storage form, and the SubjectPublicKeyInfo AWS GetPublicKey
//! returns.

use super::der;
use super::{AsymmetricError, KeySpec, Unsupported};
use aws_lc_rs::agreement;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::kem;
use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, ParsedPublicKey,
    PqdsaKeyPair, PqdsaSigningAlgorithm, RsaKeyPair, VerificationAlgorithm,
};
use zeroize::Zeroizing;

/// The private half of a key pair, by family.
pub(crate) enum Private {
    Rsa {
        sign: RsaKeyPair,
        decrypt: OaepPrivateDecryptingKey,
    },
    Ec {
        sign: EcdsaKeyPair,
        /// The same key for ECDH (NIST curves only).
        agree: Option<agreement::PrivateKey>,
    },
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
    MlKem(kem::DecapsulationKey),
}

/// An asymmetric KMS key pair. Its storage form is PKCS#8 DER ([`KeyPair::private_key_der`]),
/// kept in a zeroizing buffer; `Debug` never prints key material.
pub struct KeyPair {
    spec: KeySpec,
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
    pub(crate) private: Private,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({}, <redacted>)", self.spec)
    }
}

/// A public key: the DER SubjectPublicKeyInfo of a key of `spec`, checked when constructed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    spec: KeySpec,
    der: Vec<u8>,
}

fn rsa_key_size(spec: KeySpec) -> Option<KeySize> {
    match spec {
        KeySpec::Rsa2048 => Some(KeySize::Rsa2048),
        KeySpec::Rsa3072 => Some(KeySize::Rsa3072),
        KeySpec::Rsa4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

fn ecdsa_signing(spec: KeySpec) -> Option<&'static EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        KeySpec::EccNistP521 => Some(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
        KeySpec::EccSecgP256k1 => Some(&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => None,
    }
}

fn ecdh_algorithm(spec: KeySpec) -> Option<&'static agreement::Algorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&agreement::ECDH_P256),
        KeySpec::EccNistP384 => Some(&agreement::ECDH_P384),
        KeySpec::EccNistP521 => Some(&agreement::ECDH_P521),
        _ => None,
    }
}

fn ml_dsa_signing(spec: KeySpec) -> Option<&'static PqdsaSigningAlgorithm> {
    match spec {
        KeySpec::MlDsa44 => Some(&signature::ML_DSA_44_SIGNING),
        KeySpec::MlDsa65 => Some(&signature::ML_DSA_65_SIGNING),
        KeySpec::MlDsa87 => Some(&signature::ML_DSA_87_SIGNING),
        _ => None,
    }
}

/// The ML-KEM algorithm, its OID, and `k` (the module rank) for a spec.
pub(crate) fn ml_kem(spec: KeySpec) -> Option<(&'static kem::Algorithm, &'static [u8], usize)> {
    match spec {
        KeySpec::MlKem512 => Some((&kem::ML_KEM_512, der::OID_ML_KEM_512, 2)),
        KeySpec::MlKem768 => Some((&kem::ML_KEM_768, der::OID_ML_KEM_768, 3)),
        KeySpec::MlKem1024 => Some((&kem::ML_KEM_1024, der::OID_ML_KEM_1024, 4)),
        _ => None,
    }
}

/// The aws-lc-rs verification algorithm used only to validate a public key of `spec`.
fn validation_algorithm(spec: KeySpec) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match spec {
        KeySpec::EccNistP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeySpec::EccNistP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeySpec::EccNistP521 => &signature::ECDSA_P521_SHA512_ASN1,
        KeySpec::EccSecgP256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
        KeySpec::EccNistEdwards25519 => &signature::ED25519,
        KeySpec::MlDsa44 => &signature::ML_DSA_44,
        KeySpec::MlDsa65 => &signature::ML_DSA_65,
        KeySpec::MlDsa87 => &signature::ML_DSA_87,
        _ => return None,
    })
}

/// Maps any library error to [`AsymmetricError::InvalidKeyMaterial`].
fn invalid_key<E>(spec: KeySpec) -> impl FnOnce(E) -> AsymmetricError {
    move |_| AsymmetricError::InvalidKeyMaterial(spec)
}

/// Rejects specs that are not key pairs Coffer implements.
fn require_key_pair(spec: KeySpec) -> Result<(), AsymmetricError> {
    if spec == KeySpec::Sm2 {
        return Err(Unsupported::Sm2.into());
    }
    if !spec.is_asymmetric() {
        return Err(AsymmetricError::WrongKeySpec {
            spec,
            operation: "be an asymmetric key pair",
        });
    }
    Ok(())
}

/// ML-KEM's expanded decapsulation key is `dk_PKE (384k) || ek (384k+32) || H(ek) (32) || z (32)`
/// (FIPS 203, Algorithm 16). Returns `ek` after checking `H(ek)`, the FIPS 203 input check.
fn ml_kem_ek(expanded: &[u8], k: usize) -> Option<&[u8]> {
    let ek_start = 384 * k;
    let ek_end = ek_start + 384 * k + 32;
    if expanded.len() != ek_end + 64 {
        return None;
    }
    let ek = &expanded[ek_start..ek_end];
    let h = digest::digest(&digest::SHA3_256, ek);
    if crate::digest::constant_time_eq(h.as_ref(), &expanded[ek_end..ek_end + 32]) {
        Some(ek)
    } else {
        None
    }
}

impl KeyPair {
    /// Generates a new key pair of `spec`.
    pub fn generate(spec: KeySpec) -> Result<Self, AsymmetricError> {
        require_key_pair(spec)?;
        let lib = |_| AsymmetricError::Library;
        let pkcs8: Zeroizing<Vec<u8>> = if let Some(size) = rsa_key_size(spec) {
            let kp = RsaKeyPair::generate(size).map_err(lib)?;
            let der: Pkcs8V1Der<'static> = kp.as_der().map_err(lib)?;
            Zeroizing::new(der.as_ref().to_vec())
        } else if let Some(alg) = ecdsa_signing(spec) {
            let kp = EcdsaKeyPair::generate(alg).map_err(lib)?;
            Zeroizing::new(kp.to_pkcs8v1().map_err(lib)?.as_ref().to_vec())
        } else if spec == KeySpec::EccNistEdwards25519 {
            let kp = Ed25519KeyPair::generate().map_err(lib)?;
            Zeroizing::new(kp.to_pkcs8v1().map_err(lib)?.as_ref().to_vec())
        } else if let Some(alg) = ml_dsa_signing(spec) {
            let kp = PqdsaKeyPair::generate(alg).map_err(lib)?;
            Zeroizing::new(kp.to_pkcs8v1().map_err(lib)?.as_ref().to_vec())
        } else if let Some((alg, oid, _)) = ml_kem(spec) {
            let dk = kem::DecapsulationKey::generate(alg).map_err(lib)?;
            let raw = dk.key_bytes().map_err(lib)?;
            der::encode_pkcs8_expanded(oid, raw.as_ref())
        } else {
            return Err(AsymmetricError::Library);
        };
        Self::from_pkcs8(spec, &pkcs8).map_err(|_| AsymmetricError::Library)
    }

    /// Loads a key pair of `spec` from PKCS#8 DER (v1 or v2). Fails if the key is malformed or
    /// is not of `spec` (wrong algorithm, curve or RSA modulus size).
    ///
    /// ML-KEM keys must use the `expandedKey` private-key form (the form [`KeyPair::generate`]
    /// writes); seed-only ML-KEM keys are rejected because aws-lc-rs cannot expand a seed.
    pub fn from_pkcs8(spec: KeySpec, pkcs8: &[u8]) -> Result<Self, AsymmetricError> {
        require_key_pair(spec)?;
        let (private, public_der): (Private, Vec<u8>) = if let Some(bits) = spec.rsa_bits() {
            let sign = RsaKeyPair::from_pkcs8(pkcs8).map_err(invalid_key(spec))?;
            let decrypt = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(invalid_key(spec))?;
            let decrypt = OaepPrivateDecryptingKey::new(decrypt).map_err(invalid_key(spec))?;
            if decrypt.key_size_bits() != bits {
                return Err(AsymmetricError::InvalidKeyMaterial(spec));
            }
            let spki: PublicKeyX509Der<'static> =
                sign.public_key().as_der().map_err(invalid_key(spec))?;
            let der = spki.as_ref().to_vec();
            (Private::Rsa { sign, decrypt }, der)
        } else if let Some(alg) = ecdsa_signing(spec) {
            let sign = EcdsaKeyPair::from_pkcs8(alg, pkcs8).map_err(invalid_key(spec))?;
            let agree = match ecdh_algorithm(spec) {
                Some(a) => Some(
                    agreement::PrivateKey::from_private_key_der(a, pkcs8)
                        .map_err(invalid_key(spec))?,
                ),
                None => None,
            };
            let spki: PublicKeyX509Der<'static> =
                sign.public_key().as_der().map_err(invalid_key(spec))?;
            let der = spki.as_ref().to_vec();
            (Private::Ec { sign, agree }, der)
        } else if spec == KeySpec::EccNistEdwards25519 {
            let kp = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(invalid_key(spec))?;
            let spki: PublicKeyX509Der<'static> =
                kp.public_key().as_der().map_err(invalid_key(spec))?;
            let der = spki.as_ref().to_vec();
            (Private::Ed25519(kp), der)
        } else if let Some(alg) = ml_dsa_signing(spec) {
            let kp = PqdsaKeyPair::from_pkcs8(alg, pkcs8).map_err(invalid_key(spec))?;
            let spki: PublicKeyX509Der<'static> =
                kp.public_key().as_der().map_err(invalid_key(spec))?;
            let der = spki.as_ref().to_vec();
            (Private::MlDsa(kp), der)
        } else if let Some((alg, oid, k)) = ml_kem(spec) {
            let invalid = AsymmetricError::InvalidKeyMaterial(spec);
            let expanded = der::parse_pkcs8_expanded(pkcs8, oid).ok_or(invalid.clone())?;
            let ek = ml_kem_ek(expanded, k).ok_or(invalid)?;
            kem::EncapsulationKey::new(alg, ek).map_err(invalid_key(spec))?;
            let dk = kem::DecapsulationKey::new(alg, expanded).map_err(invalid_key(spec))?;
            (Private::MlKem(dk), der::encode_spki(oid, ek))
        } else {
            return Err(AsymmetricError::InvalidKeyMaterial(spec));
        };
        Ok(Self {
            spec,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            public: PublicKey {
                spec,
                der: public_der,
            },
            private,
        })
    }

    /// The key spec.
    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The private key as PKCS#8 DER, for wrapping under the root key (or for
    /// GenerateDataKeyPair's `PrivateKeyPlaintext`). Handle with care.
    pub fn private_key_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A zeroizing copy of [`KeyPair::private_key_der`].
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The DER SubjectPublicKeyInfo, exactly what AWS GetPublicKey returns.
    pub fn public_key_der(&self) -> &[u8] {
        self.public.der()
    }
}

impl PublicKey {
    /// Parses and checks a DER SubjectPublicKeyInfo for a key of `spec`: the algorithm OID (and
    /// named curve) must match the spec, the key must be valid (point on the curve, RSA modulus
    /// of the spec's size), and nothing may follow the structure.
    pub fn from_der(spec: KeySpec, der: &[u8]) -> Result<Self, AsymmetricError> {
        require_key_pair(spec)?;
        let invalid = || AsymmetricError::InvalidPublicKey(spec);
        let spki = der::parse_spki(der).ok_or_else(invalid)?;
        let (oid, curve): (&[u8], Option<&[u8]>) = match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => (der::OID_RSA, None),
            KeySpec::EccNistP256 => (der::OID_EC, Some(der::OID_P256)),
            KeySpec::EccNistP384 => (der::OID_EC, Some(der::OID_P384)),
            KeySpec::EccNistP521 => (der::OID_EC, Some(der::OID_P521)),
            KeySpec::EccSecgP256k1 => (der::OID_EC, Some(der::OID_SECP256K1)),
            KeySpec::EccNistEdwards25519 => (der::OID_ED25519, None),
            KeySpec::MlDsa44 => (der::OID_ML_DSA_44, None),
            KeySpec::MlDsa65 => (der::OID_ML_DSA_65, None),
            KeySpec::MlDsa87 => (der::OID_ML_DSA_87, None),
            KeySpec::MlKem512 => (der::OID_ML_KEM_512, None),
            KeySpec::MlKem768 => (der::OID_ML_KEM_768, None),
            KeySpec::MlKem1024 => (der::OID_ML_KEM_1024, None),
            _ => return Err(invalid()),
        };
        if spki.algorithm != oid || spki.curve != curve {
            return Err(invalid());
        }
        if let Some(bits) = spec.rsa_bits() {
            let key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(der).map_err(|_| invalid())?;
            if key.key_size_bits() != bits {
                return Err(invalid());
            }
        } else if let Some((alg, _, _)) = ml_kem(spec) {
            kem::EncapsulationKey::new(alg, spki.key).map_err(|_| invalid())?;
        } else if let Some(alg) = validation_algorithm(spec) {
            ParsedPublicKey::new(alg, der).map_err(|_| invalid())?;
        } else {
            return Err(invalid());
        }
        Ok(Self {
            spec,
            der: der.to_vec(),
        })
    }

    /// The key spec.
    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The raw key inside the SubjectPublicKeyInfo (e.g. ML-KEM's encapsulation key).
    pub(crate) fn raw_key(&self) -> Option<&[u8]> {
        der::parse_spki(&self.der).map(|s| s.key)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn types_are_send_and_sync() {
        assert_send_sync::<KeyPair>();
        assert_send_sync::<PublicKey>();
    }

    #[test]
    fn non_key_pair_specs_are_rejected() {
        assert_eq!(
            KeyPair::generate(KeySpec::Sm2).unwrap_err(),
            AsymmetricError::Unsupported(Unsupported::Sm2)
        );
        for spec in [KeySpec::SymmetricDefault, KeySpec::Hmac256] {
            assert!(matches!(
                KeyPair::generate(spec),
                Err(AsymmetricError::WrongKeySpec { .. })
            ));
            assert!(KeyPair::from_pkcs8(spec, b"").is_err());
            assert!(PublicKey::from_der(spec, b"").is_err());
        }
    }

    #[test]
    fn every_spec_generates_loads_and_exports() {
        for &spec in KeySpec::ALL {
            if !spec.is_asymmetric() || !spec.is_supported() {
                continue;
            }
            let kp = KeyPair::generate(spec).unwrap();
            assert_eq!(kp.spec(), spec);
            assert_eq!(format!("{kp:?}"), format!("KeyPair({spec}, <redacted>)"));
            let again = KeyPair::from_pkcs8(spec, kp.private_key_der()).unwrap();
            assert_eq!(again.public_key(), kp.public_key(), "{spec}");
            let public = PublicKey::from_der(spec, kp.public_key_der()).unwrap();
            assert_eq!(&public, kp.public_key());
            // The DER names the right algorithm (and curve).
            let spki = der::parse_spki(kp.public_key_der()).unwrap();
            assert!(!spki.key.is_empty());
        }
    }

    #[test]
    fn wrong_spec_is_rejected() {
        let p256 = KeyPair::generate(KeySpec::EccNistP256).unwrap();
        let ed = KeyPair::generate(KeySpec::EccNistEdwards25519).unwrap();
        let kem = KeyPair::generate(KeySpec::MlKem512).unwrap();
        let dsa = KeyPair::generate(KeySpec::MlDsa44).unwrap();
        let rsa = KeyPair::generate(KeySpec::Rsa2048).unwrap();
        let cases: [(&KeyPair, KeySpec); 8] = [
            (&p256, KeySpec::EccNistP384),
            (&p256, KeySpec::EccSecgP256k1),
            (&p256, KeySpec::EccNistEdwards25519),
            (&ed, KeySpec::EccNistP256),
            (&kem, KeySpec::MlKem768),
            (&dsa, KeySpec::MlDsa65),
            (&rsa, KeySpec::Rsa3072),
            (&rsa, KeySpec::EccNistP256),
        ];
        for (kp, spec) in cases {
            assert_eq!(
                KeyPair::from_pkcs8(spec, kp.private_key_der()).unwrap_err(),
                AsymmetricError::InvalidKeyMaterial(spec),
                "{} as {spec}",
                kp.spec()
            );
            assert_eq!(
                PublicKey::from_der(spec, kp.public_key_der()).unwrap_err(),
                AsymmetricError::InvalidPublicKey(spec),
                "{} as {spec}",
                kp.spec()
            );
        }
    }

    #[test]
    fn tampered_ml_kem_key_is_rejected() {
        let kp = KeyPair::generate(KeySpec::MlKem768).unwrap();
        let mut der = kp.private_key_der().to_vec();
        let n = der.len();
        der[n - 100] ^= 1; // inside ek / H(ek)
        assert!(KeyPair::from_pkcs8(KeySpec::MlKem768, &der).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678u32;
        for &spec in KeySpec::ALL {
            for len in [0usize, 1, 2, 31, 32, 33, 64, 100, 300, 1300] {
                let v: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        (seed >> 16) as u8
                    })
                    .collect();
                assert!(KeyPair::from_pkcs8(spec, &v).is_err());
                assert!(PublicKey::from_der(spec, &v).is_err());
                let mut w = v.clone();
                if w.len() > 4 {
                    w[0] = 0x30;
                    w[1] = 0x82;
                }
                assert!(KeyPair::from_pkcs8(spec, &w).is_err());
                assert!(PublicKey::from_der(spec, &w).is_err());
            }
        }
    }

    #[test]
    fn truncated_and_extended_keys_are_rejected() {
        for spec in [
            KeySpec::Rsa2048,
            KeySpec::EccNistP384,
            KeySpec::EccNistEdwards25519,
            KeySpec::MlDsa44,
            KeySpec::MlKem512,
        ] {
            let kp = KeyPair::generate(spec).unwrap();
            let pk = kp.public_key_der();
            for cut in [1, 2, pk.len() / 2, pk.len() - 1] {
                assert!(PublicKey::from_der(spec, &pk[..cut]).is_err(), "{spec}");
            }
            let mut ext = pk.to_vec();
            ext.push(0);
            assert!(PublicKey::from_der(spec, &ext).is_err(), "{spec}");
            let sk = kp.private_key_der();
            for cut in [1, sk.len() / 2, sk.len() - 1] {
                assert!(KeyPair::from_pkcs8(spec, &sk[..cut]).is_err(), "{spec}");
            }
        }
    }
}
