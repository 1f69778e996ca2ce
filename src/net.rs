//! Listening sockets and the accept loop.
//!
//! Listeners know nothing of generations: a connection takes whatever generation is live
//! for each request it carries (see `pipeline`), so a reload changes answers without
//! touching sockets.

use crate::config::Bind;
use crate::http::first_line::{self, Prefixed, Verdict};
use crate::lifecycle::State;
use crate::pipeline::{self, ConnInfo};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Socket, Type};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a kept-alive connection stays idle before its HTTP state (hyper's buffers) is
/// dropped and only the socket is kept: 10,000 idle connections then cost little more
/// than their sockets. Short, so a crowd of connections that each made one request never
/// holds buffers for long; long enough that a busy connection (checked this often) is
/// never parked between its requests.
const PARK_AFTER: Duration = Duration::from_millis(250);

/// A bound listening socket and the `server!bind!N` it implements.
pub struct Listener {
    pub bind: Bind,
    pub socket: TcpListener,
    pub addr: SocketAddr,
}

/// Listening sockets received from a previous process (binary upgrade) or from systemd,
/// by configured address (`None` interface: every interface).
#[derive(Default)]
pub struct Inherited(HashMap<(Option<IpAddr>, u16), std::net::TcpListener>);

impl Inherited {
    pub fn insert(&mut self, key: (Option<IpAddr>, u16), socket: std::net::TcpListener) {
        self.0.insert(key, socket);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn take(&mut self, b: &Bind) -> Option<std::net::TcpListener> {
        self.0.remove(&(b.interface, b.port))
    }
}

/// Binds every listener (using an inherited socket for its address when there is one), or
/// fails naming the first address that could not be bound (nothing stays bound then).
pub fn bind_all(
    binds: &[Bind],
    backlog: u32,
    ipv6: bool,
    inherited: &mut Inherited,
) -> io::Result<Vec<Listener>> {
    let mut out = Vec::with_capacity(binds.len());
    for b in binds {
        if let Some(socket) = inherited.take(b) {
            socket.set_nonblocking(true)?;
            let socket = TcpListener::from_std(socket)?;
            let addr = socket.local_addr()?;
            out.push(Listener {
                bind: b.clone(),
                socket,
                addr,
            });
            continue;
        }
        let socket = bind_one(b, backlog, ipv6).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot listen on {} (server!bind!{}): {e}",
                    describe(b),
                    b.id
                ),
            )
        })?;
        let addr = socket.local_addr()?;
        out.push(Listener {
            bind: b.clone(),
            socket,
            addr,
        });
    }
    Ok(out)
}

fn describe(b: &Bind) -> String {
    match b.interface {
        Some(ip) => SocketAddr::new(ip, b.port).to_string(),
        None => format!("port {}", b.port),
    }
}

fn bind_one(b: &Bind, backlog: u32, ipv6: bool) -> io::Result<TcpListener> {
    let addr = match b.interface {
        Some(ip) => SocketAddr::new(ip, b.port),
        None if ipv6 => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), b.port),
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), b.port),
    };
    match listen(addr, backlog) {
        Ok(l) => Ok(l),
        // No IPv6 on this machine: every interface means every IPv4 interface.
        Err(_) if b.interface.is_none() && ipv6 => listen(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), b.port),
            backlog,
        ),
        Err(e) => Err(e),
    }
}

