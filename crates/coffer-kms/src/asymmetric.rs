//! Operations on asymmetric and HMAC keys: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac,
//! DeriveSharedSecret, RSA Encrypt/Decrypt, and GenerateDataKeyPair under a symmetric key.

use super::ops::{self, KeyOp};
use super::records::KeyRecord;
use super::state::{Family, MaterialKey};
use super::{key_arn, Kms, KmsError};
use crate::common::{dry_run, require_key_id, validate_grant_tokens, Algorithms};
use coffer_core::RequestContext;
use coffer_crypto::asymmetric::{self as a, AsymmetricError, KeyPair, KeySpec};
use coffer_model::kms::*;
use coffer_model::{Blob, ValidationError, Validator};
use zeroize::Zeroizing;

/// AWS's error for each way a primitive refuses a request.
fn crypto_error(e: AsymmetricError, arn: &str, op: &str) -> KmsError {
    use AsymmetricError::*;
    match e {
        Unsupported(u) => {
            KmsError::UnsupportedOperation(format!("Coffer does not support this: {u}."))
        }
        WrongKeySpec { spec, .. } => KmsError::InvalidKeyUsage(format!(
            "{arn} key spec is {spec} which is not valid for {op}."
        )),
        // For an HMAC key AWS names the key spec; for the others, the key.
        AlgorithmNotValid { algorithm, spec } if spec.as_str().starts_with("HMAC_") => {
            KmsError::InvalidKeyUsage(format!(
                "Algorithm {algorithm} is incompatible with key spec {spec}."
            ))
        }
        AlgorithmNotValid { algorithm, .. } => KmsError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec of {arn}."
        )),
        MessageTypeNotValid {
            algorithm,
            message_type,
        } => ValidationError {
            message: format!("MessageType {message_type} is not valid with {algorithm}."),
        }
        .into(),
        DigestLength { algorithm, .. } => ValidationError {
            message: format!("Digest is invalid length for algorithm {algorithm}."),
        }
        .into(),
        PlaintextTooLong {
            spec,
            algorithm,
            max,
            ..
        } => ValidationError {
            message: format!(
                "Algorithm {} and key spec {} cannot encrypt data larger than {max} bytes.",
                algorithm.as_str(),
                spec.as_str()
            ),
        }
        .into(),
        InvalidPublicKey(spec) => ValidationError {
            message: format!(
                "PublicKey is not a valid DER-encoded SubjectPublicKeyInfo for {spec}."
            ),
        }
        .into(),
        InvalidCiphertext => KmsError::InvalidCiphertext(String::new()),
        e @ (InvalidKeyMaterial(_) | Library) => KmsError::Internal(format!("{op}: {e}")),
    }
}

fn parse<T: std::str::FromStr>(v: Option<&str>) -> Result<T, KmsError> {
    v.and_then(|s| s.parse().ok())
        .ok_or_else(|| KmsError::Internal("validated enum value did not parse".into()))
}

