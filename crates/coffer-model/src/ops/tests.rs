//! The generated registry against itself and against the vendored models.

use super::*;
use std::collections::BTreeSet;

/// The vendored model of `service`, parsed.
fn model(service: Service) -> serde_json::Value {
    let dir = match service {
        Service::Kms => "kms/2014-11-01",
        Service::SecretsManager => "secretsmanager/2017-10-17",
        Service::Sts => "sts/2011-06-15",
        Service::Iam => "iam/2010-05-08",
        Service::CloudTrail => "cloudtrail/2013-11-01",
    };
    // At run time: a build reused from a checkout elsewhere keeps the old compile-time path.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let path = format!("{manifest}/../../model/botocore/{dir}/service-2.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn enum_values(model: &serde_json::Value, shape: &str) -> Vec<String> {
    model["shapes"][shape]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{shape} is not an enum"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_name_finds_its_operation() {
    for &op in Op::ALL {
        let info = op.info();
        assert_eq!(info.service, op.service());
        assert_eq!(op.service().operation(op.name()), Some(op), "{op:?}");
        match op {
            Op::Kms(o) => assert_eq!(KmsOp::from_name(o.name()), Some(o)),
            Op::SecretsManager(o) => assert_eq!(SecretsManagerOp::from_name(o.name()), Some(o)),
            Op::Sts(o) => assert_eq!(StsOp::from_name(o.name()), Some(o)),
            Op::Iam(o) => assert_eq!(IamOp::from_name(o.name()), Some(o)),
            Op::CloudTrail(o) => assert_eq!(CloudTrailOp::from_name(o.name()), Some(o)),
        }
        let s = op.service();
        match s.protocol() {
            Protocol::Json => {
                let target = format!("{}.{}", s.target_prefix().unwrap(), op.name());
                assert_eq!(from_target(&target), Some(op), "{target}");
                assert_eq!(from_query(s.signing_name(), op.name()), None);
            }
            Protocol::Query => {
                assert_eq!(from_query(s.signing_name(), op.name()), Some(op));
                assert!(s.target_prefix().is_none());
            }
        }
    }
    for &s in Service::ALL {
        assert_eq!(Service::from_signing_name(s.signing_name()), Some(s));
        let ops: Vec<&str> = Op::ALL
            .iter()
            .filter(|o| o.service() == s)
            .map(|o| o.name())
            .collect();
        let table: Vec<&str> = s.operations().iter().map(|o| o.name).collect();
        assert_eq!(ops, table, "{s:?}: Op::ALL and the table differ");
        assert!(
            table.windows(2).all(|w| w[0] < w[1]),
            "{s:?} not in name order"
        );
        for a in s.actions() {
            assert_eq!(a.service, s);
            assert_eq!(s.action(a.name), Some(a));
            assert_eq!(a.iam, format!("{}:{}", s.action_prefix(), a.name));
        }
    }
    assert_eq!(KmsOp::ALL.len(), Service::Kms.operations().len());
    assert_eq!(KmsAction::ALL.len(), Service::Kms.actions().len());
    for &a in KmsAction::ALL {
        assert_eq!(KmsAction::from_name(a.name()), Some(a));
    }
}

#[test]
fn unknown_names_find_nothing() {
    assert_eq!(from_target("TrentService.Nope"), None);
    assert_eq!(from_target("TrentService"), None);
    assert_eq!(from_target("Nope.Encrypt"), None);
    assert_eq!(from_target("secretsmanager.Encrypt"), None);
    assert_eq!(from_target(""), None);
    assert_eq!(from_query("kms", "Encrypt"), None);
    assert_eq!(from_query("iam", "AssumeRole"), None);
    assert_eq!(KmsOp::from_name("encrypt"), None);
    assert_eq!(Service::from_signing_name("s3"), None);
    // The CloudTrail target prefix holds dots of its own.
    let prefix = Service::CloudTrail.target_prefix().unwrap();
    assert!(prefix.contains('.'));
    assert_eq!(
        from_target(&format!("{prefix}.LookupEvents")),
        Some(Op::CloudTrail(CloudTrailOp::LookupEvents))
    );
}

