//! Coffer's HTTP front: AWS JSON 1.1 (KMS, Secrets Manager) and Query (STS) protocols, SigV4
//! authentication, dispatch to the services, AWS error rendering, health and dev endpoints.
//!
//! This crate knows nothing of how state is stored.
#![forbid(unsafe_code)]

mod audit;
pub mod console;
pub use audit::AuditServiceEvents;
pub mod dispatch;
pub mod error;
pub mod federation;
pub mod follow;
pub mod iam;
pub mod metrics;
pub mod model_check;
mod replication;
pub mod server;
pub mod services;
pub mod sigv4;
mod sts;
pub mod tls;

pub use services::{Coffer, CoreError};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use coffer_core::context::{is_region_name, partition_of};
use coffer_core::RequestContext;
use coffer_iam::identity::Principal;
use error::{auth_error, ApiError, Protocol};
use sigv4::{AuthError, RequestParts};
use std::sync::Arc;
use std::time::Instant;

/// Largest request body accepted (AWS's largest members, a 64 KiB secret or a 128 KiB policy,
/// fit with room to spare). Larger bodies are refused without being buffered.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How the front behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Accept any well-formed credentials and serve the reset endpoints.
    pub dev: bool,
    /// The account of `--dev` callers whose access key ID is not 12 digits.
    pub dev_account: String,
    /// Largest request body accepted, in bytes (default [`MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// A request body must arrive within this.
    pub body_timeout: std::time::Duration,
    /// Check every answer against the service model and log mismatches ([`model_check`]).
    pub check_responses: bool,
    /// Regions as failure domains ([`federation`]); `None`: every region is served here.
    pub federation: Option<Arc<federation::Federation>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            dev: false,
            dev_account: "000000000000".into(),
            max_body_bytes: MAX_BODY_BYTES,
            body_timeout: std::time::Duration::from_secs(10),
            check_responses: false,
            federation: None,
        }
    }
}

/// What every request handler shares.
pub struct App {
    /// The services.
    pub coffer: Arc<Coffer>,
    /// Behaviour.
    pub config: Config,
    /// The audit trail (ADR 0010): one record per request; `None` when it is off.
    pub audit: Option<Arc<coffer_audit::AuditLog>>,
}

/// A rendered error's message, for the audit record (beside [`metrics::ErrorCode`]).
#[derive(Debug, Clone)]
pub(crate) struct ErrorMessage(pub String);

/// The whole HTTP surface.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/_coffer/health", get(health))
        .route("/_coffer/reset", post(reset))
        .route("/moto-api/reset", post(reset))
        .route("/_localstack/state/reset", post(reset))
        .route(
            replication::RECIPIENT_KEY_PATH,
            post(replication::recipient_key),
        )
        .route(
            replication::REPLICATE_KEY_PATH,
            post(replication::replicate_key),
        )
        .route(replication::SYNC_KEY_PATH, post(replication::sync_key))
        .fallback(aws)
        .with_state(app)
}

async fn health() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ready"}"#.to_vec(), None)
}

async fn reset(State(app): State<Arc<App>>) -> Response {
    if !app.config.dev {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let coffer = app.coffer.clone();
    match tokio::task::spawn_blocking(move || coffer.reset()).await {
        Ok(Ok(())) => json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec(), None),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reset failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "reset failed").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "reset task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "reset failed").into_response()
        }
    }
}

fn json_response(status: StatusCode, body: impl Into<Body>, request_id: Option<&str>) -> Response {
    let mut resp = (status, body.into()).into_response();
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        h.insert("x-amzn-requestid", id);
    }
    resp
}

fn json_error(e: &ApiError, request_id: &str) -> Response {
    json_error_of(None, e, request_id)
}

/// A JSON 1.1 error answer as `service` writes it: Secrets Manager names the member `Message`,
/// KMS (and an unknown service) `message`.
fn json_error_of(
    service: Option<coffer_model::ops::Service>,
    e: &ApiError,
    request_id: &str,
) -> Response {
    let member = match service {
        Some(coffer_model::ops::Service::SecretsManager) => "Message",
        _ => "message",
    };
    let mut body = serde_json::Map::new();
    body.insert("__type".into(), e.code.into());
    if !e.message.is_empty() {
        body.insert(member.into(), e.message.clone().into());
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = json_response(e.status, bytes, Some(request_id));
    resp.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(e.code));
    resp.extensions_mut().insert(metrics::ErrorCode(e.code));
    resp.extensions_mut()
        .insert(ErrorMessage(e.message.clone()));
    resp
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", id);
    }
    resp
}

