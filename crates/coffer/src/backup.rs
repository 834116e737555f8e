//! Online backup and restore (ADR 0014): `coffer backup`, `coffer restore` and the serving
//! process's scheduled backups (`[backup]`).
//!
//! A backup file is one consistent snapshot of the store (SQLite `VACUUM INTO`, taken while a
//! server serves and writes), still encrypted under the root key exactly as stored — nothing is
//! ever decrypted — framed with a manifest and SHA-256 checksums:
//!
//! ```text
//! file    = magic "COFRBKUP" | format version (u16 BE) | part* | end
//! part    = 'P' | name length (u16 BE) | name (UTF-8) | length (u64 BE) | bytes
//! end     = 'E' | SHA-256 of every byte of the file before it and of the 'E' itself
//! ```
//!
//! The first part is `manifest.json` (format version, creation time, Coffer version, counts,
//! the keyed root-key fingerprint, the size and SHA-256 of every other part); then `coffer.db`,
//! and `root-key` / `root-credentials` only when asked for. The magic and the version field
//! never change, so that any later build can tell a newer format from damage.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use coffer_crypto::RootKey;
use coffer_http::Coffer;
use coffer_store::{BackupInfo, SqliteStore, StoreError};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::config::{Config, Flags};

/// The file's first bytes.
const MAGIC: &[u8; 8] = b"COFRBKUP";
/// The format this build writes and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// The manifest's part name (always the first part).
const MANIFEST: &str = "manifest.json";
/// The database's part name.
const DATABASE: &str = "coffer.db";
/// The root key's file and part name.
const ROOT_KEY: &str = coffer_seal::PLAIN_FILE;
/// The root key under a seal other than `file` (ADR 0013).
const ROOT_KEY_SEALED: &str = coffer_seal::SEALED_FILE;
/// The root credentials' file and part name.
const ROOT_CREDENTIALS: &str = "root-credentials";
/// The parts a version-1 backup may hold besides the manifest.
const KNOWN_PARTS: &[&str] = &[DATABASE, ROOT_KEY, ROOT_KEY_SEALED, ROOT_CREDENTIALS];
/// Files a restore target may already hold: the root key (put back first from where it is kept
/// apart from the backups).
const MAY_PRECEDE: &[&str] = &[ROOT_KEY, ROOT_KEY_SEALED];
/// The label of the root-key fingerprint in the manifest.
const FINGERPRINT_LABEL: &str = "backup/root-key";
/// The largest manifest a restore reads.
const MAX_MANIFEST: u64 = 1 << 20;
/// The largest root-key or root-credentials part a restore reads.
const MAX_SMALL_PART: u64 = 64 * 1024;
/// Scheduled backups are named `coffer-backup-<UTC time>.cbk`.
const SCHEDULED_PREFIX: &str = "coffer-backup-";
const SCHEDULED_SUFFIX: &str = ".cbk";

/// `coffer backup`.
#[derive(Args)]
pub struct BackupArgs {
    /// The data directory to back up, which a server may be serving [key: data_dir; default
    /// coffer-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The backup file to write (it must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The configuration file (for data_dir).
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Put the root key in the backup too. Whoever reads such a file can decrypt every key and
    /// secret in it: keep it as you keep the root key.
    #[arg(long)]
    pub include_root_key: bool,
    /// Put the root-credentials file in the backup too (the root user's secret access key in
    /// clear; the database holds it wrapped under the root key either way).
    #[arg(long)]
    pub include_root_credentials: bool,
}

/// `coffer restore`.
#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The data directory to create: it must not exist, be empty, or hold only the root key.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The root key the backup was made under (`root-key`, or a `root-key.sealed` with its
    /// seal's secrets in the environment or --config), checked and copied into the data
    /// directory.
    #[arg(long, value_name = "FILE")]
    pub root_key: Option<PathBuf>,
    /// The configuration file, for its `[seal]` secrets (a sealed root key's passphrase, PIN
    /// or KMS credentials).
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// What a backup file says about itself (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `coffer-backup`.
    pub format: String,
    /// The file format's version (the same as in the file's header).
    pub format_version: u16,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created: String,
    /// The Coffer that wrote it.
    pub coffer_version: String,
    /// Its git commit.
    pub coffer_commit: String,
    /// The store the snapshot is of.
    pub store: StoreSummary,
    /// Records of the main kinds (`kms_keys`, `kms_aliases`, `secrets`, …).
    pub counts: BTreeMap<String, u64>,
    /// Records per store table.
    pub tables: BTreeMap<String, u64>,
    /// Which root key the snapshot needs.
    pub root_key: RootKeySummary,
    /// Every part after the manifest, in file order.
    pub parts: Vec<PartSummary>,
}