#[test]
fn the_table_is_the_model() {
    for &s in Service::ALL {
        let m = model(s);
        let meta = &m["metadata"];
        let info = s.info();
        assert_eq!(info.service, s);
        assert_eq!(meta["apiVersion"], info.api_version);
        assert_eq!(meta["protocol"], info.protocol.as_str());
        assert_eq!(meta["serviceId"], info.service_id);
        assert_eq!(meta["targetPrefix"].as_str(), info.target_prefix);
        assert_eq!(meta["xmlNamespace"].as_str(), info.xml_namespace);
        let ops = m["operations"].as_object().unwrap();
        let names: BTreeSet<&str> = ops.keys().map(String::as_str).collect();
        let table: BTreeSet<&str> = s.operations().iter().map(|o| o.name).collect();
        assert_eq!(names, table, "{s:?}");
        for o in s.operations() {
            let d = &ops[o.name];
            assert_eq!(
                d["input"]["shape"].as_str(),
                o.input.map(|s| s.name),
                "{}",
                o.name
            );
            assert_eq!(
                d["output"]["shape"].as_str(),
                o.output.map(|s| s.name),
                "{}",
                o.name
            );
            let errors: Vec<&str> = d["errors"]
                .as_array()
                .map(|e| e.iter().map(|e| e["shape"].as_str().unwrap()).collect())
                .unwrap_or_default();
            assert_eq!(errors, o.errors, "{}", o.name);
            assert!(!o.hot || o.served, "{} is hot but not served", o.name);
            for c in o.checks.iter().filter(|c| !c.resource.locators.is_empty()) {
                let input = &m["shapes"][o.input.unwrap().name]["members"];
                for l in c.resource.locators {
                    assert!(input.get(l.member()).is_some(), "{}: {l:?}", o.name);
                }
            }
        }
    }
    assert_eq!(Service::Kms.target_prefix(), Some("TrentService"));
    assert_eq!(Service::Kms.event_source(), "kms.amazonaws.com");
    assert_eq!(Service::SecretsManager.signing_name(), "secretsmanager");
    assert_eq!(Service::Iam.protocol(), Protocol::Query);
    assert_eq!(Service::Sts.api_version(), "2011-06-15");
}

