//! Keys: paths of `!`-separated segments.
//!
//! These helpers are shared by the line parser (which must reject malformed
//! keys with a useful message) and by the editing operations (which must never
//! write a line that would not read back as the same key and value).

const WHITESPACE: &str = "the key contains whitespace; segments are joined by `!` with no spaces";
const EMPTY_SEGMENT: &str = "the key has an empty segment (a leading or trailing `!`, or `!!`)";

/// Why `key` is not a well-formed key, or `None` when it is.
///
/// A key is non-empty, contains no whitespace, and none of its
/// `!`-separated segments is empty.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("the key before `=` is empty");
    }
    if key.is_ascii() {
        // The common case, checked in one pass over the bytes.
        let mut previous = b'!';
        for &b in key.as_bytes() {
            if b.is_ascii_whitespace() || b == 0x0b {
                return Some(WHITESPACE);
            }
            if b == b'!' && previous == b'!' {
                return Some(EMPTY_SEGMENT);
            }
            previous = b;
        }
        return (previous == b'!').then_some(EMPTY_SEGMENT);
    }
    if key.chars().any(char::is_whitespace) {
        return Some(WHITESPACE);
    }
    if key.split('!').any(str::is_empty) {
        return Some(EMPTY_SEGMENT);
    }
    None
}

/// Like [`key_problem`], but also rejects keys that could not be written as a
/// line and read back: ones containing `=`, or starting with `#`.
pub fn writable_key_problem(key: &str) -> Option<&'static str> {
    if let Some(problem) = key_problem(key) {
        return Some(problem);
    }
    if key.contains('=') {
        return Some("the key contains `=`, which would end the key when read back");
    }
    if key.starts_with('#') {
        return Some("the key starts with `#`, which would make the line a comment");
    }
    None
}

/// Why `value` cannot be written on a line and read back unchanged.
pub fn writable_value_problem(value: &str) -> Option<&'static str> {
    if value.contains(['\n', '\r']) {
        return Some("the value contains a line break");
    }
    if value.trim() != value {
        return Some("the value starts or ends with whitespace, which is dropped when read back");
    }
    None
}

/// Whether `key` is `prefix` itself or lies below it (`prefix!...`).
/// Whole segments only: `vserver!1` does not cover `vserver!10`.
pub fn in_tree(key: &str, prefix: &str) -> bool {
    match key.strip_prefix(prefix) {
        Some("") => !prefix.is_empty(),
        Some(rest) => !prefix.is_empty() && rest.starts_with('!'),
        None => false,
    }
}

/// How many leading segments `a` and `b` (valid keys) have in common.
pub fn common_segments(a: &str, b: &str) -> usize {
    shared_segments(a.as_bytes(), b.as_bytes()).0
}

/// How many leading bytes `a` and `b` have in common, compared eight at a time.
pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let (x, y) = (word_at(a, i), word_at(b, i));
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Eight bytes of `bytes` from `at` as one little-endian word (`at + 8` must be in bounds).
#[inline]
pub(crate) fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The high bit of each byte of `word` that is `byte`, and no other bit: exact, so the
/// bits can be counted (the usual `(x - 0x01..) & !x` trick also flags some bytes after a
/// match).
#[inline]
pub(crate) fn bytes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (0x0101_0101_0101_0101 * byte as u64);
    // Per byte, with no carry between bytes: bit 7 is set unless the byte is zero.
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// How many whole leading segments `a` and `b` share, and where in `b` the
/// segments after them start (`b.len() + 1` when `b` has no more).
pub(crate) fn shared_segments(a: &[u8], b: &[u8]) -> (usize, usize) {
    let same = common_prefix(a, b);
    // The `!`s of the shared bytes, eight at a time: setting a new key in a big file
    // compares it with every key there to find where it belongs.
    let mut count = 0;
    let mut rest = 0;
    let mut i = 0;
    while i + 8 <= same {
        let bangs = bytes_equal(word_at(b, i), b'!');
        if bangs != 0 {
            count += bangs.count_ones() as usize;
            rest = i + (63 - bangs.leading_zeros() as usize) / 8 + 1;
        }
        i += 8;
    }
    for (j, &c) in b[i..same].iter().enumerate() {
        if c == b'!' {
            count += 1;
            rest = i + j + 1;
        }
    }
    let ends = |s: &[u8]| s.get(same).is_none_or(|&c| c == b'!');
    if same > 0 && ends(a) && ends(b) {
        count += 1;
        rest = same + 1;
    }
    (count, rest)
}

