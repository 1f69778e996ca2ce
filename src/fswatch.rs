//! Change notification for directories (Linux inotify), for caches that must never answer
//! with something older than the file system.
//!
//! The property caches build on: the kernel queues an inotify event synchronously, inside
//! the system call that changed the file system (`write`, `rename`, `unlink`, `utimensat`,
//! `truncate`…). So a cache that [`Watcher::drain`]s the (non-blocking) descriptor before
//! it answers sees every change that completed before the request was made: there is no
//! background thread whose lag could let a stale answer through. When nothing changed, the
//! drain costs one `read` that fails with `EAGAIN`. A caller may instead learn whether to
//! drain from the runtime's event loop ([`Readiness`]: no system call, a change seen one
//! look of the loop late).
//!
//! What a directory watch ([`CHANGES`]) reports: entries created, deleted or renamed in or
//! out, the directory itself deleted or moved, and, for its direct children, content written,
//! size or metadata changed (`IN_MODIFY`, `IN_ATTRIB`, `IN_CLOSE_WRITE` name the child). It
//! does not report changes made through another hard link of a child, changes below a
//! subdirectory, changes to the target of a symbolic link, nor a different directory
//! appearing at the same path because an ancestor was renamed: callers check those
//! themselves (an identity `stat` of the directory, fingerprints of such entries).
//! [`reports_all_changes`] tells the file systems where local inotify is complete from
//! those (NFS, FUSE, 9p…) where another machine may change files without an event.
//!
//! Hand-written on `libc` (already a dependency) rather than the `inotify` crate: four
//! system calls and a 16-byte record header, and the caller needs exactly a non-blocking
//! drain on the request path, not a stream or a background reader.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// What a directory watch asks for: every change that can alter a listing of it.
pub const CHANGES: u32 = ENTRIES | libc::IN_MODIFY | libc::IN_CLOSE_WRITE;

/// The changes to a directory's entries, without writes to the files in it: entries
/// created, deleted, renamed in or out or their metadata changed (permissions), and the
/// directory itself deleted or moved. What a directory that a path only goes through can
/// change of it; writes to a log file kept there are no event.
pub const ENTRIES: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// One watch of an inotify instance (the kernel's watch descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Wd(i32);

/// What [`Watcher::drain`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The watched directory itself changed: deleted, moved, its metadata changed, or the
    /// watch ended (`IN_IGNORED`).
    Changed(Wd),
    /// The entry of that name in the watched directory was created, deleted, renamed in
    /// or out, written or had its metadata changed.
    Child(Wd, &'a [u8]),
    /// The kernel's event queue overflowed: events were lost, anything may have changed.
    Overflow,
}

impl Event<'_> {
    /// The watch the event is about (`None` for an overflow).
    pub fn watch(&self) -> Option<Wd> {
        match *self {
            Event::Changed(wd) | Event::Child(wd, _) => Some(wd),
            Event::Overflow => None,
        }
    }
}

/// An inotify instance, non-blocking and closed on exec.
#[derive(Debug)]
pub struct Watcher {
    fd: OwnedFd,
}

/// The fixed part of a `struct inotify_event` (wd, mask, cookie, len); a name of `len`
/// bytes follows it.
const EVENT_HEADER: usize = 16;

/// An aligned read buffer: the kernel writes whole `inotify_event` records. Left
/// uninitialised: zeroing 4 KiB cost more than the `read` that usually finds nothing.
#[repr(C, align(8))]
struct EventBuffer([std::mem::MaybeUninit<u8>; 4096]);

