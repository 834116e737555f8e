//! Python's client-side cache, `aws-secretsmanager-caching` (PyPI; module
//! `aws_secretsmanager_caching`), reading through Coffer with a botocore client: a string and a
//! binary secret, then, after PutSecretValue (AWS SDK for Rust), the cached value until the
//! cache is refreshed and the new value after. Skips when `python3` or the package is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use aws_sdk_secretsmanager::primitives::Blob;
use common::{Server, DEV_AK, DEV_SK, PRIMARY};

const SCRIPT: &str = r#"
import json, sys
import botocore.session
from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

endpoint, region, string_id, binary_id = sys.argv[1:5]
client = botocore.session.get_session().create_client(
    "secretsmanager", endpoint_url=endpoint, region_name=region,
    aws_access_key_id="test", aws_secret_access_key="test")
cache = SecretCache(config=SecretCacheConfig(), client=client)

def report(**kw):
    print(json.dumps(kw), flush=True)

report(string=cache.get_secret_string(string_id),
       binary=cache.get_secret_binary(binary_id).hex(),
       again=cache.get_secret_string(string_id))
sys.stdin.readline()  # the test has put a new value
cached = cache.get_secret_string(string_id)
refreshed = cache.refresh_secret_now(string_id)
report(cached=cached, refreshed=refreshed, fresh=cache.get_secret_string(string_id),
       previous=cache.get_secret_string(string_id, "AWSPREVIOUS"))
"#;

fn python_with_package() -> Result<(), String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import botocore, aws_secretsmanager_caching; SC = aws_secretsmanager_caching.SecretCache; assert hasattr(SC, 'refresh_secret_now')",
        ])
        .output()
        .map_err(|e| format!("python3 not runnable ({e})"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "python3 lacks botocore or an aws-secretsmanager-caching with SecretCache.refresh_secret_now (pip install aws-secretsmanager-caching): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[test]
fn python_secret_cache_reads_through_coffer() {
    if let Err(why) = python_with_package() {
        println!("skipping: {why}");
        return;
    }
    let server = Server::dev();
    let sm = server.secrets(PRIMARY);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let binary: Vec<u8> = (0u8..=255).rev().collect();
    rt.block_on(async {
        sm.create_secret()
            .name("py/string")
            .secret_string("first-value")
            .send()
            .await
            .unwrap();
        sm.create_secret()
            .name("py/binary")
            .secret_binary(Blob::new(binary.clone()))
            .send()
            .await
            .unwrap();
    });

    let mut child = Command::new("python3")
        .args([
            "-c",
            SCRIPT,
            &server.endpoint,
            PRIMARY,
            "py/string",
            "py/binary",
        ])
        .env("AWS_ACCESS_KEY_ID", DEV_AK)
        .env("AWS_SECRET_ACCESS_KEY", DEV_SK)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut read_report = || -> serde_json::Value {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("python printed {line:?} ({e})"))
    };

    let first = read_report();
    if first.is_null() {
        let out = child.wait_with_output().unwrap();
        panic!("python failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(first["string"], "first-value");
    assert_eq!(first["again"], "first-value");
    assert_eq!(
        first["binary"].as_str().unwrap(),
        binary
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );

    rt.block_on(async {
        sm.put_secret_value()
            .secret_id("py/string")
            .secret_string("second-value")
            .send()
            .await
            .unwrap();
    });
    stdin.write_all(b"put\n").unwrap();
    stdin.flush().unwrap();

    let second = read_report();
    assert_eq!(
        second["cached"], "first-value",
        "the cache answers from memory until refreshed"
    );
    assert_eq!(second["refreshed"], true);
    assert_eq!(second["fresh"], "second-value");
    assert_eq!(second["previous"], "first-value");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python exited with {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
