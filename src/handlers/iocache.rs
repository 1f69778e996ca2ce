//! The I/O cache (Cherokee's `iocache`): what the file handler knows of recently served
//! files — their validators already in header form, and the content of small ones — so a
//! popular page costs one `stat`, no read and no formatting.
//!
//! An entry is used only while the file's identity (inode, size, modification time) is
//! what it was when the entry was made: every request checks it with a fresh `stat`, so a
//! changed file is never served stale. Reading a missing entry's content happens in a
//! blocking task. The cache is bounded in bytes; when full, the entries used least recently
//! are dropped.

use bytes::Bytes;
use http::HeaderValue;
use rustc_hash::FxHashMap;
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

/// What identifies one version of a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Identity {
    pub ino: u64,
    pub len: u64,
    pub mtime: SystemTime,
}

impl Identity {
    pub fn of(meta: &std::fs::Metadata) -> Identity {
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
}

/// Keyed by the path's bytes, with FxHash: keys are paths of files that were served (a
/// client cannot choose them freely), so a keyed hash buys nothing, and hashing a `Path`
/// splits it into components first; both were a visible share of a small request.
#[derive(Default)]
struct Cache {
    entries: FxHashMap<Box<[u8]>, Entry>,
    bytes: usize,
    clock: u64,
}

fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The cached version of `path` if it is still `identity`.
pub fn get(path: &Path, identity: Identity) -> Option<Arc<Version>> {
    let mut cache = cache().lock().ok()?;
    cache.clock += 1;
    let clock = cache.clock;
    let entry = cache.entries.get_mut(key(path))?;
    if entry.version.identity != identity {
        return None;
    }
    entry.used = clock;
    Some(entry.version.clone())
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
    let Ok(mut cache) = cache().lock() else {
        return version;
    };
    cache.clock += 1;
    let used = cache.clock;
    if let Some(old) = cache.entries.get(key(path)) {
        // Never replace content with validators alone for the same version.
        if old.version.identity == version.identity
            && old.version.content.is_some()
            && version.content.is_none()
        {
            return old.version.clone();
        }
    }
    let key = key(path);
    let entry = Entry {
        version: version.clone(),
        used,
    };
    cache.bytes += version.cost() + key.len();
    if let Some(old) = cache.entries.insert(key.into(), entry) {
        cache.bytes -= old.version.cost() + key.len();
    }
    if cache.bytes > BUDGET {
        evict(&mut cache);
    }
    version
}

/// Drops the least recently used entries until the cache is at three quarters of its
/// budget (so eviction does not run on every insert).
fn evict(cache: &mut Cache) {
    let mut by_age: Vec<(u64, Box<[u8]>, usize)> = cache
        .entries
        .iter()
        .map(|(p, e)| (e.used, p.clone(), e.version.cost() + p.len()))
        .collect();
    by_age.sort_unstable_by_key(|(used, _, _)| *used);
    for (_, path, size) in by_age {
        if cache.bytes <= BUDGET / 4 * 3 {
            break;
        }
        cache.entries.remove(&path);
        cache.bytes -= size;
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
