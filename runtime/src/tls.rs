//! TLS for the client API (issue 8, hardening): rustls on the `ring` provider, for the HTTPS
//! listener ([`server_config`]) and for every HTTP client in the workspace ([`client_builder`]).
//!
//! Rules:
//! - **One provider.** reqwest is built with `rustls-no-provider` (aws-lc-rs needs cmake and
//!   nasm), so a process must install a provider before it builds any client, or reqwest panics.
//!   [`client_builder`] installs `ring` once and is the only way the workspace makes a client
//!   (`clippy.toml` forbids `reqwest::Client::builder`, `Client::new` and `reqwest::get`).
//! - **Certificates are files.** PEM chains and keys, read when a node starts; a bad file stops
//!   the start with a [`TlsError`] naming it.
//! - **Peers over TLS.** When a node serves HTTPS, it calls other nodes over HTTPS too, trusting
//!   only `tls_ca` (default: its own `tls_cert`), never the system roots.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot use {what} {path}: {why}")]
    File {
        /// What the file should hold ("certificate", "private key").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it is unusable.
        why: String,
    },
    /// rustls refused the certificate and key (e.g. they do not belong together).
    #[error("TLS certificate {cert} and key {key} are unusable: {source}")]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

/// Installs the `ring` crypto provider as the process default, once (later calls do nothing).
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means another provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest client builder, with the crypto provider installed first.
#[allow(clippy::disallowed_methods)] // the one place allowed to call it
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// Every certificate in the PEM file at `path` (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |why: String| TlsError::File { what: "certificate", path: path.into(), why };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path`.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        what: "private key",
        path: path.into(),
        why: e.to_string(),
    })
}

/// The HTTPS listener's config: this certificate chain and key, HTTP/1.1 only.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    install_crypto_provider();
    let chain = load_certs(cert)?;
    let private = load_key(key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, private))
    .map_err(|source| TlsError::Refused { cert: cert.into(), key: key.into(), source })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates in the PEM file at `path`, for a client to trust.
pub fn load_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, TlsError> {
    let file_error = |why: String| TlsError::File { what: "certificate", path: path.into(), why };
    let pem = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
    let roots =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| file_error(e.to_string()))?;
    if roots.is_empty() {
        return Err(file_error("no PEM certificate in it".into()));
    }
    Ok(roots)
}

/// How this node reaches other nodes' HTTP listeners: plain, or HTTPS trusting given roots.
#[derive(Clone, Debug, Default)]
pub struct PeerHttp {
    /// Roots to trust; `None` for plain HTTP.
    roots: Option<Vec<reqwest::Certificate>>,
}

impl PeerHttp {
    /// Plain HTTP.
    pub fn plain() -> Self {
        Self { roots: None }
    }

    /// HTTPS, trusting only the certificates in the PEM file at `ca`.
    pub fn tls(ca: &Path) -> Result<Self, TlsError> {
        Ok(Self { roots: Some(load_roots(ca)?) })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.roots.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// A client builder that trusts what this node trusts.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        match &self.roots {
            Some(roots) => client_builder().tls_certs_only(roots.iter().cloned()),
            None => client_builder(),
        }
    }
}
