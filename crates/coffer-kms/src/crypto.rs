//! Symmetric cryptography: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext) and
//! GenerateRandom, over the ciphertext blob of ADR 0001.

use crate::common::*;
use crate::ops::{self, KeyOp};
use crate::state::MaterialKey;
use crate::{key_arn, Kms, KmsError};
use coffer_core::RequestContext;
use coffer_crypto::ciphertext::{self, EncryptionContext};
use coffer_model::kms::*;
use coffer_model::{Blob, ValidationError, Validator};
use zeroize::Zeroizing;

impl Kms {
    /// Seals `plaintext` under the current material of the key `key_ref` names:
    /// (blob, key ARN, material ID).
    pub(crate) fn seal(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
        enc_ctx: &EncryptionContext,
        plaintext: &[u8],
        dry: Option<bool>,
    ) -> Result<(Vec<u8>, String, String), KmsError> {
        let w = self.world.read();
        let (key, fam) = self.resolve(&w, ctx, op, key_ref)?;
        dry_run(dry)?;
        let material = fam
            .current()
            .ok_or_else(|| KmsError::Internal("family without material".into()))?;
        let MaterialKey::Symmetric(aes) = &material.key else {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} key spec is {} which is not valid for {}.",
                key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
                fam.rec.key_spec,
                op.name
            )));
        };
        let blob = ciphertext::seal(aes, &key.key_id, &material.id, enc_ctx, plaintext)?;
        self.note_use(key, op);
        Ok((
            blob,
            key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
            coffer_crypto::digest::hex_lower(&material.id),
        ))
    }

    /// Opens a blob with the caller's Region's key of the ID it names: (plaintext, key ARN, material ID).
    pub(crate) fn open(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        blob: &[u8],
        key_ref: Option<&str>,
        enc_ctx: &EncryptionContext,
        dry: Option<bool>,
    ) -> Result<(Zeroizing<Vec<u8>>, String, String), KmsError> {
        let parsed =
            ciphertext::parse(blob).map_err(|_| KmsError::InvalidCiphertext(String::new()))?;
        // A blob whose header names no possible key ID is garbage, not a reference to a key.
        if !key_id_shaped(&parsed.header.key_id) {
            return Err(KmsError::InvalidCiphertext(String::new()));
        }
        let w = self.world.read();
        // KeyId, when given, must name the key the blob names; without it the blob's key ID
        // names a key of the caller's account or, across accounts, of the one that holds it.
        let (key, fam) = match key_ref {
            Some(r) => {
                let (named, fam) = self.resolve(&w, ctx, op, r)?;
                if named.key_id != parsed.header.key_id {
                    return Err(KmsError::IncorrectKey(
                        "The key ID in the request does not identify a CMK that can perform this operation.".into(),
                    ));
                }
                (named, fam)
            }
            None => self.resolve_blob_key(&w, ctx, op, &parsed.header.key_id)?,
        };
        let Some(material) = fam.material(&parsed.header.material_id) else {
            // Imported material deleted while it was not current: the key waits for it.
            let id = coffer_crypto::digest::hex_lower(&parsed.header.material_id);
            if fam.rec.associated_imported_ids().any(|a| a == id) {
                return Err(KmsError::InvalidState(format!(
                    "{} key material {id} is pending import.",
                    key_arn(ctx.partition(), &key.region, &key.account, &key.key_id)
                )));
            }
            return Err(KmsError::InvalidCiphertext(String::new()));
        };
        // Non-current imported material past its ValidTo is expired even before `run_due`
        // deletes it (as the current material is, through the key's effective state).
        if !key.imported_other.is_empty() {
            let id = coffer_crypto::digest::hex_lower(&material.id);
            let now = self.clock.now();
            if key
                .imported_other
                .iter()
                .any(|m| m.material_id == id && m.valid_to.is_some_and(|t| t <= now))
            {
                return Err(KmsError::InvalidState(format!(
                    "{} key material {id} is pending import.",
                    key_arn(ctx.partition(), &key.region, &key.account, &key.key_id)
                )));
            }
        }
        let MaterialKey::Symmetric(aes) = &material.key else {
            return Err(KmsError::InvalidCiphertext(String::new()));
        };
        let plain = parsed
            .open(aes, enc_ctx)
            .map_err(|_| KmsError::InvalidCiphertext(String::new()))?;
        dry_run(dry)?;
        self.note_use(key, op);
        Ok((
            plain,
            key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
            coffer_crypto::digest::hex_lower(&material.id),
        ))
    }

    pub(crate) fn check_algorithm(v: &mut Validator, member: &str, alg: Option<&str>) {
        v.one_of(member, alg, ENCRYPTION_ALGORITHMS);
    }

    pub(crate) fn symmetric_only(alg: Option<&str>) -> Result<(), KmsError> {
        match alg {
            None | Some("SYMMETRIC_DEFAULT") => Ok(()),
            Some(a) => Err(KmsError::InvalidKeyUsage(format!(
                "{a} is not a valid encryption algorithm for a SYMMETRIC_DEFAULT key."
            ))),
        }
    }

    /// `Encrypt`.
    pub fn encrypt(
        &self,
        ctx: &RequestContext,
        req: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("Plaintext", &req.plaintext);
        v.blob_length(
            "Plaintext",
            req.plaintext.as_ref().map(Blob::as_slice),
            1,
            4096,
        );
        validate_grant_tokens(&mut v, &req.grant_tokens);
        Self::check_algorithm(
            &mut v,
            "EncryptionAlgorithm",
            req.encryption_algorithm.as_deref(),
        );
        v.finish()?;
        let plaintext = req.plaintext.unwrap_or_default();
        if let Some(alg @ ("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256")) =
            req.encryption_algorithm.as_deref()
        {
            return self.encrypt_rsa(
                ctx,
                ops::KmsAction::Encrypt.info(),
                req.key_id.as_deref().unwrap_or_default(),
                alg,
                plaintext.as_slice(),
                req.dry_run,
            );
        }
        Self::symmetric_only(req.encryption_algorithm.as_deref())?;
        let enc_ctx = req.encryption_context.unwrap_or_default();
        let (blob, arn, _) = self.seal(
            ctx,
            ops::KmsAction::Encrypt.info(),
            req.key_id.as_deref().unwrap_or_default(),
            &enc_ctx,
            plaintext.as_slice(),
            req.dry_run,
        )?;
        Ok(EncryptResponse {
            ciphertext_blob: Blob::new(blob),
            key_id: arn,
            encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
        })
    }

    /// `Decrypt`.
    pub fn decrypt(
        &self,
        ctx: &RequestContext,
        req: DecryptRequest,
    ) -> Result<DecryptResponse, KmsError> {
        let mut v = Validator::new();
        v.required("CiphertextBlob", &req.ciphertext_blob);
        v.blob_length(
            "CiphertextBlob",
            req.ciphertext_blob.as_ref().map(Blob::as_slice),
            1,
            6144,
        );
        v.length("KeyId", req.key_id.as_deref(), KEY_ID.0, KEY_ID.1);
        validate_grant_tokens(&mut v, &req.grant_tokens);
        Self::check_algorithm(
            &mut v,
            "EncryptionAlgorithm",
            req.encryption_algorithm.as_deref(),
        );
        v.finish()?;
        if req.recipient.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support attested Recipient requests.".into(),
            ));
        }
        let blob = req.ciphertext_blob.unwrap_or_default();
        if let Some(alg @ ("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256")) =
            req.encryption_algorithm.as_deref()
        {
            let (plain, arn) = self.decrypt_rsa(
                ctx,
                ops::KmsAction::Decrypt.info(),
                req.key_id.as_deref(),
                alg,
                blob.as_slice(),
                req.dry_run,
            )?;
            return Ok(DecryptResponse {
                key_id: arn,
                plaintext: Blob::from(plain),
                encryption_algorithm: alg.into(),
                key_material_id: None,
            });
        }
        Self::symmetric_only(req.encryption_algorithm.as_deref())?;
        let (plain, arn, material) = self.open(
            ctx,
            ops::KmsAction::Decrypt.info(),
            blob.as_slice(),
            req.key_id.as_deref(),
            &req.encryption_context.unwrap_or_default(),
            req.dry_run,
        )?;
        Ok(DecryptResponse {
            key_id: arn,
            plaintext: Blob::from(plain),
            encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
            key_material_id: Some(material),
        })
    }

    /// `ReEncrypt`.
    pub fn re_encrypt(
        &self,
        ctx: &RequestContext,
        req: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        let mut v = Validator::new();
        v.required("CiphertextBlob", &req.ciphertext_blob);
        v.blob_length(
            "CiphertextBlob",
            req.ciphertext_blob.as_ref().map(Blob::as_slice),
            1,
            6144,
        );
        v.length(
            "SourceKeyId",
            req.source_key_id.as_deref(),
            KEY_ID.0,
            KEY_ID.1,
        );
        require_key_id(&mut v, "DestinationKeyId", &req.destination_key_id);
        Self::check_algorithm(
            &mut v,
            "SourceEncryptionAlgorithm",
            req.source_encryption_algorithm.as_deref(),
        );
        Self::check_algorithm(
            &mut v,
            "DestinationEncryptionAlgorithm",
            req.destination_encryption_algorithm.as_deref(),
        );
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        let blob = req.ciphertext_blob.unwrap_or_default();
        // Either side may be an RSA key (RSAES-OAEP), the other symmetric, as in AWS.
        let source_alg = req.source_encryption_algorithm.as_deref();
        let (plain, source_arn, source_material) = match rsa_algorithm(source_alg) {
            Some(alg) => {
                let (plain, arn) = self.decrypt_rsa(
                    ctx,
                    ops::KmsAction::ReEncryptFrom.info(),
                    req.source_key_id.as_deref(),
                    alg,
                    blob.as_slice(),
                    None,
                )?;
                (plain, arn, None)
            }
            None => {
                Self::symmetric_only(source_alg)?;
                let (plain, arn, material) = self.open(
                    ctx,
                    ops::KmsAction::ReEncryptFrom.info(),
                    blob.as_slice(),
                    req.source_key_id.as_deref(),
                    &req.source_encryption_context.unwrap_or_default(),
                    None,
                )?;
                (plain, arn, Some(material))
            }
        };
        let dest_alg = req.destination_encryption_algorithm.as_deref();
        let destination = req.destination_key_id.as_deref().unwrap_or_default();
        let (new_blob, arn, material) = match rsa_algorithm(dest_alg) {
            Some(alg) => {
                let out = self.encrypt_rsa(
                    ctx,
                    ops::KmsAction::ReEncryptTo.info(),
                    destination,
                    alg,
                    &plain,
                    req.dry_run,
                )?;
                (out.ciphertext_blob.as_slice().to_vec(), out.key_id, None)
            }
            None => {
                Self::symmetric_only(dest_alg)?;
                let (blob, arn, material) = self.seal(
                    ctx,
                    ops::KmsAction::ReEncryptTo.info(),
                    destination,
                    &req.destination_encryption_context.unwrap_or_default(),
                    &plain,
                    req.dry_run,
                )?;
                (blob, arn, Some(material))
            }
        };
        Ok(ReEncryptResponse {
            ciphertext_blob: Blob::new(new_blob),
            source_key_id: source_arn,
            key_id: arn,
            source_encryption_algorithm: source_alg.unwrap_or("SYMMETRIC_DEFAULT").into(),
            destination_encryption_algorithm: dest_alg.unwrap_or("SYMMETRIC_DEFAULT").into(),
            source_key_material_id: source_material,
            destination_key_material_id: material,
        })
    }

    pub(crate) fn data_key_len(
        number_of_bytes: Option<i64>,
        key_spec: Option<&str>,
    ) -> Result<usize, KmsError> {
        match (number_of_bytes, key_spec) {
            (Some(n), None) => Ok(usize::try_from(n).unwrap_or(0)),
            (None, Some("AES_256")) => Ok(32),
            (None, Some("AES_128")) => Ok(16),
            _ => Err(ValidationError {
                message: "Please specify either number of bytes or key spec.".into(),
            }
            .into()),
        }
    }

    pub(crate) fn generate_data_key_common(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        req: GenerateDataKeyRequest,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.range("NumberOfBytes", req.number_of_bytes, 1, 1024);
        v.one_of("KeySpec", req.key_spec.as_deref(), DATA_KEY_SPECS);
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        let len = Self::data_key_len(req.number_of_bytes, req.key_spec.as_deref())?;
        if req.recipient.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support attested Recipient requests.".into(),
            ));
        }
        let data_key = coffer_crypto::random::bytes(len)?;
        let (blob, arn, material) = self.seal(
            ctx,
            op,
            req.key_id.as_deref().unwrap_or_default(),
            &req.encryption_context.unwrap_or_default(),
            &data_key,
            req.dry_run,
        )?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Blob::new(blob),
            plaintext: with_plaintext.then(|| Blob::from(data_key)),
            key_id: arn,
            key_material_id: material,
        })
    }

    /// `GenerateDataKey`.
    pub fn generate_data_key(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.generate_data_key_common(ctx, ops::KmsAction::GenerateDataKey.info(), req, true)
    }

    /// `GenerateDataKeyWithoutPlaintext`.
    pub fn generate_data_key_without_plaintext(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.generate_data_key_common(
            ctx,
            ops::KmsAction::GenerateDataKeyWithoutPlaintext.info(),
            req,
            false,
        )
    }

    /// `GenerateRandom`.
    pub fn generate_random(
        &self,
        _ctx: &RequestContext,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        if req.number_of_bytes.is_none() {
            // AWS's own wording here, not the generic "must not be null".
            return Err(KmsError::Validation(ValidationError {
                message: "NumberOfBytes is required.".into(),
            }));
        }
        let mut v = Validator::new();
        v.range("NumberOfBytes", req.number_of_bytes, 1, 1024);
        v.length(
            "CustomKeyStoreId",
            req.custom_key_store_id.as_deref(),
            1,
            64,
        );
        v.finish()?;
        Self::check_no_custom_key_store(req.custom_key_store_id.as_deref())?;
        if req.recipient.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support attested Recipient requests.".into(),
            ));
        }
        let n = req.number_of_bytes.ok_or_else(|| {
            KmsError::from(ValidationError {
                message: "Please specify number of bytes.".into(),
            })
        })?;
        let bytes = coffer_crypto::random::bytes(usize::try_from(n).unwrap_or(0))?;
        Ok(GenerateRandomResponse {
            plaintext: Blob::from(bytes),
        })
    }
}

/// The RSAES-OAEP algorithm an EncryptionAlgorithm member names, if it names one.
fn rsa_algorithm(alg: Option<&str>) -> Option<&str> {
    alg.filter(|a| matches!(*a, "RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256"))
}
