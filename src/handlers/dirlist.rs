//! The `dirlist` handler (Only listing): an HTML page listing a directory. It never sends a
//! file's content.
//!
//! Rendered pages are kept in [`dirlist_cache`] until the directory changes, so a listing
//! asked for again costs a lookup; a miss reads and renders on a blocking thread.

use super::dirlist_cache::{self, DirId, Fingerprint, Key, Page, Ticket, Volatile};
use super::dirlist_render::{self, DirEntry, ListingOptions, SortKey};
use super::{check_static_method, options_response, to_directory, Ctx, Outcome};
use crate::config::DirlistOptions;
use crate::fswatch;
use crate::http::body;
use crate::http::conditional::{self, Precondition};
use crate::http::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tokio::sync::Semaphore;

/// The most bytes of a notice file shown above a listing.
const NOTICE_LIMIT: u64 = 64 * 1024;

pub async fn serve(ctx: &Ctx<'_>, opts: &DirlistOptions) -> Outcome {
    if let Err(e) = check_static_method(ctx.method) {
        return Outcome::Error(e);
    }
    let Some(local) = ctx.behavior.local_path(ctx.vserver, ctx.path) else {
        return Outcome::error(StatusCode::NOT_FOUND);
    };
    // An inline stat, as in `file` (see there).
    match std::fs::metadata(&local) {
        Ok(m) if m.is_dir() => {
            if !ctx.path.ends_with('/') {
                return to_directory(ctx);
            }
            list(ctx, opts, &local, &m).await
        }
        // Only listing: files exist but are not sent.
        Ok(_) => Outcome::error(StatusCode::FORBIDDEN),
        Err(_) => Outcome::error(StatusCode::NOT_FOUND),
    }
}

/// Renders at most this many listings at once (each on a blocking thread): a burst of
/// requests for a directory not yet cached waits for the first render and is then answered
/// from the cache, instead of filling the blocking pool with identical work.
const CONCURRENT_RENDERS: usize = 2;

fn renders() -> &'static Semaphore {
    static RENDERS: OnceLock<Semaphore> = OnceLock::new();
    RENDERS.get_or_init(|| Semaphore::new(CONCURRENT_RENDERS))
}

