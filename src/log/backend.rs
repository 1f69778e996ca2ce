//! The destinations a [`Sink`](super::Sink) writes to: a file, standard
//! error, syslog, or the standard input of a program.
//!
//! Only the sink's background writer task uses these. Blocking system calls
//! (file writes, `fsync`, `syslog(3)`) run on tokio's blocking pool so that
//! they never stall a runtime worker thread, and nothing here is ever called
//! from a request task.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;
use tokio::process::{Child, ChildStdin, Command};

use super::sink::Target;

/// Permissions of newly created log files: owner read/write, group read.
const LOG_FILE_MODE: u32 = 0o640;

/// A program that keeps dying is restarted at most this often.
const EXEC_RESTART_INTERVAL: Duration = Duration::from_secs(1);

/// An open log destination.
pub(crate) enum Backend {
    /// An append-only file, reopened by path on rotation.
    File { path: PathBuf, file: Arc<File> },
    /// The process's standard error.
    Stderr,
    /// The system logger, at `LOG_DAEMON | LOG_INFO`.
    Syslog,
    /// A program (`sh -c command`) reading lines on its standard input.
    Exec(Box<ExecPipe>),
}

impl Backend {
    /// Opens the destination now, so that errors surface while the
    /// configuration is loaded. Must run inside a tokio runtime (`Exec`
    /// spawns a process registered with it).
    pub(crate) fn open(target: &Target) -> io::Result<Backend> {
        Ok(match target {
            Target::File(path) => Backend::File {
                path: path.clone(),
                file: Arc::new(open_log_file(path)?),
            },
            Target::Stderr => Backend::Stderr,
            Target::Syslog => {
                open_syslog();
                Backend::Syslog
            }
            Target::Exec(command) => {
                let mut pipe = ExecPipe {
                    command: command.clone(),
                    child: None,
                    stdin: None,
                    last_spawn: None,
                };
                pipe.spawn()?;
                Backend::Exec(Box::new(pipe))
            }
        })
    }

    /// Writes all of `data`. The buffer is handed back (cleared or not) so
    /// that the caller can reuse its allocation.
    pub(crate) async fn write(&mut self, data: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Backend::File { file, .. } => {
                let file = Arc::clone(file);
                blocking(data, move |data| (&*file).write_all(data)).await
            }
            Backend::Stderr => blocking(data, |data| io::stderr().lock().write_all(data)).await,
            Backend::Syslog => {
                blocking(data, |data| {
                    syslog_lines(data);
                    Ok(())
                })
                .await
            }
            Backend::Exec(pipe) => {
                let result = pipe.write_all(&data).await;
                (result, data)
            }
        }
    }

    /// Makes sure what was written reached its destination; for files this
    /// is `fdatasync`, used by explicit flushes and at shutdown only.
    pub(crate) async fn sync(&mut self) -> io::Result<()> {
        match self {
            Backend::File { file, .. } => {
                let file = Arc::clone(file);
                run_blocking(move || file.sync_data()).await
            }
            Backend::Stderr | Backend::Syslog => Ok(()),
            Backend::Exec(pipe) => match &mut pipe.stdin {
                Some(stdin) => stdin.flush().await,
                None => Ok(()),
            },
        }
    }

    /// Reopens a file by its path (after log rotation renamed it). On failure
    /// the old file stays in use, so no line is lost. Other destinations have
    /// nothing to reopen.
    pub(crate) async fn reopen(&mut self) -> io::Result<()> {
        if let Backend::File { path, file } = self {
            let path_for_open = path.clone();
            let new_file = run_blocking(move || open_log_file(&path_for_open)).await?;
            *file = Arc::new(new_file);
        }
        Ok(())
    }

    /// Last-resort synchronous write, used when the writer task is dropped
    /// (runtime shutdown) with lines still pending. Blocking is acceptable
    /// there: no request is being served any more. Not possible for `Exec`.
    pub(crate) fn write_blocking(&self, data: &[u8]) -> io::Result<()> {
        match self {
            Backend::File { file, .. } => (&**file).write_all(data),
            Backend::Stderr => io::stderr().lock().write_all(data),
            Backend::Syslog => {
                syslog_lines(data);
                Ok(())
            }
            Backend::Exec(_) => Err(io::Error::other(
                "cannot write to a log program synchronously",
            )),
        }
    }
}

/// Opens (creating if needed) a log file for appending.
fn open_log_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_FILE_MODE)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open log file {}: {e}", path.display()),
            )
        })
}

/// Runs `f` on the blocking pool, mapping a failed join to an I/O error.
async fn run_blocking<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(io::Error::other(format!("log writer thread failed: {e}"))),
    }
}

/// Runs `f(&data)` on the blocking pool and hands `data` back.
async fn blocking<F>(data: Vec<u8>, f: F) -> (io::Result<()>, Vec<u8>)
where
    F: FnOnce(&[u8]) -> io::Result<()> + Send + 'static,
{
    match tokio::task::spawn_blocking(move || {
        let result = f(&data);
        (result, data)
    })
    .await
    {
        Ok(pair) => pair,
        Err(e) => (
            Err(io::Error::other(format!("log writer thread failed: {e}"))),
            Vec::new(),
        ),
    }
}

/// Calls `openlog(3)` once per process.
fn open_syslog() {
    static OPEN: Once = Once::new();
    OPEN.call_once(|| {
        // SAFETY: the identity string is a 'static C string, as openlog
        // keeps the pointer; the flags and facility are valid constants.
        unsafe {
            libc::openlog(
                c"baton".as_ptr(),
                libc::LOG_PID | libc::LOG_NDELAY,
                libc::LOG_DAEMON,
            )
        };
    });
}

/// Sends each `\n` terminated line of `data` as one syslog message.
fn syslog_lines(data: &[u8]) {
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let bytes: Vec<u8> = line.iter().copied().filter(|&b| b != 0).collect();
        let Ok(message) = CString::new(bytes) else {
            continue;
        };
        // SAFETY: the format is a constant "%s" and the single argument is a
        // valid NUL terminated string that outlives the call.
        unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), message.as_ptr()) };
    }
}

/// A log program fed through a pipe, restarted when it dies.
pub(crate) struct ExecPipe {
    command: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    last_spawn: Option<Instant>,
}

impl ExecPipe {
    /// Starts `sh -c command` with its standard input connected to us.
    /// Output and errors go where the server's own do.
    fn spawn(&mut self) -> io::Result<()> {
        self.last_spawn = Some(Instant::now());
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start log program '{}': {e}", self.command),
                )
            })?;
        self.stdin = child.stdin.take();
        self.child = Some(child);
        Ok(())
    }

    /// Forgets a program that exited (tokio reaps it) and starts a new one,
    /// unless the last start was too recent.
    fn restart(&mut self) -> io::Result<()> {
        self.stdin = None;
        self.child = None;
        if let Some(last) = self.last_spawn {
            if last.elapsed() < EXEC_RESTART_INTERVAL {
                return Err(io::Error::other(format!(
                    "log program '{}' exited; restarting it within a second",
                    self.command
                )));
            }
        }
        tracing::warn!(command = %self.command, "log program is not running; restarting it");
        self.spawn()
    }

    /// Whether the program has exited.
    fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Writes `data` to the program, restarting it first if it has exited
    /// and once more if the write fails because it just died.
    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if self.exited() {
            self.restart()?;
        }
        let first = match &mut self.stdin {
            Some(stdin) => stdin.write_all(data).await,
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        };
        match first {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.restart()?;
                match &mut self.stdin {
                    Some(stdin) => stdin.write_all(data).await,
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}
