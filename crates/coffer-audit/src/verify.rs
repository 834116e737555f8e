//! `coffer audit verify`: checks a trail's chain and checkpoints.
//!
//! What an intact trail (exit 0) proves: every line given links to the one before it by SHA-256;
//! record numbers run without gap, repeat or reversal; every checkpoint's MAC is valid under a
//! given key, so nobody without the key rewrote anything before the last checkpoint (a checkpoint
//! covers the chain head, hence everything before it); the given segments start at the trail's
//! beginning or at the first record the last checkpoint says is kept (retention); and the trail
//! ends with a `close` checkpoint, so nothing was cut off its end.
//!
//! What it reports otherwise:
//! * **tampered** (exit 1): an altered, deleted, inserted or reordered line, a bad checkpoint MAC,
//!   a malformed line, missing segments at the start — with the first bad line (file, line, seq);
//! * **unverifiable** (exit 2): no file could be read, or no checkpoint is under a key given (a
//!   wrong key);
//! * **unverified tail** (exit 3): the chain is sound, but the trail does not end with a `close`
//!   checkpoint — N records after the last checkpoint (and possibly an incomplete last line) are
//!   only hash-chained. That is what a running server's trail looks like, and what a crash leaves
//!   (the next start covers those records with its `start` checkpoint); it is also what cutting
//!   records off the end looks like, which only a later checkpoint can rule out.

