//! Each KMS operation's IAM action and the key states it accepts, as data. The service checks
//! them in one place ([`super::Kms::resolve`]); the authorization engine will plug in there too.

use super::records::KeyState;

/// What an operation needs from the key it names.
#[derive(Debug, Clone, Copy)]
pub struct KeyOp {
    /// Operation name, e.g. `Encrypt`.
    pub name: &'static str,
    /// IAM action, e.g. `kms:Encrypt`.
    pub action: &'static str,
    /// Whether the key may be named by an alias name or alias ARN.
    pub accepts_alias: bool,
    /// Key states in which the operation proceeds.
    pub states: &'static [KeyState],
    /// The key usage the operation needs, if it uses the key cryptographically.
    pub usage: Option<&'static str>,
    /// Whether only `SYMMETRIC_DEFAULT` keys qualify (data keys, rotation, imports).
    pub symmetric_only: bool,
    /// Whether only asymmetric keys qualify (`GetPublicKey`). `resolve` leaves this to the
    /// operation, which reports it once it has the key material; CreateGrant checks it.
    pub asymmetric_only: bool,
}

impl KeyOp {
    /// Whether a key of this spec and usage supports the operation: its usage, if it needs one,
    /// and the symmetric-only and asymmetric-only rules. AWS's key type reference, as data.
    pub fn supported_by(&self, key_spec: &str, key_usage: &str) -> bool {
        self.usage.is_none_or(|u| u == key_usage)
            && (!self.symmetric_only || key_spec == "SYMMETRIC_DEFAULT")
            && (!self.asymmetric_only || is_asymmetric(key_spec))
    }
}

/// Whether a key spec is asymmetric: neither `SYMMETRIC_DEFAULT` nor `HMAC_*`.
pub fn is_asymmetric(key_spec: &str) -> bool {
    key_spec != "SYMMETRIC_DEFAULT" && !key_spec.starts_with("HMAC_")
}

/// The operation of this name (`Encrypt`), if it names a key.
pub fn by_name(name: &str) -> Option<&'static KeyOp> {
    ALL.iter().find(|op| op.name == name)
}

use KeyState::*;

const ANY: &[KeyState] = &[
    Enabled,
    Disabled,
    PendingDeletion,
    PendingReplicaDeletion,
    PendingImport,
];
const MANAGE: &[KeyState] = &[Enabled, Disabled];
/// Management that AWS also allows on a key waiting for imported material.
const MANAGE_ANY: &[KeyState] = &[Enabled, Disabled, PendingImport];
const USE: &[KeyState] = &[Enabled];

const ED: Option<&str> = Some("ENCRYPT_DECRYPT");
const SV: Option<&str> = Some("SIGN_VERIFY");
const MAC: Option<&str> = Some("GENERATE_VERIFY_MAC");
const KA: Option<&str> = Some("KEY_AGREEMENT");
const KEM: Option<&str> = Some("ENCAPSULATE_DECAPSULATE");

macro_rules! key_ops {
    ($($konst:ident = $name:literal, alias: $alias:literal, states: $states:expr $(, usage: $usage:expr)? $(, symmetric: $sym:literal)? $(, asymmetric: $asym:literal)?;)*) => {
        $(
            #[doc = concat!("`", $name, "`.")]
            pub const $konst: KeyOp = KeyOp {
                name: $name,
                action: concat!("kms:", $name),
                accepts_alias: $alias,
                states: $states,
                usage: key_ops!(@usage $($usage)?),
                symmetric_only: key_ops!(@flag $($sym)?),
                asymmetric_only: key_ops!(@flag $($asym)?),
            };
        )*
        /// Every operation that names a key.
        pub const ALL: &[KeyOp] = &[$($konst),*];
    };
    (@usage $u:expr) => { $u };
    (@usage) => { None };
    (@flag $f:literal) => { $f };
    (@flag) => { false };
}

