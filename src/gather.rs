//! Writes gathered until the connection's task is next polled, so that every HTTP/2
//! frame made in one turn of a connection leaves in one TLS record and one system call.
//!
//! Why: h2 writes a frame's head and a large payload (1 KiB and more) as separate writes,
//! and flushes after each such frame; hyper answers each stream in a task of its own, and
//! the connection's task runs, writes and flushes as soon as one stream's response is
//! ready. On TLS every flush became a record and a `writev`: about three system calls per
//! small response (measured with h2load, 64 connections of 10 streams each: one `writev`
//! per 1 KiB response and about as many for the headers), where h2o sends the responses
//! of a whole read in one.
//!
//! How: a flush with bytes waiting does not write them; it wakes the task, which tokio
//! then runs after every other task ready to run (a task that wakes itself goes to the back
//! of the queue). The other streams answer meanwhile, and the next poll of the connection,
//! which always reads first, sends everything at once. A flush with nothing waiting is a
//! real one, so an idle connection is never woken for nothing; and the bytes never wait
//! beyond that next poll, or once [`LIMIT`] have gathered.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes gathered before a write goes through at once: a few full TLS records. A larger
/// single write (a big DATA frame's payload with nothing waiting) passes straight through.
const LIMIT: usize = 64 * 1024;

/// An I/O object whose writes are gathered (see the module's documentation).
pub struct Gathered<T> {
    inner: T,
    out: Vec<u8>,
    /// How much of `out` has been written.
    sent: usize,
    /// A flush was asked for and reported done, and is still owed to `inner`.
    owed: bool,
}

impl<T> Gathered<T> {
    pub fn new(inner: T) -> Gathered<T> {
        Gathered {
            inner,
            out: Vec::new(),
            sent: 0,
            owed: false,
        }
    }
}

impl<T: AsyncWrite + Unpin> Gathered<T> {
    /// Writes what has gathered, then the flush owed.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.out.clear();
        self.sent = 0;
        if self.owed {
            ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
            self.owed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn waiting(&self) -> bool {
        self.sent < self.out.len() || self.owed
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Gathered<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.waiting() {
            // Pending: the socket takes no more now and will wake the task when it does;
            // the read goes on meanwhile.
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Gathered<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() + buf.len() > LIMIT && this.waiting() {
            ready!(this.poll_drain(cx))?;
        }
        if buf.len() >= LIMIT {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.waiting() {
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        // Owed until the task's next poll, which comes after the other tasks ready now.
        this.owed = true;
        cx.waker().wake_by_ref();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Bytes the other end can read now, without waiting.
    fn readable_now(end: &mut tokio::io::DuplexStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Some(Ok(n)) = end.read(&mut buf).now_or_never() {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[tokio::test]
    async fn flushed_writes_leave_together_at_the_next_read() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        let mut gathered = Gathered::new(ours);
        gathered.write_all(b"head ").await.unwrap();
        gathered.flush().await.unwrap();
        gathered.write_all(b"body").await.unwrap();
        gathered.flush().await.unwrap();
        assert!(
            readable_now(&mut theirs).is_empty(),
            "sent before the next read"
        );
        // The connection's next poll reads first: nothing to read, everything sent.
        let mut buf = [0u8; 8];
        assert!(gathered.read(&mut buf).now_or_never().is_none());
        assert_eq!(readable_now(&mut theirs), b"head body");
        // Reading still works, both ways.
        theirs.write_all(b"ping").await.unwrap();
        assert_eq!(gathered.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
    }

    #[tokio::test]
    async fn a_flush_with_nothing_waiting_is_not_deferred() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut gathered = Gathered::new(ours);
        gathered.flush().await.unwrap();
        assert!(!gathered.waiting(), "an empty flush left something owed");
    }

    #[tokio::test]
    async fn bytes_past_the_limit_go_out_without_a_read_and_shutdown_sends_the_rest() {
        let (ours, mut theirs) = tokio::io::duplex(4 * LIMIT);
        let mut gathered = Gathered::new(ours);
        let chunk = vec![7u8; 1000];
        let mut written = 0;
        while written <= LIMIT {
            gathered.write_all(&chunk).await.unwrap();
            written += chunk.len();
        }
        let early = readable_now(&mut theirs).len();
        assert!(early > 0 && early < written, "{early} of {written} sent");
        gathered.shutdown().await.unwrap();
        let rest = readable_now(&mut theirs).len();
        assert_eq!(early + rest, written);
        // A write as large as the limit with nothing waiting passes straight through.
        let (ours, mut theirs) = tokio::io::duplex(4 * LIMIT);
        let mut gathered = Gathered::new(ours);
        gathered.write_all(&vec![1u8; LIMIT]).await.unwrap();
        assert_eq!(readable_now(&mut theirs).len(), LIMIT);
    }
}
