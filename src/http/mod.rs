//! HTTP building blocks: request paths, bodies, and the RFC 9110 pieces of static content
//! (ranges, preconditions, MIME types, multipart bodies).

pub mod body;
pub mod conditional;
pub mod fields;
pub mod mime;
pub mod multipart;
pub mod path;
pub mod range;
pub mod request;
pub mod response;
pub mod target;
