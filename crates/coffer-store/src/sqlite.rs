//! The embedded SQLite backend.
//!
//! One writer connection, used by the group-commit leader only: concurrent commits are applied
//! in one SQLite transaction, each inside its own SAVEPOINT (so a failed condition or write
//! aborts only its own transaction), and made durable by one fsync. Reads go through a small
//! pool of separate connections, which WAL lets read the last committed state while a commit is
//! being written and synced.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::group::{BatchResults, GroupCommit};
use crate::net::{net_writes, to_i64, to_u64};
use crate::watch::{Subscription, Watch};
use crate::{
    BackupInfo, Change, CommitInfo, LogBounds, Record, Store, StoreError, Transaction,
    DEFAULT_LOG_RETENTION, DEFAULT_LOG_RETENTION_BYTES,
};

/// Schema migrations, applied in order. Migration `i` takes the database from
/// `user_version == i` to `user_version == i + 1`, inside the same SQLite transaction as the
/// version bump. Never edit or reorder a released entry; only append.
const MIGRATIONS: &[&str] = &[
    // 1: the record table.
    "CREATE TABLE records (
         tbl   TEXT NOT NULL,
         key   TEXT NOT NULL,
         value BLOB NOT NULL,
         PRIMARY KEY (tbl, key)
     ) WITHOUT ROWID;",
    // 2: record versions and the change log. Records written before have version 1, the
    // sequence of a notional first commit that the (empty) log marks as compacted.
    "ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE changes (
         seq   INTEGER NOT NULL,
         tbl   TEXT NOT NULL,
         key   TEXT NOT NULL,
         value BLOB,
         PRIMARY KEY (seq, tbl, key)
     ) WITHOUT ROWID;
     CREATE TABLE log_state (
         id        INTEGER PRIMARY KEY CHECK (id = 1),
         head      INTEGER NOT NULL,
         compacted INTEGER NOT NULL
     );
     INSERT INTO log_state (id, head, compacted)
         SELECT 1, n, n FROM (SELECT EXISTS (SELECT 1 FROM records) AS n);
     UPDATE records SET version = 1;",
];

/// `PRAGMA application_id` stamped on every Coffer database ("COFR"), so that a file belonging to
/// some other program is refused instead of being modified.
const APPLICATION_ID: i64 = 0x434F_4652;

/// How long a statement waits for a lock held by another connection (e.g. a second process).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Tuning of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How many recent commits the change log keeps (at least 1); older entries are compacted
    /// away as commits land.
    pub log_retention: u64,
    /// How many bytes of keys and values the change log keeps at most: whichever of the two
    /// bounds is reached first compacts it (a log of large records stays small on disk).
    pub log_retention_bytes: u64,
    /// The most transactions one group commit applies together (1: every commit alone).
    pub max_batch: usize,
    /// How many idle read connections are kept open.
    pub idle_readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            log_retention: DEFAULT_LOG_RETENTION,
            log_retention_bytes: DEFAULT_LOG_RETENTION_BYTES,
            max_batch: 512,
            idle_readers: 8,
        }
    }
}

/// A [`Store`] kept in one SQLite database file (WAL journal, `synchronous=FULL`), with group
/// commit (see the module documentation).
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    group: GroupCommit,
    watch: Arc<Watch>,
    options: SqliteOptions,
    path: PathBuf,
    /// Bytes the change log holds (as [`LOG_ENTRY_BYTES`] counts them), kept by the writer.
    log_bytes: AtomicU64,
}

/// What one change-log entry costs, in SQL.
const LOG_ENTRY_BYTES: &str = "length(tbl) + length(key) + coalesce(length(value), 0)";

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn backend(context: &str, e: impl fmt::Display) -> StoreError {
    StoreError::Backend(format!("sqlite {context}: {e}"))
}

/// Opens a connection to `path` with the busy timeout and durability settings.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| backend("open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| backend("busy_timeout", e))?;
    Ok(conn)
}

/// Opens an existing Coffer database at `path` without creating, migrating or converting it.
fn connect_existing(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Backend(format!(
            "sqlite open: no database file at {}",
            path.display()
        )));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| backend("open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| backend("busy_timeout", e))?;
    Ok(conn)
}

