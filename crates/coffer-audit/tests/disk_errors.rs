//! Fail-closed on a full disk, a read-only file system and /dev/full: errors reach the callers
//! promptly (never a hang), the chain stays sound, and writing resumes when the disk does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_audit::{verify, AuditConfig, AuditError, AuditLog, Status};
use common::*;
use std::time::{Duration, Instant};

fn cfg(dir: &std::path::Path) -> AuditConfig {
    let mut c = config(dir);
    c.wait_timeout = Duration::from_secs(30);
    c
}

/// Fills the file system holding `dir` with a filler file, leaving at most `leave` bytes.
fn fill(dir: &std::path::Path, leave: u64) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        if f.write_all(&chunk).is_err() {
            break;
        }
        let _ = f.flush();
        let free = free_bytes(dir);
        if free <= leave {
            break;
        }
    }
    path
}

fn free_bytes(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn full_disk_fails_closed_promptly_and_recovers() {
    let Some(fs) = Tmpfs::mount("512k") else {
        return;
    };
    let log = AuditLog::open(cfg(&fs.dir), key()).unwrap();
    for i in 0..5 {
        log.record(&event("Decrypt", i)).unwrap();
    }
    let filler = fill(&fs.dir, 8192);
    let mut ok = 5u64;
    let mut failed = None;
    for i in 5..2000 {
        let started = Instant::now();
        match log.record(&event("Decrypt", i)) {
            Ok(()) => ok += 1,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the error took {:?}",
                    started.elapsed()
                );
                failed = Some(e);
                break;
            }
        }
    }
    let e = failed.expect("the disk never filled up");
    assert!(
        matches!(&e, AuditError::Write(m) if m.contains("No space left")),
        "{e}"
    );
    // Later requests fail promptly too.
    for i in 0..20 {
        let started = Instant::now();
        assert!(log.record(&event("Decrypt", 10_000 + i)).is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    assert!(log.stats().write_errors > 0);
    // Room again: writing resumes, the refused records are not in the trail, the chain is sound.
    std::fs::remove_file(filler).unwrap();
    for i in 0..5 {
        log.record(&event("Decrypt", 20_000 + i)).unwrap();
        ok += 1;
    }
    log.close().unwrap();
    let r = verify(&segments(&fs.dir), &[key()]);
    assert_eq!(r.status, Status::Intact, "{r}");
    assert_eq!(r.records, ok);
}

/// A running writer meets a read-only file system when it starts its next segment: the trail's
/// directory is reached through a symlink that is switched to a read-only bind mount of the same
/// directory (an open file cannot be remounted read-only under its writer).
#[test]
fn read_only_file_system_fails_closed_and_recovers() {
    let base = tempfile::tempdir().unwrap();
    let rw = base.path().join("rw");
    std::fs::create_dir(&rw).unwrap();
    let Some(ro) = BindRo::mount(&rw, &base.path().join("ro")) else {
        return;
    };
    let link = base.path().join("trail");
    repoint(&link, &rw);
    let mut c = cfg(&link);
    c.max_file_bytes = 8192;
    let log = AuditLog::open(c, key()).unwrap();
    for i in 0..5 {
        log.record(&event("Encrypt", i)).unwrap();
    }
    repoint(&link, &ro.dir);
    let mut ok = 5;
    let e = loop {
        let started = Instant::now();
        match log.record(&event("Encrypt", ok)) {
            Ok(()) => ok += 1,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the error took {:?}",
                    started.elapsed()
                );
                break e;
            }
        }
        assert!(ok < 200, "never needed a new segment");
    };
    assert!(
        matches!(&e, AuditError::Write(m) if m.contains("Read-only")),
        "{e}"
    );
    assert!(log.record(&event("Encrypt", 1000)).is_err());
    repoint(&link, &rw);
    log.record(&event("Encrypt", 1001)).unwrap();
    log.close().unwrap();
    let r = verify(&segments(&rw), &[key()]);
    assert_eq!(r.status, Status::Intact, "{r}");
    assert_eq!(r.records, ok as u64 + 1);
}

#[test]
fn read_only_at_start_refuses_to_open() {
    let Some(fs) = Tmpfs::mount("1m") else { return };
    let log = AuditLog::open(cfg(&fs.dir), key()).unwrap();
    log.close().unwrap();
    fs.remount("ro");
    let e = AuditLog::open(cfg(&fs.dir), key()).unwrap_err();
    assert!(e.to_string().contains("Read-only"), "{e}");
    fs.remount("rw");
}

#[test]
fn dev_full_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipping: no /dev/full");
        return;
    }
    std::os::unix::fs::symlink(
        "/dev/full",
        dir.path().join("audit.00000000000000000001.jsonl"),
    )
    .unwrap();
    let e = AuditLog::open(cfg(dir.path()), key()).unwrap_err();
    assert!(e.to_string().contains("No space left"), "{e}");
}

#[test]
fn full_disk_fail_open_counts_drops() {
    let Some(fs) = Tmpfs::mount("512k") else {
        return;
    };
    let mut c = cfg(&fs.dir);
    c.fail_closed = false;
    let log = AuditLog::open(c, key()).unwrap();
    let _filler = fill(&fs.dir, 4096);
    for i in 0..500 {
        log.record(&event("Decrypt", i)).unwrap();
    }
    let _ = log.flush();
    let s = log.stats();
    assert!(s.dropped > 0, "{s:?}");
    assert_eq!(s.written + s.dropped, 500, "{s:?}");
}
