//! The drain deadline after a graceful restart, and log rotation with SIGUSR2 /
//! `baton reopen-logs` without losing a line.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn config(root: &str, extra: &str) -> String {
    format!(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         {extra}\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/{root}\n\
         vserver!1!logger = combined\n\
         vserver!1!logger!access!type = file\n\
         vserver!1!logger!access!filename = %ROOT%/access.log\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = file\n"
    )
}

#[test]
fn a_request_still_on_an_old_generation_is_cut_at_the_drain_deadline() {
    const LEN: usize = 64 << 20;
    let extra = "server!drain_timeout = 1\n";
    let server = Server::start_with(&config("old", extra), |root| {
        let data: Vec<u8> = (0..LEN).map(|i| i as u8).collect();
        write_file(root, "old/big.bin", &data);
        write_file(root, "new/big.bin", &data);
        write_file(root, "new/small.txt", "new\n");
    });
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut first = [0u8; 4096];
    s.read_exact(&mut first).unwrap();
    // The client stops reading: the download stays in flight on generation 1.
    let outcome = server.reload(&config("new", extra), false);
    assert!(outcome.contains("generation 2"), "{outcome}");
    // New requests are served...
    assert_eq!(get(server.addr(), "a", "/small.txt").text(), "new\n");
    // ...and once the deadline has passed the old request is cut: reading ends before
    // the whole body arrived.
    server.wait_line("drain deadline passed (generation 2)");
    let mut total = first.len();
    let mut buf = vec![0u8; 1 << 16];
    let start = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never cut");
    }
    assert!(total < LEN, "the download was not cut ({total} bytes)");
}

fn wait_for_lines(path: &std::path::Path, needle: &str, count: usize) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{} has {} of {count} lines with {needle:?}",
            path.display(),
            text.matches(needle).count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rotated_logs_lose_no_line() {
    let server = Server::start_with(&config("www", ""), |root| {
        write_file(root, "www/a.txt", "a\n");
    });
    let log = server.root().join("access.log");
    for _ in 0..20 {
        assert_eq!(get(server.addr(), "a", "/a.txt?before").status, 200);
    }
    wait_for_lines(&log, "/a.txt?before", 20);
    // Rotate: rename, then tell the server (SIGUSR2), as logrotate does.
    let rotated = server.root().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    server.signal(libc::SIGUSR2);
    for _ in 0..20 {
        assert_eq!(get(server.addr(), "a", "/a.txt?after").status, 200);
    }
    // Every line is in exactly one of the two files.
    let new = wait_for_lines(&log, "/a.txt?", 1);
    let old = std::fs::read_to_string(&rotated).unwrap();
    let all = format!("{old}{new}");
    assert_eq!(all.matches("/a.txt?before").count(), 20);
    let start = Instant::now();
    loop {
        let new = std::fs::read_to_string(&log).unwrap_or_default();
        let old = std::fs::read_to_string(&rotated).unwrap();
        let after = new.matches("/a.txt?after").count() + old.matches("/a.txt?after").count();
        if after == 20 {
            assert!(
                new.matches("/a.txt?after").count() > 0,
                "nothing reached the new file"
            );
            break;
        }
        assert!(after < 20, "duplicated lines");
        assert!(start.elapsed() < Duration::from_secs(15), "lines lost");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The same through the control socket.
    let second = server.root().join("access.log.2");
    std::fs::rename(&log, &second).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["reopen-logs", "--socket"])
        .arg(server.root().join("control.sock"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get(server.addr(), "a", "/a.txt?third").status, 200);
    wait_for_lines(&log, "/a.txt?third", 1);
}
