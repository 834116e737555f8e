//! Wire protocol and authentication, with raw HTTP where the SDK would not send it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_kms::primitives::Blob;
use common::*;

const NOT_NULL_MSG: &str = "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null";

#[track_caller]
fn assert_error(resp: &RawResponse, status: u16, code: &str) {
    assert_eq!(
        resp.status,
        status,
        "expected {status} {code}, got {} {}",
        resp.status,
        resp.body_str()
    );
    assert_eq!(resp.error_code(), code, "body: {}", resp.body_str());
}

#[track_caller]
fn assert_4xx(resp: &RawResponse, code: &str) {
    assert!(
        (400..500).contains(&resp.status),
        "expected a 4xx {code}, got {} {}",
        resp.status,
        resp.body_str()
    );
    assert_eq!(resp.error_code(), code, "body: {}", resp.body_str());
}

#[test]
fn health_and_response_headers() {
    let server = Server::dev();
    let h = server.raw("GET", "/_coffer/health", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.json(), serde_json::json!({"status": "ready"}));

    // A successful JSON 1.1 call.
    let ok = server.signed_json(SignedJson::kms("ListKeys", b"{}"));
    assert_eq!(ok.status, 200, "{}", ok.body_str());
    assert!(ok.json()["Keys"].is_array(), "{}", ok.body_str());
    assert!(
        ok.header("content-type")
            .is_some_and(|c| c.starts_with("application/x-amz-json-1.1")),
        "content-type {:?}",
        ok.header("content-type")
    );
    assert!(
        ok.header("x-amzn-requestid").is_some_and(|v| !v.is_empty()),
        "x-amzn-RequestId header: {:?}",
        ok.headers
    );

    // An AWS error: JSON body with __type and message, and a request id.
    let nf = server.signed_json(SignedJson::kms(
        "DescribeKey",
        br#"{"KeyId":"11111111-2222-3333-4444-555555555555"}"#,
    ));
    assert_error(&nf, 400, "NotFoundException");
    assert!(!nf.error_message().is_empty(), "{}", nf.body_str());
    assert!(nf.header("x-amzn-requestid").is_some());
}

#[test]
fn unknown_operation() {
    let server = Server::dev();
    let r = server.signed_json(SignedJson::kms("NoSuchOperation", b"{}"));
    assert_error(&r, 400, "UnknownOperationException");
    let r = server.signed_json(SignedJson::secrets("NoSuchOperation", b"{}"));
    assert_error(&r, 400, "UnknownOperationException");
    let mut req = SignedJson::kms("ListKeys", b"{}");
    req.target = "NoSuchService_20200101.ListKeys".into();
    let r = server.signed_json(req);
    assert!(
        (400..500).contains(&r.status),
        "unknown service prefix: {} {}",
        r.status,
        r.body_str()
    );
}

