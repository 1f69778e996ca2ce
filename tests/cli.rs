//! The command line of the real binary: -V, -i, -t, -r, -p, -C, no arguments, -d, SIGTERM.
mod common;
use common::*;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn baton() -> Command {
    Command::new(env!("CARGO_BIN_EXE_baton"))
}

/// Runs baton to completion, failing the test if it takes longer than `LIMIT`.
fn run(args: &[&str]) -> Output {
    let mut child = baton()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton");
    let deadline = Instant::now() + LIMIT;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("baton {args:?} did not exit within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `cond` until it holds or `LIMIT` passes.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const GOOD: &str = "server!bind!1!port = 0\n\
                    server!bind!1!interface = 127.0.0.1\n\
                    vserver!1!nick = default\n\
                    vserver!1!document_root = %ROOT%/www\n\
                    vserver!1!rule!1!match = default\n\
                    vserver!1!rule!1!handler = common\n";

fn write_conf(dir: &Path, name: &str, text: &str) -> String {
    let text = text.replace("%ROOT%", &dir.to_string_lossy());
    write_file(dir, name, text).to_string_lossy().into_owned()
}

#[test]
fn dash_v_prints_the_version() {
    let out = run(&["-V"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(env!("CARGO_PKG_VERSION")),
        "-V printed {text:?}"
    );
    assert!(text.to_ascii_lowercase().contains("baton"));
}

#[test]
fn dash_i_prints_information_and_exits_0() {
    let out = run(&["-i"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("Baton {}", env!("CARGO_PKG_VERSION"))));
    assert!(text.contains("handlers:"), "{text}");
}

#[test]
fn dash_t_on_a_good_configuration_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "good.conf", GOOD);
    let out = run(&["-t", "-C", &conf]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn dash_t_on_a_bad_configuration_lists_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        "bad.conf",
        "server!bind!1!port = not-a-number\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = /tmp\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = no_such_handler\n",
    );
    let out = run(&["-t", "-C", &conf]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{conf}:1:")), "{err}");
    assert!(err.contains(&format!("{conf}:5:")), "{err}");
    assert!(err.contains("error"), "{err}");
}

#[test]
fn dash_r_serves_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "hello.txt", "from -r\n");
    write_file(dir.path(), "sub/inner.txt", "x");
    let root = dir.path().to_string_lossy().into_owned();
    let s = Server::start_args(&["-r", &root, "-p", "0"]);
    let r = get(s.addr(), "localhost", "/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "from -r\n");
    // List & Send: a directory without index is listed.
    let r = get(s.addr(), "localhost", "/sub/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("inner.txt"));
}

#[test]
fn dash_p_overrides_the_configured_port() {
    // Hold the configured port busy: starting would fail if -p were not honoured.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "www/p.txt", "port\n");
    let conf = write_conf(
        dir.path(),
        "c.conf",
        &GOOD.replace(
            "server!bind!1!port = 0",
            &format!("server!bind!1!port = {busy_port}"),
        ),
    );
    let s = Server::start_args(&["-C", &conf, "-p", "0"]);
    assert_ne!(s.addr().port(), busy_port);
    let r = get(s.addr(), "localhost", "/p.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "port\n");
    drop(busy);
}

#[test]
fn no_arguments_serves_the_bundled_example_site() {
    let s = Server::start_args(&["-p", "0"]);
    let r = get(s.addr(), "localhost", "/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Baton is running"), "{}", r.text());
    let r = get(s.addr(), "localhost", "/docs/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("getting-started.txt"), "{}", r.text());
}

/// Kills a detached server on drop if the test did not stop it.
struct PidGuard(Option<i32>);

impl Drop for PidGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill with a pid this test started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

fn refuses(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err()
}

/// Whether `pid` is gone (or a zombie waiting for a reaper that is not this test).
fn exited(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn dash_d_detaches_writes_the_pid_file_and_stops_on_sigterm() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "www/d.txt", "detached\n");
    let conf = write_conf(
        dir.path(),
        "d.conf",
        &format!(
            "{}server!pid_file = %ROOT%/baton.pid\n",
            GOOD.replace(
                "server!bind!1!port = 0",
                &format!("server!bind!1!port = {port}")
            )
        ),
    );
    let pid_path = dir.path().join("baton.pid");
    let started = Instant::now();
    let out = run(&["-d", "-C", &conf]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < LIMIT);
    let mut pid = None;
    wait_for("the pid file", || {
        pid = std::fs::read_to_string(&pid_path)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        pid.is_some()
    });
    let pid = pid.unwrap();
    let mut guard = PidGuard(Some(pid));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = get(addr, "localhost", "/d.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "detached\n");
    // SAFETY: kill with the pid of the server this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_for("the port to refuse connections", || refuses(addr));
    wait_for("the detached server to exit", || exited(pid));
    guard.0 = None;
}

#[test]
fn sigterm_stops_a_server_with_exit_status_0() {
    let s = Server::start_with(GOOD, |root| {
        write_file(root, "www/t.txt", "t\n");
    });
    assert_eq!(get(s.addr(), "localhost", "/t.txt").status, 200);
    s.signal(libc::SIGTERM);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(s.wait_exit());
    });
    let code = rx.recv_timeout(LIMIT).expect("server exits after SIGTERM");
    assert_eq!(code, Some(0));
}
