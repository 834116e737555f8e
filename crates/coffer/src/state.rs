//! State files (ADR 0016): the whole state of a deployment, encrypted under a passphrase, for
//! CI pipelines that prepare a state once and load it in every job. `coffer state export` /
//! `coffer state import` offline, `POST /_coffer/state/export|import` on a `--dev` server.
//!
//! ```text
//! file   = magic "COFRSTAT" | format version (u16 BE) | kdf (u8, 1 = Argon2id v0x13)
//!          | memory KiB (u32 BE) | iterations (u32 BE) | parallelism (u32 BE) | salt (16)
//!          | check (32) | sealed length (u64 BE) | sealed
//! sealed = AES-256-GCM (aws-lc-rs): nonce (12) | ciphertext | tag (16); the AAD is every
//!          header byte before it
//! inner  = the backup's part stream (ADR 0014): `manifest.json`, `root-key`, `records`, end
//! records = (table len u16 | table | key len u32 | key | value len u32 | value)*
//! ```
//!
//! The passphrase gives, through Argon2id, a key K; `check` is HMAC-SHA-256(K, "check") so a
//! wrong passphrase is told apart from a damaged file, and the AES key is HMAC-SHA-256(K,
//! "encrypt"). The records are the store's bytes as they are, their root-wrapped fields under
//! the exporting deployment's root keyring, which travels in `root-key` (inside the
//! encryption); an import re-wraps them under the importing deployment's root key.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use coffer_crypto::RootKey;
use coffer_http::services::{ExportedState, StateRecord};
use coffer_http::Coffer;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::config::{Config, Flags};

/// The file's first bytes.
const MAGIC: &[u8; 8] = b"COFRSTAT";
/// The format this build writes and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// The key derivation of version 1: Argon2id, version 0x13.
const KDF_ARGON2ID: u8 = 1;
/// Header length of version 1, up to the sealed bytes.
const HEADER_LEN: usize = 8 + 2 + 1 + 4 + 4 + 4 + 16 + 32 + 8;
/// The environment variable the passphrase is read from by default.
pub const PASSPHRASE_ENV: &str = "COFFER_STATE_PASSPHRASE";
/// The largest Argon2id memory cost a reader accepts (1 GiB), against files made to exhaust it.
const MAX_MEMORY_KIB: u32 = 1 << 20;

/// `coffer state`.
#[derive(Subcommand)]
pub enum StateCommand {
    /// Write the whole state of a data directory (no server may serve it) to a new file,
    /// encrypted under a passphrase.
    Export(ExportArgs),
    /// Replace the whole state of a data directory (no server may serve it; it is created if
    /// absent) with a state file's, in one transaction.
    Import(ImportArgs),
}

/// Where the passphrase comes from (never from the command line itself).
#[derive(Args, Clone, Debug, Default)]
pub struct PassphraseArgs {
    /// Read the passphrase from this environment variable [default: COFFER_STATE_PASSPHRASE].
    #[arg(long, value_name = "VAR", conflicts_with = "passphrase_file")]
    pub passphrase_env: Option<String>,
    /// Read the passphrase from this file (its first line).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// `coffer state export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The state file to write (it must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The data directory [key: data_dir; default coffer-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The configuration file (`[seal]`, `[store]`, data_dir).
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// `coffer state import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The state file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The data directory [key: data_dir; default coffer-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The configuration file (`[seal]`, `[store]`, data_dir).
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// Why a state file was refused or could not be made. Every refusal leaves the state as it
/// was. [`StateError::code`] is the error code `POST /_coffer/state/*` answers with.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No passphrase was given.
    #[error("no passphrase: {0}")]
    NoPassphrase(String),
    /// Not a state file at all.
    #[error("{0} is not a Coffer state file")]
    NotState(String),
    /// Written by a newer Coffer.
    #[error(
        "{file} is state format version {version}, newer than this build reads \
         ({FORMAT_VERSION}): import it with a newer Coffer"
    )]
    Newer {
        /// The file.
        file: String,
        /// Its version.
        version: u16,
    },
    /// The file ends early.
    #[error("{file} is truncated: {what}")]
    Truncated {
        /// The file.
        file: String,
        /// Where.
        what: String,
    },
    /// The passphrase does not open the file.
    #[error("the passphrase does not open {0}")]
    WrongPassphrase(String),
    /// Damaged or altered.
    #[error("{file} was altered or damaged: {what}")]
    Altered {
        /// The file.
        file: String,
        /// What is wrong.
        what: String,
    },
    /// The records cannot be loaded by this build's services.
    #[error("{file} holds a state this build cannot load: {what}")]
    Unloadable {
        /// The file.
        file: String,
        /// Why.
        what: String,
    },
    /// Something else (the store, the random source).
    #[error("{0}")]
    Internal(String),
}

