//! `rule!N!handler` and its options, validated into a [`HandlerConfig`].

use super::reader::Reader;
use baton_conf::Node;
use http::StatusCode;
use regex::Regex;
use std::sync::Arc;

/// What answers a request, with its options already parsed.
#[derive(Debug, Clone)]
pub enum HandlerConfig {
    /// List & Send: files are sent, directories listed.
    Common(CommonOptions),
    /// Static content only.
    File(FileOptions),
    /// Directory listings only.
    Dirlist(DirlistOptions),
    Redir(RedirOptions),
    /// Answers a fixed status (`handler!error`).
    CustomError(StatusCode),
    /// A 1x1 transparent GIF.
    EmptyGif,
    /// Closes the connection without answering.
    Drop,
}

impl HandlerConfig {
    /// The name used in cherokee.conf.
    pub fn name(&self) -> &'static str {
        match self {
            HandlerConfig::Common(_) => "common",
            HandlerConfig::File(_) => "file",
            HandlerConfig::Dirlist(_) => "dirlist",
            HandlerConfig::Redir(_) => "redir",
            HandlerConfig::CustomError(_) => "custom_error",
            HandlerConfig::EmptyGif => "empty_gif",
            HandlerConfig::Drop => "drop",
        }
    }

    /// Whether this handler reads files under the document root.
    pub fn uses_files(&self) -> bool {
        matches!(
            self,
            HandlerConfig::Common(_) | HandlerConfig::File(_) | HandlerConfig::Dirlist(_)
        )
    }
}

