//! IAM policy documents: parsing and evaluation, as AWS's IAM reference documents them. Pure
//! logic: this crate knows nothing of storage, HTTP, roles or sessions beyond the ARNs a
//! [`Request`] carries.
//!
//! # Supported
//!
//! * **Documents**: `Version` (`2012-10-17` or `2008-10-17`; only `2012-10-17` enables policy
//!   variables, earlier documents keep `${...}` as literal text), `Id`, `Statement` (one object
//!   or a list), `Sid`, `Effect` (`Allow` / `Deny`, case-sensitive). No JSON object may
//!   repeat a key ("Individual elements must not contain multiple instances of the same
//!   key"): JSON parsers commonly keep the last one, which would read
//!   `{"Effect":"Deny","Effect":"Allow"}` as `Allow`.
//! * **`Principal` / `NotPrincipal`**: `"*"`, `{"AWS": ...}` (`*`, account IDs, account root
//!   ARNs, role, session and user ARNs, unique IDs), `{"Service": ...}`, `{"Federated": ...}`,
//!   `{"CanonicalUser": ...}`, each a string or a list. Naming an account delegates to that
//!   account's IAM policies ([`Outcome::allow_via_account`]); naming a role matches its
//!   sessions. `NotPrincipal` with `Deny` spares the caller only if its account, its role and
//!   its session are all listed, as the reference warns.
//! * **`Action` / `NotAction`**: `*` and `?` wildcards, case-insensitive.
//! * **`Resource` / `NotResource`**: `*` and `?` wildcards, case-sensitive, matched against
//!   the whole ARN: a `*` expands across `:` and `/` ("If the * wildcard is the last character
//!   of a resource ARN segment, it can expand to match beyond the colon boundaries"). Policy
//!   variables are substituted first; a substituted value is literal (a `*` in it is no
//!   wildcard). A statement without either element matches every resource (trust policies).
//! * **`Condition`**: `String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,
//!   NotLike}`, `Numeric{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,
//!   GreaterThanEquals}`, `Date{...the same six}` (W3C ISO 8601 profiles or epoch seconds),
//!   `Bool`, `BinaryEquals` (base64), `IpAddress` / `NotIpAddress` (IPv4 and IPv6, CIDR or a
//!   single address), `Arn{Equals,Like,NotEquals,NotLike}` (the six ARN parts matched one by
//!   one), `Null`; the `...IfExists` suffix on all but `Null`; `ForAnyValue:` /
//!   `ForAllValues:`. Operators, keys and values of one block are combined as AWS documents:
//!   every operator and every key must hold (AND), any value of a key may match (OR), and a
//!   negated operator holds when no value matches. Condition keys are case-insensitive, values
//!   case-sensitive unless the operator ignores case.
//! * **Missing keys**: a missing key fails a positive operator and satisfies a negated one;
//!   `...IfExists` on a missing key is true; `ForAllValues:` on a missing (or empty) key is
//!   true, `ForAnyValue:` false; `Null` tests presence. A key the caller does not set in the
//!   [`Context`] is missing.
//! * **Policy variables**: `${key}` from the [`Context`] (single-valued keys only),
//!   `${key, 'default'}`, `${*}`, `${?}`, `${$}`; in `Resource`/`NotResource` and in the values
//!   of String, Arn and Bool conditions. A variable with no value and no default matches
//!   nothing.
//! * **Combination**: [`decide`] (same-account evaluation with a resource policy, as for
//!   Secrets Manager), [`decide_kms`] (the key policy is authoritative; grants) and
//!   [`decide_cross_account`] (a caller of another account: the resource's policy and the
//!   caller's account must both allow).
//! * **Simulation** ([`simulate`], for IAM's policy simulator): the same scans and rules, with
//!   the statements that applied ([`Policy::explain_identity`]), the context keys the documents
//!   refer to that the request lacks ([`Policy::missing_keys`]), each statement's place in the document ([`Policy::statement_positions`]), and a
//!   given permissions boundary and service control policies.
//! * **Grammar checks** with IAM's `MalformedPolicyDocument` messages ([`PolicyError`]), and
//!   per policy type ([`Policy::validate`]). This is Coffer's only parser of the grammar: IAM
//!   checks the documents it stores with it (adding only its own quotas and rules), so a
//!   document IAM accepts is one the evaluator parses.
//!
//! # Not supported
//!
//! * Permissions boundaries and service control policies outside [`simulate`]; resource control
//!   policies.
//! * The distinction AWS makes for a resource policy that names the *session* ARN (not limited
//!   by the session policy): here a session policy always limits what the resource policy
//!   allows.
//! * Service-specific validation: IAM's per-service ARN formats, whether an action, resource
//!   type or condition key exists, the data type a key expects, policy size limits, and IAM's
//!   own rules for the policies it stores (a managed policy's `Version`, the characters of a
//!   `Sid`), which `coffer-core` checks. Unknown keys are accepted and are simply absent from
//!   the context.
//! * Transforming principal ARNs to unique IDs: a principal is matched by the ARN written.
//! * Populating the context: the caller sets `aws:CurrentTime`, `aws:SourceIp` and the rest.
#![forbid(unsafe_code)]

