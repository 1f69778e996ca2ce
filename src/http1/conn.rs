//! One HTTP/1.1 connection from accept to close: read a head, hand the request to the
//! pipeline, write the response, and again while the connection is kept alive; with the
//! server's lifecycle (stop, hard restart, drain deadline) watched all along.
//!
//! Between requests a connection with no bytes pending holds no buffer: it waits for
//! readability with only its socket, which keeps 10,000 idle connections cheap.

use super::body::{BodyState, Io, RequestBody, READ_CHUNK};
use super::parse::{self, Head};
use super::socket::Socket;
use super::write::{self, RequestFacts};
use crate::clock;
use crate::handlers::error_page;
use crate::lifecycle::conn_watch::{ConnWatch, Event};
use crate::lifecycle::State;
use crate::pipeline::{self, ConnInfo};
use bytes::BytesMut;
use http::{HeaderValue, Method, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// A connection's state between lifecycle events (atomics only because a connection
/// task must be `Send`; one task reads and writes them): `idle` while it waits for a request
/// with nothing buffered (a stop closes it then), `stopping` once a stop was seen (the
/// request in flight finishes, then it closes).
#[derive(Default)]
struct Flags {
    idle: AtomicBool,
    stopping: AtomicBool,
}

/// The task of one accepted connection: [`serve`]'s future made in its heap slot. The
/// future is large (752 bytes) and spawning it as it is copied it four times on its way
/// into the task (made, passed, bound to the task list, staged; callgrind: about 1,400
/// instructions of `memcpy` per connection); a box is a pointer to pass.
pub fn task(
    stream: std::net::TcpStream,
    info: Arc<ConnInfo>,
    state: Arc<State>,
) -> Pin<Box<impl Future<Output = ()> + Send>> {
    boxed(|| serve(stream, info, state))
}

/// Serves one accepted connection to its end.
///
/// The lifecycle is watched beside the connection's work for its whole life (interest
/// in its channel registered once, not per request, and looked at only when it moved);
/// each request's work is one boxed future, so that an idle connection's task holds only
/// the socket and its timer.
async fn serve(stream: std::net::TcpStream, info: Arc<ConnInfo>, state: Arc<State>) {
    let generation = state.current();
    let born = generation.id;
    let _registered = state.stats.connection(born);
    let settings = &generation.config.server;
    let mut conn = Conn {
        io: Io {
            socket: Socket::new(stream),
            buf: BytesMut::new(),
        },
        timeout: settings.timeout,
        keepalive: settings.keepalive,
        server_header: generation.server_header.clone(),
        info: info.clone(),
        state: state.clone(),
    };
    drop(generation);
    let mut life = ConnWatch::new(state.lifecycle.subscribe(), born, info);
    // A hard restart between the accept and now counts too.
    if let Some(Event::Close) = life.check() {
        return;
    }
    let flags = Flags::default();
    let work = conn.run(&flags);
    let mut work = std::pin::pin!(work);
    // Whether the channel moved since the lifecycle future was last polled: an atomic
    // load, where a poll of the future takes the channel's lock (see `poll_life`).
    let mut moved = state.lifecycle.subscribe();
    loop {
        let next = life.next();
        let mut next = std::pin::pin!(next);
        let mut registered = false;
        let event = std::future::poll_fn(|cx| {
            if work.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            poll_life(next.as_mut(), &mut registered, &mut moved, cx).map(Some)
        })
        .await;
        match event {
            None | Some(Event::Close) => return,
            Some(Event::Stop) if flags.idle.load(Ordering::Relaxed) => return,
            Some(Event::Stop) => flags.stopping.store(true, Ordering::Relaxed),
        }
    }
}

/// Polls the lifecycle future `next` only when it can have something to say: the first
/// time (which registers the task with the channel) and after the channel moved. The
/// connection's task wakes for every read and write of its requests, and polling `next`
/// on each wake cost a lock of the channel's waiter list (callgrind: about 150
/// instructions per request) to learn nothing; between changes the registration made by
/// the first poll stands, and it wakes this same task.
fn poll_life<F: Future<Output = Event>>(
    next: Pin<&mut F>,
    registered: &mut bool,
    moved: &mut watch::Receiver<crate::lifecycle::Lifecycle>,
    cx: &mut Context<'_>,
) -> Poll<Event> {
    // Closed counts as moved: `next` reports it.
    if *registered && !moved.has_changed().unwrap_or(true) {
        return Poll::Pending;
    }
    *registered = true;
    // Marked seen before `next` looks, so a change made after this is seen by the poll
    // its wake-up causes.
    moved.mark_unchanged();
    // Outside tokio's task budget: a poll that ran out of it would return without
    // registering, and nothing would poll it again until the channel moved.
    let mut next = tokio::task::unconstrained(next);
    Pin::new(&mut next).poll(cx)
}

/// One connection's own state.
struct Conn {
    io: Io,
    timeout: Duration,
    keepalive: bool,
    server_header: HeaderValue,
    info: Arc<ConnInfo>,
    state: Arc<State>,
}

/// A connection's keep-alive timer: one `Sleep` for its life, polled (which registers the
/// task to wake when it fires) only after it was set or moved. Between, a wait only looks
/// whether it has fired: the task it wakes is this connection's either way, and a poll per
/// wait cost more than the rest of the wait (about 180 instructions).
struct KeepAlive<'a> {
    timer: Pin<&'a mut Sleep>,
    /// The timer was polled since it was last set: it will wake the task.
    registered: bool,
}

