//! Every JSON 1.1 operation of the registry (KMS, Secrets Manager, CloudTrail) through the whole
//! request path: either a raw body, or the model's sample input with members replaced. A new
//! operation in the registry is fuzzed without new code.
#![no_main]

use arbitrary::Unstructured;
use coffer_fuzz::{arbitrary_json, harness, json_operations, mutate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ops = json_operations();
    let mut u = Unstructured::new(data);
    let Ok(i) = u.arbitrary::<u16>() else { return };
    let op = ops[i as usize % ops.len()];
    let Ok(raw) = u.arbitrary::<bool>() else { return };
    let body = if raw {
        u.take_rest().to_vec()
    } else {
        let mut v = op
            .input
            .map(coffer_protocol::sample::value)
            .unwrap_or_else(|| serde_json::json!({}));
        let n = u.int_in_range(0..=3u8).unwrap_or(0);
        for _ in 0..n {
            let path: Vec<u8> = u.arbitrary().unwrap_or_default();
            let new = arbitrary_json(&mut u, 2);
            mutate(&mut v, &path, new);
        }
        serde_json::to_vec(&v).unwrap_or_default()
    };
    harness().json(op, body);
});
