//! Test harness: runs the real `coffer` binary and talks to it with real clients.
//!
//! Every [`Server`] owns a fresh temporary directory (data dir + stderr log), listens on a
//! free loopback port, and is killed when dropped. Nothing here sleeps to wait for the
//! server: readiness is the `coffer listening on …` line on stdout, confirmed by
//! `GET /_coffer/health`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod audit;
pub mod botocore;
pub mod pki;
pub mod terraform;

use std::fmt::Debug;
use std::fs;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::config::{BehaviorVersion, Region};
pub use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

/// The primary region of the seed scenario.
pub const PRIMARY: &str = "eu-central-1";
/// The replica region of the seed scenario.
pub const REPLICA: &str = "eu-west-1";

/// Credentials that a `--dev` server accepts (the Terraform seed's defaults).
pub const DEV_AK: &str = "test";
pub const DEV_SK: &str = "test";

/// The binary under test: `COFFER_TEST_BIN` if set (e.g. a release build), else the one
/// Cargo built for these tests.
/// The repository's root, found at run time: `cargo test` sets `CARGO_MANIFEST_DIR` for the test
/// process, while the compile-time value can name another checkout whose build cargo reused.
pub fn repo_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.join("../..")
}

/// The throwaway PostgreSQL server's URL (`.ci/postgres` sets `COFFER_TEST_POSTGRES_URL`);
/// `None`, with a "skipping" line, without one.
pub fn pg_url() -> Option<String> {
    match std::env::var("COFFER_TEST_POSTGRES_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            eprintln!("skipping: COFFER_TEST_POSTGRES_URL is not set (run .ci/postgres)");
            None
        }
    }
}

pub fn server_binary() -> PathBuf {
    std::env::var_os("COFFER_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_coffer")))
}

/// How long we wait for the server to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub dev: bool,
    pub dev_account: Option<String>,
    /// A rotators file (TOML) to write next to the data dir and pass as `--rotators`.
    pub rotators: Option<String>,
    /// Further `coffer serve` arguments.
    pub extra_args: Vec<String>,
    /// `RUST_LOG` for the server (unset by default).
    pub rust_log: Option<String>,
    /// A configuration file (TOML) written into the server's directory as `coffer.toml` and
    /// passed as `--config`. Relative paths in it are relative to [`Server::dir`].
    pub config: Option<String>,
    /// Environment variables for the server.
    pub env: Vec<(String, String)>,
    /// The server speaks TLS with a certificate this CA (PEM) issued: clients trust it.
    pub ca_pem: Option<String>,
    /// The client certificate to present (mutual TLS).
    pub client_cert: Option<pki::Pem>,
    /// Files to write into the server's directory before it starts: `(name, content)`.
    pub files: Vec<(String, String)>,
    /// Run `coffer operator init --data-dir DATA` before the first start; its stdout is
    /// [`Server::init_stdout`].
    pub operator_init: bool,
    /// `coffer` commands run (and required to succeed) before the first start, after
    /// `operator_init`, each argument's `{data}` replaced by the data directory (e.g. a
    /// `coffer restore --data-dir {data}`); their stdout is appended to [`Server::init_stdout`].
    pub setup: Vec<Vec<String>>,
    /// `--data-dir :memory:` instead of the data directory (no disk at all).
    pub memory: bool,
    /// Another node's data directory whose root key and root credentials this server's data
    /// directory starts with (nodes of one deployment on one PostgreSQL database).
    pub data_from: Option<PathBuf>,
}

/// A running `coffer serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub data_dir: PathBuf,
    log_path: PathBuf,
    opts: Options,
    starts: u32,
    /// What `coffer operator init` printed (with [`Options::operator_init`]).
    pub init_stdout: String,
    /// Lines the server printed on stdout after its listening line.
    stdout_lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    // Dropped last: removes data dir and logs.
    root: tempfile::TempDir,
}

impl Server {
    /// A `--dev` server: any well-formed credentials, reset endpoints.
    pub fn dev() -> Server {
        Server::start(Options {
            dev: true,
            ..Options::default()
        })
    }

