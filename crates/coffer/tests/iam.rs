//! IAM against the real server: the AWS CLI (v1) for the happy paths, paging and persistence
//! across a crash, raw SigV4-signed Query requests for AWS's error codes, HTTP statuses and
//! URL-encoded documents on the wire, and Terraform's `aws_iam_role`, `aws_iam_policy`,
//! `aws_iam_role_policy_attachment` and `aws_iam_role_policy` when Terraform is installed.
//!
//! The CLI tests skip (printing why) when `aws` is not installed; `.ci/run` installs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use common::*;
use serde_json::{json, Value};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
const DECRYPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;
const READ: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}"#;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

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
            // IAM is global: the CLI signs for us-east-1 whatever the Region.
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

    /// The JSON output of a command that must succeed (`null` when it prints nothing).
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

    /// The error text of a command that must fail.
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

fn doc(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A SigV4-signed IAM Query request (`Version=2010-05-08` added), scoped to `region`.
fn query_in(server: &Server, region: &str, action: &str, params: &[(&str, &str)]) -> RawResponse {
    let mut pairs = vec![("Action", action), ("Version", "2010-05-08")];
    pairs.extend_from_slice(params);
    let body = form_encode(&pairs);
    let (ak, sk) = server.creds();
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
        body.as_bytes(),
        &ak,
        &sk,
        region,
        "iam",
        SystemTime::now(),
    );
    headers.extend(signing);
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| k != "host")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    server.raw("POST", "/", &hdrs, body.as_bytes())
}

fn query(server: &Server, action: &str, params: &[(&str, &str)]) -> RawResponse {
    query_in(server, "us-east-1", action, params)
}

/// The text of the first `<tag>…</tag>` in an XML body.
fn xml_text(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_string())
}

fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Asserts an IAM error: status, `<Code>`, `<Message>`, the IAM namespace and a request ID.
#[track_caller]
fn assert_error(r: &RawResponse, status: u16, code: &str, message: &str) {
    let body = r.body_str();
    assert_eq!(r.status, status, "status of {body}");
    assert!(
        body.contains("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"),
        "{body}"
    );
    assert_eq!(xml_text(&body, "Code").as_deref(), Some(code), "{body}");
    assert_eq!(xml_text(&body, "Type").as_deref(), Some("Sender"), "{body}");
    assert_eq!(
        xml_unescape(&xml_text(&body, "Message").unwrap_or_default()),
        message,
        "{body}"
    );
    assert!(
        xml_text(&body, "RequestId").is_some_and(|id| !id.is_empty()),
        "{body}"
    );
}

#[track_caller]
fn assert_ok(r: &RawResponse) -> String {
    let body = r.body_str();
    assert_eq!(r.status, 200, "{body}");
    body
}

// ---------------------------------------------------------------------------------------
// AWS CLI
// ---------------------------------------------------------------------------------------

