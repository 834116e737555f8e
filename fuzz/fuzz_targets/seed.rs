//! Seed files as `coffer serve --seed` reads them (YAML, or JSON when the first byte is `{`),
//! checked, then applied to a fresh in-memory deployment as at start. Every rejection must be
//! an error naming the entry, never a panic.
#![no_main]

use coffer::seed::{apply, Loaded};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let json = text.starts_with('{');
    let dir = PathBuf::from("/nonexistent-coffer-fuzz");
    let Ok(seed) = Loaded::parse("seed.yaml".into(), text.to_string(), json, dir) else {
        return;
    };
    let Ok(root) = coffer_crypto::RootKey::generate() else { return };
    let store: Arc<dyn coffer_store::Store> = Arc::new(coffer_store::MemoryStore::new());
    let Ok(coffer) = coffer_http::Coffer::open(store, root, Arc::new(coffer_core::SystemClock))
    else {
        return;
    };
    let _ = apply(&coffer, &seed);
});
