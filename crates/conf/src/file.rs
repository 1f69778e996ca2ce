//! One configuration file, kept line by line for lossless editing.
//!
//! `cherokee.conf` is maintained by an administration tool as well as by
//! hand. When the tool changes one value, the operator expects to see exactly
//! that one line change in `diff` and version control: comments, blank lines,
//! spacing, line endings and the order of keys must all survive. So a
//! [`ConfFile`] does not turn the text into a tree and print the tree back;
//! it keeps every line as written (with its line ending), remembers where the
//! key and value sit inside each line, and edits only the lines concerned.
//! Lines that are not understood are kept verbatim too, so that even a broken
//! file writes back unchanged.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::hash::FxHashMap;
use crate::key::{
    bytes_equal, common_segments, in_tree, key_problem, word_at, writable_key_problem,
    writable_value_problem,
};
use crate::location::Location;

/// The byte-order mark some editors put at the start of a file. It is kept
/// as part of the first line's text but is not part of its key.
const BOM: char = '\u{feff}';

/// The message for a line too long to index with 32-bit offsets.
const TOO_LONG: &str = "the line is too long (4 GiB or more)";

/// How a line ends. Only the last line of a file may have no ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    None,
    Lf,
    CrLf,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Ending::None => "",
            Ending::Lf => "\n",
            Ending::CrLf => "\r\n",
        }
    }
}

/// A byte range inside a line's text. `u32` keeps a million-line file
/// small in memory; longer lines are refused when parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Option<Span> {
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    fn start(self) -> usize {
        self.start as usize
    }

    fn end(self) -> usize {
        self.end as usize
    }

    fn of(self, text: &str) -> &str {
        text.get(self.start()..self.end()).unwrap_or("")
    }
}

/// What a line is, once read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    Entry {
        key: Span,
        value: Span,
    },
    /// Not understood; kept verbatim and reported when parsed.
    Invalid,
}

/// One line. Its text (without the ending) is `buffer[start..start + len]`
/// in the file's buffer, so reading a big file allocates nothing per line.
#[derive(Clone, Debug)]
struct Line {
    start: usize,
    len: usize,
    ending: Ending,
    kind: Kind,
}

/// One key/value line of a file, as returned by [`ConfFile::entries`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key, trimmed (`vserver!1!nick`).
    pub key: &'a str,
    /// The value, trimmed; may be empty.
    pub value: &'a str,
    /// The 1-based line number in the file as it is now.
    pub line: u32,
}

/// One configuration file kept line by line, so that it writes back
/// byte-identically when nothing changed and edits touch only the lines they
/// change (comments, blank lines and order are kept).
#[derive(Clone, Debug)]
pub struct ConfFile {
    path: Arc<PathBuf>,
    /// The parsed text, followed by the text of lines written since.
    buffer: String,
    lines: Vec<Line>,
    /// The ending given to new lines: the one the file already uses.
    newline: Ending,
}

/// Works out what a line is. Returns the kind and, for a line that is not
/// understood, the key (if any) and what is wrong. A leading byte-order mark
/// (normally only on the first line) is not part of the key.
fn classify(text: &str) -> (Kind, Option<(String, String)>) {
    if let Some(kind) = classify_ascii(text) {
        return (kind, None);
    }
    let body_start = if text.starts_with(BOM) {
        BOM.len_utf8()
    } else {
        0
    };
    let body = &text[body_start..];
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return (Kind::Blank, None);
    }
    if trimmed.starts_with('#') {
        return (Kind::Comment, None);
    }
    let Some(eq) = body.find('=') else {
        let message = format!(
            "expected `key = value` (or a `#` comment), found `{}`",
            excerpt(trimmed)
        );
        return (Kind::Invalid, Some((String::new(), message)));
    };
    let raw_key = &body[..eq];
    let key_lead = raw_key.len() - raw_key.trim_start().len();
    let key_text = raw_key.trim();
    let key_start = body_start + key_lead;
    let Some(key) = Span::new(key_start, key_start + key_text.len()) else {
        return (Kind::Invalid, Some((String::new(), TOO_LONG.to_owned())));
    };
    if let Some(problem) = key_problem(key_text) {
        return (
            Kind::Invalid,
            Some((key_text.to_owned(), problem.to_owned())),
        );
    }
    let raw_value = &body[eq + 1..];
    let value_lead = raw_value.len() - raw_value.trim_start().len();
    let value_start = body_start + eq + 1 + value_lead;
    let Some(value) = Span::new(value_start, value_start + raw_value.trim().len()) else {
        return (Kind::Invalid, Some((String::new(), TOO_LONG.to_owned())));
    };
    (Kind::Entry { key, value }, None)
}

/// Whitespace as `char::is_whitespace` sees it, for ASCII bytes (unlike
/// `u8::is_ascii_whitespace`, it includes the vertical tab).
pub(crate) fn ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// [`classify`] for the common line: ASCII, and well-formed (blank, a
/// comment or a valid entry). `None` sends every other line to the general
/// path, which also words the diagnostics. Millions of lines go through
/// here, so it works on bytes.
fn classify_ascii(text: &str) -> Option<Kind> {
    let b = text.as_bytes();
    let n = b.len();
    let Some(start) = b.iter().position(|&c| !ascii_space(c)) else {
        return Some(Kind::Blank);
    };
    if b[start] == b'#' {
        return Some(Kind::Comment);
    }
    let eq = start + find_byte(&b[start..], b'=')?;
    let key_end = start + b[start..eq].iter().rposition(|&c| !ascii_space(c))? + 1;
    if !plain_key(&b[start..key_end]) {
        return None;
    }
    let rest = &b[eq + 1..];
    if !rest.is_ascii() {
        return None;
    }
    // An empty value sits at the end of the line, as `classify` puts it.
    let lead = rest
        .iter()
        .position(|&c| !ascii_space(c))
        .unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|&c| !ascii_space(c))
        .map_or(lead, |last| last + 1);
    debug_assert!(eq + 1 + end <= n);
    Some(Kind::Entry {
        key: Span::new(start, key_end)?,
        value: Span::new(eq + 1 + lead, eq + 1 + end)?,
    })
}

