//! The admin API (`baton admin`) against a running server, over real sockets: reading the
//! configuration (text, key tree with lines, document), preview, save with If-Match and
//! the three apply modes, validation refusals, the running-config diff, history and
//! rollback, two editors, maintenance as API edits (and the generic recipe giving the same
//! answers), the OpenAPI description against the router, the UI, and status.
//!
//! Sign-in, CSRF and throttling are in `admin_security.rs`.
mod common;
use common::*;
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const LIVE: &str = "<h1>the live site</h1>";

/// Three virtual servers (static 20, example 10, default 1), comments and blank lines so
/// byte-identity and line numbers mean something.
const SITE: &str = "# Baton admin API tests\n\
server!bind!1!port = 0\n\
server!bind!1!interface = 127.0.0.1\n\
server!control_socket = %ROOT%/control.sock\n\
\n\
# the fallback\n\
vserver!1!nick = default\n\
vserver!1!document_root = %ROOT%/default\n\
vserver!1!directory_index = index.html\n\
vserver!1!rule!1!match = default\n\
vserver!1!rule!1!handler = common\n\
\n\
vserver!10!nick = example\n\
vserver!10!document_root = %ROOT%/site\n\
vserver!10!directory_index = index.html\n\
vserver!10!match = wildcard\n\
vserver!10!match!domain!1 = example.*\n\
vserver!10!rule!1!match = default\n\
vserver!10!rule!1!handler = common\n\
\n\
vserver!20!nick = static\n\
vserver!20!document_root = %ROOT%/static\n\
vserver!20!match = wildcard\n\
vserver!20!match!domain!1 = static.test\n\
vserver!20!rule!100!match = directory\n\
vserver!20!rule!100!match!directory = /private\n\
vserver!20!rule!100!handler = custom_error\n\
vserver!20!rule!100!handler!error = 403\n\
vserver!20!rule!1!match = default\n\
vserver!20!rule!1!handler = common\n";

fn start_server() -> Server {
    Server::start_with(SITE, |root| {
        write_file(root, "site/index.html", LIVE);
        write_file(root, "site/news.html", "old news");
        write_file(root, "site2/index.html", "the new site");
        write_file(root, "default/index.html", "the default vserver");
        write_file(root, "static/a.txt", "static a");
    })
}

/// A server, an admin for its file, and a signed-in session.
fn start() -> (Server, AdminProc, AdminSession) {
    let s = start_server();
    let a = AdminProc::start(&s.config_path);
    let session = a.login();
    (s, a, session)
}

fn file(s: &Server) -> Vec<u8> {
    std::fs::read(&s.config_path).expect("read the configuration")
}

/// The ETag the admin gives for the file now (header of GET /api/config).
fn etag(a: &AdminProc, session: &AdminSession) -> String {
    let (r, _) = a.get_json(session, "/api/config");
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("etag").expect("ETag").to_string()
}

fn save(
    a: &AdminProc,
    session: &AdminSession,
    tag: &str,
    edits: Value,
    apply: &str,
) -> (RawResponse, Value) {
    let if_match = format!("If-Match: {tag}");
    a.post_json(
        session,
        "/api/save",
        &json!({ "edits": edits, "apply": apply }),
        &[&if_match],
    )
}

/// Saves `edits` on the current ETag and asserts success (and, unless `apply` is `none`,
/// that the server applied it).
fn save_ok(a: &AdminProc, session: &AdminSession, edits: Value, apply: &str) -> Value {
    let tag = etag(a, session);
    let (r, v) = save(a, session, &tag, edits, apply);
    assert_eq!(r.status, 200, "save: {}", r.text());
    if apply == "none" {
        assert!(v["applied"].is_null(), "{v}");
    } else {
        assert_eq!(v["applied"]["ok"], json!(true), "apply: {v}");
    }
    v
}

/// 1-based line number of the line `key = …` in `text`.
fn line_of(text: &str, key: &str) -> u64 {
    let prefix = format!("{key} =");
    text.lines()
        .position(|l| l.starts_with(&prefix))
        .map(|i| i as u64 + 1)
        .unwrap_or_else(|| panic!("{key} is not in the file"))
}

fn history_ids(a: &AdminProc, session: &AdminSession) -> Vec<String> {
    let (r, v) = a.get_json(session, "/api/history");
    assert_eq!(r.status, 200, "{}", r.text());
    v["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|x| x["id"].as_str().expect("id").to_string())
        .collect()
}

fn page(s: &Server, host: &str, path: &str) -> (u16, String) {
    let r = get(s.addr(), host, path);
    (r.status, r.text())
}

fn assert_maintenance_503(r: &RawResponse, retry: &str) {
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some(retry));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(!r.text().contains("live site"), "{}", r.text());
}

#[test]
fn config_is_the_file_byte_for_byte_with_the_key_tree_and_lines() {
    let (s, a, session) = start();
    let on_disk = String::from_utf8(file(&s)).unwrap();
    let (r, v) = a.get_json(&session, "/api/config");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["text"].as_str(), Some(on_disk.as_str()));
    let header = r.header("etag").expect("ETag header");
    assert_eq!(v["etag"].as_str(), Some(header));
    assert!(header.starts_with('"') && header.ends_with('"'), "{header}");
    assert_eq!(v["path"].as_str(), Some(&*s.config_path.to_string_lossy()));
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // Every `key = value` line is an entry with its line number, in file order.
    let entries = v["entries"].as_array().expect("entries");
    let expected: Vec<(String, String, u64)> = on_disk
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let (k, v) = l.split_once(" = ").expect("key = value");
            (k.to_string(), v.to_string(), i as u64 + 1)
        })
        .collect();
    let got: Vec<(String, String, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        v["diagnostics"],
        json!([]),
        "a valid file has no diagnostics"
    );

    // Reading twice gives the same ETag; reading changes nothing.
    assert_eq!(etag(&a, &session), header);
    assert_eq!(file(&s), on_disk.as_bytes());
}

