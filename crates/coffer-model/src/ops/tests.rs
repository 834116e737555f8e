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
    let path = format!(
        "{}/../../model/botocore/{dir}/service-2.json",
        env!("CARGO_MANIFEST_DIR")
    );
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
            assert_eq!(d["input"]["shape"].as_str(), o.input_shape, "{}", o.name);
            assert_eq!(d["output"]["shape"].as_str(), o.output_shape, "{}", o.name);
            let errors: Vec<&str> = d["errors"]
                .as_array()
                .map(|e| e.iter().map(|e| e["shape"].as_str().unwrap()).collect())
                .unwrap_or_default();
            assert_eq!(errors, o.errors, "{}", o.name);
            assert!(!o.hot || o.served, "{} is hot but not served", o.name);
            for c in o.checks.iter().filter(|c| !c.resource.locators.is_empty()) {
                let input = &m["shapes"][o.input_shape.unwrap()]["members"];
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
    for name in crate::kms::GRANT_OPERATIONS {
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
    let unserved = IamOp::CreateUser.info();
    assert!(!unserved.served);
    assert_eq!(unserved.resource().unwrap().kind, ResourceKind::Unknown);
    assert_eq!(unserved.action().unwrap().iam, "iam:CreateUser");
    assert!(StsOp::AssumeRoleWithWebIdentity.info().unsigned);
    assert_eq!(IamOp::GetRole.info().result_wrapper, Some("GetRoleResult"));
}
