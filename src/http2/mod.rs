//! HTTP/2 (RFC 9113) on TLS listeners: Baton's own server side of the protocol.
//!
//! Why not hyper's, which Baton used first: hyper and the `h2` crate are general (client
//! and server, any body, any executor), and that generality has a price on the hot path:
//! a task spawned per stream, a mutex-guarded stream store shared between those tasks,
//! frames written one `poll_write` at a time, request and response heads converted
//! between types. Measured with h2load (64 connections x 10 streams, 1 KiB, one core),
//! hyper's HTTP/2 spent about 40% of the server's CPU time in that machinery, and Baton
//! answered 0.4x as many requests per CPU-second as h2o. A server that only ever answers
//! from its own pipeline needs much less: here one task drives a connection, every stream
//! of it is polled inside that task, the frames answered in one round of reads leave in
//! one write, and the request head goes straight into the pipeline's own type.
//!
//! What is taken from libraries: TLS (rustls) and Huffman decoding (httlib-huffman; see
//! [`hpack`] for why the rest of HPACK is written here). The result, measured the same
//! way: 1.07x h2o's requests per CPU-second (`bench/limits.md`).
//!
//! What it leaves out, on purpose: server push (deprecated by RFC 9113, and never sent,
//! so clients' SETTINGS_ENABLE_PUSH does not matter), stream priorities (deprecated; read
//! and ignored, streams with a body to send take turns), extended CONNECT (RFC 8441),
//! cleartext `h2c`.
//!
//! The modules, in the order data flows: [`frame`] (the wire format), [`hpack`],
//! [`request`] (a header block to a request head, checked), [`conn`] (the connection:
//! streams, flow control, settings, the lifecycle).

pub mod conn;
pub mod frame;
pub mod hpack;
pub mod request;

pub use conn::Connection;

/// HTTP/2 error codes (RFC 9113 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    NoError = 0x0,
    Protocol = 0x1,
    Internal = 0x2,
    FlowControl = 0x3,
    StreamClosed = 0x5,
    FrameSize = 0x6,
    RefusedStream = 0x7,
    Compression = 0x9,
    EnhanceYourCalm = 0xb,
}
