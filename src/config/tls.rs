//! `vserver!N!ssl_*` keys: a virtual server's certificate for TLS listeners.
//!
//! The files are read and checked when the configuration is loaded (not at the first
//! handshake), so that a missing file, a key that is not the certificate's or a PEM file
//! with nothing usable in it is refused with its file:line and key like any other error,
//! and a reload with a broken certificate leaves the running one serving.

use super::reader::Reader;
use baton_conf::Node;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

/// Keys of a virtual server's TLS settings that tune OpenSSL in Cherokee and have no
/// meaning with rustls, which offers only its own safe protocol versions and cipher
/// suites (TLS 1.2 and 1.3, AEAD suites with forward secrecy), never compresses, and
/// prefers the server's suite order. Accepted without effect (docs/configuration.md).
pub const OPENSSL_TUNING: &[&str] = &[
    "ssl_ciphers",
    "ssl_dh_length",
    "ssl_cipher_server_preference",
    "ssl_compression",
    "ssl_verify_depth",
];

/// The certificate chain and private key of a virtual server, checked to belong
/// together.
pub type Identity = Arc<CertifiedKey>;

/// Reads `ssl_certificate_file` (PEM, the server's certificate first, then any
/// intermediates), `ssl_certificate_key_file` (PEM: PKCS#8, PKCS#1 or SEC1) and
/// `ssl_ca_list_file` (PEM certificates appended to the chain sent, which is what
/// Cherokee's documentation uses it for with chained certificates). `Ok(None)`: the virtual
/// server has no certificate. `Err`: an error was reported.
pub fn identity(r: &Reader<'_>, vserver: Node<'_>) -> Result<Option<Identity>, ()> {
    for name in OPENSSL_TUNING {
        r.ignore_tree(vserver.child(name));
    }
    if let Some(c) = r.child(vserver, "ssl_client_certs") {
        // Verifying clients' certificates is not implemented: accepting the key without
        // doing it would let in the clients it is meant to keep out.
        if c.value().map(str::trim).unwrap_or("skip") != "skip" {
            r.error(
                c,
                "client certificates (ssl_client_certs) are not supported; only 'skip' is accepted",
            );
            return Err(());
        }
    }
    let cert = r.child(vserver, "ssl_certificate_file");
    let key = r.child(vserver, "ssl_certificate_key_file");
    let ca_list = r.child(vserver, "ssl_ca_list_file");
    let (cert, key) = match (cert, key) {
        (None, None) => {
            if let Some(ca) = ca_list {
                r.warn(ca, "no ssl_certificate_file: the CA list is not used");
            }
            return Ok(None);
        }
        (Some(c), None) => {
            r.error(
                c,
                "a certificate needs its key: ssl_certificate_key_file is missing",
            );
            return Err(());
        }
        (None, Some(k)) => {
            r.error(
                k,
                "a key needs its certificate: ssl_certificate_file is missing",
            );
            return Err(());
        }
        (Some(c), Some(k)) => (c, k),
    };
    let mut chain = certificates(r, cert)?;
    if let Some(ca) = ca_list {
        chain.extend(certificates(r, ca)?);
    }
    let Some(key_path) = r.path(key) else {
        return Err(());
    };
    let private = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        r.error(key, format!("{}: {}", key_path.display(), describe(&e)));
    })?;
    CertifiedKey::from_der(chain, private, &crate::tls::provider())
        .map(|k| Some(Arc::new(k)))
        .map_err(|e| {
            r.error(
                key,
                format!(
                    "{}: not a key for the certificate in ssl_certificate_file ({e})",
                    key_path.display()
                ),
            );
        })
}

/// Every certificate of the PEM file `node` names; at least one.
fn certificates(r: &Reader<'_>, node: Node<'_>) -> Result<Vec<CertificateDer<'static>>, ()> {
    let path = r.path(node).ok_or(())?;
    let read = || -> Result<Vec<_>, rustls::pki_types::pem::Error> {
        CertificateDer::pem_file_iter(&path)?.collect()
    };
    match read() {
        Ok(chain) if chain.is_empty() => {
            r.error(
                node,
                format!("{}: no PEM certificate in it", path.display()),
            );
            Err(())
        }
        Ok(chain) => Ok(chain),
        Err(e) => {
            r.error(node, format!("{}: {}", path.display(), describe(&e)));
            Err(())
        }
    }
}

/// A PEM reading error in words an operator can act on.
fn describe(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => format!("cannot read it: {io}"),
        Error::NoItemsFound => "no PEM private key in it".to_string(),
        other => format!("not a usable PEM file: {other:?}"),
    }
}
