//! Baton's own HTTP/1.1 connection layer (`src/http1`) on real sockets: request bodies
//! (chunked, 100-continue), pipelining, persistence, framing errors and limits, the
//! header timeout, the write timeout, and file bodies sent with `sendfile` (ranges,
//! aborted downloads and the byte count of the access log).
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const BIG: usize = 10 << 20;

fn big_data() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// `%ROOT%/www` served by `file`, with a combined access log in `%ROOT%/access.log`.
fn server(extra: &str) -> Server {
    let config = format!(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         {extra}\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/www\n\
         vserver!1!logger = combined\n\
         vserver!1!logger!access!type = file\n\
         vserver!1!logger!access!filename = %ROOT%/access.log\n\
         vserver!1!rule!2!match = extensions\n\
         vserver!1!rule!2!match!extensions = txt\n\
         vserver!1!rule!2!match!final = 0\n\
         vserver!1!rule!2!encoder!gzip = allow\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = file\n"
    );
    Server::start_with(&config, |root| {
        write_file(root, "www/a.html", "alpha\n");
        write_file(root, "www/b.html", "bravo!\n");
        write_file(root, "www/c.html", "charlie\n");
        write_file(root, "www/big.bin", big_data());
        let text: String = (0..4000)
            .map(|i| format!("line {i} of some text\n"))
            .collect();
        write_file(root, "www/big.txt", text);
    })
}

