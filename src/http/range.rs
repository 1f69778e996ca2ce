//! Parsing of the `Range` request header (RFC 9110 §14) for byte ranges.
//!
//! The parser turns a `Range` header value plus the length of the selected
//! representation into a [`RangeRequest`]: serve everything, serve some byte
//! ranges, or answer 416 (Range Not Satisfiable).
//!
//! Policy choices (all allowed by RFC 9110 §14.2):
//! * Only the `bytes` unit is understood. Any other unit, or a header whose
//!   syntax is invalid, is ignored ([`RangeRequest::Full`]).
//! * A header with more than [`MAX_RANGES`] range specs is ignored as well
//!   ([`RangeRequest::Full`]): a legitimate client has no reason to ask for
//!   that many pieces, and answering with the whole representation costs no
//!   more than a plain GET.
//! * Satisfiable ranges are always sorted and coalesced when they overlap or
//!   touch, so the response never contains more bytes than the
//!   representation and never repeats a byte.
//!
//! This module must never panic on any input, never overflow on huge numbers
//! (they saturate), and never allocate in proportion to attacker input beyond
//! the [`MAX_RANGES`] cap.

/// The largest number of range specs accepted in one `Range` header.
pub const MAX_RANGES: usize = 64;

/// An inclusive byte range `start..=end` within a representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte offset (zero based).
    pub start: u64,
    /// Last byte offset, inclusive.
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes covered by the range (0 if `end < start`, which the
    /// parser never produces).
    pub fn len(&self) -> u64 {
        if self.end < self.start {
            0
        } else {
            (self.end - self.start).saturating_add(1)
        }
    }

    /// Whether the range covers no byte at all (never true for parsed ranges).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `Content-Range` value for this range, e.g. `bytes 0-99/1000`.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end, total)
    }
}

/// Outcome of evaluating a `Range` header against a representation.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// Ignore the header: send the whole representation with 200.
    Full,
    /// Send these ranges with 206 (sorted, non-overlapping, non-adjacent).
    Partial(Vec<ByteRange>),
    /// Answer 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// The `Content-Range` value that accompanies a 416 response: `bytes */1000`.
pub fn unsatisfiable_content_range(total: u64) -> String {
    format!("bytes */{}", total)
}

/// One syntactically valid range spec, before it is resolved against a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// `first-` or `first-last` (last saturates at `u64::MAX` when absent).
    Int { first: u64, last: Option<u64> },
    /// `-suffix`: the last `suffix` bytes.
    Suffix(u64),
}

/// Parse a string made only of ASCII digits, saturating at `u64::MAX`.
/// Returns `None` for an empty string or any non-digit.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Some(value)
}

/// Parse one (already trimmed, non-empty) range spec.
fn parse_spec(spec: &str) -> Option<Spec> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(parse_digits(last)?));
    }
    let first = parse_digits(first)?;
    if last.is_empty() {
        return Some(Spec::Int { first, last: None });
    }
    let last = parse_digits(last)?;
    if last < first {
        // RFC 9110 §14.1.1: such a spec is invalid, which makes the whole
        // header invalid.
        return None;
    }
    Some(Spec::Int {
        first,
        last: Some(last),
    })
}

/// Resolve a spec against the representation length; `None` when the spec
/// selects no byte of it.
fn resolve(spec: Spec, len: u64) -> Option<ByteRange> {
    if len == 0 {
        return None;
    }
    let last_byte = len - 1;
    match spec {
        Spec::Int { first, last } => {
            if first >= len {
                return None;
            }
            let end = last.map_or(last_byte, |l| l.min(last_byte));
            Some(ByteRange { start: first, end })
        }
        Spec::Suffix(0) => None,
        Spec::Suffix(n) => Some(ByteRange {
            start: len.saturating_sub(n),
            end: last_byte,
        }),
    }
}

/// Sort ranges and merge those that overlap or are adjacent.
fn coalesce(ranges: &mut Vec<ByteRange>) {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for r in ranges.drain(..) {
        match merged.last_mut() {
            Some(prev) if r.start <= prev.end.saturating_add(1) => {
                prev.end = prev.end.max(r.end);
            }
            _ => merged.push(r),
        }
    }
    *ranges = merged;
}

