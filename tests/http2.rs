//! HTTP/2 over TLS (RFC 9113) with the real binary, as a client sees it on the wire.
//!
//! Well-formed traffic goes through the `h2` crate's client; malformed traffic through a
//! raw TLS connection on which the test writes hand-made frames (a 9-byte header: 24-bit
//! length, 8-bit type, 8-bit flags, 31-bit stream id) with a minimal HPACK encoding
//! (literal fields without indexing, new names, raw strings; a few static entries), and
//! reads the server's frames back (their field blocks decoded with `loona-hpack`).
//!
//! Covered:
//! - requests: GET of a small and of a 3 MiB file (byte-exact), HEAD (no DATA, a
//!   content-length), 404, a conditional GET answered 304, a range answered 206;
//! - concurrency: 200 streams on one connection within the advertised
//!   SETTINGS_MAX_CONCURRENT_STREAMS, and a stream beyond that limit refused (§5.1.2);
//! - flow control (§5.2, §6.9): a 1 MiB body through a 1000-byte stream window; with a zero
//!   initial window, HEADERS and then DATA only as far as WINDOW_UPDATEs allow;
//! - a POST with a body over 64 KiB to a static file (§8.1: the answer may come first);
//! - the connection preface (§3.4: SETTINGS first, ours acknowledged), PING (§6.7), unknown
//!   frame types ignored (§5.5);
//! - connection errors, each a GOAWAY with the code of §5.4.1/§6 and the connection closed,
//!   the server serving new connections afterwards: a wrong preface, DATA on stream 0 or on
//!   an idle stream, HEADERS on an even stream or on a stream id going backwards, an
//!   oversized frame, SETTINGS and PING of the wrong length, an initial window over
//!   2^31-1, a connection window overflow, a zero connection WINDOW_UPDATE, a frame
//!   between HEADERS and CONTINUATION, a CONTINUATION without HEADERS, an undecodable
//!   HPACK block;
//! - stream errors (§8.1.1, §5.1, §6.9), after which the same connection serves a new
//!   request: an upper-case field name, a connection-specific field, no `:path`, a
//!   pseudo-header after a regular field, a zero stream WINDOW_UPDATE, DATA on a stream the
//!   client had ended;
//! - a client RST_STREAM of a response being sent (§6.4);
//! - a graceful stop: GOAWAY, the response in flight completed, new streams refused, exit 0
//!   (§6.8); an idle connection closed with a GOAWAY after `server!timeout`;
//! - `:authority` choosing the virtual server (§8.3.1), and `cookie` fields split by the
//!   client seen as one by a rule (§8.2.3).
//!
//! No sleeps: every wait is on a condition (a frame, the end of a connection); time limits
//! are only a guard against a hang.
mod common;
use common::*;

use bytes::Bytes;
use common::tls::{connect, Certs, HELLO, VSERVERS};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The longest any single wait may take before the test fails.
const LIMIT: Duration = Duration::from_secs(30);

/// The size of `big.bin`.
const BIG: usize = 3 << 20;
/// The size of `mid.bin`.
const MID: usize = 1 << 20;
/// Files `n/0.txt` … for the concurrency test.
const MANY: usize = 200;

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// One TLS listener in front of the virtual servers of [`VSERVERS`] (the default one for
/// `localhost`, `example.test` with its own document root). A `header` rule on `Cookie`
/// needing two cookies together adds `X-Cookies: both` to the response.
fn config(timeout: u32) -> String {
    format!(
        "server!bind!1!port = 0
server!bind!1!interface = 127.0.0.1
server!bind!1!tls = 1
server!timeout = {timeout}
server!drain_timeout = 120
{VSERVERS}vserver!1!rule!20!match = header
vserver!1!rule!20!match!header = Cookie
vserver!1!rule!20!match!match = a=1; b=2
vserver!1!rule!20!match!final = 0
vserver!1!rule!20!header_op!1!type = add
vserver!1!rule!20!header_op!1!header = X-Cookies
vserver!1!rule!20!header_op!1!value = both
"
    )
}

/// Bytes no two files share by accident, so that a mixed-up or misplaced chunk shows.
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn big() -> Vec<u8> {
    pattern(0x9e37_79b9, BIG)
}

fn mid() -> Vec<u8> {
    pattern(0x85eb_ca6b, MID)
}

fn many(i: usize) -> String {
    format!("file number {i}\n")
}

struct Setup {
    server: Server,
    certs: Certs,
}

impl Setup {
    fn start() -> Setup {
        Self::with_timeout(60)
    }

    /// With `server!timeout = secs`.
    fn with_timeout(secs: u32) -> Setup {
        let (server, certs) = common::tls::start(&config(secs), |root| {
            write_file(root, "www/big.bin", big());
            write_file(root, "www/mid.bin", mid());
            for i in 0..MANY {
                write_file(root, &format!("www/n/{i}.txt"), many(i));
            }
        });
        Setup { server, certs }
    }

    fn addr(&self) -> SocketAddr {
        self.server.listeners[0].1
    }
}

/// Fails the test if `what` takes longer than [`LIMIT`].
async fn guard<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing after {LIMIT:?}"),
    }
}

/// A TLS connection to the server naming `localhost`, which agreed on `h2` by ALPN.
async fn tls(s: &Setup) -> TlsStream<TcpStream> {
    let roots = s.certs.both();
    let stream = guard(
        "TLS handshake",
        connect(s.addr(), "localhost", &roots, &[b"h2"]),
    )
    .await
    .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    stream
}

// ---------------------------------------------------------------------------------------
// The h2 crate's client, for well-formed traffic
// ---------------------------------------------------------------------------------------

type Client = h2::client::SendRequest<Bytes>;

/// An h2 client on a new connection, once a first request has been answered (so the
/// server's SETTINGS are known).
async fn client(s: &Setup) -> Client {
    client_with(s, &h2::client::Builder::new()).await
}

