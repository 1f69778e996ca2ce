//! Rendering of an HTML directory listing (the page a server shows for a
//! directory without an index file).
//!
//! [`render`] produces a complete HTML5 document: a title and heading
//! `Index of /path/`, an optional operator notice, and a table with one row
//! per entry (directories first, then files, each group sorted by the
//! requested key). Links are relative to the listing, so the page must be
//! served at a URL ending in `/`.
//!
//! Sorting (documented choice): names compare in plain byte order (so
//! `B` sorts before `a`); size and date sort ascending with ties broken by
//! name; directories, whose size is meaningless, sort by name under
//! [`SortKey::Size`]. Dates are shown in UTC as `YYYY-MM-DD HH:MM`.
//!
//! This module must never emit an entry name unescaped: every name is
//! HTML-escaped in text and percent-encoded in `href`s, so no file name can
//! inject markup or point a link elsewhere. The operator notice is the one
//! piece of HTML inserted verbatim, by design. It must never panic on any
//! name or time, and never emits JavaScript.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// One entry of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// File name (a single path segment).
    pub name: String,
    /// Whether the entry is a directory (after following a symlink).
    pub is_dir: bool,
    /// Whether the entry itself is a symbolic link.
    pub is_symlink: bool,
    /// Size in bytes (ignored for directories).
    pub size: u64,
    /// Last modification time, if known.
    pub modified: Option<SystemTime>,
    /// Owner name, if known and wanted.
    pub user: Option<String>,
    /// Group name, if known and wanted.
    pub group: Option<String>,
}

/// Which optional columns to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingOptions {
    /// Show the size column.
    pub size: bool,
    /// Show the last-modified column.
    pub date: bool,
    /// Show the owner column.
    pub user: bool,
    /// Show the group column.
    pub group: bool,
}

impl Default for ListingOptions {
    /// Size and date on; user and group off.
    fn default() -> Self {
        ListingOptions {
            size: true,
            date: true,
            user: false,
            group: false,
        }
    }
}

/// The column a listing is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortKey {
    Name,
    Size,
    Date,
}

impl SortKey {
    fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Date => "date",
        }
    }
}

/// The sort key requested by a query string such as `order=size` (the
/// leading `?` is optional; the first `order` parameter counts; values are
/// case-insensitive). Anything else means [`SortKey::Name`].
pub fn sort_key_from_query(query: Option<&str>) -> SortKey {
    let Some(query) = query else {
        return SortKey::Name;
    };
    let query = query.strip_prefix('?').unwrap_or(query);
    for pair in query.split(['&', ';']) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "order" {
            return if value.eq_ignore_ascii_case("size") {
                SortKey::Size
            } else if value.eq_ignore_ascii_case("date") {
                SortKey::Date
            } else {
                SortKey::Name
            };
        }
    }
    SortKey::Name
}

/// Characters left as they are in an `href`: the unreserved set of RFC 3986.
/// Everything else, including `%`, `/`, `?`, `#`, `:` and `&`, is encoded.
const HREF_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Escape text for use in HTML content and double- or single-quoted
/// attribute values. Runs without a special character are copied whole.
fn escape_html(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
        let (plain, special) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = special.chars();
        out.push_str(match chars.next() {
            Some('&') => "&amp;",
            Some('<') => "&lt;",
            Some('>') => "&gt;",
            Some('"') => "&quot;",
            _ => "&#39;",
        });
        rest = chars.as_str();
    }
    out.push_str(rest);
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_html(&mut out, text);
    out
}

/// A size in a short human-readable form: `512`, `1.2K`, `34M`, `5.0G`.
/// Units are powers of 1024.
pub fn human_size(size: u64) -> String {
    let mut out = String::new();
    write_human_size(&mut out, size);
    out
}

/// [`human_size`], appended to `out`.
fn write_human_size(out: &mut String, size: u64) {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    if size < 1024 {
        push_decimal(out, size, 1);
        return;
    }
    let mut value = size as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let suffix = UNITS.get(unit).copied().unwrap_or("E");
    let _ = if value < 9.95 {
        write!(out, "{value:.1}{suffix}")
    } else {
        write!(out, "{value:.0}{suffix}")
    };
}

/// A time as `YYYY-MM-DD HH:MM` in UTC (times before 1970 included).
pub fn format_date(t: SystemTime) -> String {
    let mut out = String::new();
    write_date(&mut out, t);
    out
}

