//! Behavior rules end to end: every rule type, Cherokee's merge semantics, the properties a
//! rule sets, internal and external redirections, directory indexes and error handlers.
//!
//! Most match tests use the same shape: the rule under test answers with `custom_error`
//! 418 (an unmistakable marker) and the `default` rule serves files with `common`, so
//! "matched" is 418 and "did not match" is whatever `common` says (200, 404, 301…).
mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// A configuration with one listener on a free loopback port and the `default` virtual
/// server (vserver 1, document root `%ROOT%/www`). Every line of `lines` is a key of
/// vserver 1 (`rule!10!match = …`), unless it starts with `server!` or `vserver!`.
fn site(lines: &str) -> String {
    let mut c = String::from(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/www\n",
    );
    for l in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !(l.starts_with("server!") || l.starts_with("vserver!")) {
            c.push_str("vserver!1!");
        }
        c.push_str(l);
        c.push('\n');
    }
    c
}

/// The `default` rule serving files.
const DEFAULT_COMMON: &str = "\nrule!1!match = default\nrule!1!handler = common\n";

/// A rule at priority `prio` answering 418 when `matcher` (lines under `match`) matches.
fn teapot_rule(prio: u32, matcher: &str) -> String {
    let mut s = String::new();
    for l in matcher.lines().map(str::trim).filter(|l| !l.is_empty()) {
        s.push_str(&format!("rule!{prio}!{l}\n"));
    }
    s.push_str(&format!(
        "rule!{prio}!handler = custom_error\nrule!{prio}!handler!error = 418\n"
    ));
    s
}

fn start_site(lines: &str, files: &[(&str, &str)]) -> Server {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    Server::start_with(&site(lines), move |root| {
        std::fs::create_dir_all(root.join("www")).expect("www");
        for (rel, content) in &files {
            write_file(root, rel, content);
        }
    })
}

fn status(server: &Server, path: &str) -> u16 {
    get(server.addr(), "localhost", path).status
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut d = async_compression::tokio::bufread::GzipDecoder::new(data);
        let mut out = Vec::new();
        d.read_to_end(&mut out).await.expect("a valid gzip stream");
        out
    })
}

