//! Secrets: the list (searched with ListSecrets' `all` filter, paged as the API is), a secret's
//! page (versions and their staging labels as a timeline, replicas and their status, rotation,
//! resource policy, tags) and the actions: create (with a replica), put a value, reveal the
//! value (an explicit POST, audited as GetSecretValue, never cached), rotate now, replicate,
//! schedule deletion (confirmed by name) and restore.

use crate::page::{self, badge, csrf, done_box, text, when, Page, Section};
use crate::{bad_region, Console, Shared, Signed, BASE};
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use coffer_http::error::ApiError;
use coffer_model::ops::{Op, SecretsManagerOp as Sm};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

const PAGE_SIZE: u32 = 25;

fn sm(op: Sm) -> Op {
    Op::SecretsManager(op)
}

fn secret_url(region: &str, id: &str) -> String {
    format!("{BASE}/{region}/secret?id={}", page::q(id))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    done: String,
}

/// `GET /{region}/secrets`
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
        title: "Secrets",
        session: &signed.session,
        region: &region,
        section: Section::Secrets,
    };
    let mut input = json!({ "MaxResults": PAGE_SIZE });
    if !f.next.is_empty() {
        input["NextToken"] = f.next.clone().into();
    }
    if !f.q.trim().is_empty() {
        input["Filters"] = json!([{ "Key": "all", "Values": [f.q.trim()] }]);
    }
    let listed = match state
        .0
        .call(
            &signed.session,
            &region,
            sm(Sm::ListSecrets),
            input,
            &signed.parts,
        )
        .await
    {
        Ok(v) => v,
        Err(e) => return page.error(&e),
    };
    let next = listed["NextToken"].as_str().map(|t| {
        format!(
            "{BASE}/{region}/secrets?next={}&q={}",
            page::q(t),
            page::q(&f.q)
        )
    });
    let done = (f.done == "deleted").then_some("Deletion scheduled.");
    page.render(html! {
        (done_box(done))
        p.actions { a.button href={ (BASE) "/" (region) "/secrets/new" } { "Create secret" } }
        form.filters method="get" action={ (BASE) "/" (region) "/secrets" } role="search" {
            label { "Search " input name="q" value=(f.q) placeholder="name, description, tag"; }
            button type="submit" { "Search" }
        }
        div.table { table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Description" } th scope="col" { "KMS key" } th scope="col" { "Primary Region" } th scope="col" { "Last changed" } th scope="col" { "Rotation" } } }
            tbody {
                @for s in listed["SecretList"].as_array().into_iter().flatten() {
                    tr {
                        td { a href=(secret_url(&region, text(s, "ARN"))) { (text(s, "Name")) } }
                        td { (text(s, "Description")) }
                        td { code { (s["KmsKeyId"].as_str().unwrap_or("aws/secretsmanager")) } }
                        td { (s["PrimaryRegion"].as_str().unwrap_or(&region)) }
                        td { (when(&s["LastChangedDate"])) }
                        td { (if s["RotationEnabled"].as_bool() == Some(true) { "On" } else { "Off" }) }
                    }
                }
                @if listed["SecretList"].as_array().is_none_or(Vec::is_empty) { tr { td colspan="6" { "No secrets." } } }
            }
        } }
        @if let Some(n) = next { p.pager { a href=(n) rel="next" { "Next page" } } }
    })
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    id: String,
    #[serde(default)]
    done: String,
}

/// `GET /{region}/secret?id=`
pub async fn show(
    state: Shared,
    Path(region): Path<String>,
    signed: Signed,
    Query(q): Query<ShowQuery>,
) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    let done = match q.done.as_str() {
        "put" => Some("New version stored; it is now AWSCURRENT."),
        "rotated" => Some("Rotation started."),
        "replicated" => Some("Replication requested."),
        "restored" => Some("Deletion cancelled."),
        "created" => Some("Secret created."),
        _ => None,
    };
    secret_page(&state.0, &signed, &region, &q.id, done, None, None).await
}

