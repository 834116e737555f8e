//! LookupEvents over a written trail: every attribute, time ranges, pagination, scoping, errors,
//! and the index rebuilt after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_audit::{
    ApiCall, AuditConfig, AuditLog, Event, LookupEventsResponse, Resource, RoleSessionIdentity,
    Service, UserIdentity,
};
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

fn role_event(time: OffsetDateTime) -> Event {
    let arn = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:db-AbCdEf");
    let id = UserIdentity::assumed_role(&RoleSessionIdentity {
        account_id: ACCOUNT,
        role_name: "app",
        role_path: "/",
        role_id: "AROAEXAMPLEID",
        session_name: "worker-1",
        access_key_id: "ASIAWORKER1",
        issued_at: time,
        mfa_authenticated: false,
        source_identity: None,
    });
    Event::api_call(ApiCall {
        service: Service::SecretsManager,
        operation: "PutSecretValue",
        region: "eu-west-1",
        identity: id,
        source_ip: "127.0.0.1",
        user_agent: "boto3",
        request: Some(&json!({"SecretId": "db", "SecretString": "PASSWORD-SECRET"})),
        response: Some(&json!({"ARN": arn, "Name": "db", "VersionId": "v1"})),
        error: None,
        request_id: "r",
        read_only: false,
        resources: vec![Resource::secret(&arn, ACCOUNT)],
        recipient_account_id: ACCOUNT,
        tls: None,
        time,
    })
}

fn other_account_event(time: OffsetDateTime) -> Event {
    let mut e = event_at("Decrypt", 500, time);
    e.recipient_account_id = "999999999999".into();
    e
}

fn query(log: &AuditLog, body: Value) -> LookupEventsResponse {
    log.lookup_events(ACCOUNT, "eu-west-1", &body).unwrap()
}

/// 30 Decrypts (keys 0..30, one minute apart, oldest first), 10 Encrypts, 1 PutSecretValue by a
/// role session, 1 Decrypt of another account.
fn fill(log: &AuditLog, base: OffsetDateTime) {
    for i in 0..30 {
        log.record(&event_at("Decrypt", i, base + Duration::minutes(i as i64)))
            .unwrap();
    }
    for i in 0..10 {
        log.record(&event_at(
            "Encrypt",
            100 + i,
            base + Duration::minutes(30 + i as i64),
        ))
        .unwrap();
    }
    log.record(&role_event(base + Duration::minutes(41)))
        .unwrap();
    log.record(&other_account_event(base + Duration::minutes(42)))
        .unwrap();
}