/// Waits (bounded, 10 s) until a line of the file at `path` contains `needle`; returns the
/// file's content at that point.
fn wait_for_line(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|l| l.contains(needle)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no line containing {needle:?} in {} after 10 s; content:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Text larger than the 256-byte compression threshold.
fn big_text() -> String {
    "All work and no play makes Jack a dull boy.\n".repeat(40)
}

// ---------------------------------------------------------------------------------------
// Rule types
// ---------------------------------------------------------------------------------------

#[test]
fn default_rule_answers_every_request() {
    let s = start_site(
        DEFAULT_COMMON,
        &[("www/a.txt", "a\n"), ("www/d/b.txt", "b\n")],
    );
    let r = get(s.addr(), "localhost", "/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "a\n"));
    assert_eq!(get(s.addr(), "localhost", "/d/b.txt").text(), "b\n");
    assert_eq!(status(&s, "/missing"), 404);
}

#[test]
fn directory_rule_matches_whole_path_segments_only() {
    let cfg = teapot_rule(10, "match = directory\nmatch!directory = /icons") + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/iconset/x.png", "x")]);
    assert_eq!(status(&s, "/icons"), 418);
    assert_eq!(status(&s, "/icons/"), 418);
    assert_eq!(status(&s, "/icons/a/b.png"), 418);
    assert_eq!(status(&s, "/iconset/x.png"), 200);
    assert_eq!(status(&s, "/iconsx"), 404);
}

#[test]
fn extensions_rule_matches_the_last_segment_extension() {
    let cfg = teapot_rule(10, "match = extensions\nmatch!extensions = png,jpg") + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a.txt", "a"), ("www/png", "p")]);
    assert_eq!(status(&s, "/a.png"), 418);
    assert_eq!(status(&s, "/dir/b.jpg"), 418);
    assert_eq!(status(&s, "/a.txt"), 200);
    assert_eq!(status(&s, "/png"), 200);
    assert_eq!(status(&s, "/x.png.txt"), 404);
}

#[test]
fn request_rule_is_a_regex_over_path_and_query() {
    let cfg = teapot_rule(
        20,
        r"match = request
         match!request = ^/search\?q=",
    ) + &teapot_rule(10, "match = request\nmatch!request = ^/item/[0-9]+$")
        .replace("418", "410")
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/search", "s")]);
    assert_eq!(status(&s, "/search?q=rust"), 418);
    assert_eq!(status(&s, "/search"), 200, "no query: the regex needs ?q=");
    assert_eq!(status(&s, "/search?x=1"), 200);
    assert_eq!(status(&s, "/item/42"), 410);
    assert_eq!(status(&s, "/item/42x"), 404);
}

#[test]
fn header_rule_matches_a_regex_on_a_header() {
    let cfg = teapot_rule(
        10,
        "match = header\nmatch!header = User-Agent\nmatch!match = (?i)^curl/",
    ) + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a.txt", "a")]);
    let hit = get_with(s.addr(), "localhost", "/a.txt", &["User-Agent: CURL/8.0"]);
    assert_eq!(hit.status, 418);
    let miss = get_with(
        s.addr(),
        "localhost",
        "/a.txt",
        &["User-Agent: Mozilla/5.0"],
    );
    assert_eq!(miss.status, 200);
    assert_eq!(status(&s, "/a.txt"), 200, "absent header does not match");
}

#[test]
fn header_rule_with_type_provided_matches_any_value() {
    let cfg = teapot_rule(
        10,
        "match = header\nmatch!header = X-Debug\nmatch!type = provided",
    ) + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a.txt", "a")]);
    assert_eq!(
        get_with(s.addr(), "localhost", "/a.txt", &["X-Debug: anything"]).status,
        418
    );
    assert_eq!(
        get_with(s.addr(), "localhost", "/a.txt", &["X-Debug: "]).status,
        418
    );
    assert_eq!(status(&s, "/a.txt"), 200);
}

#[test]
fn exists_rule_checks_listed_names_against_the_document_root() {
    let cfg = teapot_rule(10, "match = exists\nmatch!exists = a.txt,b.txt") + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a.txt", "a"), ("www/c.txt", "c")]);
    assert_eq!(status(&s, "/a.txt"), 418, "listed and present");
    assert_eq!(status(&s, "/b.txt"), 404, "listed but absent");
    assert_eq!(status(&s, "/c.txt"), 200, "present but not listed");
}

#[test]
fn exists_rule_match_any_and_match_only_files() {
    let cfg = teapot_rule(
        20,
        "match = and
         match!left = directory
         match!left!directory = /all
         match!right = exists
         match!right!match_any = 1
         match!right!match_only_files = 0",
    )
    .replace("418", "410")
        + &teapot_rule(10, "match = exists\nmatch!match_any = 1")
        + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[
            ("www/f.txt", "f"),
            ("www/sub/g.txt", "g"),
            ("www/all/h.txt", "h"),
            ("www/all/dir/i.txt", "i"),
        ],
    );
    // match_any: whatever is requested, if it exists as a file.
    assert_eq!(status(&s, "/f.txt"), 418);
    assert_eq!(status(&s, "/sub/g.txt"), 418);
    assert_eq!(status(&s, "/nothing.txt"), 404);
    // match_only_files defaults to on: a directory does not count.
    let r = get(s.addr(), "localhost", "/sub");
    assert_eq!(
        r.status, 301,
        "directory served by common, not the exists rule"
    );
    // match_only_files = 0: directories count too.
    assert_eq!(status(&s, "/all/dir"), 410);
    assert_eq!(status(&s, "/all/h.txt"), 410);
    assert_eq!(status(&s, "/all/none"), 404);
}

#[test]
fn method_rule_matches_listed_methods() {
    let cfg = teapot_rule(10, "match = method\nmatch!method = post,put") + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a.txt", "a")]);
    for m in ["POST", "PUT"] {
        let r = raw_request(
            s.addr(),
            &format!(
                "{m} /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(r.status, 418, "{m}");
    }
    assert_eq!(status(&s, "/a.txt"), 200);
}

#[test]
fn fullpath_rule_matches_exact_paths() {
    let cfg = teapot_rule(
        10,
        "match = fullpath\nmatch!fullpath!1 = /exact\nmatch!fullpath!2 = /other.html",
    ) + DEFAULT_COMMON;
    let s = start_site(&cfg, &[]);
    assert_eq!(status(&s, "/exact"), 418);
    assert_eq!(status(&s, "/other.html"), 418);
    assert_eq!(status(&s, "/exact/"), 404);
    assert_eq!(status(&s, "/exactly"), 404);
    assert_eq!(status(&s, "/dir/other.html"), 404);
}

#[test]
fn from_rule_matches_the_client_subnet() {
    let cfg = teapot_rule(20, "match = from\nmatch!from = 10.0.0.0/8").replace("418", "410")
        + &teapot_rule(10, "match = from\nmatch!from = 127.0.0.0/8")
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a.txt", "a")]);
    // The client is 127.0.0.1: the 10/8 rule (higher priority) is skipped.
    assert_eq!(status(&s, "/a.txt"), 418);
}

#[test]
fn url_arg_rule_matches_a_named_argument() {
    let cfg = teapot_rule(
        10,
        "match = url_arg\nmatch!arg = id\nmatch!match = ^[0-9]+$",
    ) + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/p", "p")]);
    assert_eq!(status(&s, "/p?id=12"), 418);
    assert_eq!(status(&s, "/p?x=1&id=7"), 418);
    assert_eq!(status(&s, "/p?id=ab"), 200);
    assert_eq!(status(&s, "/p?other=12"), 200);
    assert_eq!(status(&s, "/p"), 200);
    assert_eq!(
        status(&s, "/p?id=%31%32"),
        418,
        "values are percent-decoded"
    );
}

#[test]
fn url_arg_rule_without_arg_matches_any_argument() {
    let cfg = teapot_rule(10, "match = url_arg\nmatch!match = ^magic$") + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/p", "p")]);
    assert_eq!(status(&s, "/p?zzz=magic"), 418);
    assert_eq!(status(&s, "/p?a=1&b=magic"), 418);
    assert_eq!(status(&s, "/p?a=magical"), 200);
}

#[test]
fn bind_rule_matches_only_its_listener() {
    let cfg = "server!bind!2!port = 0\nserver!bind!2!interface = 127.0.0.1\n".to_string()
        + &teapot_rule(10, "match = bind\nmatch!bind!1 = 2")
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a.txt", "a")]);
    let addr = |id: u64| {
        s.listeners
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("listener {id} in {:?}", s.listeners))
    };
    assert_eq!(get(addr(1), "localhost", "/a.txt").status, 200);
    assert_eq!(get(addr(2), "localhost", "/a.txt").status, 418);
}

#[test]
fn tls_rule_never_matches_plain_http() {
    let cfg = teapot_rule(10, "match = tls") + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a.txt", "a")]);
    assert_eq!(status(&s, "/a.txt"), 200);
}

#[test]
fn and_or_not_nest_three_levels_deep() {
    // directory /a AND NOT (extension txt OR method POST)
    let cfg = teapot_rule(
        10,
        "match = and
         match!left = directory
         match!left!directory = /a
         match!right = not
         match!right!right = or
         match!right!right!left = extensions
         match!right!right!left!extensions = txt
         match!right!right!right = method
         match!right!right!right!method = post",
    ) + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a/x.txt", "t"), ("www/b/x.html", "h")]);
    assert_eq!(status(&s, "/a/x.html"), 418);
    assert_eq!(status(&s, "/a/x.txt"), 200, "txt excluded by the NOT");
    assert_eq!(status(&s, "/b/x.html"), 200, "outside /a");
    let post = raw_request(
        s.addr(),
        "POST /a/x.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        post.status, 405,
        "POST excluded by the NOT; common refuses it"
    );
}

// ---------------------------------------------------------------------------------------
// Merge semantics
// ---------------------------------------------------------------------------------------

#[test]
fn non_final_rule_adds_header_and_encoder_to_the_answering_rule() {
    let cfg = "rule!100!match = directory
         rule!100!match!directory = /
         rule!100!match!final = 0
         rule!100!header_op!1!type = add
         rule!100!header_op!1!header = X-Extra
         rule!100!header_op!1!value = yes
         rule!100!encoder!gzip = allow
         rule!50!match = extensions
         rule!50!match!extensions = txt
         rule!50!handler = file
         rule!1!match = default
         rule!1!handler = common";
    let text = big_text();
    let s = start_site(cfg, &[("www/big.txt", &text), ("www/big.html", &text)]);
    for path in ["/big.txt", "/big.html"] {
        let r = get_with(s.addr(), "localhost", path, &["Accept-Encoding: gzip"]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("x-extra"), Some("yes"), "{path}");
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(gunzip(&r.body), text.as_bytes(), "{path}");
    }
}

#[test]
fn higher_priority_final_rule_stops_lower_ones() {
    let cfg = "rule!20!match = directory
         rule!20!match!directory = /a
         rule!20!handler = common
         rule!20!header_op!1!header = X-High
         rule!20!header_op!1!value = 1
         rule!10!match = directory
         rule!10!match!directory = /a
         rule!10!handler = custom_error
         rule!10!handler!error = 418
         rule!10!header_op!1!header = X-Low
         rule!10!header_op!1!value = 1"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/a/f.txt", "f")]);
    let r = get(s.addr(), "localhost", "/a/f.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-high"), Some("1"));
    assert_eq!(r.header("x-low"), None);
}

