//! Configuration: the `cherokee.conf` key tree (crate `baton-conf`) turned into a typed
//! [`Config`].
//!
//! Data flows one way: text -> key tree -> `Config` -> compiled generation. Everything a
//! request needs is parsed and validated here, once, so the request path never looks at
//! strings from the file again. A configuration with any error is refused as a whole: the
//! caller gets every problem (file:line, key, message) and nothing starts serving half of it.

mod handler;
mod reader;
mod rule;
mod server;
mod tls;
mod vserver;

pub use baton_conf::{Diagnostic, Location, Severity};
pub use handler::{
    CommonOptions, DirlistOptions, FileOptions, HandlerConfig, RedirOptions, Rewrite,
};
pub use rule::{
    EncoderPolicy, Expiration, ExpirationTime, HeaderOp, HeaderTest, Match, NameSet, Rule,
    RuleProps,
};
pub use server::{Bind, ServerSettings, ServerTokens};
pub use vserver::{
    AccessLogConfig, ErrorHandler, ErrorTarget, HostMatcher, IndexEntry, LogFormatConfig,
    LogTarget, VServer,
};

use crate::http::mime::MimeTable;
use reader::Reader;
use std::path::{Path, PathBuf};

/// A complete, validated configuration.
#[derive(Debug)]
pub struct Config {
    pub server: ServerSettings,
    /// Virtual servers in evaluation order: highest priority (largest number) first.
    pub vservers: Vec<VServer>,
    /// Index in `vservers` of the one named `default`, the fallback for every request.
    pub default_vserver: usize,
    pub mime: MimeTable,
    /// The file this configuration was read from, if any.
    pub source: Option<PathBuf>,
    /// The text of that file as it was read (the admin compares it with the saved file).
    pub source_text: Option<String>,
}

/// The outcome of reading a configuration: the model if there was no error, and every
/// diagnostic (warnings too) in file order.
pub struct LoadResult {
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadResult {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
    /// The model, or every error as one message (for logs and the reload caller).
    pub fn into_result(self) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
        let has_error = self
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error);
        match self.config {
            Some(config) if !has_error => Ok((config, self.diagnostics)),
            _ => Err(self.diagnostics),
        }
    }
}

/// Reads and validates the configuration file at `path` (with its includes).
pub fn load_file(path: &Path) -> LoadResult {
    // The tree without the files' line index: only the admin edits files.
    match baton_conf::load_tree(path) {
        Ok(loaded) => build(
            loaded.tree,
            match loaded.text {
                Some(text) => SourceText::Given(Some(text)),
                None => SourceText::TreeText,
            },
            loaded.diagnostics,
            Some(path.to_path_buf()),
        ),
        Err(e) => LoadResult {
            config: None,
            diagnostics: vec![Diagnostic::error(
                None,
                "",
                format!("cannot read {}: {e}", path.display()),
            )],
        },
    }
}

/// Reads and validates configuration text; `name` is used in diagnostics.
pub fn load_str(name: &str, text: &str) -> LoadResult {
    let baton_conf::Loaded {
        files,
        tree,
        diagnostics,
    } = baton_conf::load_str(name, text);
    // The main file's text is kept (the admin compares it with the saved file); its line
    // index and the included files are no longer needed once the tree is built.
    let source_text = files
        .into_iter()
        .next()
        .map(baton_conf::ConfFile::into_text);
    build(tree, SourceText::Given(source_text), diagnostics, None)
}

/// The text kept as the running configuration's ([`Config::source_text`]).
enum SourceText {
    Given(Option<String>),
    /// The tree's own text, which is the main file's as read ([`baton_conf::load_tree`]
    /// of a file without includes): taken from the tree once the model is built.
    TreeText,
}

fn build(
    tree: baton_conf::Tree,
    source_text: SourceText,
    mut diagnostics: Vec<Diagnostic>,
    source: Option<PathBuf>,
) -> LoadResult {
    let reader = Reader::new(tree.root());
    let config = build_model(&reader, source);
    diagnostics.extend(reader.finish());
    let config = config.map(|mut c| {
        c.source_text = match source_text {
            SourceText::Given(text) => text,
            SourceText::TreeText => Some(tree.into_text()),
        };
        c
    });
    let has_error = diagnostics.iter().any(|d| d.severity == Severity::Error);
    sort_diagnostics(&mut diagnostics);
    LoadResult {
        config: if has_error { None } else { config },
        diagnostics,
    }
}

fn sort_diagnostics(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.location
                .as_ref()
                .map(|l| (l.file.to_string_lossy().into_owned(), l.line))
        };
        key(a).cmp(&key(b))
    });
}

fn build_model(r: &Reader<'_>, source: Option<PathBuf>) -> Option<Config> {
    let root = r.root();
    let server = server::build(r, root.child("server"));
    let mime = build_mime(r, root.child("mime"));
    let (vservers, default_vserver) = vserver::build_all(r, root.child("vserver"), &server);
    r.ignore_tree(root.child("icons"));
    r.ignore_tree(root.child("admin"));
    r.ignore_tree(root.child("source"));
    r.ignore_tree(root.child("config"));
    if let (Some(server), Some(vservers), Some(default)) = (&server, &vservers, default_vserver) {
        check_tls_default(r, server, &vservers[default]);
    }
    Some(Config {
        server: server?,
        vservers: vservers?,
        default_vserver: default_vserver?,
        mime,
        source,
        source_text: None,
    })
}

/// A TLS listener needs the default virtual server's certificate: it is what a handshake
/// presents when the client names no host (no SNI) or a host of a virtual server without
/// a certificate of its own. As in Cherokee, the server does not start without it.
fn check_tls_default(r: &Reader<'_>, server: &ServerSettings, default: &VServer) {
    if default.tls.is_some() {
        return;
    }
    let binds = r.root().child("server").and_then(|s| s.child("bind"));
    for bind in server.binds.iter().filter(|b| b.tls) {
        let node = binds
            .and_then(|b| b.child(&bind.id.to_string()))
            .and_then(|b| b.child("tls"));
        let message = format!(
            "a TLS listener needs a certificate on the default virtual server: set vserver!{}!ssl_certificate_file and ssl_certificate_key_file",
            default.id
        );
        match node {
            Some(node) => r.error(node, message),
            None => r.error_at(None, &format!("server!bind!{}!tls", bind.id), message),
        }
    }
}

/// `mime!TYPE!extensions = a,b` and `mime!TYPE!max_age = N` refine the built-in table.
fn build_mime(r: &Reader<'_>, node: Option<baton_conf::Node<'_>>) -> MimeTable {
    let mut table = MimeTable::new();
    let Some(node) = node else { return table };
    for (ty, entry) in node.children() {
        r.used(entry);
        if let Some(exts) = entry.child("extensions") {
            let list = r.list(exts);
            let refs: Vec<&str> = list.iter().map(String::as_str).collect();
            table.set(ty, &refs);
        }
        if let Some(age) = entry.child("max_age") {
            if let Some(n) = r.number(age) {
                table.set_max_age(ty, n);
            }
        }
    }
    table
}
