//! A read-only walk over the key tree that remembers which keys the model used and collects
//! diagnostics.
//!
//! Every key the model reads is marked; when the model is built, every key that was never
//! read is reported as unknown (a warning with its line), so a typo such as
//! `vserver!1!documet_root` does not silently do nothing.
//!
//! The marks are bits indexed by node id (the tree numbers its nodes densely): a big
//! configuration has millions of nodes, and marking one must cost a store, not a hash
//! insert.

use super::handler::HandlerConfig;
use baton_conf::{Diagnostic, Location, Node};
use regex::Regex;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One bit per node of a tree.
struct Marks(Box<[Cell<u64>]>);

impl Marks {
    fn new(nodes: usize) -> Self {
        Marks((0..nodes.div_ceil(64)).map(|_| Cell::new(0)).collect())
    }

    fn set(&self, id: usize) {
        if let Some(word) = self.0.get(id / 64) {
            word.set(word.get() | 1 << (id % 64));
        }
    }

    fn absorb(&self, other: &Marks) {
        for (word, more) in self.0.iter().zip(other.0.iter()) {
            word.set(word.get() | more.get());
        }
    }

    fn get(&self, id: usize) -> bool {
        self.0
            .get(id / 64)
            .is_some_and(|word| word.get() & (1 << (id % 64)) != 0)
    }
}

pub struct Reader<'t> {
    root: Node<'t>,
    used: Marks,
    ignored: Marks,
    diags: RefCell<Vec<Diagnostic>>,
    /// Compiled regular expressions by pattern: large configurations repeat the same
    /// patterns in many virtual servers, and a compiled `Regex` is shared cheaply.
    regexes: RefCell<HashMap<String, Arc<Regex>>>,
    /// Handlers written as a bare name (`rule!N!handler = file`, no options), by name: a
    /// big configuration has one per rule, all alike, so they share one instance.
    plain_handlers: RefCell<Vec<(String, Arc<HandlerConfig>)>>,
}

impl<'t> Reader<'t> {
    pub fn new(root: Node<'t>) -> Self {
        let nodes = root.tree().len();
        Reader {
            root,
            used: Marks::new(nodes),
            ignored: Marks::new(nodes),
            diags: RefCell::default(),
            regexes: RefCell::default(),
            plain_handlers: RefCell::default(),
        }
    }

