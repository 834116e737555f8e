//! Store faults (#16 part 3), through the whole request path: a [`FaultStore`] around each
//! backend (memory and SQLite; PostgreSQL when `COFFER_TEST_POSTGRES_URL` is set) refuses one
//! commit — each commit of a mixed KMS / Secrets Manager / IAM script in turn — or every commit
//! for a stretch (a full disk). The refused request gets its service's internal error (never a
//! success, never another answer's text), and memory never runs ahead of the store: everything
//! the running services report afterwards is exactly what a fresh process loading the same store
//! reports, so after a restart every acknowledged write is there and nothing unacknowledged
//! half-exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::{to_bytes, Body};
use axum::Router;
use coffer_http::{App, Coffer, Config};
use coffer_store::{FaultStore, MemoryStore, SqliteStore, Store};
use http::Request;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

const ACCOUNT: &str = "000000000000";

/// One running Coffer over a fault store.
struct Node {
    faults: Arc<FaultStore>,
    root: coffer_crypto::RootKey,
    router: Router,
}

fn open(faults: Arc<FaultStore>, root: coffer_crypto::RootKey) -> Node {
    let store: Arc<dyn Store> = faults.clone();
    let coffer = Arc::new(
        Coffer::open(
            store,
            root.clone(),
            Arc::new(coffer_core::clock::SystemClock),
        )
        .unwrap(),
    );
    let app = Arc::new(App {
        coffer,
        config: Config {
            dev: true,
            ..Config::default()
        },
        audit: None,
    });
    Node {
        faults,
        root,
        router: coffer_http::router(app),
    }
}

/// An answer: status, the error code if any, the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    code: Option<String>,
    body: Value,
}

fn auth(region: &str, service: &str) -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let date = format!(
        "{:04}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        now.hour(),
        now.minute(),
        now.second()
    );
    (
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{date}/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        ),
        stamp,
    )
}

impl Node {
    async fn send(&self, req: Request<Body>) -> (u16, Vec<u8>) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = to_bytes(resp.into_body(), 1 << 24).await.unwrap().to_vec();
        (status, body)
    }

    async fn json(&self, region: &str, op: &str, body: Value) -> Answer {
        let (prefix, service) = if op.starts_with("kms:") {
            ("TrentService", "kms")
        } else {
            ("secretsmanager", "secretsmanager")
        };
        let name = op.split(':').nth(1).unwrap();
        let (authorization, stamp) = auth(region, service);
        let req = Request::post("/")
            .header("host", "localhost")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{prefix}.{name}"))
            .header("x-amz-date", stamp)
            .header("authorization", authorization)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let (status, bytes) = self.send(req).await;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = (status != 200).then(|| {
            body.get("__type")
                .and_then(|t| t.as_str())
                .unwrap_or("?")
                .to_string()
        });
        Answer { status, code, body }
    }

    async fn iam(&self, params: &[(&str, &str)]) -> Answer {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Version", "2010-05-08");
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let (authorization, stamp) = auth("us-east-1", "iam");
        let req = Request::post("/")
            .header("host", "iam.amazonaws.com")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-amz-date", stamp)
            .header("authorization", authorization)
            .body(Body::from(form.finish()))
            .unwrap();
        let (status, bytes) = self.send(req).await;
        let text = String::from_utf8_lossy(&bytes).to_string();
        let code = (status != 200).then(|| {
            text.split("<Code>")
                .nth(1)
                .and_then(|s| s.split("</Code>").next())
                .unwrap_or("?")
                .to_string()
        });
        // Request IDs differ per answer; everything else is state.
        let text = match (text.find("<RequestId>"), text.find("</RequestId>")) {
            (Some(a), Some(b)) => format!("{}{}", &text[..a], &text[b..]),
            _ => text,
        };
        Answer {
            status,
            code,
            body: Value::String(text),
        }
    }
}