async fn secret_page(
    console: &Console,
    signed: &Signed,
    region: &str,
    id: &str,
    done: Option<&str>,
    failed: Option<&ApiError>,
    revealed: Option<(&str, Zeroizing<String>)>,
) -> Response {
    let page = Page {
        title: "Secret",
        session: &signed.session,
        region,
        section: Section::Secrets,
    };
    let call =
        |op: Sm, input: Value| console.call(&signed.session, region, sm(op), input, &signed.parts);
    let d = match call(Sm::DescribeSecret, json!({ "SecretId": id })).await {
        Ok(v) => v,
        Err(e) => return page.error(&e),
    };
    let arn = text(&d, "ARN").to_string();
    let versions = call(
        Sm::ListSecretVersionIds,
        json!({ "SecretId": arn, "IncludeDeprecated": true, "MaxResults": 50 }),
    )
    .await;
    let policy = call(Sm::GetResourcePolicy, json!({ "SecretId": arn })).await;
    let name = text(&d, "Name").to_string();
    let title = format!("Secret {name}");
    let page = Page {
        title: &title,
        ..page
    };
    let s = &signed.session;
    let deleted = d.get("DeletedDate").is_some();
    let is_replica = d["PrimaryRegion"].as_str().is_some_and(|p| p != region);
    page.render(html! {
        (done_box(done))
        @if let Some(e) = failed { (page::error_box(e)) }
        section aria-labelledby="meta-h" {
            h2 id="meta-h" { "Configuration" }
            dl.meta {
                dt { "ARN" } dd { code { (arn) } }
                dt { "Description" } dd { (text(&d, "Description")) }
                dt { "KMS key" } dd { code { (d["KmsKeyId"].as_str().unwrap_or("aws/secretsmanager")) } }
                dt { "Primary Region" } dd { (d["PrimaryRegion"].as_str().unwrap_or(region)) }
                dt { "Created" } dd { (when(&d["CreatedDate"])) }
                dt { "Last changed" } dd { (when(&d["LastChangedDate"])) }
                dt { "Last accessed" } dd { (when(&d["LastAccessedDate"])) }
                @if deleted { dt { "Deletion date" } dd { (badge("PendingDeletion")) " " (when(&d["DeletedDate"])) } }
            }
        }
        section aria-labelledby="value-h" {
            h2 id="value-h" { "Secret value" }
            @match &revealed {
                Some((stage, value)) => {
                    p.hint { "Showing " (stage) ". This page is not cached; reloading hides the value again." }
                    pre.secret { code { (value.as_str()) } }
                }
                None => form method="post" action={ (BASE) "/" (region) "/secret/reveal" } {
                    (csrf(s))
                    input type="hidden" name="id" value=(arn);
                    button type="submit" { "Reveal secret value" }
                    span.hint { " Revealing is recorded in the audit trail as GetSecretValue." }
                }
            }
            @if !deleted && !is_replica {
                form.stack method="post" action={ (BASE) "/" (region) "/secret/put" } {
                    (csrf(s))
                    input type="hidden" name="id" value=(arn);
                    label for="new-value" { "New value (becomes AWSCURRENT)" }
                    textarea id="new-value" name="value" rows="3" required autocomplete="off" spellcheck="false" {}
                    button type="submit" { "Store new version" }
                }
            }
        }
        section aria-labelledby="versions-h" {
            h2 id="versions-h" { "Versions" }
            @match &versions {
                Err(e) => (page::error_box(e)),
                Ok(v) => (timeline(v)),
            }
        }
        section aria-labelledby="repl-h" {
            h2 id="repl-h" { "Replication" }
            @if let Some(list) = d["ReplicationStatus"].as_array().filter(|l| !l.is_empty()) {
                div.table { table {
                    thead { tr { th scope="col" { "Region" } th scope="col" { "KMS key" } th scope="col" { "Status" } th scope="col" { "Message" } th scope="col" { "Last accessed" } } }
                    tbody { @for r in list {
                        tr {
                            td { a href=(secret_url(text(r, "Region"), &name)) { (text(r, "Region")) } }
                            td { code { (r["KmsKeyId"].as_str().unwrap_or("aws/secretsmanager")) } }
                            td { (badge(text(r, "Status"))) }
                            td { (text(r, "StatusMessage")) }
                            td { (when(&r["LastAccessedDate"])) }
                        }
                    } }
                } }
            } @else {
                p { "Not replicated." }
            }
            @if !deleted && !is_replica {
                form.inline method="post" action={ (BASE) "/" (region) "/secret/replicate" } {
                    (csrf(s))
                    input type="hidden" name="id" value=(arn);
                    label for="repl-region" { "Replicate to" }
                    select id="repl-region" name="replica_region" { @for r in page::REGIONS { @if *r != region { option value=(r) { (r) } } } }
                    label for="repl-key" { "under KMS key" }
                    input id="repl-key" name="replica_key" placeholder="alias/… or key ID (default: aws/secretsmanager)";
                    button type="submit" { "Replicate" }
                }
            }
        }
        section aria-labelledby="rot-h" {
            h2 id="rot-h" { "Rotation" }
            dl.meta {
                dt { "Rotation" } dd { (if d["RotationEnabled"].as_bool() == Some(true) { "Enabled" } else { "Disabled" }) }
                @if let Some(r) = d["RotationRules"].as_object() {
                    @if let Some(days) = r.get("AutomaticallyAfterDays") { dt { "Every" } dd { (days) " days" } }
                    @if let Some(e) = r.get("ScheduleExpression").and_then(Value::as_str) { dt { "Schedule" } dd { code { (e) } } }
                }
                @if let Some(l) = d["RotationLambdaARN"].as_str() { dt { "Rotator" } dd { code { (l) } } }
                dt { "Last rotated" } dd { (when(&d["LastRotatedDate"])) }
                dt { "Next rotation" } dd { (when(&d["NextRotationDate"])) }
            }
            @if d["RotationEnabled"].as_bool() == Some(true) && !deleted && !is_replica {
                form method="post" action={ (BASE) "/" (region) "/secret/rotate" } {
                    (csrf(s))
                    input type="hidden" name="id" value=(arn);
                    button type="submit" { "Rotate now" }
                }
            }
        }
        section aria-labelledby="policy-h" {
            h2 id="policy-h" { "Resource policy" }
            @match &policy {
                Err(e) => (page::error_box(e)),
                Ok(v) => @match v["ResourcePolicy"].as_str() {
                    Some(p) => (page::policy(p)),
                    None => p { "None." },
                }
            }
        }
        section aria-labelledby="tags-h" {
            h2 id="tags-h" { "Tags" }
            dl.meta { @for t in d["Tags"].as_array().into_iter().flatten() { dt { (text(t, "Key")) } dd { (text(t, "Value")) } } }
        }
        section aria-labelledby="danger-h" {
            h2 id="danger-h" { "Deletion" }
            @if deleted {
                form method="post" action={ (BASE) "/" (region) "/secret/restore" } {
                    (csrf(s))
                    input type="hidden" name="id" value=(arn);
                    button type="submit" { "Cancel deletion" }
                }
            } @else if !is_replica {
                a.button.danger href={ (BASE) "/" (region) "/secret/delete?id=" (page::q(&arn)) } { "Schedule deletion…" }
            }
        }
    })
}

