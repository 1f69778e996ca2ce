//! Fuzzes the parts of request handling Baton writes itself beyond the HTTP/1 layer
//! (see `http1_head` for that): request targets, path decoding and normalisation, and
//! Range headers.
#![no_main]

use baton::http::target::{Form, Target};
use baton::http::{path, range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A target is taken apart in place: every piece it hands out must lie within it (the
    // accessors trust the offsets), and an origin-form one as `http::Uri` would.
    if let Ok(t) = Target::parse(bytes::Bytes::copy_from_slice(data)) {
        let whole = t.as_str();
        assert!(whole.ends_with(t.path_and_query()));
        if let Some(q) = t.query() {
            assert!(whole.contains(&format!("?{q}")));
        }
        if let Some(h) = t.host() {
            assert!(whole.contains(h));
        }
        if t.form() == Form::Origin {
            let uri = http::Uri::try_from(whole).expect("http::Uri takes it too");
            assert_eq!(t.path(), uri.path());
            assert_eq!(t.query(), uri.query());
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = path::decode_and_normalize(&text) {
        // A normalised path is absolute, has no dot segment and no NUL: it cannot climb.
        assert!(p.starts_with('/'));
        assert!(!p.split('/').any(|s| s == ".." || s == "."));
        assert!(!p.contains('\0'));
        // Normalising again changes nothing.
        assert_eq!(path::normalize(&p).as_deref(), Ok(p.as_str()));
    }
    for len in [0u64, 1, 100, u64::MAX] {
        if let range::RangeRequest::Partial(ranges) = range::parse_range(&text, len) {
            for r in ranges {
                assert!(r.start <= r.end && r.end < len);
            }
        }
    }
});
