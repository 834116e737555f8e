//! The configuration file as `coffer serve --config` reads it: the TOML text (up to the first
//! NUL byte), then `COFFER_<SECTION>_<KEY>=value` lines over it (after the NUL), then the checks.
//! Every rejection must be a `ConfigError` naming the key, never a panic (the messages slice the
//! file's text around the error's span).
#![no_main]

use coffer::config::{Config, Flags};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(c) = Config::from_text("coffer.toml", file, &env, &Flags::default()) {
        let _ = c.in_memory();
    }
});
