//! `vserver!N!…` keys: virtual servers, how they match hosts, their error handler, logger
//! and rules.

use super::reader::Reader;
use super::rule::{self, Rule};
use super::server::ServerSettings;
use baton_conf::Node;
use ipnet::IpNet;
use regex::Regex;
use std::collections::HashMap;
use std::path::PathBuf;

/// One virtual server, with everything compiled.
#[derive(Debug)]
pub struct VServer {
    /// N in `vserver!N`: the priority (larger is evaluated first).
    pub id: u64,
    pub nick: String,
    pub document_root: Option<PathBuf>,
    /// Host matchers, evaluated as a logical OR.
    pub hosts: Vec<HostMatcher>,
    /// Whether the nickname is also tried as a host name (second pass of the selection).
    pub match_nick: bool,
    pub directory_index: Vec<IndexEntry>,
    pub keepalive: bool,
    pub error_handler: Option<ErrorHandler>,
    pub access_log: Option<AccessLogConfig>,
    pub error_log: Option<LogTarget>,
    /// Behavior rules, highest priority first.
    pub rules: Vec<Rule>,
    /// Requests this virtual server lets pass to lower-priority ones even when their host
    /// matches (`match!exclude!…`; Baton extension, used for staff in maintenance mode).
    pub exclude: Exclude,
    /// `maintenance_of = NICK`: this virtual server is the maintenance copycat of `NICK`,
    /// created by `baton maintenance on` (Baton extension; informational for the server).
    pub maintenance_of: Option<String>,
    /// The certificate TLS handshakes for this virtual server's names present
    /// (`ssl_certificate_file`, `ssl_certificate_key_file`).
    pub tls: Option<super::tls::Identity>,
    /// HTTP Strict Transport Security (`hsts = 1`): plain requests are redirected to
    /// HTTPS, answers on TLS carry `Strict-Transport-Security`.
    pub hsts: Option<Hsts>,
}

/// `vserver!N!hsts!max_age` (seconds, default one year) and `vserver!N!hsts!subdomains`
/// (default on: the policy covers the names below the host too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hsts {
    pub max_age: u64,
    pub subdomains: bool,
    /// The `Strict-Transport-Security` field value (RFC 6797 §6.1), made once.
    pub field: http::HeaderValue,
}

impl Hsts {
    pub fn new(max_age: u64, subdomains: bool) -> Hsts {
        let mut v = format!("max-age={max_age}");
        if subdomains {
            v.push_str("; includeSubDomains");
        }
        Hsts {
            max_age,
            subdomains,
            field: http::HeaderValue::from_str(&v).expect("digits and letters"),
        }
    }
}

/// `vserver!N!match!exclude!from = CIDR,…` and `vserver!N!match!exclude!cookie =
/// NAME=VALUE,…`: a request from one of these networks, or carrying one of these cookies,
/// is not taken by this virtual server even if its host matches; selection goes on with
/// the lower-priority ones.
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    pub from: Vec<IpNet>,
    /// (name, value) pairs, compared exactly.
    pub cookies: Vec<(String, String)>,
}

impl Exclude {
    pub fn is_empty(&self) -> bool {
        self.from.is_empty() && self.cookies.is_empty()
    }

    /// Whether a request from `remote` with these `Cookie` header values is excluded.
    pub fn excludes<'a>(
        &self,
        remote: std::net::IpAddr,
        cookie_headers: impl Iterator<Item = &'a [u8]>,
    ) -> bool {
        if self.from.iter().any(|n| n.contains(&remote)) {
            return true;
        }
        if self.cookies.is_empty() {
            return false;
        }
        for header in cookie_headers {
            let Ok(text) = std::str::from_utf8(header) else {
                continue;
            };
            for pair in text.split(';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let (name, value) = (name.trim(), value.trim().trim_matches('"'));
                if self
                    .cookies
                    .iter()
                    .any(|(n, v)| n.as_str() == name && v.as_str() == value)
                {
                    return true;
                }
            }
        }
        false
    }
}

