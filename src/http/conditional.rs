//! Conditional requests (RFC 9110 §13): entity tags, HTTP dates and the
//! evaluation of `If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since` and `If-Range` against a representation's validators.
//!
//! [`evaluate`] follows the order of RFC 9110 §13.2.2 and tells the caller
//! whether to go on with the request (and whether a `Range` header may be
//! honoured), answer 304 Not Modified, or answer 412 Precondition Failed.
//!
//! This module must never panic on any header content (non-UTF-8 bytes,
//! unterminated quotes, dates outside the representable range) and never
//! allocate in proportion to header size: entity-tag lists are scanned in
//! place.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::fields::Fields;
use ::http::header::{
    IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE,
};
use ::http::Method;

/// The validators of the selected representation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validators<'a> {
    /// A strong entity tag including its double quotes, e.g. `"5f3a-1c8"`. Borrowed: the
    /// file handler keeps it, ready-made, in its cache of file versions.
    pub etag: &'a str,
    /// Modification time of the representation.
    pub last_modified: SystemTime,
}

/// Build a strong entity tag from a file's inode, size and modification time
/// (seconds and nanoseconds), all in lowercase hex: `"inode-size-secs.nanos"`.
///
/// A modification time before the Unix epoch gets a `n` marker in front of
/// the seconds so that it cannot collide with a time after the epoch.
pub fn make_etag(len: u64, mtime: SystemTime, inode: u64) -> String {
    match mtime.duration_since(UNIX_EPOCH) {
        Ok(d) => format!(
            "\"{:x}-{:x}-{:x}.{:x}\"",
            inode,
            len,
            d.as_secs(),
            d.subsec_nanos()
        ),
        Err(e) => {
            let d = e.duration();
            format!(
                "\"{:x}-{:x}-n{:x}.{:x}\"",
                inode,
                len,
                d.as_secs(),
                d.subsec_nanos()
            )
        }
    }
}

/// What to do with a request after evaluating its preconditions.
#[derive(Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Process the request normally. `honor_range` is false when a `Range`
    /// header must be ignored: the method is not GET, or `If-Range` did not
    /// match. It is true otherwise (including when there is no `Range`).
    Proceed { honor_range: bool },
    /// Answer 304 Not Modified (GET and HEAD only).
    NotModified,
    /// Answer 412 Precondition Failed.
    Failed,
}

/// Last time representable by an IMF-fixdate (9999-12-31 23:59:59 UTC).
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// Format a time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
///
/// Times before 1970 are clamped to the epoch and times after the year 9999
/// to its last second, because the format cannot express them.
pub fn http_date(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs().min(MAX_HTTP_DATE_SECS),
        Err(_) => 0,
    };
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Whole seconds since the epoch (negative before it), i.e. the time
/// truncated to the one-second resolution of HTTP dates.
fn unix_seconds(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => {
            let d = e.duration();
            // Truncation toward negative infinity, so that e.g. -0.5 s is -1.
            let whole = i128::from(d.as_secs());
            if d.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

/// A parsed entity tag borrowing its opaque part (without quotes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    opaque: &'a [u8],
}

impl EntityTag<'_> {
    fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }
}

/// Parse a complete entity tag (`"xyz"` or `W/"xyz"`), surrounding
/// whitespace allowed.
fn parse_etag(s: &[u8]) -> Option<EntityTag<'_>> {
    let s = s.trim_ascii();
    let (weak, rest) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let inner = rest.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'"') {
        return None;
    }
    Some(EntityTag {
        weak,
        opaque: inner,
    })
}

/// One element of an `If-Match` / `If-None-Match` list.
#[derive(Debug, PartialEq, Eq)]
enum ListItem<'a> {
    Star,
    Tag(EntityTag<'a>),
    /// Something that is not an entity tag; it never matches.
    Invalid,
}

