//! The audit trail: CloudTrail's LookupEvents with one attribute filter, as the API allows,
//! paged with its NextToken.

use crate::page::{self, text, when, Page, Section};
use crate::{bad_region, Shared, Signed, BASE};
use axum::extract::{Path, Query};
use axum::response::Response;
use coffer_model::ops::{CloudTrailOp, Op};
use maud::html;
use serde::Deserialize;
use serde_json::{json, Value};

const ATTRIBUTES: &[(&str, &str)] = &[
    ("EventName", "Event name"),
    ("Username", "User name"),
    ("ResourceName", "Resource name"),
    ("EventSource", "Event source"),
    ("AccessKeyId", "Access key ID"),
    ("ReadOnly", "Read only (true/false)"),
];

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    attr: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    next: String,
}

/// `GET /{region}/audit`
pub async fn list(
    state: Shared,
    Path(region): Path<String>,
    signed: Signed,
    Query(f): Query<ListQuery>,
) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    state.0.sessions.set_region(&signed.session, &region).await;
    let page = Page {
        title: "Audit trail",
        session: &signed.session,
        region: &region,
        section: Section::Audit,
    };
    let mut input = json!({ "MaxResults": 50 });
    if !f.value.trim().is_empty() && ATTRIBUTES.iter().any(|(k, _)| *k == f.attr) {
        input["LookupAttributes"] =
            json!([{ "AttributeKey": f.attr, "AttributeValue": f.value.trim() }]);
    }
    if !f.next.is_empty() {
        input["NextToken"] = f.next.clone().into();
    }
    let events = match state
        .0
        .call(
            &signed.session,
            &region,
            Op::CloudTrail(CloudTrailOp::LookupEvents),
            input,
            &signed.parts,
        )
        .await
    {
        Ok(v) => v,
        Err(e) => return page.error(&e),
    };
    let next = events["NextToken"].as_str().map(|t| {
        format!(
            "{BASE}/{region}/audit?attr={}&value={}&next={}",
            page::q(&f.attr),
            page::q(&f.value),
            page::q(t)
        )
    });
    page.render(html! {
        form.filters method="get" action={ (BASE) "/" (region) "/audit" } role="search" {
            label { "Attribute " select name="attr" {
                @for (k, label) in ATTRIBUTES { option value=(k) selected[f.attr == *k] { (label) } }
            } }
            label { "Value " input name="value" value=(f.value); }
            button type="submit" { "Look up" }
        }
        div.table { table {
            thead { tr {
                th scope="col" { "Time" } th scope="col" { "Event" } th scope="col" { "User" }
                th scope="col" { "Resources" } th scope="col" { "Source IP" } th scope="col" { "User agent" } th scope="col" { "Error" }
            } }
            tbody {
                @for e in events["Events"].as_array().into_iter().flatten() {
                    @let detail: Value = e["CloudTrailEvent"].as_str().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null);
                    tr {
                        td { (when(&e["EventTime"])) }
                        td { (text(e, "EventName")) br; span.hint { (text(e, "EventSource")) } }
                        td { (text(e, "Username")) }
                        td { @for r in e["Resources"].as_array().into_iter().flatten() { div { code { (text(r, "ResourceName")) } } } }
                        td { (text(&detail, "sourceIPAddress")) }
                        td.agent { (text(&detail, "userAgent")) }
                        td { @if let Some(c) = detail["errorCode"].as_str() { span.badge.bad { (c) } } }
                    }
                }
                @if events["Events"].as_array().is_none_or(Vec::is_empty) { tr { td colspan="7" { "No events." } } }
            }
        } }
        @if let Some(n) = next { p.pager { a href=(n) rel="next" { "Next page" } } }
    })
}