/// `manifest.store`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSummary {
    /// `sqlite`.
    pub kind: String,
    /// The database's schema version.
    pub schema_version: u32,
    /// The sequence of the last commit in the snapshot.
    pub sequence: u64,
}

/// `manifest.root_key`: a keyed fingerprint (HMAC under a key derived from the root key, over
/// a random salt), so a restore can tell whether a root key opens the backup without
/// decrypting anything, and backups cannot be linked to each other without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootKeySummary {
    /// Lower-case hex HMAC-SHA-256.
    pub fingerprint: String,
    /// Lower-case hex of 16 random bytes.
    pub salt: String,
    /// Whether the root key is a part of the file.
    pub included: bool,
}

/// One entry of `manifest.parts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    /// The file it restores to.
    pub name: String,
    /// Its length.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
}

/// What [`write_backup`] wrote.
#[derive(Debug)]
pub struct Written {
    /// The manifest.
    pub manifest: Manifest,
    /// The file's length.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the whole file (what `sha256sum` prints).
    pub sha256: String,
}

/// What goes into a backup besides the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct Include {
    /// The root key's file.
    pub root_key: bool,
    /// The root-credentials file.
    pub root_credentials: bool,
}

/// The root-key files of `data_dir` (plaintext, sealed, or both after an interrupted
/// `seal-migrate`).
fn key_files(data_dir: &Path) -> Vec<&'static str> {
    [ROOT_KEY, ROOT_KEY_SEALED]
        .into_iter()
        .filter(|f| data_dir.join(f).is_file())
        .collect()
}

fn fingerprint(root: &RootKey, salt: &[u8]) -> String {
    hex::encode(root.fingerprint(FINGERPRINT_LABEL, salt))
}

/// Friendly names of the main tables in `manifest.counts`.
const COUNTED: &[(&str, &str)] = &[
    ("kms_key", "kms_keys"),
    ("kms_alias", "kms_aliases"),
    ("kms_grant", "kms_grants"),
    ("sm_secret", "secrets"),
    ("sm_version", "secret_versions"),
    ("iam_access_key", "access_keys"),
    ("iam_role", "iam_roles"),
    ("iam_policy", "iam_policies"),
];

pub(crate) fn counts(tables: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    COUNTED
        .iter()
        .map(|(table, name)| (name.to_string(), tables.get(*table).copied().unwrap_or(0)))
        .collect()
}

pub(crate) fn counts_line(counts: &BTreeMap<String, u64>) -> String {
    COUNTED
        .iter()
        .map(|(_, name)| {
            format!(
                "{} {}",
                name.replace('_', " "),
                counts.get(*name).copied().unwrap_or(0)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Incremental SHA-256 (aws-lc-rs).
struct Sha256(aws_lc_rs::digest::Context);

impl Sha256 {
    fn new() -> Self {
        Sha256(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn hex(&self) -> String {
        hex::encode(self.0.clone().finish().as_ref())
    }
    fn bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.clone().finish().as_ref());
        out
    }
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A directory removed (with what it holds) when dropped, unless kept.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Creates `<parent>/.<stem>.<what>-<random>` with mode 0700.
    fn beside(target: &Path, what: &str) -> anyhow::Result<TempDir> {
        let parent = parent_of(target);
        let stem = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "coffer".into());
        let tag = hex::encode(coffer_crypto::random::array::<6>()?);
        let path = parent.join(format!(".{stem}.{what}-{tag}"));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&path)
            .with_context(|| format!("creating the temporary directory {}", path.display()))?;
        Ok(TempDir { path, keep: false })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// Creates `path` for writing with mode 0600; it must not exist.
pub(crate) fn create_private(path: &Path) -> anyhow::Result<File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .with_context(|| format!("creating {}", path.display()))
}

fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((total, hash.hex()));
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
}

fn write_part_header<W: Write>(w: &mut W, name: &str, len: u64) -> io::Result<()> {
    let name_len = u16::try_from(name.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "part name too long"))?;
    w.write_all(b"P")?;
    w.write_all(&name_len.to_be_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&len.to_be_bytes())
}

/// The backup's part stream in memory, as a state file (`crate::state`) carries it inside
/// its encryption: `part*` then `end` (the 'E' and the SHA-256 of everything before it).
pub(crate) fn frame_parts(parts: &[(&str, &[u8])]) -> io::Result<Zeroizing<Vec<u8>>> {
    let total: usize = parts.iter().map(|(n, b)| 11 + n.len() + b.len()).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(total + 33));
    for (name, bytes) in parts {
        write_part_header(&mut *out, name, bytes.len() as u64)?;
        out.extend_from_slice(bytes);
    }
    out.push(b'E');
    let end = coffer_crypto::digest::sha256(&out);
    out.extend_from_slice(&end);
    Ok(out)
}

