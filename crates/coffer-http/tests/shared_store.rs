//! Two nodes over one store (`Coffer::open_shared`, ADR 0004 "Several nodes"), in process over
//! a `MemoryStore`, with a clock the test moves: scheduled work is done exactly once across
//! nodes, the scheduler lease is held by one node and taken over when it lapses, and a write
//! decided from a stale copy is run again rather than lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::{to_bytes, Body};
use coffer_http::follow::{Consistency, DOMAINS};
use coffer_http::{App, Coffer, Config};
use coffer_store::{
    Change, CommitInfo, EpochStore, LogBounds, MemoryStore, Record, Store, StoreError,
    Subscription, Transaction,
};
use http::Request;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// The wall clock plus an offset the test advances.
#[derive(Default)]
struct MovedClock(AtomicI64);

impl coffer_core::Clock for MovedClock {
    fn now(&self) -> coffer_model::Timestamp {
        let now = coffer_model::Timestamp::from_system(std::time::SystemTime::now());
        now.plus_millis(self.0.load(Ordering::SeqCst))
    }
}

struct Node {
    coffer: Arc<Coffer>,
    router: axum::Router,
}

fn node(store: &Arc<dyn Store>, root: &coffer_crypto::RootKey, clock: &Arc<MovedClock>) -> Node {
    let shared = Arc::new(EpochStore::new(store.clone(), DOMAINS));
    let coffer = Arc::new(
        Coffer::open_shared(shared, root.clone(), clock.clone(), Consistency::Eventual).unwrap(),
    );
    let app = Arc::new(App {
        coffer: coffer.clone(),
        config: Config {
            dev: true,
            ..Config::default()
        },
        audit: None,
    });
    Node {
        coffer,
        router: coffer_http::router(app),
    }
}

impl Node {
    /// A KMS call as a `--dev` client makes it (no signature); `(error code, body)`.
    async fn kms(&self, op: &str, body: Value) -> (Option<String>, Value) {
        self.call("TrentService", op, body).await
    }

    /// A Secrets Manager call; CreateSecret and PutSecretValue get a ClientRequestToken, as
    /// the SDKs add one.
    async fn sm(&self, op: &str, mut body: Value) -> (Option<String>, Value) {
        static TOKENS: AtomicI64 = AtomicI64::new(0);
        if matches!(op, "CreateSecret" | "PutSecretValue") {
            let n = TOKENS.fetch_add(1, Ordering::SeqCst);
            body["ClientRequestToken"] = json!(format!("{n:036}"));
        }
        self.call("secretsmanager", op, body).await
    }

    async fn call(&self, prefix: &str, op: &str, body: Value) -> (Option<String>, Value) {
        let req = Request::post("/")
            .header("host", "localhost")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{prefix}.{op}"))
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let ok = resp.status().is_success();
        let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = (!ok).then(|| body["__type"].as_str().unwrap_or("?").to_string());
        (code, body)
    }
}

/// A store that never announces commits: a node over it learns of other nodes' commits only
/// when a write conflicts or a lookup misses (as when notifications are lost).
struct Deaf {
    shared: Arc<dyn Store>,
    silent: MemoryStore,
}

impl Store for Deaf {
    fn scan(&self, t: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.shared.scan(t)
    }
    fn get(&self, t: &str, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.shared.get(t, k)
    }
    fn commit(&self, tx: &Transaction) -> Result<(), StoreError> {
        self.shared.commit(tx)
    }
    fn clear(&self) -> Result<(), StoreError> {
        self.shared.clear()
    }
    fn get_versioned(&self, t: &str, k: &str) -> Result<Option<Record>, StoreError> {
        self.shared.get_versioned(t, k)
    }
    fn scan_versioned(&self, t: &str) -> Result<Vec<(String, Record)>, StoreError> {
        self.shared.scan_versioned(t)
    }
    fn commit_info(&self, tx: &Transaction) -> Result<CommitInfo, StoreError> {
        self.shared.commit_info(tx)
    }
    fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        self.shared.changes_since(after, limit)
    }
    fn log_bounds(&self) -> Result<LogBounds, StoreError> {
        self.shared.log_bounds()
    }
    fn compact_log(&self, through: u64) -> Result<(), StoreError> {
        self.shared.compact_log(through)
    }
    fn subscribe(&self) -> Result<Subscription, StoreError> {
        self.silent.subscribe()
    }
}

