//! The record: one AWS CloudTrail event (management event, `eventCategory` `Management`), with
//! CloudTrail's member names, built from what dispatch knows about a request.
//!
//! Field names, order and optionality follow the CloudTrail record contents reference and the KMS /
//! Secrets Manager / STS / IAM logging samples. Coffer's chain data is not part of the event: the
//! writer appends it as an extra `coffer` member that CloudTrail readers ignore.

use crate::redact;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;

/// The `eventVersion` Coffer writes. AWS's current KMS samples carry 1.11; every member Coffer writes
/// exists in that version (readers compare the major version for equality and the minor with `>=`).
pub const EVENT_VERSION: &str = "1.11";

/// The AWS services whose calls are recorded (CloudTrail's `eventSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `kms.amazonaws.com`
    Kms,
    /// `secretsmanager.amazonaws.com`
    SecretsManager,
    /// `sts.amazonaws.com`
    Sts,
    /// `iam.amazonaws.com`
    Iam,
    /// `cloudtrail.amazonaws.com` (LookupEvents itself is recorded too)
    CloudTrail,
    /// `signin.amazonaws.com`: sign-ins to the web console (`ConsoleLogin`).
    Signin,
}

impl Service {
    /// Every service, for iteration.
    pub const ALL: [Service; 6] = [
        Service::Kms,
        Service::SecretsManager,
        Service::Sts,
        Service::Iam,
        Service::CloudTrail,
        Service::Signin,
    ];

    /// CloudTrail's `eventSource` for this service.
    pub fn event_source(self) -> &'static str {
        match self {
            Service::Kms => "kms.amazonaws.com",
            Service::SecretsManager => "secretsmanager.amazonaws.com",
            Service::Sts => "sts.amazonaws.com",
            Service::Iam => "iam.amazonaws.com",
            Service::CloudTrail => "cloudtrail.amazonaws.com",
            Service::Signin => "signin.amazonaws.com",
        }
    }

    /// The service of an `eventSource`.
    pub fn from_event_source(source: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.event_source() == source)
    }

    /// The service of a SigV4 signing name (`kms`, `secretsmanager`, `sts`, `iam`, `cloudtrail`).
    pub fn from_signing_name(name: &str) -> Option<Self> {
        match name {
            "kms" => Some(Service::Kms),
            "secretsmanager" => Some(Service::SecretsManager),
            "sts" => Some(Service::Sts),
            "iam" => Some(Service::Iam),
            "cloudtrail" => Some(Service::CloudTrail),
            _ => None,
        }
    }
}

/// CloudTrail's `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityType {
    /// The account's root user.
    Root,
    /// An IAM user.
    #[serde(rename = "IAMUser")]
    IamUser,
    /// Temporary credentials of an assumed role (STS AssumeRole).
    AssumedRole,
    /// A caller federated through a web identity provider (AssumeRoleWithWebIdentity).
    WebIdentityUser,
    /// A federated user's session (STS GetFederationToken).
    FederatedUser,
    /// A caller federated through SAML (AssumeRoleWithSAML).
    #[serde(rename = "SAMLUser")]
    SamlUser,
    /// An AWS service acting on its own (a scheduler's rotation or deletion).
    #[serde(rename = "AWSService")]
    AwsService,
    /// Another account's principal.
    #[serde(rename = "AWSAccount")]
    AwsAccount,
    /// The request could not be authenticated (bad signature, unknown access key).
    Unknown,
}

/// CloudTrail's `userIdentity` element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// The kind of identity.
    #[serde(rename = "type")]
    pub identity_type: IdentityType,
    /// Root: the account ID; IAM user: its unique ID (`AIDA…`); role session: `AROA…:session-name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// The principal's ARN (`arn:aws:iam::ACCOUNT:root`, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The principal's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The access key ID that signed the request (never its secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// IAM users (and web-identity / SAML callers): the user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Temporary credentials: how they were issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
    /// AWS service events: the service that acted (`kms.amazonaws.com`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    /// Web-identity and SAML callers: the identity provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    /// The role (or user) the session was issued for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_issuer: Option<SessionIssuer>,
    /// Web identity federation details, when the session came from AssumeRoleWithWebIdentity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_id_federation_data: Option<Value>,
    /// When the credentials were issued and whether MFA was used.
    pub attributes: SessionAttributes,
    /// The source identity set at AssumeRole, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    /// `Role` (or `IAMUser` / `Root` for GetSessionToken sessions).
    #[serde(rename = "type")]
    pub issuer_type: String,
    /// The role's unique ID (`AROA…`).
    pub principal_id: String,
    /// The role's ARN.
    pub arn: String,
    /// The role's account.
    pub account_id: String,
    /// The role's name.
    pub user_name: String,
}

