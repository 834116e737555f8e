//! The IAM policy simulator against the real server: `aws iam simulate-principal-policy` (roles
//! and users) and
//! `aws iam simulate-custom-policy` (the AWS CLI, skipped when `aws` is missing), raw Query
//! requests for paging and AWS's errors, and the AWS SDK for Rust, with a role session allowed
//! and refused `iam:SimulateCustomPolicy`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use common::*;
use serde_json::Value;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadAppSecrets","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:000000000000:secret:app/*"}]}"#;
const NO_DELETE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"secretsmanager:DeleteSecret","Resource":"*"}]}"#;
const MFA_DECRYPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#;
/// AWS's example of `simulate-custom-policy` (its statement spans line 1, columns 38 to 167).
const AFTER_DATE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}"#;
const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:app/db-AbCdEf";
const OTHER_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:ops/db-AbCdEf";
const ROLE: &str = "arn:aws:iam::000000000000:role/app";

fn have_aws() -> bool {
    let ok = Command::new("aws")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        println!("skipping: aws CLI not installed (python3 -m pip install awscli)");
    }
    ok
}

/// Runs `aws iam …` against the server, isolated from the user's configuration.
struct Cli<'a> {
    server: &'a Server,
    home: tempfile::TempDir,
}

impl<'a> Cli<'a> {
    fn new(server: &'a Server) -> Self {
        Cli {
            server,
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.arg("-k").arg("10").arg("120").arg("aws");
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        let (ak, sk) = self.server.creds();
        cmd.env("AWS_CONFIG_FILE", self.home.path().join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join("no-credentials"),
            )
            .env("AWS_ACCESS_KEY_ID", ak)
            .env("AWS_SECRET_ACCESS_KEY", sk)
            .env("AWS_DEFAULT_REGION", "eu-central-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .env("HOME", self.home.path())
            .arg("--endpoint-url")
            .arg(&self.server.endpoint)
            .arg("--output")
            .arg("json")
            .arg("iam")
            .args(args);
        cmd
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).output().expect("run aws");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "aws iam {} failed ({}):\n{}\n{}\n--- coffer log ---\n{}",
            args.join(" "),
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr),
            tail(&self.server.log(), 4000)
        );
        if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
        }
    }

    #[track_caller]
    fn err(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run aws");
        assert!(
            !out.status.success(),
            "aws iam {} should have failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

/// A SigV4-signed IAM Query request as the server's credentials.
fn query(server: &Server, action: &str, params: &[(&str, &str)]) -> RawResponse {
    let (ak, sk) = server.creds();
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action);
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

/// Every `<tag>…</tag>` text of an XML body, in order.
fn xml_all(body: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

/// The role `app`: a managed policy reading `app/*` secrets, an inline deny of DeleteSecret, an
/// inline kms:Decrypt allowed only with MFA.
fn make_role(cli: &Cli<'_>) {
    cli.ok(&[
        "create-role",
        "--role-name",
        "app",
        "--assume-role-policy-document",
        TRUST,
    ]);
    let p = cli.ok(&[
        "create-policy",
        "--policy-name",
        "read-app-secrets",
        "--policy-document",
        READ,
    ]);
    let arn = p["Policy"]["Arn"].as_str().unwrap().to_string();
    cli.ok(&[
        "attach-role-policy",
        "--role-name",
        "app",
        "--policy-arn",
        &arn,
    ]);
    for (name, doc) in [("no-delete", NO_DELETE), ("mfa-decrypt", MFA_DECRYPT)] {
        cli.ok(&[
            "put-role-policy",
            "--role-name",
            "app",
            "--policy-name",
            name,
            "--policy-document",
            doc,
        ]);
    }
}

fn result<'v>(out: &'v Value, action: &str) -> &'v Value {
    out["EvaluationResults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["EvalActionName"] == action)
        .unwrap_or_else(|| panic!("no result for {action}: {out}"))
}

fn ids(statements: &Value) -> Vec<(String, String)> {
    statements
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["SourcePolicyId"].as_str().unwrap().to_string(),
                s["SourcePolicyType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn aws_cli_simulates_a_roles_policies() {
    if !have_aws() {
        return;
    }
    let server = Server::dev();
    let cli = Cli::new(&server);
    make_role(&cli);

    let out = cli.ok(&[
        "simulate-principal-policy",
        "--policy-source-arn",
        ROLE,
        "--action-names",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DeleteSecret",
        "kms:Decrypt",
        "--resource-arns",
        SECRET,
        OTHER_SECRET,
    ]);
    assert_eq!(
        out["EvaluationResults"].as_array().unwrap().len(),
        3,
        "{out}"
    );

    // GetSecretValue: allowed on app/*, not on ops/*; the top decision is the stricter one.
    let get = result(&out, "secretsmanager:GetSecretValue");
    assert_eq!(get["EvalDecision"], "implicitDeny", "{get}");
    assert_eq!(
        get["EvalResourceName"],
        "arn:${Partition}:secretsmanager:${Region}:${Account}:secret:${SecretId}"
    );
    let per = get["ResourceSpecificResults"].as_array().unwrap();
    assert_eq!(per.len(), 2);
    assert_eq!(per[0]["EvalResourceName"], SECRET);
    assert_eq!(per[0]["EvalResourceDecision"], "allowed");
    assert_eq!(
        ids(&per[0]["MatchedStatements"]),
        [("read-app-secrets".to_string(), "user-managed".to_string())]
    );
    assert_eq!(per[1]["EvalResourceName"], OTHER_SECRET);
    assert_eq!(per[1]["EvalResourceDecision"], "implicitDeny");
    assert_eq!(per[1]["MatchedStatements"], serde_json::json!([]));

    // Every statement's keys count, whatever the action (as AWS reports them).
    assert_eq!(
        get["MissingContextValues"],
        serde_json::json!(["aws:MultiFactorAuthPresent"])
    );

    // DeleteSecret: the inline deny decides, and is the only statement reported.
    let del = result(&out, "secretsmanager:DeleteSecret");
    assert_eq!(del["EvalDecision"], "explicitDeny", "{del}");
    assert_eq!(
        ids(&del["MatchedStatements"]),
        [("no-delete".to_string(), "role".to_string())]
    );

    // kms:Decrypt: the MFA condition cannot hold without the key.
    let dec = result(&out, "kms:Decrypt");
    assert_eq!(dec["EvalDecision"], "implicitDeny", "{dec}");
    assert_eq!(
        dec["MissingContextValues"],
        serde_json::json!(["aws:MultiFactorAuthPresent"])
    );
    assert_eq!(
        dec["ResourceSpecificResults"][0]["MissingContextValues"],
        serde_json::json!(["aws:MultiFactorAuthPresent"])
    );

    // With the key in the context, the inline policy allows.
    let out = cli.ok(&[
        "simulate-principal-policy",
        "--policy-source-arn",
        ROLE,
        "--action-names",
        "kms:Decrypt",
        "--context-entries",
        "ContextKeyName=aws:MultiFactorAuthPresent,ContextKeyValues=true,ContextKeyType=boolean",
    ]);
    let dec = result(&out, "kms:Decrypt");
    assert_eq!(dec["EvalDecision"], "allowed", "{dec}");
    assert_eq!(dec["EvalResourceName"], "*");
    assert_eq!(
        ids(&dec["MatchedStatements"]),
        [("mfa-decrypt".to_string(), "role".to_string())]
    );
    assert_eq!(dec["MissingContextValues"], serde_json::json!([]));
    assert!(dec.get("ResourceSpecificResults").is_none(), "{dec}");

    // A policy added to the role's: its statements are PolicyInputList.N.
    let out = cli.ok(&[
        "simulate-principal-policy",
        "--policy-source-arn",
        ROLE,
        "--policy-input-list",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}"#,
        "--action-names",
        "kms:Encrypt",
    ]);
    let enc = result(&out, "kms:Encrypt");
    assert_eq!(enc["EvalDecision"], "allowed", "{enc}");
    assert_eq!(
        ids(&enc["MatchedStatements"]),
        [("PolicyInputList.1".to_string(), "IAM Policy".to_string())]
    );

    // PolicyExclusionList (newer than this CLI): the role without its inline policies.
    let r = query(
        &server,
        "SimulatePrincipalPolicy",
        &[
            ("PolicySourceArn", ROLE),
            ("ActionNames.member.1", "secretsmanager:DeleteSecret"),
            ("PolicyExclusionList.member.1.PolicyType", "inline"),
        ],
    );
    let body = r.body_str();
    assert_eq!(r.status, 200, "{body}");
    assert_eq!(xml_all(&body, "EvalDecision"), ["implicitDeny"]);
    let r = query(
        &server,
        "SimulatePrincipalPolicy",
        &[
            ("PolicySourceArn", ROLE),
            ("ActionNames.member.1", "secretsmanager:DeleteSecret"),
            (
                "PolicyExclusionList.member.1.InlinePolicyIdentifier.PolicyName",
                "mfa-decrypt",
            ),
            (
                "PolicyExclusionList.member.1.InlinePolicyIdentifier.AttachmentType",
                "role",
            ),
            (
                "PolicyExclusionList.member.1.InlinePolicyIdentifier.AttachmentName",
                "app",
            ),
        ],
    );
    let body = r.body_str();
    assert_eq!(xml_all(&body, "EvalDecision"), ["explicitDeny"], "{body}");
    assert_eq!(xml_all(&body, "SourcePolicyId"), ["no-delete"]);

    // A user: its attached and inline policies, the inline ones typed `user`.
    cli.ok(&["create-user", "--user-name", "bob"]);
    cli.ok(&[
        "put-user-policy",
        "--user-name",
        "bob",
        "--policy-name",
        "bob-reads",
        "--policy-document",
        READ,
    ]);
    let out = cli.ok(&[
        "simulate-principal-policy",
        "--policy-source-arn",
        "arn:aws:iam::000000000000:user/bob",
        "--action-names",
        "secretsmanager:GetSecretValue",
        "--resource-arns",
        SECRET,
    ]);
    let get = result(&out, "secretsmanager:GetSecretValue");
    assert_eq!(get["EvalDecision"], "allowed", "{get}");
    assert_eq!(
        ids(&get["MatchedStatements"]),
        [("bob-reads".to_string(), "user".to_string())]
    );

    // A role or user that does not exist: NoSuchEntity, as AWS answers.
    let e = cli.err(&[
        "simulate-principal-policy",
        "--policy-source-arn",
        "arn:aws:iam::000000000000:role/nobody",
        "--action-names",
        "kms:Decrypt",
    ]);
    assert!(
        e.contains("(NoSuchEntity)") && e.contains("The role with name nobody cannot be found."),
        "{e}"
    );
    let e = cli.err(&[
        "simulate-principal-policy",
        "--policy-source-arn",
        "arn:aws:iam::000000000000:user/alice",
        "--action-names",
        "kms:Decrypt",
    ]);
    assert!(
        e.contains("(NoSuchEntity)") && e.contains("The user with name alice cannot be found."),
        "{e}"
    );
}

#[test]
fn aws_cli_simulates_custom_policies() {
    if !have_aws() {
        return;
    }
    let server = Server::dev();
    let cli = Cli::new(&server);

    // AWS's documented example, with its answer.
    let out = cli.ok(&[
        "simulate-custom-policy",
        "--policy-input-list",
        AFTER_DATE,
        "--action-names",
        "dynamodb:CreateBackup",
        "--context-entries",
        "ContextKeyName='aws:CurrentTime',ContextKeyValues='2019-04-25T11:00:00Z',ContextKeyType=date",
    ]);
    let r = result(&out, "dynamodb:CreateBackup");
    assert_eq!(r["EvalDecision"], "allowed", "{r}");
    assert_eq!(r["EvalResourceName"], "*");
    let m = &r["MatchedStatements"][0];
    assert_eq!(m["SourcePolicyId"], "PolicyInputList.1");
    assert_eq!(
        m["StartPosition"],
        serde_json::json!({"Line": 1, "Column": 38})
    );
    assert_eq!(
        m["EndPosition"],
        serde_json::json!({"Line": 1, "Column": 167})
    );
    assert_eq!(r["MissingContextValues"], serde_json::json!([]));

    // Before the date: denied; without the key: denied, the key missing.
    let out = cli.ok(&[
        "simulate-custom-policy",
        "--policy-input-list",
        AFTER_DATE,
        "--action-names",
        "dynamodb:CreateBackup",
        "--context-entries",
        "ContextKeyName='aws:CurrentTime',ContextKeyValues='2014-04-25T11:00:00Z',ContextKeyType=date",
    ]);
    let r = result(&out, "dynamodb:CreateBackup");
    assert_eq!(r["EvalDecision"], "implicitDeny", "{r}");
    assert_eq!(r["MatchedStatements"], serde_json::json!([]));
    let out = cli.ok(&[
        "simulate-custom-policy",
        "--policy-input-list",
        AFTER_DATE,
        "--action-names",
        "dynamodb:CreateBackup",
        "dynamodb:DeleteTable",
    ]);
    for action in ["dynamodb:CreateBackup", "dynamodb:DeleteTable"] {
        let r = result(&out, action);
        assert_eq!(r["EvalDecision"], "implicitDeny", "{r}");
        assert_eq!(
            r["MissingContextValues"],
            serde_json::json!(["aws:CurrentTime"])
        );
    }

    // Two policies: the deny of the second wins.
    let out = cli.ok(&[
        "simulate-custom-policy",
        "--policy-input-list",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        r#"{"Version":"2012-10-17","Statement":{"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}}"#,
        "--action-names",
        "s3:GetObject",
        "s3:DeleteObject",
    ]);
    assert_eq!(result(&out, "s3:GetObject")["EvalDecision"], "allowed");
    let del = result(&out, "s3:DeleteObject");
    assert_eq!(del["EvalDecision"], "explicitDeny");
    assert_eq!(ids(&del["MatchedStatements"])[0].0, "PolicyInputList.2");

    // A permissions boundary that does not allow the action.
    let out = cli.ok(&[
        "simulate-custom-policy",
        "--policy-input-list",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        "--permissions-boundary-policy-input-list",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
        "--action-names",
        "kms:Decrypt",
        "secretsmanager:GetSecretValue",
    ]);
    let kms = result(&out, "kms:Decrypt");
    assert_eq!(kms["EvalDecision"], "allowed");
    assert_eq!(
        kms["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"],
        true
    );
    let sm = result(&out, "secretsmanager:GetSecretValue");
    assert_eq!(sm["EvalDecision"], "implicitDeny");
    assert_eq!(
        sm["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"],
        false
    );

    // A resource policy naming the caller.
    let out = cli.ok(&[
        "simulate-custom-policy",
        "--policy-input-list",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}"#,
        "--resource-policy",
        r#"{"Version":"2012-10-17","Statement":{"Sid":"App","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:role/app"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
        "--caller-arn",
        ROLE,
        "--action-names",
        "secretsmanager:GetSecretValue",
        "--resource-arns",
        SECRET,
    ]);
    let r = result(&out, "secretsmanager:GetSecretValue");
    assert_eq!(r["EvalDecision"], "allowed", "{r}");
    assert_eq!(
        ids(&r["ResourceSpecificResults"][0]["MatchedStatements"]),
        [("ResourcePolicy".to_string(), "resource".to_string())]
    );

    // A document that does not parse.
    let e = cli.err(&[
        "simulate-custom-policy",
        "--policy-input-list",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Maybe","Action":"s3:*","Resource":"*"}}"#,
        "--action-names",
        "s3:GetObject",
    ]);
    assert!(e.contains("(InvalidInput)"), "{e}");
}

#[test]
fn query_pages_and_validates() {
    let server = Server::dev();
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#;
    let base = [
        ("PolicyInputList.member.1", doc),
        ("ActionNames.member.1", "kms:Encrypt"),
        ("ActionNames.member.2", "kms:Decrypt"),
        ("ActionNames.member.3", "s3:GetObject"),
    ];
    let mut params = base.to_vec();
    params.push(("MaxItems", "2"));
    let r = query(&server, "SimulateCustomPolicy", &params);
    let body = r.body_str();
    assert_eq!(r.status, 200, "{body}");
    assert!(body.contains("<SimulateCustomPolicyResult>"), "{body}");
    assert_eq!(
        xml_all(&body, "EvalActionName"),
        ["kms:Encrypt", "kms:Decrypt"]
    );
    assert_eq!(xml_all(&body, "IsTruncated"), ["true"]);
    let marker = xml_all(&body, "Marker").pop().unwrap();
    let mut params = base.to_vec();
    params.push(("Marker", &marker));
    let r = query(&server, "SimulateCustomPolicy", &params);
    let body = r.body_str();
    assert_eq!(xml_all(&body, "EvalActionName"), ["s3:GetObject"]);
    assert_eq!(xml_all(&body, "EvalDecision"), ["implicitDeny"]);
    assert_eq!(xml_all(&body, "IsTruncated"), ["false"]);

    // Service control policies: every level must allow.
    let mut params = base.to_vec();
    params.push((
        "OrderedOrganizationPolicyInputList.member.1.ServiceControlPolicyInputList.member.1",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    ));
    params.push((
        "OrderedOrganizationPolicyInputList.member.2.ServiceControlPolicyInputList.member.1",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}"#,
    ));
    let r = query(&server, "SimulateCustomPolicy", &params);
    let body = r.body_str();
    assert_eq!(r.status, 200, "{body}");
    assert_eq!(
        xml_all(&body, "EvalDecision"),
        ["allowed", "implicitDeny", "implicitDeny"]
    );
    assert_eq!(
        xml_all(&body, "AllowedByOrganizations"),
        ["true", "false", "false"]
    );

    // The model's constraints.
    let r = query(
        &server,
        "SimulateCustomPolicy",
        &[("ActionNames.member.1", "kms:Encrypt")],
    );
    assert_eq!(r.status, 400);
    let body = r.body_str().replace("&apos;", "'");
    assert!(
        body.contains("<Code>ValidationError</Code>")
            && body.contains(
                "at 'policyInputList' failed to satisfy constraint: Member must not be null"
            ),
        "{body}"
    );
    let r = query(
        &server,
        "SimulatePrincipalPolicy",
        &[
            ("PolicySourceArn", "arn:aws:iam::0:x"),
            ("ActionNames.member.1", "kms:Encrypt"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body_str()
            .contains("Member must have length greater than or equal to 20"),
        "{}",
        r.body_str()
    );
    let r = query(
        &server,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", doc),
            ("ActionNames.member.1", "kms:Encrypt"),
            ("ContextEntries.member.1.ContextKeyName", "aws:SourceIp"),
            (
                "ContextEntries.member.1.ContextKeyValues.member.1",
                "10.0.0.1",
            ),
            ("ContextEntries.member.1.ContextKeyType", "address"),
        ],
    );
    assert_eq!(r.status, 400);
    let body = r.body_str().replace("&apos;", "'");
    assert!(
        body.contains("at 'contextEntries.1.member.contextKeyType' failed to satisfy constraint"),
        "{body}"
    );
    // A wildcard is no action name.
    let r = query(
        &server,
        "SimulateCustomPolicy",
        &[
            ("PolicyInputList.member.1", doc),
            ("ActionNames.member.1", "kms:*"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body_str().contains("<Code>InvalidInput</Code>"),
        "{}",
        r.body_str()
    );
}

fn iam_client(server: &Server, creds: Credentials) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&server.endpoint)
            .credentials_provider(creds)
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .build(),
    )
}

#[tokio::test]
async fn aws_sdk_for_rust_simulates_and_a_role_session_needs_the_permission() {
    use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};

    let server = Server::secure();
    let account = server.account_id().await;
    let (ak, sk) = server.creds();
    let root = iam_client(&server, Credentials::new(ak, sk, None, None, "root"));
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let role = root
        .create_role()
        .role_name("tester")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    root.put_role_policy()
        .role_name("tester")
        .policy_name("simulate")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Sim","Effect":"Allow","Action":"iam:SimulatePrincipalPolicy","Resource":"*"},{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
        )
        .send()
        .await
        .unwrap();

    // Root: the role's policies, with a context entry.
    let out = root
        .simulate_principal_policy()
        .policy_source_arn(role.arn())
        .action_names("kms:Decrypt")
        .action_names("iam:SimulatePrincipalPolicy")
        .context_entries(
            ContextEntry::builder()
                .context_key_name("aws:SourceIp")
                .context_key_values("10.1.2.3")
                .context_key_type(ContextKeyTypeEnum::Ip)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let results = out.evaluation_results();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].eval_action_name(), "kms:Decrypt");
    assert_eq!(
        results[0].eval_decision(),
        &PolicyEvaluationDecisionType::Allowed
    );
    assert_eq!(
        results[1].eval_decision(),
        &PolicyEvaluationDecisionType::Allowed
    );
    let m = &results[1].matched_statements()[0];
    assert_eq!(m.source_policy_id(), Some("simulate"));
    assert_eq!(m.start_position().map(|p| p.line()), Some(1));
    assert!(!out.is_truncated());

    // Across accounts: a resource policy of another account naming the role; the details
    // say what each side decided.
    let theirs = "arn:aws:secretsmanager:eu-west-1:444455556666:secret:shared-AbCdEf";
    let out = root
        .simulate_custom_policy()
        .policy_input_list(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#,
        )
        .resource_policy(format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"secretsmanager:*","Resource":"*"}}}}"#,
            role.arn()
        ))
        .caller_arn(role.arn())
        .action_names("secretsmanager:GetSecretValue")
        .resource_arns(theirs)
        .send()
        .await
        .unwrap();
    let r = &out.evaluation_results()[0];
    assert_eq!(r.eval_decision(), &PolicyEvaluationDecisionType::Allowed);
    let per = &r.resource_specific_results()[0];
    assert_eq!(per.eval_resource_name(), theirs);
    let details = per.eval_decision_details().unwrap();
    assert_eq!(
        details.get("IAM Policy"),
        Some(&PolicyEvaluationDecisionType::Allowed),
        "{details:?}"
    );
    assert_eq!(
        details.get("Resource Policy"),
        Some(&PolicyEvaluationDecisionType::Allowed)
    );
    assert_eq!(
        per.matched_statements()
            .iter()
            .filter_map(|m| m.source_policy_id())
            .collect::<Vec<_>>(),
        ["PolicyInputList.1", "ResourcePolicy"]
    );

    // The role's session may simulate its own policies but not custom ones.
    let sts = server.sts(PRIMARY);
    let c = sts
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("tester-session")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let session = iam_client(
        &server,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "session",
        ),
    );
    let out = session
        .simulate_principal_policy()
        .policy_source_arn(role.arn())
        .action_names("kms:Decrypt")
        .send()
        .await
        .unwrap();
    let r = &out.evaluation_results()[0];
    assert_eq!(
        r.eval_decision(),
        &PolicyEvaluationDecisionType::ImplicitDeny
    );
    assert_eq!(r.missing_context_values(), ["aws:SourceIp"]);
    let e = session
        .simulate_custom_policy()
        .policy_input_list(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#)
        .action_names("kms:Decrypt")
        .send()
        .await
        .unwrap_err();
    let e = e.into_service_error();
    use aws_sdk_iam::error::ProvideErrorMetadata;
    assert_eq!(e.code(), Some("AccessDenied"));
    assert!(
        e.message()
            .unwrap_or_default()
            .contains("is not authorized to perform: iam:SimulateCustomPolicy on resource: *"),
        "{e:?}"
    );
}
