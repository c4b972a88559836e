//! Parsing a resource URL into what it addresses (the upstream `RequestInfo`).

use std::collections::HashMap;

use crate::error::{ApiError, ApiResult};

/// What a `/api/...` or `/apis/...` resource path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Subresources of a namespace that live at `/api/v1/namespaces/{name}/{sub}`.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses `segments` after the group/version prefix, e.g. `["namespaces","default","pods","p1"]`.
pub fn parse_resource_path(group: &str, version: &str, segments: &[&str]) -> ApiResult<ResourcePath> {
    let mut path = ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        namespace: None,
        resource: String::new(),
        name: None,
        subresource: None,
    };
    let mut rest = segments;
    if rest.first() == Some(&"namespaces") && rest.len() >= 3 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
        path.namespace = Some(rest[1].to_string());
        rest = &rest[2..];
    }
    match rest {
        [resource] => path.resource = resource.to_string(),
        [resource, name] => {
            path.resource = resource.to_string();
            path.name = Some(name.to_string());
        }
        [resource, name, sub] => {
            path.resource = resource.to_string();
            path.name = Some(name.to_string());
            path.subresource = Some(sub.to_string());
        }
        _ => return Err(ApiError::NoRoute),
    }
    if path.resource.is_empty() || path.name.as_deref() == Some("") {
        return Err(ApiError::NoRoute);
    }
    Ok(path)
}

/// Query parameters; empty pairs (`?&limit=500`, as kube-rs sends) are tolerated.
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>, Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self(pairs.iter().cloned().collect(), pairs)
    }

    /// Every value of a repeatable parameter (`command` of exec), in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.1.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.0.get(key).map(String::as_str), Some("true" | "1"))
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        self.get(key)
            .map(|v| v.parse::<i64>().map_err(|_| ApiError::BadRequest(format!("invalid {key} {v:?}: not an integer"))))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segs: &str) -> ResourcePath {
        let v: Vec<&str> = segs.split('/').collect();
        parse_resource_path("", "v1", &v).expect("parses")
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let r = p("namespaces/default/pods/p1/status");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref(), r.subresource.as_deref()),
            ("pods", Some("p1"), Some("status"))
        );
        let r = p("namespaces/default");
        assert_eq!((r.namespace, r.resource.as_str(), r.name.as_deref()), (None, "namespaces", Some("default")));
        let r = p("namespaces/kube-system/finalize");
        assert_eq!((r.resource.as_str(), r.subresource.as_deref()), ("namespaces", Some("finalize")));
        let r = p("namespaces/default/configmaps");
        assert_eq!((r.namespace.as_deref(), r.name), (Some("default"), None));
        assert_eq!(p("nodes").resource, "nodes");
    }

    #[test]
    fn query_tolerates_empty_pairs() {
        let q = Query::parse(Some("&limit=500&&watch=1"));
        assert_eq!(q.get("limit"), Some("500"));
        assert!(q.flag("watch"));
    }
}