/// The script: every kind of write the services make, in an order where later steps use what
/// earlier ones made. Failures (of any kind) do not stop it.
async fn script(n: &Node) -> Vec<Answer> {
    let c = "eu-central-1";
    let w = "eu-west-1";
    let mut out = Vec::new();
    let a = n
        .json(
            c,
            "kms:CreateKey",
            json!({"Description": "fault A", "Tags": [{"TagKey": "t", "TagValue": "1"}]}),
        )
        .await;
    let key_a = a.body["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    out.push(a);
    let m = n
        .json(
            c,
            "kms:CreateKey",
            json!({"Description": "fault mrk", "MultiRegion": true}),
        )
        .await;
    let mrk = m.body["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    out.push(m);
    for (region, op, body) in [
        (
            c,
            "kms:CreateAlias",
            json!({"AliasName": "alias/faults", "TargetKeyId": key_a}),
        ),
        (
            c,
            "kms:TagResource",
            json!({"KeyId": key_a, "Tags": [{"TagKey": "u", "TagValue": "2"}]}),
        ),
        (c, "kms:EnableKeyRotation", json!({"KeyId": key_a})),
        (
            c,
            "kms:UpdateKeyDescription",
            json!({"KeyId": key_a, "Description": "fault A'"}),
        ),
        (
            c,
            "kms:ReplicateKey",
            json!({"KeyId": mrk, "ReplicaRegion": w}),
        ),
        (
            w,
            "kms:CreateAlias",
            json!({"AliasName": "alias/faults-w", "TargetKeyId": mrk}),
        ),
        (
            c,
            "kms:CreateGrant",
            json!({"KeyId": key_a, "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:root"), "Operations": ["Decrypt"]}),
        ),
        (
            c,
            "secretsmanager:CreateSecret",
            json!({"Name": "f/one", "SecretString": "v1", "KmsKeyId": "alias/faults", "ClientRequestToken": "00000000-0000-0000-0000-000000000001"}),
        ),
        (
            c,
            "secretsmanager:PutSecretValue",
            json!({"SecretId": "f/one", "SecretString": "v2", "ClientRequestToken": "00000000-0000-0000-0000-000000000002"}),
        ),
        (
            c,
            "secretsmanager:UpdateSecretVersionStage",
            json!({"SecretId": "f/one", "VersionStage": "MINE", "MoveToVersionId": "00000000-0000-0000-0000-000000000001"}),
        ),
        (
            c,
            "secretsmanager:TagResource",
            json!({"SecretId": "f/one", "Tags": [{"Key": "k", "Value": "v"}]}),
        ),
        (
            c,
            "secretsmanager:UpdateSecret",
            json!({"SecretId": "f/one", "Description": "d"}),
        ),
        (
            c,
            "secretsmanager:CreateSecret",
            json!({"Name": "f/two", "SecretString": "x", "KmsKeyId": mrk, "AddReplicaRegions": [{"Region": w, "KmsKeyId": mrk}], "ClientRequestToken": "00000000-0000-0000-0000-000000000003"}),
        ),
        (
            c,
            "secretsmanager:PutResourcePolicy",
            json!({"SecretId": "f/two", "ResourcePolicy": format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}]}}"#)}),
        ),
        (
            c,
            "secretsmanager:CreateSecret",
            json!({"Name": "f/three", "SecretString": "y", "ClientRequestToken": "00000000-0000-0000-0000-000000000004"}),
        ),
        (
            c,
            "secretsmanager:DeleteSecret",
            json!({"SecretId": "f/three", "RecoveryWindowInDays": 7}),
        ),
        (c, "kms:DisableKey", json!({"KeyId": mrk})),
        (
            c,
            "kms:ScheduleKeyDeletion",
            json!({"KeyId": key_a, "PendingWindowInDays": 7}),
        ),
    ] {
        out.push(n.json(region, op, body).await);
    }
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#;
    let policy_arn = format!("arn:aws:iam::{ACCOUNT}:policy/faults");
    for params in [
        vec![
            ("Action", "CreateRole"),
            ("RoleName", "faults"),
            ("AssumeRolePolicyDocument", trust.as_str()),
        ],
        vec![
            ("Action", "CreatePolicy"),
            ("PolicyName", "faults"),
            ("PolicyDocument", doc),
        ],
        vec![
            ("Action", "AttachRolePolicy"),
            ("RoleName", "faults"),
            ("PolicyArn", policy_arn.as_str()),
        ],
        vec![
            ("Action", "PutRolePolicy"),
            ("RoleName", "faults"),
            ("PolicyName", "inline"),
            ("PolicyDocument", doc),
        ],
    ] {
        out.push(n.iam(&params).await);
    }
    out
}

