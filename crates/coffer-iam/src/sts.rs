//! STS sessions: the temporary credentials `AssumeRole`, `GetSessionToken` and
//! `GetFederationToken` issue (ADR 0009, ADR 0018).
//!
//! Table `sts_session`, key = access key ID (`ASIA…`). The secret access key is stored wrapped
//! under the root key, like `iam_access_key`; the session token only as its SHA-256, compared in
//! constant time. Expired sessions are refused at use and deleted by [`Sts::purge_expired`].
//!
//! Record versions: 1 (assumed-role sessions only); 2 adds `origin`, `principal` (the kind of
//! caller the session is), `tags`, `transitive_tag_keys` and `source_identity`, each defaulted so
//! that a version-1 record reads as the assumed-role session it was.

use base64::Engine;
use coffer_core::context::RoleSession;
use coffer_core::Clock;
use coffer_core::PrincipalKind;
use coffer_crypto::{digest, RootKey};
use coffer_model::Timestamp;
use coffer_store::{Store, StoreError, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The store table of STS sessions.
pub const SESSION_TABLE: &str = "sts_session";
const RECORD_VERSION: u32 = 2;

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
    /// Which operation issued it (v2; absent: `AssumeRole`).
    #[serde(default, skip_serializing_if = "Origin::is_assume_role")]
    origin: Origin,
    /// What kind of caller it is (v2; absent: an assumed role): `AssumedRole`, `User`,
    /// `FederatedUser`, or `Root` (the account's root user: no role fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principal: Option<String>,
    /// Session tags, `[key, value]` (v2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<(String, String)>,
    /// Transitive session tag keys (v2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    transitive_tag_keys: Vec<String>,
    /// `SourceIdentity` (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_identity: Option<String>,
}

/// Which STS operation issued a session: what its credentials may not do follows from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// `AssumeRole`, `AssumeRoleWithWebIdentity`: may call anything but `GetSessionToken` and
    /// `GetFederationToken`.
    #[default]
    AssumeRole,
    /// `GetSessionToken`: no IAM operation (without MFA), and of STS only `AssumeRole` and
    /// `GetCallerIdentity`.
    SessionToken,
    /// `GetFederationToken`: no IAM operation, and of STS only `GetCallerIdentity`.
    FederationToken,
}

impl Origin {
    fn is_assume_role(&self) -> bool {
        *self == Origin::AssumeRole
    }
}

fn principal_name(role: Option<&RoleSession>) -> Option<String> {
    let name = match role.map(|r| r.kind) {
        None => "Root",
        Some(PrincipalKind::AssumedRole) => return None,
        Some(PrincipalKind::User) => "User",
        Some(PrincipalKind::FederatedUser) => "FederatedUser",
    };
    Some(name.to_string())
}

/// A session as the authenticator needs it.
#[derive(Clone)]
pub struct Session {
    /// The account the role belongs to.
    pub account_id: String,
    /// Whose permissions the session holds; `None`: the account's root user (its
    /// `GetSessionToken` session).
    pub role: Option<Arc<RoleSession>>,
    /// The role's unique ID (`AROA…`; `UserId` is `ROLE_ID:SESSION_NAME`), or the user's
    /// (`AIDA…`) for a `GetSessionToken` session; empty for others.
    pub role_id: String,
    /// Which operation issued it.
    pub origin: Origin,
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

    /// The ARN callers see: `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION` for an assumed
    /// role, the user's or federated user's ARN, or the account root's.
    pub fn principal_arn(&self) -> String {
        match self.role.as_deref() {
            None => format!("arn:aws:iam::{}:root", self.account_id),
            Some(r) if r.kind == PrincipalKind::AssumedRole => assumed_role_arn(r),
            Some(r) => r.role_arn.clone(),
        }
    }

    /// `GetCallerIdentity`'s `UserId`: `ROLE_ID:SESSION` for an assumed role, the user's ID, the
    /// federated user's `ACCOUNT:NAME`, or the account ID for the root user.
    pub fn user_id(&self) -> String {
        match self.role.as_deref() {
            None => self.account_id.clone(),
            Some(r) => match r.kind {
                PrincipalKind::AssumedRole => format!("{}:{}", self.role_id, r.session_name),
                PrincipalKind::User => self.role_id.clone(),
                PrincipalKind::FederatedUser => {
                    format!("{}:{}", self.account_id, r.session_name)
                }
            },
        }
    }
}

