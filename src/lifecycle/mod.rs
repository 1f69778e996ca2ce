//! The running server: the live generation, the listeners, and the process's life from
//! start to stop, with restarts in between.
//!
//! One task (the supervisor in [`run`]) owns the listeners and applies every command in
//! turn, whether it comes from a signal or the control socket, so two reloads never race:
//!
//! - SIGHUP / `reload`: graceful restart. Requests in flight finish on the generation they
//!   started with; every new request, including the next one on a kept-alive connection,
//!   gets the new one. Idle connections are left alone (closing them would race the
//!   client's next request).
//! - SIGUSR1 / `reload --hard`: the same, then every connection accepted before the new
//!   generation is closed.
//! - SIGUSR2 / `reopen_logs`: log files are reopened (rotation).
//! - SIGTERM / `stop`: stop accepting, let requests in flight finish, exit 0.
//! - SIGINT: stop at once.

mod control;
mod listeners;
mod reload;

use crate::config::Config;
use crate::control::{GenerationStatus, ListenerStatus, Reply, Request, Status};
use crate::net::{self, Listener};
use crate::snapshot::Generation;
use crate::stats::Stats;
use arc_swap::ArcSwap;
use listeners::ListenerSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;

/// State shared by every connection task.
pub struct State {
    live: ArcSwap<Generation>,
    /// Older generations, kept weakly: they live exactly as long as a request holds them.
    retired: Mutex<Vec<Weak<Generation>>>,
    pub started: Instant,
    /// Every connection task, so a stop can wait for them to finish.
    pub connections: TaskTracker,
    pub stats: Arc<Stats>,
    /// Turns true when the server stops: connections finish their request and close.
    pub shutdown: watch::Sender<bool>,
    /// A hard restart to generation N sends N: connections accepted before it close.
    pub hard_close: watch::Sender<u64>,
    /// A drain deadline for generation N sends N: connections whose request is still on
    /// an older generation close.
    pub drain_close: watch::Sender<u64>,
}

impl State {
    /// The live generation; a request keeps the `Arc` it got here until it ends.
    pub fn current(&self) -> Arc<Generation> {
        self.live.load_full()
    }

    /// Makes `generation` live; the previous one is retired (freed when its last request
    /// ends).
    fn swap(&self, generation: Generation) {
        let old = self.live.swap(Arc::new(generation));
        if let Ok(mut retired) = self.retired.lock() {
            retired.retain(|w| w.strong_count() > 0);
            retired.push(Arc::downgrade(&old));
        }
    }

    /// Generations still alive: the live one first, then older ones still serving.
    fn generations(&self) -> Vec<GenerationStatus> {
        let live = self.current();
        // One reference is the `ArcSwap`'s, one is `live` above.
        let mut out = vec![GenerationStatus {
            id: live.id,
            live: true,
            requests_in_flight: Arc::strong_count(&live).saturating_sub(2),
        }];
        if let Ok(mut retired) = self.retired.lock() {
            retired.retain(|w| w.strong_count() > 0);
            for w in retired.iter() {
                if let Some(g) = w.upgrade() {
                    out.push(GenerationStatus {
                        id: g.id,
                        live: false,
                        requests_in_flight: Arc::strong_count(&g).saturating_sub(1),
                    });
                }
            }
        }
        out
    }
}

/// How long a stop waits for requests in flight when no `server!drain_timeout` is set.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// Told once whether the server came up (and if not, why).
pub type ReadyCallback = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Options of one run that do not come from the configuration file.
pub struct RunOptions {
    /// Called once every listener is bound and the server accepts (for `-d`, which
    /// reports readiness to the parent process).
    pub on_ready: Option<ReadyCallback>,
    /// The file a reload reads again; `None` for the embedded default and `-r`.
    pub config_path: Option<PathBuf>,
    /// `-p`: the port that replaces the configured listeners, on reloads too.
    pub port_override: Option<u16>,
}

/// `-p`: one listener on this port, on the first listener's interface.
pub fn override_port(config: &mut Config, port: u16) {
    let binds = &mut config.server.binds;
    binds.truncate(1);
    if let Some(b) = binds.first_mut() {
        b.port = port;
    }
}

/// A command for the supervisor, with where to send its reply.
pub(crate) struct Command {
    pub request: Request,
    pub reply: Option<oneshot::Sender<Reply>>,
}

