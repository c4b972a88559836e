//! `meta.k8s.io/v1` Table output, so `kubectl get` prints upstream-like columns.
//!
//! Built-in kinds get their upstream columns computed here; custom kinds use the CRD's
//! `additionalPrinterColumns` (simple JSONPath) or the default Name/Age.

use serde_json::{Value, json};

use crate::meta;
use crate::registry::{PrinterColumn, Resource};

/// Renders `items` as a Table; `list_meta` is the list's metadata (resourceVersion, continue).
pub fn to_table(res: &Resource, items: &[Value], list_meta: Value, include: &str) -> Value {
    let columns = columns(res);
    let now = now_secs();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let cells: Vec<Value> = columns.iter().map(|c| cell(res, c, obj, now)).collect();
            let object = match include {
                "None" => Value::Null,
                "Object" => obj.clone(),
                _ => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata").cloned().unwrap_or_default(),
                }),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let defs: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": defs, "rows": rows})
}

fn col(name: &str, type_: &str, priority: i64, path: &str) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        format: if name == "Name" { "name".into() } else { String::new() },
        description: String::new(),
        priority,
        json_path: path.into(),
    }
}

fn columns(res: &Resource) -> Vec<PrinterColumn> {
    let name = col("Name", "string", 0, "=name");
    let age = col("Age", "string", 0, "=age");
    if res.crd.is_some() {
        if res.columns.is_empty() {
            return vec![name, age];
        }
        let mut cols = vec![name];
        cols.extend(res.columns.iter().cloned());
        return cols;
    }
    let c = |n: &str, p: &str| col(n, "string", 0, p);
    let wide = |n: &str, p: &str| col(n, "string", 1, p);
    let mut cols = vec![name];
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "namespaces") => cols.extend([c("Status", ".status.phase"), age]),
        ("", "configmaps") => cols.extend([c("Data", "=datacount"), age]),
        ("", "secrets") => cols.extend([c("Type", ".type"), c("Data", "=datacount"), age]),
        ("", "serviceaccounts") => cols.extend([c("Secrets", "=secretcount"), age]),
        ("", "pods") => cols.extend([
            c("Ready", "=podready"),
            c("Status", "=podstatus"),
            c("Restarts", "=podrestarts"),
            age,
            wide("IP", ".status.podIP"),
            wide("Node", ".spec.nodeName"),
            wide("Nominated Node", ".status.nominatedNodeName"),
            wide("Readiness Gates", "=none"),
        ]),
        ("", "services") => cols.extend([
            c("Type", ".spec.type"),
            c("Cluster-IP", ".spec.clusterIP"),
            c("External-IP", "=externalip"),
            c("Port(s)", "=ports"),
            age,
            wide("Selector", "=selector"),
        ]),
        ("", "nodes") => cols.extend([
            c("Status", "=nodestatus"),
            c("Roles", "=noderoles"),
            age,
            c("Version", ".status.nodeInfo.kubeletVersion"),
        ]),
        ("", "events") => {
            cols = vec![
                c("Last Seen", "=lastseen"),
                c("Type", ".type"),
                c("Reason", ".reason"),
                c("Object", "=involved"),
                c("Message", ".message"),
            ]
        }
        ("", "endpoints") => cols.extend([c("Endpoints", "=endpoints"), age]),
        ("apps", "deployments") => cols.extend([
            c("Ready", "=deployready"),
            c("Up-to-date", ".status.updatedReplicas"),
            c("Available", ".status.availableReplicas"),
            age,
            wide("Containers", "=containers"),
            wide("Images", "=images"),
            wide("Selector", "=labelselector"),
        ]),
        ("apps", "replicasets") => cols.extend([
            c("Desired", ".spec.replicas"),
            c("Current", ".status.replicas"),
            c("Ready", ".status.readyReplicas"),
            age,
            wide("Containers", "=containers"),
            wide("Images", "=images"),
            wide("Selector", "=labelselector"),
        ]),
        ("coordination.k8s.io", "leases") => cols.extend([c("Holder", ".spec.holderIdentity"), age]),
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            cols.extend([c("Role", "=roleref"), age]);
        }
        ("apiextensions.k8s.io", _) | ("rbac.authorization.k8s.io", _) | ("", "limitranges") => {
            cols.push(col("Created At", "date", 0, ".metadata.creationTimestamp"));
        }
        _ => cols.push(age),
    }
    cols
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Upstream's `duration.HumanDuration`, in short form (`5s`, `3m20s`, `2d`).
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60).replace("m0s", "m"),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, s % 3600 / 60).replace("h0m", "h"),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 8 * 86_400 => format!("{}d{}h", s / 86_400, s % 86_400 / 3600).replace("d0h", "d"),
        s if s < 2 * 365 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}y{}d", s / (365 * 86_400), s % (365 * 86_400) / 86_400),
    }
}

fn age(obj: &Value, now: i64, ptr: &str) -> Value {
    match obj.pointer(ptr).and_then(Value::as_str).and_then(meta::parse_rfc3339) {
        Some(t) => json!(human_duration(now - t)),
        None => json!("<unknown>"),
    }
}