#[test]
fn aws_cli_roles_policies_attachments_and_inline_policies() {
    if !have_aws() {
        return;
    }
    let server = Server::dev();
    let cli = Cli::new(&server);

    // Roles.
    let created = cli.ok(&[
        "create-role",
        "--role-name",
        "app",
        "--path",
        "/team/",
        "--description",
        "the app",
        "--max-session-duration",
        "7200",
        "--assume-role-policy-document",
        TRUST,
        "--tags",
        "Key=team,Value=blue",
    ]);
    let role = &created["Role"];
    assert_eq!(role["Arn"], "arn:aws:iam::000000000000:role/team/app");
    assert_eq!(role["Path"], "/team/");
    let role_id = role["RoleId"].as_str().unwrap();
    assert!(
        role_id.len() == 21
            && role_id.starts_with("AROA")
            && role_id[4..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
        "{role_id}"
    );
    // The CLI decodes the URL-encoded document back into JSON.
    assert_eq!(role["AssumeRolePolicyDocument"], doc(TRUST));
    let got = cli.ok(&["get-role", "--role-name", "app"])["Role"].clone();
    assert_eq!(got["RoleId"], role_id);
    assert_eq!(got["Description"], "the app");
    assert_eq!(got["MaxSessionDuration"], 7200);
    assert_eq!(got["Tags"], json!([{"Key": "team", "Value": "blue"}]));
    assert_eq!(got["AssumeRolePolicyDocument"], doc(TRUST));
    assert!(got["CreateDate"].as_str().unwrap().ends_with('Z'));

    cli.ok(&[
        "update-role",
        "--role-name",
        "app",
        "--description",
        "still the app",
        "--max-session-duration",
        "43200",
    ]);
    let trust2 = TRUST.replace(":root", ":role/ci");
    cli.ok(&[
        "update-assume-role-policy",
        "--role-name",
        "app",
        "--policy-document",
        &trust2,
    ]);
    cli.ok(&[
        "tag-role",
        "--role-name",
        "app",
        "--tags",
        "Key=env,Value=prod",
        "Key=TEAM,Value=red",
    ]);
    cli.ok(&["untag-role", "--role-name", "app", "--tag-keys", "env"]);
    let got = cli.ok(&["get-role", "--role-name", "app"])["Role"].clone();
    assert_eq!(got["Description"], "still the app");
    assert_eq!(got["MaxSessionDuration"], 43200);
    assert_eq!(got["AssumeRolePolicyDocument"], doc(&trust2));
    assert_eq!(
        cli.ok(&["list-role-tags", "--role-name", "app"])["Tags"],
        json!([{"Key": "TEAM", "Value": "red"}])
    );
    assert_eq!(
        cli.ok(&["list-instance-profiles-for-role", "--role-name", "app"])["InstanceProfiles"],
        json!([])
    );

    // A managed policy, its versions, attached to the role.
    let p = cli.ok(&[
        "create-policy",
        "--policy-name",
        "decrypt",
        "--path",
        "/team/",
        "--description",
        "decrypt with any key",
        "--policy-document",
        DECRYPT,
        "--tags",
        "Key=team,Value=blue",
    ])["Policy"]
        .clone();
    let arn = p["Arn"].as_str().unwrap().to_string();
    assert_eq!(arn, "arn:aws:iam::000000000000:policy/team/decrypt");
    assert!(p["PolicyId"].as_str().unwrap().starts_with("ANPA"));
    assert_eq!(p["DefaultVersionId"], "v1");
    assert_eq!(p["AttachmentCount"], 0);
    assert_eq!(p["IsAttachable"], true);
    let v2 = cli.ok(&[
        "create-policy-version",
        "--policy-arn",
        &arn,
        "--policy-document",
        READ,
        "--set-as-default",
    ]);
    assert_eq!(v2["PolicyVersion"]["VersionId"], "v2");
    assert_eq!(v2["PolicyVersion"]["IsDefaultVersion"], true);
    let got = cli.ok(&[
        "get-policy-version",
        "--policy-arn",
        &arn,
        "--version-id",
        "v2",
    ]);
    assert_eq!(got["PolicyVersion"]["Document"], doc(READ));
    let versions = cli.ok(&["list-policy-versions", "--policy-arn", &arn])["Versions"].clone();
    let ids: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VersionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["v2", "v1"]);
    cli.ok(&[
        "set-default-policy-version",
        "--policy-arn",
        &arn,
        "--version-id",
        "v1",
    ]);
    cli.ok(&[
        "delete-policy-version",
        "--policy-arn",
        &arn,
        "--version-id",
        "v2",
    ]);
    cli.ok(&[
        "tag-policy",
        "--policy-arn",
        &arn,
        "--tags",
        "Key=x,Value=y",
    ]);
    cli.ok(&["untag-policy", "--policy-arn", &arn, "--tag-keys", "team"]);
    assert_eq!(
        cli.ok(&["list-policy-tags", "--policy-arn", &arn])["Tags"],
        json!([{"Key": "x", "Value": "y"}])
    );

    cli.ok(&[
        "attach-role-policy",
        "--role-name",
        "app",
        "--policy-arn",
        &arn,
    ]);
    assert_eq!(
        cli.ok(&["list-attached-role-policies", "--role-name", "app"])["AttachedPolicies"],
        json!([{"PolicyName": "decrypt", "PolicyArn": arn}])
    );
    let p = cli.ok(&["get-policy", "--policy-arn", &arn])["Policy"].clone();
    assert_eq!(p["AttachmentCount"], 1);
    assert_eq!(p["Description"], "decrypt with any key");
    let entities = cli.ok(&["list-entities-for-policy", "--policy-arn", &arn]);
    assert_eq!(
        entities["PolicyRoles"],
        json!([{"RoleName": "app", "RoleId": role_id}])
    );
    assert_eq!(entities["PolicyUsers"], json!([]));
    assert_eq!(entities["PolicyGroups"], json!([]));
    let attached =
        cli.ok(&["list-policies", "--scope", "Local", "--only-attached"])["Policies"].clone();
    assert_eq!(attached.as_array().unwrap().len(), 1);
    let aws = cli.ok(&["list-policies", "--scope", "AWS"])["Policies"].clone();
    assert!(aws.as_array().unwrap().iter().any(|p| p["Arn"]
        == "arn:aws:iam::aws:policy/SecretsManagerReadWrite"
        && p["IsAttachable"] == true));

    // Inline policies.
    cli.ok(&[
        "put-role-policy",
        "--role-name",
        "app",
        "--policy-name",
        "read",
        "--policy-document",
        READ,
    ]);
    let rp = cli.ok(&[
        "get-role-policy",
        "--role-name",
        "app",
        "--policy-name",
        "read",
    ]);
    assert_eq!(rp["RoleName"], "app");
    assert_eq!(rp["PolicyName"], "read");
    assert_eq!(rp["PolicyDocument"], doc(READ));
    assert_eq!(
        cli.ok(&["list-role-policies", "--role-name", "app"])["PolicyNames"],
        json!(["read"])
    );

    // Deletion needs everything detached and deleted first.
    let e = cli.err(&["delete-role", "--role-name", "app"]);
    assert!(
        e.contains("DeleteConflict") && e.contains("must detach all policies first"),
        "{e}"
    );
    let e = cli.err(&["delete-policy", "--policy-arn", &arn]);
    assert!(
        e.contains("Cannot delete a policy attached to entities."),
        "{e}"
    );
    cli.ok(&[
        "detach-role-policy",
        "--role-name",
        "app",
        "--policy-arn",
        &arn,
    ]);
    let e = cli.err(&["delete-role", "--role-name", "app"]);
    assert!(
        e.contains("Cannot delete entity, must delete policies first."),
        "{e}"
    );
    cli.ok(&[
        "delete-role-policy",
        "--role-name",
        "app",
        "--policy-name",
        "read",
    ]);
    cli.ok(&["delete-role", "--role-name", "app"]);
    cli.ok(&["delete-policy", "--policy-arn", &arn]);
    let e = cli.err(&["get-role", "--role-name", "app"]);
    assert!(
        e.contains("NoSuchEntity") && e.contains("The role with name app cannot be found."),
        "{e}"
    );
    assert_eq!(cli.ok(&["list-roles"])["Roles"], json!([]));
    assert_eq!(
        cli.ok(&["list-policies", "--scope", "Local"])["Policies"],
        json!([])
    );
}

