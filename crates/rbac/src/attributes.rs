//! What a request asks to do (upstream's `authorizer.Attributes` without the user), the
//! authorizer's [`Decision`], and upstream's forbidden message for a denial.
//!
//! Owns the request shape only; turning an HTTP request into attributes (verb from method,
//! `list` vs `get`, `watch`) is the API server's `RequestInfo` work.

use crate::go::quote;
use crate::user::UserInfo;

/// A request on an API resource: `verb` on `resource[/subresource]` in `api_group`,
/// optionally one object `name`, in `namespace` (empty: cluster-scoped or all namespaces).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or a
    /// special verb (`bind`, `escalate`, `impersonate`, `use`, ...).
    pub verb: String,
    /// The API group, `""` for the core group.
    pub api_group: String,
    /// The plural resource name (`pods`).
    pub resource: String,
    /// The subresource (`log`, `scale`, `status`), `""` for none.
    pub subresource: String,
    /// The object's name, `""` for collections and creates.
    pub name: String,
    /// The namespace, `""` for cluster-scoped requests and all-namespace lists.
    pub namespace: String,
}

impl ResourceAttributes {
    /// `verb` on `resource` in `api_group`, cluster-wide, no name or subresource.
    pub fn new(verb: impl Into<String>, api_group: impl Into<String>, resource: impl Into<String>) -> Self {
        ResourceAttributes {
            verb: verb.into(),
            api_group: api_group.into(),
            resource: resource.into(),
            ..ResourceAttributes::default()
        }
    }

    /// The same request inside `namespace`.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The same request on the object `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same request on `subresource`.
    pub fn subresource(mut self, subresource: impl Into<String>) -> Self {
        self.subresource = subresource.into();
        self
    }
}

/// A request on a path outside the resource API (`/healthz`, `/version`, `/apis`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NonResourceAttributes {
    /// The lower-cased HTTP method (`get`, `post`, ...).
    pub verb: String,
    /// The request path.
    pub path: String,
}

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    /// A request on an API resource.
    Resource(ResourceAttributes),
    /// A request on a non-resource path.
    NonResource(NonResourceAttributes),
}

impl Attributes {
    /// A non-resource request: `verb` on `path`.
    pub fn non_resource(verb: impl Into<String>, path: impl Into<String>) -> Self {
        Attributes::NonResource(NonResourceAttributes { verb: verb.into(), path: path.into() })
    }

    /// The request's verb.
    pub fn verb(&self) -> &str {
        match self {
            Attributes::Resource(r) => &r.verb,
            Attributes::NonResource(n) => &n.verb,
        }
    }

    /// The namespace RoleBindings are consulted in: the resource request's namespace, and
    /// always `""` for non-resource requests.
    pub fn namespace(&self) -> &str {
        match self {
            Attributes::Resource(r) => &r.namespace,
            Attributes::NonResource(_) => "",
        }
    }
}

impl From<ResourceAttributes> for Attributes {
    fn from(r: ResourceAttributes) -> Self {
        Attributes::Resource(r)
    }
}

impl From<NonResourceAttributes> for Attributes {
    fn from(n: NonResourceAttributes) -> Self {
        Attributes::NonResource(n)
    }
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Why: for an allow, upstream's audit reason (`RBAC: allowed by ClusterRoleBinding "x" of
    /// ClusterRole "y" to User "alice"`); for a denial, upstream's forbidden message, followed by
    /// `: RBAC: ...` when bindings referred to roles that do not exist.
    pub reason: String,
}

impl Decision {
    /// An allow with `reason`.
    pub fn allow(reason: impl Into<String>) -> Self {
        Decision { allowed: true, reason: reason.into() }
    }

    /// A denial with `reason`.
    pub fn deny(reason: impl Into<String>) -> Self {
        Decision { allowed: false, reason: reason.into() }
    }
}

/// Upstream's forbidden message (`responsewriters.forbiddenMessage`):
/// `User "alice" cannot list resource "pods" in API group "" in the namespace "team-a"`,
/// `... at the cluster scope`, or `User "alice" cannot get path "/metrics"`. The API server puts
/// it in a `Forbidden` Status as `pods is forbidden: <message>`.
pub fn forbidden_message(user: &UserInfo, attrs: &Attributes) -> String {
    let username = quote(&user.name);
    match attrs {
        Attributes::NonResource(n) => format!("User {username} cannot {} path {}", n.verb, quote(&n.path)),
        Attributes::Resource(r) => {
            let mut resource = r.resource.clone();
            if !r.subresource.is_empty() {
                resource.push('/');
                resource.push_str(&r.subresource);
            }
            let (resource, group) = (quote(&resource), quote(&r.api_group));
            if r.namespace.is_empty() {
                format!(
                    "User {username} cannot {} resource {resource} in API group {group} at the cluster scope",
                    r.verb
                )
            } else {
                format!(
                    "User {username} cannot {} resource {resource} in API group {group} in the namespace {}",
                    r.verb,
                    quote(&r.namespace)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_match_upstream() {
        let alice = UserInfo::new("alice");
        let cases: [(Attributes, &str); 4] = [
            (
                ResourceAttributes::new("list", "", "pods").in_namespace("team-a").into(),
                r#"User "alice" cannot list resource "pods" in API group "" in the namespace "team-a""#,
            ),
            (
                ResourceAttributes::new("list", "", "nodes").into(),
                r#"User "alice" cannot list resource "nodes" in API group "" at the cluster scope"#,
            ),
            (
                ResourceAttributes::new("patch", "apps", "deployments")
                    .in_namespace("ns")
                    .named("web")
                    .subresource("scale")
                    .into(),
                r#"User "alice" cannot patch resource "deployments/scale" in API group "apps" in the namespace "ns""#,
            ),
            (Attributes::non_resource("get", "/metrics"), r#"User "alice" cannot get path "/metrics""#),
        ];
        for (attrs, want) in cases {
            assert_eq!(forbidden_message(&alice, &attrs), want);
        }
    }
}
