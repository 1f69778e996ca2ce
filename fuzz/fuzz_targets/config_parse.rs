//! Fuzzes the cherokee.conf reader: any text must parse without panicking,
//! write back unchanged, and build a tree.
#![no_main]

use baton_conf::{load_str, tree_from_files, ConfFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (file, _) = ConfFile::parse("fuzz.conf", &text);
    assert_eq!(file.to_text(), text);
    let (root, _) = tree_from_files(std::slice::from_ref(&file));
    for entry in file.entries() {
        if entry.key != "include" {
            assert!(root.get(entry.key).is_some());
        }
    }
    // Includes are resolved against a directory that does not exist, so
    // nothing outside the input is read.
    let loaded = load_str("/nonexistent-baton-fuzz/fuzz.conf", &text);
    assert_eq!(loaded.files[0].to_text(), text);
});
