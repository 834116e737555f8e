//! STS sessions: the temporary credentials `AssumeRole` issues (ADR 0009).
//!
//! Table `sts_session`, key = access key ID (`ASIA…`). The secret access key is stored wrapped
//! under the root key, like `iam_access_key`; the session token only as its SHA-256, compared in
//! constant time. Expired sessions are refused at use and deleted by [`Sts::purge_expired`].

use base64::Engine;
use coffer_core::context::RoleSession;
use coffer_core::Clock;
use coffer_crypto::{digest, RootKey};
use coffer_model::Timestamp;
use coffer_store::{Store, StoreError, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The store table of STS sessions.
pub const SESSION_TABLE: &str = "sts_session";
const RECORD_VERSION: u32 = 1;

/// Why session state could not be read or written. Text for operators' logs.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A record could not be encoded, decoded or unwrapped, or randomness failed.
    #[error("sts session record: {0}")]
    Record(String),
}

impl StsError {
    /// Whether this is a store conflict: the write was decided from state another node had
    /// changed (`coffer_store::epoch`); the caller catches up and runs the operation again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_conflict())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    v: u32,
    access_key_id: String,
    account_id: String,
    role_arn: String,
    role_name: String,
    role_id: String,
    session_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_policy: Option<String>,
    /// Root-key-wrapped secret access key, hex.
    wrapped_secret: String,
    /// SHA-256 of the session token, hex.
    token_sha256: String,
    /// Expiry, epoch milliseconds.
    expires: i64,
    /// When it was issued, epoch milliseconds (0 in records written before it was kept).
    #[serde(default)]
    issued: i64,
}

/// A session as the authenticator needs it.
#[derive(Clone)]
pub struct Session {
    /// The account the role belongs to.
    pub account_id: String,
    /// Whose permissions the session holds.
    pub role: Arc<RoleSession>,
    /// The role's unique ID (`AROA…`); `UserId` is `ROLE_ID:SESSION_NAME`.
    pub role_id: String,
    /// The secret access key, to verify signatures with.
    pub secret: Zeroizing<Vec<u8>>,
    token_sha256: [u8; 32],
    /// Expiry, epoch milliseconds.
    pub expires: i64,
    /// When it was issued, epoch milliseconds (CloudTrail's `sessionContext.attributes.creationDate`).
    pub issued: i64,
}

impl Session {
    /// Whether `token` is this session's token (constant time).
    pub fn token_matches(&self, token: &str) -> bool {
        digest::constant_time_eq(&digest::sha256(token.as_bytes()), &self.token_sha256)
    }

    /// The assumed-role ARN callers see: `arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION`.
    pub fn assumed_role_arn(&self) -> String {
        assumed_role_arn(&self.role)
    }
}

/// `arn:…:sts::ACCOUNT:assumed-role/ROLE_NAME/SESSION_NAME` for a role session.
pub fn assumed_role_arn(role: &RoleSession) -> String {
    let mut parts = role.role_arn.splitn(6, ':');
    let partition = parts.nth(1).unwrap_or("aws");
    let account = parts.nth(2).unwrap_or_default();
    format!(
        "arn:{partition}:sts::{account}:assumed-role/{}/{}",
        role.role_name, role.session_name
    )
}

/// Credentials just issued; the only time the secret and the token exist in clear.
pub struct IssuedCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// The session token the caller sends as `X-Amz-Security-Token`.
    pub session_token: Zeroizing<String>,
    /// When they stop working.
    pub expiration: Timestamp,
}

impl std::fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedCredentials({}, <redacted>)", self.access_key_id)
    }
}

/// Every live session, in memory, written through to the store.
pub struct Sts {
    store: Arc<dyn Store>,
    root: RootKey,
    clock: Arc<dyn Clock>,
    sessions: parking_lot::RwLock<HashMap<String, Session>>,
}

impl std::fmt::Debug for Sts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sts({} sessions)", self.sessions.read().len())
    }
}

fn aad(access_key_id: &str) -> Vec<u8> {
    format!("coffer/sts/session/v1/{access_key_id}").into_bytes()
}

fn record_err(e: impl std::fmt::Display) -> StsError {
    StsError::Record(e.to_string())
}

fn random_string(alphabet: &[u8], n: usize) -> Result<String, StsError> {
    let bytes = coffer_crypto::random::bytes(n).map_err(record_err)?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect())
}

