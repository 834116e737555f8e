//! Real clients: the AWS CLI (v1) and Terraform with the AWS provider, unchanged.
//!
//! Each test skips (printing why) when its client is not installed; `.ci/run` installs the
//! AWS CLI. Terraform needs `terraform` on PATH and the provider mirror in /opt/tf-plugins.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_kms::types::KeyState;
use aws_sdk_secretsmanager::types::ReplicaRegionType;
use common::terraform::*;
use common::*;

// ---------------------------------------------------------------------------------------
// AWS CLI
// ---------------------------------------------------------------------------------------

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// An `aws` invocation isolated from the user's configuration.
fn aws_cmd(server: &Server, home: &Path, creds: Creds<'_>) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg("-k").arg("10").arg("300").arg("aws");
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .env("HOME", home)
        .arg("--endpoint-url")
        .arg(&server.endpoint)
        .arg("--output")
        .arg("json");
    match creds {
        Creds::Env(ak, sk) => {
            cmd.env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
                .env("AWS_ACCESS_KEY_ID", ak)
                .env("AWS_SECRET_ACCESS_KEY", sk);
        }
        Creds::File(path) => {
            cmd.env("AWS_SHARED_CREDENTIALS_FILE", path);
        }
    }
    cmd
}

enum Creds<'a> {
    Env(&'a str, &'a str),
    File(&'a Path),
}

