//! Coffer benchmark: start-up time, idle memory, and Encrypt / Decrypt / GetSecretValue (as the
//! root user and as a role session whose every request is authorized by policy), Sign / Verify
//! and GenerateMac throughput
//! and latency through the AWS SDK for Rust. Loopback only; bounded in count and time.
//!
//!     cargo run --release -p coffer --example bench -- [--requests N] [--concurrency C]
//!     cargo run --release -p coffer --example bench -- --tls-compare [--requests N]
//!
//! `--tls-compare` measures only Encrypt and GetSecretValue (SigV4-signed) at 8 and 64
//! concurrent requests against two servers, one plain HTTP and one TLS (a certificate from a CA
//! the benchmark makes), and reports requests per second, p99 and CPU time per request of the
//! server and of the client.
//!
//! Without `--endpoint` it builds (`cargo build --release -p coffer --bin coffer`, unless
//! `--no-build`) and starts `target/release/coffer serve --dev` on a free port with a
//! temporary data dir, and stops it at the end. With `--endpoint URL` it measures a server
//! that is already running (start-up and memory are then not measured).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_credential_types::Credentials;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Benchmark a coffer server with the AWS SDK")]
struct Args {
    /// Requests per operation.
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stop each operation after this many seconds even if not all requests were sent.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Use a running server instead of starting one (must accept the credentials below).
    #[arg(long)]
    endpoint: Option<String>,
    /// The coffer binary to start (default: target/release/coffer next to this example).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Do not run `cargo build --release -p coffer --bin coffer` first.
    #[arg(long)]
    no_build: bool,
    /// Plaintext / secret size in bytes.
    #[arg(long, default_value_t = 256)]
    payload: usize,
    #[arg(long, default_value = "test")]
    access_key: String,
    #[arg(long, default_value = "test")]
    secret_key: String,
    #[arg(long, default_value = "eu-central-1")]
    region: String,
    /// Compare plain HTTP with TLS (Encrypt, GetSecretValue; 8 and 64 in flight) and stop.
    #[arg(long)]
    tls_compare: bool,
}

