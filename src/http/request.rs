//! A request head as the connection layer parsed it: method, target, version and header
//! [`Fields`] (Baton's own, as responses', rather than `http::HeaderMap`: a request's
//! fields are set once by the parse and looked up a few times, which a short list does
//! without hashing; see [`super::fields`]).

use super::fields::Fields;
use super::target::Target;
use http::{Method, Version};

#[derive(Debug, Clone)]
pub struct Parts {
    pub method: Method,
    pub target: Target,
    pub version: Version,
    pub headers: Fields,
}
