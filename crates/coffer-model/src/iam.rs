//! AWS IAM (API version 2010-05-08, Query protocol): the members Coffer serves, with AWS's names,
//! and the constraints of the official model (patterns, lengths, ranges) that requests are
//! checked against before anything else, with AWS's `ValidationError` wording.
//!
//! IAM is global: its ARNs carry no Region (`arn:aws:iam::123456789012:role/PATH/NAME`).

use crate::{Timestamp, Validator};

pub mod simulate;

/// The Query protocol `Version` of IAM.
pub const API_VERSION: &str = "2010-05-08";
/// The XML namespace of every IAM response and error.
pub const XML_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// `roleNameType` and `policyNameType` (with lengths 1–64 and 1–128).
pub const NAME_PATTERN: &str = r"[\w+=,.@-]+";
/// `pathType` (role paths, `ListEntitiesForPolicy` path prefixes).
pub const PATH_PATTERN: &str = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)";
/// `policyPathType` (policy paths and policy path prefixes).
pub const POLICY_PATH_PATTERN: &str = r"((/[A-Za-z0-9\.,\+@=_-]+)*)/";
/// `pathPrefixType` (`ListRoles`).
pub const PATH_PREFIX_PATTERN: &str = r"\u002F[\u0021-\u007F]*";
/// `policyDocumentType`.
pub const DOCUMENT_PATTERN: &str = r"[\u0009\u000A\u000D\u0020-\u00FF]+";
/// `roleDescriptionType`.
pub const ROLE_DESCRIPTION_PATTERN: &str = r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*";
/// `tagKeyType`.
pub const TAG_KEY_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
/// `tagValueType`.
pub const TAG_VALUE_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";
/// `policyVersionIdType`.
pub const VERSION_ID_PATTERN: &str = r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?";
/// `markerType`.
pub const MARKER_PATTERN: &str = r"[\u0020-\u00FF]+";

/// The fewest and most seconds a role session may last (`roleMaxSessionDurationType`).
pub const MIN_SESSION_DURATION: i64 = 3600;
/// See [`MIN_SESSION_DURATION`].
pub const MAX_SESSION_DURATION: i64 = 43200;
/// Tags on one role or policy (`tagListType`).
pub const MAX_TAGS: usize = 50;
/// `MaxItems` when a list request gives none.
pub const DEFAULT_MAX_ITEMS: usize = 100;

/// A tag: `Key` and `Value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// `Key`.
    pub key: String,
    /// `Value`.
    pub value: String,
}

/// The `Role` shape. `assume_role_policy_document` is the JSON text (the wire form URL-encodes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `Path`.
    pub path: String,
    /// `RoleName`.
    pub role_name: String,
    /// `RoleId` (`AROA…`).
    pub role_id: String,
    /// `Arn`.
    pub arn: String,
    /// `CreateDate`.
    pub create_date: Timestamp,
    /// `AssumeRolePolicyDocument`, decoded.
    pub assume_role_policy_document: String,
    /// `Description`.
    pub description: Option<String>,
    /// `MaxSessionDuration`, seconds.
    pub max_session_duration: i64,
    /// `Tags`.
    pub tags: Vec<Tag>,
    /// `PermissionsBoundary.PermissionsBoundaryArn` (type `Policy`).
    pub permissions_boundary: Option<String>,
}

/// The `Policy` shape (a customer managed policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `PolicyName`.
    pub policy_name: String,
    /// `PolicyId` (`ANPA…`).
    pub policy_id: String,
    /// `Arn`.
    pub arn: String,
    /// `Path`.
    pub path: String,
    /// `DefaultVersionId`.
    pub default_version_id: String,
    /// `AttachmentCount`.
    pub attachment_count: usize,
    /// `PermissionsBoundaryUsageCount` (always 0: Coffer has no permissions boundaries).
    pub permissions_boundary_usage_count: usize,
    /// `IsAttachable`.
    pub is_attachable: bool,
    /// `Description`.
    pub description: Option<String>,
    /// `CreateDate`.
    pub create_date: Timestamp,
    /// `UpdateDate`: when the newest version was made.
    pub update_date: Timestamp,
    /// `Tags`.
    pub tags: Vec<Tag>,
}

