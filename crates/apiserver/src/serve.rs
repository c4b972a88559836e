//! Starting the server: data directory, store, PKI, bootstrap objects, controllers, TLS listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use canopy_store::Store;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::objects::Objects;
use crate::pki::{Pki, default_sans};
use crate::registry::Registry;
use crate::{Api, controllers, crds};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Extra names or addresses for the serving certificate.
    pub extra_sans: Vec<String>,
}

/// A server running in this process.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub url: String,
    pub kubeconfig: PathBuf,
    pub ca_pem: String,
    pub admin_token: String,
    task: tokio::task::JoinHandle<()>,
    api: Api,
    router: axum::Router,
}

impl RunningServer {
    /// What makes clients of this server for components in its own process; see [`Local`].
    pub fn local(&self) -> Local {
        Local { api: self.api.clone(), router: self.router.clone(), token: self.admin_token.clone() }
    }

    /// Serves until the listener fails.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task failed")
    }
}

/// Namespaces every cluster starts with.
const BOOTSTRAP_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn bootstrap(objects: &Objects) -> anyhow::Result<()> {
    let ns_res = objects.registry.get("", "v1", "namespaces").expect("namespaces are built in");
    for (plural, obj) in crate::auth::bootstrap_objects() {
        let res = objects.registry.get("rbac.authorization.k8s.io", "v1", plural).expect("RBAC kinds are built in");
        match objects.create(&res, None, obj, false).await {
            Ok(_) | Err(crate::ApiError::AlreadyExists(_)) => {}
            Err(e) => return Err(anyhow::anyhow!("creating the built-in {plural}: {e}")),
        }
    }
    let crd_res =
        objects.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions").expect("CRDs are built in");
    for crd in crate::iam::crds().into_iter().chain([crate::selfservice::crd()]) {
        // A newer Canopy may extend its built-in kinds: bring a stored definition up to date.
        let name = crate::meta::name(&crd).to_string();
        let spec = crd["spec"].clone();
        let result = match objects.create(&crd_res, None, crd, false).await {
            Err(crate::ApiError::AlreadyExists(_)) => objects
                .update(&crd_res, None, &name, false, |mut current| {
                    current["spec"] = spec.clone();
                    crate::meta::meta_mut(&mut current).remove("resourceVersion");
                    Ok(current)
                })
                .await
                .map(|_| ()),
            other => other.map(|_| ()),
        };
        result.map_err(|e| anyhow::anyhow!("creating the built-in CRD {name}: {e}"))?;
    }
    for name in BOOTSTRAP_NAMESPACES {
        let obj = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        match objects.create(&ns_res, None, obj, false).await {
            Ok(_) | Err(crate::ApiError::AlreadyExists(_)) => {}
            Err(e) => return Err(anyhow::anyhow!("creating namespace {name}: {e}")),
        }
    }
    Ok(())
}

fn tls_acceptor(pki: &Pki) -> anyhow::Result<TlsAcceptor> {
    let certs = rustls_pemfile::certs(&mut pki.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing serving certificate")?;
    let key = rustls_pemfile::private_key(&mut pki.key_pem.as_bytes())
        .context("parsing serving key")?
        .context("no private key in serving key file")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS serving certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Clients of a server for components in its own process (the scheduler, the controllers):
/// requests go to the router directly instead of through TLS and TCP, and pass
/// authentication (with the admin token), authorization and admission as any client's. A
/// request's server-side work runs on the task that awaits it.
#[derive(Clone)]
pub struct Local {
    api: Api,
    router: axum::Router,
    token: String,
}

impl Local {
    /// A client; make it on the runtime that will use it (kube-rs starts a task there).
    pub fn client(&self) -> kube::Client {
        let bearer =
            http::HeaderValue::try_from(format!("Bearer {}", self.token)).expect("the admin token is a header value");
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let service = tower::ServiceBuilder::new()
            .map_request(move |req: http::Request<kube::client::Body>| {
                let mut req = req.map(axum::body::Body::new);
                req.headers_mut().insert(http::header::AUTHORIZATION, bearer.clone());
                req
            })
            .service(crate::service(self.api.clone(), self.router.clone(), local));
        kube::Client::new(service, "default")
    }
}

/// Opens the data directory and starts serving; returns once the listener is bound.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> =
        Arc::new(canopy_store::RedbStore::open(config.data_dir.join("store.redb")).context("opening the store")?);
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let pki = Pki::load_or_create(&config.data_dir, &default_sans(addr, &config.extra_sans))?;
    let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    let url = format!("https://{host}:{}", addr.port());
    let kubeconfig = pki.write_admin_kubeconfig(&config.data_dir, &url)?;

    let registry = Registry::with_builtins();
    let objects = Objects::new(store, registry.clone());
    bootstrap(&objects).await?;
    let rbac = Arc::new(crate::auth::Rbac::new());
    let directory = Arc::new(crate::iam::Directory::open(&config.data_dir.join("pki"))?);
    let quota_locks = Arc::new(crate::quota::QuotaLocks::default());
    rbac.refresh(&objects).await.map_err(|e| anyhow::anyhow!("loading RBAC policy: {e}"))?;
    crds::sync_all(&objects).await.map_err(|e| anyhow::anyhow!("loading CRDs: {e}"))?;
    directory.refresh(&objects).await.map_err(|e| anyhow::anyhow!("loading the directory: {e}"))?;
    controllers::spawn(objects.clone(), rbac.clone(), quota_locks.clone(), directory.clone());

    let api = Api(Arc::new(crate::ApiState {
        objects,
        registry,
        authn: Arc::new(crate::auth::Authenticator::new(&pki.admin_token)),
        rbac,
        directory,
        ca_pem: Arc::from(pki.ca_pem.as_str()),
        openapi: Arc::default(),
        inflight: Arc::new(tokio::sync::Semaphore::new(crate::MAX_REQUESTS_INFLIGHT)),
        encoded: Arc::default(),
        quota_locks: quota_locks.clone(),
        agents: Arc::new(crate::agents::Agents::new(&pki.agent_client_cert_pem, &pki.agent_client_key_pem)?),
    }));
    let app = crate::router(api.clone());
    let (api_for_local, app_for_local) = (api.clone(), app.clone());
    let acceptor = tls_acceptor(&pki)?;
    tracing::info!(%url, kubeconfig = %kubeconfig.display(), "serving");
    let task = tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let service = TowerToHyperService::new(
                tower::ServiceBuilder::new()
                    .map_request(|req: http::Request<hyper::body::Incoming>| req.map(axum::body::Body::new))
                    .service(crate::service(api.clone(), app.clone(), peer)),
            );
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                };
                if let Err(e) = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    });
    Ok(RunningServer {
        addr,
        url,
        kubeconfig,
        ca_pem: pki.ca_pem.clone(),
        admin_token: pki.admin_token.clone(),
        task,
        api: api_for_local,
        router: app_for_local,
    })
}
