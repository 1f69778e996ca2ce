//! The flow of one request, from the `Request` the connection layer (`http1`) parsed to
//! the `Response` handed back:
//!
//! ```text
//! parse target and host -> select virtual server -> evaluate rules -> access checks
//!   -> handler (internal redirections evaluate the rules again, a bounded number of times)
//!   -> error handler for error statuses -> transforms (headers, expiration, encoders)
//!   -> Server / Connection headers -> access log when the body is done
//! ```
//!
//! Nothing here may panic or `unwrap` on request data: every failure becomes a status
//! code and, for server-side failures, a log line.

use crate::config::{ErrorHandler, VServer};
use crate::handlers::{self, Ctx, HttpError, Outcome};
use crate::http::fields::Fields;
use crate::http::path::{decode_and_normalize, normalize};
use crate::http::response::Response;
use crate::http::target::Target;
use crate::log::AccessRecord;
use crate::rules::{self, Behavior, RequestFacts};
use crate::snapshot::Generation;
use crate::stats::Stats;
use crate::transform;
use http::{header, HeaderValue, Method, StatusCode, Version};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// How many times one request may be sent through the rules again (internal redirections,
/// directory indexes, error pages) before it is answered with 500.
pub const MAX_RESPINS: usize = 8;

/// What the pipeline knows about the connection a request came on.
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// `server!bind!N` of the listener.
    pub bind_id: u64,
    pub tls: bool,
    /// Requests seen on this connection so far.
    pub requests: AtomicU64,
    /// The generation of the request in progress (0: none). A drain deadline closes
    /// connections whose request is still on a generation older than the live one.
    pub active: AtomicU64,
    pub stats: Arc<Stats>,
    /// Set when this process is handing over or stopping: every response closes its
    /// connection (rather than closing idle connections under a client's next request).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// The port of the server's first TLS listener as bound (0: none), where HSTS sends
    /// plain requests.
    pub https_port: Arc<std::sync::atomic::AtomicU16>,
}

impl ConnInfo {
    /// A connection just accepted from `remote` on `local` (listener `bind_id`), sharing
    /// the server's statistics and lifecycle flags.
    pub fn new(
        remote: SocketAddr,
        local: SocketAddr,
        bind_id: u64,
        tls: bool,
        state: &crate::lifecycle::State,
    ) -> ConnInfo {
        ConnInfo {
            remote,
            local,
            bind_id,
            tls,
            requests: AtomicU64::new(0),
            active: AtomicU64::new(0),
            stats: state.stats.clone(),
            draining: state.draining.clone(),
            https_port: state.https_port.clone(),
        }
    }
}

/// The connection is to be closed without an answer (the `drop` handler).
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the drop handler")
    }
}

impl std::error::Error for DropConnection {}

/// A response and what the connection layer writes with it.
pub struct Answer {
    pub response: Response,
    /// The connection closes after this response (`Connection: close`).
    pub close: bool,
    /// The generation the request ran on: the connection keeps it until the response
    /// has been written, and writes its `Server` field with the head (rather than this
    /// module adding it to the response's header map, one insert per request).
    pub generation: Arc<Generation>,
}

