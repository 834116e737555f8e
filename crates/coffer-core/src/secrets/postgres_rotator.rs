//! The `postgresql` rotator: AWS's single-user rotation strategy for PostgreSQL, step for step
//! as AWS's template function `SecretsManagerRDSPostgreSQLRotationSingleUser` runs it.
//!
//! The secret is AWS's JSON for database credentials:
//! `{"engine": "postgres", "host", "port", "username", "password", "dbname"}` (`engine`, `host`,
//! `username` and `password` required; `engine` is `postgres` or `aurora-postgresql`; `port`
//! defaults to 5432 and `dbname` to `postgres`). Other keys are kept as they are.
//!
//! * createSecret: unless the pending version already has a value, puts the current JSON with a
//!   new password (GetRandomPassword, AWS's default exclusions) as AWSPENDING.
//! * setSecret: logs in with AWSPENDING (done if that works), else AWSCURRENT, else AWSPREVIOUS
//!   (the user and host must match the pending ones), and sets the user's password.
//! * testSecret: logs in with AWSPENDING and runs `SELECT NOW()`.
//! * finishSecret: moves AWSCURRENT to the new version.
//!
//! Setting the password: PostgreSQL's `ALTER USER` takes no bind parameters, so the statement
//! is built as text, but never from raw input: the user name is quoted as an identifier
//! ([`quote_ident`]) and the password is sent as a SCRAM-SHA-256 verifier computed here
//! (`postgres_protocol::password::scram_sha_256`, what `psql`'s `\password` sends), quoted as a
//! literal ([`quote_literal`]). PostgreSQL stores a verifier as given, so the plaintext password
//! never reaches the server's statement log or `pg_stat_statements`.
//!
//! Connections are made without TLS (the secret's `"ssl": true` fails the step); see ADR 0006.

use super::rotation::{
    finish_secret, rotator_context, staged_versions, RotationEvent, RotationFailure, RotationStep,
    Rotator,
};
use super::service::SecretsManager;
use super::SmError;
use crate::RequestContext;
use coffer_model::secretsmanager::*;
use std::sync::Weak;
use std::time::Duration;
use zeroize::{Zeroize, Zeroizing};

const ENGINES: [&str; 2] = ["postgres", "aurora-postgresql"];
const REQUIRED: [&str; 4] = ["host", "username", "password", "engine"];

/// Rotates a PostgreSQL user's own password in process (see the module documentation).
pub struct PostgresRotator {
    secrets: Weak<SecretsManager>,
    rules: GetRandomPasswordRequest,
    connect_timeout: Duration,
}

impl PostgresRotator {
    /// A rotator calling back into `secrets`, generating passwords by `rules`, giving up on a
    /// connection after `connect_timeout`.
    pub fn new(
        secrets: Weak<SecretsManager>,
        rules: GetRandomPasswordRequest,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            secrets,
            rules,
            connect_timeout,
        }
    }
}

/// A parsed database secret; its string values are zeroized on drop.
struct DbSecret {
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Drop for DbSecret {
    fn drop(&mut self) {
        for v in self.fields.values_mut() {
            if let serde_json::Value::String(s) = v {
                s.zeroize();
            }
        }
    }
}

/// Why a secret version could not be used, as AWS's template tells them apart.
enum ReadError {
    /// No such version (`ResourceNotFoundException`).
    NotFound,
    /// A required key is missing or the engine is not PostgreSQL (the template's `KeyError`).
    Key(String),
    /// Anything else (not JSON, a binary value, a service error).
    Other(RotationFailure),
}

impl From<ReadError> for RotationFailure {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound => RotationFailure::new("the secret version was not found"),
            ReadError::Key(m) => RotationFailure::new(m),
            ReadError::Other(f) => f,
        }
    }
}

