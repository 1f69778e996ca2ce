//! Behavior rule evaluation: which rules match a request and what they add up to.
//!
//! Cherokee's merge semantics: rules are tried from the highest priority down. A matching
//! rule contributes every property it sets that no higher-priority matching rule already
//! set; a matching non-final rule lets evaluation continue, the first matching final rule
//! ends it. The virtual server's `default` rule then completes whatever is still unset
//! (typically the handler). Header operations accumulate.

use crate::config::{
    EncoderPolicy, Expiration, HandlerConfig, HeaderOp, HeaderTest, Match, Rule, VServer,
};
use crate::http::fields::Fields;
use crate::vhost::canonical;
use http::Method;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the rules look at.
pub struct RequestFacts<'a> {
    /// Decoded, normalised path (starts with `/`).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub method: &'a Method,
    pub headers: &'a Fields,
    pub remote: IpAddr,
    /// The `server!bind!N` id of the listener the connection arrived on.
    pub bind_id: u64,
    pub tls: bool,
}

/// The merged result of the matching rules. Borrows from the generation's configuration.
#[derive(Debug, Default)]
pub struct Behavior<'c> {
    pub handler: Option<&'c HandlerConfig>,
    pub document_root: Option<&'c Path>,
    /// The directory of the rule that set `document_root`: it is replaced by the document
    /// root when mapping the path to a file (`/icons/a.png` with `/icons` -> `/usr/share/icons`
    /// gives `/usr/share/icons/a.png`).
    pub web_directory: Option<&'c str>,
    pub allow_from: Option<&'c [IpNet]>,
    pub only_secure: bool,
    pub encoders: EncoderPolicy,
    pub expiration: Option<&'c Expiration>,
    /// Highest priority first.
    pub header_ops: Vec<&'c HeaderOp>,
    pub timeout: Option<Duration>,
    /// Like the other properties, the highest matching rule that says decides.
    pub no_log: Option<bool>,
    /// The rule whose handler answers (for the log and `request` regex inheritance).
    pub handler_rule: Option<u64>,
}

impl<'c> Behavior<'c> {
    /// The local file for a request path under this behavior's document root (or the
    /// virtual server's). `None` when there is no document root at all.
    pub fn local_path(&self, vserver: &'c VServer, path: &str) -> Option<PathBuf> {
        let (root, strip) = match self.document_root {
            Some(root) => (root, self.web_directory),
            None => (vserver.document_root.as_deref()?, None),
        };
        Some(map_path(root, strip, path))
    }
}

/// `root` + `path` with `strip` (a directory prefix) removed. `path` is normalised, so it
/// has no `..` segment left to escape `root` with.
pub fn map_path(root: &Path, strip: Option<&str>, path: &str) -> PathBuf {
    let rest = match strip {
        Some(dir) if dir != "/" => path.strip_prefix(dir).unwrap_or(path),
        _ => path,
    };
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return root.to_path_buf();
    }
    // What `root.join(rest)` gives (`rest` is relative), in one allocation of the final
    // size: this runs for every request.
    let root = root.as_os_str();
    let slash = !root.as_encoded_bytes().ends_with(b"/");
    let mut out = std::ffi::OsString::with_capacity(root.len() + usize::from(slash) + rest.len());
    out.push(root);
    if slash {
        out.push("/");
    }
    out.push(rest);
    PathBuf::from(out)
}

/// Evaluates the rules of `vserver` for a request.
pub fn evaluate<'c>(vserver: &'c VServer, req: &RequestFacts<'_>) -> Behavior<'c> {
    let mut b = Behavior::default();
    let mut ended_by: Option<&Rule> = None;
    // Found once, not once per `extensions` rule: a virtual server may have dozens.
    let seen = Seen {
        req,
        extension: extension(req.path),
    };
    for rule in &vserver.rules {
        if matches(&rule.matcher, &seen, vserver, &b) {
            merge(&mut b, rule);
            if rule.is_final {
                ended_by = Some(rule);
                break;
            }
        }
    }
    if let Some(last) = ended_by {
        if let Some(default) = vserver
            .rules
            .iter()
            .rev()
            .find(|r| matches!(r.matcher, Match::Default))
        {
            // The default rule completes what a final rule left unset, unless it is that
            // rule (its header operations would apply twice).
            if !std::ptr::eq(default, last) {
                merge(&mut b, default);
            }
        }
    }
    b
}