#[test]
fn default_rule_completes_the_handler_of_a_final_rule_without_one() {
    let cfg = "rule!10!match = extensions
         rule!10!match!extensions = txt
         rule!10!header_op!1!header = X-Ext
         rule!10!header_op!1!value = txt"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/f.txt", "content\n")]);
    let r = get(s.addr(), "localhost", "/f.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "content\n");
    assert_eq!(r.header("x-ext"), Some("txt"));
}

// ---------------------------------------------------------------------------------------
// Rule properties
// ---------------------------------------------------------------------------------------

#[test]
fn document_root_of_a_directory_rule_replaces_the_directory() {
    let cfg = "rule!10!match = directory
         rule!10!match!directory = /icons
         rule!10!document_root = %ROOT%/icon-store
         rule!10!handler = common"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[
            ("icon-store/a.png", "from the store"),
            ("icon-store/sub/b.png", "nested"),
            ("www/icons/a.png", "from www"),
        ],
    );
    assert_eq!(
        get(s.addr(), "localhost", "/icons/a.png").text(),
        "from the store"
    );
    assert_eq!(
        get(s.addr(), "localhost", "/icons/sub/b.png").text(),
        "nested"
    );
}

#[test]
fn allow_from_refuses_other_clients_with_403() {
    let cfg = "rule!20!match = directory
         rule!20!match!directory = /private
         rule!20!allow_from = 10.0.0.0/8
         rule!20!handler = common
         rule!10!match = directory
         rule!10!match!directory = /public
         rule!10!allow_from = 127.0.0.1,::1
         rule!10!handler = common"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[("www/private/p.txt", "p"), ("www/public/p.txt", "p")],
    );
    assert_eq!(status(&s, "/private/p.txt"), 403);
    assert_eq!(status(&s, "/public/p.txt"), 200);
}

