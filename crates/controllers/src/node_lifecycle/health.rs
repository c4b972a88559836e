//! Node health as upstream's node lifecycle controller judges it: a node is lost when its Lease
//! has not been seen renewed for the grace period, measured on this controller's own clock from
//! when it last saw `renewTime` change (so the hosts' clocks do not matter), or from when it
//! first saw the node. All in memory: a tick costs O(nodes) and no API call.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use tokio::time::Instant;

/// A node's lifecycle as this controller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Renewing its Lease.
    Healthy,
    /// Marked lost (tainted, its pods failed) and not renewing.
    Lost,
}

/// What a tick asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Mark the node lost: condition Unknown, taints, its pods Failed.
    Lose(String),
    /// Fail the pods bound to a lost node again (pods that reached it since the last sweep).
    Sweep(String),
    /// The Lease is renewed again: lift the taints.
    Recover(String),
}

impl Transition {
    pub fn node(&self) -> &str {
        match self {
            Transition::Lose(n) | Transition::Sweep(n) | Transition::Recover(n) => n,
        }
    }
}

struct NodeState {
    health: Health,
    first_seen: Instant,
    swept_at: Option<Instant>,
}

struct Renewal {
    renew_time: Option<MicroTime>,
    seen_at: Instant,
}

/// The health of every node, from Lease renewals.
pub struct Tracker {
    grace: Duration,
    resweep: Duration,
    nodes: HashMap<String, NodeState>,
    renewals: HashMap<String, Renewal>,
}

impl Tracker {
    /// `grace`: how long a Lease may go unrenewed; `resweep`: how often a lost node's pods are
    /// looked at again.
    pub fn new(grace: Duration, resweep: Duration) -> Self {
        Self { grace, resweep, nodes: HashMap::new(), renewals: HashMap::new() }
    }

    /// A Lease event: a changed `renewTime` counts as a heartbeat at `now`.
    pub fn lease_seen(&mut self, node: &str, renew_time: Option<&MicroTime>, now: Instant) {
        match self.renewals.get_mut(node) {
            Some(r) if r.renew_time.as_ref() == renew_time => {}
            Some(r) => {
                r.renew_time = renew_time.cloned();
                r.seen_at = now;
            }
            None => {
                self.renewals.insert(node.to_string(), Renewal { renew_time: renew_time.cloned(), seen_at: now });
            }
        }
    }