#[test]
fn malformed_and_mistyped_json() {
    let server = Server::dev();
    for body in [&br#"{"KeyId": "#[..], b"not json at all", b"[1,2,3]"] {
        let r = server.signed_json(SignedJson::kms("DescribeKey", body));
        assert_error(&r, 400, "SerializationException");
    }
    // A member of the wrong JSON type.
    let r = server.signed_json(SignedJson::kms("DescribeKey", br#"{"KeyId": 5}"#));
    assert_error(&r, 400, "SerializationException");
    let r = server.signed_json(SignedJson::kms(
        "GenerateRandom",
        br#"{"NumberOfBytes": "thirty-two"}"#,
    ));
    assert_error(&r, 400, "SerializationException");
    let r = server.signed_json(SignedJson::secrets(
        "GetSecretValue",
        br#"{"SecretId": ["a"]}"#,
    ));
    assert_error(&r, 400, "SerializationException");
    // A blob member that is not base64.
    let r = server.signed_json(SignedJson::kms(
        "Decrypt",
        br#"{"CiphertextBlob": "***not base64***"}"#,
    ));
    assert_error(&r, 400, "SerializationException");
}

#[test]
fn missing_required_member_is_a_validation_error() {
    let server = Server::dev();
    let r = server.signed_json(SignedJson::kms("DescribeKey", b"{}"));
    assert_error(&r, 400, "ValidationException");
    assert_eq!(r.error_message(), NOT_NULL_MSG, "body {}", r.body_str());
    let r = server.signed_json(SignedJson::kms("Encrypt", br#"{"KeyId": "alias/x"}"#));
    assert_error(&r, 400, "ValidationException");
    assert_eq!(
        r.error_message(),
        "1 validation error detected: Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
        "body {}",
        r.body_str()
    );
}

#[test]
fn oversized_body_is_refused_without_hanging() {
    let server = Server::dev();
    let (ak, _) = server.creds();
    let started = std::time::Instant::now();
    let resp = http_streaming_upload(
        &server.addr,
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "secretsmanager.CreateSecret"),
            (
                "authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential={ak}/20250101/{PRIMARY}/secretsmanager/aws4_request, SignedHeaders=host, Signature=00"
                ),
            ),
        ],
        "/",
        10 * 1024 * 1024,
        b'a',
    );
    let elapsed = started.elapsed();
    match resp {
        Ok(r) => assert!(
            (400..500).contains(&r.status),
            "10 MiB body: expected a 4xx, got {} {}",
            r.status,
            r.body_str()
        ),
        Err(e) => panic!("10 MiB body: no HTTP response ({e}) after {elapsed:?}"),
    }
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    // The server is still fine.
    let h = server.raw("GET", "/_coffer/health", &[], b"");
    assert_eq!(h.status, 200);
    let ok = server.signed_json(SignedJson::kms("ListKeys", b"{}"));
    assert_eq!(ok.status, 200);
}

#[test]
fn garbage_on_the_socket_does_not_hurt() {
    use std::io::{Read, Write};
    let server = Server::dev();
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"\x16\x03\x01\x02\x00GARBAGE\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    if !buf.is_empty() {
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 4"), "answer to garbage: {text}");
    }
    let h = server.raw("GET", "/_coffer/health", &[], b"");
    assert_eq!(h.status, 200);
}

#[test]
fn authentication_failures_are_4xx_with_aws_codes() {
    let server = Server::secure();
    let (ak, sk) = server.root_credentials();

    // Sanity: the root credentials work.
    let ok = server.signed_json(SignedJson::kms("ListKeys", b"{}"));
    assert_eq!(ok.status, 200, "{}", ok.body_str());

    // No Authorization at all.
    let r = server.raw(
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "TrentService.ListKeys"),
        ],
        b"{}",
    );
    assert_4xx(&r, "MissingAuthenticationTokenException");
    let r = server.raw(
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "secretsmanager.ListSecrets"),
        ],
        b"{}",
    );
    assert_4xx(&r, "MissingAuthenticationTokenException");

    // An access key the server does not know.
    let r = server
        .signed_json(SignedJson::kms("ListKeys", b"{}").with_creds("AKIAIOSFODNN7EXAMPLE", &sk));
    assert_4xx(&r, "UnrecognizedClientException");

    // The right key, the wrong secret.
    let r = server.signed_json(SignedJson::kms("ListKeys", b"{}").with_creds(&ak, "wrong-secret"));
    assert_4xx(&r, "InvalidSignatureException");
    let r = server
        .signed_json(SignedJson::secrets("ListSecrets", b"{}").with_creds(&ak, "wrong-secret"));
    assert_4xx(&r, "InvalidSignatureException");

    // Signed 20 minutes ago, or 20 minutes ahead: outside AWS's 15-minute window.
    let past = SystemTime::now() - Duration::from_secs(20 * 60);
    let r = server.signed_json(SignedJson::kms("ListKeys", b"{}").at(past));
    assert_4xx(&r, "InvalidSignatureException");
    assert!(
        r.error_message().to_lowercase().contains("expired"),
        "message should say the signature expired: {}",
        r.body_str()
    );
    let future = SystemTime::now() + Duration::from_secs(20 * 60);
    let r = server.signed_json(SignedJson::kms("ListKeys", b"{}").at(future));
    assert_4xx(&r, "InvalidSignatureException");
    // Five minutes off is inside the window.
    let r = server.signed_json(
        SignedJson::kms("ListKeys", b"{}").at(SystemTime::now() - Duration::from_secs(300)),
    );
    assert_eq!(r.status, 200, "{}", r.body_str());

    // A body changed after signing.
    let signing = sigv4_headers(
        &[
            ("host".into(), server.addr.clone()),
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), "TrentService.ListKeys".into()),
        ],
        "POST",
        "/",
        b"{}",
        &ak,
        &sk,
        PRIMARY,
        "kms",
        SystemTime::now(),
    );
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "TrentService.ListKeys"),
    ];
    headers.extend(signing.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let r = server.raw("POST", "/", &headers, br#"{"Limit":1}"#);
    assert_4xx(&r, "InvalidSignatureException");

    // A garbled Authorization header.
    let r = server.raw(
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "TrentService.ListKeys"),
            ("x-amz-date", "20250101T000000Z"),
            ("authorization", "AWS4-HMAC-SHA256 nonsense"),
        ],
        b"{}",
    );
    assert!(
        (400..500).contains(&r.status),
        "garbled Authorization: {} {}",
        r.status,
        r.body_str()
    );
}

