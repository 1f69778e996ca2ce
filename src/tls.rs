//! TLS listeners (`server!bind!N!tls = 1`): each generation's certificates, and the
//! handshake of a connection.
//!
//! Every virtual server with a certificate gets a rustls `ServerConfig` of its own when its
//! generation is built. A handshake reads the client's hello first, selects the virtual
//! server for the name it asks for (SNI) exactly as a request's `Host` is selected
//! (domains, then nicknames, then `default`), and answers with that virtual server's
//! certificate, or the default virtual server's when it has none or the client named no
//! host. The configuration is read from the live generation at each handshake: a reload
//! that renews a certificate is used by the next handshake, while connections already
//! open keep the session they negotiated.
//!
//! ALPN offers `h2` and `http/1.1`; [`crate::tls_conn`] serves what was agreed.

use crate::pipeline::ConnInfo;
use crate::snapshot::Generation;
use crate::vhost::Visitor;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, StoresServerSessions};
use rustls::sign::CertifiedKey;
use std::io;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// The cryptography behind every TLS configuration: rustls on ring, with rustls's safe
/// defaults (TLS 1.2 and 1.3, AEAD cipher suites with forward secrecy).
///
/// rustls marks ring's provider deprecated because it lacks post-quantum key exchange
/// (X25519MLKEM768), which only its aws-lc-rs provider has; that provider builds a large
/// C library (minutes of CI per clean build). ring is kept until post-quantum key exchange
/// is wanted enough to pay for it; docs/configuration.md says so.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Sessions a client can resume, shared by every generation's configurations so that a
/// reload does not make every returning client negotiate a full handshake again.
fn session_cache() -> Arc<dyn StoresServerSessions> {
    static CACHE: OnceLock<Arc<dyn StoresServerSessions>> = OnceLock::new();
    CACHE
        .get_or_init(|| rustls::server::ServerSessionMemoryCache::new(16 * 1024))
        .clone()
}

/// One certificate, whatever the client asks (the selection happened before the
/// configuration was chosen).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The TLS configurations of one generation, by virtual server.
#[derive(Default)]
pub struct Certificates {
    /// Same index as `config.vservers`; `None` for a virtual server without a
    /// certificate.
    by_vserver: Vec<Option<Arc<ServerConfig>>>,
    /// The default virtual server's, which the configuration requires when a TLS
    /// listener exists.
    default: Option<Arc<ServerConfig>>,
}

impl Certificates {
    /// A configuration for every virtual server that has a certificate.
    pub fn build(
        vservers: &[crate::config::VServer],
        default: usize,
    ) -> Result<Certificates, String> {
        let mut by_vserver = Vec::with_capacity(vservers.len());
        for v in vservers {
            let config = match &v.tls {
                Some(identity) => Some(
                    server_config(identity.clone())
                        .map_err(|e| format!("vserver {}: TLS: {e}", v.nick))?,
                ),
                None => None,
            };
            by_vserver.push(config);
        }
        let default = by_vserver.get(default).cloned().flatten();
        Ok(Certificates {
            by_vserver,
            default,
        })
    }

    /// The configuration for a handshake that asks for `server_name`, or `None` when no
    /// certificate can answer it.
    fn for_hello(
        &self,
        generation: &Generation,
        server_name: Option<&str>,
        info: &ConnInfo,
    ) -> Option<Arc<ServerConfig>> {
        // The name as a request's Host is read (lower case, no trailing dot).
        let Some(name) = server_name.and_then(crate::pipeline::clean_host) else {
            return self.default.clone();
        };
        let no_fields = crate::http::fields::Fields::new();
        let selected = generation.hosts.select(
            &generation.config.vservers,
            Some(&name),
            info.local.ip(),
            Visitor {
                remote: info.remote.ip(),
                headers: &no_fields,
            },
        );
        self.by_vserver
            .get(selected.index)
            .cloned()
            .flatten()
            .or_else(|| self.default.clone())
    }
}

fn server_config(identity: Arc<CertifiedKey>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(identity)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = session_cache();
    Ok(Arc::new(config))
}

/// The handshake of a connection accepted on a TLS listener, with the certificate the
/// live generation has for the name the client asks for.
pub async fn handshake(
    stream: TcpStream,
    generation: &Generation,
    info: &ConnInfo,
) -> io::Result<TlsStream<TcpStream>> {
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = acceptor.await?;
    let hello = start.client_hello();
    let config = generation
        .tls
        .for_hello(generation, hello.server_name(), info)
        .ok_or_else(|| io::Error::other("no certificate for this listener"))?;
    start.into_stream(config).await
}
