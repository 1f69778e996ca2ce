//! HTTP/2 frames (RFC 9113 §4, §6): the 9-octet frame header, the payloads the server
//! reads (checked here, so the connection only sees well-formed frames or a precise
//! error), and the frames it writes, appended to an output buffer.
//!
//! Nothing here keeps state between frames: which frame may come when is the
//! connection's business ([`super::conn`]).

use super::ErrorCode;

/// Octets of a frame header.
pub const HEAD_LEN: usize = 9;

/// The largest frame payload either side may send until told otherwise (and the most the
/// server ever accepts: it does not raise SETTINGS_MAX_FRAME_SIZE).
pub const DEFAULT_MAX_FRAME: usize = 16_384;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest flow-control window (RFC 9113 §6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS identifiers (RFC 9113 §6.5.2).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// A frame header as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// The header at the start of `buf`, if it holds one (the reserved bit of the stream
    /// identifier is ignored, as §4.1 requires).
    pub fn parse(buf: &[u8]) -> Option<Head> {
        let b: &[u8; HEAD_LEN] = buf.get(..HEAD_LEN)?.try_into().ok()?;
        Some(Head {
            len: (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A connection error found in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub ErrorCode);

/// The part of a DATA or HEADERS payload that is data or a header block fragment: without
/// padding and (HEADERS) without the priority fields.
pub fn content<'a>(head: &Head, payload: &'a [u8]) -> Result<&'a [u8], Malformed> {
    let mut body = payload;
    let mut pad = 0;
    if head.has(flag::PADDED) {
        let (&n, rest) = body.split_first().ok_or(Malformed(ErrorCode::FrameSize))?;
        pad = usize::from(n);
        body = rest;
    }
    if head.kind == kind::HEADERS && head.has(flag::PRIORITY) {
        // Stream dependency (4 octets) and weight (1): deprecated, read and ignored.
        body = body.get(5..).ok_or(Malformed(ErrorCode::FrameSize))?;
    }
    // Padding as long as the rest is a PROTOCOL_ERROR (§6.1, §6.2).
    let end = body
        .len()
        .checked_sub(pad)
        .ok_or(Malformed(ErrorCode::Protocol))?;
    Ok(&body[..end])
}

/// A SETTINGS payload: its (identifier, value) pairs.
pub fn settings(payload: &[u8]) -> Result<impl Iterator<Item = (u16, u32)> + '_, Malformed> {
    if !payload.len().is_multiple_of(6) {
        return Err(Malformed(ErrorCode::FrameSize));
    }
    Ok(payload.chunks_exact(6).map(|s| {
        (
            u16::from_be_bytes([s[0], s[1]]),
            u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
        )
    }))
}

/// A 4-octet payload as a number (RST_STREAM's error code, WINDOW_UPDATE's increment with
/// its reserved bit cleared by the caller).
pub fn u32_payload(payload: &[u8]) -> Result<u32, Malformed> {
    let b: [u8; 4] = payload
        .try_into()
        .map_err(|_| Malformed(ErrorCode::FrameSize))?;
    Ok(u32::from_be_bytes(b))
}

/// The window increment of a WINDOW_UPDATE payload (zero is the caller's to refuse:
/// a stream error on a stream, a connection error on the connection).
pub fn window_increment(payload: &[u8]) -> Result<u32, Malformed> {
    Ok(u32_payload(payload)? & 0x7fff_ffff)
}

/// Appends a frame header.
pub fn put_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len < 1 << 24);
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends the server's SETTINGS.
pub fn put_settings(out: &mut Vec<u8>, values: &[(u16, u32)]) {
    put_head(out, values.len() * 6, kind::SETTINGS, 0, 0);
    for (id, value) in values {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub fn put_settings_ack(out: &mut Vec<u8>) {
    put_head(out, 0, kind::SETTINGS, flag::ACK, 0);
}

pub fn put_ping_ack(out: &mut Vec<u8>, opaque: &[u8]) {
    put_head(out, opaque.len(), kind::PING, flag::ACK, 0);
    out.extend_from_slice(opaque);
}

pub fn put_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    put_head(out, 4, kind::WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&increment.to_be_bytes());
}

pub fn put_rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    put_head(out, 4, kind::RST_STREAM, 0, stream);
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

pub fn put_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode) {
    put_head(out, 8, kind::GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

/// Appends a header block as HEADERS and, when it does not fit one frame of `max_frame`
/// octets, CONTINUATION frames.
pub fn put_headers(out: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool, max: usize) {
    let mut chunks = block.chunks(max.max(1));
    let first = chunks.next().unwrap_or(&[]);
    let mut rest = chunks.peekable();
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if rest.peek().is_none() {
        flags |= flag::END_HEADERS;
    }
    put_head(out, first.len(), kind::HEADERS, flags, stream);
    out.extend_from_slice(first);
    while let Some(chunk) = rest.next() {
        let flags = if rest.peek().is_none() {
            flag::END_HEADERS
        } else {
            0
        };
        put_head(out, chunk.len(), kind::CONTINUATION, flags, stream);
        out.extend_from_slice(chunk);
    }
}

/// Appends one DATA frame.
pub fn put_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end_stream: bool) {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    put_head(out, data.len(), kind::DATA, flags, stream);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_reads_back_as_written_and_the_reserved_bit_is_ignored() {
        let mut out = Vec::new();
        put_head(&mut out, 0x012345, kind::HEADERS, flag::END_HEADERS, 7);
        assert_eq!(
            Head::parse(&out),
            Some(Head {
                len: 0x012345,
                kind: kind::HEADERS,
                flags: flag::END_HEADERS,
                stream: 7
            })
        );
        out[5] |= 0x80;
        assert_eq!(Head::parse(&out).map(|h| h.stream), Some(7));
        assert_eq!(Head::parse(&out[..8]), None);
    }

    #[test]
    fn padding_and_priority_are_taken_off() {
        let head = Head {
            len: 0,
            kind: kind::HEADERS,
            flags: flag::PADDED | flag::PRIORITY,
            stream: 1,
        };
        let payload = [2, 0, 0, 0, 3, 16, b'a', b'b', 0, 0];
        assert_eq!(content(&head, &payload), Ok(&b"ab"[..]));
        // Padding longer than what is left.
        assert_eq!(
            content(&head, &[9, 0, 0, 0, 3, 16, b'a']),
            Err(Malformed(ErrorCode::Protocol))
        );
        // No room for the pad length.
        let data = Head {
            kind: kind::DATA,
            flags: flag::PADDED,
            ..head
        };
        assert_eq!(content(&data, &[]), Err(Malformed(ErrorCode::FrameSize)));
        assert_eq!(content(&data, &[0, b'x']), Ok(&b"x"[..]));
    }

    #[test]
    fn settings_come_in_sixes() {
        let pairs: Vec<_> = settings(&[0, 4, 0, 0, 1, 0, 0, 3, 0, 0, 0, 100])
            .unwrap()
            .collect();
        assert_eq!(pairs, [(4, 256), (3, 100)]);
        assert!(settings(&[0, 4, 0]).is_err());
    }

    #[test]
    fn a_long_header_block_continues() {
        let mut out = Vec::new();
        put_headers(&mut out, 3, &[1u8; 10], true, 4);
        let first = Head::parse(&out).unwrap();
        assert_eq!((first.len, first.kind), (4, kind::HEADERS));
        assert!(first.has(flag::END_STREAM) && !first.has(flag::END_HEADERS));
        let second = Head::parse(&out[13..]).unwrap();
        assert_eq!((second.kind, second.flags), (kind::CONTINUATION, 0));
        let last = Head::parse(&out[26..]).unwrap();
        assert_eq!((last.len, last.flags), (2, flag::END_HEADERS));
        assert_eq!(out.len(), 3 * HEAD_LEN + 10);
    }
}