#[tokio::test]
async fn sdk_sees_auth_errors() {
    let server = Server::secure();
    let (ak, sk) = server.root_credentials();
    expect_err(
        server
            .kms_as(PRIMARY, "AKIAIOSFODNN7EXAMPLE", &sk)
            .list_keys()
            .send()
            .await,
        "UnrecognizedClientException",
    );
    expect_err(
        server
            .kms_as(PRIMARY, &ak, "not-the-secret")
            .list_keys()
            .send()
            .await,
        "InvalidSignatureException",
    );
    expect_err(
        server
            .secrets_as(PRIMARY, &ak, "not-the-secret")
            .list_secrets()
            .send()
            .await,
        "InvalidSignatureException",
    );
    // STS (Query protocol) uses its own documented codes.
    expect_err(
        server
            .sts_as(PRIMARY, "AKIAIOSFODNN7EXAMPLE", &sk)
            .get_caller_identity()
            .send()
            .await,
        "InvalidClientTokenId",
    );
    expect_err(
        server
            .sts_as(PRIMARY, &ak, "not-the-secret")
            .get_caller_identity()
            .send()
            .await,
        "SignatureDoesNotMatch",
    );
    // The real credentials work for all three services.
    server.kms(PRIMARY).list_keys().send().await.unwrap();
    server.secrets(PRIMARY).list_secrets().send().await.unwrap();
    server
        .sts(PRIMARY)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn root_credentials_and_caller_identity() {
    let server = Server::secure();
    let text = std::fs::read_to_string(server.root_credentials_path()).unwrap();
    assert!(text.starts_with("[default]\n"), "{text:?}");
    let (ak, sk) = server.root_credentials();
    assert!(
        ak.starts_with("AKIA") && ak.len() == 20,
        "access key id looks like AWS's: {ak:?}"
    );
    assert!(
        ak.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
        "{ak:?}"
    );
    assert!(
        sk.len() >= 32,
        "secret access key is long enough: {} chars",
        sk.len()
    );

    let who = server
        .sts(PRIMARY)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    let account = who.account().expect("Account").to_string();
    assert!(is_account_id(&account), "{account:?}");
    let arn = who.arn().expect("Arn");
    assert!(
        arn.starts_with(&format!("arn:aws:iam::{account}:")),
        "Terraform parses the account from Arn: {arn:?}"
    );
    assert!(who.user_id().is_some_and(|u| !u.is_empty()));
    // Same identity in every region, with every service's view of the account.
    let who_r = server
        .sts(REPLICA)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who_r.account(), Some(account.as_str()));
    let key = server
        .kms("ap-southeast-2")
        .create_key()
        .send()
        .await
        .unwrap();
    assert!(key
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .starts_with(&format!("arn:aws:kms:ap-southeast-2:{account}:key/")));

    // STS over raw Query protocol: form in, XML out.
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), server.addr.clone()),
        (
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        ),
    ];
    let signing = sigv4_headers(
        &headers,
        "POST",
        "/",
        body,
        &ak,
        &sk,
        "us-east-1",
        "sts",
        SystemTime::now(),
    );
    headers.extend(signing);
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| k != "host")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = server.raw("POST", "/", &hdrs, body);
    assert_eq!(r.status, 200, "{}", r.body_str());
    let xml = r.body_str();
    assert!(xml.contains("<GetCallerIdentityResponse"), "{xml}");
    assert!(
        xml.contains(&format!("<Account>{account}</Account>")),
        "{xml}"
    );
}

