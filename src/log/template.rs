//! The custom logger's line template: literal text with `${name}` variables.
//!
//! A template is parsed once, when the configuration is loaded; formatting a
//! line walks the pre-parsed pieces and never looks at the source text again.
//! Unknown variables are rejected at parse time so that a typo shows up as a
//! configuration error rather than as odd log lines.
//!
//! Every value that can come from the client is escaped (see
//! [`escape`](super::escape)) because templates usually put such values
//! between quotes. Literal text comes from the administrator and is copied
//! as is. Cherokee's Python-like slicing (`${http_host[-2:]}`) is not
//! supported and is reported as an error.

use std::fmt;
use std::io::Write as _;

use super::escape::{push_escaped, push_or_dash, Quotes};
use super::record::AccessRecord;
use super::timestamp::{push_clf_time, unix_millis, unix_secs};

/// A variable of the custom logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    /// Remote IP address.
    IpRemote,
    /// Local IP address.
    IpLocal,
    /// Local port.
    PortServer,
    /// Protocol version of the request, e.g. `HTTP/1.1`.
    Protocol,
    /// `?` followed by the query string, or nothing without a query.
    QueryString,
    /// Path after rewrites.
    Request,
    /// `METHOD target VERSION`.
    RequestFirstLine,
    /// Path before rewrites.
    RequestOriginal,
    /// Body bytes sent, `-` when unknown.
    ResponseSize,
    /// Status code.
    Status,
    /// Common Log Format time.
    Now,
    /// Seconds since the epoch.
    TimeSecs,
    /// Milliseconds since the epoch.
    TimeMsecs,
    /// `http` or `https`.
    Transport,
    /// Authenticated user, `-` when none.
    UserRemote,
    /// Virtual server nickname.
    VserverName,
    /// `Host:` header, or the vserver nickname without one.
    VserverNameReq,
    /// `Host:` header.
    HttpHost,
    /// `Referer:` header.
    HttpReferrer,
    /// `User-Agent:` header.
    HttpUserAgent,
    /// `Cookie:` header.
    HttpCookie,
}

impl Var {
    /// Looks a variable up by its name in the configuration.
    fn from_name(name: &str) -> Option<Var> {
        Some(match name {
            "ip_remote" => Var::IpRemote,
            "ip_local" => Var::IpLocal,
            "port_server" => Var::PortServer,
            "protocol" => Var::Protocol,
            "query_string" => Var::QueryString,
            "request" => Var::Request,
            "request_first_line" => Var::RequestFirstLine,
            "request_original" => Var::RequestOriginal,
            "response_size" => Var::ResponseSize,
            "status" => Var::Status,
            "now" => Var::Now,
            "time_secs" => Var::TimeSecs,
            "time_msecs" => Var::TimeMsecs,
            "transport" => Var::Transport,
            "user_remote" => Var::UserRemote,
            "vserver_name" => Var::VserverName,
            "vserver_name_req" => Var::VserverNameReq,
            "http_host" => Var::HttpHost,
            // The header is spelled "Referer"; accept both spellings.
            "http_referrer" | "http_referer" => Var::HttpReferrer,
            "http_user_agent" => Var::HttpUserAgent,
            // Cherokee's documentation misspells this one; accept it too.
            "http_cookie" | "http_cokkie" => Var::HttpCookie,
            _ => return None,
        })
    }

    /// Appends this variable's value for `rec` to `out`.
    fn write(self, rec: &AccessRecord<'_>, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail; the results are ignored on purpose.
        match self {
            Var::IpRemote => {
                let _ = write!(out, "{}", rec.remote);
            }
            Var::IpLocal => {
                let _ = write!(out, "{}", rec.local.ip());
            }
            Var::PortServer => {
                let _ = write!(out, "{}", rec.local.port());
            }
            Var::Protocol => push_escaped(out, rec.version, Quotes::Escape),
            Var::QueryString => {
                if let Some(query) = rec.query {
                    out.push(b'?');
                    push_escaped(out, query, Quotes::Escape);
                }
            }
            Var::Request => push_escaped(out, rec.path, Quotes::Escape),
            Var::RequestFirstLine => {
                push_escaped(out, rec.method, Quotes::Escape);
                out.push(b' ');
                push_escaped(out, rec.target, Quotes::Escape);
                out.push(b' ');
                push_escaped(out, rec.version, Quotes::Escape);
            }
            Var::RequestOriginal => push_escaped(out, rec.original_path, Quotes::Escape),
            Var::ResponseSize => match rec.bytes {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.push(b'-'),
            },
            Var::Status => {
                let _ = write!(out, "{}", rec.status);
            }
            Var::Now => push_clf_time(out, rec.time),
            Var::TimeSecs => {
                let _ = write!(out, "{}", unix_secs(rec.time));
            }
            Var::TimeMsecs => {
                let _ = write!(out, "{}", unix_millis(rec.time));
            }
            Var::Transport => {
                out.extend_from_slice(if rec.tls { b"https" } else { b"http" });
            }
            Var::UserRemote => push_or_dash(out, rec.user),
            Var::VserverName => push_escaped(out, rec.vserver, Quotes::Escape),
            Var::VserverNameReq => match rec.host {
                Some(host) if !host.is_empty() => push_escaped(out, host, Quotes::Escape),
                _ => push_escaped(out, rec.vserver, Quotes::Escape),
            },
            Var::HttpHost => push_or_dash(out, rec.host),
            Var::HttpReferrer => push_or_dash(out, rec.referer),
            Var::HttpUserAgent => push_or_dash(out, rec.user_agent),
            Var::HttpCookie => push_or_dash(out, rec.cookie),
        }
    }
}