#[test]
fn only_secure_answers_426_on_plain_http() {
    let cfg = "rule!10!match = directory
         rule!10!match!directory = /secure
         rule!10!only_secure = 1
         rule!10!handler = common"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/secure/s.txt", "s"), ("www/open.txt", "o")]);
    let r = get(s.addr(), "localhost", "/secure/s.txt");
    assert_eq!(r.status, 426);
    assert!(
        r.header("upgrade").is_some_and(|u| u.contains("TLS")),
        "{:?}",
        r.headers
    );
    assert_eq!(status(&s, "/open.txt"), 200);
}

#[test]
fn gzip_encoder_compresses_only_when_the_client_accepts_it() {
    let cfg = "rule!1!match = default\nrule!1!handler = common\nrule!1!encoder!gzip = allow";
    let text = big_text();
    let s = start_site(cfg, &[("www/big.txt", &text)]);
    let r = get_with(
        s.addr(),
        "localhost",
        "/big.txt",
        &["Accept-Encoding: gzip"],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body), text.as_bytes());
    let plain = get(s.addr(), "localhost", "/big.txt");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.body, text.as_bytes());
}

#[test]
fn encoder_forbidden_by_a_higher_rule_wins_over_allow() {
    let cfg = "rule!20!match = directory
         rule!20!match!directory = /nogz
         rule!20!match!final = 0
         rule!20!encoder!gzip = forbid
         rule!1!match = default
         rule!1!handler = common
         rule!1!encoder!gzip = allow";
    let text = big_text();
    let s = start_site(cfg, &[("www/big.txt", &text), ("www/nogz/big.txt", &text)]);
    let allowed = get_with(
        s.addr(),
        "localhost",
        "/big.txt",
        &["Accept-Encoding: gzip"],
    );
    assert_eq!(allowed.header("content-encoding"), Some("gzip"));
    let forbidden = get_with(
        s.addr(),
        "localhost",
        "/nogz/big.txt",
        &["Accept-Encoding: gzip"],
    );
    assert_eq!(forbidden.status, 200);
    assert_eq!(forbidden.header("content-encoding"), None);
    assert_eq!(forbidden.body, text.as_bytes());
}

