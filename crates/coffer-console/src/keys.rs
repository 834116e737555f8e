//! KMS keys: the list (filtered by state, spec, alias and tag, paged as ListKeys is), a key's
//! page (metadata, policy, grants, aliases, tags, rotations, its multi-Region family drawn as a
//! picture) and the actions: create, enable/disable, rotate now, schedule/cancel deletion,
//! create an alias, replicate to another Region.

use crate::page::{self, badge, csrf, done_box, text, when, Page, Section};
use crate::{bad_region, Console, RegionAnd, Shared, Signed, BASE};
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use coffer_model::ops::{KmsOp, Op};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

const PAGE_SIZE: u32 = 25;
/// Most keys one filtered page examines before it offers the next page.
const MAX_SCANNED: usize = 200;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    spec: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    marker: String,
    #[serde(default)]
    done: String,
}

fn kms(op: KmsOp) -> Op {
    Op::Kms(op)
}

/// `GET /{region}/keys`
pub async fn list(
    state: Shared,
    Path(region): Path<String>,
    signed: Signed,
    Query(f): Query<ListQuery>,
) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    let console = &state.0;
    let page = Page {
        title: "Keys",
        session: &signed.session,
        region: &region,
        section: Section::Keys,
    };
    state.0.sessions.set_region(&signed.session, &region).await;
    let filtering =
        !f.state.is_empty() || !f.spec.is_empty() || !f.alias.is_empty() || !f.tag.is_empty();
    let aliases = alias_map(console, &signed, &region).await;
    // With a filter, ListKeys pages are read on until a page of matches is found (or
    // MAX_SCANNED keys were examined); each read asks for no more keys than matches are still
    // wanted, so that the page ends on a ListKeys marker and the next page resumes there.
    let mut rows = Vec::new();
    let mut marker = Some(f.marker.clone()).filter(|m| !m.is_empty());
    let mut scanned = 0usize;
    loop {
        let want = PAGE_SIZE - u32::try_from(rows.len()).unwrap_or(PAGE_SIZE);
        let mut input = json!({ "Limit": want });
        if let Some(m) = &marker {
            input["Marker"] = m.clone().into();
        }
        let listed = match console
            .call(
                &signed.session,
                &region,
                kms(KmsOp::ListKeys),
                input,
                &signed.parts,
            )
            .await
        {
            Ok(v) => v,
            Err(e) => return page.error(&e),
        };
        for k in listed["Keys"].as_array().into_iter().flatten() {
            scanned += 1;
            let id = text(k, "KeyId").to_string();
            let meta = console
                .call(
                    &signed.session,
                    &region,
                    kms(KmsOp::DescribeKey),
                    json!({ "KeyId": id }),
                    &signed.parts,
                )
                .await
                .map(|v| v["KeyMetadata"].clone())
                .unwrap_or_else(|_| json!({ "KeyId": id }));
            let names = aliases.get(&id).cloned().unwrap_or_default();
            if !f.state.is_empty() && text(&meta, "KeyState") != f.state {
                continue;
            }
            if !f.spec.is_empty() && text(&meta, "KeySpec") != f.spec {
                continue;
            }
            if !f.alias.is_empty() && !names.iter().any(|n| n.contains(&f.alias)) {
                continue;
            }
            if !f.tag.is_empty() && !has_tag(console, &signed, &region, &id, &f.tag).await {
                continue;
            }
            rows.push((meta, names));
        }
        marker = listed["NextMarker"].as_str().map(str::to_string);
        let full = rows.len() >= PAGE_SIZE as usize;
        if !filtering || full || marker.is_none() || scanned >= MAX_SCANNED {
            break;
        }
    }
    let next = marker.as_deref().map(|m| {
        format!(
            "{BASE}/{region}/keys?marker={}&state={}&spec={}&alias={}&tag={}",
            page::q(m),
            page::q(&f.state),
            page::q(&f.spec),
            page::q(&f.alias),
            page::q(&f.tag)
        )
    });
    let done = match f.done.as_str() {
        "scheduled" => Some("Deletion scheduled."),
        _ => None,
    };
    page.render(html! {
        (done_box(done))
        p.actions { a.button href={ (BASE) "/" (region) "/keys/new" } { "Create key" } }
        form.filters method="get" action={ (BASE) "/" (region) "/keys" } {
            label { "State " select name="state" {
                option value="" { "Any" }
                @for s in ["Enabled", "Disabled", "PendingDeletion", "PendingImport", "PendingReplicaDeletion", "Unavailable", "Creating", "Updating"] {
                    option value=(s) selected[f.state == s] { (s) }
                }
            } }
            label { "Key spec " select name="spec" {
                option value="" { "Any" }
                @for s in KEY_SPECS {
                    option value=(s) selected[f.spec == *s] { (s) }
                }
            } }
            label { "Alias contains " input name="alias" value=(f.alias); }
            label { "Tag " input name="tag" value=(f.tag) placeholder="Key or Key=Value"; }
            button type="submit" { "Filter" }
        }
        @if filtering {
            p.hint {
                (rows.len()) " matching of " (scanned) " keys examined"
                @if next.is_some() { "; the next page looks further" }
                "."
            }
        }
        div.table {
            table {
                thead { tr { th scope="col" { "Key ID" } th scope="col" { "Aliases" } th scope="col" { "State" } th scope="col" { "Spec" } th scope="col" { "Usage" } th scope="col" { "Multi-Region" } th scope="col" { "Created" } } }
                tbody {
                    @for (meta, names) in &rows {
                        tr {
                            td { a href={ (BASE) "/" (region) "/keys/" (text(meta, "KeyId")) } { code { (text(meta, "KeyId")) } } }
                            td { @for n in names { div { (n) } } }
                            td { (badge(text(meta, "KeyState"))) }
                            td { (text(meta, "KeySpec")) }
                            td { (text(meta, "KeyUsage")) }
                            td { (multi_region_label(meta)) }
                            td { (when(&meta["CreationDate"])) }
                        }
                    }
                    @if rows.is_empty() {
                        tr { td colspan="7" { "No keys." } }
                    }
                }
            }
        }
        @if let Some(n) = next { p.pager { a href=(n) rel="next" { "Next page" } } }
    })
}

