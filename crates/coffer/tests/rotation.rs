//! Rotation without Lambda, end to end: the real binary started with `--rotators` naming an
//! `http` rotator, served by a small HTTP server in this test that, for each step it receives,
//! calls back into Coffer through the AWS SDK for Rust exactly as a rotation Lambda would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REGION: &str = "eu-central-1";
const FUNCTION: &str = "arn:aws:lambda:eu-central-1:000000000000:function:rotate-over-http";

/// What the rotation service saw, and how it should misbehave.
#[derive(Default)]
struct Seen {
    steps: Vec<(String, String)>,
    /// Answer 500 to this step (once).
    fail_step: Option<String>,
}

/// The rotation "function": AWS's generic template, over the SDK.
async fn run_step(sm: &Client, event: &serde_json::Value) -> Result<(), String> {
    let arn = event["SecretId"].as_str().ok_or("no SecretId")?;
    let token = event["ClientRequestToken"]
        .as_str()
        .ok_or("no ClientRequestToken")?;
    let meta = sm
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    if meta.rotation_enabled != Some(true) {
        return Err("rotation not enabled".into());
    }
    let stages = meta.version_ids_to_stages.unwrap_or_default();
    let mine = stages.get(token).ok_or("token has no stage")?;
    if mine.iter().any(|s| s == "AWSCURRENT") {
        return Ok(());
    }
    if !mine.iter().any(|s| s == "AWSPENDING") {
        return Err("token not AWSPENDING".into());
    }
    match event["Step"].as_str() {
        Some("createSecret") => {
            sm.get_secret_value()
                .secret_id(arn)
                .version_stage("AWSCURRENT")
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            let pending = sm
                .get_secret_value()
                .secret_id(arn)
                .version_id(token)
                .version_stage("AWSPENDING")
                .send()
                .await;
            match pending {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {
                    let pw = sm
                        .get_random_password()
                        .exclude_punctuation(true)
                        .send()
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    let value = format!("rotated:{}", pw.random_password.unwrap_or_default());
                    sm.put_secret_value()
                        .secret_id(arn)
                        .client_request_token(token)
                        .secret_string(value)
                        .version_stages("AWSPENDING")
                        .send()
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    Ok(())
                }
                Err(e) => Err(format!("{e:?}")),
            }
        }
        Some("setSecret") | Some("testSecret") => Ok(()),
        Some("finishSecret") => {
            let current = stages
                .iter()
                .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
                .map(|(v, _)| v.clone());
            sm.update_secret_version_stage()
                .secret_id(arn)
                .version_stage("AWSCURRENT")
                .move_to_version_id(token)
                .set_remove_from_version_id(current)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok(())
        }
        other => Err(format!("unknown step {other:?}")),
    }
}