async fn client_with(s: &Setup, builder: &h2::client::Builder) -> Client {
    let io = tls(s).await;
    let (client, connection) = guard("HTTP/2 handshake", builder.handshake::<_, Bytes>(io))
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let got = fetch(&client, get("localhost", "/hello.txt"))
        .await
        .expect("a first answer");
    assert_eq!(got.status, 200);
    client
}

fn get(authority: &str, path: &str) -> http::Request<()> {
    http::Request::get(format!("https://{authority}{path}"))
        .body(())
        .expect("request")
}

struct Got {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

/// Sends `request` (without a body) and reads the whole answer, releasing flow-control
/// capacity as the body arrives.
async fn fetch(client: &Client, request: http::Request<()>) -> Result<Got, h2::Error> {
    let what = format!("{} {}", request.method(), request.uri());
    guard(&what, async {
        let mut ready = client.clone().ready().await?;
        let (response, _) = ready.send_request(request, true)?;
        let (head, body) = response.await?.into_parts();
        let body = read_body(body).await?;
        Ok(Got {
            status: head.status.as_u16(),
            headers: head.headers,
            body,
        })
    })
    .await
}

async fn read_body(mut body: h2::RecvStream) -> Result<Vec<u8>, h2::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A new connection to the server is served: what every connection-error test ends with.
async fn assert_serves(s: &Setup) {
    let c = client(s).await;
    let got = fetch(&c, get("localhost", "/hello.txt")).await.unwrap();
    assert_eq!((got.status, &got.body[..]), (200, HELLO));
}

/// Compares two bodies without printing megabytes.
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes received, {} expected, first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Raw frames
// ---------------------------------------------------------------------------------------

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types (§6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

// Flags.
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;

// Error codes (§7).
const NO_ERROR: u32 = 0x0;
const PROTOCOL_ERROR: u32 = 0x1;
const FLOW_CONTROL_ERROR: u32 = 0x3;
const STREAM_CLOSED: u32 = 0x5;
const FRAME_SIZE_ERROR: u32 = 0x6;
const REFUSED_STREAM: u32 = 0x7;
const CANCEL: u32 = 0x8;
const COMPRESSION_ERROR: u32 = 0x9;

// Settings (§6.5.2).
const SETTINGS_ENABLE_PUSH: u16 = 0x2;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// The largest stream id and window.
const MAX_31: u32 = 0x7fff_ffff;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 1 << 24);
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn settings(list: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in list {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

fn ping(flags: u8, opaque: [u8; 8]) -> Vec<u8> {
    frame(PING, flags, 0, &opaque)
}

/// A complete request head: HEADERS with END_HEADERS (and END_STREAM when `end`).
fn headers(stream: u32, end: bool, block: &[u8]) -> Vec<u8> {
    let flags = END_HEADERS | if end { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, block)
}

/// An HPACK integer with an `n`-bit prefix, the high bits of the first byte `first`
/// (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A literal field without indexing, with a new name (RFC 7541 §6.2.2), both strings raw
/// (H bit clear).
fn field(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00];
    hpack_int(&mut out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_int(&mut out, 0, 7, value.len());
    out.extend_from_slice(value.as_bytes());
    out
}

/// A request's field block: `:method` (GET as static entry 2), `:scheme https` (static
/// entry 7), `:authority localhost`, `:path`, then `extra`.
fn request(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut block = match method {
        "GET" => vec![0x82],
        _ => field(":method", method),
    };
    block.push(0x87);
    block.extend(field(":authority", "localhost"));
    block.extend(field(":path", path));
    for (name, value) in extra {
        block.extend(field(name, value));
    }
    block
}

fn get_block(path: &str) -> Vec<u8> {
    request("GET", path, &[])
}

/// A frame the server sent. A field block (HEADERS with its CONTINUATIONs) comes as one
/// HEADERS frame, its padding and priority removed, its fields decoded.
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
    fields: Vec<(String, String)>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.kind {
            DATA => "DATA",
            HEADERS => "HEADERS",
            PRIORITY => "PRIORITY",
            RST_STREAM => "RST_STREAM",
            SETTINGS => "SETTINGS",
            PUSH_PROMISE => "PUSH_PROMISE",
            PING => "PING",
            GOAWAY => "GOAWAY",
            WINDOW_UPDATE => "WINDOW_UPDATE",
            CONTINUATION => "CONTINUATION",
            _ => "unknown",
        };
        write!(
            f,
            "{name}(type {:#x}, flags {:#x}, stream {}, {} bytes",
            self.kind,
            self.flags,
            self.stream,
            self.payload.len()
        )?;
        match self.kind {
            RST_STREAM | GOAWAY => write!(f, ", code {:#x}", self.code())?,
            HEADERS => write!(f, ", {:?}", self.fields)?,
            _ => {}
        }
        if self.kind == GOAWAY {
            write!(f, ", last stream {}", self.last_stream())?;
        }
        write!(f, ")")
    }
}

impl Frame {
    fn is(&self, kind: u8, stream: u32) -> bool {
        self.kind == kind && self.stream == stream
    }

    fn end_stream(&self) -> bool {
        matches!(self.kind, DATA | HEADERS) && self.flags & END_STREAM != 0
    }

    /// The error code of a RST_STREAM or GOAWAY.
    fn code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        match self.payload.get(at..at + 4) {
            Some(b) => u32::from_be_bytes(b.try_into().unwrap()),
            None => u32::MAX,
        }
    }

