//! The requests of one connection in flight: how many, and since when there has been none.
//!
//! Shared by the connections that keep several requests open at once or serve them on
//! behalf of a library (HTTP/2, hyper's HTTP/1.1 over TLS). The count answers two
//! questions: whether the connection still holds a request on some generation (so a
//! graceful stop waits for it, and `ConnInfo::active` is cleared when the last one ends),
//! and how long it has been idle (an HTTP/2 connection without a stream for the server's
//! timeout is closed).

use crate::pipeline::ConnInfo;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The requests of a connection in flight, and when the last one ended: an HTTP/2
/// connection's idle time, and what `ConnInfo::active` says.
pub struct Streams {
    open: AtomicUsize,
    /// When the connection last had no request in flight, in milliseconds since `epoch`.
    quiet_since: AtomicU64,
    epoch: Instant,
}

impl Default for Streams {
    fn default() -> Streams {
        Streams {
            open: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Streams {
    pub fn idle_for(&self) -> Duration {
        if self.open.load(Ordering::Acquire) != 0 {
            return Duration::ZERO;
        }
        let since = Duration::from_millis(self.quiet_since.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(since)
    }

    pub fn start(self: &Arc<Self>, info: Arc<ConnInfo>) -> InFlight {
        self.open.fetch_add(1, Ordering::AcqRel);
        InFlight {
            streams: self.clone(),
            info,
        }
    }
}

/// One request in flight, until its response body is done or dropped.
pub struct InFlight {
    streams: Arc<Streams>,
    info: Arc<ConnInfo>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.streams.epoch.elapsed().as_millis() as u64;
        self.streams.quiet_since.store(now, Ordering::Relaxed);
        if self.streams.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            // No request of this connection is on a generation now.
            self.info.active.store(0, Ordering::Relaxed);
        }
    }
}
