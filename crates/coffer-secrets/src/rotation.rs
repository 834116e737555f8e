//! Rotation without Lambda: the events Secrets Manager sends a rotation function, the
//! [`Rotator`]s that stand in for Lambda functions, the [`RotatorRegistry`] mapping a
//! `RotationLambdaARN` to one, and its configuration file (`--rotators FILE`).
//!
//! A rotator does what a rotation Lambda does: for each step it calls back into Secrets
//! Manager (GetSecretValue, PutSecretValue with `AWSPENDING`, UpdateSecretVersionStage) with
//! its own credentials. Built in: `random-password` (in process), `postgresql` (in process,
//! AWS's single-user PostgreSQL template; see [`PostgresRotator`]) and `http` (POSTs the event).

pub use super::postgres_rotator::{postgres_tls, PostgresRotator};

use super::service::SecretsManager;
use super::SmError;
use coffer_core::RequestContext;
use coffer_model::secretsmanager::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// One of the four steps of a rotation, as the `Step` member of the event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RotationStep {
    /// Create the new version (labelled AWSPENDING).
    #[serde(rename = "createSecret")]
    CreateSecret,
    /// Set the new credentials in the database or service.
    #[serde(rename = "setSecret")]
    SetSecret,
    /// Test the new version.
    #[serde(rename = "testSecret")]
    TestSecret,
    /// Move AWSCURRENT to the new version.
    #[serde(rename = "finishSecret")]
    FinishSecret,
}

impl RotationStep {
    /// The four steps in order.
    pub const ALL: [RotationStep; 4] = [
        Self::CreateSecret,
        Self::SetSecret,
        Self::TestSecret,
        Self::FinishSecret,
    ];

    /// The step's name on the wire (`createSecret`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateSecret => "createSecret",
            Self::SetSecret => "setSecret",
            Self::TestSecret => "testSecret",
            Self::FinishSecret => "finishSecret",
        }
    }
}

/// The event a rotation function receives: `{"SecretId", "ClientRequestToken", "Step", "RotationToken"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    /// The secret's ARN.
    pub secret_id: String,
    /// The new version's ID.
    pub client_request_token: String,
    /// The step to run.
    pub step: RotationStep,
    /// An opaque token identifying this rotation.
    pub rotation_token: String,
}

/// Why a rotator failed a step. The text goes to the operator's log; it must not hold
/// secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RotationFailure {
    /// What went wrong.
    pub message: String,
}

impl RotationFailure {
    /// A failure with this text.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl From<SmError> for RotationFailure {
    fn from(e: SmError) -> Self {
        Self::new(e.to_string())
    }
}

/// Stands in for a rotation Lambda function: runs one step of a rotation.
///
/// Called without any Secrets Manager lock held, from a blocking thread; an implementation
/// may call back into Secrets Manager (in process or over HTTP) and may block.
pub trait Rotator: Send + Sync + 'static {
    /// Runs `event.step` for the secret `event.secret_id`, version `event.client_request_token`.
    fn invoke(&self, event: &RotationEvent) -> Result<(), RotationFailure>;
}

/// The rotators by `RotationLambdaARN`.
#[derive(Default, Clone)]
pub struct RotatorRegistry {
    by_arn: HashMap<String, Arc<dyn Rotator>>,
}

impl std::fmt::Debug for RotatorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut arns: Vec<&String> = self.by_arn.keys().collect();
        arns.sort();
        f.debug_struct("RotatorRegistry")
            .field("arns", &arns)
            .finish()
    }
}

impl RotatorRegistry {
    /// No rotators.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the rotator for `arn`.
    pub fn insert(&mut self, arn: impl Into<String>, rotator: Arc<dyn Rotator>) {
        self.by_arn.insert(arn.into(), rotator);
    }

    /// The rotator for `arn`.
    pub fn get(&self, arn: &str) -> Option<Arc<dyn Rotator>> {
        self.by_arn.get(arn).cloned()
    }

    /// How many rotators there are.
    pub fn len(&self) -> usize {
        self.by_arn.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_arn.is_empty()
    }

