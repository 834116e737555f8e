//! The policy simulator's members (`SimulatePrincipalPolicy`, `SimulateCustomPolicy`) and their
//! constraints in the official model.

use super::{check_arn, check_document, check_name, Paging};
use crate::Validator;

/// `ContextKeyTypeEnum`.
pub const CONTEXT_KEY_TYPES: &[&str] = &[
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
];

/// `EvalDecisionSourceType` keys of `EvalDecisionDetails` (cross-account simulations).
pub const IDENTITY_POLICY_SOURCE: &str = "IAM Policy";
/// See [`IDENTITY_POLICY_SOURCE`].
pub const RESOURCE_POLICY_SOURCE: &str = "Resource Policy";

/// `PolicyIdentifierPolicyType`.
pub const EXCLUDED_POLICY_TYPES: &[&str] = &[
    "inline",
    "aws-managed",
    "user-managed",
    "permission-boundary",
    "scp",
    "rcp",
];

/// `AttachmentType`.
pub const ATTACHMENT_TYPES: &[&str] = &["user", "group", "role"];

/// An `InlinePolicyIdentifier`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InlinePolicyIdentifier {
    /// `PolicyName`.
    pub policy_name: Option<String>,
    /// `AttachmentType`: `user`, `group` or `role`.
    pub attachment_type: Option<String>,
    /// `AttachmentName`.
    pub attachment_name: Option<String>,
}

/// A `PolicyIdentifier` of `PolicyExclusionList` (a union: one member is set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyIdentifier {
    /// `PolicyType`.
    pub policy_type: Option<String>,
    /// `PolicyArn` (`*` may stand for any text in the policy's path and name).
    pub policy_arn: Option<String>,
    /// `InlinePolicyIdentifier`.
    pub inline: Option<InlinePolicyIdentifier>,
}

/// A `ContextEntry`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextEntry {
    /// `ContextKeyName`.
    pub key_name: Option<String>,
    /// `ContextKeyValues`.
    pub values: Vec<String>,
    /// `ContextKeyType`.
    pub key_type: Option<String>,
}

/// `SimulatePrincipalPolicy` and `SimulateCustomPolicy` (the members of both; each uses its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulateRequest {
    /// `PolicySourceArn` (`SimulatePrincipalPolicy`, required there).
    pub policy_source_arn: Option<String>,
    /// `PolicyInputList` (required for `SimulateCustomPolicy`).
    pub policy_input_list: Option<Vec<String>>,
    /// `PermissionsBoundaryPolicyInputList`.
    pub permissions_boundary_policy_input_list: Option<Vec<String>>,
    /// `PolicyExclusionList` (`SimulatePrincipalPolicy`).
    pub policy_exclusion_list: Option<Vec<PolicyIdentifier>>,
    /// `OrderedOrganizationPolicyInputList`: per level, its `ServiceControlPolicyInputList`
    /// (`SimulateCustomPolicy`).
    pub organization_policy_input_list: Option<Vec<Vec<String>>>,
    /// `ActionNames` (required).
    pub action_names: Option<Vec<String>>,
    /// `ResourceArns`.
    pub resource_arns: Option<Vec<String>>,
    /// `ResourcePolicy`.
    pub resource_policy: Option<String>,
    /// `ResourceOwner`.
    pub resource_owner: Option<String>,
    /// `CallerArn`.
    pub caller_arn: Option<String>,
    /// `ContextEntries`.
    pub context_entries: Option<Vec<ContextEntry>>,
    /// `ResourceHandlingOption`.
    pub resource_handling_option: Option<String>,
    /// `Marker`, `MaxItems`.
    pub paging: Paging,
}

fn check_documents(v: &mut Validator, member: &str, docs: Option<&[String]>) {
    for d in docs.unwrap_or_default() {
        check_document(v, member, Some(d));
    }
}

