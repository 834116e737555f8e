//! AWS IAM over the Query protocol: form parameters in (`Action`, `Version=2010-05-08`, lists as
//! `Tags.member.1.Key`), XML out in the namespace `https://iam.amazonaws.com/doc/2010-05-08/`,
//! errors with IAM's codes and HTTP statuses. Policy documents leave URL-encoded (RFC 3986), as
//! AWS sends them; dates are ISO 8601 UTC to the second.

use super::{xml_escape, xml_response};
use crate::Coffer;
use axum::response::Response;
use coffer_core::RequestContext;
use coffer_iam::{EntityKind, Group, IamError, PolicyEntity, User};
use coffer_model::iam::{
    AttachedPolicy, CreatePolicyRequest, CreateRoleRequest, ListEntitiesForPolicyRequest,
    ListPoliciesRequest, Page, Paging, Policy, PolicyVersion, Role, Tag, XML_NAMESPACE,
};
use coffer_model::ops::IamOp;
use coffer_model::{Timestamp, ValidationError};
use http::StatusCode;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt::Write as _;

mod access_keys;
mod simulate;

/// RFC 3986: everything but the unreserved characters is percent-encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A policy document as IAM returns it: URL-encoded.
pub fn encode_document(doc: &str) -> String {
    utf8_percent_encode(doc, RFC3986).to_string()
}

/// A date as IAM's XML carries it: `2024-05-06T07:08:09Z`.
pub fn iso8601(t: Timestamp) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(t.millis.div_euclid(1000))
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// The form parameters of one request.
struct Params<'a>(&'a [(String, String)]);

fn not_a(member: &str, value: &str, what: &str) -> IamError {
    IamError::Validation(ValidationError::single(
        member,
        Some(value),
        &format!("Member must be {what}"),
    ))
}

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    fn int(&self, name: &str) -> Result<Option<i64>, IamError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| not_a(name, v, "an integer"))
            })
            .transpose()
    }

    fn bool(&self, name: &str) -> Result<bool, IamError> {
        match self.get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(not_a(name, v, "a boolean")),
        }
    }

    /// `NAME.member.N` (+ `.FIELD`) entries, ordered by N: `(N, FIELD or "", value)`.
    fn members(&self, name: &str) -> Vec<(u32, &str, &str)> {
        let prefix = format!("{name}.member.");
        let mut out: Vec<(u32, &str, &str)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(&prefix)?;
                let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
                Some((n.parse().ok()?, field, v.as_str()))
            })
            .collect();
        out.sort_by_key(|(n, _, _)| *n);
        out
    }

    /// A list of strings; an empty list is sent as `NAME=` alone.
    fn list(&self, name: &str) -> Option<Vec<String>> {
        let m = self.members(name);
        if m.is_empty() {
            return self.get(name).map(|_| Vec::new());
        }
        Some(
            m.into_iter()
                .filter(|(_, f, _)| f.is_empty())
                .map(|(_, _, v)| v.to_string())
                .collect(),
        )
    }

    /// A list of `Tag`s (`NAME.member.N.Key`, `NAME.member.N.Value`).
    fn tags(&self, name: &str) -> Option<Vec<Tag>> {
        let m = self.members(name);
        if m.is_empty() {
            return self.get(name).map(|_| Vec::new());
        }
        let mut tags: Vec<(u32, Tag)> = Vec::new();
        for (n, field, v) in m {
            let i = match tags.iter().position(|(k, _)| *k == n) {
                Some(i) => i,
                None => {
                    tags.push((
                        n,
                        Tag {
                            key: String::new(),
                            value: String::new(),
                        },
                    ));
                    tags.len() - 1
                }
            };
            match field {
                "Key" => tags[i].1.key = v.to_string(),
                "Value" => tags[i].1.value = v.to_string(),
                _ => {}
            }
        }
        Some(tags.into_iter().map(|(_, t)| t).collect())
    }

    fn paging(&self) -> Result<Paging, IamError> {
        Ok(Paging {
            marker: self.string("Marker"),
            max_items: self.int("MaxItems")?,
        })
    }
}

/// Builds the XML of one result.
#[derive(Default)]
struct Xml(String);

impl Xml {
    fn elem(&mut self, name: &str, value: &str) {
        let _ = write!(self.0, "<{name}>{}</{name}>", xml_escape(value));
    }

    fn opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.elem(name, v);
        }
    }

    fn open(&mut self, name: &str) {
        let _ = write!(self.0, "<{name}>");
    }

    fn close(&mut self, name: &str) {
        let _ = write!(self.0, "</{name}>");
    }

    fn tags(&mut self, tags: &[Tag]) {
        self.open("Tags");
        for t in tags {
            self.open("member");
            self.elem("Key", &t.key);
            self.elem("Value", &t.value);
            self.close("member");
        }
        self.close("Tags");
    }

    /// `IsTruncated` and, when there is more, `Marker`.
    fn paged<T>(&mut self, page: &Page<T>) {
        self.elem("IsTruncated", bool_str(page.marker.is_some()));
        self.opt("Marker", page.marker.as_deref());
    }

    fn list<T>(&mut self, name: &str, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.open(name);
        for i in items {
            self.open("member");
            each(self, i);
            self.close("member");
        }
        self.close(name);
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// Which members of a `Role` an answer carries: listings leave some out, as AWS's do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// `GetRole`, `CreateRole`, `GetPolicy`, …
    Full,
    /// `ListRoles`, `ListPolicies`.
    Listed,
}

