//! Access log line formats: NCSA (Common Log Format), Combined, and Custom.
//!
//! Formatting is pure and cheap: it appends one line (ending in `\n`) to a
//! caller-supplied buffer, never allocates beyond that buffer, never does
//! I/O and never fails. Client-supplied values are escaped (see
//! [`escape`](super::escape)) so that no request can forge a log line.
//! Times are printed in UTC (`+0000`), see [`timestamp`](super::timestamp).

use std::io::Write as _;

use super::escape::{push_escaped, push_or_dash, Quotes};
use super::record::AccessRecord;
use super::template::Template;
use super::timestamp::push_clf_time;

/// The line format of an access log (Cherokee's `vserver!N!logger`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessFormat {
    /// Apache's Combined Log Format: NCSA plus `"referer" "user-agent"`.
    Combined,
    /// NCSA Common Log Format:
    /// `host ident user [date] "METHOD target VERSION" status bytes`.
    Ncsa,
    /// A user supplied template (Cherokee's `custom` logger).
    Custom(Template),
}

impl AccessFormat {
    /// Builds a format from Cherokee's logger name (`combined`, `ncsa`,
    /// `custom`) and, for `custom`, its template text.
    pub fn from_cherokee(name: &str, template: Option<&str>) -> Result<AccessFormat, String> {
        match name {
            "combined" => Ok(AccessFormat::Combined),
            "ncsa" => Ok(AccessFormat::Ncsa),
            "custom" => match template {
                Some(text) => Template::parse(text).map(AccessFormat::Custom),
                None => Err("the custom logger needs a template".to_owned()),
            },
            other => Err(format!("unknown logger '{other}'")),
        }
    }

    /// Appends one log line for `rec`, including the trailing `\n`, to `out`.
    pub fn write(&self, rec: &AccessRecord<'_>, out: &mut Vec<u8>) {
        match self {
            AccessFormat::Ncsa => write_ncsa(rec, out),
            AccessFormat::Combined => {
                write_ncsa(rec, out);
                out.extend_from_slice(b" \"");
                push_or_dash(out, rec.referer);
                out.extend_from_slice(b"\" \"");
                push_or_dash(out, rec.user_agent);
                out.push(b'"');
            }
            AccessFormat::Custom(template) => template.write(rec, out),
        }
        out.push(b'\n');
    }
}

/// NCSA fields, without the trailing newline.
fn write_ncsa(rec: &AccessRecord<'_>, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{} - ", rec.remote);
    push_or_dash(out, rec.user);
    out.extend_from_slice(b" [");
    push_clf_time(out, rec.time);
    out.extend_from_slice(b"] \"");
    push_escaped(out, rec.method, Quotes::Escape);
    out.push(b' ');
    push_escaped(out, rec.target, Quotes::Escape);
    out.push(b' ');
    push_escaped(out, rec.version, Quotes::Escape);
    let _ = write!(out, "\" {} ", rec.status);
    match rec.bytes {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.push(b'-'),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::{Duration, UNIX_EPOCH};

    /// A request at 11/Aug/2008:16:17:58.250 UTC with every field set.
    pub(crate) fn sample_record() -> AccessRecord<'static> {
        AccessRecord {
            remote: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 8443),
            tls: true,
            time: UNIX_EPOCH + Duration::from_millis(1_218_471_478_250),
            method: "GET",
            target: "/home?lang=en",
            version: "HTTP/1.1",
            path: "/index.html",
            original_path: "/home",
            query: Some("lang=en"),
            status: 200,
            bytes: Some(2633),
            user: Some("alice"),
            host: Some("example.com"),
            referer: Some("http://example.com/start"),
            user_agent: Some("Mozilla/5.0 (X11)"),
            cookie: Some("sid=1"),
            vserver: "default",
        }
    }

    fn line(format: &AccessFormat, rec: &AccessRecord<'_>) -> String {
        let mut out = Vec::new();
        format.write(rec, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn ncsa_line() {
        assert_eq!(
            line(&AccessFormat::Ncsa, &sample_record()),
            "203.0.113.9 - alice [11/Aug/2008:16:17:58 +0000] \"GET /home?lang=en HTTP/1.1\" 200 2633\n"
        );
    }

    #[test]
    fn combined_line() {
        assert_eq!(
            line(&AccessFormat::Combined, &sample_record()),
            "203.0.113.9 - alice [11/Aug/2008:16:17:58 +0000] \"GET /home?lang=en HTTP/1.1\" 200 2633 \
             \"http://example.com/start\" \"Mozilla/5.0 (X11)\"\n"
        );
    }

    #[test]
    fn missing_values_are_dashes() {
        let mut rec = sample_record();
        rec.remote = IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1));
        rec.user = None;
        rec.bytes = None;
        rec.referer = None;
        rec.user_agent = Some("");
        rec.status = 304;
        rec.target = "/index.html";
        assert_eq!(
            line(&AccessFormat::Combined, &rec),
            "::ffff:127.0.0.1 - - [11/Aug/2008:16:17:58 +0000] \"GET /index.html HTTP/1.1\" 304 - \"-\" \"-\"\n"
        );
    }

    #[test]
    fn hostile_values_cannot_forge_lines() {
        let mut rec = sample_record();
        rec.user_agent =
            Some("evil\"\n1.2.3.4 - - [01/Jan/2000:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1");
        rec.referer = Some("a\\\"b");
        rec.target = "/x\r\ny\" 200 0";
        rec.user = Some("bob\x1b[2J");
        let text = line(&AccessFormat::Combined, &rec);
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n'));
        assert_eq!(
            text,
            "203.0.113.9 - bob\\x1b[2J [11/Aug/2008:16:17:58 +0000] \"GET /x\\x0d\\x0ay\\\" 200 0 HTTP/1.1\" 200 2633 \
             \"a\\\\\\\"b\" \"evil\\\"\\x0a1.2.3.4 - - [01/Jan/2000:00:00:00 +0000] \\\"GET / HTTP/1.1\\\" 200 1\"\n"
        );
        // Outside escape sequences there are exactly the six delimiting quotes.
        let mut bare_quotes = 0;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => bare_quotes += 1,
                _ => {}
            }
        }
        assert_eq!(bare_quotes, 6);
    }

    #[test]
    fn custom_line() {
        let format = AccessFormat::from_cherokee(
            "custom",
            Some("${ip_remote} ${vserver_name_req} ${user_remote} [${now}] \"${request_first_line}\" ${status} ${response_size}"),
        );
        assert_eq!(
            format.map(|f| line(&f, &sample_record())),
            Ok("203.0.113.9 example.com alice [11/Aug/2008:16:17:58 +0000] \"GET /home?lang=en HTTP/1.1\" 200 2633\n".to_owned())
        );
    }

    #[test]
    fn from_cherokee_names() {
        assert_eq!(
            AccessFormat::from_cherokee("combined", None),
            Ok(AccessFormat::Combined)
        );
        assert_eq!(
            AccessFormat::from_cherokee("ncsa", None),
            Ok(AccessFormat::Ncsa)
        );
        assert!(AccessFormat::from_cherokee("custom", None).is_err());
        assert!(AccessFormat::from_cherokee("custom", Some("${nope}")).is_err());
        assert!(AccessFormat::from_cherokee("w3c", None).is_err());
    }
}
