//! Access and error logging, compatible with Cherokee's loggers.
//!
//! The pieces, from request to disk:
//! * [`AccessRecord`] ([`record`]): what the server knows about a finished
//!   request, borrowed, built once per request.
//! * [`AccessFormat`] ([`format`](mod@format), [`template`]): turns a record into one
//!   line: NCSA, Combined, or a Custom `${variable}` template. Pure and
//!   cheap; client supplied text is escaped ([`escape`]) so that it cannot
//!   forge lines; times are printed in UTC ([`timestamp`]).
//! * [`Sink`] ([`sink`], private `backend`): a destination (file, stderr, syslog,
//!   program) with a background writer task that buffers and writes lines.
//! * [`SinkRegistry`] ([`registry`]): one sink per destination per
//!   configuration, carried over on reload.
//! * [`AccessLogger`] and [`ErrorLog`]: what virtual servers hold.
//!
//! Rules this module must never break:
//! * Logging never blocks or awaits in a request task: formatting is pure,
//!   and [`Sink::write`] only queues (dropping and counting lines if the
//!   queue is over its cap rather than waiting).
//! * Log rotation ([`Sink::reopen`]) never loses or duplicates a line.
//! * Nothing panics on bad input or I/O errors; failures are reported
//!   through `tracing`.
//!
//! Differences from Cherokee:
//! * Times are always UTC (`+0000`); local time would need the thread-unsafe
//!   `localtime(3)`.
//! * Custom `${protocol}` prints the request's HTTP version (`HTTP/1.1`);
//!   `${transport}` gives `http`/`https`. `${query_string}` includes the
//!   leading `?` (empty without a query), as in Cherokee's documented example.
//!   Missing headers, user and size print `-`. Template slicing
//!   (`${host[-2:]}`) is rejected as a configuration error.
//! * Syslog messages (access and error logs alike) use `LOG_DAEMON` at
//!   `LOG_INFO`, identity `baton`.
//! * `exec` runs `/bin/sh -c command`; a command that does not exist is only
//!   noticed when the shell exits, and is then restarted at most once a
//!   second (lines meanwhile are dropped and counted).

mod backend;
pub mod escape;
pub mod format;
pub mod record;
pub mod registry;
pub mod sink;
pub mod template;
pub mod timestamp;

use std::time::SystemTime;

pub use format::AccessFormat;
pub use record::AccessRecord;
pub use registry::SinkRegistry;
pub use sink::{Sink, Target, DEFAULT_BUFFER_SIZE};
pub use template::Template;

use escape::{push_escaped, Quotes};
use timestamp::push_clf_time;

/// Typical length of an access log line; the per-line buffer starts at this
/// capacity so that most lines need a single allocation.
const LINE_CAPACITY: usize = 256;

/// An access log of a virtual server: a line format and where lines go.
#[derive(Debug, Clone)]
pub struct AccessLogger {
    format: AccessFormat,
    sink: Sink,
}

impl AccessLogger {
    /// Combines a format with a sink (usually from a [`SinkRegistry`]).
    pub fn new(format: AccessFormat, sink: Sink) -> AccessLogger {
        AccessLogger { format, sink }
    }

    /// The line format.
    pub fn format(&self) -> &AccessFormat {
        &self.format
    }

    /// The destination.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// Formats one line for `rec` and queues it. Never blocks.
    pub fn log(&self, rec: &AccessRecord<'_>) {
        let mut line = Vec::with_capacity(LINE_CAPACITY);
        self.format.write(rec, &mut line);
        self.sink.write(line);
    }
}

/// An error log: `[dd/Mon/yyyy:HH:MM:SS +0000] [level] message` lines.
#[derive(Debug, Clone)]
pub struct ErrorLog {
    sink: Sink,
}

impl ErrorLog {
    /// Writes error lines to `sink`.
    pub fn new(sink: Sink) -> ErrorLog {
        ErrorLog { sink }
    }

    /// The destination.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// Queues one line stamped with the current time. Control characters in
    /// `level` and `message` are escaped, so a message quoting client input
    /// stays on one line. Never blocks.
    pub fn log(&self, level: &str, message: &str) {
        let mut line = Vec::with_capacity(LINE_CAPACITY);
        write_error_line(&mut line, SystemTime::now(), level, message);
        self.sink.write(line);
    }
}

/// Appends one error log line, including its `\n`, to `out`.
fn write_error_line(out: &mut Vec<u8>, time: SystemTime, level: &str, message: &str) {
    out.push(b'[');
    push_clf_time(out, time);
    out.extend_from_slice(b"] [");
    push_escaped(out, level, Quotes::Keep);
    out.extend_from_slice(b"] ");
    push_escaped(out, message, Quotes::Keep);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn error_line_format() {
        let mut out = Vec::new();
        let time = UNIX_EPOCH + Duration::from_secs(1_218_471_478);
        write_error_line(&mut out, time, "error", "cannot open \"/x\"\nforged");
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            "[11/Aug/2008:16:17:58 +0000] [error] cannot open \"/x\"\\x0aforged\n"
        );
    }

    #[tokio::test]
    async fn loggers_write_through_their_sinks() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let access_path = dir.path().join("access.log");
        let error_path = dir.path().join("error.log");
        let access = AccessLogger::new(
            AccessFormat::Ncsa,
            Sink::open(Target::File(access_path.clone()), DEFAULT_BUFFER_SIZE)?,
        );
        let errors = ErrorLog::new(Sink::open(Target::File(error_path.clone()), 0)?);
        let rec = format::tests::sample_record();
        access.log(&rec);
        access.log(&rec);
        errors.log("warning", "disk almost full");
        access.sink().flush().await;
        errors.sink().flush().await;

        let text = std::fs::read_to_string(&access_path)?;
        let expected = "203.0.113.9 - alice [11/Aug/2008:16:17:58 +0000] \"GET /home?lang=en HTTP/1.1\" 200 2633\n";
        assert_eq!(text, expected.repeat(2));
        let text = std::fs::read_to_string(&error_path)?;
        assert!(text.ends_with("] [warning] disk almost full\n"), "{text}");
        assert!(text.starts_with('['));
        assert_eq!(text.len(), 1 + 26 + 2 + 9 + 17 + 1);
        Ok(())
    }
}
