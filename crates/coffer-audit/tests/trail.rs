//! The trail on disk: rotation, verify on intact and tampered trails, restart after a crash,
//! retention, key rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_audit::{verify, verify_with, AuditKey, AuditLog, ProblemKind, Status, VerifyOptions};
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Writes `n` records from 4 threads into small segments and closes the trail.
fn write_trail(dir: &Path, n: usize) {
    let mut c = config(dir);
    c.max_file_bytes = 8192;
    let log = AuditLog::open(c, key()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let log = log.clone();
            s.spawn(move || {
                for i in 0..n / 4 {
                    log.record(&event("Decrypt", t * 1000 + i)).unwrap();
                }
            });
        }
    });
    assert_eq!(log.stats().written, n as u64);
    log.close().unwrap();
}

fn copy_trail(from: &Path) -> (tempfile::TempDir, Vec<PathBuf>) {
    let to = tempfile::tempdir().unwrap();
    for p in segments(from) {
        std::fs::copy(&p, to.path().join(p.file_name().unwrap())).unwrap();
    }
    let segs = segments(to.path());
    (to, segs)
}

/// The index of the first record line (not a checkpoint) at or after `from` in `lines`.
fn record_at(lines: &[String], from: usize) -> usize {
    (from..lines.len())
        .find(|&i| !lines[i].contains("\"kind\":\"checkpoint\""))
        .unwrap()
}

#[test]
fn intact_trail_verifies_and_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), 200);
    let segs = segments(dir.path());
    assert!(
        segs.len() > 3,
        "expected rotation into several segments, got {}",
        segs.len()
    );
    for s in &segs {
        assert!(
            std::fs::metadata(s).unwrap().len() <= 8192,
            "{} too big",
            s.display()
        );
        let text = std::fs::read_to_string(s).unwrap();
        assert!(
            !text.contains("SECRET"),
            "a plaintext or ciphertext reached {}",
            s.display()
        );
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["coffer"]["prev"].is_string());
            if v["coffer"]["kind"].is_null() {
                assert_eq!(v["eventVersion"], "1.11");
                assert_eq!(
                    v["requestParameters"]["encryptionContext"]["purpose"],
                    "test"
                );
            }
        }
    }
    let r = verify(&segs, &[key()]);
    assert_eq!(r.status, Status::Intact, "{r}");
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.records, 200);
    assert_eq!((r.first_seq, r.last_seq), (Some(1), Some(200)));
    assert!(r.closed);
}

fn tampered(dir: &Path, edit: impl FnOnce(&mut Vec<PathBuf>)) -> coffer_audit::Report {
    let (copy, mut segs) = copy_trail(dir);
    edit(&mut segs);
    let r = verify(&segs, &[key()]);
    drop(copy);
    r
}

