//! STS over the Query protocol: GetCallerIdentity and AssumeRole (ADR 0009).

use crate::error::ApiError;
use crate::Coffer;
use crate::{xml_escape, Caller};
use coffer_core::RoleSession;
use coffer_iam::RoleInfo;
use http::StatusCode;

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// `RoleSessionName`: `[\w+=,.@-]*`, 2–64 characters.
const SESSION_NAME_PATTERN: &str = "[\\w+=,.@-]*";

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn validation(message: String) -> ApiError {
    ApiError::bad_request("ValidationError", message)
}

fn access_denied(message: String) -> ApiError {
    ApiError {
        code: "AccessDenied",
        status: StatusCode::FORBIDDEN,
        message,
    }
}

/// `<XResponse><XResult>…</XResult><ResponseMetadata>…` around `inner`.
fn wrap(action: &str, inner: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{NS}\">\n  <{action}Result>\n{inner}  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
    )
}

/// GetCallerIdentity.
pub(crate) fn get_caller_identity(caller: &Caller, request_id: &str) -> String {
    wrap(
        coffer_model::ops::StsOp::GetCallerIdentity.name(),
        &format!(
            "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n",
            xml_escape(&caller.ctx.principal_arn),
            xml_escape(&caller.principal.user_id),
            xml_escape(&caller.principal.account_id)
        ),
        request_id,
    )
}

/// Collects the model's validation failures for AssumeRole, in AWS's wording.
fn check_assume_role(params: &[(String, String)]) -> Result<(), ApiError> {
    check_session_request(params, None)
}

/// Collects the model's validation failures for an `AssumeRole*` request, in AWS's wording;
/// `token` is the credential member the variant adds (`WebIdentityToken`, 4–20000).
fn check_session_request(
    params: &[(String, String)],
    token: Option<(&str, usize, usize)>,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let mut fail = |member: &str, value: Option<&str>, constraint: &str| {
        let value = value
            .map(|v| format!("'{v}' at "))
            .unwrap_or_else(|| "null at ".to_string());
        errors.push(format!(
            "Value {value}'{}' failed to satisfy constraint: {constraint}",
            lower_first(member)
        ));
    };
    match param(params, "RoleArn") {
        None => fail("RoleArn", None, "Member must not be null"),
        Some(v) if !(20..=2048).contains(&v.len()) => fail(
            "RoleArn",
            Some(v),
            "Member must have length between 20 and 2048",
        ),
        _ => {}
    }
    match param(params, "RoleSessionName") {
        None => fail("RoleSessionName", None, "Member must not be null"),
        Some(v) if !(2..=64).contains(&v.len()) => fail(
            "RoleSessionName",
            Some(v),
            "Member must have length greater than or equal to 2 and less than or equal to 64",
        ),
        Some(v)
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) =>
        {
            fail(
                "RoleSessionName",
                Some(v),
                &format!("Member must satisfy regular expression pattern: {SESSION_NAME_PATTERN}"),
            )
        }
        _ => {}
    }
    if let Some((member, min, max)) = token {
        match param(params, member) {
            None => fail(member, None, "Member must not be null"),
            // The token is a credential: AWS does not echo it.
            Some(v) if !(min..=max).contains(&v.len()) => fail(
                member,
                None,
                &format!("Member must have length between {min} and {max}"),
            ),
            _ => {}
        }
    }
    if let Some(d) = param(params, "DurationSeconds") {
        if !d.parse::<i64>().is_ok_and(|n| (900..=43_200).contains(&n)) {
            fail(
                "DurationSeconds",
                Some(d),
                "Member must have value greater than or equal to 900 and less than or equal to 43200",
            );
        }
    }
    if let Some(p) = param(params, "Policy") {
        if p.is_empty() || p.len() > 2048 {
            fail("Policy", None, "Member must have length between 1 and 2048");
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let n = errors.len();
    Err(validation(format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        errors.join("; ")
    )))
}

/// `2024-01-01T00:00:00Z`.
fn iso8601(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The members an `AssumeRole*` request names that Coffer does not serve yet: answered with a
/// validation error rather than ignored (ignoring one would grant more than asked).
fn refuse_unsupported(params: &[(String, String)], action: &str) -> Result<(), ApiError> {
    for unsupported in [
        "PolicyArns.member.1.arn",
        "SerialNumber",
        "ProvidedContexts.member.1.ProviderArn",
        "ProviderId",
    ] {
        if param(params, unsupported).is_some() {
            let name = unsupported.split('.').next().unwrap_or(unsupported);
            return Err(validation(format!(
                "Coffer does not support {name} in {action} yet."
            )));
        }
    }
    Ok(())
}

/// `DurationSeconds` (default one hour), within the role's `MaxSessionDuration`.
fn session_duration(params: &[(String, String)], role: &RoleInfo) -> Result<i64, ApiError> {
    let duration: i64 = param(params, "DurationSeconds")
        .and_then(|d| d.parse().ok())
        .unwrap_or(3600);
    if duration > role.max_session_duration {
        return Err(validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .to_string(),
        ));
    }
    Ok(duration)
}

