//! AWS Query response encoding: a JSON value of an operation's output structure → the XML the
//! Query protocol answers, as botocore's `QueryParser` reads it.
//!
//! ```xml
//! <GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
//!   <GetRoleResult>
//!     <Role>
//!       <RoleName>r</RoleName>
//!       <Tags>
//!         <member>
//!           <Key>k</Key>
//!           <Value>v</Value>
//!         </member>
//!       </Tags>
//!       <CreateDate>2023-11-14T22:13:20Z</CreateDate>
//!     </Role>
//!   </GetRoleResult>
//!   <ResponseMetadata>
//!     <RequestId>…</RequestId>
//!   </ResponseMetadata>
//! </GetRoleResponse>
//! ```
//!
//! * The root is `<{Operation}Response>` in the service's XML namespace; the result is wrapped
//!   in the model's `resultWrapper` (`GetRoleResult`), present (maybe empty) whenever the
//!   operation has an output shape; an operation without one answers `ResponseMetadata` alone.
//! * Structure members are written in the model's order under their wire names
//!   (`locationName`, else the member name); absent and `null` members are left out.
//! * Lists: `<Name><member>…</member>…</Name>` (the item element is the list member's
//!   `locationName`, else `member`); flattened lists repeat `<Name>` itself (or the item's
//!   `locationName`). Maps: `<Name><entry><key>…</key><value>…</value></entry>…</Name>`;
//!   flattened maps repeat `<Name>` with the key and value inside.
//! * Scalars: strings as text, booleans `true`/`false`, numbers in decimal, timestamps (epoch
//!   seconds in the JSON value, as `coffer_model::Timestamp` serializes them, or already ISO 8601
//!   text) in ISO 8601 (`2023-11-14T22:13:20Z`, `.250` when there are milliseconds) unless the
//!   member says otherwise, blobs as their base64 text.
//! * Text is escaped (`& < > " '`, and carriage returns as `&#xD;` so that they survive XML's
//!   line-end normalization); characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE,
//!   U+FFFF) become U+FFFD.
//! * A value that does not fit its shape (an unknown member, a string where a list belongs) is
//!   an [`EncodeError`] naming where: the caller's bug, to be answered as an internal error.
//!
//! IAM's own conventions above the protocol — policy documents URL-encoded, dates to the
//! second — are the service's to apply to the value before encoding.

use crate::timestamp;
use coffer_model::ops::shape::{List, Map, Structure, XmlNamespace};
use coffer_model::ops::{Member, Operation, ShapeKind, TimestampFormat};
use serde_json::Value;
use std::fmt::{self, Write as _};

/// An output value that does not fit its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// Where (`Role.Tags[0].Key`).
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

impl std::error::Error for EncodeError {}

/// Appends `s` to `out`, escaped for XML text and attribute values.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// `s`, escaped for XML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

fn namespace_attr(ns: Option<XmlNamespace>) -> String {
    match ns {
        None => String::new(),
        Some(XmlNamespace { uri, prefix: None }) => format!(" xmlns=\"{}\"", escape(uri)),
        Some(XmlNamespace {
            uri,
            prefix: Some(p),
        }) => format!(" xmlns:{p}=\"{}\"", escape(uri)),
    }
}

