//! One task per pod bound to the host: drives the runtime toward the pod's spec (sandbox,
//! volumes, init containers in order, then the app containers, restarts per `restartPolicy`
//! with back-off, kills on failed liveness and startup probes), reports status like a kubelet,
//! and on deletion stops everything within the grace period and lets the API server remove the
//! pod.

mod probe;
mod probe_handlers;
mod volumes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use kube::api::{Api, DeleteParams, Patch, Preconditions};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::events::{Kind, Recorder};
use crate::runtime::{ContainerState, Runtime, RuntimeError, Sandbox};
use crate::status::{self, ContainerView, Waiting};
use probe::{ProbeKind, Probers};

/// How often a pod is re-checked without news from the API: soon while it is getting somewhere
/// (containers starting, backing off, exiting), rarely once everything runs, so a host with
/// thousands of steady pods does not spend its CPU looking at them.
const RESYNC_BUSY: Duration = Duration::from_secs(1);
const RESYNC_STEADY: Duration = Duration::from_secs(10);
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container that ran this long resets its back-off (upstream's rule).
const BACKOFF_RESET: Duration = Duration::from_secs(600);
/// How often configMap, secret and downwardAPI volumes are refreshed from the API (upstream
/// syncs them about once a minute too).
const VOLUME_REFRESH: Duration = Duration::from_secs(60);
/// A volume that keeps failing is reported again (FailedMount) after this long.
const MOUNT_EVENT_EVERY: Duration = Duration::from_secs(60);

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
    /// The running instance's probers.
    probers: Option<Probers>,
    /// Its startup probe succeeded.
    startup_ok: bool,
    /// Its readiness probe's current result.
    readiness_ok: bool,
    /// A liveness or startup probe failed: the instance is to be killed.
    kill: Option<ProbeKind>,
}

impl Record {
    /// The instance is gone (exited or replaced): so are its probe results.
    fn forget_probes(&mut self) {
        self.probers = None;
        self.startup_ok = false;
        self.readiness_ok = false;
        self.kill = None;
    }
}

/// Where the pod's volumes stand.
#[derive(Default)]
struct VolumeState {
    /// When they were last provided; `None` until the first success.
    prepared: Option<Instant>,
    /// The last failure reported as an Event, and when.
    reported: Option<(String, Instant)>,
}

pub struct Worker {
    pods: Api<Pod>,
    /// For status writes, sent without decoding the pod the server answers with.
    client: Client,
    namespace: String,
    config: volumes::Reader,
    runtime: Arc<dyn Runtime>,
    events: Recorder,
    host_ip: Option<String>,
    sandbox: Option<Sandbox>,
    init: HashMap<String, Record>,
    main: HashMap<String, Record>,
    start_time: Option<String>,
    last_status: Option<Value>,
    /// What `last_status` was computed from: a resync that finds the same inputs has nothing
    /// to write and skips computing the status (thousands of steady pods on a host).
    last_inputs: Option<ReportInputs>,
    volumes: VolumeState,
    probe_tx: mpsc::UnboundedSender<probe::Update>,
    probe_rx: Option<mpsc::UnboundedReceiver<probe::Update>>,
}

impl Worker {
    pub fn new(
        client: Client,
        namespace: &str,
        runtime: Arc<dyn Runtime>,
        events: Recorder,
        host_ip: Option<String>,
    ) -> Self {
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        Self {
            pods: Api::namespaced(client.clone(), namespace),
            config: volumes::Reader::new(client.clone(), namespace),
            client,
            namespace: namespace.to_string(),
            runtime,
            events,
            host_ip,
            sandbox: None,
            init: HashMap::new(),
            main: HashMap::new(),
            start_time: None,
            last_status: None,
            last_inputs: None,
            volumes: VolumeState::default(),
            probe_tx,
            probe_rx: Some(probe_rx),
        }
    }

