//! The configuration: one TOML file (`coffer serve --config FILE`), command-line flags over it,
//! and `COFFER_<SECTION>_<KEY>` environment variables over both (the 12-factor order).
//!
//! One struct per section, every one `#[serde(deny_unknown_fields, default)]` with its defaults in
//! its `Default` impl (the only place they are written). Adding a section (`seal`, `audit`, …) is
//! one struct, one field of [`Config`], its name in [`SECTIONS`] and its keys in [`EXAMPLE`] and
//! docs/configuration.md (a test checks the last two agree).
//!
//! Values from the environment are strings; every key's deserializer also takes its value as a
//! string (`"true"`, `"30"`, `"30s"`), so one set of types serves the file and the environment.

use coffer_secrets::RotatorConfig;
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The sections, as `COFFER_<SECTION>_<KEY>` reads them.
pub const SECTIONS: &[&str] = &[
    "tls",
    "federation",
    "metrics",
    "log",
    "store",
    "scheduler",
    "rotators",
    "limits",
    "audit",
    "backup",
    "seal",
    "seed",
    "web_identity",
    "ui",
];

/// The `data_dir` that means no disk at all: an in-memory store and root key (`dev` only).
pub const MEMORY_DATA_DIR: &str = ":memory:";

/// The keys outside any section.
pub const TOP_LEVEL: &[&str] = &[
    "listen",
    "data_dir",
    "dev",
    "dev_account",
    "allow_plaintext",
    "shutdown_grace",
    "check_responses",
    "worker_threads",
];

/// Everything `coffer serve` is told.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the API listener (port 0 picks a free port).
    #[serde(deserialize_with = "de::addr")]
    pub listen: SocketAddr,
    /// Directory of the database, the root key and the root credentials.
    pub data_dir: PathBuf,
    /// Local-testing mode: any well-formed credentials, reset endpoints.
    #[serde(deserialize_with = "de::flag")]
    pub dev: bool,
    /// The account of `dev` callers whose access key ID is not 12 digits.
    #[serde(deserialize_with = "de::account")]
    pub dev_account: String,
    /// Serve plain HTTP on a non-loopback address outside `dev`.
    #[serde(deserialize_with = "de::flag")]
    pub allow_plaintext: bool,
    /// How long a shutdown waits for in-flight requests.
    #[serde(deserialize_with = "de::duration")]
    pub shutdown_grace: Duration,
    /// Check every answer against the service model and log mismatches (Coffer's own tests).
    #[serde(deserialize_with = "de::flag")]
    pub check_responses: bool,
    /// Threads of the async runtime; `None`: one per core.
    #[serde(deserialize_with = "de::worker_threads")]
    pub worker_threads: Option<usize>,
    /// `[tls]`
    pub tls: Tls,
    /// `[federation]`
    pub federation: Federation,
    /// `[metrics]`
    pub metrics: Metrics,
    /// `[log]`
    pub log: Log,
    /// `[store]`
    pub store: Store,
    /// `[scheduler]`
    pub scheduler: Scheduler,
    /// `[rotators]`
    pub rotators: Rotators,
    /// `[limits]`
    pub limits: Limits,
    /// `[audit]`
    pub audit: Audit,
    /// `[backup]`
    pub backup: Backup,
    /// `[seal]`
    pub seal: Seal,
    /// `[seed]`
    pub seed: Seed,
    /// `[web_identity]`
    pub web_identity: WebIdentity,
    /// `[ui]`
    pub ui: Ui,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4566)),
            data_dir: PathBuf::from("coffer-data"),
            dev: false,
            dev_account: "000000000000".into(),
            allow_plaintext: false,
            shutdown_grace: Duration::from_secs(30),
            check_responses: false,
            worker_threads: None,
            tls: Tls::default(),
            federation: Federation::default(),
            metrics: Metrics::default(),
            log: Log::default(),
            store: Store::default(),
            scheduler: Scheduler::default(),
            rotators: Rotators::default(),
            limits: Limits::default(),
            audit: Audit::default(),
            backup: Backup::default(),
            seal: Seal::default(),
            seed: Seed::default(),
            web_identity: WebIdentity::default(),
            ui: Ui::default(),
        }
    }
}

/// `[tls]`: the API listener speaks TLS when `cert_file` and `key_file` are set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain (server certificate first).
    #[serde(deserialize_with = "de::opt_path")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    #[serde(deserialize_with = "de::opt_path")]
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates for client certificates (mutual TLS).
    #[serde(deserialize_with = "de::opt_path")]
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are checked for changes (0 turns the check off; SIGHUP still works).
    #[serde(deserialize_with = "de::duration")]
    pub reload_interval: Duration,
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            reload_interval: Duration::from_secs(10),
        }
    }
}

/// `[federation]`: regions as failure domains (ADR 0019). Without `regions` this deployment
/// serves every region, as before federation existed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Federation {
    /// The regions this deployment owns (also `COFFER_FEDERATION_REGIONS="a,b"`).
    #[serde(deserialize_with = "de::regions")]
    pub regions: Vec<String>,
    /// Forward a request for a peer's region to that peer instead of refusing it.
    #[serde(deserialize_with = "de::flag")]
    pub forward: bool,
    /// PEM CA certificates whose certificates are accepted from peers.
    #[serde(deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain this deployment presents to peers (a TLS client certificate).
    #[serde(deserialize_with = "de::opt_path")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    #[serde(deserialize_with = "de::opt_path")]
    pub key_file: Option<PathBuf>,
    /// The other deployments (`[[federation.peers]]`).
    pub peers: Vec<FederationPeer>,
}

/// `[[federation.peers]]`: another deployment and the regions it owns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationPeer {
    /// The regions it owns.
    #[serde(deserialize_with = "de::regions")]
    pub regions: Vec<String>,
    /// Its API endpoint, `https://host:port`.
    pub url: String,
}

impl Federation {
    /// Whether a topology is configured (`regions` is set).
    pub fn on(&self) -> bool {
        !self.regions.is_empty()
    }

