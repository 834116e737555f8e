//! What `coffer seed export` reads from IAM: every account's customer managed policies (their
//! default version) and roles (trust policy, tags, attached managed policies).

use super::*;

/// A customer managed policy as a seed file declares it.
#[derive(Debug, Clone)]
pub struct ExportedPolicy {
    /// The account.
    pub account: String,
    /// `PolicyName`.
    pub name: String,
    /// `Path`.
    pub path: String,
    /// `Arn`.
    pub arn: String,
    /// `Description`.
    pub description: Option<String>,
    /// The default version's document, as given.
    pub document: String,
}

/// A role as a seed file declares it.
#[derive(Debug, Clone)]
pub struct ExportedRole {
    /// The account.
    pub account: String,
    /// `RoleName`.
    pub name: String,
    /// `Path`.
    pub path: String,
    /// `Description`.
    pub description: Option<String>,
    /// The trust policy, as given.
    pub trust_policy: String,
    /// `MaxSessionDuration`, seconds.
    pub max_session_duration: i64,
    /// Tags, in order.
    pub tags: Vec<(String, String)>,
    /// ARNs of the attached managed policies, in the order they were attached.
    pub policies: Vec<String>,
}

impl Iam {
    /// Every customer managed policy and every role, sorted by account and name.
    pub fn seed_export(&self) -> (Vec<ExportedPolicy>, Vec<ExportedRole>) {
        let st = self.state.read();
        let mut policies: Vec<ExportedPolicy> = st
            .policies
            .values()
            .filter_map(|p| {
                Some(ExportedPolicy {
                    account: p.account.clone(),
                    name: p.name.clone(),
                    path: p.path.clone(),
                    arn: p.arn.clone(),
                    description: p.description.clone(),
                    document: p.default_document()?.to_string(),
                })
            })
            .collect();
        let mut roles: Vec<ExportedRole> = st
            .roles
            .values()
            .map(|r| ExportedRole {
                account: r.account.clone(),
                name: r.name.clone(),
                path: r.path.clone(),
                description: r.description.clone(),
                trust_policy: r.trust_policy.clone(),
                max_session_duration: r.max_session_duration,
                tags: r
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect(),
                policies: r.attached_policies.clone(),
            })
            .collect();
        policies.sort_by_key(|p| (p.account.clone(), p.name.to_ascii_lowercase()));
        roles.sort_by_key(|r| (r.account.clone(), r.name.to_ascii_lowercase()));
        (policies, roles)
    }
}
