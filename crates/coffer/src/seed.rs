//! Seed files (ADR 0016): a declarative state applied at every start, idempotently, through the
//! domain services: per account, IAM managed policies, roles and their attachments; per region,
//! KMS keys (fixed IDs, imported or test-seeded material, rotation, replicas, aliases), aliases
//! and secrets. `coffer seed check FILE` validates a file without starting a server (it applies
//! it to a scratch in-memory deployment).
//!
//! A second start with the same file changes nothing; a changed file updates what changed (each
//! change is logged); a conflict stops start-up with a message naming the entry and its line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use coffer_http::Coffer;
use coffer_kms::seed::{SeedKey, SeedMaterial, SeedRotation};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The seed-file format this build reads.
pub const SEED_VERSION: u32 = 1;

/// A seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    /// The format version: 1.
    pub version: u32,
    /// By 12-digit account ID.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountSeed>,
}

/// One account.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSeed {
    /// IAM (global to the account).
    #[serde(default)]
    pub iam: IamSeed,
    /// By region name.
    #[serde(default)]
    pub regions: BTreeMap<String, RegionSeed>,
}

/// An account's IAM.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamSeed {
    /// Customer managed policies.
    #[serde(default)]
    pub policies: Vec<PolicySeed>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<RoleSeed>,
}

/// A customer managed policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySeed {
    /// `PolicyName`.
    pub name: String,
    /// `Path` (default `/`).
    pub path: Option<String>,
    /// `Description` (set at creation only, as in AWS).
    pub description: Option<String>,
    /// The policy document (a string or an object).
    pub document: serde_json::Value,
}

/// A role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSeed {
    /// `RoleName`.
    pub name: String,
    /// `Path` (default `/`).
    pub path: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// The trust policy (a string or an object).
    pub assume_role_policy: serde_json::Value,
    /// `MaxSessionDuration`, seconds.
    pub max_session_duration: Option<i64>,
    /// Tags, exactly.
    pub tags: Option<BTreeMap<String, String>>,
    /// Attached managed policies: names of this file's policies, or ARNs.
    #[serde(default)]
    pub policies: Vec<String>,
}

/// One region of an account.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSeed {
    /// KMS keys.
    #[serde(default)]
    pub keys: Vec<KeySeed>,
    /// Further aliases: `alias/name` → a key ID or another alias.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Secrets.
    #[serde(default)]
    pub secrets: Vec<SecretSeed>,
}

/// A KMS key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySeed {
    /// A fixed key ID: a UUID, or `mrk-` and 32 hex digits (a multi-Region key).
    pub id: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `KeySpec` (default `SYMMETRIC_DEFAULT`).
    pub spec: Option<String>,
    /// `KeyUsage`.
    pub usage: Option<String>,
    /// `AWS_KMS` (default) or `EXTERNAL` (imported material; waits for it without `material`).
    pub origin: Option<String>,
    /// The key policy (a string or an object).
    pub policy: Option<serde_json::Value>,
    /// Tags, exactly.
    pub tags: Option<BTreeMap<String, String>>,
    /// Automatic rotation.
    pub rotation: Option<RotationSeed>,
    /// A multi-Region key (implied by an `mrk-` ID).
    pub multi_region: Option<bool>,
    /// Regions of its replicas.
    #[serde(default)]
    pub replicas: Vec<String>,
    /// Its aliases (`alias/…`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Fixed key material.
    pub material: Option<MaterialSeed>,
}

/// Automatic rotation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationSeed {
    /// On or off.
    pub enabled: bool,
    /// 90 to 2560 days.
    pub period_days: Option<i64>,
}

/// Key material: exactly one of the fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSeed {
    /// Imported material (origin `EXTERNAL`), base64.
    pub base64: Option<String>,
    /// Imported material (origin `EXTERNAL`) in this file (raw bytes), relative to the seed
    /// file.
    pub file: Option<PathBuf>,
    /// Imported material (origin `EXTERNAL`), base64 in this environment variable.
    pub env: Option<String>,
    /// TEST ONLY: origin `AWS_KMS` material derived from this string (symmetric and HMAC
    /// keys, fixed ID required). Whoever reads the seed file has the key.
    pub test_seed: Option<String>,
}

/// A secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSeed {
    /// `Name`.
    pub name: String,
    /// `Description`.
    pub description: Option<String>,
    /// The KMS key (ID, ARN or alias) its values are encrypted under.
    pub kms_key: Option<String>,
    /// Its current value.
    pub value: Option<ValueSeed>,
    /// Replica regions (with their KMS key, optionally).
    #[serde(default)]
    pub replicas: Vec<ReplicaSeed>,
    /// The resource policy (a string or an object).
    pub policy: Option<serde_json::Value>,
    /// Tags, exactly.
    pub tags: Option<BTreeMap<String, String>>,
    /// Rotation settings (RotateSecret's, without rotating at start).
    pub rotation: Option<SecretRotationSeed>,
}

/// A secret's rotation: `RotationLambdaARN` and `RotationRules`. Applied without rotating or
/// testing; the scheduler rotates in the first window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRotationSeed {
    /// On (default) or off (CancelRotateSecret).
    #[serde(default = "on")]
    pub enabled: bool,
    /// `RotationLambdaARN`: the ARN of a rotator of the `[rotators]` configuration.
    pub function: Option<String>,
    /// `AutomaticallyAfterDays`, 1 to 1000.
    pub after_days: Option<i64>,
    /// `ScheduleExpression`: `rate(N days)`, `rate(N hours)` or `cron(...)`.
    pub schedule: Option<String>,
    /// `Duration`: the rotation window, `[0-9]+h`.
    pub duration: Option<String>,
}

fn on() -> bool {
    true
}