fn two_nodes() -> (Node, Node, Arc<MovedClock>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let root = coffer_crypto::RootKey::generate().unwrap();
    let clock = Arc::new(MovedClock::default());
    (
        node(&store, &root, &clock),
        node(&store, &root, &clock),
        clock,
    )
}

#[tokio::test]
async fn a_due_deletion_is_done_once_whichever_nodes_run_the_scheduler() {
    let (a, b, clock) = two_nodes();
    let (code, key) = a.kms("CreateKey", json!({})).await;
    assert_eq!(code, None);
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    let (code, _) = b
        .kms(
            "ScheduleKeyDeletion",
            json!({"KeyId": key_id, "PendingWindowInDays": 7}),
        )
        .await;
    assert_eq!(code, None);
    clock.0.store(8 * 86_400_000, Ordering::SeqCst);
    // Both nodes run the scheduled work (as two lease holders would): one deletes, the other
    // finds nothing left to do.
    let done_a = a.coffer.run_due().unwrap();
    let done_b = b.coffer.run_due().unwrap();
    assert_eq!(done_a + done_b, 1, "a: {done_a}, b: {done_b}");
    clock.0.store(0, Ordering::SeqCst);
    for n in [&a, &b] {
        let (code, _) = n.kms("DescribeKey", json!({"KeyId": key_id})).await;
        assert_eq!(code.as_deref(), Some("NotFoundException"));
    }
}

#[tokio::test]
async fn the_scheduler_lease_has_one_holder_and_lapses_with_it() {
    let (a, b, clock) = two_nodes();
    let ttl = Duration::from_secs(90);
    assert!(a.coffer.hold_scheduler_lease(ttl).unwrap());
    assert!(!b.coffer.hold_scheduler_lease(ttl).unwrap());
    clock.0.store(60_000, Ordering::SeqCst);
    assert!(a.coffer.hold_scheduler_lease(ttl).unwrap(), "renewed");
    clock.0.store(120_000, Ordering::SeqCst);
    assert!(
        !b.coffer.hold_scheduler_lease(ttl).unwrap(),
        "renewed at 60 s"
    );
    // Node a stops renewing (it died): after the lease lapses, b takes it.
    clock.0.store(60_000 + 91_000, Ordering::SeqCst);
    assert!(b.coffer.hold_scheduler_lease(ttl).unwrap());
    assert!(!a.coffer.hold_scheduler_lease(ttl).unwrap());
}

#[tokio::test]
async fn a_write_from_a_stale_copy_is_run_again_not_lost() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let root = coffer_crypto::RootKey::generate().unwrap();
    let clock = Arc::new(MovedClock::default());
    let a = node(&store, &root, &clock);
    let deaf: Arc<dyn Store> = Arc::new(Deaf {
        shared: store.clone(),
        silent: MemoryStore::new(),
    });
    let b = node(&deaf, &root, &clock);
    let (_, key) = a.kms("CreateKey", json!({})).await;
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    // b learns of the key; then a changes it behind b's back.
    let (code, _) = b.kms("DescribeKey", json!({"KeyId": key_id})).await;
    assert_eq!(code, None);
    let (code, _) = a
        .kms(
            "TagResource",
            json!({"KeyId": key_id, "Tags": [{"TagKey": "a", "TagValue": "1"}]}),
        )
        .await;
    assert_eq!(code, None);
    // b's tag is decided from its copy, which lacks a's tag: the commit conflicts, b catches up
    // and tags again, and a's tag survives.
    let (code, _) = b
        .kms(
            "TagResource",
            json!({"KeyId": key_id, "Tags": [{"TagKey": "b", "TagValue": "2"}]}),
        )
        .await;
    assert_eq!(code, None);
    for n in [&a, &b] {
        n.coffer.catch_up().unwrap();
        let (_, tags) = n.kms("ListResourceTags", json!({"KeyId": key_id})).await;
        let keys: Vec<&str> = tags["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["TagKey"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["a", "b"]);
    }
}

