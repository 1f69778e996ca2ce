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
//!
//! A big configuration has millions of nodes (10,000 virtual servers of 100
//! rules are 4 million), so the tree is one arena: a [`Tree`] holds every
//! node as a small fixed-size record in one vector, and every segment and
//! value in one string: for a file read whole ([`crate::load_tree`]), that
//! file's own text, which the nodes point into. Building it allocates nothing
//! per line, dropping it
//! frees a handful of blocks, and each node has a dense number
//! ([`Node::id`]) that lets a reader keep per-node marks in a bitset
//! instead of a hash set. A [`Node`] is a copyable handle into the arena.
//! Full keys are not stored: [`Node::path`] rebuilds one when a message
//! needs it.

use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::path::PathBuf;
use std::sync::Arc;

use crate::hash::{FxHashMap, FxHasher};
use crate::key::{common_prefix, numeric_segment};
use crate::location::Location;

/// Nodes with more children than this get their children indexed by hash.
const INDEX_THRESHOLD: u32 = 16;

/// "No node", "no value".
const NONE: u32 = u32::MAX;

/// The longest segment a node holds (its length shares 16 bits with a flag).
const MAX_SEGMENT: usize = 0x7fff;

/// In [`Rec::segment_len`]: the node's children are indexed by hash.
const INDEXED: u16 = 0x8000;

/// What does not fit a tree's compact nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TooLarge {
    /// Offsets into the tree's text are 32-bit: a tree holds at most 4 GiB of
    /// segments and values (and 4 billion nodes).
    Text,
    /// A segment of a key longer than 32 KiB.
    Segment,
    /// Values from more than 65,535 files.
    Files,
}

impl TooLarge {
    pub(crate) fn message(self) -> &'static str {
        match self {
            TooLarge::Text => "the configuration is too large (more than 4 GiB of keys and values); this key and some after it are not read",
            TooLarge::Segment => "a segment of this key is longer than 32 KiB; the key is not read",
            TooLarge::Files => "the configuration is made of more than 65,535 files; keys from the later ones are not read",
        }
    }
}

/// A byte range of the tree's text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const NONE: Span = Span {
        start: NONE,
        len: 0,
    };
}

/// One node, 36 bytes: a big configuration has millions (10,000 virtual servers of 100
/// rules are 4 million). Children form a singly linked list in first-seen order
/// (`first_child` .. `next_sibling`), with `last_child` for appending; a node with
/// many children also has them indexed by hash ([`INDEXED`]).
#[derive(Clone, Copy, Debug)]
struct Rec {
    parent: u32,
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
    segment_start: u32,
    /// The segment's length (at most [`MAX_SEGMENT`]), with [`INDEXED`].
    segment_len: u16,
    /// Index in [`Tree::files`] of where the value was written (0 with no value).
    file: u16,
    /// `start == NONE` when the key itself was never written.
    value: Span,
    line: u32,
}

impl Rec {
    fn new(parent: u32, segment: Span) -> Rec {
        Rec {
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            segment_start: segment.start,
            // The caller checked the length against MAX_SEGMENT.
            segment_len: segment.len as u16 & !INDEXED,
            file: 0,
            value: Span::NONE,
            line: 0,
        }
    }

    fn segment(&self) -> Span {
        Span {
            start: self.segment_start,
            len: u32::from(self.segment_len & !INDEXED),
        }
    }

    fn indexed(&self) -> bool {
        self.segment_len & INDEXED != 0
    }
}

/// A segment's hash, as an index keeps it: 32 bits make an entry 8 bytes instead of 16
/// (10,000 rule lists of 100 are 10 MB less), and a collision among a node's children,
/// rare at that width, only costs a scan.
fn segment_hash(segment: &str) -> u32 {
    let hash = BuildHasherDefault::<FxHasher>::default().hash_one(segment);
    (hash >> 32) as u32 ^ hash as u32
}

