//! A look at the first request line before hyper parses the connection, to answer
//! `505 HTTP Version Not Supported` for a protocol version Baton does not speak.
//!
//! Hand-written because hyper answers any version it cannot parse with 400, and RFC 9110
//! (§15.6.6) gives 505 for this case so the client knows what is wrong. Only the first
//! request of a connection is checked this way; the bytes read are handed to hyper
//! unchanged through [`Prefixed`].

use bytes::{Buf, Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// What the first line says.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// HTTP/1.0 or HTTP/1.1, or not a request line at all (hyper will answer 400).
    Proceed,
    /// A well-formed request line with another major version.
    UnsupportedVersion,
    /// HTTP/1.x with x > 1: RFC 9112 §2.3 says to treat it as the highest 1.x we speak, so
    /// the version bytes (at this offset) are rewritten to `1.1` before hyper sees them.
    HigherMinor(usize),
}

/// The longest first line read ahead; longer lines are left to hyper's own limits.
const MAX_LOOKAHEAD: usize = 8 * 1024;

/// Reads until the end of the first line (or EOF, or the look-ahead limit) and judges it.
pub async fn read_first_line<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> io::Result<(BytesMut, Verdict)> {
    let mut buf = BytesMut::with_capacity(2048);
    loop {
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let verdict = judge(&buf[..end]);
            if let Verdict::HigherMinor(at) = verdict {
                buf[at..at + 3].copy_from_slice(b"1.1");
                return Ok((buf, Verdict::Proceed));
            }
            return Ok((buf, verdict));
        }
        if buf.len() >= MAX_LOOKAHEAD {
            return Ok((buf, Verdict::Proceed));
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok((buf, Verdict::Proceed));
        }
    }
}

/// Judges one request line (without its line ending).
pub fn judge(line: &[u8]) -> Verdict {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(line) = std::str::from_utf8(line) else {
        return Verdict::Proceed;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Verdict::Proceed;
    };
    if method.is_empty() || target.is_empty() {
        return Verdict::Proceed;
    }
    let Some(v) = version.strip_prefix("HTTP/") else {
        return Verdict::Proceed;
    };
    let well_formed = v.len() == 3
        && v.as_bytes()[1] == b'.'
        && v.as_bytes()[0].is_ascii_digit()
        && v.as_bytes()[2].is_ascii_digit();
    if !well_formed || v == "1.0" || v == "1.1" {
        Verdict::Proceed
    } else if v.starts_with("1.") {
        // Offset of the version digits: "METHOD SP TARGET SP HTTP/".
        Verdict::HigherMinor(method.len() + 1 + target.len() + 1 + 5)
    } else {
        Verdict::UnsupportedVersion
    }
}

/// A stream that first yields bytes already read from it.
pub struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Prefixed { prefix, inner }
    }

    /// The bytes not replayed yet, and the stream.
    pub fn into_parts(self) -> (Bytes, S) {
        (self.prefix, self.inner)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            if self.prefix.is_empty() {
                // Release the buffer: an idle connection should hold no memory for it.
                self.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_judged() {
        assert_eq!(judge(b"GET / HTTP/1.1\r"), Verdict::Proceed);
        assert_eq!(judge(b"GET / HTTP/1.0"), Verdict::Proceed);
        assert_eq!(judge(b"GET / HTTP/2.0\r"), Verdict::UnsupportedVersion);
        assert_eq!(judge(b"GET / HTTP/1.2\r"), Verdict::HigherMinor(11));
        assert_eq!(judge(b"GET / HTTP/3.0"), Verdict::UnsupportedVersion);
        assert_eq!(judge(b"GET / FOO/1.1"), Verdict::Proceed);
        assert_eq!(judge(b"garbage"), Verdict::Proceed);
        assert_eq!(judge(b"GET /  HTTP/9.9"), Verdict::Proceed);
    }

    #[tokio::test]
    async fn prefixed_stream_replays_then_reads_on() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        drop(a);
        let mut b = b;
        let (buf, verdict) = read_first_line(&mut b).await.unwrap();
        assert_eq!(verdict, Verdict::Proceed);
        let mut p = Prefixed::new(buf.freeze(), b);
        let mut all = String::new();
        p.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[tokio::test]
    async fn higher_minor_versions_are_read_as_1_1() {
        let mut input: &[u8] = b"GET /x HTTP/1.7\r\n\r\n";
        let (buf, verdict) = read_first_line(&mut input).await.unwrap();
        assert_eq!(verdict, Verdict::Proceed);
        assert_eq!(&buf[..], b"GET /x HTTP/1.1\r\n\r\n");
    }
}
