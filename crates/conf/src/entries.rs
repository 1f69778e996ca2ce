//! The entries of a configuration text, read for its tree ([`crate::load_tree`]).
//!
//! A 100 MB configuration has 3 million lines, nearly all of one shape: a plain key
//! at the start of the line, `=`, an ASCII value. [`Entries`] reads such a line in one
//! pass, eight bytes at a time: the end of the key and its check (ASCII, no
//! whitespace, no empty segment), the `=`, the end of the line and the value's check
//! (ASCII). Reading it as the file parser does ([`RawLines`], then [`RawLine::read`](crate::file::RawLine::read))
//! goes over it four times. Every other line (blank, comment, indented, not ASCII,
//! malformed, the last few bytes of the text) is read by [`RawLine::read`](crate::file::RawLine::read), so the
//! entries are the same either way; a property test holds it to that.

use std::ops::{ControlFlow, Range};
use std::sync::mpsc;

use crate::file::{ascii_space, two_threads_for, RawLines, Read};
use crate::key::{bytes_equal, word_at};

const HIGHS: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `word` that cannot be in a plain key, or that ends
/// it: 0x20 or less (whitespace and control bytes), 0x80 or more (not ASCII), `=`.
#[inline]
fn key_stops(word: u64) -> u64 {
    // Per byte, with no carry between bytes: (c & 0x7f) + 0x5f has bit 7 set exactly
    // when c & 0x7f is above 0x20.
    let small = !(word & LOW7).wrapping_add(0x5f5f_5f5f_5f5f_5f5f) & HIGHS;
    (word & HIGHS) | small | bytes_equal(word, b'=')
}

/// The bits of the bytes before the first byte flagged in `flags` (high bits of
/// bytes), all bits when none is.
#[inline]
fn before_first(flags: u64) -> u64 {
    if flags == 0 {
        u64::MAX
    } else {
        ((flags & flags.wrapping_neg()) >> 7) - 1
    }
}

/// A line of the common shape, as byte ranges of the text.
#[derive(Debug, PartialEq, Eq)]
struct Plain {
    key: Range<usize>,
    value: Range<usize>,
    /// Where the next line starts.
    next: usize,
}