#[tokio::test]
async fn dev_mode_accepts_any_credentials_and_default_account() {
    let server = Server::start(Options {
        dev: true,
        dev_account: Some("123456789012".into()),
        ..Options::default()
    });
    let who = server
        .sts_as(PRIMARY, "test", "test")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("123456789012"), "--dev-account");
    let who = server
        .sts_as(PRIMARY, "AKIDEXAMPLE", "whatever")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("123456789012"));
    let who = server
        .sts_as(PRIMARY, "210987654321", "x")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.account(),
        Some("210987654321"),
        "a 12-digit key selects the account"
    );
    // Encrypt works with arbitrary credentials.
    let kms = server.kms_as(PRIMARY, "AKIDEXAMPLE", "whatever");
    let k = kms.create_key().send().await.unwrap();
    let id = k.key_metadata().unwrap().key_id().to_string();
    kms.encrypt()
        .key_id(&id)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();

    let plain = Server::dev();
    let who = plain
        .sts_as(PRIMARY, "test", "test")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("000000000000"));
}

#[tokio::test]
async fn reset_endpoints_are_dev_only() {
    let server = Server::secure();
    let kms = server.kms(PRIMARY);
    let k = kms.create_key().send().await.unwrap();
    let id = k.key_metadata().unwrap().key_id().to_string();
    for path in [
        "/_coffer/reset",
        "/moto-api/reset",
        "/_localstack/state/reset",
    ] {
        let r = server.raw("POST", path, &[], b"");
        assert!(
            (400..500).contains(&r.status),
            "{path} must not work on a non-dev server: {} {}",
            r.status,
            r.body_str()
        );
    }
    kms.describe_key()
        .key_id(&id)
        .send()
        .await
        .expect("state survives reset attempts on a non-dev server");
}

#[tokio::test]
async fn every_region_is_served() {
    let server = Server::dev();
    for region in ["us-east-1", "eu-central-1", "ap-northeast-3", "sa-east-1"] {
        let kms = server.kms(region);
        let k = kms.create_key().send().await.unwrap();
        let arn = k.key_metadata().unwrap().arn().unwrap().to_string();
        assert!(
            arn.starts_with(&format!("arn:aws:kms:{region}:")),
            "{region}: {arn}"
        );
        let sm = server.secrets(region);
        let name = unique("regional");
        let out = sm
            .create_secret()
            .name(&name)
            .secret_string(region)
            .send()
            .await
            .unwrap();
        assert!(out
            .arn()
            .unwrap()
            .starts_with(&format!("arn:aws:secretsmanager:{region}:")));
        let v = sm.get_secret_value().secret_id(&name).send().await.unwrap();
        assert_eq!(v.secret_string(), Some(region));
    }
}

