//! STS over the Query protocol: GetCallerIdentity, AssumeRole (session tags, source
//! identity, external ID), AssumeRoleWithWebIdentity, AssumeRoleWithSAML, GetSessionToken and
//! GetFederationToken
//! (ADR 0009, ADR 0018).

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
/// Model validation of STS requests, in AWS's wording: every failure of one request, joined.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    /// `Value 'V' at 'member' failed to satisfy constraint: …` (`null` when `value` is `None`).
    fn fail(&mut self, member: &str, value: Option<&str>, constraint: &str) {
        let value = value
            .map(|v| format!("'{v}' at "))
            .unwrap_or_else(|| "null at ".to_string());
        self.0.push(format!(
            "Value {value}'{}' failed to satisfy constraint: {constraint}",
            lower_first(member)
        ));
    }

    /// A string member: required or not, its length, its pattern (`chars` the characters it
    /// allows besides letters and digits, shown as `pattern`).
    fn string(
        &mut self,
        params: &[(String, String)],
        member: &str,
        required: bool,
        (min, max): (usize, usize),
        pattern: Option<(&str, &str)>,
    ) {
        match param(params, member) {
            None if required => self.fail(member, None, "Member must not be null"),
            None => {}
            Some(v) if v.chars().count() < min || v.chars().count() > max => self.fail(
                member,
                Some(v),
                &format!(
                    "Member must have length greater than or equal to {min} and less than or equal to {max}"
                ),
            ),
            Some(v) => {
                if let Some((chars, shown)) = pattern {
                    if !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || chars.contains(c))
                    {
                        self.fail(
                            member,
                            Some(v),
                            &format!("Member must satisfy regular expression pattern: {shown}"),
                        );
                    }
                }
            }
        }
    }

    fn duration(&mut self, params: &[(String, String)], max: i64) {
        if let Some(d) = param(params, "DurationSeconds") {
            if !d.parse::<i64>().is_ok_and(|n| (900..=max).contains(&n)) {
                self.fail(
                    "DurationSeconds",
                    Some(d),
                    &format!(
                        "Member must have value greater than or equal to 900 and less than or equal to {max}"
                    ),
                );
            }
        }
    }

    /// `Tags` (at most 50; keys 1–128, values 0–256 characters of `[\p{L}\p{Z}\p{N}_.:/=+\-@]`)
    /// and `TransitiveTagKeys` (at most 50 keys).
    fn tags(&mut self, tags: &[(String, String)], transitive: Option<&[String]>) {
        const TAG_CHARS: &str = "_.:/=+-@";
        const PATTERN: &str = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]";
        let ok = |s: &str| {
            s.chars()
                .all(|c| c.is_alphanumeric() || c.is_whitespace() || TAG_CHARS.contains(c))
        };
        if tags.len() > 50 {
            self.fail(
                "Tags",
                None,
                "Member must have length less than or equal to 50",
            );
        }
        for (i, (k, v)) in tags.iter().enumerate() {
            let n = i + 1;
            let key = format!("tags.{n}.member.key");
            let value = format!("tags.{n}.member.value");
            if k.is_empty() || k.chars().count() > 128 {
                self.fail(
                    &key,
                    Some(k),
                    "Member must have length greater than or equal to 1 and less than or equal to 128",
                );
            } else if !ok(k) {
                self.fail(
                    &key,
                    Some(k),
                    &format!("Member must satisfy regular expression pattern: {PATTERN}+"),
                );
            }
            if v.chars().count() > 256 {
                self.fail(
                    &value,
                    Some(v),
                    "Member must have length less than or equal to 256",
                );
            } else if !ok(v) {
                self.fail(
                    &value,
                    Some(v),
                    &format!("Member must satisfy regular expression pattern: {PATTERN}*"),
                );
            }
        }
        if let Some(keys) = transitive {
            if keys.len() > 50 {
                self.fail(
                    "TransitiveTagKeys",
                    None,
                    "Member must have length less than or equal to 50",
                );
            }
        }
    }

    fn policy(&mut self, params: &[(String, String)], max: Option<usize>) {
        if let Some(p) = param(params, "Policy") {
            let too_long = max.is_some_and(|m| p.len() > m);
            if p.is_empty() || too_long {
                let constraint = match max {
                    Some(m) => format!("Member must have length between 1 and {m}"),
                    None => "Member must have length greater than or equal to 1".to_string(),
                };
                self.fail("Policy", None, &constraint);
            }
        }
    }

    fn done(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let n = self.0.len();
        Err(validation(format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            self.0.join("; ")
        )))
    }
}

/// Collects the model's validation failures for an `AssumeRole*` request, in AWS's wording;
/// `token` is the credential member the variant adds (`WebIdentityToken`, 4–20000).
fn check_session_request(
    params: &[(String, String)],
    token: Option<(&str, usize, usize)>,
) -> Result<(), ApiError> {
    let mut c = Checks::default();
    session_request_checks(&mut c, params, token);
    c.done()
}

