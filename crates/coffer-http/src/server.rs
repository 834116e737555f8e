//! The network server: listeners, TLS (with reload), HTTP/1.1 and HTTP/2 (hyper-util's auto
//! connection builder, ALPN over TLS, prior knowledge in clear), connection and request limits,
//! load shedding, the health and admin endpoints, and graceful shutdown.
//!
//! Limits, and what each one defends against:
//! * `max_connections` (a semaphore around `accept`): beyond it, new connections wait in the
//!   kernel's backlog until one closes; they are not accepted and then starved.
//! * `read_timeout`: the TLS handshake and a request's headers (hyper's `header_read_timeout`) and
//!   body must arrive within it: a slow-loris client is cut off.
//! * `idle_timeout`: a connection with no request in flight for this long is closed, so idle
//!   connections cannot pile up to `max_connections` for ever.
//! * `max_header_bytes` (HTTP/1.1 head and HTTP/2 header list) and `max_body_bytes`.
//! * `max_concurrent_requests` (tower's `ConcurrencyLimit` under `LoadShed`): a request beyond
//!   it is answered at once with AWS's throttling error (`ThrottlingException` for JSON,
//!   `Throttling` for Query), which the SDKs retry with back-off, instead of being queued without
//!   bound.

use crate::error::{ApiError, Protocol};
use crate::metrics::Metrics;
use crate::tls::TlsState;
use crate::App;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceBuilder, ServiceExt};

/// How the connection a request came on was made: a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The connection is TLS (`aws:SecureTransport`).
    pub tls: bool,
    /// TLS: the protocol version, as CloudTrail's `tlsDetails` names it (`TLSv1.3`).
    pub tls_version: Option<&'static str>,
    /// TLS: the cipher suite, as CloudTrail's `tlsDetails` names it (`TLS_AES_128_GCM_SHA256`).
    pub cipher_suite: Option<&'static str>,
}

/// The certificate chain a TLS client presented (and the listener verified), leaf first: a
/// request extension, present only when there was one. Federation endpoints check it against
/// the federation CA (ADR 0021).
#[derive(Debug, Clone)]
pub struct ClientCertificates(pub Arc<Vec<rustls_pki_types::CertificateDer<'static>>>);

/// Connection and request limits (see the module documentation).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request head (HTTP/1.1) or header list (HTTP/2), in bytes.
    pub max_header_bytes: usize,
    /// Requests served at once; more are throttled.
    pub max_concurrent_requests: usize,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// HTTP/2 streams one connection may have open at once.
    pub max_streams_per_connection: u32,
    /// The TLS handshake and a request's headers must arrive within this.
    pub read_timeout: Duration,
    /// A connection without a request in flight for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_concurrent_requests: 1024,
            max_connections: 4096,
            max_streams_per_connection: 128,
            read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The scheduler's last run, as the binary's scheduler loop reports it (for `coffer status`).
#[derive(Debug, Default)]
pub struct SchedulerState {
    /// Seconds between runs.
    pub interval_secs: AtomicU64,
    /// A run is going on now.
    pub running: AtomicBool,
    /// Unix milliseconds when the last run finished (0: none yet).
    pub last_run_ms: AtomicI64,
    /// How long the last run took, in milliseconds.
    pub last_duration_ms: AtomicU64,
    /// How late the last run started against its schedule, in milliseconds.
    pub last_lag_ms: AtomicU64,
    /// The last run failed.
    pub last_failed: AtomicBool,
    /// Runs so far.
    pub runs: AtomicU64,
}

/// What the operator endpoints (health, status, metrics) read.
pub struct Ops {
    /// The services.
    pub app: Arc<App>,
    /// The recorder, when metrics are on.
    pub metrics: Option<Arc<Metrics>>,
    /// Cancelled when the server begins to shut down (readiness then fails).
    pub stopping: CancellationToken,
    /// When the server started.
    pub started: Instant,
    /// `CARGO_PKG_VERSION` of the binary.
    pub version: &'static str,
    /// The git commit, or `unknown`.
    pub commit: &'static str,
    /// What the store is, e.g. `sqlite`.
    pub store_kind: &'static str,
    /// Whether the API listener speaks TLS.
    pub tls: bool,
    /// The scheduler's state.
    pub scheduler: Arc<SchedulerState>,
    /// Persists the root keyring through the seal, for `POST /_coffer/admin/rekey` (`None`:
    /// rekey is not offered).
    pub persist_keyring: Option<Arc<crate::services::PersistKeyring>>,
    /// The state file's codec, for `POST /_coffer/state/export|import` in `--dev` (`None`:
    /// not offered).
    pub state: Option<Arc<StateHooks>>,
    /// Writes the state as a seed file, for `GET /_coffer/admin/seed` (`None`: not offered).
    pub seed_export: Option<Arc<SeedExport>>,
}

/// The current state as a seed file (YAML), with secret values when asked.
pub type SeedExport = dyn Fn(&crate::Coffer, bool) -> Result<String, String> + Send + Sync;

/// A passphrase given with a state call (`x-coffer-state-passphrase`), `None` when absent.
pub type StatePassphrase = Option<zeroize::Zeroizing<String>>;

/// Writes the running deployment's state file.
pub type StateExport =
    dyn Fn(&crate::Coffer, StatePassphrase) -> Result<Vec<u8>, StateFault> + Send + Sync;

/// Replaces the running deployment's state with a state file's; answers a JSON summary.
pub type StateImport = dyn Fn(&crate::Coffer, &[u8], StatePassphrase) -> Result<serde_json::Value, StateFault>
    + Send
    + Sync;

/// What `POST /_coffer/state/export|import` call (the binary knows the file format).
pub struct StateHooks {
    /// `export`.
    pub export: Box<StateExport>,
    /// `import`.
    pub import: Box<StateImport>,
}

/// A refused state call.
#[derive(Debug, Clone)]
pub struct StateFault {
    /// The error code (`__type`).
    pub code: &'static str,
    /// The caller is at fault (400), else the server (500).
    pub client: bool,
    /// One line, never holding a passphrase or a secret.
    pub message: String,
}

/// The header a state call's passphrase may come in.
pub const STATE_PASSPHRASE_HEADER: &str = "x-coffer-state-passphrase";

/// The largest state file `POST /_coffer/state/import` reads.
const MAX_STATE_BYTES: usize = 512 * 1024 * 1024;

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").finish_non_exhaustive()
    }
}