fn xml_error(e: &ApiError, request_id: &str) -> Response {
    let kind = if e.status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let mut resp = xml_response(
        e.status,
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            e.code,
            xml_escape(&e.message)
        ),
        request_id,
    );
    resp.extensions_mut().insert(metrics::ErrorCode(e.code));
    resp.extensions_mut()
        .insert(ErrorMessage(e.message.clone()));
    resp
}

/// Who is calling, from where (after SigV4).
pub(crate) struct Caller {
    ctx: RequestContext,
    principal: Principal,
    service: String,
    /// The access key ID that signed the request (`None`: an unsigned `--dev` request).
    access_key_id: Option<String>,
    /// A role session's issue time, epoch milliseconds.
    session_issued: Option<i64>,
    /// Temporary credentials: the STS operation that issued them.
    origin: Option<coffer_iam::sts::Origin>,
}

fn now_utc(app: &App) -> time::OffsetDateTime {
    let millis = app.coffer.clock.now().millis;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn authenticate(
    app: &App,
    parts: &http::request::Parts,
    body: &[u8],
    protocol: Protocol,
    service: Option<&str>,
) -> Result<Caller, ApiError> {
    // With several nodes on one store: what any node is known to have committed is applied
    // before the request is served (read-your-writes through any node).
    app.coffer.catch_up_if_behind();
    let secure_transport = parts
        .extensions
        .get::<server::ConnInfo>()
        .is_some_and(|c| c.tls);
    let rp = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
    };
    let parsed = match sigv4::parse(&rp) {
        Ok(p) => p,
        Err(AuthError::Missing) if app.config.dev => {
            let principal = Principal::root(&app.config.dev_account);
            return Ok(Caller {
                ctx: RequestContext {
                    account_id: principal.account_id.clone(),
                    region: "us-east-1".into(),
                    principal_arn: principal.arn.clone(),
                    role: None,
                    secure_transport,
                },
                principal,
                service: service.unwrap_or("sts").to_string(),
                access_key_id: None,
                session_issued: None,
                origin: None,
            });
        }
        Err(e) => return Err(auth_error(&e, protocol)),
    };
    if let Some(s) = service {
        sigv4::check_scope(&parsed, s, None).map_err(|e| auth_error(&e, protocol))?;
    }
    let region = parsed.credential.region.clone();
    if !is_region_name(&region) {
        return Err(auth_error(
            &AuthError::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{region}'. "
            )),
            protocol,
        ));
    }
    if let Some(fed) = &app.config.federation {
        if service.is_some_and(federation::regional) && !fed.owns(&region) {
            return Err(federation::wrong_region(&region, protocol));
        }
    }
    let ak = parsed.credential.access_key_id.clone();
    let token = parsed.security_token.clone();
    let service = parsed.credential.service.clone();
    let verify = |secret: &[u8]| {
        sigv4::verify(&parsed, &rp, secret, now_utc(app)).inspect_err(|e| {
            if let AuthError::SignatureMismatch {
                canonical_request, ..
            } = e
            {
                tracing::debug!(%canonical_request, "signature mismatch");
            }
        })
    };
    resolve(
        app,
        &Presented {
            access_key_id: &ak,
            session_token: token.as_deref(),
            region,
            service,
            secure_transport,
        },
        &verify,
    )
    .map_err(|e| auth_error(&e, protocol))
}

/// The credentials a request (or a console sign-in) presents.
pub(crate) struct Presented<'a> {
    access_key_id: &'a str,
    session_token: Option<&'a str>,
    region: String,
    service: String,
    secure_transport: bool,
}