/// `userIdentity.sessionContext.attributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    /// When the temporary credentials were issued (ISO 8601, `Z`).
    pub creation_date: String,
    /// `"true"` or `"false"` (a string, as CloudTrail writes it).
    pub mfa_authenticated: String,
}

/// What identifies an assumed-role session, for [`UserIdentity::assumed_role`].
#[derive(Debug, Clone)]
pub struct RoleSessionIdentity<'a> {
    /// The role's account.
    pub account_id: &'a str,
    /// The role's name.
    pub role_name: &'a str,
    /// The role's path (`/` for most roles).
    pub role_path: &'a str,
    /// The role's unique ID (`AROA…`).
    pub role_id: &'a str,
    /// The session name given to AssumeRole.
    pub session_name: &'a str,
    /// The session's access key ID (`ASIA…`).
    pub access_key_id: &'a str,
    /// When the session's credentials were issued.
    pub issued_at: OffsetDateTime,
    /// Whether MFA was used to issue them.
    pub mfa_authenticated: bool,
    /// The source identity, if one was set.
    pub source_identity: Option<&'a str>,
}

impl UserIdentity {
    fn bare(identity_type: IdentityType) -> Self {
        Self {
            identity_type,
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: None,
            user_name: None,
            session_context: None,
            invoked_by: None,
            identity_provider: None,
        }
    }

    /// The account's root user, signing with `access_key_id`.
    pub fn root(account_id: &str, access_key_id: Option<&str>) -> Self {
        Self {
            principal_id: Some(account_id.to_owned()),
            arn: Some(format!("arn:aws:iam::{account_id}:root")),
            account_id: Some(account_id.to_owned()),
            access_key_id: access_key_id.map(str::to_owned),
            ..Self::bare(IdentityType::Root)
        }
    }

    /// A caller federated through an OpenID Connect provider (AssumeRoleWithWebIdentity):
    /// `principalId` is `PROVIDER:AUDIENCE:SUBJECT`, `userName` the subject.
    pub fn web_identity(provider: &str, audience: &str, subject: &str) -> Self {
        Self {
            principal_id: Some(format!("{provider}:{audience}:{subject}")),
            user_name: Some(subject.to_owned()),
            identity_provider: Some(provider.to_owned()),
            ..Self::bare(IdentityType::WebIdentityUser)
        }
    }

    /// An IAM user (`user_id` is its `AIDA…` unique ID).
    pub fn iam_user(
        account_id: &str,
        user_name: &str,
        user_path: &str,
        user_id: &str,
        access_key_id: Option<&str>,
    ) -> Self {
        Self {
            principal_id: Some(user_id.to_owned()),
            arn: Some(format!(
                "arn:aws:iam::{account_id}:user{}{user_name}",
                normalize_path(user_path)
            )),
            account_id: Some(account_id.to_owned()),
            access_key_id: access_key_id.map(str::to_owned),
            user_name: Some(user_name.to_owned()),
            ..Self::bare(IdentityType::IamUser)
        }
    }

    /// A role session from STS AssumeRole.
    pub fn assumed_role(s: &RoleSessionIdentity<'_>) -> Self {
        let account = s.account_id;
        Self {
            principal_id: Some(format!("{}:{}", s.role_id, s.session_name)),
            arn: Some(format!(
                "arn:aws:sts::{account}:assumed-role/{}/{}",
                s.role_name, s.session_name
            )),
            account_id: Some(account.to_owned()),
            access_key_id: Some(s.access_key_id.to_owned()),
            session_context: Some(SessionContext {
                session_issuer: Some(SessionIssuer {
                    issuer_type: "Role".to_owned(),
                    principal_id: s.role_id.to_owned(),
                    arn: format!(
                        "arn:aws:iam::{account}:role{}{}",
                        normalize_path(s.role_path),
                        s.role_name
                    ),
                    account_id: account.to_owned(),
                    user_name: s.role_name.to_owned(),
                }),
                web_id_federation_data: None,
                attributes: SessionAttributes {
                    creation_date: format_time(s.issued_at),
                    mfa_authenticated: s.mfa_authenticated.to_string(),
                },
                source_identity: s.source_identity.map(str::to_owned),
            }),
            ..Self::bare(IdentityType::AssumedRole)
        }
    }

