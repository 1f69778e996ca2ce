//! `baton admin`: the web administration (JSON API and the UI served from assets inside
//! the binary). It edits the configuration file (through `crate::edit`) and asks the
//! running server to apply it through the control socket; it never touches the server's
//! memory. It listens on loopback unless told otherwise.

mod api;
mod auth;
mod edits;
mod ui;

use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The OpenAPI description of the API.
pub const OPENAPI: &str = include_str!("openapi.json");

pub struct Admin {
    pub config_path: PathBuf,
    pub socket: PathBuf,
    password: String,
    sessions: auth::Sessions,
    throttle: auth::Throttle,
    /// Saves are made one at a time (ETag check and write together).
    save_lock: Mutex<()>,
}

pub fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/api/login", post(api::login))
        .route("/api/logout", post(api::logout))
        .route("/api/session", get(api::session))
        .route("/api/status", get(api::status))
        .route("/api/config", get(api::config))
        .route("/api/config/document", get(api::document))
        .route("/api/preview", post(api::preview))
        .route("/api/save", post(api::save))
        .route("/api/apply", post(api::apply_saved))
        .route("/api/diff/running", get(api::running_diff))
        .route("/api/history", get(api::history))
        .route("/api/history/{id}", get(api::history_version))
        .route("/api/history/{id}/rollback", post(api::rollback))
        .route("/api/openapi.json", get(api::openapi))
        .merge(ui::routes())
        .with_state(admin)
}

/// Runs the admin until interrupted. Returns the exit status.
pub fn run(config_path: PathBuf, bind: Option<SocketAddr>) -> i32 {
    let loaded = crate::config::load_file(&config_path);
    let socket = match &loaded.config {
        Some(c) => c.server.control_socket_path(),
        None => {
            for d in loaded.errors() {
                eprintln!("{d}");
            }
            eprintln!(
                "baton admin: {} has errors; fix them (or edit the file) before administering it",
                config_path.display()
            );
            return 1;
        }
    };
    let addr = bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9090)));
    if !addr.ip().is_loopback() {
        eprintln!(
            "baton admin: WARNING: listening on {addr}, reachable from other machines; anyone who learns the password can reconfigure the server"
        );
    }
    let admin = Arc::new(Admin {
        config_path,
        socket,
        password: auth::new_password(),
        sessions: auth::Sessions::default(),
        throttle: auth::Throttle::default(),
        save_lock: Mutex::new(()),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("baton admin: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("baton admin: cannot listen on {addr}: {e}");
                return 1;
            }
        };
        let local = listener.local_addr().unwrap_or(addr);
        println!("baton admin: http://{local}/");
        println!("baton admin: user: {}", auth::USER);
        println!("baton admin: one-time password: {}", admin.password);
        println!("baton admin: editing {}", admin.config_path.display());
        let app = router(admin).into_make_service_with_connect_info::<SocketAddr>();
        let shutdown = async {
            let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            match term {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        match axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("baton admin: {e}");
                1
            }
        }
    })
}