/// The `PolicyVersion` shape. `document` is the JSON text, present where AWS returns it
/// (`GetPolicyVersion`, `CreatePolicyVersion`'s answer has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// `Document`, decoded.
    pub document: Option<String>,
    /// `VersionId` (`v1`, `v2`, …).
    pub version_id: String,
    /// `IsDefaultVersion`.
    pub is_default_version: bool,
    /// `CreateDate`.
    pub create_date: Timestamp,
}

/// The `AttachedPolicy` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedPolicy {
    /// `PolicyName`.
    pub policy_name: String,
    /// `PolicyArn`.
    pub policy_arn: String,
}

/// The `PolicyRole` shape (`ListEntitiesForPolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRole {
    /// `RoleName`.
    pub role_name: String,
    /// `RoleId`.
    pub role_id: String,
}

/// `GetRolePolicy`'s answer: an inline policy of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicy {
    /// `RoleName`.
    pub role_name: String,
    /// `PolicyName`.
    pub policy_name: String,
    /// `PolicyDocument`, decoded.
    pub policy_document: String,
}

/// One page of a list: `IsTruncated` is `marker.is_some()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// `Marker` for the next page, when there is one.
    pub marker: Option<String>,
}

/// `Marker` and `MaxItems` of a list request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    /// `Marker`.
    pub marker: Option<String>,
    /// `MaxItems`.
    pub max_items: Option<i64>,
}

impl Paging {
    /// Checks `Marker` and `MaxItems` against the model.
    pub fn check(&self, v: &mut Validator) {
        v.length("Marker", self.marker.as_deref(), 1, 320);
        v.pattern("Marker", self.marker.as_deref(), is_marker, MARKER_PATTERN);
        v.range("MaxItems", self.max_items, 1, 1000);
    }

    /// `MaxItems`, or the default of 100.
    pub fn max_items(&self) -> usize {
        self.max_items
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_ITEMS)
    }
}

/// `CreateRole`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateRoleRequest {
    /// `RoleName` (required).
    pub role_name: Option<String>,
    /// `Path` (default `/`).
    pub path: Option<String>,
    /// `AssumeRolePolicyDocument` (required).
    pub assume_role_policy_document: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `MaxSessionDuration` (default 3600).
    pub max_session_duration: Option<i64>,
    /// `PermissionsBoundary`.
    pub permissions_boundary: Option<String>,
    /// `Tags`.
    pub tags: Option<Vec<Tag>>,
}

/// `CreatePolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatePolicyRequest {
    /// `PolicyName` (required).
    pub policy_name: Option<String>,
    /// `Path` (default `/`).
    pub path: Option<String>,
    /// `PolicyDocument` (required).
    pub policy_document: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `Tags`.
    pub tags: Option<Vec<Tag>>,
}

/// `ListPolicies`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPoliciesRequest {
    /// `Scope`: `All` (default), `AWS` or `Local`.
    pub scope: Option<String>,
    /// `OnlyAttached`.
    pub only_attached: bool,
    /// `PathPrefix`.
    pub path_prefix: Option<String>,
    /// `PolicyUsageFilter`: `PermissionsPolicy` or `PermissionsBoundary`.
    pub policy_usage_filter: Option<String>,
    /// `Marker`, `MaxItems`.
    pub paging: Paging,
}

/// `ListEntitiesForPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListEntitiesForPolicyRequest {
    /// `PolicyArn` (required).
    pub policy_arn: Option<String>,
    /// `EntityFilter`: `User`, `Role`, `Group`, `LocalManagedPolicy` or `AWSManagedPolicy`.
    pub entity_filter: Option<String>,
    /// `PathPrefix`.
    pub path_prefix: Option<String>,
    /// `PolicyUsageFilter`.
    pub policy_usage_filter: Option<String>,
    /// `Marker`, `MaxItems`.
    pub paging: Paging,
}

/// `policyScopeType`.
pub const SCOPES: &[&str] = &["All", "AWS", "Local"];
/// `PolicyUsageType`.
pub const POLICY_USAGES: &[&str] = &["PermissionsPolicy", "PermissionsBoundary"];
/// `EntityType`.
pub const ENTITY_TYPES: &[&str] = &[
    "User",
    "Role",
    "Group",
    "LocalManagedPolicy",
    "AWSManagedPolicy",
];

