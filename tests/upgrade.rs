//! Binary upgrade: a new process takes the listening sockets over while clients keep
//! sending requests; none fails, the pid changes, the old process drains and exits; a
//! broken new binary leaves the old one serving.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(port: u16) -> String {
    format!(
        "server!bind!1!port = {port}\n\
         server!bind!1!interface = 127.0.0.1\n\
         server!timeout = 2\n\
         server!keepalive_max_requests = 0\n\
         server!pid_file = %ROOT%/baton.pid\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/www\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = file\n"
    )
}

/// A copy of the binary in `dir`, so a test can replace it.
fn binary_copy(dir: &Path) -> PathBuf {
    let path = dir.join("baton-under-test");
    std::fs::copy(env!("CARGO_BIN_EXE_baton"), &path).unwrap();
    path
}

fn baton(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .output()
        .unwrap()
}

/// Kills a process that is not our child (the new server after an upgrade).
struct KillOnDrop(i32);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// The pid of the process that took over, from the old one's `upgraded` line.
fn upgraded_pid(server: &Server) -> i32 {
    let line = server.wait_line("upgraded (new pid ");
    line.trim_start_matches("baton: upgraded (new pid ")
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Keep-alive clients sending GETs until told to stop; reconnecting when the server says
/// `Connection: close`. Counts successes and failures.
fn clients(
    addr: SocketAddr,
    n: usize,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut conn: Option<Raw> = None;
                while !stop.load(Ordering::Relaxed) {
                    let c = conn.get_or_insert_with(|| Raw::connect(addr));
                    c.send("GET /page.txt HTTP/1.1\r\nHost: a\r\n\r\n");
                    match c.read_response() {
                        Some(r) if r.status == 200 && r.text() == "the page\n" => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if r.header("connection") == Some("close") {
                                conn = None;
                            }
                        }
                        other => {
                            eprintln!("failed request: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                }
            })
        })
        .collect()
}

#[test]
fn upgrade_under_load_loses_no_request_and_the_old_process_exits() {
    let port = free_port();
    let server = Server::start_with(&config(port), |root| {
        write_file(root, "www/page.txt", "the page\n");
    });
    let old_pid = server.pid() as i32;
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let workers = clients(addr, 4, stop.clone(), ok.clone(), failed.clone());
    // Load is flowing before the upgrade.
    let start = Instant::now();
    while ok.load(Ordering::Relaxed) < 200 {
        assert!(start.elapsed() < Duration::from_secs(30), "no load");
        std::thread::yield_now();
    }

    let config_path = server.config_path.to_string_lossy().into_owned();
    let out = baton(&["upgrade", "-C", &config_path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_pid = upgraded_pid(&server);
    let _guard = KillOnDrop(new_pid);
    assert_ne!(new_pid, old_pid);
    let pid_file = std::fs::read_to_string(server.root().join("baton.pid")).unwrap();
    assert_eq!(pid_file.trim(), new_pid.to_string());

    // More load, now answered by the new process.
    let before = ok.load(Ordering::Relaxed);
    let start = Instant::now();
    while ok.load(Ordering::Relaxed) < before + 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no load after upgrade"
        );
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the upgrade"
    );

    let status = baton(&["status", "-C", &config_path]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&format!("pid {new_pid}")),
        "{text}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(get(addr, "a", "/page.txt").text(), "the page\n");
    // The old process drained and exited on its own.
    assert!(alive(new_pid));
    assert_eq!(server.wait_exit(), Some(0));
}

#[test]
fn a_download_in_flight_finishes_across_an_upgrade() {
    const LEN: usize = 16 << 20;
    let port = free_port();
    // The client stops reading while the upgrade runs, to keep the download in flight
    // across it: give it more than the write timeout of the other tests' configuration,
    // which would (rightly) cut a client that takes nothing for that long.
    let config = config(port).replace("server!timeout = 2\n", "server!timeout = 60\n");
    let server = Server::start_with(&config, |root| {
        write_file(root, "www/page.txt", "the page\n");
        let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        write_file(root, "www/big.bin", data);
    });
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut raw = vec![0u8; 4096];
    s.read_exact(&mut raw).unwrap();

    let config_path = server.config_path.to_string_lossy().into_owned();
    let out = baton(&["upgrade", "-C", &config_path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_pid = upgraded_pid(&server);
    let _guard = KillOnDrop(new_pid);
    // New connections go to the new process while the old one finishes the download.
    assert_eq!(get(server.addr(), "a", "/page.txt").status, 200);

    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut more = [0u8; 4096];
        let n = s.read(&mut more).unwrap();
        raw.extend_from_slice(&more[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let mut body = raw[head_end..].to_vec();
    while body.len() < LEN {
        let mut more = vec![0u8; 65536];
        let n = s.read(&mut more).unwrap();
        assert!(n > 0, "download cut after {} bytes", body.len());
        body.extend_from_slice(&more[..n]);
    }
    assert!(head.contains(&format!("content-length: {LEN}")));
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    drop(s);
    assert_eq!(server.wait_exit(), Some(0));
}

#[test]
fn a_broken_new_binary_leaves_the_old_process_serving() {
    let bin_dir = tempfile::tempdir().unwrap();
    let binary = binary_copy(bin_dir.path());
    let port = free_port();
    let server = Server::start_from(&binary, &config(port), |root| {
        write_file(root, "www/page.txt", "the page\n");
    });
    // "Install" a new binary that cannot start.
    let broken = bin_dir.path().join("broken");
    std::fs::write(&broken, "#!/bin/sh\necho 'cannot start' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&broken, &binary).unwrap();

    let config_path = server.config_path.to_string_lossy().into_owned();
    let out = baton(&["upgrade", "-C", &config_path]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("upgrade failed"), "{err}");
    assert!(alive(server.pid() as i32));
    assert_eq!(get(server.addr(), "a", "/page.txt").text(), "the page\n");
    let status = baton(&["status", "-C", &config_path]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(&format!("pid {}", server.pid())), "{text}");
}

#[test]
fn an_upgrade_with_an_invalid_configuration_is_refused_before_anything_starts() {
    let port = free_port();
    let server = Server::start_with(&config(port), |root| {
        write_file(root, "www/page.txt", "the page\n");
    });
    let broken = format!("{}vserver!1!rule!2!match = nonsense\n", config(port));
    server.rewrite_config(&broken);
    let config_path = server.config_path.to_string_lossy().into_owned();
    let out = baton(&["upgrade", "-C", &config_path]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cherokee.conf:10:"), "{err}");
    assert_eq!(get(server.addr(), "a", "/page.txt").text(), "the page\n");
}
