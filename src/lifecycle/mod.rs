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
//! - SIGTTIN / `upgrade`: start the binary again with the listening sockets handed over;
//!   once the new process is ready, this one stops accepting, answers every further
//!   request with `Connection: close`, and exits when its connections are done (or at the
//!   drain deadline). See `upgrade`.
//! - SIGTERM / `stop`: stop accepting, let requests in flight finish, exit 0.
//! - SIGINT: stop at once.

pub mod conn_watch;
mod control;
mod listeners;
mod reload;
mod upgrade;

use crate::config::Config;
use crate::control::{GenerationStatus, ListenerStatus, Reply, Request, Status};
use crate::net::{self, Listener};
use crate::snapshot::Generation;
use crate::stats::Stats;
use arc_swap::ArcSwap;
use listeners::ListenerSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;

/// The events of the process's life that open connections act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// The server stops: connections finish their request and close.
    pub stopping: bool,
    /// A hard restart to generation N sets N: connections accepted before it close.
    pub hard_close: u64,
    /// A drain deadline for generation N sets N: connections whose request is still on
    /// an older generation close.
    pub drain_close: u64,
}

/// State shared by every connection task.
pub struct State {
    live: ArcSwap<Generation>,
    /// Older generations, kept weakly: they live exactly as long as a request holds them.
    retired: Mutex<Vec<Weak<Generation>>>,
    pub started: Instant,
    /// Every connection task, so a stop can wait for them to finish.
    pub connections: TaskTracker,
    pub stats: Arc<Stats>,
    /// What connections must react to (stop, hard restart, drain deadline), in one
    /// channel so that each connection waits on one thing (see [`Lifecycle`]).
    pub lifecycle: watch::Sender<Lifecycle>,
    /// This process is stopping or handing over: every response closes its connection.
    pub draining: Arc<AtomicBool>,
    /// The port of the first TLS listener as bound (0: none): HSTS redirections name it.
    pub https_port: Arc<std::sync::atomic::AtomicU16>,
}