/// Every operation of the three APIs, with an empty and a junk body: never a 5xx.
#[test]
fn no_operation_answers_5xx() {
    const KMS_OPS: &[&str] = &[
        "CancelKeyDeletion",
        "ConnectCustomKeyStore",
        "CreateAlias",
        "CreateCustomKeyStore",
        "CreateGrant",
        "CreateKey",
        "Decapsulate",
        "Decrypt",
        "DeleteAlias",
        "DeleteCustomKeyStore",
        "DeleteImportedKeyMaterial",
        "DeriveSharedSecret",
        "DescribeCustomKeyStores",
        "DescribeKey",
        "DisableKey",
        "DisableKeyRotation",
        "DisconnectCustomKeyStore",
        "EnableKey",
        "EnableKeyRotation",
        "Encapsulate",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "GenerateRandom",
        "GetKeyLastUsage",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "GetParametersForImport",
        "GetPublicKey",
        "ImportKeyMaterial",
        "ListAliases",
        "ListGrants",
        "ListKeyPolicies",
        "ListKeyRotations",
        "ListKeys",
        "ListResourceTags",
        "ListRetirableGrants",
        "PutKeyPolicy",
        "ReEncrypt",
        "ReplicateKey",
        "RetireGrant",
        "RevokeGrant",
        "RotateKeyOnDemand",
        "ScheduleKeyDeletion",
        "Sign",
        "TagResource",
        "UntagResource",
        "UpdateAlias",
        "UpdateCustomKeyStore",
        "UpdateKeyDescription",
        "UpdatePrimaryRegion",
        "Verify",
        "VerifyMac",
    ];
    const SM_OPS: &[&str] = &[
        "AssociateCrossAccountReplica",
        "BatchGetSecretValue",
        "CancelRotateSecret",
        "CreateSecret",
        "DeleteResourcePolicy",
        "DeleteSecret",
        "DescribeSecret",
        "DisassociateCrossAccountReplica",
        "GetRandomPassword",
        "GetResourcePolicy",
        "GetSecretValue",
        "ListResourcePolicies",
        "ListSecretVersionIds",
        "ListSecrets",
        "PutResourcePolicy",
        "PutSecretValue",
        "RemoveRegionsFromReplication",
        "ReplicateSecretToRegions",
        "RestoreSecret",
        "RotateSecret",
        "StopReplicationToReplica",
        "TagResource",
        "UntagResource",
        "UpdateSecret",
        "UpdateSecretVersionStage",
        "ValidateResourcePolicy",
    ];
    let server = Server::dev();
    let junk = br#"{"KeyId":"alias/none","SecretId":"none","Name":"junk-name","AliasName":"alias/junk","TargetKeyId":"mrk-00000000000000000000000000000000","Limit":0,"NumberOfBytes":-1,"Plaintext":"AA==","CiphertextBlob":"AAAA","KeySpec":"NOPE","Tags":[{}],"GrantTokens":[""],"PendingWindowInDays":0,"RecoveryWindowInDays":0,"ReplicaRegion":"eu-west-1","Policy":"not json","PolicyName":"default","EncryptionContext":{"":""},"SecretString":"","VersionStages":[],"MaxResults":0}"#;
    let mut failures = Vec::new();
    for (ops, secrets) in [(KMS_OPS, false), (SM_OPS, true)] {
        for op in ops {
            for body in [&b"{}"[..], &junk[..]] {
                let req = if secrets {
                    SignedJson::secrets(op, body)
                } else {
                    SignedJson::kms(op, body)
                };
                let r = server.signed_json(req);
                if r.status >= 500 || (r.status >= 400 && r.error_code().is_empty()) {
                    failures.push(format!(
                        "{op} {}: {} {}",
                        String::from_utf8_lossy(body),
                        r.status,
                        r.body_str()
                    ));
                }
            }
        }
    }
    let h = server.raw("GET", "/_coffer/health", &[], b"");
    assert_eq!(h.status, 200, "server unhealthy after the sweep");
    assert!(
        failures.is_empty(),
        "{} responses were 5xx or errors without an AWS error code:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