/// The API listener's routes: the AWS APIs (throttled beyond `max_concurrent_requests`), the
/// health probes, the signed admin status endpoint, and `/metrics` when `with_metrics`.
pub fn api_router(ops: Arc<Ops>, limits: &Limits, with_metrics: bool) -> Router {
    let api = crate::router(ops.app.clone()).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(overloaded))
            .load_shed()
            .concurrency_limit(limits.max_concurrent_requests.max(1)),
    );
    let mut r = Router::new()
        .route("/_coffer/health/live", get(live))
        .route("/_coffer/health/ready", get(ready))
        .route("/_coffer/admin/status", get(status))
        .route("/_coffer/admin/rekey", axum::routing::post(rekey))
        .route("/_coffer/admin/seed", get(seed_export))
        .route("/_coffer/state/export", axum::routing::post(state_export))
        .route("/_coffer/state/import", axum::routing::post(state_import));
    if with_metrics {
        r = r.route("/metrics", get(metrics));
    }
    r.with_state(ops).merge(api)
}

/// The routes of a separate metrics listener (`[metrics] listen`): `/metrics` and the probes.
pub fn metrics_router(ops: Arc<Ops>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/_coffer/health/live", get(live))
        .route("/_coffer/health/ready", get(ready))
        .with_state(ops)
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut resp = (status, value.to_string()).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn live() -> Response {
    json(StatusCode::OK, &serde_json::json!({"status": "live"}))
}

/// 200 when the store answers, the root key is loaded (the services opened with it) and the
/// server is not shutting down; 503 with the reason otherwise.
async fn ready(State(ops): State<Arc<Ops>>) -> Response {
    if ops.stopping.is_cancelled() {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "not-ready", "reason": "shutting down"}),
        );
    }
    let coffer = ops.app.coffer.clone();
    let check = tokio::task::spawn_blocking(move || coffer.check_store());
    match tokio::time::timeout(Duration::from_secs(5), check).await {
        Ok(Ok(Ok(()))) => json(StatusCode::OK, &serde_json::json!({"status": "ready"})),
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "readiness: the store does not answer");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"status": "not-ready", "reason": "store unavailable"}),
            )
        }
        _ => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "not-ready", "reason": "store check timed out"}),
        ),
    }
}

