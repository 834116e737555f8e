//! Online backup and restore (`coffer backup`, `coffer restore`, `[backup]`): a backup taken
//! under a write load restores every write acknowledged before it started, as one consistent
//! snapshot; every bad input is refused with one line and nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use common::*;

/// One acknowledged write of the load, in the order the (single, sequential) writer got them.
#[derive(Clone, Debug)]
enum Acked {
    /// CreateKey answered with this key.
    Key(String),
    /// Encrypt under the key answered with this ciphertext of this plaintext.
    Ciphertext {
        key: String,
        blob: Vec<u8>,
        plaintext: String,
    },
    /// PutSecretValue answered with this version of this secret.
    Version {
        secret: String,
        version: String,
        value: String,
    },
}

const SECRETS: usize = 8;
const MAX_ROUNDS: usize = 400;

fn coffer(dir: &Path, args: &[&str]) -> std::process::Output {
    run_coffer(dir, args, &[])
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every name in `dir`, sorted (empty when it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Takes a backup of `server`'s data directory into `out` with `extra` flags; asserts success.
fn backup(server: &Server, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["backup", "--data-dir", s(&server.data_dir), "--out", s(out)];
    args.extend_from_slice(extra);
    let o = coffer(server.dir(), &args);
    assert!(o.status.success(), "coffer backup: {}", stderr(&o));
    o
}

/// `records: kms keys N, …` of a backup or restore output, as (name, count).
fn records(output: &str) -> Vec<(String, u64)> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("records: "))
        .expect("a records line");
    line.split(", ")
        .map(|part| {
            let (name, n) = part.rsplit_once(' ').unwrap();
            (name.to_string(), n.parse().unwrap())
        })
        .collect()
}

