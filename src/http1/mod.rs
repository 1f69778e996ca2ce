//! Baton's own HTTP/1.1 server connection layer.
//!
//! Hand-written, behind the narrow seam DESIGN.md leaves for it (bytes in, `Request`
//! out; `Response` in, bytes out), because the general-purpose layer it replaces (hyper's)
//! has no path for what a static server spends its time on:
//!
//! - file bodies go out with `sendfile(2)` ([`sendfile`]) rather than being read into
//!   user space in chunks on blocking threads and copied again into the socket;
//! - the head and an in-memory body go out in one `writev` ([`write`]);
//! - a connection between requests holds nothing but its socket: no read buffer, no
//!   protocol state on the heap ([`conn`]), so idle keep-alive connections cost little;
//! - a connection costs one task and no look-ahead read before the real parse, and its
//!   socket joins the event loop only when it first has to wait ([`socket`]): one
//!   answered at once and closed is a `recv`, a `writev` and a `close`;
//! - every write of a response is bounded by the write timeout ([`out`]): a client that
//!   takes nothing for `server!timeout` loses its connection, a slow one never does.
//!
//! The byte-level parsing of request heads is `httparse`'s ([`parse`] adds RFC 9112's
//! framing, version and persistence rules on top); chunked request bodies are decoded
//! by [`chunked`]. HTTP/2 is not here: it would sit on the `h2` crate.

pub mod body;
pub mod chunked;
pub mod conn;
pub mod out;
pub mod parse;
pub mod sendfile;
pub mod socket;
pub mod write;
