//! Request heads: `httparse` reads the bytes (request line, header fields); this module
//! applies what RFC 9112 asks of a server on top: limits on the head, the version
//! (505 for a major version other than 1, HTTP/1.x with x > 1 read as 1.1), message body
//! framing (Content-Length and Transfer-Encoding, §6.3) and persistence (§9.3).

use crate::http::fields::Fields;
use crate::http::target::Target;
use bytes::{Bytes, BytesMut};
use http::header::InvalidHeaderName;
use http::{header, HeaderName, HeaderValue, Method, StatusCode, Version};
use smallvec::SmallVec;

/// The largest request head (request line and header fields) accepted: 431 beyond.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in one request: 431 beyond.
pub const MAX_HEADERS: usize = 100;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (no Content-Length, no Transfer-Encoding, or Content-Length: 0).
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    pub parts: crate::http::request::Parts,
    pub framing: Framing,
    /// The client allows the connection to stay open after this request (HTTP/1.1
    /// without `Connection: close`; HTTP/1.0 with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for `100 Continue` before the body.
    pub expect_continue: bool,
}

/// Parses the head at the start of `buf`. `Ok(None)`: incomplete, read more. On success
/// the head's bytes are taken off `buf` (the header values share them, no copy);
/// `Err(status)` is the answer for a head that cannot be served (the connection closes).
pub fn parse(buf: &mut BytesMut) -> Result<Option<Head>, StatusCode> {
    // Two tries at most: the second after rewriting an HTTP/1.x version (x > 1) to 1.1.
    for _ in 0..2 {
        // Left uninitialised: httparse writes the fields it finds, and zeroing the whole
        // array (3 KiB) on every request was a visible share of a small one.
        let mut fields =
            [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(buf, &mut fields) {
            Ok(httparse::Status::Complete(len)) => {
                // Where each piece lies, so the header values can share the head's bytes
                // once they are taken off the buffer (which `req` borrows until then).
                let base = buf.as_ptr() as usize;
                let at = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
                // Filled in place: collecting would build it elsewhere and move it here.
                let mut spans = SmallVec::<[Span; INLINE_FIELDS]>::new();
                spans.extend(req.headers.iter().map(|f| Span {
                    name: at(f.name.as_bytes()),
                    value: at(f.value),
                }));
                let line = Line {
                    method: Method::from_bytes(req.method.unwrap_or_default().as_bytes())
                        .map_err(|_| StatusCode::BAD_REQUEST)?,
                    target: at(req.path.unwrap_or_default().as_bytes()),
                    version: req.version.unwrap_or(1),
                };
                let frozen = buf.split_to(len).freeze();
                return build(&frozen, line, &spans).map(Some);
            }
            Ok(httparse::Status::Partial) => {
                return if buf.len() >= MAX_HEAD {
                    Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                } else {
                    Ok(None)
                };
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            }
            Err(httparse::Error::Version) => match version_of_first_line(buf) {
                LineVersion::Incomplete if buf.len() >= MAX_HEAD => {
                    return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                }
                LineVersion::Incomplete => return Ok(None),
                LineVersion::Unsupported => return Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
                LineVersion::HigherMinor(at) => buf[at..at + 3].copy_from_slice(b"1.1"),
                LineVersion::Malformed => return Err(StatusCode::BAD_REQUEST),
            },
            Err(_) => return Err(StatusCode::BAD_REQUEST),
        }
    }
    Err(StatusCode::BAD_REQUEST)
}

/// Header fields whose places are kept on the stack: more are rare, and cost an
/// allocation.
const INLINE_FIELDS: usize = 16;

/// Offset and length of a header field's name and value in the head.
#[derive(Clone, Copy)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// The request line.
struct Line {
    method: Method,
    target: (usize, usize),
    version: u8,
}

fn slice(frozen: &Bytes, (at, len): (usize, usize)) -> Bytes {
    frozen.slice(at..at + len)
}

/// The typed head, and the framing and persistence the fields ask for.
fn build(frozen: &Bytes, line: Line, spans: &[Span]) -> Result<Head, StatusCode> {
    let bad = StatusCode::BAD_REQUEST;
    let target = Target::parse(slice(frozen, line.target)).map_err(|_| bad)?;
    let version = match line.version {
        0 => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = Fields::with_capacity(spans.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    for span in spans {
        let (at, len) = span.name;
        let name = header_name(&frozen[at..at + len]).map_err(|_| bad)?;
        let value = header_value(slice(frozen, span.value)).ok_or(bad)?;
        // The fields framing and persistence depend on, told apart by length first: a
        // browser's dozen fields compared against four names each cost 600 instructions.
        match len {
            14 if name == header::CONTENT_LENGTH => {
                let n = content_length(value.as_bytes()).ok_or(bad)?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad);
                }
                length = Some(n);
            }
            17 if name == header::TRANSFER_ENCODING => {
                transfer_encoding = true;
                // The last coding of the last field must be chunked (§6.3); chunked
                // anywhere else is an error too.
                for coding in value.as_bytes().split(|&b| b == b',') {
                    let coding = trim(coding);
                    if coding.is_empty() {
                        continue;
                    }
                    if chunked {
                        return Err(bad);
                    }
                    chunked = coding.eq_ignore_ascii_case(b"chunked");
                }
            }
            10 if name == header::CONNECTION => {
                for token in value.as_bytes().split(|&b| b == b',') {
                    let token = trim(token);
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            6 if name == header::EXPECT => {
                expect_continue |= trim(value.as_bytes()).eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
        headers.append(name, value);
    }
    let framing = match (transfer_encoding, length) {
        // Both: a request smuggling attempt or a broken client (§6.3 ¶3).
        (true, Some(_)) => return Err(bad),
        (true, None) if chunked => Framing::Chunked,
        (true, None) => return Err(bad),
        (false, Some(0)) | (false, None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
    };
    let keep_alive = !close && (version == Version::HTTP_11 || keep_alive_token);
    Ok(Head {
        parts: crate::http::request::Parts {
            method: line.method,
            target,
            version,
            headers,
        },
        framing,
        keep_alive,
        expect_continue: expect_continue && version == Version::HTTP_11 && framing != Framing::None,
    })
}

/// The names requests commonly carry, by length: recognised by comparing bytes before the
/// general parse, which lower-cases the name into a buffer, matches it against every
/// standard name and copies a name it does not know (`sec-fetch-mode`) to the heap. A
/// browser's request has a dozen of these (callgrind: 240 instructions a name the general
/// way, a few tens here).
fn known_names(len: usize) -> &'static [HeaderName] {
    use header::*;
    static N2: [HeaderName; 1] = [TE];
    static N3: [HeaderName; 1] = [DNT];
    static N4: [HeaderName; 1] = [HOST];
    static N5: [HeaderName; 1] = [RANGE];
    static N6: [HeaderName; 5] = [ACCEPT, COOKIE, ORIGIN, PRAGMA, EXPECT];
    static N7: [HeaderName; 2] = [REFERER, UPGRADE];
    static N8: [HeaderName; 3] = [IF_RANGE, IF_MATCH, HeaderName::from_static("priority")];
    static N9: [HeaderName; 1] = [HeaderName::from_static("sec-ch-ua")];
    static N10: [HeaderName; 2] = [USER_AGENT, CONNECTION];
    static N12: [HeaderName; 1] = [CONTENT_TYPE];
    static N13: [HeaderName; 3] = [CACHE_CONTROL, IF_NONE_MATCH, AUTHORIZATION];
    static N14: [HeaderName; 5] = [
        CONTENT_LENGTH,
        HeaderName::from_static("sec-fetch-dest"),
        HeaderName::from_static("sec-fetch-mode"),
        HeaderName::from_static("sec-fetch-site"),
        HeaderName::from_static("sec-fetch-user"),
    ];
    static N15: [HeaderName; 3] = [
        ACCEPT_ENCODING,
        ACCEPT_LANGUAGE,
        HeaderName::from_static("x-forwarded-for"),
    ];
    static N16: [HeaderName; 2] = [
        HeaderName::from_static("sec-ch-ua-mobile"),
        HeaderName::from_static("x-requested-with"),
    ];
    static N17: [HeaderName; 2] = [IF_MODIFIED_SINCE, TRANSFER_ENCODING];
    static N18: [HeaderName; 1] = [HeaderName::from_static("sec-ch-ua-platform")];
    static N19: [HeaderName; 1] = [IF_UNMODIFIED_SINCE];
    static N25: [HeaderName; 1] = [UPGRADE_INSECURE_REQUESTS];
    match len {
        2 => &N2,
        3 => &N3,
        4 => &N4,
        5 => &N5,
        6 => &N6,
        7 => &N7,
        8 => &N8,
        9 => &N9,
        10 => &N10,
        12 => &N12,
        13 => &N13,
        14 => &N14,
        15 => &N15,
        16 => &N16,
        17 => &N17,
        18 => &N18,
        19 => &N19,
        25 => &N25,
        _ => &[],
    }
}

/// A field value from the head. `httparse` accepted only the bytes a `HeaderValue` may
/// hold (tab, visible ASCII, space, obs-text), so an ASCII value (nearly all are) skips the
/// byte-by-byte check `from_maybe_shared` would make again: a word-at-a-time ASCII test
/// instead of a loop over a browser's 600 bytes of values.
fn header_value(bytes: Bytes) -> Option<HeaderValue> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8, what the function requires; `httparse` let only
        // bytes that a `HeaderValue` may hold through (a property test below checks it).
        return Some(unsafe { HeaderValue::from_maybe_shared_unchecked(bytes) });
    }
    HeaderValue::from_maybe_shared(bytes).ok()
}

pub(crate) fn header_name(bytes: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    match known_names(bytes.len())
        .iter()
        .find(|name| token_is(bytes, name.as_str().as_bytes()))
    {
        Some(name) => Ok(name.clone()),
        None => HeaderName::from_bytes(bytes),
    }
}

/// Whether the name token `token` is `lower` (lower-case letters, digits and `-`), in any
/// case. Eight bytes at a time: setting bit 5 lower-cases a letter, leaves digits and `-`
/// as they are, and turns no other byte a token may hold (`!#$%&'*+.^_\`|~`) into one of
/// those, so the comparison is exact. Byte-wise case-insensitive comparisons of a
/// browser's dozen names cost more than the rest of the head's parse.
fn token_is(token: &[u8], lower: &[u8]) -> bool {
    let n = token.len();
    if n != lower.len() {
        return false;
    }
    if n < 8 {
        return token.iter().zip(lower).all(|(&t, &l)| t | 0x20 == l);
    }
    const CASE: u64 = 0x2020_2020_2020_2020;
    // Fixed-size loads (a copy of a variable length would be a `memcpy` call); the last
    // word overlaps the one before it, which compares some bytes twice.
    let word = |b: &[u8], at: usize| {
        b.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let mut at = 0;
    while at + 8 < n {
        if word(token, at) | CASE != word(lower, at) {
            return false;
        }
        at += 8;
    }
    word(token, n - 8) | CASE == word(lower, n - 8)
}

/// A Content-Length value: digits, or a list of identical digit strings (§6.3 ¶5).
fn content_length(value: &[u8]) -> Option<u64> {
    let mut found: Option<u64> = None;
    for item in value.split(|&b| b == b',') {
        let item = trim(item);
        if item.len() > 19 {
            return None;
        }
        let n = decimal(item)?;
        if found.is_some_and(|f| f != n) {
            return None;
        }
        found = Some(n);
    }
    found
}

/// A number in decimal digits only; `None` for anything else, or when it overflows.
pub(super) fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// What the version of a request line httparse refused says.
#[derive(Debug, PartialEq, Eq)]
enum LineVersion {
    /// The line has not ended yet.
    Incomplete,
    /// A well-formed request line with another major version: 505 (RFC 9110 §15.6.6).
    Unsupported,
    /// HTTP/1.x with x > 1, version digits at this offset of the buffer: RFC 9112 §2.3
    /// says to answer as the highest 1.x we speak.
    HigherMinor(usize),
    Malformed,
}

fn version_of_first_line(buf: &[u8]) -> LineVersion {
    // httparse skips empty lines before the request line; so does this.
    let lead = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let Some(end) = buf[lead..].iter().position(|&b| b == b'\n') else {
        return LineVersion::Incomplete;
    };
    match judge(&buf[lead..lead + end]) {
        Some(LineVersion::HigherMinor(at)) => LineVersion::HigherMinor(lead + at),
        Some(v) => v,
        None => LineVersion::Malformed,
    }
}

/// Judges one request line (without its line feed); `None` when it is no request line.
fn judge(line: &[u8]) -> Option<LineVersion> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if method.is_empty() || target.is_empty() {
        return None;
    }
    let v = version.strip_prefix(b"HTTP/")?;
    let well_formed =
        v.len() == 3 && v[1] == b'.' && v[0].is_ascii_digit() && v[2].is_ascii_digit();
    if !well_formed {
        None
    } else if v[0] == b'1' {
        // Offset of the version digits: "METHOD SP TARGET SP HTTP/".
        Some(LineVersion::HigherMinor(
            method.len() + 1 + target.len() + 1 + 5,
        ))
    } else {
        Some(LineVersion::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(text: &str) -> Result<Option<Head>, StatusCode> {
        parse(&mut BytesMut::from(text))
    }

    fn status(text: &str) -> StatusCode {
        head(text).expect_err("an error status")
    }

    #[test]
    fn a_simple_request_is_parsed_and_its_bytes_taken() {
        let mut buf = BytesMut::from("GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\nGET /next");
        let h = parse(&mut buf).unwrap().unwrap();
        assert_eq!(h.parts.method, Method::GET);
        assert_eq!(h.parts.target.path(), "/a");
        assert_eq!(h.parts.target.query(), Some("b=c"));
        assert_eq!(h.parts.headers[header::HOST], "x");
        assert_eq!(h.framing, Framing::None);
        assert!(h.keep_alive);
        assert_eq!(&buf[..], b"GET /next");
    }

    #[test]
    fn known_names_are_the_general_parse_ones() {
        for len in 0..64 {
            for name in known_names(len) {
                let text = name.as_str().as_bytes();
                assert_eq!(text.len(), len, "{name} listed under {len}");
                assert_eq!(HeaderName::from_bytes(text).unwrap(), *name);
                let upper = text.to_ascii_uppercase();
                assert_eq!(header_name(&upper).unwrap(), *name);
            }
        }
        assert_eq!(
            header_name(b"Sec-Fetch-Mode").unwrap().as_str(),
            "sec-fetch-mode"
        );
        // Bytes one bit away from a known name's are other names.
        assert_eq!(
            header_name(b"sec_fetch-mode").unwrap().as_str(),
            "sec_fetch-mode"
        );
        assert_eq!(header_name(b"hos~").unwrap().as_str(), "hos~");
        assert!(token_is(b"X-REQUESTED-WITH", b"x-requested-with"));
        assert!(!token_is(b"x-requested-witH_", b"x-requested-with"));
        assert!(!token_is(b"x-requested-wi_h", b"x-requested-with"));
        assert!(token_is(b"", b""));
        assert_eq!(header_name(b"X-Other").unwrap().as_str(), "x-other");
        assert!(header_name(b"bad name").is_err());
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        assert!(head("GET / HTTP/1.2").unwrap().is_none());
    }

    #[test]
    fn versions() {
        assert_eq!(
            status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
            StatusCode::HTTP_VERSION_NOT_SUPPORTED
        );
        assert_eq!(
            status("GET / HTTP/3.0\r\n\r\n"),
            StatusCode::HTTP_VERSION_NOT_SUPPORTED
        );
        let h = head("GET / HTTP/1.7\r\nHost: x\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.parts.version, Version::HTTP_11);
        assert_eq!(status("GET / FOO/1.1\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(status("garbage\r\n\r\n"), StatusCode::BAD_REQUEST);
        let h = head("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = head("GET / HTTP/1.1\r\nConnection: TE, close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
    }

    #[test]
    fn framing() {
        let h = head("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(12));
        let h = head("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(5));
        let h = head(
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.expect_continue);
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(status(bad), StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn limits() {
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(status(&long), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = BytesMut::from(&input[..]);
            let before = buf.len();
            if let Ok(Some(_)) = parse(&mut buf) {
                prop_assert!(buf.len() < before);
            }
        }

        /// What `header_value` relies on: a value `httparse` accepts is one a `HeaderValue`
        /// may hold, byte for byte.
        #[test]
        fn values_httparse_accepts_are_valid_header_values(
            value in proptest::collection::vec(any::<u8>(), 0..40)
        ) {
            let mut text = b"GET / HTTP/1.1\r\nX-Any: ".to_vec();
            text.extend_from_slice(&value);
            text.extend_from_slice(b"\r\n\r\n");
            let mut fields = [httparse::EMPTY_HEADER; 4];
            let mut req = httparse::Request::new(&mut fields);
            if let Ok(httparse::Status::Complete(_)) = req.parse(&text) {
                let accepted = req.headers[0].value;
                prop_assert!(HeaderValue::from_bytes(accepted).is_ok());
                if let Ok(Some(h)) = parse(&mut BytesMut::from(&text[..])) {
                    let kept = &h.parts.headers[HeaderName::from_static("x-any")];
                    prop_assert_eq!(kept.as_bytes(), accepted);
                }
            }
        }

        #[test]
        fn any_header_value_of_visible_text_is_kept(value in "[!-~]([ -~]{0,40}[!-~])?") {
            let text = format!("GET / HTTP/1.1\r\nX-Any: {value}\r\n\r\n");
            let h = head(&text).unwrap().unwrap();
            prop_assert_eq!(h.parts.headers[HeaderName::from_static("x-any")].as_bytes(), value.as_bytes());
        }
    }
}
