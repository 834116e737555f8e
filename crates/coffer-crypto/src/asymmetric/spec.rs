//! The AWS KMS vocabulary: key specs, key usages and the algorithm names DescribeKey reports, with
//! their wire names (`as_str` / `FromStr`).

use std::fmt;
use std::str::FromStr;

/// Declares a fieldless enum whose variants map one-to-one to AWS wire names.
macro_rules! aws_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The AWS wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(UnknownName),
                }
            }
        }
    };
}

/// A string that is not one of the enum's AWS names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown AWS KMS name")]
pub struct UnknownName;

aws_enum!(
    /// An AWS KMS `KeySpec`.
    KeySpec {
        /// AES-256-GCM (handled by [`crate::aead`], not by this module).
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        /// RSA, 2048-bit modulus.
        Rsa2048 => "RSA_2048",
        /// RSA, 3072-bit modulus.
        Rsa3072 => "RSA_3072",
        /// RSA, 4096-bit modulus.
        Rsa4096 => "RSA_4096",
        /// NIST P-256 (secp256r1).
        EccNistP256 => "ECC_NIST_P256",
        /// NIST P-384 (secp384r1).
        EccNistP384 => "ECC_NIST_P384",
        /// NIST P-521 (secp521r1).
        EccNistP521 => "ECC_NIST_P521",
        /// secp256k1.
        EccSecgP256k1 => "ECC_SECG_P256K1",
        /// Ed25519.
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
        /// ML-DSA-44 (FIPS 204).
        MlDsa44 => "ML_DSA_44",
        /// ML-DSA-65 (FIPS 204).
        MlDsa65 => "ML_DSA_65",
        /// ML-DSA-87 (FIPS 204).
        MlDsa87 => "ML_DSA_87",
        /// ML-KEM-512 (FIPS 203).
        MlKem512 => "ML_KEM_512",
        /// ML-KEM-768 (FIPS 203).
        MlKem768 => "ML_KEM_768",
        /// ML-KEM-1024 (FIPS 203).
        MlKem1024 => "ML_KEM_1024",
        /// HMAC with SHA-224.
        Hmac224 => "HMAC_224",
        /// HMAC with SHA-256.
        Hmac256 => "HMAC_256",
        /// HMAC with SHA-384.
        Hmac384 => "HMAC_384",
        /// HMAC with SHA-512.
        Hmac512 => "HMAC_512",
        /// SM2 (China Regions only): not implemented by Coffer.
        Sm2 => "SM2",
    }
);

aws_enum!(
    /// An AWS KMS `KeyUsage`.
    KeyUsage {
        /// Encrypt and Decrypt.
        EncryptDecrypt => "ENCRYPT_DECRYPT",
        /// Sign and Verify.
        SignVerify => "SIGN_VERIFY",
        /// GenerateMac and VerifyMac.
        GenerateVerifyMac => "GENERATE_VERIFY_MAC",
        /// DeriveSharedSecret.
        KeyAgreement => "KEY_AGREEMENT",
        /// Encapsulate and Decapsulate.
        EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
    }
);

aws_enum!(
    /// An AWS KMS `SigningAlgorithmSpec`.
    SigningAlgorithm {
        /// RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt.
        RsassaPssSha256 => "RSASSA_PSS_SHA_256",
        /// RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt.
        RsassaPssSha384 => "RSASSA_PSS_SHA_384",
        /// RSASSA-PSS, SHA-512, MGF1-SHA-512, 64-byte salt.
        RsassaPssSha512 => "RSASSA_PSS_SHA_512",
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
        /// RSASSA-PKCS1-v1_5 with SHA-384.
        RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
        /// RSASSA-PKCS1-v1_5 with SHA-512.
        RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
        /// ECDSA with SHA-256, DER signature.
        EcdsaSha256 => "ECDSA_SHA_256",
        /// ECDSA with SHA-384, DER signature.
        EcdsaSha384 => "ECDSA_SHA_384",
        /// ECDSA with SHA-512, DER signature.
        EcdsaSha512 => "ECDSA_SHA_512",
        /// SM2 signatures: not implemented.
        Sm2Dsa => "SM2DSA",
        /// ML-DSA (pure, empty context).
        MlDsaShake256 => "ML_DSA_SHAKE_256",
        /// PureEdDSA over Ed25519.
        Ed25519Sha512 => "ED25519_SHA_512",
        /// HashEdDSA (Ed25519ph) over Ed25519.
        Ed25519PhSha512 => "ED25519_PH_SHA_512",
    }
);

aws_enum!(
    /// An AWS KMS `MessageType` for Sign and Verify.
    MessageType {
        /// The message itself; the algorithm hashes it.
        Raw => "RAW",
        /// An already-computed digest of the algorithm's hash length.
        Digest => "DIGEST",
        /// ML-DSA's 64-byte message representative μ (FIPS 204, 6.2).
        ExternalMu => "EXTERNAL_MU",
    }
);