    /// The last stream id of a GOAWAY.
    fn last_stream(&self) -> u32 {
        match self.payload.get(..4) {
            Some(b) => u32::from_be_bytes(b.try_into().unwrap()) & MAX_31,
            None => u32::MAX,
        }
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn status(&self) -> Option<u16> {
        self.field(":status").and_then(|s| s.parse().ok())
    }

    /// A DATA frame's content, without padding.
    fn data(&self) -> &[u8] {
        if self.flags & PADDED != 0 {
            let pad = self.payload[0] as usize;
            &self.payload[1..self.payload.len() - pad]
        } else {
            &self.payload
        }
    }
}

/// A response read from raw frames.
struct Answer {
    status: u16,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
    /// DATA frames with content.
    data_frames: usize,
}

impl Answer {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A raw HTTP/2 connection.
struct Conn {
    io: TlsStream<TcpStream>,
    buf: Vec<u8>,
    hpack: loona_hpack::Decoder<'static>,
    /// The server's first SETTINGS.
    server_settings: Vec<(u16, u32)>,
}

impl Conn {
    /// A TLS connection on which nothing has been sent yet.
    async fn open(s: &Setup) -> Conn {
        Conn {
            io: tls(s).await,
            buf: Vec::new(),
            hpack: loona_hpack::Decoder::new(),
            server_settings: Vec::new(),
        }
    }

    /// Sends the preface and SETTINGS with `ours`, checks that the server's first frame
    /// is SETTINGS (§3.4) and acknowledges it.
    async fn start(s: &Setup, ours: &[(u16, u32)]) -> Conn {
        let mut c = Conn::open(s).await;
        c.send(&[PREFACE, &settings(ours)].concat()).await;
        let first = c.next().await.expect("the server's SETTINGS");
        assert!(
            first.is(SETTINGS, 0) && first.flags & ACK == 0,
            "the server's first frame: {first:?}"
        );
        assert_eq!(first.payload.len() % 6, 0, "SETTINGS length");
        c.server_settings = first
            .payload
            .chunks(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect();
        // next() acknowledged it.
        c
    }

    fn server_setting(&self, id: u16) -> Option<u32> {
        self.server_settings
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| *v)
    }

    async fn send(&mut self, bytes: &[u8]) {
        assert!(self.try_send(bytes).await, "writing to the server failed");
    }

    /// Sends `bytes`; false if the connection is gone (the server may close while the
    /// test is still writing what it answers with an error).
    async fn try_send(&mut self, bytes: &[u8]) -> bool {
        guard("write", async {
            self.io.write_all(bytes).await.is_ok() && self.io.flush().await.is_ok()
        })
        .await
    }

    /// The next frame, or `None` once the connection has ended. A SETTINGS or PING from
    /// the server is acknowledged as it is read (and still returned).
    async fn next(&mut self) -> Option<Frame> {
        let frame = guard("a frame from the server", self.read_frame()).await?;
        if frame.flags & ACK == 0 && frame.stream == 0 {
            if frame.kind == SETTINGS {
                self.try_send(&frame_ack(SETTINGS, &[])).await;
            } else if frame.kind == PING {
                self.try_send(&frame_ack(PING, &frame.payload)).await;
            }
        }
        Some(frame)
    }

