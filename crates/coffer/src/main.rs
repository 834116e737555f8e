//! `coffer`: a self-hosted server that speaks the AWS KMS, Secrets Manager, IAM and STS APIs.
#![forbid(unsafe_code)]

mod backup;
mod client;
mod migrate;
mod state;

use coffer::{config, seed};

/// mimalloc instead of glibc's allocator: a request allocates and frees many small buffers
/// across worker threads, where glibc's malloc/free cost about 15% of the CPU of an Encrypt under
/// load (measured with `perf`); mimalloc's thread-local free lists take most of that away.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use coffer_core::SystemClock;
use coffer_crypto::RootKey;
use coffer_http::server::{Limits, Listener, Ops, SchedulerState};
use coffer_http::tls::{TlsFiles, TlsState};
use coffer_http::App;
use coffer_http::Coffer;
use coffer_store::{SqliteStore, Store as _};
use config::{Config, Flags, LogFormat};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The git commit of this build (`COFFER_GIT_COMMIT` at compile time), else `unknown`.
const COMMIT: &str = match option_env!("COFFER_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "AWS-compatible KMS, Secrets Manager, IAM and STS, self-hosted",
    long_about = "Coffer speaks the AWS KMS, Secrets Manager, IAM and STS APIs, so the AWS CLI, \
                  the SDKs and Terraform work against it unchanged.\n\n\
                  First time? `coffer operator init --data-dir /var/lib/coffer` creates the data \
                  directory and prints the root credentials once; `coffer config example > \
                  coffer.toml` writes a commented configuration; `coffer serve --config \
                  coffer.toml` runs the server. For a quick local try: `coffer serve --dev`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Check a configuration file, or print an example one.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the version and build of this binary.
    Version,
    /// Ask a running server how it is (a SigV4-signed call by an account's root user).
    Status(StatusArgs),
    /// Exit 0 when a server answers its readiness probe (for container health checks).
    Health(HealthArgs),
    /// Set up a data directory.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a backup file of a data directory, also while a server serves it and takes writes
    /// (one consistent snapshot, still encrypted; the root key is not included by default).
    Backup(backup::BackupArgs),
    /// Work with the store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Restore a backup file into a new data directory (checked first; nothing is written
    /// when it is refused).
    Restore(backup::RestoreArgs),
    /// Export or import the whole state as one passphrase-encrypted file (for CI: prepare a
    /// state once, load it in every job).
    #[command(subcommand)]
    State(state::StateCommand),
    /// Work with seed files (applied at start by `coffer serve --seed FILE`).
    #[command(subcommand)]
    Seed(SeedCommand),
}

