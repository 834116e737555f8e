//! The PostgreSQL backend, for several Coffer nodes sharing one database.
//!
//! The [`Store`] trait is synchronous (it is called from blocking threads); this backend runs
//! tokio-postgres with a deadpool pool on a small runtime of its own and waits for each call's
//! result with a deadline, so it can be called from any thread, inside an async runtime or not.
//!
//! Writes are serialised by the row lock on the single-row `log` table, taken first in every
//! writing transaction (`SELECT ... FOR UPDATE`): the holder reads the head sequence, assigns the
//! next ones, and commits; the next writer (on this node or another) gets the lock only after
//! that commit, so commit order is sequence order and a reader never sees a sequence before the
//! ones below it. Concurrent commits on one node are grouped (see `group.rs`) into one database
//! transaction: conditions are evaluated in memory against the rows read under the lock, in the
//! batch's order, and the writes of the batch go in a few array statements. Commits notify the
//! channel `coffer_<schema>` with the new head; every node LISTENs on it.

mod tls;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::Zeroizing;

pub use tls::SslMode;

use crate::group::{BatchResults, GroupCommit};
use crate::net::{net_writes, to_i64, to_u64};
use crate::watch::{Subscription, Watch};
use crate::{
    Change, CommitInfo, LogBounds, Record, Store, StoreError, Transaction, DEFAULT_LOG_RETENTION,
};

/// Schema migrations, applied in order under an advisory lock: migration `i` takes the schema
/// from version `i` to `i + 1` in the same transaction as the version bump. `{s}` is the
/// (validated, quoted) schema name. Never edit or reorder a released entry; only append.
const MIGRATIONS: &[&str] = &[
    // 1: records, the change log and its head.
    r#"CREATE TABLE {s}.records (
           tbl     text COLLATE "C" NOT NULL,
           key     text COLLATE "C" NOT NULL,
           value   bytea NOT NULL,
           version bigint NOT NULL,
           PRIMARY KEY (tbl, key)
       );
       CREATE TABLE {s}.changes (
           seq   bigint NOT NULL,
           tbl   text COLLATE "C" NOT NULL,
           key   text COLLATE "C" NOT NULL,
           value bytea,
           PRIMARY KEY (seq, tbl, key)
       );
       CREATE TABLE {s}.log (
           id        int PRIMARY KEY CHECK (id = 1),
           head      bigint NOT NULL,
           compacted bigint NOT NULL
       );
       INSERT INTO {s}.log (id, head, compacted) VALUES (1, 0, 0);"#,
];

/// How often the listener checks that its connection is alive when no notification came.
const LISTEN_KEEPALIVE: Duration = Duration::from_secs(10);

/// Where and how to connect, and the tuning of a [`PostgresStore`].
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://user[:password]@host[:port]/dbname[?sslmode=...&sslrootcert=FILE&...]`.
    pub url: String,
    /// The password, if not in the URL (it overrides the URL's).
    pub password: Option<Zeroizing<String>>,
    /// TLS mode; overrides the URL's `sslmode` (default: `prefer`, as libpq).
    pub ssl_mode: Option<SslMode>,
    /// PEM CA certificates to trust; overrides the URL's `sslrootcert`.
    pub ca_file: Option<PathBuf>,
    /// The PostgreSQL schema holding Coffer's tables (created if absent): lower-case letters,
    /// digits and `_`, starting with a letter or `_`, at most 48 bytes. Default `coffer`.
    pub schema: String,
    /// The most pooled connections (the listener has one more of its own).
    pub pool_size: usize,
    /// Bound on establishing a connection (TCP, TLS, authentication) and on waiting for a
    /// pooled one.
    pub connect_timeout: Duration,
    /// Bound on each call once connected (also set as the server's `statement_timeout` and
    /// `lock_timeout`).
    pub statement_timeout: Duration,
    /// How many recent commits the change log keeps.
    pub log_retention: u64,
    /// The most transactions one group commit applies together (1: every commit alone).
    pub max_batch: usize,
}

