//! The request body handed to the pipeline: read from the connection's buffer and socket
//! while the request is being handled (it borrows them), delimited by Content-Length or
//! decoded from chunked, with `100 Continue` sent when it is first read.

use super::chunked::Decoder;
use super::parse::Framing;
use super::socket::Socket;
use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncWrite, Interest};

/// What a connection reads from: the socket and the bytes read but not used yet.
pub struct Io {
    pub socket: Socket,
    pub buf: BytesMut,
}

/// Read sizes: the first read of a request, and each further one.
pub const READ_CHUNK: usize = 4096;

impl Io {
    /// Reads more into the buffer; `Ok(0)` at the end of the stream.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < 512 {
            self.buf.reserve(READ_CHUNK);
        }
        let room = self.buf.capacity() - self.buf.len();
        let stream = self.socket.registered_mut()?;
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(stream),
            cx,
            &mut self.buf
        ))?;
        if n > 0 && n < room {
            self.forget_readiness();
        }
        Poll::Ready(Ok(n))
    }

    /// A read without waiting, through the event loop's readiness (`WouldBlock` when
    /// nothing is there, which clears the readiness).
    pub fn try_fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() == 0 {
            return self.try_fill_exact();
        }
        if self.buf.capacity() - self.buf.len() < 512 {
            self.buf.reserve(READ_CHUNK);
        }
        let room = self.buf.capacity() - self.buf.len();
        let n = self.socket.registered()?.try_read_buf(&mut self.buf)?;
        if n > 0 && n < room {
            self.forget_readiness();
        }
        Ok(n)
    }

    /// The read into an empty buffer (what a connection back from idle has): into this
    /// thread's scratch buffer, the bytes then kept in a buffer of exactly their size. A
    /// small request then costs one small allocation rather than a `READ_CHUNK` one
    /// (about 240 instructions fewer per request), and holds less while it is served.
    fn try_fill_exact(&mut self) -> io::Result<usize> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<[u8; READ_CHUNK]> =
                const { std::cell::RefCell::new([0; READ_CHUNK]) };
        }
        SCRATCH.with_borrow_mut(|scratch| {
            let n = self.socket.registered()?.try_read(scratch)?;
            self.buf = BytesMut::from(&scratch[..n]);
            if n > 0 && n < READ_CHUNK {
                self.forget_readiness();
            }
            Ok(n)
        })
    }

    /// After a read that did not fill the buffer (it took everything there was): forget
    /// the readiness now rather than learn it from one more `read` failing with EAGAIN
    /// (one system call per request saved, as nginx does). Safe with tokio's
    /// edge-triggered readiness: bytes arriving later raise a new event, and a readiness
    /// event newer than the read is not cleared.
    fn forget_readiness(&self) {
        if let Some(stream) = self.socket.get() {
            let _ = stream.try_io(Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    }

    pub async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// A read tried at once, before the socket was ever reported readable: a client
    /// usually sends its request with the connection's first packets (and with
    /// `TCP_DEFER_ACCEPT` the connection is only accepted once it has), so the first
    /// request is read without a trip through the event loop. `Ok(0)`: nothing there
    /// yet, or the end of the stream (the normal path then finds out).
    pub fn read_now(&mut self) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        if self.buf.capacity() - self.buf.len() < 512 {
            self.buf.reserve(READ_CHUNK);
        }
        let spare = self.buf.spare_capacity_mut();
        let n = self.socket.with_std(|stream| {
            // SAFETY: `spare` is writable memory of this length owned by the buffer; the
            // kernel writes at most that many bytes, and only those are marked initialised.
            let n = unsafe {
                libc::recv(
                    stream.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            usize::try_from(n).map_err(|_| io::Error::last_os_error())
        });
        let n = match n {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        // SAFETY: the kernel initialised `n` bytes of the spare capacity.
        unsafe { self.buf.set_len(self.buf.len() + n) };
        Ok(n)
    }
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Where a request body stands; kept by the connection, so that once the request has been
/// answered it knows whether the next request can be read on the same connection.
#[derive(Debug)]
pub struct BodyState {
    remaining: Remaining,
    /// Bytes of `100 Continue` still to write before the body is read (`None`: none).
    continue_at: Option<usize>,
}

#[derive(Debug)]
enum Remaining {
    Length(u64),
    Chunked(Decoder),
    Done,
    /// Broken framing or a failed read: the connection cannot be reused.
    Failed,
}

impl BodyState {
    pub fn new(framing: Framing, expect_continue: bool) -> BodyState {
        let remaining = match framing {
            Framing::None => Remaining::Done,
            Framing::Length(n) => Remaining::Length(n),
            Framing::Chunked => Remaining::Chunked(Decoder::new()),
        };
        let continue_at = (expect_continue && !matches!(remaining, Remaining::Done)).then_some(0);
        BodyState {
            remaining,
            continue_at,
        }
    }

    /// The whole body has been read: the connection may carry another request.
    pub fn is_complete(&self) -> bool {
        matches!(self.remaining, Remaining::Done)
    }
}

/// The body of the request being handled.
pub struct RequestBody<'a> {
    io: &'a mut Io,
    state: &'a mut BodyState,
}

impl<'a> RequestBody<'a> {
    pub fn new(io: &'a mut Io, state: &'a mut BodyState) -> Self {
        RequestBody { io, state }
    }

    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(at) = self.state.continue_at {
            if at >= CONTINUE.len() {
                self.state.continue_at = None;
                break;
            }
            let stream = self.io.socket.registered_mut()?;
            let n = ready!(Pin::new(stream).poll_write(cx, &CONTINUE[at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.state.continue_at = Some(at + n);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if let Err(e) = ready!(self.poll_continue(cx)) {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            match &mut self.state.remaining {
                Remaining::Done => return Poll::Ready(None),
                Remaining::Failed => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "request body unusable after an error",
                    ))))
                }
                Remaining::Length(left) => {
                    if *left == 0 {
                        self.state.remaining = Remaining::Done;
                        return Poll::Ready(None);
                    }
                    if !self.io.buf.is_empty() {
                        let n = (*left).min(self.io.buf.len() as u64);
                        *left -= n;
                        let data = self.io.buf.split_to(n as usize).freeze();
                        if *left == 0 {
                            self.state.remaining = Remaining::Done;
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Remaining::Chunked(decoder) => {
                    if !self.io.buf.is_empty() {
                        let (used, data) = match decoder.decode(&self.io.buf) {
                            Ok(r) => r,
                            Err(e) => {
                                self.state.remaining = Remaining::Failed;
                                return Poll::Ready(Some(Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    e,
                                ))));
                            }
                        };
                        let done = decoder.is_done();
                        let taken = self.io.buf.split_to(used);
                        if done {
                            self.state.remaining = Remaining::Done;
                        }
                        if let Some(r) = data {
                            if !r.is_empty() {
                                return Poll::Ready(Some(Ok(taken.freeze().slice(r))));
                            }
                        }
                        if done {
                            return Poll::Ready(None);
                        }
                        if !self.io.buf.is_empty() {
                            continue;
                        }
                    }
                }
            }
            match ready!(self.io.poll_fill(cx)) {
                Ok(0) => {
                    self.state.remaining = Remaining::Failed;
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                Ok(_) => {}
                Err(e) => {
                    self.state.remaining = Remaining::Failed;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl http_body::Body for RequestBody<'_> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.get_mut()
            .poll_data(cx)
            .map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state.remaining, Remaining::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.state.remaining {
            Remaining::Length(n) => SizeHint::with_exact(n),
            Remaining::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    #[tokio::test]
    async fn expect_100_continue_is_answered_when_the_body_is_first_read() {
        let (server, mut client) = pair().await;
        let mut io = Io {
            socket: Socket::from_registered(server),
            buf: BytesMut::new(),
        };
        let mut state = BodyState::new(Framing::Length(5), true);
        let peer = tokio::spawn(async move {
            let mut got = Vec::new();
            while !got.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 64];
                let n = client.read(&mut b).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&b[..n]);
            }
            assert_eq!(got, CONTINUE);
            client.write_all(b"hello").await.unwrap();
            client
        });
        let body = RequestBody::new(&mut io, &mut state);
        let data = body.collect().await.unwrap().to_bytes();
        assert_eq!(&data[..], b"hello");
        assert!(state.is_complete());
        drop(peer.await.unwrap());
    }

    #[tokio::test]
    async fn a_chunked_body_stops_at_its_end_and_leaves_the_next_request() {
        let (server, mut client) = pair().await;
        client
            .write_all(b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n")
            .await
            .unwrap();
        let mut io = Io {
            socket: Socket::from_registered(server),
            buf: BytesMut::new(),
        };
        let mut state = BodyState::new(Framing::Chunked, false);
        let data = RequestBody::new(&mut io, &mut state)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&data[..], b"abc");
        assert!(state.is_complete());
        assert_eq!(&io.buf[..], b"GET / HTTP/1.1\r\n");
    }
}
