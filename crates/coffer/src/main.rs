//! `coffer`: a self-hosted server that speaks the AWS KMS, Secrets Manager and STS APIs.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use coffer_core::SystemClock;
use coffer_crypto::RootKey;
use coffer_http::Coffer;
use coffer_http::{App, Config};
use coffer_store::SqliteStore;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "AWS-compatible KMS and Secrets Manager, self-hosted"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4566", env = "COFFER_LISTEN")]
    listen: SocketAddr,
    /// Directory holding the database, the root key and the root credentials.
    #[arg(long, default_value = "coffer-data", env = "COFFER_DATA_DIR")]
    data_dir: PathBuf,
    /// Local-testing mode: any well-formed credentials are accepted and the reset endpoints work.
    #[arg(long, env = "COFFER_DEV")]
    dev: bool,
    /// The account of `--dev` callers whose access key ID is not 12 digits.
    #[arg(long, default_value = "000000000000", value_parser = parse_account)]
    dev_account: String,
    /// How often due work (deletions at the end of their window, rotations) is checked, in seconds.
    #[arg(long, default_value_t = 30)]
    scheduler_interval: u64,
    /// Rotators standing in for rotation Lambda functions, by RotationLambdaARN (TOML, or JSON
    /// if the name ends in `.json`).
    #[arg(long, env = "COFFER_ROTATORS")]
    rotators: Option<PathBuf>,
}

fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err("an account ID is 12 digits".into())
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve(args))
        }
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    private_dir(&args.data_dir)?;
    let (root, created) = RootKey::load_or_create(&args.data_dir.join("root-key"))?;
    if created {
        tracing::info!(path = %args.data_dir.join("root-key").display(), "created a new root key; back it up: without it nothing stored can be read");
    }
    let store = Arc::new(SqliteStore::open(&args.data_dir.join("coffer.db"))?);
    let clock = Arc::new(SystemClock);
    let coffer = Arc::new(Coffer::open(store, root, clock)?);
    if let Some(path) = &args.rotators {
        let config = coffer_secrets::RotatorsConfig::load(path)?;
        tracing::info!(path = %path.display(), rotators = config.rotators.len(), "rotators");
        coffer.use_rotators(&config);
    }

    let creds_path = args.data_dir.join("root-credentials");
    let creds = coffer
        .identity
        .ensure_root_credentials(args.dev.then_some(args.dev_account.as_str()))?;
    if !creds_path.exists() {
        write_credentials(&creds_path, &creds.access_key_id, &creds.secret_access_key)?;
    }
    tracing::info!(account = %creds.account_id, path = %creds_path.display(), "root credentials");
    if args.dev {
        tracing::warn!(
            "--dev: any well-formed credentials are accepted; do not expose this server"
        );
    }

    let app = Arc::new(App {
        coffer: coffer.clone(),
        config: Config {
            dev: args.dev,
            dev_account: args.dev_account.clone(),
        },
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;

    let interval = Duration::from_secs(args.scheduler_interval.max(1));
    let sched = coffer.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let c = sched.clone();
            match tokio::task::spawn_blocking(move || c.run_due()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(deleted = n, "scheduled deletions done"),
                Ok(Err(e)) => tracing::error!(error = %e, "scheduled work failed"),
                Err(e) => tracing::error!(error = %e, "scheduler task failed"),
            }
        }
    });

    println!("coffer listening on http://{addr}");
    std::io::stdout().flush()?;
    axum::serve(listener, coffer_http::router(app))
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
