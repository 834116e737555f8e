//! The `Principal` and `NotPrincipal` elements of resource-based policies.

use serde_json::Value;

use crate::error::PolicyError;
use crate::Request;

/// The principal types a policy may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

/// A statement's `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principals {
    /// `"Principal": "*"`.
    everyone: bool,
    entries: Vec<(Kind, String)>,
}

/// How a statement's `Principal` names the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    /// Not at all.
    None,
    /// Through the caller's account (`"123456789012"`, `"arn:aws:iam::123456789012:root"`),
    /// which delegates to the account's IAM policies.
    Account,
    /// Directly: `*`, `{"AWS": "*"}`, the caller's role or session ARN, or the account root
    /// for the root user itself.
    Direct,
}

impl Principals {
    pub(crate) fn parse(value: &Value) -> Result<Principals, PolicyError> {
        match value {
            Value::String(s) if s == "*" => Ok(Principals {
                everyone: true,
                entries: Vec::new(),
            }),
            Value::String(s) => Err(PolicyError::InvalidPrincipal {
                kind: String::new(),
                value: s.clone(),
            }),
            Value::Object(map) => {
                let mut entries = Vec::new();
                for (kind_name, values) in map {
                    let kind = match kind_name.as_str() {
                        "AWS" => Kind::Aws,
                        "Service" => Kind::Service,
                        "Federated" => Kind::Federated,
                        "CanonicalUser" => Kind::CanonicalUser,
                        _ => {
                            return Err(PolicyError::InvalidPrincipal {
                                kind: kind_name.clone(),
                                value: match values {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                },
                            })
                        }
                    };
                    let list = match values {
                        Value::String(s) => vec![s.clone()],
                        Value::Array(items) if !items.is_empty() => items
                            .iter()
                            .map(|v| match v {
                                Value::String(s) => Ok(s.clone()),
                                _ => Err(PolicyError::syntax(format!(
                                    "principal {kind_name} values must be strings"
                                ))),
                            })
                            .collect::<Result<_, _>>()?,
                        _ => {
                            return Err(PolicyError::syntax(format!(
                                "principal {kind_name} must be a string or a list of strings"
                            )))
                        }
                    };
                    for value in list {
                        if !valid(kind, &value) {
                            return Err(PolicyError::InvalidPrincipal {
                                kind: kind_name.clone(),
                                value,
                            });
                        }
                        entries.push((kind, value));
                    }
                }
                if entries.is_empty() {
                    return Err(PolicyError::syntax("Principal names no principal"));
                }
                Ok(Principals {
                    everyone: false,
                    entries,
                })
            }
            _ => Err(PolicyError::syntax(
                "Principal must be \"*\" or an object of principal types",
            )),
        }
    }

    fn aws(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(kind, _)| *kind == Kind::Aws)
            .map(|(_, v)| v.as_str())
    }

    fn names_everyone(&self) -> bool {
        self.everyone || self.aws().any(|v| v == "*")
    }

    /// How `Principal` names the caller. Service, federated and canonical-user principals
    /// never name a role session or an account's root user; a federated caller (an identity
    /// provider's ARN, for `AssumeRoleWithWebIdentity`) is named only by a `Federated` entry.
    pub(crate) fn matches(&self, req: &Request<'_>) -> PrincipalMatch {
        if is_federated(req.principal_arn) {
            let named = self.everyone
                || self
                    .entries
                    .iter()
                    .any(|(kind, v)| *kind == Kind::Federated && v == req.principal_arn);
            return if named {
                PrincipalMatch::Direct
            } else {
                PrincipalMatch::None
            };
        }
        if self.names_everyone() {
            return PrincipalMatch::Direct;
        }
        let root = caller_is_root(req);
        let mut best = PrincipalMatch::None;
        for value in self.aws() {
            let m = if value == req.principal_arn || Some(value) == req.role_arn {
                PrincipalMatch::Direct
            } else if account_of(value) == Some(req.principal_account) {
                // "Using the account ARN in the Principal element does not limit permissions to
                // only the root user of the account": it delegates to the account's policies,
                // except for the root user, which is the account.
                if root {
                    PrincipalMatch::Direct
                } else {
                    PrincipalMatch::Account
                }
            } else {
                PrincipalMatch::None
            };
            best = best.max(m);
        }
        best
    }

    /// Whether a `NotPrincipal` statement applies to the caller. AWS checks the caller's
    /// account, then its role, then its session: a `Deny` applies unless every one of them is
    /// listed ("you must also specify the account ARN of the not-denied principal"); an
    /// `Allow` applies only when none of them is listed.
    pub(crate) fn not_principal_applies(&self, req: &Request<'_>, deny: bool) -> bool {
        let everyone = self.names_everyone();
        let listed = |arn: &str| everyone || self.aws().any(|v| v == arn);
        let account_listed = everyone
            || self
                .aws()
                .any(|v| account_of(v) == Some(req.principal_account));
        let mut layers = vec![account_listed];
        if !caller_is_root(req) {
            layers.push(listed(req.principal_arn));
            if let Some(role) = req.role_arn {
                layers.push(listed(role));
            }
        }
        if deny {
            !layers.iter().all(|l| *l)
        } else {
            !layers.iter().any(|l| *l)
        }
    }
}

/// Whether `arn` is an IAM identity provider's (`arn:PARTITION:iam::ACCOUNT:oidc-provider/…`
/// or `…:saml-provider/…`): the caller of `AssumeRoleWithWebIdentity` / `AssumeRoleWithSAML`.
pub(crate) fn is_federated(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "iam", "", _, resource]
        if resource.starts_with("oidc-provider/") || resource.starts_with("saml-provider/"))
}

/// Whether the caller is its account's root user.
fn caller_is_root(req: &Request<'_>) -> bool {
    req.role_arn.is_none() && account_of(req.principal_arn) == Some(req.principal_account)
}

/// The account an `AWS` principal names as a whole: `123456789012` or
/// `arn:PARTITION:iam::123456789012:root`.
pub(crate) fn account_of(value: &str) -> Option<&str> {
    if is_account_id(value) {
        return Some(value);
    }
    let parts: Vec<&str> = value.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", account, "root"] if is_account_id(account) => Some(account),
        _ => None,
    }
}

fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// Whether IAM accepts `value` as a principal of `kind`. "You cannot use a wildcard to match
/// part of a principal name or ARN."
fn valid(kind: Kind, value: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    if value == "*" {
        return true;
    }
    if value.contains(['*', '?']) {
        return false;
    }
    match kind {
        Kind::Aws => {
            is_account_id(value)
                || (value.starts_with("arn:") && value.split(':').count() >= 6)
                // A unique ID (AROA..., AIDA...), which IAM shows for a deleted principal.
                || (value.len() >= 16
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        }
        Kind::Service | Kind::Federated | Kind::CanonicalUser => true,
    }
}