/// Who an access key belongs to, as a caller: a role session (its token must match and it must
/// not have expired), an IAM user's or an account root's key, or in `--dev` any other key (the
/// account root). `verify` checks the proof of the secret: a SigV4 signature, or a console
/// sign-in's secret compared in constant time.
pub(crate) fn resolve(
    app: &App,
    p: &Presented<'_>,
    verify: &dyn Fn(&[u8]) -> Result<(), AuthError>,
) -> Result<Caller, AuthError> {
    let ak = p.access_key_id;
    let region = p.region.clone();
    let secure_transport = p.secure_transport;
    // Credentials just made through another node may not have been announced here yet.
    if app.coffer.is_shared()
        && app.coffer.sts.lookup(ak).is_none()
        && app.coffer.identity.lookup(ak).is_none()
    {
        if let Err(e) = app.coffer.catch_up() {
            tracing::warn!(error = %e, "catching up with the shared store failed");
        }
    }
    // Temporary credentials (AssumeRole) are verified on every server, --dev included: the caller
    // holds the session's real secret and token.
    if let Some(session) = app.coffer.sts.lookup(ak) {
        let token_ok = p.session_token.is_some_and(|t| session.token_matches(t));
        if !token_ok {
            return Err(AuthError::UnrecognizedClient);
        }
        if session.expires <= app.coffer.clock.now().millis {
            return Err(AuthError::ExpiredToken);
        }
        verify(&session.secret)?;
        let partition = partition_of(&region);
        let arn = session
            .principal_arn()
            .replacen("arn:aws:", &format!("arn:{partition}:"), 1);
        let user_name = session
            .role
            .as_deref()
            .filter(|r| r.is_user())
            .map(|r| r.role_name.clone());
        return Ok(Caller {
            ctx: RequestContext {
                account_id: session.account_id.clone(),
                region,
                principal_arn: arn.clone(),
                role: session.role.clone(),
                secure_transport,
            },
            principal: Principal {
                account_id: session.account_id.clone(),
                arn,
                user_id: session.user_id(),
                user_name,
            },
            service: p.service.clone(),
            access_key_id: Some(ak.to_string()),
            session_issued: Some(session.issued),
            origin: Some(session.origin),
        });
    }
    // One lookup per request. An IAM user's key is that user's everywhere, --dev included.
    let known = app.coffer.identity.lookup(ak);
    let is_user_key = known.as_ref().is_some_and(|(p, _)| p.user_name.is_some());
    let principal = if app.config.dev && !is_user_key {
        let account = if ak.len() == 12 && ak.bytes().all(|b| b.is_ascii_digit()) {
            ak.to_string()
        } else {
            app.config.dev_account.clone()
        };
        Principal::root(&account)
    } else {
        let (principal, secret) = known.ok_or(AuthError::UnrecognizedClient)?;
        verify(&secret)?;
        principal
    };
    let partition = partition_of(&region);
    let principal_arn = if partition == "aws" {
        principal.arn.clone()
    } else {
        principal
            .arn
            .replacen("arn:aws:", &format!("arn:{partition}:"), 1)
    };
    let role = principal.user_name.as_deref().map(|name| {
        app.coffer
            .identity
            .note_use(ak, &p.service, &region, app.coffer.clock.now().millis);
        Arc::new(coffer_core::RoleSession::user(name, &principal_arn))
    });
    Ok(Caller {
        ctx: RequestContext {
            account_id: principal.account_id.clone(),
            region,
            principal_arn,
            role,
            secure_transport,
        },
        principal,
        service: p.service.clone(),
        access_key_id: Some(ak.to_string()),
        session_issued: None,
        origin: None,
    })
}

/// Every AWS API request.
async fn aws(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let _in_flight = metrics::InFlight::start();
    let request_id = coffer_crypto::random::request_id();
    let (parts, body) = req.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let protocol = if target.is_some() {
        Protocol::Json
    } else {
        Protocol::Query
    };
    let body = match read_body(body, &parts.headers, &app.config).await {
        Ok(b) => b,
        Err(e) => {
            let mut resp = render(&e, protocol, target.as_deref(), &request_id);
            if let Some(log) = &app.audit {
                resp = audit_unread(&app, log, &parts, target.as_deref(), &request_id, resp).await;
            }
            metrics::record_request("", &resp, started.elapsed());
            return resp;
        }
    };
    if let Some(t) = target.as_deref() {
        if let Some(resp) = federation::route(&app, &parts, &body, t, &request_id).await {
            let op = coffer_model::ops::from_target(t).map_or_else(String::new, |op| {
                let info = op.info();
                format!("{}:{}", info.service.signing_name(), info.name)
            });
            metrics::record_request(&op, &resp, started.elapsed());
            return resp;
        }
    }
    let (response, op) = match target {
        Some(t) => json_request(&app, &parts, &body, &t, &request_id).await,
        // STS and IAM are control-plane calls that write to the store: off the async runtime.
        None => {
            let (task_app, task_id) = (app.clone(), request_id.clone());
            let run = move || query_request(&task_app, &parts, &body, &task_id);
            match tokio::task::spawn_blocking(run).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "query request task failed");
                    let err = ApiError {
                        code: "InternalFailure",
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        message: "We encountered an internal error. Please try again.".into(),
                    };
                    (xml_error(&err, &request_id), String::new())
                }
            }
        }
    };
    tracing::debug!(
        op = %op,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    metrics::record_request(&op, &response, started.elapsed());
    response
}