/// Everything the services report, read-only, in a stable order: the state as clients see it.
async fn snapshot(n: &Node) -> Vec<(String, u16, Value)> {
    let mut out = Vec::new();
    let mut push = |what: String, a: Answer| {
        let mut body = a.body;
        // Dates a read itself may set.
        if let Some(o) = body.as_object_mut() {
            o.remove("LastAccessedDate");
        }
        out.push((what, a.status, body));
    };
    for region in ["eu-central-1", "eu-west-1"] {
        let keys = n.json(region, "kms:ListKeys", json!({})).await;
        let ids: Vec<String> = keys.body["Keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k["KeyId"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        push(format!("{region} ListKeys"), keys);
        for id in ids {
            for op in [
                "kms:DescribeKey",
                "kms:ListResourceTags",
                "kms:GetKeyRotationStatus",
                "kms:ListGrants",
            ] {
                let a = n.json(region, op, json!({"KeyId": id})).await;
                push(format!("{region} {op} {id}"), a);
            }
            let a = n
                .json(
                    region,
                    "kms:GetKeyPolicy",
                    json!({"KeyId": id, "PolicyName": "default"}),
                )
                .await;
            push(format!("{region} GetKeyPolicy {id}"), a);
        }
        let a = n.json(region, "kms:ListAliases", json!({})).await;
        push(format!("{region} ListAliases"), a);
        let list = n
            .json(
                region,
                "secretsmanager:ListSecrets",
                json!({"IncludePlannedDeletion": true}),
            )
            .await;
        let names: Vec<String> = list.body["SecretList"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["Name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        push(format!("{region} ListSecrets"), list);
        for name in names {
            for op in [
                "secretsmanager:DescribeSecret",
                "secretsmanager:ListSecretVersionIds",
                "secretsmanager:GetResourcePolicy",
            ] {
                let a = n.json(region, op, json!({"SecretId": name})).await;
                push(format!("{region} {op} {name}"), a);
            }
            for stage in ["AWSCURRENT", "AWSPREVIOUS", "MINE"] {
                let a = n
                    .json(
                        region,
                        "secretsmanager:GetSecretValue",
                        json!({"SecretId": name, "VersionStage": stage}),
                    )
                    .await;
                push(format!("{region} GetSecretValue {name} {stage}"), a);
            }
        }
    }
    for params in [
        vec![("Action", "ListRoles")],
        vec![("Action", "ListPolicies"), ("Scope", "Local")],
        vec![
            ("Action", "ListAttachedRolePolicies"),
            ("RoleName", "faults"),
        ],
        vec![("Action", "ListRolePolicies"), ("RoleName", "faults")],
    ] {
        let a = n.iam(&params).await;
        push(format!("{params:?}"), a);
    }
    out
}

/// Internal-error codes, per service, as AWS names them.
const INTERNAL: [&str; 3] = [
    "KMSInternalException",
    "InternalServiceError",
    "ServiceFailure",
];

fn assert_same(live: &[(String, u16, Value)], reloaded: &[(String, u16, Value)], what: &str) {
    assert_eq!(
        live.len(),
        reloaded.len(),
        "{what}: the running node and a fresh load see different numbers of things"
    );
    for (a, b) in live.iter().zip(reloaded) {
        assert_eq!(a, b, "{what}: memory and store disagree");
    }
}

/// The backends the suite runs against: a fresh, empty store each call.
/// Makes a fresh store (and the directory it lives in, kept alive beside it).
type MakeStore = Box<dyn Fn() -> (Arc<dyn Store>, Option<tempfile::TempDir>)>;

fn backends() -> Vec<(&'static str, MakeStore)> {
    let mut v: Vec<(&'static str, MakeStore)> = vec![
        (
            "memory",
            Box::new(|| (Arc::new(MemoryStore::new()) as Arc<dyn Store>, None)),
        ),
        (
            "sqlite",
            Box::new(|| {
                let dir = tempfile::tempdir().unwrap();
                let s = SqliteStore::open(&dir.path().join("coffer.db")).unwrap();
                (Arc::new(s) as Arc<dyn Store>, Some(dir))
            }),
        ),
    ];
    if std::env::var("COFFER_TEST_POSTGRES_URL").is_ok() {
        v.push((
            "postgres",
            Box::new(|| {
                let url = std::env::var("COFFER_TEST_POSTGRES_URL").unwrap();
                let schema = format!(
                    "faults_{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_nanos()
                );
                let mut o = coffer_store::PostgresOptions::new(&url);
                o.schema = schema;
                o.ssl_mode = Some(coffer_store::SslMode::Disable);
                o.pool_size = 2;
                let s = coffer_store::PostgresStore::open(o).unwrap();
                (Arc::new(s) as Arc<dyn Store>, None)
            }),
        ));
    } else {
        eprintln!("skipping PostgreSQL: COFFER_TEST_POSTGRES_URL is not set");
    }
    v
}

/// Each commit of the script refused in turn, on every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_commit_leaves_memory_and_store_agreeing() {
    for (backend, make) in backends() {
        // A clean run counts the commits the script makes.
        let (inner, _dir) = make();
        let n = open(
            Arc::new(FaultStore::new(inner)),
            coffer_crypto::RootKey::generate().unwrap(),
        );
        let clean = script(&n).await;
        for (i, a) in clean.iter().enumerate() {
            assert_eq!(a.status, 200, "{backend}: clean step {i}: {a:?}");
        }
        let commits = n.faults.attempts();
        assert!(commits >= 20, "{backend}: only {commits} commits");
        let mut injected = 0;
        for k in 1..=commits {
            let (inner, _dir) = make();
            let faults = Arc::new(FaultStore::new(inner.clone()));
            let n = open(faults.clone(), coffer_crypto::RootKey::generate().unwrap());
            faults.fail_nth_commit(k);
            let answers = script(&n).await;
            assert_eq!(
                faults.failures(),
                1,
                "{backend}: commit {k} was not refused"
            );
            injected += 1;
            let internal: Vec<&Answer> = answers.iter().filter(|a| a.status >= 500).collect();
            assert_eq!(
                internal.len(),
                1,
                "{backend}: commit {k}: one request must carry the fault: {answers:?}"
            );
            let code = internal[0].code.as_deref().unwrap_or("");
            assert!(
                INTERNAL.contains(&code),
                "{backend}: commit {k}: {code} is not an internal error"
            );
            for a in &answers {
                let text = a.body.to_string();
                assert!(
                    !text.contains("injected fault"),
                    "{backend}: commit {k}: internal text leaked: {text}"
                );
            }
            let live = snapshot(&n).await;
            let fresh = open(Arc::new(FaultStore::new(inner)), n.root.clone());
            let reloaded = snapshot(&fresh).await;
            assert_same(&live, &reloaded, &format!("{backend}, commit {k} refused"));
        }
        eprintln!("{backend}: {injected} faults injected over {commits} commits");
    }
}

/// A full disk for a stretch: every write refused with the internal error, reads still served,
/// and once space is back the same script completes and nothing of the refused writes remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_then_recovers() {
    for (backend, make) in backends() {
        let (inner, _dir) = make();
        let faults = Arc::new(FaultStore::new(inner.clone()));
        let n = open(faults.clone(), coffer_crypto::RootKey::generate().unwrap());
        let before = snapshot(&n).await;
        faults.fail_commits(true);
        let answers = script(&n).await;
        for a in &answers {
            assert!(
                a.status != 200,
                "{backend}: a write succeeded on a full disk: {a:?}"
            );
            if a.status >= 500 {
                assert!(INTERNAL.contains(&a.code.as_deref().unwrap_or("")), "{a:?}");
            }
        }
        assert!(faults.failures() > 0);
        // Nothing half-exists: the state is as it was.
        assert_same(
            &before,
            &snapshot(&n).await,
            &format!("{backend}, disk full"),
        );
        faults.fail_commits(false);
        let answers = script(&n).await;
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(a.status, 200, "{backend}: step {i} after recovery: {a:?}");
        }
        let live = snapshot(&n).await;
        let fresh = open(Arc::new(FaultStore::new(inner)), n.root.clone());
        assert_same(
            &live,
            &snapshot(&fresh).await,
            &format!("{backend}, after recovery"),
        );
    }
}

