//! Volumes, environment, pod files and pull secrets through a real agent (API server
//! in-process, registries on loopback, runc): configMap and secret volumes with items and
//! modes, an emptyDir shared by two containers, env from ConfigMaps, Secrets and the pod,
//! `/etc/hosts` naming the pod's IP, a missing ConfigMap holding a pod back until it exists,
//! and an image from a registry that wants the pod's pull secret.

mod common;

use std::time::Duration;

use canopy_agent::runtime::Runtime;
use common::{Agent, HTPASSWD, Registry, cannot_run, container_id, delete_all_pods, server, wait_for};
use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, Event, Pod, Secret};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const HOST: &str = "volume-host";

fn status(pod: &Pod, container: &str) -> Option<ContainerStatus> {
    pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == container).cloned()
}

fn waiting_reason(pod: &Pod, container: &str) -> Option<String> {
    status(pod, container)?.state?.waiting?.reason
}

async fn has_event(client: &kube::Client, pod: &str, reason: &str, message: &str) -> bool {
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let list = events.list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
    list.iter().any(|e| {
        e.involved_object.name.as_deref() == Some(pod)
            && e.reason.as_deref() == Some(reason)
            && e.message.as_deref().is_some_and(|m| m.contains(message))
    })
}

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["nodeName"] = json!(HOST);
    spec["terminationGracePeriodSeconds"] = json!(1);
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("pod")
}

