//! Who may use the admin: one user with a password generated when `baton admin` starts
//! (printed once, never stored), sessions in an HttpOnly SameSite=Strict cookie, a CSRF
//! token for every change, and failed sign-ins slowed down per client address.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const USER: &str = "admin";
pub const COOKIE: &str = "baton_admin";
/// A session ends after this long without a request.
const IDLE_LIMIT: Duration = Duration::from_secs(8 * 3600);
/// Failed sign-ins allowed before each further attempt must wait.
const FREE_FAILURES: u32 = 3;
/// Seconds the first throttled attempt waits; each further failure doubles it.
const FIRST_WAIT: u64 = 3;
const MAX_WAIT: Duration = Duration::from_secs(300);

/// Random bytes from the kernel, as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // getrandom(2) directly; /dev/urandom may be missing in a chroot.
        // SAFETY: buf is valid for buf.len() bytes.
        unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A password easy to type from a terminal: 4 groups of 4 lowercase letters and digits
/// (about 82 bits).
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let hex = random_hex(16);
    let chars: Vec<char> = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let v = u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("00"), 16).unwrap_or(0);
            ALPHABET[(v as usize) % ALPHABET.len()] as char
        })
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Compares without stopping at the first difference, so timing says nothing about how
/// much of a guess was right.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

pub struct Session {
    pub csrf: String,
    last_seen: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session: (cookie token, CSRF token).
    pub fn open(&self) -> (String, String) {
        let token = random_hex(32);
        let csrf = random_hex(16);
        if let Ok(mut map) = self.by_token.lock() {
            map.retain(|_, s| s.last_seen.elapsed() < IDLE_LIMIT);
            map.insert(
                token.clone(),
                Session {
                    csrf: csrf.clone(),
                    last_seen: Instant::now(),
                },
            );
        }
        (token, csrf)
    }

    /// The CSRF token of a live session, refreshing it.
    pub fn check(&self, token: &str) -> Option<String> {
        let mut map = self.by_token.lock().ok()?;
        let session = map.get_mut(token)?;
        if session.last_seen.elapsed() >= IDLE_LIMIT {
            map.remove(token);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.csrf.clone())
    }

    pub fn close(&self, token: &str) {
        if let Ok(mut map) = self.by_token.lock() {
            map.remove(token);
        }
    }
}

/// Failed sign-ins per client address: after a few, every attempt must wait twice as long
/// as the previous one (up to five minutes).
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// How long `ip` must still wait before trying again.
    pub fn wait(&self, ip: IpAddr) -> Option<Duration> {
        let map = self.failures.lock().ok()?;
        let (count, last) = *map.get(&ip)?;
        if count < FREE_FAILURES {
            return None;
        }
        let wait = Duration::from_secs(FIRST_WAIT << (count - FREE_FAILURES).min(16)).min(MAX_WAIT);
        let elapsed = last.elapsed();
        (elapsed < wait).then(|| wait - elapsed)
    }

    pub fn failed(&self, ip: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            let entry = map.entry(ip).or_insert((0, Instant::now()));
            entry.0 += 1;
            entry.1 = Instant::now();
        }
    }

    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&ip);
        }
    }
}

/// The value of a cookie in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_four_groups() {
        let p = new_password();
        assert_eq!(p.len(), 19);
        assert_eq!(p.matches('-').count(), 3);
        assert_ne!(p, new_password());
    }

    #[test]
    fn comparison_is_exact() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }

    #[test]
    fn throttle_waits_after_free_failures() {
        let t = Throttle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert!(t.wait(ip).is_none());
            t.failed(ip);
        }
        assert!(t.wait(ip).is_some());
        t.succeeded(ip);
        assert!(t.wait(ip).is_none());
    }

    #[test]
    fn cookies_are_found() {
        assert_eq!(cookie("a=1; baton_admin=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("a=1", COOKIE), None);
    }
}
