//! A pod's status as a kubelet reports it: phase (upstream's rules), conditions, container
//! statuses with restart counts and last states, IPs and the start time.

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use crate::runtime::ContainerState;
use crate::worker::rfc3339;

/// Why a container is not running (CrashLoopBackOff, ErrImagePull ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

pub struct ContainerView<'a> {
    pub container: &'a Container,
    pub id: Option<&'a str>,
    pub image_id: &'a str,
    pub state: Option<&'a ContainerState>,
    pub last: Option<&'a ContainerState>,
    /// The container `last` describes, kept for `kubectl logs --previous`.
    pub previous_id: Option<&'a str>,
    pub restarts: i32,
    pub waiting: Option<&'a Waiting>,
    /// Past its startup probe, if it has one (reported only while it runs).
    pub started: bool,
    /// Started, and its readiness probe (if any) succeeds (reported only while it runs).
    pub ready: bool,
}

pub struct Inputs<'a> {
    pub pod: &'a Pod,
    pub init: &'a [ContainerView<'a>],
    pub main: &'a [ContainerView<'a>],
    pub pod_ip: Option<&'a str>,
    pub host_ip: Option<&'a str>,
    pub start_time: Option<&'a str>,
}

fn state_json(state: &ContainerState) -> Value {
    match state {
        ContainerState::Running { started_at } => json!({"running": {"startedAt": rfc3339(*started_at)}}),
        ContainerState::Exited { exit_code, reason, started_at, finished_at } => json!({"terminated": {
            "exitCode": exit_code, "reason": reason,
            "startedAt": rfc3339(*started_at), "finishedAt": rfc3339(*finished_at),
        }}),
    }
}

fn is_running(v: &ContainerView) -> bool {
    matches!(v.state, Some(ContainerState::Running { .. })) && v.waiting.is_none()
}

fn container_status(v: &ContainerView) -> Value {
    let state = match (v.waiting, v.state) {
        (Some(w), _) => json!({"waiting": {"reason": w.reason, "message": w.message}}),
        (None, Some(s)) => state_json(s),
        (None, None) => json!({"waiting": {"reason": "ContainerCreating"}}),
    };
    let mut s = json!({
        "name": v.container.name,
        "image": v.container.image.clone().unwrap_or_default(),
        "imageID": v.image_id,
        "state": state,
        "lastState": v.last.map_or(json!({}), |last| {
            let mut state = state_json(last);
            if let (Some(id), Some(t)) = (v.previous_id, state.get_mut("terminated")) {
                t["containerID"] = json!(id);
            }
            state
        }),
        "ready": v.ready && is_running(v),
        "restartCount": v.restarts,
        "started": v.started && is_running(v),
    });
    if let Some(id) = v.id {
        s["containerID"] = json!(id);
    }
    s
}

/// Upstream's pod phase from its containers and restart policy.
fn phase(policy: &str, init: &[ContainerView], main: &[ContainerView]) -> &'static str {
    let exited = |v: &ContainerView| match v.state {
        Some(ContainerState::Exited { exit_code, .. }) => Some(*exit_code),
        _ => None,
    };
    for v in init {
        match exited(v) {
            Some(0) => continue,
            Some(_) if policy == "Never" => return "Failed",
            _ => return "Pending",
        }
    }
    let (mut running, mut waiting, mut succeeded, mut failed) = (0, 0, 0, 0);
    for v in main {
        match (exited(v), v.state) {
            (Some(0), _) => succeeded += 1,
            (Some(_), _) => failed += 1,
            (None, Some(_)) if v.waiting.is_none() => running += 1,
            _ => waiting += 1,
        }
    }
    let restarts_pending = |v: &ContainerView| v.restarts > 0 || v.last.is_some();
    match () {
        _ if waiting > 0 && !main.iter().any(restarts_pending) => "Pending",
        _ if running > 0 || waiting > 0 => "Running",
        _ if policy == "Always" => "Running",
        _ if failed > 0 && policy == "OnFailure" => "Running",
        _ if failed > 0 => "Failed",
        _ if succeeded == main.len() => "Succeeded",
        _ => "Pending",
    }
}

fn condition(type_: &str, ok: bool, previous: &Pod, reason: Option<&str>) -> Value {
    let status = if ok { "True" } else { "False" };
    // Keep the transition time while the condition holds.
    let since = previous
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_ && c.status == status))
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| canopy_client::time::format(t.0))
        .unwrap_or_else(canopy_client::time::now);
    let mut c = json!({"type": type_, "status": status, "lastTransitionTime": since});
    if let Some(r) = reason.filter(|_| !ok) {
        c["reason"] = json!(r);
    }
    c
}

/// Every `readinessGates` condition is True in the pod's status (set by whoever owns it).
fn readiness_gates_pass(pod: &Pod) -> bool {
    let gates = pod.spec.as_ref().and_then(|s| s.readiness_gates.as_deref()).unwrap_or_default();
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    gates.iter().all(|g| conditions.iter().any(|c| c.type_ == g.condition_type && c.status == "True"))
}