struct Started {
    child: Child,
    _dir: Arc<tempfile::TempDir>,
    endpoint: String,
    to_line: Duration,
    to_health: Duration,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn release_binary(args: &Args) -> Result<PathBuf> {
    if let Some(b) = &args.bin {
        return Ok(b.clone());
    }
    // target/release/examples/bench -> target/release/coffer
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .context("locating the target directory")?;
    let bin = dir.join("coffer");
    if !args.no_build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile_release = dir.file_name().and_then(|n| n.to_str()) == Some("release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "coffer", "--bin", "coffer"]);
        if profile_release {
            cmd.arg("--release");
        }
        eprintln!("building coffer: {cmd:?}");
        let st = cmd.status().context("running cargo build")?;
        if !st.success() {
            bail!("cargo build failed: {st}");
        }
    }
    if !bin.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p coffer` or pass --bin",
            bin.display()
        );
    }
    Ok(bin)
}

fn http_get_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1)?.parse().ok()
}

fn start_server(bin: &PathBuf, dir: Arc<tempfile::TempDir>) -> Result<Started> {
    start_server_with(bin, dir, &[])
}

fn start_server_with(
    bin: &PathBuf,
    dir: Arc<tempfile::TempDir>,
    extra: &[&str],
) -> Result<Started> {
    let t0 = Instant::now();
    let tls = !extra.is_empty();
    let mut child = Command::new(bin)
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(extra)
        .current_dir(dir.path())
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
    let to_line = t0.elapsed();
    let addr = line
        .trim()
        .strip_prefix(if tls {
            "coffer listening on https://"
        } else {
            "coffer listening on http://"
        })
        .with_context(|| format!("unexpected first line {line:?}"))?
        .to_string();
    // First successful health response (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tls || http_get_status(&addr, "/_coffer/health") == Some(200) {
            break;
        }
        if Instant::now() > deadline {
            bail!("health never answered 200");
        }
        std::thread::yield_now();
    }
    let to_health = t0.elapsed();
    Ok(Started {
        child,
        _dir: dir,
        endpoint: format!("{}://{addr}", if tls { "https" } else { "http" }),
        to_line,
        to_health,
    })
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

struct Stats {
    name: &'static str,
    sent: usize,
    errors: usize,
    wall: Duration,
    lat_us: Vec<u64>,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

async fn run_op<F, Fut>(
    name: &'static str,
    requests: usize,
    concurrency: usize,
    max: Duration,
    op: F,
) -> Stats
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + max;
    let mut handles = Vec::new();
    for _ in 0..concurrency.max(1) {
        let op = op.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
                let t = Instant::now();
                let ok = op().await;
                lat.push(t.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut lat_us = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.await.expect("worker");
        lat_us.extend(l);
        errors += e;
    }
    let wall = start.elapsed();
    lat_us.sort_unstable();
    Stats {
        name,
        sent: lat_us.len(),
        errors,
        wall,
        lat_us,
    }
}

fn creds_root(args: &Args) -> Credentials {
    Credentials::new(&args.access_key, &args.secret_key, None, None, "bench")
}

/// Creates a role allowed kms:Decrypt on the key and secretsmanager:GetSecretValue on the
/// secret, assumes it, and returns KMS and Secrets Manager clients with its credentials.
async fn role_session(
    endpoint: &str,
    args: &Args,
    root: &Credentials,
    key_id: &str,
    secret_name: &str,
) -> Result<(aws_sdk_kms::Client, aws_sdk_secretsmanager::Client)> {
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(root.clone())
            .build(),
    );
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(args.region.clone()))
            .endpoint_url(endpoint)
            .credentials_provider(root.clone())
            .build(),
    );
    let account = sts
        .get_caller_identity()
        .send()
        .await?
        .account()
        .context("Account")?
        .to_string();
    let role_name = format!("bench-{}", std::process::id());
    let role_arn = iam
        .create_role()
        .role_name(&role_name)
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        ))
        .send()
        .await?
        .role()
        .map(|r| r.arn().to_string())
        .context("Role")?;
    let policy_arn = iam
        .create_policy()
        .policy_name(&role_name)
        .policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:Decrypt","secretsmanager:GetSecretValue"],"Resource":["arn:aws:kms:*:{account}:key/{key_id}","arn:aws:secretsmanager:*:{account}:secret:{secret_name}-*"]}}]}}"#
        ))
        .send()
        .await?
        .policy()
        .and_then(|p| p.arn().map(str::to_string))
        .context("Policy")?;
    iam.attach_role_policy()
        .role_name(&role_name)
        .policy_arn(policy_arn)
        .send()
        .await?;
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("bench")
        .send()
        .await?;
    let c = out.credentials().context("Credentials")?;
    let session = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "bench-role",
    );
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(args.region.clone()))
            .endpoint_url(endpoint)
            .credentials_provider(session.clone())
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
            .build(),
    );
    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(
                args.region.clone(),
            ))
            .endpoint_url(endpoint)
            .credentials_provider(session)
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build(),
    );
    // Warm-up, and a check that the session really may read.
    for _ in 0..20 {
        sm.get_secret_value().secret_id(secret_name).send().await?;
    }
    Ok((kms, sm))
}

/// CPU seconds (user + system) of a process so far, from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3; utime 14, stime 15.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

async fn tls_compare(args: &Args) -> Result<()> {
    let bin = release_binary(args)?;
    // A CA and a server certificate for 127.0.0.1, made here.
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate()?;
    let cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?
            .signed_by(&key, &issuer)?;
    let tls_dir = Arc::new(
        tempfile::Builder::new()
            .prefix("coffer-bench-tls-")
            .tempdir()?,
    );
    std::fs::write(tls_dir.path().join("s.crt"), cert.pem())?;
    std::fs::write(tls_dir.path().join("s.key"), key.serialize_pem())?;
    std::fs::write(
        tls_dir.path().join("coffer.toml"),
        format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            tls_dir.path().join("s.crt").display(),
            tls_dir.path().join("s.key").display()
        ),
    )?;
    let config = tls_dir.path().join("coffer.toml");
    let plain_dir = Arc::new(tempfile::Builder::new().prefix("coffer-bench-").tempdir()?);
    let plain = start_server(&bin, plain_dir)?;
    let tls = start_server_with(
        &bin,
        tls_dir.clone(),
        &["--config", config.to_str().context("path")?],
    )?;
    let ca_pem = ca_cert.pem();
    let mut rows = Vec::new();
    for (transport, server) in [("plain", &plain), ("TLS", &tls)] {
        let creds = creds_root(args);
        let http = (transport == "TLS").then(|| {
            use aws_smithy_http_client::tls as t;
            aws_smithy_http_client::Builder::new()
                .tls_provider(t::Provider::Rustls(t::rustls_provider::CryptoMode::AwsLc))
                .tls_context(
                    t::TlsContext::builder()
                        .with_trust_store(
                            t::TrustStore::empty().with_pem_certificate(ca_pem.as_bytes().to_vec()),
                        )
                        .build()
                        .expect("tls context"),
                )
                .build_https()
        });
        let mut kb = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(args.region.clone()))
            .endpoint_url(&server.endpoint)
            .credentials_provider(creds.clone())
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled());
        kb.set_http_client(http.clone());
        let kms = aws_sdk_kms::Client::from_conf(kb.build());
        let mut sb = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(
                args.region.clone(),
            ))
            .endpoint_url(&server.endpoint)
            .credentials_provider(creds)
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled());
        sb.set_http_client(http);
        let sm = aws_sdk_secretsmanager::Client::from_conf(sb.build());
        let key_id = kms
            .create_key()
            .send()
            .await?
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .context("KeyMetadata")?;
        sm.create_secret()
            .name("bench")
            .secret_string("s".repeat(args.payload.clamp(1, 65536)))
            .send()
            .await?;
        let plaintext = aws_sdk_kms::primitives::Blob::new(vec![7u8; args.payload.clamp(1, 4096)]);
        let pid = server.child.id().to_string();
        for concurrency in [8usize, 64] {
            // Warm-up: the connections of this concurrency.
            let _ = run_op(
                "warm-up",
                concurrency * 4,
                concurrency,
                Duration::from_secs(30),
                {
                    let sm = sm.clone();
                    move || {
                        let f = sm.get_secret_value().secret_id("bench").send();
                        async move { f.await.is_ok() }
                    }
                },
            )
            .await;
            for op in ["Encrypt", "GetSecretValue"] {
                let (s0, c0) = (cpu_seconds(&pid), cpu_seconds("self"));
                let max = Duration::from_secs(args.max_seconds);
                let stats = if op == "Encrypt" {
                    let (kms, key_id, plaintext) = (kms.clone(), key_id.clone(), plaintext.clone());
                    run_op("Encrypt", args.requests, concurrency, max, move || {
                        let f = kms
                            .encrypt()
                            .key_id(key_id.clone())
                            .plaintext(plaintext.clone())
                            .send();
                        async move { f.await.is_ok() }
                    })
                    .await
                } else {
                    let sm = sm.clone();
                    run_op(
                        "GetSecretValue",
                        args.requests,
                        concurrency,
                        max,
                        move || {
                            let f = sm.get_secret_value().secret_id("bench").send();
                            async move { f.await.is_ok() }
                        },
                    )
                    .await
                };
                let (s1, c1) = (cpu_seconds(&pid), cpu_seconds("self"));
                rows.push((transport, op, concurrency, stats, s1 - s0, c1 - c0));
            }
        }
    }
    println!();
    println!(
        "coffer bench --tls-compare: {} requests per row, SigV4-signed, payload {} B, keep-alive, {} CPU(s) shared by client and server",
        args.requests,
        args.payload,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "{:<16} {:>4} {:>6} {:>9} {:>7} {:>9} {:>8} {:>15} {:>15}",
        "operation",
        "in",
        "",
        "requests",
        "errors",
        "req/s",
        "p99 ms",
        "server µs CPU/req",
        "client µs CPU/req"
    );
    let mut errors = 0;
    for (transport, op, c, st, server_cpu, client_cpu) in &rows {
        errors += st.errors;
        let n = st.sent.max(1) as f64;
        println!(
            "{:<16} {:>4} {:>6} {:>9} {:>7} {:>9.0} {:>8.2} {:>15.0} {:>15.0}",
            op,
            c,
            transport,
            st.sent,
            st.errors,
            st.sent as f64 / st.wall.as_secs_f64(),
            pct(&st.lat_us, 0.99),
            server_cpu * 1e6 / n,
            client_cpu * 1e6 / n,
        );
    }
    println!();
    for op in ["Encrypt", "GetSecretValue"] {
        for c in [8usize, 64] {
            let rps = |t: &str| {
                rows.iter()
                    .find(|r| r.0 == t && r.1 == op && r.2 == c)
                    .map(|r| r.3.sent as f64 / r.3.wall.as_secs_f64())
                    .unwrap_or(f64::NAN)
            };
            println!(
                "{op:<16} {c:>4} in flight: TLS throughput {:.0}% of plain",
                100.0 * rps("TLS") / rps("plain")
            );
        }
    }
    drop(tls_dir);
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.tls_compare {
        return tls_compare(&args).await;
    }
    // Without --endpoint: start once on an empty data dir (first start creates the root key,
    // the database and the root credentials), stop, and start again on the same data dir.
    let mut cold = None;
    let started = match &args.endpoint {
        Some(_) => None,
        None => {
            let bin = release_binary(&args)?;
            let dir = Arc::new(tempfile::Builder::new().prefix("coffer-bench-").tempdir()?);
            let first = start_server(&bin, dir.clone())?;
            cold = Some((first.to_line, first.to_health));
            drop(first);
            Some(start_server(&bin, dir)?)
        }
    };
    let endpoint = args
        .endpoint
        .clone()
        .or_else(|| started.as_ref().map(|s| s.endpoint.clone()))
        .context("endpoint")?;
    if !endpoint.starts_with("http://127.0.0.1:") && !endpoint.starts_with("http://localhost:") {
        bail!("refusing to benchmark a non-loopback endpoint: {endpoint}");
    }
    let pid = started.as_ref().map(|s| s.child.id());
    let idle_rss = pid.and_then(|p| proc_status_kib(p, "VmRSS:"));

    let creds = Credentials::new(&args.access_key, &args.secret_key, None, None, "bench");
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(args.region.clone()))
            .endpoint_url(&endpoint)
            .credentials_provider(creds.clone())
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
            .build(),
    );
    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(
                args.region.clone(),
            ))
            .endpoint_url(&endpoint)
            .credentials_provider(creds)
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build(),
    );

    let key = kms.create_key().description("bench").send().await?;
    let key_id = key
        .key_metadata()
        .map(|m| m.key_id().to_string())
        .context("KeyMetadata")?;
    let secret_name = format!("bench/{}", std::process::id());
    sm.create_secret()
        .name(&secret_name)
        .kms_key_id(&key_id)
        .secret_string("s".repeat(args.payload.clamp(1, 65536)))
        .send()
        .await?;
    let plaintext = aws_sdk_kms::primitives::Blob::new(vec![7u8; args.payload.clamp(1, 4096)]);

    // Warm-up (connections, caches); not measured.
    for _ in 0..50 {
        kms.encrypt()
            .key_id(&key_id)
            .plaintext(plaintext.clone())
            .send()
            .await?;
        sm.get_secret_value().secret_id(&secret_name).send().await?;
    }

    let max = Duration::from_secs(args.max_seconds);
    let mut results = Vec::new();
    {
        let kms = kms.clone();
        let key_id = key_id.clone();
        let plaintext = plaintext.clone();
        results.push(
            run_op("Encrypt", args.requests, args.concurrency, max, move || {
                let fut = kms
                    .encrypt()
                    .key_id(key_id.clone())
                    .plaintext(plaintext.clone())
                    .send();
                async move { fut.await.is_ok() }
            })
            .await,
        );
    }
    {
        let ct = kms
            .encrypt()
            .key_id(&key_id)
            .plaintext(plaintext.clone())
            .send()
            .await?
            .ciphertext_blob()
            .cloned()
            .context("CiphertextBlob")?;
        let kms = kms.clone();
        results.push(
            run_op("Decrypt", args.requests, args.concurrency, max, move || {
                let fut = kms.decrypt().ciphertext_blob(ct.clone()).send();
                async move { fut.await.is_ok() }
            })
            .await,
        );
    }
    {
        let sm = sm.clone();
        let name = secret_name.clone();
        results.push(
            run_op(
                "GetSecretValue",
                args.requests,
                args.concurrency,
                max,
                move || {
                    let fut = sm.get_secret_value().secret_id(name.clone()).send();
                    async move { fut.await.is_ok() }
                },
            )
            .await,
        );
    }
    // The same reads by a workload: a role session whose managed policy allows them, so every
    // request is authorized by policy evaluation (ADR 0009).
    {
        let (session_kms, session_sm) =
            role_session(&endpoint, &args, &creds_root(&args), &key_id, &secret_name).await?;
        let ct = kms
            .encrypt()
            .key_id(&key_id)
            .plaintext(plaintext.clone())
            .send()
            .await?
            .ciphertext_blob()
            .cloned()
            .context("CiphertextBlob")?;
        results.push(
            run_op(
                "Decrypt (role)",
                args.requests,
                args.concurrency,
                max,
                move || {
                    let fut = session_kms.decrypt().ciphertext_blob(ct.clone()).send();
                    async move { fut.await.is_ok() }
                },
            )
            .await,
        );
        let name = secret_name.clone();
        results.push(
            run_op(
                "GetSecretValue (role)",
                args.requests,
                args.concurrency,
                max,
                move || {
                    let fut = session_sm.get_secret_value().secret_id(name.clone()).send();
                    async move { fut.await.is_ok() }
                },
            )
            .await,
        );
    }
    // Asymmetric and HMAC keys (issue: Sign/Verify for ECC_NIST_P256 and RSA_2048, GenerateMac).
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec, SigningAlgorithmSpec};
    let message = aws_sdk_kms::primitives::Blob::new(vec![42u8; 256]);
    for (spec, alg, sign_name, verify_name) in [
        (
            KeySpec::EccNistP256,
            SigningAlgorithmSpec::EcdsaSha256,
            "Sign P256",
            "Verify P256",
        ),
        (
            KeySpec::Rsa2048,
            SigningAlgorithmSpec::RsassaPssSha256,
            "Sign RSA2048",
            "Verify RSA2048",
        ),
    ] {
        let id = kms
            .create_key()
            .key_spec(spec)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await?
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .context("KeyMetadata")?;
        let signature = kms
            .sign()
            .key_id(&id)
            .message(message.clone())
            .signing_algorithm(alg.clone())
            .send()
            .await?
            .signature()
            .cloned()
            .context("Signature")?;
        {
            let (kms, id, message, alg) = (kms.clone(), id.clone(), message.clone(), alg.clone());
            results.push(
                run_op(sign_name, args.requests, args.concurrency, max, move || {
                    let fut = kms
                        .sign()
                        .key_id(id.clone())
                        .message(message.clone())
                        .signing_algorithm(alg.clone())
                        .send();
                    async move { fut.await.is_ok() }
                })
                .await,
            );
        }
        let (kms, message) = (kms.clone(), message.clone());
        results.push(
            run_op(
                verify_name,
                args.requests,
                args.concurrency,
                max,
                move || {
                    let fut = kms
                        .verify()
                        .key_id(id.clone())
                        .message(message.clone())
                        .signature(signature.clone())
                        .signing_algorithm(alg.clone())
                        .send();
                    async move { fut.await.map(|r| r.signature_valid()).unwrap_or(false) }
                },
            )
            .await,
        );
    }
    {
        let id = kms
            .create_key()
            .key_spec(KeySpec::Hmac256)
            .key_usage(KeyUsageType::GenerateVerifyMac)
            .send()
            .await?
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .context("KeyMetadata")?;
        let (kms, message) = (kms.clone(), message.clone());
        results.push(
            run_op(
                "GenerateMac",
                args.requests,
                args.concurrency,
                max,
                move || {
                    let fut = kms
                        .generate_mac()
                        .key_id(id.clone())
                        .message(message.clone())
                        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                        .send();
                    async move { fut.await.is_ok() }
                },
            )
            .await,
        );
    }
    let loaded_rss = pid.and_then(|p| proc_status_kib(p, "VmRSS:"));
    let peak_rss = pid.and_then(|p| proc_status_kib(p, "VmHWM:"));

    println!();
    println!(
        "coffer bench — {endpoint}, {} requests/op, concurrency {}, payload {} B, {} CPU(s) shared by client and server",
        args.requests,
        args.concurrency,
        args.payload,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if let Some(s) = &started {
        if let Some((line, health)) = cold {
            println!(
                "start-up (empty data dir):    listening line {:.1} ms, first healthy response {:.1} ms (spawn → 200)",
                line.as_secs_f64() * 1000.0,
                health.as_secs_f64() * 1000.0
            );
        }
        println!(
            "start-up (existing data dir): listening line {:.1} ms, first healthy response {:.1} ms (spawn → 200)",
            s.to_line.as_secs_f64() * 1000.0,
            s.to_health.as_secs_f64() * 1000.0
        );
        println!(
            "memory:                       idle RSS {}, after load {}, peak {}",
            mib(idle_rss),
            mib(loaded_rss),
            mib(peak_rss)
        );
    }
    println!();
    println!(
        "{:<22} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "operation", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for r in &results {
        println!(
            "{:<22} {:>9} {:>7} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            r.name,
            r.sent,
            r.errors,
            r.sent as f64 / r.wall.as_secs_f64(),
            pct(&r.lat_us, 0.50),
            pct(&r.lat_us, 0.90),
            pct(&r.lat_us, 0.99),
            pct(&r.lat_us, 1.0),
        );
    }
    let errors: usize = results.iter().map(|r| r.errors).sum();
    if errors > 0 {
        bail!("{errors} requests failed");
    }
    Ok(())
}
