//! The writer: a background thread that appends records to the sinks in batches, chains them,
//! checkpoints them and fsyncs in groups.
//!
//! Callers [`AuditLog::submit`] an [`Event`]; the event is serialized on the caller's thread and
//! queued (bounded). The writer thread takes everything queued at once, gives each record its
//! number and `prev` hash, writes the batch with one `write`, and — under `fsync = "batch"` — one
//! `fdatasync` for the whole batch: concurrent requests share the fsync (group commit). Under
//! `fail_closed`, a [`Submission`] resolves only when its record is durable, or with the error that
//! prevented it; on a write error the batch is rolled back (the segment truncated to its last good
//! length), so the chain on disk never holds a record whose request was refused. Under
//! `fail_closed = false` the submission resolves at once and lost records are counted
//! ([`AuditStats::dropped`]).

use crate::chain::{self, AuditKey, Reason, Segments, GENESIS};
use crate::lookup::{
    Index, IndexMeta, Loc, LookupError, LookupEventsRequest, LookupEventsResponse,
};
use crate::record::{format_time, Event};
use parking_lot::{Condvar, Mutex};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// When the trail is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every record (one fsync per request: the slowest, for comparison or paranoia).
    Always,
    /// Once per batch: every record queued while the previous fsync ran shares the next one.
    Batch,
    /// Never (the kernel writes back): an acknowledged record survives `kill -9`, not a power cut.
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = AuditError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(Self::Always),
            "batch" => Ok(Self::Batch),
            "never" => Ok(Self::Never),
            other => Err(AuditError::Config(format!(
                "fsync = \"{other}\": expected \"always\", \"batch\" or \"never\""
            ))),
        }
    }
}

/// The `[audit]` configuration.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The file sink: `DIR/STEM.EXT`; segments are `DIR/STEM.<20-digit first record>.EXT`.
    pub file: Option<PathBuf>,
    /// Also (or only) write every line to standard output.
    pub stdout: bool,
    /// Requests wait until their record is durable and fail when it cannot be written.
    pub fail_closed: bool,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// A segment is closed (with a `rotate` checkpoint) before it would grow past this (only a
    /// single record larger than this makes a segment larger).
    pub max_file_bytes: u64,
    /// A checkpoint after this many records…
    pub checkpoint_every: u64,
    /// …or this long after the first record not yet covered by one, whichever comes first.
    pub checkpoint_interval: Duration,
    /// Records queued at most (the queue is bounded); a fail-closed caller waits for room.
    pub queue_capacity: usize,
    /// A fail-closed caller never waits longer than this (queue room plus the write), then fails.
    pub wait_timeout: Duration,
    /// Segments whose last write is older than this are deleted, and LookupEvents ignores older
    /// events (AWS keeps 90 days). `None` keeps everything.
    pub retention: Option<Duration>,
    /// Without a file sink, how many recent records LookupEvents keeps in memory.
    pub memory_events: usize,
}

impl AuditConfig {
    /// A file sink at `path` with the defaults: fail closed, fsync per batch, 64 MiB segments,
    /// a checkpoint every 1000 records or second, 90 days' retention.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            file: Some(path.into()),
            stdout: false,
            fail_closed: true,
            fsync: FsyncPolicy::Batch,
            max_file_bytes: 64 << 20,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(1),
            queue_capacity: 16384,
            wait_timeout: Duration::from_secs(10),
            retention: Some(Duration::from_secs(90 * 24 * 3600)),
            memory_events: 10_000,
        }
    }

    /// A standard-output sink only.
    pub fn stdout() -> Self {
        Self {
            file: None,
            stdout: true,
            ..Self::file("audit.jsonl")
        }
    }
}