/// Reads what [`frame_parts`] wrote: the parts by name, in order, once the end marker's
/// SHA-256 matches and nothing follows it. The error says what is wrong, for a message.
pub(crate) fn parse_parts(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let mut parts = Vec::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = at
            .checked_add(n)
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| "a part runs past the end".to_string())?;
        let s = &bytes[*at..end];
        *at = end;
        Ok(s)
    };
    loop {
        let tag = take(&mut at, 1).map_err(|_| "it has no end marker".to_string())?[0];
        match tag {
            b'E' => {
                let expected = coffer_crypto::digest::sha256(&bytes[..at]);
                let end = take(&mut at, 32)?;
                if !coffer_crypto::digest::constant_time_eq(&expected, end) {
                    return Err("the SHA-256 at its end does not match".into());
                }
                if at != bytes.len() {
                    return Err("bytes follow its end marker".into());
                }
                return Ok(parts);
            }
            b'P' => {}
            other => {
                return Err(format!(
                    "unexpected byte {other:#04x} where a part should start"
                ))
            }
        }
        let n = take(&mut at, 2)?;
        let name_len = usize::from(u16::from_be_bytes([n[0], n[1]]));
        let name = String::from_utf8(take(&mut at, name_len)?.to_vec())
            .map_err(|_| "a part name is not UTF-8".to_string())?;
        let l = take(&mut at, 8)?;
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(l);
        let len = usize::try_from(u64::from_be_bytes(len8))
            .map_err(|_| format!("part {name} is too long"))?;
        let body = take(&mut at, len)?;
        parts.push((name, body));
    }
}

