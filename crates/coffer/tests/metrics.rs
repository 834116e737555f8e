//! Metrics scraped by a real Prometheus server (Debian package `prometheus`, started here on
//! loopback with a 1 s scrape interval) and asserted through its query API; the text format on
//! the API listener and on a listener of its own; bounded labels; the health probes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROTATOR_ARN: &str = "arn:aws:lambda:eu-central-1:000000000000:function:pw";

struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn prometheus_binary() -> Option<String> {
    ["prometheus", "/usr/bin/prometheus"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .map(str::to_string)
}

impl Prometheus {
    fn start(bin: &str, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: coffer\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http(&p.addr, "GET", "/-/ready", &[], b"")
            .map(|r| r.status)
            .ok()
            != Some(200)
        {
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// The first sample of an instant query, once it has one (polls up to 60 s).
    fn value(&self, query: &str) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        loop {
            let r = http(
                &self.addr,
                "GET",
                &format!("/api/v1/query?query={q}"),
                &[],
                b"",
            )
            .unwrap();
            let v = r.json();
            assert_eq!(v["status"], "success", "{query}: {v}");
            if let Some(s) = v["data"]["result"].as_array().and_then(|a| a.first()) {
                return s["value"][1].as_str().unwrap().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "no sample for {query}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The number of series an instant query returns now.
    fn count(&self, query: &str) -> usize {
        let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let r = http(
            &self.addr,
            "GET",
            &format!("/api/v1/query?query={q}"),
            &[],
            b"",
        )
        .unwrap();
        r.json()["data"]["result"].as_array().unwrap().len()
    }

    /// Waits until `query` is at least `min`.
    fn at_least(&self, query: &str, min: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.value(query);
            if v >= min {
                return v;
            }
            assert!(Instant::now() < deadline, "{query} = {v}, want >= {min}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn metrics_server() -> Server {
    Server::start(Options {
        dev: true,
        config: Some(format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n[[rotators.rotator]]\nkind = \"random-password\"\narn = \"{ROTATOR_ARN}\"\n"
        )),
        ..Options::default()
    })
}

fn metrics_addr(server: &Server) -> String {
    server
        .stdout_line("coffer metrics listening on http://")
        .trim_start_matches("coffer metrics listening on http://")
        .to_string()
}

/// Some traffic: successes, an AWS error, unknown operations, a rotation.
async fn traffic(server: &Server) {
    let kms = server.kms(PRIMARY);
    let id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    for _ in 0..5 {
        kms.encrypt()
            .key_id(&id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(b"m".to_vec()))
            .send()
            .await
            .unwrap();
    }
    expect_err(
        kms.describe_key()
            .key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );
    // Client-chosen operation names never become labels.
    for i in 0..20 {
        let r = server.signed_json(SignedJson::kms(&format!("Garbage{i}"), b"{}"));
        assert_eq!(r.status, 400);
    }
    let sm = server.secrets(PRIMARY);
    sm.create_secret()
        .name("m/secret")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    sm.get_secret_value()
        .secret_id("m/secret")
        .send()
        .await
        .unwrap();
    sm.rotate_secret()
        .secret_id("m/secret")
        .rotation_lambda_arn(ROTATOR_ARN)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .unwrap();
    server
        .sts(PRIMARY)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_coffer() {
    let Some(bin) = prometheus_binary() else {
        println!("skipping: prometheus not installed (apt-get install -y prometheus)");
        return;
    };
    let server = metrics_server();
    let maddr = metrics_addr(&server);
    traffic(&server).await;
    let prom = Prometheus::start(&bin, &maddr);

    assert_eq!(prom.value(r#"up{job="coffer"}"#), 1.0);
    prom.at_least(
        r#"coffer_requests_total{service="kms",operation="CreateKey",outcome="ok"}"#,
        1.0,
    );
    prom.at_least(
        r#"coffer_requests_total{service="kms",operation="Encrypt",outcome="ok"}"#,
        5.0,
    );
    prom.at_least(
        r#"coffer_requests_total{service="kms",operation="DescribeKey",outcome="NotFoundException"}"#,
        1.0,
    );
    prom.at_least(
        r#"coffer_requests_total{service="kms",operation="unknown",outcome="UnknownOperationException"}"#,
        20.0,
    );
    assert_eq!(
        prom.count(r#"coffer_requests_total{operation=~"Garbage.*"}"#),
        0
    );
    prom.at_least(
        r#"coffer_requests_total{service="sts",operation="GetCallerIdentity",outcome="ok"}"#,
        1.0,
    );
    prom.at_least(
        r#"sum(coffer_request_duration_seconds_count{service="secretsmanager",operation="GetSecretValue"})"#,
        1.0,
    );
    let p99 = prom.value(
        r#"histogram_quantile(0.99, sum by (le) (coffer_request_duration_seconds_bucket{operation="Encrypt"}))"#,
    );
    assert!(p99 > 0.0, "p99 {p99}");
    // The key made above and the AWS managed key aws/secretsmanager that the secret made.
    assert_eq!(prom.value(r#"coffer_kms_keys{state="Enabled"}"#), 2.0);
    assert_eq!(
        prom.value(r#"coffer_kms_keys{state="PendingDeletion"}"#),
        0.0
    );
    assert_eq!(prom.value(r#"coffer_secrets{state="Active"}"#), 1.0);
    prom.at_least(r#"coffer_rotation_runs_total{kind="secret"}"#, 1.0);
    prom.at_least("coffer_store_commit_duration_seconds_count", 1.0);
    prom.at_least(r#"coffer_scheduler_runs_total{outcome="success"}"#, 1.0);
    assert!(prom.value("coffer_scheduler_lag_seconds") >= 0.0);
    assert_eq!(prom.value("coffer_requests_in_flight"), 0.0);
    assert_eq!(prom.value(r#"coffer_build_info{version="0.1.0"}"#), 1.0);
    assert!(prom.value("process_resident_memory_bytes") > 0.0);
    assert!(prom.value("process_open_fds") > 0.0);
    // No key IDs, secret names, accounts or Regions among the label values.
    let r = http(&prom.addr, "GET", "/api/v1/labels", &[], b"").unwrap();
    let labels: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for l in &labels {
        assert!(
            [
                "__name__",
                "instance",
                "job",
                "service",
                "operation",
                "outcome",
                "le",
                "state",
                "kind",
                "transport",
                "version",
                "commit",
                "target",
                "quantile"
            ]
            .contains(&l.as_str()),
            "unexpected label {l}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_text_and_listeners() {
    // On its own listener: not on the API listener.
    let server = metrics_server();
    let maddr = metrics_addr(&server);
    traffic(&server).await;
    let r = http(&maddr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = r.body_str();
    for name in [
        "coffer_requests_total{",
        "coffer_request_duration_seconds_bucket{",
        "coffer_requests_in_flight",
        "coffer_store_commit_duration_seconds_bucket",
        "coffer_kms_keys{state=\"Enabled\"} 2",
        "coffer_secrets{state=\"Active\"} 1",
        "coffer_rotation_runs_total{kind=\"secret\"} 1",
        "coffer_scheduler_lag_seconds",
        "coffer_build_info{",
        "process_cpu_seconds_total",
        "# HELP coffer_requests_total",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(!text.contains("Garbage"));
    assert!(!text.contains("m/secret"));
    assert_eq!(
        http(&maddr, "GET", "/_coffer/health/live", &[], b"")
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        http(&maddr, "GET", "/_coffer/health/ready", &[], b"")
            .unwrap()
            .status,
        200
    );
    assert_ne!(
        server.get("/metrics").status,
        200,
        "metrics also on the API listener"
    );

    // Default: on the API listener.
    let plain = Server::dev();
    let r = plain.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("coffer_build_info"));

    // Off.
    let off = Server::start(Options {
        dev: true,
        config: Some("[metrics]\nenabled = false\n".into()),
        ..Options::default()
    });
    assert_ne!(off.get("/metrics").status, 200);
}

#[test]
fn health_probes() {
    let server = Server::secure();
    let live = server.get("/_coffer/health/live");
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["status"], "live");
    let ready = server.get("/_coffer/health/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");
    let old = server.get("/_coffer/health");
    assert_eq!(old.status, 200);
    assert_eq!(old.json()["status"], "ready");
}
