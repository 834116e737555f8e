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

struct LineInfo {
    file: usize,
    line: u64,
    hash: String,
    ext: Ext,
}

/// Verifies the trail made of `paths` (segments in chain order, as a shell glob sorts them) with
/// the checkpoint `keys` (every key the trail was written under; see [`crate::AuditLog::rekey`]).
pub fn verify(paths: &[PathBuf], keys: &[AuditKey]) -> Report {
    verify_with(paths, keys, VerifyOptions::default())
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
    let fail = |r: &mut Report,
                status: Status,
                kind: ProblemKind,
                file: &Path,
                line: u64,
                seq: Option<u64>,
                detail: String| {
        r.status = status;
        r.problem = Some(Problem {
            kind,
            file: file.to_path_buf(),
            line,
            seq,
            detail,
        });
    };
    if paths.is_empty() {
        fail(
            &mut r,
            Status::Unverifiable,
            ProblemKind::Io,
            Path::new(""),
            0,
            None,
            "no files given".into(),
        );
        return r;
    }
    // Pass 1: read every line's hash and chain member.
    let mut lines: Vec<LineInfo> = Vec::new();
    let mut torn_tail = false;
    for (fi, path) in paths.iter().enumerate() {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                fail(
                    &mut r,
                    Status::Unverifiable,
                    ProblemKind::Io,
                    path,
                    0,
                    None,
                    e.to_string(),
                );
                return r;
            }
        };
        r.files += 1;
        let last_file = fi + 1 == paths.len();
        let mut rest = &data[..];
        let mut ln = 0u64;
        while !rest.is_empty() {
            ln += 1;
            let (line, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(p) => {
                    let l = &rest[..p];
                    rest = &rest[p + 1..];
                    (l, true)
                }
                None => {
                    let l = rest;
                    rest = &[];
                    (l, false)
                }
            };
            if !complete {
                if last_file {
                    torn_tail = true;
                    r.notes.push(format!("{} ends in an incomplete line {ln} ({} bytes): a crash while writing, or a cut", path.display(), line.len()));
                    break;
                }
                fail(
                    &mut r,
                    Status::Tampered,
                    ProblemKind::Truncated,
                    path,
                    ln,
                    None,
                    "incomplete line in the middle of the trail".into(),
                );
                return r;
            }
            let head = std::str::from_utf8(line)
                .ok()
                .and_then(|t| serde_json::from_str::<chain::LineHead>(t).ok());
            let Some(head) = head else {
                fail(
                    &mut r,
                    Status::Tampered,
                    ProblemKind::Malformed,
                    path,
                    ln,
                    None,
                    "not an audit trail line (no valid `coffer` member)".into(),
                );
                return r;
            };
            if head.coffer.v != chain::FORMAT_VERSION {
                fail(
                    &mut r,
                    Status::Tampered,
                    ProblemKind::Malformed,
                    path,
                    ln,
                    Some(head.coffer.seq),
                    format!("unknown format version {}", head.coffer.v),
                );
                return r;
            }
            lines.push(LineInfo {
                file: fi,
                line: ln,
                hash: chain::line_hash(line),
                ext: head.coffer,
            });
        }
    }
    if lines.is_empty() {
        fail(
            &mut r,
            Status::Unverifiable,
            ProblemKind::Io,
            &paths[0],
            0,
            None,
            "the files hold no trail lines".into(),
        );
        return r;
    }
    // Pass 2: the chain.
    let at = |i: usize| -> (&Path, u64) { (paths[lines[i].file].as_path(), lines[i].line) };
    let genesis = lines[0].ext.prev == GENESIS;
    let start_seq = if lines[0].ext.is_checkpoint() {
        lines[0].ext.seq + 1
    } else {
        lines[0].ext.seq
    };
    if genesis && start_seq != 1 {
        let (p, l) = at(0);
        fail(
            &mut r,
            Status::Tampered,
            ProblemKind::Altered,
            p,
            l,
            Some(lines[0].ext.seq),
            "the first line starts the chain but not at record 1".into(),
        );
        return r;
    }
    let mut expected = start_seq; // the next record's number
    let mut last_valid: Option<(u64, u64, Reason)> = None; // (seq, first, reason)
    let mut unknown_kids: Vec<String> = Vec::new();
    let mut since_valid = 0u64;
    for i in 0..lines.len() {
        let e = &lines[i].ext;
        let (path, ln) = at(i);
        if i > 0 && e.prev != lines[i - 1].hash {
            // Which line is out of place?
            let (pp, pl) = at(i - 1);
            let prev_seq = if lines[i - 1].ext.is_checkpoint() {
                None
            } else {
                Some(lines[i - 1].ext.seq)
            };
            let this_num = if e.is_checkpoint() { e.seq + 1 } else { e.seq };
            if i >= 2 && e.prev == lines[i - 2].hash {
                fail(
                    &mut r,
                    Status::Tampered,
                    ProblemKind::Inserted,
                    pp,
                    pl,
                    prev_seq,
                    format!(
                        "this line does not belong: {} line {ln} links to the line before it",
                        path.display()
                    ),
                );
            } else if this_num == expected {
                fail(
                    &mut r,
                    Status::Tampered,
                    ProblemKind::Altered,
                    pp,
                    pl,
                    prev_seq,
                    format!(
                        "its content does not match the hash recorded by {} line {ln}",
                        path.display()
                    ),
                );
            } else if this_num > expected {
                let later = lines[i..]
                    .iter()
                    .any(|l| !l.ext.is_checkpoint() && l.ext.seq == expected);
                if later {
                    fail(
                        &mut r,
                        Status::Tampered,
                        ProblemKind::Reordered,
                        path,
                        ln,
                        Some(e.seq),
                        format!("record {} comes before record {expected}", e.seq),
                    );
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
                    );
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
                );
            }
            return r;
        }
        if e.is_checkpoint() {
            if e.seq + 1 != expected {
                let kind = if e.seq + 1 > expected {
                    ProblemKind::Deleted
                } else {
                    ProblemKind::BadCheckpoint
                };
                fail(
                    &mut r,
                    Status::Tampered,
                    kind,
                    path,
                    ln,
                    Some(e.seq),
                    format!(
                        "checkpoint covers records up to {} but the last record is {}",
                        e.seq,
                        expected - 1
                    ),
                );
                return r;
            }
            let kid = e.kid.clone().unwrap_or_default();
            match keys.iter().find(|k| k.id() == kid) {
                Some(k) => {
                    if !chain::checkpoint_valid(k, e) {
                        fail(&mut r, Status::Tampered, ProblemKind::BadCheckpoint, path, ln, Some(e.seq), "checkpoint MAC does not verify: the chain before it was rewritten, or the checkpoint edited".into());
                        return r;
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
                fail(
                    &mut r,
                    Status::Tampered,
                    kind,
                    path,
                    ln,
                    Some(e.seq),
                    detail,
                );
                return r;
            }
            r.records += 1;
            r.first_seq.get_or_insert(e.seq);
            r.last_seq = Some(e.seq);
            expected += 1;
            since_valid += 1;
        }
    }
    for k in &unknown_kids {
        r.notes.push(format!(
            "checkpoints under key id {k} could not be checked: no such key given"
        ));
    }
    let Some((_, declared_first, last_reason)) = last_valid else {
        let (p, l) = at(lines.len() - 1);
        let status = if unknown_kids.is_empty() {
            Status::UnverifiedTail
        } else {
            Status::Unverifiable
        };
        if status == Status::Unverifiable {
            fail(
                &mut r,
                status,
                ProblemKind::BadCheckpoint,
                p,
                l,
                None,
                "no checkpoint is under a key given (wrong key?)".into(),
            );
        } else {
            r.status = status;
            r.unverified_records = since_valid;
        }
        return r;
    };
    if !genesis && start_seq > declared_first && !opts.allow_partial_start {
        let (p, l) = at(0);
        fail(&mut r, Status::Tampered, ProblemKind::MissingStart, p, l, Some(start_seq), format!("the trail keeps records from {declared_first} on, but the files given start at record {start_seq}: earlier segments were deleted or not given"));
        return r;
    }
    if !genesis && opts.allow_partial_start {
        r.notes.push(format!(
            "verified from record {start_seq} on (partial start allowed)"
        ));
    }
    r.unverified_records = since_valid;
    let last_line_valid_close = since_valid == 0
        && last_reason == Reason::Close
        && lines
            .last()
            .is_some_and(|l| l.ext.is_checkpoint() && Some(l.ext.seq) == r.verified_through);
    r.closed = last_line_valid_close && !torn_tail;
    r.status = if r.closed {
        Status::Intact
    } else {
        Status::UnverifiedTail
    };
    r
}