    /// Builds the configured rotators; in-process ones call back into `secrets`.
    pub fn from_config(config: &RotatorsConfig, secrets: Weak<SecretsManager>) -> Self {
        let mut r = Self::new();
        for c in &config.rotators {
            let rotator: Arc<dyn Rotator> = match c {
                RotatorConfig::RandomPassword { .. } => Arc::new(RandomPasswordRotator::new(
                    secrets.clone(),
                    c.password_rules().unwrap_or_default(),
                )),
                RotatorConfig::Postgresql {
                    connect_timeout_seconds,
                    ca_file,
                    ..
                } => Arc::new(PostgresRotator::new(
                    secrets.clone(),
                    c.password_rules().unwrap_or_default(),
                    Duration::from_secs(
                        connect_timeout_seconds.unwrap_or(DEFAULT_PG_CONNECT_TIMEOUT_SECS),
                    ),
                    ca_file.clone(),
                )),
                RotatorConfig::Http {
                    url,
                    timeout_seconds,
                    ..
                } => Arc::new(HttpRotator::new(
                    url.clone(),
                    Duration::from_secs(timeout_seconds.unwrap_or(DEFAULT_HTTP_TIMEOUT_SECS)),
                )),
            };
            r.insert(c.arn(), rotator);
        }
        r
    }
}

// ----- configuration -------------------------------------------------------------------------

/// The rotators file: `[[rotator]]` tables (TOML) or `{"rotator": [...]}` (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotatorsConfig {
    /// One entry per rotation function ARN.
    #[serde(default, rename = "rotator")]
    pub rotators: Vec<RotatorConfig>,
}

/// One rotator, selected by `kind`. A new kind is one more variant and one more [`Rotator`]
/// implementation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum RotatorConfig {
    /// Generates a new password in process (GetRandomPassword's options, snake_case).
    #[serde(rename = "random-password")]
    RandomPassword {
        /// The RotationLambdaARN this rotator answers to.
        arn: String,
        /// 1–4096, default 32.
        length: Option<i64>,
        /// Characters not to use.
        exclude_characters: Option<String>,
        /// No digits.
        exclude_numbers: Option<bool>,
        /// No punctuation.
        exclude_punctuation: Option<bool>,
        /// No upper case.
        exclude_uppercase: Option<bool>,
        /// No lower case.
        exclude_lowercase: Option<bool>,
        /// Allow the space character.
        include_space: Option<bool>,
        /// At least one of every included type (default true).
        require_each_included_type: Option<bool>,
    },
    /// Rotates a PostgreSQL user's own password (AWS's single-user strategy); the secret is
    /// AWS's JSON `{engine, host, port, username, password, dbname}`.
    #[serde(rename = "postgresql")]
    Postgresql {
        /// The RotationLambdaARN this rotator answers to.
        arn: String,
        /// New password length, 1–4096 (default 32).
        password_length: Option<i64>,
        /// Characters new passwords leave out (default `:/@"'\`, as AWS's template).
        exclude_characters: Option<String>,
        /// Per-connection timeout (default 5 s, as AWS's template).
        connect_timeout_seconds: Option<u64>,
        /// A PEM bundle of CA certificates trusted for TLS connections, in addition to the
        /// webpki (Mozilla) roots, e.g. a private CA or Amazon RDS's bundle. Read when the
        /// file is loaded; a relative path is relative to Coffer's working directory.
        ca_file: Option<PathBuf>,
    },
    /// POSTs each step's event as JSON to `url`; 2xx is success.
    #[serde(rename = "http")]
    Http {
        /// The RotationLambdaARN this rotator answers to.
        arn: String,
        /// `http://` or `https://` URL.
        url: String,
        /// Per-step timeout (default 60 s).
        timeout_seconds: Option<u64>,
    },
}

impl RotatorConfig {
    /// The RotationLambdaARN this rotator answers to.
    pub fn arn(&self) -> &str {
        match self {
            Self::RandomPassword { arn, .. }
            | Self::Postgresql { arn, .. }
            | Self::Http { arn, .. } => arn,
        }
    }

