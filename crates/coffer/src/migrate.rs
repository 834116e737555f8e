//! `coffer store migrate --from A --to B`: copies a deployment's records between stores (a
//! SQLite data directory and a PostgreSQL database, either way), still encrypted as stored,
//! into an empty target, and checks the copy (counts per table and a SHA-256 over every record).
//! The root key is not in any store: it stays in the data directory, under its seal.

use crate::config::{Config, Flags, StoreKind};
use anyhow::{bail, Context};
use clap::Args;
use coffer_store::{SqliteStore, Store, Transaction};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Records per transaction of the copy.
const BATCH: usize = 500;

/// `coffer store migrate`.
#[derive(Args)]
pub struct MigrateArgs {
    /// The store to copy: a data directory (its coffer.db) or a postgres:// URL. No server may
    /// be serving it.
    #[arg(long, value_name = "DIR|URL")]
    pub from: String,
    /// The empty store to copy into: a data directory or a postgres:// URL.
    #[arg(long, value_name = "DIR|URL")]
    pub to: String,
    /// The configuration file, for `[store]`'s PostgreSQL settings (password_file, ssl_mode,
    /// ca_file, schema, timeouts) applied to the URL side.
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// One side of the copy, held exclusively while the copy runs.
struct Side {
    store: Box<dyn Store>,
    name: String,
    _lock: Option<std::fs::File>,
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

fn open_side(spec: &str, config: &Config, source: bool) -> anyhow::Result<Side> {
    if is_url(spec) {
        let mut store = config.store.clone();
        store.kind = StoreKind::Postgres;
        store.url = Some(spec.to_string());
        let pg = coffer_store::PostgresStore::open(store.postgres_options()?)
            .context("opening the PostgreSQL store")?;
        if !pg.claim_exclusive()? {
            bail!(
                "a Coffer node serves the PostgreSQL schema {}: stop it first",
                store.schema
            );
        }
        return Ok(Side {
            store: Box::new(pg),
            name: format!("PostgreSQL schema {}", store.schema),
            _lock: None,
        });
    }
    let dir = Path::new(spec);
    let db = dir.join("coffer.db");
    if source && !db.is_file() {
        bail!(
            "no database at {}: --from names a data directory or a postgres:// URL",
            db.display()
        );
    }
    let lock = crate::lock_data_dir(dir)?;
    let sqlite = SqliteStore::open(&db).with_context(|| format!("opening {}", db.display()))?;
    Ok(Side {
        store: Box::new(sqlite),
        name: db.display().to_string(),
        _lock: Some(lock),
    })
}

/// Counts and a SHA-256 over every (table, key, value) in table and key order.
fn fingerprint(store: &dyn Store) -> anyhow::Result<(BTreeMap<String, u64>, String)> {
    let counts = store.table_counts()?;
    let mut all = Vec::new();
    for table in counts.keys() {
        for (key, value) in store.scan(table)? {
            for part in [table.as_bytes(), key.as_bytes(), &value] {
                all.extend_from_slice(&(part.len() as u64).to_be_bytes());
                all.extend_from_slice(part);
            }
        }
    }
    Ok((counts, coffer_crypto::digest::sha256_hex(&all)))
}

/// `coffer store migrate`.
pub fn migrate_command(args: &MigrateArgs, env: &[(String, String)]) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref(), env, &Flags::default())?;
    if args.from == args.to {
        bail!("--from and --to name the same store");
    }
    let from = open_side(&args.from, &config, true)?;
    let to = open_side(&args.to, &config, false)?;
    let present: u64 = to.store.table_counts()?.values().sum();
    if present > 0 {
        bail!(
            "{} is not empty ({present} records): migrate into an empty store; nothing was copied",
            to.name
        );
    }
    let (counts, sha) = fingerprint(from.store.as_ref())?;
    for table in counts.keys() {
        let rows = from.store.scan(table)?;
        for chunk in rows.chunks(BATCH) {
            let mut tx = Transaction::new();
            for (key, value) in chunk {
                tx.require_absent(table, key).put(table, key, value.clone());
            }
            to.store
                .commit(&tx)
                .with_context(|| format!("writing {table} into {}", to.name))?;
        }
    }
    let (copied, copied_sha) = fingerprint(to.store.as_ref())?;
    if copied != counts || copied_sha != sha {
        bail!(
            "the copy in {} does not match {} (counts or checksum differ): do not use it",
            to.name,
            from.name
        );
    }
    let total: u64 = counts.values().sum();
    println!(
        "copied {total} records in {} tables from {} to {} (checked: counts and sha256 {sha})",
        counts.len(),
        from.name,
        to.name
    );
    println!(
        "The root key is not in any store: serve the copy with the data directory (and seal) \
         the records were written under."
    );
    Ok(())
}