fn count(output: &str, name: &str) -> u64 {
    records(output)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {output}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_write_load_restores_every_acknowledged_write() {
    let server = Server::secure();
    let (ak, sk) = server.creds();
    let kms = server.kms(PRIMARY);
    let sm = server.secrets(PRIMARY);
    for i in 0..SECRETS {
        sm.create_secret()
            .name(format!("load-{i}"))
            .secret_string("initial")
            .send()
            .await
            .unwrap();
    }

    // The load: one writer doing CreateKey, Encrypt, PutSecretValue in turn, recording each
    // answer as it is acknowledged.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (progress, mut progress_rx) = tokio::sync::watch::channel(0usize);
    let load = {
        let (kms, sm, acked, stop) = (kms.clone(), sm.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let push = |a: Acked| {
                let mut v = acked.lock().unwrap();
                v.push(a);
                progress.send_replace(v.len());
            };
            for round in 0..MAX_ROUNDS {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let key = kms.create_key().send().await.unwrap();
                let key = key.key_metadata().unwrap().key_id().to_string();
                push(Acked::Key(key.clone()));
                let plaintext = format!("plaintext of round {round}");
                let blob = kms
                    .encrypt()
                    .key_id(&key)
                    .plaintext(Blob::new(plaintext.as_bytes()))
                    .send()
                    .await
                    .unwrap()
                    .ciphertext_blob()
                    .unwrap()
                    .as_ref()
                    .to_vec();
                push(Acked::Ciphertext {
                    key,
                    blob,
                    plaintext,
                });
                let secret = format!("load-{}", round % SECRETS);
                let value = format!("value of round {round}");
                let put = sm
                    .put_secret_value()
                    .secret_id(&secret)
                    .secret_string(&value)
                    .send()
                    .await
                    .unwrap();
                push(Acked::Version {
                    secret,
                    version: put.version_id().unwrap().to_string(),
                    value,
                });
            }
        })
    };

    // Some writes acknowledged first; then the backup, with the load going on.
    progress_rx.wait_for(|n| *n >= 30).await.unwrap();
    let before = acked.lock().unwrap().len();
    let file = server.dir().join("under-load.cbk");
    let out = {
        let (dir, data, file) = (
            server.dir().to_path_buf(),
            server.data_dir.clone(),
            file.clone(),
        );
        tokio::task::spawn_blocking(move || {
            coffer(&dir, &["backup", "--data-dir", s(&data), "--out", s(&file)])
        })
        .await
        .unwrap()
    };
    let after = acked.lock().unwrap().len();
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    assert!(out.status.success(), "coffer backup: {}", stderr(&out));
    let backup_out = stdout(&out);
    assert!(backup_out.starts_with("backup written: "), "{backup_out}");
    assert!(
        backup_out.contains("root key: NOT included"),
        "{backup_out}"
    );
    assert!(
        backup_out.contains("root credentials: not included"),
        "{backup_out}"
    );
    let all = acked.lock().unwrap().clone();
    eprintln!(
        "{before} writes acknowledged before the backup, {} during it, {} in all",
        after - before,
        all.len()
    );

    // Restore into a new directory (the root key given apart) and serve it.
    let restored = Server::start(Options {
        setup: vec![vec![
            "restore".into(),
            "--from".into(),
            s(&file).into(),
            "--data-dir".into(),
            "{data}".into(),
            "--root-key".into(),
            s(&server.data_dir.join("root-key")).into(),
        ]],
        ..Options::default()
    });
    assert!(
        restored.init_stdout.contains("root key: copied from"),
        "{}",
        restored.init_stdout
    );
    assert!(!restored.data_dir.join("root-credentials").exists());
    // The same root credentials work: they are in the database.
    let kms2 = restored.kms_as(PRIMARY, &ak, &sk);
    let sm2 = restored.secrets_as(PRIMARY, &ak, &sk);

    let mut present = Vec::with_capacity(all.len());
    for a in &all {
        let here = match a {
            Acked::Key(id) => kms2.describe_key().key_id(id).send().await.is_ok(),
            Acked::Ciphertext {
                key,
                blob,
                plaintext,
            } => match kms2
                .decrypt()
                .ciphertext_blob(Blob::new(blob.clone()))
                .send()
                .await
            {
                Ok(d) => {
                    assert!(d.key_id().unwrap().ends_with(&format!(":key/{key}")));
                    assert_eq!(d.plaintext().unwrap().as_ref(), plaintext.as_bytes());
                    true
                }
                Err(_) => false,
            },
            Acked::Version {
                secret,
                version,
                value,
            } => match sm2
                .get_secret_value()
                .secret_id(secret)
                .version_id(version)
                .send()
                .await
            {
                Ok(v) => {
                    assert_eq!(v.secret_string().unwrap(), value);
                    true
                }
                Err(_) => false,
            },
        };
        present.push(here);
    }
    // Every write acknowledged before the backup started is there …
    if let Some(i) = present[..before].iter().position(|p| !p) {
        panic!(
            "write {i} ({:?}), acknowledged before the backup, is missing",
            all[i]
        );
    }
    // … the snapshot is one point of the write order (a prefix of it) …
    let kept = present.iter().take_while(|p| **p).count();
    assert!(
        present[kept..].iter().all(|p| !p),
        "the restored writes are not a prefix of the acknowledged ones: {present:?}"
    );
    // … which no write sent after the backup ended is in.
    assert!(
        kept <= after + 1,
        "{kept} writes restored, but only {after} were acknowledged when the backup ended"
    );
    let keys = all[..kept]
        .iter()
        .filter(|a| matches!(a, Acked::Key(_)))
        .count() as u64;
    // The counts are the snapshot's: the load's keys and the AWS managed aws/secretsmanager key
    // that the secrets are encrypted under.
    assert_eq!(count(&backup_out, "kms keys"), keys + 1, "{backup_out}");
    assert_eq!(count(&restored.init_stdout, "kms keys"), keys + 1);
    let listed = kms2.list_keys().limit(1000).send().await.unwrap();
    assert_eq!(listed.keys().len() as u64, keys + 1);
    assert_eq!(count(&backup_out, "secrets"), SECRETS as u64);
}