fn cell(res: &Resource, c: &PrinterColumn, obj: &Value, now: i64) -> Value {
    let v = |p: &str| obj.pointer(p).cloned().unwrap_or(Value::Null);
    let strs = |p: &str, field: &str| -> Vec<String> {
        obj.pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x[field].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    match c.json_path.as_str() {
        "=name" => json!(meta::name(obj)),
        "=age" => age(obj, now, "/metadata/creationTimestamp"),
        "=none" => json!("<none>"),
        "=datacount" => {
            let n = |p: &str| obj.pointer(p).and_then(Value::as_object).map_or(0, |m| m.len());
            json!(n("/data") + n("/binaryData") + n("/stringData"))
        }
        "=secretcount" => json!(obj.pointer("/secrets").and_then(Value::as_array).map_or(0, Vec::len)),
        "=podready" => {
            let total = obj.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
            let ready = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |s| s.iter().filter(|c| c["ready"].as_bool() == Some(true)).count());
            json!(format!("{ready}/{total}"))
        }
        "=podstatus" => {
            if meta::is_deleting(obj) {
                return json!("Terminating");
            }
            let waiting = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .and_then(|s| s.iter().find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str)));
            json!(waiting.or(obj.pointer("/status/phase").and_then(Value::as_str)).unwrap_or("Pending"))
        }
        "=podrestarts" => json!(
            obj.pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |s| s.iter().map(|c| c["restartCount"].as_i64().unwrap_or(0)).sum::<i64>())
        ),
        "=externalip" => {
            let ips = strs("/status/loadBalancer/ingress", "ip");
            let ext: Vec<String> = obj
                .pointer("/spec/externalIPs")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let all: Vec<String> = ips.into_iter().chain(ext).collect();
            json!(if all.is_empty() { "<none>".to_string() } else { all.join(",") })
        }
        "=ports" => {
            let ports: Vec<String> = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            let proto = p["protocol"].as_str().unwrap_or("TCP");
                            match p["nodePort"].as_i64() {
                                Some(np) => format!("{}:{np}/{proto}", p["port"]),
                                None => format!("{}/{proto}", p["port"]),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!(if ports.is_empty() { "<none>".to_string() } else { ports.join(",") })
        }
        "=selector" => json!(map_pairs(obj.pointer("/spec/selector"))),
        "=labelselector" => json!(map_pairs(obj.pointer("/spec/selector/matchLabels"))),
        "=nodestatus" => {
            let ready = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .map(|c| c["status"] == "True");
            let mut s = match ready {
                Some(true) => "Ready".to_string(),
                Some(false) => "NotReady".to_string(),
                None => "Unknown".to_string(),
            };
            if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                s.push_str(",SchedulingDisabled");
            }
            json!(s)
        }
        "=noderoles" => {
            let roles: Vec<String> = meta::labels(obj)
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string))
                .collect();
            json!(if roles.is_empty() { "<none>".to_string() } else { roles.join(",") })
        }
        "=lastseen" => {
            let ptr = if obj.pointer("/lastTimestamp").is_some_and(|v| !v.is_null()) {
                "/lastTimestamp"
            } else {
                "/eventTime"
            };
            age(obj, now, ptr)
        }
        "=involved" => json!(format!(
            "{}/{}",
            obj.pointer("/involvedObject/kind").and_then(Value::as_str).unwrap_or_default().to_lowercase(),
            obj.pointer("/involvedObject/name").and_then(Value::as_str).unwrap_or_default()
        )),
        "=endpoints" => {
            let mut eps = Vec::new();
            for subset in obj.pointer("/subsets").and_then(Value::as_array).into_iter().flatten() {
                for a in subset["addresses"].as_array().into_iter().flatten() {
                    for p in subset["ports"].as_array().into_iter().flatten() {
                        eps.push(format!("{}:{}", a["ip"].as_str().unwrap_or_default(), p["port"]));
                    }
                }
            }
            json!(if eps.is_empty() { "<none>".to_string() } else { eps.join(",") })
        }
        "=deployready" => json!(format!(
            "{}/{}",
            obj.pointer("/status/readyReplicas").and_then(Value::as_i64).unwrap_or(0),
            obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
        )),
        "=containers" => json!(strs("/spec/template/spec/containers", "name").join(",")),
        "=images" => json!(strs("/spec/template/spec/containers", "image").join(",")),
        "=roleref" => json!(format!(
            "{}/{}",
            obj.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default(),
            obj.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default()
        )),
        // Upstream shows date columns of custom kinds as ages.
        path if res.crd.is_some() && c.type_ == "date" => {
            match jsonpath(obj, path).as_str().and_then(meta::parse_rfc3339) {
                Some(t) => json!(human_duration(now - t)),
                None => json!("<unknown>"),
            }
        }
        path if res.crd.is_some() || path.starts_with('.') => {
            let found = jsonpath(obj, path);
            if found.is_null() && res.crd.is_none() { json!("<none>") } else { found }
        }
        p => v(p),
    }
}

fn map_pairs(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        Some(m) if !m.is_empty() => {
            m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")
        }
        _ => "<none>".into(),
    }
}

/// A JSONPath subset for printer columns: `.a.b`, `.a[0].b`, `.a[?(@.k=="v")].b`.
pub fn jsonpath(obj: &Value, path: &str) -> Value {
    let mut cur = obj.clone();
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}').trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end]).cloned().unwrap_or(Value::Null);
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { return Value::Null };
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Ok(i) = inner.parse::<usize>() {
                cur = cur.get(i).cloned().unwrap_or(Value::Null);
            } else if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let Some((field, want)) = filter.split_once("==") else { return Value::Null };
                let want = want.trim().trim_matches(['"', '\'']);
                cur = cur
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x.get(field.trim()).and_then(Value::as_str) == Some(want)))
                    .cloned()
                    .unwrap_or(Value::Null);
            } else {
                return Value::Null;
            }
        } else {
            return Value::Null;
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset() {
        let o = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}, "spec": {"r": [1, 2]}});
        assert_eq!(jsonpath(&o, ".status.conditions[?(@.type==\"Ready\")].status"), json!("True"));
        assert_eq!(jsonpath(&o, ".spec.r[1]"), json!(2));
        assert_eq!(jsonpath(&o, ".spec.missing"), Value::Null);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(3600 * 30), "30h");
        assert_eq!(human_duration(86_400 * 3), "3d");
    }
}
