//! The server's credentials: a CA, a serving certificate and the admin token, created on first
//! start in the data directory and reused afterwards, plus the admin kubeconfig.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::Rng;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub admin_token: String,
    /// The client certificate the server presents to host agents (logs, exec), CA-signed.
    pub agent_client_cert_pem: String,
    pub agent_client_key_pem: String,
}

/// The common name host agents accept (canopy-agent's `server::tls::APISERVER_CLIENT_CN`).
pub const AGENT_CLIENT_CN: &str = "canopy-apiserver-agent-client";

pub(crate) fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
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

/// The CA's subject and constraints (the same on every start).
fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    params.distinguished_name.push(DnType::CommonName, "canopy-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

fn random_token() -> String {
    let mut rng = rand::rng();
    (0..40).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)])).collect()
}

impl Pki {
    /// Loads the PKI from `dir/pki`, creating what is missing. The serving certificate is
    /// re-issued from the same CA when the SANs it needs change.
    pub fn load_or_create(dir: &Path, sans: &[String]) -> anyhow::Result<Self> {
        let pki = dir.join("pki");
        std::fs::create_dir_all(&pki).with_context(|| format!("creating {}", pki.display()))?;
        let (ca_cert_path, ca_key_path) = (pki.join("ca.crt"), pki.join("ca.key"));
        let (ca_pem, ca_key_pem) = if ca_cert_path.exists() {
            (std::fs::read_to_string(&ca_cert_path)?, std::fs::read_to_string(&ca_key_path)?)
        } else {
            let key = KeyPair::generate().context("generating CA key")?;
            let cert = ca_params()?.self_signed(&key).context("self-signing CA")?;
            write_private(&ca_key_path, &key.serialize_pem())?;
            std::fs::write(&ca_cert_path, cert.pem())?;
            (cert.pem(), key.serialize_pem())
        };
        let sans_path = pki.join("serving.sans");
        let want_sans = sans.join(",");
        let (cert_path, key_path) = (pki.join("serving.crt"), pki.join("serving.key"));
        let current_sans = std::fs::read_to_string(&sans_path).unwrap_or_default();
        if !cert_path.exists() || current_sans != want_sans {
            let ca_key = KeyPair::from_pem(&ca_key_pem).context("parsing CA key")?;
            // The issuer is rebuilt from the same subject and key, so what it signs chains to ca.crt.
            let issuer = Issuer::new(ca_params()?, ca_key);
            let key = KeyPair::generate().context("generating serving key")?;
            let mut params = CertificateParams::new(sans.to_vec()).context("serving certificate SANs")?;
            params.distinguished_name.push(DnType::CommonName, "canopy-apiserver");
            let cert = params.signed_by(&key, &issuer).context("signing serving certificate")?;
            write_private(&key_path, &key.serialize_pem())?;
            std::fs::write(&cert_path, cert.pem())?;
            std::fs::write(&sans_path, &want_sans)?;
        }
        let (client_cert_path, client_key_path) = (pki.join("agent-client.crt"), pki.join("agent-client.key"));
        if !client_cert_path.exists() {
            let issuer = Issuer::new(ca_params()?, KeyPair::from_pem(&ca_key_pem).context("parsing CA key")?);
            let key = KeyPair::generate().context("generating the agent client key")?;
            let mut params = CertificateParams::new(Vec::<String>::new()).context("agent client certificate")?;
            params.distinguished_name.push(DnType::CommonName, AGENT_CLIENT_CN);
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            let cert = params.signed_by(&key, &issuer).context("signing the agent client certificate")?;
            write_private(&client_key_path, &key.serialize_pem())?;
            std::fs::write(&client_cert_path, cert.pem())?;
        }
        let token_path = pki.join("admin.token");
        if !token_path.exists() {
            write_private(&token_path, &random_token())?;
        }
        Ok(Self {
            ca_pem,
            cert_pem: std::fs::read_to_string(&cert_path)?,
            key_pem: std::fs::read_to_string(&key_path)?,
            admin_token: std::fs::read_to_string(&token_path)?.trim().to_string(),
            agent_client_cert_pem: std::fs::read_to_string(&client_cert_path)?,
            agent_client_key_pem: std::fs::read_to_string(&client_key_path)?,
        })
    }

    /// Writes `dir/admin.kubeconfig` for `server_url`, trusting this CA.
    pub fn write_admin_kubeconfig(&self, dir: &Path, server_url: &str) -> anyhow::Result<PathBuf> {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "canopy", "cluster": {"server": server_url, "certificate-authority-data": ca}}],
            "users": [{"name": "canopy-admin", "user": {"token": self.admin_token}}],
            "contexts": [{"name": "canopy-admin", "context": {"cluster": "canopy", "user": "canopy-admin", "namespace": "default"}}],
            "current-context": "canopy-admin",
            "preferences": {},
        });
        let path = dir.join("admin.kubeconfig");
        let yaml = serde_saphyr::to_string(&config).context("rendering kubeconfig")?;
        write_private(&path, &yaml)?;
        Ok(path)
    }
}

/// The names the serving certificate must carry for `listen`.
pub fn default_sans(listen: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ip = listen.ip();
    if !ip.is_unspecified() && !sans.contains(&ip.to_string()) {
        sans.push(ip.to_string());
    }
    for e in extra {
        if !sans.contains(e) {
            sans.push(e.clone());
        }
    }
    sans
}
