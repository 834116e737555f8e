//! Unit tests, one module per concern.

mod arn_conditions;
mod bool_binary_ip;
mod context;
mod date_conditions;
mod decide;
mod decide_kms;
mod if_exists_null;
mod matching;
mod numeric_conditions;
mod parse_errors;
mod principals;
mod set_operators;
mod simulate;
mod string_conditions;
mod variables;

use crate::{Context, Policy, Request};

pub(crate) const ACCOUNT: &str = "123456789012";
pub(crate) const OTHER_ACCOUNT: &str = "210987654321";
pub(crate) const ROOT: &str = "arn:aws:iam::123456789012:root";
pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/app";
pub(crate) const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/app/s1";
pub(crate) const KEY: &str =
    "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
pub(crate) const SECRET: &str = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf";

pub(crate) fn policy(json: &str) -> Policy {
    Policy::parse(json).unwrap_or_else(|e| panic!("{e:?} parsing {json}"))
}

/// A request from the assumed-role session `SESSION` of `ROLE`.
pub(crate) fn role_req<'a>(action: &'a str, resource: &'a str, ctx: &'a Context) -> Request<'a> {
    Request {
        principal_arn: SESSION,
        principal_account: ACCOUNT,
        role_arn: Some(ROLE),
        action,
        resource,
        context: ctx,
    }
}

/// A request from the account's root user.
pub(crate) fn root_req<'a>(action: &'a str, resource: &'a str, ctx: &'a Context) -> Request<'a> {
    Request {
        principal_arn: ROOT,
        principal_account: ACCOUNT,
        role_arn: None,
        action,
        resource,
        context: ctx,
    }
}

/// An identity policy allowing everything under `condition` (the text of a `Condition` object).
pub(crate) fn cond_policy(condition: &str) -> Policy {
    policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{condition}}}}}"#
    ))
}

/// Whether `condition` holds for `ctx`.
pub(crate) fn holds(condition: &str, ctx: &Context) -> bool {
    cond_policy(condition)
        .evaluate_identity(&role_req("kms:Decrypt", KEY, ctx))
        .allow
}

/// Whether an identity policy with one `Allow` statement of `action` and `resource` (JSON
/// values) allows `req_action` on `req_resource`.
pub(crate) fn allows(action: &str, resource: &str, req_action: &str, req_resource: &str) -> bool {
    let p = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":{action},"Resource":{resource}}}}}"#
    ));
    let ctx = Context::new();
    p.evaluate_identity(&role_req(req_action, req_resource, &ctx))
        .allow
}