/// Whether `key` (trimmed, non-empty) is ASCII and has no problem for
/// [`key_problem`]: no whitespace, no empty segment.
/// Whether byte `c` of a plain key may follow `previous` (`!` before the first byte):
/// ASCII, not whitespace, not a second `!` in a row.
#[inline]
fn plain_key_byte(c: u8, previous: u8) -> bool {
    c.is_ascii() && !(c <= b' ' && ascii_space(c)) && !(c == b'!' && previous == b'!')
}

fn plain_key(key: &[u8]) -> bool {
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Eight bytes at a time (3 million keys in a big configuration): no byte above
    // 0x7f, no `!` right after another (or at the start), and a byte-wise look only at
    // words with a byte of 0x20 or less, which may be whitespace.
    let mut previous = b'!';
    let mut i = 0;
    while i + 8 <= key.len() {
        let word = word_at(key, i);
        // Some byte is 0x20 or less (or the top bit of the subtraction was borrowed
        // into by a byte that is: either way the word is looked at byte by byte).
        let low = word.wrapping_sub(0x2121_2121_2121_2121) & !word & HIGHS;
        if word & HIGHS != 0 {
            return false;
        }
        if low != 0 {
            for &c in &key[i..i + 8] {
                if !plain_key_byte(c, previous) {
                    return false;
                }
                previous = c;
            }
        } else {
            let bangs = bytes_equal(word, b'!');
            let after_bang = (bangs << 8) | u64::from(previous == b'!') << 7;
            if bangs & after_bang != 0 {
                return false;
            }
            previous = key[i + 7];
        }
        i += 8;
    }
    for &c in &key[i..] {
        if !plain_key_byte(c, previous) {
            return false;
        }
        previous = c;
    }
    previous != b'!'
}

/// The start of a long line, for messages.
fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The lines of a text (or of a part of it), classified.
struct Scanned {
    lines: Vec<Line>,
    /// Lines not understood: (index among the lines scanned, key, message).
    problems: Vec<(usize, String, String)>,
    /// The first line ending seen.
    newline: Option<Ending>,
}

/// Texts at least this big are scanned by two threads.
pub(crate) const PARALLEL_SCAN: usize = 4 << 20;

/// Whether `text` is big enough, and the machine has the cores, to be read on two threads.
pub(crate) fn two_threads_for(text: &str) -> bool {
    text.len() >= PARALLEL_SCAN && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// [`scan`] of the whole text; a big one in two halves on two threads (a 100 MB
/// configuration has 3 million lines). The result is the same either way.
fn scan_in_parallel(text: &str) -> Scanned {
    if !two_threads_for(text) {
        return scan(text, 0);
    }
    // Cut after the newline nearest the middle (an ASCII byte: a character boundary).
    let bytes = text.as_bytes();
    let Some(cut) = find_newline(&bytes[text.len() / 2..]).map(|i| text.len() / 2 + i + 1) else {
        return scan(text, 0);
    };
    let (head, tail) = text.split_at(cut);
    let parts = std::thread::scope(|scope| {
        let second = std::thread::Builder::new()
            .name("conf-scan".into())
            .spawn_scoped(scope, || scan(tail, cut));
        let first = scan(head, 0);
        match second {
            Ok(handle) => handle.join().ok().map(|second| (first, second)),
            Err(_) => None,
        }
    });
    let Some((mut first, second)) = parts else {
        // No second thread (or it failed): do it all here.
        return scan(text, 0);
    };
    let offset = first.lines.len();
    first.lines.extend(second.lines);
    first.problems.extend(
        second
            .problems
            .into_iter()
            .map(|(index, key, message)| (index + offset, key, message)),
    );
    first.newline = first.newline.or(second.newline);
    first
}

/// The position of the first `\n` in `bytes`.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    find_byte(bytes, b'\n')
}

/// The position of the first `needle` in `bytes`, eight bytes at a time.
fn find_byte(bytes: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern: u64 = ONES * needle as u64;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let word = word_at(bytes, i) ^ pattern;
        let found = word.wrapping_sub(ONES) & !word & HIGHS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b == needle).map(|j| i + j)
}

/// Splits `text` into lines and classifies each; `base` is where `text` starts in the
/// file's buffer.
fn scan(text: &str, base: usize) -> Scanned {
    // Lines of a configuration are rarely shorter than this; more only costs a regrowth.
    let mut lines = Vec::with_capacity(text.len() / 24 + 1);
    let mut problems = Vec::new();
    let mut newline = None;
    for raw in RawLines::new(text) {
        if newline.is_none() && raw.ending != Ending::None {
            newline = Some(raw.ending);
        }
        let (kind, problem) = classify(raw.body);
        if let Some((key, message)) = problem {
            problems.push((lines.len(), key, message));
        }
        lines.push(Line {
            start: base + raw.start,
            len: raw.body.len(),
            ending: raw.ending,
            kind,
        });
    }
    Scanned {
        lines,
        problems,
        newline,
    }
}

/// One line of a text, as [`RawLines`] gives it.
pub(crate) struct RawLine<'a> {
    /// Where the line starts in the text.
    pub(crate) start: usize,
    /// The line without its ending.
    pub(crate) body: &'a str,
    ending: Ending,
}

