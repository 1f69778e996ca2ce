//! One HTTP/2 connection: a future the connection's task polls, which reads frames,
//! runs each stream's request through the pipeline, and writes the answers.
//!
//! A turn of [`Connection::poll`]:
//!
//! ```text
//! read what the client sent, frame by frame (requests start here; most answers are
//!   ready at once and their HEADERS and first DATA join the output)
//! -> requests still in the pipeline, then response bodies, each as far as the flow
//!   control windows and the output's high-water mark let it
//! -> one write of everything made
//! ```
//!
//! and again while any of that made progress. Everything waits on the same task's waker,
//! so a body that is not ready yet is simply polled again on the next turn (a connection
//! has at most [`MAX_STREAMS`] of them).
//!
//! The server never reads request bodies (no handler takes one): DATA is counted, checked
//! against `content-length`, and its flow-control credit returned at once. A stream
//! answered before its request body ended is reset with NO_ERROR, which tells the client
//! to stop sending it (RFC 9113 §8.1).
//!
//! Zero downtime: each stream takes the live generation when its request arrives and
//! keeps it until its response is sent. [`Connection::shut`] sends GOAWAY naming the last
//! stream taken; streams up to it finish, later ones are ignored, and the client retries
//! those by protocol.

use super::frame::{self, flag, kind, setting, Head, Malformed};
use super::hpack;
use super::request::{self, Collect};
use super::ErrorCode;
use crate::in_flight::{InFlight, Streams};
use crate::lifecycle::State;
use crate::pipeline::{self, ConnInfo, DropConnection};
use crate::snapshot::Generation;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::FuturesUnordered;
use futures_util::Stream as _;
use http::{header, HeaderValue, Method, StatusCode};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Streams a client may have open at once (nginx's and h2o's default).
pub const MAX_STREAMS: u32 = 128;

/// The receive window the server announces for each stream: request bodies are thrown
/// away as they come, so a generous one costs nothing and spares round trips.
const STREAM_WINDOW: u32 = 1 << 20;

/// The connection's receive window, credited back as DATA arrives.
const CONNECTION_WINDOW: i64 = 1 << 24;

/// Output bytes beyond which no more is made (bodies pumped, frames read) until it has
/// been written: what bounds a connection's memory when the client reads slowly.
const HIGH_WATER: usize = 64 * 1024;

/// Body bytes a connection holds for streams whose windows are shut before it reads no
/// more of any body: what bounds its memory when a client opens many streams for large
/// files and grants no window (without it, each of 128 streams would hold a 256 KiB chunk
/// of its file).
const MAX_BUFFERED: usize = 1 << 20;

/// The output buffer's first capacity: a turn's answers to ten small requests.
const OUTPUT_ROOM: usize = 16 * 1024;

/// The most a client may send in one header block, compressed (HEADERS and its
/// CONTINUATION frames): the decoded list is limited to [`request::MAX_LIST`], and HPACK
/// does not make a block much larger than what it encodes.
const MAX_BLOCK: usize = 2 * request::MAX_LIST;

/// How many of the streams it reset the server remembers (see `Connection::headers`).
const RESETS_REMEMBERED: usize = 2 * MAX_STREAMS as usize;

/// Plaintext read from TLS in one call.
const READ_CHUNK: usize = 16 * 1024 + frame::HEAD_LEN;

/// A request in the pipeline: the stream it answers and the pipeline's result.
type Pending =
    Pin<Box<dyn Future<Output = (u32, Result<pipeline::Answer, DropConnection>)> + Send>>;

/// A stream the server has taken and not finished.
struct Stream {
    /// The client sent END_STREAM (half-closed, remote).
    recv_closed: bool,
    /// What the client may still send according to its `content-length`.
    content_left: Option<u64>,
    /// Flow-control credit not yet returned for this stream.
    recv_unacked: u32,
    /// What the server may send on this stream (may go below zero when the client lowers
    /// SETTINGS_INITIAL_WINDOW_SIZE, §6.9.2).
    send_window: i64,
    head_only: bool,
    /// Set once the answer's HEADERS went out: the body still to send.
    sending: Option<Sending>,
    /// Counted among the connection's requests in flight until the stream is gone.
    _flight: InFlight,
}

struct Sending {
    body: crate::http::body::Body,
    /// What is left of the chunk the body gave last.
    chunk: Bytes,
    /// The generation the request ran on, kept until its body is sent.
    _generation: Arc<Generation>,
}

/// A header block spread over HEADERS and CONTINUATION frames.
struct Partial {
    stream: u32,
    end_stream: bool,
    /// The HEADERS opened a new stream (rather than carrying trailers).
    opens: bool,
    /// The stream was reset already: the block is decoded only to keep the table.
    ignore: bool,
    block: Vec<u8>,
}

/// How the connection ends.
#[derive(Debug, PartialEq, Eq)]
enum Closing {
    /// Serving.
    No,
    /// GOAWAY sent (or received): the open streams finish, then the connection closes.
    Graceful,
    /// A connection error: GOAWAY with its code is written, then the connection closes.
    Error,
    /// The output is written: TLS close_notify and the socket's shutdown.
    Shutdown,
}

