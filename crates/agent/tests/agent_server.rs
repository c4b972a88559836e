//! The agent's endpoint is authenticated both ways: it serves only a client certificate that
//! chains to the cluster CA *and* names the API server, and the API server accepts only the
//! serving certificate the host pinned on its Node.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use canopy_agent::runtime::sim::{SimConfig, SimRuntime};
use canopy_agent::server::{ServeConfig, Server};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn pem_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes()).collect::<Result<_, _>>().expect("certs")
}

fn pem_key(pem: &str) -> PrivateKeyDer<'static> {
    rustls_pemfile::private_key(&mut pem.as_bytes()).expect("key").expect("a key")
}

/// A certificate for `cn` signed by the server's CA (as anything the CA signs would be).
fn ca_signed(pki: &Path, cn: &str) -> (String, String) {
    let ca_key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(pki.join("ca.key")).expect("ca key")).expect("key");
    let ca_pem = std::fs::read_to_string(pki.join("ca.crt")).expect("ca");
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let cert = params.signed_by(&key, &issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

/// `GET /healthz` with an optional client certificate; the status line, or why there is none.
async fn healthz(port: u16, client: Option<(String, String)>) -> Result<String, String> {
    #[derive(Debug)]
    struct AnyServer;
    impl rustls::client::danger::ServerCertVerifier for AnyServer {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer));
    let config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(pem_certs(&cert), pem_key(&key)).expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let mut tls =
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| e.to_string())?;
    let request = "GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n";
    tls.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut answer = String::new();
    // TLS 1.3 reports a refused client certificate on the first read, not in the handshake.
    tls.read_to_string(&mut answer).await.map_err(|e| e.to_string())?;
    answer.lines().next().map(str::to_string).ok_or_else(|| "closed without an answer".to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_api_server_gets_in_and_only_the_pinned_host_is_trusted() {
    let (dir, server, client) = common::server().await;
    let pki = dir.path().join("data/pki");
    let host_dir = tempfile::tempdir().expect("dir");
    let serve = ServeConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        names: vec!["127.0.0.1".into()],
        dir: host_dir.path().to_path_buf(),
        cluster_ca: pem_certs(&server.ca_pem),
    };
    let bound = Server::bind(&serve).await.expect("bind");
    let endpoint = bound.endpoint().clone();
    let identity = canopy_agent::HostIdentity { name: "pinned".into(), zone: None, address: Some("127.0.0.1".into()) };
    let mut config = canopy_agent::HostConfig::new(identity);
    config.endpoint = Some(endpoint.clone());
    let host = canopy_agent::Host::new(client.clone(), Arc::new(SimRuntime::new(SimConfig::default())), config);
    host.register().await.expect("register");
    let _serving = bound.serve(host.clone());

    // The agent's side.
    let apiserver = (
        std::fs::read_to_string(pki.join("agent-client.crt")).expect("client cert"),
        std::fs::read_to_string(pki.join("agent-client.key")).expect("client key"),
    );
    assert_eq!(healthz(endpoint.port, Some(apiserver)).await.as_deref(), Ok("HTTP/1.1 200 OK"));
    let stranger = healthz(endpoint.port, Some(ca_signed(&pki, "someone-else"))).await;
    assert!(stranger.is_err(), "a CA-signed certificate of another name is refused: {stranger:?}");
    let anonymous = healthz(endpoint.port, None).await;
    assert!(anonymous.is_err(), "no client certificate, no answer: {anonymous:?}");

    // The API server's side: a pod on the host, its logs asked for through the API.
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get("pinned").await.expect("node");
    let annotations = node.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get("canopy.io/agent-serving-cert-sha256"), Some(&endpoint.cert_sha256));
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p"},
        "spec": {"nodeName": "pinned", "containers": [{"name": "c", "image": "registry.local/app:1"}]},
    }))
    .expect("pod");
    pods.create(&Default::default(), &pod).await.expect("create");
    let feed = canopy_agent::host::feed(
        client.clone(),
        std::collections::HashMap::from([("pinned".to_string(), host.clone())]),
        "spec.nodeName=pinned".into(),
    );
    let _feed = tokio::spawn(feed);
    common::wait_for("the pod to run", Duration::from_secs(20), async || {
        let p = pods.get("p").await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    // The sim runtime keeps no logs: the answer comes from the agent itself.
    let reached = pods.logs("p", &Default::default()).await.expect_err("no logs").to_string();
    assert!(reached.contains("has no logs on this host"), "{reached}");
    // A pin the host's certificate does not match: the server refuses to talk to it.
    let forged =
        serde_json::json!({"metadata": {"annotations": {"canopy.io/agent-serving-cert-sha256": "0".repeat(64)}}});
    nodes.patch("pinned", &PatchParams::default(), &Patch::Merge(&forged)).await.expect("patch");
    let refused = pods.logs("p", &Default::default()).await.expect_err("refused").to_string();
    assert!(refused.contains("not the one its Node publishes"), "{refused}");
    host.stop();
}