#[test]
fn every_kind_of_tampering_is_reported_with_the_first_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), 120);

    // Altered: one character of a record in the second segment.
    let mut target = (PathBuf::new(), 0usize, 0u64);
    let r = tampered(dir.path(), |segs| {
        let mut lines = read_lines(&segs[1]);
        let i = record_at(&lines, 2);
        let v: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
        target = (segs[1].clone(), i + 1, v["coffer"]["seq"].as_u64().unwrap());
        lines[i] = lines[i].replacen("127.0.0.1", "127.0.0.2", 1);
        write_lines(&segs[1], &lines);
    });
    assert_eq!(r.status, Status::Tampered, "{r}");
    assert_eq!(r.exit_code(), 1);
    let p = r.problem.clone().unwrap();
    assert_eq!(p.kind, ProblemKind::Altered, "{r}");
    assert_eq!(p.file.file_name(), target.0.file_name());
    assert_eq!((p.line, p.seq), (target.1 as u64, Some(target.2)), "{r}");

    // Deleted: a record line removed.
    let r = tampered(dir.path(), |segs| {
        let mut lines = read_lines(&segs[1]);
        let i = record_at(&lines, 2);
        lines.remove(i);
        write_lines(&segs[1], &lines);
    });
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::Deleted),
        "{r}"
    );

    // Inserted: a record line repeated.
    let r = tampered(dir.path(), |segs| {
        let mut lines = read_lines(&segs[1]);
        let i = record_at(&lines, 2);
        let dup = lines[i].clone();
        lines.insert(i + 1, dup);
        write_lines(&segs[1], &lines);
    });
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::Inserted),
        "{r}"
    );

    // Reordered: two adjacent records swapped.
    let r = tampered(dir.path(), |segs| {
        let mut lines = read_lines(&segs[1]);
        let i = record_at(&lines, 2);
        let j = record_at(&lines, i + 1);
        assert_eq!(j, i + 1, "two adjacent records");
        lines.swap(i, j);
        write_lines(&segs[1], &lines);
    });
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::Reordered),
        "{r}"
    );

    // Rewritten by someone without the key: a record altered and every later hash recomputed.
    let r = tampered(dir.path(), |segs| {
        let mut all: Vec<(usize, String)> = Vec::new();
        for (f, s) in segs.iter().enumerate() {
            all.extend(read_lines(s).into_iter().map(|l| (f, l)));
        }
        let i = record_at(&all.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(), 30);
        all[i].1 = all[i].1.replacen("127.0.0.1", "10.9.9.9", 1);
        for k in i + 1..all.len() {
            let prev = coffer_crypto::digest::sha256_hex(all[k - 1].1.as_bytes());
            let mut v: serde_json::Value = serde_json::from_str(&all[k].1).unwrap();
            let old = v["coffer"]["prev"].as_str().unwrap().to_owned();
            v["coffer"]["prev"] = serde_json::Value::String(prev.clone());
            let _ = v;
            all[k].1 = all[k].1.replace(&old, &prev);
        }
        for (f, s) in segs.iter().enumerate() {
            let lines: Vec<String> = all
                .iter()
                .filter(|(g, _)| *g == f)
                .map(|(_, l)| l.clone())
                .collect();
            write_lines(s, &lines);
        }
    });
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::BadCheckpoint),
        "{r}"
    );

    // A checkpoint's MAC edited.
    let r = tampered(dir.path(), |segs| {
        let mut lines = read_lines(&segs[0]);
        let i = lines
            .iter()
            .position(|l| l.contains("\"kind\":\"checkpoint\""))
            .unwrap();
        let at = lines[i].rfind("\"mac\":\"").unwrap() + 7;
        let c = if &lines[i][at..at + 1] == "0" {
            "1"
        } else {
            "0"
        };
        lines[i].replace_range(at..at + 1, c);
        write_lines(&segs[0], &lines);
    });
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::BadCheckpoint),
        "{r}"
    );

    // A line that is not a trail line.
    let r = tampered(dir.path(), |segs| {
        let mut lines = read_lines(&segs[1]);
        lines.insert(3, "{\"eventName\":\"Decrypt\"}".into());
        write_lines(&segs[1], &lines);
    });
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::Malformed),
        "{r}"
    );

    // The first segment deleted.
    let r = tampered(dir.path(), |segs| {
        std::fs::remove_file(&segs[0]).unwrap();
        segs.remove(0);
    });
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::MissingStart),
        "{r}"
    );
    // …which a deliberate partial check accepts.
    let (copy, segs) = copy_trail(dir.path());
    let r = verify_with(
        &segs[1..],
        &[key()],
        VerifyOptions {
            allow_partial_start: true,
        },
    );
    assert_eq!(r.status, Status::Intact, "{r}");
    drop(copy);

    // A middle segment deleted.
    let r = tampered(dir.path(), |segs| {
        segs.remove(1);
    });
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::Deleted),
        "{r}"
    );

    // Segments given out of order.
    let r = tampered(dir.path(), |segs| segs.swap(1, 2));
    assert_eq!(r.status, Status::Tampered, "{r}");

    // The end cut off: the close checkpoint and the last records.
    let r = tampered(dir.path(), |segs| {
        let last = segs.last().unwrap();
        let mut lines = read_lines(last);
        lines.truncate(lines.len().saturating_sub(3).max(1));
        write_lines(last, &lines);
    });
    assert_eq!(r.status, Status::UnverifiedTail, "{r}");
    assert_eq!(r.exit_code(), 3);

    // A torn last line (what a crash mid-write leaves).
    let r = tampered(dir.path(), |segs| {
        let last = segs.last().unwrap();
        let mut text = std::fs::read_to_string(last).unwrap();
        text.push_str("{\"eventVersion\":\"1.1");
        std::fs::write(last, text).unwrap();
    });
    assert_eq!(r.status, Status::UnverifiedTail, "{r}");
    assert!(r.notes.iter().any(|n| n.contains("incomplete line")), "{r}");

    // The wrong key: nothing can be checked.
    let (copy, segs) = copy_trail(dir.path());
    let r = verify(&segs, &[AuditKey::new([1; 32])]);
    assert_eq!(r.status, Status::Unverifiable, "{r}");
    assert_eq!(r.exit_code(), 2);
    drop(copy);
}