async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    let Some(m) = ops.metrics.clone() else {
        return (StatusCode::NOT_FOUND, "metrics are off\n").into_response();
    };
    let coffer = ops.app.coffer.clone();
    match tokio::task::spawn_blocking(move || m.render(&coffer)).await {
        Ok(text) => {
            let mut resp = (StatusCode::OK, text).into_response();
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics failed\n").into_response()
        }
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `GET /_coffer/admin/status`, SigV4-signed (service `coffer`) by an account's root user:
/// version, uptime, store, counts, scheduler state. Anyone else gets AWS's `AccessDenied`.
/// The caller of an admin endpoint, who must be an account's root user (SigV4, service
/// `coffer`, empty body).
fn admin_caller(
    ops: &Ops,
    req: Request,
    action: &str,
    request_id: &str,
) -> Result<(), Box<Response>> {
    let (parts, _body) = req.into_parts();
    let caller = crate::authenticate(&ops.app, &parts, b"", Protocol::Json, Some("coffer"))
        .map_err(|e| Box::new(crate::json_error(&e, request_id)))?;
    if caller.ctx.role.is_some() {
        let e = ApiError {
            code: "AccessDeniedException",
            status: StatusCode::FORBIDDEN,
            message: format!(
                "User: {} is not authorized to perform: coffer:{action} (only an account's root user may)",
                caller.ctx.principal_arn
            ),
        };
        return Err(Box::new(crate::json_error(&e, request_id)));
    }
    Ok(())
}

fn internal_failure(request_id: &str) -> Response {
    let e = ApiError {
        code: "InternalFailure",
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: "We encountered an internal error. Please try again.".into(),
    };
    crate::json_error(&e, request_id)
}

/// `GET /_coffer/admin/seed[?values=true]`: the state as a seed file (`coffer seed export`),
/// signed by an account's root user.
async fn seed_export(State(ops): State<Arc<Ops>>, req: Request) -> Response {
    let request_id = coffer_crypto::random::request_id();
    let values = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "values=true"));
    if let Err(resp) = admin_caller(&ops, req, "ExportSeed", &request_id) {
        return *resp;
    }
    let Some(export) = ops.seed_export.clone() else {
        return not_found();
    };
    let coffer = ops.app.coffer.clone();
    match tokio::task::spawn_blocking(move || export(&coffer, values)).await {
        Ok(Ok(yaml)) => {
            let mut resp = (StatusCode::OK, yaml).into_response();
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/yaml"),
            );
            resp
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "seed export failed");
            internal_failure(&request_id)
        }
        Err(_) => internal_failure(&request_id),
    }
}

fn state_fault(f: &StateFault, request_id: &str) -> Response {
    let e = ApiError {
        code: f.code,
        status: if f.client {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        },
        message: f.message.clone(),
    };
    crate::json_error(&e, request_id)
}

/// The state hooks of a `--dev` server, or the answer that they are not offered.
fn state_hooks(ops: &Ops) -> Option<Arc<StateHooks>> {
    ops.state.clone().filter(|_| ops.app.config.dev)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

fn state_passphrase(headers: &HeaderMap) -> StatePassphrase {
    headers
        .get(STATE_PASSPHRASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| zeroize::Zeroizing::new(v.to_string()))
}

/// `POST /_coffer/state/export` (`--dev` only): the whole state as a state file.
async fn state_export(State(ops): State<Arc<Ops>>, req: Request) -> Response {
    let request_id = coffer_crypto::random::request_id();
    let Some(hooks) = state_hooks(&ops) else {
        return not_found();
    };
    let passphrase = state_passphrase(req.headers());
    let coffer = ops.app.coffer.clone();
    match tokio::task::spawn_blocking(move || (hooks.export)(&coffer, passphrase)).await {
        Ok(Ok(bytes)) => {
            tracing::info!(bytes = bytes.len(), "state exported");
            let mut resp = (StatusCode::OK, bytes).into_response();
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/octet-stream"),
            );
            resp
        }
        Ok(Err(f)) => state_fault(&f, &request_id),
        Err(_) => internal_failure(&request_id),
    }
}

