//! Connections on TLS listeners: the handshake ([`crate::tls`]), then HTTP/2 (Baton's
//! own, [`crate::http2`]) or HTTP/1.1 served by hyper ([`crate::tls_http1`]), whichever
//! ALPN agreed, each request answered by the same pipeline as on plain listeners. Why not
//! hyper for HTTP/2: see [`crate::http2`] (its cost per request, measured).
//!
//! The zero-downtime contract holds as on plain listeners: each request takes the live
//! generation when it starts and keeps it until its response body is sent; a stop lets
//! requests in flight finish (HTTP/2 clients get a GOAWAY, which they retry by protocol;
//! an idle HTTP/1.1 connection closes); a hard restart or a drain deadline closes at once.
//! While the process hands over to a new binary, HTTP/1.1 responses say
//! `Connection: close` and HTTP/2 connections get a GOAWAY: neither closes under a
//! request the client may already have sent.

use crate::in_flight::Streams;
use crate::lifecycle::conn_watch::{ConnWatch, Event};
use crate::lifecycle::State;
use crate::pipeline::ConnInfo;
use crate::tls_http1::Service;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often an HTTP/2 connection looks whether it has been idle for the server's
/// timeout, or should say GOAWAY because the process hands over.
const HTTP2_CHECK: Duration = Duration::from_secs(1);

/// The task of a connection accepted on a TLS listener.
pub fn task(
    stream: std::net::TcpStream,
    info: Arc<ConnInfo>,
    state: Arc<State>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(serve(stream, info, state))
}

async fn serve(stream: std::net::TcpStream, info: Arc<ConnInfo>, state: Arc<State>) {
    let generation = state.current();
    let born = generation.id;
    let _registered = state.stats.connection(born);
    let timeout = generation.config.server.timeout;
    let keepalive = generation.config.server.keepalive;
    let mut life = ConnWatch::new(state.lifecycle.subscribe(), born, info.clone());
    if life.check().is_some() {
        // Stopping or restarted hard since the accept: nothing was asked yet.
        return;
    }
    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
        return;
    };
    let handshake = crate::tls::handshake(stream, &generation, &info);
    let tls = tokio::select! {
        done = tokio::time::timeout(timeout, handshake) => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(remote = %info.remote, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        },
        // No request is in flight during a handshake: any event closes.
        _ = life.next() => return,
    };
    drop(generation);
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let streams = Arc::new(Streams::default());
    if h2 {
        let conn = crate::http2::Connection::new(tls, info.clone(), state, streams.clone());
        drive(conn, life, Some((streams, timeout)), &info).await;
    } else {
        let service = Service {
            info: info.clone(),
            state,
            streams,
        };
        // The header read timeout also runs while a kept-alive connection waits for its
        // next request: it is the keep-alive timeout. (hyper's HTTP/1 writes a response's
        // head and small body as one buffer already.)
        let io = TokioIo::new(tls);
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .keep_alive(keepalive)
            .header_read_timeout(timeout)
            .serve_connection(io, service);
        drive(conn, life, None, &info).await;
    }
}

/// A connection, which can be asked to end gracefully.
trait Graceful: Future<Output = Result<(), Self::Error>> {
    type Error: std::fmt::Display;
    fn shut(self: Pin<&mut Self>);
    /// A count that moves whenever the connection reads or writes (`None`: not tracked).
    fn activity(&self) -> Option<u64> {
        None
    }
}

/// What hyper reads and writes: the TLS stream.
type Tls = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

impl Graceful for http1::Connection<TokioIo<Tls>, Service> {
    type Error = hyper::Error;
    fn shut(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl Graceful for crate::http2::Connection<Tls> {
    type Error = std::io::Error;
    fn shut(self: Pin<&mut Self>) {
        self.get_mut().shut();
    }
    fn activity(&self) -> Option<u64> {
        Some(self.bytes_moved())
    }
}

/// Runs `conn` to its end with the lifecycle watched. `idle`: for HTTP/2, its streams and
/// the server's timeout, after which a connection without a stream is closed (GOAWAY).
async fn drive(
    conn: impl Graceful,
    mut life: ConnWatch,
    idle: Option<(Arc<Streams>, Duration)>,
    info: &ConnInfo,
) {
    let mut conn = std::pin::pin!(conn);
    let mut check = tokio::time::interval(HTTP2_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shut = false;
    // An HTTP/2 connection closed for being idle ends once the client has acknowledged the
    // GOAWAY; one that never does is closed after another timeout.
    let mut give_up = None;
    let (mut last_activity, mut still_for) = (conn.activity(), Duration::ZERO);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(remote = %info.remote, error = %e, "connection ended");
                }
                return;
            }
            event = life.next() => match event {
                Event::Close => return,
                Event::Stop => {
                    conn.as_mut().shut();
                    shut = true;
                }
            },
            _ = check.tick(), if idle.is_some() => {
                let Some((streams, timeout)) = &idle else { continue };
                // Streams open but not a byte read or written for the timeout: a client
                // that stopped reading, or keeps its windows shut. Closed, or it would
                // hold its streams (and a stop) forever.
                let activity = conn.activity();
                if activity == last_activity {
                    still_for += HTTP2_CHECK;
                    if still_for >= *timeout && streams.idle_for().is_zero() {
                        tracing::debug!(remote = %info.remote, "HTTP/2 connection stalled");
                        return;
                    }
                } else {
                    (last_activity, still_for) = (activity, Duration::ZERO);
                }
                if shut {
                    continue;
                }
                let handing_over = info.draining.load(Ordering::Relaxed);
                let idle = streams.idle_for() >= *timeout;
                if handing_over || idle {
                    conn.as_mut().shut();
                    shut = true;
                    // A stream still open when handing over runs to its end (or to the
                    // drain deadline).
                    if idle {
                        give_up = Some(Instant::now() + *timeout);
                    }
                }
            }
            () = async { tokio::time::sleep_until(give_up.unwrap_or_else(Instant::now)).await },
                if give_up.is_some() => return,
        }
    }
}