impl Watcher {
    pub fn new() -> io::Result<Watcher> {
        // SAFETY: no pointer arguments; the result is checked.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(Watcher {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches exactly the directory `dir` is open on (through `/proc/self/fd`), so that
    /// the watch and what the caller then reads through the same descriptor are one inode
    /// even if its path is renamed meanwhile. Fails without `/proc`, at the
    /// `max_user_watches` limit (`ENOSPC`), or if `dir` is not a directory.
    pub fn watch_dir(&self, dir: &File) -> io::Result<Wd> {
        self.watch_path(&fd_path(dir))
    }

    /// Watches the directory at `path` for [`CHANGES`]. Watching an inode already watched
    /// returns its existing descriptor.
    pub fn watch_path(&self, path: &Path) -> io::Result<Wd> {
        self.add_watch(path, CHANGES)
    }

    /// Watches the directory at `path` for `events` ([`CHANGES`] or [`ENTRIES`]) added to
    /// those it is already watched for (a watch's events only ever grow, so that callers
    /// that need more of one directory never lose them to one that needs less). Fails
    /// (`ENOTDIR`) if the last component of `path` is a symbolic link instead of following
    /// it: for callers that must watch the very directories a path goes through.
    pub fn watch_path_no_follow(&self, path: &Path, events: u32) -> io::Result<Wd> {
        self.add_watch(path, events | libc::IN_DONT_FOLLOW | libc::IN_MASK_ADD)
    }

    fn add_watch(&self, path: &Path, flags: u32) -> io::Result<Wd> {
        let c_path = c_path(path)?;
        let mask = libc::IN_ONLYDIR | libc::IN_EXCL_UNLINK | flags;
        // SAFETY: `c_path` is a valid NUL-terminated string for the duration of the call.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c_path.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Wd(wd))
    }

    /// Ends a watch. A watch the kernel already ended (its directory was deleted) is not
    /// an error worth reporting: either way it is gone.
    pub fn unwatch(&self, wd: Wd) {
        // SAFETY: plain integers; an invalid wd only makes the call fail with EINVAL.
        unsafe {
            libc::inotify_rm_watch(self.fd.as_raw_fd(), wd.0);
        }
    }

    /// Whether events are queued, without reading them (`FIONREAD`): a caller that reads
    /// and applies events under a lock can look first without holding it.
    pub fn has_events(&self) -> io::Result<bool> {
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which is valid.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::FIONREAD, &mut queued) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(queued > 0)
    }

    /// Registers the descriptor with the current tokio runtime's event loop, which then
    /// notes whether events are queued each time it looks at its descriptors: see
    /// [`Readiness`]. Fails outside a runtime.
    pub fn register(self: &Arc<Self>) -> io::Result<Readiness> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other("not within a tokio runtime"));
        }
        // SAFETY: the descriptor is the watcher's own, open for as long as the `Arc` (held
        // by the registration) lives, and `as_raw_fd` always returns that same one.
        let fd = unsafe { AsyncFd::register_with_interest(self.clone(), Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Readiness { fd })
    }

    /// Reads every queued event without blocking and reports each to `on_event`. Returns
    /// when the queue is empty (normally after a single `read` that finds nothing).
    pub fn drain(&self, mut on_event: impl FnMut(Event<'_>)) -> io::Result<()> {
        let mut buf = EventBuffer([std::mem::MaybeUninit::uninit(); 4096]);
        loop {
            // SAFETY: the buffer is valid for writes of its length.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.0.as_mut_ptr().cast::<libc::c_void>(),
                    buf.0.len(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(e),
                };
            }
            if n == 0 {
                return Ok(());
            }
            let n = (n as usize).min(buf.0.len());
            // SAFETY: the kernel wrote the first `n` bytes (`n` is at most the length).
            let read = unsafe { std::slice::from_raw_parts(buf.0.as_ptr().cast::<u8>(), n) };
            parse_events(read, &mut on_event);
        }
    }
}

