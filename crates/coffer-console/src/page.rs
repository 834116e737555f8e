//! The frame every page shares (header, Region picker, navigation, sign-out), the security
//! headers every answer carries, and small rendering helpers.

use crate::session::Session;
use crate::BASE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use coffer_http::error::ApiError;
use maud::{html, Markup, DOCTYPE};

/// The policy every console answer carries: nothing but this origin's stylesheet and images,
/// no script at all, forms only to this origin, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The Regions offered by the picker (any Region name typed into a path works too).
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "me-central-1",
    "af-south-1",
];

const STYLESHEET: &str = include_str!("../assets/console.css");

/// The part of the console a page belongs to (navigation and the Region picker's target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Keys,
    Secrets,
    Audit,
    Iam,
    Health,
}

impl Section {
    fn slug(self) -> &'static str {
        match self {
            Self::Keys => "keys",
            Self::Secrets => "secrets",
            Self::Audit => "audit",
            Self::Iam => "iam",
            Self::Health => "health",
        }
    }
}

/// A page of a signed-in session.
pub struct Page<'a> {
    pub title: &'a str,
    pub session: &'a Session,
    pub region: &'a str,
    pub section: Section,
}

impl Page<'_> {
    /// The page with `body` in its frame.
    pub fn render(&self, body: Markup) -> Response {
        self.render_status(StatusCode::OK, body)
    }

    /// The page with `body`, answered with `status`.
    pub fn render_status(&self, status: StatusCode, body: Markup) -> Response {
        let s = self.session;
        let nav = [
            (
                Section::Keys,
                "Keys",
                format!("{BASE}/{}/keys", self.region),
            ),
            (
                Section::Secrets,
                "Secrets",
                format!("{BASE}/{}/secrets", self.region),
            ),
            (
                Section::Audit,
                "Audit trail",
                format!("{BASE}/{}/audit", self.region),
            ),
            (Section::Iam, "IAM", format!("{BASE}/iam")),
            (Section::Health, "Health", format!("{BASE}/health")),
        ];
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · Coffer" }
                    link rel="stylesheet" href={ (BASE) "/console.css" };
                    link rel="icon" href={ (BASE) "/favicon.svg" } type="image/svg+xml";
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        a.brand href={ (BASE) "/" } { "Coffer" }
                        nav aria-label="Sections" {
                            ul {
                                @for (section, label, href) in &nav {
                                    li {
                                        @if *section == self.section {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        form.region method="get" action={ (BASE) "/region" } {
                            label for="region-picker" { "Region" }
                            select id="region-picker" name="to" {
                                @for r in REGIONS {
                                    option value=(r) selected[*r == self.region] { (r) }
                                }
                                @if !REGIONS.contains(&self.region) {
                                    option value=(self.region) selected { (self.region) }
                                }
                            }
                            input type="hidden" name="page" value=(self.section.slug());
                            button type="submit" { "Go" }
                        }
                        form.who method="post" action={ (BASE) "/sign-out" } {
                            span.arn title="Signed in as" { (s.who.arn) }
                            input type="hidden" name="csrf" value=(s.csrf());
                            button type="submit" { "Sign out" }
                        }
                    }
                    main id="main" {
                        h1 { (self.title) }
                        (body)
                    }
                }
            }
        };
        html_response(status, markup)
    }

    /// A form page, answered with the status of the API error that sent it back, if one did.
    pub fn render_after(&self, failed: Option<&ApiError>, body: Markup) -> Response {
        match failed {
            Some(e) => self.render_status(e.status, body),
            None => self.render(body),
        }
    }

    /// The page showing an API error in place of its content.
    pub fn error(&self, e: &ApiError) -> Response {
        // The API answers a refusal 400 (JSON protocols); a page refused is 403.
        let status = if e.code == "AccessDeniedException" {
            StatusCode::FORBIDDEN
        } else {
            e.status
        };
        self.render_status(status, error_box(e))
    }
}

/// An API error as a notice.
pub fn error_box(e: &ApiError) -> Markup {
    html! {
        div.notice.error role="alert" {
            strong { (e.code) }
            @if !e.message.is_empty() { ": " (e.message) }
        }
    }
}

/// A notice that an action was done.
pub fn done_box(msg: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = msg {
            div.notice.ok role="status" { (m) }
        }
    }
}