/// The lines of a text, each with its ending split off.
pub(crate) struct RawLines<'a> {
    rest: &'a str,
    offset: usize,
}

impl<'a> RawLines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        RawLines {
            rest: text,
            offset: 0,
        }
    }

    /// How many bytes of the text the lines returned so far took, endings included.
    pub(crate) fn consumed(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for RawLines<'a> {
    type Item = RawLine<'a>;

    fn next(&mut self) -> Option<RawLine<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // Split after an ASCII byte: always on a character boundary.
        let end = find_newline(self.rest.as_bytes()).map_or(self.rest.len(), |i| i + 1);
        let (raw, tail) = self.rest.split_at(end);
        self.rest = tail;
        let start = self.offset;
        self.offset += raw.len();
        let (body, ending) = if let Some(body) = raw.strip_suffix("\r\n") {
            (body, Ending::CrLf)
        } else if let Some(body) = raw.strip_suffix('\n') {
            (body, Ending::Lf)
        } else {
            (raw, Ending::None)
        };
        Some(RawLine {
            start,
            body,
            ending,
        })
    }
}

/// A line read for the tree only: its key and value, or what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read<'a> {
    /// A blank line or a comment.
    Nothing,
    Entry {
        key: &'a str,
        value: &'a str,
    },
    /// Not understood: the key (if any) and the message.
    Problem(String, String),
}

impl<'a> RawLine<'a> {
    /// What the line says.
    pub(crate) fn read(&self) -> Read<'a> {
        match classify(self.body) {
            (Kind::Entry { key, value }, _) => Read::Entry {
                key: key.of(self.body),
                value: value.of(self.body),
            },
            (_, Some((key, message))) => Read::Problem(key, message),
            _ => Read::Nothing,
        }
    }
}