/// Iterator over the elements of an entity-tag list. Commas inside quoted
/// tags are part of the tag, so a plain split on `,` would be wrong.
struct TagList<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TagList<'a> {
    type Item = ListItem<'a>;

    fn next(&mut self) -> Option<ListItem<'a>> {
        // Skip separators and empty elements.
        let start = self
            .rest
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b','))?;
        let s = self.rest.get(start..).unwrap_or_default();

        // Length of the element: up to the closing quote of a tag, or up to
        // the next comma for anything else.
        let (weak, body) = match s.strip_prefix(b"W/") {
            Some(b) => (true, b),
            None => (false, s),
        };
        let prefix = if weak { 2 } else { 0 };
        let tag_end = if body.first() == Some(&b'"') {
            body.get(1..)
                .and_then(|after| after.iter().position(|&b| b == b'"'))
                .map(|p| prefix + p + 2)
        } else {
            None
        };

        let (item, consumed) = match tag_end {
            Some(end) => {
                let elem = s.get(..end).unwrap_or_default();
                let after = s.get(end..).unwrap_or_default();
                // After a tag only whitespace may come before the comma.
                let next_comma = after.iter().position(|&b| b == b',');
                let between = match next_comma {
                    Some(p) => after.get(..p).unwrap_or_default(),
                    None => after,
                };
                let consumed = end + next_comma.unwrap_or(after.len());
                if between.trim_ascii().is_empty() {
                    match parse_etag(elem) {
                        Some(t) => (ListItem::Tag(t), consumed),
                        None => (ListItem::Invalid, consumed),
                    }
                } else {
                    (ListItem::Invalid, consumed)
                }
            }
            None => {
                let end = s.iter().position(|&b| b == b',').unwrap_or(s.len());
                let elem = s.get(..end).unwrap_or_default().trim_ascii();
                if elem == b"*" {
                    (ListItem::Star, end)
                } else {
                    (ListItem::Invalid, end)
                }
            }
        };
        self.rest = s.get(consumed..).unwrap_or_default();
        Some(item)
    }
}

/// Whether any line of the header `name` matches the current tag, using the
/// given comparison. `*` matches any current representation. `None` when
/// the header is absent.
fn list_matches(
    headers: &Fields,
    name: &::http::header::HeaderName,
    current: Option<&EntityTag<'_>>,
    strong: bool,
) -> Option<bool> {
    let mut present = false;
    for value in headers.get_all(name) {
        present = true;
        let list = TagList {
            rest: value.as_bytes(),
        };
        for item in list {
            let hit = match item {
                ListItem::Star => true,
                ListItem::Tag(t) => match current {
                    Some(c) if strong => t.strong_eq(c),
                    Some(c) => t.weak_eq(c),
                    None => false,
                },
                ListItem::Invalid => false,
            };
            if hit {
                return Some(true);
            }
        }
    }
    present.then_some(false)
}

/// The date in the header `name`, if the header occurs exactly once and
/// holds a valid HTTP date (any of the three formats of RFC 9110 §5.6.7).
fn single_date(headers: &Fields, name: &::http::header::HeaderName) -> Option<i128> {
    let mut values = headers.get_all(name);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?;
    let t = httpdate::parse_http_date(text.trim()).ok()?;
    Some(unix_seconds(t))
}

/// Evaluate the `If-Range` header; true when the `Range` may be honoured.
fn if_range_allows(headers: &Fields, current: Option<&EntityTag<'_>>, lm_secs: i128) -> bool {
    let mut values = headers.get_all(IF_RANGE);
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let bytes = value.as_bytes().trim_ascii();
    if bytes.starts_with(b"\"") || bytes.starts_with(b"W/") {
        return match (parse_etag(bytes), current) {
            (Some(t), Some(c)) => t.strong_eq(c),
            _ => false,
        };
    }
    match value
        .to_str()
        .ok()
        .map(|s| httpdate::parse_http_date(s.trim()))
    {
        Some(Ok(t)) => unix_seconds(t) == lm_secs,
        _ => false,
    }
}

