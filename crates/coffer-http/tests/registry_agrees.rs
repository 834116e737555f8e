//! The generated operation registry (coffer_model::ops) agrees with the tables still written by
//! hand: dispatch's operation lists and hot set, the IAM front's served list, the STS actions the
//! Query front routes, and KMS's per-operation key rules (coffer_kms::ops).
//!
//! Temporary: delete this file once dispatch, authorization and the KMS key checks read the
//! registry and the hand tables are gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_http::dispatch::{is_hot, KMS_OPERATIONS, SECRETS_MANAGER_OPERATIONS};
use coffer_model::ops::{KmsAction, Op, Service};
use std::collections::BTreeSet;

fn served(service: Service) -> BTreeSet<&'static str> {
    service
        .operations()
        .iter()
        .filter(|o| o.served)
        .map(|o| o.name)
        .collect()
}

fn model(service: Service) -> BTreeSet<&'static str> {
    service.operations().iter().map(|o| o.name).collect()
}

#[test]
fn dispatch_lists_are_the_models_and_all_served() {
    let kms: BTreeSet<&str> = KMS_OPERATIONS.iter().copied().collect();
    assert_eq!(
        kms.len(),
        KMS_OPERATIONS.len(),
        "KMS_OPERATIONS repeats a name"
    );
    assert_eq!(kms, model(Service::Kms));
    assert_eq!(kms, served(Service::Kms));
    let sm: BTreeSet<&str> = SECRETS_MANAGER_OPERATIONS.iter().copied().collect();
    assert_eq!(sm.len(), SECRETS_MANAGER_OPERATIONS.len());
    assert_eq!(sm, model(Service::SecretsManager));
    assert_eq!(sm, served(Service::SecretsManager));
}

#[test]
fn is_hot_is_the_hot_set() {
    for &op in Op::ALL {
        let info = op.info();
        let hand =
            matches!(op.service(), Service::Kms | Service::SecretsManager) && is_hot(info.name);
        assert_eq!(hand, info.hot, "{}: is_hot says {hand}", info.name);
    }
}

#[test]
fn the_query_fronts_serve_the_served_sets() {
    let iam: BTreeSet<&str> = coffer_http::iam::OPERATIONS.iter().copied().collect();
    assert_eq!(iam.len(), coffer_http::iam::OPERATIONS.len());
    assert_eq!(iam, served(Service::Iam));
    // coffer-http's lib.rs routes these two STS actions (`query_request`).
    assert_eq!(
        served(Service::Sts),
        BTreeSet::from(["AssumeRole", "GetCallerIdentity"])
    );
    assert!(served(Service::CloudTrail).is_empty());
}

#[test]
fn key_rules_are_kms_ops_rules() {
    use coffer_kms::ops;
    let mut with_rules: BTreeSet<&str> = Service::Kms
        .actions()
        .iter()
        .filter(|a| a.key.is_some())
        .map(|a| a.name)
        .collect();
    for k in ops::ALL {
        let a = KmsAction::from_name(k.name)
            .unwrap_or_else(|| panic!("{} is no action of the registry", k.name))
            .info();
        assert_eq!(a.iam, k.action, "{}", k.name);
        let rule = a
            .key
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no key rule", k.name));
        let hand: Vec<&str> = k.states.iter().map(|s| s.as_str()).collect();
        let generated: Vec<&str> = rule.states.iter().map(|s| s.as_str()).collect();
        assert_eq!(generated, hand, "{}: states", k.name);
        assert_eq!(rule.usage.map(|u| u.as_str()), k.usage, "{}: usage", k.name);
        assert_eq!(rule.symmetric_only, k.symmetric_only, "{}", k.name);
        assert_eq!(rule.asymmetric_only, k.asymmetric_only, "{}", k.name);
        assert_eq!(rule.accepts_alias, k.accepts_alias, "{}: alias", k.name);
        assert_eq!(ops::by_name(k.name).map(|o| o.name), Some(k.name));
        with_rules.remove(k.name);
    }
    assert!(
        with_rules.is_empty(),
        "key rules the hand table lacks: {with_rules:?}"
    );
}