const KEY_SPECS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
];

fn multi_region_label(meta: &Value) -> Markup {
    if meta["MultiRegion"].as_bool() != Some(true) {
        return html! { "No" };
    }
    let kind = text(&meta["MultiRegionConfiguration"], "MultiRegionKeyType");
    html! { (kind.to_lowercase()) }
}

/// Every alias of the Region, by target key ID (ListAliases pages followed, up to 1,000).
async fn alias_map(
    console: &Console,
    signed: &Signed,
    region: &str,
) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let mut input = json!({ "Limit": 100 });
        if let Some(m) = &marker {
            input["Marker"] = m.clone().into();
        }
        let Ok(v) = console
            .call(
                &signed.session,
                region,
                kms(KmsOp::ListAliases),
                input,
                &signed.parts,
            )
            .await
        else {
            break;
        };
        for a in v["Aliases"].as_array().into_iter().flatten() {
            if let (Some(name), Some(target)) = (a["AliasName"].as_str(), a["TargetKeyId"].as_str())
            {
                map.entry(target.to_string())
                    .or_default()
                    .push(name.to_string());
            }
        }
        marker = v["NextMarker"].as_str().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    map
}

async fn has_tag(console: &Console, signed: &Signed, region: &str, id: &str, want: &str) -> bool {
    let (k, v) = match want.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (want, None),
    };
    let Ok(tags) = console
        .call(
            &signed.session,
            region,
            kms(KmsOp::ListResourceTags),
            json!({ "KeyId": id }),
            &signed.parts,
        )
        .await
    else {
        return false;
    };
    tags["Tags"].as_array().into_iter().flatten().any(|t| {
        t["TagKey"].as_str() == Some(k) && v.is_none_or(|v| t["TagValue"].as_str() == Some(v))
    })
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