/// Writes a backup of `data_dir` to the new file `out`: `snapshot` writes the store's
/// consistent copy to the path it is given (a running server's store, or the database file);
/// `root` is the data directory's root key (for the fingerprint; also included when asked).
///
/// Everything is written under a temporary directory beside `out` and linked into place only
/// when complete and synced; `out` is never overwritten.
pub fn write_backup(
    data_dir: &Path,
    out: &Path,
    root: &RootKey,
    include: Include,
    snapshot: impl FnOnce(&Path) -> Result<BackupInfo, StoreError>,
) -> anyhow::Result<Written> {
    if out.exists() {
        bail!("{} exists; refusing to overwrite it", out.display());
    }
    let tmp = TempDir::beside(out, "partial")?;
    let db = tmp.path.join(DATABASE);
    let info = snapshot(&db).context("taking the snapshot")?;
    let (db_len, db_sha) = hash_file(&db)?;
    let mut parts = vec![PartSummary {
        name: DATABASE.into(),
        bytes: db_len,
        sha256: db_sha,
    }];
    let mut small: Vec<(&str, Zeroizing<Vec<u8>>)> = Vec::new();
    let mut wanted: Vec<&str> = Vec::new();
    if include.root_key {
        wanted.extend(key_files(data_dir));
    }
    if include.root_credentials {
        wanted.push(ROOT_CREDENTIALS);
    }
    for name in wanted {
        let path = data_dir.join(name);
        let bytes =
            Zeroizing::new(fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
        parts.push(PartSummary {
            name: name.into(),
            bytes: bytes.len() as u64,
            sha256: coffer_crypto::digest::sha256_hex(&bytes),
        });
        small.push((name, bytes));
    }
    let salt = coffer_crypto::random::array::<16>()?;
    let manifest = Manifest {
        format: "coffer-backup".into(),
        format_version: FORMAT_VERSION,
        created: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        coffer_version: env!("CARGO_PKG_VERSION").into(),
        coffer_commit: option_env!("COFFER_GIT_COMMIT").unwrap_or("unknown").into(),
        store: StoreSummary {
            kind: "sqlite".into(),
            schema_version: info.schema_version,
            sequence: info.seq,
        },
        counts: counts(&info.tables),
        tables: info.tables.clone(),
        root_key: RootKeySummary {
            fingerprint: fingerprint(root, &salt),
            salt: hex::encode(salt),
            included: include.root_key,
        },
        parts,
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;

    let archive = tmp.path.join("archive");
    let file = create_private(&archive)?;
    let mut w = Hashing {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
        bytes: 0,
    };
    w.write_all(MAGIC)?;
    w.write_all(&FORMAT_VERSION.to_be_bytes())?;
    write_part_header(&mut w, MANIFEST, manifest_json.len() as u64)?;
    w.write_all(&manifest_json)?;
    write_part_header(&mut w, DATABASE, db_len)?;
    let copied = io::copy(&mut File::open(&db)?, &mut w)?;
    if copied != db_len {
        bail!("the snapshot changed while it was being archived");
    }
    for (name, bytes) in &small {
        write_part_header(&mut w, name, bytes.len() as u64)?;
        w.write_all(bytes)?;
    }
    w.write_all(b"E")?;
    let end = w.hash.bytes();
    w.write_all(&end)?;
    let (bytes, sha256) = (w.bytes, w.hash.hex());
    let file = w
        .inner
        .into_inner()
        .map_err(|e| anyhow!("writing {}: {}", archive.display(), e.error()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", archive.display()))?;
    drop(file);
    // A hard link does not replace an existing file (a rename would).
    fs::hard_link(&archive, out).with_context(|| format!("writing {}", out.display()))?;
    sync_dir(&parent_of(out))?;
    Ok(Written {
        manifest,
        bytes,
        sha256,
    })
}

/// `coffer backup`.
pub fn backup_command(args: &BackupArgs, env: &[(String, String)]) -> anyhow::Result<()> {
    let flags = Flags {
        data_dir: args.data_dir.clone(),
        ..Flags::default()
    };
    let config = Config::load(args.config.as_deref(), env, &flags)?;
    if config.store.kind == crate::config::StoreKind::Postgres {
        bail!(
            "[store] kind = \"postgres\": back the database up with PostgreSQL's own tools \
             (pg_dump, or its replication), and the data directory's root key apart"
        );
    }
    let data_dir = &config.data_dir;
    let db = data_dir.join(DATABASE);
    if !db.is_file() {
        bail!(
            "no database at {}: give the data directory to back up (--data-dir)",
            db.display()
        );
    }
    let (root, _) = crate::open_root(&config, false).context(
        "a backup records which root key it needs: run it where the data directory's root key \
         and its seal (--config) are",
    )?;
    let include = Include {
        root_key: args.include_root_key,
        root_credentials: args.include_root_credentials,
    };
    if include.root_credentials && !data_dir.join(ROOT_CREDENTIALS).is_file() {
        bail!(
            "--include-root-credentials: there is no {} (a directory set up with `coffer \
             operator init` never had one)",
            data_dir.join(ROOT_CREDENTIALS).display()
        );
    }
    let written = write_backup(data_dir, &args.out, &root, include, |dest| {
        SqliteStore::snapshot_file(&db, dest)
    })?;
    let m = &written.manifest;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "backup written: {} ({} bytes, sha256 {})",
        args.out.display(),
        written.bytes,
        written.sha256
    )?;
    writeln!(
        out,
        "snapshot: {} at commit {}, {} (format {}, coffer {})",
        db.display(),
        m.store.sequence,
        m.created,
        m.format_version,
        m.coffer_version
    )?;
    writeln!(out, "records: {}", counts_line(&m.counts))?;
    if include.root_key {
        writeln!(out, "root key: included")?;
        eprintln!(
            "coffer: warning: {} holds the root key: whoever can read it can decrypt every key \
             and secret in it; keep it as you keep the root key, never beside other backups",
            args.out.display()
        );
    } else {
        writeln!(
            out,
            "root key: NOT included; keep {} apart from the backups: a restore needs it \
             (coffer restore --root-key FILE, or put it in the new data directory first)",
            key_files(data_dir)
                .iter()
                .map(|f| data_dir.join(f).display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        )?;
    }
    if include.root_credentials {
        writeln!(out, "root credentials: included (in clear)")?;
    } else {
        writeln!(
            out,
            "root credentials: not included (the database keeps them, wrapped; the restored \
             server accepts the same keys)"
        )?;
    }
    out.flush()?;
    Ok(())
}

/// A reader that hashes what it reads.
struct Reading<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Reading<R> {
    /// Fills `buf`; `Ok(false)` when the file ended first.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.hash.update(&buf[got..got + n]);
                    got += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Why a restore was refused (one line each; nothing is written).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Not a Coffer backup at all.
    #[error("{0} is not a Coffer backup file")]
    NotBackup(String),
    /// Written by a newer Coffer.
    #[error(
        "{file} is backup format version {version}, newer than this build reads \
         ({FORMAT_VERSION}): restore it with a newer Coffer"
    )]
    Newer {
        /// The file.
        file: String,
        /// Its format version.
        version: u16,
    },
    /// The file ends early.
    #[error("{file} is truncated: it ends {where_}")]
    Truncated {
        /// The file.
        file: String,
        /// Where.
        where_: String,
    },
    /// A checksum or the structure does not match.
    #[error("{file} was altered or damaged: {what}")]
    Altered {
        /// The file.
        file: String,
        /// What does not match.
        what: String,
    },
    /// The target directory holds something.
    #[error(
        "{dir} is not empty (it holds {entry}): restore into a new or empty directory (it may \
         hold only the root key)"
    )]
    NotEmpty {
        /// The directory.
        dir: String,
        /// One of its entries.
        entry: String,
    },
    /// A root key that cannot open the backup.
    #[error(
        "the root key {key} cannot open {file}: the backup was made under another root key \
         (fingerprint mismatch)"
    )]
    WrongRootKey {
        /// The key's file.
        key: String,
        /// The backup.
        file: String,
    },
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The verified manifest.
    pub manifest: Manifest,
    /// Where the root key of the restored directory came from (`None`: none was checked).
    pub root_key: Option<String>,
}

