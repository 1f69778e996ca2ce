//! The command line: Cherokee's flags (`-C`, `-p`, `-r`, `-t`, `-i`, `-V`, `-d`).

use crate::config::{self, Config, LoadResult};
use crate::example;
use crate::lifecycle::{self, ReadyCallback, RunOptions};
use clap::Parser;
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "baton",
    version,
    about = "A web server that reads Cherokee's cherokee.conf and never drops a connection",
    long_about = "Without arguments, Baton serves its bundled example site on http://127.0.0.1:8080/ \
                  from an embedded default configuration."
)]
pub struct Args {
    /// Configuration file (cherokee.conf format).
    #[arg(short = 'C', long = "config", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Listen on this TCP port instead of the configured ones (0: any free port).
    #[arg(short = 'p', long = "port", value_name = "N")]
    pub port: Option<u16>,
    /// Serve this directory with default settings; the configuration file is ignored.
    #[arg(short = 'r', long = "documentroot", value_name = "DIR")]
    pub document_root: Option<PathBuf>,
    /// Check the configuration, print every problem, and exit (non-zero on errors).
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// Print information about this build of the server and exit.
    #[arg(short = 'i', long = "info")]
    pub info: bool,
    /// Run in the background once the server is ready.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Commands for a running server, sent through its control socket.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Show the running server: generation, uptime, listeners, connections, requests.
    Status(ControlArgs),
    /// Apply the configuration file again (graceful restart, or --hard).
    Reload {
        #[command(flatten)]
        control: ControlArgs,
        /// Hard restart: close every connection accepted before the new configuration.
        #[arg(long)]
        hard: bool,
    },
    /// Stop the server, letting requests in flight finish (or --now).
    Stop {
        #[command(flatten)]
        control: ControlArgs,
        /// Close every connection at once.
        #[arg(long)]
        now: bool,
    },
    /// Reopen the log files (after rotating them).
    ReopenLogs(ControlArgs),
    /// Replace the running process by the binary now installed, without refusing a
    /// connection: the new process takes the listening sockets over, the old one drains.
    Upgrade(ControlArgs),
    /// Run the web administration (UI and JSON API) for a configuration file.
    Admin {
        /// The configuration file to administer.
        #[arg(short = 'C', long = "config", value_name = "PATH")]
        config: Option<PathBuf>,
        /// Listen on this address instead of 127.0.0.1:9090 (a warning is printed unless
        /// it is a loopback address).
        #[arg(short = 'b', long = "bind", value_name = "ADDR")]
        bind: Option<std::net::SocketAddr>,
    },
    /// Read or change single keys of the configuration file.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// List, show, add, clone, move or remove virtual servers.
    #[command(subcommand)]
    Vserver(VserverCmd),
    /// List, add, move or remove the behavior rules of a virtual server.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Put a virtual server into maintenance (a copycat answers its hosts) and back.
    #[command(subcommand)]
    Maintenance(MaintenanceCmd),
}

/// Which configuration file to read.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReadArgs {
    /// The configuration file.
    #[arg(short = 'C', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What to do once an edit is saved (the SAVE dialog's choice).
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApplyMode {
    /// Ask the running server for a graceful restart: requests in flight finish.
    #[default]
    Graceful,
    /// Ask the running server for a hard restart: older connections are closed.
    Hard,
    /// Only save the file.
    #[value(name = "none")]
    SaveOnly,
}