/// `GET /{region}/keys/{key_id}`
pub async fn show(
    state: Shared,
    Path((region, key_id)): RegionAnd,
    signed: Signed,
    Query(q): Query<ShowQuery>,
) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    let done = match q.done.as_str() {
        "enabled" => Some("The key is enabled."),
        "disabled" => Some("The key is disabled."),
        "rotated" => Some("On-demand rotation started."),
        "cancelled" => Some("Deletion cancelled; the key is disabled."),
        "alias" => Some("Alias created."),
        "replicated" => Some("Replica created."),
        "rotation-on" => Some("Automatic rotation enabled."),
        "rotation-off" => Some("Automatic rotation disabled."),
        _ => None,
    };
    key_page(&state.0, &signed, &region, &key_id, done, None).await
}

async fn key_page(
    console: &Console,
    signed: &Signed,
    region: &str,
    key_id: &str,
    done: Option<&str>,
    failed: Option<&coffer_http::error::ApiError>,
) -> Response {
    let page = Page {
        title: "Key",
        session: &signed.session,
        region,
        section: Section::Keys,
    };
    let call = |op: KmsOp, input: Value| {
        console.call(&signed.session, region, kms(op), input, &signed.parts)
    };
    let meta = match call(KmsOp::DescribeKey, json!({ "KeyId": key_id })).await {
        Ok(v) => v["KeyMetadata"].clone(),
        Err(e) => return page.error(&e),
    };
    let id = text(&meta, "KeyId").to_string();
    let policy = call(KmsOp::GetKeyPolicy, json!({ "KeyId": id })).await;
    let grants = call(KmsOp::ListGrants, json!({ "KeyId": id, "Limit": 50 })).await;
    let aliases = call(KmsOp::ListAliases, json!({ "KeyId": id, "Limit": 100 })).await;
    let tags = call(KmsOp::ListResourceTags, json!({ "KeyId": id, "Limit": 50 })).await;
    let symmetric = text(&meta, "KeySpec") == "SYMMETRIC_DEFAULT";
    let customer = text(&meta, "KeyManager") == "CUSTOMER";
    let rotation = if symmetric {
        Some(call(KmsOp::GetKeyRotationStatus, json!({ "KeyId": id })).await)
    } else {
        None
    };
    let rotations = if symmetric {
        Some(call(KmsOp::ListKeyRotations, json!({ "KeyId": id, "Limit": 50 })).await)
    } else {
        None
    };
    let family = family(console, signed, &meta).await;
    let state = text(&meta, "KeyState");
    let s = &signed.session;
    let base = format!("{BASE}/{region}/keys/{id}");
    let title = format!("Key {id}");
    let page = Page {
        title: &title,
        ..page
    };
    page.render(html! {
        (done_box(done))
        @if let Some(e) = failed { (page::error_box(e)) }
        section aria-labelledby="meta-h" {
            h2 id="meta-h" { "Configuration" }
            dl.meta {
                dt { "ARN" } dd { code { (text(&meta, "Arn")) } }
                dt { "State" } dd { (badge(state)) }
                @if let Some(d) = meta.get("DeletionDate") { dt { "Deletion date" } dd { (when(d)) } }
                dt { "Description" } dd { (text(&meta, "Description")) }
                dt { "Key spec" } dd { (text(&meta, "KeySpec")) }
                dt { "Key usage" } dd { (text(&meta, "KeyUsage")) }
                dt { "Origin" } dd { (text(&meta, "Origin")) }
                dt { "Key manager" } dd { (text(&meta, "KeyManager")) }
                dt { "Created" } dd { (when(&meta["CreationDate"])) }
                dt { "Multi-Region" } dd { (multi_region_label(&meta)) }
            }
        }
        @if customer {
            section aria-labelledby="act-h" {
                h2 id="act-h" { "Actions" }
                div.actions {
                    @if state == "Enabled" {
                        form method="post" action={ (base) "/disable" } { (csrf(s)) button type="submit" { "Disable" } }
                    }
                    @if state == "Disabled" {
                        form method="post" action={ (base) "/enable" } { (csrf(s)) button type="submit" { "Enable" } }
                    }
                    @if symmetric && state == "Enabled" {
                        form method="post" action={ (base) "/rotate" } { (csrf(s)) button type="submit" { "Rotate now" } }
                    }
                    @if state == "PendingDeletion" || state == "PendingReplicaDeletion" {
                        form method="post" action={ (base) "/cancel-deletion" } { (csrf(s)) button type="submit" { "Cancel deletion" } }
                    } @else {
                        a.button.danger href={ (base) "/delete" } { "Schedule deletion…" }
                    }
                }
                form.inline method="post" action={ (base) "/alias" } {
                    (csrf(s))
                    label for="alias-name" { "New alias" }
                    input id="alias-name" name="alias" placeholder="alias/my-key" required;
                    button type="submit" { "Create alias" }
                }
                @if text(&meta["MultiRegionConfiguration"], "MultiRegionKeyType") == "PRIMARY" {
                    form.inline method="post" action={ (base) "/replicate" } {
                        (csrf(s))
                        label for="replica-region" { "Replicate to" }
                        select id="replica-region" name="replica_region" {
                            @for r in page::REGIONS { @if *r != region { option value=(r) { (r) } } }
                        }
                        button type="submit" { "Create replica" }
                    }
                }
            }
        }
        @if let Some(svg) = &family {
            section aria-labelledby="family-h" {
                h2 id="family-h" { "Multi-Region family" }
                (svg)
            }
        }
        section aria-labelledby="rot-h" {
            h2 id="rot-h" { "Rotation" }
            @match &rotation {
                None => p { "Automatic rotation applies to symmetric encryption keys only." },
                Some(Err(e)) => (page::error_box(e)),
                Some(Ok(r)) => {
                    dl.meta {
                        dt { "Automatic rotation" } dd { (if r["KeyRotationEnabled"].as_bool() == Some(true) { "Enabled" } else { "Disabled" }) }
                        @if let Some(p) = r["RotationPeriodInDays"].as_u64() { dt { "Period" } dd { (p) " days" } }
                        @if let Some(n) = r.get("NextRotationDate") { dt { "Next rotation" } dd { (when(n)) } }
                        @if let Some(n) = r.get("OnDemandRotationStartDate") { dt { "On-demand rotation started" } dd { (when(n)) } }
                    }
                    @if customer {
                        @if r["KeyRotationEnabled"].as_bool() == Some(true) {
                            form method="post" action={ (base) "/rotation-off" } { (csrf(s)) button type="submit" { "Disable automatic rotation" } }
                        } @else {
                            form method="post" action={ (base) "/rotation-on" } { (csrf(s)) button type="submit" { "Enable automatic rotation" } }
                        }
                    }
                }
            }
            @if let Some(Ok(list)) = &rotations {
                table {
                    caption { "Rotation history" }
                    thead { tr { th scope="col" { "Rotated" } th scope="col" { "Type" } } }
                    tbody {
                        @for r in list["Rotations"].as_array().into_iter().flatten() {
                            tr { td { (when(&r["RotationDate"])) } td { (text(r, "RotationType")) } }
                        }
                        @if list["Rotations"].as_array().is_none_or(Vec::is_empty) { tr { td colspan="2" { "Never rotated." } } }
                    }
                }
            }
        }
        section aria-labelledby="alias-h" {
            h2 id="alias-h" { "Aliases" }
            @match &aliases {
                Err(e) => (page::error_box(e)),
                Ok(v) => ul { @for a in v["Aliases"].as_array().into_iter().flatten() { li { (text(a, "AliasName")) } } }
            }
        }
        section aria-labelledby="policy-h" {
            h2 id="policy-h" { "Key policy" }
            @match &policy {
                Err(e) => (page::error_box(e)),
                Ok(v) => (page::policy(text(v, "Policy")))
            }
        }
        section aria-labelledby="grants-h" {
            h2 id="grants-h" { "Grants" }
            @match &grants {
                Err(e) => (page::error_box(e)),
                Ok(v) => div.table { table {
                    thead { tr { th scope="col" { "Grant ID" } th scope="col" { "Name" } th scope="col" { "Grantee" } th scope="col" { "Operations" } th scope="col" { "Created" } } }
                    tbody {
                        @for g in v["Grants"].as_array().into_iter().flatten() {
                            tr {
                                td { code { (text(g, "GrantId")) } }
                                td { (text(g, "Name")) }
                                td { (text(g, "GranteePrincipal")) }
                                td { (g["Operations"].as_array().map(|o| o.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                                td { (when(&g["CreationDate"])) }
                            }
                        }
                        @if v["Grants"].as_array().is_none_or(Vec::is_empty) { tr { td colspan="5" { "No grants." } } }
                    }
                } }
            }
        }
        section aria-labelledby="tags-h" {
            h2 id="tags-h" { "Tags" }
            @match &tags {
                Err(e) => (page::error_box(e)),
                Ok(v) => dl.meta { @for t in v["Tags"].as_array().into_iter().flatten() { dt { (text(t, "TagKey")) } dd { (text(t, "TagValue")) } } }
            }
        }
    })
}

/// A multi-Region key's primary and replicas, one box per Region with its state, drawn as SVG.
async fn family(console: &Console, signed: &Signed, meta: &Value) -> Option<Markup> {
    if meta["MultiRegion"].as_bool() != Some(true) {
        return None;
    }
    let cfg = &meta["MultiRegionConfiguration"];
    let primary = (
        text(&cfg["PrimaryKey"], "Region").to_string(),
        text(&cfg["PrimaryKey"], "Arn").to_string(),
    );
    let replicas: Vec<(String, String)> = cfg["ReplicaKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (text(r, "Region").to_string(), text(r, "Arn").to_string()))
        .collect();
    let mut states = Vec::new();
    for (region, arn) in std::iter::once(&primary).chain(replicas.iter()) {
        let state = console
            .call(
                &signed.session,
                region,
                kms(KmsOp::DescribeKey),
                json!({ "KeyId": arn }),
                &signed.parts,
            )
            .await
            .map(|v| text(&v["KeyMetadata"], "KeyState").to_string())
            .unwrap_or_else(|e| {
                if e.code == "AccessDeniedException" {
                    "No access".into()
                } else {
                    "Unknown".into()
                }
            });
        states.push(state);
    }
    let n = replicas.len().max(1);
    let box_w = 170u32;
    let gap = 20u32;
    let width = u32::try_from(n).unwrap_or(1) * (box_w + gap) + gap;
    let primary_x = width / 2 - box_w / 2;
    let key_id = text(meta, "KeyId").to_string();
    let state_class = |s: &str| match s {
        "Enabled" => "good",
        "Disabled" | "Creating" | "Updating" => "warn",
        _ => "bad",
    };
    Some(html! {
        figure.family {
            svg role="img" aria-labelledby="family-title" viewBox={ "0 0 " (width) " 200" } width=(width) height="200" xmlns="http://www.w3.org/2000/svg" {
                title id="family-title" { "Key " (key_id) ": primary in " (primary.0) ", replicas in " (replicas.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", ")) }
                @for (i, _) in replicas.iter().enumerate() {
                    @let x = gap + u32::try_from(i).unwrap_or(0) * (box_w + gap) + box_w / 2;
                    line.link x1=(width / 2) y1="64" x2=(x) y2="130" {}
                }
                a href={ (BASE) "/" (primary.0) "/keys/" (key_id) } {
                    rect class={ "node primary " (state_class(&states[0])) } x=(primary_x) y="8" width=(box_w) height="56" rx="6" {}
                    text.region x=(width / 2) y="32" text-anchor="middle" { (primary.0) " · primary" }
                    text.state x=(width / 2) y="52" text-anchor="middle" { (states[0]) }
                }
                @for (i, (region, _)) in replicas.iter().enumerate() {
                    @let x = gap + u32::try_from(i).unwrap_or(0) * (box_w + gap);
                    @let st = states.get(i + 1).map_or("Unknown", String::as_str);
                    a href={ (BASE) "/" (region) "/keys/" (key_id) } {
                        rect class={ "node " (state_class(st)) } x=(x) y="130" width=(box_w) height="56" rx="6" {}
                        text.region x=(x + box_w / 2) y="154" text-anchor="middle" { (region) " · replica" }
                        text.state x=(x + box_w / 2) y="174" text-anchor="middle" { (st) }
                    }
                }
            }
            figcaption { "One key ID and key material in every Region; each Region's key has its own policy, aliases, tags and state." }
        }
    })
}

#[derive(Deserialize, Default)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    replica_region: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    pending_days: String,
}

/// `POST /{region}/keys/{key_id}/{action}`
pub async fn act(
    state: Shared,
    Path((region, key_id, action)): Path<(String, String, String)>,
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
    let id = json!(key_id);
    let (op, input, done) = match action.as_str() {
        "enable" => (KmsOp::EnableKey, json!({ "KeyId": id }), "enabled"),
        "disable" => (KmsOp::DisableKey, json!({ "KeyId": id }), "disabled"),
        "rotate" => (KmsOp::RotateKeyOnDemand, json!({ "KeyId": id }), "rotated"),
        "rotation-on" => (
            KmsOp::EnableKeyRotation,
            json!({ "KeyId": id }),
            "rotation-on",
        ),
        "rotation-off" => (
            KmsOp::DisableKeyRotation,
            json!({ "KeyId": id }),
            "rotation-off",
        ),
        "cancel-deletion" => (
            KmsOp::CancelKeyDeletion,
            json!({ "KeyId": id }),
            "cancelled",
        ),
        "alias" => (
            KmsOp::CreateAlias,
            json!({ "AliasName": form.alias.trim(), "TargetKeyId": id }),
            "alias",
        ),
        "replicate" => (
            KmsOp::ReplicateKey,
            json!({ "KeyId": id, "ReplicaRegion": form.replica_region }),
            "replicated",
        ),
        "delete" => {
            if form.confirm.trim() != key_id {
                let e = coffer_http::error::ApiError::bad_request(
                    "ValidationException",
                    "Type the key ID to confirm its deletion.",
                );
                return delete_page(&signed, &region, &key_id, Some(&e));
            }
            let days: u32 = form.pending_days.trim().parse().unwrap_or(30);
            let input = json!({ "KeyId": id, "PendingWindowInDays": days });
            return match console
                .call(
                    &signed.session,
                    &region,
                    kms(KmsOp::ScheduleKeyDeletion),
                    input,
                    &signed.parts,
                )
                .await
            {
                Ok(_) => {
                    Redirect::to(&format!("{BASE}/{region}/keys?done=scheduled")).into_response()
                }
                Err(e) => delete_page(&signed, &region, &key_id, Some(&e)),
            };
        }
        _ => return page::not_found(),
    };
    match console
        .call(&signed.session, &region, kms(op), input, &signed.parts)
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("{BASE}/{region}/keys/{key_id}?done={done}")).into_response()
        }
        Err(e) => key_page(console, &signed, &region, &key_id, None, Some(&e)).await,
    }
}

