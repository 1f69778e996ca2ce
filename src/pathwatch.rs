//! Paths known not to have changed since they were last checked, so that a cache can
//! answer for them without a `stat`.
//!
//! A `stat` of a path is a walk of every component in the kernel; on a small static file
//! it was the largest single cost of a request. Instead, a registered path depends on the
//! inotify watch ([`crate::fswatch`]) of every directory it goes through, each for one
//! name: `/srv/www/index.html` on (`/`, `srv`), (`/srv`, `www`) and (`/srv/www`,
//! `index.html`). Whatever could make the path name something else, or change the file it
//! names, is an event on one of them: a component renamed, deleted, replaced or its
//! permissions changed (in its parent's watch, under its name), the file written, truncated
//! or touched (in its directory's watch; the directories it only goes through are watched
//! for changes to their entries, not for writes to the files in them, so that a log file
//! written beside a document root is no event). An event ends every registration that
//! depends on that name (or, for an event on a directory itself, on that directory), and
//! the owner hears of it before it next answers: [`PathWatch::drain`] reads the queue,
//! which the kernel fills inside the system call that made the change.
//!
//! The path is walked as the kernel resolves it. A symbolic link on the way (a document
//! root `current -> releases/42`, switched at each deployment) is an entry of its directory
//! like any other, so replacing it is an event there, and the way to its target is watched
//! in its turn. Only paths whose every change shows up that way are accepted:
//!
//! - no link whose target has `.` or `..` (where `..` leads depends on where a directory
//!   is, which no entry records);
//! - every directory on a file system where inotify sees every change (not NFS, FUSE…);
//! - the caller also leaves out files with several hard links, which can be written
//!   through a name in another directory.
//!
//! A path that names nothing can be registered too ([`Target::Missing`]): it depends on
//! the directories down to the deepest one that exists, and on the name of the first
//! missing component there, which must be created before anything below it can be.
//!
//! Registration is two-step, so that no change slips between the caller's `stat` and the
//! watches: [`PathWatch::register`] adds the watches, then the caller `stat`s the path
//! again and keeps the registration only if [`PathWatch::is_current`] still says so (an
//! event after the watches were added would have ended it).
//!
//! Left out on purpose: writes through a shared `mmap` (no event); a hard link made in
//! another directory after the registration and then written through (the new link count
//! is an event only for a watch on the file itself, which would cost a watch per file);
//! writes through a descriptor opened by another name that was removed before the
//! registration (the kernel reports them to that name's old directory); and a file system
//! mounted over a directory of the path (mounts send no inotify event).

use crate::fswatch::{self, Event, Watcher, Wd};
use rustc_hash::FxHashMap;
use std::ffi::OsString;
use std::hash::Hash;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// What a registered path is expected to name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A file (or anything else that exists): every directory on the way is watched.
    File,
    /// Nothing: the directories down to the deepest one that exists are watched.
    Missing,
}

/// Why a path was not registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// It cannot be watched as it is (symbolic link, remote file system, unreadable
    /// directory, no inotify or no watch left in the system): it will not be until it
    /// changes.
    Unwatchable,
    /// This registry's own budget of watches is spent for now.
    Full,
}

/// One directory's watch and the registrations that depend on its entries.
struct Dir<K> {
    /// Keys by the entry name they go through.
    children: FxHashMap<Box<[u8]>, Vec<K>>,
}

/// What one key depends on.
struct Registration {
    serial: u64,
    deps: Vec<(Wd, Box<[u8]>)>,
}

/// The registered paths of one owner (a cache), each under the owner's key.
pub struct PathWatch<K> {
    /// `None` when inotify is unavailable: nothing is registered.
    watcher: Option<Arc<Watcher>>,
    dirs: FxHashMap<Wd, Dir<K>>,
    paths: FxHashMap<K, Registration>,
    serial: u64,
    max_watches: usize,
}

impl<K: Clone + Eq + Hash> PathWatch<K> {
    pub fn new(watcher: Option<Arc<Watcher>>, max_watches: usize) -> PathWatch<K> {
        PathWatch {
            watcher,
            dirs: FxHashMap::default(),
            paths: FxHashMap::default(),
            serial: 0,
            max_watches,
        }
    }