impl PostgresOptions {
    /// The defaults, for `url`.
    pub fn new(url: &str) -> Self {
        PostgresOptions {
            url: url.to_string(),
            password: None,
            ssl_mode: None,
            ca_file: None,
            schema: "coffer".to_string(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            log_retention: DEFAULT_LOG_RETENTION,
            max_batch: 256,
        }
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &"<redacted>")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ssl_mode", &self.ssl_mode)
            .field("ca_file", &self.ca_file)
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("log_retention", &self.log_retention)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

/// What the runtime's tasks share.
struct Inner {
    pool: Pool,
    /// Qualified table names.
    records: String,
    changes: String,
    log: String,
    channel: String,
    connect_timeout: Duration,
    statement_timeout: Duration,
    retention: u64,
    watch: Arc<Watch>,
}

/// A [`Store`] in a PostgreSQL database (see the module documentation).
pub struct PostgresStore {
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
    group: GroupCommit,
    schema: String,
    /// The connection holding [`PostgresStore::claim_exclusive`]'s lock.
    exclusive: parking_lot::Mutex<Option<deadpool_postgres::ClientWrapper>>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Never blocks, so the store may be dropped inside an async runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A driver error as text: the server's message and SQLSTATE for server errors, otherwise the
/// error and its causes (none of which holds a password).
fn pg_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !more.is_empty() && !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Maps a driver error: the server refusing a statement is a backend failure; a lost
/// connection, a cancelled statement (statement or lock timeout) or an unreachable server is
/// [`StoreError::Unavailable`].
fn pg_error(context: &str, e: tokio_postgres::Error) -> StoreError {
    let text = format!("postgres {context}: {}", pg_text(&e));
    match e.as_db_error().map(|db| db.code().code()) {
        Some("57014" | "55P03" | "57P01" | "57P02" | "57P03" | "53300") | None => {
            StoreError::Unavailable(text)
        }
        Some(_) => StoreError::Backend(text),
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error("connect", e),
        other => StoreError::Unavailable(format!("postgres connection pool: {other}")),
    }
}

/// A stable advisory-lock key for `schema` (FNV-1a of a fixed prefix and the name).
fn lock_key(schema: &str) -> i64 {
    lock_key_for("coffer-store:", schema)
}

fn lock_key_for(prefix: &str, schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in prefix.bytes().chain(schema.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 48
}

impl PostgresStore {
    /// Connects, applies pending schema migrations (under an advisory lock, so several nodes
    /// may start at once), starts listening for other nodes' commits, and returns the store.
    ///
    /// Fails within about `connect_timeout + statement_timeout` if the database cannot be
    /// reached: [`StoreError::Unavailable`]; [`StoreError::Schema`] if the schema was written by
    /// a newer Coffer or holds something else.
    pub fn open(options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        if !valid_schema(&options.schema) {
            return Err(StoreError::Backend(format!(
                "postgres: invalid schema name {:?} (lower-case letters, digits, _)",
                options.schema
            )));
        }
        let parsed = tls::parse_url(&options.url)?;
        let mode = options.ssl_mode.or(parsed.ssl_mode).unwrap_or_default();
        let ca_file = options.ca_file.clone().or(parsed.ca_file);
        let (connector, driver_mode) = tls::connector(mode, ca_file.as_deref())?;
        let mut config = parsed.config;
        if let Some(password) = &options.password {
            config.password(password.as_bytes());
        }
        let statement_ms = options.statement_timeout.as_millis().max(1);
        let server_options = format!(
            "{} -c statement_timeout={statement_ms} -c lock_timeout={statement_ms} \
             -c idle_in_transaction_session_timeout={}",
            config.get_options().unwrap_or_default(),
            statement_ms.saturating_mul(3)
        );
        config
            .ssl_mode(driver_mode)
            .options(server_options.trim_start())
            .connect_timeout(options.connect_timeout)
            .tcp_user_timeout(options.statement_timeout + options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("coffer");
        }

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("coffer-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            connector.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres pool: {e}")))?;
        let s = format!("\"{}\"", options.schema);
        let inner = Arc::new(Inner {
            pool,
            records: format!("{s}.records"),
            changes: format!("{s}.changes"),
            log: format!("{s}.log"),
            channel: format!("coffer_{}", options.schema),
            connect_timeout: options.connect_timeout,
            statement_timeout: options.statement_timeout,
            retention: options.log_retention.max(1),
            watch: Watch::new(0),
        });
        let store = PostgresStore {
            inner,
            runtime: Some(runtime),
            group: GroupCommit::new(options.max_batch),
            schema: options.schema.clone(),
            exclusive: parking_lot::Mutex::new(None),
        };
        let schema = options.schema.clone();
        store.call(move |client, _| Box::pin(migrate(client, schema)))?;
        let head = store.log_bounds()?.head;
        store.inner.watch.advance(head);
        if let Some(runtime) = &store.runtime {
            runtime.spawn(listen(
                Arc::downgrade(&store.inner),
                config,
                connector,
                store.inner.channel.clone(),
            ));
        }
        Ok(store)
    }

    /// Claims the schema for this process alone: a session advisory lock on a connection of its
    /// own, taken out of the pool and held until the store is dropped (or that connection is
    /// lost). `Ok(false)`: another process holds it. For deployments that must have one writer.
    pub fn claim_exclusive(&self) -> Result<bool, StoreError> {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Unavailable(
                "postgres store is shut down".to_string(),
            ));
        };
        let inner = self.inner.clone();
        let key = lock_key_for("coffer-node:", &self.schema);
        let limit = inner.connect_timeout + inner.statement_timeout;
        let claimed = runtime.block_on(async move {
            tokio::time::timeout(limit, async {
                let client = inner.pool.get().await.map_err(pool_error)?;
                let row = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                    .await
                    .map_err(|e| pg_error("claim", e))?;
                let got: bool = row.get(0);
                Ok::<_, StoreError>((got, Object::take(client)))
            })
            .await
            .map_err(|_| StoreError::Unavailable(format!("postgres: no answer within {limit:?}")))?
        })?;
        let (got, client) = claimed;
        if got {
            *self.exclusive.lock() = Some(client);
        }
        Ok(got)
    }