/// `arn:aws:sts::ACCOUNT:federated-user/NAME`.
pub fn federated_user_arn(account: &str, name: &str) -> String {
    format!("arn:aws:sts::{account}:federated-user/{name}")
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

/// The caller a record describes; `None` for the account's root user.
fn role_of(rec: &SessionRecord) -> Result<Option<RoleSession>, StsError> {
    let kind = match rec.principal.as_deref() {
        None | Some("AssumedRole") => PrincipalKind::AssumedRole,
        Some("User") => PrincipalKind::User,
        Some("FederatedUser") => PrincipalKind::FederatedUser,
        Some("Root") => return Ok(None),
        Some(other) => {
            return Err(StsError::Record(format!(
                "session {}: unknown principal kind {other}",
                rec.access_key_id
            )))
        }
    };
    Ok(Some(RoleSession {
        kind,
        role_name: rec.role_name.clone(),
        role_arn: rec.role_arn.clone(),
        session_name: rec.session_name.clone(),
        session_policy: rec.session_policy.clone(),
        via_service: None,
        session_tags: rec.tags.clone(),
        transitive_tag_keys: rec.transitive_tag_keys.clone(),
        source_identity: rec.source_identity.clone(),
    }))
}

fn random_string(alphabet: &[u8], n: usize) -> Result<String, StsError> {
    let bytes = coffer_crypto::random::bytes(n).map_err(record_err)?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect())
}

/// One stored session (`key` names it in errors): its access key ID and the session, its
/// secret unwrapped under `root`.
fn decode(root: &RootKey, key: &str, bytes: &[u8]) -> Result<(String, Session), StsError> {
    let rec: SessionRecord = serde_json::from_slice(bytes).map_err(record_err)?;
    if rec.v == 0 || rec.v > RECORD_VERSION {
        return Err(StsError::Record(format!(
            "{SESSION_TABLE}/{key}: record version {} is not one this Coffer reads",
            rec.v
        )));
    }
    let wrapped = hex::decode(&rec.wrapped_secret).map_err(record_err)?;
    let secret = root
        .unwrap(&aad(&rec.access_key_id), &wrapped)
        .map_err(record_err)?;
    let token_sha256: [u8; 32] = hex::decode(&rec.token_sha256)
        .map_err(record_err)?
        .try_into()
        .map_err(|_| StsError::Record("token digest is not 32 bytes".into()))?;
    let role = role_of(&rec)?.map(Arc::new);
    Ok((
        rec.access_key_id.clone(),
        Session {
            account_id: rec.account_id,
            role,
            role_id: rec.role_id,
            origin: rec.origin,
            secret,
            token_sha256,
            expires: rec.expires,
            issued: rec.issued,
        },
    ))
}