/// Answers one request with generation `gen`.
///
/// The answer keeps `gen` alive until it has been written: a request that started on a
/// generation finishes on it, and an old generation is freed when its last answer is
/// done. `conn.active` names `gen` from here until the connection layer has written the
/// answer (and clears it).
pub async fn handle<B>(
    parts: &crate::http::request::Parts,
    body: &mut B,
    conn: &Arc<ConnInfo>,
    gen: Arc<Generation>,
) -> Result<Answer, DropConnection>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
{
    // When the request arrived, for the access log: before its body is read, which may
    // take until the timeout. Only read when some virtual server logs.
    let started = gen.logs_access.then(SystemTime::now);
    let nth = conn.requests.fetch_add(1, Ordering::Relaxed) + 1;
    conn.stats.count_request();
    conn.active.store(gen.id, Ordering::Relaxed);

    // No handler here reads request bodies: read and discard a small one so the
    // connection can carry the next request (inviting it with `100 Continue` if the
    // client waits for that, as nginx does), and answer a malformed one with 400.
    let mut must_close = false;
    match discard_body(body, gen.config.server.timeout).await {
        Discarded::Done => {}
        Discarded::Left => must_close = true,
        Discarded::Malformed(status) => return Ok(malformed(status, &parts.method, gen)),
    }

    let parsed = parse_request(&parts.target, &parts.headers, parts.version);
    let (path, query, host) = match parsed {
        Ok(p) => p,
        // A malformed request: answer and close, the client's framing may be off too.
        Err(status) => return Ok(malformed(status, &parts.method, gen)),
    };
    let visitor = crate::vhost::Visitor {
        remote: conn.remote.ip(),
        headers: &parts.headers,
    };
    let selected = gen.hosts.select(
        &gen.config.vservers,
        host.as_deref(),
        conn.local.ip(),
        visitor,
    );
    let vserver = &gen.config.vservers[selected.index];
    // What the access log needs of the request as it came, taken only when there is a
    // log to write.
    let original = gen.access_logs[selected.index]
        .is_some()
        .then(|| (path.clone(), query.clone()));

    let mut flow = Flow {
        gen: &gen,
        vserver,
        conn,
        host: host.as_deref(),
        host_groups: &selected.host_groups,
        checked: Default::default(),
    };
    // HSTS: a plain request to a virtual server that wants TLS goes there, whatever
    // its rules say (RFC 6797 §7.2); one on TLS is told to stay (§7.1).
    let to_tls = match (&vserver.hsts, conn.tls, host.as_deref()) {
        (Some(_), false, Some(h)) => https_location(conn, h, &parts.target),
        _ => None,
    };
    let (mut resp, behavior, final_path) = match to_tls.map(|l| handlers::moved_permanently(&l)) {
        Some(handlers::Outcome::Response(resp)) => (resp, None, path),
        _ => flow.run(&parts.method, &parts.headers, path, query).await?,
    };

    if let Some(b) = &behavior {
        transform::apply(&mut resp, b, &parts.method, &parts.headers);
    }
    if let (Some(hsts), true) = (&vserver.hsts, conn.tls) {
        resp.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, hsts.field.clone());
    }
    let settings = &gen.config.server;
    let close = must_close
        || conn.draining.load(Ordering::Relaxed)
        || !vserver.keepalive
        || (settings.keepalive_max_requests > 0 && nth >= settings.keepalive_max_requests);

    if resp.status().is_server_error() {
        if let Some(elog) = &gen.error_logs[selected.index] {
            elog.log(
                "error",
                &format!(
                    "{} {} from {} answered {}",
                    parts.method,
                    parts.target,
                    conn.remote.ip(),
                    resp.status().as_u16()
                ),
            );
        }
    }
    let log = original
        .filter(|_| behavior.as_ref().is_none_or(|b| b.no_log != Some(true)))
        .map(|(path, query)| {
            LogLine::new(
                parts,
                started.unwrap_or_else(SystemTime::now),
                resp.status().as_u16(),
                path,
                final_path,
                query,
            )
        });
    let response = match log {
        // The access log line is written when the body is done (or dropped half-way by a
        // client that went away), with the bytes the connection layer really sent.
        Some(line) => {
            let index = selected.index;
            let (conn, gen) = (conn.clone(), gen.clone());
            resp.map(|body| {
                body.on_finish(move |bytes| {
                    if let Some(logger) = gen.access_logs[index].as_ref() {
                        line.write(logger, &conn, &gen.config.vservers[index].nick, bytes);
                    }
                })
            })
        }
        None => resp,
    };
    Ok(Answer {
        response,
        close,
        generation: gen,
    })
}

/// The answer to a request that cannot be served as it came (bad target, bad body): the
/// built-in page, and the connection closes after it.
pub(crate) fn malformed(status: StatusCode, method: &Method, gen: Arc<Generation>) -> Answer {
    Answer {
        response: gen.error_pages.response(status, method),
        close: true,
        generation: gen,
    }
}

/// The most request-body bytes read and thrown away to keep a connection open.
const DISCARD_LIMIT: u64 = 1 << 20;

enum Discarded {
    /// Nothing left to read: the connection can carry another request.
    Done,
    /// A large body is left unread: the connection closes after the response.
    Left,
    /// The body's framing is broken (bad chunk), or it did not arrive in time.
    Malformed(StatusCode),
}