fn snapshot_file(src: &Path, dest: &Path) -> Result<BackupInfo, StoreError> {
    let Some(dest_str) = dest.to_str() else {
        return Err(StoreError::Backend(format!(
            "sqlite snapshot: the path {} is not UTF-8",
            dest.display()
        )));
    };
    if std::fs::metadata(dest).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::Backend(format!(
            "sqlite snapshot: {} exists and is not empty",
            dest.display()
        )));
    }
    let conn = connect_existing(src)?;
    let version = check_identity(&conn)?;
    if version == 0 {
        return Err(StoreError::Schema(format!(
            "{} is an empty database, not a Coffer store",
            src.display()
        )));
    }
    create_private(dest)?;
    conn.execute("VACUUM INTO ?1", [dest_str])
        .map_err(|e| backend("snapshot", e))?;
    drop(conn);
    std::fs::File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(|e| backend("snapshot sync", e))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    inspect_sqlite(dest)
}

/// What the Coffer database at `path` holds (schema version, last commit, records per table),
/// read in one transaction without creating, migrating or changing the file. Fails with
/// [`StoreError::Schema`] for a file that is not a Coffer database or is newer than this build.
pub fn inspect_sqlite(path: &Path) -> Result<BackupInfo, StoreError> {
    let mut conn = connect_existing(path)?;
    let read = conn.transaction().map_err(|e| backend("begin read", e))?;
    let version = check_identity(&read)?;
    if version == 0 {
        return Err(StoreError::Schema(format!(
            "{} is not a Coffer database (no Coffer schema)",
            path.display()
        )));
    }
    let bounds = read_bounds(&read)?;
    let mut tables = std::collections::BTreeMap::new();
    {
        let mut stmt = read
            .prepare("SELECT tbl, count(*) FROM records GROUP BY tbl ORDER BY tbl")
            .map_err(|e| backend("count", e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(|e| backend("count", e))?;
        for row in rows {
            let (table, n) = row.map_err(|e| backend("count", e))?;
            tables.insert(table, to_u64(n, "count")?);
        }
    }
    Ok(BackupInfo {
        seq: bounds.head,
        schema_version: u32::try_from(version).unwrap_or(0),
        tables,
    })
}

/// Writes `records` into a new Coffer database at `dest` (mode 0600, must not exist or be
/// empty) with an empty change log compacted through `head` (the memory store's backup).
pub(crate) fn write_copy(
    dest: &Path,
    records: &[(&str, &str, &Record)],
    head: u64,
) -> Result<BackupInfo, StoreError> {
    if std::fs::metadata(dest).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::Backend(format!(
            "sqlite snapshot: {} exists and is not empty",
            dest.display()
        )));
    }
    {
        let copy = SqliteStore::open(dest)?;
        copy.write(|db_tx| {
            let mut put = db_tx
                .prepare("INSERT INTO records (tbl, key, value, version) VALUES (?1, ?2, ?3, ?4)")
                .map_err(|e| backend("copy", e))?;
            for (table, key, record) in records {
                put.execute((
                    table,
                    key,
                    &record.value,
                    to_i64(record.version, "version")?,
                ))
                .map_err(|e| backend("copy", e))?;
            }
            let head = to_i64(head, "sequence")?;
            db_tx
                .execute(
                    "UPDATE log_state SET head = ?1, compacted = ?1 WHERE id = 1",
                    [head],
                )
                .map_err(|e| backend("copy", e))?;
            Ok(())
        })?;
        // Dropping the store closes its connections: the last one checkpoints the WAL into the
        // file and removes it.
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    inspect_sqlite(dest)
}

impl SqliteStore {
    /// Opens (creating it if absent, with mode 0600 on unix) the database at `path` and brings its
    /// schema up to date, with the default [`SqliteOptions`].
    ///
    /// Fails with [`StoreError::Schema`] if the file was written by a newer Coffer or is not a
    /// Coffer database, and with [`StoreError::Backend`] on I/O or SQLite errors.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with explicit options.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let mut conn = connect(path)?;

        // Refuse unknown files before changing anything in them (the journal mode lives in the
        // file header).
        check_identity(&conn)?;

        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| backend("journal_mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "sqlite journal_mode: could not enable WAL (got {mode:?})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| backend("synchronous", e))?;
        // F_FULLFSYNC on macOS so that "durable" survives power loss there too; no-op elsewhere.
        conn.pragma_update(None, "fullfsync", true)
            .map_err(|e| backend("fullfsync", e))?;
        conn.pragma_update(None, "checkpoint_fullfsync", true)
            .map_err(|e| backend("checkpoint_fullfsync", e))?;

        migrate(&mut conn)?;
        restrict_permissions(path)?;

        let head = read_bounds(&conn)?.head;
        let log_bytes: i64 = conn
            .query_row(
                &format!("SELECT coalesce(sum({LOG_ENTRY_BYTES}), 0) FROM changes"),
                [],
                |row| row.get(0),
            )
            .map_err(|e| backend("log size", e))?;
        Ok(SqliteStore {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            group: GroupCommit::new(options.max_batch),
            watch: Watch::new(head),
            options: SqliteOptions {
                log_retention: options.log_retention.max(1),
                ..options
            },
            path: path.to_path_buf(),
            log_bytes: AtomicU64::new(to_u64(log_bytes, "log size")?),
        })
    }

    /// The path this store was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of the whole database (records and change log, as of one
    /// commit) to the new file `dest` (created with mode 0600; it must not exist or be empty)
    /// while commits go on, and syncs it to disk. Returns the sequence of the last commit in the
    /// copy. The copy opens with [`SqliteStore::open`].
    ///
    /// Uses `VACUUM INTO`, which reads in one transaction (WAL: writers are not blocked).
    pub fn snapshot_to(&self, dest: &Path) -> Result<u64, StoreError> {
        snapshot_file(&self.path, dest).map(|info| info.seq)
    }

    /// [`SqliteStore::snapshot_to`] of the Coffer database at `src`, which another process
    /// (a running server) may be writing: the file is neither created nor migrated, only read.
    /// Reports what the copy holds.
    pub fn snapshot_file(src: &Path, dest: &Path) -> Result<BackupInfo, StoreError> {
        snapshot_file(src, dest)
    }

    /// Runs `f` on an idle read connection (opening one if none is idle).
    fn read<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.readers.lock().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = connect(&self.path)?;
                conn.pragma_update(None, "query_only", true)
                    .map_err(|e| backend("query_only", e))?;
                conn
            }
        };
        let result = f(&mut conn);
        if conn.is_autocommit() {
            let mut readers = self.readers.lock();
            if readers.len() < self.options.idle_readers {
                readers.push(conn);
            }
        }
        result
    }

    /// Applies a batch of transactions in one SQLite transaction (the group-commit leader).
    fn apply_batch(&self, txs: &[Transaction]) -> BatchResults {
        let mut conn = self.writer.lock();
        let mut results: BatchResults = Vec::with_capacity(txs.len());
        let outcome = (|| -> Result<u64, StoreError> {
            let mut db_tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| backend("begin", e))?;
            let bounds = read_bounds(&db_tx)?;
            let mut head = bounds.head;
            let mut logged = 0u64;
            for tx in txs {
                let result = (|| {
                    let savepoint = db_tx.savepoint().map_err(|e| backend("savepoint", e))?;
                    match apply_one(&savepoint, tx, head + 1)? {
                        Some(bytes) => {
                            savepoint.commit().map_err(|e| backend("release", e))?;
                            head += 1;
                            logged += bytes;
                        }
                        None => drop(savepoint), // nothing changed: rolled back, no sequence
                    }
                    Ok(CommitInfo { seq: head })
                })();
                results.push(result);
            }
            let mut log_bytes = self.log_bytes.load(Ordering::Relaxed) + logged;
            if head != bounds.head {
                let by_count = compaction_point(head, bounds.compacted, self.options.log_retention);
                let budget = self.options.log_retention_bytes;
                // Over the byte budget: compact to three quarters of it, so that not every
                // commit pays for a delete.
                let over = log_bytes > budget;
                let mut compacted = bounds.compacted;
                if by_count > bounds.compacted || over {
                    let keep = if over { budget / 4 * 3 } else { u64::MAX };
                    let (through, freed) =
                        log_prefix(&db_tx, bounds.compacted, head, |seq, freed| {
                            seq <= by_count || log_bytes.saturating_sub(freed) > keep
                        })?;
                    if through > bounds.compacted {
                        db_tx
                            .execute(
                                "DELETE FROM changes WHERE seq <= ?1",
                                [to_i64(through, "sequence")?],
                            )
                            .map_err(|e| backend("compact", e))?;
                        compacted = through;
                        log_bytes = log_bytes.saturating_sub(freed);
                    }
                }
                db_tx
                    .execute(
                        "UPDATE log_state SET head = ?1, compacted = ?2 WHERE id = 1",
                        (to_i64(head, "sequence")?, to_i64(compacted, "sequence")?),
                    )
                    .map_err(|e| backend("log head", e))?;
                db_tx.commit().map_err(|e| backend("commit", e))?;
                self.log_bytes.store(log_bytes, Ordering::Relaxed);
            }
            Ok(head)
        })();
        drop(conn);
        match outcome {
            Ok(head) => {
                self.watch.advance(head);
                results
            }
            Err(e) => txs.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// Runs `f` in an immediate transaction on the writer connection and commits.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.writer.lock();
        let db_tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend("begin", e))?;
        let value = f(&db_tx)?;
        db_tx.commit().map_err(|e| backend("commit", e))?;
        Ok(value)
    }
}

