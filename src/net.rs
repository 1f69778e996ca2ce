//! Listening sockets and the accept loop.
//!
//! Listeners know nothing of generations: a connection takes whatever generation is live
//! for each request it carries (see `pipeline`), so a reload changes answers without
//! touching sockets. Each accepted connection is served by `http1::conn`.

use crate::config::Bind;
use crate::lifecycle::State;
use crate::pipeline::ConnInfo;
use socket2::{Domain, Socket, Type};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

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
            tune(&socket);
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

/// Options set on a listening socket for the connections it accepts:
///
/// - `TCP_NODELAY`, inherited by accepted connections (Linux), which saves a system call
///   per connection: responses go out whole, nothing waits behind Nagle;
/// - `TCP_DEFER_ACCEPT`: a connection is handed over once its first bytes (the request)
///   have arrived, so its task reads the request at once instead of waiting for the
///   event loop to report it (measured: about 10% more connections per CPU-second with
///   one request each). A client that connects and stays silent is accepted after the
///   deferral all the same.
///
/// Failures are ignored: both are optimisations.
fn tune(socket: &impl std::os::fd::AsRawFd) {
    let socket = socket.as_raw_fd();
    let on: libc::c_int = 1;
    let defer_secs: libc::c_int = 1;
    for (level, name, value) in [
        (libc::IPPROTO_TCP, libc::TCP_NODELAY, &on),
        (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, &defer_secs),
    ] {
        // SAFETY: setsockopt on an open socket with a pointer to an int and its size.
        unsafe {
            libc::setsockopt(
                socket,
                level,
                name,
                (value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

fn listen(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    tune(&socket);
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
                // A listener on one address knows the local address of what it accepts
                // (no `getsockname` per connection); one on every interface asks.
                let local = if listener.addr.ip().is_unspecified() {
                    stream.local_addr().unwrap_or(listener.addr)
                } else {
                    listener.addr
                };
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
                let task = crate::http1::conn::serve(stream, info, state.clone());
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
