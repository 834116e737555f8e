//! The web console's way in (crate `coffer-console`): signing in with an access key, and running
//! operations as the signed-in caller through exactly the dispatch, authorization and audit
//! trail a signed API request goes through. Nothing here renders a page.

use crate::error::{auth_error, ApiError, Protocol};
use crate::sigv4::AuthError;
use crate::{record_json, resolve, serve_json, App, Presented, Recorded};
use coffer_crypto::digest::constant_time_eq;
use coffer_model::ops::Op;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What the audit trail's `userAgent` starts with for a console call.
pub const USER_AGENT: &str = concat!("coffer-console/", env!("CARGO_PKG_VERSION"));

/// A console sign-in. It keeps the access key ID (and a role session's token) but never the
/// secret: every call looks the key up again, so a deleted or deactivated key, or an expired
/// role session, ends the sign-in at its next use.
#[derive(Clone)]
pub struct SignedIn {
    access_key_id: String,
    session_token: Option<Zeroizing<String>>,
    /// The caller's ARN, as `GetCallerIdentity` gives it.
    pub arn: String,
    /// The caller's account.
    pub account_id: String,
    /// When a role session's credentials expire, epoch milliseconds.
    pub expires: Option<i64>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

impl SignedIn {
    /// The caller for one call: the key is looked up again (and must still work); its secret
    /// was proven at sign-in.
    fn caller(
        &self,
        app: &App,
        region: &str,
        service: &str,
        parts: &http::request::Parts,
        protocol: Protocol,
    ) -> Result<crate::Caller, ApiError> {
        let presented = Presented {
            access_key_id: &self.access_key_id,
            session_token: self.session_token.as_deref().map(String::as_str),
            region: region.to_string(),
            service: service.to_string(),
            secure_transport: parts
                .extensions
                .get::<crate::server::ConnInfo>()
                .is_some_and(|c| c.tls),
        };
        resolve(app, &presented, &|_| Ok(())).map_err(|e| auth_error(&e, protocol))
    }
}

/// The request head the audit record sees: the browser's, with a `User-Agent` that starts with
/// [`USER_AGENT`].
fn audited_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut parts = parts.clone();
    let browser = parts
        .headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let agent = format!("{USER_AGENT} {browser}");
    if let Ok(v) = http::HeaderValue::from_str(agent.trim_end()) {
        parts.headers.insert(http::header::USER_AGENT, v);
    }
    parts
}

/// Why a sign-in was refused, in words fit for the sign-in page (never which part was wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInError {
    /// Unknown key, wrong secret, wrong or missing session token, inactive key.
    Invalid,
    /// A role session's credentials that have expired.
    Expired,
    /// The audit trail (failing closed) could not record the sign-in.
    Unrecorded,
}

impl std::fmt::Display for SignInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Invalid => "The access key ID, secret access key or session token is not valid.",
            Self::Expired => "These credentials have expired.",
            Self::Unrecorded => "The sign-in could not be recorded in the audit trail; try again.",
        })
    }
}

/// Checks an access key pair (and a role session's token) as SigV4 verification would, with the
/// secret compared in constant time, and records CloudTrail's `ConsoleLogin` event for it
/// (success or failure; a fail-closed trail that cannot take it refuses the sign-in). In
/// `--dev`, as on the API, an unknown key signs in as its account's root. `login_to` is the
/// page the sign-in leads to.
pub async fn sign_in(
    app: &Arc<App>,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
    parts: &http::request::Parts,
    login_to: &str,
) -> Result<SignedIn, SignInError> {
    let presented = Presented {
        access_key_id,
        session_token,
        region: "us-east-1".into(),
        service: "sts".into(),
        secure_transport: parts
            .extensions
            .get::<crate::server::ConnInfo>()
            .is_some_and(|c| c.tls),
    };
    let verify = |secret: &[u8]| {
        if constant_time_eq(secret, secret_access_key.as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::UnrecognizedClient)
        }
    };
    let resolved = resolve(app, &presented, &verify);
    if let Some(log) = &app.audit {
        let event = crate::audit::console_sign_in(
            app,
            &audited_parts(parts),
            resolved.as_ref().ok(),
            access_key_id,
            login_to,
        );
        let written = tokio::time::timeout(log.wait_timeout(), log.submit(&event)).await;
        if !matches!(written, Ok(Ok(()))) && resolved.is_ok() {
            tracing::warn!("a console sign-in could not be recorded; it is refused");
            return Err(SignInError::Unrecorded);
        }
    }
    let caller = resolved.map_err(|e| match e {
        AuthError::ExpiredToken => SignInError::Expired,
        _ => SignInError::Invalid,
    })?;
    let expires = app.coffer.sts.lookup(access_key_id).map(|s| s.expires);
    Ok(SignedIn {
        access_key_id: access_key_id.to_string(),
        session_token: session_token.map(|t| Zeroizing::new(t.to_string())),
        arn: caller.principal.arn,
        account_id: caller.principal.account_id,
        expires,
    })
}

