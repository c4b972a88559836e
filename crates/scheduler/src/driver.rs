//! The scheduler as an API client: watches hosts and pods into a [`Cluster`], places each
//! pending pod with [`Cluster::schedule`], reserves the host with [`Cluster::assume`] at once
//! and binds through `pods/binding` with many binds in flight. A failed bind gives the
//! reservation back and the pod is tried again; a pod no host can take gets
//! `PodScheduled=False` with the reason, like upstream, and is retried when hosts or pods change.
//!
//! One loop owns the cache, so two decisions never race for the same capacity; the API server
//! binds a pod at most once, so a second scheduler could never move a bound pod either.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use canopy_client::{LeanPod, into_pods};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

use crate::{Cluster, NodeInfo, PodInfo};

/// Pods that name another scheduler are left alone.
pub const SCHEDULER_NAME: &str = "default-scheduler";

#[derive(Debug, Clone)]
pub struct Config {
    /// Binds in flight at once.
    pub parallel_binds: usize,
    /// How soon an unschedulable pod is tried again without news.
    pub retry_every: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { parallel_binds: 256, retry_every: Duration::from_secs(5) }
    }
}

type Key = (String, String);

fn key_of(pod: &Pod) -> Key {
    (pod.namespace().unwrap_or_default(), pod.name_any())
}

enum BindResult {
    Bound,
    /// Someone else bound it, or it is gone: the watch tells the rest.
    Moot,
    Failed(String),
    /// A failed bind's pod, read again a moment later.
    Retry(Box<Pod>),
}

struct Scheduler {
    client: Client,
    config: Config,
    cluster: Cluster,
    /// Pods waiting for a host, in arrival order, with their latest object.
    queue: VecDeque<Key>,
    waiting: HashMap<Key, Pod>,
    /// Pods no host could take.
    unschedulable: HashMap<Key, Pod>,
    /// Why each unschedulable pod was last reported so (reported again only when it changes).
    reported: HashMap<Key, String>,
    in_flight: HashSet<Key>,
    /// Bound pods in the cache, for pruning after a relist.
    bound: HashMap<Key, String>,
    seen_in_relist: HashSet<Key>,
    /// Pending pods seen by the current re-list of the pending-pods watch.
    pending_in_relist: HashSet<Key>,
    nodes_in_relist: HashSet<String>,
    changed: bool,
    results: mpsc::UnboundedSender<(Key, BindResult)>,
}

fn is_finished(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        || matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

fn ours(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).is_none_or(|n| n == SCHEDULER_NAME || n.is_empty())
}

