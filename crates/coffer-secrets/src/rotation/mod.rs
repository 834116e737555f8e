//! Rotation without Lambda: the events Secrets Manager sends a rotation function, the
//! [`Rotator`]s that stand in for Lambda functions, the [`RotatorRegistry`] mapping a
//! `RotationLambdaARN` to one, and its configuration file (`--rotators FILE`).
//!
//! A rotator does what a rotation Lambda does: for each step it calls back into Secrets
//! Manager (GetSecretValue, PutSecretValue with `AWSPENDING`, UpdateSecretVersionStage) with
//! its own credentials. Built in: `random-password` (in process), `postgresql` (in process,
//! AWS's single-user PostgreSQL template; see [`PostgresRotator`]) and `http` (POSTs the event).

mod config;
mod http;
mod postgres;
mod random;

pub use config::{RotatorConfig, RotatorsConfig, RotatorsConfigError};
use config::{DEFAULT_HTTP_TIMEOUT_SECS, DEFAULT_PG_CONNECT_TIMEOUT_SECS};
pub use http::HttpRotator;
pub use postgres::{postgres_tls, PostgresRotator};
pub use random::RandomPasswordRotator;

use crate::SmError;
use coffer_core::RequestContext;
use coffer_model::secretsmanager::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
    pub fn from_config(config: &RotatorsConfig, secrets: Weak<dyn SecretsApi>) -> Self {
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

/// What a rotator may ask of Secrets Manager: the calls a rotation Lambda makes. Implemented by
/// [`crate::SecretsManager`]; rotators hold it weakly, so this module sits below the service
/// that drives them.
pub trait SecretsApi: Send + Sync + 'static {
    /// DescribeSecret.
    fn describe_secret(
        &self,
        ctx: &RequestContext,
        req: DescribeSecretRequest,
    ) -> Result<DescribeSecretResponse, SmError>;
    /// GetSecretValue.
    fn get_secret_value(
        &self,
        ctx: &RequestContext,
        req: GetSecretValueRequest,
    ) -> Result<GetSecretValueResponse, SmError>;
    /// PutSecretValue.
    fn put_secret_value(
        &self,
        ctx: &RequestContext,
        req: PutSecretValueRequest,
    ) -> Result<PutSecretValueResponse, SmError>;
    /// GetRandomPassword.
    fn get_random_password(
        &self,
        req: GetRandomPasswordRequest,
    ) -> Result<GetRandomPasswordResponse, SmError>;
    /// UpdateSecretVersionStage.
    fn update_secret_version_stage(
        &self,
        ctx: &RequestContext,
        req: UpdateSecretVersionStageRequest,
    ) -> Result<UpdateSecretVersionStageResponse, SmError>;
}

// ----- what every in-process rotator shares -----------------------------------------------

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
        secure_transport: false,
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
    sm: &dyn SecretsApi,
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
    sm: &dyn SecretsApi,
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
        let reg = RotatorRegistry::from_config(&c, Weak::<crate::SecretsManager>::new());
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
        assert_eq!(
            RotatorRegistry::from_config(&c, Weak::<crate::SecretsManager>::new()).len(),
            1
        );
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
