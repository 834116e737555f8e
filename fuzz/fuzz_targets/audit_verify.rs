//! The audit-trail verifier reading an arbitrary segment file: a report, never a panic.
#![no_main]

use coffer_audit::AuditKey;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("coffer-fuzz-audit-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    });
    let path = dir.join("trail-000001.jsonl");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let keys = [AuditKey::new([9u8; 32])];
    let report = coffer_audit::verify::verify(&[path], &keys);
    let _ = report.exit_code();
});