    /// Reads the queued events and ends the registrations they concern, calling `changed`
    /// with each key. Costs one `read` when nothing happened, nothing when nothing is
    /// registered.
    pub fn drain(&mut self, mut changed: impl FnMut(&K)) {
        if self.paths.is_empty() {
            // What may be queued is about watches already given up.
            return;
        }
        let Some(watcher) = self.watcher.clone() else {
            return;
        };
        let result = watcher.drain(|event| {
            let keys: Vec<K> = match event {
                Event::Child(wd, name) => self
                    .dirs
                    .get_mut(&wd)
                    .and_then(|d| d.children.remove(name))
                    .unwrap_or_default(),
                Event::Changed(wd) => self
                    .dirs
                    .get_mut(&wd)
                    .map(|d| d.children.drain().flat_map(|(_, keys)| keys).collect())
                    .unwrap_or_default(),
                Event::Overflow => self.paths.keys().cloned().collect(),
            };
            for key in keys {
                if self.unregister(&watcher, &key) {
                    changed(&key);
                }
            }
        });
        if let Err(e) = result {
            // Not expected from a valid descriptor; without events nothing can be trusted.
            tracing::warn!(error = %e, "cannot read inotify events: every file is checked with stat again");
            let keys: Vec<K> = self.paths.keys().cloned().collect();
            for key in keys {
                self.unregister(&watcher, &key);
                changed(&key);
            }
            self.watcher = None;
        }
    }

    /// Watches every directory `path` goes through, for `key` (ending its earlier
    /// registration), expecting `target` there. Returns the registration's serial for
    /// [`PathWatch::is_current`]. `path` must be absolute and normal (no `.` or `..`);
    /// the caller has drained.
    pub fn register(&mut self, key: K, path: &Path, target: Target) -> Result<u64, Refused> {
        self.forget(&key);
        let watcher = self.watcher.as_ref().ok_or(Refused::Unwatchable)?;
        let budget = self.max_watches.saturating_sub(self.dirs.len());
        let dirs = &self.dirs;
        let watched = |wd: Wd| dirs.contains_key(&wd);
        let mut deps = Vec::new();
        if let Err(refused) = walk(watcher, path, target, budget, &watched, &mut deps) {
            self.release(&deps);
            return Err(refused);
        }
        self.serial += 1;
        for (wd, name) in &deps {
            let dir = self.dirs.entry(*wd).or_insert_with(|| Dir {
                children: FxHashMap::default(),
            });
            dir.children
                .entry(name.clone())
                .or_default()
                .push(key.clone());
        }
        self.paths.insert(
            key,
            Registration {
                serial: self.serial,
                deps,
            },
        );
        Ok(self.serial)
    }

    /// Whether the registration `serial` of `key` still stands (after a drain).
    pub fn is_current(&self, key: &K, serial: u64) -> bool {
        self.paths.get(key).is_some_and(|r| r.serial == serial)
    }

    /// Ends `key`'s registration, if any (its owner dropped it).
    pub fn forget(&mut self, key: &K) {
        if let Some(watcher) = self.watcher.clone() {
            self.unregister(&watcher, key);
        }
    }

    /// Directories watched.
    pub fn watches(&self) -> usize {
        self.dirs.len()
    }

    /// Paths registered.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Removes `key`'s registration and the watches nothing else needs; false if it had
    /// none.
    fn unregister(&mut self, watcher: &Watcher, key: &K) -> bool {
        let Some(registration) = self.paths.remove(key) else {
            return false;
        };
        for (wd, name) in &registration.deps {
            if let Some(dir) = self.dirs.get_mut(wd) {
                if let Some(keys) = dir.children.get_mut(name) {
                    keys.retain(|k| k != key);
                    if keys.is_empty() {
                        dir.children.remove(name);
                    }
                }
            }
        }
        self.unwatch_unused(watcher, &registration.deps);
        true
    }

    /// Gives up the watches of a registration that did not happen.
    fn release(&mut self, deps: &[(Wd, Box<[u8]>)]) {
        if let Some(watcher) = self.watcher.clone() {
            self.unwatch_unused(&watcher, deps);
        }
    }

    fn unwatch_unused(&mut self, watcher: &Watcher, deps: &[(Wd, Box<[u8]>)]) {
        for (i, (wd, _)) in deps.iter().enumerate() {
            // A directory can be on a path twice (`/d/link -> /d`): one removal.
            let seen = deps[..i].iter().any(|(earlier, _)| earlier == wd);
            let unused = self.dirs.get(wd).is_none_or(|d| d.children.is_empty());
            if unused && !seen {
                self.dirs.remove(wd);
                watcher.unwatch(*wd);
            }
        }
    }
}

