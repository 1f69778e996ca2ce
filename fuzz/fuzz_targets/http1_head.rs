//! Fuzzes Baton's HTTP/1 request reading: the head parser (httparse plus the RFC 9112
//! framing, version and limit rules on top) and the chunked body decoder, fed the same
//! bytes whole and split at every point a connection's reads could split them.
#![no_main]

use baton::http1::{chunked, parse};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let before = buf.len();
    if let Ok(Some(head)) = parse::parse(&mut buf) {
        // A parsed head is taken off the buffer, and never more than was there.
        assert!(buf.len() < before);
        // Values are taken without a second validation: each must be one a checked
        // `HeaderValue` accepts.
        for (_, value) in head.parts.headers.iter() {
            assert!(http::HeaderValue::from_bytes(value.as_bytes()).is_ok());
        }
    }

    // The decoder gives the same body whatever the split of its input.
    let whole = chunked::decode_all(data);
    if let Ok(Some((body, used))) = &whole {
        assert!(*used <= data.len());
        assert!(body.len() <= *used);
        let cut = data.len() / 2;
        let mut d = chunked::Decoder::new();
        let mut got = Vec::new();
        for part in [&data[..cut.min(*used)], &data[cut.min(*used)..*used]] {
            let mut at = 0;
            while at < part.len() && !d.is_done() {
                let (n, range) = d.decode(&part[at..]).expect("the whole input decoded");
                if let Some(r) = range {
                    got.extend_from_slice(&part[at + r.start..at + r.end]);
                }
                at += n;
            }
        }
        assert!(d.is_done());
        assert_eq!(&got, body);
    }
});