/// Lists `local` (the directory the request path names, which ends in `/`; `dir` is what
/// `stat` said of it), from the cache when nothing changed since it was rendered.
pub async fn list(ctx: &Ctx<'_>, opts: &DirlistOptions, local: &Path, dir: &Metadata) -> Outcome {
    if *ctx.method == Method::OPTIONS {
        return options_response();
    }
    let id = DirId::of(dir);
    let key = Key {
        dir: local,
        url_path: ctx.path,
        sort: dirlist_render::sort_key_from_query(ctx.query),
        opts,
    };
    // A hit is answered inline: a hash lookup and, usually, one `read` of the inotify queue.
    if let Some(page) = cached(&key, id) {
        return respond(ctx, page);
    }
    let _permit = renders().acquire().await.ok();
    if let Some(page) = cached(&key, id) {
        return respond(ctx, page);
    }
    let (watch, watched_dir) = Watched::begin(local, id).unzip();
    let local_path = local.to_path_buf();
    let (read_opts, url_path, sort) = (opts.clone(), ctx.path.to_string(), key.sort);
    let rendered = tokio::task::spawn_blocking(move || {
        // A watched directory is read through the descriptor the watch was added on (kept
        // open here until the read ends, even if the request is abandoned meanwhile).
        let source = match &watched_dir {
            Some(dir) => fswatch::fd_path(dir),
            None => local_path,
        };
        read_and_render(&source, &url_path, &read_opts, sort)
    })
    .await;
    let listing = match rendered {
        Ok(Ok(listing)) => listing,
        Ok(Err(e)) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Outcome::error(StatusCode::FORBIDDEN)
        }
        Ok(Err(e)) => {
            tracing::error!(path = %local.display(), error = %e, "cannot list directory");
            return Outcome::error(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Err(e) => {
            tracing::error!(error = %e, "directory listing task failed");
            return Outcome::error(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let page = Page::new(Bytes::from(listing.html));
    if let Some(w) = watch {
        w.finish(&key, page.clone(), listing.volatile);
    }
    respond(ctx, page)
}

/// The cached listing, if still right. The entries the directory's watch does not cover
/// are `stat`ed after the cache's lock is released: the lock is shared by every worker.
fn cached(key: &Key<'_>, id: DirId) -> Option<Page> {
    let hit = dirlist_cache::global().lock().ok()?.peek(key, id)?;
    if hit.is_fresh(key.dir) {
        return Some(hit.page);
    }
    if let Ok(mut cache) = dirlist_cache::global().lock() {
        cache.forget(&hit);
    }
    None
}

/// A render whose result may be cached: its directory is watched. Dropped without
/// [`Watched::finish`] (an error, a cancelled request), it gives its watch back.
struct Watched {
    ticket: Option<Ticket>,
}

impl Watched {
    /// Opens and watches `local` (which the request found as `id`); the directory is
    /// returned open, to be read through that descriptor. `None`: render uncached.
    fn begin(local: &Path, id: DirId) -> Option<(Watched, File)> {
        let dir = File::open(local).ok()?;
        if !dirlist_cache::cacheable(&dir, id) {
            return None;
        }
        let ticket = dirlist_cache::global().lock().ok()?.begin(&dir, id)?;
        Some((
            Watched {
                ticket: Some(ticket),
            },
            dir,
        ))
    }

    fn finish(mut self, key: &Key<'_>, page: Page, volatile: Vec<Volatile>) {
        self.end(Some((key, page, volatile)));
    }

    /// Ends the render with the cache: stores `done`, or (`None`) gives the watch back.
    fn end(&mut self, done: Option<(&Key<'_>, Page, Vec<Volatile>)>) {
        if let (Some(ticket), Ok(mut cache)) = (self.ticket.take(), dirlist_cache::global().lock())
        {
            cache.finish(ticket, done);
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.end(None);
    }
}

/// The page, or `304` to a client that has it (`If-None-Match` with its tag).
fn respond(ctx: &Ctx<'_>, page: Page) -> Outcome {
    if let Some(etag) = &page.etag {
        let tag = etag.to_str().unwrap_or_default();
        match conditional::evaluate_etag(ctx.method, ctx.headers, tag) {
            Precondition::Proceed { .. } => {}
            Precondition::NotModified => {
                let mut resp = Response::new(body::empty());
                *resp.status_mut() = StatusCode::NOT_MODIFIED;
                resp.headers_mut().insert(header::ETAG, etag.clone());
                return Outcome::Response(resp);
            }
            Precondition::Failed => return Outcome::error(StatusCode::PRECONDITION_FAILED),
        }
    }
    let Page { html, etag } = page;
    let len = html.len();
    let body = if *ctx.method == Method::HEAD {
        body::empty()
    } else {
        body::full(html)
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if *ctx.method == Method::HEAD {
        super::head_length(h, len);
    }
    if let Some(etag) = etag {
        h.insert(header::ETAG, etag);
    }
    Outcome::Response(resp)
}

/// A rendered page and the entries a cached copy must re-check (see `dirlist_cache`).
struct Listing {
    html: String,
    volatile: Vec<Volatile>,
}

fn read_and_render(
    dir: &Path,
    url_path: &str,
    opts: &DirlistOptions,
    sort: SortKey,
) -> io::Result<Listing> {
    let mut volatile = Vec::new();
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name().to_string_lossy().into_owned();
        if !opts.hidden && name.starts_with('.') {
            continue;
        }
        if !opts.backup && name.ends_with('~') {
            continue;
        }
        let link_meta = item.metadata()?;
        let is_symlink = link_meta.file_type().is_symlink();
        if is_symlink && !opts.symlinks {
            continue;
        }
        // A link is described by what it points to; a dangling one by itself.
        let target = if is_symlink {
            std::fs::metadata(item.path()).ok()
        } else {
            None
        };
        // What the directory's watch does not report: a subdirectory's date (changed by
        // its own entries), a link's target, a file written through another hard link.
        if is_symlink || link_meta.is_dir() || link_meta.nlink() > 1 {
            volatile.push(Volatile {
                name: item.file_name().into(),
                fingerprint: if is_symlink {
                    target.as_ref().map(Fingerprint::of)
                } else {
                    Some(Fingerprint::of(&link_meta))
                },
            });
        }
        let meta = target.unwrap_or(link_meta);
        entries.push(DirEntry {
            name,
            is_dir: meta.is_dir(),
            is_symlink,
            size: meta.len(),
            modified: meta.modified().ok(),
            user: opts.user.then(|| user_name(meta.uid())),
            group: opts.group.then(|| group_name(meta.gid())),
        });
    }
    let notice = notice(dir, opts, &mut volatile);
    let listing = ListingOptions {
        size: opts.size,
        date: opts.date,
        user: opts.user,
        group: opts.group,
    };
    let html = dirlist_render::render(url_path, &mut entries, &listing, sort, notice.as_deref());
    Ok(Listing { html, volatile })
}

/// The first notice file found. Those the directory's watch does not cover (a path
/// elsewhere, a link, several hard links) become volatile, including the missing ones
/// tried before it (their creation must show).
fn notice(dir: &Path, opts: &DirlistOptions, volatile: &mut Vec<Volatile>) -> Option<String> {
    for name in &opts.notice_files {
        let path = dir.join(name);
        let elsewhere = name.contains('/') || name == "..";
        let linked = std::fs::symlink_metadata(&path)
            .is_ok_and(|m| m.file_type().is_symlink() || m.nlink() > 1);
        if elsewhere || linked {
            volatile.push(Volatile {
                name: name.into(),
                fingerprint: Fingerprint::current(&path),
            });
        }
        if let Some(text) = read_notice(&path) {
            return Some(text);
        }
    }
    None
}

fn read_notice(path: &PathBuf) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(NOTICE_LIMIT).read_to_string(&mut text).ok()?;
    Some(text)
}

fn user_name(uid: u32) -> String {
    // getpwuid_r with a stack buffer: thread-safe, no allocation by libc.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = [0 as libc::c_char; 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the buffer outlives the name we copy.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: pw_name points into `buf`, NUL-terminated by getpwuid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return name.to_string_lossy().into_owned();
    }
    uid.to_string()
}

fn group_name(gid: u32) -> String {
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = [0 as libc::c_char; 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `user_name`.
    let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() && !grp.gr_name.is_null() {
        // SAFETY: gr_name points into `buf`, NUL-terminated by getgrgid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(grp.gr_name) };
        return name.to_string_lossy().into_owned();
    }
    gid.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn populated() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "aaa").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("a.txt", dir.path().join("link")).unwrap();
        std::fs::hard_link(dir.path().join("a.txt"), dir.path().join("twin")).unwrap();
        std::fs::write(dir.path().join("plain"), "p").unwrap();
        dir
    }

    #[test]
    fn the_watched_descriptor_and_the_path_give_the_same_page() {
        // The fallback (no watch) reads the path; a watched render reads the descriptor.
        let dir = populated();
        let opts = DirlistOptions::default();
        let by_path = read_and_render(dir.path(), "/d/", &opts, SortKey::Name).unwrap();
        let open = File::open(dir.path()).unwrap();
        let by_fd = read_and_render(&fswatch::fd_path(&open), "/d/", &opts, SortKey::Name).unwrap();
        assert_eq!(by_path.html, by_fd.html);
        assert_eq!(by_path.volatile, by_fd.volatile);
        assert!(by_path.html.contains("<a href=\"a.txt\">"));
    }

    #[test]
    fn entries_the_watch_misses_are_volatile() {
        let dir = populated();
        let opts = DirlistOptions {
            notice_files: vec!["../NOTICE".into(), "plain".into()],
            ..DirlistOptions::default()
        };
        let listing = read_and_render(dir.path(), "/", &opts, SortKey::Name).unwrap();
        let mut names: Vec<String> = listing
            .volatile
            .iter()
            .map(|v| v.name.to_string_lossy().into_owned())
            .collect();
        names.sort();
        // The subdirectory, the link, both hard links, and the notice outside (missing).
        assert_eq!(names, ["../NOTICE", "a.txt", "link", "sub", "twin"]);
        let notice = listing.volatile.iter().find(|v| v.name.starts_with(".."));
        assert_eq!(notice.unwrap().fingerprint, None);
        // The plain notice in the directory is covered by the watch.
        assert!(
            listing.html.contains("</h1>\np\n<table>"),
            "{}",
            listing.html
        );
    }
}
