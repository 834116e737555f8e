//! Writes a model's shapes as static data (`coffer_model::ops::shape` types): one `static` per
//! shape, members pointing at their shapes' statics, and `SHAPES`, every shape in name order.

use crate::gen_ops::lit;
use crate::model::{MemberDef, Model, ShapeDef, XmlNamespace};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The Rust name of each shape's static: `S_` and the shape's name (shape names differ only in
/// case in some models: STS has `JWTPayloadSizeExceededException` and
/// `jwtPayloadSizeExceededException`).
pub fn static_names(model: &Model) -> BTreeMap<String, String> {
    model
        .shapes
        .0
        .iter()
        .map(|(name, _)| (name.clone(), format!("S_{name}")))
        .collect()
}

fn namespace(ns: &Option<XmlNamespace>) -> String {
    match ns {
        None => "None".into(),
        Some(XmlNamespace::Uri(u)) => {
            format!("Some(XmlNamespace {{ uri: {}, prefix: None }})", lit(u))
        }
        Some(XmlNamespace::Full { uri, prefix }) => format!(
            "Some(XmlNamespace {{ uri: {}, prefix: {} }})",
            lit(uri),
            prefix
                .as_deref()
                .map(|p| format!("Some({})", lit(p)))
                .unwrap_or_else(|| "None".into())
        ),
    }
}

fn timestamp_format(f: &Option<String>) -> Result<String, String> {
    Ok(match f.as_deref() {
        None => "None".into(),
        Some("iso8601") => "Some(TimestampFormat::Iso8601)".into(),
        Some("unixTimestamp") => "Some(TimestampFormat::EpochSeconds)".into(),
        Some("rfc822") => "Some(TimestampFormat::Rfc822)".into(),
        Some(other) => return Err(format!("unknown timestampFormat {other}")),
    })
}

/// `Member::of(…)`, with the traits that differ from the defaults.
fn member(
    names: &BTreeMap<String, String>,
    name: &str,
    m: &MemberDef,
    required: bool,
) -> Result<String, String> {
    let target = names
        .get(&m.shape)
        .ok_or_else(|| format!("member {name} refers to unknown shape {}", m.shape))?;
    let base = format!("Member::of({}, &{target})", lit(name));
    let mut traits = Vec::new();
    if required {
        traits.push("required: true".to_string());
    }
    if let Some(l) = &m.location_name {
        traits.push(format!("location_name: Some({})", lit(l)));
    }
    if m.flattened {
        traits.push("flattened: true".into());
    }
    if m.xml_attribute {
        traits.push("xml_attribute: true".into());
    }
    if m.xml_namespace.is_some() {
        traits.push(format!("xml_namespace: {}", namespace(&m.xml_namespace)));
    }
    if m.idempotency_token {
        traits.push("idempotency_token: true".into());
    }
    if m.timestamp_format.is_some() {
        traits.push(format!(
            "timestamp_format: {}",
            timestamp_format(&m.timestamp_format)?
        ));
    }
    if m.deprecated {
        traits.push("deprecated: true".into());
    }
    Ok(if traits.is_empty() {
        base
    } else {
        format!("Member {{ {}, ..{base} }}", traits.join(", "))
    })
}

fn unsigned(n: &Option<serde_json::Number>, what: &str) -> Result<String, String> {
    match n {
        None => Ok("None".into()),
        Some(n) => n
            .as_u64()
            .map(|v| format!("Some({v})"))
            .ok_or_else(|| format!("{what} {n} is not a whole number ≥ 0")),
    }
}

fn signed(n: &Option<serde_json::Number>, what: &str) -> Result<String, String> {
    match n {
        None => Ok("None".into()),
        Some(n) => n
            .as_i64()
            .map(|v| format!("Some({v})"))
            .ok_or_else(|| format!("{what} {n} is not a whole number")),
    }
}

fn float(n: &Option<serde_json::Number>) -> String {
    match n.as_ref().and_then(serde_json::Number::as_f64) {
        None => "None".into(),
        Some(v) => format!("Some({v:?})"),
    }
}

fn length(s: &ShapeDef) -> Result<String, String> {
    Ok(format!(
        "Length {{ min: {}, max: {} }}",
        unsigned(&s.min, "min")?,
        unsigned(&s.max, "max")?
    ))
}

fn kind(names: &BTreeMap<String, String>, s: &ShapeDef) -> Result<String, String> {
    let no = |what: &str, present: bool| -> Result<(), String> {
        if present {
            Err(format!("a {} shape with {what} is not supported", s.kind))
        } else {
            Ok(())
        }
    };
    no("members", !s.members.0.is_empty() && s.kind != "structure")?;
    no("enum", !s.enum_values.is_empty() && s.kind != "string")?;
    no("pattern", s.pattern.is_some() && s.kind != "string")?;
    no(
        "timestampFormat",
        s.timestamp_format.is_some() && s.kind != "timestamp",
    )?;
    no(
        "error traits",
        (s.error.is_some() || s.exception || s.fault) && s.kind != "structure",
    )?;
    no("a list member", s.member.is_some() && s.kind != "list")?;
    no(
        "a map key or value",
        (s.key.is_some() || s.value.is_some()) && s.kind != "map",
    )?;
    no("locationName", s.location_name.is_some())?;
    no(
        "xmlNamespace",
        s.xml_namespace.is_some() && s.kind != "structure",
    )?;
    no("union", s.union && s.kind != "structure")?;
    no(
        "flattened",
        s.flattened && !matches!(s.kind.as_str(), "list" | "map"),
    )?;
    Ok(match s.kind.as_str() {
        "structure" => {
            let mut members = String::new();
            for (name, m) in &s.members.0 {
                let required = s.required.iter().any(|r| r == name);
                let _ = write!(
                    members,
                    "\n            {},",
                    member(names, name, m, required)?
                );
            }
            for r in &s.required {
                if s.members.get(r).is_none() {
                    return Err(format!("required member {r} is not a member"));
                }
            }
            if !members.is_empty() {
                members.push_str("\n        ");
            }
            let error = match &s.error {
                None => "None".to_string(),
                Some(e) => format!(
                    "Some(ErrorTrait {{ code: {}, http_status: {}, sender_fault: {} }})",
                    e.code
                        .as_deref()
                        .map(|c| format!("Some({})", lit(c)))
                        .unwrap_or_else(|| "None".into()),
                    e.http_status_code
                        .map(|c| format!("Some({c})"))
                        .unwrap_or_else(|| "None".into()),
                    e.sender_fault
                ),
            };
            format!(
                "ShapeKind::Structure(Structure {{\n        members: &[{members}],\n        error: {error},\n        exception: {},\n        fault: {},\n        union: {},\n        xml_namespace: {},\n    }})",
                s.exception,
                s.fault,
                s.union,
                namespace(&s.xml_namespace)
            )
        }
        "list" => {
            let m = s.member.as_ref().ok_or("a list without member")?;
            format!(
                "ShapeKind::List(List {{ member: {}, flattened: {}, length: {} }})",
                member(names, "member", m, false)?,
                s.flattened,
                length(s)?
            )
        }
        "map" => {
            let k = s.key.as_ref().ok_or("a map without key")?;
            let v = s.value.as_ref().ok_or("a map without value")?;
            format!(
                "ShapeKind::Map(Map {{\n        key: {},\n        value: {},\n        flattened: {},\n        length: {},\n    }})",
                member(names, "key", k, false)?,
                member(names, "value", v, false)?,
                s.flattened,
                length(s)?
            )
        }
        "string" => {
            let values: Vec<String> = s.enum_values.iter().map(|v| lit(v)).collect();
            format!(
                "ShapeKind::String(StringShape {{ length: {}, pattern: {}, enum_values: &[{}] }})",
                length(s)?,
                s.pattern
                    .as_deref()
                    .map(|p| format!("Some({})", lit(p)))
                    .unwrap_or_else(|| "None".into()),
                values.join(", ")
            )
        }
        "integer" | "long" => format!(
            "ShapeKind::{}(Range {{ min: {}, max: {} }})",
            if s.kind == "integer" {
                "Integer"
            } else {
                "Long"
            },
            signed(&s.min, "min")?,
            signed(&s.max, "max")?
        ),
        "float" | "double" => format!(
            "ShapeKind::{}(FloatRange {{ min: {}, max: {} }})",
            if s.kind == "float" { "Float" } else { "Double" },
            float(&s.min),
            float(&s.max)
        ),
        "boolean" => "ShapeKind::Boolean".into(),
        "blob" => format!("ShapeKind::Blob({})", length(s)?),
        "timestamp" => format!(
            "ShapeKind::Timestamp({})",
            timestamp_format(&s.timestamp_format)?
        ),
        other => return Err(format!("shape type {other} is not supported")),
    })
}

/// The shape tables of `model` for `service` (a `Service` variant), to append to its file.
pub fn shapes(
    model: &Model,
    service: &str,
    names: &BTreeMap<String, String>,
) -> Result<String, Vec<String>> {
    let mut o = String::new();
    let mut errors = Vec::new();
    let mut sorted: Vec<&String> = model.shapes.0.iter().map(|(n, _)| n).collect();
    sorted.sort();
    let _ = writeln!(
        o,
        "\n/// Every shape of the model, in name order.\npub static SHAPES: [&Shape; {}] = [",
        sorted.len()
    );
    for n in &sorted {
        let _ = writeln!(o, "    &{},", names[*n]);
    }
    o.push_str("];\n\n");
    o.push_str("/// The shape named `name`.\npub fn shape(name: &str) -> Option<&'static Shape> {\n    SHAPES\n        .binary_search_by(|s| s.name.cmp(name))\n        .ok()\n        .map(|i| SHAPES[i])\n}\n");
    for (name, s) in &model.shapes.0 {
        match kind(names, s) {
            Ok(k) => {
                let _ = write!(
                    o,
                    "\nstatic {}: Shape = Shape {{\n    name: {},\n    service: Service::{service},\n    sensitive: {},\n    deprecated: {},\n    kind: {k},\n}};\n",
                    names[name],
                    lit(name),
                    s.sensitive,
                    s.deprecated
                );
            }
            Err(e) => errors.push(format!("shape {name}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(o)
    } else {
        Err(errors)
    }
}
