//! Discovery documents: `/version`, `/api`, `/apis` (legacy and aggregated v2) and the
//! per-group-version resource lists, all derived from the registry.

use serde_json::{Value, json};

use crate::registry::{Registry, Resource, version_priority};

/// The Kubernetes version Canopy's API reports (the kubectl dispatcher picks its client from it).
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "32";
pub const KUBE_GIT_VERSION: &str = "v1.32.4";

pub const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
pub const AGGREGATED_V2BETA1: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

fn verbs(r: &Resource) -> &'static [&'static str] {
    if r.review { &["create"] } else { VERBS }
}

pub fn version() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": KUBE_GIT_VERSION,
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": "linux/amd64",
        "canopyVersion": env!("CARGO_PKG_VERSION"),
    })
}

/// Which aggregated discovery version the client asked for, if any.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let compact = part.replace(' ', "");
        if compact.contains("g=apidiscovery.k8s.io") && compact.contains("as=APIGroupDiscoveryList") {
            if compact.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if compact.contains("v=v2") {
                return Some("v2");
            }
        } else if compact.starts_with("application/json") || compact.starts_with("*/*") {
            return None;
        }
    }
    None
}

/// Groups (core first) with their versions, preferred version first.
fn groups(reg: &Registry, core: bool) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in reg.all() {
        if r.group.is_empty() != core {
            continue;
        }
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) if !vs.contains(&r.version) => vs.push(r.version.clone()),
            Some(_) => {}
            None => out.push((r.group.clone(), vec![r.version.clone()])),
        }
    }
    for (_, vs) in &mut out {
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    out
}

fn resources_of<'a>(
    all: &'a [std::sync::Arc<Resource>],
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'a Resource> {
    all.iter().filter(move |r| r.group == group && r.version == version).map(|r| r.as_ref())
}

pub fn aggregated(reg: &Registry, core: bool, api_version: &str) -> Value {
    let all = reg.all();
    let items: Vec<Value> = groups(reg, core)
        .into_iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = resources_of(&all, &group, v).map(aggregated_resource).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{api_version}"), "metadata": {}, "items": items})
}

fn aggregated_resource(r: &Resource) -> Value {
    let kind = |k: &str| json!({"group": r.group, "version": r.version, "kind": k});
    let mut subs = Vec::new();
    if r.status {
        subs.push(json!({"subresource": "status", "responseKind": kind(&r.kind), "verbs": ["get", "patch", "update"]}));
    }
    if r.group.is_empty() && r.plural == "serviceaccounts" {
        subs.push(json!({"subresource": "token", "responseKind": {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}, "verbs": ["create"]}));
    }
    if r.scale.is_some() {
        subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
    }
    if r.group.is_empty() && r.plural == "pods" {
        subs.push(json!({"subresource": "binding", "responseKind": {"group": "", "version": "v1", "kind": "Binding"}, "verbs": ["create"]}));
        subs.push(json!({"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"}, "verbs": ["create"]}));
    }
    let mut v = json!({
        "resource": r.plural,
        "responseKind": kind(&r.kind),
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": verbs(r),
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !subs.is_empty() {
        v["subresources"] = json!(subs);
    }
    v
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or_default()})
}

pub fn api_group_list(reg: &Registry) -> Value {
    let gs: Vec<Value> = groups(reg, false).iter().map(|(g, vs)| group_entry(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    groups(reg, false).into_iter().find(|(g, _)| g == group).map(|(g, vs)| {
        let mut v = group_entry(&g, &vs);
        v["kind"] = json!("APIGroup");
        v["apiVersion"] = json!("v1");
        v
    })
}

pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let all = reg.all();
    let mut resources = Vec::new();
    for r in resources_of(&all, group, version) {
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        resources.push(v);
        let sub = |name: &str, kind: &str, group: &str, version: &str| json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced, "group": group, "version": version, "kind": kind, "verbs": ["get", "patch", "update"]});
        if r.status {
            resources.push(sub("status", &r.kind, &r.group, &r.version));
        }
        if r.scale.is_some() {
            resources.push(sub("scale", "Scale", "autoscaling", "v1"));
        }
        let create_only = [
            ("serviceaccounts", "token", "TokenRequest", "authentication.k8s.io"),
            ("pods", "binding", "Binding", ""),
            ("pods", "eviction", "Eviction", "policy"),
        ];
        for (plural, name, kind, group) in create_only {
            if r.group.is_empty() && r.plural == plural {
                let mut s = sub(name, kind, group, "v1");
                s["verbs"] = json!(["create"]);
                resources.push(s);
            }
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_header_selects_v2() {
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wants_aggregated(accept), Some("v2"));
        assert_eq!(wants_aggregated("application/json, */*"), None);
    }

    #[test]
    fn builtins_are_discoverable() {
        let reg = Registry::with_builtins();
        let agg = aggregated(&reg, true, "v2");
        let core = &agg["items"][0]["versions"][0]["resources"];
        assert!(core.as_array().is_some_and(|rs| rs.iter().any(|r| r["resource"] == "pods")));
        let apps = resource_list(&reg, "apps", "v1").expect("apps/v1 is served");
        assert!(apps["resources"].as_array().is_some_and(|rs| rs.iter().any(|r| r["name"] == "deployments/scale")));
    }
}