    /// A `--dev` server whose rotation function ARNs map to the rotators in `rotators_toml`, with
    /// the scheduler idle (the test drives rotations) and logging at `info`.
    pub fn with_rotators(rotators_toml: &str) -> Server {
        Server::start(Options {
            dev: true,
            rotators: Some(rotators_toml.to_string()),
            extra_args: vec!["--scheduler-interval".into(), "3600".into()],
            rust_log: Some("info".into()),
            ..Options::default()
        })
    }

    /// A production-mode server: only the root credentials it writes are accepted.
    pub fn secure() -> Server {
        Server::start(Options::default())
    }

    pub fn start(opts: Options) -> Server {
        let root = tempfile::Builder::new()
            .prefix("coffer-test-")
            .tempdir()
            .expect("create tempdir");
        let data_dir = root.path().join("data");
        let mut s = Server {
            child: None,
            endpoint: String::new(),
            addr: String::new(),
            data_dir,
            log_path: PathBuf::new(),
            opts,
            starts: 0,
            stdout_lines: Default::default(),
            init_stdout: String::new(),
            root,
        };
        if s.opts.operator_init {
            let data = s.data_dir.to_str().unwrap().to_string();
            let out = run_coffer(
                s.root.path(),
                &["operator", "init", "--data-dir", &data],
                &[],
            );
            assert!(
                out.status.success(),
                "operator init: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            s.init_stdout = String::from_utf8(out.stdout).unwrap();
        }
        if let Some(from) = s.opts.data_from.clone() {
            use std::os::unix::fs::PermissionsExt;
            fs::create_dir_all(&s.data_dir).unwrap();
            fs::set_permissions(&s.data_dir, fs::Permissions::from_mode(0o700)).unwrap();
            for name in ["root-key", "root-credentials"] {
                let to = s.data_dir.join(name);
                fs::copy(from.join(name), &to).unwrap();
                fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        let data = s.data_dir.to_str().unwrap().to_string();
        for command in s.opts.setup.clone() {
            let args: Vec<String> = command.iter().map(|a| a.replace("{data}", &data)).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run_coffer(s.root.path(), &args, &[]);
            assert!(
                out.status.success(),
                "coffer {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            s.init_stdout
                .push_str(&String::from_utf8(out.stdout).unwrap());
        }
        s.spawn();
        s
    }

    /// The options of the next start (a config or environment changed between restarts).
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.opts
    }

    /// The server's own directory (config file, certificates, logs; the data dir is `data`).
    pub fn dir(&self) -> &Path {
        self.root.path()
    }

    /// How a TLS client reaches this server (trusting the test CA; the client certificate).
    pub fn client_tls(&self) -> Option<pki::ClientTls> {
        self.opts.ca_pem.as_ref().map(|ca| pki::ClientTls {
            ca_pem: ca.clone(),
            client: self.opts.client_cert.clone(),
            alpn: Vec::new(),
        })
    }

    /// A stdout line after the listening line that starts with `prefix` (waits up to 30 s).
    pub fn stdout_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self
                .stdout_lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.starts_with(prefix))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no stdout line starting with {prefix:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET path` over this server's transport (TLS when it has a certificate).
    pub fn get(&self, path: &str) -> RawResponse {
        self.raw("GET", path, &[], b"")
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        self.starts += 1;
        self.log_path = self
            .root
            .path()
            .join(format!("server-{}.stderr.log", self.starts));
        let log = fs::File::create(&self.log_path).expect("create log file");
        for (name, content) in &self.opts.files {
            fs::write(self.root.path().join(name), content).expect("write a server file");
        }
        let mut cmd = Command::new(server_binary());
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(if self.opts.memory {
                Path::new(":memory:")
            } else {
                self.data_dir.as_path()
            })
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // The server's own environment knobs must not leak in from the caller.
        for (k, _) in std::env::vars() {
            if k.starts_with("COFFER_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        // Every answer is checked against the service model; Drop fails the test on a mismatch.
        cmd.env("COFFER_CHECK_RESPONSES", "true");
        if self.opts.dev {
            cmd.arg("--dev");
        }
        if let Some(acct) = &self.opts.dev_account {
            cmd.arg("--dev-account").arg(acct);
        }
        if let Some(toml) = &self.opts.rotators {
            let path = self.root.path().join("rotators.toml");
            fs::write(&path, toml).expect("write rotators file");
            cmd.arg("--rotators").arg(path);
        }
        if let Some(toml) = &self.opts.config {
            let path = self.root.path().join("coffer.toml");
            fs::write(&path, toml).expect("write config file");
            cmd.arg("--config").arg(path);
        }
        cmd.args(&self.opts.extra_args);
        if let Some(level) = &self.opts.rust_log {
            cmd.env("RUST_LOG", level);
        }
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn coffer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<Result<String, String>>();
        let lines = self.stdout_lines.clone();
        lines.lock().unwrap().clear();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => {
                    let _ = tx.send(Err("stdout closed before the listening line".into()));
                    return;
                }
                Ok(_) => {
                    let _ = tx.send(Ok(line.trim_end().to_string()));
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("reading stdout: {e}")));
                    return;
                }
            }
            // Keep draining so the child never blocks on a full pipe.
            for l in reader.lines() {
                match l {
                    Ok(l) => lines.lock().unwrap().push(l),
                    Err(_) => break,
                }
            }
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "coffer did not start ({e}; exit status {status:?}); stderr:\n{}",
                    read_tail(&self.log_path, 8000)
                );
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "coffer printed no listening line within {START_TIMEOUT:?}; stderr:\n{}",
                    read_tail(&self.log_path, 8000)
                );
            }
        };
        let scheme = if self.opts.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        let prefix = format!("coffer listening on {scheme}://");
        let rest = line.strip_prefix(&prefix).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("unexpected first stdout line {line:?}, want `{prefix}127.0.0.1:PORT`")
        });
        let port: u16 = rest
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("cannot parse port from {line:?}"));
        assert_ne!(port, 0, "server reported port 0");
        self.addr = format!("127.0.0.1:{port}");
        self.endpoint = format!("{scheme}://{}", self.addr);
        self.child = Some(child);
        let health = self
            .try_raw("GET", "/_coffer/health", &[], b"")
            .unwrap_or_else(|e| panic!("health check after listening line failed: {e}"));
        assert_eq!(
            health.status,
            200,
            "GET /_coffer/health: {}",
            health.body_str()
        );
        let v = health.json();
        assert_eq!(v["status"], "ready", "health body {v}");
        let _ = started;
    }

    /// `kill -9` the server (no chance to flush or clean up).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL coffer");
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait (bounded, 20 s) for the exit; SIGKILL and `None` if it does not stop.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                None
            }
        }
    }

    /// Sends `signal` (`HUP`, `TERM`, `INT`, …) to the server.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid();
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{signal} {pid}");
    }

    /// Waits (bounded) for the server to exit after a signal; `None` if it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start again on the same data dir (after [`Server::kill9`] or [`Server::terminate`]).
    /// The port changes: build new clients afterwards.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// `kill -9` and start again on the same data dir.
    pub fn crash_restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    pub fn is_dev(&self) -> bool {
        self.opts.dev
    }

    /// The stderr log of the current (latest) process.
    pub fn log(&self) -> String {
        read_tail(&self.log_path, 16000)
    }

    /// All stderr logs of all processes of this server so far.
    pub fn all_logs(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 1..=self.starts {
            let p = self.root.path().join(format!("server-{i}.stderr.log"));
            if let Ok(b) = fs::read(p) {
                out.extend_from_slice(&b);
            }
        }
        out
    }

    pub fn root_credentials_path(&self) -> PathBuf {
        self.data_dir.join("root-credentials")
    }

    /// `(access key id, secret access key)` from `<data-dir>/root-credentials`.
    pub fn root_credentials(&self) -> (String, String) {
        let text = fs::read_to_string(self.root_credentials_path()).expect("read root-credentials");
        parse_credentials(&text)
    }

    /// Credentials a client should use: the root credentials, or dev ones on a `--dev` server.
    pub fn creds(&self) -> (String, String) {
        if self.opts.dev {
            (DEV_AK.to_string(), DEV_SK.to_string())
        } else {
            self.root_credentials()
        }
    }

    pub fn kms(&self, region: &str) -> aws_sdk_kms::Client {
        let (ak, sk) = self.creds();
        self.kms_as(region, &ak, &sk)
    }

    pub fn kms_as(&self, region: &str, ak: &str, sk: &str) -> aws_sdk_kms::Client {
        self.kms_with(region, Credentials::new(ak, sk, None, None, "test"))
    }

    /// A KMS client with any credentials (temporary ones with their session token).
    pub fn kms_with(&self, region: &str, creds: Credentials) -> aws_sdk_kms::Client {
        {
            let mut b = aws_sdk_kms::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region.to_string()))
                .endpoint_url(&self.endpoint)
                .credentials_provider(creds)
                .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
                .timeout_config(timeouts());
            b.set_http_client(self.sdk_http());
            aws_sdk_kms::Client::from_conf(b.build())
        }
    }

    pub fn secrets(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        let (ak, sk) = self.creds();
        self.secrets_as(region, &ak, &sk)
    }

    pub fn secrets_as(&self, region: &str, ak: &str, sk: &str) -> aws_sdk_secretsmanager::Client {
        self.secrets_with(region, Credentials::new(ak, sk, None, None, "test"))
    }

    /// A Secrets Manager client with any credentials (temporary ones with their session token).
    pub fn secrets_with(&self, region: &str, creds: Credentials) -> aws_sdk_secretsmanager::Client {
        {
            let mut b = aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new(
                    region.to_string(),
                ))
                .endpoint_url(&self.endpoint)
                .credentials_provider(creds)
                .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
                .timeout_config(timeouts());
            b.set_http_client(self.sdk_http());
            aws_sdk_secretsmanager::Client::from_conf(b.build())
        }
    }

    /// An IAM client (us-east-1, IAM's signing Region) with the server's own credentials.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let (ak, sk) = self.creds();
        self.iam_as(&ak, &sk)
    }

    /// An IAM client signing with an access key (a user's).
    pub fn iam_as(&self, ak: &str, sk: &str) -> aws_sdk_iam::Client {
        self.iam_with(Credentials::new(ak, sk, None, None, "test"))
    }

    /// An IAM client with any credentials (temporary ones with their session token).
    pub fn iam_with(&self, creds: Credentials) -> aws_sdk_iam::Client {
        let mut b = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds)
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .timeout_config(timeouts());
        b.set_http_client(self.sdk_http());
        aws_sdk_iam::Client::from_conf(b.build())
    }

    pub fn sts(&self, region: &str) -> aws_sdk_sts::Client {
        let (ak, sk) = self.creds();
        self.sts_as(region, &ak, &sk)
    }

    pub fn sts_as(&self, region: &str, ak: &str, sk: &str) -> aws_sdk_sts::Client {
        self.sts_with(region, Credentials::new(ak, sk, None, None, "test"))
    }

    /// An STS client with any credentials (temporary ones with their session token).
    pub fn sts_with(&self, region: &str, creds: Credentials) -> aws_sdk_sts::Client {
        {
            let mut b = aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new(region.to_string()))
                .endpoint_url(&self.endpoint)
                .credentials_provider(creds)
                .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
                .timeout_config(timeouts());
            b.set_http_client(self.sdk_http());
            aws_sdk_sts::Client::from_conf(b.build())
        }
    }

    /// The account ID that STS reports for the client credentials.
    pub async fn account_id(&self) -> String {
        let out = self
            .sts(PRIMARY)
            .get_caller_identity()
            .send()
            .await
            .expect("GetCallerIdentity");
        out.account().expect("Account").to_string()
    }

    /// A raw HTTP request to this server.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        self.try_raw(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}; server log:\n{}", self.log()))
    }

    /// A raw request over this server's transport; the I/O error if it fails.
    pub fn try_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<RawResponse> {
        match self.client_tls() {
            Some(tls) => pki::https(&self.addr, &tls, method, path, headers, body),
            None => http(&self.addr, method, path, headers, body),
        }
    }

    /// The HTTP client the SDK clients use: one trusting the test CA on a TLS server.
    fn sdk_http(&self) -> Option<aws_sdk_kms::config::SharedHttpClient> {
        self.opts.ca_pem.as_deref().map(pki::sdk_http_client)
    }

    /// A SigV4-signed AWS JSON 1.1 request (`X-Amz-Target: target`).
    pub fn signed_json(&self, req: SignedJson<'_>) -> RawResponse {
        let (ak, sk) = match (req.access_key, req.secret_key) {
            (Some(a), Some(s)) => (a.to_string(), s.to_string()),
            _ => self.creds(),
        };
        let host = self.addr.clone();
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), req.target.clone()),
        ];
        let signing = sigv4_headers(
            &headers,
            "POST",
            "/",
            req.body,
            &ak,
            &sk,
            req.region,
            req.service,
            req.time.unwrap_or_else(SystemTime::now),
        );
        headers.extend(signing);
        let hdrs: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| k != "host")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.raw("POST", "/", &hdrs, req.body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- coffer stderr ({}) ----\n{}",
                self.log_path.display(),
                self.log()
            );
            return;
        }
        let log = String::from_utf8_lossy(&self.all_logs()).into_owned();
        let mismatches: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("answer does not match the service model"))
            .collect();
        assert!(
            mismatches.is_empty(),
            "the server answered outside the service model:\n{}",
            mismatches.join("\n")
        );
    }
}

/// Parameters of [`Server::signed_json`].
pub struct SignedJson<'a> {
    pub target: String,
    pub body: &'a [u8],
    pub region: &'a str,
    pub service: &'a str,
    pub access_key: Option<&'a str>,
    pub secret_key: Option<&'a str>,
    pub time: Option<SystemTime>,
}

impl<'a> SignedJson<'a> {
    /// A KMS request in eu-central-1 with the server's own credentials, signed now.
    pub fn kms(op: &'a str, body: &'a [u8]) -> Self {
        SignedJson {
            target: format!("TrentService.{op}"),
            body,
            region: PRIMARY,
            service: "kms",
            access_key: None,
            secret_key: None,
            time: None,
        }
    }

    pub fn secrets(op: &'a str, body: &'a [u8]) -> Self {
        SignedJson {
            target: format!("secretsmanager.{op}"),
            body,
            region: PRIMARY,
            service: "secretsmanager",
            access_key: None,
            secret_key: None,
            time: None,
        }
    }

    pub fn with_creds(mut self, ak: &'a str, sk: &'a str) -> Self {
        self.access_key = Some(ak);
        self.secret_key = Some(sk);
        self
    }

    pub fn at(mut self, t: SystemTime) -> Self {
        self.time = Some(t);
        self
    }
}

/// Runs `coffer ARGS` to completion in `dir` with only `env` from the `COFFER_*` family; at
/// most 60 s.
pub fn run_coffer(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(server_binary());
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("COFFER_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coffer");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("coffer {args:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SigV4 headers (`x-amz-date`, `authorization`, …) for a request with these headers.
#[allow(clippy::too_many_arguments)]
pub fn sigv4_headers(
    headers: &[(String, String)],
    method: &str,
    path: &str,
    body: &[u8],
    ak: &str,
    sk: &str,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity = Credentials::new(ak, sk, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let host = headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "localhost".into());
    let uri = format!("http://{host}{path}");
    let signable = SignableRequest::new(
        method,
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .expect("signable request");
    let (instructions, _sig) = sign(signable, &params).expect("sign").into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether the AWS CLI is installed (tests that drive it skip with a message otherwise).
pub fn have_aws_cli() -> bool {
    Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the AWS CLI against `server` with only the credentials given in `env` (no profile,
/// no shared files, no instance metadata), JSON output.
pub fn aws_cli(server: &Server, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new("aws");
    cmd.args(args)
        .args(["--endpoint-url", &server.endpoint, "--output", "json"])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("aws")
}

fn timeouts() -> aws_sdk_kms::config::timeout::TimeoutConfig {
    aws_sdk_kms::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

pub fn parse_credentials(text: &str) -> (String, String) {
    let mut ak = None;
    let mut sk = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k.trim() {
            "aws_access_key_id" => ak = Some(v.trim().to_string()),
            "aws_secret_access_key" => sk = Some(v.trim().to_string()),
            _ => {}
        }
    }
    (
        ak.unwrap_or_else(|| panic!("no aws_access_key_id in {text:?}")),
        sk.expect("no aws_secret_access_key in root-credentials"),
    )
}

pub fn read_tail(path: &Path, max: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Last `max` characters of a string (on a char boundary).
pub fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = s.len() - max;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

// ---------------------------------------------------------------------------------------
// Raw HTTP/1.1
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): status {} body {:?}",
                self.status,
                self.body_str()
            )
        })
    }

    /// The AWS error code: `__type` without any `namespace#` prefix, else `x-amzn-ErrorType`.
    pub fn error_code(&self) -> String {
        let from_body = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("__type").and_then(|t| t.as_str()).map(str::to_string));
        let raw = from_body
            .or_else(|| self.header("x-amzn-errortype").map(str::to_string))
            .unwrap_or_default();
        let raw = raw.split(':').next().unwrap_or_default();
        raw.rsplit('#').next().unwrap_or_default().to_string()
    }

    /// The error message (`message` or `Message`).
    pub fn error_message(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v.get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// One HTTP/1.1 request with `Connection: close`; reads the whole response.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    parse_response(&buf)
}

/// Sends a request whose body is `body_len` bytes of `fill`, writing from one thread while
/// reading the response on another, so a server that answers early (413) is seen even if
/// it closes the connection before the body is complete. Returns the status line's code,
/// or the I/O error if no response came.
pub fn http_streaming_upload(
    addr: &str,
    head_headers: &[(&str, &str)],
    path: &str,
    body_len: usize,
    fill: u8,
) -> Result<RawResponse, String> {
    let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in head_headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {body_len}\r\n\r\n"));
    let w = std::thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(head.as_bytes())?;
        let chunk = vec![fill; 64 * 1024];
        let mut left = body_len;
        while left > 0 {
            let n = left.min(chunk.len());
            writer.write_all(&chunk[..n])?;
            left -= n;
        }
        writer.flush()
    });
    let mut reader = stream;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let read_err = loop {
        match reader.read(&mut tmp) {
            Ok(0) => break None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) => break Some(e),
        }
    };
    let _ = w.join();
    if buf.is_empty() {
        return Err(format!("no response bytes; read error: {read_err:?}"));
    }
    parse_response(&buf).map_err(|e| e.to_string())
}

