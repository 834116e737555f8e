//! The audit trail end to end (issue #11 parts 3 and 4, ADR 0010), against the real binary with
//! `[audit] file = ...`: every request — allowed, denied or malformed — leaves one CloudTrail
//! record with the right eventSource / eventName / errorCode; no plaintext, ciphertext, secret
//! value, password or credential used in the calls is anywhere in the trail; `coffer audit
//! verify` passes after a graceful shutdown and fails, naming the record, after one is edited;
//! CloudTrail LookupEvents answers through the AWS SDK for Rust (and the AWS CLI when installed),
//! authorised by IAM `cloudtrail:LookupEvents`; a fail-closed trail that cannot write refuses
//! requests with each service's internal error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_credential_types::Credentials;
use aws_sdk_kms::primitives::Blob;
use common::audit::{find, records, segments};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const AUDIT_CONFIG: &str = "[audit]\nfile = \"audit/trail.jsonl\"\n";

fn audit_server(config: &str) -> Server {
    Server::start(Options {
        config: Some(config.to_string()),
        ..Options::default()
    })
}

fn cloudtrail(server: &Server, creds: Credentials) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::from_conf(
        aws_sdk_cloudtrail::Config::builder()
            .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudtrail::config::Region::new(PRIMARY))
            .endpoint_url(&server.endpoint)
            .credentials_provider(creds)
            .retry_config(aws_sdk_cloudtrail::config::retry::RetryConfig::disabled())
            .build(),
    )
}

fn root_creds(server: &Server) -> Credentials {
    let (ak, sk) = server.creds();
    Credentials::new(ak, sk, None, None, "root")
}

fn iam(server: &Server) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&server.endpoint)
            .credentials_provider(root_creds(server))
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .build(),
    )
}

/// The one record of the request with this request ID.
fn record_of<'a>(records: &'a [Value], request_id: &str) -> &'a Value {
    let found: Vec<&Value> = records
        .iter()
        .filter(|r| r["requestID"] == request_id)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "records of request {request_id}: {found:#?}"
    );
    found[0]
}

#[track_caller]
fn one<'a>(records: &'a [Value], source: &str, name: &str, error: Option<&str>) -> &'a Value {
    let found = find(records, source, name, error);
    assert_eq!(
        found.len(),
        1,
        "{source} {name} {error:?}: {found:#?}\nall: {:#?}",
        records
            .iter()
            .map(|r| format!("{} {} {}", r["eventSource"], r["eventName"], r["errorCode"]))
            .collect::<Vec<_>>()
    );
    found[0]
}

fn verify(server: &Server) -> std::process::Output {
    let data = server.data_dir.to_str().unwrap().to_string();
    let files: Vec<String> = segments(server)
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["audit", "verify", "--data-dir", data.as_str()];
    args.extend(files.iter().map(String::as_str));
    run_coffer(server.dir(), &args, &[])
}

/// Asserts that an SDK call failed with this code and HTTP 500.
#[track_caller]
fn expect_5xx<T: std::fmt::Debug, E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, aws_sdk_kms::error::SdkError<E, aws_sdk_kms::config::http::HttpResponse>>,
    code: &str,
) {
    let e = match r {
        Ok(v) => panic!("expected {code}, got success: {v:?}"),
        Err(e) => e,
    };
    let status = e.raw_response().map(|r| r.status().as_u16());
    assert_eq!(e.code(), Some(code), "{e:?}");
    assert_eq!(status, Some(500), "{code}");
}

fn all_trail_bytes(server: &Server) -> Vec<u8> {
    files_under(&server.dir().join("audit"))
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect()
}

