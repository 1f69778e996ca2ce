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

/// How many leading segments `a` and `b` have in common.
pub fn common_segments(a: &str, b: &str) -> usize {
    a.split('!')
        .zip(b.split('!'))
        .take_while(|(x, y)| x == y)
        .count()
}

/// Whether a segment is a list index (`vserver!10`): ASCII digits only.
pub fn numeric_segment(segment: &str) -> Option<u64> {
    if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
        segment.parse().ok()
    } else {
        None
    }
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
    fn common_prefix() {
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
    }
}
