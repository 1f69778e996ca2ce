//! Reading whole configurations from disk: includes, merging, the sample.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use baton_conf::{load, load_str, load_tree, tree_from_files, ConfFile, Severity};

/// A fresh scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "baton-conf-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, text).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn include_file_takes_effect_at_the_include_line() {
    let dir = Scratch::new();
    dir.write(
        "extra.conf",
        "server!port = 81\nserver!timeout = 5\nserver!user = www\n",
    );
    let main = dir.write(
        "main.conf",
        "server!timeout = 1\ninclude = extra.conf\nserver!port = 80\n",
    );
    let loaded = load(&main).unwrap();
    assert_eq!(loaded.files.len(), 2);
    // Written after the include: the main file wins.
    assert_eq!(loaded.tree.root().get_value("server!port"), Some("80"));
    // Written before the include: the included file wins.
    assert_eq!(loaded.tree.root().get_value("server!timeout"), Some("5"));
    assert_eq!(loaded.tree.root().get_value("server!user"), Some("www"));
    assert!(loaded.tree.root().child("include").is_none());
    let user = loaded
        .tree
        .root()
        .get("server!user")
        .unwrap()
        .location()
        .unwrap();
    assert_eq!(user.line, 3);
    assert!(user.file.ends_with("extra.conf"));
    // Two keys set in both files: warnings, no errors.
    assert!(!loaded.has_errors());
    let warnings: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("server!timeout") && warnings[0].contains("main.conf:1"));
    assert!(warnings[1].contains("server!port") && warnings[1].contains("extra.conf:1"));
}

#[test]
fn include_directory_reads_files_by_name_skipping_hidden_and_backups() {
    let dir = Scratch::new();
    dir.write("conf.d/20-b.conf", "order = b\nb = 1\n");
    dir.write("conf.d/10-a.conf", "order = a\na = 1\n");
    dir.write("conf.d/.hidden.conf", "hidden = 1\n");
    dir.write("conf.d/30-c.conf~", "backup = 1\n");
    dir.write("conf.d/sub/x.conf", "sub = 1\n");
    let main = dir.write("main.conf", "include = conf.d\n");
    let loaded = load(&main).unwrap();
    assert_eq!(loaded.tree.root().get_value("order"), Some("b"));
    assert_eq!(loaded.tree.root().get_value("a"), Some("1"));
    assert_eq!(loaded.tree.root().get_value("b"), Some("1"));
    assert!(loaded.tree.root().get("hidden").is_none());
    assert!(loaded.tree.root().get("backup").is_none());
    assert!(loaded.tree.root().get("sub").is_none());
    assert_eq!(loaded.files.len(), 3);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    assert!(loaded
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Warning && d.message.contains("subdirector")));
}

#[test]
fn relative_includes_resolve_against_the_including_file() {
    let dir = Scratch::new();
    dir.write("a/inner/leaf.conf", "leaf = 1\n");
    dir.write("a/mid.conf", "include = inner/leaf.conf\nmid = 1\n");
    let abs = dir.write("abs.conf", "abs = 1\n");
    let main = dir.write(
        "main.conf",
        &format!("include = a/mid.conf\ninclude = {}\n", abs.display()),
    );
    let loaded = load(&main).unwrap();
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.tree.root().get_value("leaf"), Some("1"));
    assert_eq!(loaded.tree.root().get_value("mid"), Some("1"));
    assert_eq!(loaded.tree.root().get_value("abs"), Some("1"));
}

#[test]
fn include_cycles_are_errors_not_hangs() {
    let dir = Scratch::new();
    dir.write("a.conf", "a = 1\ninclude = b.conf\n");
    dir.write("b.conf", "b = 1\ninclude = a.conf\ninclude = ./b.conf\n");
    let main = dir.write("main.conf", "include = a.conf\n");
    let loaded = load(&main).unwrap();
    assert_eq!(loaded.tree.root().get_value("a"), Some("1"));
    assert_eq!(loaded.tree.root().get_value("b"), Some("1"));
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e.contains("cycle") || e.contains("self")),
        "{errors:?}"
    );
    assert!(errors[0].contains("b.conf:2"), "{errors:?}");

    let self_main = dir.write("selfish.conf", "include = selfish.conf\nx = 1\n");
    let loaded = load(&self_main).unwrap();
    assert_eq!(loaded.tree.root().get_value("x"), Some("1"));
    assert_eq!(loaded.files.len(), 1);
    assert!(loaded.diagnostics[0].message.contains("cycle"));
}

