//! Decodes Kubernetes protobuf request bodies (`Content-Type: application/vnd.kubernetes.protobuf`)
//! into the JSON that the same object sent as `application/json` would have been, so that an
//! API server working on `serde_json::Value` can accept what kubectl and client-go send.
//!
//! This crate owns the wire format, the message table (generated from k8s-pb's descriptions,
//! k8s-openapi's JSON names and kubectl's Go types by `examples/generate`) and the upstream
//! JSON forms of the special types (Time, Quantity, IntOrString, RawExtension...). It does
//! not encode protobuf, validate objects, or negotiate content types for responses.
//!
//! ```
//! // A Namespace named "demo", as `kubectl create namespace demo` sends it.
//! let body = b"k8s\0\n\x0f\n\x02v1\x12\tNamespace\x12\x08\n\x06\n\x04demo";
//! let json = canopy_protobuf::decode(body).unwrap();
//! assert_eq!(json, serde_json::json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "demo"}}));
//! ```
//!
//! Untrusted input is safe: every read is bounds-checked, nesting is bounded by
//! [`MAX_DEPTH`], and malformed bodies return a [`DecodeError`].

mod decode;
mod envelope;
mod error;
#[rustfmt::skip]
mod generated_table;
mod shapes;
mod table;
mod wire;

pub use decode::MAX_DEPTH;
pub use error::{DecodeError, WireError};

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// Decodes a whole request body: magic, `runtime.Unknown` envelope, object.
pub fn decode(body: &[u8]) -> Result<serde_json::Value, DecodeError> {
    envelope::decode(body, 0)
}

/// Decodes an object's own message (the envelope's `raw`) for a known apiVersion and kind.
pub fn decode_object(api_version: &str, kind: &str, raw: &[u8]) -> Result<serde_json::Value, DecodeError> {
    envelope::object(api_version, kind, raw, 0)
}

/// Whether [`decode`] knows the message for this apiVersion and kind.
pub fn is_supported(api_version: &str, kind: &str) -> bool {
    table::for_kind(api_version, kind).is_some()
}

/// Every (apiVersion, kind) that can be decoded, sorted.
pub fn supported_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    table::kinds()
}

/// Whether a `Content-Type` header value names Kubernetes protobuf (parameters and case ignored).
pub fn is_protobuf_content_type(header: &str) -> bool {
    header.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}
