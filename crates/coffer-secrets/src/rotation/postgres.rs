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
//! TLS follows the template's `get_ssl_config`/`connect_and_authenticate` (`SslPolicy`):
//! `"ssl": true` (or `"true"`) requires TLS, verifying the server's certificate and host name
//! (libpq's `sslmode=verify-full`); `"ssl": false` (or `"false"`) connects in plain text; without
//! an `ssl` key (or with any other value) TLS is tried first and plain text after it fails. TLS is
//! rustls on aws-lc-rs, trusting the webpki (Mozilla) roots plus the rotator's `ca_file`; see
//! [`postgres_tls`] and ADR 0006.

use super::SecretsApi;
use super::{
    finish_secret, rotator_context, staged_versions, RotationEvent, RotationFailure, RotationStep,
    Rotator,
};
use crate::SmError;
use coffer_core::RequestContext;
use coffer_model::secretsmanager::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::{Zeroize, Zeroizing};

const ENGINES: [&str; 2] = ["postgres", "aurora-postgresql"];
const REQUIRED: [&str; 4] = ["host", "username", "password", "engine"];

/// Rotates a PostgreSQL user's own password in process (see the module documentation).
pub struct PostgresRotator {
    secrets: Weak<dyn SecretsApi>,
    rules: GetRandomPasswordRequest,
    connect_timeout: Duration,
    /// The TLS connector, or why it could not be built (then every TLS attempt fails with it).
    tls: Result<MakeRustlsConnect, RotationFailure>,
}

impl PostgresRotator {
    /// A rotator calling back into `secrets`, generating passwords by `rules`, giving up on a
    /// connection after `connect_timeout`, trusting the webpki roots and the certificates of
    /// `ca_file` (PEM) for TLS connections.
    pub fn new(
        secrets: Weak<dyn SecretsApi>,
        rules: GetRandomPasswordRequest,
        connect_timeout: Duration,
        ca_file: Option<PathBuf>,
    ) -> Self {
        let tls = postgres_tls(ca_file.as_deref());
        if let Err(e) = &tls {
            tracing::error!(reason = %e, "postgresql rotator: TLS connections will fail");
        }
        Self {
            secrets,
            rules,
            connect_timeout,
            tls,
        }
    }
}

