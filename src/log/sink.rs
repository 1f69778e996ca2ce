//! [`Sink`]: a log destination with its own background writer task.
//!
//! Request tasks hand finished lines to [`Sink::write`], which only pushes
//! onto a queue: it never blocks, never awaits and never fails. The writer
//! task collects lines in a buffer of `buffer_size` bytes (Cherokee's
//! `logger!access!buffsize`) and writes it out when it is full and at least
//! once a second.
//!
//! Guarantees:
//! * A request task is never blocked by logging. If the destination cannot
//!   keep up and the queue exceeds its cap, lines are dropped, counted, and
//!   reported with a warning (through `tracing`) once a second.
//! * No line is lost or duplicated by rotation: [`Sink::reopen`] travels in
//!   the same queue as the lines, so everything written before it goes to
//!   the old file and everything after it to the new one.
//! * When the last [`Sink`] clone is dropped the task writes what is left and
//!   exits. If the runtime shuts down first, pending lines are written
//!   synchronously as the task is torn down (except for `Exec` targets);
//!   call [`Sink::flush`] at shutdown to be sure.

use std::fmt;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::backend::Backend;

/// Cherokee's default `buffsize`.
pub const DEFAULT_BUFFER_SIZE: usize = 16 * 1024;

/// Bytes of lines that may wait in a sink's queue before new ones are dropped.
pub const QUEUE_LIMIT: usize = 64 * 1024 * 1024;

/// How often buffered lines are written out even if the buffer is not full.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Where a log goes (Cherokee's `logger!access!type` and its parameters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `type = file`, `filename = ...`: append to a file.
    File(PathBuf),
    /// `type = stderr`: the server's standard error.
    Stderr,
    /// `type = syslog`: the system logger.
    Syslog,
    /// `type = exec`, `command = ...`: a program reading lines on stdin.
    Exec(String),
}

impl Target {
    /// Builds a target from Cherokee's `type` and its `filename` or `command`.
    pub fn from_cherokee(
        kind: &str,
        filename: Option<&str>,
        command: Option<&str>,
    ) -> Result<Target, String> {
        match kind {
            "file" => match filename {
                Some(f) if !f.is_empty() => Ok(Target::File(PathBuf::from(f))),
                _ => Err("log type 'file' needs a filename".to_owned()),
            },
            "stderr" => Ok(Target::Stderr),
            "syslog" => Ok(Target::Syslog),
            "exec" => match command {
                Some(c) if !c.trim().is_empty() => Ok(Target::Exec(c.to_owned())),
                _ => Err("log type 'exec' needs a command".to_owned()),
            },
            other => Err(format!("unknown log type '{other}'")),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::File(path) => write!(f, "file {}", path.display()),
            Target::Stderr => f.write_str("stderr"),
            Target::Syslog => f.write_str("syslog"),
            Target::Exec(command) => write!(f, "program '{command}'"),
        }
    }
}

/// What travels from the [`Sink`] handles to the writer task, in order.
enum Msg {
    Line(Vec<u8>),
    Reopen,
    Flush(oneshot::Sender<()>),
}

/// State shared by the handles and the writer task.
struct Shared {
    target: Target,
    /// Bytes of lines in the queue, bounded by `limit`.
    queued: AtomicUsize,
    /// Lines dropped since the last report.
    dropped: AtomicU64,
    limit: usize,
}

impl Shared {
    fn report_dropped(&self) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                target_log = %self.target,
                dropped,
                "log lines dropped: the log writer could not keep up or failed"
            );
        }
    }
}

