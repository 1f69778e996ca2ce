//! The `file` handler (static content) and `common` (List & Send: files are sent,
//! directories are listed).
//!
//! Files are sent as file bodies (`sendfile` on HTTP/1) or, for multipart ranges, streamed
//! in fixed-size chunks, so a 1 GiB download costs the same memory as a 1 KiB one.
//! Conditional requests (ETag, Last-Modified) and byte ranges (single, multiple as
//! multipart/byteranges, If-Range) follow RFC 9110.

use super::iocache::{self, Known};
use super::{
    check_static_method, dirlist, options_response, to_directory, Ctx, HttpError, Outcome,
};
use crate::config::{CommonOptions, FileOptions, IndexEntry};
use crate::http::body::{self, Body};
use crate::http::conditional::{self, Precondition, Validators};
use crate::http::multipart::MultipartPlan;
use crate::http::range::{self, ByteRange, RangeRequest};
use crate::http::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Serves the request's file. With `common` set, directories are listed (or their index
/// served) and path info may be split off.
pub async fn serve(ctx: &Ctx<'_>, opts: &FileOptions, common: Option<&CommonOptions>) -> Outcome {
    if let Err(e) = check_static_method(ctx.method) {
        return Outcome::Error(e);
    }
    let Some(local) = ctx.behavior.local_path(ctx.vserver, ctx.path) else {
        return Outcome::error(StatusCode::NOT_FOUND);
    };
    // A file the I/O cache watches needs no `stat`: it is a regular file that has not
    // changed. Not with `symlinks = 0`, where every request checks where the path leads.
    let watched = opts.iocache && opts.symlinks;
    if watched && ctx.path.ends_with('/') {
        if let Some(index) = known_index(ctx, &local) {
            return index;
        }
    } else if watched {
        match iocache::unchanged(&local, ctx.checked) {
            Some(Known::File(_, _)) if *ctx.method == Method::OPTIONS => return options_response(),
            Some(Known::File(version, open)) => {
                return send_version(ctx, &local, version, Source::Watched(open)).await
            }
            Some(Known::Missing) => return not_found(ctx, common).await,
            None => {}
        }
    }
    // A stat answered from the kernel's caches, made inline: a thread hand-off would cost
    // more than the call (nginx and Cherokee do the same). Reads happen in blocking tasks.
    let meta = match std::fs::metadata(&local) {
        Ok(m) => m,
        Err(e) if is_not_found(&e) => {
            if watched && e.kind() == io::ErrorKind::NotFound {
                iocache::missing(&local);
            }
            return not_found(ctx, common).await;
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Outcome::error(StatusCode::FORBIDDEN)
        }
        Err(e) => {
            tracing::error!(path = %local.display(), error = %e, "cannot stat file");
            return Outcome::error(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    if !opts.symlinks {
        if let Err(e) = check_no_symlink_escape(ctx, &local).await {
            return Outcome::Error(e);
        }
    }
    if meta.is_dir() {
        return directory(ctx, &local, &meta, common, watched).await;
    }
    if ctx.path.ends_with('/') {
        // A file asked for as a directory.
        return Outcome::error(StatusCode::NOT_FOUND);
    }
    if !meta.is_file() {
        return Outcome::error(StatusCode::FORBIDDEN);
    }
    if *ctx.method == Method::OPTIONS {
        return options_response();
    }
    send_file(ctx, &local, &meta, opts).await
}

/// Nothing at the request's path: with `common`, a leading part of it may be a file.
async fn not_found(ctx: &Ctx<'_>, common: Option<&CommonOptions>) -> Outcome {
    if let Some(c) = common.filter(|c| c.allow_pathinfo) {
        if let Some(out) = split_pathinfo(ctx, c).await {
            return out;
        }
    }
    Outcome::error(StatusCode::NOT_FOUND)
}

fn is_not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The index of the directory at `local` (the request's path ends with `/`) when the I/O
/// cache knows it without a `stat`: the first index file that the cache watches, all
/// those before it watched as missing. A home page is then answered without looking at
/// the file system. `None`: something on the way is not known, look.
fn known_index(ctx: &Ctx<'_>, local: &Path) -> Option<Outcome> {
    for entry in &ctx.vserver.directory_index {
        // A URL is the index of directories only, which nothing here has shown `local`
        // to be.
        let IndexEntry::File(name) = entry else {
            return None;
        };
        match iocache::unchanged(&local.join(name), ctx.checked)? {
            // A regular file below `local`: a directory.
            Known::File(..) => return Some(to_index(ctx, name)),
            Known::Missing => {}
        }
    }
    None
}

/// The internal redirection to the index file `name` of the request's directory.
fn to_index(ctx: &Ctx<'_>, name: &str) -> Outcome {
    Outcome::Internal {
        path: format!("{}{}", ctx.path, name),
        query: ctx.query.map(str::to_string),
    }
}

/// A directory: redirect to the slash form, else its index, else (for `common`) a listing.
/// `watched`: the I/O cache may remember the index files missing before the one found (so
/// that [`known_index`] can answer next time); a directory without index remembers none,
/// which would only spend the cache's watches on every directory listed.
async fn directory(
    ctx: &Ctx<'_>,
    local: &Path,
    meta: &std::fs::Metadata,
    common: Option<&CommonOptions>,
    watched: bool,
) -> Outcome {
    if !ctx.path.ends_with('/') {
        return to_directory(ctx);
    }
    let mut missing: Vec<PathBuf> = Vec::new();
    for entry in &ctx.vserver.directory_index {
        match entry {
            IndexEntry::File(name) => {
                let candidate = local.join(name);
                match std::fs::metadata(&candidate) {
                    Ok(m) if m.is_file() => {
                        for path in missing {
                            iocache::missing(&path);
                        }
                        return to_index(ctx, name);
                    }
                    Err(e) if watched && e.kind() == io::ErrorKind::NotFound => {
                        missing.push(candidate);
                    }
                    _ => {}
                }
            }
            IndexEntry::Url(url) => {
                return Outcome::Internal {
                    path: url.clone(),
                    query: ctx.query.map(str::to_string),
                };
            }
        }
    }
    match common {
        Some(c) if c.allow_dirlist => dirlist::list(ctx, &c.dirlist, local, meta).await,
        _ => Outcome::error(StatusCode::FORBIDDEN),
    }
}

/// `/docs/file.txt/extra`: when a leading part of the path is a file, serve that file
/// (the rest is path info, which static content ignores).
async fn split_pathinfo(ctx: &Ctx<'_>, _opts: &CommonOptions) -> Option<Outcome> {
    let mut prefix = ctx.path.trim_end_matches('/');
    while let Some((head, _)) = prefix.rsplit_once('/') {
        if head.is_empty() {
            break;
        }
        let local = ctx.behavior.local_path(ctx.vserver, head)?;
        match std::fs::metadata(&local) {
            Ok(m) if m.is_file() => {
                return Some(Outcome::Internal {
                    path: head.to_string(),
                    query: ctx.query.map(str::to_string),
                })
            }
            Ok(_) => return None,
            Err(_) => prefix = head,
        }
    }
    None
}

/// With `symlinks = 0`: the resolved file must be the path itself, inside the document
/// root, with no symbolic link on the way.
async fn check_no_symlink_escape(ctx: &Ctx<'_>, local: &Path) -> Result<(), HttpError> {
    let root = ctx
        .behavior
        .document_root
        .or(ctx.vserver.document_root.as_deref())
        .map(Path::to_path_buf);
    let local = local.to_path_buf();
    let ok = tokio::task::spawn_blocking(move || -> io::Result<bool> {
        let Some(root) = root else { return Ok(false) };
        let root = std::fs::canonicalize(root)?;
        let real = std::fs::canonicalize(&local)?;
        let lexical = match local.strip_prefix(&root) {
            Ok(rest) => root.join(rest),
            Err(_) => local.clone(),
        };
        Ok(real.starts_with(&root) && real == lexical)
    })
    .await;
    match ok {
        Ok(Ok(true)) => Ok(()),
        _ => Err(HttpError::new(StatusCode::FORBIDDEN)),
    }
}

/// Where the bytes of a response come from.
enum Content {
    /// A small file, from the I/O cache or just read whole.
    Memory(Bytes),
    /// Streamed from the file in chunks.
    Disk,
}

async fn send_file(
    ctx: &Ctx<'_>,
    local: &Path,
    meta: &std::fs::Metadata,
    opts: &FileOptions,
) -> Outcome {
    let identity = iocache::Identity::of(meta);
    let cached = if opts.iocache {
        iocache::get(local, identity)
    } else {
        None
    };
    let (version, source) = match cached {
        Some(version) => {
            // Known and current: the next requests may not need the `stat` (unless each
            // must check where its path leads).
            if opts.symlinks {
                iocache::watch(local, meta);
            }
            (version, Source::Cache)
        }
        None => {
            let source = if opts.iocache {
                Source::New
            } else {
                Source::Uncached
            };
            (Arc::new(iocache::Version::new(identity)), source)
        }
    };
    send_version(ctx, local, version, source).await
}

/// Where the version a response is made from comes from.
enum Source {
    /// The I/O cache, for a watched path (no `stat` made), with the file if it is kept open.
    Watched(Option<Arc<std::fs::File>>),
    /// The I/O cache, after a `stat`.
    Cache,
    /// A `stat` just now; the I/O cache keeps it.
    New,
    /// A `stat` just now, with the I/O cache off for this rule.
    Uncached,
}

/// Sends `version` of the file at `local`.
async fn send_version(
    ctx: &Ctx<'_>,
    local: &Path,
    version: Arc<iocache::Version>,
    source: Source,
) -> Outcome {
    let identity = version.identity;
    let len = identity.len;
    let head = *ctx.method == Method::HEAD;
    let validators = Validators {
        etag: version.etag.to_str().unwrap_or_default(),
        last_modified: identity.mtime,
    };
    let mime = ctx.generation.config.mime.lookup(ctx.path);
    let honor_range = match conditional::evaluate(ctx.method, ctx.headers, &validators) {
        Precondition::Proceed { honor_range } => honor_range,
        Precondition::NotModified => {
            let mut resp = Response::new(body::empty());
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            set_validators(resp.headers_mut(), &version);
            return Outcome::Response(resp);
        }
        Precondition::Failed => return Outcome::error(StatusCode::PRECONDITION_FAILED),
    };
    let content_type = mime.as_ref().map(|m| m.header.clone());
    let ranges = match ctx.headers.get(header::RANGE) {
        Some(r) if honor_range && *ctx.method == Method::GET => match r.to_str() {
            Ok(r) => range::parse_range(r, len),
            Err(_) => RangeRequest::Full,
        },
        _ => RangeRequest::Full,
    };
    let content = match &version.content {
        Some(bytes) if !head => Content::Memory(bytes.clone()),
        _ if !matches!(source, Source::Uncached) && len <= iocache::MAX_FILE && !head => {
            match iocache::load(local, &version).await {
                Ok(loaded) => match &loaded.content {
                    Some(bytes) => Content::Memory(bytes.clone()),
                    None => Content::Disk,
                },
                Err(e) => return io_failure(local, e),
            }
        }
        _ => {
            if matches!(source, Source::New) {
                // Large file (or HEAD): keep its validators for the next request.
                iocache::remember(local, version.clone());
            }
            Content::Disk
        }
    };
    let mut resp = match ranges {
        RangeRequest::Unsatisfiable => {
            return Outcome::Error(
                HttpError::new(StatusCode::RANGE_NOT_SATISFIABLE).with_header(
                    header::CONTENT_RANGE,
                    header_value(&range::unsatisfiable_content_range(len)),
                ),
            )
        }
        RangeRequest::Full => {
            let body = match &content {
                _ if head || len == 0 => body::empty(),
                Content::Memory(bytes) => body::full(bytes.clone()),
                Content::Disk => match open_range(local, &source, identity, 0, len) {
                    Ok(b) => b,
                    Err(e) => return io_failure(local, e),
                },
            };
            let mut resp = Response::new(body);
            if head {
                super::head_length(resp.headers_mut(), len);
            }
            if let Some(ct) = content_type {
                resp.headers_mut().append(header::CONTENT_TYPE, ct);
            }
            resp
        }
        RangeRequest::Partial(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            let body = match &content {
                Content::Memory(bytes) => match slice(bytes, r) {
                    Some(b) => body::full(b),
                    None => return Outcome::error(StatusCode::INTERNAL_SERVER_ERROR),
                },
                Content::Disk => match open_range(local, &source, identity, r.start, r.len()) {
                    Ok(b) => b,
                    Err(e) => return io_failure(local, e),
                },
            };
            let mut resp = Response::new(body);
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            // Ranges are for GET only (RFC 9110 §14.2): the length is the body's.
            h.append(header::CONTENT_RANGE, header_value(&r.content_range(len)));
            if let Some(ct) = content_type {
                h.append(header::CONTENT_TYPE, ct);
            }
            resp
        }
        RangeRequest::Partial(ranges) => {
            let plan = MultipartPlan::new(&ranges, len, mime.as_ref().map(|m| &*m.content_type));
            let content_length = plan.content_length;
            let content_type = header_value(&plan.content_type());
            let body = match &content {
                Content::Memory(bytes) => match multipart_memory(bytes, plan) {
                    Some(b) => b,
                    None => return Outcome::error(StatusCode::INTERNAL_SERVER_ERROR),
                },
                Content::Disk => match open_file(local, &source, identity) {
                    Ok(file) => multipart_file(file, plan),
                    Err(e) => return io_failure(local, e),
                },
            };
            let mut resp = Response::new(body);
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            h.append(header::CONTENT_LENGTH, HeaderValue::from(content_length));
            h.append(header::CONTENT_TYPE, content_type);
            resp
        }
    };
    // The response is this function's own, made above with at most Content-Type,
    // Content-Length and Content-Range: the fields below are new to it, added without a
    // search for one of the same name.
    let h = resp.headers_mut();
    set_validators(h, &version);
    h.append(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(age) = mime.as_ref().and_then(|m| m.max_age) {
        if let Ok(v) = HeaderValue::from_str(&format!("max-age={age}")) {
            h.append(header::CACHE_CONTROL, v);
        }
    }
    Outcome::Response(resp)
}

/// Adds the file's validators to a response of the file handler's own that has none yet.
fn set_validators(h: &mut crate::http::fields::Fields, v: &iocache::Version) {
    h.append(header::ETAG, v.etag.clone());
    h.append(header::LAST_MODIFIED, v.last_modified.clone());
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn io_failure(local: &Path, e: io::Error) -> Outcome {
    if e.kind() == io::ErrorKind::PermissionDenied {
        return Outcome::error(StatusCode::FORBIDDEN);
    }
    if is_not_found(&e) {
        return Outcome::error(StatusCode::NOT_FOUND);
    }
    tracing::error!(path = %local.display(), error = %e, "cannot open file");
    Outcome::error(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The bytes of `r` in `bytes` (`None` if the file was shorter than its stat said).
fn slice(bytes: &Bytes, r: ByteRange) -> Option<Bytes> {
    let end = usize::try_from(r.end).ok()?.checked_add(1)?;
    let start = usize::try_from(r.start).ok()?;
    (end <= bytes.len() && start < end).then(|| bytes.slice(start..end))
}

/// A multipart/byteranges body from a file held in memory.
fn multipart_memory(bytes: &Bytes, plan: MultipartPlan) -> Option<Body> {
    let mut parts = Vec::with_capacity(plan.parts.len() * 2 + 1);
    for (head, r) in plan.parts {
        parts.push(body::full(head));
        parts.push(body::full(slice(bytes, r)?));
    }
    parts.push(body::full(plan.trailer));
    Some(body::concat(parts))
}

/// A multipart/byteranges body whose ranges are read from `file`.
fn multipart_file(file: Arc<std::fs::File>, plan: MultipartPlan) -> Body {
    let mut parts = Vec::with_capacity(plan.parts.len() * 2 + 1);
    for (head, r) in plan.parts {
        parts.push(body::full(head));
        parts.push(body::file(file.clone(), r.start, r.len()));
    }
    parts.push(body::full(plan.trailer));
    body::concat(parts)
}

/// A body of `len` bytes of the file from `start`: the HTTP/1 layer sends it with
/// `sendfile`; a transform that rewraps it streams it in chunks.
fn open_range(
    local: &Path,
    source: &Source,
    identity: iocache::Identity,
    start: u64,
    len: u64,
) -> io::Result<Body> {
    Ok(body::file(open_file(local, source, identity)?, start, len))
}

/// The file to send from: the one the I/O cache keeps open, or opened now, inline like the
/// `stat` before it (an open of a file just looked up is answered from the kernel's
/// caches); a watched entry keeps it open for the next requests.
fn open_file(
    local: &Path,
    source: &Source,
    identity: iocache::Identity,
) -> io::Result<Arc<std::fs::File>> {
    Ok(match source {
        Source::Watched(Some(file)) => file.clone(),
        Source::Watched(None) => {
            let file = Arc::new(std::fs::File::open(local)?);
            iocache::keep_open(local, identity, &file);
            file
        }
        _ => Arc::new(std::fs::File::open(local)?),
    })
}

/// The file a request path maps to, for handlers that only need the name.
pub fn local_file(ctx: &Ctx<'_>) -> Option<PathBuf> {
    ctx.behavior.local_path(ctx.vserver, ctx.path)
}