fn merge<'c>(b: &mut Behavior<'c>, rule: &'c Rule) {
    if b.handler.is_none() {
        if let Some(h) = &rule.handler {
            b.handler = Some(h);
            b.handler_rule = Some(rule.id);
        }
    }
    let Some(p) = rule.props.as_deref() else {
        return;
    };
    if b.document_root.is_none() {
        if let Some(root) = &p.document_root {
            b.document_root = Some(root);
            b.web_directory = rule.matcher.directory();
        }
    }
    if b.allow_from.is_none() {
        b.allow_from = p.allow_from.as_deref().map(Vec::as_slice);
    }
    // Once a matching rule requires TLS, no other rule can lift it (as in Cherokee).
    if let Some(s) = p.only_secure {
        b.only_secure |= s;
    }
    if b.encoders.gzip.is_none() {
        b.encoders.gzip = p.encoders.gzip;
    }
    if b.encoders.deflate.is_none() {
        b.encoders.deflate = p.encoders.deflate;
    }
    if b.expiration.is_none() {
        b.expiration = p.expiration.as_deref();
    }
    b.header_ops.extend(p.header_ops.iter());
    if b.timeout.is_none() {
        b.timeout = p.timeout;
    }
    if b.no_log.is_none() {
        b.no_log = p.no_log;
    }
}

/// The request, with what several rules would otherwise each work out again.
struct Seen<'r> {
    req: &'r RequestFacts<'r>,
    /// [`extension`] of the request's path.
    extension: Option<&'r str>,
}

/// Whether a rule's match holds. The kinds most rules have are tried here, inline in
/// the loop over a virtual server's rules (a request meets every rule until a final one
/// matches: dozens in some configurations); the others in [`matches_other`].
#[inline(always)]
fn matches(m: &Match, seen: &Seen<'_>, vserver: &VServer, b: &Behavior<'_>) -> bool {
    match m {
        Match::Default => true,
        Match::Directory(dir) => in_directory(seen.req.path, dir),
        Match::Extensions {
            extensions,
            check_local_file: false,
        } => seen.extension.is_some_and(|ext| extensions.contains(ext)),
        _ => matches_other(m, seen, vserver, b),
    }
}

#[inline(never)]
fn matches_other(m: &Match, seen: &Seen<'_>, vserver: &VServer, b: &Behavior<'_>) -> bool {
    let req = seen.req;
    match m {
        Match::Default => true,
        Match::Directory(dir) => in_directory(req.path, dir),
        Match::Extensions {
            extensions,
            check_local_file,
        } => {
            let Some(ext) = seen.extension else {
                return false;
            };
            extensions.contains(ext)
                && (!check_local_file
                    || b.local_path(vserver, req.path).is_some_and(|p| p.is_file()))
        }
        Match::Request(re) => match req.query {
            Some(q) => re.is_match(&format!("{}?{}", req.path, q)),
            None => re.is_match(req.path),
        },
        Match::Header { name, test } => {
            let mut values = req.headers.get_all(&**name).peekable();
            match test {
                HeaderTest::Provided => values.peek().is_some(),
                HeaderTest::Regex(re) => values.any(|v| v.to_str().is_ok_and(|s| re.is_match(s))),
            }
        }
        Match::Exists {
            files,
            any,
            only_files,
            iocache: _,
        } => {
            let name = req.path.rsplit('/').next().unwrap_or("");
            if !*any && !files.contains(name) {
                return false;
            }
            // A stat answered from the kernel's dentry cache: made inline, like the rest of
            // rule evaluation, rather than paying a thread hand-off per request.
            match b
                .local_path(vserver, req.path)
                .and_then(|p| std::fs::metadata(p).ok())
            {
                Some(meta) => !*only_files || meta.is_file(),
                None => false,
            }
        }
        Match::Method(methods) => methods.contains(req.method),
        Match::Fullpath(paths) => paths.contains(req.path),
        Match::From(nets) => {
            let ip = canonical(req.remote);
            nets.iter().any(|n| n.contains(&ip))
        }
        Match::UrlArg { arg, regex } => {
            let Some(q) = req.query else { return false };
            url_args(q).any(|(k, v)| match arg {
                Some(a) => k == **a && regex.is_match(&v),
                None => regex.is_match(&v),
            })
        }
        Match::Bind(ids) => ids.contains(&req.bind_id),
        Match::Tls => req.tls,
        Match::And(a, c) => matches(a, seen, vserver, b) && matches(c, seen, vserver, b),
        Match::Or(a, c) => matches(a, seen, vserver, b) || matches(c, seen, vserver, b),
        Match::Not(a) => !matches(a, seen, vserver, b),
    }
}