/// The most symbolic links followed on one path (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// Walks `path` as the kernel resolves it, watching each directory before looking at the
/// entry it goes through there, and notes each (watch, name) in `deps`. A symbolic link is
/// an entry of its directory like any other, and what it points to is walked in its turn,
/// so replacing the link (`ln -sfn`) or anything on its target's way is an event too.
/// Links whose target has `.` or `..` are refused: where `..` leads depends on where a
/// directory is, which no entry records. `budget`: the most watches this may add to those
/// `watched` already.
fn walk(
    watcher: &Watcher,
    path: &Path,
    target: Target,
    budget: usize,
    watched: &dyn Fn(Wd) -> bool,
    deps: &mut Vec<(Wd, Box<[u8]>)>,
) -> Result<(), Refused> {
    // The names still to go through, the next one last.
    let mut pending = names(path, true)?;
    pending.reverse();
    let mut dir = PathBuf::from("/");
    let mut links = 0;
    let mut added = 0;
    while let Some(name) = pending.pop() {
        let last = pending.is_empty();
        // Writes to the files of a directory matter only where the path ends (a link
        // there is walked further, and then matters no more than any entry's change).
        let events = if last {
            fswatch::CHANGES
        } else {
            fswatch::ENTRIES
        };
        // The system-wide limit too: retrying would cost system calls every time.
        let wd = watcher
            .watch_path_no_follow(&dir, events)
            .map_err(|_| Refused::Unwatchable)?;
        let new = !watched(wd) && deps.iter().all(|(known, _)| *known != wd);
        deps.push((wd, Box::from(name.as_bytes())));
        if new {
            added += 1;
            if added > budget {
                return Err(Refused::Full);
            }
        }
        if !fswatch::reports_all_changes_at(&dir) {
            return Err(Refused::Unwatchable);
        }
        let entry = dir.join(&name);
        match std::fs::symlink_metadata(&entry) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                let link = std::fs::read_link(&entry).map_err(|_| Refused::Unwatchable)?;
                if links > MAX_LINKS {
                    return Err(Refused::Unwatchable);
                }
                if link.is_absolute() {
                    dir = PathBuf::from("/");
                }
                let mut more = names(&link, link.is_absolute())?;
                more.reverse();
                pending.extend(more);
            }
            Ok(m) if m.is_dir() && !last => dir = entry,
            // A file where the path goes on: not found, but not missing either.
            Ok(_) if !last => return Err(Refused::Unwatchable),
            Ok(m) => {
                return match target {
                    Target::File if !m.is_dir() => Ok(()),
                    _ => Err(Refused::Unwatchable),
                }
            }
            // Nothing below a missing entry needs a watch: creating anything there starts
            // with creating it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && target == Target::Missing => {
                return Ok(())
            }
            Err(_) => return Err(Refused::Unwatchable),
        }
    }
    // The path ended on a link to a directory's name with nothing after it: a directory.
    Err(Refused::Unwatchable)
}

