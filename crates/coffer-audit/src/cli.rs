//! The logic of `coffer audit verify FILE...`, for the binary to call.

use crate::chain::AuditKey;
use crate::verify::{verify_with, Report, VerifyOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Verifies `paths` with `keys`, prints the report (text, or JSON with `json`) to standard output
/// and returns the exit code: 0 intact, 1 tampered, 2 unverifiable (unreadable file, wrong key),
/// 3 unverified tail (no close checkpoint at the end: a running or crashed server, or a cut).
pub fn verify_command(paths: &[PathBuf], keys: &[AuditKey], json: bool) -> ExitCode {
    verify_command_with(paths, keys, json, VerifyOptions::default())
}

/// [`verify_command`] with options (`--allow-partial-start`).
pub fn verify_command_with(
    paths: &[PathBuf],
    keys: &[AuditKey],
    json: bool,
    opts: VerifyOptions,
) -> ExitCode {
    let report = verify_with(paths, keys, opts);
    let mut out = std::io::stdout().lock();
    let _ = write_report(&mut out, &report, json);
    ExitCode::from(report.exit_code())
}

/// Writes `report` as text or JSON.
pub fn write_report(out: &mut dyn Write, report: &Report, json: bool) -> std::io::Result<()> {
    if json {
        let s = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
        writeln!(out, "{s}")
    } else {
        write!(out, "{report}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reports_print_as_text_and_json() {
        let r = crate::verify::verify(&[], &[]);
        let mut text = Vec::new();
        write_report(&mut text, &r, false).unwrap();
        assert!(String::from_utf8(text).unwrap().starts_with("unverifiable"));
        let mut json = Vec::new();
        write_report(&mut json, &r, true).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["status"], "unverifiable");
        assert_eq!(r.exit_code(), 2);
    }
}
