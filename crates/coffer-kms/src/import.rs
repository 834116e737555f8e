//! Imported key material (keys with origin `EXTERNAL`): `GetParametersForImport`,
//! `ImportKeyMaterial`, `DeleteImportedKeyMaterial`, and expiry. See
//! `docs/adr/0007-imported-key-material.md`.
//!
//! * Each `GetParametersForImport` generates an RSA wrapping key pair; its private half is stored
//!   wrapped under the root key (table `kms_import`) until the token expires 24 hours later, so a
//!   restart between the two calls does not lose it.
//! * The import token is `"CIT1" || token_id (16) || valid_to_ms (8, big-endian) || tag (32)`,
//!   the tag a root-key fingerprint of the account, Region, key ID, token ID and expiry: a token
//!   is bound to its key and wrapping key, and cannot be forged or re-dated.
//! * A family's imported material ID is a root-key fingerprint of the key ID and the material, so
//!   the same bytes imported into any Region of a multi-Region key get the same ID, and different
//!   bytes are recognised (`IncorrectKeyMaterialException`) even after the material was deleted.

use super::ops;
use super::records::*;
use super::state::{Family, MaterialKey, World};
use super::{key_arn, Kms, KmsError};
use crate::common::require_key_id;
use base64::Engine;
use coffer_core::RequestContext;
use coffer_crypto::asymmetric::{HmacKey, KeyPair, KeySpec};
use coffer_crypto::import::{self as wrap, WrappingAlgorithm};
use coffer_model::kms::*;
use coffer_model::{Blob, Timestamp, ValidationError, Validator};
use coffer_store::Transaction;
use zeroize::Zeroizing;

const TOKEN_MAGIC: &[u8; 4] = b"CIT1";
const TOKEN_LEN: usize = 4 + 16 + 8 + 32;
/// Import parameters are valid for 24 hours, as AWS's are.
const TOKEN_VALIDITY_MS: i64 = 24 * 3_600_000;
/// The latest `ValidTo` AWS accepts: 365 days from the request.
const MAX_VALID_TO_DAYS: i64 = 365;

pub(crate) fn wrapping_key_aad(
    account: &str,
    region: &str,
    key_id: &str,
    token_id: &str,
) -> Vec<u8> {
    format!("coffer/kms/import-wrapping-key/v1/{account}/{region}/{key_id}/{token_id}").into_bytes()
}

fn hex_ok(s: &str) -> bool {
    s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

fn description_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || ":/_.-".contains(c))
}

fn validation(message: impl Into<String>) -> KmsError {
    ValidationError {
        message: message.into(),
    }
    .into()
}

fn invalid_token() -> KmsError {
    KmsError::InvalidImportToken(
        "Import token is invalid or is associated with a different KMS key.".into(),
    )
}

/// Where `ImportKeyMaterial` puts the material it unwrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImportSlot {
    /// The first import, or a reimport of the current material.
    Current,
    /// A reimport of material a rotation made non-current.
    NonCurrent,
    /// A reimport of the material pending rotation.
    Pending,
    /// `NEW_KEY_MATERIAL` into a key that has material: pending rotation.
    New,
}

