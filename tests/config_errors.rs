//! Configuration checking with the real binary: `baton -t -C file` reports every problem as
//! `path:LINE: error: key: message` (warnings likewise) and exits non-zero on errors; the
//! server refuses to start on a configuration with errors.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A valid configuration; tests append or substitute lines.
const VALID: &str = "server!bind!1!port = 0
server!bind!1!interface = 127.0.0.1
vserver!1!nick = default
vserver!1!document_root = /tmp
vserver!1!rule!1!match = default
vserver!1!rule!1!handler = common
";

struct Conf {
    _dir: tempfile::TempDir,
    path: PathBuf,
    text: String,
}

fn write_conf(text: &str) -> Conf {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("cherokee.conf");
    std::fs::write(&path, text).expect("write configuration");
    Conf {
        _dir: dir,
        path,
        text: text.to_string(),
    }
}

impl Conf {
    /// The 1-based line on which `key` is written (`key = …`).
    fn line_of(&self, key: &str) -> usize {
        self.text
            .lines()
            .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{key} is not in the configuration"))
    }

    /// The expected start of the diagnostic for `key`.
    fn diag(&self, severity: &str, key: &str) -> String {
        format!(
            "{}:{}: {severity}: {key}: ",
            self.path.display(),
            self.line_of(key)
        )
    }
}

fn check(conf: &Conf) -> Output {
    run_bounded(
        Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("-t")
            .arg("-C")
            .arg(&conf.path),
    )
}

/// Runs a command that is expected to exit by itself, killing it after 30 s.
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run baton");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "baton did not exit within 30 s; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `-t` on `text` must fail and report an error for `key`, on its line, whose message
/// contains `message`.
fn assert_error(text: &str, key: &str, message: &str) {
    let conf = write_conf(text);
    let out = check(&conf);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "stderr:\n{err}");
    let expected = conf.diag("error", key);
    let line = err
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("no line starting with {expected:?} in:\n{err}"));
    assert!(line.contains(message), "{line:?} lacks {message:?}");
    assert!(!stdout(&out).contains("configuration OK"));
}

#[test]
fn valid_configuration_checks_ok() {
    let conf = write_conf(VALID);
    let out = check(&conf);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    assert!(
        stdout(&out).contains("configuration OK"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("error"), "{}", stderr(&out));
}

#[test]
fn unknown_handler_is_an_error_on_its_line() {
    let text = format!(
        "{VALID}vserver!1!rule!2!match = directory\n\
         vserver!1!rule!2!match!directory = /x\n\
         vserver!1!rule!2!handler = nosuch\n"
    );
    assert_error(
        &text,
        "vserver!1!rule!2!handler",
        "unknown handler \"nosuch\"",
    );
}

#[test]
fn handler_not_available_yet_is_an_error() {
    let text = format!(
        "{VALID}vserver!1!rule!2!match = directory\n\
         vserver!1!rule!2!match!directory = /cgi-bin\n\
         vserver!1!rule!2!handler = cgi\n"
    );
    assert_error(&text, "vserver!1!rule!2!handler", "cgi");
}

#[test]
fn unknown_rule_type_is_an_error_on_its_line() {
    let text = format!(
        "{VALID}vserver!1!rule!2!match = nosuch\n\
         vserver!1!rule!2!handler = common\n"
    );
    assert_error(
        &text,
        "vserver!1!rule!2!match",
        "unknown rule type \"nosuch\"",
    );
}

#[test]
fn unknown_encoder_is_an_error_on_its_line() {
    let text = format!("{VALID}vserver!1!rule!1!encoder!brotli = allow\n");
    assert_error(
        &text,
        "vserver!1!rule!1!encoder!brotli",
        "unknown encoder \"brotli\"",
    );
}

#[test]
fn invalid_regex_is_an_error_on_its_line() {
    let text = format!(
        "{VALID}vserver!1!rule!2!match = request\n\
         vserver!1!rule!2!match!request = ^/(unclosed\n\
         vserver!1!rule!2!handler = common\n"
    );
    assert_error(
        &text,
        "vserver!1!rule!2!match!request",
        "invalid regular expression",
    );
}

#[test]
fn invalid_host_regex_is_an_error_on_its_line() {
    let text = format!(
        "{VALID}vserver!2!nick = other\n\
         vserver!2!match = rehost\n\
         vserver!2!match!regex!1 = [z-a]\n\
         vserver!2!rule!1!match = default\n\
         vserver!2!rule!1!handler = common\n"
    );
    assert_error(
        &text,
        "vserver!2!match!regex!1",
        "invalid regular expression",
    );
}

#[test]
fn missing_default_vserver_is_an_error() {
    let text = VALID.replace("nick = default", "nick = site");
    let conf = write_conf(&text);
    let out = check(&conf);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "stderr:\n{err}");
    // Reported on the first line that configures a virtual server.
    let expected = format!(
        "{}:{}: error: vserver: ",
        conf.path.display(),
        conf.line_of("vserver!1!nick")
    );
    let line = err
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("no line starting with {expected:?} in:\n{err}"));
    assert!(line.contains("default"), "{line}");
}

