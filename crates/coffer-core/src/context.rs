//! Who is calling and where: the account and region every operation is scoped to.

/// The authenticated caller of one request and the region it addressed (from the SigV4 scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The 12-digit account ID that owns the state being addressed.
    pub account_id: String,
    /// The AWS region name, e.g. `eu-central-1`.
    pub region: String,
    /// The caller's ARN, e.g. `arn:aws:iam::000000000000:root`.
    pub principal_arn: String,
    /// Set when the caller signs with temporary credentials of an assumed IAM role: its
    /// permissions are then those of the role's policies (and the session policy), checked by
    /// the authorizer. `None` is an account's root user (or Coffer itself), allowed everything in
    /// its account, as AWS's root user is.
    pub role: Option<std::sync::Arc<RoleSession>>,
    /// The request came over TLS: the `aws:SecureTransport` condition key.
    pub secure_transport: bool,
}

/// What kind of IAM principal a [`RoleSession`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An assumed-role session (STS AssumeRole, AssumeRoleWithWebIdentity).
    #[default]
    AssumedRole,
    /// An IAM user signing with its own access key (or with its `GetSessionToken` credentials):
    /// `role_name` and `role_arn` are the user's name and ARN, `session_name` is empty.
    User,
    /// A federated user (STS `GetFederationToken`): `role_name` is the IAM user whose policies
    /// (intersected with the session policy) apply, empty when the account's root user federated;
    /// `role_arn` is `arn:aws:sts::ACCOUNT:federated-user/NAME`; `session_name` is `NAME`.
    FederatedUser,
}

/// A caller that is not its account's root user: an assumed-role session (STS AssumeRole), or
/// an IAM user ([`PrincipalKind::User`]). Whose permissions the caller holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSession {
    /// Which kind of principal this is.
    pub kind: PrincipalKind,
    /// The role's name (with its path removed), e.g. `app`; for a user, the user's name.
    pub role_name: String,
    /// The role's ARN, e.g. `arn:aws:iam::123456789012:role/app`; for a user, the user's ARN.
    pub role_arn: String,
    /// `RoleSessionName` given to AssumeRole.
    pub session_name: String,
    /// The session policy given to AssumeRole, which further limits the role's permissions.
    pub session_policy: Option<String>,
    /// Set while a service acts for the caller (a forward access session), e.g.
    /// `secretsmanager.eu-west-1.amazonaws.com` when Secrets Manager uses KMS: the
    /// `kms:ViaService` condition key.
    pub via_service: Option<String>,
    /// The session's tags (`Tags` of AssumeRole / GetFederationToken, and transitive tags
    /// inherited in a role chain), keys as given: `aws:PrincipalTag/KEY`, overriding the role's
    /// or user's own tags of the same key.
    pub session_tags: Vec<(String, String)>,
    /// The keys of [`Self::session_tags`] that pass on to the next session of a role chain.
    pub transitive_tag_keys: Vec<String>,
    /// `SourceIdentity`, set once in a role chain and kept by every later session:
    /// `aws:SourceIdentity`.
    pub source_identity: Option<String>,
}

impl RoleSession {
    /// An IAM user as a caller.
    pub fn user(name: &str, arn: &str) -> Self {
        Self {
            kind: PrincipalKind::User,
            role_name: name.to_string(),
            role_arn: arn.to_string(),
            session_name: String::new(),
            session_policy: None,
            via_service: None,
            session_tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
        }
    }

    /// An assumed-role session of the role `role_name` (`role_arn`) named `session_name`, with
    /// no session policy, tags or source identity.
    pub fn assumed_role(role_name: &str, role_arn: &str, session_name: &str) -> Self {
        Self {
            kind: PrincipalKind::AssumedRole,
            session_name: session_name.to_string(),
            ..Self::user(role_name, role_arn)
        }
    }

    /// Whether this is an IAM user.
    pub fn is_user(&self) -> bool {
        self.kind == PrincipalKind::User
    }
}

impl RequestContext {
    /// The same caller, as seen by KMS when Secrets Manager acts for it.
    pub fn via_service(&self, service: &str) -> Self {
        let mut c = self.clone();
        if let Some(r) = &self.role {
            let mut r = (**r).clone();
            r.via_service = Some(format!("{service}.{}.amazonaws.com", self.region));
            c.role = Some(std::sync::Arc::new(r));
        }
        c
    }
}

impl RequestContext {
    /// The ARN partition of this region (`aws`, `aws-cn`, `aws-us-gov`, ...).
    pub fn partition(&self) -> &'static str {
        partition_of(&self.region)
    }

    /// The same caller addressing another region.
    pub fn in_region(&self, region: &str) -> Self {
        Self {
            region: region.to_string(),
            ..self.clone()
        }
    }
}

/// The ARN partition a region belongs to.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("eu-isoe-") {
        "aws-iso-e"
    } else if region.starts_with("us-isof-") {
        "aws-iso-f"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

/// True for a string shaped like an AWS region name (`eu-west-1`, `us-gov-east-1`, `cn-north-1`).
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 5
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        assert!(is_region_name("eu-central-1"));
        assert!(is_region_name("us-gov-west-1"));
        assert!(!is_region_name("eu-central"));
        assert!(!is_region_name("EU-central-1"));
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("eu-west-1"), "aws");
    }
}
