//! The I/O cache (Cherokee's `iocache`): what the file handler knows of recently served
//! files — their validators already in header form, and the content of small ones — so a
//! popular page costs no `stat`, no read and no formatting.
//!
//! An entry is used only while the file's identity (inode, size, modification time) is
//! what it was when the entry was made, so a changed file is not served stale. Which of
//! two ways that is known:
//!
//! - **Watched**: the path is registered with [`crate::pathwatch`], whose inotify watches
//!   report any change to the file or to a directory on its way; the server's event loop
//!   notes that they did ([`use_event_loop`]: one loop turn late at worst), and a lookup
//!   drains them first. Such an entry is answered without touching the file system
//!   ([`unchanged`]).
//! - **Checked**: otherwise (a symbolic link through `..` on the way, a file with several
//!   hard links, a network file system, no free watch) each request `stat`s the file and
//!   compares ([`get`]). A checked entry becomes watched on a later hit ([`watch`]).
//!
//! Reading a missing entry's content happens in a blocking task. The cache is bounded in
//! bytes; when full, the entries used least recently are dropped.

use crate::fswatch::{Readiness, Watcher};
use crate::pathwatch::{PathWatch, Refused, Target};
use bytes::Bytes;
use http::HeaderValue;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// Files up to this size have their content cached (and go out with the response head in
/// one `writev`). Larger ones are sent with `sendfile`, which needs an open descriptor
/// but copies nothing from user space.
///
/// Copying wins further than one would guess: `sendfile` hands the socket one page
/// reference per 4 KiB (through a 16-page pipe), while a `writev` fills large page
/// fragments, so the segments are cheaper to build, to receive and to free, and head and
/// body take one system call instead of two. Measured on loopback, 64 keep-alive clients,
/// server and client one core each, `sendfile` against memory: at 64 and 100 KiB memory
/// costs the server about 5% less per request and the client 3-5% less; at 128 KiB they
/// tie; at 192 and 256 KiB memory costs the server 20-30% more.
pub const MAX_FILE: u64 = 128 * 1024;
/// The most bytes kept (contents plus a fixed charge per entry).
const BUDGET: usize = 64 << 20;
/// What one entry costs besides its content: the path, the header values, the map slot.
const ENTRY_OVERHEAD: usize = 256;
/// The most directories watched for watched entries (each costs the kernel about 1 KiB,
/// and the per-user limit is shared with every other program of the user).
const MAX_WATCHES: usize = 2048;

/// What identifies one version of a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Identity {
    pub ino: u64,
    pub len: u64,
    pub mtime: SystemTime,
}

impl Identity {
    pub fn of(meta: &Metadata) -> Identity {
        Identity {
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        }
    }

    /// The strong entity tag and `Last-Modified` of this version, as header values.
    pub fn validators(&self) -> (HeaderValue, HeaderValue) {
        let etag = crate::http::conditional::make_etag(self.len, self.mtime, self.ino);
        let date = crate::http::conditional::http_date(self.mtime);
        (header(etag), header(date))
    }
}

fn header(s: String) -> HeaderValue {
    // Both are ASCII by construction; the fallback only guards the type's contract.
    HeaderValue::from_maybe_shared(Bytes::from(s)).unwrap_or(HeaderValue::from_static(""))
}

/// One version of one file.
#[derive(Debug)]
pub struct Version {
    pub identity: Identity,
    pub etag: HeaderValue,
    pub last_modified: HeaderValue,
    /// The whole file, for files up to [`MAX_FILE`] once read; `None` until then (or for
    /// larger files, whose validators alone are kept).
    pub content: Option<Bytes>,
}

impl Version {
    /// A version with its validators computed now and no content.
    pub fn new(identity: Identity) -> Version {
        let (etag, last_modified) = identity.validators();
        Version {
            identity,
            etag,
            last_modified,
            content: None,
        }
    }

    fn cost(&self) -> usize {
        ENTRY_OVERHEAD + self.content.as_ref().map_or(0, Bytes::len)
    }
}

/// One cached path: a file's version, or (`T = ()`) the fact that nothing is there.
struct Entry<T> {
    known: T,
    /// A use counter value, for eviction.
    used: u64,
    watch: Watch,
}

