//! Why a policy document was refused.

/// A policy document that cannot be used. `Display` gives the message IAM returns with
/// `MalformedPolicyDocument` for the same fault (IAM often says no more than "Syntax errors in
/// policy."); the variant's fields say exactly what was wrong, for logs and findings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not JSON, not an object, an unknown element, an element of the wrong JSON type, a
    /// missing `Effect` or `Statement`, two elements that exclude each other
    /// (`Action`/`NotAction`, `Resource`/`NotResource`, `Principal`/`NotPrincipal`), or a key
    /// repeated in one JSON object at any depth (two `Effect`s in a statement, a condition key
    /// twice under one operator, ...), which the grammar forbids. IAM refuses a repeated key
    /// as a syntax error; its exact message for it is not documented.
    #[error("Syntax errors in policy.")]
    Syntax {
        /// What exactly is wrong.
        detail: String,
    },
    /// A condition operator IAM does not know (`StringEqualz`, `NullIfExists`, ...).
    #[error("Syntax errors in policy.")]
    UnknownConditionOperator {
        /// The operator as written.
        operator: String,
    },
    /// A value IAM's parser rejects: an `Effect` in the wrong case, a malformed date in a
    /// `Date...` condition.
    #[error("The policy failed legacy parsing")]
    LegacyParsing {
        /// What exactly is wrong.
        detail: String,
    },
    /// A statement with neither `Action` nor `NotAction`, or with an empty list.
    #[error("Policy statement must contain actions.")]
    MissingAction,
    /// An identity-based statement with neither `Resource` nor `NotResource`, or an empty list.
    #[error("Policy statement must contain resources.")]
    MissingResource,
    /// An action or condition key without a `vendor:` prefix.
    #[error("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")]
    MissingVendor {
        /// The action or key as written.
        value: String,
    },
    /// An action with more than one colon.
    #[error("Actions/Condition can contain only one colon.")]
    TooManyColons {
        /// The action as written.
        value: String,
    },
    /// An action whose vendor is empty or has characters other than letters, digits, `-` and
    /// `.` (a vendor of exactly `*` is accepted).
    #[error("Vendor {vendor} is not valid")]
    InvalidVendor {
        /// The vendor as written.
        vendor: String,
    },
    /// A resource that is neither `*` nor an ARN.
    #[error("Resource {resource} must be in ARN format or \"*\".")]
    InvalidResource {
        /// The resource as written.
        resource: String,
    },
    /// A principal IAM refuses: a partial wildcard or an `AWS` value that is neither `*`, an
    /// account ID, an ARN nor a unique ID ("Invalid principal in policy: ..."); or a principal
    /// the grammar does not allow at all, a string other than `"*"` or a principal type other
    /// than `AWS`, `Service`, `Federated` and `CanonicalUser`, which IAM reports as "Syntax
    /// errors in policy." (`<principal_block> = ("Principal" | "NotPrincipal") : ("*" |
    /// <principal_map>)`).
    #[error("{}", invalid_principal(.kind, .value))]
    InvalidPrincipal {
        /// `AWS`, `Service`, `Federated`, `CanonicalUser`, the unknown type, or empty for a
        /// string principal.
        kind: String,
        /// The value as written.
        value: String,
    },
    /// Two statements with the same `Sid` (IAM-managed policies only).
    #[error("Statement IDs (SID) in a single policy must be unique.")]
    DuplicateSid {
        /// The repeated `Sid`.
        sid: String,
    },
    /// `Principal` or `NotPrincipal` in an identity-based policy.
    #[error("Policy document should not specify a principal.")]
    PrincipalNotAllowed,
    /// A resource-based policy statement without `Principal` or `NotPrincipal`, or a role trust
    /// policy statement without `Principal`.
    #[error("Missing required field Principal")]
    MissingPrincipal,
    /// An element a role trust policy must not have: `Resource`, `NotResource`, or
    /// `NotPrincipal` ("You cannot use the NotPrincipal element in an IAM identity-based policy
    /// nor in an IAM role trust policy").
    #[error("Has prohibited field {field}")]
    ProhibitedField {
        /// The element, as the policy names it.
        field: String,
    },
}

/// The principal types of the grammar's `<principal_map_entry>`.
const PRINCIPAL_TYPES: [&str; 4] = ["AWS", "Service", "Federated", "CanonicalUser"];

/// [`PolicyError::InvalidPrincipal`]'s message.
fn invalid_principal(kind: &str, value: &str) -> String {
    if PRINCIPAL_TYPES.contains(&kind) {
        format!("Invalid principal in policy: \"{kind}\":\"{value}\"")
    } else {
        "Syntax errors in policy.".to_owned()
    }
}

impl PolicyError {
    pub(crate) fn syntax(detail: impl Into<String>) -> Self {
        PolicyError::Syntax {
            detail: detail.into(),
        }
    }
}
