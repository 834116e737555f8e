//! The Query codecs against botocore itself, for every STS and IAM operation (served or not):
//!
//! * requests: botocore's `QuerySerializer` writes each operation's full sample input
//!   ([`coffer_protocol::sample`]) as form parameters; [`coffer_protocol::decode_strict`] must
//!   give the sample back;
//! * responses: [`coffer_protocol::encode_response`] writes each operation's full sample output;
//!   botocore's `QueryParser` must read the sample back (and the request ID);
//!
//! plus hand-picked cases (empty lists, text that needs escaping, carriage returns, non-ASCII).
//! Needs botocore 1.44.8, the version of the vendored models: `COFFER_TEST_BOTOCORE_PYTHON`, else
//! `$HOME/.cache/coffer-botocore-venv/bin/python` (`.ci/run` makes it); skips without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_model::ops::{IamOp, Op, Service, StsOp};
use coffer_protocol::{decode_strict, encode_response, sample};
use serde_json::{json, Value};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const BOTOCORE: &str = "1.44.8";

const SCRIPT: &str = r#"
import base64, datetime, json, sys
import botocore, botocore.model, botocore.session
from botocore.serialize import create_serializer
from botocore.parsers import create_parser

def to_py(shape, v):
    t = shape.type_name
    if t == 'structure':
        return {k: to_py(shape.members[k], x) for k, x in v.items()}
    if t == 'list':
        return [to_py(shape.member, x) for x in v]
    if t == 'map':
        return {k: to_py(shape.value, x) for k, x in v.items()}
    if t == 'timestamp':
        return datetime.datetime.fromtimestamp(v, tz=datetime.timezone.utc)
    if t == 'blob':
        return base64.b64decode(v)
    return v

def to_json(shape, v):
    t = shape.type_name
    if v is None:
        return None
    if t == 'structure':
        return {k: to_json(shape.members[k], x) for k, x in v.items()}
    if t == 'list':
        return [to_json(shape.member, x) for x in v]
    if t == 'map':
        return {k: to_json(shape.value, x) for k, x in v.items()}
    if t == 'timestamp':
        ts = v.timestamp()
        return int(ts) if ts == int(ts) else ts
    if t == 'blob':
        return base64.b64encode(v).decode()
    return v

def text(v):
    return v if isinstance(v, str) else str(v)

cases = json.load(sys.stdin)
session = botocore.session.get_session()
synthetic = {name: botocore.model.ServiceModel(m, service_name=name)
             for name, m in cases.get("models", {}).items()}
def service_model(name):
    return synthetic[name] if name in synthetic else session.get_service_model(name)
out = {"botocore": botocore.__version__, "requests": [], "responses": []}
for r in cases["requests"]:
    model = service_model(r["service"])
    op = model.operation_model(r["operation"])
    try:
        ser = create_serializer(model.metadata["protocol"], include_validation=False)
        body = ser.serialize_to_request(to_py(op.input_shape, r["input"]), op)["body"]
        out["requests"].append({"params": [[k, text(v)] for k, v in body.items()]})
    except Exception as e:
        out["requests"].append({"error": f"{type(e).__name__}: {e}"})
for r in cases["responses"]:
    model = service_model(r["service"])
    op = model.operation_model(r["operation"])
    try:
        parser = create_parser(model.metadata["protocol"])
        parsed = parser.parse({"body": r["xml"].encode("utf-8"), "status_code": 200, "headers": {}},
                              op.output_shape)
        meta = parsed.pop("ResponseMetadata", {})
        parsed = to_json(op.output_shape, parsed) if op.output_shape is not None else parsed
        out["responses"].append({"parsed": parsed, "request_id": meta.get("RequestId")})
    except Exception as e:
        out["responses"].append({"error": f"{type(e).__name__}: {e}"})
print(json.dumps(out))
"#;

