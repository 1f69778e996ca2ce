//! What an open connection watches of the server's life: whether to close at once (hard
//! restart, drain deadline) or to finish what is in flight and close (stop). Shared by
//! the HTTP/1 layer and the connections hyper serves (TLS).

use super::Lifecycle;
use crate::pipeline::ConnInfo;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

/// What the lifecycle asks of a connection.
pub enum Event {
    /// Close at once, whatever the connection is doing (hard restart, drain deadline).
    Close,
    /// The server stops: finish the request in flight, then close.
    Stop,
}

/// One connection's view of the lifecycle channel.
pub struct ConnWatch {
    rx: watch::Receiver<Lifecycle>,
    /// The generation live when the connection was accepted: a hard restart to a newer
    /// one closes it.
    born: u64,
    info: Arc<ConnInfo>,
    /// A stop was reported (it is not reported twice).
    stop_seen: bool,
}

impl ConnWatch {
    pub fn new(rx: watch::Receiver<Lifecycle>, born: u64, info: Arc<ConnInfo>) -> ConnWatch {
        ConnWatch {
            rx,
            born,
            info,
            stop_seen: false,
        }
    }

    /// What the lifecycle asks now, if anything.
    pub fn check(&mut self) -> Option<Event> {
        let now = *self.rx.borrow_and_update();
        // Drain deadline: the request still on an old generation is cut.
        let active = self.info.active.load(Ordering::Relaxed);
        if now.hard_close > self.born || (active != 0 && active < now.drain_close) {
            return Some(Event::Close);
        }
        if now.stopping && !self.stop_seen {
            self.stop_seen = true;
            return Some(Event::Stop);
        }
        None
    }

    /// The next thing the lifecycle asks.
    pub async fn next(&mut self) -> Event {
        loop {
            if self.rx.changed().await.is_err() {
                // The server state is gone: nothing left to serve for.
                return Event::Close;
            }
            if let Some(event) = self.check() {
                return event;
            }
        }
    }
}