/// Serves `config` until stopped. Returns the process exit status.
pub async fn run(config: Config, mut opts: RunOptions) -> i32 {
    let mut ready = opts.on_ready.take();
    let mut report = |r: Result<(), String>| {
        if let Err(e) = &r {
            eprintln!("baton: {e}");
        }
        if let Some(f) = ready.take() {
            f(r);
        }
    };
    let settings = config.server.clone();
    let listeners = match net::bind_all(&settings.binds, settings.listen_queue, settings.ipv6) {
        Ok(l) => l,
        Err(e) => {
            report(Err(e.to_string()));
            return 1;
        }
    };
    let generation = match Generation::build(1, config, None) {
        Ok(g) => g,
        Err(e) => {
            report(Err(e));
            return 1;
        }
    };
    let pid_file = settings.pid_file.clone();
    if let Some(p) = &pid_file {
        if let Err(e) = write_pid_file(p) {
            report(Err(format!(
                "cannot write the pid file {}: {e}",
                p.display()
            )));
            return 1;
        }
    }
    let (commands_tx, mut commands) = mpsc::channel::<Command>(64);
    let control_path = settings.control_socket_path();
    let control = control::listen(&control_path, commands_tx.clone());
    if let Err(e) = crate::privileges::drop_to(settings.user.as_deref(), settings.group.as_deref())
    {
        report(Err(format!("cannot change user/group: {e}")));
        return 1;
    }
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            report(Err(format!("cannot install signal handlers: {e}")));
            return 1;
        }
    };

    let state = Arc::new(State {
        live: ArcSwap::from_pointee(generation),
        retired: Mutex::new(Vec::new()),
        started: Instant::now(),
        connections: TaskTracker::new(),
        stats: Arc::new(Stats::default()),
        shutdown: watch::channel(false).0,
        hard_close: watch::channel(0).0,
        drain_close: watch::channel(0).0,
    });
    announce(&listeners);
    say(&format!("ready (pid {})", std::process::id()));
    let mut set = ListenerSet::default();
    set.start(listeners, &state);
    report(Ok(()));
    tracing::info!(generation = 1, control = %control_path.display(), "serving");

    let graceful = loop {
        let cmd = tokio::select! {
            _ = signals.term.recv() => Command { request: Request::Stop { graceful: true }, reply: None },
            _ = signals.int.recv() => Command { request: Request::Stop { graceful: false }, reply: None },
            _ = signals.hup.recv() => Command { request: Request::Reload { hard: false }, reply: None },
            _ = signals.usr1.recv() => Command { request: Request::Reload { hard: true }, reply: None },
            _ = signals.usr2.recv() => Command { request: Request::ReopenLogs, reply: None },
            Some(cmd) = commands.recv() => cmd,
        };
        match cmd.request {
            Request::Stop { graceful } => {
                if let Some(r) = cmd.reply {
                    let _ = r.send(Reply::ok("stopping"));
                }
                break graceful;
            }
            Request::Reload { hard } => {
                // Reload requests that arrived meanwhile are answered by this one: a
                // burst of reloads reads the file once.
                let mut replies: Vec<oneshot::Sender<Reply>> = cmd.reply.into_iter().collect();
                let mut hard = hard;
                let mut deferred = Vec::new();
                while let Ok(next) = commands.try_recv() {
                    match next.request {
                        Request::Reload { hard: h } => {
                            hard |= h;
                            replies.extend(next.reply);
                        }
                        _ => deferred.push(next),
                    }
                }
                let reply = reload::reload(&state, &mut set, &opts, hard).await;
                for r in replies {
                    let _ = r.send(reply.clone());
                }
                for d in deferred {
                    let _ = commands_tx.try_send(d);
                }
            }
            Request::ReopenLogs => {
                tracing::info!("reopening log files");
                state.current().sinks.reopen_all();
                if let Some(r) = cmd.reply {
                    let _ = r.send(Reply::ok("log files reopened"));
                }
            }
            Request::Status => {
                if let Some(r) = cmd.reply {
                    let mut reply = Reply::ok("running");
                    reply.status = Some(status(&state, &set, &opts));
                    reply.generation = Some(state.current().id);
                    let _ = r.send(reply);
                }
            }
        }
    };

    set.stop_all().await;
    control.abort();
    let _ = std::fs::remove_file(&control_path);
    if graceful {
        let _ = state.shutdown.send(true);
        state.connections.close();
        let deadline = state
            .current()
            .config
            .server
            .drain_timeout
            .unwrap_or(STOP_DEADLINE);
        tracing::info!(
            open = state.connections.len(),
            "stopping: no longer accepting, waiting for requests in flight"
        );
        if tokio::time::timeout(deadline, state.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = state.connections.len(),
                "stop deadline reached; closing the remaining connections"
            );
        }
    }
    // Every access line of the requests served reaches its file before the process ends.
    let generation = state.current();
    let _ = tokio::time::timeout(Duration::from_secs(5), generation.sinks.flush_all()).await;
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    0
}

fn status(state: &State, set: &ListenerSet, opts: &RunOptions) -> Status {
    let live = state.current();
    Status {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        generation: live.id,
        uptime_seconds: state.started.elapsed().as_secs(),
        config: opts.config_path.as_ref().map(|p| p.display().to_string()),
        listeners: set
            .addresses()
            .into_iter()
            .map(|(bind, addr)| ListenerStatus {
                bind,
                address: addr.to_string(),
            })
            .collect(),
        connections_open: state.connections.len(),
        connections_by_generation: state.stats.connections_by_generation(),
        requests_total: state.stats.requests(),
        generations: state.generations(),
    }
}

struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
    usr2: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }
}

/// One line per listener on standard output: the operator sees where to point a browser,
/// and scripts (and the tests) learn the ports, even ones the kernel chose for port 0.
fn announce(listeners: &[Listener]) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for l in listeners {
        let host = match l.addr.ip() {
            ip if ip.is_unspecified() => "localhost".to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            ip => ip.to_string(),
        };
        let _ = writeln!(
            out,
            "baton: listening on http://{host}:{}/ (server!bind!{})",
            l.addr.port(),
            l.bind.id
        );
    }
    let _ = out.flush();
}

/// A line on standard output for the operator and for scripts: `baton: ready`,
/// `baton: reloaded …`, `baton: reload refused: …`.
fn say(line: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "baton: {line}");
    let _ = out.flush();
}

fn write_pid_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
    std::fs::rename(&tmp, path)
}