mod condition;
mod context;
mod error;
mod json;
mod pattern;
mod policy;
mod principal;
mod simulate;

#[cfg(test)]
mod tests;

pub use context::Context;
pub use error::PolicyError;
pub use policy::{Explanation, Matched, Policy, PolicyKind, Position};
pub use simulate::{simulate, Simulated, Simulation, Source};

/// The request being authorized.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller: `arn:aws:sts::123456789012:assumed-role/app/session`, or
    /// `arn:aws:iam::123456789012:root`.
    pub principal_arn: &'a str,
    /// The caller's account: `123456789012`.
    pub principal_account: &'a str,
    /// `arn:aws:iam::123456789012:role/app` when the caller is an assumed-role session.
    pub role_arn: Option<&'a str>,
    /// The action, `kms:Decrypt` (matched case-insensitively).
    pub action: &'a str,
    /// The resource's ARN.
    pub resource: &'a str,
    /// The condition keys of the request.
    pub context: &'a Context,
}

/// What one policy says about one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A `Deny` statement applies.
    pub explicit_deny: bool,
    /// An `Allow` statement applies (for a resource policy: one that names the caller directly).
    pub allow: bool,
    /// A resource policy's `Allow` statement applies because it names the caller's account,
    /// which delegates the decision to the account's identity policies.
    pub allow_via_account: bool,
}

/// The result of combining policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// A `Deny` statement applies.
    ExplicitDeny,
    /// Nothing allows the request.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// A decision after a permissions boundary had its say ([`apply_boundary`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded {
    /// The decision.
    pub decision: Decision,
    /// Whether it is the boundary that refuses (its explicit deny, or it allows nothing of what
    /// the other policies allowed): AWS's message then names the permissions boundary.
    pub by_boundary: bool,
}

/// Applies the caller's permissions boundary (if any) to `decided`, the decision of the other
/// policies, as AWS's evaluation logic does: an explicit deny in the boundary denies; an allow
/// stands only if the boundary allows the request too, unless `unbounded` says a resource-based
/// policy allowed it by itself in a way no boundary limits (one naming an IAM user's ARN
/// directly). A refusal already decided is left as it is.
pub fn apply_boundary(
    decided: Decision,
    boundary: Option<&Policy>,
    unbounded: impl FnOnce() -> bool,
    req: &Request<'_>,
) -> Bounded {
    let keep = Bounded {
        decision: decided,
        by_boundary: false,
    };
    let Some(boundary) = boundary else {
        return keep;
    };
    if decided == Decision::ExplicitDeny {
        return keep;
    }
    let b = boundary.evaluate_identity(req);
    if b.explicit_deny {
        return Bounded {
            decision: Decision::ExplicitDeny,
            by_boundary: true,
        };
    }
    if decided != Decision::Allow || b.allow || unbounded() {
        return keep;
    }
    Bounded {
        decision: Decision::ImplicitDeny,
        by_boundary: true,
    }
}