#[track_caller]
fn run_ok(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[track_caller]
fn run_json(cmd: Command, what: &str) -> serde_json::Value {
    let text = run_ok(cmd, what);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

#[tokio::test]
async fn aws_cli_runs_the_blog_checks() {
    if !have("aws", "--version") {
        println!("skipping: aws CLI not installed (python3 -m pip install awscli)");
        return;
    }
    let server = Server::dev();
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut c = aws_cmd(&server, home.path(), Creds::Env(DEV_AK, DEV_SK));
        c.args(args);
        c
    };

    // The seed's resources, made with the SDK.
    let kms = server.kms(PRIMARY);
    let kms_r = server.kms(REPLICA);
    let k = kms.create_key().multi_region(true).send().await.unwrap();
    let key_id = k.key_metadata().unwrap().key_id().to_string();
    kms.replicate_key()
        .key_id(&key_id)
        .replica_region(REPLICA)
        .send()
        .await
        .unwrap();
    eventually("replica Enabled", Duration::from_secs(15), || async {
        kms_r
            .describe_key()
            .key_id(&key_id)
            .send()
            .await
            .ok()
            .and_then(|o| o.key_metadata().and_then(|m| m.key_state()).cloned())
            .filter(|s| *s == KeyState::Enabled)
    })
    .await;
    kms_r
        .create_alias()
        .alias_name("alias/eu-west-1-secrets-manager")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let sm = server.secrets(PRIMARY);
    let created = sm
        .create_secret()
        .name("name-of-secret-string")
        .kms_key_id(&key_id)
        .add_replica_regions(
            ReplicaRegionType::builder()
                .region(REPLICA)
                .kms_key_id(&key_id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string("actual-secret-string")
        .send()
        .await
        .unwrap();

    // aws secretsmanager list-secrets --region … | jq '.SecretList[] | .Name, .KmsKeyId'
    for region in [PRIMARY, REPLICA] {
        let v = run_json(
            cli(&["secretsmanager", "list-secrets", "--region", region]),
            &format!("aws secretsmanager list-secrets --region {region}"),
        );
        let list = v["SecretList"].as_array().expect("SecretList");
        let pairs: Vec<(String, String)> = list
            .iter()
            .map(|s| {
                (
                    s["Name"].as_str().unwrap_or_default().to_string(),
                    s["KmsKeyId"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [("name-of-secret-string".to_string(), key_id.clone())],
            "{region}: {v}"
        );
    }

    // aws secretsmanager get-secret-value --secret-id <replica ARN> --region eu-west-1
    let replica_arn = arn.replacen(&format!(":{PRIMARY}:"), &format!(":{REPLICA}:"), 1);
    let v = run_json(
        cli(&[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            &replica_arn,
            "--region",
            REPLICA,
        ]),
        "aws secretsmanager get-secret-value (replica ARN)",
    );
    assert_eq!(v["SecretString"], "actual-secret-string", "{v}");
    assert_eq!(v["ARN"], replica_arn.as_str());

    // The same key in both regions, through the CLI: encrypt in one, decrypt in the other.
    let pt_path = home.path().join("pt.bin");
    std::fs::write(&pt_path, b"cli round trip").unwrap();
    let v = run_json(
        cli(&[
            "kms",
            "encrypt",
            "--key-id",
            &key_id,
            "--plaintext",
            &format!("fileb://{}", pt_path.display()),
            "--region",
            PRIMARY,
        ]),
        "aws kms encrypt",
    );
    let ct = b64decode(v["CiphertextBlob"].as_str().expect("CiphertextBlob")).unwrap();
    let ct_path = home.path().join("ct.bin");
    std::fs::write(&ct_path, ct).unwrap();
    let v = run_json(
        cli(&[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", ct_path.display()),
            "--region",
            REPLICA,
        ]),
        "aws kms decrypt in the replica region",
    );
    assert_eq!(
        b64decode(v["Plaintext"].as_str().expect("Plaintext")).unwrap(),
        b"cli round trip"
    );
    let v = run_json(
        cli(&[
            "kms",
            "describe-key",
            "--key-id",
            "alias/eu-west-1-secrets-manager",
            "--region",
            REPLICA,
        ]),
        "aws kms describe-key",
    );
    assert_eq!(v["KeyMetadata"]["KeyId"], key_id.as_str());
    assert_eq!(
        v["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );

    // A CLI error is an AWS error, not a crash.
    let out = cli(&[
        "kms",
        "describe-key",
        "--key-id",
        "alias/nope",
        "--region",
        PRIMARY,
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NotFoundException"), "{err}");
}

#[tokio::test]
async fn aws_cli_with_root_credentials_file() {
    if !have("aws", "--version") {
        println!("skipping: aws CLI not installed (python3 -m pip install awscli)");
        return;
    }
    let server = Server::secure();
    let home = tempfile::tempdir().unwrap();
    let creds_file = server.root_credentials_path();
    let k = server.kms(PRIMARY).create_key().send().await.unwrap();
    let key_id = k.key_metadata().unwrap().key_id().to_string();

    let mut c = aws_cmd(&server, home.path(), Creds::File(&creds_file));
    c.args(["kms", "list-keys", "--region", PRIMARY]);
    let v = run_json(
        c,
        "AWS_SHARED_CREDENTIALS_FILE=root-credentials aws kms list-keys",
    );
    let keys = v["Keys"].as_array().expect("Keys");
    assert!(
        keys.iter().any(|k| k["KeyId"] == key_id.as_str()),
        "{key_id} not in {v}"
    );

    let mut c = aws_cmd(&server, home.path(), Creds::File(&creds_file));
    c.args([
        "secretsmanager",
        "create-secret",
        "--name",
        "cli-secret",
        "--secret-string",
        "from the cli",
        "--region",
        REPLICA,
    ]);
    run_json(c, "aws secretsmanager create-secret");
    let mut c = aws_cmd(&server, home.path(), Creds::File(&creds_file));
    c.args([
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "cli-secret",
        "--region",
        REPLICA,
    ]);
    let v = run_json(c, "aws secretsmanager get-secret-value");
    assert_eq!(v["SecretString"], "from the cli");

    let mut c = aws_cmd(&server, home.path(), Creds::File(&creds_file));
    c.args(["sts", "get-caller-identity", "--region", PRIMARY]);
    let v = run_json(c, "aws sts get-caller-identity");
    let account = server.account_id().await;
    assert_eq!(v["Account"], account.as_str());

    // Wrong credentials are refused with AWS's error.
    let mut c = aws_cmd(
        &server,
        home.path(),
        Creds::Env(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
    );
    c.args(["kms", "list-keys", "--region", PRIMARY]);
    let out = c.output().unwrap();
    assert!(!out.status.success(), "unknown credentials must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UnrecognizedClientException"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Terraform
// ---------------------------------------------------------------------------------------

async fn terraform_seed(server: &Server, extra_vars: Vec<String>, suffix: &str, twice: bool) {
    let mut vars = vec![
        format!("endpoint={}", server.endpoint),
        format!("suffix={suffix}"),
    ];
    vars.extend(extra_vars);
    let tf = Tf::new(vars);
    tf.ok(server, &["init", "-input=false", "-no-color"], false);

    let rounds = if twice { 2 } else { 1 };
    for round in 1..=rounds {
        tf.ok(
            server,
            &["apply", "-auto-approve", "-input=false", "-no-color"],
            true,
        );
        let outputs = tf.ok(server, &["output", "-json", "-no-color"], false);
        let outputs: serde_json::Value = serde_json::from_str(&outputs).unwrap();
        let key_id = outputs["key_id"]["value"].as_str().unwrap().to_string();
        assert!(is_mrk_id(&key_id), "round {round}: key_id {key_id:?}");
        assert_eq!(outputs["replica_key_id"]["value"], key_id.as_str());
        let secret_arn = outputs["secret_arn"]["value"].as_str().unwrap().to_string();

        // What the blog checks by hand, through the SDK.
        let sm_r = server.secrets(REPLICA);
        let replica_arn = secret_arn.replacen(&format!(":{PRIMARY}:"), &format!(":{REPLICA}:"), 1);
        let v = sm_r
            .get_secret_value()
            .secret_id(&replica_arn)
            .send()
            .await
            .expect("replica secret readable after terraform apply");
        assert_eq!(v.secret_string(), Some("actual-secret-string"));
        let alias = format!("alias/{REPLICA}-secrets-manager-{suffix}");
        let d = server
            .kms(REPLICA)
            .describe_key()
            .key_id(&alias)
            .send()
            .await
            .expect("replica alias");
        assert_eq!(d.key_metadata().unwrap().key_id(), key_id);

        // A second plan must be empty: exit code 0, not 2.
        let out = tf.run(
            &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
            true,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: terraform plan after apply is not empty (exit {:?}: 2 = changes):\n{}\n--- stderr ---\n{}",
            out.status.code(),
            tail(&stdout, 12000),
            tail(&String::from_utf8_lossy(&out.stderr), 6000)
        );

        tf.ok(
            server,
            &["destroy", "-auto-approve", "-input=false", "-no-color"],
            true,
        );
        // Destroy took effect: aliases are gone, keys are pending deletion.
        expect_err(
            server
                .kms(REPLICA)
                .describe_key()
                .key_id(&alias)
                .send()
                .await,
            "NotFoundException",
        );
        let st = server
            .kms(PRIMARY)
            .describe_key()
            .key_id(&key_id)
            .send()
            .await
            .unwrap();
        let state = st.key_metadata().unwrap().key_state().cloned();
        assert!(
            matches!(
                state,
                Some(KeyState::PendingDeletion) | Some(KeyState::PendingReplicaDeletion)
            ),
            "primary after destroy: {state:?}"
        );
    }
}

#[tokio::test]
async fn terraform_seed_against_dev_server() {
    if !terraform_available() {
        println!("skipping: terraform or /opt/tf-plugins missing");
        return;
    }
    let server = Server::dev();
    // apply → plan (empty) → destroy, then the same names again.
    terraform_seed(&server, vec![], "dev", true).await;
}

#[tokio::test]
async fn terraform_seed_with_root_credentials() {
    if !terraform_available() {
        println!("skipping: terraform or /opt/tf-plugins missing");
        return;
    }
    let server = Server::secure();
    let (ak, sk) = server.root_credentials();
    // The whole blog post, its managed IAM policy included.
    terraform_seed(
        &server,
        vec![
            format!("access_key={ak}"),
            format!("secret_key={sk}"),
            "with_iam=true".to_string(),
        ],
        "root",
        false,
    )
    .await;
}
