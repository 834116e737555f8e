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
    /// AWS's `UserId` (for a root caller, the account ID; for an IAM user, `AIDA…`).
    pub user_id: String,
    /// The IAM user the key belongs to; `None` for the account's root user.
    pub user_name: Option<String>,
}

impl Principal {
    /// The root user of an account (partition `aws`; the ARN partition follows the Region at use).
    pub fn root(account_id: &str) -> Self {
        Self {
            account_id: account_id.to_string(),
            arn: format!("arn:aws:iam::{account_id}:root"),
            user_id: account_id.to_string(),
            user_name: None,
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
    /// The IAM user it belongs to; absent for root keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    /// `UpdateAccessKey --status Inactive`: refused at use, kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    inactive: bool,
    /// Epoch milliseconds (0 in records written before it was kept).
    #[serde(default)]
    create_date: i64,
}

struct AccessKey {
    principal: Principal,
    secret: Zeroizing<Vec<u8>>,
    inactive: bool,
    create_date: i64,
    /// Users' keys: when, where and for which service the key last signed a request
    /// (in memory only: GetAccessKeyLastUsed is approximate in AWS too).
    last_used: Option<Arc<parking_lot::Mutex<Option<LastUsed>>>>,
}

/// GetAccessKeyLastUsed's answer for a key that was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    /// Epoch milliseconds.
    pub date: i64,
    /// The signing name of the service (`secretsmanager`).
    pub service: String,
    /// The Region the request was for.
    pub region: String,
}

/// An IAM user's access key as ListAccessKeys shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyMeta {
    /// `AKIA…`.
    pub access_key_id: String,
    /// `UserName`.
    pub user_name: String,
    /// `Active` or `Inactive`.
    pub active: bool,
    /// Epoch milliseconds.
    pub create_date: i64,
}

/// A user's new access key: the only time its secret is shown.
pub struct NewAccessKey {
    /// The key's description.
    pub meta: AccessKeyMeta,
    /// The secret access key.
    pub secret_access_key: Zeroizing<String>,
}

impl std::fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewAccessKey({:?}, <redacted>)", self.meta)
    }
}

/// Access keys one IAM user may have (AWS's quota).
pub const MAX_KEYS_PER_USER: usize = 2;

