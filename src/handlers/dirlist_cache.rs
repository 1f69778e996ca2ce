//! Rendered directory listings, kept until the directory changes.
//!
//! A listing costs a `readdir`, a `stat` per entry and the HTML; a cached one costs a hash
//! lookup. Staleness is ruled out, not bounded:
//!
//! - Each cached directory has an inotify watch ([`crate::fswatch`]), and every lookup first
//!   drains the inotify descriptor. The kernel queues an event inside the system call that
//!   makes a change, so any change that completed before the request arrived is seen, and
//!   the listings of that directory are dropped, before the cache is consulted.
//! - The watch is added on the open directory before it is read, and a listing is stored
//!   only if no event for its watch arrived meanwhile (a change during the read discards
//!   it: it was served, as a fresh read would have been, but is not kept).
//! - What a directory watch does not report is checked on every hit: the directory at the
//!   path must still be the same inode (the caller's `stat`; an ancestor renamed or a
//!   document root symlink switched sends no event), and entries whose shown metadata can
//!   change without an event in this directory — subdirectories (their date), symbolic
//!   links (their target), files with several hard links (written through another), notice
//!   files outside the directory — are kept with a fingerprint that a fresh `stat` must
//!   match. A listing with more than [`MAX_VOLATILE`] of them is not cached.
//! - Directories on file systems where inotify may miss changes (NFS, FUSE…), a failed
//!   `inotify_init` or watch (the `max_user_watches` limit, no `/proc`) fall back to
//!   rendering every time: the cache is an optimisation, never a condition.
//!
//! Left out on purpose: writes through `mmap` (no event; the size cannot change that way,
//! only the date), a hard link created elsewhere after a listing was cached and then
//! written through, and owner names changed in `/etc/passwd`.
//!
//! The cache is bounded in bytes ([`BUDGET`]) and watches ([`MAX_WATCHES`]); the least
//! recently used listings go first, and a watch is removed with its last listing.

use super::dirlist_render::SortKey;
use crate::config::DirlistOptions;
use crate::fswatch::{self, Event, Watcher, Wd};
use bytes::Bytes;
use http::HeaderValue;
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::hash::{BuildHasher, RandomState};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The most bytes of HTML kept.
pub const BUDGET: usize = 2 << 20;
/// Listings larger than this are not kept (one would push out all the others).
pub const MAX_PAGE: usize = BUDGET / 4;
/// The most inotify watches held (each costs the kernel about 1 KiB, and the per-user
/// limit is shared with every other program of the user).
pub const MAX_WATCHES: usize = 256;
/// The most entries re-checked by `stat` on a hit; beyond, the listing is not cached.
pub const MAX_VOLATILE: usize = 32;

/// Everything a rendered listing depends on besides the directory's content.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    /// The directory's local path.
    pub dir: &'a Path,
    /// The request path (the page's title and links).
    pub url_path: &'a str,
    pub sort: SortKey,
    pub opts: &'a DirlistOptions,
}

/// Which inode a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirId {
    dev: u64,
    ino: u64,
}