#[test]
fn document_lists_vservers_in_priority_order_with_their_rules() {
    let (_s, a, session) = start();
    let (r, v) = a.get_json(&session, "/api/config/document");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["etag"].as_str(), r.header("etag"));
    assert_eq!(v["etag"].as_str(), Some(etag(&a, &session).as_str()));
    assert_eq!(v["server"]["bind!1!interface"], json!("127.0.0.1"));
    let vs = v["vservers"].as_array().expect("vservers");
    let order: Vec<(u64, &str)> = vs
        .iter()
        .map(|x| (x["id"].as_u64().unwrap(), x["nick"].as_str().unwrap()))
        .collect();
    assert_eq!(order, [(20, "static"), (10, "example"), (1, "default")]);
    assert_eq!(vs[0]["domains"], json!(["static.test"]));
    assert_eq!(vs[1]["domains"], json!(["example.*"]));
    // Rules from the highest priority down.
    let rules = vs[0]["rules"].as_array().expect("rules");
    let summary: Vec<(u64, &str, &str)> = rules
        .iter()
        .map(|r| {
            (
                r["priority"].as_u64().unwrap(),
                r["match_type"].as_str().unwrap(),
                r["handler"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(100, "directory", "custom_error"), (1, "default", "common")]
    );
    assert_eq!(rules[0]["match_keys"], json!(["directory = /private"]));
    assert_eq!(vs[1]["rules"].as_array().unwrap().len(), 1);
}

#[test]
fn preview_of_a_clone_shows_the_diff_and_changes_nothing() {
    let (s, a, session) = start();
    let before = file(&s);
    let tag = etag(&a, &session);
    let (r, v) = a.post_json(
        &session,
        "/api/preview",
        &json!({ "edits": [{ "op": "vserver_clone", "source": "example", "nick": "example-copy" }] }),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["valid"], json!(true), "{v}");
    let diff = v["diff"].as_str().expect("diff");
    assert!(
        diff.contains("+vserver!") && diff.contains("= example-copy"),
        "{diff}"
    );
    assert!(diff.contains("!match!domain!1 = example.*"), "{diff}");
    assert!(
        diff.lines().all(|l| !l.starts_with("-vserver")),
        "a clone removes nothing: {diff}"
    );
    assert!(v["text"].as_str().unwrap().contains("= example-copy\n"));
    // Nothing on disk, no history, same ETag, the server unchanged.
    assert_eq!(file(&s), before);
    assert!(history_ids(&a, &session).is_empty());
    assert_eq!(etag(&a, &session), tag);
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));

    // An invalid result is previewed as invalid, with the diagnostic.
    let (r, v) = a.post_json(
        &session,
        "/api/preview",
        &json!({ "edits": [{ "op": "set", "key": "vserver!10!rule!1!handler", "value": "nonsense" }] }),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["valid"], json!(false), "{v}");
    assert_eq!(
        v["diagnostics"][0]["key"],
        json!("vserver!10!rule!1!handler"),
        "{v}"
    );
    assert_eq!(file(&s), before);
}

#[test]
fn save_needs_if_match_and_a_stale_etag_gets_412() {
    let (s, a, session) = start();
    let before = file(&s);
    let edits = json!([{ "op": "set", "key": "server!timeout", "value": "7" }]);
    let (r, v) = a.post_json(
        &session,
        "/api/save",
        &json!({ "edits": edits, "apply": "graceful" }),
        &[],
    );
    assert_eq!(r.status, 428, "{}", r.text());
    assert!(v["error"].as_str().unwrap().contains("If-Match"), "{v}");
    assert_eq!(file(&s), before);

    let current = etag(&a, &session);
    let stale = format!("\"{}-0000000000000000\"", before.len());
    let (r, v) = save(&a, &session, &stale, edits.clone(), "graceful");
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(v["etag"].as_str(), Some(current.as_str()), "{v}");
    assert_eq!(file(&s), before, "a refused save leaves the file untouched");
    assert!(history_ids(&a, &session).is_empty());

    // The ETag of another version of the file is stale too.
    let (r, _) = save(&a, &session, &current, edits.clone(), "none");
    assert_eq!(r.status, 200, "{}", r.text());
    let after = file(&s);
    let (r, _) = save(&a, &session, &current, edits, "none");
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(file(&s), after);
}

#[test]
fn an_invalid_edit_is_422_with_the_key_and_line_and_the_file_untouched() {
    let (s, a, session) = start();
    let before = file(&s);
    let text = String::from_utf8(before.clone()).unwrap();
    let key = "vserver!10!rule!1!handler";
    let tag = etag(&a, &session);
    let (r, v) = save(
        &a,
        &session,
        &tag,
        json!([{ "op": "set", "key": key, "value": "no_such_handler" }]),
        "graceful",
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(v["error"].as_str().unwrap().contains("refused"), "{v}");
    let diags = v["diagnostics"].as_array().expect("diagnostics");
    let d = diags
        .iter()
        .find(|d| d["key"] == json!(key))
        .unwrap_or_else(|| panic!("no diagnostic for {key}: {v}"));
    assert_eq!(d["line"].as_u64(), Some(line_of(&text, key)), "{d}");
    assert_eq!(d["severity"], json!("error"));
    assert_eq!(d["file"].as_str(), Some(&*s.config_path.to_string_lossy()));
    assert!(
        d["message"].as_str().unwrap().contains("no_such_handler"),
        "{d}"
    );

    assert_eq!(file(&s), before, "byte-identical after a refused save");
    assert!(history_ids(&a, &session).is_empty());
    assert_eq!(etag(&a, &session), tag);
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));

    // An edit that cannot be made at all (unknown vserver) is refused the same way.
    let (r, v) = save(
        &a,
        &session,
        &tag,
        json!([{ "op": "vserver_clone", "source": "nobody", "nick": "x" }]),
        "graceful",
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(v["error"].as_str().unwrap().contains("nobody"), "{v}");
    assert_eq!(file(&s), before);
}

