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

/// A console sign-in over plain HTTP: the session cookie (`name=value`), or the status.
fn sign_in(server: &Server, ak: &str, sk: &str) -> Result<String, u16> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("access_key_id", ak)
        .append_pair("secret_access_key", sk)
        .append_pair("session_token", "")
        .finish();
    let origin = format!("http://{}", server.addr);
    let resp = server.raw(
        "POST",
        "/_coffer/ui/sign-in",
        &[
            ("origin", &origin),
            ("content-type", "application/x-www-form-urlencoded"),
            ("user-agent", "console-test"),
        ],
        body.as_bytes(),
    );
    match resp.header("set-cookie") {
        Some(c) if resp.status == 303 => Ok(c.split(';').next().unwrap_or_default().to_string()),
        _ => Err(resp.status),
    }
}

/// GET a console page with the session cookie: its status.
fn page_status(server: &Server, path: &str, cookie: &str) -> u16 {
    server.raw("GET", path, &[("cookie", cookie)], b"").status
}

/// Signs out through `server` (the form's CSRF token read from a page).
fn sign_out(server: &Server, cookie: &str) {
    let page = server.raw("GET", "/_coffer/ui/health", &[("cookie", cookie)], b"");
    let html = String::from_utf8_lossy(&page.body);
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSRF token on the page");
    let origin = format!("http://{}", server.addr);
    let resp = server.raw(
        "POST",
        "/_coffer/ui/sign-out",
        &[
            ("cookie", cookie),
            ("origin", &origin),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(resp.status, 303, "sign-out");
}

/// Every record in the server's audit trail files.
fn trail(server: &Server) -> Vec<serde_json::Value> {
    let dir = server.dir().join("audit");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the audit directory") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        out.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()),
        );
    }
    out
}

/// Sign-ins are CloudTrail `ConsoleLogin` events (success and failure, no secret in them), and
/// a session is a record in the store: it survives a restart, and sign-out ends it.
#[test]
fn sign_ins_are_audited_and_sessions_outlive_a_restart() {
    let mut server = Server::start(Options {
        config: Some("[audit]\nfile = \"audit/trail.jsonl\"\n".into()),
        ..Options::default()
    });
    let (ak, sk) = server.root_credentials();
    assert_eq!(sign_in(&server, &ak, "not-the-secret"), Err(401));
    assert_eq!(sign_in(&server, "AKIATYPEDASECRET0000", &sk), Err(401));
    let cookie = sign_in(&server, &ak, &sk).expect("the root's key signs in");
    assert_eq!(
        page_status(&server, "/_coffer/ui/eu-west-1/keys", &cookie),
        200
    );

    // The trail is complete on disk once the server has stopped.
    server.terminate();
    let logins: Vec<_> = trail(&server)
        .into_iter()
        .filter(|e| e["eventName"] == "ConsoleLogin")
        .collect();
    assert_eq!(logins.len(), 3, "{logins:#?}");
    for e in &logins {
        assert_eq!(e["eventSource"], "signin.amazonaws.com");
        assert_eq!(e["eventType"], "AwsConsoleSignIn");
        assert_eq!(e["awsRegion"], "us-east-1");
        assert!(e["userAgent"]
            .as_str()
            .unwrap()
            .starts_with("coffer-console/"));
        assert!(!e.to_string().contains(&sk), "a secret in the trail: {e}");
    }
    let outcome = |e: &serde_json::Value| e["responseElements"]["ConsoleLogin"].clone();
    assert_eq!(outcome(&logins[0]), "Failure");
    assert_eq!(logins[0]["errorMessage"], "Failed authentication");
    assert_eq!(logins[0]["userIdentity"]["accessKeyId"], ak.as_str());
    // An unknown key may be a secret typed into the wrong field: it is not written down.
    assert_eq!(outcome(&logins[1]), "Failure");
    assert!(!logins[1].to_string().contains("AKIATYPEDASECRET0000"));
    assert_eq!(
        logins[1]["userIdentity"]["userName"],
        "HIDDEN_DUE_TO_SECURITY_REASONS"
    );
    assert_eq!(outcome(&logins[2]), "Success");
    assert_eq!(logins[2]["userIdentity"]["type"], "Root");
    assert!(logins[2]["errorMessage"].is_null());

    server.start_again();
    assert_eq!(
        page_status(&server, "/_coffer/ui/eu-west-1/keys", &cookie),
        200,
        "the session survives a restart: {}",
        server.log()
    );
    sign_out(&server, &cookie);
    assert_eq!(
        page_status(&server, "/_coffer/ui/eu-west-1/keys", &cookie),
        303
    );
}

/// Two nodes on one PostgreSQL: a browser signed in through one is signed in on the other, and
/// signing out on either ends it on both (no sticky routing needed behind a load balancer).
#[test]
fn a_sign_in_works_through_every_node() {
    let Some(url) = common::pg_url() else {
        println!("skipping: COFFER_TEST_POSTGRES_URL is not set (.ci/postgres starts one)");
        return;
    };
    let schema = common::unique("console")
        .to_ascii_lowercase()
        .replace('-', "_");
    let config = format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\n");
    let first = Server::start(Options {
        config: Some(config.clone()),
        ..Options::default()
    });
    let second = Server::start(Options {
        config: Some(config),
        data_from: Some(first.data_dir.clone()),
        ..Options::default()
    });
    let (ak, sk) = first.root_credentials();
    let cookie = sign_in(&first, &ak, &sk).expect("signs in on the first node");
    assert_eq!(
        page_status(&second, "/_coffer/ui/eu-west-1/keys", &cookie),
        200
    );
    sign_out(&second, &cookie);
    assert_eq!(
        page_status(&first, "/_coffer/ui/eu-west-1/keys", &cookie),
        303
    );
}

/// A filter the API lacks reads ListKeys on until a page of matches is found: two disabled keys
/// among sixty are both on the first filtered page.
#[tokio::test]
async fn a_key_filter_reads_past_the_first_list_page() {
    let server = Server::dev();
    let kms = server.kms("eu-west-1");
    let mut disabled = Vec::new();
    for i in 0..60 {
        let id = kms
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id;
        if i == 3 || i == 55 {
            kms.disable_key().key_id(&id).send().await.unwrap();
            disabled.push(id);
        }
    }
    let cookie = sign_in(&server, "test", "test").expect("dev credentials sign in");
    let page = server.raw(
        "GET",
        "/_coffer/ui/eu-west-1/keys?state=Disabled",
        &[("cookie", &cookie)],
        b"",
    );
    let html = String::from_utf8_lossy(&page.body);
    assert_eq!(page.status, 200, "{html}");
    for id in &disabled {
        assert!(
            html.contains(id.as_str()),
            "{id} is not on the filtered page"
        );
    }
    assert!(html.contains("2 matching of 60 keys examined."), "{html}");
    assert!(
        !html.contains("rel=\"next\""),
        "no next page after the last key"
    );
}
