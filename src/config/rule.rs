//! `vserver!N!rule!M!…` keys: behavior rules (a match and the properties it contributes).

use super::handler::{self, HandlerConfig};
use super::reader::Reader;
use super::vserver::parse_net;
use baton_conf::{Location, Node};
use http::header::{HeaderName, HeaderValue};
use http::Method;
use ipnet::IpNet;
use regex::Regex;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One behavior rule.
#[derive(Debug)]
pub struct Rule {
    /// M in `rule!M`: the priority (larger is evaluated first).
    pub id: u64,
    pub matcher: Match,
    /// A matching final rule ends the evaluation.
    pub is_final: bool,
    pub handler: Option<Arc<HandlerConfig>>,
    /// What else the rule sets; `None`, and no allocation, for a rule that sets only
    /// its match and handler, as most do (a configuration can have a million rules).
    pub props: Option<Box<RuleProps>>,
    pub location: Option<Location>,
}

impl Rule {
    pub fn needs_document_root(&self) -> bool {
        self.props
            .as_ref()
            .is_none_or(|p| p.document_root.is_none())
            && self.handler.as_ref().is_some_and(|h| h.uses_files())
    }
}

/// What a rule tests. Evaluated in `crate::rules`.
#[derive(Debug)]
pub enum Match {
    /// Always matches; the vserver's fallback rule.
    Default,
    /// The path is this directory or below it (stored without a trailing slash; "/" is the
    /// root).
    Directory(String),
    /// The last path segment has one of these extensions.
    Extensions {
        extensions: NameSet,
        /// Also require the file to exist under the document root.
        check_local_file: bool,
    },
    /// A regular expression over the path and, when present, `?` and the query. Shared
    /// by every rule with the same pattern.
    Request(Arc<Regex>),
    /// (Boxed, like the other rare matches' parts: a configuration can have a million
    /// rules, and the largest variant sets the size of every one.)
    Header {
        name: Box<HeaderName>,
        test: HeaderTest,
    },
    /// The requested file exists under the document root.
    Exists {
        /// Names to check (the request's last segment must be one of them); empty with
        /// `any` set checks whatever was requested.
        files: Box<HashSet<String>>,
        any: bool,
        only_files: bool,
        iocache: bool,
    },
    Method(Vec<Method>),
    /// Exact paths.
    Fullpath(Box<HashSet<String>>),
    /// The client address is in one of these networks.
    From(Vec<IpNet>),
    /// A query-string argument (or any, when `arg` is `None`) matches the expression.
    UrlArg {
        arg: Option<Box<str>>,
        regex: Box<Regex>,
    },
    /// The connection arrived on one of these listeners (`server!bind!N`).
    Bind(Vec<u64>),
    /// The connection is TLS.
    Tls,
    And(Box<Match>, Box<Match>),
    Or(Box<Match>, Box<Match>),
    Not(Box<Match>),
}

impl Match {
    /// The directory of a `directory` match (also inside an AND), which a document root
    /// set by the same rule replaces in the path.
    pub fn directory(&self) -> Option<&str> {
        match self {
            Match::Directory(d) => Some(d),
            Match::And(a, b) => a.directory().or_else(|| b.directory()),
            _ => None,
        }
    }

    /// The request regex of a `request` match, which an empty redirection inherits.
    fn request_regex(&self) -> Option<&Regex> {
        match self {
            Match::Request(re) => Some(re.as_ref()),
            Match::And(a, b) => a.request_regex().or_else(|| b.request_regex()),
            _ => None,
        }
    }
}

/// A small set of names (file extensions), tested by exact match.
///
/// A configuration can have hundreds of thousands of these, most with one or two names:
/// a short list is one allocation, faster to scan than to hash; only long lists get a
/// hash set.
#[derive(Debug)]
pub enum NameSet {
    /// Each name preceded by its length in one byte (`\x03jpg\x03png`; empty for none):
    /// one allocation, not one per name, and a scan that steps over names of another
    /// length without reading them (a request meets every `extensions` rule of its
    /// virtual server until one matches). A name longer than 255 bytes makes the set
    /// [`NameSet::Many`].
    Few(Box<[u8]>),
    Many(Box<HashSet<Box<str>>>),
}