#[test]
fn missing_includes_are_diagnostics_at_the_include_line() {
    let dir = Scratch::new();
    let main = dir.write(
        "main.conf",
        "a = 1\ninclude = nowhere.conf\ninclude =\nb = 2\n",
    );
    let loaded = load(&main).unwrap();
    assert_eq!(loaded.tree.root().get_value("b"), Some("2"));
    let errors: Vec<(u32, String)> = loaded
        .diagnostics
        .iter()
        .map(|d| (d.location.as_ref().unwrap().line, d.to_string()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, 2);
    assert!(errors[0].1.contains("nowhere.conf"));
    assert!(errors[0].1.contains("error: include:"));
    assert_eq!(errors[1].0, 3);
}

#[cfg(unix)]
#[test]
fn devices_are_not_included() {
    let loaded = load_str(
        "/nonexistent-baton-dir/t.conf",
        "include = /dev/zero\nx = 1\n",
    );
    assert_eq!(loaded.tree.root().get_value("x"), Some("1"));
    assert!(loaded.has_errors());
    assert!(loaded.diagnostics[0].message.contains("not a regular file"));
}

#[test]
fn missing_main_file_is_an_io_error() {
    let dir = Scratch::new();
    assert!(load(&dir.path().join("absent.conf")).is_err());
}

#[test]
fn non_utf8_files_are_refused() {
    let dir = Scratch::new();
    let bad = dir.path().join("latin1.conf");
    fs::write(&bad, b"a = caf\xe9\n").unwrap();
    assert!(load(&bad).is_err());
    let main = dir.write("main.conf", "include = latin1.conf\n");
    let loaded = load(&main).unwrap();
    assert!(loaded.has_errors());
}

#[test]
fn load_str_resolves_includes_on_disk() {
    let dir = Scratch::new();
    dir.write("extra.conf", "extra = 1\n");
    let loaded = load_str(
        dir.path().join("virtual.conf"),
        "include = extra.conf\nmain = 1",
    );
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.tree.root().get_value("extra"), Some("1"));
    assert_eq!(loaded.tree.root().get_value("main"), Some("1"));
    assert_eq!(loaded.files[0].to_text(), "include = extra.conf\nmain = 1");
}

#[test]
fn tree_from_files_follows_includes_among_given_files() {
    let dir = Scratch::new();
    dir.write("conf.d/1.conf", "x = from-1\n");
    dir.write("conf.d/2.conf", "y = from-2\n");
    dir.write("one.conf", "z = from-one\n");
    let main = dir.write(
        "main.conf",
        "x = main\ninclude = conf.d\ninclude = one.conf\nz = main\n",
    );
    let mut loaded = load(&main).unwrap();
    assert_eq!(loaded.tree.root().get_value("x"), Some("from-1"));
    // Edit an included file, then rebuild without touching the disk.
    loaded.files[1].set("x", "edited").unwrap();
    let (tree, diagnostics) = tree_from_files(&loaded.files);
    let root = tree.root();
    assert_eq!(root.get_value("x"), Some("edited"));
    assert_eq!(root.get_value("y"), Some("from-2"));
    assert_eq!(root.get_value("z"), Some("main"));
    assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
    // An include naming no given file is reported.
    let (extra, _) = ConfFile::parse(dir.path().join("m.conf"), "include = gone.conf\n");
    let (_, diagnostics) = tree_from_files(&[extra]);
    assert_eq!(diagnostics.len(), 1);
    assert!(diagnostics[0].message.contains("gone.conf"));
    // Unreached files are still merged, in order.
    let (a, _) = ConfFile::parse("a.conf", "k = a\n");
    let (b, _) = ConfFile::parse("b.conf", "k = b\n");
    let (tree, _) = tree_from_files(&[a, b]);
    let root = tree.root();
    assert_eq!(root.get_value("k"), Some("b"));
    let (tree, diagnostics) = tree_from_files(&[]);
    let root = tree.root();
    assert!(root.is_empty() && diagnostics.is_empty());
}

