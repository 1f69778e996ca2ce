//! Size check: a million-line configuration (10,000 virtual servers with
//! 100 rules each) loads into the right tree and round-trips. It prints how
//! long each step took but asserts nothing about time: speed targets live in
//! `bench/` (the vhost scenario). Run in release mode:
//! `cargo test -p baton-conf --release --test perf -- --ignored --nocapture`

use std::fmt::Write;
use std::time::{Duration, Instant};

use baton_conf::{load_str, tree_from_files, ConfFile};

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

/// CPU time used by this thread so far, where Linux tells us (the wall
/// clock on a busy shared machine says little about our own speed).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 1/100 s on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

#[test]
#[ignore = "slow in debug builds; run with --release -- --ignored"]
fn a_million_lines_load_and_round_trip() {
    let text = big_config();

    let start = Instant::now();
    let cpu_start = cpu_time();
    let loaded = load_str("/nonexistent-baton-dir/big.conf", &text);
    let wall = start.elapsed();
    let cpu = cpu_time().zip(cpu_start).map(|(end, start)| end - start);
    println!("load_str (parse + tree), 1,010,002 lines: {wall:?} wall, {cpu:?} CPU");
    let total = cpu.unwrap_or(wall);
    assert!(loaded.diagnostics.is_empty());
    assert_eq!(loaded.files[0].line_count(), 1_010_002);
    let (vservers, _) = loaded.tree.root().child("vserver").unwrap().numbered();
    assert_eq!(vservers.len(), 10_000);
    let (rules, _) = vservers[9_999].1.child("rule").unwrap().numbered();
    assert_eq!(rules.len(), 100);
    assert_eq!(rules[99].1.get_value("match!directory"), Some("/dir100"));

    let start = Instant::now();
    let (tree, _) = tree_from_files(&loaded.files);
    let root = tree.root();
    println!("tree_from_files: {:?}", start.elapsed());
    assert_eq!(root.values().len(), 1_010_001);
    drop(tree);

    let start = Instant::now();
    let (file, diagnostics) = ConfFile::parse("big.conf", &text);
    println!(
        "ConfFile::parse (with the repeated-key check): {:?}",
        start.elapsed()
    );
    assert!(diagnostics.is_empty());
    assert_eq!(file.to_text(), text);

    // For the reader: 0.3 s of CPU measured on a busy shared two-core VM
    // once the tree became an arena (1.2-1.4 s before).
    println!("load_str total: {total:?}");
}
