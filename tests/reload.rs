//! Graceful and hard restarts: requests in flight finish on their generation, new
//! requests (also on kept-alive connections) get the new one; a hard restart cuts what
//! was open; a bad configuration never replaces the running one.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

fn config(root_dir: &str, extra: &str) -> String {
    format!(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         {extra}\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/{root_dir}\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = file\n"
    )
}

fn two_sites(root: &std::path::Path) {
    write_file(root, "old/page.txt", "old content\n");
    write_file(root, "new/page.txt", "new content\n");
}

#[test]
fn graceful_reload_serves_new_content_to_the_next_request_on_a_kept_alive_connection() {
    let server = Server::start_with(&config("old", ""), two_sites);
    let mut conn = Raw::connect(server.addr());
    conn.send("GET /page.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(conn.read_response().unwrap().text(), "old content\n");

    let outcome = server.reload(&config("new", ""), false);
    assert!(outcome.contains("generation 2"), "{outcome}");

    // Same connection, next request: the new generation answers; the connection was not
    // closed by the reload.
    conn.send("GET /page.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(conn.read_response().unwrap().text(), "new content\n");
    assert_eq!(get(server.addr(), "a", "/page.txt").text(), "new content\n");
}

/// Starts a download of `size` bytes and reads only its first bytes, so the request is
/// known to be in flight (the rest waits in socket buffers and on the server).
fn start_download(addr: SocketAddr, path: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = vec![0u8; 4096];
    let mut got = 0;
    while got < first.len() {
        let n = s.read(&mut first[got..]).unwrap();
        assert!(n > 0, "server closed early");
        got += n;
    }
    (s, first)
}

fn big(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn body_of(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    &raw[end + 4..]
}

#[test]
fn graceful_reload_lets_an_inflight_download_finish_on_the_old_file() {
    const LEN: usize = 32 << 20;
    let server = Server::start_with(&config("old", ""), |root| {
        write_file(root, "old/big.bin", big(1, LEN));
        write_file(root, "new/big.bin", big(2, LEN));
    });
    let (mut s, mut raw) = start_download(server.addr(), "/big.bin");

    let outcome = server.reload(&config("new", ""), false);
    assert!(outcome.starts_with("baton: reloaded"), "{outcome}");
    // New requests see the new document root...
    let fresh = get_with(server.addr(), "a", "/big.bin", &["Range: bytes=0-15"]);
    assert_eq!(fresh.body, big(2, LEN)[..16]);

    // ...while the download started before the reload completes, byte-identical.
    s.read_to_end(&mut raw).unwrap();
    let body = body_of(&raw);
    assert_eq!(body.len(), LEN);
    assert!(body == big(1, LEN).as_slice(), "download changed content");
}

#[test]
fn hard_restart_cuts_an_inflight_download() {
    const LEN: usize = 64 << 20;
    let server = Server::start_with(&config("old", ""), |root| {
        write_file(root, "old/big.bin", big(1, LEN));
        write_file(root, "new/big.bin", big(2, LEN));
    });
    let (mut s, mut raw) = start_download(server.addr(), "/big.bin");
    let outcome = server.reload(&config("new", ""), true);
    assert!(outcome.contains("hard"), "{outcome}");
    let _ = s.read_to_end(&mut raw);
    assert!(
        body_of(&raw).len() < LEN,
        "the download should have been cut by the hard restart"
    );
    assert_eq!(get(server.addr(), "a", "/big.bin").body.len(), LEN);
}

#[test]
fn invalid_configuration_on_reload_keeps_the_running_one() {
    let server = Server::start_with(&config("old", ""), two_sites);
    let broken = format!("{}vserver!1!rule!5!match = nonsense\n", config("new", ""));
    let outcome = server.reload(&broken, false);
    assert!(outcome.starts_with("baton: reload refused"), "{outcome}");
    assert!(
        outcome.contains("cherokee.conf:7:"),
        "line number missing: {outcome}"
    );
    assert!(
        outcome.contains("vserver!1!rule!5!match"),
        "key missing: {outcome}"
    );
    assert_eq!(get(server.addr(), "a", "/page.txt").text(), "old content\n");

    // A later valid reload still works.
    let outcome = server.reload(&config("new", ""), false);
    assert!(outcome.contains("generation 2"), "{outcome}");
    assert_eq!(get(server.addr(), "a", "/page.txt").text(), "new content\n");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn listeners_are_added_and_removed_on_reload() {
    let server = Server::start_with(&config("old", ""), two_sites);
    let port = free_port();
    let extra = format!("server!bind!2!port = {port}\nserver!bind!2!interface = 127.0.0.1\n");
    let outcome = server.reload(&config("old", &extra), false);
    assert!(outcome.starts_with("baton: reloaded"), "{outcome}");
    let second: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(get(second, "a", "/page.txt").text(), "old content\n");

    // An open connection on the listener about to go away.
    let mut kept = Raw::connect(second);
    kept.send("GET /page.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(kept.read_response().unwrap().status, 200);

    let outcome = server.reload(&config("new", ""), false);
    assert!(outcome.starts_with("baton: reloaded"), "{outcome}");
    // New connections to the removed listener are refused...
    assert!(
        TcpStream::connect(second).is_err(),
        "removed listener still accepts"
    );
    // ...while the connection it accepted is still served (by the new generation).
    kept.send("GET /page.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(kept.read_response().unwrap().text(), "new content\n");
}

#[test]
fn a_listener_that_cannot_be_bound_aborts_the_reload() {
    let server = Server::start_with(&config("old", ""), two_sites);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let extra = format!("server!bind!2!port = {port}\nserver!bind!2!interface = 127.0.0.1\n");
    let outcome = server.reload(&config("new", &extra), false);
    assert!(outcome.starts_with("baton: reload refused"), "{outcome}");
    assert!(outcome.contains(&port.to_string()), "{outcome}");
    assert_eq!(get(server.addr(), "a", "/page.txt").text(), "old content\n");
}

#[test]
fn sigterm_stops_and_exits_zero() {
    let server = Server::start_with(&config("old", ""), two_sites);
    assert_eq!(get(server.addr(), "a", "/page.txt").status, 200);
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(), Some(0));
}