    /// Runs until the pod is gone from the host. `updates` carries the latest pod, `None` once
    /// the API server no longer has it.
    pub async fn run(mut self, mut updates: watch::Receiver<Option<Arc<Pod>>>) {
        let mut probes = self.probe_rx.take().expect("a worker runs once");
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
            let resync = self.resync_after();
            tokio::select! {
                changed = updates.changed() => {
                    if changed.is_err() {
                        // The host stopped: leave the pod's containers to the next agent run.
                        return;
                    }
                }
                Some(update) = probes.recv() => {
                    self.on_probe(update);
                    // Take every result that arrived meanwhile before syncing once.
                    while let Ok(update) = probes.try_recv() {
                        self.on_probe(update);
                    }
                }
                _ = tokio::time::sleep(resync) => {}
            }
        }
    }

    /// A prober's verdict on the container instance it probes.
    fn on_probe(&mut self, u: probe::Update) {
        let Some(rec) = self.main.get_mut(&u.container) else { return };
        if rec.id.as_deref() != Some(u.id.as_str()) {
            return;
        }
        match (u.kind, u.success) {
            (ProbeKind::Readiness, ok) => rec.readiness_ok = ok,
            (ProbeKind::Startup, true) => rec.startup_ok = true,
            (kind, false) => rec.kill = Some(kind),
            (ProbeKind::Liveness, true) => {}
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
            self.start_time = Some(canopy_client::time::now());
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
        self.config.clear();
        if !self.provide_volumes(pod).await {
            return self.report(pod).await;
        }
        let no_spec = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&no_spec);
        let policy = spec.restart_policy.as_deref().unwrap_or("Always");
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
                self.kill_if_unhealthy(pod, c).await;
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

    /// Resolves the pod's volumes and has the runtime provide them: until that first works, no
    /// container starts (each failure is a `FailedMount` Event, repeated now and then); after
    /// that, contents are refreshed every [`VOLUME_REFRESH`] and a failed refresh keeps the
    /// last contents.
    async fn provide_volumes(&mut self, pod: &Pod) -> bool {
        let has_volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).is_some_and(|v| !v.is_empty());
        let fresh = self.volumes.prepared.is_some_and(|t| t.elapsed() < VOLUME_REFRESH);
        if !has_volumes || fresh {
            return true;
        }
        let Some(sandbox) = self.sandbox.clone() else { return false };
        let result = match self.config.volumes(pod).await {
            Ok(volumes) => self.runtime.prepare_volumes(&sandbox, pod, &volumes).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                self.volumes = VolumeState { prepared: Some(Instant::now()), reported: None };
                true
            }
            Err(message) if self.volumes.prepared.is_some() => {
                tracing::warn!(pod = %pod.name_any(), error = %message, "refreshing volumes failed; keeping their contents");
                self.volumes.prepared = Some(Instant::now());
                true
            }
            Err(message) => {
                let repeat = self
                    .volumes
                    .reported
                    .as_ref()
                    .is_some_and(|(m, at)| *m == message && at.elapsed() < MOUNT_EVENT_EVERY);
                if !repeat {
                    self.events.pod(pod, Kind::Warning, "FailedMount", message.clone());
                    self.volumes.reported = Some((message, Instant::now()));
                }
                false
            }
        }
    }

    /// Kills a running container whose liveness or startup probe failed; the restart logic
    /// then brings it back per `restartPolicy`.
    async fn kill_if_unhealthy(&mut self, pod: &Pod, c: &Container) {
        let Some(rec) = self.main.get_mut(&c.name) else { return };
        let Some(kind) = rec.kill.take() else { return };
        let (Some(id), Some(ContainerState::Running { .. })) = (rec.id.clone(), &rec.state) else { return };
        let which = if kind == ProbeKind::Startup { "startup" } else { "liveness" };
        self.events.pod(
            pod,
            Kind::Normal,
            "Killing",
            format!("Container {} failed {which} probe, will be restarted", c.name),
        );
        let probe = if kind == ProbeKind::Startup { &c.startup_probe } else { &c.liveness_probe };
        let grace = probe
            .as_ref()
            .and_then(|p| p.termination_grace_period_seconds)
            .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
            .unwrap_or(30)
            .max(0);
        rec.forget_probes();
        if let Err(e) = self.runtime.stop_container(&id, Duration::from_secs(grace as u64)).await {
            tracing::warn!(pod = %pod.name_any(), container = %c.name, error = %e, "killing an unhealthy container failed");
        }
        if let Ok(state) = self.runtime.container_state(&id).await {
            rec.state = Some(state);
        }
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
            if matches!(state, ContainerState::Exited { .. }) {
                rec.forget_probes();
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
        let secrets = self.config.pull_secrets(pod).await;
        match runtime.pull_image(pod, c, &secrets).await {
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
        let resolved = match self.config.resolve_env(pod, c, sandbox.ip.as_deref()).await {
            Ok(resolved) => resolved,
            Err(e) => {
                // Retried at every sync, without back-off, as upstream does; reported once.
                let waiting = Waiting { reason: "CreateContainerConfigError".into(), message: e.to_string() };
                if rec.waiting.as_ref() != Some(&waiting) {
                    self.events.pod(pod, Kind::Warning, "Failed", format!("Error: {e}"));
                }
                rec.waiting = Some(waiting);
                return;
            }
        };
        let started = runtime.start_container(&sandbox, pod, &resolved).await;
        report_runtime_events(runtime.as_ref(), &self.events, pod);
        match started {
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
                rec.forget_probes();
                // Probers get their own copy of the pod; most containers have none to run.
                let probed = c.startup_probe.is_some() || c.liveness_probe.is_some() || c.readiness_probe.is_some();
                if !init && probed {
                    rec.probers = probe::spawn(probe::Target {
                        runtime: runtime.clone(),
                        sandbox: sandbox.clone(),
                        pod: pod.clone(),
                        container: resolved,
                        id: id.clone(),
                        events: self.events.clone(),
                        updates: self.probe_tx.clone(),
                    });
                }
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
                // Whether it runs at all is status.rs's to judge; these are the probes' verdicts.
                let started = c.startup_probe.is_none() || rec.is_some_and(|r| r.startup_ok);
                let ready = started && (c.readiness_probe.is_none() || rec.is_some_and(|r| r.readiness_ok));
                ContainerView {
                    container: c,
                    ready,
                    started,
                    id: rec.and_then(|r| r.id.as_deref()),
                    image_id: rec.map(|r| r.image_id.as_str()).unwrap_or_default(),
                    state: rec.and_then(|r| r.state.as_ref()),
                    last: rec.and_then(|r| r.last.as_ref()),
                    previous_id: rec.and_then(|r| r.previous_id.as_deref()),
                    restarts: rec.map_or(0, |r| r.restarts),
                    waiting: rec.and_then(|r| r.waiting.as_ref()),
                }
            })
            .collect()
    }

    /// Writes the pod's status when it changed.
    async fn report(&mut self, pod: &Pod) -> kube::Result<()> {
        let spec = pod.spec.as_ref();
        let init = Self::view(&self.init, spec.and_then(|s| s.init_containers.as_deref()).unwrap_or_default());
        let main = Self::view(&self.main, spec.map(|s| s.containers.as_slice()).unwrap_or_default());
        let pod_ip = self.sandbox.as_ref().and_then(|s| s.ip.as_deref());
        let inputs = ReportInputs::new(pod, &init, &main, pod_ip);
        if self.last_inputs.as_ref() == Some(&inputs) {
            return Ok(());
        }
        let status = status::pod_status(status::Inputs {
            pod,
            init: &init,
            main: &main,
            pod_ip,
            host_ip: self.host_ip.as_deref(),
            start_time: self.start_time.as_deref(),
        });
        // Transition times are recomputed until the watch shows the last write; they alone
        // are no reason to write again.
        if self.last_status.as_ref().is_some_and(|last| same_but_times(last, &status)) {
            self.last_inputs = Some(inputs);
            return Ok(());
        }
        // Borrowed into the patch body (`json!` would copy the status first).
        let patch = StatusPatch { status: &status };
        canopy_client::unread::patch_status::<Pod, _>(
            &self.client,
            &self.namespace,
            &pod.name_any(),
            &Patch::Merge(&patch),
        )
        .await?;
        self.last_status = Some(status);
        self.last_inputs = Some(inputs);
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

#[derive(serde::Serialize, Debug)]
struct StatusPatch<'a> {
    status: &'a Value,
}

/// The inputs of a pod's status, owned and comparable (see `Worker::last_inputs`). The pod
/// stands in by its resourceVersion: any change to it, by anyone, is a new version.
#[derive(PartialEq)]
struct ReportInputs {
    resource_version: Option<String>,
    containers: Vec<ViewKey>,
    pod_ip: Option<String>,
}

#[derive(PartialEq)]
struct ViewKey {
    name: String,
    id: Option<String>,
    image_id: String,
    state: Option<ContainerState>,
    last: Option<ContainerState>,
    previous_id: Option<String>,
    restarts: i32,
    waiting: Option<Waiting>,
    started: bool,
    ready: bool,
}

impl ReportInputs {
    fn new(pod: &Pod, init: &[ContainerView<'_>], main: &[ContainerView<'_>], pod_ip: Option<&str>) -> Self {
        let key = |v: &ContainerView<'_>| ViewKey {
            name: v.container.name.clone(),
            id: v.id.map(str::to_string),
            image_id: v.image_id.to_string(),
            state: v.state.cloned(),
            last: v.last.cloned(),
            previous_id: v.previous_id.map(str::to_string),
            restarts: v.restarts,
            waiting: v.waiting.cloned(),
            started: v.started,
            ready: v.ready,
        };
        Self {
            resource_version: pod.metadata.resource_version.clone(),
            containers: init.iter().chain(main).map(key).collect(),
            pod_ip: pod_ip.map(str::to_string),
        }
    }
}

