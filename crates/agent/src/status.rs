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
    pub restarts: i32,
    pub waiting: Option<&'a Waiting>,
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
        "lastState": v.last.map_or(json!({}), state_json),
        "ready": is_running(v),
        "restartCount": v.restarts,
        "started": is_running(v),
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
        .map(|t| t.0.to_string())
        .unwrap_or_else(|| k8s_openapi::jiff::Timestamp::now().to_string());
    let mut c = json!({"type": type_, "status": status, "lastTransitionTime": since});
    if let Some(r) = reason.filter(|_| !ok) {
        c["reason"] = json!(r);
    }
    c
}

pub fn pod_status(i: Inputs) -> Value {
    let policy = i.pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
    let phase = phase(policy, i.init, i.main);
    let initialized = i.init.iter().all(|v| matches!(v.state, Some(ContainerState::Exited { exit_code: 0, .. })));
    let ready = phase == "Running" && i.main.iter().all(is_running);
    let mut conditions = vec![
        condition("PodReadyToStartContainers", i.pod_ip.is_some(), i.pod, None),
        condition("Initialized", initialized, i.pod, Some("ContainersNotInitialized")),
        condition("Ready", ready, i.pod, Some("ContainersNotReady")),
        condition("ContainersReady", ready, i.pod, Some("ContainersNotReady")),
    ];
    if let Some(scheduled) = i
        .pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
    {
        conditions.push(serde_json::to_value(scheduled).unwrap_or_default());
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
        ContainerView { container: c, id: None, image_id: "", state, last: None, restarts: 0, waiting: None }
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
}