/// A log destination with its own background writer task. Cloning is cheap
/// and shares the task.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::UnboundedSender<Msg>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// Opens `target` now (files are created in append mode with permissions
    /// 0640) so that errors show at configuration load, and starts the
    /// writer task. Must be called within a tokio runtime; outside one it
    /// returns an error.
    pub fn open(target: Target, buffer_size: usize) -> io::Result<Sink> {
        Sink::open_with_limit(target, buffer_size, QUEUE_LIMIT)
    }

    /// [`Sink::open`] with a custom queue cap in bytes.
    pub(crate) fn open_with_limit(
        target: Target,
        buffer_size: usize,
        limit: usize,
    ) -> io::Result<Sink> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other(format!(
                "cannot open log {target}: not running inside a tokio runtime"
            ))
        })?;
        let backend = {
            let _guard = runtime.enter();
            Backend::open(&target)?
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            target,
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            limit,
        });
        let writer = Writer {
            rx,
            backend,
            buf: Vec::with_capacity(buffer_size.min(1 << 20)),
            buffer_size,
            shared: Arc::clone(&shared),
            failing: false,
        };
        runtime.spawn(writer.run());
        Ok(Sink { tx, shared })
    }

    /// The destination of this sink.
    pub fn target(&self) -> &Target {
        &self.shared.target
    }

    /// Whether `self` and `other` share the same writer task.
    pub fn same_as(&self, other: &Sink) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Queues one line, which should end in `\n` (nothing is added). Never
    /// blocks or awaits; when the queue is over its cap, or the writer task
    /// is gone, the line is dropped and counted.
    pub fn write(&self, line: Vec<u8>) {
        let len = line.len();
        let before = self.shared.queued.fetch_add(len, Ordering::Relaxed);
        if before.saturating_add(len) > self.shared.limit {
            self.shared.queued.fetch_sub(len, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.tx.send(Msg::Line(line)).is_err() {
            // The writer task is gone (runtime shutting down).
            self.shared.queued.fetch_sub(len, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Asks the writer to flush and then reopen its file by path (log
    /// rotation). Lines written before this call end up in the old file,
    /// lines written after it in the new one. If reopening fails the old file
    /// stays in use and a warning is logged. No-op for other targets.
    pub fn reopen(&self) {
        // Fails only when the writer task is gone; nothing to reopen then.
        let _ = self.tx.send(Msg::Reopen);
    }

    /// Waits until every line written before this call has been written out
    /// (and, for files, synced to disk). This waits as long as the
    /// destination does: a log program that stops reading its input stalls
    /// it, so shutdown code should bound it with `tokio::time::timeout`.
    pub async fn flush(&self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            // An error means the task is gone; there is nothing to wait for.
            let _ = done_rx.await;
        }
    }
}

/// The background task owning the destination.
struct Writer {
    rx: mpsc::UnboundedReceiver<Msg>,
    backend: Backend,
    buf: Vec<u8>,
    buffer_size: usize,
    shared: Arc<Shared>,
    /// Whether the last write failed (to warn once per failure streak).
    failing: bool,
}

impl Writer {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(Msg::Line(line)) => self.push(line).await,
                    Some(Msg::Reopen) => {
                        self.write_out().await;
                        if let Err(e) = self.backend.reopen().await {
                            tracing::warn!(
                                target_log = %self.shared.target,
                                error = %e,
                                "cannot reopen log; still writing to the old file"
                            );
                        }
                    }
                    Some(Msg::Flush(done)) => {
                        self.write_out().await;
                        self.sync().await;
                        let _ = done.send(());
                    }
                    None => {
                        // Every Sink handle is gone.
                        self.write_out().await;
                        self.sync().await;
                        self.shared.report_dropped();
                        return;
                    }
                },
                _ = tick.tick() => {
                    self.write_out().await;
                    self.shared.report_dropped();
                }
            }
        }
    }

    /// Adds a line to the buffer, writing the buffer out when it is full.
    async fn push(&mut self, line: Vec<u8>) {
        self.shared.queued.fetch_sub(line.len(), Ordering::Relaxed);
        if !self.buf.is_empty() && self.buf.len() + line.len() > self.buffer_size {
            self.write_out().await;
        }
        if self.buf.is_empty() && line.len() >= self.buffer_size {
            // Too big to buffer: write it directly, keeping our buffer.
            let spare = std::mem::replace(&mut self.buf, line);
            self.write_out().await;
            self.buf = spare;
            return;
        }
        self.buf.extend_from_slice(&line);
        if self.buf.len() >= self.buffer_size {
            self.write_out().await;
        }
    }

    /// Writes the buffer to the destination and empties it.
    async fn write_out(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.buf);
        let (result, mut data) = self.backend.write(data).await;
        match result {
            Ok(()) => {
                if self.failing {
                    tracing::info!(target_log = %self.shared.target, "log writes work again");
                    self.failing = false;
                }
            }
            Err(e) => {
                let lines = data.iter().filter(|&&b| b == b'\n').count().max(1);
                self.shared
                    .dropped
                    .fetch_add(lines as u64, Ordering::Relaxed);
                if !self.failing {
                    tracing::warn!(target_log = %self.shared.target, error = %e, "cannot write log");
                    self.failing = true;
                }
            }
        }
        data.clear();
        self.buf = data;
    }

    async fn sync(&mut self) {
        if let Err(e) = self.backend.sync().await {
            tracing::warn!(target_log = %self.shared.target, error = %e, "cannot sync log");
        }
    }
}