/// Upstream's back-off: 10 s, doubling, at most 5 min.
fn next_backoff(previous: Option<Duration>) -> Duration {
    previous.map_or(BACKOFF_START, |d| (d * 2).min(BACKOFF_MAX))
}

/// Whether two statuses differ in more than their conditions' transition times (compared in
/// place: a host compares thousands of pod statuses).
fn same_but_times(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return a == b };
    let conditions_match = |x: &Value, y: &Value| match (x.as_array(), y.as_array()) {
        (Some(xs), Some(ys)) => {
            xs.len() == ys.len()
                && xs.iter().zip(ys).all(|(c, d)| match (c.as_object(), d.as_object()) {
                    (Some(c), Some(d)) => {
                        let keys = |m: &serde_json::Map<String, Value>| {
                            m.keys().filter(|k| *k != "lastTransitionTime").count()
                        };
                        keys(c) == keys(d)
                            && c.iter().filter(|(k, _)| *k != "lastTransitionTime").all(|(k, v)| d.get(k) == Some(v))
                    }
                    _ => c == d,
                })
        }
        _ => x == y,
    };
    a.len() == b.len()
        && a.iter().all(|(k, v)| match b.get(k) {
            Some(w) if k == "conditions" => conditions_match(v, w),
            Some(w) => v == w,
            None => false,
        })
}