    /// A federated user (STS GetFederationToken): `principalId` is `ACCOUNT:NAME`; the session
    /// issuer is the IAM user that federated it (`None`: the account's root user).
    pub fn federated_user(
        account_id: &str,
        name: &str,
        access_key_id: &str,
        issuer: Option<(&str, &str, &str)>,
        issued_at: OffsetDateTime,
    ) -> Self {
        let session_issuer = match issuer {
            Some((user_name, user_id, arn)) => SessionIssuer {
                issuer_type: "IAMUser".to_owned(),
                principal_id: user_id.to_owned(),
                arn: arn.to_owned(),
                account_id: account_id.to_owned(),
                user_name: user_name.to_owned(),
            },
            None => SessionIssuer {
                issuer_type: "Root".to_owned(),
                principal_id: account_id.to_owned(),
                arn: format!("arn:aws:iam::{account_id}:root"),
                account_id: account_id.to_owned(),
                user_name: String::new(),
            },
        };
        Self {
            principal_id: Some(format!("{account_id}:{name}")),
            arn: Some(format!("arn:aws:sts::{account_id}:federated-user/{name}")),
            account_id: Some(account_id.to_owned()),
            access_key_id: Some(access_key_id.to_owned()),
            session_context: Some(SessionContext {
                session_issuer: Some(session_issuer),
                web_id_federation_data: None,
                attributes: SessionAttributes {
                    creation_date: format_time(issued_at),
                    mfa_authenticated: "false".to_owned(),
                },
                source_identity: None,
            }),
            ..Self::bare(IdentityType::FederatedUser)
        }
    }

    /// The same identity signing with temporary credentials of its own (STS GetSessionToken):
    /// `sessionContext.attributes` says when they were issued (no session issuer, as
    /// CloudTrail records an IAM user's or the root user's session).
    pub fn with_session_attributes(mut self, issued_at: OffsetDateTime) -> Self {
        self.session_context = Some(SessionContext {
            session_issuer: None,
            web_id_federation_data: None,
            attributes: SessionAttributes {
                creation_date: format_time(issued_at),
                mfa_authenticated: "false".to_owned(),
            },
            source_identity: None,
        });
        self
    }

    /// A federated caller (AssumeRoleWithWebIdentity / AssumeRoleWithSAML requests).
    pub fn federated(
        identity_type: IdentityType,
        principal_id: &str,
        user_name: &str,
        identity_provider: &str,
    ) -> Self {
        Self {
            principal_id: Some(principal_id.to_owned()),
            user_name: Some(user_name.to_owned()),
            identity_provider: Some(identity_provider.to_owned()),
            ..Self::bare(identity_type)
        }
    }

    /// The service itself (scheduler actions): `invoked_by` is e.g. `kms.amazonaws.com`.
    pub fn aws_service(invoked_by: &str, account_id: Option<&str>) -> Self {
        Self {
            invoked_by: Some(invoked_by.to_owned()),
            account_id: account_id.map(str::to_owned),
            ..Self::bare(IdentityType::AwsService)
        }
    }

    /// A caller that could not be authenticated; only the access key ID it claimed is known.
    pub fn unknown(account_id: Option<&str>, access_key_id: Option<&str>) -> Self {
        Self {
            account_id: account_id.map(str::to_owned),
            access_key_id: access_key_id.map(str::to_owned),
            ..Self::bare(IdentityType::Unknown)
        }
    }

    /// LookupEvents' `Username`: an IAM user's name, a role session's name, `root` for the root user.
    pub fn lookup_username(&self) -> Option<String> {
        if let Some(name) = &self.user_name {
            return Some(name.clone());
        }
        match self.identity_type {
            IdentityType::Root => Some("root".to_owned()),
            IdentityType::AssumedRole | IdentityType::FederatedUser => self
                .arn
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_owned),
            _ => None,
        }
    }
}

fn normalize_path(path: &str) -> String {
    if path.is_empty() || path == "/" {
        "/".to_owned()
    } else {
        let mut p = path.to_owned();
        if !p.starts_with('/') {
            p.insert(0, '/');
        }
        if !p.ends_with('/') {
            p.push('/');
        }
        p
    }
}

