//! Transforms applied to a response after its handler: the rules' header operations,
//! expiration (`Expires` / `Cache-Control`) and content encoders (gzip, deflate).

use crate::config::{ExpirationTime, HeaderOp};
use crate::http::body;
use crate::http::fields::Fields;
use crate::http::mime::is_compressible;
use crate::http::response::Response;
use crate::rules::Behavior;
use async_compression::tokio::bufread::{DeflateEncoder, GzipEncoder};
use futures_util::TryStreamExt;
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use std::time::{Duration, SystemTime};
use tokio_util::io::{ReaderStream, StreamReader};

/// Bodies smaller than this are not worth compressing.
const MIN_COMPRESS: u64 = 256;

pub fn apply(resp: &mut Response, b: &Behavior<'_>, method: &Method, req_headers: &Fields) {
    expiration(resp, b);
    encode(resp, b, method, req_headers);
    header_ops(resp.headers_mut(), &b.header_ops);
}

/// Operations of every matching rule apply, the lowest priority first, so that a
/// higher-priority rule has the last word on a header. The first `add` of a name replaces
/// what the handler set; further `add`s of the same name append.
fn header_ops(h: &mut Fields, ops: &[&HeaderOp]) {
    let mut added: Vec<&header::HeaderName> = Vec::new();
    for op in ops.iter().rev() {
        match op {
            HeaderOp::Add(name, value) => {
                if added.contains(&name) {
                    h.append(name, value.clone());
                } else {
                    h.insert(name, value.clone());
                    added.push(name);
                }
            }
            HeaderOp::Del(name) => {
                h.remove(name);
                added.retain(|n| *n != name);
            }
        }
    }
}

fn expiration(resp: &mut Response, b: &Behavior<'_>) {
    let Some(exp) = b.expiration else { return };
    let status = resp.status();
    if !(status.is_success() || status.is_redirection()) {
        return;
    }
    let h = resp.headers_mut();
    let expires = match exp.time {
        ExpirationTime::Epoch => Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
        // The largest time a 32-bit time_t holds, as Cherokee uses.
        ExpirationTime::Max => Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2_147_483_647)),
        ExpirationTime::After(d) => Some(SystemTime::now() + d),
        ExpirationTime::None => None,
    };
    if let Some(t) = expires {
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(t)) {
            h.insert(header::EXPIRES, v);
        }
    }
    if let Some(cc) = &exp.cache_control {
        h.insert(header::CACHE_CONTROL, cc.clone());
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Coding {
    Gzip,
    Deflate,
}

fn encode(resp: &mut Response, b: &Behavior<'_>, method: &Method, req: &Fields) {
    let allowed: Vec<Coding> = [
        (b.encoders.gzip, Coding::Gzip),
        (b.encoders.deflate, Coding::Deflate),
    ]
    .into_iter()
    .filter_map(|(p, c)| (p == Some(true)).then_some(c))
    .collect();
    if allowed.is_empty() || resp.status() != StatusCode::OK {
        return;
    }
    let h = resp.headers();
    if h.contains_key(header::CONTENT_ENCODING) || h.contains_key(header::CONTENT_RANGE) {
        return;
    }
    let compressible = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_compressible);
    if !compressible {
        return;
    }
    // The length a HEAD answer declares, else the size of the body (handlers leave the
    // field to the connection layer when they make the body).
    let length = match h.get(header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()),
        None if *method == Method::HEAD => None,
        None => http_body::Body::size_hint(resp.body()).exact(),
    };
    let small = length.is_some_and(|n| n < MIN_COMPRESS);
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if small {
        return;
    }
    let Some(coding) = choose(req, &allowed) else {
        return;
    };
    let h = resp.headers_mut();
    h.remove(header::CONTENT_LENGTH);
    h.remove(header::ACCEPT_RANGES);
    let (name, suffix) = match coding {
        Coding::Gzip => ("gzip", "-gzip"),
        Coding::Deflate => ("deflate", "-deflate"),
    };
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    // A strong validator names one representation: the encoded one gets its own.
    if let Some(etag) = h.get(header::ETAG).and_then(|v| v.to_str().ok()) {
        if let Some(inner) = etag.strip_suffix('"') {
            if let Ok(v) = HeaderValue::from_str(&format!("{inner}{suffix}\"")) {
                h.insert(header::ETAG, v);
            }
        }
    }
    if *method == Method::HEAD {
        return;
    }
    let body = std::mem::replace(resp.body_mut(), body::empty());
    let reader = StreamReader::new(body.into_data_stream().map_ok(|b| b));
    *resp.body_mut() = match coding {
        Coding::Gzip => body::stream(ReaderStream::new(GzipEncoder::new(reader))),
        Coding::Deflate => body::stream(ReaderStream::new(DeflateEncoder::new(reader))),
    };
}

/// The preferred allowed coding the client accepts (q > 0), by `Accept-Encoding`.
fn choose(req: &Fields, allowed: &[Coding]) -> Option<Coding> {
    let mut best: Option<(f32, Coding)> = None;
    for value in req.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            let coding = match name.as_str() {
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                "*" => allowed[0],
                _ => continue,
            };
            if allowed.contains(&coding) && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, coding));
            }
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Fields {
        let mut h = Fields::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn codings_are_chosen_by_preference() {
        let both = [Coding::Gzip, Coding::Deflate];
        assert_eq!(choose(&accept("gzip, deflate"), &both), Some(Coding::Gzip));
        assert_eq!(
            choose(&accept("deflate;q=1, gzip;q=0.5"), &both),
            Some(Coding::Deflate)
        );
        assert_eq!(choose(&accept("gzip;q=0"), &[Coding::Gzip]), None);
        assert_eq!(choose(&accept("br"), &both), None);
        assert_eq!(choose(&Fields::new(), &both), None);
        assert_eq!(
            choose(&accept("*"), &[Coding::Deflate]),
            Some(Coding::Deflate)
        );
    }
}
