//! The `cherokee.conf` key tree: lossless text on one side, a merged tree
//! with source locations on the other.
//!
//! A Cherokee configuration is a list of `key = value` lines whose keys are
//! paths (`vserver!10!rule!100!match!directory = /icons`). This crate reads
//! such files for two different customers:
//!
//! * the administration side, which edits files and must write them back
//!   exactly as they were apart from the lines it changed: [`ConfFile`];
//! * the server, which needs the merged tree of the main file and all its
//!   includes, with the file and line of every value so that any problem can
//!   be reported where the operator can fix it: [`load`], [`Node`],
//!   [`Diagnostic`].
//!
//! Nothing here panics on bad input: problems become [`Diagnostic`]s.

mod diagnostic;
mod entries;
mod file;
mod hash;
mod include;
mod key;
mod location;
mod tree;

pub use diagnostic::{Diagnostic, Severity};
pub use file::{ConfFile, Entry};
pub use include::{
    load, load_str, load_tree, load_tree_text, tree_from_files, Loaded, LoadedTree, INCLUDE_KEY,
};
pub use key::{key_problem, numeric_segment};
pub use location::Location;
pub use tree::{Children, Node, Tree};
