//! Fuzzes the whole configuration load: key tree, typed model and validation. Any text
//! gives a model or a list of diagnostics, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let result = baton::config::load_str("/nonexistent-baton-fuzz/cherokee.conf", &text);
    if result.config.is_some() {
        assert!(result.errors().next().is_none());
    }
});