/// A merged key tree: every node of a configuration, its values and where
/// they were written.
#[derive(Clone)]
pub struct Tree {
    arena: Arena,
    /// Segments and values: appended as keys are set, or, for a tree made with
    /// [`Tree::over_text`], the configuration text itself, which the nodes point into.
    text: String,
    /// The files values were written in.
    files: Vec<Arc<PathBuf>>,
    /// For a tree made with [`Tree::over_text`]: the length of that text, which
    /// anything set later by copying ([`Tree::insert`]) follows.
    source_len: Option<usize>,
}

/// The nodes of a tree without its text, so that a tree can be built while its own
/// text is being read ([`Tree::building_in_place`]).
#[derive(Clone)]
pub(crate) struct Arena {
    /// Node 0 is the root; a child always comes after its parent.
    nodes: Vec<Rec>,
    /// For each node with many children: hash of a segment -> child. One
    /// small map per such node (rather than one big map) keeps the lookups
    /// made while one block is read in cache. A child whose hash is already
    /// taken by a sibling (a collision) is not indexed; a lookup that lands
    /// on the wrong sibling scans.
    index: FxHashMap<u32, FxHashMap<u32, u32>>,
}

/// Where the segments and values of the keys being set are kept.
pub(crate) trait Text {
    /// Everything the nodes point into so far.
    fn as_str(&self) -> &str;
    /// The span of `s` in the text: `s` appended, or found where it already is.
    fn span_of(&mut self, s: &str) -> Result<Span, TooLarge>;
}

/// A span of `len` bytes from `start`, if it fits the 32-bit offsets.
fn span(start: usize, len: usize) -> Result<Span, TooLarge> {
    let start = u32::try_from(start).map_err(|_| TooLarge::Text)?;
    let len = u32::try_from(len).map_err(|_| TooLarge::Text)?;
    if start.checked_add(len).is_none_or(|end| end == NONE) {
        return Err(TooLarge::Text);
    }
    Ok(Span { start, len })
}

/// Segments and values copied to the end of the tree's own text.
pub(crate) struct Appending<'t>(&'t mut String);

impl Text for Appending<'_> {
    fn as_str(&self) -> &str {
        self.0
    }

    fn span_of(&mut self, s: &str) -> Result<Span, TooLarge> {
        let span = span(self.0.len(), s.len())?;
        self.0.push_str(s);
        Ok(span)
    }
}

/// Segments and values that are slices of the text the tree was made over
/// ([`Tree::over_text`]): nodes point at them where they are and nothing is copied.
/// (A 100 MB configuration has about 40 MB of segments and values: memory to fill,
/// and pages to fault in, for text that stays in memory anyway.)
pub(crate) struct InPlace<'t>(pub(crate) &'t str);

impl Text for InPlace<'_> {
    fn as_str(&self) -> &str {
        self.0
    }

    fn span_of(&mut self, s: &str) -> Result<Span, TooLarge> {
        // Where `s` starts in the text, by address: callers pass slices of this very
        // text. One that is not (a bug) is refused rather than misread.
        let at = (s.as_ptr() as usize).wrapping_sub(self.0.as_ptr() as usize);
        let inside = at <= self.0.len() && s.len() <= self.0.len() - at;
        debug_assert!(inside, "InPlace::span_of: not a slice of the text");
        if !inside {
            return Err(TooLarge::Text);
        }
        span(at, s.len())
    }
}

/// The text of `span` in `text` (`""` if out of bounds, which spans never are).
fn str_in(text: &str, span: Span) -> &str {
    let start = span.start as usize;
    text.get(start..start + span.len as usize).unwrap_or("")
}

impl Arena {
    fn with_root() -> Arena {
        Arena {
            nodes: vec![Rec::new(NONE, Span { start: 0, len: 0 })],
            index: FxHashMap::default(),
        }
    }

    /// Room for the nodes of `bytes` of configuration text (see
    /// [`Tree::with_capacity_for_text`]).
    fn reserve_for_text(&mut self, bytes: usize) {
        self.nodes.reserve(bytes / 24);
    }

    fn rec(&self, id: u32) -> &Rec {
        &self.nodes[id as usize]
    }

