//! A request head from the fields of an HTTP/2 header block (RFC 9113 §8.3), checked as
//! §8.1.1 and §8.2 require: a malformed request is a stream error, never a guess.
//!
//! The pipeline takes the same head as from HTTP/1.1: the target is `:path` (origin form)
//! and `:authority` becomes the `Host` field, which is what the pipeline selects a virtual
//! server by (§8.3.1: `:authority` stands for `Host`). Several `cookie` fields, which
//! HTTP/2 lets a client send apart to compress them better, are joined into one (§8.2.3),
//! so rules that match a cookie see it as an HTTP/1.1 request would show it.

use crate::http::fields::Fields;
use crate::http::request::Parts;
use crate::http::target::{Form, Target};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Version};

/// The most fields a request may have (as on HTTP/1.1, `crate::http1::parse::MAX_HEADERS`).
const MAX_FIELDS: usize = crate::http1::parse::MAX_HEADERS;

/// The largest header list the server takes, counted as RFC 9113 §6.5.2 does (each field's
/// name and value plus 32): announced as SETTINGS_MAX_HEADER_LIST_SIZE.
pub const MAX_LIST: usize = crate::http1::parse::MAX_HEAD;

/// What a header block made.
#[derive(Debug)]
pub enum Head {
    Request {
        parts: Parts,
        /// The declared `content-length`, which the DATA received must match (§8.1.1).
        content_length: Option<u64>,
    },
    /// Malformed (§8.1.1): the stream is reset with PROTOCOL_ERROR.
    Malformed,
    /// Larger than the server takes: answered 431.
    TooLarge,
}

/// Collects a header block's fields as the decoder hands them out.
#[derive(Default)]
pub struct Collect {
    method: Option<Method>,
    scheme: bool,
    authority: Option<HeaderValue>,
    path: Option<Bytes>,
    fields: Fields,
    cookie: Option<Vec<u8>>,
    content_length: Option<u64>,
    /// A regular field was seen: a pseudo-header after it is malformed (§8.3).
    regular: bool,
    malformed: bool,
    size: usize,
    count: usize,
}

impl Collect {
    pub fn new() -> Collect {
        Collect {
            fields: Fields::with_capacity(16),
            ..Default::default()
        }
    }

