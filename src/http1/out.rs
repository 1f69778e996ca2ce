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

use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A connection's socket while a response is written to it.
pub struct Out<'a> {
    stream: &'a TcpStream,
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
    pub fn new(stream: &'a TcpStream, timeout: Duration) -> Out<'a> {
        Out {
            stream,
            timeout,
            stall: None,
        }
    }

    /// Runs the non-blocking write `op` (which reports `WouldBlock` through the stream's
    /// readiness, as `try_write` and `try_io` do) until the socket takes something,
    /// waiting for writability in between. Fails with `TimedOut` after the write timeout
    /// without progress. `Ok(0)` is passed on (the caller knows what it means).
    pub async fn write_with(
        &mut self,
        mut op: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        loop {
            match op(self.stream) {
                Ok(n) => {
                    if n > 0 {
                        self.stall = None;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = self.write_with(|s| s.try_write(bytes)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// One `writev`: how many bytes of `slices` the socket took (at least one).
    pub async fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let n = self.write_with(|s| s.try_write_vectored(slices)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        Ok(n)
    }

    /// Waits until the socket can take more, or fails once the peer has made no progress
    /// for the write timeout.
    async fn writable(&mut self) -> io::Result<()> {
        loop {
            let stall = match self.stall {
                Some(stall) => stall,
                None => *self.stall.insert(Stall {
                    since: Instant::now(),
                    unacked: self.unacked(),
                }),
            };
            let deadline = stall.since + self.timeout;
            if let Ok(ready) = tokio::time::timeout_at(deadline, self.stream.writable()).await {
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
        let r = unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        if r < 0 {
            return None;
        }
        u32::try_from(queued).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected pair whose client side receives into a small buffer, so that the
    /// server's writes soon wait.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        let client = socket.connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_reads_nothing_times_the_write_out() {
        let (server, _client) = pair().await;
        let mut out = Out::new(&server, Duration::from_secs(5));
        let data = vec![7u8; 8 << 20];
        let err = out.write_all(&data).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