/// Whether a segment is a list index (`vserver!10`): ASCII digits only.
pub fn numeric_segment(segment: &str) -> Option<u64> {
    if segment.is_empty() {
        return None;
    }
    // One pass (a million rule numbers in a big configuration): digits only, and the
    // number within `u64`.
    segment.bytes().try_fold(0u64, |n, c| {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_validation() {
        assert!(key_problem("vserver!10!rule!100!match!directory").is_none());
        assert!(key_problem("a").is_none());
        assert!(key_problem("").is_some());
        assert!(key_problem("a!!b").is_some());
        assert!(key_problem("!a").is_some());
        assert!(key_problem("a!").is_some());
        assert!(key_problem("a b").is_some());
        assert!(key_problem("a\tb").is_some());
        assert!(key_problem("a\u{b}b").is_some());
        assert!(key_problem("a\u{c}b").is_some());
        assert!(key_problem("a\u{a0}b").is_some());
        assert!(key_problem("é!ü").is_none());
        assert!(key_problem("é!!ü").is_some());
        assert!(key_problem("!").is_some());
        // The fast and the general checks agree.
        for key in [
            "a", "a!b", "!", "a!", "!a", "a!!b", "a b", "a\u{1c}b", "a\u{85}b", "x\ry",
        ] {
            let general = key.chars().any(char::is_whitespace) || key.split('!').any(str::is_empty);
            assert_eq!(key_problem(key).is_some(), general, "{key:?}");
        }
        assert!(writable_key_problem("a=b").is_some());
        assert!(writable_key_problem("#a").is_some());
        assert!(writable_key_problem("a#b").is_none());
    }

    #[test]
    fn value_validation() {
        assert!(writable_value_problem("").is_none());
        assert!(writable_value_problem("a b = c # d").is_none());
        assert!(writable_value_problem(" a").is_some());
        assert!(writable_value_problem("a\nb").is_some());
        assert!(writable_value_problem("a\r").is_some());
    }

    #[test]
    fn tree_membership_is_by_whole_segment() {
        assert!(in_tree("vserver!1", "vserver!1"));
        assert!(in_tree("vserver!1!nick", "vserver!1"));
        assert!(!in_tree("vserver!10", "vserver!1"));
        assert!(!in_tree("vserver!10!nick", "vserver!1"));
        assert!(!in_tree("vserver", "vserver!1"));
        assert!(!in_tree("anything", ""));
    }

    #[test]
    fn common_segments_of_keys() {
        assert_eq!(common_segments("vserver!10!nick", "vserver!10!rule!1"), 2);
        assert_eq!(common_segments("vserver!10", "vserver!1"), 1);
        assert_eq!(common_segments("server!x", "vserver!1"), 0);
    }

    #[test]
    fn numbers() {
        assert_eq!(numeric_segment("10"), Some(10));
        assert_eq!(numeric_segment("007"), Some(7));
        assert_eq!(numeric_segment("+1"), None);
        assert_eq!(numeric_segment("1a"), None);
        assert_eq!(numeric_segment(""), None);
        assert_eq!(numeric_segment("99999999999999999999999"), None);
        assert_eq!(numeric_segment("18446744073709551615"), Some(u64::MAX));
        assert_eq!(numeric_segment("18446744073709551616"), None);
    }

    /// The byte-at-a-time definition [`shared_segments`] must agree with.
    fn shared_segments_reference(a: &[u8], b: &[u8]) -> (usize, usize) {
        let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let mut count = 0;
        let mut rest = 0;
        for (i, &c) in b[..same].iter().enumerate() {
            if c == b'!' {
                count += 1;
                rest = i + 1;
            }
        }
        let ends = |s: &[u8]| s.get(same).is_none_or(|&c| c == b'!');
        if same > 0 && ends(a) && ends(b) {
            count += 1;
            rest = same + 1;
        }
        (count, rest)
    }

    proptest::proptest! {
        #[test]
        fn shared_segments_agree_with_the_bytewise_count(
            a in "[a!b1]{0,40}",
            b in "[a!b1]{0,40}",
        ) {
            proptest::prop_assert_eq!(
                shared_segments(a.as_bytes(), b.as_bytes()),
                shared_segments_reference(a.as_bytes(), b.as_bytes())
            );
            // A shared start, as consecutive lines of a configuration have.
            let c = format!("{a}{b}");
            proptest::prop_assert_eq!(
                shared_segments(a.as_bytes(), c.as_bytes()),
                shared_segments_reference(a.as_bytes(), c.as_bytes())
            );
        }

        #[test]
        fn bytes_equal_flags_exactly_the_matching_bytes(word: u64, byte: u8) {
            let expected = word
                .to_le_bytes()
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == byte)
                .fold(0u64, |m, (i, _)| m | 0x80 << (8 * i));
            proptest::prop_assert_eq!(bytes_equal(word, byte), expected);
        }
    }

    #[test]
    fn shared_segments_are_whole() {
        assert_eq!(
            shared_segments(b"vserver!10!nick", b"vserver!10!rule!1"),
            (2, 11)
        );
        assert_eq!(shared_segments(b"vserver!10", b"vserver!1"), (1, 8));
        assert_eq!(shared_segments(b"vserver!1", b"vserver!1"), (2, 10));
        assert_eq!(shared_segments(b"a", b"a!b"), (1, 2));
        assert_eq!(shared_segments(b"a!b", b"a"), (1, 2));
        assert_eq!(shared_segments(b"ab", b"a!b"), (0, 0));
        assert_eq!(shared_segments(b"server!x", b"vserver!1"), (0, 0));
        assert_eq!(shared_segments(b"", b"a"), (0, 0));
        assert_eq!(shared_segments(b"", b""), (0, 0));
        let long = b"vserver!10001!rule!100!match!request";
        assert_eq!(
            shared_segments(long, b"vserver!10001!rule!100!handler"),
            (4, 23)
        );
        assert_eq!(
            shared_segments(long, b"vserver!10001!rule!99!match"),
            (3, 19)
        );
        assert_eq!(common_prefix(long, long), long.len());
        assert_eq!(common_prefix(b"0123456789abcdef", b"0123456789abcdeX"), 15);
        assert_eq!(common_prefix(b"01234567", b"01234567"), 8);
        assert_eq!(common_prefix(b"x1234567", b"01234567"), 0);
    }
}
