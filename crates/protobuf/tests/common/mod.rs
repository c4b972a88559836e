//! Helpers shared by the integration tests: wrapping a k8s-pb message in the envelope kubectl
//! sends, and checking a decoded body against a k8s-openapi value.

#![allow(dead_code)] // each test binary uses a subset

use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `k8s\0` + runtime.Unknown{typeMeta, raw}, as client-go's protobuf serializer writes it.
pub fn envelope(api_version: &str, kind: &str, message: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
        raw: Some(message.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

/// Encodes `message`, decodes it, and checks the JSON both deserializes to `expected` and
/// equals `expected`'s own JSON serialization. Returns the decoded JSON.
pub fn round_trip<T>(message: &impl Message, expected: &T) -> Value
where
    T: k8s_openapi::Resource + DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let body = envelope(T::API_VERSION, T::KIND, message);
    let decoded = canopy_protobuf::decode(&body).expect("decodes");
    let typed: T = serde_json::from_value(decoded.clone()).expect("deserializes as the k8s-openapi type");
    assert_eq!(&typed, expected);
    assert_eq!(decoded, serde_json::to_value(expected).expect("serializes"));
    decoded
}

pub fn string(s: &str) -> Option<String> {
    Some(s.to_string())
}