impl NameSet {
    /// Lists longer than this are hashed.
    const FEW: usize = 8;

    pub fn new<'a>(names: impl Iterator<Item = &'a str>) -> NameSet {
        let mut few = Vec::new();
        let mut count = 0;
        let mut many: Option<HashSet<Box<str>>> = None;
        for name in names {
            if let Some(set) = &mut many {
                set.insert(name.into());
            } else if Self::in_few(&few, name) {
                continue;
            } else if count == Self::FEW || u8::try_from(name.len()).is_err() {
                let mut set: HashSet<Box<str>> = Self::few_names(&few).map(Box::from).collect();
                set.insert(name.into());
                many = Some(set);
            } else {
                // Most lists have one name: sized for it, the list is allocated once.
                few.reserve_exact(1 + name.len());
                few.push(name.len() as u8);
                few.extend_from_slice(name.as_bytes());
                count += 1;
            }
        }
        match many {
            Some(set) => NameSet::Many(Box::new(set)),
            None => NameSet::Few(few.into_boxed_slice()),
        }
    }

    /// The names of a [`NameSet::Few`] list.
    fn few_names(mut few: &[u8]) -> impl Iterator<Item = &str> {
        std::iter::from_fn(move || {
            let (&len, rest) = few.split_first()?;
            let (name, next) = rest.split_at_checked(usize::from(len))?;
            few = next;
            // Built from `&str`s whole: always UTF-8.
            std::str::from_utf8(name).ok()
        })
    }

    #[inline]
    fn in_few(mut few: &[u8], name: &str) -> bool {
        let name = name.as_bytes();
        while let Some((&len, rest)) = few.split_first() {
            let len = usize::from(len).min(rest.len());
            let (entry, next) = (&rest[..len], &rest[len..]);
            // Length and first byte before the whole: most names differ there already, and
            // a slice comparison is a call to `memcmp`.
            if entry.len() == name.len() && entry.first() == name.first() && entry == name {
                return true;
            }
            few = next;
        }
        false
    }

    /// Inline, with the hashing of long lists out of line: most sets are short, and a
    /// request may test dozens of them.
    #[inline]
    pub fn contains(&self, name: &str) -> bool {
        match self {
            NameSet::Few(few) => Self::in_few(few, name),
            NameSet::Many(names) => Self::in_many(names, name),
        }
    }

    #[inline(never)]
    fn in_many(names: &HashSet<Box<str>>, name: &str) -> bool {
        names.contains(name)
    }

    pub fn is_empty(&self) -> bool {
        match self {
            NameSet::Few(few) => few.is_empty(),
            NameSet::Many(names) => names.is_empty(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            NameSet::Few(few) => Self::few_names(few).count(),
            NameSet::Many(names) => names.len(),
        }
    }
}

#[derive(Debug)]
pub enum HeaderTest {
    Regex(Box<Regex>),
    /// The header is present, whatever its value.
    Provided,
}

/// What a matching rule contributes besides its handler. `None` fields are left for
/// lower-priority rules.
#[derive(Debug, Default)]
pub struct RuleProps {
    pub document_root: Option<Box<Path>>,
    pub allow_from: Option<Arc<Vec<IpNet>>>,
    pub only_secure: Option<bool>,
    pub encoders: EncoderPolicy,
    pub expiration: Option<Arc<Expiration>>,
    pub header_ops: Box<[HeaderOp]>,
    pub timeout: Option<Duration>,
    pub no_log: Option<bool>,
}