impl KeepAlive<'_> {
    fn poll_fired(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if !self.registered {
            self.registered = true;
            // Outside tokio's task budget: a poll that ran out of it would return without
            // registering, and the timer would then never wake the task.
            let mut poll = tokio::task::unconstrained(self.timer.as_mut());
            return std::future::Future::poll(Pin::new(&mut poll), cx);
        }
        if self.timer.is_elapsed() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    fn move_to(&mut self, deadline: Instant) {
        self.timer.as_mut().reset(deadline);
        self.registered = false;
    }
}

/// After a request: whether the connection carries on.
enum Next {
    Continue,
    Close,
}

impl Conn {
    /// Requests one after the other until the connection closes.
    async fn run(&mut self, flags: &Flags) {
        if !matches!(self.io.read_now(), Ok(n) if n > 0) {
            self.io.buf = BytesMut::new();
        }
        // The keep-alive timer, one for the connection's life (see `idle`).
        let timer = std::pin::pin!(tokio::time::sleep(self.timeout));
        let mut keepalive = KeepAlive {
            timer,
            registered: false,
        };
        loop {
            if flags.stopping.load(Ordering::Relaxed) {
                return;
            }
            if self.io.buf.is_empty() {
                // Idle: nothing but the socket until the client speaks or the keep-alive
                // time is up.
                flags.idle.store(true, Ordering::Relaxed);
                let woke = self.idle(&mut keepalive).await;
                flags.idle.store(false, Ordering::Relaxed);
                if !woke {
                    return;
                }
            }
            // Boxed: the request's state is on the heap only while it is in flight.
            match boxed(|| self.one_request(flags)).await {
                Next::Continue => {}
                Next::Close => return,
            }
        }
    }

    /// Waits for the next request holding no buffer; true once some of it has been read.
    /// False: the keep-alive time is up, or the client closed or failed.
    ///
    /// `timer` is armed for this wait's deadline or earlier (it is never moved back), and
    /// only moved forward when it fires before the deadline: a timer armed for every wait
    /// would cost a registration and a removal in the runtime's timer wheel per request,
    /// while almost every wait ends with a request long before it fires.
    async fn idle(&mut self, timer: &mut KeepAlive<'_>) -> bool {
        let _parked = self.state.stats.park();
        // On the coarse clock: taken on every request, and a keep-alive time of seconds
        // needs no better than its milliseconds.
        let deadline = clock::coarse_monotonic() + self.timeout;
        loop {
            self.io.buf = BytesMut::new();
            // The socket's own reader slot (`poll_read_ready`), not the list of waiters
            // that `readable()` joins and leaves on each wait. A connection's first wait
            // is what puts its socket in the event loop (see `socket`).
            let Ok(stream) = self.io.socket.registered() else {
                return false;
            };
            tokio::select! {
                r = std::future::poll_fn(|cx| stream.poll_read_ready(cx)) => if r.is_err() {
                    return false;
                },
                () = std::future::poll_fn(|cx| timer.poll_fired(cx)) => {
                    let now = clock::coarse_monotonic();
                    if now >= deadline {
                        return false;
                    }
                    timer.move_to(Instant::now() + (deadline - now));
                    continue;
                }
            }
            // The readiness may be stale (bytes already taken by a read the event loop
            // did not see): a read tells, and clears it when nothing is there.
            match self.io.try_fill() {
                Ok(0) => return false,
                Ok(_) => return true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return false,
            }
        }
    }

