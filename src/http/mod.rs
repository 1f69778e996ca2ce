//! Pure HTTP building blocks: byte ranges, preconditions, MIME types and
//! `multipart/byteranges` bodies. Nothing here performs I/O.

pub mod conditional;
pub mod mime;
pub mod multipart;
pub mod range;
