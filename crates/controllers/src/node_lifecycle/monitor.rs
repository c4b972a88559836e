//! The monitor loop: one watch of the Leases in `kube-node-lease` and one of the Nodes feed the
//! [tracker](super::health); every period the tracker says which nodes changed health, and the
//! writes run on background tasks (one at a time per node) so a slow API never delays the
//! heartbeats the loop is timing.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::Config;
use super::actions::{self, ActionError, is_tainted};
use super::health::{Tracker, Transition};
use crate::describe;
use crate::events::Recorder;

/// The namespace of the node heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

enum Outcome {
    Done(Result<(), ActionError>),
    /// The Lease moved on since the watch last showed it: the host is alive.
    StillRenewing(Option<MicroTime>),
    /// A write the whole batch shared failed (and was logged): the tick after tries again.
    Retry,
}

/// Before a host is declared lost, one read of its Lease: a watch that lags behind a burst of
/// writes must not fail over a host that is still renewing. `Some` when the renewal moved on.
async fn renewed_since(client: &kube::Client, node: &str, last_seen: Option<MicroTime>) -> Option<Option<MicroTime>> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let lease = leases.get_opt(node).await.ok().flatten()?;
    let renew = lease.spec.and_then(|s| s.renew_time);
    (renew != last_seen).then_some(renew)
}

/// Node writes in flight at once within a batch.
const PARALLEL_NODE_WRITES: usize = 16;

/// One tick's transitions: the node writes a few at a time, then one sweep for every node
/// found lost (or due for another look), so a rack lost at once costs one pod list, not one
/// per host.
async fn act(
    client: kube::Client,
    recorder: Recorder,
    batch: Vec<(Transition, Option<MicroTime>)>,
) -> Vec<(Transition, Outcome)> {
    let (client, recorder) = (&client, &recorder);
    let written: Vec<(Transition, Result<bool, Outcome>)> = futures::stream::iter(batch)
        .map(|(transition, last_seen)| async move {
            let result = match &transition {
                Transition::Lose(n) => match renewed_since(client, n, last_seen).await {
                    Some(renew) => Err(Outcome::StillRenewing(renew)),
                    None => {
                        actions::mark_lost(client, recorder, n).await.map(|()| true).map_err(|e| Outcome::Done(Err(e)))
                    }
                },
                Transition::Sweep(_) => Ok(true),
                Transition::Recover(n) => {
                    actions::recover(client, n).await.map(|()| false).map_err(|e| Outcome::Done(Err(e)))
                }
            };
            (transition, result)
        })
        .buffer_unordered(PARALLEL_NODE_WRITES)
        .collect()
        .await;
    let mut outcomes = Vec::new();
    let mut sweeping = Vec::new();
    for (transition, result) in written {
        match result {
            Ok(true) => sweeping.push(transition),
            Ok(false) => outcomes.push((transition, Outcome::Done(Ok(())))),
            Err(outcome) => outcomes.push((transition, outcome)),
        }
    }
    let nodes: BTreeSet<String> = sweeping.iter().map(|t| t.node().to_string()).collect();
    match actions::sweep(client, recorder, &nodes).await {
        Ok(mut failures) => outcomes.extend(sweeping.into_iter().map(|t| {
            let result = failures.remove(t.node()).map_or(Ok(()), Err);
            (t, Outcome::Done(result))
        })),
        Err(e) => {
            tracing::warn!(controller = "node-lifecycle", error = %describe(&e), "sweep failed; retrying next tick");
            outcomes.extend(sweeping.into_iter().map(|t| (t, Outcome::Retry)));
        }
    }
    outcomes
}

/// Runs until `shutdown` resolves.
pub async fn run_until(client: kube::Client, config: Config, shutdown: impl Future<Output = ()> + Send + 'static) {
    let recorder = Recorder::new(client.clone(), "node-controller");
    let (nodes, writer) = reflector::store::<Node>();
    let mut node_events =
        reflector::reflector(writer, watcher(Api::<Node>::all(client.clone()), watcher::Config::default()))
            .default_backoff()
            .boxed();
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let mut lease_events = watcher(leases, watcher::Config::default()).default_backoff().boxed();
    let mut tick = tokio::time::interval(config.monitor_period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut tracker = Tracker::new(config.grace, config.resweep);
    let mut nodes_listed = false;
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<Vec<(Transition, Outcome)>> = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(event) = node_events.next() => match event {
                Ok(watcher::Event::InitDone) => nodes_listed = true,
                Ok(_) => {}
                Err(e) => tracing::debug!(controller = "node-lifecycle", error = %describe(&e), "node watch error; retrying"),
            },
            Some(event) = lease_events.next() => match event {
                Ok(watcher::Event::Apply(lease) | watcher::Event::InitApply(lease)) => {
                    let renew = lease.spec.as_ref().and_then(|s| s.renew_time.as_ref());
                    tracker.lease_seen(&lease.name_any(), renew, Instant::now());
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(controller = "node-lifecycle", error = %describe(&e), "lease watch error; retrying"),
            },
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => match joined {
                Ok(outcomes) => for (transition, outcome) in outcomes {
                    in_flight.remove(transition.node());
                    match outcome {
                        Outcome::Done(Ok(())) => tracker.done(&transition, Instant::now()),
                        Outcome::Done(Err(e)) => tracing::warn!(controller = "node-lifecycle", node = transition.node(), error = %describe(&e), "retrying next tick"),
                        Outcome::Retry => {}
                        Outcome::StillRenewing(renew) => {
                            tracing::debug!(controller = "node-lifecycle", node = transition.node(), "lease renewed after all (the watch lagged)");
                            tracker.lease_seen(transition.node(), renew.as_ref(), Instant::now());
                        }
                    }
                },
                Err(e) => tracing::error!(controller = "node-lifecycle", error = %e, "a node action panicked"),
            },
            _ = tick.tick() => {
                if !nodes_listed {
                    continue;
                }
                let now = Instant::now();
                let snapshot = nodes.state();
                tracker.sync_nodes(snapshot.iter().map(|n| (n.metadata.name.as_deref().unwrap_or_default(), is_tainted(n))), now);
                let batch: Vec<(Transition, Option<MicroTime>)> = tracker
                    .due(now)
                    .into_iter()
                    .filter(|t| in_flight.insert(t.node().to_string()))
                    .map(|t| {
                        let last_seen = tracker.last_renew_time(t.node());
                        (t, last_seen)
                    })
                    .collect();
                if !batch.is_empty() {
                    tasks.spawn(act(client.clone(), recorder.clone(), batch));
                }
            }
        }
    }
    // Writes in flight finish; nothing new starts.
    while tasks.join_next().await.is_some() {}
}
