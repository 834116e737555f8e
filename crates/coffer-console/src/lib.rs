//! Coffer's web console at `/_coffer/ui/` (ADR 0019): server-rendered HTML (maud, checked at
//! compile time), one embedded stylesheet, no script. Every page and action runs API operations
//! as the signed-in caller through `coffer_http::console`, so what a user sees and may change is
//! exactly what their policies allow on the API, and each call is audited like an API call.
#![forbid(unsafe_code)]

mod audit;
mod health;
mod iam;
mod keys;
mod page;
mod secrets;
mod session;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use coffer_http::App;
use coffer_model::ops::Op;
use serde::Deserialize;
use session::{Session, Sessions};
use std::sync::Arc;
use std::time::Duration;

pub use health::Sampler;

/// Where the console lives.
pub const BASE: &str = "/_coffer/ui";

/// How the console behaves (`[ui]` in the configuration).
#[derive(Debug, Clone)]
pub struct Config {
    /// A sign-in ends after this long without a request.
    pub idle_timeout: Duration,
    /// A sign-in ends this long after it began, however busy.
    pub max_session: Duration,
    /// The Region pages open in after sign-in.
    pub default_region: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            max_session: Duration::from_secs(8 * 3600),
            default_region: "us-east-1".into(),
        }
    }
}

/// What every console handler shares.
pub struct Console {
    app: Arc<App>,
    config: Config,
    sessions: Sessions,
    sampler: Option<Arc<Sampler>>,
}

type Shared = State<Arc<Console>>;

/// The console's routes, to merge into the API listener's router.
pub fn router(app: Arc<App>, config: Config, sampler: Option<Arc<Sampler>>) -> Router {
    let console = Arc::new(Console {
        sessions: Sessions::new(app.clone(), config.idle_timeout, config.max_session),
        app,
        config,
        sampler,
    });
    let r = |p: &str| format!("{BASE}{p}");
    Router::new()
        .route(BASE, get(|| async { Redirect::to(&format!("{BASE}/")) }))
        .route(&r("/"), get(home))
        .route(&r("/console.css"), get(page::stylesheet))
        .route(&r("/favicon.svg"), get(page::favicon))
        .route(&r("/sign-in"), get(sign_in_page).post(sign_in))
        .route(&r("/sign-out"), post(sign_out))
        .route(&r("/region"), get(switch_region))
        .route(&r("/health"), get(health::page))
        .route(&r("/iam"), get(iam::list))
        .route(&r("/iam/role"), get(iam::role))
        .route(&r("/iam/policy"), get(iam::policy))
        .route(&r("/{region}/keys"), get(keys::list))
        .route(
            &r("/{region}/keys/new"),
            get(keys::new_form).post(keys::create),
        )
        .route(&r("/{region}/keys/{key_id}"), get(keys::show))
        .route(
            &r("/{region}/keys/{key_id}/delete"),
            get(keys::confirm_delete),
        )
        .route(&r("/{region}/keys/{key_id}/{action}"), post(keys::act))
        .route(&r("/{region}/secrets"), get(secrets::list))
        .route(
            &r("/{region}/secrets/new"),
            get(secrets::new_form).post(secrets::create),
        )
        .route(&r("/{region}/secret"), get(secrets::show))
        .route(&r("/{region}/secret/delete"), get(secrets::confirm_delete))
        .route(&r("/{region}/secret/{action}"), post(secrets::act))
        .route(&r("/{region}/audit"), get(audit::list))
        .layer(axum::middleware::map_response(page::secure_headers))
        .with_state(console)
}

impl Console {
    /// Runs one operation as the session's caller in `region`.
    async fn call(
        &self,
        session: &Session,
        region: &str,
        op: Op,
        input: serde_json::Value,
        parts: &http::request::Parts,
    ) -> Result<serde_json::Value, coffer_http::error::ApiError> {
        coffer_http::console::call(&self.app, &session.who, region, op, &input, parts).await
    }

