//! TLS: the AWS SDK for Rust, the AWS CLI (`--ca-bundle`) and boto3 against a test CA made in
//! the test; HTTP/2 by ALPN; bad certificates refused at start-up with one line; a plaintext
//! request to the TLS port refused cleanly; SIGHUP and file-change reloads that keep open
//! connections; mutual TLS; `aws:SecureTransport` true exactly over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pki::{self, ClientTls, TestCa};
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn tls_options(ca: &TestCa, extra_tls: &str) -> Options {
    let pem = ca.server();
    Options {
        config: Some(format!(
            "[tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\n{extra_tls}\n"
        )),
        files: vec![
            ("server.crt".into(), pem.cert),
            ("server.key".into(), pem.key),
            ("ca.crt".into(), ca.cert_pem.clone()),
        ],
        ca_pem: Some(ca.cert_pem.clone()),
        ..Options::default()
    }
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_sdk_over_tls_with_a_test_ca() {
    let ca = TestCa::new("coffer test CA");
    let server = Server::start(tls_options(&ca, ""));
    assert!(server.endpoint.starts_with("https://127.0.0.1:"));
    let kms = server.kms(PRIMARY);
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let ct = kms
        .encrypt()
        .key_id(&id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"over tls".to_vec()))
        .send()
        .await
        .unwrap();
    let pt = kms
        .decrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"over tls");
    let sm = server.secrets(PRIMARY);
    sm.create_secret()
        .name("tls/secret")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let v = sm
        .get_secret_value()
        .secret_id("tls/secret")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("v"));
    let account = server.account_id().await;
    assert!(is_account_id(&account));

    // A client that does not trust the test CA is refused by its own TLS stack.
    let untrusted = ClientTls::trusting(&TestCa::new("other").cert_pem);
    assert!(pki::connect(&server.addr, &untrusted).is_err());
}