/// How an entry is known to be current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Watch {
    /// By a `stat` per request, until it is registered with its watches.
    Checked,
    /// By its path's watches: no `stat` needed.
    Watched,
    /// By a `stat` per request, for good: the path cannot be watched (see the module), or
    /// no watch was left when it was tried.
    Unwatchable,
}

/// What the cache can say of a path without a `stat`.
#[derive(Clone, Debug)]
pub enum Known {
    /// This version of a regular file, readable when it was last checked, and the file
    /// itself if it is kept open.
    File(Arc<Version>, Option<Arc<File>>),
    /// Nothing (the `stat` failed with `ENOENT`).
    Missing,
}

struct Cache {
    /// Keyed by the path's bytes, with FxHash: these are paths of files that exist (a
    /// client cannot choose them freely), so a keyed hash buys nothing, and hashing a
    /// `Path` splits it into components first; both were a visible share of a request.
    files: FxHashMap<Arc<[u8]>, Entry<Cached>>,
    /// Paths found missing, which clients do choose: a hash seeded at random, so that they
    /// cannot make them collide (foldhash: SipHash cost a tenth of a small request).
    missing: HashMap<Arc<[u8]>, Entry<()>, foldhash::quality::RandomState>,
    bytes: usize,
    /// Files kept open (at most [`MAX_OPEN`]).
    open: usize,
    clock: u64,
    paths: PathWatch<Arc<[u8]>>,
}

/// A cached file.
struct Cached {
    version: Arc<Version>,
    /// The file itself, open, while its entry is watched: a large file is then sent with
    /// no `open` and `close`. Closed as soon as a change is drained, so a deleted file's
    /// space is not held beyond the next request.
    open: Option<Arc<File>>,
}

impl Cache {
    /// Applies the file system's changes: the entries they concern are checked again.
    fn drain(&mut self) {
        let (files, missing, open) = (&mut self.files, &mut self.missing, &mut self.open);
        self.paths.drain(|key| {
            if let Some(entry) = files.get_mut(key) {
                entry.watch = Watch::Checked;
                if entry.known.open.take().is_some() {
                    *open -= 1;
                }
            } else if let Some(entry) = missing.get_mut(key) {
                entry.watch = Watch::Checked;
            }
        });
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The key and watch state of `path`'s entry in the map `expect` is about.
    fn state(&mut self, path: &Path, expect: Expect) -> Option<(Arc<[u8]>, &mut Watch)> {
        let k = key(path);
        match expect {
            Expect::File(_) => {
                let key = self.files.get_key_value(k)?.0.clone();
                Some((key, &mut self.files.get_mut(k)?.watch))
            }
            Expect::Missing => {
                let key = self.missing.get_key_value(k)?.0.clone();
                Some((key, &mut self.missing.get_mut(k)?.watch))
            }
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some((key, entry)) = self.files.remove_entry(key) {
            self.bytes -= entry.known.version.cost() + key.len();
            if entry.known.open.is_some() {
                self.open -= 1;
            }
            self.paths.forget(&key);
        }
        if let Some((key, _)) = self.missing.remove_entry(key) {
            self.bytes -= ENTRY_OVERHEAD + key.len();
            self.paths.forget(&key);
        }
    }

    /// Drops the least recently used entries until the cache is at three quarters of its
    /// budget (so eviction does not run on every insert).
    fn evict(&mut self) {
        let mut by_age: Vec<(u64, Arc<[u8]>)> = self
            .files
            .iter()
            .map(|(p, e)| (e.used, p.clone()))
            .chain(self.missing.iter().map(|(p, e)| (e.used, p.clone())))
            .collect();
        by_age.sort_unstable_by_key(|(used, _)| *used);
        for (_, path) in by_age {
            if self.bytes <= BUDGET / 4 * 3 {
                break;
            }
            self.remove(&path);
        }
    }
}

fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

/// The process's cache, and what a lookup needs before it takes the cache's lock.
struct Shared {
    cache: Mutex<Cache>,
    /// The cache's inotify descriptor (also held by its [`PathWatch`]).
    watcher: Option<Arc<Watcher>>,
    /// Whether any path is registered: a hint kept under the lock, read without it.
    watching: AtomicBool,
    /// The watcher's descriptor in the server's event loop, once [`use_event_loop`] made
    /// it so; without it, every request asks the kernel whether events are queued.
    readiness: OnceLock<Readiness>,
    /// `readiness` is current: its runtime is serving.
    in_loop: AtomicBool,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let watcher = Watcher::new()
            .inspect_err(|e| tracing::warn!(error = %e, "no inotify: every cached file is checked with stat on each request"))
            .ok()
            .map(Arc::new);
        Shared {
            cache: Mutex::new(Cache {
                files: FxHashMap::default(),
                missing: HashMap::default(),
                bytes: 0,
                open: 0,
                clock: 0,
                paths: PathWatch::new(watcher.clone(), MAX_WATCHES),
            }),
            watcher,
            watching: AtomicBool::new(false),
            readiness: OnceLock::new(),
            in_loop: AtomicBool::new(false),
        }
    })
}

