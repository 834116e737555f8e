//! The ciphertext-blob parser (ADR 0001) and authenticated open with a fixed key: every input is
//! a typed CryptoError or a plaintext, never a panic.
#![no_main]

use coffer_crypto::aead::SymmetricKey;
use coffer_crypto::ciphertext::{self, EncryptionContext};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static KEY: OnceLock<SymmetricKey> = OnceLock::new();
    let key = KEY.get_or_init(|| SymmetricKey::from_slice(&[7u8; 32]).expect("key"));
    if let Ok(p) = ciphertext::parse(data) {
        let _ = p.header.key_id.len();
        let mut ctx = EncryptionContext::new();
        let _ = p.open(key, &ctx);
        ctx.insert("purpose".into(), "fuzz".into());
        let _ = p.open(key, &ctx);
    }
});