async fn handle(mut conn: TcpStream, sm: Client, seen: Arc<Mutex<Seen>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, content_length) = loop {
        let n = conn.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            assert!(head.starts_with("post "), "{head}");
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + content_length {
        let n = conn.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let event: serde_json::Value =
        serde_json::from_slice(&buf[head_end..head_end + content_length]).unwrap();
    let step = event["Step"].as_str().unwrap_or_default().to_string();
    let fail = {
        let mut s = seen.lock().unwrap();
        s.steps.push((
            step.clone(),
            event["ClientRequestToken"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
        assert!(event["RotationToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        if s.fail_step.as_deref() == Some(step.as_str()) {
            s.fail_step = None;
            true
        } else {
            false
        }
    };
    let result = if fail {
        Err("injected".to_string())
    } else {
        run_step(&sm, &event).await
    };
    let status = match &result {
        Ok(()) => "200 OK",
        Err(e) => {
            eprintln!("rotation step {step} failed: {e}");
            "500 Internal Server Error"
        }
    };
    let resp = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = conn.write_all(resp.as_bytes()).await;
    let _ = conn.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_rotator_rotates_through_the_sdk() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rotate", listener.local_addr().unwrap());
    // With the audit trail on: the rotation's service events are checked at the end.
    let coffer = Server::start(common::Options {
        dev: true,
        rotators: Some(format!(
            "[[rotator]]\narn = \"{FUNCTION}\"\nkind = \"http\"\nurl = \"{url}\"\ntimeout_seconds = 30\n"
        )),
        extra_args: vec!["--scheduler-interval".into(), "3600".into()],
        rust_log: Some("info".into()),
        config: Some("[audit]\nfile = \"audit/trail.jsonl\"\n".into()),
        ..common::Options::default()
    });
    let sm = coffer.secrets(REGION);
    let seen = Arc::new(Mutex::new(Seen::default()));
    {
        let sm = sm.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(handle(conn, sm.clone(), seen.clone()));
            }
        });
    }

    let arn = sm
        .create_secret()
        .name("db-password")
        .secret_string("old-value")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let old_version = sm
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();

    let rotated = tokio::time::timeout(
        Duration::from_secs(60),
        sm.rotate_secret()
            .secret_id("db-password")
            .rotation_lambda_arn(FUNCTION)
            .rotation_rules(
                RotationRulesType::builder()
                    .automatically_after_days(30)
                    .build(),
            )
            .send(),
    )
    .await
    .expect("RotateSecret returned")
    .unwrap();
    let new_version = rotated.version_id.unwrap();

    let steps = seen.lock().unwrap().steps.clone();
    assert_eq!(
        steps,
        ["createSecret", "setSecret", "testSecret", "finishSecret"]
            .iter()
            .map(|s| (s.to_string(), new_version.clone()))
            .collect::<Vec<_>>()
    );
    let current = sm.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(current.version_id.as_deref(), Some(new_version.as_str()));
    let value = current.secret_string.unwrap();
    assert!(value.starts_with("rotated:") && value.len() > 20, "{value}");
    let previous = sm
        .get_secret_value()
        .secret_id(&arn)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(previous.secret_string.as_deref(), Some("old-value"));
    assert_eq!(previous.version_id.as_deref(), Some(old_version.as_str()));

    let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert_eq!(d.rotation_enabled, Some(true));
    assert_eq!(d.rotation_lambda_arn.as_deref(), Some(FUNCTION));
    assert_eq!(d.rotation_rules.unwrap().automatically_after_days, Some(30));
    assert!(d.last_rotated_date.is_some());
    assert!(
        d.next_rotation_date.unwrap().secs() > d.last_rotated_date.unwrap().secs() + 29 * 86_400
    );

    // The trail holds the rotation as Secrets Manager's own events (AwsServiceEvent).
    let trail = coffer.dir().join("audit");
    let events = common::eventually(
        "the rotation's service events",
        Duration::from_secs(30),
        || {
            let trail = trail.clone();
            let new_version = new_version.clone();
            async move {
                let mut found = Vec::new();
                for e in std::fs::read_dir(&trail).ok()? {
                    let text = std::fs::read_to_string(e.ok()?.path()).ok()?;
                    for line in text.lines() {
                        let v: serde_json::Value = serde_json::from_str(line).ok()?;
                        if v["eventType"] == "AwsServiceEvent"
                            && v["serviceEventDetails"]["versionId"] == new_version.as_str()
                        {
                            found.push(v);
                        }
                    }
                }
                (found.len() >= 2).then_some(found)
            }
        },
    )
    .await;
    let names: Vec<&str> = events
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    assert_eq!(
        names,
        ["RotationStarted", "RotationSucceeded"],
        "{events:#?}"
    );
    for e in &events {
        assert_eq!(e["eventSource"], "secretsmanager.amazonaws.com");
        assert_eq!(e["userIdentity"]["type"], "AWSService");
        assert_eq!(
            e["userIdentity"]["invokedBy"],
            "secretsmanager.amazonaws.com"
        );
        assert_eq!(e["awsRegion"], REGION);
        assert_eq!(e["resources"][0]["ARN"], arn.as_str());
        assert_eq!(e["resources"][0]["type"], "AWS::SecretsManager::Secret");
        assert_eq!(e["readOnly"], false);
        assert_eq!(e["managementEvent"], true);
    }

    // A step the service fails leaves AWSPENDING; a new RotateSecret is refused as AWS refuses it.
    seen.lock().unwrap().fail_step = Some("testSecret".into());
    let second = sm
        .rotate_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let stages = sm
        .describe_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap()
        .version_ids_to_stages
        .unwrap();
    assert_eq!(stages[&second], vec!["AWSPENDING".to_string()]);
    assert_eq!(stages[&new_version], vec!["AWSCURRENT".to_string()]);
    let e = sm.rotate_secret().secret_id(&arn).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequestException"));
    assert_eq!(
        e.message(),
        Some("A previous rotation isn't complete. That rotation will be reattempted.")
    );

    // A function no rotator is configured for: AWS's answer when it cannot invoke the Lambda.
    sm.create_secret()
        .name("other")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let e = sm
        .rotate_secret()
        .secret_id("other")
        .rotation_lambda_arn("arn:aws:lambda:eu-central-1:000000000000:function:nobody")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDeniedException"));
    let e = sm
        .cancel_rotate_secret()
        .secret_id("other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequestException"));
    let c = sm
        .cancel_rotate_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(c.version_id.as_deref(), Some(second.as_str()));
    let d = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert_eq!(d.rotation_enabled, Some(false));
    assert!(d.next_rotation_date.is_none());
    assert!(
        !coffer.log().contains("rotated:"),
        "a secret value was logged"
    );
}
