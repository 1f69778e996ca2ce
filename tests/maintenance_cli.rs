//! `baton maintenance on | off | status` against a running server: visitors get the
//! maintenance answer, staff (address, cookie, extra host) reach the live original and see
//! changes made to it, `off` restores the site, a download in flight finishes, and
//! continuous keep-alive load sees no failed request.
//!
//! Every test client connects from 127.0.0.1, so the address bypass is tested with one
//! configuration (`--allow-from 127.0.0.1/32`) and the other cases without it.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LIVE: &str = "<h1>the live site</h1>";
const PAGE: &str = "<h1>back soon</h1>";

const SITE: &str = "server!bind!1!port = 0\n\
server!bind!1!interface = 127.0.0.1\n\
server!control_socket = %ROOT%/control.sock\n\
vserver!1!nick = default\n\
vserver!1!document_root = %ROOT%/default\n\
vserver!1!directory_index = index.html\n\
vserver!1!rule!1!match = default\n\
vserver!1!rule!1!handler = common\n\
vserver!10!nick = example\n\
vserver!10!document_root = %ROOT%/site\n\
vserver!10!directory_index = index.html\n\
vserver!10!match = wildcard\n\
vserver!10!match!domain!1 = example.*\n\
vserver!10!rule!1!match = default\n\
vserver!10!rule!1!handler = common\n";

fn start() -> Server {
    Server::start_with(SITE, |root| {
        write_file(root, "site/index.html", LIVE);
        write_file(root, "site/news.html", "old news");
        write_file(root, "default/index.html", "the default vserver");
        write_file(root, "page/index.html", PAGE);
    })
}

fn cli(s: &Server, args: &[&str]) -> String {
    let path = s.config_path.to_string_lossy().into_owned();
    let mut all = args.to_vec();
    all.extend(["-C", &path]);
    let (code, out, err) = baton_cli(&all);
    assert_eq!(code, 0, "baton {args:?}: {out}{err}");
    out
}

fn assert_maintenance_503(r: &RawResponse, retry: &str) {
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some(retry));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(!r.text().contains("live site"));
}

#[test]
fn visitors_get_503_and_a_staff_cookie_gets_the_live_original() {
    let s = start();
    let out = cli(
        &s,
        &[
            "maintenance",
            "on",
            "example",
            "--allow-cookie",
            "staff=let-me-in",
            "--retry-after",
            "120",
        ],
    );
    assert!(out.contains("example is in maintenance"), "{out}");
    assert!(out.contains("graceful restart"), "{out}");
    for url in ["/", "/news.html", "/missing", "/a/b?c=d"] {
        assert_maintenance_503(&get(s.addr(), "example.com", url), "120");
    }
    let wrong = get_with(s.addr(), "example.com", "/", &["Cookie: staff=nope"]);
    assert_maintenance_503(&wrong, "120");
    let staff = get_with(
        s.addr(),
        "example.com",
        "/news.html",
        &["Cookie: theme=dark; staff=let-me-in"],
    );
    assert_eq!((staff.status, staff.text().as_str()), (200, "old news"));
    // Staff see the change they make to the live site while visitors still get 503.
    s.write("site/news.html", "fresh news");
    let staff = get_with(
        s.addr(),
        "example.com",
        "/news.html",
        &["Cookie: staff=let-me-in"],
    );
    assert_eq!((staff.status, staff.text().as_str()), (200, "fresh news"));
    assert_maintenance_503(&get(s.addr(), "example.com", "/news.html"), "120");
    // Other hosts are untouched.
    assert_eq!(
        get(s.addr(), "other.test", "/").text(),
        "the default vserver"
    );

    let status = cli(&s, &["maintenance", "status"]);
    assert!(
        status.contains("example is in maintenance: example-maintenance"),
        "{status}"
    );
    let list = cli(&s, &["vserver", "list"]);
    assert!(list.contains("in maintenance"), "{list}");

    let out = cli(&s, &["maintenance", "off", "example"]);
    assert!(out.contains("live again"), "{out}");
    let r = get(s.addr(), "example.com", "/news.html");
    assert_eq!((r.status, r.text().as_str()), (200, "fresh news"));
    assert!(cli(&s, &["maintenance", "status"]).contains("no virtual server is in maintenance"));
}