impl AsRawFd for Watcher {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// Whether a [`Watcher`]'s queue held events when the runtime's event loop last looked
/// (edge-triggered `epoll`, which the loop waits on anyway): read with an atomic load,
/// where [`Watcher::has_events`] costs a system call.
///
/// What that gives up: an event queued after the loop's last look is seen at its next one
/// (when it waits again, or between tasks, at most some tens of tasks later), not at once.
/// A change made while the server is idle wakes the loop, so it is seen before any request
/// sent after it; only a request that races the change by that much may be answered from
/// before it.
#[derive(Debug)]
pub struct Readiness {
    fd: AsyncFd<Arc<Watcher>>,
}

impl Readiness {
    /// Runs `drain`, which must read the queue until it is empty, if the event loop saw
    /// events queued since the last drain made through here; returns whether it ran.
    /// Forgets only the readiness it saw: one the loop noted since, for an event queued
    /// after `drain`'s last read, stays for the next call.
    pub fn drain_if_ready(&self, drain: impl FnOnce()) -> bool {
        let mut ran = false;
        // A closure that reports `WouldBlock` clears the readiness seen before it ran (the
        // event loop's tick is compared); one that is not called costs an atomic load.
        let _ = self.fd.try_io(Interest::READABLE, |_| {
            drain();
            ran = true;
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
        ran
    }
}

/// Reports the events of one `read`. A truncated record (which the kernel never writes)
/// is reported as an overflow: the caller then forgets everything, which is always safe.
fn parse_events(mut bytes: &[u8], on_event: &mut impl FnMut(Event<'_>)) {
    while !bytes.is_empty() {
        let Some(header) = bytes.get(..EVENT_HEADER) else {
            on_event(Event::Overflow);
            return;
        };
        let field = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&header[at..at + 4]);
            b
        };
        let wd = i32::from_ne_bytes(field(0));
        let mask = u32::from_ne_bytes(field(4));
        let name_len = u32::from_ne_bytes(field(12)) as usize;
        let (Some(name), Some(rest)) = (
            bytes.get(EVENT_HEADER..EVENT_HEADER + name_len),
            bytes.get(EVENT_HEADER + name_len..),
        ) else {
            on_event(Event::Overflow);
            return;
        };
        // The name is padded with NULs to an aligned length; no name: the directory itself.
        let name_end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        if mask & libc::IN_Q_OVERFLOW != 0 || wd < 0 {
            on_event(Event::Overflow);
        } else if name_end > 0 {
            on_event(Event::Child(Wd(wd), &name[..name_end]));
        } else {
            on_event(Event::Changed(Wd(wd)));
        }
        bytes = rest;
    }
}

fn c_path(path: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// The `/proc/self/fd/N` path of an open file: opening or watching it reaches the very
/// inode the descriptor is open on.
pub fn fd_path(file: &File) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Whether every change to files on the file system `file` is on shows up as an inotify
/// event. True for local disk and memory file systems; false for network and user-space
/// ones (NFS, SMB, FUSE, 9p, Ceph…), where another machine or process may change files
/// without the kernel seeing it, and for anything unknown.
pub fn reports_all_changes(file: &File) -> bool {
    // SAFETY: `statfs` is plain data; the buffer is valid for writes.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and buffer.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    is_local(&st)
}

/// [`reports_all_changes`] for the file system `path` is on.
pub fn reports_all_changes_at(path: &Path) -> bool {
    let Ok(c_path) = c_path(path) else {
        return false;
    };
    // SAFETY: `statfs` is plain data; the buffer is valid for writes.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and buffer.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut st) } != 0 {
        return false;
    }
    is_local(&st)
}

fn is_local(st: &libc::statfs) -> bool {
    // f_type is a signed word whose width depends on the platform; magics are 32-bit.
    let magic = (st.f_type as u64 & 0xffff_ffff) as u32;
    const LOCAL: &[u32] = &[
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x0102_1994, // tmpfs
        0x8584_58F6, // ramfs
        0x794C_7630, // overlayfs (its layers must not change beneath it, says the kernel)
        0xF2F5_2010, // f2fs
        0x2FC1_2FC1, // zfs
        0xCA45_1A4E, // bcachefs
        0x5265_4973, // reiserfs
        0x3153_464A, // jfs
        0x3434,      // nilfs
        0x4D44,      // vfat
        0x2011_BAB0, // exfat
        0x7366_746E, // ntfs3
        0x7371_7368, // squashfs (read-only)
        0xE0F5_E1E2, // erofs (read-only)
        0x9660,      // iso9660 (read-only)
    ];
    LOCAL.contains(&magic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// An event with its name owned, so tests can collect them.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Dir(Wd),
        Child(Wd, String),
        Overflow,
    }

    impl From<Event<'_>> for Seen {
        fn from(e: Event<'_>) -> Seen {
            match e {
                Event::Changed(wd) => Seen::Dir(wd),
                Event::Child(wd, name) => Seen::Child(wd, String::from_utf8_lossy(name).into()),
                Event::Overflow => Seen::Overflow,
            }
        }
    }