    /// The child of `parent` named `segment`, or how many children were looked at
    /// without finding it: all of them, unless they are indexed.
    fn lookup(&self, text: &str, parent: u32, segment: &str) -> Result<u32, u32> {
        let p = self.rec(parent);
        if p.indexed() {
            let child = self
                .index
                .get(&parent)
                .and_then(|index| index.get(&segment_hash(segment)));
            match child {
                Some(&child) if str_in(text, self.rec(child).segment()) == segment => {
                    return Ok(child)
                }
                // Not there, or a collision (then the scan below finds it).
                Some(_) => {}
                None => return Err(0),
            }
        }
        let mut seen = 0;
        let mut at = p.first_child;
        while at != NONE {
            let rec = self.rec(at);
            if str_in(text, rec.segment()) == segment {
                return Ok(at);
            }
            seen += 1;
            at = rec.next_sibling;
        }
        Err(seen)
    }

    /// The child of `parent` named `segment`, created (last, with no value)
    /// if missing.
    fn child_or_insert(
        &mut self,
        text: &mut impl Text,
        parent: u32,
        segment: &str,
    ) -> Result<u32, TooLarge> {
        let siblings = match self.lookup(text.as_str(), parent, segment) {
            Ok(child) => return Ok(child),
            Err(seen) => seen,
        };
        if segment.len() > MAX_SEGMENT {
            return Err(TooLarge::Segment);
        }
        let id = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&id| id != NONE)
            .ok_or(TooLarge::Text)?;
        let span = text.span_of(segment)?;
        self.nodes.push(Rec::new(parent, span));
        let p = &mut self.nodes[parent as usize];
        let last = std::mem::replace(&mut p.last_child, id);
        if last == NONE {
            p.first_child = id;
        } else {
            self.nodes[last as usize].next_sibling = id;
        }
        if self.nodes[parent as usize].indexed() {
            if let Some(index) = self.index.get_mut(&parent) {
                index.entry(segment_hash(segment)).or_insert(id);
            }
        } else if siblings + 1 > INDEX_THRESHOLD {
            let text = text.as_str();
            let mut index = FxHashMap::default();
            let mut at = self.rec(parent).first_child;
            while at != NONE {
                let hash = segment_hash(str_in(text, self.rec(at).segment()));
                index.entry(hash).or_insert(at);
                at = self.rec(at).next_sibling;
            }
            self.index.insert(parent, index);
            self.nodes[parent as usize].segment_len |= INDEXED;
        }
        Ok(id)
    }
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

impl Tree {
    /// An empty tree: just the root (path `""`).
    pub fn new() -> Tree {
        Tree {
            arena: Arena::with_root(),
            text: String::new(),
            files: Vec::new(),
            source_len: None,
        }
    }

    /// An empty tree with room for the keys of `bytes` of configuration text.
    ///
    /// Growing the arena by doubling would copy it a dozen times for a 100 MB file, and
    /// each copy writes pages the kernel must first clear: a quarter of the page faults
    /// of loading 10,000 virtual servers. Segments and values are disjoint parts of the
    /// lines, so the text never needs more than `bytes`; a Cherokee line is about 40
    /// bytes and makes one or two nodes, so one node per 24 bytes is rarely exceeded
    /// (and then the vector grows as usual). Capacity that is never written costs
    /// address space, not memory.
    pub fn with_capacity_for_text(bytes: usize) -> Tree {
        let mut tree = Tree::new();
        tree.arena.reserve_for_text(bytes);
        tree.text.reserve(bytes);
        tree
    }

    /// An empty tree whose keys and values will all be slices of `text`, set through
    /// [`Tree::building_in_place`]: the nodes point into that text, which the tree
    /// keeps ([`Tree::into_text`] gives it back as it was). Room is made for its nodes
    /// as in [`Tree::with_capacity_for_text`].
    pub(crate) fn over_text(text: String) -> Tree {
        let mut tree = Tree::new();
        tree.arena.reserve_for_text(text.len());
        tree.source_len = Some(text.len());
        tree.text = text;
        tree
    }

    /// The nodes, to be set with [`InPlace`] slices of the text also returned.
    pub(crate) fn building_in_place(&mut self) -> (&mut Arena, &str) {
        (&mut self.arena, &self.text)
    }