/// The Python to use, or why there is none.
fn python() -> Result<PathBuf, String> {
    let python = match std::env::var_os("COFFER_TEST_BOTOCORE_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?)
            .join(".cache/coffer-botocore-venv/bin/python"),
    };
    let out = Command::new(&python)
        .args(["-c", "import botocore; print(botocore.__version__)"])
        .output()
        .map_err(|e| {
            format!(
                "{} not runnable ({e}); .ci/run creates it",
                python.display()
            )
        })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(format!("{} has no botocore", python.display()));
    }
    if version != BOTOCORE {
        return Err(format!(
            "{} has botocore {version}; the vendored models are {BOTOCORE}",
            python.display()
        ));
    }
    Ok(python)
}

fn run(python: &PathBuf, input: &Value) -> Value {
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Case {
    op: Op,
    value: Value,
    what: String,
}

fn service_name(op: Op) -> &'static str {
    op.service().signing_name()
}

#[test]
fn query_codecs_agree_with_botocore() {
    let python = match python() {
        Ok(p) => p,
        Err(why) => {
            println!("skipping: {why}");
            return;
        }
    };
    let ops: Vec<Op> = Op::ALL
        .iter()
        .copied()
        .filter(|o| matches!(o.service(), Service::Sts | Service::Iam))
        .collect();
    let mut requests = Vec::new();
    let mut responses = Vec::new();
    for &op in &ops {
        let info = op.info();
        if let Some(input) = info.input {
            requests.push(Case {
                op,
                value: sample::value(input),
                what: "sample".into(),
            });
        }
        let value = info.output.map(sample::value).unwrap_or(Value::Null);
        responses.push(Case {
            op,
            value,
            what: "sample".into(),
        });
    }
    // Hand-picked cases.
    requests.push(Case {
        op: IamOp::UntagRole.into(),
        value: json!({"RoleName": "r", "TagKeys": []}),
        what: "an empty list".into(),
    });
    requests.push(Case {
        op: StsOp::AssumeRole.into(),
        value: json!({
            "RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s",
            "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
            "Policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]} & <more> é ✓",
            "DurationSeconds": 900,
            "Tags": [{"Key": "a=b", "Value": "c&d"}, {"Key": "k", "Value": ""}],
        }),
        what: "AssumeRole as a client sends it".into(),
    });
    responses.push(Case {
        op: IamOp::GetRole.into(),
        value: json!({"Role": {
            "Path": "/a/", "RoleName": "r", "RoleId": "AROAEXAMPLE", "Arn": "arn:aws:iam::123456789012:role/a/r",
            "CreateDate": 1_700_000_000,
            "AssumeRolePolicyDocument": "%7B%22Version%22%3A%222012-10-17%22%7D",
            "Description": "line one\r\nline two\ttabbed <b>&amp;</b> ]]> \"quoted\" 'single' é ✓ 🙂",
            "MaxSessionDuration": 43200,
            "Tags": [],
            "RoleLastUsed": {},
        }}),
        what: "escaping, an empty list and an empty structure".into(),
    });
    responses.push(Case {
        op: IamOp::ListRoles.into(),
        value: json!({"Roles": [], "IsTruncated": true, "Marker": "m&m"}),
        what: "an empty listing".into(),
    });
    responses.push(Case {
        op: StsOp::GetCallerIdentity.into(),
        value: json!({}),
        what: "an empty result".into(),
    });

    let mut xml_errors = Vec::new();
    let wire: Vec<Value> = responses
        .iter()
        .map(|c| {
            let xml = encode_response(c.op.info(), &c.value, "req-&-1").unwrap_or_else(|e| {
                xml_errors.push(format!(
                    "{}:{} ({}): {e}",
                    service_name(c.op),
                    c.op.name(),
                    c.what
                ));
                String::new()
            });
            json!({"service": service_name(c.op), "operation": c.op.name(), "xml": xml})
        })
        .collect();
    assert!(xml_errors.is_empty(), "encoding failed: {xml_errors:#?}");
    let input = json!({
        "requests": requests.iter().map(|c| json!({
            "service": service_name(c.op), "operation": c.op.name(), "input": c.value,
        })).collect::<Vec<_>>(),
        "responses": wire,
    });
    let out = run(&python, &input);
    assert_eq!(out["botocore"], BOTOCORE);

    let mut failures = Vec::new();
    for (c, r) in requests.iter().zip(out["requests"].as_array().unwrap()) {
        let name = format!(
            "{}:{} request ({})",
            service_name(c.op),
            c.op.name(),
            c.what
        );
        if let Some(e) = r["error"].as_str() {
            failures.push(format!("{name}: botocore: {e}"));
            continue;
        }
        let params: Vec<(String, String)> = r["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        match decode_strict(c.op.info().input.unwrap(), &params) {
            Ok(v) if v == c.value => {}
            Ok(v) => failures.push(format!(
                "{name}: decoded\n  {v}\nnot\n  {}\nfrom {params:?}",
                c.value
            )),
            Err(e) => failures.push(format!("{name}: {e} from {params:?}")),
        }
    }
    for (c, r) in responses.iter().zip(out["responses"].as_array().unwrap()) {
        let name = format!(
            "{}:{} response ({})",
            service_name(c.op),
            c.op.name(),
            c.what
        );
        if let Some(e) = r["error"].as_str() {
            failures.push(format!("{name}: botocore: {e}"));
            continue;
        }
        if r["request_id"] != "req-&-1" {
            failures.push(format!("{name}: request ID {}", r["request_id"]));
        }
        let want = if c.value.is_null() {
            json!({})
        } else {
            c.value.clone()
        };
        if r["parsed"] != want {
            failures.push(format!(
                "{name}: botocore read\n  {}\nnot\n  {want}",
                r["parsed"]
            ));
        }
    }
    let total = requests.len() + responses.len();
    println!(
        "{} STS and IAM operations, {total} cases through botocore {BOTOCORE}",
        ops.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} cases disagree with botocore:\n{}",
        failures.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Serialization traits the five models do not use (locationName, flattened lists and maps,
// timestamp formats), on a synthetic model given to botocore as well.

mod synthetic {
    use coffer_model::ops::shape::{FloatRange, Length, List, Map, Range, StringShape, Structure};
    use coffer_model::ops::{Member, Operation, Service, Shape, ShapeKind, TimestampFormat};

    const fn shape(name: &'static str, kind: ShapeKind) -> Shape {
        Shape {
            name,
            service: Service::Iam,
            kind,
            sensitive: false,
            deprecated: false,
        }
    }

    const fn structure(members: &'static [Member]) -> ShapeKind {
        ShapeKind::Structure(Structure {
            members,
            error: None,
            exception: false,
            fault: false,
            union: false,
            xml_namespace: None,
        })
    }

    const NO_LENGTH: Length = Length {
        min: None,
        max: None,
    };

    pub static STR: Shape = shape(
        "Str",
        ShapeKind::String(StringShape {
            length: NO_LENGTH,
            pattern: None,
            enum_values: &[],
        }),
    );
    static INT: Shape = shape(
        "Int",
        ShapeKind::Integer(Range {
            min: None,
            max: None,
        }),
    );
    static LONG: Shape = shape(
        "Big",
        ShapeKind::Long(Range {
            min: None,
            max: None,
        }),
    );
    static DBL: Shape = shape(
        "Dbl",
        ShapeKind::Double(FloatRange {
            min: None,
            max: None,
        }),
    );
    static BOOL: Shape = shape("Bool", ShapeKind::Boolean);
    static BLOB: Shape = shape("Bytes", ShapeKind::Blob(NO_LENGTH));
    static TS: Shape = shape("Time", ShapeKind::Timestamp(None));
    static TS_EPOCH: Shape = shape(
        "EpochTime",
        ShapeKind::Timestamp(Some(TimestampFormat::EpochSeconds)),
    );
    static ITEM: Shape = shape(
        "Item",
        structure(&[
            Member {
                location_name: Some("a-name"),
                ..Member::of("A", &STR)
            },
            Member::of("B", &INT),
        ]),
    );
    static STRINGS: Shape = shape(
        "Strings",
        ShapeKind::List(List {
            member: Member::of("member", &STR),
            flattened: false,
            length: NO_LENGTH,
        }),
    );
    static NAMED_ITEMS: Shape = shape(
        "NamedItems",
        ShapeKind::List(List {
            member: Member {
                location_name: Some("item"),
                ..Member::of("member", &ITEM)
            },
            flattened: false,
            length: NO_LENGTH,
        }),
    );
    static FLAT: Shape = shape(
        "Flat",
        ShapeKind::List(List {
            member: Member::of("member", &STR),
            flattened: true,
            length: NO_LENGTH,
        }),
    );
    static FLAT_NAMED: Shape = shape(
        "FlatNamed",
        ShapeKind::List(List {
            member: Member {
                location_name: Some("Entry"),
                ..Member::of("member", &ITEM)
            },
            flattened: true,
            length: NO_LENGTH,
        }),
    );
    static ATTRS: Shape = shape(
        "Attrs",
        ShapeKind::Map(Map {
            key: Member::of("key", &STR),
            value: Member::of("value", &STR),
            flattened: false,
            length: NO_LENGTH,
        }),
    );
    static FLAT_MAP: Shape = shape(
        "FlatMap",
        ShapeKind::Map(Map {
            key: Member {
                location_name: Some("Name"),
                ..Member::of("key", &STR)
            },
            value: Member {
                location_name: Some("Val"),
                ..Member::of("value", &ITEM)
            },
            flattened: true,
            length: NO_LENGTH,
        }),
    );
    static NESTED: Shape = shape(
        "Nested",
        structure(&[
            Member {
                location_name: Some("inner"),
                ..Member::of("Inner", &ITEM)
            },
            Member::of("Strings", &STRINGS),
        ]),
    );
    pub static TOP: Shape = shape(
        "Top",
        structure(&[
            Member {
                location_name: Some("plain-name"),
                required: true,
                ..Member::of("Plain", &STR)
            },
            Member::of("Count", &INT),
            Member::of("Big", &LONG),
            Member::of("Ratio", &DBL),
            Member::of("Flag", &BOOL),
            Member::of("Data", &BLOB),
            Member::of("When", &TS),
            Member::of("WhenEpoch", &TS_EPOCH),
            Member {
                timestamp_format: Some(TimestampFormat::Rfc822),
                ..Member::of("WhenHttp", &TS)
            },
            Member::of("Strings", &STRINGS),
            Member::of("Items", &NAMED_ITEMS),
            Member::of("Flat", &FLAT),
            Member::of("FlatNamed", &FLAT_NAMED),
            Member {
                flattened: true,
                ..Member::of("MemberFlat", &STRINGS)
            },
            Member::of("Attrs", &ATTRS),
            Member::of("FlatMap", &FLAT_MAP),
            Member::of("Nested", &NESTED),
            Member::of("Empty", &STRINGS),
        ]),
    );
    pub static OP: Operation = Operation {
        service: Service::Iam,
        name: "Synth",
        input: Some(&TOP),
        output: Some(&TOP),
        result_wrapper: Some("SynthResult"),
        checks: &[],
        read_only: true,
        served: false,
        hot: false,
        cross_account: false,
        errors: &[],
        idempotency_token: None,
        idempotent: false,
        unsigned: false,
        deprecated: false,
    };
}

/// `shape` and every shape it reaches, as botocore model JSON.
fn export(shape: &'static coffer_model::ops::Shape, out: &mut serde_json::Map<String, Value>) {
    use coffer_model::ops::{Member, ShapeKind, TimestampFormat};
    if out.contains_key(shape.name) {
        return;
    }
    fn format_name(f: TimestampFormat) -> &'static str {
        match f {
            TimestampFormat::Iso8601 => "iso8601",
            TimestampFormat::EpochSeconds => "unixTimestamp",
            TimestampFormat::Rfc822 => "rfc822",
        }
    }
    fn member_ref(m: &Member) -> Value {
        let mut r = json!({"shape": m.target.name});
        if let Some(l) = m.location_name {
            r["locationName"] = json!(l);
        }
        if m.flattened {
            r["flattened"] = json!(true);
        }
        if let Some(f) = m.timestamp_format {
            r["timestampFormat"] = json!(format_name(f));
        }
        r
    }
    out.insert(shape.name.to_string(), Value::Null);
    let mut def = json!({"type": shape.kind.name()});
    let mut reached = Vec::new();
    match &shape.kind {
        ShapeKind::Structure(s) => {
            let mut members = serde_json::Map::new();
            for m in s.members {
                members.insert(m.name.to_string(), member_ref(m));
                reached.push(m.target);
            }
            def["members"] = Value::Object(members);
            def["required"] = s
                .members
                .iter()
                .filter(|m| m.required)
                .map(|m| json!(m.name))
                .collect();
        }
        ShapeKind::List(l) => {
            def["member"] = member_ref(&l.member);
            def["flattened"] = json!(l.flattened);
            reached.push(l.member.target);
        }
        ShapeKind::Map(m) => {
            def["key"] = member_ref(&m.key);
            def["value"] = member_ref(&m.value);
            def["flattened"] = json!(m.flattened);
            reached.extend([m.key.target, m.value.target]);
        }
        ShapeKind::Timestamp(Some(f)) => def["timestampFormat"] = json!(format_name(*f)),
        _ => {}
    }
    out.insert(shape.name.to_string(), def);
    for s in reached {
        export(s, out);
    }
}

#[test]
fn location_names_flattening_and_timestamp_formats_agree_with_botocore() {
    let python = match python() {
        Ok(p) => p,
        Err(why) => {
            println!("skipping: {why}");
            return;
        }
    };
    let op = &synthetic::OP;
    let mut shapes = serde_json::Map::new();
    export(&synthetic::TOP, &mut shapes);
    let model = json!({
        "version": "2.0",
        "metadata": {
            "apiVersion": "2010-05-08", "endpointPrefix": "synth", "protocol": "query",
            "serviceId": "Synth", "signatureVersion": "v4",
            "xmlNamespace": "https://iam.amazonaws.com/doc/2010-05-08/",
        },
        "operations": {"Synth": {
            "name": "Synth", "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "Top"},
            "output": {"shape": "Top", "resultWrapper": "SynthResult"},
        }},
        "shapes": shapes,
    });
    let item = |a: &str, b: i64| json!({"A": a, "B": b});
    let value = json!({
        "Plain": "p & <q>",
        "Count": -7,
        "Big": 9_007_199_254_740_993_i64,
        "Ratio": 0.125,
        "Flag": false,
        "Data": "AAEC/w==",
        "When": 1_700_000_000.25,
        "WhenEpoch": 1_700_000_001,
        "WhenHttp": 1_700_000_002,
        "Strings": ["s1", "s2"],
        "Items": [item("i1", 1), item("i2", 2)],
        "Flat": ["f1", "f2", "f3"],
        "FlatNamed": [item("n1", 1), item("n2", 2)],
        "MemberFlat": ["m1", "m2"],
        "Attrs": {"k1": "v1", "k2": "v2"},
        "FlatMap": {"x": item("x", 1), "y": item("y", 2)},
        "Nested": {"Inner": item("deep", 3), "Strings": ["d"]},
        "Empty": [],
    });
    let xml = encode_response(op, &value, "rid").unwrap();
    let input = json!({
        "models": {"synth": model},
        "requests": [{"service": "synth", "operation": "Synth", "input": value}],
        "responses": [{"service": "synth", "operation": "Synth", "xml": xml}],
    });
    let out = run(&python, &input);
    let r = &out["requests"][0];
    assert!(r["error"].is_null(), "botocore: {}", r["error"]);
    let params: Vec<(String, String)> = r["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    for expected in [
        "plain-name",
        "Items.item.1.a-name",
        "Flat.3",
        "Entry.2.B", // a flattened list with a named item: the name replaces the member's
        "MemberFlat.2",
        "Attrs.entry.1.key",
        "FlatMap.1.Name",
        "FlatMap.1.Val.a-name",
        "Nested.inner.a-name",
        "Empty",
    ] {
        assert!(
            names.contains(&expected),
            "botocore sent no {expected}: {names:?}"
        );
    }
    let decoded = decode_strict(op.input.unwrap(), &params).unwrap();
    assert_eq!(decoded, value, "decoded from {params:?}");
    let r = &out["responses"][0];
    assert!(r["error"].is_null(), "botocore: {}\n{xml}", r["error"]);
    let mut want = value.clone();
    // A flattened list cannot say it is empty, but this one is not flattened.
    want["Empty"] = json!([]);
    assert_eq!(r["parsed"], want, "botocore read {xml}");
    assert_eq!(r["request_id"], "rid");
}
