//! Story step 5, enforced (ADR 0009): a workload that assumes a role whose managed IAM policy
//! allows kms:Decrypt on the key (and secretsmanager:GetSecretValue on the secret) reads the
//! secret; a role without it is denied, with AWS's errors. IAM through signed Query requests,
//! STS through the AWS SDK for Rust, KMS and Secrets Manager through the SDKs with the session's
//! temporary credentials, against a server with real credentials (not `--dev`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_kms::primitives::Blob;
use common::*;

/// A signed IAM Query request as root; returns the response body, panicking on an error.
fn iam(server: &Server, params: &[(&str, &str)]) -> String {
    let r = iam_raw(server, params);
    assert_eq!(r.status, 200, "IAM {params:?}: {}", r.body_str());
    r.body_str()
}

fn iam_raw(server: &Server, params: &[(&str, &str)]) -> RawResponse {
    let (ak, sk) = server.creds();
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Version", "2010-05-08");
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let body = form.finish().into_bytes();
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
        &body,
        &ak,
        &sk,
        "us-east-1",
        "iam",
        SystemTime::now(),
    );
    headers.extend(signing);
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| k != "host")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    server.raw("POST", "/", &hdrs, &body)
}

/// The text of the first `<tag>` element.
fn xml_text(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).map(|i| i + open.len()).expect(tag);
    let end = xml[start..].find(&format!("</{tag}>")).expect(tag) + start;
    xml[start..end].to_string()
}

struct Session {
    creds: Credentials,
}

impl Session {
    fn kms(&self, server: &Server) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::Config::builder()
                .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
                .region(aws_sdk_kms::config::Region::new(PRIMARY))
                .endpoint_url(&server.endpoint)
                .credentials_provider(self.creds.clone())
                .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    fn secrets(&self, server: &Server) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new(PRIMARY))
                .endpoint_url(&server.endpoint)
                .credentials_provider(self.creds.clone())
                .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    fn sts(&self, server: &Server) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new(PRIMARY))
                .endpoint_url(&server.endpoint)
                .credentials_provider(self.creds.clone())
                .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
                .build(),
        )
    }
}

async fn assume(server: &Server, role_arn: &str, session: &str) -> Session {
    let out = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session)
        .send()
        .await
        .unwrap_or_else(|e| panic!("AssumeRole {role_arn}: {e:?}"));
    let c = out.credentials().expect("Credentials");
    assert!(c.access_key_id().starts_with("ASIA"));
    Session {
        creds: Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "assumed",
        ),
    }
}

fn trust_root(account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

fn create_role(server: &Server, name: &str, account: &str) -> String {
    let xml = iam(
        server,
        &[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", &trust_root(account)),
        ],
    );
    xml_text(&xml, "Arn")
}

fn attach_policy(server: &Server, role: &str, policy_name: &str, document: &str) {
    let xml = iam(
        server,
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", policy_name),
            ("PolicyDocument", document),
        ],
    );
    let arn = xml_text(&xml, "Arn");
    iam(
        server,
        &[
            ("Action", "AttachRolePolicy"),
            ("RoleName", role),
            ("PolicyArn", &arn),
        ],
    );
}

#[tokio::test]
async fn a_role_with_the_managed_policy_reads_the_secret_and_one_without_is_denied() {
    let server = Server::secure();
    let account = server.account_id().await;
    let kms = server.kms(PRIMARY);
    let sm = server.secrets(PRIMARY);
    let key_arn = kms
        .create_key()
        .description("secrets")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let secret_arn = sm
        .create_secret()
        .name("app/db")
        .kms_key_id(&key_arn)
        .secret_string("s3cr3t")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let ciphertext = kms
        .encrypt()
        .key_id(&key_arn)
        .plaintext(Blob::new(b"hello".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();

    let reader = create_role(&server, "reader", &account);
    attach_policy(
        &server,
        "reader",
        "decrypt-secrets",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:Decrypt","secretsmanager:GetSecretValue"],"Resource":["{key_arn}","{secret_arn}"]}}]}}"#
        ),
    );
    let nobody = create_role(&server, "nobody", &account);
    let half = create_role(&server, "half", &account);
    attach_policy(
        &server,
        "half",
        "secrets-only",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
    );

    // The workload with the policy.
    let s = assume(&server, &reader, "job-1").await;
    let who = s.sts(&server).get_caller_identity().send().await.unwrap();
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:sts::{account}:assumed-role/reader/job-1").as_str())
    );
    assert_eq!(who.account(), Some(account.as_str()));
    let value = s
        .secrets(&server)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("s3cr3t"));
    let plain = s
        .kms(&server)
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"hello");
    // Only what the policy allows.
    let e = s
        .kms(&server)
        .encrypt()
        .key_id(&key_arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert!(e.message().unwrap().contains(&format!(
        "is not authorized to perform: kms:Encrypt on resource: {key_arn}"
    )));
    let e = s.secrets(&server).list_secrets().send().await.unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));

    // The workload without it.
    let n = assume(&server, &nobody, "job-2").await;
    let e = n
        .secrets(&server)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert!(e.message().unwrap().contains(&format!(
        "arn:aws:sts::{account}:assumed-role/nobody/job-2 is not authorized to perform: secretsmanager:GetSecretValue"
    )));
    let e = n
        .kms(&server)
        .decrypt()
        .ciphertext_blob(ciphertext)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));

    // Allowed to read the secret but not to decrypt with its key: KMS refuses.
    let h = assume(&server, &half, "job-3").await;
    let e = h
        .secrets(&server)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    assert_eq!(e.message(), Some("Access to KMS is not allowed"));

    // A session token that is not the session's is refused.
    let forged = Session {
        creds: Credentials::new(
            s.creds.access_key_id(),
            s.creds.secret_access_key(),
            Some("Cofforged".to_string()),
            None,
            "forged",
        ),
    };
    let e = forged
        .secrets(&server)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"));
}