/// Checks that `dir` may be restored into: absent, or a directory holding at most the files
/// of [`MAY_PRECEDE`].
fn check_target(dir: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        Ok(m) if !m.is_dir() => bail!("{} exists and is not a directory", dir.display()),
        Ok(_) => {}
    }
    let mut entries: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort();
    if let Some(entry) = entries.iter().find(|e| !MAY_PRECEDE.contains(&e.as_str())) {
        return Err(RestoreError::NotEmpty {
            dir: dir.display().to_string(),
            entry: entry.clone(),
        }
        .into());
    }
    Ok(())
}

/// Reads and checks the whole backup `from` into the temporary directory `tmp` (every part to
/// its file). Returns the manifest once every checksum, the structure and the database's own
/// counts agree with it.
fn unpack(from: &Path, tmp: &Path) -> anyhow::Result<Manifest> {
    let file_name = from.display().to_string();
    let f = File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut r = Reading {
        inner: BufReader::new(f),
        hash: Sha256::new(),
    };
    let truncated = |where_: &str| RestoreError::Truncated {
        file: file_name.clone(),
        where_: where_.to_string(),
    };
    let altered = |what: String| RestoreError::Altered {
        file: file_name.clone(),
        what,
    };
    let mut magic = [0u8; 8];
    if !r.fill(&mut magic)? || &magic != MAGIC {
        return Err(RestoreError::NotBackup(file_name.clone()).into());
    }
    let mut version = [0u8; 2];
    if !r.fill(&mut version)? {
        return Err(truncated("inside its header").into());
    }
    let version = u16::from_be_bytes(version);
    if version > FORMAT_VERSION {
        return Err(RestoreError::Newer {
            file: file_name.clone(),
            version,
        }
        .into());
    }
    if version == 0 {
        return Err(altered("format version 0".into()).into());
    }
    let mut manifest: Option<Manifest> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut tag = [0u8; 1];
        if !r.fill(&mut tag)? {
            return Err(truncated(
                match seen.last() {
                    Some(p) => format!("after part {p}, before its end marker"),
                    None => "after its header".to_string(),
                }
                .as_str(),
            )
            .into());
        }
        match tag[0] {
            b'E' => {
                let expected = r.hash.bytes();
                let mut end = [0u8; 32];
                if !r.fill(&mut end)? {
                    return Err(truncated("inside its end marker").into());
                }
                if !coffer_crypto::digest::constant_time_eq(&expected, &end) {
                    return Err(altered(
                        "the file's SHA-256 does not match the one at its end".into(),
                    )
                    .into());
                }
                let mut extra = [0u8; 1];
                if r.inner.read(&mut extra)? != 0 {
                    return Err(altered("bytes follow its end marker".into()).into());
                }
                break;
            }
            b'P' => {}
            other => {
                return Err(altered(format!(
                    "unexpected byte {other:#04x} where a part or the end should start"
                ))
                .into())
            }
        }
        let mut len2 = [0u8; 2];
        if !r.fill(&mut len2)? {
            return Err(truncated("inside a part header").into());
        }
        let mut name = vec![0u8; usize::from(u16::from_be_bytes(len2))];
        if !r.fill(&mut name)? {
            return Err(truncated("inside a part header").into());
        }
        let name =
            String::from_utf8(name).map_err(|_| altered("a part name is not UTF-8".into()))?;
        let mut len8 = [0u8; 8];
        if !r.fill(&mut len8)? {
            return Err(truncated(&format!("inside the header of part {name}")).into());
        }
        let len = u64::from_be_bytes(len8);
        let Some(m) = &manifest else {
            if name != MANIFEST {
                return Err(altered(format!("the first part is {name:?}, not {MANIFEST}")).into());
            }
            if len > MAX_MANIFEST {
                return Err(altered(format!("a manifest of {len} bytes")).into());
            }
            let mut bytes = vec![0u8; usize::try_from(len)?];
            if !r.fill(&mut bytes)? {
                return Err(truncated("inside its manifest").into());
            }
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| altered(format!("its manifest is not valid: {e}")))?;
            if m.format != "coffer-backup" || m.format_version != version {
                return Err(altered(format!(
                    "its manifest says format {:?} version {}, its header version {version}",
                    m.format, m.format_version
                ))
                .into());
            }
            manifest = Some(m);
            seen.push(MANIFEST.into());
            continue;
        };
        if !KNOWN_PARTS.contains(&name.as_str()) || seen.contains(&name) {
            return Err(altered(format!("unexpected part {name:?}")).into());
        }
        let Some(expected) = m.parts.iter().find(|p| p.name == name).cloned() else {
            return Err(altered(format!("part {name} is not in its manifest")).into());
        };
        if expected.bytes != len {
            return Err(altered(format!(
                "part {name} is {len} bytes, its manifest says {}",
                expected.bytes
            ))
            .into());
        }
        if name != DATABASE && len > MAX_SMALL_PART {
            return Err(altered(format!("part {name} of {len} bytes")).into());
        }
        let mut out = BufWriter::new(create_private(&tmp.join(&name))?);
        let mut part_hash = Sha256::new();
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64))?;
            if !r.fill(&mut buf[..n])? {
                return Err(truncated(&format!("inside part {name}")).into());
            }
            part_hash.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        if part_hash.hex() != expected.sha256 {
            return Err(altered(format!(
                "part {name} does not match its SHA-256 in the manifest"
            ))
            .into());
        }
        let out = out
            .into_inner()
            .map_err(|e| anyhow!("writing {name}: {}", e.error()))?;
        out.sync_all()?;
        seen.push(name);
    }
    let Some(manifest) = manifest else {
        return Err(altered("it has no manifest".into()).into());
    };
    for p in &manifest.parts {
        if !seen.contains(&p.name) {
            return Err(altered(format!("part {} of its manifest is missing", p.name)).into());
        }
    }
    if !seen.iter().any(|s| s == DATABASE) {
        return Err(altered("it holds no database".into()).into());
    }
    let info = coffer_store::inspect_sqlite(&tmp.join(DATABASE))
        .map_err(|e| altered(format!("its database cannot be read: {e}")))?;
    if info.seq != manifest.store.sequence || info.tables != manifest.tables {
        return Err(altered("its database does not hold what its manifest counts".into()).into());
    }
    Ok(manifest)
}