#[test]
fn restart_after_a_crash_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path()), key()).unwrap();
    for i in 0..15 {
        log.record(&event("Encrypt", i)).unwrap();
    }
    log.abandon(); // no close checkpoint: a crash
    drop(log);
    let segs = segments(dir.path());
    let r = verify(&segs, &[key()]);
    assert_eq!(r.status, Status::UnverifiedTail, "{r}");
    assert_eq!(r.unverified_records, 5, "{r}");
    // A torn, never-acknowledged line at the end.
    let last = segs.last().unwrap();
    let mut text = std::fs::read_to_string(last).unwrap();
    text.push_str("{\"eventVersion\":\"1.11\",\"userIdent");
    std::fs::write(last, &text).unwrap();

    let log = AuditLog::open(config(dir.path()), key()).unwrap();
    assert_eq!(log.index().len(), 15, "index rebuilt from disk");
    for i in 15..20 {
        log.record(&event("Encrypt", i)).unwrap();
    }
    assert_eq!(log.stats().last_seq, 20);
    log.close().unwrap();
    let r = verify(&segments(dir.path()), &[key()]);
    assert_eq!(r.status, Status::Intact, "{r}");
    assert_eq!(r.records, 20);
    assert!(r.notes.iter().any(|n| n.contains("after a crash")), "{r}");
    assert!(r.notes.iter().any(|n| n.contains("incomplete line")), "{r}");

    // A clean restart: no crash note for it.
    let log = AuditLog::open(config(dir.path()), key()).unwrap();
    log.record(&event("Encrypt", 20)).unwrap();
    log.close().unwrap();
    let r = verify(&segments(dir.path()), &[key()]);
    assert_eq!(r.status, Status::Intact, "{r}");
    assert_eq!(
        r.notes
            .iter()
            .filter(|n| n.contains("after a crash"))
            .count(),
        1,
        "{r}"
    );
}

#[test]
fn a_damaged_end_refuses_to_open_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path()), key()).unwrap();
    log.record(&event("Encrypt", 1)).unwrap();
    log.close().unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let mut text = std::fs::read_to_string(&seg).unwrap();
    text.push_str("edited by hand\n");
    std::fs::write(&seg, &text).unwrap();
    let err = AuditLog::open(config(dir.path()), key()).unwrap_err();
    assert!(
        matches!(err, coffer_audit::AuditError::Damaged { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("verify"), "{err}");
    assert_eq!(std::fs::read_to_string(&seg).unwrap(), text);
}

#[test]
fn retention_deletes_old_segments_and_verify_accepts_the_kept_part() {
    let dir = tempfile::tempdir().unwrap();
    write_trail(dir.path(), 80);
    let segs = segments(dir.path());
    assert!(segs.len() >= 4);
    let long_ago = SystemTime::now() - Duration::from_secs(200 * 24 * 3600);
    for s in &segs[..2] {
        std::fs::File::options()
            .write(true)
            .open(s)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
    }
    let mut c = config(dir.path());
    c.retention = Some(Duration::from_secs(90 * 24 * 3600));
    let log = AuditLog::open(c, key()).unwrap();
    log.record(&event("Decrypt", 99)).unwrap();
    log.close().unwrap();
    let kept = segments(dir.path());
    assert_eq!(
        kept.len(),
        segs.len() - 2,
        "the two expired segments are gone"
    );
    let r = verify(&kept, &[key()]);
    assert_eq!(r.status, Status::Intact, "{r}");

    // A segment deleted by hand (not by retention) is reported, even after a restart.
    std::fs::remove_file(&kept[0]).unwrap();
    let log = AuditLog::open(config(dir.path()), key()).unwrap();
    log.close().unwrap();
    let r = verify(&segments(dir.path()), &[key()]);
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some(ProblemKind::MissingStart),
        "{r}"
    );
}

