//! Workload identity (issue 13, ADR 0018): the seed's last step the realistic way. A
//! Kubernetes-style service-account token, signed by an OpenID Connect issuer this test runs on
//! loopback over HTTPS (its keys fetched by Coffer through `/.well-known/openid-configuration`),
//! is exchanged for the role's credentials with AssumeRoleWithWebIdentity (unsigned, as the SDKs
//! and the AWS CLI send it); with them the workload reads the replicated secret in eu-west-1 and
//! decrypts there what eu-central-1 encrypted. A second service account, whose role lacks the
//! managed policy, is denied with AWS's AccessDeniedException text. Bad tokens get AWS's
//! InvalidIdentityToken / ExpiredTokenException answers. A GitHub-Actions-style token (ES256)
//! verifies against a JWKS given in the configuration (air-gapped sites).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_credential_types::Credentials;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_secretsmanager::types::ReplicaRegionType;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A signing key of a test issuer.
enum Key {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

impl Key {
    fn rsa() -> Key {
        Key::Rsa(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
    }

    fn ec() -> Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        Key::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap())
    }

    fn alg(&self) -> &'static str {
        match self {
            Key::Rsa(_) => "RS256",
            Key::Ec(_) => "ES256",
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        match self {
            Key::Rsa(k) => {
                let c = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public_key());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": b64(&c.n), "e": b64(&c.e)})
            }
            Key::Ec(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..])})
            }
        }
    }

    /// A compact JWS of `claims`.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match self {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            Key::Ec(k) => k.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&sig))
    }

    fn token(&self, kid: &str, claims: &Value) -> String {
        self.sign(
            &json!({"alg": self.alg(), "kid": kid, "typ": "JWT"}),
            claims,
        )
    }
}

/// An OpenID Connect issuer on loopback over HTTPS: its discovery document and JWKS.
struct Issuer {
    /// `https://127.0.0.1:PORT/cluster`
    url: String,
    /// How many times the JWKS was fetched.
    jwks_fetches: Arc<AtomicUsize>,
    _thread: std::thread::JoinHandle<()>,
}

impl Issuer {
    fn start(ca: &pki::TestCa, jwks: Value) -> Issuer {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let pem = ca.server();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pem.cert.as_bytes())
                .map(|c| c.unwrap())
                .collect();
        let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/cluster", listener.local_addr().unwrap());
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let (issuer, fetches) = (url.clone(), jwks_fetches.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                let body = match path.as_str() {
                    "/cluster/.well-known/openid-configuration" => json!({
                        "issuer": issuer,
                        "jwks_uri": format!("{issuer}/openid/v1/jwks"),
                        "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    })
                    .to_string(),
                    "/cluster/openid/v1/jwks" => {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        jwks.to_string()
                    }
                    _ => String::new(),
                };
                let status = if body.is_empty() {
                    "404 Not Found"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    tls,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        Issuer {
            url,
            jwks_fetches,
            _thread: thread,
        }
    }

    /// The provider URL as IAM shows it (no scheme): also the condition keys' prefix.
    fn host_path(&self) -> &str {
        self.url.trim_start_matches("https://")
    }
}

/// A Kubernetes projected service-account token's claims.
fn service_account_claims(issuer: &str, namespace: &str, name: &str, exp: i64) -> Value {
    json!({
        "iss": issuer,
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "aud": ["sts.amazonaws.com"],
        "iat": now() - 5,
        "nbf": now() - 5,
        "exp": exp,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": "3c1e"}},
    })
}

fn web_identity_trust(provider_arn: &str, url: &str, sub_test: &str, sub: &str) -> String {
    let mut condition = json!({"StringEquals": {format!("{url}:aud"): "sts.amazonaws.com"}});
    condition[sub_test][format!("{url}:sub")] = sub.into();
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    }]})
    .to_string()
}

/// An STS client without credentials: AssumeRoleWithWebIdentity is sent unsigned.
fn anonymous_sts(server: &Server, region: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(region.to_string()))
            .endpoint_url(&server.endpoint)
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build(),
    )
}