/// One element of `resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The resource's account.
    #[serde(rename = "accountId", skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The CloudFormation-style type, e.g. `AWS::KMS::Key`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
}

impl Resource {
    /// A resource of `resource_type` (e.g. `AWS::IAM::Role`).
    pub fn new(resource_type: &str, arn: &str, account_id: &str) -> Self {
        Self {
            arn: arn.to_owned(),
            account_id: Some(account_id.to_owned()),
            resource_type: Some(resource_type.to_owned()),
        }
    }

    /// A KMS key (`AWS::KMS::Key`), by its key ARN.
    pub fn kms_key(arn: &str, account_id: &str) -> Self {
        Self::new("AWS::KMS::Key", arn, account_id)
    }

    /// A secret (`AWS::SecretsManager::Secret`), by its ARN.
    pub fn secret(arn: &str, account_id: &str) -> Self {
        Self::new("AWS::SecretsManager::Secret", arn, account_id)
    }
}

/// `tlsDetails`, present when the request came over TLS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails {
    /// e.g. `TLSv1.3`.
    pub tls_version: String,
    /// e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// The Host header (or SNI name) the client sent.
    pub client_provided_host_header: String,
}

/// `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// A request a caller made.
    AwsApiCall,
    /// An action the service took on its own (scheduled rotation, deletion when due).
    AwsServiceEvent,
    /// A sign-in to the web console (`ConsoleLogin`).
    AwsConsoleSignIn,
}

/// One CloudTrail event, serialized with CloudTrail's member names and order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// [`EVENT_VERSION`].
    pub event_version: String,
    /// Who made the request.
    pub user_identity: UserIdentity,
    /// When the request completed (UTC, second precision, `Z`).
    #[serde(with = "event_time")]
    pub event_time: OffsetDateTime,
    /// `kms.amazonaws.com`, …
    pub event_source: String,
    /// The operation, e.g. `Decrypt`.
    pub event_name: String,
    /// The Region the request was made to.
    pub aws_region: String,
    /// The caller's IP address (or the service name for service events).
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    /// The caller's User-Agent.
    pub user_agent: String,
    /// The AWS error code when the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message when the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's parameters, redacted (`null` when there are none).
    pub request_parameters: Value,
    /// The response's elements, redacted (`null` for read-only calls and failures).
    pub response_elements: Value,
    /// Service-specific data that is neither request nor response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    /// The request ID the service answered with.
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A unique ID of this event (a UUID).
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Whether the operation only reads.
    pub read_only: bool,
    /// The resources the request acted on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// `AwsApiCall` or `AwsServiceEvent`.
    pub event_type: EventType,
    /// Always `true` (every recorded operation is a management event).
    pub management_event: bool,
    /// The account that owns the resource / receives the event.
    pub recipient_account_id: String,
    /// Service events: what happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_event_details: Option<Value>,
    /// Always `Management`.
    pub event_category: String,
    /// TLS details when the request came over TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<TlsDetails>,
}

/// What dispatch knows about one request, for [`Event::api_call`].
#[derive(Debug, Clone)]
pub struct ApiCall<'a> {
    /// The service called.
    pub service: Service,
    /// The operation name (`Decrypt`), as in the `X-Amz-Target` / `Action`.
    pub operation: &'a str,
    /// The Region from the SigV4 credential scope.
    pub region: &'a str,
    /// The caller.
    pub identity: UserIdentity,
    /// The caller's IP address.
    pub source_ip: &'a str,
    /// The caller's User-Agent header.
    pub user_agent: &'a str,
    /// The decoded request (AWS member names, e.g. `{"KeyId": …, "Plaintext": …}`); `None` when it
    /// could not be decoded.
    pub request: Option<&'a Value>,
    /// The response body on success.
    pub response: Option<&'a Value>,
    /// The AWS error (`__type` code, message) on failure.
    pub error: Option<(&'a str, &'a str)>,
    /// The request ID answered.
    pub request_id: &'a str,
    /// Whether the operation only reads (the registry's flag; see [`crate::redact::default_read_only`]).
    pub read_only: bool,
    /// The resources acted on.
    pub resources: Vec<Resource>,
    /// The account that owns the resources (usually the caller's).
    pub recipient_account_id: &'a str,
    /// TLS details if the request came over TLS.
    pub tls: Option<TlsDetails>,
    /// When the request completed.
    pub time: OffsetDateTime,
}