impl DirId {
    pub fn of(meta: &Metadata) -> DirId {
        DirId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Everything a listing shows of an entry, and more: if it is unchanged, so is the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    mode: u32,
    nlink: u64,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    pub fn of(meta: &Metadata) -> Fingerprint {
        Fingerprint {
            dev: meta.dev(),
            ino: meta.ino(),
            mode: meta.mode(),
            nlink: meta.nlink(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// What `stat` (following links) says of `path` now; `None` if it does not exist.
    pub fn current(path: &Path) -> Option<Fingerprint> {
        std::fs::metadata(path).ok().map(|m| Fingerprint::of(&m))
    }
}

/// An entry that the directory's watch does not cover: `name` (relative to the directory)
/// must still `stat` to `fingerprint` (`None`: must still be missing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volatile {
    pub name: PathBuf,
    pub fingerprint: Option<Fingerprint>,
}

/// A cached listing found by [`Cache::peek`], with what remains to check.
pub struct Hit {
    hash: u64,
    pub page: Page,
    volatile: Arc<[Volatile]>,
}

impl Hit {
    /// Whether every entry the watch does not cover still `stat`s as when rendered.
    pub fn is_fresh(&self, dir: &Path) -> bool {
        self.volatile
            .iter()
            .all(|v| Fingerprint::current(&dir.join(&v.name)) == v.fingerprint)
    }
}

/// A rendered listing and its entity tag.
#[derive(Clone, Debug)]
pub struct Page {
    pub html: Bytes,
    /// A strong tag derived from the bytes themselves, so it is right whether the page
    /// came from the cache or not, and across restarts.
    pub etag: Option<HeaderValue>,
}

impl Page {
    pub fn new(html: Bytes) -> Page {
        use std::hash::{DefaultHasher, Hasher};
        // SipHash with fixed keys: the same bytes give the same tag in every process.
        let mut hasher = DefaultHasher::new();
        hasher.write(&html);
        let tag = format!("\"l{:x}-{:016x}\"", html.len(), hasher.finish());
        Page {
            etag: HeaderValue::from_str(&tag).ok(),
            html,
        }
    }
}

/// A render in progress with a watch on its directory, from [`Cache::begin`] to
/// [`Cache::finish`].
#[derive(Debug)]
pub struct Ticket {
    wd: Wd,
    serial: u64,
    id: DirId,
}

struct Entry {
    dir: PathBuf,
    url_path: String,
    sort: SortKey,
    opts: DirlistOptions,
    id: DirId,
    wd: Wd,
    volatile: Arc<[Volatile]>,
    page: Page,
    /// A use counter value, for eviction.
    used: u64,
}

impl Entry {
    fn is_for(&self, key: &Key<'_>) -> bool {
        self.dir == key.dir
            && self.url_path == key.url_path
            && self.sort == key.sort
            && self.opts == *key.opts
    }
}

struct Watch {
    /// Tells this watch from an earlier one that had the same descriptor number.
    serial: u64,
    /// The entries that depend on it.
    keys: Vec<u64>,
    /// Renders in progress that will store under it.
    pending: usize,
}

pub struct Cache {
    /// `None` when inotify is unavailable: nothing is cached.
    watcher: Option<Watcher>,
    entries: HashMap<u64, Entry>,
    watches: HashMap<Wd, Watch>,
    bytes: usize,
    clock: u64,
    serial: u64,
    budget: usize,
    max_watches: usize,
    hasher: RandomState,
}

/// The process's cache, shared by the worker threads.
pub fn global() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let watcher = match Watcher::new() {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "no inotify: directory listings are rendered on every request");
                None
            }
        };
        Mutex::new(Cache::new(watcher, BUDGET, MAX_WATCHES))
    })
}

/// Whether a listing of `dir` (open on the directory the request's `stat` found as `id`)
/// may be cached: still the same directory, on a file system whose changes all show as
/// inotify events.
pub fn cacheable(dir: &File, id: DirId) -> bool {
    dir.metadata().is_ok_and(|m| DirId::of(&m) == id) && fswatch::reports_all_changes(dir)
}

impl Cache {
    pub fn new(watcher: Option<Watcher>, budget: usize, max_watches: usize) -> Cache {
        Cache {
            watcher,
            entries: HashMap::new(),
            watches: HashMap::new(),
            bytes: 0,
            clock: 0,
            serial: 0,
            budget,
            max_watches,
            hasher: RandomState::new(),
        }
    }

    /// The listing for `key` if the directory is still `id` and nothing it shows changed,
    /// in one hold of the cache: for tests. The server checks the entries between
    /// [`Cache::peek`] and [`Cache::forget`] without the lock (`dirlist::cached`).
    #[cfg(test)]
    fn get(&mut self, key: &Key<'_>, id: DirId) -> Option<Page> {
        let hit = self.peek(key, id)?;
        if hit.is_fresh(key.dir) {
            Some(hit.page)
        } else {
            self.forget(&hit);
            None
        }
    }

    /// The listing for `key` if the directory is still `id` and the watch reported no
    /// change; the entries the watch does not cover are still to be checked
    /// ([`Hit::is_fresh`]), which the caller does without holding the cache's lock.
    pub fn peek(&mut self, key: &Key<'_>, id: DirId) -> Option<Hit> {
        self.drain();
        let hash = self.hash(key);
        let entry = self.entries.get(&hash)?;
        if !entry.is_for(key) {
            return None;
        }
        if entry.id != id {
            self.remove(hash);
            return None;
        }
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.get_mut(&hash)?;
        entry.used = clock;
        Some(Hit {
            hash,
            page: entry.page.clone(),
            volatile: entry.volatile.clone(),
        })
    }