impl StateError {
    /// The error code of the HTTP answer (the one place these errors are mapped).
    pub fn code(&self) -> &'static str {
        match self {
            StateError::NoPassphrase(_) => "MissingPassphraseException",
            StateError::NotState(_) | StateError::Truncated { .. } | StateError::Altered { .. } => {
                "InvalidStateFileException"
            }
            StateError::Newer { .. } => "UnsupportedStateVersionException",
            StateError::WrongPassphrase(_) => "IncorrectPassphraseException",
            StateError::Unloadable { .. } => "UnloadableStateException",
            StateError::Internal(_) => "InternalFailure",
        }
    }

    /// Whether the caller is at fault (HTTP 400) rather than the server (500).
    pub fn is_client(&self) -> bool {
        !matches!(self, StateError::Internal(_))
    }
}

/// `manifest.json` of a state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `coffer-state`.
    pub format: String,
    /// The file format's version (the same as in its header).
    pub format_version: u16,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// The Coffer that wrote it.
    pub coffer_version: String,
    /// Records of the main kinds.
    pub counts: BTreeMap<String, u64>,
    /// Records per store table.
    pub tables: BTreeMap<String, u64>,
}

/// A passphrase with Argon2id's costs for new files.
pub struct Passphrase {
    secret: Zeroizing<String>,
    /// Costs of new files (a reader takes the file's).
    pub params: coffer_seal::Argon2Params,
}

impl Passphrase {
    /// A passphrase; empty is refused.
    pub fn new(secret: Zeroizing<String>) -> Result<Passphrase, StateError> {
        if secret.is_empty() {
            return Err(StateError::NoPassphrase("the passphrase is empty".into()));
        }
        Ok(Passphrase {
            secret,
            params: coffer_seal::Argon2Params::default(),
        })
    }

    /// From `--passphrase-file`, `--passphrase-env VAR`, else `COFFER_STATE_PASSPHRASE`.
    pub fn from_args(args: &PassphraseArgs) -> Result<Passphrase, StateError> {
        if let Some(path) = &args.passphrase_file {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                StateError::NoPassphrase(format!("cannot read {}: {e}", path.display()))
            })?);
            let line = text.lines().next().unwrap_or("");
            return Passphrase::new(Zeroizing::new(line.to_string()));
        }
        let var = args.passphrase_env.as_deref().unwrap_or(PASSPHRASE_ENV);
        match std::env::var(var) {
            Ok(v) => Passphrase::new(Zeroizing::new(v)),
            Err(_) => Err(StateError::NoPassphrase(format!(
                "set {var} (or give --passphrase-env VAR or --passphrase-file FILE)"
            ))),
        }
    }
}

/// The keys of a file: (check value, AES key).
fn keys(
    passphrase: &Passphrase,
    salt: &[u8],
    params: &coffer_seal::Argon2Params,
) -> Result<([u8; 32], Zeroizing<[u8; 32]>), StateError> {
    let k = coffer_seal::derive_key(passphrase.secret.as_bytes(), salt, params)
        .map_err(|e| StateError::Internal(e.to_string()))?;
    let check = coffer_crypto::digest::hmac_sha256(&k[..], b"coffer/state/v1/check");
    let enc = Zeroizing::new(coffer_crypto::digest::hmac_sha256(
        &k[..],
        b"coffer/state/v1/encrypt",
    ));
    Ok((check, enc))
}

fn internal(e: impl std::fmt::Display) -> StateError {
    StateError::Internal(e.to_string())
}

