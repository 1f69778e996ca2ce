//! HPACK (RFC 7541) for the server: a request decoder and a response encoder.
//!
//! Decoding is written here, Huffman codes aside (httlib-huffman's table-driven decoder).
//! The libraries measured first cost too much on the hot path: loona-hpack builds a
//! hash-map Huffman table again for every coded string (60% of the server's CPU time
//! under h2load), httlib-hpack copies every field into two new vectors and shifts the
//! block after each one. Here an indexed field, what a client's repeated requests are
//! mostly made of, is handed out as a borrowed slice of the table.
//!
//! The encoder indexes what repeats from one response to the next on a connection
//! (`server`, `content-type`, `date` within a second, the `etag` of a file asked again):
//! a response to a repeated request is a dozen octets of header block instead of 160,
//! which the client decodes without a string (h2load spent more CPU per request on
//! Baton's literal fields than on h2o's indexed ones). It only ever indexes fields whose
//! name is in the static table, and remembers, per such name, the last value it added:
//! a lookup is one comparison, not a search of the table. `set-cookie` is never indexed.

use http::header::HeaderName;
use http::StatusCode;
use std::collections::VecDeque;

/// The header table size the server allows the client's encoder (SETTINGS_HEADER_TABLE_SIZE,
/// left at the protocol's default).
pub const TABLE_SIZE: usize = 4096;

/// The static table (RFC 7541 Appendix A), from index 1.
const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// What an entry costs in the dynamic table besides its octets (§4.1).
const ENTRY_OVERHEAD: usize = 32;

/// A dynamic table entry: name and value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// A header block that is not valid HPACK: a connection error (COMPRESSION_ERROR).
#[derive(Debug, PartialEq, Eq)]
pub struct CompressionError;

/// A request decoder: one per connection, as the client's encoder keeps one table for all
/// its requests.
pub struct Decoder {
    /// Newest entry first (index 62).
    table: VecDeque<Entry>,
    size: usize,
    /// The size the client's last update set (at most [`TABLE_SIZE`]).
    max_size: usize,
    /// Huffman-decoded name and value of the field in hand.
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
    recent: Recent,
}

/// The last Huffman texts decoded, with their decodings. A client's encoder may leave
/// some fields out of its table and send them coded with every request (nghttp2 does so
/// with `:path`): the same octets decode the same way, and comparing them costs a tenth of
/// decoding them again.
#[derive(Default)]
struct Recent {
    entries: [(Vec<u8>, Vec<u8>); RECENT],
    next: usize,
}

const RECENT: usize = 4;

/// Texts longer than this are decoded every time rather than remembered.
const RECENT_MAX_LEN: usize = 256;

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: TABLE_SIZE,
            name_buf: Vec::new(),
            value_buf: Vec::new(),
            recent: Recent::default(),
        }
    }

    /// Decodes one complete header block, handing each field to `field` in order.
    pub fn decode(
        &mut self,
        mut block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), CompressionError> {
        // Size updates come first in a block, nowhere else (§4.2).
        let mut updates_allowed = true;
        while let Some(&first) = block.first() {
            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let index = integer(&mut block, 7)?;
                let (name, value) = self.entry(index)?;
                field(name, value);
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                if !updates_allowed {
                    return Err(CompressionError);
                }
                let size = integer(&mut block, 5)?;
                if size > TABLE_SIZE {
                    return Err(CompressionError);
                }
                self.max_size = size;
                self.evict(0);
                continue;
            } else {
                // A literal: with incremental indexing (01, §6.2.1), without indexing
                // (0000, §6.2.2) or never indexed (0001, §6.2.3).
                let indexing = first & 0x40 != 0;
                let index = integer(&mut block, if indexing { 6 } else { 4 })?;
                let name_huffman = match index {
                    0 => Some(string(&mut block, &mut self.name_buf, &mut self.recent)?),
                    _ => None,
                };
                let value = string(&mut block, &mut self.value_buf, &mut self.recent)?;
                let (name, value): (&[u8], &[u8]) = {
                    let name: &[u8] = match name_huffman {
                        Some(Text::Raw(r)) => r,
                        Some(Text::Decoded) => &self.name_buf,
                        None => self.entry(index)?.0,
                    };
                    let value: &[u8] = match value {
                        Text::Raw(r) => r,
                        Text::Decoded => &self.value_buf,
                    };
                    (name, value)
                };
                field(name, value);
                if indexing {
                    let entry = (Box::<[u8]>::from(name), Box::<[u8]>::from(value));
                    self.insert(entry);
                }
            }
            updates_allowed = false;
        }
        Ok(())
    }

    /// The field at `index` of the static then dynamic table.
    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), CompressionError> {
        match index {
            0 => Err(CompressionError),
            1..=61 => Ok(STATIC[index - 1]),
            _ => self
                .table
                .get(index - 62)
                .map(|(n, v)| (&n[..], &v[..]))
                .ok_or(CompressionError),
        }
    }

    fn insert(&mut self, entry: Entry) {
        let size = entry.0.len() + entry.1.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            // Larger than the table: it empties it and is not added (§4.4).
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.size += size;
        self.table.push_front(entry);
    }

    /// Drops the oldest entries until `room` more octets fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + ENTRY_OVERHEAD,
                None => break,
            }
        }
    }
}

