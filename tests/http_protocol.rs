//! HTTP/1.x protocol behaviour of the real binary on real sockets: persistence, pipelining,
//! framing errors, versions, methods, standard headers and path safety.
mod common;
use common::*;

/// A configuration serving `%ROOT%/www` with `handler` (and extra lines).
fn conf(handler: &str, extra: &str) -> String {
    format!(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/www\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = {handler}\n\
         {extra}"
    )
}

/// A server with `file` on `%ROOT%/www` holding a.txt, b.txt, c.txt.
fn abc_server(extra: &str) -> Server {
    Server::start_with(&conf("file", extra), |root| {
        write_file(root, "www/a.txt", "alpha\n");
        write_file(root, "www/b.txt", "bravo!\n");
        write_file(root, "www/c.txt", "charlie\n");
    })
}

fn get11(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

fn has_close(r: &RawResponse) -> bool {
    r.header("connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

// ---------------------------------------------------------------------------------------
// Persistence and pipelining
// ---------------------------------------------------------------------------------------

#[test]
fn http11_keeps_the_connection_alive_for_a_second_request() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send(get11("/a.txt"));
    let r1 = c.read_response().expect("first response");
    assert_eq!(r1.status, 200);
    assert_eq!(r1.text(), "alpha\n");
    assert!(!has_close(&r1), "unexpected close: {:?}", r1.headers);
    c.send(get11("/b.txt"));
    let r2 = c
        .read_response()
        .expect("second response on the same connection");
    assert_eq!(r2.status, 200);
    assert_eq!(r2.text(), "bravo!\n");
}

#[test]
fn http10_closes_the_connection_by_default() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send("GET /a.txt HTTP/1.0\r\n\r\n");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "alpha\n");
    assert!(c.is_closed(), "HTTP/1.0 without keep-alive must close");
}

#[test]
fn http10_with_keep_alive_keeps_the_connection_open() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r1 = c.read_response().expect("response");
    assert_eq!(r1.status, 200);
    assert_eq!(r1.text(), "alpha\n");
    assert!(r1
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
    c.send("GET /b.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r2 = c.read_response().expect("second response");
    assert_eq!(r2.status, 200);
    assert_eq!(r2.text(), "bravo!\n");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send(format!(
        "{}{}{}",
        get11("/a.txt"),
        get11("/b.txt"),
        get11("/c.txt")
    ));
    for expected in ["alpha\n", "bravo!\n", "charlie\n"] {
        let r = c.read_response().expect("pipelined response");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), expected);
    }
}

#[test]
fn connection_close_closes_after_the_response() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "alpha\n");
    assert!(has_close(&r));
    assert!(c.is_closed());
}

#[test]
fn connection_te_close_closes_after_the_response() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send(
        "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nTE: trailers\r\nConnection: TE, close\r\n\r\n",
    );
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "alpha\n");
    assert!(has_close(&r));
    assert!(c.is_closed());
}

/// A chunked POST whose body is one chunk.
const CHUNKED_POST_ONE: &str = "POST /a.txt HTTP/1.1\r\nHost: localhost\r\n\
     Transfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n";

/// The same body in two chunks.
const CHUNKED_POST_TWO: &str = "POST /a.txt HTTP/1.1\r\nHost: localhost\r\n\
     Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

fn assert_405_then_usable(post: &str) {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send(post);
    let r = c.read_response().expect("response to POST");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    // Pinned: the body is consumed and the connection serves the next request.
    c.send(get11("/b.txt"));
    let r2 = c.read_response().expect("response after the POST");
    assert_eq!(r2.status, 200);
    assert_eq!(r2.text(), "bravo!\n");
}

#[test]
fn chunked_post_to_a_static_file_gets_405_with_allow_and_the_connection_stays_usable() {
    assert_405_then_usable(CHUNKED_POST_ONE);
}

#[test]
fn chunked_post_with_several_chunks_gets_405_and_the_connection_stays_usable() {
    assert_405_then_usable(CHUNKED_POST_TWO);
}

#[test]
fn chunked_body_followed_by_a_pipelined_get() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send(format!("{CHUNKED_POST_ONE}{}", get11("/c.txt")));
    let r = c.read_response().expect("response to POST");
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some());
    let r2 = c.read_response().expect("response to the pipelined GET");
    assert_eq!(r2.status, 200);
    assert_eq!(r2.text(), "charlie\n");
}

#[test]
fn several_chunks_followed_by_a_pipelined_get() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send(format!("{CHUNKED_POST_TWO}{}", get11("/c.txt")));
    let r = c.read_response().expect("response to POST");
    assert_eq!(r.status, 405);
    let r2 = c.read_response().expect("response to the pipelined GET");
    assert_eq!(r2.status, 200);
    assert_eq!(r2.text(), "charlie\n");
}

// ---------------------------------------------------------------------------------------
// Malformed requests
// ---------------------------------------------------------------------------------------

