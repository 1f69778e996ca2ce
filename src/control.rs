//! The control protocol between the running server and the `baton` command (and the
//! admin): one JSON request per line on a Unix socket, one JSON reply per line.
//!
//! The socket is created with mode 0600: whoever can use it can restart the server, so
//! only its owner may. Nothing else (no signal, no pid file) is needed to drive a server.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// The text of the configuration file as the live generation read it.
    RunningConfig,
    /// Read the configuration file again and apply it.
    Reload {
        #[serde(default)]
        hard: bool,
    },
    ReopenLogs,
    /// Start the server's binary again (the file now at its path), hand the listening
    /// sockets over, and let this process drain and exit once the new one is ready.
    Upgrade,
    /// Stop the server (`graceful`: let requests in flight finish).
    Stop {
        #[serde(default = "yes")]
        graceful: bool,
    },
}

fn yes() -> bool {
    true
}

/// The answer to a request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    /// One line for people.
    pub message: String,
    /// For a refused reload: every error, as `file:line: error: key: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// The live generation after the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// For `running_config`: the text of the live generation's configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_text: Option<String>,
}

impl Reply {
    pub fn ok(message: impl Into<String>) -> Reply {
        Reply {
            ok: true,
            message: message.into(),
            ..Reply::default()
        }
    }
    pub fn failed(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            message: message.into(),
            ..Reply::default()
        }
    }
}

/// What `baton status` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub version: String,
    /// The live generation.
    pub generation: u64,
    pub uptime_seconds: u64,
    pub config: Option<String>,
    pub listeners: Vec<ListenerStatus>,
    pub connections_open: usize,
    /// Open connections by the generation that was live when they were accepted.
    pub connections_by_generation: BTreeMap<u64, usize>,
    /// Idle keep-alive connections holding nothing but their socket.
    #[serde(default)]
    pub connections_idle_parked: u64,
    pub requests_total: u64,
    /// The live generation and every older one still serving a request.
    pub generations: Vec<GenerationStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListenerStatus {
    pub bind: u64,
    pub address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationStatus {
    pub id: u64,
    pub live: bool,
    pub requests_in_flight: usize,
}

/// Sends one request to the server listening on `socket` and waits for its reply.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> io::Result<Reply> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot reach the server's control socket {}: {e} (is the server running with this configuration?)",
                socket.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the control connection without answering",
        ));
    }
    serde_json::from_str(&answer).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unreadable answer from the server: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_wire_form() {
        assert_eq!(
            serde_json::to_string(&Request::Reload { hard: true }).unwrap(),
            r#"{"cmd":"reload","hard":true}"#
        );
        let r: Request = serde_json::from_str(r#"{"cmd":"stop"}"#).unwrap();
        assert_eq!(r, Request::Stop { graceful: true });
        let r: Request = serde_json::from_str(r#"{"cmd":"reload"}"#).unwrap();
        assert_eq!(r, Request::Reload { hard: false });
    }
}
