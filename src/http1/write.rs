//! Responses on the wire: the head serialised into one buffer, then the body by the
//! cheapest way its kind allows — bytes in memory go out with the head in one `writev`,
//! file ranges with `sendfile`, streams chunk by chunk (chunked for HTTP/1.1 when the
//! length is unknown, close-delimited for HTTP/1.0).

use super::out::Out;
use super::sendfile;
use super::socket::Socket;
use crate::clock;
use crate::http::body::{Body, Kind};
use crate::http::fields::Fields;
use crate::http::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode, Version};
use std::io::{self, IoSlice};
use std::time::Duration;

/// What the response's framing depends on in the request.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts {
    pub version: Version,
    pub head: bool,
}

/// Writes `resp`, with `server` as its `Server` field (one the response has itself is
/// replaced). `close`: the connection ends after it (the head says so; a response from
/// memory also ends the sending side, its last segment carrying the FIN). Returns
/// whether the connection can carry another request (false when the response had to be
/// close-delimited or said `Connection: close` itself). Fails with `TimedOut` once the
/// client has taken nothing for `timeout` (see [`Out`]); the body's count of bytes sent
/// is right either way.
pub async fn respond(
    socket: &Socket,
    timeout: Duration,
    resp: Response,
    req: RequestFacts,
    mut close: bool,
    server: &HeaderValue,
) -> io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let mut head = status_line(status, server);
    let line = head.len();
    let fields = write_fields(&mut head, &parts.headers, false);
    let bodiless = !crate::http::response::allows_body(status);
    let mut added = Added {
        date: !fields.date,
        ..Added::default()
    };
    let mut length: Option<u64> = None;
    if !bodiless {
        length = match fields.content_length {
            Some(v) => parse_length(v),
            None => http_body::Body::size_hint(&body).exact(),
        };
        match length {
            Some(n) if fields.content_length.is_none() && !req.head => {
                added.content_length = Some(n);
            }
            Some(_) => {}
            None if req.head => {}
            None if req.version == Version::HTTP_11 => added.chunked = true,
            // HTTP/1.0 knows no chunks: the end of the body is the end of the connection.
            None => close = true,
        }
    }
    let chunked = added.chunked;
    close |= fields.close;
    if close {
        if !fields.close {
            added.connection = Some("close");
        }
    } else if req.version == Version::HTTP_10 && !fields.connection {
        added.connection = Some("keep-alive");
    }
    if added.chunked && fields.transfer_encoding {
        // Rare (no handler sets it): the response's own Transfer-Encoding is replaced.
        head.truncate(line);
        write_fields(&mut head, &parts.headers, true);
    }
    finish_head(&mut head, &added);
    drop(parts);

    let mut out = Out::new(socket, timeout);
    if bodiless || req.head {
        write_parts(&mut out, [&head], &mut 0, close).await?;
        body.finish();
        return Ok(!close);
    }
    let result = match body.take_kind() {
        Kind::Empty => write_parts(&mut out, [&head], &mut 0, close).await,
        Kind::Full(bytes) => write_full(&mut out, &head, &bytes, &mut body, chunked, close).await,
        Kind::File(range) => {
            sendfile::write_more(&mut out, &head).await?;
            let mut sent = 0;
            let r = sendfile::send(&mut out, &range, &mut sent).await;
            body.record_sent(sent);
            r
        }
        kind => {
            // Put back: streamed frame by frame below.
            *body.kind_mut() = kind;
            out.write_all(&head).await?;
            write_stream(&mut out, &mut body, chunked, length).await
        }
    };
    body.finish();
    result.map(|()| !close)
}

/// What the connection layer needs to know of a response's own fields, noted while they
/// are serialised rather than looked up one hash at a time.
#[derive(Default)]
struct Noted<'a> {
    /// The first `Content-Length`.
    content_length: Option<&'a HeaderValue>,
    /// A `Connection` field is there.
    connection: bool,
    /// A `Connection` field has the `close` option.
    close: bool,
    date: bool,
    transfer_encoding: bool,
}

