//! Test harness: the real `baton` binary on a free loopback port, with a generated
//! configuration and document root, plus a raw-socket client for what an HTTP library
//! would not send.
//!
//! Readiness is a condition, never a sleep: the server prints one line per listener and
//! then `baton: ready`, and `Server::start` waits for that line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Certificates, the TLS virtual servers and a TLS client, for the tests of TLS listeners.
pub mod tls;

/// How long to wait for the server to report readiness before failing the test.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A running `baton` and its temporary directory.
pub struct Server {
    child: Child,
    /// Listener addresses by `server!bind!N`.
    pub listeners: Vec<(u64, SocketAddr)>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    stdout_rest: Option<mpsc::Receiver<String>>,
}

impl Server {
    /// Starts baton on `config`, in which `%ROOT%` is replaced by a fresh temporary
    /// directory (create files there with [`Server::write`] before or after start: the
    /// directory exists before the server starts; use [`Server::start_with`] to prepare
    /// files first).
    pub fn start(config: &str) -> Server {
        Self::start_with(config, |_| {})
    }

    /// Like `start`, calling `prepare` with the temporary directory before the server
    /// starts.
    pub fn start_with(config: &str, prepare: impl FnOnce(&Path)) -> Server {
        Self::start_from(Path::new(env!("CARGO_BIN_EXE_baton")), config, prepare)
    }

    /// Like `start_with`, running the binary at `binary` (a copy, for upgrade tests).
    pub fn start_from(binary: &Path, config: &str, prepare: impl FnOnce(&Path)) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        prepare(dir.path());
        let text = own_control_socket(
            &config.replace("%ROOT%", &dir.path().to_string_lossy()),
            dir.path(),
        );
        let config_path = dir.path().join("cherokee.conf");
        std::fs::write(&config_path, text).expect("write configuration");
        let child = Command::new(binary)
            .arg("-C")
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start baton");
        Self::wait_ready(child, dir, config_path)
    }

    /// Starts baton with arbitrary arguments (for `-r`, `-p`…).
    pub fn start_args(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start baton");
        let config_path = dir.path().join("none");
        Self::wait_ready(child, dir, config_path)
    }

    fn wait_ready(mut child: Child, dir: tempfile::TempDir, config_path: PathBuf) -> Server {
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listeners = Vec::new();
        loop {
            match rx.recv_timeout(START_LIMIT) {
                Ok(line) => {
                    if line.starts_with("baton: ready") {
                        break;
                    }
                    let listening = line
                        .strip_prefix("baton: listening on http://")
                        .or_else(|| line.strip_prefix("baton: listening on https://"));
                    if let Some(rest) = listening {
                        let (addr, bind) =
                            rest.split_once("/ (server!bind!").expect("listener line");
                        let addr = addr.replace("localhost", "127.0.0.1");
                        let id: u64 = bind.trim_end_matches(')').parse().expect("bind id");
                        listeners.push((id, addr.parse().expect("listener address")));
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!("baton did not become ready (exit status {status:?})");
                }
            }
        }
        Server {
            child,
            listeners,
            dir,
            config_path,
            stdout_rest: Some(rx),
        }
    }

    /// Waits (up to the start limit) for a line of the server's standard output starting
    /// with `prefix` (after the `baton: ` tag), and returns it.
    pub fn wait_line(&self, prefix: &str) -> String {
        let rx = self.stdout_rest.as_ref().expect("stdout");
        let want = format!("baton: {prefix}");
        loop {
            match rx.recv_timeout(START_LIMIT) {
                Ok(line) if line.starts_with(&want) => return line,
                Ok(_) => continue,
                Err(_) => panic!("baton never printed a line starting with {want:?}"),
            }
        }
    }

    /// Replaces the configuration file (with `%ROOT%` substituted).
    pub fn rewrite_config(&self, config: &str) {
        let text = own_control_socket(
            &config.replace("%ROOT%", &self.dir.path().to_string_lossy()),
            self.dir.path(),
        );
        let tmp = self.config_path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write configuration");
        std::fs::rename(&tmp, &self.config_path).expect("replace configuration");
    }

    /// Rewrites the configuration, sends SIGHUP (graceful) or SIGUSR1 (hard), and waits
    /// until the server reports the outcome; returns that line.
    pub fn reload(&self, config: &str, hard: bool) -> String {
        self.rewrite_config(config);
        self.signal(if hard { libc::SIGUSR1 } else { libc::SIGHUP });
        let rx = self.stdout_rest.as_ref().expect("stdout");
        loop {
            match rx.recv_timeout(START_LIMIT) {
                Ok(line)
                    if line.starts_with("baton: reloaded")
                        || line.starts_with("baton: reload refused") =>
                {
                    return line
                }
                Ok(_) => continue,
                Err(_) => panic!("baton did not report the outcome of the reload"),
            }
        }
    }

    /// The first listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.listeners[0].1
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    /// Writes a file under the temporary directory, creating parent directories.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        write_file(self.dir.path(), rel, content)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the server.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with a valid pid and signal number.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the server to exit and returns its exit code.
    pub fn wait_exit(mut self) -> Option<i32> {
        let status = self.child.wait().ok()?;
        status.code()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gives each test server its own control socket (in its temporary directory) unless the
/// configuration places one, so parallel tests never share the default path.
fn own_control_socket(text: &str, dir: &Path) -> String {
    if text.contains("server!control_socket") || text.contains("server!pid_file") {
        return text.to_string();
    }
    let mut text = text.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "server!control_socket = {}\n",
        dir.join("control.sock").display()
    ));
    text
}