#[tokio::test]
async fn a_role_with_the_aws_managed_secrets_manager_policy_reads_the_secret() {
    let server = Server::secure();
    let account = server.account_id().await;
    let key_arn = server
        .kms(PRIMARY)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let secret_arn = server
        .secrets(PRIMARY)
        .create_secret()
        .name("app/aws-managed")
        .kms_key_id(&key_arn)
        .secret_string("managed")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let role = create_role(&server, "sm-rw", &account);
    iam(
        &server,
        &[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "sm-rw"),
            (
                "PolicyArn",
                "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
            ),
        ],
    );
    let s = assume(&server, &role, "job").await;
    // SecretsManagerReadWrite alone does not allow kms:Decrypt: the secret stays sealed.
    let e = s
        .secrets(&server)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.message(), Some("Access to KMS is not allowed"));
    attach_policy(
        &server,
        "sm-rw",
        "decrypt",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{key_arn}"}}]}}"#
        ),
    );
    let value = s
        .secrets(&server)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("managed"));
    // secretsmanager:* covers listing; KMS actions beyond the policy's stay denied.
    s.secrets(&server).list_secrets().send().await.unwrap();
    let e = s
        .kms(&server)
        .encrypt()
        .key_id(&key_arn)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
}

#[tokio::test]
async fn trust_policies_and_resource_policies() {
    let server = Server::secure();
    let account = server.account_id().await;
    let sm = server.secrets(PRIMARY);
    // A role whose trust policy trusts only another account cannot be assumed.
    let xml = iam(
        &server,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "foreign"),
            ("AssumeRolePolicyDocument", &trust_root("999988887777")),
        ],
    );
    let foreign = xml_text(&xml, "Arn");
    let e = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(&foreign)
        .role_session_name("x1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    // An unknown role likewise.
    let e = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/none"))
        .role_session_name("x2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));

    // A secret under the AWS managed key whose resource policy names the role: readable without
    // any identity policy (the managed key's policy allows use through Secrets Manager).
    let reader = create_role(&server, "by-resource-policy", &account);
    let arn = sm
        .create_secret()
        .name("shared")
        .secret_string("via-resource-policy")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let s = assume(&server, &reader, "reader-1").await;
    let denied = s
        .secrets(&server)
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"));
    sm.put_resource_policy()
        .secret_id(&arn)
        .resource_policy(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{reader}"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let v = s
        .secrets(&server)
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("via-resource-policy"));
    // An explicit deny in the session policy wins.
    let out = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(&reader)
        .role_session_name("limited")
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let limited = Session {
        creds: Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "limited",
        ),
    };
    let e = limited
        .secrets(&server)
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
}

#[tokio::test]
async fn iam_actions_of_a_role_session_follow_its_policies() {
    let server = Server::secure();
    let account = server.account_id().await;
    let admin = create_role(&server, "iam-reader", &account);
    attach_policy(
        &server,
        "iam-reader",
        "read-roles",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole","iam:ListRoles"],"Resource":"*"}]}"#,
    );
    let s = assume(&server, &admin, "ops").await;
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&server.endpoint)
            .credentials_provider(s.creds.clone())
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .build(),
    );
    let roles = iam.list_roles().send().await.unwrap();
    assert!(roles.roles().iter().any(|r| r.role_name() == "iam-reader"));
    iam.get_role().role_name("iam-reader").send().await.unwrap();
    // Reading is allowed; creating is not.
    let e = iam
        .create_role()
        .role_name("escalate")
        .assume_role_policy_document(trust_root(&account))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    assert!(e
        .message()
        .unwrap()
        .contains("is not authorized to perform: iam:CreateRole"));
}
