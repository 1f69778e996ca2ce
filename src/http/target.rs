//! A request's target (RFC 9112 §3.2), read once: where its path, query and authority
//! lie in the text the client sent, which it keeps (shared, not copied).
//!
//! Why not `http::Uri`: building one validates the target again, byte by byte, after the
//! head's parser (`httparse`) already did, and takes apart a scheme and an authority that
//! a server only needs for the rare absolute form (callgrind: 214 instructions of a small
//! request's 8,000). This reads the target in one pass over its bytes, refusing what
//! `http::Uri` refused, so that what is answered 400 did not change.
//!
//! Where RFC 9110 and `http::Uri` part: an absolute-form target with user information
//! (`http://user@host/`) is refused here, as RFC 9110 §4.2.4 asks of a recipient.

use bytes::Bytes;
use std::fmt;

/// A target that is not one (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTarget;

/// The four forms of RFC 9112 §3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `/path?query`: what clients send to an origin server.
    Origin,
    /// `scheme://authority/path?query`: what clients send to a proxy (and a server must
    /// accept, §3.2.2).
    Absolute,
    /// `host:port`: CONNECT's.
    Authority,
    /// `*`: OPTIONS for the server as a whole.
    Asterisk,
}

/// A parsed request target. Offsets are into `text`, which is valid UTF-8.
#[derive(Clone)]
pub struct Target {
    text: Bytes,
    form: Form,
    /// The authority, in absolute and authority forms.
    authority: (u32, u32),
    /// Where the path starts (its end is `query_at`).
    path_at: u32,
    /// Where `?` is, or the end of the text.
    query_at: u32,
}

/// What a byte may be in each part, as `http::Uri` classes them (WHATWG URL's path and
/// query states): `<`, `>` and, in a path, `` ` `` are refused; `"`, `{` and `}` are
/// taken for clients that send them unencoded.
const PATH: u8 = 1;
const QUERY: u8 = 2;
/// Allowed in an authority: RFC 3986's unreserved, sub-delims, `:`, `[`, `]`, `%`; not
/// `@`, since user information is refused (RFC 9110 §4.2.4).
const AUTHORITY: u8 = 4;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if matches!(c, 0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E)
            || matches!(c, b'"' | b'{' | b'}')
        {
            class |= PATH;
        }
        if matches!(c, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E) {
            class |= QUERY;
        }
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
                    | b'%'
            )
        {
            class |= AUTHORITY;
        }
        if c >= 0x80 {
            // Part of a UTF-8 sequence, checked as a whole.
            class |= PATH | QUERY;
        }
        t[b] = class;
        b += 1;
    }
    t
};

impl Target {
    /// Reads `text` as a request target. A fragment (which a client must not send) is
    /// dropped, as `http::Uri` did.
    pub fn parse(mut text: Bytes) -> Result<Target, InvalidTarget> {
        // Offsets are 32-bit; a head is at most 64 KiB anyway.
        if text.is_empty() || text.len() > u32::MAX as usize {
            return Err(InvalidTarget);
        }
        if &text[..] == b"*" {
            return Ok(Target {
                text,
                form: Form::Asterisk,
                authority: (0, 0),
                path_at: 0,
                query_at: 1,
            });
        }
        let (form, authority, path_at) = if text[0] == b'/' {
            (Form::Origin, (0, 0), 0)
        } else if let Some(after_scheme) = scheme_end(&text) {
            let end = text[after_scheme..]
                .iter()
                .position(|&b| matches!(b, b'/' | b'?' | b'#'))
                .map_or(text.len(), |i| after_scheme + i);
            let authority = &text[after_scheme..end];
            // An empty host, or user information (RFC 9110 §4.2.4: treated as an error).
            if authority.is_empty() || !is_authority(authority) {
                return Err(InvalidTarget);
            }
            (Form::Absolute, (after_scheme as u32, end as u32), end)
        } else if is_authority(&text) {
            let len = text.len() as u32;
            return Ok(Target {
                text,
                form: Form::Authority,
                authority: (0, len),
                path_at: len,
                query_at: len,
            });
        } else {
            return Err(InvalidTarget);
        };
        // The path up to `?` or `#`, then the query up to `#`: one pass, a table lookup a
        // byte (what `http::Uri` refused stops it, and is refused below).
        let bytes = &text[path_at..];
        let n = bytes.len();
        let mut i = 0;
        while i < n && CLASS[usize::from(bytes[i])] & PATH != 0 {
            i += 1;
        }
        let mut query_at = None;
        if i < n && bytes[i] == b'?' {
            query_at = Some(i);
            i += 1;
            while i < n && CLASS[usize::from(bytes[i])] & QUERY != 0 {
                i += 1;
            }
        }
        let mut end = n;
        if i < n {
            if bytes[i] != b'#' {
                return Err(InvalidTarget);
            }
            end = i;
        }
        // Bytes above ASCII must make UTF-8 (word-at-a-time `is_ascii` first: most
        // targets are ASCII).
        let kept = &bytes[..end];
        if !kept.is_ascii() && std::str::from_utf8(kept).is_err() {
            return Err(InvalidTarget);
        }
        text.truncate(path_at + end);
        let query_at = query_at.map_or(text.len(), |q| path_at + q);
        Ok(Target {
            form,
            authority,
            path_at: path_at as u32,
            query_at: query_at as u32,
            text,
        })
    }

