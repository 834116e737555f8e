//! The rotators file (`--rotators FILE`): which rotator stands in for which rotation function.

use super::postgres_tls;
use coffer_model::secretsmanager::GetRandomPasswordRequest;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The rotators file: `[[rotator]]` tables (TOML) or `{"rotator": [...]}` (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotatorsConfig {
    /// One entry per rotation function ARN.
    #[serde(default, rename = "rotator")]
    pub rotators: Vec<RotatorConfig>,
}

/// One rotator, selected by `kind`. A new kind is one more variant and one more [`Rotator`]
/// implementation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum RotatorConfig {
    /// Generates a new password in process (GetRandomPassword's options, snake_case).
    #[serde(rename = "random-password")]
    RandomPassword {
        /// The RotationLambdaARN this rotator answers to.
        arn: String,
        /// 1–4096, default 32.
        length: Option<i64>,
        /// Characters not to use.
        exclude_characters: Option<String>,
        /// No digits.
        exclude_numbers: Option<bool>,
        /// No punctuation.
        exclude_punctuation: Option<bool>,
        /// No upper case.
        exclude_uppercase: Option<bool>,
        /// No lower case.
        exclude_lowercase: Option<bool>,
        /// Allow the space character.
        include_space: Option<bool>,
        /// At least one of every included type (default true).
        require_each_included_type: Option<bool>,
    },
    /// Rotates a PostgreSQL user's own password (AWS's single-user strategy); the secret is
    /// AWS's JSON `{engine, host, port, username, password, dbname}`.
    #[serde(rename = "postgresql")]
    Postgresql {
        /// The RotationLambdaARN this rotator answers to.
        arn: String,
        /// New password length, 1–4096 (default 32).
        password_length: Option<i64>,
        /// Characters new passwords leave out (default `:/@"'\`, as AWS's template).
        exclude_characters: Option<String>,
        /// Per-connection timeout (default 5 s, as AWS's template).
        connect_timeout_seconds: Option<u64>,
        /// A PEM bundle of CA certificates trusted for TLS connections, in addition to the
        /// webpki (Mozilla) roots, e.g. a private CA or Amazon RDS's bundle. Read when the
        /// file is loaded; a relative path is relative to Coffer's working directory.
        ca_file: Option<PathBuf>,
    },
    /// POSTs each step's event as JSON to `url`; 2xx is success.
    #[serde(rename = "http")]
    Http {
        /// The RotationLambdaARN this rotator answers to.
        arn: String,
        /// `http://` or `https://` URL.
        url: String,
        /// Per-step timeout (default 60 s).
        timeout_seconds: Option<u64>,
    },
}

impl RotatorConfig {
    /// The RotationLambdaARN this rotator answers to.
    pub fn arn(&self) -> &str {
        match self {
            Self::RandomPassword { arn, .. }
            | Self::Postgresql { arn, .. }
            | Self::Http { arn, .. } => arn,
        }
    }

    /// A random-password rotator's rules as a GetRandomPassword request.
    pub(super) fn password_rules(&self) -> Option<GetRandomPasswordRequest> {
        match self {
            Self::RandomPassword {
                length,
                exclude_characters,
                exclude_numbers,
                exclude_punctuation,
                exclude_uppercase,
                exclude_lowercase,
                include_space,
                require_each_included_type,
                ..
            } => Some(GetRandomPasswordRequest {
                password_length: *length,
                exclude_characters: exclude_characters.clone(),
                exclude_numbers: *exclude_numbers,
                exclude_punctuation: *exclude_punctuation,
                exclude_uppercase: *exclude_uppercase,
                exclude_lowercase: *exclude_lowercase,
                include_space: *include_space,
                require_each_included_type: *require_each_included_type,
            }),
            Self::Postgresql {
                password_length,
                exclude_characters,
                ..
            } => Some(GetRandomPasswordRequest {
                password_length: *password_length,
                exclude_characters: Some(
                    exclude_characters
                        .clone()
                        .unwrap_or_else(|| PG_DEFAULT_EXCLUDE.to_string()),
                ),
                ..Default::default()
            }),
            Self::Http { .. } => None,
        }
    }
}

/// The characters AWS's PostgreSQL templates leave out of passwords by default.
const PG_DEFAULT_EXCLUDE: &str = ":/@\"'\\";
pub(super) const DEFAULT_PG_CONNECT_TIMEOUT_SECS: u64 = 5;

/// Why the rotators file was refused. Text for the operator.
#[derive(Debug, thiserror::Error)]
pub enum RotatorsConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML / JSON of the expected shape.
    #[error("parsing rotators: {0}")]
    Parse(String),
    /// An entry is not acceptable.
    #[error("rotator {arn:?}: {message}")]
    Invalid {
        /// The entry's ARN.
        arn: String,
        /// What is wrong.
        message: String,
    },
}

pub(super) const DEFAULT_HTTP_TIMEOUT_SECS: u64 = 60;

impl RotatorsConfig {
    /// Reads a rotators file: JSON if its name ends in `.json`, TOML otherwise.
    pub fn load(path: &Path) -> Result<Self, RotatorsConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RotatorsConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }

    /// Parses and checks TOML.
    pub fn from_toml(text: &str) -> Result<Self, RotatorsConfigError> {
        let c: Self =
            toml::from_str(text).map_err(|e| RotatorsConfigError::Parse(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    /// Parses and checks JSON.
    pub fn from_json(text: &str) -> Result<Self, RotatorsConfigError> {
        let c: Self =
            serde_json::from_str(text).map_err(|e| RotatorsConfigError::Parse(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), RotatorsConfigError> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.rotators {
            let arn = c.arn().to_string();
            let invalid = |message: &str| RotatorsConfigError::Invalid {
                arn: arn.clone(),
                message: message.to_string(),
            };
            if arn.is_empty() || arn.len() > 2048 {
                return Err(invalid("arn must be 1-2048 characters"));
            }
            if !seen.insert(arn.clone()) {
                return Err(invalid("configured twice"));
            }
            match c {
                RotatorConfig::RandomPassword { length, .. } => {
                    if length.is_some_and(|l| !(1..=4096).contains(&l)) {
                        return Err(invalid("length must be 1-4096"));
                    }
                }
                RotatorConfig::Postgresql {
                    password_length,
                    connect_timeout_seconds,
                    ca_file,
                    ..
                } => {
                    if password_length.is_some_and(|l| !(1..=4096).contains(&l)) {
                        return Err(invalid("password_length must be 1-4096"));
                    }
                    if connect_timeout_seconds.is_some_and(|t| t == 0 || t > 300) {
                        return Err(invalid("connect_timeout_seconds must be 1-300"));
                    }
                    if let Some(path) = ca_file {
                        postgres_tls(Some(path)).map_err(|e| invalid(&e.message))?;
                    }
                }
                RotatorConfig::Http {
                    url,
                    timeout_seconds,
                    ..
                } => {
                    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
                    if !scheme_ok || url.parse::<ureq::http::Uri>().is_err() {
                        return Err(invalid("url must be an http:// or https:// URL"));
                    }
                    if timeout_seconds.is_some_and(|t| t == 0 || t > 900) {
                        return Err(invalid("timeout_seconds must be 1-900"));
                    }
                }
            }
        }
        Ok(())
    }
}