#[derive(Subcommand)]
enum SeedCommand {
    /// Validate a seed file without starting anything: parsed, checked, and applied to a
    /// scratch in-memory deployment so that every service's own checks run.
    Check {
        /// The seed file (YAML, or JSON if the name ends in `.json`).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Write a running server's state as a seed file on stdout (customer managed keys with
    /// their IDs but never their material, aliases, secrets without values unless asked), to
    /// capture a hand-made setup. A SigV4-signed call by an account's root user.
    Export {
        /// The server, e.g. http://127.0.0.1:4566.
        #[arg(long, value_name = "URL")]
        endpoint: String,
        /// Include every secret's current value (the output is then a secret).
        #[arg(long)]
        with_values: bool,
        #[command(flatten)]
        caller: RemoteCaller,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check an audit trail: exit 0 only for an intact trail that ends with a `close`
    /// checkpoint; 1 when a record was deleted, altered, inserted or reordered (the first bad
    /// record is named); 2 when it cannot be checked (unreadable file, wrong key); 3 when it is
    /// sound so far but has no `close` checkpoint at the end (a running or crashed server).
    Verify {
        /// The trail's segment files, in order (a shell glob such as `audit/trail.*.jsonl`).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The data directory whose root key the trail's checkpoints were made under [key:
        /// data_dir; default coffer-data].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The configuration file (for data_dir).
        #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
        config: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Accept a trail whose first segments were deleted (by retention or by hand).
        #[arg(long)]
        allow_partial_start: bool,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy every record from one store to an empty other (a data directory's SQLite
    /// database, a postgres:// URL; either way), still encrypted, and check the copy. Neither
    /// may be served meanwhile.
    Migrate(migrate::MigrateArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file (and the certificate and rotator files it names) without
    /// starting anything; COFFER_* environment variables are applied as `serve` would.
    Check {
        /// The file to check.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print a fully commented configuration with every key and its default.
    Example,
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create the data directory, the root key and the account's root credentials without
    /// serving, and print the credentials once (they are not written to a file). Refuses a
    /// directory that is already initialised.
    Init {
        /// The data directory to create (it may exist if empty of Coffer files).
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The 12-digit account ID of the root user (default: a random one).
        #[arg(long, value_parser = parse_account)]
        account: Option<String>,
        /// The configuration file, for its `[seal]` (default: the `file` seal).
        #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Rotate the root key: a new root-key generation wraps every record, the old one is
    /// retired once nothing needs it. Offline on a stopped server's data directory (`--data-dir`,
    /// `--config`), or while serving through a running server (`--endpoint`, signed by an
    /// account's root user). A crash midway is finished at the next start.
    Rekey(RekeyArgs),
    /// Move a data directory's root key to another seal (`file`, `passphrase`, `pkcs11`,
    /// `kms`) without changing it or any record. The current seal is the configuration's
    /// `[seal] kind`; the new one's settings are the same section's keys. A crash midway leaves
    /// the old seal working. Stop the server first.
    SealMigrate {
        /// The seal to move to.
        #[arg(long, value_name = "KIND", value_parser = parse_seal_kind)]
        to: coffer_seal::SealKind,
        /// The data directory [key: data_dir].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The configuration file (`[seal]` and data_dir).
        #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Args)]
struct RekeyArgs {
    /// The data directory (offline) [key: data_dir].
    #[arg(long, value_name = "DIR", conflicts_with = "endpoint")]
    data_dir: Option<PathBuf>,
    /// The configuration file (`[seal]` and data_dir).
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    config: Option<PathBuf>,
    /// A running server to rotate, e.g. https://coffer.example.com:4566.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// How to call the server (with --endpoint; an account's root user).
    #[command(flatten)]
    caller: RemoteCaller,
}

fn parse_seal_kind(s: &str) -> Result<coffer_seal::SealKind, String> {
    coffer_seal::SealKind::parse(s)
        .ok_or_else(|| "one of file, passphrase, pkcs11, kms".to_string())
}

#[derive(Args)]
struct ServeArgs {
    /// The configuration file (TOML); `coffer config example` prints one. Also `COFFER_CONFIG`.
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port) [key: listen; default 127.0.0.1:4566].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory holding the database, the root key and the root credentials [key: data_dir;
    /// default coffer-data]. `:memory:` (with --dev only): no disk at all, nothing survives.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Local-testing mode: any well-formed credentials are accepted and the reset endpoints
    /// work [key: dev].
    #[arg(long)]
    dev: bool,
    /// The account of `--dev` callers whose access key ID is not 12 digits [key: dev_account].
    #[arg(long, value_parser = parse_account)]
    dev_account: Option<String>,
    /// How often due work (deletions at the end of their window, rotations) is checked, in
    /// seconds [key: scheduler.interval; default 30].
    #[arg(long)]
    scheduler_interval: Option<u64>,
    /// Rotators standing in for rotation Lambda functions, by RotationLambdaARN (TOML, or JSON
    /// if the name ends in `.json`) [key: rotators.file].
    #[arg(long)]
    rotators: Option<PathBuf>,
    /// A seed file applied at start, idempotently: KMS keys (fixed IDs, imported material),
    /// aliases, secrets, IAM roles and policies (YAML, or JSON if the name ends in `.json`)
    /// [key: seed.file].
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
}

/// How an operator command calls a running server: whose credentials, which CAs.
#[derive(Args)]
struct RemoteCaller {
    /// Credentials file (AWS shared-credentials format), e.g. coffer-data/root-credentials.
    /// Default: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then ~/.aws/credentials.
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    /// Profile in the credentials file (default: AWS_PROFILE, else `default`).
    #[arg(long)]
    profile: Option<String>,
    /// PEM CA certificates to trust for https:// (default: AWS_CA_BUNDLE, else the system's).
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
}

impl RemoteCaller {
    fn credentials(&self) -> anyhow::Result<client::Credentials> {
        client::credentials(self.credentials_file.as_deref(), self.profile.as_deref())
    }
}

#[derive(Args)]
struct StatusArgs {
    /// The server, e.g. https://coffer.example.com:4566.
    #[arg(long, value_name = "URL")]
    endpoint: String,
    #[command(flatten)]
    caller: RemoteCaller,
    /// Print the server's JSON answer as it is.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct HealthArgs {
    /// The server (API or metrics listener).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:4566")]
    endpoint: String,
    /// PEM CA certificates to trust for https://.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
}

fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err("an account ID is 12 digits".into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Audit(AuditCommand::Verify {
            files,
            data_dir,
            config,
            json,
            allow_partial_start,
        }) => {
            return match audit_key(config.as_deref(), data_dir) {
                Ok(key) => coffer_audit::cli::verify_command_with(
                    &files,
                    &[key],
                    json,
                    coffer_audit::VerifyOptions {
                        allow_partial_start,
                    },
                ),
                Err(e) => {
                    eprintln!("coffer: error: {}", format!("{e:#}").replace('\n', " "));
                    ExitCode::from(2)
                }
            };
        }
        Command::Serve(args) => serve_config(args).and_then(|config| {
            let rt = serve_runtime(&config)?;
            let r = rt.block_on(serve(config));
            rt.shutdown_timeout(Duration::from_secs(2));
            r
        }),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        Command::Config(ConfigCommand::Check { config }) => config_check(&config),
        Command::Version => {
            println!(
                "coffer {VERSION} (commit {COMMIT}, {}-{})",
                std::env::consts::ARCH,
                std::env::consts::OS
            );
            Ok(())
        }
        Command::Status(args) => runtime().and_then(|rt| rt.block_on(status(args))),
        Command::Health(args) => runtime().and_then(|rt| rt.block_on(health(args))),
        Command::Operator(OperatorCommand::Init {
            data_dir,
            account,
            config,
        }) => operator_config(config.as_deref(), Some(data_dir))
            .and_then(|c| operator_init(&c, account.as_deref())),
        Command::Operator(OperatorCommand::SealMigrate {
            to,
            data_dir,
            config,
        }) => operator_config(config.as_deref(), data_dir).and_then(|c| {
            let _lock = lock_data_dir(&c.data_dir)?;
            seal_migrate(&c, to)
        }),
        Command::Operator(OperatorCommand::Rekey(args)) => operator_rekey(args),
        Command::Backup(args) => backup::backup_command(&args, &env_vars()),
        Command::Restore(args) => backup::restore_command(&args, &env_vars()),
        Command::Store(StoreCommand::Migrate(args)) => migrate::migrate_command(&args, &env_vars()),
        Command::State(command) => state::state_command(&command),
        Command::Seed(SeedCommand::Check { file }) => seed::check_command(&file, "000000000000"),
        Command::Seed(SeedCommand::Export {
            endpoint,
            with_values,
            caller,
        }) => runtime().and_then(|rt| rt.block_on(seed_export(&endpoint, with_values, &caller))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("coffer: error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// The runtime `coffer serve` runs on: `worker_threads` of them (default: one per core).
fn serve_runtime(config: &Config) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match config.worker_threads {
        // One thread: the current-thread scheduler, with no cross-thread wake-ups at all
        // (blocking work still goes to the blocking pool).
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    Ok(builder.enable_all().build()?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("COFFER_"))
        .collect()
}

fn config_check(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(Some(path), &env_vars(), &Flags::default())?;
    if let Some(files) = tls_files(&config) {
        coffer_http::tls::load(&files)?;
    }
    config.federation.load()?;
    rotators(&config)?;
    if let Some(f) = &config.seed.file {
        seed::Loaded::read(f)?;
    }
    println!(
        "{}: OK (listen {}{}, data_dir {}, store {})",
        path.display(),
        if config.tls_enabled() {
            "https://"
        } else {
            "http://"
        },
        config.listen,
        config.data_dir.display(),
        config.store.kind.as_str()
    );
    Ok(())
}

fn tls_files(config: &Config) -> Option<TlsFiles> {
    Some(TlsFiles {
        cert_file: config.tls.cert_file.clone()?,
        key_file: config.tls.key_file.clone()?,
        client_ca_file: config.tls.client_ca_file.clone(),
        peer_ca_file: config
            .federation
            .on()
            .then(|| config.federation.ca_file.clone())
            .flatten(),
    })
}

/// The rotators of the file and of `[[rotators.rotator]]` together.
fn rotators(config: &Config) -> anyhow::Result<Option<coffer_secrets::RotatorsConfig>> {
    let mut all = match &config.rotators.file {
        Some(path) => coffer_secrets::RotatorsConfig::load(path)?,
        None if config.rotators.rotator.is_empty() => return Ok(None),
        None => coffer_secrets::RotatorsConfig::default(),
    };
    all.rotators.extend(config.rotators.rotator.iter().cloned());
    Ok(Some(all))
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("securing {}", dir.display()))?;
    }
    Ok(())
}

/// Writes `<data-dir>/root-credentials` (mode 0600) in AWS shared-credentials format.
fn write_credentials(path: &Path, access_key_id: &str, secret: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let tmp = path.with_extension("tmp");
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    let content = zeroize::Zeroizing::new(format!(
        "[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}\n"
    ));
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The audit trail's checkpoint key, derived from the root key.
fn audit_key_of(root: &RootKey) -> coffer_audit::AuditKey {
    coffer_audit::AuditKey::new(root.fingerprint("audit/checkpoint", b"v1"))
}

/// The checkpoint key of the data directory that `--data-dir` / the configuration names; the
/// root key is read, never created.
fn audit_key(
    config: Option<&Path>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<coffer_audit::AuditKey> {
    let flags = Flags {
        data_dir,
        ..Flags::default()
    };
    let config = Config::load(config, &env_vars(), &flags)?;
    let (root, _) = open_root(&config, false).context(
        "the trail's checkpoint key comes from the root key: give the data directory (--data-dir) \
         and the seal (--config) the trail was written with",
    )?;
    Ok(audit_key_of(&root))
}

/// Opens the audit trail the configuration asks for (`None`: off).
fn open_audit(
    config: &Config,
    root: &RootKey,
) -> anyhow::Result<Option<Arc<coffer_audit::AuditLog>>> {
    let Some(audit) = config.audit_config() else {
        return Ok(None);
    };
    if let Some(dir) = audit
        .file
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
    {
        private_dir(dir).context("the audit trail's directory")?;
    }
    let what = audit
        .file
        .as_ref()
        .map_or_else(|| "stdout".to_string(), |f| f.display().to_string());
    let (fail_closed, fsync) = (audit.fail_closed, audit.fsync);
    let log = coffer_audit::AuditLog::open(audit, audit_key_of(root))
        .with_context(|| format!("opening the audit trail {what}"))?;
    tracing::info!(trail = %what, fail_closed, fsync = ?fsync, "audit trail");
    Ok(Some(Arc::new(log)))
}

/// Files whose presence means a data directory is initialised.
const DATA_FILES: &[&str] = &[
    coffer_seal::PLAIN_FILE,
    coffer_seal::SEALED_FILE,
    "coffer.db",
    "root-credentials",
];

/// The configured seal with its secrets; a passphrase is asked for on a terminal when none is
/// given.
fn seal_config(config: &Config) -> anyhow::Result<coffer_seal::SealConfig> {
    let mut env = env_vars();
    env.extend(std::env::vars().filter(|(k, _)| k.starts_with("AWS_")));
    let prompt = || -> Option<zeroize::Zeroizing<String>> {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return None;
        }
        rpassword::prompt_password("Coffer seal passphrase: ")
            .ok()
            .map(zeroize::Zeroizing::new)
    };
    Ok(config.seal.provider(&env, Some(&prompt))?)
}

/// Unseals the data directory's root key with the configured seal; with `create`, a directory
/// with no root key and no database gets a new one (the first run). Returns whether it was
/// created. A database without its root key is refused: a new key would open nothing in it.
fn open_root(config: &Config, create: bool) -> anyhow::Result<(RootKey, bool)> {
    let dir = &config.data_dir;
    let seal = seal_config(config)?;
    let disk = coffer_seal::on_disk(dir)?;
    if disk.is_empty() {
        if dir.join("coffer.db").exists() {
            bail!(
                "{} holds a database but no root key ({} or {}): restore the root key from its \
                 backup; a new one would open nothing stored",
                dir.display(),
                coffer_seal::PLAIN_FILE,
                coffer_seal::SEALED_FILE
            );
        }
        if !create {
            bail!("no root key in {}", dir.display());
        }
        let root = coffer_seal::create(dir, &seal)?;
        return Ok((root, true));
    }
    let root = coffer_seal::open(dir, &seal)?;
    if coffer_seal::plaintext_leftover(dir, &seal) {
        tracing::warn!(
            path = %dir.join(coffer_seal::PLAIN_FILE).display(),
            "a plaintext root key remains beside the {} seal (an interrupted seal-migrate?): \
             whoever reads it has every secret; delete it",
            seal.kind
        );
    }
    Ok((root, false))
}

fn open_store(config: &Config) -> anyhow::Result<(Arc<Coffer>, bool, RootKey)> {
    let data_dir = &config.data_dir;
    private_dir(data_dir)?;
    // The database is claimed before a root key may be created for it.
    let pg = match config.store.kind {
        config::StoreKind::Postgres => Some(open_postgres(config)?),
        config::StoreKind::Sqlite => None,
    };
    let (root, created) = open_root(config, true)?;
    let mut starting = None;
    let backend: Arc<dyn coffer_store::Store> = match pg {
        None => Arc::new(SqliteStore::open(&data_dir.join("coffer.db"))?),
        Some(pg) => {
            let pg = Arc::new(pg);
            starting = Some(pg.clone());
            // A new root key over a database that holds data would open nothing in it.
            if created && !pg.scan("iam_access_key")?.is_empty() {
                for f in [coffer_seal::PLAIN_FILE, coffer_seal::SEALED_FILE] {
                    let _ = std::fs::remove_file(data_dir.join(f));
                }
                bail!(
                    "the PostgreSQL schema {} holds data written under another root key, and {} \
                     has none: give this node the data directory (its root key) the data was \
                     written with",
                    config.store.schema,
                    data_dir.display()
                );
            }
            pg
        }
    };
    let store = Arc::new(coffer_http::metrics::MeteredStore(backend));
    let coffer = match &starting {
        None => Coffer::open(store, root.clone(), Arc::new(SystemClock))?,
        // Several nodes share one PostgreSQL database (ADR 0004, "Several nodes").
        Some(_) => Coffer::open_shared(
            Arc::new(coffer_store::EpochStore::new(
                store,
                coffer_http::follow::DOMAINS,
            )),
            root.clone(),
            Arc::new(SystemClock),
            config.store.consistency,
        )?,
    };
    let coffer = Arc::new(coffer);
    if let Some(pg) = starting {
        // Loaded: the next node may start.
        pg.release_exclusive();
    }
    if root.generations().len() > 1 {
        // A rekey was under way when the last process stopped: finish it before serving.
        tracing::info!(generations = ?root.generations(), "finishing the root-key rotation begun earlier");
        let persist = persist_keyring(config)?;
        let report = coffer
            .finish_rekey(persist.as_ref())
            .context("finishing the root-key rotation (every generation is kept)")?;
        tracing::info!(generation = report.generation, retired = ?report.retired, rewrapped = report.rewrapped, "root-key rotation finished");
    }
    Ok((coffer, created, root))
}

/// `data_dir = ":memory:"` (`--dev` only): an in-memory store and a root key that never
/// leaves the process.
fn open_memory() -> anyhow::Result<(Arc<Coffer>, RootKey)> {
    let root = RootKey::generate().context("generating the in-memory root key")?;
    let backend: Arc<dyn coffer_store::Store> = Arc::new(coffer_store::MemoryStore::new());
    let store = Arc::new(coffer_http::metrics::MeteredStore(backend));
    let coffer = Arc::new(Coffer::open(store, root.clone(), Arc::new(SystemClock))?);
    Ok((coffer, root))
}

/// How long a starting node waits for the others to finish starting.
const START_CLAIM_WAIT: Duration = Duration::from_secs(60);

/// The PostgreSQL store of `[store]`, claimed for this process while it starts: nodes of one
/// deployment start one after another, so that only the first of all may create the root key
/// and root credentials. The caller releases the claim once the services are loaded.
fn open_postgres(config: &Config) -> anyhow::Result<coffer_store::PostgresStore> {
    let pg = coffer_store::PostgresStore::open(config.store.postgres_options()?)
        .context("opening the PostgreSQL store")?;
    let waited = Instant::now();
    while !pg.claim_exclusive()? {
        if waited.elapsed() > START_CLAIM_WAIT {
            bail!(
                "another Coffer node has been starting on the PostgreSQL schema {} for over {}s \
                 (or a `coffer store migrate` holds it)",
                config.store.schema,
                START_CLAIM_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = pg.log_bounds();
    Ok(pg)
}

/// Writes the root keyring back through the configured seal (a rekey's two persists).
fn persist_keyring(config: &Config) -> anyhow::Result<Arc<coffer_http::services::PersistKeyring>> {
    if config.in_memory() {
        // Nothing is persisted: the keyring lives and dies with the process.
        return Ok(Arc::new(|_: &RootKey| Ok(())));
    }
    let dir = config.data_dir.clone();
    let seal = seal_config(config)?;
    Ok(Arc::new(move |root: &RootKey| {
        coffer_seal::write(&dir, root, &seal).map_err(|e| e.to_string())
    }))
}

/// `<data-dir>/coffer.lock`, held (an exclusive advisory lock) by the one process that owns the
/// directory: a server, or an offline `seal-migrate` or `rekey`.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    private_dir(dir)?;
    let path = dir.join("coffer.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is in use by another Coffer process (a running server?): stop it first, or \
             rotate the root key of a running server with `coffer operator rekey --endpoint URL`",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// `coffer operator rekey`: offline on a stopped server's directory, or through a running
/// server's admin endpoint.
fn operator_rekey(args: RekeyArgs) -> anyhow::Result<()> {
    if let Some(endpoint) = &args.endpoint {
        return runtime()?.block_on(async {
            let creds = args.caller.credentials()?;
            let url = format!("{}/_coffer/admin/rekey", endpoint.trim_end_matches('/'));
            let reply = client::post(
                &url,
                Some(&creds),
                args.caller.ca_bundle.as_deref(),
                Duration::from_secs(3600),
            )
            .await?;
            let v: serde_json::Value = serde_json::from_slice(&reply.body).with_context(|| {
                format!(
                    "{endpoint} answered HTTP {} with a body that is not JSON",
                    reply.status
                )
            })?;
            if reply.status != 200 {
                bail!(
                    "{endpoint} refused: HTTP {} {}: {}",
                    reply.status,
                    v["__type"].as_str().unwrap_or("?"),
                    v["message"].as_str().unwrap_or("")
                );
            }
            print_rekey(&v);
            Ok(())
        });
    }
    let config = operator_config(args.config.as_deref(), args.data_dir)?;
    if coffer_seal::on_disk(&config.data_dir)?.is_empty() {
        bail!("no root key in {}", config.data_dir.display());
    }
    let _lock = lock_data_dir(&config.data_dir)?;
    // A rotation that a crash interrupted is finished (by opening the store), not followed by
    // another one.
    let (root, _) = open_root(&config, false)?;
    let unfinished = root.generations().len() > 1;
    drop(root);
    let (coffer, _, root) = open_store(&config)?;
    if unfinished {
        println!(
            "finished the root-key rotation begun earlier: generation {} now wraps every record",
            root.generation()
        );
        return Ok(());
    }
    let persist = persist_keyring(&config)?;
    let report = coffer.rekey(persist.as_ref())?;
    print_rekey(&serde_json::to_value(&report)?);
    Ok(())
}

fn print_rekey(v: &serde_json::Value) {
    println!(
        "root key rotated: generation {} now wraps every record ({} rewritten); retired \
         generations {}",
        v["generation"], v["rewrapped"], v["retired"]
    );
}

/// `operator`'s configuration: the file (if any) with the environment, `--data-dir` over it.
fn operator_config(config: Option<&Path>, data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    let flags = Flags {
        data_dir,
        ..Flags::default()
    };
    Ok(Config::load(config, &env_vars(), &flags)?)
}

/// `coffer operator seal-migrate`: the same root key under another seal.
fn seal_migrate(config: &Config, to: coffer_seal::SealKind) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    if coffer_seal::on_disk(dir)?.is_empty() {
        bail!("no root key in {}: nothing to migrate", dir.display());
    }
    let seal = seal_config(config)?;
    let done = coffer_seal::migrate(dir, &seal, to)?;
    println!(
        "{}: the root key is now sealed with `{}` (was `{}`); no record was changed.\n\
         Set [seal] kind = \"{}\" in the configuration before the next start.",
        dir.display(),
        done.to,
        done.from,
        done.to
    );
    Ok(())
}

fn operator_init(config: &Config, account: Option<&str>) -> anyhow::Result<()> {
    let data_dir = &config.data_dir;
    if let Some(f) = DATA_FILES.iter().find(|f| data_dir.join(f).exists()) {
        bail!(
            "{} is already initialised (it holds {f}); nothing was changed",
            data_dir.display()
        );
    }
    if data_dir.exists() && !data_dir.is_dir() {
        bail!("{} exists and is not a directory", data_dir.display());
    }
    let (coffer, _, _) = open_store(config)?;
    let creds = coffer.identity.ensure_root_credentials(account)?;
    let keep = match config.seal.kind {
        coffer_seal::SealKind::File => format!(
            "Back up {}/{} apart from the database: without it nothing stored can be read.",
            data_dir.display(),
            coffer_seal::PLAIN_FILE
        ),
        kind => format!(
            "The root key is sealed with `{kind}` in {}/{}: back that file up with the database, \
             and keep what opens it (the passphrase, the HSM key, the KMS key) safe: without it \
             nothing stored can be read.",
            data_dir.display(),
            coffer_seal::SEALED_FILE
        ),
    };
    let dir = data_dir.display();
    let mut out = std::io::stdout().lock();
    let text = zeroize::Zeroizing::new(format!(
        "Coffer data directory initialised: {dir}\n\
         \n\
         Root credentials of account {account}. They are shown this once and are not written \
         to any file:\n\
         \n\
         [coffer]\n\
         aws_access_key_id = {ak}\n\
         aws_secret_access_key = {sk}\n\
         \n\
         Keep them in a password manager or an AWS credentials file (the lines above are a \
         profile). {keep}\n\
         \n\
         Start the server:  coffer serve --data-dir {dir}\n",
        account = creds.account_id,
        ak = creds.access_key_id,
        sk = creds.secret_access_key.as_str(),
    ));
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The process's signals: SIGTERM and SIGINT stop, SIGHUP reloads.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<(Signals, Option<tokio::signal::unix::Signal>)> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok((
            Signals {
                term: signal(SignalKind::terminate()).context("installing SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing SIGINT handler")?,
            },
            // Installed now so that a SIGHUP during start-up does not end the process.
            Some(signal(SignalKind::hangup()).context("installing SIGHUP handler")?),
        ))
    }

    /// The next stop signal's name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// `coffer serve`'s configuration: file, flags and environment.
fn serve_config(args: ServeArgs) -> anyhow::Result<Config> {
    let flags = Flags {
        listen: args.listen,
        data_dir: args.data_dir,
        dev: args.dev,
        dev_account: args.dev_account,
        scheduler_interval: args.scheduler_interval,
        rotators: args.rotators,
        seed: args.seed,
    };
    Ok(Config::load(args.config.as_deref(), &env_vars(), &flags)?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let (mut signals, hangup) = Signals::install()?;
    // Everything that can be checked is checked before the data directory is touched.
    init_logging(&config);
    let tls = match tls_files(&config) {
        Some(files) => Some(Arc::new(TlsState::new(files)?)),
        None => None,
    };
    let federation = config.federation.load()?.map(Arc::new);
    let rotators = rotators(&config)?;
    // The seed file is read and checked before the data directory is touched.
    let seed_file = config
        .seed
        .file
        .as_deref()
        .map(seed::Loaded::read)
        .transpose()?;
    let api_tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let metrics_tcp = match (config.metrics.enabled, config.metrics.listen) {
        (true, Some(addr)) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?,
        ),
        _ => None,
    };
    let metrics = if config.metrics.enabled {
        Some(coffer_http::metrics::install(
            &coffer_http::metrics::BuildInfo {
                version: VERSION,
                commit: COMMIT,
            },
        )?)
    } else {
        None
    };

    // The data directory: created, opened, loaded (off the runtime; a stop signal meanwhile
    // ends start-up with an error and nothing served).
    let data_dir = config.data_dir.clone();
    let (dev, dev_account) = (config.dev, config.dev_account.clone());
    let audit_cfg = config.clone();
    let open = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        if audit_cfg.in_memory() {
            let (coffer, root) = open_memory()?;
            let audit = open_audit(&audit_cfg, &root)?;
            tracing::warn!(
                "data_dir = {}: nothing is written to disk and nothing survives this process \
                 (every key, secret and role is gone when it stops); export what you need with \
                 POST /_coffer/state/export",
                config::MEMORY_DATA_DIR
            );
            if let Some(s) = &seed_file {
                seed::apply_at_start(&coffer, s, false)?;
            }
            let creds = coffer
                .identity
                .ensure_root_credentials(Some(dev_account.as_str()))?;
            tracing::info!(account = %creds.account_id, "root credentials (in memory only)");
            return Ok((coffer, audit, root, None));
        }
        let lock = lock_data_dir(&data_dir)?;
        let (coffer, created, root) = open_store(&audit_cfg)?;
        let audit = open_audit(&audit_cfg, &root)?;
        let seal = audit_cfg.seal.kind;
        if created {
            tracing::info!(seal = %seal, dir = %data_dir.display(), "created a new root key; back it up: without it nothing stored can be read");
        }
        if seal == coffer_seal::SealKind::File && !dev {
            tracing::warn!(
                path = %data_dir.join(coffer_seal::PLAIN_FILE).display(),
                "the root key is in a plaintext file: whoever copies the data directory has every \
                 secret; seal it ([seal] kind = \"passphrase\", \"pkcs11\" or \"kms\", then \
                 `coffer operator seal-migrate`)"
            );
        }
        // Seeded first: on a first start the seeded state is written in one transaction.
        if let Some(s) = &seed_file {
            seed::apply_at_start(&coffer, s, true)?;
        }
        let new_account = coffer.identity.root_credentials().is_none();
        let creds = coffer
            .identity
            .ensure_root_credentials(dev.then_some(dev_account.as_str()))?;
        let creds_path = data_dir.join("root-credentials");
        if new_account {
            write_credentials(&creds_path, &creds.access_key_id, &creds.secret_access_key)?;
            tracing::info!(account = %creds.account_id, path = %creds_path.display(), "root credentials written");
        } else {
            tracing::info!(account = %creds.account_id, "root credentials");
        }
        Ok((coffer, audit, root, Some(lock)))
    });
    let (coffer, audit, root, _lock) = tokio::select! {
        r = open => r.context("start-up task failed")??,
        s = signals.next() => bail!("{s} during start-up: stopped before serving"),
    };
    if let Some(r) = &rotators {
        tracing::info!(rotators = r.rotators.len(), "rotators");
        coffer.use_rotators(r);
    }
    let web_identity = config
        .web_identity
        .load()
        .map_err(|e| anyhow::anyhow!(e.0))?;
    coffer.set_web_identity(
        coffer_iam::web_identity::WebIdentity::new(&web_identity)
            .map_err(|e| anyhow::anyhow!("[web_identity] {e}"))?,
    );
    if config.dev {
        tracing::warn!(
            "dev mode: any well-formed credentials are accepted; do not expose this server"
        );
    }
    if !config.tls_enabled() && !config.listen.ip().is_loopback() {
        tracing::warn!(listen = %config.listen, "serving plain HTTP on a non-loopback address (allow_plaintext = true)");
    }

    if let Some(log) = &audit {
        coffer.set_service_events(Arc::new(coffer_http::AuditServiceEvents::new(
            log.clone(),
            coffer.clock.clone(),
        )));
    }
    let app = Arc::new(App {
        coffer: coffer.clone(),
        config: coffer_http::Config {
            dev: config.dev,
            dev_account: config.dev_account.clone(),
            max_body_bytes: config.limits.max_body_bytes,
            body_timeout: config.limits.read_timeout,
            check_responses: config.check_responses,
            federation,
        },
        audit: audit.clone(),
    });
    let stop = CancellationToken::new();
    let scheduler_state = Arc::new(SchedulerState::default());
    scheduler_state
        .interval_secs
        .store(config.scheduler.interval.as_secs(), Ordering::Relaxed);
    let ops = Arc::new(Ops {
        app,
        metrics: metrics.clone(),
        stopping: stop.clone(),
        started: Instant::now(),
        version: VERSION,
        commit: COMMIT,
        store_kind: if config.in_memory() {
            "memory"
        } else {
            config.store.kind.as_str()
        },
        tls: tls.is_some(),
        scheduler: scheduler_state.clone(),
        persist_keyring: Some(persist_keyring(&config)?),
        state: config.dev.then(state_hooks),
        seed_export: Some(Arc::new(|coffer: &Coffer, values: bool| {
            seed::export(coffer, values).map_err(|e| format!("{e:#}"))
        })),
    });
    let limits = Limits {
        max_header_bytes: config.limits.max_header_bytes,
        max_concurrent_requests: config.limits.max_concurrent_requests,
        max_connections: config.limits.max_connections,
        read_timeout: config.limits.read_timeout,
        idle_timeout: config.limits.idle_timeout,
        ..Limits::default()
    };
    let tracker = TaskTracker::new();
    let api_addr = api_tcp.local_addr()?;
    let api = Listener {
        tcp: api_tcp,
        tls: tls.clone(),
        router: console_router(
            coffer_http::server::api_router(
                ops.clone(),
                &limits,
                metrics.is_some() && metrics_tcp.is_none(),
            ),
            &config,
            &ops,
            &stop,
        ),
        limits: limits.clone(),
    };
    let mut listeners = vec![tokio::spawn(api.run(stop.clone(), tracker.clone()))];
    let metrics_addr = match metrics_tcp {
        Some(tcp) => {
            let addr = tcp.local_addr()?;
            let l = Listener {
                tcp,
                tls: None,
                router: coffer_http::server::metrics_router(ops.clone()),
                limits: limits.clone(),
            };
            listeners.push(tokio::spawn(l.run(stop.clone(), tracker.clone())));
            Some(addr)
        }
        None => None,
    };
    if let Some(m) = metrics.clone() {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => m.upkeep(),
                }
            }
        });
    }
    if let Some(tls) = &tls {
        if !config.tls.reload_interval.is_zero() {
            tokio::spawn(coffer_http::server::watch_certificates(
                tls.clone(),
                config.tls.reload_interval,
                stop.clone(),
            ));
        }
    }
    if let Some(mut hup) = hangup {
        let tls = tls.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match &tls {
                    Some(t) => coffer_http::server::reload_certificates(t, "SIGHUP"),
                    None => tracing::info!("SIGHUP: no TLS certificates to reload"),
                }
            }
        });
    }
    if coffer.is_shared() {
        // Other nodes' commits reach this node's memory (ADR 0004, "Several nodes").
        let (c, s) = (coffer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("coffer-follower".into())
            .spawn(move || c.follow(&|| s.is_cancelled()))
            .context("starting the change-log follower")?;
    }
    let scheduler = tokio::spawn(run_scheduler(
        coffer.clone(),
        config.scheduler.interval,
        stop.clone(),
        scheduler_state,
    ));

    if let Some(dir) = config
        .backup
        .dir
        .clone()
        .filter(|_| !config.backup.interval.is_zero())
    {
        let schedule = backup::Schedule {
            interval: config.backup.interval,
            dir,
            keep: config.backup.keep,
        };
        tokio::spawn(backup::run_scheduled(
            coffer.clone(),
            root.clone(),
            config.data_dir.clone(),
            schedule,
            stop.clone(),
        ));
    }
    drop(root);

    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("coffer listening on {scheme}://{api_addr}");
    if let Some(addr) = metrics_addr {
        println!("coffer metrics listening on http://{addr}");
    }
    std::io::stdout().flush()?;
    tracing::info!(listen = %api_addr, tls = tls.is_some(), metrics = ?metrics_addr, "serving");

    // Until SIGTERM or SIGINT; then stop accepting, drain, stop the scheduler, flush, close.
    let first = signals.next().await;
    let deadline = tokio::time::Instant::now() + config.shutdown_grace;
    tracing::info!(signal = first, grace = ?config.shutdown_grace, "shutting down: no new connections; finishing requests in flight");
    stop.cancel();
    tracker.close();
    for l in listeners {
        let _ = l.await;
    }
    tokio::select! {
        _ = tracker.wait() => {}
        _ = tokio::time::sleep_until(deadline) => {
            tracing::warn!("shutdown grace period over: closing the connections left");
        }
        s = signals.next() => second_signal(s),
    }
    tokio::select! {
        _ = scheduler => {}
        _ = tokio::time::sleep_until(deadline) => {
            tracing::warn!("shutdown grace period over: not waiting for the scheduler's step");
        }
        s = signals.next() => second_signal(s),
    }
    let c = coffer.clone();
    let flush = tokio::task::spawn_blocking(move || c.flush());
    tokio::select! {
        r = flush => match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "final flush failed"),
            Err(e) => tracing::error!(error = %e, "final flush task failed"),
        },
        s = signals.next() => second_signal(s),
    }
    if let Some(log) = audit {
        // The `close` checkpoint: `coffer audit verify` passes only for a trail that has it.
        let close = tokio::task::spawn_blocking(move || log.close());
        tokio::select! {
            r = close => match r {
                Ok(Ok(())) => tracing::info!("audit trail closed"),
                Ok(Err(e)) => tracing::error!(error = %e, "closing the audit trail failed"),
                Err(e) => tracing::error!(error = %e, "closing the audit trail: task failed"),
            },
            s = signals.next() => second_signal(s),
        }
    }
    drop(ops);
    drop(coffer);
    tracing::info!("stopped");
    Ok(())
}

/// `POST /_coffer/state/export|import` of a `--dev` server: the passphrase from the request's
/// header, else the server's `COFFER_STATE_PASSPHRASE`.
fn state_hooks() -> Arc<coffer_http::server::StateHooks> {
    use coffer_http::server::{StateFault, StatePassphrase};
    fn passphrase(given: StatePassphrase) -> Result<state::Passphrase, state::StateError> {
        match given {
            Some(p) => state::Passphrase::new(p),
            None => state::Passphrase::from_args(&state::PassphraseArgs::default()).map_err(|_| {
                state::StateError::NoPassphrase(format!(
                    "give it in the {} header, or start the server with {} set",
                    coffer_http::server::STATE_PASSPHRASE_HEADER,
                    state::PASSPHRASE_ENV
                ))
            }),
        }
    }
    fn fault(e: &state::StateError) -> StateFault {
        StateFault {
            code: e.code(),
            client: e.is_client(),
            message: e.to_string(),
        }
    }
    Arc::new(coffer_http::server::StateHooks {
        export: Box::new(|coffer, given| {
            let p = passphrase(given).map_err(|e| fault(&e))?;
            state::export_from(coffer, &p).map_err(|e| fault(&e))
        }),
        import: Box::new(|coffer, bytes, given| {
            let p = passphrase(given).map_err(|e| fault(&e))?;
            let m =
                state::import_into(coffer, bytes, "the state file", &p).map_err(|e| fault(&e))?;
            Ok(serde_json::json!({
                "status": "imported",
                "created": m.created,
                "cofferVersion": m.coffer_version,
                "counts": m.counts,
            }))
        }),
    })
}

fn second_signal(s: &str) -> ! {
    tracing::warn!(signal = s, "second signal: exiting at once");
    eprintln!("coffer: {s} again: exiting at once");
    std::process::exit(1)
}

async fn run_scheduler(
    coffer: Arc<Coffer>,
    interval: Duration,
    stop: CancellationToken,
    state: Arc<SchedulerState>,
) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = tokio::select! {
            _ = stop.cancelled() => return,
            t = tick.tick() => t,
        };
        let lag = due.elapsed();
        state.running.store(true, Ordering::Relaxed);
        let started = Instant::now();
        let (c, s) = (coffer.clone(), stop.clone());
        // With several nodes on one store, one of them at a time runs the scheduled work; the
        // others only write what they keep in memory. A dead holder's lease lapses after three
        // intervals.
        let lease = interval.max(Duration::from_secs(1)) * 3;
        let result = tokio::task::spawn_blocking(move || {
            if c.hold_scheduler_lease(lease)? {
                c.run_due_until(&|| s.is_cancelled())
            } else {
                c.flush().map(|()| 0)
            }
        })
        .await;
        let took = started.elapsed();
        let ok = matches!(result, Ok(Ok(_)));
        match result {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(deleted = n, "scheduled deletions done"),
            Ok(Err(e)) => tracing::error!(error = %e, "scheduled work failed"),
            Err(e) => tracing::error!(error = %e, "scheduler task failed"),
        }
        coffer_http::metrics::record_scheduler_run(lag, took, ok);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        state.last_lag_ms.store(ms(lag), Ordering::Relaxed);
        state.last_duration_ms.store(ms(took), Ordering::Relaxed);
        state.last_failed.store(!ok, Ordering::Relaxed);
        state.runs.fetch_add(1, Ordering::Relaxed);
        state.last_run_ms.store(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
            Ordering::Relaxed,
        );
        state.running.store(false, Ordering::Relaxed);
    }
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let creds = args.caller.credentials()?;
    let url = format!(
        "{}/_coffer/admin/status",
        args.endpoint.trim_end_matches('/')
    );
    let reply = client::get(
        &url,
        Some(&creds),
        args.caller.ca_bundle.as_deref(),
        Duration::from_secs(30),
    )
    .await?;
    let v: serde_json::Value = serde_json::from_slice(&reply.body).with_context(|| {
        format!(
            "{} answered HTTP {} with a body that is not JSON",
            args.endpoint, reply.status
        )
    })?;
    if reply.status != 200 {
        bail!(
            "{} refused: HTTP {} {}: {}",
            args.endpoint,
            reply.status,
            v["__type"].as_str().unwrap_or("?"),
            v["message"].as_str().unwrap_or("")
        );
    }
    if args.json {
        println!("{v:#}");
        return Ok(());
    }
    let s = &v["scheduler"];
    let counts = |m: &serde_json::Value| {
        m.as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "none".into())
    };
    println!(
        "endpoint:   {}\nversion:    {} (commit {})\nuptime:     {} s\nmode:       {}{}\nstore:      {} ({})\nkms keys:   {} ({})\nsecrets:    {} ({})\nscheduler:  every {} s, {} runs, {}{}",
        args.endpoint,
        v["version"].as_str().unwrap_or("?"),
        v["commit"].as_str().unwrap_or("?"),
        v["uptime_seconds"],
        if v["dev"].as_bool() == Some(true) { "dev" } else { "production" },
        if v["tls"].as_bool() == Some(true) { ", TLS" } else { ", plain HTTP" },
        v["store"]["kind"].as_str().unwrap_or("?"),
        if v["store"]["reachable"].as_bool() == Some(true) { "reachable" } else { "NOT REACHABLE" },
        v["counts"]["kms_keys_total"],
        counts(&v["counts"]["kms_keys"]),
        v["counts"]["secrets_total"],
        counts(&v["counts"]["secrets"]),
        s["interval_seconds"],
        s["runs"],
        match s["seconds_since_last_run"].as_i64() {
            Some(n) => format!("last run {n} s ago, took {} ms, started {} ms late", s["last_duration_ms"], s["last_lag_ms"]),
            None => "no run yet".into(),
        },
        if s["last_failed"].as_bool() == Some(true) { " (FAILED)" } else { "" },
    );
    let f = &v["federation"];
    if f.is_object() {
        let list = |r: &serde_json::Value| {
            r.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        println!(
            "regions:    {}{}",
            list(&f["regions"]),
            if f["forward"].as_bool() == Some(true) {
                " (requests for peers' regions are forwarded)"
            } else {
                " (requests for other regions are refused)"
            }
        );
        for p in f["peers"].as_array().into_iter().flatten() {
            println!(
                "peer:       {} ({}): {}",
                p["url"].as_str().unwrap_or("?"),
                list(&p["regions"]),
                match p["error"].as_str() {
                    None if p["ready"].as_bool() == Some(true) => "ready".to_string(),
                    Some(e) => format!("NOT READY: {e}"),
                    None => "NOT READY".to_string(),
                }
            );
        }
    }
    Ok(())
}

