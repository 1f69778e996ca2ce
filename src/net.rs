//! Listening sockets and the accept loop.
//!
//! Listeners know nothing of generations: a connection takes whatever generation is live
//! for each request it carries (see `pipeline`), so a reload changes answers without
//! touching sockets. Each accepted connection is served by `http1::conn`, or on a TLS
//! listener by `tls_conn`.

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
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::watch;

/// A listening socket registered with the event loop. Not tokio's `TcpListener`, whose
/// `accept` registers every connection it accepts: Baton's connections are registered
/// only when they first wait (`http1::socket`).
pub type ListenSocket = AsyncFd<std::net::TcpListener>;

/// A bound listening socket and the `server!bind!N` it implements.
pub struct Listener {
    pub bind: Bind,
    pub socket: ListenSocket,
    pub addr: SocketAddr,
}

/// Registers a non-blocking listening socket with the event loop.
fn register(socket: std::net::TcpListener) -> io::Result<ListenSocket> {
    // SAFETY: the listener owns its descriptor for as long as the `AsyncFd` holds it, and
    // `as_raw_fd` always returns that same one.
    unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// The next connection, non-blocking, and its peer's address.
async fn accept(listener: &ListenSocket) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    loop {
        let mut ready = listener.readable().await?;
        let accepted = ready.try_io(|socket| {
            // `accept4` with the flags, rather than std's accept and an `fcntl` after it.
            let (stream, peer) = socket2::SockRef::from(socket.get_ref())
                .accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
            let peer = peer
                .as_socket()
                .ok_or_else(|| io::Error::other("accepted a connection that is not TCP/IP"))?;
            Ok((std::net::TcpStream::from(stream), peer))
        });
        if let Ok(result) = accepted {
            return result;
        }
    }
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
            let socket = register(socket)?;
            let addr = socket.get_ref().local_addr()?;
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
        let addr = socket.get_ref().local_addr()?;
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

fn bind_one(b: &Bind, backlog: u32, ipv6: bool) -> io::Result<ListenSocket> {
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

/// Bytes a connection may have queued but not yet sent before it stops taking more (see
/// [`tune`]). 16 KiB is what large HTTP deployments use for the same purpose; measured
/// here, anything from 4 to 32 KiB does as well, 64 KiB (one loopback segment) and above
/// loses most of the gain.
const NOTSENT_LOWAT: u32 = 16 << 10;

/// Options set on a listening socket for the connections it accepts:
///
/// - `TCP_NODELAY`, inherited by accepted connections (Linux), which saves a system call
///   per connection: responses go out whole, nothing waits behind Nagle;
/// - `TCP_DEFER_ACCEPT`: a connection is handed over once its first bytes (the request)
///   have arrived, so its task reads the request at once instead of waiting for the
///   event loop to report it (measured: about 10% more connections per CPU-second with
///   one request each). A client that connects and stays silent is accepted after the
///   deferral all the same;
/// - `TCP_NOTSENT_LOWAT` ([`NOTSENT_LOWAT`]), also inherited: a socket counts as
///   writable, and takes more bytes, only while less than that is queued and not yet
///   sent. A download is then fed as the network takes it, instead of megabytes of it
///   waiting in the kernel's send buffer: each `sendfile` call hands over bytes that
///   leave at once, in the server's own system call, rather than later from the
///   processing of the client's acknowledgements. Measured on loopback with 8 clients of
///   a 10 MiB file: about 3x the requests per server CPU-second and 2.2x the requests
///   per second (the client's core, which had been doing the server's transmissions, is
///   freed). Small responses are below the mark and unaffected; a client that stops
///   reading still holds only what is in flight plus this much.
///
/// Failures are ignored: these are optimisations.
fn tune(socket: &impl std::os::fd::AsRawFd) {
    let socket = socket.as_raw_fd();
    let on: libc::c_int = 1;
    let defer_secs: libc::c_int = 1;
    let lowat = NOTSENT_LOWAT as libc::c_int;
    for (level, name, value) in [
        (libc::IPPROTO_TCP, libc::TCP_NODELAY, &on),
        (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, &defer_secs),
        (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, &lowat),
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

fn listen(addr: SocketAddr, backlog: u32) -> io::Result<ListenSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    tune(&socket);
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    register(socket.into())
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
            r = accept(&listener.socket) => r,
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
                let bind = bind_id.load(Ordering::Relaxed);
                let info = Arc::new(ConnInfo::new(remote, local, bind, tls, &state));
                if tls {
                    let task = crate::tls_conn::task(stream, info, state.clone());
                    state.connections.spawn(task);
                } else {
                    let task = crate::http1::conn::task(stream, info, state.clone());
                    state.connections.spawn(task);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    fn int_option(socket: &impl AsRawFd, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt on an open socket into an int and its size.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
        value
    }

    /// The options are set once on the listener; what matters is that every accepted
    /// connection has them without a system call of its own.
    #[tokio::test]
    async fn accepted_connections_inherit_nodelay_and_notsent_lowat() {
        let listener = listen("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        // TCP_DEFER_ACCEPT: the connection is handed over once it has sent something.
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let (accepted, _) = accept(&listener).await.unwrap();
        assert_eq!(int_option(&accepted, libc::TCP_NODELAY), 1);
        assert_eq!(
            int_option(&accepted, libc::TCP_NOTSENT_LOWAT),
            NOTSENT_LOWAT as libc::c_int
        );
    }
}