/// The table of console sessions. It belongs to no service's domain (`follow::DOMAINS`): every
/// node reads a session from the store when a browser presents its cookie, so a sign-in works
/// through any node of a deployment, and writing one makes no node reload a service.
pub const SESSION_TABLE: &str = "console_session";

/// The version of [`SESSION_TABLE`]'s records.
const SESSION_RECORD_VERSION: u32 = 1;

/// A console session as every node of a deployment reads it, keyed by the hex SHA-256 of the
/// cookie's random ID (the ID itself is never stored).
pub struct StoredSession {
    /// Who signed in.
    pub who: SignedIn,
    /// The token every form of the session carries.
    pub csrf: Zeroizing<String>,
    /// When the sign-in happened, epoch milliseconds.
    pub started: i64,
    /// The last request, epoch milliseconds (written at most once a minute).
    pub last_seen: i64,
    /// The Region last chosen.
    pub region: String,
}

/// A stored session's times, for expiry without unwrapping anything.
#[derive(Debug, Clone, Copy)]
pub struct SessionTimes {
    /// When the sign-in happened, epoch milliseconds.
    pub started: i64,
    /// The last request written, epoch milliseconds.
    pub last_seen: i64,
    /// When a role session's credentials expire, epoch milliseconds.
    pub expires: Option<i64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SessionRecord {
    v: u32,
    access_key_id: String,
    arn: String,
    account_id: String,
    #[serde(default)]
    expires: Option<i64>,
    started: i64,
    last_seen: i64,
    region: String,
    /// [`SessionSecrets`] as JSON, wrapped under the root key (hex).
    sealed: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SessionSecrets {
    csrf: String,
    #[serde(default)]
    token: Option<String>,
}

impl Drop for SessionSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.csrf.zeroize();
        if let Some(t) = &mut self.token {
            t.zeroize();
        }
    }
}

/// Why the session store failed (logged; the browser is sent to sign in again).
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// The store refused or failed.
    #[error("store: {0}")]
    Store(#[from] coffer_store::StoreError),
    /// A record could not be encoded, decoded or unwrapped.
    #[error("session record: {0}")]
    Record(String),
    /// The blocking task failed.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn session_aad(key: &str) -> Vec<u8> {
    format!("coffer/console/session/v1/{key}").into_bytes()
}

fn record_err(e: impl std::fmt::Display) -> SessionStoreError {
    SessionStoreError::Record(e.to_string())
}

fn times_of(r: &SessionRecord) -> SessionTimes {
    SessionTimes {
        started: r.started,
        last_seen: r.last_seen,
        expires: r.expires,
    }
}

/// Writes a session (new, or with a new `last_seen` or Region).
pub async fn save_session(
    app: &Arc<App>,
    key: &str,
    s: &StoredSession,
) -> Result<(), SessionStoreError> {
    let secrets = SessionSecrets {
        csrf: s.csrf.to_string(),
        token: s.who.session_token.as_ref().map(|t| t.to_string()),
    };
    let plain = Zeroizing::new(serde_json::to_vec(&secrets).map_err(record_err)?);
    let sealed = app
        .coffer
        .root_key()
        .wrap(&session_aad(key), &plain)
        .map_err(record_err)?;
    let rec = SessionRecord {
        v: SESSION_RECORD_VERSION,
        access_key_id: s.who.access_key_id.clone(),
        arn: s.who.arn.clone(),
        account_id: s.who.account_id.clone(),
        expires: s.who.expires,
        started: s.started,
        last_seen: s.last_seen,
        region: s.region.clone(),
        sealed: hex::encode(sealed),
    };
    let bytes = serde_json::to_vec(&rec).map_err(record_err)?;
    let app = app.clone();
    let key = key.to_string();
    tokio::task::spawn_blocking(move || {
        let mut tx = coffer_store::Transaction::new();
        tx.put(SESSION_TABLE, &key, bytes);
        app.coffer.store().commit(&tx)
    })
    .await??;
    Ok(())
}

