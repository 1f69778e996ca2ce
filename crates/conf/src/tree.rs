//! The merged key tree of a configuration.
//!
//! The typed model of the server is built from a tree rather than from
//! lines: `vserver!10!rule!100!match = directory` is the node `match` below
//! `100` below `rule` below `10` below `vserver`. Each node keeps the
//! location of the line that set it, so that whoever interprets a value can
//! report a bad one at its file and line, and a missing key can be reported
//! at its parent block ([`Node::first_location`]).
//!
//! Children are kept in the order first seen; numbered lists
//! (`vserver!10`, `vserver!20`) are ordered numerically by [`Node::numbered`].
//! Large nodes (thousands of virtual servers or rules) get a hash index so
//! that building the tree stays linear in the number of lines.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::hash::FxHashMap;
use crate::key::numeric_segment;
use crate::location::Location;

/// Nodes with more children than this get a hash index for lookups.
const INDEX_THRESHOLD: usize = 8;

/// A segment held in a child index, sharing its node's text.
#[derive(Clone)]
struct SegmentKey {
    text: Arc<str>,
    start: usize,
    end: usize,
}

impl SegmentKey {
    fn as_str(&self) -> &str {
        self.text.get(self.start..self.end).unwrap_or("")
    }
}

impl Borrow<str> for SegmentKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for SegmentKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SegmentKey {}

impl Hash for SegmentKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like the `str` it borrows as.
        self.as_str().hash(state)
    }
}

/// One node of the merged key tree: an optional value with the location that
/// set it, and children in first-seen order.
///
/// To keep big trees cheap, a node does not own its key: every node created
/// by one line shares that line's text (the key followed by the value), and
/// refers to the prefix that is its own path. A node with a value holds the
/// text of the line that set it, whose key is exactly the node's path.
#[derive(Clone)]
pub struct Node {
    /// Starts with this node's path; if `has_value`, the value follows it.
    text: Arc<str>,
    path_end: usize,
    /// Where this node's own segment starts in the path.
    segment_start: usize,
    has_value: bool,
    location: Option<Location>,
    /// The first line that set this key or anything below it.
    first: Option<Location>,
    children: Vec<Node>,
    /// Segment -> position in `children`, for nodes with many children.
    /// Boxed on purpose: most nodes have none, and a bare map would make
    /// every node several words bigger.
    #[allow(clippy::box_collection)]
    index: Option<Box<FxHashMap<SegmentKey, usize>>>,
}

impl Default for Node {
    fn default() -> Self {
        Node {
            text: Arc::from(""),
            path_end: 0,
            segment_start: 0,
            has_value: false,
            location: None,
            first: None,
            children: Vec::new(),
            index: None,
        }
    }
}

impl Node {
    /// An empty root node (path `""`).
    pub fn root() -> Node {
        Node::default()
    }

    /// The full key of this node (`vserver!1!rule`); `""` for the root.
    pub fn path(&self) -> &str {
        self.text.get(..self.path_end).unwrap_or("")
    }

    /// The last segment of the key (`rule` for `vserver!1!rule`); `""` for the root.
    pub fn segment(&self) -> &str {
        self.text
            .get(self.segment_start..self.path_end)
            .unwrap_or("")
    }

    /// The value, if this key itself was written.
    pub fn value(&self) -> Option<&str> {
        if self.has_value {
            self.text.get(self.path_end..)
        } else {
            None
        }
    }

    /// Where the value was written (the last time, if written more than once).
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// The node's own location, else the earliest line that wrote anything
    /// below it: the place to point at when a required key is missing.
    pub fn first_location(&self) -> Option<Location> {
        self.location.clone().or_else(|| self.first.clone())
    }