/// `POST /_coffer/state/import` (`--dev` only): the body, a state file, replaces the whole
/// state in one transaction; refused with nothing changed when it cannot be read.
async fn state_import(State(ops): State<Arc<Ops>>, req: Request) -> Response {
    let request_id = coffer_crypto::random::request_id();
    let Some(hooks) = state_hooks(&ops) else {
        return not_found();
    };
    let passphrase = state_passphrase(req.headers());
    let body = match axum::body::to_bytes(req.into_body(), MAX_STATE_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let f = StateFault {
                code: "InvalidStateFileException",
                client: true,
                message: format!(
                    "the request body could not be read (at most {MAX_STATE_BYTES} bytes)"
                ),
            };
            return state_fault(&f, &request_id);
        }
    };
    let coffer = ops.app.coffer.clone();
    match tokio::task::spawn_blocking(move || (hooks.import)(&coffer, &body, passphrase)).await {
        Ok(Ok(summary)) => {
            tracing::info!(summary = %summary, "state imported: the whole state was replaced");
            json(StatusCode::OK, &summary)
        }
        Ok(Err(f)) => {
            tracing::warn!(code = f.code, error = %f.message, "state import refused; nothing changed");
            state_fault(&f, &request_id)
        }
        Err(_) => internal_failure(&request_id),
    }
}

/// `POST /_coffer/admin/rekey`: root-key rotation while serving (ADR 0015). Answers when every
/// record is re-wrapped and the old generations are retired.
async fn rekey(State(ops): State<Arc<Ops>>, req: Request) -> Response {
    let request_id = coffer_crypto::random::request_id();
    if let Err(resp) = admin_caller(&ops, req, "Rekey", &request_id) {
        return *resp;
    }
    let Some(persist) = ops.persist_keyring.clone() else {
        let e = ApiError {
            code: "UnsupportedOperationException",
            status: StatusCode::BAD_REQUEST,
            message: "This server does not offer rekey.".into(),
        };
        return crate::json_error(&e, &request_id);
    };
    let coffer = ops.app.coffer.clone();
    let done = tokio::task::spawn_blocking(move || coffer.rekey(persist.as_ref())).await;
    match done {
        Ok(Ok(report)) => {
            tracing::info!(generation = report.generation, retired = ?report.retired, rewrapped = report.rewrapped, "root key rotated");
            json(
                StatusCode::OK,
                &serde_json::to_value(&report).unwrap_or(serde_json::Value::Null),
            )
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "rekey failed; the keyring keeps every generation a record needs");
            internal_failure(&request_id)
        }
        Err(_) => internal_failure(&request_id),
    }
}

async fn status(State(ops): State<Arc<Ops>>, req: Request) -> Response {
    let request_id = coffer_crypto::random::request_id();
    if let Err(resp) = admin_caller(&ops, req, "GetStatus", &request_id) {
        return *resp;
    }
    let coffer = ops.app.coffer.clone();
    let counts = tokio::task::spawn_blocking(move || {
        let store = coffer.check_store().is_ok();
        (
            coffer.kms.key_counts(),
            coffer.secrets.secret_counts(),
            store,
        )
    })
    .await;
    let Ok((keys, secrets, store_ok)) = counts else {
        let e = ApiError {
            code: "InternalFailure",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "We encountered an internal error. Please try again.".into(),
        };
        return crate::json_error(&e, &request_id);
    };
    let federation = match &ops.app.config.federation {
        Some(fed) => serde_json::json!({
            "regions": fed.regions,
            "forward": fed.forward,
            "peers": fed.peer_status().await,
        }),
        None => serde_json::Value::Null,
    };
    let s = &ops.scheduler;
    let last_run = s.last_run_ms.load(Ordering::Relaxed);
    let body = serde_json::json!({
        "federation": federation,
        "version": ops.version,
        "commit": ops.commit,
        "uptime_seconds": ops.started.elapsed().as_secs(),
        "dev": ops.app.config.dev,
        "tls": ops.tls,
        "shutting_down": ops.stopping.is_cancelled(),
        "store": {"kind": ops.store_kind, "reachable": store_ok},
        "counts": {
            "kms_keys": keys,
            "kms_keys_total": keys.values().sum::<usize>(),
            "secrets": secrets,
            "secrets_total": secrets.values().sum::<usize>(),
        },
        "scheduler": {
            "interval_seconds": s.interval_secs.load(Ordering::Relaxed),
            "running": s.running.load(Ordering::Relaxed),
            "runs": s.runs.load(Ordering::Relaxed),
            "last_run_unix_ms": (last_run > 0).then_some(last_run),
            "seconds_since_last_run": (last_run > 0).then(|| (unix_ms() - last_run) / 1000),
            "last_duration_ms": s.last_duration_ms.load(Ordering::Relaxed),
            "last_lag_ms": s.last_lag_ms.load(Ordering::Relaxed),
            "last_failed": s.last_failed.load(Ordering::Relaxed),
        },
    });
    let mut resp = json(StatusCode::OK, &body);
    if let Ok(id) = http::HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amzn-requestid", id);
    }
    resp
}