    /// A reader over the same tree with no marks or diagnostics of its own (the compiled
    /// regexes and handlers found so far are shared), to build part of the model on
    /// another thread. Its findings come back with [`Reader::absorb`].
    pub fn fork(&self) -> Reader<'t> {
        let fork = Reader::new(self.root);
        *fork.regexes.borrow_mut() = self.regexes.borrow().clone();
        *fork.plain_handlers.borrow_mut() = self.plain_handlers.borrow().clone();
        fork
    }

    /// Takes in what a [`Reader::fork`] found: its marks, and its diagnostics after this
    /// reader's own (so that the order is the one a single reader would have given).
    pub fn absorb(&self, other: Reader<'t>) {
        self.used.absorb(&other.used);
        self.ignored.absorb(&other.ignored);
        self.diags.borrow_mut().extend(other.diags.into_inner());
    }

    /// Compiles `pattern`, once per configuration. The compiled form is shared: a
    /// `Regex` clone carries a cache pool of its own (several allocations), and sharing
    /// one also shares the match caches it builds while serving.
    pub fn regex(&self, pattern: &str) -> Result<Arc<Regex>, regex::Error> {
        if let Some(re) = self.regexes.borrow().get(pattern) {
            return Ok(re.clone());
        }
        let re = Arc::new(Regex::new(pattern)?);
        self.regexes
            .borrow_mut()
            .insert(pattern.to_string(), re.clone());
        Ok(re)
    }

    /// The shared instance of the option-less handler `name`, built by `build` the first
    /// time.
    pub fn plain_handler(
        &self,
        name: &str,
        build: impl FnOnce() -> Option<HandlerConfig>,
    ) -> Option<Arc<HandlerConfig>> {
        if let Some((_, h)) = self.plain_handlers.borrow().iter().find(|(n, _)| n == name) {
            return Some(h.clone());
        }
        let handler = Arc::new(build()?);
        self.plain_handlers
            .borrow_mut()
            .push((name.to_string(), handler.clone()));
        Some(handler)
    }

    pub fn root(&self) -> Node<'t> {
        self.root
    }

    /// Marks a key as understood.
    pub fn used(&self, node: Node<'_>) {
        self.used.set(node.id());
    }

    /// Marks a whole subtree as accepted without being interpreted (Cherokee keys that have
    /// no meaning for Baton, like the admin's icon table).
    pub fn ignore_tree(&self, node: Option<Node<'_>>) {
        if let Some(node) = node {
            self.ignored.set(node.id());
        }
    }

    /// The child `name` of `node`, marked as used.
    pub fn child<'n>(&self, node: Node<'n>, name: &str) -> Option<Node<'n>> {
        let child = node.child(name)?;
        self.used(child);
        Some(child)
    }

    /// The value of the child `name`, marked as used; `None` when absent or empty.
    pub fn str<'n>(&self, node: Node<'n>, name: &str) -> Option<&'n str> {
        self.child(node, name)
            .and_then(|c| c.value())
            .filter(|v| !v.is_empty())
    }

    pub fn error(&self, node: Node<'_>, message: impl Into<String>) {
        self.diags.borrow_mut().push(Diagnostic::error(
            node.first_location(),
            node.path(),
            message,
        ));
    }

    pub fn warn(&self, node: Node<'_>, message: impl Into<String>) {
        self.diags.borrow_mut().push(Diagnostic::warning(
            node.first_location(),
            node.path(),
            message,
        ));
    }

    pub fn error_at(&self, location: Option<Location>, key: &str, message: impl Into<String>) {
        self.diags
            .borrow_mut()
            .push(Diagnostic::error(location, key, message));
    }

    /// A boolean value: 1/0, true/false, yes/no, on/off.
    pub fn bool(&self, node: Node<'_>) -> Option<bool> {
        self.used(node);
        let v = node.value()?.trim();
        match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "allow" => Some(true),
            "0" | "false" | "no" | "off" | "forbid" => Some(false),
            _ => {
                self.error(node, format!("expected a boolean (1 or 0), found {v:?}"));
                None
            }
        }
    }

    /// A boolean child with a default when absent.
    pub fn flag(&self, node: Node<'_>, name: &str, default: bool) -> bool {
        self.child(node, name)
            .and_then(|c| self.bool(c))
            .unwrap_or(default)
    }

    /// A non-negative integer.
    pub fn number(&self, node: Node<'_>) -> Option<u64> {
        self.used(node);
        let v = node.value()?.trim();
        match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(node, format!("expected a non-negative number, found {v:?}"));
                None
            }
        }
    }

    pub fn number_child(&self, node: Node<'_>, name: &str) -> Option<u64> {
        self.child(node, name).and_then(|c| self.number(c))
    }

    /// A duration in seconds, optionally with a unit suffix (s, m, h, d, w).
    pub fn duration(&self, node: Node<'_>) -> Option<Duration> {
        self.used(node);
        let v = node.value()?.trim();
        match parse_duration(v) {
            Some(d) => Some(d),
            None => {
                self.error(
                    node,
                    format!("expected a duration such as 30, 30s, 5m, 2h or 1d, found {v:?}"),
                );
                None
            }
        }
    }

    /// A comma (or space) separated list; empty items are dropped.
    pub fn list(&self, node: Node<'_>) -> Vec<String> {
        self.used(node);
        split_list(node.value().unwrap_or(""))
    }

    /// A path; relative paths are taken relative to the configuration file's directory.
    pub fn path(&self, node: Node<'_>) -> Option<PathBuf> {
        self.used(node);
        let v = node.value()?.trim();
        if v.is_empty() {
            self.error(node, "expected a path, found an empty value");
            return None;
        }
        let p = PathBuf::from(v);
        if p.is_relative() {
            if let Some(dir) = node
                .location()
                .and_then(|l| l.file.parent().map(|d| d.to_path_buf()))
            {
                if !dir.as_os_str().is_empty() {
                    return Some(dir.join(p));
                }
            }
        }
        Some(p)
    }

    /// Warnings for every key that was never read, then every collected diagnostic.
    pub fn finish(self) -> Vec<Diagnostic> {
        let mut diags = self.diags.into_inner();
        // Nodes come in id order, parents before children: a node is ignored when it or
        // its parent is, which marks whole ignored subtrees in one pass.
        for node in self.root.tree().nodes() {
            let id = node.id();
            if self.ignored.get(id) {
                continue;
            }
            if node.parent().is_some_and(|p| self.ignored.get(p.id())) {
                self.ignored.set(id);
                continue;
            }
            if !self.used.get(id) && node.value().is_some() {
                diags.push(Diagnostic::warning(
                    node.location(),
                    node.path(),
                    "unknown key, ignored",
                ));
            }
        }
        diags
    }
}

pub fn split_list(v: &str) -> Vec<String> {
    split_items(v).map(str::to_string).collect()
}

/// The items of a comma (or space) separated list, borrowed; empty items are dropped.
pub fn split_items(v: &str) -> impl Iterator<Item = &str> {
    v.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&v[..i], v[i..].trim()),
        None => (v, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(mult)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5y"), None);
    }

    #[test]
    fn lists_split_on_commas_and_spaces() {
        assert_eq!(split_list("a, b,,c d"), vec!["a", "b", "c", "d"]);
        assert!(split_list("").is_empty());
    }
}
