//! The `redir` handler: rewrite the request with regular expressions, internally (the rules
//! are evaluated again for the new path, in the same virtual server) or externally (a 301
//! the client follows).
//!
//! The rewrites are tried in order against the decoded path followed by `?query` when
//! there is one; the first that matches wins. In the target, `$0`…`$9` are the groups of
//! that match, `^0`…`^9` the groups of a regular-expression host match, and `${host}` the
//! request's host.

use super::{moved_permanently, Ctx, Outcome};
use crate::config::RedirOptions;
use crate::http::path::encode_location;
use http::StatusCode;

pub fn serve(ctx: &Ctx<'_>, opts: &RedirOptions) -> Outcome {
    let subject = match ctx.query {
        Some(q) => format!("{}?{}", ctx.path, q),
        None => ctx.path.to_string(),
    };
    for rw in &opts.rewrites {
        let target = match &rw.regex {
            Some(re) => match re.captures(&subject) {
                Some(caps) => {
                    let groups: Vec<&str> = caps
                        .iter()
                        .map(|m| m.map(|m| m.as_str()).unwrap_or(""))
                        .collect();
                    expand(&rw.substring, &groups, ctx.host_groups, ctx.host)
                }
                None => continue,
            },
            None => expand(
                &rw.substring,
                &[subject.as_str()],
                ctx.host_groups,
                ctx.host,
            ),
        };
        return if rw.external {
            moved_permanently(&encode_location(&target))
        } else {
            internal(ctx, &target)
        };
    }
    match &opts.url {
        Some(url) => {
            let target = expand(url, &[subject.as_str()], ctx.host_groups, ctx.host);
            moved_permanently(&encode_location(&target))
        }
        None => {
            tracing::warn!(path = ctx.path, "no redirection matched the request");
            Outcome::error(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// An internal target: its own query replaces the request's; without one the request's is
/// kept.
fn internal(ctx: &Ctx<'_>, target: &str) -> Outcome {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), ctx.query.map(str::to_string)),
    };
    Outcome::Internal { path, query }
}

/// Expands `$N`, `^N` and `${host}` in a substitution.
pub fn expand(
    template: &str,
    groups: &[&str],
    host_groups: &[String],
    host: Option<&str>,
) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if (c == b'$' || c == b'^') && i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit() {
            let n = (bytes[i + 1] - b'0') as usize;
            if c == b'$' {
                out.push_str(groups.get(n).copied().unwrap_or(""));
            } else {
                out.push_str(host_groups.get(n).map(String::as_str).unwrap_or(""));
            }
            i += 2;
            continue;
        }
        if template[i..].starts_with("${host}") {
            out.push_str(host.unwrap_or(""));
            i += "${host}".len();
            continue;
        }
        // Copy one UTF-8 character.
        let ch_len = template[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&template[i..i + ch_len]);
        i += ch_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions_expand() {
        let hg = vec!["www.example.com".to_string(), "example".to_string()];
        assert_eq!(
            expand(
                "/photo?id=$1&h=${host}&d=^1",
                &["/p/12", "12"],
                &hg,
                Some("example.com")
            ),
            "/photo?id=12&h=example.com&d=example"
        );
        assert_eq!(expand("/a$9b", &["x"], &[], None), "/ab");
        assert_eq!(expand("/ü$", &["x"], &[], None), "/ü$");
    }
}