/// `GET /{region}/keys/{key_id}/delete`: the confirmation, naming the key.
pub async fn confirm_delete(Path((region, key_id)): RegionAnd, signed: Signed) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    delete_page(&signed, &region, &key_id, None)
}

fn delete_page(
    signed: &Signed,
    region: &str,
    key_id: &str,
    failed: Option<&coffer_http::error::ApiError>,
) -> Response {
    let page = Page {
        title: "Schedule key deletion",
        session: &signed.session,
        region,
        section: Section::Keys,
    };
    let body = html! {
        @if let Some(e) = failed { (page::error_box(e)) }
        p { "Key " code { (key_id) } " in " (region) " will be deleted after the waiting period. Anything encrypted under it can no longer be decrypted once it is gone." }
        form.stack method="post" action={ (BASE) "/" (region) "/keys/" (key_id) "/delete" } {
            (csrf(&signed.session))
            label for="days" { "Waiting period (7–30 days)" }
            input id="days" name="pending_days" type="number" min="7" max="30" value="30";
            label for="confirm" { "Type the key ID " code { (key_id) } " to confirm" }
            input id="confirm" name="confirm" required autocomplete="off" spellcheck="false";
            button.danger type="submit" { "Schedule deletion" }
        }
        p { a href={ (BASE) "/" (region) "/keys/" (key_id) } { "Cancel" } }
    };
    page.render_after(failed, body)
}

