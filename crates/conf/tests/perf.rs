//! Size check: a million-line configuration (10,000 virtual servers with
//! 100 rules each) must load quickly. Run in release mode:
//! `cargo test -p baton-conf --release --test perf -- --ignored --nocapture`

use std::fmt::Write;
use std::time::Instant;

use baton_conf::{load_str, ConfFile};

fn big_config() -> String {
    let mut text = String::with_capacity(64 << 20);
    text.push_str("# generated\nserver!bind!1!port = 80\n");
    for vs in 1..=10_000u32 {
        let _ = writeln!(text, "vserver!{vs}!nick = host{vs}.example.com");
        for rule in 1..=100u32 {
            let _ = writeln!(
                text,
                "vserver!{vs}!rule!{}!match!directory = /dir{rule}",
                rule * 10
            );
        }
    }
    text
}

#[test]
#[ignore = "slow in debug builds; run with --release -- --ignored"]
fn a_million_lines_load_fast() {
    let text = big_config();
    let start = Instant::now();
    let lines = text.lines().filter(|l| l.contains('=')).count();
    println!("baseline (count lines with `=`): {:?}", start.elapsed());
    assert_eq!(lines, 1_010_001);
    let start = Instant::now();
    let copy = text.clone();
    println!("baseline (copy text): {:?}", start.elapsed());
    drop(copy);
    let start = Instant::now();
    let (file, diagnostics) = ConfFile::parse("big.conf", &text);
    let parsed = start.elapsed();
    assert!(diagnostics.is_empty());
    assert_eq!(file.line_count(), 1_010_002);
    let start = Instant::now();
    let (root, _) = baton_conf::tree_from_files(std::slice::from_ref(&file));
    println!("tree only: {:?}", start.elapsed());
    let start = Instant::now();
    drop(root);
    println!("drop tree: {:?}", start.elapsed());
    let start = Instant::now();
    let loaded = load_str("/nonexistent-baton-dir/big.conf", &text);
    let total = start.elapsed();
    assert!(loaded.diagnostics.is_empty());
    let (vservers, _) = loaded.root.child("vserver").unwrap().numbered();
    assert_eq!(vservers.len(), 10_000);
    let (rules, _) = vservers[9_999].1.child("rule").unwrap().numbered();
    assert_eq!(rules.len(), 100);
    println!("parse: {parsed:?}; parse + tree: {total:?}");
    if !cfg!(debug_assertions) {
        assert!(total.as_secs_f64() < 1.0, "too slow: {total:?}");
    }
}
