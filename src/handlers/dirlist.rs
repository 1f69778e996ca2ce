//! The `dirlist` handler (Only listing): an HTML page listing a directory. It never sends a
//! file's content.

use super::dirlist_render::{self, DirEntry, ListingOptions};
use super::{check_static_method, options_response, to_directory, Ctx, Outcome};
use crate::config::DirlistOptions;
use crate::http::body;
use http::{header, HeaderValue, Method, Response, StatusCode};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
            list(ctx, opts, &local).await
        }
        // Only listing: files exist but are not sent.
        Ok(_) => Outcome::error(StatusCode::FORBIDDEN),
        Err(_) => Outcome::error(StatusCode::NOT_FOUND),
    }
}

/// Lists `local` (the directory the request path names, which ends in `/`).
pub async fn list(ctx: &Ctx<'_>, opts: &DirlistOptions, local: &Path) -> Outcome {
    if *ctx.method == Method::OPTIONS {
        return options_response();
    }
    let dir = local.to_path_buf();
    let read_opts = opts.clone();
    let read = tokio::task::spawn_blocking(move || read_directory(&dir, &read_opts)).await;
    let (mut entries, notice) = match read {
        Ok(Ok(r)) => r,
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
    let listing = ListingOptions {
        size: opts.size,
        date: opts.date,
        user: opts.user,
        group: opts.group,
    };
    let sort = dirlist_render::sort_key_from_query(ctx.query);
    let html = dirlist_render::render(ctx.path, &mut entries, &listing, sort, notice.as_deref());
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
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Outcome::Response(resp)
}

fn read_directory(
    dir: &Path,
    opts: &DirlistOptions,
) -> io::Result<(Vec<DirEntry>, Option<String>)> {
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
        let meta = if is_symlink {
            std::fs::metadata(item.path()).unwrap_or(link_meta)
        } else {
            link_meta
        };
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
    let notice = opts
        .notice_files
        .iter()
        .find_map(|name| read_notice(&dir.join(name)));
    Ok((entries, notice))
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