    async fn read_raw(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let kind = self.buf[3];
                    let flags = self.buf[4];
                    let stream =
                        u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]])
                            & MAX_31;
                    let payload = self.buf[9..9 + len].to_vec();
                    self.buf.drain(..9 + len);
                    return Some((kind, flags, stream, payload));
                }
            }
            let mut chunk = vec![0u8; 64 << 10];
            match self.io.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        let (kind, mut flags, stream, payload) = self.read_raw().await?;
        if kind != HEADERS {
            return Some(Frame {
                kind,
                flags,
                stream,
                payload,
                fields: Vec::new(),
            });
        }
        let mut block = payload.as_slice();
        let mut pad = 0;
        if flags & PADDED != 0 {
            pad = block[0] as usize;
            block = &block[1..];
        }
        if flags & PRIORITY_FLAG != 0 {
            block = &block[5..];
        }
        let mut block = block[..block.len() - pad].to_vec();
        while flags & END_HEADERS == 0 {
            let (k, f, id, more) = self.read_raw().await?;
            assert!(
                k == CONTINUATION && id == stream,
                "the server sent type {k:#x} on stream {id} inside a field block of stream {stream}"
            );
            block.extend_from_slice(&more);
            flags |= f & END_HEADERS;
        }
        let fields = self
            .hpack
            .decode(&block)
            .expect("the server's field block decodes")
            .into_iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(&n).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        Some(Frame {
            kind,
            flags: flags & !(PADDED | PRIORITY_FLAG),
            stream,
            payload: block,
            fields,
        })
    }

    /// Reads to the end of the connection, which must come after a GOAWAY; returns the
    /// last GOAWAY (a connection error, §5.4.1: GOAWAY, then the connection is closed).
    async fn connection_error(&mut self) -> Frame {
        let mut goaway = None;
        let mut seen = Vec::new();
        while let Some(f) = self.next().await {
            if f.kind == GOAWAY {
                goaway = Some(f);
            } else if seen.len() < 8 {
                seen.push(format!("{f:?}"));
            }
        }
        goaway.unwrap_or_else(|| panic!("the connection ended without a GOAWAY; got {seen:?}"))
    }

    /// Reads until a RST_STREAM on `stream` and returns its code. The connection must not
    /// end, and the stream must not be answered.
    async fn stream_error(&mut self, stream: u32) -> u32 {
        loop {
            let f = self
                .next()
                .await
                .unwrap_or_else(|| panic!("the connection ended instead of a RST_STREAM"));
            match f.kind {
                RST_STREAM if f.stream == stream => return f.code(),
                GOAWAY => panic!("a connection error instead of a stream error: {f:?}"),
                HEADERS if f.stream == stream => {
                    panic!("the malformed request was answered: {f:?}")
                }
                DATA => {
                    let n = f.payload.len() as u32;
                    if n > 0 {
                        self.send(&window_update(0, n)).await;
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads until the HEADERS of `stream` and returns them.
    async fn headers_of(&mut self, stream: u32) -> Frame {
        loop {
            let f = self.next().await.expect("HEADERS");
            if f.is(HEADERS, stream) {
                return f;
            }
        }
    }

    /// Reads the response on `stream` to its END_STREAM, giving back the flow-control
    /// window for every DATA frame read (the connection's for any stream, the stream's for
    /// this one).
    async fn response(&mut self, stream: u32) -> Answer {
        let mut answer = Answer {
            status: 0,
            fields: Vec::new(),
            body: Vec::new(),
            data_frames: 0,
        };
        loop {
            let f = self
                .next()
                .await
                .unwrap_or_else(|| panic!("the connection ended before stream {stream} did"));
            match f.kind {
                HEADERS if f.stream == stream => {
                    let status = f.status().expect(":status");
                    if answer.status == 0 && !(100..200).contains(&status) {
                        answer.status = status;
                        answer.fields = f.fields.clone();
                    }
                }
                DATA => {
                    let n = f.payload.len() as u32;
                    if n > 0 {
                        self.send(&window_update(0, n)).await;
                    }
                    if f.stream == stream {
                        assert_ne!(answer.status, 0, "DATA before HEADERS");
                        if !f.data().is_empty() {
                            answer.data_frames += 1;
                        }
                        answer.body.extend_from_slice(f.data());
                        if n > 0 && !f.end_stream() {
                            self.send(&window_update(stream, n)).await;
                        }
                    }
                }
                RST_STREAM if f.stream == stream => panic!("stream {stream} was reset: {f:?}"),
                GOAWAY => panic!("GOAWAY while waiting for stream {stream}: {f:?}"),
                _ => {}
            }
            if f.stream == stream && f.end_stream() {
                assert_ne!(answer.status, 0, "no final HEADERS on stream {stream}");
                return answer;
            }
        }
    }

    /// A GET of `/hello.txt` on `stream` is answered in full.
    async fn assert_answers(&mut self, stream: u32) {
        self.send(&headers(stream, true, &get_block("/hello.txt")))
            .await;
        let answer = self.response(stream).await;
        assert_eq!((answer.status, &answer.body[..]), (200, HELLO));
    }

    /// A PING round trip: every frame the server sent before answering it is returned.
    async fn round_trip(&mut self, opaque: [u8; 8]) -> Vec<Frame> {
        self.send(&ping(0, opaque)).await;
        let mut before = Vec::new();
        loop {
            let f = self
                .next()
                .await
                .expect("the connection ended before the PING was answered");
            if f.is(PING, 0) && f.flags & ACK != 0 && f.payload == opaque {
                return before;
            }
            before.push(f);
        }
    }
}

fn frame_ack(kind: u8, payload: &[u8]) -> Vec<u8> {
    frame(kind, ACK, 0, payload)
}

/// A connection error: GOAWAY with `code`, the connection closed, and the server still
/// serving new connections.
async fn assert_connection_error(s: &Setup, c: &mut Conn, code: u32) {
    let goaway = c.connection_error().await;
    assert_eq!(goaway.code(), code, "{goaway:?}");
    assert_serves(s).await;
}

/// On a new connection (prefaces and SETTINGS exchanged), `frames` are sent, each in a
/// write of its own (the server may close before the last): a connection error with `code`.
async fn assert_connection_error_after(frames: &[Vec<u8>], code: u32) {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[]).await;
    for frame in frames {
        c.try_send(frame).await;
    }
    assert_connection_error(&s, &mut c, code).await;
}

/// On a new connection, a request on stream 1 with the field block `block`: a stream
/// error, RST_STREAM with PROTOCOL_ERROR on stream 1, and the same connection then
/// answering a request on stream 3.
async fn assert_request_resets_its_stream(block: &[u8]) {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[]).await;
    c.send(&headers(1, true, block)).await;
    let got = c.stream_error(1).await;
    assert_eq!(got, PROTOCOL_ERROR, "RST_STREAM code on stream 1");
    c.assert_answers(3).await;
}

/// On a new connection with a zero initial window, which keeps stream 1 (a GET of
/// `big.bin`) open on the server after its HEADERS, `frame` is sent: RST_STREAM with `code`
/// on stream 1, and, the window opened, the same connection then answering stream 3.
async fn assert_held_stream_error(frame: &[u8], code: u32) {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]).await;
    c.send(&headers(1, true, &get_block("/big.bin"))).await;
    c.headers_of(1).await;
    c.send(frame).await;
    let got = c.stream_error(1).await;
    assert_eq!(got, code);
    c.send(&settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 65535)]))
        .await;
    c.assert_answers(3).await;
}