    fn check(&self) -> Result<(), ConfigError> {
        let err = |s: String| Err(ConfigError(s));
        if !self.on() {
            if !self.peers.is_empty() || self.forward {
                return err(
                    "[federation] regions must name the regions this deployment owns when \
                     peers or forward are set"
                        .into(),
                );
            }
            return Ok(());
        }
        // Who owns each region: `regions`, or a peer (1-based, as written).
        let mut owner: Vec<(String, String)> = Vec::new();
        let mut claim = |region: &str, by: String, key: &str| -> Result<(), ConfigError> {
            if !coffer_core::context::is_region_name(region) {
                return Err(ConfigError(format!(
                    "{key}: {region:?} is not a region name (such as \"eu-central-1\")"
                )));
            }
            if let Some((_, first)) = owner.iter().find(|(r, _)| *r == region) {
                return Err(ConfigError(format!(
                    "{key}: region {region} is owned twice, by {first} and by {by}"
                )));
            }
            owner.push((region.to_string(), by));
            Ok(())
        };
        for r in &self.regions {
            claim(r, "[federation] regions".into(), "[federation] regions")?;
        }
        for (i, peer) in self.peers.iter().enumerate() {
            let at = format!("[[federation.peers]] {}", i + 1);
            if peer.regions.is_empty() {
                return err(format!("{at}: regions must name the regions the peer owns"));
            }
            for r in &peer.regions {
                claim(r, at.clone(), &format!("{at} regions"))?;
            }
            if let Err(why) = coffer_http::federation::Peer::new(peer.regions.clone(), &peer.url) {
                return err(format!("{at}: {why}"));
            }
        }
        if self.forward && self.peers.is_empty() {
            return err(
                "[federation] forward = true needs [[federation.peers]] owning the regions to \
                 forward to"
                    .into(),
            );
        }
        if !self.peers.is_empty() {
            for (key, v) in [
                ("ca_file", &self.ca_file),
                ("cert_file", &self.cert_file),
                ("key_file", &self.key_file),
            ] {
                if v.is_none() {
                    return err(format!(
                        "[federation] {key} is required with [[federation.peers]] (peers \
                         authenticate each other with mutual TLS)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The front's topology, with the peer TLS files read; `None` without `regions`.
    pub fn load(&self) -> Result<Option<coffer_http::federation::Federation>, ConfigError> {
        if !self.on() {
            return Ok(None);
        }
        let tls = match (&self.ca_file, &self.cert_file, &self.key_file) {
            (Some(ca), Some(cert), Some(key)) if !self.peers.is_empty() => Some(
                coffer_http::tls::client_config(ca, cert, key)
                    .map_err(|e| ConfigError(format!("[federation] {e}")))?,
            ),
            _ => None,
        };
        let mut peers = Vec::new();
        for (i, p) in self.peers.iter().enumerate() {
            peers.push(
                coffer_http::federation::Peer::new(p.regions.clone(), &p.url)
                    .map_err(|why| ConfigError(format!("[[federation.peers]] {}: {why}", i + 1)))?,
            );
        }
        let fed = coffer_http::federation::Federation::new(
            self.regions.clone(),
            self.forward,
            peers,
            tls,
        );
        Ok(Some(match &self.ca_file {
            Some(ca) => fed.with_peer_verifier(
                coffer_http::tls::peer_verifier(ca)
                    .map_err(|e| ConfigError(format!("[federation] {e}")))?,
            ),
            None => fed,
        }))
    }
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Serve `GET /metrics`.
    #[serde(deserialize_with = "de::flag")]
    pub enabled: bool,
    /// A listener of its own (plain HTTP) for `/metrics` and the health probes; unset, they
    /// are on the API listener.
    #[serde(deserialize_with = "de::opt_addr")]
    pub listen: Option<SocketAddr>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

/// `[ui]`: the web console at `/_coffer/ui/`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ui {
    /// Serve the console.
    #[serde(deserialize_with = "de::flag")]
    pub enabled: bool,
    /// A console sign-in ends after this long without a request.
    #[serde(deserialize_with = "de::duration")]
    pub idle_timeout: Duration,
    /// A console sign-in ends this long after it began.
    #[serde(deserialize_with = "de::duration")]
    pub max_session: Duration,
    /// The Region pages open in after sign-in.
    pub default_region: String,
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout: Duration::from_secs(15 * 60),
            max_session: Duration::from_secs(8 * 3600),
            default_region: "us-east-1".into(),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// A `tracing` filter: `info`, `debug`, `coffer_http=debug,info`, … (`RUST_LOG` wins).
    pub level: String,
    /// `text` or `json` (one JSON object per line).
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    /// The backend: `sqlite` (`<data_dir>/coffer.db`) or `postgres` (`url`).
    pub kind: StoreKind,
    /// `postgres://user[:password]@host[:port]/dbname[?sslmode=...]` (also `COFFER_STORE_URL`).
    #[serde(deserialize_with = "de::opt_string")]
    pub url: Option<String>,
    /// A file holding the database password (one trailing newline is ignored).
    #[serde(deserialize_with = "de::opt_path")]
    pub password_file: Option<PathBuf>,
    /// TLS to the database: `disable`, `prefer`, `require`, `verify-ca`, `verify-full`
    /// (unset: the URL's `sslmode`, else `prefer`).
    #[serde(deserialize_with = "de::opt_string")]
    pub ssl_mode: Option<String>,
    /// PEM CA certificates the database's certificate must chain to.
    #[serde(deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
    /// The PostgreSQL schema of Coffer's tables.
    pub schema: String,
    /// The most pooled connections.
    #[serde(deserialize_with = "de::count")]
    pub pool_size: usize,
    /// Bound on connecting (and on waiting for a pooled connection).
    #[serde(deserialize_with = "de::duration")]
    pub connect_timeout: Duration,
    /// Bound on each statement: a write to a database that does not answer fails after it.
    #[serde(deserialize_with = "de::duration")]
    pub statement_timeout: Duration,
    /// With several nodes on one database: `eventual` (another node's change is applied when
    /// its notification arrives, within milliseconds) or `strict` (every request first reads
    /// the change log, so any client sees every acknowledged write through any node, at one
    /// database round trip per request).
    pub consistency: coffer_http::follow::Consistency,
}

impl Default for Store {
    fn default() -> Self {
        let pg = coffer_store::PostgresOptions::new("");
        Self {
            kind: StoreKind::Sqlite,
            url: None,
            password_file: None,
            ssl_mode: None,
            ca_file: None,
            schema: pg.schema,
            pool_size: pg.pool_size,
            connect_timeout: pg.connect_timeout,
            statement_timeout: pg.statement_timeout,
            consistency: coffer_http::follow::Consistency::Eventual,
        }
    }
}

impl Store {
    /// The PostgreSQL store's options (`kind = "postgres"`).
    pub fn postgres_options(&self) -> Result<coffer_store::PostgresOptions, ConfigError> {
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| ConfigError("[store] kind = \"postgres\" needs url".into()))?;
        let mut o = coffer_store::PostgresOptions::new(url);
        if let Some(f) = &self.password_file {
            let text =
                zeroize::Zeroizing::new(std::fs::read_to_string(f).map_err(|e| {
                    ConfigError(format!("[store] password_file {}: {e}", f.display()))
                })?);
            let p = text.strip_suffix('\n').unwrap_or(&text);
            o.password = Some(zeroize::Zeroizing::new(
                p.strip_suffix('\r').unwrap_or(p).to_string(),
            ));
        }
        if let Some(m) = &self.ssl_mode {
            o.ssl_mode = Some(m.parse().map_err(|_| {
                ConfigError(format!(
                    "[store] ssl_mode {m:?}: one of disable, prefer, require, verify-ca, verify-full"
                ))
            })?);
        }
        o.ca_file = self.ca_file.clone();
        o.schema = self.schema.clone();
        o.pool_size = self.pool_size;
        o.connect_timeout = self.connect_timeout;
        o.statement_timeout = self.statement_timeout;
        Ok(o)
    }
}

/// Store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The embedded SQLite database.
    Sqlite,
    /// A PostgreSQL database (ADR 0004).
    Postgres,
}

impl StoreKind {
    /// The name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// `[scheduler]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scheduler {
    /// How often due work (deletions, rotations, expiries) is looked for.
    #[serde(deserialize_with = "de::duration")]
    pub interval: Duration,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
        }
    }
}

/// `[rotators]`: what stands in for rotation Lambda functions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rotators {
    /// A rotators file (`[[rotator]]` tables; JSON if it ends in `.json`).
    #[serde(deserialize_with = "de::opt_path")]
    pub file: Option<PathBuf>,
    /// Rotators written here (`[[rotators.rotator]]`), the same tables as in the file.
    pub rotator: Vec<RotatorConfig>,
}

/// `[web_identity]`: how `AssumeRoleWithWebIdentity` finds the keys that sign OpenID Connect
/// tokens (ADR 0018).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebIdentity {
    /// Fetch the keys of issuers without a configured JWKS over HTTPS (their
    /// `/.well-known/openid-configuration`, then `jwks_uri`).
    #[serde(deserialize_with = "de::flag")]
    pub fetch: bool,
    /// PEM certificates trusted for those fetches instead of the Mozilla roots.
    #[serde(deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
    /// How long one fetch may take.
    #[serde(deserialize_with = "de::duration")]
    pub fetch_timeout: Duration,
    /// Issuers whose keys are configured (`[[web_identity.issuer]]`): air-gapped sites.
    pub issuer: Vec<WebIdentityIssuer>,
}