/// Where to compact the log to after a commit reached `head`: keep `retention` commits, and
/// compact in steps so that not every commit pays for a delete.
pub(crate) fn compaction_point(head: u64, compacted: u64, retention: u64) -> u64 {
    let step = (retention / 8).clamp(1, 1024);
    let target = head.saturating_sub(retention);
    if target >= compacted.saturating_add(step) {
        target
    } else {
        compacted
    }
}

/// The change-log prefix after `compacted` to drop: the last sequence through which
/// `more(seq, bytes freed before it)` held, walking whole commits oldest first, and the bytes
/// those entries hold.
fn log_prefix(
    conn: &Connection,
    compacted: u64,
    head: u64,
    mut more: impl FnMut(u64, u64) -> bool,
) -> Result<(u64, u64), StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT seq, sum({LOG_ENTRY_BYTES}) FROM changes WHERE seq > ?1 AND seq <= ?2 \
             GROUP BY seq ORDER BY seq"
        ))
        .map_err(|e| backend("log prefix", e))?;
    let mut rows = stmt
        .query([to_i64(compacted, "sequence")?, to_i64(head, "sequence")?])
        .map_err(|e| backend("log prefix", e))?;
    let (mut through, mut freed) = (compacted, 0u64);
    while let Some(row) = rows.next().map_err(|e| backend("log prefix", e))? {
        let seq = to_u64(
            row.get(0).map_err(|e| backend("log prefix", e))?,
            "sequence",
        )?;
        let bytes = to_u64(
            row.get(1).map_err(|e| backend("log prefix", e))?,
            "log size",
        )?;
        if !more(seq, freed) {
            break;
        }
        through = seq;
        freed += bytes;
    }
    Ok((through, freed))
}

