//! One task per pod bound to the host: drives the runtime toward the pod's spec (sandbox, init
//! containers in order, then the app containers, restarts per `restartPolicy` with back-off),
//! reports status like a kubelet, and on deletion stops everything within the grace period and
//! lets the API server remove the pod.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::events::{Kind, Recorder};
use crate::runtime::{ContainerState, Runtime, RuntimeError, Sandbox};
use crate::status::{self, ContainerView, Waiting};

/// How often a pod is re-checked without news from the API: soon while it is getting somewhere
/// (containers starting, backing off, exiting), rarely once everything runs, so a host with
/// thousands of steady pods does not spend its CPU looking at them.
const RESYNC_BUSY: Duration = Duration::from_secs(1);
const RESYNC_STEADY: Duration = Duration::from_secs(10);
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long resets its back-off (upstream's rule).
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// What the worker knows of one container.
#[derive(Default)]
struct Record {
    id: Option<String>,
    image_id: String,
    state: Option<ContainerState>,
    last: Option<ContainerState>,
    previous_id: Option<String>,
    restarts: i32,
    backoff: Option<Duration>,
    not_before: Option<Instant>,
    waiting: Option<Waiting>,
}

pub struct Worker {
    pods: Api<Pod>,
    runtime: Arc<dyn Runtime>,
    events: Recorder,
    host_ip: Option<String>,
    sandbox: Option<Sandbox>,
    init: HashMap<String, Record>,
    main: HashMap<String, Record>,
    start_time: Option<String>,
    last_status: Option<Value>,
}

impl Worker {
    pub fn new(
        client: Client,
        namespace: &str,
        runtime: Arc<dyn Runtime>,
        events: Recorder,
        host_ip: Option<String>,
    ) -> Self {
        Self {
            pods: Api::namespaced(client, namespace),
            runtime,
            events,
            host_ip,
            sandbox: None,
            init: HashMap::new(),
            main: HashMap::new(),
            start_time: None,
            last_status: None,
        }
    }

    /// Runs until the pod is gone from the host. `updates` carries the latest pod, `None` once
    /// the API server no longer has it.
    pub async fn run(mut self, mut updates: watch::Receiver<Option<Pod>>) {
        loop {
            let current = updates.borrow_and_update().clone();
            let Some(pod) = current else {
                self.teardown(Duration::ZERO).await;
                return;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30).max(0) as u64;
                self.teardown(Duration::from_secs(grace)).await;
                self.finish_deletion(&pod).await;
                return;
            }
            if let Err(e) = self.sync(&pod).await {
                tracing::warn!(pod = %pod.name_any(), error = %e, "syncing the pod failed");
            }
            tokio::select! {
                changed = updates.changed() => {
                    if changed.is_err() {
                        // The host stopped: leave the pod's containers to the next agent run.
                        return;
                    }
                }
                _ = tokio::time::sleep(self.resync_after()) => {}
            }
        }
    }

    /// Steady: every app container runs and none waits.
    fn resync_after(&self) -> Duration {
        let steady = !self.main.is_empty()
            && self
                .main
                .values()
                .all(|r| matches!(r.state, Some(ContainerState::Running { .. })) && r.waiting.is_none());
        if steady { RESYNC_STEADY } else { RESYNC_BUSY }
    }

    async fn sync(&mut self, pod: &Pod) -> kube::Result<()> {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default();
        let terminal = matches!(phase, "Succeeded" | "Failed");
        if terminal && self.sandbox.is_none() {
            // Finished (or failed over while this host was away): nothing to run.
            return Ok(());
        }
        if terminal && self.last_status.as_ref().and_then(|s| s["phase"].as_str()) != Some(phase) {
            // Someone else ended it (the node lifecycle controller): stop what still runs.
            self.teardown(Duration::ZERO).await;
            return Ok(());
        }
        if self.start_time.is_none() {
            self.start_time = Some(k8s_openapi::jiff::Timestamp::now().to_string());
        }
        if self.sandbox.is_none() {
            match self.runtime.create_sandbox(pod).await {
                Ok(s) => self.sandbox = Some(s),
                Err(e) => {
                    self.events.pod(
                        pod,
                        Kind::Warning,
                        "FailedCreatePodSandBox",
                        format!("Failed to create pod sandbox: {e}"),
                    );
                    return self.report(pod).await;
                }
            }
        }
        let spec = pod.spec.clone().unwrap_or_default();
        let policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
        let mut init_done = true;
        for c in spec.init_containers.iter().flatten() {
            self.refresh(c, true).await;
            let rec = self.init.entry(c.name.clone()).or_default();
            match &rec.state {
                Some(ContainerState::Exited { exit_code: 0, .. }) => continue,
                Some(ContainerState::Exited { .. }) if policy == "Never" => {
                    init_done = false;
                    break;
                }
                Some(ContainerState::Running { .. }) => {
                    init_done = false;
                    break;
                }
                _ => {
                    self.start(pod, c, true).await;
                    init_done = false;
                    break;
                }
            }
        }
        if init_done {
            for c in &spec.containers {
                self.refresh(c, false).await;
                let rec = self.main.entry(c.name.clone()).or_default();
                let restart = match &rec.state {
                    None => true,
                    Some(ContainerState::Running { .. }) => false,
                    Some(ContainerState::Exited { exit_code, .. }) => {
                        policy == "Always" || (policy == "OnFailure" && *exit_code != 0)
                    }
                };
                if restart {
                    self.start(pod, c, false).await;
                }
            }
        }
        self.report(pod).await
    }

    /// Reads the runtime's state of a container the worker started.
    async fn refresh(&mut self, c: &Container, init: bool) {
        let records = if init { &mut self.init } else { &mut self.main };
        let Some(rec) = records.get_mut(&c.name) else { return };
        let Some(id) = rec.id.clone() else { return };
        if let Ok(state) = self.runtime.container_state(&id).await {
            if let (Some(ContainerState::Running { started_at }), ContainerState::Exited { .. }) = (&rec.state, &state)
                && started_at.elapsed().unwrap_or_default() > BACKOFF_RESET
            {
                rec.backoff = None;
            }
            rec.state = Some(state);
        }
    }

    /// Starts (or restarts, after its back-off) a container.
    async fn start(&mut self, pod: &Pod, c: &Container, init: bool) {
        let Some(sandbox) = self.sandbox.clone() else { return };
        let runtime = self.runtime.clone();
        let records = if init { &mut self.init } else { &mut self.main };
        let rec = records.entry(c.name.clone()).or_default();
        if rec.not_before.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let restarting = rec.id.is_some();
        if restarting && matches!(rec.state, Some(ContainerState::Exited { .. })) {
            let delay = next_backoff(rec.backoff);
            if rec.not_before.is_none() {
                rec.backoff = Some(delay);
                rec.not_before = Some(Instant::now() + delay);
                rec.waiting = Some(Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: format!(
                        "back-off {}s restarting failed container={} pod={}_{}({})",
                        delay.as_secs(),
                        c.name,
                        pod.name_any(),
                        pod.namespace().unwrap_or_default(),
                        pod.uid().unwrap_or_default()
                    ),
                });
                self.events.pod(pod, Kind::Warning, "BackOff", "Back-off restarting failed container".into());
                return;
            }
        }
        rec.not_before = None;
        let image = c.image.clone().unwrap_or_default();
        match runtime.pull_image(pod, c).await {
            Ok(id) => rec.image_id = id,
            Err(e) => {
                let delay = next_backoff(rec.backoff);
                rec.backoff = Some(delay);
                rec.not_before = Some(Instant::now() + delay);
                let first =
                    !matches!(&rec.waiting, Some(w) if w.reason == "ErrImagePull" || w.reason == "ImagePullBackOff");
                let reason = if first { "ErrImagePull" } else { "ImagePullBackOff" };
                rec.waiting = Some(Waiting { reason: reason.into(), message: e.to_string() });
                self.events.pod(pod, Kind::Warning, "Failed", format!("Failed to pull image \"{image}\": {e}"));
                return;
            }
        }
        match runtime.start_container(&sandbox, pod, c).await {
            Ok(id) => {
                if let Some(old) = rec.previous_id.take() {
                    let _ = runtime.remove_container(&old).await;
                }
                if restarting {
                    rec.restarts += 1;
                    rec.last = rec.state.take();
                    rec.previous_id = rec.id.take();
                }
                rec.state = runtime.container_state(&id).await.ok();
                rec.id = Some(id);
                rec.waiting = None;
                self.events.pod(pod, Kind::Normal, "Started", format!("Started container {}", c.name));
            }
            Err(e) => {
                let reason = match e {
                    RuntimeError::Start(_) => "RunContainerError",
                    _ => "CreateContainerError",
                };
                rec.waiting = Some(Waiting { reason: reason.into(), message: e.to_string() });
                rec.not_before = Some(Instant::now() + rec.backoff.unwrap_or(BACKOFF_START));
                self.events.pod(pod, Kind::Warning, "Failed", format!("Error: {e}"));
            }
        }
    }

    fn view<'a>(records: &'a HashMap<String, Record>, containers: &'a [Container]) -> Vec<ContainerView<'a>> {
        containers
            .iter()
            .map(|c| {
                let rec = records.get(&c.name);
                ContainerView {
                    container: c,
                    id: rec.and_then(|r| r.id.as_deref()),
                    image_id: rec.map(|r| r.image_id.as_str()).unwrap_or_default(),
                    state: rec.and_then(|r| r.state.as_ref()),
                    last: rec.and_then(|r| r.last.as_ref()),
                    restarts: rec.map_or(0, |r| r.restarts),
                    waiting: rec.and_then(|r| r.waiting.as_ref()),
                }
            })
            .collect()
    }

    /// Writes the pod's status when it changed.
    async fn report(&mut self, pod: &Pod) -> kube::Result<()> {
        let spec = pod.spec.clone().unwrap_or_default();
        let init = Self::view(&self.init, spec.init_containers.as_deref().unwrap_or_default());
        let main = Self::view(&self.main, &spec.containers);
        let status = status::pod_status(status::Inputs {
            pod,
            init: &init,
            main: &main,
            pod_ip: self.sandbox.as_ref().and_then(|s| s.ip.as_deref()),
            host_ip: self.host_ip.as_deref(),
            start_time: self.start_time.as_deref(),
        });
        // Transition times are recomputed until the watch shows the last write; they alone
        // are no reason to write again.
        if self.last_status.as_ref().map(without_times) == Some(without_times(&status)) {
            return Ok(());
        }
        let patch = json!({"status": status});
        self.pods.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        self.last_status = Some(status);
        Ok(())
    }

    /// Stops every container (SIGTERM, SIGKILL after `grace`) and removes the sandbox.
    async fn teardown(&mut self, grace: Duration) {
        let ids: Vec<String> = self
            .init
            .values()
            .chain(self.main.values())
            .flat_map(|r| r.id.iter().chain(r.previous_id.iter()).cloned())
            .collect();
        let stops = ids.iter().map(|id| self.runtime.stop_container(id, grace));
        for r in futures::future::join_all(stops).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "stopping a container failed");
            }
        }
        for id in &ids {
            let _ = self.runtime.remove_container(id).await;
        }
        self.init.clear();
        self.main.clear();
        if let Some(s) = self.sandbox.take()
            && let Err(e) = self.runtime.remove_sandbox(&s).await
        {
            tracing::warn!(sandbox = %s.id, error = %e, "removing a sandbox failed");
        }
    }

    /// Everything is stopped: the pod may go (grace 0, only this very pod).
    async fn finish_deletion(&self, pod: &Pod) {
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: pod.uid(), resource_version: None }),
            ..Default::default()
        };
        match self.pods.delete(&pod.name_any(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => tracing::warn!(pod = %pod.name_any(), error = %e, "finishing the pod's deletion failed"),
        }
    }
}

/// Upstream's back-off: 10 s, doubling, at most 5 min.
fn next_backoff(previous: Option<Duration>) -> Duration {
    previous.map_or(BACKOFF_START, |d| (d * 2).min(BACKOFF_MAX))
}

fn without_times(status: &Value) -> Value {
    let mut s = status.clone();
    if let Some(cs) = s["conditions"].as_array_mut() {
        for c in cs {
            if let Some(o) = c.as_object_mut() {
                o.remove("lastTransitionTime");
            }
        }
    }
    s
}

/// A timestamp as the API writes them.
pub fn rfc3339(t: SystemTime) -> String {
    k8s_openapi::jiff::Timestamp::try_from(t).map(|t| t.to_string()).unwrap_or_default()
}
