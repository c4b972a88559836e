//! Self-service namespaces: an admin publishes a `NamespaceTemplate`
//! (`tenancy.canopy.io/v1alpha1`) naming the users and groups allowed to use it; such a user
//! runs `kubectl create namespace NAME`, and the server creates the namespace together with a
//! `NamespaceConfig` carrying the template's limits and the user as OWNER, which the namespace
//! controller realises. As in vSphere, one template is in force (the first by name), and only
//! while it is active (`spec.active`, switched by the `namespace-self-service` endpoints). The
//! OWNER of a self-service namespace may delete it with kubectl too.

use serde_json::{Value, json};

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::objects::{ListParams, Objects};

const GROUP: &str = "tenancy.canopy.io";

/// The template CRD, created on first start.
pub fn crd() -> Value {
    let subjects = json!({"type": "array", "items": {"type": "object", "required": ["subjectType", "subject"], "properties": {
        "subjectType": {"type": "string", "enum": ["USER", "GROUP"]},
        "subject": {"type": "string"},
        "domain": {"type": "string", "default": canopy_identity::DEFAULT_SSO_DOMAIN},
    }}});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("namespacetemplates.{GROUP}"), "labels": {"canopy.io/built-in": "true"}},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"plural": "namespacetemplates", "singular": "namespacetemplate", "kind": "NamespaceTemplate", "shortNames": ["nstemplate"], "categories": ["canopy"]},
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object",
                    "description": "What a self-service namespace gets (the NamespaceConfig spec fields) and who may create one.",
                    "properties": {
                        "active": {"type": "boolean", "default": true, "description": "Whether granted users may create namespaces now."},
                        "permissions": subjects,
                        "description": {"type": "string"},
                        "resourceSpec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "storageSpecs": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                        "vmServiceSpec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "zones": {"type": "array", "items": {"type": "string"}},
                    },
                }}}},
            }],
        },
    })
}

/// The annotation naming who created a self-service namespace.
pub const CREATED_BY: &str = "tenancy.canopy.io/self-service-by";

/// A template grants nothing while deactivated (`spec.active: false`).
pub fn is_active(template: &Value) -> bool {
    template.pointer("/spec/active").and_then(Value::as_bool) != Some(false)
}

/// Whether a `{subjectType, subject, domain}` entry names `user` or one of its groups.
fn names(entry: &Value, user: &User) -> bool {
    let name = format!(
        "{}@{}",
        entry["subject"].as_str().unwrap_or_default(),
        entry["domain"].as_str().unwrap_or(canopy_identity::DEFAULT_SSO_DOMAIN)
    );
    match entry["subjectType"].as_str() {
        Some("USER") => user.name == name,
        Some("GROUP") => user.groups.contains(&name),
        _ => false,
    }
}

fn grants(template: &Value, user: &User) -> bool {
    template.pointer("/spec/permissions").and_then(Value::as_array).is_some_and(|ps| ps.iter().any(|p| names(p, user)))
}

/// The template in force that lets `user` create namespaces, if any.
pub async fn template_for(objects: &Objects, user: &User) -> ApiResult<Option<Value>> {
    let Some(res) = objects.registry.get(GROUP, "v1alpha1", "namespacetemplates") else { return Ok(None) };
    let templates =
        objects.list(&res, None, &ListParams { limit: Some(1), ..Default::default() }, &|_| true).await?.items;
    Ok(templates.into_iter().next().filter(|t| is_active(t) && grants(t, user)))
}

fn holds_owner(config: &Value, user: &User) -> bool {
    config
        .pointer("/spec/accessList")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|a| a["role"] == "OWNER" && names(a, user)))
}

/// `kubectl delete namespace` by an OWNER of a self-service namespace: its configuration goes
/// first, so the controller lets the namespace go, then the namespace itself. `None` if the
/// user is not such an owner.
pub async fn delete_as_owner(
    objects: &Objects,
    namespace: &str,
    user: &User,
    opts: &crate::objects::DeleteOptions,
) -> ApiResult<Option<Value>> {
    let Some(res) = objects.registry.get(GROUP, "v1alpha1", "namespaceconfigs") else { return Ok(None) };
    let config = match objects.get(&res, None, namespace).await {
        Ok(c) => c,
        Err(ApiError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let self_service = config.pointer(&format!("/metadata/annotations/{}", CREATED_BY.replace('/', "~1"))).is_some();
    if !self_service || !holds_owner(&config, user) {
        return Ok(None);
    }
    let ns_res = objects.registry.get("", "v1", "namespaces").expect("namespaces are built in");
    if opts.dry_run {
        return objects.get(&ns_res, None, namespace).await.map(Some);
    }
    match objects.delete(&res, None, namespace, &Default::default()).await {
        Ok(_) | Err(ApiError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    tracing::info!(%namespace, user = %user.name, "self-service namespace deleted by its owner");
    match objects.delete(&ns_res, None, namespace, opts).await? {
        crate::objects::Deleted::Now(o) | crate::objects::Deleted::Pending(o) => Ok(Some(o)),
    }
}

/// Records the new namespace's configuration: the template's limits, the creator as OWNER.
pub async fn configure(objects: &Objects, template: &Value, namespace: &str, user: &User) -> ApiResult<()> {
    let Some(res) = objects.registry.get(GROUP, "v1alpha1", "namespaceconfigs") else {
        return Err(ApiError::Internal("self-service needs the namespace controller, which is not running".into()));
    };
    let (subject, domain) = canopy_identity::directory::split_name(&user.name);
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(s) = spec.as_object_mut() {
        s.remove("permissions");
    }
    spec["accessList"] = json!([{"subjectType": "USER", "subject": subject, "domain": domain, "role": "OWNER"}]);
    let mut config = json!({
        "apiVersion": format!("{GROUP}/v1alpha1"),
        "kind": "NamespaceConfig",
        "metadata": {"name": namespace, "annotations": {CREATED_BY: user.name}},
        "spec": spec,
    });
    crate::admit::validate(&res, &mut config, crate::admit::FieldValidation::Ignore)?;
    objects.create(&res, None, config, false).await.map(|_| ())
}