/// An HTML answer.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut resp = (status, markup.into_string()).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// Adds the headers every console answer carries: the CSP, no caching anywhere (pages can hold
/// secret values and policies), no sniffing, no framing, no referrer to other sites (same-origin keeps `Origin` on the forms' POSTs, which the origin check needs).
pub async fn secure_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, http::HeaderValue::from_static(v));
    };
    set(h, "content-security-policy", CSP);
    set(h, "cache-control", "no-store");
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    resp
}

/// The icon.
pub async fn favicon() -> Response {
    let mut resp = include_str!("../assets/favicon.svg").into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("image/svg+xml"),
    );
    resp
}

/// The stylesheet.
pub async fn stylesheet() -> Response {
    let mut resp = STYLESHEET.into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/css; charset=utf-8"),
    );
    resp
}

/// A bare page outside a session (sign-in, refusals, not found).
fn bare(title: &str, status: StatusCode, body: Markup) -> Response {
    html_response(
        status,
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Coffer" }
                    link rel="stylesheet" href={ (BASE) "/console.css" };
                    link rel="icon" href={ (BASE) "/favicon.svg" } type="image/svg+xml";
                }
                body.bare {
                    main id="main" {
                        p.brand { "Coffer" }
                        h1 { (title) }
                        (body)
                    }
                }
            }
        },
    )
}

/// The sign-in page, with the reason the last attempt failed.
pub fn sign_in(error: Option<&str>, status: StatusCode) -> Response {
    bare(
        "Sign in",
        status,
        html! {
            @if let Some(e) = error { div.notice.error role="alert" { (e) } }
            form.stack method="post" action={ (BASE) "/sign-in" } {
                label for="ak" { "Access key ID" }
                input id="ak" name="access_key_id" required autocomplete="username" spellcheck="false";
                label for="sk" { "Secret access key" }
                input id="sk" name="secret_access_key" type="password" required autocomplete="current-password";
                label for="st" { "Session token " span.hint { "(only for the credentials of an assumed role)" } }
                textarea id="st" name="session_token" rows="3" spellcheck="false" {}
                button type="submit" { "Sign in" }
            }
            p.hint { "The keys are checked as a signed request would be and are not kept; the console only remembers which key signed in." }
        },
    )
}

/// A refused request (failed CSRF or origin check).
pub fn refused(why: &str) -> Response {
    bare(
        "Request refused",
        StatusCode::FORBIDDEN,
        html! { p { (why) } p { a href={ (BASE) "/" } { "Back to the console" } } },
    )
}

/// No such page.
pub fn not_found() -> Response {
    bare(
        "Not found",
        StatusCode::NOT_FOUND,
        html! { p { "There is no such page." } p { a href={ (BASE) "/" } { "Back to the console" } } },
    )
}

/// An API timestamp (epoch seconds, fractional) as UTC.
pub fn when(v: &serde_json::Value) -> String {
    let Some(secs) = v.as_f64() else {
        return "—".into();
    };
    #[allow(clippy::cast_possible_truncation)]
    let t = time::OffsetDateTime::from_unix_timestamp(secs.floor() as i64);
    match t {
        Ok(t) => t
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .unwrap_or_else(|_| "—".into()),
        Err(_) => "—".into(),
    }
}

/// A string member, or a dash.
pub fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(|x| x.as_str()).unwrap_or("—")
}

/// A key or secret state as a badge.
pub fn badge(state: &str) -> Markup {
    let class = match state {
        "Enabled" | "InSync" | "true" => "good",
        "Disabled" | "PendingImport" | "InProgress" | "Updating" | "Creating" => "warn",
        "PendingDeletion" | "PendingReplicaDeletion" | "Unavailable" | "Failed" => "bad",
        _ => "",
    };
    html! { span class={ "badge " (class) } { (state) } }
}

/// A policy document, pretty-printed.
pub fn policy(doc: &str) -> Markup {
    let pretty = serde_json::from_str::<serde_json::Value>(doc)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| doc.to_string());
    html! { pre.policy { code { (pretty) } } }
}

/// The hidden CSRF field of a session's forms.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf()); }
}

/// Percent-encodes a query value.
pub fn q(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