    /// The text the nodes point into: for a tree made by [`crate::load_tree`] of a
    /// file without includes, that file's text exactly as read (handed over, not
    /// copied, and without what [`Tree::insert`] may have added since); otherwise the
    /// segments and values in the order they were set.
    pub fn into_text(self) -> String {
        let mut text = self.text;
        if let Some(len) = self.source_len {
            text.truncate(len);
        }
        text
    }

    /// The root node.
    pub fn root(&self) -> Node<'_> {
        Node { tree: self, id: 0 }
    }

    /// How many nodes the tree has (the root included). Node ids run from 0
    /// to `len() - 1`.
    pub fn len(&self) -> usize {
        self.arena.nodes.len()
    }

    /// Whether nothing was ever set (only the root exists).
    pub fn is_empty(&self) -> bool {
        self.len() == 1 && self.rec(0).value.start == NONE
    }

    /// The node numbered `id`, if there is one.
    pub fn node(&self, id: usize) -> Option<Node<'_>> {
        (id < self.len()).then_some(Node {
            tree: self,
            id: id as u32,
        })
    }

    /// Every node in id order: a parent always comes before its children.
    pub fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        (0..self.len() as u32).map(move |id| Node { tree: self, id })
    }

    /// Sets the full `key` (`!`-separated) to `value`, written at
    /// `location`. Returns where it was set before, if it was: the new value
    /// wins. A key that would make the tree's text exceed 4 GiB is not set.
    pub fn insert(&mut self, key: &str, value: &str, location: Location) -> Option<Location> {
        let file = self.file_id(&location.file);
        let (arena, mut text) = self.appending();
        let previous = Inserter::default()
            .insert(arena, &mut text, key, value, file, location.line)
            .ok()??;
        self.location_of(previous.0, previous.1)
    }

    /// The nodes, to be set with keys and values copied to the end of the text.
    pub(crate) fn appending(&mut self) -> (&mut Arena, Appending<'_>) {
        (&mut self.arena, Appending(&mut self.text))
    }

    /// The number of `file` among the tree's files, added if new.
    pub(crate) fn file_id(&mut self, file: &Arc<PathBuf>) -> u32 {
        let found = self
            .files
            .iter()
            .rposition(|f| Arc::ptr_eq(f, file) || f == file);
        match found {
            Some(i) => i as u32,
            None => {
                self.files.push(file.clone());
                (self.files.len() - 1) as u32
            }
        }
    }

    pub(crate) fn location_of(&self, file: u32, line: u32) -> Option<Location> {
        let file = self.files.get(file as usize)?;
        Some(Location::new(file.clone(), line))
    }

    fn rec(&self, id: u32) -> &Rec {
        self.arena.rec(id)
    }

    fn str_of(&self, span: Span) -> &str {
        str_in(&self.text, span)
    }

    fn find_child(&self, parent: u32, segment: &str) -> Option<u32> {
        self.arena.lookup(&self.text, parent, segment).ok()
    }
}

/// A node of a [`Tree`]: an optional value with the location that set it,
/// and children in first-seen order. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Node<'t> {
    tree: &'t Tree,
    id: u32,
}

