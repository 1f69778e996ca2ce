//! Reading a whole configuration: the main file, its includes, and the
//! merged tree.
//!
//! `include = PATH` names a file, or a directory whose files are all read
//! (sorted by name, skipping hidden files and editor backups ending in `~`).
//! A relative path is resolved against the directory of the file that
//! includes it. The included keys take effect where the `include` line
//! stands: a key written after the include line overrides the included one,
//! and an included key overrides one written before the include line.
//!
//! Reading happens in two steps. First every file is read (each file once,
//! even if included several times) and every include line is resolved to
//! the files it names. Then the tree is built by walking the main file and
//! stepping into the included files at their include lines; cycles are
//! caught during that walk. [`tree_from_files`] does the second step for
//! files already in memory (for instance after the administration tool
//! edited them), resolving include lines among those files by path.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::entries::for_each_entry;
use crate::file::{line_number, ConfFile, Read};
use crate::location::Location;
use crate::tree::{InPlace, Inserter, TooLarge, Tree};

/// The key that includes other files. It is consumed: it never appears in
/// the merged tree.
pub const INCLUDE_KEY: &str = "include";

/// How deeply includes may nest before we assume something is wrong.
const MAX_DEPTH: usize = 64;

/// Everything read for one configuration: the files as read (for writing
/// back) and the merged tree.
#[derive(Debug)]
pub struct Loaded {
    /// The main file first, then the included files in the order read.
    pub files: Vec<ConfFile>,
    /// The merged key tree.
    pub tree: Tree,
    /// Every problem found, errors and warnings, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// For each file, the files named by each of its include lines (by line).
type Includes = Vec<HashMap<u32, Vec<usize>>>;

/// Reads the file at `path` and everything it includes, and builds the tree.
///
/// Only a failure to read the main file is an `Err`; an include that cannot
/// be read is an error [`Diagnostic`] at the include line.
pub fn load(path: &Path) -> io::Result<Loaded> {
    let (main, diagnostics) = ConfFile::load_with(path, false)?;
    Ok(load_from(main, diagnostics))
}

/// Like [`load`], for a main file already in memory. Includes are read from
/// disk, relative to the directory of `path`.
pub fn load_str(path: impl Into<PathBuf>, text: &str) -> Loaded {
    let (main, diagnostics) = ConfFile::parse_with(path.into(), text, false);
    load_from(main, diagnostics)
}

fn load_from(main: ConfFile, mut diagnostics: Vec<Diagnostic>) -> Loaded {
    let mut files = vec![main];
    let includes = read_includes(&mut files, &mut diagnostics);
    // The files were parsed without looking for repeated keys: the tree
    // reports them all, within and across files.
    let (tree, more) = build(&files, &includes, true);
    diagnostics.extend(more);
    Loaded {
        files,
        tree,
        diagnostics,
    }
}

/// A configuration read for its tree only (see [`load_tree`]).
#[derive(Debug)]
pub struct LoadedTree {
    /// The main file's text as read, for a file with includes. Without includes it is
    /// the tree's own text (its nodes point into it), which [`Tree::into_text`] hands
    /// over once the tree is no longer needed; then this is `None`.
    pub text: Option<String>,
    /// The merged key tree.
    pub tree: Tree,
    /// Every problem found, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadedTree {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Like [`load`], for a reader that needs the tree and the main file's text but not the
/// files line by line (the server: a 100 MB configuration's line index is another
/// 100 MB to fill and free). A file without include lines is put in the tree while it
/// is scanned; one with includes goes through [`load`]. The tree and the diagnostics are
/// those [`load`] gives (without includes, the diagnostics come in line order).
pub fn load_tree(path: &Path) -> io::Result<LoadedTree> {
    Ok(load_tree_text(path, crate::file::read_text(path)?))
}

/// [`load_tree`] of the file at `path` whose text was already read (includes, if it has
/// any, are still read from disk relative to `path`).
pub fn load_tree_text(path: &Path, text: String) -> LoadedTree {
    let shared = Arc::new(path.to_path_buf());
    let location = |line: usize| Location::new(shared.clone(), line_number(line));
    let mut tree = Tree::over_text(text);
    let file = tree.file_id(&shared);
    let mut diagnostics = Vec::new();
    let mut too_large = false;
    let mut include = false;
    let (arena, text) = tree.building_in_place();
    let mut inserter = Inserter::default();
    for_each_entry(text, |index, read| {
        match read {
            Read::Nothing => {}
            Read::Problem(key, message) => {
                diagnostics.push(Diagnostic::error(Some(location(index)), key, message));
            }
            Read::Entry { key, .. } if key == INCLUDE_KEY => {
                include = true;
                return ControlFlow::Break(());
            }
            Read::Entry { key, value } => {
                let inserted = inserter.insert(
                    arena,
                    &mut InPlace(text),
                    key,
                    value,
                    file,
                    line_number(index),
                );
                match inserted {
                    Ok(None) => {}
                    Ok(Some((_, previous))) => diagnostics.push(Diagnostic::warning(
                        Some(location(index)),
                        key,
                        format!("also set at line {previous}; this later value wins"),
                    )),
                    Err(e) => {
                        if report_too_large(e, &mut too_large) {
                            diagnostics.push(too_large_error(location(index), key, e));
                        }
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    if include {
        let text = tree.into_text();
        let (main, diagnostics) = ConfFile::parse_owned(path.to_path_buf(), text, false);
        let loaded = load_from(main, diagnostics);
        let text = loaded
            .files
            .into_iter()
            .next()
            .map(ConfFile::into_text)
            .unwrap_or_default();
        return LoadedTree {
            text: Some(text),
            tree: loaded.tree,
            diagnostics: loaded.diagnostics,
        };
    }
    LoadedTree {
        text: None,
        tree,
        diagnostics,
    }
}

/// The error for `key`, at `location`, not set because of `e`.
fn too_large_error(location: Location, key: &str, e: TooLarge) -> Diagnostic {
    Diagnostic::error(Some(location), key, e.message())
}

/// Whether to report `e`: every key with a segment too long, a full tree only once
/// (every key after it fails the same way).
fn report_too_large(e: TooLarge, reported: &mut bool) -> bool {
    if e == TooLarge::Segment {
        return true;
    }
    !std::mem::replace(reported, true)
}

/// The directory relative include paths in `file` are resolved against.
fn base_dir(file: &ConfFile) -> &Path {
    file.path().parent().unwrap_or(Path::new(""))
}

/// Whether a file found in an included directory should be skipped: hidden
/// files and editor backups.
fn skipped_name(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || name.ends_with('~')
}

/// Step one of [`load`]: reads every file reachable through include lines,
/// appending them to `files`, and records what each include line names.
fn read_includes(files: &mut Vec<ConfFile>, diagnostics: &mut Vec<Diagnostic>) -> Includes {
    let mut includes: Includes = Vec::new();
    // Files already read, by canonical path (falling back to the path as
    // named when it cannot be canonicalized, e.g. an in-memory main file).
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    if let Some(main) = files.first() {
        seen.insert(canonical(main.path()), 0);
    }
    let mut current = 0;
    while current < files.len() {
        let mut resolved = HashMap::new();
        let requests: Vec<(u32, String)> = files[current]
            .entries()
            .filter(|e| e.key == INCLUDE_KEY)
            .map(|e| (e.line, e.value.to_owned()))
            .collect();
        for (line, value) in requests {
            let location = files[current].location(line);
            let error =
                |message: String| Diagnostic::error(Some(location.clone()), INCLUDE_KEY, message);
            if value.is_empty() {
                diagnostics.push(error(
                    "needs the path of a file or directory to include".into(),
                ));
                continue;
            }
            let target = base_dir(&files[current]).join(&value);
            let paths = match list_target(&target) {
                Ok((paths, skipped_dirs)) => {
                    for dir in skipped_dirs {
                        diagnostics.push(Diagnostic::warning(
                            Some(location.clone()),
                            INCLUDE_KEY,
                            format!(
                                "`{}` is a directory inside the included directory; it is not read (includes do not descend into subdirectories)",
                                dir.display()
                            ),
                        ));
                    }
                    paths
                }
                Err(e) => {
                    diagnostics.push(error(format!("cannot read `{}`: {e}", target.display())));
                    continue;
                }
            };
            let mut targets = Vec::new();
            for path in paths {
                let key = canonical(&path);
                if let Some(&index) = seen.get(&key) {
                    targets.push(index);
                    continue;
                }
                match ConfFile::load_with(&path, false) {
                    Ok((file, found)) => {
                        diagnostics.extend(found);
                        seen.insert(key, files.len());
                        targets.push(files.len());
                        files.push(file);
                    }
                    Err(e) => {
                        diagnostics.push(error(format!("cannot read `{}`: {e}", path.display())));
                    }
                }
            }
            resolved.insert(line, targets);
        }
        includes.push(resolved);
        current += 1;
    }
    includes
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The files an include target names: itself if it is a file, or the files
/// of a directory sorted by name (plus the subdirectories found there, which
/// are not read).
fn list_target(target: &Path) -> io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let metadata = std::fs::metadata(target)?;
    if metadata.is_file() {
        return Ok((vec![target.to_path_buf()], Vec::new()));
    }
    if !metadata.is_dir() {
        // A device or pipe could block forever or never end.
        return Err(io::Error::other("not a regular file or directory"));
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(target)? {
        let entry = entry?;
        if skipped_name(&entry.file_name()) {
            continue;
        }
        found.push((entry.file_name(), entry.path()));
    }
    found.sort();
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for (_, path) in found {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => dirs.push(path),
            Ok(m) if !m.is_file() => {} // devices, pipes, sockets
            // Regular files, and entries we cannot even inspect (reading
            // them reports why).
            _ => files.push(path),
        }
    }
    Ok((files, dirs))
}

/// Builds the merged tree of files already in memory.
///
/// The first file is the main one. An `include` line is resolved among the
/// given files by path (the path the include names, joined to the including
/// file's directory, as [`load`] names the files it reads): a file with
/// exactly that path, or else all files directly inside that directory, by
/// name. Files that no include line reaches are merged afterwards, in order.
///
/// The diagnostics are about the tree: include cycles, includes naming no
/// given file, and keys set in more than one file. (Keys set twice within
/// one file are reported by [`ConfFile::parse`].)
pub fn tree_from_files(files: &[ConfFile]) -> (Tree, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let by_path: HashMap<&Path, usize> = files
        .iter()
        .enumerate()
        .rev()
        .map(|(i, f)| (f.path(), i))
        .collect();
    let mut includes: Includes = Vec::with_capacity(files.len());
    for file in files {
        let mut resolved = HashMap::new();
        for entry in file.entries().filter(|e| e.key == INCLUDE_KEY) {
            if entry.value.is_empty() {
                diagnostics.push(Diagnostic::error(
                    Some(file.location(entry.line)),
                    INCLUDE_KEY,
                    "needs the path of a file or directory to include",
                ));
                continue;
            }
            let target = base_dir(file).join(entry.value);
            let targets = match by_path.get(target.as_path()) {
                Some(&i) => vec![i],
                None => {
                    let mut inside: Vec<(&OsStr, usize)> = files
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| f.path().parent() == Some(target.as_path()))
                        .filter_map(|(i, f)| f.path().file_name().map(|n| (n, i)))
                        .filter(|(n, _)| !skipped_name(n))
                        .collect();
                    inside.sort();
                    inside.into_iter().map(|(_, i)| i).collect()
                }
            };
            if targets.is_empty() {
                diagnostics.push(Diagnostic::error(
                    Some(file.location(entry.line)),
                    INCLUDE_KEY,
                    format!("`{}` is not among the files read", target.display()),
                ));
            }
            resolved.insert(entry.line, targets);
        }
        includes.push(resolved);
    }
    let (tree, more) = build(files, &includes, false);
    diagnostics.extend(more);
    (tree, diagnostics)
}

/// Step two: merges the files into one tree, following include lines.
/// Repeated keys are reported when set in different files, and also within
/// one file if `same_file_duplicates`.
fn build(
    files: &[ConfFile],
    includes: &Includes,
    same_file_duplicates: bool,
) -> (Tree, Vec<Diagnostic>) {
    let mut builder = Builder {
        inserter: Inserter::default(),
        same_file_duplicates,
        files,
        includes,
        tree: Tree::with_capacity_for_text(files.iter().map(ConfFile::text_bound).sum()),
        too_large: false,
        diagnostics: Vec::new(),
        stack: Vec::new(),
        visited: vec![false; files.len()],
    };
    for index in 0..files.len() {
        if !builder.visited[index] {
            builder.walk(index);
        }
    }
    (builder.tree, builder.diagnostics)
}

struct Builder<'a> {
    inserter: Inserter<'a>,
    same_file_duplicates: bool,
    files: &'a [ConfFile],
    includes: &'a Includes,
    tree: Tree,
    /// Whether a key was dropped because the tree was full (reported once).
    too_large: bool,
    diagnostics: Vec<Diagnostic>,
    /// The files being read, outermost first (to catch cycles).
    stack: Vec<usize>,
    visited: Vec<bool>,
}

impl<'a> Builder<'a> {
    /// Reports `key`, set at `previous`, being set again at `location`.
    fn repeated(&mut self, key: &str, previous: Location, location: Location) {
        let message = if previous.file != location.file {
            format!("also set at {previous}; this value, read later, wins")
        } else if self.same_file_duplicates && previous.line != location.line {
            format!("also set at line {}; this later value wins", previous.line)
        } else {
            // The same line read twice (a file included twice), or a repeat
            // within one file that `ConfFile::parse` already reported.
            return;
        };
        self.diagnostics
            .push(Diagnostic::warning(Some(location), key, message));
    }

    fn walk(&mut self, index: usize) {
        let files: &'a [ConfFile] = self.files;
        let Some(file) = files.get(index) else {
            return;
        };
        self.visited[index] = true;
        self.stack.push(index);
        let file_id = self.tree.file_id(file.shared_path());
        for entry in file.entries() {
            if entry.key != INCLUDE_KEY {
                let (arena, mut text) = self.tree.appending();
                let inserted = self.inserter.insert(
                    arena,
                    &mut text,
                    entry.key,
                    entry.value,
                    file_id,
                    entry.line,
                );
                match inserted {
                    Ok(None) => {}
                    Ok(Some((previous_file, previous_line))) => {
                        let previous = self.tree.location_of(previous_file, previous_line);
                        if let Some(previous) = previous {
                            self.repeated(entry.key, previous, file.location(entry.line));
                        }
                    }
                    Err(e) => {
                        if report_too_large(e, &mut self.too_large) {
                            self.diagnostics.push(too_large_error(
                                file.location(entry.line),
                                entry.key,
                                e,
                            ));
                        }
                    }
                }
                continue;
            }
            let location = file.location(entry.line);
            let targets = self
                .includes
                .get(index)
                .and_then(|m| m.get(&entry.line))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for &target in targets {
                if let Some(pos) = self.stack.iter().position(|&i| i == target) {
                    let chain: Vec<String> = self.stack[pos..]
                        .iter()
                        .chain(std::iter::once(&target))
                        .map(|&i| self.files[i].path().display().to_string())
                        .collect();
                    self.diagnostics.push(Diagnostic::error(
                        Some(location.clone()),
                        INCLUDE_KEY,
                        format!(
                            "include cycle: {}; this include is ignored",
                            chain.join(" -> ")
                        ),
                    ));
                } else if self.stack.len() >= MAX_DEPTH {
                    self.diagnostics.push(Diagnostic::error(
                        Some(location.clone()),
                        INCLUDE_KEY,
                        format!(
                            "includes nest more than {MAX_DEPTH} deep; this include is ignored"
                        ),
                    ));
                } else {
                    self.walk(target);
                }
            }
        }
        self.stack.pop();
    }
}