/// The fields the connection layer adds to a response's own, written after them.
#[derive(Default)]
struct Added {
    content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`, which replaces any the response had.
    chunked: bool,
    connection: Option<&'static str>,
    date: bool,
}

fn says_close(connection: &HeaderValue) -> bool {
    connection
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

fn parse_length(v: &HeaderValue) -> Option<u64> {
    // Digits, as handlers write it, read without the general number parse.
    super::parse::decimal(v.as_bytes().trim_ascii())
        .or_else(|| std::str::from_utf8(v.as_bytes()).ok()?.trim().parse().ok())
}

/// Head and in-memory body in one `writev` (repeated only if the socket takes less).
/// `last`: the connection closes after it, and its end goes with the FIN (see
/// [`Out::write_vectored_last`]).
async fn write_full(
    out: &mut Out<'_>,
    head: &[u8],
    bytes: &Bytes,
    body: &mut Body,
    chunked: bool,
    last: bool,
) -> io::Result<()> {
    if chunked {
        // Only for a body whose length was unknown, which full bodies never are.
        out.write_all(head).await?;
        write_chunk(out, bytes, body).await?;
        return out.write_all(b"0\r\n\r\n").await;
    }
    let mut done = 0;
    let r = write_parts(out, [head, bytes], &mut done, last).await;
    body.record_sent(done.saturating_sub(head.len()) as u64);
    r
}

/// One chunk of a chunked body; counts the data bytes that went out (also when the write
/// fails half-way).
async fn write_chunk(out: &mut Out<'_>, data: &[u8], body: &mut Body) -> io::Result<()> {
    let mut line = [0u8; CHUNK_LINE];
    let size = chunk_size_line(data.len(), &mut line);
    let mut done = 0;
    let r = write_parts(out, [size, data, b"\r\n"], &mut done, false).await;
    body.record_sent(done.saturating_sub(size.len()).min(data.len()) as u64);
    r
}

/// Room for a chunk's size line: 16 hex digits and CRLF.
const CHUNK_LINE: usize = 18;

/// `len` in hexadecimal and CRLF, written at the end of `buf` (no allocation per chunk).
fn chunk_size_line(mut len: usize, buf: &mut [u8; CHUNK_LINE]) -> &[u8] {
    let mut at = CHUNK_LINE - 2;
    buf[at..].copy_from_slice(b"\r\n");
    loop {
        at -= 1;
        buf[at] = b"0123456789abcdef"[len % 16];
        len /= 16;
        if len == 0 {
            return &buf[at..];
        }
    }
}

/// Writes `parts` one after the other, with `writev` calls that start where the socket
/// stopped taking; `done`: how many bytes went out, kept right when a write fails.
/// `last`: they are the last bytes of the connection, which ends with them (their final
/// segment carries the FIN).
async fn write_parts<const N: usize>(
    out: &mut Out<'_>,
    parts: [&[u8]; N],
    done: &mut usize,
    last: bool,
) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    while *done < total {
        let mut skip = *done;
        let mut slices = [IoSlice::new(&[]); N];
        let mut used = 0;
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
            } else {
                slices[used] = IoSlice::new(&part[skip..]);
                used += 1;
                skip = 0;
            }
        }
        *done += if last {
            out.write_vectored_last(&slices[..used]).await?
        } else {
            out.write_vectored(&slices[..used]).await?
        };
    }
    if last {
        out.end()?;
    }
    Ok(())
}

/// A body of chunks, as its frames come.
async fn write_stream(
    out: &mut Out<'_>,
    body: &mut Body,
    chunked: bool,
    length: Option<u64>,
) -> io::Result<()> {
    let mut total: u64 = 0;
    while let Some(frame) = std::future::poll_fn(|cx| body.poll_uncounted(cx)).await {
        let Ok(data) = frame?.into_data() else {
            // Trailers: not sent.
            continue;
        };
        if data.is_empty() {
            continue;
        }
        total += data.len() as u64;
        if length.is_some_and(|l| total > l) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "body longer than its Content-Length",
            ));
        }
        if chunked {
            write_chunk(out, &data, body).await?;
        } else {
            let mut done = 0;
            let r = write_parts(out, [&data], &mut done, false).await;
            body.record_sent(done as u64);
            r?;
        }
    }
    if chunked {
        out.write_all(b"0\r\n\r\n").await?;
    }
    if length.is_some_and(|l| total < l) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "body shorter than its Content-Length",
        ));
    }
    Ok(())
}

/// Room for a usual response head; a larger one grows the buffer.
const HEAD_CAPACITY: usize = 512;

/// A head's buffer with its status line and the `Server` field.
fn status_line(status: StatusCode, server: &HeaderValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD_CAPACITY);
    match common_status_line(status) {
        Some(line) => out.extend_from_slice(line),
        None => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(status.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"server: ");
    out.extend_from_slice(server.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// The status lines of the answers a static site gives most, whole: one copy instead of
/// four pieces and a search for the reason phrase (callgrind: 176 -> 137 instructions a
/// response).
fn common_status_line(status: StatusCode) -> Option<&'static [u8]> {
    Some(match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        206 => b"HTTP/1.1 206 Partial Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        _ => return None,
    })
}

/// Writes the response's own fields (but `Server`, which the connection layer writes, and
/// `Transfer-Encoding` when `skip_te`), noting what the connection layer needs to know of
/// them.
fn write_fields<'a>(out: &mut Vec<u8>, headers: &'a Fields, skip_te: bool) -> Noted<'a> {
    let mut fields = Noted::default();
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH {
            fields.content_length.get_or_insert(value);
        } else if name == header::CONNECTION {
            fields.connection = true;
            fields.close |= says_close(value);
        } else if name == header::DATE {
            fields.date = true;
        } else if name == header::TRANSFER_ENCODING {
            fields.transfer_encoding = true;
            if skip_te {
                continue;
            }
        } else if name == header::SERVER {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    fields
}

/// The fields the connection layer adds, and the end of the head.
fn finish_head(out: &mut Vec<u8>, added: &Added) {
    if let Some(n) = added.content_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if added.chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if let Some(option) = added.connection {
        out.extend_from_slice(b"connection: ");
        out.extend_from_slice(option.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if added.date {
        out.extend_from_slice(b"date: ");
        clock::push_http_date(out, clock::coarse_unix_secs());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(h: &Fields) -> Noted<'_> {
        write_fields(&mut Vec::new(), h, false)
    }

    fn head(status: StatusCode, h: &Fields, added: &Added) -> String {
        let mut out = status_line(status, &HeaderValue::from_static("Baton"));
        write_fields(&mut out, h, added.chunked);
        finish_head(&mut out, added);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn heads_are_serialised_with_a_date() {
        let mut h = Fields::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(5));
        let f = fields(&h);
        assert_eq!(f.content_length, Some(&HeaderValue::from(5)));
        assert!(!f.date);
        let added = Added {
            date: true,
            ..Added::default()
        };
        let text = head(StatusCode::NOT_FOUND, &h, &added);
        assert!(text
            .starts_with("HTTP/1.1 404 Not Found\r\nserver: Baton\r\ncontent-length: 5\r\ndate: "));
        assert!(text.ends_with(" GMT\r\n\r\n"));
        let date = text.split("date: ").nth(1).unwrap().trim_end();
        assert!(httpdate::parse_http_date(date).is_ok());
    }

    #[test]
    fn added_fields_follow_the_response_own_and_chunked_replaces() {
        let mut h = Fields::new();
        h.insert(header::DATE, HeaderValue::from_static("x"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("gzip"));
        assert!(fields(&h).date);
        let added = Added {
            content_length: Some(12),
            chunked: true,
            connection: Some("close"),
            date: false,
        };
        assert_eq!(
            head(StatusCode::OK, &h, &added),
            "HTTP/1.1 200 OK\r\nserver: Baton\r\ndate: x\r\ncontent-length: 12\r\n\
             transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn the_server_field_is_the_connection_layers_own() {
        let mut h = Fields::new();
        h.insert(header::SERVER, HeaderValue::from_static("upstream/1.0"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            head(StatusCode::OK, &h, &Added::default()),
            "HTTP/1.1 200 OK\r\nserver: Baton\r\ncontent-type: text/plain\r\n\r\n"
        );
    }

    #[test]
    fn common_status_lines_are_the_general_ones() {
        for code in [200, 206, 301, 302, 304, 404] {
            let status = StatusCode::from_u16(code).unwrap();
            let line = String::from_utf8(common_status_line(status).unwrap().to_vec()).unwrap();
            let reason = status.canonical_reason().unwrap();
            assert_eq!(line, format!("HTTP/1.1 {code} {reason}\r\n"));
        }
        assert_eq!(common_status_line(StatusCode::IM_A_TEAPOT), None);
        let text = head(StatusCode::IM_A_TEAPOT, &Fields::new(), &Added::default());
        assert_eq!(text, "HTTP/1.1 418 I'm a teapot\r\nserver: Baton\r\n\r\n");
    }

    #[test]
    fn chunk_size_lines_are_hexadecimal() {
        let mut buf = [0u8; CHUNK_LINE];
        for n in [0, 1, 15, 16, 255, 4096, 0x1234_abcd, usize::MAX] {
            let line = chunk_size_line(n, &mut buf).to_vec();
            assert_eq!(line, format!("{n:x}\r\n").into_bytes(), "{n}");
        }
    }

    #[test]
    fn lengths_are_read() {
        assert_eq!(parse_length(&HeaderValue::from(1234)), Some(1234));
        assert_eq!(parse_length(&HeaderValue::from_static(" 7\t")), Some(7));
        assert_eq!(parse_length(&HeaderValue::from_static("+5")), Some(5));
        assert_eq!(parse_length(&HeaderValue::from_static("5, 5")), None);
        assert_eq!(
            parse_length(&HeaderValue::from_static("99999999999999999999")),
            None
        );
    }

    #[test]
    fn close_tokens_are_found() {
        let mut h = Fields::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("TE, Close"));
        assert!(fields(&h).close);
        assert!(fields(&h).connection);
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(!fields(&h).close);
    }
}