impl SimulateRequest {
    /// Checks the members against the model (`principal`: `SimulatePrincipalPolicy`).
    pub fn check(&self, v: &mut Validator, principal: bool) {
        if principal {
            v.required("PolicySourceArn", &self.policy_source_arn);
            check_arn(v, "PolicySourceArn", self.policy_source_arn.as_deref());
        } else {
            v.required("PolicyInputList", &self.policy_input_list);
        }
        check_documents(v, "PolicyInputList", self.policy_input_list.as_deref());
        check_documents(
            v,
            "PermissionsBoundaryPolicyInputList",
            self.permissions_boundary_policy_input_list.as_deref(),
        );
        if let Some(levels) = &self.organization_policy_input_list {
            v.count(
                "OrderedOrganizationPolicyInputList",
                Some(levels.len()),
                0,
                7,
            );
            for level in levels {
                check_documents(v, "ServiceControlPolicyInputList", Some(level));
            }
        }
        if let Some(list) = &self.policy_exclusion_list {
            v.count("PolicyExclusionList", Some(list.len()), 0, 256);
            for (i, e) in list.iter().enumerate() {
                let member = |f: &str| format!("PolicyExclusionList.{}.member.{f}", i + 1);
                v.one_of(
                    &member("policyType"),
                    e.policy_type.as_deref(),
                    EXCLUDED_POLICY_TYPES,
                );
                check_arn(v, &member("policyArn"), e.policy_arn.as_deref());
                if let Some(inline) = &e.inline {
                    let name = member("inlinePolicyIdentifier.policyName");
                    v.required(&name, &inline.policy_name);
                    check_name(v, &name, inline.policy_name.as_deref(), 128);
                    let kind = member("inlinePolicyIdentifier.attachmentType");
                    v.required(&kind, &inline.attachment_type);
                    v.one_of(&kind, inline.attachment_type.as_deref(), ATTACHMENT_TYPES);
                    let entity = member("inlinePolicyIdentifier.attachmentName");
                    v.required(&entity, &inline.attachment_name);
                    check_name(v, &entity, inline.attachment_name.as_deref(), 128);
                }
            }
        }
        v.required("ActionNames", &self.action_names);
        for a in self.action_names.as_deref().unwrap_or_default() {
            v.length("ActionNames", Some(a), 3, 128);
        }
        for r in self.resource_arns.as_deref().unwrap_or_default() {
            v.length("ResourceArns", Some(r), 1, 2048);
        }
        check_document(v, "ResourcePolicy", self.resource_policy.as_deref());
        v.length("ResourceOwner", self.resource_owner.as_deref(), 1, 2048);
        v.length("CallerArn", self.caller_arn.as_deref(), 1, 2048);
        for (i, e) in self
            .context_entries
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let n = i + 1;
            v.length(
                &format!("ContextEntries.{n}.member.contextKeyName"),
                e.key_name.as_deref(),
                5,
                256,
            );
            v.one_of(
                &format!("ContextEntries.{n}.member.contextKeyType"),
                e.key_type.as_deref(),
                CONTEXT_KEY_TYPES,
            );
        }
        v.length(
            "ResourceHandlingOption",
            self.resource_handling_option.as_deref(),
            1,
            64,
        );
        self.paging.check(v);
    }
}

/// `PolicyEvaluationDecisionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EvalDecision {
    /// `allowed`.
    Allowed,
    /// `implicitDeny`.
    ImplicitDeny,
    /// `explicitDeny`.
    ExplicitDeny,
}

impl EvalDecision {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalDecision::Allowed => "allowed",
            EvalDecision::ImplicitDeny => "implicitDeny",
            EvalDecision::ExplicitDeny => "explicitDeny",
        }
    }
}

/// A `Position`: `Line`, `Column`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// `Line`.
    pub line: usize,
    /// `Column`.
    pub column: usize,
}

/// A `Statement` of `MatchedStatements`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    /// `SourcePolicyId`: `PolicyInputList.1`, a policy's name, `ResourcePolicy`.
    pub source_policy_id: String,
    /// `SourcePolicyType`: `role`, `user-managed`, `aws-managed`, `resource`, or `IAM Policy`
    /// for a given document.
    pub source_policy_type: Option<String>,
    /// `StartPosition`.
    pub start: Option<Position>,
    /// `EndPosition`.
    pub end: Option<Position>,
}

/// A `ResourceSpecificResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpecificResult {
    /// `EvalResourceName`.
    pub eval_resource_name: String,
    /// `EvalResourceDecision`.
    pub eval_resource_decision: EvalDecision,
    /// `MatchedStatements`.
    pub matched_statements: Vec<MatchedStatement>,
    /// `MissingContextValues`.
    pub missing_context_values: Vec<String>,
    /// `EvalDecisionDetails`: `None` leaves it out, an empty list sends it empty.
    pub eval_decision_details: Option<Vec<(String, EvalDecision)>>,
    /// `PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary`.
    pub allowed_by_permissions_boundary: Option<bool>,
}

/// An `EvaluationResult`: one per action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationResult {
    /// `EvalActionName`.
    pub eval_action_name: String,
    /// `EvalResourceName`.
    pub eval_resource_name: String,
    /// `EvalDecision`: the most restrictive of the resources'.
    pub eval_decision: EvalDecision,
    /// `MatchedStatements`.
    pub matched_statements: Vec<MatchedStatement>,
    /// `MissingContextValues`.
    pub missing_context_values: Vec<String>,
    /// `OrganizationsDecisionDetail.AllowedByOrganizations`.
    pub allowed_by_organizations: Option<bool>,
    /// `PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary`.
    pub allowed_by_permissions_boundary: Option<bool>,
    /// `EvalDecisionDetails`.
    pub eval_decision_details: Option<Vec<(String, EvalDecision)>>,
    /// `ResourceSpecificResults`, when `ResourceArns` were given.
    pub resource_specific_results: Option<Vec<ResourceSpecificResult>>,
}