fn expires_of(r: &RawResponse) -> SystemTime {
    let v = r
        .header("expires")
        .unwrap_or_else(|| panic!("an Expires header in {:?}", r.headers));
    httpdate::parse_http_date(v).unwrap_or_else(|e| panic!("Expires {v:?}: {e}"))
}

#[test]
fn expiration_time_sets_max_age_and_expires() {
    let cfg = "rule!1!match = default
         rule!1!handler = common
         rule!1!expiration = time
         rule!1!expiration!time = 1h";
    let s = start_site(cfg, &[("www/a.txt", "a")]);
    let before = SystemTime::now();
    let r = get(s.addr(), "localhost", "/a.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("max-age=3600"));
    let expires = expires_of(&r);
    let lo = before + Duration::from_secs(3600 - 5);
    let hi = SystemTime::now() + Duration::from_secs(3600 + 5);
    assert!(expires >= lo && expires <= hi, "{:?}", r.header("expires"));
}

#[test]
fn expiration_epoch_and_max() {
    let cfg = "rule!20!match = directory
         rule!20!match!directory = /old
         rule!20!match!final = 0
         rule!20!expiration = epoch
         rule!10!match = directory
         rule!10!match!directory = /forever
         rule!10!match!final = 0
         rule!10!expiration = max
         rule!1!match = default
         rule!1!handler = common";
    let s = start_site(cfg, &[("www/old/a.txt", "a"), ("www/forever/a.txt", "a")]);
    let old = get(s.addr(), "localhost", "/old/a.txt");
    assert_eq!(old.status, 200);
    assert_eq!(old.header("cache-control"), Some("max-age=0"));
    assert!(expires_of(&old) < SystemTime::UNIX_EPOCH + Duration::from_secs(86_400));
    let forever = get(s.addr(), "localhost", "/forever/a.txt");
    assert_eq!(forever.header("cache-control"), Some("max-age=315360000"));
    assert_eq!(
        forever.header("expires"),
        Some("Tue, 19 Jan 2038 03:14:07 GMT")
    );
}

#[test]
fn expiration_caching_directives() {
    let cfg = "rule!20!match = directory
         rule!20!match!directory = /pub
         rule!20!expiration = time
         rule!20!expiration!time = 60
         rule!20!expiration!caching = public
         rule!20!handler = common
         rule!10!match = directory
         rule!10!match!directory = /secret
         rule!10!expiration!caching!no-store = 1
         rule!10!handler = common"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/pub/a.txt", "a"), ("www/secret/a.txt", "a")]);
    let pubr = get(s.addr(), "localhost", "/pub/a.txt");
    assert_eq!(pubr.header("cache-control"), Some("public, max-age=60"));
    assert!(pubr.header("expires").is_some());
    let secret = get(s.addr(), "localhost", "/secret/a.txt");
    assert_eq!(secret.status, 200);
    assert_eq!(secret.header("cache-control"), Some("no-store"));
    assert_eq!(secret.header("expires"), None, "no time, no Expires");
}