    /// Reads one request, has the pipeline answer it, writes the answer.
    async fn one_request(&mut self, flags: &Flags) -> Next {
        // The head must be complete within the timeout, however slowly it trickles in.
        let head = match read_head(&mut self.io, self.timeout).await {
            Ok(head) => head,
            Err(Some(status)) => {
                reject(
                    &mut self.io.socket,
                    status,
                    &self.server_header,
                    self.timeout,
                )
                .await;
                return Next::Close;
            }
            Err(None) => return Next::Close,
        };
        let facts = RequestFacts {
            version: head.parts.version,
            head: head.parts.method == Method::HEAD,
        };
        let mut close = !self.keepalive || !head.keep_alive;
        let mut body_state = BodyState::new(head.framing, head.expect_continue);
        let answered = {
            let mut body = RequestBody::new(&mut self.io, &mut body_state);
            pipeline::handle(&head.parts, &mut body, &self.info, self.state.current()).await
        };
        // The drop handler: no answer.
        let Ok(answer) = answered else {
            self.info.active.store(0, Ordering::Relaxed);
            return Next::Close;
        };
        // A body left unread (too large, broken or late) leaves the
        // connection's framing unknown: it closes after the response.
        let unread = !body_state.is_complete();
        close |= answer.close || unread || flags.stopping.load(Ordering::Relaxed);
        let server = &answer.generation.server_header;
        let written = write::respond(
            &self.io.socket,
            self.timeout,
            answer.response,
            facts,
            close,
            server,
        )
        .await;
        // Written (or given up): no request of this connection is on a generation now.
        self.info.active.store(0, Ordering::Relaxed);
        drop(answer.generation);
        match written {
            Ok(true) if !flags.stopping.load(Ordering::Relaxed) => Next::Continue,
            Ok(_) => {
                if unread {
                    linger(&mut self.io.socket).await;
                }
                Next::Close
            }
            Err(e) => {
                tracing::debug!(error = %e, "response not completed; closing the connection");
                Next::Close
            }
        }
    }
}

/// Reads until a whole head is buffered. `Err(Some(status))`: answer it and close;
/// `Err(None)`: close silently (client gone, timeout).
async fn read_head(io: &mut Io, timeout: Duration) -> Result<Head, Option<StatusCode>> {
    // Taken when the first read has to wait: a keep-alive request usually arrives whole.
    let mut deadline = None;
    loop {
        if !io.buf.is_empty() {
            if let Some(head) = parse::parse(&mut io.buf).map_err(Some)? {
                return Ok(head);
            }
        }
        if io.buf.capacity() == 0 {
            io.buf.reserve(READ_CHUNK);
        }
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
        match tokio::time::timeout_at(deadline, io.fill()).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(None),
            Ok(Ok(_)) => {}
        }
    }
}

/// Answers a head that cannot be served (400, 431, 505) and closes.
async fn reject(socket: &mut Socket, status: StatusCode, server: &HeaderValue, timeout: Duration) {
    let resp = error_page::response(status, &Method::GET, server);
    let facts = RequestFacts {
        version: http::Version::HTTP_11,
        head: false,
    };
    if write::respond(socket, timeout, resp, facts, true, server)
        .await
        .is_ok()
    {
        linger(socket).await;
    }
}

/// Closing with request bytes still unread makes the kernel reset the connection, which
/// can destroy the response before the client reads it: say we are done writing, then
/// read and discard what the client still sends, for a short while.
async fn linger(socket: &mut Socket) {
    const LINGER: Duration = Duration::from_secs(2);
    const MAX_DISCARD: usize = 1 << 20;
    let Ok(stream) = socket.registered_mut() else {
        return;
    };
    let _ = stream.shutdown().await;
    let discard = async {
        // On the heap: an array here would be part of every request's future (this is
        // awaited in `one_request`), copied to the heap with it on each request.
        let mut scratch = vec![0u8; 4096];
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

/// `Box::pin(make())`, with the future made in its heap slot: the compiler elides the copy
/// this way, whereas `Box::pin(future)` copies the whole future (3 KB for a request's,
/// callgrind: about 290 instructions per request) though one that has not started holds
/// only its arguments.
fn boxed<F: std::future::Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    let slot = Box::new_uninit();
    Box::into_pin(Box::write(slot, make()))
}