#[test]
fn aws_cli_pages_through_roles_and_policies() {
    if !have_aws() {
        return;
    }
    let server = Server::dev();
    let cli = Cli::new(&server);
    let mut want = Vec::new();
    for i in 0..7 {
        let name = format!("role-{i}");
        let path = if i % 2 == 0 { "/even/" } else { "/odd/" };
        cli.ok(&[
            "create-role",
            "--role-name",
            &name,
            "--path",
            path,
            "--assume-role-policy-document",
            TRUST,
        ]);
        cli.ok(&[
            "create-policy",
            "--policy-name",
            &format!("policy-{i}"),
            "--policy-document",
            DECRYPT,
        ]);
        want.push(name);
    }
    // The CLI follows the server's Marker page by page (MaxItems=2).
    let all = cli.ok(&["list-roles", "--page-size", "2"])["Roles"].clone();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["RoleName"].as_str().unwrap())
        .collect();
    assert_eq!(names, want);
    // One page at a time: the CLI hands back a token wrapping the server's Marker.
    let first = cli.ok(&["list-roles", "--max-items", "3"]);
    assert_eq!(first["Roles"].as_array().unwrap().len(), 3);
    let token = first["NextToken"].as_str().expect("NextToken").to_string();
    let rest = cli.ok(&["list-roles", "--starting-token", &token]);
    assert_eq!(rest["Roles"].as_array().unwrap().len(), 4);
    assert_eq!(rest["Roles"][0]["RoleName"], "role-3");
    // Path prefixes.
    let even = cli.ok(&["list-roles", "--path-prefix", "/even/"])["Roles"].clone();
    assert_eq!(even.as_array().unwrap().len(), 4);
    let policies =
        cli.ok(&["list-policies", "--scope", "Local", "--page-size", "3"])["Policies"].clone();
    assert_eq!(policies.as_array().unwrap().len(), 7);

    // On the wire: IsTruncated and Marker.
    let page1 = assert_ok(&query(&server, "ListRoles", &[("MaxItems", "5")]));
    assert_eq!(xml_text(&page1, "IsTruncated").as_deref(), Some("true"));
    let marker = xml_text(&page1, "Marker").expect("Marker");
    let page2 = assert_ok(&query(
        &server,
        "ListRoles",
        &[("MaxItems", "5"), ("Marker", &marker)],
    ));
    assert_eq!(xml_text(&page2, "IsTruncated").as_deref(), Some("false"));
    assert!(xml_text(&page2, "Marker").is_none());
    assert_eq!(page2.matches("<RoleName>").count(), 2);
}