/// How a virtual server recognises a request's host.
#[derive(Debug, Clone)]
pub enum HostMatcher {
    /// A plain name, compared case-insensitively (stored lowercase).
    Exact(String),
    /// A name with `*` or `?`, anchored and case-insensitive.
    Wildcard { pattern: String, regex: Regex },
    /// A regular expression over the host (as sent, without the port).
    Regex(Regex),
    /// The local address the connection arrived on (Cherokee's `target_ip`).
    TargetIp(IpNet),
}

/// An entry of `directory_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexEntry {
    /// A file name looked up in the requested directory.
    File(String),
    /// A URL of the same virtual server (entry starting with `/`), used when it exists as a
    /// request, going through the rules again.
    Url(String),
}

/// The virtual server's error handler (`vserver!N!error_handler`).
#[derive(Debug, Clone)]
pub enum ErrorHandler {
    /// `error_redir`: per status code (and a default), a URL to show instead.
    Redirect {
        by_status: HashMap<u16, ErrorTarget>,
        default: Option<ErrorTarget>,
    },
    /// `error_nn`: a 404 is answered with the closest existing name in the same directory.
    ClosestMatch,
}

#[derive(Debug, Clone)]
pub struct ErrorTarget {
    pub url: String,
    /// `show = 1`: an external redirection the client sees; otherwise the URL's content is
    /// served in place, with the error status.
    pub external: bool,
}