/// The names of `path`, which must be plain ones after a leading `/` when `absolute`.
fn names(path: &Path, absolute: bool) -> Result<Vec<OsString>, Refused> {
    let mut components = path.components();
    if absolute && components.next() != Some(Component::RootDir) {
        return Err(Refused::Unwatchable);
    }
    let names: Vec<OsString> = components
        .map(|c| match c {
            Component::Normal(name) => Ok(name.to_os_string()),
            _ => Err(Refused::Unwatchable),
        })
        .collect::<Result<_, _>>()?;
    // `Path::components` drops `.` and repeated slashes: refuse what it normalised away.
    let rebuilt: usize = names.iter().map(|n| n.len() + 1).sum();
    let expected = path.as_os_str().len() + usize::from(!absolute);
    if names.is_empty() || rebuilt != expected {
        return Err(Refused::Unwatchable);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn registry() -> PathWatch<u32> {
        PathWatch::new(Some(Arc::new(Watcher::new().unwrap())), 1024)
    }

    fn changed(w: &mut PathWatch<u32>) -> Vec<u32> {
        let mut keys = Vec::new();
        w.drain(|k| keys.push(*k));
        keys.sort_unstable();
        keys
    }

    /// A temporary directory by its canonical path, with `d/a.txt` and `d/b.txt` in it.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/a.txt"), "a").unwrap();
        std::fs::write(root.join("d/b.txt"), "b").unwrap();
        (tmp, root)
    }

    #[test]
    fn a_write_ends_the_registration_and_frees_its_watches() {
        let (_tmp, root) = tree();
        let mut w = registry();
        let serial = w.register(1, &root.join("d/a.txt"), Target::File).unwrap();
        assert!(changed(&mut w).is_empty());
        assert!(w.is_current(&1, serial));
        assert!(w.watches() >= 3);
        std::fs::write(root.join("d/a.txt"), "new").unwrap();
        assert_eq!(changed(&mut w), [1]);
        assert!(!w.is_current(&1, serial));
        assert_eq!((w.len(), w.watches()), (0, 0));
    }

    #[test]
    fn only_changes_on_the_way_count() {
        let (_tmp, root) = tree();
        let mut w = registry();
        let a = w.register(1, &root.join("d/a.txt"), Target::File).unwrap();
        let b = w.register(2, &root.join("d/b.txt"), Target::File).unwrap();
        // A sibling written, a file created beside the directory: not on a's way.
        std::fs::write(root.join("d/b.txt"), "bee").unwrap();
        std::fs::write(root.join("other"), "x").unwrap();
        assert_eq!(changed(&mut w), [2]);
        assert!(w.is_current(&1, a));
        assert!(!w.is_current(&2, b));
        // The directory renamed: the path now names nothing.
        std::fs::rename(root.join("d"), root.join("e")).unwrap();
        assert_eq!(changed(&mut w), [1]);
        assert_eq!(w.watches(), 0);
    }

    #[test]
    fn writes_beside_the_way_are_no_event() {
        let (_tmp, root) = tree();
        std::fs::create_dir(root.join("d/sub")).unwrap();
        std::fs::write(root.join("d/sub/c.txt"), "c").unwrap();
        std::fs::write(root.join("d/log.txt"), "").unwrap();
        let mut w = registry();
        let c = w
            .register(1, &root.join("d/sub/c.txt"), Target::File)
            .unwrap();
        // Files written in a directory the path only goes through (a log beside the
        // document root): no event is queued for them. (Other events may be: the temporary
        // directory's parent is on the way too, and other tests create entries there.)
        std::fs::write(root.join("d/log.txt"), "line\n").unwrap();
        std::fs::write(root.join("d/b.txt"), "bee").unwrap();
        let watcher = w.watcher.clone().unwrap();
        let mut written = Vec::new();
        watcher
            .drain(|event| {
                if let Event::Child(_, name) = event {
                    if name == b"log.txt" || name == b"b.txt" {
                        written.push(name.to_vec());
                    }
                }
            })
            .unwrap();
        assert!(written.is_empty(), "{written:?}");
        assert!(changed(&mut w).is_empty());
        assert!(w.is_current(&1, c));
        // Where a path ends in that directory, its writes are watched for as well, also
        // after another path that only goes through it was registered.
        let a = w.register(2, &root.join("d/a.txt"), Target::File).unwrap();
        let c = w
            .register(1, &root.join("d/sub/c.txt"), Target::File)
            .unwrap();
        std::fs::write(root.join("d/a.txt"), "new").unwrap();
        assert_eq!(changed(&mut w), [2]);
        assert!(!w.is_current(&2, a));
        assert!(w.is_current(&1, c));
        // A change to the directory's entries still ends what goes through it.
        std::fs::rename(root.join("d/sub"), root.join("d/moved")).unwrap();
        assert_eq!(changed(&mut w), [1]);
    }

    #[test]
    fn every_kind_of_change_on_the_way_is_seen() {
        type Change = fn(&Path);
        let changes: [(&str, Change); 5] = [
            ("touch", |r| {
                let f = std::fs::File::options()
                    .write(true)
                    .open(r.join("d/a.txt"))
                    .unwrap();
                f.set_modified(std::time::UNIX_EPOCH).unwrap();
            }),
            ("delete", |r| {
                std::fs::remove_file(r.join("d/a.txt")).unwrap()
            }),
            ("replace by rename", |r| {
                std::fs::write(r.join("d/new"), "n").unwrap();
                std::fs::rename(r.join("d/new"), r.join("d/a.txt")).unwrap();
            }),
            ("directory made unreadable", |r| {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::Permissions::from_mode(0o300);
                std::fs::set_permissions(r.join("d"), mode).unwrap();
            }),
            ("directory replaced by a link", |r| {
                std::fs::rename(r.join("d"), r.join("old")).unwrap();
                std::os::unix::fs::symlink(r.join("old"), r.join("d")).unwrap();
            }),
        ];
        for (what, change) in changes {
            let (_tmp, root) = tree();
            let mut w = registry();
            let serial = w.register(7, &root.join("d/a.txt"), Target::File).unwrap();
            change(&root);
            assert_eq!(changed(&mut w), [7], "{what}");
            assert!(!w.is_current(&7, serial), "{what}");
        }
    }

    #[test]
    fn a_missing_path_ends_when_anything_appears_on_its_way() {
        let (_tmp, root) = tree();
        let mut w = registry();
        // Missing at the last component, and two levels up.
        let near = w
            .register(1, &root.join("d/nothing.txt"), Target::Missing)
            .unwrap();
        let far = w
            .register(2, &root.join("x/y/z.txt"), Target::Missing)
            .unwrap();
        // Unrelated: a sibling written.
        std::fs::write(root.join("d/a.txt"), "again").unwrap();
        assert!(changed(&mut w).is_empty());
        assert!(w.is_current(&1, near) && w.is_current(&2, far));
        std::fs::create_dir(root.join("x")).unwrap();
        assert_eq!(changed(&mut w), [2]);
        std::fs::write(root.join("d/nothing.txt"), "now").unwrap();
        assert_eq!(changed(&mut w), [1]);
        assert_eq!(w.watches(), 0);
        // What exists, or is in the way as a file, is not missing.
        for path in ["d/a.txt", "d/a.txt/more"] {
            assert_eq!(
                w.register(3, &root.join(path), Target::Missing),
                Err(Refused::Unwatchable),
                "{path}"
            );
        }
        assert_eq!(w.watches(), 0);
    }

    #[test]
    fn a_link_on_the_way_is_watched_with_its_target() {
        let (_tmp, root) = tree();
        std::fs::create_dir(root.join("v2")).unwrap();
        std::fs::write(root.join("v2/a.txt"), "two").unwrap();
        // `current -> d` (relative), then switched to `v2` as deployments do it.
        std::os::unix::fs::symlink("d", root.join("current")).unwrap();
        let mut w = registry();
        let serial = w
            .register(1, &root.join("current/a.txt"), Target::File)
            .unwrap();
        // A change in the target directory.
        std::fs::write(root.join("d/a.txt"), "again").unwrap();
        assert_eq!(changed(&mut w), [1]);
        let serial2 = w
            .register(1, &root.join("current/a.txt"), Target::File)
            .unwrap();
        assert_ne!(serial, serial2);
        std::os::unix::fs::symlink(root.join("v2"), root.join("next")).unwrap();
        std::fs::rename(root.join("next"), root.join("current")).unwrap();
        assert_eq!(changed(&mut w), [1]);
        assert_eq!(w.watches(), 0);
        // Through an absolute link, and a missing file behind a link.
        w.register(2, &root.join("current/a.txt"), Target::File)
            .unwrap();
        w.register(3, &root.join("current/none.txt"), Target::Missing)
            .unwrap();
        std::fs::write(root.join("v2/none.txt"), "now").unwrap();
        assert_eq!(changed(&mut w), [3]);
        // A dangling link is missing until its target appears.
        std::os::unix::fs::symlink(root.join("v2/later"), root.join("dangling")).unwrap();
        w.register(4, &root.join("dangling"), Target::Missing)
            .unwrap();
        std::fs::write(root.join("v2/later"), "here").unwrap();
        assert_eq!(changed(&mut w), [4]);
    }

    #[test]
    fn what_cannot_be_watched_is_refused() {
        let (_tmp, root) = tree();
        std::os::unix::fs::symlink("../d", root.join("up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let mut w = registry();
        for path in [
            root.join("up/a.txt"),
            root.join("loop/a.txt"),
            root.join("d/../d/a.txt"),
            root.join("d//a.txt"),
            root.join("d/"),
            root.join("d"),
            PathBuf::from("d/a.txt"),
            // procfs changes without events.
            PathBuf::from("/proc/self/status"),
        ] {
            assert_eq!(
                w.register(1, &path, Target::File),
                Err(Refused::Unwatchable),
                "{}",
                path.display()
            );
        }
        assert_eq!((w.len(), w.watches()), (0, 0));
        let mut none: PathWatch<u32> = PathWatch::new(None, 1024);
        assert_eq!(
            none.register(1, &root.join("d/a.txt"), Target::File),
            Err(Refused::Unwatchable)
        );
    }

    #[test]
    fn the_watch_budget_is_kept() {
        let (_tmp, root) = tree();
        let depth = root.join("d/a.txt").ancestors().count() - 1;
        let mut w: PathWatch<u32> = PathWatch::new(Some(Arc::new(Watcher::new().unwrap())), depth);
        std::fs::create_dir(root.join("e")).unwrap();
        std::fs::write(root.join("e/c.txt"), "c").unwrap();
        assert!(w.register(1, &root.join("d/a.txt"), Target::File).is_ok());
        // Only new watches count: the same directories are free.
        assert!(w.register(2, &root.join("d/b.txt"), Target::File).is_ok());
        assert_eq!(w.watches(), depth);
        // `e` would be one more.
        assert_eq!(
            w.register(3, &root.join("e/c.txt"), Target::File),
            Err(Refused::Full)
        );
        assert_eq!(w.watches(), depth);
        w.forget(&1);
        w.forget(&2);
        assert_eq!(w.watches(), 0);
        assert!(w.register(3, &root.join("e/c.txt"), Target::File).is_ok());
    }

    #[test]
    fn shared_directories_stay_watched_while_needed() {
        let (_tmp, root) = tree();
        let mut w = registry();
        w.register(1, &root.join("d/a.txt"), Target::File).unwrap();
        w.register(2, &root.join("d/b.txt"), Target::File).unwrap();
        let both = w.watches();
        w.forget(&1);
        assert_eq!(w.watches(), both);
        // Registering again replaces, it does not add.
        let serial = w.register(2, &root.join("d/b.txt"), Target::File).unwrap();
        assert_eq!((w.len(), w.watches()), (1, both));
        assert!(changed(&mut w).is_empty());
        assert!(w.is_current(&2, serial));
        w.forget(&2);
        assert_eq!(w.watches(), 0);
    }

    #[test]
    fn chains_of_links_are_followed() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::symlink;
        let (_tmp, root) = tree();
        std::fs::create_dir_all(root.join("x/y")).unwrap();
        std::fs::write(root.join("x/y/t.txt"), "t").unwrap();
        // last component a link, relative chain: l1 -> l2 (in d), l2 -> ../? no: l2 -> sub link
        symlink("l2", root.join("d/l1")).unwrap();
        symlink(root.join("x"), root.join("d/l2")).unwrap();
        let mut w = registry();
        w.register(1, &root.join("d/l1/y/t.txt"), Target::File)
            .unwrap();
        // target written
        std::fs::write(root.join("x/y/t.txt"), "tt").unwrap();
        assert_eq!(changed(&mut w), [1]);
        w.register(1, &root.join("d/l1/y/t.txt"), Target::File)
            .unwrap();
        // middle link of the chain replaced
        std::fs::remove_file(root.join("d/l2")).unwrap();
        assert_eq!(changed(&mut w), [1]);
        // last component a link to a file elsewhere; the dir holding the target renamed
        symlink(root.join("x/y/t.txt"), root.join("d/last")).unwrap();
        w.register(2, &root.join("d/last"), Target::File).unwrap();
        std::fs::rename(root.join("x/y"), root.join("x/z")).unwrap();
        assert_eq!(changed(&mut w), [2]);
        // non-UTF-8 name
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9");
        std::fs::write(root.join("d").join(name), "c").unwrap();
        w.register(3, &root.join("d").join(name), Target::File)
            .unwrap();
        std::fs::write(root.join("d").join(name), "cc").unwrap();
        assert_eq!(changed(&mut w), [3]);
        // missing behind a chain whose last link dangles
        symlink("m2", root.join("d/m1")).unwrap();
        symlink(root.join("x/none"), root.join("d/m2")).unwrap();
        w.register(4, &root.join("d/m1/f"), Target::Missing)
            .unwrap();
        std::fs::create_dir(root.join("x/none")).unwrap();
        assert_eq!(changed(&mut w), [4]);
        assert_eq!((w.len(), w.watches()), (0, 0));
    }
}
