//! Console sign-ins: a random session ID in an HttpOnly, SameSite=Strict cookie (Secure on TLS),
//! kept here only as its SHA-256; idle and absolute expiry; a per-session CSRF token that every
//! form carries; an `Origin` check on every POST. Sessions live in this process's memory: a
//! restart signs everyone out, and behind a load balancer a browser must stay on one node.

use coffer_crypto::digest::{constant_time_eq, hex_lower, sha256};
use coffer_http::console::SignedIn;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "coffer_console";

/// The `Set-Cookie` value that removes the session cookie.
pub const CLEARED: &str = "coffer_console=; Path=/_coffer/ui; HttpOnly; SameSite=Strict; Max-Age=0";

/// Most sign-ins kept at once; the oldest go first beyond it.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
pub struct Session {
    /// Who signed in.
    pub who: SignedIn,
    csrf: String,
    started: Instant,
    state: Mutex<State>,
}

struct State {
    last_seen: Instant,
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
        self.state.lock().region.clone()
    }

    /// Remembers the Region chosen.
    pub fn set_region(&self, region: &str) {
        self.state.lock().region = region.to_string();
    }
}

/// The sign-ins of this process.
pub struct Sessions {
    idle: Duration,
    max: Duration,
    by_id_hash: Mutex<HashMap<[u8; 32], Arc<Session>>>,
}

impl Sessions {
    /// No sign-ins yet.
    pub fn new(idle: Duration, max: Duration) -> Self {
        Self {
            idle,
            max,
            by_id_hash: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session; gives the `Set-Cookie` value and the session (`None`: the random
    /// source failed, and no session can be made safely).
    pub fn start(
        &self,
        who: SignedIn,
        region: String,
        secure: bool,
    ) -> Option<(String, Arc<Session>)> {
        let id = hex_lower(&coffer_crypto::random::array::<32>().ok()?);
        let csrf = hex_lower(&coffer_crypto::random::array::<32>().ok()?);
        let now = Instant::now();
        let session = Arc::new(Session {
            who,
            csrf,
            started: now,
            state: Mutex::new(State {
                last_seen: now,
                region,
            }),
        });
        let mut map = self.by_id_hash.lock();
        map.retain(|_, s| self.alive(s, now));
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(sha256(id.as_bytes()), session.clone());
        let max_age = self.max.as_secs();
        let secure = if secure { "; Secure" } else { "" };
        Some((
            format!("{COOKIE}={id}; Path=/_coffer/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"),
            session,
        ))
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        let expired_creds = s.who.expires.is_some_and(|e| e <= now_millis());
        now.duration_since(s.started) < self.max
            && now.duration_since(s.state.lock().last_seen) < self.idle
            && !expired_creds
    }

    /// The live session a request's cookie names, marked as just used.
    pub fn of_request(&self, headers: &http::HeaderMap) -> Option<Arc<Session>> {
        let id = cookie(headers)?;
        let key = sha256(id.as_bytes());
        let now = Instant::now();
        let mut map = self.by_id_hash.lock();
        let session = map.get(&key)?.clone();
        if !self.alive(&session, now) {
            map.remove(&key);
            return None;
        }
        session.state.lock().last_seen = now;
        Some(session)
    }

    /// Ends the session a request's cookie names.
    pub fn end(&self, headers: &http::HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.by_id_hash.lock().remove(&sha256(id.as_bytes()));
        }
    }
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