/// Sets the modification time of the file or directory at `path` to `secs` after the epoch.
pub fn set_mtime(path: &Path, secs: u64) {
    let f = std::fs::File::open(path).expect("open to set its time");
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .expect("set the modification time");
}

pub fn write_file(root: &Path, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create directories");
    }
    std::fs::write(&path, content).expect("write file");
    path
}

/// A parsed HTTP/1.x response read from a raw socket.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub version: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw connection: write exactly the bytes you want, read responses one by one.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("write");
    }

    /// Reads one response to a request with method `method` (HEAD responses have no body).
    pub fn read_response_for(&mut self, method: &str) -> Option<RawResponse> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next()?.to_string();
        let status: u16 = parts.next()?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut resp = RawResponse {
            status,
            version,
            headers,
            body: Vec::new(),
        };
        let no_body =
            method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
        if no_body {
            return Some(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    if !self.fill() {
                        return None;
                    }
                };
                let size_line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                self.buf.drain(..line_end + 2);
                let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
                while self.buf.len() < size + 2 {
                    if !self.fill() {
                        return None;
                    }
                }
                resp.body.extend_from_slice(&self.buf[..size]);
                self.buf.drain(..size + 2);
                if size == 0 {
                    return Some(resp);
                }
            }
        } else if let Some(len) = resp
            .header("content-length")
            .and_then(|l| l.parse::<usize>().ok())
        {
            while self.buf.len() < len {
                if !self.fill() {
                    return None;
                }
            }
            resp.body = self.buf.drain(..len).collect();
        } else {
            while self.fill() {}
            resp.body = std::mem::take(&mut self.buf);
        }
        Some(resp)
    }

    pub fn read_response(&mut self) -> Option<RawResponse> {
        self.read_response_for("GET")
    }

    /// True when the server closed the connection (EOF with nothing more to read).
    pub fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection; returns the response.
pub fn raw_request(addr: SocketAddr, request: &str) -> RawResponse {
    let mut c = Raw::connect(addr);
    c.send(request);
    let method = request.split(' ').next().unwrap_or("GET").to_string();
    c.read_response_for(&method).expect("a response")
}

/// A GET with a Host header, on a fresh connection.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> RawResponse {
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

/// A GET with extra header lines (each "Name: value").
pub fn get_with(addr: SocketAddr, host: &str, path: &str, headers: &[&str]) -> RawResponse {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    raw_request(addr, &req)
}

