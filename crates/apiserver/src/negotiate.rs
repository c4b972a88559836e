//! Content negotiation: decoding request bodies (JSON, YAML) and choosing the response form
//! (JSON, YAML, or a `meta.k8s.io` Table).

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Largest request body accepted (upstream: 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;
/// Largest object stored (upstream etcd default: 1.5 MiB).
pub const MAX_OBJECT: usize = 1024 * 1024 * 3 / 2;
/// Deepest nesting accepted in a body.
pub const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    Table,
    /// `as=PartialObjectMetadata[List]`: metadata only (kube-rs metadata watchers, kubectl).
    Metadata,
}

/// An object reduced to its metadata, as `meta.k8s.io/v1` PartialObjectMetadata.
pub fn partial_metadata(obj: &Value) -> Value {
    serde_json::json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_default(),
    })
}

/// Picks the response form from `Accept`, in the client's order of preference.
pub fn output(headers: &HeaderMap) -> ApiResult<Output> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Output::Json);
    };
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let mime = params.next().unwrap_or_default();
        let params: Vec<&str> = params.collect();
        let is_table = params.iter().any(|p| p.replace(' ', "") == "as=Table");
        let is_metadata = params.iter().any(|p| p.replace(' ', "").starts_with("as=PartialObjectMetadata"));
        match mime {
            "application/json" | "*/*" | "application/*" if is_table => return Ok(Output::Table),
            "application/json" if is_metadata => return Ok(Output::Metadata),
            "application/json" if params.iter().any(|p| p.starts_with("as=")) => continue,
            "application/json" | "*/*" | "application/*" | "" => return Ok(Output::Json),
            "application/yaml" => return Ok(Output::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::NotAcceptable)
}

/// Decodes a JSON or YAML body into a value, with size and depth limits.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    if body.len() > MAX_BODY {
        return Err(ApiError::TooLarge(format!("limit is {MAX_BODY} bytes")));
    }
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let mime = ctype.split(';').next().unwrap_or_default().trim();
    let value = match mime {
        "application/json"
        | "application/merge-patch+json"
        | "application/json-patch+json"
        | "application/strategic-merge-patch+json" => decode_json(body)?,
        "application/yaml" | "application/apply-patch+yaml" => decode_yaml(body)?,
        canopy_protobuf::CONTENT_TYPE => canopy_protobuf::decode(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding protobuf body: {e}")))?,
        other => return Err(ApiError::UnsupportedMediaType(other.to_string())),
    };
    if canopy_machinery::merge::check_depth(&value, MAX_DEPTH).is_err() {
        return Err(ApiError::BadRequest(format!("the request body is nested deeper than {MAX_DEPTH} levels")));
    }
    Ok(value)
}

fn decode_json(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("error decoding JSON body: {e}")))
}

fn decode_yaml(body: &[u8]) -> ApiResult<Value> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the YAML body is not UTF-8".into()))?;
    // JSON is YAML; prefer the stricter, faster JSON parser when it applies.
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(v);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| ApiError::BadRequest(format!("error decoding YAML body: {e}")))
}

/// A response with an object body in the negotiated form (`Table` is converted by the caller).
pub fn respond(code: StatusCode, out: Output, body: &Value, warnings: &[String]) -> Response {
    let (bytes, ctype) = match out {
        Output::Yaml => (serde_saphyr::to_string(body).unwrap_or_default().into_bytes(), "application/yaml"),
        _ => (serde_json::to_vec(body).expect("a serde_json::Value always serialises"), "application/json"),
    };
    finish(code, bytes.into(), ctype, warnings)
}

/// [`respond`] for the object a write left: JSON is spliced from the bytes the write stored,
/// as watch events are, rather than encoded again from the object.
pub fn respond_written(
    code: StatusCode,
    out: Output,
    api_version: &str,
    written: &crate::objects::Written,
    warnings: &[String],
) -> Response {
    if let (Output::Json, Some(kv)) = (&out, &written.stored)
        && let Ok(bytes) = crate::wire::encode(api_version, kv)
    {
        return finish(code, bytes, "application/json", warnings);
    }
    respond(code, out, &written.obj, warnings)
}

fn finish(code: StatusCode, bytes: bytes::Bytes, ctype: &'static str, warnings: &[String]) -> Response {
    let mut resp = (code, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {:?}", w)) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> ApiResult<Output> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("valid header"));
        output(&h)
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(
            accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json").ok(),
            Some(Output::Table)
        );
        assert_eq!(accept("application/vnd.kubernetes.protobuf,application/json").ok(), Some(Output::Json));
        assert_eq!(accept("application/yaml").ok(), Some(Output::Yaml));
        assert_eq!(
            accept("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json").ok(),
            Some(Output::Metadata)
        );
        assert!(accept("application/vnd.kubernetes.protobuf").is_err());
    }

    #[test]
    fn bodies() {
        let mut h = HeaderMap::new();
        assert!(decode_body(&h, b"{not json").is_err());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
        assert_eq!(decode_body(&h, b"a: 1\nb: [x]\n").ok(), Some(serde_json::json!({"a": 1, "b": ["x"]})));
        let deep = "[".repeat(500) + &"]".repeat(500);
        assert!(decode_body(&h, deep.as_bytes()).is_err());
    }
}