impl Event {
    /// The event for an API call, with request and response redacted as CloudTrail does.
    pub fn api_call(call: ApiCall<'_>) -> Self {
        let request_parameters = match call.request {
            Some(req) => redact::request_parameters(call.service, call.operation, req),
            None => Value::Null,
        };
        let response_elements = match (call.error, call.response) {
            (None, Some(resp)) => {
                redact::response_elements(call.service, call.operation, call.read_only, resp)
            }
            _ => Value::Null,
        };
        Self {
            event_version: EVENT_VERSION.to_owned(),
            user_identity: call.identity,
            event_time: call.time,
            event_source: call.service.event_source().to_owned(),
            event_name: call.operation.to_owned(),
            aws_region: call.region.to_owned(),
            source_ip_address: call.source_ip.to_owned(),
            user_agent: call.user_agent.to_owned(),
            error_code: call.error.map(|(c, _)| c.to_owned()),
            error_message: call.error.map(|(_, m)| m.to_owned()),
            request_parameters,
            response_elements,
            additional_event_data: None,
            request_id: Some(call.request_id.to_owned()),
            event_id: new_event_id(),
            read_only: call.read_only,
            resources: call.resources,
            event_type: EventType::AwsApiCall,
            management_event: true,
            recipient_account_id: call.recipient_account_id.to_owned(),
            service_event_details: None,
            event_category: "Management".to_owned(),
            tls_details: call.tls,
        }
    }

    /// An event for an action the service took on its own (`AwsServiceEvent`): KMS `RotateKey` and
    /// `DeleteKey` when due, Secrets Manager rotation steps, a secret's deletion when its window ends.
    /// `details` becomes `serviceEventDetails` (e.g. `{"keyId": …}`).
    pub fn service_event(
        service: Service,
        name: &str,
        region: &str,
        account_id: &str,
        resources: Vec<Resource>,
        details: Option<Value>,
        time: OffsetDateTime,
    ) -> Self {
        let source = service.event_source();
        // KMS writes its own actions as `AWS Internal`; Secrets Manager as itself.
        let actor = match service {
            Service::Kms => "AWS Internal",
            _ => source,
        };
        Self {
            event_version: EVENT_VERSION.to_owned(),
            user_identity: UserIdentity::aws_service(actor, Some(account_id)),
            event_time: time,
            event_source: source.to_owned(),
            event_name: name.to_owned(),
            aws_region: region.to_owned(),
            source_ip_address: actor.to_owned(),
            user_agent: actor.to_owned(),
            error_code: None,
            error_message: None,
            request_parameters: Value::Null,
            response_elements: Value::Null,
            additional_event_data: None,
            request_id: None,
            event_id: new_event_id(),
            read_only: false,
            resources,
            event_type: EventType::AwsServiceEvent,
            management_event: true,
            recipient_account_id: account_id.to_owned(),
            service_event_details: details,
            event_category: "Management".to_owned(),
            tls_details: None,
        }
    }
}

/// What a console sign-in left for its record ([`Event::console_sign_in`]).
#[derive(Debug, Clone)]
pub struct ConsoleSignIn<'a> {
    /// Who signed in; for a refused sign-in, what is known of the claimed key.
    pub identity: UserIdentity,
    /// The browser's address.
    pub source_ip: &'a str,
    /// The browser's User-Agent.
    pub user_agent: &'a str,
    /// Whether the credentials were accepted.
    pub success: bool,
    /// The page the sign-in led to (`additionalEventData.LoginTo`).
    pub login_to: &'a str,
    /// The account signed in to (empty when unknown).
    pub recipient_account_id: &'a str,
    /// TLS details if the sign-in came over TLS.
    pub tls: Option<TlsDetails>,
    /// When it happened.
    pub time: OffsetDateTime,
}