fn render(e: &ApiError, protocol: Protocol, target: Option<&str>, request_id: &str) -> Response {
    match protocol {
        Protocol::Json => json_error_of(service_of_target(target), e, request_id),
        Protocol::Query => xml_error(e, request_id),
    }
}

async fn read_body(
    body: Body,
    headers: &HeaderMap,
    config: &Config,
) -> Result<bytes::Bytes, ApiError> {
    let max = config.max_body_bytes;
    let too_large = || ApiError {
        code: "RequestEntityTooLargeException",
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("Request body is larger than the {max} byte limit."),
    };
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
    {
        if len.parse::<usize>().map_or(true, |n| n > max) {
            return Err(too_large());
        }
    }
    match tokio::time::timeout(config.body_timeout, to_bytes(body, max)).await {
        Ok(r) => r.map_err(|_| too_large()),
        Err(_) => Err(ApiError {
            code: if headers.contains_key("x-amz-target") {
                "RequestTimeoutException"
            } else {
                "RequestTimeout"
            },
            status: StatusCode::REQUEST_TIMEOUT,
            message: "Your socket connection to the server was not read from or written to within the timeout period.".into(),
        }),
    }
}

/// What a JSON 1.1 request came to, for the answer and its audit record.
struct JsonOutcome {
    response: Response,
    label: String,
    op: Option<coffer_model::ops::Op>,
    caller: Option<Caller>,
    /// The answer's body, on success.
    ok: Option<bytes::Bytes>,
}

async fn json_request(
    app: &Arc<App>,
    parts: &http::request::Parts,
    body: &bytes::Bytes,
    target: &str,
    request_id: &str,
) -> (Response, String) {
    let out = json_outcome(app, parts, body, target, request_id).await;
    match &app.audit {
        None => (out.response, out.label),
        Some(log) => {
            let label = out.label.clone();
            (
                audit_json(app, log, parts, Some(body), target, request_id, out).await,
                label,
            )
        }
    }
}

/// The record of a request whose body could not be read (too large, too slow).
async fn audit_unread(
    app: &Arc<App>,
    log: &Arc<coffer_audit::AuditLog>,
    parts: &http::request::Parts,
    target: Option<&str>,
    request_id: &str,
    response: Response,
) -> Response {
    match target {
        Some(t) => {
            let out = JsonOutcome {
                response,
                label: String::new(),
                op: coffer_model::ops::from_target(t),
                caller: None,
                ok: None,
            };
            audit_json(app, log, parts, None, t, request_id, out).await
        }
        None => {
            let params: Vec<(String, String)> =
                form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            let action = params
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let out = QueryOutcome {
                response,
                label: String::new(),
                action,
                caller: None,
                ok: None,
                unsigned: false,
                federated: None,
            };
            let (app, log, parts, id) = (
                app.clone(),
                log.clone(),
                parts.clone(),
                request_id.to_string(),
            );
            let fallback = || {
                xml_error(
                    &ApiError::internal("InternalFailure", &"audit task failed"),
                    request_id,
                )
            };
            tokio::task::spawn_blocking(move || audit_query(&app, &log, &parts, &params, &id, out))
                .await
                .unwrap_or_else(|_| fallback())
        }
    }
}

/// Writes the record of a JSON 1.1 request and returns the answer to send: the operation's, or
/// the service's internal error when a fail-closed trail could not take the record.
async fn audit_json(
    app: &App,
    log: &coffer_audit::AuditLog,
    parts: &http::request::Parts,
    body: Option<&[u8]>,
    target: &str,
    request_id: &str,
    out: JsonOutcome,
) -> Response {
    let code = out
        .response
        .extensions()
        .get::<metrics::ErrorCode>()
        .map(|c| c.0);
    let message = out
        .response
        .extensions()
        .get::<ErrorMessage>()
        .map(|m| m.0.clone())
        .unwrap_or_default();
    let outcome = Recorded {
        op: out.op,
        caller: out.caller.as_ref(),
        ok: out.ok.as_ref(),
        error: code.map(|c| (c, message.as_str())),
    };
    match record_json(app, log, parts, body, target, request_id, &outcome).await {
        Ok(()) => out.response,
        Err((service, e)) => json_error_of(Some(service), &e, request_id),
    }
}

