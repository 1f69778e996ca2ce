//! TLS listeners with the real binary: HTTP/2 and HTTP/1.1 by ALPN, the certificate chosen
//! by SNI among the virtual servers, a renewed certificate taken by a graceful reload
//! while open connections carry on, a hard restart closing them, and the `tls` rule.
//!
//! Certificates are made for each test with rcgen (tests/common/tls.rs); the client is
//! hyper's over rustls, trusting only the certificates the test made.
mod common;
use common::*;

use bytes::Bytes;
use common::tls::{certificate, connect, Certs, VSERVERS};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A plain listener (bind 1) and a TLS one (bind 2) in front of the virtual servers of
/// [`VSERVERS`]; `example.test` has HSTS; the `tls` rule of the default virtual server adds
/// a Strict-Transport-Security field to responses on TLS only.
fn config() -> String {
    format!(
        "server!bind!1!port = 0
server!bind!1!interface = 127.0.0.1
server!bind!2!port = 0
server!bind!2!interface = 127.0.0.1
server!bind!2!tls = 1
{VSERVERS}vserver!20!hsts = 1
vserver!20!hsts!max_age = 900
vserver!20!hsts!subdomains = 0
vserver!1!rule!10!match = tls
vserver!1!rule!10!match!final = 0
vserver!1!rule!10!header_op!1!type = add
vserver!1!rule!10!header_op!1!header = Strict-Transport-Security
vserver!1!rule!10!header_op!1!value = max-age=600
"
    )
}

struct Setup {
    server: Server,
    certs: Certs,
}

impl Setup {
    fn start() -> Setup {
        Setup::start_with(&config())
    }

    fn start_with(config: &str) -> Setup {
        let (server, certs) = common::tls::start(config, |root| {
            write_file(root, "www/big.bin", vec![7u8; 3 << 20]);
        });
        Setup { server, certs }
    }

    fn plain(&self) -> SocketAddr {
        self.server.listeners[0].1
    }

    fn tls(&self) -> SocketAddr {
        self.server.listeners[1].1
    }

    fn trusted(&self) -> Vec<CertificateDer<'static>> {
        self.certs.both()
    }
}

type Sender = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// An HTTP/2 client on a connection that agreed on `h2`.
async fn http2(stream: TlsStream<TcpStream>) -> Sender {
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    sender
}

/// A new HTTP/2 connection to the TLS listener, on which a request has been answered.
async fn serving_h2(s: &Setup) -> Sender {
    let tls = connect(s.tls(), "localhost", &s.trusted(), &[b"h2"])
        .await
        .expect("TLS handshake");
    let mut h2 = http2(tls).await;
    let got = get2(&mut h2, "localhost", "/hello.txt")
        .await
        .expect("answer");
    assert_eq!(got.status, 200);
    h2
}

struct Got {
    status: u16,
    version: http::Version,
    headers: http::HeaderMap,
    body: Bytes,
}