/// Evaluate the preconditions of a request (RFC 9110 §13.2.2):
///
/// 1. `If-Match` (strong comparison, `*` matches) fails → [`Precondition::Failed`];
///    without `If-Match`, a valid `If-Unmodified-Since` earlier than the
///    last modification → `Failed`.
/// 2. `If-None-Match` (weak comparison, `*` matches) matches → `NotModified`
///    for GET/HEAD, `Failed` for other methods; without `If-None-Match`, for
///    GET/HEAD a valid `If-Modified-Since` not earlier than the last
///    modification (truncated to seconds) → `NotModified`.
/// 3. Otherwise [`Precondition::Proceed`], where `honor_range` reflects
///    `If-Range` (checked only for GET with a `Range` header): an entity tag
///    must match strongly (a weak one never matches), a date must equal the
///    last modification in whole seconds.
///
/// Invalid dates and repeated date headers are ignored. Multiple header
/// lines of the list headers are combined.
pub fn evaluate(method: &Method, headers: &Fields, v: &Validators) -> Precondition {
    // Most requests carry no precondition at all: one pass over the header names is
    // cheaper than the five lookups below.
    let conditional = |n: &::http::HeaderName| {
        n == IF_MATCH
            || n == IF_NONE_MATCH
            || n == IF_MODIFIED_SINCE
            || n == IF_UNMODIFIED_SINCE
            || n == IF_RANGE
    };
    if !headers.keys().any(conditional) {
        // Without If-Range, a Range is honoured exactly when the method is GET.
        return Precondition::Proceed {
            honor_range: method == Method::GET,
        };
    }
    let current = parse_etag(v.etag.as_bytes());
    let current = current.as_ref();
    let lm_secs = unix_seconds(v.last_modified);
    let get_or_head = method == Method::GET || method == Method::HEAD;

    match list_matches(headers, &IF_MATCH, current, true) {
        Some(false) => return Precondition::Failed,
        Some(true) => {}
        None => {
            if let Some(date) = single_date(headers, &IF_UNMODIFIED_SINCE) {
                if lm_secs > date {
                    return Precondition::Failed;
                }
            }
        }
    }

    match list_matches(headers, &IF_NONE_MATCH, current, false) {
        Some(true) => {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
        Some(false) => {}
        None => {
            if get_or_head {
                if let Some(date) = single_date(headers, &IF_MODIFIED_SINCE) {
                    if lm_secs <= date {
                        return Precondition::NotModified;
                    }
                }
            }
        }
    }

    let honor_range = if method != Method::GET {
        false
    } else if headers.contains_key(RANGE) {
        if_range_allows(headers, current, lm_secs)
    } else {
        true
    };
    Precondition::Proceed { honor_range }
}

/// Evaluate the preconditions of a request for a representation that has an entity tag
/// but no modification date (a generated page such as a directory listing): the date
/// conditions are then ignored (RFC 9110 §13.1.3, §13.1.4). `If-Match` (strong) that does
/// not match → [`Precondition::Failed`]; `If-None-Match` (weak) that matches →
/// `NotModified` for GET and HEAD, `Failed` otherwise. Ranges are not offered.
pub fn evaluate_etag(method: &Method, headers: &Fields, etag: &str) -> Precondition {
    let current = parse_etag(etag.as_bytes());
    let current = current.as_ref();
    if list_matches(headers, &IF_MATCH, current, true) == Some(false) {
        return Precondition::Failed;
    }
    if list_matches(headers, &IF_NONE_MATCH, current, false) == Some(true) {
        return if method == Method::GET || method == Method::HEAD {
            Precondition::NotModified
        } else {
            Precondition::Failed
        };
    }
    Precondition::Proceed { honor_range: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::http::HeaderValue;

    const ETAG: &str = "\"abc-123\"";
    /// Sun, 06 Nov 1994 08:49:37 GMT
    const LM: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn validators() -> Validators<'static> {
        Validators {
            etag: ETAG,
            // Sub-second part must be ignored by comparisons.
            last_modified: at(LM) + Duration::from_millis(700),
        }
    }

    fn headers(pairs: &[(&str, &[u8])]) -> Fields {
        let mut h = Fields::new();
        for (name, value) in pairs {
            h.append(
                ::http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        h
    }

    #[test]
    fn tag_only_preconditions_ignore_dates() {
        let get = Method::GET;
        let none = headers(&[]);
        assert_eq!(
            evaluate_etag(&get, &none, ETAG),
            Precondition::Proceed { honor_range: false }
        );
        let inm = headers(&[("if-none-match", b"\"x\", W/\"abc-123\"")]);
        assert_eq!(evaluate_etag(&get, &inm, ETAG), Precondition::NotModified);
        assert_eq!(
            evaluate_etag(&Method::HEAD, &inm, ETAG),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate_etag(&Method::POST, &inm, ETAG),
            Precondition::Failed
        );
        let other = headers(&[("if-none-match", b"\"other\"")]);
        assert_eq!(
            evaluate_etag(&get, &other, ETAG),
            Precondition::Proceed { honor_range: false }
        );
        let ims = headers(&[("if-modified-since", b"Fri, 31 Dec 9999 23:59:59 GMT")]);
        assert_eq!(
            evaluate_etag(&get, &ims, ETAG),
            Precondition::Proceed { honor_range: false }
        );
        let if_match = headers(&[("if-match", b"\"other\"")]);
        assert_eq!(evaluate_etag(&get, &if_match, ETAG), Precondition::Failed);
        let star = headers(&[("if-match", b"*")]);
        assert_eq!(
            evaluate_etag(&get, &star, ETAG),
            Precondition::Proceed { honor_range: false }
        );
    }

    fn eval(method: Method, pairs: &[(&str, &[u8])]) -> Precondition {
        evaluate(&method, &headers(pairs), &validators())
    }

    const PROCEED: Precondition = Precondition::Proceed { honor_range: true };
    const NO_RANGE: Precondition = Precondition::Proceed { honor_range: false };

    #[test]
    fn etag_format() {
        let t = make_etag(0x1c8, UNIX_EPOCH + Duration::new(0x5f3a, 0x10), 0x42);
        assert_eq!(t, "\"42-1c8-5f3a.10\"");
        assert!(parse_etag(t.as_bytes()).is_some());
        let before = UNIX_EPOCH - Duration::new(5, 0);
        assert_eq!(make_etag(1, before, 2), "\"2-1-n5.0\"");
        assert_ne!(
            make_etag(1, at(5), 2),
            make_etag(1, at(5) + Duration::from_nanos(1), 2)
        );
        assert_ne!(make_etag(1, at(5), 2), make_etag(2, at(5), 2));
        assert_ne!(make_etag(1, at(5), 2), make_etag(1, at(5), 3));
        let big = make_etag(
            u64::MAX,
            UNIX_EPOCH + Duration::new(1 << 62, 999_999_999),
            u64::MAX,
        );
        assert!(big.starts_with('"') && big.ends_with('"'));
    }

    #[test]
    fn http_date_format_and_clamping() {
        assert_eq!(http_date(at(LM)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(10)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(http_date(at(u64::MAX / 4)), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn no_conditions() {
        assert_eq!(eval(Method::GET, &[]), PROCEED);
        assert_eq!(eval(Method::HEAD, &[]), NO_RANGE);
        assert_eq!(eval(Method::POST, &[]), NO_RANGE);
    }

    #[test]
    fn if_match_strong() {
        assert_eq!(eval(Method::GET, &[("if-match", b"\"abc-123\"")]), PROCEED);
        assert_eq!(
            eval(Method::GET, &[("if-match", b"\"other\"")]),
            Precondition::Failed
        );
        // A weak tag never matches strongly.
        assert_eq!(
            eval(Method::GET, &[("if-match", b"W/\"abc-123\"")]),
            Precondition::Failed
        );
        assert_eq!(eval(Method::PUT, &[("if-match", b"*")]), NO_RANGE);
        assert_eq!(
            eval(Method::GET, &[("if-match", b"\"x\", \"abc-123\"")]),
            PROCEED
        );
        assert_eq!(
            eval(
                Method::GET,
                &[("if-match", b"\"x\""), ("if-match", b"\"abc-123\"")]
            ),
            PROCEED
        );
        assert_eq!(
            eval(Method::GET, &[("if-match", b"abc-123")]),
            Precondition::Failed
        );
        assert_eq!(
            eval(Method::GET, &[("if-match", b"")]),
            Precondition::Failed
        );
    }

    #[test]
    fn weak_current_etag_never_matches_if_match() {
        let v = Validators {
            etag: "W/\"abc-123\"",
            last_modified: at(LM),
        };
        let h = headers(&[("if-match", b"\"abc-123\"")]);
        assert_eq!(evaluate(&Method::GET, &h, &v), Precondition::Failed);
        let h = headers(&[("if-none-match", b"\"abc-123\"")]);
        assert_eq!(evaluate(&Method::GET, &h, &v), Precondition::NotModified);
    }

    #[test]
    fn if_unmodified_since() {
        let lm = http_date(at(LM));
        let earlier = http_date(at(LM - 1));
        let later = http_date(at(LM + 1));
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", lm.as_bytes())]),
            PROCEED
        );
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", later.as_bytes())]),
            PROCEED
        );
        assert_eq!(
            eval(Method::PUT, &[("if-unmodified-since", earlier.as_bytes())]),
            Precondition::Failed
        );
        // Invalid or repeated: ignored.
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", b"yesterday")]),
            PROCEED
        );
        assert_eq!(
            eval(
                Method::GET,
                &[
                    ("if-unmodified-since", earlier.as_bytes()),
                    ("if-unmodified-since", earlier.as_bytes())
                ]
            ),
            PROCEED
        );
    }

    #[test]
    fn if_match_takes_precedence_over_if_unmodified_since() {
        let earlier = http_date(at(LM - 100));
        assert_eq!(
            eval(
                Method::GET,
                &[
                    ("if-match", b"\"abc-123\""),
                    ("if-unmodified-since", earlier.as_bytes())
                ]
            ),
            PROCEED
        );
    }

    #[test]
    fn if_none_match_weak() {
        assert_eq!(
            eval(Method::GET, &[("if-none-match", b"\"abc-123\"")]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::HEAD, &[("if-none-match", b"W/\"abc-123\"")]),
            Precondition::NotModified
        );
        assert_eq!(eval(Method::GET, &[("if-none-match", b"\"zzz\"")]), PROCEED);
        assert_eq!(
            eval(Method::GET, &[("if-none-match", b"*")]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::PUT, &[("if-none-match", b"*")]),
            Precondition::Failed
        );
        assert_eq!(
            eval(Method::DELETE, &[("if-none-match", b"W/\"abc-123\"")]),
            Precondition::Failed
        );
        assert_eq!(
            eval(
                Method::GET,
                &[("if-none-match", b" \"a\" ,W/\"b\",  ,\t\"abc-123\" ")]
            ),
            Precondition::NotModified
        );
        assert_eq!(
            eval(
                Method::GET,
                &[
                    ("if-none-match", b"\"a\""),
                    ("if-none-match", b"W/\"abc-123\"")
                ]
            ),
            Precondition::NotModified
        );
    }

    #[test]
    fn commas_inside_etags() {
        let v = Validators {
            etag: "\"a,b\"",
            last_modified: at(LM),
        };
        let h = headers(&[("if-none-match", b"\"x\", \"a,b\"")]);
        assert_eq!(evaluate(&Method::GET, &h, &v), Precondition::NotModified);
        let h = headers(&[("if-none-match", b"\"a\", \"b\"")]);
        assert_eq!(evaluate(&Method::GET, &h, &v), PROCEED);
    }

    #[test]
    fn malformed_lists_do_not_match_or_panic() {
        for value in [
            &b"\"abc-123"[..],
            b"W/",
            b"W/\"",
            b"\"",
            b",,,",
            b"\"abc-123\"junk",
            b"junk\"abc-123\"",
            b"\"abc\"-123\"",
            b"W/ \"abc-123\"",
            b"\xff\xfe",
            b"**",
        ] {
            assert_eq!(
                eval(Method::GET, &[("if-none-match", value)]),
                PROCEED,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        // Garbage before a valid tag does not hide it.
        assert_eq!(
            eval(Method::GET, &[("if-none-match", b"junk, \"abc-123\"")]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-none-match", b"\"x\"y, \"abc-123\"")]),
            Precondition::NotModified
        );
    }

    #[test]
    fn if_none_match_takes_precedence_over_if_modified_since() {
        let later = http_date(at(LM + 100));
        assert_eq!(
            eval(
                Method::GET,
                &[
                    ("if-none-match", b"\"other\""),
                    ("if-modified-since", later.as_bytes())
                ]
            ),
            PROCEED
        );
    }

    #[test]
    fn if_modified_since() {
        let lm = http_date(at(LM));
        let earlier = http_date(at(LM - 1));
        let later = http_date(at(LM + 1));
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", lm.as_bytes())]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::HEAD, &[("if-modified-since", later.as_bytes())]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", earlier.as_bytes())]),
            PROCEED
        );
        // Only GET and HEAD.
        assert_eq!(
            eval(Method::POST, &[("if-modified-since", lm.as_bytes())]),
            NO_RANGE
        );
        // Invalid dates are ignored.
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", b"not a date")]),
            PROCEED
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", b"\xff")]),
            PROCEED
        );
    }

    #[test]
    fn obsolete_date_formats() {
        assert_eq!(
            eval(
                Method::GET,
                &[("if-modified-since", b"Sunday, 06-Nov-94 08:49:37 GMT")]
            ),
            Precondition::NotModified
        );
        assert_eq!(
            eval(
                Method::GET,
                &[("if-modified-since", b"Sun Nov  6 08:49:37 1994")]
            ),
            Precondition::NotModified
        );
    }

    #[test]
    fn if_match_failure_wins_over_if_none_match() {
        assert_eq!(
            eval(
                Method::GET,
                &[("if-match", b"\"nope\""), ("if-none-match", b"\"abc-123\"")]
            ),
            Precondition::Failed
        );
    }

    #[test]
    fn if_range_with_etag() {
        let range: (&str, &[u8]) = ("range", b"bytes=0-1");
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", b"\"abc-123\"")]),
            PROCEED
        );
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", b" \"abc-123\" ")]),
            PROCEED
        );
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", b"\"other\"")]),
            NO_RANGE
        );
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", b"W/\"abc-123\"")]),
            NO_RANGE
        );
        assert_eq!(eval(Method::GET, &[range, ("if-range", b"*")]), NO_RANGE);
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", b"\"abc-123")]),
            NO_RANGE
        );
        assert_eq!(
            eval(
                Method::GET,
                &[
                    range,
                    ("if-range", b"\"abc-123\""),
                    ("if-range", b"\"abc-123\"")
                ]
            ),
            NO_RANGE
        );
    }

    #[test]
    fn if_range_with_date() {
        let range: (&str, &[u8]) = ("range", b"bytes=0-1");
        let lm = http_date(at(LM));
        let later = http_date(at(LM + 1));
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", lm.as_bytes())]),
            PROCEED
        );
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", later.as_bytes())]),
            NO_RANGE
        );
        assert_eq!(
            eval(Method::GET, &[range, ("if-range", b"garbage")]),
            NO_RANGE
        );
    }

    #[test]
    fn if_range_without_range_is_ignored() {
        assert_eq!(eval(Method::GET, &[("if-range", b"\"other\"")]), PROCEED);
    }

    #[test]
    fn range_only_for_get() {
        let range: (&str, &[u8]) = ("range", b"bytes=0-1");
        assert_eq!(eval(Method::HEAD, &[range]), NO_RANGE);
        assert_eq!(eval(Method::GET, &[range]), PROCEED);
    }

    #[test]
    fn pre_epoch_modification_time() {
        let v = Validators {
            etag: ETAG,
            last_modified: UNIX_EPOCH - Duration::from_millis(500),
        };
        let h = headers(&[("if-modified-since", b"Thu, 01 Jan 1970 00:00:00 GMT")]);
        assert_eq!(evaluate(&Method::GET, &h, &v), Precondition::NotModified);
        let h = headers(&[("if-unmodified-since", b"Thu, 01 Jan 1970 00:00:00 GMT")]);
        assert_eq!(evaluate(&Method::GET, &h, &v), PROCEED);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(500)), -1);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(2)), -2);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics(
                values in proptest::collection::vec(
                    (0usize..6, proptest::collection::vec(
                        prop_oneof![Just(b'"'), Just(b','), Just(b'W'), Just(b'/'), Just(b' '),
                                    Just(b'*'), Just(b'a'), 0x20u8..0x7f, 0x80u8..=0xff],
                        0..24,
                    )),
                    0..6,
                ),
                secs in any::<u32>(),
                method in prop_oneof![Just(Method::GET), Just(Method::HEAD), Just(Method::PUT)],
            ) {
                const NAMES: [&str; 6] =
                    ["if-match", "if-none-match", "if-range", "if-modified-since",
                     "if-unmodified-since", "range"];
                let mut h = Fields::new();
                for (name, value) in &values {
                    if let Ok(v) = HeaderValue::from_bytes(value) {
                        h.append(::http::HeaderName::from_static(NAMES[*name]), v);
                    }
                }
                let v = Validators {
                    etag: ETAG,
                    last_modified: at(u64::from(secs)),
                };
                let _ = evaluate(&method, &h, &v);
            }

            #[test]
            fn own_etag_always_matches(len in any::<u64>(), secs in 0u64..(1 << 40),
                                       nanos in 0u32..1_000_000_000, inode in any::<u64>()) {
                let mtime = UNIX_EPOCH + Duration::new(secs, nanos);
                let tag = make_etag(len, mtime, inode);
                let v = Validators { etag: &tag, last_modified: mtime };
                let h = headers(&[("if-none-match", v.etag.as_bytes())]);
                prop_assert_eq!(evaluate(&Method::GET, &h, &v), Precondition::NotModified);
                let h = headers(&[("if-match", v.etag.as_bytes()), ("range", b"bytes=0-0"),
                                  ("if-range", v.etag.as_bytes())]);
                prop_assert_eq!(evaluate(&Method::GET, &h, &v), PROCEED);
            }

            #[test]
            fn http_date_round_trips(secs in 0u64..253_402_300_800) {
                let t = at(secs);
                prop_assert_eq!(httpdate::parse_http_date(&http_date(t)).ok(), Some(t));
            }
        }
    }
}