impl<'t> Node<'t> {
    fn rec(&self) -> &'t Rec {
        self.tree.rec(self.id)
    }

    fn at(&self, id: u32) -> Node<'t> {
        Node {
            tree: self.tree,
            id,
        }
    }

    /// The node's number in its tree: dense, from 0 (the root) to
    /// [`Tree::len`] - 1, for per-node marks kept in a bitset.
    pub fn id(&self) -> usize {
        self.id as usize
    }

    /// The tree this node belongs to.
    pub fn tree(&self) -> &'t Tree {
        self.tree
    }

    /// The parent node; `None` for the root.
    pub fn parent(&self) -> Option<Node<'t>> {
        let parent = self.rec().parent;
        (parent != NONE).then(|| self.at(parent))
    }

    /// The full key of this node (`vserver!1!rule`); `""` for the root.
    /// Built on demand: keys are not stored whole.
    pub fn path(&self) -> String {
        let mut segments = Vec::new();
        let mut node = *self;
        while let Some(parent) = node.parent() {
            segments.push(node.segment());
            node = parent;
        }
        let mut path = String::with_capacity(segments.iter().map(|s| s.len() + 1).sum());
        for (i, segment) in segments.iter().rev().enumerate() {
            if i > 0 {
                path.push('!');
            }
            path.push_str(segment);
        }
        path
    }

    /// The last segment of the key (`rule` for `vserver!1!rule`); `""` for the root.
    pub fn segment(&self) -> &'t str {
        self.tree.str_of(self.rec().segment())
    }

    /// The value, if this key itself was written.
    pub fn value(&self) -> Option<&'t str> {
        let span = self.rec().value;
        (span.start != NONE).then(|| self.tree.str_of(span))
    }

    /// Where the value was written (the last time, if written more than once).
    pub fn location(&self) -> Option<Location> {
        let rec = self.rec();
        if rec.value.start == NONE {
            return None;
        }
        self.tree.location_of(u32::from(rec.file), rec.line)
    }

    /// The node's own location, else the earliest line that wrote anything
    /// below it: the place to point at when a required key is missing.
    ///
    /// (Found by following first children down to a leaf: they were all
    /// created by that earliest line. If that line's key was written again
    /// later, the later line is given.)
    pub fn first_location(&self) -> Option<Location> {
        if let Some(location) = self.location() {
            return Some(location);
        }
        let mut id = self.id;
        while self.tree.rec(id).first_child != NONE {
            id = self.tree.rec(id).first_child;
        }
        self.at(id).location()
    }

    /// The direct child named `segment`.
    pub fn child(&self, segment: &str) -> Option<Node<'t>> {
        self.tree.find_child(self.id, segment).map(|id| self.at(id))
    }

    /// The node at `path` relative to this one (`rule!100!match`); the empty
    /// path is this node itself.
    pub fn get(&self, path: &str) -> Option<Node<'t>> {
        if path.is_empty() {
            return Some(*self);
        }
        path.split('!').try_fold(*self, |node, seg| node.child(seg))
    }

    /// The value at `path` relative to this node.
    pub fn get_value(&self, path: &str) -> Option<&'t str> {
        self.get(path).and_then(|n| n.value())
    }

    /// The children with their segments, in the order first seen.
    pub fn children(&self) -> Children<'t> {
        Children {
            tree: self.tree,
            next: self.rec().first_child,
        }
    }

    /// How many children the node has.
    pub fn child_count(&self) -> usize {
        self.children().count()
    }

    /// The children split into a numbered list and the rest: those whose
    /// segment is a decimal number, sorted by that number (2 < 10 < 100;
    /// equal numbers such as `7` and `07` keep first-seen order), and the
    /// others in first-seen order.
    #[allow(clippy::type_complexity)]
    pub fn numbered(&self) -> (Vec<(u64, Node<'t>)>, Vec<(&'t str, Node<'t>)>) {
        // (Not sized from `child_count`, which would walk the children a second time.)
        let mut numbered = Vec::new();
        let mut others = Vec::new();
        let mut sorted = true;
        for (segment, child) in self.children() {
            match numeric_segment(segment) {
                Some(n) => {
                    sorted &= numbered.last().is_none_or(|&(last, _)| last <= n);
                    numbered.push((n, child));
                }
                None => others.push((segment, child)),
            }
        }
        if !sorted {
            numbered.sort_by_key(|(n, _)| *n);
        }
        (numbered, others)
    }

    /// Whether the node has neither a value nor children.
    pub fn is_empty(&self) -> bool {
        let rec = self.rec();
        rec.value.start == NONE && rec.first_child == NONE
    }

    /// Every node below this one that has a value, depth first in
    /// first-seen order, with its full key.
    pub fn values(&self) -> Vec<(String, &'t str)> {
        let mut out = Vec::new();
        let mut stack = vec![*self];
        while let Some(node) = stack.pop() {
            if let Some(v) = node.value() {
                out.push((node.path(), v));
            }
            let first = stack.len();
            stack.extend(node.children().map(|(_, c)| c));
            stack[first..].reverse();
        }
        out
    }
}