impl State {
    /// The state of a server whose first generation is `generation`.
    pub fn new(generation: Generation) -> Arc<State> {
        Arc::new(State {
            live: ArcSwap::from_pointee(generation),
            retired: Mutex::new(Vec::new()),
            started: Instant::now(),
            connections: TaskTracker::new(),
            stats: Arc::new(Stats::default()),
            lifecycle: watch::channel(Lifecycle::default()).0,
            draining: Arc::new(AtomicBool::new(false)),
            https_port: Arc::default(),
        })
    }

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
    let (mut inherited, from_upgrade) = upgrade::inherited().await;
    let bound = net::bind_all(
        &settings.binds,
        settings.listen_queue,
        settings.ipv6,
        &mut inherited,
    );
    // Inherited sockets this configuration does not use are closed here.
    drop(inherited);
    let listeners = match bound {
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
    // Requests learn of file changes from this runtime's event loop.
    let _event_loop = crate::handlers::iocache::use_event_loop();
    let pid_file = settings.pid_file.clone();
    let (commands_tx, mut commands) = mpsc::channel::<Command>(64);
    let control_path = settings.control_socket_path();
    let control = control::listen(&control_path, commands_tx.clone(), from_upgrade);
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

    let state = State::new(generation);
    announce(&listeners);
    say(&format!("ready (pid {})", std::process::id()));
    let mut set = ListenerSet::default();
    set.start(listeners, &state);
    let coordination = upgrade::coordination_socket(&control_path);
    // The coordination socket sits beside the control socket and, like it, is only
    // created when this server owns that place (shellflip replaces whatever is there).
    let restart = shellflip::RestartConfig {
        enabled: control.is_some(),
        coordination_socket_path: coordination.clone(),
        environment: Vec::new(),
        lifecycle_handler: Box::new(upgrade::Handover::new(set.shared())),
        exit_on_error: false,
        restart_signal: upgrade::signal(),
    }
    .try_into_restart_task();
    if control.is_some() {
        let _ = std::fs::set_permissions(
            &coordination,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        );
    }
    // Polling the restart task the first time tells a previous process (after an
    // upgrade) that this one is ready: only then does it stop accepting.
    let mut restart: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> = match restart
    {
        Ok(task) => Box::pin(task),
        Err(e) => {
            tracing::warn!("binary upgrades disabled: {e}");
            Box::pin(std::future::pending())
        }
    };
    // Written last: after an upgrade, the file names the old process until the new one is
    // really ready.
    if let Some(p) = &pid_file {
        if let Err(e) = write_pid_file(p) {
            report(Err(format!(
                "cannot write the pid file {}: {e}",
                p.display()
            )));
            return 1;
        }
    }
    report(Ok(()));
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    tracing::info!(generation = 1, control = %control_path.display(), "serving");

    let exit = loop {
        let cmd = tokio::select! {
            done = &mut restart => {
                match done {
                    Ok(child) => break Exit::Upgraded(child.id()),
                    Err(e) => {
                        tracing::error!("binary upgrades disabled: {e}");
                        restart = Box::pin(std::future::pending());
                        continue;
                    }
                }
            }
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
                break Exit::Stop { graceful };
            }
            Request::Upgrade => {
                // The coordination socket answers once the new process is ready (or has
                // failed); meanwhile this loop keeps serving and polling the restart task.
                let path = coordination.clone();
                let reply = cmd.reply;
                tokio::spawn(async move {
                    let asked = shellflip::RestartConfig {
                        enabled: true,
                        coordination_socket_path: path,
                        ..Default::default()
                    }
                    .request_restart()
                    .await;
                    let answer = match asked {
                        Ok(pid) => Reply::ok(format!(
                            "new process {pid} is serving; the old one drains and exits"
                        )),
                        Err(e) => Reply::failed(format!(
                            "upgrade failed, the running process keeps serving: {e}"
                        )),
                    };
                    if let Some(r) = reply {
                        let _ = r.send(answer);
                    }
                });
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
            Request::RunningConfig => {
                if let Some(r) = cmd.reply {
                    let live = state.current();
                    let mut reply = Reply::ok(format!("generation {}", live.id));
                    reply.generation = Some(live.id);
                    reply.config_text = live.config.source_text.clone();
                    let _ = r.send(reply);
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

    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    // Closing this process's copies of the listening sockets: after an upgrade the new
    // process holds its own, so nothing is refused.
    set.stop_all().await;
    let owns_control = control.is_some();
    if let Some(c) = control {
        c.abort();
    }
    let drain = match exit {
        Exit::Stop { graceful: false } => false,
        Exit::Stop { graceful: true } => {
            // Stopping: idle connections close now, requests in flight finish.
            state.lifecycle.send_modify(|l| l.stopping = true);
            true
        }
        Exit::Upgraded(pid) => {
            // Handing over: idle connections are not closed under a client's next
            // request; each connection's next response says `Connection: close`, and
            // idle ones end at their keep-alive timeout.
            tracing::info!(
                new_pid = pid,
                "upgrade: the new process is serving; draining"
            );
            say(&format!("upgraded (new pid {pid}); draining"));
            true
        }
    };
    if drain {
        state.draining.store(true, Ordering::Relaxed);
        state.connections.close();
        let deadline = state
            .current()
            .config
            .server
            .drain_timeout
            .unwrap_or(STOP_DEADLINE);
        tracing::info!(
            open = state.connections.len(),
            "no longer accepting; waiting for open connections"
        );
        if tokio::time::timeout(deadline, state.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = state.connections.len(),
                "drain deadline reached; closing the remaining connections"
            );
        }
    }
    // Every access line of the requests served reaches its file before the process ends.
    let generation = state.current();
    let _ = tokio::time::timeout(Duration::from_secs(5), generation.sinks.flush_all()).await;
    if !matches!(exit, Exit::Upgraded(_)) {
        // After an upgrade these belong to the new process.
        if owns_control {
            let _ = std::fs::remove_file(&control_path);
            let _ = std::fs::remove_file(&coordination);
        }
        if let Some(p) = &pid_file {
            let _ = std::fs::remove_file(p);
        }
    }
    0
}

/// Why the supervisor loop ended.
enum Exit {
    Stop {
        graceful: bool,
    },
    /// A new process (this pid) took over the listeners.
    Upgraded(u32),
}

fn status(state: &State, set: &ListenerSet, opts: &RunOptions) -> Status {
    // Counted first: holding the live generation here would count as a request.
    let generations = state.generations();
    Status {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        generation: generations.first().map_or(0, |g| g.id),
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
        connections_idle_parked: state.stats.parked(),
        requests_total: state.stats.requests(),
        generations,
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
            "baton: listening on {}://{host}:{}/ (server!bind!{})",
            if l.bind.tls { "https" } else { "http" },
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
