//! Probes through a real agent: an API server in-process, a registry on loopback, the
//! `container` runtime with runc. Readiness follows an exec probe (the test creates and
//! removes the file it checks), a failing liveness probe gets the container killed and
//! restarted, httpGet probes talk to busybox `httpd` in the pod (200 ready, 404 not), and a
//! tcpSocket probe turns ready once something listens, and a startup probe holds back
//! `started`, `ready` and the liveness probe until it passes.

mod common;

use std::time::Duration;

use common::{Agent, Registry, cannot_run, container_id, delete_all_pods, exec, server, wait_for};
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const HOST: &str = "probe-host";

fn status(pod: &Pod, container: &str) -> Option<ContainerStatus> {
    pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == container).cloned()
}

fn condition(pod: &Pod, type_: &str) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|c| c.type_ == type_).map(|c| c.status.clone())
}

fn running(pod: &Pod, container: &str) -> bool {
    status(pod, container).and_then(|s| s.state).and_then(|s| s.running).is_some()
}

async fn events(client: &kube::Client, pod: &str) -> Vec<Event> {
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let list = events.list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
    list.into_iter().filter(|e| e.involved_object.name.as_deref() == Some(pod)).collect()
}

async fn has_event(client: &kube::Client, pod: &str, reason: &str, message: &str) -> bool {
    events(client, pod)
        .await
        .iter()
        .any(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref().is_some_and(|m| m.contains(message)))
}

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["nodeName"] = json!(HOST);
    spec["terminationGracePeriodSeconds"] = json!(1);
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn probes_drive_readiness_and_restarts() {
    if cannot_run() {
        return;
    }
    let registry = Registry::start(None);
    let image = registry.push_busybox("test/busybox", None);
    let (_dir, _server, client) = server().await;
    let agent = Agent::start(client.clone(), HOST, vec![registry.addr.clone()]).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let every_second = |handler: serde_json::Value| {
        let mut p = json!({"periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 2});
        p.as_object_mut().expect("object").extend(handler.as_object().expect("object").clone());
        p
    };
    let specs = [
        pod(
            "exec-ready",
            json!({"containers": [{"name": "app", "image": image, "command": ["sleep", "3600"],
                "readinessProbe": every_second(json!({"exec": {"command": ["cat", "/ready"]}}))}]}),
        ),
        pod(
            "startup",
            json!({"containers": [{"name": "app", "image": image, "command": ["sleep", "3600"],
                "startupProbe": {"exec": {"command": ["cat", "/up"]}, "periodSeconds": 1, "failureThreshold": 120},
                "livenessProbe": every_second(json!({"exec": {"command": ["cat", "/up"]}}))}]}),
        ),
        pod(
            "liveness",
            json!({"containers": [{"name": "app", "image": image,
                "command": ["sh", "-c", "touch /alive; sleep 2; rm /alive; sleep 3600"],
                "livenessProbe": every_second(json!({"exec": {"command": ["cat", "/alive"]}}))}]}),
        ),
        pod(
            "http",
            json!({"containers": [
                {"name": "web", "image": image, "ports": [{"name": "http", "containerPort": 8080}],
                 "command": ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"],
                 "readinessProbe": every_second(json!({"httpGet": {"path": "/index.html", "port": "http",
                     "httpHeaders": [{"name": "X-Probe", "value": "1"}]}}))},
                {"name": "missing", "image": image,
                 "command": ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8081 -h /www"],
                 "readinessProbe": every_second(json!({"httpGet": {"path": "/nothing-here", "port": 8081}}))},
            ]}),
        ),
        pod(
            "tcp",
            json!({"containers": [{"name": "app", "image": image,
                "command": ["sh", "-c", "sleep 3; mkdir -p /www; exec httpd -f -p 9000 -h /www"],
                "readinessProbe": every_second(json!({"tcpSocket": {"port": 9000}}))}]}),
        ),
    ];
    for p in &specs {
        pods.create(&PostParams::default(), p).await.expect("create");
    }
    let long = Duration::from_secs(60);

    // Exec readiness: running but not ready until the file exists, and not ready again once
    // it is gone.
    let p =
        wait_for("exec-ready running", long, async || pods.get("exec-ready").await.ok().filter(|p| running(p, "app")))
            .await;
    let s = status(&p, "app").expect("status");
    assert!(!s.ready, "no probe has passed yet: {s:?}");
    assert_eq!(condition(&p, "Ready").as_deref(), Some("False"));
    let id = container_id(&p, "app").expect("container id");
    assert_eq!(exec(&agent.runtime, &id, &["touch", "/ready"]).await, 0);
    wait_for("exec-ready Ready", long, async || {
        let p = pods.get("exec-ready").await.ok()?;
        (status(&p, "app")?.ready
            && condition(&p, "Ready").as_deref() == Some("True")
            && condition(&p, "ContainersReady").as_deref() == Some("True"))
        .then_some(())
    })
    .await;
    assert_eq!(exec(&agent.runtime, &id, &["rm", "/ready"]).await, 0);
    wait_for("exec-ready not Ready again", long, async || {
        let p = pods.get("exec-ready").await.ok()?;
        (!status(&p, "app")?.ready && condition(&p, "Ready").as_deref() == Some("False")).then_some(())
    })
    .await;
    assert!(has_event(&client, "exec-ready", "Unhealthy", "Readiness probe failed:").await);

    // A startup probe gates started and ready (and keeps the liveness probe, which would fail,
    // from running) until it passes.
    let p =
        wait_for("startup running", long, async || pods.get("startup").await.ok().filter(|p| running(p, "app"))).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = status(&pods.get("startup").await.expect("pod"), "app").expect("status");
    assert!(s.started == Some(false) && !s.ready && s.restart_count == 0, "{s:?}");
    let id = container_id(&p, "app").expect("container id");
    assert_eq!(exec(&agent.runtime, &id, &["touch", "/up"]).await, 0);
    wait_for("startup started and ready", long, async || {
        let s = status(&pods.get("startup").await.ok()?, "app")?;
        (s.started == Some(true) && s.ready).then_some(())
    })
    .await;
    assert!(has_event(&client, "startup", "Unhealthy", "Startup probe failed:").await);
    assert!(!has_event(&client, "startup", "Unhealthy", "Liveness probe failed:").await);

    // httpGet: 200 is ready, 404 is not, so the pod is not ready either.
    let p = wait_for("web ready", long, async || {
        let p = pods.get("http").await.ok()?;
        status(&p, "web")?.ready.then_some(p)
    })
    .await;
    let missing = status(&p, "missing").expect("status");
    assert!(!missing.ready && running(&p, "missing"), "{missing:?}");
    assert_eq!(condition(&p, "ContainersReady").as_deref(), Some("False"));
    wait_for("the 404 event", long, async || {
        has_event(&client, "http", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404")
            .await
            .then_some(())
    })
    .await;

    // tcpSocket: ready once httpd listens.
    wait_for("tcp ready", long, async || status(&pods.get("tcp").await.ok()?, "app")?.ready.then_some(())).await;
    assert!(has_event(&client, "tcp", "Unhealthy", "Readiness probe failed: dial tcp").await);

    // Liveness: the file goes after 2 s, the probe fails, the container is killed and
    // restarted (after the 10 s back-off).
    let p = wait_for("liveness restarted", Duration::from_secs(90), async || {
        let p = pods.get("liveness").await.ok()?;
        (status(&p, "app")?.restart_count >= 1).then_some(p)
    })
    .await;
    let s = status(&p, "app").expect("status");
    assert!(s.last_state.and_then(|l| l.terminated).is_some(), "the killed instance is the last state");
    assert!(has_event(&client, "liveness", "Unhealthy", "Liveness probe failed:").await);
    assert!(has_event(&client, "liveness", "Killing", "Container app failed liveness probe, will be restarted").await);

    delete_all_pods(&client).await;
}