/// A string literal: the octets of the block, or Huffman-decoded into a buffer.
enum Text<'a> {
    Raw(&'a [u8]),
    Decoded,
}

/// Reads a string literal (§5.2) off the front of `block`.
fn string<'a>(
    block: &mut &'a [u8],
    decoded: &mut Vec<u8>,
    recent: &mut Recent,
) -> Result<Text<'a>, CompressionError> {
    let coded = block.first().ok_or(CompressionError)? & 0x80 != 0;
    let len = integer(block, 7)?;
    if block.len() < len {
        return Err(CompressionError);
    }
    let (text, rest) = block.split_at(len);
    *block = rest;
    if !coded {
        return Ok(Text::Raw(text));
    }
    decoded.clear();
    if let Some((_, known)) = recent.entries.iter().find(|(coded, _)| coded == text) {
        decoded.extend_from_slice(known);
        return Ok(Text::Decoded);
    }
    huffman(text, decoded)?;
    if text.len() <= RECENT_MAX_LEN {
        let slot = &mut recent.entries[recent.next];
        recent.next = (recent.next + 1) % RECENT;
        slot.0.clear();
        slot.0.extend_from_slice(text);
        slot.1.clear();
        slot.1.extend_from_slice(decoded);
    }
    Ok(Text::Decoded)
}

/// Decodes Huffman-coded `text` into `decoded`.
///
/// httlib-huffman's decoder takes some padding that is not the EOS code's leading ones,
/// which RFC 7541 §5.2 calls a decoding error (it reads one zero octet as "0"). Coding
/// is deterministic, so the check is exact: valid text is what its decoding encodes to.
fn huffman(text: &[u8], decoded: &mut Vec<u8>) -> Result<(), CompressionError> {
    decoded.clear();
    httlib_huffman::decode(text, decoded, httlib_huffman::DecoderSpeed::FiveBits)
        .map_err(|_| CompressionError)?;
    CHECK.with_borrow_mut(|again| {
        again.clear();
        httlib_huffman::encode(decoded, again).map_err(|_| CompressionError)?;
        if again[..] == *text {
            Ok(())
        } else {
            Err(CompressionError)
        }
    })
}

