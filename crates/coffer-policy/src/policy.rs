//! Policy documents: parsing, grammar checks per policy type, and evaluation of one policy.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::condition::{self, Condition};
use crate::error::PolicyError;
use crate::json::parse_unique;
use crate::pattern::{glob_str, lowercase_tokens, wildcard_tokens, Template, Tok};
use crate::principal::{PrincipalMatch, Principals};
use crate::{Context, Outcome, Request};

/// The `Version` that enables policy variables.
const VERSION_2012: &str = "2012-10-17";
/// The policy language versions IAM accepts.
const VERSIONS: [&str; 2] = ["2008-10-17", VERSION_2012];

/// `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// What kind of policy a document is, for [`Policy::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A policy attached to an IAM identity (managed or inline) or passed as a session policy:
    /// no `Principal`, every statement has `Resource` or `NotResource`, unique `Sid`s.
    Identity,
    /// A resource-based policy (key policy, secret resource policy): every statement names a
    /// `Principal` or `NotPrincipal`.
    Resource,
    /// A role trust policy: every statement names a `Principal` (not `NotPrincipal`), none has
    /// `Resource` or `NotResource`, unique `Sid`s.
    Trust,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: the listed patterns and whether the
/// element is the negated one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct List<T> {
    items: Vec<T>,
    negated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    sid: Option<String>,
    effect: Effect,
    /// `Principal` (`negated` false) or `NotPrincipal` (true).
    principal: Option<(Principals, bool)>,
    /// Lowercased wildcard tokens of each action.
    actions: List<Vec<Tok>>,
    /// `None` when the statement has neither `Resource` nor `NotResource` (trust policies).
    resources: Option<List<Template>>,
    conditions: Vec<Condition>,
}

#[derive(Debug)]
struct Document {
    source: String,
    version: Option<String>,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// A parsed IAM policy document; cheap to clone.
#[derive(Debug, Clone)]
pub struct Policy {
    doc: Arc<Document>,
}

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse(json)
    }
}