/// Why the audit trail could not take a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// Writing or syncing the trail failed (disk full, read-only file system, I/O error).
    #[error("audit trail write failed: {0}")]
    Write(String),
    /// The queue stayed full for the whole wait.
    #[error("audit queue is full")]
    QueueFull,
    /// The record was not written within `wait_timeout`.
    #[error("timed out waiting for the audit record to be written")]
    Timeout,
    /// The trail was closed.
    #[error("audit trail is closed")]
    Closed,
    /// The trail could not be opened.
    #[error("audit trail {path}: {message}")]
    Open {
        /// The file or directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The newest segment ends in a line that is not a trail line; nothing was changed.
    #[error("audit trail {path} is damaged at line {line}: {message}; check it with `coffer audit verify`, then move it aside")]
    Damaged {
        /// The segment.
        path: String,
        /// The line (1-based).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The configuration is not usable.
    #[error("invalid audit configuration: {0}")]
    Config(String),
}

/// Counters of one open trail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// Records submitted.
    pub submitted: u64,
    /// Records written (durable per the fsync policy).
    pub written: u64,
    /// Fail-open only: records lost (queue full or write failed).
    pub dropped: u64,
    /// Batches that failed to write.
    pub write_errors: u64,
    /// fsync calls.
    pub fsyncs: u64,
    /// Batches written.
    pub batches: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// The number of the last record written.
    pub last_seq: u64,
    /// Stdout sink errors while a file sink holds the records.
    pub stdout_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
    fsyncs: AtomicU64,
    batches: AtomicU64,
    checkpoints: AtomicU64,
    last_seq: AtomicU64,
    stdout_errors: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

// ---- completion: a one-shot result that can be awaited or blocked on ----

#[derive(Debug, Default)]
struct CState {
    result: Option<Result<u64, AuditError>>,
    waker: Option<Waker>,
}

#[derive(Debug, Default)]
struct Completion {
    state: Mutex<CState>,
    cv: Condvar,
}

impl Completion {
    fn complete(&self, r: Result<u64, AuditError>) {
        let waker = {
            let mut g = self.state.lock();
            if g.result.is_none() {
                g.result = Some(r);
            }
            g.waker.take()
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn wait(&self, timeout: Duration) -> Result<u64, AuditError> {
        let deadline = Instant::now() + timeout;
        let mut g = self.state.lock();
        loop {
            if let Some(r) = &g.result {
                return r.clone();
            }
            if self.cv.wait_until(&mut g, deadline).timed_out() {
                return g.result.clone().unwrap_or(Err(AuditError::Timeout));
            }
        }
    }
}

/// The outcome of [`AuditLog::submit`]: await it (async dispatch) or [`Submission::wait`] (threads).
///
/// Fail-closed: resolves when the record is durable (`Ok`) or cannot be written (`Err`).
/// Fail-open: already resolved (`Ok`). The future itself has no timer: wrap it in the runtime's
/// timeout with [`AuditLog::wait_timeout`]; [`Submission::wait`] applies that timeout itself.
#[derive(Debug)]
#[must_use = "a fail-closed request must not answer before its record is written"]
pub struct Submission {
    ready: Option<Result<(), AuditError>>,
    done: Option<Arc<Completion>>,
    timeout: Duration,
}

impl Submission {
    fn ready(r: Result<(), AuditError>) -> Self {
        Self {
            ready: Some(r),
            done: None,
            timeout: Duration::ZERO,
        }
    }

    /// Blocks until the record is written or fails, at most the configured `wait_timeout`.
    pub fn wait(self) -> Result<(), AuditError> {
        match (self.ready, self.done) {
            (Some(r), _) => r,
            (None, Some(d)) => d.wait(self.timeout).map(|_| ()),
            (None, None) => Ok(()),
        }
    }
}

impl Future for Submission {
    type Output = Result<(), AuditError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.ready.take() {
            return Poll::Ready(r);
        }
        let Some(done) = &self.done else {
            return Poll::Ready(Ok(()));
        };
        let mut g = done.state.lock();
        if let Some(r) = &g.result {
            return Poll::Ready(r.clone().map(|_| ()));
        }
        g.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

// ---- the queue ----

enum Control {
    Flush,
    Checkpoint,
    Rekey(AuditKey),
    Close,
    Abandon,
}

enum Msg {
    Record {
        json: String,
        meta: IndexMeta,
        done: Option<Arc<Completion>>,
    },
    Control(Control, Arc<Completion>),
}

#[derive(Default)]
struct QState {
    items: VecDeque<Msg>,
    records: usize,
    closed: bool,
}

struct Queue {
    state: Mutex<QState>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

impl Queue {
    fn push(&self, msg: Msg, deadline: Option<Instant>) -> Result<(), AuditError> {
        let is_record = matches!(msg, Msg::Record { .. });
        let mut g = self.state.lock();
        loop {
            if g.closed {
                return Err(AuditError::Closed);
            }
            if !is_record || g.records < self.capacity {
                break;
            }
            match deadline {
                None => return Err(AuditError::QueueFull),
                Some(d) => {
                    if self.not_full.wait_until(&mut g, d).timed_out() && g.records >= self.capacity
                    {
                        return Err(AuditError::QueueFull);
                    }
                }
            }
        }
        if is_record {
            g.records += 1;
        }
        g.items.push_back(msg);
        drop(g);
        self.not_empty.notify_one();
        Ok(())
    }

    /// Everything queued; waits up to `timeout` (forever when `None`) for something.
    fn pop_all(&self, timeout: Option<Duration>) -> VecDeque<Msg> {
        let mut g = self.state.lock();
        if g.items.is_empty() {
            match timeout {
                Some(t) => {
                    let _ = self.not_empty.wait_for(&mut g, t);
                }
                None => self.not_empty.wait(&mut g),
            }
        }
        g.records = 0;
        let items = std::mem::take(&mut g.items);
        drop(g);
        self.not_full.notify_all();
        items
    }

    fn close(&self) -> VecDeque<Msg> {
        let mut g = self.state.lock();
        g.closed = true;
        g.records = 0;
        let rest = std::mem::take(&mut g.items);
        drop(g);
        self.not_full.notify_all();
        rest
    }
}

// ---- the handle ----

struct Shared {
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    index: Arc<Index>,
    fail_closed: bool,
    wait_timeout: Duration,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let done = Arc::new(Completion::default());
        if self
            .queue
            .push(Msg::Control(Control::Close, done), None)
            .is_ok()
        {
            if let Some(t) = self.thread.lock().take() {
                let _ = t.join();
            }
        }
    }
}

/// An open audit trail. Cheap to clone; the last clone dropped closes it (a `close` checkpoint).
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("fail_closed", &self.shared.fail_closed)
            .finish()
    }
}

impl AuditLog {
    /// Opens the trail: reads the segments on disk (rebuilding the LookupEvents index and
    /// continuing the chain from the last line; an incomplete last line from a crash is cut off
    /// and noted), applies retention, writes a `start` checkpoint (fsynced) and starts the writer.
    /// Fails when the trail cannot be written, so a server can refuse to start.
    pub fn open(config: AuditConfig, key: AuditKey) -> Result<Self, AuditError> {
        if config.file.is_none() && !config.stdout {
            return Err(AuditError::Config("no sink: set `file` or `stdout`".into()));
        }
        if config.max_file_bytes < 4096 {
            return Err(AuditError::Config(
                "max_file_bytes must be at least 4096".into(),
            ));
        }
        if config.checkpoint_every == 0 || config.queue_capacity == 0 {
            return Err(AuditError::Config(
                "checkpoint_every and queue_capacity must be at least 1".into(),
            ));
        }
        let index = Arc::new(Index::new(config.retention, config.memory_events));
        let counters = Arc::new(Counters::default());
        let queue = Arc::new(Queue {
            state: Mutex::new(QState::default()),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: config.queue_capacity,
        });
        let mut w = Writer {
            segs: None,
            file: None,
            files: Vec::new(),
            stdout: config.stdout,
            fsync: config.fsync,
            max_file_bytes: config.max_file_bytes,
            checkpoint_every: config.checkpoint_every,
            checkpoint_interval: config.checkpoint_interval,
            retention: config.retention,
            key,
            seq: 0,
            prev: GENESIS.to_owned(),
            first: 1,
            since_ck: 0,
            last_ck: Instant::now(),
            committed: (0, GENESIS.to_owned(), 0),
            buf: Vec::with_capacity(1 << 16),
            pending: Vec::new(),
            broken: false,
            batch_error: None,
            in_error: false,
            index: index.clone(),
            counters: counters.clone(),
        };
        let mut note = serde_json::Map::new();
        if let Some(file) = &config.file {
            w.recover(file, &mut note)?;
        }
        w.committed = (w.seq, w.prev.clone(), w.since_ck);
        w.add_checkpoint(Reason::Start, Some(Value::Object(note)));
        if let Err(e) = w.commit() {
            return Err(AuditError::Open {
                path: config
                    .file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "stdout".into()),
                message: e.to_string(),
            });
        }
        let q = queue.clone();
        let thread = std::thread::Builder::new()
            .name("coffer-audit".into())
            .spawn(move || w.run(&q))
            .map_err(|e| AuditError::Open {
                path: "audit writer thread".into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            shared: Arc::new(Shared {
                queue,
                counters,
                index,
                fail_closed: config.fail_closed,
                wait_timeout: config.wait_timeout,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Queues `event`. Fail-closed: the returned submission resolves when it is durable; await
    /// it (or `wait()`) before answering the request, and answer with the service's internal
    /// error if it fails. Fail-open: resolves at once; a record that cannot be queued is counted.
    pub fn submit(&self, event: &Event) -> Submission {
        let s = &self.shared;
        add(&s.counters.submitted, 1);
        let json = match serde_json::to_string(event) {
            Ok(j) => j,
            Err(e) => {
                return self.refuse(AuditError::Write(format!("serializing the record: {e}")))
            }
        };
        let meta = IndexMeta::from_event(event);
        if s.fail_closed {
            let done = Arc::new(Completion::default());
            let deadline = Instant::now() + s.wait_timeout;
            match s.queue.push(
                Msg::Record {
                    json,
                    meta,
                    done: Some(done.clone()),
                },
                Some(deadline),
            ) {
                Ok(()) => Submission {
                    ready: None,
                    done: Some(done),
                    timeout: s.wait_timeout,
                },
                Err(e) => Submission::ready(Err(e)),
            }
        } else {
            match s.queue.push(
                Msg::Record {
                    json,
                    meta,
                    done: None,
                },
                None,
            ) {
                Ok(()) => Submission::ready(Ok(())),
                Err(e) => self.refuse(e),
            }
        }
    }

    fn refuse(&self, e: AuditError) -> Submission {
        if self.shared.fail_closed {
            Submission::ready(Err(e))
        } else {
            add(&self.shared.counters.dropped, 1);
            Submission::ready(Ok(()))
        }
    }

    /// Submits and blocks until written (fail-closed) — for threads off the async runtime
    /// (Query-protocol handlers, schedulers).
    pub fn record(&self, event: &Event) -> Result<(), AuditError> {
        self.submit(event).wait()
    }

    /// Whether requests must wait for their record.
    pub fn fail_closed(&self) -> bool {
        self.shared.fail_closed
    }

    /// How long a fail-closed request may wait for its record.
    pub fn wait_timeout(&self) -> Duration {
        self.shared.wait_timeout
    }

    /// The counters.
    pub fn stats(&self) -> AuditStats {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AuditStats {
            submitted: g(&c.submitted),
            written: g(&c.written),
            dropped: g(&c.dropped),
            write_errors: g(&c.write_errors),
            fsyncs: g(&c.fsyncs),
            batches: g(&c.batches),
            checkpoints: g(&c.checkpoints),
            last_seq: g(&c.last_seq),
            stdout_errors: g(&c.stdout_errors),
        }
    }

    /// The LookupEvents index.
    pub fn index(&self) -> &Index {
        &self.shared.index
    }

    /// Answers CloudTrail LookupEvents (request body as JSON) for `account` in `region`.
    pub fn lookup_events(
        &self,
        account: &str,
        region: &str,
        body: &Value,
    ) -> Result<LookupEventsResponse, LookupError> {
        let req = LookupEventsRequest::from_json(body)?;
        self.shared
            .index
            .lookup(account, region, &req, OffsetDateTime::now_utc())
    }

    fn control(&self, c: Control) -> Result<(), AuditError> {
        let done = Arc::new(Completion::default());
        self.shared
            .queue
            .push(Msg::Control(c, done.clone()), None)?;
        done.wait(self.shared.wait_timeout).map(|_| ())
    }

    /// Waits until everything submitted before is written.
    pub fn flush(&self) -> Result<(), AuditError> {
        self.control(Control::Flush)
    }

    /// Writes a checkpoint now (covering everything submitted before) and waits for it.
    pub fn checkpoint(&self) -> Result<(), AuditError> {
        self.control(Control::Checkpoint)
    }

    /// Switches the checkpoint key (root-key rotation): a checkpoint under the old key, then one
    /// under the new key, both covering everything before. `verify` needs both keys afterwards.
    pub fn rekey(&self, key: AuditKey) -> Result<(), AuditError> {
        self.control(Control::Rekey(key))
    }

    /// Writes the `close` checkpoint and stops the writer; later submissions fail with `Closed`.
    pub fn close(&self) -> Result<(), AuditError> {
        let r = self.control(Control::Close);
        if let Some(t) = self.shared.thread.lock().take() {
            let _ = t.join();
        }
        r
    }

    /// Test hook: stops the writer as a crash would — what was submitted is written, but no
    /// `close` checkpoint follows.
    #[doc(hidden)]
    pub fn abandon(&self) {
        let _ = self.control(Control::Abandon);
        if let Some(t) = self.shared.thread.lock().take() {
            let _ = t.join();
        }
    }
}

// ---- the writer thread ----

/// Room kept at a segment's end for two checkpoint lines (each about 330 bytes).
const CHECKPOINT_RESERVE: u64 = 1024;

struct SegFile {
    file: File,
    path: PathBuf,
    id: u32,
    /// Bytes known to be on disk (what a failed write is rolled back to).
    len: u64,
}

struct PendingRecord {
    done: Option<Arc<Completion>>,
    seq: u64,
    meta: IndexMeta,
    /// Offset of the line in the current segment, and the event body's length.
    offset: u64,
    body_len: u32,
    /// The event JSON when there is no file sink (for the in-memory index).
    memory: Option<Box<str>>,
}

struct Writer {
    segs: Option<Segments>,
    file: Option<SegFile>,
    /// Every segment on disk: (first record, path, index file id).
    files: Vec<(u64, PathBuf, u32)>,
    stdout: bool,
    fsync: FsyncPolicy,
    max_file_bytes: u64,
    checkpoint_every: u64,
    checkpoint_interval: Duration,
    retention: Option<Duration>,
    key: AuditKey,
    seq: u64,
    prev: String,
    first: u64,
    since_ck: u64,
    last_ck: Instant,
    /// (seq, prev, since_ck) as of the last successful commit.
    committed: (u64, String, u64),
    buf: Vec<u8>,
    pending: Vec<PendingRecord>,
    /// A truncation after a failed write did not succeed: retry it before the next write.
    broken: bool,
    /// The error that failed a commit in the current batch: the rest of the batch fails too.
    batch_error: Option<AuditError>,
    /// Whether the last commit failed (for logging transitions only).
    in_error: bool,
    index: Arc<Index>,
    counters: Arc<Counters>,
}

fn io_err(path: &Path, e: std::io::Error) -> AuditError {
    AuditError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Writer {
    fn run(mut self, queue: &Queue) {
        loop {
            let timeout = if self.since_ck > 0 {
                Some(
                    self.checkpoint_interval
                        .saturating_sub(self.last_ck.elapsed()),
                )
            } else {
                None
            };
            let mut batch = queue.pop_all(timeout).into_iter();
            let mut stop = false;
            let mut controls: Vec<Arc<Completion>> = Vec::new();
            for msg in batch.by_ref() {
                match msg {
                    Msg::Record { json, meta, done } => self.add_record(&json, meta, done),
                    Msg::Control(c, done) => {
                        controls.push(done);
                        match c {
                            Control::Flush => {}
                            Control::Checkpoint => self.add_checkpoint(Reason::Forced, None),
                            Control::Rekey(k) => {
                                self.add_checkpoint(Reason::Rekey, None);
                                self.key = k;
                                self.add_checkpoint(Reason::Rekey, None);
                            }
                            Control::Close => {
                                self.add_checkpoint(Reason::Close, None);
                                stop = true;
                            }
                            Control::Abandon => stop = true,
                        }
                    }
                }
                if stop {
                    break;
                }
            }
            if !stop && self.since_ck > 0 && self.last_ck.elapsed() >= self.checkpoint_interval {
                self.add_checkpoint(Reason::Interval, None);
            }
            let result = self.commit_checked().map(|_| self.seq);
            for d in controls {
                d.complete(result.clone());
            }
            self.batch_error = None;
            if stop {
                for msg in batch.chain(queue.close()) {
                    match msg {
                        Msg::Record { done: Some(d), .. } | Msg::Control(_, d) => {
                            d.complete(Err(AuditError::Closed))
                        }
                        Msg::Record { done: None, .. } => add(&self.counters.dropped, 1),
                    }
                }
                return;
            }
        }
    }

    fn commit_checked(&mut self) -> Result<(), AuditError> {
        match &self.batch_error {
            Some(e) => Err(e.clone()),
            None => self.commit(),
        }
    }

    fn now_str() -> String {
        format_time(OffsetDateTime::now_utc())
    }

    fn add_record(&mut self, json: &str, meta: IndexMeta, done: Option<Arc<Completion>>) {
        if let Some(e) = &self.batch_error {
            self.fail_one(done, e.clone());
            return;
        }
        if let Some(f) = &self.file {
            let used = f.len + self.buf.len() as u64;
            // The chain member adds at most ~110 bytes to the event JSON; room is kept for the
            // checkpoints that may follow it (an interval one and the rotate one).
            if used > 0 && used + json.len() as u64 + 128 + CHECKPOINT_RESERVE > self.max_file_bytes
            {
                if let Err(e) = self.rotate() {
                    self.batch_error = Some(e.clone());
                    self.fail_one(done, e);
                    return;
                }
            }
        }
        let seq = self.seq + 1;
        let line = chain::record_line(json, seq, &self.prev);
        let offset = self.file.as_ref().map(|f| f.len).unwrap_or(0) + self.buf.len() as u64;
        let body_len = (json.len().saturating_sub(1)) as u32;
        self.prev = chain::line_hash(line.as_bytes());
        self.seq = seq;
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        self.since_ck += 1;
        let memory = if self.file.is_none() {
            Some(json.into())
        } else {
            None
        };
        self.pending.push(PendingRecord {
            done,
            seq,
            meta,
            offset,
            body_len,
            memory,
        });
        if self.since_ck >= self.checkpoint_every {
            self.add_checkpoint(Reason::Interval, None);
        }
        if self.fsync == FsyncPolicy::Always {
            if let Err(e) = self.commit() {
                self.batch_error = Some(e);
            }
        }
    }

    fn fail_one(&self, done: Option<Arc<Completion>>, e: AuditError) {
        match done {
            Some(d) => d.complete(Err(e)),
            None => add(&self.counters.dropped, 1),
        }
    }

    fn add_checkpoint(&mut self, reason: Reason, note: Option<Value>) {
        let note = note.filter(|n| n.as_object().is_none_or(|o| !o.is_empty()));
        let line = chain::checkpoint_line(
            &self.key,
            self.seq,
            &self.prev,
            self.first,
            reason,
            &Self::now_str(),
            note.as_ref(),
        );
        self.prev = chain::line_hash(line.as_bytes());
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        self.since_ck = 0;
        self.last_ck = Instant::now();
        add(&self.counters.checkpoints, 1);
    }

    /// Writes the buffer to the sinks and syncs it; on failure rolls the chain back to the last
    /// commit and fails every record of the buffer.
    fn commit(&mut self) -> Result<(), AuditError> {
        if self.buf.is_empty() && self.pending.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        if let Some(f) = &mut self.file {
            result = (|| -> std::io::Result<bool> {
                if self.broken {
                    f.file.set_len(f.len)?;
                    self.broken = false;
                }
                f.file.write_all(&self.buf)?;
                if self.fsync != FsyncPolicy::Never {
                    f.file.sync_data()?;
                    return Ok(true);
                }
                Ok(false)
            })()
            .map(|synced| {
                if synced {
                    add(&self.counters.fsyncs, 1);
                }
            })
            .map_err(|e| AuditError::Write(e.to_string()));
        }
        if result.is_ok() && self.stdout {
            let out = std::io::stdout();
            let mut lock = out.lock();
            if let Err(e) = lock.write_all(&self.buf).and_then(|_| lock.flush()) {
                if self.file.is_some() {
                    add(&self.counters.stdout_errors, 1);
                } else {
                    result = Err(AuditError::Write(format!("stdout: {e}")));
                }
            }
        }
        match result {
            Ok(()) => {
                let file_id = self.file.as_ref().map(|f| f.id);
                if let Some(f) = &mut self.file {
                    f.len += self.buf.len() as u64;
                }
                let n = self.pending.len() as u64;
                self.committed = (self.seq, self.prev.clone(), self.since_ck);
                add(&self.counters.written, n);
                add(&self.counters.batches, 1);
                self.counters.last_seq.store(self.seq, Ordering::Relaxed);
                for p in self.pending.drain(..) {
                    let loc = match (file_id, p.memory) {
                        (Some(file), _) => Loc::File {
                            file,
                            offset: p.offset,
                            len: p.body_len,
                        },
                        (None, Some(m)) => Loc::Memory(m),
                        (None, None) => Loc::Memory("{}".into()),
                    };
                    self.index.push(p.seq, &p.meta, loc);
                    if let Some(d) = p.done {
                        d.complete(Ok(p.seq));
                    }
                }
                self.buf.clear();
                if self.in_error {
                    tracing::info!(seq = self.seq, "audit trail writable again");
                    self.in_error = false;
                }
                Ok(())
            }
            Err(e) => {
                add(&self.counters.write_errors, 1);
                if !self.in_error {
                    tracing::error!(error = %e, "audit trail write failed; records are refused until it succeeds");
                    self.in_error = true;
                }
                if let Some(f) = &mut self.file {
                    if f.file.set_len(f.len).is_err() {
                        self.broken = true;
                    }
                }
                let (seq, prev, since) = self.committed.clone();
                self.seq = seq;
                self.prev = prev;
                self.since_ck = since;
                self.buf.clear();
                for p in self.pending.drain(..) {
                    match p.done {
                        Some(d) => d.complete(Err(e.clone())),
                        None => add(&self.counters.dropped, 1),
                    }
                }
                Err(e)
            }
        }
    }

    /// Closes the current segment with a `rotate` checkpoint and starts the next; deletes
    /// segments past retention (then a `prune` checkpoint records the new `first`).
    fn rotate(&mut self) -> Result<(), AuditError> {
        self.add_checkpoint(Reason::Rotate, None);
        self.commit()?;
        let Some(segs) = self.segs.clone() else {
            return Ok(());
        };
        let path = segs.path(self.seq + 1);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| AuditError::Write(format!("creating {}: {e}", path.display())))?;
        if self.fsync != FsyncPolicy::Never {
            sync_dir(segs.dir());
        }
        let id = self.index.add_file(path.clone());
        self.files.push((self.seq + 1, path.clone(), id));
        self.file = Some(SegFile {
            file,
            path,
            id,
            len: 0,
        });
        if self.prune() {
            self.add_checkpoint(Reason::Prune, None);
        }
        Ok(())
    }

    /// Deletes segments (never the current one) whose last write is older than the retention.
    fn prune(&mut self) -> bool {
        let Some(retention) = self.retention else {
            return false;
        };
        let now = std::time::SystemTime::now();
        let current = self.file.as_ref().map(|f| f.path.clone());
        let mut removed = false;
        while self.files.len() > 1 {
            let (_, path, id) = &self.files[0];
            if Some(path) == current.as_ref() {
                break;
            }
            let old = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > retention);
            if !old {
                break;
            }
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "could not delete an expired audit segment");
                break;
            }
            tracing::info!(path = %path.display(), "deleted an expired audit segment");
            self.index.remove_file(*id);
            self.files.remove(0);
            removed = true;
        }
        if removed {
            if let Some((first, _, _)) = self.files.first() {
                self.first = self.first.max(*first);
            }
        }
        self.index.expire(OffsetDateTime::now_utc());
        removed
    }

    /// Reads the trail on disk: index, chain state, retention; opens the newest segment.
    fn recover(
        &mut self,
        file: &Path,
        note: &mut serde_json::Map<String, Value>,
    ) -> Result<(), AuditError> {
        let segs = Segments::new(file);
        std::fs::create_dir_all(segs.dir()).map_err(|e| io_err(segs.dir(), e))?;
        let list = segs.list().map_err(|e| io_err(segs.dir(), e))?;
        let mut last: Option<(u64, String, bool)> = None;
        let mut declared_first: Option<u64> = None;
        let n = list.len();
        for (i, (num, path)) in list.iter().enumerate() {
            let id = self.index.add_file(path.clone());
            self.files.push((*num, path.clone(), id));
            let newest = i + 1 == n;
            // Only regular files are read (a segment that is a device is written to, never read).
            let regular = std::fs::metadata(path)
                .map(|m| m.is_file())
                .unwrap_or(false);
            let data = if regular {
                std::fs::read(path).map_err(|e| io_err(path, e))?
            } else {
                Vec::new()
            };
            let complete = data
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|p| p + 1)
                .unwrap_or(0);
            if complete < data.len() {
                if newest {
                    let cut = &data[complete..];
                    tracing::warn!(path = %path.display(), bytes = cut.len(), "audit trail ends in an incomplete line (crash while writing); cutting it off");
                    note.insert("truncatedBytes".into(), json!(cut.len()));
                    note.insert("truncatedSha256".into(), json!(chain::line_hash(cut)));
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| io_err(path, e))?;
                    f.set_len(complete as u64).map_err(|e| io_err(path, e))?;
                    f.sync_all().map_err(|e| io_err(path, e))?;
                } else {
                    tracing::warn!(path = %path.display(), "audit segment ends in an incomplete line");
                }
            }
            let mut offset = 0u64;
            let body = &data[..complete];
            let lines: Vec<&[u8]> = if body.is_empty() {
                Vec::new()
            } else {
                body[..body.len() - 1].split(|&b| b == b'\n').collect()
            };
            let count = lines.len();
            for (ln, line) in lines.into_iter().enumerate() {
                let text = std::str::from_utf8(line).ok();
                let head = text.and_then(|t| serde_json::from_str::<chain::LineHead>(t).ok());
                match (text, head) {
                    (Some(text), Some(h)) if h.coffer.v == chain::FORMAT_VERSION => {
                        let hash = chain::line_hash(line);
                        if h.coffer.is_checkpoint() {
                            declared_first = h.coffer.first.or(declared_first);
                            last =
                                Some((h.coffer.seq, hash, h.coffer.reason == Some(Reason::Close)));
                        } else {
                            if let (Some(meta), Some(body_len)) =
                                (IndexMeta::from_line(text), text.rfind(",\"coffer\":{"))
                            {
                                self.index.push(
                                    h.coffer.seq,
                                    &meta,
                                    Loc::File {
                                        file: id,
                                        offset,
                                        len: body_len as u32,
                                    },
                                );
                            }
                            last = Some((h.coffer.seq, hash, false));
                        }
                    }
                    _ => {
                        if newest && ln + 1 == count {
                            return Err(AuditError::Damaged {
                                path: path.display().to_string(),
                                line: ln as u64 + 1,
                                message: "the last line is not an audit record or checkpoint"
                                    .into(),
                            });
                        }
                        tracing::warn!(path = %path.display(), line = ln + 1, "skipping a line that is not an audit record");
                    }
                }
                offset += line.len() as u64 + 1;
            }
        }
        if let Some((seq, prev, closed)) = last {
            self.seq = seq;
            self.prev = prev;
            note.insert("previousClose".into(), json!(closed));
        }
        self.segs = Some(segs.clone());
        match list.last() {
            Some((_, path)) => {
                let f = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| io_err(path, e))?;
                let len = f.metadata().map_err(|e| io_err(path, e))?.len();
                let id = self.files.last().map(|(_, _, id)| *id).unwrap_or(0);
                self.file = Some(SegFile {
                    file: f,
                    path: path.clone(),
                    id,
                    len,
                });
            }
            None => {
                let path = segs.path(self.seq + 1);
                let f = OpenOptions::new()
                    .append(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?;
                sync_dir(segs.dir());
                let id = self.index.add_file(path.clone());
                self.files.push((self.seq + 1, path.clone(), id));
                self.file = Some(SegFile {
                    file: f,
                    path,
                    id,
                    len: 0,
                });
            }
        }
        // `first` moves only when this writer deletes segments (retention): segments that
        // vanished otherwise stay missing in the eyes of `verify`.
        self.first = declared_first
            .or(list.first().map(|(n, _)| *n))
            .unwrap_or(1);
        if self.prune() {
            note.insert("pruned".into(), json!(true));
        }
        Ok(())
    }
}