impl Event {
    /// CloudTrail's `ConsoleLogin` event: `eventSource` `signin.amazonaws.com`, `eventType`
    /// `AwsConsoleSignIn`, `responseElements.ConsoleLogin` `Success` or `Failure` (with
    /// `errorMessage` "Failed authentication"), recorded in `us-east-1` as AWS records sign-ins
    /// to the global console endpoint.
    pub fn console_sign_in(s: ConsoleSignIn<'_>) -> Self {
        let outcome = if s.success { "Success" } else { "Failure" };
        Self {
            event_version: EVENT_VERSION.to_owned(),
            user_identity: s.identity,
            event_time: s.time,
            event_source: Service::Signin.event_source().to_owned(),
            event_name: "ConsoleLogin".to_owned(),
            aws_region: "us-east-1".to_owned(),
            source_ip_address: s.source_ip.to_owned(),
            user_agent: s.user_agent.to_owned(),
            error_code: None,
            error_message: (!s.success).then(|| "Failed authentication".to_owned()),
            request_parameters: Value::Null,
            response_elements: serde_json::json!({ "ConsoleLogin": outcome }),
            additional_event_data: Some(serde_json::json!({
                "LoginTo": s.login_to,
                "MobileVersion": "No",
                "MFAUsed": "No",
            })),
            request_id: None,
            event_id: new_event_id(),
            read_only: false,
            resources: Vec::new(),
            event_type: EventType::AwsConsoleSignIn,
            management_event: true,
            recipient_account_id: s.recipient_account_id.to_owned(),
            service_event_details: None,
            event_category: "Management".to_owned(),
            tls_details: s.tls,
        }
    }
}

/// CloudTrail's time format: `2025-05-20T20:45:00Z` (UTC, whole seconds).
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an ISO 8601 / RFC 3339 time (`2025-05-20T20:45:00Z`, fractions and offsets allowed).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

mod event_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        super::parse_time(&s).ok_or_else(|| serde::de::Error::custom("eventTime is not ISO 8601"))
    }
}

