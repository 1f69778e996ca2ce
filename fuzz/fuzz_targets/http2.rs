//! Fuzzes Baton's own HTTP/2 server side (src/http2), with the input used two ways.
//!
//! As a header block: decoded by one HPACK decoder twice in a row (the second pass starts
//! from the dynamic table the first left), each pass's fields collected into a request
//! head. A head that is a request has a target the pipeline can take (origin form, `*`
//! for OPTIONS, or CONNECT's authority form: RFC 9113 §8.3.1, §8.5) and no upper-case
//! field name.
//!
//! As what a client sends on a whole connection, over an in-memory pipe, to a server with
//! a small document root (`index.html`, a 100 KiB file, gzip allowed, a redirection
//! rule): the rest of the input after its first byte, whose bit 0 (clear) puts the client
//! preface and an empty SETTINGS before it. The client writes it and closes its side,
//! reading everything the server sends meanwhile; bit 1 of the first byte (set) makes it
//! wait, before closing, until the server has nothing more to do (the paused clock moves
//! on only then), so that the requests are answered as far as the client's windows let
//! them rather than cut short by the end of the input. The connection never panics, and
//! ends: a client gone must end it, and on the runtime's paused clock a server still
//! going a minute later is a failure, not a hang. The pipe cannot fail, so neither may the
//! connection.
#![no_main]

use baton::http::target::Form;
use baton::http2::hpack::Decoder;
use baton::http2::request::{Collect, Head};
use baton::http2::Connection;
use baton::lifecycle::State;
use baton::pipeline::ConnInfo;
use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a client must send first (RFC 9113 §3.4), then an empty SETTINGS frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// How long (on the paused clock) a connection may last in all; its client closes after at
/// most [`QUIET`].
const LIMIT: Duration = Duration::from_secs(60);

/// How long (on the paused clock) a waiting client waits before closing.
const QUIET: Duration = Duration::from_secs(1);

/// The size of `big.bin`: more than a stream's default window (65,535) and the server's
/// output high-water mark.
const BIG: usize = 100 * 1024;

fuzz_target!(|data: &[u8]| {
    header_block(data);
    if let Some((&first, rest)) = data.split_first() {
        connection(first & 1 == 0, first & 2 != 0, rest);
    }
});

/// The input as one header block, decoded twice by the same decoder.
fn header_block(data: &[u8]) {
    let mut decoder = Decoder::new();
    for _ in 0..2 {
        let mut collect = Collect::new();
        if decoder.decode(data, |n, v| collect.field(n, v)).is_err() {
            // A connection error: the connection (and its decoder) is gone.
            return;
        }
        if let Head::Request { parts, .. } = collect.finish() {
            let target = &parts.target;
            let origin = target.form() == Form::Origin && target.path().starts_with('/');
            let asterisk = parts.method == http::Method::OPTIONS
                && target.form() == Form::Asterisk
                && target.path() == "*"
                && target.query().is_none();
            let authority = parts.method == http::Method::CONNECT
                && target.form() == Form::Authority
                && target.host().is_some()
                && target.path_and_query().is_empty();
            assert!(
                origin || asterisk || authority,
                "{} request with the target {target:?} (path {:?})",
                parts.method,
                target.path()
            );
            for name in parts.headers.keys() {
                assert!(
                    !name.as_str().bytes().any(|b| b.is_ascii_uppercase()),
                    "upper-case field name {name:?}"
                );
            }
        }
    }
}

/// The document root, made once per process.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("baton-fuzz-http2-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("document root");
        std::fs::write(
            root.join("index.html"),
            "<!DOCTYPE html>\n<title>Baton</title>\n<p>Hello over HTTP/2.</p>\n",
        )
        .expect("index.html");
        let big: Vec<u8> = (0..BIG).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(root.join("big.bin"), big).expect("big.bin");
        root
    })
}

/// The configuration: one virtual server on the document root, its files served with
/// gzip allowed, `/old/…` redirected internally to `/…`.
fn config_text() -> String {
    format!(
        "vserver!1!nick = default
vserver!1!document_root = {root}
vserver!1!rule!20!match = directory
vserver!1!rule!20!match!directory = /old
vserver!1!rule!20!handler = redir
vserver!1!rule!20!handler!rewrite!1!show = 0
vserver!1!rule!20!handler!rewrite!1!regex = ^/old/(.*)$
vserver!1!rule!20!handler!rewrite!1!substring = /$1
vserver!1!rule!1!match = default
vserver!1!rule!1!handler = common
vserver!1!rule!1!encoder!gzip = allow
",
        root = root().display()
    )
}

/// The runtime every connection runs on (current-thread, its clock paused), and the
/// server's state, made once: building a runtime and a generation for each input would
/// take most of the time of a run.
fn server() -> &'static (tokio::runtime::Runtime, Arc<State>) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, Arc<State>)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        // Inside the runtime, as the generation's log writers would be its tasks.
        let state = runtime.block_on(async { state() });
        (runtime, state)
    })
}

/// The server's state.
fn state() -> Arc<State> {
    let loaded = baton::config::load_str("fuzz-http2.conf", &config_text());
    let errors: Vec<_> = loaded.errors().map(|d| format!("{d:?}")).collect();
    let config = loaded
        .config
        .unwrap_or_else(|| panic!("the fuzz configuration is invalid: {errors:?}"));
    let generation =
        baton::snapshot::Generation::build(1, config, None).expect("the generation builds");
    State::new(generation)
}

/// Serves `input` (after the preface when `preface`) on one connection to its end, the
/// client closing at once or, when `wait`, once the server is quiet.
fn connection(preface: bool, wait: bool, input: &[u8]) {
    let mut bytes = Vec::with_capacity(PREFACE.len() + input.len());
    if preface {
        bytes.extend_from_slice(PREFACE);
    }
    bytes.extend_from_slice(input);

    let (runtime, state) = server();
    runtime.block_on(async move {
        let state = state.clone();
        let loopback = Ipv4Addr::LOCALHOST;
        let (remote, local) = (
            SocketAddr::from((loopback, 40000)),
            SocketAddr::from((loopback, 443)),
        );
        let info = Arc::new(ConnInfo::new(remote, local, 1, true, &state));
        let counts = Arc::new(baton::in_flight::Streams::default());
        // A small pipe, so that both sides' writes are cut and wait for the other's reads.
        let (client, server) = tokio::io::duplex(8 * 1024);
        let conn = Connection::new(server, info, state, counts);
        let (mut from_server, mut to_server) = tokio::io::split(client);

        // The connection is owned by this future: dropped (its end of the pipe closed)
        // as soon as it completes.
        let serve = async move { conn.await };
        let write = async move {
            // The server may close before it has read everything: a broken pipe then.
            let _ = to_server.write_all(&bytes).await;
            if wait {
                // The paused clock auto-advances only when every future here waits (and
                // no file read is in flight): the server has done what it could.
                tokio::time::sleep(QUIET).await;
            }
            let _ = to_server.shutdown().await;
            to_server
        };
        let read = async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(1..) = from_server.read(&mut buf).await {}
        };
        let served = tokio::time::timeout(LIMIT, async { tokio::join!(serve, write, read) });
        match served.await {
            Ok((result, _, _)) => {
                if let Err(e) = result {
                    panic!("the connection failed on an in-memory pipe: {e}");
                }
            }
            Err(_) => panic!(
                "the HTTP/2 connection did not end within {LIMIT:?} (paused clock) though the client closed its side"
            ),
        }
    });
}