/// Has the server's event loop note whether inotify events are queued, so that a request
/// learns it from the loop rather than from a system call of its own (`FIONREAD`: about
/// 5% of the CPU time of a small file's request). Called from within the runtime that
/// serves the requests, which must outlive the returned guard; the price is a change seen
/// one look of the loop late (see [`Readiness`]). Without it (tests of this module, tools,
/// or once the guard is dropped) every lookup asks the kernel, which is exact.
pub fn use_event_loop() -> EventLoopUse {
    let shared = shared();
    if let Some(watcher) = &shared.watcher {
        if shared.readiness.get().is_none() {
            match watcher.register() {
                Ok(r) => {
                    let _ = shared.readiness.set(r);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "inotify not in the event loop: each request asks the kernel for changes")
                }
            }
        }
    }
    shared.in_loop.store(true, Ordering::Release);
    EventLoopUse(())
}

/// While it lives, the I/O cache learns of changes from the event loop.
#[must_use = "the event loop is used only while this lives"]
pub struct EventLoopUse(());

impl Drop for EventLoopUse {
    fn drop(&mut self) {
        // A runtime that shuts down stops looking at the descriptor, and would leave its
        // readiness as it was forever.
        shared().in_loop.store(false, Ordering::Release);
    }
}

impl Shared {
    /// The event loop's view of the queue, while it is in use.
    fn readiness(&self) -> Option<&Readiness> {
        self.readiness
            .get()
            .filter(|_| self.in_loop.load(Ordering::Acquire))
    }
}

fn cache() -> &'static Mutex<Cache> {
    &shared().cache
}

/// Whether a request has seen the inotify queue empty, or drained it, since it arrived.
/// Changes made after that cannot concern the request (they were not done before it was
/// sent), so its later lookups (an index file after its directory, an error page after
/// the file) skip asking the kernel again: one system call per request, not per lookup.
#[derive(Debug, Default)]
pub struct Checked(AtomicBool);

/// What is at `path` if it is watched and nothing changed: the caller needs no `stat`.
/// `checked` is the request's own (see [`Checked`]).
///
/// Whether the inotify queue holds anything is asked before the lock is taken, so that
/// worker threads do not wait on each other's system call. That is exact: events are only
/// ever read with the lock held and applied before it is released, so an empty queue seen
/// now means that every change made so far has been, or is being, applied by whoever holds
/// the lock, which this lookup waits for. With the server's event loop watching the
/// descriptor ([`use_event_loop`]) the question costs no system call, and is answered as
/// of the loop's last look (see [`Readiness`]). Without the hint (nothing was registered
/// when it was last set) the queue is read under the lock.
pub fn unchanged(path: &Path, checked: &Checked) -> Option<Known> {
    let shared = shared();
    let readiness = shared.readiness();
    let quiet = checked.0.load(Ordering::Relaxed)
        || (readiness.is_none()
            && shared.watching.load(Ordering::Relaxed)
            && shared
                .watcher
                .as_ref()
                .is_some_and(|w| w.has_events().is_ok_and(|queued| !queued)));
    let mut cache = shared.cache.lock().ok()?;
    if cache.paths.is_empty() {
        shared.watching.store(false, Ordering::Relaxed);
        return None;
    }
    shared.watching.store(true, Ordering::Relaxed);
    if !quiet {
        match readiness {
            Some(r) => {
                r.drain_if_ready(|| cache.drain());
            }
            None => cache.drain(),
        }
    }
    checked.0.store(true, Ordering::Relaxed);
    let clock = cache.tick();
    if let Some(entry) = cache.files.get_mut(key(path)) {
        entry.used = clock;
        return (entry.watch == Watch::Watched)
            .then(|| Known::File(entry.known.version.clone(), entry.known.open.clone()));
    }
    let entry = cache.missing.get_mut(key(path))?;
    entry.used = clock;
    (entry.watch == Watch::Watched).then_some(Known::Missing)
}

