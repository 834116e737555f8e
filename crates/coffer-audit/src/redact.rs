//! Redaction as CloudTrail does it, and CloudTrail's member naming.
//!
//! Three layers, applied in order to a request (or response) given as the JSON the service decoded
//! (AWS member names):
//!
//! 1. **Allow-list** for the operations whose CloudTrail entries AWS documents member by member (the
//!    KMS cryptographic operations, Secrets Manager's value operations): only those members are kept,
//!    and the defaults AWS always records are added (`encryptionAlgorithm` for Encrypt / Decrypt /
//!    ReEncrypt even when the request left it out).
//! 2. **Deny-list safety net** for every operation: every member whose botocore shape is `sensitive`
//!    or a `blob`, and `SessionToken`, is removed at its path ([`tables`], generated from botocore
//!    1.44.8 by `tools/sensitive_members.py`), and every member *name* that is sensitive anywhere in
//!    that service is removed wherever it appears (outside map keys), so a model change or a
//!    hand-built request cannot slip one through.
//! 3. **Naming**: member names become CloudTrail's lower camel case by lowering the first character
//!    only (`KeyId` → `keyId`, `ARN` → `aRN`, `AWSAccountId` → `aWSAccountId`, as CloudTrail writes
//!    them); the keys of map-typed members (an encryption context) are data and keep their case.
//!
//! `responseElements` is `null` for read-only operations (as in CloudTrail's KMS, Secrets Manager and
//! IAM samples), except STS's credential-issuing calls, whose `credentials` keep only `accessKeyId`
//! and `expiration` (AWS also records the session token; Coffer does not record any credential part
//! beyond the access key ID). An empty object becomes `null`.

mod tables;

use crate::record::Service;
use serde_json::{Map, Value};

/// One operation's denied member paths (AWS member names; `[]` = each list element, `{}` = each
/// map value), for the request (`input`) and the response (`output`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpDeny {
    pub op: &'static str,
    pub input: &'static [&'static str],
    pub output: &'static [&'static str],
}

/// An operation whose CloudTrail `requestParameters` AWS documents member by member.
struct Allow {
    service: Service,
    op: &'static str,
    /// The request members recorded (AWS names).
    members: &'static [&'static str],
    /// Members recorded with this value when the request leaves them out (CloudTrail names).
    defaults: &'static [(&'static str, &'static str)],
}

const SYM: &str = "SYMMETRIC_DEFAULT";

