//! OpenAPI documents generated from the registry: v3 (root index + one document per
//! group-version, used by `kubectl explain` and server-side field validation) and v2.
//!
//! Built-in schemas come from k8s-openapi's `schemars` impls (upstream names and descriptions);
//! custom kinds use their CRD's `openAPIV3Schema`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value, json};

use crate::discovery::KUBE_GIT_VERSION;
use crate::registry::{Registry, Resource, Validation};

const REF_PREFIX: &str = "#/components/schemas/";

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

fn gvk(r: &Resource) -> Value {
    json!([{"group": r.group, "version": r.version, "kind": r.kind}])
}

/// The component name of a custom kind, as upstream builds it (`com.example.v1.Widget`).
fn custom_schema_name(r: &Resource) -> String {
    let reversed: Vec<&str> = r.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), r.version, r.kind)
}

/// All group-versions with their resources.
fn group_versions(reg: &Registry) -> BTreeMap<String, Vec<std::sync::Arc<Resource>>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in reg.all() {
        out.entry(gv_path(&r.group, &r.version)).or_default().push(r);
    }
    out
}

/// Schemas (components) for a set of resources, with each kind's name.
/// Resources with the component name of their schema.
type Named = Vec<(std::sync::Arc<Resource>, String)>;

fn schemas(resources: &[std::sync::Arc<Resource>]) -> (Map<String, Value>, Named) {
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut named = Vec::new();
    let mut custom = Map::new();
    for r in resources {
        match &r.validation {
            Validation::Builtin { schema, schema_name, .. } => {
                schema(&mut generator);
                named.push((r.clone(), schema_name().into_owned()));
            }
            Validation::Custom { schema } => {
                generator.subschema_for::<ObjectMeta>();
                let mut s = schema
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
                if let Some(props) = s.as_object_mut().map(|o| o.entry("properties").or_insert_with(|| json!({}))) {
                    props["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
                    props["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
                    props["metadata"] = json!({"allOf": [{"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")}], "description": "Standard object's metadata."});
                }
                if s.get("type").is_none() {
                    s["type"] = json!("object");
                }
                let name = custom_schema_name(r);
                custom.insert(name.clone(), s);
                named.push((r.clone(), name));
            }
        }
    }
    let mut defs: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    defs.extend(custom);
    for (r, name) in &named {
        if let Some(s) = defs.get_mut(name).and_then(Value::as_object_mut) {
            s.insert("x-kubernetes-group-version-kind".into(), gvk(r));
        }
    }
    (defs, named)
}

fn operation(r: &Resource, action: &str, schema_ref: &str, id: &str) -> Value {
    let mut params = Vec::new();
    if matches!(action, "post" | "put" | "patch") {
        for p in ["dryRun", "fieldManager", "fieldValidation"] {
            params.push(json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}}));
        }
    }
    if action == "patch" {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    let body = json!({"content": {"application/json": {"schema": {"$ref": schema_ref}}}});
    let mut op = json!({
        "operationId": id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": schema_ref}}}}},
    });
    if matches!(action, "post" | "put" | "patch") {
        op["requestBody"] = body;
    }
    op
}

fn paths(gv: &str, named: &Named) -> Map<String, Value> {
    let mut paths = Map::new();
    for (r, name) in named {
        let schema_ref = format!("{REF_PREFIX}{name}");
        let base = if r.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("/{gv}/{}", r.plural)
        };
        let id = |verb: &str| format!("{verb}{}{}", r.kind, r.version);
        paths.insert(
            base.clone(),
            json!({"get": operation(r, "list", &schema_ref, &id("list")), "post": operation(r, "post", &schema_ref, &id("create"))}),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": operation(r, "get", &schema_ref, &id("read")),
                "put": operation(r, "put", &schema_ref, &id("replace")),
                "patch": operation(r, "patch", &schema_ref, &id("patch")),
                "delete": operation(r, "delete", &schema_ref, &id("delete")),
            }),
        );
    }
    paths
}

fn v3_doc(gv: &str, resources: &[std::sync::Arc<Resource>]) -> Value {
    let (defs, named) = schemas(resources);
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_GIT_VERSION},
        "paths": paths(gv, &named),
        "components": {"schemas": defs},
    })
}

fn hash(v: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// The v3 documents of one registry generation.
pub struct Docs {
    generation: u64,
    pub root: Value,
    pub group_versions: BTreeMap<String, Value>,
}

/// Builds the documents once per registry change (kubectl fetches the root on every apply).
#[derive(Default)]
pub struct Cache(std::sync::Mutex<Option<std::sync::Arc<Docs>>>);

impl Cache {
    pub fn get(&self, reg: &Registry) -> std::sync::Arc<Docs> {
        let generation = reg.generation();
        let mut slot = self.0.lock().expect("openapi cache lock poisoned");
        match slot.as_ref() {
            Some(d) if d.generation == generation => d.clone(),
            _ => {
                let docs = std::sync::Arc::new(build(reg, generation));
                *slot = Some(docs.clone());
                docs
            }
        }
    }
}

fn build(reg: &Registry, generation: u64) -> Docs {
    let mut paths = Map::new();
    let mut group_versions_docs = BTreeMap::new();
    for (gv, resources) in group_versions(reg) {
        let doc = v3_doc(&gv, &resources);
        paths.insert(gv.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={}", hash(&doc))}));
        group_versions_docs.insert(gv, doc);
    }
    Docs { generation, root: json!({"paths": paths}), group_versions: group_versions_docs }
}

/// Swagger 2.0 with every definition (for clients that still read v2).
pub fn v2(reg: &Registry) -> Value {
    let mut definitions = Map::new();
    let mut all_paths = Map::new();
    for (gv, resources) in group_versions(reg) {
        let (defs, named) = schemas(&resources);
        definitions.extend(defs);
        all_paths.extend(paths(&gv, &named));
    }
    let doc = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBE_GIT_VERSION},
        "paths": all_paths,
        "definitions": definitions,
    });
    let text = doc.to_string().replace(REF_PREFIX, "#/definitions/");
    serde_json::from_str(&text).unwrap_or(doc)
}
