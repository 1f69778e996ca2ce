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

use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;

use crate::hash::{FxHashMap, FxHasher};
use crate::key::numeric_segment;
use crate::location::Location;

/// Nodes with more children than this get a hash index for lookups.
const INDEX_THRESHOLD: usize = 16;

/// End of a chain in [`ChildIndex`].
const NONE: u32 = u32::MAX;

/// A hash index over a node's children, for nodes with many of them.
///
/// It maps the hash of a segment to the most recent child with that hash,
/// and chains children whose segments share a hash; so it stores no
/// strings and rehashing it when it grows is cheap.
#[derive(Clone, Default)]
struct ChildIndex {
    heads: FxHashMap<u64, u32>,
    /// For each child, the previous child with the same hash.
    next: Vec<u32>,
}

fn segment_hash(segment: &str) -> u64 {
    BuildHasherDefault::<FxHasher>::default().hash_one(segment)
}

impl ChildIndex {
    fn add(&mut self, segment: &str, position: usize) {
        let position = u32::try_from(position).unwrap_or(NONE);
        let previous = self.heads.insert(segment_hash(segment), position);
        self.next.push(previous.unwrap_or(NONE));
    }

    fn find(&self, children: &[Node], segment: &str) -> Option<usize> {
        let mut at = *self.heads.get(&segment_hash(segment))?;
        while at != NONE {
            let position = at as usize;
            let child = children.get(position)?;
            if child.segment() == segment {
                return Some(position);
            }
            at = *self.next.get(position)?;
        }
        None
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
    path_end: u32,
    /// Where this node's own segment starts in the path.
    segment_start: u32,
    has_value: bool,
    location: Option<Location>,
    children: Vec<Node>,
    /// Boxed on purpose: most nodes have none, and an inline index would
    /// make every node several words bigger.
    index: Option<Box<ChildIndex>>,
}

impl Default for Node {
    fn default() -> Self {
        Node {
            text: Arc::from(""),
            path_end: 0,
            segment_start: 0,
            has_value: false,
            location: None,
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
        self.text.get(..self.path_end as usize).unwrap_or("")
    }

    /// The last segment of the key (`rule` for `vserver!1!rule`); `""` for the root.
    pub fn segment(&self) -> &str {
        self.text
            .get(self.segment_start as usize..self.path_end as usize)
            .unwrap_or("")
    }

    /// The value, if this key itself was written.
    pub fn value(&self) -> Option<&str> {
        if self.has_value {
            self.text.get(self.path_end as usize..)
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
    ///
    /// (Found by following first children down to a leaf: they were all
    /// created by that earliest line. If that line's key was written again
    /// later, the later line is given.)
    pub fn first_location(&self) -> Option<Location> {
        if let Some(location) = &self.location {
            return Some(location.clone());
        }
        let mut node = self;
        while let Some(first) = node.children.first() {
            node = first;
        }
        node.location.clone()
    }

    fn find(&self, segment: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.find(&self.children, segment),
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

    /// The position of the child whose path is `text[..path_end]` (its
    /// segment starting at `segment_start`), created (last, with no value)
    /// if missing. `text` starts with this node's path.
    fn child_index_or_insert(
        &mut self,
        text: &Arc<str>,
        segment_start: u32,
        path_end: u32,
    ) -> usize {
        let segment = text
            .get(segment_start as usize..path_end as usize)
            .unwrap_or("");
        if let Some(position) = self.find(segment) {
            return position;
        }
        let position = self.children.len();
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
            Some(index) => index.add(segment, position),
            None if self.children.len() > INDEX_THRESHOLD => {
                let mut index = ChildIndex::default();
                for (i, child) in self.children.iter().enumerate() {
                    index.add(child.segment(), i);
                }
                self.index = Some(Box::new(index));
            }
            None => {}
        }
        position
    }

    /// Sets the full `key` (`!`-separated) to `value`, written at
    /// `location`. Meant for the root: the key is the whole path. Returns
    /// where it was set before, if it was: the new value wins.
    pub fn insert(&mut self, key: &str, value: &str, location: Location) -> Option<Location> {
        Inserter::default().insert(self, key, value, location)
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

/// Inserts many keys into one tree quickly.
///
/// Consecutive lines of a configuration mostly share a prefix
/// (`vserver!7!rule!30!...` follows `vserver!7!rule!20!...`), so the
/// inserter remembers the path to the node of the previous key and only
/// looks up the segments that differ. Children are never removed or
/// reordered, so remembered positions stay valid as long as every key goes
/// into the same tree.
#[derive(Default)]
pub(crate) struct Inserter {
    last_key: String,
    /// Position of each segment of `last_key` among its parent's children.
    positions: Vec<usize>,
    scratch: String,
}

impl Inserter {
    /// Sets `key` to `value` below `root` (always the same root for one
    /// inserter); returns where it was set before, if it was.
    pub(crate) fn insert(
        &mut self,
        root: &mut Node,
        key: &str,
        value: &str,
        location: Location,
    ) -> Option<Location> {
        // Offsets are 32-bit; the parser refuses longer lines anyway.
        if u32::try_from(key.len() + value.len()).is_err() {
            return None;
        }
        self.scratch.clear();
        self.scratch.push_str(key);
        self.scratch.push_str(value);
        let text: Arc<str> = Arc::from(self.scratch.as_str());

        let shared = crate::key::common_segments(&self.last_key, key).min(self.positions.len());
        let mut node = root;
        let mut segment_start = 0;
        let mut followed = 0;
        for (segment, &position) in key.split('!').zip(&self.positions[..shared]) {
            match node.children.get(position) {
                Some(_) => node = &mut node.children[position],
                None => break,
            }
            segment_start += segment.len() + 1;
            followed += 1;
        }
        self.positions.truncate(followed);
        if segment_start <= key.len() {
            let rest = key.get(segment_start..).unwrap_or("");
            for segment in rest.split('!') {
                let path_end = segment_start + segment.len();
                let position =
                    node.child_index_or_insert(&text, to_u32(segment_start), to_u32(path_end));
                self.positions.push(position);
                node = &mut node.children[position];
                segment_start = path_end + 1;
            }
        }
        self.last_key.clear();
        self.last_key.push_str(key);
        // The key of this line is exactly the node's path.
        node.text = text;
        node.path_end = to_u32(key.len());
        node.has_value = true;
        node.location.replace(location)
    }
}

/// An offset known to fit (checked on entry to [`Inserter::insert`]).
fn to_u32(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
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
        assert_eq!(root.get("a").unwrap().first_location(), Some(loc(5)));
        root.insert("x!y!z", "1", loc(10));
        root.insert("x!y", "2", loc(11));
        root.insert("x!w", "3", loc(12));
        assert_eq!(root.get("x").unwrap().first_location(), Some(loc(10)));
        assert_eq!(root.get("x!y").unwrap().first_location(), Some(loc(11)));
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
