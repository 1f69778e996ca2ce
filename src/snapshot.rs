//! A generation: one configuration compiled for serving, immutable once built.
//!
//! Every request takes the live generation when it starts and keeps it to its end, so a
//! reload never changes the rules under a request in flight. Building one is pure apart
//! from opening log files, and happens aside: a reload swaps it in only once it is
//! complete.

use crate::config::{Config, LogFormatConfig, LogTarget};
use crate::log::{AccessFormat, AccessLogger, ErrorLog, SinkRegistry, Target, Template};
use crate::vhost::HostIndex;
use http::HeaderValue;

pub struct Generation {
    /// 1 for the configuration the server started with, then one more per applied reload.
    pub id: u64,
    pub config: Config,
    pub hosts: HostIndex,
    /// The `Server` header, per `server!server_tokens`.
    pub server_header: HeaderValue,
    /// The built-in error pages, which name `server_header`.
    pub error_pages: crate::handlers::error_page::Pages,
    /// Per virtual server (same index as `config.vservers`).
    pub access_logs: Vec<Option<AccessLogger>>,
    /// Some virtual server has an access log (a request without one takes no clock).
    pub logs_access: bool,
    pub error_logs: Vec<Option<ErrorLog>>,
    /// The open log files, handed to the next generation so a reload reuses them.
    pub sinks: SinkRegistry,
    /// The virtual servers' certificates, for handshakes on TLS listeners.
    pub tls: crate::tls::Certificates,
}

impl Generation {
    /// Compiles `config`. Log files already open in `previous` are reused, not reopened.
    /// Must run inside the tokio runtime (log writers are tasks).
    pub fn build(
        id: u64,
        config: Config,
        previous: Option<&Generation>,
    ) -> Result<Generation, String> {
        let mut sinks = match previous {
            Some(p) => SinkRegistry::carry_over(&p.sinks),
            None => SinkRegistry::default(),
        };
        let mut access_logs = Vec::with_capacity(config.vservers.len());
        let mut error_logs = Vec::with_capacity(config.vservers.len());
        for v in &config.vservers {
            let access = match &v.access_log {
                Some(a) => {
                    let format = match &a.format {
                        LogFormatConfig::Combined => AccessFormat::Combined,
                        LogFormatConfig::Ncsa => AccessFormat::Ncsa,
                        LogFormatConfig::Custom(t) => AccessFormat::Custom(
                            Template::parse(t)
                                .map_err(|e| format!("vserver {}: log template: {e}", v.nick))?,
                        ),
                    };
                    let sink = sinks
                        .get_or_open(target(&a.target), a.buffer_size)
                        .map_err(|e| {
                            format!(
                                "vserver {}: cannot open access log {:?}: {e}",
                                v.nick, a.target
                            )
                        })?;
                    Some(AccessLogger::new(format, sink))
                }
                None => None,
            };
            let error = match &v.error_log {
                Some(t) => {
                    let sink = sinks.get_or_open(target(t), 4096).map_err(|e| {
                        format!("vserver {}: cannot open error log {t:?}: {e}", v.nick)
                    })?;
                    Some(ErrorLog::new(sink))
                }
                None => None,
            };
            access_logs.push(access);
            error_logs.push(error);
        }
        let tls = crate::tls::Certificates::build(&config.vservers, config.default_vserver)?;
        let hosts = HostIndex::new(&config.vservers, config.default_vserver);
        let server_header = HeaderValue::from_str(&config.server.server_tokens.header())
            .unwrap_or_else(|_| HeaderValue::from_static("Baton"));
        Ok(Generation {
            id,
            config,
            hosts,
            error_pages: crate::handlers::error_page::Pages::new(server_header.clone()),
            server_header,
            logs_access: access_logs.iter().any(Option::is_some),
            access_logs,
            error_logs,
            sinks,
            tls,
        })
    }
}

fn target(t: &LogTarget) -> Target {
    match t {
        LogTarget::File(p) => Target::File(p.clone()),
        LogTarget::Stderr => Target::Stderr,
        LogTarget::Syslog => Target::Syslog,
        LogTarget::Exec(c) => Target::Exec(c.clone()),
    }
}