#[test]
fn rekey_needs_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path()), key()).unwrap();
    for i in 0..12 {
        log.record(&event("Sign", i)).unwrap();
    }
    let new_key = AuditKey::new([43; 32]);
    log.rekey(new_key.clone()).unwrap();
    for i in 12..30 {
        log.record(&event("Sign", i)).unwrap();
    }
    log.close().unwrap();
    let segs = segments(dir.path());
    let r = verify(&segs, &[key(), new_key.clone()]);
    assert_eq!(r.status, Status::Intact, "{r}");
    let r = verify(&segs, &[key()]);
    assert_eq!(r.status, Status::UnverifiedTail, "{r}");
    // Later checkpoints under the new key cover the whole chain before them.
    let r = verify(&segs, &[new_key]);
    assert_eq!(r.status, Status::Intact, "{r}");
    assert!(
        r.notes.iter().any(|n| n.contains("could not be checked")),
        "{r}"
    );
}

#[test]
fn checkpoints_come_every_n_records_and_on_a_timer() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.checkpoint_every = 1000;
    c.checkpoint_interval = Duration::from_millis(50);
    let log = AuditLog::open(c, key()).unwrap();
    log.record(&event("Decrypt", 1)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The start checkpoint, then a timed one covering record 1.
    while log.stats().checkpoints < 2 {
        assert!(std::time::Instant::now() < deadline, "no timed checkpoint");
        std::thread::yield_now();
    }
    let r = verify(&segments(dir.path()), &[key()]);
    assert_eq!(r.verified_through, Some(1), "{r}");
    assert_eq!(r.unverified_records, 0, "{r}");
    log.close().unwrap();
}

#[test]
fn fail_open_never_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.fail_closed = false;
    let log = AuditLog::open(c, key()).unwrap();
    for i in 0..50 {
        log.record(&event("Decrypt", i)).unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.stats().written, 50);
    log.close().unwrap();
    // After close: still no error to the caller, but counted.
    log.record(&event("Decrypt", 51)).unwrap();
    assert_eq!(log.stats().dropped, 1);
    assert_eq!(
        verify(&segments(dir.path()), &[key()]).status,
        Status::Intact
    );
}

#[test]
fn fail_closed_after_close_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path()), key()).unwrap();
    log.close().unwrap();
    assert_eq!(
        log.record(&event("Decrypt", 1)),
        Err(coffer_audit::AuditError::Closed)
    );
}

/// The submission is a future: an async dispatcher awaits it (here with a minimal executor).
#[test]
fn submissions_can_be_awaited() {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    fn block_on<F: Future + Unpin>(mut f: F) -> F::Output {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Poll::Ready(v) = std::pin::Pin::new(&mut f).poll(&mut cx) {
                return v;
            }
            assert!(std::time::Instant::now() < deadline, "never resolved");
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path()), key()).unwrap();
    let subs: Vec<_> = (0..20).map(|i| log.submit(&event("Decrypt", i))).collect();
    for s in subs {
        block_on(s).unwrap();
    }
    assert_eq!(log.stats().written, 20);
    log.close().unwrap();
    assert!(block_on(log.submit(&event("Decrypt", 99))).is_err());
}