#[test]
fn an_allowed_address_gets_the_live_original() {
    let s = start();
    cli(
        &s,
        &[
            "maintenance",
            "on",
            "example",
            "--allow-from",
            "127.0.0.1/32",
        ],
    );
    let r = get(s.addr(), "example.com", "/");
    assert_eq!((r.status, r.text().as_str()), (200, LIVE));
    s.write("site/news.html", "changed during maintenance");
    let r = get(s.addr(), "example.com", "/news.html");
    assert_eq!(r.text(), "changed during maintenance");
    let text = std::fs::read_to_string(&s.config_path).unwrap();
    assert!(
        text.contains("!match!exclude!from = 127.0.0.1/32\n"),
        "{text}"
    );
    // A network the client is not in does not let it through.
    cli(&s, &["maintenance", "off", "example"]);
    cli(
        &s,
        &["maintenance", "on", "example", "--allow-from", "10.0.0.0/8"],
    );
    assert_maintenance_503(&get(s.addr(), "example.com", "/"), "300");
}

#[test]
fn an_allowed_host_reaches_the_original_and_off_removes_it() {
    let s = start();
    let before = std::fs::read_to_string(&s.config_path).unwrap();
    cli(
        &s,
        &[
            "maintenance",
            "on",
            "example",
            "--allow-host",
            "intranet_example",
        ],
    );
    let r = get(s.addr(), "intranet_example", "/");
    assert_eq!((r.status, r.text().as_str()), (200, LIVE));
    assert_maintenance_503(&get(s.addr(), "example.com", "/"), "300");
    cli(&s, &["maintenance", "off", "example"]);
    assert_eq!(std::fs::read_to_string(&s.config_path).unwrap(), before);
    assert_eq!(
        get(s.addr(), "intranet_example", "/").text(),
        "the default vserver"
    );
    assert_eq!(get(s.addr(), "example.com", "/").text(), LIVE);
}

#[test]
fn the_page_variant_serves_the_page_for_every_url() {
    let s = start();
    let page = s.root().join("page");
    cli(
        &s,
        &[
            "maintenance",
            "on",
            "example",
            "--page",
            &page.to_string_lossy(),
        ],
    );
    for url in ["/", "/news.html", "/deep/missing/path", "/maintenance/"] {
        let r = get(s.addr(), "example.com", url);
        // Served through an internal redirection, as an ordinary resource: 200.
        assert_eq!((r.status, r.text().as_str()), (200, PAGE), "{url}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{url}");
    }
    cli(&s, &["maintenance", "off", "example"]);
    assert_eq!(get(s.addr(), "example.com", "/").text(), LIVE);
}

#[test]
fn a_download_in_flight_finishes_byte_identical() {
    let s = start();
    let big: Vec<u8> = (0..24u32 << 20).map(|i| (i % 251) as u8).collect();
    s.write("site/big.bin", &big);
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut first = vec![0u8; 64 * 1024];
    let n = c.read(&mut first).unwrap();
    assert!(n > 0);
    first.truncate(n);
    cli(&s, &["maintenance", "on", "example"]);
    assert_maintenance_503(&get(s.addr(), "example.com", "/big.bin"), "300");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    first.extend_from_slice(&rest);
    let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(first.starts_with(b"HTTP/1.1 200"));
    assert!(
        first[head_end..] == big[..],
        "the body is the file, byte for byte"
    );
}