/// Per encoder: `Some(true)` allow, `Some(false)` forbid, `None` unset.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EncoderPolicy {
    pub gzip: Option<bool>,
    pub deflate: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Expiration {
    pub time: ExpirationTime,
    /// The complete `Cache-Control` value, computed at load.
    pub cache_control: Option<HeaderValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpirationTime {
    /// Already expired (1970).
    Epoch,
    /// As far as HTTP dates reasonably go (2038).
    Max,
    /// This long from the response.
    After(Duration),
    /// Only the caching directives, no `Expires`.
    None,
}

#[derive(Debug, Clone)]
pub enum HeaderOp {
    Add(HeaderName, HeaderValue),
    Del(HeaderName),
}

/// Builds every rule of a virtual server, highest priority first.
pub fn build_all(r: &Reader<'_>, node: Option<Node<'_>>, bind_ids: &[u64]) -> Option<Vec<Rule>> {
    let Some(node) = node else {
        return Some(Vec::new());
    };
    let (numbered, others) = node.numbered();
    let mut ok = true;
    for (name, other) in others {
        r.error(
            other,
            format!("rule priorities must be numbers, found {name:?}"),
        );
        ok = false;
    }
    let mut rules = Vec::with_capacity(numbered.len());
    for (id, rnode) in numbered.into_iter().rev() {
        r.used(rnode);
        let keys = PropKeys::of(rnode);
        if let Some(d) = used(r, keys.disabled) {
            if r.bool(d) == Some(true) {
                r.ignore_tree(Some(rnode));
                continue;
            }
        }
        match build(r, id, rnode, keys, bind_ids) {
            Some(rule) => rules.push(rule),
            None => ok = false,
        }
    }
    ok.then_some(rules)
}

fn build<'t>(
    r: &Reader<'_>,
    id: u64,
    node: Node<'t>,
    keys: PropKeys<'t>,
    bind_ids: &[u64],
) -> Option<Rule> {
    let mut ok = true;
    let Some(mnode) = used(r, keys.matcher) else {
        r.error(
            node,
            "a rule needs a match (rule!N!match = default, directory, …)",
        );
        return None;
    };
    let matcher = build_match(r, mnode, bind_ids);
    let is_final = r.flag(mnode, "final", true);
    let handler = match used(r, keys.handler) {
        Some(h) => {
            let built =
                handler::build_shared(r, h, matcher.as_ref().and_then(|m| m.request_regex()));
            ok &= built.is_some();
            built
        }
        None => None,
    };
    let props = if keys.sets_more_than_handler() {
        let props = build_props(r, keys);
        ok &= props.is_some();
        props.map(Box::new)
    } else {
        None
    };
    let matcher = matcher?;
    if !ok {
        return None;
    }
    Some(Rule {
        id,
        matcher,
        is_final,
        handler,
        props,
        location: node.first_location(),
    })
}