// ---------------------------------------------------------------------------------------
// 1. Requests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_is_served_whole() {
    let s = Setup::start();
    let c = client(&s).await;
    let got = fetch(&c, get("localhost", "/hello.txt")).await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(&got.body[..], HELLO);
    assert_eq!(got.headers["content-length"], "15");
    assert_eq!(got.headers["content-type"], "text/plain");
    assert!(got.headers.contains_key("date"));
    assert!(
        !got.headers.contains_key("connection"),
        "connection-specific field in an HTTP/2 response (§8.2.2)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3_mib_file_arrives_byte_exact() {
    let s = Setup::start();
    let c = client(&s).await;
    let got = fetch(&c, get("localhost", "/big.bin")).await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["content-length"], BIG.to_string().as_str());
    assert_same(&got.body, &big(), "big.bin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_has_a_content_length_and_no_data() {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[]).await;
    c.send(&headers(1, true, &request("HEAD", "/hello.txt", &[])))
        .await;
    let answer = c.response(1).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.field("content-length"), Some("15"));
    assert_eq!(answer.data_frames, 0, "DATA in a response to HEAD");
    assert!(answer.body.is_empty());
    // The connection goes on.
    c.assert_answers(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_is_404() {
    let s = Setup::start();
    let c = client(&s).await;
    let got = fetch(&c, get("localhost", "/missing.txt")).await.unwrap();
    assert_eq!(got.status, 404);
    if let Some(len) = got.headers.get("content-length") {
        assert_eq!(len.to_str().unwrap(), got.body.len().to_string());
    }
    // The connection goes on.
    let got = fetch(&c, get("localhost", "/hello.txt")).await.unwrap();
    assert_eq!(got.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_none_match_with_the_etag_is_answered_304() {
    let s = Setup::start();
    let c = client(&s).await;
    let first = fetch(&c, get("localhost", "/hello.txt")).await.unwrap();
    let etag = first.headers.get("etag").expect("an ETag").clone();
    let mut request = get("localhost", "/hello.txt");
    request.headers_mut().insert("if-none-match", etag.clone());
    let got = fetch(&c, request).await.unwrap();
    assert_eq!(got.status, 304);
    assert!(got.body.is_empty(), "a body in a 304");
    assert_eq!(got.headers.get("etag"), Some(&etag));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_request_is_answered_206_with_that_part() {
    let s = Setup::start();
    let c = client(&s).await;
    let mut request = get("localhost", "/big.bin");
    let (from, to) = (1_000_000usize, 1_000_099usize);
    request.headers_mut().insert(
        "range",
        format!("bytes={from}-{to}").parse().expect("range"),
    );
    let got = fetch(&c, request).await.unwrap();
    assert_eq!(got.status, 206);
    assert_eq!(
        got.headers["content-range"],
        format!("bytes {from}-{to}/{BIG}").as_str()
    );
    assert_eq!(got.headers["content-length"], "100");
    assert_same(&got.body, &big()[from..=to], "the range");
}

// ---------------------------------------------------------------------------------------
// 2. Concurrency
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_streams_on_one_connection_are_all_answered() {
    let s = Setup::start();
    let c = client(&s).await;
    // The h2 client opens at most what the server advertised; it must have advertised a
    // limit (RFC 9113 recommends at least 100, §6.5.2).
    let limit = c.current_max_send_streams();
    assert!(limit >= 100, "advertised max concurrent streams: {limit}");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..MANY {
        let c = c.clone();
        tasks.spawn(async move {
            let got = fetch(&c, get("localhost", &format!("/n/{i}.txt"))).await;
            (i, got)
        });
    }
    let mut answered = 0;
    while let Some(done) = tasks.join_next().await {
        let (i, got) = done.expect("task");
        let got = got.unwrap_or_else(|e| panic!("stream for n/{i}.txt: {e}"));
        assert_eq!(got.status, 200, "n/{i}.txt");
        assert_eq!(got.body, many(i).as_bytes(), "n/{i}.txt");
        answered += 1;
    }
    assert_eq!(answered, MANY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_beyond_the_advertised_concurrency_is_refused() {
    let s = Setup::start();
    // A zero window keeps every answered stream open (its DATA cannot be sent).
    let mut c = Conn::start(&s, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]).await;
    let limit = c
        .server_setting(SETTINGS_MAX_CONCURRENT_STREAMS)
        .expect("the server advertises SETTINGS_MAX_CONCURRENT_STREAMS");
    assert!((1..1000).contains(&limit), "limit {limit}");
    let mut all = Vec::new();
    for i in 0..limit {
        all.extend(headers(2 * i + 1, true, &get_block("/hello.txt")));
    }
    c.send(&all).await;
    let mut open = 0;
    while open < limit {
        let f = c
            .next()
            .await
            .expect("answers to the streams within the limit");
        match f.kind {
            HEADERS => {
                assert_eq!(f.status(), Some(200), "{f:?}");
                assert!(!f.end_stream(), "{f:?}");
                open += 1;
            }
            RST_STREAM | GOAWAY => panic!("a stream within the limit was refused: {f:?}"),
            DATA => panic!("DATA with a zero window: {f:?}"),
            _ => {}
        }
    }
    // One more: refused (§5.1.2: PROTOCOL_ERROR or REFUSED_STREAM), the connection stays.
    let over = 2 * limit + 1;
    c.send(&headers(over, true, &get_block("/hello.txt"))).await;
    let code = c.stream_error(over).await;
    assert!(
        code == REFUSED_STREAM || code == PROTOCOL_ERROR,
        "RST_STREAM code {code:#x}"
    );
    // Once one stream ends, a new one is served.
    c.send(&window_update(1, HELLO.len() as u32)).await;
    loop {
        let f = c.next().await.expect("the end of stream 1");
        if f.is(DATA, 1) && f.end_stream() {
            break;
        }
        assert!(f.kind != RST_STREAM && f.kind != GOAWAY, "{f:?}");
    }
    // (A window for the new stream, and so for the others: their DATA comes too.)
    c.send(&settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 65535)]))
        .await;
    c.assert_answers(over + 2).await;
}

// ---------------------------------------------------------------------------------------
// 3. Flow control
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_client_window_still_receives_a_1_mib_body() {
    let s = Setup::start();
    let mut builder = h2::client::Builder::new();
    builder
        .initial_window_size(1000)
        .initial_connection_window_size(1000);
    let c = client_with(&s, &builder).await;
    let got = fetch(&c, get("localhost", "/mid.bin")).await.unwrap();
    assert_eq!(got.status, 200);
    assert_same(&got.body, &mid(), "mid.bin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_zero_window_data_waits_for_window_updates() {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]).await;
    c.send(&headers(1, true, &get_block("/hello.txt"))).await;
    // HEADERS are not flow-controlled: they come.
    let head = loop {
        let f = c.next().await.expect("HEADERS");
        assert!(!f.is(DATA, 1), "DATA with a zero window: {f:?}");
        if f.is(HEADERS, 1) {
            break f;
        }
    };
    assert_eq!(head.status(), Some(200));
    assert!(!head.end_stream());
    // Granted bytes and no more: 5, then the remaining 10.
    let mut body = Vec::new();
    let mut granted = 0;
    for grant in [5usize, HELLO.len() - 5] {
        // Nothing beyond what was granted, whatever arrived before a PING round trip.
        for f in c.round_trip(*b"nodata!!").await {
            if f.is(DATA, 1) {
                body.extend_from_slice(f.data());
            }
            assert!(f.kind != RST_STREAM && f.kind != GOAWAY, "{f:?}");
        }
        assert_eq!(body.len(), granted, "DATA beyond the window");
        c.send(&window_update(1, grant as u32)).await;
        granted += grant;
        while body.len() < granted {
            let f = c.next().await.expect("the granted DATA");
            assert!(f.kind != RST_STREAM && f.kind != GOAWAY, "{f:?}");
            if f.is(DATA, 1) {
                body.extend_from_slice(f.data());
                assert!(body.len() <= granted, "DATA beyond the window");
            }
        }
    }
    assert_eq!(&body[..], HELLO);
}

// ---------------------------------------------------------------------------------------
// 4. Request bodies
// ---------------------------------------------------------------------------------------

/// Sends `body` on `tx` as flow control allows; `Err` with the reason if the stream was
/// reset before all was sent.
async fn send_body(
    mut tx: h2::SendStream<Bytes>,
    mut body: Bytes,
) -> Result<(), Option<h2::Reason>> {
    while !body.is_empty() {
        tx.reserve_capacity(body.len());
        match std::future::poll_fn(|cx| tx.poll_capacity(cx)).await {
            Some(Ok(0)) => continue,
            Some(Ok(n)) => {
                let chunk = body.split_to(n.min(body.len()));
                tx.send_data(chunk, body.is_empty())
                    .map_err(|e| e.reason())?;
            }
            Some(Err(e)) => return Err(e.reason()),
            None => {
                let reset = std::future::poll_fn(|cx| tx.poll_reset(cx)).await;
                return Err(reset.ok());
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_body_over_64_kib_is_answered_and_the_connection_goes_on() {
    let s = Setup::start();
    let c = client(&s).await;
    let request = http::Request::post("https://localhost/hello.txt")
        .header("content-type", "application/octet-stream")
        .body(())
        .unwrap();
    let body = Bytes::from(pattern(7, 200 << 10));
    let mut ready = guard("ready", c.clone().ready()).await.unwrap();
    let (response, tx) = ready.send_request(request, false).unwrap();
    // The body goes out (in DATA frames of at most 16 KiB) while the answer is awaited.
    let sending = tokio::spawn(send_body(tx, body));
    let (head, body) = guard("the answer to the POST", response)
        .await
        .expect("an answer to the POST")
        .into_parts();
    let answer = guard("the body of the answer", read_body(body))
        .await
        .expect("the whole answer, END_STREAM before any reset");
    // A static file does not take POST.
    assert_eq!(head.status.as_u16(), 405);
    if let Some(len) = head.headers.get("content-length") {
        assert_eq!(len.to_str().unwrap(), answer.len().to_string());
    }
    // Either the server read the whole body, or it ended the stream with NO_ERROR after
    // its complete answer (§8.1).
    match guard("the end of the request body", sending).await.unwrap() {
        Ok(()) => {}
        Err(reason) => assert_eq!(reason, Some(h2::Reason::NO_ERROR)),
    }
    // The connection goes on.
    let got = fetch(&c, get("localhost", "/hello.txt")).await.unwrap();
    assert_eq!((got.status, &got.body[..]), (200, HELLO));
}

// ---------------------------------------------------------------------------------------
// 5. Preface, SETTINGS, PING
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_settings_come_first_and_ours_are_acknowledged() {
    let s = Setup::start();
    // Conn::start checks that the first frame is the server's SETTINGS.
    let mut c = Conn::start(
        &s,
        &[(SETTINGS_ENABLE_PUSH, 0), (SETTINGS_MAX_FRAME_SIZE, 16384)],
    )
    .await;
    loop {
        let f = c.next().await.expect("a SETTINGS ACK");
        if f.is(SETTINGS, 0) && f.flags & ACK != 0 {
            assert!(f.payload.is_empty(), "a SETTINGS ACK with a payload");
            break;
        }
        assert!(f.kind != GOAWAY, "{f:?}");
    }
    c.assert_answers(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_with_the_same_8_bytes() {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[]).await;
    let opaque = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    // round_trip waits for a PING with ACK carrying these 8 bytes.
    for f in c.round_trip(opaque).await {
        assert!(f.kind != GOAWAY, "{f:?}");
    }
    // A PING ACK from the client is not answered; the connection goes on.
    c.send(&ping(ACK, *b"unasked!")).await;
    c.assert_answers(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_frame_type_is_ignored() {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[]).await;
    // §5.5: frames of unknown types are ignored, on stream 0 or on a stream.
    c.send(&frame(0xfa, 0xff, 0, b"extension")).await;
    c.send(&frame(0xfb, 0, 1, b"extension")).await;
    c.assert_answers(1).await;
}

// ---------------------------------------------------------------------------------------
// 6. Connection errors
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_preface_closes_the_connection() {
    let s = Setup::start();
    let mut c = Conn::open(&s).await;
    // An HTTP/1.1 request where the preface belongs.
    c.try_send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    // §3.4: a connection error; the GOAWAY may be left out. The server's preface
    // (SETTINGS first, then maybe connection-level frames such as a WINDOW_UPDATE) may
    // come, but nothing on a stream: the request is not answered. Then the connection
    // closes, with no bytes left over that are not whole frames (an HTTP/1.1 answer).
    let mut frames = Vec::new();
    while let Some(f) = c.next().await {
        frames.push(f);
    }
    assert!(
        c.buf.is_empty(),
        "not frames: {:?}",
        String::from_utf8_lossy(&c.buf)
    );
    for (i, f) in frames.iter().enumerate() {
        match f.kind {
            SETTINGS if i == 0 => {}
            GOAWAY => assert_eq!(f.code(), PROTOCOL_ERROR, "{f:?}"),
            _ if i > 0 && f.stream == 0 && f.kind != SETTINGS => {}
            _ => panic!("after a wrong preface: {frames:?}"),
        }
    }
    assert_serves(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_on_stream_0_is_a_protocol_error() {
    assert_connection_error_after(&[frame(DATA, 0, 0, b"stray")], PROTOCOL_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_on_an_idle_stream_is_a_protocol_error() {
    // §5.1: stream 1 was never opened.
    assert_connection_error_after(&[frame(DATA, END_STREAM, 1, b"stray")], PROTOCOL_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_on_an_even_stream_is_a_protocol_error() {
    // §5.1.1: streams a client opens are odd.
    assert_connection_error_after(
        &[headers(2, true, &get_block("/hello.txt"))],
        PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_id_going_backwards_is_a_connection_error() {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[]).await;
    c.send(&headers(5, true, &get_block("/hello.txt"))).await;
    let answer = c.response(5).await;
    assert_eq!(answer.status, 200);
    // §5.1.1: a new stream's id must exceed every id opened before (PROTOCOL_ERROR);
    // stream 3 is also closed by then (§5.1: STREAM_CLOSED).
    c.try_send(&headers(3, true, &get_block("/hello.txt")))
        .await;
    let goaway = c.connection_error().await;
    assert!(
        goaway.code() == PROTOCOL_ERROR || goaway.code() == STREAM_CLOSED,
        "{goaway:?}"
    );
    assert_serves(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_max_frame_size_is_a_frame_size_error() {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[]).await;
    let max = c.server_setting(SETTINGS_MAX_FRAME_SIZE).unwrap_or(16384) as usize;
    // A HEADERS frame (which can change the connection's state: a connection error,
    // §4.2) one byte over the limit: a request with a long field.
    let base = get_block("/hello.txt");
    let mut pad = max + 1 - base.len();
    let block = loop {
        let mut block = base.clone();
        block.extend(field("x-pad", &"a".repeat(pad)));
        match block.len().cmp(&(max + 1)) {
            std::cmp::Ordering::Equal => break block,
            std::cmp::Ordering::Greater => pad -= 1,
            std::cmp::Ordering::Less => unreachable!(),
        }
    };
    c.try_send(&headers(1, true, &block)).await;
    assert_connection_error(&s, &mut c, FRAME_SIZE_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_of_a_length_not_a_multiple_of_6_is_a_frame_size_error() {
    // §6.5.
    assert_connection_error_after(&[frame(SETTINGS, 0, 0, &[0, 4, 0, 1, 0])], FRAME_SIZE_ERROR)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_not_8_bytes_long_is_a_frame_size_error() {
    // §6.7.
    assert_connection_error_after(&[frame(PING, 0, 0, b"seven!!")], FRAME_SIZE_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_window_over_2_31_minus_1_is_a_flow_control_error() {
    // §6.5.2.
    assert_connection_error_after(
        &[settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 1 << 31)])],
        FLOW_CONTROL_ERROR,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_update_overflowing_the_connection_window_is_a_flow_control_error() {
    // 65535 + 2^31-1 > 2^31-1 (§6.9.1).
    assert_connection_error_after(&[window_update(0, MAX_31)], FLOW_CONTROL_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_connection_window_update_is_a_protocol_error() {
    // §6.9.
    assert_connection_error_after(&[window_update(0, 0)], PROTOCOL_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_between_headers_and_continuation_is_a_protocol_error() {
    // HEADERS without END_HEADERS, then a PING instead of a CONTINUATION (§6.10).
    let block = get_block("/hello.txt");
    let (first, _) = block.split_at(3);
    let frames = [frame(HEADERS, END_STREAM, 1, first), ping(0, *b"between!")];
    assert_connection_error_after(&frames, PROTOCOL_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_without_headers_is_a_protocol_error() {
    // §6.10.
    let block = get_block("/hello.txt");
    let frames = [frame(CONTINUATION, END_HEADERS, 1, &block)];
    assert_connection_error_after(&frames, PROTOCOL_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_hpack_block_is_a_compression_error() {
    // Index 0 is not used (RFC 7541 §6.1): a decoding error, which §4.3 of RFC 9113 makes
    // a connection error of type COMPRESSION_ERROR.
    assert_connection_error_after(&[headers(1, true, &[0x82, 0x87, 0x80])], COMPRESSION_ERROR)
        .await;
}

// ---------------------------------------------------------------------------------------
// 7. Stream errors
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upper_case_field_name_resets_only_its_stream() {
    // §8.2.1: a malformed request, a stream error (§8.1.1).
    let block = request("GET", "/hello.txt", &[("X-Upper", "1")]);
    assert_request_resets_its_stream(&block).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_specific_field_resets_only_its_stream() {
    // §8.2.2.
    let block = request("GET", "/hello.txt", &[("connection", "keep-alive")]);
    assert_request_resets_its_stream(&block).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_path_resets_only_its_stream() {
    // §8.3.1.
    let mut block = vec![0x82, 0x87];
    block.extend(field(":authority", "localhost"));
    assert_request_resets_its_stream(&block).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pseudo_header_after_a_regular_field_resets_only_its_stream() {
    // §8.3.
    let mut block = vec![0x82, 0x87];
    block.extend(field(":authority", "localhost"));
    block.extend(field("accept", "*/*"));
    block.extend(field(":path", "/hello.txt"));
    assert_request_resets_its_stream(&block).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_stream_window_update_resets_only_its_stream() {
    // A zero window keeps stream 1 open while the test sends the WINDOW_UPDATE.
    // §6.9: a stream error on a stream.
    assert_held_stream_error(&window_update(1, 0), PROTOCOL_ERROR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_after_the_client_ended_its_stream_resets_only_that_stream() {
    // A zero window keeps stream 1 half-closed (remote) on the server.
    // §5.1: half-closed (remote) receiving DATA is a stream error STREAM_CLOSED.
    assert_held_stream_error(&frame(DATA, 0, 1, b"late"), STREAM_CLOSED).await;
}

// ---------------------------------------------------------------------------------------
// 8. Client resets
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reset_of_a_big_response_leaves_the_connection_usable() {
    let s = Setup::start();
    let mut c = Conn::start(&s, &[]).await;
    c.send(&headers(1, true, &get_block("/big.bin"))).await;
    // The response is under way: HEADERS and some DATA.
    let mut got = 0;
    while got == 0 {
        let f = c.next().await.expect("the start of the response");
        assert!(f.kind != RST_STREAM && f.kind != GOAWAY, "{f:?}");
        if f.is(DATA, 1) {
            got += f.payload.len();
            assert!(!f.end_stream(), "3 MiB within the first window");
            c.send(&window_update(0, f.payload.len() as u32)).await;
        }
    }
    c.send(&rst_stream(1, CANCEL)).await;
    // What was in flight for stream 1 is read (and its connection window given back) by
    // `response`; stream 3 is answered in full.
    c.assert_answers(3).await;
    c.assert_answers(5).await;
}

// ---------------------------------------------------------------------------------------
// 9. Stop and idle
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_finishes_the_response_in_flight_and_refuses_new_streams() {
    let s = Setup::start();
    // A client that has read nothing yet: a zero window holds the 3 MiB response.
    let mut c = Conn::start(&s, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]).await;
    c.send(&headers(1, true, &get_block("/big.bin"))).await;
    assert_eq!(c.headers_of(1).await.status(), Some(200));
    s.server.signal(libc::SIGTERM);
    // A GOAWAY (§6.8), maybe first with 2^31-1 then with the last stream processed: the
    // final one names stream 1.
    let last = loop {
        let f = c.next().await.expect("a GOAWAY");
        assert!(!f.is(DATA, 1), "DATA with a zero window: {f:?}");
        if f.kind == GOAWAY {
            assert_eq!(f.code(), NO_ERROR, "{f:?}");
            if f.last_stream() < MAX_31 {
                break f.last_stream();
            }
        }
    };
    assert_eq!(last, 1, "last stream id of the GOAWAY");
    // A stream opened after the GOAWAY is not served.
    c.send(&headers(3, true, &get_block("/hello.txt"))).await;
    // The client reads: the response in flight completes.
    c.send(&window_update(0, BIG as u32)).await;
    c.send(&window_update(1, BIG as u32)).await;
    let mut body = Vec::new();
    let mut ended = false;
    while let Some(f) = c.next().await {
        match f.kind {
            DATA if f.stream == 1 => {
                assert!(!ended, "DATA after END_STREAM");
                body.extend_from_slice(f.data());
                ended = f.end_stream();
            }
            HEADERS if f.stream == 3 => panic!("a stream opened after GOAWAY was answered"),
            HEADERS | DATA => panic!("{f:?}"),
            RST_STREAM if f.stream == 1 => panic!("the response in flight was reset: {f:?}"),
            RST_STREAM => assert_eq!(f.code(), REFUSED_STREAM, "{f:?}"),
            GOAWAY => {
                assert_eq!(f.code(), NO_ERROR, "{f:?}");
                assert!(f.last_stream() <= 1, "{f:?}");
            }
            _ => {}
        }
    }
    assert!(ended, "the connection closed before the response ended");
    assert_same(&body, &big(), "the response in flight");
    // Nothing left: the server exits, successfully.
    let Setup { server, .. } = s;
    let pid = server.pid();
    let exit = tokio::task::spawn_blocking(move || server.wait_exit());
    let code = match tokio::time::timeout(LIMIT, exit).await {
        Ok(code) => code.unwrap(),
        Err(_) => {
            // SAFETY: the pid of the server this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("the server did not exit after its last connection ended");
        }
    };
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_with_a_goaway_after_the_server_timeout() {
    let s = Setup::with_timeout(3);
    let mut c = Conn::start(&s, &[]).await;
    c.assert_answers(1).await;
    // Nothing more is asked: after `server!timeout` the server says GOAWAY (the last naming
    // stream 1) and closes.
    let goaway = c.connection_error().await;
    assert_eq!(goaway.code(), NO_ERROR, "{goaway:?}");
    assert_eq!(goaway.last_stream(), 1, "{goaway:?}");
}

// ---------------------------------------------------------------------------------------
// 10. Authority and cookies
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_chooses_the_virtual_server() {
    let s = Setup::start();
    // One connection (SNI localhost); each request names its host in :authority.
    let c = client(&s).await;
    let got = fetch(&c, get("example.test", "/hello.txt")).await.unwrap();
    assert_eq!((got.status, &got.body[..]), (200, &b"example site\n"[..]));
    let got = fetch(&c, get("localhost", "/hello.txt")).await.unwrap();
    assert_eq!((got.status, &got.body[..]), (200, HELLO));
}

fn with_cookies(cookies: &[&str]) -> http::Request<()> {
    let mut request = get("localhost", "/hello.txt");
    for cookie in cookies {
        request
            .headers_mut()
            .append("cookie", cookie.parse().expect("cookie"));
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cookie_field_with_both_cookies_matches_the_cookie_rule() {
    let s = Setup::start();
    let c = client(&s).await;
    let got = fetch(&c, with_cookies(&["a=1; b=2"])).await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(
        got.headers.get("x-cookies").map(|v| v.to_str().unwrap()),
        Some("both")
    );
    // One cookie alone does not match.
    let got = fetch(&c, with_cookies(&["a=1"])).await.unwrap();
    assert_eq!(got.headers.get("x-cookies"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_fields_split_by_the_client_are_matched_as_one() {
    let s = Setup::start();
    let c = client(&s).await;
    // §8.2.3: a client may send each cookie in its own field; they are one `Cookie`
    // (joined with "; ") to everything past the HTTP/2 layer.
    let got = fetch(&c, with_cookies(&["a=1", "b=2"])).await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(
        got.headers.get("x-cookies").map(|v| v.to_str().unwrap()),
        Some("both"),
        "the rule did not see the two cookie fields as one"
    );
}