/// How to make an edit.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EditArgs {
    /// The configuration file to edit.
    #[arg(short = 'C', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// After saving: graceful or hard restart of the running server, or none.
    #[arg(long, value_enum, default_value_t = ApplyMode::Graceful, value_name = "MODE")]
    pub apply: ApplyMode,
    /// Print the diff of the edit and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The server's control socket, when it cannot be found from the configuration.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum ConfigCmd {
    /// Print the value of KEY (or every key below it).
    Get {
        key: String,
        #[command(flatten)]
        args: ReadArgs,
    },
    /// Set KEY to VALUE.
    Set {
        key: String,
        value: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Remove KEY and every key below it.
    Unset {
        key: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// List the saved earlier versions of the file.
    History(ReadArgs),
    /// Put back an earlier version (a name printed by `baton config history`).
    Restore {
        version: String,
        #[command(flatten)]
        edit: EditArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum VserverCmd {
    /// Every virtual server in priority order (the first whose hosts match answers).
    List(ReadArgs),
    /// One virtual server with its rules.
    Show {
        nick: String,
        #[command(flatten)]
        args: ReadArgs,
    },
    /// A new virtual server, placed above every other, serving DIR with List & Send.
    Add {
        nick: String,
        #[arg(long, value_name = "DIR")]
        document_root: String,
        /// A host name or wildcard it answers (repeat for more).
        #[arg(long = "domain", value_name = "NAME")]
        domains: Vec<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// A copy of SRC with every key, named NEW, placed directly above SRC.
    Clone {
        src: String,
        new: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Reorder: place NICK directly above or below OTHER.
    #[command(group(clap::ArgGroup::new("place").required(true).args(["above", "below"])))]
    Move {
        nick: String,
        #[arg(long, value_name = "OTHER")]
        above: Option<String>,
        #[arg(long, value_name = "OTHER")]
        below: Option<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Remove a virtual server (not `default`).
    Remove {
        nick: String,
        #[command(flatten)]
        edit: EditArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum RuleCmd {
    /// The rules of a virtual server, highest priority (evaluated first) first.
    List {
        nick: String,
        #[command(flatten)]
        args: ReadArgs,
    },
    /// A new rule.
    Add {
        nick: String,
        /// The match type: default, directory, extensions, request, header, exists…
        #[arg(long = "match", value_name = "TYPE")]
        match_type: String,
        /// A `match!K = V` key of the rule (repeat for more).
        #[arg(long = "match-key", value_name = "K=V")]
        match_keys: Vec<String>,
        /// The handler: common, file, dirlist, redir, custom_error…
        #[arg(long, value_name = "H")]
        handler: String,
        /// A `handler!K = V` key (repeat for more).
        #[arg(long = "handler-key", value_name = "K=V")]
        handler_keys: Vec<String>,
        /// Any other key of the rule, e.g. `document_root=/srv` or
        /// `header_op!1!header=X-A` (repeat for more).
        #[arg(long = "key", value_name = "K=V")]
        keys: Vec<String>,
        /// The rule's number (default: 100 above the highest).
        #[arg(long, value_name = "N")]
        priority: Option<u64>,
        /// 0: a matching rule lets evaluation go on.
        #[arg(long = "final", value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
        is_final: Option<u8>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Renumber rule PRIORITY to N.
    Move {
        nick: String,
        priority: u64,
        #[arg(long, value_name = "N")]
        to: u64,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Remove rule PRIORITY.
    Remove {
        nick: String,
        priority: u64,
        #[command(flatten)]
        edit: EditArgs,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum MaintenanceCmd {
    /// Put VSERVER into maintenance: a copycat placed above it answers its hosts.
    On {
        vserver: String,
        /// The status every URL gets (default 503).
        #[arg(long, value_name = "CODE", conflicts_with = "page",
              value_parser = clap::value_parser!(u16).range(400..=599))]
        status: Option<u16>,
        /// Serve DIR as the maintenance page (at /maintenance/, for every URL) instead.
        #[arg(long, value_name = "DIR")]
        page: Option<PathBuf>,
        /// Seconds sent in Retry-After (default 300).
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        retry_after: u64,
        /// Clients from this address or subnet reach the live site (repeat for more).
        #[arg(long = "allow-from", value_name = "CIDR")]
        allow_from: Vec<String>,
        /// Requests carrying this cookie reach the live site.
        #[arg(long = "allow-cookie", value_name = "NAME=VALUE")]
        allow_cookie: Option<String>,
        /// An extra host name the live site answers (and the copycat does not).
        #[arg(long = "allow-host", value_name = "NAME")]
        allow_host: Vec<String>,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// Take VSERVER out of maintenance: remove its copycat and the hosts it added.
    Off {
        vserver: String,
        #[command(flatten)]
        edit: EditArgs,
    },
    /// The virtual servers in maintenance.
    Status(ReadArgs),
}

/// How to find the running server.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ControlArgs {
    /// The server's configuration file (its control socket is found from it).
    #[arg(short = 'C', long = "config", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The control socket, when it cannot be found from the configuration.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Environment variable through which a detached child reports readiness to its parent.
const READY_FD_ENV: &str = "BATON_READY_FD";

pub fn main() -> i32 {
    let args = Args::parse();
    init_tracing();
    if let Some(Cmd::Admin { config, bind }) = &args.command {
        let Some(path) = config.clone().or_else(|| args.config.clone()) else {
            eprintln!("baton admin: give the configuration file to administer with -C FILE");
            return 2;
        };
        return crate::admin::run(path, *bind);
    }
    if let Some(cmd) = &args.command {
        return crate::command::run(cmd, args.config.as_deref());
    }
    if args.info {
        print_info();
        return 0;
    }
    let (name, loaded) = match load(&args) {
        Ok(l) => l,
        Err(msg) => {
            eprintln!("baton: {msg}");
            return 1;
        }
    };
    let errors = loaded.errors().count();
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    if args.test {
        let warnings = loaded.warnings().count();
        // The process ends here: freeing a big model (a million rules) piece by piece
        // would only delay the answer.
        std::mem::forget(loaded);
        if errors == 0 {
            println!(
                "{name}: configuration OK ({warnings} warning{})",
                if warnings == 1 { "" } else { "s" }
            );
            return 0;
        }
        eprintln!(
            "{name}: {errors} error{} found",
            if errors == 1 { "" } else { "s" }
        );
        return 1;
    }
    let Ok((mut config, _)) = loaded.into_result() else {
        eprintln!(
            "baton: {name}: {errors} error{}; not starting",
            if errors == 1 { "" } else { "s" }
        );
        return 1;
    };
    if let Some(port) = args.port {
        lifecycle::override_port(&mut config, port);
    }
    if args.detach {
        return detach();
    }
    let opts = RunOptions {
        on_ready: ready_reporter(),
        config_path: if args.document_root.is_some() {
            None
        } else {
            args.config.clone()
        },
        port_override: args.port,
    };
    run(config, opts)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// The configuration to run, and a name for it in messages.
fn load(args: &Args) -> Result<(String, LoadResult), String> {
    if let Some(root) = &args.document_root {
        if !root.is_dir() {
            return Err(format!("{} is not a directory", root.display()));
        }
        let root = std::fs::canonicalize(root).map_err(|e| format!("{}: {e}", root.display()))?;
        let text = example::document_root_config(&root, args.port.unwrap_or(8080));
        return Ok(("-r".into(), config::load_str("<document root>", &text)));
    }
    if let Some(path) = &args.config {
        return Ok((path.display().to_string(), config::load_file(path)));
    }
    let dir = example::site_dir();
    example::unpack(&dir)
        .map_err(|e| format!("cannot unpack the example site in {}: {e}", dir.display()))?;
    let text = example::config_for(&dir);
    Ok((
        "<embedded default>".into(),
        config::load_str("<embedded default>", &text),
    ))
}

fn run(config: Config, opts: RunOptions) -> i32 {
    let threads = config
        .server
        .thread_number
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        // File reads and directory listings run on blocking threads; a bound keeps a
        // burst of them from costing a thread (and its memory) each.
        .max_blocking_threads(16 * threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("baton: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(lifecycle::run(config, opts))
}

/// In a detached child: the pipe to tell the parent we are ready (or why we are not).
fn ready_reporter() -> Option<ReadyCallback> {
    let fd: i32 = std::env::var(READY_FD_ENV).ok()?.parse().ok()?;
    std::env::remove_var(READY_FD_ENV);
    Some(Box::new(move |result| {
        // SAFETY: the parent passed us this descriptor for this single message; we own it.
        let mut pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let msg = match result {
            Ok(()) => "ok\n".to_string(),
            Err(e) => format!("{e}\n"),
        };
        let _ = pipe.write_all(msg.as_bytes());
    }))
}

/// `-d`: start the same command again without `-d`, in a new session, and wait until it
/// reports that it is serving (or why it could not).
fn detach() -> i32 {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        eprintln!(
            "baton: cannot create a pipe: {}",
            std::io::Error::last_os_error()
        );
        return 1;
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // SAFETY: read_fd is ours; the child must not inherit it.
    unsafe { libc::fcntl(read_fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("baton: cannot find my own executable: {e}");
            return 1;
        }
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "-d" && a != "--detach")
        .collect();
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .env(READY_FD_ENV, write_fd.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe, as pre_exec requires.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    // SAFETY: our copy of the write end is no longer needed.
    unsafe { libc::close(write_fd) };
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("baton: cannot start in the background: {e}");
            return 1;
        }
    };
    // SAFETY: read_fd is ours and closed by File's drop.
    let mut pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(read_fd) };
    let mut answer = String::new();
    let _ = pipe.read_to_string(&mut answer);
    match answer.trim() {
        "ok" => {
            println!("baton: running in the background (pid {})", child.id());
            0
        }
        "" => {
            eprintln!("baton: the background server exited before it was ready");
            1
        }
        err => {
            eprintln!("baton: {err}");
            1
        }
    }
}

fn print_info() {
    println!("Baton {}", env!("CARGO_PKG_VERSION"));
    println!("  configuration format: cherokee.conf (Cherokee 1.x key tree)");
    println!("  handlers:  common, file, dirlist, redir, custom_error, empty_gif, drop");
    println!("  rules:     default, directory, extensions, request, header, exists, method,");
    println!("             fullpath, from, url_arg, bind, tls, and, or, not");
    println!("  encoders:  gzip, deflate");
    println!("  loggers:   combined, ncsa, custom (file, stderr, syslog, exec)");
    println!("  protocols: HTTP/1.0, HTTP/1.1; on TLS listeners (rustls: TLS 1.2, 1.3)");
    println!("             HTTP/2 and HTTP/1.1 by ALPN, certificates by SNI");
    println!("  example site: {}", example::site_dir().display());
}