    /// Drops the listing `hit` came from, unless it was replaced meanwhile.
    pub fn forget(&mut self, hit: &Hit) {
        let same = self
            .entries
            .get(&hit.hash)
            .is_some_and(|e| e.page.html.as_ptr() == hit.page.html.as_ptr());
        if same {
            self.remove(hit.hash);
        }
    }

    /// Watches `dir` (open on the directory the request found as `id`; see [`cacheable`])
    /// before it is read. `None` when it cannot be watched: render without caching.
    pub fn begin(&mut self, dir: &File, id: DirId) -> Option<Ticket> {
        self.drain();
        if self.watches.len() >= self.max_watches {
            self.shed_watches();
            if self.watches.len() >= self.max_watches {
                return None;
            }
        }
        let watcher = self.watcher.as_ref()?;
        let wd = match watcher.watch_dir(dir) {
            Ok(wd) => wd,
            Err(e) => {
                tracing::debug!(error = %e, "cannot watch a directory: its listing is not cached");
                return None;
            }
        };
        let serial = match self.watches.get_mut(&wd) {
            Some(w) => {
                w.pending += 1;
                w.serial
            }
            None => {
                self.serial += 1;
                self.watches.insert(
                    wd,
                    Watch {
                        serial: self.serial,
                        keys: Vec::new(),
                        pending: 1,
                    },
                );
                self.serial
            }
        };
        Some(Ticket { wd, serial, id })
    }