pub(crate) fn parse_response(buf: &[u8]) -> std::io::Result<RawResponse> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let raw_body = &buf[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        decode_chunked(raw_body).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        raw_body[..len.min(raw_body.len())].to_vec()
    } else {
        raw_body.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size {
            out.extend_from_slice(b);
            return Some(out);
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

// ---------------------------------------------------------------------------------------
// Assertions and small helpers
// ---------------------------------------------------------------------------------------

/// Asserts that an SDK call failed with this AWS error code and a 4xx status; returns
/// the error for further checks.
#[track_caller]
pub fn expect_err<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
    code: &str,
) -> SdkError<E, HttpResponse> {
    let e = match r {
        Ok(v) => panic!("expected {code}, got success: {v:?}"),
        Err(e) => e,
    };
    let status = e.raw_response().map(|r| r.status().as_u16());
    assert_eq!(
        e.code(),
        Some(code),
        "expected error code {code}; got {:?} (status {status:?}, message {:?}): {e:?}",
        e.code(),
        e.message()
    );
    assert!(
        matches!(status, Some(400..=499)),
        "{code} should be a 4xx, got {status:?}"
    );
    e
}

/// Asserts that an SDK call failed with some 4xx (any code); returns the error.
#[track_caller]
pub fn expect_client_err<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
) -> SdkError<E, HttpResponse> {
    let e = match r {
        Ok(v) => panic!("expected a client error, got success: {v:?}"),
        Err(e) => e,
    };
    let status = e.raw_response().map(|r| r.status().as_u16());
    assert!(
        matches!(status, Some(400..=499)),
        "expected a 4xx, got {status:?} ({:?}: {:?}): {e:?}",
        e.code(),
        e.message()
    );
    e
}

/// Polls `f` until it returns `Some`, at most `timeout`; for state AWS documents as
/// eventually reached (replica keys become Enabled, replica secrets catch up).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(5);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// A name unique within this test process run.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), t & 0xffff_ffff)
}

pub fn is_hex_lower(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// `mrk-` followed by 32 lowercase hex digits.
pub fn is_mrk_id(id: &str) -> bool {
    id.strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && is_hex_lower(h))
}

/// A UUID in its canonical lowercase 8-4-4-4-12 form.
pub fn is_uuid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && is_hex_lower(p))
}

pub fn is_account_id(a: &str) -> bool {
    a.len() == 12 && a.chars().all(|c| c.is_ascii_digit())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn b64encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

pub fn b64decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for entry in rd.flatten() {
            let p = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