/// The line starting at `at`, if it has the common shape: a plain key from its first
/// byte, optional whitespace, `=`, and an ASCII rest. `None` sends the line to the
/// general reader.
fn plain_line(b: &[u8], at: usize) -> Option<Plain> {
    let first = *b.get(at)?;
    if first <= b' ' || first >= 0x80 || matches!(first, b'#' | b'!' | b'=') {
        return None;
    }
    // The key, up to its first stop; `!!` anywhere in it sends the line away.
    let mut i = at;
    let mut bang_before = false;
    let key_end = loop {
        if i + 8 > b.len() {
            return None;
        }
        let word = word_at(b, i);
        let stops = key_stops(word);
        let bangs = bytes_equal(word, b'!') & before_first(stops);
        if bangs & ((bangs << 8) | u64::from(bang_before) << 7) != 0 {
            return None;
        }
        if stops != 0 {
            break i + (stops.trailing_zeros() / 8) as usize;
        }
        bang_before = bangs >> 63 != 0;
        i += 8;
    };
    if b[key_end - 1] == b'!' {
        return None;
    }
    let mut eq = key_end;
    while eq < b.len() && b[eq] != b'=' && b[eq] != b'\n' && ascii_space(b[eq]) {
        eq += 1;
    }
    if b.get(eq) != Some(&b'=') {
        return None;
    }
    // The end of the line, with the value's bytes checked to be ASCII on the way.
    let value_from = eq + 1;
    let mut j = value_from;
    let newline = loop {
        if j + 8 > b.len() {
            match b[j..].iter().position(|&c| c == b'\n' || c >= 0x80) {
                Some(p) if b[j + p] == b'\n' => break j + p,
                Some(_) => return None,
                None => break b.len(),
            }
        }
        let word = word_at(b, j);
        let newlines = bytes_equal(word, b'\n');
        if word & HIGHS & before_first(newlines) != 0 {
            return None;
        }
        if newlines != 0 {
            break j + (newlines.trailing_zeros() / 8) as usize;
        }
        j += 8;
    };
    // As `RawLines` has it: `\r\n` ends a line, a lone `\r` at the very end does not
    // (it is trimmed from the value below either way).
    let has_ending = newline < b.len();
    let body_end = if has_ending && newline > value_from && b[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let mut start = value_from;
    while start < body_end && ascii_space(b[start]) {
        start += 1;
    }
    let mut end = body_end;
    while end > start && ascii_space(b[end - 1]) {
        end -= 1;
    }
    Some(Plain {
        key: at..key_end,
        value: start..end,
        next: if has_ending { newline + 1 } else { newline },
    })
}

/// Every line of a text that is not blank or a comment, with its index (from 0) and
/// what it says, as [`RawLines`] and [`RawLine::read`](crate::file::RawLine::read) would give them.
pub(crate) struct Entries<'a> {
    text: &'a str,
    at: usize,
    index: usize,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Entries {
            text,
            at: 0,
            index: 0,
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = (usize, Read<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.at < self.text.len() {
            let index = self.index;
            self.index += 1;
            if let Some(line) = plain_line(self.text.as_bytes(), self.at) {
                self.at = line.next;
                // ASCII ranges: always on character boundaries.
                if let (Some(key), Some(value)) =
                    (self.text.get(line.key), self.text.get(line.value))
                {
                    return Some((index, Read::Entry { key, value }));
                }
                continue;
            }
            let mut lines = RawLines::new(self.text.get(self.at..).unwrap_or(""));
            let Some(line) = lines.next() else {
                break;
            };
            self.at += lines.consumed();
            match line.read() {
                Read::Nothing => {}
                read => return Some((index, read)),
            }
        }
        None
    }
}

/// Lines handed from the reading thread of [`for_each_entry`] to the other at a time.
const BATCH: usize = 4096;

/// A batch of lines read, with their indexes.
type Batch<'a> = Vec<(usize, Read<'a>)>;

/// Calls `each` with the index and the reading of every line of `text` that is not
/// blank or a comment, in order, until it breaks.
///
/// A big text is read by a second thread while `each` runs on this one (when there
/// are two cores): a 100 MB configuration has 3 million lines, and finding their keys
/// and values costs a good part of what putting them in a tree does. Either way `each`
/// sees the same lines in the same order.
pub(crate) fn for_each_entry<'a>(
    text: &'a str,
    mut each: impl FnMut(usize, Read<'a>) -> ControlFlow<()>,
) {
    if !two_threads_for(text) {
        for_each_entry_here(text, each);
        return;
    }
    // Full batches one way, emptied ones back to be refilled (a fresh batch for every
    // 4,096 lines would be fresh memory, page faults and all, each time). At most two
    // full batches wait, so the reader stays just ahead.
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch<'a>>(2);
    let (empty_tx, empty_rx) = mpsc::channel::<Batch<'a>>();
    let reader = move || {
        let mut batch = Vec::with_capacity(BATCH);
        for entry in Entries::new(text) {
            batch.push(entry);
            if batch.len() == BATCH {
                let next = empty_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                if full_tx.send(std::mem::replace(&mut batch, next)).is_err() {
                    // The consumer stopped.
                    return;
                }
            }
        }
        let _ = full_tx.send(batch);
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("conf-scan".into())
            .spawn_scoped(scope, reader);
        if spawned.is_err() {
            for_each_entry_here(text, &mut each);
            return;
        }
        // Ends when the reader has sent its last batch; returning early drops the
        // receiver, which stops the reader at its next batch.
        for mut batch in full_rx {
            for (index, read) in batch.drain(..) {
                if each(index, read).is_break() {
                    return;
                }
            }
            let _ = empty_tx.send(batch);
        }
    });
}