/// Checks that the root key in `path` opens the backup of `manifest`.
fn check_root_key(
    path: &Path,
    manifest: &Manifest,
    from: &Path,
    seal: &coffer_seal::SealConfig,
) -> anyhow::Result<()> {
    let root = coffer_seal::open_file(path, seal)?;
    let salt = hex::decode(&manifest.root_key.salt).map_err(|_| RestoreError::Altered {
        file: from.display().to_string(),
        what: "its manifest's root-key salt is not hex".into(),
    })?;
    let ok = coffer_crypto::digest::constant_time_eq(
        fingerprint(&root, &salt).as_bytes(),
        manifest.root_key.fingerprint.as_bytes(),
    );
    if !ok {
        return Err(RestoreError::WrongRootKey {
            key: path.display().to_string(),
            file: from.display().to_string(),
        }
        .into());
    }
    Ok(())
}

/// Restores the backup `from` into `data_dir` (see [`RestoreArgs`]): everything is checked in
/// a temporary directory beside `data_dir` first; on any refusal nothing is left behind.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    root_key: Option<&Path>,
    seal: &coffer_seal::SealConfig,
) -> anyhow::Result<Restored> {
    check_target(data_dir)?;
    if let Some(k) = root_key {
        if !k.is_file() {
            bail!("--root-key {}: no such file", k.display());
        }
    }
    // The file's header first: a wrong or newer file is refused before anything is created.
    {
        let mut head = [0u8; 10];
        let mut f = File::open(from).with_context(|| format!("reading {}", from.display()))?;
        let n = read_up_to(&mut f, &mut head)?;
        if n < MAGIC.len() || &head[..MAGIC.len()] != MAGIC {
            return Err(RestoreError::NotBackup(from.display().to_string()).into());
        }
        if n == head.len() {
            let version = u16::from_be_bytes([head[8], head[9]]);
            if version > FORMAT_VERSION {
                return Err(RestoreError::Newer {
                    file: from.display().to_string(),
                    version,
                }
                .into());
            }
        }
    }
    let parent = parent_of(data_dir);
    if !parent.is_dir() {
        bail!(
            "{} does not exist: create the parent of the data directory first",
            parent.display()
        );
    }
    let mut tmp = TempDir::beside(data_dir, "restore")?;
    let manifest = unpack(from, &tmp.path)?;

    // Every root key at hand must open the backup.
    let existing: Vec<PathBuf> = key_files(data_dir)
        .into_iter()
        .map(|f| data_dir.join(f))
        .collect();
    let mut source = None;
    for k in &existing {
        check_root_key(k, &manifest, from, seal)?;
        source.get_or_insert_with(|| format!("{} (checked)", k.display()));
    }
    if let Some(k) = root_key {
        check_root_key(k, &manifest, from, seal)?;
        source.get_or_insert_with(|| format!("copied from {} (checked)", k.display()));
    }
    let packed: Vec<PathBuf> = key_files(&tmp.path)
        .into_iter()
        .map(|f| tmp.path.join(f))
        .collect();
    for k in &packed {
        check_root_key(k, &manifest, from, seal)?;
        source.get_or_insert_with(|| "from the backup (checked)".to_string());
    }
    if !existing.is_empty() {
        for k in &packed {
            let _ = fs::remove_file(k);
        }
    } else if let (Some(k), true) = (root_key, packed.is_empty()) {
        let bytes =
            Zeroizing::new(fs::read(k).with_context(|| format!("reading {}", k.display()))?);
        let name = if bytes.first() == Some(&b'{') {
            ROOT_KEY_SEALED
        } else {
            ROOT_KEY
        };
        let mut f = create_private(&tmp.path.join(name))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    sync_dir(&tmp.path)?;

    // Into place: the whole directory at once when the target is absent or empty; else (it
    // holds the root key) file by file, the database last.
    let target_exists = data_dir.exists();
    let empty = target_exists && fs::read_dir(data_dir)?.next().is_none();
    if !target_exists || empty {
        fs::rename(&tmp.path, data_dir)
            .with_context(|| format!("moving {} to {}", tmp.path.display(), data_dir.display()))?;
        tmp.keep = true;
    } else {
        for name in [ROOT_KEY, ROOT_KEY_SEALED, ROOT_CREDENTIALS, DATABASE] {
            let src = tmp.path.join(name);
            if src.is_file() {
                fs::rename(&src, data_dir.join(name))
                    .with_context(|| format!("moving {name} into {}", data_dir.display()))?;
            }
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("securing {}", data_dir.display()))?;
    }
    sync_dir(data_dir)?;
    sync_dir(&parent)?;
    Ok(Restored {
        manifest,
        root_key: source,
    })
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// `coffer restore`.
pub fn restore_command(args: &RestoreArgs, env: &[(String, String)]) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref(), env, &Flags::default())?;
    let mut env: Vec<(String, String)> = env.to_vec();
    env.extend(std::env::vars().filter(|(k, _)| k.starts_with("AWS_")));
    let seal = config.seal.provider(&env, None)?;
    let done = restore(&args.from, &args.data_dir, args.root_key.as_deref(), &seal)?;
    let m = &done.manifest;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "restored {} into {}: commit {}, taken {} by coffer {}",
        args.from.display(),
        args.data_dir.display(),
        m.store.sequence,
        m.created,
        m.coffer_version
    )?;
    writeln!(out, "records: {}", counts_line(&m.counts))?;
    match &done.root_key {
        Some(s) => writeln!(out, "root key: {s}")?,
        None => {
            writeln!(
                out,
                "root key: NONE checked or restored: put the root key this backup was made \
                 under at {} before starting the server",
                args.data_dir.join(ROOT_KEY).display()
            )?;
        }
    }
    writeln!(
        out,
        "start it: coffer serve --data-dir {}",
        args.data_dir.display()
    )?;
    out.flush()?;
    Ok(())
}