use crate::chain::{self, AuditKey, Ext, Reason, GENESIS};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Options of [`verify_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Accept segments that start after the trail's kept beginning (verifying a part of a trail).
    pub allow_partial_start: bool,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Every record is chained and covered by a valid checkpoint, ending with `close`.
    Intact,
    /// Tampering or damage: see [`Report::problem`].
    Tampered,
    /// Nothing could be checked (I/O error, no file, no checkpoint under a given key).
    Unverifiable,
    /// Sound so far, but the end is not covered by a `close` checkpoint.
    UnverifiedTail,
}

/// What is wrong with the first bad line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemKind {
    /// The line's content does not match the hash the next line records.
    Altered,
    /// Records are missing.
    Deleted,
    /// A record that does not belong (a duplicate or a forged number).
    Inserted,
    /// A record out of its place.
    Reordered,
    /// A checkpoint whose MAC is wrong, or that covers the wrong records.
    BadCheckpoint,
    /// Not a trail line at all (not JSON, no `coffer` member, unknown format version).
    Malformed,
    /// The given segments start after the first record the trail says it keeps.
    MissingStart,
    /// An incomplete line that is not at the very end of the trail.
    Truncated,
    /// A file could not be read.
    Io,
}

/// The first bad line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// The segment.
    pub file: PathBuf,
    /// The line number in it (1-based).
    pub line: u64,
    /// The record number, when the line has one.
    pub seq: Option<u64>,
    /// In words.
    pub detail: String,
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The verdict.
    pub status: Status,
    /// The first bad line, for `Tampered` and `Unverifiable`.
    pub problem: Option<Problem>,
    /// Files read.
    pub files: usize,
    /// Record lines read.
    pub records: u64,
    /// Checkpoints whose MAC verified.
    pub checkpoints: u64,
    /// The first and last record numbers seen.
    pub first_seq: Option<u64>,
    /// The last record number seen.
    pub last_seq: Option<u64>,
    /// The last record covered by a valid checkpoint.
    pub verified_through: Option<u64>,
    /// Records after the last valid checkpoint.
    pub unverified_records: u64,
    /// Whether the trail ends with a valid `close` checkpoint.
    pub closed: bool,
    /// Things worth knowing that are not failures (restarts after a crash, key changes, …).
    pub notes: Vec<String>,
}

impl Report {
    /// `coffer audit verify`'s exit code: 0 intact, 1 tampered, 2 unverifiable, 3 unverified tail.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            Status::Intact => 0,
            Status::Tampered => 1,
            Status::Unverifiable => 2,
            Status::UnverifiedTail => 3,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = match (self.first_seq, self.last_seq) {
            (Some(a), Some(b)) => format!("records {a}..{b}"),
            _ => "no records".to_owned(),
        };
        match self.status {
            Status::Intact => writeln!(
                f,
                "intact: {} ({} records, {} checkpoints, {} files), closed cleanly",
                range, self.records, self.checkpoints, self.files
            )?,
            Status::UnverifiedTail => {
                let through = self
                    .verified_through
                    .map(|s| format!("verified through record {s}"))
                    .unwrap_or_else(|| "no record verified".to_owned());
                writeln!(f, "unverified tail: {range}; {through}; {} records after the last checkpoint and no close checkpoint (the server is running, crashed, or the end was cut off)", self.unverified_records)?
            }
            Status::Tampered | Status::Unverifiable => {
                let word = if self.status == Status::Tampered {
                    "TAMPERED"
                } else {
                    "unverifiable"
                };
                match &self.problem {
                    Some(p) => {
                        let seq = p.seq.map(|s| format!(", record {s}")).unwrap_or_default();
                        writeln!(
                            f,
                            "{word}: {:?} at {} line {}{seq}: {}",
                            p.kind,
                            p.file.display(),
                            p.line,
                            p.detail
                        )?
                    }
                    None => writeln!(f, "{word}")?,
                }
            }
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

/// Reads a trail's lines one at a time (memory stays bounded by the longest line).
struct Lines<'a> {
    paths: &'a [PathBuf],
    file: usize,
    reader: Option<std::io::BufReader<std::fs::File>>,
    line: u64,
    buf: Vec<u8>,
}

/// One line as read.
enum Read {
    /// A complete line of `paths[file]`.
    Line {
        file: usize,
        line: u64,
        complete: bool,
    },
    /// The end of the trail.
    End,
}

impl<'a> Lines<'a> {
    fn new(paths: &'a [PathBuf]) -> Self {
        Self {
            paths,
            file: 0,
            reader: None,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// Starts reading at `file`, line `after + 1`.
    fn starting_at(paths: &'a [PathBuf], file: usize, after: u64) -> std::io::Result<Self> {
        let mut l = Self {
            paths,
            file,
            reader: None,
            line: 0,
            buf: Vec::new(),
        };
        while l.line < after {
            match l.next()? {
                Read::End => break,
                Read::Line { file: f, .. } if f != file => break,
                Read::Line { .. } => {}
            }
        }
        Ok(l)
    }

    fn next(&mut self) -> std::io::Result<Read> {
        use std::io::BufRead;
        loop {
            if self.file >= self.paths.len() {
                return Ok(Read::End);
            }
            if self.reader.is_none() {
                self.reader = Some(std::io::BufReader::with_capacity(
                    1 << 16,
                    std::fs::File::open(&self.paths[self.file])?,
                ));
                self.line = 0;
            }
            self.buf.clear();
            let n = match self.reader.as_mut() {
                Some(r) => r.read_until(b'\n', &mut self.buf)?,
                None => 0,
            };
            if n == 0 {
                self.reader = None;
                self.file += 1;
                continue;
            }
            self.line += 1;
            let complete = self.buf.last() == Some(&b'\n');
            if complete {
                self.buf.pop();
            }
            return Ok(Read::Line {
                file: self.file,
                line: self.line,
                complete,
            });
        }
    }
}

/// Whether a record numbered `seq` appears later in the trail (after `file`, line `after`).
fn appears_later(paths: &[PathBuf], file: usize, after: u64, seq: u64) -> bool {
    let Ok(mut lines) = Lines::starting_at(paths, file, after) else {
        return false;
    };
    while let Ok(Read::Line { .. }) = lines.next() {
        let head = std::str::from_utf8(&lines.buf)
            .ok()
            .and_then(|t| serde_json::from_str::<chain::LineHead>(t).ok());
        if let Some(h) = head {
            if !h.coffer.is_checkpoint() && h.coffer.seq == seq {
                return true;
            }
        }
    }
    false
}

/// Verifies the trail made of `paths` (segments in chain order, as a shell glob sorts them) with
/// the checkpoint `keys` (every key the trail was written under; see [`crate::AuditLog::rekey`]).
pub fn verify(paths: &[PathBuf], keys: &[AuditKey]) -> Report {
    verify_with(paths, keys, VerifyOptions::default())
}

/// Where the previous line was and what it was.
struct Prev {
    file: usize,
    line: u64,
    hash: String,
    seq: Option<u64>,
}

/// [`verify`] with options.
pub fn verify_with(paths: &[PathBuf], keys: &[AuditKey], opts: VerifyOptions) -> Report {
    let mut r = Report {
        status: Status::Intact,
        problem: None,
        files: 0,
        records: 0,
        checkpoints: 0,
        first_seq: None,
        last_seq: None,
        verified_through: None,
        unverified_records: 0,
        closed: false,
        notes: Vec::new(),
    };
    fn fail(
        r: &mut Report,
        status: Status,
        kind: ProblemKind,
        file: &Path,
        line: u64,
        seq: Option<u64>,
        detail: String,
    ) -> Report {
        r.status = status;
        r.problem = Some(Problem {
            kind,
            file: file.to_path_buf(),
            line,
            seq,
            detail,
        });
        r.clone()
    }
    if paths.is_empty() {
        return fail(
            &mut r,
            Status::Unverifiable,
            ProblemKind::Io,
            Path::new(""),
            0,
            None,
            "no files given".into(),
        );
    }
    let mut lines = Lines::new(paths);
    let mut prev: Option<Prev> = None;
    let mut prev2_hash: Option<String> = None;
    let mut genesis = false;
    let mut start_seq = 0u64;
    let mut expected = 0u64; // the next record's number
    let mut last_valid: Option<(u64, u64, Reason)> = None; // (seq, first, reason)
    let mut last_line_is_valid_close = false;
    let mut unknown_kids: Vec<String> = Vec::new();
    let mut since_valid = 0u64;
    let mut torn_tail = false;
    loop {
        let (fi, ln, complete) = match lines.next() {
            Ok(Read::Line {
                file,
                line,
                complete,
            }) => (file, line, complete),
            Ok(Read::End) => break,
            Err(e) => {
                let p = paths.get(lines.file).cloned().unwrap_or_default();
                return fail(
                    &mut r,
                    Status::Unverifiable,
                    ProblemKind::Io,
                    &p,
                    lines.line,
                    None,
                    e.to_string(),
                );
            }
        };
        let path = paths[fi].as_path();
        if !complete {
            // Only the very end of the trail may be an incomplete line.
            // (An incomplete line is the last of its file; is anything after it?)
            let more = fi + 1 < paths.len()
                && matches!(
                    Lines::starting_at(paths, fi + 1, 0).and_then(|mut l| l.next()),
                    Ok(Read::Line { .. })
                );
            if !more {
                torn_tail = true;
                r.notes.push(format!("{} ends in an incomplete line {ln} ({} bytes): a crash while writing, or a cut", path.display(), lines.buf.len()));
                break;
            }
            return fail(
                &mut r,
                Status::Tampered,
                ProblemKind::Truncated,
                path,
                ln,
                None,
                "incomplete line in the middle of the trail".into(),
            );
        }
        let head = std::str::from_utf8(&lines.buf)
            .ok()
            .and_then(|t| serde_json::from_str::<chain::LineHead>(t).ok());
        let Some(head) = head else {
            return fail(
                &mut r,
                Status::Tampered,
                ProblemKind::Malformed,
                path,
                ln,
                None,
                "not an audit trail line (no valid `coffer` member)".into(),
            );
        };
        let e: Ext = head.coffer;
        if e.v != chain::FORMAT_VERSION {
            return fail(
                &mut r,
                Status::Tampered,
                ProblemKind::Malformed,
                path,
                ln,
                Some(e.seq),
                format!("unknown format version {}", e.v),
            );
        }
        let hash = chain::line_hash(&lines.buf);
        let this_num = if e.is_checkpoint() { e.seq + 1 } else { e.seq };
        match &prev {
            None => {
                genesis = e.prev == GENESIS;
                start_seq = this_num;
                expected = this_num;
                if genesis && start_seq != 1 {
                    return fail(
                        &mut r,
                        Status::Tampered,
                        ProblemKind::Altered,
                        path,
                        ln,
                        Some(e.seq),
                        "the first line starts the chain but not at record 1".into(),
                    );
                }
            }
            Some(p) if e.prev != p.hash => {
                // Which line is out of place?
                let pp = paths[p.file].as_path();
                return if prev2_hash.as_deref() == Some(e.prev.as_str()) {
                    fail(
                        &mut r,
                        Status::Tampered,
                        ProblemKind::Inserted,
                        pp,
                        p.line,
                        p.seq,
                        format!(
                            "this line does not belong: {} line {ln} links to the line before it",
                            path.display()
                        ),
                    )
                } else if this_num == expected {
                    fail(
                        &mut r,
                        Status::Tampered,
                        ProblemKind::Altered,
                        pp,
                        p.line,
                        p.seq,
                        format!(
                            "its content does not match the hash recorded by {} line {ln}",
                            path.display()
                        ),
                    )
                } else if this_num > expected {
                    if appears_later(paths, fi, ln, expected) {
                        fail(
                            &mut r,
                            Status::Tampered,
                            ProblemKind::Reordered,
                            path,
                            ln,
                            Some(e.seq),
                            format!("record {} comes before record {expected}", e.seq),
                        )
                    } else {
                        fail(
                            &mut r,
                            Status::Tampered,
                            ProblemKind::Deleted,
                            path,
                            ln,
                            Some(e.seq),
                            format!(
                                "records {expected}..{} are missing before this line",
                                this_num - 1
                            ),
                        )
                    }
                } else {
                    fail(
                        &mut r,
                        Status::Tampered,
                        ProblemKind::Reordered,
                        path,
                        ln,
                        Some(e.seq),
                        format!(
                            "record {} appears again or out of order (expected {expected})",
                            e.seq
                        ),
                    )
                };
            }
            Some(_) => {}
        }
        last_line_is_valid_close = false;
        if e.is_checkpoint() {
            if e.seq + 1 != expected {
                let kind = if e.seq + 1 > expected {
                    ProblemKind::Deleted
                } else {
                    ProblemKind::BadCheckpoint
                };
                return fail(
                    &mut r,
                    Status::Tampered,
                    kind,
                    path,
                    ln,
                    Some(e.seq),
                    format!(
                        "checkpoint covers records up to {} but the last record is {}",
                        e.seq,
                        expected.saturating_sub(1)
                    ),
                );
            }
            let kid = e.kid.clone().unwrap_or_default();
            match keys.iter().find(|k| k.id() == kid) {
                Some(k) => {
                    if !chain::checkpoint_valid(k, &e) {
                        return fail(&mut r, Status::Tampered, ProblemKind::BadCheckpoint, path, ln, Some(e.seq), "checkpoint MAC does not verify: the chain before it was rewritten, or the checkpoint edited".into());
                    }
                    r.checkpoints += 1;
                    let reason = e.reason.unwrap_or(Reason::Interval);
                    if reason == Reason::Start {
                        if let Some(n) = &e.note {
                            if n.get("previousClose") == Some(&serde_json::Value::Bool(false)) {
                                r.notes.push(format!("{} line {ln}: the writer restarted after a crash (no close checkpoint before)", path.display()));
                            }
                            if let Some(b) = n.get("truncatedBytes") {
                                r.notes.push(format!("{} line {ln}: the restart cut off an incomplete line of {b} bytes", path.display()));
                            }
                        }
                    }
                    if reason == Reason::Rekey
                        && last_valid.is_some_and(|(_, _, rr)| rr == Reason::Rekey)
                    {
                        r.notes.push(format!(
                            "{} line {ln}: checkpoint key changed to {kid}",
                            path.display()
                        ));
                    }
                    last_valid = Some((e.seq, e.first.unwrap_or(1), reason));
                    last_line_is_valid_close = reason == Reason::Close;
                    r.verified_through = Some(e.seq);
                    since_valid = 0;
                }
                None => {
                    if !unknown_kids.contains(&kid) {
                        unknown_kids.push(kid);
                    }
                }
            }
        } else {
            if e.seq != expected {
                let kind = if e.seq > expected {
                    ProblemKind::Deleted
                } else {
                    ProblemKind::Inserted
                };
                let detail = if e.seq > expected {
                    format!("records {expected}..{} are missing", e.seq - 1)
                } else {
                    format!("record {} repeats (expected {expected})", e.seq)
                };
                return fail(
                    &mut r,
                    Status::Tampered,
                    kind,
                    path,
                    ln,
                    Some(e.seq),
                    detail,
                );
            }
            r.records += 1;
            r.first_seq.get_or_insert(e.seq);
            r.last_seq = Some(e.seq);
            expected += 1;
            since_valid += 1;
        }
        prev2_hash = prev.map(|p| p.hash);
        prev = Some(Prev {
            file: fi,
            line: ln,
            hash,
            seq: (!e.is_checkpoint()).then_some(e.seq),
        });
    }
    r.files = paths.len();
    if prev.is_none() {
        return fail(
            &mut r,
            Status::Unverifiable,
            ProblemKind::Io,
            &paths[0],
            0,
            None,
            "the files hold no trail lines".into(),
        );
    }
    for k in &unknown_kids {
        r.notes.push(format!(
            "checkpoints under key id {k} could not be checked: no such key given"
        ));
    }
    let (last_file, last_line) = prev
        .as_ref()
        .map(|p| (paths[p.file].clone(), p.line))
        .unwrap_or_default();
    let Some((_, declared_first, _)) = last_valid else {
        if unknown_kids.is_empty() {
            r.status = Status::UnverifiedTail;
            r.unverified_records = since_valid;
            return r;
        }
        return fail(
            &mut r,
            Status::Unverifiable,
            ProblemKind::BadCheckpoint,
            &last_file,
            last_line,
            None,
            "no checkpoint is under a key given (wrong key?)".into(),
        );
    };
    if !genesis && start_seq > declared_first && !opts.allow_partial_start {
        return fail(&mut r, Status::Tampered, ProblemKind::MissingStart, &paths[0], 1, Some(start_seq), format!("the trail keeps records from {declared_first} on, but the files given start at record {start_seq}: earlier segments were deleted or not given"));
    }
    if !genesis && opts.allow_partial_start {
        r.notes.push(format!(
            "verified from record {start_seq} on (partial start allowed)"
        ));
    }
    r.unverified_records = since_valid;
    r.closed = last_line_is_valid_close && !torn_tail;
    r.status = if r.closed {
        Status::Intact
    } else {
        Status::UnverifiedTail
    };
    r
}
