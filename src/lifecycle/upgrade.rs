//! Binary upgrade: a new `baton` process takes over the listening sockets of the running
//! one without a single connection being refused.
//!
//! The process plumbing (spawning the new binary, waiting for it to report ready, the
//! restart signal and coordination socket) is `shellflip`'s. What Baton adds is the
//! handover of its listeners, which can change on every reload: just before the new
//! process starts, every listening socket is duplicated without close-on-exec, the new
//! process inherits the copies and learns from the handover pipe which descriptor is which
//! address. It uses them instead of binding, loads the configuration, and only when it is
//! completely ready does the old process stop accepting and drain. If the new process fails
//! at any point, the old one never stopped serving.
//!
//! Listening sockets handed over by systemd socket activation (`LISTEN_FDS`) are adopted
//! the same way, matched to `server!bind!N` by address.

use super::listeners::ListenKey;
use crate::net::Inherited;
use serde::{Deserialize, Serialize};
use shellflip::lifecycle::{LifecycleHandler, PipeWriter};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The signal that asks for a binary upgrade (besides `baton upgrade`). SIGTTIN is never
/// sent to a process that does not read from a terminal, so it cannot arrive by accident,
/// and the usual signals already have a meaning (HUP reload, USR1 hard restart, USR2 logs).
pub fn signal() -> tokio::signal::unix::SignalKind {
    tokio::signal::unix::SignalKind::from_raw(libc::SIGTTIN)
}

/// The listening sockets currently in use, as (descriptor, configured address); kept up
/// to date by the listener set so the handover always describes the current listeners.
pub type SharedListeners = Arc<Mutex<Vec<(RawFd, ListenKey)>>>;

#[derive(Serialize, Deserialize)]
struct HandoverMessage {
    from_pid: u32,
    listeners: Vec<HandedListener>,
}

#[derive(Serialize, Deserialize)]
struct HandedListener {
    fd: RawFd,
    interface: Option<IpAddr>,
    port: u16,
}

/// The old process's side of a handover.
pub struct Handover {
    listeners: SharedListeners,
    /// Inheritable duplicates made for the process being started.
    dups: Vec<(RawFd, ListenKey)>,
}

impl Handover {
    pub fn new(listeners: SharedListeners) -> Self {
        Handover {
            listeners,
            dups: Vec::new(),
        }
    }

    fn close_dups(&mut self) {
        for (fd, _) in self.dups.drain(..) {
            // SAFETY: the duplicate is ours; the new process has its own copy.
            unsafe { libc::close(fd) };
        }
    }
}

#[async_trait::async_trait]
impl LifecycleHandler for Handover {
    async fn pre_new_process(&mut self) {
        self.close_dups();
        let current = self.listeners.lock().map(|l| l.clone()).unwrap_or_default();
        for (fd, key) in current {
            // dup() gives a descriptor without close-on-exec: the new process inherits it.
            // SAFETY: fd is an open listening socket owned by the listener set.
            let dup = unsafe { libc::dup(fd) };
            if dup >= 0 {
                self.dups.push((dup, key));
            } else {
                tracing::warn!(
                    port = key.1,
                    "cannot hand a listener over: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }

    async fn send_to_new_process(&mut self, mut pipe: PipeWriter) -> std::io::Result<()> {
        let message = HandoverMessage {
            from_pid: std::process::id(),
            listeners: self
                .dups
                .iter()
                .map(|(fd, (interface, port))| HandedListener {
                    fd: *fd,
                    interface: *interface,
                    port: *port,
                })
                .collect(),
        };
        let mut line = serde_json::to_vec(&message).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let written = pipe.write_all(&line).await;
        let _ = pipe.flush().await;
        self.close_dups();
        written
    }

    async fn new_process_failed(&mut self) {
        self.close_dups();
        tracing::error!("binary upgrade failed: the new process did not become ready; this process keeps serving");
    }
}

/// In a process started by an upgrade (or by systemd with sockets): the listening sockets
/// it was given, by address, and whether it replaces a previous process.
pub async fn inherited() -> (Inherited, bool) {
    let mut inherited = Inherited::default();
    let upgrade = shellflip::lifecycle::receive_from_old_process();
    let from_upgrade = upgrade.is_some();
    if let Some(pipe) = upgrade {
        let mut line = String::new();
        let mut reader = BufReader::new(pipe);
        match reader.read_line(&mut line).await {
            Ok(_) => match serde_json::from_str::<HandoverMessage>(line.trim()) {
                Ok(message) => {
                    tracing::info!(
                        from = message.from_pid,
                        listeners = message.listeners.len(),
                        "taking over from the previous process"
                    );
                    for l in message.listeners {
                        // SAFETY: the previous process passed this descriptor to us for
                        // this listener; we are its only owner in this process.
                        let socket = unsafe { std::net::TcpListener::from_raw_fd(l.fd) };
                        inherited.insert((l.interface, l.port), socket);
                    }
                }
                Err(e) => tracing::error!("unreadable handover from the previous process: {e}"),
            },
            Err(e) => tracing::error!("cannot read the handover from the previous process: {e}"),
        }
    }
    for socket in systemd_sockets() {
        if let Ok(addr) = socket.local_addr() {
            inherited.insert(key_of(addr), socket);
        }
    }
    (inherited, from_upgrade)
}

fn key_of(addr: SocketAddr) -> ListenKey {
    let ip = addr.ip();
    (
        if ip.is_unspecified() { None } else { Some(ip) },
        addr.port(),
    )
}

/// Sockets passed by systemd socket activation (`LISTEN_PID` / `LISTEN_FDS`, from
/// descriptor 3 on); only TCP listening sockets are taken.
fn systemd_sockets() -> Vec<std::net::TcpListener> {
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if !pid_matches || count <= 0 {
        return Vec::new();
    }
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let mut out = Vec::new();
    for fd in 3..3 + count.min(1024) {
        // SAFETY: systemd passed descriptors 3..3+LISTEN_FDS to this process.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        let socket = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        if socket.local_addr().is_ok() {
            let _ = socket.set_nonblocking(true);
            out.push(socket);
        } else {
            std::mem::forget(socket);
            tracing::warn!(
                fd,
                "a socket passed by systemd is not a TCP listener; ignored"
            );
        }
    }
    out
}

/// Where shellflip's coordination socket lives: beside the control socket.
pub fn coordination_socket(control: &std::path::Path) -> PathBuf {
    control.with_extension("upgrade")
}