fn session_request_checks(
    c: &mut Checks,
    params: &[(String, String)],
    token: Option<(&str, usize, usize)>,
) {
    match param(params, "RoleArn") {
        None => c.fail("RoleArn", None, "Member must not be null"),
        Some(v) if !(20..=2048).contains(&v.len()) => c.fail(
            "RoleArn",
            Some(v),
            "Member must have length between 20 and 2048",
        ),
        _ => {}
    }
    c.string(
        params,
        "RoleSessionName",
        true,
        (2, 64),
        Some(("+=,.@-", SESSION_NAME_PATTERN)),
    );
    if let Some((member, min, max)) = token {
        match param(params, member) {
            None => c.fail(member, None, "Member must not be null"),
            // The token is a credential: AWS does not echo it.
            Some(v) if !(min..=max).contains(&v.len()) => c.fail(
                member,
                None,
                &format!("Member must have length between {min} and {max}"),
            ),
            _ => {}
        }
    }
    c.duration(params, 43_200);
    c.policy(params, Some(2048));
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

/// The members an STS request names that Coffer does not serve yet: answered with a
/// validation error rather than ignored (ignoring one would grant more than asked).
fn refuse_unsupported(
    params: &[(String, String)],
    action: &str,
    unsupported: &[&str],
) -> Result<(), ApiError> {
    for &unsupported in unsupported {
        if param(params, unsupported).is_some() {
            let name = unsupported.split('.').next().unwrap_or(unsupported);
            return Err(validation(format!(
                "Coffer does not support {name} in {action} yet."
            )));
        }
    }
    Ok(())
}

/// What `AssumeRole*` cannot take yet.
const ASSUME_ROLE_UNSUPPORTED: &[&str] = &[
    "SerialNumber",
    "ProvidedContexts.member.1.ProviderArn",
    "ProviderId",
];

/// `DurationSeconds` (default one hour), within the role's `MaxSessionDuration` and, for a
/// caller signing with temporary credentials (role chaining), within one hour.
fn session_duration(
    params: &[(String, String)],
    role: &RoleInfo,
    chained: bool,
) -> Result<i64, ApiError> {
    let duration: i64 = param(params, "DurationSeconds")
        .and_then(|d| d.parse().ok())
        .unwrap_or(3600);
    if duration > role.max_session_duration {
        return Err(validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .to_string(),
        ));
    }
    if chained && duration > 3600 {
        return Err(validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
                .to_string(),
        ));
    }
    Ok(duration)
}

/// `PolicyArns.member.N.arn`, in order.
fn policy_arns(params: &[(String, String)]) -> Vec<&str> {
    let mut arns: Vec<(u32, &str)> = params
        .iter()
        .filter_map(|(k, v)| {
            let n = k
                .strip_prefix("PolicyArns.member.")?
                .strip_suffix(".arn")?
                .parse()
                .ok()?;
            Some((n, v.as_str()))
        })
        .collect();
    arns.sort_by_key(|(n, _)| *n);
    arns.into_iter().map(|(_, a)| a).collect()
}

/// The session policy: `Policy` (checked as an identity policy) and the managed policies of
/// `PolicyArns` (at most 10), as one document holding every statement of each.
fn session_policy(
    coffer: &Coffer,
    params: &[(String, String)],
) -> Result<Option<String>, ApiError> {
    let inline = param(params, "Policy").map(str::to_string);
    if let Some(p) = &inline {
        coffer_policy::Policy::parse(p)
            .and_then(|p| p.validate(coffer_policy::PolicyKind::Identity))
            .map_err(|e| ApiError::bad_request("MalformedPolicyDocument", e.to_string()))?;
    }
    let arns = policy_arns(params);
    if arns.is_empty() {
        return Ok(inline);
    }
    if arns.len() > 10 {
        return Err(validation(format!(
            "1 validation error detected: Value '[{}]' at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10",
            arns.join(", ")
        )));
    }
    let mut docs = Vec::new();
    for arn in arns {
        let doc = coffer.iam.managed_policy_document(arn).ok_or_else(|| {
            ApiError::bad_request(
                "InvalidParameterValue",
                format!("The policy {arn} does not exist or is not attachable."),
            )
        })?;
        docs.push(doc);
    }
    docs.extend(inline);
    let mut statements = Vec::new();
    for d in &docs {
        let v: serde_json::Value = serde_json::from_str(d)
            .map_err(|e| ApiError::bad_request("MalformedPolicyDocument", e.to_string()))?;
        match v.get("Statement") {
            Some(serde_json::Value::Array(a)) => statements.extend(a.iter().cloned()),
            Some(s) => statements.push(s.clone()),
            None => {}
        }
    }
    let merged = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    Ok(Some(merged.to_string()))
}

