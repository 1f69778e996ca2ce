//! Applying a configuration to the running server: read and validate, bind new
//! listeners, build the generation aside, swap. Any failure before the swap leaves the
//! running generation untouched and is reported (file:line and key) to whoever asked.

use super::listeners::ListenerSet;
use super::{override_port, say, RunOptions, State};
use crate::config::{self, Severity};
use crate::control::Reply;
use crate::snapshot::Generation;
use std::sync::Arc;

pub async fn reload(
    state: &Arc<State>,
    set: &mut ListenerSet,
    opts: &RunOptions,
    hard: bool,
) -> Reply {
    let kind = if hard { "hard" } else { "graceful" };
    let refuse = |message: String, errors: Vec<String>| {
        tracing::error!(
            "{kind} restart refused: {message}; generation {} keeps serving",
            state.current().id
        );
        say(&format!("reload refused: {message}"));
        let mut reply = Reply::failed(message);
        reply.errors = errors;
        reply.generation = Some(state.current().id);
        reply
    };
    let Some(path) = opts.config_path.clone() else {
        return refuse(
            "this server runs without a configuration file (embedded default or -r); there is nothing to read again".into(),
            Vec::new(),
        );
    };
    let loaded = match tokio::task::spawn_blocking(move || config::load_file(&path)).await {
        Ok(l) => l,
        Err(e) => return refuse(format!("the configuration reader failed: {e}"), Vec::new()),
    };
    let mut config = match loaded.into_result() {
        Ok((config, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            config
        }
        Err(diagnostics) => {
            let errors: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| d.to_string())
                .collect();
            for e in &errors {
                tracing::error!("{e}");
            }
            let first = errors.first().cloned().unwrap_or_default();
            return refuse(first, errors);
        }
    };
    if let Some(port) = opts.port_override {
        override_port(&mut config, port);
    }
    let current = state.current();
    let settings = config.server.clone();
    let prepared = match set.prepare(&settings.binds, settings.listen_queue, settings.ipv6) {
        Ok(p) => p,
        Err(e) => return refuse(e.to_string(), Vec::new()),
    };
    let id = current.id + 1;
    // Built on a blocking thread, like the reading above: with a large configuration it
    // takes a while, and the runtime's threads (the only one, with `thread_number = 1`)
    // keep serving meanwhile.
    let built =
        tokio::task::spawn_blocking(move || Generation::build(id, config, Some(&current))).await;
    let generation = match built {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => return refuse(e, Vec::new()),
        Err(e) => {
            return refuse(
                format!("building the new generation failed: {e}"),
                Vec::new(),
            )
        }
    };
    super::announce(&prepared);
    set.commit(prepared, &settings.binds, state).await;
    state.swap(generation);
    if hard {
        state.lifecycle.send_modify(|l| l.hard_close = id);
    } else if let Some(deadline) = settings.drain_timeout {
        // Requests still on an older generation when the deadline passes are cut.
        let lifecycle = state.lifecycle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            let sent = lifecycle.send_if_modified(|l| {
                let newer = l.drain_close < id;
                if newer {
                    l.drain_close = id;
                }
                newer
            });
            if sent {
                tracing::info!(
                    generation = id,
                    "drain deadline: requests still on older generations are cut"
                );
                say(&format!("drain deadline passed (generation {id})"));
            }
        });
    }
    let older: usize = state
        .stats
        .connections_by_generation()
        .range(..id)
        .map(|(_, n)| n)
        .sum();
    tracing::info!(
        generation = id,
        connections_accepted_before = older,
        "{kind} restart: generation {id} is live"
    );
    say(&format!("reloaded ({kind}, generation {id})"));
    let mut reply = Reply::ok(format!("{kind} restart: generation {id} is live"));
    reply.generation = Some(id);
    reply
}