#[test]
fn a_graceful_save_is_served_at_once_and_kept_in_history() {
    let (s, a, session) = start();
    let before = file(&s);
    // A kept-alive connection opened before the save gets the new configuration on its
    // next request (graceful: not closed).
    let mut kept = Raw::connect(s.addr());
    kept.send("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(kept.read_response().unwrap().text(), LIVE);

    let root = s.root().join("site2");
    let v = save_ok(
        &a,
        &session,
        json!([{ "op": "set", "key": "vserver!10!document_root", "value": root.to_string_lossy() }]),
        "graceful",
    );
    assert_eq!(v["changed"], json!(true));
    assert_eq!(v["applied"]["generation"], json!(2), "{v}");
    assert_eq!(page(&s, "example.com", "/"), (200, "the new site".into()));
    kept.send("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(kept.read_response().unwrap().text(), "the new site");

    // The answer's ETag is the file's.
    assert_eq!(v["etag"].as_str(), Some(etag(&a, &session).as_str()));
    // The previous version is kept, byte for byte.
    let ids = history_ids(&a, &session);
    assert_eq!(ids.len(), 1);
    let kept_path = v["history"].as_str().expect("history path");
    assert!(kept_path.ends_with(&ids[0]), "{kept_path} vs {ids:?}");
    assert_eq!(std::fs::read(kept_path).unwrap(), before);

    let (_, st) = a.get_json(&session, "/api/status");
    assert_eq!(st["status"]["generation"], json!(2), "{st}");
}

#[test]
fn apply_none_saves_without_reloading_until_apply() {
    let (s, a, session) = start();
    let (r, v) = a.get_json(&session, "/api/diff/running");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["pending"], json!(false), "{v}");
    assert_eq!(v["generation"], json!(1));

    let root = s.root().join("site2");
    let v = save_ok(
        &a,
        &session,
        json!([{ "op": "set", "key": "vserver!10!document_root", "value": root.to_string_lossy() }]),
        "none",
    );
    assert_eq!(v["changed"], json!(true));
    assert!(String::from_utf8(file(&s)).unwrap().contains("/site2\n"));
    // Saved, not applied.
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));
    let (_, v) = a.get_json(&session, "/api/diff/running");
    assert_eq!(v["pending"], json!(true), "{v}");
    let diff = v["diff"].as_str().unwrap();
    assert!(diff.contains("-vserver!10!document_root = "), "{diff}");
    assert!(
        diff.contains(&format!("+vserver!10!document_root = {}", root.display())),
        "{diff}"
    );
    let (_, st) = a.get_json(&session, "/api/status");
    assert_eq!(st["status"]["generation"], json!(1), "{st}");

    let (r, v) = a.post_json(&session, "/api/apply", &json!({ "mode": "graceful" }), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["ok"], json!(true), "{v}");
    assert_eq!(v["generation"], json!(2), "{v}");
    assert_eq!(page(&s, "example.com", "/"), (200, "the new site".into()));
    let (_, v) = a.get_json(&session, "/api/diff/running");
    assert_eq!(v["pending"], json!(false), "{v}");
    assert_eq!(v["generation"], json!(2));

    // The same with a hard restart.
    save_ok(
        &a,
        &session,
        json!([{ "op": "set", "key": "vserver!10!document_root",
                 "value": s.root().join("site").to_string_lossy() }]),
        "none",
    );
    assert_eq!(page(&s, "example.com", "/").1, "the new site");
    let (r, v) = a.post_json(&session, "/api/apply", &json!({ "mode": "hard" }), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (&v["ok"], &v["generation"]),
        (&json!(true), &json!(3)),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("hard"), "{v}");
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));
}

/// Whether the server closes `stream` within ten seconds (EOF or reset, not a timeout).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_hard_save_applies_and_closes_earlier_connections() {
    let (s, a, session) = start();
    let mut old = TcpStream::connect(s.addr()).unwrap();
    old.write_all(b"GET /a.txt HTTP/1.1\r\nHost: static.test\r\n\r\n")
        .unwrap();
    // Read the whole first response (its length is known) so the connection is idle.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    old.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    while !String::from_utf8_lossy(&got).ends_with("static a") {
        let n = old.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }

    let v = save_ok(
        &a,
        &session,
        json!([{ "op": "set", "key": "vserver!20!rule!100!handler!error", "value": "404" }]),
        "hard",
    );
    assert_eq!(v["applied"]["generation"], json!(2), "{v}");
    assert_eq!(get(s.addr(), "static.test", "/private/x").status, 404);
    assert!(
        closed_by_server(&mut old),
        "a hard restart closes connections accepted before it"
    );
}

