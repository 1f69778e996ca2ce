//! The editing commands of the real binary: `baton config | vserver | rule`, their
//! refusals, `--dry-run`, the history of saved versions, atomic saves, and `--apply`
//! against a running server.
mod common;
use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const SITE: &str = "# a site and the default\n\
server!bind!1!port = 0\n\
server!bind!1!interface = 127.0.0.1\n\
server!control_socket = %ROOT%/control.sock\n\
\n\
vserver!1!nick = default\n\
vserver!1!document_root = %ROOT%/default\n\
vserver!1!rule!1!match = default\n\
vserver!1!rule!1!handler = common\n\
\n\
vserver!10!nick = example\n\
vserver!10!document_root = %ROOT%/site\n\
vserver!10!match = wildcard\n\
vserver!10!match!domain!1 = example.*\n\
vserver!10!rule!1!match = default\n\
vserver!10!rule!1!handler = common\n";

/// A configuration file (no server) in a fresh directory.
fn conf(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let text = text.replace("%ROOT%", &dir.path().to_string_lossy());
    let path = write_file(dir.path(), "cherokee.conf", text);
    write_file(dir.path(), "site/index.html", "site");
    write_file(dir.path(), "default/index.html", "default");
    (dir, path)
}

fn run(path: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    let p = path.to_string_lossy().into_owned();
    all.push("-C");
    all.push(&p);
    baton_cli(&all)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read configuration")
}