/// The session stored under `key`, if any. One that cannot be read (written by a newer
/// version, or wrapped under a root-key generation since retired) is removed: its browser
/// signs in again.
pub async fn load_session(
    app: &Arc<App>,
    key: &str,
) -> Result<Option<StoredSession>, SessionStoreError> {
    let bytes = {
        let app = app.clone();
        let key = key.to_string();
        tokio::task::spawn_blocking(move || app.coffer.store().get(SESSION_TABLE, &key)).await??
    };
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let opened = (|| {
        let rec: SessionRecord = serde_json::from_slice(&bytes).map_err(record_err)?;
        if rec.v != SESSION_RECORD_VERSION {
            return Err(record_err(format!("record version {}", rec.v)));
        }
        let sealed = hex::decode(&rec.sealed).map_err(record_err)?;
        let plain = app
            .coffer
            .root_key()
            .unwrap(&session_aad(key), &sealed)
            .map_err(record_err)?;
        let mut secrets: SessionSecrets = serde_json::from_slice(&plain).map_err(record_err)?;
        Ok::<_, SessionStoreError>(StoredSession {
            who: SignedIn {
                access_key_id: rec.access_key_id,
                session_token: secrets.token.take().map(Zeroizing::new),
                arn: rec.arn,
                account_id: rec.account_id,
                expires: rec.expires,
            },
            csrf: Zeroizing::new(std::mem::take(&mut secrets.csrf)),
            started: rec.started,
            last_seen: rec.last_seen,
            region: rec.region,
        })
    })();
    match opened {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            tracing::warn!(error = %e, "a console session could not be read; it is removed");
            delete_session(app, key).await?;
            Ok(None)
        }
    }
}

/// Removes the session stored under `key` (sign-out, expiry).
pub async fn delete_session(app: &Arc<App>, key: &str) -> Result<(), SessionStoreError> {
    let app = app.clone();
    let key = key.to_string();
    tokio::task::spawn_blocking(move || {
        let mut tx = coffer_store::Transaction::new();
        tx.delete(SESSION_TABLE, &key);
        app.coffer.store().commit(&tx)
    })
    .await??;
    Ok(())
}

/// Removes every stored session `keep` rejects, and beyond `max` the oldest of the rest; says
/// how many were removed.
pub async fn purge_sessions(
    app: &Arc<App>,
    keep: impl Fn(SessionTimes) -> bool + Send + 'static,
    max: usize,
) -> Result<usize, SessionStoreError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let store = app.coffer.store();
        let mut live = Vec::new();
        let mut tx = coffer_store::Transaction::new();
        let mut removed = 0;
        for (key, bytes) in store.scan(SESSION_TABLE)? {
            match serde_json::from_slice::<SessionRecord>(&bytes) {
                Ok(r) if keep(times_of(&r)) => live.push((r.started, key)),
                _ => {
                    tx.delete(SESSION_TABLE, &key);
                    removed += 1;
                }
            }
        }
        if live.len() > max {
            live.sort();
            let excess = live.len() - max;
            for (_, key) in live.drain(..excess) {
                tx.delete(SESSION_TABLE, &key);
                removed += 1;
            }
        }
        if !tx.is_empty() {
            store.commit(&tx)?;
        }
        Ok(removed)
    })
    .await?
}