/// `coffer seed export`: `GET /_coffer/admin/seed`, printed as it is.
async fn seed_export(
    endpoint: &str,
    with_values: bool,
    caller: &RemoteCaller,
) -> anyhow::Result<()> {
    let creds = caller.credentials()?;
    let ca_bundle = caller.ca_bundle.as_deref();
    let url = format!(
        "{}/_coffer/admin/seed{}",
        endpoint.trim_end_matches('/'),
        if with_values { "?values=true" } else { "" }
    );
    let reply = client::get(&url, Some(&creds), ca_bundle, Duration::from_secs(60)).await?;
    if reply.status != 200 {
        bail!(
            "{endpoint} refused: HTTP {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body).trim()
        );
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&reply.body)?;
    out.flush()?;
    Ok(())
}

async fn health(args: HealthArgs) -> anyhow::Result<()> {
    let url = format!(
        "{}/_coffer/health/ready",
        args.endpoint.trim_end_matches('/')
    );
    let reply = client::get(
        &url,
        None,
        args.ca_bundle.as_deref(),
        Duration::from_secs(5),
    )
    .await?;
    if reply.status == 200 {
        println!("ready");
        Ok(())
    } else {
        bail!(
            "not ready: HTTP {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body).trim()
        )
    }
}

/// The API router with the web console merged in when `[ui] enabled`, and the sampler that
/// feeds the console's health charts from this node's metrics.
fn console_router(
    api: axum::Router,
    config: &Config,
    ops: &Arc<coffer_http::server::Ops>,
    stop: &CancellationToken,
) -> axum::Router {
    if !config.ui.enabled {
        return api;
    }
    let sampler = ops.metrics.clone().map(|m| {
        let coffer = ops.app.coffer.clone();
        let sampler = Arc::new(coffer_console::Sampler::new(move || m.render(&coffer)));
        let (s, stop) = (sampler.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(coffer_console::Sampler::INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => s.sample(),
                    () = stop.cancelled() => break,
                }
            }
        });
        sampler
    });
    let ui = coffer_console::Config {
        idle_timeout: config.ui.idle_timeout,
        max_session: config.ui.max_session,
        default_region: config.ui.default_region.clone(),
    };
    api.merge(coffer_console::router(ops.app.clone(), ui, sampler))
}