/// A session policy that allows nothing (no action is named `coffer:None`): a federated user
/// given no session policy has no permissions, as in AWS.
const NO_PERMISSIONS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"coffer:None","Resource":"*"}]}"#;

/// `NAME.member.N.Key` / `.Value` pairs, ordered by N.
fn tag_params(params: &[(String, String)], name: &str) -> Vec<(String, String)> {
    let prefix = format!("{name}.member.");
    let mut tags: Vec<(u32, String, String)> = Vec::new();
    for (k, v) in params {
        let Some(rest) = k.strip_prefix(&prefix) else {
            continue;
        };
        let Some((n, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else {
            continue;
        };
        let i = match tags.iter().position(|(m, _, _)| *m == n) {
            Some(i) => i,
            None => {
                tags.push((n, String::new(), String::new()));
                tags.len() - 1
            }
        };
        match field {
            "Key" => tags[i].1 = v.clone(),
            "Value" => tags[i].2 = v.clone(),
            _ => {}
        }
    }
    tags.sort_by_key(|(n, _, _)| *n);
    tags.into_iter().map(|(_, k, v)| (k, v)).collect()
}

/// `NAME.member.N` strings, ordered by N.
fn list_params(params: &[(String, String)], name: &str) -> Vec<String> {
    let prefix = format!("{name}.member.");
    let mut items: Vec<(u32, String)> = params
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.parse().ok()?, v.clone())))
        .collect();
    items.sort_by_key(|(n, _)| *n);
    items.into_iter().map(|(_, v)| v).collect()
}

fn invalid_parameter(message: &str) -> ApiError {
    ApiError::bad_request("InvalidParameterValue", message.to_string())
}

