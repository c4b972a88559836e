//! Upstream's defaulting for the built-in kinds clients read back most (`kubectl get -o yaml`
//! shows these, and agents and controllers rely on them): Pod specs (also inside Deployment and
//! ReplicaSet templates), Deployments, ReplicaSets and Services.

use serde_json::{Map, Value, json};

/// Fills defaults in place; called on create and update, before validation.
pub fn apply(group: &str, plural: &str, obj: &mut Value) {
    match (group, plural) {
        ("", "pods") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec);
            }
        }
        ("apps", "deployments") => {
            let spec = object_at(obj, "spec");
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = object_at_map(spec, "strategy");
            set_default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let ru = object_at_map(strategy, "rollingUpdate");
                set_default(ru, "maxUnavailable", json!("25%"));
                set_default(ru, "maxSurge", json!("25%"));
            }
            template(spec);
        }
        ("apps", "replicasets") => {
            let spec = object_at(obj, "spec");
            set_default(spec, "replicas", json!(1));
            template(spec);
        }
        ("", "services") => service(obj),
        _ => {}
    }
}

fn template(spec: &mut Map<String, Value>) {
    if let Some(pod) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        pod_spec(pod);
    }
}

fn object_at<'a>(obj: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !obj.get(field).is_some_and(Value::is_object) {
        obj[field] = json!({});
    }
    obj[field].as_object_mut().expect("just made an object")
}

fn object_at_map<'a>(m: &'a mut Map<String, Value>, field: &str) -> &'a mut Map<String, Value> {
    if !m.get(field).is_some_and(Value::is_object) {
        m.insert(field.into(), json!({}));
    }
    m.get_mut(field).and_then(Value::as_object_mut).expect("just made an object")
}

fn set_default(m: &mut Map<String, Value>, field: &str, value: Value) {
    if m.get(field).is_none_or(Value::is_null) {
        m.insert(field.into(), value);
    }
}

fn pod_spec(spec: &mut Value) {
    let Some(spec) = spec.as_object_mut() else { return };
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    if spec.get("serviceAccountName").is_none_or(Value::is_null) {
        let sa = spec.get("serviceAccount").cloned().unwrap_or(json!("default"));
        spec.insert("serviceAccountName".into(), sa);
    }
    for list in ["initContainers", "containers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            container(c);
        }
    }
}

fn container(c: &mut Value) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(c) = c.as_object_mut() else { return };
    set_default(c, "imagePullPolicy", json!(pull_policy(&image)));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    for p in c.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(p) = p.as_object_mut() {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent` (digests count as tags).
fn pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn service(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let is_external = spec.get("type") == Some(&json!("ExternalName"));
    for p in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(p) = p.as_object_mut() {
            set_default(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                set_default(p, "targetPort", port);
            }
        }
    }
    if !is_external {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
}

/// The pod's QoS class from its containers' requests and limits, as upstream computes it.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|l| pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        any |= requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty());
        for res in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(res));
            let request = requests.and_then(|r| r.get(res)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (_, true) => "Guaranteed",
        (true, false) => "Burstable",
        (false, false) => "BestEffort",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_defaults() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}, {"name": "d", "image": "reg:5000/x/y:1.2"}]}});
        apply("", "pods", &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(pod["spec"]["containers"][1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        let mut pinned = json!({"spec": {"restartPolicy": "Never", "containers": []}});
        apply("", "pods", &mut pinned);
        assert_eq!(pinned["spec"]["restartPolicy"], "Never");
    }

    #[test]
    fn deployment_and_service_defaults() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a:1"}]}}}});
        apply("apps", "deployments", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        apply("", "services", &mut s);
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
    }

    #[test]
    fn qos_classes() {
        let res = |r: Value| json!({"spec": {"containers": [{"name": "c", "resources": r}]}});
        assert_eq!(qos_class(&res(json!({}))), "BestEffort");
        assert_eq!(qos_class(&res(json!({"requests": {"cpu": "1"}}))), "Burstable");
        assert_eq!(qos_class(&res(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))), "Guaranteed");
        assert_eq!(
            qos_class(&res(json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}))),
            "Burstable"
        );
    }
}