impl Sts {
    /// Loads every session that has not expired.
    pub fn load(
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StsError> {
        let mut sessions = HashMap::new();
        for (_, bytes) in store.scan(SESSION_TABLE)? {
            let rec: SessionRecord = serde_json::from_slice(&bytes).map_err(record_err)?;
            let wrapped = hex::decode(&rec.wrapped_secret).map_err(record_err)?;
            let secret = root
                .unwrap(&aad(&rec.access_key_id), &wrapped)
                .map_err(record_err)?;
            let token_sha256: [u8; 32] = hex::decode(&rec.token_sha256)
                .map_err(record_err)?
                .try_into()
                .map_err(|_| StsError::Record("token digest is not 32 bytes".into()))?;
            sessions.insert(
                rec.access_key_id.clone(),
                Session {
                    account_id: rec.account_id,
                    role: Arc::new(RoleSession {
                        kind: coffer_core::PrincipalKind::AssumedRole,
                        role_name: rec.role_name,
                        role_arn: rec.role_arn,
                        session_name: rec.session_name,
                        session_policy: rec.session_policy,
                        via_service: None,
                    }),
                    role_id: rec.role_id,
                    secret,
                    token_sha256,
                    expires: rec.expires,
                    issued: rec.issued,
                },
            );
        }
        Ok(Self {
            store,
            root,
            clock,
            sessions: parking_lot::RwLock::new(sessions),
        })
    }

    /// Reads every session from the store again (after a state import replaced it).
    pub fn reload(&self) -> Result<(), StsError> {
        self.reload_with(&|| Ok(()))
    }

    /// [`Self::reload`] for a follower of other nodes' commits: the write lock is held from
    /// before `mark` (which records what the store holds, see `coffer_store::epoch`) until the
    /// state read after it replaces the old, so no write of this node decides in between.
    pub fn reload_with(&self, mark: &dyn Fn() -> Result<(), StoreError>) -> Result<(), StsError> {
        let mut sessions = self.sessions.write();
        mark()?;
        let fresh = Sts::load(self.store.clone(), self.root.clone(), self.clock.clone())?;
        *sessions = std::mem::take(&mut *fresh.sessions.write());
        Ok(())
    }

    /// A session record (as stored, its secret wrapped under `from`) re-wrapped under `to`: a
    /// state file's record moving to another deployment's root key.
    pub fn transfer_record(
        bytes: &[u8],
        from: &RootKey,
        to: &RootKey,
    ) -> Result<Vec<u8>, StsError> {
        let mut rec: SessionRecord = serde_json::from_slice(bytes).map_err(record_err)?;
        let wrapped = hex::decode(&rec.wrapped_secret).map_err(record_err)?;
        let aad = aad(&rec.access_key_id);
        let secret = from.unwrap(&aad, &wrapped).map_err(record_err)?;
        rec.wrapped_secret = hex::encode(to.wrap(&aad, &secret).map_err(record_err)?);
        serde_json::to_vec(&rec).map_err(record_err)
    }

    /// Forgets every session (dev reset; the caller clears the store).
    pub fn reset(&self) {
        self.sessions.write().clear();
    }

    /// The session behind an access key ID, expired or not (the caller checks `expires`).
    pub fn lookup(&self, access_key_id: &str) -> Option<Session> {
        self.sessions.read().get(access_key_id).cloned()
    }

    /// Issues credentials for `role` in `account`, valid for `duration_secs`.
    pub fn issue(
        &self,
        account_id: &str,
        role: RoleSession,
        role_id: &str,
        duration_secs: i64,
    ) -> Result<IssuedCredentials, StsError> {
        let access_key_id = format!(
            "ASIA{}",
            random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?
        );
        let secret = Zeroizing::new(random_string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            40,
        )?);
        let token_bytes = coffer_crypto::random::bytes(96).map_err(record_err)?;
        let token = Zeroizing::new(format!(
            "Cof{}",
            base64::engine::general_purpose::STANDARD.encode(token_bytes.as_slice())
        ));
        let token_sha256 = digest::sha256(token.as_bytes());
        let issued = self.clock.now().millis;
        let expires = issued + duration_secs * 1000;
        let wrapped = self
            .root
            .wrap(&aad(&access_key_id), secret.as_bytes())
            .map_err(record_err)?;
        let rec = SessionRecord {
            v: RECORD_VERSION,
            access_key_id: access_key_id.clone(),
            account_id: account_id.to_string(),
            role_arn: role.role_arn.clone(),
            role_name: role.role_name.clone(),
            role_id: role_id.to_string(),
            session_name: role.session_name.clone(),
            session_policy: role.session_policy.clone(),
            wrapped_secret: hex::encode(wrapped),
            token_sha256: hex::encode(token_sha256),
            expires,
            issued,
        };
        let mut tx = Transaction::new();
        tx.put(
            SESSION_TABLE,
            &access_key_id,
            serde_json::to_vec(&rec).map_err(record_err)?,
        );
        self.store.commit(&tx)?;
        self.sessions.write().insert(
            access_key_id.clone(),
            Session {
                account_id: account_id.to_string(),
                role: Arc::new(role),
                role_id: role_id.to_string(),
                secret: Zeroizing::new(secret.as_bytes().to_vec()),
                token_sha256,
                expires,
                issued,
            },
        );
        Ok(IssuedCredentials {
            access_key_id,
            secret_access_key: secret,
            session_token: token,
            expiration: Timestamp::from_millis(expires),
        })
    }

