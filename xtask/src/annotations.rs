//! Coffer's annotations (`model/annotations/<service>.toml`): what the botocore models lack, and
//! their resolution against a model into one [`Spec`] per service. Every name an annotation uses
//! is checked against the model here, so a typo fails the codegen rather than the server.

use crate::model::{Model, OperationDef};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// One annotation file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotations {
    pub service: ServiceAnn,
    /// Named key-state sets, for `key.states`.
    #[serde(default)]
    pub states: BTreeMap<String, Vec<String>>,
    /// IAM actions: key rules, and actions that are no operation of their own.
    #[serde(default)]
    pub actions: BTreeMap<String, ActionAnn>,
    #[serde(default)]
    pub operations: BTreeMap<String, OperationAnn>,
}

/// `[service]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAnn {
    /// `<dir>/<api version>` under model/botocore.
    pub model: String,
    pub action_prefix: String,
    pub event_source: String,
    /// Operations whose names start so are read-only unless they say otherwise.
    #[serde(default)]
    pub read_only_prefixes: Vec<String>,
    /// JSON services: further `X-Amz-Target` prefixes clients send (the Smithy-based SDKs send
    /// the service shape's name, `CloudTrail_20131101`, where botocore sends the model's).
    #[serde(default)]
    pub target_prefix_aliases: Vec<String>,
}

/// `[actions.X]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionAnn {
    #[serde(default)]
    pub key: Option<KeyAnn>,
}

/// What a key must be for an action (KMS).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct KeyAnn {
    /// A set of `[states]`.
    pub states: String,
    /// A `KeyUsageType` of the model.
    #[serde(default)]
    pub usage: Option<String>,
    #[serde(default)]
    pub symmetric_only: bool,
    #[serde(default)]
    pub asymmetric_only: bool,
    /// Whether the key may be named by an alias.
    #[serde(default)]
    pub alias: bool,
    /// Whether another account's caller may name the key by its ARN.
    #[serde(default)]
    pub cross_account: bool,
}

/// `[operations.X]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OperationAnn {
    #[serde(default)]
    pub served: bool,
    #[serde(default)]
    pub hot: bool,
    /// Whether a caller of another account may name the resource by its ARN (ADR 0017).
    #[serde(default)]
    pub cross_account: bool,
    #[serde(default)]
    pub read_only: Option<bool>,
    /// The IAM action (without prefix) when it is not the operation's name.
    #[serde(default)]
    pub action: Option<String>,
    /// The resource kind of the one check, `*` for none.
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub locate: Vec<String>,
    /// Several checks, instead of `resource`/`locate`/`action`.
    #[serde(default)]
    pub checks: Option<Vec<CheckAnn>>,
    /// The key rule of the operation's own action.
    #[serde(default)]
    pub key: Option<KeyAnn>,
}

/// One element of `checks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckAnn {
    #[serde(default)]
    pub action: Option<String>,
    pub resource: String,
    #[serde(default)]
    pub locate: Vec<String>,
}

/// The resource kinds an annotation may name, as `ResourceKind` variants.
pub const RESOURCE_KINDS: &[(&str, &str)] = &[
    ("*", "Any"),
    ("key", "Key"),
    ("alias", "Alias"),
    ("secret", "Secret"),
    ("role", "Role"),
    ("policy", "Policy"),
    ("oidc-provider", "OidcProvider"),
    ("saml-provider", "SamlProvider"),
    ("user", "User"),
    ("group", "Group"),
];

/// A locator, resolved: `Locator::<variant>(member)`.
#[derive(Debug, Clone)]
pub struct Loc {
    pub variant: &'static str,
    pub member: String,
}

/// One resolved check.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub action: String,
    /// A `ResourceKind` variant.
    pub kind: &'static str,
    pub locators: Vec<Loc>,
    pub optional: bool,
}

/// One resolved IAM action.
#[derive(Debug, Clone)]
pub struct ActionSpec {
    pub name: String,
    pub key: Option<KeyAnn>,
}

/// One resolved operation.
#[derive(Debug)]
pub struct OpSpec<'m> {
    pub def: &'m OperationDef,
    pub checks: Vec<CheckSpec>,
    pub read_only: bool,
    pub served: bool,
    pub hot: bool,
    pub cross_account: bool,
    pub idempotency_token: Option<String>,
}