/// `[backup]` as the serving process uses it.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// How often.
    pub interval: Duration,
    /// Where the files go.
    pub dir: PathBuf,
    /// How many of the newest files are kept.
    pub keep: usize,
}

/// The backup files of `dir` that the scheduler wrote, oldest first.
fn scheduled_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(SCHEDULED_PREFIX)
                && name.ends_with(SCHEDULED_SUFFIX)
                && e.file_type().is_ok_and(|t| t.is_file())
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

/// One scheduled backup and its retention: writes `coffer-backup-<time>.cbk` into the
/// schedule's directory, then removes all but the newest `keep`.
fn scheduled_once(
    coffer: &Coffer,
    root: &RootKey,
    data_dir: &Path,
    schedule: &Schedule,
) -> anyhow::Result<(PathBuf, Written, Vec<PathBuf>)> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    ))?;
    let out = schedule
        .dir
        .join(format!("{SCHEDULED_PREFIX}{stamp}{SCHEDULED_SUFFIX}"));
    let written = write_backup(data_dir, &out, root, Include::default(), |dest| {
        coffer.backup_store(dest)
    })?;
    let files = scheduled_files(&schedule.dir)?;
    let excess = files.len().saturating_sub(schedule.keep);
    let mut removed = Vec::new();
    for old in files.into_iter().take(excess) {
        fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
        removed.push(old);
    }
    Ok((out, written, removed))
}

