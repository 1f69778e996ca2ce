//! MIME type table: maps file extensions to `Content-Type` values and
//! optional `Cache-Control: max-age` settings.
//!
//! The built-in data is every extension `mime_guess` knows (enumerated through its
//! reverse mappings), put once per process in a hash map ([`Builtin`]): any extension
//! costs one lookup, and a table needs no list of common extensions to precompute nor a
//! fallback that interns what `mime_guess` answers.
//! Configuration (`mime!TYPE!extensions`, `mime!TYPE!max_age` in cherokee.conf)
//! overrides the built-in data in a table of the configuration's own, consulted first
//! (and skipped while empty); later settings win.
//!
//! Documented choice: types are returned exactly as the table gives them;
//! no `charset` parameter is ever added, because files on disk may be in
//! any encoding.
//!
//! This module must never panic on any path, never take a lock on lookup,
//! and never return a type that is invalid as a header value (configured
//! types with control characters are rejected).

use http::HeaderValue;
use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, LazyLock};

/// What the table knows about one extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MimeInfo {
    /// The `Content-Type` value, e.g. `text/html`.
    pub content_type: Arc<str>,
    /// The same, ready as a header value (cloning it does not copy).
    pub header: HeaderValue,
    /// `Cache-Control: max-age` in seconds, when configured for this type.
    pub max_age: Option<u64>,
}

/// The built-in table: lowercase extension -> `mime_guess`'s first type for it. About
/// 1,400 extensions of 950 types (some 100 KiB), built on first use; an extension maps
/// to the index of its type's entry, which all the type's extensions share.
struct Builtin {
    by_ext: HashMap<&'static str, u16>,
    types: Vec<MimeInfo>,
}

impl Builtin {
    fn get(&self, ext: &str) -> Option<&MimeInfo> {
        self.types.get(usize::from(*self.by_ext.get(ext)?))
    }

    /// Every extension with its entry.
    fn iter(&self) -> impl Iterator<Item = (&'static str, &MimeInfo)> + '_ {
        self.by_ext
            .iter()
            .filter_map(|(&ext, &i)| Some((ext, self.types.get(usize::from(i))?)))
    }
}

fn builtin() -> &'static Builtin {
    static BUILTIN: LazyLock<Builtin> = LazyLock::new(|| {
        let mut index: HashMap<&'static str, u16> = HashMap::default();
        let mut table = Builtin {
            by_ext: HashMap::default(),
            types: Vec::new(),
        };
        for &ext in mime_guess::get_extensions("*", "*").unwrap_or_default() {
            // Only lowercase names without a dot can be found: lookups lowercase the
            // extension, which is what follows the last dot.
            if ext.bytes().any(|b| b.is_ascii_uppercase() || b == b'.')
                || table.by_ext.contains_key(ext)
            {
                continue;
            }
            // The type `mime_guess` itself answers (an extension listed under several
            // types maps to its first), checked as a static header value must be.
            let Some(mime) = mime_guess::from_ext(ext).first_raw() else {
                continue;
            };
            if !valid_type(mime) {
                continue;
            }
            let i = match index.get(mime) {
                Some(&i) => i,
                None => {
                    let Ok(i) = u16::try_from(table.types.len()) else {
                        continue;
                    };
                    table.types.push(MimeInfo {
                        content_type: Arc::from(mime),
                        header: HeaderValue::from_static(mime),
                        max_age: None,
                    });
                    index.insert(mime, i);
                    i
                }
            };
            table.by_ext.insert(ext, i);
        }
        table
    });
    &BUILTIN
}

/// Extension → MIME type table: the built-in one with configuration overrides.
#[derive(Clone, Debug, Default)]
pub struct MimeTable {
    /// Lowercase extension → entry, for the extensions the configuration maps and the
    /// built-in ones whose type has a configured `max_age`. Consulted before
    /// [`builtin`].
    by_ext: HashMap<Box<str>, MimeInfo>,
    /// Lowercase MIME type → configured max-age, also applied to extensions mapped
    /// later.
    max_ages: HashMap<Box<str>, u64>,
    /// Lowercase MIME type → shared string, so that the extensions of one configured
    /// type share it.
    interned: HashMap<Box<str>, (Arc<str>, HeaderValue)>,
}

/// Whether a configured MIME type is acceptable as a `Content-Type` value:
/// visible ASCII (spaces allowed inside, for parameters), with a `/`.
fn valid_type(mime: &str) -> bool {
    !mime.is_empty()
        && mime.contains('/')
        && mime
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
}