/// A timestamp as the API writes them.
pub fn rfc3339(t: SystemTime) -> String {
    canopy_client::time::of_system(t)
}

/// Reports what the runtime did for the pod on its own (a VM boot, say) as its Events.
fn report_runtime_events(runtime: &dyn Runtime, events: &Recorder, pod: &Pod) {
    let Some(uid) = pod.metadata.uid.as_deref() else { return };
    for e in runtime.drain_events(uid) {
        events.pod(pod, Kind::of(e.warning), &e.reason, e.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_differing_only_in_transition_times_are_the_same() {
        let status = |ready: &str, t: &str| {
            json!({"phase": "Running", "conditions": [
                {"type": "Ready", "status": ready, "lastTransitionTime": t},
                {"type": "Initialized", "status": "True", "lastTransitionTime": t}]})
        };
        assert!(same_but_times(&status("True", "t1"), &status("True", "t2")));
        assert!(!same_but_times(&status("True", "t1"), &status("False", "t1")));
        let mut more = status("True", "t1");
        more["podIP"] = json!("10.0.0.1");
        assert!(!same_but_times(&status("True", "t1"), &more));
        assert!(!same_but_times(&more, &status("True", "t1")));
        let mut fewer = status("True", "t1");
        fewer["conditions"].as_array_mut().expect("conditions").pop();
        assert!(!same_but_times(&status("True", "t1"), &fewer));
        let mut untimed = status("True", "t1");
        untimed["conditions"][0].as_object_mut().expect("condition").remove("lastTransitionTime");
        assert!(same_but_times(&untimed, &status("True", "t2")));
    }
}
