//! `GetContextKeysForCustomPolicy` and `GetContextKeysForPrincipalPolicy`: the context keys the
//! policies refer to, through the parser the evaluator and the simulator use.
//!
//! A key counts wherever the simulator would need its value: in a `Condition` (the key, and
//! policy variables in its values) and as a policy variable in `Resource`/`NotResource`. The
//! list is in the order the keys first appear (policy by policy, statement by statement),
//! each once whatever its case, as AWS's documented example answers
//! (`["aws:username", "aws:CurrentTime"]` for a resource `…/${aws:username}` and a condition on
//! `aws:CurrentTime`).

use crate::{Iam, IamError};
use coffer_core::RequestContext;
use coffer_model::ops::IamAction;
use coffer_model::Validator;
use coffer_policy::{Context, Policy, PolicyKind};

/// The keys of `docs`, in order of first appearance, once each (case-insensitively).
fn keys_of<'a>(docs: impl IntoIterator<Item = &'a Policy>) -> Vec<String> {
    let none = Context::new();
    let mut out: Vec<String> = Vec::new();
    for p in docs {
        for k in p.missing_keys(&none) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&k)) {
                out.push(k);
            }
        }
    }
    out
}

/// Given documents, each checked as an identity policy (`InvalidInput` when one is not).
fn parse_given(docs: &[String]) -> Result<Vec<Policy>, IamError> {
    docs.iter()
        .map(|d| {
            Policy::parse(d)
                .and_then(|p| p.validate(PolicyKind::Identity).map(|()| p))
                .map_err(|e| IamError::InvalidInput(format!("PolicyInputList: {e}")))
        })
        .collect()
}

impl Iam {
    /// `GetContextKeysForCustomPolicy`: the keys of the given documents.
    pub fn get_context_keys_for_custom_policy(
        &self,
        ctx: &RequestContext,
        docs: Option<&[String]>,
    ) -> Result<Vec<String>, IamError> {
        let mut v = Validator::new();
        v.required("PolicyInputList", &docs);
        v.finish()?;
        self.authorize(ctx, IamAction::GetContextKeysForCustomPolicy, "*")?;
        let given = parse_given(docs.unwrap_or_default())?;
        Ok(keys_of(&given))
    }

    /// `GetContextKeysForPrincipalPolicy`: the keys of every policy of the role or user
    /// `PolicySourceArn` names (attached managed and inline), then of any given documents.
    pub fn get_context_keys_for_principal_policy(
        &self,
        ctx: &RequestContext,
        source: Option<&str>,
        docs: Option<&[String]>,
    ) -> Result<Vec<String>, IamError> {
        let mut v = Validator::new();
        v.required("PolicySourceArn", &source);
        v.length("PolicySourceArn", source, 20, 2048);
        v.finish()?;
        let source = source.unwrap_or_default();
        self.authorize(ctx, IamAction::GetContextKeysForPrincipalPolicy, source)?;
        let (own, _boundary) = self.principal_policies(ctx, source, &[])?;
        let given = parse_given(docs.unwrap_or_default())?;
        Ok(keys_of(own.iter().map(|i| &i.policy).chain(given.iter())))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use coffer_core::RoleSession;
    use std::sync::Arc;

    const ACCOUNT: &str = "111122223333";

    fn iam() -> Iam {
        Iam::load(
            Arc::new(coffer_store::MemoryStore::new()),
            Arc::new(coffer_core::SystemClock),
        )
        .unwrap()
    }

    fn ctx() -> RequestContext {
        RequestContext {
            account_id: ACCOUNT.into(),
            region: "us-east-1".into(),
            principal_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            role: None,
            secure_transport: false,
        }
    }

    #[test]
    fn aws_documented_example() {
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2015-08-16T12:00:00Z"}}}}"#;
        let keys = iam()
            .get_context_keys_for_custom_policy(&ctx(), Some(&[doc.to_string()]))
            .unwrap();
        assert_eq!(keys, ["aws:username", "aws:CurrentTime"]);
    }

    #[test]
    fn keys_once_in_order_across_policies() {
        let a = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue","kms:ViaService":"x"}}}]}"#;
        let b = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"AWS:PrincipalTag/TEAM":"true"},"StringLike":{"sts:ExternalId":"${aws:SourceIdentity}"}}}]}"#;
        let keys = iam()
            .get_context_keys_for_custom_policy(&ctx(), Some(&[a.into(), b.into()]))
            .unwrap();
        assert_eq!(
            keys,
            [
                "aws:PrincipalTag/team",
                "kms:ViaService",
                "sts:ExternalId",
                "aws:SourceIdentity"
            ]
        );
        let none = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        assert!(iam()
            .get_context_keys_for_custom_policy(&ctx(), Some(&[none.into()]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn inputs_are_checked() {
        let iam = iam();
        let e = iam
            .get_context_keys_for_custom_policy(&ctx(), None)
            .unwrap_err();
        assert!(matches!(e, IamError::Validation(_)), "{e:?}");
        let e = iam
            .get_context_keys_for_custom_policy(&ctx(), Some(&["{".into()]))
            .unwrap_err();
        assert!(matches!(e, IamError::InvalidInput(_)), "{e:?}");
        let e = iam
            .get_context_keys_for_principal_policy(
                &ctx(),
                Some(&format!("arn:aws:iam::{ACCOUNT}:role/none")),
                None,
            )
            .unwrap_err();
        assert!(matches!(e, IamError::NoSuchEntity(_)), "{e:?}");
        let e = iam
            .get_context_keys_for_principal_policy(&ctx(), Some("not-an-arn-at-all-really"), None)
            .unwrap_err();
        assert!(matches!(e, IamError::InvalidInput(_)), "{e:?}");
        // A role session needs iam:GetContextKeysForCustomPolicy.
        let mut c = ctx();
        c.role = Some(Arc::new(RoleSession::assumed_role(
            "app",
            &format!("arn:aws:iam::{ACCOUNT}:role/app"),
            "s",
        )));
        let e = iam
            .get_context_keys_for_custom_policy(&c, Some(&[]))
            .unwrap_err();
        assert!(matches!(e, IamError::AccessDenied(_)), "{e:?}");
    }
}
