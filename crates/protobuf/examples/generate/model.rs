//! Joins the three sources into the table: k8s-pb gives tags and types, k8s-openapi gives the
//! upstream JSON names (matched ignoring case, `_`, `-` and `$`), kubectl's Go type descriptors
//! give pointer-ness and `omitempty` (and cross-check the JSON names). Every mismatch is an error.

use std::collections::{BTreeMap, HashMap};

use crate::go_types::{GoField, GoStructs};
use crate::openapi::{Definition, OpenApi};
use crate::prost_source::{FieldType, MapValue, ProstField, ProstMessage, Scalar};

pub struct Table {
    /// Sorted by name.
    pub messages: Vec<OutMessage>,
    /// (apiVersion, kind, message name), sorted.
    pub kinds: Vec<(String, String, String)>,
    /// Scalar fields whose zero-value handling was guessed because kubectl's Go types lack them.
    pub guessed: Vec<String>,
    /// k8s-pb fields newer than the API served (absent from k8s-openapi v1_33 and kubectl).
    pub skipped: Vec<String>,
    /// k8s-openapi properties that no protobuf field produces.
    pub unmatched_properties: Vec<String>,
}

pub struct OutMessage {
    pub name: String,
    pub shape: &'static str,
    pub fields: Vec<OutField>,
}

pub struct OutField {
    pub tag: u32,
    pub json: String,
    pub kind: OutKind,
    pub label: &'static str,
}

pub enum OutKind {
    Scalar(Scalar),
    Msg(String),
    MapStr,
    MapBytes,
    MapMsg(String),
}

/// Messages whose JSON form is not an object of their fields. (metav1.Duration is missing on
/// purpose: only metrics.k8s.io, which is never written, uses it; the generator fails if a
/// served kind ever reaches it.)
fn special_shape(name: &str) -> Option<&'static str> {
    const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.";
    const CRD: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.";
    let shape = match name {
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => "RawJson",
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => "Quantity",
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => "IntOrString",
        "k8s.io.api.authentication.v1.ExtraValue"
        | "k8s.io.api.authorization.v1.ExtraValue"
        | "k8s.io.api.certificates.v1.ExtraValue" => "StringList",
        _ => match (name.strip_prefix(META), name.strip_prefix(CRD)) {
            (Some("Time"), _) => "Time",
            (Some("MicroTime"), _) => "MicroTime",
            (Some("FieldsV1"), _) => "RawJson",
            (_, Some("Json")) => "RawJson",
            (_, Some("JsonSchemaPropsOrArray")) => "SchemaOrArray",
            (_, Some("JsonSchemaPropsOrBool")) => "SchemaOrBool",
            (_, Some("JsonSchemaPropsOrStringArray")) => "SchemaOrStringArray",
            _ => return None,
        },
    };
    Some(shape)
}

fn normalize(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '_' | '-' | '$')).flat_map(char::to_lowercase).collect()
}

/// `k8s.io.api.apps.v1.DeploymentSpec` -> `k8s.io/api/apps/v1.deploymentspec` (lowercased name).
fn go_key(message: &str) -> String {
    let (package, name) = message.rsplit_once('.').unwrap_or(("", message));
    let path = package.strip_prefix("k8s.io.").unwrap_or(package).replace('.', "/").replace('_', "-");
    format!("k8s.io/{path}.{}", name.to_lowercase())
}

/// `io.k8s.api.core.v1.Pod` / `k8s.io.api.core.v1.Pod` -> a common lowercase key.
fn definition_key(name: &str) -> String {
    let rest = name.strip_prefix("io.k8s.").or_else(|| name.strip_prefix("k8s.io.")).unwrap_or(name);
    rest.replace('-', "_").to_lowercase()
}

struct Sources<'a> {
    prost: &'a BTreeMap<String, ProstMessage>,
    go: HashMap<String, &'a BTreeMap<u32, GoField>>,
    definitions: HashMap<String, (&'a String, &'a Definition)>,
}

