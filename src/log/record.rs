//! The data a logger may print about one finished request.
//!
//! [`AccessRecord`] only borrows: the server builds it once per request from
//! the request/response it already holds, so logging costs no copies until
//! the line is formatted.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

/// Everything an access logger may print about one finished request.
///
/// Values come straight from the client (`target`, `user_agent`, ...) and are
/// therefore hostile; the formatters escape them, this struct does not.
#[derive(Debug, Clone, Copy)]
pub struct AccessRecord<'a> {
    /// Address of the peer (the client, or the proxy in front of it).
    pub remote: IpAddr,
    /// Local address the connection was accepted on.
    pub local: SocketAddr,
    /// Whether the connection used TLS.
    pub tls: bool,
    /// When the request started.
    pub time: SystemTime,
    /// Request method, e.g. `GET`.
    pub method: &'a str,
    /// Request-target as received, e.g. `/a?b=1`.
    pub target: &'a str,
    /// Protocol version, e.g. `HTTP/1.1`.
    pub version: &'a str,
    /// Path after internal rewrites.
    pub path: &'a str,
    /// Path before any rewrite.
    pub original_path: &'a str,
    /// Query string without the leading `?`.
    pub query: Option<&'a str>,
    /// Response status code.
    pub status: u16,
    /// Body bytes sent; `None` is printed as `-`.
    pub bytes: Option<u64>,
    /// Authenticated user name.
    pub user: Option<&'a str>,
    /// `Host:` request header.
    pub host: Option<&'a str>,
    /// `Referer:` request header.
    pub referer: Option<&'a str>,
    /// `User-Agent:` request header.
    pub user_agent: Option<&'a str>,
    /// `Cookie:` request header.
    pub cookie: Option<&'a str>,
    /// Nickname of the virtual server that served the request.
    pub vserver: &'a str,
}
