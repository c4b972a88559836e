//! Liveness, readiness and startup probes, run like upstream's prober: one task per probe of a
//! running container, on the probe's own period, sending thresholded results to the pod's
//! worker over a channel (which wakes it). A container's probers live as long as that
//! container instance; the worker drops them when it exits or is replaced.
//!
//! - Readiness starts as failure, liveness as success; a result changes only after
//!   `successThreshold` consecutive successes or `failureThreshold` consecutive failures.
//! - A startup probe gates the other two: they do not run until it succeeded.
//! - No probe runs before `initialDelaySeconds` have passed since the container started.
//! - Each failed attempt is an `Unhealthy` Event (`Liveness probe failed: ...`).
//! - Liveness or startup failure past the threshold is reported once and the prober stops;
//!   the worker kills the container and restarts it per `restartPolicy`.
//! - A runtime that cannot exec or dial (`sim`) answers `Unsupported`: the probe counts as
//!   succeeded and its prober ends, so simulated pods with probes become ready.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::probe_handlers::{self, Outcome};
use crate::events::{Kind as EventKind, Recorder};
use crate::runtime::{Runtime, Sandbox};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// What a probe reports before its first verdict.
    fn initial(self) -> bool {
        self == ProbeKind::Liveness
    }
}

/// A prober's verdict changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub container: String,
    /// The container instance probed; results for a replaced instance are stale.
    pub id: String,
    pub kind: ProbeKind,
    pub success: bool,
}

/// The probe's settings with upstream's defaults and floors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

fn at_least_one(v: Option<i32>, default: i32) -> u32 {
    u32::try_from(v.unwrap_or(default)).unwrap_or(1).max(1)
}

impl Timing {
    pub fn of(p: &Probe) -> Self {
        Self {
            initial_delay: Duration::from_secs(u64::try_from(p.initial_delay_seconds.unwrap_or(0)).unwrap_or(0)),
            period: Duration::from_secs(at_least_one(p.period_seconds, 10).into()),
            timeout: Duration::from_secs(at_least_one(p.timeout_seconds, 1).into()),
            success_threshold: at_least_one(p.success_threshold, 1),
            failure_threshold: at_least_one(p.failure_threshold, 3),
        }
    }
}

/// Consecutive-result counting: the result flips after enough equal attempts in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    success_threshold: u32,
    failure_threshold: u32,
    last: Option<bool>,
    run: u32,
    result: bool,
}

impl Threshold {
    pub fn new(initial: bool, timing: &Timing) -> Self {
        Self {
            success_threshold: timing.success_threshold,
            failure_threshold: timing.failure_threshold,
            last: None,
            run: 0,
            result: initial,
        }
    }

    /// Records one attempt; returns the new result when it changes.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let needed = if ok { self.success_threshold } else { self.failure_threshold };
        if self.run < needed || self.result == ok {
            return None;
        }
        self.result = ok;
        Some(ok)
    }
}

/// The probers of one container instance; dropping it stops them.
pub struct Probers(Vec<JoinHandle<()>>);

impl Drop for Probers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// What a prober needs.
#[derive(Clone)]
pub struct Target {
    pub runtime: Arc<dyn Runtime>,
    pub sandbox: Sandbox,
    pub pod: Pod,
    pub container: Container,
    pub id: String,
    pub events: Recorder,
    pub updates: mpsc::UnboundedSender<Update>,
}