/// The session policy (`Policy`), checked as an identity policy.
fn session_policy(params: &[(String, String)]) -> Result<Option<String>, ApiError> {
    let policy = param(params, "Policy").map(str::to_string);
    if let Some(p) = &policy {
        coffer_policy::Policy::parse(p)
            .and_then(|p| p.validate(coffer_policy::PolicyKind::Identity))
            .map_err(|e| ApiError::bad_request("MalformedPolicyDocument", e.to_string()))?;
    }
    Ok(policy)
}

/// A new session of `role`: the credentials, in the answer's XML (with `extra` result members
/// before them) and, for the audit record, the answer's JSON without the secret access key
/// and the session token.
struct Issued {
    xml: String,
    recorded: serde_json::Value,
}

/// The session an `AssumeRole*` request asks for, once it is allowed.
struct SessionAsk<'a> {
    role: &'a RoleInfo,
    session_name: &'a str,
    policy: Option<String>,
    duration: i64,
}

fn issue_session(
    coffer: &Coffer,
    action: &str,
    ask: SessionAsk<'_>,
    extra: &[(&str, &str)],
    request_id: &str,
) -> Result<Issued, ApiError> {
    let SessionAsk {
        role,
        session_name,
        policy,
        duration,
    } = ask;
    let account = role.arn.split(':').nth(4).unwrap_or_default().to_string();
    let session = RoleSession {
        kind: coffer_core::PrincipalKind::AssumedRole,
        role_name: role.name.clone(),
        role_arn: role.arn.clone(),
        session_name: session_name.to_string(),
        session_policy: policy.clone(),
        via_service: None,
    };
    let assumed_arn = coffer_iam::sts::assumed_role_arn(&session);
    let creds = coffer
        .retrying(coffer_iam::sts::StsError::is_conflict, || {
            coffer
                .sts
                .issue(&account, session.clone(), &role.role_id, duration)
        })
        .map_err(|e| ApiError::internal("InternalFailure", &e))?;
    let packed = policy.as_ref().map(|p| (p.len() * 100 / 2048).min(100));
    let mut recorded = serde_json::json!({
        "Credentials": {
            "AccessKeyId": &creds.access_key_id,
            "Expiration": iso8601(creds.expiration.millis),
        },
        "AssumedRoleUser": {
            "Arn": &assumed_arn,
            "AssumedRoleId": format!("{}:{session_name}", role.role_id),
        },
    });
    let mut members = String::new();
    for (name, value) in extra {
        recorded[*name] = (*value).into();
        members.push_str(&format!("    <{name}>{}</{name}>\n", xml_escape(value)));
    }
    if let Some(n) = packed {
        recorded["PackedPolicySize"] = n.into();
        members.push_str(&format!("    <PackedPolicySize>{n}</PackedPolicySize>\n"));
    }
    let xml = wrap(
        action,
        &format!(
            "{members}    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}:{}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n",
            xml_escape(&assumed_arn),
            xml_escape(&role.role_id),
            xml_escape(session_name),
            creds.access_key_id,
            xml_escape(&creds.secret_access_key),
            xml_escape(&creds.session_token),
            iso8601(creds.expiration.millis),
        ),
        request_id,
    );
    Ok(Issued { xml, recorded })
}

