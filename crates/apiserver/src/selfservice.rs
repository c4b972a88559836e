//! Self-service namespaces: an admin publishes a `NamespaceTemplate`
//! (`tenancy.canopy.io/v1alpha1`) naming the users and groups allowed to use it; such a user
//! runs `kubectl create namespace NAME`, and the server creates the namespace together with a
//! `NamespaceConfig` carrying the template's limits and the user as OWNER, which the namespace
//! controller realises. As in vSphere, one template is in force (the first by name).

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

fn grants(template: &Value, user: &User) -> bool {
    template.pointer("/spec/permissions").and_then(Value::as_array).is_some_and(|ps| {
        ps.iter().any(|p| {
            let name = format!(
                "{}@{}",
                p["subject"].as_str().unwrap_or_default(),
                p["domain"].as_str().unwrap_or(canopy_identity::DEFAULT_SSO_DOMAIN)
            );
            match p["subjectType"].as_str() {
                Some("USER") => user.name == name,
                Some("GROUP") => user.groups.contains(&name),
                _ => false,
            }
        })
    })
}

/// The template in force that lets `user` create namespaces, if any.
pub async fn template_for(objects: &Objects, user: &User) -> ApiResult<Option<Value>> {
    let Some(res) = objects.registry.get(GROUP, "v1alpha1", "namespacetemplates") else { return Ok(None) };
    let templates =
        objects.list(&res, None, &ListParams { limit: Some(1), ..Default::default() }, &|_| true).await?.items;
    Ok(templates.into_iter().next().filter(|t| grants(t, user)))
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
        "metadata": {"name": namespace, "annotations": {"tenancy.canopy.io/self-service-by": user.name}},
        "spec": spec,
    });
    crate::admit::validate(&res, &mut config, crate::admit::FieldValidation::Ignore)?;
    objects.create(&res, None, config, false).await.map(|_| ())
}
