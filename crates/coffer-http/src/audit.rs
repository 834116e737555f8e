//! One CloudTrail record per request (ADR 0010): what the front knows of a request — who called
//! (or which access key claimed to), from where, the decoded request and answer, the error —
//! turned into a [`coffer_audit::Event`] and submitted to the trail. Nothing here runs when the
//! trail is off: the request and the answer are parsed into JSON only for the record.
//!
//! Redaction (plaintexts, ciphertext blobs, secret values, passwords, key material, credentials)
//! is coffer-audit's: the event is built from the whole request and answer, and
//! [`coffer_audit::Event::api_call`] removes what CloudTrail never records.

use crate::server::ConnInfo;
use crate::{App, Caller};
use coffer_audit::{
    ApiCall, ConsoleSignIn, Event, Resource, RoleSessionIdentity, TlsDetails, UserIdentity,
};
use coffer_core::context::partition_of;
use coffer_model::ops::{self, Locator, Operation, ResourceKind};
use serde_json::Value;

/// What one request left for its record.
pub(crate) struct Call<'a> {
    /// The service the request was for.
    pub service: ops::Service,
    /// The operation's name (CloudTrail's `eventName`), as sent when the model lacks it.
    pub operation: &'a str,
    /// The operation, when the model has it.
    pub info: Option<&'static Operation>,
    /// The authenticated caller; `None` when authentication failed or the request is one
    /// sent unsigned.
    pub caller: Option<&'a Caller>,
    /// An unsigned `AssumeRoleWithWebIdentity`'s or `AssumeRoleWithSAML`'s caller, once its
    /// credential verified.
    pub federated: Option<&'a crate::sts::FederatedCaller>,
    /// The request's head.
    pub parts: &'a http::request::Parts,
    /// The request as the service's JSON form (`None`: it could not be read).
    pub request: Option<&'a Value>,
    /// The answer as JSON, on success.
    pub response: Option<&'a Value>,
    /// The error code and message, on failure.
    pub error: Option<(&'a str, &'a str)>,
    /// The request ID.
    pub request_id: &'a str,
}

/// The access key ID, Region and service a request claims in its SigV4 credential scope (header
/// or presigned query), whether or not it authenticates.
pub(crate) fn claimed_scope(parts: &http::request::Parts) -> Scope {
    let credential = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or(c).to_string())
        .or_else(|| {
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v.into_owned())
        });
    let Some(credential) = credential else {
        return Scope::default();
    };
    let mut it = credential
        .split('/')
        .map(|s| (!s.is_empty()).then(|| s.to_string()));
    let access_key_id = it.next().flatten();
    let _date = it.next();
    Scope {
        access_key_id,
        region: it.next().flatten(),
        service: it.next().flatten(),
    }
}

/// What a request's credential scope claims.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub access_key_id: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
}

