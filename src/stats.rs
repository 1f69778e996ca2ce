//! Counters for `baton status` and the logs: requests served, and open connections by the
//! generation that was live when they were accepted. Updated once per request and once
//! per connection, never under a lock on the request path (the per-generation map is
//! touched only when a connection opens or closes).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Stats {
    requests: AtomicU64,
    connections: Mutex<BTreeMap<u64, usize>>,
    /// Idle connections holding only their socket (between requests, with nothing
    /// buffered; see `http1::conn`).
    parked: AtomicU64,
}

impl Stats {
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Registers an open connection accepted under generation `born`; the guard removes
    /// it when dropped.
    pub fn connection(self: &Arc<Self>, born: u64) -> ConnectionGuard {
        if let Ok(mut map) = self.connections.lock() {
            *map.entry(born).or_insert(0) += 1;
        }
        ConnectionGuard {
            stats: self.clone(),
            born,
        }
    }

    pub fn parked(&self) -> u64 {
        self.parked.load(Ordering::Relaxed)
    }

    /// Counts a parked connection until the guard is dropped (a borrow: parking happens
    /// once per request, an `Arc` clone would be two more atomic operations each time).
    pub fn park(&self) -> ParkedGuard<'_> {
        self.parked.fetch_add(1, Ordering::Relaxed);
        ParkedGuard(self)
    }

    pub fn connections_by_generation(&self) -> BTreeMap<u64, usize> {
        self.connections
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }
}

pub struct ConnectionGuard {
    stats: Arc<Stats>,
    born: u64,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.stats.connections.lock() {
            if let Some(n) = map.get_mut(&self.born) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.born);
                }
            }
        }
    }
}

pub struct ParkedGuard<'a>(&'a Stats);

impl Drop for ParkedGuard<'_> {
    fn drop(&mut self) {
        self.0.parked.fetch_sub(1, Ordering::Relaxed);
    }
}