/// Reads and drops the request body, all of it (with the `100 Continue` the connection
/// layer sends first when asked for) within `limit`, the write timeout included.
async fn discard_body<B>(body: &mut B, limit: std::time::Duration) -> Discarded
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
{
    use http_body_util::BodyExt;
    if body.is_end_stream() {
        return Discarded::Done;
    }
    // A body declared too large to be worth reading is not read, nor invited if the
    // client waits for `100 Continue` (RFC 9110 §10.1.1 lets a server answer without
    // it): the answer comes at once, and the connection closes after it.
    if body.size_hint().lower() > DISCARD_LIMIT {
        return Discarded::Left;
    }
    let read = async {
        let mut seen: u64 = 0;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(data) = f.data_ref() {
                        seen += data.len() as u64;
                        if seen > DISCARD_LIMIT {
                            return Discarded::Left;
                        }
                    }
                }
                Err(_) => return Discarded::Malformed(StatusCode::BAD_REQUEST),
            }
        }
        Discarded::Done
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or(Discarded::Malformed(StatusCode::REQUEST_TIMEOUT))
}

/// What the access log needs of a request, kept until its body has been sent (the line
/// is written then, with the number of bytes that actually went out).
struct LogLine {
    started: SystemTime,
    method: String,
    target: String,
    version: &'static str,
    status: u16,
    path: String,
    final_path: String,
    query: Option<String>,
    referer: Option<String>,
    user_agent: Option<String>,
    cookie: Option<String>,
    host: Option<String>,
}

impl LogLine {
    fn new(
        parts: &crate::http::request::Parts,
        started: SystemTime,
        status: u16,
        path: String,
        final_path: String,
        query: Option<String>,
    ) -> LogLine {
        let header = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        LogLine {
            started,
            method: parts.method.to_string(),
            target: parts.target.path_and_query().to_string(),
            version: version_str(parts.version),
            status,
            path,
            final_path,
            query,
            referer: header(header::REFERER),
            user_agent: header(header::USER_AGENT),
            cookie: header(header::COOKIE),
            host: header(header::HOST),
        }
    }

    fn write(&self, logger: &crate::log::AccessLogger, conn: &ConnInfo, vserver: &str, bytes: u64) {
        logger.log(&AccessRecord {
            remote: conn.remote.ip(),
            local: conn.local,
            tls: conn.tls,
            time: self.started,
            method: &self.method,
            target: &self.target,
            version: self.version,
            path: &self.final_path,
            original_path: &self.path,
            query: self.query.as_deref(),
            status: self.status,
            bytes: Some(bytes),
            user: None,
            host: self.host.as_deref(),
            referer: self.referer.as_deref(),
            user_agent: self.user_agent.as_deref(),
            cookie: self.cookie.as_deref(),
            vserver,
        });
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

/// Path, query and host of a request, or the 4xx that it deserves.
type Parsed<'r> = (String, Option<String>, Option<Cow<'r, str>>);

fn parse_request<'r>(
    target: &'r Target,
    headers: &'r Fields,
    version: Version,
) -> Result<Parsed<'r>, StatusCode> {
    let path = decode_and_normalize(target.path()).map_err(|_| StatusCode::BAD_REQUEST)?;
    let query = target.query().map(str::to_string);
    let mut hosts = headers.get_all(header::HOST);
    let host_header = hosts.next();
    if hosts.next().is_some() {
        // RFC 9112 §3.2: more than one Host is a bad request.
        return Err(StatusCode::BAD_REQUEST);
    }
    // The authority of an absolute-form target wins over the Host header (RFC 9112 §3.2.2).
    let raw_host = match target.host() {
        host @ Some(_) => host,
        None => match host_header {
            Some(h) => Some(h.to_str().map_err(|_| StatusCode::BAD_REQUEST)?),
            None if version == Version::HTTP_11 => return Err(StatusCode::BAD_REQUEST),
            None => None,
        },
    };
    let host = match raw_host {
        Some(h) => Some(clean_host(h).ok_or(StatusCode::BAD_REQUEST)?),
        None => None,
    };
    Ok((path, query, host.filter(|h| !h.is_empty())))
}

/// `resp` with the fields the error asks for (`Allow` of a 405, `Upgrade` of a 426, ...).
fn with_error_fields(mut resp: Response, err: &HttpError) -> Response {
    for (name, value) in err.headers.iter() {
        resp.headers_mut().insert(name, value.clone());
    }
    resp
}