fn millis_to_time(millis: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// CloudTrail's `userIdentity` for an authenticated caller.
fn identity(app: &App, caller: &Caller) -> UserIdentity {
    let id = identity_of(app, caller);
    match caller.origin {
        // A user's or the root user's own session (GetSessionToken).
        Some(coffer_iam::sts::Origin::SessionToken) => {
            id.with_session_attributes(millis_to_time(caller.session_issued.unwrap_or(0)))
        }
        _ => id,
    }
}

fn identity_of(app: &App, caller: &Caller) -> UserIdentity {
    let ctx = &caller.ctx;
    let ak = caller.access_key_id.as_deref();
    match (&ctx.role, ak) {
        (Some(user), ak) if user.is_user() => {
            // arn:aws:iam::ACCOUNT:user/PATH/NAME
            let path = user
                .role_arn
                .split_once(":user")
                .map(|(_, rest)| rest)
                .and_then(|rest| rest.strip_suffix(user.role_name.as_str()))
                .unwrap_or("/");
            UserIdentity::iam_user(
                &ctx.account_id,
                &user.role_name,
                path,
                &caller.principal.user_id,
                ak,
            )
        }
        (Some(fed), Some(ak)) if fed.kind == coffer_core::PrincipalKind::FederatedUser => {
            let user = (!fed.role_name.is_empty())
                .then(|| app.coffer.iam.user(&ctx.account_id, &fed.role_name))
                .flatten();
            UserIdentity::federated_user(
                &ctx.account_id,
                &fed.session_name,
                ak,
                user.as_ref()
                    .map(|u| (u.name.as_str(), u.user_id.as_str(), u.arn.as_str())),
                millis_to_time(caller.session_issued.unwrap_or(0)),
            )
        }
        (Some(role), Some(ak)) => {
            // arn:aws:iam::ACCOUNT:role/PATH/NAME
            let path = role
                .role_arn
                .split_once(":role")
                .map(|(_, rest)| rest)
                .and_then(|rest| rest.strip_suffix(role.role_name.as_str()))
                .unwrap_or("/");
            let role_id = caller
                .principal
                .user_id
                .split_once(':')
                .map_or(caller.principal.user_id.as_str(), |(id, _)| id);
            UserIdentity::assumed_role(&RoleSessionIdentity {
                account_id: &ctx.account_id,
                role_name: &role.role_name,
                role_path: path,
                role_id,
                session_name: &role.session_name,
                access_key_id: ak,
                issued_at: millis_to_time(caller.session_issued.unwrap_or(0)),
                mfa_authenticated: false,
                source_identity: role.source_identity.as_deref(),
            })
        }
        _ if caller.principal.arn.ends_with(":root") => UserIdentity::root(&ctx.account_id, ak),
        _ => {
            let _ = app;
            UserIdentity::unknown(Some(&ctx.account_id), ak)
        }
    }
}

/// A KMS key's ARN from what a request or answer names it by: an ARN, or a key ID (an alias
/// names no key by itself).
fn kms_key_arn(id: &str, region: &str, account: &str) -> Option<String> {
    if id.starts_with("arn:") {
        return id.contains(":key/").then(|| id.to_string());
    }
    if id.is_empty() || id.starts_with("alias/") {
        return None;
    }
    Some(format!(
        "arn:{}:kms:{region}:{account}:key/{id}",
        partition_of(region)
    ))
}

/// CloudTrail's `resources`: the KMS key or secret the operation acted on, as far as the
/// request and the answer name it.
fn resources(
    info: &Operation,
    request: Option<&Value>,
    response: Option<&Value>,
    region: &str,
    account: &str,
) -> Vec<Resource> {
    let Some(check) = info.checks.first() else {
        return Vec::new();
    };
    let str_at = |v: Option<&Value>, path: &[&str]| -> Option<String> {
        let mut v = v?;
        for p in path {
            v = v.get(*p)?;
        }
        v.as_str().map(str::to_string)
    };
    let member = match check.resource.locators.first() {
        Some(Locator::Member(m)) => Some(*m),
        _ => None,
    };
    match check.resource.kind {
        ResourceKind::Key => {
            let named = [
                str_at(response, &["KeyMetadata", "Arn"]),
                str_at(response, &["KeyId"]),
                member.and_then(|m| str_at(request, &[m])),
            ];
            named
                .iter()
                .flatten()
                .find_map(|id| kms_key_arn(id, region, account))
                .map(|arn| vec![Resource::kms_key(&arn, account)])
                .unwrap_or_default()
        }
        ResourceKind::Secret => {
            let named = [
                str_at(response, &["ARN"]),
                member.and_then(|m| str_at(request, &[m])),
            ];
            named
                .iter()
                .flatten()
                .find(|a| a.starts_with("arn:") && a.contains(":secret:"))
                .map(|arn| vec![Resource::secret(arn, account)])
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// TLS details when the request came over TLS.
fn tls_details(parts: &http::request::Parts) -> Option<TlsDetails> {
    let conn = parts.extensions.get::<ConnInfo>()?;
    conn.tls.then(|| TlsDetails {
        tls_version: conn.tls_version.unwrap_or_default().to_string(),
        cipher_suite: conn.cipher_suite.unwrap_or_default().to_string(),
        client_provided_host_header: header(parts, http::header::HOST),
    })
}

fn header(parts: &http::request::Parts, name: http::header::HeaderName) -> String {
    parts
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

fn source_ip(parts: &http::request::Parts) -> String {
    parts
        .extensions
        .get::<ConnInfo>()
        .map_or_else(|| "127.0.0.1".to_string(), |c| c.remote.ip().to_string())
}

/// What CloudTrail writes for a user name it will not repeat: a refused sign-in whose key is
/// unknown may have been a secret typed into the wrong field.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// The `ConsoleLogin` record of a console sign-in: `caller` when the credentials were
/// accepted; otherwise what is known of `access_key_id` (its account and ID when Coffer issued
/// it, nothing of it when not).
pub(crate) fn console_sign_in(
    app: &App,
    parts: &http::request::Parts,
    caller: Option<&Caller>,
    access_key_id: &str,
    login_to: &str,
) -> Event {
    let (identity, account) = match caller {
        Some(c) => (identity(app, c), c.ctx.account_id.clone()),
        None => {
            let account = app
                .coffer
                .sts
                .lookup(access_key_id)
                .map(|s| s.account_id)
                .or_else(|| {
                    app.coffer
                        .identity
                        .lookup(access_key_id)
                        .map(|(p, _)| p.account_id)
                });
            match account {
                Some(account) => (
                    UserIdentity::unknown(Some(&account), Some(access_key_id)),
                    account,
                ),
                None => {
                    let mut id = UserIdentity::unknown(None, None);
                    id.user_name = Some(HIDDEN.to_string());
                    (id, String::new())
                }
            }
        }
    };
    Event::console_sign_in(ConsoleSignIn {
        identity,
        source_ip: &source_ip(parts),
        user_agent: &header(parts, http::header::USER_AGENT),
        success: caller.is_some(),
        login_to,
        recipient_account_id: &account,
        tls: tls_details(parts),
        time: time::OffsetDateTime::now_utc(),
    })
}

/// The record of one request, or `None` for a service CloudTrail has no event source for.
pub(crate) fn event(app: &App, call: &Call<'_>) -> Option<Event> {
    let service = coffer_audit::Service::from_signing_name(call.service.signing_name())?;
    let source_ip = source_ip(call.parts);
    let user_agent = header(call.parts, http::header::USER_AGENT);
    let (identity, region, account) = match (call.caller, call.federated) {
        (Some(c), _) => (
            identity(app, c),
            c.ctx.region.clone(),
            c.ctx.account_id.clone(),
        ),
        (None, Some(f)) => (
            f.identity(),
            claimed_scope(call.parts)
                .region
                .filter(|r| coffer_core::context::is_region_name(r))
                .unwrap_or_else(|| "us-east-1".to_string()),
            f.account().to_string(),
        ),
        (None, None) => {
            let Scope {
                access_key_id: ak,
                region,
                ..
            } = claimed_scope(call.parts);
            // The account the claimed key belongs to, when it is one Coffer issued.
            let account = ak.as_deref().and_then(|ak| {
                app.coffer
                    .sts
                    .lookup(ak)
                    .map(|s| s.account_id)
                    .or_else(|| app.coffer.identity.lookup(ak).map(|(p, _)| p.account_id))
            });
            let account = account.unwrap_or_else(|| {
                if app.config.dev {
                    app.config.dev_account.clone()
                } else {
                    String::new()
                }
            });
            (
                UserIdentity::unknown(
                    Some(account.as_str()).filter(|a| !a.is_empty()),
                    ak.as_deref(),
                ),
                region
                    .filter(|r| coffer_core::context::is_region_name(r))
                    .unwrap_or_else(|| "us-east-1".to_string()),
                account,
            )
        }
    };
    let tls = tls_details(call.parts);
    let read_only = match call.info {
        Some(info) => info.read_only,
        None => coffer_audit::redact::default_read_only(service, call.operation),
    };
    let resources = call
        .info
        .map(|info| resources(info, call.request, call.response, &region, &account))
        .unwrap_or_default();
    Some(Event::api_call(ApiCall {
        service,
        operation: call.operation,
        region: &region,
        identity,
        source_ip: &source_ip,
        user_agent: &user_agent,
        request: call.request,
        response: call.response,
        error: call.error,
        request_id: call.request_id,
        read_only,
        resources,
        recipient_account_id: &account,
        tls,
        time: time::OffsetDateTime::now_utc(),
    }))
}

/// Service events (scheduler actions) written to the trail as CloudTrail `AwsServiceEvent`
/// records, the way AWS records a key's automatic rotation or deletion and a secret's rotation.
pub struct AuditServiceEvents {
    log: std::sync::Arc<coffer_audit::AuditLog>,
    clock: std::sync::Arc<dyn coffer_core::Clock>,
}

impl AuditServiceEvents {
    /// Writes service events to `log`, timed by `clock`.
    pub fn new(
        log: std::sync::Arc<coffer_audit::AuditLog>,
        clock: std::sync::Arc<dyn coffer_core::Clock>,
    ) -> Self {
        Self { log, clock }
    }
}

impl coffer_core::events::ServiceEvents for AuditServiceEvents {
    fn emit(&self, e: coffer_core::events::ServiceEvent) {
        use coffer_core::events::EventSource;
        let service = match e.source {
            EventSource::Kms => coffer_audit::Service::Kms,
            EventSource::SecretsManager => coffer_audit::Service::SecretsManager,
        };
        let resources = e
            .resources
            .iter()
            .map(|r| Resource {
                arn: r.arn.clone(),
                account_id: Some(e.account.clone()),
                resource_type: Some(r.resource_type.to_string()),
            })
            .collect();
        let details = (!e.details.is_empty()).then(|| {
            Value::Object(
                e.details
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
                    .collect(),
            )
        });
        let event = Event::service_event(
            service,
            e.name,
            &e.region,
            &e.account,
            resources,
            details,
            millis_to_time(self.clock.now().millis),
        );
        if let Err(err) = self.log.record(&event) {
            tracing::error!(event = e.name, error = %err, "the audit trail could not record a service event");
        }
    }
}