/// What a JSON 1.1 request came to, as its audit record needs it.
pub(crate) struct Recorded<'a> {
    pub op: Option<coffer_model::ops::Op>,
    pub caller: Option<&'a Caller>,
    /// The answer's body, on success.
    pub ok: Option<&'a bytes::Bytes>,
    /// The error code and message, on failure.
    pub error: Option<(&'static str, &'a str)>,
}

/// Writes the record of a JSON 1.1 request; the error is the one to answer instead when a
/// fail-closed trail could not take it.
pub(crate) async fn record_json(
    app: &App,
    log: &coffer_audit::AuditLog,
    parts: &http::request::Parts,
    body: Option<&[u8]>,
    target: &str,
    request_id: &str,
    out: &Recorded<'_>,
) -> Result<(), (coffer_model::ops::Service, ApiError)> {
    use coffer_model::ops;
    let (service, operation, info) = match out.op {
        Some(op) => {
            let info = op.info();
            (info.service, info.name, Some(info))
        }
        None => {
            let (prefix, name) = target.split_once('.').unwrap_or((target, ""));
            match ops::Service::from_target_prefix(prefix) {
                Some(service) => (service, name, None),
                None => {
                    tracing::debug!("no audit record: the target names no service");
                    return Ok(());
                }
            }
        }
    };
    let request: Option<serde_json::Value> = match body {
        None => None,
        Some(b) if b.iter().all(u8::is_ascii_whitespace) => {
            Some(serde_json::Value::Object(serde_json::Map::new()))
        }
        Some(b) => serde_json::from_slice(b).ok(),
    };
    let response: Option<serde_json::Value> = out.ok.and_then(|b| serde_json::from_slice(b).ok());
    let call = audit::Call {
        service,
        operation,
        info,
        caller: out.caller,
        federated: None,
        parts,
        request: request.as_ref(),
        response: response.as_ref(),
        error: out.error,
        request_id,
    };
    let Some(event) = audit::event(app, &call) else {
        return Ok(());
    };
    let written = tokio::time::timeout(log.wait_timeout(), log.submit(&event)).await;
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((
            service,
            ApiError::internal(internal_code(service), &format!("audit trail: {e}")),
        )),
        Err(_) => Err((
            service,
            ApiError::internal(internal_code(service), &"audit trail: timed out"),
        )),
    }
}

async fn json_outcome(
    app: &Arc<App>,
    parts: &http::request::Parts,
    body: &bytes::Bytes,
    target: &str,
    request_id: &str,
) -> JsonOutcome {
    use coffer_model::ops;
    let Some(op) = ops::from_target(target) else {
        // Label an unknown operation of a known service by that service (metrics stay bounded).
        let label = match target.split_once('.') {
            Some((prefix, name)) => match ops::Service::from_target_prefix(prefix) {
                Some(service) => format!("{}:{name}", service.signing_name()),
                None => target.to_string(),
            },
            None => target.to_string(),
        };
        let service = service_of_target(Some(target));
        return JsonOutcome {
            response: json_error_of(service, &ApiError::unknown_operation(target), request_id),
            label,
            op: None,
            caller: None,
            ok: None,
        };
    };
    let info = op.info();
    let label = format!("{}:{}", info.service.signing_name(), info.name);
    let fail = |e: &ApiError, caller: Option<Caller>, label: String| JsonOutcome {
        response: json_error_of(Some(info.service), e, request_id),
        label,
        op: Some(op),
        caller,
        ok: None,
    };
    let caller = match authenticate(
        app,
        parts,
        body,
        Protocol::Json,
        Some(info.service.signing_name()),
    ) {
        Ok(c) => c,
        Err(e) => return fail(&e, None, label),
    };
    let (result, caller) = serve_json(app, op, caller, body).await;
    let (response, ok) = match result {
        Ok(bytes) => {
            let ok = app.audit.is_some().then(|| bytes.clone());
            (json_response(StatusCode::OK, bytes, Some(request_id)), ok)
        }
        Err(e) => (json_error_of(Some(info.service), &e, request_id), None),
    };
    JsonOutcome {
        response,
        label,
        op: Some(op),
        caller,
        ok,
    }
}