/// What every refused restore must leave: the exit status, one line, the target as it was, and
/// nothing beside it.
fn assert_refused(dir: &Path, from: &Path, target: &Path, extra: &[&str], expect: &str) -> String {
    let parent = target.parent().unwrap();
    let (before, parent_before) = (listing(target), listing(parent));
    let mut args = vec!["restore", "--from", s(from), "--data-dir", s(target)];
    args.extend_from_slice(extra);
    let o = coffer(dir, &args);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "restore of {from:?} succeeded: {}",
        stdout(&o)
    );
    assert!(err.contains(expect), "expected {expect:?} in: {err}");
    assert!(err.starts_with("coffer: error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert_eq!(listing(target), before, "target unchanged");
    assert_eq!(
        listing(parent),
        parent_before,
        "nothing left beside the target"
    );
    err
}

fn patched(dir: &Path, name: &str, bytes: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut b = bytes.to_vec();
    f(&mut b);
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

#[tokio::test]
async fn restore_refuses_bad_input_and_writes_nothing() {
    let server = Server::secure();
    let kms = server.kms(PRIMARY);
    kms.create_key().send().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let file = w.join("good.cbk");
    backup(&server, &file, &[]);
    let good = std::fs::read(&file).unwrap();
    let targets = w.join("targets");
    std::fs::create_dir(&targets).unwrap();
    let new = targets.join("new");

    // A non-empty directory.
    let busy = targets.join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("coffer.db"), b"someone's data").unwrap();
    assert_refused(
        w,
        &file,
        &busy,
        &[],
        "busy is not empty (it holds coffer.db)",
    );

    // A newer format.
    let newer = patched(w, "newer.cbk", &good, |b| b[9] = 2);
    assert_refused(
        w,
        &newer,
        &new,
        &[],
        "is backup format version 2, newer than this build reads (1)",
    );

    // Not a backup at all.
    let other = patched(w, "other.cbk", b"SQLite format 3\0 and so on", |_| {});
    assert_refused(w, &other, &new, &[], "is not a Coffer backup file");

    // Truncated anywhere: in the header, the manifest, the database, before and inside the end.
    let len = good.len();
    for cut in [9, 40, len / 2, len - 33, len - 1] {
        let t = patched(w, &format!("cut-{cut}.cbk"), &good, |b| b.truncate(cut));
        assert_refused(w, &t, &new, &[], "is truncated");
    }

    // Altered: a byte of the manifest, of the database, of the end checksum; bytes appended.
    let manifest_at = good
        .windows(b"\"coffer_version\"".len())
        .position(|w| w == b"\"coffer_version\"")
        .unwrap();
    for (name, at) in [
        ("manifest", manifest_at + 1),
        ("database", len / 2),
        ("end", len - 3),
    ] {
        let t = patched(w, &format!("altered-{name}.cbk"), &good, |b| b[at] ^= 0x20);
        assert_refused(w, &t, &new, &[], "was altered or damaged");
    }
    let t = patched(w, "appended.cbk", &good, |b| b.extend_from_slice(b"\0"));
    assert_refused(
        w,
        &t,
        &new,
        &[],
        "was altered or damaged: bytes follow its end marker",
    );

    // A root key that cannot open it: in the target, given with --root-key, or when the backup
    // holds its own.
    let stranger = w.join("stranger");
    let o = coffer(w, &["operator", "init", "--data-dir", s(&stranger)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stranger_key = stranger.join("root-key");
    let keyed = targets.join("keyed");
    std::fs::create_dir(&keyed).unwrap();
    std::fs::copy(&stranger_key, keyed.join("root-key")).unwrap();
    assert_refused(w, &file, &keyed, &[], "cannot open");
    assert_refused(
        w,
        &file,
        &new,
        &["--root-key", s(&stranger_key)],
        "cannot open",
    );
    let with_key = w.join("with-key.cbk");
    backup(&server, &with_key, &["--include-root-key"]);
    assert_refused(w, &with_key, &keyed, &[], "cannot open");
    assert!(!new.exists());

    // The good file restores into an empty directory, and into one holding its root key.
    let empty = targets.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = coffer(w, &["restore", "--from", s(&file), "--data-dir", s(&empty)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("root key: NONE checked"),
        "{}",
        stdout(&o)
    );
    assert_eq!(listing(&empty), ["coffer.db"]);
    let own = targets.join("own-key");
    std::fs::create_dir(&own).unwrap();
    std::fs::copy(server.data_dir.join("root-key"), own.join("root-key")).unwrap();
    let o = coffer(w, &["restore", "--from", s(&file), "--data-dir", s(&own)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("(checked)"), "{}", stdout(&o));
    assert_eq!(listing(&own), ["coffer.db", "root-key"]);
    assert_eq!(listing(&targets), ["busy", "empty", "keyed", "own-key"]);
}

#[tokio::test]
async fn backup_with_root_key_and_credentials_restores_a_whole_data_directory() {
    let server = Server::secure();
    let kms = server.kms(PRIMARY);
    let key = kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().key_id().to_string();
    let blob = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("whole"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let file = server.dir().join("whole.cbk");
    let o = backup(
        &server,
        &file,
        &["--include-root-key", "--include-root-credentials"],
    );
    assert!(stdout(&o).contains("root key: included"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("warning") && stderr(&o).contains("holds the root key"),
        "{}",
        stderr(&o)
    );
    let restored = Server::start(Options {
        setup: vec![vec![
            "restore".into(),
            "--from".into(),
            s(&file).into(),
            "--data-dir".into(),
            "{data}".into(),
        ]],
        ..Options::default()
    });
    assert!(
        restored
            .init_stdout
            .contains("root key: from the backup (checked)"),
        "{}",
        restored.init_stdout
    );
    assert_eq!(
        std::fs::read(restored.root_credentials_path()).unwrap(),
        std::fs::read(server.root_credentials_path()).unwrap()
    );
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["root-key", "root-credentials", "coffer.db"] {
            let mode = std::fs::metadata(restored.data_dir.join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let mode = std::fs::metadata(&restored.data_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the backup file");
    }
    let plain = restored
        .kms(PRIMARY)
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"whole");
    // An existing file is never overwritten.
    let again = coffer(
        server.dir(),
        &[
            "backup",
            "--data-dir",
            s(&server.data_dir),
            "--out",
            s(&file),
        ],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test]
async fn scheduled_backups_keep_the_newest() {
    let server = Server::start(Options {
        config: Some("[backup]\ninterval = \"1s\"\ndir = \"backups\"\nkeep = 2\n".into()),
        rust_log: Some("info".into()),
        ..Options::default()
    });
    server
        .kms(PRIMARY)
        .create_key()
        .description("scheduled")
        .send()
        .await
        .unwrap();
    let dir = server.dir().join("backups");
    let written = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("scheduled backup written"))
            .filter_map(|l| {
                let path = l.split("path=").nth(1)?.split_whitespace().next()?;
                Some(Path::new(path).file_name()?.to_string_lossy().into_owned())
            })
            .collect()
    };
    let (logged, kept) = eventually(
        "three scheduled backups, two kept",
        Duration::from_secs(30),
        || {
            let logged = written(&server.log());
            let files = listing(&dir);
            let kept = logged.len() >= 3 && files == logged[logged.len() - 2..];
            async move { kept.then_some((logged, files)) }
        },
    )
    .await;
    assert!(
        !listing(&dir).contains(&logged[0]),
        "the oldest was removed"
    );
    assert!(kept
        .iter()
        .all(|f| f.starts_with("coffer-backup-") && f.ends_with(".cbk")));
    // A scheduled backup is a backup: it restores, without the root key.
    let target = server.dir().join("restored");
    let o = coffer(
        server.dir(),
        &[
            "restore",
            "--from",
            s(&dir.join(&kept[1])),
            "--data-dir",
            s(&target),
            "--root-key",
            s(&server.data_dir.join("root-key")),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(count(&stdout(&o), "kms keys") >= 1, "{}", stdout(&o));
    assert_eq!(listing(&target), ["coffer.db", "root-key"]);
}
