#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use coffer_audit::{ApiCall, AuditConfig, AuditKey, Event, Resource, Service, UserIdentity};
use serde_json::json;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const ACCOUNT: &str = "111122223333";

pub fn key() -> AuditKey {
    AuditKey::new([42; 32])
}

/// A KMS Decrypt / Encrypt / GenerateDataKey event for key `n`, carrying secrets that must not
/// reach the trail.
pub fn event(op: &str, n: usize) -> Event {
    event_at(op, n, OffsetDateTime::now_utc())
}

pub fn event_at(op: &str, n: usize, time: OffsetDateTime) -> Event {
    let arn = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/key-{n}");
    let req = json!({"KeyId": arn, "Plaintext": format!("PLAINTEXT-SECRET-{n}"), "CiphertextBlob": format!("CIPHERTEXT-SECRET-{n}"), "EncryptionContext": {"purpose": "test"}});
    let resp = json!({"KeyId": arn, "Plaintext": format!("PLAINTEXT-SECRET-{n}"), "CiphertextBlob": format!("CIPHERTEXT-SECRET-{n}")});
    Event::api_call(ApiCall {
        service: Service::Kms,
        operation: op,
        region: "eu-west-1",
        identity: UserIdentity::root(ACCOUNT, Some("AKIAROOTEXAMPLE")),
        source_ip: "127.0.0.1",
        user_agent: "aws-sdk-rust/1.0",
        request: Some(&req),
        response: Some(&resp),
        error: None,
        request_id: &format!("req-{n}"),
        read_only: true,
        resources: vec![Resource::kms_key(&arn, ACCOUNT)],
        recipient_account_id: ACCOUNT,
        tls: None,
        time,
    })
}

pub fn config(dir: &Path) -> AuditConfig {
    let mut c = AuditConfig::file(dir.join("audit.jsonl"));
    c.checkpoint_every = 10;
    c
}

/// The trail's segments, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.")
        })
        .collect();
    v.sort();
    v
}

pub fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn write_lines(p: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    std::fs::write(p, s).unwrap();
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop; `None` (with a message)
/// where mounting is not permitted.
pub struct Tmpfs {
    pub dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Self> {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("skipping: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)");
            return None;
        }
        Some(Self {
            dir,
            _parent: parent,
        })
    }

    pub fn remount(&self, mode: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

/// A read-only bind mount of `src` at a fresh directory, unmounted on drop; `None` (with a
/// message) where mounting is not permitted.
pub struct BindRo {
    pub dir: PathBuf,
}

impl BindRo {
    pub fn mount(src: &Path, at: &Path) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let run = |args: &[&str]| {
            std::process::Command::new("mount")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        let (s, a) = (src.to_str().unwrap(), at.to_str().unwrap());
        if !run(&["--bind", s, a]) {
            eprintln!("skipping: cannot bind-mount here (needs root / CAP_SYS_ADMIN)");
            return None;
        }
        let me = Self {
            dir: at.to_path_buf(),
        };
        if !run(&["-o", "remount,bind,ro", a]) {
            eprintln!("skipping: cannot make a bind mount read-only here");
            return None;
        }
        Some(me)
    }
}

impl Drop for BindRo {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

/// Points the symlink `link` at `target` atomically.
pub fn repoint(link: &Path, target: &Path) {
    let tmp = link.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}