/// Checks the conditions of `tx` and applies its writes, logged under `seq`. Returns the bytes
/// it logged, or `None` when nothing changed (the caller then rolls back and no sequence is used).
fn apply_one(conn: &Connection, tx: &Transaction, seq: u64) -> Result<Option<u64>, StoreError> {
    let seq = to_i64(seq, "sequence")?;
    {
        let mut version = conn
            .prepare_cached("SELECT version FROM records WHERE tbl = ?1 AND key = ?2")
            .map_err(|e| backend("condition", e))?;
        for condition in &tx.conditions {
            let (table, key) = condition.target();
            let current: Option<i64> = version
                .query_row([table, key], |row| row.get(0))
                .optional()
                .map_err(|e| backend("condition", e))?;
            let current = current.map(|v| to_u64(v, "version")).transpose()?;
            if !condition.holds(current) {
                return Err(condition.conflict());
            }
        }
    }
    let mut put = conn
        .prepare_cached(
            "INSERT INTO records (tbl, key, value, version) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value, version = excluded.version",
        )
        .map_err(|e| backend("put", e))?;
    let mut delete = conn
        .prepare_cached("DELETE FROM records WHERE tbl = ?1 AND key = ?2")
        .map_err(|e| backend("delete", e))?;
    let mut log = conn
        .prepare_cached("INSERT INTO changes (seq, tbl, key, value) VALUES (?1, ?2, ?3, ?4)")
        .map_err(|e| backend("log", e))?;
    let mut logged: Option<u64> = None;
    for write in net_writes(tx) {
        match write.value {
            Some(value) => {
                put.execute((write.table, write.key, value, seq))
                    .map_err(|e| backend("put", e))?;
            }
            None => {
                let removed = delete
                    .execute((write.table, write.key))
                    .map_err(|e| backend("delete", e))?;
                if removed == 0 {
                    continue;
                }
            }
        }
        log.execute((seq, write.table, write.key, write.value))
            .map_err(|e| backend("log", e))?;
        let bytes = write.table.len() + write.key.len() + write.value.map_or(0, <[u8]>::len);
        *logged.get_or_insert(0) += bytes as u64;
    }
    Ok(logged)
}