impl Scheduler {
    fn pod_event(&mut self, pod: Pod) {
        let key = key_of(&pod);
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty());
        if is_finished(&pod) {
            self.drop_pod(&key);
            return;
        }
        match node {
            Some(node) => {
                self.unqueue(&key);
                self.cluster.add_pod(PodInfo::from_pod(&pod), &node);
                self.bound.insert(key, node);
            }
            // A pod this scheduler bound (assumed until the bound-pods watch confirms it) is not
            // placed again when a lagging event still shows it pending.
            None if ours(&pod) && !self.in_flight.contains(&key) && !self.cluster.is_assumed(&key.0, &key.1) => {
                self.unschedulable.remove(&key);
                if self.waiting.insert(key.clone(), pod).is_none() {
                    self.queue.push_back(key);
                }
            }
            None => {}
        }
    }

    /// A pod left the pending-pods watch: bound (the bound-pods watch brings it, and an assumed
    /// reservation holds its place until then), or deleted while pending.
    fn unassigned_gone(&mut self, pod: Pod) {
        let key = key_of(&pod);
        if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty()) {
            self.unqueue(&key);
        } else {
            self.drop_pod(&key);
        }
    }

    /// After a re-list of pending pods: those it no longer shows are bound or gone.
    fn prune_pending(&mut self) {
        let gone: Vec<Key> = self
            .waiting
            .keys()
            .chain(self.unschedulable.keys())
            .filter(|k| !self.pending_in_relist.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.unqueue(&key);
        }
    }

    /// The pod no longer waits for a host.
    fn unqueue(&mut self, key: &Key) {
        self.waiting.remove(key);
        self.unschedulable.remove(key);
        self.reported.remove(key);
    }

    fn drop_pod(&mut self, key: &Key) {
        self.unqueue(key);
        if self.bound.remove(key).is_some() || self.cluster.forget(&key.0, &key.1) {
            self.cluster.remove_pod(&key.0, &key.1);
            self.changed = true;
        }
    }

    fn node_event(&mut self, node: &Node) {
        self.cluster.upsert_node(NodeInfo::from_node(node));
        self.changed = true;
    }

    /// Decides for queued pods while binds are free.
    fn schedule_some(&mut self) {
        while self.in_flight.len() < self.config.parallel_binds {
            let Some(key) = self.queue.pop_front() else { return };
            let Some(pod) = self.waiting.remove(&key) else { continue };
            let info = PodInfo::from_pod(&pod);
            match self.cluster.schedule(&info) {
                Ok(node) => {
                    self.cluster.assume(info, &node);
                    self.in_flight.insert(key.clone());
                    self.bind(key, pod, node);
                }
                Err(why) => {
                    if self.reported.get(&key) != Some(&why.message) {
                        self.report_unschedulable(&pod, &why.message);
                        self.reported.insert(key.clone(), why.message);
                    }
                    self.unschedulable.insert(key, pod);
                }
            }
        }
    }

    /// Gives every unschedulable pod another chance (hosts or pods changed, or time passed).
    fn requeue_unschedulable(&mut self) {
        for (key, pod) in std::mem::take(&mut self.unschedulable) {
            if self.waiting.insert(key.clone(), pod).is_none() {
                self.queue.push_back(key);
            }
        }
    }

    fn bind(&self, key: Key, pod: Pod, node: String) {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
        let events = self.client.clone();
        let results = self.results.clone();
        tokio::spawn(async move {
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": key.1, "namespace": key.0},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            let result = match pods
                .create_subresource::<_, kube::core::Status>("binding", &key.1, &PostParams::default(), &binding)
                .await
            {
                Ok(_) => {
                    record(
                        events,
                        &pod,
                        "Normal",
                        "Scheduled",
                        format!("Successfully assigned {}/{} to {node}", key.0, key.1),
                    );
                    BindResult::Bound
                }
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => BindResult::Moot,
                Err(e) => BindResult::Failed(e.to_string()),
            };
            let _ = results.send((key, result));
        });
    }

    fn bind_done(&mut self, key: Key, result: BindResult) {
        self.in_flight.remove(&key);
        match result {
            BindResult::Bound => {}
            BindResult::Moot => {
                self.cluster.forget(&key.0, &key.1);
            }
            BindResult::Failed(e) => {
                tracing::warn!(pod = %format!("{}/{}", key.0, key.1), error = %e, "binding failed; will retry");
                if self.cluster.forget(&key.0, &key.1) {
                    self.changed = true;
                }
                // The watch brings the pod back to the queue if it is still unbound.
                let pods: Api<Pod> = Api::namespaced(self.client.clone(), &key.0);
                let results = self.results.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if let Ok(pod) = pods.get(&key.1).await {
                        let _ = results.send((key, BindResult::Retry(Box::new(pod))));
                    }
                });
            }
            BindResult::Retry(pod) => self.pod_event(*pod),
        }
    }

    fn report_unschedulable(&self, pod: &Pod, message: &str) {
        let (ns, name) = key_of(pod);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let status = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastTransitionTime": canopy_client::time::now(),
        }]}});
        let events = self.client.clone();
        let (pod, message) = (pod.clone(), message.to_string());
        tokio::spawn(async move {
            if let Err(e) = pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await {
                tracing::debug!(error = %e, "reporting an unschedulable pod failed");
            }
            record(events, &pod, "Warning", "FailedScheduling", message);
        });
    }
}

/// Records an Event about a pod from the scheduler, in the background.
fn record(client: Client, pod: &Pod, kind: &str, reason: &str, message: String) {
    let ns = pod.namespace().unwrap_or_default();
    let now = canopy_client::time::now();
    let event = json!({
        "metadata": {"generateName": format!("{}.", pod.name_any()), "namespace": ns},
        "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": ns, "name": pod.name_any(), "uid": pod.uid()},
        "reason": reason, "message": message, "type": kind,
        "source": {"component": SCHEDULER_NAME}, "reportingComponent": SCHEDULER_NAME,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    });
    tokio::spawn(async move {
        if let Err(e) = canopy_client::unread::create::<Event>(&client, &ns, &event).await {
            tracing::debug!(error = %e, "recording an event failed");
        }
    });
}

/// Runs the scheduler on a runtime of its own, one OS thread, until the process ends; `connect`
/// makes its client there. Beside an API server in the same process, the scheduler is then one
/// thread among the server's rather than one task among thousands of requests, so its
/// decisions and watch reads keep pace however busy the server is (upstream runs it as a
/// process of its own for the same reason).
pub fn spawn_dedicated<F, Fut>(connect: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Client>>,
{
    std::thread::Builder::new().name("canopy-scheduler".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "the scheduler could not start its runtime");
                return;
            }
        };
        runtime.block_on(async move {
            let result = match connect().await {
                Ok(client) => run(client).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::error!(error = %format!("{e:#}"), "the scheduler stopped");
            }
        });
    })
}