impl Default for WebIdentity {
    fn default() -> Self {
        Self {
            fetch: true,
            ca_file: None,
            fetch_timeout: Duration::from_secs(5),
            issuer: Vec::new(),
        }
    }
}

impl WebIdentity {
    /// The verifier's configuration, with the files it names read; the error names the file.
    pub fn load(&self) -> Result<coffer_iam::web_identity::WebIdentityConfig, ConfigError> {
        let read = |what: &str, p: &Path| {
            std::fs::read(p)
                .map_err(|e| ConfigError(format!("[web_identity] {what} {}: {e}", p.display())))
        };
        let mut static_jwks = Vec::new();
        for issuer in &self.issuer {
            let jwks = match (&issuer.jwks, &issuer.jwks_file) {
                (Some(j), _) => j.clone(),
                (None, Some(f)) => String::from_utf8_lossy(&read("jwks_file", f)?).into_owned(),
                (None, None) => String::new(),
            };
            static_jwks.push(coffer_iam::web_identity::StaticJwks {
                issuer: issuer.url.clone(),
                jwks,
            });
        }
        Ok(coffer_iam::web_identity::WebIdentityConfig {
            static_jwks,
            ca_pem: self
                .ca_file
                .as_deref()
                .map(|f| read("ca_file", f))
                .transpose()?,
            fetch: self.fetch,
            fetch_timeout: Some(self.fetch_timeout),
        })
    }
}

/// `[[web_identity.issuer]]`: one issuer's JWKS, from a file or written inline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebIdentityIssuer {
    /// The issuer as tokens' `iss` names it (`https://…`).
    pub url: String,
    /// A JWKS file (`{"keys": [...]}`), e.g. a Kubernetes cluster's `/openid/v1/jwks`.
    #[serde(deserialize_with = "de::opt_path")]
    pub jwks_file: Option<PathBuf>,
    /// The JWKS itself.
    pub jwks: Option<String>,
}

/// `[seed]`: a seed file applied at every start (ADR 0016).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Seed {
    /// The seed file (YAML, or JSON if its name ends in `.json`).
    #[serde(deserialize_with = "de::opt_path")]
    pub file: Option<PathBuf>,
}

/// `[limits]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, in bytes.
    #[serde(deserialize_with = "de::count")]
    pub max_body_bytes: usize,
    /// Largest request head / header list, in bytes (at least 8192 for HTTP/1.1).
    #[serde(deserialize_with = "de::count")]
    pub max_header_bytes: usize,
    /// Requests served at once; beyond it they are throttled.
    #[serde(deserialize_with = "de::count")]
    pub max_concurrent_requests: usize,
    /// Connections open at once; beyond it they wait to be accepted.
    #[serde(deserialize_with = "de::count")]
    pub max_connections: usize,
    /// TLS handshake, request headers and request body must each arrive within this.
    #[serde(deserialize_with = "de::duration")]
    pub read_timeout: Duration,
    /// A connection without a request for this long is closed.
    #[serde(deserialize_with = "de::duration")]
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let http = coffer_http::server::Limits::default();
        Self {
            max_body_bytes: coffer_http::MAX_BODY_BYTES,
            max_header_bytes: http.max_header_bytes,
            max_concurrent_requests: http.max_concurrent_requests,
            max_connections: http.max_connections,
            read_timeout: http.read_timeout,
            idle_timeout: http.idle_timeout,
        }
    }
}

/// `[audit]`: the tamper-evident audit trail (ADR 0010), one CloudTrail record per request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// On or off; unset, the trail is on when `file` or `stdout` is set.
    #[serde(deserialize_with = "de::opt_flag")]
    pub enabled: Option<bool>,
    /// The trail's file (`DIR/STEM.EXT`; segments are `DIR/STEM.<first record>.EXT`); with
    /// `enabled = true` and neither `file` nor `stdout`, `<data_dir>/audit/trail.jsonl`.
    #[serde(deserialize_with = "de::opt_path")]
    pub file: Option<PathBuf>,
    /// Also (or only) write every record to standard output.
    #[serde(deserialize_with = "de::flag")]
    pub stdout: bool,
    /// Refuse a request whose record cannot be written; unset, true outside `dev`.
    #[serde(deserialize_with = "de::opt_flag")]
    pub fail_closed: Option<bool>,
    /// When the file is fsynced: `batch`, `always` or `never`.
    pub fsync: Fsync,
    /// A segment is closed before it would pass this many bytes.
    #[serde(deserialize_with = "de::count")]
    pub max_file_bytes: usize,
    /// Segments whose last write is older are deleted ("0s" keeps every segment).
    #[serde(deserialize_with = "de::duration")]
    pub retention: Duration,
}

impl Default for Audit {
    fn default() -> Self {
        let d = coffer_audit::AuditConfig::file("audit.jsonl");
        Self {
            enabled: None,
            file: None,
            stdout: false,
            fail_closed: None,
            fsync: Fsync::Batch,
            max_file_bytes: usize::try_from(d.max_file_bytes).unwrap_or(usize::MAX),
            retention: d.retention.unwrap_or(Duration::ZERO),
        }
    }
}