fn history_count(path: &Path) -> usize {
    let mut dir = path.as_os_str().to_owned();
    dir.push(".history");
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn config_get_set_unset() {
    let (_d, path) = conf(SITE);
    let (code, out, _) = run(&path, &["config", "get", "vserver!10!nick"]);
    assert_eq!((code, out.as_str()), (0, "example\n"));
    let (code, out, _) = run(&path, &["config", "get", "vserver!10!match"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("vserver!10!match!domain!1 = example.*\n"),
        "{out}"
    );
    let (code, out, _) = run(&path, &["config", "get", "vserver!10!nick", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(json(&out)["value"], "example");

    let (code, out, err) = run(
        &path,
        &[
            "config",
            "set",
            "vserver!10!match!domain!2",
            "www.example.com",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("saved"), "{out}");
    assert!(read(&path).contains("vserver!10!match!domain!2 = www.example.com\n"));
    let (code, _, err) = run(&path, &["config", "unset", "vserver!10!match!domain!2"]);
    assert_eq!(code, 0, "{err}");
    assert!(!read(&path).contains("www.example.com"));

    let (code, _, err) = run(&path, &["config", "get", "vserver!99"]);
    assert_eq!(code, 1);
    assert!(err.contains("not set"), "{err}");
    let (code, _, err) = run(&path, &["config", "unset", "vserver!99"]);
    assert_eq!(code, 1);
    assert!(err.contains("not set"), "{err}");
}

#[test]
fn invalid_edit_is_refused_with_the_reason_and_the_file_is_untouched() {
    let (_d, path) = conf(SITE);
    let before = std::fs::read(&path).unwrap();
    let (code, _, err) = run(
        &path,
        &[
            "config",
            "set",
            "vserver!10!rule!1!handler",
            "no_such_handler",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("refused"), "{err}");
    assert!(
        err.contains("cherokee.conf:16: error: vserver!10!rule!1!handler"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(history_count(&path), 0);

    let (code, out, _) = run(
        &path,
        &[
            "config",
            "set",
            "server!bind!1!port",
            "not-a-port",
            "--json",
        ],
    );
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert!(v["details"][0]
        .as_str()
        .unwrap()
        .contains("server!bind!1!port"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn refusals_and_usage_errors_have_their_exit_codes() {
    let (_d, path) = conf(SITE);
    let before = std::fs::read(&path).unwrap();
    let (code, _, err) = run(&path, &["vserver", "remove", "default"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("default virtual server cannot be removed"),
        "{err}"
    );
    let (code, _, err) = run(&path, &["vserver", "show", "nobody"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no virtual server is named \"nobody\""),
        "{err}"
    );
    assert!(err.contains("example, default"), "{err}");
    for args in [
        &["vserver", "remove", "nobody"][..],
        &["vserver", "clone", "nobody", "x"],
        &["vserver", "clone", "example", "default"],
        &["vserver", "move", "default", "--above", "example"],
        &["vserver", "move", "example", "--below", "default"],
        &["rule", "list", "nobody"],
        &["rule", "remove", "example", "77"],
        &["rule", "move", "example", "77", "--to", "5"],
        &["maintenance", "off", "example"],
        &["maintenance", "on", "default"],
    ] {
        let (code, _, err) = run(&path, args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.starts_with("baton: "), "{args:?}: {err}");
    }
    // Usage errors: 2.
    let (code, _, _) = baton_cli(&["vserver", "list"]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&path, &["vserver", "move", "example"]);
    assert_eq!(code, 2);
    let (code, _, err) = run(
        &path,
        &[
            "rule",
            "add",
            "example",
            "--match",
            "default",
            "--handler",
            "file",
            "--match-key",
            "novalue",
        ],
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(&path, &["config", "set", "a", "b", "--apply", "sometimes"]);
    assert_eq!(code, 2);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let (_d, path) = conf(SITE);
    let before = std::fs::read(&path).unwrap();
    let (code, out, err) = run(&path, &["vserver", "clone", "example", "copy", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("--- "), "{out}");
    assert!(out.contains("+vserver!20!nick = copy\n"), "{out}");
    assert!(
        out.contains("+vserver!20!match!domain!1 = example.*\n"),
        "{out}"
    );
    assert!(out.contains("dry run"), "{out}");
    let (code, out, _) = run(
        &path,
        &[
            "config",
            "set",
            "server!timeout",
            "7",
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["dry_run"], true);
    assert!(v["diff"].as_str().unwrap().contains("+server!timeout = 7"));
    // A dry run of an invalid edit is refused like the real one.
    let (code, _, err) = run(
        &path,
        &["config", "set", "vserver!10!match", "nonsense", "--dry-run"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(history_count(&path), 0);
}

#[test]
fn history_keeps_the_previous_version_and_restores_it() {
    let (_d, path) = conf(SITE);
    let original = read(&path);
    let (code, out, _) = run(&path, &["config", "set", "server!timeout", "9", "--json"]);
    assert_eq!(code, 0);
    let v = json(&out);
    let kept = v["history"].as_str().expect("history entry").to_string();
    assert_eq!(read(Path::new(&kept)), original);
    assert!(kept.contains("cherokee.conf.history/"), "{kept}");
    run(&path, &["config", "set", "server!timeout", "10"]);
    let (code, out, _) = run(&path, &["config", "history"]);
    assert_eq!(code, 0);
    let names: Vec<&str> = out.lines().collect();
    assert_eq!(names.len(), 2, "{out}");
    assert!(
        names[0].ends_with("-2.conf") && names[1].ends_with("-1.conf"),
        "{out}"
    );
    let (code, _, err) = run(&path, &["config", "restore", names[1]]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&path), original);
    let (code, _, _) = run(&path, &["config", "restore", "nothing-like-it"]);
    assert_eq!(code, 1);
}

#[test]
fn saves_are_atomic_renames_that_keep_permissions_and_layout() {
    let (dir, path) = conf(SITE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let inode = std::fs::metadata(&path).unwrap().ino();
    let (code, _, _) = run(
        &path,
        &["config", "set", "vserver!10!document_root", "/srv/new"],
    );
    assert_eq!(code, 0);
    let meta = std::fs::metadata(&path).unwrap();
    assert_ne!(meta.ino(), inode, "a new file was renamed into place");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = read(&path);
    let expected = SITE
        .replace("%ROOT%", &dir.path().to_string_lossy())
        .replace(&format!("{}/site", dir.path().display()), "/srv/new");
    assert_eq!(text, expected, "only the edited line changed");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn vserver_add_clone_move_remove_and_list() {
    let (_d, path) = conf(SITE);
    let (code, _, err) = run(
        &path,
        &[
            "vserver",
            "add",
            "blog",
            "--document-root",
            "/srv/blog",
            "--domain",
            "blog.test",
            "--domain",
            "*.blog.test",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(&path, &["vserver", "list", "--json"]);
    assert_eq!(code, 0);
    let list = json(&out)["vservers"].as_array().unwrap().clone();
    let order: Vec<(u64, &str)> = list
        .iter()
        .map(|v| (v["id"].as_u64().unwrap(), v["nick"].as_str().unwrap()))
        .collect();
    assert_eq!(order, vec![(20, "blog"), (10, "example"), (1, "default")]);
    assert_eq!(
        list[0]["domains"],
        serde_json::json!(["blog.test", "*.blog.test"])
    );
    assert_eq!(list[0]["document_root"], "/srv/blog");

    // Clone: directly above the source; no free number between 10 and 20 but 15.
    let (code, _, err) = run(&path, &["vserver", "clone", "example", "example2"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&path, &["vserver", "list"]);
    let nicks: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        &nicks[..4],
        &["blog", "example2", "example", "default"],
        "{out}"
    );
    assert!(out.contains("PRIORITY"), "{out}");
    // Cloning again right above example needs renumbering: order is kept, gaps return.
    let (code, _, err) = run(&path, &["vserver", "clone", "example", "example3"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&path, &["vserver", "list", "--json"]);
    let ids: Vec<(u64, String)> = json(&out)["vservers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_u64().unwrap(),
                v["nick"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let nicks: Vec<&str> = ids.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        nicks,
        ["blog", "example2", "example3", "example", "default"]
    );
    assert!(ids.windows(2).all(|w| w[0].0 > w[1].0), "{ids:?}");
    assert_eq!(ids.last().unwrap().0, 1, "default keeps its number");

    let (code, _, err) = run(&path, &["vserver", "move", "blog", "--below", "example"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(
        &path,
        &["vserver", "move", "example3", "--above", "example2"],
    );
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&path, &["vserver", "list", "--json"]);
    let nicks: Vec<String> = json(&out)["vservers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["nick"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        nicks,
        ["example3", "example2", "example", "blog", "default"]
    );

    for n in ["example2", "example3", "blog"] {
        let (code, _, err) = run(&path, &["vserver", "remove", n]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, _) = run(&path, &["vserver", "show", "example"]);
    assert_eq!(code, 0);
    assert!(out.contains("example.*"), "{out}");
    assert!(out.contains("default  -> common"), "{out}");
    let (_, out, _) = run(&path, &["config", "get", "vserver", "--json"]);
    let keys = json(&out)["keys"].as_object().unwrap().len();
    assert_eq!(keys, 10, "{out}");
}

#[test]
fn rule_add_list_move_remove() {
    let (_d, path) = conf(SITE);
    let (code, _, err) = run(
        &path,
        &[
            "rule",
            "add",
            "example",
            "--match",
            "directory",
            "--match-key",
            "directory=/downloads",
            "--handler",
            "file",
            "--handler-key",
            "iocache=0",
            "--key",
            "no_log=1",
            "--final",
            "0",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let text = read(&path);
    for line in [
        "vserver!10!rule!100!match = directory\n",
        "vserver!10!rule!100!match!directory = /downloads\n",
        "vserver!10!rule!100!match!final = 0\n",
        "vserver!10!rule!100!handler = file\n",
        "vserver!10!rule!100!handler!iocache = 0\n",
        "vserver!10!rule!100!no_log = 1\n",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let (code, out, _) = run(&path, &["rule", "list", "example", "--json"]);
    assert_eq!(code, 0);
    let rules = json(&out)["rules"].as_array().unwrap().clone();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["priority"], 100);
    assert_eq!(rules[0]["is_final"], false);
    assert_eq!(rules[0]["match_keys"][0], "directory = /downloads");
    let (code, out, _) = run(&path, &["rule", "list", "example"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("directory (directory = /downloads)  -> file  [non-final]"),
        "{out}"
    );

    let (code, _, err) = run(
        &path,
        &[
            "rule",
            "add",
            "example",
            "--match",
            "extensions",
            "--handler",
            "file",
            "--priority",
            "100",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("already has a rule 100"), "{err}");
    // A rule the server cannot use is refused (extensions needs its list).
    let (code, _, err) = run(
        &path,
        &[
            "rule",
            "add",
            "example",
            "--match",
            "bogus_type",
            "--handler",
            "file",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("vserver!10!rule!200!match"), "{err}");

    let (code, _, err) = run(&path, &["rule", "move", "example", "100", "--to", "500"]);
    assert_eq!(code, 0, "{err}");
    assert!(read(&path).contains("vserver!10!rule!500!handler = file\n"));
    let (code, _, err) = run(&path, &["rule", "move", "example", "500", "--to", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("already has a rule 1"), "{err}");
    let (code, _, err) = run(&path, &["rule", "remove", "example", "500"]);
    assert_eq!(code, 0, "{err}");
    assert!(!read(&path).contains("rule!500"));
}

#[test]
fn keys_set_by_an_included_file_are_not_edited() {
    let (dir, path) = conf(&format!("{SITE}include = extra.conf\n"));
    write_file(dir.path(), "extra.conf", "vserver!30!nick = extra\nvserver!30!rule!1!match = default\nvserver!30!rule!1!handler = common\n");
    let before = std::fs::read(&path).unwrap();
    let (code, _, err) = run(&path, &["vserver", "clone", "example", "copy"]);
    assert_eq!(code, 1);
    assert!(err.contains("extra.conf:1"), "{err}");
    assert!(err.contains("include"), "{err}");
    let (code, _, _) = run(&path, &["config", "set", "include", "other.conf"]);
    assert_eq!(code, 1);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Keys no included file sets can still be edited.
    let (code, _, err) = run(
        &path,
        &["config", "set", "server!timeout", "5", "--apply", "none"],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn apply_graceful_reloads_the_running_server_and_none_only_saves() {
    let s = Server::start_with(SITE, |root| {
        write_file(root, "site/index.html", "site");
        write_file(root, "default/index.html", "default");
    });
    let path = s.config_path.clone();
    assert_eq!(
        get(s.addr(), "www.example.com", "/index.html").text(),
        "default"
    );
    let (code, out, err) = run(
        &path,
        &[
            "config",
            "set",
            "vserver!10!match!domain!2",
            "www.example.com",
            "--apply",
            "none",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("restart"), "{out}");
    assert_eq!(
        get(s.addr(), "www.example.com", "/index.html").text(),
        "default"
    );
    let (code, out, err) = run(&path, &["config", "set", "server!timeout", "20"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("graceful restart"), "{out}");
    assert_eq!(
        get(s.addr(), "www.example.com", "/index.html").text(),
        "site"
    );
    let (code, out, _) = run(
        &path,
        &[
            "config",
            "unset",
            "vserver!10!match!domain!2",
            "--apply",
            "hard",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["applied"]["server_running"], true);
    assert_eq!(v["applied"]["ok"], true);
    assert_eq!(
        get(s.addr(), "www.example.com", "/index.html").text(),
        "default"
    );
}

#[test]
fn apply_without_a_running_server_saves_and_says_so() {
    let (_d, path) = conf(SITE);
    let (code, out, err) = run(&path, &["config", "set", "server!timeout", "20"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no server is running"), "{out}");
    assert!(read(&path).contains("server!timeout = 20"));
}