fn role_xml(x: &mut Xml, r: &Role, detail: Detail) {
    x.elem("Path", &r.path);
    x.elem("RoleName", &r.role_name);
    x.elem("RoleId", &r.role_id);
    x.elem("Arn", &r.arn);
    x.elem("CreateDate", &iso8601(r.create_date));
    x.elem(
        "AssumeRolePolicyDocument",
        &encode_document(&r.assume_role_policy_document),
    );
    x.opt("Description", r.description.as_deref());
    x.elem("MaxSessionDuration", &r.max_session_duration.to_string());
    if detail == Detail::Full {
        boundary_xml(x, r.permissions_boundary.as_deref());
        if !r.tags.is_empty() {
            x.tags(&r.tags);
        }
        x.0.push_str("<RoleLastUsed/>");
    }
}

fn policy_xml(x: &mut Xml, p: &Policy, detail: Detail) {
    x.elem("PolicyName", &p.policy_name);
    x.elem("PolicyId", &p.policy_id);
    x.elem("Arn", &p.arn);
    x.elem("Path", &p.path);
    x.elem("DefaultVersionId", &p.default_version_id);
    x.elem("AttachmentCount", &p.attachment_count.to_string());
    x.elem(
        "PermissionsBoundaryUsageCount",
        &p.permissions_boundary_usage_count.to_string(),
    );
    x.elem("IsAttachable", bool_str(p.is_attachable));
    x.elem("CreateDate", &iso8601(p.create_date));
    x.elem("UpdateDate", &iso8601(p.update_date));
    if detail == Detail::Full {
        x.opt("Description", p.description.as_deref());
        if !p.tags.is_empty() {
            x.tags(&p.tags);
        }
    }
}

/// `PermissionsBoundary` (GetUser, GetRole, …; listings leave it out, as AWS's do).
fn boundary_xml(x: &mut Xml, arn: Option<&str>) {
    if let Some(arn) = arn {
        x.open("PermissionsBoundary");
        x.elem("PermissionsBoundaryType", "Policy");
        x.elem("PermissionsBoundaryArn", arn);
        x.close("PermissionsBoundary");
    }
}

fn user_xml(x: &mut Xml, u: &User, detail: Detail) {
    x.elem("Path", &u.path);
    x.elem("UserName", &u.user_name);
    x.elem("UserId", &u.user_id);
    x.elem("Arn", &u.arn);
    x.elem("CreateDate", &iso8601(u.create_date));
    if detail == Detail::Full {
        boundary_xml(x, u.permissions_boundary.as_deref());
        if !u.tags.is_empty() {
            x.tags(&u.tags);
        }
    }
}

fn group_xml(x: &mut Xml, g: &Group) {
    x.elem("Path", &g.path);
    x.elem("GroupName", &g.group_name);
    x.elem("GroupId", &g.group_id);
    x.elem("Arn", &g.arn);
    x.elem("CreateDate", &iso8601(g.create_date));
}

fn attached_xml(x: &mut Xml, page: &Page<AttachedPolicy>) {
    x.list("AttachedPolicies", &page.items, |x, a: &AttachedPolicy| {
        x.elem("PolicyName", &a.policy_name);
        x.elem("PolicyArn", &a.policy_arn);
    });
    x.paged(page);
}

fn names_xml(x: &mut Xml, page: &Page<String>) {
    x.list("PolicyNames", &page.items, |x, n: &String| {
        x.0.push_str(&xml_escape(n))
    });
    x.paged(page);
}

/// ListEntitiesForPolicy's three lists.
fn entities_xml(x: &mut Xml, page: &Page<PolicyEntity>) {
    for (list, kind) in [
        ("PolicyGroups", EntityKind::Group),
        ("PolicyUsers", EntityKind::User),
        ("PolicyRoles", EntityKind::Role),
    ] {
        let these: Vec<&PolicyEntity> = page.items.iter().filter(|e| e.kind == kind).collect();
        let (name, id) = match kind {
            EntityKind::Group => ("GroupName", "GroupId"),
            EntityKind::User => ("UserName", "UserId"),
            EntityKind::Role => ("RoleName", "RoleId"),
        };
        x.list(list, &these, |x, e: &&PolicyEntity| {
            x.elem(name, &e.name);
            x.elem(id, &e.id);
        });
    }
    x.paged(page);
}

