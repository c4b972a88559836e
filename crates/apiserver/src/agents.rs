//! Reaching host agents for `pods/log` and `pods/exec`, authenticated both ways: the server
//! presents its CA-signed client certificate ([`crate::pki::AGENT_CLIENT_CN`]), and accepts
//! only the serving certificate whose SHA-256 the host published on its own Node
//! (annotation [`SERVING_CERT_SHA256`]). Users never talk to hosts directly.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// Node annotation with the agent's serving certificate pin (written by canopy-agent).
pub const SERVING_CERT_SHA256: &str = "canopy.io/agent-serving-cert-sha256";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's credentials towards agents.
pub struct Agents {
    provider: Arc<CryptoProvider>,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// Where a host's agent is and what its certificate must be.
#[derive(Debug, Clone)]
pub struct Target {
    pub node: String,
    pub ip: IpAddr,
    pub port: u16,
    pub sha256: String,
}

impl Target {
    /// From a Node object; an error says why the host cannot be reached.
    pub fn of_node(node: &Value) -> ApiResult<Self> {
        let name = node.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let unreachable = |why: &str| ApiError::BadRequest(format!("host {name} cannot serve this request: {why}"));
        let port = node.pointer("/status/daemonEndpoints/kubeletEndpoint/Port").and_then(Value::as_u64).unwrap_or(0);
        let port =
            u16::try_from(port).ok().filter(|p| *p != 0).ok_or_else(|| unreachable("its agent serves no endpoint"))?;
        let sha256 = node
            .pointer(&format!("/metadata/annotations/{}", SERVING_CERT_SHA256.replace('/', "~1")))
            .and_then(Value::as_str)
            .filter(|s| s.len() == 64)
            .ok_or_else(|| unreachable("its agent published no serving certificate"))?
            .to_string();
        let ip = node
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| a["type"] == "InternalIP")
            .find_map(|a| a["address"].as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| unreachable("it reports no InternalIP address (start its agent with --address)"))?;
        Ok(Self { node: name, ip, port, sha256 })
    }
}

/// Accepts exactly the pinned certificate; signatures are still checked, so the peer must hold
/// its key.
#[derive(Debug)]
struct Pinned {
    sha256: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got: String = Sha256::digest(end_entity.as_ref()).iter().map(|b| format!("{b:02x}")).collect();
        if got == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the host's certificate is not the one its Node publishes".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl Agents {
    pub fn new(cert_pem: &str, key_pem: &str) -> anyhow::Result<Self> {
        let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing the agent client certificate")?;
        let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .context("parsing the agent client key")?
            .context("no private key in agent-client.key")?;
        Ok(Self { provider: Arc::new(rustls::crypto::ring::default_provider()), certs, key })
    }

    fn tls(&self, target: &Target) -> anyhow::Result<tokio_rustls::TlsConnector> {
        let verifier =
            Pinned { sha256: target.sha256.clone(), algorithms: self.provider.signature_verification_algorithms };
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(self.certs.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    /// Sends one request to the host's agent over a fresh connection (upgrades allowed).
    pub async fn send(&self, target: &Target, req: Request<String>) -> ApiResult<http::Response<Incoming>> {
        let failed = |e: String| ApiError::Internal(format!("reaching host {}: {e}", target.node));
        let tls = self.tls(target).map_err(|e| failed(e.to_string()))?;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((target.ip, target.port)))
            .await
            .map_err(|_| failed(format!("no answer from {}:{} within {CONNECT_TIMEOUT:?}", target.ip, target.port)))?
            .map_err(|e| failed(format!("{}:{}: {e}", target.ip, target.port)))?;
        let stream =
            tls.connect(ServerName::IpAddress(target.ip.into()), tcp).await.map_err(|e| failed(e.to_string()))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| failed(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        sender.send_request(req).await.map_err(|e| failed(e.to_string()))
    }
}