/// The state file of `state`.
pub fn encode(state: &ExportedState, passphrase: &Passphrase) -> Result<Vec<u8>, StateError> {
    let mut tables: BTreeMap<String, u64> = BTreeMap::new();
    let mut records = Zeroizing::new(Vec::new());
    for r in &state.records {
        *tables.entry(r.table.clone()).or_default() += 1;
        let t = u16::try_from(r.table.len()).map_err(internal)?;
        records.extend_from_slice(&t.to_be_bytes());
        records.extend_from_slice(r.table.as_bytes());
        for part in [r.key.as_bytes(), &r.value] {
            let n = u32::try_from(part.len()).map_err(internal)?;
            records.extend_from_slice(&n.to_be_bytes());
            records.extend_from_slice(part);
        }
    }
    let manifest = Manifest {
        format: "coffer-state".into(),
        format_version: FORMAT_VERSION,
        created: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(internal)?,
        coffer_version: env!("CARGO_PKG_VERSION").into(),
        counts: crate::backup::counts(&tables),
        tables,
    };
    let manifest = serde_json::to_vec_pretty(&manifest).map_err(internal)?;
    let inner = crate::backup::frame_parts(&[
        ("manifest.json", &manifest),
        ("root-key", &state.root),
        ("records", &records),
    ])
    .map_err(internal)?;

    let params = passphrase.params;
    let salt = coffer_crypto::random::array::<16>().map_err(internal)?;
    let (check, enc) = keys(passphrase, &salt, &params)?;
    let sealed_len = inner.len() + 12 + 16;
    let mut out = Vec::with_capacity(HEADER_LEN + sealed_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.push(KDF_ARGON2ID);
    out.extend_from_slice(&params.memory_kib.to_be_bytes());
    out.extend_from_slice(&params.iterations.to_be_bytes());
    out.extend_from_slice(&params.parallelism.to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&check);
    out.extend_from_slice(&(sealed_len as u64).to_be_bytes());
    let sealed = coffer_crypto::aead::seal(&enc[..], &out, &inner).map_err(internal)?;
    if sealed.len() != sealed_len {
        return Err(internal("unexpected sealed length"));
    }
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// What a state file holds, checked.
pub struct Decoded {
    /// Its manifest.
    pub manifest: Manifest,
    /// Every record.
    pub records: Vec<StateRecord>,
    /// The root keyring the records are wrapped under.
    pub root: RootKey,
}

/// Reads a record stream.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn take_len32(&mut self) -> Option<&'a [u8]> {
        let n = self.take(4)?;
        self.take(u32_at(n, 0) as usize)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads and checks a state file (`name` is how messages call it). Nothing is changed.
pub fn decode(bytes: &[u8], name: &str, passphrase: &Passphrase) -> Result<Decoded, StateError> {
    let file = name.to_string();
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(StateError::NotState(file));
    }
    let truncated = |what: String| StateError::Truncated {
        file: file.clone(),
        what,
    };
    let altered = |what: String| StateError::Altered {
        file: file.clone(),
        what,
    };
    if bytes.len() < 10 {
        return Err(truncated("it ends inside its header".into()));
    }
    let version = u16::from_be_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION {
        return Err(StateError::Newer {
            file: file.clone(),
            version,
        });
    }
    if version == 0 {
        return Err(altered("format version 0".into()));
    }
    if bytes.len() < HEADER_LEN {
        return Err(truncated("it ends inside its header".into()));
    }
    if bytes[10] != KDF_ARGON2ID {
        return Err(altered(format!("unknown key derivation {}", bytes[10])));
    }
    let params = coffer_seal::Argon2Params {
        memory_kib: u32_at(bytes, 11),
        iterations: u32_at(bytes, 15),
        parallelism: u32_at(bytes, 19),
    };
    if params.memory_kib > MAX_MEMORY_KIB
        || params.iterations == 0
        || params.iterations > 64
        || params.parallelism == 0
        || params.parallelism > 64
    {
        return Err(altered(format!(
            "implausible Argon2id costs ({} KiB, {} iterations, {} lanes)",
            params.memory_kib, params.iterations, params.parallelism
        )));
    }
    let salt = &bytes[23..39];
    let check = &bytes[39..71];
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[71..79]);
    let sealed_len = u64::from_be_bytes(len8);
    let have = (bytes.len() - HEADER_LEN) as u64;
    if have < sealed_len {
        return Err(truncated(format!(
            "it holds {have} of its {sealed_len} encrypted bytes"
        )));
    }
    if have > sealed_len {
        return Err(altered("bytes follow its encrypted part".into()));
    }
    let (expected, enc) = keys(passphrase, salt, &params)?;
    if !coffer_crypto::digest::constant_time_eq(&expected, check) {
        return Err(StateError::WrongPassphrase(file.clone()));
    }
    let inner = coffer_crypto::aead::open(&enc[..], &bytes[..HEADER_LEN], &bytes[HEADER_LEN..])
        .map_err(|_| altered("its encrypted part does not authenticate".into()))?;
    let parts = crate::backup::parse_parts(&inner).map_err(altered)?;
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    if names != ["manifest.json", "root-key", "records"] {
        return Err(altered(format!("unexpected parts {names:?}")));
    }
    let manifest: Manifest = serde_json::from_slice(parts[0].1)
        .map_err(|e| altered(format!("its manifest is not valid: {e}")))?;
    if manifest.format != "coffer-state" || manifest.format_version != version {
        return Err(altered(format!(
            "its manifest says format {:?} version {}, its header version {version}",
            manifest.format, manifest.format_version
        )));
    }
    let root = RootKey::from_bytes(parts[1].1)
        .map_err(|_| altered("its root keyring cannot be read".into()))?;
    let mut records = Vec::new();
    let mut tables: BTreeMap<String, u64> = BTreeMap::new();
    let mut r = Cursor(parts[2].1);
    let bad = || altered("its records are malformed".into());
    while !r.0.is_empty() {
        let t = r.take(2).ok_or_else(bad)?;
        let table = r
            .take(usize::from(u16::from_be_bytes([t[0], t[1]])))
            .ok_or_else(bad)?;
        let table = String::from_utf8(table.to_vec()).map_err(|_| bad())?;
        let key = r.take_len32().ok_or_else(bad)?;
        let key = String::from_utf8(key.to_vec()).map_err(|_| bad())?;
        let value = r.take_len32().ok_or_else(bad)?.to_vec();
        *tables.entry(table.clone()).or_default() += 1;
        records.push(StateRecord { table, key, value });
    }
    if tables != manifest.tables {
        return Err(altered(
            "its records are not what its manifest counts".into(),
        ));
    }
    Ok(Decoded {
        manifest,
        records,
        root,
    })
}

