//! `baton status | reload | stop | reopen-logs`: talk to a running server through its
//! control socket, print the answer for people (or as JSON), exit non-zero on failure.
//! The editing commands (`config`, `vserver`, `rule`, `maintenance`) are dispatched to
//! [`crate::edit::commands`] and [`crate::maintenance`]; they use [`reload_running`].

use crate::cli::{Cmd, ControlArgs};
use crate::config::{self, ServerSettings};
use crate::control::{self, Reply, Request, Status};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for the server's answer (a reload reads and compiles the whole
/// configuration).
const ANSWER_LIMIT: Duration = Duration::from_secs(120);

pub fn run(cmd: &Cmd, top_config: Option<&Path>) -> i32 {
    let (control, request) = match cmd {
        Cmd::Status(c) => (c, Request::Status),
        Cmd::Reload { control, hard } => (control, Request::Reload { hard: *hard }),
        Cmd::Stop { control, now } => (control, Request::Stop { graceful: !now }),
        Cmd::ReopenLogs(c) => (c, Request::ReopenLogs),
        Cmd::Upgrade(c) => (c, Request::Upgrade),
        Cmd::Admin { .. } => {
            eprintln!("baton: admin is not a server command");
            return 2;
        }
        Cmd::Config(c) => return crate::edit::commands::config(c, top_config),
        Cmd::Vserver(c) => return crate::edit::commands::vserver(c, top_config),
        Cmd::Rule(c) => return crate::edit::commands::rule(c, top_config),
        Cmd::Maintenance(c) => return crate::maintenance::run(c, top_config),
    };
    let config_path = control.config.as_deref().or(top_config);
    // A reload is checked here first, so the operator sees every problem with its line
    // before anything is sent (the server checks again: the file may change meanwhile).
    if matches!(request, Request::Reload { .. } | Request::Upgrade) {
        if let Some(path) = config_path {
            let loaded = config::load_file(path);
            let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
            if !errors.is_empty() {
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!(
                    "baton: {} has {} error{}; the running server was not asked to apply it",
                    path.display(),
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                );
                return 1;
            }
        }
    }
    let socket = match socket_path(control, config_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("baton: {e}");
            return 1;
        }
    };
    let reply = match control::call(&socket, &request, ANSWER_LIMIT) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("baton: {e}");
            return 1;
        }
    };
    print_reply(control, &reply);
    if reply.ok {
        0
    } else {
        1
    }
}

/// What asking the running server to apply a saved configuration gave.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    /// Whether a server answered on the control socket.
    pub server_running: bool,
    /// Whether the server applied the configuration (true when no server runs: there is
    /// nothing to apply, the file is used when it starts).
    pub ok: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
}

/// Asks the server running with `config_path` (or listening on `socket`) to reload it.
/// A server that is not running is not an error: the saved file applies when it starts.
pub fn reload_running(config_path: &Path, socket: Option<&Path>, hard: bool) -> Applied {
    let control = ControlArgs {
        config: Some(config_path.to_path_buf()),
        socket: socket.map(Path::to_path_buf),
        json: false,
    };
    let socket = match socket_path(&control, Some(config_path)) {
        Ok(s) => s,
        Err(e) => {
            return Applied {
                server_running: false,
                ok: false,
                message: e,
                errors: Vec::new(),
                generation: None,
            }
        }
    };
    match control::call(&socket, &Request::Reload { hard }, ANSWER_LIMIT) {
        Ok(reply) => Applied {
            server_running: true,
            ok: reply.ok,
            message: reply.message,
            errors: reply.errors,
            generation: reply.generation,
        },
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Applied {
                server_running: false,
                ok: true,
                message: format!(
                    "no server is running with this configuration (nothing listens on {}); the saved file applies when it starts",
                    socket.display()
                ),
                errors: Vec::new(),
                generation: None,
            }
        }
        Err(e) => Applied {
            server_running: false,
            ok: false,
            message: e.to_string(),
            errors: Vec::new(),
            generation: None,
        },
    }
}

fn socket_path(control: &ControlArgs, config_path: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(s) = &control.socket {
        return Ok(s.clone());
    }
    match config_path {
        Some(path) => {
            let loaded = config::load_file(path);
            match loaded.config {
                Some(c) => Ok(c.server.control_socket_path()),
                None => {
                    // The file has errors (a status or stop must still work): read only
                    // the keys that say where the socket is.
                    let tree = baton_conf::load(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    let pick = |k: &str| tree.tree.root().get_value(k).map(PathBuf::from);
                    let settings_like = (pick("server!control_socket"), pick("server!pid_file"));
                    Ok(match settings_like {
                        (Some(s), _) => s,
                        (None, Some(pid)) => pid.with_extension("sock"),
                        (None, None) => default_settings().control_socket_path(),
                    })
                }
            }
        }
        None => Ok(default_settings().control_socket_path()),
    }
}

fn default_settings() -> ServerSettings {
    config::load_str("<none>", "vserver!1!nick = default\n")
        .config
        .map(|c| c.server)
        .expect("the minimal configuration is valid")
}

fn print_reply(control: &ControlArgs, reply: &Reply) {
    if control.json {
        match serde_json::to_string_pretty(reply) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("baton: {e}"),
        }
        return;
    }
    if let Some(status) = &reply.status {
        print_status(status);
        return;
    }
    if reply.ok {
        println!("baton: {}", reply.message);
    } else {
        eprintln!("baton: {}", reply.message);
        for e in reply.errors.iter().skip(1) {
            eprintln!("{e}");
        }
    }
}

fn print_status(s: &Status) {
    let up = s.uptime_seconds;
    println!(
        "Baton {} (pid {}), up {}h{:02}m{:02}s",
        s.version,
        s.pid,
        up / 3600,
        up / 60 % 60,
        up % 60
    );
    println!(
        "generation {} is live; configuration {}",
        s.generation,
        s.config.as_deref().unwrap_or("(embedded)")
    );
    for l in &s.listeners {
        println!("listening on {} (server!bind!{})", l.address, l.bind);
    }
    let by_gen: Vec<String> = s
        .connections_by_generation
        .iter()
        .map(|(g, n)| format!("{n} accepted under generation {g}"))
        .collect();
    println!(
        "connections: {} open{}",
        s.connections_open,
        if by_gen.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_gen.join(", "))
        }
    );
    if s.connections_idle_parked > 0 {
        println!(
            "idle connections holding only their socket: {}",
            s.connections_idle_parked
        );
    }
    println!("requests: {} served", s.requests_total);
    for g in s.generations.iter().filter(|g| !g.live) {
        println!(
            "older generation {} still serving {} request{}",
            g.id,
            g.requests_in_flight,
            if g.requests_in_flight == 1 { "" } else { "s" }
        );
    }
}
