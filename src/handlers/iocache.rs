//! The I/O cache (Cherokee's `iocache`): what the file handler knows of recently served
//! files — their validators already in header form, and the content of small ones — so a
//! popular page costs no `stat`, no read and no formatting.
//!
//! An entry is used only while the file's identity (inode, size, modification time) is
//! what it was when the entry was made, so a changed file is never served stale. Which of
//! two ways that is known:
//!
//! - **Watched**: the path is registered with [`crate::pathwatch`], whose inotify watches
//!   report any change to the file or to a directory on its way before the next lookup.
//!   Such an entry is answered without touching the file system ([`unchanged`]).
//! - **Checked**: otherwise (a symbolic link on the way, a file with several hard links, a
//!   network file system, no free watch) each request `stat`s the file and compares
//!   ([`get`]). A checked entry becomes watched on a later hit ([`watch`]).
//!
//! Reading a missing entry's content happens in a blocking task. The cache is bounded in
//! bytes; when full, the entries used least recently are dropped.

use crate::fswatch::Watcher;
use crate::pathwatch::{PathWatch, Refused};
use bytes::Bytes;
use http::HeaderValue;
use rustc_hash::FxHashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// Files up to this size have their content cached (and go out with the response head in
/// one `writev`). Larger ones are sent with `sendfile`, which costs an `open` but no copy
/// from user space: past a few tens of KiB that is the cheaper of the two.
pub const MAX_FILE: u64 = 32 * 1024;
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

struct Entry {
    version: Arc<Version>,
    /// A use counter value, for eviction.
    used: u64,
    watch: Watch,
}

/// How an entry is known to be current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Watch {
    /// By a `stat` per request, until [`watch`] registers it.
    Checked,
    /// By its path's watches: no `stat` needed.
    Watched,
    /// By a `stat` per request, for good: the path cannot be watched (see the module).
    Unwatchable,
}

/// Keyed by the path's bytes, with FxHash: keys are paths of files that were served (a
/// client cannot choose them freely), so a keyed hash buys nothing, and hashing a `Path`
/// splits it into components first; both were a visible share of a small request.
struct Cache {
    entries: FxHashMap<Arc<[u8]>, Entry>,
    bytes: usize,
    clock: u64,
    paths: PathWatch<Arc<[u8]>>,
}

impl Cache {
    /// Applies the file system's changes: the entries they concern are checked again.
    fn drain(&mut self) {
        let entries = &mut self.entries;
        self.paths.drain(|key| {
            if let Some(entry) = entries.get_mut(key) {
                entry.watch = Watch::Checked;
            }
        });
    }

    /// Marks `path`'s entry as used now and returns it.
    fn touch(&mut self, path: &Path) -> Option<&mut Entry> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.get_mut(key(path))?;
        entry.used = clock;
        Some(entry)
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some((key, entry)) = self.entries.remove_entry(key) {
            self.bytes -= entry.version.cost() + key.len();
            self.paths.forget(&key);
        }
    }
}

fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let watcher = Watcher::new()
            .inspect_err(|e| tracing::warn!(error = %e, "no inotify: every cached file is checked with stat on each request"))
            .ok();
        Mutex::new(Cache {
            entries: FxHashMap::default(),
            bytes: 0,
            clock: 0,
            paths: PathWatch::new(watcher, MAX_WATCHES),
        })
    })
}

/// The cached version of `path` if it is watched and nothing changed: the caller needs no
/// `stat` (it is a regular file, readable when it was last checked).
pub fn unchanged(path: &Path) -> Option<Arc<Version>> {
    let mut cache = cache().lock().ok()?;
    if cache.paths.is_empty() {
        return None;
    }
    cache.drain();
    let entry = cache.touch(path)?;
    (entry.watch == Watch::Watched).then(|| entry.version.clone())
}

/// The cached version of `path` if it is still `identity` (which the caller just read with
/// a `stat`).
pub fn get(path: &Path, identity: Identity) -> Option<Arc<Version>> {
    let mut cache = cache().lock().ok()?;
    let entry = cache.touch(path)?;
    (entry.version.identity == identity).then(|| entry.version.clone())
}

