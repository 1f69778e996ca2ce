//! Where a key was written.
//!
//! Every value read from a configuration remembers the file and line it came
//! from, so that a problem found much later (while building the typed model,
//! or while starting the server) can still point the operator at the exact
//! line to fix.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a key was written: the file and 1-based line.
///
/// The path is shared (`Arc`) because every line of a file carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was named when it was loaded (not canonicalized).
    pub file: Arc<PathBuf>,
    /// The 1-based line number.
    pub line: u32,
}

impl Location {
    /// A location in `file` at the 1-based `line`.
    pub fn new(file: Arc<PathBuf>, line: u32) -> Self {
        Location { file, line }
    }
}

impl fmt::Display for Location {
    /// `path:line`, the form editors and terminals understand.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_path_colon_line() {
        let loc = Location::new(Arc::new(PathBuf::from("/etc/cherokee/cherokee.conf")), 12);
        assert_eq!(loc.to_string(), "/etc/cherokee/cherokee.conf:12");
    }
}
