//! TLS set-up shared by the tests that run baton with a TLS listener (tests/tls.rs,
//! tests/http2.rs): two virtual servers, each with a self-signed certificate made by rcgen
//! for the test, and a rustls client that trusts only the certificates it is given.
//!
//! Not every test binary uses all of this: `dead_code` is allowed for the whole common
//! module in `mod.rs`.

use super::{write_file, Server};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The content of `www/hello.txt`, the default virtual server's file.
pub const HELLO: &[u8] = b"hello over tls\n";

/// The TLS part of a configuration, to which a test adds its listeners and its own keys:
/// `server!tls`, the virtual server `example` (priority 20, `example.test`, document root
/// `%ROOT%/example`, certificate `example`) and the default one (document root
/// `%ROOT%/www`, certificate `default`), each serving its files with rule 1.
pub const VSERVERS: &str = "server!tls = libssl
vserver!20!nick = example
vserver!20!document_root = %ROOT%/example
vserver!20!match = wildcard
vserver!20!match!domain!1 = example.test
vserver!20!ssl_certificate_file = %ROOT%/example.crt
vserver!20!ssl_certificate_key_file = %ROOT%/example.key
vserver!20!rule!1!match = default
vserver!20!rule!1!handler = common
vserver!1!nick = default
vserver!1!document_root = %ROOT%/www
vserver!1!ssl_certificate_file = %ROOT%/default.crt
vserver!1!ssl_certificate_key_file = %ROOT%/default.key
vserver!1!rule!1!match = default
vserver!1!rule!1!handler = common
";

/// A self-signed certificate for `names`, written as `FILE.crt` and `FILE.key` under `dir`;
/// returns the certificate for a client to trust.
pub fn certificate(dir: &Path, file: &str, names: &[&str]) -> CertificateDer<'static> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).expect("certificate");
    write_file(dir, &format!("{file}.crt"), made.cert.pem());
    write_file(dir, &format!("{file}.key"), made.key_pair.serialize_pem());
    made.cert.der().clone()
}

/// The certificates of the two virtual servers of [`VSERVERS`].
pub struct Certs {
    /// `default`, for `localhost`.
    pub default: CertificateDer<'static>,
    /// `example`, for `example.test`.
    pub example: CertificateDer<'static>,
}

impl Certs {
    /// Both, for a client that trusts either virtual server.
    pub fn both(&self) -> Vec<CertificateDer<'static>> {
        vec![self.default.clone(), self.example.clone()]
    }
}

/// Starts baton on `config` (which includes [`VSERVERS`]) once the certificates
/// `default` and `example`, `www/hello.txt` ([`HELLO`]) and `example/hello.txt`
/// ("example site\n") are written and `prepare` has written the rest.
pub fn start(config: &str, prepare: impl FnOnce(&Path)) -> (Server, Certs) {
    let mut certs = None;
    let server = Server::start_with(config, |root| {
        let default = certificate(root, "default", &["localhost"]);
        let example = certificate(root, "example", &["example.test"]);
        write_file(root, "www/hello.txt", HELLO);
        write_file(root, "example/hello.txt", "example site\n");
        prepare(root);
        certs = Some(Certs { default, example });
    });
    (server, certs.expect("certificates made"))
}

/// A TLS connection to `addr` naming `sni`, trusting only `roots`, offering `alpn`.
pub async fn connect(
    addr: SocketAddr,
    sni: &str,
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("trust anchor");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(baton::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_string()).expect("server name");
    connector.connect(name, tcp).await
}
