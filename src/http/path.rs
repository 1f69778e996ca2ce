//! Request paths: percent-decoding and dot-segment removal, so that a path can never name
//! anything above the document root.
//!
//! Decoding happens exactly once (a `%252e` stays a literal `%2e` in a file name, it is never
//! decoded again), `..` that would climb above `/` is refused rather than clamped (so the
//! client learns its request is wrong), and a NUL byte is refused (it would truncate the path
//! in the C library).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not an absolute path.
    NotAbsolute,
    /// A `..` segment climbs above the root.
    Traversal,
    /// Decodes to a NUL byte.
    Nul,
    /// Decodes to bytes that are not UTF-8.
    NotUtf8,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path does not start with '/'",
            PathError::Traversal => "the path climbs above the root with '..'",
            PathError::Nul => "the path contains a NUL byte",
            PathError::NotUtf8 => "the path is not valid UTF-8 once decoded",
        })
    }
}

/// Decodes a raw request path (as received, percent-encoded) and normalises it.
pub fn decode_and_normalize(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // The common case, a plain path: nothing to decode, no dot segment, no empty segment.
    if is_plain(raw.as_bytes()) {
        return Ok(raw.to_string());
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    if bytes.contains(&0) {
        return Err(PathError::Nul);
    }
    let decoded = String::from_utf8(bytes).map_err(|_| PathError::NotUtf8)?;
    normalize(&decoded)
}

/// No `%`, no NUL, no segment that is empty or starts with a dot: nothing to decode or
/// normalise. One pass over the bytes, since it runs for every request.
fn is_plain(raw: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in raw {
        if b == b'%' || b == 0 || (prev == b'/' && (b == b'.' || b == b'/')) {
            return false;
        }
        prev = b;
    }
    true
}

/// Removes `.` and `..` segments and repeated slashes from an already decoded path. A
/// trailing slash is kept (it means "the directory").
pub fn normalize(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path.split('/') {
        trailing_slash = false;
        match seg {
            "" | "." => trailing_slash = true,
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::Traversal);
                }
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

/// Characters that must be escaped when a decoded path goes back into a URL (a `Location`
/// header or a link): controls, space, non-ASCII, and the few ASCII characters that would
/// change the URL's meaning.
const PATH_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%');

/// Percent-encodes a decoded path for use in a URL.
pub fn encode(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_ESCAPE).to_string()
}

/// Makes a redirection target safe for a `Location` header: escapes what a header or URL
/// cannot carry, keeps everything else (including an existing `%XX` and the query).
pub fn encode_location(target: &str) -> String {
    const LOCATION_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    percent_encoding::utf8_percent_encode(target, LOCATION_ESCAPE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_resolved() {
        assert_eq!(normalize("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(normalize("/a//b").unwrap(), "/a/b");
        assert_eq!(normalize("/a/b/").unwrap(), "/a/b/");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/.").unwrap(), "/");
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        assert_eq!(normalize("/.."), Err(PathError::Traversal));
        assert_eq!(normalize("/a/../../etc/passwd"), Err(PathError::Traversal));
        assert_eq!(
            decode_and_normalize("/%2e%2e/etc/passwd"),
            Err(PathError::Traversal)
        );
        assert_eq!(
            decode_and_normalize("/a/%2E%2E/%2e%2e/x"),
            Err(PathError::Traversal)
        );
    }

    #[test]
    fn decoding_happens_once() {
        assert_eq!(decode_and_normalize("/%252e%252e/x").unwrap(), "/%2e%2e/x");
        assert_eq!(decode_and_normalize("/a%20b").unwrap(), "/a b");
    }

    #[test]
    fn nul_and_bad_utf8_are_refused() {
        assert_eq!(decode_and_normalize("/a%00b"), Err(PathError::Nul));
        assert_eq!(decode_and_normalize("/%ff"), Err(PathError::NotUtf8));
        assert_eq!(decode_and_normalize("a"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn plain_paths_take_the_fast_path_unchanged() {
        assert_eq!(decode_and_normalize("/a/b.txt").unwrap(), "/a/b.txt");
        assert_eq!(decode_and_normalize("/dir/").unwrap(), "/dir/");
        assert_eq!(decode_and_normalize("/a..b").unwrap(), "/a..b");
        assert_eq!(decode_and_normalize("/a/.hidden").unwrap(), "/a/.hidden");
        assert_eq!(decode_and_normalize("/a/./b").unwrap(), "/a/b");
        assert_eq!(decode_and_normalize("/a//b").unwrap(), "/a/b");
    }

    #[test]
    fn encoding_round_trips() {
        let p = "/a b/100%/ü?#";
        assert_eq!(decode_and_normalize(&encode(p)).unwrap(), p);
    }
}