/// The cached version of `path` if it is still `identity` (which the caller just read with
/// a `stat`).
pub fn get(path: &Path, identity: Identity) -> Option<Arc<Version>> {
    let mut cache = cache().lock().ok()?;
    let clock = cache.tick();
    let entry = cache.files.get_mut(key(path))?;
    entry.used = clock;
    (entry.known.version.identity == identity).then(|| entry.known.version.clone())
}

/// Keeps `file`, just opened at `path`, open for the next requests, if the entry for it is
/// watched (so a change closes it) and still `identity`.
pub fn keep_open(path: &Path, identity: Identity, file: &Arc<File>) {
    let Ok(mut guard) = cache().lock() else {
        return;
    };
    let cache = &mut *guard;
    cache.drain();
    if cache.open >= MAX_OPEN {
        return;
    }
    let Some(entry) = cache.files.get_mut(key(path)) else {
        return;
    };
    let cached = &mut entry.known;
    if entry.watch == Watch::Watched && cached.version.identity == identity && cached.open.is_none()
    {
        cached.open = Some(file.clone());
        cache.open += 1;
    }
}

/// After a `stat` found `path` as `meta`, and its cached version current: registers the
/// path with its watches so that later requests skip the `stat`.
pub fn watch(path: &Path, meta: &Metadata) {
    let identity = Identity::of(meta);
    // A file with another name elsewhere can be written through it with no event here.
    let watchable = meta.nlink() == 1;
    start_watching(path, Expect::File(identity), watchable, || {
        std::fs::metadata(path).is_ok_and(|m| Identity::of(&m) == identity && m.nlink() == 1)
    });
}

/// The most files kept open: each costs a descriptor.
const MAX_OPEN: usize = 256;

/// The most paths remembered as missing: they cost little each, but a client can ask for
/// any number of them.
const MAX_MISSING: usize = 4096;

/// After a `stat` found nothing at `path`: remembers it, and the second time watches it, so
/// that a path asked for again and again (a missing `favicon.ico`) costs no `stat`.
pub fn missing(path: &Path) {
    {
        let Ok(mut guard) = cache().lock() else {
            return;
        };
        let cache = &mut *guard;
        let used = cache.tick();
        if let Some(entry) = cache.missing.get_mut(key(path)) {
            entry.used = used;
        } else {
            cache.remove(key(path));
            if cache.missing.len() >= MAX_MISSING {
                // Keep those that proved useful; the rest were most likely asked once.
                let once: Vec<Arc<[u8]>> = cache
                    .missing
                    .iter()
                    .filter(|(_, e)| e.watch != Watch::Watched)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in once {
                    cache.remove(&k);
                }
                if cache.missing.len() >= MAX_MISSING {
                    return;
                }
            }
            let key: Arc<[u8]> = key(path).into();
            cache.bytes += ENTRY_OVERHEAD + key.len();
            let entry = Entry {
                known: (),
                used,
                watch: Watch::Checked,
            };
            cache.missing.insert(key, entry);
            if cache.bytes > BUDGET {
                cache.evict();
            }
            return;
        }
    }
    start_watching(
        path,
        Expect::Missing,
        true,
        || matches!(std::fs::metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound),
    );
}

/// What a path's entry must still hold for [`start_watching`] to mark it watched.
#[derive(Clone, Copy)]
enum Expect {
    /// This version of a file (a slower request may have stored an older one meanwhile).
    File(Identity),
    Missing,
}

