//! Layout of a `multipart/byteranges` response body (RFC 9110 §14.6).
//!
//! A [`MultipartPlan`] precomputes every byte the server writes around the
//! file data: one header block per part (starting with `CRLF--boundary`,
//! then `Content-Type` and `Content-Range`), and the closing delimiter. The
//! body is: for each part, its header bytes followed by the file bytes of its
//! range; then the trailer. `content_length` is the exact body length, so the
//! response can carry a `Content-Length`.
//!
//! This module must never panic (lengths saturate), never read the file
//! itself, and never let a configured content type inject header lines into
//! a part (control characters are removed).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::range::ByteRange;

/// Precomputed framing of a `multipart/byteranges` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartPlan {
    /// The boundary string (without the leading `--`).
    pub boundary: String,
    /// For each part: the header bytes (`\r\n--boundary\r\n...\r\n\r\n`)
    /// and the range of file bytes that follows them.
    pub parts: Vec<(Bytes, ByteRange)>,
    /// The closing delimiter: `\r\n--boundary--\r\n`.
    pub trailer: Bytes,
    /// Exact length of the whole body.
    pub content_length: u64,
}

/// Counter mixed into every boundary so two plans made in the same
/// nanosecond still differ.
static BOUNDARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh 128-bit random-looking boundary, as 32 hex digits after a
/// prefix. Entropy comes from std's randomly keyed `RandomState` hasher fed
/// with the time, a process-wide counter and a stack address.
fn new_boundary() -> String {
    let counter = BOUNDARY_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let marker = 0u8;
    let address = std::ptr::addr_of!(marker) as usize;

    let mut words = [0u64; 2];
    for (i, word) in words.iter_mut().enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(nanos);
        h.write_u64(counter);
        h.write_usize(address);
        *word = h.finish();
    }
    format!("baton-{:016x}{:016x}", words[0], words[1])
}