/// A replica: a region name, or a region with a KMS key.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ReplicaSeed {
    /// `eu-west-1`.
    Region(String),
    /// `{region: eu-west-1, kms_key: alias/x}`.
    WithKey {
        /// The region.
        region: String,
        /// Its KMS key.
        kms_key: Option<String>,
    },
}

impl ReplicaSeed {
    fn region(&self) -> &str {
        match self {
            ReplicaSeed::Region(r) | ReplicaSeed::WithKey { region: r, .. } => r,
        }
    }
}

/// A secret value: exactly one of the fields.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ValueSeed {
    /// `SecretString`, inline.
    pub string: Option<String>,
    /// `SecretString` as JSON of this object.
    pub json: Option<serde_json::Value>,
    /// `SecretString` from this environment variable.
    pub env: Option<String>,
    /// `SecretString` from this file (relative to the seed file).
    pub file: Option<PathBuf>,
    /// `SecretBinary`, base64.
    pub binary_base64: Option<String>,
}

impl std::fmt::Debug for ValueSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueSeed(<redacted>)")
    }
}

/// A seed file as read: its text (for line numbers), its directory (for relative paths).
pub struct Loaded {
    /// The parsed file.
    pub file: SeedFile,
    name: String,
    text: String,
    dir: PathBuf,
}

/// What applying a seed file did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entries created.
    pub created: usize,
    /// Entries changed.
    pub updated: usize,
    /// Entries as the file says already.
    pub unchanged: usize,
}