impl Expect {
    fn holds(self, cache: &Cache, path: &Path) -> bool {
        match self {
            Expect::File(id) => cache
                .files
                .get(key(path))
                .is_some_and(|e| e.known.version.identity == id),
            Expect::Missing => cache.missing.contains_key(key(path)),
        }
    }
}

/// Registers `path`'s entry (when it is checked by `stat` and holds what `expect` says)
/// with its watches, then confirms with `still` — what the caller's `stat` found is still
/// so — once they are in place, so that no change between the two goes unseen.
/// `watchable`: false marks the entry as never watched.
fn start_watching(path: &Path, expect: Expect, watchable: bool, still: impl FnOnce() -> bool) {
    let target = match expect {
        Expect::File(_) => Target::File,
        Expect::Missing => Target::Missing,
    };
    let (key, serial) = {
        let Ok(mut guard) = cache().lock() else {
            return;
        };
        let cache = &mut *guard;
        cache.drain();
        if !expect.holds(cache, path) {
            return;
        }
        let Some((key, watch)) = cache.state(path, expect) else {
            return;
        };
        if *watch != Watch::Checked {
            return;
        }
        if !watchable {
            *watch = Watch::Unwatchable;
            return;
        }
        match cache.paths.register(key.clone(), path, target) {
            Ok(serial) => (key, serial),
            // With no watch left, not retried on every hit either (each try would add and
            // remove watches): this version stays checked by `stat`.
            Err(Refused::Full | Refused::Unwatchable) => {
                if let Some((_, watch)) = cache.state(path, expect) {
                    *watch = Watch::Unwatchable;
                }
                return;
            }
        }
    };
    let still = still();
    let Ok(mut guard) = cache().lock() else {
        return;
    };
    let cache = &mut *guard;
    cache.drain();
    // Another request may have replaced this registration meanwhile (and finished): then
    // it is not ours to keep or to end.
    let ours = cache.paths.is_current(&key, serial);
    let holds = expect.holds(cache, path);
    match cache.state(path, expect) {
        Some((_, watch)) if ours && still && holds => *watch = Watch::Watched,
        _ if ours => cache.paths.forget(&key),
        _ => {}
    }
}

/// Reads `path` (in a blocking task) and caches it, with the validators of `known`, when
/// it is still that version once read. Returns the version with its content.
pub async fn load(path: &Path, known: &Version) -> std::io::Result<Arc<Version>> {
    let owned = path.to_path_buf();
    let content = tokio::task::spawn_blocking(move || std::fs::read(owned))
        .await
        .map_err(std::io::Error::other)??;
    let content = Bytes::from(content);
    let version = Arc::new(Version {
        identity: known.identity,
        etag: known.etag.clone(),
        last_modified: known.last_modified.clone(),
        content: Some(content),
    });
    // A file that changed while being read is served (it is what was read) but not kept.
    if version.content.as_ref().map(Bytes::len) == usize::try_from(known.identity.len).ok() {
        remember(path, version.clone());
    }
    Ok(version)
}