/// Reads the file at `path` as text. A file that is not valid UTF-8 is
/// refused (`InvalidData`) rather than silently altered.
pub(crate) fn read_text(path: &Path) -> io::Result<String> {
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: not valid UTF-8 text (at byte {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Warnings for keys written more than once in one file (`include` may be).
fn repeated_keys(path: &Arc<PathBuf>, text: &str, lines: &[Line]) -> Vec<Diagnostic> {
    let mut seen: FxHashMap<&str, u32> = FxHashMap::default();
    let mut warnings = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Kind::Entry { key, .. } = line.kind else {
            continue;
        };
        let body = text.get(line.start..line.start + line.len).unwrap_or("");
        let key = key.of(body);
        let number = line_number(index);
        let earlier = seen.insert(key, number);
        if let Some(earlier) = earlier.filter(|_| key != crate::include::INCLUDE_KEY) {
            warnings.push(Diagnostic::warning(
                Some(Location::new(path.clone(), number)),
                key,
                format!("also set at line {earlier}; this later value wins"),
            ));
        }
    }
    warnings
}

/// A line number as `u32`, saturating (no file has four billion lines, but
/// input must never make us panic).
pub(crate) fn line_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

impl ConfFile {
    /// An empty file that will be written to `path`.
    pub fn new(path: impl Into<PathBuf>) -> ConfFile {
        ConfFile {
            path: Arc::new(path.into()),
            buffer: String::new(),
            lines: Vec::new(),
            newline: Ending::Lf,
        }
    }

    /// Reads `text` as the content of the file at `path`. Never fails: lines
    /// that are not understood are kept verbatim and reported as errors, and
    /// keys written more than once within the file are reported as warnings.
    pub fn parse(path: impl Into<PathBuf>, text: &str) -> (ConfFile, Vec<Diagnostic>) {
        ConfFile::parse_with(path.into(), text, true)
    }

    /// [`ConfFile::parse`], optionally without looking for repeated keys
    /// (when the caller builds a tree, which finds them anyway).
    pub(crate) fn parse_with(
        path: PathBuf,
        text: &str,
        check_duplicates: bool,
    ) -> (ConfFile, Vec<Diagnostic>) {
        ConfFile::parse_owned(path, text.to_owned(), check_duplicates)
    }

    /// [`ConfFile::parse_with`] for text already owned: it becomes the
    /// file's buffer without a copy (a big configuration is 100 MB).
    pub(crate) fn parse_owned(
        path: PathBuf,
        text: String,
        check_duplicates: bool,
    ) -> (ConfFile, Vec<Diagnostic>) {
        let path = Arc::new(path);
        let Scanned {
            lines,
            problems,
            newline,
        } = scan_in_parallel(&text);
        let mut diagnostics: Vec<Diagnostic> = problems
            .into_iter()
            .map(|(index, key, message)| {
                let location = Location::new(path.clone(), line_number(index));
                Diagnostic::error(Some(location), key, message)
            })
            .collect();
        if check_duplicates {
            let warnings = repeated_keys(&path, &text, &lines);
            if !warnings.is_empty() {
                // Both lists are in line order, and no line is in both.
                let line = |d: &Diagnostic| d.location.as_ref().map_or(0, |l| l.line);
                diagnostics.extend(warnings);
                diagnostics.sort_by_key(line);
            }
        }
        let file = ConfFile {
            path,
            buffer: text,
            lines: {
                let mut lines = lines;
                lines.shrink_to_fit();
                lines
            },
            newline: newline.unwrap_or(Ending::Lf),
        };
        (file, diagnostics)
    }

    /// Reads and parses the file at `path`. A file that is not valid UTF-8
    /// is refused (`InvalidData`) rather than silently altered.
    pub fn load(path: &Path) -> io::Result<(ConfFile, Vec<Diagnostic>)> {
        ConfFile::load_with(path, true)
    }

    /// [`ConfFile::load`], optionally without looking for repeated keys.
    pub(crate) fn load_with(
        path: &Path,
        check_duplicates: bool,
    ) -> io::Result<(ConfFile, Vec<Diagnostic>)> {
        let text = read_text(path)?;
        Ok(ConfFile::parse_owned(
            path.to_path_buf(),
            text,
            check_duplicates,
        ))
    }

    /// Writes the file back to its path: to a temporary file beside it
    /// first, then renamed over it, so a crash never leaves half a file.
    pub fn save(&self) -> io::Result<()> {
        let path = self.path();
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".baton-tmp");
        let tmp = path.with_file_name(name);
        std::fs::write(&tmp, self.to_text())?;
        std::fs::rename(&tmp, path)
    }

    /// The path the file was read from (and is written back to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path, shared, as used in [`Location`]s.
    pub fn shared_path(&self) -> &Arc<PathBuf> {
        &self.path
    }

    /// The location of a 1-based line of this file.
    pub fn location(&self, line: u32) -> Location {
        Location::new(self.path.clone(), line)
    }

    /// How many lines the file has.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// At least as many bytes as the file's lines hold (lines edited since parsing
    /// included): room enough for its keys and values in a tree.
    pub(crate) fn text_bound(&self) -> usize {
        self.buffer.len()
    }

    fn text_of<'a>(&'a self, line: &'a Line) -> &'a str {
        self.buffer
            .get(line.start..line.start + line.len)
            .unwrap_or("")
    }

    /// Rewrites the buffer without the text of replaced or removed lines,
    /// once that garbage outweighs the live text.
    fn maybe_compact(&mut self) {
        let live: usize = self.lines.iter().map(|l| l.len).sum();
        if self.buffer.len() <= 2 * live + 4096 {
            return;
        }
        let mut buffer = String::with_capacity(live);
        for i in 0..self.lines.len() {
            let start = buffer.len();
            buffer.push_str(self.text_of(&self.lines[i]));
            self.lines[i].start = start;
        }
        self.buffer = buffer;
    }

    /// A new or rewritten line: its text is appended to the buffer (the old
    /// text, if any, simply stops being referenced) and classified afresh.
    fn make_line(&mut self, text: &str, ending: Ending) -> Line {
        let (kind, _) = classify(text);
        let start = self.buffer.len();
        self.buffer.push_str(text);
        Line {
            start,
            len: text.len(),
            ending,
            kind,
        }
    }

    /// The text, byte-identical to what was parsed if nothing was edited.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.lines.iter().map(|l| l.len + 2).sum());
        for line in &self.lines {
            out.push_str(self.text_of(line));
            out.push_str(line.ending.as_str());
        }
        out
    }

    /// The text, like [`ConfFile::to_text`], without a copy when nothing
    /// was edited (the buffer is then exactly the text).
    pub fn into_text(self) -> String {
        let mut offset = 0;
        let pristine = self.lines.iter().all(|line| {
            let here = line.start == offset;
            offset += line.len + line.ending.as_str().len();
            here && self.buffer.get(line.start + line.len..offset) == Some(line.ending.as_str())
        }) && offset == self.buffer.len();
        if pristine {
            self.buffer
        } else {
            self.to_text()
        }
    }

    fn entry_at(&self, index: usize) -> Option<Entry<'_>> {
        let line = self.lines.get(index)?;
        match line.kind {
            Kind::Entry { key, value } => {
                let text = self.text_of(line);
                Some(Entry {
                    key: key.of(text),
                    value: value.of(text),
                    line: line_number(index),
                })
            }
            _ => None,
        }
    }

    /// The `key = value` lines, in file order (duplicates included).
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        (0..self.lines.len()).filter_map(move |i| self.entry_at(i))
    }

    /// The value of `key`; when written more than once, the last one wins.
    pub fn get(&self, key: &str) -> Option<&str> {
        (0..self.lines.len())
            .rev()
            .filter_map(|i| self.entry_at(i))
            .find(|e| e.key == key)
            .map(|e| e.value)
    }

    /// Index of the last line whose key is `key`.
    fn last_index_of(&self, key: &str) -> Option<usize> {
        (0..self.lines.len())
            .rev()
            .find(|&i| self.entry_at(i).is_some_and(|e| e.key == key))
    }

    /// Sets `key` to `value`.
    ///
    /// An existing key has its (last) line's value replaced in place; the
    /// key, the spacing around `=` and the line ending stay as they were.
    /// A new key is written as `key = value` right after the last line whose
    /// key shares the most leading segments with it (so `vserver!10!nick`
    /// lands inside `vserver!10`'s block), or at the end of the file if no
    /// key shares any.
    ///
    /// Fails, changing nothing, if the key is malformed or the value could
    /// not be read back unchanged (line breaks, surrounding whitespace).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        if let Some(problem) = writable_key_problem(key) {
            return Err(format!("cannot set `{key}`: {problem}"));
        }
        if let Some(problem) = writable_value_problem(value) {
            return Err(format!("cannot set `{key}`: {problem}"));
        }
        if let Some(index) = self.last_index_of(key) {
            let line = &self.lines[index];
            let Kind::Entry { value: old, .. } = line.kind else {
                return Ok(());
            };
            let text = self.text_of(line);
            if old.of(text) == value {
                return Ok(());
            }
            let before = text.get(..old.start()).unwrap_or("");
            let mut new = if value.is_empty() {
                before.trim_end().to_owned()
            } else {
                let mut s = before.to_owned();
                // "key =" with nothing after the `=`: keep the spaced layout.
                if before.ends_with(" =") || before.ends_with("\t=") {
                    s.push(' ');
                }
                s
            };
            new.push_str(value);
            if !value.is_empty() {
                new.push_str(text.get(old.end()..).unwrap_or(""));
            }
            let ending = line.ending;
            self.lines[index] = self.make_line(&new, ending);
            self.maybe_compact();
            return Ok(());
        }
        let mut best = (0, None);
        for entry in self.entries() {
            let shared = common_segments(entry.key, key);
            if shared > 0 && shared >= best.0 {
                best = (shared, Some(entry.line as usize));
            }
        }
        let at = best.1.unwrap_or(self.lines.len());
        let text = format!("{key} = {value}").trim_end().to_owned();
        self.insert_lines(at, vec![text]);
        self.maybe_compact();
        Ok(())
    }

    /// Inserts new lines before index `at` (`at == len` appends), giving
    /// them the file's line ending. If the file had no final newline, it
    /// still has none afterwards.
    fn insert_lines(&mut self, at: usize, texts: Vec<String>) {
        if texts.is_empty() {
            return;
        }
        let at = at.min(self.lines.len());
        let newline = self.newline;
        let mut new: Vec<Line> = texts.iter().map(|t| self.make_line(t, newline)).collect();
        if at == self.lines.len() {
            if let Some(last) = self.lines.last_mut() {
                if last.ending == Ending::None {
                    last.ending = newline;
                    if let Some(l) = new.last_mut() {
                        l.ending = Ending::None;
                    }
                }
            }
        }
        self.lines.splice(at..at, new);
    }

    /// Removes the key/value lines whose key satisfies `pred`; returns how
    /// many. If the file had no final newline, it still has none afterwards.
    fn remove_entries(&mut self, pred: impl Fn(&str) -> bool) -> usize {
        let keep: Vec<bool> = (0..self.lines.len())
            .map(|i| !self.entry_at(i).is_some_and(|e| pred(e.key)))
            .collect();
        let removed = keep.iter().filter(|k| !**k).count();
        if removed == 0 {
            return 0;
        }
        let no_final_newline = self.lines.last().is_some_and(|l| l.ending == Ending::None);
        let last_removed = keep.last() == Some(&false);
        let mut flags = keep.into_iter();
        self.lines.retain(|_| flags.next().unwrap_or(true));
        if no_final_newline && last_removed {
            if let Some(last) = self.lines.last_mut() {
                last.ending = Ending::None;
            }
        }
        self.maybe_compact();
        removed
    }

    /// Removes every line whose key is exactly `key`; says whether there was any.
    pub fn unset(&mut self, key: &str) -> bool {
        self.remove_entries(|k| k == key) > 0
    }

    /// Removes `prefix` and every `prefix!...` key (whole segments only);
    /// returns how many lines were removed. An empty prefix removes nothing.
    pub fn unset_tree(&mut self, prefix: &str) -> usize {
        self.remove_entries(|k| in_tree(k, prefix))
    }

    /// The text of entry line `index` with its key's leading `from` replaced by `to`.
    fn rekeyed(&self, index: usize, from: &str, to: &str) -> Option<String> {
        let line = self.lines.get(index)?;
        let Kind::Entry { key, .. } = line.kind else {
            return None;
        };
        let text = self.text_of(line);
        let old_key = key.of(text);
        if !in_tree(old_key, from) {
            return None;
        }
        let mut new = String::with_capacity(text.len() + to.len());
        new.push_str(text.get(..key.start()).unwrap_or(""));
        new.push_str(to);
        new.push_str(&old_key[from.len()..]);
        new.push_str(text.get(key.end()..).unwrap_or(""));
        Some(new)
    }

    /// Renames the subtree `from` to `to` in place: every key that is `from`
    /// or starts with `from!` (whole segments only: `vserver!1` does not
    /// touch `vserver!10`) gets the prefix replaced; the rest of each line is
    /// kept. Returns how many lines changed; 0 if `to` is not a valid key.
    /// Keys already under `to` are left alone (the caller decides whether
    /// to clear them first).
    pub fn rename_tree(&mut self, from: &str, to: &str) -> usize {
        if from.is_empty() || writable_key_problem(to).is_some() || from == to {
            return 0;
        }
        let mut changed = 0;
        for index in 0..self.lines.len() {
            if let Some(text) = self.rekeyed(index, from, to) {
                let ending = self.lines[index].ending;
                self.lines[index] = self.make_line(&text, ending);
                changed += 1;
            }
        }
        self.maybe_compact();
        changed
    }

    /// Copies the subtree `from` to `to`: every `from` / `from!...` line is
    /// copied with the prefix replaced, and the copies are inserted together
    /// right after the last line of `from`'s subtree. Returns how many lines
    /// were added; 0 if `to` is not a valid key.
    pub fn copy_tree(&mut self, from: &str, to: &str) -> usize {
        if from.is_empty() || writable_key_problem(to).is_some() {
            return 0;
        }
        let mut copies = Vec::new();
        let mut last = None;
        for index in 0..self.lines.len() {
            if let Some(text) = self.rekeyed(index, from, to) {
                copies.push(text);
                last = Some(index);
            }
        }
        let Some(last) = last else {
            return 0;
        };
        let count = copies.len();
        self.insert_lines(last + 1, copies);
        self.maybe_compact();
        count
    }

    /// The distinct keys that are `prefix` or lie below it, in the order
    /// first written. An empty prefix lists every key.
    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        self.entries()
            .filter(|e| prefix.is_empty() || in_tree(e.key, prefix))
            .filter(|e| seen.insert(e.key))
            .map(|e| e.key.to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Severity;

    fn parse(text: &str) -> ConfFile {
        let (file, diagnostics) = ConfFile::parse("t.conf", text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        file
    }

    fn entries(file: &ConfFile) -> Vec<(String, String, u32)> {
        file.entries()
            .map(|e| (e.key.to_owned(), e.value.to_owned(), e.line))
            .collect()
    }

    #[test]
    fn round_trips_byte_identically() {
        for text in [
            "",
            "\n",
            "a = 1",
            "a = 1\n",
            "a = 1\r\nb=2\r\n",
            "a = 1\r\nb = 2",
            "# comment\n\n   \n  key!x   =   spaced value   \n\tk\t=\tv\t\n",
            "mixed = 1\r\nendings = 2\nlast = 3\r\n",
            "\u{feff}bom!key = 1\n",
            "bad line\nk = v = w # not a comment\n!bad = 1\n",
            "\r\n\r\n",
            "lone\rcarriage = 1\n",
        ] {
            let (file, _) = ConfFile::parse("t.conf", text);
            assert_eq!(file.to_text(), text);
            assert_eq!(file.into_text(), text);
        }
    }

    #[test]
    fn fast_and_general_classification_agree() {
        for line in [
            "",
            "  ",
            "# c",
            "  # c",
            "k = v",
            "  k!x   =   v  ",
            "k =",
            "k =  \t",
            "k=v=w",
            "=v",
            " = v",
            "a b = c",
            "a!!b = 1",
            "!a = 1",
            "a! = 1",
            "no equals",
            "k\x0b= v",
            "k =\x0bv\x0b",
            "\x0c",
            "k = v # not a comment",
            "k",
            "  k  ",
            "a!b!c=1",
            "!",
            "a!=",
            "a=é",
            "é=a",
            "#é",
            " \t# x",
            "k = a b  ",
            "a != 1",
            "a\x01b = 1",
            "a! b = 1",
            "ab  =",
            "a!b!c!d = x = y",
        ] {
            let fast = classify_ascii(line);
            let general = {
                let body = line;
                let trimmed = body.trim();
                if trimmed.is_empty() {
                    Some(Kind::Blank)
                } else if trimmed.starts_with('#') {
                    Some(Kind::Comment)
                } else {
                    match body.find('=') {
                        None => None,
                        Some(eq) => {
                            let raw_key = &body[..eq];
                            let lead = raw_key.len() - raw_key.trim_start().len();
                            let key = raw_key.trim();
                            let raw_value = &body[eq + 1..];
                            let vlead = raw_value.len() - raw_value.trim_start().len();
                            let vstart = eq + 1 + vlead;
                            (key_problem(key).is_none()).then(|| Kind::Entry {
                                key: Span::new(lead, lead + key.len()).unwrap(),
                                value: Span::new(vstart, vstart + raw_value.trim().len()).unwrap(),
                            })
                        }
                    }
                }
            };
            // The fast path may decline (non-ASCII), never disagree.
            if fast.is_some() || line.is_ascii() {
                assert_eq!(fast, general, "{line:?}");
            }
            assert_eq!(
                classify(line).0,
                general.unwrap_or(Kind::Invalid),
                "{line:?}"
            );
        }
    }

    #[test]
    fn newlines_are_found_word_by_word() {
        for text in [
            "",
            "\n",
            "abc",
            "abcdefgh\n",
            "abcdefghijklmno\nx",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\n",
        ] {
            assert_eq!(
                find_newline(text.as_bytes()),
                text.bytes().position(|b| b == b'\n'),
                "{text:?}"
            );
        }
    }

    /// The byte-at-a-time definition [`plain_key`] must agree with.
    fn plain_key_reference(key: &[u8]) -> bool {
        let mut previous = b'!';
        for &c in key {
            if !c.is_ascii() || (c <= b' ' && ascii_space(c)) || (c == b'!' && previous == b'!') {
                return false;
            }
            previous = c;
        }
        previous != b'!'
    }

    proptest::proptest! {
        #[test]
        fn plain_key_agrees_with_the_bytewise_check(
            key in "[a!b1 \t\x0b\x0c\x01\x1f=é]{0,40}"
        ) {
            proptest::prop_assert_eq!(
                plain_key(key.as_bytes()),
                plain_key_reference(key.as_bytes()),
                "{:?}", key
            );
        }
    }

    #[test]
    fn plain_keys_word_by_word() {
        for (key, plain) in [
            ("vserver!10001!rule!100!match!request", true),
            ("vserver!10001!!rule", false),
            ("vserver!!10001!rule", false),
            ("vserve!!", false),
            ("vserver!!", false),
            ("!vserver!10001", false),
            ("vserver!\u{1}x!y", true),
            ("vserver!\tx!yyyyyyyy", false),
            ("vserver!éx!yyyyyyyy", false),
        ] {
            assert_eq!(plain_key(key.as_bytes()), plain, "{key:?}");
            assert_eq!(plain_key_reference(key.as_bytes()), plain, "{key:?}");
        }
    }

    #[test]
    fn a_big_text_scans_the_same_in_two_halves() {
        let mut text = String::new();
        let mut i = 0;
        while text.len() < PARALLEL_SCAN + 1000 {
            text.push_str(&format!("vserver!{i}!nick = n{i}\r\n# c\nbad line {i}\n\n"));
            i += 1;
        }
        let whole = scan(&text, 0);
        let halves = scan_in_parallel(&text);
        assert_eq!(whole.lines.len(), halves.lines.len());
        for (a, b) in whole.lines.iter().zip(&halves.lines) {
            assert_eq!(
                (a.start, a.len, a.ending, a.kind),
                (b.start, b.len, b.ending, b.kind)
            );
        }
        assert_eq!(whole.problems, halves.problems);
        assert_eq!(whole.newline, halves.newline);
        let (file, diagnostics) = ConfFile::parse("big.conf", &text);
        assert_eq!(diagnostics.len(), i);
        assert_eq!(diagnostics[1].location.as_ref().unwrap().line, 7);
        assert_eq!(file.to_text(), text);
    }

    #[test]
    fn reads_keys_and_values() {
        let file = parse(
            "# head\nserver!bind!1!port = 80\r\n\n  vserver!1!nick=default  \nx!y =\nurl = a=b!c # d\n",
        );
        assert_eq!(
            entries(&file),
            vec![
                ("server!bind!1!port".into(), "80".into(), 2),
                ("vserver!1!nick".into(), "default".into(), 4),
                ("x!y".into(), "".into(), 5),
                ("url".into(), "a=b!c # d".into(), 6),
            ]
        );
        assert_eq!(file.get("x!y"), Some(""));
        assert_eq!(file.get("nope"), None);
        assert_eq!(file.line_count(), 6);
    }

    #[test]
    fn byte_order_mark_is_not_part_of_the_key() {
        let file = parse("\u{feff}a!b = 1\n");
        assert_eq!(file.get("a!b"), Some("1"));
    }

    #[test]
    fn reports_bad_lines_with_line_numbers() {
        let text = "ok = 1\nno equals here\n = empty key\na!!b = 1\nwith space = 1\n!lead = 1\ntrail! = 1\n";
        let (file, diagnostics) = ConfFile::parse("dir/t.conf", text);
        let lines: Vec<u32> = diagnostics
            .iter()
            .map(|d| d.location.as_ref().unwrap().line)
            .collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7]);
        assert!(diagnostics.iter().all(|d| d.severity == Severity::Error));
        assert_eq!(
            diagnostics[0].to_string(),
            "dir/t.conf:2: error: expected `key = value` (or a `#` comment), found `no equals here`"
        );
        assert_eq!(diagnostics[3].key, "with space");
        assert!(diagnostics[3].message.contains("whitespace"));
        assert_eq!(entries(&file).len(), 1);
        assert_eq!(file.to_text(), text);
    }

    #[test]
    fn long_bad_lines_are_shortened_in_messages() {
        let line = "x".repeat(500);
        let (_, diagnostics) = ConfFile::parse("t.conf", &line);
        assert!(diagnostics[0].message.len() < 120);
        assert!(diagnostics[0].message.contains("..."));
    }

    #[test]
    fn duplicates_warn_naming_both_lines_and_last_wins() {
        let (file, diagnostics) = ConfFile::parse("t.conf", "a = 1\nb = 2\na = 3\n");
        assert_eq!(file.get("a"), Some("3"));
        assert_eq!(diagnostics.len(), 1);
        let d = &diagnostics[0];
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.key, "a");
        assert_eq!(d.location.as_ref().unwrap().line, 3);
        assert!(d.message.contains("line 1"), "{}", d.message);
    }

    #[test]
    fn set_replaces_in_place_keeping_layout() {
        let mut file = parse("# c\n  a!b   =   old  \r\nz = 1\n");
        file.set("a!b", "new value").unwrap();
        assert_eq!(file.to_text(), "# c\n  a!b   =   new value  \r\nz = 1\n");
        file.set("a!b", "").unwrap();
        assert_eq!(file.to_text(), "# c\n  a!b   =\r\nz = 1\n");
        file.set("a!b", "again").unwrap();
        assert_eq!(file.to_text(), "# c\n  a!b   = again\r\nz = 1\n");
        let mut compact = parse("k=\n");
        compact.set("k", "v").unwrap();
        assert_eq!(compact.to_text(), "k=v\n");
    }

    #[test]
    fn set_changes_the_last_duplicate() {
        let (mut file, _) = ConfFile::parse("t.conf", "a = 1\na = 2\n");
        file.set("a", "3").unwrap();
        assert_eq!(file.to_text(), "a = 1\na = 3\n");
        assert_eq!(file.get("a"), Some("3"));
    }

    #[test]
    fn set_inserts_new_keys_inside_their_block() {
        let mut file = parse(
            "server!port = 80\n\n# vs 1\nvserver!1!nick = one\nvserver!1!rule!1!match = default\n\n# vs 10\nvserver!10!nick = ten\nvserver!10!rule!5!match = default\n\n# end\n",
        );
        file.set("vserver!1!document_root", "/www").unwrap();
        file.set("vserver!10!rule!5!handler", "file").unwrap();
        file.set("server!timeout", "15").unwrap();
        file.set("icons!default", "x.png").unwrap();
        assert_eq!(
            file.to_text(),
            "server!port = 80\nserver!timeout = 15\n\n# vs 1\nvserver!1!nick = one\nvserver!1!rule!1!match = default\nvserver!1!document_root = /www\n\n# vs 10\nvserver!10!nick = ten\nvserver!10!rule!5!match = default\nvserver!10!rule!5!handler = file\n\n# end\nicons!default = x.png\n"
        );
    }

    #[test]
    fn set_keeps_line_endings_and_missing_final_newline() {
        let mut file = parse("a = 1\r\nb = 2");
        file.set("c", "3").unwrap();
        assert_eq!(file.to_text(), "a = 1\r\nb = 2\r\nc = 3");
        file.set("a!x", "4").unwrap();
        assert_eq!(file.to_text(), "a = 1\r\na!x = 4\r\nb = 2\r\nc = 3");
        let mut empty = parse("");
        empty.set("k", "").unwrap();
        assert_eq!(empty.to_text(), "k =\n");
        let mut comment_only = parse("# only a comment");
        comment_only.set("k", "v").unwrap();
        assert_eq!(comment_only.to_text(), "# only a comment\nk = v");
    }

    #[test]
    fn set_refuses_what_would_not_read_back() {
        let mut file = parse("a = 1\n");
        for key in ["", "a b", "a!!b", "a=b", "#a", "a!"] {
            assert!(file.set(key, "v").is_err(), "{key:?}");
        }
        for value in ["a\nb", " lead", "trail ", "cr\r"] {
            assert!(file.set("a", value).is_err(), "{value:?}");
        }
        assert_eq!(file.to_text(), "a = 1\n");
    }

    #[test]
    fn unset_removes_every_occurrence_only() {
        let (mut file, _) = ConfFile::parse("t.conf", "# keep\na = 1\nab = 2\na = 3\na!b = 4\n");
        assert!(file.unset("a"));
        assert!(!file.unset("a"));
        assert_eq!(file.to_text(), "# keep\nab = 2\na!b = 4\n");
    }

    #[test]
    fn unset_keeps_missing_final_newline() {
        let mut file = parse("a = 1\nb = 2");
        assert!(file.unset("b"));
        assert_eq!(file.to_text(), "a = 1");
        assert!(file.unset("a"));
        assert_eq!(file.to_text(), "");
    }

    #[test]
    fn unset_tree_uses_whole_segments() {
        let mut file = parse(
            "vserver!1 = x\n# one\nvserver!1!nick = a\nvserver!10!nick = b\nvserver!1!rule!1!match = d\nvserver!100 = y\n",
        );
        assert_eq!(file.unset_tree("vserver!1"), 3);
        assert_eq!(
            file.to_text(),
            "# one\nvserver!10!nick = b\nvserver!100 = y\n"
        );
        assert_eq!(file.unset_tree(""), 0);
        assert_eq!(file.unset_tree("nothing"), 0);
    }

    #[test]
    fn rename_tree_rewrites_keys_in_place() {
        let mut file = parse(
            "# rules\nvserver!1!rule!1!match = default\n  vserver!1!rule!1!handler   =  file\r\nvserver!1!rule!10!match = x\nvserver!1!rule!1 = top\n",
        );
        assert_eq!(
            file.rename_tree("vserver!1!rule!1", "vserver!1!rule!200"),
            3
        );
        assert_eq!(
            file.to_text(),
            "# rules\nvserver!1!rule!200!match = default\n  vserver!1!rule!200!handler   =  file\r\nvserver!1!rule!10!match = x\nvserver!1!rule!200 = top\n"
        );
        assert_eq!(file.rename_tree("vserver!1!rule!200", "bad key"), 0);
        assert_eq!(file.rename_tree("", "x"), 0);
        assert_eq!(file.get("vserver!1!rule!200!handler"), Some("file"));
    }

    #[test]
    fn copy_tree_inserts_after_the_block() {
        let mut file = parse(
            "vserver!1!nick = one\n# inside\nvserver!1!rule!1!match = default\nvserver!10!nick = ten\n# tail",
        );
        assert_eq!(file.copy_tree("vserver!1", "vserver!2"), 2);
        assert_eq!(
            file.to_text(),
            "vserver!1!nick = one\n# inside\nvserver!1!rule!1!match = default\nvserver!2!nick = one\nvserver!2!rule!1!match = default\nvserver!10!nick = ten\n# tail"
        );
        assert_eq!(file.copy_tree("missing", "x"), 0);
        assert_eq!(file.copy_tree("vserver!1", "bad!"), 0);
        let mut last = parse("a!x = 1\na!y = 2");
        assert_eq!(last.copy_tree("a", "b"), 2);
        assert_eq!(last.to_text(), "a!x = 1\na!y = 2\nb!x = 1\nb!y = 2");
    }

    #[test]
    fn keys_under_lists_distinct_keys_in_order() {
        let (file, _) = ConfFile::parse(
            "t.conf",
            "vserver!1 = a\nvserver!1!nick = b\nvserver!10!nick = c\nvserver!1!nick = d\nserver!x = 1\n",
        );
        assert_eq!(
            file.keys_under("vserver!1"),
            vec!["vserver!1", "vserver!1!nick"]
        );
        assert_eq!(file.keys_under("").len(), 4);
        assert!(file.keys_under("nothing").is_empty());
    }

    #[test]
    fn edits_after_edits_stay_consistent() {
        let mut file = parse("a!b = 1\n");
        file.set("a!b", "2").unwrap();
        assert_eq!(file.rename_tree("a", "c"), 1);
        assert_eq!(file.get("c!b"), Some("2"));
        assert_eq!(file.copy_tree("c", "d"), 1);
        file.set("d!b", "3").unwrap();
        assert_eq!(file.to_text(), "c!b = 2\nd!b = 3\n");
        let (reparsed, diagnostics) = ConfFile::parse("t.conf", &file.to_text());
        assert!(diagnostics.is_empty());
        assert_eq!(entries(&reparsed), entries(&file));
    }

    #[test]
    fn many_edits_keep_the_buffer_small() {
        let mut file = parse("a = 1\n# comment\nb = 2\n");
        for i in 0..10_000 {
            file.set("a", &format!("value number {i}")).unwrap();
            file.rename_tree(
                if i % 2 == 0 { "b" } else { "c" },
                if i % 2 == 0 { "c" } else { "b" },
            );
        }
        assert_eq!(file.to_text(), "a = value number 9999\n# comment\nb = 2\n");
        assert_eq!(
            file.clone().into_text(),
            "a = value number 9999\n# comment\nb = 2\n"
        );
        assert!(file.buffer.len() < 10_000);
    }
}
