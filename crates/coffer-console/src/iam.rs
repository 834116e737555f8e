//! IAM, read-only: roles and customer managed policies (paged as the API pages them), a role
//! with its trust policy and attached and inline policies, a policy's default version.

use crate::page::{self, text, Page, Section};
use crate::{Shared, Signed, BASE};
use axum::extract::Query;
use axum::response::Response;
use coffer_model::ops::IamOp;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

fn list_of<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v[key]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// An IAM policy document as IAM answers it (URL-encoded JSON).
fn document(encoded: &str) -> String {
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned()
}

/// Runs one IAM action as the request's caller.
async fn call(
    state: &Shared,
    signed: &Signed,
    op: IamOp,
    params: Vec<(String, String)>,
) -> Result<Value, coffer_http::error::ApiError> {
    coffer_http::console::call_iam(&state.0.app, &signed.session.who, op, params, &signed.parts)
        .await
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    roles_marker: String,
    #[serde(default)]
    policies_marker: String,
}

/// `GET /iam`
pub async fn list(state: Shared, signed: Signed, Query(q): Query<ListQuery>) -> Response {
    let region = signed.session.region();
    let page = Page {
        title: "IAM",
        session: &signed.session,
        region: &region,
        section: Section::Iam,
    };
    let mut rp = vec![("MaxItems".to_string(), "50".to_string())];
    if !q.roles_marker.is_empty() {
        rp.push(("Marker".into(), q.roles_marker.clone()));
    }
    let mut pp = vec![
        ("MaxItems".to_string(), "50".to_string()),
        ("Scope".to_string(), "Local".to_string()),
    ];
    if !q.policies_marker.is_empty() {
        pp.push(("Marker".into(), q.policies_marker.clone()));
    }
    let roles = call(&state, &signed, IamOp::ListRoles, rp).await;
    let policies = call(&state, &signed, IamOp::ListPolicies, pp).await;
    page.render(html! {
        section aria-labelledby="roles-h" {
            h2 id="roles-h" { "Roles" }
            @match &roles {
                Err(e) => (page::error_box(e)),
                Ok(v) => {
                    div.table { table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "ARN" } th scope="col" { "Created" } th scope="col" { "Max session" } } }
                        tbody {
                            @for r in list_of(v, "Roles") {
                                tr {
                                    td { a href={ (BASE) "/iam/role?name=" (page::q(text(r, "RoleName"))) } { (text(r, "RoleName")) } }
                                    td { code { (text(r, "Arn")) } }
                                    td { (text(r, "CreateDate")) }
                                    td { (text(r, "MaxSessionDuration")) " s" }
                                }
                            }
                            @if list_of(v, "Roles").is_empty() { tr { td colspan="4" { "No roles." } } }
                        }
                    } }
                    @if v["IsTruncated"].as_str() == Some("true") {
                        p.pager { a rel="next" href={ (BASE) "/iam?roles_marker=" (page::q(text(v, "Marker"))) } { "More roles" } }
                    }
                }
            }
        }
        section aria-labelledby="pol-h" {
            h2 id="pol-h" { "Customer managed policies" }
            @match &policies {
                Err(e) => (page::error_box(e)),
                Ok(v) => {
                    div.table { table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "ARN" } th scope="col" { "Attachments" } th scope="col" { "Default version" } } }
                        tbody {
                            @for p in list_of(v, "Policies") {
                                tr {
                                    td { a href={ (BASE) "/iam/policy?arn=" (page::q(text(p, "Arn"))) } { (text(p, "PolicyName")) } }
                                    td { code { (text(p, "Arn")) } }
                                    td { (text(p, "AttachmentCount")) }
                                    td { (text(p, "DefaultVersionId")) }
                                }
                            }
                            @if list_of(v, "Policies").is_empty() { tr { td colspan="4" { "No policies." } } }
                        }
                    } }
                    @if v["IsTruncated"].as_str() == Some("true") {
                        p.pager { a rel="next" href={ (BASE) "/iam?policies_marker=" (page::q(text(v, "Marker"))) } { "More policies" } }
                    }
                }
            }
        }
    })
}