#[test]
fn header_op_adds_and_deletes_response_headers() {
    let cfg = "rule!10!match = directory
         rule!10!match!directory = /ops
         rule!10!handler = common
         rule!10!header_op!1!type = add
         rule!10!header_op!1!header = X-Powered-By
         rule!10!header_op!1!value = Baton
         rule!10!header_op!2!type = del
         rule!10!header_op!2!header = ETag"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/ops/a.txt", "a"), ("www/a.txt", "a")]);
    let plain = get(s.addr(), "localhost", "/a.txt");
    assert!(plain.header("etag").is_some(), "common sends an ETag");
    assert_eq!(plain.header("x-powered-by"), None);
    let r = get(s.addr(), "localhost", "/ops/a.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-powered-by"), Some("Baton"));
    assert_eq!(r.header("etag"), None);
}

#[test]
fn no_log_keeps_requests_out_of_the_access_log() {
    let cfg = "logger = combined
         logger!access!type = file
         logger!access!filename = %ROOT%/access.log
         rule!10!match = directory
         rule!10!match!directory = /quiet
         rule!10!match!final = 0
         rule!10!no_log = 1"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[
            ("www/logged.txt", "logged\n"),
            ("www/quiet/q.txt", "q"),
            ("www/after.txt", "after"),
        ],
    );
    let log = s.root().join("access.log");
    let r = get_with(
        s.addr(),
        "localhost",
        "/logged.txt",
        &["User-Agent: probe/1", "Referer: http://ref.example/"],
    );
    assert_eq!(r.status, 200);
    let text = wait_for_line(&log, "/logged.txt");
    let line = text
        .lines()
        .find(|l| l.contains("/logged.txt"))
        .expect("line");
    // Combined: host ident user [date] "request" status bytes "referer" "user-agent"
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with("] \"GET /logged.txt HTTP/1.1\" 200 7 \"http://ref.example/\" \"probe/1\""),
        "{line}"
    );

    assert_eq!(status(&s, "/quiet/q.txt"), 200);
    assert_eq!(status(&s, "/after.txt"), 200);
    let text = wait_for_line(&log, "/after.txt");
    assert!(
        !text.contains("/quiet/"),
        "no_log request was logged:\n{text}"
    );
}

#[test]
fn timeout_property_is_accepted() {
    let cfg = "rule!10!match = directory
         rule!10!match!directory = /slow
         rule!10!timeout = 30
         rule!10!handler = common"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/slow/a.txt", "a")]);
    let r = get(s.addr(), "localhost", "/slow/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "a"));
}

// ---------------------------------------------------------------------------------------
// Redirections
// ---------------------------------------------------------------------------------------

#[test]
fn internal_redirection_evaluates_the_rules_again() {
    let cfg = r"rule!20!match = directory
         rule!20!match!directory = /old
         rule!20!handler = redir
         rule!20!handler!rewrite!1!show = 0
         rule!20!handler!rewrite!1!regex = ^/old/(.*)$
         rule!20!handler!rewrite!1!substring = /new/$1
         rule!10!match = directory
         rule!10!match!directory = /new
         rule!10!document_root = %ROOT%/new-store
         rule!10!handler = common"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[
            ("new-store/page.txt", "new page"),
            ("www/new/page.txt", "www"),
        ],
    );
    let r = get(s.addr(), "localhost", "/old/page.txt");
    assert_eq!(r.status, 200);
    // Served by rule 10 (its document root), not by the default rule.
    assert_eq!(r.text(), "new page");
    assert_eq!(r.header("location"), None);
}

#[test]
fn external_redirection_is_a_301_with_groups_and_host() {
    let cfg = r"rule!10!match = directory
         rule!10!match!directory = /ext
         rule!10!handler = redir
         rule!10!handler!rewrite!1!show = 1
         rule!10!handler!rewrite!1!regex = ^/ext/(.*)$
         rule!10!handler!rewrite!1!substring = http://${host}/moved/$1"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[]);
    let r = get(s.addr(), "example.com", "/ext/a/b.html");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("http://example.com/moved/a/b.html")
    );
}

#[test]
fn redirection_loop_ends_in_500_and_the_server_keeps_serving() {
    let cfg = r"rule!10!match = directory
         rule!10!match!directory = /loop
         rule!10!handler = redir
         rule!10!handler!rewrite!1!show = 0
         rule!10!handler!rewrite!1!regex = ^/loop/(.*)$
         rule!10!handler!rewrite!1!substring = /loop/$1"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/ok.txt", "ok")]);
    assert_eq!(status(&s, "/loop/x"), 500);
    let r = get(s.addr(), "localhost", "/ok.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
}