/// Runs `baton ARGS` to completion (failing the test after the start limit) and returns
/// its exit code, standard output and standard error.
pub fn baton_cli(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton");
    let deadline = std::time::Instant::now() + START_LIMIT;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("baton {args:?} did not exit within {START_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running `baton admin` for a configuration file, listening on a free loopback port.
/// It is killed when dropped.
pub struct AdminProc {
    child: Child,
    /// Where it listens (from the `baton admin: http://ADDR/` line).
    pub addr: SocketAddr,
    /// The one-time password it printed.
    pub password: String,
}

/// A signed-in admin session: the cookie (`baton_admin=…`) and its CSRF token.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub cookie: String,
    pub csrf: String,
}

impl AdminProc {
    /// Starts `baton admin -C config -b 127.0.0.1:PORT` (PORT found by binding
    /// 127.0.0.1:0 and letting it go) and waits for the password line.
    ///
    /// Another test running at the same time can take the port between its release and
    /// the admin's bind; an admin that exits before printing its password is started
    /// again on a new port, a few times, before the test fails.
    pub fn start(config: &Path) -> AdminProc {
        const ATTEMPTS: usize = 5;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match AdminProc::try_start(config) {
                Ok(admin) => return admin,
                Err(status) => last = Some(status),
            }
        }
        panic!("baton admin did not print its password ({ATTEMPTS} attempts; last exit status {last:?})");
    }

    /// One start of [`AdminProc::start`]; `Err` with its exit status when the admin ended
    /// before printing its password.
    fn try_start(config: &Path) -> Result<AdminProc, Option<std::process::ExitStatus>> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("admin")
            .arg("-C")
            .arg(config)
            .arg("-b")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start baton admin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Keep draining after the receiver is gone so the admin never blocks.
                let _ = tx.send(line);
            }
        });
        let mut addr = None;
        let password = loop {
            match rx.recv_timeout(START_LIMIT) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("baton admin: http://") {
                        addr = Some(
                            rest.trim_end_matches('/')
                                .parse::<SocketAddr>()
                                .expect("admin address"),
                        );
                    }
                    if let Some(p) = line.strip_prefix("baton admin: one-time password: ") {
                        break p.trim().to_string();
                    }
                }
                // Ended (its stdout closed): perhaps the port was taken; try again.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    return Err(child.wait().ok());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("baton admin printed no password within {START_LIMIT:?}");
                }
            }
        };
        let addr = addr.expect("baton admin printed its address before the password");
        assert_eq!(addr.port(), port, "baton admin listens where it was told");
        Ok(AdminProc {
            child,
            addr,
            password,
        })
    }

    /// One request on a fresh connection, with `Host` set to the admin's address. `body`
    /// is sent as `application/json`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&str>,
    ) -> RawResponse {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        if let Some(b) = body {
            req.push_str(b);
        }
        raw_request(self.addr, &req)
    }

    /// `POST /api/login` with these credentials.
    pub fn login_with(&self, user: &str, password: &str) -> RawResponse {
        let body = serde_json::json!({ "user": user, "password": password }).to_string();
        self.request("POST", "/api/login", &[], Some(&body))
    }

    /// Signs in with the right password (panics otherwise).
    pub fn login(&self) -> AdminSession {
        let r = self.login_with("admin", &self.password);
        assert_eq!(r.status, 200, "sign-in: {}", r.text());
        let set = r.header("set-cookie").expect("Set-Cookie");
        let cookie = set
            .split(';')
            .next()
            .expect("cookie pair")
            .trim()
            .to_string();
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
        let csrf = body["csrf"].as_str().expect("csrf token").to_string();
        AdminSession { cookie, csrf }
    }

    /// A signed-in GET; returns the response and its body as JSON (`Null` if not JSON).
    pub fn get_json(&self, s: &AdminSession, path: &str) -> (RawResponse, serde_json::Value) {
        let cookie = format!("Cookie: {}", s.cookie);
        let r = self.request("GET", path, &[&cookie], None);
        let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
        (r, v)
    }

    /// A signed-in POST with the CSRF token and `extra` header lines; returns the response
    /// and its body as JSON (`Null` if not JSON).
    pub fn post_json(
        &self,
        s: &AdminSession,
        path: &str,
        body: &serde_json::Value,
        extra: &[&str],
    ) -> (RawResponse, serde_json::Value) {
        let cookie = format!("Cookie: {}", s.cookie);
        let csrf = format!("X-CSRF-Token: {}", s.csrf);
        let mut headers = vec![cookie.as_str(), csrf.as_str()];
        headers.extend_from_slice(extra);
        let r = self.request("POST", path, &headers, Some(&body.to_string()));
        let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
        (r, v)
    }
}

impl Drop for AdminProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