/// AssumeRole: the caller must be allowed by the role's trust policy (and, for a role session
/// caller trusted through its account, by its own policies); the session gets the role's
/// permissions, limited by `Policy` when given. Returns the XML answer and, for the audit
/// record, the answer's JSON form without the secret access key and the session token.
pub(crate) fn assume_role(
    coffer: &Coffer,
    caller: &Caller,
    params: &[(String, String)],
    request_id: &str,
) -> Result<(String, serde_json::Value), ApiError> {
    let action = coffer_model::ops::StsOp::AssumeRole.name();
    check_assume_role(params)?;
    refuse_unsupported(params, action)?;
    let role_arn = param(params, "RoleArn").unwrap_or_default();
    let session_name = param(params, "RoleSessionName").unwrap_or_default();
    let not_authorized = || {
        access_denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.ctx.principal_arn
        ))
    };
    let role = coffer
        .iam
        .role_by_arn(role_arn)
        .ok_or_else(not_authorized)?;
    let duration = session_duration(params, &role)?;
    let policy = session_policy(params)?;
    coffer
        .authz
        .check_trust(&caller.ctx, &role.arn, &role.trust_policy)
        .map_err(|_| not_authorized())?;
    let ask = SessionAsk {
        role: &role,
        session_name,
        policy,
        duration,
    };
    let issued = issue_session(coffer, action, ask, &[], request_id)?;
    Ok((issued.xml, issued.recorded))
}

/// What the audit record of an `AssumeRoleWithWebIdentity` says of its caller: CloudTrail's
/// `userIdentity` of type `WebIdentityUser`.
#[derive(Debug, Clone)]
pub(crate) struct WebIdentityCaller {
    /// The provider's URL (`identityProvider`).
    pub provider: String,
    /// `sub` (`userName`).
    pub sub: String,
    /// The audience (`principalId` is `PROVIDER:AUD:SUB`).
    pub aud: String,
    /// The role's account (`recipientAccountId`).
    pub account: String,
}

/// AssumeRoleWithWebIdentity (unsigned: the token is the credential). The token is verified
/// against the OpenID Connect providers of the role's account ([`coffer_iam::web_identity`]);
/// the role's trust policy must allow `sts:AssumeRoleWithWebIdentity` for the provider, its
/// conditions seeing the token's `URL:sub`, `URL:aud` and `URL:amr`.
pub(crate) fn assume_role_with_web_identity(
    coffer: &Coffer,
    params: &[(String, String)],
    request_id: &str,
) -> Result<(String, serde_json::Value, Option<WebIdentityCaller>), ApiError> {
    let op = coffer_model::ops::StsOp::AssumeRoleWithWebIdentity;
    let action = op.name();
    check_session_request(params, Some(("WebIdentityToken", 4, 20_000)))?;
    refuse_unsupported(params, action)?;
    let role_arn = param(params, "RoleArn").unwrap_or_default();
    let session_name = param(params, "RoleSessionName").unwrap_or_default();
    let token = param(params, "WebIdentityToken").unwrap_or_default();
    let not_authorized = || {
        access_denied(format!(
            "Not authorized to perform {}",
            op.info().action().map_or("", |a| a.iam)
        ))
    };
    let role = coffer
        .iam
        .role_by_arn(role_arn)
        .ok_or_else(not_authorized)?;
    let account = role.arn.split(':').nth(4).unwrap_or_default().to_string();
    let now = coffer.clock.now().millis.div_euclid(1000);
    let verified = coffer
        .web_identity()
        .verify(
            token,
            |iss| coffer.iam.oidc_provider_for_issuer(&account, iss),
            now,
        )
        .map_err(|e| {
            let code = if e.is_expired() {
                "ExpiredTokenException"
            } else {
                "InvalidIdentityToken"
            };
            ApiError::bad_request(code, e.to_string())
        })?;
    let url = &verified.provider.url;
    let mut context = coffer_policy::Context::new();
    context
        .set(&format!("{url}:sub"), verified.sub.as_str())
        .set(&format!("{url}:aud"), verified.aud.as_str())
        .set("aws:FederatedProvider", verified.provider.arn.as_str())
        .set("aws:PrincipalType", "WebIdentityUser");
    if !verified.amr.is_empty() {
        context.set_many(&format!("{url}:amr"), verified.amr.iter().cloned());
    }
    let trusted = coffer.authz.check_federated_trust(
        op.info().action().map_or("", |a| a.iam),
        &verified.provider.arn,
        &role.arn,
        &role.trust_policy,
        &context,
    );
    if !trusted {
        return Err(not_authorized());
    }
    let duration = session_duration(params, &role)?;
    let policy = session_policy(params)?;
    let ask = SessionAsk {
        role: &role,
        session_name,
        policy,
        duration,
    };
    let issued = issue_session(
        coffer,
        action,
        ask,
        &[
            ("SubjectFromWebIdentityToken", &verified.sub),
            ("Audience", &verified.aud),
            ("Provider", &verified.iss),
        ],
        request_id,
    )?;
    let who = WebIdentityCaller {
        provider: url.clone(),
        sub: verified.sub,
        aud: verified.aud,
        account,
    };
    Ok((issued.xml, issued.recorded, Some(who)))
}
