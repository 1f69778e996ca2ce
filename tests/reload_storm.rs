//! Reloads under continuous traffic, and the maintenance recipe applied with graceful
//! restarts: nothing is refused or reset, every answer belongs to one of the
//! configurations, and old generations go away once their last request is done.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Two configurations that answer differently: GET /page.txt gives "A" or "B", a POST to
/// /form gives 201 or 202.
fn config(variant: char) -> String {
    let (root, status) = if variant == 'A' {
        ("a", 201)
    } else {
        ("b", 202)
    };
    format!(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         server!keepalive_max_requests = 0\n\
         server!control_socket = %ROOT%/control.sock\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/{root}\n\
         vserver!1!rule!10!match = method\n\
         vserver!1!rule!10!match!method = post\n\
         vserver!1!rule!10!handler = custom_error\n\
         vserver!1!rule!10!handler!error = {status}\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = file\n"
    )
}

fn sites(root: &std::path::Path) {
    write_file(root, "a/page.txt", "A\n");
    write_file(root, "b/page.txt", "B\n");
}

#[test]
fn fifty_graceful_reloads_under_load_lose_nothing() {
    let server = Server::start_with(&config('A'), sites);
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut conn = Raw::connect(addr);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let post = (n + i).is_multiple_of(3);
                    if post {
                        conn.send(
                            "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello=world",
                        );
                    } else {
                        conn.send("GET /page.txt HTTP/1.1\r\nHost: a\r\n\r\n");
                    }
                    let good = match conn.read_response() {
                        Some(r) if post => r.status == 201 || r.status == 202,
                        Some(r) => r.status == 200 && (r.text() == "A\n" || r.text() == "B\n"),
                        None => false,
                    };
                    if good {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        conn = Raw::connect(addr);
                    }
                    // Connections sit idle between requests now and then, as browsers'
                    // do: the reload must not close them under the next request.
                    if n.is_multiple_of(7) {
                        std::thread::sleep(Duration::from_millis(3));
                    }
                }
            })
        })
        .collect();
    for i in 0..50 {
        let variant = if i % 2 == 0 { 'B' } else { 'A' };
        let outcome = server.reload(&config(variant), false);
        assert!(outcome.starts_with("baton: reloaded"), "{outcome}");
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(ok.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed or were reset"
    );
    // The last configuration applied was 'A' (i = 49).
    assert_eq!(get(addr, "a", "/page.txt").text(), "A\n");

    // Old generations are freed once nothing uses them: only the live one remains.
    let socket = server.root().join("control.sock");
    let start = Instant::now();
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["status", "--json", "--socket"])
            .arg(&socket)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("\"generation\": 51"), "{text}");
        if text.matches("\"id\":").count() == 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "old generations still alive: {text}"
        );
        std::thread::yield_now();
    }
}

fn maintenance_config(with_copycat: bool) -> String {
    let mut c = String::from(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/default\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = file\n\
         vserver!10!nick = example\n\
         vserver!10!document_root = %ROOT%/example\n\
         vserver!10!match = wildcard\n\
         vserver!10!match!domain!1 = example.*\n\
         vserver!10!rule!1!match = default\n\
         vserver!10!rule!1!handler = file\n",
    );
    if with_copycat {
        c.push_str(
            "vserver!20!nick = example-maintenance\n\
             vserver!20!document_root = %ROOT%/example\n\
             vserver!20!match = wildcard\n\
             vserver!20!match!domain!1 = example.*\n\
             vserver!20!rule!1!match = default\n\
             vserver!20!rule!1!handler = custom_error\n\
             vserver!20!rule!1!handler!error = 503\n",
        );
    }
    c
}

fn start_download(addr: SocketAddr, host: &str, path: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = vec![0u8; 4096];
    s.read_exact(&mut first).unwrap();
    (s, first)
}

#[test]
fn maintenance_with_graceful_restarts_cuts_nothing() {
    const LEN: usize = 24 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    let expected = data.clone();
    let server = Server::start_with(&maintenance_config(false), move |root| {
        write_file(root, "example/index.txt", "the real site\n");
        write_file(root, "example/big.iso", data);
        write_file(root, "default/index.txt", "default\n");
    });
    let addr = server.addr();
    let (mut download, mut raw) = start_download(addr, "example.com", "/big.iso");

    // Into maintenance, gracefully.
    let outcome = server.reload(&maintenance_config(true), false);
    assert!(outcome.starts_with("baton: reloaded"), "{outcome}");
    assert_eq!(get(addr, "example.com", "/index.txt").status, 503);
    assert_eq!(get(addr, "example.org", "/anything").status, 503);
    assert_eq!(get(addr, "other.net", "/index.txt").text(), "default\n");

    // Out of maintenance, gracefully, while the download still runs.
    let outcome = server.reload(&maintenance_config(false), false);
    assert!(outcome.starts_with("baton: reloaded"), "{outcome}");
    assert_eq!(
        get(addr, "example.com", "/index.txt").text(),
        "the real site\n"
    );

    download.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        raw[end..] == expected[..],
        "the download was cut or changed"
    );
}