/// `\w` as Java (and so AWS's validator) reads it: ASCII letters, digits and `_`.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Matches [`NAME_PATTERN`].
pub fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| is_word(c) || "+=,.@-".contains(c))
}

/// Matches [`PATH_PATTERN`].
pub fn is_path(s: &str) -> bool {
    s == "/"
        || (s.len() >= 3
            && s.starts_with('/')
            && s.ends_with('/')
            && s.chars().all(|c| ('\u{21}'..='\u{7E}').contains(&c)))
}

/// Matches [`POLICY_PATH_PATTERN`].
pub fn is_policy_path(s: &str) -> bool {
    let Some(inner) = s.strip_suffix('/') else {
        return false;
    };
    if inner.is_empty() {
        return true;
    }
    let Some(inner) = inner.strip_prefix('/') else {
        return false;
    };
    inner.split('/').all(|seg| {
        !seg.is_empty()
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c))
    })
}

/// Matches [`PATH_PREFIX_PATTERN`].
pub fn is_path_prefix(s: &str) -> bool {
    s.starts_with('/') && s.chars().all(|c| ('\u{21}'..='\u{7F}').contains(&c))
}

/// Matches [`DOCUMENT_PATTERN`].
pub fn is_document_text(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| matches!(c, '\t' | '\n' | '\r') || ('\u{20}'..='\u{FF}').contains(&c))
}

/// Matches [`ROLE_DESCRIPTION_PATTERN`].
pub fn is_role_description(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{7E}').contains(&c)
            || ('\u{A1}'..='\u{FF}').contains(&c)
    })
}

/// Matches [`MARKER_PATTERN`].
pub fn is_marker(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| ('\u{20}'..='\u{FF}').contains(&c))
}

/// A character of `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (`\p{Z}`: the space separators).
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

/// Matches [`TAG_KEY_PATTERN`].
pub fn is_tag_key(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_tag_char)
}

/// Matches [`TAG_VALUE_PATTERN`].
pub fn is_tag_value(s: &str) -> bool {
    s.chars().all(is_tag_char)
}

/// Matches [`VERSION_ID_PATTERN`].
pub fn is_version_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let (num, suffix) = match rest.split_once('.') {
        Some((n, sfx)) => (n, Some(sfx)),
        None => (rest, None),
    };
    !num.is_empty()
        && !num.starts_with('0')
        && num.bytes().all(|b| b.is_ascii_digit())
        && suffix.is_none_or(|sfx| sfx.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// Checks a tag list (`Tags`), member by member, with the wire names of the Query protocol
/// (`tags.1.member.key`).
pub fn check_tags(v: &mut Validator, member: &str, tags: Option<&[Tag]>) {
    let Some(tags) = tags else {
        return;
    };
    v.count(member, Some(tags.len()), 0, MAX_TAGS);
    for (i, t) in tags.iter().enumerate() {
        let key = format!("{member}.{}.member.key", i + 1);
        let value = format!("{member}.{}.member.value", i + 1);
        v.length(&key, Some(&t.key), 1, 128);
        v.pattern(&key, Some(&t.key), is_tag_key, TAG_KEY_PATTERN);
        v.length(&value, Some(&t.value), 0, 256);
        v.pattern(&value, Some(&t.value), is_tag_value, TAG_VALUE_PATTERN);
    }
}

/// Checks a tag key list (`TagKeys`).
pub fn check_tag_keys(v: &mut Validator, member: &str, keys: &[String]) {
    v.count(member, Some(keys.len()), 0, MAX_TAGS);
    for k in keys {
        v.length(member, Some(k), 1, 128);
        v.pattern(member, Some(k), is_tag_key, TAG_KEY_PATTERN);
    }
}

/// A role or policy name (`RoleName`: 1–64, `PolicyName`: 1–128).
pub fn check_name(v: &mut Validator, member: &str, name: Option<&str>, max: usize) {
    v.length(member, name, 1, max);
    v.pattern(member, name, is_name, NAME_PATTERN);
}

/// A policy document member: length 1–131072 and the document pattern.
pub fn check_document(v: &mut Validator, member: &str, doc: Option<&str>) {
    v.length(member, doc, 1, 131_072);
    v.pattern(member, doc, is_document_text, DOCUMENT_PATTERN);
}

/// A policy ARN member (`arnType`: 20–2048 characters).
pub fn check_arn(v: &mut Validator, member: &str, arn: Option<&str>) {
    v.length(member, arn, 20, 2048);
}

/// The parts of an IAM resource ARN `arn:PARTITION:iam::ACCOUNT:KIND/PATH/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamArn {
    /// `aws`, `aws-cn`, …
    pub partition: String,
    /// The 12-digit account, or `aws` for AWS managed policies.
    pub account: String,
    /// `role`, `policy`, …
    pub kind: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// The last segment.
    pub name: String,
}