/// One pre-parsed part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Box<str>),
    Var(Var),
}

/// A parsed custom-logger template such as
/// `${ip_remote} - ${user_remote} [${now}] "${request_first_line}" ${status}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: Box<str>,
    pieces: Vec<Piece>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

impl Template {
    /// Parses a template. `$` not followed by `{` is literal text.
    ///
    /// Errors name the offending variable (unknown name, slicing) or point
    /// out an unterminated `${`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "unterminated '${{' in log template (at \"{}\")",
                    &rest[start..]
                ));
            };
            let name = after[..end].trim();
            let var = match Var::from_name(name) {
                Some(var) => var,
                None if name.contains('[') => {
                    return Err(format!(
                        "slicing is not supported in log templates: ${{{name}}}"
                    ));
                }
                None => return Err(format!("unknown log template variable ${{{name}}}")),
            };
            if !literal.is_empty() {
                pieces.push(Piece::Literal(
                    std::mem::take(&mut literal).into_boxed_str(),
                ));
            }
            pieces.push(Piece::Var(var));
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal.into_boxed_str()));
        }
        Ok(Template {
            source: text.into(),
            pieces,
        })
    }

    /// The text this template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Appends the expanded template for `rec` to `out` (without a newline).
    pub fn write(&self, rec: &AccessRecord<'_>, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Piece::Var(var) => var.write(rec, out),
            }
        }
    }
}

impl std::str::FromStr for Template {
    type Err = String;
    fn from_str(s: &str) -> Result<Template, String> {
        Template::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::tests::sample_record;

    fn render(template: &str, rec: &AccessRecord<'_>) -> String {
        let t = match Template::parse(template) {
            Ok(t) => t,
            Err(e) => panic!("parse failed: {e}"),
        };
        let mut out = Vec::new();
        t.write(rec, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn documentation_example() {
        let rec = sample_record();
        assert_eq!(
            render("[${now}] ${ip_remote}: ${request} (${status})", &rec),
            "[11/Aug/2008:16:17:58 +0000] 203.0.113.9: /index.html (200)"
        );
    }

    #[test]
    fn every_variable() {
        let rec = sample_record();
        let all = "${ip_remote}|${ip_local}|${port_server}|${protocol}|${query_string}|\
                   ${request}|${request_first_line}|${request_original}|${response_size}|\
                   ${status}|${now}|${time_secs}|${time_msecs}|${transport}|${user_remote}|\
                   ${vserver_name}|${vserver_name_req}|${http_host}|${http_referrer}|\
                   ${http_user_agent}|${http_cookie}";
        assert_eq!(
            render(all, &rec),
            "203.0.113.9|192.0.2.1|8443|HTTP/1.1|?lang=en|/index.html|\
             GET /home?lang=en HTTP/1.1|/home|2633|200|11/Aug/2008:16:17:58 +0000|\
             1218471478|1218471478250|https|alice|default|example.com|example.com|\
             http://example.com/start|Mozilla/5.0 (X11)|sid=1"
        );
    }

    #[test]
    fn missing_values() {
        let mut rec = sample_record();
        rec.query = None;
        rec.bytes = None;
        rec.user = None;
        rec.host = None;
        rec.referer = None;
        rec.user_agent = None;
        rec.cookie = None;
        rec.tls = false;
        assert_eq!(
            render(
                "q=${query_string}|${response_size}|${user_remote}|${vserver_name_req}|\
                 ${http_host}|${http_referrer}|${http_user_agent}|${http_cookie}|${transport}",
                &rec
            ),
            "q=|-|-|default|-|-|-|-|http"
        );
    }

    #[test]
    fn hostile_values_are_escaped() {
        let mut rec = sample_record();
        rec.user_agent = Some("x\"\n203.0.113.66 - - [forged");
        assert_eq!(
            render("\"${http_user_agent}\"", &rec),
            "\"x\\\"\\x0a203.0.113.66 - - [forged\""
        );
    }

    #[test]
    fn literal_text_and_dollars() {
        let rec = sample_record();
        assert_eq!(render("cost $5 ${status}$", &rec), "cost $5 200$");
        assert_eq!(render("", &rec), "");
        assert_eq!(render("${ status }", &rec), "200");
        assert_eq!(
            render("${http_cokkie} ${http_referer}", &rec),
            "sid=1 http://example.com/start"
        );
    }

    #[test]
    fn parse_errors() {
        let err = Template::parse("${ip_remote} ${bogus}")
            .err()
            .unwrap_or_default();
        assert!(err.contains("bogus"), "{err}");
        let err = Template::parse("${http_host[-2:]}")
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("slicing") && err.contains("http_host[-2:]"),
            "{err}"
        );
        let err = Template::parse("abc ${status").err().unwrap_or_default();
        assert!(err.contains("unterminated"), "{err}");
        let err = Template::parse("${}").err().unwrap_or_default();
        assert!(err.contains("unknown"), "{err}");
    }

    #[test]
    fn parse_keeps_source() {
        let t: Result<Template, _> = "[${now}]".parse();
        assert_eq!(t.map(|t| t.source().to_owned()), Ok("[${now}]".to_owned()));
    }
}
