//! Resource policies: Get/Put/Delete/List/ValidateResourcePolicy.

use super::*;

impl SecretsManager {
    /// GetResourcePolicy: the caller's policy (`default`) or a managed one by name.
    pub fn get_resource_policy(
        &self,
        ctx: &RequestContext,
        req: GetResourcePolicyRequest,
    ) -> Result<GetResourcePolicyResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| check_policy_name(v, &req.policy_name))?;
        let name = req
            .policy_name
            .clone()
            .unwrap_or_else(|| cross_account::DEFAULT_POLICY.to_string());
        let st = self.state.read();
        let s = self.lookup_shared(&st, ctx, SecretsManagerOp::GetResourcePolicy, &id)?;
        if s.is_deleted() {
            return Err(SmError::InvalidRequest(MARKED_FOR_DELETION.to_string()));
        }
        let policy = if name == cross_account::DEFAULT_POLICY {
            s.rec.policy.clone()
        } else {
            let managed = s.rec.managed_policies.get(&name).cloned();
            Some(managed.ok_or_else(|| {
                SmError::ResourceNotFound(format!(
                    "Secrets Manager can't find a resource policy named {name} on the secret."
                ))
            })?)
        };
        Ok(GetResourcePolicyResponse {
            arn: Some(s.rec.arn.clone()),
            name: Some(s.rec.name.clone()),
            // Named only when there is a policy: a secret without one answers with ARN and Name.
            policy_name: policy.is_some().then_some(name),
            resource_policy: policy,
        })
    }

    /// PutResourcePolicy (the policy is stored, not evaluated; with BlockPublicPolicy a policy
    /// granting public access is refused, see [`public_policy::is_public`]).
    pub fn put_resource_policy(
        &self,
        ctx: &RequestContext,
        req: PutResourcePolicyRequest,
    ) -> Result<PutResourcePolicyResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.required("ResourcePolicy", &req.resource_policy);
            v.length("ResourcePolicy", req.resource_policy.as_deref(), 1, 20480);
            check_policy_name(v, &req.policy_name);
        })?;
        only_default_policy(&req.policy_name)?;
        let policy = req.resource_policy.clone().unwrap_or_default();
        check_policy_syntax(&policy)?;
        // The evaluator must be able to read what is stored (ADR 0009).
        coffer_policy::Policy::parse(&policy)
            .and_then(|p| p.validate(coffer_policy::PolicyKind::Resource))
            .map_err(|e| SmError::MalformedPolicyDocument(e.to_string()))?;
        let block_public = req.block_public_policy.unwrap_or(false);
        let r = self.change(ctx, &id, |rec| {
            if block_public && public_policy::is_public(&policy) {
                return Err(SmError::PublicPolicy(PUBLIC_POLICY.to_string()));
            }
            rec.policy = Some(policy.clone());
            Ok(())
        })?;
        Ok(named_policy_response(r))
    }

    /// DeleteResourcePolicy (only the caller's own, `default`, policy).
    pub fn delete_resource_policy(
        &self,
        ctx: &RequestContext,
        req: DeleteResourcePolicyRequest,
    ) -> Result<DeleteResourcePolicyResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| check_policy_name(v, &req.policy_name))?;
        only_default_policy(&req.policy_name)?;
        let r = self.change(ctx, &id, |rec| {
            rec.policy = None;
            Ok(())
        })?;
        Ok(named_policy_response(r))
    }

    /// ListResourcePolicies: `default` first (when set), then the managed ones alphabetically.
    pub fn list_resource_policies(
        &self,
        ctx: &RequestContext,
        req: ListResourcePoliciesRequest,
    ) -> Result<ListResourcePoliciesResponse, SmError> {
        let id = checked_id(&req.secret_id, |v| {
            v.range("MaxResults", req.max_results, 1, 100);
            v.length("NextToken", req.next_token.as_deref(), 1, 4096);
        })?;
        let offset = decode_token(&req.next_token)?;
        let page = usize::try_from(req.max_results.unwrap_or(100)).unwrap_or(100);
        let st = self.state.read();
        let s = Self::lookup(&st, ctx, &id)?;
        let names: Vec<&str> = s
            .rec
            .policy
            .iter()
            .map(|_| cross_account::DEFAULT_POLICY)
            .chain(s.rec.managed_policies.keys().map(String::as_str))
            .collect();
        let end = names.len().min(offset.saturating_add(page));
        Ok(ListResourcePoliciesResponse {
            resource_policies: names
                .get(offset..end)
                .unwrap_or_default()
                .iter()
                .map(|n| ResourcePolicySummary {
                    policy_name: Some(n.to_string()),
                })
                .collect(),
            next_token: (end < names.len()).then(|| encode_token(end)),
        })
    }

    /// ValidateResourcePolicy: a policy that is not a JSON object is malformed; otherwise the
    /// IAM grammar and public-access findings of [`public_policy::findings`].
    pub fn validate_resource_policy(
        &self,
        ctx: &RequestContext,
        req: ValidateResourcePolicyRequest,
    ) -> Result<ValidateResourcePolicyResponse, SmError> {
        let mut v = Validator::new();
        v.length("SecretId", req.secret_id.as_deref(), 1, 2048);
        v.required("ResourcePolicy", &req.resource_policy);
        v.length("ResourcePolicy", req.resource_policy.as_deref(), 1, 20480);
        finish(v)?;
        if let Some(id) = &req.secret_id {
            secret_id_chars(id)?;
            let st = self.state.read();
            Self::lookup(&st, ctx, id)?;
        }
        let doc = req.resource_policy.as_deref().unwrap_or_default();
        check_policy_syntax(doc)?;
        let findings = public_policy::findings(doc);
        Ok(ValidateResourcePolicyResponse {
            policy_validation_passed: Some(findings.is_empty()),
            validation_errors: Some(
                findings
                    .into_iter()
                    .map(|(check, message)| ValidationErrorsEntry {
                        check_name: Some(check.to_string()),
                        error_message: Some(message),
                    })
                    .collect(),
            ),
        })
    }
}

/// `PolicyName` (ResourcePolicyNameType): 1–64 of `[0-9A-Za-z-_]`.
pub(super) fn check_policy_name(v: &mut Validator, name: &Option<String>) {
    v.length("PolicyName", name.as_deref(), 1, 64);
    v.pattern(
        "PolicyName",
        name.as_deref(),
        |n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        },
        "[0-9A-Za-z\\-\\_]+",
    );
}

/// Only the caller's own policy (`default`) can be put or deleted.
pub(super) fn only_default_policy(name: &Option<String>) -> Result<(), SmError> {
    match name.as_deref() {
        None | Some(cross_account::DEFAULT_POLICY) => Ok(()),
        Some(other) => Err(SmError::InvalidParameter(format!(
            "You can only put or delete the resource policy named default, not {other}. Secrets Manager manages any other policy on the secret."
        ))),
    }
}

pub(super) fn named_policy_response(r: ArnNameResponse) -> NamedPolicyResponse {
    NamedPolicyResponse {
        arn: r.arn,
        name: r.name,
        policy_name: Some(cross_account::DEFAULT_POLICY.to_string()),
    }
}

pub(super) fn check_policy_syntax(policy: &str) -> Result<(), SmError> {
    match serde_json::from_str::<serde_json::Value>(policy) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(SmError::MalformedPolicyDocument(
            MALFORMED_POLICY.to_string(),
        )),
    }
}
