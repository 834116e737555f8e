//! Reading the audit trail a test server writes (`[audit] file = "audit/trail.jsonl"`).

use super::Server;
use serde_json::Value;
use std::path::PathBuf;

/// The trail's segment files, in chain order.
pub fn segments(server: &Server) -> Vec<PathBuf> {
    let dir = server.dir().join("audit");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("trail.") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no trail segments in {}", dir.display());
    files
}

/// Every CloudTrail record of the trail (checkpoint lines left out).
pub fn records(server: &Server) -> Vec<Value> {
    segments(server)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|v| v.get("eventName").is_some())
        .collect()
}

/// The records with this source, name and error code (`None`: succeeded).
pub fn find<'a>(
    records: &'a [Value],
    source: &str,
    name: &str,
    error: Option<&str>,
) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| {
            r["eventSource"] == source
                && r["eventName"] == name
                && r.get("errorCode").and_then(Value::as_str) == error
        })
        .collect()
}