#[test]
fn aws_cli_state_survives_a_crash() {
    if !have_aws() {
        return;
    }
    let mut server = Server::dev();
    let (role_id, arn) = {
        let cli = Cli::new(&server);
        let r = cli.ok(&[
            "create-role",
            "--role-name",
            "durable",
            "--assume-role-policy-document",
            TRUST,
            "--tags",
            "Key=k,Value=v",
        ]);
        let p = cli.ok(&[
            "create-policy",
            "--policy-name",
            "durable",
            "--policy-document",
            DECRYPT,
        ]);
        let arn = p["Policy"]["Arn"].as_str().unwrap().to_string();
        cli.ok(&[
            "create-policy-version",
            "--policy-arn",
            &arn,
            "--policy-document",
            READ,
            "--set-as-default",
        ]);
        cli.ok(&[
            "attach-role-policy",
            "--role-name",
            "durable",
            "--policy-arn",
            &arn,
        ]);
        cli.ok(&[
            "put-role-policy",
            "--role-name",
            "durable",
            "--policy-name",
            "inline",
            "--policy-document",
            DECRYPT,
        ]);
        (r["Role"]["RoleId"].as_str().unwrap().to_string(), arn)
    };

    server.crash_restart();

    let cli = Cli::new(&server);
    let r = cli.ok(&["get-role", "--role-name", "durable"])["Role"].clone();
    assert_eq!(r["RoleId"], role_id.as_str());
    assert_eq!(r["AssumeRolePolicyDocument"], doc(TRUST));
    assert_eq!(r["Tags"], json!([{"Key": "k", "Value": "v"}]));
    let p = cli.ok(&["get-policy", "--policy-arn", &arn])["Policy"].clone();
    assert_eq!(p["DefaultVersionId"], "v2");
    assert_eq!(p["AttachmentCount"], 1);
    assert_eq!(
        cli.ok(&[
            "get-policy-version",
            "--policy-arn",
            &arn,
            "--version-id",
            "v1"
        ])["PolicyVersion"]["Document"],
        doc(DECRYPT)
    );
    assert_eq!(
        cli.ok(&["list-attached-role-policies", "--role-name", "durable"])["AttachedPolicies"][0]
            ["PolicyArn"],
        arn.as_str()
    );
    assert_eq!(
        cli.ok(&[
            "get-role-policy",
            "--role-name",
            "durable",
            "--policy-name",
            "inline"
        ])["PolicyDocument"],
        doc(DECRYPT)
    );
    // The next version number continues where it was.
    let v3 = cli.ok(&[
        "create-policy-version",
        "--policy-arn",
        &arn,
        "--policy-document",
        DECRYPT,
    ]);
    assert_eq!(v3["PolicyVersion"]["VersionId"], "v3");

    // The dev reset empties IAM too.
    let reset = server.raw("POST", "/_coffer/reset", &[], b"");
    assert_eq!(reset.status, 200);
    let e = cli.err(&["get-role", "--role-name", "durable"]);
    assert!(e.contains("NoSuchEntity"), "{e}");
}

// ---------------------------------------------------------------------------------------
// The wire: errors, statuses, encodings
// ---------------------------------------------------------------------------------------