/// From AWS KMS's "Logging with CloudTrail" examples (the blob members are never there) and Secrets
/// Manager's "Log events with CloudTrail" (neither SecretString nor SecretBinary).
const ALLOW: &[Allow] = &[
    Allow {
        service: Service::Kms,
        op: "Encrypt",
        members: &[
            "KeyId",
            "EncryptionContext",
            "EncryptionAlgorithm",
            "GrantTokens",
            "DryRun",
        ],
        defaults: &[("encryptionAlgorithm", SYM)],
    },
    Allow {
        service: Service::Kms,
        op: "Decrypt",
        members: &[
            "KeyId",
            "EncryptionContext",
            "EncryptionAlgorithm",
            "GrantTokens",
            "DryRun",
            "DryRunModifiers",
        ],
        defaults: &[("encryptionAlgorithm", SYM)],
    },
    Allow {
        service: Service::Kms,
        op: "ReEncrypt",
        members: &[
            "SourceKeyId",
            "DestinationKeyId",
            "SourceEncryptionContext",
            "DestinationEncryptionContext",
            "SourceEncryptionAlgorithm",
            "DestinationEncryptionAlgorithm",
            "GrantTokens",
            "DryRun",
            "DryRunModifiers",
        ],
        defaults: &[
            ("sourceEncryptionAlgorithm", SYM),
            ("destinationEncryptionAlgorithm", SYM),
        ],
    },
    Allow {
        service: Service::Kms,
        op: "GenerateDataKey",
        members: &[
            "KeyId",
            "EncryptionContext",
            "NumberOfBytes",
            "KeySpec",
            "GrantTokens",
            "DryRun",
        ],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "GenerateDataKeyWithoutPlaintext",
        members: &[
            "KeyId",
            "EncryptionContext",
            "NumberOfBytes",
            "KeySpec",
            "GrantTokens",
            "DryRun",
        ],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "GenerateDataKeyPair",
        members: &[
            "KeyId",
            "EncryptionContext",
            "KeyPairSpec",
            "GrantTokens",
            "DryRun",
        ],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "GenerateDataKeyPairWithoutPlaintext",
        members: &[
            "KeyId",
            "EncryptionContext",
            "KeyPairSpec",
            "GrantTokens",
            "DryRun",
        ],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "Sign",
        members: &[
            "KeyId",
            "MessageType",
            "SigningAlgorithm",
            "GrantTokens",
            "DryRun",
        ],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "Verify",
        members: &[
            "KeyId",
            "MessageType",
            "SigningAlgorithm",
            "GrantTokens",
            "DryRun",
        ],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "GenerateMac",
        members: &["KeyId", "MacAlgorithm", "GrantTokens", "DryRun"],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "VerifyMac",
        members: &["KeyId", "MacAlgorithm", "GrantTokens", "DryRun"],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "GenerateRandom",
        members: &["NumberOfBytes", "CustomKeyStoreId"],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "DeriveSharedSecret",
        members: &["KeyId", "KeyAgreementAlgorithm", "GrantTokens", "DryRun"],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "Encapsulate",
        members: &["KeyId", "EncapsulationAlgorithm", "GrantTokens", "DryRun"],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "Decapsulate",
        members: &["KeyId", "EncapsulationAlgorithm", "GrantTokens", "DryRun"],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "GetParametersForImport",
        members: &["KeyId", "WrappingAlgorithm", "WrappingKeySpec"],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "ImportKeyMaterial",
        members: &[
            "KeyId",
            "ValidTo",
            "ExpirationModel",
            "ImportType",
            "KeyMaterialDescription",
            "KeyMaterialId",
        ],
        defaults: &[],
    },
    Allow {
        service: Service::Kms,
        op: "GetPublicKey",
        members: &["KeyId", "GrantTokens"],
        defaults: &[],
    },
    Allow {
        service: Service::SecretsManager,
        op: "GetSecretValue",
        members: &["SecretId", "VersionId", "VersionStage"],
        defaults: &[],
    },
    Allow {
        service: Service::SecretsManager,
        op: "BatchGetSecretValue",
        members: &["SecretIdList", "Filters", "MaxResults", "NextToken"],
        defaults: &[],
    },
    Allow {
        service: Service::SecretsManager,
        op: "PutSecretValue",
        members: &["SecretId", "ClientRequestToken", "VersionStages"],
        defaults: &[],
    },
    Allow {
        service: Service::SecretsManager,
        op: "CreateSecret",
        members: &[
            "Name",
            "ClientRequestToken",
            "Description",
            "KmsKeyId",
            "Tags",
            "AddReplicaRegions",
            "ForceOverwriteReplicaSecret",
            "Type",
        ],
        defaults: &[],
    },
    Allow {
        service: Service::SecretsManager,
        op: "UpdateSecret",
        members: &[
            "SecretId",
            "ClientRequestToken",
            "Description",
            "KmsKeyId",
            "Type",
        ],
        defaults: &[],
    },
];

/// STS operations whose (read-only) response CloudTrail records: the issued credentials' access
/// key ID and expiration, the assumed-role user, the packed policy size.
const STS_CREDENTIAL_OPS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "GetFederationToken",
    "GetSessionToken",
];

struct ServiceTables {
    ops: &'static [OpDeny],
    names: &'static [&'static str],
    maps: &'static [&'static str],
}

fn tables_for(service: Service) -> ServiceTables {
    match service {
        Service::Kms => ServiceTables {
            ops: tables::KMS_OPS,
            names: tables::KMS_NAMES,
            maps: tables::KMS_MAPS,
        },
        Service::SecretsManager => ServiceTables {
            ops: tables::SECRETS_MANAGER_OPS,
            names: tables::SECRETS_MANAGER_NAMES,
            maps: tables::SECRETS_MANAGER_MAPS,
        },
        Service::Sts => ServiceTables {
            ops: tables::STS_OPS,
            names: tables::STS_NAMES,
            maps: tables::STS_MAPS,
        },
        Service::Iam => ServiceTables {
            ops: tables::IAM_OPS,
            names: tables::IAM_NAMES,
            maps: tables::IAM_MAPS,
        },
        Service::CloudTrail | Service::Signin => ServiceTables {
            ops: &[],
            names: &[],
            maps: &[],
        },
    }
}

