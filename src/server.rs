//! The running server: the live generation, the listeners, and the process's life from
//! start to stop.

use crate::config::Config;
use crate::net::{self, Listener};
use crate::snapshot::Generation;
use arc_swap::ArcSwap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// State shared by every connection task.
pub struct State {
    live: ArcSwap<Generation>,
    pub started: Instant,
    /// Every connection task, so a stop can wait for them to finish.
    pub connections: TaskTracker,
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
    /// Called once every listener is bound and the server accepts, with a line per
    /// listener (for `-d`, which reports readiness to the parent process).
    pub on_ready: Option<ReadyCallback>,
}

/// Serves `config` until a stop signal. Returns the process exit status.
pub async fn run(config: Config, mut opts: RunOptions) -> i32 {
    let ready = |opts: &mut RunOptions, r: Result<(), String>| {
        if let Some(f) = opts.on_ready.take() {
            f(r);
        }
    };
    let settings = config.server.clone();
    let listeners = match net::bind_all(&settings.binds, settings.listen_queue, settings.ipv6) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("baton: {e}");
            ready(&mut opts, Err(e.to_string()));
            return 1;
        }
    };
    let generation = match Generation::build(1, config, None) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("baton: {e}");
            ready(&mut opts, Err(e));
            return 1;
        }
    };
    let pid_file = settings.pid_file.clone();
    if let Some(p) = &pid_file {
        if let Err(e) = write_pid_file(p) {
            let msg = format!("cannot write the pid file {}: {e}", p.display());
            eprintln!("baton: {msg}");
            ready(&mut opts, Err(msg));
            return 1;
        }
    }
    if let Err(e) = crate::privileges::drop_to(settings.user.as_deref(), settings.group.as_deref())
    {
        let msg = format!("cannot change user/group: {e}");
        eprintln!("baton: {msg}");
        ready(&mut opts, Err(msg));
        return 1;
    }

    let state = Arc::new(State {
        live: ArcSwap::from_pointee(generation),
        started: Instant::now(),
        connections: TaskTracker::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    announce(&listeners);
    let mut accept_tasks = Vec::new();
    for l in listeners {
        accept_tasks.push(tokio::spawn(net::accept_loop(
            l,
            state.clone(),
            stop_rx.clone(),
        )));
    }
    ready(&mut opts, Ok(()));

    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            eprintln!("baton: cannot install signal handlers");
            return 1;
        }
    };
    let graceful = tokio::select! {
        _ = term.recv() => true,
        _ = int.recv() => false,
    };
    let _ = stop_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    if graceful {
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

/// One line per listener on standard output, then `ready`: the operator sees where to
/// point a browser, and scripts (and the tests) learn the ports, even ones the kernel
/// chose for port 0.
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
    let _ = writeln!(out, "baton: ready (pid {})", std::process::id());
    let _ = out.flush();
}

fn write_pid_file(path: &PathBuf) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
    std::fs::rename(&tmp, path)
}