#[test]
fn query_errors_have_aws_codes_statuses_and_messages() {
    let server = Server::dev();

    assert_error(
        &query(&server, "GetRole", &[("RoleName", "ghost")]),
        404,
        "NoSuchEntity",
        "The role with name ghost cannot be found.",
    );
    assert_ok(&query(
        &server,
        "CreateRole",
        &[("RoleName", "app"), ("AssumeRolePolicyDocument", TRUST)],
    ));
    assert_error(
        &query(
            &server,
            "CreateRole",
            &[("RoleName", "APP"), ("AssumeRolePolicyDocument", TRUST)],
        ),
        409,
        "EntityAlreadyExists",
        "Role with name APP already exists.",
    );
    assert_error(
        &query(
            &server,
            "CreateRole",
            &[
                ("RoleName", "r2"),
                ("AssumeRolePolicyDocument", "{not json"),
            ],
        ),
        400,
        "MalformedPolicyDocument",
        "Syntax errors in policy.",
    );
    assert_error(
        &query(
            &server,
            "CreateRole",
            &[("RoleName", "r2"), ("AssumeRolePolicyDocument", DECRYPT)],
        ),
        400,
        "MalformedPolicyDocument",
        "Has prohibited field Resource",
    );
    let big_trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:role/{}"}},"Action":"sts:AssumeRole"}}]}}"#,
        "r".repeat(2000)
    );
    assert_error(
        &query(
            &server,
            "CreateRole",
            &[("RoleName", "r2"), ("AssumeRolePolicyDocument", &big_trust)],
        ),
        409,
        "LimitExceeded",
        "Cannot exceed quota for ACLSizePerRole: 2048",
    );
    assert_error(
        &query(
            &server,
            "UpdateRole",
            &[("RoleName", "app"), ("MaxSessionDuration", "100")],
        ),
        400,
        "ValidationError",
        "1 validation error detected: Value '100' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600",
    );
    assert_error(
        &query(&server, "GetRole", &[]),
        400,
        "ValidationError",
        "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null",
    );
    assert_error(
        &query(
            &server,
            "TagRole",
            &[
                ("RoleName", "app"),
                ("Tags.member.1.Key", "a"),
                ("Tags.member.1.Value", "1"),
                ("Tags.member.2.Key", "A"),
                ("Tags.member.2.Value", "2"),
            ],
        ),
        400,
        "InvalidInput",
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
    );

    // Managed policies.
    assert_error(
        &query(
            &server,
            "CreatePolicy",
            &[
                ("PolicyName", "p"),
                (
                    "PolicyDocument",
                    r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
                ),
            ],
        ),
        400,
        "MalformedPolicyDocument",
        "Policy document must be version 2012-10-17 or greater.",
    );
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}}}"#,
        "b".repeat(6100)
    );
    assert_error(
        &query(
            &server,
            "CreatePolicy",
            &[("PolicyName", "p"), ("PolicyDocument", &big)],
        ),
        409,
        "LimitExceeded",
        "Cannot exceed quota for PolicySize: 6144",
    );
    let created = assert_ok(&query(
        &server,
        "CreatePolicy",
        &[("PolicyName", "p"), ("PolicyDocument", DECRYPT)],
    ));
    let arn = xml_text(&created, "Arn").unwrap();
    assert_error(
        &query(
            &server,
            "CreatePolicy",
            &[("PolicyName", "P"), ("PolicyDocument", DECRYPT)],
        ),
        409,
        "EntityAlreadyExists",
        "A policy called P already exists. Duplicate names are not allowed.",
    );
    assert_error(
        &query(
            &server,
            "GetPolicy",
            &[("PolicyArn", "arn:aws:iam::000000000000:policy/ghost")],
        ),
        404,
        "NoSuchEntity",
        "Policy arn:aws:iam::000000000000:policy/ghost was not found.",
    );
    assert_error(
        &query(
            &server,
            "GetPolicy",
            &[("PolicyArn", "not-an-arn-at-all-really")],
        ),
        400,
        "InvalidInput",
        "ARN not-an-arn-at-all-really is not valid.",
    );
    for _ in 0..4 {
        assert_ok(&query(
            &server,
            "CreatePolicyVersion",
            &[("PolicyArn", &arn), ("PolicyDocument", DECRYPT)],
        ));
    }
    assert_error(
        &query(
            &server,
            "CreatePolicyVersion",
            &[("PolicyArn", &arn), ("PolicyDocument", DECRYPT)],
        ),
        409,
        "LimitExceeded",
        "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
    );
    assert_error(
        &query(
            &server,
            "DeletePolicyVersion",
            &[("PolicyArn", &arn), ("VersionId", "v1")],
        ),
        409,
        "DeleteConflict",
        "Cannot delete the default version of a policy.",
    );
    assert_error(
        &query(&server, "DeletePolicy", &[("PolicyArn", &arn)]),
        409,
        "DeleteConflict",
        "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
    );
    assert_error(
        &query(
            &server,
            "GetPolicyVersion",
            &[("PolicyArn", &arn), ("VersionId", "v9")],
        ),
        404,
        "NoSuchEntity",
        &format!("Policy {arn} version v9 does not exist or is not attachable."),
    );

    // Attachments and inline policies.
    assert_error(
        &query(
            &server,
            "AttachRolePolicy",
            &[
                ("RoleName", "app"),
                ("PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
            ],
        ),
        404,
        "NoSuchEntity",
        "Policy arn:aws:iam::aws:policy/ReadOnlyAccess does not exist or is not attachable.",
    );
    assert_ok(&query(
        &server,
        "AttachRolePolicy",
        &[("RoleName", "app"), ("PolicyArn", &arn)],
    ));
    assert_error(
        &query(&server, "DeleteRole", &[("RoleName", "app")]),
        409,
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    );
    assert_error(
        &query(
            &server,
            "PutRolePolicy",
            &[
                ("RoleName", "app"),
                ("PolicyName", "bad"),
                (
                    "PolicyDocument",
                    r#"{"Statement":{"Effect":"Allow","Action":"kms","Resource":"*"}}"#,
                ),
            ],
        ),
        400,
        "MalformedPolicyDocument",
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
    );
    assert_error(
        &query(
            &server,
            "GetRolePolicy",
            &[("RoleName", "app"), ("PolicyName", "none")],
        ),
        404,
        "NoSuchEntity",
        "The role policy with name none cannot be found.",
    );

    // Operations Coffer does not serve are refused, never answered with a silent success.
    assert_error(
        &query(&server, "CreateLoginProfile", &[("UserName", "ops")]),
        400,
        "InvalidAction",
        "Could not find operation CreateLoginProfile for service iam: Coffer does not support it yet.",
    );
}