/// The log of a container of the pod, once it holds `needle`.
async fn log_with(agent: &Agent, pods: &Api<Pod>, name: &str, container: &str, needle: &str) -> String {
    wait_for(&format!("{needle:?} in the log of {name}/{container}"), Duration::from_secs(60), async || {
        let p = pods.get(name).await.ok()?;
        let path = agent.runtime.log_path(&container_id(&p, container)?)?;
        let log = std::fs::read_to_string(path).ok()?;
        log.contains(needle).then_some(log)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn volumes_env_and_pull_secrets() {
    if cannot_run() {
        return;
    }
    let registry = Registry::start(None);
    let image = registry.push_busybox("test/busybox", None);
    let private = Registry::start(Some(HTPASSWD));
    let private_image = private.push_busybox("private/busybox", Some("puller:s3cret"));
    let (_dir, _server, client) = server().await;
    let agent = Agent::start(client.clone(), HOST, vec![registry.addr.clone(), private.addr.clone()]).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());

    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"greeting": "hello", "other": "x"}}))
            .expect("configmap");
    configmaps.create(&PostParams::default(), &cm).await.expect("create configmap");
    // "s3cret", base64.
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "sec"}, "data": {"password": "czNjcmV0"}})).expect("secret");
    secrets.create(&PostParams::default(), &secret).await.expect("create secret");
    let auth = "cHVsbGVyOnMzY3JldA=="; // puller:s3cret
    let dockerconfig = json!({"auths": {(private.addr.clone()): {"auth": auth}}}).to_string();
    let pull_secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": dockerconfig},
    }))
    .expect("pull secret");
    secrets.create(&PostParams::default(), &pull_secret).await.expect("create pull secret");

    let writer = r#"echo shared > /scratch/note; cat /cfg/greet.txt /sec/password; echo;
        stat -c 'mode %a' /cfg/greet.txt /sec/password; ls /cfg;
        echo "env $GREETING $PASS $CM_other $POD_NAME ip=$POD_IP expanded=$(GREETING)";
        cat /etc/hosts /etc/hostname /etc/resolv.conf; echo done; sleep 3600"#;
    let specs = [
        pod(
            "files",
            json!({
                "volumes": [
                    {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "greeting", "path": "greet.txt", "mode": 0o400}]}},
                    {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o440}},
                    {"name": "scratch", "emptyDir": {}},
                ],
                "containers": [
                    {"name": "writer", "image": image, "command": ["sh", "-c", writer],
                     "env": [
                        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                     ],
                     "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}],
                     "volumeMounts": [
                        {"name": "cfg", "mountPath": "/cfg"},
                        {"name": "sec", "mountPath": "/sec"},
                        {"name": "scratch", "mountPath": "/scratch"},
                     ]},
                    {"name": "reader", "image": image,
                     "command": ["sh", "-c", "until cat /shared/note; do sleep 0.2; done; sleep 3600"],
                     "volumeMounts": [{"name": "scratch", "mountPath": "/shared"}]},
                ],
            }),
        ),
        pod(
            "waits",
            json!({
                "volumes": [{"name": "later", "configMap": {"name": "later"}}],
                "containers": [{"name": "app", "image": image, "command": ["sh", "-c", "cat /later/k; sleep 3600"],
                                "volumeMounts": [{"name": "later", "mountPath": "/later"}]}],
            }),
        ),
        pod(
            "bad-env",
            json!({"containers": [{"name": "app", "image": image, "command": ["sleep", "3600"],
                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "absent"}}}]}]}),
        ),
        pod(
            "private",
            json!({"imagePullSecrets": [{"name": "regcred"}],
                   "containers": [{"name": "app", "image": private_image, "command": ["sh", "-c", "echo pulled; sleep 3600"]}]}),
        ),
        pod(
            "no-secret",
            json!({"containers": [{"name": "app", "image": private_image, "command": ["sleep", "3600"]}]}),
        ),
    ];
    for p in &specs {
        pods.create(&PostParams::default(), p).await.expect("create");
    }

    // Files, modes, env and pod files, as the writer saw them.
    let log = log_with(&agent, &pods, "files", "writer", "done").await;
    let ip = pods.get("files").await.expect("pod").status.and_then(|s| s.pod_ip).expect("pod ip");
    assert!(log.contains("hellos3cret\n"), "{log}");
    assert!(log.contains("mode 400\nmode 440\n"), "{log}");
    assert!(log.contains("greet.txt\n") && !log.contains("other\n"), "only the listed item: {log}");
    assert!(log.contains(&format!("env hello s3cret x files ip={ip} expanded=hello\n")), "{log}");
    assert!(log.contains(&format!("{ip}\tfiles\n")), "/etc/hosts names the pod: {log}");
    assert!(log.contains("files\n# Written by the canopy agent"), "/etc/hostname: {log}");
    assert!(log.contains("search default.svc.cluster.local svc.cluster.local cluster.local\n"), "{log}");
    // The emptyDir is shared.
    log_with(&agent, &pods, "files", "reader", "shared").await;

    // A missing ConfigMap: FailedMount, the container waits, and starts once it exists.
    wait_for("FailedMount", Duration::from_secs(30), async || {
        has_event(
            &client,
            "waits",
            "FailedMount",
            "MountVolume.SetUp failed for volume \"later\" : configmap \"later\" not found",
        )
        .await
        .then_some(())
    })
    .await;
    let p = pods.get("waits").await.expect("pod");
    assert_eq!(waiting_reason(&p, "app").as_deref(), Some("ContainerCreating"), "{:?}", p.status);
    let later: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "later"}, "data": {"k": "arrived"}})).expect("configmap");
    configmaps.create(&PostParams::default(), &later).await.expect("create later");
    log_with(&agent, &pods, "waits", "app", "arrived").await;

    // A missing key for env: CreateContainerConfigError.
    wait_for("CreateContainerConfigError", Duration::from_secs(30), async || {
        let p = pods.get("bad-env").await.ok()?;
        (waiting_reason(&p, "app").as_deref() == Some("CreateContainerConfigError")).then_some(())
    })
    .await;
    assert!(has_event(&client, "bad-env", "Failed", "Error: couldn't find key absent in ConfigMap default/cfg").await);

    // The pull secret opens the private registry; without it the pull fails.
    log_with(&agent, &pods, "private", "app", "pulled").await;
    wait_for("ErrImagePull", Duration::from_secs(30), async || {
        let p = pods.get("no-secret").await.ok()?;
        waiting_reason(&p, "app").filter(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
    })
    .await;

    delete_all_pods(&client).await;
}