/// `/dir` matches `/dir`, `/dir/` and `/dir/x`, never `/directory`.
#[inline]
pub fn in_directory(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return true;
    }
    let (path, dir) = (path.as_bytes(), dir.as_bytes());
    // The byte after the directory first: it rejects most paths without comparing the
    // prefix (a virtual server may have dozens of directory rules).
    match path.get(dir.len()) {
        None if path.len() < dir.len() => false,
        None | Some(b'/') => path.starts_with(dir),
        Some(_) => false,
    }
}

/// The extension of the last path segment (`/a/b.tar.gz` -> `gz`).
pub fn extension(path: &str) -> Option<&str> {
    // One backward scan for the last `.` or `/`, whichever comes first.
    let dot = path.bytes().rposition(|c| c == b'.' || c == b'/')?;
    if path.as_bytes()[dot] == b'/' {
        return None;
    }
    let ext = &path[dot + 1..];
    // A name that starts with its only dot (`.hidden`) has no extension.
    let stem_empty = dot == 0 || path.as_bytes()[dot - 1] == b'/';
    if stem_empty || ext.is_empty() {
        return None;
    }
    Some(ext)
}

/// Decoded `key=value` pairs of a query string.
fn url_args(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|s| !s.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(k), decode_component(v))
    })
}

fn decode_component(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_match_whole_segments() {
        assert!(in_directory("/icons", "/icons"));
        assert!(in_directory("/icons/", "/icons"));
        assert!(in_directory("/icons/a.png", "/icons"));
        assert!(!in_directory("/iconset", "/icons"));
        assert!(in_directory("/anything", "/"));
        assert!(!in_directory("/ic", "/icons"));
        assert!(!in_directory("/icont", "/icons"));
        assert!(!in_directory("/xcons/a", "/icons"));
    }

    #[test]
    fn extensions_of_the_last_segment() {
        assert_eq!(extension("/a/b.tar.gz"), Some("gz"));
        assert_eq!(extension("/a.d/b"), None);
        assert_eq!(extension("/.hidden"), None);
        assert_eq!(extension("/x."), None);
        assert_eq!(extension("/a/.b.c"), Some("c"));
        assert_eq!(extension("/a/b..c"), Some("c"));
        assert_eq!(extension("x.y"), Some("y"));
        assert_eq!(extension(".y"), None);
        assert_eq!(extension(""), None);
    }

    #[test]
    fn mapping_strips_the_rule_directory() {
        let root = Path::new("/srv/icons");
        assert_eq!(
            map_path(root, Some("/icons"), "/icons/a.png"),
            PathBuf::from("/srv/icons/a.png")
        );
        assert_eq!(
            map_path(Path::new("/srv/www"), None, "/"),
            PathBuf::from("/srv/www")
        );
        // The same as `Path::join`, with or without a trailing slash on the root.
        for root in ["/srv/www", "/srv/www/", "/"] {
            for path in ["/a", "/a/b.txt", "/dir/", "//x"] {
                assert_eq!(
                    map_path(Path::new(root), None, path),
                    Path::new(root).join(path.trim_start_matches('/')),
                    "{root} + {path}"
                );
            }
        }
    }

    #[test]
    fn url_args_are_decoded() {
        let args: Vec<_> = url_args("a=1&b=x%20y&c").collect();
        assert_eq!(
            args,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "".into())
            ]
        );
    }
}
