//! Reads k8s-pb's prost-generated source (`#[prost(...)]` attributes) into message descriptions:
//! field tags, wire types, cardinality and the full name of every referenced message.
//! It owns nothing about JSON names; `model.rs` joins these with k8s-openapi and Go type data.

use std::collections::BTreeMap;
use std::path::Path;

/// A protobuf scalar type as prost spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    String,
    Bytes,
    Int32,
    Int64,
    Bool,
    Double,
}

impl Scalar {
    fn parse(word: &str) -> Option<Scalar> {
        Some(match word {
            "string" => Scalar::String,
            "bytes" => Scalar::Bytes,
            "int32" => Scalar::Int32,
            "int64" => Scalar::Int64,
            "bool" => Scalar::Bool,
            "double" => Scalar::Double,
            _ => return None,
        })
    }
}

/// The type of one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    Scalar(Scalar),
    /// Full protobuf name of the message, e.g. `k8s.io.api.core.v1.PodSpec`.
    Message(String),
    /// `map<string, V>`; k8s-pb has no other key type.
    Map(MapValue),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapValue {
    Scalar(Scalar),
    Message(String),
}

#[derive(Clone, Debug)]
pub struct ProstField {
    /// Rust field name without a raw-identifier prefix (`type`, not `r#type`).
    pub rust_name: String,
    pub tag: u32,
    pub ty: FieldType,
    pub repeated: bool,
}

#[derive(Clone, Debug)]
pub struct ProstMessage {
    pub name: String,
    pub fields: Vec<ProstField>,
}

/// Parses every `mod.rs` under `src` (k8s-pb's `src/` folder), keyed by full message name.
pub fn parse_dir(src: &Path) -> Result<BTreeMap<String, ProstMessage>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "mod.rs") {
                let module: Vec<String> = path
                    .parent()
                    .and_then(|p| p.strip_prefix(src).ok())
                    .map(|p| p.iter().map(|c| c.to_string_lossy().into_owned()).collect())
                    .unwrap_or_default();
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                for message in parse_module(&module, &text).map_err(|e| format!("{}: {e}", path.display()))? {
                    out.insert(message.name.clone(), message);
                }
            }
        }
    }
    Ok(out)
}

/// `["api", "core", "v1"]` + `Pod` -> `k8s.io.api.core.v1.Pod`.
pub fn full_name(module: &[String], name: &str) -> String {
    let mut parts = vec!["k8s.io".to_string()];
    parts.extend(module.iter().cloned());
    parts.push(name.to_string());
    parts.join(".")
}