impl Drop for Writer {
    /// Runs when the task ends or is torn down with the runtime: whatever is
    /// still buffered or queued is written synchronously so it is not lost.
    fn drop(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Line(line) = msg {
                self.shared.queued.fetch_sub(line.len(), Ordering::Relaxed);
                self.buf.extend_from_slice(&line);
            }
        }
        if !self.buf.is_empty() {
            if let Err(e) = self.backend.write_blocking(&self.buf) {
                let lines = self.buf.iter().filter(|&&b| b == b'\n').count();
                // Ignore failures: stderr is the last resort.
                let _ = writeln!(
                    io::stderr(),
                    "baton: {lines} log lines for {} lost at shutdown: {e}",
                    self.shared.target
                );
            }
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn numbered(prefix: &str, range: std::ops::Range<usize>) -> String {
        range.map(|i| format!("{prefix} line {i}\n")).collect()
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Polls `path` until `done` accepts its content or five seconds pass.
    async fn wait_for(path: &Path, done: impl Fn(&str) -> bool) -> String {
        for _ in 0..100 {
            let text = read(path);
            if done(&text) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        read(path)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn file_sink_writes_and_flushes() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let sink = Sink::open(Target::File(path.clone()), DEFAULT_BUFFER_SIZE)?;
        // Created at open time, with at most rw-r-----.
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path)?.permissions());
        assert_eq!(mode & 0o777 & !0o640, 0, "mode {mode:o}");
        let expected = numbered("a", 0..1000);
        for line in expected.lines() {
            sink.write(format!("{line}\n").into_bytes());
        }
        sink.flush().await;
        assert_eq!(read(&path), expected);
        Ok(())
    }

    #[tokio::test]
    async fn appends_to_existing_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        std::fs::write(&path, "old\n")?;
        let sink = Sink::open(Target::File(path.clone()), 0)?;
        sink.write(b"new\n".to_vec());
        sink.flush().await;
        assert_eq!(read(&path), "old\nnew\n");
        Ok(())
    }

