//! The I/O cache (Cherokee's `iocache`): the content of small files kept in memory, so a
//! popular page costs one `stat` and no read.
//!
//! An entry is used only while the file's identity (inode, size, modification time) is
//! what it was when read: every request checks it with a fresh `stat`, so a changed file
//! is never served stale. Reading a missing entry happens in a blocking task. The cache is
//! bounded in bytes; when full, the entries used least recently are dropped.

use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// Files up to this size are cached.
pub const MAX_FILE: u64 = 256 * 1024;
/// The most content bytes kept.
const BUDGET: usize = 64 << 20;

/// What identifies one version of a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Identity {
    pub ino: u64,
    pub len: u64,
    pub mtime: SystemTime,
}

struct Entry {
    identity: Identity,
    content: Bytes,
    /// A use counter value, for eviction.
    used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<PathBuf, Entry>,
    bytes: usize,
    clock: u64,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The cached content of `path` if it is still this version of the file.
pub fn get(path: &Path, identity: Identity) -> Option<Bytes> {
    let mut cache = cache().lock().ok()?;
    cache.clock += 1;
    let clock = cache.clock;
    let entry = cache.entries.get_mut(path)?;
    if entry.identity != identity {
        return None;
    }
    entry.used = clock;
    Some(entry.content.clone())
}

/// Reads `path` (in a blocking task) and caches it when it is still `identity` once read.
pub async fn load(path: &Path, identity: Identity) -> std::io::Result<Bytes> {
    let owned = path.to_path_buf();
    let content = tokio::task::spawn_blocking(move || std::fs::read(owned))
        .await
        .map_err(std::io::Error::other)??;
    let content = Bytes::from(content);
    // A file that changed while being read is served (it is what was read) but not kept.
    if content.len() as u64 == identity.len {
        insert(path, identity, content.clone());
    }
    Ok(content)
}

fn insert(path: &Path, identity: Identity, content: Bytes) {
    let Ok(mut cache) = cache().lock() else {
        return;
    };
    cache.clock += 1;
    let used = cache.clock;
    let size = content.len();
    if let Some(old) = cache.entries.insert(
        path.to_path_buf(),
        Entry {
            identity,
            content,
            used,
        },
    ) {
        cache.bytes -= old.content.len();
    }
    cache.bytes += size;
    if cache.bytes > BUDGET {
        evict(&mut cache);
    }
}

/// Drops the least recently used entries until the cache is at three quarters of its
/// budget (so eviction does not run on every insert).
fn evict(cache: &mut Cache) {
    let mut by_age: Vec<(u64, PathBuf, usize)> = cache
        .entries
        .iter()
        .map(|(p, e)| (e.used, p.clone(), e.content.len()))
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

    #[tokio::test]
    async fn a_changed_file_is_never_served_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "one").unwrap();
        let id = |p: &Path| {
            let m = std::fs::metadata(p).unwrap();
            Identity {
                ino: std::os::unix::fs::MetadataExt::ino(&m),
                len: m.len(),
                mtime: m.modified().unwrap(),
            }
        };
        let first = id(&path);
        assert!(get(&path, first).is_none());
        assert_eq!(load(&path, first).await.unwrap(), "one");
        assert_eq!(get(&path, first).unwrap(), "one");
        std::fs::write(&path, "three").unwrap();
        let second = id(&path);
        assert_ne!(first, second);
        assert!(get(&path, second).is_none());
        assert_eq!(load(&path, second).await.unwrap(), "three");
    }
}
