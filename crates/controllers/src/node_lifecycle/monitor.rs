//! The monitor loop: one watch of the Leases in `kube-node-lease` and one of the Nodes feed the
//! [tracker](super::health); every period the tracker says which nodes changed health, and the
//! writes run on background tasks (one at a time per node) so a slow API never delays the
//! heartbeats the loop is timing.

use std::collections::HashSet;
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
}

/// Before a host is declared lost, one read of its Lease: a watch that lags behind a burst of
/// writes must not fail over a host that is still renewing. `Some` when the renewal moved on.
async fn renewed_since(client: &kube::Client, node: &str, last_seen: Option<MicroTime>) -> Option<Option<MicroTime>> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let lease = leases.get_opt(node).await.ok().flatten()?;
    let renew = lease.spec.and_then(|s| s.renew_time);
    (renew != last_seen).then_some(renew)
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
    let mut tasks: JoinSet<(Transition, Outcome)> = JoinSet::new();
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
                Ok((transition, outcome)) => {
                    in_flight.remove(transition.node());
                    match outcome {
                        Outcome::Done(Ok(())) => tracker.done(&transition, Instant::now()),
                        Outcome::Done(Err(e)) => tracing::warn!(controller = "node-lifecycle", node = transition.node(), error = %describe(&e), "retrying next tick"),
                        Outcome::StillRenewing(renew) => {
                            tracing::debug!(controller = "node-lifecycle", node = transition.node(), "lease renewed after all (the watch lagged)");
                            tracker.lease_seen(transition.node(), renew.as_ref(), Instant::now());
                        }
                    }
                }
                Err(e) => tracing::error!(controller = "node-lifecycle", error = %e, "a node action panicked"),
            },
            _ = tick.tick() => {
                if !nodes_listed {
                    continue;
                }
                let now = Instant::now();
                let snapshot = nodes.state();
                tracker.sync_nodes(snapshot.iter().map(|n| (n.metadata.name.as_deref().unwrap_or_default(), is_tainted(n))), now);
                for transition in tracker.due(now) {
                    if !in_flight.insert(transition.node().to_string()) {
                        continue;
                    }
                    let (client, recorder) = (client.clone(), recorder.clone());
                    let last_seen = tracker.last_renew_time(transition.node());
                    tasks.spawn(async move {
                        let outcome = match &transition {
                            Transition::Lose(n) => match renewed_since(&client, n, last_seen).await {
                                Some(renew) => Outcome::StillRenewing(renew),
                                None => Outcome::Done(actions::lose(&client, &recorder, n).await),
                            },
                            Transition::Sweep(n) => Outcome::Done(actions::sweep(&client, &recorder, n).await),
                            Transition::Recover(n) => Outcome::Done(actions::recover(&client, n).await),
                        };
                        (transition, outcome)
                    });
                }
            }
        }
    }
    // Writes in flight finish; nothing new starts.
    while tasks.join_next().await.is_some() {}
}