impl Sts {
    /// Loads every session that has not expired.
    pub fn load(
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StsError> {
        let mut sessions = HashMap::new();
        for (key, bytes) in store.scan(SESSION_TABLE)? {
            let (access_key_id, session) = decode(&root, &key, &bytes)?;
            sessions.insert(access_key_id, session);
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

    /// Applies other nodes' commits (in log order) to memory under the write lock, record by
    /// record: those `pending` says memory lacks; `applied` is told the sequence of the last
    /// one. Only the sessions that changed are unwrapped. An error leaves memory partly
    /// updated: the caller then reloads.
    pub fn apply_changes(
        &self,
        changes: &[coffer_store::Change],
        pending: &dyn Fn(&coffer_store::Change) -> bool,
        applied: &dyn Fn(u64),
    ) -> Result<(), StsError> {
        let mut sessions = self.sessions.write();
        let mut last = None;
        for c in changes {
            if c.table != SESSION_TABLE || !pending(c) {
                continue;
            }
            match &c.record {
                Some(r) => {
                    let (access_key_id, session) = decode(&self.root, &c.key, &r.value)?;
                    sessions.insert(access_key_id, session);
                }
                None => {
                    sessions.remove(&c.key);
                }
            }
            last = Some(c.seq);
        }
        if let Some(seq) = last {
            applied(seq);
        }
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

    /// Issues `AssumeRole` credentials for `role` in `account`, valid for `duration_secs`.
    pub fn issue(
        &self,
        account_id: &str,
        role: RoleSession,
        role_id: &str,
        duration_secs: i64,
    ) -> Result<IssuedCredentials, StsError> {
        self.issue_as(
            account_id,
            Some(role),
            Origin::AssumeRole,
            role_id,
            duration_secs,
        )
    }

    /// Issues credentials by `origin` for `role` (`None`: the account's root user) in
    /// `account`, valid for `duration_secs`; `role_id` is the role's or user's unique ID.
    pub fn issue_as(
        &self,
        account_id: &str,
        role: Option<RoleSession>,
        origin: Origin,
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
        let r = role.as_ref();
        let text = |f: fn(&RoleSession) -> &String| r.map(f).cloned().unwrap_or_default();
        let rec = SessionRecord {
            v: RECORD_VERSION,
            access_key_id: access_key_id.clone(),
            account_id: account_id.to_string(),
            role_arn: text(|r| &r.role_arn),
            role_name: text(|r| &r.role_name),
            role_id: role_id.to_string(),
            session_name: text(|r| &r.session_name),
            session_policy: r.and_then(|r| r.session_policy.clone()),
            wrapped_secret: hex::encode(wrapped),
            token_sha256: hex::encode(token_sha256),
            expires,
            issued,
            origin,
            principal: principal_name(r),
            tags: r.map(|r| r.session_tags.clone()).unwrap_or_default(),
            transitive_tag_keys: r.map(|r| r.transitive_tag_keys.clone()).unwrap_or_default(),
            source_identity: r.and_then(|r| r.source_identity.clone()),
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
                role: role.map(Arc::new),
                role_id: role_id.to_string(),
                origin,
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
        RoleSession::assumed_role("app", "arn:aws:iam::123456789012:role/team/app", "job-1")
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
            s.principal_arn(),
            "arn:aws:sts::123456789012:assumed-role/app/job-1"
        );
        assert_eq!(s.user_id(), "AROAEXAMPLE:job-1");
        assert_eq!(s.origin, Origin::AssumeRole);
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

    #[test]
    fn version_1_records_read_as_assumed_role_sessions() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(1_700_000_000_000)));
        let ak = "ASIAOLDRECORD0000";
        let wrapped = root.wrap(&aad(ak), b"secret").unwrap();
        // Exactly what the version-1 code wrote.
        let v1 = serde_json::json!({
            "v": 1, "access_key_id": ak, "account_id": "123456789012",
            "role_arn": "arn:aws:iam::123456789012:role/app", "role_name": "app",
            "role_id": "AROAOLD", "session_name": "s1",
            "wrapped_secret": hex::encode(wrapped),
            "token_sha256": hex::encode(digest::sha256(b"tok")),
            "expires": 1_800_000_000_000i64, "issued": 1_700_000_000_000i64,
        });
        let mut tx = Transaction::new();
        tx.put(SESSION_TABLE, ak, serde_json::to_vec(&v1).unwrap());
        store.commit(&tx).unwrap();
        let sts = Sts::load(store.clone(), root.clone(), clock.clone()).unwrap();
        let s = sts.lookup(ak).unwrap();
        assert_eq!(s.origin, Origin::AssumeRole);
        let r = s.role.as_deref().unwrap();
        assert_eq!(r.kind, PrincipalKind::AssumedRole);
        assert!(r.session_tags.is_empty() && r.source_identity.is_none());
        assert_eq!(
            s.principal_arn(),
            "arn:aws:sts::123456789012:assumed-role/app/s1"
        );
        // A record of a later version is refused, not misread.
        let mut v9 = v1.clone();
        v9["v"] = 9.into();
        let mut tx = Transaction::new();
        tx.put(SESSION_TABLE, ak, serde_json::to_vec(&v9).unwrap());
        store.commit(&tx).unwrap();
        assert!(Sts::load(store, root, clock).is_err());
    }

    #[test]
    fn tags_source_identity_and_kinds_survive_a_reload() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(1_700_000_000_000)));
        let sts = Sts::load(store.clone(), root.clone(), clock.clone()).unwrap();
        let mut r = role();
        r.session_tags = vec![("team".into(), "blue".into()), ("cc".into(), "42".into())];
        r.transitive_tag_keys = vec!["team".into()];
        r.source_identity = Some("alice".into());
        let a = sts.issue("123456789012", r.clone(), "AROAX", 900).unwrap();
        let mut fed = RoleSession::user("bob", &federated_user_arn("123456789012", "proxy"));
        fed.kind = PrincipalKind::FederatedUser;
        fed.session_name = "proxy".into();
        fed.session_policy = Some("{}".into());
        let f = sts
            .issue_as(
                "123456789012",
                Some(fed.clone()),
                Origin::FederationToken,
                "",
                900,
            )
            .unwrap();
        let u = RoleSession::user("bob", "arn:aws:iam::123456789012:user/bob");
        let g = sts
            .issue_as(
                "123456789012",
                Some(u.clone()),
                Origin::SessionToken,
                "AIDABOB",
                900,
            )
            .unwrap();
        let root_s = sts
            .issue_as("123456789012", None, Origin::SessionToken, "", 900)
            .unwrap();
        let again = Sts::load(store, root, clock).unwrap();
        let s = again.lookup(&a.access_key_id).unwrap();
        assert_eq!(s.role.as_deref(), Some(&r));
        let s = again.lookup(&f.access_key_id).unwrap();
        assert_eq!(s.origin, Origin::FederationToken);
        assert_eq!(s.role.as_deref(), Some(&fed));
        assert_eq!(
            s.principal_arn(),
            "arn:aws:sts::123456789012:federated-user/proxy"
        );
        assert_eq!(s.user_id(), "123456789012:proxy");
        let s = again.lookup(&g.access_key_id).unwrap();
        assert_eq!(s.origin, Origin::SessionToken);
        assert_eq!(s.role.as_deref(), Some(&u));
        assert_eq!(s.principal_arn(), "arn:aws:iam::123456789012:user/bob");
        assert_eq!(s.user_id(), "AIDABOB");
        let s = again.lookup(&root_s.access_key_id).unwrap();
        assert!(s.role.is_none());
        assert_eq!(s.principal_arn(), "arn:aws:iam::123456789012:root");
        assert_eq!(s.user_id(), "123456789012");
    }
}
