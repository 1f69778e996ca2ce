//! Handlers: what answers a request once the rules have chosen.
//!
//! One module per handler behind one entry point, [`serve`], which dispatches on the
//! compiled [`HandlerConfig`] (never on a name). A handler answers with an [`Outcome`]: a
//! response, an internal redirection (the pipeline evaluates the rules again for the new
//! path), an error status (the pipeline runs the virtual server's error handler), or
//! dropping the connection.

pub mod dirlist;
pub mod dirlist_cache;
pub mod dirlist_render;
pub mod error_page;
pub mod file;
pub mod iocache;
pub mod redir;

use crate::config::{HandlerConfig, VServer};
use crate::http::body;
use crate::http::fields::Fields;
use crate::http::response::Response;
use crate::rules::Behavior;
use crate::snapshot::Generation;
use http::{header, HeaderValue, Method, StatusCode};

/// Everything a handler may look at.
pub struct Ctx<'a> {
    pub generation: &'a Generation,
    pub vserver: &'a VServer,
    pub behavior: &'a Behavior<'a>,
    pub method: &'a Method,
    pub headers: &'a Fields,
    /// Decoded, normalised path.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The request's host (lower case, no port), if it sent one.
    pub host: Option<&'a str>,
    /// Groups of a regular-expression host match, for `^1`… in redirections.
    pub host_groups: &'a [String],
    /// The request's state of the I/O cache's change queue, shared by its respins.
    pub checked: &'a iocache::Checked,
}

pub enum Outcome {
    Response(Response),
    /// Serve this path (and query) instead, evaluating the rules again.
    Internal {
        path: String,
        query: Option<String>,
    },
    Error(HttpError),
    /// Close the connection without an answer (the `drop` handler).
    Drop,
}

/// An error status, with headers that belong to it (`Allow` on 405, `Content-Range` on
/// 416…). Its body comes from the error handler.
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub headers: Fields,
}

impl HttpError {
    pub fn new(status: StatusCode) -> Self {
        HttpError {
            status,
            headers: Fields::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}

impl Outcome {
    pub fn error(status: StatusCode) -> Outcome {
        Outcome::Error(HttpError::new(status))
    }
}

/// Runs the handler chosen by the rules.
pub async fn serve(handler: &HandlerConfig, ctx: &Ctx<'_>) -> Outcome {
    match handler {
        HandlerConfig::File(opts) => file::serve(ctx, opts, None).await,
        HandlerConfig::Common(opts) => file::serve(ctx, &opts.file, Some(opts)).await,
        HandlerConfig::Dirlist(opts) => dirlist::serve(ctx, opts).await,
        HandlerConfig::Redir(opts) => redir::serve(ctx, opts),
        HandlerConfig::CustomError(status) => Outcome::error(*status),
        HandlerConfig::EmptyGif => empty_gif(ctx.method),
        HandlerConfig::Drop => Outcome::Drop,
    }
}

/// The smallest transparent GIF: 1x1 pixel, one transparent colour.
const EMPTY_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Says the length of a HEAD answer, whose body is not made. A body that is sent needs no
/// `Content-Length` from its handler: the connection layer writes the exact size every
/// body kind knows (a field here would be one more value allocated, inserted and read
/// back per response).
pub fn head_length(h: &mut Fields, len: impl Into<HeaderValue>) {
    h.insert(header::CONTENT_LENGTH, len.into());
}

fn empty_gif(method: &Method) -> Outcome {
    let body = if method == Method::HEAD {
        body::empty()
    } else {
        body::full(EMPTY_GIF)
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    if method == Method::HEAD {
        head_length(h, EMPTY_GIF.len());
    }
    Outcome::Response(resp)
}

/// Methods the static handlers answer; anything else gets 405 (a method HTTP defines) or
/// 501 (one it does not).
pub fn check_static_method(method: &Method) -> Result<(), HttpError> {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => Ok(()),
        Method::POST
        | Method::PUT
        | Method::DELETE
        | Method::PATCH
        | Method::TRACE
        | Method::CONNECT => Err(HttpError::new(StatusCode::METHOD_NOT_ALLOWED)
            .with_header(header::ALLOW, HeaderValue::from_static(STATIC_ALLOW))),
        _ => Err(HttpError::new(StatusCode::NOT_IMPLEMENTED)),
    }
}

pub const STATIC_ALLOW: &str = "GET, HEAD, OPTIONS";

/// `OPTIONS` on a static resource: what can be done with it.
pub fn options_response() -> Outcome {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(STATIC_ALLOW));
    Outcome::Response(resp)
}

/// A directory asked for without its trailing slash: `301` to the slash form (the query
/// kept), so relative links in its index or listing resolve.
pub fn to_directory(ctx: &Ctx<'_>) -> Outcome {
    let mut location = crate::http::path::encode(&format!("{}/", ctx.path));
    if let Some(q) = ctx.query {
        location.push('?');
        location.push_str(q);
    }
    moved_permanently(&location)
}

/// A `301` to `location` (already a valid URL).
pub fn moved_permanently(location: &str) -> Outcome {
    redirect(StatusCode::MOVED_PERMANENTLY, location)
}

pub fn redirect(status: StatusCode, location: &str) -> Outcome {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut resp = Response::new(body::empty());
            *resp.status_mut() = status;
            resp.headers_mut().insert(header::LOCATION, v);
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            Outcome::Response(resp)
        }
        Err(_) => {
            tracing::warn!(location, "redirection target is not a valid header value");
            Outcome::error(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
