//! A real full disk (issue #16 part 3): the data directory on a small tmpfs, filled by
//! CreateSecret until the file system refuses. Every write it refuses is answered with the
//! service's internal error (never a hang, a crash or a half-made secret); reads and KMS
//! operations that write nothing keep working; once space is freed, writes succeed again
//! without a restart; after `kill -9` every acknowledged secret is there, whole, and no refused
//! one is.
//!
//! Needs root (it mounts a tmpfs); prints `skipping: …` otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted when it ends.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::Builder::new()
            .prefix("coffer-full-disk-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A value of `n` bytes that differs per secret (tmpfs does not compress, but SQLite pages
/// should not dedupe either).
fn value(i: usize, n: usize) -> String {
    let mut s = format!("secret-{i:05}-");
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    while s.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(char::from(b'a' + (x % 26) as u8));
    }
    s
}

fn ballast(mnt: &Path) -> PathBuf {
    mnt.join("ballast")
}

#[tokio::test]
async fn a_full_disk_refuses_writes_cleanly_and_recovers() {
    let mnt = match Tmpfs::mount("10m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipping: cannot mount a tmpfs for the full-disk test (needs root): {e}");
            return;
        }
    };
    // Space the test frees once the disk is full: half of it, more than the WAL can hold, so
    // that the checkpoint SQLite runs on the next commit (copying the WAL's pages into the
    // database file, which grows) fits.
    std::fs::write(ballast(&mnt.path), vec![0u8; 5 << 20]).unwrap();
    let data = mnt.path.join("data");
    let mut server = Server::start(Options {
        dev: true,
        env: vec![("COFFER_DATA_DIR".into(), data.to_str().unwrap().into())],
        ..Options::default()
    });
    let kms = server.kms(PRIMARY);
    let key = kms.create_key().send().await.expect("CreateKey");
    let key_id = key.key_metadata().unwrap().key_id().to_string();
    let ct = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"before the disk filled".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();

    // Fill it.
    let sm = server.secrets(PRIMARY);
    let mut acked: Vec<(String, String)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for i in 0..4000 {
        let name = format!("fill/{i:05}");
        let v = value(i, 16 * 1024);
        match sm
            .create_secret()
            .name(&name)
            .kms_key_id(&key_id)
            .secret_string(&v)
            .send()
            .await
        {
            Ok(_) => acked.push((name, v)),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.meta().code());
                assert_eq!(
                    code,
                    Some("InternalServiceError"),
                    "a write refused on a full disk: {e:?}"
                );
                refused.push(name);
                if refused.len() >= 5 {
                    break;
                }
            }
        }
    }
    assert!(
        !refused.is_empty(),
        "4000 secrets of 16 KiB fitted in 5 MiB"
    );
    assert!(acked.len() > 10, "only {} secrets fitted", acked.len());
    let log = server.log();
    assert!(
        !log.contains(&value(0, 16 * 1024)[..40]),
        "a secret value in the log"
    );

    // Full: reads and KMS operations that write nothing still work; nothing refused exists.
    assert_eq!(server.get("/_coffer/health").status, 200);
    let pt = kms
        .decrypt()
        .ciphertext_blob(ct.clone())
        .send()
        .await
        .expect("Decrypt on a full disk");
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"before the disk filled");
    kms.encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect("Encrypt on a full disk");
    let (name, v) = acked.last().unwrap();
    let got = sm.get_secret_value().secret_id(name).send().await.unwrap();
    assert_eq!(got.secret_string(), Some(v.as_str()));
    for name in &refused {
        expect_err(
            sm.describe_secret().secret_id(name).send().await,
            "ResourceNotFoundException",
        );
    }

    // Space again: writes succeed without a restart.
    std::fs::remove_file(ballast(&mnt.path)).unwrap();
    let after = ("after/space".to_string(), value(9999, 1024));
    sm.create_secret()
        .name(&after.0)
        .secret_string(&after.1)
        .send()
        .await
        .expect("CreateSecret once space is free");
    acked.push(after);

    // kill -9: every acknowledged secret is there and whole; no refused one is.
    server.crash_restart();
    let sm = server.secrets(PRIMARY);
    for (name, v) in &acked {
        let got = sm
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} lost after the restart: {e:?}"));
        assert_eq!(got.secret_string(), Some(v.as_str()), "{name}");
    }
    for name in &refused {
        expect_err(
            sm.describe_secret().secret_id(name).send().await,
            "ResourceNotFoundException",
        );
    }
    let pt = server
        .kms(PRIMARY)
        .decrypt()
        .ciphertext_blob(ct)
        .send()
        .await
        .unwrap();
    assert_eq!(pt.plaintext().unwrap().as_ref(), b"before the disk filled");
    println!(
        "full disk: {} secrets acknowledged, {} refused with InternalServiceError, recovered",
        acked.len(),
        refused.len()
    );
}