fn version_xml(x: &mut Xml, v: &PolicyVersion) {
    if let Some(d) = &v.document {
        x.elem("Document", &encode_document(d));
    }
    x.elem("VersionId", &v.version_id);
    x.elem("IsDefaultVersion", bool_str(v.is_default_version));
    x.elem("CreateDate", &iso8601(v.create_date));
}

fn envelope(action: &str, result: Option<&str>, request_id: &str) -> String {
    let mut body = format!("<{action}Response xmlns=\"{XML_NAMESPACE}\">\n");
    if let Some(r) = result {
        let _ = writeln!(body, "  <{action}Result>{r}</{action}Result>");
    }
    let _ = write!(
        body,
        "  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n",
        xml_escape(request_id)
    );
    body
}

/// An IAM error response: `(code, HTTP status, message)`.
pub(crate) fn error_response(
    code: &'static str,
    status: StatusCode,
    message: &str,
    request_id: &str,
) -> Response {
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let mut resp = xml_response(
        status,
        format!(
            "<ErrorResponse xmlns=\"{XML_NAMESPACE}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            xml_escape(message),
            xml_escape(request_id)
        ),
        request_id,
    );
    resp.extensions_mut()
        .insert(crate::metrics::ErrorCode(code));
    resp.extensions_mut()
        .insert(crate::ErrorMessage(message.to_string()));
    resp
}

fn render_error(e: IamError, request_id: &str) -> Response {
    let (code, status, message) = match e {
        IamError::NoSuchEntity(m) => ("NoSuchEntity", StatusCode::NOT_FOUND, m),
        IamError::EntityAlreadyExists(m) => ("EntityAlreadyExists", StatusCode::CONFLICT, m),
        IamError::DeleteConflict(m) => ("DeleteConflict", StatusCode::CONFLICT, m),
        IamError::LimitExceeded(m) => ("LimitExceeded", StatusCode::CONFLICT, m),
        IamError::MalformedPolicyDocument(m) => {
            ("MalformedPolicyDocument", StatusCode::BAD_REQUEST, m)
        }
        IamError::InvalidInput(m) => ("InvalidInput", StatusCode::BAD_REQUEST, m),
        IamError::Validation(v) => ("ValidationError", StatusCode::BAD_REQUEST, v.message),
        IamError::AccessDenied(m) => ("AccessDenied", StatusCode::FORBIDDEN, m),
        e @ (IamError::Internal(_) | IamError::Store(_)) => {
            tracing::error!(error = %e, "iam: internal error");
            (
                "ServiceFailure",
                StatusCode::INTERNAL_SERVER_ERROR,
                "We encountered an internal error. Please try again.".into(),
            )
        }
    };
    error_response(code, status, &message, request_id)
}

/// Serves one IAM action for `ctx`'s account; with `want_json`, also the answer as JSON with
/// AWS member names (for the audit record's `responseElements`, which redaction then trims).
pub(crate) fn handle(
    coffer: &Coffer,
    ctx: &RequestContext,
    op: IamOp,
    params: &[(String, String)],
    request_id: &str,
    want_json: bool,
) -> (Response, Option<serde_json::Value>) {
    let action = op.name();
    let params = Params(params);
    match coffer.retrying(IamError::is_conflict, || run(coffer, ctx, op, &params)) {
        Ok(result) => {
            let json = result
                .as_deref()
                .filter(|_| want_json)
                .and_then(xml_to_json);
            (
                xml_response(
                    StatusCode::OK,
                    envelope(action, result.as_deref(), request_id),
                    request_id,
                ),
                json,
            )
        }
        Err(e) => (render_error(e, request_id), None),
    }
}

/// The inside of a `…Result` element as JSON: elements become members under their names, a
/// `member` list an array, text a string.
fn xml_to_json(xml: &str) -> Option<serde_json::Value> {
    use serde_json::{Map, Value};
    use xmlparser::{ElementEnd, Token, Tokenizer};
    struct Node {
        name: String,
        children: Vec<(String, Value)>,
        text: String,
    }
    fn finish(n: Node) -> (String, Value) {
        let value = if n.children.is_empty() {
            Value::String(unescape(&n.text))
        } else if n.children.iter().all(|(k, _)| k == "member") {
            Value::Array(n.children.into_iter().map(|(_, v)| v).collect())
        } else {
            let mut m = Map::new();
            for (k, v) in n.children {
                m.insert(k, v);
            }
            Value::Object(m)
        };
        (n.name, value)
    }
    let mut stack = vec![Node {
        name: String::new(),
        children: Vec::new(),
        text: String::new(),
    }];
    // One root element, as a document must have.
    let doc = format!("<R>{xml}</R>");
    for token in Tokenizer::from(doc.as_str()) {
        match token.ok()? {
            Token::ElementStart { local, .. } => stack.push(Node {
                name: local.as_str().to_string(),
                children: Vec::new(),
                text: String::new(),
            }),
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open => {}
                ElementEnd::Close(..) | ElementEnd::Empty => {
                    let node = stack.pop()?;
                    let done = finish(node);
                    stack.last_mut()?.children.push(done);
                }
            },
            Token::Text { text } => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(text.as_str());
                }
            }
            _ => {}
        }
    }
    let (_, inner) = stack.pop()?.children.pop()?;
    match inner {
        Value::Object(m) => Some(Value::Object(m)),
        _ => None,
    }
}