    fn changed(w: &Watcher) -> Vec<Seen> {
        let mut events = Vec::new();
        w.drain(|e| events.push(Seen::from(e))).unwrap();
        events
    }

    /// Drains `w` through `readiness`, yielding to the event loop until it reports events
    /// (bounded, in case it never does).
    async fn drain_when_ready(w: &Watcher, readiness: &Readiness) -> Vec<Seen> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut events = Vec::new();
        while !readiness.drain_if_ready(|| events = changed(w)) {
            assert!(
                std::time::Instant::now() < deadline,
                "no readiness reported"
            );
            tokio::task::yield_now().await;
        }
        events
    }

    #[tokio::test]
    async fn the_event_loop_reports_queued_events_until_they_are_drained() {
        let dir = tempfile::tempdir().unwrap();
        let w = Arc::new(Watcher::new().unwrap());
        let wd = w.watch_path(dir.path()).unwrap();
        let readiness = w.register().unwrap();
        tokio::task::yield_now().await;
        assert!(!readiness.drain_if_ready(|| panic!("nothing queued")));

        std::fs::write(dir.path().join("f"), "").unwrap();
        assert!(!drain_when_ready(&w, &readiness).await.is_empty());
        tokio::task::yield_now().await;
        assert!(
            !readiness.drain_if_ready(|| panic!("drained")),
            "drained: nothing new to report"
        );

        // An event queued after a drain is reported again.
        std::fs::remove_file(dir.path().join("f")).unwrap();
        let events = drain_when_ready(&w, &readiness).await;
        assert!(events.contains(&Seen::Child(wd, "f".into())));
    }

    #[test]
    fn registering_needs_a_runtime() {
        let w = Arc::new(Watcher::new().unwrap());
        assert!(w.register().is_err());
    }

    #[test]
    fn nothing_changed_means_no_event() {
        let dir = tempfile::tempdir().unwrap();
        let w = Watcher::new().unwrap();
        w.watch_path(dir.path()).unwrap();
        assert!(!w.has_events().unwrap());
        assert!(changed(&w).is_empty());
        std::fs::write(dir.path().join("f"), "").unwrap();
        assert!(w.has_events().unwrap());
        assert!(w.has_events().unwrap(), "looking reads nothing");
        assert!(!changed(&w).is_empty());
        assert!(!w.has_events().unwrap());
    }