impl Policy {
    /// Parses a policy document of any kind, checking the grammar every kind shares; see
    /// [`Policy::validate`] for what one kind adds.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        let value = parse_unique(json).map_err(|e| {
            if e.is_data() {
                // A repeated key: IAM documents no message of its own for it.
                PolicyError::syntax(e.to_string())
            } else {
                PolicyError::syntax(format!("not JSON: {e}"))
            }
        })?;
        let Value::Object(top) = value else {
            return Err(PolicyError::syntax("the document is not a JSON object"));
        };
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::syntax(format!("unknown element {key}")));
            }
        }
        let version = match top.get("Version") {
            None => None,
            Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => Some(v.clone()),
            Some(other) => {
                return Err(PolicyError::syntax(format!("invalid Version {other}")));
            }
        };
        let id = match top.get("Id") {
            None => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => return Err(PolicyError::syntax("Id must be a string")),
        };
        let variables = version.as_deref() == Some(VERSION_2012);
        let raw_statements: Vec<&Value> = match top.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
            Some(obj @ Value::Object(_)) => vec![obj],
            Some(_) => {
                return Err(PolicyError::syntax(
                    "Statement must be an object or a non-empty list",
                ))
            }
            None => return Err(PolicyError::syntax("missing Statement")),
        };
        let statements = raw_statements
            .into_iter()
            .map(|s| match s {
                Value::Object(map) => parse_statement(map, variables),
                _ => Err(PolicyError::syntax("a statement must be an object")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            doc: Arc::new(Document {
                source: json.to_owned(),
                version,
                id,
                statements,
            }),
        })
    }

    /// A policy without statements: it allows nothing and denies nothing (for a stored document
    /// that no longer parses, say). No document parses to it: IAM refuses an empty `Statement`.
    pub fn empty() -> Policy {
        Policy {
            doc: Arc::new(Document {
                source: String::new(),
                version: None,
                id: None,
                statements: Vec::new(),
            }),
        }
    }

    /// Checks what a policy of `kind` needs beyond the shared grammar, with IAM's messages.
    /// Statements are checked in order, each completely, as IAM does: a permissions policy given
    /// as a trust policy is refused for its `Resource` before its missing `Principal`.
    pub fn validate(&self, kind: PolicyKind) -> Result<(), PolicyError> {
        let statements = &self.doc.statements;
        for s in statements {
            match kind {
                PolicyKind::Identity => {
                    if s.principal.is_some() {
                        return Err(PolicyError::PrincipalNotAllowed);
                    }
                    if s.resources.is_none() {
                        return Err(PolicyError::MissingResource);
                    }
                }
                PolicyKind::Resource => {
                    if s.principal.is_none() {
                        return Err(PolicyError::MissingPrincipal);
                    }
                }
                PolicyKind::Trust => {
                    if let Some(resources) = &s.resources {
                        return Err(PolicyError::ProhibitedField {
                            field: if resources.negated {
                                "NotResource"
                            } else {
                                "Resource"
                            }
                            .to_owned(),
                        });
                    }
                    match &s.principal {
                        None => return Err(PolicyError::MissingPrincipal),
                        Some((_, true)) => {
                            return Err(PolicyError::ProhibitedField {
                                field: "NotPrincipal".to_owned(),
                            })
                        }
                        Some((_, false)) => {}
                    }
                }
            }
        }
        if kind != PolicyKind::Resource {
            let mut seen = HashSet::new();
            for sid in statements.iter().filter_map(|s| s.sid.as_deref()) {
                if !sid.is_empty() && !seen.insert(sid) {
                    return Err(PolicyError::DuplicateSid {
                        sid: sid.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The document exactly as parsed.
    pub fn source(&self) -> &str {
        &self.doc.source
    }

    /// `Version`, when the document has one.
    pub fn version(&self) -> Option<&str> {
        self.doc.version.as_deref()
    }

    /// `Id`, when the document has one.
    pub fn id(&self) -> Option<&str> {
        self.doc.id.as_deref()
    }

    /// How many statements the document has.
    pub fn statement_count(&self) -> usize {
        self.doc.statements.len()
    }

    /// Each statement's `Sid`, in order.
    pub fn sids(&self) -> impl Iterator<Item = Option<&str>> {
        self.doc.statements.iter().map(|s| s.sid.as_deref())
    }

    /// Identity-based policy (attached to a role, or a session policy): statements must not
    /// have `Principal`; one that has is skipped ([`Policy::validate`] refuses it).
    /// `allow_via_account` is always false.
    pub fn evaluate_identity(&self, req: &Request<'_>) -> Outcome {
        self.scan_identity(req, |_, _, _| {})
    }

    /// Resource-based policy (key policy, secret resource policy, role trust policy): a
    /// statement applies only if its `Principal`/`NotPrincipal` matches. `allow` = allowed for
    /// this principal directly (its role ARN, its session ARN, `"*"` / `{"AWS":"*"}`);
    /// `allow_via_account` = allowed by a statement that names the caller's account
    /// (`"123456789012"` or `"arn:aws:iam::123456789012:root"`), which AWS treats as delegating
    /// to the account's IAM policies. A root caller matches its own account's root directly
    /// (`allow`). `{"Service": ...}` and `{"Federated": ...}` never match a role. A `Deny`
    /// naming the caller in any of these ways denies. A statement without `Principal` or
    /// `NotPrincipal` never applies.
    pub fn evaluate_resource(&self, req: &Request<'_>) -> Outcome {
        self.scan_resource(req, |_, _, _| {})
    }

    /// [`Policy::evaluate_identity`], calling `seen(index, statement, holds)` for each statement
    /// whose action and resource match, `holds` telling whether its conditions hold too (it
    /// then counts in the outcome).
    fn scan_identity(
        &self,
        req: &Request<'_>,
        mut seen: impl FnMut(usize, &Statement, bool),
    ) -> Outcome {
        let mut out = Outcome::default();
        let action = req.action.to_lowercase();
        for (i, s) in self.doc.statements.iter().enumerate() {
            if s.principal.is_some() || !s.targets(req, &action) {
                continue;
            }
            let holds = s.conditions_hold(req);
            seen(i, s, holds);
            if !holds {
                continue;
            }
            match s.effect {
                Effect::Deny => out.explicit_deny = true,
                Effect::Allow => out.allow = true,
            }
        }
        out
    }

    /// [`Policy::evaluate_resource`], calling `seen` as [`Policy::scan_identity`] does, for
    /// statements whose principal matches too.
    fn scan_resource(
        &self,
        req: &Request<'_>,
        mut seen: impl FnMut(usize, &Statement, bool),
    ) -> Outcome {
        let mut out = Outcome::default();
        let action = req.action.to_lowercase();
        for (i, s) in self.doc.statements.iter().enumerate() {
            let Some((principals, negated)) = &s.principal else {
                continue;
            };
            let deny = s.effect == Effect::Deny;
            let matched = if *negated {
                if principals.not_principal_applies(req, deny) {
                    PrincipalMatch::Direct
                } else {
                    PrincipalMatch::None
                }
            } else {
                principals.matches(req)
            };
            if matched == PrincipalMatch::None || !s.targets(req, &action) {
                continue;
            }
            let holds = s.conditions_hold(req);
            seen(i, s, holds);
            if !holds {
                continue;
            }
            match (s.effect, matched) {
                (Effect::Deny, _) => out.explicit_deny = true,
                (Effect::Allow, PrincipalMatch::Direct) => out.allow = true,
                (Effect::Allow, _) => out.allow_via_account = true,
            }
        }
        out
    }

    /// [`Policy::evaluate_identity`] with its reasons, for the policy simulator: the same
    /// outcome, the statements that count in it, and [`Policy::missing_keys`].
    pub fn explain_identity(&self, req: &Request<'_>) -> Explanation {
        let mut ex = Explanation::default();
        let outcome = self.scan_identity(req, |i, s, holds| ex_note(&mut ex, i, s, holds));
        ex.outcome = outcome;
        ex.missing = self.missing_keys(req.context);
        ex
    }

    /// [`Policy::evaluate_resource`] with its reasons, as [`Policy::explain_identity`].
    pub fn explain_resource(&self, req: &Request<'_>) -> Explanation {
        let mut ex = Explanation::default();
        let outcome = self.scan_resource(req, |i, s, holds| ex_note(&mut ex, i, s, holds));
        ex.outcome = outcome;
        ex.missing = self.missing_keys(req.context);
        ex
    }

    /// The context keys the document refers to (condition keys, policy variables in resources
    /// and condition values) that `ctx` lacks, as written, each once (compared without regard
    /// to case), in the order they appear. Every statement counts, whatever the request's
    /// action, as AWS's simulator reports them.
    pub fn missing_keys(&self, ctx: &Context) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.doc.statements {
            let resources = s.resources.iter().flat_map(|r| r.items.iter());
            let keys = resources.flat_map(Template::variables).chain(
                s.conditions
                    .iter()
                    .flat_map(|c| std::iter::once(c.key_name()).chain(c.value_variables())),
            );
            for k in keys {
                if !ctx.contains(k) && !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                    out.push(k.to_owned());
                }
            }
        }
        out
    }

    /// Where each statement begins and ends in [`Policy::source`], in order.
    pub fn statement_positions(&self) -> Vec<(Position, Position)> {
        statement_spans(&self.doc.source)
    }
}

/// A place in a policy document, as the simulator reports it (`StartPosition`,
/// `EndPosition`): lines count from 1, and the column is the one just after the brace that
/// opens or closes the statement, counting from 1 (AWS's figures: a statement whose `{` is the
/// 37th character of the first line starts at line 1, column 38).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// `Line`.
    pub line: usize,
    /// `Column`.
    pub column: usize,
}

/// A statement that counted in an [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// Its place among the policy's statements, from 0.
    pub index: usize,
    /// Whether it is a `Deny`.
    pub deny: bool,
    /// Its `Sid`.
    pub sid: Option<String>,
}

/// What one policy says about one request, and why ([`Policy::explain_identity`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    /// The outcome, exactly as [`Policy::evaluate_identity`] / [`Policy::evaluate_resource`]
    /// give it.
    pub outcome: Outcome,
    /// The statements that apply (action, resource, principal and conditions all match).
    pub matched: Vec<Matched>,
    /// [`Policy::missing_keys`].
    pub missing: Vec<String>,
}

