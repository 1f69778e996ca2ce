//! Idle keep-alive connections give their HTTP buffers back (they are "parked") and come
//! back to life on the next request, without the client noticing.
mod common;
use common::*;
use std::time::{Duration, Instant};

const CONFIG: &str = "server!bind!1!port = 0\n\
server!bind!1!interface = 127.0.0.1\n\
server!timeout = 30\n\
vserver!1!nick = default\n\
vserver!1!document_root = %ROOT%/www\n\
vserver!1!rule!1!match = default\n\
vserver!1!rule!1!handler = file\n";

/// Waits (bounded) until the server reports `n` parked connections.
fn wait_parked(s: &Server, n: u64) {
    let socket = s.root().join("control.sock");
    let start = Instant::now();
    loop {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["status", "--json", "--socket"])
            .arg(&socket)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains(&format!("\"connections_idle_parked\": {n}")) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never parked: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_parked_connection_serves_the_next_request() {
    let s = Server::start_with(CONFIG, |root| {
        write_file(root, "www/a.txt", "alpha\n");
    });
    let mut c = Raw::connect(s.addr());
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "alpha\n");
    wait_parked(&s, 1);
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_response().expect("a response after parking");
    assert_eq!(r.text(), "alpha\n");
    assert_ne!(r.header("connection"), Some("close"));
}

#[test]
fn a_request_split_across_the_park_is_served() {
    let s = Server::start_with(CONFIG, |root| {
        write_file(root, "www/a.txt", "alpha\n");
    });
    let mut c = Raw::connect(s.addr());
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "alpha\n");
    // Parked, then woken by half a request; the rest comes later.
    wait_parked(&s, 1);
    c.send("GET /a.txt HTTP/1.1\r\nHo");
    wait_parked(&s, 0);
    c.send("st: x\r\n\r\n");
    assert_eq!(c.read_response().expect("response").text(), "alpha\n");
}

#[test]
fn a_parked_connection_closed_by_the_client_goes_away() {
    let s = Server::start_with(CONFIG, |root| {
        write_file(root, "www/a.txt", "alpha\n");
    });
    let mut c = Raw::connect(s.addr());
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "alpha\n");
    wait_parked(&s, 1);
    drop(c);
    wait_parked(&s, 0);
    assert_eq!(get(s.addr(), "x", "/a.txt").text(), "alpha\n");
}

/// A client trickling the bytes of a request head is not kept forever: parking must not
/// restart the header timeout.
#[test]
fn a_trickled_request_head_still_times_out() {
    let s = Server::start_with(
        &CONFIG.replace("server!timeout = 30", "server!timeout = 2"),
        |root| {
            write_file(root, "www/a.txt", "alpha\n");
        },
    );
    let mut c = std::net::TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    use std::io::{Read, Write};
    c.write_all(b"GET /a.txt HTTP/1.1\r\n").unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        // One byte of a header line every 200 ms, never finishing the head.
        if c.write_all(b"X").is_err() {
            break;
        }
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the connection outlived its header timeout"
        );
    }
}