/// Whether a session policy (if any) allows the request.
fn session_allows(session: Option<&Outcome>) -> bool {
    session.is_none_or(|s| s.allow)
}

/// Same-account evaluation for a service with resource policies (Secrets Manager): explicit
/// deny anywhere denies; else allow if (any identity policy allows OR the resource policy
/// allows the principal directly) AND (no session policy, or the session policy allows);
/// `allow_via_account` in the resource policy adds nothing beyond the identity policies.
pub fn decide(
    identity: &[Policy],
    resource: Option<&Policy>,
    session: Option<&Policy>,
    req: &Request<'_>,
) -> Decision {
    let identity: Vec<Outcome> = identity.iter().map(|p| p.evaluate_identity(req)).collect();
    let resource = resource
        .map(|p| p.evaluate_resource(req))
        .unwrap_or_default();
    let session = session.map(|p| p.evaluate_identity(req));
    combine(&identity, resource, session.as_ref())
}

/// [`decide`]'s rule over outcomes already evaluated (the simulator shares it).
pub(crate) fn combine(
    identity: &[Outcome],
    resource: Outcome,
    session: Option<&Outcome>,
) -> Decision {
    if identity.iter().any(|o| o.explicit_deny)
        || resource.explicit_deny
        || session.is_some_and(|s| s.explicit_deny)
    {
        return Decision::ExplicitDeny;
    }
    let granted = identity.iter().any(|o| o.allow) || resource.allow;
    if granted && session_allows(session) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// KMS: the key policy is authoritative. Explicit deny anywhere denies. Allowed if the key
/// policy allows the principal directly, or `grant_allows`, or (the key policy allows via the
/// account AND an identity policy allows); and then the session policy (if any) must allow too.
pub fn decide_kms(
    key_policy: &Policy,
    identity: &[Policy],
    session: Option<&Policy>,
    grant_allows: bool,
    req: &Request<'_>,
) -> Decision {
    let key = key_policy.evaluate_resource(req);
    let identity: Vec<Outcome> = identity.iter().map(|p| p.evaluate_identity(req)).collect();
    let session = session.map(|p| p.evaluate_identity(req));
    if key.explicit_deny
        || identity.iter().any(|o| o.explicit_deny)
        || session.is_some_and(|s| s.explicit_deny)
    {
        return Decision::ExplicitDeny;
    }
    let granted =
        key.allow || grant_allows || (key.allow_via_account && identity.iter().any(|o| o.allow));
    if granted && session_allows(session.as_ref()) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// A caller of another account than the resource's (a KMS key, a secret; ADR 0017): both
/// accounts must allow. Explicit deny anywhere denies. Allowed if a grant allows (KMS), or if the
/// resource's policy allows the caller (directly or by naming its account) AND the caller's own
/// account allows: its root user implicitly (`identity` is `None`), a role session by an identity
/// policy; and then the session policy (if any) must allow too.
pub fn decide_cross_account(
    resource_policy: &Policy,
    identity: Option<&[Policy]>,
    session: Option<&Policy>,
    grant_allows: bool,
    req: &Request<'_>,
) -> Decision {
    let key = resource_policy.evaluate_resource(req);
    let identity: Option<Vec<Outcome>> =
        identity.map(|ps| ps.iter().map(|p| p.evaluate_identity(req)).collect());
    let session = session.map(|p| p.evaluate_identity(req));
    combine_cross_account(key, identity.as_deref(), session.as_ref(), grant_allows)
}

/// [`decide_cross_account`]'s rule over outcomes already evaluated.
pub(crate) fn combine_cross_account(
    key: Outcome,
    identity: Option<&[Outcome]>,
    session: Option<&Outcome>,
    grant_allows: bool,
) -> Decision {
    if key.explicit_deny
        || identity.is_some_and(|os| os.iter().any(|o| o.explicit_deny))
        || session.is_some_and(|s| s.explicit_deny)
    {
        return Decision::ExplicitDeny;
    }
    let caller_account_allows = identity.is_none_or(|os| os.iter().any(|o| o.allow));
    let granted = grant_allows || ((key.allow || key.allow_via_account) && caller_account_allows);
    if granted && session_allows(session) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}