/// `[backup]`: scheduled online backups by the serving process (ADR 0014); off unless
/// `interval` is more than 0s.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backup {
    /// How often a backup is written ("0s": never).
    #[serde(deserialize_with = "de::duration")]
    pub interval: Duration,
    /// The directory of the backup files (required with an interval; not inside data_dir).
    #[serde(deserialize_with = "de::opt_path")]
    pub dir: Option<PathBuf>,
    /// How many of the newest backup files are kept.
    #[serde(deserialize_with = "de::count")]
    pub keep: usize,
}

impl Default for Backup {
    fn default() -> Self {
        Self {
            interval: Duration::ZERO,
            dir: None,
            keep: 7,
        }
    }
}

/// `[seal]`: how the root key is kept at rest (ADR 0013). Secrets are never keys of the file:
/// the passphrase comes from `COFFER_SEAL_PASSPHRASE`, `passphrase_file` or a prompt, the PIN
/// from `COFFER_SEAL_PIN` or `pin_file`, the KMS secret key from `secret_access_key_file` or
/// `AWS_SECRET_ACCESS_KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Seal {
    /// `file`, `passphrase`, `pkcs11` or `kms`.
    #[serde(deserialize_with = "de::seal_kind")]
    pub kind: coffer_seal::SealKind,
    /// Refused: a passphrase written in the file (here only to say so).
    #[serde(deserialize_with = "de::opt_string")]
    pub passphrase: Option<String>,
    /// A file holding the passphrase (systemd credentials, Kubernetes secrets).
    #[serde(deserialize_with = "de::opt_path")]
    pub passphrase_file: Option<PathBuf>,
    /// Argon2id memory, KiB, for a new passphrase seal.
    #[serde(deserialize_with = "de::count")]
    pub argon2_memory_kib: usize,
    /// Argon2id passes.
    #[serde(deserialize_with = "de::count")]
    pub argon2_iterations: usize,
    /// Argon2id lanes.
    #[serde(deserialize_with = "de::count")]
    pub argon2_parallelism: usize,
    /// The PKCS#11 module's path.
    #[serde(deserialize_with = "de::opt_path")]
    pub module: Option<PathBuf>,
    /// The token's label.
    #[serde(deserialize_with = "de::opt_string")]
    pub token_label: Option<String>,
    /// The token's slot ID (when no label is given).
    #[serde(deserialize_with = "de::opt_count")]
    pub slot: Option<usize>,
    /// Refused: a PIN written in the file.
    #[serde(deserialize_with = "de::opt_string")]
    pub pin: Option<String>,
    /// A file holding the user PIN.
    #[serde(deserialize_with = "de::opt_path")]
    pub pin_file: Option<PathBuf>,
    /// The label of the HSM's AES key.
    pub key_label: String,
    /// The KMS endpoint URL.
    #[serde(deserialize_with = "de::opt_string")]
    pub endpoint: Option<String>,
    /// The KMS region.
    #[serde(deserialize_with = "de::opt_string")]
    pub region: Option<String>,
    /// The KMS key.
    #[serde(deserialize_with = "de::opt_string")]
    pub key_id: Option<String>,
    /// The access key ID the KMS calls are signed with.
    #[serde(deserialize_with = "de::opt_string")]
    pub access_key_id: Option<String>,
    /// A file holding its secret access key.
    #[serde(deserialize_with = "de::opt_path")]
    pub secret_access_key_file: Option<PathBuf>,
}

impl Default for Seal {
    fn default() -> Self {
        let a = coffer_seal::Argon2Params::default();
        Self {
            kind: coffer_seal::SealKind::File,
            passphrase: None,
            passphrase_file: None,
            argon2_memory_kib: a.memory_kib as usize,
            argon2_iterations: a.iterations as usize,
            argon2_parallelism: a.parallelism as usize,
            module: None,
            token_label: None,
            slot: None,
            pin: None,
            pin_file: None,
            key_label: "coffer-root-key".into(),
            endpoint: None,
            region: None,
            key_id: None,
            access_key_id: None,
            secret_access_key_file: None,
        }
    }
}

/// The environment variables that carry seal secrets. They are not configuration keys (a
/// passphrase or a PIN is never a key of the file) and are read only by [`Seal::provider`].
pub const SEAL_SECRET_VARS: &[&str] = &["COFFER_SEAL_PASSPHRASE", "COFFER_SEAL_PIN"];

fn read_secret(path: &Path, what: &str) -> Result<zeroize::Zeroizing<String>, ConfigError> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("[seal] {what} {}: {e}", path.display())))?,
    );
    // One trailing newline (as `echo` writes it) is not part of the secret.
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(zeroize::Zeroizing::new(trimmed.to_string()))
}

impl Seal {
    /// The seal provider's settings with its secrets, from `env` (the process's `COFFER_*` and
    /// `AWS_*` variables) and the files named; `prompt` asks for a passphrase when none is given
    /// (`None`: do not ask).
    pub fn provider(
        &self,
        env: &[(String, String)],
        prompt: Option<&dyn Fn() -> Option<zeroize::Zeroizing<String>>>,
    ) -> Result<coffer_seal::SealConfig, ConfigError> {
        let var = |name: &str| {
            env.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| zeroize::Zeroizing::new(v.clone()))
        };
        let u32_of = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut c = coffer_seal::SealConfig::file().with_kind(self.kind);
        c.argon2 = coffer_seal::Argon2Params {
            memory_kib: u32_of(self.argon2_memory_kib),
            iterations: u32_of(self.argon2_iterations),
            parallelism: u32_of(self.argon2_parallelism),
        };
        let wants = |k| self.kind == k;
        use coffer_seal::SealKind as K;
        c.passphrase = match (var("COFFER_SEAL_PASSPHRASE"), &self.passphrase_file) {
            (Some(p), _) => Some(p),
            (None, Some(f)) => Some(read_secret(f, "passphrase_file")?),
            (None, None) if wants(K::Passphrase) => prompt.and_then(|p| p()),
            (None, None) => None,
        };
        c.pkcs11 = coffer_seal::Pkcs11Settings {
            module: self.module.clone(),
            token_label: self.token_label.clone(),
            slot: self.slot.map(|s| s as u64),
            pin: match (var("COFFER_SEAL_PIN"), &self.pin_file) {
                (Some(p), _) => Some(p),
                (None, Some(f)) => Some(read_secret(f, "pin_file")?),
                (None, None) => None,
            },
            key_label: self.key_label.clone(),
        };
        c.kms = coffer_seal::KmsSettings {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            key_id: self.key_id.clone(),
            access_key_id: self
                .access_key_id
                .clone()
                .or_else(|| var("AWS_ACCESS_KEY_ID").map(|v| v.to_string())),
            secret_access_key: match &self.secret_access_key_file {
                Some(f) => Some(read_secret(f, "secret_access_key_file")?),
                None => var("AWS_SECRET_ACCESS_KEY"),
            },
            session_token: var("AWS_SESSION_TOKEN"),
        };
        Ok(c)
    }
}