/// The certificates of a PEM CA bundle (`ca_file`); an error if it cannot be read or holds none.
pub(crate) fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, RotationFailure> {
    let failure =
        |what: String| RotationFailure::new(format!("ca_file {}: {what}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| failure(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failure(e.to_string()))?;
    if certs.is_empty() {
        return Err(failure("no PEM CERTIFICATE found".to_string()));
    }
    Ok(certs)
}

/// The TLS connector of the `postgresql` rotator: rustls with the aws-lc-rs provider (never the
/// process default, never `ring`), TLS 1.2 and 1.3, trusting the webpki (Mozilla) roots plus every
/// certificate in `ca_file`, checking the server's certificate and that it names the host the
/// secret connects to, as libpq's `sslmode=verify-full` that AWS's template uses. ALPN offers
/// `postgresql`, as libpq 17 does. Public so that tests can log in the way the rotator does.
pub fn postgres_tls(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, RotationFailure> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        for cert in load_ca_file(path)? {
            roots.add(cert).map_err(|e| {
                RotationFailure::new(format!(
                    "ca_file {}: not a usable CA certificate: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RotationFailure::new(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(MakeRustlsConnect::new(config))
}

/// How to connect for a secret, as AWS's template decides it from the `ssl` key
/// (`get_ssl_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslPolicy {
    /// TLS, verifying the certificate and host name, no fallback (`true`, `"true"` in any case).
    Tls,
    /// Plain text (`sslmode=disable`): `false`, `"false"` in any case.
    Plain,
    /// TLS as above, then plain text if that fails: no `ssl` key, or any other value.
    TlsThenPlain,
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

    /// The template's `get_ssl_config`: a boolean is taken as it is, the strings `"true"` and
    /// `"false"` in any case too; anything else, or no `ssl` key, means TLS with a plain-text
    /// fallback.
    fn ssl_policy(&self) -> SslPolicy {
        use serde_json::Value;
        match self.fields.get("ssl") {
            Some(Value::Bool(true)) => SslPolicy::Tls,
            Some(Value::Bool(false)) => SslPolicy::Plain,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => SslPolicy::Tls,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => SslPolicy::Plain,
            _ => SslPolicy::TlsThenPlain,
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
    sm: &dyn SecretsApi,
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

/// A driver error as text: the server's message and SQLSTATE for server errors; otherwise the
/// error and its causes (e.g. `error performing TLS handshake: invalid peer certificate:
/// UnknownIssuer`), none of which holds a password.
fn pg_error(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !more.is_empty() && !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
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
    /// Logs in with the secret's credentials, with or without TLS as its `ssl` key says;
    /// `None` (and a log line without secrets) if the server cannot be reached or refuses them.
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
        let policy = s.ssl_policy();
        if policy != SslPolicy::Plain {
            let attempt = match &self.tls {
                Ok(tls) => {
                    let mut config = config.clone();
                    let tls = tls.clone();
                    config.ssl_mode(postgres::config::SslMode::Require);
                    bounded(self.connect_timeout, move || {
                        config.connect(tls).map_err(|e| pg_error(&e))
                    })
                }
                Err(e) => Err(e.message.clone()),
            };
            match attempt {
                Ok(c) => {
                    tracing::debug!(secret = %arn, version = label, user = s.username(), host = s.host(), port, "postgresql rotator: logged in over TLS");
                    return Some(c);
                }
                Err(reason) => {
                    // The driver's errors name the user and host, never the password.
                    tracing::info!(secret = %arn, version = label, user = s.username(), host = s.host(), port, tls = true, reason = %reason, "postgresql rotator: login failed");
                    if policy == SslPolicy::Tls {
                        return None;
                    }
                }
            }
        }
        config.ssl_mode(postgres::config::SslMode::Disable);
        match bounded(self.connect_timeout, move || {
            config.connect(postgres::NoTls).map_err(|e| pg_error(&e))
        }) {
            Ok(c) => {
                tracing::debug!(secret = %arn, version = label, user = s.username(), host = s.host(), port, "postgresql rotator: logged in without TLS");
                Some(c)
            }
            Err(reason) => {
                tracing::info!(secret = %arn, version = label, user = s.username(), host = s.host(), port, tls = false, reason = %reason, "postgresql rotator: login failed");
                None
            }
        }
    }

    fn create(
        &self,
        sm: &dyn SecretsApi,
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
        sm: &dyn SecretsApi,
        ctx: &RequestContext,
        event: &RotationEvent,
    ) -> Result<(), RotationFailure> {
        let arn = &event.secret_id;
        let token = &event.client_request_token;
        let mut previous = match get_secret_dict(sm, ctx, arn, AWSPREVIOUS, None) {
            Ok(p) => Some(p),
            Err(ReadError::NotFound | ReadError::Key(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let current = get_secret_dict(sm, ctx, arn, AWSCURRENT, None)?;
        let pending = get_secret_dict(sm, ctx, arn, AWSPENDING, Some(token))?;

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
            if let Some(previous) = &mut previous {
                // As the template: AWSPREVIOUS is tried with AWSCURRENT's TLS setting.
                previous.fields.remove("ssl");
                if let Some(ssl) = current.fields.get("ssl") {
                    previous.fields.insert("ssl".to_string(), ssl.clone());
                }
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
        sm: &dyn SecretsApi,
        ctx: &RequestContext,
        event: &RotationEvent,
    ) -> Result<(), RotationFailure> {
        let arn = &event.secret_id;
        let pending = get_secret_dict(sm, ctx, arn, AWSPENDING, Some(&event.client_request_token))?;
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
        let sm: &dyn SecretsApi = &*sm;
        let ctx = rotator_context(&event.secret_id, "postgresql")?;
        let Some(stages) = staged_versions(sm, &ctx, event)? else {
            return Ok(());
        };
        match event.step {
            RotationStep::CreateSecret => self.create(sm, &ctx, event),
            RotationStep::SetSecret => self.set(sm, &ctx, event),
            RotationStep::TestSecret => self.test(sm, &ctx, event),
            RotationStep::FinishSecret => finish_secret(sm, &ctx, event, &stages),
        }
    }
}

/// Runs a login on its own thread and gives up after twice the connect timeout: the driver's
/// `connect_timeout` bounds only the TCP connect, and a server that accepts the connection and
/// then stalls the TLS handshake or the login must not hold a rotation step forever. A login
/// that is given up on finishes (or fails) on its thread and is dropped.
fn bounded(
    connect_timeout: Duration,
    login: impl FnOnce() -> Result<postgres::Client, String> + Send + 'static,
) -> Result<postgres::Client, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("coffer-pg-login".into())
        .spawn(move || {
            // The receiver is gone when the login was given up on; the client is then dropped.
            let _ = tx.send(login());
        })
        .map_err(|e| format!("cannot start a login thread: {e}"))?;
    rx.recv_timeout(connect_timeout.saturating_mul(2))
        .unwrap_or_else(|_| {
            Err(format!(
                "the server did not complete the login within {} s",
                connect_timeout.saturating_mul(2).as_secs()
            ))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_stalls_the_login_is_given_up_on() {
        // Accepts the TCP connection, then never answers the startup message.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
        let mut config = postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user("nobody")
            .ssl_mode(postgres::config::SslMode::Disable)
            .connect_timeout(Duration::from_millis(100));
        let err = bounded(Duration::from_millis(100), move || {
            config.connect(postgres::NoTls).map_err(|e| pg_error(&e))
        })
        .map(|_| ())
        .unwrap_err();
        assert!(err.contains("did not complete the login"), "{err}");
        drop(holder.join().unwrap());
    }

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
        assert_eq!(s.ssl_policy(), SslPolicy::TlsThenPlain);
        let s = DbSecret::parse(
            r#"{"engine":"aurora-postgresql","host":"db","username":"app","password":"x","dbname":"d","ssl":"TRUE"}"#,
        )
        .ok()
        .unwrap();
        assert_eq!(s.port().unwrap(), 5432);
        assert_eq!(s.dbname(), "d");
        assert_eq!(s.ssl_policy(), SslPolicy::Tls);
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

    #[test]
    fn ssl_key_as_the_template_reads_it() {
        let policy = |ssl: &str| {
            DbSecret::parse(&format!(
                r#"{{"engine":"postgres","host":"db","username":"a","password":"x","ssl":{ssl}}}"#
            ))
            .ok()
            .unwrap()
            .ssl_policy()
        };
        assert_eq!(policy("true"), SslPolicy::Tls);
        assert_eq!(policy(r#""True""#), SslPolicy::Tls);
        assert_eq!(policy("false"), SslPolicy::Plain);
        assert_eq!(policy(r#""FALSE""#), SslPolicy::Plain);
        // Anything else: TLS first, then plain text (the template's (True, True)).
        for other in [r#""yes""#, r#"" true""#, "1", "0", "null", "{}"] {
            assert_eq!(policy(other), SslPolicy::TlsThenPlain, "{other}");
        }
    }

    /// A self-signed P-256 CA certificate (no key anywhere): only parsed, never trusted for a
    /// connection.
    const UNIT_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUa2UtnEPg7bzNKVKfhCOH8iY9BL0wCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTQ29mZmVyIHVuaXQtdGVzdCBDQTAgFw0yNjExMzAwMDI0NTla
GA8yMTI2MTEwNjAwMjQ1OVowHjEcMBoGA1UEAwwTQ29mZmVyIHVuaXQtdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABCM5NGLyWpZ1OLpw/Blg25Dm1S8e
pnlsEwBhCA5ePaK9suU6/U8+SA+n9Kr0TakF6rcVZuAplVz6f+BcL0TD2OujUzBR
MB0GA1UdDgQWBBTtlL3lpEUz6kEh7wuHcgRi2oAksjAfBgNVHSMEGDAWgBTtlL3l
pEUz6kEh7wuHcgRi2oAksjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIQCZ3L2L349RjQiAPoYz0CktFks+yGrEvFsgUxok4GH0MAIgKyltzkSgS+oH
zdmsDVwuUJq07JUlJPvxc/tUceGDTgc=
-----END CERTIFICATE-----
";

    #[test]
    fn ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, format!("# a bundle\n{UNIT_CA}{UNIT_CA}")).unwrap();
        assert_eq!(load_ca_file(&good).unwrap().len(), 2);
        assert!(postgres_tls(Some(&good)).is_ok());
        assert!(postgres_tls(None).is_ok());

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let e = load_ca_file(&empty).unwrap_err();
        assert!(e.message.contains("no PEM CERTIFICATE"), "{e}");
        let missing = dir.path().join("missing.pem");
        assert!(load_ca_file(&missing).is_err());
        assert!(postgres_tls(Some(&missing)).is_err());
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(postgres_tls(Some(&garbage)).is_err());

        // In the rotators file: checked when the file is loaded.
        use super::super::{RotatorConfig, RotatorRegistry, RotatorsConfig};
        let c = RotatorsConfig::from_json(
            &serde_json::json!({"rotator": [{"arn": "p", "kind": "postgresql", "ca_file": good}]})
                .to_string(),
        )
        .unwrap();
        assert!(
            matches!(&c.rotators[0], RotatorConfig::Postgresql { ca_file: Some(p), .. } if *p == good)
        );
        assert_eq!(
            RotatorRegistry::from_config(&c, Weak::<crate::SecretsManager>::new()).len(),
            1
        );
        let toml = format!(
            "[[rotator]]\narn = \"p\"\nkind = \"postgresql\"\nca_file = '{}'\n",
            empty.display()
        );
        let e = RotatorsConfig::from_toml(&toml).unwrap_err().to_string();
        assert!(
            e.contains("ca_file") && e.contains("no PEM CERTIFICATE"),
            "{e}"
        );

        // A rotator whose CA file cannot be read is still built: its TLS attempts fail.
        let r = PostgresRotator::new(
            Weak::<crate::SecretsManager>::new(),
            GetRandomPasswordRequest::default(),
            Duration::from_secs(1),
            Some(missing),
        );
        assert!(r.tls.is_err());
    }
}
