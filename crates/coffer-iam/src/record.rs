//! IAM records as stored: JSON with a record version `v`, keyed by account.
//!
//! * `iam_role`, key `ACCOUNT/name` (the name in lower case: IAM names are unique regardless of
//!   case): a role, its trust policy, tags and the ARNs of the managed policies attached to it;
//! * `iam_policy`, key `ACCOUNT/name`: a customer managed policy with all its versions;
//! * `iam_role_policy`, key `ACCOUNT/role/policy`: an inline policy of a role (read and written
//!   by [`crate::entity`], as users' and groups' are);
//! * `iam_user`, `iam_user_policy`: users ([`crate::users`]); `iam_group`, `iam_group_policy`:
//!   groups ([`crate::groups`]).

use coffer_model::iam::Tag;
use serde::{Deserialize, Serialize};

pub(crate) const ROLE_TABLE: &str = "iam_role";
pub(crate) const POLICY_TABLE: &str = "iam_policy";
pub(crate) const ROLE_POLICY_TABLE: &str = "iam_role_policy";
pub(crate) const RECORD_VERSION: u32 = 1;

/// A tag as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TagRec {
    pub key: String,
    pub value: String,
}

impl From<&Tag> for TagRec {
    fn from(t: &Tag) -> Self {
        Self {
            key: t.key.clone(),
            value: t.value.clone(),
        }
    }
}

impl From<&TagRec> for Tag {
    fn from(t: &TagRec) -> Self {
        Self {
            key: t.key.clone(),
            value: t.value.clone(),
        }
    }
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RoleRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub path: String,
    pub role_id: String,
    pub arn: String,
    /// Milliseconds since the epoch.
    pub create_date: i64,
    /// The trust policy (`AssumeRolePolicyDocument`), as given.
    pub trust_policy: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: i64,
    #[serde(default)]
    pub tags: Vec<TagRec>,
    /// ARNs of the attached managed policies, in the order they were attached.
    #[serde(default)]
    pub attached_policies: Vec<String>,
    /// The ARN of the managed policy that is the role's permissions boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionRec {
    /// `v1`, `v2`, …
    pub id: String,
    pub document: String,
    pub create_date: i64,
}

/// A customer managed policy and its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub path: String,
    pub policy_id: String,
    pub arn: String,
    #[serde(default)]
    pub description: Option<String>,
    pub create_date: i64,
    pub default_version: String,
    /// The number the next version gets (numbers are never reused).
    pub next_version: u32,
    /// Oldest first.
    pub versions: Vec<VersionRec>,
    #[serde(default)]
    pub tags: Vec<TagRec>,
}

impl PolicyRecord {
    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.document.as_str())
    }
}

/// `ACCOUNT/name`, the name in lower case.
pub(crate) fn entity_key(account: &str, name: &str) -> String {
    format!("{account}/{}", name.to_ascii_lowercase())
}