/// XML's five entities and numeric character references.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| e.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Runs `action`; `Ok(Some(xml))` is the inside of its `…Result` element, `Ok(None)` an action
/// without a result.
fn run(
    coffer: &Coffer,
    ctx: &RequestContext,
    op: IamOp,
    p: &Params<'_>,
) -> Result<Option<String>, IamError> {
    let iam = &coffer.iam;
    let mut x = Xml::default();
    use IamOp as O;
    match op {
        O::CreateRole => {
            let r = iam.create_role(
                ctx,
                CreateRoleRequest {
                    role_name: p.string("RoleName"),
                    path: p.string("Path"),
                    assume_role_policy_document: p.string("AssumeRolePolicyDocument"),
                    description: p.string("Description"),
                    max_session_duration: p.int("MaxSessionDuration")?,
                    permissions_boundary: p.string("PermissionsBoundary"),
                    tags: p.tags("Tags"),
                },
            )?;
            x.open("Role");
            role_xml(&mut x, &r, Detail::Full);
            x.close("Role");
        }
        O::GetRole => {
            let r = iam.get_role(ctx, p.get("RoleName"))?;
            x.open("Role");
            role_xml(&mut x, &r, Detail::Full);
            x.close("Role");
        }
        O::ListRoles => {
            let page = iam.list_roles(ctx, p.get("PathPrefix"), &p.paging()?)?;
            x.list("Roles", &page.items, |x, r| role_xml(x, r, Detail::Listed));
            x.paged(&page);
        }
        O::DeleteRole => {
            iam.delete_role(ctx, p.get("RoleName"))?;
            return Ok(None);
        }
        O::UpdateRole => {
            iam.update_role(
                ctx,
                p.get("RoleName"),
                p.string("Description"),
                p.int("MaxSessionDuration")?,
            )?;
        }
        O::UpdateRoleDescription => {
            let r = iam.update_role_description(ctx, p.get("RoleName"), p.string("Description"))?;
            x.open("Role");
            role_xml(&mut x, &r, Detail::Full);
            x.close("Role");
        }
        O::UpdateAssumeRolePolicy => {
            iam.update_assume_role_policy(ctx, p.get("RoleName"), p.get("PolicyDocument"))?;
            return Ok(None);
        }
        O::TagRole => {
            iam.tag_role(ctx, p.get("RoleName"), p.tags("Tags").as_deref())?;
            return Ok(None);
        }
        O::UntagRole => {
            iam.untag_role(ctx, p.get("RoleName"), p.list("TagKeys").as_deref())?;
            return Ok(None);
        }
        O::ListRoleTags => {
            let page = iam.list_role_tags(ctx, p.get("RoleName"), &p.paging()?)?;
            x.tags(&page.items);
            x.paged(&page);
        }
        O::ListInstanceProfilesForRole => {
            iam.list_instance_profiles_for_role(ctx, p.get("RoleName"), &p.paging()?)?;
            x.0.push_str("<InstanceProfiles/>");
            x.elem("IsTruncated", "false");
        }
        O::CreatePolicy => {
            let policy = iam.create_policy(
                ctx,
                CreatePolicyRequest {
                    policy_name: p.string("PolicyName"),
                    path: p.string("Path"),
                    policy_document: p.string("PolicyDocument"),
                    description: p.string("Description"),
                    tags: p.tags("Tags"),
                },
            )?;
            x.open("Policy");
            policy_xml(&mut x, &policy, Detail::Full);
            x.close("Policy");
        }
        O::GetPolicy => {
            let policy = iam.get_policy(ctx, p.get("PolicyArn"))?;
            x.open("Policy");
            policy_xml(&mut x, &policy, Detail::Full);
            x.close("Policy");
        }
        O::DeletePolicy => {
            iam.delete_policy(ctx, p.get("PolicyArn"))?;
            return Ok(None);
        }
        O::ListPolicies => {
            let page = iam.list_policies(
                ctx,
                &ListPoliciesRequest {
                    scope: p.string("Scope"),
                    only_attached: p.bool("OnlyAttached")?,
                    path_prefix: p.string("PathPrefix"),
                    policy_usage_filter: p.string("PolicyUsageFilter"),
                    paging: p.paging()?,
                },
            )?;
            x.list("Policies", &page.items, |x, policy| {
                policy_xml(x, policy, Detail::Listed)
            });
            x.paged(&page);
        }
        O::CreatePolicyVersion => {
            let v = iam.create_policy_version(
                ctx,
                p.get("PolicyArn"),
                p.get("PolicyDocument"),
                p.bool("SetAsDefault")?,
            )?;
            x.open("PolicyVersion");
            version_xml(&mut x, &v);
            x.close("PolicyVersion");
        }
        O::GetPolicyVersion => {
            let v = iam.get_policy_version(ctx, p.get("PolicyArn"), p.get("VersionId"))?;
            x.open("PolicyVersion");
            version_xml(&mut x, &v);
            x.close("PolicyVersion");
        }
        O::ListPolicyVersions => {
            let page = iam.list_policy_versions(ctx, p.get("PolicyArn"), &p.paging()?)?;
            x.list("Versions", &page.items, version_xml);
            x.paged(&page);
        }
        O::DeletePolicyVersion => {
            iam.delete_policy_version(ctx, p.get("PolicyArn"), p.get("VersionId"))?;
            return Ok(None);
        }
        O::SetDefaultPolicyVersion => {
            iam.set_default_policy_version(ctx, p.get("PolicyArn"), p.get("VersionId"))?;
            return Ok(None);
        }
        O::TagPolicy => {
            iam.tag_policy(ctx, p.get("PolicyArn"), p.tags("Tags").as_deref())?;
            return Ok(None);
        }
        O::UntagPolicy => {
            iam.untag_policy(ctx, p.get("PolicyArn"), p.list("TagKeys").as_deref())?;
            return Ok(None);
        }
        O::ListPolicyTags => {
            let page = iam.list_policy_tags(ctx, p.get("PolicyArn"), &p.paging()?)?;
            x.tags(&page.items);
            x.paged(&page);
        }
        O::AttachRolePolicy => {
            iam.attach_role_policy(ctx, p.get("RoleName"), p.get("PolicyArn"))?;
            return Ok(None);
        }
        O::DetachRolePolicy => {
            iam.detach_role_policy(ctx, p.get("RoleName"), p.get("PolicyArn"))?;
            return Ok(None);
        }
        O::ListAttachedRolePolicies => {
            let page = iam.list_attached_role_policies(
                ctx,
                p.get("RoleName"),
                p.get("PathPrefix"),
                &p.paging()?,
            )?;
            attached_xml(&mut x, &page);
        }
        O::ListEntitiesForPolicy => {
            let page = iam.list_entities_for_policy(
                ctx,
                &ListEntitiesForPolicyRequest {
                    policy_arn: p.string("PolicyArn"),
                    entity_filter: p.string("EntityFilter"),
                    path_prefix: p.string("PathPrefix"),
                    policy_usage_filter: p.string("PolicyUsageFilter"),
                    paging: p.paging()?,
                },
            )?;
            entities_xml(&mut x, &page);
        }
        O::PutRolePolicy => {
            iam.put_role_policy(
                ctx,
                p.get("RoleName"),
                p.get("PolicyName"),
                p.get("PolicyDocument"),
            )?;
            return Ok(None);
        }
        O::GetRolePolicy => {
            let rp = iam.get_role_policy(ctx, p.get("RoleName"), p.get("PolicyName"))?;
            x.elem("RoleName", &rp.role_name);
            x.elem("PolicyName", &rp.policy_name);
            x.elem("PolicyDocument", &encode_document(&rp.policy_document));
        }
        O::DeleteRolePolicy => {
            iam.delete_role_policy(ctx, p.get("RoleName"), p.get("PolicyName"))?;
            return Ok(None);
        }
        O::ListRolePolicies => {
            let page = iam.list_role_policies(ctx, p.get("RoleName"), &p.paging()?)?;
            names_xml(&mut x, &page);
        }
        O::CreateOpenIDConnectProvider => {
            let tags = p.tags("Tags");
            let arn = iam.create_oidc_provider(
                ctx,
                p.get("Url"),
                p.list("ClientIDList").as_deref(),
                p.list("ThumbprintList").as_deref(),
                tags.as_deref(),
            )?;
            x.elem("OpenIDConnectProviderArn", &arn);
            if let Some(t) = tags.filter(|t| !t.is_empty()) {
                x.tags(&t);
            }
        }
        O::GetOpenIDConnectProvider => {
            let o = iam.get_oidc_provider(ctx, p.get("OpenIDConnectProviderArn"))?;
            x.elem("Url", &o.url);
            x.list("ClientIDList", &o.client_ids, |x, c: &String| {
                x.0.push_str(&xml_escape(c))
            });
            x.list("ThumbprintList", &o.thumbprints, |x, t: &String| {
                x.0.push_str(&xml_escape(t))
            });
            x.elem("CreateDate", &iso8601(o.create_date));
            x.tags(&o.tags);
        }
        O::ListOpenIDConnectProviders => {
            let arns = iam.list_oidc_providers(ctx)?;
            x.list("OpenIDConnectProviderList", &arns, |x, a: &String| {
                x.elem("Arn", a)
            });
        }
        O::DeleteOpenIDConnectProvider => {
            iam.delete_oidc_provider(ctx, p.get("OpenIDConnectProviderArn"))?;
            return Ok(None);
        }
        O::UpdateOpenIDConnectProviderThumbprint => {
            iam.update_oidc_thumbprints(
                ctx,
                p.get("OpenIDConnectProviderArn"),
                p.list("ThumbprintList").as_deref(),
            )?;
            return Ok(None);
        }
        O::AddClientIDToOpenIDConnectProvider => {
            iam.add_oidc_client_id(ctx, p.get("OpenIDConnectProviderArn"), p.get("ClientID"))?;
            return Ok(None);
        }
        O::RemoveClientIDFromOpenIDConnectProvider => {
            iam.remove_oidc_client_id(ctx, p.get("OpenIDConnectProviderArn"), p.get("ClientID"))?;
            return Ok(None);
        }
        O::TagOpenIDConnectProvider => {
            iam.tag_oidc_provider(
                ctx,
                p.get("OpenIDConnectProviderArn"),
                p.tags("Tags").as_deref(),
            )?;
            return Ok(None);
        }
        O::UntagOpenIDConnectProvider => {
            iam.untag_oidc_provider(
                ctx,
                p.get("OpenIDConnectProviderArn"),
                p.list("TagKeys").as_deref(),
            )?;
            return Ok(None);
        }
        O::ListOpenIDConnectProviderTags => {
            let page =
                iam.list_oidc_provider_tags(ctx, p.get("OpenIDConnectProviderArn"), &p.paging()?)?;
            x.tags(&page.items);
            x.paged(&page);
        }
        O::CreateSAMLProvider => {
            let tags = p.tags("Tags");
            let arn = iam.create_saml_provider(
                ctx,
                p.get("Name"),
                p.get("SAMLMetadataDocument"),
                tags.as_deref(),
            )?;
            x.elem("SAMLProviderArn", &arn);
            if let Some(t) = tags.filter(|t| !t.is_empty()) {
                x.tags(&t);
            }
        }
        O::GetSAMLProvider => {
            let o = iam.get_saml_provider(ctx, p.get("SAMLProviderArn"))?;
            x.elem("SAMLMetadataDocument", &o.metadata);
            x.elem("CreateDate", &iso8601(o.create_date));
            if let Some(v) = o.valid_until {
                x.elem("ValidUntil", &iso8601(v));
            }
            x.tags(&o.tags);
        }
        O::ListSAMLProviders => {
            let list = iam.list_saml_providers(ctx)?;
            x.list("SAMLProviderList", &list, |x, e| {
                x.elem("Arn", &e.arn);
                if let Some(v) = e.valid_until {
                    x.elem("ValidUntil", &iso8601(v));
                }
                x.elem("CreateDate", &iso8601(e.create_date));
            });
        }
        O::UpdateSAMLProvider => {
            let arn = iam.update_saml_provider(
                ctx,
                p.get("SAMLProviderArn"),
                p.get("SAMLMetadataDocument"),
            )?;
            x.elem("SAMLProviderArn", &arn);
        }
        O::DeleteSAMLProvider => {
            iam.delete_saml_provider(ctx, p.get("SAMLProviderArn"))?;
            return Ok(None);
        }
        O::TagSAMLProvider => {
            iam.tag_saml_provider(ctx, p.get("SAMLProviderArn"), p.tags("Tags").as_deref())?;
            return Ok(None);
        }
        O::UntagSAMLProvider => {
            iam.untag_saml_provider(ctx, p.get("SAMLProviderArn"), p.list("TagKeys").as_deref())?;
            return Ok(None);
        }
        O::ListSAMLProviderTags => {
            let page = iam.list_saml_provider_tags(ctx, p.get("SAMLProviderArn"), &p.paging()?)?;
            x.tags(&page.items);
            x.paged(&page);
        }
        O::CreateUser => {
            let u = iam.create_user(
                ctx,
                p.get("UserName"),
                p.get("Path"),
                p.get("PermissionsBoundary"),
                p.tags("Tags").as_deref(),
            )?;
            x.open("User");
            user_xml(&mut x, &u, Detail::Full);
            x.close("User");
        }
        O::GetUser => {
            let u = iam.get_user(ctx, p.get("UserName"))?;
            x.open("User");
            user_xml(&mut x, &u, Detail::Full);
            x.close("User");
        }
        O::ListUsers => {
            let page = iam.list_users(ctx, p.get("PathPrefix"), &p.paging()?)?;
            x.list("Users", &page.items, |x, u| user_xml(x, u, Detail::Listed));
            x.paged(&page);
        }
        O::DeleteUser => {
            let account = ctx.account_id.clone();
            iam.delete_user(ctx, p.get("UserName"), &|user| {
                !coffer.identity.user_keys(&account, user).is_empty()
            })?;
            return Ok(None);
        }
        O::TagUser => {
            iam.tag_user(ctx, p.get("UserName"), p.tags("Tags").as_deref())?;
            return Ok(None);
        }
        O::UntagUser => {
            iam.untag_user(ctx, p.get("UserName"), p.list("TagKeys").as_deref())?;
            return Ok(None);
        }
        O::ListUserTags => {
            let page = iam.list_user_tags(ctx, p.get("UserName"), &p.paging()?)?;
            x.tags(&page.items);
            x.paged(&page);
        }
        O::AttachUserPolicy => {
            iam.attach_user_policy(ctx, p.get("UserName"), p.get("PolicyArn"))?;
            return Ok(None);
        }
        O::DetachUserPolicy => {
            iam.detach_user_policy(ctx, p.get("UserName"), p.get("PolicyArn"))?;
            return Ok(None);
        }
        O::ListAttachedUserPolicies => {
            let page = iam.list_attached_user_policies(
                ctx,
                p.get("UserName"),
                p.get("PathPrefix"),
                &p.paging()?,
            )?;
            attached_xml(&mut x, &page);
        }
        O::PutUserPolicy => {
            iam.put_user_policy(
                ctx,
                p.get("UserName"),
                p.get("PolicyName"),
                p.get("PolicyDocument"),
            )?;
            return Ok(None);
        }
        O::GetUserPolicy => {
            let (user, name, doc) =
                iam.get_user_policy(ctx, p.get("UserName"), p.get("PolicyName"))?;
            x.elem("UserName", &user);
            x.elem("PolicyName", &name);
            x.elem("PolicyDocument", &encode_document(&doc));
        }
        O::DeleteUserPolicy => {
            iam.delete_user_policy(ctx, p.get("UserName"), p.get("PolicyName"))?;
            return Ok(None);
        }
        O::ListUserPolicies => {
            let page = iam.list_user_policies(ctx, p.get("UserName"), &p.paging()?)?;
            names_xml(&mut x, &page);
        }
        O::ListGroupsForUser => {
            let page = iam.list_groups_for_user(ctx, p.get("UserName"), &p.paging()?)?;
            x.list("Groups", &page.items, group_xml);
            x.paged(&page);
        }
        O::UpdateUser => {
            let identity = &coffer.identity;
            let account = ctx.account_id.clone();
            iam.update_user(
                ctx,
                p.get("UserName"),
                p.get("NewUserName"),
                p.get("NewPath"),
                &|tx, before, after| {
                    identity
                        .rename_user_writes(tx, &account, &before.name, &after.name, &after.arn)
                        .map_err(|e| IamError::Internal(e.to_string()))
                },
                &|before, after| {
                    identity.rename_user(&account, &before.name, &after.name, &after.arn)
                },
            )?;
            return Ok(None);
        }
        O::PutUserPermissionsBoundary => {
            iam.put_user_permissions_boundary(
                ctx,
                p.get("UserName"),
                p.get("PermissionsBoundary"),
            )?;
            return Ok(None);
        }
        O::DeleteUserPermissionsBoundary => {
            iam.delete_user_permissions_boundary(ctx, p.get("UserName"))?;
            return Ok(None);
        }
        O::PutRolePermissionsBoundary => {
            iam.put_role_permissions_boundary(
                ctx,
                p.get("RoleName"),
                p.get("PermissionsBoundary"),
            )?;
            return Ok(None);
        }
        O::DeleteRolePermissionsBoundary => {
            iam.delete_role_permissions_boundary(ctx, p.get("RoleName"))?;
            return Ok(None);
        }
        O::CreateGroup => {
            let g = iam.create_group(ctx, p.get("GroupName"), p.get("Path"))?;
            x.open("Group");
            group_xml(&mut x, &g);
            x.close("Group");
        }
        O::GetGroup => {
            let (g, users) = iam.get_group(ctx, p.get("GroupName"), &p.paging()?)?;
            x.open("Group");
            group_xml(&mut x, &g);
            x.close("Group");
            x.list("Users", &users.items, |x, u| user_xml(x, u, Detail::Listed));
            x.paged(&users);
        }
        O::ListGroups => {
            let page = iam.list_groups(ctx, p.get("PathPrefix"), &p.paging()?)?;
            x.list("Groups", &page.items, group_xml);
            x.paged(&page);
        }
        O::UpdateGroup => {
            iam.update_group(
                ctx,
                p.get("GroupName"),
                p.get("NewGroupName"),
                p.get("NewPath"),
            )?;
            return Ok(None);
        }
        O::DeleteGroup => {
            iam.delete_group(ctx, p.get("GroupName"))?;
            return Ok(None);
        }
        O::AddUserToGroup => {
            iam.add_user_to_group(ctx, p.get("GroupName"), p.get("UserName"))?;
            return Ok(None);
        }
        O::RemoveUserFromGroup => {
            iam.remove_user_from_group(ctx, p.get("GroupName"), p.get("UserName"))?;
            return Ok(None);
        }
        O::AttachGroupPolicy => {
            iam.attach_group_policy(ctx, p.get("GroupName"), p.get("PolicyArn"))?;
            return Ok(None);
        }
        O::DetachGroupPolicy => {
            iam.detach_group_policy(ctx, p.get("GroupName"), p.get("PolicyArn"))?;
            return Ok(None);
        }
        O::ListAttachedGroupPolicies => {
            let page = iam.list_attached_group_policies(
                ctx,
                p.get("GroupName"),
                p.get("PathPrefix"),
                &p.paging()?,
            )?;
            attached_xml(&mut x, &page);
        }
        O::PutGroupPolicy => {
            iam.put_group_policy(
                ctx,
                p.get("GroupName"),
                p.get("PolicyName"),
                p.get("PolicyDocument"),
            )?;
            return Ok(None);
        }
        O::GetGroupPolicy => {
            let (group, name, doc) =
                iam.get_group_policy(ctx, p.get("GroupName"), p.get("PolicyName"))?;
            x.elem("GroupName", &group);
            x.elem("PolicyName", &name);
            x.elem("PolicyDocument", &encode_document(&doc));
        }
        O::DeleteGroupPolicy => {
            iam.delete_group_policy(ctx, p.get("GroupName"), p.get("PolicyName"))?;
            return Ok(None);
        }
        O::ListGroupPolicies => {
            let page = iam.list_group_policies(ctx, p.get("GroupName"), &p.paging()?)?;
            names_xml(&mut x, &page);
        }
        O::CreateAccessKey
        | O::ListAccessKeys
        | O::UpdateAccessKey
        | O::DeleteAccessKey
        | O::GetAccessKeyLastUsed => return access_keys::run(coffer, ctx, op, p),
        O::SimulatePrincipalPolicy => {
            let page = iam.simulate_principal_policy(ctx, &simulate::request(p)?)?;
            simulate::results(&mut x, &page);
        }
        O::GetContextKeysForCustomPolicy | O::GetContextKeysForPrincipalPolicy => {
            let docs = p.list("PolicyInputList");
            let keys = match op {
                O::GetContextKeysForCustomPolicy => {
                    iam.get_context_keys_for_custom_policy(ctx, docs.as_deref())?
                }
                _ => iam.get_context_keys_for_principal_policy(
                    ctx,
                    p.get("PolicySourceArn"),
                    docs.as_deref(),
                )?,
            };
            x.list("ContextKeyNames", &keys, |x, k: &String| {
                x.0.push_str(&xml_escape(k))
            });
        }
        O::SimulateCustomPolicy => {
            let page = iam.simulate_custom_policy(ctx, &simulate::request(p)?)?;
            simulate::results(&mut x, &page);
        }
        // The registry marks an operation served only once it has an arm above; the query path
        // answers the others `InvalidAction` before they get here.
        other => {
            return Err(IamError::Internal(format!(
                "operation {} is marked served but not dispatched",
                other.name()
            )))
        }
    }
    Ok(Some(x.0))
}