/// Slow commits (a sync that takes its time) on every backend: every request of the script
/// still succeeds, reads made while writes wait are answered, and memory and store agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_commits_delay_writes_but_fail_nothing() {
    for (backend, make) in backends() {
        let (inner, _dir) = make();
        let faults = Arc::new(FaultStore::new(inner.clone()));
        let n = Arc::new(open(
            faults.clone(),
            coffer_crypto::RootKey::generate().unwrap(),
        ));
        faults.slow_commits(std::time::Duration::from_millis(40));
        // A reader beside the writer: ListSecrets and ListKeys while commits wait.
        let reader = {
            let n = n.clone();
            tokio::spawn(async move {
                let mut answered = 0;
                for _ in 0..20 {
                    let a = n
                        .json("eu-central-1", "secretsmanager:ListSecrets", json!({}))
                        .await;
                    assert_eq!(a.status, 200, "{a:?}");
                    let a = n.json("eu-central-1", "kms:ListKeys", json!({})).await;
                    assert_eq!(a.status, 200, "{a:?}");
                    answered += 2;
                }
                answered
            })
        };
        let answers = script(&n).await;
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(
                a.status, 200,
                "{backend}: step {i} with slow commits: {a:?}"
            );
        }
        assert_eq!(reader.await.unwrap(), 40);
        assert_eq!(faults.failures(), 0);
        faults.slow_commits(std::time::Duration::ZERO);
        let live = snapshot(&n).await;
        let fresh = open(Arc::new(FaultStore::new(inner)), n.root.clone());
        assert_same(
            &live,
            &snapshot(&fresh).await,
            &format!("{backend}, slow commits"),
        );
        eprintln!("{backend}: {} slow commits", faults.attempts());
    }
}