/// Normalise a configured extension: trim, drop leading dots, lowercase.
fn normalise_ext(ext: &str) -> Option<String> {
    let ext = ext.trim().trim_start_matches('.');
    if ext.is_empty() || ext.contains('/') {
        None
    } else {
        Some(ext.to_ascii_lowercase())
    }
}

/// The extension of the last path segment, if any. A leading dot (as in
/// `.htaccess`) does not start an extension.
fn extension(path: &str) -> Option<&str> {
    // Byte searches: this runs for every file served, and `rsplit` with a char pattern
    // costs a searcher each time.
    let start = path.bytes().rposition(|b| b == b'/').map_or(0, |i| i + 1);
    let name = &path[start..];
    let dot = name.bytes().rposition(|b| b == b'.')?;
    if dot == 0 || dot + 1 == name.len() {
        None
    } else {
        Some(&name[dot + 1..])
    }
}

impl MimeTable {
    /// The built-in table, without overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared string and header value for a configured MIME type, creating them
    /// when new (`None` for a type that cannot be a header value).
    fn intern(&mut self, mime: &str) -> Option<(Arc<str>, HeaderValue)> {
        let key = mime.to_ascii_lowercase();
        if let Some(existing) = self.interned.get(key.as_str()) {
            if &*existing.0 == mime {
                return Some(existing.clone());
            }
        }
        let header = HeaderValue::from_str(mime).ok()?;
        let shared: Arc<str> = Arc::from(mime);
        self.interned
            .insert(key.into_boxed_str(), (shared.clone(), header.clone()));
        Some((shared, header))
    }

    /// Map `extensions` to `mime` (cherokee.conf `mime!TYPE!extensions`).
    /// Extensions are case-insensitive, may carry a leading dot, and
    /// override any earlier mapping. An invalid type is ignored.
    pub fn set(&mut self, mime: &str, extensions: &[&str]) {
        let mime = mime.trim();
        if !valid_type(mime) {
            return;
        }
        let Some((content_type, header)) = self.intern(mime) else {
            return;
        };
        let max_age = self
            .max_ages
            .get(mime.to_ascii_lowercase().as_str())
            .copied();
        for ext in extensions {
            if let Some(ext) = normalise_ext(ext) {
                self.by_ext.insert(
                    ext.into_boxed_str(),
                    MimeInfo {
                        content_type: content_type.clone(),
                        header: header.clone(),
                        max_age,
                    },
                );
            }
        }
    }

    /// Set the `max-age` for every extension of `mime` (cherokee.conf
    /// `mime!TYPE!max_age`), including extensions mapped later. The type is
    /// compared case-insensitively. The built-in extensions of the type that the
    /// configuration has not mapped elsewhere are copied into the table's own, with
    /// the age, so that a lookup stays one search.
    pub fn set_max_age(&mut self, mime: &str, seconds: u64) {
        let mime = mime.trim();
        self.max_ages
            .insert(mime.to_ascii_lowercase().into_boxed_str(), seconds);
        for info in self.by_ext.values_mut() {
            if info.content_type.eq_ignore_ascii_case(mime) {
                info.max_age = Some(seconds);
            }
        }
        for (ext, info) in builtin().iter() {
            if info.content_type.eq_ignore_ascii_case(mime) && !self.by_ext.contains_key(ext) {
                let mut info = info.clone();
                info.max_age = Some(seconds);
                self.by_ext.insert(ext.into(), info);
            }
        }
    }

    /// The type of `path`, by the extension of its last segment
    /// (case-insensitive). `None` when there is no extension or it is
    /// unknown.
    pub fn lookup(&self, path: &str) -> Option<&MimeInfo> {
        let ext = extension(path)?;
        let lowered;
        let key = if ext.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = ext.to_ascii_lowercase();
            lowered.as_str()
        } else {
            ext
        };
        if !self.by_ext.is_empty() {
            if let Some(info) = self.by_ext.get(key) {
                return Some(info);
            }
        }
        builtin().get(key)
    }
}