#[test]
fn documents_travel_url_encoded_and_iam_answers_in_every_region() {
    let server = Server::dev();
    // Signed for another Region: IAM is global and answers the same state.
    let created = assert_ok(&query_in(
        &server,
        "eu-west-1",
        "CreateRole",
        &[("RoleName", "app"), ("AssumeRolePolicyDocument", TRUST)],
    ));
    assert!(
        created.starts_with(
            "<CreateRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
        ),
        "{created}"
    );
    assert!(xml_text(&created, "RequestId").is_some());
    let got = assert_ok(&query(&server, "GetRole", &[("RoleName", "app")]));
    let encoded = xml_text(&got, "AssumeRolePolicyDocument").unwrap();
    assert!(
        encoded.starts_with("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B"),
        "{encoded}"
    );
    assert!(
        encoded.contains("arn%3Aaws%3Aiam%3A%3A000000000000%3Aroot"),
        "{encoded}"
    );
    let date = xml_text(&got, "CreateDate").unwrap();
    assert!(
        date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T',
        "{date}"
    );

    assert_ok(&query(
        &server,
        "PutRolePolicy",
        &[
            ("RoleName", "app"),
            ("PolicyName", "read"),
            ("PolicyDocument", READ),
        ],
    ));
    let rp = assert_ok(&query(
        &server,
        "GetRolePolicy",
        &[("RoleName", "app"), ("PolicyName", "read")],
    ));
    assert_eq!(
        xml_text(&rp, "PolicyDocument").unwrap(),
        "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22secretsmanager%3AGetSecretValue%22%2C%20%22Resource%22%3A%20%22%2A%22%7D%5D%7D"
    );
    let created = assert_ok(&query(
        &server,
        "CreatePolicy",
        &[("PolicyName", "p"), ("PolicyDocument", DECRYPT)],
    ));
    let arn = xml_text(&created, "Arn").unwrap();
    let v = assert_ok(&query(
        &server,
        "GetPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v1")],
    ));
    assert_eq!(
        xml_text(&v, "Document").unwrap(),
        "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22kms%3ADecrypt%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"
    );
    // Actions without a result answer the envelope and request ID only.
    let del = assert_ok(&query(
        &server,
        "DeleteRolePolicy",
        &[("RoleName", "app"), ("PolicyName", "read")],
    ));
    assert!(del.contains(
        "<DeleteRolePolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
    ));
    assert!(!del.contains("DeleteRolePolicyResult"), "{del}");
}

// ---------------------------------------------------------------------------------------
// Terraform
// ---------------------------------------------------------------------------------------

const TF_IAM: &str = r#"
variable "endpoint" { type = string }
variable "actions" { type = list(string) }
provider "aws" {
  region                      = "eu-central-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    iam = var.endpoint
    sts = var.endpoint
  }
}
resource "aws_iam_role" "app" {
  name                 = "tf-app"
  path                 = "/apps/"
  description          = "the app"
  max_session_duration = 7200
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { AWS = "arn:aws:iam::000000000000:root" }, Action = "sts:AssumeRole" }]
  })
  tags = { team = "blue" }
}
resource "aws_iam_policy" "decrypt" {
  name        = "tf-decrypt"
  description = "decrypt"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = var.actions, Resource = "*" }]
  })
  tags = { team = "blue" }
}
resource "aws_iam_role_policy_attachment" "decrypt" {
  role       = aws_iam_role.app.name
  policy_arn = aws_iam_policy.decrypt.arn
}
resource "aws_iam_role_policy" "read" {
  name = "read"
  role = aws_iam_role.app.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = "*" }]
  })
}
output "role_arn" { value = aws_iam_role.app.arn }
output "policy_arn" { value = aws_iam_policy.decrypt.arn }
"#;

fn terraform_available() -> bool {
    let ok = Command::new("terraform")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok && Path::new("/opt/tf-plugins").is_dir()
}

