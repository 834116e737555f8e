//! The `pkcs11` seal: the root key wrapped and unwrapped inside an HSM by a non-extractable
//! AES-256 key (CKM_AES_GCM, a random 96-bit IV, the sealed file's AAD), through the `cryptoki`
//! crate. The key is found by label; a seal that is created finds none generates one in the
//! token (CKA_TOKEN, CKA_SENSITIVE, CKA_EXTRACTABLE false), so its bytes never leave the HSM.

use crate::{SealConfig, SealError};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

const IV_LEN: usize = 12;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    token_label: Option<String>,
    key_label: String,
    mechanism: String,
}

/// An open, logged-in session on the configured token.
struct Token {
    // Dropped after the session: the session's drop closes it, the context's finalizes.
    session: Session,
    _ctx: Pkcs11,
    name: String,
}

fn err(s: String) -> SealError {
    SealError::Pkcs11(s)
}

fn login(config: &SealConfig) -> Result<Token, SealError> {
    let p = &config.pkcs11;
    let module = p.module.as_deref().ok_or_else(|| {
        SealError::Config("kind = \"pkcs11\" needs module (the PKCS#11 library's path)".into())
    })?;
    let pin = p.pin.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| {
        SealError::Config(
            "kind = \"pkcs11\" needs the user PIN: set COFFER_SEAL_PIN or pin_file".into(),
        )
    })?;
    let ctx = load(module)?;
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| err(format!("listing the slots of {}: {e}", module.display())))?;
    let (slot, name) = pick_slot(&ctx, &slots, config, module)?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| err(format!("opening a session on {name}: {e}")))?;
    match session.login(UserType::User, Some(&AuthPin::from(pin.as_str()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
            return Err(err(format!("wrong PIN for {name}")))
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            return Err(err(format!("the user PIN of {name} is locked")))
        }
        Err(e) => return Err(err(format!("logging in to {name}: {e}"))),
    }
    Ok(Token {
        session,
        _ctx: ctx,
        name,
    })
}

fn load(module: &Path) -> Result<Pkcs11, SealError> {
    if !module.is_file() {
        return Err(err(format!(
            "no PKCS#11 module at {} (set [seal] module)",
            module.display()
        )));
    }
    let ctx = Pkcs11::new(module)
        .map_err(|e| err(format!("cannot load the module {}: {e}", module.display())))?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| err(format!("initialising {}: {e}", module.display())))?;
    Ok(ctx)
}

fn pick_slot(
    ctx: &Pkcs11,
    slots: &[Slot],
    config: &SealConfig,
    module: &Path,
) -> Result<(Slot, String), SealError> {
    let p = &config.pkcs11;
    if let Some(label) = &p.token_label {
        for slot in slots {
            if let Ok(info) = ctx.get_token_info(*slot) {
                if info.label().trim_end() == label {
                    return Ok((*slot, format!("token {label:?}")));
                }
            }
        }
        return Err(err(format!(
            "no token labelled {label:?} in {}",
            module.display()
        )));
    }
    if let Some(id) = p.slot {
        return slots
            .iter()
            .find(|s| s.id() == id)
            .map(|s| (*s, format!("slot {id}")))
            .ok_or_else(|| err(format!("no token in slot {id} of {}", module.display())));
    }
    Err(SealError::Config(
        "kind = \"pkcs11\" needs token_label or slot".into(),
    ))
}

impl Token {
    fn key(&self, label: &str, create: bool) -> Result<ObjectHandle, SealError> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let found = self
            .session
            .find_objects(&template)
            .map_err(|e| err(format!("searching {} for key {label:?}: {e}", self.name)))?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] if create => self
                .session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::ValueLen(32.into()),
                        Attribute::Label(label.as_bytes().to_vec()),
                    ],
                )
                .map_err(|e| err(format!("generating key {label:?} in {}: {e}", self.name))),
            [] => Err(err(format!(
                "no AES key labelled {label:?} in {}",
                self.name
            ))),
            _ => Err(err(format!(
                "{} AES keys are labelled {label:?} in {}; the label must name one",
                found.len(),
                self.name
            ))),
        }
    }
}

fn key_label(config: &SealConfig) -> Result<&str, SealError> {
    let l = config.pkcs11.key_label.as_str();
    if l.is_empty() {
        return Err(SealError::Config("key_label must not be empty".into()));
    }
    Ok(l)
}

pub(crate) fn params(config: &SealConfig) -> Result<serde_json::Value, SealError> {
    serde_json::to_value(Stored {
        token_label: config.pkcs11.token_label.clone(),
        key_label: key_label(config)?.to_string(),
        mechanism: "CKM_AES_GCM".into(),
    })
    .map_err(|e| SealError::Config(e.to_string()))
}

pub(crate) fn wrap(config: &SealConfig, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, SealError> {
    let token = login(config)?;
    let label = key_label(config)?;
    let key = token.key(label, true)?;
    let mut iv = coffer_crypto::random::array::<IV_LEN>()?;
    let mut out = iv.to_vec();
    let gcm = GcmParams::new(&mut iv, aad, 128.into())
        .map_err(|e| err(format!("AES-GCM parameters: {e}")))?;
    let sealed = token
        .session
        .encrypt(&Mechanism::AesGcm(gcm), key, secret)
        .map_err(|e| {
            err(format!(
                "wrapping with key {label:?} in {}: {e}",
                token.name
            ))
        })?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

pub(crate) fn unwrap(
    config: &SealConfig,
    params: &serde_json::Value,
    aad: &[u8],
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let stored: Stored = serde_json::from_value(params.clone())
        .map_err(|e| SealError::Config(format!("pkcs11 parameters: {e}")))?;
    if stored.mechanism != "CKM_AES_GCM" {
        return Err(err(format!("unknown mechanism {}", stored.mechanism)));
    }
    if wrapped.len() <= IV_LEN {
        return Err(err("the wrapped key is too short".into()));
    }
    let token = login(config)?;
    let key = token.key(&stored.key_label, false)?;
    let (iv, body) = wrapped.split_at(IV_LEN);
    let mut iv = iv.to_vec();
    let gcm = GcmParams::new(&mut iv, aad, 128.into())
        .map_err(|e| err(format!("AES-GCM parameters: {e}")))?;
    token
        .session
        .decrypt(&Mechanism::AesGcm(gcm), key, body)
        .map(Zeroizing::new)
        .map_err(|_| {
            err(format!(
                "key {:?} in {} does not open the sealed root key (another key, or the file was altered)",
                stored.key_label, token.name
            ))
        })
}