#[test]
fn history_shows_diffs_and_rollback_restores_the_previous_text() {
    let (s, a, session) = start();
    let original = file(&s);
    let root = s.root().join("site2");
    save_ok(
        &a,
        &session,
        json!([{ "op": "set", "key": "vserver!10!document_root", "value": root.to_string_lossy() }]),
        "graceful",
    );
    let edited = file(&s);
    assert_eq!(page(&s, "example.com", "/").1, "the new site");

    let ids = history_ids(&a, &session);
    assert_eq!(ids.len(), 1);
    let (r, v) = a.get_json(&session, &format!("/api/history/{}", ids[0]));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["id"].as_str(), Some(ids[0].as_str()));
    assert_eq!(v["text"].as_str().map(str::as_bytes), Some(&original[..]));
    let diff = v["diff"].as_str().unwrap();
    assert!(
        diff.contains(&format!("-vserver!10!document_root = {}", root.display())),
        "{diff}"
    );
    assert!(diff.contains("+vserver!10!document_root = "), "{diff}");
    let (r, _) = a.get_json(&session, "/api/history/20000101T000000Z-999.conf");
    assert_eq!(r.status, 404, "{}", r.text());
    let if_match = format!("If-Match: {}", etag(&a, &session));
    let (r, _) = a.post_json(
        &session,
        "/api/history/20000101T000000Z-999.conf/rollback",
        &json!({ "mode": "graceful" }),
        &[&if_match],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(file(&s), edited);

    // Rollback needs If-Match like any save.
    let rollback = format!("/api/history/{}/rollback", ids[0]);
    let (r, _) = a.post_json(&session, &rollback, &json!({ "mode": "graceful" }), &[]);
    assert_eq!(r.status, 428, "{}", r.text());
    let (r, _) = a.post_json(
        &session,
        &rollback,
        &json!({ "mode": "graceful" }),
        &["If-Match: \"1-0000000000000000\""],
    );
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(file(&s), edited);

    let if_match = format!("If-Match: {}", etag(&a, &session));
    let (r, v) = a.post_json(
        &session,
        &rollback,
        &json!({ "mode": "graceful" }),
        &[&if_match],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["applied"]["ok"], json!(true), "{v}");
    assert_eq!(
        file(&s),
        original,
        "rollback restores the text byte for byte"
    );
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));
    // The version replaced by the rollback is kept in turn.
    let ids = history_ids(&a, &session);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let (_, newest) = a.get_json(&session, &format!("/api/history/{}", ids[0]));
    assert_eq!(
        newest["text"].as_str().map(str::as_bytes),
        Some(&edited[..])
    );
}

#[test]
fn of_two_editors_on_the_same_etag_the_second_gets_412() {
    let (s, a, first) = start();
    let second = a.login();
    let tag1 = etag(&a, &first);
    let tag2 = etag(&a, &second);
    assert_eq!(tag1, tag2);

    let (r, _) = save(
        &a,
        &first,
        &tag1,
        json!([{ "op": "set", "key": "vserver!10!directory_index", "value": "news.html" }]),
        "graceful",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let after_first = file(&s);
    let (r, v) = save(
        &a,
        &second,
        &tag2,
        json!([{ "op": "set", "key": "vserver!10!directory_index", "value": "other.html" }]),
        "graceful",
    );
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(v["etag"].as_str(), Some(etag(&a, &second).as_str()));
    assert_eq!(file(&s), after_first, "the first editor's change stands");
    assert_eq!(page(&s, "example.com", "/"), (200, "old news".into()));
    assert_eq!(history_ids(&a, &first).len(), 1);
}

#[test]
fn maintenance_on_and_off_through_the_api() {
    let (s, a, session) = start();
    let original = file(&s);
    let v = save_ok(
        &a,
        &session,
        json!([{ "op": "maintenance_on", "vserver": "example", "retry_after": 120 }]),
        "graceful",
    );
    assert_eq!(v["changed"], json!(true));
    for url in ["/", "/news.html", "/missing", "/a/b?c=d"] {
        assert_maintenance_503(&get(s.addr(), "example.com", url), "120");
    }
    assert_maintenance_503(&get(s.addr(), "example.org", "/"), "120");
    assert_eq!(
        page(&s, "other.test", "/"),
        (200, "the default vserver".into())
    );
    assert_eq!(page(&s, "static.test", "/a.txt"), (200, "static a".into()));

    // The document shows the copycat directly above the original.
    let (_, doc) = a.get_json(&session, "/api/config/document");
    let nicks: Vec<&str> = doc["vservers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["nick"].as_str().unwrap())
        .collect();
    assert_eq!(
        nicks,
        ["static", "example-maintenance", "example", "default"]
    );
    assert_eq!(doc["vservers"][1]["maintenance_of"], json!("example"));

    // A second `on` is refused, nothing changes.
    let during = file(&s);
    let tag = etag(&a, &session);
    let (r, v) = save(
        &a,
        &session,
        &tag,
        json!([{ "op": "maintenance_on", "vserver": "example" }]),
        "graceful",
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("already in maintenance"),
        "{v}"
    );
    assert_eq!(file(&s), during);

    save_ok(
        &a,
        &session,
        json!([{ "op": "maintenance_off", "vserver": "example" }]),
        "graceful",
    );
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));
    let r = get(s.addr(), "example.com", "/news.html");
    assert_eq!((r.status, r.text().as_str()), (200, "old news"));
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(file(&s), original, "off gives the file back byte for byte");
}

#[test]
fn maintenance_allow_from_lets_this_client_reach_the_live_original() {
    let (s, a, session) = start();
    save_ok(
        &a,
        &session,
        json!([{ "op": "maintenance_on", "vserver": "example", "retry_after": 120,
                 "allow_from": ["127.0.0.1/32"] }]),
        "graceful",
    );
    assert!(String::from_utf8(file(&s))
        .unwrap()
        .contains("!match!exclude!from = 127.0.0.1/32\n"));
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));
    // Staff see a change made to the live site while in maintenance.
    s.write("site/news.html", "changed during maintenance");
    assert_eq!(
        page(&s, "example.com", "/news.html"),
        (200, "changed during maintenance".into())
    );
    save_ok(
        &a,
        &session,
        json!([{ "op": "maintenance_off", "vserver": "example" }]),
        "graceful",
    );
    assert_eq!(
        page(&s, "example.com", "/news.html"),
        (200, "changed during maintenance".into())
    );
}