    pub fn form(&self) -> Form {
        self.form
    }

    /// The path: `/` for an absolute target without one, the empty string for the
    /// authority form, `*` for the asterisk.
    pub fn path(&self) -> &str {
        match self.slice(self.path_at, self.query_at) {
            "" if self.form == Form::Absolute => "/",
            path => path,
        }
    }

    /// The query, without its `?`.
    pub fn query(&self) -> Option<&str> {
        let at = self.query_at as usize;
        (at < self.text.len()).then(|| self.slice(self.query_at + 1, self.text.len() as u32))
    }

    /// The host the target names (absolute and authority forms): the authority without
    /// its port; an IPv6 literal keeps its brackets.
    pub fn host(&self) -> Option<&str> {
        if !matches!(self.form, Form::Absolute | Form::Authority) {
            return None;
        }
        let authority = self.slice(self.authority.0, self.authority.1);
        Some(match authority.rfind(':') {
            // A colon inside brackets belongs to an IPv6 address, not a port.
            Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
            _ => authority,
        })
    }

    /// Path and query as sent: empty in the authority form and in an absolute target
    /// without either, `*` in the asterisk form.
    pub fn path_and_query(&self) -> &str {
        self.slice(self.path_at, self.text.len() as u32)
    }

    /// The target as sent, less a fragment.
    pub fn as_str(&self) -> &str {
        self.slice(0, self.text.len() as u32)
    }