    fn secure(parts: &http::request::Parts) -> bool {
        parts
            .extensions
            .get::<coffer_http::server::ConnInfo>()
            .is_some_and(|c| c.tls)
    }
}

/// A request from a signed-in browser: its session (or the redirect to sign in) and its head.
struct Signed {
    session: Arc<Session>,
    parts: http::request::Parts,
}

impl FromRequestParts<Arc<Console>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        match console.sessions.of_request(&parts.headers).await {
            Some(session) => {
                if parts.method == http::Method::POST && !session::same_origin(&parts.headers) {
                    return Err(page::refused("The request did not come from this console."));
                }
                Ok(Self {
                    session,
                    parts: parts.clone(),
                })
            }
            None => Err(Redirect::to(&format!("{BASE}/sign-in")).into_response()),
        }
    }
}

/// The answer to a console path naming something that is not a Region (checked as the API
/// checks a credential scope's), if it does.
fn bad_region(region: &str) -> Option<Response> {
    (!coffer_http::console::is_region(region)).then(page::not_found)
}

async fn home(State(console): Shared, headers: http::HeaderMap) -> Response {
    match console.sessions.of_request(&headers).await {
        Some(s) => Redirect::to(&format!("{BASE}/{}/keys", s.region())).into_response(),
        None => Redirect::to(&format!("{BASE}/sign-in")).into_response(),
    }
}

async fn sign_in_page() -> Response {
    page::sign_in(None, StatusCode::OK)
}

#[derive(Deserialize)]
struct SignInForm {
    access_key_id: String,
    secret_access_key: zeroize::Zeroizing<String>,
    #[serde(default)]
    session_token: zeroize::Zeroizing<String>,
}

async fn sign_in(
    State(console): Shared,
    parts: http::request::Parts,
    form: Form<SignInForm>,
) -> Response {
    if !session::same_origin(&parts.headers) {
        return page::refused("The request did not come from this console.");
    }
    let token = Some(form.session_token.trim()).filter(|t| !t.is_empty());
    let region = console.config.default_region.clone();
    let landing = format!("{BASE}/{region}/keys");
    let signed = coffer_http::console::sign_in(
        &console.app,
        form.access_key_id.trim(),
        form.secret_access_key.trim(),
        token,
        &parts,
        &landing,
    )
    .await;
    match signed {
        Ok(who) => {
            let Some(cookie) = console
                .sessions
                .start(who, region.clone(), Console::secure(&parts))
                .await
            else {
                return page::sign_in(
                    Some("The console could not start a session; try again."),
                    StatusCode::SERVICE_UNAVAILABLE,
                );
            };
            let mut resp = Redirect::to(&landing).into_response();
            if let Ok(v) = http::HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(http::header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => page::sign_in(Some(&e.to_string()), StatusCode::UNAUTHORIZED),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(console): Shared, signed: Signed, form: Form<CsrfForm>) -> Response {
    if !signed.session.csrf_ok(&form.csrf) {
        return page::refused("The form has expired; sign out again.");
    }
    console.sessions.end(&signed.parts.headers).await;
    let mut resp = Redirect::to(&format!("{BASE}/sign-in")).into_response();
    resp.headers_mut().insert(
        http::header::SET_COOKIE,
        http::HeaderValue::from_static(session::CLEARED),
    );
    resp
}

#[derive(Deserialize)]
struct RegionSwitch {
    to: String,
    #[serde(default)]
    page: String,
}

async fn switch_region(State(console): Shared, signed: Signed, q: Query<RegionSwitch>) -> Response {
    if let Some(r) = bad_region(&q.to) {
        return r;
    }
    console.sessions.set_region(&signed.session, &q.to).await;
    let section = match q.page.as_str() {
        "secrets" => "secrets",
        "audit" => "audit",
        _ => "keys",
    };
    Redirect::to(&format!("{BASE}/{}/{section}", q.to)).into_response()
}

/// The region and one more path segment.
type RegionAnd = Path<(String, String)>;