#[test]
fn the_generic_recipe_as_api_edits_answers_like_maintenance_on() {
    let one = start_server();
    let a1 = AdminProc::start(&one.config_path);
    let s1 = a1.login();
    save_ok(
        &a1,
        &s1,
        json!([{ "op": "maintenance_on", "vserver": "example" }]),
        "graceful",
    );

    let two = start_server();
    let a2 = AdminProc::start(&two.config_path);
    let s2 = a2.login();
    // Step 1: the clone (saved only), then find its number in the document.
    save_ok(
        &a2,
        &s2,
        json!([{ "op": "vserver_clone", "source": "example", "nick": "example-maintenance" }]),
        "none",
    );
    let (_, doc) = a2.get_json(&s2, "/api/config/document");
    let id = doc["vservers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["nick"] == json!("example-maintenance"))
        .expect("the clone")["id"]
        .as_u64()
        .unwrap();
    // Still answering with the live site: nothing applied yet.
    assert_eq!(page(&two, "example.com", "/"), (200, LIVE.to_string()));
    // Step 2: domains, the 503 rule with its headers, above the original, graceful.
    save_ok(
        &a2,
        &s2,
        json!([
            { "op": "set", "key": format!("vserver!{id}!match!domain!1"), "value": "example.*" },
            { "op": "rule_remove", "vserver": "example-maintenance", "priority": 1 },
            { "op": "rule_add", "vserver": "example-maintenance", "priority": 1,
              "match": "default", "handler": "custom_error",
              "handler_keys": { "error": "503" },
              "keys": {
                  "header_op!1!type": "add", "header_op!1!header": "Retry-After",
                  "header_op!1!value": "300",
                  "header_op!2!type": "add", "header_op!2!header": "Cache-Control",
                  "header_op!2!value": "no-store"
              } },
            { "op": "vserver_move", "nick": "example-maintenance", "above": "example" }
        ]),
        "graceful",
    );

    for (host, url) in [
        ("example.com", "/"),
        ("example.org", "/news.html"),
        ("example.com", "/missing"),
        ("other.test", "/"),
        ("static.test", "/a.txt"),
    ] {
        let (x, y) = (get(one.addr(), host, url), get(two.addr(), host, url));
        assert_eq!(x.status, y.status, "{host}{url}");
        assert_eq!(x.body, y.body, "{host}{url}");
        for h in ["retry-after", "cache-control", "content-type"] {
            assert_eq!(x.header(h), y.header(h), "{host}{url} {h}");
        }
    }
    assert_maintenance_503(&get(two.addr(), "example.com", "/"), "300");
}

#[test]
fn openapi_describes_every_route_of_the_router() {
    let (_s, a, _session) = start();
    let r = a.request("GET", "/api/openapi.json", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    let doc: Value = serde_json::from_slice(&r.body).expect("openapi.json is JSON");
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    let paths = doc["paths"].as_object().expect("paths");

    // The routes, as the router declares them (read from the source now).
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/admin/mod.rs"))
        .expect("src/admin/mod.rs");
    let mut routes = Vec::new();
    for call in source.split(".route(").skip(1) {
        let (path, rest) = call
            .trim_start()
            .strip_prefix('"')
            .and_then(|c| c.split_once('"'))
            .expect("a route path literal");
        let method = rest
            .trim_start_matches([',', ' ', '\n'])
            .split('(')
            .next()
            .unwrap()
            .trim()
            .to_string();
        routes.push((path.to_string(), method));
    }
    assert!(routes.len() >= 14, "{routes:?}");
    for (path, method) in &routes {
        if !path.starts_with("/api/") {
            continue;
        }
        let op = paths
            .get(path)
            .and_then(|p| p.get(method))
            .unwrap_or_else(|| panic!("openapi.json does not document {method} {path}"));
        assert!(op["responses"].is_object(), "{method} {path}: no responses");
    }
    // And documents nothing the router does not have.
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                routes.iter().any(|(p, m)| p == path && m == method),
                "openapi.json documents {method} {path}, which the router lacks"
            );
        }
    }
}

#[test]
fn the_ui_is_served_with_a_content_security_policy() {
    let (_s, a, _session) = start();
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
    ] {
        let r = a.request("GET", path, &[], None);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with(kind)),
            "{path}: {:?}",
            r.header("content-type")
        );
        let csp = r.header("content-security-policy").expect("CSP");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    assert!(a
        .request("GET", "/", &[], None)
        .text()
        .contains("<form id=\"login-form\""));
}

#[test]
fn status_says_whether_the_server_is_running() {
    let (s, a, session) = start();
    let (r, v) = a.get_json(&session, "/api/status");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["running"], json!(true), "{v}");
    assert_eq!(v["status"]["generation"], json!(1));
    assert_eq!(v["status"]["pid"], json!(s.pid()));
    assert_eq!(
        v["status"]["listeners"][0]["address"]
            .as_str()
            .map(|x| x.contains(&s.addr().port().to_string())),
        Some(true),
        "{v}"
    );

    s.signal(libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let (r, v) = a.get_json(&session, "/api/status");
        assert_eq!(r.status, 200, "{}", r.text());
        if v["running"] == json!(false) {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "still running after SIGTERM: {v}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!v["message"].as_str().unwrap_or("").is_empty(), "{v}");
    assert!(v.get("status").is_none() || v["status"].is_null(), "{v}");
    // Reading the configuration does not need the server.
    let (r, _) = a.get_json(&session, "/api/config");
    assert_eq!(r.status, 200);
    // The running diff cannot be made: 503.
    let (r, _) = a.get_json(&session, "/api/diff/running");
    assert_eq!(r.status, 503, "{}", r.text());
    // A save is still made (it applies when the server starts), and says it was not
    // applied.
    let tag = etag(&a, &session);
    let (r, v) = save(
        &a,
        &session,
        &tag,
        json!([{ "op": "set", "key": "server!timeout", "value": "9" }]),
        "graceful",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["changed"], json!(true), "{v}");
    assert_eq!(v["applied"]["ok"], json!(false), "{v}");
    assert!(
        v["applied"]["message"]
            .as_str()
            .unwrap()
            .contains("control socket"),
        "{v}"
    );
    assert!(String::from_utf8(file(&s))
        .unwrap()
        .contains("server!timeout = 9\n"));
    let _ = s.wait_exit();
}

#[test]
fn a_file_broken_by_hand_is_reported_and_apply_refused_with_key_and_line() {
    let (s, a, session) = start();
    let good = String::from_utf8(file(&s)).unwrap();
    let key = "vserver!10!rule!1!handler";
    let broken = good.replace(&format!("{key} = common"), &format!("{key} = bogus"));
    assert_ne!(broken, good);
    std::fs::write(&s.config_path, &broken).unwrap();
    let line = line_of(&broken, key);

    let (r, v) = a.get_json(&session, "/api/config");
    assert_eq!(r.status, 200, "{}", r.text());
    let d = &v["diagnostics"][0];
    assert_eq!(
        (d["key"].as_str(), d["line"].as_u64()),
        (Some(key), Some(line)),
        "{v}"
    );
    assert_eq!(d["severity"], json!("error"));

    // The server refuses it and says why; the running generation keeps serving.
    let (r, v) = a.post_json(&session, "/api/apply", &json!({ "mode": "graceful" }), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(v["ok"], json!(false), "{v}");
    assert!(v["message"].as_str().unwrap().contains("bogus"), "{v}");
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == json!(key))
        .unwrap_or_else(|| panic!("no diagnostic for {key}: {v}"));
    assert_eq!(d["line"].as_u64(), Some(line), "{d}");
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));
    let (_, v) = a.get_json(&session, "/api/diff/running");
    assert_eq!(v["pending"], json!(true), "{v}");
    assert_eq!(v["generation"], json!(1), "{v}");
    assert!(
        v["diff"]
            .as_str()
            .unwrap()
            .contains(&format!("+{key} = bogus")),
        "{v}"
    );

    // An edit that fixes it is accepted.
    save_ok(
        &a,
        &session,
        json!([{ "op": "set", "key": key, "value": "common" }]),
        "graceful",
    );
    assert_eq!(file(&s), good.as_bytes());
}