/// What a node shows of every secret: its description, versions with labels and current value.
async fn secrets_view(n: &Node) -> Vec<Value> {
    let (_, list) = n
        .sm("ListSecrets", json!({"IncludePlannedDeletion": true}))
        .await;
    let mut out = Vec::new();
    let mut names: Vec<String> = list["SecretList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    for name in names {
        let (_, mut d) = n.sm("DescribeSecret", json!({"SecretId": name})).await;
        for k in ["LastAccessedDate", "LastChangedDate"] {
            d.as_object_mut().unwrap().remove(k);
        }
        let (_, v) = n.sm("GetSecretValue", json!({"SecretId": name})).await;
        let (_, ids) = n
            .sm(
                "ListSecretVersionIds",
                json!({"SecretId": name, "IncludeDeprecated": true}),
            )
            .await;
        // (A secret pending deletion answers an error here: the same on every node.)
        let mut versions: Vec<Value> = ids["Versions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|v| json!([v["VersionId"], v["VersionStages"]]))
            .collect();
        versions.sort_by_key(|v| v.to_string());
        out.push(json!({"d": d, "value": v["SecretString"], "versions": versions}));
    }
    out
}

#[tokio::test]
async fn changes_applied_one_by_one_equal_a_fresh_load() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let root = coffer_crypto::RootKey::generate().unwrap();
    let clock = Arc::new(MovedClock::default());
    let a = node(&store, &root, &clock);
    let b = node(&store, &root, &clock);
    for i in 0..4 {
        let (code, body) = a
            .sm(
                "CreateSecret",
                json!({"Name": format!("app/{i}"), "SecretString": "v0"}),
            )
            .await;
        assert_eq!(code, None, "{body}");
    }
    // b follows from here on, record by record.
    b.coffer.catch_up().unwrap();
    for i in 0..4 {
        let id = format!("app/{i}");
        a.sm(
            "PutSecretValue",
            json!({"SecretId": id, "SecretString": format!("v1-{i}")}),
        )
        .await;
        a.sm(
            "PutSecretValue",
            json!({"SecretId": id, "SecretString": format!("v2-{i}")}),
        )
        .await;
    }
    a.sm(
        "TagResource",
        json!({"SecretId": "app/0", "Tags": [{"Key": "k", "Value": "v"}]}),
    )
    .await;
    a.sm(
        "UpdateSecret",
        json!({"SecretId": "app/1", "Description": "changed"}),
    )
    .await;
    a.sm(
        "DeleteSecret",
        json!({"SecretId": "app/2", "ForceDeleteWithoutRecovery": true}),
    )
    .await;
    a.sm(
        "DeleteSecret",
        json!({"SecretId": "app/3", "RecoveryWindowInDays": 7}),
    )
    .await;
    let (code, _) = a
        .sm(
            "CreateSecret",
            json!({"Name": "app/new", "SecretString": "new"}),
        )
        .await;
    assert_eq!(code, None);
    b.coffer.catch_up().unwrap();
    let fresh = node(&store, &root, &clock);
    let want = secrets_view(&fresh).await;
    assert_eq!(want.len(), 4);
    assert_eq!(secrets_view(&b).await, want);
    assert_eq!(secrets_view(&a).await, want);
}

/// What a node shows of every KMS key in one Region: metadata, policy, aliases, grants, tags,
/// rotation status.
async fn kms_view(n: &Node) -> Vec<Value> {
    let (_, list) = n.kms("ListKeys", json!({"Limit": 1000})).await;
    let mut ids: Vec<String> = list["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let key = json!({"KeyId": id});
        let (_, d) = n.kms("DescribeKey", key.clone()).await;
        let (_, policy) = n
            .kms(
                "GetKeyPolicy",
                json!({"KeyId": id, "PolicyName": "default"}),
            )
            .await;
        let (_, aliases) = n.kms("ListAliases", key.clone()).await;
        let (_, grants) = n.kms("ListGrants", key.clone()).await;
        let (_, tags) = n.kms("ListResourceTags", key.clone()).await;
        let (_, rotation) = n.kms("GetKeyRotationStatus", key.clone()).await;
        out.push(
            json!({"d": d, "policy": policy, "aliases": aliases, "grants": grants,
            "tags": tags, "rotation": rotation}),
        );
    }
    out
}