impl Kms {
    /// Checks an import's type and material ID against what the family holds, as AWS does.
    fn import_slot(
        arn: &str,
        fam: &Family,
        req: &ImportKeyMaterialRequest,
        known: Option<&str>,
        id_hex: &str,
    ) -> Result<ImportSlot, KmsError> {
        let associated = fam.rec.associated_imported_ids().any(|a| a == id_hex);
        let pending = fam.rec.pending_material.as_ref().map(|m| m.id.as_str());
        let import_type = req.import_type.as_deref().unwrap_or(if known.is_some() {
            "EXISTING_KEY_MATERIAL"
        } else {
            "NEW_KEY_MATERIAL"
        });
        match (import_type, known) {
            ("NEW_KEY_MATERIAL", _) if req.key_material_id.is_some() => Err(validation(
                "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.",
            )),
            ("NEW_KEY_MATERIAL", None) => Ok(ImportSlot::Current),
            ("NEW_KEY_MATERIAL", Some(_)) if associated || pending == Some(id_hex) => {
                Err(KmsError::IncorrectKeyMaterial(format!(
                    "The key material is already associated with {arn}; import it with ImportType EXISTING_KEY_MATERIAL."
                )))
            }
            ("NEW_KEY_MATERIAL", Some(_)) => {
                // Only single-Region symmetric encryption keys take more than one material.
                if fam.rec.multi_region || fam.rec.key_spec != "SYMMETRIC_DEFAULT" {
                    return Err(KmsError::UnsupportedOperation(format!(
                        "{arn} already has imported key material. New key material can be imported only into single-Region symmetric encryption keys; reimport the existing key material."
                    )));
                }
                if let Some(p) = pending {
                    return Err(KmsError::InvalidState(format!(
                        "{arn} already has key material {p} pending rotation. Rotate to it with RotateKeyOnDemand or delete it with DeleteImportedKeyMaterial first."
                    )));
                }
                Ok(ImportSlot::New)
            }
            (_, None) => Err(KmsError::IncorrectKeyMaterial(format!(
                "No key material has been imported into {arn}; import it with ImportType NEW_KEY_MATERIAL."
            ))),
            (_, Some(_)) => {
                if !associated && pending != Some(id_hex) {
                    return Err(KmsError::IncorrectKeyMaterial(format!(
                        "The key material is not the key material previously imported into {arn}."
                    )));
                }
                if let Some(asked) = req.key_material_id.as_deref().filter(|m| *m != id_hex) {
                    return Err(KmsError::IncorrectKeyMaterial(format!(
                        "The key material does not match key material ID {asked}."
                    )));
                }
                Ok(if fam.rec.current_imported_id() == Some(id_hex) {
                    ImportSlot::Current
                } else if pending == Some(id_hex) {
                    ImportSlot::Pending
                } else {
                    ImportSlot::NonCurrent
                })
            }
        }
    }

    fn token_tag(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
        token_id: &[u8],
        valid_to: i64,
    ) -> [u8; 32] {
        let mut data = format!("{account}/{region}/{key_id}/").into_bytes();
        data.extend_from_slice(token_id);
        data.extend_from_slice(&valid_to.to_be_bytes());
        self.root.fingerprint("kms/import-token", &data)
    }

    /// The ID of `material` imported into the family `key_id`.
    fn imported_material_id(&self, account: &str, key_id: &str, material: &[u8]) -> [u8; 32] {
        let mut data = format!("{account}/{key_id}\0").into_bytes();
        data.extend_from_slice(material);
        let id = self.root.fingerprint("kms/imported-material", &data);
        zeroize::Zeroize::zeroize(&mut data);
        id
    }