#[test]
fn key_states_and_usages_are_the_models() {
    let m = model(Service::Kms);
    let states = enum_values(&m, "KeyState");
    for s in KeyState::ALL {
        assert!(states.contains(&s.as_str().to_string()), "{s:?}");
        assert_eq!(KeyState::from_name(s.as_str()), Some(*s));
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
    let missing: Vec<&String> = states
        .iter()
        .filter(|s| KeyState::from_name(s).is_none())
        .collect();
    assert_eq!(missing, ["Creating", "Unavailable", "Updating"]);
    let usages = enum_values(&m, "KeyUsageType");
    let ours: Vec<&str> = KeyUsage::ALL.iter().map(|u| u.as_str()).collect();
    assert_eq!(usages, ours);
    for u in KeyUsage::ALL {
        assert_eq!(KeyUsage::from_name(u.as_str()), Some(*u));
        assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
    }
}

#[test]
fn reencrypt_is_two_actions_on_two_keys() {
    let op = KmsOp::ReEncrypt.info();
    let actions: Vec<&str> = op.actions().collect();
    assert_eq!(actions, ["kms:ReEncryptFrom", "kms:ReEncryptTo"]);
    assert!(KmsAction::from_name("ReEncrypt").is_none());
    let from = KmsAction::ReEncryptFrom.info();
    assert_eq!(op.checks[0].action, from);
    assert_eq!(
        op.checks[0].resource.locators,
        [
            Locator::Ciphertext("CiphertextBlob"),
            Locator::Member("SourceKeyId")
        ]
    );
    let rule = from.key.as_ref().unwrap();
    assert_eq!(rule.states, [KeyState::Enabled]);
    assert_eq!(rule.usage, Some(KeyUsage::EncryptDecrypt));
    assert!(rule.accepts_alias);
    assert_eq!(op.key(), Some(rule));
    // Every grant operation is an action.
    for name in crate::kms::grant_operations() {
        assert!(KmsAction::from_name(name).is_some(), "{name}");
    }
}

#[test]
fn key_rules_decide_support() {
    let gdk = KmsOp::GenerateDataKey.info().key().unwrap();
    assert!(gdk.supported_by("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"));
    assert!(!gdk.supported_by("RSA_2048", "ENCRYPT_DECRYPT"));
    assert!(!gdk.supported_by("SYMMETRIC_DEFAULT", "SIGN_VERIFY"));
    let pk = KmsOp::GetPublicKey.info().key().unwrap();
    assert!(pk.supported_by("ECC_NIST_P256", "SIGN_VERIFY"));
    assert!(!pk.supported_by("HMAC_256", "GENERATE_VERIFY_MAC"));
    assert!(!pk.supported_by("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"));
    let cancel = KmsOp::CancelKeyDeletion.info().key().unwrap();
    assert!(cancel.accepts(KeyState::PendingDeletion));
    assert!(!cancel.accepts(KeyState::Enabled));
    assert!(KmsOp::CreateKey.info().key().is_none());
}

#[test]
fn checks_say_what_authorizes() {
    let gcid = StsOp::GetCallerIdentity.info();
    assert!(gcid.checks.is_empty() && gcid.served && gcid.read_only);
    let assume = StsOp::AssumeRole.info();
    assert_eq!(assume.action().unwrap().iam, "sts:AssumeRole");
    assert_eq!(assume.resource().unwrap().kind, ResourceKind::Role);
    let list = KmsOp::ListAliases.info().resource().unwrap();
    assert!(list.optional);
    assert!(!KmsOp::Encrypt.info().resource().unwrap().optional);
    let create = SecretsManagerOp::CreateSecret.info();
    assert_eq!(
        create.resource().unwrap().locators,
        [Locator::Member("Name")]
    );
    assert_eq!(create.idempotency_token, Some("ClientRequestToken"));
    let unserved = IamOp::CreateLoginProfile.info();
    assert!(!unserved.served);
    assert_eq!(unserved.resource().unwrap().kind, ResourceKind::Unknown);
    assert_eq!(unserved.action().unwrap().iam, "iam:CreateLoginProfile");
    let group = IamOp::CreateGroup.info();
    assert!(group.served);
    assert_eq!(group.resource().unwrap().kind, ResourceKind::Group);
    assert!(StsOp::AssumeRoleWithWebIdentity.info().unsigned);
    assert_eq!(IamOp::GetRole.info().result_wrapper, Some("GetRoleResult"));
}

/// The shape of `r` (a member reference in the model) is `m`'s, with the same traits.
fn same_member(model: &serde_json::Value, r: &serde_json::Value, m: &Member, at: &str) {
    assert_eq!(r["shape"].as_str(), Some(m.target.name), "{at}");
    assert_eq!(r["locationName"].as_str(), m.location_name, "{at}");
    assert_eq!(
        r["flattened"].as_bool().unwrap_or(false),
        m.flattened,
        "{at}"
    );
    assert_eq!(
        r["idempotencyToken"].as_bool().unwrap_or(false),
        m.idempotency_token,
        "{at}"
    );
    assert!(model["shapes"].get(m.target.name).is_some(), "{at}");
}

fn bound(v: &serde_json::Value) -> Option<i64> {
    v.as_i64()
}

#[test]
fn shapes_are_the_models() {
    use shape::ShapeKind as K;
    let mut total = 0;
    for &s in Service::ALL {
        let m = model(s);
        let shapes = m["shapes"].as_object().unwrap();
        let table = match s {
            Service::Kms => &kms::SHAPES[..],
            Service::SecretsManager => &secretsmanager::SHAPES[..],
            Service::Sts => &sts::SHAPES[..],
            Service::Iam => &iam::SHAPES[..],
            Service::CloudTrail => &cloudtrail::SHAPES[..],
        };
        assert_eq!(table.len(), shapes.len(), "{s:?}");
        assert!(table.windows(2).all(|w| w[0].name < w[1].name));
        for (name, d) in shapes {
            total += 1;
            let shape = s
                .shape(name)
                .unwrap_or_else(|| panic!("{s:?} has no shape {name}"));
            assert_eq!(shape.name, name);
            assert_eq!(shape.service, s);
            assert_eq!(d["type"].as_str(), Some(shape.kind.name()), "{name}");
            assert_eq!(
                d["sensitive"].as_bool().unwrap_or(false),
                shape.sensitive,
                "{name}"
            );
            match &shape.kind {
                K::Structure(st) => {
                    let members = d["members"].as_object().unwrap();
                    let names: Vec<&str> = members.keys().map(String::as_str).collect();
                    let ours: Vec<&str> = st.members.iter().map(|m| m.name).collect();
                    let mut sorted = ours.clone();
                    sorted.sort_unstable();
                    assert_eq!(names, sorted, "{name}: members");
                    let required: Vec<&str> = d["required"]
                        .as_array()
                        .map(|r| r.iter().map(|x| x.as_str().unwrap()).collect())
                        .unwrap_or_default();
                    for mem in st.members {
                        assert_eq!(
                            required.contains(&mem.name),
                            mem.required,
                            "{name}.{}",
                            mem.name
                        );
                        same_member(&m, &members[mem.name], mem, &format!("{name}.{}", mem.name));
                    }
                    assert_eq!(
                        d["exception"].as_bool().unwrap_or(false),
                        st.exception,
                        "{name}"
                    );
                    if let Some(e) = d.get("error") {
                        let t = st.error.unwrap();
                        assert_eq!(e["code"].as_str(), t.code, "{name}");
                        assert_eq!(e["httpStatusCode"].as_u64(), t.http_status.map(u64::from));
                    }
                }
                K::List(l) => {
                    same_member(&m, &d["member"], &l.member, name);
                    assert_eq!(d["min"].as_u64(), l.length.min, "{name}");
                    assert_eq!(d["max"].as_u64(), l.length.max, "{name}");
                }
                K::Map(mp) => {
                    same_member(&m, &d["key"], &mp.key, name);
                    same_member(&m, &d["value"], &mp.value, name);
                }
                K::String(st) => {
                    let values: Vec<&str> = d["enum"]
                        .as_array()
                        .map(|r| r.iter().map(|x| x.as_str().unwrap()).collect())
                        .unwrap_or_default();
                    assert_eq!(values, st.enum_values, "{name}");
                    assert_eq!(d["pattern"].as_str(), st.pattern, "{name}");
                    assert_eq!(d["min"].as_u64(), st.length.min, "{name}");
                    assert_eq!(d["max"].as_u64(), st.length.max, "{name}");
                }
                K::Integer(r) | K::Long(r) => {
                    assert_eq!(bound(&d["min"]), r.min, "{name}");
                    assert_eq!(bound(&d["max"]), r.max, "{name}");
                }
                K::Blob(l) => {
                    assert_eq!(d["min"].as_u64(), l.min, "{name}");
                    assert_eq!(d["max"].as_u64(), l.max, "{name}");
                }
                _ => {}
            }
        }
    }
    assert!(total > 1500, "{total} shapes");
    // Members point at the same statics the tables hold.
    let input = KmsOp::Encrypt.info().input.unwrap();
    let key_id = input.structure().unwrap().member("KeyId").unwrap();
    assert!(std::ptr::eq(
        key_id.target,
        Service::Kms.shape("KeyIdType").unwrap()
    ));
    assert!(key_id.required);
    let plaintext = input.structure().unwrap().member("Plaintext").unwrap();
    assert!(plaintext.target.sensitive);
    let errors: Vec<&str> = KmsOp::Encrypt
        .info()
        .error_shapes()
        .map(|s| s.name)
        .collect();
    assert_eq!(errors, KmsOp::Encrypt.info().errors);
    let no_such = Service::Iam.shape("NoSuchEntityException").unwrap();
    let t = no_such.structure().unwrap().error.unwrap();
    assert_eq!(
        (t.code, t.http_status, t.sender_fault),
        (Some("NoSuchEntity"), Some(404), true)
    );
}
