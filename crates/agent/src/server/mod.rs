//! The agent's HTTPS endpoint, spoken to by the API server only (it proxies `kubectl logs` and
//! `kubectl exec`; users never reach a host directly). The paths are the kubelet's:
//! `GET /containerLogs/{namespace}/{pod}/{container}` and `/exec/{namespace}/{pod}/{container}`
//! (a WebSocket with the `v5.channel.k8s.io`/`v4.channel.k8s.io` framing kubectl speaks).
//! See [`tls`] for how both ends authenticate.

mod exec;
mod logs;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::host::Host;
use crate::node::Endpoint;

/// Where and how the agent serves.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Names and addresses for the serving certificate (the Node's InternalIP among them).
    pub names: Vec<String>,
    /// Where the serving certificate is kept.
    pub dir: PathBuf,
    /// The cluster CA (DER), which signs the API server's client certificate.
    pub cluster_ca: Vec<CertificateDer<'static>>,
}

/// A bound listener, not serving yet: its [`Endpoint`] goes on the Node before the host exists.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    endpoint: Endpoint,
}

impl Server {
    pub async fn bind(config: &ServeConfig) -> anyhow::Result<Self> {
        let identity = tls::ServingIdentity::load_or_create(&config.dir, &config.names)?;
        let acceptor = identity.acceptor(&config.cluster_ca)?;
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, acceptor, endpoint: Endpoint { port, cert_sha256: identity.sha256 } })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Serves `host`'s pods until the task is dropped.
    pub fn serve(self, host: Arc<Host>) -> tokio::task::JoinHandle<()> {
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/containerLogs/{namespace}/{pod}/{container}", get(logs::logs))
            .route("/exec/{namespace}/{pod}/{container}", get(exec::exec).post(exec::exec))
            .with_state(host);
        let Self { listener, acceptor, .. } = self;
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else { continue };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "agent TLS handshake failed");
                            return;
                        }
                    };
                    let client = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                    if !client.is_some_and(tls::is_api_server) {
                        tracing::warn!(%peer, "refused a client that is not the API server");
                        return;
                    }
                    let service = TowerToHyperService::new(app);
                    if let Err(e) = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .await
                    {
                        tracing::debug!(%peer, error = %e, "agent connection ended with an error");
                    }
                });
            }
        })
    }
}

/// An answer the API server relays to the user as a Status with this code and message.
pub(crate) struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

fn bad_request(message: String) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, message)
}

/// The pod as this host runs it.
fn find_pod(host: &Host, namespace: &str, name: &str) -> Result<Pod, Refusal> {
    host.pod(namespace, name)
        .ok_or_else(|| Refusal(StatusCode::NOT_FOUND, format!("pod \"{name}\" is not running on host {}", host.name())))
}

/// The runtime's ID of a container of `pod`: the current instance, or the one before it.
fn container_id(pod: &Pod, container: &str, previous: bool) -> Result<String, Refusal> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.as_ref();
    let statuses: Vec<&ContainerStatus> = status
        .into_iter()
        .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()))
        .collect();
    let Some(cs) = statuses.into_iter().find(|cs| cs.name == container) else {
        return Err(bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        )));
    };
    if previous {
        return cs
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.container_id.clone())
            .ok_or_else(|| {
                bad_request(format!("previous terminated container \"{container}\" in pod \"{name}\" not found"))
            });
    }
    if let (Some(waiting), None) = (cs.state.as_ref().and_then(|s| s.waiting.as_ref()), cs.container_id.as_ref()) {
        let reason = waiting.reason.as_deref().unwrap_or("ContainerCreating");
        return Err(bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: {reason}")));
    }
    cs.container_id.clone().ok_or_else(|| {
        bad_request(format!("container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"))
    })
}

/// Decodes a query string into its (repeatable) pairs.
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn flag(pairs: &[(String, String)], key: &str) -> bool {
    pairs.iter().any(|(k, v)| k == key && matches!(v.as_str(), "1" | "true" | "True" | ""))
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}