fn assert_400_and_closed(request: &str) {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send(request);
    let r = c
        .read_response()
        .unwrap_or_else(|| panic!("no response at all to {request:?}"));
    assert_eq!(r.status, 400, "for {request:?}");
    assert!(c.is_closed(), "connection must close after 400");
}

#[test]
fn garbage_request_line_gets_400_and_close() {
    assert_400_and_closed("garbage\r\n\r\n");
}

#[test]
fn bad_header_line_gets_400_and_close() {
    assert_400_and_closed("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nnocolon\r\n\r\n");
}

#[test]
fn space_in_header_name_gets_400_and_close() {
    assert_400_and_closed("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n");
}

#[test]
fn invalid_chunk_size_gets_400_and_close() {
    assert_400_and_closed(
        "POST /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
}

#[test]
fn missing_host_in_http11_gets_400() {
    let s = abc_server("");
    let r = raw_request(s.addr(), "GET /a.txt HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 400);
}

// ---------------------------------------------------------------------------------------
// Versions and methods
// ---------------------------------------------------------------------------------------

#[test]
fn http2_request_line_gets_505_and_close() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send("GET / HTTP/2.0\r\nHost: localhost\r\n\r\n");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 505);
    assert!(c.is_closed());
}

#[test]
fn http12_is_treated_as_http11() {
    let s = abc_server("");
    let mut c = Raw::connect(s.addr());
    c.send("GET /a.txt HTTP/1.2\r\nHost: localhost\r\n\r\n");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.version, "HTTP/1.1");
    assert_eq!(r.text(), "alpha\n");
    // Persistent like 1.1.
    c.send(get11("/b.txt"));
    assert_eq!(c.read_response().expect("second").text(), "bravo!\n");
}