    /// Gives up what [`PostgresStore::claim_exclusive`] took (closing its connection), so that
    /// the next process may claim the schema: nodes of one deployment claim it only while they
    /// start, one after another.
    pub fn release_exclusive(&self) {
        drop(self.exclusive.lock().take());
    }

    /// The schema this store uses.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Checks that the database answers (for readiness probes), within the timeouts.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.call(|client, _| {
            Box::pin(async move {
                client
                    .simple_query("SELECT 1")
                    .await
                    .map(drop)
                    .map_err(|e| pg_error("ping", e))
            })
        })
    }

    /// Runs `f` with a pooled connection on the runtime and waits for its result, never longer
    /// than the connect and statement timeouts. A connection whose call timed out is discarded.
    fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Object, &'c Inner) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Unavailable(
                "postgres store is shut down".to_string(),
            ));
        };
        let inner = self.inner.clone();
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        let task = runtime.spawn(async move {
            let result = async {
                let mut client = inner.pool.get().await.map_err(pool_error)?;
                match tokio::time::timeout(inner.statement_timeout, f(&mut client, &inner)).await {
                    Ok(result) => result,
                    Err(_) => {
                        // Its state is unknown (a statement may still run): never reuse it.
                        drop(Object::take(client));
                        Err(StoreError::Unavailable(format!(
                            "postgres: no answer within {:?} (for a commit, the outcome is unknown)",
                            inner.statement_timeout
                        )))
                    }
                }
            }
            .await;
            let _ = send.send(result);
        });
        let limit =
            self.inner.connect_timeout + self.inner.statement_timeout + Duration::from_secs(1);
        match receive.recv_timeout(limit) {
            Ok(result) => result,
            Err(_) => {
                task.abort();
                Err(StoreError::Unavailable(format!(
                    "postgres: no answer within {limit:?}"
                )))
            }
        }
    }

    fn apply_batch(&self, txs: &[Transaction]) -> BatchResults {
        let batch = txs.to_vec();
        let n = batch.len();
        match self
            .call(move |client, inner| Box::pin(apply_batch_with_fallback(client, inner, batch)))
        {
            Ok((results, head)) => {
                self.inner.watch.advance(head);
                results
            }
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }
}