/// `GET /{region}/keys/new`
pub async fn new_form(Path(region): Path<String>, signed: Signed) -> Response {
    if let Some(r) = bad_region(&region) {
        return r;
    }
    create_page(&signed, &region, None)
}

fn create_page(
    signed: &Signed,
    region: &str,
    failed: Option<&coffer_http::error::ApiError>,
) -> Response {
    let page = Page {
        title: "Create key",
        session: &signed.session,
        region,
        section: Section::Keys,
    };
    let body = html! {
        @if let Some(e) = failed { (page::error_box(e)) }
        form.stack method="post" action={ (BASE) "/" (region) "/keys/new" } {
            (csrf(&signed.session))
            label for="desc" { "Description" }
            input id="desc" name="description" maxlength="8192";
            label for="spec" { "Key spec" }
            select id="spec" name="key_spec" { @for s in KEY_SPECS { option value=(s) { (s) } } }
            label for="usage" { "Key usage" }
            select id="usage" name="key_usage" {
                @for u in ["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"] { option value=(u) { (u) } }
            }
            label for="alias" { "Alias (optional)" }
            input id="alias" name="alias" placeholder="alias/my-key";
            label.check { input type="checkbox" name="multi_region" value="true"; " Multi-Region key" }
            label.check { input type="checkbox" name="rotation" value="true"; " Rotate automatically every year" }
            button type="submit" { "Create key" }
        }
    };
    page.render_after(failed, body)
}

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    key_spec: String,
    #[serde(default)]
    key_usage: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    multi_region: String,
    #[serde(default)]
    rotation: String,
}

