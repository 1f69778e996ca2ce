//! Built-in error pages: a short HTML page naming the status, used when the virtual server
//! has no error handler for it (or the error handler's own page fails).

use crate::http::body;
use crate::http::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use std::sync::OnceLock;

/// The statuses whose pages are kept: 400-431 and 500-511, where every error a handler
/// or the connection layer answers lies. Another status is rendered each time.
const CLIENT: std::ops::RangeInclusive<u16> = 400..=431;
const SERVER: std::ops::RangeInclusive<u16> = 500..=511;
const KEPT: usize = 32 + 12;

/// One generation's built-in pages (they name its `Server` value), each rendered the
/// first time it is needed and then shared: a flood of 404s costs no formatting, and
/// finding a page is an index and one atomic load, with no lock.
pub struct Pages {
    server: HeaderValue,
    kept: [OnceLock<Bytes>; KEPT],
}

impl Pages {
    pub fn new(server: HeaderValue) -> Pages {
        Pages {
            server,
            kept: [const { OnceLock::new() }; KEPT],
        }
    }

    /// A complete error response for `status`.
    pub fn response(&self, status: StatusCode, method: &Method) -> Response {
        respond(status, method, || self.page(status))
    }

    fn page(&self, status: StatusCode) -> Bytes {
        let code = status.as_u16();
        let slot = if CLIENT.contains(&code) {
            Some(usize::from(code - CLIENT.start()))
        } else if SERVER.contains(&code) {
            Some(usize::from(code - SERVER.start()) + CLIENT.len())
        } else {
            None
        };
        match slot.and_then(|i| self.kept.get(i)) {
            Some(kept) => kept.get_or_init(|| render(status, &self.server)).clone(),
            None => render(status, &self.server),
        }
    }
}

/// A complete error response for `status`, rendered now: for the few answers given
/// outside a generation (a request head that cannot be read), which close the
/// connection anyway.
pub fn response(status: StatusCode, method: &Method, server: &HeaderValue) -> Response {
    respond(status, method, || render(status, server))
}

fn respond(status: StatusCode, method: &Method, page: impl FnOnce() -> Bytes) -> Response {
    if !crate::http::response::allows_body(status) {
        let mut resp = Response::new(body::empty());
        *resp.status_mut() = status;
        return resp;
    }
    let html = page();
    let len = html.len();
    let head = *method == Method::HEAD;
    let mut resp = Response::new(if head {
        body::empty()
    } else {
        body::full(html)
    });
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.append(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if head {
        super::head_length(h, len);
    }
    resp
}

fn render(status: StatusCode, server: &HeaderValue) -> Bytes {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("Error");
    Bytes::from(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n\
         <body><h1>{code} {reason}</h1>\n<p>{}</p>\n<hr><address>{}</address></body></html>\n",
        explanation(status),
        server.to_str().unwrap_or("Baton")
    ))
}

fn explanation(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request could not be understood by the server.",
        401 => "This resource requires authentication.",
        403 => "You are not allowed to access this resource.",
        404 => "The requested URL was not found on this server.",
        405 => "The method is not allowed for this resource.",
        408 => "The server timed out waiting for the request.",
        412 => "A precondition of the request was not met.",
        413 => "The request body is too large.",
        414 => "The request URL is too long.",
        416 => "The requested range cannot be satisfied.",
        426 => "This resource is only available over a secure connection.",
        500 => "The server met an internal error and could not complete the request.",
        501 => "The server does not implement this method.",
        502 => "The server received an invalid response from an upstream server.",
        503 => "The service is temporarily unavailable. Please try again later.",
        504 => "An upstream server did not answer in time.",
        505 => "The HTTP version of the request is not supported.",
        _ => "The request could not be completed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(resp: Response) -> String {
        let bytes = resp.into_parts().1.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn kept_and_rendered_pages_are_the_same() {
        let server = HeaderValue::from_static("Baton/1");
        let pages = Pages::new(server.clone());
        for code in [400, 404, 431, 500, 511, 418, 599, 451] {
            let status = StatusCode::from_u16(code).unwrap();
            let first = text(pages.response(status, &Method::GET)).await;
            let again = text(pages.response(status, &Method::GET)).await;
            let fresh = text(response(status, &Method::GET, &server)).await;
            assert_eq!(first, again, "{code}");
            assert_eq!(first, fresh, "{code}");
            assert!(first.contains(&format!("<h1>{code} ")), "{code}: {first}");
            assert!(first.contains("<address>Baton/1</address>"), "{code}");
        }
    }

    #[tokio::test]
    async fn head_has_the_length_and_no_body() {
        let pages = Pages::new(HeaderValue::from_static("Baton"));
        let get = pages.response(StatusCode::NOT_FOUND, &Method::GET);
        let len = http_body::Body::size_hint(get.body()).exact();
        let head = pages.response(StatusCode::NOT_FOUND, &Method::HEAD);
        assert_eq!(
            head.headers().get(header::CONTENT_LENGTH).unwrap(),
            &HeaderValue::from(len.unwrap())
        );
        assert_eq!(text(head).await, "");
    }

    #[test]
    fn statuses_without_a_body_have_none() {
        let pages = Pages::new(HeaderValue::from_static("Baton"));
        let resp = pages.response(StatusCode::NOT_MODIFIED, &Method::GET);
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        assert!(resp.headers().get(header::CONTENT_TYPE).is_none());
    }
}
