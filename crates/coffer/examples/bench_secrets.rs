//! Secrets Manager benchmark: GetSecretValue and BatchGetSecretValue throughput and latency
//! with few and with many secrets stored, through the AWS SDK for Rust. Loopback only;
//! bounded in count and time.
//!
//!     cargo build --release -p coffer --bin coffer
//!     cargo run --release -p coffer --example bench_secrets -- [--stored 10,100000] [--concurrency 16]
//!
//! Starts `coffer serve --dev` (`--bin PATH`, default `coffer` next to this example in the
//! target directory) on a free loopback port with a temporary data dir; for each count in
//! `--stored` it creates secrets up to that count (many CreateSecret calls in flight; at most
//! `--max-create-seconds` per step), then measures GetSecretValue of random stored secrets and
//! BatchGetSecretValue of 20 random secrets per call at a fixed concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::Client;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Benchmark Secrets Manager reads of a coffer server with the AWS SDK")]
struct Args {
    /// Numbers of stored secrets to measure with, ascending (secrets are added between steps).
    #[arg(long, value_delimiter = ',', default_value = "10,100000")]
    stored: Vec<usize>,
    /// Read requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// CreateSecret requests in flight at once while filling.
    #[arg(long, default_value_t = 64)]
    create_concurrency: usize,
    /// Requests per read measurement.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Stop a read measurement after this many seconds.
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
    /// Stop filling a step after this many seconds (the figures then name the count reached).
    #[arg(long, default_value_t = 300)]
    max_create_seconds: u64,
    /// Secret value size in bytes.
    #[arg(long, default_value_t = 256)]
    payload: usize,
    /// The coffer binary (default: `coffer` in the target directory of this example).
    #[arg(long)]
    bin: Option<PathBuf>,
    #[arg(long, default_value = "eu-central-1")]
    region: String,
}

