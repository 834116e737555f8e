//! The policy simulator on the wire: `SimulatePrincipalPolicy` and `SimulateCustomPolicy`
//! parameters in, `SimulatePolicyResponse` out.

use super::{bool_str, Params, Xml};
use coffer_iam::IamError;
use coffer_model::iam::simulate::{
    ContextEntry, EvaluationResult, InlinePolicyIdentifier, MatchedStatement, PolicyIdentifier,
    Position, SimulateRequest,
};
use coffer_model::iam::Page;

/// `NAME.member.N` values of a nested list field (`FIELD.member.M`), in order of M; an empty
/// list is sent as `FIELD=` alone.
fn nested(entries: &[(&str, &str)], field: &str) -> Option<Vec<String>> {
    let prefix = format!("{field}.member.");
    let mut items: Vec<(u32, String)> = entries
        .iter()
        .filter_map(|(f, v)| {
            let n = f.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, (*v).to_owned()))
        })
        .collect();
    if items.is_empty() {
        return entries.iter().any(|(f, _)| *f == field).then(Vec::new);
    }
    items.sort_by_key(|(n, _)| *n);
    Some(items.into_iter().map(|(_, v)| v).collect())
}

/// The members of a list of structures, grouped by their index: `(field, value)` each.
fn grouped<'a>(p: &'a Params<'_>, name: &str) -> Option<Vec<Vec<(&'a str, &'a str)>>> {
    let m = p.members(name);
    if m.is_empty() {
        return p.get(name).map(|_| Vec::new());
    }
    let mut out: Vec<(u32, Vec<(&str, &str)>)> = Vec::new();
    for (n, field, v) in m {
        match out.iter_mut().find(|(k, _)| *k == n) {
            Some((_, fields)) => fields.push((field, v)),
            None => out.push((n, vec![(field, v)])),
        }
    }
    Some(out.into_iter().map(|(_, f)| f).collect())
}

/// Both operations' parameters.
pub(super) fn request(p: &Params<'_>) -> Result<SimulateRequest, IamError> {
    let context_entries = grouped(p, "ContextEntries").map(|entries| {
        entries
            .iter()
            .map(|fields| {
                let get = |name: &str| {
                    fields
                        .iter()
                        .find(|(f, _)| *f == name)
                        .map(|(_, v)| (*v).to_owned())
                };
                ContextEntry {
                    key_name: get("ContextKeyName"),
                    values: nested(fields, "ContextKeyValues").unwrap_or_default(),
                    key_type: get("ContextKeyType"),
                }
            })
            .collect()
    });
    let organization_policy_input_list =
        grouped(p, "OrderedOrganizationPolicyInputList").map(|levels| {
            levels
                .iter()
                .map(|fields| nested(fields, "ServiceControlPolicyInputList").unwrap_or_default())
                .collect()
        });
    let policy_exclusion_list = grouped(p, "PolicyExclusionList").map(|entries| {
        entries
            .iter()
            .map(|fields| {
                let get = |name: &str| {
                    fields
                        .iter()
                        .find(|(f, _)| *f == name)
                        .map(|(_, v)| (*v).to_owned())
                };
                let inline = InlinePolicyIdentifier {
                    policy_name: get("InlinePolicyIdentifier.PolicyName"),
                    attachment_type: get("InlinePolicyIdentifier.AttachmentType"),
                    attachment_name: get("InlinePolicyIdentifier.AttachmentName"),
                };
                let given = fields
                    .iter()
                    .any(|(f, _)| f.starts_with("InlinePolicyIdentifier"));
                PolicyIdentifier {
                    policy_type: get("PolicyType"),
                    policy_arn: get("PolicyArn"),
                    inline: given.then_some(inline),
                }
            })
            .collect()
    });
    Ok(SimulateRequest {
        policy_source_arn: p.string("PolicySourceArn"),
        policy_input_list: p.list("PolicyInputList"),
        permissions_boundary_policy_input_list: p.list("PermissionsBoundaryPolicyInputList"),
        policy_exclusion_list,
        organization_policy_input_list,
        action_names: p.list("ActionNames"),
        resource_arns: p.list("ResourceArns"),
        resource_policy: p.string("ResourcePolicy"),
        resource_owner: p.string("ResourceOwner"),
        caller_arn: p.string("CallerArn"),
        context_entries,
        resource_handling_option: p.string("ResourceHandlingOption"),
        paging: p.paging()?,
    })
}

fn position(x: &mut Xml, name: &str, pos: Option<Position>) {
    if let Some(pos) = pos {
        x.open(name);
        x.elem("Line", &pos.line.to_string());
        x.elem("Column", &pos.column.to_string());
        x.close(name);
    }
}

fn statements(x: &mut Xml, items: &[MatchedStatement]) {
    x.list("MatchedStatements", items, |x, s| {
        x.elem("SourcePolicyId", &s.source_policy_id);
        x.opt("SourcePolicyType", s.source_policy_type.as_deref());
        position(x, "StartPosition", s.start);
        position(x, "EndPosition", s.end);
    });
}

fn missing(x: &mut Xml, keys: &[String]) {
    x.list("MissingContextValues", keys, |x, k| {
        x.0.push_str(&super::xml_escape(k))
    });
}

fn details(x: &mut Xml, d: Option<&[(String, coffer_model::iam::simulate::EvalDecision)]>) {
    let Some(d) = d else { return };
    x.open("EvalDecisionDetails");
    for (k, v) in d {
        x.open("entry");
        x.elem("key", k);
        x.elem("value", v.as_str());
        x.close("entry");
    }
    x.close("EvalDecisionDetails");
}

fn boundary(x: &mut Xml, allowed: Option<bool>) {
    if let Some(a) = allowed {
        x.open("PermissionsBoundaryDecisionDetail");
        x.elem("AllowedByPermissionsBoundary", bool_str(a));
        x.close("PermissionsBoundaryDecisionDetail");
    }
}

/// `EvaluationResults`, `IsTruncated`, `Marker`.
pub(super) fn results(x: &mut Xml, page: &Page<EvaluationResult>) {
    x.list("EvaluationResults", &page.items, |x, r| {
        x.elem("EvalActionName", &r.eval_action_name);
        x.elem("EvalResourceName", &r.eval_resource_name);
        x.elem("EvalDecision", r.eval_decision.as_str());
        statements(x, &r.matched_statements);
        missing(x, &r.missing_context_values);
        if let Some(a) = r.allowed_by_organizations {
            x.open("OrganizationsDecisionDetail");
            x.elem("AllowedByOrganizations", bool_str(a));
            x.close("OrganizationsDecisionDetail");
        }
        boundary(x, r.allowed_by_permissions_boundary);
        details(x, r.eval_decision_details.as_deref());
        if let Some(per) = &r.resource_specific_results {
            x.list("ResourceSpecificResults", per, |x, s| {
                x.elem("EvalResourceName", &s.eval_resource_name);
                x.elem("EvalResourceDecision", s.eval_resource_decision.as_str());
                statements(x, &s.matched_statements);
                missing(x, &s.missing_context_values);
                details(x, s.eval_decision_details.as_deref());
                boundary(x, s.allowed_by_permissions_boundary);
            });
        }
    });
    x.paged(page);
}