#[test]
fn continuous_load_through_on_and_off_sees_no_failure() {
    let s = start();
    let addr = s.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let (live, down) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, live, down) = (stop.clone(), live.clone(), down.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let mut conn: Option<Raw> = None;
                while !stop.load(Ordering::Relaxed) {
                    let c = conn.get_or_insert_with(|| Raw::connect(addr));
                    c.send("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
                    let r = c.read_response().ok_or("no response")?;
                    match (r.status, r.text().as_str()) {
                        (200, LIVE) => live.fetch_add(1, Ordering::Relaxed),
                        (503, _) if r.header("retry-after").is_some() => {
                            down.fetch_add(1, Ordering::Relaxed)
                        }
                        other => return Err(format!("unexpected answer {other:?}")),
                    };
                    if r.header("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                    {
                        conn = None;
                    }
                }
                Ok(())
            })
        })
        .collect();
    let wait_for = |counter: &AtomicUsize| {
        let start = counter.load(Ordering::Relaxed);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while counter.load(Ordering::Relaxed) < start + 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "the clients made no progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    for _ in 0..2 {
        wait_for(&live);
        cli(&s, &["maintenance", "on", "example"]);
        wait_for(&down);
        cli(&s, &["maintenance", "off", "example"]);
    }
    wait_for(&live);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join()
            .expect("client thread")
            .expect("every request answered");
    }
    assert!(live.load(Ordering::Relaxed) > 0 && down.load(Ordering::Relaxed) > 0);
}

/// The seed recipe done step by step with the generic commands gives the same answers as
/// `baton maintenance on`.
#[test]
fn the_step_by_step_recipe_answers_like_maintenance_on() {
    let one = start();
    cli(&one, &["maintenance", "on", "example"]);

    let two = start();
    cli(
        &two,
        &[
            "vserver",
            "clone",
            "example",
            "example-maintenance",
            "--apply",
            "none",
        ],
    );
    let (_, out, _) = baton_cli(&[
        "vserver",
        "show",
        "example-maintenance",
        "--json",
        "-C",
        &two.config_path.to_string_lossy(),
    ]);
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
        .as_u64()
        .unwrap();
    cli(
        &two,
        &[
            "config",
            "set",
            &format!("vserver!{id}!match!domain!1"),
            "example.*",
            "--apply",
            "none",
        ],
    );
    cli(
        &two,
        &[
            "rule",
            "remove",
            "example-maintenance",
            "1",
            "--apply",
            "none",
        ],
    );
    cli(
        &two,
        &[
            "rule",
            "add",
            "example-maintenance",
            "--priority",
            "1",
            "--match",
            "default",
            "--handler",
            "custom_error",
            "--handler-key",
            "error=503",
            "--key",
            "header_op!1!type=add",
            "--key",
            "header_op!1!header=Retry-After",
            "--key",
            "header_op!1!value=300",
            "--key",
            "header_op!2!type=add",
            "--key",
            "header_op!2!header=Cache-Control",
            "--key",
            "header_op!2!value=no-store",
            "--apply",
            "none",
        ],
    );
    cli(
        &two,
        &[
            "vserver",
            "move",
            "example-maintenance",
            "--above",
            "example",
            "--apply",
            "none",
        ],
    );
    let (code, out, err) = baton_cli(&["reload", "-C", &two.config_path.to_string_lossy()]);
    assert_eq!(code, 0, "{out}{err}");

    for (host, url) in [
        ("example.com", "/"),
        ("example.org", "/news.html"),
        ("example.com", "/missing"),
        ("other.test", "/"),
    ] {
        let (a, b) = (get(one.addr(), host, url), get(two.addr(), host, url));
        assert_eq!(a.status, b.status, "{host}{url}");
        assert_eq!(a.body, b.body, "{host}{url}");
        for h in ["retry-after", "cache-control", "content-type"] {
            assert_eq!(a.header(h), b.header(h), "{host}{url} {h}");
        }
    }
    assert_eq!(get(two.addr(), "example.com", "/").status, 503);
}
