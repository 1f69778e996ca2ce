//! Responses on the wire: the head serialised into one buffer, then the body by the
//! cheapest way its kind allows — bytes in memory go out with the head in one `writev`,
//! file ranges with `sendfile`, streams chunk by chunk (chunked for HTTP/1.1 when the
//! length is unknown, close-delimited for HTTP/1.0).

use super::out::Out;
use super::sendfile;
use crate::clock;
use crate::http::body::{Body, Kind};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode, Version};
use std::io::{self, IoSlice};
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// What the response's framing depends on in the request.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts {
    pub version: Version,
    pub head: bool,
}

/// Writes `resp`. `close`: the connection ends after it (the head says so). Returns
/// whether the connection can carry another request (false when the response had to be
/// close-delimited or said `Connection: close` itself). Fails with `TimedOut` once the
/// client has taken nothing for `timeout` (see [`Out`]); the body's count of bytes sent
/// is right either way.
pub async fn respond(
    stream: &TcpStream,
    timeout: Duration,
    resp: Response<Body>,
    req: RequestFacts,
    mut close: bool,
) -> io::Result<bool> {
    let (mut parts, mut body) = resp.into_parts();
    let status = parts.status;
    let headers = &mut parts.headers;
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut chunked = false;
    let mut length: Option<u64> = None;
    if !bodiless {
        length = match headers.get(header::CONTENT_LENGTH) {
            Some(v) => parse_length(v),
            None => http_body::Body::size_hint(&body).exact(),
        };
        match length {
            Some(n) if !headers.contains_key(header::CONTENT_LENGTH) && !req.head => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            Some(_) => {}
            None if req.head => {}
            None if req.version == Version::HTTP_11 => {
                chunked = true;
                headers.insert(
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                );
            }
            // HTTP/1.0 knows no chunks: the end of the body is the end of the connection.
            None => close = true,
        }
    }
    close |= says_close(headers);
    if close {
        if !says_close(headers) {
            headers.append(header::CONNECTION, HeaderValue::from_static("close"));
        }
    } else if req.version == Version::HTTP_10 && !headers.contains_key(header::CONNECTION) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    let head = serialize(status, headers);
    drop(parts);

    let mut out = Out::new(stream, timeout);
    if bodiless || req.head {
        out.write_all(&head).await?;
        body.finish();
        return Ok(!close);
    }
    let result = match body.take_kind() {
        Kind::Empty => out.write_all(&head).await,
        Kind::Full(bytes) => write_full(&mut out, &head, &bytes, &mut body, chunked).await,
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

fn says_close(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

fn parse_length(v: &HeaderValue) -> Option<u64> {
    std::str::from_utf8(v.as_bytes()).ok()?.trim().parse().ok()
}

/// Head and in-memory body in one `writev` (repeated only if the socket takes less).
async fn write_full(
    out: &mut Out<'_>,
    head: &[u8],
    bytes: &Bytes,
    body: &mut Body,
    chunked: bool,
) -> io::Result<()> {
    if chunked {
        // Only for a body whose length was unknown, which full bodies never are.
        out.write_all(head).await?;
        write_chunk(out, bytes, body).await?;
        return out.write_all(b"0\r\n\r\n").await;
    }
    let mut done = 0;
    let r = write_parts(out, [head, bytes], &mut done).await;
    body.record_sent(done.saturating_sub(head.len()) as u64);
    r
}

/// One chunk of a chunked body; counts the data bytes that went out (also when the write
/// fails half-way).
async fn write_chunk(out: &mut Out<'_>, data: &[u8], body: &mut Body) -> io::Result<()> {
    let size = format!("{:x}\r\n", data.len());
    let mut done = 0;
    let r = write_parts(out, [size.as_bytes(), data, b"\r\n"], &mut done).await;
    body.record_sent(done.saturating_sub(size.len()).min(data.len()) as u64);
    r
}

/// Writes `parts` one after the other, with `writev` calls that start where the socket
/// stopped taking; `done`: how many bytes went out, kept right when a write fails.
async fn write_parts<const N: usize>(
    out: &mut Out<'_>,
    parts: [&[u8]; N],
    done: &mut usize,
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
        *done += out.write_vectored(&slices[..used]).await?;
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
            let r = write_parts(out, [&data], &mut done).await;
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

/// The status line, the fields and a `Date` (unless the response has one).
fn serialize(status: StatusCode, headers: &HeaderMap) -> Vec<u8> {
    let size: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    let mut out = Vec::with_capacity(size + 80);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        clock::push_http_date(&mut out, SystemTime::now());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_serialised_with_a_date() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(5));
        let text = String::from_utf8(serialize(StatusCode::NOT_FOUND, &h)).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\ndate: "));
        assert!(text.ends_with(" GMT\r\n\r\n"));
        let date = text.split("date: ").nth(1).unwrap().trim_end();
        assert!(httpdate::parse_http_date(date).is_ok());
    }

    #[test]
    fn close_tokens_are_found() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("TE, Close"));
        assert!(says_close(&h));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(!says_close(&h));
    }
}
