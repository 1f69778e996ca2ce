//! The chunked transfer coding of request bodies (RFC 9112 §7.1), decoded incrementally:
//! bytes go in as they arrive, data comes out as ranges of those bytes (no copy).
//! Chunk extensions and trailer fields are read and skipped; sizes and line lengths are
//! bounded so a client cannot make the decoder hold or count without end.

use std::ops::Range;

/// The longest chunk-size line extension, and all trailer lines together.
const MAX_EXTENSION: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;
/// Hex digits of a chunk size (more would overflow 64 bits).
const MAX_SIZE_DIGITS: u8 = 16;

/// Why a chunked body is malformed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum ChunkError {
    BadSize,
    BadLineEnd,
    TooLong,
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkError::BadSize => "invalid chunk size",
            ChunkError::BadLineEnd => "chunk not followed by CRLF",
            ChunkError::TooLong => "chunk extension or trailers too long",
        })
    }
}

impl std::error::Error for ChunkError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size.
    Size {
        value: u64,
        digits: u8,
    },
    /// After the size: whitespace and `;ext`, up to the line end.
    Extension {
        value: u64,
        len: usize,
    },
    SizeLf {
        value: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// Trailer section: `at_line_start` tells an empty line (the end) from a field.
    Trailers {
        at_line_start: bool,
    },
    EndLf,
    Done,
}

/// An incremental chunked-body decoder.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    trailer_bytes: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            trailer_bytes: 0,
        }
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// True once the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads from `input`. Returns how many bytes were used and, when some body data was
    /// found, its range within `input` (ending where the used bytes end). Call again with
    /// the rest of the input until it is used up or the decoder is done.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Range<usize>>), ChunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size { value, digits } => {
                    if let Some(d) = hex(b) {
                        if digits >= MAX_SIZE_DIGITS {
                            return Err(ChunkError::BadSize);
                        }
                        self.state = State::Size {
                            value: value
                                .checked_mul(16)
                                .and_then(|v| v.checked_add(u64::from(d)))
                                .ok_or(ChunkError::BadSize)?,
                            digits: digits + 1,
                        };
                    } else if digits == 0 {
                        return Err(ChunkError::BadSize);
                    } else {
                        self.state = match b {
                            b'\r' => State::SizeLf { value },
                            b'\n' => after_size(value),
                            b';' | b' ' | b'\t' => State::Extension { value, len: 1 },
                            _ => return Err(ChunkError::BadSize),
                        };
                    }
                    i += 1;
                }
                State::Extension { value, len } => {
                    self.state = match b {
                        b'\r' => State::SizeLf { value },
                        b'\n' => after_size(value),
                        _ if len >= MAX_EXTENSION => return Err(ChunkError::TooLong),
                        _ => State::Extension {
                            value,
                            len: len + 1,
                        },
                    };
                    i += 1;
                }
                State::SizeLf { value } => {
                    if b != b'\n' {
                        return Err(ChunkError::BadLineEnd);
                    }
                    self.state = after_size(value);
                    i += 1;
                }
                State::Data { left } => {
                    let avail = (input.len() - i) as u64;
                    let take = left.min(avail) as usize;
                    let range = i..i + take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                    return Ok((range.end, Some(range)));
                }
                State::DataCr => {
                    self.state = match b {
                        b'\r' => State::DataLf,
                        b'\n' => State::Size {
                            value: 0,
                            digits: 0,
                        },
                        _ => return Err(ChunkError::BadLineEnd),
                    };
                    i += 1;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(ChunkError::BadLineEnd);
                    }
                    self.state = State::Size {
                        value: 0,
                        digits: 0,
                    };
                    i += 1;
                }
                State::Trailers { at_line_start } => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(ChunkError::TooLong);
                    }
                    self.state = match (at_line_start, b) {
                        (true, b'\r') => State::EndLf,
                        (true, b'\n') => State::Done,
                        (_, b'\n') => State::Trailers {
                            at_line_start: true,
                        },
                        _ => State::Trailers {
                            at_line_start: false,
                        },
                    };
                    i += 1;
                    if self.state == State::Done {
                        return Ok((i, None));
                    }
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(ChunkError::BadLineEnd);
                    }
                    self.state = State::Done;
                    return Ok((i + 1, None));
                }
                State::Done => return Ok((i, None)),
            }
        }
        Ok((i, None))
    }
}

/// The state after a chunk-size line: data, or the trailers after the last chunk.
fn after_size(value: u64) -> State {
    if value == 0 {
        State::Trailers {
            at_line_start: true,
        }
    } else {
        State::Data { left: value }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a whole chunked body given in one piece (tests and fuzzing): the data, and
/// how many input bytes the body took; `Ok(None)` when the input ends before the body.
pub fn decode_all(input: &[u8]) -> Result<Option<(Vec<u8>, usize)>, ChunkError> {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() && !d.is_done() {
        let (used, data) = d.decode(&input[at..])?;
        if let Some(r) = data {
            out.extend_from_slice(&input[at + r.start..at + r.end]);
        }
        if used == 0 {
            break;
        }
        at += used;
    }
    Ok(d.is_done().then_some((out, at)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bodies_are_decoded_with_extensions_and_trailers_skipped() {
        let body = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nGET";
        let (data, used) = decode_all(body).unwrap().unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(&body[used..], b"GET");
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert_eq!(decode_all(b"zz\r\nhello"), Err(ChunkError::BadSize));
        assert_eq!(decode_all(b"\r\n"), Err(ChunkError::BadSize));
        assert_eq!(decode_all(b"5\r\nhelloX"), Err(ChunkError::BadLineEnd));
        assert_eq!(
            decode_all(b"11111111111111111\r\n"),
            Err(ChunkError::BadSize)
        );
        let long = format!("1;{}\r\n", "x".repeat(MAX_EXTENSION + 1));
        assert_eq!(decode_all(long.as_bytes()), Err(ChunkError::TooLong));
        assert_eq!(decode_all(b"5\r\nhel"), Ok(None));
    }

    fn encode(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    proptest! {
        #[test]
        fn any_split_of_the_input_decodes_the_same(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
            cut in 0usize..400,
        ) {
            let wire = encode(&chunks);
            let want: Vec<u8> = chunks.concat();
            let cut = cut.min(wire.len());
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for part in [&wire[..cut], &wire[cut..]] {
                let mut at = 0;
                while at < part.len() && !d.is_done() {
                    let (used, data) = d.decode(&part[at..]).unwrap();
                    if let Some(r) = data {
                        got.extend_from_slice(&part[at + r.start..at + r.end]);
                    }
                    at += used;
                }
            }
            prop_assert!(d.is_done());
            prop_assert_eq!(got, want);
        }

        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_all(&input);
        }
    }
}