#[test]
fn auth_validator_is_refused_until_supported() {
    let text = format!(
        "{VALID}vserver!1!rule!2!match = directory\n\
         vserver!1!rule!2!match!directory = /admin\n\
         vserver!1!rule!2!handler = common\n\
         vserver!1!rule!2!auth = htpasswd\n\
         vserver!1!rule!2!auth!passwdfile = /etc/passwd.baton\n\
         vserver!1!rule!2!auth!realm = staff\n"
    );
    assert_error(&text, "vserver!1!rule!2!auth", "htpasswd");
}

#[test]
fn every_error_is_listed() {
    let text = format!(
        "{VALID}vserver!1!rule!1!encoder!brotli = allow\n\
         vserver!1!rule!2!match = request\n\
         vserver!1!rule!2!match!request = ((\n\
         vserver!1!rule!2!handler = common\n\
         vserver!1!rule!3!match = directory\n\
         vserver!1!rule!3!match!directory = /x\n\
         vserver!1!rule!3!handler = nosuch\n\
         vserver!1!rule!4!match = nosuch\n\
         vserver!1!rule!4!handler = common\n"
    );
    let conf = write_conf(&text);
    let out = check(&conf);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "stderr:\n{err}");
    for key in [
        "vserver!1!rule!1!encoder!brotli",
        "vserver!1!rule!2!match!request",
        "vserver!1!rule!3!handler",
        "vserver!1!rule!4!match",
    ] {
        let expected = conf.diag("error", key);
        assert!(
            err.lines().any(|l| l.starts_with(&expected)),
            "no {expected:?} in:\n{err}"
        );
    }
    assert!(err.contains("4 errors found"), "{err}");
}

#[test]
fn unknown_key_only_warns() {
    let text = format!("{VALID}vserver!1!documet_root = /srv/typo\n");
    let conf = write_conf(&text);
    let out = check(&conf);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{err}");
    let expected = conf.diag("warning", "vserver!1!documet_root");
    let line = err
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("no line starting with {expected:?} in:\n{err}"));
    assert!(line.contains("unknown key"), "{line}");
    assert!(
        stdout(&out).contains("configuration OK (1 warning)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn server_refuses_to_start_on_a_bad_configuration() {
    let text = format!("{VALID}vserver!1!rule!1!encoder!brotli = allow\n");
    let conf = write_conf(&text);
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("-C")
            .arg(&conf.path),
    );
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "stderr:\n{err}");
    let expected = conf.diag("error", "vserver!1!rule!1!encoder!brotli");
    assert!(
        err.lines().any(|l| l.starts_with(&expected)),
        "no {expected:?} in:\n{err}"
    );
    assert!(err.contains("not starting"), "{err}");
    let out_text = stdout(&out);
    assert!(!out_text.contains("listening"), "{out_text}");
    assert!(!out_text.contains("ready"), "{out_text}");
}

#[test]
fn missing_configuration_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path: &Path = &dir.path().join("absent.conf");
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("-t")
            .arg("-C")
            .arg(path),
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(&path.display().to_string()),
        "{}",
        stderr(&out)
    );
}

/// A certificate and its key, and another key, in a fresh directory (PEM files).
struct Pem {
    dir: tempfile::TempDir,
}

impl Pem {
    fn new() -> Pem {
        let dir = tempfile::tempdir().expect("temporary directory");
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("site.crt"), made.cert.pem()).unwrap();
        std::fs::write(dir.path().join("site.key"), made.key_pair.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("other.key"), other.serialize_pem()).unwrap();
        Pem { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// VALID with a TLS listener and the default virtual server's certificate and key.
    fn config(&self, cert: &str, key: &str) -> String {
        format!(
            "{VALID}server!bind!2!port = 0\n\
             server!bind!2!interface = 127.0.0.1\n\
             server!bind!2!tls = 1\n\
             vserver!1!ssl_certificate_file = {}\n\
             vserver!1!ssl_certificate_key_file = {}\n",
            self.path(cert),
            self.path(key)
        )
    }
}

#[test]
fn a_tls_listener_with_a_certificate_checks_ok() {
    let pem = Pem::new();
    let conf = write_conf(&pem.config("site.crt", "site.key"));
    let out = check(&conf);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
}

#[test]
fn a_tls_listener_needs_the_default_virtual_servers_certificate() {
    let text = format!(
        "{VALID}server!bind!2!port = 0\nserver!bind!2!interface = 127.0.0.1\nserver!bind!2!tls = 1\n"
    );
    assert_error(
        &text,
        "server!bind!2!tls",
        "needs a certificate on the default virtual server",
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_an_error_on_its_line() {
    let pem = Pem::new();
    assert_error(
        &pem.config("site.crt", "other.key"),
        "vserver!1!ssl_certificate_key_file",
        "not a key for the certificate",
    );
}

#[test]
fn a_missing_certificate_file_is_an_error_on_its_line() {
    let pem = Pem::new();
    assert_error(
        &pem.config("nosuch.crt", "site.key"),
        "vserver!1!ssl_certificate_file",
        "cannot read it",
    );
    // A key file where the certificate should be: no certificate in it.
    assert_error(
        &pem.config("site.key", "site.key"),
        "vserver!1!ssl_certificate_file",
        "no PEM certificate",
    );
}

#[test]
fn client_certificates_are_refused_rather_than_ignored() {
    let pem = Pem::new();
    let text = format!(
        "{}vserver!1!ssl_client_certs = required\n",
        pem.config("site.crt", "site.key")
    );
    assert_error(
        &text,
        "vserver!1!ssl_client_certs",
        "client certificates (ssl_client_certs) are not supported",
    );
}
