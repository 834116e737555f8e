//! A Python with a botocore new enough for the Secrets Manager operations the AWS SDK for Rust and
//! the machine's awscli do not have yet (AssociateCrossAccountReplica,
//! DisassociateCrossAccountReplica, ListResourcePolicies, `PolicyName`, …): botocore 1.44.8 in
//! the virtualenv `.ci/run` makes. Tests that need it print `skipping: …` when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtualenv `.ci/run` creates, relative to `$HOME`.
pub const VENV: &str = ".cache/coffer-botocore-venv";

/// The Python to use: `COFFER_TEST_BOTOCORE_PYTHON`, else
/// `$HOME/.cache/coffer-botocore-venv/bin/python`, provided its botocore's Secrets Manager model
/// has `AssociateCrossAccountReplica`. `Err` says why not, for a `skipping: …` line.
pub fn python() -> Result<PathBuf, String> {
    let python = match std::env::var_os("COFFER_TEST_BOTOCORE_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let home = std::env::var_os("HOME")
                .ok_or("neither COFFER_TEST_BOTOCORE_PYTHON nor HOME is set")?;
            PathBuf::from(home).join(VENV).join("bin/python")
        }
    };
    let check = "import botocore, botocore.session\n\
                 model = botocore.session.get_session().get_service_model('secretsmanager')\n\
                 ops = model.operation_names\n\
                 print(botocore.__version__)\n\
                 raise SystemExit(0 if 'AssociateCrossAccountReplica' in ops else 3)";
    let out = Command::new(&python)
        .args(["-c", check])
        .output()
        .map_err(|e| {
            format!(
                "{} not runnable ({e}); .ci/run creates it (botocore 1.44.8), or set COFFER_TEST_BOTOCORE_PYTHON",
                python.display()
            )
        })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match out.status.code() {
        Some(0) => Ok(python),
        Some(3) => Err(format!(
            "botocore {version} of {} predates AssociateCrossAccountReplica (need botocore >= 1.44.8)",
            python.display()
        )),
        _ => Err(format!(
            "{} has no usable botocore: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Runs `script` with `python`, arguments `args`, no AWS configuration from the environment, and
/// parses the JSON document it prints last on stdout. Panics (with its stderr) when it exits
/// non-zero or prints no JSON.
pub fn run_json(python: &Path, script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python exited with {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("python printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}"))
}