/// Where a plain request for `host` goes on TLS: the same target on the server's first
/// TLS listener (its port left out when it is 443). `None` without a TLS listener.
fn https_location(conn: &ConnInfo, host: &str, target: &Target) -> Option<String> {
    let port = match conn.https_port.load(Ordering::Relaxed) {
        0 => return None,
        p => p,
    };
    let target = match target.path_and_query() {
        "" => "/",
        t => t,
    };
    Some(match port {
        443 => format!("https://{host}{target}"),
        port => format!("https://{host}:{port}{target}"),
    })
}

/// The host without port, lower case, without a trailing dot (borrowed when `raw` has no
/// upper case: most clients send it in lower case). `None` when malformed.
pub(crate) fn clean_host(raw: &str) -> Option<Cow<'_, str>> {
    // ASCII only (a Host is ASCII; other bytes are refused below): `trim`'s Unicode
    // whitespace decodes characters, 170 instructions a request.
    let raw = raw.trim_ascii();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // [v6]:port
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        &raw[..end + 2]
    } else {
        match raw.bytes().rposition(|b| b == b':') {
            Some(colon) if raw[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => &raw[..colon],
            Some(_) => return None,
            None => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    // One pass, by table: every request has a host.
    let mut upper = false;
    for &b in host.as_bytes() {
        match HOST_BYTES[usize::from(b)] {
            HostByte::Lower => {}
            HostByte::Upper => upper = true,
            HostByte::Bad => return None,
        }
    }
    Some(if upper {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

#[derive(Clone, Copy)]
enum HostByte {
    /// Allowed as it is: `a-z`, digits, `-._[]:`.
    Lower,
    /// `A-Z`: allowed, lower-cased.
    Upper,
    Bad,
}

/// What each byte is in a host name.
const HOST_BYTES: [HostByte; 256] = {
    let mut table = [HostByte::Bad; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_uppercase() {
            table[b] = HostByte::Upper;
        } else if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'[' | b']' | b':')
        {
            table[b] = HostByte::Lower;
        }
        b += 1;
    }
    table
};

/// What the error handler serves of the virtual server for an error.
enum Served<'v> {
    /// `error_redir` to a local URL.
    Page(&'v str),
    /// `error_nn`: the closest existing name.
    Closest,
}

/// The per-request state the respin loop works with.
struct Flow<'g> {
    gen: &'g Generation,
    vserver: &'g VServer,
    conn: &'g ConnInfo,
    host: Option<&'g str>,
    host_groups: &'g [String],
    checked: handlers::iocache::Checked,
}

type FlowResult<'g> = Result<(Response, Option<Behavior<'g>>, String), DropConnection>;

impl<'g> Flow<'g> {
    /// Evaluates and serves, following internal redirections; then the error handler.
    async fn run(
        &mut self,
        method: &Method,
        headers: &Fields,
        mut path: String,
        mut query: Option<String>,
    ) -> FlowResult<'g> {
        let mut last_behavior = None;
        for _ in 0..MAX_RESPINS {
            let (outcome, behavior) = self.once(method, headers, &path, query.as_deref()).await;
            last_behavior = Some(behavior);
            match outcome {
                Outcome::Response(resp) => return Ok((resp, last_behavior, path)),
                Outcome::Internal { path: p, query: q } => match normalize(&p) {
                    Ok(p) => {
                        path = p;
                        query = q;
                    }
                    Err(e) => {
                        tracing::warn!(target = %p, error = %e, "invalid internal redirection");
                        let resp = self.internal_error(method, &path).await;
                        return Ok((resp, last_behavior, path));
                    }
                },
                Outcome::Error(e) => {
                    // `error`'s body, inline: entering its future for the common answer
                    // made in place cost a state machine a request.
                    let resp = match self.error_now(method, e) {
                        Ok(resp) => resp,
                        Err((e, served)) => self.error_served(method, e, served, &path).await,
                    };
                    return Ok((resp, last_behavior, path));
                }
                Outcome::Drop => return Err(DropConnection),
            }
        }
        tracing::warn!(
            vserver = %self.vserver.nick,
            path = %path,
            "too many internal redirections (more than {MAX_RESPINS}); answering 500"
        );
        let resp = self.internal_error(method, &path).await;
        Ok((resp, last_behavior, path))
    }

    async fn internal_error(&self, method: &Method, path: &str) -> Response {
        self.error(
            method,
            HttpError::new(StatusCode::INTERNAL_SERVER_ERROR),
            path,
        )
        .await
    }

    /// One evaluation of the rules and one handler run.
    async fn once(
        &self,
        method: &Method,
        headers: &Fields,
        path: &str,
        query: Option<&str>,
    ) -> (Outcome, Behavior<'g>) {
        let facts = RequestFacts {
            path,
            query,
            method,
            headers,
            remote: self.conn.remote.ip(),
            bind_id: self.conn.bind_id,
            tls: self.conn.tls,
        };
        let behavior = rules::evaluate(self.vserver, &facts);
        if behavior.only_secure && !self.conn.tls {
            let e = HttpError::new(StatusCode::UPGRADE_REQUIRED)
                .with_header(
                    header::UPGRADE,
                    HeaderValue::from_static("TLS/1.3, HTTP/1.1"),
                )
                .with_header(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            return (Outcome::Error(e), behavior);
        }
        if let Some(nets) = behavior.allow_from {
            let ip = crate::vhost::canonical(self.conn.remote.ip());
            if !nets.iter().any(|n| n.contains(&ip)) {
                return (Outcome::error(StatusCode::FORBIDDEN), behavior);
            }
        }
        let Some(handler) = behavior.handler else {
            tracing::warn!(
                vserver = %self.vserver.nick,
                path,
                "no rule with a handler matched; add a default rule"
            );
            return (Outcome::error(StatusCode::INTERNAL_SERVER_ERROR), behavior);
        };
        let ctx = Ctx {
            generation: self.gen,
            vserver: self.vserver,
            behavior: &behavior,
            method,
            headers,
            path,
            query,
            host: self.host,
            host_groups: self.host_groups,
            checked: &self.checked,
        };
        let outcome = match behavior.timeout {
            Some(limit) => {
                match tokio::time::timeout(limit, handlers::serve(handler, &ctx)).await {
                    Ok(o) => o,
                    Err(_) => Outcome::error(StatusCode::GATEWAY_TIMEOUT),
                }
            }
            None => handlers::serve(handler, &ctx).await,
        };
        (outcome, behavior)
    }

    /// The answer for an error status: the virtual server's error handler if it has one
    /// for this status, else the built-in page.
    ///
    /// The error handlers that serve a page run the rules again: their futures are boxed,
    /// so that the future of every request (copied to the heap as a whole by the
    /// connection) does not carry their size when they are not used.
    async fn error(&self, method: &Method, err: HttpError, path: &str) -> Response {
        match self.error_now(method, err) {
            Ok(resp) => resp,
            Err((err, served)) => self.error_served(method, err, served, path).await,
        }
    }

    /// The answer for an error status when making it needs no I/O (the built-in page, or
    /// a redirection elsewhere), which is the common case: callers try this before
    /// entering [`Flow::error_served`]'s future. `Err` hands the error back, with what
    /// of this virtual server the error handler serves for it.
    fn error_now(
        &self,
        method: &Method,
        err: HttpError,
    ) -> Result<Response, (HttpError, Served<'g>)> {
        let status = err.status;
        let resp = match &self.vserver.error_handler {
            Some(ErrorHandler::Redirect { by_status, default }) => {
                match by_status.get(&status.as_u16()).or(default.as_ref()) {
                    Some(t) if t.external => {
                        // Temporary by nature: the error may be gone next time.
                        match handlers::redirect(
                            StatusCode::FOUND,
                            &crate::http::path::encode_location(&t.url),
                        ) {
                            Outcome::Response(r) => r,
                            _ => self.builtin(status, method),
                        }
                    }
                    Some(t) => return Err((err, Served::Page(&t.url))),
                    None => self.builtin(status, method),
                }
            }
            Some(ErrorHandler::ClosestMatch) if status == StatusCode::NOT_FOUND => {
                return Err((err, Served::Closest))
            }
            _ => self.builtin(status, method),
        };
        Ok(with_error_fields(resp, &err))
    }

    /// The error answers that serve something of this virtual server (what
    /// [`Flow::error_now`] found): the error handler's page for the status, or the
    /// closest existing name for a 404.
    async fn error_served(
        &self,
        method: &Method,
        err: HttpError,
        served: Served<'_>,
        path: &str,
    ) -> Response {
        let status = err.status;
        let resp = match served {
            Served::Page(url) => Box::pin(self.error_page(method, url, status)).await,
            Served::Closest => match Box::pin(self.closest(method, path)).await {
                Some(r) => r,
                None => self.builtin(status, method),
            },
        };
        with_error_fields(resp, &err)
    }

    fn builtin(&self, status: StatusCode, method: &Method) -> Response {
        self.gen.error_pages.response(status, method)
    }

    /// Serves `url` of this virtual server as the page for `status`. The request is made
    /// as a plain GET (or HEAD) without conditionals or ranges; if the page itself fails,
    /// the built-in page is used.
    async fn error_page(&self, method: &Method, url: &str, status: StatusCode) -> Response {
        let page_method = if *method == Method::HEAD {
            Method::HEAD
        } else {
            Method::GET
        };
        let headers = Fields::new();
        let (mut path, mut query) = match url.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (url.to_string(), None),
        };
        for _ in 0..MAX_RESPINS {
            let Ok(p) = normalize(&path) else { break };
            let (outcome, _) = self
                .once(&page_method, &headers, &p, query.as_deref())
                .await;
            match outcome {
                Outcome::Response(mut r) if r.status() == StatusCode::OK => {
                    *r.status_mut() = status;
                    r.headers_mut().remove(header::ETAG);
                    r.headers_mut().remove(header::LAST_MODIFIED);
                    r.headers_mut().remove(header::ACCEPT_RANGES);
                    return r;
                }
                Outcome::Internal { path: p, query: q } => {
                    path = p;
                    query = q;
                }
                _ => break,
            }
        }
        tracing::warn!(
            vserver = %self.vserver.nick,
            url,
            "the error page for {} could not be served; using the built-in page",
            status.as_u16()
        );
        self.builtin(status, method)
    }

    /// `error_nn`: the existing name closest to the missing one, in the same directory,
    /// served in its place.
    async fn closest(&self, method: &Method, path: &str) -> Option<Response> {
        let (dir, name) = path.rsplit_once('/')?;
        if name.is_empty() {
            return None;
        }
        let dir_path = if dir.is_empty() { "/" } else { dir };
        let facts_headers = Fields::new();
        let facts = RequestFacts {
            path: dir_path,
            query: None,
            method,
            headers: &facts_headers,
            remote: self.conn.remote.ip(),
            bind_id: self.conn.bind_id,
            tls: self.conn.tls,
        };
        let local = rules::evaluate(self.vserver, &facts).local_path(self.vserver, dir_path)?;
        let wanted = name.to_string();
        let best = tokio::task::spawn_blocking(move || closest_name(&local, &wanted))
            .await
            .ok()??;
        let candidate = format!("{dir}/{best}");
        let (outcome, _) = self.once(method, &Fields::new(), &candidate, None).await;
        match outcome {
            Outcome::Response(r) if r.status().is_success() => Some(r),
            _ => None,
        }
    }
}

/// The entry of `dir` with the smallest edit distance to `wanted`, if close enough to be
/// what was meant (at most a third of the name's length, and at least one edit allowed).
fn closest_name(dir: &std::path::Path, wanted: &str) -> Option<String> {
    let limit = (wanted.chars().count() / 3).max(1);
    let mut best: Option<(usize, String)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let d = edit_distance(&name, wanted);
        if d <= limit
            && best
                .as_ref()
                .is_none_or(|(bd, bn)| d < *bd || (d == *bd && name < *bn))
        {
            best = Some((d, name));
        }
    }
    best.map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_cleaned() {
        assert_eq!(
            clean_host("Example.COM:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(clean_host("example.com.").as_deref(), Some("example.com"));
        assert_eq!(clean_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(clean_host("bad host"), None);
        assert_eq!(clean_host("a:b"), None);
        assert_eq!(clean_host("a\u{e9}.example"), None);
        assert_eq!(clean_host("a/b"), None);
        assert_eq!(clean_host("A-Z_0.9").as_deref(), Some("a-z_0.9"));
        assert_eq!(
            clean_host("intranet_example").as_deref(),
            Some("intranet_example")
        );
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("index.html", "indx.html"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