/// The children of a node, in first-seen order (see [`Node::children`]).
pub struct Children<'t> {
    tree: &'t Tree,
    next: u32,
}

impl<'t> Iterator for Children<'t> {
    type Item = (&'t str, Node<'t>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == NONE {
            return None;
        }
        let id = self.next;
        let rec = self.tree.rec(id);
        self.next = rec.next_sibling;
        Some((
            self.tree.str_of(rec.segment()),
            Node {
                tree: self.tree,
                id,
            },
        ))
    }
}

/// Inserts many keys into one tree quickly.
///
/// Consecutive lines of a configuration mostly share a prefix
/// (`vserver!7!rule!30!...` follows `vserver!7!rule!20!...`), so the
/// inserter remembers the nodes of the previous key and only looks up the
/// segments that differ. Nodes are never removed, so remembered ones stay
/// valid as long as every key goes into the same tree.
#[derive(Default)]
pub(crate) struct Inserter<'k> {
    last_key: &'k str,
    /// For each segment of `last_key` that was inserted: where it ends in
    /// `last_key`, and its node.
    path: Vec<(usize, u32)>,
}

impl<'k> Inserter<'k> {
    /// Sets `key` to `value` below the root of `arena` (always the same tree for one
    /// inserter, with segments and values kept in `text`), written at `line` of file
    /// number `file`. Returns where it was set before (file number and line), if it
    /// was.
    pub(crate) fn insert(
        &mut self,
        arena: &mut Arena,
        text: &mut impl Text,
        key: &'k str,
        value: &str,
        file: u32,
        line: u32,
    ) -> Result<Option<(u32, u32)>, TooLarge> {
        let k = key.as_bytes();
        let same = common_prefix(self.last_key.as_bytes(), k);
        // The previous key's segments that end inside the common prefix, or at its end
        // where this key's segment ends too, are this key's first segments.
        let shared = self
            .path
            .iter()
            .take_while(|&&(end, _)| {
                end < same || (end == same && k.get(same).is_none_or(|&c| c == b'!'))
            })
            .count();
        self.path.truncate(shared);
        self.last_key = key;
        let (mut node, mut start) = match self.path.last() {
            Some(&(end, node)) => (node, end + 1),
            None => (0, 0),
        };
        while start <= k.len() {
            let end = k[start..]
                .iter()
                .position(|&c| c == b'!')
                .map_or(k.len(), |i| start + i);
            // Cut at `!` (ASCII): always on a character boundary.
            let segment = key.get(start..end).unwrap_or("");
            match arena.child_or_insert(text, node, segment) {
                Ok(child) => node = child,
                Err(e) => {
                    // The remembered path is incomplete: start afresh next time.
                    self.path.clear();
                    return Err(e);
                }
            }
            self.path.push((end, node));
            start = end + 1;
        }
        let file = u16::try_from(file).map_err(|_| TooLarge::Files)?;
        let span = text.span_of(value)?;
        let rec = &mut arena.nodes[node as usize];
        let previous = (rec.value.start != NONE).then_some((u32::from(rec.file), rec.line));
        rec.value = span;
        rec.file = file;
        rec.line = line;
        Ok(previous)
    }
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Node");
        s.field("path", &self.path());
        if let Some(v) = self.value() {
            s.field("value", &v);
        }
        let children: Vec<Node<'_>> = self.children().map(|(_, c)| c).collect();
        if !children.is_empty() {
            s.field("children", &children);
        }
        s.finish()
    }
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root().fmt(f)
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
        let mut tree = Tree::new();
        assert!(tree.root().is_empty());
        assert!(tree.is_empty());
        tree.insert("vserver!1!nick", "default", loc(1));
        tree.insert("vserver!1!rule!100!match", "directory", loc(2));
        let root = tree.root();
        assert_eq!(root.get_value("vserver!1!nick"), Some("default"));
        let vs = root.get("vserver!1").unwrap();
        assert_eq!(vs.path(), "vserver!1");
        assert_eq!(vs.segment(), "1");
        assert_eq!(vs.value(), None);
        assert_eq!(vs.location(), None);
        assert_eq!(vs.first_location(), Some(loc(1)));
        assert_eq!(vs.get_value("rule!100!match"), Some("directory"));
        assert_eq!(vs.get("rule!100!match").unwrap().location(), Some(loc(2)));
        assert_eq!(
            vs.get("rule!100!match").unwrap().path(),
            "vserver!1!rule!100!match"
        );
        assert!(root.get("vserver!2").is_none());
        assert!(root.get("vserver!1!nick!x").is_none());
        assert_eq!(root.get("").unwrap().path(), "");
        assert!(!root.is_empty());
        assert!(!tree.is_empty());
        assert_eq!(vs.parent().unwrap().segment(), "vserver");
        assert!(root.parent().is_none());
    }

    #[test]
    fn last_write_wins_and_reports_previous() {
        let mut tree = Tree::new();
        assert_eq!(tree.insert("a!b", "1", loc(1)), None);
        assert_eq!(tree.insert("a!b", "2", loc(5)), Some(loc(1)));
        let root = tree.root();
        assert_eq!(root.get_value("a!b"), Some("2"));
        assert_eq!(root.get("a!b").unwrap().location(), Some(loc(5)));
        assert_eq!(root.get("a").unwrap().first_location(), Some(loc(5)));
        tree.insert("x!y!z", "1", loc(10));
        tree.insert("x!y", "2", loc(11));
        tree.insert("x!w", "3", loc(12));
        let root = tree.root();
        assert_eq!(root.get("x").unwrap().first_location(), Some(loc(10)));
        assert_eq!(root.get("x!y").unwrap().first_location(), Some(loc(11)));
    }

    #[test]
    fn numbered_children_sort_numerically() {
        let mut tree = Tree::new();
        for (i, n) in ["100", "nick", "2", "10", "abc", "1"].iter().enumerate() {
            tree.insert(&format!("rule!{n}"), "x", loc(i as u32 + 1));
        }
        let rule = tree.root().child("rule").unwrap();
        let (numbers, others) = rule.numbered();
        let numbers: Vec<u64> = numbers.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, vec![1, 2, 10, 100]);
        let others: Vec<&str> = others.iter().map(|(s, _)| *s).collect();
        assert_eq!(others, vec!["nick", "abc"]);
        let order: Vec<&str> = rule.children().map(|(s, _)| s).collect();
        assert_eq!(order, vec!["100", "nick", "2", "10", "abc", "1"]);
    }

    #[test]
    fn nodes_stay_small() {
        assert_eq!(std::mem::size_of::<Rec>(), 36);
    }

    #[test]
    fn a_segment_too_long_is_refused_and_the_rest_is_set() {
        let mut tree = Tree::new();
        let long = "x".repeat(MAX_SEGMENT + 1);
        let (arena, mut text) = tree.appending();
        let mut inserter = Inserter::default();
        let key = format!("a!{long}!b");
        assert_eq!(
            inserter.insert(arena, &mut text, &key, "1", 0, 1),
            Err(TooLarge::Segment)
        );
        let fits = format!("a!{}", &long[1..]);
        assert_eq!(
            inserter.insert(arena, &mut text, &fits, "2", 0, 2),
            Ok(None)
        );
        assert_eq!(
            inserter.insert(arena, &mut text, "a!c", "3", 0, 3),
            Ok(None)
        );
        let root = tree.root();
        assert_eq!(root.get_value(&fits), Some("2"));
        assert_eq!(root.get_value("a!c"), Some("3"));
        assert_eq!(root.get("a").unwrap().child_count(), 2);
    }

    #[test]
    fn many_children_use_the_index() {
        let mut tree = Tree::new();
        for i in 0..1000 {
            tree.insert(&format!("vserver!{i}!nick"), &format!("v{i}"), loc(i + 1));
        }
        assert!(!tree.arena.index.is_empty());
        let vs = tree.root().child("vserver").unwrap();
        assert_eq!(vs.children().count(), 1000);
        assert_eq!(vs.child_count(), 1000);
        assert_eq!(vs.get_value("567!nick"), Some("v567"));
        tree.insert("vserver!567!nick", "again", loc(2000));
        let root = tree.root();
        assert_eq!(root.child("vserver").unwrap().children().count(), 1000);
        assert_eq!(root.get_value("vserver!567!nick"), Some("again"));
        // Every child is found, whether indexed or not.
        for i in 0..1000 {
            assert!(root.get(&format!("vserver!{i}")).is_some(), "{i}");
        }
        assert!(root.get("vserver!1000").is_none());
    }

    #[test]
    fn values_walk_in_order() {
        let mut tree = Tree::new();
        tree.insert("b", "1", loc(1));
        tree.insert("a!x", "2", loc(2));
        tree.insert("b!y", "3", loc(3));
        let values = tree.root().values();
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(values, vec![("b", "1"), ("b!y", "3"), ("a!x", "2")]);
    }

    #[test]
    fn consecutive_keys_reuse_the_path_correctly() {
        let keys = [
            "a!b!c", "a!b", "a!bc", "a!b!c!d", "a", "b", "a!b!c", "a!b!e", "a!b!c",
        ];
        let mut tree = Tree::new();
        for (i, k) in keys.iter().enumerate() {
            tree.insert(k, &i.to_string(), loc(i as u32 + 1));
        }
        let root = tree.root();
        assert_eq!(root.get_value("a!b!c"), Some("8"));
        assert_eq!(root.get_value("a!b"), Some("1"));
        assert_eq!(root.get_value("a!bc"), Some("2"));
        assert_eq!(root.get_value("a!b!c!d"), Some("3"));
        assert_eq!(root.get_value("a"), Some("4"));
        assert_eq!(root.get_value("b"), Some("5"));
        assert_eq!(root.get_value("a!b!e"), Some("7"));
        assert_eq!(root.get("a!b").unwrap().child_count(), 2);
        // Parents come before their children.
        for node in tree.nodes() {
            if let Some(parent) = node.parent() {
                assert!(parent.id() < node.id());
            }
        }
    }

    proptest::proptest! {
        /// One inserter remembering the previous key's nodes builds the same tree as
        /// every key inserted from the root, whatever the order of the keys, in place
        /// over a text as when copying.
        #[test]
        fn remembered_paths_build_the_same_tree(
            keys in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec!["a", "b", "ab", "1", "10", "x"]), 1..5),
                1..40,
            )
        ) {
            let keys: Vec<String> = keys.iter().map(|k| k.join("!")).collect();
            let mut fresh = Tree::new();
            for (i, k) in keys.iter().enumerate() {
                fresh.insert(k, &i.to_string(), loc(i as u32 + 1));
            }
            let mut text = String::new();
            for (i, k) in keys.iter().enumerate() {
                text.push_str(&format!("{k} {i}\n"));
            }
            let source = text.clone();
            let mut in_place = Tree::over_text(text);
            let (arena, text) = in_place.building_in_place();
            let mut inserter = Inserter::default();
            for (i, line) in text.lines().enumerate() {
                let (k, v) = line.split_once(' ').unwrap();
                inserter.insert(arena, &mut InPlace(text), k, v, 0, i as u32 + 1).unwrap();
            }
            let mut appended = Tree::new();
            let (arena, mut text) = appended.appending();
            let mut inserter = Inserter::default();
            for (i, k) in keys.iter().enumerate() {
                inserter.insert(arena, &mut text, k, &i.to_string(), 0, i as u32 + 1).unwrap();
            }
            let shape = |tree: &Tree| {
                tree.nodes()
                    .map(|n| (n.path(), n.value().map(str::to_owned), n.rec().line))
                    .collect::<Vec<_>>()
            };
            proptest::prop_assert_eq!(shape(&in_place), shape(&fresh));
            // Set later by copying, a key leaves the text handed back as it was.
            in_place.insert("later!key", "v", loc(1));
            proptest::prop_assert_eq!(in_place.root().get_value("later!key"), Some("v"));
            proptest::prop_assert_eq!(in_place.into_text(), source);
            proptest::prop_assert_eq!(shape(&appended), shape(&fresh));
        }
    }
}