/// A request beyond `max_concurrent_requests`: AWS's throttling error in the request's protocol.
async fn overloaded(headers: HeaderMap, err: BoxError) -> Response {
    let request_id = coffer_crypto::random::request_id();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let protocol = if target.is_some() {
        Protocol::Json
    } else {
        Protocol::Query
    };
    let e = if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError {
            code: match protocol {
                Protocol::Json => "ThrottlingException",
                Protocol::Query => "Throttling",
            },
            status: StatusCode::BAD_REQUEST,
            message: "Rate exceeded".into(),
        }
    } else {
        tracing::error!(error = %err, "request failed in the limit layers");
        ApiError {
            code: "InternalFailure",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "We encountered an internal error. Please try again.".into(),
        }
    };
    let op = match target.as_deref().and_then(|t| t.split_once('.')) {
        Some(("TrentService", op)) => format!("kms:{op}"),
        Some(("secretsmanager", op)) => format!("secretsmanager:{op}"),
        _ => String::new(),
    };
    let resp = crate::render(&e, protocol, target.as_deref(), &request_id);
    crate::metrics::record_request(&op, &resp, Duration::ZERO);
    resp
}

// ------------------------------------------------------------------------------------------
// Listening and serving connections
// ------------------------------------------------------------------------------------------

/// Activity of one connection: requests in flight and when the last one ended.
#[derive(Debug)]
struct Activity {
    base: Instant,
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = self.last_ms.load(Ordering::SeqCst);
        Some(Duration::from_millis(self.now_ms().saturating_sub(last)))
    }
}

struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: &Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(a.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.last_ms.store(self.0.now_ms(), Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct OpenConnection;

impl OpenConnection {
    fn new(tls: bool) -> Self {
        metrics::gauge!("coffer_connections_open").increment(1.0);
        metrics::counter!("coffer_connections_total", "transport" => if tls { "tls" } else { "plain" })
            .increment(1);
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("coffer_connections_open").decrement(1.0);
    }
}

/// One listener: accepts until `stop` is cancelled; every connection task is spawned on
/// `tracker`, which the caller waits on (with its grace period) to drain them.
pub struct Listener {
    /// The bound socket.
    pub tcp: TcpListener,
    /// Set: connections must speak TLS.
    pub tls: Option<Arc<TlsState>>,
    /// What is served.
    pub router: Router,
    /// The limits.
    pub limits: Limits,
}

impl Listener {
    /// Accepts connections until `stop` is cancelled. Connections then finish their in-flight
    /// requests (HTTP/1.1: no more keep-alive; HTTP/2: GOAWAY) and close.
    pub async fn run(self, stop: CancellationToken, tracker: TaskTracker) {
        let slots = Arc::new(Semaphore::new(self.limits.max_connections.max(1)));
        let limits = Arc::new(self.limits);
        loop {
            let permit = tokio::select! {
                _ = stop.cancelled() => break,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                a = self.tcp.accept() => a,
            };
            let (stream, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn = Conn {
                router: self.router.clone(),
                limits: limits.clone(),
                stop: stop.clone(),
                remote,
            };
            let tls = self.tls.clone();
            tracker.spawn(async move {
                let _permit = permit;
                match tls {
                    Some(tls) => conn.serve_tls(stream, &tls).await,
                    None => {
                        let _open = OpenConnection::new(false);
                        conn.serve(TokioIo::new(stream), None, None).await;
                    }
                }
            });
        }
    }
}

struct Conn {
    router: Router,
    limits: Arc<Limits>,
    stop: CancellationToken,
    remote: SocketAddr,
}

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

impl Conn {
    async fn serve_tls(self, stream: TcpStream, tls: &TlsState) {
        let _open = OpenConnection::new(true);
        let mut first = [0u8; 1];
        let peeked = tokio::select! {
            _ = self.stop.cancelled() => return,
            p = tokio::time::timeout(self.limits.read_timeout, stream.peek(&mut first)) => p,
        };
        match peeked {
            Ok(Ok(1)) if first[0] != TLS_HANDSHAKE => {
                refuse_plaintext(stream, self.limits.read_timeout).await;
                return;
            }
            Ok(Ok(1)) => {}
            _ => return,
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
        let handshake = tokio::select! {
            _ = self.stop.cancelled() => return,
            h = tokio::time::timeout(self.limits.read_timeout, acceptor.accept(stream)) => h,
        };
        match handshake {
            Ok(Ok(s)) => {
                let (_, conn) = s.get_ref();
                let version = conn.protocol_version().map(|v| match v {
                    rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
                    rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
                    _ => "TLS",
                });
                let suite = conn
                    .negotiated_cipher_suite()
                    .and_then(|c| c.suite().as_str());
                let client = conn.peer_certificates().map(|c| {
                    ClientCertificates(Arc::new(c.iter().map(|d| d.clone().into_owned()).collect()))
                });
                self.serve(TokioIo::new(s), Some((version, suite)), client)
                    .await
            }
            Ok(Err(e)) => {
                metrics::counter!("coffer_tls_handshake_failures_total").increment(1);
                tracing::debug!(remote = %self.remote, error = %e, "TLS handshake failed");
            }
            Err(_) => {
                metrics::counter!("coffer_tls_handshake_failures_total").increment(1);
                tracing::debug!(remote = %self.remote, "TLS handshake timed out");
            }
        }
    }

    async fn serve<I>(
        self,
        io: TokioIo<I>,
        tls: Option<(Option<&'static str>, Option<&'static str>)>,
        client: Option<ClientCertificates>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Activity::new();
        let info = ConnInfo {
            remote: self.remote,
            tls: tls.is_some(),
            tls_version: tls.and_then(|t| t.0),
            cipher_suite: tls.and_then(|t| t.1),
        };
        let router = self.router.clone();
        let act = activity.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(info);
                if let Some(c) = &client {
                    req.extensions_mut().insert(c.clone());
                }
                // HTTP/2 carries the host as `:authority`; SigV4 signs it as `host`.
                if !req.headers().contains_key(http::header::HOST) {
                    if let Some(host) = req
                        .uri()
                        .authority()
                        .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
                    {
                        req.headers_mut().insert(http::header::HOST, host);
                    }
                }
                let busy = Busy::new(&act);
                let mut router = router.clone();
                async move {
                    let req: Request = req.map(axum::body::Body::new);
                    let resp = match ServiceExt::<Request>::ready(&mut router).await {
                        Ok(r) => r.call(req).await,
                        Err(e) => match e {},
                    };
                    drop(busy);
                    resp
                }
            });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.read_timeout)
            // A head that does not fit the read buffer is answered 431 (hyper's minimum: 8 KiB).
            .max_buf_size(self.limits.max_header_bytes.max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(self.limits.max_streams_per_connection);
        let conn = builder.serve_connection(io, svc);
        tokio::pin!(conn);
        let idle = self.limits.idle_timeout;
        // After a graceful close was asked for, how long an idle connection may take to close.
        let linger = Duration::from_secs(1).min(idle);
        let mut closing = false;
        loop {
            let wait = match (closing, activity.idle_for()) {
                (true, _) => linger,
                (false, Some(idle_for)) => idle.saturating_sub(idle_for),
                (false, None) => idle,
            };
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(remote = %self.remote, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = self.stop.cancelled(), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {
                    match (closing, activity.idle_for()) {
                        // Idle and asked to close: drop the connection.
                        (true, Some(_)) => return,
                        (false, Some(idle_for)) if idle_for >= idle => {
                            tracing::debug!(remote = %self.remote, "closing an idle connection");
                            closing = true;
                            conn.as_mut().graceful_shutdown();
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Answers a plaintext HTTP request on the TLS port with a 400 saying so, then closes.
async fn refuse_plaintext(mut stream: TcpStream, read_timeout: Duration) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut got = 0;
    let read_head = async {
        while got < buf.len() {
            match stream.read(&mut buf[got..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(read_timeout, read_head).await;
    let body =
        "This port speaks TLS: use https:// (a plain HTTP request was sent to the HTTPS port).\n";
    let resp = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(read_timeout, async {
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
    tracing::debug!("refused a plaintext request on the TLS port");
}

/// Polls the certificate files every `interval` and reloads them when they change; a reload
/// that fails logs why and keeps the certificate in use.
pub async fn watch_certificates(tls: Arc<TlsState>, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if tls.changed_on_disk() {
            reload_certificates(&tls, "the certificate files changed");
        }
    }
}

/// Reloads the certificates, logging the outcome (`why`: what asked for it).
pub fn reload_certificates(tls: &TlsState, why: &str) {
    match tls.reload() {
        Ok(()) => tracing::info!(reason = why, "TLS certificates reloaded"),
        Err(e) => tracing::error!(
            reason = why,
            error = %e,
            "TLS certificate reload failed; the certificate in use stays"
        ),
    }
}