impl Kms {
    /// Runs `f` with the current key pair of the key `key_ref` names for `op`.
    fn with_pair<T>(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
        dry: Option<bool>,
        f: impl FnOnce(&KeyRecord, &Family, &KeyPair, &str) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let w = self.world.read();
        let (key, fam) = self.resolve(&w, ctx, op, key_ref)?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        let material = fam
            .current()
            .ok_or_else(|| KmsError::Internal("family without material".into()))?;
        let MaterialKey::Pair(pair) = &material.key else {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{arn} key spec is {} which is not valid for {}.",
                fam.rec.key_spec, op.name
            )));
        };
        dry_run(dry)?;
        let out = f(key, fam, pair, &arn)?;
        self.note_use(key, op);
        Ok(out)
    }

    fn validate_sign(req: &SignRequest, verify: bool) -> Result<(), KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("Message", &req.message);
        v.blob_length("Message", req.message.as_ref().map(Blob::as_slice), 1, 4096);
        v.one_of("MessageType", req.message_type.as_deref(), MESSAGE_TYPES);
        if verify {
            v.required("Signature", &req.signature);
            v.blob_length(
                "Signature",
                req.signature.as_ref().map(Blob::as_slice),
                1,
                6144,
            );
        }
        v.required("SigningAlgorithm", &req.signing_algorithm);
        v.one_of(
            "SigningAlgorithm",
            req.signing_algorithm.as_deref(),
            SIGNING_ALGORITHMS,
        );
        validate_grant_tokens(&mut v, &req.grant_tokens);
        Ok(v.finish()?)
    }

    /// `Sign`.
    pub fn sign(&self, ctx: &RequestContext, req: SignRequest) -> Result<SignResponse, KmsError> {
        Self::validate_sign(&req, false)?;
        let alg: a::SigningAlgorithm = parse(req.signing_algorithm.as_deref())?;
        let mt: a::MessageType = parse(Some(req.message_type.as_deref().unwrap_or("RAW")))?;
        let message = req.message.unwrap_or_default();
        let key_ref = req.key_id.unwrap_or_default();
        self.with_pair(
            ctx,
            ops::KmsAction::Sign.info(),
            &key_ref,
            req.dry_run,
            |_, _, pair, arn| {
                let signature = a::sign(pair, alg, message.as_slice(), mt)
                    .map_err(|e| crypto_error(e, arn, coffer_model::ops::KmsOp::Sign.name()))?;
                Ok(SignResponse {
                    key_id: arn.to_string(),
                    signature: Blob::new(signature),
                    signing_algorithm: alg.as_str().into(),
                })
            },
        )
    }

    /// `Verify`: an invalid signature is `KMSInvalidSignatureException`.
    pub fn verify(
        &self,
        ctx: &RequestContext,
        req: SignRequest,
    ) -> Result<VerifyResponse, KmsError> {
        Self::validate_sign(&req, true)?;
        let alg: a::SigningAlgorithm = parse(req.signing_algorithm.as_deref())?;
        let mt: a::MessageType = parse(Some(req.message_type.as_deref().unwrap_or("RAW")))?;
        let message = req.message.unwrap_or_default();
        let signature = req.signature.unwrap_or_default();
        let key_ref = req.key_id.unwrap_or_default();
        self.with_pair(
            ctx,
            ops::KmsAction::Verify.info(),
            &key_ref,
            req.dry_run,
            |_, _, pair, arn| {
                let ok = a::verify(
                    pair.public_key(),
                    alg,
                    message.as_slice(),
                    mt,
                    signature.as_slice(),
                )
                .map_err(|e| crypto_error(e, arn, "Verify"))?;
                if !ok {
                    return Err(KmsError::InvalidSignature(String::new()));
                }
                Ok(VerifyResponse {
                    key_id: arn.to_string(),
                    signature_valid: true,
                    signing_algorithm: alg.as_str().into(),
                })
            },
        )
    }

    /// `GetPublicKey`.
    pub fn get_public_key(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<GetPublicKeyResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        let key_ref = req.key_id.unwrap_or_default();
        let w = self.world.read();
        let (key, fam) = self.resolve(&w, ctx, ops::KmsAction::GetPublicKey.info(), &key_ref)?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        let Some(MaterialKey::Pair(pair)) = fam.current().map(|m| &m.key) else {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is not an asymmetric KMS key; it has no public key."
            )));
        };
        let algs = Algorithms::of(&fam.rec);
        Ok(GetPublicKeyResponse {
            key_id: arn,
            public_key: Blob::new(pair.public_key_der().to_vec()),
            customer_master_key_spec: fam.rec.key_spec.clone(),
            key_spec: fam.rec.key_spec.clone(),
            key_usage: fam.rec.key_usage.clone(),
            encryption_algorithms: algs.encryption,
            signing_algorithms: algs.signing,
            key_agreement_algorithms: algs.key_agreement,
            encapsulation_algorithms: algs.encapsulation,
        })
    }

    fn validate_mac(req: &MacRequest, verify: bool) -> Result<(), KmsError> {
        let mut v = Validator::new();
        v.required("Message", &req.message);
        v.blob_length("Message", req.message.as_ref().map(Blob::as_slice), 1, 4096);
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("MacAlgorithm", &req.mac_algorithm);
        v.one_of("MacAlgorithm", req.mac_algorithm.as_deref(), MAC_ALGORITHMS);
        if verify {
            v.required("Mac", &req.mac);
            v.blob_length("Mac", req.mac.as_ref().map(Blob::as_slice), 1, 6144);
        }
        validate_grant_tokens(&mut v, &req.grant_tokens);
        Ok(v.finish()?)
    }

    fn with_hmac<T>(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        req: &MacRequest,
        f: impl FnOnce(&a::HmacKey, a::MacAlgorithm, &str) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let alg: a::MacAlgorithm = parse(req.mac_algorithm.as_deref())?;
        let w = self.world.read();
        let (key, fam) = self.resolve(&w, ctx, op, req.key_id.as_deref().unwrap_or_default())?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        let Some(MaterialKey::Hmac(hmac)) = fam.current().map(|m| &m.key) else {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{arn} is not an HMAC key."
            )));
        };
        dry_run(req.dry_run)?;
        let out = f(hmac, alg, &arn)?;
        self.note_use(key, op);
        Ok(out)
    }

    /// `GenerateMac`.
    pub fn generate_mac(
        &self,
        ctx: &RequestContext,
        req: MacRequest,
    ) -> Result<GenerateMacResponse, KmsError> {
        Self::validate_mac(&req, false)?;
        self.with_hmac(
            ctx,
            ops::KmsAction::GenerateMac.info(),
            &req,
            |hmac, alg, arn| {
                let message = req.message.as_ref().map(Blob::as_slice).unwrap_or_default();
                let mac = hmac
                    .generate_mac(alg, message)
                    .map_err(|e| crypto_error(e, arn, "GenerateMac"))?;
                Ok(GenerateMacResponse {
                    mac: Blob::new(mac),
                    mac_algorithm: alg.as_str().into(),
                    key_id: arn.to_string(),
                })
            },
        )
    }

    /// `VerifyMac`: a MAC that does not match is `KMSInvalidMacException`.
    pub fn verify_mac(
        &self,
        ctx: &RequestContext,
        req: MacRequest,
    ) -> Result<VerifyMacResponse, KmsError> {
        Self::validate_mac(&req, true)?;
        self.with_hmac(
            ctx,
            ops::KmsAction::VerifyMac.info(),
            &req,
            |hmac, alg, arn| {
                let message = req.message.as_ref().map(Blob::as_slice).unwrap_or_default();
                let mac = req.mac.as_ref().map(Blob::as_slice).unwrap_or_default();
                if !hmac
                    .verify_mac(alg, message, mac)
                    .map_err(|e| crypto_error(e, arn, "VerifyMac"))?
                {
                    return Err(KmsError::InvalidMac(String::new()));
                }
                Ok(VerifyMacResponse {
                    key_id: arn.to_string(),
                    mac_valid: true,
                    mac_algorithm: alg.as_str().into(),
                })
            },
        )
    }

    /// `DeriveSharedSecret` (ECDH).
    pub fn derive_shared_secret(
        &self,
        ctx: &RequestContext,
        req: DeriveSharedSecretRequest,
    ) -> Result<DeriveSharedSecretResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("KeyAgreementAlgorithm", &req.key_agreement_algorithm);
        v.one_of(
            "KeyAgreementAlgorithm",
            req.key_agreement_algorithm.as_deref(),
            &["ECDH"],
        );
        v.required("PublicKey", &req.public_key);
        v.blob_length(
            "PublicKey",
            req.public_key.as_ref().map(Blob::as_slice),
            1,
            8192,
        );
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        if req.recipient.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support attested Recipient requests.".into(),
            ));
        }
        let peer = req.public_key.unwrap_or_default();
        let key_ref = req.key_id.unwrap_or_default();
        self.with_pair(
            ctx,
            ops::KmsAction::DeriveSharedSecret.info(),
            &key_ref,
            req.dry_run,
            |_, fam, pair, arn| {
                let secret =
                    a::derive_shared_secret(pair, a::KeyAgreementAlgorithm::Ecdh, peer.as_slice())
                        .map_err(|e| match e {
                            // AWS: ValidationException with an empty message.
                            AsymmetricError::InvalidPublicKey(_) => {
                                KmsError::from(ValidationError {
                                    message: String::new(),
                                })
                            }
                            e => crypto_error(e, arn, "DeriveSharedSecret"),
                        })?;
                Ok(DeriveSharedSecretResponse {
                    key_id: arn.to_string(),
                    shared_secret: Blob::from(secret),
                    key_agreement_algorithm: "ECDH".into(),
                    key_origin: fam.rec.origin.clone(),
                })
            },
        )
    }

    /// RSA `Encrypt`: the raw RSAES-OAEP output, decryptable offline with the private key.
    pub(crate) fn encrypt_rsa(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
        algorithm: &str,
        plaintext: &[u8],
        dry: Option<bool>,
    ) -> Result<EncryptResponse, KmsError> {
        let alg: a::EncryptionAlgorithm = parse(Some(algorithm))?;
        self.with_pair(ctx, op, key_ref, dry, |_, _, pair, arn| {
            let ct = a::encrypt(pair.public_key(), alg, plaintext)
                .map_err(|e| crypto_error(e, arn, op.name))?;
            Ok(EncryptResponse {
                ciphertext_blob: Blob::new(ct),
                key_id: arn.to_string(),
                encryption_algorithm: alg.as_str().into(),
            })
        })
    }

    /// RSA `Decrypt` (and ReEncrypt's source side): needs the key named, since the ciphertext
    /// does not name it. (plaintext, key ARN).
    pub(crate) fn decrypt_rsa(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: Option<&str>,
        algorithm: &str,
        ciphertext: &[u8],
        dry: Option<bool>,
    ) -> Result<(Zeroizing<Vec<u8>>, String), KmsError> {
        let key_ref = key_ref.ok_or_else(|| {
            KmsError::from(ValidationError {
                message:
                    "KeyId is required when decrypting with an asymmetric encryption algorithm."
                        .into(),
            })
        })?;
        let alg: a::EncryptionAlgorithm = parse(Some(algorithm))?;
        self.with_pair(ctx, op, key_ref, dry, |_, _, pair, arn| {
            let plain =
                a::decrypt(pair, alg, ciphertext).map_err(|e| crypto_error(e, arn, op.name))?;
            Ok((plain, arn.to_string()))
        })
    }

    fn generate_data_key_pair_common(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        req: GenerateDataKeyPairRequest,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyPairResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("KeyPairSpec", &req.key_pair_spec);
        v.one_of(
            "KeyPairSpec",
            req.key_pair_spec.as_deref(),
            DATA_KEY_PAIR_SPECS,
        );
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        if req.recipient.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support attested Recipient requests.".into(),
            ));
        }
        let spec: KeySpec = parse(req.key_pair_spec.as_deref())?;
        if spec == KeySpec::Sm2 {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support the SM2 key pair spec.".into(),
            ));
        }
        let pair = KeyPair::generate(spec)
            .map_err(|e| KmsError::Internal(format!("key pair generation: {e}")))?;
        let private = pair.to_pkcs8();
        let (blob, arn, material) = self.seal(
            ctx,
            op,
            req.key_id.as_deref().unwrap_or_default(),
            &req.encryption_context.unwrap_or_default(),
            &private,
            req.dry_run,
        )?;
        Ok(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: Blob::new(blob),
            private_key_plaintext: with_plaintext.then(|| Blob::from(private)),
            public_key: Blob::new(pair.public_key_der().to_vec()),
            key_id: arn,
            key_pair_spec: spec.as_str().into(),
            key_material_id: material,
        })
    }

    /// `GenerateDataKeyPair`.
    pub fn generate_data_key_pair(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse, KmsError> {
        self.generate_data_key_pair_common(
            ctx,
            ops::KmsAction::GenerateDataKeyPair.info(),
            req,
            true,
        )
    }

    /// `GenerateDataKeyPairWithoutPlaintext`.
    pub fn generate_data_key_pair_without_plaintext(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse, KmsError> {
        self.generate_data_key_pair_common(
            ctx,
            ops::KmsAction::GenerateDataKeyPairWithoutPlaintext.info(),
            req,
            false,
        )
    }

    fn validate_kem(req: &EncapsulateRequest, decapsulate: bool) -> Result<(), KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("EncapsulationAlgorithm", &req.encapsulation_algorithm);
        v.one_of(
            "EncapsulationAlgorithm",
            req.encapsulation_algorithm.as_deref(),
            &["ML_KEM"],
        );
        if decapsulate {
            v.required(
                "SharedSecretCiphertextBlob",
                &req.shared_secret_ciphertext_blob,
            );
            v.blob_length(
                "SharedSecretCiphertextBlob",
                req.shared_secret_ciphertext_blob
                    .as_ref()
                    .map(Blob::as_slice),
                1,
                6144,
            );
        }
        validate_grant_tokens(&mut v, &req.grant_tokens);
        Ok(v.finish()?)
    }

    /// `Encapsulate` (ML-KEM): a fresh shared secret and its encapsulation under the key.
    pub fn encapsulate(
        &self,
        ctx: &RequestContext,
        req: EncapsulateRequest,
    ) -> Result<EncapsulateResponse, KmsError> {
        Self::validate_kem(&req, false)?;
        let key_ref = req.key_id.unwrap_or_default();
        self.with_pair(
            ctx,
            ops::KmsAction::Encapsulate.info(),
            &key_ref,
            req.dry_run,
            |_, _, pair, arn| {
                let out = a::encapsulate(pair.public_key())
                    .map_err(|e| crypto_error(e, arn, "Encapsulate"))?;
                Ok(EncapsulateResponse {
                    key_id: arn.to_string(),
                    shared_secret: Blob::from(out.shared_secret),
                    shared_secret_ciphertext_blob: Some(Blob::new(out.ciphertext)),
                    encapsulation_algorithm: "ML_KEM".into(),
                })
            },
        )
    }

    /// `Decapsulate` (ML-KEM with implicit rejection: a wrong but well-sized ciphertext yields a
    /// pseudo-random secret, as FIPS 203 and AWS specify).
    pub fn decapsulate(
        &self,
        ctx: &RequestContext,
        req: EncapsulateRequest,
    ) -> Result<EncapsulateResponse, KmsError> {
        Self::validate_kem(&req, true)?;
        let key_ref = req.key_id.unwrap_or_default();
        let blob = req.shared_secret_ciphertext_blob.unwrap_or_default();
        self.with_pair(
            ctx,
            ops::KmsAction::Decapsulate.info(),
            &key_ref,
            req.dry_run,
            |_, _, pair, arn| {
                let secret = a::decapsulate(pair, blob.as_slice()).map_err(|e| {
                    crypto_error(e, arn, coffer_model::ops::KmsOp::Decapsulate.name())
                })?;
                Ok(EncapsulateResponse {
                    key_id: arn.to_string(),
                    shared_secret: Blob::from(secret),
                    shared_secret_ciphertext_blob: None,
                    encapsulation_algorithm: "ML_KEM".into(),
                })
            },
        )
    }
}