/// A random-looking, unique (version 4 format) UUID: SHA-256 of a per-process random seed
/// (from aws-lc-rs) and a counter. An event ID needs uniqueness, not secrecy; this costs a fraction
/// of a call into the random generator per event. Should the generator fail at start, the seed
/// falls back to the time and process ID.
pub(crate) fn new_event_id() -> String {
    static SEED: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SEED.get_or_init(|| {
        coffer_crypto::random::array::<32>().unwrap_or_else(|_| {
            let fallback = format!(
                "{}:{}",
                OffsetDateTime::now_utc().unix_timestamp_nanos(),
                std::process::id()
            );
            coffer_crypto::digest::sha256(fallback.as_bytes())
        })
    });
    let mut input = [0u8; 40];
    input[..32].copy_from_slice(seed);
    input[32..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let h = coffer_crypto::digest::sha256(&input);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::chain::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t() -> OffsetDateTime {
        time::macros::datetime!(2025-05-20 20:45:00.123 UTC)
    }

    #[test]
    fn decrypt_event_matches_cloudtrail_sample_shape() {
        let req = json!({"CiphertextBlob": "AQICAHh…", "EncryptionContext": {"Department": "Engineering"}});
        let resp = json!({"KeyId": "arn:aws:kms:us-west-2:111122223333:key/k", "Plaintext": "aGVsbG8=", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"});
        let ev = Event::api_call(ApiCall {
            service: Service::Kms,
            operation: "Decrypt",
            region: "us-west-2",
            identity: UserIdentity::root("111122223333", Some("AKIAEXAMPLE")),
            source_ip: "192.0.2.0",
            user_agent: "aws-cli/2",
            request: Some(&req),
            response: Some(&resp),
            error: None,
            request_id: "req-1",
            read_only: true,
            resources: vec![Resource::kms_key(
                "arn:aws:kms:us-west-2:111122223333:key/k",
                "111122223333",
            )],
            recipient_account_id: "111122223333",
            tls: Some(TlsDetails {
                tls_version: "TLSv1.3".into(),
                cipher_suite: "TLS_AES_128_GCM_SHA256".into(),
                client_provided_host_header: "kms.us-west-2.amazonaws.com".into(),
            }),
            time: t(),
        });
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["eventVersion"], "1.11");
        assert_eq!(v["eventTime"], "2025-05-20T20:45:00Z");
        assert_eq!(v["eventSource"], "kms.amazonaws.com");
        assert_eq!(v["sourceIPAddress"], "192.0.2.0");
        assert_eq!(
            v["requestParameters"],
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"Department": "Engineering"}})
        );
        assert_eq!(v["responseElements"], Value::Null);
        assert_eq!(v["requestID"], "req-1");
        assert_eq!(v["readOnly"], true);
        assert_eq!(
            v["resources"][0]["ARN"],
            "arn:aws:kms:us-west-2:111122223333:key/k"
        );
        assert_eq!(v["resources"][0]["type"], "AWS::KMS::Key");
        assert_eq!(v["eventType"], "AwsApiCall");
        assert_eq!(v["managementEvent"], true);
        assert_eq!(v["eventCategory"], "Management");
        assert_eq!(v["tlsDetails"]["tlsVersion"], "TLSv1.3");
        assert_eq!(v["userIdentity"]["type"], "Root");
        assert_eq!(v["userIdentity"]["arn"], "arn:aws:iam::111122223333:root");
        assert!(v.get("errorCode").is_none());
        let s = serde_json::to_string(&ev).unwrap();
        assert!(!s.contains("aGVsbG8="), "plaintext recorded");
        assert!(!s.contains("AQICAHh"), "ciphertext recorded");
        let back: Event = serde_json::from_str(&s).unwrap();
        assert_eq!(back.event_time.unix_timestamp(), t().unix_timestamp());
        // Member order as CloudTrail writes it.
        let keys: Vec<&str> = [
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "requestParameters",
            "responseElements",
            "requestID",
            "eventID",
            "readOnly",
            "resources",
            "eventType",
            "managementEvent",
            "recipientAccountId",
            "eventCategory",
            "tlsDetails",
        ]
        .to_vec();
        let mut last = 0;
        for k in keys {
            let at = s.find(&format!("\"{k}\":")).unwrap();
            assert!(at >= last, "{k} out of order");
            last = at;
        }
    }

    #[test]
    fn identities() {
        let t0 = t();
        let id = UserIdentity::assumed_role(&RoleSessionIdentity {
            account_id: "111122223333",
            role_name: "app",
            role_path: "/",
            role_id: "AROAEXAMPLE",
            session_name: "s1",
            access_key_id: "ASIAEXAMPLE",
            issued_at: t0,
            mfa_authenticated: false,
            source_identity: None,
        });
        let v = serde_json::to_value(&id).unwrap();
        assert_eq!(v["type"], "AssumedRole");
        assert_eq!(v["principalId"], "AROAEXAMPLE:s1");
        assert_eq!(v["arn"], "arn:aws:sts::111122223333:assumed-role/app/s1");
        assert_eq!(v["sessionContext"]["sessionIssuer"]["type"], "Role");
        assert_eq!(
            v["sessionContext"]["sessionIssuer"]["arn"],
            "arn:aws:iam::111122223333:role/app"
        );
        assert_eq!(
            v["sessionContext"]["attributes"]["mfaAuthenticated"],
            "false"
        );
        assert_eq!(
            v["sessionContext"]["attributes"]["creationDate"],
            "2025-05-20T20:45:00Z"
        );
        assert_eq!(id.lookup_username().as_deref(), Some("s1"));
        let u = UserIdentity::iam_user("1", "alice", "/dev/", "AIDA1", Some("AKIA1"));
        assert_eq!(u.arn.as_deref(), Some("arn:aws:iam::1:user/dev/alice"));
        assert_eq!(serde_json::to_value(&u).unwrap()["type"], "IAMUser");
        let f = UserIdentity::federated_user(
            "1",
            "bob",
            "ASIA2",
            Some(("broker", "AIDA2", "arn:aws:iam::1:user/broker")),
            t(),
        );
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["type"], "FederatedUser");
        assert_eq!(v["principalId"], "1:bob");
        assert_eq!(v["arn"], "arn:aws:sts::1:federated-user/bob");
        assert_eq!(v["sessionContext"]["sessionIssuer"]["type"], "IAMUser");
        assert_eq!(v["sessionContext"]["sessionIssuer"]["userName"], "broker");
        assert_eq!(f.lookup_username().as_deref(), Some("bob"));
        let r = UserIdentity::root("1", Some("ASIA3")).with_session_attributes(t());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["type"], "Root");
        assert!(v["sessionContext"].get("sessionIssuer").is_none());
        assert_eq!(
            v["sessionContext"]["attributes"]["mfaAuthenticated"],
            "false"
        );
        assert_eq!(
            UserIdentity::root("1", None).lookup_username().as_deref(),
            Some("root")
        );
        let svc = UserIdentity::aws_service("kms.amazonaws.com", Some("1"));
        assert_eq!(serde_json::to_value(&svc).unwrap()["type"], "AWSService");
    }

    #[test]
    fn event_ids_are_uuids() {
        let a = new_event_id();
        let b = new_event_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