/// Runs one JSON 1.1 operation for an authenticated caller: the registry's `served` flag, the
/// service (off the async runtime unless the operation is hot), the model check. The caller is
/// handed back for the audit record (`None` only if the task running it failed).
pub(crate) async fn serve_json(
    app: &Arc<App>,
    op: coffer_model::ops::Op,
    caller: Caller,
    body: &bytes::Bytes,
) -> (Result<bytes::Bytes, ApiError>, Option<Caller>) {
    use coffer_model::ops::{self, Op};
    let info = op.info();
    if !info.served {
        return (Err(dispatch::unsupported(info)), Some(caller));
    }
    if op == Op::Kms(ops::KmsOp::ReplicateKey) {
        if let Some(fed) = app.config.federation.as_deref() {
            if let Some((peer, _)) = replication::peer_region(fed, body) {
                let result =
                    replication::replicate_to_peer(app, fed, peer, &caller.ctx, body).await;
                if app.config.check_responses {
                    model_check::json(info, &result);
                }
                return (result, Some(caller));
            }
        }
    }
    let run = {
        let app = app.clone();
        let body = body.clone();
        move || {
            let c = &app.coffer;
            let result = match op {
                Op::Kms(op) => dispatch::kms(c, &caller.ctx, op, &body),
                Op::SecretsManager(op) => dispatch::secrets_manager(c, &caller.ctx, op, &body),
                Op::CloudTrail(ops::CloudTrailOp::LookupEvents) => {
                    dispatch::lookup_events(c, app.audit.as_deref(), &caller.ctx, &body)
                }
                _ => Err(dispatch::unsupported(op.info())),
            };
            (result, caller)
        }
    };
    let (result, caller) = if info.hot {
        run()
    } else {
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r,
            Err(e) => {
                return (
                    Err(ApiError::internal(internal_code(info.service), &e)),
                    None,
                )
            }
        }
    };
    if app.config.check_responses {
        model_check::json(info, &result);
    }
    if let (Op::Kms(ops::KmsOp::RotateKeyOnDemand), Ok(answer), Some(fed)) =
        (op, &result, app.config.federation.as_deref())
    {
        if !fed.peers.is_empty() {
            replication::sync_after_rotation(app, fed, &caller.ctx, answer).await;
        }
    }
    (result, Some(caller))
}

/// The service an `X-Amz-Target` names by its prefix, if any.
fn service_of_target(target: Option<&str>) -> Option<coffer_model::ops::Service> {
    target
        .and_then(|t| t.split_once('.'))
        .and_then(|(prefix, _)| coffer_model::ops::Service::from_target_prefix(prefix))
}

/// Each service's internal-error code.
fn internal_code(service: coffer_model::ops::Service) -> &'static str {
    use coffer_model::ops::Service;
    match service {
        Service::Kms => "KMSInternalException",
        Service::SecretsManager => "InternalServiceError",
        // CloudTrail's model lists no internal error: AWS's common one.
        Service::CloudTrail | Service::Sts | Service::Iam => "InternalFailure",
    }
}

/// What a Query request came to, for the answer and its audit record.
pub(crate) struct QueryOutcome {
    response: Response,
    label: String,
    action: String,
    caller: Option<Caller>,
    /// The answer as the service's JSON form, where Coffer builds one (AssumeRole).
    ok: Option<serde_json::Value>,
    /// An operation the model lets be sent unsigned was, and was served without a caller.
    unsigned: bool,
    /// Its caller, once its token or assertion verified (AssumeRoleWithWebIdentity,
    /// AssumeRoleWithSAML).
    federated: Option<sts::FederatedCaller>,
}