    /// Re-wraps up to `limit` stored session secrets under the root key's current generation
    /// (a rekey, ADR 0015). A session deleted meanwhile is never brought back.
    pub fn rewrap_batch(&self, limit: usize) -> Result<coffer_store::rewrite::Rewritten, StsError> {
        let root = &self.root;
        coffer_store::rewrite::rewrite_batch(self.store.as_ref(), SESSION_TABLE, limit, |b| {
            let mut rec: SessionRecord = serde_json::from_slice(b).map_err(record_err)?;
            let wrapped = hex::decode(&rec.wrapped_secret).map_err(record_err)?;
            match root
                .rewrap(&aad(&rec.access_key_id), &wrapped)
                .map_err(record_err)?
            {
                Some(new) => {
                    rec.wrapped_secret = hex::encode(new);
                    serde_json::to_vec(&rec).map(Some).map_err(record_err)
                }
                None => Ok(None),
            }
        })
    }

    /// Stored session secrets still wrapped under an older root-key generation.
    pub fn pending_rewrap(&self) -> Result<usize, StsError> {
        coffer_store::rewrite::count_pending(self.store.as_ref(), SESSION_TABLE, |b| {
            let rec: SessionRecord = serde_json::from_slice(b).map_err(record_err)?;
            let wrapped = hex::decode(&rec.wrapped_secret).map_err(record_err)?;
            Ok(self.root.needs_rewrap(&wrapped))
        })
    }

    /// Deletes sessions that expired; returns how many.
    pub fn purge_expired(&self) -> Result<usize, StsError> {
        let now = self.clock.now().millis;
        let expired: Vec<String> = self
            .sessions
            .read()
            .iter()
            .filter(|(_, s)| s.expires <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let mut tx = Transaction::new();
        for k in &expired {
            tx.delete(SESSION_TABLE, k);
        }
        self.store.commit(&tx)?;
        let mut sessions = self.sessions.write();
        for k in &expired {
            sessions.remove(k);
        }
        Ok(expired.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use coffer_store::MemoryStore;
    use std::sync::atomic::{AtomicI64, Ordering};

    struct TestClock(AtomicI64);
    impl Clock for TestClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    fn role() -> RoleSession {
        RoleSession {
            kind: coffer_core::PrincipalKind::AssumedRole,
            role_name: "app".into(),
            role_arn: "arn:aws:iam::123456789012:role/team/app".into(),
            session_name: "job-1".into(),
            session_policy: None,
            via_service: None,
        }
    }

    #[test]
    fn issue_lookup_reload_expire() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(1_700_000_000_000)));
        let sts = Sts::load(store.clone(), root.clone(), clock.clone()).unwrap();
        let creds = sts
            .issue("123456789012", role(), "AROAEXAMPLE", 900)
            .unwrap();
        assert!(creds.access_key_id.starts_with("ASIA"));
        assert!(!format!("{creds:?}").contains(creds.secret_access_key.as_str()));
        let s = sts.lookup(&creds.access_key_id).unwrap();
        assert!(s.token_matches(&creds.session_token));
        assert!(!s.token_matches("other"));
        assert_eq!(s.secret.as_slice(), creds.secret_access_key.as_bytes());
        assert_eq!(
            s.assumed_role_arn(),
            "arn:aws:sts::123456789012:assumed-role/app/job-1"
        );
        // The store holds neither the secret nor the token.
        for (_, bytes) in store.scan(SESSION_TABLE).unwrap() {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(creds.secret_access_key.as_str()));
            assert!(!text.contains(creds.session_token.as_str()));
        }
        let again = Sts::load(store.clone(), root, clock.clone()).unwrap();
        assert!(again
            .lookup(&creds.access_key_id)
            .unwrap()
            .token_matches(&creds.session_token));
        assert_eq!(sts.purge_expired().unwrap(), 0);
        clock.0.fetch_add(900_000, Ordering::SeqCst);
        assert_eq!(sts.purge_expired().unwrap(), 1);
        assert!(sts.lookup(&creds.access_key_id).is_none());
        assert!(store.scan(SESSION_TABLE).unwrap().is_empty());
    }
}