/// [`format_date`], appended to `out`.
fn write_date(out: &mut String, t: SystemTime) {
    let secs: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => {
            let d = e.duration();
            -i128::from(d.as_secs()) - i128::from(d.subsec_nanos() > 0)
        }
    };
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    // Days of any `SystemTime` fit an i64 many times over.
    let (year, month, day) = crate::clock::civil_from_days(days as i64);
    if year < 0 {
        out.push('-');
    }
    push_decimal(out, year.unsigned_abs(), 4);
    out.push('-');
    push_decimal(out, month, 2);
    out.push('-');
    push_decimal(out, day, 2);
    out.push(' ');
    // In 0..86_400: the casts cannot truncate.
    push_decimal(out, (second_of_day / 3600) as u64, 2);
    out.push(':');
    push_decimal(out, ((second_of_day % 3600) / 60) as u64, 2);
}

/// Appends `n` in decimal, zero-padded to `width` digits (what `{:0width$}` does, without
/// the formatting machinery, which dominated the cost of a listing's rows).
fn push_decimal(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = start.min(digits.len().saturating_sub(width));
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// Order of two entries of the same kind (both directories or both files).
fn compare(a: &DirEntry, b: &DirEntry, sort: SortKey) -> Ordering {
    let by_name = || a.name.cmp(&b.name);
    match sort {
        SortKey::Name => by_name(),
        SortKey::Size if a.is_dir => by_name(),
        SortKey::Size => a.size.cmp(&b.size).then_with(by_name),
        SortKey::Date => a.modified.cmp(&b.modified).then_with(by_name),
    }
}

/// Names that must never be listed: they are not real entries and links to
/// them would escape the directory.
fn is_listable(name: &str) -> bool {
    !matches!(name, "" | "." | "..")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fff}\
h1{font-size:1.4em;font-weight:normal;word-break:break-all}\
table{border-collapse:collapse;min-width:50%}\
th,td{padding:.2em 1em .2em 0;text-align:left;vertical-align:top}\
th{border-bottom:1px solid #ccc}\
td.s,th.s{text-align:right}\
td.n{word-break:break-all}\
tr:hover td{background:#f4f4f4}\
a{text-decoration:none;color:#0645ad}a:hover{text-decoration:underline}\
tr.l a{font-style:italic}";

/// Render the listing of `url_path` (the decoded path of the directory as
/// requested, e.g. `/docs/`). `entries` is sorted in place: directories
/// first, then files, each group by `sort`. `notice_html` is inserted
/// verbatim above the table.
pub fn render(
    url_path: &str,
    entries: &mut [DirEntry],
    opts: &ListingOptions,
    sort: SortKey,
    notice_html: Option<&str>,
) -> String {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| compare(a, b, sort)));

    let mut title = escaped(url_path);
    if !url_path.ends_with('/') {
        title.push('/');
    }

    // One allocation for the whole page in the common case: the fixed parts, and per row
    // its markup and the name twice (text, and link that may grow when encoded).
    let names: usize = entries.iter().map(|e| e.name.len()).sum();
    let capacity = 1024 + STYLE.len() + notice_html.map_or(0, str::len) + 2 * url_path.len();
    let mut out = String::with_capacity(capacity + entries.len() * 140 + names * 3);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>Index of {title}</title>");
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str("</head>\n<body>\n");
    let _ = writeln!(out, "<h1>Index of {title}</h1>");
    if let Some(notice) = notice_html {
        out.push_str(notice);
        out.push('\n');
    }

    out.push_str("<table>\n<thead><tr>");
    let header = |out: &mut String, key: SortKey, class: &str, label: &str| {
        let aria = if key == sort {
            " aria-sort=\"ascending\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<th class=\"{class}\"{aria}><a href=\"?order={}\">{label}</a></th>",
            key.as_str()
        );
    };
    header(&mut out, SortKey::Name, "n", "Name");
    if opts.size {
        header(&mut out, SortKey::Size, "s", "Size");
    }
    if opts.date {
        header(&mut out, SortKey::Date, "d", "Last modified");
    }
    if opts.user {
        out.push_str("<th class=\"u\">User</th>");
    }
    if opts.group {
        out.push_str("<th class=\"g\">Group</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");

    let empty_cells = |out: &mut String| {
        let count = [opts.size, opts.date, opts.user, opts.group]
            .iter()
            .filter(|&&on| on)
            .count();
        for _ in 0..count {
            out.push_str("<td></td>");
        }
    };

    if !url_path.is_empty() && url_path != "/" {
        out.push_str("<tr class=\"p\"><td class=\"n\"><a href=\"../\">Parent directory</a></td>");
        empty_cells(&mut out);
        out.push_str("</tr>\n");
    }

    for entry in entries.iter().filter(|e| is_listable(&e.name)) {
        out.push_str(if entry.is_dir {
            "<tr class=\"dir"
        } else {
            "<tr class=\"file"
        });
        if entry.is_symlink {
            out.push_str(" l");
        }
        out.push_str("\"><td class=\"n\"><a href=\"");
        out.extend(utf8_percent_encode(&entry.name, HREF_SAFE));
        let slash = if entry.is_dir { "/" } else { "" };
        out.push_str(slash);
        out.push_str("\">");
        escape_html(&mut out, &entry.name);
        out.push_str(slash);
        out.push_str("</a></td>");
        if opts.size {
            if entry.is_dir {
                out.push_str("<td class=\"s\">-</td>");
            } else {
                out.push_str("<td class=\"s\" title=\"");
                push_decimal(&mut out, entry.size, 1);
                out.push_str(" bytes\">");
                write_human_size(&mut out, entry.size);
                out.push_str("</td>");
            }
        }
        if opts.date {
            match entry.modified {
                Some(t) => {
                    out.push_str("<td class=\"d\">");
                    write_date(&mut out, t);
                    out.push_str("</td>");
                }
                None => out.push_str("<td class=\"d\">-</td>"),
            }
        }
        for (on, value) in [(opts.user, &entry.user), (opts.group, &entry.group)] {
            if on {
                out.push_str("<td>");
                match value {
                    Some(v) => escape_html(&mut out, v),
                    None => out.push('-'),
                }
                out.push_str("</td>");
            }
        }
        out.push_str("</tr>\n");
    }

    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(name: &str, size: u64, secs: u64) -> DirEntry {
        DirEntry {
            name: name.into(),
            is_dir: false,
            is_symlink: false,
            size,
            modified: Some(UNIX_EPOCH + Duration::from_secs(secs)),
            user: None,
            group: None,
        }
    }

    fn dir(name: &str, secs: u64) -> DirEntry {
        DirEntry {
            is_dir: true,
            size: 4096,
            ..file(name, 0, secs)
        }
    }

    fn names_in_order(html: &str) -> Vec<String> {
        html.lines()
            .filter(|l| l.starts_with("<tr class=\"dir") || l.starts_with("<tr class=\"file"))
            .filter_map(|l| {
                let link = l.get(l.find("<a href=\"")?..)?;
                let text = link.get(link.find("\">")? + 2..)?;
                Some(text.get(..text.find("</a>")?)?.to_string())
            })
            .collect()
    }

    #[test]
    fn page_structure() {
        let mut entries = vec![file("a.txt", 10, 0), dir("sub", 0)];
        let html = render(
            "/docs/",
            &mut entries,
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<title>Index of /docs/</title>"));
        assert!(html.contains("<h1>Index of /docs/</h1>"));
        assert!(html.contains("<a href=\"../\">Parent directory</a>"));
        assert!(html.contains("<a href=\"?order=name\">Name</a>"));
        assert!(html.contains("<a href=\"?order=size\">Size</a>"));
        assert!(html.contains("<a href=\"?order=date\">Last modified</a>"));
        assert!(!html.contains("User"));
        assert!(!html.contains("Group"));
        assert!(!html.contains("<script"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_eq!(html.matches("<table>").count(), 1);
        assert_eq!(html.matches("</table>").count(), 1);
        assert_eq!(html.matches("<tr").count(), html.matches("</tr>").count());
    }

    #[test]
    fn root_has_no_parent_link() {
        let html = render(
            "/",
            &mut [],
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert!(!html.contains("Parent directory"));
        assert!(html.contains("<title>Index of /</title>"));
    }

    #[test]
    fn title_gets_trailing_slash_and_is_escaped() {
        let html = render(
            "/a<b>&c",
            &mut [],
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert!(html.contains("<title>Index of /a&lt;b&gt;&amp;c/</title>"));
    }

    #[test]
    fn directories_first_with_trailing_slash() {
        let mut entries = vec![
            file("a.txt", 1, 0),
            dir("zzz", 0),
            dir("b", 0),
            file("B.txt", 1, 0),
        ];
        let html = render(
            "/x/",
            &mut entries,
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert_eq!(names_in_order(&html), ["b/", "zzz/", "B.txt", "a.txt"]);
        assert!(html.contains("<a href=\"zzz/\">zzz/</a>"));
        // The entries were sorted in place.
        assert_eq!(entries[0].name, "b");
    }

    #[test]
    fn sort_by_size_and_date() {
        let mut entries = vec![
            file("big", 5000, 1),
            file("small", 5, 3),
            file("mid", 500, 2),
            file("mid2", 500, 2),
            dir("d2", 1),
            dir("d1", 9),
        ];
        let opts = ListingOptions::default();
        let html = render("/", &mut entries, &opts, SortKey::Size, None);
        assert_eq!(
            names_in_order(&html),
            ["d1/", "d2/", "small", "mid", "mid2", "big"]
        );
        assert!(html.contains("<th class=\"s\" aria-sort=\"ascending\">"));
        let html = render("/", &mut entries, &opts, SortKey::Date, None);
        assert_eq!(
            names_in_order(&html),
            ["d2/", "d1/", "big", "mid", "mid2", "small"]
        );
    }

    #[test]
    fn unknown_dates_sort_first() {
        let mut entries = vec![
            file("a", 1, 5),
            DirEntry {
                modified: None,
                ..file("b", 1, 0)
            },
        ];
        let html = render(
            "/",
            &mut entries,
            &ListingOptions::default(),
            SortKey::Date,
            None,
        );
        assert_eq!(names_in_order(&html), ["b", "a"]);
        assert!(html.contains("<td class=\"d\">-</td>"));
    }

    #[test]
    fn names_are_escaped_and_encoded() {
        let mut entries = vec![
            file("a b&<c>.txt", 1, 0),
            file("100%.txt", 1, 0),
            file("q?x#y:z\"'.txt", 1, 0),
            file("é.txt", 1, 0),
            dir("<dir>", 0),
        ];
        let html = render(
            "/",
            &mut entries,
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert!(html.contains("<a href=\"a%20b%26%3Cc%3E.txt\">a b&amp;&lt;c&gt;.txt</a>"));
        assert!(html.contains("<a href=\"100%25.txt\">100%.txt</a>"));
        assert!(html.contains("<a href=\"q%3Fx%23y%3Az%22%27.txt\">q?x#y:z&quot;&#39;.txt</a>"));
        assert!(html.contains("<a href=\"%C3%A9.txt\">é.txt</a>"));
        assert!(html.contains("<a href=\"%3Cdir%3E/\">&lt;dir&gt;/</a>"));
        assert!(!html.contains("<c>"));
    }

    #[test]
    fn dot_entries_are_skipped() {
        let mut entries = vec![
            dir(".", 0),
            dir("..", 0),
            file("", 1, 0),
            file(".hidden", 1, 0),
        ];
        let html = render(
            "/x/",
            &mut entries,
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert_eq!(names_in_order(&html), [".hidden"]);
    }

    #[test]
    fn sizes_are_human_readable_with_exact_title() {
        let mut entries = vec![file("f", 1234, 0), dir("d", 0)];
        let html = render(
            "/",
            &mut entries,
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert!(html.contains("<td class=\"s\" title=\"1234 bytes\">1.2K</td>"));
        assert!(html.contains("<td class=\"s\">-</td>"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0");
        assert_eq!(human_size(1023), "1023");
        assert_eq!(human_size(1024), "1.0K");
        assert_eq!(human_size(1234), "1.2K");
        assert_eq!(human_size(10 * 1024), "10K");
        assert_eq!(human_size(3_565_158), "3.4M");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0G");
        assert_eq!(human_size(u64::MAX), "16E");
    }

    #[test]
    fn dates() {
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(format_date(t(0)), "1970-01-01 00:00");
        assert_eq!(format_date(t(1_795_607_219)), "2026-11-25 11:46");
        assert_eq!(format_date(t(951_868_740)), "2000-02-29 23:59");
        assert_eq!(format_date(t(4_107_542_400)), "2100-03-01 00:00");
        assert_eq!(
            format_date(UNIX_EPOCH - Duration::from_secs(60)),
            "1969-12-31 23:59"
        );
        assert_eq!(
            format_date(UNIX_EPOCH - Duration::from_millis(1)),
            "1969-12-31 23:59"
        );
        // Far future: no panic.
        let _ = format_date(UNIX_EPOCH + Duration::from_secs(1 << 62));
    }

    #[test]
    fn decimals() {
        let d = |n: u64, w: usize| {
            let mut s = String::new();
            push_decimal(&mut s, n, w);
            s
        };
        assert_eq!(d(0, 1), "0");
        assert_eq!(d(7, 2), "07");
        assert_eq!(d(2026, 4), "2026");
        assert_eq!(d(12345, 4), "12345");
        assert_eq!(d(u64::MAX, 1), u64::MAX.to_string());
        assert_eq!(d(5, 30), "00000000000000000005");
    }

    #[test]
    fn date_column_shows_dates() {
        let mut entries = vec![file("f", 1, 1_795_607_219)];
        let html = render(
            "/",
            &mut entries,
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert!(html.contains("<td class=\"d\">2026-11-25 11:46</td>"));
    }

    #[test]
    fn optional_columns() {
        let mut entries = vec![DirEntry {
            user: Some("r<oot".into()),
            group: None,
            ..file("f", 1, 0)
        }];
        let opts = ListingOptions {
            size: false,
            date: false,
            user: true,
            group: true,
        };
        let html = render("/d/", &mut entries, &opts, SortKey::Name, None);
        assert!(html.contains("<th class=\"u\">User</th><th class=\"g\">Group</th>"));
        assert!(html.contains("<td>r&lt;oot</td><td>-</td>"));
        assert!(!html.contains("order=size"));
        assert!(!html.contains("order=date"));
        assert!(!html.contains("bytes"));
        // Parent row has one empty cell per optional column.
        assert!(html.contains("Parent directory</a></td><td></td><td></td></tr>"));
    }

    #[test]
    fn symlinks_are_marked() {
        let mut entries = vec![DirEntry {
            is_symlink: true,
            ..file("link", 1, 0)
        }];
        let html = render(
            "/",
            &mut entries,
            &ListingOptions::default(),
            SortKey::Name,
            None,
        );
        assert!(html.contains("<tr class=\"file l\">"));
    }

    #[test]
    fn notice_is_verbatim_above_table() {
        let notice = "<p class=\"notice\">Mirror <b>only</b></p>";
        let html = render(
            "/",
            &mut [],
            &ListingOptions::default(),
            SortKey::Name,
            Some(notice),
        );
        let at = html.find(notice).unwrap();
        assert!(at < html.find("<table>").unwrap());
        assert!(at > html.find("<h1>").unwrap());
    }

    #[test]
    fn sort_keys_from_query() {
        assert_eq!(sort_key_from_query(None), SortKey::Name);
        assert_eq!(sort_key_from_query(Some("")), SortKey::Name);
        assert_eq!(sort_key_from_query(Some("order=size")), SortKey::Size);
        assert_eq!(sort_key_from_query(Some("?order=date")), SortKey::Date);
        assert_eq!(sort_key_from_query(Some("x=1&order=SIZE")), SortKey::Size);
        assert_eq!(sort_key_from_query(Some("order=name")), SortKey::Name);
        assert_eq!(sort_key_from_query(Some("order=bogus")), SortKey::Name);
        assert_eq!(sort_key_from_query(Some("order")), SortKey::Name);
        assert_eq!(sort_key_from_query(Some("reorder=size")), SortKey::Name);
        assert_eq!(
            sort_key_from_query(Some("order=date&order=size")),
            SortKey::Date
        );
    }

    #[test]
    fn default_options() {
        let o = ListingOptions::default();
        assert!(o.size && o.date && !o.user && !o.group);
    }

    mod properties {
        use super::*;
        use percent_encoding::percent_decode_str;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn names_never_break_out(name in "\\PC{1,16}", is_dir in any::<bool>()) {
                prop_assume!(is_listable(&name));
                let mut entries = vec![DirEntry { is_dir, ..file(&name, 1, 0) }];
                let html = render("/", &mut entries, &ListingOptions::default(), SortKey::Name, None);
                let link = html.find("<tr class=").unwrap();
                let row = &html[link..];
                let row = &row[..row.find("</tr>").unwrap()];
                // Exactly the markup we wrote: the escaped name cannot add tags or quotes.
                prop_assert_eq!(row.matches('<').count(), 9);
                let href_start = row.find("href=\"").unwrap() + 6;
                let href = &row[href_start..];
                let href = &href[..href.find('"').unwrap()];
                prop_assert!(href.bytes().all(|b| b.is_ascii_alphanumeric()
                    || b"-._~%/".contains(&b)));
                let expected = if is_dir { format!("{name}/") } else { name.clone() };
                prop_assert_eq!(percent_decode_str(href).decode_utf8().unwrap(), expected);
            }

            #[test]
            fn human_size_never_panics(size in any::<u64>()) {
                let s = human_size(size);
                prop_assert!(!s.is_empty() && s.len() <= 5);
            }

            #[test]
            fn format_date_shape(secs in 0u64..253_402_300_800) {
                let s = format_date(UNIX_EPOCH + Duration::from_secs(secs));
                prop_assert_eq!(s.len(), 16);
                // Agrees with the IMF-fixdate formatter on the day of month and time.
                let imf = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
                prop_assert_eq!(&s[8..10], &imf[5..7]);
                prop_assert_eq!(&s[11..16], &imf[17..22]);
                prop_assert_eq!(&s[0..4], &imf[12..16]);
            }
        }
    }
}