fn read_bounds(conn: &Connection) -> Result<LogBounds, StoreError> {
    let (head, compacted): (i64, i64) = conn
        .query_row(
            "SELECT head, compacted FROM log_state WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(|e| backend("read log state", e))?;
    Ok(LogBounds {
        compacted: to_u64(compacted, "sequence")?,
        head: to_u64(head, "sequence")?,
    })
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| backend(&format!("sync {}", dir.display()), e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| backend("read user_version", e))
}

/// Refuses a database that is newer than this build or that does not belong to Coffer.
fn check_identity(conn: &Connection) -> Result<i64, StoreError> {
    let version = user_version(conn)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Schema(format!(
            "database schema version {version} is newer than this build supports ({known}); \
             upgrade Coffer"
        )));
    }
    if version < 0 {
        return Err(StoreError::Schema(format!(
            "invalid database schema version {version}"
        )));
    }
    let app_id: i64 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(|e| backend("read application_id", e))?;
    if version == 0 {
        let foreign: Option<String> = conn
            .query_row("SELECT name FROM sqlite_schema LIMIT 1", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| backend("read sqlite_schema", e))?;
        if app_id != 0 || foreign.is_some() {
            return Err(StoreError::Schema(
                "not a Coffer database (it has content but no Coffer schema)".to_string(),
            ));
        }
    } else if app_id != APPLICATION_ID {
        return Err(StoreError::Schema(format!(
            "not a Coffer database (application_id {app_id:#x})"
        )));
    }
    Ok(version)
}

/// Applies the pending migrations in one immediate transaction. The version is re-read inside the
/// transaction so that two processes opening the same new file cannot both migrate it.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| backend("begin migration", e))?;
    let from = check_identity(&tx)?;
    let from = usize::try_from(from)
        .map_err(|_| StoreError::Schema(format!("invalid database schema version {from}")))?;
    if from == MIGRATIONS.len() {
        return Ok(()); // dropping `tx` ends the read-only transaction
    }
    if from == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|e| backend("set application_id", e))?;
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(sql)
            .map_err(|e| backend(&format!("migration {}", index + 1), e))?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)
            .map_err(|e| backend("set user_version", e))?;
    }
    tx.commit().map_err(|e| backend("commit migration", e))
}

/// Creates `path` with mode 0600 if it does not exist yet, so the database is never readable by
/// others, not even briefly. SQLite then gives the -wal/-shm files the same mode.
#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| backend(&format!("create {}", path.display()), e))
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Sets the database file and any -wal/-shm files to mode 0600 when they are more permissive.
#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    for file in files {
        let meta = match std::fs::metadata(&file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(backend(&format!("stat {}", file.display()), e)),
        };
        if meta.permissions().mode() & 0o777 != 0o600 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| backend(&format!("chmod {}", file.display()), e))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

