//! The primitives behind every AWS KMS key spec other than `SYMMETRIC_DEFAULT` (see
//! [`crate::aead`]): RSA, ECC (NIST curves, secp256k1, Ed25519), ML-DSA, ML-KEM key pairs and HMAC
//! keys, all through aws-lc-rs. Nothing here knows about requests, key usage or key state: the
//! caller checks that a key's usage permits the operation; this module checks that the algorithm
//! and message fit the key spec, the way AWS validates them.
//!
//! * [`KeyPair`]: generate / load PKCS#8, [`KeyPair::public_key`] as AWS GetPublicKey returns it.
//! * [`sign`] / [`verify`]: every `SigningAlgorithmSpec`, `RAW` and `DIGEST` messages.
//! * [`encrypt`] / [`decrypt`]: RSAES-OAEP with AWS's plaintext limits ([`max_plaintext_len`]).
//! * [`derive_shared_secret`]: ECDH on the NIST curves.
//! * [`encapsulate`] / [`decapsulate`]: ML-KEM.
//! * [`HmacKey`]: GenerateMac / VerifyMac.

mod der;
mod ecdh;
mod hmac;
mod keys;
mod mlkem;
mod rsa_oaep;
mod sign;
mod spec;

pub use ecdh::derive_shared_secret;
pub use hmac::HmacKey;
pub use keys::{KeyPair, PublicKey};
pub use mlkem::{decapsulate, encapsulate, Encapsulated};
pub use rsa_oaep::{decrypt, encrypt, max_plaintext_len};
pub use sign::{sign, verify, MAX_MESSAGE_LEN};
pub use spec::{
    encapsulation_algorithms, encryption_algorithms, key_agreement_algorithms, mac_algorithms,
    signing_algorithms, EncapsulationAlgorithm, EncryptionAlgorithm, KeyAgreementAlgorithm,
    KeySpec, KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm, UnknownName,
};

/// A feature AWS KMS has that Coffer does not implement, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// The SM2 key spec and its algorithms (SM2DSA, SM2PKE, SM2 ECDH): China Regions only, and
    /// aws-lc-rs has no SM2.
    Sm2,
    /// ED25519_PH_SHA_512 (HashEdDSA): aws-lc-rs exposes no Ed25519ph API.
    Ed25519Prehash,
    /// ML-DSA with `EXTERNAL_MU` messages: aws-lc-rs exposes no signing or verification of μ.
    MlDsaExternalMu,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unsupported::Sm2 => "SM2 keys are not supported",
            Unsupported::Ed25519Prehash => "ED25519_PH_SHA_512 is not supported",
            Unsupported::MlDsaExternalMu => "EXTERNAL_MU messages are not supported",
        })
    }
}

/// Why an operation on a key pair or HMAC key failed. Messages carry names and sizes only, never
/// key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsymmetricError {
    /// AWS has the feature; Coffer does not implement it.
    #[error("{0}")]
    Unsupported(Unsupported),
    /// The key spec cannot perform this kind of operation at all (e.g. encrypting with an ECC key).
    #[error("a {spec} key cannot {operation}")]
    WrongKeySpec {
        /// The key's spec.
        spec: KeySpec,
        /// What was attempted.
        operation: &'static str,
    },
    /// The algorithm is not one the key spec supports (e.g. ECDSA_SHA_384 with ECC_NIST_P256).
    #[error("algorithm {algorithm} is not valid for a {spec} key")]
    AlgorithmNotValid {
        /// The key's spec.
        spec: KeySpec,
        /// The algorithm's AWS name.
        algorithm: &'static str,
    },
    /// The message type is not accepted with this signing algorithm.
    #[error("message type {message_type} is not valid with {algorithm}")]
    MessageTypeNotValid {
        /// The signing algorithm.
        algorithm: SigningAlgorithm,
        /// The message type given.
        message_type: MessageType,
    },
    /// A `DIGEST` (or `EXTERNAL_MU`) message whose length is not the algorithm's hash length.
    #[error("{algorithm} needs a {expected}-byte digest, got {actual} bytes")]
    DigestLength {
        /// The signing algorithm.
        algorithm: SigningAlgorithm,
        /// The required length.
        expected: usize,
        /// The given length.
        actual: usize,
    },
    /// The plaintext is longer than the key and algorithm can encrypt.
    #[error("plaintext of {actual} bytes exceeds the {max}-byte limit of {algorithm} with {spec}")]
    PlaintextTooLong {
        /// The key spec.
        spec: KeySpec,
        /// The encryption algorithm.
        algorithm: EncryptionAlgorithm,
        /// The limit for this key spec and algorithm.
        max: usize,
        /// The given length.
        actual: usize,
    },
    /// The private key or HMAC key material is malformed or does not match the key spec.
    #[error("key material is not a valid {0} key")]
    InvalidKeyMaterial(KeySpec),
    /// The public key is not a DER SubjectPublicKeyInfo of the expected spec.
    #[error("public key is not a valid DER SubjectPublicKeyInfo for {0}")]
    InvalidPublicKey(KeySpec),
    /// The ciphertext could not be decrypted (or has the wrong size).
    #[error("the ciphertext could not be decrypted")]
    InvalidCiphertext,
    /// The underlying library failed (e.g. the random source).
    #[error("cryptographic library failure")]
    Library,
}

impl From<Unsupported> for AsymmetricError {
    fn from(u: Unsupported) -> Self {
        AsymmetricError::Unsupported(u)
    }
}