#[derive(Debug, Clone)]
pub enum LogFormatConfig {
    Combined,
    Ncsa,
    Custom(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogTarget {
    File(PathBuf),
    Stderr,
    Syslog,
    Exec(String),
}

#[derive(Debug, Clone)]
pub struct AccessLogConfig {
    pub format: LogFormatConfig,
    pub target: LogTarget,
    pub buffer_size: usize,
}

/// Builds every virtual server, sorted by priority, and finds `default`.
pub fn build_all(
    r: &Reader<'_>,
    node: Option<Node<'_>>,
    server: &Option<ServerSettings>,
) -> (Option<Vec<VServer>>, Option<usize>) {
    let Some(node) = node else {
        r.error_at(
            None,
            "vserver",
            "no virtual server is configured; at least one named 'default' is required",
        );
        return (None, None);
    };
    let mut ok = true;
    let (numbered, others) = node.numbered();
    for (name, other) in others {
        r.error(
            other,
            format!("virtual server ids must be numbers, found {name:?}"),
        );
        ok = false;
    }
    let bind_ids: Vec<u64> = server
        .as_ref()
        .map(|s| s.binds.iter().map(|b| b.id).collect())
        .unwrap_or_default();
    let order: Vec<(u64, Node<'_>)> = numbered.into_iter().rev().collect();
    let mut vservers = Vec::with_capacity(order.len());
    for v in build_each(r, &order, &bind_ids) {
        match v {
            Some(v) => vservers.push(v),
            None => ok = false,
        }
    }
    let mut nicks: HashMap<String, u64> = HashMap::new();
    for v in &vservers {
        if let Some(prev) = nicks.insert(v.nick.clone(), v.id) {
            r.error_at(
                node.child(&v.id.to_string())
                    .and_then(|n| n.first_location()),
                &format!("vserver!{}!nick", v.id),
                format!(
                    "nickname {:?} is already used by vserver!{prev}; nicknames must be unique",
                    v.nick
                ),
            );
            ok = false;
        }
    }
    let default = vservers.iter().position(|v| v.nick == "default");
    if default.is_none() && ok {
        r.error(
            node,
            "no virtual server is named 'default'; one is required to answer requests that match no other",
        );
        ok = false;
    }
    (ok.then_some(vservers), default)
}

/// Configurations with at least this many virtual servers are built by two threads.
const PARALLEL_BUILD: usize = 256;

/// Builds the virtual servers of `order`, in that order. A big configuration (10,000
/// virtual servers of 100 rules) is built in two halves on two threads, the second with a
/// [`Reader::fork`] whose marks and diagnostics are folded back afterwards: the model and
/// the diagnostics (and their order) are the same as from one thread.
fn build_each(r: &Reader<'_>, order: &[(u64, Node<'_>)], bind_ids: &[u64]) -> Vec<Option<VServer>> {
    let one = |r: &Reader<'_>, &(id, vnode): &(u64, Node<'_>)| {
        r.used(vnode);
        build(r, id, vnode, bind_ids)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if order.len() < PARALLEL_BUILD || cores < 2 {
        return order.iter().map(|v| one(r, v)).collect();
    }
    let (head, tail) = order.split_at(order.len() / 2);
    let fork = r.fork();
    std::thread::scope(|scope| {
        let second = std::thread::Builder::new()
            .name("conf-model".into())
            .spawn_scoped(scope, move || {
                let built: Vec<Option<VServer>> = tail.iter().map(|v| one(&fork, v)).collect();
                (built, fork)
            });
        let mut built: Vec<Option<VServer>> = head.iter().map(|v| one(r, v)).collect();
        match second.map(|handle| handle.join()) {
            Ok(Ok((rest, fork))) => {
                r.absorb(fork);
                built.extend(rest);
            }
            // No second thread, or it failed: build the second half here.
            _ => built.extend(tail.iter().map(|v| one(r, v))),
        }
        built
    })
}

/// Keys of a virtual server that Baton accepts without using (they tune Cherokee
/// internals).
const IGNORED: &[&str] = &[
    "post_max_len",
    "collector",
    "error_writer",
    "evhost",
    "flcache",
];

fn build(r: &Reader<'_>, id: u64, node: Node<'_>, bind_ids: &[u64]) -> Option<VServer> {
    let mut ok = true;
    let nick = match r.str(node, "nick") {
        Some(n) => n.trim().to_string(),
        None => {
            r.error(node, "a virtual server needs a nickname (nick)");
            return None;
        }
    };
    for name in IGNORED {
        r.ignore_tree(node.child(name));
    }
    if let Some(e) = node.child("error_writer") {
        if let Some(t) = e.child("type") {
            r.used(t);
        }
    }
    let document_root = match r.child(node, "document_root") {
        Some(d) => {
            let p = r.path(d);
            if p.is_none() {
                ok = false;
            }
            p
        }
        None => None,
    };
    let mut hosts = Vec::new();
    let mut match_nick = true;
    let mut exclude = Exclude::default();
    if let Some(m) = r.child(node, "match") {
        if let Some(n) = r.child(m, "nick") {
            match_nick = r.bool(n).unwrap_or(true);
        }
        if let Some(x) = r.child(m, "exclude") {
            match build_exclude(r, x) {
                Some(x) => exclude = x,
                None => ok = false,
            }
            if nick == "default" && !exclude.is_empty() {
                r.error(
                    x,
                    "the default virtual server cannot exclude requests: no virtual server below it would answer them",
                );
                ok = false;
            }
        }
        if !build_host_match(r, m, &mut hosts) {
            ok = false;
        }
    }
    for legacy in ["domain", "domains"] {
        if let Some(list) = r.child(node, legacy) {
            for (_, entry) in list.children() {
                r.used(entry);
                if let Some(v) = entry.value() {
                    match wildcard_matcher(v) {
                        Ok(m) => hosts.push(m),
                        Err(e) => {
                            r.error(entry, e);
                            ok = false;
                        }
                    }
                }
            }
        }
    }
    let maintenance_of = r.str(node, "maintenance_of").map(|s| s.trim().to_string());
    // Bookkeeping of `baton maintenance on`, read back by `off`.
    for key in ["maintenance_hosts", "maintenance_renumbered"] {
        if let Some(h) = r.child(node, key) {
            r.list(h);
        }
    }
    let directory_index = r
        .child(node, "directory_index")
        .map(|d| {
            r.list(d)
                .into_iter()
                .map(|e| {
                    if e.starts_with('/') {
                        IndexEntry::Url(e)
                    } else {
                        IndexEntry::File(e)
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let keepalive = r.flag(node, "keepalive", true);
    let hsts_node = node.child("hsts");
    let max_age = hsts_node
        .and_then(|h| r.number_child(h, "max_age"))
        .unwrap_or(365 * 24 * 3600);
    let subdomains = hsts_node.is_none_or(|h| r.flag(h, "subdomains", true));
    let hsts = r
        .flag(node, "hsts", false)
        .then_some(Hsts::new(max_age, subdomains));
    let tls = super::tls::identity(r, node).unwrap_or_else(|()| {
        ok = false;
        None
    });
    let error_handler = match r.child(node, "error_handler") {
        Some(e) => match build_error_handler(r, e) {
            Ok(h) => h,
            Err(()) => {
                ok = false;
                None
            }
        },
        None => None,
    };
    let (access_log, error_log) = match build_logger(r, node) {
        Ok(l) => l,
        Err(()) => {
            ok = false;
            (None, None)
        }
    };
    if let Some(u) = r.child(node, "user_dir") {
        r.warn(
            u,
            "personal web directories (user_dir) are not supported; ignored",
        );
        r.ignore_tree(Some(u));
    }
    let rules = match rule::build_all(r, node.child("rule"), bind_ids) {
        Some(rules) => rules,
        None => {
            ok = false;
            Vec::new()
        }
    };
    if let Some(rnode) = node.child("rule") {
        r.used(rnode);
    }
    if ok && rules.is_empty() {
        r.warn(
            node,
            "this virtual server has no rules; every request to it will get 500",
        );
    }
    if ok && document_root.is_none() && rules.iter().any(|r| r.needs_document_root()) {
        r.warn(
            node,
            "no document_root: rules that serve files will answer 404",
        );
    }
    ok.then_some(VServer {
        id,
        nick,
        document_root,
        hosts,
        match_nick,
        directory_index,
        keepalive,
        error_handler,
        access_log,
        error_log,
        rules,
        exclude,
        maintenance_of,
        tls,
        hsts,
    })
}

/// `match!exclude!from` (addresses and subnets) and `match!exclude!cookie` (`NAME=VALUE`
/// pairs), both comma-separated lists.
fn build_exclude(r: &Reader<'_>, node: Node<'_>) -> Option<Exclude> {
    let mut ok = true;
    let mut exclude = Exclude::default();
    if let Some(f) = r.child(node, "from") {
        for v in r.list(f) {
            match parse_net(&v) {
                Some(n) => exclude.from.push(n),
                None => {
                    r.error(f, format!("expected an IP address or subnet, found {v:?}"));
                    ok = false;
                }
            }
        }
    }
    if let Some(c) = r.child(node, "cookie") {
        for v in r.list(c) {
            match v.split_once('=') {
                Some((name, value))
                    if !name.trim().is_empty()
                        && !name.contains([';', ' '])
                        && !value.contains(';') =>
                {
                    exclude
                        .cookies
                        .push((name.trim().to_string(), value.trim().to_string()));
                }
                _ => {
                    r.error(c, format!("expected a cookie as NAME=VALUE, found {v:?}"));
                    ok = false;
                }
            }
        }
    }
    ok.then_some(exclude)
}

/// `vserver!N!match = wildcard | rehost | target_ip | v_or` and its lists.
fn build_host_match(r: &Reader<'_>, m: Node<'_>, out: &mut Vec<HostMatcher>) -> bool {
    let kind = m.value().unwrap_or("").trim();
    let mut ok = true;
    let mut each = |list: &str, f: &dyn Fn(&str) -> Result<HostMatcher, String>| {
        if let Some(l) = r.child(m, list) {
            for (_, entry) in l.children() {
                r.used(entry);
                let Some(v) = entry.value().map(str::trim).filter(|v| !v.is_empty()) else {
                    continue;
                };
                match f(v) {
                    Ok(h) => out.push(h),
                    Err(e) => {
                        r.error(entry, e);
                        ok = false;
                    }
                }
            }
        }
    };
    match kind {
        "" => {}
        "wildcard" => each("domain", &|v| wildcard_matcher(v)),
        "rehost" => each("regex", &|v| {
            r.regex(v)
                .map(|re| HostMatcher::Regex(Regex::clone(&re)))
                .map_err(|e| format!("invalid regular expression: {e}"))
        }),
        "target_ip" => each("to", &|v| {
            parse_net(v)
                .map(HostMatcher::TargetIp)
                .ok_or_else(|| format!("expected an IP address or subnet, found {v:?}"))
        }),
        "v_or" => {
            for side in ["left", "right"] {
                if let Some(s) = r.child(m, side) {
                    if !build_host_match(r, s, out) {
                        ok = false;
                    }
                }
            }
        }
        other => {
            r.error(
                m,
                format!(
                    "unknown host match type {other:?} (expected wildcard, rehost, target_ip or v_or)"
                ),
            );
            ok = false;
        }
    }
    ok
}

/// A host pattern: a plain name, or one with `*`/`?` wildcards.
pub fn wildcard_matcher(v: &str) -> Result<HostMatcher, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err("empty host name".into());
    }
    if v.chars().any(|c| c.is_whitespace()) {
        return Err(format!("host name {v:?} contains whitespace"));
    }
    if !v.contains(['*', '?']) {
        return Ok(HostMatcher::Exact(v.to_ascii_lowercase()));
    }
    let mut re = String::from("(?i)^");
    for c in v.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    let regex = Regex::new(&re).map_err(|e| format!("invalid wildcard {v:?}: {e}"))?;
    Ok(HostMatcher::Wildcard {
        pattern: v.to_string(),
        regex,
    })
}

/// An address or subnet: `10.0.0.1`, `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `::1`.
pub fn parse_net(v: &str) -> Option<IpNet> {
    let v = v.trim();
    if let Ok(net) = v.parse::<IpNet>() {
        return Some(net.trunc());
    }
    if let Ok(ip) = v.parse::<std::net::IpAddr>() {
        return Some(IpNet::from(ip));
    }
    let (addr, mask) = v.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.trim().parse().ok()?;
    let mask: std::net::Ipv4Addr = mask.trim().parse().ok()?;
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return None;
    }
    ipnet::Ipv4Net::new(addr, bits.leading_ones() as u8)
        .ok()
        .map(|n| IpNet::V4(n.trunc()))
}

fn build_error_handler(r: &Reader<'_>, node: Node<'_>) -> Result<Option<ErrorHandler>, ()> {
    let kind = node.value().unwrap_or("").trim();
    match kind {
        "" => Ok(None),
        "error_nn" => Ok(Some(ErrorHandler::ClosestMatch)),
        "error_redir" => {
            let mut by_status = HashMap::new();
            let mut default = None;
            let mut ok = true;
            for (name, entry) in node.children() {
                r.used(entry);
                let Some(url) = r.str(entry, "url") else {
                    r.error(entry, "an error redirection needs a url");
                    ok = false;
                    continue;
                };
                let target = ErrorTarget {
                    url: url.trim().to_string(),
                    external: r.flag(entry, "show", false),
                };
                if !target.external && !target.url.starts_with('/') {
                    r.error(
                        entry,
                        format!(
                            "an internal error page must be a path starting with '/', found {:?}",
                            target.url
                        ),
                    );
                    ok = false;
                    continue;
                }
                if name == "default" {
                    default = Some(target);
                } else {
                    match name.parse::<u16>() {
                        Ok(code) if (400..600).contains(&code) => {
                            by_status.insert(code, target);
                        }
                        _ => {
                            r.error(
                                entry,
                                format!("expected an error status (400-599) or 'default', found {name:?}"),
                            );
                            ok = false;
                        }
                    }
                }
            }
            if ok {
                Ok(Some(ErrorHandler::Redirect { by_status, default }))
            } else {
                Err(())
            }
        }
        other => {
            r.error(
                node,
                format!("unknown error handler {other:?} (expected error_redir or error_nn)"),
            );
            Err(())
        }
    }
}

type Loggers = (Option<AccessLogConfig>, Option<LogTarget>);

fn build_logger(r: &Reader<'_>, node: Node<'_>) -> Result<Loggers, ()> {
    let Some(l) = r.child(node, "logger") else {
        return Ok((None, None));
    };
    let kind = l.value().unwrap_or("").trim();
    let format = match kind {
        "" => return Ok((None, None)),
        "combined" => LogFormatConfig::Combined,
        "ncsa" => LogFormatConfig::Ncsa,
        "custom" => {
            let Some(t) = r.str(l, "access_template") else {
                r.error(
                    l,
                    "the custom logger needs a template (logger!access_template)",
                );
                return Err(());
            };
            if let Err(e) = crate::log::Template::parse(t) {
                if let Some(n) = l.child("access_template") {
                    r.error(n, format!("invalid log template: {e}"));
                }
                return Err(());
            }
            LogFormatConfig::Custom(t.to_string())
        }
        other => {
            r.error(
                l,
                format!("unknown logger {other:?} (expected combined, ncsa or custom)"),
            );
            return Err(());
        }
    };
    r.child(l, "error_template");
    let access = match r.child(l, "access") {
        Some(a) => {
            let target = build_target(r, a)?;
            let buffer_size = r
                .number_child(a, "buffsize")
                .map(|n| n.clamp(512, 16 << 20) as usize)
                .unwrap_or(16 * 1024);
            target.map(|target| AccessLogConfig {
                format,
                target,
                buffer_size,
            })
        }
        None => {
            r.warn(
                l,
                "a logger without an access target (logger!access!type) logs nothing",
            );
            None
        }
    };
    let error = match r.child(l, "error") {
        Some(e) => build_target(r, e)?,
        None => None,
    };
    Ok((access, error))
}

fn build_target(r: &Reader<'_>, node: Node<'_>) -> Result<Option<LogTarget>, ()> {
    let kind = r.str(node, "type").unwrap_or("").trim();
    match kind {
        "file" => match r.child(node, "filename").and_then(|f| r.path(f)) {
            Some(p) => Ok(Some(LogTarget::File(p))),
            None => {
                r.error(node, "a file log target needs a filename");
                Err(())
            }
        },
        "stderr" => Ok(Some(LogTarget::Stderr)),
        "syslog" => Ok(Some(LogTarget::Syslog)),
        "exec" => match r.str(node, "command") {
            Some(c) => Ok(Some(LogTarget::Exec(c.to_string()))),
            None => {
                r.error(node, "an exec log target needs a command");
                Err(())
            }
        },
        "" => {
            r.error(
                node,
                "a log target needs a type (file, stderr, syslog or exec)",
            );
            Err(())
        }
        other => {
            r.error(
                node,
                format!("unknown log target {other:?} (expected file, stderr, syslog or exec)"),
            );
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_compile_anchored_and_case_insensitive() {
        let HostMatcher::Wildcard { regex, .. } = wildcard_matcher("example.*").unwrap() else {
            panic!("expected a wildcard");
        };
        assert!(regex.is_match("example.com"));
        assert!(regex.is_match("EXAMPLE.org"));
        assert!(!regex.is_match("www.example.com"));
        assert!(matches!(
            wildcard_matcher("Example.COM").unwrap(),
            HostMatcher::Exact(ref s) if s == "example.com"
        ));
    }

    #[test]
    fn exclusions_match_address_or_exact_cookie() {
        let x = Exclude {
            from: vec![parse_net("10.0.0.0/8").unwrap()],
            cookies: vec![("staff".into(), "s3cret".into())],
        };
        let none: [&[u8]; 0] = [];
        assert!(x.excludes("10.1.2.3".parse().unwrap(), none.into_iter()));
        assert!(!x.excludes("127.0.0.1".parse().unwrap(), none.into_iter()));
        let ip = "127.0.0.1".parse().unwrap();
        assert!(x.excludes(ip, [&b"a=1; staff=s3cret"[..]].into_iter()));
        assert!(!x.excludes(ip, [&b"staff=s3cret2; xstaff=s3cret"[..]].into_iter()));
        assert!(Exclude::default().is_empty());
    }

    #[test]
    fn subnets_in_every_notation() {
        assert_eq!(parse_net("127.0.0.0/255.0.0.0"), parse_net("127.0.0.0/8"));
        assert!(parse_net("::1").is_some());
        assert!(parse_net("10.0.0.1").is_some());
        assert!(parse_net("10.0.0.0/255.0.255.0").is_none());
        assert!(parse_net("nonsense").is_none());
    }
}