/// Creates the schema and applies pending migrations, under a transaction-scoped advisory lock.
async fn migrate(client: &mut Object, schema: String) -> Result<(), StoreError> {
    let e = |what: &'static str| move |e| pg_error(what, e);
    let s = format!("\"{schema}\"");
    let tx = client.transaction().await.map_err(e("begin migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(&schema)])
        .await
        .map_err(e("migration lock"))?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.coffer_schema (
             id      int PRIMARY KEY CHECK (id = 1),
             owner   text NOT NULL,
             version int NOT NULL
         );"
    ))
    .await
    .map_err(e("create schema"))?;
    let row = tx
        .query_opt(
            &format!("SELECT owner, version FROM {s}.coffer_schema WHERE id = 1"),
            &[],
        )
        .await
        .map_err(e("read schema version"))?;
    let from = match row {
        Some(row) => {
            let owner: String = row.get(0);
            let version: i32 = row.get(1);
            if owner != "coffer" {
                return Err(StoreError::Schema(format!(
                    "schema {schema} belongs to {owner:?}, not Coffer"
                )));
            }
            usize::try_from(version)
                .map_err(|_| StoreError::Schema(format!("invalid schema version {version}")))?
        }
        None => {
            let others: i64 = tx
                .query_one(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename <> 'coffer_schema'",
                    &[&schema],
                )
                .await
                .map_err(e("inspect schema"))?
                .get(0);
            if others > 0 {
                return Err(StoreError::Schema(format!(
                    "schema {schema} holds tables but no Coffer schema version"
                )));
            }
            tx.execute(
                &format!(
                    "INSERT INTO {s}.coffer_schema (id, owner, version) VALUES (1, 'coffer', 0)"
                ),
                &[],
            )
            .await
            .map_err(e("stamp schema"))?;
            0
        }
    };
    if from > MIGRATIONS.len() {
        return Err(StoreError::Schema(format!(
            "database schema version {from} is newer than this build supports ({}); upgrade Coffer",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.batch_execute(&sql.replace("{s}", &s))
            .await
            .map_err(e("migration"))?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            &format!("UPDATE {s}.coffer_schema SET version = $1 WHERE id = 1"),
            &[&version],
        )
        .await
        .map_err(e("set schema version"))?;
    }
    tx.commit().await.map_err(e("commit migration"))
}

/// Follows the notification channel on a dedicated connection, reconnecting after failures,
/// until the store is dropped.
async fn listen(
    inner: std::sync::Weak<Inner>,
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    channel: String,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let result = listen_once(&strong, &config, tls.clone(), &channel).await;
        drop(strong);
        match result {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => {
                tracing::warn!(reason = %e, "postgres store: change notifications interrupted; reconnecting");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn listen_once(
    inner: &Inner,
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    channel: &str,
) -> Result<(), StoreError> {
    let (client, mut connection) = tokio::time::timeout(inner.connect_timeout, config.connect(tls))
        .await
        .map_err(|_| StoreError::Unavailable("postgres listener: connect timed out".to_string()))?
        .map_err(|e| pg_error("listener connect", e))?;
    let (notify, mut notifications) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if notify.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let result = async {
        let bounded = |what: &'static str| {
            move |r: Result<Result<(), tokio_postgres::Error>, tokio::time::error::Elapsed>| match r
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(pg_error(what, e)),
                Err(_) => Err(StoreError::Unavailable(format!(
                    "postgres listener: {what} timed out"
                ))),
            }
        };
        bounded("listen")(
            tokio::time::timeout(
                inner.statement_timeout,
                client.batch_execute(&format!("LISTEN \"{channel}\"")),
            )
            .await,
        )?;
        // Commits made before LISTEN took effect are covered by reading the head after it.
        let row = tokio::time::timeout(
            inner.statement_timeout,
            client.query_one(&format!("SELECT head FROM {} WHERE id = 1", inner.log), &[]),
        )
        .await
        .map_err(|_| StoreError::Unavailable("postgres listener: head timed out".to_string()))?
        .map_err(|e| pg_error("listener head", e))?;
        inner.watch.advance(to_u64(row.get(0), "sequence")?);
        inner.watch.poke();
        loop {
            match tokio::time::timeout(LISTEN_KEEPALIVE, notifications.recv()).await {
                Ok(Some(payload)) => {
                    if let Ok(seq) = payload.parse::<u64>() {
                        inner.watch.advance(seq);
                    }
                }
                Ok(None) => {
                    return Err(StoreError::Unavailable(
                        "postgres listener: connection closed".to_string(),
                    ))
                }
                Err(_) => bounded("keepalive")(
                    tokio::time::timeout(inner.statement_timeout, client.batch_execute("SELECT 1"))
                        .await,
                )?,
            }
        }
    }
    .await;
    driver.abort();
    result
}

/// Applies a batch; if a statement of it is refused by the server (before COMMIT, so nothing of
/// it was applied), applies each transaction alone so that only the offending one fails.
async fn apply_batch_with_fallback(
    client: &mut Object,
    inner: &Inner,
    batch: Vec<Transaction>,
) -> Result<(BatchResults, u64), StoreError> {
    match apply_batch(client, inner, &batch).await {
        Ok(done) => Ok(done),
        Err(BatchError::Refused(e)) if batch.len() > 1 => {
            tracing::debug!(reason = %e, "postgres store: batch refused; committing one by one");
            let mut results = Vec::with_capacity(batch.len());
            let mut head = 0;
            for tx in batch {
                match apply_batch(client, inner, std::slice::from_ref(&tx)).await {
                    Ok((mut one, h)) => {
                        head = head.max(h);
                        results.push(one.pop().unwrap_or_else(|| {
                            Err(StoreError::Backend(
                                "postgres: empty batch result".to_string(),
                            ))
                        }));
                    }
                    Err(BatchError::Refused(e) | BatchError::Failed(e)) => results.push(Err(e)),
                }
            }
            Ok((results, head))
        }
        Err(BatchError::Refused(e) | BatchError::Failed(e)) => Err(e),
    }
}

enum BatchError {
    /// The server refused a statement before COMMIT: nothing was applied.
    Refused(StoreError),
    /// Anything else (the outcome of a failed COMMIT is unknown).
    Failed(StoreError),
}

fn refused(what: &'static str) -> impl Fn(tokio_postgres::Error) -> BatchError {
    move |e| {
        if e.as_db_error().is_some() {
            BatchError::Refused(pg_error(what, e))
        } else {
            BatchError::Failed(pg_error(what, e))
        }
    }
}

/// One database transaction for the whole batch: lock the log row (the global write lock),
/// read the versions the conditions and deletes need, evaluate every transaction in order in
/// memory, then write records, log entries and the head in a few pipelined statements.
async fn apply_batch(
    client: &mut Object,
    inner: &Inner,
    batch: &[Transaction],
) -> Result<(BatchResults, u64), BatchError> {
    let db = client.transaction().await.map_err(refused("begin"))?;
    let lock = format!(
        "SELECT head, compacted FROM {} WHERE id = 1 FOR UPDATE",
        inner.log
    );
    let row = db
        .query_one(&lock, &[])
        .await
        .map_err(refused("lock log"))?;
    let bounds = LogBounds {
        head: to_u64(row.get(0), "sequence").map_err(BatchError::Failed)?,
        compacted: to_u64(row.get(1), "sequence").map_err(BatchError::Failed)?,
    };

    // Current versions of every record a condition or a delete names.
    let mut wanted: BTreeSet<(&str, &str)> = BTreeSet::new();
    let nets: Vec<_> = batch.iter().map(net_writes).collect();
    for (tx, net) in batch.iter().zip(&nets) {
        wanted.extend(tx.conditions.iter().map(|c| c.target()));
        wanted.extend(
            net.iter()
                .filter(|w| w.value.is_none())
                .map(|w| (w.table, w.key)),
        );
    }
    let mut current: HashMap<(&str, &str), Option<u64>> =
        wanted.iter().map(|k| (*k, None)).collect();
    if !wanted.is_empty() {
        let (tables, keys): (Vec<&str>, Vec<&str>) = wanted.iter().copied().unzip();
        let sql = format!(
            "SELECT r.tbl, r.key, r.version FROM {} r \
             JOIN unnest($1::text[], $2::text[]) AS w(tbl, key) ON r.tbl = w.tbl AND r.key = w.key",
            inner.records
        );
        let rows = db
            .query(&sql, &[&tables, &keys])
            .await
            .map_err(refused("read versions"))?;
        for row in rows {
            let (table, key): (String, String) = (row.get(0), row.get(1));
            let version = to_u64(row.get(2), "version").map_err(BatchError::Failed)?;
            if let Some((t, k)) = wanted.iter().find(|(t, k)| *t == table && *k == key) {
                current.insert((t, k), Some(version));
            }
        }
    }

    // Evaluate in order; later transactions see the effects of earlier ones.
    let mut head = bounds.head;
    let mut results: BatchResults = Vec::with_capacity(batch.len());
    // The final state of each record the batch writes: (value, version), or deleted.
    type Final<'a> = Option<(&'a [u8], i64)>;
    let mut last: BTreeMap<(&str, &str), Final<'_>> = BTreeMap::new();
    let (mut log_seq, mut log_tbl, mut log_key, mut log_val) = (vec![], vec![], vec![], vec![]);
    for (tx, net) in batch.iter().zip(&nets) {
        if let Some(failed) = tx.conditions.iter().find(|c| {
            let version = current.get(&c.target()).copied().flatten();
            !c.holds(version)
        }) {
            results.push(Err(failed.conflict()));
            continue;
        }
        let seq = head + 1;
        let seq_i = to_i64(seq, "sequence").map_err(BatchError::Failed)?;
        let mut changed = false;
        for write in net {
            let target = (write.table, write.key);
            match write.value {
                Some(value) => {
                    current.insert(target, Some(seq));
                    last.insert(target, Some((value, seq_i)));
                }
                None => {
                    if current.get(&target).copied().flatten().is_none() {
                        continue;
                    }
                    current.insert(target, None);
                    last.insert(target, None);
                }
            }
            log_seq.push(seq_i);
            log_tbl.push(write.table);
            log_key.push(write.key);
            log_val.push(write.value);
            changed = true;
        }
        if changed {
            head = seq;
        }
        results.push(Ok(CommitInfo { seq: head }));
    }
    if head == bounds.head {
        // Nothing changed: nothing to make durable.
        db.rollback().await.map_err(refused("rollback"))?;
        return Ok((results, head));
    }

    let (mut put_tbl, mut put_key, mut put_val, mut put_ver) = (vec![], vec![], vec![], vec![]);
    let (mut del_tbl, mut del_key) = (vec![], vec![]);
    for ((table, key), state) in &last {
        match state {
            Some((value, version)) => {
                put_tbl.push(*table);
                put_key.push(*key);
                put_val.push(*value);
                put_ver.push(*version);
            }
            None => {
                del_tbl.push(*table);
                del_key.push(*key);
            }
        }
    }
    let compacted = crate::sqlite::compaction_point(head, bounds.compacted, inner.retention);
    let head_i = to_i64(head, "sequence").map_err(BatchError::Failed)?;
    let compacted_i = to_i64(compacted, "sequence").map_err(BatchError::Failed)?;
    let upsert = format!(
        "INSERT INTO {} (tbl, key, value, version) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[]) \
         ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value, version = excluded.version",
        inner.records
    );
    let delete = format!(
        "DELETE FROM {} r USING unnest($1::text[], $2::text[]) AS d(tbl, key) \
         WHERE r.tbl = d.tbl AND r.key = d.key",
        inner.records
    );
    let log = format!(
        "INSERT INTO {} (seq, tbl, key, value) \
         SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::bytea[])",
        inner.changes
    );
    let compact = format!("DELETE FROM {} WHERE seq <= $1", inner.changes);
    let set_head = format!(
        "UPDATE {} SET head = $1, compacted = $2 WHERE id = 1",
        inner.log
    );
    let head_text = head.to_string();
    // Pipelined: the statements are sent together and answered in order.
    let upserts = async {
        if put_tbl.is_empty() {
            return Ok(0);
        }
        db.execute(&upsert, &[&put_tbl, &put_key, &put_val, &put_ver])
            .await
    };
    let deletes = async {
        if del_tbl.is_empty() {
            return Ok(0);
        }
        db.execute(&delete, &[&del_tbl, &del_key]).await
    };
    let compaction = async {
        if compacted <= bounds.compacted {
            return Ok(0);
        }
        db.execute(&compact, &[&compacted_i]).await
    };
    let log_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&log_seq, &log_tbl, &log_key, &log_val];
    let head_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&head_i, &compacted_i];
    let notify_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
        [&inner.channel, &head_text];
    futures_util::try_join!(
        upserts,
        deletes,
        db.execute(&log, &log_params),
        compaction,
        db.execute(&set_head, &head_params),
        db.execute("SELECT pg_notify($1, $2)", &notify_params),
    )
    .map_err(refused("write"))?;
    db.commit()
        .await
        .map_err(|e| BatchError::Failed(pg_error("commit", e)))?;
    Ok((results, head))
}

