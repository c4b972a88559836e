//! The outer framing of a Kubernetes protobuf body: the magic `k8s\0`, then a `runtime.Unknown`
//! {1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType} whose `raw`
//! is the object's own message, chosen by apiVersion and kind.

use serde_json::{Map, Value};

use crate::decode::to_json;
use crate::error::DecodeError;
use crate::table;
use crate::wire::{Reader, WireType};

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const TYPE_META: &str = "k8s.io.apimachinery.pkg.runtime.TypeMeta";

#[derive(Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

fn string(reader: &mut Reader, message: &'static str) -> Result<String, DecodeError> {
    let bytes = reader.len_delimited().map_err(|source| DecodeError::Wire { message, source })?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn parse(buf: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let wire = |source| DecodeError::Wire { message: UNKNOWN, source };
    let mut envelope = Envelope::default();
    let mut reader = Reader::new(buf);
    while !reader.is_empty() {
        match reader.key().map_err(wire)? {
            (1, WireType::Len) => {
                let mut meta = Reader::new(reader.len_delimited().map_err(wire)?);
                while !meta.is_empty() {
                    match meta.key().map_err(|source| DecodeError::Wire { message: TYPE_META, source })? {
                        (1, WireType::Len) => envelope.api_version = string(&mut meta, TYPE_META)?,
                        (2, WireType::Len) => envelope.kind = string(&mut meta, TYPE_META)?,
                        (tag @ (1 | 2), _) => {
                            return Err(DecodeError::WrongWireType { message: TYPE_META, tag, found: "non-string" });
                        }
                        (_, wire_type) => {
                            meta.skip(wire_type).map_err(|source| DecodeError::Wire { message: TYPE_META, source })?
                        }
                    }
                }
            }
            (2, WireType::Len) => envelope.raw = reader.len_delimited().map_err(wire)?,
            (3, WireType::Len) => envelope.content_encoding = string(&mut reader, UNKNOWN)?,
            (4, WireType::Len) => envelope.content_type = string(&mut reader, UNKNOWN)?,
            (tag @ 1..=4, _) => return Err(DecodeError::WrongWireType { message: UNKNOWN, tag, found: "non-bytes" }),
            (_, wire_type) => reader.skip(wire_type).map_err(wire)?,
        }
    }
    Ok(envelope)
}

/// Decodes a whole body (magic included) at nesting `depth`.
pub(crate) fn decode(body: &[u8], depth: usize) -> Result<Value, DecodeError> {
    let rest = body.strip_prefix(&crate::MAGIC).ok_or(DecodeError::MissingMagic)?;
    let envelope = parse(rest)?;
    if !envelope.content_encoding.is_empty() {
        return Err(DecodeError::UnsupportedContentEncoding(envelope.content_encoding));
    }
    if !envelope.content_type.is_empty() && !crate::is_protobuf_content_type(&envelope.content_type) {
        return Err(DecodeError::UnsupportedContentType(envelope.content_type));
    }
    if envelope.api_version.is_empty() || envelope.kind.is_empty() {
        return Err(DecodeError::MissingTypeMeta);
    }
    object(&envelope.api_version, &envelope.kind, envelope.raw, depth)
}

/// Decodes an object's own message and puts `kind` and `apiVersion` first, as Go's TypeMeta does.
pub(crate) fn object(api_version: &str, kind: &str, raw: &[u8], depth: usize) -> Result<Value, DecodeError> {
    let message = table::for_kind(api_version, kind)
        .ok_or_else(|| DecodeError::UnknownKind { api_version: api_version.to_string(), kind: kind.to_string() })?;
    let mut out = Map::new();
    out.insert("kind".to_string(), Value::String(kind.to_string()));
    out.insert("apiVersion".to_string(), Value::String(api_version.to_string()));
    match to_json(message, raw, depth)? {
        Value::Object(fields) => out.extend(fields),
        _ => {
            return Err(DecodeError::InvalidValue {
                message: message.name,
                problem: "top-level message is not an object",
            });
        }
    }
    Ok(Value::Object(out))
}
