//! [`SinkRegistry`]: one [`Sink`] per destination.
//!
//! Several virtual servers may log to the same file. Opening it twice would
//! give two writer tasks with independent buffers whose writes interleave
//! mid-line, so within one configuration load every target maps to a single
//! sink. Across a configuration reload the new registry is seeded from the
//! old one ([`SinkRegistry::carry_over`]) so files that stay in use keep
//! their open sink; sinks no longer named are closed (flushed) once the old
//! configuration and its loggers are dropped.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::sink::{Sink, Target};

/// Sinks of one configuration, keyed by canonical destination.
#[derive(Debug, Default)]
pub struct SinkRegistry {
    current: HashMap<Target, Sink>,
    /// Sinks of the previous configuration that may be reused.
    previous: HashMap<Target, Sink>,
}

impl SinkRegistry {
    /// An empty registry.
    pub fn new() -> SinkRegistry {
        SinkRegistry::default()
    }

    /// A registry for a new configuration that reuses the sinks of
    /// `previous` when the new configuration names the same destination.
    pub fn carry_over(previous: &SinkRegistry) -> SinkRegistry {
        let mut reusable = previous.previous.clone();
        reusable.extend(previous.current.iter().map(|(k, v)| (k.clone(), v.clone())));
        SinkRegistry {
            current: HashMap::new(),
            previous: reusable,
        }
    }

    /// Returns the sink for `target`, opening it if this configuration has
    /// not used it yet and the previous one had no open sink for it. File
    /// paths are compared after resolving symbolic links and `..`, so two
    /// spellings of one file share a sink. The buffer size of the first
    /// request wins.
    pub fn get_or_open(&mut self, target: Target, buffer_size: usize) -> io::Result<Sink> {
        let key = canonical(&target);
        if let Some(sink) = self.current.get(&key) {
            return Ok(sink.clone());
        }
        let sink = match self.previous.remove(&key) {
            Some(sink) => sink,
            None => Sink::open(target, buffer_size)?,
        };
        // The file exists now; a second call with another spelling resolves
        // to the same key.
        self.current.insert(canonical(&key), sink.clone());
        Ok(sink)
    }

    /// The sinks opened or reused by this configuration.
    pub fn sinks(&self) -> impl Iterator<Item = &Sink> {
        self.current.values()
    }

    /// Asks every sink to reopen its file (log rotation, `SIGUSR2`).
    pub fn reopen_all(&self) {
        for sink in self.current.values() {
            sink.reopen();
        }
    }

    /// Flushes every sink (shutdown).
    pub async fn flush_all(&self) {
        for sink in self.current.values() {
            sink.flush().await;
        }
    }
}

/// The key under which `target` is registered.
fn canonical(target: &Target) -> Target {
    match target {
        Target::File(path) => Target::File(canonical_path(path)),
        other => other.clone(),
    }
}

/// Resolves `path` as far as possible: the whole path if the file exists,
/// else its directory; falls back to the path as given.
fn canonical_path(path: &Path) -> PathBuf {
    if let Ok(full) = path.canonicalize() {
        return full;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            match parent.canonicalize() {
                Ok(dir) => dir.join(name),
                Err(_) => path.to_path_buf(),
            }
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::DEFAULT_BUFFER_SIZE;

    #[tokio::test]
    async fn same_destination_same_sink() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("sub"))?;
        let a = dir.path().join("a.log");
        let mut registry = SinkRegistry::new();
        let first = registry.get_or_open(Target::File(a.clone()), DEFAULT_BUFFER_SIZE)?;
        let again = registry.get_or_open(Target::File(a.clone()), 0)?;
        let other_spelling =
            registry.get_or_open(Target::File(dir.path().join("sub/../a.log")), 0)?;
        let other_file = registry.get_or_open(Target::File(dir.path().join("b.log")), 0)?;
        assert!(first.same_as(&again));
        assert!(first.same_as(&other_spelling));
        assert!(!first.same_as(&other_file));
        let e1 = registry.get_or_open(Target::Stderr, 0)?;
        let e2 = registry.get_or_open(Target::Stderr, 0)?;
        assert!(e1.same_as(&e2));
        assert_eq!(registry.sinks().count(), 3);

        first.write(b"from vserver 1\n".to_vec());
        again.write(b"from vserver 2\n".to_vec());
        registry.flush_all().await;
        assert_eq!(
            std::fs::read_to_string(&a)?,
            "from vserver 1\nfrom vserver 2\n"
        );
        Ok(())
    }

    #[tokio::test]
    async fn new_file_spelled_through_a_dot_path() -> io::Result<()> {
        // Neither spelling exists before the first open.
        let dir = tempfile::tempdir()?;
        let mut registry = SinkRegistry::new();
        let one = registry.get_or_open(Target::File(dir.path().join("./c.log")), 0)?;
        let two = registry.get_or_open(Target::File(dir.path().join("c.log")), 0)?;
        assert!(one.same_as(&two));
        Ok(())
    }

    #[tokio::test]
    async fn reload_reuses_open_sinks() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let kept = dir.path().join("kept.log");
        let gone = dir.path().join("gone.log");
        let mut old = SinkRegistry::new();
        let old_kept = old.get_or_open(Target::File(kept.clone()), DEFAULT_BUFFER_SIZE)?;
        let old_gone = old.get_or_open(Target::File(gone.clone()), DEFAULT_BUFFER_SIZE)?;

        let mut new = SinkRegistry::carry_over(&old);
        let new_kept = new.get_or_open(Target::File(kept.clone()), DEFAULT_BUFFER_SIZE)?;
        let fresh = new.get_or_open(Target::File(dir.path().join("new.log")), 0)?;
        assert!(new_kept.same_as(&old_kept));
        assert!(!fresh.same_as(&old_gone));
        assert_eq!(new.sinks().count(), 2);
        assert!(!new.sinks().any(|s| s.same_as(&old_gone)));

        // The old configuration goes away; the reused sink keeps working and
        // the order of lines across the reload is kept.
        old_kept.write(b"old config\n".to_vec());
        old_gone.write(b"last words\n".to_vec());
        drop(old);
        drop(old_kept);
        drop(old_gone);
        new_kept.write(b"new config\n".to_vec());
        new.flush_all().await;
        assert_eq!(std::fs::read_to_string(&kept)?, "old config\nnew config\n");
        for _ in 0..100 {
            if std::fs::read_to_string(&gone)? == "last words\n" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(std::fs::read_to_string(&gone)?, "last words\n");

        // A reload of the reload still finds the sink.
        let mut third = SinkRegistry::carry_over(&new);
        let third_kept = third.get_or_open(Target::File(kept), 0)?;
        assert!(third_kept.same_as(&new_kept));
        Ok(())
    }

    #[tokio::test]
    async fn reopen_all_reaches_every_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let a = dir.path().join("a.log");
        let mut registry = SinkRegistry::new();
        let sink = registry.get_or_open(Target::File(a.clone()), DEFAULT_BUFFER_SIZE)?;
        sink.write(b"1\n".to_vec());
        std::fs::rename(&a, dir.path().join("a.log.1"))?;
        registry.reopen_all();
        sink.write(b"2\n".to_vec());
        registry.flush_all().await;
        assert_eq!(std::fs::read_to_string(dir.path().join("a.log.1"))?, "1\n");
        assert_eq!(std::fs::read_to_string(&a)?, "2\n");
        Ok(())
    }
}
