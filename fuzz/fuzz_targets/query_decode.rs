//! The Query-protocol form decoder for every STS and IAM operation's input shape, straight from
//! form pairs (no server): every input decodes or is a QueryError.
#![no_main]

use coffer_fuzz::query_operations;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ops = query_operations();
    let Some((&i, rest)) = data.split_first() else { return };
    let op = ops[i as usize % ops.len()];
    let params: Vec<(String, String)> = form_urlencoded::parse(rest)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(shape) = op.input {
        let _ = coffer_protocol::query::decode(shape, &params);
        let _ = coffer_protocol::query::decode_strict(shape, &params);
    }
});