/// Starts the container's probers (none when it has no probes).
pub fn spawn(target: Target) -> Option<Probers> {
    let c = &target.container;
    let probes = [
        (ProbeKind::Startup, c.startup_probe.clone()),
        (ProbeKind::Liveness, c.liveness_probe.clone()),
        (ProbeKind::Readiness, c.readiness_probe.clone()),
    ];
    if probes.iter().all(|(_, p)| p.is_none()) {
        return None;
    }
    let started_at = tokio::time::Instant::now();
    let (started_tx, started_rx) = watch::channel(c.startup_probe.is_none());
    let mut started_tx = Some(started_tx);
    let tasks = probes
        .into_iter()
        .filter_map(|(kind, probe)| probe.map(|p| (kind, p)))
        .map(|(kind, probe)| {
            let target = target.clone();
            let gate = started_rx.clone();
            let opened = if kind == ProbeKind::Startup { started_tx.take() } else { None };
            tokio::spawn(run(target, kind, probe, started_at, gate, opened))
        })
        .collect();
    Some(Probers(tasks))
}

async fn run(
    t: Target,
    kind: ProbeKind,
    probe: Probe,
    started_at: tokio::time::Instant,
    mut gate: watch::Receiver<bool>,
    opened: Option<watch::Sender<bool>>,
) {
    if kind != ProbeKind::Startup && gate.wait_for(|started| *started).await.is_err() {
        return;
    }
    let timing = Timing::of(&probe);
    let mut threshold = Threshold::new(kind.initial(), &timing);
    let send = |success: bool| {
        let _ = t.updates.send(Update { container: t.container.name.clone(), id: t.id.clone(), kind, success });
    };
    tokio::time::sleep_until(started_at + timing.initial_delay).await;
    let mut ticks = tokio::time::interval(timing.period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let outcome = probe_handlers::check(&*t.runtime, &t.sandbox, &t.container, &t.id, &probe, timing.timeout).await;
        let ok = match outcome {
            Outcome::Success => true,
            Outcome::Unsupported => {
                tracing::debug!(container = %t.container.name, "the runtime cannot probe; counting the probe as passed");
                if kind != ProbeKind::Liveness {
                    send(true);
                }
                if let Some(o) = &opened {
                    let _ = o.send(true);
                }
                return;
            }
            Outcome::Failure(message) => {
                t.events.pod(
                    &t.pod,
                    EventKind::Warning,
                    "Unhealthy",
                    format!("{} probe failed: {message}", kind.title()),
                );
                false
            }
        };
        if let Some(result) = threshold.observe(ok) {
            send(result);
            if let (Some(o), true) = (&opened, result) {
                let _ = o.send(true);
            }
            // Liveness and startup verdicts end this instance: the worker kills it, or (for a
            // startup success) the other probes take over.
            if kind != ProbeKind::Readiness && (kind == ProbeKind::Startup || !result) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(success: i32, failure: i32) -> Timing {
        Timing::of(&Probe { success_threshold: Some(success), failure_threshold: Some(failure), ..Default::default() })
    }

    #[test]
    fn defaults_and_floors_are_upstreams() {
        let t = Timing::of(&Probe::default());
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
        assert_eq!(t.initial_delay, Duration::ZERO);
        let t = Timing::of(&Probe { period_seconds: Some(0), failure_threshold: Some(-2), ..Default::default() });
        assert_eq!((t.period, t.failure_threshold), (Duration::from_secs(1), 1));
    }

    #[test]
    fn readiness_flips_after_consecutive_results() {
        let mut r = Threshold::new(ProbeKind::Readiness.initial(), &timing(2, 3));
        assert_eq!(r.observe(true), None, "one success of two");
        assert_eq!(r.observe(true), Some(true));
        assert_eq!(r.observe(true), None, "no change, no news");
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(true), None, "a success resets the failure run");
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), Some(false), "three failures in a row");
    }

    #[test]
    fn liveness_starts_alive_and_fails_at_the_threshold() {
        let mut l = Threshold::new(ProbeKind::Liveness.initial(), &timing(1, 2));
        assert_eq!(l.observe(true), None);
        assert_eq!(l.observe(false), None);
        assert_eq!(l.observe(false), Some(false));
        let mut s = Threshold::new(ProbeKind::Startup.initial(), &timing(1, 1));
        assert_eq!(s.observe(true), Some(true));
    }
}
