//! `server!…` keys: listeners and server-wide settings.

use super::reader::Reader;
use baton_conf::Node;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One listening address (`server!bind!N`). `id` is N, which `bind` rules refer to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    pub id: u64,
    pub port: u16,
    /// `None` listens on every interface.
    pub interface: Option<IpAddr>,
    pub tls: bool,
}

/// How much the `Server` header says (`server!server_tokens`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerTokens {
    Product,
    Minor,
    Minimal,
    Os,
    Full,
}

impl ServerTokens {
    /// The `Server` header value for this level.
    pub fn header(self) -> String {
        let version = env!("CARGO_PKG_VERSION");
        let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
        match self {
            ServerTokens::Product => "Baton".to_string(),
            ServerTokens::Minor => format!("Baton/{minor}"),
            ServerTokens::Minimal => format!("Baton/{version}"),
            ServerTokens::Os => format!("Baton/{version} (UNIX)"),
            ServerTokens::Full => format!("Baton/{version} ({})", std::env::consts::OS),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub binds: Vec<Bind>,
    pub keepalive: bool,
    /// 0 means no limit.
    pub keepalive_max_requests: u64,
    /// How long a connection may stay silent (reading a request or between requests).
    pub timeout: Duration,
    pub server_tokens: ServerTokens,
    pub pid_file: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub thread_number: Option<usize>,
    pub listen_queue: u32,
    pub ipv6: bool,
    /// After a graceful restart, requests still running on an older generation this long
    /// afterwards are cut (`server!drain_timeout`; Baton extension). `None`: no limit.
    pub drain_timeout: Option<Duration>,
    /// The control socket (`server!control_socket`; Baton extension). `None`: the default
    /// place, see [`ServerSettings::control_socket_path`].
    pub control_socket: Option<PathBuf>,
}

impl ServerSettings {
    /// Where the control socket lives: the configured path, else beside the pid file,
    /// else in the user's runtime directory.
    pub fn control_socket_path(&self) -> PathBuf {
        if let Some(p) = &self.control_socket {
            return p.clone();
        }
        if let Some(pid) = &self.pid_file {
            return pid.with_extension("sock");
        }
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        if uid == 0 {
            return PathBuf::from("/run/baton.sock");
        }
        match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
            Some(dir) if dir.is_dir() => dir.join("baton.sock"),
            _ => std::env::temp_dir().join(format!("baton-{uid}.sock")),
        }
    }
}

/// Keys Cherokee understands that tune its own event loop or modules; Baton has no use for
/// them and accepts them silently so an existing file loads without noise.
const IGNORED: &[&str] = &[
    "panic_action",
    "poll_method",
    "module_dir",
    "module_deps",
    "sendfile_min",
    "sendfile_max",
    "max_fds",
    "log_flush_lapse",
    "log_flush_elapse",
    "nonces_cleanup_lapse",
    "thread_policy",
    "max_connection_reuse",
    "fdlimit",
    "chunked_encoding",
    "collector",
    "tls",
    "iocache",
];

pub fn build(r: &Reader<'_>, node: Option<Node<'_>>) -> Option<ServerSettings> {
    let mut settings = ServerSettings {
        binds: Vec::new(),
        keepalive: true,
        keepalive_max_requests: 500,
        timeout: Duration::from_secs(15),
        server_tokens: ServerTokens::Full,
        pid_file: None,
        user: None,
        group: None,
        thread_number: None,
        listen_queue: 1024,
        ipv6: true,
        drain_timeout: None,
        control_socket: None,
    };
    let Some(node) = node else {
        settings.binds.push(Bind {
            id: 1,
            port: 80,
            interface: None,
            tls: false,
        });
        return Some(settings);
    };
    let mut ok = true;
    for name in IGNORED {
        r.ignore_tree(node.child(name));
    }
    if let Some(b) = r.child(node, "bind") {
        let (numbered, others) = b.numbered();
        for (name, other) in others {
            r.error(
                other,
                format!("listener ids must be numbers, found {name:?}"),
            );
            ok = false;
        }
        for (id, bind) in numbered {
            r.used(bind);
            match build_bind(r, id, bind) {
                Some(b) => settings.binds.push(b),
                None => ok = false,
            }
        }
    }
    // Old single-port form.
    if let Some(port) = r.child(node, "port") {
        if let Some(port) = port_value(r, port) {
            let interface = r.str(node, "listen").and_then(|v| v.parse().ok());
            settings.binds.push(Bind {
                id: 0,
                port,
                interface,
                tls: false,
            });
        }
    } else {
        r.child(node, "listen");
    }
    if settings.binds.is_empty() {
        settings.binds.push(Bind {
            id: 1,
            port: 80,
            interface: None,
            tls: false,
        });
    }
    if let Some(v) = r.child(node, "keepalive") {
        settings.keepalive = r.bool(v).unwrap_or(true);
    }
    if let Some(n) = r.number_child(node, "keepalive_max_requests") {
        settings.keepalive_max_requests = n;
    }
    if let Some(t) = r.child(node, "timeout") {
        match r.duration(t) {
            Some(d) if d.is_zero() => {
                r.error(t, "the timeout must be at least one second");
                ok = false;
            }
            Some(d) => settings.timeout = d,
            None => ok = false,
        }
    }
    if let Some(t) = r.child(node, "server_tokens") {
        let v = t.value().unwrap_or("").trim().to_ascii_lowercase();
        settings.server_tokens = match v.as_str() {
            "product" => ServerTokens::Product,
            "minor" => ServerTokens::Minor,
            "minimal" => ServerTokens::Minimal,
            "os" => ServerTokens::Os,
            "full" => ServerTokens::Full,
            _ => {
                r.error(
                    t,
                    format!("expected product, minor, minimal, os or full, found {v:?}"),
                );
                ok = false;
                ServerTokens::Full
            }
        };
    }
    if let Some(p) = r.child(node, "pid_file") {
        settings.pid_file = r.path(p);
    }
    settings.user = r.str(node, "user").map(str::to_string);
    settings.group = r.str(node, "group").map(str::to_string);
    if let Some(n) = r.child(node, "thread_number") {
        match r.number(n) {
            Some(0) | None => {}
            Some(n) => settings.thread_number = Some(n.min(1024) as usize),
        }
    }
    if let Some(n) = r.number_child(node, "listen_queue") {
        settings.listen_queue = n.clamp(1, 65_535) as u32;
    }
    if let Some(v) = r.child(node, "ipv6") {
        settings.ipv6 = r.bool(v).unwrap_or(true);
    }
    if let Some(t) = r.child(node, "drain_timeout") {
        match r.duration(t) {
            Some(d) if d.is_zero() => settings.drain_timeout = None,
            Some(d) => settings.drain_timeout = Some(d),
            None => ok = false,
        }
    }
    if let Some(p) = r.child(node, "control_socket") {
        settings.control_socket = r.path(p);
    }
    if let Some(c) = r.child(node, "chroot") {
        if r.bool(c) == Some(true) {
            r.warn(
                c,
                "chroot is not supported by Baton; the server runs unjailed",
            );
        }
    }
    if let Some(u) = r.child(node, "unix_socket") {
        r.warn(
            u,
            "listening on a Unix socket is not supported yet; ignored",
        );
    }
    ok.then_some(settings)
}

fn port_value(r: &Reader<'_>, node: Node<'_>) -> Option<u16> {
    let n = r.number(node)?;
    match u16::try_from(n) {
        Ok(p) => Some(p),
        Err(_) => {
            r.error(node, format!("port {n} is out of range (0-65535)"));
            None
        }
    }
}

fn build_bind(r: &Reader<'_>, id: u64, node: Node<'_>) -> Option<Bind> {
    let port = match r.child(node, "port") {
        Some(p) => port_value(r, p)?,
        None => {
            r.error(node, "a listener needs a port (server!bind!N!port)");
            return None;
        }
    };
    let interface = match r.child(node, "interface") {
        Some(i) => {
            let v = i.value().unwrap_or("").trim();
            if v.is_empty() {
                None
            } else {
                match v.parse::<IpAddr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        r.error(i, format!("expected an IP address, found {v:?}"));
                        return None;
                    }
                }
            }
        }
        None => None,
    };
    let tls = r.flag(node, "tls", false);
    Some(Bind {
        id,
        port,
        interface,
        tls,
    })
}
