//! HTTP/1.1 over TLS, served by hyper: the pipeline as a hyper service.
//!
//! Why hyper here and Baton's own layer (`crate::http1`) on plain listeners: that layer's
//! gains are `sendfile` and `writev` straight from the socket, which TLS rules out (every
//! byte is encrypted in user space).
//!
//! Each request takes the live generation when it starts and keeps it, with its place
//! among the connection's requests in flight, until its response body is sent.

use crate::http::target::Target;
use crate::in_flight::{InFlight, Streams};
use crate::lifecycle::State;
use crate::pipeline::{self, ConnInfo, DropConnection};
use crate::snapshot::Generation;
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The pipeline as a hyper service (HTTP/1.1 over TLS).
#[derive(Clone)]
pub struct Service {
    pub info: Arc<ConnInfo>,
    pub state: Arc<State>,
    pub streams: Arc<Streams>,
}

impl hyper::service::Service<http::Request<Incoming>> for Service {
    type Response = http::Response<Outgoing>;
    type Error = DropConnection;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, DropConnection>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.answer(request).await })
    }
}

impl Service {
    async fn answer(
        self,
        request: http::Request<Incoming>,
    ) -> Result<http::Response<Outgoing>, DropConnection> {
        let flight = self.streams.start(self.info.clone());
        let (head, mut body) = request.into_parts();
        let head_only = head.method == Method::HEAD;
        let generation = self.state.current();
        let answer = match request_parts(head) {
            Some(parts) => pipeline::handle(&parts, &mut body, &self.info, generation).await?,
            // A target hyper took and Baton does not (user information in it).
            None => pipeline::malformed(StatusCode::BAD_REQUEST, &Method::GET, generation),
        };
        Ok(response(answer, head_only, flight))
    }
}

/// Baton's request head from hyper's; `None` for a target Baton refuses.
fn request_parts(head: http::request::Parts) -> Option<crate::http::request::Parts> {
    // The usual origin form is hyper's path and query as received; only an absolute or
    // authority form is put back together by formatting.
    let text = match head.uri.path_and_query() {
        Some(pq) if head.uri.authority().is_none() => {
            Bytes::copy_from_slice(pq.as_str().as_bytes())
        }
        _ => Bytes::from(head.uri.to_string()),
    };
    let target = Target::parse(text).ok()?;
    let mut headers = crate::http::fields::Fields::with_capacity(head.headers.len());
    let mut name = None;
    for (n, value) in head.headers {
        // A name is given with the first of its values only.
        if let Some(n) = n {
            name = Some(n);
        }
        if let Some(n) = &name {
            headers.append(n.clone(), value);
        }
    }
    Some(crate::http::request::Parts {
        method: head.method,
        target,
        version: head.version,
        headers,
    })
}

/// hyper's response from the pipeline's answer.
fn response(
    answer: pipeline::Answer,
    head_only: bool,
    flight: InFlight,
) -> http::Response<Outgoing> {
    let (parts, body) = answer.response.into_parts();
    // A response to HEAD carries the length its body would have had.
    let length = http_body::Body::size_hint(&body).exact();
    let body = if head_only {
        drop(body);
        crate::http::body::empty()
    } else {
        body
    };
    let mut out = http::Response::new(Outgoing {
        body,
        _generation: answer.generation.clone(),
        _flight: flight,
    });
    *out.status_mut() = parts.status;
    let headers = out.headers_mut();
    headers.reserve(parts.headers.iter().count() + 1);
    for (name, value) in parts.headers {
        headers.append(name, value);
    }
    headers.insert(header::SERVER, answer.generation.server_header.clone());
    let may_have_body = crate::http::response::allows_body(parts.status);
    if head_only && may_have_body && !headers.contains_key(header::CONTENT_LENGTH) {
        if let Some(n) = length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    if answer.close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    out
}

/// A response body as hyper sends it: the pipeline's body, with the generation the request
/// ran on and its place among the connection's requests in flight, both held until the
/// body is sent or dropped.
pub struct Outgoing {
    body: crate::http::body::Body,
    _generation: Arc<Generation>,
    _flight: InFlight,
}

impl http_body::Body for Outgoing {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::request_parts;

    fn parts(target: &str) -> Option<crate::http::request::Parts> {
        let (head, ()) = http::Request::get(target).body(()).unwrap().into_parts();
        request_parts(head)
    }

    #[test]
    fn origin_absolute_and_asterisk_targets_read_as_on_plain_http() {
        let p = parts("/a%20b/c.txt?x=1&y").unwrap();
        assert_eq!(
            (p.target.path(), p.target.query()),
            ("/a%20b/c.txt", Some("x=1&y"))
        );
        assert_eq!(p.target.host(), None);

        let p = parts("https://example.com:8443/docs/?q").unwrap();
        assert_eq!(p.target.host(), Some("example.com"));
        assert_eq!((p.target.path(), p.target.query()), ("/docs/", Some("q")));

        let p = parts("*").unwrap();
        assert_eq!(p.target.path_and_query(), "*");
    }
}
