//! The listeners being accepted on, reconciled by address on reload: a listener whose
//! interface and port did not change keeps its socket (so no connection is ever refused
//! while a reload happens), new ones are bound before the new generation goes live, and
//! removed ones stop accepting while their open connections are served to the end.

use super::upgrade::SharedListeners;
use super::State;
use crate::config;
use crate::net::{self, Listener};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The configured identity of a listener: a reload keeps the socket of a listener whose
/// interface and port did not change.
pub type ListenKey = (Option<IpAddr>, u16);

struct Running {
    key: ListenKey,
    tls: bool,
    addr: std::net::SocketAddr,
    fd: RawFd,
    bind_id: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The listeners being accepted on, reconciled by address on reload.
#[derive(Default)]
pub struct ListenerSet {
    running: Vec<Running>,
    /// Descriptors and addresses, for a binary upgrade's handover.
    shared: SharedListeners,
}

impl ListenerSet {
    /// The live list of listening descriptors, for the upgrade handover.
    pub fn shared(&self) -> SharedListeners {
        self.shared.clone()
    }

    fn publish(&self, state: &State) {
        if let Ok(mut shared) = self.shared.lock() {
            *shared = self.running.iter().map(|r| (r.fd, r.key)).collect();
        }
        let https = self
            .running
            .iter()
            .find(|r| r.tls)
            .map_or(0, |r| r.addr.port());
        state.https_port.store(https, Ordering::Relaxed);
    }

    pub fn start(&mut self, listeners: Vec<Listener>, state: &Arc<State>) {
        // The HTTPS port is known before any listener accepts: a plain request must not
        // find it unset (HSTS would let it through).
        let https = (self.running.iter().find(|r| r.tls).map(|r| r.addr.port()))
            .or_else(|| listeners.iter().find(|l| l.bind.tls).map(|l| l.addr.port()));
        state
            .https_port
            .store(https.unwrap_or(0), Ordering::Relaxed);
        for l in listeners {
            let fd = l.socket.as_raw_fd();
            let key = (l.bind.interface, l.bind.port);
            let addr = l.addr;
            let tls = l.bind.tls;
            let bind_id = Arc::new(AtomicU64::new(l.bind.id));
            let (stop, stop_rx) = watch::channel(false);
            let task = tokio::spawn(net::accept_loop(l, bind_id.clone(), state.clone(), stop_rx));
            self.running.push(Running {
                key,
                tls,
                addr,
                fd,
                bind_id,
                stop,
                task,
            });
        }
        self.publish(state);
    }

    /// Binds the listeners `binds` has and this set has not; nothing changes on error
    /// (the new sockets are closed when dropped).
    pub fn prepare(
        &self,
        binds: &[config::Bind],
        backlog: u32,
        ipv6: bool,
    ) -> std::io::Result<Vec<Listener>> {
        let new: Vec<config::Bind> = binds
            .iter()
            .filter(|b| !self.running.iter().any(|r| r.key == (b.interface, b.port)))
            .cloned()
            .collect();
        net::bind_all(&new, backlog, ipv6, &mut net::Inherited::default())
    }

    /// Starts the prepared listeners, renumbers kept ones, and stops the ones `binds` no
    /// longer has (their open connections are served to the end). Returns once the
    /// removed sockets are closed, so "reloaded" means they refuse connections.
    pub async fn commit(
        &mut self,
        prepared: Vec<Listener>,
        binds: &[config::Bind],
        state: &Arc<State>,
    ) {
        let mut removed = Vec::new();
        for r in std::mem::take(&mut self.running) {
            match binds.iter().find(|b| (b.interface, b.port) == r.key) {
                Some(b) => {
                    r.bind_id.store(b.id, Ordering::Relaxed);
                    self.running.push(Running { tls: b.tls, ..r });
                }
                None => {
                    let _ = r.stop.send(true);
                    tracing::info!(address = %r.addr, "listener removed: no longer accepting");
                    removed.push(r.task);
                }
            }
        }
        self.start(prepared, state);
        self.publish(state);
        for task in removed {
            let _ = task.await;
        }
    }

    pub async fn stop_all(self) {
        if let Ok(mut shared) = self.shared.lock() {
            shared.clear();
        }
        for r in &self.running {
            let _ = r.stop.send(true);
        }
        for r in self.running {
            let _ = r.task.await;
        }
    }
}

impl ListenerSet {
    /// The bound addresses, by `server!bind!N`.
    pub fn addresses(&self) -> Vec<(u64, std::net::SocketAddr)> {
        self.running
            .iter()
            .map(|r| (r.bind_id.load(Ordering::Relaxed), r.addr))
            .collect()
    }
}
