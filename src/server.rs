//! The running server: the live generation, the listeners, and the process's life from
//! start to stop, with reloads in between.
//!
//! Signals: SIGHUP reloads gracefully (requests in flight finish on the generation they
//! started with, every new request, including the next one on a kept-alive connection,
//! gets the new one); SIGUSR1 reloads hard (the same, then every connection accepted
//! before the new generation is closed); SIGUSR2 reopens the log files; SIGTERM stops
//! accepting and lets requests in flight finish; SIGINT stops at once.

use crate::config::{self, Config};
use crate::net::{self, Listener};
use crate::snapshot::Generation;
use arc_swap::ArcSwap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

/// State shared by every connection task.
pub struct State {
    live: ArcSwap<Generation>,
    pub started: Instant,
    /// Every connection task, so a stop can wait for them to finish.
    pub connections: TaskTracker,
    /// Turns true when the server stops: connections finish their request and close.
    pub shutdown: watch::Sender<bool>,
    /// A hard restart to generation N sends N: connections accepted before it close.
    pub hard_close: watch::Sender<u64>,
}

impl State {
    /// The live generation; a request keeps the `Arc` it got here until it ends.
    pub fn current(&self) -> Arc<Generation> {
        self.live.load_full()
    }
}

/// How long a stop (SIGTERM) waits for requests in flight before exiting anyway.
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

/// Serves `config` until a stop signal. Returns the process exit status.
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
        started: Instant::now(),
        connections: TaskTracker::new(),
        shutdown: watch::channel(false).0,
        hard_close: watch::channel(0).0,
    });
    announce(&listeners);
    say(&format!("ready (pid {})", std::process::id()));
    let mut set = ListenerSet::default();
    set.start(listeners, &state);
    report(Ok(()));
    tracing::info!(generation = 1, "serving");

    let graceful = loop {
        tokio::select! {
            _ = signals.term.recv() => break true,
            _ = signals.int.recv() => break false,
            _ = signals.hup.recv() => reload(&state, &mut set, &opts, false).await,
            _ = signals.usr1.recv() => reload(&state, &mut set, &opts, true).await,
            _ = signals.usr2.recv() => {
                tracing::info!("reopening log files");
                state.current().sinks.reopen_all();
            }
        }
    };

    set.stop_all().await;
    if graceful {
        let _ = state.shutdown.send(true);
        state.connections.close();
        tracing::info!(
            open = state.connections.len(),
            "stopping: no longer accepting, waiting for requests in flight"
        );
        if tokio::time::timeout(STOP_DEADLINE, state.connections.wait())
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

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
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

/// Reads the configuration again and, if it is valid and its new listeners can be bound,
/// makes it the live generation. On any error the running generation keeps serving and
/// the error is logged with its file:line and key.
async fn reload(state: &Arc<State>, set: &mut ListenerSet, opts: &RunOptions, hard: bool) {
    let kind = if hard { "hard" } else { "graceful" };
    let Some(path) = opts.config_path.clone() else {
        tracing::warn!(
            "{kind} restart requested, but there is no configuration file to read again"
        );
        return;
    };
    let loaded = match tokio::task::spawn_blocking(move || config::load_file(&path)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "configuration reload task failed");
            return;
        }
    };
    let mut config = match loaded.into_result() {
        Ok((config, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            config
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                tracing::error!("{d}");
            }
            let first = diagnostics
                .iter()
                .find(|d| d.severity == config::Severity::Error);
            say(&format!(
                "reload refused: {}",
                first.map(|d| d.to_string()).unwrap_or_default()
            ));
            tracing::error!(
                generation = state.current().id,
                "{kind} restart refused: the configuration has errors; the running configuration keeps serving"
            );
            return;
        }
    };
    if let Some(port) = opts.port_override {
        override_port(&mut config, port);
    }
    let current = state.current();
    let settings = config.server.clone();
    let prepared = match set.prepare(&settings.binds, settings.listen_queue, settings.ipv6) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{kind} restart refused: {e}; the running configuration keeps serving");
            say(&format!("reload refused: {e}"));
            return;
        }
    };
    let id = current.id + 1;
    let generation = match Generation::build(id, config, Some(&current)) {
        Ok(g) => g,
        Err(e) => {
            tracing::error!("{kind} restart refused: {e}; the running configuration keeps serving");
            say(&format!("reload refused: {e}"));
            return;
        }
    };
    drop(current);
    announce(&prepared);
    set.commit(prepared, &settings.binds, state);
    state.live.store(Arc::new(generation));
    if hard {
        let _ = state.hard_close.send(id);
    }
    say(&format!("reloaded ({kind}, generation {id})"));
    tracing::info!(
        generation = id,
        connections = state.connections.len(),
        "{kind} restart: generation {id} is live"
    );
}

/// The configured identity of a listener: a reload keeps the socket of a listener whose
/// interface and port did not change.
type ListenKey = (Option<IpAddr>, u16);

struct Running {
    key: ListenKey,
    bind_id: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The listeners being accepted on, reconciled by address on reload.
#[derive(Default)]
struct ListenerSet {
    running: Vec<Running>,
}

impl ListenerSet {
    fn start(&mut self, listeners: Vec<Listener>, state: &Arc<State>) {
        for l in listeners {
            let key = (l.bind.interface, l.bind.port);
            let bind_id = Arc::new(AtomicU64::new(l.bind.id));
            let (stop, stop_rx) = watch::channel(false);
            let task = tokio::spawn(net::accept_loop(l, bind_id.clone(), state.clone(), stop_rx));
            self.running.push(Running {
                key,
                bind_id,
                stop,
                task,
            });
        }
    }

    /// Binds the listeners `binds` has and this set has not; nothing changes on error
    /// (the new sockets are closed when dropped).
    fn prepare(
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
        net::bind_all(&new, backlog, ipv6)
    }

    /// Starts the prepared listeners, renumbers kept ones, and stops the ones `binds` no
    /// longer has (their open connections are served to the end).
    fn commit(&mut self, prepared: Vec<Listener>, binds: &[config::Bind], state: &Arc<State>) {
        self.running.retain(
            |r| match binds.iter().find(|b| (b.interface, b.port) == r.key) {
                Some(b) => {
                    r.bind_id.store(b.id, Ordering::Relaxed);
                    true
                }
                None => {
                    let _ = r.stop.send(true);
                    tracing::info!(port = r.key.1, "listener removed: no longer accepting");
                    false
                }
            },
        );
        self.start(prepared, state);
    }

    async fn stop_all(self) {
        for r in &self.running {
            let _ = r.stop.send(true);
        }
        for r in self.running {
            let _ = r.task.await;
        }
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