impl Loaded {
    /// Reads and parses `path` (YAML, or JSON if it ends in `.json`).
    pub fn read(path: &Path) -> anyhow::Result<Loaded> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading seed file {name}"))?;
        let json = path.extension().is_some_and(|e| e == "json");
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Self::parse(name, text, json, dir)
    }

    /// Parses and checks a seed file's `text` (JSON when `json`, else YAML) named `name`, whose
    /// relative paths are relative to `dir`. Reads nothing else.
    pub fn parse(name: String, text: String, json: bool, dir: PathBuf) -> anyhow::Result<Loaded> {
        let file: SeedFile = if json {
            serde_json::from_str(&text).map_err(|e| {
                anyhow!(
                    "seed file {name}, line {} column {}: {e}",
                    e.line(),
                    e.column()
                )
            })?
        } else {
            serde_norway::from_str(&text).map_err(|e| match e.location() {
                Some(l) => anyhow!(
                    "seed file {name}, line {} column {}: {e}",
                    l.line(),
                    l.column()
                ),
                None => anyhow!("seed file {name}: {e}"),
            })?
        };
        let loaded = Loaded {
            file,
            name,
            text,
            dir,
        };
        loaded.check()?;
        Ok(loaded)
    }

    /// The first line holding `needle` (1-based), for messages.
    fn line_of(&self, needle: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
    }

    /// `seed file F, <what> (line N): ` for an entry found by `needle`.
    fn at(&self, what: &str, needle: &str) -> String {
        match self.line_of(needle) {
            Some(n) => format!("seed file {}, {what} (line {n})", self.name),
            None => format!("seed file {}, {what}", self.name),
        }
    }

    /// What can be checked without a deployment.
    fn check(&self) -> anyhow::Result<()> {
        let f = &self.file;
        if f.version != SEED_VERSION {
            bail!(
                "seed file {}: version {}, but this build reads version {SEED_VERSION}",
                self.name,
                f.version
            );
        }
        let mut ids = BTreeSet::new();
        for (account, a) in &f.accounts {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                bail!(
                    "{}: an account ID is 12 digits",
                    self.at(&format!("account {account:?}"), account)
                );
            }
            let names: BTreeSet<&str> = a.iam.policies.iter().map(|p| p.name.as_str()).collect();
            if names.len() != a.iam.policies.len() {
                bail!(
                    "seed file {}: account {account} declares a policy name twice",
                    self.name
                );
            }
            for r in &a.iam.roles {
                for p in &r.policies {
                    if !p.starts_with("arn:") && !names.contains(p.as_str()) {
                        bail!(
                            "{}: policy {p:?} is neither an ARN nor a policy of this file",
                            self.at(&format!("account {account} role {}", r.name), &r.name)
                        );
                    }
                }
            }
            for (region, rs) in &a.regions {
                let mut aliases = BTreeSet::new();
                for (i, k) in rs.keys.iter().enumerate() {
                    let what = key_what(account, region, i, k);
                    let needle = key_needle(k);
                    let at = || self.at(&what, &needle);
                    if let Some(id) = &k.id {
                        if !is_key_id(id) {
                            bail!(
                                "{}: key ID {id:?} is neither a UUID nor mrk- and 32 hex digits",
                                at()
                            );
                        }
                        if id.starts_with("mrk-") && k.multi_region == Some(false) {
                            bail!("{}: an mrk- ID is a multi-Region key's", at());
                        }
                        if !id.starts_with("mrk-") && k.multi_region == Some(true) {
                            bail!("{}: a multi-Region key's ID starts with mrk-", at());
                        }
                        if !ids.insert((account.clone(), id.clone())) {
                            bail!("{}: key ID {id} is declared twice", at());
                        }
                    } else if k.aliases.is_empty() {
                        bail!(
                            "{}: a key needs a fixed id or an alias, or every start would make \
                             another one",
                            at()
                        );
                    }
                    if !k.replicas.is_empty() && !multi_region(k) {
                        bail!("{}: only a multi-Region key has replicas", at());
                    }
                    for a in &k.aliases {
                        check_alias(a).map_err(|e| anyhow!("{}: {e}", at()))?;
                        if !aliases.insert(a.clone()) {
                            bail!("{}: alias {a} is declared twice in {region}", at());
                        }
                    }
                    if let Some(m) = &k.material {
                        let n = [
                            m.base64.is_some(),
                            m.file.is_some(),
                            m.env.is_some(),
                            m.test_seed.is_some(),
                        ]
                        .iter()
                        .filter(|b| **b)
                        .count();
                        if n != 1 {
                            bail!(
                                "{}: material takes exactly one of base64, file, env, test_seed",
                                at()
                            );
                        }
                        if m.test_seed.is_some() {
                            if k.id.is_none() {
                                bail!(
                                    "{}: a test_seed key needs a fixed id (its material is \
                                     derived from both)",
                                    at()
                                );
                            }
                            if k.origin.as_deref() == Some("EXTERNAL") {
                                bail!("{}: test_seed is AWS_KMS-origin material", at());
                            }
                        } else if k.origin.as_deref() == Some("AWS_KMS") {
                            bail!(
                                "{}: imported material (base64, file, env) is EXTERNAL-origin",
                                at()
                            );
                        }
                    }
                    if let Some(o) = &k.origin {
                        if o != "AWS_KMS" && o != "EXTERNAL" {
                            bail!("{}: origin is AWS_KMS or EXTERNAL", at());
                        }
                    }
                }
                for (alias, target) in &rs.aliases {
                    let at =
                        || self.at(&format!("account {account} {region} alias {alias}"), alias);
                    check_alias(alias).map_err(|e| anyhow!("{}: {e}", at()))?;
                    if !aliases.insert(alias.clone()) {
                        bail!("{}: alias {alias} is declared twice in {region}", at());
                    }
                    if target.is_empty() {
                        bail!("{}: no target key", at());
                    }
                }
                let mut secrets = BTreeSet::new();
                for s in &rs.secrets {
                    let at = || {
                        self.at(
                            &format!("account {account} {region} secret {}", s.name),
                            &s.name,
                        )
                    };
                    if !secrets.insert(s.name.as_str()) {
                        bail!("{}: secret {} is declared twice", at(), s.name);
                    }
                    if let Some(v) = &s.value {
                        let n = [
                            v.string.is_some(),
                            v.json.is_some(),
                            v.env.is_some(),
                            v.file.is_some(),
                            v.binary_base64.is_some(),
                        ]
                        .iter()
                        .filter(|b| **b)
                        .count();
                        if n != 1 {
                            bail!(
                                "{}: value takes exactly one of string, json, env, file, \
                                 binary_base64",
                                at()
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    fn material(&self, k: &KeySeed) -> anyhow::Result<SeedMaterial> {
        let Some(m) = &k.material else {
            return Ok(if k.origin.as_deref() == Some("EXTERNAL") {
                SeedMaterial::Pending
            } else {
                SeedMaterial::Generated
            });
        };
        let b64 = |s: &str, from: &str| -> anyhow::Result<Zeroizing<Vec<u8>>> {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map(Zeroizing::new)
                .map_err(|_| anyhow!("the key material in {from} is not base64"))
        };
        if let Some(s) = &m.test_seed {
            return Ok(SeedMaterial::TestSeed(Zeroizing::new(
                s.as_bytes().to_vec(),
            )));
        }
        if let Some(s) = &m.base64 {
            return Ok(SeedMaterial::External(b64(s, "material.base64")?));
        }
        if let Some(var) = &m.env {
            let v = Zeroizing::new(
                std::env::var(var).map_err(|_| anyhow!("environment variable {var} is not set"))?,
            );
            return Ok(SeedMaterial::External(b64(&v, var)?));
        }
        if let Some(f) = &m.file {
            let path = self.resolve(f);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("reading key material {}", path.display()))?;
            return Ok(SeedMaterial::External(Zeroizing::new(bytes)));
        }
        Ok(SeedMaterial::Generated)
    }

    fn value(&self, v: &ValueSeed) -> anyhow::Result<SecretValue> {
        if let Some(s) = &v.string {
            return Ok(SecretValue::String(Zeroizing::new(s.clone())));
        }
        if let Some(j) = &v.json {
            return Ok(SecretValue::String(Zeroizing::new(j.to_string())));
        }
        if let Some(var) = &v.env {
            return std::env::var(var)
                .map(|s| SecretValue::String(Zeroizing::new(s)))
                .map_err(|_| anyhow!("environment variable {var} is not set"));
        }
        if let Some(f) = &v.file {
            let path = self.resolve(f);
            let s = std::fs::read_to_string(&path)
                .with_context(|| format!("reading secret value {}", path.display()))?;
            return Ok(SecretValue::String(Zeroizing::new(s)));
        }
        if let Some(b) = &v.binary_base64 {
            return base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map(|b| SecretValue::Binary(Zeroizing::new(b)))
                .map_err(|_| anyhow!("binary_base64 is not base64"));
        }
        bail!("no value")
    }
}

/// A secret's value, held zeroized.
enum SecretValue {
    String(Zeroizing<String>),
    Binary(Zeroizing<Vec<u8>>),
}

fn multi_region(k: &KeySeed) -> bool {
    k.multi_region
        .unwrap_or_else(|| k.id.as_deref().is_some_and(|i| i.starts_with("mrk-")))
}

fn key_what(account: &str, region: &str, i: usize, k: &KeySeed) -> String {
    match (&k.id, k.aliases.first()) {
        (Some(id), _) => format!("account {account} {region} key {id}"),
        (None, Some(a)) => format!("account {account} {region} key {a}"),
        (None, None) => format!("account {account} {region} keys[{i}]"),
    }
}

fn key_needle(k: &KeySeed) -> String {
    k.id.clone()
        .or_else(|| k.aliases.first().cloned())
        .unwrap_or_else(|| "keys:".into())
}

fn check_alias(a: &str) -> Result<(), String> {
    let Some(rest) = a.strip_prefix("alias/") else {
        return Err(format!("alias {a:?} does not start with alias/"));
    };
    if rest.is_empty() || rest.starts_with("aws/") {
        return Err(format!(
            "alias {a:?}: alias/aws/ names are reserved for AWS"
        ));
    }
    Ok(())
}

/// A UUID (lower-case, hyphenated) or `mrk-` and 32 lower-case hex digits.
pub fn is_key_id(id: &str) -> bool {
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if let Some(rest) = id.strip_prefix("mrk-") {
        return rest.len() == 32 && hex(rest);
    }
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| hex(p))
}

fn doc_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Two policy documents with the same JSON.
fn same_doc(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Applies a loaded seed file to `coffer`: IAM first, then per region keys, aliases, secrets.
/// Stops at the first conflict with a message naming the entry (and its line).
pub fn apply(coffer: &Coffer, seed: &Loaded) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut note = |what: &str, created: bool, changes: &[String]| {
        if created {
            report.created += 1;
            tracing::info!(entry = what, "seed: created");
        } else if changes.is_empty() {
            report.unchanged += 1;
        } else {
            report.updated += 1;
            tracing::info!(entry = what, changes = %changes.join(", "), "seed: updated");
        }
    };
    for (account, a) in &seed.file.accounts {
        for p in &a.iam.policies {
            let what = format!("account {account} policy {}", p.name);
            let (created, changes) = apply_policy(coffer, account, p)
                .map_err(|e| anyhow!("{}: {e}", seed.at(&what, &p.name)))?;
            note(&what, created, &changes);
        }
        for r in &a.iam.roles {
            let what = format!("account {account} role {}", r.name);
            let (created, changes) = apply_role(coffer, account, r, &a.iam)
                .map_err(|e| anyhow!("{}: {e}", seed.at(&what, &r.name)))?;
            note(&what, created, &changes);
        }
        for (region, rs) in &a.regions {
            for (i, k) in rs.keys.iter().enumerate() {
                let what = key_what(account, region, i, k);
                let at = || seed.at(&what, &key_needle(k));
                let sk = SeedKey {
                    key_id: k.id.clone(),
                    spec: k.spec.clone(),
                    usage: k.usage.clone(),
                    description: k.description.clone(),
                    policy: k.policy.as_ref().map(doc_string),
                    tags: k
                        .tags
                        .as_ref()
                        .map(|t| t.iter().map(|(a, b)| (a.clone(), b.clone())).collect()),
                    rotation: k.rotation.as_ref().map(|r| SeedRotation {
                        enabled: r.enabled,
                        period_days: r.period_days,
                    }),
                    material: seed.material(k).map_err(|e| anyhow!("{}: {e}", at()))?,
                    multi_region: multi_region(k),
                    replicas: k.replicas.clone(),
                    aliases: k.aliases.clone(),
                };
                let out = coffer
                    .kms
                    .seed_key(account, region, &sk)
                    .map_err(|e| anyhow!("{}: {e}", at()))?;
                note(&what, out.created, &out.changes);
            }
            for (alias, target) in &rs.aliases {
                let what = format!("account {account} {region} alias {alias}");
                let change = coffer
                    .kms
                    .seed_alias(account, region, alias, target)
                    .map_err(|e| anyhow!("{}: {e}", seed.at(&what, alias)))?;
                match change {
                    Some(c) if c.ends_with("created") => note(&what, true, &[]),
                    Some(c) => note(&what, false, &[c]),
                    None => note(&what, false, &[]),
                }
            }
            for s in &rs.secrets {
                let what = format!("account {account} {region} secret {}", s.name);
                let (created, changes) = apply_secret(coffer, seed, account, region, s)
                    .map_err(|e| anyhow!("{}: {e}", seed.at(&what, &s.name)))?;
                note(&what, created, &changes);
            }
        }
    }
    Ok(report)
}

fn tags_sm(t: &BTreeMap<String, String>) -> Vec<coffer_model::secretsmanager::Tag> {
    t.iter()
        .map(|(k, v)| coffer_model::secretsmanager::Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn apply_secret(
    coffer: &Coffer,
    seed: &Loaded,
    account: &str,
    region: &str,
    s: &SecretSeed,
) -> anyhow::Result<(bool, Vec<String>)> {
    use coffer_model::secretsmanager::*;
    let ctx = coffer_kms::seed::root_context(account, region);
    let sm = &coffer.secrets;
    if let Some(k) = &s.kms_key {
        if !k.starts_with("arn:")
            && !k.starts_with("alias/aws/")
            && coffer.kms.seed_lookup(account, region, k).is_none()
        {
            bail!("kms_key {k} is not a key in {account} {region}");
        }
    }
    let value = s.value.as_ref().map(|v| seed.value(v)).transpose()?;
    let (string, binary) = match value {
        Some(SecretValue::String(v)) => (Some(SecretText(v)), None),
        Some(SecretValue::Binary(b)) => (None, Some(coffer_model::Blob(b))),
        None => (None, None),
    };
    let replicas: Vec<ReplicaRegionType> = s
        .replicas
        .iter()
        .map(|r| ReplicaRegionType {
            region: Some(r.region().to_string()),
            kms_key_id: match r {
                ReplicaSeed::WithKey { kms_key, .. } => kms_key.clone(),
                ReplicaSeed::Region(_) => None,
            },
        })
        .collect();
    let id = Some(s.name.clone());
    let existing = sm.describe_secret(
        &ctx,
        SecretIdRequest {
            secret_id: id.clone(),
        },
    );
    let d = match existing {
        Err(coffer_secrets::SmError::ResourceNotFound(_)) => {
            sm.create_secret(
                &ctx,
                CreateSecretRequest {
                    name: id.clone(),
                    description: s.description.clone(),
                    kms_key_id: s.kms_key.clone(),
                    secret_string: string,
                    secret_binary: binary,
                    tags: s.tags.as_ref().map(tags_sm),
                    add_replica_regions: (!replicas.is_empty()).then_some(replicas),
                    client_request_token: Some(request_token()?),
                    ..CreateSecretRequest::default()
                },
            )?;
            if let Some(p) = &s.policy {
                sm.put_resource_policy(
                    &ctx,
                    PutResourcePolicyRequest {
                        secret_id: id,
                        resource_policy: Some(doc_string(p)),
                        ..PutResourcePolicyRequest::default()
                    },
                )?;
            }
            if let Some(r) = &s.rotation {
                apply_rotation(sm, &ctx, &s.name, r, false)?;
            }
            return Ok((true, Vec::new()));
        }
        other => other?,
    };
    let mut changes = Vec::new();
    if d.deleted_date.is_some() {
        sm.restore_secret(
            &ctx,
            SecretIdRequest {
                secret_id: id.clone(),
            },
        )?;
        changes.push("deletion cancelled".into());
    }
    let description = s
        .description
        .as_ref()
        .filter(|want| d.description.as_ref() != Some(*want));
    let kms_key = s.kms_key.as_ref().filter(|want| {
        let have = d
            .kms_key_id
            .as_deref()
            .unwrap_or("alias/aws/secretsmanager");
        let resolve = |r: &str| coffer.kms.seed_lookup(account, region, r);
        have != want.as_str() && resolve(have) != resolve(want)
    });
    if description.is_some() || kms_key.is_some() {
        sm.update_secret(
            &ctx,
            UpdateSecretRequest {
                secret_id: id.clone(),
                description: description.cloned(),
                kms_key_id: kms_key.cloned(),
                ..UpdateSecretRequest::default()
            },
        )?;
        if description.is_some() {
            changes.push("description".into());
        }
        if kms_key.is_some() {
            changes.push("kms_key".into());
        }
    }
    if string.is_some() || binary.is_some() {
        let current = sm.get_secret_value(
            &ctx,
            GetSecretValueRequest {
                secret_id: id.clone(),
                ..GetSecretValueRequest::default()
            },
        );
        let same = match &current {
            Ok(c) => {
                let eq_s = match (&c.secret_string, &string) {
                    (Some(a), Some(b)) => {
                        coffer_crypto::digest::constant_time_eq(a.0.as_bytes(), b.0.as_bytes())
                    }
                    (None, None) => true,
                    _ => false,
                };
                let eq_b = match (&c.secret_binary, &binary) {
                    (Some(a), Some(b)) => coffer_crypto::digest::constant_time_eq(&a.0, &b.0),
                    (None, None) => true,
                    _ => false,
                };
                eq_s && eq_b
            }
            Err(_) => false,
        };
        if !same {
            sm.put_secret_value(
                &ctx,
                PutSecretValueRequest {
                    secret_id: id.clone(),
                    secret_string: string,
                    secret_binary: binary,
                    client_request_token: Some(request_token()?),
                    ..PutSecretValueRequest::default()
                },
            )?;
            changes.push("value".into());
        }
    }
    if let Some(want) = &s.tags {
        let have: BTreeMap<String, String> = d
            .tags
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
            .collect();
        if &have != want {
            let gone: Vec<String> = have
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            if !gone.is_empty() {
                sm.untag_resource(
                    &ctx,
                    UntagResourceRequest {
                        secret_id: id.clone(),
                        tag_keys: Some(gone),
                    },
                )?;
            }
            sm.tag_resource(
                &ctx,
                TagResourceRequest {
                    secret_id: id.clone(),
                    tags: Some(tags_sm(want)),
                },
            )?;
            changes.push("tags".into());
        }
    }
    if let Some(p) = &s.policy {
        let want = doc_string(p);
        let have = sm
            .get_resource_policy(
                &ctx,
                NamedPolicyRequest {
                    secret_id: id.clone(),
                    policy_name: None,
                },
            )?
            .resource_policy;
        if !have.as_deref().is_some_and(|h| same_doc(h, &want)) {
            sm.put_resource_policy(
                &ctx,
                PutResourcePolicyRequest {
                    secret_id: id.clone(),
                    resource_policy: Some(want),
                    ..PutResourcePolicyRequest::default()
                },
            )?;
            changes.push("resource policy".into());
        }
    }
    if let Some(r) = &s.rotation {
        changes.extend(apply_rotation(
            sm,
            &ctx,
            &s.name,
            r,
            d.rotation_enabled == Some(true),
        )?);
    }
    let present: BTreeSet<String> = d
        .replication_status
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.region)
        .collect();
    let missing: Vec<ReplicaRegionType> = replicas
        .into_iter()
        .filter(|r| r.region.as_ref().is_some_and(|x| !present.contains(x)))
        .collect();
    if !missing.is_empty() {
        let regions: Vec<String> = missing.iter().filter_map(|r| r.region.clone()).collect();
        sm.replicate_secret_to_regions(
            &ctx,
            ReplicateSecretToRegionsRequest {
                secret_id: id,
                add_replica_regions: Some(missing),
                force_overwrite_replica_secret: None,
            },
        )?;
        changes.push(format!("replicas in {}", regions.join(", ")));
    }
    Ok((false, changes))
}

/// A secret's rotation settings as the seed declares them: what changed, if anything.
fn apply_rotation(
    sm: &coffer_secrets::SecretsManager,
    ctx: &coffer_core::RequestContext,
    name: &str,
    r: &SecretRotationSeed,
    enabled_now: bool,
) -> anyhow::Result<Option<String>> {
    use coffer_model::secretsmanager::*;
    let secret_id = Some(name.to_string());
    if !r.enabled {
        if enabled_now {
            sm.cancel_rotate_secret(ctx, CancelRotateSecretRequest { secret_id })?;
            return Ok(Some("rotation off".into()));
        }
        return Ok(None);
    }
    let rules =
        (r.after_days.is_some() || r.schedule.is_some() || r.duration.is_some()).then(|| {
            RotationRulesType {
                automatically_after_days: r.after_days,
                duration: r.duration.clone(),
                schedule_expression: r.schedule.clone(),
            }
        });
    let changed = sm.configure_rotation(
        ctx,
        RotateSecretRequest {
            secret_id,
            client_request_token: Some(request_token()?),
            rotation_lambda_arn: r.function.clone(),
            rotation_rules: rules,
            rotate_immediately: Some(false),
        },
    )?;
    Ok(changed.then(|| "rotation".into()))
}

/// A fresh `ClientRequestToken` (a random UUID): a seed's value is compared, never replayed.
fn request_token() -> anyhow::Result<String> {
    let b = coffer_crypto::random::array::<16>()?;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    ))
}

fn iam_ctx(account: &str) -> coffer_core::RequestContext {
    coffer_kms::seed::root_context(account, "us-east-1")
}

fn tags_iam(t: &BTreeMap<String, String>) -> Vec<coffer_model::iam::Tag> {
    t.iter()
        .map(|(k, v)| coffer_model::iam::Tag {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

fn policy_arn(account: &str, path: Option<&str>, name: &str) -> String {
    format!("arn:aws:iam::{account}:policy{}{name}", path.unwrap_or("/"))
}

fn apply_policy(
    coffer: &Coffer,
    account: &str,
    p: &PolicySeed,
) -> anyhow::Result<(bool, Vec<String>)> {
    use coffer_model::iam::*;
    let ctx = iam_ctx(account);
    let iam = &coffer.iam;
    let arn = policy_arn(account, p.path.as_deref(), &p.name);
    let doc = doc_string(&p.document);
    let existing = match iam.get_policy(&ctx, Some(&arn)) {
        Ok(e) => e,
        Err(coffer_iam::IamError::NoSuchEntity(_)) => {
            iam.create_policy(
                &ctx,
                CreatePolicyRequest {
                    policy_name: Some(p.name.clone()),
                    path: p.path.clone(),
                    policy_document: Some(doc),
                    description: p.description.clone(),
                    tags: None,
                },
            )?;
            return Ok((true, Vec::new()));
        }
        Err(e) => return Err(e.into()),
    };
    let current = iam.get_policy_version(&ctx, Some(&arn), Some(&existing.default_version_id))?;
    if current
        .document
        .as_deref()
        .is_some_and(|d| same_doc(&percent_decode(d), &doc))
    {
        return Ok((false, Vec::new()));
    }
    // A new default version; the oldest non-default goes when the five allowed are there.
    let versions = iam.list_policy_versions(&ctx, Some(&arn), &Paging::default())?;
    if versions.items.len() >= 5 {
        if let Some(old) = versions
            .items
            .iter()
            .filter(|v| !v.is_default_version)
            .min_by_key(|v| v.create_date)
        {
            iam.delete_policy_version(&ctx, Some(&arn), Some(&old.version_id))?;
        }
    }
    iam.create_policy_version(&ctx, Some(&arn), Some(&doc), true)?;
    Ok((false, vec!["document".into()]))
}

/// IAM documents may be URL-encoded as AWS returns them.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

fn apply_role(
    coffer: &Coffer,
    account: &str,
    r: &RoleSeed,
    iam_seed: &IamSeed,
) -> anyhow::Result<(bool, Vec<String>)> {
    use coffer_model::iam::*;
    let ctx = iam_ctx(account);
    let iam = &coffer.iam;
    let name = Some(r.name.as_str());
    let trust = doc_string(&r.assume_role_policy);
    let mut changes = Vec::new();
    let created = match iam.get_role(&ctx, name) {
        Err(coffer_iam::IamError::NoSuchEntity(_)) => {
            iam.create_role(
                &ctx,
                CreateRoleRequest {
                    role_name: Some(r.name.clone()),
                    path: r.path.clone(),
                    assume_role_policy_document: Some(trust),
                    description: r.description.clone(),
                    max_session_duration: r.max_session_duration,
                    permissions_boundary: None,
                    tags: r.tags.as_ref().map(tags_iam),
                },
            )?;
            true
        }
        Err(e) => return Err(e.into()),
        Ok(role) => {
            if !same_doc(&percent_decode(&role.assume_role_policy_document), &trust) {
                iam.update_assume_role_policy(&ctx, name, Some(&trust))?;
                changes.push("trust policy".into());
            }
            let desc = r
                .description
                .as_ref()
                .filter(|d| role.description.as_ref() != Some(*d));
            let dur = r
                .max_session_duration
                .filter(|d| *d != role.max_session_duration);
            if desc.is_some() || dur.is_some() {
                iam.update_role(&ctx, name, desc.cloned(), dur)?;
                changes.push("description or max_session_duration".into());
            }
            if let Some(want) = &r.tags {
                let have: BTreeMap<String, String> = role
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect();
                if &have != want {
                    let gone: Vec<String> = have
                        .keys()
                        .filter(|k| !want.contains_key(*k))
                        .cloned()
                        .collect();
                    if !gone.is_empty() {
                        iam.untag_role(&ctx, name, Some(&gone))?;
                    }
                    iam.tag_role(&ctx, name, Some(&tags_iam(want)))?;
                    changes.push("tags".into());
                }
            }
            false
        }
    };
    let attached: BTreeSet<String> = iam
        .list_attached_role_policies(&ctx, name, None, &Paging::default())?
        .items
        .into_iter()
        .map(|a| a.policy_arn)
        .collect();
    for p in &r.policies {
        let arn = if p.starts_with("arn:") {
            p.clone()
        } else {
            let path = iam_seed
                .policies
                .iter()
                .find(|x| &x.name == p)
                .and_then(|x| x.path.as_deref());
            policy_arn(account, path, p)
        };
        if !attached.contains(&arn) {
            iam.attach_role_policy(&ctx, name, Some(&arn))?;
            changes.push(format!("attached {arn}"));
        }
    }
    if created {
        changes.clear();
    }
    Ok((created, changes))
}

/// Applies the seed file at start (the serving process): a conflict is an error that stops
/// start-up; what was done is logged. With `batch`, a first start (an empty store) builds the
/// seeded state in memory and writes it in one transaction (for a durable store, where every
/// commit is an fsync).
pub fn apply_at_start(coffer: &Coffer, seed: &Loaded, batch: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let r = if batch && coffer.is_empty()? {
        coffer.build_in_scratch(|scratch| apply(scratch, seed))?
    } else {
        apply(coffer, seed)?
    };
    tracing::info!(
        file = %seed.name,
        created = r.created,
        updated = r.updated,
        unchanged = r.unchanged,
        ms = started.elapsed().as_millis() as u64,
        "seed file applied"
    );
    Ok(())
}

/// `coffer seed check FILE`: parses, checks, and applies the file to a scratch in-memory
/// deployment (so the services' own checks run), without starting anything.
pub fn check_command(path: &Path, account: &str) -> anyhow::Result<()> {
    let seed = Loaded::read(path)?;
    let root = coffer_crypto::RootKey::generate()?;
    let store: Arc<dyn coffer_store::Store> = Arc::new(coffer_store::MemoryStore::new());
    let coffer = Coffer::open(store, root, Arc::new(coffer_core::SystemClock))?;
    coffer
        .identity
        .ensure_root_credentials(Some(account))
        .context("a scratch deployment")?;
    let r = apply(&coffer, &seed)?;
    println!(
        "{}: OK ({} entries: {} accounts)",
        path.display(),
        r.created + r.updated + r.unchanged,
        seed.file.accounts.len()
    );
    Ok(())
}

/// Each account's `iam:` section: customer managed policies (default version) and roles
/// (trust policy, tags, attached policies: this file's policies by name, others by ARN).
fn iam_export(coffer: &Coffer) -> BTreeMap<String, serde_json::Value> {
    use serde_json::{json, Map, Value};
    let doc = |s: &str| serde_json::from_str::<Value>(s).unwrap_or_else(|_| json!(s));
    let (policies, roles) = coffer.iam.seed_export();
    let mut out: BTreeMap<String, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    let mut by_arn: BTreeMap<&str, &str> = BTreeMap::new();
    for p in &policies {
        by_arn.insert(&p.arn, &p.name);
        let mut e = Map::new();
        e.insert("name".into(), json!(p.name));
        if p.path != "/" {
            e.insert("path".into(), json!(p.path));
        }
        if let Some(d) = &p.description {
            e.insert("description".into(), json!(d));
        }
        e.insert("document".into(), doc(&p.document));
        out.entry(p.account.clone())
            .or_default()
            .0
            .push(Value::Object(e));
    }
    for r in &roles {
        let mut e = Map::new();
        e.insert("name".into(), json!(r.name));
        if r.path != "/" {
            e.insert("path".into(), json!(r.path));
        }
        if let Some(d) = &r.description {
            e.insert("description".into(), json!(d));
        }
        e.insert("assume_role_policy".into(), doc(&r.trust_policy));
        if r.max_session_duration != 3600 {
            e.insert("max_session_duration".into(), json!(r.max_session_duration));
        }
        if !r.tags.is_empty() {
            let tags: Map<String, Value> =
                r.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            e.insert("tags".into(), Value::Object(tags));
        }
        if !r.policies.is_empty() {
            let refs: Vec<&str> = r
                .policies
                .iter()
                .map(|arn| by_arn.get(arn.as_str()).copied().unwrap_or(arn))
                .collect();
            e.insert("policies".into(), json!(refs));
        }
        out.entry(r.account.clone())
            .or_default()
            .1
            .push(Value::Object(e));
    }
    out.into_iter()
        .map(|(account, (p, r))| {
            let mut m = Map::new();
            if !p.is_empty() {
                m.insert("policies".into(), Value::Array(p));
            }
            if !r.is_empty() {
                m.insert("roles".into(), Value::Array(r));
            }
            (account, Value::Object(m))
        })
        .collect()
}

/// One region's exported (keys, secrets).
type Exported = (Vec<serde_json::Value>, Vec<serde_json::Value>);

/// The current state as a seed file (`coffer seed export`): customer managed KMS keys (fixed
/// IDs, spec, usage, origin, description, policy, tags, rotation, replicas, aliases; never
/// their material), secrets (description, KMS key, tags, replicas, resource policy, rotation
/// settings, and their current value only when `with_values`), and IAM's customer managed
/// policies and roles with their attachments. YAML.
pub fn export(coffer: &Coffer, with_values: bool) -> anyhow::Result<String> {
    use coffer_model::secretsmanager::*;
    use serde_json::{json, Map, Value};
    let mut accounts: BTreeMap<String, BTreeMap<String, Exported>> = BTreeMap::new();
    let map_of = |tags: &[(String, String)]| -> Value {
        Value::Object(tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    };
    let doc = |s: &str| serde_json::from_str::<Value>(s).unwrap_or_else(|_| json!(s));
    for k in coffer.kms.seed_export() {
        let mut e = Map::new();
        e.insert("id".into(), json!(k.key_id));
        if !k.description.is_empty() {
            e.insert("description".into(), json!(k.description));
        }
        e.insert("spec".into(), json!(k.spec));
        e.insert("usage".into(), json!(k.usage));
        if k.origin != "AWS_KMS" {
            e.insert("origin".into(), json!(k.origin));
        }
        e.insert("policy".into(), doc(&k.policy));
        if !k.tags.is_empty() {
            e.insert("tags".into(), map_of(&k.tags));
        }
        if k.spec == "SYMMETRIC_DEFAULT" && k.origin == "AWS_KMS" {
            let mut r = Map::new();
            r.insert("enabled".into(), json!(k.rotation.0));
            if let (true, Some(p)) = (k.rotation.0, k.rotation.1) {
                r.insert("period_days".into(), json!(p));
            }
            e.insert("rotation".into(), Value::Object(r));
        }
        if !k.replicas.is_empty() {
            e.insert("replicas".into(), json!(k.replicas));
        }
        if !k.aliases.is_empty() {
            e.insert("aliases".into(), json!(k.aliases));
        }
        accounts
            .entry(k.account)
            .or_default()
            .entry(k.region)
            .or_default()
            .0
            .push(Value::Object(e));
    }
    for (account, region, name) in coffer.secrets.secret_names() {
        let ctx = coffer_kms::seed::root_context(&account, &region);
        let id = Some(name.clone());
        let d = coffer.secrets.describe_secret(
            &ctx,
            SecretIdRequest {
                secret_id: id.clone(),
            },
        )?;
        if d.deleted_date.is_some()
            || d.primary_region.as_deref().is_some_and(|p| p != region)
            || d.owning_service.is_some()
        {
            continue;
        }
        let mut e = Map::new();
        e.insert("name".into(), json!(name));
        if let Some(v) = &d.description {
            e.insert("description".into(), json!(v));
        }
        if let Some(v) = &d.kms_key_id {
            e.insert("kms_key".into(), json!(v));
        }
        if with_values {
            if let Ok(v) = coffer.secrets.get_secret_value(
                &ctx,
                GetSecretValueRequest {
                    secret_id: id.clone(),
                    ..GetSecretValueRequest::default()
                },
            ) {
                if let Some(s) = &v.secret_string {
                    e.insert("value".into(), json!({ "string": s.0.as_str() }));
                } else if let Some(b) = &v.secret_binary {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&b.0[..]);
                    e.insert("value".into(), json!({ "binary_base64": b64 }));
                }
            }
        }
        let replicas: Vec<Value> = d
            .replication_status
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| {
                let region = r.region?;
                Some(match r.kms_key_id {
                    Some(k) => json!({ "region": region, "kms_key": k }),
                    None => json!(region),
                })
            })
            .collect();
        if !replicas.is_empty() {
            e.insert("replicas".into(), Value::Array(replicas));
        }
        let policy = coffer.secrets.get_resource_policy(
            &ctx,
            NamedPolicyRequest {
                secret_id: id,
                policy_name: None,
            },
        )?;
        if let Some(p) = &policy.resource_policy {
            e.insert("policy".into(), doc(p));
        }
        let tags: Vec<(String, String)> = d
            .tags
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
            .collect();
        if !tags.is_empty() {
            e.insert("tags".into(), map_of(&tags));
        }
        if d.rotation_enabled == Some(true) {
            let mut r = Map::new();
            if let Some(f) = &d.rotation_lambda_arn {
                r.insert("function".into(), json!(f));
            }
            if let Some(rules) = &d.rotation_rules {
                // DescribeSecret shows AutomaticallyAfterDays beside a rate(N days)
                // schedule; RotateSecret takes only one of them.
                if let Some(x) = &rules.schedule_expression {
                    r.insert("schedule".into(), json!(x));
                } else if let Some(n) = rules.automatically_after_days {
                    r.insert("after_days".into(), json!(n));
                }
                if let Some(x) = &rules.duration {
                    r.insert("duration".into(), json!(x));
                }
            }
            e.insert("rotation".into(), Value::Object(r));
        }
        accounts
            .entry(account)
            .or_default()
            .entry(region)
            .or_default()
            .1
            .push(Value::Object(e));
    }
    let iam = iam_export(coffer);
    let mut acc = Map::new();
    let mut names: BTreeSet<String> = accounts.keys().cloned().collect();
    names.extend(iam.keys().cloned());
    for account in names {
        let regions = accounts.remove(&account).unwrap_or_default();
        let mut rs = Map::new();
        for (region, (keys, secrets)) in regions {
            let mut r = Map::new();
            if !keys.is_empty() {
                r.insert("keys".into(), Value::Array(keys));
            }
            if !secrets.is_empty() {
                r.insert("secrets".into(), Value::Array(secrets));
            }
            rs.insert(region, Value::Object(r));
        }
        let mut a = Map::new();
        if let Some(i) = iam.get(&account) {
            a.insert("iam".into(), i.clone());
        }
        if !rs.is_empty() {
            a.insert("regions".into(), Value::Object(rs));
        }
        acc.insert(account, Value::Object(a));
    }
    let file = json!({ "version": SEED_VERSION, "accounts": acc });
    let yaml = serde_norway::to_string(&file)?;
    Ok(format!(
        "# Written by `coffer seed export`: IAM policies and roles, every customer managed key \
         (without its material:\n# add material: to fix it) and every secret{}.\n{yaml}",
        if with_values {
            ", WITH its current value: this file is a secret"
        } else {
            " (without values)"
        }
    ))
}