#[test]
fn http2_by_alpn_and_http11() {
    let ca = TestCa::new("ca");
    let server = Server::start(Options {
        dev: true,
        ..tls_options(&ca, "")
    });
    let mut tls = server.client_tls().unwrap();
    tls.alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let s = pki::connect(&server.addr, &tls).unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    tls.alpn = vec![b"http/1.1".to_vec()];
    let mut s = pki::connect(&server.addr, &tls).unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    pki::write_request(
        &mut s,
        &server.addr,
        "GET",
        "/_coffer/health/live",
        &[],
        b"",
        true,
    )
    .unwrap();
    assert_eq!(pki::read_response(&mut s).unwrap().status, 200);

    // TLS 1.2 is served too.
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates({
        let mut r = rustls::RootCertStore::empty();
        use rustls_pki_types::pem::PemObject;
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca.cert_pem.as_bytes()) {
            r.add(c.unwrap()).unwrap();
        }
        r
    })
    .with_no_client_auth();
    let tcp = std::net::TcpStream::connect(&server.addr).unwrap();
    let conn = rustls::ClientConnection::new(
        std::sync::Arc::new(cfg),
        rustls_pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    pki::write_request(
        &mut s,
        &server.addr,
        "GET",
        "/_coffer/health/live",
        &[],
        b"",
        true,
    )
    .unwrap();
    assert_eq!(pki::read_response(&mut s).unwrap().status, 200);
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[test]
fn aws_cli_with_ca_bundle() {
    if !have("aws", "--version") {
        println!("skipping: aws CLI not installed (python3 -m pip install awscli)");
        return;
    }
    let ca = TestCa::new("ca");
    let server = Server::start(tls_options(&ca, ""));
    let (ak, sk) = server.root_credentials();
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut c = Command::new("aws");
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env("HOME", home.path())
            .env("AWS_ACCESS_KEY_ID", &ak)
            .env("AWS_SECRET_ACCESS_KEY", &sk)
            .env("AWS_DEFAULT_REGION", PRIMARY)
            .arg("--endpoint-url")
            .arg(&server.endpoint)
            .arg("--ca-bundle")
            .arg(server.dir().join("ca.crt"))
            .args(args);
        c.output().unwrap()
    };
    let out = cli(&[
        "kms",
        "create-key",
        "--query",
        "KeyMetadata.KeyId",
        "--output",
        "text",
    ]);
    assert!(
        out.status.success(),
        "aws kms create-key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "cli-tls",
        "--secret-string",
        "s3cr3t",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "cli-tls",
        "--query",
        "SecretString",
        "--output",
        "text",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "s3cr3t");
    // Without the CA bundle, the CLI refuses the certificate.
    let mut c = Command::new("aws");
    c.env("HOME", home.path())
        .env("AWS_ACCESS_KEY_ID", &ak)
        .env("AWS_SECRET_ACCESS_KEY", &sk)
        .env("AWS_DEFAULT_REGION", PRIMARY)
        .env_remove("AWS_CA_BUNDLE")
        .args(["--endpoint-url", &server.endpoint, "kms", "list-keys"]);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SSL"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn boto3_with_verify_ca() {
    let ok = Command::new("python3")
        .args(["-c", "import boto3"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        println!("skipping: python3 with boto3 not installed (python3 -m pip install boto3)");
        return;
    }
    let ca = TestCa::new("ca");
    let server = Server::start(tls_options(&ca, ""));
    let (ak, sk) = server.root_credentials();
    let script = r#"
import boto3, sys
endpoint, ca, ak, sk = sys.argv[1:5]
s = boto3.session.Session(aws_access_key_id=ak, aws_secret_access_key=sk, region_name="eu-central-1")
kms = s.client("kms", endpoint_url=endpoint, verify=ca)
key = kms.create_key()["KeyMetadata"]["KeyId"]
ct = kms.encrypt(KeyId=key, Plaintext=b"boto3")["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"boto3"
sm = s.client("secretsmanager", endpoint_url=endpoint, verify=ca)
sm.create_secret(Name="boto3-tls", SecretString="x")
assert sm.get_secret_value(SecretId="boto3-tls")["SecretString"] == "x"
sts = s.client("sts", endpoint_url=endpoint, verify=ca)
print(sts.get_caller_identity()["Account"])
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&server.endpoint)
        .arg(server.dir().join("ca.crt"))
        .arg(&ak)
        .arg(&sk)
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(is_account_id(String::from_utf8_lossy(&out.stdout).trim()));
}

/// `coffer serve` with this TLS config must fail with one line naming `needle`, creating no
/// data directory.
fn refused(files: &[(&str, &str)], tls_toml: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    std::fs::write(
        dir.path().join("coffer.toml"),
        format!("listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n[tls]\n{tls_toml}\n"),
    )
    .unwrap();
    let out = run_coffer(dir.path(), &["serve", "--config", "coffer.toml"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with {tls_toml}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    assert!(out.stdout.is_empty(), "printed {:?}", out.stdout);
    assert!(
        !dir.path().join("data").exists(),
        "the data dir was created"
    );
    // `coffer config check` finds the same problem.
    let out = run_coffer(
        dir.path(),
        &["config", "check", "--config", "coffer.toml"],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
}

#[test]
fn bad_certificates_are_one_line_errors() {
    let ca = TestCa::new("ca");
    let a = ca.server();
    let b = ca.server();
    let expired = ca.expired_server();
    let pair = "cert_file = \"a.crt\"\nkey_file = \"b.key\"";
    refused(
        &[("a.crt", &a.cert), ("b.key", &b.key)],
        pair,
        "does not belong to the certificate",
    );
    refused(
        &[("a.key", &a.key)],
        "cert_file = \"missing.crt\"\nkey_file = \"a.key\"",
        "cannot read certificate file missing.crt",
    );
    // A directory is unreadable as a file, even for root.
    std::fs::create_dir_all(std::env::temp_dir()).unwrap();
    refused(
        &[("a.crt", &a.cert)],
        "cert_file = \"a.crt\"\nkey_file = \".\"",
        "cannot read key file .",
    );
    refused(
        &[("e.crt", &expired.cert), ("e.key", &expired.key)],
        "cert_file = \"e.crt\"\nkey_file = \"e.key\"",
        "certificate expired on",
    );
    refused(
        &[("junk.crt", "not a certificate"), ("a.key", &a.key)],
        "cert_file = \"junk.crt\"\nkey_file = \"a.key\"",
        "no PEM certificate",
    );
    refused(
        &[("a.crt", &a.cert), ("a.key", &a.key)],
        "cert_file = \"a.crt\"",
        "key_file is not",
    );
}

#[test]
fn plaintext_request_to_the_tls_port_is_refused_cleanly() {
    let ca = TestCa::new("ca");
    let server = Server::start(tls_options(&ca, ""));
    let r = http(&server.addr, "GET", "/_coffer/health", &[], b"").unwrap();
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("speaks TLS"), "{}", r.body_str());
    // Still serving TLS.
    assert_eq!(server.get("/_coffer/health/ready").status, 200);
}

fn peer_cert(server: &Server) -> Vec<u8> {
    let s = pki::connect(&server.addr, &server.client_tls().unwrap()).unwrap();
    s.conn.peer_certificates().unwrap()[0].to_vec()
}

fn wait_for_cert(server: &Server, want_not: &[u8], what: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = peer_cert(server);
        if now != want_not {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: certificate not swapped; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_swaps_the_certificate_without_dropping_connections() {
    let ca = TestCa::new("ca");
    let server = Server::start(Options {
        dev: true,
        rust_log: Some("info".into()),
        ..tls_options(&ca, "reload_interval = \"0s\"")
    });
    let before = peer_cert(&server);
    // A keep-alive connection made with the old certificate.
    let mut open = pki::connect(&server.addr, &server.client_tls().unwrap()).unwrap();
    pki::write_request(
        &mut open,
        &server.addr,
        "GET",
        "/_coffer/health/live",
        &[],
        b"",
        false,
    )
    .unwrap();
    assert_eq!(pki::read_response(&mut open).unwrap().status, 200);

    let next = ca.server();
    next.write(server.dir(), "server");
    server.signal("HUP");
    let after = wait_for_cert(&server, &before, "SIGHUP");
    assert_ne!(before, after);
    // The old connection still serves.
    pki::write_request(
        &mut open,
        &server.addr,
        "GET",
        "/_coffer/health/live",
        &[],
        b"",
        false,
    )
    .unwrap();
    assert_eq!(pki::read_response(&mut open).unwrap().status, 200);

    // A reload that fails keeps the certificate in use and says why.
    std::fs::write(server.dir().join("server.key"), "garbage").unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("TLS certificate reload failed") {
        assert!(
            Instant::now() < deadline,
            "no reload failure logged:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.log().contains("server.key"), "{}", server.log());
    assert_eq!(peer_cert(&server), after);
    assert_eq!(server.get("/_coffer/health/ready").status, 200);
}

#[test]
fn a_changed_certificate_file_is_reloaded() {
    let ca = TestCa::new("ca");
    let server = Server::start(Options {
        dev: true,
        ..tls_options(&ca, "reload_interval = \"100ms\"")
    });
    let before = peer_cert(&server);
    // As cert-manager and ACME clients do: write new files, rename them into place.
    let next = ca.server();
    let tmp = server.dir().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let (c, k) = next.write(&tmp, "server");
    std::fs::rename(k, server.dir().join("server.key")).unwrap();
    std::fs::rename(c, server.dir().join("server.crt")).unwrap();
    let after = wait_for_cert(&server, &before, "file change");
    assert_ne!(before, after);
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate() {
    let ca = TestCa::new("server ca");
    let clients = TestCa::new("client ca");
    let mut opts = tls_options(&ca, "client_ca_file = \"clients.crt\"");
    opts.dev = true;
    opts.files
        .push(("clients.crt".into(), clients.cert_pem.clone()));
    opts.client_cert = Some(clients.client("app"));
    let server = Server::start(opts);
    assert_eq!(server.get("/_coffer/health/ready").status, 200);

    let without = ClientTls::trusting(&ca.cert_pem);
    let r = pki::https(
        &server.addr,
        &without,
        "GET",
        "/_coffer/health/live",
        &[],
        b"",
    );
    assert!(r.is_err(), "served a client without a certificate: {r:?}");

    let stranger = ClientTls {
        client: Some(TestCa::new("stranger").client("x")),
        ..ClientTls::trusting(&ca.cert_pem)
    };
    let r = pki::https(
        &server.addr,
        &stranger,
        "GET",
        "/_coffer/health/live",
        &[],
        b"",
    );
    assert!(r.is_err(), "served a client of another CA: {r:?}");
}

/// A role session whose policy allows KMS only over TLS.
async fn session_kms(server: &Server) -> aws_sdk_kms::Client {
    let (ak, sk) = server.root_credentials();
    let account = server.account_id().await;
    let iam = aws_sdk_iam::Client::from_conf({
        let mut b = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&server.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                &ak, &sk, None, None, "t",
            ));
        b.set_http_client(server.client_tls().map(|t| pki::sdk_http_client(&t.ca_pem)));
        b.build()
    });
    iam.create_role()
        .role_name("tls-only")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("tls-only")
        .policy_name("p")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#)
        .send()
        .await
        .unwrap();
    let out = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/tls-only"))
        .role_session_name("tls-session")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    aws_sdk_kms::Client::from_conf({
        let mut b = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(PRIMARY))
            .endpoint_url(&server.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "session",
            ))
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled());
        b.set_http_client(server.client_tls().map(|t| pki::sdk_http_client(&t.ca_pem)));
        b.build()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn secure_transport_is_true_exactly_over_tls() {
    let ca = TestCa::new("ca");
    let tls = Server::start(tls_options(&ca, ""));
    session_kms(&tls).await.list_keys().send().await.unwrap();

    let plain = Server::secure();
    let err = session_kms(&plain).await.list_keys().send().await;
    expect_err(err, "AccessDeniedException");
}
