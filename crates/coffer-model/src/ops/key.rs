//! KMS key states and key usages, with AWS's names: what the registry's [`super::KeyRule`]s
//! are made of. coffer-kms's `records::KeyState` is meant to become a re-export of
//! [`KeyState`] (same variants, same serialized names, so stored records read unchanged).

use serde::{Deserialize, Serialize};

/// The state of one regional key (the model's `KeyState`), as Coffer keeps it. AWS has three
/// more — `Creating`, `Unavailable` (a disconnected custom key store) and `Updating` — that no
/// Coffer key enters. Serialized (in records and on the wire) by AWS's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Disabled by its owner.
    Disabled,
    /// Scheduled for deletion.
    PendingDeletion,
    /// A primary waiting for its replicas to be deleted before its own window starts.
    PendingReplicaDeletion,
    /// An `EXTERNAL` key without (or whose) imported material (expired or was deleted).
    PendingImport,
}

impl KeyState {
    /// Every state, in the model's order.
    pub const ALL: &'static [KeyState] = &[
        KeyState::Enabled,
        KeyState::Disabled,
        KeyState::PendingDeletion,
        KeyState::PendingImport,
        KeyState::PendingReplicaDeletion,
    ];

    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
            KeyState::PendingImport => "PendingImport",
        }
    }

    /// The state of AWS's name `name`, if Coffer has it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == name)
    }
}

/// What a key is for (the model's `KeyUsageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyUsage {
    /// `SIGN_VERIFY`.
    #[serde(rename = "SIGN_VERIFY")]
    SignVerify,
    /// `ENCRYPT_DECRYPT`.
    #[serde(rename = "ENCRYPT_DECRYPT")]
    EncryptDecrypt,
    /// `GENERATE_VERIFY_MAC`.
    #[serde(rename = "GENERATE_VERIFY_MAC")]
    GenerateVerifyMac,
    /// `KEY_AGREEMENT`.
    #[serde(rename = "KEY_AGREEMENT")]
    KeyAgreement,
    /// `ENCAPSULATE_DECAPSULATE`.
    #[serde(rename = "ENCAPSULATE_DECAPSULATE")]
    EncapsulateDecapsulate,
}

impl KeyUsage {
    /// Every usage, in the model's order.
    pub const ALL: &'static [KeyUsage] = &[
        KeyUsage::SignVerify,
        KeyUsage::EncryptDecrypt,
        KeyUsage::GenerateVerifyMac,
        KeyUsage::KeyAgreement,
        KeyUsage::EncapsulateDecapsulate,
    ];

    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::SignVerify => "SIGN_VERIFY",
            KeyUsage::EncryptDecrypt => "ENCRYPT_DECRYPT",
            KeyUsage::GenerateVerifyMac => "GENERATE_VERIFY_MAC",
            KeyUsage::KeyAgreement => "KEY_AGREEMENT",
            KeyUsage::EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
        }
    }

    /// The usage of AWS's name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|u| u.as_str() == name)
    }
}

/// Whether a key spec is asymmetric: neither `SYMMETRIC_DEFAULT` nor `HMAC_*`.
pub fn is_asymmetric(key_spec: &str) -> bool {
    key_spec != "SYMMETRIC_DEFAULT" && !key_spec.starts_with("HMAC_")
}