#[test]
fn concurrent_saves_on_one_etag_let_exactly_one_through() {
    let (s, a, session) = start();
    let tag = etag(&a, &session);
    let a = std::sync::Arc::new(a);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (a, session, tag) = (a.clone(), session.clone(), tag.clone());
            std::thread::spawn(move || {
                let edits = json!([{ "op": "set", "key": "server!timeout", "value": format!("{}", 10 + i) }]);
                let (r, _) = save(&a, &session, &tag, edits, "none");
                (i, r.status)
            })
        })
        .collect();
    let results: Vec<(i32, u16)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let winners: Vec<i32> = results
        .iter()
        .filter(|(_, st)| *st == 200)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results.iter().all(|(_, st)| *st == 200 || *st == 412),
        "{results:?}"
    );
    let text = String::from_utf8(file(&s)).unwrap();
    assert!(
        text.contains(&format!("server!timeout = {}\n", 10 + winners[0])),
        "{text}"
    );
    assert_eq!(history_ids(&a, &session).len(), 1);
}

#[test]
fn maintenance_with_a_staff_cookie_a_staff_host_and_a_page() {
    let (s, a, session) = start();
    let original = file(&s);
    s.write("page/index.html", "<h1>back soon</h1>");
    let page_dir = s.root().join("page");
    save_ok(
        &a,
        &session,
        json!([{ "op": "maintenance_on", "vserver": "example", "retry_after": 60,
                 "page": page_dir.to_string_lossy(),
                 "allow_cookie": "staff=let-me-in", "allow_host": ["intranet.example.test"] }]),
        "graceful",
    );
    // Visitors get the page (status 200, as documented) for every URL, not cached.
    for url in ["/", "/news.html", "/missing"] {
        let r = get(s.addr(), "example.com", url);
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "<h1>back soon</h1>"),
            "{url}"
        );
        assert_eq!(r.header("retry-after"), Some("60"), "{url}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{url}");
    }
    // Staff: by cookie, or by the extra host name, reach the live original.
    let r = get_with(
        s.addr(),
        "example.com",
        "/news.html",
        &["Cookie: staff=let-me-in"],
    );
    assert_eq!((r.status, r.text().as_str()), (200, "old news"));
    let r = get_with(s.addr(), "example.com", "/", &["Cookie: staff=nope"]);
    assert_eq!(r.text(), "<h1>back soon</h1>");
    assert_eq!(
        page(&s, "intranet.example.test", "/news.html"),
        (200, "old news".into())
    );

    save_ok(
        &a,
        &session,
        json!([{ "op": "maintenance_off", "vserver": "example" }]),
        "graceful",
    );
    assert_eq!(page(&s, "example.com", "/"), (200, LIVE.to_string()));
    assert_eq!(
        page(&s, "intranet.example.test", "/"),
        (200, "the default vserver".into()),
        "off removes the staff host"
    );
    assert_eq!(file(&s), original);
}