/// `[audit] fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// After every record.
    Always,
    /// Once per batch of records written together.
    Batch,
    /// Never (the kernel writes back).
    Never,
}

impl Audit {
    /// Whether the trail is on.
    pub fn on(&self) -> bool {
        self.enabled.unwrap_or(self.file.is_some() || self.stdout)
    }
}

impl Config {
    /// The audit trail's configuration, `None` when it is off.
    pub fn audit_config(&self) -> Option<coffer_audit::AuditConfig> {
        let a = &self.audit;
        if !a.on() {
            return None;
        }
        let file = match (&a.file, a.stdout) {
            (Some(f), _) => Some(f.clone()),
            (None, true) => None,
            (None, false) => Some(self.data_dir.join("audit").join("trail.jsonl")),
        };
        let base = coffer_audit::AuditConfig::file("audit.jsonl");
        Some(coffer_audit::AuditConfig {
            file,
            stdout: a.stdout,
            fail_closed: a.fail_closed.unwrap_or(!self.dev),
            fsync: match a.fsync {
                Fsync::Always => coffer_audit::FsyncPolicy::Always,
                Fsync::Batch => coffer_audit::FsyncPolicy::Batch,
                Fsync::Never => coffer_audit::FsyncPolicy::Never,
            },
            max_file_bytes: u64::try_from(a.max_file_bytes).unwrap_or(u64::MAX),
            retention: (!a.retention.is_zero()).then_some(a.retention),
            ..base
        })
    }
}