    /// A random-password rotator's rules as a GetRandomPassword request.
    fn password_rules(&self) -> Option<GetRandomPasswordRequest> {
        match self {
            Self::RandomPassword {
                length,
                exclude_characters,
                exclude_numbers,
                exclude_punctuation,
                exclude_uppercase,
                exclude_lowercase,
                include_space,
                require_each_included_type,
                ..
            } => Some(GetRandomPasswordRequest {
                password_length: *length,
                exclude_characters: exclude_characters.clone(),
                exclude_numbers: *exclude_numbers,
                exclude_punctuation: *exclude_punctuation,
                exclude_uppercase: *exclude_uppercase,
                exclude_lowercase: *exclude_lowercase,
                include_space: *include_space,
                require_each_included_type: *require_each_included_type,
            }),
            Self::Postgresql {
                password_length,
                exclude_characters,
                ..
            } => Some(GetRandomPasswordRequest {
                password_length: *password_length,
                exclude_characters: Some(
                    exclude_characters
                        .clone()
                        .unwrap_or_else(|| PG_DEFAULT_EXCLUDE.to_string()),
                ),
                ..Default::default()
            }),
            Self::Http { .. } => None,
        }
    }
}

/// The characters AWS's PostgreSQL templates leave out of passwords by default.
const PG_DEFAULT_EXCLUDE: &str = ":/@\"'\\";
const DEFAULT_PG_CONNECT_TIMEOUT_SECS: u64 = 5;

/// Why the rotators file was refused. Text for the operator.
#[derive(Debug, thiserror::Error)]
pub enum RotatorsConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML / JSON of the expected shape.
    #[error("parsing rotators: {0}")]
    Parse(String),
    /// An entry is not acceptable.
    #[error("rotator {arn:?}: {message}")]
    Invalid {
        /// The entry's ARN.
        arn: String,
        /// What is wrong.
        message: String,
    },
}

const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 60;