fn parse_module(module: &[String], text: &str) -> Result<Vec<ProstMessage>, String> {
    let mut messages = Vec::new();
    let mut current: Option<ProstMessage> = None;
    let mut pending_attr: Option<String> = None;
    let mut pending_decl = String::new();
    for (number, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        if line.starts_with("///") || line.starts_with("//") || line.is_empty() {
            continue;
        }
        let Some(message) = current.as_mut() else {
            if let Some(rest) = line.strip_prefix("pub struct ") {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let message = ProstMessage { name: full_name(module, &name), fields: Vec::new() };
                if rest.trim_end().ends_with("{}") {
                    messages.push(message);
                } else {
                    current = Some(message);
                }
            }
            continue;
        };
        if line == "}" {
            if pending_attr.is_some() {
                return Err(format!("line {}: attribute without a field", number + 1));
            }
            messages.extend(current.take());
            continue;
        }
        if let Some(attr) = line.strip_prefix("#[prost(") {
            let attr = attr.strip_suffix(")]").ok_or_else(|| format!("line {}: multi-line attribute", number + 1))?;
            pending_attr = Some(attr.to_string());
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        let Some(attr) = pending_attr.as_ref() else {
            return Err(format!("line {}: field without #[prost] attribute: {line}", number + 1));
        };
        pending_decl.push_str(line);
        if !balanced_and_complete(&pending_decl) {
            continue;
        }
        let field = parse_field(module, attr, &pending_decl).map_err(|e| format!("line {}: {e}", number + 1))?;
        message.fields.push(field);
        pending_attr = None;
        pending_decl.clear();
    }
    if current.is_some() {
        return Err("unterminated struct".to_string());
    }
    Ok(messages)
}

fn balanced_and_complete(decl: &str) -> bool {
    let opens = decl.matches('<').count();
    let closes = decl.matches('>').count();
    opens == closes && decl.ends_with(',')
}

fn parse_field(module: &[String], attr: &str, decl: &str) -> Result<ProstField, String> {
    // decl: `pub name: Type,`
    let decl = decl.strip_prefix("pub ").ok_or_else(|| format!("not a pub field: {decl}"))?;
    let (name, ty) = decl.split_once(':').ok_or_else(|| format!("no type: {decl}"))?;
    let rust_name = name.trim().trim_start_matches("r#").to_string();
    let ty = ty.trim().trim_end_matches(',').replace(' ', "");

    let tag = attr
        .split("tag = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| format!("no tag in {attr}"))?;
    let words: Vec<&str> = attr.split(',').map(str::trim).collect();

    if let Some(spec) = attr.strip_prefix("btree_map = \"") {
        let spec = spec.split('"').next().unwrap_or_default();
        let (key, value) = spec.split_once(',').ok_or_else(|| format!("bad map spec {spec}"))?;
        if key.trim() != "string" {
            return Err(format!("map key {key} is not string"));
        }
        let value = match value.trim() {
            "message" => MapValue::Message(resolve(module, last_generic_arg(&ty)?)?),
            other => MapValue::Scalar(Scalar::parse(other).ok_or_else(|| format!("map value {other}"))?),
        };
        return Ok(ProstField { rust_name, tag, ty: FieldType::Map(value), repeated: false });
    }

    let first = words.first().copied().unwrap_or_default();
    let first = first.split_whitespace().next().unwrap_or_default();
    let repeated = words.contains(&"repeated");
    if !repeated && !words.contains(&"optional") {
        return Err(format!("field is neither optional nor repeated: {attr}"));
    }
    let ty = if first == "message" {
        FieldType::Message(resolve(module, innermost(&ty))?)
    } else {
        FieldType::Scalar(Scalar::parse(first).ok_or_else(|| format!("unknown prost type {first}"))?)
    };
    Ok(ProstField { rust_name, tag, ty, repeated })
}

/// `::core::option::Option<::prost::alloc::boxed::Box<X>>` -> `X`.
fn innermost(ty: &str) -> &str {
    let start = ty.rfind('<').map_or(0, |i| i + 1);
    let end = ty[start..].find('>').map_or(ty.len(), |i| start + i);
    ty[start..end].trim_end_matches(',')
}

/// `BTreeMap<String, X>` -> `X`.
fn last_generic_arg(ty: &str) -> Result<&str, String> {
    let inner = ty.strip_suffix('>').ok_or_else(|| format!("not generic: {ty}"))?.trim_end_matches(',');
    let (_, value) = inner.rsplit_once(',').ok_or_else(|| format!("no value type: {ty}"))?;
    Ok(value.trim())
}

/// Resolves a Rust path (`super::super::core::v1::PodSpec`, `ObjectMeta`) to a full message name.
fn resolve(module: &[String], path: &str) -> Result<String, String> {
    let mut base: Vec<String> = module.to_vec();
    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    if parts.first() == Some(&"crate") {
        base.clear();
        parts.remove(0);
    }
    while parts.first() == Some(&"super") {
        base.pop().ok_or_else(|| format!("too many super:: in {path}"))?;
        parts.remove(0);
    }
    let (name, dirs) = parts.split_last().ok_or_else(|| format!("empty path {path}"))?;
    base.extend(dirs.iter().map(|d| d.to_string()));
    Ok(full_name(&base, name))
}