/// The command-line flags of `coffer serve` that override keys.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--listen`
    pub listen: Option<SocketAddr>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--dev`
    pub dev: bool,
    /// `--dev-account`
    pub dev_account: Option<String>,
    /// `--scheduler-interval` (seconds)
    pub scheduler_interval: Option<u64>,
    /// `--rotators`
    pub rotators: Option<PathBuf>,
    /// `--seed`
    pub seed: Option<PathBuf>,
}

/// A configuration problem: one line naming the file and line, the variable or the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The file (if any), then the flags over it, then the environment over both; checked.
    ///
    /// This is the 12-factor order: an operator's `COFFER_<SECTION>_<KEY>` (from a unit
    /// file, a container spec or a secret mount) wins over the flags baked into a command line,
    /// which win over the file.
    pub fn load(
        file: Option<&Path>,
        env: &[(String, String)],
        flags: &Flags,
    ) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?,
            None => String::new(),
        };
        let name = file.map_or_else(|| "config".to_string(), |p| p.display().to_string());
        Self::from_text(&name, &text, env, flags)
    }

    /// [`Config::load`] of a file's `text` already read (named `name` in messages).
    pub fn from_text(
        name: &str,
        text: &str,
        env: &[(String, String)],
        flags: &Flags,
    ) -> Result<Config, ConfigError> {
        let mut config = Self::from_toml(name, text)?;
        let overrides = env_overrides(env)?;
        if !overrides.is_empty() {
            let mut table: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| file_error(name, text, &e))?;
            for (var, section, key, value) in &overrides {
                let mut t = table.clone();
                set(&mut t, section.as_deref(), key, value);
                Config::deserialize(toml::Value::Table(t)).map_err(|e| {
                    ConfigError(format!(
                        "environment variable {var}: {}",
                        e.message().trim()
                    ))
                })?;
                set(&mut table, section.as_deref(), key, value);
            }
            config = Config::deserialize(toml::Value::Table(table))
                .map_err(|e| ConfigError(format!("environment: {}", e.message().trim())))?;
        }
        // A flag applies where the environment is silent on its key.
        let from_env = |section: Option<&str>, key: &str| {
            overrides
                .iter()
                .any(|(_, s, k, _)| s.as_deref() == section && k == key)
        };
        config.apply(flags, &from_env);
        config.check()?;
        Ok(config)
    }

    /// Parses a file's text (no environment, no flags, no checks).
    pub fn from_toml(name: &str, text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| file_error(name, text, &e))
    }

    fn apply(&mut self, flags: &Flags, from_env: &dyn Fn(Option<&str>, &str) -> bool) {
        if let Some(l) = flags.listen.filter(|_| !from_env(None, "listen")) {
            self.listen = l;
        }
        if let Some(d) = flags
            .data_dir
            .as_ref()
            .filter(|_| !from_env(None, "data_dir"))
        {
            self.data_dir = d.clone();
        }
        if flags.dev && !from_env(None, "dev") {
            self.dev = true;
        }
        if let Some(a) = flags
            .dev_account
            .as_ref()
            .filter(|_| !from_env(None, "dev_account"))
        {
            self.dev_account = a.clone();
        }
        if let Some(s) = flags
            .scheduler_interval
            .filter(|_| !from_env(Some("scheduler"), "interval"))
        {
            self.scheduler.interval = Duration::from_secs(s);
        }
        if let Some(r) = flags
            .rotators
            .as_ref()
            .filter(|_| !from_env(Some("rotators"), "file"))
        {
            self.rotators.file = Some(r.clone());
        }
        if let Some(f) = flags
            .seed
            .as_ref()
            .filter(|_| !from_env(Some("seed"), "file"))
        {
            self.seed.file = Some(f.clone());
        }
    }

    /// Whether `data_dir` is [`MEMORY_DATA_DIR`]: no disk at all (with `dev` only).
    pub fn in_memory(&self) -> bool {
        self.data_dir.as_os_str() == MEMORY_DATA_DIR
    }

    /// What the types alone cannot say.
    pub fn check(&self) -> Result<(), ConfigError> {
        let err = |s: String| Err(ConfigError(s));
        if self.in_memory() {
            if !self.dev {
                return err(format!(
                    "data_dir = {MEMORY_DATA_DIR:?} keeps nothing (no database, no root key on \
                     disk) and is for throwaway --dev servers only: add --dev, or give a \
                     directory"
                ));
            }
            if self.store.kind == StoreKind::Postgres {
                return err(format!(
                    "data_dir = {MEMORY_DATA_DIR:?} with [store] kind = \"postgres\": the \
                     in-memory mode has no store of its own to choose"
                ));
            }
            if !self.backup.interval.is_zero() {
                return err(format!(
                    "data_dir = {MEMORY_DATA_DIR:?} with [backup] interval: there is nothing on \
                     disk to back up (use `POST /_coffer/state/export`)"
                ));
            }
            if self.audit.on() && self.audit.file.is_none() && !self.audit.stdout {
                return err(format!(
                    "data_dir = {MEMORY_DATA_DIR:?}: the audit trail has no data directory to \
                     live in: set [audit] file or stdout"
                ));
            }
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => return err("[tls] cert_file is set but key_file is not".into()),
            (None, Some(_)) => return err("[tls] key_file is set but cert_file is not".into()),
            (None, None) if self.tls.client_ca_file.is_some() => {
                return err(
                    "[tls] client_ca_file needs cert_file and key_file (mutual TLS is TLS)".into(),
                )
            }
            _ => {}
        }
        if !self.dev
            && !self.tls_enabled()
            && !self.listen.ip().is_loopback()
            && !self.allow_plaintext
        {
            return err(format!(
                "refusing to serve plain HTTP on {}, a non-loopback address: secrets and data keys \
                 would cross the network in clear. Set [tls] cert_file and key_file, or \
                 allow_plaintext = true if TLS ends in front of Coffer",
                self.listen
            ));
        }
        self.federation.check()?;
        let l = &self.limits;
        for (key, v) in [
            ("max_body_bytes", l.max_body_bytes),
            ("max_header_bytes", l.max_header_bytes),
            ("max_concurrent_requests", l.max_concurrent_requests),
            ("max_connections", l.max_connections),
        ] {
            if v == 0 {
                return err(format!("[limits] {key} must be at least 1"));
            }
        }
        for (key, v) in [
            ("read_timeout", l.read_timeout),
            ("idle_timeout", l.idle_timeout),
        ] {
            if v.is_zero() {
                return err(format!("[limits] {key} must be more than 0s"));
            }
        }
        if self.scheduler.interval < Duration::from_secs(1) {
            return err("[scheduler] interval must be at least 1s".into());
        }
        if self.audit.max_file_bytes < 64 * 1024 {
            return err("[audit] max_file_bytes must be at least 65536".into());
        }
        let b = &self.backup;
        if !b.interval.is_zero() {
            let Some(dir) = &b.dir else {
                return err("[backup] interval is set but dir is not".into());
            };
            if b.interval < Duration::from_secs(1) {
                return err("[backup] interval must be at least 1s (or 0s: off)".into());
            }
            if dir.starts_with(&self.data_dir) {
                return err(format!(
                    "[backup] dir {} is inside data_dir: keep backups apart from the data",
                    dir.display()
                ));
            }
        }
        if b.keep == 0 {
            return err("[backup] keep must be at least 1".into());
        }
        for (i, issuer) in self.web_identity.issuer.iter().enumerate() {
            let at = format!("[[web_identity.issuer]] {}", i + 1);
            if !issuer.url.starts_with("https://") {
                return err(format!(
                    "{at}: url must be the issuer as tokens name it, https://…"
                ));
            }
            if issuer.jwks_file.is_some() == issuer.jwks.is_some() {
                return err(format!("{at}: set exactly one of jwks_file and jwks"));
            }
        }
        if self.store.kind == StoreKind::Postgres {
            self.store.postgres_options()?;
            if self.store.pool_size == 0 {
                return err("[store] pool_size must be at least 1".into());
            }
            if !self.backup.interval.is_zero() {
                return err(
                    "[backup] interval: scheduled backups are of the SQLite store; with \
                     [store] kind = \"postgres\" use PostgreSQL's own backups (pg_dump)"
                        .into(),
                );
            }
        }
        let seal = &self.seal;
        if seal.passphrase.is_some() {
            return err(
                "[seal] passphrase must not be written in the configuration file: set \
                 COFFER_SEAL_PASSPHRASE or passphrase_file"
                    .into(),
            );
        }
        if seal.pin.is_some() {
            return err(
                "[seal] pin must not be written in the configuration file: set COFFER_SEAL_PIN \
                 or pin_file"
                    .into(),
            );
        }
        if seal.kind == coffer_seal::SealKind::Passphrase {
            let u32_of = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            coffer_seal::Argon2Params {
                memory_kib: u32_of(seal.argon2_memory_kib),
                iterations: u32_of(seal.argon2_iterations),
                parallelism: u32_of(seal.argon2_parallelism),
            }
            .check()
            .map_err(|e| ConfigError(e.to_string()))?;
        }
        if seal.kind == coffer_seal::SealKind::Pkcs11 {
            if seal.module.is_none() {
                return err("[seal] kind = \"pkcs11\" needs module".into());
            }
            if seal.token_label.is_none() && seal.slot.is_none() {
                return err("[seal] kind = \"pkcs11\" needs token_label or slot".into());
            }
        }
        if seal.kind == coffer_seal::SealKind::Kms
            && (seal.region.is_none() || seal.key_id.is_none())
        {
            return err("[seal] kind = \"kms\" needs region and key_id".into());
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return err(format!("[log] level {:?}: {e}", self.log.level));
        }
        Ok(())
    }

    /// TLS is configured.
    pub fn tls_enabled(&self) -> bool {
        self.tls.cert_file.is_some() && self.tls.key_file.is_some()
    }
}

fn set(table: &mut toml::Table, section: Option<&str>, key: &str, value: &str) {
    let target = match section {
        None => table,
        Some(s) => {
            let entry = table
                .entry(s.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            match entry.as_table_mut() {
                Some(t) => t,
                None => return,
            }
        }
    };
    target.insert(key.to_string(), toml::Value::String(value.to_string()));
}

/// `(variable, section, key, value)` for every `COFFER_*` variable that names a key.
///
/// `COFFER_<SECTION>_<KEY>` for a known section must name one of its keys (a typo is an
/// error); `COFFER_<KEY>` for a top-level key. Other `COFFER_*` variables (`COFFER_CONFIG`, the
/// test suite's) are not configuration and are left alone. `COFFER_ROTATORS` is
/// `COFFER_ROTATORS_FILE`, as before the config file existed.
#[allow(clippy::type_complexity)]
pub fn env_overrides(
    env: &[(String, String)],
) -> Result<Vec<(String, Option<String>, String, String)>, ConfigError> {
    let mut out = Vec::new();
    let mut vars: Vec<&(String, String)> = env.iter().collect();
    vars.sort();
    for (var, value) in vars {
        let Some(rest) = var.strip_prefix("COFFER_") else {
            continue;
        };
        if SEAL_SECRET_VARS.contains(&var.as_str()) {
            continue;
        }
        let name = rest.to_ascii_lowercase();
        if name == "rotators" {
            out.push((
                var.clone(),
                Some("rotators".into()),
                "file".into(),
                value.clone(),
            ));
            continue;
        }
        if TOP_LEVEL.contains(&name.as_str()) {
            out.push((var.clone(), None, name, value.clone()));
            continue;
        }
        if let Some((section, key)) = SECTIONS.iter().find_map(|s| {
            name.strip_prefix(s)
                .and_then(|k| k.strip_prefix('_'))
                .map(|k| (*s, k))
        }) {
            if key.is_empty() {
                return Err(ConfigError(format!(
                    "environment variable {var}: no key after the section"
                )));
            }
            out.push((
                var.clone(),
                Some(section.to_string()),
                key.to_string(),
                value.clone(),
            ));
        }
    }
    Ok(out)
}

/// One line: `FILE:LINE: [section] key: message`.
fn file_error(name: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return ConfigError(format!("{name}: {message}"));
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    let section = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let what = match (section, key) {
        (Some(s), Some(k)) => format!(" key `{s}.{k}`:"),
        (None, Some(k)) => format!(" key `{k}`:"),
        _ => String::new(),
    };
    ConfigError(format!("{name}:{line_no}:{what} {message}"))
}

/// Deserializers that take a value in its TOML type or as a string (the environment's).
mod de {
    use super::*;
    use serde::de::{Error, Unexpected, Visitor};
    use std::fmt;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Int(i64),
        Str(String),
    }

    fn raw<'de, D: Deserializer<'de>>(d: D, expected: &'static str) -> Result<Raw, D::Error> {
        struct V(&'static str);
        impl Visitor<'_> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<Raw, E> {
                i64::try_from(v)
                    .map(Raw::Int)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_string()))
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<Raw, E> {
                Err(E::invalid_type(Unexpected::Float(v), &self))
            }
        }
        d.deserialize_any(V(expected))
    }

    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        const E: &str = "a boolean (true or false)";
        match raw(d, E)? {
            Raw::Bool(b) => Ok(b),
            Raw::Str(s) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
            Raw::Str(s) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(false),
            Raw::Str(s) => Err(D::Error::invalid_value(Unexpected::Str(&s), &E)),
            Raw::Int(i) => Err(D::Error::invalid_type(Unexpected::Signed(i), &E)),
        }
    }

    pub fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        flag(d).map(Some)
    }

    pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        const E: &str = "a whole number";
        let n = match raw(d, E)? {
            Raw::Int(i) => i,
            Raw::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| D::Error::invalid_value(Unexpected::Str(&s), &E))?,
            Raw::Bool(b) => return Err(D::Error::invalid_type(Unexpected::Bool(b), &E)),
        };
        usize::try_from(n).map_err(|_| D::Error::invalid_value(Unexpected::Signed(n), &E))
    }

    /// `worker_threads`: a count from 1 to 1024, or 0 for one per core.
    pub fn worker_threads<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        const E: &str = "a number of threads from 1 to 1024 (0: one per core)";
        match count(d)? {
            0 => Ok(None),
            n @ 1..=1024 => Ok(Some(n)),
            n => Err(D::Error::invalid_value(
                Unexpected::Unsigned(u64::try_from(n).unwrap_or(u64::MAX)),
                &E,
            )),
        }
    }

    pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        const E: &str = "a duration (\"30s\", \"500ms\", \"2m\", or whole seconds)";
        match raw(d, E)? {
            Raw::Int(i) => u64::try_from(i)
                .map(Duration::from_secs)
                .map_err(|_| D::Error::invalid_value(Unexpected::Signed(i), &E)),
            Raw::Str(s) => match s.trim().parse::<u64>() {
                Ok(n) => Ok(Duration::from_secs(n)),
                Err(_) => humantime::parse_duration(s.trim())
                    .map_err(|_| D::Error::invalid_value(Unexpected::Str(&s), &E)),
            },
            Raw::Bool(b) => Err(D::Error::invalid_type(Unexpected::Bool(b), &E)),
        }
    }

    fn string<'de, D: Deserializer<'de>>(d: D, e: &'static str) -> Result<String, D::Error> {
        match raw(d, e)? {
            Raw::Str(s) => Ok(s),
            Raw::Int(i) => Err(D::Error::invalid_type(Unexpected::Signed(i), &e)),
            Raw::Bool(b) => Err(D::Error::invalid_type(Unexpected::Bool(b), &e)),
        }
    }

    pub fn addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        const E: &str = "an address such as \"127.0.0.1:4566\" or \"[::]:4566\"";
        let s = string(d, E)?;
        s.trim()
            .parse()
            .map_err(|_| D::Error::invalid_value(Unexpected::Str(&s), &E))
    }

    pub fn opt_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        const E: &str = "an address such as \"127.0.0.1:9464\"";
        let s = string(d, E)?;
        if s.trim().is_empty() {
            return Ok(None);
        }
        s.trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::invalid_value(Unexpected::Str(&s), &E))
    }

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let s = string(d, "a string")?;
        Ok((!s.is_empty()).then_some(s))
    }

    pub fn opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        count(d).map(Some)
    }

    pub fn seal_kind<'de, D: Deserializer<'de>>(d: D) -> Result<coffer_seal::SealKind, D::Error> {
        const E: &str = "one of \"file\", \"passphrase\", \"pkcs11\", \"kms\"";
        let s = string(d, E)?;
        coffer_seal::SealKind::parse(s.trim())
            .ok_or_else(|| D::Error::invalid_value(Unexpected::Str(&s), &E))
    }

    pub fn opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        let s = string(d, "a file path")?;
        Ok((!s.is_empty()).then(|| PathBuf::from(s)))
    }

    /// A list of region names, or (from the environment) one string of them, comma-separated.
    pub fn regions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum List {
            Many(Vec<String>),
            One(String),
        }
        let list = List::deserialize(d).map_err(|_| {
            D::Error::custom("expected a list of region names such as [\"eu-central-1\"]")
        })?;
        Ok(match list {
            List::Many(v) => v,
            List::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    pub fn account<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        const E: &str = "a 12-digit account ID (as a string)";
        let s = string(d, E)?;
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(s)
        } else {
            Err(D::Error::invalid_value(Unexpected::Str(&s), &E))
        }
    }
}

/// `coffer config example`: every key with its default, commented.
pub const EXAMPLE: &str = include_str!("coffer.example.toml");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_is_default() {
        assert_eq!(Config::from_toml("f", "").unwrap(), Config::default());
    }

    #[test]
    fn example_is_the_defaults() {
        let c = Config::from_toml("example", EXAMPLE).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn example_commented_keys_are_valid() {
        Config::from_toml("example", &uncommented()).unwrap();
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = Config::from_toml("c.toml", "dev = true\n\n[tls]\ncert_fle = \"x\"\n").unwrap_err();
        assert!(e.0.starts_with("c.toml:4: key `tls.cert_fle`:"), "{e}");
        assert!(e.0.contains("unknown field"), "{e}");
        assert!(!e.0.contains('\n'));
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let e = Config::from_toml("c.toml", "# x\n[limits]\nmax_connections = true\n").unwrap_err();
        assert!(
            e.0.starts_with("c.toml:3: key `limits.max_connections`:"),
            "{e}"
        );
        let e = Config::from_toml("c.toml", "dev = \"yes\"\n").unwrap_err();
        assert!(e.0.starts_with("c.toml:1: key `dev`:"), "{e}");
    }

    #[test]
    fn precedence_env_flag_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "listen = \"127.0.0.1:1000\"\ndata_dir = \"from-file\"\n[scheduler]\ninterval = \"5m\"\n",
        )
        .unwrap();
        let e = env(&[
            ("COFFER_LISTEN", "127.0.0.1:2000"),
            ("COFFER_DATA_DIR", "from-env"),
            ("COFFER_LIMITS_MAX_CONNECTIONS", "7"),
            ("COFFER_TEST_BIN", "/ignored"),
        ]);
        let flags = Flags {
            listen: Some("127.0.0.1:3000".parse().unwrap()),
            scheduler_interval: Some(60),
            dev_account: Some("333333333333".into()),
            ..Flags::default()
        };
        let c = Config::load(Some(&f), &e, &flags).unwrap();
        assert_eq!(
            c.dev_account, "333333333333",
            "a flag where the environment is silent"
        );
        assert_eq!(c.listen.port(), 2000, "the environment beats a flag");
        assert_eq!(c.data_dir, PathBuf::from("from-env"), "env beats the file");
        assert_eq!(
            c.scheduler.interval,
            Duration::from_secs(60),
            "a flag beats the file"
        );
        assert_eq!(c.limits.max_connections, 7);
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = Config::load(
            None,
            &env(&[("COFFER_TLS_CERTFILE", "x")]),
            &Flags::default(),
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("environment variable COFFER_TLS_CERTFILE:"),
            "{e}"
        );
        let e =
            Config::load(None, &env(&[("COFFER_DEV", "maybe")]), &Flags::default()).unwrap_err();
        assert!(e.0.starts_with("environment variable COFFER_DEV:"), "{e}");
    }

    #[test]
    fn plaintext_on_public_address_refused() {
        let c = Config {
            listen: "0.0.0.0:4566".parse().unwrap(),
            ..Config::default()
        };
        let e = c.check().unwrap_err();
        assert!(e.0.contains("allow_plaintext"), "{e}");
        let ok = Config {
            allow_plaintext: true,
            ..c.clone()
        };
        ok.check().unwrap();
        let dev = Config { dev: true, ..c };
        dev.check().unwrap();
    }

    #[test]
    fn missing_file() {
        let e = Config::load(
            Some(Path::new("/nonexistent/coffer.toml")),
            &[],
            &Flags::default(),
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("cannot read config file /nonexistent/coffer.toml"),
            "{e}"
        );
    }

    #[test]
    fn inline_rotators() {
        let c = Config::from_toml(
            "c",
            "[[rotators.rotator]]\nkind = \"random-password\"\narn = \"arn:aws:lambda:us-east-1:000000000000:function:r\"\n",
        )
        .unwrap();
        assert_eq!(c.rotators.rotator.len(), 1);
    }

    #[test]
    fn backup_checks() {
        let e = Config::load(
            None,
            &env(&[("COFFER_BACKUP_INTERVAL", "1h")]),
            &Flags::default(),
        )
        .unwrap_err();
        assert_eq!(e.0, "[backup] interval is set but dir is not");
        let e = Config::from_toml(
            "c",
            "data_dir = \"/var/lib/coffer\"\n[backup]\ninterval = \"1h\"\ndir = \"/var/lib/coffer/b\"\n",
        )
        .unwrap()
        .check()
        .unwrap_err();
        assert!(e.0.contains("inside data_dir"), "{e}");
        let c = Config::load(
            None,
            &env(&[
                ("COFFER_BACKUP_INTERVAL", "30m"),
                ("COFFER_BACKUP_DIR", "/var/backups/coffer"),
                ("COFFER_BACKUP_KEEP", "3"),
            ]),
            &Flags::default(),
        )
        .unwrap();
        assert_eq!(c.backup.interval, Duration::from_secs(1800));
        assert_eq!(c.backup.keep, 3);
        let e = Config::load(
            None,
            &env(&[("COFFER_BACKUP_KEEP", "0")]),
            &Flags::default(),
        )
        .unwrap_err();
        assert_eq!(e.0, "[backup] keep must be at least 1");
    }

    #[test]
    fn federation_checks() {
        let check = |text: &str| Config::from_toml("c", text).unwrap().check().map(|_| ());
        let files = "ca_file = \"ca.pem\"\ncert_file = \"n.pem\"\nkey_file = \"k.pem\"\n";
        check("").unwrap();
        check(&format!(
            "[federation]\nregions = [\"eu-central-1\"]\nforward = true\n{files}\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"https://w:8443\"\n"
        ))
        .unwrap();
        let e = check("[federation]\nregions = [\"europe\"]\n").unwrap_err();
        assert!(
            e.0.starts_with("[federation] regions: \"europe\" is not a region"),
            "{e}"
        );
        let e = check(&format!(
            "[federation]\nregions = [\"eu-central-1\"]\n{files}\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"https://w\"\n\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"https://x\"\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.0,
            "[[federation.peers]] 2 regions: region eu-west-1 is owned twice, by \
             [[federation.peers]] 1 and by [[federation.peers]] 2"
        );
        let e = check(&format!(
            "[federation]\nregions = [\"eu-central-1\"]\n{files}\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"http://w\"\n"
        ))
        .unwrap_err();
        assert!(
            e.0.contains("[[federation.peers]] 1: url \"http://w\" must be https://"),
            "{e}"
        );
        let e = check("[federation]\nregions = [\"eu-central-1\"]\nforward = true\n").unwrap_err();
        assert!(e.0.starts_with("[federation] forward = true needs"), "{e}");
        let e = check(
            "[federation]\nregions = [\"eu-central-1\"]\n\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"https://w\"\n",
        )
        .unwrap_err();
        assert!(e.0.starts_with("[federation] ca_file is required"), "{e}");
        let c = Config::load(
            None,
            &env(&[("COFFER_FEDERATION_REGIONS", "eu-central-1, eu-north-1")]),
            &Flags::default(),
        )
        .unwrap();
        assert_eq!(c.federation.regions, ["eu-central-1", "eu-north-1"]);
    }

    /// The example with every `# key = value` line uncommented.
    fn uncommented() -> String {
        EXAMPLE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn docs_list_every_key() {
        let docs = include_str!("../../../docs/configuration.md");
        let mut section: Option<String> = None;
        for line in uncommented().lines() {
            if line.starts_with('[') && !line.starts_with("[[") {
                let name = line.trim_matches(|c| c == '[' || c == ']').to_string();
                assert!(docs.contains(&format!("`[{name}]`")), "docs miss [{name}]");
                section = Some(name);
                continue;
            }
            let Some((k, _)) = line.split_once(" = ") else {
                continue;
            };
            if k.starts_with('#') || k.contains(' ') {
                continue;
            }
            let full = match &section {
                Some(s) => format!("`{s}.{k}`"),
                None => format!("`{k}`"),
            };
            assert!(
                docs.contains(&full),
                "docs/configuration.md does not list {full}"
            );
        }
    }
}
