//! Virtual server selection: which virtual server answers a request.
//!
//! Cherokee's order, kept exactly: first every virtual server's host list in priority
//! order, then every nickname in priority order, then `default`. Exact names go into a hash
//! map so the cost of a lookup does not grow with the number of virtual servers that use
//! plain names; only patterns (wildcards, regular expressions, addresses) are scanned, and
//! only those of higher priority than the best exact match.
//!
//! A virtual server may exclude requests (`match!exclude!from`, `match!exclude!cookie`:
//! staff during maintenance). An excluded request is treated as if that virtual server
//! did not exist: selection goes on with the lower-priority ones, so staff reach the live
//! original below a maintenance copycat. Exclusions are only evaluated for virtual servers
//! that have them, and only when their host matches.

use crate::config::{HostMatcher, VServer};
use crate::http::fields::Fields;
use http::header;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

pub struct HostIndex {
    /// Lower-case exact name -> indexes (in priority order) of the vservers listing it.
    /// FxHash, several times cheaper than SipHash on a host name: the keys come from the
    /// configuration, so a client's host can only miss or hit, never flood a bucket.
    exact: FxHashMap<String, Vec<usize>>,
    /// (vserver index, matcher index) for every non-exact matcher, in priority order.
    patterns: Vec<(usize, usize)>,
    /// Lower-case nickname -> vservers (in priority order) that match by nickname.
    nicks: FxHashMap<String, Vec<usize>>,
    default: usize,
}

/// Who is asking: what exclusions (`match!exclude!…`) look at.
#[derive(Clone, Copy)]
pub struct Visitor<'a> {
    /// The client's address.
    pub remote: IpAddr,
    /// The request headers (for `Cookie`).
    pub headers: &'a Fields,
}

impl Visitor<'_> {
    fn excluded_by(&self, v: &VServer) -> bool {
        !v.exclude.is_empty()
            && v.exclude.excludes(
                canonical(self.remote),
                self.headers.get_all(header::COOKIE).map(|h| h.as_bytes()),
            )
    }
}

/// The selected virtual server, with the groups of a regular expression host match (for
/// `^1`… in redirections).
#[derive(Debug, PartialEq, Eq)]
pub struct Selected {
    pub index: usize,
    pub host_groups: Vec<String>,
}

impl HostIndex {
    pub fn new(vservers: &[VServer], default: usize) -> Self {
        let mut exact = FxHashMap::default();
        let mut patterns = Vec::new();
        let mut nicks = FxHashMap::default();
        for (i, v) in vservers.iter().enumerate() {
            for (m, matcher) in v.hosts.iter().enumerate() {
                match matcher {
                    HostMatcher::Exact(name) => {
                        let list: &mut Vec<usize> = exact.entry(name.clone()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                    _ => patterns.push((i, m)),
                }
            }
            if v.match_nick {
                nicks
                    .entry(v.nick.to_ascii_lowercase())
                    .or_insert_with(Vec::new)
                    .push(i);
            }
        }
        HostIndex {
            exact,
            patterns,
            nicks,
            default,
        }
    }

    /// `host` is the request's host without port, already lower-cased (absent for HTTP/1.0
    /// requests without `Host`); `local` is the address the connection arrived on;
    /// `visitor` is who asks, for the virtual servers that exclude some visitors.
    pub fn select(
        &self,
        vservers: &[VServer],
        host: Option<&str>,
        local: IpAddr,
        visitor: Visitor<'_>,
    ) -> Selected {
        let allowed = |i: usize| !visitor.excluded_by(&vservers[i]);
        let first_allowed = |list: &Vec<usize>| list.iter().copied().find(|&i| allowed(i));
        let best_exact = host.and_then(|h| self.exact.get(h).and_then(first_allowed));
        for &(vi, mi) in &self.patterns {
            if best_exact.is_some_and(|b| b <= vi) {
                break;
            }
            if !allowed(vi) {
                continue;
            }
            let matcher = &vservers[vi].hosts[mi];
            match matcher {
                HostMatcher::Wildcard { regex, .. } => {
                    if host.is_some_and(|h| regex.is_match(h)) {
                        return Selected {
                            index: vi,
                            host_groups: Vec::new(),
                        };
                    }
                }
                HostMatcher::Regex(regex) => {
                    if let Some(caps) = host.and_then(|h| regex.captures(h)) {
                        let groups = caps
                            .iter()
                            .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
                            .collect();
                        return Selected {
                            index: vi,
                            host_groups: groups,
                        };
                    }
                }
                HostMatcher::TargetIp(net) => {
                    if net.contains(&canonical(local)) {
                        return Selected {
                            index: vi,
                            host_groups: Vec::new(),
                        };
                    }
                }
                HostMatcher::Exact(_) => {}
            }
        }
        if let Some(index) = best_exact {
            return Selected {
                index,
                host_groups: Vec::new(),
            };
        }
        if let Some(index) = host.and_then(|h| self.nicks.get(h).and_then(first_allowed)) {
            return Selected {
                index,
                host_groups: Vec::new(),
            };
        }
        Selected {
            index: self.default,
            host_groups: Vec::new(),
        }
    }
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) as plain IPv4, so
/// subnets written in IPv4 match it.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}