#[test]
fn directory_index_uses_a_file_then_a_url_entry() {
    let cfg = "directory_index = index.html,/fallback.html\n".to_string() + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[
            ("www/withindex/index.html", "the index"),
            ("www/noindex/other.html", "other"),
            ("www/fallback.html", "the fallback"),
        ],
    );
    let r = get(s.addr(), "localhost", "/withindex/");
    assert_eq!((r.status, r.text().as_str()), (200, "the index"));
    let r = get(s.addr(), "localhost", "/noindex/");
    assert_eq!((r.status, r.text().as_str()), (200, "the fallback"));
}

#[test]
fn directory_without_trailing_slash_redirects_to_the_slash_form() {
    let s = start_site(DEFAULT_COMMON, &[("www/sub/a.txt", "a")]);
    let r = get(s.addr(), "localhost", "/sub");
    assert_eq!(r.status, 301);
    let loc = r.header("location").expect("Location");
    assert!(loc.ends_with("/sub/"), "{loc}");
}

// ---------------------------------------------------------------------------------------
// Error handlers
// ---------------------------------------------------------------------------------------

#[test]
fn error_redir_internal_keeps_the_status_with_the_custom_body() {
    let cfg = "error_handler = error_redir
         error_handler!404!url = /errors/404.html"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/errors/404.html", "<p>custom not found</p>")]);
    let r = get(s.addr(), "localhost", "/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "<p>custom not found</p>");
    assert_eq!(r.header("location"), None);
}

#[test]
fn error_redir_external_answers_302_with_location() {
    let cfg = "error_handler = error_redir
         error_handler!404!url = http://errors.example/notfound
         error_handler!404!show = 1"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[]);
    let r = get(s.addr(), "localhost", "/missing");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("http://errors.example/notfound"));
}

#[test]
fn error_redir_default_url_covers_other_statuses() {
    let cfg = "error_handler = error_redir
         error_handler!404!url = /errors/404.html
         error_handler!default!url = /errors/other.html\n"
        .to_string()
        + &teapot_rule(10, "match = fullpath\nmatch!fullpath!1 = /gone").replace("418", "410")
        + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[
            ("www/errors/404.html", "not here"),
            ("www/errors/other.html", "something else"),
        ],
    );
    let r = get(s.addr(), "localhost", "/gone");
    assert_eq!((r.status, r.text().as_str()), (410, "something else"));
    let r = get(s.addr(), "localhost", "/missing");
    assert_eq!((r.status, r.text().as_str()), (404, "not here"));
}

#[test]
fn custom_error_handler_answers_any_status() {
    let mut cfg = String::new();
    for (i, code) in [503u16, 410, 418, 299, 599].iter().enumerate() {
        cfg.push_str(
            &teapot_rule(
                10 + i as u32,
                &format!("match = fullpath\nmatch!fullpath!1 = /s{code}"),
            )
            .replace("418", &code.to_string()),
        );
    }
    cfg.push_str(DEFAULT_COMMON);
    let s = start_site(&cfg, &[]);
    for code in [503u16, 410, 418, 299, 599] {
        let r = get(s.addr(), "localhost", &format!("/s{code}"));
        assert_eq!(r.status, code);
    }
    let r = get(s.addr(), "localhost", "/s503");
    assert!(r.text().contains("503"), "{}", r.text());
}

#[test]
fn extensions_rule_with_check_local_file_requires_the_file() {
    let cfg = teapot_rule(
        10,
        "match = extensions\nmatch!extensions = php\nmatch!check_local_file = 1",
    ) + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/real.php", "<?php")]);
    assert_eq!(status(&s, "/real.php"), 418);
    assert_eq!(status(&s, "/ghost.php"), 404);
}

#[test]
fn non_final_rules_contribute_access_properties_to_the_answering_rule() {
    let cfg = "rule!30!match = directory
         rule!30!match!directory = /lan
         rule!30!match!final = 0
         rule!30!allow_from = 10.0.0.0/8
         rule!20!match = directory
         rule!20!match!directory = /tls
         rule!20!match!final = 0
         rule!20!only_secure = 1
         rule!10!match = extensions
         rule!10!match!extensions = txt
         rule!10!handler = file"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[
            ("www/lan/a.txt", "a"),
            ("www/tls/a.txt", "a"),
            ("www/a.txt", "a"),
        ],
    );
    assert_eq!(status(&s, "/lan/a.txt"), 403);
    assert_eq!(status(&s, "/tls/a.txt"), 426);
    assert_eq!(status(&s, "/a.txt"), 200);
}