fn get11(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

fn has_close(r: &RawResponse) -> bool {
    r.header("connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

/// Waits (bounded) until the access log has a line containing `needle`; returns it.
fn wait_log_line(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needle:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The byte count of a combined-format line: the field after the status.
fn logged_bytes(line: &str) -> u64 {
    let after = line.split("\" ").nth(1).expect("status and bytes");
    let mut fields = after.split(' ');
    let _status = fields.next();
    fields
        .next()
        .and_then(|b| b.parse().ok())
        .expect("a byte count")
}

#[test]
fn a_chunked_body_with_extensions_and_trailers_then_a_second_request() {
    let s = server("");
    let mut c = Raw::connect(s.addr());
    c.send(
        "POST /a.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    let r = c.read_response().expect("response to the POST");
    assert_eq!(r.status, 405);
    assert!(!has_close(&r), "{:?}", r.headers);
    c.send(get11("/b.html"));
    let r = c.read_response().expect("second response");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "bravo!\n");
}

#[test]
fn three_pipelined_requests_in_one_write_with_a_head_in_the_middle() {
    let s = server("");
    let mut c = Raw::connect(s.addr());
    c.send(format!(
        "{}HEAD /b.html HTTP/1.1\r\nHost: localhost\r\n\r\n{}",
        get11("/a.html"),
        get11("/c.html")
    ));
    let r = c.read_response().expect("first");
    assert_eq!(r.text(), "alpha\n");
    let r = c.read_response_for("HEAD").expect("second");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("7"));
    let r = c.read_response().expect("third");
    assert_eq!(r.text(), "charlie\n");
}

/// A connection with a POST head announcing `length` bytes and `Expect: 100-continue`.
fn post_expecting_continue(s: &Server, length: u64) -> Raw {
    let mut c = Raw::connect(s.addr());
    c.send(format!(
        "POST /a.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n\
         Expect: 100-continue\r\n\r\n"
    ));
    c
}

#[test]
fn expect_100_continue_invites_a_small_body_which_is_discarded_and_the_connection_kept() {
    // No handler of a static site reads request bodies, but a small one is worth reading
    // (and inviting) to keep the connection, as nginx does.
    let s = server("");
    let mut c = post_expecting_continue(&s, 5);
    let r = c.read_response().expect("interim response");
    assert_eq!(r.status, 100, "the body is invited");
    c.send("hello");
    let r = c.read_response().expect("final response");
    assert_eq!(r.status, 405);
    assert!(!has_close(&r), "{:?}", r.headers);
    c.send(get11("/b.html"));
    assert_eq!(c.read_response().expect("next").text(), "bravo!\n");
}

#[test]
fn expect_100_continue_with_a_large_body_gets_the_final_status_at_once_and_a_close() {
    // A body too large to be worth reading is not invited: the client learns the answer
    // without uploading (RFC 9110 §10.1.1), and the connection ends after it.
    let s = server("");
    let mut c = post_expecting_continue(&s, 100 << 20);
    let r = c.read_response().expect("final response");
    assert_eq!(
        r.status, 405,
        "no 100 Continue for a body that is not wanted"
    );
    assert!(has_close(&r));
    assert!(c.is_closed());
}

#[test]
fn http10_keep_alive_lasts_while_asked_for() {
    let s = server("");
    let mut c = Raw::connect(s.addr());
    for path in ["/a.html", "/missing"] {
        c.send(format!(
            "GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ));
        let r = c.read_response().expect("response");
        assert_eq!(r.header("connection"), Some("keep-alive"), "{path}");
    }
    c.send("GET /b.html HTTP/1.0\r\n\r\n");
    let r = c.read_response().expect("last response");
    assert_eq!(r.text(), "bravo!\n");
    assert!(c.is_closed());
}

/// The access log's time is when the request arrived, not when its body was done: a slow
/// upload is logged at its start.
#[test]
fn the_log_time_is_the_arrival_of_the_head() {
    let s = server("");
    let mut c = Raw::connect(s.addr());
    let sent = std::time::SystemTime::now();
    c.send("GET /b.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\n");
    // Time passing is what is tested: the body comes well after the head.
    std::thread::sleep(Duration::from_millis(2500));
    c.send("abcd");
    assert_eq!(c.read_response().expect("response").text(), "bravo!\n");
    let line = wait_log_line(&s.root().join("access.log"), "/b.html");
    // `[25/Nov/2026:18:59:14 +0000]`, from the date of an HTTP date.
    let clf = |t: std::time::SystemTime| {
        let http = httpdate::fmt_http_date(t);
        let f: Vec<&str> = http.split(' ').collect();
        format!("[{}/{}/{}:{} +0000]", f[1], f[2], f[3], f[4])
    };
    let arrival = [sent, sent + Duration::from_secs(1)].map(clf);
    assert!(
        arrival.iter().any(|t| line.contains(t.as_str())),
        "{line} (head sent at {})",
        arrival[0]
    );
}

/// `server!timeout` is also the keep-alive time: a connection idle that long is closed,
/// one that keeps asking within it stays open however long it lives in all (the timer is
/// counted from the last request, not from the first).
#[test]
fn keep_alive_lasts_the_timeout_from_the_last_request() {
    let s = server("server!timeout = 2\n");
    let mut c = Raw::connect(s.addr());
    let opened = Instant::now();
    // Time passing is what is tested: requests half a second apart, for longer than
    // the timeout in all.
    loop {
        c.send(get11("/a.html"));
        let r = c.read_response().expect("the connection stays open");
        assert_eq!(r.text(), "alpha\n");
        if opened.elapsed() >= Duration::from_secs(4) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let idle = Instant::now();
    // `Raw` gives up reading after 20 s: a close well before that is the server's.
    assert!(c.is_closed());
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(15),
        "closed after {waited:?} idle"
    );
}

#[test]
fn a_large_file_and_a_range_of_it_come_whole_through_sendfile() {
    let s = server("");
    let data = big_data();
    let r = get(s.addr(), "localhost", "/big.bin");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(BIG.to_string().as_str()));
    assert!(r.body == data, "the body differs from the file");

    let mut c = Raw::connect(s.addr());
    c.send("GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=1000001-9000000\r\n\r\n");
    let r = c.read_response().expect("206");
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 1000001-9000000/{BIG}").as_str())
    );
    assert!(r.body == data[1_000_001..=9_000_000], "the range differs");
    // The connection carries on after a sendfile body.
    c.send(get11("/a.html"));
    assert_eq!(c.read_response().expect("next").text(), "alpha\n");
}

#[test]
fn a_file_body_rewrapped_by_an_encoder_is_streamed_chunked_or_close_delimited() {
    let s = server("");
    let text = std::fs::read(s.root().join("www/big.txt")).unwrap();
    let r = get_with(
        s.addr(),
        "localhost",
        "/big.txt",
        &["Accept-Encoding: gzip"],
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(gunzip(&r.body), text);
    // HTTP/1.0 has no chunks: the body ends with the connection.
    let r = raw_request(
        s.addr(),
        "GET /big.txt HTTP/1.0\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(has_close(&r));
    assert_eq!(gunzip(&r.body), text);
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

#[test]
fn an_aborted_download_is_logged_with_the_bytes_sent_and_others_are_served() {
    let s = server("");
    let mut big = TcpStream::connect(s.addr()).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    big.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut first = vec![0u8; 64 * 1024];
    big.read_exact(&mut first).unwrap();
    // The client goes away mid-body (unread bytes: the kernel resets the connection).
    drop(big);
    // Others are served meanwhile and after.
    assert_eq!(get(s.addr(), "localhost", "/a.html").text(), "alpha\n");
    let line = wait_log_line(&s.root().join("access.log"), "/big.bin");
    let bytes = logged_bytes(&line);
    assert!(
        bytes > 0 && bytes < BIG as u64,
        "an aborted download logs what was sent: {line}"
    );
    assert_eq!(get(s.addr(), "localhost", "/b.html").text(), "bravo!\n");
    let line = wait_log_line(&s.root().join("access.log"), "/b.html");
    assert_eq!(logged_bytes(&line), 7, "{line}");
}

#[test]
fn an_oversized_head_gets_431_and_a_close() {
    let s = server("");
    let mut c = Raw::connect(s.addr());
    let filler = "x".repeat(1000);
    let mut req = String::from("GET /a.html HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..80 {
        req.push_str(&format!("X-Filler-{i}: {filler}\r\n"));
    }
    req.push_str("\r\n");
    c.send(req);
    let r = c.read_response().expect("a response");
    assert_eq!(r.status, 431);
    assert!(c.is_closed());
}

#[test]
fn too_many_header_fields_get_431() {
    let s = server("");
    let mut req = String::from("GET /a.html HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..150 {
        req.push_str(&format!("X-{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let r = raw_request(s.addr(), &req);
    assert_eq!(r.status, 431);
}

fn assert_400_and_closed(s: &Server, request: &str) {
    let mut c = Raw::connect(s.addr());
    c.send(request);
    let r = c
        .read_response()
        .unwrap_or_else(|| panic!("no response to {request:?}"));
    assert_eq!(r.status, 400, "{request:?}");
    assert!(has_close(&r));
    assert!(c.is_closed(), "{request:?}");
}

#[test]
fn bad_or_conflicting_content_lengths_get_400() {
    let s = server("");
    for cl in ["abc", "-1", "1, 2", "99999999999999999999999"] {
        assert_400_and_closed(
            &s,
            &format!("POST /a.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: {cl}\r\n\r\n"),
        );
    }
    assert_400_and_closed(
        &s,
        "POST /a.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    );
}

#[test]
fn content_length_with_transfer_encoding_gets_400() {
    let s = server("");
    assert_400_and_closed(
        &s,
        "POST /a.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_400_and_closed(
        &s,
        "POST /a.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n",
    );
}

#[test]
fn a_slow_loris_head_is_cut_at_the_timeout() {
    let s = server("server!timeout = 2\n");
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"GET /a.html HTTP/1.1\r\nHost: local").unwrap();
    let start = Instant::now();
    // The head never completes: the server closes the connection (the read ends) on its
    // own, well before the client's 30 s.
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "no answer expected to half a head");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "the half-sent head held the connection"
    );
    // The server still serves.
    assert_eq!(get(s.addr(), "localhost", "/a.html").text(), "alpha\n");
}

/// Asks for `/big.bin` on a client socket with a small receive buffer (fixed before the
/// connection, so the kernel does not grow it): the server writing the body soon waits
/// on this client.
fn download_big_with_a_small_window(s: &Server) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(64 * 1024).expect("SO_RCVBUF");
    socket.connect(&s.addr().into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("request");
    stream
}

/// Where the body starts in `raw` (the bytes of a response).
fn body_start(raw: &[u8]) -> usize {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4
}

#[test]
fn a_client_that_stops_reading_is_cut_at_the_write_timeout_and_logged() {
    let s = server("server!timeout = 1\n");
    let mut c = download_big_with_a_small_window(&s);
    // The client reads nothing: the server gives up on its own and logs what it sent.
    let line = wait_log_line(&s.root().join("access.log"), "/big.bin");
    let logged = logged_bytes(&line);
    assert!(
        logged > 0 && logged < BIG as u64,
        "a cut download logs what was sent: {line}"
    );
    // The connection is closed: what the client reads now ends (no read timeout), and a
    // clean end comes after exactly the bytes logged.
    let mut received = Vec::new();
    let end = loop {
        let mut buf = vec![0u8; 1 << 16];
        match c.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    if let Err(e) = &end {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "the connection stayed open after the write timeout ({} bytes read)",
            received.len()
        );
    }
    let body = &received[body_start(&received)..];
    assert!(body == &big_data()[..body.len()], "the body differs");
    if end.is_ok() {
        assert_eq!(body.len() as u64, logged, "bytes received vs logged");
    }
    // The server still serves.
    assert_eq!(get(s.addr(), "localhost", "/a.html").text(), "alpha\n");
}

#[test]
fn a_slow_steady_reader_of_a_big_file_is_not_cut() {
    let s = server("server!timeout = 2\n");
    let mut c = download_big_with_a_small_window(&s);
    // Small reads with pauses well under the timeout, for three times the timeout: the
    // server's send buffer stays full all along (its writes wait), yet the client reads.
    let mut received = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..60 {
        let n = c.read(&mut buf).expect("the slow download goes on");
        assert!(n > 0, "cut after {} bytes", received.len());
        received.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then the rest at full speed: the whole file arrives.
    let mut body = received.split_off(body_start(&received));
    while body.len() < BIG {
        let n = c.read(&mut buf).expect("the download goes on");
        assert!(n > 0, "cut after {} bytes", body.len());
        body.extend_from_slice(&buf[..n]);
    }
    assert!(body == big_data(), "the body differs from the file");
    let line = wait_log_line(&s.root().join("access.log"), "/big.bin");
    assert_eq!(logged_bytes(&line), BIG as u64, "{line}");
}
