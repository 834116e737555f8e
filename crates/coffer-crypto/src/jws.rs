//! Verifying JSON Web Signatures (RFC 7515) with public keys given as JWK members (RFC 7517,
//! 7518): what STS needs to check an OpenID Connect ID token. Only asymmetric algorithms:
//! `none` and the HMAC ones (`HS256`, …) are refused, as AWS refuses them.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

/// A JWS `alg` this module verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// ECDSA on P-256 with SHA-256 (signature `r || s`, 64 bytes).
    Es256,
    /// ECDSA on P-384 with SHA-384 (signature `r || s`, 96 bytes).
    Es384,
}

impl JwsAlg {
    /// The algorithm named by a JOSE header's `alg`; `None` for `none`, HMAC and anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            _ => return None,
        })
    }

    /// The JWK `kty` its keys have: `RSA` or `EC`.
    pub fn key_type(self) -> &'static str {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 => "RSA",
            Self::Es256 | Self::Es384 => "EC",
        }
    }

    /// The JWK `crv` its EC keys have.
    pub fn curve(self) -> Option<&'static str> {
        match self {
            Self::Es256 => Some("P-256"),
            Self::Es384 => Some("P-384"),
            _ => None,
        }
    }
}

/// A public key as a JWK gives it, its members base64url-decoded.
#[derive(Debug, Clone, Copy)]
pub enum JwkKey<'a> {
    /// `kty: RSA`: modulus `n` and exponent `e`, big-endian.
    Rsa {
        /// Modulus.
        n: &'a [u8],
        /// Public exponent.
        e: &'a [u8],
    },
    /// `kty: EC`: the point's coordinates, big-endian, each the curve's size.
    Ec {
        /// x coordinate.
        x: &'a [u8],
        /// y coordinate.
        y: &'a [u8],
    },
}

/// Whether `signature` is `alg`'s signature of `signing_input` (`BASE64URL(header) "."
/// BASE64URL(payload)`) by `key`. A key of the wrong type for `alg` does not verify.
pub fn verify(alg: JwsAlg, key: JwkKey<'_>, signing_input: &[u8], signature: &[u8]) -> bool {
    match (alg, key) {
        (JwsAlg::Rs256 | JwsAlg::Rs384 | JwsAlg::Rs512, JwkKey::Rsa { n, e }) => {
            let params = match alg {
                JwsAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                JwsAlg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                _ => &signature::RSA_PKCS1_2048_8192_SHA512,
            };
            RsaPublicKeyComponents { n, e }
                .verify(params, signing_input, signature)
                .is_ok()
        }
        (JwsAlg::Es256 | JwsAlg::Es384, JwkKey::Ec { x, y }) => {
            let (params, size) = match alg {
                JwsAlg::Es256 => (&signature::ECDSA_P256_SHA256_FIXED, 32),
                _ => (&signature::ECDSA_P384_SHA384_FIXED, 48),
            };
            if x.len() != size || y.len() != size {
                return false;
            }
            // SEC 1 uncompressed point: 0x04 || x || y.
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(x);
            point.extend_from_slice(y);
            UnparsedPublicKey::new(params, &point)
                .verify(signing_input, signature)
                .is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    #[test]
    fn es256_signatures_verify_and_tampering_does_not() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref();
        let (x, y) = public[1..].split_at(32);
        let sig = pair.sign(&rng, b"h.p").unwrap();
        let key = JwkKey::Ec { x, y };
        assert!(verify(JwsAlg::Es256, key, b"h.p", sig.as_ref()));
        assert!(!verify(JwsAlg::Es256, key, b"h.q", sig.as_ref()));
        assert!(!verify(JwsAlg::Es384, key, b"h.p", sig.as_ref()));
        assert!(!verify(JwsAlg::Rs256, key, b"h.p", sig.as_ref()));
    }

    #[test]
    fn only_asymmetric_algorithms_are_named() {
        for refused in ["none", "HS256", "PS256", "", "rs256"] {
            assert_eq!(JwsAlg::from_name(refused), None, "{refused}");
        }
        assert_eq!(JwsAlg::from_name("RS256"), Some(JwsAlg::Rs256));
        assert_eq!(
            JwsAlg::from_name("ES384").and_then(JwsAlg::curve),
            Some("P-384")
        );
    }
}
