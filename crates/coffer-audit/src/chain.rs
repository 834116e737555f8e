//! The chain: the on-disk line format (format version 1), the checkpoint MAC and the segment names.
//!
//! Every line of a trail is one JSON object ending in a `coffer` member (CloudTrail readers ignore
//! it):
//!
//! * a **record**: the CloudTrail event's members, then
//!   `"coffer":{"v":1,"seq":N,"prev":"<sha256 hex of the previous line>"}`;
//! * a **checkpoint**: only
//!   `{"coffer":{"v":1,"kind":"checkpoint","seq":N,"prev":"…","first":F,"reason":"…","time":"…","kid":"…","note":…,"mac":"…"}}`,
//!   where `seq` is the last record it covers, `prev` the SHA-256 of the line before it (the chain
//!   head), `first` the lowest record number still kept (retention), `kid` the key's identifier and
//!   `mac` HMAC-SHA256 under the audit key of [`checkpoint_mac_input`].
//!
//! `prev` of the very first line is 64 zeros. A line's hash covers its exact bytes without the
//! newline. Files are segments `STEM.<20-digit number of their first record>.EXT`, so names sort in
//! chain order and the chain runs on from the last line of one segment to the first of the next.

use coffer_crypto::digest;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The line format version.
pub const FORMAT_VERSION: u32 = 1;

/// `prev` of the first line of a trail.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key under which checkpoints are MACed. The caller derives it from the root key, e.g.
/// `AuditKey::new(root_key.fingerprint("audit/checkpoint", b"v1"))`.
#[derive(Clone)]
pub struct AuditKey {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl AuditKey {
    /// A key from 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        let key = Zeroizing::new(bytes);
        let id = hex(&digest::hmac_sha256(&key[..], b"coffer/audit/key-id/v1")[..8]);
        Self { key, id }
    }

    /// The key's public identifier (16 hex digits): names the key in checkpoints, reveals nothing.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn mac(&self, data: &[u8]) -> [u8; 32] {
        digest::hmac_sha256(&self.key[..], data)
    }

    pub(crate) fn verify(&self, data: &[u8], mac_hex: &str) -> bool {
        digest::constant_time_eq(hex(&self.mac(data)).as_bytes(), mac_hex.as_bytes())
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditKey({})", self.id)
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// SHA-256 hex of one line (without its newline).
pub(crate) fn line_hash(line: &[u8]) -> String {
    digest::sha256_hex(line)
}

/// Why a checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Every `checkpoint_every` records or `checkpoint_interval`.
    Interval,
    /// The writer opened the trail (after a clean close or a crash).
    Start,
    /// The segment is full; the next line is in a new segment.
    Rotate,
    /// Old segments were deleted by retention; `first` moved.
    Prune,
    /// The checkpoint key changed (root-key rotation); one under the old key, one under the new.
    Rekey,
    /// Asked for explicitly.
    Forced,
    /// The trail was closed cleanly: nothing follows.
    Close,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Interval => "interval",
            Reason::Start => "start",
            Reason::Rotate => "rotate",
            Reason::Prune => "prune",
            Reason::Rekey => "rekey",
            Reason::Forced => "forced",
            Reason::Close => "close",
        }
    }
}

/// The `coffer` member of a line, as parsed back.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Ext {
    pub v: u32,
    #[serde(default)]
    pub kind: Option<String>,
    pub seq: u64,
    pub prev: String,
    #[serde(default)]
    pub first: Option<u64>,
    #[serde(default)]
    pub reason: Option<Reason>,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub note: Option<serde_json::Value>,
    #[serde(default)]
    pub mac: Option<String>,
}

impl Ext {
    pub(crate) fn is_checkpoint(&self) -> bool {
        self.kind.as_deref() == Some("checkpoint")
    }
}

/// Just the `coffer` member of a line (the rest is skipped).
#[derive(Debug, Deserialize)]
pub(crate) struct LineHead {
    pub coffer: Ext,
}

/// What a checkpoint's MAC covers.
pub(crate) fn checkpoint_mac_input(
    seq: u64,
    prev: &str,
    first: u64,
    reason: Reason,
    time: &str,
    kid: &str,
    note: &str,
) -> Vec<u8> {
    format!(
        "coffer-audit/checkpoint/v1\n{seq}\n{prev}\n{first}\n{}\n{time}\n{kid}\n{note}",
        reason.as_str()
    )
    .into_bytes()
}

/// Builds a checkpoint line (without newline).
pub(crate) fn checkpoint_line(
    key: &AuditKey,
    seq: u64,
    prev: &str,
    first: u64,
    reason: Reason,
    time: &str,
    note: Option<&serde_json::Value>,
) -> String {
    let note_s = note.map(|n| n.to_string()).unwrap_or_default();
    let mac = hex(&key.mac(&checkpoint_mac_input(
        seq,
        prev,
        first,
        reason,
        time,
        key.id(),
        &note_s,
    )));
    let note_part = if note_s.is_empty() {
        String::new()
    } else {
        format!(",\"note\":{note_s}")
    };
    format!(
        "{{\"coffer\":{{\"v\":{FORMAT_VERSION},\"kind\":\"checkpoint\",\"seq\":{seq},\"prev\":\"{prev}\",\"first\":{first},\"reason\":\"{}\",\"time\":\"{time}\",\"kid\":\"{}\"{note_part},\"mac\":\"{mac}\"}}}}",
        reason.as_str(),
        key.id()
    )
}