/// Names removed wherever they appear in any service: a last line of defence for credentials.
const ALWAYS_DENIED: &[&str] = &[
    "SecretAccessKey",
    "SessionToken",
    "Password",
    "Plaintext",
    "SecretString",
    "SecretBinary",
];

/// CloudTrail's `requestParameters` for `request` (the decoded request, AWS member names).
pub fn request_parameters(service: Service, op: &str, request: &Value) -> Value {
    let Value::Object(obj) = request else {
        return Value::Null;
    };
    let mut obj = obj.clone();
    let allow = ALLOW.iter().find(|a| a.service == service && a.op == op);
    if let Some(a) = allow {
        obj.retain(|k, _| a.members.contains(&k.as_str()));
    }
    let t = tables_for(service);
    let mut v = Value::Object(obj);
    if let Some(d) = t.ops.iter().find(|d| d.op == op) {
        for p in d.input {
            strip_path(&mut v, &p.split('/').collect::<Vec<_>>());
        }
    }
    strip_names(&mut v, t.names, t.maps);
    let mut v = camel(v, t.maps);
    if let (Some(a), Value::Object(o)) = (allow, &mut v) {
        for (k, d) in a.defaults {
            o.entry(k.to_string())
                .or_insert_with(|| Value::String((*d).to_owned()));
        }
    }
    empty_to_null(v)
}

/// CloudTrail's `responseElements` for a successful response (`null` for read-only operations
/// except STS's credential-issuing ones).
pub fn response_elements(service: Service, op: &str, read_only: bool, response: &Value) -> Value {
    let keep = !read_only || (service == Service::Sts && STS_CREDENTIAL_OPS.contains(&op));
    if !keep || !response.is_object() {
        return Value::Null;
    }
    let t = tables_for(service);
    let mut v = response.clone();
    if let Some(d) = t.ops.iter().find(|d| d.op == op) {
        for p in d.output {
            strip_path(&mut v, &p.split('/').collect::<Vec<_>>());
        }
    }
    strip_names(&mut v, t.names, t.maps);
    empty_to_null(camel(v, t.maps))
}

/// Whether CloudTrail marks `op` read-only, by AWS's convention (KMS's cryptographic operations
/// and every `Describe`/`Get`/`List` call are read-only; so is every STS call). The operation
/// registry's flag, where it has one, is authoritative; this is the fallback and its cross-check.
pub fn default_read_only(service: Service, op: &str) -> bool {
    const KMS_READ: &[&str] = &[
        "Decrypt",
        "Encrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "DeriveSharedSecret",
        "Encapsulate",
        "Decapsulate",
    ];
    if service == Service::Sts {
        return true;
    }
    if service == Service::Kms && KMS_READ.contains(&op) {
        return true;
    }
    [
        "Get", "List", "Describe", "BatchGet", "Lookup", "Simulate", "Validate",
    ]
    .iter()
    .any(|p| op.starts_with(p))
}

/// CloudTrail's member name: the first character lowered (`KeyId` → `keyId`, `ARN` → `aRN`).
pub fn lower_camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn strip_path(v: &mut Value, path: &[&str]) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    match (*head, v) {
        ("[]", Value::Array(items)) => items.iter_mut().for_each(|i| strip_path(i, rest)),
        ("{}", Value::Object(map)) => map.values_mut().for_each(|i| strip_path(i, rest)),
        (name, Value::Object(map)) => {
            if rest.is_empty() {
                map.remove(name);
            } else if let Some(child) = map.get_mut(name) {
                strip_path(child, rest);
            }
        }
        _ => {}
    }
}

fn strip_names(v: &mut Value, names: &[&str], maps: &[&str]) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !names.contains(&k.as_str()) && !ALWAYS_DENIED.contains(&k.as_str()));
            for (k, child) in map.iter_mut() {
                if maps.contains(&k.as_str()) {
                    // A map: its keys are data; its values may be structures.
                    if let Value::Object(m) = child {
                        m.values_mut().for_each(|c| strip_names(c, names, maps));
                    }
                } else {
                    strip_names(child, names, maps);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| strip_names(i, names, maps)),
        _ => {}
    }
}

