//! Baton: a web server that reads Cherokee's `cherokee.conf` and never drops a connection
//! when its configuration changes.
//!
//! Data flows one way: configuration text -> key tree (`baton_conf`) -> typed model
//! ([`config`]) -> compiled generation ([`snapshot`]) -> request pipeline ([`pipeline`]).

pub mod admin;
pub mod allocator;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod control;
pub mod edit;
pub mod example;
pub mod fswatch;
pub mod handlers;
pub mod http;
pub mod http1;
pub mod http2;
pub mod in_flight;
pub mod lifecycle;
pub mod log;
pub mod maintenance;
pub mod net;
pub mod pathwatch;
pub mod pipeline;
pub mod privileges;
pub mod rules;
pub mod snapshot;
pub mod stats;
pub mod tls;
pub mod tls_conn;
pub mod tls_http1;
pub mod transform;
pub mod vhost;