#[derive(Deserialize, Default)]
pub struct RoleQuery {
    #[serde(default)]
    name: String,
}

/// `GET /iam/role?name=`
pub async fn role(state: Shared, signed: Signed, Query(q): Query<RoleQuery>) -> Response {
    let region = signed.session.region();
    let title = format!("Role {}", q.name);
    let page = Page {
        title: &title,
        session: &signed.session,
        region: &region,
        section: Section::Iam,
    };
    let name = vec![("RoleName".to_string(), q.name.clone())];
    let role = match call(&state, &signed, IamOp::GetRole, name.clone()).await {
        Ok(v) => v["Role"].clone(),
        Err(e) => return page.error(&e),
    };
    let attached = call(
        &state,
        &signed,
        IamOp::ListAttachedRolePolicies,
        name.clone(),
    )
    .await;
    let inline = call(&state, &signed, IamOp::ListRolePolicies, name).await;
    page.render(html! {
        dl.meta {
            dt { "ARN" } dd { code { (text(&role, "Arn")) } }
            dt { "Description" } dd { (text(&role, "Description")) }
            dt { "Created" } dd { (text(&role, "CreateDate")) }
            dt { "Max session duration" } dd { (text(&role, "MaxSessionDuration")) " s" }
        }
        h2 { "Trust policy" }
        (page::policy(&document(text(&role, "AssumeRolePolicyDocument"))))
        h2 { "Attached policies" }
        @match &attached {
            Err(e) => (page::error_box(e)),
            Ok(v) => ul { @for p in list_of(v, "AttachedPolicies") {
                li { a href={ (BASE) "/iam/policy?arn=" (page::q(text(p, "PolicyArn"))) } { (text(p, "PolicyName")) } }
            } }
        }
        h2 { "Inline policies" }
        @match &inline {
            Err(e) => (page::error_box(e)),
            Ok(v) => ul { @for n in list_of(v, "PolicyNames") { li { (n.as_str().unwrap_or("")) } } }
        }
    })
}

#[derive(Deserialize, Default)]
pub struct PolicyQuery {
    #[serde(default)]
    arn: String,
}

/// `GET /iam/policy?arn=`
pub async fn policy(state: Shared, signed: Signed, Query(q): Query<PolicyQuery>) -> Response {
    let region = signed.session.region();
    let page = Page {
        title: "Policy",
        session: &signed.session,
        region: &region,
        section: Section::Iam,
    };
    let p = match call(
        &state,
        &signed,
        IamOp::GetPolicy,
        vec![("PolicyArn".into(), q.arn.clone())],
    )
    .await
    {
        Ok(v) => v["Policy"].clone(),
        Err(e) => return page.error(&e),
    };
    let version = call(
        &state,
        &signed,
        IamOp::GetPolicyVersion,
        vec![
            ("PolicyArn".into(), q.arn.clone()),
            ("VersionId".into(), text(&p, "DefaultVersionId").to_string()),
        ],
    )
    .await;
    let title = format!("Policy {}", text(&p, "PolicyName"));
    let page = Page {
        title: &title,
        ..page
    };
    page.render(html! {
        dl.meta {
            dt { "ARN" } dd { code { (text(&p, "Arn")) } }
            dt { "Attachments" } dd { (text(&p, "AttachmentCount")) }
            dt { "Default version" } dd { (text(&p, "DefaultVersionId")) }
            dt { "Updated" } dd { (text(&p, "UpdateDate")) }
        }
        h2 { "Document" }
        @match &version {
            Err(e) => (page::error_box(e)),
            Ok(v) => (page::policy(&document(text(&v["PolicyVersion"], "Document")))),
        }
    })
}
