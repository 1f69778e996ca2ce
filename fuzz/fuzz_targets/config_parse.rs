//! Fuzzes the cherokee.conf reader: any text must parse without panicking,
//! write back unchanged, and build a tree.
#![no_main]

use baton_conf::{tree_from_files, ConfFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (file, _) = ConfFile::parse("fuzz.conf", &text);
    assert_eq!(file.to_text().as_str(), &*text);
    let (tree, _) = tree_from_files(std::slice::from_ref(&file));
    let root = tree.root();
    // Every key read is in the tree (includes are consumed, and here name
    // no given file, so nothing is ever read from disk).
    for entry in file.entries() {
        if entry.key != "include" {
            assert!(root.get(entry.key).is_some());
        }
    }
});