aws_enum!(
    /// An AWS KMS `EncryptionAlgorithmSpec`.
    EncryptionAlgorithm {
        /// AES-256-GCM under a symmetric key.
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        /// RSAES-OAEP with SHA-1 and MGF1-SHA-1.
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        /// RSAES-OAEP with SHA-256 and MGF1-SHA-256.
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        /// SM2 public-key encryption: not implemented.
        Sm2Pke => "SM2PKE",
    }
);

aws_enum!(
    /// An AWS KMS `MacAlgorithmSpec`.
    MacAlgorithm {
        /// HMAC-SHA-224.
        HmacSha224 => "HMAC_SHA_224",
        /// HMAC-SHA-256.
        HmacSha256 => "HMAC_SHA_256",
        /// HMAC-SHA-384.
        HmacSha384 => "HMAC_SHA_384",
        /// HMAC-SHA-512.
        HmacSha512 => "HMAC_SHA_512",
    }
);

aws_enum!(
    /// An AWS KMS `KeyAgreementAlgorithmSpec`.
    KeyAgreementAlgorithm {
        /// Elliptic-curve Diffie-Hellman; the result is the raw shared secret.
        Ecdh => "ECDH",
    }
);

aws_enum!(
    /// An AWS KMS `EncapsulationAlgorithmSpec`.
    EncapsulationAlgorithm {
        /// ML-KEM (FIPS 203).
        MlKem => "ML_KEM",
    }
);

impl KeySpec {
    /// Whether the key is a public/private key pair (everything but symmetric and HMAC specs).
    pub const fn is_asymmetric(self) -> bool {
        !matches!(
            self,
            KeySpec::SymmetricDefault
                | KeySpec::Hmac224
                | KeySpec::Hmac256
                | KeySpec::Hmac384
                | KeySpec::Hmac512
        )
    }

    /// Whether Coffer implements this spec (all but SM2).
    pub const fn is_supported(self) -> bool {
        !matches!(self, KeySpec::Sm2)
    }

    /// The RSA modulus size in bits, for RSA specs.
    pub const fn rsa_bits(self) -> Option<usize> {
        match self {
            KeySpec::Rsa2048 => Some(2048),
            KeySpec::Rsa3072 => Some(3072),
            KeySpec::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The key usages AWS KMS accepts for this spec at CreateKey.
    pub fn key_usages(self) -> &'static [KeyUsage] {
        use KeyUsage::*;
        match self {
            KeySpec::SymmetricDefault => &[EncryptDecrypt],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[EncryptDecrypt, SignVerify],
            KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 => {
                &[SignVerify, KeyAgreement]
            }
            KeySpec::EccSecgP256k1
            | KeySpec::EccNistEdwards25519
            | KeySpec::MlDsa44
            | KeySpec::MlDsa65
            | KeySpec::MlDsa87 => &[SignVerify],
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => &[EncapsulateDecapsulate],
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                &[GenerateVerifyMac]
            }
            KeySpec::Sm2 => &[EncryptDecrypt, SignVerify, KeyAgreement],
        }
    }
}

/// The signing algorithms DescribeKey reports for a `SIGN_VERIFY` key of `spec`, in AWS's order
/// (empty for specs that cannot sign). ED25519_PH_SHA_512 and SM2DSA are listed as AWS lists them
/// even though Coffer returns [`super::Unsupported`] for them.
pub fn signing_algorithms(spec: KeySpec) -> &'static [SigningAlgorithm] {
    use SigningAlgorithm::*;
    match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
            RsassaPkcs1V15Sha256,
            RsassaPkcs1V15Sha384,
            RsassaPkcs1V15Sha512,
            RsassaPssSha256,
            RsassaPssSha384,
            RsassaPssSha512,
        ],
        KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &[EcdsaSha256],
        KeySpec::EccNistP384 => &[EcdsaSha384],
        KeySpec::EccNistP521 => &[EcdsaSha512],
        KeySpec::EccNistEdwards25519 => &[Ed25519Sha512, Ed25519PhSha512],
        KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[MlDsaShake256],
        KeySpec::Sm2 => &[Sm2Dsa],
        _ => &[],
    }
}

/// The encryption algorithms DescribeKey reports for an `ENCRYPT_DECRYPT` key of `spec`.
pub fn encryption_algorithms(spec: KeySpec) -> &'static [EncryptionAlgorithm] {
    use EncryptionAlgorithm::*;
    match spec {
        KeySpec::SymmetricDefault => &[SymmetricDefault],
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[RsaesOaepSha1, RsaesOaepSha256],
        KeySpec::Sm2 => &[Sm2Pke],
        _ => &[],
    }
}

/// The MAC algorithms DescribeKey reports for a `GENERATE_VERIFY_MAC` key of `spec`.
pub fn mac_algorithms(spec: KeySpec) -> &'static [MacAlgorithm] {
    match spec {
        KeySpec::Hmac224 => &[MacAlgorithm::HmacSha224],
        KeySpec::Hmac256 => &[MacAlgorithm::HmacSha256],
        KeySpec::Hmac384 => &[MacAlgorithm::HmacSha384],
        KeySpec::Hmac512 => &[MacAlgorithm::HmacSha512],
        _ => &[],
    }
}