/// Exports the state of a running deployment.
pub fn export_from(coffer: &Coffer, passphrase: &Passphrase) -> Result<Vec<u8>, StateError> {
    let state = coffer.export_state().map_err(internal)?;
    encode(&state, passphrase)
}

/// Replaces the state of a running deployment with a state file's; on any error nothing
/// changed. Returns the file's manifest.
pub fn import_into(
    coffer: &Coffer,
    bytes: &[u8],
    name: &str,
    passphrase: &Passphrase,
) -> Result<Manifest, StateError> {
    let decoded = decode(bytes, name, passphrase)?;
    coffer
        .import_state(decoded.records, &decoded.root)
        .map_err(|e| match e {
            coffer_http::services::CoreError::Store(e) => StateError::Internal(e.to_string()),
            e => StateError::Unloadable {
                file: name.to_string(),
                what: e.to_string(),
            },
        })?;
    Ok(decoded.manifest)
}

fn offline_config(config: Option<&Path>, data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    let flags = Flags {
        data_dir,
        ..Flags::default()
    };
    let config = Config::load(config, &crate::env_vars(), &flags)?;
    if config.in_memory() {
        bail!(
            "data_dir = {:?} holds nothing offline: use POST /_coffer/state/export|import on \
             the running --dev server",
            crate::config::MEMORY_DATA_DIR
        );
    }
    Ok(config)
}

/// `coffer state`.
pub fn state_command(command: &StateCommand) -> anyhow::Result<()> {
    match command {
        StateCommand::Export(args) => {
            let passphrase = Passphrase::from_args(&args.passphrase)?;
            let config = offline_config(args.config.as_deref(), args.data_dir.clone())?;
            if coffer_seal::on_disk(&config.data_dir)?.is_empty() {
                bail!(
                    "no root key in {}: nothing to export",
                    config.data_dir.display()
                );
            }
            if args.out.exists() {
                bail!("{} exists; refusing to overwrite it", args.out.display());
            }
            let _lock = crate::lock_data_dir(&config.data_dir)?;
            let (coffer, _, _) = crate::open_store(&config)?;
            let bytes = export_from(&coffer, &passphrase)?;
            let mut f = crate::backup::create_private(&args.out)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            let state = decode(&bytes, &args.out.display().to_string(), &passphrase)?;
            println!(
                "state written: {} ({} bytes, format {}); records: {}",
                args.out.display(),
                bytes.len(),
                FORMAT_VERSION,
                crate::backup::counts_line(&state.manifest.counts)
            );
            Ok(())
        }
        StateCommand::Import(args) => {
            let passphrase = Passphrase::from_args(&args.passphrase)?;
            let config = offline_config(args.config.as_deref(), args.data_dir.clone())?;
            let name = args.file.display().to_string();
            let bytes = std::fs::read(&args.file).with_context(|| format!("reading {name}"))?;
            // Checked before the data directory is touched.
            decode(&bytes, &name, &passphrase)?;
            let _lock = crate::lock_data_dir(&config.data_dir)?;
            let (coffer, created, _) = crate::open_store(&config)?;
            let manifest = import_into(&coffer, &bytes, &name, &passphrase)?;
            // The root credentials are the imported ones now: the data directory's copy (kept
            // where there was one, written for a new directory) follows.
            let creds_path = config.data_dir.join("root-credentials");
            if let Some(c) = coffer.identity.root_credentials() {
                if created || creds_path.exists() {
                    crate::write_credentials(&creds_path, &c.access_key_id, &c.secret_access_key)?;
                }
            }
            println!(
                "state imported into {}: written {} by coffer {}; records: {}",
                config.data_dir.display(),
                manifest.created,
                manifest.coffer_version,
                crate::backup::counts_line(&manifest.counts)
            );
            Ok(())
        }
    }
}