#[derive(Debug, Clone)]
pub struct FileOptions {
    /// Cherokee's I/O cache switch; kept for the file cache.
    pub iocache: bool,
    /// Follow symbolic links. When off, any path whose resolved form leaves the document
    /// root, or that goes through a link, is refused with 403.
    pub symlinks: bool,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            iocache: true,
            symlinks: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirlistOptions {
    pub size: bool,
    pub date: bool,
    pub user: bool,
    pub group: bool,
    /// Show names starting with a dot.
    pub hidden: bool,
    /// Show editor backups (names ending in `~`).
    pub backup: bool,
    /// Show symbolic links.
    pub symlinks: bool,
    /// Files whose content is shown above the listing when present in the directory.
    pub notice_files: Vec<String>,
}

impl Default for DirlistOptions {
    fn default() -> Self {
        DirlistOptions {
            size: true,
            date: true,
            user: false,
            group: false,
            hidden: false,
            backup: false,
            symlinks: true,
            notice_files: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CommonOptions {
    pub file: FileOptions,
    pub dirlist: DirlistOptions,
    /// Whether `/file.txt/extra` may serve `/file.txt` with `/extra` as path info.
    pub allow_pathinfo: bool,
    pub allow_dirlist: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RedirOptions {
    pub rewrites: Vec<Rewrite>,
    /// A plain target used when no rewrite matches (`handler!url`).
    pub url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Rewrite {
    /// `None` matches the whole request (`^.*$` semantics, whole path as `$0`).
    pub regex: Option<Regex>,
    /// The target, with `$1`… from the regex, `^1`… from a regex host match and `${host}`.
    pub substring: String,
    /// `show = 1`: tell the client (301); otherwise rewrite internally.
    pub external: bool,
}

/// Handlers Cherokee has that this version of Baton does not provide yet: named in the error
/// so the operator knows the file is valid Cherokee, not a typo.
const NOT_YET: &[&str] = &[
    "cgi",
    "fcgi",
    "scgi",
    "uwsgi",
    "proxy",
    "ssi",
    "secdownload",
    "server_info",
    "streaming",
    "admin",
    "dbslayer",
    "post_report",
    "render_rrd",
];

/// Builds the handler of a rule, shared with every other rule that names the same handler
/// without options (`handler = file` and nothing below it): a big configuration has one per
/// rule.
pub fn build_shared(
    r: &Reader<'_>,
    node: Node<'_>,
    rule_regex: Option<&Regex>,
) -> Option<Arc<HandlerConfig>> {
    let name = node.value().unwrap_or("").trim();
    let plain = node.child_count() == 0
        && matches!(name, "common" | "file" | "dirlist" | "empty_gif" | "drop");
    if plain {
        r.used(node);
        return r.plain_handler(name, || build(r, node, rule_regex));
    }
    build(r, node, rule_regex).map(Arc::new)
}

/// Builds the handler of a rule. `rule_regex` is the rule's own regular expression (for
/// `request` rules), which a redirection with an empty regex inherits.
pub fn build(r: &Reader<'_>, node: Node<'_>, rule_regex: Option<&Regex>) -> Option<HandlerConfig> {
    let name = node.value().unwrap_or("").trim();
    r.used(node);
    match name {
        "common" => Some(HandlerConfig::Common(CommonOptions {
            file: file_options(r, node),
            dirlist: dirlist_options(r, node),
            allow_pathinfo: r.flag(node, "allow_pathinfo", false),
            allow_dirlist: r.flag(node, "allow_dirlist", true),
        })),
        "file" => Some(HandlerConfig::File(file_options(r, node))),
        "dirlist" => Some(HandlerConfig::Dirlist(dirlist_options(r, node))),
        "redir" => redir(r, node, rule_regex).map(HandlerConfig::Redir),
        "custom_error" => {
            let Some(e) = r.child(node, "error") else {
                // Named after the missing key, so an editor can point at that field.
                r.error_at(
                    node.first_location(),
                    &format!("{}!error", node.path()),
                    "custom_error needs a status code (handler!error)",
                );
                return None;
            };
            let code = r.number(e)?;
            match u16::try_from(code)
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
            {
                Some(s) if (200..600).contains(&s.as_u16()) => Some(HandlerConfig::CustomError(s)),
                _ => {
                    r.error(e, format!("{code} is not an HTTP status code (200-599)"));
                    None
                }
            }
        }
        "empty_gif" => Some(HandlerConfig::EmptyGif),
        "drop" => Some(HandlerConfig::Drop),
        "" => {
            r.error(node, "empty handler name");
            None
        }
        other if NOT_YET.contains(&other) => {
            r.error(
                node,
                format!("the {other} handler is not available in this version of Baton"),
            );
            None
        }
        other => {
            r.error(node, format!("unknown handler {other:?}"));
            None
        }
    }
}

fn file_options(r: &Reader<'_>, node: Node<'_>) -> FileOptions {
    FileOptions {
        iocache: r.flag(node, "iocache", true),
        symlinks: r.flag(node, "symlinks", true),
    }
}

fn dirlist_options(r: &Reader<'_>, node: Node<'_>) -> DirlistOptions {
    r.child(node, "theme");
    r.child(node, "icon_dir");
    r.child(node, "redir_symlinks");
    DirlistOptions {
        size: r.flag(node, "size", true),
        date: r.flag(node, "date", true),
        user: r.flag(node, "user", false),
        group: r.flag(node, "group", false),
        hidden: r.flag(node, "hidden", false),
        backup: r.flag(node, "backup", false),
        symlinks: r.flag(node, "symlinks", true),
        notice_files: r
            .child(node, "notice_files")
            .map(|n| r.list(n))
            .unwrap_or_default(),
    }
}

fn redir(r: &Reader<'_>, node: Node<'_>, rule_regex: Option<&Regex>) -> Option<RedirOptions> {
    let mut opts = RedirOptions {
        url: r.str(node, "url").map(|s| s.trim().to_string()),
        ..RedirOptions::default()
    };
    let mut ok = true;
    if let Some(list) = r.child(node, "rewrite") {
        let (numbered, others) = list.numbered();
        for (name, other) in others {
            r.error(
                other,
                format!("rewrite entries must be numbered, found {name:?}"),
            );
            ok = false;
        }
        for (_, entry) in numbered {
            r.used(entry);
            let external = r.flag(entry, "show", false);
            let substring = r.str(entry, "substring").unwrap_or("").trim().to_string();
            let regex = match r.str(entry, "regex") {
                Some(re) => match r.regex(re) {
                    Ok(re) => Some(Regex::clone(&re)),
                    Err(e) => {
                        if let Some(n) = entry.child("regex") {
                            r.error(n, format!("invalid regular expression: {e}"));
                        }
                        ok = false;
                        continue;
                    }
                },
                None => rule_regex.cloned(),
            };
            if substring.is_empty() {
                r.error(entry, "a rewrite needs a substring (its target)");
                ok = false;
                continue;
            }
            if !external && !substring.starts_with('/') {
                r.error(
                    entry,
                    format!(
                        "an internal rewrite must produce a path starting with '/', found {substring:?}"
                    ),
                );
                ok = false;
                continue;
            }
            opts.rewrites.push(Rewrite {
                regex,
                substring,
                external,
            });
        }
    }
    if opts.rewrites.is_empty() && opts.url.is_none() && ok {
        r.error(
            node,
            "a redirection needs at least one rewrite (handler!rewrite!N) or a url",
        );
        ok = false;
    }
    ok.then_some(opts)
}