    /// Takes one decoded field.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        self.size += name.len() + value.len() + 32;
        self.count += 1;
        if self.malformed || self.size > MAX_LIST || self.count > MAX_FIELDS {
            // Decoding carries on (the decoder's table must follow the block) but nothing
            // more is kept.
            return;
        }
        if !self.take(name, value) {
            self.malformed = true;
        }
    }

    /// Whether the field is acceptable.
    fn take(&mut self, name: &[u8], value: &[u8]) -> bool {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if self.regular {
                return false;
            }
            return match pseudo {
                b"method" if self.method.is_none() => match Method::from_bytes(value) {
                    Ok(m) => {
                        self.method = Some(m);
                        true
                    }
                    Err(_) => false,
                },
                b"scheme" if !self.scheme => {
                    self.scheme = !value.is_empty();
                    self.scheme
                }
                b"authority" if self.authority.is_none() => match field_value(value) {
                    Some(v) => {
                        self.authority = Some(v);
                        true
                    }
                    None => false,
                },
                b"path" if self.path.is_none() => {
                    self.path = Some(Bytes::copy_from_slice(value));
                    !value.is_empty()
                }
                // Unknown pseudo-headers (`:protocol` of RFC 8441 included, which the
                // server does not announce), response ones, repeats.
                _ => false,
            };
        }
        self.regular = true;
        // Upper case is malformed (§8.2.1); the shared name parse lower-cases the rest.
        if name.iter().any(u8::is_ascii_uppercase) {
            return false;
        }
        let Ok(name) = crate::http1::parse::header_name(name) else {
            return false;
        };
        let Some(value) = field_value(value) else {
            return false;
        };
        match name {
            // Connection-specific fields (§8.2.2).
            header::CONNECTION | header::TRANSFER_ENCODING | header::UPGRADE => false,
            header::TE => {
                if value.as_bytes() != b"trailers" {
                    return false;
                }
                self.fields.append(name, value);
                true
            }
            header::COOKIE => {
                let joined = self.cookie.get_or_insert_with(Vec::new);
                if !joined.is_empty() {
                    joined.extend_from_slice(b"; ");
                }
                joined.extend_from_slice(value.as_bytes());
                true
            }
            header::CONTENT_LENGTH => {
                let Some(n) = std::str::from_utf8(value.as_bytes())
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                else {
                    return false;
                };
                if self.content_length.is_some_and(|had| had != n) {
                    return false;
                }
                self.content_length = Some(n);
                self.fields.append(name, value);
                true
            }
            _ if name.as_str() == "keep-alive" || name.as_str() == "proxy-connection" => false,
            _ => {
                self.fields.append(name, value);
                true
            }
        }
    }

    /// The request, once the whole block was decoded.
    pub fn finish(mut self) -> Head {
        if self.size > MAX_LIST || self.count > MAX_FIELDS {
            return Head::TooLarge;
        }
        if self.malformed {
            return Head::Malformed;
        }
        let Some(method) = self.method else {
            return Head::Malformed;
        };
        let target = if method == Method::CONNECT {
            // Authority only (§8.5): the pipeline answers it as it would on HTTP/1.1.
            if self.scheme || self.path.is_some() {
                return Head::Malformed;
            }
            let Some(authority) = &self.authority else {
                return Head::Malformed;
            };
            match Target::parse(Bytes::copy_from_slice(authority.as_bytes())) {
                Ok(t) if t.form() == Form::Authority => t,
                _ => return Head::Malformed,
            }
        } else {
            let (true, Some(path)) = (self.scheme, self.path.take()) else {
                return Head::Malformed;
            };
            // Origin form, or `*` for OPTIONS (§8.3.1); nothing the URI parser would
            // take as a scheme or an authority.
            let asterisk = &path[..] == b"*" && method == Method::OPTIONS;
            if !(path.starts_with(b"/") || asterisk) {
                return Head::Malformed;
            }
            match Target::parse(path) {
                Ok(t) if matches!(t.form(), Form::Origin | Form::Asterisk) => t,
                _ => return Head::Malformed,
            }
        };
        if let Some(authority) = self.authority {
            // A Host naming something else than :authority is malformed (§8.3.1).
            if let Some(host) = self.fields.get(header::HOST) {
                if host != authority {
                    return Head::Malformed;
                }
            }
            self.fields.insert(header::HOST, authority);
        }
        if let Some(cookie) = self.cookie {
            match HeaderValue::from_bytes(&cookie) {
                Ok(v) => self.fields.append(header::COOKIE, v),
                Err(_) => return Head::Malformed,
            }
        }
        Head::Request {
            parts: Parts {
                method,
                target,
                version: Version::HTTP_2,
                headers: self.fields,
            },
            content_length: self.content_length,
        }
    }
}