fn query_request(
    app: &App,
    parts: &http::request::Parts,
    body: &[u8],
    request_id: &str,
) -> (Response, String) {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .chain(form_urlencoded::parse(body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let out = query_outcome(app, parts, body, &params, request_id);
    match &app.audit {
        None => (out.response, out.label),
        Some(log) => {
            let label = out.label.clone();
            (
                audit_query(app, log, parts, &params, request_id, out),
                label,
            )
        }
    }
}

/// [`audit_json`] for a Query request (on a blocking thread).
pub(crate) fn audit_query(
    app: &App,
    log: &coffer_audit::AuditLog,
    parts: &http::request::Parts,
    params: &[(String, String)],
    request_id: &str,
    out: QueryOutcome,
) -> Response {
    use coffer_model::ops;
    let signing_name = match &out.caller {
        Some(c) => Some(c.service.clone()),
        None if out.unsigned => Some(ops::Service::Sts.signing_name().to_string()),
        None => audit::claimed_scope(parts).service,
    };
    let Some(service) = signing_name
        .as_deref()
        .and_then(ops::Service::from_signing_name)
    else {
        tracing::debug!("no audit record: the request names no service");
        return out.response;
    };
    let op = ops::from_query(service.signing_name(), &out.action);
    let info = op.map(|op| op.info());
    let request = info.and_then(|i| coffer_protocol::query::decode_input(i, params).ok());
    let code = out
        .response
        .extensions()
        .get::<metrics::ErrorCode>()
        .map(|c| c.0);
    let message = out
        .response
        .extensions()
        .get::<ErrorMessage>()
        .map_or("", |m| m.0.as_str());
    let call = audit::Call {
        service,
        operation: info.map_or(out.action.as_str(), |i| i.name),
        info,
        caller: out.caller.as_ref(),
        federated: out.federated.as_ref(),
        parts,
        request: request.as_ref(),
        response: out.ok.as_ref(),
        error: code.map(|c| (c, message)),
        request_id,
    };
    let Some(event) = audit::event(app, &call) else {
        return out.response;
    };
    match log.record(&event) {
        Ok(()) => out.response,
        Err(e) => {
            tracing::error!(error = %e, "audit trail: the record could not be written; request refused");
            let message = "We encountered an internal error. Please try again.";
            if service == ops::Service::Iam {
                iam::error_response(
                    "ServiceFailure",
                    StatusCode::INTERNAL_SERVER_ERROR,
                    message,
                    request_id,
                )
            } else {
                let err = ApiError {
                    code: "InternalFailure",
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: message.into(),
                };
                xml_error(&err, request_id)
            }
        }
    }
}

fn query_outcome(
    app: &App,
    parts: &http::request::Parts,
    body: &[u8],
    params: &[(String, String)],
    request_id: &str,
) -> QueryOutcome {
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    use coffer_model::ops::{self, Op, StsOp};
    if let Some(out) = unsigned_query(app, parts, params, &action, request_id) {
        return out;
    }
    let caller = match authenticate(app, parts, body, Protocol::Query, None) {
        Ok(c) => c,
        Err(e) => {
            return QueryOutcome {
                response: xml_error(&e, request_id),
                label: action.clone(),
                action,
                caller: None,
                ok: None,
                unsigned: false,
                federated: None,
            }
        }
    };
    if action.is_empty() {
        return QueryOutcome {
            response: xml_error(
                &ApiError::bad_request("MissingAction", "Missing Action"),
                request_id,
            ),
            label: action.clone(),
            action,
            caller: Some(caller),
            ok: None,
            unsigned: false,
            federated: None,
        };
    }
    let invalid = || {
        let e = ApiError::bad_request(
            "InvalidAction",
            format!(
                "Could not find operation {action} for service {}: Coffer does not support it yet.",
                caller.service
            ),
        );
        if caller.service == ops::Service::Iam.signing_name() {
            iam::error_response(e.code, e.status, &e.message, request_id)
        } else {
            xml_error(&e, request_id)
        }
    };
    let mut ok = None;
    let found = ops::from_query(&caller.service, &action);
    let restricted = found
        .filter(|op| op.info().served)
        .and_then(|op| sts::session_restriction(&caller, op).map(|e| (op, e)));
    let response = match found {
        Some(op) if !op.info().served => invalid(),
        Some(_) if restricted.is_some() => match restricted {
            Some((Op::Iam(_), e)) => iam::error_response(e.code, e.status, &e.message, request_id),
            Some((_, e)) => xml_error(&e, request_id),
            None => invalid(),
        },
        Some(Op::Sts(StsOp::GetCallerIdentity)) => xml_response(
            StatusCode::OK,
            sts::get_caller_identity(&caller, request_id),
            request_id,
        ),
        Some(Op::Sts(StsOp::AssumeRole)) => {
            match sts::assume_role(&app.coffer, &caller, params, request_id) {
                Ok((body, json)) => {
                    ok = app.audit.is_some().then_some(json);
                    xml_response(StatusCode::OK, body, request_id)
                }
                Err(e) => xml_error(&e, request_id),
            }
        }
        Some(Op::Sts(op @ (StsOp::GetSessionToken | StsOp::GetFederationToken))) => {
            let served = match op {
                StsOp::GetSessionToken => {
                    sts::get_session_token(&app.coffer, &caller, params, request_id)
                }
                _ => sts::get_federation_token(&app.coffer, &caller, params, request_id),
            };
            match served {
                Ok((body, json)) => {
                    ok = app.audit.is_some().then_some(json);
                    xml_response(StatusCode::OK, body, request_id)
                }
                Err(e) => xml_error(&e, request_id),
            }
        }
        Some(Op::Sts(StsOp::AssumeRoleWithWebIdentity)) => {
            // Signed, which it need not be: the token decides, not the signer.
            let (response, json, _) = web_identity_response(app, params, request_id);
            ok = json;
            response
        }
        Some(Op::Sts(StsOp::AssumeRoleWithSAML)) => {
            // Signed, which it need not be: the assertion decides, not the signer.
            let (response, json, _) = saml_response(app, params, request_id);
            ok = json;
            response
        }
        Some(Op::Iam(op)) => {
            let (response, json) = iam::handle(
                &app.coffer,
                &caller.ctx,
                op,
                params,
                request_id,
                app.audit.is_some(),
            );
            ok = json;
            response
        }
        _ => invalid(),
    };
    QueryOutcome {
        response,
        label: format!("{}:{action}", caller.service),
        action,
        caller: Some(caller),
        ok,
        unsigned: false,
        federated: None,
    }
}

/// Serves a request the model lets be sent unsigned (`authtype: none`) when it is: STS's
/// `AssumeRoleWithWebIdentity` and `AssumeRoleWithSAML`, whose token or assertion is their
/// credential. `None`: the request is signed,
/// or names another operation, and is authenticated as usual.
fn unsigned_query(
    app: &App,
    parts: &http::request::Parts,
    params: &[(String, String)],
    action: &str,
    request_id: &str,
) -> Option<QueryOutcome> {
    use coffer_model::ops::{self, Op, StsOp};
    let signed = parts.headers.contains_key(http::header::AUTHORIZATION)
        || params.iter().any(|(k, _)| k == "X-Amz-Signature");
    let op = ops::from_query(ops::Service::Sts.signing_name(), action)?;
    if signed || !op.info().unsigned {
        return None;
    }
    let label = format!("{}:{action}", ops::Service::Sts.signing_name());
    let (response, ok, federated) = match op {
        Op::Sts(StsOp::AssumeRoleWithWebIdentity) if op.info().served => {
            web_identity_response(app, params, request_id)
        }
        Op::Sts(StsOp::AssumeRoleWithSAML) if op.info().served => {
            saml_response(app, params, request_id)
        }
        _ => {
            // An unsigned operation the model has and Coffer does not serve.
            let e = ApiError::bad_request(
                "InvalidAction",
                format!(
                    "Could not find operation {action} for service sts: Coffer does not support it yet."
                ),
            );
            (xml_error(&e, request_id), None, None)
        }
    };
    Some(QueryOutcome {
        response,
        label,
        action: action.to_string(),
        caller: None,
        ok,
        unsigned: true,
        federated,
    })
}

/// AssumeRoleWithWebIdentity's answer, its JSON form for the audit record, and who called.
fn web_identity_response(
    app: &App,
    params: &[(String, String)],
    request_id: &str,
) -> (
    Response,
    Option<serde_json::Value>,
    Option<sts::FederatedCaller>,
) {
    match sts::assume_role_with_web_identity(&app.coffer, params, request_id) {
        Ok((body, json, who)) => (
            xml_response(StatusCode::OK, body, request_id),
            app.audit.is_some().then_some(json),
            who.map(sts::FederatedCaller::Web),
        ),
        Err(e) => (xml_error(&e, request_id), None, None),
    }
}

/// AssumeRoleWithSAML's answer, its JSON form for the audit record, and who called.
fn saml_response(
    app: &App,
    params: &[(String, String)],
    request_id: &str,
) -> (
    Response,
    Option<serde_json::Value>,
    Option<sts::FederatedCaller>,
) {
    match sts::assume_role_with_saml(&app.coffer, params, request_id) {
        Ok((body, json, who)) => (
            xml_response(StatusCode::OK, body, request_id),
            app.audit.is_some().then_some(json),
            who.map(sts::FederatedCaller::Saml),
        ),
        Err(e) => (xml_error(&e, request_id), None, None),
    }
}
