//! Terraform with the provider mirror at /opt/tf-plugins, isolated from the user's settings:
//! the seed configuration (tests/terraform/seed) in a fresh directory.

use super::*;
use std::process::Output;

/// Whether `terraform` and the provider mirror are on this machine.
pub fn terraform_available() -> bool {
    Command::new("terraform")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
        && Path::new("/opt/tf-plugins").is_dir()
}

pub fn seed_dir() -> PathBuf {
    repo_root().join("tests/terraform/seed")
}

pub struct Tf {
    pub dir: tempfile::TempDir,
    pub rc: PathBuf,
    pub vars: Vec<String>,
}

impl Tf {
    pub fn new(vars: Vec<String>) -> Tf {
        let dir = tempfile::Builder::new()
            .prefix("coffer-tf-")
            .tempdir()
            .unwrap();
        std::fs::copy(seed_dir().join("main.tf"), dir.path().join("main.tf"))
            .expect("copy tests/terraform/seed/main.tf");
        let rc = dir.path().join("terraformrc");
        std::fs::copy(seed_dir().join("terraformrc"), &rc).expect("copy terraformrc");
        Tf { dir, rc, vars }
    }

    pub fn run(&self, args: &[&str], with_vars: bool) -> Output {
        let mut cmd = Command::new("timeout");
        cmd.arg("-k").arg("10").arg("900").arg("terraform");
        cmd.args(args);
        if with_vars {
            for v in &self.vars {
                cmd.arg("-var").arg(v);
            }
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("TF_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", &self.rc)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            .output()
            .expect("run terraform")
    }

    #[track_caller]
    pub fn ok(&self, server: &Server, args: &[&str], with_vars: bool) -> String {
        let out = self.run(args, with_vars);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "terraform {} failed ({}):\n--- stdout (tail) ---\n{}\n--- stderr ---\n{}\n--- coffer log (tail) ---\n{}",
            args.join(" "),
            out.status,
            tail(&stdout, 12000),
            tail(&stderr, 8000),
            tail(&server.log(), 6000)
        );
        stdout
    }
}