pub fn pod_status(i: Inputs) -> Value {
    let policy = i.pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
    let phase = phase(policy, i.init, i.main);
    let initialized = i.init.iter().all(|v| matches!(v.state, Some(ContainerState::Exited { exit_code: 0, .. })));
    let containers_ready = phase == "Running" && i.main.iter().all(|v| v.ready && is_running(v));
    let gates_ready = readiness_gates_pass(i.pod);
    let ready_reason = if containers_ready { "ReadinessGatesNotReady" } else { "ContainersNotReady" };
    let mut conditions = vec![
        condition("PodReadyToStartContainers", i.pod_ip.is_some(), i.pod, None),
        condition("Initialized", initialized, i.pod, Some("ContainersNotInitialized")),
        condition("Ready", containers_ready && gates_ready, i.pod, Some(ready_reason)),
        condition("ContainersReady", containers_ready, i.pod, Some("ContainersNotReady")),
    ];
    // Conditions others own: the scheduler's, and those of the pod's readiness gates.
    let gates: Vec<&str> = i
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|g| g.condition_type.as_str())
        .collect();
    for c in i.pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default() {
        if c.type_ == "PodScheduled" || gates.contains(&c.type_.as_str()) {
            conditions.push(serde_json::to_value(c).unwrap_or_default());
        }
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "containerStatuses": i.main.iter().map(container_status).collect::<Vec<_>>(),
    });
    if !i.init.is_empty() {
        status["initContainerStatuses"] = json!(i.init.iter().map(container_status).collect::<Vec<_>>());
    }
    if let Some(ip) = i.pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    if let Some(ip) = i.host_ip {
        status["hostIP"] = json!(ip);
        status["hostIPs"] = json!([{"ip": ip}]);
    }
    if let Some(t) = i.start_time {
        status["startTime"] = json!(t);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn view<'a>(c: &'a Container, state: Option<&'a ContainerState>) -> ContainerView<'a> {
        ContainerView {
            container: c,
            id: None,
            image_id: "",
            state,
            last: None,
            previous_id: None,
            restarts: 0,
            waiting: None,
            started: true,
            ready: true,
        }
    }

    #[test]
    fn phases_follow_the_restart_policy() {
        let c = Container { name: "a".into(), ..Default::default() };
        let now = SystemTime::now();
        let running = ContainerState::Running { started_at: now };
        let ok = ContainerState::Exited { exit_code: 0, reason: "Completed".into(), started_at: now, finished_at: now };
        let bad = ContainerState::Exited { exit_code: 1, reason: "Error".into(), started_at: now, finished_at: now };
        assert_eq!(phase("Always", &[], &[view(&c, None)]), "Pending");
        assert_eq!(phase("Always", &[], &[view(&c, Some(&running))]), "Running");
        assert_eq!(phase("Never", &[], &[view(&c, Some(&ok))]), "Succeeded");
        assert_eq!(phase("Never", &[], &[view(&c, Some(&bad))]), "Failed");
        assert_eq!(phase("OnFailure", &[], &[view(&c, Some(&bad))]), "Running");
        assert_eq!(phase("OnFailure", &[], &[view(&c, Some(&ok))]), "Succeeded");
        assert_eq!(phase("Always", &[], &[view(&c, Some(&ok))]), "Running");
        assert_eq!(phase("Never", &[view(&c, Some(&bad))], &[view(&c, None)]), "Failed");
        assert_eq!(phase("Always", &[view(&c, Some(&running))], &[view(&c, None)]), "Pending");
    }

    #[test]
    fn readiness_drives_ready_conditions_and_gates() {
        let c = Container { name: "a".into(), ..Default::default() };
        let running = ContainerState::Running { started_at: SystemTime::now() };
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "readinessGates": [{"conditionType": "example.com/lb"}]},
            "status": {"conditions": [{"type": "example.com/lb", "status": "False"}]},
        }))
        .expect("pod");
        let cond = |s: &Value, t: &str| {
            s["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == t)).map(|c| c["status"].clone())
        };
        let mut v = view(&c, Some(&running));
        v.ready = false;
        fn inputs<'a>(pod: &'a Pod, main: &'a [ContainerView<'a>]) -> Inputs<'a> {
            Inputs { pod, init: &[], main, pod_ip: None, host_ip: None, start_time: None }
        }
        let s = pod_status(inputs(&pod, std::slice::from_ref(&v)));
        assert_eq!(s["containerStatuses"][0]["ready"], false);
        assert_eq!(s["containerStatuses"][0]["started"], true);
        assert_eq!(cond(&s, "ContainersReady"), Some(json!("False")));
        v.ready = true;
        let s = pod_status(inputs(&pod, std::slice::from_ref(&v)));
        assert_eq!(cond(&s, "ContainersReady"), Some(json!("True")));
        assert_eq!(cond(&s, "Ready"), Some(json!("False")), "the gate is not passed");
        assert_eq!(cond(&s, "example.com/lb"), Some(json!("False")), "gate conditions are kept");
        pod.status = serde_json::from_value(json!({"conditions": [{"type": "example.com/lb", "status": "True"}]}))
            .expect("status");
        let s = pod_status(inputs(&pod, std::slice::from_ref(&v)));
        assert_eq!(cond(&s, "Ready"), Some(json!("True")));
    }
}
