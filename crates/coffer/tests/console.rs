//! The web console in a real browser: headless Chromium driven through chromedriver by
//! selenium (tests/console/browser.py). It signs in, creates a multi-Region key and its replica,
//! creates a secret replicated under it, reveals the value, finds the reveal in the audit view,
//! checks every page's CSP, caching and size, that no page answers the value without the
//! explicit reveal, and that a user whose policy allows only KMS is refused the secrets page.
//! With `COFFER_UI_SCREENSHOTS=DIR` it saves screenshots of the main pages there (docs/ui/).
//! Skips when Chromium, chromedriver, selenium or boto3 is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Options, Server};
use std::process::Command;

fn browser_missing() -> Option<String> {
    for bin in ["/usr/bin/chromedriver", "/usr/bin/chromium"] {
        if !std::path::Path::new(bin).exists() {
            return Some(format!(
                "{bin} is missing (Debian: chromium chromium-driver)"
            ));
        }
    }
    match Command::new("python3")
        .args(["-c", "import selenium, boto3"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "python3 lacks selenium or boto3 (pip install selenium boto3): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("python3 not runnable ({e})")),
    }
}

#[test]
fn console_in_a_real_browser() {
    if let Some(why) = browser_missing() {
        println!("skipping: {why}");
        return;
    }
    let server = Server::start(Options {
        dev: true,
        config: Some("[audit]\nfile = \"audit/trail.jsonl\"\n".into()),
        ..Options::default()
    });
    let script = common::repo_root().join("crates/coffer/tests/console/browser.py");
    let shots = std::env::var("COFFER_UI_SCREENSHOTS").unwrap_or_default();
    let out = Command::new("python3")
        .arg(&script)
        .arg(&server.endpoint)
        .arg(&shots)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("\"ok\": true"),
        "browser checks failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
}
