//! One HTTP/1.1 connection from accept to close: read a head, hand the request to the
//! pipeline, write the response, and again while the connection is kept alive; with the
//! server's lifecycle (stop, hard restart, drain deadline) watched all along.
//!
//! Between requests a connection with no bytes pending holds no buffer: it waits for
//! readability with only its socket, which keeps 10,000 idle connections cheap.

use super::body::{BodyState, Io, RequestBody, READ_CHUNK};
use super::parse::{self, Head};
use super::write::{self, RequestFacts};
use crate::handlers::error_page;
use crate::lifecycle::State;
use crate::pipeline::{self, ConnInfo};
use bytes::BytesMut;
use http::{header, HeaderValue, Method, Request, StatusCode};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// The lifecycle channels a connection watches.
struct Lifecycle {
    stop: watch::Receiver<bool>,
    hard: watch::Receiver<u64>,
    drain: watch::Receiver<u64>,
    /// The generation live when the connection was accepted: a hard restart to a newer
    /// one closes it.
    born: u64,
    info: Arc<ConnInfo>,
    /// A stop was seen: the request in flight finishes, then the connection closes.
    stopping: bool,
}

/// What the lifecycle asks of a connection.
enum Event {
    /// Close at once, whatever the connection is doing (hard restart, drain deadline).
    Close,
    /// The server stops: finish the request in flight, then close.
    Stop,
}

impl Lifecycle {
    async fn next(&mut self) -> Event {
        loop {
            tokio::select! {
                changed = self.hard.changed() => {
                    if changed.is_err() || *self.hard.borrow() > self.born {
                        return Event::Close;
                    }
                }
                changed = self.drain.changed() => {
                    // Drain deadline: the request still on an old generation is cut.
                    let active = self.info.active.load(Ordering::Relaxed);
                    if changed.is_err() || (active != 0 && active < *self.drain.borrow()) {
                        return Event::Close;
                    }
                }
                _ = self.stop.changed(), if !self.stopping => {
                    self.stopping = true;
                    return Event::Stop;
                }
            }
        }
    }

    /// Runs `work` to its end unless the lifecycle says to close first (`None` then).
    async fn run<F: Future>(&mut self, work: F) -> Option<F::Output> {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Some(out),
                event = self.next() => match event {
                    Event::Close => return None,
                    Event::Stop => continue,
                },
            }
        }
    }
}

/// Serves one accepted connection to its end.
pub async fn serve(stream: TcpStream, info: Arc<ConnInfo>, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let mut life = Lifecycle {
        stop: state.shutdown.subscribe(),
        hard: state.hard_close.subscribe(),
        drain: state.drain_close.subscribe(),
        born: 0,
        info: info.clone(),
        stopping: false,
    };
    let generation = state.current();
    life.born = generation.id;
    let _registered = state.stats.connection(life.born);
    let settings = &generation.config.server;
    let timeout = settings.timeout;
    let keepalive = settings.keepalive;
    let server_header = generation.server_header.clone();
    drop(generation);
    let mut io = Io {
        stream,
        buf: BytesMut::new(),
    };

    loop {
        if io.buf.is_empty() {
            // Idle: nothing but the socket until the client speaks, the keep-alive time
            // is up, or the server stops.
            io.buf = BytesMut::new();
            if life.stopping || *life.stop.borrow() {
                return;
            }
            let _parked = state.stats.park();
            let woke = tokio::select! {
                r = io.stream.readable() => r.is_ok(),
                _ = tokio::time::sleep(timeout) => false,
                event = life.next() => match event {
                    Event::Close | Event::Stop => false,
                },
            };
            if !woke {
                return;
            }
        }

        // The head must be complete within the timeout, however slowly it trickles in.
        let head = match life.run(read_head(&mut io, timeout)).await {
            Some(Ok(head)) => head,
            Some(Err(Some(status))) => {
                reject(&mut io.stream, status, &server_header).await;
                return;
            }
            Some(Err(None)) | None => return,
        };

        let facts = RequestFacts {
            version: head.parts.version,
            head: head.parts.method == Method::HEAD,
        };
        let mut close = !keepalive || !head.keep_alive;
        let mut body_state = BodyState::new(head.framing, head.expect_continue);
        let answered = {
            let req = Request::from_parts(head.parts, RequestBody::new(&mut io, &mut body_state));
            // Boxed: the pipeline's state lives on the heap only while a request is in
            // flight, so an idle connection's task stays small.
            let handling = Box::pin(pipeline::handle(req, info.clone(), state.current()));
            life.run(handling).await
        };
        let resp = match answered {
            Some(Ok(resp)) => resp,
            // Drop handler, hard restart or drain deadline: no answer.
            Some(Err(pipeline::DropConnection)) | None => return,
        };
        // A body left unread (too large, or never invited with 100 Continue) leaves the
        // connection's framing unknown: it closes after the response.
        let unread = !body_state.is_complete();
        close |= unread || life.stopping;
        let written = life
            .run(write::respond(&mut io.stream, resp, facts, close))
            .await;
        match written {
            Some(Ok(true)) if !life.stopping => {}
            Some(Ok(_)) => {
                if unread {
                    linger(&mut io.stream).await;
                }
                return;
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response not completed; closing the connection");
                return;
            }
            None => return,
        }
    }
}

/// Reads until a whole head is buffered. `Err(Some(status))`: answer it and close;
/// `Err(None)`: close silently (client gone, timeout).
async fn read_head(io: &mut Io, timeout: Duration) -> Result<Head, Option<StatusCode>> {
    let deadline = Instant::now() + timeout;
    loop {
        if !io.buf.is_empty() {
            if let Some(head) = parse::parse(&mut io.buf).map_err(Some)? {
                return Ok(head);
            }
        }
        if io.buf.capacity() == 0 {
            io.buf.reserve(READ_CHUNK);
        }
        match tokio::time::timeout_at(deadline, io.fill()).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(None),
            Ok(Ok(_)) => {}
        }
    }
}

/// Answers a head that cannot be served (400, 431, 505) and closes.
async fn reject(stream: &mut TcpStream, status: StatusCode, server: &HeaderValue) {
    let mut resp = error_page::response(status, &Method::GET, server);
    resp.headers_mut().insert(header::SERVER, server.clone());
    let facts = RequestFacts {
        version: http::Version::HTTP_11,
        head: false,
    };
    if write::respond(stream, resp, facts, true).await.is_ok() {
        linger(stream).await;
    }
}

/// Closing with request bytes still unread makes the kernel reset the connection, which
/// can destroy the response before the client reads it: say we are done writing, then
/// read and discard what the client still sends, for a short while.
async fn linger(stream: &mut TcpStream) {
    const LINGER: Duration = Duration::from_secs(2);
    const MAX_DISCARD: usize = 1 << 20;
    let _ = stream.shutdown().await;
    let discard = async {
        let mut scratch = [0u8; 4096];
        let mut total = 0;
        while total < MAX_DISCARD {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, discard).await;
}
