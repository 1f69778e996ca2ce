//! A response as handlers make it and the connection layer writes it: status, header
//! [`Fields`] and [`Body`]. Shaped like `http::Response` (same method names), without
//! its version and extensions, which nothing here sets, and with Baton's own fields.

use super::body::Body;
use super::fields::Fields;
use http::StatusCode;

#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: Fields,
    body: Body,
}

/// A response's head, taken apart from its body.
#[derive(Debug)]
pub struct Parts {
    pub status: StatusCode,
    pub headers: Fields,
}

impl Response {
    /// `200 OK` with no fields.
    pub fn new(body: Body) -> Response {
        Response {
            status: StatusCode::OK,
            headers: Fields::new(),
            body,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn status_mut(&mut self) -> &mut StatusCode {
        &mut self.status
    }

    pub fn headers(&self) -> &Fields {
        &self.headers
    }

    pub fn headers_mut(&mut self) -> &mut Fields {
        &mut self.headers
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    pub fn into_parts(self) -> (Parts, Body) {
        (
            Parts {
                status: self.status,
                headers: self.headers,
            },
            self.body,
        )
    }

    /// The same head with the body `f` makes of this one.
    pub fn map(self, f: impl FnOnce(Body) -> Body) -> Response {
        Response {
            status: self.status,
            headers: self.headers,
            body: f(self.body),
        }
    }
}

/// Whether a response with `status` may have a body: 1xx, 204 and 304 never do (RFC 9110
/// §6.4.1), whatever their fields say.
pub fn allows_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}