struct Started {
    child: Child,
    _dir: tempfile::TempDir,
    endpoint: String,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary(args: &Args) -> Result<PathBuf> {
    if let Some(b) = &args.bin {
        return Ok(b.clone());
    }
    // target/<profile>/examples/bench_secrets -> target/<profile>/coffer
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .context("locating the target directory")?
        .join("coffer");
    if !bin.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p coffer --bin coffer` or pass --bin",
            bin.display()
        );
    }
    Ok(bin)
}

fn start_server(bin: &PathBuf) -> Result<Started> {
    let dir = tempfile::Builder::new()
        .prefix("coffer-bench-sm-")
        .tempdir()?;
    let mut child = Command::new(bin)
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let mut sink = Vec::new();
        let _ = r.read_to_end(&mut sink);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .context("no listening line within 60 s")?;
    let endpoint = line
        .trim()
        .strip_prefix("coffer listening on ")
        .with_context(|| format!("unexpected first line {line:?}"))?
        .to_string();
    Ok(Started {
        child,
        _dir: dir,
        endpoint,
    })
}

fn rss_mib(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|k| format!("{:.0} MiB", k / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

struct Stats {
    sent: usize,
    errors: usize,
    wall: Duration,
    lat_us: Vec<u64>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.sent as f64 / self.wall.as_secs_f64()
    }
    fn pct(&self, p: f64) -> f64 {
        if self.lat_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat_us.len() as f64 - 1.0) * p).round() as usize;
        self.lat_us[i] as f64 / 1000.0
    }
}

/// Runs `op(i)` for i in 0..requests with `concurrency` in flight, stopping at `max`.
async fn run<F, Fut>(requests: usize, concurrency: usize, max: Duration, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + max;
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let op = op.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests || Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                if !op(i).await {
                    errors += 1;
                }
                lat.push(t.elapsed().as_micros() as u64);
            }
            (lat, errors)
        }));
    }
    let mut lat_us = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.expect("worker");
        lat_us.extend(l);
        errors += e;
    }
    let wall = start.elapsed();
    lat_us.sort_unstable();
    Stats {
        sent: lat_us.len(),
        errors,
        wall,
        lat_us,
    }
}

fn name_of(i: usize) -> String {
    format!("bench/app-{i:07}/db-password")
}

/// A cheap deterministic spread over `0..n` (no RNG dependency).
fn pick(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ (i >> 7)) % n.max(1)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.stored.is_empty() || args.stored.windows(2).any(|w| w[0] >= w[1]) {
        bail!("--stored must be ascending counts, e.g. 10,100000");
    }
    let server = start_server(&binary(&args)?)?;
    let pid = server.child.id();
    let sm = Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(
                args.region.clone(),
            ))
            .endpoint_url(&server.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build(),
    );
    let value = Arc::new("s".repeat(args.payload.clamp(1, 65536)));
    let max = Duration::from_secs(args.max_seconds);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "coffer Secrets Manager bench — {}, {cpus} CPU(s) shared by client and server, value {} B, read concurrency {}",
        server.endpoint, args.payload, args.concurrency
    );
    println!();
    println!(
        "{:>8} {:<26} {:>9} {:>6} {:>10} {:>8} {:>8} {:>8}",
        "stored", "operation", "requests", "errors", "req/s", "p50 ms", "p99 ms", "RSS"
    );

    let mut stored = 0usize;
    let mut failed = 0usize;
    for &target in &args.stored {
        // Fill up to `target`.
        let from = stored;
        let want = target - from;
        let fill = {
            let sm = sm.clone();
            let value = value.clone();
            run(
                want,
                args.create_concurrency,
                Duration::from_secs(args.max_create_seconds),
                move |i| {
                    let fut = sm
                        .create_secret()
                        .name(name_of(from + i))
                        .secret_string(value.as_str())
                        .send();
                    async move { fut.await.is_ok() }
                },
            )
            .await
        };
        stored += fill.sent - fill.errors;
        failed += fill.errors;
        if fill.errors > 0 || stored != from + fill.sent {
            bail!("{} CreateSecret calls failed", fill.errors);
        }
        println!(
            "{:>8} {:<26} {:>9} {:>6} {:>10.0} {:>8.2} {:>8.2} {:>8}",
            stored,
            "CreateSecret (filling)",
            fill.sent,
            fill.errors,
            fill.rate(),
            fill.pct(0.5),
            fill.pct(0.99),
            rss_mib(pid)
        );
        if stored < target {
            println!(
                "         (filling stopped at --max-create-seconds; {stored} of {target} stored)"
            );
        }
        let n = stored;

        // Warm-up, not measured.
        for i in 0..50 {
            sm.get_secret_value()
                .secret_id(name_of(pick(i, n)))
                .send()
                .await?;
        }
        let get = {
            let sm = sm.clone();
            run(args.requests, args.concurrency, max, move |i| {
                let fut = sm.get_secret_value().secret_id(name_of(pick(i, n))).send();
                async move { fut.await.is_ok_and(|r| r.secret_string.is_some()) }
            })
            .await
        };
        failed += get.errors;
        println!(
            "{:>8} {:<26} {:>9} {:>6} {:>10.0} {:>8.2} {:>8.2} {:>8}",
            n,
            "GetSecretValue",
            get.sent,
            get.errors,
            get.rate(),
            get.pct(0.5),
            get.pct(0.99),
            rss_mib(pid)
        );
        let batch = {
            let sm = sm.clone();
            run(args.requests / 10, args.concurrency, max, move |i| {
                let mut req = sm.batch_get_secret_value();
                for k in 0..20 {
                    req = req.secret_id_list(name_of(pick(i * 20 + k, n)));
                }
                let fut = req.send();
                async move {
                    fut.await
                        .is_ok_and(|r| r.errors().is_empty() && !r.secret_values().is_empty())
                }
            })
            .await
        };
        failed += batch.errors;
        println!(
            "{:>8} {:<26} {:>9} {:>6} {:>10.0} {:>8.2} {:>8.2} {:>8}   ({:.0} secrets/s)",
            n,
            "BatchGetSecretValue (x20)",
            batch.sent,
            batch.errors,
            batch.rate(),
            batch.pct(0.5),
            batch.pct(0.99),
            rss_mib(pid),
            batch.rate() * 20.0
        );
    }
    if failed > 0 {
        bail!("{failed} requests failed");
    }
    Ok(())
}
