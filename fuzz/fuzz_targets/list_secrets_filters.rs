//! ListSecrets with arbitrary Filters (keys, values, negation, wildcards) over a few secrets.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use coffer_fuzz::harness;
use coffer_model::ops::SecretsManagerOp;
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

#[derive(Arbitrary, Debug)]
struct Filter {
    key: u8,
    raw_key: Option<String>,
    values: Vec<String>,
}

fuzz_target!(|data: &[u8]| {
    static SEED: Once = Once::new();
    let h = harness();
    SEED.call_once(|| {
        for (name, desc) in [("prod/db", "database"), ("app!x", "!neg"), ("Tagged", "")] {
            let body = serde_json::json!({
                "Name": name, "SecretString": "v", "Description": desc,
                "Tags": [{"Key": "env", "Value": "prod"}, {"Key": "team!", "Value": "a b"}]
            });
            let op = SecretsManagerOp::CreateSecret.info();
            h.json(op, serde_json::to_vec(&body).unwrap_or_default());
        }
    });
    let mut u = Unstructured::new(data);
    let Ok(filters) = u.arbitrary::<Vec<Filter>>() else { return };
    const KEYS: [&str; 8] = [
        "description", "name", "tag-key", "tag-value", "primary-region",
        "owning-service", "all", "other",
    ];
    let filters: Vec<serde_json::Value> = filters
        .into_iter()
        .map(|f| {
            let key = f.raw_key.unwrap_or_else(|| KEYS[f.key as usize % KEYS.len()].into());
            serde_json::json!({"Key": key, "Values": f.values})
        })
        .collect();
    let body = serde_json::json!({"Filters": filters, "IncludePlannedDeletion": true});
    h.json(
        SecretsManagerOp::ListSecrets.info(),
        serde_json::to_vec(&body).unwrap_or_default(),
    );
});