#[test]
fn first_location_points_at_the_block() {
    let loaded = load_str(
        "t.conf",
        "# c\nvserver!10!rule!5!handler = file\nvserver!10!nick = ten\n",
    );
    let rule = loaded.tree.root().get("vserver!10!rule!5").unwrap();
    assert_eq!(rule.location(), None);
    assert_eq!(rule.first_location().unwrap().to_string(), "t.conf:2");
    let vservers = loaded.tree.root().child("vserver").unwrap();
    let (numbered, others) = vservers.numbered();
    assert_eq!(numbered.len(), 1);
    assert!(others.is_empty());
}

#[test]
fn numbered_lists_order_numerically() {
    let loaded = load_str(
        "t.conf",
        "vserver!100!nick = c\nvserver!2!nick = a\nvserver!10!nick = b\n",
    );
    let (numbered, _) = loaded.tree.root().child("vserver").unwrap().numbered();
    let nicks: Vec<&str> = numbered
        .iter()
        .map(|(_, n)| n.get_value("nick").unwrap())
        .collect();
    assert_eq!(nicks, vec!["a", "b", "c"]);
}

#[test]
fn the_cherokee_sample_parses_cleanly() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/cherokee.conf.sample");
    let Ok(text) = fs::read_to_string(&sample) else {
        println!("note: {} not found; skipping", sample.display());
        return;
    };
    let loaded = load_str(&sample, &text);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(loaded.files[0].to_text(), text);
    assert!(loaded.tree.root().get_value("server!bind!1!port").is_some());
    let (vservers, _) = loaded.tree.root().child("vserver").unwrap().numbered();
    assert!(!vservers.is_empty());
}

/// What `load_tree` gives is what `load` gives: the same values at the same
/// places, the same diagnostics, the main file's text.
#[test]
fn load_tree_agrees_with_load() {
    let dir = Scratch::new();
    dir.write("inc/more.conf", "server!timeout = 5\nserver!port = 81\n");
    let plain = "# top\r\nserver!port = 80\nbad line\nvserver!1!nick = a\n\nvserver!1!nick = b\nx!!y = 1\nvserver!1!rule!1!match = default\n  k  =  v  \nlast = é";
    let with_include =
        "server!port = 80\ninclude = inc\nserver!user = www\nnope\nserver!user = www2\n";
    // Big enough to be read on two threads, with the include after many batches.
    // (Long comments make it big with few keys: comparing the trees costs per key.)
    let comment = format!("# {}\n", "-".repeat(250));
    let mut big = String::new();
    for i in 0..20_000 {
        big.push_str(&format!(
            "{comment}vserver!{i}!nick = n{i}\nvserver!{i}!rule!1!match = default\nbad {i}\n"
        ));
    }
    assert!(big.len() > 4 << 20);
    let big_with_include = format!("{big}include = inc\nserver!port = 82\n");
    for (name, text) in [
        ("plain.conf", plain),
        ("main.conf", with_include),
        ("empty.conf", ""),
        ("big.conf", big.as_str()),
        ("big-include.conf", big_with_include.as_str()),
    ] {
        let path = dir.write(name, text);
        let full = load(&path).unwrap();
        let fast = load_tree(&path).unwrap();
        // Without includes the text is the tree's own, which its nodes point into.
        assert_eq!(fast.text.is_some(), text.contains("include ="), "{name}");
        let main_text = fast
            .text
            .clone()
            .unwrap_or_else(|| fast.tree.clone().into_text());
        assert_eq!(main_text, text, "{name}");
        assert_eq!(fast.has_errors(), full.has_errors());
        let values = |root: baton_conf::Node<'_>| {
            root.values()
                .into_iter()
                .map(|(k, v)| {
                    let location = root.get(&k).and_then(|n| n.location());
                    (k, v.to_string(), location)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(values(fast.tree.root()), values(full.tree.root()), "{name}");
        let key = |d: &baton_conf::Diagnostic| {
            d.location
                .as_ref()
                .map(|l| (l.file.to_string_lossy().into_owned(), l.line))
        };
        let shown = |ds: &[baton_conf::Diagnostic]| {
            let mut ds = ds.to_vec();
            ds.sort_by_key(key);
            ds.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(shown(&fast.diagnostics), shown(&full.diagnostics), "{name}");
    }
    assert!(load_tree(&dir.path().join("missing.conf")).is_err());
}