fn terraform(server: &Server, dir: &Path, args: &[&str]) -> std::process::Output {
    let rc: PathBuf = repo_root().join("tests/terraform/seed/terraformrc");
    let mut cmd = Command::new("timeout");
    cmd.arg("-k")
        .arg("10")
        .arg("600")
        .arg("terraform")
        .args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("TF_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", rc)
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("CHECKPOINT_DISABLE", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .output()
        .expect("run terraform");
    let _ = server;
    out
}

#[track_caller]
fn terraform_ok(server: &Server, dir: &Path, args: &[&str]) -> String {
    let out = terraform(server, dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "terraform {} failed ({}):\n{}\n{}\n--- coffer log ---\n{}",
        args.join(" "),
        out.status,
        tail(&stdout, 8000),
        tail(&String::from_utf8_lossy(&out.stderr), 6000),
        tail(&server.log(), 4000)
    );
    stdout
}

#[test]
fn terraform_manages_roles_policies_and_attachments() {
    if !terraform_available() {
        println!("skipping: terraform or /opt/tf-plugins missing");
        return;
    }
    let server = Server::dev();
    let dir = tempfile::Builder::new()
        .prefix("coffer-tf-iam-")
        .tempdir()
        .unwrap();
    std::fs::write(dir.path().join("main.tf"), TF_IAM).unwrap();
    let endpoint = format!("endpoint={}", server.endpoint);
    terraform_ok(&server, dir.path(), &["init", "-input=false", "-no-color"]);
    for actions in [
        r#"actions=["kms:Decrypt"]"#,
        r#"actions=["kms:Decrypt","kms:Encrypt"]"#,
    ] {
        let vars = ["-var", endpoint.as_str(), "-var", actions];
        let mut apply = vec!["apply", "-auto-approve", "-input=false", "-no-color"];
        apply.extend_from_slice(&vars);
        terraform_ok(&server, dir.path(), &apply);
        let mut plan = vec!["plan", "-detailed-exitcode", "-input=false", "-no-color"];
        plan.extend_from_slice(&vars);
        let out = terraform(&server, dir.path(), &plan);
        assert_eq!(
            out.status.code(),
            Some(0),
            "plan after apply is not empty:\n{}\n{}",
            tail(&String::from_utf8_lossy(&out.stdout), 8000),
            tail(&String::from_utf8_lossy(&out.stderr), 4000)
        );
    }
    // The second apply made a new default version of the policy.
    let arn = "arn:aws:iam::000000000000:policy/tf-decrypt";
    let p = assert_ok(&query(&server, "GetPolicy", &[("PolicyArn", arn)]));
    assert_eq!(xml_text(&p, "DefaultVersionId").as_deref(), Some("v2"));
    assert_eq!(xml_text(&p, "AttachmentCount").as_deref(), Some("1"));
    let mut destroy = vec!["destroy", "-auto-approve", "-input=false", "-no-color"];
    let actions = r#"actions=["kms:Decrypt"]"#;
    destroy.extend_from_slice(&["-var", endpoint.as_str(), "-var", actions]);
    terraform_ok(&server, dir.path(), &destroy);
    let roles = assert_ok(&query(&server, "ListRoles", &[]));
    assert!(!roles.contains("<member>"), "{roles}");
    let policies = assert_ok(&query(&server, "ListPolicies", &[("Scope", "Local")]));
    assert!(!policies.contains("<member>"), "{policies}");
}

/// Users, their keys and policies, an OIDC provider and a role it may assume (issue 13).
const TF_WORKLOADS: &str = r#"
variable "endpoint" { type = string }
provider "aws" {
  region                      = "eu-central-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    iam = var.endpoint
    sts = var.endpoint
  }
}
resource "aws_iam_openid_connect_provider" "cluster" {
  url             = "https://oidc.example.internal/cluster"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]
  tags            = { cluster = "blue" }
}
resource "aws_iam_role" "reader" {
  name = "tf-reader"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = aws_iam_openid_connect_provider.cluster.arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = { StringEquals = { "oidc.example.internal/cluster:sub" = "system:serviceaccount:apps:reader" } }
    }]
  })
}
resource "aws_iam_policy" "read" {
  name   = "tf-read-secrets"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["secretsmanager:GetSecretValue"], Resource = "*" }]
  })
}
resource "aws_iam_user" "app" {
  name = "tf-app"
  path = "/services/"
  tags = { team = "blue" }
}
resource "aws_iam_user_policy_attachment" "read" {
  user       = aws_iam_user.app.name
  policy_arn = aws_iam_policy.read.arn
}
resource "aws_iam_user_policy" "decrypt" {
  name = "decrypt"
  user = aws_iam_user.app.name
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["kms:Decrypt"], Resource = "*" }]
  })
}
resource "aws_iam_access_key" "app" {
  user = aws_iam_user.app.name
}
output "access_key_id" { value = aws_iam_access_key.app.id }
"#;

