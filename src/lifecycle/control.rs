//! The server side of the control socket (see `crate::control` for the protocol): each
//! connection carries one request, which is handed to the supervisor, and gets its reply.

use super::Command;
use crate::control::{Reply, Request};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long a client may take to send its request.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// Listens on `path` (mode 0600). A socket left by a dead server is replaced; one that
/// answers belongs to another running server and is left alone (control is then off, with
/// a warning) unless `takeover` is set: a process started by a binary upgrade takes the
/// socket of the process it replaces.
///
/// Returns `None` when control is off: the caller must then leave the path alone.
pub fn listen(
    path: &Path,
    commands: mpsc::Sender<Command>,
    takeover: bool,
) -> Option<JoinHandle<()>> {
    if takeover {
        let _ = std::fs::remove_file(path);
    }
    match bind(path) {
        Ok(listener) => Some(tokio::spawn(accept(listener, commands))),
        Err(e) => {
            tracing::warn!(socket = %path.display(), "control socket disabled: {e}");
            None
        }
    }
}

fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another server answers on it",
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn accept(listener: UnixListener, commands: mpsc::Sender<Command>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, commands.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve(stream: UnixStream, commands: mpsc::Sender<Command>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    let reply = match tokio::time::timeout(READ_LIMIT, reader.read_line(&mut line)).await {
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Ok(request) => {
                let (tx, rx) = oneshot::channel();
                let sent = commands
                    .send(Command {
                        request,
                        reply: Some(tx),
                    })
                    .await;
                match sent {
                    Ok(()) => rx
                        .await
                        .unwrap_or_else(|_| Reply::failed("the server is stopping")),
                    Err(_) => Reply::failed("the server is stopping"),
                }
            }
            Err(e) => Reply::failed(format!("invalid request: {e}")),
        },
        _ => Reply::failed("no request received"),
    };
    if let Ok(mut bytes) = serde_json::to_vec(&reply) {
        bytes.push(b'\n');
        let _ = write.write_all(&bytes).await;
        let _ = write.shutdown().await;
    }
}