key_ops! {
    DESCRIBE_KEY = "DescribeKey", alias: true, states: ANY;
    ENABLE_KEY = "EnableKey", alias: false, states: MANAGE;
    DISABLE_KEY = "DisableKey", alias: false, states: MANAGE;
    ENABLE_KEY_ROTATION = "EnableKeyRotation", alias: false, states: USE, symmetric: true;
    DISABLE_KEY_ROTATION = "DisableKeyRotation", alias: false, states: USE, symmetric: true;
    GET_KEY_ROTATION_STATUS = "GetKeyRotationStatus", alias: false, states: ANY;
    SCHEDULE_KEY_DELETION = "ScheduleKeyDeletion", alias: false, states: MANAGE_ANY;
    CANCEL_KEY_DELETION = "CancelKeyDeletion", alias: false, states: &[PendingDeletion, PendingReplicaDeletion];
    CREATE_ALIAS = "CreateAlias", alias: false, states: MANAGE_ANY;
    UPDATE_ALIAS = "UpdateAlias", alias: false, states: MANAGE_ANY;
    LIST_ALIASES = "ListAliases", alias: false, states: ANY;
    TAG_RESOURCE = "TagResource", alias: false, states: MANAGE_ANY;
    UNTAG_RESOURCE = "UntagResource", alias: false, states: MANAGE_ANY;
    LIST_RESOURCE_TAGS = "ListResourceTags", alias: false, states: ANY;
    GET_KEY_POLICY = "GetKeyPolicy", alias: false, states: ANY;
    PUT_KEY_POLICY = "PutKeyPolicy", alias: false, states: MANAGE_ANY;
    LIST_KEY_POLICIES = "ListKeyPolicies", alias: false, states: ANY;
    UPDATE_KEY_DESCRIPTION = "UpdateKeyDescription", alias: false, states: MANAGE_ANY;
    ENCRYPT = "Encrypt", alias: true, states: USE, usage: ED;
    DECRYPT = "Decrypt", alias: true, states: USE, usage: ED;
    RE_ENCRYPT_FROM = "ReEncryptFrom", alias: true, states: USE, usage: ED;
    RE_ENCRYPT_TO = "ReEncryptTo", alias: true, states: USE, usage: ED;
    GENERATE_DATA_KEY = "GenerateDataKey", alias: true, states: USE, usage: ED, symmetric: true;
    GENERATE_DATA_KEY_WITHOUT_PLAINTEXT = "GenerateDataKeyWithoutPlaintext", alias: true, states: USE, usage: ED, symmetric: true;
    GENERATE_DATA_KEY_PAIR = "GenerateDataKeyPair", alias: true, states: USE, usage: ED, symmetric: true;
    GENERATE_DATA_KEY_PAIR_WITHOUT_PLAINTEXT = "GenerateDataKeyPairWithoutPlaintext", alias: true, states: USE, usage: ED, symmetric: true;
    SIGN = "Sign", alias: true, states: USE, usage: SV;
    VERIFY = "Verify", alias: true, states: USE, usage: SV;
    GET_PUBLIC_KEY = "GetPublicKey", alias: true, states: USE, asymmetric: true;
    GENERATE_MAC = "GenerateMac", alias: true, states: USE, usage: MAC;
    VERIFY_MAC = "VerifyMac", alias: true, states: USE, usage: MAC;
    DERIVE_SHARED_SECRET = "DeriveSharedSecret", alias: true, states: USE, usage: KA;
    ENCAPSULATE = "Encapsulate", alias: true, states: USE, usage: KEM;
    DECAPSULATE = "Decapsulate", alias: true, states: USE, usage: KEM;
    REPLICATE_KEY = "ReplicateKey", alias: false, states: MANAGE_ANY;
    UPDATE_PRIMARY_REGION = "UpdatePrimaryRegion", alias: false, states: MANAGE_ANY;
    ROTATE_KEY_ON_DEMAND = "RotateKeyOnDemand", alias: false, states: USE, symmetric: true;
    LIST_KEY_ROTATIONS = "ListKeyRotations", alias: false, states: ANY;
    CREATE_GRANT = "CreateGrant", alias: false, states: MANAGE_ANY;
    LIST_GRANTS = "ListGrants", alias: false, states: ANY;
    RETIRE_GRANT = "RetireGrant", alias: false, states: ANY;
    REVOKE_GRANT = "RevokeGrant", alias: false, states: ANY;
    GET_PARAMETERS_FOR_IMPORT = "GetParametersForImport", alias: false, states: MANAGE_ANY;
    IMPORT_KEY_MATERIAL = "ImportKeyMaterial", alias: false, states: MANAGE_ANY;
    DELETE_IMPORTED_KEY_MATERIAL = "DeleteImportedKeyMaterial", alias: false, states: ANY;
    GET_KEY_LAST_USAGE = "GetKeyLastUsage", alias: false, states: ANY;
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_model::kms::GRANT_OPERATIONS;

    /// CreateGrant checks each grant operation against the key through this table.
    #[test]
    fn every_grant_operation_is_a_key_operation() {
        for name in GRANT_OPERATIONS {
            assert!(by_name(name).is_some(), "{name} is not in ops::ALL");
        }
    }
}