/// Evaluate a `Range` header value (`header`) against a representation of
/// `len` bytes.
///
/// Examples: `bytes=0-499` selects the first 500 bytes; `bytes=-500` the last
/// 500; `bytes=9500-` everything from offset 9500; `bytes=0-0,-1` the first
/// and the last byte.
pub fn parse_range(header: &str, len: u64) -> RangeRequest {
    let header = header.trim();
    let Some((unit, set)) = header.split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }

    let mut specs = 0usize;
    let mut ranges: Vec<ByteRange> = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches(|c| c == ' ' || c == '\t');
        if element.is_empty() {
            // RFC 9110 §5.6.1: empty list elements are tolerated.
            continue;
        }
        specs += 1;
        if specs > MAX_RANGES {
            return RangeRequest::Full;
        }
        let Some(spec) = parse_spec(element) else {
            return RangeRequest::Full;
        };
        if let Some(r) = resolve(spec, len) {
            ranges.push(r);
        }
    }
    if specs == 0 {
        return RangeRequest::Full;
    }
    if ranges.is_empty() {
        return RangeRequest::Unsatisfiable;
    }
    coalesce(&mut ranges);
    RangeRequest::Partial(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn partial(v: &[(u64, u64)]) -> RangeRequest {
        RangeRequest::Partial(v.iter().map(|&(s, e)| r(s, e)).collect())
    }

    #[test]
    fn byte_range_len_and_content_range() {
        assert_eq!(r(0, 99).len(), 100);
        assert_eq!(r(5, 5).len(), 1);
        assert_eq!(r(0, u64::MAX).len(), u64::MAX);
        assert_eq!(r(7, 3).len(), 0);
        assert!(r(7, 3).is_empty());
        assert!(!r(3, 3).is_empty());
        assert_eq!(r(0, 99).content_range(1000), "bytes 0-99/1000");
        assert_eq!(unsatisfiable_content_range(1000), "bytes */1000");
    }

    #[test]
    fn first_500_bytes() {
        assert_eq!(parse_range("bytes=0-499", 10000), partial(&[(0, 499)]));
    }

    #[test]
    fn second_500_bytes() {
        assert_eq!(parse_range("bytes=500-999", 10000), partial(&[(500, 999)]));
    }

    #[test]
    fn open_ended_range() {
        assert_eq!(parse_range("bytes=9500-", 10000), partial(&[(9500, 9999)]));
    }

    #[test]
    fn suffix_range() {
        assert_eq!(parse_range("bytes=-500", 10000), partial(&[(9500, 9999)]));
    }

    #[test]
    fn suffix_longer_than_representation_selects_all() {
        assert_eq!(parse_range("bytes=-500", 100), partial(&[(0, 99)]));
    }

    #[test]
    fn zero_suffix_is_unsatisfiable() {
        assert_eq!(parse_range("bytes=-0", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0,0-1", 100), partial(&[(0, 1)]));
    }

    #[test]
    fn first_and_last_byte() {
        assert_eq!(
            parse_range("bytes=0-0,-1", 10000),
            partial(&[(0, 0), (9999, 9999)])
        );
    }

    #[test]
    fn end_is_clamped() {
        assert_eq!(parse_range("bytes=0-5000", 100), partial(&[(0, 99)]));
        assert_eq!(parse_range("bytes=99-100", 100), partial(&[(99, 99)]));
    }

    #[test]
    fn start_beyond_length_is_dropped() {
        assert_eq!(
            parse_range("bytes=100-200", 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(
            parse_range("bytes=100-200, 10-19", 100),
            partial(&[(10, 19)])
        );
    }

    #[test]
    fn empty_representation() {
        assert_eq!(parse_range("bytes=0-0", 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), RangeRequest::Unsatisfiable);
        // Invalid syntax is still ignored, even for an empty file.
        assert_eq!(parse_range("bytes=x", 0), RangeRequest::Full);
    }

    #[test]
    fn huge_numbers_saturate() {
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 1000),
            partial(&[(0, 999)])
        );
        assert_eq!(
            parse_range("bytes=99999999999999999999999-", 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range("bytes=-99999999999999999999999", 1000),
            partial(&[(0, 999)])
        );
        assert_eq!(
            parse_range("bytes=18446744073709551615-18446744073709551615", u64::MAX),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range("bytes=18446744073709551614-", u64::MAX),
            partial(&[(u64::MAX - 1, u64::MAX - 1)])
        );
        assert_eq!(
            parse_range("bytes=0-10,11-", u64::MAX),
            partial(&[(0, u64::MAX - 1)])
        );
    }

    #[test]
    fn other_units_are_ignored() {
        assert_eq!(parse_range("items=0-5", 100), RangeRequest::Full);
        assert_eq!(parse_range("bytesx=0-5", 100), RangeRequest::Full);
        assert_eq!(parse_range("0-5", 100), RangeRequest::Full);
        assert_eq!(parse_range("", 100), RangeRequest::Full);
    }

    #[test]
    fn unit_is_case_insensitive() {
        assert_eq!(parse_range("Bytes=0-1", 100), partial(&[(0, 1)]));
        assert_eq!(parse_range("BYTES=0-1", 100), partial(&[(0, 1)]));
    }

    #[test]
    fn invalid_syntax_is_ignored() {
        for h in [
            "bytes=",
            "bytes=,",
            "bytes= , ",
            "bytes=-",
            "bytes=5",
            "bytes=a-b",
            "bytes=1-a",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=-+2",
            "bytes=10-5",
            "bytes=0-1,10-5",
            "bytes=0-1,x",
            "bytes=0 - 1",
            "bytes=1--2",
            "bytes=0x10-20",
            "bytes=0-1;2-3",
            "bytes=０-1",
        ] {
            assert_eq!(parse_range(h, 100), RangeRequest::Full, "{h:?}");
        }
    }

    #[test]
    fn whitespace_around_commas_and_empty_elements() {
        assert_eq!(
            parse_range("  bytes=0-1 ,\t5-6,  ,10-11  ", 100),
            partial(&[(0, 1), (5, 6), (10, 11)])
        );
        assert_eq!(parse_range("bytes=,0-1,", 100), partial(&[(0, 1)]));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_are_coalesced() {
        assert_eq!(parse_range("bytes=0-10,5-20", 100), partial(&[(0, 20)]));
        assert_eq!(parse_range("bytes=0-9,10-19", 100), partial(&[(0, 19)]));
        assert_eq!(
            parse_range("bytes=0-9,11-19", 100),
            partial(&[(0, 9), (11, 19)])
        );
        assert_eq!(
            parse_range("bytes=50-60,0-1,55-70", 100),
            partial(&[(0, 1), (50, 70)])
        );
        assert_eq!(parse_range("bytes=0-,-10", 100), partial(&[(0, 99)]));
        assert_eq!(parse_range("bytes=10-20,12-15", 100), partial(&[(10, 20)]));
    }

    #[test]
    fn out_of_order_ranges_are_sorted() {
        assert_eq!(
            parse_range("bytes=90-99,0-9", 100),
            partial(&[(0, 9), (90, 99)])
        );
    }

    #[test]
    fn repeated_ranges_never_multiply_the_work() {
        let header = format!("bytes={}", vec!["0-"; 64].join(","));
        assert_eq!(parse_range(&header, 1_000_000), partial(&[(0, 999_999)]));
    }

    #[test]
    fn at_most_64_ranges() {
        let specs: Vec<String> = (0..64).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        let header = format!("bytes={}", specs.join(","));
        match parse_range(&header, 1000) {
            RangeRequest::Partial(v) => assert_eq!(v.len(), 64),
            other => panic!("unexpected {other:?}"),
        }
        let specs: Vec<String> = (0..65).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        let header = format!("bytes={}", specs.join(","));
        assert_eq!(parse_range(&header, 1000), RangeRequest::Full);
        // Empty elements do not count.
        let header = format!("bytes={}0-1", ",".repeat(1000));
        assert_eq!(parse_range(&header, 1000), partial(&[(0, 1)]));
    }

    #[test]
    fn total_never_exceeds_length() {
        let header = "bytes=0-50,25-75,-60,10-,3-4,99-99";
        match parse_range(header, 100) {
            RangeRequest::Partial(v) => {
                let total: u64 = v.iter().map(ByteRange::len).sum();
                assert!(total <= 100);
                for w in v.windows(2) {
                    assert!(w[0].end + 1 < w[1].start);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn whole_range_is_still_partial() {
        assert_eq!(parse_range("bytes=0-", 10), partial(&[(0, 9)]));
    }

    #[test]
    fn no_panic_on_odd_input() {
        for h in [
            "bytes=\u{0}-\u{ff}",
            "bytes==",
            "=",
            "bytes=-99999999999999999999999999999999999999999",
            "bytes=é-1",
            "bytes=1-é",
            "bytes=--",
        ] {
            let _ = parse_range(h, 0);
            let _ = parse_range(h, 1);
            let _ = parse_range(h, u64::MAX);
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn spec_text(first: Option<u64>, last: Option<u64>) -> String {
            match (first, last) {
                (Some(f), Some(l)) => format!("{f}-{l}"),
                (Some(f), None) => format!("{f}-"),
                (None, Some(l)) => format!("-{l}"),
                (None, None) => "-".to_string(),
            }
        }

        /// The bytes a spec selects, computed the naive way.
        fn model(first: Option<u64>, last: Option<u64>, len: u64, set: &mut [bool]) {
            let (start, end) = match (first, last) {
                (Some(f), Some(l)) => (f, l.min(len.saturating_sub(1))),
                (Some(f), None) => (f, len.saturating_sub(1)),
                (None, Some(n)) => (len.saturating_sub(n), len.saturating_sub(1)),
                (None, None) => return,
            };
            if len == 0 || (first.is_none() && last == Some(0)) {
                return;
            }
            let mut i = start;
            while i <= end && i < len {
                set[i as usize] = true;
                i += 1;
            }
        }

        proptest! {
            #[test]
            fn never_panics(header in ".*", len in any::<u64>()) {
                let _ = parse_range(&header, len);
            }

            #[test]
            fn never_panics_on_range_like_input(
                header in "(?i)bytes=[0-9 ,\\-]{0,40}",
                len in prop_oneof![Just(0u64), 1u64..100, Just(u64::MAX)],
            ) {
                let _ = parse_range(&header, len);
            }

            #[test]
            fn matches_naive_model(
                specs in proptest::collection::vec(
                    (proptest::option::of(0u64..300), proptest::option::of(0u64..300)),
                    1..8,
                ),
                len in 0u64..250,
            ) {
                let valid = specs.iter().all(|&(f, l)| match (f, l) {
                    (Some(f), Some(l)) => l >= f,
                    (None, None) => false,
                    _ => true,
                });
                let header = format!(
                    "bytes={}",
                    specs.iter().map(|&(f, l)| spec_text(f, l)).collect::<Vec<_>>().join(", ")
                );
                let result = parse_range(&header, len);
                if !valid {
                    prop_assert_eq!(result, RangeRequest::Full);
                    return Ok(());
                }
                let mut expected = vec![false; len as usize];
                for &(f, l) in &specs {
                    model(f, l, len, &mut expected);
                }
                match result {
                    RangeRequest::Full => prop_assert!(false, "valid header ignored"),
                    RangeRequest::Unsatisfiable => {
                        prop_assert!(expected.iter().all(|&b| !b));
                    }
                    RangeRequest::Partial(ranges) => {
                        let mut got = vec![false; len as usize];
                        for r in &ranges {
                            prop_assert!(r.start <= r.end && r.end < len);
                            for i in r.start..=r.end {
                                got[i as usize] = true;
                            }
                        }
                        for w in ranges.windows(2) {
                            prop_assert!(w[0].end + 1 < w[1].start);
                        }
                        prop_assert_eq!(got, expected);
                    }
                }
            }
        }
    }
}
