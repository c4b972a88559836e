//! One host: its Node and Lease, and a worker per pod bound to it. Pods reach a host through
//! [`Host::observe`]: from the host's own watch (`spec.nodeName=HOST`), or, in `canopy sim`,
//! from one watch shared by every simulated host of the process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canopy_client::{LeanPod, into_pods};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::Recorder;
use crate::node::{self, HostIdentity, LEASE_NAMESPACE};
use crate::runtime::Runtime;
use crate::worker::Worker;

/// How the host keeps in touch with the control plane.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub identity: HostIdentity,
    /// The Lease's duration; the node lifecycle controller's grace should match it.
    pub lease_seconds: i32,
    /// How often the Lease is renewed (a quarter of its duration, as upstream).
    pub renew_every: Duration,
    /// Node status (Ready) is re-posted every this many renewals.
    pub status_every: u32,
    /// Where the host serves logs and exec to the API server, once it does.
    pub endpoint: Option<node::Endpoint>,
}

impl HostConfig {
    pub fn new(identity: HostIdentity) -> Self {
        Self { identity, lease_seconds: 10, renew_every: Duration::from_millis(2500), status_every: 4, endpoint: None }
    }
}

struct PodEntry {
    uid: String,
    updates: watch::Sender<Option<Arc<Pod>>>,
    task: JoinHandle<()>,
}

pub struct Host {
    client: Client,
    runtime: Arc<dyn Runtime>,
    config: HostConfig,
    events: Recorder,
    pods: Mutex<HashMap<String, PodEntry>>,
    heartbeat: Mutex<Option<JoinHandle<()>>>,
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

impl Host {
    pub fn new(client: Client, runtime: Arc<dyn Runtime>, config: HostConfig) -> Arc<Self> {
        let events = Recorder::new(client.clone(), &config.identity.name);
        Arc::new(Self { client, runtime, config, events, pods: Mutex::default(), heartbeat: Mutex::default() })
    }

    pub fn name(&self) -> &str {
        &self.config.identity.name
    }

    /// Registers the Node and starts the heartbeat.
    pub async fn register(&self) -> kube::Result<()> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let info = self.runtime.info();
        node::register(&nodes, &info, &self.config.identity, self.config.endpoint.as_ref()).await?;
        if let Some(notice) = info.notice {
            self.events.node(crate::events::Kind::of(notice.warning), &notice.reason, notice.message);
        }
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), LEASE_NAMESPACE);
        let c = &self.config;
        let task = tokio::spawn(node::heartbeat(
            leases,
            nodes,
            c.identity.clone(),
            c.lease_seconds,
            c.renew_every,
            c.status_every,
        ));
        if let Some(old) = self.heartbeat.lock().expect("host lock poisoned").replace(task) {
            old.abort();
        }
        Ok(())
    }

    /// A pod bound to this host was added or changed (`Some`), or is gone (`None` with its key).
    pub fn observe(&self, pod: Pod) {
        let k = key(&pod);
        let uid = pod.uid().unwrap_or_default();
        let pod = Arc::new(pod);
        let mut pods = self.pods.lock().expect("host lock poisoned");
        if let Some(entry) = pods.get(&k) {
            if entry.uid == uid && !entry.task.is_finished() {
                let _ = entry.updates.send(Some(pod));
                return;
            }
            // A new pod under an old name: the old one's worker winds down first.
            let _ = entry.updates.send(None);
        }
        let (tx, rx) = watch::channel(Some(pod.clone()));
        let worker = Worker::new(
            self.client.clone(),
            &pod.namespace().unwrap_or_default(),
            self.runtime.clone(),
            self.events.clone(),
            self.config.identity.address.clone(),
        );
        let task = tokio::spawn(worker.run(rx));
        pods.insert(k, PodEntry { uid, updates: tx, task });
    }

    /// The API server no longer has this pod.
    pub fn forget(&self, pod: &Pod) {
        let mut pods = self.pods.lock().expect("host lock poisoned");
        if let Some(entry) = pods.remove(&key(pod)) {
            let _ = entry.updates.send(None);
        }
    }

    /// After a relist: pods not in `present` were deleted while the watch was down.
    pub fn retain(&self, present: &HashSet<String>) {
        let mut pods = self.pods.lock().expect("host lock poisoned");
        pods.retain(|k, entry| {
            let keep = present.contains(k);
            if !keep {
                let _ = entry.updates.send(None);
            }
            keep
        });
    }

    /// Drops finished workers from the table.
    fn reap(&self) {
        self.pods.lock().expect("host lock poisoned").retain(|_, e| !e.task.is_finished());
    }

    /// The latest version of a pod bound to this host, as its worker sees it.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        let pods = self.pods.lock().expect("host lock poisoned");
        pods.get(&format!("{namespace}/{name}")).and_then(|e| e.updates.borrow().as_deref().cloned())
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// How many pods the host is running.
    pub fn pod_count(&self) -> usize {
        self.pods.lock().expect("host lock poisoned").len()
    }

    /// Stops heartbeating, as a host that lost power would (pods are left as they are).
    pub fn stop(&self) {
        if let Some(t) = self.heartbeat.lock().expect("host lock poisoned").take() {
            t.abort();
        }
        for (_, e) in self.pods.lock().expect("host lock poisoned").drain() {
            e.task.abort();
        }
    }
}

/// Feeds pods from one watch to the hosts they are bound to: `hosts` by node name. With one
/// host this is its own `spec.nodeName=HOST` watch; `canopy sim` shares one across all.
pub async fn feed(client: Client, hosts: HashMap<String, Arc<Host>>, field_selector: String) {
    // Pods are decoded without their managedFields, which a host never reads.
    let pods: Api<LeanPod> = Api::all(client);
    let config = watcher::Config::default().fields(&field_selector);
    let mut stream = watcher(pods, config).map_ok(into_pods).boxed();
    let mut relisted: HashSet<String> = HashSet::new();
    let mut reap = tokio::time::interval(Duration::from_secs(5));
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            _ = reap.tick() => {
                hosts.values().for_each(|h| h.reap());
                continue;
            }
        };
        let Some(event) = event else { return };
        let host_of = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).and_then(|n| hosts.get(n));
        match event {
            Ok(watcher::Event::Apply(p)) => {
                if let Some(h) = host_of(&p).cloned() {
                    h.observe(p);
                }
            }
            Ok(watcher::Event::Delete(p)) => {
                if let Some(h) = host_of(&p) {
                    h.forget(&p);
                }
            }
            Ok(watcher::Event::Init) => relisted.clear(),
            Ok(watcher::Event::InitApply(p)) => {
                relisted.insert(key(&p));
                if let Some(h) = host_of(&p).cloned() {
                    h.observe(p);
                }
            }
            Ok(watcher::Event::InitDone) => {
                for h in hosts.values() {
                    h.retain(&relisted);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "watching pods failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
