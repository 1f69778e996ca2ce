//! The one response body type of the server, and the ways to make one.
//!
//! A body is one of four kinds, so the HTTP/1 connection layer (`crate::http1`) can pick
//! the cheapest way to send it: nothing, bytes already in memory (one `writev` with the
//! head), a range of an open file (`sendfile`, no copy through user space), or a stream
//! of chunks (anything else: compressors, multipart ranges, generated pages).
//!
//! Every kind is also an [`http_body::Body`]: whatever rewraps a body (an encoder, say)
//! reads it as a stream of chunks, and a file body read that way streams the file in
//! chunks. Only the connection layer looks inside, so a transform cannot accidentally
//! keep the `sendfile` path for bytes it changed.
//!
//! A body can carry a completion hook ([`Body::on_finish`]): it is told how many bytes
//! really went out once the body is done or dropped half-way (a client that went away),
//! which is when the access log line is written. The hook is a closure the pipeline gives,
//! holding the generation the request ran on, so the generation stays alive until its
//! last response body has been sent.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body::{Frame, SizeHint};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, StreamBody};
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Size of the chunks a file body is read in when it is streamed rather than sent with
/// `sendfile` (a transform rewraps it): each read is a hand-off to a blocking thread, so
/// large enough to amortise it, small enough to keep a connection's memory low.
pub const FILE_CHUNK: usize = 256 * 1024;

/// A range of an open file, which other responses may share (nothing uses or moves its
/// position: `sendfile` and reads are given the offset).
#[derive(Debug)]
pub struct FileRange {
    pub file: Arc<std::fs::File>,
    pub offset: u64,
    pub len: u64,
}

/// What a body is made of.
pub enum Kind {
    Empty,
    /// Bytes in memory (taken when sent).
    Full(Bytes),
    /// A range of an open file, for `sendfile`.
    File(FileRange),
    /// Chunks from a stream or another body.
    Stream(UnsyncBoxBody<Bytes, io::Error>),
}

type Hook = Box<dyn FnOnce(u64) + Send>;

/// Every response carries this body (`Send`, as connection tasks need, but not `Sync`,
/// which streams holding a file future are not).
pub struct Body {
    kind: Kind,
    /// Bytes reported sent so far.
    sent: u64,
    done: Option<Hook>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Full(_) => "full",
            Kind::File(_) => "file",
            Kind::Stream(_) => "stream",
        };
        f.debug_struct("Body")
            .field("kind", &kind)
            .field("sent", &self.sent)
            .finish()
    }
}

fn of(kind: Kind) -> Body {
    Body {
        kind,
        sent: 0,
        done: None,
    }
}

pub fn empty() -> Body {
    of(Kind::Empty)
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    let bytes = bytes.into();
    if bytes.is_empty() {
        return empty();
    }
    of(Kind::Full(bytes))
}

/// `len` bytes of `file` from `offset`: sent with `sendfile` by the HTTP/1 layer, streamed
/// in chunks by anything that reads it as a body.
pub fn file(file: Arc<std::fs::File>, offset: u64, len: u64) -> Body {
    if len == 0 {
        return empty();
    }
    of(Kind::File(FileRange { file, offset, len }))
}

/// The bodies one after the other, as one: a multipart/byteranges answer is part heads in
/// memory and ranges of a file.
pub fn concat(parts: Vec<Body>) -> Body {
    stream(futures_util::stream::iter(parts).flat_map(BodyExt::into_data_stream))
}

/// A body read from a stream of byte chunks.
pub fn stream<S>(s: S) -> Body
where
    S: Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    of(Kind::Stream(
        StreamBody::new(s.map(|r| r.map(Frame::data))).boxed_unsync(),
    ))
}

impl Body {
    /// Calls `done` with the number of bytes sent once the body is finished or dropped.
    /// A hook already set is called first.
    pub fn on_finish(mut self, done: impl FnOnce(u64) + Send + 'static) -> Body {
        self.done = Some(match self.done.take() {
            None => Box::new(done),
            Some(first) => Box::new(move |n| {
                first(n);
                done(n);
            }),
        });
        self
    }

    /// What the body is made of, for the connection layer to choose how to send it.
    pub fn kind_mut(&mut self) -> &mut Kind {
        &mut self.kind
    }

    /// Takes the body's content out, leaving it empty (the hook stays).
    pub fn take_kind(&mut self) -> Kind {
        std::mem::replace(&mut self.kind, Kind::Empty)
    }

    /// Counts bytes the connection layer sent itself (a `writev` or `sendfile`).
    pub fn record_sent(&mut self, n: u64) {
        self.sent += n;
    }

    /// Marks the body finished: the hook runs now with the count so far.
    pub fn finish(&mut self) {
        if let Some(done) = self.done.take() {
            done(self.sent);
        }
    }

    /// The next frame, without counting it as sent (the connection layer counts what it
    /// actually wrote with [`Body::record_sent`]).
    pub fn poll_uncounted(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            match &mut self.kind {
                Kind::Empty => return Poll::Ready(None),
                Kind::Full(_) => {
                    let Kind::Full(b) = self.take_kind() else {
                        return Poll::Ready(None);
                    };
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Kind::File(_) => {
                    let Kind::File(range) = self.take_kind() else {
                        return Poll::Ready(None);
                    };
                    self.kind = Kind::Stream(file_stream(range));
                }
                Kind::Stream(s) => return http_body::Body::poll_frame(Pin::new(s), cx),
            }
        }
    }
}

/// A file range as a stream of chunks, each read at its offset on a blocking thread. A file
/// that turned out shorter than the range is an error (the length was promised).
fn file_stream(range: FileRange) -> UnsyncBoxBody<Bytes, io::Error> {
    let start = (range.file, range.offset, range.len);
    let chunks = futures_util::stream::try_unfold(start, |(file, offset, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let want = left.min(FILE_CHUNK as u64);
        let reader = file.clone();
        let chunk = tokio::task::spawn_blocking(move || -> io::Result<Vec<u8>> {
            let mut buf = vec![0u8; want as usize];
            reader.read_exact_at(&mut buf, offset)?;
            Ok(buf)
        })
        .await
        .map_err(io::Error::other)??;
        let next = (file, offset + want, left - want);
        Ok(Some((Frame::data(Bytes::from(chunk)), next)))
    });
    StreamBody::new(chunks).boxed_unsync()
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let polled = this.poll_uncounted(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(b) => b.is_empty(),
            Kind::File(r) => r.len == 0,
            Kind::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.len() as u64),
            Kind::File(r) => SizeHint::with_exact(r.len),
            Kind::Stream(s) => s.size_hint(),
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_file_body_streams_its_range_and_reports_the_count() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let seen = Arc::new(AtomicU64::new(u64::MAX));
        let s = seen.clone();
        let body =
            file(std::sync::Arc::new(f), 2, 5).on_finish(move |n| s.store(n, Ordering::SeqCst));
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(5));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"23456");
        assert_eq!(seen.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_dropped_body_reports_what_was_recorded() {
        let seen = Arc::new(AtomicU64::new(u64::MAX));
        let s = seen.clone();
        let mut body = full("hello").on_finish(move |n| s.store(n, Ordering::SeqCst));
        body.record_sent(3);
        drop(body);
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }
}
