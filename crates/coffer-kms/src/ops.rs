//! Each KMS action's key rule, as data: the operation registry (`coffer_model::ops`, generated
//! from the botocore model and `model/annotations/kms.toml`) says which key states an action
//! accepts, which key usage it needs, whether only symmetric (or only asymmetric) keys qualify and
//! whether an alias may name the key. The service checks them in one place
//! ([`super::Kms::resolve`]), where authorization happens too.

pub use coffer_model::ops::{is_asymmetric, Action as KeyOp, KeyRule, KmsAction};

/// The rule of an action that names no key (it accepts any key, any usage).
const ANY_KEY: KeyRule = KeyRule {
    accepts_alias: false,
    states: coffer_model::ops::KeyState::ALL,
    usage: None,
    symmetric_only: false,
    asymmetric_only: false,
    cross_account: false,
};

/// The key rule of `op`.
pub fn rule(op: &KeyOp) -> &KeyRule {
    op.key.as_ref().unwrap_or(&ANY_KEY)
}

/// The key usage `op` needs, by AWS's name.
pub fn usage(op: &KeyOp) -> Option<&'static str> {
    rule(op).usage.map(|u| u.as_str())
}

/// The action of this name (`Encrypt`, `ReEncryptFrom`): a grant operation, if it names a key.
pub fn by_name(name: &str) -> Option<&'static KeyOp> {
    KmsAction::from_name(name)
        .map(KmsAction::info)
        .filter(|a| a.key.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_model::kms::grant_operations;

    /// CreateGrant checks each grant operation against the key through this table.
    #[test]
    fn every_grant_operation_is_a_key_operation() {
        for name in grant_operations() {
            assert!(by_name(name).is_some(), "{name} is not a key action");
        }
    }
}