async fn get2(sender: &mut Sender, authority: &str, path: &str) -> hyper::Result<Got> {
    let request = http::Request::get(format!("https://{authority}{path}"))
        .body(Empty::new())
        .expect("request");
    let response = sender.send_request(request).await?;
    let (head, body) = response.into_parts();
    Ok(Got {
        status: head.status.as_u16(),
        version: head.version,
        headers: head.headers,
        body: body.collect().await?.to_bytes(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_h2_and_http11_are_served_with_the_rules_of_the_live_configuration() {
    let s = Setup::start();
    let tls = connect(s.tls(), "localhost", &s.trusted(), &[b"h2", b"http/1.1"])
        .await
        .expect("TLS handshake");
    let mut h2 = http2(tls).await;
    let got = get2(&mut h2, "localhost", "/hello.txt").await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.version, http::Version::HTTP_2);
    assert_eq!(&got.body[..], b"hello over tls\n");
    assert_eq!(got.headers["content-type"], "text/plain");
    assert_eq!(got.headers["strict-transport-security"], "max-age=600");
    assert!(got.headers.contains_key("date"));
    assert!(!got.headers.contains_key("connection"));
    // Several streams at once on one connection, a large body among them.
    let (mut first, mut second) = (h2.clone(), h2.clone());
    let (a, b) = tokio::join!(
        get2(&mut first, "localhost", "/big.bin"),
        get2(&mut second, "localhost", "/missing")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status, a.body.len()), (200, 3 << 20));
    assert!(a.body.iter().all(|&b| b == 7));
    assert_eq!(b.status, 404);

    // HTTP/1.1 when the client offers only that.
    let tls = connect(s.tls(), "localhost", &s.trusted(), &[b"http/1.1"])
        .await
        .expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    for _ in 0..2 {
        let request = http::Request::get("/hello.txt")
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.ready().await.expect("connection kept alive");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_11);
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=600"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello over tls\n");
    }
    // HEAD tells the length without the body.
    let request = http::Request::head("/hello.txt")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    sender.ready().await.expect("connection kept alive");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.headers()["content-length"], "15");

    // The plain listener does not match the `tls` rule.
    let plain = get(s.plain(), "localhost", "/hello.txt");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("strict-transport-security"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_the_one_of_the_virtual_server_sni_names() {
    let s = Setup::start();
    // Trusting only example.test's certificate: the handshake succeeds only if the
    // server presents it.
    let tls = connect(
        s.tls(),
        "example.test",
        std::slice::from_ref(&s.certs.example),
        &[b"h2"],
    )
    .await
    .expect("example.test's certificate");
    let mut h2 = http2(tls).await;
    let got = get2(&mut h2, "example.test", "/hello.txt").await.unwrap();
    assert_eq!(&got.body[..], b"example site\n");
    // A name no virtual server lists: the default virtual server's certificate.
    let err = connect(
        s.tls(),
        "other.test",
        std::slice::from_ref(&s.certs.example),
        &[b"h2"],
    )
    .await;
    assert!(
        err.is_err(),
        "presented example.test's certificate to other.test"
    );
    connect(
        s.tls(),
        "localhost",
        std::slice::from_ref(&s.certs.default),
        &[b"h2"],
    )
    .await
    .expect("the default virtual server's certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_taken_by_a_graceful_reload_and_open_connections_carry_on() {
    let s = Setup::start();
    let mut before = serving_h2(&s).await;

    let renewed = certificate(s.server.root(), "renewed", &["localhost"]);
    let text = config()
        .replace("%ROOT%/default.crt", "%ROOT%/renewed.crt")
        .replace("%ROOT%/default.key", "%ROOT%/renewed.key");
    let outcome = s.server.reload(&text, false);
    assert!(outcome.starts_with("baton: reloaded"), "{outcome}");

    // The connection opened before the reload goes on, under the new rules.
    let got = get2(&mut before, "localhost", "/hello.txt").await.unwrap();
    assert_eq!(got.status, 200);
    // New handshakes present the renewed certificate, and only it.
    connect(s.tls(), "localhost", &[renewed], &[b"h2"])
        .await
        .expect("the renewed certificate");
    let old = connect(
        s.tls(),
        "localhost",
        std::slice::from_ref(&s.certs.default),
        &[b"h2"],
    )
    .await;
    assert!(old.is_err(), "still presenting the replaced certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_restart_closes_open_tls_connections() {
    // An idle connection would otherwise stay open for the server's timeout: only the
    // hard restart can close it within the test.
    let config = format!("server!timeout = 600\n{}", config());
    let s = Setup::start_with(&config);
    let tls = connect(s.tls(), "localhost", &s.trusted(), &[b"h2"])
        .await
        .expect("TLS handshake");
    // A second descriptor of the client's socket, kept by the test: it shows the server's
    // end of the connection (FIN or RST) whatever the HTTP/2 client makes of it.
    let socket = tls
        .get_ref()
        .0
        .as_fd()
        .try_clone_to_owned()
        .expect("dup of the client socket");
    let mut h2 = http2(tls).await;
    let got = get2(&mut h2, "localhost", "/hello.txt").await.unwrap();
    assert_eq!(got.status, 200);
    let outcome = s.server.reload(&config, true);
    assert!(outcome.starts_with("baton: reloaded"), "{outcome}");
    // The idle connection is closed by the server, without waiting for anything.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(60), peer_closed(&socket));
    assert!(closed.await.is_ok(), "the connection stayed open");
    // A new connection is served.
    serving_h2(&s).await;
}

/// Returns once the peer has closed the connection of `socket` (its side shut, or reset).
async fn peer_closed(socket: &OwnedFd) {
    loop {
        let mut pollfd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, and a zero timeout: the check never blocks the runtime.
        let ready = unsafe { libc::poll(&mut pollfd, 1, 0) };
        let ended = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
        if ready > 0 && pollfd.revents & ended != 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_sends_plain_requests_to_tls_and_tells_tls_clients_to_stay() {
    let s = Setup::start();
    // Plain: a permanent redirection to the same target on the TLS listener, whatever the
    // rules say, and no policy field (RFC 6797 §7.2, §8.1).
    let plain = get(s.plain(), "example.test", "/hello.txt?a=1");
    assert_eq!(plain.status, 301);
    let location = format!("https://example.test:{}/hello.txt?a=1", s.tls().port());
    assert_eq!(plain.header("location"), Some(location.as_str()));
    assert_eq!(plain.header("strict-transport-security"), None);
    // A virtual server without HSTS is served on plain as before.
    assert_eq!(get(s.plain(), "localhost", "/hello.txt").status, 200);

    // TLS: served, with the policy.
    let tls = connect(s.tls(), "example.test", &s.trusted(), &[b"h2"])
        .await
        .expect("TLS handshake");
    let mut h2 = http2(tls).await;
    let got = get2(&mut h2, "example.test", "/hello.txt").await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["strict-transport-security"], "max-age=900");
    // The default virtual server has no HSTS: its field is its own `tls` rule's.
    let other = get2(&mut h2, "localhost", "/hello.txt").await.unwrap();
    assert_eq!(other.headers["strict-transport-security"], "max-age=600");
}