/// Drop characters that could break the part header (CR, LF, other
/// controls).
fn sanitise_header_value(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

impl MultipartPlan {
    /// Plan a body with a fresh random boundary for `ranges` of a
    /// representation of `total` bytes. `content_type` is repeated in each
    /// part when given.
    pub fn new(ranges: &[ByteRange], total: u64, content_type: Option<&str>) -> Self {
        Self::with_boundary(new_boundary(), ranges, total, content_type)
    }

    /// Same as [`MultipartPlan::new`] with a chosen boundary (useful for
    /// tests and reproducible output). The boundary must be 1 to 70
    /// characters that are valid in a boundary (RFC 2046); the caller is
    /// responsible for that.
    pub fn with_boundary(
        boundary: String,
        ranges: &[ByteRange],
        total: u64,
        content_type: Option<&str>,
    ) -> Self {
        let type_line = content_type
            .map(sanitise_header_value)
            .filter(|t| !t.is_empty())
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();

        let mut content_length: u64 = 0;
        let parts: Vec<(Bytes, ByteRange)> = ranges
            .iter()
            .map(|r| {
                let header = format!(
                    "\r\n--{boundary}\r\n{type_line}Content-Range: {}\r\n\r\n",
                    r.content_range(total)
                );
                content_length = content_length
                    .saturating_add(header.len() as u64)
                    .saturating_add(r.len());
                (Bytes::from(header), *r)
            })
            .collect();
        let trailer = Bytes::from(format!("\r\n--{boundary}--\r\n"));
        content_length = content_length.saturating_add(trailer.len() as u64);

        MultipartPlan {
            boundary,
            parts,
            trailer,
            content_length,
        }
    }

    /// The response `Content-Type`: `multipart/byteranges; boundary=...`.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    /// Assemble the body the way the server will.
    fn assemble(plan: &MultipartPlan, file: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (header, range) in &plan.parts {
            out.extend_from_slice(header);
            out.extend_from_slice(&file[range.start as usize..=range.end as usize]);
        }
        out.extend_from_slice(&plan.trailer);
        out
    }

    #[test]
    fn exact_layout() {
        let file: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let plan = MultipartPlan::with_boundary(
            "XYZ".into(),
            &[r(0, 1), r(998, 999)],
            1000,
            Some("image/gif"),
        );
        let body = assemble(&plan, &file);
        let mut expected = Vec::new();
        expected.extend_from_slice(
            b"\r\n--XYZ\r\nContent-Type: image/gif\r\nContent-Range: bytes 0-1/1000\r\n\r\n",
        );
        expected.extend_from_slice(&file[0..=1]);
        expected.extend_from_slice(
            b"\r\n--XYZ\r\nContent-Type: image/gif\r\nContent-Range: bytes 998-999/1000\r\n\r\n",
        );
        expected.extend_from_slice(&file[998..=999]);
        expected.extend_from_slice(b"\r\n--XYZ--\r\n");
        assert_eq!(body, expected);
        assert_eq!(plan.content_length, body.len() as u64);
        assert_eq!(plan.content_type(), "multipart/byteranges; boundary=XYZ");
        assert_eq!(plan.boundary, "XYZ");
    }

    #[test]
    fn without_content_type() {
        let plan = MultipartPlan::with_boundary("B".into(), &[r(5, 9)], 10, None);
        assert_eq!(
            &plan.parts[0].0[..],
            b"\r\n--B\r\nContent-Range: bytes 5-9/10\r\n\r\n"
        );
        let plan = MultipartPlan::with_boundary("B".into(), &[r(5, 9)], 10, Some("  "));
        assert_eq!(
            &plan.parts[0].0[..],
            b"\r\n--B\r\nContent-Range: bytes 5-9/10\r\n\r\n"
        );
    }

    #[test]
    fn content_length_is_exact_for_random_plans() {
        let file = vec![7u8; 5000];
        let sets: &[&[ByteRange]] = &[
            &[r(0, 0)],
            &[r(0, 4999)],
            &[r(1, 2), r(10, 20), r(4000, 4999)],
            &[],
        ];
        for ranges in sets {
            let plan = MultipartPlan::new(ranges, 5000, Some("text/plain"));
            assert_eq!(plan.content_length, assemble(&plan, &file).len() as u64);
            assert_eq!(plan.parts.len(), ranges.len());
        }
    }

    #[test]
    fn huge_values_saturate() {
        let plan = MultipartPlan::new(&[r(0, u64::MAX), r(0, u64::MAX)], u64::MAX, None);
        assert_eq!(plan.content_length, u64::MAX);
    }

    #[test]
    fn header_injection_is_prevented() {
        let plan = MultipartPlan::with_boundary(
            "B".into(),
            &[r(0, 0)],
            1,
            Some("text/html\r\nSet-Cookie: x=1"),
        );
        let header = std::str::from_utf8(&plan.parts[0].0).unwrap();
        assert_eq!(header.matches("\r\n").count(), 5);
        assert!(header.contains("Content-Type: text/htmlSet-Cookie: x=1\r\n"));
    }

    #[test]
    fn boundaries_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let b = MultipartPlan::new(&[r(0, 0)], 1, None).boundary;
            assert!(b.len() <= 70);
            assert!(b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
            assert!(seen.insert(b));
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn content_length_is_exact(
                pairs in proptest::collection::vec((0u64..500, 0u64..500), 0..10),
                content_type in proptest::option::of("[ -~\r\n]{0,30}"),
            ) {
                let file = vec![1u8; 500];
                let ranges: Vec<ByteRange> = pairs
                    .iter()
                    .map(|&(a, b)| ByteRange { start: a.min(b), end: a.max(b) })
                    .collect();
                let plan = MultipartPlan::new(&ranges, 500, content_type.as_deref());
                prop_assert_eq!(plan.content_length, assemble(&plan, &file).len() as u64);
                for (header, _) in &plan.parts {
                    let text = std::str::from_utf8(header).unwrap();
                    // Leading CRLF, boundary line, optional type, range, blank line.
                    let lines = text.matches("\r\n").count();
                    prop_assert!(lines == 4 || lines == 5, "{:?}", text);
                }
            }
        }
    }
}