impl DbSecret {
    fn str(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    fn username(&self) -> &str {
        self.str("username")
    }

    fn host(&self) -> &str {
        self.str("host")
    }

    /// `port` as a number or a numeric string; 5432 if absent.
    fn port(&self) -> Result<u16, RotationFailure> {
        match self.fields.get("port") {
            None => Ok(5432),
            Some(serde_json::Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| RotationFailure::new("the secret's port is not a TCP port")),
            Some(serde_json::Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| RotationFailure::new("the secret's port is not a TCP port")),
            Some(_) => Err(RotationFailure::new("the secret's port is not a TCP port")),
        }
    }

    fn dbname(&self) -> &str {
        match self.fields.get("dbname").and_then(|v| v.as_str()) {
            Some(d) => d,
            None => "postgres",
        }
    }

    /// Whether the secret asks for TLS (`"ssl": true` or `"true"`).
    fn wants_tls(&self) -> bool {
        match self.fields.get("ssl") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    fn parse(text: &str) -> Result<Self, ReadError> {
        let fields = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(mut other) => {
                if let serde_json::Value::String(s) = &mut other {
                    s.zeroize();
                }
                return Err(ReadError::Other(RotationFailure::new(
                    "the secret value is not a JSON object",
                )));
            }
            Err(_) => {
                return Err(ReadError::Other(RotationFailure::new(
                    "the secret value is not valid JSON",
                )))
            }
        };
        let s = Self { fields };
        for key in REQUIRED {
            if !s.fields.contains_key(key) {
                return Err(ReadError::Key(format!(
                    "{key} key is missing from secret JSON"
                )));
            }
        }
        if !ENGINES.contains(&s.str("engine")) {
            return Err(ReadError::Key(
                "Database engine must be set to 'postgres' in order to use this rotation function"
                    .to_string(),
            ));
        }
        Ok(s)
    }

    fn to_json(&self) -> Result<SecretText, RotationFailure> {
        serde_json::to_string(&self.fields)
            .map(SecretText::new)
            .map_err(|e| RotationFailure::new(format!("encoding the new value: {e}")))
    }
}

/// Reads and checks the version labelled `stage` (and with ID `token`, if given).
fn get_secret_dict(
    sm: &SecretsManager,
    ctx: &RequestContext,
    arn: &str,
    stage: &str,
    token: Option<&str>,
) -> Result<DbSecret, ReadError> {
    let resp = sm
        .get_secret_value(
            ctx,
            GetSecretValueRequest {
                secret_id: Some(arn.to_string()),
                version_id: token.map(str::to_string),
                version_stage: Some(stage.to_string()),
            },
        )
        .map_err(|e| match e {
            SmError::ResourceNotFound(_) => ReadError::NotFound,
            other => ReadError::Other(other.into()),
        })?;
    let Some(text) = resp.secret_string else {
        return Err(ReadError::Other(RotationFailure::new(
            "the postgresql rotator rotates JSON string secrets; this one holds a binary value",
        )));
    };
    DbSecret::parse(text.as_str())
}

/// A driver error as text: the server's message and SQLSTATE for server errors.
fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// `"name"`, with `"` doubled: a PostgreSQL identifier naming exactly `name`.
pub(crate) fn quote_ident(name: &str) -> Result<String, RotationFailure> {
    if name.is_empty() || name.contains('\0') {
        return Err(RotationFailure::new(
            "the secret's username is not a valid PostgreSQL role name",
        ));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// A PostgreSQL string literal holding exactly `value`, as the server's `quote_literal` writes
/// it: `'` doubled, and if there is a backslash, `E'...'` with backslashes doubled (correct
/// whatever `standard_conforming_strings` is).
pub(crate) fn quote_literal(value: &str) -> Result<Zeroizing<String>, RotationFailure> {
    if value.contains('\0') {
        return Err(RotationFailure::new(
            "a PostgreSQL string cannot hold a NUL character",
        ));
    }
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 3));
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

impl PostgresRotator {
    /// Logs in with the secret's credentials; `None` (and a log line without secrets) if the
    /// server cannot be reached or refuses them.
    fn connect(&self, arn: &str, label: &str, s: &DbSecret) -> Option<postgres::Client> {
        let port = match s.port() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(secret = %arn, version = label, reason = %e, "postgresql rotator: cannot connect");
                return None;
            }
        };
        let mut config = postgres::Config::new();
        config
            .host(s.host())
            .port(port)
            .user(s.username())
            .password(s.str("password"))
            .dbname(s.dbname())
            .application_name("coffer-rotator")
            .connect_timeout(self.connect_timeout);
        match config.connect(postgres::NoTls) {
            Ok(c) => Some(c),
            Err(e) => {
                // The driver's errors name the user and host, never the password.
                let reason = pg_error(&e);
                tracing::info!(secret = %arn, version = label, user = s.username(), host = s.host(), port, reason = %reason, "postgresql rotator: login failed");
                None
            }
        }
    }