/// The key agreement algorithms DescribeKey reports for a `KEY_AGREEMENT` key of `spec`.
pub fn key_agreement_algorithms(spec: KeySpec) -> &'static [KeyAgreementAlgorithm] {
    match spec {
        KeySpec::EccNistP256 | KeySpec::EccNistP384 | KeySpec::EccNistP521 | KeySpec::Sm2 => {
            &[KeyAgreementAlgorithm::Ecdh]
        }
        _ => &[],
    }
}

/// The encapsulation algorithms DescribeKey reports for an `ENCAPSULATE_DECAPSULATE` key.
pub fn encapsulation_algorithms(spec: KeySpec) -> &'static [EncapsulationAlgorithm] {
    match spec {
        KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
            &[EncapsulationAlgorithm::MlKem]
        }
        _ => &[],
    }
}

impl SigningAlgorithm {
    /// The hash length a `DIGEST` message must have, if the algorithm accepts digests.
    pub const fn digest_len(self) -> Option<usize> {
        match self {
            SigningAlgorithm::RsassaPssSha256
            | SigningAlgorithm::RsassaPkcs1V15Sha256
            | SigningAlgorithm::EcdsaSha256
            | SigningAlgorithm::Sm2Dsa => Some(32),
            SigningAlgorithm::RsassaPssSha384
            | SigningAlgorithm::RsassaPkcs1V15Sha384
            | SigningAlgorithm::EcdsaSha384 => Some(48),
            SigningAlgorithm::RsassaPssSha512
            | SigningAlgorithm::RsassaPkcs1V15Sha512
            | SigningAlgorithm::EcdsaSha512
            | SigningAlgorithm::Ed25519PhSha512 => Some(64),
            SigningAlgorithm::MlDsaShake256 | SigningAlgorithm::Ed25519Sha512 => None,
        }
    }

    /// The message types AWS accepts with this algorithm.
    pub const fn message_types(self) -> &'static [MessageType] {
        match self {
            SigningAlgorithm::Ed25519Sha512 => &[MessageType::Raw],
            SigningAlgorithm::Ed25519PhSha512 => &[MessageType::Digest],
            SigningAlgorithm::MlDsaShake256 => &[MessageType::Raw, MessageType::ExternalMu],
            _ => &[MessageType::Raw, MessageType::Digest],
        }
    }
}

impl MacAlgorithm {
    /// The tag length in bytes.
    pub const fn tag_len(self) -> usize {
        match self {
            MacAlgorithm::HmacSha224 => 28,
            MacAlgorithm::HmacSha256 => 32,
            MacAlgorithm::HmacSha384 => 48,
            MacAlgorithm::HmacSha512 => 64,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in KeySpec::ALL {
            assert_eq!(s.as_str().parse::<KeySpec>(), Ok(*s));
        }
        for a in SigningAlgorithm::ALL {
            assert_eq!(a.as_str().parse::<SigningAlgorithm>(), Ok(*a));
        }
        for m in MessageType::ALL {
            assert_eq!(m.to_string().parse::<MessageType>(), Ok(*m));
        }
        assert_eq!("rsa_2048".parse::<KeySpec>(), Err(UnknownName));
        assert_eq!(KeySpec::ALL.len(), 20);
        assert_eq!(SigningAlgorithm::ALL.len(), 13);
    }

    #[test]
    fn lists_match_aws() {
        let names = |v: &[SigningAlgorithm]| v.iter().map(|a| a.as_str()).collect::<Vec<_>>();
        assert_eq!(
            names(signing_algorithms(KeySpec::Rsa3072)),
            [
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512"
            ]
        );
        assert_eq!(
            names(signing_algorithms(KeySpec::EccNistP521)),
            ["ECDSA_SHA_512"]
        );
        assert_eq!(
            encryption_algorithms(KeySpec::Rsa2048),
            [
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256
            ]
        );
        assert_eq!(mac_algorithms(KeySpec::Hmac384), [MacAlgorithm::HmacSha384]);
        assert!(key_agreement_algorithms(KeySpec::EccSecgP256k1).is_empty());
        assert_eq!(
            encapsulation_algorithms(KeySpec::MlKem768),
            [EncapsulationAlgorithm::MlKem]
        );
        for spec in KeySpec::ALL {
            // Every spec has at least one usage, and every usage it has yields algorithms.
            for usage in spec.key_usages() {
                let n = match usage {
                    KeyUsage::EncryptDecrypt => encryption_algorithms(*spec).len(),
                    KeyUsage::SignVerify => signing_algorithms(*spec).len(),
                    KeyUsage::GenerateVerifyMac => mac_algorithms(*spec).len(),
                    KeyUsage::KeyAgreement => key_agreement_algorithms(*spec).len(),
                    KeyUsage::EncapsulateDecapsulate => encapsulation_algorithms(*spec).len(),
                };
                assert!(n > 0, "{spec} {usage}");
            }
        }
    }
}