fn access_key(rec: AccessKeyRecord, secret: Zeroizing<Vec<u8>>) -> AccessKey {
    let is_user = rec.user_name.is_some();
    AccessKey {
        principal: Principal {
            account_id: rec.account_id,
            arn: rec.arn,
            user_id: rec.user_id,
            user_name: rec.user_name,
        },
        secret,
        inactive: rec.inactive,
        create_date: rec.create_date,
        last_used: is_user.then(|| Arc::new(parking_lot::Mutex::new(None))),
    }
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

/// A new long-term access key ID (`AKIA…`) and its secret.
fn new_key_pair() -> Result<(String, Zeroizing<String>), IdentityError> {
    let access_key_id = format!(
        "AKIA{}",
        random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?
    );
    let secret = Zeroizing::new(random_string(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    )?);
    Ok((access_key_id, secret))
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
            keys.insert(rec.access_key_id.clone(), access_key(rec, secret));
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

    /// The caller behind an access key ID and its secret, if known and active.
    pub fn lookup(&self, access_key_id: &str) -> Option<(Principal, Zeroizing<Vec<u8>>)> {
        self.keys
            .read()
            .get(access_key_id)
            .filter(|k| !k.inactive)
            .map(|k| (k.principal.clone(), k.secret.clone()))
    }

    /// Records that a user's key signed a request (GetAccessKeyLastUsed).
    pub fn note_use(&self, access_key_id: &str, service: &str, region: &str, now: i64) {
        let slot = self
            .keys
            .read()
            .get(access_key_id)
            .and_then(|k| k.last_used.clone());
        if let Some(slot) = slot {
            *slot.lock() = Some(LastUsed {
                date: now,
                service: service.to_string(),
                region: region.to_string(),
            });
        }
    }

    /// A user's key: its owner and when it was last used; `None` if it is not a user's key of
    /// `account`.
    pub fn key_last_used(
        &self,
        account: &str,
        access_key_id: &str,
    ) -> Option<(String, Option<LastUsed>)> {
        let keys = self.keys.read();
        let k = keys
            .get(access_key_id)
            .filter(|k| k.principal.account_id == account)?;
        let user = k.principal.user_name.clone()?;
        Some((user, k.last_used.as_ref().and_then(|l| l.lock().clone())))
    }

    /// The access keys of the user `user_name` of `account`, by creation.
    pub fn user_keys(&self, account: &str, user_name: &str) -> Vec<AccessKeyMeta> {
        let keys = self.keys.read();
        let mut out: Vec<AccessKeyMeta> = keys
            .iter()
            .filter(|(_, k)| {
                k.principal.account_id == account
                    && k.principal
                        .user_name
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(user_name))
            })
            .map(|(id, k)| AccessKeyMeta {
                access_key_id: id.clone(),
                user_name: k.principal.user_name.clone().unwrap_or_default(),
                active: !k.inactive,
                create_date: k.create_date,
            })
            .collect();
        out.sort_by(|a, b| {
            (a.create_date, &a.access_key_id).cmp(&(b.create_date, &b.access_key_id))
        });
        out
    }

    fn record_of(&self, id: &str, k: &AccessKey) -> Result<AccessKeyRecord, IdentityError> {
        let wrapped = self
            .root
            .wrap(&aad(id), &k.secret)
            .map_err(|e| IdentityError::Record(e.to_string()))?;
        Ok(AccessKeyRecord {
            v: RECORD_VERSION,
            access_key_id: id.to_string(),
            account_id: k.principal.account_id.clone(),
            arn: k.principal.arn.clone(),
            user_id: k.principal.user_id.clone(),
            wrapped_secret: hex::encode(wrapped),
            user_name: k.principal.user_name.clone(),
            inactive: k.inactive,
            create_date: k.create_date,
        })
    }

    fn store_key(&self, id: &str, k: &AccessKey) -> Result<(), IdentityError> {
        let rec = self.record_of(id, k)?;
        let mut tx = Transaction::new();
        tx.put(
            ACCESS_KEY_TABLE,
            id,
            serde_json::to_vec(&rec).map_err(|e| IdentityError::Record(e.to_string()))?,
        );
        self.store.commit(&tx)?;
        Ok(())
    }

    fn owned_by<'a>(
        keys: &'a HashMap<String, AccessKey>,
        account: &'a str,
        user_name: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a AccessKey)> + 'a {
        keys.iter().filter(move |(_, k)| {
            k.principal.account_id == account
                && k.principal
                    .user_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(user_name))
        })
    }

    /// UpdateUser: puts into `tx` the records of the user `old_name`'s keys as they are once
    /// the user is `new_name` with the ARN `new_arn` (then, once `tx` is stored,
    /// [`Identity::rename_user`] changes memory to match).
    pub fn rename_user_writes(
        &self,
        tx: &mut Transaction,
        account: &str,
        old_name: &str,
        new_name: &str,
        new_arn: &str,
    ) -> Result<(), IdentityError> {
        let keys = self.keys.read();
        for (id, k) in Self::owned_by(&keys, account, old_name) {
            let mut rec = self.record_of(id, k)?;
            rec.user_name = Some(new_name.to_string());
            rec.arn = new_arn.to_string();
            tx.put(
                ACCESS_KEY_TABLE,
                id,
                serde_json::to_vec(&rec).map_err(|e| IdentityError::Record(e.to_string()))?,
            );
        }
        Ok(())
    }

    /// UpdateUser, once stored: the user `old_name`'s keys are `new_name`'s, with its new ARN.
    pub fn rename_user(&self, account: &str, old_name: &str, new_name: &str, new_arn: &str) {
        let mut keys = self.keys.write();
        let ids: Vec<String> = Self::owned_by(&keys, account, old_name)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            if let Some(k) = keys.get_mut(&id) {
                k.principal.user_name = Some(new_name.to_string());
                k.principal.arn = new_arn.to_string();
            }
        }
    }

    /// CreateAccessKey for an IAM user (`user`: its name, ARN and `AIDA…` ID); `Ok(None)` when
    /// the user has [`MAX_KEYS_PER_USER`] keys already.
    pub fn create_user_key(
        &self,
        account: &str,
        user: (&str, &str, &str),
        now: i64,
    ) -> Result<Option<NewAccessKey>, IdentityError> {
        let (name, arn, user_id) = user;
        let mut keys = self.keys.write();
        let owned = keys
            .values()
            .filter(|k| {
                k.principal.account_id == account
                    && k.principal
                        .user_name
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(name))
            })
            .count();
        if owned >= MAX_KEYS_PER_USER {
            return Ok(None);
        }
        let (access_key_id, secret) = new_key_pair()?;
        let key = AccessKey {
            principal: Principal {
                account_id: account.to_string(),
                arn: arn.to_string(),
                user_id: user_id.to_string(),
                user_name: Some(name.to_string()),
            },
            secret: Zeroizing::new(secret.as_bytes().to_vec()),
            inactive: false,
            create_date: now,
            last_used: Some(Arc::new(parking_lot::Mutex::new(None))),
        };
        self.store_key(&access_key_id, &key)?;
        keys.insert(access_key_id.clone(), key);
        Ok(Some(NewAccessKey {
            meta: AccessKeyMeta {
                access_key_id,
                user_name: name.to_string(),
                active: true,
                create_date: now,
            },
            secret_access_key: secret,
        }))
    }

    /// UpdateAccessKey: `false` when the user has no such key.
    pub fn set_key_active(
        &self,
        account: &str,
        user_name: &str,
        access_key_id: &str,
        active: bool,
    ) -> Result<bool, IdentityError> {
        let mut keys = self.keys.write();
        let Some(k) = keys.get_mut(access_key_id).filter(|k| {
            k.principal.account_id == account
                && k.principal
                    .user_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(user_name))
        }) else {
            return Ok(false);
        };
        let before = k.inactive;
        k.inactive = !active;
        let stored = {
            let k = &*k;
            self.store_key(access_key_id, k)
        };
        if let Err(e) = stored {
            if let Some(k) = keys.get_mut(access_key_id) {
                k.inactive = before;
            }
            return Err(e);
        }
        Ok(true)
    }

    /// DeleteAccessKey: `false` when the user has no such key.
    pub fn delete_user_key(
        &self,
        account: &str,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<bool, IdentityError> {
        let mut keys = self.keys.write();
        let owned = keys.get(access_key_id).is_some_and(|k| {
            k.principal.account_id == account
                && k.principal
                    .user_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(user_name))
        });
        if !owned {
            return Ok(false);
        }
        let mut tx = Transaction::new();
        tx.delete(ACCESS_KEY_TABLE, access_key_id);
        self.store.commit(&tx)?;
        keys.remove(access_key_id);
        Ok(true)
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
        let (access_key_id, secret) = new_key_pair()?;
        let key = AccessKey {
            principal: Principal::root(&account_id),
            secret: Zeroizing::new(secret.as_bytes().to_vec()),
            inactive: false,
            create_date: 0,
            last_used: None,
        };
        self.store_key(&access_key_id, &key)?;
        self.keys.write().insert(access_key_id.clone(), key);
        Ok(RootCredentials {
            account_id,
            access_key_id,
            secret_access_key: secret,
        })
    }
}