/// The rule type is the value of `match` (or, in older files, of `match!type`).
fn build_match(r: &Reader<'_>, node: Node<'_>, bind_ids: &[u64]) -> Option<Match> {
    r.used(node);
    let mut kind = node.value().unwrap_or("").trim();
    if kind.is_empty() {
        if let Some(t) = r.str(node, "type") {
            kind = t.trim();
        }
    }
    match kind {
        "default" => Some(Match::Default),
        "directory" => {
            let Some(d) = r.str(node, "directory") else {
                r.error(node, "a directory rule needs match!directory");
                return None;
            };
            let d = d.trim();
            if !d.starts_with('/') {
                r.error(
                    node,
                    format!("a directory must start with '/', found {d:?}"),
                );
                return None;
            }
            let trimmed = d.trim_end_matches('/');
            Some(Match::Directory(if trimmed.is_empty() {
                "/".to_string()
            } else {
                trimmed.to_string()
            }))
        }
        "extensions" => {
            let Some(e) = r.child(node, "extensions") else {
                r.error(node, "an extensions rule needs match!extensions");
                return None;
            };
            r.used(e);
            let extensions = NameSet::new(
                super::reader::split_items(e.value().unwrap_or(""))
                    .map(|x| x.trim_start_matches('.')),
            );
            if extensions.is_empty() {
                r.error(e, "empty list of extensions");
                return None;
            }
            Some(Match::Extensions {
                extensions,
                check_local_file: r.flag(node, "check_local_file", false),
            })
        }
        "request" => regex_child(r, node, "request").map(Match::Request),
        "header" => {
            let Some(h) = r.str(node, "header") else {
                r.error(node, "a header rule needs match!header (the header name)");
                return None;
            };
            let name = match HeaderName::from_bytes(h.trim().as_bytes()) {
                Ok(n) => n,
                Err(_) => {
                    r.error(node, format!("{h:?} is not a valid header name"));
                    return None;
                }
            };
            let provided = node.value().is_some_and(|v| !v.trim().is_empty())
                && r.str(node, "type").is_some_and(|t| t.trim() == "provided");
            let test = if provided {
                HeaderTest::Provided
            } else {
                HeaderTest::Regex(Box::new(Regex::clone(&*regex_child(r, node, "match")?)))
            };
            Some(Match::Header {
                name: Box::new(name),
                test,
            })
        }
        "exists" => {
            let files: HashSet<String> = r
                .child(node, "exists")
                .map(|e| r.list(e))
                .unwrap_or_default()
                .into_iter()
                .collect();
            let any = r.flag(node, "match_any", false);
            if files.is_empty() && !any {
                r.error(
                    node,
                    "an exists rule needs a list of files (match!exists) or match!match_any = 1",
                );
                return None;
            }
            r.child(node, "match_index_files");
            Some(Match::Exists {
                files: Box::new(files),
                any,
                only_files: r.flag(node, "match_only_files", true),
                iocache: r.flag(node, "iocache", false),
            })
        }
        "method" => {
            let Some(m) = r.child(node, "method") else {
                r.error(node, "a method rule needs match!method");
                return None;
            };
            let mut methods = Vec::new();
            for name in r.list(m) {
                match Method::from_bytes(name.to_ascii_uppercase().as_bytes()) {
                    Ok(method) => methods.push(method),
                    Err(_) => {
                        r.error(m, format!("{name:?} is not a valid method name"));
                        return None;
                    }
                }
            }
            if methods.is_empty() {
                r.error(m, "empty list of methods");
                return None;
            }
            Some(Match::Method(methods))
        }
        "fullpath" => {
            let Some(list) = r.child(node, "fullpath") else {
                r.error(node, "a fullpath rule needs match!fullpath!N entries");
                return None;
            };
            let mut paths = HashSet::new();
            if let Some(v) = list.value() {
                paths.extend(super::reader::split_list(v));
            }
            for (_, entry) in list.children() {
                r.used(entry);
                if let Some(v) = entry.value().map(str::trim).filter(|v| !v.is_empty()) {
                    paths.insert(v.to_string());
                }
            }
            if paths.is_empty() {
                r.error(list, "empty list of paths");
                return None;
            }
            Some(Match::Fullpath(Box::new(paths)))
        }
        "from" => {
            let Some(f) = r.child(node, "from") else {
                r.error(node, "a from rule needs match!from (addresses or subnets)");
                return None;
            };
            let nets = nets(r, f)?;
            Some(Match::From(nets))
        }
        "url_arg" => {
            let arg = r
                .str(node, "arg")
                .map(|a| Box::<str>::from(a.trim()))
                .filter(|a| !a.is_empty());
            Some(Match::UrlArg {
                arg,
                regex: Box::new(Regex::clone(&*regex_child(r, node, "match")?)),
            })
        }
        "bind" => {
            let Some(b) = r.child(node, "bind") else {
                r.error(node, "a bind rule needs match!bind!N = listener id");
                return None;
            };
            let mut ids = Vec::new();
            let mut values: Vec<(Node<'_>, String)> = Vec::new();
            if let Some(v) = b.value() {
                values.extend(super::reader::split_list(v).into_iter().map(|s| (b, s)));
            }
            for (_, entry) in b.children() {
                r.used(entry);
                if let Some(v) = entry.value() {
                    values.push((entry, v.trim().to_string()));
                }
            }
            for (n, v) in values {
                match v.parse::<u64>() {
                    Ok(id) if bind_ids.contains(&id) => ids.push(id),
                    Ok(id) => {
                        r.error(n, format!("there is no listener server!bind!{id}"));
                        return None;
                    }
                    Err(_) => {
                        r.error(n, format!("expected a listener number, found {v:?}"));
                        return None;
                    }
                }
            }
            if ids.is_empty() {
                r.error(b, "empty list of listeners");
                return None;
            }
            Some(Match::Bind(ids))
        }
        "tls" => Some(Match::Tls),
        "and" | "or" => {
            let left = side(r, node, "left", bind_ids);
            let right = side(r, node, "right", bind_ids);
            let (left, right) = (Box::new(left?), Box::new(right?));
            Some(if kind == "and" {
                Match::And(left, right)
            } else {
                Match::Or(left, right)
            })
        }
        "not" => Some(Match::Not(Box::new(side(r, node, "right", bind_ids)?))),
        "" => {
            r.error(node, "empty rule type");
            None
        }
        "geoip" => {
            r.error(node, "the geoip rule type is not available in Baton");
            None
        }
        other => {
            r.error(node, format!("unknown rule type {other:?}"));
            None
        }
    }
}

fn side(r: &Reader<'_>, node: Node<'_>, name: &str, bind_ids: &[u64]) -> Option<Match> {
    match r.child(node, name) {
        Some(s) => build_match(r, s, bind_ids),
        None => {
            r.error(
                node,
                format!("this rule needs match!{name} (a nested rule)"),
            );
            None
        }
    }
}

fn regex_child(r: &Reader<'_>, node: Node<'_>, name: &str) -> Option<Arc<Regex>> {
    let Some(child) = r.child(node, name) else {
        r.error(
            node,
            format!("this rule needs match!{name} (a regular expression)"),
        );
        return None;
    };
    let v = child.value().unwrap_or("");
    match r.regex(v) {
        Ok(re) => Some(re),
        Err(e) => {
            r.error(child, format!("invalid regular expression: {e}"));
            None
        }
    }
}

fn nets(r: &Reader<'_>, node: Node<'_>) -> Option<Vec<IpNet>> {
    let mut nets = Vec::new();
    let mut values: Vec<(Node<'_>, String)> = r.list(node).into_iter().map(|v| (node, v)).collect();
    for (_, entry) in node.children() {
        r.used(entry);
        for v in r.list(entry) {
            values.push((entry, v));
        }
    }
    for (n, v) in values {
        match parse_net(&v) {
            Some(net) => nets.push(net),
            None => {
                r.error(n, format!("expected an IP address or subnet, found {v:?}"));
                return None;
            }
        }
    }
    if nets.is_empty() {
        r.error(node, "empty list of addresses");
        return None;
    }
    Some(nets)
}

/// The children of a rule that `build_props` reads, found in one pass over the rule's
/// children: a big configuration has a million rules, and looking each name up in turn
/// would scan every rule's children a dozen times.
#[derive(Default)]
struct PropKeys<'t> {
    matcher: Option<Node<'t>>,
    disabled: Option<Node<'t>>,
    handler: Option<Node<'t>>,
    document_root: Option<Node<'t>>,
    directory_root: Option<Node<'t>>,
    allow_from: Option<Node<'t>>,
    only_secure: Option<Node<'t>>,
    encoder: Option<Node<'t>>,
    expiration: Option<Node<'t>>,
    header_op: Option<Node<'t>>,
    timeout: Option<Node<'t>>,
    no_log: Option<Node<'t>>,
    auth: Option<Node<'t>>,
    flcache: Option<Node<'t>>,
}

impl<'t> PropKeys<'t> {
    fn of(node: Node<'t>) -> Self {
        let mut keys = PropKeys::default();
        for (name, child) in node.children() {
            let slot = match name {
                "match" => &mut keys.matcher,
                "disabled" => &mut keys.disabled,
                "handler" => &mut keys.handler,
                "document_root" => &mut keys.document_root,
                "directory_root" => &mut keys.directory_root,
                "allow_from" => &mut keys.allow_from,
                "only_secure" => &mut keys.only_secure,
                "encoder" => &mut keys.encoder,
                "expiration" => &mut keys.expiration,
                "header_op" => &mut keys.header_op,
                "timeout" => &mut keys.timeout,
                "no_log" => &mut keys.no_log,
                "auth" => &mut keys.auth,
                "flcache" => &mut keys.flcache,
                _ => continue,
            };
            *slot = Some(child);
        }
        keys
    }

    /// Whether the rule has keys read by [`build_props`] (or refused by it, `auth`).
    fn sets_more_than_handler(&self) -> bool {
        [
            self.document_root,
            self.directory_root,
            self.allow_from,
            self.only_secure,
            self.encoder,
            self.expiration,
            self.header_op,
            self.timeout,
            self.no_log,
            self.auth,
            self.flcache,
        ]
        .iter()
        .any(Option::is_some)
    }
}

/// `found`, marked as used (what `Reader::child` does after its lookup).
fn used<'t>(r: &Reader<'_>, found: Option<Node<'t>>) -> Option<Node<'t>> {
    if let Some(n) = found {
        r.used(n);
    }
    found
}

/// What the rule sets besides its match and handler (see [`PropKeys::sets_more_than_handler`]).
fn build_props(r: &Reader<'_>, keys: PropKeys<'_>) -> Option<RuleProps> {
    let mut ok = true;
    let mut props = RuleProps::default();
    for key in [keys.document_root, keys.directory_root] {
        if let Some(d) = used(r, key) {
            match r.path(d) {
                Some(p) => props.document_root = Some(p.into_boxed_path()),
                None => ok = false,
            }
        }
    }
    if let Some(a) = used(r, keys.allow_from) {
        match nets(r, a) {
            Some(n) => props.allow_from = Some(Arc::new(n)),
            None => ok = false,
        }
    }
    if let Some(s) = used(r, keys.only_secure) {
        props.only_secure = r.bool(s);
    }
    if let Some(enc) = used(r, keys.encoder) {
        for (name, e) in enc.children() {
            r.used(e);
            let v = e.value().unwrap_or("").trim().to_ascii_lowercase();
            let policy = match v.as_str() {
                "1" | "allow" => Some(true),
                "0" | "forbid" => Some(false),
                "" | "unset" => None,
                _ => {
                    r.error(e, format!("expected allow, forbid or unset, found {v:?}"));
                    ok = false;
                    None
                }
            };
            match name {
                "gzip" => props.encoders.gzip = policy,
                "deflate" => props.encoders.deflate = policy,
                other => {
                    r.error(
                        e,
                        format!("unknown encoder {other:?} (expected gzip or deflate)"),
                    );
                    ok = false;
                }
            }
        }
    }
    if let Some(x) = used(r, keys.expiration) {
        match expiration(r, x) {
            Some(e) => props.expiration = e.map(Arc::new),
            None => ok = false,
        }
    }
    if let Some(ops) = used(r, keys.header_op) {
        let (numbered, others) = ops.numbered();
        for (name, other) in others {
            r.error(
                other,
                format!("header operations must be numbered, found {name:?}"),
            );
            ok = false;
        }
        let mut list = Vec::with_capacity(numbered.len());
        for (_, op) in numbered {
            r.used(op);
            match header_op(r, op) {
                Some(o) => list.push(o),
                None => ok = false,
            }
        }
        props.header_ops = list.into_boxed_slice();
    }
    if let Some(t) = used(r, keys.timeout) {
        match r.duration(t) {
            Some(d) if !d.is_zero() => props.timeout = Some(d),
            Some(_) => {
                r.error(t, "a timeout must be at least one second");
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(n) = used(r, keys.no_log) {
        props.no_log = r.bool(n);
    }
    if let Some(a) = used(r, keys.auth) {
        let name = a.value().unwrap_or("").trim();
        r.error(
            a,
            format!(
                "authentication (validator {name:?}) is not available in this version of Baton; refusing to serve the rule unprotected"
            ),
        );
        r.ignore_tree(Some(a));
        ok = false;
    }
    r.ignore_tree(keys.flcache);
    ok.then_some(props)
}

fn expiration(r: &Reader<'_>, node: Node<'_>) -> Option<Option<Expiration>> {
    let kind = node.value().unwrap_or("").trim();
    let time = match kind {
        "" | "none" => ExpirationTime::None,
        "epoch" => ExpirationTime::Epoch,
        "max" => ExpirationTime::Max,
        "time" => {
            let Some(t) = r.child(node, "time") else {
                r.error(node, "expiration = time needs expiration!time");
                return None;
            };
            ExpirationTime::After(r.duration(t)?)
        }
        other => {
            r.error(
                node,
                format!("expected epoch, max, time or none, found {other:?}"),
            );
            return None;
        }
    };
    let mut directives: Vec<String> = Vec::new();
    if let Some(c) = r.child(node, "caching") {
        let v = c.value().unwrap_or("").trim();
        match v {
            "" => {}
            "public" | "private" | "no-cache" => directives.push(v.to_string()),
            other => {
                r.error(
                    c,
                    format!("expected public, private or no-cache, found {other:?}"),
                );
                return None;
            }
        }
        for flag in [
            "no-store",
            "no-transform",
            "must-revalidate",
            "proxy-revalidate",
        ] {
            if r.flag(c, flag, false) {
                directives.push(flag.to_string());
            }
        }
    }
    match time {
        ExpirationTime::After(d) => directives.push(format!("max-age={}", d.as_secs())),
        ExpirationTime::Epoch => directives.push("max-age=0".to_string()),
        ExpirationTime::Max => directives.push("max-age=315360000".to_string()),
        ExpirationTime::None => {}
    }
    if time == ExpirationTime::None && directives.is_empty() {
        return Some(None);
    }
    let cache_control = if directives.is_empty() {
        None
    } else {
        HeaderValue::from_str(&directives.join(", ")).ok()
    };
    Some(Some(Expiration {
        time,
        cache_control,
    }))
}

fn header_op(r: &Reader<'_>, node: Node<'_>) -> Option<HeaderOp> {
    let kind = r.str(node, "type").unwrap_or("add").trim().to_string();
    let Some(name) = r.str(node, "header") else {
        r.error(node, "a header operation needs header_op!N!header");
        return None;
    };
    let name = match HeaderName::from_bytes(name.trim().as_bytes()) {
        Ok(n) => n,
        Err(_) => {
            r.error(node, format!("{name:?} is not a valid header name"));
            return None;
        }
    };
    match kind.as_str() {
        "add" => {
            let value = r.str(node, "value").unwrap_or("");
            match HeaderValue::from_str(value) {
                Ok(v) => Some(HeaderOp::Add(name, v)),
                Err(_) => {
                    r.error(node, format!("{value:?} is not a valid header value"));
                    None
                }
            }
        }
        "del" => Some(HeaderOp::Del(name)),
        other => {
            r.error(node, format!("expected add or del, found {other:?}"));
            None
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn name_sets_hold_their_names() {
        let few = NameSet::new(["jpg", "png", "jpg", ""].into_iter());
        assert!(matches!(few, NameSet::Few(_)));
        assert_eq!(few.len(), 3);
        for name in ["jpg", "png", ""] {
            assert!(few.contains(name), "{name:?}");
        }
        assert!(!few.contains("jp") && !few.contains("gif") && !few.contains("jpg,png"));
        assert!(!few.contains("jpgx") && !few.contains("pn") && !few.contains(",jpg"));
        let long = "x".repeat(300);
        let with_long = NameSet::new(["a", long.as_str()].into_iter());
        assert!(matches!(with_long, NameSet::Many(_)));
        assert!(with_long.contains("a") && with_long.contains(&long) && with_long.len() == 2);
        let commas = NameSet::new(["a,b", "c"].into_iter());
        assert!(commas.contains("a,b") && !commas.contains("a") && commas.len() == 2);
        let none = NameSet::new(std::iter::empty());
        assert!(none.is_empty() && !none.contains(""));
        let names: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
        let many = NameSet::new(names.iter().map(String::as_str).chain(["x3"]));
        assert!(matches!(many, NameSet::Many(_)));
        assert_eq!(many.len(), 20);
        assert!(names.iter().all(|n| many.contains(n)) && !many.contains("x20"));
        let comma = NameSet::new(["a", "b,c"].into_iter());
        assert!(comma.contains("b,c") && comma.contains("a") && !comma.contains("b"));
    }

    /// Every rule is as big as its largest match: a configuration can hold a million
    /// rules (10,000 virtual servers of 100), so a variant that grows grows them all
    /// (they were 200 bytes before the rare matches' parts were boxed, 144 before what
    /// a rule sets besides its handler was).
    #[test]
    fn rules_stay_small() {
        assert!(std::mem::size_of::<Match>() <= 32);
        assert!(std::mem::size_of::<Rule>() <= 80);
    }
}