pub fn build(prost: &BTreeMap<String, ProstMessage>, go: &GoStructs, openapi: &OpenApi) -> Result<Table, Vec<String>> {
    let sources = Sources {
        prost,
        go: go
            .iter()
            .map(|(k, v)| (k.rsplit_once('.').map(|(p, n)| format!("{p}.{}", n.to_lowercase())).unwrap_or_default(), v))
            .collect(),
        definitions: openapi.definitions.iter().map(|(k, v)| (definition_key(k), (k, v))).collect(),
    };
    let by_key: HashMap<String, &String> = prost.keys().map(|k| (definition_key(k), k)).collect();
    let mut errors = Vec::new();
    let mut kinds = Vec::new();
    // (message, definition to match its fields against: its own, or its parent's when inlined)
    let mut queue: Vec<(String, Option<String>)> = Vec::new();
    for root in &openapi.roots {
        match by_key.get(&definition_key(&root.definition)) {
            Some(name) => {
                kinds.push((root.api_version.to_string(), root.kind.to_string(), (*name).clone()));
                queue.push(((*name).clone(), None));
            }
            None => errors.push(format!("{}: no protobuf message for {}", root.kind, root.definition)),
        }
    }
    let mut done: BTreeMap<String, OutMessage> = BTreeMap::new();
    let mut guessed = Vec::new();
    let mut unmatched_properties = Vec::new();
    let mut skipped = Vec::new();
    while let Some((name, via)) = queue.pop() {
        if done.contains_key(&name) {
            continue;
        }
        let Some(message) = prost.get(&name) else {
            errors.push(format!("{name}: referenced but not defined in k8s-pb"));
            continue;
        };
        let out = if let Some(shape) = special_shape(&name) {
            special(message, shape)
        } else {
            match object(&sources, message, via.as_deref(), &mut guessed, &mut skipped, &mut unmatched_properties) {
                Ok(out) => out,
                Err(mut e) => {
                    errors.append(&mut e);
                    continue;
                }
            }
        };
        for field in &out.fields {
            match &field.kind {
                OutKind::Msg(child) | OutKind::MapMsg(child) => {
                    let inherit = (field.label == "Inline").then(|| via.clone().unwrap_or_else(|| name.clone()));
                    queue.push((child.clone(), inherit));
                }
                _ => {}
            }
        }
        done.insert(name, out);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    kinds.sort();
    Ok(Table { messages: done.into_values().collect(), kinds, guessed, skipped, unmatched_properties })
}

fn out_kind(field: &ProstField) -> OutKind {
    match &field.ty {
        FieldType::Scalar(s) => OutKind::Scalar(*s),
        FieldType::Message(m) => OutKind::Msg(m.clone()),
        FieldType::Map(MapValue::Scalar(Scalar::String)) => OutKind::MapStr,
        FieldType::Map(MapValue::Scalar(Scalar::Bytes)) => OutKind::MapBytes,
        FieldType::Map(MapValue::Scalar(other)) => panic!("map value {other:?} does not occur in k8s-pb"),
        FieldType::Map(MapValue::Message(m)) => OutKind::MapMsg(m.clone()),
    }
}

fn repeated_label(field: &ProstField) -> Option<&'static str> {
    (field.repeated || matches!(field.ty, FieldType::Map(_))).then_some("Rep")
}