/// `POST /{region}/keys/new`
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
    let console = &state.0;
    let mut input = json!({
        "KeySpec": form.key_spec,
        "KeyUsage": form.key_usage,
        "MultiRegion": form.multi_region == "true",
    });
    if !form.description.is_empty() {
        input["Description"] = form.description.clone().into();
    }
    let call = |op: KmsOp, input: Value| {
        console.call(&signed.session, &region, kms(op), input, &signed.parts)
    };
    let created = match call(KmsOp::CreateKey, input).await {
        Ok(v) => v,
        Err(e) => return create_page(&signed, &region, Some(&e)),
    };
    let id = text(&created["KeyMetadata"], "KeyId").to_string();
    if !form.alias.trim().is_empty() {
        if let Err(e) = call(
            KmsOp::CreateAlias,
            json!({ "AliasName": form.alias.trim(), "TargetKeyId": id }),
        )
        .await
        {
            return key_page(
                console,
                &signed,
                &region,
                &id,
                Some("Key created."),
                Some(&e),
            )
            .await;
        }
    }
    if form.rotation == "true" {
        if let Err(e) = call(KmsOp::EnableKeyRotation, json!({ "KeyId": id })).await {
            return key_page(
                console,
                &signed,
                &region,
                &id,
                Some("Key created."),
                Some(&e),
            )
            .await;
        }
    }
    Redirect::to(&format!("{BASE}/{region}/keys/{id}")).into_response()
}