/// Keeps `version` for `path` (its validators, and its content if it has some), unless the
/// same version with content is already there; returns the version kept.
pub fn remember(path: &Path, version: Arc<Version>) -> Arc<Version> {
    let Ok(mut guard) = cache().lock() else {
        return version;
    };
    let cache = &mut *guard;
    let used = cache.tick();
    if let Some(old) = cache.files.get_mut(key(path)) {
        old.used = used;
        // Never replace content with validators alone for the same version.
        let kept = &old.known.version;
        if kept.identity == version.identity && kept.content.is_some() && version.content.is_none()
        {
            return kept.clone();
        }
    }
    let key = key(path);
    cache.remove(key);
    cache.bytes += version.cost() + key.len();
    let entry = Entry {
        known: Cached {
            version: version.clone(),
            open: None,
        },
        used,
        watch: Watch::Checked,
    };
    cache.files.insert(key.into(), entry);
    if cache.bytes > BUDGET {
        cache.evict();
    }
    version
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(p: &Path) -> Identity {
        Identity::of(&std::fs::metadata(p).unwrap())
    }

    #[tokio::test]
    async fn a_changed_file_is_never_served_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let first = id(&path);
        assert!(get(&path, first).is_none());
        let loaded = load(&path, &Version::new(first)).await.unwrap();
        assert_eq!(loaded.content.as_deref(), Some(&b"one"[..]));
        let cached = get(&path, first).unwrap();
        assert_eq!(cached.content.as_deref(), Some(&b"one"[..]));
        assert_eq!(cached.etag, Version::new(first).etag);
        std::fs::write(&path, "three").unwrap();
        let second = id(&path);
        assert_ne!(first, second);
        assert!(get(&path, second).is_none());
        let loaded = load(&path, &Version::new(second)).await.unwrap();
        assert_eq!(loaded.content.as_deref(), Some(&b"three"[..]));
    }

    /// Caches `path` as two requests would: the first loads it, the second finds it
    /// current and watches it. Returns whether it is then answered without a `stat`.
    async fn serve_twice(path: &Path) -> bool {
        let meta = std::fs::metadata(path).unwrap();
        load(path, &Version::new(Identity::of(&meta)))
            .await
            .unwrap();
        assert!(get(path, Identity::of(&meta)).is_some());
        watch(path, &meta);
        fresh(path).is_some()
    }

    /// What a new request's lookup of `path` finds.
    fn fresh(path: &Path) -> Option<Known> {
        unchanged(path, &Checked::default())
    }

    /// The content `unchanged` answers for `path` with, if it is a watched file.
    fn unchanged_content(path: &Path) -> Option<Bytes> {
        match fresh(path)? {
            Known::File(v, _) => v.content.clone(),
            Known::Missing => None,
        }
    }

    fn canonical_dir() -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        (tmp, dir)
    }

    /// A request asks the kernel for changes once (its first lookup marks it checked);
    /// whatever changes after that is seen by the requests that come after it.
    #[tokio::test]
    async fn a_request_reads_the_change_queue_once() {
        let (_tmp, dir) = canonical_dir();
        let path = dir.join("once.txt");
        std::fs::write(&path, "one").unwrap();
        assert!(serve_twice(&path).await);
        let request = Checked::default();
        assert!(unchanged(&path, &request).is_some());
        assert!(
            request.0.load(Ordering::Relaxed),
            "checked by its first lookup"
        );
        std::fs::write(&path, "two, longer").unwrap();
        // The same request may answer either way (the change came after it); other tests
        // of this process may drain the queue meanwhile. A new request must see it.
        let _ = unchanged(&path, &request);
        assert!(fresh(&path).is_none(), "the next request sees the change");
    }

    #[tokio::test]
    async fn a_watched_file_needs_no_stat_until_it_changes() {
        let (_tmp, dir) = canonical_dir();
        let path = dir.join("w.txt");
        std::fs::write(&path, "one").unwrap();
        assert!(fresh(&path).is_none());
        assert!(serve_twice(&path).await);
        assert_eq!(unchanged_content(&path).as_deref(), Some(&b"one"[..]));
        std::fs::write(&path, "two").unwrap();
        assert!(fresh(&path).is_none(), "a write is seen by the next lookup");
        // The old version is still there for a stat to compare against, not to be served.
        let now = Identity::of(&std::fs::metadata(&path).unwrap());
        assert!(get(&path, now).is_none());
        assert!(serve_twice(&path).await);
        assert_eq!(unchanged_content(&path).as_deref(), Some(&b"two"[..]));
        std::fs::rename(&dir, dir.with_extension("moved")).unwrap();
        assert!(fresh(&path).is_none(), "its directory moved away");
        std::fs::rename(dir.with_extension("moved"), &dir).unwrap();
    }

    #[tokio::test]
    async fn files_that_can_change_unseen_are_checked_every_time() {
        let (_tmp, dir) = canonical_dir();
        // Two names: writes through the other one would show in another directory.
        let linked = dir.join("linked.txt");
        std::fs::write(&linked, "x").unwrap();
        std::fs::hard_link(&linked, dir.join("other-name")).unwrap();
        assert!(!serve_twice(&linked).await);
        // A link through `..`: where it leads depends on where its directory is.
        std::fs::create_dir_all(dir.join("real/sub")).unwrap();
        std::fs::write(dir.join("real/f.txt"), "y").unwrap();
        std::os::unix::fs::symlink("..", dir.join("real/sub/up")).unwrap();
        let via = dir.join("real/sub/up/f.txt");
        assert!(!serve_twice(&via).await);
        // Both are still served from the cache after a stat.
        let meta = std::fs::metadata(&via).unwrap();
        assert!(get(&via, Identity::of(&meta)).is_some());
        // A plain link on the way is watched like the rest.
        std::os::unix::fs::symlink(dir.join("real"), dir.join("current")).unwrap();
        assert!(serve_twice(&dir.join("current/f.txt")).await);
    }

    #[test]
    fn a_kept_file_is_let_go_by_the_next_lookup_after_a_change() {
        let (_tmp, dir) = canonical_dir();
        let path = dir.join("big.bin");
        std::fs::write(&path, vec![1u8; 100_000]).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let id = Identity::of(&meta);
        let file = Arc::new(File::open(&path).unwrap());
        remember(&path, Arc::new(Version::new(id)));
        keep_open(&path, id, &file);
        assert_eq!(Arc::strong_count(&file), 1, "only a watched entry keeps it");
        assert!(get(&path, id).is_some());
        watch(&path, &meta);
        keep_open(&path, id, &file);
        match fresh(&path) {
            Some(Known::File(v, Some(kept))) => {
                assert!(Arc::ptr_eq(&kept, &file));
                assert!(v.content.is_none());
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(&path).unwrap();
        assert!(fresh(&path).is_none());
        assert_eq!(
            Arc::strong_count(&file),
            1,
            "the deleted file is no longer held"
        );
    }

    #[test]
    fn a_path_missing_twice_is_known_missing_until_it_appears() {
        let (_tmp, dir) = canonical_dir();
        let path = dir.join("favicon.ico");
        missing(&path);
        assert!(fresh(&path).is_none(), "asked once: only remembered");
        missing(&path);
        assert!(matches!(fresh(&path), Some(Known::Missing)));
        std::fs::write(&path, "icon").unwrap();
        assert!(fresh(&path).is_none(), "created: the next lookup sees it");
        // Missing below a missing directory, and a dangling link.
        let deep = dir.join("a/b/c.txt");
        missing(&deep);
        missing(&deep);
        assert!(matches!(fresh(&deep), Some(Known::Missing)));
        std::fs::create_dir(dir.join("a")).unwrap();
        assert!(fresh(&deep).is_none());
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        missing(&dangling);
        missing(&dangling);
        assert!(matches!(fresh(&dangling), Some(Known::Missing)));
        std::fs::write(dir.join("nowhere"), "found").unwrap();
        assert!(fresh(&dangling).is_none(), "the link's target appeared");
    }

    #[tokio::test]
    async fn validators_alone_never_replace_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.txt");
        std::fs::write(&path, "bee").unwrap();
        let v = id(&path);
        load(&path, &Version::new(v)).await.unwrap();
        let kept = remember(&path, Arc::new(Version::new(v)));
        assert_eq!(kept.content.as_deref(), Some(&b"bee"[..]));
        assert!(get(&path, v).unwrap().content.is_some());
    }

    #[test]
    fn validators_are_the_conditional_modules() {
        let mtime = std::time::UNIX_EPOCH + std::time::Duration::new(784_111_777, 5);
        let v = Version::new(Identity {
            ino: 0x42,
            len: 0x1c8,
            mtime,
        });
        assert_eq!(v.etag, "\"42-1c8-2ebc98a1.5\"");
        assert_eq!(v.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    /// Keeps some other registration alive so `unchanged` does not short-cut on an empty
    /// registry (as in a running server, where many files are watched).
    fn keep_registry_busy(dir: &Path) {
        let other = dir.join("other.txt");
        std::fs::write(&other, "x").unwrap();
        let meta = std::fs::metadata(&other).unwrap();
        remember(&other, Arc::new(Version::new(Identity::of(&meta))));
        watch(&other, &meta);
        assert!(fresh(&other).is_some());
    }

    /// Two requests for the same file both call `watch`: the first registers, and while
    /// it re-stats (lock released) the second registers again and completes. The first
    /// must then leave the second's registration alone, or the entry would stay watched
    /// with nothing to report a change.
    #[test]
    fn a_watch_overtaken_by_another_leaves_its_registration_alone() {
        let (_tmp, dir) = canonical_dir();
        keep_registry_busy(&dir);
        let path = dir.join("race.txt");
        std::fs::write(&path, "one").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        remember(&path, Arc::new(Version::new(Identity::of(&meta))));
        let p = path.clone();
        let m = meta.clone();
        // T1's registration; its `still` runs T2's whole `watch` (as T2 would meanwhile).
        start_watching(&path, Expect::File(Identity::of(&meta)), true, move || {
            watch(&p, &m);
            std::fs::metadata(&p).is_ok_and(|n| Identity::of(&n) == Identity::of(&m))
        });
        assert!(fresh(&path).is_some(), "watched");
        std::fs::write(&path, "changed, longer").unwrap();
        match fresh(&path) {
            None => {}
            Some(Known::File(v, _)) => panic!(
                "stale: file is now {:?}, cache answers without stat with {:?}",
                Identity::of(&std::fs::metadata(&path).unwrap()),
                v.identity
            ),
            Some(Known::Missing) => panic!("missing?"),
        }
    }

    /// A late `remember` of an older version (a load that started before the file changed
    /// and finished after a newer version was cached) lands between a request's `get` and
    /// its `watch`: the entry must hold the version the request checked to be watched.
    #[test]
    fn only_the_version_that_was_checked_is_watched() {
        let (_tmp, dir) = canonical_dir();
        keep_registry_busy(&dir);
        let path = dir.join("late.txt");
        std::fs::write(&path, "one").unwrap();
        let old = Identity::of(&std::fs::metadata(&path).unwrap());
        let stale = Arc::new(Version {
            content: Some(Bytes::from_static(b"one")),
            ..Version::new(old)
        });
        std::fs::write(&path, "two, longer").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let now = Identity::of(&meta);
        // Request B cached the new version; request C's stat + get match it.
        remember(&path, Arc::new(Version::new(now)));
        assert!(get(&path, now).is_some());
        // Request A's load of the old version finishes now.
        remember(&path, stale);
        // Request C goes on to watch.
        watch(&path, &meta);
        if let Some(Known::File(v, _)) = fresh(&path) {
            assert_eq!(v.identity, now, "answered with an older version, no stat");
        }
    }

    /// The same with a missing path: once created, it must not be answered missing.
    #[test]
    fn an_overtaken_missing_watch_leaves_its_registration_alone() {
        let (_tmp, dir) = canonical_dir();
        keep_registry_busy(&dir);
        let path = dir.join("favicon.ico");
        missing(&path);
        let p = path.clone();
        start_watching(&path, Expect::Missing, true, move || {
            missing(&p); // T2: second miss, registers and completes
            matches!(std::fs::metadata(&p), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
        });
        assert!(matches!(fresh(&path), Some(Known::Missing)));
        std::fs::write(&path, "icon").unwrap();
        assert!(
            fresh(&path).is_none(),
            "created, but still answered missing"
        );
    }

    /// The same race with real threads: two requests watching one file at once.
    #[test]
    fn threads_racing_to_watch_never_leave_a_stale_entry() {
        let (_tmp, dir) = canonical_dir();
        keep_registry_busy(&dir);
        let path = dir.join("hot.txt");
        let mut stale = 0;
        for i in 0..2000u32 {
            std::fs::write(&path, format!("v{i}")).unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            remember(&path, Arc::new(Version::new(Identity::of(&meta))));
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (p, m, b) = (path.clone(), meta.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        b.wait();
                        watch(&p, &m)
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            if fresh(&path).is_some() {
                std::fs::write(&path, "changed behind its back, longer").unwrap();
                if fresh(&path).is_some() {
                    stale += 1;
                }
            }
        }
        assert_eq!(stale, 0, "stale answers out of 2000 rounds");
    }
}