/// Runs one JSON-protocol operation (KMS, Secrets Manager, CloudTrail) in `region` as the
/// signed-in caller and returns its answer as JSON. Authorization is the API's own; the call is
/// audited with the browser's address and a `userAgent` that starts with [`USER_AGENT`]; a
/// fail-closed trail that cannot take the record fails the call.
pub async fn call(
    app: &Arc<App>,
    who: &SignedIn,
    region: &str,
    op: Op,
    input: &serde_json::Value,
    parts: &http::request::Parts,
) -> Result<serde_json::Value, ApiError> {
    let info = op.info();
    if let Some(fed) = &app.config.federation {
        if !fed.owns(region) {
            return Err(crate::federation::wrong_region(region, Protocol::Json));
        }
    }
    let caller = who.caller(
        app,
        region,
        info.service.signing_name(),
        parts,
        Protocol::Json,
    )?;
    let body = bytes::Bytes::from(
        serde_json::to_vec(input)
            .map_err(|e| ApiError::internal(crate::internal_code(info.service), &e))?,
    );
    let request_id = coffer_crypto::random::request_id();
    let started = std::time::Instant::now();
    let (result, caller) = serve_json(app, op, caller, &body).await;
    crate::metrics::record(
        info.service.signing_name(),
        info.name,
        result.as_ref().err().map_or("ok", |e| e.code),
        started.elapsed(),
    );
    if let Some(log) = &app.audit {
        let parts = audited_parts(parts);
        let target = format!(
            "{}.{}",
            info.service.target_prefix().unwrap_or_default(),
            info.name
        );
        let outcome = Recorded {
            op: Some(op),
            caller: caller.as_ref(),
            ok: result.as_ref().ok(),
            error: result.as_ref().err().map(|e| (e.code, e.message.as_str())),
        };
        record_json(
            app,
            log,
            &parts,
            Some(&body),
            &target,
            &request_id,
            &outcome,
        )
        .await
        .map_err(|(_, e)| e)?;
    }
    let bytes = result?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::internal(crate::internal_code(info.service), &e))
}

/// Whether `name` has the form of a Region name, as a credential scope's Region must.
pub fn is_region(name: &str) -> bool {
    coffer_core::context::is_region_name(name)
}

/// Runs one IAM action (Query protocol) as the signed-in caller and returns its result as JSON
/// with AWS member names (lists as arrays). Authorization, metrics and the audit record are the
/// API's, as for [`call`].
pub async fn call_iam(
    app: &Arc<App>,
    who: &SignedIn,
    op: coffer_model::ops::IamOp,
    params: Vec<(String, String)>,
    parts: &http::request::Parts,
) -> Result<serde_json::Value, ApiError> {
    let caller = who.caller(app, "us-east-1", "iam", parts, Protocol::Query)?;
    let mut params = params;
    params.insert(0, ("Action".into(), op.name().to_string()));
    let parts = audited_parts(parts);
    let app = app.clone();
    let run = move || {
        let request_id = coffer_crypto::random::request_id();
        let started = std::time::Instant::now();
        let (response, json) = if op.info().served {
            crate::iam::handle(&app.coffer, &caller.ctx, op, &params, &request_id, true)
        } else {
            let e = crate::dispatch::unsupported(op.info());
            (
                crate::iam::error_response(e.code, e.status, &e.message, &request_id),
                None,
            )
        };
        crate::metrics::record_request(&format!("iam:{}", op.name()), &response, started.elapsed());
        let error = response
            .extensions()
            .get::<crate::metrics::ErrorCode>()
            .map(|c| ApiError {
                code: c.0,
                status: response.status(),
                message: response
                    .extensions()
                    .get::<crate::ErrorMessage>()
                    .map(|m| m.0.clone())
                    .unwrap_or_default(),
            });
        let ok_status = response.status().is_success();
        if let Some(log) = &app.audit {
            let out = crate::QueryOutcome {
                response,
                label: String::new(),
                action: op.name().to_string(),
                caller: Some(caller),
                ok: json.clone(),
                unsigned: false,
                federated: None,
            };
            let answered = crate::audit_query(&app, log, &parts, &params, &request_id, out);
            if ok_status && !answered.status().is_success() {
                return Err(ApiError::internal("ServiceFailure", &"audit trail"));
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(json.unwrap_or(serde_json::Value::Null)),
        }
    };
    tokio::task::spawn_blocking(run)
        .await
        .map_err(|e| ApiError::internal("ServiceFailure", &e))?
}