/// After a `stat` found `path` as `meta`, and its cached version current: registers the
/// path with its watches so that later requests skip the `stat`. The path is checked again
/// once the watches are in place, so that no change between the two goes unseen.
pub fn watch(path: &Path, meta: &Metadata) {
    let identity = Identity::of(meta);
    let serial = {
        let Ok(mut guard) = cache().lock() else {
            return;
        };
        let cache = &mut *guard;
        cache.drain();
        let Some((key, entry)) = cache.entries.get_key_value(key(path)) else {
            return;
        };
        if entry.watch != Watch::Checked || entry.version.identity != identity {
            return;
        }
        let key = key.clone();
        // A file with another name elsewhere can be written through it with no event here.
        let registered = match meta.nlink() {
            1 => cache.paths.register(key.clone(), path),
            _ => Err(Refused::Unwatchable),
        };
        match registered {
            Ok(serial) => serial,
            Err(refused) => {
                if let (Refused::Unwatchable, Some(entry)) = (refused, cache.entries.get_mut(&key))
                {
                    entry.watch = Watch::Unwatchable;
                }
                return;
            }
        }
    };
    let again = std::fs::metadata(path);
    let Ok(mut guard) = cache().lock() else {
        return;
    };
    let cache = &mut *guard;
    cache.drain();
    let Some((key, entry)) = cache.entries.get_key_value(key(path)) else {
        return;
    };
    let key = key.clone();
    let same = again.is_ok_and(|m| Identity::of(&m) == identity && m.nlink() == 1);
    if same && entry.version.identity == identity && cache.paths.is_current(&key, serial) {
        if let Some(entry) = cache.entries.get_mut(&key) {
            entry.watch = Watch::Watched;
        }
    } else {
        cache.paths.forget(&key);
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
    if let Some(old) = cache.touch(path) {
        // Never replace content with validators alone for the same version.
        if old.version.identity == version.identity
            && old.version.content.is_some()
            && version.content.is_none()
        {
            return old.version.clone();
        }
    }
    let key = key(path);
    cache.remove(key);
    cache.bytes += version.cost() + key.len();
    let entry = Entry {
        version: version.clone(),
        used: cache.clock,
        watch: Watch::Checked,
    };
    cache.entries.insert(key.into(), entry);
    if cache.bytes > BUDGET {
        evict(cache);
    }
    version
}

/// Drops the least recently used entries until the cache is at three quarters of its
/// budget (so eviction does not run on every insert).
fn evict(cache: &mut Cache) {
    let mut by_age: Vec<(u64, Arc<[u8]>)> = cache
        .entries
        .iter()
        .map(|(p, e)| (e.used, p.clone()))
        .collect();
    by_age.sort_unstable_by_key(|(used, _)| *used);
    for (_, path) in by_age {
        if cache.bytes <= BUDGET / 4 * 3 {
            break;
        }
        cache.remove(&path);
    }
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
        unchanged(path).is_some()
    }

    fn canonical_dir() -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        (tmp, dir)
    }

    #[tokio::test]
    async fn a_watched_file_needs_no_stat_until_it_changes() {
        let (_tmp, dir) = canonical_dir();
        let path = dir.join("w.txt");
        std::fs::write(&path, "one").unwrap();
        assert!(unchanged(&path).is_none());
        assert!(serve_twice(&path).await);
        let cached = unchanged(&path).unwrap();
        assert_eq!(cached.content.as_deref(), Some(&b"one"[..]));
        std::fs::write(&path, "two").unwrap();
        assert!(
            unchanged(&path).is_none(),
            "a write is seen by the next lookup"
        );
        // The old version is still there for a stat to compare against, not to be served.
        let now = Identity::of(&std::fs::metadata(&path).unwrap());
        assert!(get(&path, now).is_none());
        assert!(serve_twice(&path).await);
        assert_eq!(
            unchanged(&path).unwrap().content.as_deref(),
            Some(&b"two"[..])
        );
        std::fs::rename(&dir, dir.with_extension("moved")).unwrap();
        assert!(unchanged(&path).is_none(), "its directory moved away");
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
        // A symbolic link on the way: its target may change with no event.
        std::fs::create_dir(dir.join("real")).unwrap();
        std::fs::write(dir.join("real/f.txt"), "y").unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("via")).unwrap();
        assert!(!serve_twice(&dir.join("via/f.txt")).await);
        // Both are still served from the cache after a stat.
        let meta = std::fs::metadata(dir.join("via/f.txt")).unwrap();
        assert!(get(&dir.join("via/f.txt"), Identity::of(&meta)).is_some());
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
}
