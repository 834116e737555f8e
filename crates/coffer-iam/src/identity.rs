//! Identity: the account Coffer serves and the access keys it accepts. Secret access keys are
//! stored wrapped under the root key and compared only through SigV4 (never echoed).
//!
//! Table `iam_access_key`, key = access key ID.

use coffer_crypto::RootKey;
use coffer_store::{Store, StoreError, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The store table of access keys.
pub const ACCESS_KEY_TABLE: &str = "iam_access_key";
const RECORD_VERSION: u32 = 1;

/// Why identity state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record could not be decoded or unwrapped.
    #[error("identity record: {0}")]
    Record(String),
}

impl IdentityError {
    /// Whether this is a store conflict: the write was decided from state another node had
    /// changed (`coffer_store::epoch`); the caller catches up and runs the operation again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_conflict())
    }
}

/// Who a caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The 12-digit account.
    pub account_id: String,
    /// The caller's ARN, e.g. `arn:aws:iam::123456789012:root`.
    pub arn: String,
    /// AWS's `UserId` (for a root caller, the account ID).
    pub user_id: String,
}

impl Principal {
    /// The root user of an account (partition `aws`; the ARN partition follows the Region at use).
    pub fn root(account_id: &str) -> Self {
        Self {
            account_id: account_id.to_string(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            user_id: account_id.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessKeyRecord {
    v: u32,
    access_key_id: String,
    account_id: String,
    arn: String,
    user_id: String,
    /// Root-key-wrapped secret, hex.
    wrapped_secret: String,
}

struct AccessKey {
    principal: Principal,
    secret: Zeroizing<Vec<u8>>,
}

/// New root credentials made at first start.
pub struct RootCredentials {
    /// The account they belong to.
    pub account_id: String,
    /// Access key ID (`AKIA…`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
}

impl std::fmt::Debug for RootCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RootCredentials({}, {}, <redacted>)",
            self.account_id, self.access_key_id
        )
    }
}

/// Access keys, in memory, loaded from the store.
pub struct Identity {
    store: Arc<dyn Store>,
    root: RootKey,
    keys: parking_lot::RwLock<HashMap<String, AccessKey>>,
}

fn aad(access_key_id: &str) -> Vec<u8> {
    format!("coffer/iam/access-key/v1/{access_key_id}").into_bytes()
}

fn random_string(alphabet: &[u8], n: usize) -> Result<String, IdentityError> {
    let bytes =
        coffer_crypto::random::bytes(n).map_err(|e| IdentityError::Record(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect())
}

impl Identity {
    /// Loads every access key.
    pub fn load(store: Arc<dyn Store>, root: RootKey) -> Result<Self, IdentityError> {
        let mut keys = HashMap::new();
        for (_, bytes) in store.scan(ACCESS_KEY_TABLE)? {
            let rec: AccessKeyRecord =
                serde_json::from_slice(&bytes).map_err(|e| IdentityError::Record(e.to_string()))?;
            let wrapped = hex::decode(&rec.wrapped_secret)
                .map_err(|e| IdentityError::Record(e.to_string()))?;
            let secret = root
                .unwrap(&aad(&rec.access_key_id), &wrapped)
                .map_err(|e| IdentityError::Record(e.to_string()))?;
            keys.insert(
                rec.access_key_id.clone(),
                AccessKey {
                    principal: Principal {
                        account_id: rec.account_id,
                        arn: rec.arn,
                        user_id: rec.user_id,
                    },
                    secret,
                },
            );
        }
        Ok(Self {
            store,
            root,
            keys: parking_lot::RwLock::new(keys),
        })
    }

    /// Re-wraps up to `limit` stored secret keys under the root key's current generation (a
    /// rekey, ADR 0015). The in-memory keys are unwrapped already and do not change.
    pub fn rewrap_batch(
        &self,
        limit: usize,
    ) -> Result<coffer_store::rewrite::Rewritten, IdentityError> {
        let root = &self.root;
        coffer_store::rewrite::rewrite_batch(self.store.as_ref(), ACCESS_KEY_TABLE, limit, |b| {
            let mut rec: AccessKeyRecord =
                serde_json::from_slice(b).map_err(|e| IdentityError::Record(e.to_string()))?;
            let wrapped = hex::decode(&rec.wrapped_secret)
                .map_err(|e| IdentityError::Record(e.to_string()))?;
            match root
                .rewrap(&aad(&rec.access_key_id), &wrapped)
                .map_err(|e| IdentityError::Record(e.to_string()))?
            {
                Some(new) => {
                    rec.wrapped_secret = hex::encode(new);
                    serde_json::to_vec(&rec)
                        .map(Some)
                        .map_err(|e| IdentityError::Record(e.to_string()))
                }
                None => Ok(None),
            }
        })
    }

    /// Stored secret keys still wrapped under an older root-key generation.
    pub fn pending_rewrap(&self) -> Result<usize, IdentityError> {
        coffer_store::rewrite::count_pending(self.store.as_ref(), ACCESS_KEY_TABLE, |b| {
            let rec: AccessKeyRecord =
                serde_json::from_slice(b).map_err(|e| IdentityError::Record(e.to_string()))?;
            let wrapped = hex::decode(&rec.wrapped_secret)
                .map_err(|e| IdentityError::Record(e.to_string()))?;
            Ok(self.root.needs_rewrap(&wrapped))
        })
    }

    /// Reads every access key from the store again (after a state import replaced it).
    pub fn reload(&self) -> Result<(), IdentityError> {
        self.reload_with(&|| Ok(()))
    }

    /// [`Self::reload`] for a follower of other nodes' commits: the write lock is held from
    /// before `mark` (which records what the store holds, see `coffer_store::epoch`) until the
    /// state read after it replaces the old, so no write of this node decides in between.
    pub fn reload_with(
        &self,
        mark: &dyn Fn() -> Result<(), StoreError>,
    ) -> Result<(), IdentityError> {
        let mut keys = self.keys.write();
        mark()?;
        let fresh = Identity::load(self.store.clone(), self.root.clone())?;
        *keys = std::mem::take(&mut *fresh.keys.write());
        Ok(())
    }

    /// An access-key record (as stored, its secret wrapped under `from`) re-wrapped under
    /// `to`: a state file's record moving to another deployment's root key.
    pub fn transfer_record(
        bytes: &[u8],
        from: &RootKey,
        to: &RootKey,
    ) -> Result<Vec<u8>, IdentityError> {
        let err = |e: String| IdentityError::Record(e);
        let mut rec: AccessKeyRecord =
            serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
        let wrapped = hex::decode(&rec.wrapped_secret).map_err(|e| err(e.to_string()))?;
        let aad = aad(&rec.access_key_id);
        let secret = from
            .unwrap(&aad, &wrapped)
            .map_err(|e| err(e.to_string()))?;
        rec.wrapped_secret = hex::encode(to.wrap(&aad, &secret).map_err(|e| err(e.to_string()))?);
        serde_json::to_vec(&rec).map_err(|e| err(e.to_string()))
    }

    /// Forgets in-memory keys (dev reset; the caller clears the store).
    pub fn reset(&self) {
        self.keys.write().clear();
    }

    /// The caller behind an access key ID and its secret, if known.
    pub fn lookup(&self, access_key_id: &str) -> Option<(Principal, Zeroizing<Vec<u8>>)> {
        self.keys
            .read()
            .get(access_key_id)
            .map(|k| (k.principal.clone(), k.secret.clone()))
    }

    /// The account of the first root access key, if any exists.
    pub fn root_credentials(&self) -> Option<RootCredentials> {
        let keys = self.keys.read();
        let mut roots: Vec<(&String, &AccessKey)> = keys
            .iter()
            .filter(|(_, k)| k.principal.arn.ends_with(":root"))
            .collect();
        roots.sort_by(|a, b| a.0.cmp(b.0));
        roots.first().map(|(id, k)| RootCredentials {
            account_id: k.principal.account_id.clone(),
            access_key_id: (*id).clone(),
            secret_access_key: Zeroizing::new(String::from_utf8_lossy(&k.secret).into_owned()),
        })
    }

    /// Makes an account and its root access key unless one exists; returns the credentials.
    /// `account_id` chooses the account, else a random 12-digit one is drawn.
    pub fn ensure_root_credentials(
        &self,
        account_id: Option<&str>,
    ) -> Result<RootCredentials, IdentityError> {
        if let Some(c) = self.root_credentials() {
            return Ok(c);
        }
        let account_id = match account_id {
            Some(a) => a.to_string(),
            None => format!(
                "{}{}",
                random_string(b"123456789", 1)?,
                random_string(b"0123456789", 11)?
            ),
        };
        let access_key_id = format!(
            "AKIA{}",
            random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?
        );
        let secret = Zeroizing::new(random_string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            40,
        )?);
        let principal = Principal::root(&account_id);
        let wrapped = self
            .root
            .wrap(&aad(&access_key_id), secret.as_bytes())
            .map_err(|e| IdentityError::Record(e.to_string()))?;
        let rec = AccessKeyRecord {
            v: RECORD_VERSION,
            access_key_id: access_key_id.clone(),
            account_id: account_id.clone(),
            arn: principal.arn.clone(),
            user_id: principal.user_id.clone(),
            wrapped_secret: hex::encode(wrapped),
        };
        let mut tx = Transaction::new();
        tx.put(
            ACCESS_KEY_TABLE,
            &access_key_id,
            serde_json::to_vec(&rec).map_err(|e| IdentityError::Record(e.to_string()))?,
        );
        self.store.commit(&tx)?;
        self.keys.write().insert(
            access_key_id.clone(),
            AccessKey {
                principal,
                secret: Zeroizing::new(secret.as_bytes().to_vec()),
            },
        );
        Ok(RootCredentials {
            account_id,
            access_key_id,
            secret_access_key: secret,
        })
    }
}