/// Removes the temporary directories that interrupted backups left in `dir`.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!(".{SCHEDULED_PREFIX}")) && name.contains(".partial-") {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Runs the scheduled backups until `stop`: the first one `interval` after start.
pub async fn run_scheduled(
    coffer: Arc<Coffer>,
    root: RootKey,
    data_dir: PathBuf,
    schedule: Schedule,
    stop: CancellationToken,
) {
    let dir = schedule.dir.clone();
    let prepared = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("securing {}", dir.display()))?;
        }
        remove_leftovers(&dir);
        Ok(())
    })
    .await;
    match prepared {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), "scheduled backups are off: their directory cannot be used");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "scheduled backups are off: task failed");
            return;
        }
    }
    tracing::info!(dir = %schedule.dir.display(), interval = ?schedule.interval, keep = schedule.keep, "scheduled backups");
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + schedule.interval,
        schedule.interval,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (c, r, d, s) = (
            coffer.clone(),
            root.clone(),
            data_dir.clone(),
            schedule.clone(),
        );
        match tokio::task::spawn_blocking(move || scheduled_once(&c, &r, &d, &s)).await {
            Ok(Ok((path, written, removed))) => {
                tracing::info!(
                    path = %path.display(),
                    bytes = written.bytes,
                    sha256 = %written.sha256,
                    commit = written.manifest.store.sequence,
                    "scheduled backup written"
                );
                for old in removed {
                    tracing::info!(path = %old.display(), "old backup removed (retention)");
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "scheduled backup failed")
            }
            Err(e) => tracing::error!(error = %e, "scheduled backup task failed"),
        }
    }
}
