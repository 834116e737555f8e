//! The embedded SQLite backend.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::{Store, StoreError, Transaction, Write};

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
];

/// `PRAGMA application_id` stamped on every Coffer database ("COFR"), so that a file belonging to
/// some other program is refused instead of being modified.
const APPLICATION_ID: i64 = 0x434F_4652;

/// How long a statement waits for a lock held by another connection (e.g. a second process).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] kept in one SQLite database file (WAL journal, `synchronous=FULL`).
///
/// A single connection is shared behind a mutex; calls are serialised.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

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

impl SqliteStore {
    /// Opens (creating it if absent, with mode 0600 on unix) the database at `path` and brings its
    /// schema up to date.
    ///
    /// Fails with [`StoreError::Schema`] if the file was written by a newer Coffer or is not a
    /// Coffer database, and with [`StoreError::Backend`] on I/O or SQLite errors.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| backend("open", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| backend("busy_timeout", e))?;

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

        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// The path this store was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }
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
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached("SELECT key, value FROM records WHERE tbl = ?1 ORDER BY key")
            .map_err(|e| backend("scan", e))?;
        let rows = stmt
            .query_map([table], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|e| backend("scan", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| backend("scan", e))
    }

    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached("SELECT value FROM records WHERE tbl = ?1 AND key = ?2")
            .map_err(|e| backend("get", e))?;
        stmt.query_row([table, key], |row| row.get(0))
            .optional()
            .map_err(|e| backend("get", e))
    }

    fn commit(&self, tx: &Transaction) -> Result<(), StoreError> {
        if tx.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock();
        // Dropping `db_tx` without committing (any early return below) rolls back.
        let db_tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend("begin", e))?;
        {
            let mut put = db_tx
                .prepare_cached(
                    "INSERT INTO records (tbl, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
                )
                .map_err(|e| backend("put", e))?;
            let mut delete = db_tx
                .prepare_cached("DELETE FROM records WHERE tbl = ?1 AND key = ?2")
                .map_err(|e| backend("delete", e))?;
            for write in &tx.writes {
                match write {
                    Write::Put { table, key, value } => {
                        put.execute((table, key, value))
                            .map_err(|e| backend("put", e))?;
                    }
                    Write::Delete { table, key } => {
                        delete
                            .execute((table, key))
                            .map_err(|e| backend("delete", e))?;
                    }
                }
            }
        }
        db_tx.commit().map_err(|e| backend("commit", e))
    }

    fn clear(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let db_tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend("begin", e))?;
        db_tx
            .execute("DELETE FROM records", [])
            .map_err(|e| backend("clear", e))?;
        db_tx.commit().map_err(|e| backend("commit", e))
    }
}