    #[tokio::test]
    async fn lines_are_written_within_a_second_without_flush() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let sink = Sink::open(Target::File(path.clone()), DEFAULT_BUFFER_SIZE)?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        sink.write(b"hello\n".to_vec());
        let start = std::time::Instant::now();
        let text = wait_for(&path, |t| t == "hello\n").await;
        assert_eq!(text, "hello\n");
        assert!(start.elapsed() < Duration::from_millis(1500));
        Ok(())
    }

    #[tokio::test]
    async fn small_buffer_and_oversized_lines_keep_order() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let sink = Sink::open(Target::File(path.clone()), 64)?;
        let mut expected = String::new();
        for i in 0..200 {
            let line = if i % 7 == 0 {
                format!("{i} {}\n", "x".repeat(100 + i))
            } else {
                format!("{i} short\n")
            };
            expected.push_str(&line);
            sink.write(line.into_bytes());
        }
        sink.flush().await;
        assert_eq!(read(&path), expected);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reopen_after_rename_loses_nothing() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let rotated = dir.path().join("access.log.1");
        let sink = Sink::open(Target::File(path.clone()), DEFAULT_BUFFER_SIZE)?;
        let (n, m) = (5000, 3000);
        for i in 0..n {
            sink.write(format!("before line {i}\n").into_bytes());
        }
        // No flush: the rename happens while lines are still queued or
        // buffered, as with a real log rotation.
        std::fs::rename(&path, &rotated)?;
        sink.reopen();
        for i in 0..m {
            sink.write(format!("after line {i}\n").into_bytes());
        }
        sink.flush().await;
        assert_eq!(read(&rotated), numbered("before", 0..n));
        assert_eq!(read(&path), numbered("after", 0..m));
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotation_under_concurrent_writers() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let sink = Sink::open(Target::File(path.clone()), 512)?;
        let (tasks, per_task) = (8, 2000);
        let mut handles = Vec::new();
        for t in 0..tasks {
            let sink = sink.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..per_task {
                    sink.write(format!("task {t} line {i} {}\n", "z".repeat(i % 50)).into_bytes());
                    if i % 50 == 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }));
        }
        let mut rotated = Vec::new();
        for r in 0..5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let to = dir.path().join(format!("access.log.{r}"));
            std::fs::rename(&path, &to)?;
            sink.reopen();
            rotated.push(to);
            // Reopening is asynchronous; wait for the new file before the
            // next rotation renames it.
            while !path.exists() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        for handle in handles {
            handle.await.map_err(io::Error::other)?;
        }
        sink.flush().await;
        rotated.push(path);
        let mut seen = std::collections::HashSet::new();
        for file in &rotated {
            for line in read(file).lines() {
                let mut words = line.split(' ');
                let (t, i) = match (words.nth(1), words.nth(1)) {
                    (Some(t), Some(i)) => (t.parse::<usize>(), i.parse::<usize>()),
                    _ => panic!("mangled line {line:?}"),
                };
                let (Ok(t), Ok(i)) = (t, i) else {
                    panic!("mangled line {line:?}");
                };
                assert_eq!(line, format!("task {t} line {i} {}", "z".repeat(i % 50)));
                assert!(seen.insert((t, i)), "duplicate {line}");
            }
        }
        assert_eq!(seen.len(), tasks * per_task);
        // The rotations really happened while lines were being written.
        let used = rotated.iter().filter(|f| !read(f).is_empty()).count();
        assert!(used >= 2, "only {used} file(s) received lines");
        Ok(())
    }

    #[tokio::test]
    async fn failed_reopen_keeps_the_old_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs)?;
        let path = logs.join("access.log");
        let sink = Sink::open(Target::File(path.clone()), DEFAULT_BUFFER_SIZE)?;
        sink.write(b"one\n".to_vec());
        // The directory disappears: reopening by path must fail.
        let moved = dir.path().join("moved");
        std::fs::rename(&logs, &moved)?;
        sink.reopen();
        sink.write(b"two\n".to_vec());
        sink.flush().await;
        assert_eq!(read(&moved.join("access.log")), "one\ntwo\n");
        assert!(!path.exists());
        Ok(())
    }

    #[tokio::test]
    async fn lines_over_the_queue_cap_are_dropped_and_counted() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let sink = Sink::open_with_limit(Target::File(path.clone()), 0, 100)?;
        sink.write(vec![b'x'; 200]);
        sink.write(vec![b'y'; 300]);
        assert_eq!(sink.shared.dropped.load(Ordering::Relaxed), 2);
        sink.write(b"fits\n".to_vec());
        sink.flush().await;
        assert_eq!(read(&path), "fits\n");
        assert_eq!(sink.shared.queued.load(Ordering::Relaxed), 0);
        Ok(())
    }

    #[tokio::test]
    async fn dropping_the_last_handle_writes_everything() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let sink = Sink::open(Target::File(path.clone()), DEFAULT_BUFFER_SIZE)?;
        let clone = sink.clone();
        assert!(clone.same_as(&sink));
        sink.write(b"a\n".to_vec());
        clone.write(b"b\n".to_vec());
        drop(sink);
        drop(clone);
        assert_eq!(wait_for(&path, |t| t == "a\nb\n").await, "a\nb\n");
        Ok(())
    }

    #[test]
    fn runtime_shutdown_writes_pending_lines() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("access.log");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let sink = runtime.block_on(async {
            let sink = Sink::open(Target::File(path.clone()), DEFAULT_BUFFER_SIZE)?;
            // Let the writer start and take some lines into its buffer.
            sink.write(b"first\n".to_vec());
            tokio::task::yield_now().await;
            io::Result::Ok(sink)
        })?;
        sink.write(b"second\n".to_vec());
        drop(runtime);
        assert_eq!(read(&path), "first\nsecond\n");
        // The task is gone; writing must neither panic nor block.
        sink.write(b"third\n".to_vec());
        assert_eq!(sink.shared.dropped.load(Ordering::Relaxed), 1);
        Ok(())
    }

    #[test]
    fn open_outside_a_runtime_is_an_error() {
        let err = Sink::open(Target::Stderr, 0).err();
        assert!(err.is_some_and(|e| e.to_string().contains("tokio runtime")));
    }

    #[tokio::test]
    async fn open_errors_show_at_open_time() {
        let path = std::env::temp_dir()
            .join("baton-no-such-dir-7f3a")
            .join("x.log");
        let err = Sink::open(Target::File(path), 0).err();
        assert!(err.is_some_and(|e| e.to_string().contains("baton-no-such-dir-7f3a")));
    }

    #[tokio::test]
    async fn stderr_sink_does_not_panic() -> io::Result<()> {
        let sink = Sink::open(Target::Stderr, DEFAULT_BUFFER_SIZE)?;
        sink.write(b"baton log test: stderr sink line\n".to_vec());
        sink.reopen();
        sink.flush().await;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exec_sink_feeds_the_program() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("piped.log");
        let command = format!("cat >> '{}'", path.display());
        let sink = Sink::open(Target::Exec(command), DEFAULT_BUFFER_SIZE)?;
        sink.write(b"one\n".to_vec());
        sink.write(b"two\n".to_vec());
        sink.flush().await;
        assert_eq!(wait_for(&path, |t| t == "one\ntwo\n").await, "one\ntwo\n");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exec_sink_restarts_a_dead_program() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("piped.log");
        // Each instance handles one line and exits.
        let command = format!("head -n 1 >> '{}'", path.display());
        let sink = Sink::open(Target::Exec(command), 0)?;
        sink.write(b"one\n".to_vec());
        sink.flush().await;
        assert_eq!(wait_for(&path, |t| t == "one\n").await, "one\n");
        // Past the restart back-off.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        sink.write(b"two\n".to_vec());
        sink.flush().await;
        assert_eq!(wait_for(&path, |t| t == "one\ntwo\n").await, "one\ntwo\n");
        Ok(())
    }

    #[test]
    fn targets_from_cherokee_keys() {
        assert_eq!(
            Target::from_cherokee("file", Some("/var/log/a"), None),
            Ok(Target::File(PathBuf::from("/var/log/a")))
        );
        assert_eq!(
            Target::from_cherokee("stderr", None, None),
            Ok(Target::Stderr)
        );
        assert_eq!(
            Target::from_cherokee("syslog", None, None),
            Ok(Target::Syslog)
        );
        assert_eq!(
            Target::from_cherokee("exec", None, Some("logger -t web")),
            Ok(Target::Exec("logger -t web".to_owned()))
        );
        assert!(Target::from_cherokee("file", None, None).is_err());
        assert!(Target::from_cherokee("exec", None, Some(" ")).is_err());
        assert!(Target::from_cherokee("carrier-pigeon", None, None).is_err());
    }
}