/// A service's model and annotations, resolved.
pub struct Spec<'m> {
    /// File stem: `kms`.
    pub stem: String,
    /// Rust name: `Kms`.
    pub rust: String,
    pub model_path: String,
    pub annotations_path: String,
    pub model: &'m Model,
    pub ann: &'m Annotations,
    /// By name.
    pub actions: Vec<ActionSpec>,
    /// By name.
    pub ops: Vec<OpSpec<'m>>,
}

fn parse_locator(model: &Model, op: &OperationDef, text: &str) -> Result<(Loc, bool), String> {
    let (variant, member, want) = match text.split_once(':') {
        Some(("ciphertext", m)) => ("Ciphertext", m, "blob"),
        Some(("grant-token", m)) => ("GrantToken", m, "string"),
        Some(("each", m)) => ("Each", m, "list"),
        Some((other, _)) => return Err(format!("unknown locator kind `{other}:` in `{text}`")),
        None => ("Member", text, "string"),
    };
    let input = op
        .input
        .as_ref()
        .and_then(|i| model.shape(&i.shape))
        .ok_or_else(|| format!("`{text}`: the operation has no input"))?;
    let m = input
        .members
        .get(member)
        .ok_or_else(|| format!("`{text}`: the input has no member {member}"))?;
    let kind = model
        .shape(&m.shape)
        .map(|s| s.kind.as_str())
        .unwrap_or("?");
    if kind != want {
        return Err(format!("`{text}`: {member} is a {kind}, not a {want}"));
    }
    let required = input.required.iter().any(|r| r == member);
    Ok((
        Loc {
            variant,
            member: member.to_string(),
        },
        required,
    ))
}

fn resource_kind(text: &str) -> Result<&'static str, String> {
    RESOURCE_KINDS
        .iter()
        .find(|(k, _)| *k == text)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            format!(
                "unknown resource kind `{text}` (known: {})",
                RESOURCE_KINDS
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

fn check(
    model: &Model,
    op: &OperationDef,
    action: String,
    resource: &str,
    locate: &[String],
) -> Result<CheckSpec, String> {
    let kind = resource_kind(resource)?;
    if kind == "Any" && !locate.is_empty() {
        return Err("resource `*` takes no `locate`".into());
    }
    let mut locators = Vec::new();
    let mut any_required = false;
    for l in locate {
        let (loc, required) = parse_locator(model, op, l)?;
        any_required |= required;
        locators.push(loc);
    }
    let optional = !locators.is_empty() && !any_required;
    Ok(CheckSpec {
        action,
        kind,
        locators,
        optional,
    })
}

/// The model's enum values of shape `name`, if it is an enum.
fn enum_values<'a>(model: &'a Model, name: &str) -> Option<&'a [String]> {
    model
        .shape(name)
        .filter(|s| !s.enum_values.is_empty())
        .map(|s| s.enum_values.as_slice())
}

fn check_key(model: &Model, ann: &Annotations, key: &KeyAnn) -> Result<(), String> {
    let states = ann
        .states
        .get(&key.states)
        .ok_or_else(|| format!("key.states `{}` is not a [states] set", key.states))?;
    if let Some(known) = enum_values(model, "KeyState") {
        for s in states {
            if !known.contains(s) {
                return Err(format!("key state `{s}` is not in the model's KeyState"));
            }
        }
    }
    if let Some(u) = &key.usage {
        let known = enum_values(model, "KeyUsageType")
            .ok_or("the model has no KeyUsageType enum for key.usage")?;
        if !known.contains(u) {
            return Err(format!(
                "key usage `{u}` is not in the model's KeyUsageType"
            ));
        }
    }
    if key.symmetric_only && key.asymmetric_only {
        return Err("a key rule cannot be both symmetric_only and asymmetric_only".into());
    }
    Ok(())
}