impl Store for PostgresStore {
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
        let head = self.call(|client, inner| {
            Box::pin(async move {
                let e = |what: &'static str| move |e| pg_error(what, e);
                let db = client.transaction().await.map_err(e("begin"))?;
                db.execute(
                    &format!("SELECT 1 FROM {} WHERE id = 1 FOR UPDATE", inner.log),
                    &[],
                )
                .await
                .map_err(e("lock log"))?;
                db.batch_execute(&format!(
                    "DELETE FROM {}; DELETE FROM {};",
                    inner.records, inner.changes
                ))
                .await
                .map_err(e("clear"))?;
                let row = db
                    .query_one(
                        &format!(
                            "UPDATE {} SET head = head + 1, compacted = head + 1 WHERE id = 1 \
                             RETURNING head",
                            inner.log
                        ),
                        &[],
                    )
                    .await
                    .map_err(e("clear"))?;
                let head: i64 = row.get(0);
                db.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&inner.channel, &head.to_string()],
                )
                .await
                .map_err(e("notify"))?;
                db.commit().await.map_err(e("commit"))?;
                to_u64(head, "sequence")
            })
        })?;
        self.inner.watch.advance(head);
        Ok(())
    }

    fn get_versioned(&self, table: &str, key: &str) -> Result<Option<Record>, StoreError> {
        let sql = format!(
            "SELECT value, version FROM {} WHERE tbl = $1 AND key = $2",
            self.inner.records
        );
        let (table, key) = (table.to_string(), key.to_string());
        self.call(move |client, _| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(&sql)
                    .await
                    .map_err(|e| pg_error("get", e))?;
                let row = client
                    .query_opt(&stmt, &[&table, &key])
                    .await
                    .map_err(|e| pg_error("get", e))?;
                row.map(|row| {
                    Ok(Record {
                        value: row.get(0),
                        version: to_u64(row.get(1), "version")?,
                    })
                })
                .transpose()
            })
        })
    }

    fn table_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let sql = format!(
            "SELECT tbl, count(*) FROM {} GROUP BY tbl",
            self.inner.records
        );
        self.call(move |client, _| {
            Box::pin(async move {
                let rows = client
                    .query(&sql, &[])
                    .await
                    .map_err(|e| pg_error("count", e))?;
                rows.into_iter()
                    .map(|row| Ok((row.get::<_, String>(0), to_u64(row.get(1), "count")?)))
                    .collect()
            })
        })
    }

    fn scan_versioned(&self, table: &str) -> Result<Vec<(String, Record)>, StoreError> {
        let sql = format!(
            "SELECT key, value, version FROM {} WHERE tbl = $1 ORDER BY key",
            self.inner.records
        );
        let table = table.to_string();
        self.call(move |client, _| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(&sql)
                    .await
                    .map_err(|e| pg_error("scan", e))?;
                let rows = client
                    .query(&stmt, &[&table])
                    .await
                    .map_err(|e| pg_error("scan", e))?;
                rows.into_iter()
                    .map(|row| {
                        Ok((
                            row.get(0),
                            Record {
                                value: row.get(1),
                                version: to_u64(row.get(2), "version")?,
                            },
                        ))
                    })
                    .collect()
            })
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
        let offset = i64::try_from(limit.saturating_sub(1)).unwrap_or(i64::MAX);
        // One statement, so one snapshot: the compaction point and the entries agree. The
        // entries end with the whole commit of the limit-th one.
        let sql = format!(
            "SELECT l.compacted, c.seq, c.tbl, c.key, c.value FROM {log} l \
             LEFT JOIN LATERAL ( \
                 SELECT seq, tbl, key, value FROM {changes} \
                 WHERE $3 AND seq > $1 AND seq <= COALESCE( \
                     (SELECT seq FROM {changes} WHERE seq > $1 ORDER BY seq, tbl, key \
                      OFFSET $2 LIMIT 1), \
                     9223372036854775807) \
                 ORDER BY seq, tbl, key) c ON true \
             WHERE l.id = 1",
            log = self.inner.log,
            changes = self.inner.changes
        );
        let any = limit > 0;
        self.call(move |client, _| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(&sql)
                    .await
                    .map_err(|e| pg_error("changes", e))?;
                let rows = client
                    .query(&stmt, &[&after_i, &offset, &any])
                    .await
                    .map_err(|e| pg_error("changes", e))?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let compacted = to_u64(row.get(0), "sequence")?;
                    if after < compacted {
                        return Err(StoreError::LogTruncated { after, compacted });
                    }
                    let Some(seq) = row.get::<_, Option<i64>>(1) else {
                        continue;
                    };
                    let seq = to_u64(seq, "sequence")?;
                    out.push(Change {
                        seq,
                        table: row.get(2),
                        key: row.get(3),
                        record: row.get::<_, Option<Vec<u8>>>(4).map(|value| Record {
                            value,
                            version: seq,
                        }),
                    });
                }
                Ok(out)
            })
        })
    }

    fn log_bounds(&self) -> Result<LogBounds, StoreError> {
        let sql = format!(
            "SELECT head, compacted FROM {} WHERE id = 1",
            self.inner.log
        );
        self.call(move |client, _| {
            Box::pin(async move {
                let row = client
                    .query_one(&sql, &[])
                    .await
                    .map_err(|e| pg_error("log bounds", e))?;
                Ok(LogBounds {
                    head: to_u64(row.get(0), "sequence")?,
                    compacted: to_u64(row.get(1), "sequence")?,
                })
            })
        })
    }

    fn compact_log(&self, through: u64) -> Result<(), StoreError> {
        let through = i64::try_from(through).unwrap_or(i64::MAX);
        self.call(move |client, inner| {
            Box::pin(async move {
                let e = |what: &'static str| move |e| pg_error(what, e);
                let db = client.transaction().await.map_err(e("begin"))?;
                let row = db
                    .query_one(
                        &format!(
                            "SELECT head, compacted FROM {} WHERE id = 1 FOR UPDATE",
                            inner.log
                        ),
                        &[],
                    )
                    .await
                    .map_err(e("lock log"))?;
                let (head, compacted): (i64, i64) = (row.get(0), row.get(1));
                let through = through.min(head);
                if through > compacted {
                    db.execute(
                        &format!("DELETE FROM {} WHERE seq <= $1", inner.changes),
                        &[&through],
                    )
                    .await
                    .map_err(e("compact"))?;
                    db.execute(
                        &format!("UPDATE {} SET compacted = $1 WHERE id = 1", inner.log),
                        &[&through],
                    )
                    .await
                    .map_err(e("compact"))?;
                }
                db.commit().await.map_err(e("commit"))
            })
        })
    }

    fn subscribe(&self) -> Result<Subscription, StoreError> {
        Ok(Subscription::new(self.inner.watch.clone()))
    }

    fn backup(&self, _dest: &std::path::Path) -> Result<crate::BackupInfo, StoreError> {
        Err(StoreError::Unsupported(
            "online backup of a PostgreSQL store: use pg_dump (or the database's own backups); \
             its records stay encrypted under the root key, which is backed up apart",
        ))
    }
}