    /// Refuses keys whose origin is not `EXTERNAL`.
    fn require_external(arn: &str, fam: &Family) -> Result<(), KmsError> {
        if fam.rec.origin != "EXTERNAL" {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} origin is {} which is not valid for this operation.",
                fam.rec.origin
            )));
        }
        Ok(())
    }

    /// `GetParametersForImport`: a fresh RSA wrapping key and the token bound to it.
    pub fn get_parameters_for_import(
        &self,
        ctx: &RequestContext,
        req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("WrappingAlgorithm", &req.wrapping_algorithm);
        v.one_of(
            "WrappingAlgorithm",
            req.wrapping_algorithm.as_deref(),
            WRAPPING_ALGORITHMS,
        );
        v.required("WrappingKeySpec", &req.wrapping_key_spec);
        v.one_of(
            "WrappingKeySpec",
            req.wrapping_key_spec.as_deref(),
            WRAPPING_KEY_SPECS,
        );
        v.finish()?;
        let alg_name = req.wrapping_algorithm.as_deref().unwrap_or_default();
        let spec_name = req.wrapping_key_spec.as_deref().unwrap_or_default();
        let key_ref = req.key_id.as_deref().unwrap_or_default();
        // Check the key first, so a wrong key is reported before an unsupported algorithm.
        {
            let w = self.world.read();
            let (key, fam) = self.resolve(
                &w,
                ctx,
                ops::KmsAction::GetParametersForImport.info(),
                key_ref,
            )?;
            let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
            Self::require_external(&arn, fam)?;
        }
        let algorithm: WrappingAlgorithm = match alg_name {
            "RSAES_PKCS1_V1_5" => {
                return Err(KmsError::UnsupportedOperation(
                    "The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported. Use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.".into(),
                ))
            }
            "SM2PKE" => {
                return Err(KmsError::UnsupportedOperation(
                    "Coffer does not support the SM2PKE wrapping algorithm: it has no SM2 implementation.".into(),
                ))
            }
            other => other
                .parse()
                .map_err(|_| KmsError::Internal(format!("validated algorithm {other} unknown")))?,
        };
        let spec = wrap::wrapping_key_spec(spec_name).ok_or_else(|| {
            KmsError::UnsupportedOperation(
                "Coffer does not support the SM2 wrapping key spec: it has no SM2 implementation."
                    .into(),
            )
        })?;
        // RSA generation is slow: outside any lock.
        let pair = KeyPair::generate(spec)
            .map_err(|e| KmsError::Internal(format!("wrapping key generation: {e}")))?;
        let token_id: [u8; 16] = coffer_crypto::random::array()?;
        let token_hex = hex::encode(token_id);
        let now = self.clock.now();
        let valid_to = now.plus_millis(TOKEN_VALIDITY_MS);

        let mut w = self.world.write();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::GetParametersForImport.info(),
            key_ref,
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        Self::require_external(&arn, fam)?;
        let wrapped = self.root.wrap(
            &wrapping_key_aad(&key.account, &key.region, &key.key_id, &token_hex),
            pair.private_key_der(),
        )?;
        let rec = ImportTokenRecord {
            v: RECORD_VERSION,
            account: key.account.clone(),
            region: key.region.clone(),
            key_id: key.key_id.clone(),
            token_id: token_hex,
            wrapping_algorithm: algorithm.as_str().into(),
            wrapping_key_spec: spec_name.into(),
            wrapped_private_key: base64::engine::general_purpose::STANDARD.encode(wrapped),
            created: now,
            valid_to,
        };
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.extend_from_slice(TOKEN_MAGIC);
        token.extend_from_slice(&token_id);
        token.extend_from_slice(&valid_to.millis.to_be_bytes());
        token.extend_from_slice(&self.token_tag(
            &key.account,
            &key.region,
            &key.key_id,
            &token_id,
            valid_to.millis,
        ));
        let mut tx = Transaction::new();
        tx.put(IMPORT_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        w.imports.insert(rec.store_key(), rec);
        Ok(GetParametersForImportResponse {
            key_id: arn,
            import_token: Blob::new(token),
            public_key: Blob::new(pair.public_key_der().to_vec()),
            parameters_valid_to: valid_to,
        })
    }

    /// Checks a token against the key it must belong to; returns its record.
    fn check_token<'w>(
        &self,
        w: &'w World,
        key: &KeyRecord,
        token: &[u8],
    ) -> Result<&'w ImportTokenRecord, KmsError> {
        if token.len() != TOKEN_LEN || &token[..4] != TOKEN_MAGIC {
            return Err(invalid_token());
        }
        let token_id = &token[4..20];
        let mut valid_to = [0u8; 8];
        valid_to.copy_from_slice(&token[20..28]);
        let valid_to = i64::from_be_bytes(valid_to);
        let tag = self.token_tag(&key.account, &key.region, &key.key_id, token_id, valid_to);
        if !coffer_crypto::digest::constant_time_eq(&tag, &token[28..]) {
            return Err(invalid_token());
        }
        if Timestamp::from_millis(valid_to) <= self.clock.now() {
            return Err(KmsError::ExpiredImportToken(
                "The import token has expired. Use GetParametersForImport to get a new import token and public key.".into(),
            ));
        }
        let store_key = format!("{}/{}/{}", key.account, key.region, hex::encode(token_id));
        w.imports.get(&store_key).ok_or_else(invalid_token)
    }

    /// Unwraps the material in `encrypted` with the token's wrapping key.
    fn unwrap_imported(
        &self,
        rec: &ImportTokenRecord,
        encrypted: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let spec = wrap::wrapping_key_spec(&rec.wrapping_key_spec)
            .ok_or_else(|| KmsError::Internal("import record wrapping key spec".into()))?;
        let algorithm: WrappingAlgorithm = rec
            .wrapping_algorithm
            .parse()
            .map_err(|_| KmsError::Internal("import record wrapping algorithm".into()))?;
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(&rec.wrapped_private_key)
            .map_err(|e| KmsError::Internal(format!("import record encoding: {e}")))?;
        let pkcs8 = self.root.unwrap(
            &wrapping_key_aad(&rec.account, &rec.region, &rec.key_id, &rec.token_id),
            &wrapped,
        )?;
        let pair = KeyPair::from_pkcs8(spec, &pkcs8)
            .map_err(|e| KmsError::Internal(format!("wrapping key: {e}")))?;
        wrap::unwrap_key_material(&pair, algorithm, encrypted).map_err(|_| {
            KmsError::InvalidCiphertext(
                "The encrypted key material could not be decrypted with the wrapping key and algorithm of the import token.".into(),
            )
        })
    }

    /// Checks that `raw` is key material of `spec`, as AWS requires it.
    pub(crate) fn check_material(
        spec: KeySpec,
        raw: &[u8],
    ) -> Result<super::state::MaterialKey, KmsError> {
        let incorrect = |what: String| KmsError::IncorrectKeyMaterial(what);
        match spec {
            KeySpec::SymmetricDefault => {
                if raw.len() != 32 {
                    return Err(incorrect(format!(
                        "Imported key material for a SYMMETRIC_DEFAULT key must be 256 bits (32 bytes); got {} bytes.",
                        raw.len()
                    )));
                }
            }
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                let range = HmacKey::accepted_len(spec)
                    .ok_or_else(|| KmsError::Internal("HMAC spec without lengths".into()))?;
                if !range.contains(&raw.len()) {
                    return Err(incorrect(format!(
                        "Imported key material for a {spec} key must be {} to {} bytes; got {} bytes.",
                        range.start(),
                        range.end(),
                        raw.len()
                    )));
                }
            }
            _ => {
                if KeyPair::from_pkcs8(spec, raw).is_err() {
                    return Err(incorrect(format!(
                        "Imported key material is not a DER-encoded PKCS #8 private key of key spec {spec}."
                    )));
                }
            }
        }
        Self::load_material(spec, raw).map_err(|_| {
            KmsError::IncorrectKeyMaterial(format!(
                "Imported key material is not valid for key spec {spec}."
            ))
        })
    }

    /// `ImportKeyMaterial`.
    pub fn import_key_material(
        &self,
        ctx: &RequestContext,
        mut req: ImportKeyMaterialRequest,
    ) -> Result<KeyMaterialResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("ImportToken", &req.import_token);
        v.blob_length(
            "ImportToken",
            req.import_token.as_ref().map(Blob::as_slice),
            1,
            6144,
        );
        v.required("EncryptedKeyMaterial", &req.encrypted_key_material);
        v.blob_length(
            "EncryptedKeyMaterial",
            req.encrypted_key_material.as_ref().map(Blob::as_slice),
            1,
            6144,
        );
        v.one_of(
            "ExpirationModel",
            req.expiration_model.as_deref(),
            EXPIRATION_MODELS,
        );
        v.one_of("ImportType", req.import_type.as_deref(), IMPORT_TYPES);
        let desc = req.key_material_description.as_deref();
        v.length("KeyMaterialDescription", desc, 0, 256);
        v.pattern(
            "KeyMaterialDescription",
            desc.filter(|d| !d.is_empty()),
            description_ok,
            "^[a-zA-Z0-9:/_\\s.-]+$",
        );
        let mid = req.key_material_id.as_deref();
        v.length("KeyMaterialId", mid, 64, 64);
        v.pattern("KeyMaterialId", mid, hex_ok, "^[a-f0-9]+$");
        v.finish()?;

        let now = self.clock.now();
        let model = req
            .expiration_model
            .clone()
            .unwrap_or_else(|| "KEY_MATERIAL_EXPIRES".into());
        let valid_to =
            match (model.as_str(), req.valid_to) {
                ("KEY_MATERIAL_EXPIRES", None) => {
                    return Err(validation(
                        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
                    ))
                }
                ("KEY_MATERIAL_EXPIRES", Some(t)) => {
                    if t <= now {
                        return Err(validation("ValidTo must be a date in the future."));
                    }
                    if t > now.plus_days(MAX_VALID_TO_DAYS) {
                        return Err(validation(
                            "ValidTo must be no more than 365 days from the current date.",
                        ));
                    }
                    Some(t)
                }
                (_, Some(_)) => return Err(validation(
                    "ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.",
                )),
                (_, None) => None,
            };
        let token = req.import_token.take().unwrap_or_default();
        let encrypted = req.encrypted_key_material.take().unwrap_or_default();
        let key_ref = req.key_id.as_deref().unwrap_or_default();

        let mut w = self.world.write();
        let (key, fam) =
            self.resolve(&w, ctx, ops::KmsAction::ImportKeyMaterial.info(), key_ref)?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        Self::require_external(&arn, fam)?;
        let token_rec = self.check_token(&w, key, token.as_slice())?;
        let raw = self.unwrap_imported(token_rec, encrypted.as_slice())?;
        let spec = Self::spec_of(&fam.rec)?;
        let material = Self::check_material(spec, &raw)?;
        let mut id = self.imported_material_id(&key.account, &key.key_id, &raw);
        let known = fam.rec.imported_material_id.clone();
        // Material whose ID was not derived under this root key (a seed file's, or one brought
        // by a state file from another deployment) is recognised by its bytes.
        if fam.material(&id).is_none() {
            let held = fam.materials.iter().find(|m| {
                let held: &[u8] = match &m.key {
                    MaterialKey::Symmetric(k) => k.expose_bytes(),
                    MaterialKey::Pair(k) => k.private_key_der(),
                    MaterialKey::Hmac(k) => k.expose_bytes(),
                };
                coffer_crypto::digest::constant_time_eq(held, &raw[..])
            });
            if let Some(m) = held {
                id = m.id;
            }
        }
        let id_hex = hex::encode(id);
        let slot = Self::import_slot(&arn, fam, &req, known.as_deref(), &id_hex)?;
        let meta = |key: &KeyRecord| {
            key.imported
                .iter()
                .chain(key.imported_other.iter())
                .find(|m| m.material_id == id_hex)
                .and_then(|m| m.description.clone())
        };
        let imported = ImportedMaterial {
            material_id: id_hex.clone(),
            expiration_model: model,
            valid_to,
            description: req.key_material_description.clone().or_else(|| meta(key)),
            imported_at: now,
        };
        let mut f = fam.clone();
        let mut fam_changed = false;
        let mut key = key.clone();
        match slot {
            ImportSlot::Current | ImportSlot::NonCurrent if fam.material(&id).is_none() => {
                let m = self.add_material_with_id(&mut f.rec, material, None, id)?;
                if f.rec.imported_material_id.is_none() {
                    f.rec.imported_material_id = Some(id_hex.clone());
                }
                if slot == ImportSlot::Current {
                    f.materials.push(std::sync::Arc::new(m));
                } else {
                    // Only the last material encrypts: a non-current one goes first.
                    if let Some(rec) = f.rec.materials.pop() {
                        f.rec.materials.insert(0, rec);
                    }
                    f.materials.insert(0, std::sync::Arc::new(m));
                }
                fam_changed = true;
            }
            ImportSlot::New => {
                self.add_material_with_id(&mut f.rec, material, Some("ON_DEMAND"), id)?;
                f.rec.pending_material = f.rec.materials.pop();
                fam_changed = true;
            }
            _ => {}
        }
        if slot == ImportSlot::Current {
            key.imported = Some(imported);
            if matches!(key.state, KeyState::PendingImport) {
                key.state = KeyState::Enabled;
            }
        } else {
            key.imported_other.retain(|m| m.material_id != id_hex);
            key.imported_other.push(imported);
        }
        key.v = RECORD_VERSION;
        let mut tx = Transaction::new();
        if fam_changed {
            f.rec.v = RECORD_VERSION;
            tx.put(
                FAMILY_TABLE,
                &f.rec.store_key(),
                serde_json::to_vec(&f.rec)?,
            );
        }
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        self.commit(&tx)?;
        if fam_changed {
            w.put_family(f);
        }
        w.put_key(key);
        Ok(KeyMaterialResponse {
            key_id: arn,
            key_material_id: Some(id_hex),
        })
    }

    /// The family without the materials no Region's key holds any more once `updated` replaces
    /// its Region's record (or, with `removed`, once that record is gone); `None` when nothing
    /// changes. Material pending rotation stays while any Region's key holds it.
    pub(super) fn prune_imported(w: &World, updated: &KeyRecord, removed: bool) -> Option<Family> {
        let fam = w.family(&updated.account, &updated.key_id)?;
        if fam.rec.origin != "EXTERNAL"
            || (fam.rec.materials.is_empty() && fam.rec.pending_material.is_none())
        {
            return None;
        }
        let keys: Vec<&KeyRecord> = w
            .related_keys(&updated.account, &updated.key_id)
            .into_iter()
            .filter(|k| k.region != updated.region)
            .chain((!removed).then_some(updated))
            .collect();
        let held = |id: &str| {
            keys.iter().any(|k| {
                k.imported
                    .iter()
                    .chain(k.imported_other.iter())
                    .any(|m| m.material_id == id)
            })
        };
        let keep: Vec<bool> = fam.rec.materials.iter().map(|m| held(&m.id)).collect();
        let keep_pending = fam.rec.pending_material.as_ref().map(|m| held(&m.id));
        if keep.iter().all(|k| *k) && keep_pending != Some(false) {
            return None;
        }
        let mut f = fam.clone();
        let mut i = 0;
        f.rec.materials.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let mut i = 0;
        f.materials.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        if keep_pending == Some(false) {
            f.rec.pending_material = None;
        }
        f.rec.v = RECORD_VERSION;
        Some(f)
    }

    /// Commits a Region's key after its imported material changed (delete or expiry), with the
    /// family pruned of material no Region holds any more.
    fn commit_imported(&self, w: &mut World, mut key: KeyRecord) -> Result<(), KmsError> {
        key.v = RECORD_VERSION;
        let pruned = Self::prune_imported(w, &key, false);
        let mut tx = Transaction::new();
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        if let Some(f) = &pruned {
            tx.put(
                FAMILY_TABLE,
                &f.rec.store_key(),
                serde_json::to_vec(&f.rec)?,
            );
        }
        self.commit(&tx)?;
        if let Some(f) = pruned {
            w.put_family(f);
        }
        w.put_key(key);
        Ok(())
    }

    /// Removes a Region's current imported material (delete or expiry) and commits.
    fn remove_imported(&self, w: &mut World, key: &KeyRecord) -> Result<(), KmsError> {
        let mut key = key.clone();
        key.imported = None;
        if matches!(key.state, KeyState::Enabled | KeyState::Disabled) {
            key.state = KeyState::PendingImport;
        }
        self.commit_imported(w, key)
    }

    /// Removes one of a Region's other imported materials (non-current or pending rotation):
    /// the key stays usable; ciphertexts under a removed non-current material wait for it.
    fn remove_other_imported(
        &self,
        w: &mut World,
        key: &KeyRecord,
        material_id: &str,
    ) -> Result<(), KmsError> {
        let mut key = key.clone();
        key.imported_other.retain(|m| m.material_id != material_id);
        self.commit_imported(w, key)
    }

    /// `DeleteImportedKeyMaterial`: without a `KeyMaterialId`, or with the current one's, the key
    /// waits for its material again (`PendingImport`), unless it is pending deletion. Deleting a
    /// non-current material leaves the key usable; deleting the material pending rotation
    /// dissociates it from the key.
    pub fn delete_imported_key_material(
        &self,
        ctx: &RequestContext,
        req: DeleteImportedKeyMaterialRequest,
    ) -> Result<KeyMaterialResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        let mid = req.key_material_id.as_deref();
        v.length("KeyMaterialId", mid, 64, 64);
        v.pattern("KeyMaterialId", mid, hex_ok, "^[a-f0-9]+$");
        v.finish()?;
        let mut w = self.world.write();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::DeleteImportedKeyMaterial.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        Self::require_external(&arn, fam)?;
        let current = key.imported.as_ref().map(|m| m.material_id.clone());
        let current_id = fam.rec.current_imported_id().map(str::to_string);
        if let Some(asked) = req.key_material_id.as_deref() {
            let pending = fam.rec.pending_material.as_ref().map(|m| m.id.as_str());
            let associated = fam.rec.associated_imported_ids().any(|a| a == asked);
            if !associated && pending != Some(asked) {
                return Err(KmsError::NotFound(format!(
                    "Key material {asked} is not associated with {arn}."
                )));
            }
            if current_id.as_deref() != Some(asked) {
                if key.imported_other.iter().any(|m| m.material_id == asked) {
                    let key = key.clone();
                    self.remove_other_imported(&mut w, &key, asked)?;
                }
                return Ok(KeyMaterialResponse {
                    key_id: arn,
                    key_material_id: Some(asked.to_string()),
                });
            }
        }
        if current.is_some() {
            let key = key.clone();
            self.remove_imported(&mut w, &key)?;
        }
        Ok(KeyMaterialResponse {
            key_id: arn,
            key_material_id: current.or(req.key_material_id),
        })
    }

    /// Expires imported material past its `ValidTo` and forgets expired import parameters.
    pub(super) fn expire_imports(&self, w: &mut World, now: Timestamp) -> Result<(), KmsError> {
        let expired: Vec<KeyRecord> = w
            .all_keys()
            .filter(|k| {
                k.imported
                    .as_ref()
                    .is_some_and(|m| m.valid_to.is_some_and(|t| t <= now))
            })
            .cloned()
            .collect();
        for key in expired {
            self.remove_imported(w, &key)?;
        }
        let expired_other: Vec<(KeyRecord, String)> = w
            .all_keys()
            .flat_map(|k| {
                k.imported_other
                    .iter()
                    .filter(|m| m.valid_to.is_some_and(|t| t <= now))
                    .map(move |m| (k.clone(), m.material_id.clone()))
            })
            .collect();
        for (key, id) in expired_other {
            // Re-read: an earlier removal may have changed this key's record.
            if let Some(key) = w.key(&key.account, &key.region, &key.key_id).cloned() {
                self.remove_other_imported(w, &key, &id)?;
            }
        }
        let stale: Vec<String> = w
            .imports
            .iter()
            .filter(|(_, r)| r.valid_to <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if !stale.is_empty() {
            let mut tx = Transaction::new();
            for k in &stale {
                tx.delete(IMPORT_TABLE, k);
            }
            self.commit(&tx)?;
            for k in stale {
                w.imports.remove(&k);
            }
        }
        Ok(())
    }

    /// The earliest material expiry or import-parameter expiry.
    pub(super) fn next_import_due(w: &World) -> Option<Timestamp> {
        let materials = w
            .all_keys()
            .flat_map(|k| k.imported.iter().chain(k.imported_other.iter()))
            .filter_map(|m| m.valid_to);
        let tokens = w.imports.values().map(|r| r.valid_to);
        materials.chain(tokens).min()
    }
}
