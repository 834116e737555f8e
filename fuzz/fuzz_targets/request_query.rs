//! Every Query-protocol operation of the registry (STS, IAM) through the whole request path, the
//! form body after `Action` and `Version` from the fuzzer.
#![no_main]

use coffer_fuzz::{harness, query_operations};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ops = query_operations();
    let Some((&i, rest)) = data.split_first() else { return };
    let op = ops[i as usize % ops.len()];
    let service = op.service.info().signing_name;
    harness().query(op, service, rest);
});