/// Versions newest first, each with its staging labels and creation time.
fn timeline(v: &Value) -> Markup {
    let mut list: Vec<&Value> = v["Versions"].as_array().into_iter().flatten().collect();
    list.sort_by(|a, b| {
        b["CreatedDate"]
            .as_f64()
            .partial_cmp(&a["CreatedDate"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    html! {
        ol.timeline {
            @for ver in &list {
                li {
                    span.when { (when(&ver["CreatedDate"])) }
                    code { (text(ver, "VersionId")) }
                    @for label in ver["VersionStages"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        " " span class={ "badge " (if label == "AWSCURRENT" { "good" } else { "" }) } { (label) }
                    }
                    @if ver["VersionStages"].as_array().is_none_or(Vec::is_empty) { " " span.badge { "deprecated" } }
                }
            }
            @if list.is_empty() { li { "No versions." } }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    value: Zeroizing<String>,
    #[serde(default)]
    replica_region: String,
    #[serde(default)]
    replica_key: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    recovery_days: String,
}

/// `POST /{region}/secret/{action}`
pub async fn act(
    state: Shared,
    Path((region, action)): Path<(String, String)>,
    signed: Signed,
    Form(form): Form<ActForm>,
) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    if !signed.session.csrf_ok(&form.csrf) {
        return page::refused("The form has expired; reload the page and try again.");
    }
    let console = &state.0;
    let call =
        |op: Sm, input: Value| console.call(&signed.session, &region, sm(op), input, &signed.parts);
    let id = form.id.as_str();
    let result = match action.as_str() {
        "reveal" => {
            return match call(Sm::GetSecretValue, json!({ "SecretId": id })).await {
                Ok(v) => {
                    let value = match (v["SecretString"].as_str(), v["SecretBinary"].as_str()) {
                        (Some(s), _) => Zeroizing::new(s.to_string()),
                        (None, Some(b)) => Zeroizing::new(format!("(binary, base64) {b}")),
                        _ => Zeroizing::new(String::new()),
                    };
                    secret_page(
                        console,
                        &signed,
                        &region,
                        id,
                        None,
                        None,
                        Some(("AWSCURRENT", value)),
                    )
                    .await
                }
                Err(e) => secret_page(console, &signed, &region, id, None, Some(&e), None).await,
            };
        }
        "put" => call(
            Sm::PutSecretValue,
            json!({
                "SecretId": id,
                "SecretString": form.value.as_str(),
                // What every SDK fills in for an idempotency token.
                "ClientRequestToken": coffer_crypto::random::uuid_v4(),
            }),
        )
        .await
        .map(|_| "put"),
        "rotate" => call(Sm::RotateSecret, json!({ "SecretId": id }))
            .await
            .map(|_| "rotated"),
        "restore" => call(Sm::RestoreSecret, json!({ "SecretId": id }))
            .await
            .map(|_| "restored"),
        "replicate" => {
            let mut replica = json!({ "Region": form.replica_region });
            if !form.replica_key.trim().is_empty() {
                replica["KmsKeyId"] = form.replica_key.trim().into();
            }
            call(
                Sm::ReplicateSecretToRegions,
                json!({ "SecretId": id, "AddReplicaRegions": [replica] }),
            )
            .await
            .map(|_| "replicated")
        }
        "delete" => {
            let name = call(Sm::DescribeSecret, json!({ "SecretId": id }))
                .await
                .map(|d| text(&d, "Name").to_string());
            let name = match name {
                Ok(n) => n,
                Err(e) => {
                    return secret_page(console, &signed, &region, id, None, Some(&e), None).await
                }
            };
            if form.confirm.trim() != name {
                let e = ApiError::bad_request(
                    "InvalidParameterException",
                    "Type the secret's name to confirm its deletion.",
                );
                return delete_page(&signed, &region, id, &name, Some(&e));
            }
            let days: u32 = form.recovery_days.trim().parse().unwrap_or(30);
            return match call(
                Sm::DeleteSecret,
                json!({ "SecretId": id, "RecoveryWindowInDays": days }),
            )
            .await
            {
                Ok(_) => {
                    Redirect::to(&format!("{BASE}/{region}/secrets?done=deleted")).into_response()
                }
                Err(e) => delete_page(&signed, &region, id, &name, Some(&e)),
            };
        }
        _ => return page::not_found(),
    };
    match result {
        Ok(done) => {
            Redirect::to(&format!("{}&done={done}", secret_url(&region, id))).into_response()
        }
        Err(e) => secret_page(console, &signed, &region, id, None, Some(&e), None).await,
    }
}

/// `GET /{region}/secret/delete?id=`: the confirmation, naming the secret.
pub async fn confirm_delete(
    state: Shared,
    Path(region): Path<String>,
    signed: Signed,
    Query(q): Query<ShowQuery>,
) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    let d = state
        .0
        .call(
            &signed.session,
            &region,
            sm(Sm::DescribeSecret),
            json!({ "SecretId": q.id }),
            &signed.parts,
        )
        .await;
    match d {
        Ok(d) => delete_page(&signed, &region, &q.id, text(&d, "Name"), None),
        Err(e) => Page {
            title: "Schedule secret deletion",
            session: &signed.session,
            region: &region,
            section: Section::Secrets,
        }
        .error(&e),
    }
}

fn delete_page(
    signed: &Signed,
    region: &str,
    id: &str,
    name: &str,
    failed: Option<&ApiError>,
) -> Response {
    let page = Page {
        title: "Schedule secret deletion",
        session: &signed.session,
        region,
        section: Section::Secrets,
    };
    let body = html! {
        @if let Some(e) = failed { (page::error_box(e)) }
        p { "Secret " strong { (name) } " in " (region) " will be deleted after the recovery window; until then it can be restored." }
        form.stack method="post" action={ (BASE) "/" (region) "/secret/delete" } {
            (csrf(&signed.session))
            input type="hidden" name="id" value=(id);
            label for="days" { "Recovery window (7–30 days)" }
            input id="days" name="recovery_days" type="number" min="7" max="30" value="30";
            label for="confirm" { "Type the secret's name " strong { (name) } " to confirm" }
            input id="confirm" name="confirm" required autocomplete="off" spellcheck="false";
            button.danger type="submit" { "Schedule deletion" }
        }
        p { a href=(secret_url(region, id)) { "Cancel" } }
    };
    page.render_after(failed, body)
}

/// `GET /{region}/secrets/new`
pub async fn new_form(Path(region): Path<String>, signed: Signed) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    create_page(&signed, &region, None)
}

fn create_page(signed: &Signed, region: &str, failed: Option<&ApiError>) -> Response {
    let page = Page {
        title: "Create secret",
        session: &signed.session,
        region,
        section: Section::Secrets,
    };
    let body = html! {
        @if let Some(e) = failed { (page::error_box(e)) }
        form.stack method="post" action={ (BASE) "/" (region) "/secrets/new" } {
            (csrf(&signed.session))
            label for="name" { "Name" }
            input id="name" name="name" required maxlength="512" spellcheck="false";
            label for="desc" { "Description" }
            input id="desc" name="description" maxlength="2048";
            label for="value" { "Secret value" }
            textarea id="value" name="value" rows="4" required autocomplete="off" spellcheck="false" {}
            label for="key" { "KMS key (default: aws/secretsmanager)" }
            input id="key" name="kms_key" placeholder="alias/… or key ID or ARN" spellcheck="false";
            fieldset {
                legend { "Replica (optional)" }
                label for="rr" { "Region" }
                select id="rr" name="replica_region" {
                    option value="" { "None" }
                    @for r in page::REGIONS { @if *r != region { option value=(r) { (r) } } }
                }
                label for="rk" { "KMS key in that Region" }
                input id="rk" name="replica_key" placeholder="alias/… or key ID or ARN" spellcheck="false";
            }
            button type="submit" { "Create secret" }
        }
    };
    page.render_after(failed, body)
}

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    value: Zeroizing<String>,
    #[serde(default)]
    kms_key: String,
    #[serde(default)]
    replica_region: String,
    #[serde(default)]
    replica_key: String,
}

/// `POST /{region}/secrets/new`
pub async fn create(
    state: Shared,
    Path(region): Path<String>,
    signed: Signed,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    if !signed.session.csrf_ok(&form.csrf) {
        return page::refused("The form has expired; reload the page and try again.");
    }
    let mut input = json!({
        "Name": form.name.trim(),
        "SecretString": form.value.as_str(),
        "ClientRequestToken": coffer_crypto::random::uuid_v4(),
    });
    if !form.description.is_empty() {
        input["Description"] = form.description.clone().into();
    }
    if !form.kms_key.trim().is_empty() {
        input["KmsKeyId"] = form.kms_key.trim().into();
    }
    if !form.replica_region.is_empty() {
        let mut replica = json!({ "Region": form.replica_region });
        if !form.replica_key.trim().is_empty() {
            replica["KmsKeyId"] = form.replica_key.trim().into();
        }
        input["AddReplicaRegions"] = json!([replica]);
    }
    match state
        .0
        .call(
            &signed.session,
            &region,
            sm(Sm::CreateSecret),
            input,
            &signed.parts,
        )
        .await
    {
        Ok(v) => Redirect::to(&format!(
            "{}&done=created",
            secret_url(&region, text(&v, "ARN"))
        ))
        .into_response(),
        Err(e) => create_page(&signed, &region, Some(&e)),
    }
}