fn special(message: &ProstMessage, shape: &'static str) -> OutMessage {
    let fields = message
        .fields
        .iter()
        .map(|f| OutField {
            tag: f.tag,
            json: camel(&f.rust_name),
            kind: out_kind(f),
            label: repeated_label(f).unwrap_or("Opt"),
        })
        .collect();
    OutMessage { name: message.name.clone(), shape, fields }
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn object(
    sources: &Sources,
    message: &ProstMessage,
    via: Option<&str>,
    guessed: &mut Vec<String>,
    skipped: &mut Vec<String>,
    unmatched_properties: &mut Vec<String>,
) -> Result<OutMessage, Vec<String>> {
    let name = &message.name;
    let definition_of = via.unwrap_or(name);
    let Some((definition_name, definition)) = sources.definitions.get(&definition_key(definition_of)) else {
        return Err(vec![format!("{name}: no k8s-openapi definition for {definition_of}")]);
    };
    let mut properties: HashMap<String, &String> = HashMap::new();
    for property in &definition.properties {
        if let Some(other) = properties.insert(normalize(property), property) {
            return Err(vec![format!("{definition_name}: properties {other} and {property} normalize alike")]);
        }
    }
    let go = sources.go.get(&go_key(name));
    let mut errors = Vec::new();
    let mut fields = Vec::new();
    for field in &message.fields {
        let go_field = go.and_then(|g| g.get(&field.tag));
        let at = format!("{name}.{} (tag {})", field.rust_name, field.tag);
        let matched = properties.get(&normalize(&field.rust_name)).map(|p| (*p).clone());
        let inline = match (&matched, &field.ty, go_field) {
            (None, FieldType::Message(child), _) if !field.repeated => {
                let go_inline = go_field.is_some_and(|g| g.json.is_empty());
                go_inline || child_fields_all_match(sources, child, &properties)
            }
            _ => false,
        };
        if let Some(g) = go_field {
            let expected = if inline { "" } else { matched.as_deref().unwrap_or("?") };
            if g.json != expected {
                errors.push(format!("{at}: Go JSON name {:?} but k8s-openapi gives {expected:?}", g.json));
            }
        }
        let json = match (&matched, inline) {
            (Some(json), _) => json.clone(),
            (None, true) => String::new(),
            (None, false) if go_field.is_none() => {
                // Newer than both k8s-openapi's v1_33 and kubectl: not part of the API served.
                skipped.push(format!("{at}: in neither k8s-openapi v1_33 nor kubectl"));
                continue;
            }
            (None, false) => {
                errors.push(format!("{at}: no property of {definition_name} matches"));
                continue;
            }
        };
        let label = if inline {
            "Inline"
        } else if let Some(rep) = repeated_label(field) {
            rep
        } else if matches!(field.ty, FieldType::Message(_)) {
            "Opt"
        } else if let Some(g) = go_field {
            if g.pointer || !g.omitempty { "Opt" } else { "OmitZero" }
        } else {
            // Newer than the kubectl binary (or a CRD type kubectl lacks): strings are usually
            // plain Go strings, numbers and bools usually pointers.
            let why = if go.is_some() { "not in kubectl's Go struct" } else { "no Go struct in kubectl" };
            guessed.push(format!("{at}: {why}"));
            let string_like = matches!(field.ty, FieldType::Scalar(Scalar::String | Scalar::Bytes));
            if string_like && !definition.required.contains(&json) { "OmitZero" } else { "Opt" }
        };
        fields.push(OutField { tag: field.tag, json, kind: out_kind(field), label });
    }
    if via.is_none() {
        let produced: Vec<&str> = fields.iter().map(|f| f.json.as_str()).collect();
        for property in &definition.properties {
            let inlined = fields.iter().any(|f| f.label == "Inline");
            if !produced.contains(&property.as_str()) && property != "apiVersion" && property != "kind" && !inlined {
                unmatched_properties.push(format!("{definition_name}.{property}"));
            }
        }
    }
    if errors.is_empty() { Ok(OutMessage { name: name.clone(), shape: "Object", fields }) } else { Err(errors) }
}

/// An embedded message is inlined when every one of its fields is a property of the parent.
fn child_fields_all_match(sources: &Sources, child: &str, properties: &HashMap<String, &String>) -> bool {
    sources.prost.get(child).is_some_and(|m| {
        !m.fields.is_empty() && m.fields.iter().all(|f| properties.contains_key(&normalize(&f.rust_name)))
    })
}