    /// Ends a render begun with `ticket`: stores `page` for `key` (when given) unless the
    /// directory changed since the watch was added.
    pub fn finish(&mut self, ticket: Ticket, done: Option<(&Key<'_>, Page, Vec<Volatile>)>) {
        self.drain();
        let Some(watch) = self.watches.get_mut(&ticket.wd) else {
            return; // Changed meanwhile: the watch went with its listings.
        };
        if watch.serial != ticket.serial {
            return;
        }
        watch.pending -= 1;
        if let Some((key, page, volatile)) = done {
            if page.html.len() <= MAX_PAGE && volatile.len() <= MAX_VOLATILE {
                self.insert(key, ticket, page, volatile);
                return;
            }
        }
        self.release_if_unused(ticket.wd);
    }

    fn insert(&mut self, key: &Key<'_>, ticket: Ticket, page: Page, volatile: Vec<Volatile>) {
        let hash = self.hash(key);
        self.remove(hash);
        if let Some(watch) = self.watches.get_mut(&ticket.wd) {
            watch.keys.push(hash);
        }
        self.clock += 1;
        self.bytes += page.html.len();
        self.entries.insert(
            hash,
            Entry {
                dir: key.dir.to_path_buf(),
                url_path: key.url_path.to_string(),
                sort: key.sort,
                opts: key.opts.clone(),
                id: ticket.id,
                wd: ticket.wd,
                volatile: volatile.into(),
                page,
                used: self.clock,
            },
        );
        if self.bytes > self.budget {
            self.evict();
        }
    }

    /// Bytes of HTML held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Watches held.
    pub fn watches(&self) -> usize {
        self.watches.len()
    }

    fn hash(&self, key: &Key<'_>) -> u64 {
        self.hasher
            .hash_one((key.dir, key.url_path, key.sort, key.opts))
    }

    /// Applies the queued inotify events: each drops the listings of its directory.
    fn drain(&mut self) {
        // Without watches nothing cached can be stale (what may be queued is the end of
        // watches already forgotten): spare the `read` when every listing falls back.
        if self.watches.is_empty() {
            return;
        }
        let Some(watcher) = self.watcher.take() else {
            return;
        };
        let result = watcher.drain(|event| match event {
            Event::Changed(wd) | Event::Child(wd, _) => self.forget_watch(&watcher, wd),
            Event::Overflow => self.forget_all(&watcher),
        });
        match result {
            Ok(()) => self.watcher = Some(watcher),
            Err(e) => {
                // Not expected from a valid descriptor; without events nothing is safe.
                tracing::warn!(error = %e, "cannot read inotify events: directory listings are no longer cached");
                self.forget_all(&watcher);
            }
        }
    }

    fn forget_watch(&mut self, watcher: &Watcher, wd: Wd) {
        if let Some(watch) = self.watches.remove(&wd) {
            for key in watch.keys {
                if let Some(e) = self.entries.remove(&key) {
                    self.bytes -= e.page.html.len();
                }
            }
            watcher.unwatch(wd);
        }
    }

    fn forget_all(&mut self, watcher: &Watcher) {
        for wd in self.watches.keys() {
            watcher.unwatch(*wd);
        }
        self.watches.clear();
        self.entries.clear();
        self.bytes = 0;
    }

    /// Drops one listing, and its watch if nothing else needs it.
    fn remove(&mut self, hash: u64) {
        let Some(entry) = self.entries.remove(&hash) else {
            return;
        };
        self.bytes -= entry.page.html.len();
        if let Some(watch) = self.watches.get_mut(&entry.wd) {
            watch.keys.retain(|k| *k != hash);
        }
        self.release_if_unused(entry.wd);
    }

    fn release_if_unused(&mut self, wd: Wd) {
        if self
            .watches
            .get(&wd)
            .is_some_and(|w| w.keys.is_empty() && w.pending == 0)
        {
            self.watches.remove(&wd);
            if let Some(watcher) = &self.watcher {
                watcher.unwatch(wd);
            }
        }
    }

    /// The entries, least recently used first.
    fn by_age(&self) -> Vec<u64> {
        let mut by_age: Vec<(u64, u64)> = self.entries.iter().map(|(k, e)| (e.used, *k)).collect();
        by_age.sort_unstable();
        by_age.into_iter().map(|(_, k)| k).collect()
    }

    /// Drops the least recently used listings until the cache is at three quarters of its
    /// budget (so eviction does not run on every insert).
    fn evict(&mut self) {
        for hash in self.by_age() {
            if self.bytes <= self.budget / 4 * 3 {
                break;
            }
            self.remove(hash);
        }
    }

    /// Drops the least recently used listings until a watch is free.
    fn shed_watches(&mut self) {
        for hash in self.by_age() {
            if self.watches.len() < self.max_watches {
                break;
            }
            self.remove(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> DirlistOptions {
        DirlistOptions::default()
    }

    fn id_of(path: &Path) -> DirId {
        DirId::of(&std::fs::metadata(path).unwrap())
    }

    /// Caches `html` for `dir` as the handler does: begin, "render", finish.
    fn store(cache: &mut Cache, dir: &Path, url: &str, html: &'static str) -> bool {
        let o = opts();
        let key = Key {
            dir,
            url_path: url,
            sort: SortKey::Name,
            opts: &o,
        };
        let file = File::open(dir).unwrap();
        let id = id_of(dir);
        assert!(cacheable(&file, id));
        let Some(ticket) = cache.begin(&file, id) else {
            return false;
        };
        cache.finish(ticket, Some((&key, page(html.as_bytes()), Vec::new())));
        true
    }

    fn page(html: &'static [u8]) -> Page {
        Page::new(Bytes::from_static(html))
    }

    fn lookup(cache: &mut Cache, dir: &Path, url: &str) -> Option<Bytes> {
        let o = opts();
        let key = Key {
            dir,
            url_path: url,
            sort: SortKey::Name,
            opts: &o,
        };
        cache.get(&key, id_of(dir)).map(|p| p.html)
    }

    fn watched() -> Cache {
        Cache::new(Some(Watcher::new().unwrap()), BUDGET, MAX_WATCHES)
    }

    #[test]
    fn a_change_in_the_directory_drops_its_listing_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = watched();
        assert!(store(&mut cache, dir.path(), "/d/", "one"));
        assert_eq!(lookup(&mut cache, dir.path(), "/d/").unwrap(), "one");
        // Another request path or options is another listing.
        assert!(lookup(&mut cache, dir.path(), "/other/").is_none());
        std::fs::write(dir.path().join("new"), "x").unwrap();
        assert!(lookup(&mut cache, dir.path(), "/d/").is_none());
        assert_eq!((cache.bytes(), cache.watches()), (0, 0));
    }

    #[test]
    fn a_change_during_the_render_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = watched();
        let o = opts();
        let key = Key {
            dir: dir.path(),
            url_path: "/",
            sort: SortKey::Name,
            opts: &o,
        };
        let id = id_of(dir.path());
        let ticket = cache.begin(&File::open(dir.path()).unwrap(), id).unwrap();
        std::fs::write(dir.path().join("during"), "x").unwrap();
        cache.finish(ticket, Some((&key, page(b"old"), Vec::new())));
        assert!(cache.get(&key, id).is_none());
        assert_eq!((cache.bytes(), cache.watches()), (0, 0));
    }

    #[test]
    fn another_directory_at_the_same_path_is_a_miss() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("d");
        std::fs::create_dir(&path).unwrap();
        let mut cache = watched();
        assert!(store(&mut cache, &path, "/d/", "first"));
        // Renaming the directory away is reported; renaming an ancestor would not be: the
        // identity check catches both.
        std::fs::rename(&path, root.path().join("old")).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(lookup(&mut cache, &path, "/d/").is_none());
    }

    #[test]
    fn volatile_entries_are_checked_on_every_hit() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let mut cache = watched();
        let o = opts();
        let key = Key {
            dir: dir.path(),
            url_path: "/",
            sort: SortKey::Name,
            opts: &o,
        };
        let id = id_of(dir.path());
        let ticket = cache.begin(&File::open(dir.path()).unwrap(), id).unwrap();
        let volatile = vec![Volatile {
            name: "sub".into(),
            fingerprint: Fingerprint::current(&sub),
        }];
        cache.finish(ticket, Some((&key, page(b"page"), volatile)));
        assert!(cache.get(&key, id).is_some());
        // A file created in the subdirectory changes its date, with no event for the parent.
        std::fs::write(sub.join("inner"), "x").unwrap();
        assert!(cache.get(&key, id).is_none());
    }

