//! The agent's side of the API server <-> agent channel, authenticated both ways:
//! - the agent serves a self-signed certificate and publishes its SHA-256 on its Node (only the
//!   host itself or an admin may write that Node); the API server pins it when connecting;
//! - the API server presents a client certificate signed by the cluster CA with the common
//!   name [`APISERVER_CLIENT_CN`]; nothing else is served.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

/// The common name of the API server's client certificate (the API server's `pki.rs` issues it).
pub const APISERVER_CLIENT_CN: &str = "canopy-apiserver-agent-client";

/// The agent's serving certificate and key.
pub struct ServingIdentity {
    pub cert_pem: String,
    pub key_pem: String,
    /// Hex SHA-256 of the certificate's DER, published on the Node.
    pub sha256: String,
}

fn sha256_hex(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

impl ServingIdentity {
    /// Loads `dir/serving.{crt,key}`, (re)creating them when missing or when `names` changed,
    /// so a restarted agent keeps the pin the API server knows.
    pub fn load_or_create(dir: &Path, names: &[String]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (cert_path, key_path, names_path) =
            (dir.join("serving.crt"), dir.join("serving.key"), dir.join("serving.names"));
        let want = names.join(",");
        if !cert_path.exists() || std::fs::read_to_string(&names_path).unwrap_or_default() != want {
            let key = KeyPair::generate().context("generating the agent's serving key")?;
            let mut params = CertificateParams::new(names.to_vec()).context("serving certificate names")?;
            params.distinguished_name.push(DnType::CommonName, "canopy-agent");
            let cert = params.self_signed(&key).context("signing the agent's serving certificate")?;
            write_private(&key_path, &key.serialize_pem())?;
            std::fs::write(&cert_path, cert.pem()).with_context(|| format!("writing {}", cert_path.display()))?;
            std::fs::write(&names_path, want)?;
        }
        let cert_pem = std::fs::read_to_string(&cert_path)?;
        let der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .next()
            .context("no certificate in serving.crt")?
            .context("parsing serving.crt")?;
        Ok(Self { sha256: sha256_hex(&der), key_pem: std::fs::read_to_string(&key_path)?, cert_pem })
    }

    /// A TLS acceptor that requires a client certificate chaining to `cluster_ca`.
    pub fn acceptor(&self, cluster_ca: &[CertificateDer<'static>]) -> anyhow::Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in cluster_ca {
            roots.add(ca.clone()).context("adding the cluster CA")?;
        }
        anyhow::ensure!(!roots.is_empty(), "the agent needs the cluster CA to authenticate the API server");
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .context("building the client certificate verifier")?;
        let certs = rustls_pemfile::certs(&mut self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing the serving certificate")?;
        let key = rustls_pemfile::private_key(&mut self.key_pem.as_bytes())
            .context("parsing the serving key")?
            .context("no private key in serving.key")?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .context("the agent's TLS configuration")?;
        // HTTP/1.1 only: exec is a WebSocket upgrade.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// Whether a verified client certificate is the API server's (not merely CA-signed).
pub fn is_api_server(cert: &CertificateDer) -> bool {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else { return false };
    let cn = parsed.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok());
    cn == Some(APISERVER_CLIENT_CN)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes()).with_context(|| format!("writing {}", path.display()))
}