    fn slice(&self, from: u32, to: u32) -> &str {
        let bytes = &self.text[from as usize..to as usize];
        // SAFETY: `parse` let through only UTF-8 text (ASCII outside the path and query,
        // whose other bytes it checked with `from_utf8`), and every offset kept is that
        // of an ASCII byte (`/`, `?`, `:`) or an end, so each slice is UTF-8 too.
        // (Checking again here would cost what this type exists to save.)
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

/// After `scheme://`, where the authority starts: `None` unless the text starts with a
/// scheme (a letter, then letters, digits, `+`, `-`, `.`) and `://`.
fn scheme_end(text: &[u8]) -> Option<usize> {
    let colon = text.iter().position(|&b| b == b':')?;
    let scheme = &text[..colon];
    let valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (valid && text[colon..].starts_with(b"://")).then_some(colon + 3)
}

fn is_authority(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| CLASS[usize::from(b)] & AUTHORITY != 0)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for Target {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<Target, InvalidTarget> {
        Target::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn origin_form() {
        let t = parse("/a/b.html?x=1&y=%20").unwrap();
        assert_eq!(t.form(), Form::Origin);
        assert_eq!(t.path(), "/a/b.html");
        assert_eq!(t.query(), Some("x=1&y=%20"));
        assert_eq!(t.host(), None);
        assert_eq!(t.path_and_query(), "/a/b.html?x=1&y=%20");
        let t = parse("/").unwrap();
        assert_eq!((t.path(), t.query()), ("/", None));
        let t = parse("/a?").unwrap();
        assert_eq!((t.path(), t.query()), ("/a", Some("")));
        let t = parse("/a?b?c").unwrap();
        assert_eq!((t.path(), t.query()), ("/a", Some("b?c")));
    }

    #[test]
    fn a_fragment_is_dropped() {
        let t = parse("/a?b#frag").unwrap();
        assert_eq!((t.path(), t.query(), t.as_str()), ("/a", Some("b"), "/a?b"));
        let t = parse("/a#f?g").unwrap();
        assert_eq!((t.path(), t.query()), ("/a", None));
    }

    #[test]
    fn absolute_form() {
        let t = parse("http://Example.com:8080/p?q").unwrap();
        assert_eq!(t.form(), Form::Absolute);
        assert_eq!(t.host(), Some("Example.com"));
        assert_eq!((t.path(), t.query()), ("/p", Some("q")));
        assert_eq!(t.path_and_query(), "/p?q");
        let t = parse("https://h").unwrap();
        assert_eq!((t.host(), t.path(), t.query()), (Some("h"), "/", None));
        assert_eq!(t.path_and_query(), "");
        let t = parse("http://[::1]:80/x").unwrap();
        assert_eq!(t.host(), Some("[::1]"));
        let t = parse("http://[::1]/x").unwrap();
        assert_eq!(t.host(), Some("[::1]"));
        assert!(parse("http:///p").is_err(), "no host");
        assert!(parse("http://user@h/p").is_err(), "user information");
        assert!(parse("1http://h/").is_err(), "not a scheme");
    }

    #[test]
    fn authority_and_asterisk_forms() {
        let t = parse("example.com:443").unwrap();
        assert_eq!(t.form(), Form::Authority);
        assert_eq!(
            (t.host(), t.path(), t.query()),
            (Some("example.com"), "", None)
        );
        assert_eq!(t.path_and_query(), "");
        let t = parse("*").unwrap();
        assert_eq!((t.form(), t.path(), t.host()), (Form::Asterisk, "*", None));
        assert!(parse("a b").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn what_http_uri_refused_is_refused() {
        for bad in [
            "/a<b", "/a>b", "/a`b", "/a?<", "/a b", "/\x7f", "/a\tb", "/a?b\"c>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        for good in [
            "/a\"b",
            "/{x}",
            "/a?`b",
            "/caf\u{e9}",
            "/a?b=\u{e9}",
            "/!$&'()*+,;=:@",
        ] {
            assert!(parse(good).is_ok(), "{good:?}");
        }
        assert!(
            Target::parse(Bytes::from_static(b"/\xff")).is_err(),
            "not UTF-8"
        );
        assert!(
            Target::parse(Bytes::from_static(b"/a#\xff")).is_ok(),
            "in the fragment"
        );
    }

    proptest! {
        /// Origin-form targets are accepted and taken apart as `http::Uri` did.
        #[test]
        fn agrees_with_http_uri(s in "/[ -~\u{e9}\u{4e2d}]{0,40}") {
            let ours = parse(&s);
            let theirs = http::Uri::try_from(s.as_str());
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}", s);
            if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                prop_assert_eq!(ours.path(), theirs.path());
                prop_assert_eq!(ours.query(), theirs.query());
            }
        }

        /// Absolute-form targets name the host `http::Uri` found.
        #[test]
        fn absolute_hosts_agree(host in "[a-z0-9.-]{1,20}", port in proptest::option::of(1u16..), path in "(/[a-z?=&]{0,10})?") {
            let s = match port {
                Some(p) => format!("http://{host}:{p}{path}"),
                None => format!("http://{host}{path}"),
            };
            let ours = parse(&s).unwrap();
            let theirs = http::Uri::try_from(s.as_str()).unwrap();
            prop_assert_eq!(ours.host(), theirs.host());
            prop_assert_eq!(ours.path(), theirs.path());
            prop_assert_eq!(ours.query(), theirs.query());
        }
    }
}