#[test]
fn terraform_manages_users_access_keys_and_oidc_providers() {
    if !terraform_available() {
        println!("skipping: terraform or /opt/tf-plugins missing");
        return;
    }
    let server = Server::dev();
    let dir = tempfile::Builder::new()
        .prefix("coffer-tf-workloads-")
        .tempdir()
        .unwrap();
    std::fs::write(dir.path().join("main.tf"), TF_WORKLOADS).unwrap();
    let endpoint = format!("endpoint={}", server.endpoint);
    let vars = ["-var", endpoint.as_str()];
    terraform_ok(&server, dir.path(), &["init", "-input=false", "-no-color"]);
    let mut apply = vec!["apply", "-auto-approve", "-input=false", "-no-color"];
    apply.extend_from_slice(&vars);
    terraform_ok(&server, dir.path(), &apply);
    let mut plan = vec!["plan", "-detailed-exitcode", "-input=false", "-no-color"];
    plan.extend_from_slice(&vars);
    let out = terraform(&server, dir.path(), &plan);
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan after apply is not empty:\n{}\n{}",
        tail(&String::from_utf8_lossy(&out.stdout), 8000),
        tail(&String::from_utf8_lossy(&out.stderr), 4000)
    );
    let keys = assert_ok(&query(&server, "ListAccessKeys", &[("UserName", "tf-app")]));
    assert!(keys.contains("<Status>Active</Status>"), "{keys}");
    let mut destroy = vec!["destroy", "-auto-approve", "-input=false", "-no-color"];
    destroy.extend_from_slice(&vars);
    terraform_ok(&server, dir.path(), &destroy);
    let users = assert_ok(&query(&server, "ListUsers", &[]));
    assert!(!users.contains("<member>"), "{users}");
    let providers = assert_ok(&query(&server, "ListOpenIDConnectProviders", &[]));
    assert!(!providers.contains("<member>"), "{providers}");
}

// ---------------------------------------------------------------------------------------
// AWS SDK for Rust
// ---------------------------------------------------------------------------------------

fn iam_client(server: &Server) -> aws_sdk_iam::Client {
    let (ak, sk) = server.creds();
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .endpoint_url(&server.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                ak, sk, None, None, "test",
            ))
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .build(),
    )
}

/// RFC 3986 percent-decoding (the SDK hands policy documents back URL-encoded, as AWS sends them).
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn aws_sdk_for_rust_speaks_iam() {
    use aws_sdk_iam::operation::delete_role::DeleteRoleError;
    use aws_sdk_iam::operation::get_role::GetRoleError;
    use aws_sdk_iam::types::Tag as SdkTag;

    let server = Server::dev();
    let iam = iam_client(&server);
    let role = iam
        .create_role()
        .role_name("sdk-app")
        .path("/sdk/")
        .assume_role_policy_document(TRUST)
        .tags(SdkTag::builder().key("k").value("v").build().unwrap())
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(role.arn, "arn:aws:iam::000000000000:role/sdk/sdk-app");
    assert!(role.role_id.starts_with("AROA"));
    let encoded = role.assume_role_policy_document.unwrap();
    assert!(encoded.starts_with("%7B%22Version%22"), "{encoded}");
    assert_eq!(url_decode(&encoded), TRUST);

    let policy = iam
        .create_policy()
        .policy_name("sdk-decrypt")
        .policy_document(DECRYPT)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let arn = policy.arn.unwrap();
    assert_eq!(policy.default_version_id.as_deref(), Some("v1"));
    iam.attach_role_policy()
        .role_name("sdk-app")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let v = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap();
    assert_eq!(url_decode(&v.document.unwrap()), DECRYPT);
    assert!(v.is_default_version);

    // Typed errors.
    let e = iam
        .delete_role()
        .role_name("sdk-app")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.as_service_error(),
            Some(DeleteRoleError::DeleteConflictException(_))
        ),
        "{e:?}"
    );
    let e = iam.get_role().role_name("ghost").send().await.unwrap_err();
    match e.as_service_error() {
        Some(GetRoleError::NoSuchEntityException(x)) => assert_eq!(
            x.message(),
            Some("The role with name ghost cannot be found.")
        ),
        other => panic!("{other:?}"),
    }

    // The paginator follows the server's markers.
    for i in 0..5 {
        iam.create_role()
            .role_name(format!("paged-{i}"))
            .assume_role_policy_document(TRUST)
            .send()
            .await
            .unwrap();
    }
    let pages: Vec<_> = iam
        .list_roles()
        .max_items(2)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    let names: Vec<String> = pages
        .iter()
        .flat_map(|p| p.roles.iter().map(|r| r.role_name.clone()))
        .collect();
    assert_eq!(
        names,
        ["paged-0", "paged-1", "paged-2", "paged-3", "paged-4", "sdk-app"]
    );
    assert!(pages[0].is_truncated);
    assert!(!pages[2].is_truncated);
}
