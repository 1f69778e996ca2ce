//! The write timeout (`server!timeout` while a response is written, as nginx's
//! `send_timeout`): a response whose peer takes nothing for that long is abandoned, so a
//! client that stopped reading, or vanished without a FIN or RST, does not keep its
//! connection and task forever.
//!
//! Progress, not duration: a slow but steady download is never cut. Progress is a write
//! the socket accepts, or — while the send buffer is full — bytes the peer acknowledges.
//! The second matters because the kernel reports a full socket writable again only once
//! enough has drained (a good part of its buffer, up to megabytes; on Baton's listeners,
//! with `TCP_NOTSENT_LOWAT`, until less than 16 KiB is unsent), which a slow reader can
//! take longer than the timeout to allow while it reads all along.
//!
//! The fast path (the socket takes the bytes) reads no clock and arms no timer.

use super::socket::Socket;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::Interest;
use tokio::time::Instant;

/// A connection's socket while a response is written to it.
pub struct Out<'a> {
    socket: &'a Socket,
    timeout: Duration,
    /// Since when, and with how many bytes still unacknowledged, writes have been
    /// waiting; `None` while they go through.
    stall: Option<Stall>,
}

#[derive(Clone, Copy)]
struct Stall {
    since: Instant,
    unacked: Option<u32>,
}

impl<'a> Out<'a> {
    pub fn new(socket: &'a Socket, timeout: Duration) -> Out<'a> {
        Out {
            socket,
            timeout,
            stall: None,
        }
    }

    /// Runs the non-blocking write `op` on the socket until the socket takes something,
    /// waiting for writability in between. Fails with `TimedOut` after the write timeout
    /// without progress. `Ok(0)` is passed on (the caller knows what it means).
    ///
    /// A socket not yet registered is written at once (see [`Socket`]): it is registered
    /// only if the write would block. A registered one goes through the event loop's
    /// readiness (no system call while it is known not to be writable).
    pub async fn write_with(
        &mut self,
        mut op: impl FnMut(&std::net::TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let socket = self.socket;
        let stream = match socket.get() {
            Some(stream) => stream,
            None => match socket.with_std(&mut op) {
                Ok(n) => return Ok(self.progressed(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.registered()?,
                Err(e) => return Err(e),
            },
        };
        loop {
            let attempt = stream.try_io(Interest::WRITABLE, || socket.with_std(&mut op));
            match attempt {
                Ok(n) => return Ok(self.progressed(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable(stream).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Notes that a write took `n` bytes, and passes `n` on.
    fn progressed(&mut self, n: usize) -> usize {
        if n > 0 {
            self.stall = None;
        }
        n
    }

    /// [`Out::write_with`] for a write that must take something: a socket that takes
    /// nothing is `WriteZero`.
    pub async fn write_some(
        &mut self,
        op: impl FnMut(&std::net::TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        match self.write_with(op).await? {
            0 => Err(io::ErrorKind::WriteZero.into()),
            n => Ok(n),
        }
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = self.write_some(|mut s| s.write(bytes)).await?;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// One `writev`: how many bytes of `slices` the socket took (at least one).
    pub async fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_some(|mut s| s.write_vectored(slices)).await
    }

    /// One `sendmsg` with `MSG_MORE`, for the last bytes a connection sends before it
    /// closes: the kernel holds back a final partial segment, and [`Out::end`] sends it
    /// with the FIN (one packet where there were two: the data, then the FIN).
    pub async fn write_vectored_last(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_some(|s| {
            socket2::SockRef::from(s)
                .send_vectored_with_flags(slices, libc::MSG_MORE | libc::MSG_NOSIGNAL)
        })
        .await
    }

    /// Ends the connection's sending side: the FIN goes out, with what
    /// [`Out::write_vectored_last`] held back. Said before the socket is closed rather than
    /// left to `close`, which would reset the connection instead, dropping the held bytes,
    /// if the client sent anything more meanwhile.
    pub fn end(&mut self) -> io::Result<()> {
        self.socket
            .with_std(|s| s.shutdown(std::net::Shutdown::Write))
    }

    /// Waits until the socket can take more, or fails once the peer has made no progress
    /// for the write timeout.
    async fn writable(&mut self, stream: &tokio::net::TcpStream) -> io::Result<()> {
        loop {
            let stall = match self.stall {
                Some(stall) => stall,
                None => *self.stall.insert(Stall {
                    since: Instant::now(),
                    unacked: self.unacked(),
                }),
            };
            let deadline = stall.since + self.timeout;
            if let Ok(ready) = tokio::time::timeout_at(deadline, stream.writable()).await {
                return ready;
            }
            let unacked = self.unacked();
            let moved = matches!((stall.unacked, unacked), (Some(a), Some(b)) if b < a);
            if !moved {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client took nothing for {:?} (write timeout)",
                        self.timeout
                    ),
                ));
            }
            // The peer is reading, slowly: wait again from now.
            self.stall = Some(Stall {
                since: Instant::now(),
                unacked,
            });
        }
    }

    /// Bytes in the socket's send queue not yet acknowledged by the peer (`SIOCOUTQ`);
    /// `None` if the kernel does not say.
    fn unacked(&self) -> Option<u32> {
        let mut queued: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int through the pointer, which is valid;
        // the socket is open for the borrow's duration.
        let r = unsafe { libc::ioctl(self.socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        if r < 0 {
            return None;
        }
        u32::try_from(queued).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    /// A connected pair whose client side receives into a small buffer, so that the
    /// server's writes soon wait; the server's socket registered with the event loop or
    /// still bare.
    async fn pair(registered: bool) -> (Socket, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        let client = socket.connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let server = if registered {
            Socket::from_registered(server)
        } else {
            Socket::new(server.into_std().unwrap())
        };
        (server, client)
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_reads_nothing_times_the_write_out() {
        for registered in [true, false] {
            let (server, _client) = pair(registered).await;
            let mut out = Out::new(&server, Duration::from_secs(5));
            let data = vec![7u8; 8 << 20];
            let err = out.write_all(&data).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            // The bare one was registered when its writes had to wait.
            assert!(server.get().is_some());
        }
    }

    #[tokio::test]
    async fn a_bare_socket_is_written_without_registering() {
        use tokio::io::AsyncReadExt;
        let (server, mut client) = pair(false).await;
        let mut out = Out::new(&server, Duration::from_secs(5));
        out.write_all(b"hello").await.unwrap();
        assert!(server.get().is_none());
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }

    /// The bytes held back with `MSG_MORE` go out when the connection's sending side ends,
    /// followed by the end of the stream, on a bare socket and on a registered one. (The
    /// client's read would wait for ever for held bytes nothing pushed.)
    #[tokio::test]
    async fn the_last_bytes_go_out_with_the_end() {
        use tokio::io::AsyncReadExt;
        for registered in [true, false] {
            let (server, mut client) = pair(registered).await;
            let mut out = Out::new(&server, Duration::from_secs(5));
            let head = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n";
            let all = [&head[..], b"abc"].concat();
            let mut sent = 0;
            while sent < all.len() {
                sent += out
                    .write_vectored_last(&[IoSlice::new(&all[sent..])])
                    .await
                    .unwrap();
            }
            out.end().unwrap();
            let mut got = Vec::new();
            tokio::time::timeout(Duration::from_secs(30), client.read_to_end(&mut got))
                .await
                .expect("the held bytes and the end of the stream")
                .unwrap();
            assert_eq!(got, [&head[..], b"abc"].concat());
        }
    }
}