/// Resolves `ann` against `model`; every problem found, or the spec.
pub fn resolve<'m>(
    stem: &str,
    model_path: String,
    annotations_path: String,
    model: &'m Model,
    ann: &'m Annotations,
) -> Result<Spec<'m>, Vec<String>> {
    let mut errors = Vec::new();
    let model_ops: BTreeMap<&str, &OperationDef> = model
        .operations
        .0
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    for name in ann.operations.keys() {
        if !model_ops.contains_key(name.as_str()) {
            errors.push(format!(
                "[operations.{name}]: no such operation in the model"
            ));
        }
    }
    for (name, set) in &ann.states {
        if set.is_empty() {
            errors.push(format!("[states] {name}: empty"));
        }
    }
    let empty = OperationAnn::default();
    let mut ops = Vec::new();
    let mut key_rules: BTreeMap<String, KeyAnn> = BTreeMap::new();
    for (name, a) in &ann.actions {
        if let Some(k) = &a.key {
            if let Err(e) = check_key(model, ann, k) {
                errors.push(format!("[actions.{name}]: {e}"));
            }
            key_rules.insert(name.clone(), k.clone());
        }
    }
    let mut used_actions: BTreeSet<String> = BTreeSet::new();
    for (name, def) in &model_ops {
        let a = ann.operations.get(*name).unwrap_or(&empty);
        let at = |e: String| format!("[operations.{name}]: {e}");
        if a.hot && !a.served {
            errors.push(at("hot but not served".into()));
        }
        let own = a.action.clone().unwrap_or_else(|| name.to_string());
        let errors_before = errors.len();
        let checks: Vec<CheckSpec> = match (&a.checks, &a.resource) {
            (Some(_), Some(_)) => {
                errors.push(at("give either `checks` or `resource`, not both".into()));
                Vec::new()
            }
            (Some(_), None) if a.action.is_some() || !a.locate.is_empty() => {
                errors.push(at("`action` and `locate` belong in each of `checks`".into()));
                Vec::new()
            }
            (Some(list), None) => list
                .iter()
                .filter_map(|c| {
                    let action = c.action.clone().unwrap_or_else(|| name.to_string());
                    check(model, def, action, &c.resource, &c.locate)
                        .map_err(|e| errors.push(at(e)))
                        .ok()
                })
                .collect(),
            (None, Some(r)) => match check(model, def, own.clone(), r, &a.locate) {
                Ok(c) => vec![c],
                Err(e) => {
                    errors.push(at(e));
                    Vec::new()
                }
            },
            (None, None) if a.served => {
                errors.push(at(
                    "served, so it needs `resource` (or `checks`): what its action is checked on"
                        .into(),
                ));
                Vec::new()
            }
            (None, None) => {
                if !a.locate.is_empty() {
                    errors.push(at("`locate` without `resource`".into()));
                }
                // Not annotated: the default action, on a resource nobody has described.
                vec![CheckSpec {
                    action: own.clone(),
                    kind: "Unknown",
                    locators: Vec::new(),
                    optional: false,
                }]
            }
        };
        for c in &checks {
            if !model_ops.contains_key(c.action.as_str()) && !ann.actions.contains_key(&c.action) {
                errors.push(at(format!(
                    "action `{}` is neither an operation nor declared in [actions]",
                    c.action
                )));
            }
            used_actions.insert(c.action.clone());
        }
        if let Some(k) = &a.key {
            if errors.len() > errors_before {
                // The checks are broken already; say nothing more about them.
            } else if !checks.iter().any(|c| c.action == own) {
                errors.push(at(format!(
                    "`key` is the rule of action {own}, which none of its checks uses"
                )));
            } else if key_rules.contains_key(&own) {
                errors.push(at(format!("the key rule of {own} is given twice")));
            } else {
                if let Err(e) = check_key(model, ann, k) {
                    errors.push(at(e));
                }
                key_rules.insert(own.clone(), k.clone());
            }
        }
        let read_only = a.read_only.unwrap_or_else(|| {
            ann.service
                .read_only_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()))
        });
        let idempotency_token = def
            .input
            .as_ref()
            .and_then(|i| model.shape(&i.shape))
            .and_then(|s| {
                s.members
                    .0
                    .iter()
                    .find(|(_, m)| m.idempotency_token)
                    .map(|(k, _)| k.clone())
            });
        ops.push(OpSpec {
            def,
            checks,
            read_only,
            served: a.served,
            hot: a.hot,
            cross_account: a.cross_account,
            idempotency_token,
        });
    }
    for name in ann.actions.keys() {
        if !used_actions.contains(name) {
            errors.push(format!("[actions.{name}]: no operation's checks use it"));
        }
    }
    let actions: Vec<ActionSpec> = used_actions
        .into_iter()
        .map(|name| ActionSpec {
            key: key_rules.get(&name).cloned(),
            name,
        })
        .collect();
    for a in &actions {
        if !a.name.chars().all(|c| c.is_ascii_alphanumeric()) {
            errors.push(format!("action `{}` is not a valid name", a.name));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Spec {
        stem: stem.to_string(),
        rust: heck::AsUpperCamelCase(&model.metadata.service_id).to_string(),
        model_path,
        annotations_path,
        model,
        ann,
        actions,
        ops,
    })
}