/// Checks a parsed checkpoint's MAC under `key`.
pub(crate) fn checkpoint_valid(key: &AuditKey, ext: &Ext) -> bool {
    let (Some(first), Some(reason), Some(time), Some(kid), Some(mac)) = (
        ext.first,
        ext.reason,
        ext.time.as_deref(),
        ext.kid.as_deref(),
        ext.mac.as_deref(),
    ) else {
        return false;
    };
    let note_s = ext.note.as_ref().map(|n| n.to_string()).unwrap_or_default();
    key.verify(
        &checkpoint_mac_input(ext.seq, &ext.prev, first, reason, time, kid, &note_s),
        mac,
    )
}

/// Appends the chain member to a serialized event (`{…}`), giving the record line.
pub(crate) fn record_line(event_json: &str, seq: u64, prev: &str) -> String {
    let body = event_json.strip_suffix('}').unwrap_or(event_json);
    let mut line = String::with_capacity(body.len() + 120);
    line.push_str(body);
    line.push_str(",\"coffer\":{\"v\":1,\"seq\":");
    line.push_str(&seq.to_string());
    line.push_str(",\"prev\":\"");
    line.push_str(prev);
    line.push_str("\"}}");
    line
}

/// The segment naming of a trail configured as `file = DIR/STEM.EXT`.
#[derive(Debug, Clone)]
pub struct Segments {
    dir: PathBuf,
    stem: String,
    ext: String,
}

impl Segments {
    /// The naming for `file` (`/var/lib/coffer/audit.jsonl` → `audit.00000000000000000001.jsonl`, …).
    pub fn new(file: &Path) -> Self {
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audit.jsonl".to_owned());
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_owned(), e.to_owned()),
            _ => (name.clone(), "jsonl".to_owned()),
        };
        Self { dir, stem, ext }
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the segment whose first record is `seq`.
    pub fn path(&self, seq: u64) -> PathBuf {
        self.dir
            .join(format!("{}.{seq:020}.{}", self.stem, self.ext))
    }

    /// The first-record number of a segment file name, if `name` is one of this trail's.
    pub fn parse(&self, name: &str) -> Option<u64> {
        let rest = name.strip_prefix(&self.stem)?.strip_prefix('.')?;
        let num = rest.strip_suffix(&self.ext)?.strip_suffix('.')?;
        if num.len() == 20 && num.bytes().all(|b| b.is_ascii_digit()) {
            num.parse().ok()
        } else {
            None
        }
    }

    /// The trail's segments on disk, oldest first.
    pub fn list(&self) -> std::io::Result<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            if let Some(seq) = self.parse(&entry.file_name().to_string_lossy()) {
                out.push((seq, entry.path()));
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_roundtrip_and_tamper() {
        let key = AuditKey::new([7; 32]);
        let note = serde_json::json!({"recovered": true});
        let line = checkpoint_line(
            &key,
            5,
            GENESIS,
            1,
            Reason::Start,
            "2025-01-01T00:00:00Z",
            Some(&note),
        );
        let head: LineHead = serde_json::from_str(&line).unwrap();
        assert!(head.coffer.is_checkpoint());
        assert!(checkpoint_valid(&key, &head.coffer));
        assert!(!checkpoint_valid(&AuditKey::new([8; 32]), &head.coffer));
        let mut e = head.coffer.clone();
        e.seq = 6;
        assert!(!checkpoint_valid(&key, &e));
        let mut e = head.coffer.clone();
        e.note = None;
        assert!(!checkpoint_valid(&key, &e));
        assert_eq!(key.id().len(), 16);
        assert!(!format!("{key:?}").contains("0707"));
    }

    #[test]
    fn record_lines_parse() {
        let l = record_line("{\"eventName\":\"Decrypt\"}", 3, GENESIS);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["eventName"], "Decrypt");
        assert_eq!(v["coffer"]["seq"], 3);
        let h: LineHead = serde_json::from_str(&l).unwrap();
        assert!(!h.coffer.is_checkpoint());
    }

    #[test]
    fn segment_names_sort_in_order() {
        let s = Segments::new(Path::new("/var/log/coffer/audit.jsonl"));
        let a = s.path(1);
        let b = s.path(1234);
        assert!(a < b);
        assert_eq!(a.file_name().unwrap(), "audit.00000000000000000001.jsonl");
        assert_eq!(s.parse("audit.00000000000000001234.jsonl"), Some(1234));
        assert_eq!(s.parse("audit.jsonl"), None);
        assert_eq!(s.parse("other.00000000000000001234.jsonl"), None);
        let bare = Segments::new(Path::new("trail"));
        assert_eq!(
            bare.path(2),
            PathBuf::from("./trail.00000000000000000002.jsonl")
        );
    }
}