/// KMS applies another node's commits record by record (ADR 0004): what the follower then
/// shows equals a fresh load, its ciphertexts decrypt after a rotation it did not make, and
/// after the other node flushed only last-use times it can still write.
#[tokio::test]
async fn kms_changes_applied_one_by_one_equal_a_fresh_load() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let root = coffer_crypto::RootKey::generate().unwrap();
    let clock = Arc::new(MovedClock::default());
    let a = node(&store, &root, &clock);
    let b = node(&store, &root, &clock);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (code, body) = a.kms("CreateKey", json!({})).await;
        assert_eq!(code, None, "{body}");
        ids.push(body["KeyMetadata"]["KeyId"].as_str().unwrap().to_string());
    }
    // b follows from here on, record by record.
    b.coffer.catch_up().unwrap();
    let (_, enc) = a
        .kms("Encrypt", json!({"KeyId": ids[0], "Plaintext": "aGVsbG8="}))
        .await;
    for (op, body) in [
        (
            "CreateAlias",
            json!({"AliasName": "alias/one", "TargetKeyId": ids[0]}),
        ),
        (
            "CreateAlias",
            json!({"AliasName": "alias/two", "TargetKeyId": ids[1]}),
        ),
        ("DeleteAlias", json!({"AliasName": "alias/two"})),
        (
            "TagResource",
            json!({"KeyId": ids[1], "Tags": [{"TagKey": "k", "TagValue": "v"}]}),
        ),
        (
            "CreateGrant",
            json!({"KeyId": ids[0], "GranteePrincipal": "arn:aws:iam::000000000000:role/r", "Operations": ["Decrypt"]}),
        ),
        ("EnableKeyRotation", json!({"KeyId": ids[0]})),
        ("RotateKeyOnDemand", json!({"KeyId": ids[0]})),
        ("DisableKey", json!({"KeyId": ids[2]})),
        (
            "ScheduleKeyDeletion",
            json!({"KeyId": ids[2], "PendingWindowInDays": 7}),
        ),
        (
            "UpdateKeyDescription",
            json!({"KeyId": ids[1], "Description": "changed"}),
        ),
    ] {
        let (code, resp) = a.kms(op, body).await;
        assert_eq!(code, None, "{op}: {resp}");
    }
    let (code, fresh_key) = a.kms("CreateKey", json!({"Description": "new"})).await;
    assert_eq!(code, None, "{fresh_key}");
    b.coffer.catch_up().unwrap();
    let fresh = node(&store, &root, &clock);
    let want = kms_view(&fresh).await;
    assert_eq!(want.len(), 4);
    assert_eq!(kms_view(&b).await, want);
    assert_eq!(kms_view(&a).await, want);
    // A ciphertext a made before the rotation, and one after, decrypt on b.
    let (_, enc2) = a
        .kms(
            "Encrypt",
            json!({"KeyId": "alias/one", "Plaintext": "aGVsbG8="}),
        )
        .await;
    b.coffer.catch_up().unwrap();
    for blob in [&enc["CiphertextBlob"], &enc2["CiphertextBlob"]] {
        let (code, dec) = b.kms("Decrypt", json!({"CiphertextBlob": blob})).await;
        assert_eq!(code, None, "{dec}");
        assert_eq!(dec["Plaintext"], "aGVsbG8=");
    }
    // A commit of last-use times only still moves b's epoch: its next write is not refused.
    a.coffer.kms.flush_usage().unwrap();
    b.coffer.catch_up().unwrap();
    let (code, body) = b
        .kms(
            "CreateAlias",
            json!({"AliasName": "alias/from-b", "TargetKeyId": ids[1]}),
        )
        .await;
    assert_eq!(code, None, "{body}");
}