/// A field value as §8.2.1 allows it: no NUL, CR or LF anywhere (nor other controls but
/// tab, which `HeaderValue` refuses), no white space at either end.
fn field_value(value: &[u8]) -> Option<HeaderValue> {
    let ends_blank = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if ends_blank(value.first()) || ends_blank(value.last()) {
        return None;
    }
    HeaderValue::from_bytes(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(fields: &[(&str, &str)]) -> Head {
        let mut c = Collect::new();
        for (n, v) in fields {
            c.field(n.as_bytes(), v.as_bytes());
        }
        c.finish()
    }

    const GET: [(&str, &str); 3] = [(":method", "GET"), (":scheme", "https"), (":path", "/a?b")];

    #[test]
    fn a_request_takes_its_host_from_the_authority() {
        let mut fields = GET.to_vec();
        fields.push((":authority", "example.test:8443"));
        fields.push(("accept", "*/*"));
        let Head::Request { parts, .. } = head(&fields) else {
            panic!("not a request");
        };
        assert_eq!(parts.method, Method::GET);
        assert_eq!(parts.target, "/a?b");
        assert_eq!(parts.version, Version::HTTP_2);
        assert_eq!(
            parts.headers.get(header::HOST).unwrap(),
            "example.test:8443"
        );
        assert_eq!(parts.headers.get(header::ACCEPT).unwrap(), "*/*");
    }

    #[test]
    fn cookies_are_joined() {
        let mut fields = GET.to_vec();
        fields.extend([("cookie", "a=1"), ("x-other", "y"), ("cookie", "b=2")]);
        let Head::Request { parts, .. } = head(&fields) else {
            panic!("not a request");
        };
        let cookies: Vec<_> = parts.headers.get_all(header::COOKIE).collect();
        assert_eq!(cookies, ["a=1; b=2"]);
    }

    #[test]
    fn malformed_requests() {
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![(":method", "GET"), (":scheme", "https")],
            vec![(":method", "GET"), (":path", "/")],
            vec![(":scheme", "https"), (":path", "/")],
            vec![(":method", "GET"), (":scheme", "https"), (":path", "")],
            [&GET[..], &[(":method", "GET")]].concat(),
            [&GET[..], &[(":status", "200")]].concat(),
            [&GET[..], &[("Accept", "x")]].concat(),
            [&GET[..], &[("connection", "keep-alive")]].concat(),
            [&GET[..], &[("keep-alive", "1")]].concat(),
            [&GET[..], &[("transfer-encoding", "chunked")]].concat(),
            [&GET[..], &[("te", "gzip")]].concat(),
            [&GET[..], &[("x", " padded")]].concat(),
            [&GET[..], &[("x", "a\r\nb")]].concat(),
            [
                &GET[..],
                &[("content-length", "1"), ("content-length", "2")],
            ]
            .concat(),
            [&GET[..], &[("content-length", "-1")]].concat(),
            [&GET[..], &[(":authority", "a"), ("host", "b")]].concat(),
            vec![
                ("accept", "*/*"),
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
            ],
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "http://a/"),
            ],
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "localhost"),
            ],
            vec![(":method", "GET"), (":scheme", "https"), (":path", "a:80")],
            vec![(":method", "GET"), (":scheme", "https"), (":path", "*")],
            vec![
                (":method", "CONNECT"),
                (":authority", "a:443"),
                (":path", "/"),
            ],
        ];
        for fields in cases {
            assert!(
                matches!(head(&fields), Head::Malformed),
                "accepted {fields:?}"
            );
        }
    }

    #[test]
    fn allowed_odd_forms() {
        let mut fields = GET.to_vec();
        fields.extend([
            ("te", "trailers"),
            ("content-length", "5"),
            ("content-length", "5"),
        ]);
        let Head::Request { content_length, .. } = head(&fields) else {
            panic!("not a request");
        };
        assert_eq!(content_length, Some(5));
        let options = [(":method", "OPTIONS"), (":scheme", "https"), (":path", "*")];
        assert!(matches!(head(&options), Head::Request { .. }));
        let connect = [(":method", "CONNECT"), (":authority", "a.test:443")];
        assert!(matches!(head(&connect), Head::Request { .. }));
    }

    #[test]
    fn too_many_or_too_large() {
        let mut c = Collect::new();
        for (n, v) in GET {
            c.field(n.as_bytes(), v.as_bytes());
        }
        for _ in 0..MAX_FIELDS {
            c.field(b"x-many", b"1");
        }
        assert!(matches!(c.finish(), Head::TooLarge));
        let mut c = Collect::new();
        let big = vec![b'a'; MAX_LIST];
        c.field(b"x-big", &big);
        assert!(matches!(c.finish(), Head::TooLarge));
    }
}