/// The whole response of `op` with output `output` (ignored when the operation has no output
/// shape) and `request_id`.
pub fn encode_response(
    op: &Operation,
    output: &Value,
    request_id: &str,
) -> Result<String, EncodeError> {
    let ns = op.service.xml_namespace().unwrap_or_default();
    let mut w = Writer {
        out: String::new(),
        depth: 0,
    };
    let _ = write!(w.out, "<{}Response xmlns=\"{}\">", op.name, escape(ns));
    w.depth = 1;
    if let Some(shape) = op.output {
        let ShapeKind::Structure(s) = &shape.kind else {
            return Err(EncodeError {
                path: String::new(),
                problem: format!("output shape {} is not a structure", shape.name),
            });
        };
        let empty = Value::Object(serde_json::Map::new());
        let output = if output.is_null() { &empty } else { output };
        match op.result_wrapper {
            Some(wrapper) => w.structure(wrapper, "", s, output, "")?,
            None => w.members(s, output, "")?,
        }
    }
    w.line();
    w.out.push_str("<ResponseMetadata>");
    w.depth = 2;
    w.line();
    w.out.push_str("<RequestId>");
    escape_into(&mut w.out, request_id);
    w.out.push_str("</RequestId>");
    w.depth = 1;
    w.line();
    w.out.push_str("</ResponseMetadata>");
    w.depth = 0;
    w.line();
    let _ = writeln!(w.out, "</{}Response>", op.name);
    Ok(w.out)
}

/// The Query protocol's error response: `<ErrorResponse xmlns=…><Error><Type>Sender</Type>
/// <Code>…</Code><Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>`.
/// `sender_fault`: the caller's fault (`Sender`) or the service's (`Receiver`).
pub fn encode_error(
    xml_namespace: &str,
    code: &str,
    message: &str,
    sender_fault: bool,
    request_id: &str,
) -> String {
    format!(
        "<ErrorResponse xmlns=\"{}\">\n  <Error>\n    <Type>{}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        escape(xml_namespace),
        if sender_fault { "Sender" } else { "Receiver" },
        escape(code),
        escape(message),
        escape(request_id)
    )
}