    /// The current set of nodes (from the node cache): new ones start their grace now (lost
    /// already when they carry the unreachable taint), deleted ones are forgotten.
    pub fn sync_nodes<'a>(&mut self, nodes: impl IntoIterator<Item = (&'a str, bool)>, now: Instant) {
        let mut present = std::collections::HashSet::new();
        for (name, tainted) in nodes {
            present.insert(name.to_string());
            self.nodes.entry(name.to_string()).or_insert(NodeState {
                health: if tainted { Health::Lost } else { Health::Healthy },
                first_seen: now,
                swept_at: None,
            });
        }
        self.nodes.retain(|n, _| present.contains(n));
        self.renewals.retain(|n, _| present.contains(n));
    }

    /// The `renewTime` last seen on the node's Lease.
    pub fn last_renew_time(&self, node: &str) -> Option<MicroTime> {
        self.renewals.get(node).and_then(|r| r.renew_time.clone())
    }

    /// When the node was last heard from.
    fn heartbeat(&self, node: &str, state: &NodeState) -> Instant {
        match self.renewals.get(node) {
            Some(r) => r.seen_at.max(state.first_seen),
            None => state.first_seen,
        }
    }

    /// What is due at `now`.
    pub fn due(&self, now: Instant) -> Vec<Transition> {
        let mut due = Vec::new();
        for (name, state) in &self.nodes {
            let stale = now.duration_since(self.heartbeat(name, state)) > self.grace;
            match (state.health, stale) {
                (Health::Healthy, true) => due.push(Transition::Lose(name.clone())),
                (Health::Lost, false) => due.push(Transition::Recover(name.clone())),
                (Health::Lost, true) if state.swept_at.is_none_or(|s| now.duration_since(s) >= self.resweep) => {
                    due.push(Transition::Sweep(name.clone()));
                }
                _ => {}
            }
        }
        due
    }

    /// A transition was carried out at `now`.
    pub fn done(&mut self, transition: &Transition, now: Instant) {
        let Some(state) = self.nodes.get_mut(transition.node()) else { return };
        match transition {
            Transition::Lose(_) | Transition::Sweep(_) => {
                state.health = Health::Lost;
                state.swept_at = Some(now);
            }
            Transition::Recover(_) => {
                state.health = Health::Healthy;
                state.swept_at = None;
            }
        }
    }

    pub fn health(&self, node: &str) -> Option<Health> {
        self.nodes.get(node).map(|s| s.health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    const GRACE: Duration = Duration::from_secs(10);

    fn renew(seconds: i64) -> MicroTime {
        MicroTime(Timestamp::from_second(seconds).expect("time"))
    }

    #[test]
    fn a_thousand_nodes_one_stops_renewing() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(GRACE, Duration::from_secs(30));
        let names: Vec<String> = (0..1000).map(|i| format!("host-{i}")).collect();
        tracker.sync_nodes(names.iter().map(|n| (n.as_str(), false)), t0);
        for step in 1..=4u64 {
            let now = t0 + Duration::from_secs(5 * step);
            for (i, n) in names.iter().enumerate() {
                // host-7 renews once, at the start; the others every 5 s (with a skewed clock:
                // only the change matters, not the value).
                if i != 7 || step == 1 {
                    tracker.lease_seen(n, Some(&renew(1_000_000 + 5 * step as i64 - 3600)), now);
                }
            }
            let due = tracker.due(now);
            // host-7 was last seen at 5 s; stale after 15 s.
            if 5 * step > 15 {
                assert_eq!(due, vec![Transition::Lose("host-7".into())], "at {}s", 5 * step);
                tracker.done(&due[0], now);
            } else {
                assert!(due.is_empty(), "at {}s: {due:?}", 5 * step);
            }
        }
        assert_eq!(tracker.health("host-7"), Some(Health::Lost));
        let now = t0 + Duration::from_secs(21);
        tracker.lease_seen("host-7", Some(&renew(42)), now);
        assert_eq!(tracker.due(now), vec![Transition::Recover("host-7".into())]);
    }

    #[test]
    fn transitions_table() {
        let t0 = Instant::now();
        let late = t0 + GRACE + Duration::from_secs(1);
        // (initially tainted, renewed just now, expected transition at `late`)
        let cases = [
            (false, false, Some(Transition::Lose("n".into()))),
            (false, true, None),
            (true, true, Some(Transition::Recover("n".into()))),
            (true, false, Some(Transition::Sweep("n".into()))),
        ];
        for (tainted, renewed, want) in cases {
            let mut tracker = Tracker::new(GRACE, Duration::from_secs(30));
            tracker.sync_nodes([("n", tainted)], t0);
            tracker.lease_seen("n", Some(&renew(1)), t0);
            if renewed {
                tracker.lease_seen("n", Some(&renew(2)), late);
            }
            assert_eq!(tracker.due(late).into_iter().next(), want, "tainted={tainted} renewed={renewed}");
        }
    }

    #[test]
    fn an_unchanged_renew_time_is_no_heartbeat() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(GRACE, Duration::from_secs(30));
        tracker.sync_nodes([("n", false)], t0);
        tracker.lease_seen("n", Some(&renew(1)), t0);
        let late = t0 + GRACE + Duration::from_secs(1);
        tracker.lease_seen("n", Some(&renew(1)), late);
        assert_eq!(tracker.due(late), vec![Transition::Lose("n".into())]);
    }
}