fn camel(v: Value, maps: &[&str]) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, child) in map {
                let child = if maps.contains(&k.as_str()) {
                    match child {
                        Value::Object(m) => Value::Object(
                            m.into_iter()
                                .map(|(mk, mv)| (mk, camel(mv, maps)))
                                .collect(),
                        ),
                        other => camel(other, maps),
                    }
                } else {
                    camel(child, maps)
                };
                out.insert(lower_camel(&k), child);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|i| camel(i, maps)).collect()),
        other => other,
    }
}

fn empty_to_null(v: Value) -> Value {
    match v {
        Value::Object(ref m) if m.is_empty() => Value::Null,
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Builds a JSON value that holds `marker` at `path` (creating objects, one-element lists and
    /// one-entry maps along the way), merged into `into`.
    fn plant(into: &mut Value, path: &[&str], marker: &str) {
        let Some((head, rest)) = path.split_first() else {
            *into = Value::String(marker.to_owned());
            return;
        };
        match *head {
            "[]" => {
                if !into.is_array() {
                    *into = json!([{}]);
                }
                let items = into.as_array_mut().unwrap();
                if items.is_empty() {
                    items.push(json!({}));
                }
                plant(&mut items[0], rest, marker);
            }
            "{}" => {
                if !into.is_object() {
                    *into = json!({});
                }
                let m = into.as_object_mut().unwrap();
                let child = m.entry("someKey").or_insert(json!({}));
                plant(child, rest, marker);
            }
            name => {
                if !into.is_object() {
                    *into = json!({});
                }
                let m = into.as_object_mut().unwrap();
                let child = m.entry(name.to_owned()).or_insert(json!({}));
                plant(child, rest, marker);
            }
        }
    }

    /// Every denied member of every KMS / Secrets Manager / STS / IAM operation, planted with a
    /// unique value in a request or response, is gone from the record, whether or not the
    /// operation is read-only and with or without harmless siblings.
    #[test]
    fn no_sensitive_member_survives_any_operation() {
        let mut checked = 0;
        for service in [
            Service::Kms,
            Service::SecretsManager,
            Service::Sts,
            Service::Iam,
        ] {
            let t = tables_for(service);
            assert!(!t.ops.is_empty());
            for d in t.ops {
                for (dir, paths) in [("input", d.input), ("output", d.output)] {
                    // Each path alone, then all of them together.
                    let mut all = json!({"Harmless": "visible-value"});
                    for (i, p) in paths.iter().enumerate() {
                        let segs: Vec<&str> = p.split('/').collect();
                        let marker = format!("SECRET-{}-{}-{dir}-{i}", d.op, p);
                        let mut one = json!({"Harmless": "visible-value"});
                        plant(&mut one, &segs, &marker);
                        plant(&mut all, &segs, &marker);
                        for out in redact_both(service, d.op, dir, &one) {
                            let s = out.to_string();
                            assert!(
                                !s.contains(&marker),
                                "{service:?} {} {dir} {p} survived: {s}",
                                d.op
                            );
                        }
                        checked += 1;
                    }
                    for out in redact_both(service, d.op, dir, &all) {
                        let s = out.to_string();
                        assert!(!s.contains("SECRET-"), "{service:?} {} {dir}: {s}", d.op);
                    }
                }
            }
        }
        assert!(checked > 60, "only {checked} members checked");
    }

    fn redact_both(service: Service, op: &str, dir: &str, v: &Value) -> Vec<Value> {
        if dir == "input" {
            vec![request_parameters(service, op, v)]
        } else {
            vec![
                response_elements(service, op, false, v),
                response_elements(service, op, true, v),
            ]
        }
    }

    /// The same markers planted under a *different* operation of the same service still go (the
    /// name-based net), except where a name is harmless in that position.
    #[test]
    fn sensitive_names_go_everywhere() {
        let req = json!({"SecretString": "s3cr3t", "Nested": [{"SecretBinary": "Ymlu", "Password": "pw"}], "Credentials": {"AccessKeyId": "ASIA1", "SecretAccessKey": "sk", "SessionToken": "tok"}});
        for service in Service::ALL {
            let s = request_parameters(service, "SomeNewOperation", &req).to_string();
            for bad in ["s3cr3t", "Ymlu", "\"pw\"", "\"sk\"", "tok"] {
                assert!(!s.contains(bad), "{service:?}: {s}");
            }
        }
    }

    #[test]
    fn kms_crypto_operations_as_documented() {
        let ctx = json!({"Department": "Engineering", "Plaintext": "context values are logged"});
        let enc = request_parameters(
            Service::Kms,
            "Encrypt",
            &json!({"KeyId": "alias/a", "Plaintext": "cGxhaW4=", "EncryptionContext": ctx}),
        );
        assert_eq!(
            enc,
            json!({"keyId": "alias/a", "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": ctx})
        );
        let dec = request_parameters(
            Service::Kms,
            "Decrypt",
            &json!({"CiphertextBlob": "Y3Q=", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256", "KeyId": "k"}),
        );
        assert_eq!(
            dec,
            json!({"keyId": "k", "encryptionAlgorithm": "RSAES_OAEP_SHA_256"})
        );
        let gdk = request_parameters(
            Service::Kms,
            "GenerateDataKey",
            &json!({"KeyId": "k", "KeySpec": "AES_256", "Recipient": {"AttestationDocument": "YXR0"}}),
        );
        assert_eq!(gdk, json!({"keyId": "k", "keySpec": "AES_256"}));
        let re = request_parameters(
            Service::Kms,
            "ReEncrypt",
            &json!({"CiphertextBlob": "Y3Q=", "DestinationKeyId": "k2"}),
        );
        assert_eq!(
            re,
            json!({"destinationKeyId": "k2", "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT", "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
        );
        let sign = request_parameters(
            Service::Kms,
            "Verify",
            &json!({"KeyId": "k", "Message": "bXNn", "Signature": "c2ln", "SigningAlgorithm": "ECDSA_SHA_256", "MessageType": "RAW"}),
        );
        assert_eq!(
            sign,
            json!({"keyId": "k", "signingAlgorithm": "ECDSA_SHA_256", "messageType": "RAW"})
        );
        let imp = request_parameters(
            Service::Kms,
            "ImportKeyMaterial",
            &json!({"KeyId": "k", "ImportToken": "dG9r", "EncryptedKeyMaterial": "a20=", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        );
        assert_eq!(
            imp,
            json!({"keyId": "k", "expirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"})
        );
        // Read-only: no response elements at all.
        assert_eq!(
            response_elements(
                Service::Kms,
                "Decrypt",
                true,
                &json!({"Plaintext": "cA==", "KeyId": "k"})
            ),
            Value::Null
        );
        // A write: members in CloudTrail's case, nested too.
        let ck = response_elements(
            Service::Kms,
            "CreateKey",
            false,
            &json!({"KeyMetadata": {"AWSAccountId": "1", "KeyId": "k", "Arn": "arn"}}),
        );
        assert_eq!(
            ck,
            json!({"keyMetadata": {"aWSAccountId": "1", "keyId": "k", "arn": "arn"}})
        );
        // No parameters at all: null, as CloudTrail writes ListKeys.
        assert_eq!(
            request_parameters(Service::Kms, "ListKeys", &json!({})),
            Value::Null
        );
    }

    #[test]
    fn secrets_manager_values_never_recorded() {
        let put = request_parameters(
            Service::SecretsManager,
            "PutSecretValue",
            &json!({"SecretId": "db", "SecretString": "hunter2", "ClientRequestToken": "t", "RotationToken": "rt"}),
        );
        assert_eq!(put, json!({"secretId": "db", "clientRequestToken": "t"}));
        let create = request_parameters(
            Service::SecretsManager,
            "CreateSecret",
            &json!({"Name": "db", "SecretBinary": "Ymlu", "Tags": [{"Key": "k", "Value": "v"}]}),
        );
        assert_eq!(
            create,
            json!({"name": "db", "tags": [{"key": "k", "value": "v"}]})
        );
        let put_resp = response_elements(
            Service::SecretsManager,
            "PutSecretValue",
            false,
            &json!({"ARN": "arn:s", "Name": "db", "VersionId": "v1", "VersionStages": ["AWSCURRENT"]}),
        );
        assert_eq!(
            put_resp,
            json!({"aRN": "arn:s", "name": "db", "versionId": "v1", "versionStages": ["AWSCURRENT"]})
        );
        let get = response_elements(
            Service::SecretsManager,
            "GetSecretValue",
            true,
            &json!({"SecretString": "hunter2"}),
        );
        assert_eq!(get, Value::Null);
        // Even if a caller marks them read-write by mistake, the values go.
        let batch = response_elements(
            Service::SecretsManager,
            "BatchGetSecretValue",
            false,
            &json!({"SecretValues": [{"Name": "a", "SecretString": "x1"}, {"Name": "b", "SecretBinary": "eDI="}]}),
        );
        assert_eq!(
            batch,
            json!({"secretValues": [{"name": "a"}, {"name": "b"}]})
        );
        let pw = response_elements(
            Service::SecretsManager,
            "GetRandomPassword",
            false,
            &json!({"RandomPassword": "r4nd"}),
        );
        assert_eq!(pw, Value::Null);
        // Map keys keep their case.
        let stages = response_elements(
            Service::SecretsManager,
            "ListSecretVersionIds",
            false,
            &json!({"Versions": [], "SecretVersionsToStages": {"VersionA": ["AWSCURRENT"]}}),
        );
        assert_eq!(
            stages,
            json!({"versions": [], "secretVersionsToStages": {"VersionA": ["AWSCURRENT"]}})
        );
    }

    #[test]
    fn sts_and_iam_credentials() {
        let resp = json!({"Credentials": {"AccessKeyId": "ASIAX", "SecretAccessKey": "sk", "SessionToken": "st", "Expiration": "2025-01-01T00:00:00Z"}, "AssumedRoleUser": {"Arn": "arn:aws:sts::1:assumed-role/r/s", "AssumedRoleId": "AROA:s"}, "PackedPolicySize": 6});
        let out = response_elements(Service::Sts, "AssumeRole", true, &resp);
        assert_eq!(
            out,
            json!({"credentials": {"accessKeyId": "ASIAX", "expiration": "2025-01-01T00:00:00Z"}, "assumedRoleUser": {"arn": "arn:aws:sts::1:assumed-role/r/s", "assumedRoleId": "AROA:s"}, "packedPolicySize": 6})
        );
        assert_eq!(
            response_elements(
                Service::Sts,
                "GetCallerIdentity",
                true,
                &json!({"Account": "1"})
            ),
            Value::Null
        );
        let wi = request_parameters(
            Service::Sts,
            "AssumeRoleWithWebIdentity",
            &json!({"RoleArn": "arn:r", "WebIdentityToken": "eyJ", "RoleSessionName": "s"}),
        );
        assert_eq!(wi, json!({"roleArn": "arn:r", "roleSessionName": "s"}));
        let key = response_elements(
            Service::Iam,
            "CreateAccessKey",
            false,
            &json!({"AccessKey": {"AccessKeyId": "AKIA1", "SecretAccessKey": "sk", "Status": "Active", "UserName": "u"}}),
        );
        assert_eq!(
            key,
            json!({"accessKey": {"accessKeyId": "AKIA1", "status": "Active", "userName": "u"}})
        );
        let pw = request_parameters(
            Service::Iam,
            "ChangePassword",
            &json!({"OldPassword": "a", "NewPassword": "b"}),
        );
        assert_eq!(pw, Value::Null);
        let slr = request_parameters(
            Service::Iam,
            "CreateServiceLinkedRole",
            &json!({"AWSServiceName": "x.amazonaws.com"}),
        );
        assert_eq!(slr, json!({"aWSServiceName": "x.amazonaws.com"}));
    }

    #[test]
    fn read_only_defaults() {
        assert!(default_read_only(Service::Kms, "Decrypt"));
        assert!(default_read_only(Service::Kms, "DescribeKey"));
        assert!(!default_read_only(Service::Kms, "CreateKey"));
        assert!(default_read_only(Service::Sts, "AssumeRole"));
        assert!(default_read_only(Service::SecretsManager, "GetSecretValue"));
        assert!(!default_read_only(
            Service::SecretsManager,
            "PutSecretValue"
        ));
        assert!(default_read_only(Service::CloudTrail, "LookupEvents"));
    }

    #[test]
    fn lower_camel_lowers_the_first_character_only() {
        assert_eq!(lower_camel("KeyId"), "keyId");
        assert_eq!(lower_camel("ARN"), "aRN");
        assert_eq!(lower_camel("SAMLAssertionID"), "sAMLAssertionID");
        assert_eq!(lower_camel(""), "");
    }
}