impl RotatorsConfig {
    /// Reads a rotators file: JSON if its name ends in `.json`, TOML otherwise.
    pub fn load(path: &Path) -> Result<Self, RotatorsConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RotatorsConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }

    /// Parses and checks TOML.
    pub fn from_toml(text: &str) -> Result<Self, RotatorsConfigError> {
        let c: Self =
            toml::from_str(text).map_err(|e| RotatorsConfigError::Parse(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    /// Parses and checks JSON.
    pub fn from_json(text: &str) -> Result<Self, RotatorsConfigError> {
        let c: Self =
            serde_json::from_str(text).map_err(|e| RotatorsConfigError::Parse(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), RotatorsConfigError> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.rotators {
            let arn = c.arn().to_string();
            let invalid = |message: &str| RotatorsConfigError::Invalid {
                arn: arn.clone(),
                message: message.to_string(),
            };
            if arn.is_empty() || arn.len() > 2048 {
                return Err(invalid("arn must be 1-2048 characters"));
            }
            if !seen.insert(arn.clone()) {
                return Err(invalid("configured twice"));
            }
            match c {
                RotatorConfig::RandomPassword { length, .. } => {
                    if length.is_some_and(|l| !(1..=4096).contains(&l)) {
                        return Err(invalid("length must be 1-4096"));
                    }
                }
                RotatorConfig::Postgresql {
                    password_length,
                    connect_timeout_seconds,
                    ca_file,
                    ..
                } => {
                    if password_length.is_some_and(|l| !(1..=4096).contains(&l)) {
                        return Err(invalid("password_length must be 1-4096"));
                    }
                    if connect_timeout_seconds.is_some_and(|t| t == 0 || t > 300) {
                        return Err(invalid("connect_timeout_seconds must be 1-300"));
                    }
                    if let Some(path) = ca_file {
                        postgres_tls(Some(path)).map_err(|e| invalid(&e.message))?;
                    }
                }
                RotatorConfig::Http {
                    url,
                    timeout_seconds,
                    ..
                } => {
                    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
                    if !scheme_ok || url.parse::<ureq::http::Uri>().is_err() {
                        return Err(invalid("url must be an http:// or https:// URL"));
                    }
                    if timeout_seconds.is_some_and(|t| t == 0 || t > 900) {
                        return Err(invalid("timeout_seconds must be 1-900"));
                    }
                }
            }
        }
        Ok(())
    }
}

// ----- the random-password rotator ---------------------------------------------------------

/// Rotates a password in process, as AWS's generic rotation template does: createSecret puts a
/// new value (GetRandomPassword) as AWSPENDING unless the pending version already has one;
/// setSecret and testSecret have nothing outside Secrets Manager to change; finishSecret moves
/// AWSCURRENT. If the current value is a JSON object with a `"password"` key, only that key is
/// replaced; otherwise the whole string.
pub struct RandomPasswordRotator {
    secrets: Weak<SecretsManager>,
    rules: GetRandomPasswordRequest,
}

impl RandomPasswordRotator {
    /// A rotator calling back into `secrets` with these password rules.
    pub fn new(secrets: Weak<SecretsManager>, rules: GetRandomPasswordRequest) -> Self {
        Self { secrets, rules }
    }
}

/// The caller a rotator acts as when it calls back in process: the secret's account and region.
pub(crate) fn rotator_context(arn: &str, rotator: &str) -> Result<RequestContext, RotationFailure> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    if parts.len() != 7 || parts[2] != "secretsmanager" {
        return Err(RotationFailure::new(format!("not a secret ARN: {arn}")));
    }
    Ok(RequestContext {
        account_id: parts[4].to_string(),
        region: parts[3].to_string(),
        principal_arn: format!(
            "arn:{}:sts::{}:assumed-role/coffer-rotator/{rotator}",
            parts[1], parts[4]
        ),
        role: None,
    })
}

fn has_stage(stages: &Option<BTreeMapStages>, vid: &str, stage: &str) -> bool {
    stages
        .as_ref()
        .and_then(|m| m.get(vid))
        .is_some_and(|s| s.iter().any(|x| x == stage))
}

pub(crate) type BTreeMapStages = std::collections::BTreeMap<String, Vec<String>>;

/// The checks every AWS rotation template makes before a step: rotation is enabled and the
/// event's version is labelled AWSPENDING. `None` = the version is already AWSCURRENT (the
/// step has nothing to do).
pub(crate) fn staged_versions(
    sm: &SecretsManager,
    ctx: &RequestContext,
    event: &RotationEvent,
) -> Result<Option<BTreeMapStages>, RotationFailure> {
    let arn = &event.secret_id;
    let token = &event.client_request_token;
    let meta = sm.describe_secret(
        ctx,
        DescribeSecretRequest {
            secret_id: Some(arn.clone()),
        },
    )?;
    if meta.rotation_enabled != Some(true) {
        return Err(RotationFailure::new(format!(
            "Secret {arn} is not enabled for rotation."
        )));
    }
    let stages = meta.version_ids_to_stages;
    if !stages.as_ref().is_some_and(|m| m.contains_key(token)) {
        return Err(RotationFailure::new(format!(
            "Secret version {token} has no stage for rotation of secret {arn}."
        )));
    }
    if has_stage(&stages, token, AWSCURRENT) {
        return Ok(None);
    }
    if !has_stage(&stages, token, AWSPENDING) {
        return Err(RotationFailure::new(format!(
            "Secret version {token} not set as AWSPENDING for rotation of secret {arn}."
        )));
    }
    Ok(Some(stages.unwrap_or_default()))
}

/// finishSecret as AWS's templates do it: moves AWSCURRENT to the event's version.
pub(crate) fn finish_secret(
    sm: &SecretsManager,
    ctx: &RequestContext,
    event: &RotationEvent,
    stages: &BTreeMapStages,
) -> Result<(), RotationFailure> {
    let current = stages
        .iter()
        .find(|(_, s)| s.iter().any(|x| x == AWSCURRENT))
        .map(|(v, _)| v.clone());
    sm.update_secret_version_stage(
        ctx,
        UpdateSecretVersionStageRequest {
            secret_id: Some(event.secret_id.clone()),
            version_stage: Some(AWSCURRENT.to_string()),
            remove_from_version_id: current,
            move_to_version_id: Some(event.client_request_token.clone()),
        },
    )?;
    Ok(())
}

impl Rotator for RandomPasswordRotator {
    fn invoke(&self, event: &RotationEvent) -> Result<(), RotationFailure> {
        let sm = self
            .secrets
            .upgrade()
            .ok_or_else(|| RotationFailure::new("Secrets Manager is shutting down"))?;
        let ctx = rotator_context(&event.secret_id, "random-password")?;
        let Some(stages) = staged_versions(&sm, &ctx, event)? else {
            return Ok(());
        };
        match event.step {
            RotationStep::CreateSecret => self.create(&sm, &ctx, event),
            RotationStep::SetSecret | RotationStep::TestSecret => Ok(()),
            RotationStep::FinishSecret => finish_secret(&sm, &ctx, event, &stages),
        }
    }
}

impl RandomPasswordRotator {
    fn create(
        &self,
        sm: &SecretsManager,
        ctx: &RequestContext,
        event: &RotationEvent,
    ) -> Result<(), RotationFailure> {
        let arn = &event.secret_id;
        let token = &event.client_request_token;
        let current = sm.get_secret_value(
            ctx,
            GetSecretValueRequest {
                secret_id: Some(arn.clone()),
                version_id: None,
                version_stage: Some(AWSCURRENT.to_string()),
            },
        )?;
        match sm.get_secret_value(
            ctx,
            GetSecretValueRequest {
                secret_id: Some(arn.clone()),
                version_id: Some(token.clone()),
                version_stage: Some(AWSPENDING.to_string()),
            },
        ) {
            // A retried rotation: the pending value from the earlier attempt is kept.
            Ok(_) => return Ok(()),
            Err(SmError::ResourceNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(current) = current.secret_string else {
            return Err(RotationFailure::new(format!(
                "the random-password rotator rotates string secrets; {arn} holds a binary value"
            )));
        };
        let password = sm
            .get_random_password(self.rules.clone())?
            .random_password
            .ok_or_else(|| RotationFailure::new("GetRandomPassword returned no password"))?;
        let new_value = match serde_json::from_str::<serde_json::Value>(current.as_str()) {
            Ok(serde_json::Value::Object(mut obj)) if obj.contains_key("password") => {
                obj.insert(
                    "password".to_string(),
                    serde_json::Value::String(password.as_str().to_string()),
                );
                let text = serde_json::to_string(&obj)
                    .map_err(|e| RotationFailure::new(format!("encoding the new value: {e}")))?;
                // Zeroize the parsed copies.
                for v in obj.values_mut() {
                    if let serde_json::Value::String(s) = v {
                        zeroize::Zeroize::zeroize(s);
                    }
                }
                SecretText::new(text)
            }
            _ => password,
        };
        sm.put_secret_value(
            ctx,
            PutSecretValueRequest {
                secret_id: Some(arn.clone()),
                client_request_token: Some(token.clone()),
                secret_binary: None,
                secret_string: Some(new_value),
                version_stages: Some(vec![AWSPENDING.to_string()]),
                rotation_token: None,
            },
        )?;
        Ok(())
    }
}

// ----- the http rotator --------------------------------------------------------------------

/// POSTs each event as JSON to a URL; any 2xx answer is success. The receiving service calls
/// back into Coffer's API with its own credentials, as a Lambda function would.
pub struct HttpRotator {
    url: String,
    agent: ureq::Agent,
}

impl HttpRotator {
    /// A rotator POSTing to `url`, giving up on a step after `timeout`.
    pub fn new(url: String, timeout: Duration) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(provider)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Self { url, agent }
    }
}

impl Rotator for HttpRotator {
    fn invoke(&self, event: &RotationEvent) -> Result<(), RotationFailure> {
        let body = serde_json::to_vec(event)
            .map_err(|e| RotationFailure::new(format!("encoding the event: {e}")))?;
        let resp = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(&body[..])
            .map_err(|e| RotationFailure::new(format!("POST {}: {e}", self.url)))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(RotationFailure::new(format!(
                "POST {} answered {status}",
                self.url
            )))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn event_wire_form() {
        let e = RotationEvent {
            secret_id: "arn:aws:secretsmanager:eu-central-1:000000000000:secret:db-AbCdEf".into(),
            client_request_token: "t".repeat(36),
            step: RotationStep::FinishSecret,
            rotation_token: "r".into(),
        };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Step"], "finishSecret");
        assert_eq!(v["SecretId"], e.secret_id.as_str());
        assert_eq!(v["ClientRequestToken"], e.client_request_token.as_str());
        assert_eq!(v["RotationToken"], "r");
        let back: RotationEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn config_toml_and_json() {
        let c = RotatorsConfig::from_toml(
            r#"
            [[rotator]]
            arn = "arn:aws:lambda:eu-central-1:000000000000:function:rotate"
            kind = "random-password"
            length = 32
            exclude_punctuation = true

            [[rotator]]
            arn = "arn:aws:lambda:eu-central-1:000000000000:function:hook"
            kind = "http"
            url = "http://127.0.0.1:9000/rotate"
            "#,
        )
        .unwrap();
        assert_eq!(c.rotators.len(), 2);
        assert_eq!(
            c.rotators[0],
            RotatorConfig::RandomPassword {
                arn: "arn:aws:lambda:eu-central-1:000000000000:function:rotate".into(),
                length: Some(32),
                exclude_characters: None,
                exclude_numbers: None,
                exclude_punctuation: Some(true),
                exclude_uppercase: None,
                exclude_lowercase: None,
                include_space: None,
                require_each_included_type: None,
            }
        );
        assert_eq!(
            c.rotators[1].arn(),
            "arn:aws:lambda:eu-central-1:000000000000:function:hook"
        );
        let j = RotatorsConfig::from_json(
            r#"{"rotator":[{"arn":"a","kind":"http","url":"https://rot.example/x","timeout_seconds":5}]}"#,
        )
        .unwrap();
        assert_eq!(
            j.rotators[0],
            RotatorConfig::Http {
                arn: "a".into(),
                url: "https://rot.example/x".into(),
                timeout_seconds: Some(5)
            }
        );
        let reg = RotatorRegistry::from_config(&c, Weak::new());
        assert_eq!(reg.len(), 2);
        assert!(reg
            .get("arn:aws:lambda:eu-central-1:000000000000:function:rotate")
            .is_some());
        assert!(reg
            .get("arn:aws:lambda:eu-central-1:000000000000:function:other")
            .is_none());
        assert!(RotatorsConfig::from_toml("").unwrap().rotators.is_empty());
    }

    #[test]
    fn config_refusals() {
        for bad in [
            "[[rotator]]\narn = \"a\"\nkind = \"lambda\"\n",
            "[[rotator]]\narn = \"a\"\nkind = \"http\"\n",
            "[[rotator]]\narn = \"a\"\nkind = \"http\"\nurl = \"ftp://x\"\n",
            "[[rotator]]\narn = \"a\"\nkind = \"http\"\nurl = \"http://x\"\nbogus = 1\n",
            "[[rotator]]\narn = \"a\"\nkind = \"random-password\"\nlength = 0\n",
            "[[rotator]]\narn = \"a\"\nkind = \"random-password\"\n[[rotator]]\narn = \"a\"\nkind = \"random-password\"\n",
            "[[rotator]]\narn = \"\"\nkind = \"random-password\"\n",
            "[other]\n",
            "[[rotator]]\narn = \"a\"\nkind = \"postgresql\"\npassword_length = 0\n",
            "[[rotator]]\narn = \"a\"\nkind = \"postgresql\"\nconnect_timeout_seconds = 0\n",
            "[[rotator]]\narn = \"a\"\nkind = \"postgresql\"\nhost = \"db\"\n",
            "[[rotator]]\narn = \"a\"\nkind = \"postgresql\"\nca_file = \"/nonexistent/ca.pem\"\n",
            "[[rotator]]\narn = \"a\"\nkind = \"postgresql\"\nca_file = 5\n",
        ] {
            assert!(RotatorsConfig::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postgresql_config() {
        let c = RotatorsConfig::from_toml(
            "[[rotator]]\narn = \"arn:aws:lambda:eu-central-1:000000000000:function:pg\"\nkind = \"postgresql\"\n",
        )
        .unwrap();
        let rules = c.rotators[0].password_rules().unwrap();
        assert_eq!(rules.exclude_characters.as_deref(), Some(":/@\"'\\"));
        assert_eq!(rules.password_length, None);
        let c = RotatorsConfig::from_json(
            r#"{"rotator":[{"arn":"p","kind":"postgresql","password_length":40,"exclude_characters":"x","connect_timeout_seconds":9}]}"#,
        )
        .unwrap();
        let rules = c.rotators[0].password_rules().unwrap();
        assert_eq!(rules.exclude_characters.as_deref(), Some("x"));
        assert_eq!(rules.password_length, Some(40));
        assert_eq!(RotatorRegistry::from_config(&c, Weak::new()).len(), 1);
    }

    #[test]
    fn http_rotator_failures_are_step_failures() {
        // Nothing listens on port 9 of the loopback: the step fails, nothing panics.
        let r = HttpRotator::new("http://127.0.0.1:9/rotate".into(), Duration::from_secs(5));
        let e = RotationEvent {
            secret_id: "arn:aws:secretsmanager:eu-central-1:000000000000:secret:x-AbCdEf".into(),
            client_request_token: "t".repeat(36),
            step: RotationStep::CreateSecret,
            rotation_token: "r".into(),
        };
        assert!(r.invoke(&e).is_err());
    }
}