/// [`for_each_entry`] on this thread alone.
pub(crate) fn for_each_entry_here<'a>(
    text: &'a str,
    mut each: impl FnMut(usize, Read<'a>) -> ControlFlow<()>,
) {
    for (index, read) in Entries::new(text) {
        if each(index, read).is_break() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the file parser reads: every line through `RawLine::read`.
    fn reference(text: &str) -> Vec<(usize, Read<'_>)> {
        RawLines::new(text)
            .enumerate()
            .map(|(i, line)| (i, line.read()))
            .filter(|(_, read)| !matches!(read, Read::Nothing))
            .collect()
    }

    #[test]
    fn common_lines_take_the_one_pass() {
        let text = "vserver!10001!rule!100!match!request = ^/r100/\nserver!port=80\r\nk =\nlast   =  v  \nx=1";
        let b = text.as_bytes();
        let first = plain_line(b, 0).unwrap();
        assert_eq!(&text[first.key], "vserver!10001!rule!100!match!request");
        assert_eq!(&text[first.value.clone()], "^/r100/");
        let second = plain_line(b, first.next).unwrap();
        assert_eq!(&text[second.key], "server!port");
        assert_eq!(&text[second.value.clone()], "80");
        let third = plain_line(b, second.next).unwrap();
        assert_eq!(&text[third.key], "k");
        assert_eq!(third.value, third.next - 1..third.next - 1);
        let fourth = plain_line(b, third.next).unwrap();
        assert_eq!(&text[fourth.value.clone()], "v");
        // Too close to the end of the text for eight-byte reads: the general reader.
        assert_eq!(plain_line(b, fourth.next), None);
        assert_eq!(Entries::new(text).collect::<Vec<_>>(), reference(text));
        for odd in [
            "  indented = 1\n",
            "# comment = 1 ...\n",
            "a!!bbbbbbbbbbbb = 1\n",
            "aaaaaaa!!bbbbbb = 1\n",
            "aaaaaaaa!bbbbbb! = 1\n",
            "aaaaaaaaaa bbbb = 1\n",
            "aaaaaaaaaaé = 1\n",
            "aaaaaaaaaaaaaa = é\n",
            "no equals sign here\n",
        ] {
            assert_eq!(plain_line(odd.as_bytes(), 0), None, "{odd:?}");
            assert_eq!(
                Entries::new(odd).collect::<Vec<_>>(),
                reference(odd),
                "{odd:?}"
            );
        }
    }

    #[test]
    fn a_big_text_reads_the_same_on_two_threads() {
        let mut text = String::new();
        let mut i = 0;
        while text.len() < crate::file::PARALLEL_SCAN + 1000 {
            text.push_str(&format!("vserver!{i}!nick = n{i}\r\n# c\nbad line {i}\n\n"));
            i += 1;
        }
        let collect = |stop: usize, two_threads: bool| {
            let mut seen = Vec::new();
            let each = |index, read| {
                seen.push((index, read));
                if seen.len() == stop {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            };
            if two_threads {
                for_each_entry(&text, each);
            } else {
                for_each_entry_here(&text, each);
            }
            seen
        };
        let here = collect(usize::MAX, false);
        assert_eq!(here.len(), 2 * i);
        assert_eq!(here[2].0, 4);
        assert_eq!(collect(usize::MAX, true), here);
        // Stopping part-way through a batch, and at a batch's end.
        for stop in [1, BATCH + 7, 3 * BATCH] {
            assert_eq!(collect(stop, true), here[..stop], "{stop}");
        }
    }

    proptest::proptest! {
        /// The entries are those of the file parser's reading, line for line.
        #[test]
        fn entries_are_the_file_parsers(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "vserver", "!", "1", "rule", "=", " ", "\t", "\u{b}", "\r", "\n", "\r\n",
                "#", "é", "\u{a0}", "\u{feff}", "\u{1}", "x", "abcdefgh", "/d9", "",
            ]), 0..60)
        ) {
            let text: String = parts.concat();
            proptest::prop_assert_eq!(Entries::new(&text).collect::<Vec<_>>(), reference(&text));
        }
    }
}