impl Store for SqliteStore {
    fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .scan_versioned(table)?
            .into_iter()
            .map(|(key, record)| (key, record.value))
            .collect())
    }

    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_versioned(table, key)?.map(|r| r.value))
    }

    fn commit(&self, tx: &Transaction) -> Result<(), StoreError> {
        self.commit_info(tx).map(drop)
    }

    fn clear(&self) -> Result<(), StoreError> {
        let head = self.write(|db_tx| {
            db_tx
                .execute_batch(
                    "DELETE FROM records; DELETE FROM changes; \
                     UPDATE log_state SET head = head + 1, compacted = head + 1 WHERE id = 1;",
                )
                .map_err(|e| backend("clear", e))?;
            Ok(read_bounds(db_tx)?.head)
        })?;
        self.log_bytes.store(0, Ordering::Relaxed);
        self.watch.advance(head);
        Ok(())
    }

    fn get_versioned(&self, table: &str, key: &str) -> Result<Option<Record>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT value, version FROM records WHERE tbl = ?1 AND key = ?2")
                .map_err(|e| backend("get", e))?;
            let row: Option<(Vec<u8>, i64)> = stmt
                .query_row([table, key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .map_err(|e| backend("get", e))?;
            row.map(|(value, version)| {
                Ok(Record {
                    value,
                    version: to_u64(version, "version")?,
                })
            })
            .transpose()
        })
    }

    fn table_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT tbl, count(*) FROM records GROUP BY tbl")
                .map_err(|e| backend("count", e))?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(|e| backend("count", e))?;
            let mut out = std::collections::BTreeMap::new();
            for row in rows {
                let (t, n) = row.map_err(|e| backend("count", e))?;
                out.insert(t, to_u64(n, "count")?);
            }
            Ok(out)
        })
    }

    fn scan_versioned(&self, table: &str) -> Result<Vec<(String, Record)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, value, version FROM records WHERE tbl = ?1 ORDER BY key",
                )
                .map_err(|e| backend("scan", e))?;
            let rows = stmt
                .query_map([table], |row| {
                    Ok((row.get::<_, String>(0)?, row.get(1)?, row.get::<_, i64>(2)?))
                })
                .map_err(|e| backend("scan", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (key, value, version) = row.map_err(|e| backend("scan", e))?;
                out.push((
                    key,
                    Record {
                        value,
                        version: to_u64(version, "version")?,
                    },
                ));
            }
            Ok(out)
        })
    }

    fn commit_info(&self, tx: &Transaction) -> Result<CommitInfo, StoreError> {
        if tx.writes.is_empty() && tx.conditions.is_empty() {
            return Ok(CommitInfo {
                seq: self.log_bounds()?.head,
            });
        }
        self.group.commit(tx, &|batch| self.apply_batch(batch))
    }

    fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let after_i = to_i64(after, "sequence")?;
        let limit_i = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            // One read transaction: the compaction point and the entries agree.
            let read = conn.transaction().map_err(|e| backend("begin read", e))?;
            let bounds = read_bounds(&read)?;
            if after < bounds.compacted {
                return Err(StoreError::LogTruncated {
                    after,
                    compacted: bounds.compacted,
                });
            }
            if limit == 0 {
                return Ok(Vec::new());
            }
            // The sequence of the limit-th entry: every entry up to that commit is returned.
            let last: Option<i64> = read
                .prepare_cached(
                    "SELECT seq FROM changes WHERE seq > ?1 ORDER BY seq, tbl, key LIMIT 1 OFFSET ?2",
                )
                .and_then(|mut stmt| {
                    stmt.query_row((after_i, limit_i - 1), |row| row.get(0))
                        .optional()
                })
                .map_err(|e| backend("changes", e))?;
            let mut stmt = read
                .prepare_cached(
                    "SELECT seq, tbl, key, value FROM changes WHERE seq > ?1 AND seq <= ?2 \
                     ORDER BY seq, tbl, key",
                )
                .map_err(|e| backend("changes", e))?;
            let rows = stmt
                .query_map((after_i, last.unwrap_or(i64::MAX)), |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<Vec<u8>>>(3)?,
                    ))
                })
                .map_err(|e| backend("changes", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, table, key, value) = row.map_err(|e| backend("changes", e))?;
                let seq = to_u64(seq, "sequence")?;
                out.push(Change {
                    seq,
                    table,
                    key,
                    record: value.map(|value| Record {
                        value,
                        version: seq,
                    }),
                });
            }
            Ok(out)
        })
    }

    fn log_bounds(&self) -> Result<LogBounds, StoreError> {
        self.read(|conn| read_bounds(conn))
    }

    fn compact_log(&self, through: u64) -> Result<(), StoreError> {
        self.write(|db_tx| {
            let bounds = read_bounds(db_tx)?;
            let through = through.min(bounds.head);
            if through <= bounds.compacted {
                return Ok(());
            }
            let (_, freed) = log_prefix(db_tx, bounds.compacted, through, |_, _| true)?;
            let through = to_i64(through, "sequence")?;
            db_tx
                .execute("DELETE FROM changes WHERE seq <= ?1", [through])
                .map_err(|e| backend("compact", e))?;
            let left = self.log_bytes.load(Ordering::Relaxed).saturating_sub(freed);
            self.log_bytes.store(left, Ordering::Relaxed);
            db_tx
                .execute(
                    "UPDATE log_state SET compacted = ?1 WHERE id = 1",
                    [through],
                )
                .map_err(|e| backend("compact", e))?;
            Ok(())
        })
    }

    fn subscribe(&self) -> Result<Subscription, StoreError> {
        Ok(Subscription::new(self.watch.clone()))
    }

    fn backup(&self, dest: &Path) -> Result<BackupInfo, StoreError> {
        snapshot_file(&self.path, dest)
    }
}