#[tokio::test]
async fn every_request_is_recorded_without_secrets_and_the_trail_verifies() {
    let mut server = audit_server(AUDIT_CONFIG);
    let account = server.account_id().await;
    let (root_ak, root_sk) = server.creds();
    let kms = server.kms(PRIMARY);
    let sm = server.secrets(PRIMARY);
    // Values that must never reach the trail.
    let mut sensitive: Vec<String> = vec![root_sk.clone()];

    // KMS, allowed.
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let plaintext = unique("audit-plaintext-");
    sensitive.push(plaintext.clone());
    sensitive.push(b64encode(plaintext.as_bytes()));
    let enc = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(plaintext.as_bytes()))
        .encryption_context("purpose", "audit-test")
        .send()
        .await
        .unwrap();
    let blob = enc.ciphertext_blob().unwrap().as_ref().to_vec();
    sensitive.push(b64encode(&blob));
    let dec = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .encryption_context("purpose", "audit-test")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), plaintext.as_bytes());
    let dk = kms
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    sensitive.push(b64encode(dk.plaintext().unwrap().as_ref()));
    sensitive.push(b64encode(dk.ciphertext_blob().unwrap().as_ref()));
    // KMS, failing: no such key.
    expect_err(
        kms.describe_key()
            .key_id("11111111-2222-3333-4444-555555555555")
            .send()
            .await,
        "NotFoundException",
    );

    // Secrets Manager.
    let secret_string = unique("audit-secret-string-");
    let secret_binary = unique("audit-secret-binary-");
    let password_of_record = unique("audit-password-");
    sensitive.extend([
        secret_string.clone(),
        secret_binary.clone(),
        b64encode(secret_binary.as_bytes()),
        password_of_record.clone(),
    ]);
    let name = unique("audit/db-");
    let created = sm
        .create_secret()
        .name(&name)
        .secret_string(format!(
            r#"{{"username":"app","password":"{password_of_record}","note":"{secret_string}"}}"#
        ))
        .send()
        .await
        .unwrap();
    let secret_arn = created.arn().unwrap().to_string();
    sm.put_secret_value()
        .secret_id(&name)
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            secret_binary.as_bytes(),
        ))
        .send()
        .await
        .unwrap();
    let got = sm.get_secret_value().secret_id(&name).send().await.unwrap();
    assert_eq!(
        got.secret_binary().unwrap().as_ref(),
        secret_binary.as_bytes()
    );
    let pw = sm
        .get_random_password()
        .password_length(40)
        .send()
        .await
        .unwrap();
    sensitive.push(pw.random_password().unwrap().to_string());

    // Malformed: not JSON; an unknown operation; unsigned; signed with a wrong secret.
    let bad = server.signed_json(SignedJson::kms("Encrypt", b"{not json"));
    assert_eq!(bad.error_code(), "SerializationException");
    let bad_id = bad.header("x-amzn-requestid").unwrap().to_string();
    let unknown = server.signed_json(SignedJson::kms("NoSuchOperation", b"{}"));
    assert_eq!(unknown.error_code(), "UnknownOperationException");
    let unknown_id = unknown.header("x-amzn-requestid").unwrap().to_string();
    let unsigned = server.raw(
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "TrentService.ListKeys"),
        ],
        b"{}",
    );
    assert_eq!(unsigned.error_code(), "MissingAuthenticationTokenException");
    let unsigned_id = unsigned.header("x-amzn-requestid").unwrap().to_string();
    let forged = server.signed_json(
        SignedJson::kms("ListKeys", b"{}").with_creds(&root_ak, "not-the-secret-key-at-all"),
    );
    assert_eq!(forged.error_code(), "InvalidSignatureException");
    let forged_id = forged.header("x-amzn-requestid").unwrap().to_string();

    // STS and IAM; a role session denied Decrypt and LookupEvents.
    server
        .sts(PRIMARY)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let role = iam(&server)
        .create_role()
        .role_name("audit-reader")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_string();
    let assumed = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("auditor")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    let session_ak = c.access_key_id().to_string();
    sensitive.push(c.secret_access_key().to_string());
    sensitive.push(c.session_token().to_string());
    let session = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "session",
    );
    let session_kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new(PRIMARY))
            .endpoint_url(&server.endpoint)
            .credentials_provider(session.clone())
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
            .build(),
    );
    expect_err(
        session_kms
            .decrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .encryption_context("purpose", "audit-test")
            .send()
            .await,
        "AccessDeniedException",
    );
    expect_err(
        cloudtrail(&server, session).lookup_events().send().await,
        "AccessDeniedException",
    );

    // LookupEvents through the SDK: the Decrypt calls of this account, newest first.
    let ct = cloudtrail(&server, root_creds(&server));
    let found = ct
        .lookup_events()
        .lookup_attributes(
            aws_sdk_cloudtrail::types::LookupAttribute::builder()
                .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::EventName)
                .attribute_value("Decrypt")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let events = found.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events.iter().all(|e| e.event_name() == Some("Decrypt")));
    assert_eq!(events[0].access_key_id(), Some(session_ak.as_str()));
    assert_eq!(events[1].access_key_id(), Some(root_ak.as_str()));
    assert_eq!(events[1].username(), Some("root"));
    assert_eq!(events[0].username(), Some("auditor"));
    let newest: Value = serde_json::from_str(events[0].cloud_trail_event().unwrap()).unwrap();
    assert_eq!(newest["errorCode"], "AccessDeniedException");
    assert_eq!(newest["userIdentity"]["type"], "AssumedRole");
    assert!(newest.get("coffer").is_none(), "{newest}");
    let older: Value = serde_json::from_str(events[1].cloud_trail_event().unwrap()).unwrap();
    assert_eq!(older["eventSource"], "kms.amazonaws.com");
    assert_eq!(older["resources"][0]["ARN"], key_arn.as_str());
    expect_err(
        ct.lookup_events().max_results(51).send().await,
        "InvalidMaxResultsException",
    );

    // The AWS CLI, unchanged, when it is installed.
    if std::process::Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let home = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("aws")
            .env("AWS_CONFIG_FILE", home.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
            .env("AWS_ACCESS_KEY_ID", &root_ak)
            .env("AWS_SECRET_ACCESS_KEY", &root_sk)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_DEFAULT_REGION", PRIMARY)
            .env("AWS_PAGER", "")
            .env("HOME", home.path())
            .args([
                "cloudtrail",
                "lookup-events",
                "--lookup-attributes",
                "AttributeKey=EventName,AttributeValue=Decrypt",
                "--endpoint-url",
                &server.endpoint,
                "--output",
                "json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws cloudtrail lookup-events: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Events"].as_array().unwrap().len(), 2, "{v}");
        assert_eq!(v["Events"][0]["EventName"], "Decrypt");
    } else {
        eprintln!("skipping the AWS CLI check: aws is not installed");
    }

    let status = server.terminate().expect("the server stops");
    assert!(status.success(), "exit status {status:?}");

    // One record per request, with CloudTrail's fields.
    let recs = records(&server);
    let kms_src = "kms.amazonaws.com";
    let sm_src = "secretsmanager.amazonaws.com";
    let create = one(&recs, kms_src, "CreateKey", None);
    assert_eq!(create["eventVersion"], "1.11");
    assert_eq!(create["eventType"], "AwsApiCall");
    assert_eq!(create["eventCategory"], "Management");
    assert_eq!(create["managementEvent"], true);
    assert_eq!(create["readOnly"], false);
    assert_eq!(create["awsRegion"], PRIMARY);
    assert_eq!(create["recipientAccountId"], account.as_str());
    assert_eq!(create["userIdentity"]["type"], "Root");
    assert_eq!(create["userIdentity"]["accessKeyId"], root_ak.as_str());
    assert_eq!(create["sourceIPAddress"], "127.0.0.1");
    assert!(is_uuid(create["eventID"].as_str().unwrap()));
    let encrypt = one(&recs, kms_src, "Encrypt", None);
    assert_eq!(encrypt["readOnly"], true);
    assert_eq!(encrypt["requestParameters"]["keyId"], key_id.as_str());
    assert_eq!(
        encrypt["requestParameters"]["encryptionContext"]["purpose"],
        "audit-test"
    );
    assert_eq!(encrypt["responseElements"], Value::Null);
    assert_eq!(encrypt["resources"][0]["ARN"], key_arn.as_str());
    assert_eq!(encrypt["resources"][0]["type"], "AWS::KMS::Key");
    one(&recs, kms_src, "Decrypt", None);
    one(&recs, kms_src, "GenerateDataKey", None);
    let missing = one(&recs, kms_src, "DescribeKey", Some("NotFoundException"));
    assert!(missing["errorMessage"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    let cs = one(&recs, sm_src, "CreateSecret", None);
    assert_eq!(cs["resources"][0]["ARN"], secret_arn.as_str());
    assert_eq!(cs["requestParameters"]["name"], name.as_str());
    one(&recs, sm_src, "PutSecretValue", None);
    one(&recs, sm_src, "GetSecretValue", None);
    one(&recs, sm_src, "GetRandomPassword", None);
    let r = record_of(&recs, &bad_id);
    assert_eq!(r["eventName"], "Encrypt");
    assert_eq!(r["errorCode"], "SerializationException");
    assert_eq!(r["userIdentity"]["type"], "Root");
    let r = record_of(&recs, &unknown_id);
    assert_eq!(r["eventSource"], kms_src);
    assert_eq!(r["eventName"], "NoSuchOperation");
    assert_eq!(r["errorCode"], "UnknownOperationException");
    let r = record_of(&recs, &unsigned_id);
    assert_eq!(r["eventName"], "ListKeys");
    assert_eq!(r["errorCode"], "MissingAuthenticationTokenException");
    assert_eq!(r["userIdentity"]["type"], "Unknown");
    let r = record_of(&recs, &forged_id);
    assert_eq!(r["errorCode"], "InvalidSignatureException");
    assert_eq!(r["userIdentity"]["type"], "Unknown");
    assert_eq!(r["userIdentity"]["accessKeyId"], root_ak.as_str());
    // One from `account_id()`, one from the test.
    let gci = find(&recs, "sts.amazonaws.com", "GetCallerIdentity", None);
    assert_eq!(gci.len(), 2);
    assert_eq!(gci[1]["readOnly"], true);
    let ar = one(&recs, "sts.amazonaws.com", "AssumeRole", None);
    assert_eq!(ar["requestParameters"]["roleArn"], role_arn.as_str());
    assert_eq!(ar["requestParameters"]["roleSessionName"], "auditor");
    assert_eq!(
        ar["responseElements"]["credentials"]["accessKeyId"],
        session_ak.as_str()
    );
    assert!(ar["responseElements"]["credentials"]
        .get("sessionToken")
        .is_none());
    let cr = one(&recs, "iam.amazonaws.com", "CreateRole", None);
    // IAM's answer is recorded as CloudTrail does (lower camel case, `member` lists as arrays).
    assert_eq!(cr["responseElements"]["role"]["roleName"], "audit-reader");
    assert_eq!(cr["responseElements"]["role"]["arn"], role_arn.as_str());
    assert_eq!(cr["requestParameters"]["roleName"], "audit-reader");
    let denied = one(&recs, kms_src, "Decrypt", Some("AccessDeniedException"));
    assert_eq!(denied["userIdentity"]["type"], "AssumedRole");
    assert_eq!(denied["userIdentity"]["accessKeyId"], session_ak.as_str());
    assert_eq!(
        denied["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
        role_arn.as_str()
    );
    one(
        &recs,
        "cloudtrail.amazonaws.com",
        "LookupEvents",
        Some("AccessDeniedException"),
    );
    assert!(find(&recs, "cloudtrail.amazonaws.com", "LookupEvents", None).len() >= 2);

    // Nothing secret anywhere in the trail.
    let trail = all_trail_bytes(&server);
    for s in &sensitive {
        assert!(
            !contains_bytes(&trail, s.as_bytes()),
            "the trail holds a sensitive value ({} bytes)",
            s.len()
        );
    }

    // Intact after a graceful shutdown.
    let out = verify(&server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("intact"), "{stdout}");

    // Edited by hand: reported, with the record.
    let files = segments(&server);
    let file = &files[0];
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (n, line) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("\"eventName\":\"GetCallerIdentity\""))
        .map(|(n, l)| (n, l.clone()))
        .unwrap();
    lines[n] = line.replace(
        "\"sourceIPAddress\":\"127.0.0.1\"",
        "\"sourceIPAddress\":\"10.9.8.7\"",
    );
    assert_ne!(lines[n], line);
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
    let out = verify(&server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("TAMPERED"), "{stdout}");
    let seq = serde_json::from_str::<Value>(&line).unwrap()["coffer"]["seq"]
        .as_u64()
        .unwrap();
    assert!(
        stdout.contains(&format!("record {seq}"))
            || stdout.contains(&format!("record {}", seq + 1)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("line {}", n + 1)) || stdout.contains(&format!("line {}", n + 2)),
        "{stdout}"
    );
}

/// Replaces the trail's directory by a plain file: the next segment cannot be created, so every
/// record fails to be written until the directory is back.
fn break_trail_dir(server: &Server) -> PathBuf {
    let dir = server.dir().join("audit");
    let moved = server.dir().join("audit.moved");
    std::fs::rename(&dir, &moved).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    moved
}

fn repair_trail_dir(server: &Server, moved: &Path) {
    let dir = server.dir().join("audit");
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(moved, &dir).unwrap();
}

#[tokio::test]
async fn a_fail_closed_trail_that_cannot_write_refuses_requests_with_the_internal_error() {
    // Small segments: a new one is due after a few dozen records.
    let mut server = audit_server(
        "[audit]\nfile = \"audit/trail.jsonl\"\nmax_file_bytes = 65536\nfsync = \"never\"\n",
    );
    let kms = server.kms(PRIMARY);
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let sm = server.secrets(PRIMARY);
    sm.create_secret()
        .name("audit/fail-closed")
        .secret_string("s3cr3t-value-never-answered")
        .send()
        .await
        .unwrap();
    let moved = break_trail_dir(&server);
    // Until the segment is full the open file takes records; then no new segment can be made.
    let mut refused = None;
    for i in 0..2000 {
        match kms
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(vec![7u8; 2048]))
            .send()
            .await
        {
            Ok(out) => assert!(out.ciphertext_blob().is_some()),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (i, e) = refused.expect("a request refused once the trail cannot be written");
    assert!(i > 0, "the first requests fit the open segment");
    expect_5xx::<(), _>(Err(e), "KMSInternalException");

    // Every service answers its own internal error, never the operation's answer.
    expect_5xx(
        sm.get_secret_value()
            .secret_id("audit/fail-closed")
            .send()
            .await,
        "InternalServiceError",
    );
    expect_5xx(
        server.sts(PRIMARY).get_caller_identity().send().await,
        "InternalFailure",
    );
    expect_5xx(iam(&server).list_roles().send().await, "ServiceFailure");
    expect_5xx(
        cloudtrail(&server, root_creds(&server))
            .lookup_events()
            .send()
            .await,
        "InternalFailure",
    );

    // The trail resumes by itself when it can write again, and stays sound.
    repair_trail_dir(&server, &moved);
    kms.encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"after".to_vec()))
        .send()
        .await
        .expect("served again once the trail can be written");
    let status = server.terminate().expect("the server stops");
    assert!(status.success(), "exit status {status:?}");
    let recs = records(&server);
    assert!(
        find(
            &recs,
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            None
        )
        .is_empty(),
        "a refused request left a record"
    );
    let out = verify(&server);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn a_failing_trail_does_not_refuse_requests_in_dev_mode() {
    let server = Server::start(Options {
        dev: true,
        config: Some(
            "[audit]\nfile = \"audit/trail.jsonl\"\nmax_file_bytes = 65536\nfsync = \"never\"\n"
                .into(),
        ),
        ..Options::default()
    });
    let kms = server.kms(PRIMARY);
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let _moved = break_trail_dir(&server);
    for _ in 0..100 {
        kms.encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(vec![7u8; 2048]))
            .send()
            .await
            .expect("fail-open: served although the record is dropped");
    }
}

#[test]
fn the_example_configuration_has_the_audit_section() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_coffer(dir.path(), &["config", "example"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\n[audit]\n"), "{text}");
    for key in ["file", "fail_closed", "fsync", "stdout", "enabled"] {
        assert!(
            text.contains(&format!("{key} = ")),
            "example lacks audit.{key}"
        );
    }
    // A bad fsync is a configuration error naming the key, or the variable.
    std::fs::write(
        dir.path().join("bad.toml"),
        "[audit]\nfsync = \"sometimes\"\n",
    )
    .unwrap();
    let out = run_coffer(
        dir.path(),
        &["config", "check", "--config", "bad.toml"],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("audit.fsync"), "{err}");
    std::fs::write(dir.path().join("c.toml"), "[audit]\nfsync = \"always\"\n").unwrap();
    let out = run_coffer(dir.path(), &["config", "check", "--config", "c.toml"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_coffer(
        dir.path(),
        &["config", "check", "--config", "c.toml"],
        &[("COFFER_AUDIT_FSYNC", "sometimes")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("COFFER_AUDIT_FSYNC"), "{err}");
}