/// An HTTP/2 connection, to be polled to its end. `Io` is the TLS stream on a listener
/// (tests and the fuzz target use an in-memory pipe).
pub struct Connection<Io> {
    io: Io,
    info: Arc<ConnInfo>,
    state: Arc<State>,
    counts: Arc<Streams>,
    input: BytesMut,
    output: Vec<u8>,
    /// How much of `output` has been handed to TLS.
    written: usize,
    /// TLS holds bytes the socket has not taken yet.
    unflushed: bool,
    /// Bytes handed to TLS so far.
    sent: u64,
    /// Bytes read so far.
    received: u64,
    preface_seen: bool,
    settings_seen: bool,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    partial: Option<Partial>,
    streams: FxHashMap<u32, Stream>,
    /// Streams with a body to send, in turn.
    senders: VecDeque<u32>,
    pending: FuturesUnordered<Pending>,
    /// The highest stream the client opened.
    last_stream: u32,
    /// What the server may still send on the connection.
    send_window: i64,
    /// What the client may still send on the connection.
    recv_window: i64,
    recv_unacked: i64,
    /// The client's SETTINGS.
    peer_max_frame: usize,
    peer_initial_window: i64,
    closing: Closing,
    /// Streams above this one are not taken (a GOAWAY named it).
    accept_up_to: u32,
    /// Body bytes taken from responses and not sent yet (see [`MAX_BUFFERED`]).
    buffered: usize,
    /// The pipeline's drop handler asked to close without an answer.
    dropped: bool,
    /// The client closed its side: nothing more to read.
    read_closed: bool,
    /// Scratch space for a response's header block.
    block: Vec<u8>,
    /// The last streams the server reset, whose frames in flight are ignored.
    recently_reset: VecDeque<u32>,
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Connection<Io> {
    pub fn new(io: Io, info: Arc<ConnInfo>, state: Arc<State>, counts: Arc<Streams>) -> Self {
        let mut output = Vec::with_capacity(OUTPUT_ROOM);
        frame::put_settings(
            &mut output,
            &[
                (setting::MAX_CONCURRENT_STREAMS, MAX_STREAMS),
                (setting::INITIAL_WINDOW_SIZE, STREAM_WINDOW),
                (setting::MAX_HEADER_LIST_SIZE, request::MAX_LIST as u32),
            ],
        );
        let default_window = 65_535;
        frame::put_window_update(&mut output, 0, (CONNECTION_WINDOW - default_window) as u32);
        Connection {
            io,
            info,
            state,
            counts,
            input: BytesMut::new(),
            output,
            written: 0,
            unflushed: false,
            sent: 0,
            received: 0,
            preface_seen: false,
            settings_seen: false,
            decoder: hpack::Decoder::new(),
            encoder: hpack::Encoder::new(),
            partial: None,
            streams: FxHashMap::default(),
            senders: VecDeque::new(),
            pending: FuturesUnordered::new(),
            last_stream: 0,
            send_window: default_window,
            recv_window: CONNECTION_WINDOW,
            recv_unacked: 0,
            peer_max_frame: frame::DEFAULT_MAX_FRAME,
            peer_initial_window: default_window,
            closing: Closing::No,
            accept_up_to: u32::MAX,
            buffered: 0,
            dropped: false,
            read_closed: false,
            block: Vec::with_capacity(256),
            recently_reset: VecDeque::new(),
        }
    }

    /// Takes stream `id` out of the table, with the body bytes it held.
    fn remove(&mut self, id: u32) -> Option<Stream> {
        let stream = self.streams.remove(&id)?;
        if let Some(sending) = &stream.sending {
            self.buffered -= sending.chunk.len();
        }
        Some(stream)
    }

    /// The client closed its side and every stream left waits for a window: only a
    /// WINDOW_UPDATE could move them, and none can come any more.
    fn stuck(&self) -> bool {
        self.read_closed
            && self.pending.is_empty()
            && self
                .streams
                .values()
                .all(|s| s.sending.is_some() && (self.send_window <= 0 || s.send_window <= 0))
    }

    /// Bytes read and written so far: the driver's measure of whether a connection with
    /// open streams is stalled.
    pub fn bytes_moved(&self) -> u64 {
        self.sent + self.received
    }

    /// Ends the connection gracefully: GOAWAY naming the last stream taken; those finish.
    pub fn shut(&mut self) {
        if self.closing == Closing::No {
            frame::put_goaway(&mut self.output, self.last_stream, ErrorCode::NoError);
            self.accept_up_to = self.last_stream;
            self.closing = Closing::Graceful;
        }
    }

    /// A connection error: GOAWAY with `code`, then the connection closes; streams in
    /// flight are dropped.
    fn fail(&mut self, code: ErrorCode) {
        if matches!(self.closing, Closing::Error | Closing::Shutdown) {
            return;
        }
        tracing::debug!(remote = %self.info.remote, ?code, "HTTP/2 connection error");
        frame::put_goaway(&mut self.output, self.last_stream, code);
        self.closing = Closing::Error;
        self.streams.clear();
        self.buffered = 0;
        self.senders.clear();
        self.pending = FuturesUnordered::new();
        self.partial = None;
    }

    /// A stream error: RST_STREAM with `code`; the stream is gone.
    fn reset(&mut self, id: u32, code: ErrorCode) {
        frame::put_rst_stream(&mut self.output, id, code);
        self.remove(id);
        self.remember_reset(id);
    }

    fn remember_reset(&mut self, id: u32) {
        if self.recently_reset.len() == RESETS_REMEMBERED {
            self.recently_reset.pop_front();
        }
        self.recently_reset.push_back(id);
    }

    // ------------------------------------------------------------------ reading

    /// Reads and handles frames until TLS has no more plaintext or the output is full.
    /// `Ready(false)`: the client closed the connection.
    fn read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut progress = false;
        while self.closing_allows_reading() && self.output.len() < HIGH_WATER {
            if self.input.capacity() - self.input.len() < READ_CHUNK {
                self.input.reserve(READ_CHUNK);
            }
            let spare = self.input.spare_capacity_mut();
            let mut buf = ReadBuf::uninit(spare);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    let n = buf.filled().len();
                    if n == 0 {
                        return Poll::Ready(Ok(false));
                    }
                    // SAFETY: `poll_read` initialised the first `n` spare bytes.
                    unsafe { self.input.set_len(self.input.len() + n) };
                    self.received += n as u64;
                    self.frames(cx);
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if progress {
            Poll::Ready(Ok(true))
        } else {
            Poll::Pending
        }
    }

    fn closing_allows_reading(&self) -> bool {
        matches!(self.closing, Closing::No | Closing::Graceful)
            && !self.dropped
            && !self.read_closed
    }

    /// Handles the complete frames in `input`.
    fn frames(&mut self, cx: &mut Context<'_>) {
        let input = std::mem::take(&mut self.input);
        let mut at = 0;
        if !self.preface_seen {
            let have = input.len().min(frame::PREFACE.len());
            if input[..have] != frame::PREFACE[..have] {
                self.fail(ErrorCode::Protocol);
                self.input = input;
                return;
            }
            if have < frame::PREFACE.len() {
                self.input = input;
                return;
            }
            self.preface_seen = true;
            at = frame::PREFACE.len();
        }
        while self.closing_allows_reading() {
            let Some(head) = Head::parse(&input[at..]) else {
                break;
            };
            if head.len > frame::DEFAULT_MAX_FRAME {
                self.fail(ErrorCode::FrameSize);
                break;
            }
            let end = at + frame::HEAD_LEN + head.len;
            if input.len() < end {
                break;
            }
            let payload = &input[at + frame::HEAD_LEN..end];
            at = end;
            if let Err(Malformed(code)) = self.frame(head, payload, cx) {
                self.fail(code);
            }
        }
        let mut input = input;
        input.advance(at.min(input.len()));
        self.input = input;
    }

    /// Handles one frame. An error is a connection error.
    fn frame(&mut self, head: Head, payload: &[u8], cx: &mut Context<'_>) -> Result<(), Malformed> {
        let protocol = Err(Malformed(ErrorCode::Protocol));
        if !self.settings_seen {
            // The preface goes on with the client's SETTINGS (§3.4).
            if head.kind != kind::SETTINGS || head.has(flag::ACK) {
                return protocol;
            }
            self.settings_seen = true;
        }
        if let Some(partial) = &mut self.partial {
            // Nothing may come between a HEADERS and its last CONTINUATION (§6.10).
            if head.kind != kind::CONTINUATION || head.stream != partial.stream {
                return protocol;
            }
            if partial.block.len() + payload.len() > MAX_BLOCK {
                return Err(Malformed(ErrorCode::EnhanceYourCalm));
            }
            partial.block.extend_from_slice(payload);
            if head.has(flag::END_HEADERS) {
                if let Some(p) = self.partial.take() {
                    if p.ignore {
                        self.decode_only(&p.block)?;
                    } else {
                        self.header_block(p.stream, &p.block, p.end_stream, p.opens, cx)?;
                    }
                }
            }
            return Ok(());
        }
        match head.kind {
            kind::DATA => self.data(head, payload),
            kind::HEADERS => self.headers(head, payload, cx),
            kind::PRIORITY => {
                if head.stream == 0 {
                    return protocol;
                }
                if payload.len() != 5 {
                    self.reset(head.stream, ErrorCode::FrameSize);
                } else if dependency(payload) == head.stream {
                    self.reset(head.stream, ErrorCode::Protocol);
                }
                Ok(())
            }
            kind::RST_STREAM => {
                if head.stream == 0 {
                    return protocol;
                }
                frame::u32_payload(payload)?;
                if self.is_idle(head.stream) {
                    return protocol;
                }
                if self.remove(head.stream).is_some() {
                    self.senders.retain(|&s| s != head.stream);
                }
                Ok(())
            }
            kind::SETTINGS => self.settings(head, payload),
            kind::PUSH_PROMISE => protocol,
            kind::PING => {
                if head.stream != 0 {
                    return protocol;
                }
                if payload.len() != 8 {
                    return Err(Malformed(ErrorCode::FrameSize));
                }
                if !head.has(flag::ACK) {
                    frame::put_ping_ack(&mut self.output, payload);
                }
                Ok(())
            }
            kind::GOAWAY => {
                if head.stream != 0 {
                    return protocol;
                }
                if payload.len() < 8 {
                    return Err(Malformed(ErrorCode::FrameSize));
                }
                // The client leaves: no new streams; those open finish.
                if self.closing == Closing::No {
                    self.closing = Closing::Graceful;
                    self.accept_up_to = self.last_stream;
                }
                Ok(())
            }
            kind::WINDOW_UPDATE => self.window_update(head, payload),
            kind::CONTINUATION => protocol,
            // Unknown frame types are ignored (§4.1, §5.5).
            _ => Ok(()),
        }
    }

    /// A stream the client has not opened yet.
    fn is_idle(&self, id: u32) -> bool {
        id > self.last_stream
    }

    fn data(&mut self, head: Head, payload: &[u8]) -> Result<(), Malformed> {
        if head.stream == 0 || self.is_idle(head.stream) {
            return Err(Malformed(ErrorCode::Protocol));
        }
        // Padding counts against the windows too (§6.9.1).
        let len = payload.len() as i64;
        self.recv_window -= len;
        if self.recv_window < 0 {
            return Err(Malformed(ErrorCode::FlowControl));
        }
        self.recv_unacked += len;
        if self.recv_unacked >= CONNECTION_WINDOW / 2 {
            frame::put_window_update(&mut self.output, 0, self.recv_unacked as u32);
            self.recv_window += self.recv_unacked;
            self.recv_unacked = 0;
        }
        let content = frame::content(&head, payload)?;
        let id = head.stream;
        let Some(stream) = self.streams.get_mut(&id) else {
            // A stream already closed: what was in flight when it closed is dropped.
            return Ok(());
        };
        if stream.recv_closed {
            self.reset(id, ErrorCode::StreamClosed);
            return Ok(());
        }
        if let Some(left) = &mut stream.content_left {
            match left.checked_sub(content.len() as u64) {
                Some(l) => *left = l,
                None => {
                    self.reset(id, ErrorCode::Protocol);
                    return Ok(());
                }
            }
        }
        if head.has(flag::END_STREAM) {
            stream.recv_closed = true;
            if stream.content_left.is_some_and(|l| l != 0) {
                self.reset(id, ErrorCode::Protocol);
            }
            return Ok(());
        }
        stream.recv_unacked += payload.len() as u32;
        if stream.recv_unacked >= STREAM_WINDOW / 2 {
            frame::put_window_update(&mut self.output, id, stream.recv_unacked);
            stream.recv_unacked = 0;
        }
        Ok(())
    }

    fn headers(
        &mut self,
        head: Head,
        payload: &[u8],
        cx: &mut Context<'_>,
    ) -> Result<(), Malformed> {
        let id = head.stream;
        if id == 0 || id.is_multiple_of(2) {
            return Err(Malformed(ErrorCode::Protocol));
        }
        let fragment = frame::content(&head, payload)?;
        let opens = self.is_idle(id);
        let mut ignore = false;
        if opens {
            self.last_stream = id;
        } else if !self.streams.contains_key(&id) {
            if !self.recently_reset.contains(&id) {
                // HEADERS on a closed stream (§5.1).
                return Err(Malformed(ErrorCode::StreamClosed));
            }
            // Sent before the client saw the server's RST_STREAM: ignored (§5.4.2).
            ignore = true;
        }
        let end_stream = head.has(flag::END_STREAM);
        if head.has(flag::PRIORITY) && priority_dependency(&head, payload) == Some(id) {
            self.reset(id, ErrorCode::Protocol);
            ignore = true;
        }
        if !head.has(flag::END_HEADERS) {
            if fragment.len() > MAX_BLOCK {
                return Err(Malformed(ErrorCode::EnhanceYourCalm));
            }
            self.partial = Some(Partial {
                stream: id,
                end_stream,
                opens,
                ignore,
                block: fragment.to_vec(),
            });
            return Ok(());
        }
        if ignore {
            return self.decode_only(fragment);
        }
        self.header_block(id, fragment, end_stream, opens, cx)
    }

    /// A header block whose stream is gone: decoded all the same, or the decoder's table
    /// would go out of step with the client's.
    fn decode_only(&mut self, block: &[u8]) -> Result<(), Malformed> {
        self.decoder
            .decode(block, |_, _| {})
            .map_err(|_| Malformed(ErrorCode::Compression))
    }

    /// A complete header block: a new request, or a request's trailers.
    fn header_block(
        &mut self,
        id: u32,
        block: &[u8],
        end_stream: bool,
        opens: bool,
        cx: &mut Context<'_>,
    ) -> Result<(), Malformed> {
        let mut collect = Collect::new();
        self.decoder
            .decode(block, |n, v| collect.field(n, v))
            .map_err(|_| Malformed(ErrorCode::Compression))?;
        if !opens {
            // Trailers: they must end the stream (§8.1); their fields are not used.
            match self.streams.get_mut(&id) {
                Some(stream) if end_stream && !stream.recv_closed => {
                    stream.recv_closed = true;
                    if stream.content_left.is_some_and(|l| l != 0) {
                        self.reset(id, ErrorCode::Protocol);
                    }
                }
                Some(stream) if stream.recv_closed => self.reset(id, ErrorCode::StreamClosed),
                Some(_) => self.reset(id, ErrorCode::Protocol),
                None => {}
            }
            return Ok(());
        }
        if id > self.accept_up_to {
            // After GOAWAY: not taken, the client retries it elsewhere.
            return Ok(());
        }
        if self.streams.len() >= MAX_STREAMS as usize {
            self.reset(id, ErrorCode::RefusedStream);
            return Ok(());
        }
        let (parts, content_length) = match collect.finish() {
            request::Head::Request {
                parts,
                content_length,
            } => (parts, content_length),
            request::Head::Malformed => {
                self.reset(id, ErrorCode::Protocol);
                return Ok(());
            }
            request::Head::TooLarge => {
                self.block.clear();
                let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                self.encoder.start(&mut self.block, status);
                frame::put_headers(&mut self.output, id, &self.block, true, self.peer_max_frame);
                if !end_stream {
                    self.reset(id, ErrorCode::NoError);
                }
                return Ok(());
            }
        };
        if end_stream && content_length.is_some_and(|n| n != 0) {
            self.reset(id, ErrorCode::Protocol);
            return Ok(());
        }
        let head_only = parts.method == Method::HEAD;
        self.streams.insert(
            id,
            Stream {
                recv_closed: end_stream,
                content_left: content_length,
                recv_unacked: 0,
                send_window: self.peer_initial_window,
                head_only,
                sending: None,
                _flight: self.counts.start(self.info.clone()),
            },
        );
        let generation = self.state.current();
        let info = self.info.clone();
        let mut request: Pending = Box::pin(async move {
            let mut body = http_body_util::Empty::<Bytes>::new();
            let answer = pipeline::handle(&parts, &mut body, &info, generation).await;
            (id, answer)
        });
        // Most answers are ready at once (a cached file, an error page): polled here,
        // they skip the pending set.
        match request.as_mut().poll(cx) {
            Poll::Ready((id, answer)) => self.answer(id, answer),
            Poll::Pending => self.pending.push(request),
        }
        Ok(())
    }

    fn settings(&mut self, head: Head, payload: &[u8]) -> Result<(), Malformed> {
        if head.stream != 0 {
            return Err(Malformed(ErrorCode::Protocol));
        }
        if head.has(flag::ACK) {
            return if payload.is_empty() {
                Ok(())
            } else {
                Err(Malformed(ErrorCode::FrameSize))
            };
        }
        for (id, value) in frame::settings(payload)? {
            match id {
                setting::ENABLE_PUSH if value > 1 => return Err(Malformed(ErrorCode::Protocol)),
                setting::INITIAL_WINDOW_SIZE => {
                    let value = i64::from(value);
                    if value > frame::MAX_WINDOW {
                        return Err(Malformed(ErrorCode::FlowControl));
                    }
                    // Every open stream's window moves by the difference (§6.9.2).
                    let delta = value - self.peer_initial_window;
                    self.peer_initial_window = value;
                    for stream in self.streams.values_mut() {
                        stream.send_window += delta;
                        if stream.send_window > frame::MAX_WINDOW {
                            return Err(Malformed(ErrorCode::FlowControl));
                        }
                    }
                }
                setting::HEADER_TABLE_SIZE => self.encoder.peer_table_size(value as usize),
                setting::MAX_FRAME_SIZE => {
                    let value = value as usize;
                    if !(frame::DEFAULT_MAX_FRAME..(1 << 24)).contains(&value) {
                        return Err(Malformed(ErrorCode::Protocol));
                    }
                    self.peer_max_frame = value;
                }
                // The server does not push; the concurrent streams and header list a
                // client takes are the server's business only for requests it would
                // make.
                _ => {}
            }
        }
        frame::put_settings_ack(&mut self.output);
        Ok(())
    }

    fn window_update(&mut self, head: Head, payload: &[u8]) -> Result<(), Malformed> {
        let increment = i64::from(frame::window_increment(payload)?);
        if head.stream == 0 {
            if increment == 0 {
                return Err(Malformed(ErrorCode::Protocol));
            }
            self.send_window += increment;
            if self.send_window > frame::MAX_WINDOW {
                return Err(Malformed(ErrorCode::FlowControl));
            }
            return Ok(());
        }
        if self.is_idle(head.stream) {
            return Err(Malformed(ErrorCode::Protocol));
        }
        let Some(stream) = self.streams.get_mut(&head.stream) else {
            return Ok(());
        };
        if increment == 0 {
            self.reset(head.stream, ErrorCode::Protocol);
            return Ok(());
        }
        stream.send_window += increment;
        if stream.send_window > frame::MAX_WINDOW {
            self.reset(head.stream, ErrorCode::FlowControl);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ answering

    /// The pipeline's answer to stream `id`: its HEADERS, and its body to send.
    fn answer(&mut self, id: u32, answer: Result<pipeline::Answer, DropConnection>) {
        let answer = match answer {
            Ok(a) => a,
            Err(DropConnection) => {
                self.dropped = true;
                return;
            }
        };
        if answer.close {
            // No more requests on this connection (keep-alive off, its request limit, the
            // process handing over): HTTP/2 says so with GOAWAY.
            self.shut();
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            // Reset by the client meanwhile.
            return;
        };
        let (parts, mut body) = answer.response.into_parts();
        let length = http_body::Body::size_hint(&body).exact();
        let head_only = stream.head_only;
        let done = head_only || http_body::Body::is_end_stream(&body);
        self.block.clear();
        response_block(
            &mut self.encoder,
            &mut self.block,
            &parts,
            &answer.generation.server_header,
            length,
        );
        frame::put_headers(&mut self.output, id, &self.block, done, self.peer_max_frame);
        if done {
            body.finish();
            self.finished(id);
            return;
        }
        stream.sending = Some(Sending {
            body,
            chunk: Bytes::new(),
            _generation: answer.generation,
        });
        self.senders.push_back(id);
    }

    /// Stream `id` sent its last frame.
    fn finished(&mut self, id: u32) {
        if let Some(stream) = self.remove(id) {
            if !stream.recv_closed {
                // Answered before the request ended: the client may stop sending (§8.1).
                self.reset(id, ErrorCode::NoError);
            }
        }
    }

    /// Requests the pipeline finished since the last turn.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some((id, answer))) = Pin::new(&mut self.pending).poll_next(cx) {
            self.answer(id, answer);
            progress = true;
        }
        progress
    }

    /// Response bodies, each in turn, as far as windows and the output allow.
    fn pump(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut turns = self.senders.len();
        while turns > 0 && self.output.len() < HIGH_WATER && self.send_window > 0 {
            turns -= 1;
            let Some(id) = self.senders.pop_front() else {
                break;
            };
            let before = self.output.len();
            match self.pump_one(id, cx) {
                Pumped::More => self.senders.push_back(id),
                Pumped::Done => progress = true,
            }
            progress |= self.output.len() != before;
        }
        progress
    }

    /// Sends what stream `id` can now.
    fn pump_one(&mut self, id: u32, cx: &mut Context<'_>) -> Pumped {
        let Some(stream) = self.streams.get_mut(&id) else {
            return Pumped::Done;
        };
        let Some(sending) = &mut stream.sending else {
            return Pumped::Done;
        };
        loop {
            if self.output.len() >= HIGH_WATER {
                return Pumped::More;
            }
            if sending.chunk.is_empty() {
                if self.buffered >= MAX_BUFFERED {
                    // Enough body bytes wait for windows already: no more is read until
                    // some of them leave.
                    return Pumped::More;
                }
                match http_body::Body::poll_frame(Pin::new(&mut sending.body), cx) {
                    Poll::Ready(Some(Ok(f))) => {
                        if let Ok(data) = f.into_data() {
                            sending.chunk = data;
                            self.buffered += sending.chunk.len();
                        }
                        if sending.chunk.is_empty()
                            && !http_body::Body::is_end_stream(&sending.body)
                        {
                            continue;
                        }
                    }
                    Poll::Ready(None) => {
                        frame::put_data(&mut self.output, id, &[], true);
                        self.finished(id);
                        return Pumped::Done;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        tracing::debug!(remote = %self.info.remote, error = %e, "response body failed");
                        self.reset(id, ErrorCode::Internal);
                        return Pumped::Done;
                    }
                    Poll::Pending => return Pumped::More,
                }
            }
            let window = self.send_window.min(stream.send_window);
            if window <= 0 {
                return Pumped::More;
            }
            let n = sending
                .chunk
                .len()
                .min(window as usize)
                .min(self.peer_max_frame);
            let data = sending.chunk.split_to(n);
            self.buffered -= n;
            let last = sending.chunk.is_empty() && http_body::Body::is_end_stream(&sending.body);
            frame::put_data(&mut self.output, id, &data, last);
            self.send_window -= n as i64;
            stream.send_window -= n as i64;
            if last {
                sending.body.finish();
                self.finished(id);
                return Pumped::Done;
            }
        }
    }

    // ------------------------------------------------------------------ writing

    /// Writes the output to TLS and flushes it. `Ready`: all of it is on the socket.
    fn write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.output.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.output[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    self.sent += n as u64;
                    self.unflushed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.output.clear();
        self.written = 0;
        if self.unflushed {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<Io> Connection<Io> {
    /// Frees the input and output buffers when nothing waits in them: a connection waiting
    /// for its client holds no buffer (10,000 idle connections would otherwise hold 16 KiB
    /// each), at the price of an allocation when it wakes.
    fn release_buffers(&mut self) {
        if self.input.is_empty() && self.input.capacity() != 0 {
            self.input = BytesMut::new();
        }
        if self.output.is_empty() && self.output.capacity() != 0 {
            self.output = Vec::new();
        }
    }
}

enum Pumped {
    /// The stream has more to send (or waits for its body or a window).
    More,
    Done,
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Future for Connection<Io> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.output.capacity() == 0 {
            // Released while idle: room for a turn's answers at once, not grown by doubling.
            this.output.reserve(OUTPUT_ROOM);
        }
        loop {
            if this.dropped {
                return Poll::Ready(Ok(()));
            }
            let mut progress = match this.read(cx) {
                Poll::Ready(Ok(true)) => true,
                Poll::Ready(Ok(false)) => {
                    // The client will send nothing more (TLS close_notify, or its half
                    // of the TCP connection shut): what it asked is still answered, as
                    // far as it reads, then the connection closes.
                    this.read_closed = true;
                    // A header block cut short stays so: its stream never opens.
                    this.partial = None;
                    if this.closing == Closing::No {
                        this.closing = Closing::Graceful;
                        this.accept_up_to = this.last_stream;
                    }
                    true
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => false,
            };
            progress |= this.poll_pending(cx);
            progress |= this.pump(cx);
            let sent_before = this.sent;
            let written = match this.write(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => false,
            };
            // Output written makes room to read and pump again.
            progress |= this.sent != sent_before;
            if written {
                let ended = match this.closing {
                    Closing::No => false,
                    Closing::Graceful => {
                        (this.streams.is_empty() && this.partial.is_none()) || this.stuck()
                    }
                    Closing::Error | Closing::Shutdown => true,
                };
                if ended {
                    this.closing = Closing::Shutdown;
                    return Pin::new(&mut this.io).poll_shutdown(cx);
                }
            }
            if !progress {
                this.release_buffers();
                return Poll::Pending;
            }
        }
    }
}

/// The header block of a response: `:status`, the response's fields but those HTTP/2
/// forbids (§8.2.2), `server`, `date` (as on HTTP/1.1), and `content-length` when the
/// body's length is known (for HEAD, the length the body would have had).
fn response_block(
    encoder: &mut hpack::Encoder,
    out: &mut Vec<u8>,
    parts: &crate::http::response::Parts,
    server: &HeaderValue,
    length: Option<u64>,
) {
    encoder.start(out, parts.status);
    let (mut has_length, mut has_date) = (false, false);
    for (name, value) in parts.headers.iter() {
        if CONNECTION_FIELDS.contains(name) || *name == header::SERVER {
            continue;
        }
        has_length |= *name == header::CONTENT_LENGTH;
        has_date |= *name == header::DATE;
        encoder.field(out, name, value.as_bytes());
    }
    encoder.field(out, &header::SERVER, server.as_bytes());
    if !has_date {
        encoder.date(out);
    }
    if let Some(n) = length {
        if !has_length && crate::http::response::allows_body(parts.status) {
            let mut digits = itoa::Buffer::new();
            encoder.field(out, &header::CONTENT_LENGTH, digits.format(n).as_bytes());
        }
    }
}

/// Fields that only mean something for one HTTP/1.1 connection, which HTTP/2 forbids
/// (RFC 9113 §8.2.2).
const CONNECTION_FIELDS: [header::HeaderName; 5] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HeaderName::from_static("keep-alive"),
    header::HeaderName::from_static("proxy-connection"),
];

/// The stream a PRIORITY payload depends on.
fn dependency(payload: &[u8]) -> u32 {
    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff
}

/// The stream a HEADERS frame with the PRIORITY flag depends on.
fn priority_dependency(head: &Head, payload: &[u8]) -> Option<u32> {
    let at = usize::from(head.has(flag::PADDED));
    payload.get(at..at + 4).map(dependency)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    /// A server serving `root`, as a listener would set it up.
    fn server(root: &std::path::Path) -> (Arc<State>, Arc<ConnInfo>) {
        let text = format!(
            "vserver!1!nick = default\nvserver!1!document_root = {}\n\
             vserver!1!rule!1!match = default\nvserver!1!rule!1!handler = common\n",
            root.display()
        );
        let config = crate::config::load_str("test.conf", &text)
            .config
            .expect("configuration");
        let generation = Generation::build(1, config, None).expect("generation");
        let state = State::new(generation);
        let loopback = Ipv4Addr::LOCALHOST;
        let (remote, local) = ((loopback, 40000).into(), (loopback, 443).into());
        let info = Arc::new(ConnInfo::new(remote, local, 1, true, &state));
        (state, info)
    }

    /// A GET of `path` as a header block: `:method GET`, `:scheme https` (static
    /// entries), `:path` as a literal.
    fn get(path: &str) -> Vec<u8> {
        let mut block = vec![0x82, 0x87, 0x04, path.len() as u8];
        block.extend_from_slice(path.as_bytes());
        block
    }

    /// Writes `out` as the client, closes the client's side, and reads everything the
    /// server sends until the connection ends: its result, and the bytes read. On the
    /// paused clock a connection still waiting when all else is idle is a hang.
    async fn exchange(
        conn: Connection<tokio::io::DuplexStream>,
        client: tokio::io::DuplexStream,
        out: Vec<u8>,
    ) -> (io::Result<()>, usize) {
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let write = async move {
            to_server.write_all(&out).await.expect("client writes");
            to_server.shutdown().await.expect("client closes");
            to_server
        };
        let read = async move {
            let mut buf = vec![0u8; 16 * 1024];
            let mut total = 0;
            while let Ok(n @ 1..) = tokio::io::AsyncReadExt::read(&mut from_server, &mut buf).await
            {
                total += n;
            }
            total
        };
        let done = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(conn, write, read)
        })
        .await;
        let (served, _, got) = done.expect("the connection ended");
        (served, got)
    }

    /// Found by the fuzz target: a client that closes in the middle of a header block
    /// (HEADERS without END_HEADERS, then nothing) left the connection waiting forever
    /// for a CONTINUATION that could no longer come.
    #[tokio::test(start_paused = true)]
    async fn a_client_closing_inside_a_header_block_ends_the_connection() {
        let root = tempfile::tempdir().expect("temporary directory");
        let (state, info) = server(root.path());
        let (client, pipe) = tokio::io::duplex(8 * 1024);
        let conn = Connection::new(pipe, info, state, Arc::new(Streams::default()));
        let mut out = frame::PREFACE.to_vec();
        frame::put_settings(&mut out, &[]);
        frame::put_head(&mut out, 2, kind::HEADERS, 0, 1);
        out.extend_from_slice(&[0x82, 0x87]);
        let (served, _) = exchange(conn, client, out).await;
        served.expect("the connection ended cleanly");
    }

    /// Found by the fuzz target too: a client that asks for more than its window and
    /// closes its side can never open the window again; the stream is given up.
    #[tokio::test(start_paused = true)]
    async fn a_closed_client_that_owes_a_window_update_ends_the_connection() {
        let root = tempfile::tempdir().expect("temporary directory");
        std::fs::write(root.path().join("big.bin"), vec![7u8; 100 * 1024]).expect("file");
        let (state, info) = server(root.path());
        let (client, pipe) = tokio::io::duplex(8 * 1024);
        let conn = Connection::new(pipe, info, state, Arc::new(Streams::default()));
        let mut out = frame::PREFACE.to_vec();
        frame::put_settings(&mut out, &[]);
        frame::put_headers(
            &mut out,
            1,
            &get("/big.bin"),
            true,
            frame::DEFAULT_MAX_FRAME,
        );
        let (served, got) = exchange(conn, client, out).await;
        served.expect("the connection ended cleanly");
        // What the window allowed was sent before.
        assert!(got > 65_535, "{got} bytes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shut_windows_bound_the_body_bytes_a_connection_holds() {
        let root = tempfile::tempdir().expect("temporary directory");
        std::fs::write(root.path().join("big.bin"), vec![7u8; 3 << 20]).expect("file");
        let (state, info) = server(root.path());
        let (mut client, pipe) = tokio::io::duplex(256 * 1024);
        let mut conn = Connection::new(pipe, info, state, Arc::new(Streams::default()));

        // 40 streams for a 3 MiB file, and no window to send any of it.
        const STREAMS: u32 = 40;
        let mut out = frame::PREFACE.to_vec();
        frame::put_settings(&mut out, &[(setting::INITIAL_WINDOW_SIZE, 0)]);
        for i in 0..STREAMS {
            let block = get("/big.bin");
            frame::put_headers(&mut out, 1 + 2 * i, &block, true, frame::DEFAULT_MAX_FRAME);
        }
        client.write_all(&out).await.expect("client writes");

        // Until every stream has its answer's HEADERS out and reads no more of its body.
        let mut turns = 0;
        loop {
            let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut conn).poll(cx))).await;
            assert!(polled.is_pending(), "the connection ended");
            let answered = conn.streams.len() == STREAMS as usize
                && conn.streams.values().all(|s| s.sending.is_some());
            if answered && conn.buffered >= MAX_BUFFERED {
                break;
            }
            turns += 1;
            assert!(
                turns < 10_000,
                "streams not answered: {}",
                conn.streams.len()
            );
            // File chunks are read on blocking threads: wait for them to come back.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let chunk = crate::http::body::FILE_CHUNK;
        assert!(
            conn.buffered < MAX_BUFFERED + chunk,
            "{} bytes held",
            conn.buffered
        );
        let holding = conn
            .streams
            .values()
            .filter(|s| s.sending.as_ref().is_some_and(|b| !b.chunk.is_empty()))
            .count();
        assert!(
            holding < STREAMS as usize / 4,
            "{holding} streams hold a chunk"
        );
    }
}