thread_local! {
    /// The re-encoding of the last Huffman text checked.
    static CHECK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads an integer with a `prefix`-bit prefix (§5.1) off the front of `block`. Values
/// beyond what any field or table of the server could need (2^28) are refused.
fn integer(block: &mut &[u8], prefix: u8) -> Result<usize, CompressionError> {
    let (&first, mut rest) = block.split_first().ok_or(CompressionError)?;
    let max = (1usize << prefix) - 1;
    let mut value = usize::from(first) & max;
    if value == max {
        let mut shift = 0;
        loop {
            let (&b, r) = rest.split_first().ok_or(CompressionError)?;
            rest = r;
            value += usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
            if shift > 21 {
                return Err(CompressionError);
            }
        }
    }
    *block = rest;
    Ok(value)
}

/// The largest dynamic table the encoder uses, whatever the client allows.
const ENCODER_TABLE: usize = 4096;

/// A response encoder: one per connection, used in the order header blocks are written.
pub struct Encoder {
    /// The sizes of the entries in the client's table, newest first (what eviction needs;
    /// the values are in `last`).
    table: VecDeque<usize>,
    size: usize,
    max_size: usize,
    /// A size change to announce at the start of the next block: the smallest size
    /// since the last block (§4.2 wants it when the size went down and back up).
    pending: Option<usize>,
    /// Per static-table name index: the last value added for that name and its insertion
    /// number.
    last: Vec<Option<(Box<[u8]>, u64)>>,
    /// Entries added so far.
    inserted: u64,
    date: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder {
            table: VecDeque::new(),
            size: 0,
            max_size: TABLE_SIZE.min(ENCODER_TABLE),
            pending: None,
            last: vec![None; STATIC.len() + 1],
            inserted: 0,
            date: Vec::with_capacity(32),
        }
    }

    /// The client's SETTINGS_HEADER_TABLE_SIZE.
    pub fn peer_table_size(&mut self, size: usize) {
        let size = size.min(ENCODER_TABLE);
        if size == self.max_size {
            return;
        }
        self.max_size = size;
        self.pending = Some(self.pending.map_or(size, |p| p.min(size)));
        self.evict(0);
    }

    /// Starts a header block with the `:status` field (and any table size change).
    pub fn start(&mut self, out: &mut Vec<u8>, status: StatusCode) {
        if let Some(smallest) = self.pending.take() {
            if smallest < self.max_size {
                put_int(out, 5, 0x20, smallest);
            }
            put_int(out, 5, 0x20, self.max_size);
        }
        put_status(out, status);
    }

    /// Appends a field: indexed if the table has it, added to the table if it may
    /// repeat, a literal otherwise.
    pub fn field(&mut self, out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
        let Some(index) = static_name(name.as_str()) else {
            put_field(out, name, value);
            return;
        };
        self.indexed_name(out, index, value);
    }

    /// Appends a `date` field of the current time.
    pub fn date(&mut self, out: &mut Vec<u8>) {
        let mut date = std::mem::take(&mut self.date);
        date.clear();
        crate::clock::push_http_date(&mut date, crate::clock::coarse_unix_secs());
        self.indexed_name(out, DATE, &date);
        self.date = date;
    }

    fn indexed_name(&mut self, out: &mut Vec<u8>, index: usize, value: &[u8]) {
        if let Some((last, seq)) = &self.last[index] {
            // Entries leave oldest first: the one added `age` insertions ago is still
            // there while the table holds more than `age` entries.
            let age = self.inserted - seq - 1;
            if (age as usize) < self.table.len() && **last == *value {
                put_int(out, 7, 0x80, STATIC.len() + 1 + age as usize);
                return;
            }
        }
        let size = STATIC[index - 1].0.len() + value.len() + ENTRY_OVERHEAD;
        if index == SET_COOKIE || size > self.max_size / 2 {
            put_int(out, 4, 0x00, index);
            put_string(out, value);
            return;
        }
        put_int(out, 6, 0x40, index);
        put_string(out, value);
        self.evict(size);
        self.table.push_front(size);
        self.size += size;
        self.last[index] = Some((value.into(), self.inserted));
        self.inserted += 1;
    }

    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            match self.table.pop_back() {
                Some(n) => self.size -= n,
                None => break,
            }
        }
    }
}

/// Static table indexes the encoder treats apart.
const DATE: usize = 33;
const SET_COOKIE: usize = 55;

