//! Key policies: GetKeyPolicy, PutKeyPolicy and ListKeyPolicies.

use crate::common::*;
use crate::ops::{self};
use crate::{Kms, KmsError};
use coffer_core::RequestContext;
use coffer_model::kms::*;
use coffer_model::Validator;

impl Kms {
    pub(crate) fn policy_name(v: &mut Validator, name: &Option<String>) {
        v.length("PolicyName", name.as_deref(), 1, 128);
        v.pattern(
            "PolicyName",
            name.as_deref(),
            |s| s.chars().all(|c| c.is_alphanumeric() || c == '_'),
            "[\\w]+",
        );
    }

    pub(crate) fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
        match name {
            None | Some("default") => Ok(()),
            Some(_) => Err(KmsError::NotFound("No such policy exists".into())),
        }
    }

    /// `GetKeyPolicy`.
    pub fn get_key_policy(
        &self,
        ctx: &RequestContext,
        req: KeyPolicyRequest,
    ) -> Result<GetKeyPolicyResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        Self::policy_name(&mut v, &req.policy_name);
        v.finish()?;
        let w = self.world.read();
        let (key, _) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::GetKeyPolicy.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        Self::check_policy_name(req.policy_name.as_deref())?;
        Ok(GetKeyPolicyResponse {
            policy: key.policy.clone(),
            policy_name: "default".into(),
        })
    }

    /// `PutKeyPolicy`.
    pub fn put_key_policy(
        &self,
        ctx: &RequestContext,
        req: KeyPolicyRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        Self::policy_name(&mut v, &req.policy_name);
        v.required("Policy", &req.policy);
        validate_policy(&mut v, &req.policy);
        v.finish()?;
        Self::check_policy_name(req.policy_name.as_deref())?;
        let policy = req.policy.unwrap_or_default();
        check_policy_document(&policy)?;
        self.update_key(
            ctx,
            ops::KmsAction::PutKeyPolicy.info(),
            req.key_id.as_deref().unwrap_or_default(),
            |k| {
                k.policy = policy;
                Ok(())
            },
        )?;
        Ok(Empty {})
    }

    /// `ListKeyPolicies`.
    pub fn list_key_policies(
        &self,
        ctx: &RequestContext,
        req: ListRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        self.resolve(
            &w,
            ctx,
            ops::KmsAction::ListKeyPolicies.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        Ok(ListKeyPoliciesResponse {
            policy_names: vec!["default".into()],
            truncated: false,
        })
    }
}
