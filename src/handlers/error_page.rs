//! Built-in error pages: a short HTML page naming the status, used when the virtual server
//! has no error handler for it (or the error handler's own page fails).

use crate::http::body;
use crate::http::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use std::sync::{Mutex, OnceLock};

/// A complete error response for `status`.
pub fn response(status: StatusCode, method: &Method, server: &HeaderValue) -> Response {
    if !crate::http::response::allows_body(status) {
        let mut resp = Response::new(body::empty());
        *resp.status_mut() = status;
        return resp;
    }
    let html = page(status, server);
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

/// The page for `status`, rendered once per status and `Server` value: a flood of 404s
/// costs no formatting.
fn page(status: StatusCode, server: &HeaderValue) -> Bytes {
    // A short list scanned in order: a handful of statuses per `Server` value, cheaper to
    // compare than to hash.
    type Pages = Mutex<Vec<(u16, HeaderValue, Bytes)>>;
    static PAGES: OnceLock<Pages> = OnceLock::new();
    let code = status.as_u16();
    let pages = PAGES.get_or_init(Pages::default);
    let found = pages.lock().ok().and_then(|m| {
        m.iter()
            .find(|(c, s, _)| *c == code && s == server)
            .map(|(_, _, page)| page.clone())
    });
    if let Some(page) = found {
        return page;
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    let html = Bytes::from(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n\
         <body><h1>{code} {reason}</h1>\n<p>{}</p>\n<hr><address>{}</address></body></html>\n",
        explanation(status),
        server.to_str().unwrap_or("Baton")
    ));
    if let Ok(mut m) = pages.lock() {
        // Bounded: one entry per status and server token setting, few of either.
        if m.len() < 64 {
            m.push((code, server.clone(), html.clone()));
        }
    }
    html
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
