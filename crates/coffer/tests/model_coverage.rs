//! Every operation in the official models is routed: botocore 1.44.8 (the newest model, with the
//! Secrets Manager operations the AWS SDK for Rust lacks) sends each KMS, Secrets Manager, STS and
//! IAM operation of its models with an empty request to a `--dev` server. KMS and Secrets Manager
//! must answer each one as an operation they know (a success or the operation's own error, never
//! `UnknownOperationException`, `InvalidAction` or "does not support"); STS and IAM, of which
//! Coffer serves some operations, must answer every one with a success or a well-formed AWS 4xx
//! error.
//! Nothing may answer 5xx. Skips when the botocore virtualenv is missing (`.ci/run` makes it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{botocore, Server, PRIMARY};

const SCRIPT: &str = r#"
import json, sys
import botocore, botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, region = sys.argv[1:3]
session = botocore.session.get_session()
config = Config(parameter_validation=False, retries={"max_attempts": 1})
out = {"botocore": botocore.__version__, "services": {}}
for service in ("kms", "secretsmanager", "sts", "iam"):
    client = session.create_client(service, endpoint_url=endpoint, region_name=region,
                                   aws_access_key_id="test", aws_secret_access_key="test",
                                   config=config)
    results = {}
    for op in client.meta.service_model.operation_names:
        try:
            resp = client._make_api_call(op, {})
            results[op] = {"result": "ok",
                           "status": resp.get("ResponseMetadata", {}).get("HTTPStatusCode")}
        except ClientError as e:
            err = e.response.get("Error", {})
            results[op] = {"result": "error",
                           "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
                           "code": err.get("Code"), "message": err.get("Message")}
        except Exception as e:
            results[op] = {"result": "client", "exception": f"{type(e).__name__}: {e}"}
    out["services"][service] = results
print(json.dumps(out))
"#;

/// Problems with one answer, if any. `routed`: the service must know the operation.
fn problems(service: &str, op: &str, r: &serde_json::Value, routed: bool) -> Option<String> {
    let status = r["status"].as_u64();
    let code = r["code"].as_str().unwrap_or("");
    let message = r["message"].as_str().unwrap_or("");
    let mut why = Vec::new();
    match r["result"].as_str() {
        Some("ok") => {
            if !matches!(status, Some(200..=299)) {
                why.push("a success without a 2xx status");
            }
        }
        Some("error") => {
            if matches!(status, Some(500..)) {
                why.push("a 5xx");
            } else if !matches!(status, Some(400..=499)) {
                why.push("an error that is not a 4xx");
            }
            if code.is_empty() {
                why.push("an error without an AWS error code");
            }
            if routed && matches!(code, "UnknownOperationException" | "InvalidAction") {
                why.push("not routed");
            }
            if routed && message.to_ascii_lowercase().contains("does not support") {
                why.push("not supported");
            }
        }
        _ => why.push("botocore could not send it or read the answer"),
    }
    (!why.is_empty()).then(|| format!("{service}:{op}: {} — {r}", why.join(", ")))
}

#[test]
fn every_operation_in_the_official_models_is_routed() {
    let python = match botocore::python() {
        Ok(p) => p,
        Err(why) => {
            println!("skipping: {why}");
            return;
        }
    };
    let server = Server::dev();
    let out = botocore::run_json(&python, SCRIPT, &[&server.endpoint, PRIMARY]);
    let services = &out["services"];
    let version = out["botocore"].as_str().unwrap_or("?");

    let mut failures = Vec::new();
    let mut unserved = Vec::new();
    for (service, routed, at_least) in [
        ("kms", true, 56),
        ("secretsmanager", true, 26),
        ("sts", false, 1),
        ("iam", false, 1),
    ] {
        let ops = services[service]
            .as_object()
            .unwrap_or_else(|| panic!("no {service} results in {out}"));
        assert!(
            ops.len() >= at_least,
            "botocore {} has only {} {service} operations",
            version,
            ops.len()
        );
        for (op, r) in ops {
            failures.extend(problems(service, op, r, routed));
            if !routed && matches!(r["code"].as_str(), Some("InvalidAction")) {
                unserved.push(format!("{service}:{op}"));
            }
        }
    }
    for op in [
        "AssociateCrossAccountReplica",
        "DisassociateCrossAccountReplica",
        "ListResourcePolicies",
    ] {
        assert!(
            services["secretsmanager"].get(op).is_some(),
            "botocore {} lacks {op}",
            version
        );
    }
    assert_eq!(
        services["sts"]["GetCallerIdentity"]["result"], "ok",
        "GetCallerIdentity: {}",
        services["sts"]["GetCallerIdentity"]
    );
    println!(
        "botocore {}: STS and IAM operations Coffer answers InvalidAction: {}",
        version,
        unserved.join(", ")
    );
    let h = server.raw("GET", "/_coffer/health", &[], b"");
    assert_eq!(h.status, 200, "server unhealthy after the sweep");
    assert!(
        failures.is_empty(),
        "{} operations were not answered as routed operations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
