//! Escaping of untrusted text before it goes into a log line.
//!
//! Request targets and headers are chosen by the client. Without escaping a
//! hostile `User-Agent` containing `"` or a line break could close a quoted
//! field or start a forged log line. Escaped forms: `"` → `\"`, `\` → `\\`,
//! control characters (below 0x20 and 0x7f) → `\xHH`. Other bytes, including
//! UTF-8 text, are copied unchanged.

/// What to escape besides control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quotes {
    /// Also escape `"` and `\` (for values that may sit inside quotes).
    Escape,
    /// Only control characters (for free text such as error messages).
    Keep,
}

fn needs_escape(byte: u8, quotes: Quotes) -> bool {
    byte < 0x20 || byte == 0x7f || (quotes == Quotes::Escape && (byte == b'"' || byte == b'\\'))
}

/// Appends `text` to `out`, escaped as described in the module documentation.
pub fn push_escaped(out: &mut Vec<u8>, text: &str, quotes: Quotes) {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| needs_escape(b, quotes)) {
        out.extend_from_slice(bytes);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        if !needs_escape(b, quotes) {
            out.push(b);
        } else if b == b'"' || b == b'\\' {
            out.push(b'\\');
            out.push(b);
        } else {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        }
    }
}

/// Appends `value` escaped, or `-` when it is missing or empty.
pub fn push_or_dash(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) if !v.is_empty() => push_escaped(out, v, Quotes::Escape),
        _ => out.push(b'-'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(text: &str, quotes: Quotes) -> String {
        let mut out = Vec::new();
        push_escaped(&mut out, text, quotes);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            esc("Mozilla/5.0 (X11) ñ", Quotes::Escape),
            "Mozilla/5.0 (X11) ñ"
        );
    }

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            esc("a\"b\\c\r\nd\te\u{7f}\u{1b}[31m", Quotes::Escape),
            "a\\\"b\\\\c\\x0d\\x0ad\\x09e\\x7f\\x1b[31m"
        );
        assert_eq!(esc("say \"hi\"\n", Quotes::Keep), "say \"hi\"\\x0a");
    }

    #[test]
    fn dash_for_missing() {
        let mut out = Vec::new();
        push_or_dash(&mut out, None);
        push_or_dash(&mut out, Some(""));
        push_or_dash(&mut out, Some("x\""));
        assert_eq!(out, b"--x\\\"");
    }
}