struct Writer {
    out: String,
    depth: usize,
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Writer {
    fn line(&mut self) {
        self.out.push('\n');
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn wrong(path: &str, want: &str, v: &Value) -> EncodeError {
        EncodeError {
            path: path.to_string(),
            problem: format!("{} where the model has {want}", type_name(v)),
        }
    }

    /// `<name attrs>members</name>`.
    fn structure(
        &mut self,
        name: &str,
        attrs: &str,
        s: &Structure,
        v: &Value,
        path: &str,
    ) -> Result<(), EncodeError> {
        let obj = v
            .as_object()
            .ok_or_else(|| Self::wrong(path, "a structure", v))?;
        // Members written as attributes go on this element.
        let mut attributes = attrs.to_string();
        attributes.push_str(&namespace_attr(s.xml_namespace));
        for m in s.members.iter().filter(|m| m.xml_attribute) {
            if let Some(x) = obj.get(m.name).filter(|x| !x.is_null()) {
                let text = self.scalar_text(m, x, &child_path(path, m.name))?;
                let _ = write!(attributes, " {}=\"{}\"", m.wire_name(), escape(&text));
            }
        }
        self.line();
        let _ = write!(self.out, "<{name}{attributes}>");
        let before = self.out.len();
        self.depth += 1;
        self.members(s, v, path)?;
        self.depth -= 1;
        if self.out.len() > before {
            self.line();
        }
        let _ = write!(self.out, "</{name}>");
        Ok(())
    }

    /// The members of structure `s` from object `v`, each as its element.
    fn members(&mut self, s: &Structure, v: &Value, path: &str) -> Result<(), EncodeError> {
        let obj = v
            .as_object()
            .ok_or_else(|| Self::wrong(path, "a structure", v))?;
        if let Some(unknown) = obj.keys().find(|k| s.member(k).is_none()) {
            return Err(EncodeError {
                path: child_path(path, unknown),
                problem: "not a member of the model's structure".into(),
            });
        }
        for m in s.members.iter().filter(|m| !m.xml_attribute) {
            if let Some(x) = obj.get(m.name).filter(|x| !x.is_null()) {
                self.member(m, m.wire_name(), x, &child_path(path, m.name))?;
            }
        }
        Ok(())
    }

    /// Member `m` with value `v` as element `name`.
    fn member(&mut self, m: &Member, name: &str, v: &Value, path: &str) -> Result<(), EncodeError> {
        let attrs = namespace_attr(m.xml_namespace);
        match &m.target.kind {
            ShapeKind::Structure(s) => self.structure(name, &attrs, s, v, path),
            ShapeKind::List(l) => self.list(m, l, name, &attrs, v, path),
            ShapeKind::Map(mp) => self.map(m, mp, name, &attrs, v, path),
            _ => {
                let text = self.scalar_text(m, v, path)?;
                self.line();
                let _ = write!(self.out, "<{name}{attrs}>");
                escape_into(&mut self.out, &text);
                let _ = write!(self.out, "</{name}>");
                Ok(())
            }
        }
    }

    fn list(
        &mut self,
        m: &Member,
        l: &List,
        name: &str,
        attrs: &str,
        v: &Value,
        path: &str,
    ) -> Result<(), EncodeError> {
        let items = v.as_array().ok_or_else(|| Self::wrong(path, "a list", v))?;
        if m.flattened || l.flattened {
            let item = l.member.location_name.unwrap_or(name);
            for (i, x) in items.iter().enumerate() {
                if x.is_null() {
                    continue;
                }
                self.member(&l.member, item, x, &format!("{path}[{i}]"))?;
            }
            return Ok(());
        }
        self.line();
        let _ = write!(self.out, "<{name}{attrs}>");
        let item = l.member.location_name.unwrap_or("member");
        self.depth += 1;
        for (i, x) in items.iter().enumerate() {
            if x.is_null() {
                continue;
            }
            self.member(&l.member, item, x, &format!("{path}[{i}]"))?;
        }
        self.depth -= 1;
        if !items.is_empty() {
            self.line();
        }
        let _ = write!(self.out, "</{name}>");
        Ok(())
    }

    fn map(
        &mut self,
        m: &Member,
        mp: &Map,
        name: &str,
        attrs: &str,
        v: &Value,
        path: &str,
    ) -> Result<(), EncodeError> {
        let entries = v.as_object().ok_or_else(|| Self::wrong(path, "a map", v))?;
        let key_name = mp.key.location_name.unwrap_or("key");
        let value_name = mp.value.location_name.unwrap_or("value");
        let flattened = m.flattened || mp.flattened;
        if !flattened {
            self.line();
            let _ = write!(self.out, "<{name}{attrs}>");
            self.depth += 1;
        }
        for (k, x) in entries {
            if x.is_null() {
                continue;
            }
            let entry = if flattened { name } else { "entry" };
            self.line();
            let _ = write!(self.out, "<{entry}>");
            self.depth += 1;
            self.member(
                &mp.key,
                key_name,
                &Value::String(k.clone()),
                &format!("{path}.{k}"),
            )?;
            self.member(&mp.value, value_name, x, &format!("{path}.{k}"))?;
            self.depth -= 1;
            self.line();
            let _ = write!(self.out, "</{entry}>");
        }
        if !flattened {
            self.depth -= 1;
            if !entries.is_empty() {
                self.line();
            }
            let _ = write!(self.out, "</{name}>");
        }
        Ok(())
    }

    /// The text of scalar member `m` with value `v`.
    fn scalar_text(&self, m: &Member, v: &Value, path: &str) -> Result<String, EncodeError> {
        let kind = &m.target.kind;
        let text = match (kind, v) {
            (ShapeKind::String(_), Value::String(s)) => s.clone(),
            (ShapeKind::Boolean, Value::Bool(b)) => b.to_string(),
            (ShapeKind::Integer(_) | ShapeKind::Long(_), Value::Number(n))
                if n.is_i64() || n.is_u64() =>
            {
                n.to_string()
            }
            (ShapeKind::Float(_) | ShapeKind::Double(_), Value::Number(n)) => n.to_string(),
            (ShapeKind::Blob(_), Value::String(s)) => s.clone(),
            (ShapeKind::Timestamp(_), Value::Number(_) | Value::String(_)) => {
                let format = m.timestamp_format().unwrap_or(TimestampFormat::Iso8601);
                let millis = match v {
                    Value::String(s) => timestamp::parse(s),
                    _ => timestamp::millis_of(v),
                };
                millis
                    .and_then(|ms| timestamp::format(ms, format))
                    .ok_or_else(|| EncodeError {
                        path: path.to_string(),
                        problem: "not a timestamp".into(),
                    })?
            }
            _ => return Err(Self::wrong(path, kind.name(), v)),
        };
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_model::ops::{IamOp, StsOp};
    use serde_json::json;

    #[test]
    fn a_result_with_lists_timestamps_and_escapes() {
        let out = json!({
            "Role": {
                "Path": "/",
                "RoleName": "r<&>\"'",
                "RoleId": "AROA",
                "Arn": "arn:aws:iam::123456789012:role/r",
                "CreateDate": 1_700_000_000,
                "MaxSessionDuration": 3600,
                "Tags": [{"Key": "k", "Value": "a\r\nb"}],
                "RoleLastUsed": {},
            }
        });
        let xml = encode_response(IamOp::GetRole.info(), &out, "req-1").unwrap();
        assert!(xml.starts_with(
            "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\n  <GetRoleResult>\n    <Role>\n      <Path>/</Path>\n      <RoleName>r&lt;&amp;&gt;&quot;&apos;</RoleName>"
        ), "{xml}");
        assert!(
            xml.contains("<CreateDate>2023-11-14T22:13:20Z</CreateDate>"),
            "{xml}"
        );
        assert!(xml.contains("<MaxSessionDuration>3600</MaxSessionDuration>"));
        assert!(xml.contains(
            "<Tags>\n        <member>\n          <Key>k</Key>\n          <Value>a&#xD;\nb</Value>\n        </member>\n      </Tags>"
        ), "{xml}");
        assert!(xml.contains("<RoleLastUsed></RoleLastUsed>"));
        assert!(xml.ends_with(
            "  <ResponseMetadata>\n    <RequestId>req-1</RequestId>\n  </ResponseMetadata>\n</GetRoleResponse>\n"
        ));
    }

    #[test]
    fn no_output_and_empty_results() {
        let xml = encode_response(IamOp::DeleteRole.info(), &json!(null), "id").unwrap();
        assert_eq!(
            xml,
            "<DeleteRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\n  <ResponseMetadata>\n    <RequestId>id</RequestId>\n  </ResponseMetadata>\n</DeleteRoleResponse>\n"
        );
        let xml = encode_response(
            IamOp::ListRoles.info(),
            &json!({"Roles": [], "IsTruncated": false}),
            "id",
        )
        .unwrap();
        assert!(xml.contains("<ListRolesResult>\n    <Roles></Roles>\n    <IsTruncated>false</IsTruncated>\n  </ListRolesResult>"), "{xml}");
    }

    #[test]
    fn values_that_do_not_fit_are_errors() {
        let op = StsOp::GetCallerIdentity.info();
        let e = encode_response(op, &json!({"Arn": "a", "Nope": 1}), "id").unwrap_err();
        assert_eq!(e.path, "Nope");
        let e = encode_response(op, &json!({"Arn": 5}), "id").unwrap_err();
        assert_eq!(e.to_string(), "Arn: a number where the model has string");
        let e = encode_response(IamOp::ListRoles.info(), &json!({"Roles": {}}), "id").unwrap_err();
        assert_eq!(e.path, "Roles");
    }

    #[test]
    fn text_xml_cannot_carry_is_replaced() {
        assert_eq!(escape("a\u{1}b\tc\u{FFFF}"), "a\u{FFFD}b\tc\u{FFFD}");
    }

    #[test]
    fn errors() {
        assert_eq!(
            encode_error("https://iam.amazonaws.com/doc/2010-05-08/", "NoSuchEntity", "The role <r> cannot be found.", true, "id"),
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>NoSuchEntity</Code>\n    <Message>The role &lt;r&gt; cannot be found.</Message>\n  </Error>\n  <RequestId>id</RequestId>\n</ErrorResponse>\n"
        );
    }
}