    fn create(
        &self,
        sm: &SecretsManager,
        ctx: &RequestContext,
        event: &RotationEvent,
    ) -> Result<(), RotationFailure> {
        let arn = &event.secret_id;
        let token = &event.client_request_token;
        let mut current = get_secret_dict(sm, ctx, arn, AWSCURRENT, None)?;
        match get_secret_dict(sm, ctx, arn, AWSPENDING, Some(token)) {
            // A retried rotation keeps the pending value of the earlier attempt.
            Ok(_) => return Ok(()),
            Err(ReadError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let password = sm
            .get_random_password(self.rules.clone())?
            .random_password
            .ok_or_else(|| RotationFailure::new("GetRandomPassword returned no password"))?;
        if let Some(serde_json::Value::String(old)) = current.fields.get_mut("password") {
            old.zeroize();
        }
        current.fields.insert(
            "password".to_string(),
            serde_json::Value::String(password.as_str().to_string()),
        );
        sm.put_secret_value(
            ctx,
            PutSecretValueRequest {
                secret_id: Some(arn.clone()),
                client_request_token: Some(token.clone()),
                secret_binary: None,
                secret_string: Some(current.to_json()?),
                version_stages: Some(vec![AWSPENDING.to_string()]),
                rotation_token: None,
            },
        )?;
        tracing::info!(secret = %arn, version = %token, "createSecret: put a new AWSPENDING value");
        Ok(())
    }

    fn set(
        &self,
        sm: &SecretsManager,
        ctx: &RequestContext,
        event: &RotationEvent,
    ) -> Result<(), RotationFailure> {
        let arn = &event.secret_id;
        let token = &event.client_request_token;
        let previous = match get_secret_dict(sm, ctx, arn, AWSPREVIOUS, None) {
            Ok(p) => Some(p),
            Err(ReadError::NotFound | ReadError::Key(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let current = get_secret_dict(sm, ctx, arn, AWSCURRENT, None)?;
        let pending = get_secret_dict(sm, ctx, arn, AWSPENDING, Some(token))?;
        // AWS's template connects with AWSPREVIOUS using AWSCURRENT's TLS setting.
        for s in [&current, &pending] {
            if s.wants_tls() {
                return Err(RotationFailure::new(
                    "the secret asks for TLS (\"ssl\": true); the postgresql rotator does not support TLS yet",
                ));
            }
        }

        if self.connect(arn, AWSPENDING, &pending).is_some() {
            tracing::info!(secret = %arn, "setSecret: AWSPENDING is already the user's password");
            return Ok(());
        }
        if current.username() != pending.username() {
            return Err(RotationFailure::new(format!(
                "Attempting to modify user {} other than current user {}",
                pending.username(),
                current.username()
            )));
        }
        if current.host() != pending.host() {
            return Err(RotationFailure::new(format!(
                "Attempting to modify user for host {} other than current host {}",
                pending.host(),
                current.host()
            )));
        }
        let mut conn = self.connect(arn, AWSCURRENT, &current);
        if conn.is_none() {
            if let Some(previous) = &previous {
                conn = self.connect(arn, AWSPREVIOUS, previous);
                if previous.username() != pending.username() {
                    return Err(RotationFailure::new(format!(
                        "Attempting to modify user {} other than previous valid user {}",
                        pending.username(),
                        previous.username()
                    )));
                }
                if previous.host() != pending.host() {
                    return Err(RotationFailure::new(format!(
                        "Attempting to modify user for host {} other than previous valid host {}",
                        pending.host(),
                        previous.host()
                    )));
                }
            }
        }
        let Some(mut conn) = conn else {
            return Err(RotationFailure::new(format!(
                "Unable to log into database with previous, current, or pending secret of secret arn {arn}"
            )));
        };
        let verifier = Zeroizing::new(postgres_protocol::password::scram_sha_256(
            pending.str("password").as_bytes(),
        ));
        let statement = Zeroizing::new(format!(
            "ALTER USER {} WITH PASSWORD {}",
            quote_ident(pending.username())?,
            quote_literal(&verifier)?.as_str()
        ));
        // The driver logs statements at debug level; this one holds the verifier, so it runs
        // with logging off.
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            conn.batch_execute(&statement)
        })
        .map_err(|e| {
            RotationFailure::new(format!(
                "setting the password of user {}: {}",
                pending.username(),
                pg_error(&e)
            ))
        })?;
        tracing::info!(secret = %arn, user = pending.username(), "setSecret: set the user's password in PostgreSQL");
        Ok(())
    }

    fn test(
        &self,
        sm: &SecretsManager,
        ctx: &RequestContext,
        event: &RotationEvent,
    ) -> Result<(), RotationFailure> {
        let arn = &event.secret_id;
        let pending = get_secret_dict(sm, ctx, arn, AWSPENDING, Some(&event.client_request_token))?;
        if pending.wants_tls() {
            return Err(RotationFailure::new(
                "the secret asks for TLS (\"ssl\": true); the postgresql rotator does not support TLS yet",
            ));
        }
        let Some(mut conn) = self.connect(arn, AWSPENDING, &pending) else {
            return Err(RotationFailure::new(format!(
                "Unable to log into database with pending secret of secret ARN {arn}"
            )));
        };
        conn.simple_query("SELECT NOW()").map_err(|e| {
            RotationFailure::new(format!("testSecret: SELECT NOW() failed: {}", pg_error(&e)))
        })?;
        tracing::info!(secret = %arn, "testSecret: signed in with AWSPENDING");
        Ok(())
    }
}

impl Rotator for PostgresRotator {
    fn invoke(&self, event: &RotationEvent) -> Result<(), RotationFailure> {
        let sm = self
            .secrets
            .upgrade()
            .ok_or_else(|| RotationFailure::new("Secrets Manager is shutting down"))?;
        let ctx = rotator_context(&event.secret_id, "postgresql")?;
        let Some(stages) = staged_versions(&sm, &ctx, event)? else {
            return Ok(());
        };
        match event.step {
            RotationStep::CreateSecret => self.create(&sm, &ctx, event),
            RotationStep::SetSecret => self.set(&sm, &ctx, event),
            RotationStep::TestSecret => self.test(&sm, &ctx, event),
            RotationStep::FinishSecret => finish_secret(&sm, &ctx, event, &stages),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("app").unwrap(), "\"app\"");
        assert_eq!(quote_ident("We\"ird").unwrap(), "\"We\"\"ird\"");
        assert!(quote_ident("").is_err());
        assert!(quote_ident("a\0b").is_err());
        assert_eq!(quote_literal("abc").unwrap().as_str(), "'abc'");
        assert_eq!(quote_literal("it's").unwrap().as_str(), "'it''s'");
        assert_eq!(quote_literal("a\\b'").unwrap().as_str(), "E'a\\\\b'''");
        assert!(quote_literal("a\0").is_err());
        let v = postgres_protocol::password::scram_sha_256(b"p'w\\");
        assert!(v.starts_with("SCRAM-SHA-256$4096:"), "{v}");
        assert_eq!(quote_literal(&v).unwrap().as_str(), format!("'{v}'"));
    }

    #[test]
    fn secret_json() {
        let s = DbSecret::parse(
            r#"{"engine":"postgres","host":"db","port":"6432","username":"app","password":"x","extra":1}"#,
        )
        .ok()
        .unwrap();
        assert_eq!(s.port().unwrap(), 6432);
        assert_eq!(s.dbname(), "postgres");
        assert!(!s.wants_tls());
        let s = DbSecret::parse(
            r#"{"engine":"aurora-postgresql","host":"db","username":"app","password":"x","dbname":"d","ssl":"TRUE"}"#,
        )
        .ok()
        .unwrap();
        assert_eq!(s.port().unwrap(), 5432);
        assert_eq!(s.dbname(), "d");
        assert!(s.wants_tls());
        assert!(matches!(
            DbSecret::parse(r#"{"engine":"mysql","host":"db","username":"a","password":"x"}"#),
            Err(ReadError::Key(_))
        ));
        assert!(matches!(
            DbSecret::parse(r#"{"engine":"postgres","host":"db","password":"x"}"#),
            Err(ReadError::Key(_))
        ));
        assert!(matches!(
            DbSecret::parse("not json"),
            Err(ReadError::Other(_))
        ));
    }
}