fn ex_note(ex: &mut Explanation, index: usize, s: &Statement, holds: bool) {
    if holds {
        ex.matched.push(Matched {
            index,
            deny: s.effect == Effect::Deny,
            sid: s.sid.clone(),
        });
    }
}

/// The span of each statement object of a document that parsed: the object that is the
/// top-level `Statement`, or each object of its list.
fn statement_spans(source: &str) -> Vec<(Position, Position)> {
    let mut out = Vec::new();
    let (mut line, mut column) = (1usize, 0usize);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string = String::new();
    // The last string read at depth 1 (a top-level key, once a `:` follows it).
    let mut last_key = String::new();
    // The depth at which statement objects open (2 for a single object, 3 in a list).
    let mut statement_depth: Option<usize> = None;
    let mut start: Option<Position> = None;
    for ch in source.chars() {
        if ch == '\n' {
            line += 1;
            column = 0;
            continue;
        }
        column += 1;
        if in_string {
            if escaped {
                escaped = false;
                string.push(ch);
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
                if depth == 1 {
                    last_key = std::mem::take(&mut string);
                }
            } else {
                string.push(ch);
            }
            continue;
        }
        let after = Position {
            line,
            column: column + 1,
        };
        match ch {
            '"' => {
                in_string = true;
                string.clear();
            }
            ':' if depth == 1 => {
                statement_depth = (last_key == "Statement").then_some(2);
            }
            ',' if depth == 1 => statement_depth = None,
            '[' | '{' => {
                depth += 1;
                if ch == '[' && depth == 2 && statement_depth == Some(2) {
                    statement_depth = Some(3);
                } else if ch == '{' && Some(depth) == statement_depth {
                    start = Some(after);
                }
            }
            ']' | '}' => {
                if ch == '}' && Some(depth) == statement_depth {
                    if let Some(s) = start.take() {
                        out.push((s, after));
                    }
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    out
}

impl Statement {
    /// Whether the action (`action`: the request's, lowercased) and the resource match (not
    /// the principal, not the conditions).
    fn targets(&self, req: &Request<'_>, action: &str) -> bool {
        let listed = self.actions.items.iter().any(|p| glob_str(p, action));
        if listed == self.actions.negated {
            return false;
        }
        if let Some(resources) = &self.resources {
            // A pattern whose variable has no value matches no resource.
            let listed = resources.items.iter().any(|t| {
                t.tokens(req.context)
                    .is_some_and(|p| glob_str(&p, req.resource))
            });
            if listed == resources.negated {
                return false;
            }
        }
        true
    }

    /// Whether every condition holds.
    fn conditions_hold(&self, req: &Request<'_>) -> bool {
        self.conditions.iter().all(|c| c.holds(req.context))
    }
}

fn parse_statement(map: &Map<String, Value>, variables: bool) -> Result<Statement, PolicyError> {
    for key in map.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(PolicyError::syntax(format!(
                "unknown statement element {key}"
            )));
        }
    }
    let exclusive = |a: &str, b: &str| {
        if map.contains_key(a) && map.contains_key(b) {
            Err(PolicyError::syntax(format!(
                "a statement cannot have both {a} and {b}"
            )))
        } else {
            Ok(())
        }
    };
    exclusive("Action", "NotAction")?;
    exclusive("Resource", "NotResource")?;
    exclusive("Principal", "NotPrincipal")?;

    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(PolicyError::syntax("Sid must be a string")),
    };
    let effect = match map.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        // IAM's first pass accepts any case; its legacy parser then refuses it.
        Some(Value::String(e))
            if e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny") =>
        {
            return Err(PolicyError::LegacyParsing {
                detail: format!("Effect {e} must be Allow or Deny"),
            })
        }
        Some(other) => return Err(PolicyError::syntax(format!("invalid Effect {other}"))),
        None => return Err(PolicyError::syntax("missing Effect")),
    };
    let principal = match (map.get("Principal"), map.get("NotPrincipal")) {
        (Some(p), _) => Some((Principals::parse(p)?, false)),
        (None, Some(p)) => Some((Principals::parse(p)?, true)),
        (None, None) => None,
    };

    let (action_values, action_negated) = match (map.get("Action"), map.get("NotAction")) {
        (Some(v), _) => (string_list("Action", v)?, false),
        (None, Some(v)) => (string_list("NotAction", v)?, true),
        (None, None) => return Err(PolicyError::MissingAction),
    };
    if action_values.is_empty() {
        return Err(PolicyError::MissingAction);
    }
    let mut actions = Vec::with_capacity(action_values.len());
    for action in &action_values {
        check_action(action)?;
        actions.push(lowercase_tokens(&wildcard_tokens(action)));
    }

    let resources = match (map.get("Resource"), map.get("NotResource")) {
        (Some(v), _) => Some((string_list("Resource", v)?, false)),
        (None, Some(v)) => Some((string_list("NotResource", v)?, true)),
        (None, None) => None,
    };
    let resources = match resources {
        None => None,
        Some((values, _)) if values.is_empty() => return Err(PolicyError::MissingResource),
        Some((values, negated)) => {
            for resource in &values {
                if resource != "*" && !resource.contains(':') {
                    return Err(PolicyError::InvalidResource {
                        resource: resource.clone(),
                    });
                }
            }
            Some(List {
                items: values
                    .iter()
                    .map(|r| Template::parse(r, variables))
                    .collect(),
                negated,
            })
        }
    };

    let conditions = match map.get("Condition") {
        None => Vec::new(),
        Some(block) => condition::parse_block(block, variables)?,
    };

    Ok(Statement {
        sid,
        effect,
        principal,
        actions: List {
            items: actions,
            negated: action_negated,
        },
        resources,
        conditions,
    })
}

/// A string or a list of strings.
fn string_list(element: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(PolicyError::syntax(format!(
                    "{element} must hold only strings"
                ))),
            })
            .collect(),
        _ => Err(PolicyError::syntax(format!(
            "{element} must be a string or a list of strings"
        ))),
    }
}

/// `*` or `vendor:action`, the vendor `*` or a non-empty run of letters, digits, `-` and `.`
/// ("a service namespace, a colon, and the name of an action"; wildcards belong to the name).
fn check_action(action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let mut parts = action.split(':');
    let vendor = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (None, _) => Err(PolicyError::MissingVendor {
            value: action.to_owned(),
        }),
        (Some(_), Some(_)) => Err(PolicyError::TooManyColons {
            value: action.to_owned(),
        }),
        (Some(_), None) => {
            if vendor != "*"
                && (vendor.is_empty()
                    || !vendor
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
            {
                Err(PolicyError::InvalidVendor {
                    vendor: vendor.to_owned(),
                })
            } else {
                Ok(())
            }
        }
    }
}