#[cfg(test)]
mod xml_json_tests {
    #[test]
    fn iam_results_become_json_with_member_names() {
        let v = super::xml_to_json(
            "<Role><RoleName>r&amp;d</RoleName><Tags><member><Key>k</Key><Value>v</Value></member></Tags></Role><IsTruncated>false</IsTruncated>",
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Role": {"RoleName": "r&d", "Tags": [{"Key": "k", "Value": "v"}]}, "IsTruncated": "false"})
        );
        assert_eq!(super::unescape("a&#x41;&#66;&lt;"), "aAB<");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_encoded_as_rfc_3986() {
        assert_eq!(
            encode_document(r#"{"Action": "kms:*", "Resource": "arn:aws:s3:::b/k~x.y_z-1"} é"#),
            "%7B%22Action%22%3A%20%22kms%3A%2A%22%2C%20%22Resource%22%3A%20%22arn%3Aaws%3As3%3A%3A%3Ab%2Fk~x.y_z-1%22%7D%20%C3%A9"
        );
    }

    #[test]
    fn dates_are_iso_8601_to_the_second() {
        assert_eq!(
            iso8601(Timestamp::from_millis(1_700_000_000_999)),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn list_and_tag_parameters() {
        let raw: Vec<(String, String)> = [
            ("Tags.member.2.Key", "b"),
            ("Tags.member.1.Value", "1"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.2.Value", "2"),
            ("TagKeys.member.2", "y"),
            ("TagKeys.member.1", "x"),
            ("Empty", ""),
            ("MaxItems", "7"),
            ("Bad", "seven"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = Params(&raw);
        let tags = p.tags("Tags").unwrap();
        assert_eq!(
            tags,
            [
                Tag {
                    key: "a".into(),
                    value: "1".into()
                },
                Tag {
                    key: "b".into(),
                    value: "2".into()
                }
            ]
        );
        assert_eq!(p.list("TagKeys").unwrap(), ["x", "y"]);
        assert_eq!(p.list("Empty").unwrap(), Vec::<String>::new());
        assert!(p.list("Missing").is_none());
        assert_eq!(p.int("MaxItems").unwrap(), Some(7));
        assert!(p.int("Bad").is_err());
    }
}