/// Session tags as given, checked beyond the model: keys unique regardless of case, none
/// reserved (`aws:`).
fn check_tag_keys(tags: &[(String, String)]) -> Result<(), ApiError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in tags {
        if !seen.insert(k.to_lowercase()) {
            return Err(invalid_parameter(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        if k.to_lowercase().starts_with("aws:") {
            return Err(invalid_parameter(
                "Tag keys cannot start with the reserved prefix 'aws:'.",
            ));
        }
    }
    Ok(())
}

/// How much of the session token's space the session policy and tags take, in percent
/// (`PackedPolicySize`); over 100 is `PackedPolicyTooLarge`, as AWS answers it.
fn packed_size(policy: Option<&str>, tags: &[(String, String)]) -> Result<Option<usize>, ApiError> {
    if policy.is_none() && tags.is_empty() {
        return Ok(None);
    }
    let bytes = policy.map_or(0, str::len)
        + tags
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
    let percent = (bytes * 100).div_ceil(2048);
    if percent > 100 {
        return Err(ApiError::bad_request(
            "PackedPolicyTooLarge",
            format!(
                "Packed policy consumes {percent}% of allotted space, please use smaller policy."
            ),
        ));
    }
    Ok(Some(percent))
}

fn cannot_call_with_session(action: &str) -> ApiError {
    access_denied(format!("Cannot call {action} with session credentials"))
}

/// What temporary credentials may not call, by the STS operation that issued them (AWS's
/// answers): `GetSessionToken` credentials reach no IAM operation (without MFA, which Coffer
/// does not serve) and of STS only `AssumeRole` and `GetCallerIdentity`; `GetFederationToken`
/// credentials no IAM operation and of STS only `GetCallerIdentity`; no session may call
/// `GetSessionToken` or `GetFederationToken`.
pub(crate) fn session_restriction(caller: &Caller, op: coffer_model::ops::Op) -> Option<ApiError> {
    use coffer_iam::sts::Origin;
    use coffer_model::ops::{Op, StsOp};
    let origin = caller.origin?;
    match op {
        Op::Iam(_) if origin != Origin::AssumeRole => Some(ApiError {
            code: "InvalidClientTokenId",
            status: StatusCode::FORBIDDEN,
            message: "The security token included in the request is invalid".into(),
        }),
        Op::Sts(s @ (StsOp::GetSessionToken | StsOp::GetFederationToken)) => {
            Some(cannot_call_with_session(s.name()))
        }
        Op::Sts(StsOp::GetCallerIdentity) => None,
        Op::Sts(StsOp::AssumeRole) if origin != Origin::FederationToken => None,
        Op::Sts(s) if origin != Origin::AssumeRole => {
            let action = s.info().action().map_or("", |a| a.iam);
            Some(access_denied(format!(
                "User: {} is not authorized to perform: {action}",
                caller.ctx.principal_arn
            )))
        }
        _ => None,
    }
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
    tags: Vec<(String, String)>,
    transitive_tag_keys: Vec<String>,
    source_identity: Option<String>,
    packed: Option<usize>,
}

impl<'a> SessionAsk<'a> {
    fn new(
        role: &'a RoleInfo,
        session_name: &'a str,
        policy: Option<String>,
        duration: i64,
    ) -> Self {
        let packed = policy.as_ref().map(|p| (p.len() * 100 / 2048).min(100));
        Self {
            role,
            session_name,
            policy,
            duration,
            tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            packed,
        }
    }
}

/// The `<Credentials>` element and its JSON form without the secrets.
fn credentials_xml(creds: &coffer_iam::sts::IssuedCredentials) -> (String, serde_json::Value) {
    let xml = format!(
        "    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n",
        creds.access_key_id,
        xml_escape(&creds.secret_access_key),
        xml_escape(&creds.session_token),
        iso8601(creds.expiration.millis),
    );
    let json = serde_json::json!({
        "AccessKeyId": &creds.access_key_id,
        "Expiration": iso8601(creds.expiration.millis),
    });
    (xml, json)
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
        tags,
        transitive_tag_keys,
        source_identity,
        packed,
    } = ask;
    let account = role.arn.split(':').nth(4).unwrap_or_default().to_string();
    let session = RoleSession {
        session_policy: policy.clone(),
        session_tags: tags,
        transitive_tag_keys,
        source_identity: source_identity.clone(),
        ..RoleSession::assumed_role(&role.name, &role.arn, session_name)
    };
    let assumed_arn = coffer_iam::sts::assumed_role_arn(&session);
    let creds = coffer
        .retrying(coffer_iam::sts::StsError::is_conflict, || {
            coffer
                .sts
                .issue(&account, session.clone(), &role.role_id, duration)
        })
        .map_err(|e| ApiError::internal("InternalFailure", &e))?;
    let (creds_xml, creds_json) = credentials_xml(&creds);
    let mut recorded = serde_json::json!({
        "Credentials": creds_json,
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
    if let Some(si) = &source_identity {
        recorded["SourceIdentity"] = si.as_str().into();
        members.push_str(&format!(
            "    <SourceIdentity>{}</SourceIdentity>\n",
            xml_escape(si)
        ));
    }
    let xml = wrap(
        action,
        &format!(
            "{members}    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}:{}</AssumedRoleId>\n    </AssumedRoleUser>\n{creds_xml}",
            xml_escape(&assumed_arn),
            xml_escape(&role.role_id),
            xml_escape(session_name),
        ),
        request_id,
    );
    Ok(Issued { xml, recorded })
}

/// AssumeRole: the caller must be allowed by the role's trust policy (and, for a role session
/// caller trusted through its account, by its own policies) to `sts:AssumeRole`, to
/// `sts:TagSession` when the session gets tags (its own or a role chain's transitive ones) and
/// to `sts:SetSourceIdentity` when it gets a source identity; the trust policy's conditions see
/// `aws:RequestTag/KEY`, `aws:TagKeys`, `sts:TransitiveTagKeys`, `sts:ExternalId`,
/// `sts:SourceIdentity` and `sts:RoleSessionName`. The session gets the role's permissions,
/// limited by `Policy`/`PolicyArns` when given. Returns the XML answer and, for the audit
/// record, the answer's JSON form without the secret access key and the session token.
pub(crate) fn assume_role(
    coffer: &Coffer,
    caller: &Caller,
    params: &[(String, String)],
    request_id: &str,
) -> Result<(String, serde_json::Value), ApiError> {
    let action = coffer_model::ops::StsOp::AssumeRole.name();
    let tags = tag_params(params, "Tags");
    let transitive = list_params(params, "TransitiveTagKeys");
    let mut c = Checks::default();
    session_request_checks(&mut c, params, None);
    c.tags(&tags, Some(&transitive));
    c.string(
        params,
        "ExternalId",
        false,
        (2, 1224),
        Some(("+=,.@:/-", "[\\w+=,.@:\\/-]*")),
    );
    c.string(
        params,
        "SourceIdentity",
        false,
        (2, 256),
        Some(("+=,.@-", "[\\w+=,.@-]*")),
    );
    c.done()?;
    refuse_unsupported(params, action, ASSUME_ROLE_UNSUPPORTED)?;
    check_tag_keys(&tags)?;
    let lower = |s: &String| s.to_lowercase();
    let given: std::collections::HashSet<String> = tags.iter().map(|(k, _)| lower(k)).collect();
    if transitive.iter().any(|k| !given.contains(&lower(k))) {
        return Err(invalid_parameter(
            "The specified transitive tag key must be included in the requested tags.",
        ));
    }
    let role_arn = param(params, "RoleArn").unwrap_or_default();
    let session_name = param(params, "RoleSessionName").unwrap_or_default();
    let not_authorized = |what: &str| {
        access_denied(format!(
            "User: {} is not authorized to perform: {what} on resource: {role_arn}",
            caller.ctx.principal_arn
        ))
    };
    let role = coffer
        .iam
        .role_by_arn(role_arn)
        .ok_or_else(|| not_authorized("sts:AssumeRole"))?;
    // A role chain: what the calling session passes on.
    let calling = caller
        .ctx
        .role
        .as_deref()
        .filter(|r| r.kind == coffer_core::PrincipalKind::AssumedRole);
    let mut session_tags: Vec<(String, String)> = Vec::new();
    let mut transitive_keys: Vec<String> = Vec::new();
    if let Some(r) = calling {
        for key in &r.transitive_tag_keys {
            let Some((k, v)) = r.session_tags.iter().find(|(k, _)| lower(k) == lower(key)) else {
                continue;
            };
            if given.contains(&lower(k)) {
                return Err(invalid_parameter(
                    "One or more session tags conflict with transitive session tags of the calling session.",
                ));
            }
            session_tags.push((k.clone(), v.clone()));
            transitive_keys.push(k.clone());
        }
    }
    session_tags.extend(tags.iter().cloned());
    transitive_keys.extend(transitive.iter().cloned());
    let inherited_identity = calling.and_then(|r| r.source_identity.clone());
    let asked_identity = param(params, "SourceIdentity").map(str::to_string);
    if let Some(si) = &asked_identity {
        if si.to_lowercase().starts_with("aws:") {
            return Err(validation(
                "SourceIdentity cannot begin with the reserved prefix aws:.".to_string(),
            ));
        }
    }
    if let (Some(old), Some(new)) = (&inherited_identity, &asked_identity) {
        if old != new {
            return Err(access_denied(format!(
                "User: {} is not authorized to perform: sts:SetSourceIdentity on resource: {role_arn}: the source identity of a role chain cannot be changed once set ({old})",
                caller.ctx.principal_arn
            )));
        }
    }
    let source_identity = inherited_identity.or(asked_identity);
    let duration = session_duration(params, &role, caller.origin.is_some())?;
    let policy = session_policy(coffer, params)?;
    let packed = packed_size(policy.as_deref(), &session_tags)?;
    let mut request = coffer_policy::Context::new();
    for (k, v) in &session_tags {
        request.set(&format!("aws:RequestTag/{k}"), v.as_str());
    }
    request.set_many("aws:TagKeys", session_tags.iter().map(|(k, _)| k.clone()));
    request.set_many("sts:TransitiveTagKeys", transitive_keys.iter().cloned());
    request.set("sts:RoleSessionName", session_name);
    if let Some(e) = param(params, "ExternalId") {
        request.set("sts:ExternalId", e);
    }
    if let Some(si) = &source_identity {
        request.set("sts:SourceIdentity", si.as_str());
    }
    let mut actions = vec!["sts:AssumeRole"];
    if !session_tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for a in actions {
        coffer
            .authz
            .check_trust_action(
                &caller.ctx,
                a,
                &role.arn,
                &role.trust_policy,
                request.clone(),
            )
            .map_err(|_| not_authorized(a))?;
    }
    let ask = SessionAsk {
        tags: session_tags,
        transitive_tag_keys: transitive_keys,
        source_identity,
        packed,
        ..SessionAsk::new(&role, session_name, policy, duration)
    };
    let issued = issue_session(coffer, action, ask, &[], request_id)?;
    Ok((issued.xml, issued.recorded))
}

/// `DurationSeconds` of `GetSessionToken` / `GetFederationToken`: 43,200 s by default; the
/// root user's sessions last at most an hour (and an hour by default), as AWS's do.
fn token_duration(params: &[(String, String)], root: bool) -> i64 {
    let asked: Option<i64> = param(params, "DurationSeconds").and_then(|d| d.parse().ok());
    if root {
        asked.unwrap_or(3600).min(3600)
    } else {
        asked.unwrap_or(43_200)
    }
}

/// GetSessionToken: temporary credentials with the caller's own permissions (an IAM user's, or
/// the root user's). Coffer serves no MFA devices, so `SerialNumber`/`TokenCode` are refused as
/// AWS refuses a device not associated with the user.
pub(crate) fn get_session_token(
    coffer: &Coffer,
    caller: &Caller,
    params: &[(String, String)],
    request_id: &str,
) -> Result<(String, serde_json::Value), ApiError> {
    let op = coffer_model::ops::StsOp::GetSessionToken;
    let mut c = Checks::default();
    c.duration(params, 129_600);
    c.string(
        params,
        "SerialNumber",
        false,
        (9, 256),
        Some(("+=/:,.@-", "[\\w+=/:,.@-]*")),
    );
    c.string(params, "TokenCode", false, (6, 6), None);
    if let Some(t) = param(params, "TokenCode") {
        if t.chars().count() == 6 && !t.chars().all(|c| c.is_ascii_digit()) {
            c.fail(
                "TokenCode",
                Some(t),
                "Member must satisfy regular expression pattern: [\\d]*",
            );
        }
    }
    c.done()?;
    if caller.origin.is_some() {
        return Err(cannot_call_with_session(op.name()));
    }
    if param(params, "SerialNumber").is_some() || param(params, "TokenCode").is_some() {
        return Err(access_denied(
            "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user."
                .to_string(),
        ));
    }
    let role = caller.ctx.role.as_deref().cloned();
    if role.as_ref().is_some_and(|r| !r.is_user()) {
        return Err(cannot_call_with_session(op.name()));
    }
    let duration = token_duration(params, role.is_none());
    let account = caller.ctx.account_id.clone();
    let user_id = caller.principal.user_id.clone();
    let creds = coffer
        .retrying(coffer_iam::sts::StsError::is_conflict, || {
            coffer.sts.issue_as(
                &account,
                role.clone(),
                coffer_iam::sts::Origin::SessionToken,
                &user_id,
                duration,
            )
        })
        .map_err(|e| ApiError::internal("InternalFailure", &e))?;
    let (creds_xml, creds_json) = credentials_xml(&creds);
    Ok((
        wrap(op.name(), &creds_xml, request_id),
        serde_json::json!({"Credentials": creds_json}),
    ))
}

/// GetFederationToken: temporary credentials for a federated user `Name`, whose permissions
/// are the calling IAM user's (everything for the root user) intersected with the session
/// policies given (none given: no permissions). The caller needs `sts:GetFederationToken` (and
/// `sts:TagSession` for `Tags`) on `arn:aws:sts::ACCOUNT:federated-user/NAME`.
pub(crate) fn get_federation_token(
    coffer: &Coffer,
    caller: &Caller,
    params: &[(String, String)],
    request_id: &str,
) -> Result<(String, serde_json::Value), ApiError> {
    let op = coffer_model::ops::StsOp::GetFederationToken;
    let tags = tag_params(params, "Tags");
    let mut c = Checks::default();
    c.string(
        params,
        "Name",
        true,
        (2, 32),
        Some(("+=,.@-", "[\\w+=,.@-]*")),
    );
    c.policy(params, Some(2048));
    c.duration(params, 129_600);
    c.tags(&tags, None);
    c.done()?;
    if caller.origin.is_some() {
        return Err(cannot_call_with_session(op.name()));
    }
    let user = match caller.ctx.role.as_deref() {
        None => None,
        Some(r) if r.is_user() => Some(r),
        Some(_) => return Err(cannot_call_with_session(op.name())),
    };
    check_tag_keys(&tags)?;
    let name = param(params, "Name").unwrap_or_default();
    let account = caller.ctx.account_id.clone();
    let arn = coffer_iam::sts::federated_user_arn(&account, name);
    let arn_shown = arn.replacen("arn:aws:", &format!("arn:{}:", caller.ctx.partition()), 1);
    let mut request = coffer_policy::Context::new();
    for (k, v) in &tags {
        request.set(&format!("aws:RequestTag/{k}"), v.as_str());
    }
    request.set_many("aws:TagKeys", tags.iter().map(|(k, _)| k.clone()));
    let mut actions = vec![op
        .info()
        .action()
        .map_or("sts:GetFederationToken", |a| a.iam)];
    if !tags.is_empty() {
        actions.push("sts:TagSession");
    }
    for a in actions {
        let ask = coffer_core::authz::Ask {
            action: a,
            resource: &arn_shown,
            context: request.clone(),
        };
        coffer
            .authz
            .check(&caller.ctx, ask, None)
            .map_err(|d| access_denied(d.message))?;
    }
    let policy = session_policy(coffer, params)?;
    let packed = packed_size(policy.as_deref(), &tags)?;
    let duration = token_duration(params, user.is_none());
    let session = RoleSession {
        kind: coffer_core::PrincipalKind::FederatedUser,
        session_name: name.to_string(),
        session_policy: Some(policy.unwrap_or_else(|| NO_PERMISSIONS.to_string())),
        session_tags: tags,
        ..RoleSession::user(user.map_or("", |u| u.role_name.as_str()), &arn)
    };
    let creds = coffer
        .retrying(coffer_iam::sts::StsError::is_conflict, || {
            coffer.sts.issue_as(
                &account,
                Some(session.clone()),
                coffer_iam::sts::Origin::FederationToken,
                "",
                duration,
            )
        })
        .map_err(|e| ApiError::internal("InternalFailure", &e))?;
    let (creds_xml, creds_json) = credentials_xml(&creds);
    let user_id = format!("{account}:{name}");
    let mut recorded = serde_json::json!({
        "Credentials": creds_json,
        "FederatedUser": {"FederatedUserId": &user_id, "Arn": &arn_shown},
    });
    let mut members = format!(
        "{creds_xml}    <FederatedUser>\n      <FederatedUserId>{}</FederatedUserId>\n      <Arn>{}</Arn>\n    </FederatedUser>\n",
        xml_escape(&user_id),
        xml_escape(&arn_shown)
    );
    if let Some(n) = packed {
        recorded["PackedPolicySize"] = n.into();
        members.push_str(&format!("    <PackedPolicySize>{n}</PackedPolicySize>\n"));
    }
    Ok((wrap(op.name(), &members, request_id), recorded))
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
    refuse_unsupported(params, action, ASSUME_ROLE_UNSUPPORTED)?;
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
    let duration = session_duration(params, &role, false)?;
    let policy = session_policy(coffer, params)?;
    let ask = SessionAsk::new(&role, session_name, policy, duration);
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

/// The caller of an unsigned federation call, once its credential verified.
#[derive(Debug, Clone)]
pub(crate) enum FederatedCaller {
    /// AssumeRoleWithWebIdentity.
    Web(WebIdentityCaller),
    /// AssumeRoleWithSAML.
    Saml(SamlCaller),
}

impl FederatedCaller {
    /// The role's account (`recipientAccountId`).
    pub(crate) fn account(&self) -> &str {
        match self {
            FederatedCaller::Web(w) => &w.account,
            FederatedCaller::Saml(s) => &s.account,
        }
    }

    /// CloudTrail's `userIdentity`.
    pub(crate) fn identity(&self) -> coffer_audit::UserIdentity {
        match self {
            FederatedCaller::Web(w) => {
                coffer_audit::UserIdentity::web_identity(&w.provider, &w.aud, &w.sub)
            }
            FederatedCaller::Saml(s) => coffer_audit::UserIdentity::federated(
                coffer_audit::IdentityType::SamlUser,
                &format!("{}:{}", s.name_qualifier, s.sub),
                &s.sub,
                &s.provider,
            ),
        }
    }
}

/// What the audit record of an `AssumeRoleWithSAML` says of its caller: CloudTrail's
/// `userIdentity` of type `SAMLUser` (`principalId` `NAMEQUALIFIER:SUB`).
#[derive(Debug, Clone)]
pub(crate) struct SamlCaller {
    /// The provider's ARN (`identityProvider`).
    pub provider: String,
    /// The NameID (`userName`).
    pub sub: String,
    /// `SAML:namequalifier`.
    pub name_qualifier: String,
    /// The role's account (`recipientAccountId`).
    pub account: String,
}

/// AssumeRoleWithSAML (unsigned: the assertion is the credential). The assertion is verified
/// against the SAML provider `PrincipalArn` names ([`coffer_iam::saml_assertion`]); it must name
/// the role and provider in its `Role` attribute, and the role's trust policy must allow
/// `sts:AssumeRoleWithSAML` for the provider, its conditions seeing the `SAML:` keys.
pub(crate) fn assume_role_with_saml(
    coffer: &Coffer,
    params: &[(String, String)],
    request_id: &str,
) -> Result<(String, serde_json::Value, Option<SamlCaller>), ApiError> {
    let op = coffer_model::ops::StsOp::AssumeRoleWithSAML;
    let action = op.name();
    let mut c = Checks::default();
    for member in ["RoleArn", "PrincipalArn"] {
        match param(params, member) {
            None => c.fail(member, None, "Member must not be null"),
            Some(v) if !(20..=2048).contains(&v.len()) => c.fail(
                member,
                Some(v),
                "Member must have length between 20 and 2048",
            ),
            _ => {}
        }
    }
    match param(params, "SAMLAssertion") {
        None => c.fail("SAMLAssertion", None, "Member must not be null"),
        // The assertion is a credential: AWS does not echo it.
        Some(v) if !(4..=100_000).contains(&v.len()) => c.fail(
            "SAMLAssertion",
            None,
            "Member must have length between 4 and 100000",
        ),
        _ => {}
    }
    c.duration(params, 43_200);
    c.policy(params, Some(2048));
    c.done()?;
    let role_arn = param(params, "RoleArn").unwrap_or_default();
    let principal_arn = param(params, "PrincipalArn").unwrap_or_default();
    let assertion = param(params, "SAMLAssertion").unwrap_or_default();
    let iam_action = op.info().action().map_or("", |a| a.iam);
    let not_authorized = || access_denied(format!("Not authorized to perform {iam_action}"));
    let role = coffer
        .iam
        .role_by_arn(role_arn)
        .ok_or_else(not_authorized)?;
    let account = role.arn.split(':').nth(4).unwrap_or_default().to_string();
    let provider = coffer
        .iam
        .saml_provider_by_arn(principal_arn)
        .filter(|p| p.account == account)
        .ok_or_else(|| {
            ApiError::bad_request("InvalidIdentityToken", "Specified provider doesn't exist")
        })?;
    let now = coffer.clock.now().millis;
    if provider.valid_until.is_some_and(|t| now >= t) {
        return Err(ApiError::bad_request(
            "InvalidIdentityToken",
            "The SAML provider's metadata has expired",
        ));
    }
    let claims = coffer_iam::saml_assertion::verify(assertion, &provider, now)
        .map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    // The assertion must offer this role through this provider (either order).
    let offered = claims.roles.iter().any(|(a, b)| {
        (a == &role.arn && b == &provider.arn) || (b == &role.arn && a == &provider.arn)
    });
    if !offered {
        return Err(not_authorized());
    }
    let qualifier =
        coffer_iam::saml_assertion::name_qualifier(&claims.issuer, &account, &provider.name);
    let mut context = coffer_policy::Context::new();
    context
        .set("SAML:aud", claims.audience.as_str())
        .set("SAML:sub", claims.subject.as_str())
        .set("SAML:sub_type", claims.subject_type.as_str())
        .set("SAML:iss", claims.issuer.as_str())
        .set("SAML:namequalifier", qualifier.as_str())
        .set("SAML:doc", format!("{account}/{}", provider.name).as_str())
        .set("aws:FederatedProvider", provider.arn.as_str())
        .set("aws:PrincipalType", "SAMLUser");
    let trusted = coffer.authz.check_federated_trust(
        iam_action,
        &provider.arn,
        &role.arn,
        &role.trust_policy,
        &context,
    );
    if !trusted {
        return Err(not_authorized());
    }
    // DurationSeconds decides when given; else the assertion's SessionDuration, else an hour.
    let duration = if param(params, "DurationSeconds").is_some() {
        session_duration(params, &role, false)?
    } else {
        claims
            .session_duration
            .map_or(3600, |d| d.clamp(900, 43_200))
            .min(role.max_session_duration)
    };
    let policy = session_policy(coffer, params)?;
    let ask = SessionAsk::new(&role, &claims.session_name, policy, duration);
    let issued = issue_session(
        coffer,
        action,
        ask,
        &[
            ("Subject", &claims.subject),
            ("SubjectType", &claims.subject_type),
            ("Issuer", &claims.issuer),
            ("Audience", &claims.audience),
            ("NameQualifier", &qualifier),
        ],
        request_id,
    )?;
    let who = SamlCaller {
        provider: provider.arn,
        sub: claims.subject,
        name_qualifier: qualifier,
        account,
    };
    Ok((issued.xml, issued.recorded, Some(who)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_and_lists_are_read_in_order() {
        let p = params(&[
            ("Tags.member.2.Key", "b"),
            ("Tags.member.1.Value", "1"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.2.Value", ""),
            ("TransitiveTagKeys.member.2", "b"),
            ("TransitiveTagKeys.member.1", "a"),
            ("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/X"),
        ]);
        assert_eq!(
            tag_params(&p, "Tags"),
            [("a".into(), "1".into()), ("b".into(), String::new())]
        );
        assert_eq!(list_params(&p, "TransitiveTagKeys"), ["a", "b"]);
        assert_eq!(policy_arns(&p), ["arn:aws:iam::aws:policy/X"]);
    }

    #[test]
    fn model_checks_speak_aws() {
        let mut c = Checks::default();
        let tags = vec![("bad key!".to_string(), "v".to_string())];
        c.tags(&tags, None);
        c.string(
            &params(&[("ExternalId", "a b")]),
            "ExternalId",
            false,
            (2, 1224),
            Some(("+=,.@:/-", "[\\w+=,.@:\\/-]*")),
        );
        c.duration(&params(&[("DurationSeconds", "129601")]), 129_600);
        let e = c.done().unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert_eq!(
            e.message,
            "3 validation errors detected: Value 'bad key!' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+; Value 'a b' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*; Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900 and less than or equal to 129600"
        );
        assert!(Checks::default().done().is_ok());
    }

    #[test]
    fn tag_keys_and_packed_size() {
        let t = |k: &str| (k.to_string(), "v".to_string());
        assert!(check_tag_keys(&[t("team"), t("cost")]).is_ok());
        assert_eq!(
            check_tag_keys(&[t("team"), t("Team")]).unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(
            check_tag_keys(&[t("AWS:team")]).unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(packed_size(None, &[]).unwrap(), None);
        assert_eq!(packed_size(Some(&"x".repeat(1024)), &[]).unwrap(), Some(50));
        let e = packed_size(Some(&"x".repeat(2049)), &[]).unwrap_err();
        assert_eq!(e.code, "PackedPolicyTooLarge");
        assert_eq!(
            e.message,
            "Packed policy consumes 101% of allotted space, please use smaller policy."
        );
    }

    #[test]
    fn root_sessions_last_an_hour() {
        assert_eq!(token_duration(&[], false), 43_200);
        assert_eq!(token_duration(&[], true), 3600);
        let long = params(&[("DurationSeconds", "7200")]);
        assert_eq!(token_duration(&long, true), 3600);
        assert_eq!(token_duration(&long, false), 7200);
    }
}