    #[test]
    fn every_kind_of_change_is_seen_by_the_next_drain() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "one").unwrap();
        let w = Watcher::new().unwrap();
        let wd = w.watch_dir(&File::open(dir.path()).unwrap()).unwrap();
        // What each step does, and the entry it must be reported for.
        type Step<'a> = (&'a str, &'a str, Box<dyn Fn() + 'a>);
        let steps: Vec<Step> = vec![
            (
                "create",
                "b",
                Box::new(|| std::fs::write(dir.path().join("b"), "").unwrap()),
            ),
            (
                "rewrite",
                "a.txt",
                Box::new(|| std::fs::write(&file, "three").unwrap()),
            ),
            (
                "truncate",
                "a.txt",
                Box::new(|| {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&file)
                        .unwrap()
                        .set_len(1)
                        .unwrap()
                }),
            ),
            (
                "touch",
                "a.txt",
                Box::new(|| {
                    let f = File::options().write(true).open(&file).unwrap();
                    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
                }),
            ),
            (
                "rename",
                "c.txt",
                Box::new(|| std::fs::rename(&file, dir.path().join("c.txt")).unwrap()),
            ),
            (
                "delete",
                "b",
                Box::new(|| std::fs::remove_file(dir.path().join("b")).unwrap()),
            ),
            (
                "mkdir",
                "sub",
                Box::new(|| std::fs::create_dir(dir.path().join("sub")).unwrap()),
            ),
        ];
        for (what, name, step) in steps {
            step();
            let events = changed(&w);
            assert!(
                events.contains(&Seen::Child(wd, name.into())),
                "{what}: {events:?}"
            );
            assert!(changed(&w).is_empty(), "{what}: drained");
        }
        // The renamed file's old name is reported too.
        std::fs::rename(dir.path().join("c.txt"), dir.path().join("d.txt")).unwrap();
        assert_eq!(
            changed(&w),
            [
                Seen::Child(wd, "c.txt".into()),
                Seen::Child(wd, "d.txt".into())
            ]
        );
        // The directory itself.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(changed(&w), [Seen::Dir(wd)]);
    }

    #[test]
    fn the_same_directory_has_one_watch() {
        let dir = tempfile::tempdir().unwrap();
        let w = Watcher::new().unwrap();
        let a = w.watch_path(dir.path()).unwrap();
        let b = w.watch_dir(&File::open(dir.path()).unwrap()).unwrap();
        assert_eq!(a, b);
        w.unwatch(a);
        // The end of the watch is itself reported (IN_IGNORED).
        assert_eq!(changed(&w), [Seen::Dir(a)]);
    }

    #[test]
    fn a_file_is_not_watched_as_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        let w = Watcher::new().unwrap();
        assert!(w.watch_path(&file).is_err());
    }

    #[test]
    fn a_link_to_a_directory_is_followed_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let w = Watcher::new().unwrap();
        assert!(w.watch_path(&link).is_ok());
        assert!(w.watch_path_no_follow(&link, CHANGES).is_err());
        assert!(w.watch_path_no_follow(dir.path(), CHANGES).is_ok());
    }

    fn record(wd: i32, mask: u32, name: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&wd.to_ne_bytes());
        r.extend_from_slice(&mask.to_ne_bytes());
        r.extend_from_slice(&0u32.to_ne_bytes());
        r.extend_from_slice(&(name.len() as u32).to_ne_bytes());
        r.extend_from_slice(name);
        r
    }

    fn parsed(bytes: &[u8]) -> Vec<Seen> {
        let mut events = Vec::new();
        parse_events(bytes, &mut |e| events.push(Seen::from(e)));
        events
    }

    #[test]
    fn names_lose_their_padding() {
        let mut bytes = record(3, libc::IN_MODIFY, b"index.html\0\0\0\0\0\0");
        bytes.extend(record(4, libc::IN_DELETE_SELF, b""));
        bytes.extend(record(-1, libc::IN_Q_OVERFLOW, b""));
        assert_eq!(
            parsed(&bytes),
            [
                Seen::Child(Wd(3), "index.html".into()),
                Seen::Dir(Wd(4)),
                Seen::Overflow
            ]
        );
    }

    #[test]
    fn truncated_records_are_an_overflow() {
        assert_eq!(parsed(&[0u8; 7]), [Seen::Overflow]);
        // A record announcing a 16-byte name that is not there.
        let mut bytes = record(3, libc::IN_MODIFY, b"");
        bytes[12..16].copy_from_slice(&16u32.to_ne_bytes());
        assert_eq!(parsed(&bytes), [Seen::Overflow]);
    }

    #[test]
    fn local_file_systems_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        // The test machine's temporary directory is on a local file system.
        assert!(reports_all_changes(&File::open(dir.path()).unwrap()));
        // procfs changes without events: like a network file system, it is not trusted.
        assert!(!reports_all_changes(&File::open("/proc/self").unwrap()));
        assert!(reports_all_changes_at(dir.path()));
        assert!(!reports_all_changes_at(Path::new("/proc/self")));
        assert!(!reports_all_changes_at(&dir.path().join("missing")));
    }
}