#[test]
fn unknown_method_on_a_static_file_gets_501() {
    let s = abc_server("");
    let r = raw_request(
        s.addr(),
        "FROB /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 501);
}

#[test]
fn delete_on_a_static_file_gets_405_with_allow() {
    let s = abc_server("");
    let r = raw_request(
        s.addr(),
        "DELETE /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    let allow = r.header("allow").expect("Allow header");
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(allow.contains(m), "Allow: {allow}");
    }
    assert!(!allow.contains("DELETE"));
}

#[test]
fn options_gets_204_with_allow() {
    let s = abc_server("");
    let r = raw_request(
        s.addr(),
        "OPTIONS /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert!(r.body.is_empty());
}

// ---------------------------------------------------------------------------------------
// Standard headers and settings
// ---------------------------------------------------------------------------------------

#[test]
fn server_tokens_product_sends_just_the_name() {
    let s = abc_server("server!server_tokens = product\n");
    let r = get(s.addr(), "localhost", "/a.txt");
    assert_eq!(r.header("server"), Some("Baton"));
}

#[test]
fn server_tokens_minimal_sends_name_and_version() {
    let s = abc_server("server!server_tokens = minimal\n");
    let r = get(s.addr(), "localhost", "/a.txt");
    let expected = format!("Baton/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(r.header("server"), Some(expected.as_str()));
    // Error responses carry it too.
    let r = get(s.addr(), "localhost", "/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("server"), Some(expected.as_str()));
}

#[test]
fn responses_carry_a_valid_current_date() {
    let s = abc_server("");
    let r = get(s.addr(), "localhost", "/a.txt");
    let date = r.header("date").expect("Date header");
    let t = httpdate::parse_http_date(date).expect("an HTTP date");
    let now = std::time::SystemTime::now();
    let skew = match now.duration_since(t) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(
        skew < std::time::Duration::from_secs(120),
        "Date {date} far from now"
    );
}

#[test]
fn keepalive_off_closes_after_each_response() {
    let s = abc_server("server!keepalive = 0\n");
    let mut c = Raw::connect(s.addr());
    c.send(get11("/a.txt"));
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "alpha\n");
    assert!(
        c.is_closed(),
        "keepalive = 0 must close the connection (headers {:?})",
        r.headers
    );
}

#[test]
fn keepalive_max_requests_closes_on_the_last_allowed_request() {
    let s = abc_server("server!keepalive_max_requests = 2\n");
    let mut c = Raw::connect(s.addr());
    c.send(get11("/a.txt"));
    let r1 = c.read_response().expect("first");
    assert_eq!(r1.status, 200);
    assert!(!has_close(&r1), "first response closes: {:?}", r1.headers);
    c.send(get11("/b.txt"));
    let r2 = c.read_response().expect("second");
    assert_eq!(r2.status, 200);
    assert_eq!(r2.text(), "bravo!\n");
    assert!(has_close(&r2), "second response must say close");
    assert!(c.is_closed());
}

// ---------------------------------------------------------------------------------------
// Path safety
// ---------------------------------------------------------------------------------------

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-ROOT\n";

/// `%ROOT%/www` is the document root; `%ROOT%/etc/passwd`, `%ROOT%/x` and
/// `%ROOT%/outside/secret.txt` are siblings that must never be served.
fn traversal_server(handler: &str) -> Server {
    Server::start_with(&conf(handler, ""), |root| {
        write_file(root, "www/a/index.txt", "inside\n");
        write_file(root, "www/ok.txt", "ok\n");
        write_file(root, "etc/passwd", SECRET);
        write_file(root, "x", SECRET);
        write_file(root, "outside/secret.txt", SECRET);
    })
}

fn assert_not_leaked(s: &Server, path: &str) -> RawResponse {
    let r = get(s.addr(), "localhost", path);
    assert!(
        !r.text().contains("TOP-SECRET"),
        "{path} leaked a file outside the root"
    );
    assert_ne!(r.status, 200, "{path} must not succeed");
    r
}

#[test]
fn dot_dot_above_the_root_is_refused() {
    let s = traversal_server("file");
    assert_eq!(assert_not_leaked(&s, "/../etc/passwd").status, 400);
    assert_eq!(assert_not_leaked(&s, "/../outside/secret.txt").status, 400);
}

#[test]
fn encoded_dot_dot_above_the_root_is_refused() {
    let s = traversal_server("file");
    assert_eq!(
        assert_not_leaked(&s, "/%2e%2e/%2e%2e/etc/passwd").status,
        400
    );
    assert_eq!(assert_not_leaked(&s, "/a/%2e%2e/%2e%2e/x").status, 400);
    assert_eq!(assert_not_leaked(&s, "/a/%2E%2E/%2E%2E/x").status, 400);
}

#[test]
fn encoded_slashes_with_dot_dot_are_refused() {
    let s = traversal_server("file");
    assert_eq!(assert_not_leaked(&s, "/..%2f..%2fetc/passwd").status, 400);
    assert_eq!(
        assert_not_leaked(&s, "/a%2f..%2f..%2foutside%2fsecret.txt").status,
        400
    );
}

#[test]
fn double_encoded_dot_dot_is_decoded_once_and_not_found() {
    let s = traversal_server("file");
    assert_eq!(assert_not_leaked(&s, "/%252e%252e/x").status, 404);
    assert_eq!(
        assert_not_leaked(&s, "/%252e%252e/outside/secret.txt").status,
        404
    );
}

#[test]
fn nul_byte_in_the_path_gets_400() {
    let s = traversal_server("file");
    assert_eq!(assert_not_leaked(&s, "/a%00b").status, 400);
    assert_eq!(assert_not_leaked(&s, "/ok.txt%00.html").status, 400);
}

#[test]
fn traversal_is_refused_by_common_too() {
    let s = traversal_server("common");
    for p in [
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/a/%2e%2e/%2e%2e/x",
        "/%252e%252e/x",
        "/..%2f..%2fetc/passwd",
        "/a%00b",
    ] {
        assert_not_leaked(&s, p);
    }
    // Dot segments that stay inside the root are fine.
    let r = get(s.addr(), "localhost", "/a/../ok.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok\n");
}

fn symlink_server(handler: &str, extra: &str) -> Server {
    Server::start_with(&conf(handler, extra), |root| {
        write_file(root, "outside/secret.txt", SECRET);
        write_file(root, "www/plain.txt", "plain\n");
        std::fs::create_dir_all(root.join("www")).unwrap();
        std::os::unix::fs::symlink(root.join("outside/secret.txt"), root.join("www/link.txt"))
            .expect("symlink");
    })
}

#[test]
fn file_with_symlinks_off_refuses_a_link_leaving_the_root() {
    let s = symlink_server("file", "vserver!1!rule!1!handler!symlinks = 0\n");
    // Several times: the I/O cache must not start answering for either.
    for _ in 0..3 {
        let r = get(s.addr(), "localhost", "/link.txt");
        assert_eq!(r.status, 403);
        assert!(!r.text().contains("TOP-SECRET"));
        // Ordinary files are still served.
        assert_eq!(get(s.addr(), "localhost", "/plain.txt").status, 200);
    }
    // An ordinary file served many times, then replaced by a link leaving the root.
    let www = s.root().join("www");
    std::fs::remove_file(www.join("plain.txt")).unwrap();
    std::os::unix::fs::symlink(s.root().join("outside/secret.txt"), www.join("plain.txt")).unwrap();
    assert_eq!(get(s.addr(), "localhost", "/plain.txt").status, 403);
}

#[test]
fn common_with_symlinks_off_refuses_a_link_leaving_the_root() {
    let s = symlink_server("common", "vserver!1!rule!1!handler!symlinks = 0\n");
    let r = get(s.addr(), "localhost", "/link.txt");
    assert_eq!(r.status, 403);
    assert!(!r.text().contains("TOP-SECRET"));
    assert_eq!(get(s.addr(), "localhost", "/plain.txt").status, 200);
}

#[test]
fn symlinks_are_followed_by_default() {
    let s = symlink_server("file", "");
    let r = get(s.addr(), "localhost", "/link.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), SECRET);
}