impl IamArn {
    /// Splits an IAM ARN; `None` if it is not one (a Region, no resource, an empty name).
    pub fn parse(arn: &str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?;
        if parts.next()? != "iam" || !parts.next()?.is_empty() {
            return None;
        }
        let account = parts.next()?;
        let resource = parts.next()?;
        if partition.is_empty() || account.is_empty() {
            return None;
        }
        let (kind, rest) = resource.split_once('/')?;
        let (path, name) = match rest.rfind('/') {
            Some(i) => (format!("/{}", &rest[..=i]), &rest[i + 1..]),
            None => ("/".to_string(), rest),
        };
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            partition: partition.to_string(),
            account: account.to_string(),
            kind: kind.to_string(),
            path,
            name: name.to_string(),
        })
    }
}

/// An IAM ARN: `arn:PARTITION:iam::ACCOUNT:KIND` + `PATH` + `NAME` (`PATH` starts and ends with `/`).
pub fn arn(partition: &str, account: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:{kind}{path}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(is_name("app-role_1+=,.@"));
        assert!(!is_name("a b"));
        assert!(!is_name("a/b"));
        assert!(!is_name(""));
        assert!(is_path("/"));
        assert!(is_path("/a/b/"));
        assert!(!is_path("//"));
        assert!(!is_path("a/"));
        assert!(!is_path("/a"));
        assert!(is_policy_path("/"));
        assert!(is_policy_path("/team/app/"));
        assert!(!is_policy_path("/team//"));
        assert!(!is_policy_path("/te am/"));
        assert!(is_path_prefix("/"));
        assert!(is_path_prefix("/te"));
        assert!(!is_path_prefix("te"));
        assert!(is_version_id("v1"));
        assert!(is_version_id("v12"));
        assert!(is_version_id("v1.x-2"));
        assert!(!is_version_id("v0"));
        assert!(!is_version_id("1"));
        assert!(!is_version_id("v"));
        assert!(is_tag_key("team:a b/c=d+e-f@g_h.i"));
        assert!(is_tag_key("équipe"));
        assert!(!is_tag_key("a*b"));
        assert!(!is_tag_key(""));
        assert!(is_tag_value(""));
        assert!(is_document_text("{\"a\":\"é\"}\n"));
        assert!(!is_document_text("{\"a\":\"€\"}"));
        assert!(!is_role_description("\u{7F}"));
    }

    #[test]
    fn arns() {
        let a = IamArn::parse("arn:aws:iam::123456789012:policy/team/app/read").unwrap();
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.kind, "policy");
        assert_eq!(a.path, "/team/app/");
        assert_eq!(a.name, "read");
        assert_eq!(
            arn("aws", &a.account, &a.kind, &a.path, &a.name),
            "arn:aws:iam::123456789012:policy/team/app/read"
        );
        let r = IamArn::parse("arn:aws:iam::123456789012:role/app").unwrap();
        assert_eq!((r.path.as_str(), r.name.as_str()), ("/", "app"));
        assert!(IamArn::parse("arn:aws:iam:us-east-1:123456789012:role/app").is_none());
        assert!(IamArn::parse("arn:aws:iam::123456789012:role/").is_none());
        assert!(IamArn::parse("arn:aws:iam::123456789012:role").is_none());
        assert!(IamArn::parse("not-an-arn").is_none());
    }

    #[test]
    fn tag_wording() {
        let mut v = Validator::new();
        check_tags(
            &mut v,
            "Tags",
            Some(&[Tag {
                key: "a*".into(),
                value: "ok".into(),
            }]),
        );
        assert_eq!(
            v.finish().unwrap_err().message,
            "1 validation error detected: Value 'a*' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"
        );
    }
}