/// Runs the scheduler until the process ends.
pub async fn run(client: Client) -> anyhow::Result<()> {
    run_with(client, Config::default()).await
}

pub async fn run_with(client: Client, config: Config) -> anyhow::Result<()> {
    let (results, mut bind_results) = mpsc::unbounded_channel();
    // A failed watch backs off inside its own stream: the loop never sleeps, so one expired
    // watch (a re-list) does not hold up binding pods the other watches already brought.
    let mut nodes = watcher(Api::<Node>::all(client.clone()), watcher::Config::default()).default_backoff().boxed();
    // Two pod watches, as upstream's scheduler has two informers: pods waiting for a host (two
    // events each: created, then bound) and bound ones (every status write of every host). A
    // burst that leaves the busy second one behind, even ended by the server and re-listed,
    // does not delay seeing the pods to place; binds this scheduler made are assumed meanwhile.
    // Pods are decoded without their managedFields, which the scheduler never reads.
    let all = Api::<LeanPod>::all(client.clone());
    let pods = |fields: &str| {
        watcher(all.clone(), watcher::Config::default().fields(fields)).default_backoff().map_ok(into_pods).boxed()
    };
    let (mut unassigned, mut assigned) = (pods("spec.nodeName="), pods("spec.nodeName!="));
    let retry_every = config.retry_every;
    let mut s = Scheduler {
        client,
        config,
        cluster: Cluster::new(),
        queue: VecDeque::new(),
        waiting: HashMap::new(),
        unschedulable: HashMap::new(),
        reported: HashMap::new(),
        in_flight: HashSet::new(),
        bound: HashMap::new(),
        seen_in_relist: HashSet::new(),
        pending_in_relist: HashSet::new(),
        nodes_in_relist: HashSet::new(),
        changed: false,
        results,
    };
    let mut retry = tokio::time::interval(retry_every);
    let mut settle = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            biased;
            Some((key, result)) = bind_results.recv() => s.bind_done(key, result),
            Some(event) = nodes.next() => match event {
                Ok(watcher::Event::Apply(n)) => s.node_event(&n),
                Ok(watcher::Event::Delete(n)) => {
                    s.cluster.remove_node(&n.name_any());
                }
                Ok(watcher::Event::Init) => s.nodes_in_relist.clear(),
                Ok(watcher::Event::InitApply(n)) => {
                    s.nodes_in_relist.insert(n.name_any());
                    s.node_event(&n);
                }
                Ok(watcher::Event::InitDone) => {
                    for name in s.cluster.node_names() {
                        if !s.nodes_in_relist.contains(&name) {
                            s.cluster.remove_node(&name);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watching hosts failed; retrying");
                }
            },
            Some(event) = unassigned.next() => match event {
                Ok(watcher::Event::Apply(p)) => s.pod_event(p),
                Ok(watcher::Event::Delete(p)) => s.unassigned_gone(p),
                Ok(watcher::Event::Init) => s.pending_in_relist.clear(),
                Ok(watcher::Event::InitApply(p)) => {
                    s.pending_in_relist.insert(key_of(&p));
                    s.pod_event(p);
                }
                Ok(watcher::Event::InitDone) => s.prune_pending(),
                Err(e) => {
                    tracing::warn!(error = %e, "watching pending pods failed; retrying");
                }
            },
            Some(event) = assigned.next() => match event {
                Ok(watcher::Event::Apply(p)) => s.pod_event(p),
                Ok(watcher::Event::Delete(p)) => s.drop_pod(&key_of(&p)),
                Ok(watcher::Event::Init) => s.seen_in_relist.clear(),
                Ok(watcher::Event::InitApply(p)) => {
                    s.seen_in_relist.insert(key_of(&p));
                    s.pod_event(p);
                }
                Ok(watcher::Event::InitDone) => {
                    let stale: Vec<Key> = s.bound.keys().filter(|k| !s.seen_in_relist.contains(*k)).cloned().collect();
                    for k in stale {
                        s.drop_pod(&k);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watching bound pods failed; retrying");
                }
            },
            _ = retry.tick() => s.requeue_unschedulable(),
            _ = settle.tick() => {
                if std::mem::take(&mut s.changed) && !s.unschedulable.is_empty() {
                    s.requeue_unschedulable();
                }
            }
        }
        s.schedule_some();
    }
}