    fn find(&self, segment: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(segment).copied(),
            None => self.children.iter().position(|c| c.segment() == segment),
        }
    }

    /// The direct child named `segment`.
    pub fn child(&self, segment: &str) -> Option<&Node> {
        self.find(segment).and_then(|i| self.children.get(i))
    }

    /// The node at `path` relative to this one (`rule!100!match`); the empty
    /// path is this node itself.
    pub fn get(&self, path: &str) -> Option<&Node> {
        if path.is_empty() {
            return Some(self);
        }
        path.split('!').try_fold(self, |node, seg| node.child(seg))
    }

    /// The value at `path` relative to this node.
    pub fn get_value(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Node::value)
    }

    /// The children with their segments, in the order first seen.
    pub fn children(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.children.iter().map(|c| (c.segment(), c))
    }

    /// The children split into a numbered list and the rest: those whose
    /// segment is a decimal number, sorted by that number (2 < 10 < 100;
    /// equal numbers such as `7` and `07` keep first-seen order), and the
    /// others in first-seen order.
    #[allow(clippy::type_complexity)]
    pub fn numbered(&self) -> (Vec<(u64, &Node)>, Vec<(&str, &Node)>) {
        let mut numbered = Vec::new();
        let mut others = Vec::new();
        for child in &self.children {
            match numeric_segment(child.segment()) {
                Some(n) => numbered.push((n, child)),
                None => others.push((child.segment(), child)),
            }
        }
        numbered.sort_by_key(|(n, _)| *n);
        (numbered, others)
    }

    /// Whether the node has neither a value nor children.
    pub fn is_empty(&self) -> bool {
        !self.has_value && self.children.is_empty()
    }

    /// The child whose path is `text[..path_end]` (its segment starting at
    /// `segment_start`), created (last, with no value) if missing. `text`
    /// starts with this node's path.
    fn child_or_insert(
        &mut self,
        text: &Arc<str>,
        segment_start: usize,
        path_end: usize,
    ) -> &mut Node {
        let segment = text.get(segment_start..path_end).unwrap_or("");
        let index = match self.find(segment) {
            Some(i) => i,
            None => {
                let i = self.children.len();
                if self.children.is_empty() {
                    // Most nodes have a single child: do not reserve four.
                    self.children.reserve_exact(1);
                }
                self.children.push(Node {
                    text: text.clone(),
                    path_end,
                    segment_start,
                    ..Node::default()
                });
                match &mut self.index {
                    Some(index) => {
                        let key = SegmentKey {
                            text: text.clone(),
                            start: segment_start,
                            end: path_end,
                        };
                        index.insert(key, i);
                    }
                    None if self.children.len() > INDEX_THRESHOLD => {
                        let index = self
                            .children
                            .iter()
                            .enumerate()
                            .map(|(i, c)| {
                                let key = SegmentKey {
                                    text: c.text.clone(),
                                    start: c.segment_start,
                                    end: c.path_end,
                                };
                                (key, i)
                            })
                            .collect();
                        self.index = Some(Box::new(index));
                    }
                    None => {}
                }
                i
            }
        };
        &mut self.children[index]
    }

    /// Sets `key` (relative to the root, `!`-separated) to `value`, written
    /// at `location`. Returns where it was set before, if it was: the new
    /// value wins. Call this on the root.
    pub fn insert(&mut self, key: &str, value: &str, location: Location) -> Option<Location> {
        let mut text = String::with_capacity(key.len() + value.len());
        text.push_str(key);
        text.push_str(value);
        let text: Arc<str> = Arc::from(text);
        let mut node = self;
        let mut segment_start = 0;
        for segment in key.split('!') {
            if node.first.is_none() {
                node.first = Some(location.clone());
            }
            let path_end = segment_start + segment.len();
            node = node.child_or_insert(&text, segment_start, path_end);
            segment_start = path_end + 1;
        }
        if node.first.is_none() {
            node.first = Some(location.clone());
        }
        // The key of this line is exactly the node's path.
        node.text = text;
        node.path_end = key.len();
        node.has_value = true;
        node.location.replace(location)
    }

    /// Every node below this one that has a value, depth first in
    /// first-seen order, with its full key.
    pub fn values(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            if let Some(v) = node.value() {
                out.push((node.path(), v));
            }
            stack.extend(node.children.iter().rev());
        }
        out
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Node");
        s.field("path", &self.path());
        if let Some(v) = self.value() {
            s.field("value", &v);
        }
        if !self.children.is_empty() {
            s.field("children", &self.children);
        }
        s.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn loc(line: u32) -> Location {
        Location::new(Arc::new(PathBuf::from("t.conf")), line)
    }

    #[test]
    fn insert_and_get() {
        let mut root = Node::root();
        assert!(root.is_empty());
        root.insert("vserver!1!nick", "default", loc(1));
        root.insert("vserver!1!rule!100!match", "directory", loc(2));
        assert_eq!(root.get_value("vserver!1!nick"), Some("default"));
        let vs = root.get("vserver!1").unwrap();
        assert_eq!(vs.path(), "vserver!1");
        assert_eq!(vs.segment(), "1");
        assert_eq!(vs.value(), None);
        assert_eq!(vs.location(), None);
        assert_eq!(vs.first_location(), Some(loc(1)));
        assert_eq!(vs.get_value("rule!100!match"), Some("directory"));
        assert_eq!(vs.get("rule!100!match").unwrap().location(), Some(&loc(2)));
        assert!(root.get("vserver!2").is_none());
        assert!(root.get("vserver!1!nick!x").is_none());
        assert_eq!(root.get("").unwrap().path(), "");
        assert!(!root.is_empty());
    }

    #[test]
    fn last_write_wins_and_reports_previous() {
        let mut root = Node::root();
        assert_eq!(root.insert("a!b", "1", loc(1)), None);
        assert_eq!(root.insert("a!b", "2", loc(5)), Some(loc(1)));
        assert_eq!(root.get_value("a!b"), Some("2"));
        assert_eq!(root.get("a!b").unwrap().location(), Some(&loc(5)));
        assert_eq!(root.get("a").unwrap().first_location(), Some(loc(1)));
    }

    #[test]
    fn numbered_children_sort_numerically() {
        let mut root = Node::root();
        for (i, n) in ["100", "nick", "2", "10", "abc", "1"].iter().enumerate() {
            root.insert(&format!("rule!{n}"), "x", loc(i as u32 + 1));
        }
        let rule = root.child("rule").unwrap();
        let (numbers, others) = rule.numbered();
        let numbers: Vec<u64> = numbers.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, vec![1, 2, 10, 100]);
        let others: Vec<&str> = others.iter().map(|(s, _)| *s).collect();
        assert_eq!(others, vec!["nick", "abc"]);
        let order: Vec<&str> = rule.children().map(|(s, _)| s).collect();
        assert_eq!(order, vec!["100", "nick", "2", "10", "abc", "1"]);
    }

    #[test]
    fn many_children_use_the_index() {
        let mut root = Node::root();
        for i in 0..1000 {
            root.insert(&format!("vserver!{i}!nick"), &format!("v{i}"), loc(i + 1));
        }
        let vs = root.child("vserver").unwrap();
        assert!(vs.index.is_some());
        assert_eq!(vs.children().count(), 1000);
        assert_eq!(vs.get_value("567!nick"), Some("v567"));
        root.insert("vserver!567!nick", "again", loc(2000));
        assert_eq!(root.child("vserver").unwrap().children().count(), 1000);
        assert_eq!(root.get_value("vserver!567!nick"), Some("again"));
    }

    #[test]
    fn values_walk_in_order() {
        let mut root = Node::root();
        root.insert("b", "1", loc(1));
        root.insert("a!x", "2", loc(2));
        root.insert("b!y", "3", loc(3));
        assert_eq!(root.values(), vec![("b", "1"), ("b!y", "3"), ("a!x", "2")]);
    }
}
