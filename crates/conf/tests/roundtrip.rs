//! Property tests: no input makes the parser panic, and unedited text
//! always writes back unchanged.

use baton_conf::{tree_from_files, ConfFile};
use proptest::prelude::*;

/// Text made mostly of the characters that matter to the format.
fn conf_like() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\r".to_owned()),
            Just("=".to_owned()),
            Just("!".to_owned()),
            Just("#".to_owned()),
            Just(" ".to_owned()),
            Just("\t".to_owned()),
            Just("\u{feff}".to_owned()),
            Just("include".to_owned()),
            "[a-z0-9]{1,6}",
            any::<char>().prop_map(String::from),
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn any_string_round_trips(text in any::<String>()) {
        let (file, _) = ConfFile::parse("p.conf", &text);
        prop_assert_eq!(file.to_text(), text);
    }

    #[test]
    fn conf_like_text_round_trips_and_builds(text in conf_like()) {
        let (file, _) = ConfFile::parse("p.conf", &text);
        prop_assert_eq!(&file.to_text(), &text);
        // Every entry read back is found in the tree (unless it is an
        // include). `tree_from_files` never reads the disk, so random
        // include lines cannot make the test read arbitrary files.
        let (tree, _) = tree_from_files(std::slice::from_ref(&file));
    let root = tree.root();
        for entry in file.entries() {
            if entry.key != "include" {
                prop_assert!(root.get(entry.key).is_some());
            }
        }
    }

    #[test]
    fn edits_always_read_back(
        text in conf_like(),
        key in "[a-z]{1,3}(![a-z0-9]{1,3}){0,3}",
        value in "[ -~]{0,10}",
    ) {
        let (mut file, _) = ConfFile::parse("p.conf", &text);
        let value = value.trim();
        file.set(&key, value).unwrap();
        prop_assert_eq!(file.get(&key), Some(value));
        let (reparsed, _) = ConfFile::parse("p.conf", &file.to_text());
        prop_assert_eq!(reparsed.get(&key), Some(value));
        let first = key.split('!').next().unwrap_or("");
        file.copy_tree(first, "copy");
        file.rename_tree(first, "moved");
        file.unset_tree("moved");
        let (reparsed, _) = ConfFile::parse("p.conf", &file.to_text());
        prop_assert_eq!(reparsed.to_text(), file.to_text());
        prop_assert!(reparsed.keys_under("moved").is_empty());
    }
}