fn check_answers(log: &AuditLog, base: OffsetDateTime) {
    let all = query(log, json!({}));
    assert_eq!(
        all.events.len(),
        41,
        "defaults: 50 at most, this account and Region only"
    );
    assert!(all.next_token.is_none());
    assert!(
        all.events
            .windows(2)
            .all(|w| w[0].event_time >= w[1].event_time),
        "newest first"
    );
    assert_eq!(all.events[0].event_name, "PutSecretValue");
    let first: Value = serde_json::from_str(&all.events[0].cloud_trail_event).unwrap();
    assert_eq!(first["eventName"], "PutSecretValue");
    assert!(
        first.get("coffer").is_none(),
        "the chain member is not part of the event"
    );
    assert!(!all
        .events
        .iter()
        .any(|e| e.cloud_trail_event.contains("SECRET")));
    assert_eq!(all.events[0].username.as_deref(), Some("worker-1"));
    assert_eq!(all.events[0].access_key_id.as_deref(), Some("ASIAWORKER1"));
    assert_eq!(all.events[0].read_only, "false");
    assert_eq!(
        all.events[0].resources[0].resource_type.as_deref(),
        Some("AWS::SecretsManager::Secret")
    );

    let by = |k: &str, v: &str| {
        query(
            log,
            json!({"LookupAttributes": [{"AttributeKey": k, "AttributeValue": v}]}),
        )
        .events
    };
    assert_eq!(by("EventName", "Decrypt").len(), 30);
    assert_eq!(by("EventName", "Encrypt").len(), 10);
    assert_eq!(by("EventName", "Nope").len(), 0);
    assert_eq!(by("EventSource", "kms.amazonaws.com").len(), 40);
    assert_eq!(by("EventSource", "secretsmanager.amazonaws.com").len(), 1);
    assert_eq!(by("ReadOnly", "true").len(), 40);
    assert_eq!(by("ReadOnly", "false").len(), 1);
    assert_eq!(by("Username", "root").len(), 40);
    assert_eq!(by("Username", "worker-1").len(), 1);
    assert_eq!(by("AccessKeyId", "AKIAROOTEXAMPLE").len(), 40);
    assert_eq!(by("ResourceType", "AWS::KMS::Key").len(), 40);
    let key7 = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/key-7");
    let hits = by("ResourceName", &key7);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].resources[0].resource_name, key7);
    let id = all.events[5].event_id.clone();
    let hit = by("EventId", &id);
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0].event_id, id);

    // Time range (inclusive), with the attribute.
    let start = (base + Duration::minutes(10)).unix_timestamp();
    let end = (base + Duration::minutes(19)).unix_timestamp();
    let r = query(
        log,
        json!({"StartTime": start, "EndTime": end, "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Decrypt"}]}),
    );
    assert_eq!(r.events.len(), 10);
    assert!(r
        .events
        .iter()
        .all(|e| e.event_time >= start && e.event_time <= end));

    // Pages of 7: every event once, the token tied to its parameters.
    let mut seen = HashSet::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"MaxResults": 7, "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": "kms.amazonaws.com"}]});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let r = query(log, body);
        pages += 1;
        assert!(r.events.len() <= 7);
        for e in &r.events {
            assert!(seen.insert(e.event_id.clone()), "duplicate across pages");
        }
        match r.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen.len(), 40);
    assert_eq!(pages, 6);
    let r = query(log, json!({"MaxResults": 7}));
    let t = r.next_token.unwrap();
    let e = log
        .lookup_events(
            ACCOUNT,
            "eu-west-1",
            &json!({"MaxResults": 8, "NextToken": t}),
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidNextTokenException");
    let e = log
        .lookup_events(ACCOUNT, "eu-west-1", &json!({"NextToken": "not-a-token"}))
        .unwrap_err();
    assert_eq!(e.code, "InvalidNextTokenException");

    // Other account and Region scopes.
    assert_eq!(
        log.lookup_events("999999999999", "eu-west-1", &json!({}))
            .unwrap()
            .events
            .len(),
        1
    );
    assert_eq!(
        log.lookup_events(ACCOUNT, "us-east-1", &json!({}))
            .unwrap()
            .events
            .len(),
        0
    );
    // Insights: none.
    assert!(query(log, json!({"EventCategory": "insight"}))
        .events
        .is_empty());
    // The SDK's shape.
    let v = serde_json::to_value(query(log, json!({"MaxResults": 1}))).unwrap();
    assert!(v["Events"][0]["EventTime"].is_i64());
    assert!(v["Events"][0]["CloudTrailEvent"].is_string());
    assert!(v["NextToken"].is_string());
}

#[test]
fn lookup_events_answers_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let base = OffsetDateTime::now_utc() - Duration::hours(2);
    let mut c = config(dir.path());
    c.max_file_bytes = 16 * 1024; // several segments
    let log = AuditLog::open(c.clone(), key()).unwrap();
    fill(&log, base);
    check_answers(&log, base);
    log.close().unwrap();
    assert!(segments(dir.path()).len() > 1);
    let log = AuditLog::open(c, key()).unwrap();
    check_answers(&log, base);
    log.close().unwrap();
}

#[test]
fn retention_hides_old_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.retention = Some(std::time::Duration::from_secs(24 * 3600));
    let log = AuditLog::open(c, key()).unwrap();
    log.record(&event_at(
        "Decrypt",
        1,
        OffsetDateTime::now_utc() - Duration::days(3),
    ))
    .unwrap();
    log.record(&event_at("Decrypt", 2, OffsetDateTime::now_utc()))
        .unwrap();
    assert_eq!(query(&log, json!({})).events.len(), 1);
    log.close().unwrap();
}

#[test]
fn stdout_sink_keeps_recent_events_in_memory() {
    let mut c = AuditConfig::stdout();
    c.memory_events = 5;
    let log = AuditLog::open(c, key()).unwrap();
    for i in 0..8 {
        log.record(&event("Decrypt", i)).unwrap();
    }
    let r = query(&log, json!({}));
    assert_eq!(r.events.len(), 5);
    let v: Value = serde_json::from_str(&r.events[0].cloud_trail_event).unwrap();
    assert_eq!(v["requestID"], "req-7");
    log.close().unwrap();
}