fn listen(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections until `stop` turns true, serving each in its own task. Stopping a
/// listener does not touch the connections it accepted: they are served to their end.
/// `bind_id` is shared so that a reload renumbering `server!bind!N` updates it in place.
pub async fn accept_loop(
    listener: Listener,
    bind_id: Arc<AtomicU64>,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) {
    let tls = listener.bind.tls;
    loop {
        let accepted = tokio::select! {
            r = listener.socket.accept() => r,
            _ = stop.changed() => break,
        };
        match accepted {
            Ok((stream, remote)) => {
                let local = stream.local_addr().unwrap_or(listener.addr);
                let info = Arc::new(ConnInfo {
                    remote,
                    local,
                    bind_id: bind_id.load(Ordering::Relaxed),
                    tls,
                    requests: AtomicU64::new(0),
                    active: AtomicU64::new(0),
                    stats: state.stats.clone(),
                    draining: state.draining.clone(),
                });
                let task = serve_connection(stream, info, state.clone());
                state.connections.spawn(task);
            }
            Err(e) => {
                // Out of file descriptors or a similar transient failure: back off a
                // little instead of spinning, and keep listening.
                tracing::error!(listener = %listener.addr, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(mut stream: TcpStream, info: Arc<ConnInfo>, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let mut stop = state.shutdown.subscribe();
    let mut hard = state.hard_close.subscribe();
    let mut drain = state.drain_close.subscribe();
    let generation = state.current();
    // The generation live when the connection was accepted: a hard restart to a newer one
    // closes it.
    let born = generation.id;
    let _registered = state.stats.connection(born);
    let settings = &generation.config.server;
    let timeout = settings.timeout;
    let keepalive = settings.keepalive;
    let server_header = generation.server_header.clone();
    drop(generation);

    // A connection that has not sent its first line yet is idle: a stop or a hard
    // restart closes it at once.
    let first = tokio::select! {
        r = tokio::time::timeout(timeout, first_line::read_first_line(&mut stream)) => r,
        _ = stop.changed() => return,
        _ = hard.changed() => return,
    };
    let (buf, verdict) = match first {
        Ok(Ok(r)) => r,
        Ok(Err(_)) | Err(_) => return,
    };
    if buf.is_empty() {
        return;
    }
    if verdict == Verdict::UnsupportedVersion {
        let body = "<!DOCTYPE html>\n<html><head><title>505 HTTP Version Not Supported</title></head><body><h1>505 HTTP Version Not Supported</h1><p>This server speaks HTTP/1.0 and HTTP/1.1.</p></body></html>\n";
        let head = format!(
            "HTTP/1.1 505 HTTP Version Not Supported\r\nServer: {}\r\nDate: {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            server_header.to_str().unwrap_or("Baton"),
            httpdate::fmt_http_date(std::time::SystemTime::now()),
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }

    let svc_state = state.clone();
    let svc_info = info.clone();
    let service = service_fn(move |req| {
        let generation = svc_state.current();
        // Boxed so the connection can be polled without being shut down (parking).
        Box::pin(pipeline::handle(req, svc_info.clone(), generation))
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(keepalive)
        .header_read_timeout(timeout);
    let mut prefix = buf.freeze();
    // Cleared when a park finds half a request: hyper then keeps the connection until the
    // head is complete or its header timeout passes (parking again would restart that
    // timeout, and a client trickling bytes could hold the connection forever).
    let mut may_park = true;
    loop {
        let io = TokioIo::new(Prefixed::new(prefix, stream));
        // Boxed: the connection's state lives on the heap only while hyper has it, so a
        // parked connection's task is small.
        let mut conn = Box::new(builder.serve_connection(io, service.clone()));
        let mut parking = false;
        let mut seen = info.requests.load(Ordering::Relaxed);
        let ended = loop {
            tokio::select! {
                res = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break res,
                _ = tokio::time::sleep(PARK_AFTER), if !parking => {
                    // Idle for a whole period: hand the socket back from hyper, which
                    // frees its buffers, and wait for the next request with none.
                    let now = info.requests.load(Ordering::Relaxed);
                    if now != seen {
                        may_park = true;
                    } else if may_park && info.active.load(Ordering::Relaxed) == 0 {
                        parking = true;
                        std::pin::Pin::new(conn.as_mut()).graceful_shutdown();
                    }
                    seen = now;
                }
                changed = drain.changed() => {
                    let active = info.active.load(Ordering::Relaxed);
                    if changed.is_err() || (active != 0 && active < *drain.borrow()) {
                        // Drain deadline: the request still on an old generation is cut.
                        return;
                    }
                }
                changed = hard.changed() => {
                    if changed.is_err() || *hard.borrow() > born {
                        // Hard restart: dropping the connection closes the socket at
                        // once, whatever it was doing.
                        return;
                    }
                }
                _ = stop.changed() => {
                    // Stopping: the request in flight finishes; an idle connection closes.
                    std::pin::Pin::new(conn.as_mut()).graceful_shutdown();
                    let _ = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)).await;
                    return;
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, "connection ended with an error");
            return;
        }
        let parts = (*conn).into_parts();
        let (rest, mut socket) = parts.io.into_inner().into_parts();
        if !parking {
            // hyper finished the connection (close requested, or the client left).
            let _ = socket.shutdown().await;
            return;
        }
        // Bytes hyper had read come before the ones it had not taken yet.
        prefix = if parts.read_buf.is_empty() {
            rest
        } else if rest.is_empty() {
            parts.read_buf
        } else {
            let mut joined = bytes::BytesMut::with_capacity(parts.read_buf.len() + rest.len());
            joined.extend_from_slice(&parts.read_buf);
            joined.extend_from_slice(&rest);
            joined.freeze()
        };
        if !prefix.is_empty() {
            may_park = false;
        }
        if prefix.is_empty() {
            // Parked: nothing but the socket until the client speaks again or the
            // keep-alive time is up.
            let idle_limit = timeout.saturating_sub(PARK_AFTER);
            let _parked = state.stats.park();
            tokio::select! {
                r = socket.readable() => {
                    if r.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(idle_limit) => return,
                changed = hard.changed() => {
                    if changed.is_err() || *hard.borrow() > born {
                        return;
                    }
                }
                _ = stop.changed() => return,
            }
        }
        stream = socket;
    }
}
