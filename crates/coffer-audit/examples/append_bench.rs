//! Audit trail append benchmark: records/s and per-append latency (p50/p99) with fail-closed
//! appenders at 1, 8 and 64 threads, per fsync policy, on the disk holding DIR.
//!
//!     cargo run --release -p coffer-audit --example append_bench [DIR] [SECONDS]
//!
//! Each appender loops: build a KMS Decrypt event (redaction included), submit it, wait until it
//! is durable. The latency is submit-to-durable; the build cost is measured apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_audit::{
    ApiCall, AuditConfig, AuditKey, AuditLog, Event, FsyncPolicy, Resource, Service, UserIdentity,
};
use serde_json::json;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

fn decrypt_event(n: u64) -> Event {
    let arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let req = json!({"CiphertextBlob": "AQICAHhVbG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdA==", "EncryptionContext": {"Department": "Engineering", "Project": "Alpha"}});
    let resp = json!({"KeyId": arn, "Plaintext": "aGVsbG8gd29ybGQ=", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"});
    Event::api_call(ApiCall {
        service: Service::Kms,
        operation: "Decrypt",
        region: "eu-west-1",
        identity: UserIdentity::root("111122223333", Some("AKIAIOSFODNN7EXAMPLE")),
        source_ip: "127.0.0.1",
        user_agent: "aws-sdk-rust/1.3.0 os/linux lang/rust/1.85.0",
        request: Some(&req),
        response: Some(&resp),
        error: None,
        request_id: &format!("8f7c1a2e-0000-4000-8000-{n:012}"),
        read_only: true,
        resources: vec![Resource::kms_key(arn, "111122223333")],
        recipient_account_id: "111122223333",
        tls: None,
        time: OffsetDateTime::now_utc(),
    })
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run(dir: &std::path::Path, fsync: FsyncPolicy, fail_closed: bool, threads: usize, secs: f64) {
    let sub = dir.join(format!("{fsync:?}-{fail_closed}-{threads}"));
    let _ = std::fs::remove_dir_all(&sub);
    let mut c = AuditConfig::file(sub.join("audit.jsonl"));
    c.fsync = fsync;
    c.fail_closed = fail_closed;
    let log = AuditLog::open(c, AuditKey::new([9; 32])).unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let log = log.clone();
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut n = (t as u64) << 40;
                    while Instant::now() < deadline {
                        let ev = decrypt_event(n);
                        n += 1;
                        let t0 = Instant::now();
                        log.record(&ev).unwrap();
                        lat.push(t0.elapsed());
                    }
                    lat
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    log.flush().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let st = log.stats();
    log.close().unwrap();
    lat.sort();
    let bytes: u64 = std::fs::read_dir(&sub)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "fsync={:<6} fail_closed={:<5} appenders={:>3}: {:>8.0} records/s  p50 {:>7.1} µs  p99 {:>8.1} µs  ({} records, {} dropped, {} fsyncs, {:.1} records/batch, {:.0} B/record)",
        format!("{fsync:?}").to_lowercase(),
        fail_closed,
        threads,
        st.written as f64 / elapsed,
        pct(&lat, 0.50).as_secs_f64() * 1e6,
        pct(&lat, 0.99).as_secs_f64() * 1e6,
        st.written,
        st.dropped,
        st.fsyncs,
        st.written as f64 / st.batches.max(1) as f64,
        bytes as f64 / st.written.max(1) as f64,
    );
    let _ = std::fs::remove_dir_all(&sub);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("coffer-audit-bench"));
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    std::fs::create_dir_all(&base).unwrap();
    println!(
        "audit append benchmark on {} ({secs} s per run, {} CPUs)",
        base.display(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    // The CPU cost of building (and redacting) one record, and of serializing it.
    let n = 20_000u32;
    let t0 = Instant::now();
    let events: Vec<Event> = (0..n as u64).map(decrypt_event).collect();
    let build = t0.elapsed() / n;
    let t0 = Instant::now();
    let len: usize = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap().len())
        .sum();
    let ser = t0.elapsed() / n;
    let t0 = Instant::now();
    for e in &events {
        std::hint::black_box(coffer_audit::redact::request_parameters(
            Service::Kms,
            "Decrypt",
            &std::hint::black_box(
                json!({"CiphertextBlob": "AQICAHhV", "EncryptionContext": {"Department": "Engineering"}, "KeyId": &e.event_id}),
            ),
        ));
    }
    let red = t0.elapsed() / n;
    println!(
        "per record on the request's thread: build (request JSON, redaction, identity, event ID) {:.1} µs, of which redaction ~{:.1} µs; serialize {:.1} µs ({} bytes)",
        build.as_secs_f64() * 1e6,
        red.as_secs_f64() * 1e6,
        ser.as_secs_f64() * 1e6,
        len / n as usize
    );

    for threads in [1, 8, 64] {
        run(&base, FsyncPolicy::Batch, true, threads, secs);
    }
    for threads in [1, 64] {
        run(&base, FsyncPolicy::Always, true, threads, secs);
    }
    for threads in [1, 64] {
        run(&base, FsyncPolicy::Never, true, threads, secs);
    }
    run(&base, FsyncPolicy::Batch, false, 64, secs);
    let _ = std::fs::remove_dir_all(&base);
}