/// Whether a response of this `Content-Type` is worth compressing: text,
/// JSON, JavaScript, XML (including SVG), WebAssembly and a few uncompressed
/// binary formats. Already compressed formats (most images, audio, video,
/// archives, WOFF fonts) are not. Parameters such as `charset` are ignored.
pub fn is_compressible(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((top, sub)) = essence.split_once('/') else {
        return false;
    };
    if sub.ends_with("+json") || sub.ends_with("+xml") || sub.ends_with("+text") {
        return true;
    }
    match top {
        // Server-sent events must be flushed as they are produced.
        "text" => sub != "event-stream",
        "application" => matches!(
            sub,
            "json"
                | "javascript"
                | "x-javascript"
                | "ecmascript"
                | "xml"
                | "xml-dtd"
                | "wasm"
                | "rtf"
                | "x-sh"
                | "x-csh"
                | "x-tex"
                | "x-latex"
                | "postscript"
                | "x-httpd-php"
                | "manifest+json"
                | "vnd.ms-fontobject"
                | "x-font-ttf"
                | "x-font-otf"
                | "font-sfnt"
                | "x-yaml"
                | "yaml"
                | "toml"
                | "sql"
                | "graphql"
                | "x-ndjson"
                | "ndjson"
        ),
        "image" => matches!(
            sub,
            "bmp" | "x-icon" | "vnd.microsoft.icon" | "x-ms-bmp" | "tiff"
        ),
        "font" => matches!(sub, "ttf" | "otf" | "sfnt" | "collection"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(table: &MimeTable, path: &str) -> Option<String> {
        table.lookup(path).map(|i| i.content_type.to_string())
    }

    #[test]
    fn builtin_types() {
        let t = MimeTable::new();
        assert_eq!(ct(&t, "/index.html").as_deref(), Some("text/html"));
        assert_eq!(ct(&t, "style.css").as_deref(), Some("text/css"));
        assert_eq!(ct(&t, "/a/b/photo.jpg").as_deref(), Some("image/jpeg"));
        assert_eq!(ct(&t, "x.png").as_deref(), Some("image/png"));
        assert_eq!(ct(&t, "x.json").as_deref(), Some("application/json"));
        assert_eq!(ct(&t, "x.svg").as_deref(), Some("image/svg+xml"));
        assert_eq!(ct(&t, "x.wasm").as_deref(), Some("application/wasm"));
        assert_eq!(ct(&t, "x.pdf").as_deref(), Some("application/pdf"));
        assert_eq!(ct(&t, "notes.txt").as_deref(), Some("text/plain"));
        // No charset is added.
        assert!(!ct(&t, "a.html").unwrap().contains("charset"));
    }

    #[test]
    fn default_is_builtin_table() {
        assert_eq!(
            ct(&MimeTable::default(), "a.html").as_deref(),
            Some("text/html")
        );
    }

    #[test]
    fn every_extension_agrees_with_mime_guess() {
        let t = MimeTable::new();
        let all = mime_guess::get_extensions("*", "*").unwrap();
        assert!(all.len() > 500, "{}", all.len());
        // An extension with a dot (`dll.config`) is never what a path ends with: the
        // extension is what follows the last dot.
        for ext in all.iter().filter(|e| !e.contains('.')) {
            let expected = mime_guess::from_ext(ext).first_raw();
            assert_eq!(
                ct(&t, &format!("f.{ext}")).as_deref(),
                expected,
                "extension {ext}"
            );
            let upper = ext.to_ascii_uppercase();
            assert_eq!(
                ct(&t, &format!("F.{upper}")).as_deref(),
                expected,
                "extension {upper}"
            );
        }
    }

    #[test]
    fn case_insensitive_lookup() {
        let t = MimeTable::new();
        assert_eq!(ct(&t, "/IMG.JPG").as_deref(), Some("image/jpeg"));
        assert_eq!(ct(&t, "Page.HtMl").as_deref(), Some("text/html"));
    }

    #[test]
    fn extension_of_last_segment_only() {
        let t = MimeTable::new();
        assert_eq!(ct(&t, "/dir.html/readme"), None);
        assert_eq!(
            ct(&t, "/archive.tar.gz").as_deref(),
            ct(&t, "x.gz").as_deref()
        );
        assert_eq!(ct(&t, "/dir/"), None);
        assert_eq!(ct(&t, "/.html"), None);
        assert_eq!(ct(&t, "/file."), None);
        assert_eq!(ct(&t, ""), None);
        assert_eq!(ct(&t, "."), None);
        assert_eq!(ct(&t, "/a/Makefile"), None);
    }

    #[test]
    fn unknown_extension() {
        let t = MimeTable::new();
        assert_eq!(ct(&t, "file.definitely-not-a-type"), None);
        assert_eq!(ct(&t, "file.é"), None);
    }

    #[test]
    fn uncommon_extensions_are_known() {
        let t = MimeTable::new();
        let expected = mime_guess::from_ext("dwg").first_raw();
        assert!(expected.is_some());
        assert_eq!(ct(&t, "drawing.DWG").as_deref(), expected);
        assert_eq!(
            ct(&t, "disk.bin").as_deref(),
            Some("application/octet-stream")
        );
    }

    #[test]
    fn the_header_value_is_the_content_type() {
        let mut t = MimeTable::new();
        t.set("application/x-thing; charset=utf-8", &["thing"]);
        for path in ["a.html", "b.dwg", "c.thing", "d.CSS"] {
            let info = t.lookup(path).unwrap();
            assert_eq!(info.header.to_str().unwrap(), &*info.content_type, "{path}");
        }
    }

    #[test]
    fn configuration_overrides() {
        let mut t = MimeTable::new();
        t.set("text/x-custom", &["html", " .Foo ", "", "."]);
        assert_eq!(ct(&t, "a.html").as_deref(), Some("text/x-custom"));
        assert_eq!(ct(&t, "a.foo").as_deref(), Some("text/x-custom"));
        assert_eq!(ct(&t, "a.FOO").as_deref(), Some("text/x-custom"));
        // Later wins.
        t.set("application/x-other", &["foo"]);
        assert_eq!(ct(&t, "a.foo").as_deref(), Some("application/x-other"));
        // Other built-ins untouched.
        assert_eq!(ct(&t, "a.css").as_deref(), Some("text/css"));
    }

    #[test]
    fn invalid_configured_types_are_ignored() {
        let mut t = MimeTable::new();
        t.set("text/html\r\nX-Evil: 1", &["html"]);
        t.set("", &["html"]);
        t.set("nonsense", &["html"]);
        assert_eq!(ct(&t, "a.html").as_deref(), Some("text/html"));
    }

    #[test]
    fn configured_type_with_parameters_kept_verbatim() {
        let mut t = MimeTable::new();
        t.set("text/plain; charset=iso-8859-1", &["latin"]);
        assert_eq!(
            ct(&t, "a.latin").as_deref(),
            Some("text/plain; charset=iso-8859-1")
        );
    }

    #[test]
    fn max_age() {
        let mut t = MimeTable::new();
        assert_eq!(t.lookup("a.png").unwrap().max_age, None);
        t.set_max_age("image/png", 3600);
        assert_eq!(t.lookup("a.png").unwrap().max_age, Some(3600));
        assert_eq!(t.lookup("a.jpg").unwrap().max_age, None);
        // Case-insensitive type, later wins.
        t.set_max_age("IMAGE/PNG", 60);
        assert_eq!(t.lookup("a.PNG").unwrap().max_age, Some(60));
        // Applies to extensions mapped afterwards.
        t.set("image/png", &["pong"]);
        assert_eq!(t.lookup("x.pong").unwrap().max_age, Some(60));
        // And to types only reached through the fallback.
        if let Some(mime) = mime_guess::from_ext("dwg").first_raw() {
            t.set_max_age(mime, 5);
            assert_eq!(t.lookup("x.dwg").unwrap().max_age, Some(5));
        }
        // Max age for a configured type set before its extensions.
        t.set_max_age("text/x-new", 9);
        t.set("text/x-new", &["new"]);
        assert_eq!(t.lookup("a.new").unwrap().max_age, Some(9));
    }

    #[test]
    fn lookups_share_the_string() {
        let t = MimeTable::new();
        let a = t.lookup("a.html").unwrap();
        let b = t.lookup("b.HTM").unwrap();
        assert!(Arc::ptr_eq(&a.content_type, &b.content_type));
    }

    #[test]
    fn compressible() {
        for yes in [
            "text/html",
            "text/plain; charset=utf-8",
            "TEXT/CSS",
            "text/javascript",
            "application/javascript",
            "application/json",
            "application/ld+json",
            "application/xml",
            "application/atom+xml",
            "image/svg+xml",
            "application/wasm",
            "image/x-icon",
            "font/ttf",
        ] {
            assert!(is_compressible(yes), "{yes}");
        }
        for no in [
            "image/png",
            "image/jpeg",
            "image/webp",
            "video/mp4",
            "audio/mpeg",
            "application/zip",
            "application/gzip",
            "application/x-7z-compressed",
            "application/pdf",
            "application/octet-stream",
            "font/woff2",
            "text/event-stream",
            "",
            "garbage",
            ";",
        ] {
            assert!(!is_compressible(no), "{no}");
        }
    }
}