#[test]
fn document_root_of_a_directory_rule_applies_to_its_index() {
    let cfg = "directory_index = index.html
         rule!10!match = directory
         rule!10!match!directory = /icons
         rule!10!document_root = %ROOT%/icon-store
         rule!10!handler = common"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(
        &cfg,
        &[
            ("icon-store/index.html", "store index"),
            ("www/icons/index.html", "www index"),
        ],
    );
    let r = get(s.addr(), "localhost", "/icons/");
    assert_eq!((r.status, r.text().as_str()), (200, "store index"));
}

#[test]
fn expiration_is_not_added_to_errors() {
    let cfg = "rule!1!match = default
         rule!1!handler = common
         rule!1!expiration = time
         rule!1!expiration!time = 1h";
    let s = start_site(cfg, &[]);
    let r = get(s.addr(), "localhost", "/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("expires"), None);
    assert_eq!(r.header("cache-control"), None);
}

#[test]
fn redirection_without_regex_inherits_the_request_rule_regex() {
    let cfg = r"rule!10!match = request
         rule!10!match!request = ^/u/([0-9]+)$
         rule!10!handler = redir
         rule!10!handler!rewrite!1!show = 0
         rule!10!handler!rewrite!1!substring = /users/$1.txt"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/users/42.txt", "user 42")]);
    let r = get(s.addr(), "localhost", "/u/42");
    assert_eq!((r.status, r.text().as_str()), (200, "user 42"));
}

#[test]
fn error_redir_internal_page_on_head_has_no_body() {
    let cfg = "error_handler = error_redir
         error_handler!404!url = /errors/404.html"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/errors/404.html", "<p>custom not found</p>")]);
    let mut c = Raw::connect(s.addr());
    c.send("HEAD /missing HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.read_response_for("HEAD").expect("response");
    assert_eq!(r.status, 404);
    // The connection stays usable: no stray body bytes precede the next response.
    c.send("GET /errors/404.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let r = c.read_response().expect("second response");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "<p>custom not found</p>")
    );
}

#[test]
fn no_log_zero_in_a_higher_rule_wins_over_a_lower_no_log() {
    // Merge semantics: a property set by a higher-priority matching rule is kept; here the
    // higher rule explicitly logs /audit while a lower rule silences everything else.
    let cfg = "logger = combined
         logger!access!type = file
         logger!access!filename = %ROOT%/access.log
         rule!20!match = directory
         rule!20!match!directory = /audit
         rule!20!match!final = 0
         rule!20!no_log = 0
         rule!10!match = directory
         rule!10!match!directory = /
         rule!10!match!final = 0
         rule!10!no_log = 1"
        .to_string()
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/audit/a.txt", "a")]);
    assert_eq!(status(&s, "/audit/a.txt"), 200);
    wait_for_line(&s.root().join("access.log"), "/audit/a.txt");
}

#[test]
fn disabled_rules_are_skipped() {
    let cfg = teapot_rule(10, "match = directory\nmatch!directory = /d")
        + "rule!10!disabled = 1\n"
        + DEFAULT_COMMON;
    let s = start_site(&cfg, &[("www/d/a.txt", "a")]);
    assert_eq!(status(&s, "/d/a.txt"), 200);
}

/// Regression: when the final rule that ends the evaluation is the default rule itself,
/// its header operations applied twice (`Cache-Control: no-store, no-store`).
#[test]
fn header_ops_of_a_final_default_rule_apply_once() {
    let s = Server::start(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = custom_error\n\
         vserver!1!rule!1!handler!error = 503\n\
         vserver!1!rule!1!header_op!1!type = add\n\
         vserver!1!rule!1!header_op!1!header = Cache-Control\n\
         vserver!1!rule!1!header_op!1!value = no-store\n",
    );
    let r = get(s.addr(), "x", "/");
    assert_eq!(r.status, 503);
    let values: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "cache-control")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(values, vec!["no-store"]);
}