async fn exchange(
    server: &Server,
    role_arn: &str,
    session: &str,
    token: &str,
) -> Result<
    aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput,
    aws_sdk_sts::error::SdkError<
        aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError,
    >,
> {
    anonymous_sts(server, REPLICA)
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(session)
        .web_identity_token(token)
        .send()
        .await
}

fn session_creds(
    out: &aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput,
) -> Credentials {
    let c = out.credentials().expect("Credentials");
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "web-identity",
    )
}

#[tokio::test]
async fn a_service_account_token_reads_the_replicated_secret_and_another_is_denied() {
    let ca = pki::TestCa::new("issuer-ca");
    let key = Key::rsa();
    let issuer = Issuer::start(&ca, json!({"keys": [key.jwk("k8s-1")]}));
    let server = Server::start(Options {
        config: Some("[web_identity]\nca_file = \"issuer-ca.crt\"\n".into()),
        files: vec![("issuer-ca.crt".into(), ca.cert_pem.clone())],
        ..Options::default()
    });
    let account = server.account_id().await;

    // Steps 1–4 of the story: a multi-Region key with its replica, a secret replicated under it.
    let kms = server.kms(PRIMARY);
    let key_id = kms
        .create_key()
        .multi_region(true)
        .description("secrets")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    kms.create_alias()
        .alias_name("alias/eu-central-1-secrets-manager")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    kms.replicate_key()
        .key_id(&key_id)
        .replica_region(REPLICA)
        .send()
        .await
        .unwrap();
    server
        .kms(REPLICA)
        .create_alias()
        .alias_name("alias/eu-west-1-secrets-manager")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let secret_arn = server
        .secrets(PRIMARY)
        .create_secret()
        .name("app/db")
        .kms_key_id("alias/eu-central-1-secrets-manager")
        .secret_string("s3cr3t")
        .add_replica_regions(
            ReplicaRegionType::builder()
                .region(REPLICA)
                .kms_key_id("alias/eu-west-1-secrets-manager")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let replica_arn = secret_arn.replace(PRIMARY, REPLICA);
    let ciphertext = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"made in frankfurt".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();

    // The cluster's issuer as an IAM OpenID Connect provider.
    let iam = server.iam();
    let provider_arn = iam
        .create_open_id_connect_provider()
        .url(&issuer.url)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await
        .unwrap()
        .open_id_connect_provider_arn()
        .unwrap()
        .to_string();
    assert_eq!(
        provider_arn,
        format!(
            "arn:aws:iam::{account}:oidc-provider/{}",
            issuer.host_path()
        )
    );
    let url = issuer.host_path().to_string();
    let reader_arn = iam
        .create_role()
        .role_name("reader")
        .assume_role_policy_document(web_identity_trust(
            &provider_arn,
            &url,
            "StringEquals",
            "system:serviceaccount:apps:reader",
        ))
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let policy_arn = iam
        .create_policy()
        .policy_name("read-app-secrets")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "secretsmanager:GetSecretValue"],
                "Resource": [
                    format!("arn:aws:kms:*:{account}:key/{key_id}"),
                    format!("arn:aws:secretsmanager:*:{account}:secret:app/db-*"),
                ],
            }]})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    iam.attach_role_policy()
        .role_name("reader")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    let nobody_arn = iam
        .create_role()
        .role_name("nobody")
        .assume_role_policy_document(web_identity_trust(
            &provider_arn,
            &url,
            "StringEquals",
            "system:serviceaccount:apps:nobody",
        ))
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();

    // The reader's token, exchanged unsigned for the role's credentials.
    let token = key.token(
        "k8s-1",
        &service_account_claims(&issuer.url, "apps", "reader", now() + 600),
    );
    let out = exchange(&server, &reader_arn, "reader-pod", &token)
        .await
        .unwrap();
    assert_eq!(
        out.subject_from_web_identity_token(),
        Some("system:serviceaccount:apps:reader")
    );
    assert_eq!(out.audience(), Some("sts.amazonaws.com"));
    assert_eq!(out.provider(), Some(issuer.url.as_str()));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{account}:assumed-role/reader/reader-pod")
    );
    let creds = session_creds(&out);
    let value = server
        .secrets_with(REPLICA, creds.clone())
        .get_secret_value()
        .secret_id(&replica_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("s3cr3t"));
    let plain = server
        .kms_with(REPLICA, creds.clone())
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"made in frankfurt");
    // The issuer's keys were fetched once and then served from the cache.
    exchange(&server, &reader_arn, "reader-pod-2", &token)
        .await
        .unwrap();
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);

    // A second service account: its role lacks the managed policy.
    let nobody_token = key.token(
        "k8s-1",
        &service_account_claims(&issuer.url, "apps", "nobody", now() + 600),
    );
    let out = exchange(&server, &nobody_arn, "nobody-pod", &nobody_token)
        .await
        .unwrap();
    let e = server
        .secrets_with(REPLICA, session_creds(&out))
        .get_secret_value()
        .secret_id(&replica_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert!(
        e.message().unwrap().contains(&format!(
            "User: arn:aws:sts::{account}:assumed-role/nobody/nobody-pod is not authorized to perform: secretsmanager:GetSecretValue on resource: "
        )),
        "{:?}",
        e.message()
    );
    // And it cannot take the reader's role: the trust policy names the reader's subject only.
    let e = exchange(&server, &reader_arn, "sneaky", &nobody_token)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    assert_eq!(
        e.message(),
        Some("Not authorized to perform sts:AssumeRoleWithWebIdentity")
    );

    // Bad tokens, each with AWS's answer.
    let claims = service_account_claims(&issuer.url, "apps", "reader", now() + 600);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        c
    };
    let expired = key.token("k8s-1", &with(&|c| c["exp"] = (now() - 60).into()));
    let e = exchange(&server, &reader_arn, "bad-1", &expired)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ExpiredTokenException"));
    assert!(e
        .message()
        .unwrap()
        .starts_with("Token expired: current date/time "));
    let wrong_audience = key.token("k8s-1", &with(&|c| c["aud"] = json!(["other"])));
    let e = exchange(&server, &reader_arn, "bad-1", &wrong_audience)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"));
    assert_eq!(e.message(), Some("Incorrect token audience"));
    let wrong_key = Key::rsa().token("k8s-1", &claims);
    let e = exchange(&server, &reader_arn, "bad-1", &wrong_key)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"));
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let e = exchange(&server, &reader_arn, "bad-1", &alg_none)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"));
    let e = exchange(&server, &reader_arn, "bad-1", "not-a-jwt")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"));
    assert_eq!(
        e.message(),
        Some("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    );
    let stranger = key.token(
        "k8s-1",
        &with(&|c| c["iss"] = "https://elsewhere.example".into()),
    );
    let e = exchange(&server, &reader_arn, "bad-1", &stranger)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"));
    assert_eq!(
        e.message(),
        Some("No OpenIDConnect provider found in your account for https://elsewhere.example")
    );

    // The AWS CLI, as a pod's entrypoint would use it.
    if !have_aws_cli() {
        eprintln!("SKIP the AWS CLI part: `aws` is not installed (pip install awscli)");
        return;
    }
    let out = aws_cli(
        &server,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &reader_arn,
            "--role-session-name",
            "cli-pod",
            "--web-identity-token",
            &token,
            "--region",
            REPLICA,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v["Credentials"];
    let env = [
        ("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            c["SecretAccessKey"].as_str().unwrap(),
        ),
        ("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap()),
    ];
    let out = aws_cli(
        &server,
        &[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            &replica_arn,
            "--region",
            REPLICA,
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["SecretString"], "s3cr3t");
    // The CLI's web identity provider: a token file and a role ARN in the environment.
    let token_file = server.dir().join("token");
    std::fs::write(&token_file, &nobody_token).unwrap();
    let out = aws_cli(
        &server,
        &[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            &replica_arn,
            "--region",
            REPLICA,
        ],
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_ROLE_ARN", &nobody_arn),
            ("AWS_ROLE_SESSION_NAME", "nobody-cli"),
            ("AWS_ENDPOINT_URL_STS", &server.endpoint),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AccessDeniedException")
            && stderr.contains("assumed-role/nobody/nobody-cli is not authorized"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_github_actions_token_verifies_against_a_configured_jwks() {
    let key = Key::ec();
    let issuer = "https://token.actions.githubusercontent.com";
    let jwks = json!({"keys": [key.jwk("gh-1")]}).to_string();
    let server = Server::start(Options {
        config: Some(format!(
            "[web_identity]\nfetch = false\n\n[[web_identity.issuer]]\nurl = \"{issuer}\"\njwks_file = \"github-jwks.json\"\n"
        )),
        files: vec![("github-jwks.json".into(), jwks)],
        ..Options::default()
    });
    let account = server.account_id().await;
    let iam = server.iam();
    let url = "token.actions.githubusercontent.com";

    // The provider's API: create, read, change, list, tag.
    let provider_arn = iam
        .create_open_id_connect_provider()
        .url(issuer)
        .client_id_list("sts.amazonaws.com")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("ci")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .open_id_connect_provider_arn()
        .unwrap()
        .to_string();
    assert_eq!(
        provider_arn,
        format!("arn:aws:iam::{account}:oidc-provider/{url}")
    );
    let e = iam
        .create_open_id_connect_provider()
        .url(issuer)
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("EntityAlreadyExists"));
    iam.add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider_arn)
        .client_id("extra")
        .send()
        .await
        .unwrap();
    iam.update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(&provider_arn)
        .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
        .send()
        .await
        .unwrap();
    let got = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.url(), Some(url));
    assert_eq!(got.client_id_list(), ["sts.amazonaws.com", "extra"]);
    assert_eq!(
        got.thumbprint_list(),
        ["6938fd4d98bab03faadb97b34396831e3780aea1"]
    );
    assert_eq!(got.tags()[0].key(), "team");
    iam.remove_client_id_from_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider_arn)
        .client_id("extra")
        .send()
        .await
        .unwrap();
    let listed = iam.list_open_id_connect_providers().send().await.unwrap();
    assert_eq!(
        listed
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .collect::<Vec<_>>(),
        [provider_arn.as_str()]
    );
    let missing = format!("arn:aws:iam::{account}:oidc-provider/nowhere.example");
    let e = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchEntity"));
    assert_eq!(
        e.message(),
        Some(format!("OpenIDConnect Provider not found for arn {missing}").as_str())
    );

    // A deploy role for one repository's workflows (StringLike on the subject).
    let role_arn = iam
        .create_role()
        .role_name("deploy")
        .assume_role_policy_document(web_identity_trust(
            &provider_arn,
            url,
            "StringLike",
            "repo:acme/app:*",
        ))
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let claims = |sub: &str| {
        json!({"iss": issuer, "sub": sub, "aud": "sts.amazonaws.com",
            "repository": "acme/app", "ref": "refs/heads/main",
            "iat": now() - 5, "nbf": now() - 5, "exp": now() + 300})
    };
    let token = key.token("gh-1", &claims("repo:acme/app:ref:refs/heads/main"));
    let out = exchange(&server, &role_arn, "gha-run-1", &token)
        .await
        .unwrap();
    let who = server
        .sts_as(
            PRIMARY,
            out.credentials().unwrap().access_key_id(),
            out.credentials().unwrap().secret_access_key(),
        )
        .get_caller_identity()
        .send()
        .await;
    // Without the session token the signature's key is not a session's: refused.
    assert!(who.is_err());
    let creds = session_creds(&out);
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(PRIMARY))
            .endpoint_url(&server.endpoint)
            .credentials_provider(creds)
            .build(),
    );
    let who = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:sts::{account}:assumed-role/deploy/gha-run-1").as_str())
    );
    // Another repository's workflow is not trusted.
    let other = key.token("gh-1", &claims("repo:evil/app:ref:refs/heads/main"));
    let e = exchange(&server, &role_arn, "gha-run-2", &other)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    // A key the configured JWKS lacks: nothing is fetched, the token is refused.
    let e = exchange(
        &server,
        &role_arn,
        "gha-run-3",
        &Key::ec().token("gh-2", &claims("repo:acme/app:ref:refs/heads/main")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"));
    // The provider deleted: its tokens name no provider of the account.
    iam.delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider_arn)
        .send()
        .await
        .unwrap();
    let e = exchange(&server, &role_arn, "gha-run-4", &token)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"));
    assert_eq!(
        e.message(),
        Some(format!("No OpenIDConnect provider found in your account for {issuer}").as_str())
    );
}

#[tokio::test]
async fn an_iam_user_with_its_own_access_key_reads_what_its_policies_allow() {
    let server = Server::secure();
    let account = server.account_id().await;
    let iam = server.iam();
    let secret_arn = server
        .secrets(PRIMARY)
        .create_secret()
        .name("app/api-token")
        .secret_string("t0ken")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();

    let user = iam
        .create_user()
        .user_name("app")
        .path("/services/")
        .send()
        .await
        .unwrap()
        .user()
        .unwrap()
        .clone();
    assert_eq!(
        user.arn(),
        format!("arn:aws:iam::{account}:user/services/app")
    );
    assert!(user.user_id().starts_with("AIDA"));
    let e = iam.create_user().user_name("APP").send().await.unwrap_err();
    assert_eq!(e.code(), Some("EntityAlreadyExists"));
    iam.put_user_policy()
        .user_name("app")
        .policy_name("read-token")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();

    // Two keys at most; the secret is shown once, at creation.
    let key = iam
        .create_access_key()
        .user_name("app")
        .send()
        .await
        .unwrap()
        .access_key()
        .unwrap()
        .clone();
    assert!(key.access_key_id().starts_with("AKIA"));
    assert_eq!(key.status().as_str(), "Active");
    iam.create_access_key()
        .user_name("app")
        .send()
        .await
        .unwrap();
    let e = iam
        .create_access_key()
        .user_name("app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("LimitExceeded"));
    let listed = iam
        .list_access_keys()
        .user_name("app")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.access_key_metadata().len(), 2);

    // The user signs with its own key: it is who it says, and may do what its policy allows.
    let (ak, sk) = (key.access_key_id(), key.secret_access_key());
    let who = server
        .sts_as(PRIMARY, ak, sk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(user.arn()));
    assert_eq!(who.user_id(), Some(user.user_id()));
    let value = server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("t0ken"));
    let e = server
        .secrets_as(PRIMARY, ak, sk)
        .list_secrets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert!(e.message().unwrap().contains(&format!(
        "User: arn:aws:iam::{account}:user/services/app is not authorized to perform: secretsmanager:ListSecrets"
    )));
    // A user may not manage IAM without a policy that allows it.
    let user_iam = server.iam_as(ak, sk);
    let e = user_iam.create_access_key().send().await.unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    let used = iam
        .get_access_key_last_used()
        .access_key_id(ak)
        .send()
        .await
        .unwrap();
    assert_eq!(used.user_name(), Some("app"));
    let last = used.access_key_last_used().unwrap();
    assert_eq!(last.service_name(), "iam");
    assert!(last.last_used_date().is_some());

    // An inactive key is refused as an unknown one is; active again, it works again.
    iam.update_access_key()
        .user_name("app")
        .access_key_id(ak)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let e = server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"));
    iam.update_access_key()
        .user_name("app")
        .access_key_id(ak)
        .status(aws_sdk_iam::types::StatusType::Active)
        .send()
        .await
        .unwrap();
    server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();

    // A user with keys and policies is not deleted until they are gone.
    let e = iam.delete_user().user_name("app").send().await.unwrap_err();
    assert_eq!(e.code(), Some("DeleteConflict"));
    for k in listed.access_key_metadata() {
        iam.delete_access_key()
            .user_name("app")
            .access_key_id(k.access_key_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    let e = iam.delete_user().user_name("app").send().await.unwrap_err();
    assert_eq!(e.code(), Some("DeleteConflict"));
    iam.delete_user_policy()
        .user_name("app")
        .policy_name("read-token")
        .send()
        .await
        .unwrap();
    iam.delete_user().user_name("app").send().await.unwrap();
    let e = server
        .secrets_as(PRIMARY, ak, sk)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"));
    let e = iam.get_user().user_name("app").send().await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchEntity"));
}
