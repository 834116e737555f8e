//! Console sign-ins: a random session ID in an HttpOnly, SameSite=Strict cookie (Secure on TLS);
//! idle and absolute expiry; a per-session CSRF token that every form carries; an `Origin`
//! check on every POST. Sessions are records in the deployment's store, keyed by the ID's
//! SHA-256 (`coffer_http::console::SESSION_TABLE`, the CSRF token and a role session's token
//! wrapped under the root key): a sign-in works through every node behind a load balancer,
//! survives a restart, and a sign-out on one node ends it on all.

use coffer_crypto::digest::{constant_time_eq, hex_lower, sha256};
use coffer_http::console::{self as door, SessionTimes, SignedIn, StoredSession};
use coffer_http::App;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// The cookie's name.
pub const COOKIE: &str = "coffer_console";

/// The `Set-Cookie` value that removes the session cookie.
pub const CLEARED: &str = "coffer_console=; Path=/_coffer/ui; HttpOnly; SameSite=Strict; Max-Age=0";

/// Most sign-ins kept at once; the oldest go first beyond it.
const MAX_SESSIONS: usize = 10_000;

/// A session's last request is written at most this often (or a quarter of the idle timeout,
/// if shorter): idle expiry is this coarse.
const TOUCH_EVERY_MS: i64 = 60_000;

/// One signed-in browser, as read for one request.
pub struct Session {
    /// Who signed in.
    pub who: SignedIn,
    key: String,
    csrf: Zeroizing<String>,
    started: i64,
    last_seen: i64,
    region: String,
}

impl Session {
    /// The token every form of this session carries.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether a form's token is this session's (compared in constant time).
    pub fn csrf_ok(&self, token: &str) -> bool {
        constant_time_eq(token.as_bytes(), self.csrf.as_bytes())
    }

    /// The Region last chosen.
    pub fn region(&self) -> String {
        self.region.clone()
    }

    fn stored(&self, last_seen: i64, region: &str) -> StoredSession {
        StoredSession {
            who: self.who.clone(),
            csrf: self.csrf.clone(),
            started: self.started,
            last_seen,
            region: region.to_string(),
        }
    }
}

/// The deployment's sign-ins.
pub struct Sessions {
    app: Arc<App>,
    idle: Duration,
    max: Duration,
}

impl Sessions {
    /// Sign-ins kept in `app`'s store.
    pub fn new(app: Arc<App>, idle: Duration, max: Duration) -> Self {
        Self { app, idle, max }
    }

    /// Starts a session; gives the `Set-Cookie` value (`None`: the random source or the store
    /// failed, and no session could be made).
    pub async fn start(&self, who: SignedIn, region: String, secure: bool) -> Option<String> {
        let id = hex_lower(&coffer_crypto::random::array::<32>().ok()?);
        let csrf = Zeroizing::new(hex_lower(&coffer_crypto::random::array::<32>().ok()?));
        let now = now_millis();
        let (idle, max) = (self.idle, self.max);
        if let Err(e) = door::purge_sessions(
            &self.app,
            move |t| alive(idle, max, t, now),
            MAX_SESSIONS - 1,
        )
        .await
        {
            tracing::warn!(error = %e, "expired console sessions could not be removed");
        }
        let stored = StoredSession {
            who,
            csrf,
            started: now,
            last_seen: now,
            region,
        };
        if let Err(e) = door::save_session(&self.app, &key_of(&id), &stored).await {
            tracing::warn!(error = %e, "a console session could not be stored");
            return None;
        }
        let max_age = self.max.as_secs();
        let secure = if secure { "; Secure" } else { "" };
        Some(format!(
            "{COOKIE}={id}; Path=/_coffer/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
    }

    /// The live session a request's cookie names, marked as just used.
    pub async fn of_request(&self, headers: &http::HeaderMap) -> Option<Arc<Session>> {
        let key = key_of(&cookie(headers)?);
        let stored = match door::load_session(&self.app, &key).await {
            Ok(s) => s?,
            Err(e) => {
                tracing::warn!(error = %e, "a console session could not be read");
                return None;
            }
        };
        let now = now_millis();
        let times = SessionTimes {
            started: stored.started,
            last_seen: stored.last_seen,
            expires: stored.who.expires,
        };
        if !alive(self.idle, self.max, times, now) {
            if let Err(e) = door::delete_session(&self.app, &key).await {
                tracing::warn!(error = %e, "an expired console session could not be removed");
            }
            return None;
        }
        let session = Session {
            who: stored.who,
            key,
            csrf: stored.csrf,
            started: stored.started,
            last_seen: stored.last_seen,
            region: stored.region,
        };
        let touch_every = TOUCH_EVERY_MS.min(i64::try_from(self.idle.as_millis() / 4).unwrap_or(0));
        if now - session.last_seen >= touch_every {
            let touched = session.stored(now, &session.region);
            if let Err(e) = door::save_session(&self.app, &session.key, &touched).await {
                tracing::warn!(error = %e, "a console session's last use could not be stored");
            }
        }
        Some(Arc::new(session))
    }

    /// Remembers the Region chosen (written only when it changes).
    pub async fn set_region(&self, session: &Session, region: &str) {
        if session.region == region {
            return;
        }
        let changed = session.stored(session.last_seen.max(now_millis()), region);
        if let Err(e) = door::save_session(&self.app, &session.key, &changed).await {
            tracing::warn!(error = %e, "a console session's Region could not be stored");
        }
    }

    /// Ends the session a request's cookie names.
    pub async fn end(&self, headers: &http::HeaderMap) {
        if let Some(id) = cookie(headers) {
            if let Err(e) = door::delete_session(&self.app, &key_of(&id)).await {
                tracing::warn!(error = %e, "a console session could not be removed");
            }
        }
    }
}

/// Whether a session with these times is still good at `now` (epoch milliseconds).
fn alive(idle: Duration, max: Duration, t: SessionTimes, now: i64) -> bool {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    now.saturating_sub(t.started) < ms(max)
        && now.saturating_sub(t.last_seen) < ms(idle)
        && t.expires.is_none_or(|e| e > now)
}

/// The store key of a cookie's ID: its SHA-256, hex.
fn key_of(id: &str) -> String {
    hex_lower(&sha256(id.as_bytes()))
}

fn now_millis() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64)
}

/// A POST is from the console's own pages: its `Origin` (sent by every current browser on a
/// POST) names this host, and `Sec-Fetch-Site`, when sent, says same-origin.
pub fn same_origin(headers: &http::HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match (get("origin"), get("host")) {
        (Some(origin), Some(host)) => {
            let without_scheme = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            without_scheme == Some(host)
        }
        (Some(_), None) => false,
        // A client that sends no Origin is not a browser following a cross-site form.
        (None, _) => true,
    }
}