/// Appends the `:status` field.
fn put_status(out: &mut Vec<u8>, status: StatusCode) {
    let indexed = match status.as_u16() {
        200 => 8,
        204 => 9,
        206 => 10,
        304 => 11,
        400 => 12,
        404 => 13,
        500 => 14,
        _ => 0,
    };
    if indexed != 0 {
        put_int(out, 7, 0x80, indexed);
    } else {
        // Literal without indexing, name `:status` (index 8).
        put_int(out, 4, 0x00, 8);
        put_string(out, status.as_str().as_bytes());
    }
}

/// Appends a field as a literal without indexing.
fn put_field(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    match static_name(name.as_str()) {
        Some(index) => put_int(out, 4, 0x00, index),
        None => {
            out.push(0x00);
            put_string(out, name.as_str().as_bytes());
        }
    }
    put_string(out, value);
}

/// A string literal without Huffman coding.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_int(out, 7, 0x00, s.len());
    out.extend_from_slice(s);
}

/// An integer with an `prefix`-bit prefix in a first octet whose high bits are `flags`
/// (RFC 7541 §5.1).
fn put_int(out: &mut Vec<u8>, prefix: u8, flags: u8, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// The index of a field name in the static table (RFC 7541 Appendix A): the first entry
/// with that name. Dispatched on the length first: a plain `match` on the name compares
/// it with each of the 47 in turn (callgrind: 160 instructions a field, a response's
/// most expensive part after its body).
fn static_name(name: &str) -> Option<usize> {
    let index = match name.len() {
        3 => match name {
            "age" => 21,
            "via" => 60,
            _ => return None,
        },
        4 => match name {
            "date" => 33,
            "etag" => 34,
            "from" => 37,
            "host" => 38,
            "link" => 45,
            "vary" => 59,
            _ => return None,
        },
        5 => match name {
            "allow" => 22,
            "range" => 50,
            _ => return None,
        },
        6 => match name {
            "accept" => 19,
            "cookie" => 32,
            "expect" => 35,
            "server" => 54,
            _ => return None,
        },
        7 => match name {
            "expires" => 36,
            "referer" => 51,
            "refresh" => 52,
            _ => return None,
        },
        8 => match name {
            "if-match" => 39,
            "if-range" => 42,
            "location" => 46,
            _ => return None,
        },
        10 => match name {
            "set-cookie" => 55,
            "user-agent" => 58,
            _ => return None,
        },
        11 if name == "retry-after" => 53,
        12 => match name {
            "content-type" => 31,
            "max-forwards" => 47,
            _ => return None,
        },
        13 => match name {
            "accept-ranges" => 18,
            "authorization" => 23,
            "cache-control" => 24,
            "content-range" => 30,
            "if-none-match" => 41,
            "last-modified" => 44,
            _ => return None,
        },
        14 => match name {
            "accept-charset" => 15,
            "content-length" => 28,
            _ => return None,
        },
        15 => match name {
            "accept-encoding" => 16,
            "accept-language" => 17,
            _ => return None,
        },
        16 => match name {
            "content-encoding" => 26,
            "content-language" => 27,
            "content-location" => 29,
            "www-authenticate" => 61,
            _ => return None,
        },
        17 => match name {
            "if-modified-since" => 40,
            "transfer-encoding" => 57,
            _ => return None,
        },
        18 if name == "proxy-authenticate" => 48,
        19 => match name {
            "content-disposition" => 25,
            "if-unmodified-since" => 43,
            "proxy-authorization" => 49,
            _ => return None,
        },
        25 if name == "strict-transport-security" => 56,
        27 if name == "access-control-allow-origin" => 20,
        _ => return None,
    };
    Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        Decoder::new()
            .decode(block, |n, v| {
                fields.push((
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                ))
            })
            .expect("valid block");
        fields
    }

    #[test]
    fn every_static_name_decodes_to_itself() {
        // The decoder has its own copy of the static table: each index must name the
        // field it is used for.
        let names = [
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "accept",
            "access-control-allow-origin",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "content-disposition",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-range",
            "content-type",
            "cookie",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "link",
            "location",
            "max-forwards",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "refresh",
            "retry-after",
            "server",
            "set-cookie",
            "strict-transport-security",
            "transfer-encoding",
            "user-agent",
            "vary",
            "via",
            "www-authenticate",
            "x-custom",
        ];
        let mut block = Vec::new();
        for name in names {
            put_field(&mut block, &HeaderName::from_static(name), b"v");
        }
        let decoded = decode(&block);
        let got: Vec<&str> = decoded.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(got, names);
        assert!(decoded.iter().all(|(_, v)| v == "v"));
    }

    #[test]
    fn statuses_indexed_or_literal() {
        let mut block = Vec::new();
        for code in [200, 204, 206, 304, 400, 404, 500, 301, 503] {
            put_status(&mut block, StatusCode::from_u16(code).unwrap());
        }
        let got: Vec<String> = decode(&block).into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            got,
            ["200", "204", "206", "304", "400", "404", "500", "301", "503"]
        );
        assert_eq!(block[0], 0x88);
    }

    #[test]
    fn the_date_is_an_http_date() {
        let mut block = Vec::new();
        Encoder::new().date(&mut block);
        let decoded = decode(&block);
        assert_eq!(decoded[0].0, "date");
        assert!(httpdate::parse_http_date(&decoded[0].1).is_ok());
    }

    /// Decodes blocks in turn with one decoder, as a client does.
    fn decode_all(blocks: &[Vec<u8>]) -> Vec<Vec<(String, String)>> {
        let mut d = Decoder::new();
        blocks
            .iter()
            .map(|b| {
                let mut fields = Vec::new();
                d.decode(b, |n, v| {
                    fields.push((
                        String::from_utf8_lossy(n).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    ))
                })
                .expect("valid block");
                fields
            })
            .collect()
    }

    #[test]
    fn repeated_fields_are_indexed() {
        let mut e = Encoder::new();
        let ct = HeaderName::from_static("content-type");
        let server = HeaderName::from_static("server");
        let cookie = HeaderName::from_static("set-cookie");
        let custom = HeaderName::from_static("x-custom");
        let mut blocks = Vec::new();
        for (i, kind) in ["text/html", "text/html", "image/png", "text/html"]
            .iter()
            .enumerate()
        {
            let mut b = Vec::new();
            e.start(&mut b, StatusCode::OK);
            e.field(&mut b, &server, b"Baton");
            e.field(&mut b, &ct, kind.as_bytes());
            e.field(&mut b, &cookie, b"a=1");
            e.field(&mut b, &custom, format!("{i}").as_bytes());
            blocks.push(b);
        }
        // The second block: status, server and content-type one octet each.
        assert_eq!(&blocks[1][..3], &[0x88, 0xbf, 0xbe]);
        let decoded = decode_all(&blocks);
        for (i, kind) in ["text/html", "text/html", "image/png", "text/html"]
            .iter()
            .enumerate()
        {
            let want = [
                (":status", "200"),
                ("server", "Baton"),
                ("content-type", kind),
                ("set-cookie", "a=1"),
                ("x-custom", &format!("{i}")),
            ];
            let got: Vec<(&str, &str)> = decoded[i]
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_smaller_client_table_is_announced_and_respected() {
        let mut e = Encoder::new();
        let server = HeaderName::from_static("server");
        let mut blocks = vec![Vec::new(), Vec::new(), Vec::new()];
        e.start(&mut blocks[0], StatusCode::OK);
        e.field(&mut blocks[0], &server, b"Baton");
        e.peer_table_size(0);
        e.peer_table_size(100);
        e.start(&mut blocks[1], StatusCode::OK);
        e.field(&mut blocks[1], &server, b"Baton");
        // Down to 0 and back to 100 since the last block: both announced (§4.2).
        assert_eq!(&blocks[1][..3], &[0x20, 0x3f, 0x45]);
        e.peer_table_size(0);
        e.start(&mut blocks[2], StatusCode::OK);
        e.field(&mut blocks[2], &server, b"Baton");
        let decoded = decode_all(&blocks);
        assert!(decoded
            .iter()
            .all(|b| b[1] == ("server".into(), "Baton".into())));
        // With no table, nothing is indexed.
        assert_eq!(blocks[2][2], 0x0f);
    }

    #[test]
    fn long_values_take_a_multi_octet_length() {
        let value = vec![b'x'; 300];
        let mut block = Vec::new();
        put_field(&mut block, &HeaderName::from_static("location"), &value);
        let decoded = decode(&block);
        assert_eq!(decoded[0].1.len(), 300);
    }

    #[test]
    fn a_bad_block_is_a_compression_error() {
        let bad: [&[u8]; 9] = [
            // Index 0; index 200, past both tables.
            &[0x80],
            &[0xff, 0x49],
            // A literal cut short; an integer running on.
            &[0x04, 0x05, b'a'],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            // A size update above the allowed size; one after a field.
            &[0x3f, 0xe2, 0x1f],
            &[0x82, 0x20],
            // Huffman padding that is not all ones (a lone zero octet), longer than 7
            // bits ("a" then a whole octet of ones), or the EOS code itself.
            &[0x04, 0x81, 0x00],
            &[0x04, 0x82, 0x1f, 0xff],
            &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff],
        ];
        for block in bad {
            assert_eq!(
                Decoder::new().decode(block, |_, _| {}),
                Err(CompressionError),
                "{block:?}"
            );
        }
    }

    /// RFC 7541 Appendix C.4: three requests with Huffman coding, sharing the table.
    #[test]
    fn the_rfc_examples_decode() {
        let hex = |s: &str| -> Vec<u8> {
            let s: String = s.split_whitespace().collect();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let mut d = Decoder::new();
        let mut run = |block: &str| {
            let mut got = Vec::new();
            d.decode(&hex(block), |n, v| {
                got.push(format!(
                    "{}: {}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                ))
            })
            .unwrap();
            got
        };
        assert_eq!(
            run("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
            [
                ":method: GET",
                ":scheme: http",
                ":path: /",
                ":authority: www.example.com"
            ]
        );
        assert_eq!(
            run("8286 84be 5886 a8eb 1064 9cbf"),
            [
                ":method: GET",
                ":scheme: http",
                ":path: /",
                ":authority: www.example.com",
                "cache-control: no-cache"
            ]
        );
        assert_eq!(
            run("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
            [
                ":method: GET",
                ":scheme: https",
                ":path: /index.html",
                ":authority: www.example.com",
                "custom-key: custom-value"
            ]
        );
        assert_eq!(d.table.len(), 3);
        assert_eq!(d.size, 164);
    }

    #[test]
    fn a_coded_text_seen_again_decodes_the_same() {
        let mut d = Decoder::new();
        let mut block = Vec::new();
        for path in ["/a.html", "/b.html", "/a.html", "/c", "/d", "/e", "/a.html"] {
            let mut coded = Vec::new();
            httlib_huffman::encode(path.as_bytes(), &mut coded).unwrap();
            // `:path` without indexing, its value Huffman-coded.
            block.clear();
            block.push(0x04);
            put_int(&mut block, 7, 0x80, coded.len());
            block.extend_from_slice(&coded);
            let mut got = Vec::new();
            d.decode(&block, |_, v| got.extend_from_slice(v)).unwrap();
            assert_eq!(got, path.as_bytes());
        }
    }

    #[test]
    fn entries_are_evicted_oldest_first() {
        let mut d = Decoder::new();
        // A size update to 100 octets, then two literals with indexing of 32 + 30 each.
        let mut block = vec![0x3f, 0x45];
        for name in [b"aaaaaaaaaaaaaaaaaaaa", b"bbbbbbbbbbbbbbbbbbbb"] {
            block.extend_from_slice(&[0x40, 20]);
            block.extend_from_slice(name);
            block.extend_from_slice(&[10]);
            block.extend_from_slice(b"0123456789");
        }
        d.decode(&block, |_, _| {}).unwrap();
        assert_eq!(d.table.len(), 1);
        assert_eq!(&d.entry(62).unwrap().0[..1], b"b");
        assert!(d.entry(63).is_err());
    }
}