#[test]
fn structural_edits_through_the_api_are_served() {
    let (s, a, session) = start();
    s.write("new/index.html", "the new vserver");
    s.write("new/private/x", "private x");
    let root = s.root().join("new");
    save_ok(
        &a,
        &session,
        json!([{ "op": "vserver_add", "nick": "new", "document_root": root.to_string_lossy(),
                 "domains": ["new.test"] }]),
        "graceful",
    );
    assert_eq!(
        page(&s, "new.test", "/index.html"),
        (200, "the new vserver".into())
    );
    save_ok(
        &a,
        &session,
        json!([{ "op": "rule_add", "vserver": "new", "match": "directory",
                 "match_keys": { "directory": "/private" }, "handler": "custom_error",
                 "handler_keys": { "error": "403" }, "priority": 500 }]),
        "graceful",
    );
    assert_eq!(get(s.addr(), "new.test", "/private/x").status, 403);
    let (_, doc) = a.get_json(&session, "/api/config/document");
    let new = doc["vservers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["nick"] == json!("new"))
        .unwrap()
        .clone();
    let priorities: Vec<u64> = new["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["priority"].as_u64().unwrap())
        .collect();
    assert_eq!(priorities, [500, 1]);
    // Move the rule below the default one: the default rule now takes every URL.
    save_ok(
        &a,
        &session,
        json!([{ "op": "rule_move", "vserver": "new", "priority": 500, "to": 0 }]),
        "graceful",
    );
    let r = get(s.addr(), "new.test", "/private/x");
    assert_eq!((r.status, r.text().as_str()), (200, "private x"));
    save_ok(
        &a,
        &session,
        json!([
            { "op": "rule_remove", "vserver": "new", "priority": 0 },
            { "op": "vserver_move", "nick": "new", "below": "example" },
            { "op": "set", "key": "server!timeout", "value": "9" },
            { "op": "unset", "key": "server!timeout" }
        ]),
        "graceful",
    );
    let (_, doc) = a.get_json(&session, "/api/config/document");
    let nicks: Vec<&str> = doc["vservers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["nick"].as_str().unwrap())
        .collect();
    assert_eq!(nicks, ["static", "example", "new", "default"]);
    assert_eq!(
        page(&s, "new.test", "/index.html"),
        (200, "the new vserver".into())
    );
    save_ok(
        &a,
        &session,
        json!([{ "op": "vserver_remove", "nick": "new" }]),
        "graceful",
    );
    assert_eq!(
        page(&s, "new.test", "/index.html"),
        (200, "the default vserver".into())
    );
    // default cannot be removed: refused with the reason.
    let tag = etag(&a, &session);
    let (r, v) = save(
        &a,
        &session,
        &tag,
        json!([{ "op": "vserver_remove", "nick": "default" }]),
        "graceful",
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(v["error"].as_str().unwrap().contains("default"), "{v}");
}

#[test]
fn the_openapi_edit_ops_are_the_ones_the_server_accepts() {
    let (_s, a, session) = start();
    let r = a.request("GET", "/api/openapi.json", &[], None);
    let doc: Value = serde_json::from_slice(&r.body).unwrap();
    let mut documented: Vec<String> = doc["components"]["schemas"]["Edit"]["properties"]["op"]
        ["enum"]
        .as_array()
        .expect("Edit.op enum")
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    documented.sort();
    // The variants of `enum Edit` in src/admin/edits.rs, in snake_case.
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/admin/edits.rs"))
            .unwrap();
    let body = source
        .split("pub enum Edit {")
        .nth(1)
        .and_then(|b| b.split("\n}\n").next())
        .expect("enum Edit");
    let mut variants: Vec<String> = body
        .lines()
        .filter(|l| l.starts_with("    ") && !l.starts_with("     "))
        .map(str::trim)
        .filter(|l| l.chars().next().is_some_and(char::is_uppercase))
        .map(|l| {
            let name: String = l.chars().take_while(|c| c.is_alphanumeric()).collect();
            let mut snake = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            snake
        })
        .collect();
    variants.sort();
    assert_eq!(documented, variants);
    // Each documented op is known to the server (an unknown op is not).
    for op in &documented {
        let (r, _) = a.post_json(
            &session,
            "/api/preview",
            &json!({ "edits": [{ "op": op }] }),
            &[],
        );
        assert!(!r.text().contains("unknown variant"), "{op}: {}", r.text());
    }
    let (r, _) = a.post_json(
        &session,
        "/api/preview",
        &json!({ "edits": [{ "op": "frobnicate" }] }),
        &[],
    );
    assert!(r.status >= 400 && r.status < 500, "{}", r.text());
}

#[test]
fn a_malformed_edit_is_refused_with_a_json_error() {
    let (s, a, session) = start();
    let before = file(&s);
    let tag = etag(&a, &session);
    for edits in [
        json!([{ "op": "frobnicate" }]),
        json!([{ "op": "set", "key": "server!timeout" }]),
    ] {
        let (r, v) = save(&a, &session, &tag, edits.clone(), "graceful");
        assert_eq!(r.status, 422, "{}", r.text());
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{edits}: {:?} {}",
            r.header("content-type"),
            r.text()
        );
        assert!(v["error"].is_string(), "{v}");
    }
    assert_eq!(file(&s), before);
}

#[test]
fn a_syntax_error_in_a_text_edit_has_a_diagnostic_with_its_line() {
    let (s, a, session) = start();
    let before = file(&s);
    let mut text = String::from_utf8(before.clone()).unwrap();
    text.push_str("this line has no equals sign\n");
    let line = text.lines().count() as u64;
    let tag = etag(&a, &session);
    let (r, v) = save(
        &a,
        &session,
        &tag,
        json!([{ "op": "text", "text": text }]),
        "graceful",
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(file(&s), before);
    let d = &v["diagnostics"][0];
    assert_eq!(d["line"].as_u64(), Some(line), "{v}");
    assert_eq!(d["severity"], json!("error"), "{v}");
}

#[test]
fn if_match_accepts_a_list_of_etags() {
    let (s, a, session) = start();
    let tag = etag(&a, &session);
    let (r, _) = save(
        &a,
        &session,
        &format!("\"0-0000000000000000\", {tag}"),
        json!([{ "op": "set", "key": "server!timeout", "value": "9" }]),
        "none",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(String::from_utf8(file(&s))
        .unwrap()
        .contains("server!timeout = 9\n"));
}

#[test]
fn status_counts_requests_and_connections_by_generation() {
    let (s, a, session) = start();
    let (_, v) = a.get_json(&session, "/api/status");
    let before = v["status"]["requests_total"]
        .as_u64()
        .expect("requests_total");
    for _ in 0..5 {
        assert_eq!(get(s.addr(), "static.test", "/a.txt").status, 200);
    }
    let mut kept = Raw::connect(s.addr());
    kept.send("GET /a.txt HTTP/1.1\r\nHost: static.test\r\n\r\n");
    assert_eq!(kept.read_response().unwrap().status, 200);
    // A connection the client saw closed may be counted a moment longer (its task ends
    // after the socket is closed): wait for the count to settle on the kept one.
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let (_, v) = a.get_json(&session, "/api/status");
        if v["status"]["connections_by_generation"]["1"] == json!(1) || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        v["status"]["requests_total"].as_u64(),
        Some(before + 6),
        "{v}"
    );
    assert_eq!(
        v["status"]["connections_by_generation"]["1"],
        json!(1),
        "{v}"
    );

    save_ok(
        &a,
        &session,
        json!([{ "op": "set", "key": "server!timeout", "value": "9" }]),
        "graceful",
    );
    let (_, v) = a.get_json(&session, "/api/status");
    let st = &v["status"];
    assert_eq!(st["generation"], json!(2), "{v}");
    // The kept-alive connection still counts under the generation that accepted it.
    assert_eq!(st["connections_by_generation"]["1"], json!(1), "{v}");
    assert!(
        st["generations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == json!(2) && g["live"] == json!(true)),
        "{v}"
    );
}

/// `example` (10) and `static` (11) leave no free number above `example`, so `on`
/// renumbers the virtual servers to make room.
const TIGHT: &str = "server!bind!1!port = 0\n\
server!bind!1!interface = 127.0.0.1\n\
server!control_socket = %ROOT%/control.sock\n\
vserver!1!nick = default\n\
vserver!1!document_root = %ROOT%/default\n\
vserver!1!rule!1!match = default\n\
vserver!1!rule!1!handler = common\n\
vserver!10!nick = example\n\
vserver!10!document_root = %ROOT%/site\n\
vserver!10!match = wildcard\n\
vserver!10!match!domain!1 = example.*\n\
vserver!10!rule!1!match = default\n\
vserver!10!rule!1!handler = common\n\
vserver!11!nick = static\n\
vserver!11!document_root = %ROOT%/static\n\
vserver!11!match = wildcard\n\
vserver!11!match!domain!1 = static.test\n\
vserver!11!rule!1!match = default\n\
vserver!11!rule!1!handler = common\n";

#[test]
fn maintenance_off_gives_the_file_back_even_after_a_renumbering() {
    let s = Server::start_with(TIGHT, |root| {
        write_file(root, "site/index.html", LIVE);
        write_file(root, "default/index.html", "the default vserver");
        write_file(root, "static/a.txt", "static a");
    });
    let a = AdminProc::start(&s.config_path);
    let session = a.login();
    let original = file(&s);
    save_ok(
        &a,
        &session,
        json!([{ "op": "maintenance_on", "vserver": "example" }]),
        "graceful",
    );
    assert_maintenance_503(&get(s.addr(), "example.com", "/"), "300");
    assert_eq!(page(&s, "static.test", "/a.txt"), (200, "static a".into()));
    save_ok(
        &a,
        &session,
        json!([{ "op": "maintenance_off", "vserver": "example" }]),
        "graceful",
    );
    // TIGHT has no directory index: ask for the page itself.
    assert_eq!(
        page(&s, "example.com", "/index.html"),
        (200, LIVE.to_string())
    );
    assert_eq!(
        String::from_utf8(file(&s)).unwrap(),
        String::from_utf8(original).unwrap(),
        "off gives the file back byte for byte"
    );
}

#[test]
fn an_edit_made_with_the_cli_makes_the_editors_etag_stale() {
    let (s, a, session) = start();
    let tag = etag(&a, &session);
    let path = s.config_path.to_string_lossy().into_owned();
    let (code, out, err) = baton_cli(&[
        "config",
        "set",
        "server!timeout",
        "11",
        "-C",
        &path,
        "--apply",
        "none",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let after_cli = file(&s);
    let (r, v) = save(
        &a,
        &session,
        &tag,
        json!([{ "op": "set", "key": "server!timeout", "value": "22" }]),
        "graceful",
    );
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(v["etag"].as_str(), Some(etag(&a, &session).as_str()));
    assert_eq!(file(&s), after_cli, "the CLI's change stands");

    // The admin and the CLI see the same history, newest first.
    let (_, text, _) = baton_cli(&["config", "history", "-C", &path]);
    let cli_ids: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(history_ids(&a, &session), cli_ids);
}

#[test]
fn edits_of_keys_an_included_file_sets_are_refused_naming_it() {
    let config = SITE.to_string() + "include = %ROOT%/more.conf\n";
    let s = Server::start_with(&config, |root| {
        write_file(root, "more.conf", "# more\nserver!timeout = 5\n");
        write_file(root, "site/index.html", LIVE);
        write_file(root, "site/news.html", "old news");
        write_file(root, "default/index.html", "the default vserver");
    });
    let a = AdminProc::start(&s.config_path);
    let session = a.login();
    let before = file(&s);
    let tag = etag(&a, &session);
    for edits in [
        json!([{ "op": "set", "key": "server!timeout", "value": "9" }]),
        json!([{ "op": "unset", "key": "server" }]),
        json!([{ "op": "set", "key": "include", "value": "/etc/passwd" }]),
    ] {
        let (r, v) = save(&a, &session, &tag, edits.clone(), "graceful");
        assert_eq!(r.status, 422, "{edits}: {}", r.text());
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("include"), "{edits}: {msg}");
        assert_eq!(file(&s), before, "{edits}");
    }
    let (_, v) = save(
        &a,
        &session,
        &tag,
        json!([{ "op": "set", "key": "server!timeout", "value": "9" }]),
        "graceful",
    );
    assert!(v["error"].as_str().unwrap().contains("more.conf:2"), "{v}");
    // Other keys are edited as usual.
    save_ok(
        &a,
        &session,
        json!([{ "op": "set", "key": "vserver!10!directory_index", "value": "news.html" }]),
        "graceful",
    );
    assert_eq!(page(&s, "example.com", "/"), (200, "old news".into()));
}

#[test]
fn cli_history_json_lists_versions_in_the_apis_order() {
    let (s, a, session) = start();
    for v in ["7", "8", "9"] {
        save_ok(
            &a,
            &session,
            json!([{ "op": "set", "key": "server!timeout", "value": v }]),
            "none",
        );
    }
    let api = history_ids(&a, &session);
    assert_eq!(api.len(), 3);
    let (code, out, err) = baton_cli(&[
        "config",
        "history",
        "--json",
        "-C",
        &s.config_path.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let cli: Vec<String> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cli, api);
}
