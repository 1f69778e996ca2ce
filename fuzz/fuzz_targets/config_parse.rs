//! Fuzzes the cherokee.conf reader: any text must parse without panicking,
//! write back unchanged, and build a tree; and the server's reader (lines read in
//! one pass, nodes pointing into the text) must build the same tree.
#![no_main]

use baton_conf::{load_tree_text, tree_from_files, ConfFile, Node};
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
    // Without includes (which would be read from disk), the server's reader agrees.
    if file.entries().all(|e| e.key != "include") {
        let fast = load_tree_text("fuzz.conf".as_ref(), text.clone().into_owned());
        let values = |root: Node<'_>| {
            root.values()
                .into_iter()
                .map(|(k, v)| {
                    let location = root.get(&k).and_then(|n| n.location());
                    (k, v.to_owned(), location)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(values(fast.tree.root()), values(root));
        assert_eq!(fast.tree.into_text(), *text);
    }
});