    #[test]
    fn memory_and_watches_stay_bounded_over_many_directories() {
        let root = tempfile::tempdir().unwrap();
        let mut cache = Cache::new(Some(Watcher::new().unwrap()), 10_000, 8);
        static PAGE: [u8; 1000] = [b'x'; 1000];
        for i in 0..100 {
            let dir = root.path().join(i.to_string());
            std::fs::create_dir(&dir).unwrap();
            let o = opts();
            let key = Key {
                dir: &dir,
                url_path: "/",
                sort: SortKey::Name,
                opts: &o,
            };
            let ticket = cache
                .begin(&File::open(&dir).unwrap(), id_of(&dir))
                .expect("a watch is freed for each new directory");
            cache.finish(ticket, Some((&key, page(&PAGE), Vec::new())));
            assert!(cache.bytes() <= 10_000, "{} bytes", cache.bytes());
            assert!(cache.watches() <= 8);
            assert!(cache.entries.len() <= 8);
        }
        // The most recent one is still there.
        assert!(lookup(&mut cache, &root.path().join("99"), "/").is_some());
        assert!(lookup(&mut cache, &root.path().join("0"), "/").is_none());
    }

    #[test]
    fn the_entity_tag_follows_the_bytes() {
        let a = page(b"listing");
        assert_eq!(a.etag, page(b"listing").etag);
        assert_ne!(a.etag, page(b"listinG").etag);
        let tag = a.etag.unwrap();
        assert!(tag.to_str().unwrap().starts_with("\"l7-"));
    }

    #[test]
    fn without_inotify_nothing_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::new(None, BUDGET, MAX_WATCHES);
        assert!(!store(&mut cache, dir.path(), "/", "page"));
        assert!(lookup(&mut cache, dir.path(), "/").is_none());
    }

    #[test]
    fn without_a_free_watch_nothing_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::new(Some(Watcher::new().unwrap()), BUDGET, 0);
        assert!(!store(&mut cache, dir.path(), "/", "page"));
        assert!(lookup(&mut cache, dir.path(), "/").is_none());
    }

    #[test]
    fn a_render_that_fails_releases_its_watch() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = watched();
        let ticket = cache
            .begin(&File::open(dir.path()).unwrap(), id_of(dir.path()))
            .unwrap();
        assert_eq!(cache.watches(), 1);
        cache.finish(ticket, None);
        assert_eq!(cache.watches(), 0);
    }

    #[test]
    fn an_overflow_forgets_everything() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = watched();
        assert!(store(&mut cache, dir.path(), "/", "page"));
        let watcher = cache.watcher.take().unwrap();
        cache.forget_all(&watcher);
        cache.watcher = Some(watcher);
        assert!(lookup(&mut cache, dir.path(), "/").is_none());
        assert_eq!((cache.bytes(), cache.watches()), (0, 0));
    }
}
