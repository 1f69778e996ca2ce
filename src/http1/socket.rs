//! An accepted connection's socket, put in the event loop only once the connection has to
//! wait on it.
//!
//! Registering a socket with tokio's reactor costs an `epoll_ctl` to add it and another
//! to remove it, and a slot in the reactor's table; and a socket just registered is not
//! known to be writable yet, so its first response would wait one turn of the loop for the
//! reactor to say so. A connection that brings its request with it (clients do, and the
//! listeners' `TCP_DEFER_ACCEPT` hands a connection over only once it has) and closes
//! after the answer never has to wait: on the bare socket it is a `recv`, a `writev` and a
//! `close`, as in lighttpd. A socket is registered the first time a read or a
//! write would block; for a keep-alive connection that is when it first waits for its next
//! request, and from then on it is an ordinary tokio stream.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use tokio::net::TcpStream;

/// A connection's socket: bare until [`Socket::registered`] is first asked for.
pub struct Socket {
    /// The descriptor, for system calls on the bare socket; open for as long as `bare` or
    /// `registered` holds it.
    fd: RawFd,
    /// The socket until it is registered. (A mutex only because a connection's future
    /// must be `Send` and this is reached through shared references: one task uses it,
    /// the lock is never contended and is taken once.)
    bare: Mutex<Option<std::net::TcpStream>>,
    registered: OnceLock<TcpStream>,
    /// Registration failed, which closed the descriptor: nothing may use `fd` any more.
    lost: AtomicBool,
}

impl Socket {
    /// A non-blocking socket, not registered yet.
    pub fn new(stream: std::net::TcpStream) -> Socket {
        Socket {
            fd: stream.as_raw_fd(),
            bare: Mutex::new(Some(stream)),
            registered: OnceLock::new(),
            lost: AtomicBool::new(false),
        }
    }

    /// A socket already registered with the event loop.
    pub fn from_registered(stream: TcpStream) -> Socket {
        let fd = stream.as_raw_fd();
        let registered = OnceLock::new();
        let _ = registered.set(stream);
        Socket {
            fd,
            bare: Mutex::new(None),
            registered,
            lost: AtomicBool::new(false),
        }
    }

    /// The registered stream, if the socket has been registered.
    #[inline]
    pub fn get(&self) -> Option<&TcpStream> {
        self.registered.get()
    }

    /// The registered stream, registering the socket now if it is still bare.
    #[inline]
    pub fn registered(&self) -> io::Result<&TcpStream> {
        match self.registered.get() {
            Some(stream) => Ok(stream),
            None => self.register(),
        }
    }

    #[cold]
    fn register(&self) -> io::Result<&TcpStream> {
        let bare = self
            .bare
            .lock()
            .map_err(|_| io::Error::other("socket state poisoned"))?
            .take();
        let Some(bare) = bare else {
            return Err(lost());
        };
        match TcpStream::from_std(bare) {
            Ok(stream) => Ok(self.registered.get_or_init(|| stream)),
            Err(e) => {
                // `from_std` dropped (closed) the socket on its way out.
                self.lost.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// [`Socket::registered`], mutably (tokio's `AsyncRead` and `AsyncWrite` need it).
    #[inline]
    pub fn registered_mut(&mut self) -> io::Result<&mut TcpStream> {
        self.registered()?;
        self.registered.get_mut().ok_or_else(lost)
    }

    /// Runs `op` on the socket as a plain `std` stream (the same descriptor, not closed
    /// when `op` ends): for system calls made whether or not it is registered.
    #[inline]
    pub fn with_std<R>(
        &self,
        op: impl FnOnce(&std::net::TcpStream) -> io::Result<R>,
    ) -> io::Result<R> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(lost());
        }
        // SAFETY: `fd` is open (held by `bare` or `registered`, and not lost) for as long
        // as `self` is borrowed; `ManuallyDrop` keeps this view from closing it.
        let view = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(self.fd) });
        op(&view)
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket was closed when it could not be registered",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use tokio::io::AsyncReadExt;

    fn pair() -> (Socket, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (Socket::new(server), client)
    }

    #[tokio::test]
    async fn a_bare_socket_works_and_registers_when_asked() {
        let (mut socket, mut client) = pair();
        client.write_all(b"ping").unwrap();
        // Bare: plain system calls.
        assert!(socket.get().is_none());
        let n = socket.with_std(|s| (&*s).write(b"pong")).unwrap();
        assert_eq!(n, 4);
        let mut got = [0u8; 4];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"pong");
        // Registered on demand, then an ordinary tokio stream with the same descriptor.
        let fd = socket.as_raw_fd();
        let stream = socket.registered_mut().unwrap();
        assert_eq!(stream.as_raw_fd(), fd);
        let mut got = [0u8; 4];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        assert!(socket.get().is_some());
        // Still usable bare.
        assert_eq!(socket.with_std(|s| (&*s).write(b"x")).unwrap(), 1);
        drop(socket);
        // Closed once, by whoever held it.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"x");
    }
}
